r"""NIfTI through nibabel: MRI and CT volumes (``.nii``, ``.nii.gz``), 3-D and 4-D series.

The ``nifti`` family of :mod:`convcli.io.registry` (extra ``volumes``: ``pip install
'convcli[volumes]'``), NIfTI-1 and NIfTI-2.  Its row calls :func:`sniff`, :func:`probe`,
:func:`load`, :func:`save`, :func:`target`, :func:`open_rows` (slices read in order) and
:func:`open_writer` (slices staged as they come); the same, by path, for a script:
:func:`probe_nifti`, :func:`read_nifti`, :func:`write_nifti`, :func:`open_nifti`,
:func:`nifti_writer`.  nibabel parses, checks and writes the header; the voxels are read
and written by convcli as they lie in the file.  nibabel is imported inside the functions;
without it a NIfTI file gets one line naming the extra.

==============  ==========================================================================
content         :func:`identify` on the first 352 bytes (and the name): ``sizeof_hdr``
                348 with ``n+1\0`` at byte 344 (NIfTI-1), 540 with ``n+2\0\r\n\x1a\n`` at
                byte 4 (NIfTI-2), either byte order; gzip (``\x1f\x8b``) named ``.nii.gz``
extensions      ``.nii`` and ``.nii.gz`` (a ``.hdr``/``.img`` pair, ``ni1``, is refused)
kinds           ``volume`` (3-D and 4-D), ``image`` (2-D), ``array`` (the voxels in file
                order, every axis spatial; 5-D and more are read only so)
rows / blocks   :func:`open_rows` and :func:`open_writer` along axis 0 (slices ``k``)
==============  ==========================================================================

Axes: file order, never reoriented
----------------------------------
NIfTI stores voxel ``(i, j, k, t)`` with ``i`` fastest.  convcli reads the bytes as they
lie, slowest axis first: a 3-D file is a volume ``k × j × i`` (planes are the slices ``k``,
rows ``j``, columns ``i``: nibabel's array transposed, ``data[k, j, i] ==
nibabel_data[i, j, k]``), so a volume streams slice by slice in file order and reads as a
stack of slices does.  No reorientation: the affine (qform and sform) is not applied, and is
written back as it was.

**A 4-D series ``(i, j, k, t)`` is a volume ``k × j × i`` whose channel axis is ``t``**:
every kernel the CLI applies to a volume applies to each time point alone, a 3-D volume at
a time, as ``fslmaths -kernel`` does.  ``t`` is counted against ``max_frames``, not
``max_channels``, and the mode is None (no colour or alpha rule).  Read ``--as array`` to
get ``t × k × j × i`` with every axis spatial, so that a 4-D kernel (time first) filters
across time too.  Dimensions of 5 and more (vector and tensor images) are read as arrays
only.

Spacing: ``pixdim`` per axis with ``xyzt_units`` (``mm``, ``um`` or ``m``; ``s``, ``ms`` or
``us`` for ``t``), on ``Form.spacing``/``Form.units`` in the signal's axis order (``dk, dj,
di``).  Units the header leaves unknown (``xyzt_units`` 0) give no unit: a kernel in
millimetres is then refused, never guessed.

Data type and scaling
---------------------
Without scaling (``scl_slope`` 0, 1 or NaN and ``scl_inter`` 0) the voxels load in the
stored type (``int16`` stays ``int16``).  With scaling they load as the real values
``stored × scl_slope + scl_inter`` in float32 (float64 for stored types wider than 16 bits),
because a kernel must act on the real values (a derivative of ``x + inter`` is not that of
``x`` plus ``inter``).  The writer gives them back in the input's stored type through the
input's own slope and intercept (rounded half to even, clipped, counted in
``writer.clipped``), so the header, data type and scaling are those of the input; data of
another type than the loaded one (``--dtype``) is stored as that type, unscaled.

Writing keeps the whole header (descriptions, intent, codes, extensions) and updates only
the dimensions, the data type when it changes, and, when ``Form.spacing`` differs from the
header's ``pixdim`` (a stride), ``pixdim`` and the affine's columns by the same ratio.
The slices are staged raw beside the output and the file written from them when the writer
closes (the header needs the final size; a 4-D file's slice order is not the planes').
``.nii.gz`` is written at gzip level 1 (nibabel's default) and read through a raw
temporary file, so slabs that overlap never decompress twice.

Hostile files: a header nibabel refuses, a data block shorter than the header says (the
file's size; for ``.nii.gz`` the gzip trailer's size, and the decompressed length), and
budgets (``max_pixels``, ``max_frames``, ``max_voxels``) from the header, before a voxel is
read.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import ConvcliError, SignalReadError, SignalWriteError, UnsupportedError
from . import registry
from ._signal import Form, Signal
from ._watch import one_line
from .atomic import StageFolder, atomic_file, check_output
from .limits import DEFAULT_LIMITS, Limits, open_regular
from .rows import RowSource

__all__ = [
    "EXTRA",
    "EXTENSIONS",
    "identify",
    "sniff",
    "probe",
    "load",
    "save",
    "target",
    "open_rows",
    "open_writer",
    "probe_nifti",
    "read_nifti",
    "write_nifti",
    "open_nifti",
    "nifti_writer",
    "NiftiRows",
    "NiftiWriter",
]

PathLike = str | os.PathLike[str]

#: The pip extra this family needs.
EXTRA = "volumes"

#: Extensions read and written.
EXTENSIONS = (".nii", ".nii.gz")

#: Bytes :func:`identify` needs.
HEAD_BYTES = 352

_GZIP = b"\x1f\x8b"
_SPACE_UNITS = {"mm": "mm", "micron": "um", "meter": "m"}
_TIME_UNITS = {"sec": "s", "msec": "ms", "usec": "us"}
_COPY_CHUNK = 1 << 22


def identify(head: bytes, name: str | None = None) -> str | None:
    r"""Return ``"NIFTI1"``, ``"NIFTI2"`` or ``"NIFTI-GZ"`` from a file's first bytes.

    Parameters
    ----------
    head : bytes
        The first :data:`HEAD_BYTES` bytes (fewer if the file is shorter).
    name : str, optional
        The file name: gzip content is claimed only when it ends in ``.nii.gz``.

    Examples
    --------
    >>> head = (348).to_bytes(4, "little") + bytes(340) + b"n+1\0"
    >>> identify(head), identify(head.replace(b"n+1", b"ni1"))
    ('NIFTI1', None)
    >>> identify(b"\x1f\x8b\x08\0", "brain.nii.gz"), identify(b"\x1f\x8b\x08\0", "a.gz")
    ('NIFTI-GZ', None)
    """
    if head[:2] == _GZIP:
        return "NIFTI-GZ" if name is not None and name.lower().endswith(".nii.gz") else None
    if (
        len(head) >= 4
        and head[:4] in (_i32(540, "<"), _i32(540, ">"))
        and head[4:12] == (b"n+2\x00\r\n\x1a\n")
    ):
        return "NIFTI2"
    if len(head) >= 348 and head[:4] in (_i32(348, "<"), _i32(348, ">")):
        return "NIFTI1" if head[344:348] == b"n+1\x00" else None
    return None


def sniff(head: bytes, name: str | None = None) -> str | None:
    r"""Return ``"NIFTI"`` (the io table's read format) for NIfTI content, else None.

    Examples
    --------
    >>> sniff(b"\x1f\x8b\x08\0", "brain.nii.gz"), sniff(b"\x1f\x8b\x08\0", "notes.gz")
    ('NIFTI', None)
    """
    return None if identify(head, name) is None else "NIFTI"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep nibabel's own log (a header it would fix, a code it does not know) off stderr.

    nibabel prints its header checks through the ``nibabel.global`` logger before it raises;
    convcli says what was wrong in its one line instead.
    """
    logger = logging.getLogger("nibabel.global")
    handlers, propagate = list(logger.handlers), logger.propagate
    null = logging.NullHandler()
    for handler in handlers:
        logger.removeHandler(handler)
    logger.addHandler(null)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(null)
        for handler in handlers:
            logger.addHandler(handler)
        logger.propagate = propagate


def _i32(value: int, order: str) -> bytes:
    return value.to_bytes(4, "little" if order == "<" else "big")


def _nibabel(path: PathLike, writing: bool = False) -> Any:
    """Import nibabel, or say which extra to install."""
    try:
        import nibabel
    except ImportError:
        text = f"{path}: NIfTI needs nibabel: pip install 'convcli[{EXTRA}]'"
        if writing:
            raise UnsupportedError(text) from None
        raise SignalReadError(text) from None
    return nibabel


# --- the header -------------------------------------------------------------------------------


@dataclass
class Header:
    """A NIfTI header as convcli uses it.

    Attributes
    ----------
    nib : Any
        nibabel's header (``Nifti1Header`` or ``Nifti2Header``).
    dims : tuple of int
        ``(ni, nj, nk, nt, ...)`` as the header gives them (trailing 1s dropped, at least 2).
    stored : numpy.dtype
        The data type on disk (byte order included).
    slope, inter : float
        The scaling; ``(1.0, 0.0)`` when the header has none.
    offset : int
        Byte offset of the voxels (in the decompressed stream of a ``.nii.gz``).
    gz : bool
        Whether the file is gzip-compressed.
    """

    nib: Any
    dims: tuple[int, ...]
    stored: np.dtype
    slope: float
    inter: float
    offset: int
    gz: bool

    @property
    def scaled(self) -> bool:
        """Whether the stored values must be scaled to give the real ones."""
        return (self.slope, self.inter) != (1.0, 0.0)

    @property
    def nbytes(self) -> int:
        """Bytes of voxels the header claims."""
        return math.prod(self.dims) * self.stored.itemsize


def _read_header(path: Path, limits: Limits) -> Header:
    """Read and check the header: magic, nibabel's checks, data type, budgets, size."""
    nibabel = _nibabel(path)
    with open_regular(path) as fh:
        head = fh.read(HEAD_BYTES)
        kind = identify(head, path.name)
        gz = kind == "NIFTI-GZ"
        if gz:
            fh.seek(0)
            try:
                with gzip.GzipFile(fileobj=fh) as z:
                    head = z.read(HEAD_BYTES + 200)
            except (OSError, EOFError, zlib.error) as exc:
                raise SignalReadError(f"{path}: damaged gzip: {one_line(exc)}") from None
            kind = identify(head)
        if kind is None:
            what = "a NIfTI pair (.hdr/.img); convert it to .nii" if b"ni1\x00" in head else ""
            raise SignalReadError(
                f"{path}: not a NIfTI-1/2 single file{': ' + what if what else ''}"
            )
        cls = nibabel.Nifti2Header if kind == "NIFTI2" else nibabel.Nifti1Header
        try:
            import io

            fh.seek(0)
            with _quiet():
                if gz:
                    with gzip.GzipFile(fileobj=fh) as z:
                        hdr = cls.from_fileobj(z, check=True)
                else:
                    hdr = cls.from_fileobj(io.BytesIO(fh.read(1 << 20)), check=True)
        except (ConvcliError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - nibabel's words, one line
            raise SignalReadError(f"{path}: bogus NIfTI header: {one_line(exc)}") from None
        size = os.fstat(fh.fileno()).st_size
        header = _header(path, hdr)
        header.gz = gz
        _check_budgets(path, header, limits)
        _check_length(path, header, fh, size)
    return header


def _header(path: Path, hdr: Any) -> Header:
    try:
        dims = tuple(int(n) for n in hdr.get_data_shape())
        stored = np.dtype(hdr.get_data_dtype())
        slope, inter = hdr.get_slope_inter()
        offset = int(hdr.get_data_offset())
    except Exception as exc:  # noqa: BLE001 - nibabel's words, one line
        raise SignalReadError(f"{path}: bogus NIfTI header: {one_line(exc)}") from None
    if any(n < 1 for n in dims) or not dims:
        raise SignalReadError(f"{path}: bogus NIfTI header: dimensions {dims}")
    if stored.kind not in "buif" or stored.fields is not None:
        raise SignalReadError(
            f"{path}: NIfTI voxels of type {stored} (complex or RGB) are not read; convert "
            f"them to scalars"
        )
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    while len(dims) > 2 and dims[-1] == 1:
        dims = dims[:-1]
    if len(dims) == 1:
        dims = (dims[0], 1)
    return Header(hdr, dims, stored, slope, inter, offset, False)


def _check_budgets(path: Path, h: Header, limits: Limits) -> None:
    ni, nj = h.dims[0], h.dims[1]
    nk = h.dims[2] if len(h.dims) > 2 else 1
    series = math.prod(h.dims[3:])
    limits.check_pixels(path, nj, ni)
    limits.check_planes(path, nk, nj, ni)
    limits.check_series(path, series, nk * nj * ni, "time points")
    limits.check_elements(path, h.dims, h.stored.itemsize)


def _check_length(path: Path, h: Header, fh: IO[bytes], size: int) -> None:
    """Refuse a data block shorter than the header says, from the file's size."""
    need = h.offset + h.nbytes
    if not h.gz:
        if size < need:
            raise SignalReadError(
                f"{path}: the data block is cut short: the header says {h.nbytes} bytes of "
                f"voxels from byte {h.offset}, the file ends at byte {size}"
            )
        return
    if size < 18 or need >= 1 << 32:
        return  # the gzip trailer holds the size modulo 2**32: checked while decompressing
    fh.seek(size - 4)
    isize = int.from_bytes(fh.read(4), "little")
    if isize < need:
        raise SignalReadError(
            f"{path}: the data block is cut short: the header says {h.nbytes} bytes of "
            f"voxels from byte {h.offset}, the gzip stream holds {isize} bytes"
        )


# --- layout -----------------------------------------------------------------------------------


def _kind_of(h: Header) -> str:
    return {2: "image", 3: "volume", 4: "volume"}.get(len(h.dims), "array")


def _spacing(h: Header, kind: str) -> tuple[tuple[float, ...], tuple[str, ...]] | None:
    """Spacing per signal axis: ``(dk, dj, di)`` (and ``dt`` first for a 4-D array)."""
    zooms = [float(z) for z in h.nib.get_zooms()][: len(h.dims)]
    space, time = h.nib.get_xyzt_units()
    su, tu = _SPACE_UNITS.get(space, ""), _TIME_UNITS.get(time, "")
    spatial = min(3, len(h.dims))
    values = list(reversed(zooms[:spatial]))
    units = [su] * spatial
    if kind == "array" and len(h.dims) == 4:
        values, units = [zooms[3], *values], [tu, *units]
    elif kind == "array" and len(h.dims) > 4:
        values = list(reversed(zooms))
        units = [""] * (len(h.dims) - 3) + units
    if not any(units):
        return None
    return tuple(v if v > 0 else 1.0 for v in values), tuple(units)


def _form(h: Header, kind: str, dtype: np.dtype) -> Form:
    spacing = _spacing(h, kind)
    info = {
        "reader": "nibabel",
        "nifti": 2 if h.nib["sizeof_hdr"] == 540 else 1,
        "header": h.nib.copy(),
        "dims": list(h.dims),
        "stored_dtype": h.stored.str,
        "scl_slope": h.slope,
        "scl_inter": h.inter,
        "zooms": [float(z) for z in h.nib.get_zooms()],
        "gz": h.gz,
        "kind": kind,
    }
    return Form(
        container="file",
        format="NIFTI",
        mode="L" if kind != "array" and len(h.dims) == 3 else None,
        bits=h.stored.itemsize * 8,
        dtype=dtype.name,
        info=info,
        spacing=spacing[0] if spacing else None,
        units=spacing[1] if spacing else None,
    )


def _load_dtype(h: Header) -> np.dtype:
    if not h.scaled:
        return np.dtype(h.stored.newbyteorder("="))
    wide = h.stored.itemsize > 2 or h.stored == np.float64
    return np.dtype(np.float64 if wide else np.float32)


def probe_nifti(path: PathLike, *, limits: Limits | None = None) -> dict[str, Any]:
    """Describe a NIfTI file from its header.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.nii`` or ``.nii.gz`` file.
    limits : Limits, optional
        The budgets.

    Returns
    -------
    dict
        The keys of :func:`convcli.io.probe` (``shape`` in convcli's axis order, ``planes``
        the slices ``k``, ``frames`` the time points of a 4-D series) and ``dims`` (the
        header's ``i, j, k, t``), ``stored_dtype``, ``scl_slope``, ``scl_inter``,
        ``spacing`` and ``units`` (per signal axis), ``affine`` (the best of sform and
        qform, as a list of rows), ``nifti`` (1 or 2).

    Raises
    ------
    SignalReadError
        A bogus header, a data block shorter than the header says, or no nibabel.
    LimitError
        Larger than ``limits``.
    """
    p = Path(path)
    h = _read_header(p, DEFAULT_LIMITS if limits is None else limits)
    kind = _kind_of(h)
    dtype = _load_dtype(h)
    form = _form(h, kind, dtype)
    shape = _signal_shape(h, kind)
    series = math.prod(h.dims[3:]) if kind == "volume" else None
    return {
        "path": str(p),
        "kind": kind,
        "format": "NIFTI",
        "container": "file",
        "shape": list(shape),
        "dtype": dtype.name,
        "channels": (series or 1) if kind != "array" else None,
        "mode": form.mode,
        "subtype": None,
        "bits": form.bits,
        "rate": None,
        "duration": None,
        "frames": series if series and series > 1 else None,
        "planes": shape[0] if kind == "volume" else None,
        "dims": list(h.dims),
        "stored_dtype": h.stored.name,
        "scl_slope": h.slope,
        "scl_inter": h.inter,
        "spacing": list(form.spacing) if form.spacing else None,
        "units": list(form.units) if form.units else None,
        "affine": np.asarray(h.nib.get_best_affine()).tolist(),
        "nifti": form.info["nifti"],
    }


def _signal_shape(h: Header, kind: str) -> tuple[int, ...]:
    rev = tuple(reversed(h.dims))
    if kind == "array":
        return rev
    if len(h.dims) == 4:
        return (*rev[1:], h.dims[3])
    return rev


# --- reading -----------------------------------------------------------------------------------


class NiftiRows(RowSource):
    """Slices ``[start, stop)`` along ``k`` (all time points of each), read from the file.

    A ``.nii`` is read by seeking; a ``.nii.gz`` is first decompressed, once, into an
    anonymous temporary file beside the input (never into memory), then read the same way.

    Attributes
    ----------
    shape : tuple of int
        ``(nk, nj, ni)`` or ``(nk, nj, ni, nt)`` (as :func:`load` gives the volume).
    dtype : numpy.dtype
        The stored type, or float32/float64 when the header scales the values.
    signal : Signal
        A signal with no slices that describes the file as :func:`load` would.
    """

    def __init__(self, path: PathLike, limits: Limits) -> None:
        self.path = Path(path)
        self._h = h = _read_header(self.path, limits)
        kind = _kind_of(h)
        if kind != "volume":
            raise SignalReadError(f"{self.path}: a {len(h.dims)}-D NIfTI has no slices to stream")
        self.dtype = _load_dtype(h)
        self.shape: tuple[int, ...] = _signal_shape(h, "volume")
        self.form = _form(h, "volume", self.dtype)
        channel_axis = 3 if len(self.shape) == 4 else None
        empty = np.empty((0, *self.shape[1:]), dtype=self.dtype)
        self.signal = Signal(empty, "volume", channel_axis, source=self.path, form=self.form)
        self._fh: IO[bytes] = self._raw()
        self._slice = h.dims[0] * h.dims[1]

    def _raw(self) -> IO[bytes]:
        """Return the voxels as an uncompressed, seekable file (from ``self._base``)."""
        fh = open_regular(self.path)
        if not self._h.gz:
            self._base = self._h.offset
            return fh
        try:
            scratch = tempfile.TemporaryFile(dir=self.path.parent)  # noqa: SIM115
        except OSError:
            scratch = tempfile.TemporaryFile()  # noqa: SIM115 - a read-only input folder
        try:
            with fh, gzip.GzipFile(fileobj=fh) as z:
                z.seek(self._h.offset)
                copied = _copy(z, scratch, self._h.nbytes)
                _to_the_end(z)
        except (OSError, EOFError, zlib.error) as exc:
            scratch.close()
            raise SignalReadError(f"{self.path}: damaged gzip: {one_line(exc)}") from None
        if copied < self._h.nbytes:
            scratch.close()
            raise SignalReadError(
                f"{self.path}: the data block is cut short: the header says "
                f"{self._h.nbytes} bytes of voxels, the gzip stream holds {copied}"
            )
        self._base = 0
        return scratch

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return slices ``start:stop`` as ``(stop - start, nj, ni[, nt])``.

        Raises
        ------
        SignalReadError
            The file ends early.
        """
        if not 0 <= start <= stop <= self.shape[0]:
            raise ValueError(f"slices {start}:{stop} are outside 0:{self.shape[0]}")
        h, count = self._h, stop - start
        series = math.prod(h.dims[3:])
        nk = h.dims[2]
        parts = []
        for t in range(series):
            at = self._base + (t * nk + start) * self._slice * h.stored.itemsize
            self._fh.seek(at)
            raw = np.fromfile(self._fh, dtype=h.stored, count=count * self._slice)
            if raw.size != count * self._slice:
                raise SignalReadError(
                    f"{self.path}: the file ends while reading slices {start}:{stop} of "
                    f"time point {t}"
                )
            parts.append(raw.reshape(count, h.dims[1], h.dims[0]))
        data = np.stack(parts, axis=-1) if series > 1 else parts[0]
        return _real(data, h, self.dtype)

    def close(self) -> None:
        """Close the file (a decompressed copy is removed)."""
        self._fh.close()

    def __enter__(self) -> NiftiRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _to_the_end(z: gzip.GzipFile) -> None:
    """Read a gzip stream to its end, so that its CRC-32 and length are checked.

    The voxels are usually the stream's last bytes; without this, a flipped bit among them
    would be read as it decompresses (as nibabel reads it), the trailer never looked at.
    """
    while z.read(_COPY_CHUNK):
        pass


def _copy(src: Any, dst: IO[bytes], count: int) -> int:
    done = 0
    while done < count:
        chunk = src.read(min(_COPY_CHUNK, count - done))
        if not chunk:
            break
        dst.write(chunk)
        done += len(chunk)
    dst.flush()
    return done


def _real(raw: np.ndarray, h: Header, dtype: np.dtype) -> np.ndarray:
    """Return the real values: stored, scaled where the header says so, native order."""
    if not h.scaled:
        return raw.astype(dtype, copy=False)
    out = raw.astype(dtype)
    out *= dtype.type(h.slope)
    out += dtype.type(h.inter)
    return out


def open_nifti(path: PathLike, *, limits: Limits | None = None) -> NiftiRows:
    """Open a 3-D or 4-D NIfTI for reading slices along ``k``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    limits : Limits, optional
        The budgets, checked from the header.

    Returns
    -------
    NiftiRows
        ``shape``, ``dtype``, ``read(start, stop)``, ``close()``, and ``signal``.
    """
    return NiftiRows(path, DEFAULT_LIMITS if limits is None else limits)


def read_nifti(
    path: PathLike, kind: str = "auto", *, gray: bool = False, limits: Limits | None = None
) -> Signal:
    """Load a NIfTI file (see the module docstring for the axes and the scaling).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    kind : str, optional
        ``"auto"`` (2-D: image, 3-D and 4-D: volume, more: array), ``"volume"``,
        ``"image"`` (a 2-D file, or the first slice), or ``"array"`` (file order, every
        axis spatial).
    gray : bool, optional
        Ignored: NIfTI voxels are scalars.
    limits : Limits, optional
        The budgets.

    Returns
    -------
    Signal

    Raises
    ------
    SignalReadError
        A bogus header, a short data block, a kind the dimensions do not allow, no nibabel.
    LimitError
        Larger than ``limits``.
    """
    p = Path(path)
    limits = DEFAULT_LIMITS if limits is None else limits
    h = _read_header(p, limits)
    natural = _kind_of(h)
    want = natural if kind == "auto" else kind
    if want not in ("image", "volume", "array") or (want != "array" and natural == "array"):
        raise SignalReadError(f"{p}: a {len(h.dims)}-D NIfTI cannot be read as {kind}")
    if natural == "image":
        plane = _read_all(p, h).reshape(h.dims[1], h.dims[0])
        image = plane[None] if want == "volume" else plane
        return Signal(image, want, None, source=p, form=_form(h, want, image.dtype))
    if want == "array":
        array = _read_all(p, h).reshape(tuple(reversed(h.dims)))
        return Signal(array, "array", None, source=p, form=_form(h, "array", array.dtype))
    with NiftiRows(p, limits) as rows:
        data = rows.read(0, rows.shape[0])
        sig = rows.signal
    if want == "image":
        data = data[0]
        return Signal(data, "image", 2 if data.ndim == 3 else None, source=p, form=sig.form)
    return Signal(data, "volume", sig.channel_axis, source=p, form=sig.form)


def _read_all(path: Path, h: Header) -> np.ndarray:
    """Every voxel in file order (for images and arrays; volumes go by :class:`NiftiRows`)."""
    with open_regular(path) as fh:
        stream: Any = gzip.GzipFile(fileobj=fh) if h.gz else fh
        try:
            stream.seek(h.offset)
            raw = stream.read(h.nbytes)
            if h.gz:
                _to_the_end(stream)
        except (OSError, EOFError, zlib.error) as exc:
            raise SignalReadError(f"{path}: damaged gzip: {one_line(exc)}") from None
    if len(raw) < h.nbytes:
        raise SignalReadError(
            f"{path}: the data block is cut short: the header says {h.nbytes} bytes of "
            f"voxels, the file holds {len(raw)}"
        )
    return _real(np.frombuffer(raw, dtype=h.stored), h, _load_dtype(h))


# --- writing -----------------------------------------------------------------------------------


class NiftiWriter:
    """Slices appended in order, staged beside the output, written as NIfTI on ``close()``.

    Created by :func:`nifti_writer` (atomically to a path) or :func:`open_writer` (into the
    caller's temporary file); ``write(block)`` takes ``(slices, nj, ni[, nt])`` (a 2-D
    image: ``(1, nj, ni)``; an array: blocks along its first axis), staged raw in a hidden
    folder beside the output (:class:`convcli.io.atomic.StageFolder`, ``.NAME.XXXXXXXX/``).

    Parameters
    ----------
    path : str or os.PathLike
        The output (``.nii`` or ``.nii.gz``).
    form : Form
        The input's form (header, stored type, scaling, spacing); the writer puts
        ``quality`` in its ``info``.
    kind : str
        ``"image"``, ``"volume"`` or ``"array"``: how the blocks map to ``i, j, k, t``.
    fh : binary file, optional
        Write into this open file (the caller commits it); else atomically to ``path``
        (``overwrite`` and ``protect`` as :func:`convcli.io.atomic.atomic_file`).

    Attributes
    ----------
    clipped : int
        Values that fell outside the stored type when stored through the input's scaling.
    """

    def __init__(
        self,
        path: PathLike,
        form: Form,
        kind: str,
        *,
        fh: IO[bytes] | None = None,
        overwrite: bool = False,
        protect: Iterable[PathLike] = (),
    ) -> None:
        self.path = Path(path)
        self._nibabel = _nibabel(self.path, writing=True)
        name = self.path.name.lower()
        if not (name.endswith(".nii") or name.endswith(".nii.gz")):
            raise UnsupportedError(f"{self.path}: a NIfTI output ends in .nii or .nii.gz")
        self._kind, self._form, self._fh = kind, form, fh
        self._overwrite, self._protect = overwrite, tuple(protect)
        if fh is None:
            check_output(self.path, overwrite=overwrite, protect=self._protect)
        self._folder = StageFolder(self.path)
        try:
            self._stage: IO[bytes] = open(self._folder.path / "slices.raw", "w+b")  # noqa: SIM115
        except OSError as exc:
            self._folder.close()
            raise SignalWriteError(f"{self.path}: cannot write NIfTI: {one_line(exc)}") from exc
        self._shape: tuple[int, ...] | None = None
        self._dtype: np.dtype | None = None
        self.slices = 0
        self.clipped = 0

    def write(self, block: np.ndarray) -> None:
        """Stage slices after the last ones.

        Raises
        ------
        UnsupportedError
            A slice shape or dtype that differs from the first block's, or not numbers.
        SignalWriteError
            The staging file cannot be written (a full disk).
        """
        block = np.asarray(block)
        try:
            if block.dtype.kind not in "buif":
                raise UnsupportedError(f"{self.path}: NIfTI holds numbers, not {block.dtype}")
            if self._shape is None:
                self._shape, self._dtype = tuple(block.shape[1:]), block.dtype
            elif tuple(block.shape[1:]) != self._shape or block.dtype != self._dtype:
                raise UnsupportedError(
                    f"{self.path}: slices of {block.shape[1:]} {block.dtype} after "
                    f"{self._shape} {self._dtype}"
                )
            self._stage.write(np.ascontiguousarray(block).tobytes())
            self.slices += len(block)
        except OSError as exc:
            self.abort()
            raise SignalWriteError(f"{self.path}: cannot write NIfTI: {one_line(exc)}") from exc
        except BaseException:
            self.abort()
            raise

    def close(self) -> None:
        """Write the header and the staged slices in file order; move the file into place.

        Raises
        ------
        SignalWriteError
            No slice was written, or the file cannot be written.
        """
        try:
            if self._shape is None or self._dtype is None:
                raise SignalWriteError(f"{self.path}: no slice to write")
            self._stage.flush()
            self._write(self._shape, self._dtype)
        except (ConvcliError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - one line
            raise SignalWriteError(f"{self.path}: cannot write NIfTI: {one_line(exc)}") from exc
        finally:
            self.abort()

    def abort(self) -> None:
        """Give up, or clean up after ``close``: remove what was staged."""
        with contextlib.suppress(Exception):
            self._stage.close()
        self._folder.close()

    def __enter__(self) -> NiftiWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()

    # -- the file
    def _dims(self, slice_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Return the output's ``(ni, nj, nk[, nt])`` (or the reversed array shape)."""
        kind = self._kind
        if kind == "array":
            return tuple(reversed((self.slices, *slice_shape)))
        if kind == "image":
            return (slice_shape[1], slice_shape[0])
        ni, nj = slice_shape[1], slice_shape[0]
        if len(slice_shape) == 3:
            return (ni, nj, self.slices, slice_shape[2])
        return (ni, nj, self.slices)

    def _write(self, slice_shape: tuple[int, ...], dtype: np.dtype) -> None:
        dims = self._dims(slice_shape)
        with _quiet():
            hdr, store, scale = self._header(dims, dtype)
        gz = self.path.name.lower().endswith(".gz")
        with contextlib.ExitStack() as stack:
            fh = self._fh
            if fh is None:
                fh = stack.enter_context(
                    atomic_file(self.path, overwrite=self._overwrite, protect=self._protect)
                )
            out: Any = gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=1, mtime=0) if gz else fh
            with out if gz else contextlib.nullcontext(out):
                with _quiet():
                    hdr.write_to(out)
                pad = int(hdr.get_data_offset()) - out.tell()
                out.write(b"\0" * max(pad, 0))
                for chunk in self._chunks(slice_shape, dtype):
                    out.write(self._stored(chunk, store, scale).tobytes())
        self._form.info["quality"] = f"NIfTI {store.name}" + (
            f" (scl_slope {scale[0]:g}, scl_inter {scale[1]:g})" if scale != (1.0, 0.0) else ""
        )

    def _header(
        self, dims: tuple[int, ...], dtype: np.dtype
    ) -> tuple[Any, np.dtype, tuple[float, float]]:
        """Return the output header: the input's, with new dims, type, zooms and affine."""
        info = self._form.info
        nib = self._nibabel
        hdr = info["header"].copy() if "header" in info else nib.Nifti1Header()
        stored = np.dtype(info.get("stored_dtype", dtype.str))
        scale = (float(info.get("scl_slope", 1.0)), float(info.get("scl_inter", 0.0)))
        if dtype.name != self._form.dtype:  # another type asked for: stored as it is
            stored, scale = dtype, (1.0, 0.0)
        hdr.set_data_dtype(stored)
        hdr.set_data_shape(dims)
        given = (float(info.get("scl_slope", 1.0)), float(info.get("scl_inter", 0.0)))
        if scale != given:  # a dtype asked for: no scaling
            hdr["scl_slope"], hdr["scl_inter"] = np.nan, 0.0
        self._rescale_space(hdr, dims)
        needed = int(hdr["sizeof_hdr"]) + 4 + int(hdr.extensions.get_sizeondisk())
        kept = int(info["header"].get_data_offset()) if "header" in info else 0
        hdr.set_data_offset(max(kept, -(-needed // 16) * 16))
        return hdr, stored, scale

    def _rescale_space(self, hdr: Any, dims: tuple[int, ...]) -> None:
        """Where ``Form.spacing`` differs from pixdim (a stride): zooms and affine with it."""
        form = self._form
        zooms = list(form.info.get("zooms") or hdr.get_zooms())
        zooms = (zooms + [1.0] * len(dims))[: len(dims)]
        if form.spacing is None:
            hdr.set_zooms(zooms)
            return
        kind = self._kind
        spatial = min(3, len(dims))
        given = list(reversed(form.spacing[-spatial:]))  # (di, dj, dk)
        ratio = [g / z if z else 1.0 for g, z in zip(given, zooms[:spatial])]
        if kind == "array" and len(dims) == 4 and len(form.spacing) == 4:
            zooms[3] = form.spacing[0]
        zooms[:spatial] = given
        hdr.set_zooms(zooms)
        if all(abs(r - 1.0) < 1e-9 for r in ratio):
            return
        scale = np.diag([*ratio, *([1.0] * (3 - spatial)), 1.0])
        for getter, setter in (("get_sform", "set_sform"), ("get_qform", "set_qform")):
            affine, code = getattr(hdr, getter)(coded=True)
            if affine is not None and int(code) > 0:
                getattr(hdr, setter)(affine @ scale, int(code))

    def _chunks(self, slice_shape: tuple[int, ...], dtype: np.dtype) -> Iterable[np.ndarray]:
        """Yield the staged voxels in file order: time point by time point, slice by slice."""
        per_slice = math.prod(slice_shape)
        series = slice_shape[2] if len(slice_shape) == 3 and self._kind == "volume" else 1
        with open(self._stage.name, "rb") as fh:
            for t in range(series):
                for k in range(self.slices):
                    fh.seek(k * per_slice * dtype.itemsize)
                    plane = np.fromfile(fh, dtype=dtype, count=per_slice).reshape(slice_shape)
                    yield plane[..., t] if series > 1 else plane

    def _stored(
        self, values: np.ndarray, store: np.dtype, scale: tuple[float, float]
    ) -> np.ndarray:
        """Store real values through the slope and intercept: rounded, clipped, counted."""
        if values.dtype == store and scale == (1.0, 0.0):
            return values
        raw = values.astype(np.float64)
        if scale != (1.0, 0.0):
            raw = (raw - scale[1]) / scale[0]
        if store.kind in "iub":
            info = np.iinfo(store) if store.kind != "b" else np.iinfo(np.uint8)
            raw = np.rint(raw)
            low, high = raw < info.min, raw > info.max
            self.clipped += int(low.sum() + high.sum())
            raw = np.clip(raw, info.min, info.max)
        return raw.astype(store)


def nifti_writer(
    path: PathLike,
    signal: Signal,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
) -> NiftiWriter:
    """Open a NIfTI file for writing slices in order along axis 0.

    Parameters
    ----------
    path : str or os.PathLike
        The output (``.nii`` or ``.nii.gz``).
    signal : Signal
        Describes the output: ``kind``, ``form`` (the input's header, stored type, scaling
        and spacing, as :func:`load` gave them; a form from elsewhere gives a fresh header)
        and the dtype the data will have (``form.dtype`` is what was loaded).
    overwrite : bool, optional
        Replace an existing output.
    protect : iterable of str or os.PathLike, optional
        Paths never written (the inputs).

    Returns
    -------
    NiftiWriter
        ``write(block)``, ``close()``, ``abort()``, ``clipped``.
    """
    return NiftiWriter(path, signal.form, signal.kind, overwrite=overwrite, protect=protect)


def write_nifti(
    signal: Signal,
    path: PathLike,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Write an image, volume or array as NIfTI, with the input's header and scaling.

    See :func:`nifti_writer`.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    data = _slices(signal)
    with nifti_writer(path, signal, overwrite=overwrite, protect=protect) as writer:
        writer.write(data)
    return Path(path)


def _slices(signal: Signal) -> np.ndarray:
    """Return the data as the writer takes it: channels last, an image as one slice."""
    data = np.asarray(signal.data)
    if signal.channel_axis is not None and signal.channel_axis != data.ndim - 1:
        data = np.moveaxis(data, signal.channel_axis, -1)
    return data[None] if signal.kind == "image" else data


# --- the io table's functions ----------------------------------------------------------------


def probe(path: Path, fmt: str, limits: Limits) -> dict[str, Any]:
    """Describe a NIfTI file from its header (:func:`probe_nifti`)."""
    return probe_nifti(path, limits=limits)


def load(path: Path, fmt: str, kind: str, gray: bool, limits: Limits) -> Signal:
    """Load a NIfTI file as ``kind`` (:func:`read_nifti`)."""
    return read_nifti(path, kind, gray=gray, limits=limits)


def open_rows(path: Path, fmt: str, kind: str, limits: Limits) -> tuple[NiftiRows, Signal] | None:
    """Open a 3-D or 4-D NIfTI to read its slices ``k`` block by block (``auto``, ``volume``).

    Other dimensions return None (:func:`load` reads them whole).
    """
    if kind not in ("auto", "volume"):
        return None
    if _kind_of(_read_header(path, limits)) != "volume":
        return None
    rows = open_nifti(path, limits=limits)
    return rows, rows.signal


def target(signal: Signal, path: Path, fmt: registry.WriteFormat) -> registry.Target:
    """Write an image, a volume (its slices along ``k``) or an array (file order reversed).

    Raises
    ------
    UnsupportedError
        Audio.
    """
    if signal.kind == "audio":
        raise UnsupportedError(f"{path}: audio cannot be written as NIfTI; use .wav or .npy")
    return registry.Target(path, "nifti", fmt.name, frames=signal.kind == "volume")


def save(
    signal: Signal,
    data: np.ndarray,
    target: registry.Target,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
) -> None:
    """Write an image, volume or array as NIfTI with the input's header, atomically."""
    slices = _slices(signal)
    with atomic_file(target.path, overwrite=overwrite, protect=protect) as fh:
        with NiftiWriter(target.path, signal.form, signal.kind, fh=fh) as writer:
            writer.write(slices)


def open_writer(
    fh: IO[bytes],
    target: registry.Target,
    shape: tuple[int, ...],
    dtype: np.dtype,
    form: Form,
    rate: float | None,
) -> NiftiWriter:
    """Start a NIfTI file of ``shape`` whose slices (or array rows) come block by block."""
    return NiftiWriter(target.path, form, "volume" if target.frames else "array", fh=fh)
