r"""Scientific TIFF through tifffile: microscopy and CT stacks, ImageJ hyperstacks, OME-TIFF.

The ``scitiff`` family of :mod:`convcli.io.registry` (extra ``volumes``: ``pip install
'convcli[volumes]'``), for the TIFFs that Pillow cannot read whole.  Its row calls
:func:`claims` and :func:`claims_output` (which family reads or writes a given TIFF),
:func:`probe`, :func:`load`, :func:`save`, :func:`target`, :func:`open_rows` (planes read
page by page) and :func:`open_writer` (planes staged as they come); the same, by path, for
a script: :func:`probe_tiff`, :func:`read_tiff`, :func:`write_tiff`, :func:`open_tiff`,
:func:`tiff_writer`.  tifffile (and imagecodecs, for LZW, PackBits, JPEG, zstd...) are
imported inside the functions; without them such a file gets one line naming the extra.

==============  ==========================================================================
content         ``II*\0``, ``MM\0*`` (TIFF), ``II+\0``, ``MM\0+`` (BigTIFF): the same as
                Pillow's TIFF, which the image family identifies; :func:`claims` decides
                which family reads a given file
extensions      ``.tif .tiff`` (and ``.ome.tif``, ``.ome.tiff``, ``.btf``, ``.tf8``)
kinds           ``image`` (rows × cols [× channels]), ``volume`` (planes × rows × cols [×
                channels]), ``array`` (the series as stored, every axis spatial)
rows / blocks   :func:`open_rows` and :func:`open_writer` along axis 0 (planes)
==============  ==========================================================================

Pillow and tifffile share ``.tif``
----------------------------------
**Pillow keeps every classic TIFF it reads today, and so writes it back byte for byte as
before**, but for ImageJ and OME files.  tifffile (when installed) :func:`claims` the
others: a layout Pillow does not read (float64, 16-bit colour, which Pillow would read as
8-bit, more than 4 samples, 2 to 7, 12, 24 bits, compressions Pillow lacks: zstd, JPEG
XL, LERC, JPEG 2000...), every OME-TIFF and ImageJ file, whose axes and metadata
(spacing, units, channels, frames) Pillow drops, and every BigTIFF (big stacks stream
page by page).  An
output ``.tif`` is written by the family that read the input (``info["reader"] ==
"tifffile"``), and by this one for a result Pillow cannot hold (float64, 16-bit colour).

Axes
----
tifffile names the axes of the first series (``series.axes``): ``Y`` and ``X`` are rows and
columns; ``S`` (samples) and ``C`` (channels) make the channel axis; of the other axes, the
**plane** axis is ``Z`` if there is one, else ``T``, else the first; every other axis is
*folded* into the channel axis, slowest first.  So ``ZYX`` is a volume of planes, ``TYX``
a movie (planes are time points), ``ZCYX`` a multi-channel volume, ``YXS`` an RGB image and
**a 5-D ``TZCYX`` hyperstack is a volume of the Z planes with ``T × C`` channels**
(channel ``t * C + c``): every kernel the CLI applies to a volume applies to each time point
and channel alone, as a 3-D volume, which is what filtering a time-lapse of stacks means;
read it ``--as array`` to filter across time too.  Folded axes are recorded
(``info["folded"]``) and unfolded on writing.  A colour mode (``RGB``, ``RGBA``, ``L``)
is set only where the channels are photometric samples; other channel axes have mode None,
so no alpha or luma rule applies to them.

Spacing: OME ``PhysicalSizeX/Y/Z`` (and ``TimeIncrement``), ImageJ ``spacing``, ``unit``
and ``finterval`` with the X/Y resolution, or a plain TIFF's resolution tags in inches or
centimetres, on ``Form.spacing`` and ``Form.units`` (one entry per spatial axis; ``""``
where the file says nothing).

Writing
-------
The same data type (what the signal holds), compression and predictor, strips or tiles,
photometric interpretation, planar configuration, resolution, axes (folded axes unfolded),
ImageJ metadata (hyperstack sizes regenerated, spacing, unit, frame interval, display
ranges) or OME-XML (regenerated for the new shape: sizes, dimension order, physical sizes,
channel names; other OME annotations are not carried), as BigTIFF when the input was or
when the pixels pass 4 GiB.  The blocks are staged in a raw file beside the output and the
TIFF written from it page by page when the writer closes (tifffile needs the whole shape
for the ImageJ and OME descriptions, and a ``TZCYX`` file's page order is not the planes'):
memory holds one page; the disk briefly holds the pixels twice.

Damage: a strip or tile that points past the end of the file is refused before it is read;
what tifffile logs while it reads the pixels (a corrupted strip, a failed decode) makes the
read fail with one line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import (
    ConvcliError,
    MissingExtraError,
    Param,
    SignalReadError,
    SignalWriteError,
    UnsupportedError,
)
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
    "claims",
    "claims_output",
    "probe",
    "load",
    "save",
    "target",
    "open_rows",
    "open_writer",
    "probe_tiff",
    "read_tiff",
    "write_tiff",
    "open_tiff",
    "tiff_writer",
    "TiffRows",
    "TiffBlockWriter",
    "Axes",
]

PathLike = str | os.PathLike[str]

#: The pip extra this family needs.
EXTRA = "volumes"

#: Extensions read and written.
EXTENSIONS = (".tif", ".tiff", ".btf", ".tf8")

_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PLANE_ORDER = "ZT"
_CHANNEL_AXES = "CS"
_GIB4 = 1 << 32
_HARMLESS = ("coercing invalid ASCII", "ASCII value", "not sorted", "Unknown field")

#: Length units as files write them -> (convcli's unit, factor to it).
_LENGTH_UNITS: dict[str, tuple[str, float]] = {
    "m": ("m", 1.0),
    "cm": ("cm", 1.0),
    "centimeter": ("cm", 1.0),
    "mm": ("mm", 1.0),
    "millimeter": ("mm", 1.0),
    "um": ("um", 1.0),
    "µm": ("um", 1.0),
    "μm": ("um", 1.0),
    "\\u00b5m": ("um", 1.0),
    "micron": ("um", 1.0),
    "microns": ("um", 1.0),
    "micrometer": ("um", 1.0),
    "nm": ("nm", 1.0),
    "nanometer": ("nm", 1.0),
    "inch": ("mm", 25.4),
    "in": ("mm", 25.4),
    "s": ("s", 1.0),
    "sec": ("s", 1.0),
    "ms": ("ms", 1.0),
    "us": ("us", 1.0),
    "µs": ("us", 1.0),
    "min": ("s", 60.0),
}


def identify(head: bytes) -> str | None:
    r"""Return ``"TIFF"`` for TIFF and BigTIFF magic, else None.

    Examples
    --------
    >>> identify(b"II*\x00\x08\x00\x00\x00"), identify(b"MM\x00+"), identify(b"\x89PNG")
    ('TIFF', 'TIFF', None)
    """
    return "TIFF" if head[:4] in _MAGIC else None


def _tifffile(path: PathLike, writing: bool = False) -> Any:
    """Import tifffile, or say which extra to install."""
    try:
        import tifffile
    except ImportError:
        text = f"{path}: this TIFF needs tifffile: pip install 'convcli[{EXTRA}]'"
        if writing:
            raise UnsupportedError(text) from None
        raise SignalReadError(text) from None
    return tifffile


# --- tifffile's log, watched ------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            text = " ".join(record.getMessage().split())
            if not any(h in text for h in _HARMLESS):
                self.lines.append(text)


@contextlib.contextmanager
def _watched(path: PathLike, what: str) -> Iterator[_Collect]:
    """Make what tifffile raises or logs while reading one line (``what`` says the step)."""
    logger = logging.getLogger("tifffile")
    handler = _Collect()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        try:
            yield handler
        except (SignalReadError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - said in one line
            detail = f" ({'; '.join(handler.lines[:2])})" if handler.lines else ""
            raise SignalReadError(f"{path}: {what}: {one_line(exc)}{detail}") from None
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    if handler.lines:
        more = len(handler.lines) - 2
        extra = f" (and {more} more)" if more > 0 else ""
        raise SignalReadError(f"{path}: damaged TIFF: {'; '.join(handler.lines[:2])}{extra}")


@contextlib.contextmanager
def _unheard() -> Iterator[None]:
    """Keep what tifffile logs while it only looks (:func:`claims`) off stderr.

    Reading the file says what is wrong, in one line (:func:`_watched`).
    """
    logger = logging.getLogger("tifffile")
    handler = _Collect()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


# --- axes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axes:
    """How a tifffile series maps to a convcli signal.

    Attributes
    ----------
    axes : str
        The series' axes as stored (``"TZCYX"``, ``"QYXS"``...).
    shape : tuple of int
        Its shape.
    page_axes : str
        The axes of one page (``"YX"``, ``"YXS"``, ``"SYX"``).
    plane : str or None
        The axis that becomes planes, or None (an image).
    folded : str
        The axes that make the channel axis, slowest first (``"TC"``, ``"S"``, ``""``).
    """

    axes: str
    shape: tuple[int, ...]
    page_axes: str
    plane: str | None
    folded: str

    @property
    def lead(self) -> str:
        """The axes that index pages."""
        return self.axes[: len(self.axes) - len(self.page_axes)]

    def size(self, axis: str) -> int:
        """Return the length of ``axis``."""
        return self.shape[self.axes.index(axis)]

    @property
    def planes(self) -> int:
        """Planes (1 for an image)."""
        return self.size(self.plane) if self.plane else 1

    @property
    def channels(self) -> int:
        """Length of the channel axis (1 when there is none)."""
        return math.prod(self.size(a) for a in self.folded)

    @property
    def order(self) -> str:
        """The axes in the signal's order: plane, Y, X, folded."""
        return (self.plane or "") + "YX" + self.folded


