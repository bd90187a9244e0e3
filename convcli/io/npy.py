"""Raw arrays in ``.npy`` files, loaded with ``allow_pickle=False``.

An array is every axis spatial unless ``kind`` says how to read it:

- ``image``: ``(rows, cols)`` gray or ``(rows, cols, C)`` channels last;
- ``volume``: ``(planes, rows, cols)`` or ``(planes, rows, cols, C)`` channels last;
- ``audio``: ``(frames,)`` or ``(frames, C)``, with no sample rate.  Integer samples are
  scaled to ``[-1, 1]`` as soundfile scales them (int8 as PCM_S8, int16 as PCM_16, int32 as
  PCM_32, uint8 as PCM_U8) and floats are taken as ``[-1, 1]`` already;
- ``series``: ``(rows,)`` or ``(rows, C)``, values as stored (a series written to ``.npy``
  reads back as one).

Booleans load as uint8 (0 and 1); complex, string, structured and object arrays are refused.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import SignalReadError
from ._signal import Form, Signal
from .atomic import atomic_file
from .dtypes import SUBTYPE_DTYPE
from .limits import DEFAULT_LIMITS, Limits, open_regular
from .pillow_image import to_gray
from .rows import RowSource

__all__ = [
    "header_fields",
    "read_array",
    "archive_names",
    "read_archive",
    "read_npy",
    "probe_npy",
    "write_npy",
    "mode_of",
    "NpyHeader",
    "read_npy_header",
    "check_npy_limits",
]

_AUDIO_INT = {
    "int8": ("PCM_S8", 2.0**7, 0.0),
    "int16": ("PCM_16", 2.0**15, 0.0),
    "int32": ("PCM_32", 2.0**31, 0.0),
    "uint8": ("PCM_U8", 2.0**7, 128.0),
}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def mode_of(data: np.ndarray, channel_axis: int | None) -> str | None:
    """Return the Pillow mode that holds an image array, or None.

    Parameters
    ----------
    data : numpy.ndarray
        ``(rows, cols[, C])`` (or a volume, channels last).
    channel_axis : int or None
        The channel axis.

    Returns
    -------
    str or None
        ``"L"``, ``"LA"``, ``"RGB"``, ``"RGBA"``, ``"I;16"``, ``"I"``, ``"F"`` or None.

    Examples
    --------
    >>> import numpy as np
    >>> mode_of(np.zeros((2, 2, 3), np.uint8), 2), mode_of(np.zeros((2, 2), np.uint16), None)
    ('RGB', 'I;16')
    """
    channels = 1 if channel_axis is None else data.shape[channel_axis]
    name = data.dtype.name
    if name == "uint8":
        return {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(channels)
    if channels == 1:
        return {"uint16": "I;16", "int32": "I", "float32": "F"}.get(name)
    return None


def _check_dtype(arr: np.ndarray, path: Path) -> np.ndarray:
    dt = arr.dtype
    if dt == np.bool_:
        return arr.astype(np.uint8)
    if dt.kind not in "iuf" or dt.fields is not None:
        raise SignalReadError(
            f"{path}: dtype {dt} is not a real number type; convcli reads bool, integer and "
            f"float arrays"
        )
    if not dt.isnative:
        return arr.astype(dt.newbyteorder("="))
    return arr


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header says, checked against the file.

    Attributes
    ----------
    shape : tuple of int
        The array's shape.
    dtype : numpy.dtype
        Its dtype (numeric: never an object dtype).
    fortran : bool
        Whether the data are in Fortran order.
    offset : int
        Where the data start.
    nbytes : int
        How many bytes of data the header says follow.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int
    nbytes: int


def header_fields(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Parse a ``.npy`` header with numpy's own safe parser (a literal, never a pickle).

    ``fh`` is at the file's start and is left just after the header.  Nothing is checked:
    :func:`read_npy_header` is the loaders' check; a reader of its own (kernel files,
    layer weights) checks what it needs and says so in its own words.

    Returns
    -------
    shape : tuple of int
    fortran : bool
    dtype : numpy.dtype

    Raises
    ------
    Exception
        Whatever numpy raises for a header it cannot parse (ValueError, EOFError...).
    """
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, fortran, dtype = reader(fh)
    return tuple(shape), bool(fortran), dtype


def read_array(fh: IO[bytes]) -> np.ndarray:
    """Read one ``.npy`` array from ``fh`` (at its start), never unpickling.

    Raises
    ------
    Exception
        Whatever numpy raises for a file it cannot read (a pickled array: ValueError).
    """
    array: np.ndarray = np.load(fh, allow_pickle=False)
    return array


