"""Zarr stores (format 2 and 3) as arrays and volumes: read, open lazily, write chunk by chunk.

A Zarr store is a folder identified by its content, never by its name: ``zarr.json`` (format
3), ``.zarray`` or ``.zgroup`` (format 2), each a regular file.  What is read:

- an **array** at the store's root;
- an **OME-Zarr image** (a group whose attributes hold ``multiscales``, OME-NGFF 0.4 in
  format 2 or ``ome.multiscales``, 0.5, in format 3): the highest-resolution array,
  ``multiscales[0].datasets[0]``, and :func:`probe` says so (``ome`` and ``array_path``).
  An axis whose OME type is ``channel`` is the channel axis.
  Any other group is refused, naming what it lacks.

What is written keeps the input's form (:class:`convcli.io.Form`, ``info``): its Zarr format,
chunk shape (divided by the stride when one is given), shards, compressors, and — when the
dtype is unchanged — its filters, serializer and fill value; its attributes and dimension
names.  An OME-Zarr image is written back as a **single-scale** OME-Zarr image: the same
group attributes (axes, name, ``omero``...) with ``datasets`` reduced to the first, whose
``scale`` and ``translation`` :func:`single_scale_form` updates for the stride and for where
output sample 0 lies; the other resolution levels are not rebuilt (a pyramid is a
downsampling decision, not the filter's) and ``labels`` are not copied.

Every write goes into a hidden temporary folder beside the target, renamed into place when
complete (:func:`convcli.io.atomic.atomic_folder`): an interrupted run leaves no partial store.
Chunks are written by whole chunks (by whole shards when sharded), so tasks running at once
never write the same stored object.

Budgets (:class:`convcli.io.Limits`), checked from the metadata before any chunk is read:
every array may be addressed at all; a chunk holds at most ``max_pixels`` elements, since
one is decoded whole in memory (a sharded store is read chunk by chunk but written shard by
shard: a writing task holds a whole shard); channels at most ``max_channels``; and
:func:`load`, which reads the whole array into memory, at most ``max_voxels`` elements
(spatial) — larger stores are for :func:`open_dask` and :func:`convcli.dask.filter_zarr`.

zarr (and dask, for :func:`open_dask` and :func:`save_dask`) are imported only when used.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import ArgumentError, SignalReadError, SignalWriteError
from ._signal import Form, Signal
from ._watch import one_line
from .atomic import atomic_folder
from .limits import DEFAULT_LIMITS, Limits, over_limit, regular_file

__all__ = [
    "FORMAT",
    "identify",
    "probe",
    "read_form",
    "load",
    "open_dask",
    "save_dask",
    "stored_grid",
    "single_scale_form",
    "ZarrRowReader",
    "ZarrBlockWriter",
]

PathLike = str | os.PathLike[str]

#: The format name, as :class:`convcli.io.Form` and ``convcli info`` give it.
FORMAT = "ZARR"

_METADATA = ("zarr.json", ".zarray", ".zgroup")


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
    for name in _METADATA:
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
        node = zarr.open(store=str(p), mode="r")
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


def probe(path: PathLike, limits: Limits | None = None) -> dict[str, Any]:
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
        ``path``, ``kind`` (``"array"``), ``format`` (``"ZARR"``), ``container``
        (``"zarr"``), ``shape``, ``dtype``, ``bits``, ``channels`` (the OME channel axis's
        length, else None), ``chunks``, ``shards``, ``zarr_format``, ``attributes`` (of the
        array), ``ome`` (the OME-NGFF version, or None), ``array_path`` (the array read,
        ``""`` for the root) and ``channel_axis``.

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
    ...     info = probe(d + "/v.zarr")
    >>> info["shape"], info["dtype"], info["chunks"], info["zarr_format"], info["attributes"]
    ([8, 6], 'uint16', [4, 3], 2, {'unit': 'um'})
    """
    p = Path(path)
    node = _open(p)
    form = _form(node, _check(p, node, DEFAULT_LIMITS if limits is None else limits))
    info = form.info
    shape = [int(n) for n in node.array.shape]
    ca = node.channel_axis
    return {
        "path": str(p),
        "kind": "array",
        "format": FORMAT,
        "container": "zarr",
        "shape": shape,
        "dtype": form.dtype,
        "bits": form.bits,
        "channels": None if ca is None else shape[ca],
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


def load(path: PathLike, kind: str = "auto", limits: Limits | None = None) -> Signal:
    """Load a (small) Zarr array into memory.

    Parameters
    ----------
    path : str or os.PathLike
        The store.
    kind : str, optional
        ``"auto"``/``"array"``: every axis spatial, but the OME channel axis if the metadata
        names one.  ``"image"`` (2 axes, or 3 with channels last) and ``"volume"`` (3, or 4
        with channels last) read it as those kinds.  Not ``"audio"``.
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
    from .npy import check_npy_limits

    p = Path(path)
    limits = DEFAULT_LIMITS if limits is None else limits
    node = _open(p)
    form = _form(node, _check(p, node, limits))
    shape = tuple(int(n) for n in node.array.shape)
    spatial = math.prod(n for a, n in enumerate(shape) if a != node.channel_axis)
    if limits.max_voxels is not None and spatial > limits.max_voxels:
        raise over_limit(
            f"{p}: {'x'.join(map(str, shape))} is {spatial} samples, more than the limit of "
            f"{limits.max_voxels} to load whole; write it to a Zarr store, which is filtered "
            f"chunk by chunk",
            "max_voxels",
        )
    if kind == "audio":
        raise SignalReadError(f"{p}: a Zarr store cannot be read as audio")
    check_npy_limits(p, shape, kind, limits)
    channel_axis = node.channel_axis
    if kind in ("image", "volume"):
        ndim = {"image": (2, 3), "volume": (3, 4)}[kind]
        if len(shape) not in ndim:
            raise SignalReadError(
                f"{p}: a {'x'.join(map(str, shape))} array cannot be read as {kind}: it takes "
                f"{ndim[0]} axes, or {ndim[1]} with channels last"
            )
        channel_axis = ndim[1] - 1 if len(shape) == ndim[1] else None
    elif kind not in ("auto", "array"):
        raise ArgumentError(f"kind {kind!r} is not one of auto, array, image, volume")
    try:
        data = np.asarray(node.array[...])
    except Exception as exc:
        raise SignalReadError(f"{p}: cannot read Zarr chunks: {one_line(exc)}") from None
    signal_kind = "array" if kind == "auto" else kind
    return Signal(_native(data), signal_kind, channel_axis, source=p, form=form)


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


# --------------------------------------------------------------------------- writing


def stored_grid(
    like: Form | None,
    shape: Sequence[int],
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """Return the chunk shape and shard shape a store of ``shape`` is written with.

    ``chunks`` and ``shards`` when given; else ``like``'s when it has as many axes; else up
    to 64 per axis (512 for one and two axes), unsharded.  Chunks are cut to the shape, and
    shards to whole chunks covering it.

    Examples
    --------
    >>> stored_grid(None, (1000, 30))
    ((512, 30), None)
    >>> stored_grid(None, (10, 100), chunks=(16, 8), shards=(32, 32))
    ((10, 8), (10, 32))
    """
    info = like.info if like is not None and like.container == "zarr" else {}
    ndim = len(shape)
    if chunks is None:
        kept = info.get("chunks")
        if kept is not None and len(kept) == ndim:
            chunks = kept
            shards = info.get("shards") if shards is None else shards
    if chunks is None:
        chunks = tuple(64 if ndim >= 3 else 512 for _ in shape)
    if len(chunks) != ndim or any(int(c) < 1 for c in chunks):
        raise ArgumentError(f"chunks {tuple(chunks)} do not fit an array of shape {tuple(shape)}")
    out_chunks = tuple(min(int(c), int(n)) for c, n in zip(chunks, shape))
    if shards is None:
        return out_chunks, None
    if len(shards) != ndim or any(int(s) % int(c) for s, c in zip(shards, chunks)):
        raise ArgumentError(f"shards {tuple(shards)} are not whole numbers of chunks {chunks}")
    out_shards = tuple(
        min(int(s), -(-int(n) // c) * c) for s, c, n in zip(shards, out_chunks, shape)
    )
    return out_chunks, out_shards


def _create(
    root: Path,
    shape: Sequence[int],
    dtype: np.dtype,
    like: Form | None,
    chunks: Sequence[int] | None,
    shards: Sequence[int] | None,
) -> Any:
    """Create an empty array (inside an OME group when ``like`` is one) under ``root``."""
    import zarr

    info = like.info if like is not None and like.container == "zarr" else {}
    fmt: Literal[2, 3] = 2 if info.get("zarr_format") == 2 else 3
    chunk_shape, shard_shape = stored_grid(like, shape, chunks, shards)
    same = like is not None and like.dtype is not None and np.dtype(like.dtype) == dtype
    kwargs: dict[str, Any] = {
        "shape": tuple(int(n) for n in shape),
        "dtype": dtype,
        "chunks": chunk_shape,
        "zarr_format": fmt,
    }
    if "compressors" in info:
        kwargs["compressors"] = info["compressors"] or None
    if same:
        kwargs["filters"] = info.get("filters") or None
        if fmt == 3 and info.get("serializer") is not None:
            kwargs["serializer"] = info["serializer"]
        if info.get("fill_value") is not None:
            kwargs["fill_value"] = info["fill_value"]
    if fmt == 3:
        if shard_shape is not None:
            kwargs["shards"] = shard_shape
        names = info.get("dimension_names")
        if names is not None and len(names) == len(shape):
            kwargs["dimension_names"] = names
    ome = info.get("ome")
    try:
        if ome is None:
            return zarr.create_array(str(root), attributes=info.get("attributes") or {}, **kwargs)
        group = zarr.open_group(
            str(root), mode="w", zarr_format=fmt, attributes=ome["group_attributes"]
        )
        kwargs.pop("zarr_format")
        return group.create_array(
            info["array_path"], attributes=info.get("attributes") or {}, **kwargs
        )
    except (ValueError, TypeError) as exc:
        raise SignalWriteError(f"{root}: cannot create the Zarr array: {one_line(exc)}") from None


def _store_block(
    block: np.ndarray, array: Any, region: tuple[slice, ...], dtype: str | None, live: str
) -> np.ndarray:
    """Cast one block (round, clip, count) and write it; return its clipped count.

    Nothing is written once ``live`` is gone (the run failed or was interrupted).
    """
    from .dtypes import cast

    clipped = 0
    if dtype is not None:
        block, clipped = cast(block, dtype)
    if not os.path.exists(live):
        raise SignalWriteError(f"{live}: the write was abandoned")
    array[region] = block
    return np.full((1,) * block.ndim, clipped, dtype=np.int64)


def _write_graph(darr: Any, array: Any, dtype: str | None, live: Path) -> Any:
    """Return a lazy array of per-block clipped counts, each block written when computed."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
    from dask.task_spec import DataNode, Task, TaskRef

    name = f"zarr-write-{tokenize(darr.name, dtype, str(array.store_path))}"
    target = f"{name}-target"
    tasks: dict[Any, Any] = {target: DataNode(target, array)}
    bounds = [np.cumsum([0, *c]).tolist() for c in darr.chunks]
    for index in np.ndindex(*darr.numblocks):
        region = tuple(slice(b[i], b[i + 1]) for b, i in zip(bounds, index))
        key = (name, *index)
        tasks[key] = Task(
            key,
            _store_block,
            TaskRef((darr.name, *index)),
            TaskRef(target),
            region,
            dtype,
            str(live),
        )
    graph = HighLevelGraph.from_collections(name, tasks, dependencies=[darr])
    chunks = tuple((1,) * n for n in darr.numblocks)
    return da.Array(graph, name, chunks, meta=np.empty((0,) * darr.ndim, dtype=np.int64))


def save_dask(
    darr: Any,
    path: PathLike,
    like: Form | None = None,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
    dtype: np.dtype | str | None = None,
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    scheduler: Any = None,
) -> int:
    """Write a dask array to a new Zarr store, chunk by chunk, atomically.

    The store is built in a hidden temporary folder beside ``path`` and renamed into place
    once every chunk is written (:func:`convcli.io.atomic.atomic_folder`); any failure, or
    an interruption, removes it.  Each task writes whole stored chunks (whole shards), so
    tasks running at once never touch the same stored object; ``darr`` is rechunked to
    that grid if its chunks do not match it.

    Parameters
    ----------
    darr : dask.array.Array
        The data.
    path : str or os.PathLike
        The store to write (a folder; ``*.zarr`` by convention).
    like : Form, optional
        The form to keep (see the module docstring): Zarr format (default 3), chunks,
        shards, compressors, attributes, dimension names, OME group; filters, serializer
        and fill value when the dtype is ``like``'s.
    overwrite : bool, optional
        Replace an existing store (never one of ``protect``).
    protect : iterable of str or os.PathLike, optional
        Paths never written (the inputs).
    dtype : numpy.dtype or str, optional
        Cast each block to it first, as convcli casts every output
        (:func:`convcli.io.cast`: round half to even, clip to the range, count the clipped
        samples); default: write ``darr`` as it is.
    chunks, shards : sequence of int, optional
        The stored chunk (and shard) shape; default ``like``'s when it has as many axes,
        else up to 64 per axis (512 for 1-D and 2-D).
    scheduler : optional
        What :func:`dask.compute` takes: None (local threads), ``"synchronous"``, a
        :class:`distributed.Client`...

    Returns
    -------
    int
        The number of samples clipped (0 without ``dtype``), summed over every block.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false, or is one of ``protect``.
    SignalWriteError
        The parent folder is missing or not writable, or Zarr refuses the form.

    Examples
    --------
    >>> import tempfile, numpy as np, dask.array as da, zarr
    >>> x = da.from_array(np.array([[0.4, 1.6], [300.0, -2.0]]), chunks=1)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     clipped = save_dask(x, d + "/out.zarr", dtype="uint8", chunks=(1, 2))
    ...     clipped, zarr.open_array(d + "/out.zarr")[...]
    (2, array([[  0,   2],
           [255,   0]], dtype=uint8))
    """
    out_dtype = np.dtype(dtype) if dtype is not None else np.dtype(darr.dtype)
    with atomic_folder(path, overwrite=overwrite, protect=protect) as tmp:
        array = _create(tmp, darr.shape, out_dtype, like, chunks, shards)
        grid = array.shards if array.shards is not None else array.chunks
        target = tuple(
            tuple(min(g, n - i) for i in range(0, n, g)) for g, n in zip(grid, darr.shape)
        )
        if tuple(darr.chunks) != target:
            darr = darr.rechunk(target)
        live = tmp / _LIVE_MARK
        live.touch()
        counts = _write_graph(darr, array, None if dtype is None else out_dtype.name, live)
        try:
            total = _compute(counts, scheduler)
        finally:
            live.unlink()
    return int(total)


#: A file in a store being written: write tasks write only while it exists, so a task that
#: outlives a failed or interrupted run cannot recreate the removed temporary folder.
_LIVE_MARK = ".convcli-writing"


def _compute(counts: Any, scheduler: Any) -> Any:
    """Sum the clipped ``counts``; on any failure, return only once no write task is running.

    Local threads run on a pool of this function's own, shut down (waiting for the tasks in
    progress) before the failure propagates; on a :class:`distributed.Client` the
    computation is cancelled and the workers are waited for.  Any other scheduler is
    :func:`dask.compute`'s.
    """
    import dask

    total = counts.sum()
    if scheduler is None or scheduler == "threads":
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        try:
            (value,) = dask.compute(total, scheduler="threads", pool=pool)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return value
    if hasattr(scheduler, "compute") and hasattr(scheduler, "cancel"):  # distributed.Client
        future = scheduler.compute(total)
        try:
            return future.result()
        except BaseException:
            _cancel(scheduler, future, counts.name)
            raise
    (value,) = dask.compute(total, scheduler=scheduler)
    return value


def _cancel(client: Any, future: Any, name: str, timeout: float = 30.0) -> None:
    """Cancel a computation and wait (up to ``timeout`` s) until no worker still runs it."""
    import time

    with contextlib.suppress(Exception):
        client.cancel(future)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = client.processing()
            if not any(name in str(key) for keys in busy.values() for key in keys):
                return
            time.sleep(0.05)


def single_scale_form(form: Form, steps: Sequence[int], origins: Sequence[float]) -> Form:
    """Return the form of a filtered copy: an OME image's coordinates after a stride.

    Output sample ``o`` of an axis lies at input position ``origins[a] + o * steps[a]``; the
    first dataset's ``scale`` is multiplied by ``steps`` and its ``translation`` moved by
    ``origins`` (in the old scale's units; a translation is added when needed), and only
    that dataset is kept (see the module docstring).  The chunk and shard shapes are
    divided by ``steps`` (rounded up).  A store that is not an OME image keeps its
    attributes as they are.

    Parameters
    ----------
    form : Form
        The input's form (:func:`read_form`).
    steps : sequence of int
        Stride per axis (1 on a channel axis).
    origins : sequence of float
        Input position of output sample 0, per axis (0 on a channel axis).

    Returns
    -------
    Form
        A new form; ``form`` is unchanged.

    Examples
    --------
    >>> attrs = {"multiscales": [{"version": "0.4", "axes": [{"name": "y"}, {"name": "x"}],
    ...     "datasets": [{"path": "0", "coordinateTransformations": [
    ...         {"type": "scale", "scale": [0.5, 0.5]}]}, {"path": "1"}]}]}
    >>> f = Form(container="zarr", info={"chunks": (64, 64), "shards": None, "ome":
    ...     {"version": "0.4", "layout": "top", "group_attributes": attrs}})
    >>> g = single_scale_form(f, [2, 2], [0.5, 0.5])
    >>> [ds] = g.info["ome"]["group_attributes"]["multiscales"][0]["datasets"]
    >>> ds["coordinateTransformations"]
    [{'type': 'scale', 'scale': [1.0, 1.0]}, {'type': 'translation', 'translation': [0.25, 0.25]}]
    >>> g.info["chunks"]
    (32, 32)
    """
    info = copy.deepcopy(form.info)
    if info.get("chunks") is not None:
        old = info["chunks"]
        info["chunks"] = tuple(-(-int(c) // s) for c, s in zip(old, steps))
        if info.get("shards") is not None:
            info["shards"] = tuple(
                n * (int(sh) // int(c)) for n, sh, c in zip(info["chunks"], info["shards"], old)
            )
    ome = info.get("ome")
    if ome is not None:
        attrs = ome["group_attributes"]
        multiscales, _ = _multiscales(attrs)
        if multiscales:
            ms0 = multiscales[0]
            ds0 = ms0["datasets"][0]
            ds0["coordinateTransformations"] = _moved(
                ds0.get("coordinateTransformations"), steps, origins
            )
            ms0["datasets"] = [ds0]
            del multiscales[1:]
    return replace(form, info=info)


def _moved(transforms: Any, steps: Sequence[int], origins: Sequence[float]) -> Any:
    """Scale and translate an OME dataset's coordinate transformations (see above)."""
    if not isinstance(transforms, list):
        return transforms
    out = copy.deepcopy(transforms)
    scale = next((t for t in out if isinstance(t, dict) and t.get("type") == "scale"), None)
    if scale is None or not isinstance(scale.get("scale"), list):
        return out
    old = [float(v) for v in scale["scale"]]
    if len(old) != len(steps):
        return out
    scale["scale"] = [v * s for v, s in zip(old, steps)]
    shift = [o * v for o, v in zip(origins, old)]
    move = next((t for t in out if isinstance(t, dict) and t.get("type") == "translation"), None)
    if move is not None and isinstance(move.get("translation"), list):
        move["translation"] = [float(t) + d for t, d in zip(move["translation"], shift)]
    elif any(shift):
        out.append({"type": "translation", "translation": shift})
    return out


# --------------------------------------------------------------------------- rows and blocks


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


class ZarrBlockWriter:
    """Write a Zarr store block by block, in order along axis 0, atomically.

    Blocks of any height are buffered up to whole stored chunk rows (shard rows when
    sharded), so every stored chunk is written once; memory is one chunk row plus a block.
    The store is built in a temporary folder beside ``path``; :meth:`close` renames it into
    place once every row is written, and :meth:`abort` (or leaving a ``with`` block by an
    exception) removes it.

    Parameters
    ----------
    path : str or os.PathLike
        The store to write.
    shape : sequence of int
        The whole array's shape.
    dtype : numpy.dtype or str
        Its dtype: blocks must come in it (cast them first, :func:`convcli.io.cast`).
    like : Form, optional
        The form to keep, as for :func:`save_dask`.
    overwrite : bool, optional
        Replace an existing store.
    protect : iterable of str or os.PathLike, optional
        Paths never written (the inputs).
    chunks, shards : sequence of int, optional
        As for :func:`save_dask`.

    Examples
    --------
    >>> import tempfile, numpy as np, zarr
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with ZarrBlockWriter(d + "/o.zarr", (5, 2), "int16", chunks=(2, 2)) as w:
    ...         w.write(np.zeros((3, 2), np.int16))
    ...         w.write(np.ones((2, 2), np.int16))
    ...     zarr.open_array(d + "/o.zarr")[:, 0].tolist()
    [0, 0, 0, 1, 1]
    """

    def __init__(
        self,
        path: PathLike,
        shape: Sequence[int],
        dtype: np.dtype | str,
        like: Form | None = None,
        *,
        overwrite: bool = False,
        protect: Iterable[PathLike] = (),
        chunks: Sequence[int] | None = None,
        shards: Sequence[int] | None = None,
    ) -> None:
        self.path = Path(path)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(
            atomic_folder(self.path, overwrite=overwrite, protect=protect)
        )
        try:
            self._array = _create(tmp, self.shape, self.dtype, like, chunks, shards)
        except BaseException:
            self.abort()
            raise
        grid = self._array.shards if self._array.shards is not None else self._array.chunks
        self._rows_per_write = int(grid[0])
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._written = 0
        self._open = True

    def write(self, block: np.ndarray) -> None:
        """Append rows along axis 0."""
        if not self._open:
            raise ValueError(f"{self.path}: the writer is closed")
        block = np.asarray(block)
        if block.dtype != self.dtype or block.shape[1:] != self.shape[1:]:
            raise ArgumentError(
                f"{self.path}: a block of {block.shape} {block.dtype} does not fit rows of "
                f"{self.shape[1:]} {self.dtype}"
            )
        if self._written + self._pending_rows + block.shape[0] > self.shape[0]:
            raise ArgumentError(f"{self.path}: more than {self.shape[0]} rows written")
        self._pending.append(block)
        self._pending_rows += block.shape[0]
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        end = self._written + self._pending_rows
        if not final:
            end -= end % self._rows_per_write
        if end <= self._written:
            return
        rows = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        n = end - self._written
        try:
            self._array[self._written : end] = rows[:n]
        except Exception as exc:
            raise SignalWriteError(
                f"{self.path}: cannot write Zarr rows: {one_line(exc)}"
            ) from None
        self._pending = [rows[n:]] if n < rows.shape[0] else []
        self._pending_rows = rows.shape[0] - n
        self._written = end

    def close(self) -> None:
        """Write what is buffered and move the store into place."""
        if not self._open:
            return
        try:
            if self._written + self._pending_rows != self.shape[0]:
                raise SignalWriteError(
                    f"{self.path}: {self._written + self._pending_rows} of {self.shape[0]} rows "
                    f"written; nothing was saved"
                )
            self._flush(final=True)
        except BaseException:
            self.abort()
            raise
        self._open = False
        self._stack.close()

    def abort(self) -> None:
        """Remove the temporary store; nothing is written to ``path``."""
        if not self._open:
            return
        self._open = False
        err = SignalWriteError(f"{self.path}: aborted")
        with contextlib.suppress(SignalWriteError):
            self._stack.__exit__(SignalWriteError, err, None)

    def __enter__(self) -> ZarrBlockWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