def map_axes(axes: str, shape: tuple[int, ...], page_axes: str) -> Axes:
    """Decide the plane axis and the folded channel axes of a series.

    Examples
    --------
    >>> a = map_axes("TZCYX", (2, 3, 2, 20, 30), "YX")
    >>> a.plane, a.folded, a.order, a.channels
    ('Z', 'TC', 'ZYXTC', 4)
    >>> map_axes("YXS", (20, 30, 3), "YXS").order
    'YXS'
    """
    if "Y" not in axes or "X" not in axes or not axes.endswith(page_axes):
        raise ValueError(f"series axes {axes} have no rows and columns this reader knows")
    lead = axes[: len(axes) - len(page_axes)]
    others = [a for a in lead if a not in _CHANNEL_AXES]
    plane = next((a for a in _PLANE_ORDER if a in others), others[0] if others else None)
    folded = "".join(a for a in axes if a not in "YX" and a != plane)
    return Axes(axes, tuple(shape), page_axes, plane, folded)


def _to_signal_order(data: np.ndarray, ax: Axes) -> np.ndarray:
    """Transpose a series array (stored axes) to the signal's ``plane, Y, X, channels``."""
    moved = np.transpose(data, [ax.axes.index(a) for a in ax.order])
    head = moved.shape[: len(ax.order) - len(ax.folded)]
    return moved.reshape(*head, ax.channels) if ax.folded else moved


# --- spacing ------------------------------------------------------------------------------------


def _unit(name: Any) -> tuple[str, float] | None:
    if not isinstance(name, str):
        return None
    return _LENGTH_UNITS.get(name.strip().lower().replace("\\u00b5", "µ"))


def _ome_pixels(tif: Any) -> dict[str, Any]:
    tifffile = _tifffile(tif.filename)
    try:
        image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
    except Exception:  # noqa: BLE001 - metadata only: no spacing
        return {}
    image = image[0] if isinstance(image, list) else image
    pixels = image.get("Pixels", {})
    return pixels if isinstance(pixels, dict) else {}


def _xy_resolution(page: Any, unit_name: Any) -> tuple[float, str] | None:
    """Pixel spacing along X from the resolution tags (pixels per unit), or None."""
    res = page.resolution
    if not res or not res[0] or res == (1.0, 1.0) and unit_name is None:
        return None
    units = {2: ("mm", 25.4), 3: ("cm", 1.0), 4: ("mm", 1.0), 5: ("um", 1.0)}
    unit = _unit(unit_name) if unit_name else units.get(int(page.resolutionunit))
    if unit is None:
        return None
    return unit[1] / float(res[0]), unit[0]


