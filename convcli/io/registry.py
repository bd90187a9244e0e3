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
``identify``        for formats without magic (text): ``identify(head, path) -> str or
                    None``, the format of a file its extension claims, asked after every
                    format with a magic number; raises when the content is not that format
``sniff``           optional, named by :attr:`Family.sniff`: ``sniff(head, name) -> str
                    or None``, the read format of content :class:`Magic` cannot describe
                    (a brand to leave out, a tag at no fixed offset, a file name such as
                    ``.nii.gz``), from the first :attr:`Family.head_bytes` bytes
``claims``          optional, for the formats in :attr:`Family.claims`: ``claims(path)
                    -> bool`` takes a file another family identified, and
                    ``claims_output(signal, path) -> bool`` an output its extension names
``open_chunked``    optional: ``open_chunked(path, fmt, kind, limits) -> (array, Signal)``
                    or None: a lazy dask array of the input's stored chunks, and the
                    signal ``load`` would give, holding no samples
``chunk_target``    optional: ``chunk_target(signal, target, shape, steps, origins) ->
                    ChunkTarget``: how a chunked result of ``shape`` is stored
``save_chunked``    optional: ``save_chunked(array, chunk_target, **options)``: write a
                    dask array chunk by chunk, atomically (:func:`convcli.io.save_chunked`)
==================  ==================================================================

A folder is identified by its content too: a family whose row lists ``markers`` (Zarr's
``zarr.json``, ``.zarray``, ``.zgroup``) reads the folders that hold one as a regular file;
any other folder is a folder of slices (:func:`identify_folder`).

``probe``, ``load`` and ``open_rows`` also take, as keywords, the read options the row lists
in ``options`` (a text series: ``columns``, ``keep_columns``, ``header``); a writer finds what
it needs about its rows in the signal's ``form.info`` (:class:`convcli.io.Form`).

``sniff``, ``claims`` and ``claims_output`` run whether the family's extra is installed or
not (:func:`hook`): they import no optional library at the module's top, and say which
extra is missing where it matters (a TIFF only tifffile reads).

:mod:`convcli.io` asks this table, and nothing else, for all of it: ``load``, ``probe``,
``save``, ``identify_file``, ``output_dtype``, ``open_rows``, ``open_writer``,
``open_chunked``, ``chunk_target``, ``save_chunked``, ``writer_bytes``.  A new format is one
module and one row (:func:`register` adds a row at run time, for a plugin or a test).

Standard library only.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import MissingExtraError, UnsupportedError, join_words
from .mpeg import starts_mpeg_audio

