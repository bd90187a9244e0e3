"""The table of format families: what convcli reads and writes, and which module does it.

One row (:class:`Family`) per format family, as Pillow's plugin registry and pip's
``Command`` table keep theirs.  A row is data, cheap to read: how each of its formats is
identified by its content (:class:`Magic`, the allowlist), the extensions that claim it, the
output extensions and format names it writes, which dtypes and channels each output format
holds, whether it takes rows block by block, and the optional pip extra it needs.  What a
family *does* is in the module the row names, imported on first use (so that identifying a
file never imports Pillow, soundfile or an optional library):

==================  ==================================================================
function            what it does (``path``, ``fmt`` the format :func:`identify` found)
==================  ==================================================================
``probe``           ``probe(path, fmt, limits) -> dict``: describe from the header, with
                    every size checked against ``limits`` (:mod:`convcli.io.limits`)
``load``            ``load(path, fmt, kind, gray, limits) -> Signal``
``save``            ``save(signal, data, target, *, overwrite, protect, threads)``: write
                    ``data`` (channels last) atomically (:mod:`convcli.io.atomic`)
``target``          optional: ``target(signal, path, write_format) -> Target``, refusing
                    a kind the format cannot hold (default: :attr:`Family.takes`)
``output_dtype``    optional: ``output_dtype(signal, target, want) -> dtype`` (default:
                    ``want`` or the stored dtype, checked against the format's ``holds``)
``open_rows``       optional: ``open_rows(path, fmt, kind, limits) -> (RowSource, Signal)``
                    or None: read rows block by block (:mod:`convcli.io.rows`)
``open_writer``     optional: ``open_writer(fh, target, shape, dtype, form, rate)``: a
                    :class:`convcli.io.rows.BlockWriter` for the kinds in ``blocks``
``writer_bytes``    optional: ``writer_bytes(target, shape, dtype, form) -> int``: the
                    bytes that writer holds (default 0: a few blocks at a time)
==================  ==================================================================

:mod:`convcli.io` asks this table, and nothing else, for all of it: ``load``, ``probe``,
``save``, ``identify_file``, ``output_dtype``, ``open_rows``, ``open_writer``,
``writer_bytes``.  A new format
is one module and one row (:func:`register` adds a row at run time, for a plugin or a test).

Standard library only.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import MissingExtraError, UnsupportedError, join_words

__all__ = [
    "Magic",
    "ReadFormat",
    "WriteFormat",
    "Family",
    "Target",
    "FAMILIES",
    "register",
    "registered",
    "family",
    "families",
    "identify",
    "claimed",
    "writes",
    "folder_family",
    "target_for",
    "write_extensions",
    "reads_summary",
    "streamed",
    "module_of",
]

#: Every dtype an output of ``holds=None`` takes.
ANY = None

_U8 = ("uint8",)
#: An image's rows, block by block: every image format's writer takes them (PNG and
#: uncompressed TIFF as they come, the others gathered and encoded at the end).
_IMG = ("image",)
_WHITE = (b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c")


@dataclass(frozen=True)
class Magic:
    r"""How a format's content starts: bytes at offsets (each a choice), and a least length.

    Examples
    --------
    >>> Magic((0, b"RIFF"), (8, b"WAVE")).matches(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    True
    >>> Magic((0, b"GIF87a", b"GIF89a")).matches(b"GIF90a")
    False
    """

    parts: tuple[tuple[int, tuple[bytes, ...]], ...]
    min_length: int = 0

    def __init__(self, *parts: tuple[Any, ...], min_length: int = 0) -> None:
        object.__setattr__(self, "parts", tuple((p[0], tuple(p[1:])) for p in parts))
        object.__setattr__(self, "min_length", min_length)

    def matches(self, head: bytes) -> bool:
        """Whether ``head`` (the file's first bytes) starts as this format does."""
        if len(head) < self.min_length:
            return False
        return all(
            any(head[offset : offset + len(c)] == c for c in choices)
            for offset, choices in self.parts
        )


@dataclass(frozen=True)
class ReadFormat:
    """A format a family reads.

    Parameters
    ----------
    name : str
        Its name in :attr:`convcli.io.Form.format` and :func:`convcli.io.identify_file`
        (``"PNG"``, ``"WAV"``, ``"NPY"``).
    label : str
        Its name in messages (``"WebP"``, ``"PPM/PGM"``).
    magic : tuple of Magic
        Its content, any of these.
    extensions : tuple of str
        The file extensions that claim it: a file of another content with one of these is
        refused, naming both.
    decoders : tuple of str
        What the family's library may call it and open it with (Pillow's plugins, libsndfile's
        major formats): nothing else is ever reached.
    """

    name: str
    label: str
    magic: tuple[Magic, ...]
    extensions: tuple[str, ...]
    decoders: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriteFormat:
    """A format a family writes.

    Parameters
    ----------
    name : str
        The format written (``"PNG"``, ``"PGM"``, ``"WAV"``).
    extensions : tuple of str
        The output extensions that name it; the first is its usual one.
    holds : mapping or tuple or None
        What it holds: channels -> dtype names (images), dtype names (any channel count), or
        None (any dtype, any shape).
    frames : str or None
        ``"multipage"`` or ``"animated"``: it holds a volume's planes as frames.
    frames_holds : mapping or None
        What it holds as frames, when that is less (an animated PNG is 8-bit only).
    encodings : tuple of str
        The sample encodings it can be written with (libsndfile subtypes).
    blocks : tuple of str
        The kinds of signal whose rows its block writer takes as they come (``open_writer``).
    lossy : bool
        It does not give back what was written (JPEG): suggested last.
    """

    name: str
    extensions: tuple[str, ...]
    holds: Mapping[int, tuple[str, ...]] | tuple[str, ...] | None = ANY
    frames: str | None = None
    frames_holds: Mapping[int, tuple[str, ...]] | None = None
    encodings: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    lossy: bool = False

    def dtypes(self, channels: int = 1, *, frames: bool = False) -> tuple[str, ...] | None:
        """Return the dtype names it holds for ``channels`` (None: every dtype).

        Examples
        --------
        >>> WriteFormat("PNG", (".png",), {1: ("uint8", "uint16"), 3: ("uint8",)}).dtypes(3)
        ('uint8',)
        """
        table = self.frames_holds if frames and self.frames_holds is not None else self.holds
        if table is None or isinstance(table, tuple):
            return table
        return table.get(channels, ())


@dataclass(frozen=True)
class Family:
    """A format family: one row of the table, and the module that reads and writes it.

    Parameters
    ----------
    name : str
        ``"image"``, ``"audio"``, ``"npy"``, ``"folder"``...: what
        :func:`convcli.io.identify_file` calls its files.
    module : str
        The module with its functions (see the table in this module's docstring).
    noun : str
        Its files in a message: ``"cannot read as an image"``.
    reads : tuple of ReadFormat
        The formats it reads, by content.
    writes : tuple of WriteFormat
        The formats it writes, by output extension.
    takes : tuple of str
        The kinds of signal it writes.
    plural : str
        What its formats are, in the list of what convcli reads (``"PNG, ... images"``).
    encodings : tuple of str
        The sample encodings it reads (an allowlist: libsndfile subtypes).
    folders : bool
        It reads and writes folders (of slices): an output path with no extension is its.
    stream_always : bool
        An input filtered by one kernel into one of its outputs always goes block by block,
        whatever its size (audio: a few slabs of memory, no array the size of the file).
    extra : str or None
        The optional pip extra that brings what it needs (``pip install 'convcli[extra]'``).
    requires : tuple of str
        The modules it needs, importable only with ``extra`` installed.
    """

    name: str
    module: str
    noun: str
    reads: tuple[ReadFormat, ...] = ()
    writes: tuple[WriteFormat, ...] = ()
    takes: tuple[str, ...] = ()
    plural: str = ""
    encodings: tuple[str, ...] = ()
    folders: bool = False
    stream_always: bool = False
    extra: str | None = None
    requires: tuple[str, ...] = ()

    def read_format(self, name: str) -> ReadFormat:
        """Return the read format called ``name``."""
        return next(f for f in self.reads if f.name == name)

    def write_format(self, name: str) -> WriteFormat:
        """Return the write format called ``name``."""
        return next(f for f in self.writes if f.name == name)

    def function(self, name: str, path: object = None) -> Callable[..., Any] | None:
        """Return the module's function ``name``, or None if the family has none.

        Raises
        ------
        MissingExtraError
            The family needs an optional extra that is not installed (one line naming it).
        """
        return getattr(module_of(self, path), name, None)


@dataclass(frozen=True)
class Target:
    """Where and how an output is written.

    Parameters
    ----------
    path : pathlib.Path
        The output path as given.
    family : str
        The family that writes it (``"image"``, ``"audio"``, ``"npy"``, ``"folder"``...).
    format : str or None
        The format written (``"PNG"``, ``"WAV"``, ``"NPY"``); None for a folder (the slice
        format depends on the dtype).
    frames : bool
        A volume written as the frames of one file (multi-page TIFF, animation).
    """

    path: Any
    family: str
    format: str | None
    frames: bool = False

    def write_format(self) -> WriteFormat | None:
        """Return the row's :class:`WriteFormat` of this target (None for a folder)."""
        if self.format is None:
            return None
        return family(self.family).write_format(self.format)


# ----------------------------------------------------------------------------- the table

_IMAGE = Family(
    name="image",
    module="convcli.io.pillow_image",
    noun="an image",
    plural="images",
    takes=("image", "volume", "array"),
    reads=(
        ReadFormat("PNG", "PNG", (Magic((0, b"\x89PNG\r\n\x1a\n")),), (".png", ".apng"), ("PNG",)),
        ReadFormat(
            "JPEG",
            "JPEG",
            (Magic((0, b"\xff\xd8\xff")),),
            (".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"),
            # An MPO is opened by the JPEG plugin (Pillow registers no opener under "MPO":
            # naming it made every JPEG whose header Pillow refused fail with "'MPO'").
            ("JPEG",),
        ),
        ReadFormat(
            "TIFF",
            "TIFF",
            (Magic((0, b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")),),
            (".tif", ".tiff"),
            ("TIFF",),
        ),
        ReadFormat("BMP", "BMP", (Magic((0, b"BM"), min_length=14),), (".bmp", ".dib"), ("BMP",)),
        ReadFormat("WEBP", "WebP", (Magic((0, b"RIFF"), (8, b"WEBP")),), (".webp",), ("WEBP",)),
        ReadFormat("GIF", "GIF", (Magic((0, b"GIF87a", b"GIF89a")),), (".gif",), ("GIF",)),
        ReadFormat(
            "PPM",
            "PPM/PGM",
            (Magic((0, b"P"), (1, b"1", b"2", b"3", b"4", b"5", b"6", b"f"), (2, *_WHITE)),),
            (".ppm", ".pgm", ".pbm", ".pnm", ".pfm"),
            ("PPM",),
        ),
    ),
    writes=(
        WriteFormat(
            "PNG",
            (".png",),
            {1: ("uint8", "uint16"), 2: _U8, 3: _U8, 4: _U8},
            frames="animated",
            frames_holds={1: _U8, 2: _U8, 3: _U8, 4: _U8},  # Pillow merges 16-bit frames
            blocks=_IMG,
        ),
        WriteFormat("JPEG", (".jpg", ".jpeg"), {1: _U8, 3: _U8}, blocks=_IMG, lossy=True),
        WriteFormat(
            "TIFF",
            (".tif", ".tiff"),
            {1: ("uint8", "uint16", "int32", "float32"), 2: _U8, 3: _U8, 4: _U8},
            frames="multipage",
            blocks=_IMG,
        ),
        WriteFormat("BMP", (".bmp",), {1: _U8, 3: _U8}, blocks=_IMG),
        WriteFormat(
            "WEBP", (".webp",), {1: _U8, 2: _U8, 3: _U8, 4: _U8}, frames="animated", blocks=_IMG
        ),
        WriteFormat(
            "GIF", (".gif",), {1: _U8, 2: _U8, 3: _U8, 4: _U8}, frames="animated", blocks=_IMG
        ),
        WriteFormat("PPM", (".ppm", ".pnm"), {1: ("uint8", "uint16"), 3: _U8}, blocks=_IMG),
        WriteFormat("PGM", (".pgm",), {1: ("uint8", "uint16")}, blocks=_IMG),
    ),
)

_AUDIO_CODECS = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")

_AUDIO = Family(
    name="audio",
    module="convcli.io.sndfile_audio",
    noun="audio",
    plural="audio",
    takes=("audio",),
    stream_always=True,
    # Every codec with a history of decoder bugs that nobody needs for filtering (ADPCM,
    # GSM, DWVW, MPEG...) is left out.
    encodings=(*_AUDIO_CODECS, "ULAW", "ALAW", "VORBIS", "OPUS"),
    reads=(
        ReadFormat(
            "WAV",
            "WAV",
            (Magic((0, b"RIFF", b"RF64", b"BW64"), (8, b"WAVE")),),
            (".wav", ".wave"),
            ("WAV", "WAVEX", "RF64"),
        ),
        ReadFormat("FLAC", "FLAC", (Magic((0, b"fLaC")),), (".flac",), ("FLAC",)),
        ReadFormat("OGG", "OGG", (Magic((0, b"OggS")),), (".ogg", ".oga", ".opus"), ("OGG",)),
        ReadFormat(
            "AIFF",
            "AIFF",
            (Magic((0, b"FORM"), (8, b"AIFF", b"AIFC")),),
            (".aiff", ".aif", ".aifc"),
            ("AIFF",),
        ),
    ),
    writes=(
        WriteFormat(
            "WAV",
            (".wav",),
            ("uint8", "int16", "int32", "float32", "float64"),
            encodings=("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"),
            blocks=("audio",),
        ),
        WriteFormat(
            "FLAC",
            (".flac",),
            ("int16", "int32"),
            encodings=("PCM_S8", "PCM_16", "PCM_24"),
            blocks=("audio",),
        ),
        WriteFormat(
            "OGG",
            (".ogg", ".oga"),
            ("float32",),
            encodings=("VORBIS", "OPUS"),
            blocks=("audio",),
            lossy=True,
        ),
        WriteFormat(
            "AIFF",
            (".aiff", ".aif"),
            ("uint8", "int16", "int32", "float32", "float64"),
            encodings=_AUDIO_CODECS,
            blocks=("audio",),
        ),
    ),
)

_NPY = Family(
    name="npy",
    module="convcli.io.npy",
    noun=".npy",
    takes=("image", "audio", "volume", "array"),
    reads=(ReadFormat("NPY", "NPY", (Magic((0, b"\x93NUMPY")),), (".npy",)),),
    # Rows as they come, after a header that says the whole shape (not images: an image to
    # .npy is written whole, as numpy writes it).
    writes=(WriteFormat("NPY", (".npy",), ANY, blocks=("audio", "volume", "array")),),
)

_FOLDER = Family(
    name="folder",
    module="convcli.io.slices",
    noun="a folder of slices",
    takes=("volume",),
    folders=True,
)

#: The table, in the order content is tried and extensions are listed.
FAMILIES: list[Family] = [_IMAGE, _AUDIO, _NPY, _FOLDER]


# ----------------------------------------------------------------------------- lookups


def families() -> tuple[Family, ...]:
    """Return every family of the table, in order."""
    return tuple(FAMILIES)


def family(name: str) -> Family:
    """Return the family called ``name``.

    Raises
    ------
    KeyError
        No family has that name.
    """
    for f in FAMILIES:
        if f.name == name:
            return f
    raise KeyError(name)


def register(row: Family) -> None:
    """Add a family to the table (a plugin's, or a test's); its formats are tried last.

    Raises
    ------
    ValueError
        A family of that name is in the table already.
    """
    if any(f.name == row.name for f in FAMILIES):
        raise ValueError(f"a format family named {row.name!r} is registered already")
    FAMILIES.append(row)


@contextlib.contextmanager
def registered(row: Family) -> Iterator[Family]:
    """Add a family to the table for the duration of a ``with`` block."""
    register(row)
    try:
        yield row
    finally:
        FAMILIES.remove(row)


def identify(head: bytes) -> tuple[Family, ReadFormat] | None:
    r"""Return the family and format whose magic ``head`` starts with, or None.

    Examples
    --------
    >>> found = identify(b"fLaC\x00\x00\x00\x22")
    >>> found[0].name, found[1].name
    ('audio', 'FLAC')
    """
    for f in FAMILIES:
        for fmt in f.reads:
            if any(m.matches(head) for m in fmt.magic):
                return f, fmt
    return None


def claimed(extension: str) -> tuple[Family, ReadFormat] | None:
    """Return the family and format a file extension (``".png"``) claims, or None."""
    ext = extension.lower()
    for f in FAMILIES:
        for fmt in f.reads:
            if ext in fmt.extensions:
                return f, fmt
    return None


def writes(extension: str) -> tuple[Family, WriteFormat] | None:
    """Return the family and format an output extension (``".tif"``) names, or None.

    Examples
    --------
    >>> found = writes(".PGM")
    >>> found[0].name, found[1].name
    ('image', 'PGM')
    """
    ext = extension.lower()
    for f in FAMILIES:
        for fmt in f.writes:
            if ext in fmt.extensions:
                return f, fmt
    return None


def folder_family() -> Family:
    """Return the family that writes (and reads) folders of slices."""
    return next(f for f in FAMILIES if f.folders)


def write_extensions() -> list[str]:
    """Return every output extension, family by family, format by format."""
    return [ext for f in FAMILIES for fmt in f.writes for ext in fmt.extensions]


def reads_summary() -> str:
    """Say what convcli reads, for messages.

    Examples
    --------
    >>> reads_summary()
    'PNG, JPEG, TIFF, BMP, WebP, GIF, PPM/PGM images, WAV, FLAC, OGG, AIFF audio, .npy'
    """
    parts = []
    for f in FAMILIES:
        if not f.reads:
            continue
        if f.plural:
            parts.append(f"{', '.join(fmt.label for fmt in f.reads)} {f.plural}")
        else:
            parts.append(f.noun)
    return ", ".join(parts)


def streamed() -> list[Family]:
    """Return the families whose files can be read block by block (``open_rows``).

    A family whose optional extra is missing is left out.
    """
    found = []
    for row in FAMILIES:
        try:
            if row.function("open_rows") is not None:
                found.append(row)
        except MissingExtraError:
            continue
    return found


def module_of(row: Family, path: object = None) -> ModuleType:
    """Import a family's module; if it needs an optional extra, check it is installed first.

    Raises
    ------
    MissingExtraError
        One line: the format needs ``pip install 'convcli[extra]'``.
    """
    missing = [m for m in row.requires if importlib.util.find_spec(m) is None]
    if missing:
        what = join_words([fmt.label for fmt in row.reads] or [row.name])
        where = f"{path}: " if path is not None else ""
        raise MissingExtraError(
            f"{where}{what} needs the optional '{row.extra}' extra ({', '.join(missing)} is "
            f"not installed): pip install 'convcli[{row.extra}]'"
        )
    return importlib.import_module(row.module)


def target_for(signal: Any, path: str | os.PathLike[str], format: str | None = None) -> Target:
    """Decide which family writes ``signal`` to ``path``, and as what format.

    The output's extension names the format (:func:`writes`); a path with no extension, or
    an existing folder, is a folder of slices (:func:`folder_family`).  The family's
    ``target`` refuses a kind of signal its formats cannot hold.

    Parameters
    ----------
    signal : Signal
        The signal to write (its kind, shape and form).
    path : str or os.PathLike
        The output path.
    format : str, optional
        The output format by name (``"PNG"``, ``"WAV"``, ``"folder"``), whatever the path's
        extension says.

    Returns
    -------
    Target
        The family and format.

    Raises
    ------
    UnsupportedError
        The extension is unknown or names a format that cannot hold this kind of signal.
    SignalWriteError
        The path is an existing directory and the signal is not a volume.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if format is not None:
        named = [(f, w) for f in FAMILIES for w in f.writes if w.name == format]
        if format != "folder" and not named:
            names = ", ".join(["folder", *(w.name for f in FAMILIES for w in f.writes)])
            raise UnsupportedError(f"{p}: format {format!r} is not one of {names}")
        ext = named[0][1].extensions[0] if named else ""
    if format == "folder" or (format is None and (p.is_dir() or ext == "")):
        row = folder_family()
        fn = row.function("target", p)
        assert fn is not None
        return fn(signal, p, None)
    found = writes(ext) if format is None else named[0]
    if found is None:
        known = " ".join(write_extensions())
        raise UnsupportedError(f"{p}: unknown output extension {ext!r}; use one of {known}")
    row, fmt = found
    fn = row.function("target", p)
    if fn is None:
        return default_target(row, signal, p, fmt)
    return fn(signal, p, fmt)


def default_target(row: Family, signal: Any, path: Any, fmt: WriteFormat) -> Target:
    """Write ``signal`` as ``fmt`` if the family takes its kind, else say what does."""
    if signal.kind in row.takes:
        return Target(path, row.name, fmt.name)
    others = [f.noun for f in FAMILIES if signal.kind in f.takes and f is not row]
    raise UnsupportedError(
        f"{path}: {'an' if signal.kind[0] in 'aeiou' else 'a'} {signal.kind} cannot be written "
        f"as {fmt.name}; write {join_words(others)}"
    )


def holds_text(dtypes: Sequence[str] | None) -> str:
    """Say what a format holds, for messages."""
    return "any dtype" if dtypes is None else join_words(list(dtypes))