def _spacing(tif: Any, ax: Axes) -> tuple[tuple[float, ...], tuple[str, ...]] | None:
    """Read each spatial axis's spacing from OME, ImageJ or the resolution tags."""
    page = tif.pages.first
    found: dict[str, tuple[float, str]] = {}
    if tif.is_ome:
        px = _ome_pixels(tif)
        for axis, key, default in (("X", "X", "µm"), ("Y", "Y", "µm"), ("Z", "Z", "µm")):
            value, unit = (
                px.get(f"PhysicalSize{key}"),
                _unit(px.get(f"PhysicalSize{key}Unit", default)),
            )
            if value and unit:
                found[axis] = (float(value) * unit[1], unit[0])
        step, unit = px.get("TimeIncrement"), _unit(px.get("TimeIncrementUnit", "s"))
        if step and unit:
            found["T"] = (float(step) * unit[1], unit[0])
    elif tif.is_imagej:
        meta = tif.imagej_metadata or {}
        unit = _unit(meta.get("unit"))
        xy = _xy_resolution(page, meta.get("unit")) if unit else None
        if xy:
            found["X"] = xy
            res_y = page.resolution[1]
            found["Y"] = (unit[1] / float(res_y), unit[0]) if unit and res_y else xy
        if unit and meta.get("spacing"):
            found["Z"] = (float(meta["spacing"]) * unit[1], unit[0])
        if meta.get("finterval"):
            found["T"] = (float(meta["finterval"]), "s")
    else:
        xy = _xy_resolution(page, None)
        if xy:
            found["X"] = xy
            found["Y"] = (xy[0] * float(page.resolution[0]) / float(page.resolution[1]), xy[1])
    spatial = ((ax.plane,) if ax.plane else ()) + ("Y", "X")
    if not any(a in found for a in spatial):
        return None
    pairs = [found.get(str(a), (1.0, "")) for a in spatial]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


# --- opening ------------------------------------------------------------------------------------


@dataclass
class _Opened:
    tif: Any
    fh: IO[bytes]
    series: Any
    ax: Axes
    size: int

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.tif.close()
        self.fh.close()


def _open(path: PathLike, limits: Limits) -> _Opened:
    """Open a TIFF's first series: axes mapped, budgets checked, strips within the file."""
    p = Path(path)
    tifffile = _tifffile(p)
    fh = open_regular(p)
    try:
        size = os.fstat(fh.fileno()).st_size
        with _watched(p, "cannot read TIFF"):
            tif = tifffile.TiffFile(fh, name=p.name, _multifile=False)
            if not tif.series:
                raise SignalReadError(f"{p}: the TIFF holds no image")
            series = tif.series[0]
            page = series.keyframe
            ax = map_axes(series.axes, tuple(series.shape), page.axes)
        opened = _Opened(tif, fh, series, ax, size)
    except BaseException:
        fh.close()
        raise
    try:
        _check(p, opened, limits)
    except BaseException:
        opened.close()
        raise
    return opened


def _check(path: Path, o: _Opened, limits: Limits) -> None:
    """Check the budgets from the header, the data type, and the first page's strips."""
    ax, dtype = o.ax, np.dtype(o.series.dtype)
    if dtype.kind not in "buif":
        raise SignalReadError(f"{path}: TIFF samples of {dtype} are not read (complex?)")
    rows, cols = ax.size("Y"), ax.size("X")
    limits.check_pixels(path, rows, cols)
    channel_part = math.prod(ax.size(a) for a in ax.folded if a in _CHANNEL_AXES)
    series_part = ax.channels // max(1, channel_part)
    limits.check_channels(path, channel_part)
    limits.check_planes(path, ax.planes, rows, cols)
    limits.check_series(path, series_part, ax.planes * rows * cols, "volumes in the series")
    limits.check_elements(path, ax.shape, dtype.itemsize)
    _check_strips(path, o.series.keyframe, o.size, 0)


def _check_strips(path: Path, page: Any, size: int, index: int) -> None:
    for n, (at, count) in enumerate(zip(page.dataoffsets, page.databytecounts)):
        if count and at + count > size:
            what = "tile" if page.is_tiled else "strip"
            raise SignalReadError(
                f"{path}: damaged TIFF: page {index} {what} {n} at byte {at} ({count} bytes) "
                f"lies past the end of the file ({size} bytes)"
            )


def _mode(o: _Opened, channels: int) -> str | None:
    """Return a colour mode where the channels are photometric samples, else None."""
    page = o.series.keyframe
    photometric = int(page.photometric)
    if "C" in o.ax.folded or any(a not in "S" for a in o.ax.folded):
        return None
    if photometric == 2 and channels in (3, 4):  # RGB
        return "RGB" if channels == 3 else "RGBA"
    if photometric in (0, 1) and channels in (1, 2):
        return "L" if channels == 1 else "LA"
    return None


def _form(o: _Opened) -> Form:
    tif, page, ax = o.tif, o.series.keyframe, o.ax
    dtype = np.dtype(o.series.dtype)
    spacing = _spacing(tif, ax)
    info: dict[str, Any] = {
        "reader": "tifffile",
        "axes": ax.axes,
        "shape": list(ax.shape),
        "plane_axis": ax.plane,
        "folded": {a: ax.size(a) for a in ax.folded},
        "page_axes": ax.page_axes,
        "compression": int(page.compression),
        "predictor": int(page.predictor),
        "photometric": int(page.photometric),
        "planarconfig": int(page.planarconfig),
        "extrasamples": tuple(int(e) for e in page.extrasamples),
        "tile": (int(page.tilelength), int(page.tilewidth)) if page.is_tiled else None,
        "rowsperstrip": int(page.rowsperstrip) if not page.is_tiled else None,
        "resolution": tuple(float(r) for r in page.resolution),
        "resolutionunit": int(page.resolutionunit),
        "bigtiff": bool(tif.is_bigtiff),
        "imagej": dict(tif.imagej_metadata or {}) if tif.is_imagej else None,
        "ome": _ome_carry(tif) if tif.is_ome else None,
    }
    if dtype == np.bool_:
        dtype = np.dtype(np.uint8)
    return Form(
        container="multipage" if ax.plane else "file",
        format="TIFF",
        mode=_mode(o, ax.channels),
        bits=int(page.bitspersample),
        dtype=dtype.name,
        info=info,
        spacing=spacing[0] if spacing else None,
        units=spacing[1] if spacing else None,
    )


def _ome_carry(tif: Any) -> dict[str, Any]:
    """Return the OME-XML items carried to an output: the channel names."""
    px = _ome_pixels(tif)
    channels = px.get("Channel", [])
    channels = channels if isinstance(channels, list) else [channels]
    names = [c.get("Name") for c in channels if isinstance(c, dict)]
    carry: dict[str, Any] = {}
    if names and all(isinstance(n, str) for n in names):
        carry["Channel"] = {"Name": names}
    return carry