def archive_names(path: str | os.PathLike[str]) -> list[str]:
    """Return the member names of an ``.npz`` (zip) archive.

    Raises
    ------
    Exception
        Whatever zipfile raises for an archive it cannot read.
    """
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def read_archive(path: str | os.PathLike[str]) -> Any:
    """Open an ``.npz`` archive to read its arrays by name, never unpickling.

    Returns
    -------
    numpy.lib.npyio.NpzFile
        A context manager; ``archive["name"]`` reads a member in full (its CRC-32 checked).

    Raises
    ------
    Exception
        Whatever numpy or zipfile raises for an archive it cannot read.
    """
    return np.load(path, allow_pickle=False)


def read_npy_header(fh: IO[bytes], path: str | os.PathLike[str]) -> NpyHeader:
    """Read and check a ``.npy`` header before any data is read or allocated.

    The header is parsed by numpy's own safe parser (a literal, no pickle); an object dtype
    (a pickled array) is refused at once, and the data the shape and dtype call for must be
    in the file: a 100-byte file that claims terabytes is refused from its size.

    Parameters
    ----------
    fh : binary file
        The open file, at its start; left just after the header.
    path : str or os.PathLike
        The file, for messages.

    Returns
    -------
    NpyHeader
        The header.

    Raises
    ------
    SignalReadError
        Not a ``.npy`` header, an object (pickled) or non-numeric dtype, a negative size,
        or a file shorter than its header says.
    """
    try:
        shape, fortran, dtype = header_fields(fh)
    except Exception as exc:
        text = _one_line(exc)
        if text.startswith("Header info length"):  # numpy's advice (allow_pickle) is not ours
            text = text.split(" is large", 1)[0] + " is more than numpy reads safely"
        raise SignalReadError(f"{path}: cannot read .npy: {text}") from None
    if dtype.hasobject:
        raise SignalReadError(
            f"{path}: holds Python objects (a pickled array); convcli loads numeric "
            f".npy files only and never unpickles"
        )
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise SignalReadError(
            f"{path}: dtype {dtype} is not a real number type; convcli reads bool, integer and "
            f"float arrays"
        )
    if any(n < 0 for n in shape):
        raise SignalReadError(f"{path}: the header's shape {shape} has a negative size")
    offset = fh.tell()
    nbytes = math.prod(shape) * dtype.itemsize
    size = os.fstat(fh.fileno()).st_size
    if offset + nbytes > size:
        dims = "x".join(map(str, shape)) or "scalar"
        raise SignalReadError(
            f"{path}: truncated: the header says {dims} {dtype.name} ({nbytes} bytes of data) "
            f"but the file holds {max(size - offset, 0)}"
        )
    return NpyHeader(tuple(int(n) for n in shape), dtype, bool(fortran), offset, nbytes)


def check_npy_limits(
    path: str | os.PathLike[str], shape: tuple[int, ...], kind: str, limits: Limits
) -> None:
    """Check a ``.npy`` header's shape, read as ``kind``, against the budgets.

    Raises
    ------
    LimitError
        Read as an image, volume or audio, the shape is larger than ``limits`` allows.
    """
    if kind == "image" and len(shape) in (2, 3):
        limits.check_pixels(path, shape[0], shape[1])
        if len(shape) == 3:
            limits.check_channels(path, shape[2])
    elif kind == "volume" and len(shape) in (3, 4):
        limits.check_pixels(path, shape[1], shape[2], what="each plane: ")
        limits.check_planes(path, *shape[:3])
        if len(shape) == 4:
            limits.check_channels(path, shape[3])
    elif kind in ("audio", "series") and len(shape) in (1, 2):
        if kind == "series" and len(shape) == 2:
            limits.check_channels(path, shape[1])
        limits.check_samples(path, shape[0], shape[1] if len(shape) == 2 else 1)


def _load(path: Path, kind: str, limits: Limits) -> np.ndarray:
    with open_regular(path) as fh:
        header = read_npy_header(fh, path)
        check_npy_limits(path, header.shape, kind, limits)
        fh.seek(0)
        try:
            arr = read_array(fh)
        except MemoryError:
            raise
        except Exception as exc:
            raise SignalReadError(f"{path}: cannot read .npy: {_one_line(exc)}") from exc
    if not isinstance(arr, np.ndarray):
        raise SignalReadError(f"{path}: is not a single .npy array")
    return arr


