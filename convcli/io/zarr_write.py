"""Writing Zarr stores: a dask array chunk by chunk, or rows in order, atomically.

What is written keeps the input's form (:class:`convcli.io.Form`, ``info``): its Zarr format,
chunk shape (divided by the stride when one is given), shards, compressors, and -- when the
dtype is unchanged -- its filters, serializer and fill value; its attributes and dimension
names.  An OME-Zarr image is written back as a **single-scale** OME-Zarr image: the same
group attributes (axes, name, ``omero``...) with ``datasets`` reduced to the first, whose
``scale`` and ``translation`` :func:`single_scale_form` updates for the stride and for where
output sample 0 lies; the other resolution levels are not rebuilt (a pyramid is a
downsampling decision, not the filter's) and ``labels`` are not copied.

Every write goes into a hidden temporary folder beside the target, renamed into place when
complete (:func:`convcli.io.atomic.atomic_folder`): an interrupted run leaves no partial store.
Chunks are written by whole chunks (by whole shards when sharded), so tasks running at once
never write the same stored object (a writing task holds a whole shard).

zarr and dask are imported only when used.  Reading is :mod:`convcli.io.zarr_read`.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import ArgumentError, SignalWriteError
from ._signal import Form
from ._watch import one_line
from .atomic import atomic_folder
from .zarr_read import _multiscales

__all__ = [
    "stored_grid",
    "save_dask",
    "store_dask",
    "single_scale_form",
    "ZarrBlockWriter",
]

PathLike = str | os.PathLike[str]


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
    if len(info.get("chunks") or shape) != len(shape):  # an axis went (--gray): no OME axes
        info = {k: v for k, v in info.items() if k not in ("ome", "dimension_names")}
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
    where = os.path.abspath(root)  # write tasks may run in other processes, elsewhere
    try:
        if ome is None:
            return zarr.create_array(where, attributes=info.get("attributes") or {}, **kwargs)
        group = zarr.open_group(
            where, mode="w", zarr_format=fmt, attributes=ome["group_attributes"]
        )
        kwargs.pop("zarr_format")
        return group.create_array(
            info["array_path"], attributes=info.get("attributes") or {}, **kwargs
        )
    except (ValueError, TypeError) as exc:
        raise SignalWriteError(f"{root}: cannot create the Zarr array: {one_line(exc)}") from None


#: What a block goes through before it is written: ``finish(block) -> (block, counts)``,
#: ``counts`` a tuple of ints summed over every block (convcli's cast: the clipped samples).
Finish = Callable[[np.ndarray], tuple[np.ndarray, tuple[int, ...]]]


def cast_block(block: np.ndarray, dtype: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Cast a block as convcli casts every output: round, clip, count what was clipped.

    Examples
    --------
    >>> cast_block(np.array([0.4, 300.0]), "uint8")
    (array([  0, 255], dtype=uint8), (1,))
    """
    from .dtypes import cast

    out, clipped = cast(block, dtype)
    return out, (int(clipped),)


def _store_block(
    block: np.ndarray,
    array: Any,
    region: tuple[slice, ...],
    finish: Finish | None,
    width: int,
    live: str,
) -> np.ndarray:
    """Finish one block (cast it, count) and write it; return its counts.

    Nothing is written once ``live`` is gone (the run failed or was interrupted).
    """
    counts: tuple[int, ...] = (0,) * width
    if finish is not None:
        block, counts = finish(block)
    if not os.path.exists(live):
        raise SignalWriteError(f"{live}: the write was abandoned")
    array[region] = block
    return np.array(counts, dtype=np.int64).reshape((1,) * block.ndim + (width,))