def _describe(path: Path, o: _Opened) -> dict[str, Any]:
    ax, form = o.ax, _form(o)
    kind = "volume" if ax.plane else "image"
    head = (ax.planes,) if ax.plane else ()
    shape = [*head, ax.size("Y"), ax.size("X")] + ([ax.channels] if ax.folded else [])
    return {
        "path": str(path),
        "kind": kind,
        "format": "TIFF",
        "container": form.container,
        "shape": shape,
        "dtype": form.dtype,
        "channels": ax.channels,
        "mode": form.mode,
        "subtype": None,
        "bits": form.bits,
        "rate": None,
        "duration": None,
        "frames": None,
        "planes": ax.planes if ax.plane else None,
        "axes": ax.axes,
        "series_shape": list(ax.shape),
        "plane_axis": ax.plane,
        "folded": form.info["folded"],
        "compression": form.info["compression"],
        "bigtiff": form.info["bigtiff"],
        "imagej": form.info["imagej"] is not None,
        "ome": form.info["ome"] is not None,
        "spacing": list(form.spacing) if form.spacing else None,
        "units": list(form.units) if form.units else None,
        "series": len(o.tif.series),
    }


def probe_tiff(path: PathLike, *, limits: Limits | None = None) -> dict[str, Any]:
    """Describe a TIFF from its header: the first series' axes, shape, type and spacing.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    limits : Limits, optional
        The budgets (pixels per plane, planes, voxels, channels).

    Returns
    -------
    dict
        The keys of :func:`convcli.io.probe` and ``axes``, ``series_shape``, ``plane_axis``,
        ``folded``, ``compression`` (TIFF's number), ``bigtiff``, ``imagej``, ``ome``,
        ``spacing`` and ``units`` (per spatial axis), ``series`` (how many the file holds;
        the first is read).

    Raises
    ------
    SignalReadError
        Not a TIFF, a damaged header, a strip past the end, or no tifffile.
    LimitError
        Larger than ``limits``.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    o = _open(path, limits)
    try:
        return _describe(Path(path), o)
    finally:
        o.close()


# --- reading ------------------------------------------------------------------------------------


class TiffRows(RowSource):
    """Planes ``[start, stop)`` of a TIFF series, read page by page.

    Each plane is assembled from its pages (one for ``ZYX`` or ``ZYXS``; ``T × C`` of them,
    wherever they lie in the file, for ``TZCYX``), so memory holds the planes asked for and
    nothing else.

    Attributes
    ----------
    shape : tuple of int
        ``(planes, rows, cols[, channels])``.
    dtype : numpy.dtype
        The samples' type (1-bit TIFFs read as ``uint8`` 0/255).
    signal : Signal
        A signal with no planes that describes the file as :func:`load` would.
    """

    def __init__(self, path: PathLike, limits: Limits) -> None:
        self.path = Path(path)
        self._o = _open(self.path, limits)
        ax = self._o.ax
        if ax.plane is None:
            self._o.close()
            raise SignalReadError(f"{self.path}: a single image ({ax.axes}) has no planes to read")
        lead = ax.lead
        self._lead_shape = tuple(ax.size(a) for a in lead)
        self._pages = math.prod(self._lead_shape)
        self.form = _form(self._o)
        self.dtype = np.dtype(self.form.dtype)
        self.shape: tuple[int, ...] = (ax.planes, ax.size("Y"), ax.size("X"))
        if ax.folded:
            self.shape += (ax.channels,)
        empty = np.empty((0, *self.shape[1:]), dtype=self.dtype)
        channel_axis = 3 if ax.folded else None
        self.signal = Signal(empty, "volume", channel_axis, source=self.path, form=self.form)

    def _page_indices(self, plane: int) -> np.ndarray:
        """Return the pages (in series order) that hold ``plane``, in the lead axes' order."""
        ax = self._o.ax
        grids = [
            np.array([plane]) if a == ax.plane else np.arange(n)
            for a, n in zip(ax.lead, self._lead_shape)
        ]
        mesh = np.meshgrid(*grids, indexing="ij")
        return np.ravel_multi_index(tuple(m.ravel() for m in mesh), self._lead_shape)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return planes ``start:stop`` as ``(stop - start, rows, cols[, channels])``.

        Raises
        ------
        SignalReadError
            A strip past the end of the file, or a page tifffile cannot decode.
        """
        if not 0 <= start <= stop <= self.shape[0]:
            raise ValueError(f"planes {start}:{stop} are outside 0:{self.shape[0]}")
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        for i in range(start, stop):
            out[i - start] = self._plane(i)
        return out

    def _plane(self, i: int) -> np.ndarray:
        o, ax = self._o, self._o.ax
        keys = self._page_indices(i)
        with _watched(self.path, "cannot read TIFF"):
            for k in keys:
                page = o.series.pages[int(k)] if int(k) < len(o.series.pages) else None
                if page is not None and hasattr(page, "dataoffsets"):
                    _check_strips(self.path, page, o.size, int(k))
            pages = o.tif.asarray(series=0, key=[int(k) for k in keys], maxworkers=1)
        pages = np.asarray(pages).reshape(len(keys), *[ax.size(a) for a in ax.page_axes])
        lead_here = "".join(a for a in ax.lead if a != ax.plane)
        shape = [ax.size(a) for a in lead_here] + [ax.size(a) for a in ax.page_axes]
        stored = pages.reshape(shape)
        axes = lead_here + ax.page_axes
        order = [axes.index(a) for a in "YX" + ax.folded]
        plane = np.transpose(stored, order)
        if ax.folded:
            plane = plane.reshape(*plane.shape[:2], ax.channels)
        return _bool_to_uint8(plane)

    def close(self) -> None:
        """Close the file."""
        self._o.close()

    def __enter__(self) -> TiffRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bool_to_uint8(data: np.ndarray) -> np.ndarray:
    return data.astype(np.uint8) * np.uint8(255) if data.dtype == np.bool_ else data


def open_tiff(path: PathLike, *, limits: Limits | None = None) -> TiffRows:
    """Open a TIFF stack for reading planes along axis 0, page by page.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    limits : Limits, optional
        The budgets, checked from the header.

    Returns
    -------
    TiffRows
        ``shape``, ``dtype``, ``read(start, stop)``, ``close()``, and ``signal``.

    Raises
    ------
    SignalReadError
        As :func:`load`; also for a single image (no planes).
    """
    return TiffRows(path, DEFAULT_LIMITS if limits is None else limits)


def read_tiff(
    path: PathLike, kind: str = "auto", *, gray: bool = False, limits: Limits | None = None
) -> Signal:
    """Load a TIFF's first series as an image or a volume (or the series as stored).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    kind : str, optional
        ``"auto"`` (a volume when there is a plane axis, else an image), ``"volume"``,
        ``"image"`` (the first plane of a volume), or ``"array"`` (the series with its
        stored axes, every one spatial).
    gray : bool, optional
        Convert RGB(A) or gray+alpha to one channel (refused for other channel axes).
    limits : Limits, optional
        The budgets.

    Returns
    -------
    Signal
        See the module docstring for the axes; ``form.info`` keeps what the writer needs.

    Raises
    ------
    SignalReadError
        A damaged file, an unread sample type, or no tifffile.
    LimitError
        Larger than ``limits``.
    """
    if kind not in ("auto", "image", "volume", "array"):
        raise SignalReadError(f"{path}: a TIFF cannot be read as {kind}")
    limits = DEFAULT_LIMITS if limits is None else limits
    p = Path(path)
    o = _open(p, limits)
    try:
        form = _form(o)
        for index, page in enumerate(o.series.pages):
            if page is not None and hasattr(page, "dataoffsets"):
                _check_strips(p, page, o.size, index)
        with _watched(p, "cannot read TIFF"):
            data = _bool_to_uint8(np.asarray(o.series.asarray(maxworkers=1)))
    finally:
        o.close()
    ax = o.ax
    if kind == "array":
        return Signal(data, "array", None, source=p, form=form)
    data = _to_signal_order(data.reshape(ax.shape), ax)
    channel_axis: int | None = data.ndim - 1 if ax.folded else None
    if gray and channel_axis is not None:
        data, channel_axis = _gray(data, channel_axis, form, p), None
    volume = ax.plane is not None and kind != "image"
    if ax.plane is not None and kind == "image":
        data = data[0]
        channel_axis = None if channel_axis is None else channel_axis - 1
        form = _spaced(form, drop=True)
    if ax.plane is None and kind == "volume":
        data = data[None]
        channel_axis = None if channel_axis is None else channel_axis + 1
        volume = True
        form = _spaced(form, drop=False)
    return Signal(data, "volume" if volume else "image", channel_axis, source=p, form=form)


def _spaced(form: Form, *, drop: bool) -> Form:
    """Drop the spacing's first axis (a plane as an image), or add one (an image as a volume)."""
    if form.spacing is None or form.units is None:
        return form
    if drop:
        return replace(form, spacing=form.spacing[1:], units=form.units[1:])
    return replace(form, spacing=(1.0, *form.spacing), units=("", *form.units))