__all__ = [
    "strong",
    "Magic",
    "ReadFormat",
    "WriteFormat",
    "Family",
    "Target",
    "ChunkTarget",
    "FAMILIES",
    "register",
    "registered",
    "family",
    "families",
    "identify",
    "identify_folder",
    "claimed",
    "identify_text",
    "writes",
    "folder_family",
    "target_for",
    "write_extensions",
    "read_extensions",
    "reads_summary",
    "streamed",
    "module_of",
    "head_bytes",
    "extension",
    "reader_for",
    "writer_for",
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
    check: Callable[[bytes], bool] | None = None

    def __init__(
        self,
        *parts: tuple[Any, ...],
        min_length: int = 0,
        check: Callable[[bytes], bool] | None = None,
    ) -> None:
        object.__setattr__(self, "parts", tuple((p[0], tuple(p[1:])) for p in parts))
        object.__setattr__(self, "min_length", min_length)
        object.__setattr__(self, "check", check)

    def matches(self, head: bytes) -> bool:
        """Whether ``head`` (the file's first bytes) starts as this format does.

        Every part must match, and ``check`` (a test of the bytes for a format with no
        magic number of its own: MPEG audio frames, :mod:`convcli.io.mpeg`) must pass.
        """
        if len(head) < self.min_length:
            return False
        if not all(
            any(head[offset : offset + len(c)] == c for c in choices)
            for offset, choices in self.parts
        ):
            return False
        return self.check is None or self.check(head)


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
        Its content, any of these; none for text, which its family's ``identify`` tells
        (after every format with a magic number).
    extensions : tuple of str
        The file extensions that claim it: a file of another content with one of these is
        refused, naming both (a format without magic claims weakly: a file of a format with
        a magic number and one of its extensions is read as that format).
    decoders : tuple of str
        What the family's library may call it and open it with (Pillow's plugins, libsndfile's
        major formats): nothing else is ever reached.
    encodings : tuple of str
        The sample encodings it is read with (an allowlist of libsndfile subtypes); empty:
        the family's :attr:`Family.encodings`.
    """

    name: str
    label: str
    magic: tuple[Magic, ...]
    extensions: tuple[str, ...]
    decoders: tuple[str, ...] = ()
    encodings: tuple[str, ...] = ()


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
    channels : int or None
        The most channels it holds (None: as many as the family's library takes).
    rates : tuple of int or None
        The sample rates it holds (MP3's nine); None: any whole number of Hz up to
        ``max_rate``.
    max_rate : int or None
        The highest sample rate its header can store.
    max_bytes : int or None
        The largest file its header can describe (32-bit sizes: ``2**32 - 1``).
    beyond : str or None
        The format written instead when a file would pass ``max_bytes`` (WAV: RF64, as
        SoX and ffmpeg write); None: such an output is refused.
    """

    name: str
    extensions: tuple[str, ...]
    holds: Mapping[int, tuple[str, ...]] | tuple[str, ...] | None = ANY
    frames: str | None = None
    frames_holds: Mapping[int, tuple[str, ...]] | None = None
    encodings: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    lossy: bool = False
    channels: int | None = None
    rates: tuple[int, ...] | None = None
    max_rate: int | None = None
    max_bytes: int | None = None
    beyond: str | None = None

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
    markers : tuple of str
        A folder holding a regular file of one of these names is of this family (a Zarr
        store's ``zarr.json``), whatever its name; its output extensions name folders too.
    stream_always : bool
        An input filtered by one kernel into one of its outputs always goes block by block,
        whatever its size (audio: a few slabs of memory, no array the size of the file).
    extra : str or None
        The optional pip extra that brings what it needs (``pip install 'convcli[extra]'``).
    requires : tuple of str
        The modules it needs, importable only with ``extra`` installed.
    options : tuple of str
        The read options its ``probe``, ``load`` and ``open_rows`` take as keywords
        (:func:`convcli.io.load`'s ``options``); any other is refused.
    sniff : str or None
        The module's function that identifies content :class:`Magic` cannot describe (see
        the table above); tried after the family's magic.
    head_bytes : int
        The bytes of a file's start that ``sniff`` needs (NIfTI's header is 352).
    claims : tuple of (str, str)
        ``(family, format)`` pairs of other families' formats that this one may take over,
        file by file, through its module's ``claims`` and ``claims_output`` (tifffile takes
        the TIFFs Pillow cannot read whole).
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
    markers: tuple[str, ...] = ()
    stream_always: bool = False
    extra: str | None = None
    requires: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    sniff: str | None = None
    head_bytes: int = 64
    claims: tuple[tuple[str, str], ...] = ()

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

    def hook(self, name: str) -> Callable[..., Any]:
        """Return the module's function ``name`` without asking for the family's extra.

        For ``sniff``, ``claims`` and ``claims_output``, which must answer (or name the
        extra) whether or not it is installed.
        """
        fn = getattr(importlib.import_module(self.module), name, None)
        if fn is None:
            raise AttributeError(f"{self.module} has no {name} function")
        return fn


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