def read_npy(path: Path, kind: str, gray: bool, *, limits: Limits = DEFAULT_LIMITS) -> Signal:
    """Load a ``.npy`` file as an array, or as an image, volume or audio when forced.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    kind : str
        ``"auto"``/``"array"``, ``"image"``, ``"volume"``, ``"audio"`` or ``"series"`` (see
        the module docstring for the shapes each takes).
    gray : bool
        For images and volumes: convert to one channel.
    limits : Limits, optional
        The budgets that apply to the kind it is read as (pixels, planes, channels,
        samples), checked from the header.

    Returns
    -------
    Signal
        The signal, ``form.container == "npy"``.

    Raises
    ------
    SignalReadError
        Not a numeric ``.npy`` (a pickled object array included), a file shorter than its
        header says, or a shape the forced kind cannot take.
    LimitError
        Larger than ``limits`` allows for the kind it is read as.
    """
    arr = _check_dtype(_load(path, kind, limits), path)
    form = Form(
        container="npy",
        format="NPY",
        bits=arr.dtype.itemsize * 8,
        dtype=arr.dtype.name,
    )
    shape = "x".join(map(str, arr.shape)) or "scalar"
    if kind in ("auto", "array"):
        return Signal(arr, "array", None, source=path, form=form)
    if kind == "audio":
        return _as_audio(arr, path, form, shape)
    if kind == "series":
        if arr.ndim not in (1, 2):
            raise SignalReadError(
                f"{path}: a {shape} array cannot be read as a series: it takes (rows,) or "
                f"(rows, channels)"
            )
        return Signal(arr.reshape(len(arr), -1), "series", 1, source=path, form=form)
    ndim = {"image": (2, 3), "volume": (3, 4)}[kind]
    if arr.ndim not in ndim:
        raise SignalReadError(
            f"{path}: a {shape} array cannot be read as {kind}: it takes {ndim[0]} axes "
            f"(gray) or {ndim[1]} (channels last)"
        )
    channel_axis: int | None = ndim[1] - 1 if arr.ndim == ndim[1] else None
    if gray:
        arr = to_gray(arr, channel_axis, path)
        channel_axis = None
    form.mode = mode_of(arr, channel_axis)
    form.dtype = arr.dtype.name
    return Signal(arr, kind, channel_axis, source=path, form=form)


def _as_audio(arr: np.ndarray, path: Path, form: Form, shape: str) -> Signal:
    if arr.ndim not in (1, 2):
        raise SignalReadError(
            f"{path}: a {shape} array cannot be read as audio: it takes (frames,) or "
            f"(frames, channels)"
        )
    if arr.ndim == 1:
        arr = arr[:, None]
    name = arr.dtype.name
    if name in _AUDIO_INT:
        subtype, scale, offset = _AUDIO_INT[name]
        work = np.float64 if subtype == "PCM_32" else np.float32
        data = (arr.astype(work) - work(offset)) / work(scale)
        form.bits = 8 if subtype in ("PCM_S8", "PCM_U8") else arr.dtype.itemsize * 8
    elif arr.dtype.kind == "f":
        subtype = "DOUBLE" if name == "float64" else "FLOAT"
        data = arr.astype(np.float64 if subtype == "DOUBLE" else np.float32)
        form.bits = 64 if subtype == "DOUBLE" else 32
    else:
        raise SignalReadError(
            f"{path}: {name} samples cannot be read as audio: use float, int8, int16, int32 "
            f"or uint8"
        )
    form.subtype = subtype
    form.dtype = SUBTYPE_DTYPE[subtype]
    return Signal(data, "audio", 1, rate=None, source=path, form=form)


def probe_npy(path: Path) -> dict[str, Any]:
    """Describe a ``.npy`` file from its header (:func:`read_npy_header`; no data read).

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    dict
        ``kind`` (``"array"``), ``format``, ``container``, ``shape``, ``dtype``, ``bits``.

    Raises
    ------
    SignalReadError
        Not a numeric ``.npy`` file, or shorter than its header says.
    """
    with open_regular(path) as fh:
        header = read_npy_header(fh, path)
    dt = header.dtype
    name = "uint8" if dt == np.bool_ else dt.newbyteorder("=").name
    return {
        "kind": "array",
        "format": "NPY",
        "container": "npy",
        "shape": list(header.shape),
        "dtype": name,
        "bits": np.dtype(name).itemsize * 8,
    }


def write_npy(fh: IO[bytes], data: np.ndarray) -> None:
    """Write an array as ``.npy`` (no pickling).

    Parameters
    ----------
    fh : binary file
        Where to write.
    data : numpy.ndarray
        The array, as it is.
    """
    np.save(fh, data, allow_pickle=False)