def _gray(data: np.ndarray, channel_axis: int, form: Form, path: Path) -> np.ndarray:
    if form.mode not in ("RGB", "RGBA", "LA"):
        gray = Param("gray", True)
        raise SignalReadError(
            f"{path}: {gray} converts colour (RGB, RGBA, gray+alpha); these "
            f"{data.shape[channel_axis]} channels ({form.info['axes']}) are not colours",
            params=[gray],
        )
    from .pillow_image import to_gray

    return to_gray(data, channel_axis, path)


# --- writing ------------------------------------------------------------------------------------


def _imagej_holds(axes: str, dtype: np.dtype) -> bool:
    """Whether an ImageJ hyperstack can hold this series (TZCYXS order, its data types)."""
    order = "TZCYXS"
    in_order = all(a in order for a in axes) and list(axes) == sorted(axes, key=order.index)
    if "S" in axes:
        return in_order and dtype == np.uint8
    return in_order and dtype in (np.uint8, np.uint16, np.float32)


def _unfold(
    form: Form, planes: int | None, rows: int, cols: int, channels: int
) -> tuple[str, tuple[int, ...], str | None]:
    """Return the output series' axes, shape and plane axis (folded axes restored).

    The input's folded axes come back where the channel count still matches them; a result
    with other channels (``--gray``, a bank of kernels) gets a plain ``C`` (or RGB ``S``).
    """
    info = form.info
    folded: dict[str, int] = dict(info.get("folded") or {})
    stored = str(info.get("axes") or "")
    plane = (info.get("plane_axis") or "Z") if planes is not None else None
    sizes = {"Y": rows, "X": cols}
    if plane is not None and planes is not None:
        sizes[plane] = planes
    if folded and math.prod(folded.values()) == channels:
        sizes.update(folded)
        axes = "".join(a for a in stored if a in sizes)
        if len(axes) == len(sizes):
            return axes, tuple(sizes[a] for a in axes), plane
        sizes = {a: sizes[a] for a in ("Y", "X", plane) if a is not None}
    head = plane or ""
    if channels == 1:
        axes = head + "YX"
    elif channels in (3, 4) and form.mode in ("RGB", "RGBA", None) and info.get("photometric") == 2:
        axes, sizes["S"] = head + "YXS", channels
    else:
        axes, sizes["C"] = head + "CYX", channels
    return axes, tuple(sizes[a] for a in axes), plane


def _options(form: Form, axes: str, dtype: np.dtype, nbytes: int) -> dict[str, Any]:
    """Return the options of tifffile's ``write`` that keep the input's layout."""
    info = form.info
    opts: dict[str, Any] = {}
    compression = int(info.get("compression") or 1)
    if compression != 1:
        opts["compression"] = compression
        predictor = int(info.get("predictor") or 1)
        if predictor > 1 and not (predictor == 3 and dtype.kind != "f"):
            opts["predictor"] = predictor
    channel_axis = "S" if "S" in axes else None
    given = info.get("photometric")
    photometric = 1 if given is None else int(given)
    if channel_axis is None and photometric == 2:
        photometric = 1
    opts["photometric"] = photometric
    if channel_axis:
        opts["planarconfig"] = 2 if info.get("planarconfig") == 2 else 1
        extras = info.get("extrasamples") or ()
        if extras:
            opts["extrasamples"] = extras
    if info.get("tile"):
        opts["tile"] = tuple(info["tile"])
    elif info.get("rowsperstrip"):
        opts["rowsperstrip"] = info["rowsperstrip"]
    opts["bigtiff"] = bool(info.get("bigtiff")) or nbytes >= _GIB4 - (64 << 20)
    return opts