@dataclass(frozen=True)
class ChunkTarget:
    """How a result computed chunk by chunk is stored: where, in what form, on what grid.

    Parameters
    ----------
    path : pathlib.Path
        The output path as given.
    family : str
        The family that writes it (``"zarr"``).
    form : object
        The form to keep (the input's, moved for the geometry), or None.
    chunks : tuple of int
        The stored chunk shape.
    shards : tuple of int or None
        The stored shard shape, when the store is sharded.
    """

    path: Any
    family: str
    form: Any
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None = None

    @property
    def grid(self) -> tuple[int, ...]:
        """Return the blocks one task writes whole: shards when sharded, else chunks."""
        return self.shards if self.shards is not None else self.chunks


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
_WAV_HOLDS = ("uint8", "int16", "int32", "float32", "float64")
_WAV_CODECS = ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW")
_WIDE = ("int16", "int32", "float32", "float64")  # no PCM_U8: 8-bit samples are signed
_WIDE_CODECS = ("PCM_S8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW")
#: The largest file a header of 32-bit sizes describes.
SIZE_32 = 2**32 - 1
#: The sample rates of MPEG-1, 2 and 2.5 audio (what libsndfile's MP3 writer takes).
MPEG_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
#: W64's two GUIDs: "riff" and "wave", each followed by 12 bytes of its GUID.
_W64_RIFF = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"
_W64_WAVE = b"wave\xf3\xac\xd3\x11\x8c\xd1\x00\xc0\x4f\x8e\xdb\x8a"
_IRCAM_KIND = (b"\x01", b"\x02", b"\x03", b"\x04")  # the byte IRCAM's magic varies in