# ----------------------------------------------------------------------------- the registry's


def load(path: Path, fmt: str, kind: str, gray: bool, limits: Limits) -> Signal:
    """Load a ``.npy`` file as ``kind`` (:func:`read_npy`)."""
    return read_npy(path, kind, gray, limits=limits)


def probe(path: Path, fmt: str, limits: Limits) -> dict[str, Any]:
    """Describe a ``.npy`` file from its header (:func:`probe_npy`)."""
    return probe_npy(path)


def save(
    signal: Signal,
    data: np.ndarray,
    target: Any,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
) -> None:
    """Write the signal's data as it is (any shape, any numeric dtype), atomically."""
    with atomic_file(target.path, overwrite=overwrite, protect=protect) as fh:
        write_npy(fh, np.asarray(signal.data))


# ----------------------------------------------------------------------------- rows


class NpyFileSource(RowSource):
    """Rows of a C-ordered ``.npy`` file, read by seeking (never a memory map).

    The header is checked as :func:`convcli.io.load` checks it
    (:func:`read_npy_header`): numeric, and no longer than the file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] = open_regular(path)
        try:
            header = read_npy_header(self._fh, path)
            if header.fortran or len(header.shape) == 0:
                raise SignalReadError(f"{path}: not a C-ordered array; cannot stream it")
        except BaseException:
            self._fh.close()
            raise
        self.shape = header.shape
        self.dtype = header.dtype
        self._offset = header.offset
        self._row = int(np.prod(self.shape[1:], dtype=np.int64))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Read rows ``start:stop``."""
        self._fh.seek(self._offset + start * self._row * self.dtype.itemsize)
        count = (stop - start) * self._row
        data = np.fromfile(self._fh, dtype=self.dtype, count=count)
        if data.size != count:
            raise SignalReadError(f"{self.path}: the file ended while reading rows {start}:{stop}")
        return data.reshape((stop - start,) + self.shape[1:])

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


def open_rows(
    path: Path, fmt: str, kind: str, limits: Limits
) -> tuple[NpyFileSource, Signal] | None:
    """Open a C-ordered ``.npy`` to read its rows by seeking (read as auto, array or volume).

    A ``.npy`` that :func:`read_npy_header` refuses, or a volume of other than 3 or 4 axes,
    returns None: :func:`convcli.io.load` then says what is wrong.

    Returns
    -------
    (NpyFileSource, Signal) or None
        The rows, and the signal :func:`read_npy` would give, without its rows.

    Raises
    ------
    LimitError
        Read as a volume, larger than ``limits`` allows.
    """
    if kind not in ("auto", "array", "volume"):
        return None
    try:
        npy = NpyFileSource(path)
    except SignalReadError:
        return None  # let the ordinary loader say what is wrong
    channel_axis = None
    if kind == "volume":
        if len(npy.shape) not in (3, 4):
            npy.close()
            return None
        channel_axis = 3 if len(npy.shape) == 4 else None
        try:
            check_npy_limits(path, npy.shape, kind, limits)
        except BaseException:
            npy.close()
            raise
    form = Form(container="npy", format="NPY", bits=npy.dtype.itemsize * 8)
    form.dtype = npy.dtype.name
    empty = np.empty((0, *npy.shape[1:]), dtype=npy.dtype)
    if kind == "volume":
        form.mode = mode_of(empty, channel_axis)
    signal_kind = "volume" if kind == "volume" else "array"
    return npy, Signal(empty, signal_kind, channel_axis, source=path, form=form)


class NpyWriter:
    """Write a ``.npy`` header for the whole shape, then rows in order as they come."""

    def __init__(self, fh: IO[bytes], shape: tuple[int, ...], dtype: np.dtype) -> None:
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": shape,
        }
        np.lib.format.write_array_header_2_0(fh, header)
        self._fh = fh

    def write(self, block: np.ndarray) -> None:
        """Append rows."""
        self._fh.write(np.ascontiguousarray(block).tobytes())

    def close(self) -> None:
        """Flush (the header said the length already)."""
        self._fh.flush()


def open_writer(
    fh: IO[bytes],
    target: Any,
    shape: tuple[int, ...],
    dtype: np.dtype,
    form: Form,
    rate: float | None,
) -> NpyWriter:
    """Start a ``.npy`` of ``shape`` whose rows come block by block."""
    return NpyWriter(fh, tuple(shape), dtype)