def _write_graph(darr: Any, array: Any, finish: Finish | None, width: int, live: Path) -> Any:
    """Return a lazy array of per-block counts (last axis), each block written when computed."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
    from dask.task_spec import DataNode, Task, TaskRef

    name = f"zarr-write-{tokenize(darr.name, finish, str(array.store_path))}"
    target = f"{name}-target"
    tasks: dict[Any, Any] = {target: DataNode(target, array)}
    bounds = [np.cumsum([0, *c]).tolist() for c in darr.chunks]
    for index in np.ndindex(*darr.numblocks):
        region = tuple(slice(b[i], b[i + 1]) for b, i in zip(bounds, index))
        key = (name, *index, 0)
        tasks[key] = Task(
            key,
            _store_block,
            TaskRef((darr.name, *index)),
            TaskRef(target),
            region,
            finish,
            width,
            os.path.abspath(live),
        )
    graph = HighLevelGraph.from_collections(name, tasks, dependencies=[darr])
    chunks = (*((1,) * n for n in darr.numblocks), (width,))
    return da.Array(graph, name, chunks, meta=np.empty((0,) * (darr.ndim + 1), dtype=np.int64))


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
    from functools import partial

    out_dtype = np.dtype(dtype) if dtype is not None else np.dtype(darr.dtype)
    finish = None if dtype is None else partial(cast_block, dtype=out_dtype.name)
    counts, _ = store_dask(
        darr,
        path,
        like,
        overwrite=overwrite,
        protect=protect,
        dtype=out_dtype,
        finish=finish,
        chunks=chunks,
        shards=shards,
        scheduler=scheduler,
    )
    return counts[0]


def store_dask(
    darr: Any,
    path: PathLike,
    like: Form | None = None,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
    dtype: np.dtype | str | None = None,
    finish: Finish | None = None,
    width: int = 1,
    also: Sequence[Any] = (),
    chunks: Sequence[int] | None = None,
    shards: Sequence[int] | None = None,
    scheduler: Any = None,
    threads: int | None = None,
) -> tuple[tuple[int, ...], list[Any]]:
    """Write a dask array to a new Zarr store, each block finished by ``finish``; atomically.

    :func:`save_dask` with a block function of the caller's (``finish(block) -> (block,
    counts)``, a picklable callable that casts the block to ``dtype`` and counts what it
    did: convcli's jobs post-process and cast this way), and other lazy values computed in
    the same pass over the data (``also``: a count over the input, say).

    Parameters
    ----------
    darr, path, like, overwrite, protect, chunks, shards, scheduler
        As for :func:`save_dask`.
    dtype : numpy.dtype or str, optional
        The stored dtype: what ``finish`` gives (default ``darr``'s).
    finish : callable, optional
        Applied to each block before it is written; default: written as it is.
    width : int, optional
        How many counts ``finish`` gives.
    also : sequence, optional
        Lazy dask values computed with the write.
    threads : int, optional
        Local threads, when ``scheduler`` is None (default: one per core).

    Returns
    -------
    (tuple of int, list)
        The counts summed over every block, and the values of ``also``.

    Raises
    ------
    OutputExistsError, SignalWriteError
        As :func:`save_dask`; and whatever ``finish`` raises.
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
        counts = _write_graph(darr, array, finish, width, live)
        total = counts.sum(axis=tuple(range(darr.ndim)))
        try:
            values = _compute([total, *also], scheduler, threads, watch=counts.name)
        finally:
            live.unlink()
    return tuple(int(c) for c in values[0]), list(values[1:])


#: A file in a store being written: write tasks write only while it exists, so a task that
#: outlives a failed or interrupted run cannot recreate the removed temporary folder.
_LIVE_MARK = ".convcli-writing"


def _compute(
    values: list[Any], scheduler: Any, threads: int | None = None, watch: str = ""
) -> list[Any]:
    """Compute lazy ``values``; on any failure, return only once no write task is running.

    Local threads run on a pool of this function's own, shut down (waiting for the tasks in
    progress) before the failure propagates; on a :class:`distributed.Client` the
    computation is cancelled and the workers are waited for (until none runs a task whose
    key holds ``watch``).  Any other scheduler is :func:`dask.compute`'s.
    """
    import dask

    if scheduler is None or scheduler == "threads":
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1)
        try:
            return list(dask.compute(*values, scheduler="threads", pool=pool))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if hasattr(scheduler, "compute") and hasattr(scheduler, "cancel"):  # distributed.Client
        futures = scheduler.compute(values)
        try:
            return list(scheduler.gather(futures))
        except BaseException:
            _cancel(scheduler, futures, watch)
            raise
    return list(dask.compute(*values, scheduler=scheduler))


def _cancel(client: Any, futures: Any, name: str, timeout: float = 30.0) -> None:
    """Cancel a computation and wait (up to ``timeout`` s) until no worker still runs it."""
    import time

    with contextlib.suppress(Exception):
        client.cancel(futures)
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
