"""Reading Zarr stores (format 2 and 3, OME-Zarr): metadata, whole arrays, chunks, rows.

A Zarr store is a folder identified by its content, never by its name: ``zarr.json`` (format
3), ``.zarray`` or ``.zgroup`` (format 2), each a regular file.  What is read:

- an **array** at the store's root;
- an **OME-Zarr image** (a group whose attributes hold ``multiscales``, OME-NGFF 0.4 in
  format 2 or ``ome.multiscales``, 0.5, in format 3): the highest-resolution array,
  ``multiscales[0].datasets[0]``, and :func:`describe` says so (``ome`` and ``array_path``).
  An axis whose OME type is ``channel`` is the channel axis.
  Any other group is refused, naming what it lacks.

Read as ``auto``, a store is an array (every axis spatial, as a ``.npy``), but an OME-Zarr
image of three spatial axes, which is a volume (:func:`kind_of`).

Budgets (:class:`convcli.io.Limits`), checked from the metadata before any chunk is read:
every array may be addressed at all; a chunk holds at most ``max_pixels`` elements, since
one is decoded whole in memory; channels at most ``max_channels``; and :func:`read`, which
reads the whole array into memory, at most ``max_voxels`` elements (spatial) -- larger
stores are for :func:`open_dask` and :func:`convcli.dask.filter_zarr`.

zarr (and dask, for :func:`open_dask`) are imported only when used.  Writing is
:mod:`convcli.io.zarr_write`; the family's functions for :mod:`convcli.io.registry` are
:mod:`convcli.io.zarr_store`.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArgumentError, SignalReadError
from . import registry
from ._signal import Form, Signal
from ._watch import one_line
from .limits import DEFAULT_LIMITS, Limits, over_limit, regular_file

__all__ = [
    "FORMAT",
    "METADATA",
    "identify",
    "kind_of",
    "read_form",
    "describe",
    "read",
    "open_dask",
    "ZarrRowReader",
]

PathLike = str | os.PathLike[str]

#: The format name, as :class:`convcli.io.Form` and ``convcli info`` give it.
FORMAT = "ZARR"

#: The files whose presence makes a folder a Zarr store (the row's ``markers``).
METADATA: tuple[str, ...] = registry.family("zarr").markers


def identify(path: PathLike) -> str | None:
    """Tell whether a path is a Zarr store, by its content.

    Parameters
    ----------
    path : str or os.PathLike
        Any path.

    Returns
    -------
    str or None
        ``"ZARR"`` for a folder holding ``zarr.json``, ``.zarray`` or ``.zgroup`` as a
        regular file; None for anything else.

    Examples
    --------
    >>> import tempfile, numpy as np, zarr
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = zarr.create_array(d + "/a.zarr", shape=(4,), dtype="uint8")
    ...     identify(d + "/a.zarr"), identify(d)
    ('ZARR', None)
    """
    p = Path(path)
    if not p.is_dir():
        return None
    for name in METADATA:
        try:
            regular_file(p / name)
        except SignalReadError:
            continue
        return FORMAT
    return None


@dataclass(frozen=True)
class _Node:
    """An opened store: its array, and the OME image around it if any."""

    array: Any
    zarr_format: int
    array_path: str
    ome: dict[str, Any] | None  # {"version", "layout", "group_attributes"}
    channel_axis: int | None


def _multiscales(attrs: dict[str, Any]) -> tuple[list[Any] | None, str | None]:
    """Return the ``multiscales`` list of OME group attributes and its layout, if any."""
    ome = attrs.get("ome")
    if isinstance(ome, dict) and isinstance(ome.get("multiscales"), list):
        return ome["multiscales"], "ome"  # OME-NGFF 0.5 (Zarr format 3)
    if isinstance(attrs.get("multiscales"), list):
        return attrs["multiscales"], "top"  # OME-NGFF 0.4 and earlier (Zarr format 2)
    return None, None


def _dataset_path(path: Path, multiscales: list[Any]) -> str:
    try:
        rel = multiscales[0]["datasets"][0]["path"]
    except (IndexError, KeyError, TypeError):
        raise SignalReadError(
            f"{path}: OME-Zarr multiscales[0] has no datasets[0].path to read"
        ) from None
    parts = rel.split("/") if isinstance(rel, str) else []
    if not parts or rel.startswith("/") or any(q in ("", ".", "..") for q in parts):
        raise SignalReadError(
            f"{path}: OME-Zarr dataset path {rel!r} is not a path inside the store"
        )
    return rel


def _ome_channel_axis(multiscales: list[Any], ndim: int) -> int | None:
    axes = multiscales[0].get("axes") if isinstance(multiscales[0], dict) else None
    if not isinstance(axes, list) or len(axes) != ndim:
        return None
    found = [i for i, a in enumerate(axes) if isinstance(a, dict) and a.get("type") == "channel"]
    return found[0] if len(found) == 1 else None


def _open(path: PathLike) -> _Node:
    """Open a store read-only: its root array, or an OME image's highest resolution."""
    import zarr

    p = Path(path)
    if identify(p) is None:
        what = "does not exist" if not os.path.lexists(p) else "is not a Zarr store"
        raise SignalReadError(f"{p}: {what} (a folder with zarr.json, .zarray or .zgroup)")
    try:
        node = zarr.open(store=os.path.abspath(p), mode="r")  # tasks run in other processes
    except Exception as exc:
        raise SignalReadError(f"{p}: cannot read as Zarr: {one_line(exc)}") from None
    fmt = int(node.metadata.zarr_format)
    if isinstance(node, zarr.Array):
        return _Node(node, fmt, "", None, None)
    attrs: dict[str, Any] = dict(node.attrs.asdict())
    multiscales, layout = _multiscales(attrs)
    if multiscales is None:
        raise SignalReadError(
            f"{p}: is a Zarr group without OME multiscales metadata; give the path of the "
            f"array inside it"
        )
    rel = _dataset_path(p, multiscales)
    try:
        arr = node[rel]
    except Exception as exc:
        raise SignalReadError(f"{p}: OME-Zarr dataset {rel!r}: {one_line(exc)}") from None
    if not isinstance(arr, zarr.Array):
        raise SignalReadError(f"{p}: OME-Zarr dataset {rel!r} is not an array")
    ms0 = multiscales[0] if isinstance(multiscales[0], dict) else {}
    outer = attrs.get("ome")
    version = ms0.get("version") or (outer.get("version") if isinstance(outer, dict) else None)
    ome = {"version": version, "layout": layout, "group_attributes": attrs}
    return _Node(arr, fmt, rel, ome, _ome_channel_axis(multiscales, arr.ndim))


