"""``load``, ``save`` and ``probe``: the one entry to every loader and writer."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import (
    ArgumentError,
    ConvcliError,
    MissingExtraError,
    Param,
    SignalReadError,
    SignalWriteError,
    UnsupportedError,
    join_words,
)
from . import registry
from ._signal import KINDS, Signal
from .atomic import write_problem
from .content import HEAD_BYTES, check_content
from .limits import DEFAULT_LIMITS, Limits, read_head
from .rows import BlockWriter, RowSource

__all__ = [
    "load",
    "probe",
    "save",
    "sniff",
    "identify_file",
    "open_rows",
    "open_writer",
    "takes_blocks",
    "streams_always",
    "open_chunked",
    "chunk_target",
    "save_chunked",
    "writer_bytes",
]

PathLike = str | os.PathLike[str]
Options = Mapping[str, Any] | None


def identify_file(path: PathLike) -> tuple[str, str]:
    """Identify a file by its content: ``(family, format)``.

    Parameters
    ----------
    path : str or os.PathLike
        A file.

    Returns
    -------
    tuple of str
        ``family`` is ``"image"``, ``"audio"`` or ``"npy"``; ``format`` the format the
        content is (``"PNG"``, ``"WAV"``, ``"NPY"``...; see :mod:`convcli.io.content`).

    Raises
    ------
    SignalReadError
        The path does not exist, is not a regular file (a FIFO, a device, a socket, a
        folder), is empty, is not a format convcli reads, or its extension names another
        format than its content.
    """
    return check_content(path, read_head(path, max(HEAD_BYTES, registry.head_bytes())))


def sniff(path: PathLike) -> str:
    """Tell which loader reads a path, from its content.

    Parameters
    ----------
    path : str or os.PathLike
        A file or folder.

    Returns
    -------
    str
        The family's name in :mod:`convcli.io.registry`: ``"folder"``, ``"npy"``,
        ``"audio"``, ``"image"``...

    Raises
    ------
    SignalReadError
        As :func:`identify_file`.
    """
    return _where(Path(path))[0].name


def _where(path: Path) -> tuple[registry.Family, str | None]:
    """Return the family that reads ``path`` (its content says which), and the format.

    A folder is a store of a family whose ``markers`` it holds (Zarr), else a folder of
    slices; one whose extension claims a store (``x.zarr``) but that holds no marker is
    refused.
    """
    if path.is_dir():
        found = registry.identify_folder(path)
        if found is not None:
            return found[0], found[1].name
        claim = registry.claimed(path.suffix)
        if claim is not None and claim[0].markers:
            raise SignalReadError(
                f"{path}: is not {claim[0].noun}: a folder without "
                f"{join_words(list(claim[0].markers))}"
            )
        return registry.folder_family(), None
    family, fmt = identify_file(path)
    return registry.reader_for(registry.family(family), fmt, path), fmt


def _function(row: registry.Family, name: str, path: Path) -> Any:
    fn = row.function(name, path)
    if fn is None:
        raise ArgumentError(f"{path}: the {row.name} family has no {name} function")
    return fn


def _read_options(row: registry.Family, options: Options, path: Path) -> dict[str, Any]:
    """Return the read options given (None is not given), checked against the family's row.

    Raises
    ------
    ArgumentError
        An option the family does not take (``keep_columns`` for a WAV file).
    """
    given = {name: value for name, value in (options or {}).items() if value is not None}
    foreign = [name for name in given if name not in row.options]
    if foreign:
        params = [Param(name) for name in foreign]
        takers = [f.noun for f in registry.families() if set(foreign) <= set(f.options)]
        verb = "applies" if len(foreign) == 1 else "apply"
        where = f"to {join_words(takers)}" if takers else "to no format"
        raise ArgumentError(
            f"{path}: {join_words([str(p) for p in params], 'and')} {verb} {where}, not {row.noun}",
            params=params,
        )
    return given


def load(
    path: PathLike,
    kind: str = "auto",
    *,
    gray: bool = False,
    limits: Limits | None = None,
    options: Options = None,
) -> Signal:
    """Load an image, audio file, volume, text series or ``.npy`` array.

    Only regular files (and folders of them) are read, and only the formats listed in
    :mod:`convcli.io.content`, identified by their content; every size a header claims is
    checked against ``limits`` before anything is decoded (:mod:`convcli.io.limits`).

    Parameters
    ----------
    path : str or os.PathLike
        A file, or a folder of image slices.
    kind : str, optional
        ``"auto"`` decides by content: a folder, a multi-page TIFF or an animated
        GIF/PNG/WebP of more than one frame is a volume; WAV/FLAC/OGG/AIFF/MP3... is audio; ``.npy``
        is an array (every axis spatial); CSV, TSV and ``.txt``/``.dat`` text is a series
        (:mod:`convcli.io.text_series`); any other image is an image.
        ``"image"``, ``"audio"``, ``"volume"``, ``"array"`` or ``"series"`` force a reading:
        an image of a multi-frame file or folder is its first frame; a volume of one image
        has one plane; a ``.npy`` takes the shapes described in :mod:`convcli.io.npy`.
    gray : bool, optional
        Images and volumes: convert to one channel (ITU-R 601-2 luma, alpha dropped, bit
        depth kept; :func:`convcli.io.pillow_image.to_gray`).  Ignored for audio and arrays.
    limits : Limits, optional
        The budgets (pixels, voxels, planes, channels, samples); default
        :data:`convcli.io.limits.DEFAULT_LIMITS`.
    options : mapping, optional
        Read options of the input's format, by name (a value of None is not given): a text
        series takes ``columns`` (the columns filtered; the others pass through),
        ``keep_columns`` (columns passed through) and ``header`` (whether the first record
        is one; default: decided from the content).  Each family's row lists what it takes
        (:attr:`convcli.io.registry.Family.options`).

    Returns
    -------
    Signal
        Data in the conventions of :class:`Signal`, with the form it came in.

    Raises
    ------
    ArgumentError
        ``kind`` is not one of ``auto``, ``image``, ``audio``, ``volume``, ``array``,
        ``series``; an option the input's format does not take.
    SignalReadError
        The input is missing, not a regular file, unreadable, not a signal, or cannot be
        read as ``kind``.
    LimitError
        The input is larger than ``limits`` allows (a :class:`SignalReadError`).

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.save(os.path.join(d, "a.npy"), np.zeros((4, 5, 3), np.float32))
    ...     s = load(os.path.join(d, "a.npy"), "image")
    >>> s.kind, s.data.shape, s.channel_axis
    ('image', (4, 5, 3), 2)
    """
    if kind != "auto" and kind not in KINDS:
        raise ArgumentError(f"kind {kind!r} is not one of auto, {', '.join(KINDS)}")
    limits = DEFAULT_LIMITS if limits is None else limits
    p = Path(path)
    row, fmt = _where(p)
    given = _read_options(row, options, p)
    return _function(row, "load", p)(p, fmt, kind, gray, limits, **given)


_PROBE_KEYS = (
    "path",
    "kind",
    "format",
    "container",
    "shape",
    "dtype",
    "channels",
    "mode",
    "subtype",
    "bits",
    "rate",
    "duration",
    "frames",
    "planes",
)


def probe(
    path: PathLike, kind: str = "auto", *, limits: Limits | None = None, options: Options = None
) -> dict[str, Any]:
    """Describe an input cheaply, for ``convcli info``: headers only where possible.

    Parameters
    ----------
    path : str or os.PathLike
        A file or a folder of slices.
    kind : str, optional
        ``"auto"``, or a kind to read the input as (``--as``).  When it differs from what
        the header says the input is, the input is loaded to describe what the loader
        gives.
    limits : Limits, optional
        The budgets: a header that claims more than they allow is refused, as :func:`load`
        would refuse it.
    options : mapping, optional
        The format's read options, as for :func:`load`.

    Returns
    -------
    dict
        Always the keys ``path``, ``kind`` (as ``load`` would decide), ``format``,
        ``container``, ``shape`` (list, as ``load`` would give it), ``dtype`` (as loaded),
        ``channels`` (None for an array), ``mode`` (Pillow), ``subtype`` (soundfile),
        ``bits`` (as stored), ``rate`` and ``duration`` (seconds) and ``frames`` (audio),
        ``planes`` (volumes: slices, pages or animation frames); None where not relevant.
        A format may add keys of its own (a text series: ``rows``, ``columns``, ``keep``,
        ``header``, ``delimiter``, ``decimal``, ``nonfinite``).

    Raises
    ------
    ArgumentError
        ``kind`` is not a kind.
    SignalReadError
        The input is missing or cannot be read (as ``kind``), or is larger than ``limits``.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as d:
    ...     np.save(os.path.join(d, "a.npy"), np.zeros((2, 3), np.int16))
    ...     info = probe(os.path.join(d, "a.npy"))
    >>> info["kind"], info["shape"], info["dtype"], info["rate"]
    ('array', [2, 3], 'int16', None)
    """
    if kind != "auto" and kind not in KINDS:
        raise ArgumentError(f"kind {kind!r} is not one of auto, {', '.join(KINDS)}")
    limits = DEFAULT_LIMITS if limits is None else limits
    p = Path(path)
    row, fmt = _where(p)
    given = _read_options(row, options, p)
    found = _function(row, "probe", p)(p, fmt, limits, **given)
    if kind not in ("auto", found["kind"]):
        found = {**found, **_describe(load(p, kind, limits=limits, options=given))}
    record: dict[str, Any] = dict.fromkeys(_PROBE_KEYS)
    record.update(found)
    record["path"] = str(p)
    return record


def _describe(s: Signal) -> dict[str, Any]:
    """Describe a loaded signal with the keys of :func:`probe`."""
    frames = int(s.data.shape[0]) if s.kind == "audio" else None
    duration = frames / s.rate if frames is not None and s.rate else None
    return {
        "kind": s.kind,
        "format": s.form.format,
        "container": s.form.container,
        "shape": list(s.data.shape),
        "dtype": s.data.dtype.name,
        "channels": None if s.kind == "array" else s.channels,
        "mode": s.form.mode,
        "subtype": s.form.subtype,
        "bits": s.form.bits,
        "rate": s.rate,
        "duration": duration,
        "frames": frames,
        "planes": int(s.data.shape[0]) if s.kind == "volume" else None,
    }


def _normalised(signal: Signal) -> np.ndarray:
    """Return the data with its channel axis last, as the writers take it."""
    data = np.asarray(signal.data)
    axis = signal.channel_axis
    if signal.kind == "audio":
        if data.ndim == 1:
            return data[:, None]
        if data.ndim != 2:
            raise ArgumentError(f"audio data must be (frames, channels), not {data.shape}")
        return data.T if axis == 0 else data
    if axis is not None and signal.kind in ("image", "volume") and axis != data.ndim - 1:
        data = np.moveaxis(data, axis, -1)
    want = {"image": (2, 3), "volume": (3, 4)}.get(signal.kind)
    if want is not None:
        expected = want[1] if axis is not None else want[0]
        if data.ndim != expected:
            raise ArgumentError(
                f"{signal.kind} data with channel_axis={axis} must have {expected} axes, "
                f"not shape {data.shape}"
            )
    return data


def save(
    signal: Signal,
    path: PathLike,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
    threads: int | None = None,
    format: str | None = None,
    encoding: str | None = None,
) -> Path:
    """Write a signal in the form its path says, atomically.

    The format comes from the extension (``.png .jpg/.jpeg .tif/.tiff .bmp .webp .gif .ppm
    .pgm .pnm .npy``, and the audio ones: ``.wav .flac .ogg .aiff .mp3 .caf .w64 .rf64 .au``
    and the rest of :func:`convcli.io.registry.write_extensions`; a WAV that would pass 4
    GiB is written as RF64).  A volume goes to a folder of slices when
    the path has no extension or is an existing directory (input slice names kept, else
    ``slice_0000.png``...), to a multi-page TIFF (``.tif``), or to an animated GIF, PNG or
    WebP (the input's frame durations and loop kept).  Audio keeps ``signal.rate`` and the
    input's subtype where the dtype and format allow.  Images keep dpi, ICC profile and EXIF
    where the format holds them.  What is written is ``signal.data`` as it is: cast it first
    (:func:`convcli.io.output_dtype`, :func:`convcli.io.cast`).

    Parameters
    ----------
    signal : Signal
        The signal; ``data`` in the output dtype.
    path : str or os.PathLike
        The output file or folder.
    overwrite : bool, optional
        Replace an existing output.
    protect : iterable of str or os.PathLike, optional
        Paths that must never be written, whatever ``overwrite`` says (the inputs): compared
        by real path and by ``(st_dev, st_ino)``.
    threads : int, optional
        Threads an encoder may use (PNG deflates on every core by default; a caller that
        writes several files at once gives 1).  A PNG deflated in more pieces is a valid PNG
        of other bytes.
    format : str, optional
        The output format by name (``"PNG"``, ``"WAV"``, ``"folder"``...), whatever the
        path's extension says (a folder of slices named ``maps-1.5``).
    encoding : str, optional
        The sample encoding to write (audio: a libsndfile subtype such as ``"PCM_16"``; float
        samples are then converted by libsndfile).  It must be one the format has.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    OutputExistsError
        The output exists and ``overwrite`` is false, or it is one of ``protect``.
    UnsupportedError
        The format cannot hold this signal, dtype, channel count or rate.
    SignalWriteError
        The output folder is missing, the target is a directory, or the encoder failed.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from convcli.io import Signal, load
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = save(Signal(np.arange(12, dtype=np.uint8).reshape(3, 4), "image"),
    ...                os.path.join(d, "a.png"))
    ...     load(out).data.tolist()
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    """
    target = registry.target_for(signal, path, format)
    out = target.path
    data = _normalised(signal)
    protect = tuple(protect)
    write = _function(registry.family(target.family), "save", out)
    options: dict[str, Any] = {"threads": threads}
    if encoding is not None:
        written = target.write_format()
        if written is None or encoding not in written.encodings:
            has = (
                ", ".join(written.encodings)
                if written is not None and written.encodings
                else "none"
            )
            raise UnsupportedError(
                f"{out}: {target.format or target.family} is not written as {encoding} "
                f"(its encodings: {has})"
            )
        options["encoding"] = encoding
    try:
        write(signal, data, target, overwrite=overwrite, protect=protect, **options)
    except (ConvcliError, KeyboardInterrupt):
        raise
    except Exception as exc:
        fmt = target.format or target.family
        raise SignalWriteError(f"{out}: cannot write {fmt}: {write_problem(exc)}") from exc
    return out


def open_rows(
    path: PathLike, kind: str = "auto", limits: Limits | None = None, options: Options = None
) -> tuple[RowSource, Signal] | None:
    """Open an input to read its rows block by block, if its format allows it.

    The family of the input's content opens it (its module's ``open_rows``): today audio
    files (read as ``auto`` or ``audio``), C-ordered ``.npy`` files (``auto``, ``array``,
    or ``volume`` of 3 or 4 axes) and text series (``auto`` or ``series``, after one pass
    that indexes the file).  Anything else returns None, and so does a path that is not
    a regular file or not what its name says: :func:`load` then says what is wrong.

    Parameters
    ----------
    path : str or os.PathLike
        The input.
    kind : str, optional
        What to read it as.
    limits : Limits, optional
        The budgets the header is checked against, as :func:`load` checks them.
    options : mapping, optional
        The format's read options, as for :func:`load`.

    Returns
    -------
    (RowSource, Signal) or None
        The rows, and the signal :func:`load` would give, holding no rows (its kind, channel
        axis, rate and form).

    Raises
    ------
    SignalReadError
        The family opened the file and refused it (a truncated audio file, a budget, a
        ragged text series).
    ArgumentError
        An option the input's format does not take.
    """
    p = Path(path)
    if not (p.is_file() or p.is_dir()):
        return None
    try:
        row, fmt = _where(p)
        opener = row.function("open_rows", p)
    except (SignalReadError, MissingExtraError):
        return None
    if opener is None:
        return None
    given = _read_options(row, options, p)
    return opener(p, fmt, kind, DEFAULT_LIMITS if limits is None else limits, **given)


def open_chunked(
    path: PathLike, kind: str = "auto", limits: Limits | None = None
) -> tuple[Any, Signal] | None:
    """Open an input as a lazy dask array of its stored chunks, if its format allows it.

    Today Zarr stores (the family's ``open_chunked``).  Anything else returns None, and so
    does a path that is not what it says: :func:`load` then says what is wrong.

    Parameters
    ----------
    path : str or os.PathLike
        The input.
    kind : str, optional
        What to read it as.
    limits : Limits, optional
        The budgets of one chunk (a chunk is decoded whole in memory).

    Returns
    -------
    (dask.array.Array, Signal) or None
        The lazy array, and the signal :func:`load` would give, holding no samples.

    Raises
    ------
    SignalReadError
        The family opened the input and refused it (a damaged store, a budget).
    """
    p = Path(path)
    try:
        row, fmt = _where(p)
        opener = row.function("open_chunked", p)
    except (SignalReadError, MissingExtraError):
        return None
    if opener is None:
        return None
    return opener(p, fmt, kind, DEFAULT_LIMITS if limits is None else limits)


def chunk_target(
    signal: Signal,
    path: PathLike,
    shape: tuple[int, ...],
    *,
    steps: tuple[int, ...] | None = None,
    origins: tuple[float, ...] | None = None,
) -> registry.ChunkTarget | None:
    """Say how a result of ``shape`` computed chunk by chunk from ``signal`` goes to ``path``.

    Parameters
    ----------
    signal : Signal
        The input: its kind and its form, kept where the output's format can.
    path : str or os.PathLike
        The output.
    shape : tuple of int
        The result's shape.
    steps, origins : tuple, optional
        Per axis: output sample ``o`` lies at input position ``origins[a] + o * steps[a]``
        (an OME-Zarr image's coordinates are moved so).

    Returns
    -------
    ChunkTarget or None
        Where and on what grid it is stored (compute the result on ``grid``'s blocks); None
        when the output's format is not written chunk by chunk.
    """
    try:
        target = registry.target_for(signal, path)
    except (UnsupportedError, ValueError):
        return None
    decide = registry.family(target.family).function("chunk_target", path)
    if decide is None:
        return None
    return decide(signal, target, shape, steps, origins)


def save_chunked(
    array: Any, out: registry.ChunkTarget, **options: Any
) -> tuple[tuple[int, ...], list[Any]]:
    """Write a dask array chunk by chunk as ``out`` says, atomically.

    Parameters
    ----------
    array : dask.array.Array
        The result, chunked on ``out.grid``.
    out : ChunkTarget
        From :func:`chunk_target`.
    **options
        ``overwrite``, ``protect`` (as :func:`save`); ``dtype`` (stored), ``finish``
        (``finish(block) -> (block, counts)``, applied to each block before it is written),
        ``width`` (how many counts), ``also`` (lazy values computed in the same pass),
        ``scheduler`` (None for local threads, or a :class:`distributed.Client`),
        ``threads``.

    Returns
    -------
    (tuple of int, list)
        ``finish``'s counts summed over every block, and the values of ``also``.
    """
    write = _function(registry.family(out.family), "save_chunked", out.path)
    return write(array, out, **options)


def takes_blocks(signal: Signal, path: PathLike) -> bool:
    """Whether the output ``path`` takes the rows of ``signal`` block by block, as they come.

    Its format's row says which kinds of signal its block writer takes (``blocks``): audio
    formats take audio, ``.npy`` audio, volumes and arrays, PNG images.

    Raises
    ------
    SignalWriteError
        The path is a folder and the signal is not a volume (as :func:`save` would say).
    """
    try:
        target = registry.target_for(signal, path)
    except (UnsupportedError, ValueError):
        return False
    fmt = target.write_format()
    return fmt is not None and signal.kind in fmt.blocks


def writer_bytes(signal: Signal, path: PathLike, shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes the block writer of ``path`` holds for an output of ``shape`` and ``dtype``.

    A format written as its rows come holds a few blocks (0 here); one encoded at the end
    (a JPEG) holds the whole image: the family's ``writer_bytes`` says which.
    """
    target = registry.target_for(signal, path)
    fn = registry.family(target.family).function("writer_bytes", target.path)
    return 0 if fn is None else int(fn(target, tuple(shape), np.dtype(dtype), signal.form))


def streams_always(signal: Signal, path: PathLike) -> bool:
    """Whether a signal filtered by one kernel always goes to ``path`` block by block.

    So it does into a family whose row says ``stream_always`` (audio: a few slabs of memory
    whatever the file's length), when the output takes the signal's rows.
    """
    if not takes_blocks(signal, path):
        return False
    return registry.family(registry.target_for(signal, path).family).stream_always


def open_writer(
    fh: Any,
    target: registry.Target,
    shape: tuple[int, ...],
    dtype: np.dtype,
    form: Any,
    rate: float | None = None,
) -> BlockWriter:
    """Start an output whose rows come block by block (the family's ``open_writer``).

    Parameters
    ----------
    fh : binary file
        Where to write (:func:`convcli.io.atomic.atomic_file` gives it).
    target : Target
        The output (:func:`convcli.io.registry.target_for`).
    shape : tuple of int
        The output's shape: its rows, and the row shape of its blocks.
    dtype : numpy.dtype
        The blocks' dtype (cast already).
    form : Form
        The input's form: metadata to carry.
    rate : float, optional
        The sample rate, for audio.

    Raises
    ------
    UnsupportedError
        The format cannot hold the blocks (a dtype, a channel count, a rate).
    """
    opener = _function(registry.family(target.family), "open_writer", target.path)
    return opener(fh, target, shape, dtype, form, rate)