_AUDIO = Family(
    name="audio",
    module="convcli.io.sndfile_audio",
    noun="audio",
    plural="audio",
    takes=("audio",),
    stream_always=True,
    # Every codec with a history of decoder bugs that nobody needs for filtering (ADPCM,
    # GSM, DWVW, G.72x, ALAC...) is left out; MPEG Layer III is read in MP3 files only.
    encodings=(*_AUDIO_CODECS, "ULAW", "ALAW", "VORBIS", "OPUS"),
    reads=(
        ReadFormat(
            "WAV",
            "WAV",
            (Magic((0, b"RIFF", b"RF64", b"BW64"), (8, b"WAVE")),),
            (".wav", ".wave", ".rf64"),
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
        ReadFormat("W64", "W64", (Magic((0, _W64_RIFF), (24, _W64_WAVE)),), (".w64",), ("W64",)),
        ReadFormat("CAF", "CAF", (Magic((0, b"caff\x00\x01")),), (".caf",), ("CAF",)),
        ReadFormat("AU", "AU", (Magic((0, b".snd", b"dns.")),), (".au", ".snd"), ("AU",)),
        ReadFormat(
            "MP3",
            "MP3",
            (Magic(check=starts_mpeg_audio),),
            (".mp3",),
            ("MP3",),
            ("MPEG_LAYER_III",),
        ),
        ReadFormat(
            "IRCAM",
            "IRCAM",
            (
                Magic((0, b"\x64\xa3"), (2, *_IRCAM_KIND), (3, b"\x00")),
                Magic((0, b"\x00"), (1, *_IRCAM_KIND), (2, b"\xa3\x64")),
            ),
            (".sf", ".ircam"),
            ("IRCAM",),
        ),
        ReadFormat(
            "NIST", "NIST SPHERE", (Magic((0, b"NIST_1A\n")),), (".nist", ".sph"), ("NIST",)
        ),
        ReadFormat("VOC", "VOC", (Magic((0, b"Creative Voice File\x1a")),), (".voc",), ("VOC",)),
        ReadFormat("PAF", "PAF", (Magic((0, b" paf", b"fap ")),), (".paf",), ("PAF",)),
        ReadFormat(
            "SVX",
            "IFF/8SVX",
            (Magic((0, b"FORM"), (8, b"8SVX", b"16SV")),),
            (".iff", ".svx", ".8svx", ".16sv"),
            ("SVX",),
        ),
        ReadFormat("PVF", "PVF", (Magic((0, b"PVF1\n")),), (".pvf",), ("PVF",)),
        ReadFormat("AVR", "AVR", (Magic((0, b"2BIT")),), (".avr",), ("AVR",)),
        ReadFormat("WVE", "WVE", (Magic((0, b"ALawSoundFile**\x00")),), (".wve",), ("WVE",)),
    ),
    writes=(
        WriteFormat(
            "WAV",
            (".wav",),
            _WAV_HOLDS,
            encodings=_WAV_CODECS,
            blocks=("audio",),
            max_bytes=SIZE_32,
            beyond="RF64",
        ),
        WriteFormat(
            "FLAC",
            (".flac",),
            ("int16", "int32"),
            encodings=("PCM_S8", "PCM_16", "PCM_24"),
            blocks=("audio",),
            channels=8,
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
            (".aiff", ".aif", ".aifc"),
            _WAV_HOLDS,
            encodings=_AUDIO_CODECS,
            blocks=("audio",),
            max_bytes=SIZE_32,
        ),
        WriteFormat("RF64", (".rf64",), _WAV_HOLDS, encodings=_WAV_CODECS, blocks=("audio",)),
        WriteFormat("W64", (".w64",), _WAV_HOLDS, encodings=_WAV_CODECS, blocks=("audio",)),
        WriteFormat("CAF", (".caf",), _WIDE, encodings=_WIDE_CODECS, blocks=("audio",)),
        WriteFormat(
            "AU",
            (".au", ".snd"),
            _WIDE,
            encodings=_WIDE_CODECS,
            blocks=("audio",),
            max_bytes=SIZE_32,
        ),
        WriteFormat(
            "MP3",
            (".mp3",),
            ("float32",),
            encodings=("MPEG_LAYER_III",),
            blocks=("audio",),
            lossy=True,
            channels=2,
            rates=MPEG_RATES,
        ),
        WriteFormat(
            "IRCAM",
            (".sf", ".ircam"),
            ("int16", "int32", "float32"),
            encodings=("PCM_16", "PCM_32", "FLOAT", "ULAW", "ALAW"),
            blocks=("audio",),
        ),
        WriteFormat(
            "NIST",
            (".nist", ".sph"),
            ("int16", "int32"),
            encodings=("PCM_S8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW"),
            blocks=("audio",),
        ),
        WriteFormat(
            "VOC",
            (".voc",),
            ("int16",),
            # libsndfile's µ-law and A-law VOC blocks count the end byte as one more sample
            encodings=("PCM_16",),
            blocks=("audio",),
            channels=2,
            max_bytes=2**24 - 1,  # one block, of a 24-bit length
        ),
        WriteFormat(
            "PAF",
            (".paf",),
            ("int16", "int32"),
            encodings=("PCM_S8", "PCM_16", "PCM_24"),
            blocks=("audio",),
        ),
        WriteFormat(
            "SVX",
            (".iff", ".svx"),
            ("int16",),
            encodings=("PCM_S8", "PCM_16"),
            blocks=("audio",),
            channels=1,
            max_rate=65535,
            max_bytes=SIZE_32,
        ),
        WriteFormat(
            "PVF",
            (".pvf",),
            ("int16", "int32"),
            encodings=("PCM_S8", "PCM_16", "PCM_32"),
            blocks=("audio",),
        ),
        WriteFormat(
            "AVR",
            (".avr",),
            ("uint8", "int16"),
            encodings=("PCM_S8", "PCM_U8", "PCM_16"),
            blocks=("audio",),
            channels=2,
            max_bytes=SIZE_32,
        ),
        WriteFormat(
            "WVE",
            (".wve",),
            ("int16",),
            encodings=("ALAW",),
            blocks=("audio",),
            channels=1,
            rates=(8000,),
            max_bytes=SIZE_32,
        ),
    ),
)

_NPY = Family(
    name="npy",
    module="convcli.io.npy",
    noun=".npy",
    takes=("image", "audio", "volume", "array", "series"),
    reads=(ReadFormat("NPY", "NPY", (Magic((0, b"\x93NUMPY")),), (".npy",)),),
    # Rows as they come, after a header that says the whole shape (not images: an image to
    # .npy is written whole, as numpy writes it).
    writes=(WriteFormat("NPY", (".npy",), ANY, blocks=("audio", "volume", "array", "series")),),
)

_ZARR = Family(
    name="zarr",
    module="convcli.io.zarr_store",
    noun="a Zarr store",
    plural="stores",
    takes=("image", "audio", "volume", "array"),
    reads=(ReadFormat("ZARR", "Zarr", (), (".zarr",)),),
    writes=(WriteFormat("ZARR", (".zarr",), ANY),),
    markers=("zarr.json", ".zarray", ".zgroup"),
    extra="dask",
    requires=("zarr", "dask"),
)

_FOLDER = Family(
    name="folder",
    module="convcli.io.slices",
    noun="a folder of slices",
    takes=("volume",),
    folders=True,
)

# Text has no magic number: its family's identify() is asked after every format with one.
_SERIES = Family(
    name="series",
    module="convcli.io.text_series",
    noun="a text series",
    plural="text series",
    takes=("series", "array"),
    stream_always=True,  # as audio: a few slabs of memory, whatever the file's length
    reads=(
        ReadFormat("CSV", "CSV", (), (".csv",)),
        ReadFormat("TSV", "TSV", (), (".tsv",)),
        ReadFormat("TEXT", ".txt/.dat", (), (".txt", ".dat")),
    ),
    writes=(
        WriteFormat("CSV", (".csv",), ANY, blocks=("series", "array")),
        WriteFormat("TSV", (".tsv",), ANY, blocks=("series", "array")),
        WriteFormat("TEXT", (".txt", ".dat"), ANY, blocks=("series", "array")),
    ),
    options=("columns", "keep_columns", "header"),
)

_DEEP = ("uint8", "uint16")
_VIDEO_HOLDS = {1: _DEEP, 3: _DEEP, 4: _DEEP}

_VIDEO = Family(
    name="video",
    module="convcli.io.av_video",
    noun="a video",
    plural="videos",
    takes=("volume",),
    stream_always=True,
    extra="video",
    requires=("av",),
    # Brands to leave out (HEIF), a DocType at no fixed offset (Matroska): a sniff, not magic.
    sniff="sniff",
    reads=(
        ReadFormat("MP4", "MP4/MOV", (), (".mp4", ".m4v", ".mov", ".qt")),
        ReadFormat("MKV", "MKV/WebM", (), (".mkv", ".webm")),
        ReadFormat("AVI", "AVI", (), (".avi",)),
    ),
    writes=(
        WriteFormat("MP4", (".mp4", ".m4v"), _VIDEO_HOLDS, blocks=("volume",), lossy=True),
        WriteFormat("MOV", (".mov", ".qt"), _VIDEO_HOLDS, blocks=("volume",), lossy=True),
        WriteFormat("MKV", (".mkv",), _VIDEO_HOLDS, blocks=("volume",)),
        WriteFormat("WEBM", (".webm",), _VIDEO_HOLDS, blocks=("volume",), lossy=True),
        WriteFormat("AVI", (".avi",), _VIDEO_HOLDS, blocks=("volume",), lossy=True),
    ),
)

_NUMBERS = (
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "uint64",
    "int64",
    "float32",
    "float64",
)

_SCITIFF = Family(
    name="scitiff",
    module="convcli.io.tifffile_tiff",
    noun="a scientific TIFF",
    takes=("image", "volume", "array"),
    stream_always=True,
    extra="volumes",
    requires=("tifffile",),
    # The image family identifies every TIFF; this one takes those Pillow cannot read whole
    # (and every ImageJ and OME file), and writes what Pillow cannot hold.
    claims=(("image", "TIFF"),),
    writes=(
        WriteFormat(
            "TIFF",
            (".tif", ".tiff", ".btf", ".tf8"),
            _NUMBERS,
            frames="multipage",
            blocks=("volume",),
        ),
    ),
)

_NIFTI = Family(
    name="nifti",
    module="convcli.io.nifti",
    noun="NIfTI",
    plural="volumes",
    takes=("image", "volume", "array"),
    stream_always=True,
    extra="volumes",
    requires=("nibabel",),
    # sizeof_hdr and a magic at byte 344 (or 4), in either byte order; gzip named .nii.gz.
    sniff="sniff",
    head_bytes=352,
    reads=(ReadFormat("NIFTI", "NIfTI", (), (".nii", ".nii.gz")),),
    writes=(WriteFormat("NIFTI", (".nii", ".nii.gz"), _NUMBERS, blocks=("volume", "array")),),
)

#: The table, in the order content is tried and extensions are listed.
FAMILIES: list[Family] = [_IMAGE, _AUDIO, _NPY, _ZARR, _FOLDER, _VIDEO, _SCITIFF, _NIFTI, _SERIES]


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


def identify(head: bytes, name: str | None = None) -> tuple[Family, ReadFormat] | None:
    r"""Return the family and format whose content ``head`` starts, or None.

    Each family's :class:`Magic` is tried in the table's order, then its ``sniff``.

    Parameters
    ----------
    head : bytes
        The file's first :func:`head_bytes` bytes (fewer if it is shorter).
    name : str, optional
        The file's name, for a family whose content alone does not say (a gzip stream is
        NIfTI only as ``.nii.gz``).

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
        if f.sniff is not None:
            found = f.hook(f.sniff)(head, name)
            if found is not None:
                return f, f.read_format(found)
    return None


def identify_text(head: bytes, path: Any) -> tuple[Family, ReadFormat] | None:
    r"""Return the format without magic (text) that a file's extension claims, if it is one.

    Asked when no format with a magic number matches ``head``: the family whose format
    claims the extension tells by its ``identify(head, path)``, which raises when the content
    is not what the extension says (binary data named ``.csv``).

    Examples
    --------
    >>> found = identify_text(b"t,x\n0,1.5\n", "log.csv")
    >>> found[0].name, found[1].name
    ('series', 'CSV')
    >>> identify_text(b"t,x\n", "log.json") is None
    True
    """
    found = claimed(Path(path).suffix)
    if found is None or strong(found):
        return None
    row = found[0]
    tell = row.function("identify", path)
    name = tell(head, path) if tell is not None else None
    return None if name is None else (row, row.read_format(name))


def head_bytes() -> int:
    """Return the bytes of a file's start that identifying it takes (the most any row needs)."""
    return max([64, *(f.head_bytes for f in FAMILIES)])


def extension(path: str | os.PathLike[str]) -> str:
    """Return a path's extension as the table knows it: ``.nii.gz`` is one, lower case.

    Examples
    --------
    >>> extension("Brain.NII.GZ") == (".nii.gz" if claimed(".nii.gz") else ".gz")
    True
    >>> extension("photo.JPG"), extension("folder")
    ('.jpg', '')
    """
    name = Path(path).name.lower()
    known = [e for f in FAMILIES for r in f.reads for e in r.extensions]
    known += [e for f in FAMILIES for w in f.writes for e in w.extensions]
    for ext in known:
        if ext.count(".") > 1 and name.endswith(ext) and len(name) > len(ext):
            return ext
    return Path(name).suffix


def reader_for(row: Family, fmt: str | None, path: Any) -> Family:
    """Return the family that reads ``path``: ``row``, or one that claims the file.

    Raises
    ------
    MissingExtraError
        A family that claims the format would read this file, and its extra is missing.
    """
    for other in FAMILIES:
        if (row.name, fmt) in other.claims and other.hook("claims")(path):
            return other
    return row


def writer_for(row: Family, fmt: WriteFormat, signal: Any, path: Any) -> Family:
    """Return the family that writes ``signal`` as ``fmt``: ``row``, or one that claims it."""
    for other in FAMILIES:
        if (row.name, fmt.name) in other.claims and other.hook("claims_output")(signal, path):
            return other
    return row


def strong(found: tuple[Family, ReadFormat]) -> bool:
    """Say whether an extension's claim on a format is strong: the content must be that format.

    A format with a magic number, a family's sniff or its folder markers claims its
    extensions strongly: a PNG named ``.wav`` is refused.  A format with none of them (text)
    claims them weakly: a ``.dat`` file holding a WAV is read as the WAV its content is.

    Examples
    --------
    >>> strong(claimed(".png")), strong(claimed(".csv"))
    (True, False)
    """
    family, fmt = found
    return bool(fmt.magic) or family.sniff is not None or bool(family.markers)


def identify_folder(path: str | os.PathLike[str]) -> tuple[Family, ReadFormat] | None:
    """Return the family and format whose ``markers`` a folder holds, or None.

    A marker counts only as a regular file (a symlink to one is followed); a folder of none
    is left to the folder-of-slices family.
    """
    for f in FAMILIES:
        for name in f.markers:
            try:
                if stat.S_ISREG(os.stat(os.path.join(path, name)).st_mode):
                    return f, f.reads[0]
            except (OSError, ValueError):
                continue
    return None


def claimed(extension: str) -> tuple[Family, ReadFormat] | None:
    """Return the family and format a file extension (``".png"``) claims, or None.

    A format without magic (text) claims its extensions weakly: see :func:`identify_text`.
    """
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


def read_extensions(name: str) -> tuple[str, ...]:
    """Return the extensions that claim family ``name``'s formats, format by format.

    Examples
    --------
    >>> read_extensions("audio")[:4]
    ('.wav', '.wave', '.rf64', '.flac')
    """
    return tuple(ext for fmt in family(name).reads for ext in fmt.extensions)


def write_extensions() -> list[str]:
    """Return every output extension, family by family, format by format, each once."""
    return list(dict.fromkeys(ext for f in FAMILIES for fmt in f.writes for ext in fmt.extensions))


def reads_summary() -> str:
    """Say what convcli reads, for messages.

    Examples
    --------
    >>> print(reads_summary())  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    PNG, JPEG, TIFF, BMP, WebP, GIF, PPM/PGM images, WAV, FLAC, OGG, AIFF, ..., WVE audio, .npy,
    Zarr stores, MP4/MOV, MKV/WebM, AVI videos, NIfTI volumes,
    CSV, TSV, .txt/.dat text series
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
            f"{where}{what} needs the optional '{row.extra}' extra ({join_words(missing, 'and')} "
            f"{'is' if len(missing) == 1 else 'are'} not installed): "
            f"pip install 'convcli[{row.extra}]'"
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
    ext = extension(p)
    if format is not None:
        named = [(f, w) for f in FAMILIES for w in f.writes if w.name == format]
        if format != "folder" and not named:
            names = ", ".join(["folder", *(w.name for f in FAMILIES for w in f.writes)])
            raise UnsupportedError(f"{p}: format {format!r} is not one of {names}")
        ext = named[0][1].extensions[0] if named else ""
    found = writes(ext) if format is None else None
    stores = found is not None and bool(found[0].markers)  # out.zarr/ is a store, not slices
    if format == "folder" or (format is None and ((p.is_dir() and not stores) or ext == "")):
        row = folder_family()
        fn = row.function("target", p)
        assert fn is not None
        return fn(signal, p, None)
    if format is not None:
        found = named[0]
    if found is None:
        known = " ".join(write_extensions())
        raise UnsupportedError(f"{p}: unknown output extension {ext!r}; use one of {known}")
    row, fmt = found
    claimant = writer_for(row, fmt, signal, p)
    if claimant is not row:
        row, fmt = claimant, claimant.write_format(fmt.name)
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