def _dtype(p: Path, arr: Any) -> np.dtype:
    try:
        dt = np.dtype(arr.dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind not in "biuf" or dt.fields is not None or dt.subdtype is not None:
        raise SignalReadError(
            f"{p}: Zarr dtype {arr.dtype} is not a real number type; convcli reads bool, "
            f"integer and float arrays"
        )
    return dt


def _check(p: Path, node: _Node, limits: Limits) -> np.dtype:
    """Check a store's metadata against the budgets; return its dtype."""
    arr = node.array
    dt = _dtype(p, arr)
    shape = tuple(int(n) for n in arr.shape)
    if not shape or any(n < 1 for n in shape):
        raise SignalReadError(f"{p}: the Zarr array's shape {shape} has no sample")
    limits.check_elements(p, shape, dt.itemsize)
    count = math.prod(int(n) for n in arr.chunks)
    if limits.max_pixels is not None and count > limits.max_pixels:
        dims = "x".join(str(int(n)) for n in arr.chunks)
        raise over_limit(
            f"{p}: a {dims} chunk is {count} elements, more than the limit of "
            f"{limits.max_pixels} (one chunk is decoded whole in memory)",
            "max_pixels",
        )
    if node.channel_axis is not None:
        limits.check_channels(p, shape[node.channel_axis])
    return dt


def _form(node: _Node, dt: np.dtype) -> Form:
    arr = node.array
    meta = arr.metadata
    info: dict[str, Any] = {
        "zarr_format": node.zarr_format,
        "chunks": tuple(int(n) for n in arr.chunks),
        "shards": None if arr.shards is None else tuple(int(n) for n in arr.shards),
        "compressors": tuple(arr.compressors),
        "filters": tuple(arr.filters),
        "serializer": getattr(arr, "serializer", None) if node.zarr_format == 3 else None,
        "fill_value": arr.fill_value,
        "attributes": arr.attrs.asdict(),
        "dimension_names": getattr(meta, "dimension_names", None),
        "array_path": node.array_path,
        "ome": copy.deepcopy(node.ome),
        "channel_axis": node.channel_axis,
    }
    native = dt.newbyteorder("=")
    name = "uint8" if native == np.bool_ else native.name
    return Form(container="zarr", format=FORMAT, bits=native.itemsize * 8, dtype=name, info=info)


def read_form(path: PathLike, limits: Limits | None = None) -> Form:
    """Return the form of a Zarr store: what :func:`save_dask` needs to write one like it.

    Parameters
    ----------
    path : str or os.PathLike
        The store.
    limits : Limits, optional
        The budgets checked (see the module docstring).

    Returns
    -------
    Form
        ``container`` ``"zarr"``, ``format`` ``"ZARR"``, ``dtype``; ``info`` holds
        ``zarr_format``, ``chunks``, ``shards``, ``compressors``, ``filters``, ``serializer``,
        ``fill_value``, ``attributes``, ``dimension_names``, ``array_path``, ``ome`` and
        ``channel_axis``.

    Raises
    ------
    SignalReadError
        Not a Zarr store, unreadable metadata, a group that is not an OME image, a dtype
        that is not a real number, or over budget (:class:`LimitError`).
    """
    p = Path(path)
    node = _open(p)
    return _form(node, _check(p, node, DEFAULT_LIMITS if limits is None else limits))


def kind_of(
    path: PathLike, shape: tuple[int, ...], channel_axis: int | None, ome: bool, kind: str = "auto"
) -> tuple[str, int | None]:
    """Return the kind a store is read as, and its channel axis.

    Parameters
    ----------
    path : str or os.PathLike
        The store, for messages.
    shape : tuple of int
        The array's shape.
    channel_axis : int or None
        The axis the OME metadata calls ``channel``, if any.
    ome : bool
        The store is an OME-Zarr image.
    kind : str, optional
        ``"auto"``: a volume for an OME image of three spatial axes, else an array (every
        axis spatial but the OME channel axis).  ``"array"``: an array.  ``"image"`` (2
        spatial axes) and ``"volume"`` (3): the OME channel axis where the metadata puts it,
        else channels last when there is one more axis.  Not ``"audio"``.

    Returns
    -------
    (str, int or None)
        The kind, and the channel axis.

    Raises
    ------
    SignalReadError
        A shape the kind cannot take; ``"audio"``.
    ArgumentError
        ``kind`` is not a kind.

    Examples
    --------
    >>> kind_of("v.zarr", (2, 30, 40, 50), 0, True), kind_of("v.zarr", (30, 40, 50), None, False)
    (('volume', 0), ('array', None))
    >>> kind_of("v.zarr", (30, 40, 3), None, False, "image")
    ('image', 2)
    """
    spatial = len(shape) - (channel_axis is not None)
    if kind == "auto":
        return ("volume" if ome and spatial == 3 else "array"), channel_axis
    if kind == "array":
        return "array", channel_axis
    if kind == "audio":
        raise SignalReadError(f"{path}: a Zarr store cannot be read as audio")
    if kind not in ("image", "volume"):
        raise ArgumentError(f"kind {kind!r} is not one of auto, array, image, volume")
    want = 2 if kind == "image" else 3
    if channel_axis is not None and spatial == want:
        return kind, channel_axis
    if len(shape) == want:
        return kind, None
    if len(shape) == want + 1:
        return kind, want
    raise SignalReadError(
        f"{path}: a {'x'.join(map(str, shape))} array cannot be read as {kind}: it takes "
        f"{want} axes, or {want + 1} with channels last"
    )


def _spatial(shape: tuple[int, ...], channel_axis: int | None) -> tuple[int, ...]:
    return tuple(n for a, n in enumerate(shape) if a != channel_axis)


def _check_kind(
    p: Path, shape: tuple[int, ...], channel_axis: int | None, kind: str, limits: Limits
) -> None:
    """Check a store read whole as an image or volume against those kinds' budgets."""
    spatial = _spatial(shape, channel_axis)
    if kind == "image":
        limits.check_pixels(p, spatial[0], spatial[1])
    elif kind == "volume":
        limits.check_pixels(p, spatial[1], spatial[2], what="each plane: ")
        limits.check_planes(p, *spatial)
    if channel_axis is not None:
        limits.check_channels(p, shape[channel_axis])


def describe(path: PathLike, limits: Limits | None = None) -> dict[str, Any]:
    """Describe a Zarr store from its metadata (no chunk is read).

    Parameters
    ----------
    path : str or os.PathLike
        The store.
    limits : Limits, optional
        The budgets checked (see the module docstring).

    Returns
    -------
    dict
        ``path``, ``kind`` (:func:`kind_of`), ``format`` (``"ZARR"``), ``container``
        (``"zarr"``), ``shape``, ``dtype``, ``bits``, ``channels`` (the OME channel axis's
        length, else None), ``planes`` (a volume's first spatial axis), ``chunks``,
        ``shards``, ``zarr_format``, ``attributes`` (of the array), ``ome`` (the OME-NGFF
        version, or None), ``array_path`` (the array read, ``""`` for the root) and
        ``channel_axis``.

    Raises
    ------
    SignalReadError
        As :func:`read_form`.

    Examples
    --------
    >>> import tempfile, zarr
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = zarr.create_array(d + "/v.zarr", shape=(8, 6), chunks=(4, 3), dtype="uint16",
    ...                           zarr_format=2, attributes={"unit": "um"})
    ...     info = describe(d + "/v.zarr")
    >>> info["shape"], info["dtype"], info["chunks"], info["zarr_format"], info["attributes"]
    ([8, 6], 'uint16', [4, 3], 2, {'unit': 'um'})
    """
    p = Path(path)
    node = _open(p)
    form = _form(node, _check(p, node, DEFAULT_LIMITS if limits is None else limits))
    info = form.info
    shape = tuple(int(n) for n in node.array.shape)
    ca = node.channel_axis
    kind, _ = kind_of(p, shape, ca, node.ome is not None)
    return {
        "path": str(p),
        "kind": kind,
        "format": FORMAT,
        "container": "zarr",
        "shape": list(shape),
        "dtype": form.dtype,
        "bits": form.bits,
        "channels": None if ca is None else shape[ca],
        "planes": _spatial(shape, ca)[0] if kind == "volume" else None,
        "chunks": list(info["chunks"]),
        "shards": None if info["shards"] is None else list(info["shards"]),
        "zarr_format": info["zarr_format"],
        "attributes": info["attributes"],
        "ome": None if node.ome is None else (node.ome["version"] or "unknown"),
        "array_path": node.array_path,
        "channel_axis": ca,
    }


def _native(data: np.ndarray) -> np.ndarray:
    if data.dtype == np.bool_:
        return data.astype(np.uint8)
    if not data.dtype.isnative:
        return data.astype(data.dtype.newbyteorder("="))
    return data


def header(path: PathLike, kind: str = "auto", limits: Limits | None = None) -> Signal:
    """Return the signal :func:`read` would give, holding no samples (one row of none).

    Its ``data`` is an empty array of the store's dtype (native byte order) with the shape's
    first axis 0; ``kind``, ``channel_axis`` and ``form`` are those of :func:`read`.  Only
    the metadata is read, and only the chunk budgets apply (a store filtered chunk by chunk
    may be larger than ``max_voxels``).

    Raises
    ------
    SignalReadError
        As :func:`read_form` and :func:`kind_of`.
    """
    p = Path(path)
    node = _open(p)
    dt = _check(p, node, DEFAULT_LIMITS if limits is None else limits)
    shape = tuple(int(n) for n in node.array.shape)
    signal_kind, ca = kind_of(p, shape, node.channel_axis, node.ome is not None, kind)
    empty = np.empty((0, *shape[1:]), dtype=_native(np.empty(0, dt)).dtype)
    return Signal(empty, signal_kind, ca, source=p, form=_form(node, dt))


def read(
    path: PathLike, kind: str = "auto", gray: bool = False, limits: Limits | None = None
) -> Signal:
    """Read a (small) Zarr array into memory.

    Parameters
    ----------
    path : str or os.PathLike
        The store.
    kind : str, optional
        What to read it as (:func:`kind_of`).
    gray : bool, optional
        Images and volumes with a channel axis: convert to one channel
        (:func:`convcli.io.pillow_image.to_gray`).
    limits : Limits, optional
        The budgets (see the module docstring); the whole array must fit ``max_voxels``.

    Returns
    -------
    Signal
        With the :func:`read_form` form.

    Raises
    ------
    SignalReadError
        As :func:`read_form`; a shape the kind cannot take; a damaged chunk.
    LimitError
        Over budget: larger arrays are for :func:`open_dask`.
    """
    p = Path(path)
    limits = DEFAULT_LIMITS if limits is None else limits
    node = _open(p)
    form = _form(node, _check(p, node, limits))
    shape = tuple(int(n) for n in node.array.shape)
    spatial = math.prod(_spatial(shape, node.channel_axis))
    if limits.max_voxels is not None and spatial > limits.max_voxels:
        raise over_limit(
            f"{p}: {'x'.join(map(str, shape))} is {spatial} samples, more than the limit of "
            f"{limits.max_voxels} to load whole; write it to a Zarr store, which is filtered "
            f"chunk by chunk",
            "max_voxels",
        )
    signal_kind, channel_axis = kind_of(p, shape, node.channel_axis, node.ome is not None, kind)
    _check_kind(p, shape, channel_axis, signal_kind, limits)
    try:
        data = _native(np.asarray(node.array[...]))
    except Exception as exc:
        raise SignalReadError(f"{p}: cannot read Zarr chunks: {one_line(exc)}") from None
    if gray and signal_kind in ("image", "volume") and channel_axis is not None:
        from .pillow_image import to_gray

        data, channel_axis = to_gray(data, channel_axis, p), None
        form = copy.copy(form)
        form.dtype = data.dtype.name
    return Signal(data, signal_kind, channel_axis, source=p, form=form)


def _read_chunk(array: Any, region: tuple[slice, ...]) -> np.ndarray:
    return _native(np.asarray(array[region]))


def open_dask(path: PathLike, limits: Limits | None = None) -> Any:
    """Open a Zarr store as a lazy dask array, one task per stored chunk.

    Parameters
    ----------
    path : str or os.PathLike
        The store (an OME image: its highest resolution).
    limits : Limits, optional
        The budgets checked (see the module docstring).

    Returns
    -------
    dask.array.Array
        Chunked as stored; bool is read as uint8 and big-endian data in native order.

    Raises
    ------
    SignalReadError
        As :func:`read_form`; a damaged chunk raises when computed.

    Examples
    --------
    >>> import tempfile, numpy as np, zarr
    >>> with tempfile.TemporaryDirectory() as d:
    ...     z = zarr.create_array(d + "/v.zarr", shape=(6, 4), chunks=(4, 4), dtype="int16")
    ...     z[...] = np.arange(24).reshape(6, 4)
    ...     x = open_dask(d + "/v.zarr")
    ...     x.chunks, int(x.sum().compute())
    (((4, 2), (4,)), 276)
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
    from dask.task_spec import DataNode, Task, TaskRef

    p = Path(path)
    node = _open(p)
    dt = _check(p, node, DEFAULT_LIMITS if limits is None else limits)
    arr = node.array
    chunks = da.core.normalize_chunks(tuple(arr.chunks), tuple(arr.shape), dtype=dt)
    name = f"zarr-read-{tokenize(str(p.resolve()), arr.metadata.to_dict())}"
    store_key = f"{name}-store"
    tasks: dict[Any, Any] = {store_key: DataNode(store_key, arr)}
    bounds = [np.cumsum([0, *c]).tolist() for c in chunks]
    for index in np.ndindex(*(len(c) for c in chunks)):
        region = tuple(slice(b[i], b[i + 1]) for b, i in zip(bounds, index))
        key = (name, *index)
        # a data producer: the scheduler reads no more chunks than the blocks can take
        tasks[key] = Task(key, _read_chunk, TaskRef(store_key), region, _data_producer=True)
    graph = HighLevelGraph.from_collections(name, tasks, dependencies=())
    native = _native(np.empty(0, dt)).dtype
    return da.Array(graph, name, chunks, meta=np.empty((0,) * arr.ndim, dtype=native))


class ZarrRowReader:
    """Rows ``[start, stop)`` along axis 0 of a Zarr array, read on demand.

    The interface of :class:`convcli.stream.RowSource` (``shape``, ``dtype``, ``read``,
    ``take``, ``may_hold_nonfinite``, ``close``), so the single-machine streaming path can
    read a store slab by slab.

    Parameters
    ----------
    path : str or os.PathLike
        The store.
    limits : Limits, optional
        The budgets checked (see the module docstring).

    Examples
    --------
    >>> import tempfile, numpy as np, zarr
    >>> with tempfile.TemporaryDirectory() as d:
    ...     z = zarr.create_array(d + "/v.zarr", shape=(5, 2), chunks=(2, 2), dtype="uint8")
    ...     z[...] = np.arange(10).reshape(5, 2)
    ...     r = ZarrRowReader(d + "/v.zarr")
    ...     r.shape, r.read(1, 3).tolist(), r.take(np.array([4, 0])).tolist()
    ((5, 2), [[2, 3], [4, 5]], [[8, 9], [0, 1]])
    """

    def __init__(self, path: PathLike, limits: Limits | None = None) -> None:
        self.path = Path(path)
        node = _open(self.path)
        dt = _check(self.path, node, DEFAULT_LIMITS if limits is None else limits)
        self.form = _form(node, dt)
        self._array: Any = node.array
        self.shape: tuple[int, ...] = tuple(int(n) for n in node.array.shape)
        self.dtype: np.dtype = _native(np.empty(0, dt)).dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return rows ``start:stop`` (``0 <= start <= stop <= shape[0]``)."""
        if not 0 <= start <= stop <= self.shape[0]:
            raise ValueError(f"rows {start}:{stop} are outside 0:{self.shape[0]}")
        try:
            return _native(np.asarray(self._array[start:stop]))
        except Exception as exc:
            raise SignalReadError(
                f"{self.path}: cannot read Zarr rows {start}:{stop}: {one_line(exc)}"
            ) from None

    def take(self, index: np.ndarray) -> np.ndarray:
        """Return the rows at ``index`` (any order, repeats allowed), reading each run once."""
        index = np.asarray(index, dtype=np.intp)
        if index.size == 0:
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)
        lo, hi = int(index.min()), int(index.max()) + 1
        return self.read(lo, hi)[index - lo]

    @property
    def may_hold_nonfinite(self) -> bool:
        """Whether rows may hold NaN or Inf."""
        return self.dtype.kind == "f"

    def close(self) -> None:
        """Forget the store (nothing stays open between reads)."""
        self._array = None