def _metadata(form: Form, axes: str, plane: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(metadata, resolution options)`` for ImageJ, OME or a plain TIFF, from the Form."""
    info = form.info
    spacing = dict(zip(((plane,) if plane else ()) + ("Y", "X"), form.spacing or ()))
    units = dict(zip(((plane,) if plane else ()) + ("Y", "X"), form.units or ()))
    res: dict[str, Any] = {}
    if info.get("imagej") is not None:
        keep = ["unit", "finterval", "fps", "loop", "mode"]
        if sorted(axes) == sorted(str(info.get("axes"))):  # the same channels: their display
            keep += ["Ranges", "LUTs"]
        meta = {k: v for k, v in info["imagej"].items() if k in keep}
        meta["axes"] = axes
        if units.get("X"):
            meta["unit"] = "micron" if units["X"] == "um" else units["X"]
            res["resolution"] = (1 / spacing["X"], 1 / spacing["Y"])
        if plane == "Z" and units.get("Z"):
            meta["spacing"] = spacing["Z"]
        if plane == "T" and units.get("T") == "s":
            meta["finterval"] = spacing["T"]
        return meta, res
    if info.get("ome") is not None:
        meta = {"axes": axes, **info["ome"]}
        for axis in "XYZ":
            if units.get(axis) and units[axis] not in ("s", "ms", "us"):
                meta[f"PhysicalSize{axis}"] = spacing[axis]
                meta[f"PhysicalSize{axis}Unit"] = "µm" if units[axis] == "um" else units[axis]
        if plane == "T" and units.get("T"):
            meta["TimeIncrement"], meta["TimeIncrementUnit"] = spacing["T"], units["T"]
        return meta, res
    if "X" in units and units["X"] in ("mm", "cm", "um"):
        to_cm = {"mm": 0.1, "cm": 1.0, "um": 1e-4}[units["X"]]
        if int(info.get("resolutionunit") or 2) == 2:
            res = {"resolution": (2.54 / (spacing["X"] * to_cm), 2.54 / (spacing["Y"] * to_cm))}
            res["resolutionunit"] = 2
        else:
            res = {"resolution": (1 / (spacing["X"] * to_cm), 1 / (spacing["Y"] * to_cm))}
            res["resolutionunit"] = 3
    return {"axes": axes}, res


class TiffBlockWriter:
    """Planes appended in order, staged beside the output, written as TIFF on ``close()``.

    Created by :func:`tiff_writer` (atomically to a path) or :func:`open_writer` (into the
    caller's temporary file).  ``write(block)`` takes ``(planes, rows, cols[, channels])``
    (an image is one plane with no plane axis: give ``(1, rows, cols[, C])``), staged raw in
    a hidden folder beside the output (:class:`convcli.io.atomic.StageFolder`,
    ``.NAME.XXXXXXXX/``); ``close()`` writes the TIFF with the input's layout and metadata
    page by page from the staged planes; ``abort()`` removes what was staged.

    Parameters
    ----------
    path : str or os.PathLike
        The output.
    form : Form
        The input's form (axes, compression, layout, metadata, spacing); the writer puts
        ``quality`` in its ``info``.
    image : bool
        Write one plane as an image (no plane axis).
    fh : binary file, optional
        Write the TIFF into this open file (the caller commits it); else atomically to
        ``path`` (``overwrite`` and ``protect`` as :func:`convcli.io.atomic.atomic_file`).
    """

    def __init__(
        self,
        path: PathLike,
        form: Form,
        *,
        image: bool,
        fh: IO[bytes] | None = None,
        overwrite: bool = False,
        protect: Iterable[PathLike] = (),
    ) -> None:
        self.path = Path(path)
        self._tifffile = _tifffile(self.path, writing=True)
        self._form = form
        self._image = image
        self._fh = fh
        self._overwrite, self._protect = overwrite, tuple(protect)
        if fh is None:
            check_output(self.path, overwrite=overwrite, protect=self._protect)
        self._folder = StageFolder(self.path)
        try:
            self._stage: IO[bytes] = open(self._folder.path / "planes.raw", "w+b")  # noqa: SIM115
        except OSError as exc:
            self._folder.close()
            raise SignalWriteError(f"{self.path}: cannot write TIFF: {one_line(exc)}") from exc
        self._shape: tuple[int, ...] | None = None
        self._dtype: np.dtype | None = None
        self.planes = 0

    def write(self, block: np.ndarray) -> None:
        """Stage planes ``(count, rows, cols[, channels])`` after the last ones.

        Raises
        ------
        UnsupportedError
            A plane shape or dtype that differs from the first block's, or complex data.
        SignalWriteError
            The staging file cannot be written (a full disk).
        """
        block = np.asarray(block)
        try:
            if block.dtype.kind not in "buif":
                raise UnsupportedError(f"{self.path}: TIFF holds numbers, not {block.dtype}")
            if self._shape is None:
                self._shape, self._dtype = tuple(block.shape[1:]), block.dtype
            elif tuple(block.shape[1:]) != self._shape or block.dtype != self._dtype:
                raise UnsupportedError(
                    f"{self.path}: planes of {block.shape[1:]} {block.dtype} after "
                    f"{self._shape} {self._dtype}"
                )
            self._stage.write(np.ascontiguousarray(block).tobytes())
            self.planes += len(block)
        except OSError as exc:
            self.abort()
            raise SignalWriteError(f"{self.path}: cannot write TIFF: {one_line(exc)}") from exc
        except BaseException:
            self.abort()
            raise

    def close(self) -> None:
        """Write the TIFF from the staged planes and move it into place.

        Raises
        ------
        SignalWriteError
            No plane was written, or tifffile cannot write this layout (a compression that
            does not take this data type, say).
        """
        try:
            if self._shape is None or self._dtype is None:
                raise SignalWriteError(f"{self.path}: no plane to write")
            self._stage.flush()
            self._write_tiff(self._shape, self._dtype)
        except (ConvcliError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - one line
            raise SignalWriteError(f"{self.path}: cannot write TIFF: {one_line(exc)}") from exc
        finally:
            self.abort()

    def _write_tiff(self, plane_shape: tuple[int, ...], dtype: np.dtype) -> None:
        channels = plane_shape[2] if len(plane_shape) == 3 else 1
        image = self._image and self.planes == 1
        axes, shape, plane = _unfold(
            self._form, None if image else self.planes, plane_shape[0], plane_shape[1], channels
        )
        info = self._form.info
        opts = _options(self._form, axes, dtype, math.prod(shape) * dtype.itemsize)
        bigtiff = opts.pop("bigtiff")
        meta, res = _metadata(self._form, axes, plane)
        imagej = info.get("imagej") is not None and _imagej_holds(axes, dtype)
        ome = info.get("ome") is not None
        if info.get("imagej") is not None and not imagej:
            meta = {"axes": axes}  # ImageJ holds uint8, uint16, float32 (RGB: uint8)
        pages = _Pages(self._stage.name, plane_shape, dtype, axes, shape, plane)
        quality = f"TIFF {axes} {dtype}, compression {opts.get('compression', 1)}"
        tags = (
            ("ImageJ" if imagej else "") + ("OME" if ome else "") + (" BigTIFF" if bigtiff else "")
        )
        info["quality"] = quality + (f", {tags.strip()}" if tags.strip() else "")
        with contextlib.ExitStack() as stack:
            fh = self._fh
            if fh is None:
                fh = stack.enter_context(
                    atomic_file(self.path, overwrite=self._overwrite, protect=self._protect)
                )
            with self._tifffile.TiffWriter(fh, bigtiff=bigtiff, imagej=imagej, ome=ome) as tw:
                chunks = pages.iterate(opts.get("tile"))
                tw.write(chunks, shape=shape, dtype=dtype, metadata=meta, **res, **opts)

    def abort(self) -> None:
        """Give up, or clean up after ``close``: remove what was staged."""
        with contextlib.suppress(Exception):
            self._stage.close()
        self._folder.close()

    def __enter__(self) -> TiffBlockWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()


class _Pages:
    """Pages of the output series in file order, read from the staged planes.

    The staging file holds planes ``(rows, cols[, channels])`` one after another; the page
    with lead index ``(.., plane p, ..)`` and the channel it holds is read by seeking.
    """

    def __init__(
        self,
        name: str,
        plane_shape: tuple[int, ...],
        dtype: np.dtype,
        axes: str,
        shape: tuple[int, ...],
        plane: str | None,
    ) -> None:
        self.name, self.dtype, self.axes, self.shape = name, dtype, axes, shape
        self.plane = plane
        page_axes = "YXS" if axes.endswith("S") else "YX"
        if "S" in axes and not axes.endswith("S"):
            page_axes = axes[axes.index("S") :]
        self.page_axes = page_axes
        self.lead = axes[: len(axes) - len(page_axes)]
        self.series_shape = shape
        self.plane_shape = plane_shape
        self.plane_bytes = math.prod(plane_shape) * dtype.itemsize
        self.channel_axes = "".join(a for a in axes if a not in "YX" and a != plane)

    def iterate(self, tile: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
        """Yield the pages in file order, or with ``tile`` each page's tiles.

        Tiles go as tifffile takes them: row by row, and for separate samples each
        sample's tiles in turn.
        """
        sizes = dict(zip(self.axes, self.shape))
        lead_shape = [sizes[a] for a in self.lead]
        with open(self.name, "rb") as fh:
            last: tuple[int, np.ndarray] | None = None
            for index in np.ndindex(*lead_shape):
                where = dict(zip(self.lead, index))
                p = where.get(self.plane, 0) if self.plane else 0
                if last is None or last[0] != p:
                    fh.seek(p * self.plane_bytes)
                    raw = np.fromfile(fh, self.dtype, math.prod(self.plane_shape))
                    last = (p, raw.reshape(self.plane_shape))
                page = self._page(last[1], where, sizes)
                if tile is None:
                    yield page
                    continue
                planes = page if self.page_axes.startswith("S") else [page]
                for sample in planes:
                    for y in range(0, sample.shape[0], tile[0]):
                        for x in range(0, sample.shape[1], tile[1]):
                            yield sample[y : y + tile[0], x : x + tile[1]]

    def _page(self, plane: np.ndarray, where: dict[str, int], sizes: dict[str, int]) -> np.ndarray:
        """Cut one page out of a plane ``(Y, X[, channels])``."""
        if plane.ndim == 2:
            page = plane
        else:
            folded = [sizes[a] for a in self.channel_axes]
            full = plane.reshape(*plane.shape[:2], *folded)
            take = tuple(where[a] if a in where else slice(None) for a in self.channel_axes)
            page = full[(slice(None), slice(None)) + take]
        if self.page_axes.startswith("S"):
            page = np.moveaxis(page, -1, 0)
        return np.ascontiguousarray(page)


def _is_image(signal: Signal) -> bool:
    return signal.kind == "image" or (
        signal.kind != "volume" and signal.form.info.get("plane_axis") is None
    )


def tiff_writer(
    path: PathLike,
    signal: Signal,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
) -> TiffBlockWriter:
    """Open a TIFF for writing planes in order along axis 0.

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    signal : Signal
        Describes the output: ``kind`` and ``form`` (the input's axes, folded axes,
        compression, layout, ImageJ/OME metadata and spacing, as :func:`load` gave them; a
        form from elsewhere gives a plain TIFF).  Its ``data`` is not used.
    overwrite : bool, optional
        Replace an existing output.
    protect : iterable of str or os.PathLike, optional
        Paths never written (the inputs).

    Returns
    -------
    TiffBlockWriter
        ``write(block)``, ``close()``, ``abort()``.

    Raises
    ------
    OutputExistsError
        The output exists (without ``overwrite``) or is an input.
    UnsupportedError
        No tifffile.
    """
    return TiffBlockWriter(
        path, signal.form, image=_is_image(signal), overwrite=overwrite, protect=protect
    )


def write_tiff(
    signal: Signal,
    path: PathLike,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Write an image or volume as TIFF with the input's layout and metadata.

    See :func:`tiff_writer`.  An ``array`` read from a TIFF and still of its shape is written
    with its stored axes; any other array as a stack of its last two axes.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    signal, data = _planes(signal)
    with tiff_writer(path, signal, overwrite=overwrite, protect=protect) as writer:
        writer.write(data)
    return Path(path)


def _planes(signal: Signal) -> tuple[Signal, np.ndarray]:
    """Return the signal as the writer takes it (an array unfolded) and its planes."""
    data = np.asarray(signal.data)
    if signal.channel_axis is not None and signal.channel_axis != data.ndim - 1:
        data = np.moveaxis(data, signal.channel_axis, -1)
    info = signal.form.info
    if signal.kind == "array" and list(data.shape) == info.get("shape") and "page_axes" in info:
        ax = map_axes(info["axes"], data.shape, info["page_axes"])
        data = _to_signal_order(data, ax)
        signal = replace(signal, kind="volume" if ax.plane else "image")
        data = data if ax.plane else data[None]
    elif signal.kind == "array":
        data = data.reshape(-1, *data.shape[-2:]) if data.ndim > 2 else data[None]
        plain = {k: v for k, v in info.items() if k not in ("axes", "folded", "plane_axis")}
        signal = replace(signal, kind="volume", form=replace(signal.form, info=plain))
    elif signal.kind == "image":
        data = data[None]
    return signal, data


# --- the io table's functions ----------------------------------------------------------------


def probe(path: Path, fmt: str, limits: Limits) -> dict[str, Any]:
    """Describe a TIFF from its header (:func:`probe_tiff`)."""
    return probe_tiff(path, limits=limits)


def load(path: Path, fmt: str, kind: str, gray: bool, limits: Limits) -> Signal:
    """Load a TIFF as ``kind`` (:func:`read_tiff`)."""
    if kind == "audio":
        raise SignalReadError(f"{path}: is a TIFF; it cannot be read as audio")
    return read_tiff(path, kind, gray=gray, limits=limits)


def open_rows(path: Path, fmt: str, kind: str, limits: Limits) -> tuple[TiffRows, Signal] | None:
    """Open a TIFF stack to read its planes page by page (read as ``auto`` or ``volume``).

    A TIFF of one image returns None (:func:`load` reads it whole).
    """
    if kind not in ("auto", "volume"):
        return None
    o = _open(path, limits)
    planes = o.ax.plane is not None
    o.close()
    if not planes:
        return None
    rows = open_tiff(path, limits=limits)
    return rows, rows.signal


def target(signal: Signal, path: Path, fmt: registry.WriteFormat) -> registry.Target:
    """Write an image, a volume (its planes as pages) or an array.

    Raises
    ------
    UnsupportedError
        Audio.
    """
    if signal.kind == "audio":
        raise UnsupportedError(f"{path}: audio cannot be written as TIFF; use .wav or .npy")
    return registry.Target(path, "scitiff", fmt.name, frames=not _is_image(signal))


def save(
    signal: Signal,
    data: np.ndarray,
    target: registry.Target,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
) -> None:
    """Write an image, volume or array as TIFF with the input's layout, atomically."""
    signal, planes = _planes(signal)
    with atomic_file(target.path, overwrite=overwrite, protect=protect) as fh:
        writer = TiffBlockWriter(target.path, signal.form, image=_is_image(signal), fh=fh)
        with writer:
            writer.write(planes)


def open_writer(
    fh: IO[bytes],
    target: registry.Target,
    shape: tuple[int, ...],
    dtype: np.dtype,
    form: Form,
    rate: float | None,
) -> TiffBlockWriter:
    """Start a TIFF of ``shape`` (planes first) whose planes come block by block."""
    return TiffBlockWriter(target.path, form, image=not target.frames, fh=fh)


def claims(path: PathLike) -> bool:
    """Tell whether this family, rather than Pillow, reads a TIFF.

    True for OME-TIFF and ImageJ files, for BigTIFF (the format of stacks past 4 GiB: read
    page by page here, written back as BigTIFF, where Pillow would load it whole and write a
    classic TIFF), for 16-bit (or deeper) colour or gray+alpha, and for every layout Pillow
    does not read (its own tables, as :mod:`convcli.io._tiff` asks them).  Only the first
    directory is read.  Without tifffile, a TIFF that Pillow does not read is refused with
    a line naming the extra, and the others go to Pillow.

    Parameters
    ----------
    path : str or os.PathLike
        A file whose magic says TIFF.

    Returns
    -------
    bool
        False for the TIFFs Pillow reads and writes as before, and for a file whose first
        directory cannot be read at all (Pillow's reader then says what is wrong).

    Raises
    ------
    MissingExtraError
        Only tifffile reads this TIFF, and it is not installed.
    SignalReadError
        The path is not a regular file.
    """
    from ._tiff import _Damaged, _first_ifd, _layout

    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            order, tags = _first_ifd(fh, size)
        except Exception:  # noqa: BLE001 - a broken header: Pillow's reader says so
            return False
        if importlib.util.find_spec("tifffile") is None:
            why = _pillow_refuses(order, tags, _layout, _Damaged)
            if why is None:
                return False
            raise MissingExtraError(
                f"{path}: {why} needs the optional '{EXTRA}' extra (tifffile is not "
                f"installed): pip install 'convcli[{EXTRA}]'"
            )
        fh.seek(0)
        if fh.read(4) in (b"II+\x00", b"MM\x00+"):
            return True  # BigTIFF: read page by page, written back as BigTIFF
        refuses = _pillow_refuses(order, tags, _layout, _Damaged) is not None
        if not refuses and not _may_be_ome_or_imagej(fh, order, size):
            return False  # Pillow's as before, and tifffile not even imported
        tifffile = _tifffile(path)
        try:
            fh.seek(0)
            with _unheard(), tifffile.TiffFile(fh, name=Path(path).name, _multifile=False) as tif:
                if tif.is_ome or tif.is_imagej:
                    return True
        except Exception:  # noqa: BLE001 - a broken header: Pillow's reader says so
            return False
    return refuses


#: How the ImageDescription of an ImageJ (or SCIFIO) file starts (tifffile's test).
_IMAGEJ_HEADS = (b"ImageJ=", b"SCIFIO=")


def _may_be_ome_or_imagej(fh: IO[bytes], order: bytes, size: int) -> bool:
    """Whether a classic TIFF's first directory has an ImageDescription tifffile calls OME/ImageJ.

    tifffile's tests: OME-XML ends in ``OME>``; an ImageJ description starts ``ImageJ=``
    (or ``SCIFIO=``).  True also where the directory cannot be read here (tifffile decides).
    """
    e = "<" if order == b"II" else ">"
    try:
        fh.seek(4)
        (offset,) = struct.unpack(e + "I", fh.read(4))
        fh.seek(offset)
        (count,) = struct.unpack(e + "H", fh.read(2))
        table = fh.read(12 * count)
        if len(table) != 12 * count:
            return True
        for i in range(count):
            tag, kind, n = struct.unpack(e + "HHI", table[12 * i : 12 * i + 8])
            if tag != 270:
                continue
            if n <= 4:
                text = table[12 * i + 8 : 12 * i + 8 + n]
                head, tail = text, text
            else:
                (at,) = struct.unpack(e + "I", table[12 * i + 8 : 12 * i + 12])
                if at + n > size:
                    return True
                fh.seek(at)
                head = fh.read(8)
                fh.seek(at + max(0, n - 64))
                tail = fh.read(min(n, 64))
            if head.startswith(_IMAGEJ_HEADS) or b"OME>" in tail:
                return True
    except (OSError, struct.error):
        return True
    return False


def _pillow_refuses(
    order: bytes, tags: dict[int, tuple[int, ...]], layout: Any, damaged: Any
) -> str | None:
    """Say what in a TIFF's first directory Pillow does not read whole, or None."""
    try:
        found = layout(order, tags)
    except (damaged, ImportError):
        return "this TIFF"
    if found is not None:
        return "a " + found.split(" is not read")[0]
    bits = tags.get(258, (1,))
    samples = tags.get(277, (1,))[0]
    if samples > 1 and max(bits) > 8:  # Pillow would read 16-bit colour as 8-bit
        return f"a TIFF of {samples} samples of {max(bits)} bits"
    return None


def claims_output(signal: Signal, path: PathLike) -> bool:
    """Tell whether this family, rather than Pillow, writes ``signal`` to a ``.tif``.

    The family that read the input writes it back (``form.info["reader"]``): a TIFF read
    by tifffile keeps its type, axes and metadata; every other output is Pillow's, byte for
    byte as before (what Pillow's TIFF cannot hold is refused, naming ``.npy``).
    """
    return signal.form.info.get("reader") == "tifffile"
