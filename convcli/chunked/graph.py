"""Chunked convolution of dask arrays: one task per output block, exact at every edge.

The graph has these tasks:

- the input's own chunks (read from Zarr, or whatever made ``x``);
- *cuts*: a piece of a chunk that another block needs (a halo, the far side of the array for
  ``circular``, a mirror image near an edge), copied so that the chunk need not be kept;
- *re-reads*: a block's own chunk, when it comes straight from storage (a data producer),
  is read again by the block rather than held while the block waits for its neighbours
  (in any order of work, a whole plane of chunks is read between a chunk and its last
  neighbour: holding them would make memory grow with the volume's cross-section);
- *blocks*: one per output chunk, which assembles its padded window from whole chunks and
  cuts (:func:`convcli.chunked.blocks.run_block`) and runs the engine on it, unpadded.

So a worker holds the chunks it is working on, and thin cuts (the cuts of a plane of chunks,
a few percent of it for a 3x3x3 kernel and 128^3 chunks).  No rechunking and no
``map_overlap``: a halo deeper than a chunk just takes pieces of more chunks, and the output
chunks are whatever the caller asks (by default, aligned with the input's:
:func:`anchored_chunks`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import product
from typing import Any

import numpy as np

from convcli.chunked.blocks import (
    AxisSpec,
    AxisWindow,
    EngineCall,
    axis_window,
    cut,
    run_block,
)
from convcli.errors import ArgumentError
from convcli.geometry import PaddingArg

__all__ = ["convolve", "require_dask", "axis_geometries", "anchored_chunks"]


def require_dask() -> Any:
    """Import and return :mod:`dask.array`, or say which extra to install.

    Raises
    ------
    ImportError
        dask is not installed.
    """
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - the test extra installs dask
        raise ImportError("convcli.dask needs dask: pip install 'convcli[dask]'") from exc
    return da


def axis_geometries(plan: Any) -> list[AxisSpec]:
    """Return every input axis's geometry from an engine plan (a channel axis: identity)."""
    axes = [AxisSpec(int(n), 1, 1, 0) for n in plan.input_shape]
    for a, g in zip(plan.spatial_axes, plan.geometry):
        axes[a] = AxisSpec(g.size, g.effective_kernel, g.stride, g.pad_lo)
    return axes


def anchored_chunks(chunks: Sequence[int], g: AxisSpec, out: int) -> tuple[int, ...]:
    """Output chunks along one axis: each output goes with the input chunk its window centres on.

    The centre of output ``o``'s window is input position ``o*s - p_lo + (k'-1)//2``; an
    input chunk boundary ``b`` becomes the first output whose centre is at or after it
    (empty output chunks are dropped).  With stride 1 and ``same`` padding (odd kernel) the
    output chunks are the input's.

    Examples
    --------
    >>> anchored_chunks((4, 4, 2), AxisSpec(10, 3, 1, 1), 10)
    (4, 4, 2)
    >>> anchored_chunks((4, 4, 2), AxisSpec(10, 3, 2, 2), 6)   # stride 2, full
    (3, 2, 1)
    """
    shift = g.pad_lo - (g.keff - 1) // 2
    cuts = [0]
    for b in np.cumsum(chunks)[:-1]:
        o = -(-(int(b) + shift) // g.stride)
        cuts.append(min(max(o, cuts[-1]), out))
    cuts.append(out)
    return tuple(b - a for a, b in zip(cuts, cuts[1:]) if b > a)


def _output_chunks(
    chunks: Any, x: Any, axes: Sequence[AxisSpec], shape: tuple[int, ...], dtype: np.dtype
) -> tuple[tuple[int, ...], ...]:
    if chunks is None:
        return tuple(anchored_chunks(c, g, n) for c, g, n in zip(x.chunks, axes, shape))
    da = require_dask()
    try:
        norm = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise ArgumentError(
            f"chunks {chunks!r} do not fit the output shape {shape}: {exc}"
        ) from None
    return tuple(tuple(int(c) for c in cs) for cs in norm)


class _Graph:
    """Builds the tasks of one chunked convolution (see the module docstring)."""

    def __init__(self, x: Any, token: str) -> None:
        from dask.task_spec import List, Task, TaskRef

        self._task, self._ref, self._list = Task, TaskRef, List
        self.xname = x.name
        self.in_chunks = x.chunks
        layer = x.__dask_graph__().layers.get(x.name)
        self._sources = layer if isinstance(layer, Mapping) else {}
        self.name = f"convcli-convolve-{token}"
        self.cut_name = f"convcli-cut-{token}"
        self.read_name = f"convcli-reread-{token}"
        self.call_key = f"convcli-call-{token}"
        self.tasks: dict[Any, Any] = {}
        self._cuts: dict[tuple[Any, ...], Any] = {}

    def whole(self, chunk: tuple[int, ...]) -> Any:
        """Return a reference to a whole chunk for a block.

        A chunk read straight from storage (a *data producer*: ``from_zarr``, ``from_array``,
        :func:`convcli.io.zarr_store.open_dask`) is read again by a task of the block's own,
        rather than held in memory from the time its neighbours' cuts are taken until every
        neighbour of its block has been read (a whole plane of chunks later, in any order).
        """
        key = (self.xname, *chunk)
        source: Any = self._sources.get(key)
        if not getattr(source, "data_producer", False) or source.func is None:
            return self._ref(key)
        again: Any = (self.read_name, *chunk)
        if again not in self.tasks:
            self.tasks[again] = self._task(
                again, source.func, *source.args, _data_producer=True, **source.kwargs
            )
        return self._ref(again)

    def part(self, chunk: tuple[int, ...], bounds: tuple[tuple[int, int], ...]) -> tuple[Any, bool]:
        """Return a reference to a whole chunk, or to a cut of it; and whether it is whole."""
        whole = True
        for (a, b), cs, c in zip(bounds, self.in_chunks, chunk):
            if a != 0 or b != cs[c]:
                whole = False
                break
        if whole:
            return self.whole(chunk), True
        key = self._cuts.get((chunk, bounds))
        if key is None:
            key = (self.cut_name, len(self._cuts))
            self._cuts[(chunk, bounds)] = key
            self.tasks[key] = self._task(key, cut, self._ref((self.xname, *chunk)), bounds)
        return self._ref(key), False

    def block(self, index: tuple[int, ...], windows: tuple[AxisWindow, ...]) -> None:
        """Add the task of one output block."""
        refs, whole = [], []
        if all(w.compact for w in windows):
            for combo in product(*(w.pieces for w in windows)):
                ref, is_whole = self.part(
                    tuple(p[0] for p in combo), tuple((p[1], p[2]) for p in combo)
                )
                refs.append(ref)
                whole.append(is_whole)
        key = (self.name, *index)
        self.tasks[key] = self._task(
            key, run_block, self._list(*refs), windows, tuple(whole), self._ref(self.call_key)
        )


def convolve(
    x: Any,
    kernel: object,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    method: str = "auto",
    channel_axis: int | None = None,
    chunks: Any = None,
) -> Any:
    """Correlate (or convolve) a dask array with a kernel, lazily, block by block.

    The arguments and the arithmetic are those of :func:`convcli.convolve` (see it for the
    pad-mode diagrams and the geometry); the result is a lazy dask array equal to
    ``convcli.convolve(x.compute(), kernel, ...)``.  Each output block reads exactly the input
    samples its outputs need, from however many chunks hold them: the kernel's reach on each
    side after dilation (asymmetric for even kernels and for ``same`` with a stride), and at
    the array's edges the samples the pad mode takes from the *whole* array (``circular``
    wraps to its far side; ``reflect`` and ``symmetric`` mirror at its edge, never a chunk's;
    ``replicate`` repeats its edge sample; ``zero`` and ``constant`` fill).  A halo deeper
    than a chunk, or than the whole array, just takes pieces of more chunks.

    Every output sample is computed from the same values at the same taps as in memory, so
    wherever the sums are exact (integer data and kernels, which is how the tests check the
    indexing) the result is identical bit for bit.  Otherwise it agrees within float
    rounding: the engine picks its variant (matrix products, loop order) by the shape it is
    given, and a block is not the whole array.

    Parameters
    ----------
    x : dask.array.Array or array_like
        The signal, with known chunk sizes.
    kernel, stride, padding, pad_mode, pad_value, dilation, flip, method, channel_axis
        As for :func:`convcli.convolve`.  ``method="auto"`` picks per block.
    chunks : optional
        The output's chunks, in any form :func:`dask.array.core.normalize_chunks` takes (a
        Zarr writer wants its own chunk grid, say).  Default: each output sample goes with
        the input chunk its kernel window is centred on (:func:`anchored_chunks`), so with
        stride 1 and ``same`` padding the output chunks are the input's.

    Returns
    -------
    dask.array.Array
        Lazy; dtype :func:`convcli.engine.compute_dtype` of ``x``'s dtype; shape
        :func:`convcli.output_shape` on the spatial axes, the channel axis unchanged.

    Raises
    ------
    ValueError
        Bad arguments (as :func:`convcli.convolve`), or chunks of unknown size.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import convcli, convcli.dask
    >>> x = da.from_array(np.arange(10.0), chunks=3)
    >>> y = convcli.dask.convolve(x, [1.0, 0.0, -1.0], pad_mode="circular")
    >>> y.chunks
    ((3, 3, 3, 1),)
    >>> y.compute()
    array([ 8., -2., -2., -2., -2., -2., -2., -2., -2.,  8.])
    """
    da = require_dask()
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
    from dask.task_spec import DataNode

    from convcli.engine import make_plan

    x = da.asarray(x)
    if any(math.isnan(c) for cs in x.chunks for c in cs):
        raise ArgumentError("x has chunks of unknown size: call x.compute_chunk_sizes() first")
    plan = make_plan(
        x.shape,
        x.dtype,
        kernel,
        stride=stride,
        padding=padding,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        method=method,
        channel_axis=channel_axis,
    )
    axes = axis_geometries(plan)
    out_chunks = _output_chunks(chunks, x, axes, tuple(plan.output_shape), plan.dtype)
    call = EngineCall(
        kernel=plan.kernel,
        stride=tuple(g.stride for g in plan.geometry),
        dilation=tuple(g.dilation for g in plan.geometry),
        method=plan.requested,
        channel_axis=plan.channel_axis,
        mode=plan.pad_mode,
        value=plan.pad_value,
        dtype=plan.dtype,
    )
    graph = _Graph(x, tokenize(x.name, call, axes, out_chunks))
    graph.tasks[graph.call_key] = DataNode(graph.call_key, call)
    per_axis = []
    for g, in_c, out_c in zip(axes, x.chunks, out_chunks):
        cuts = np.cumsum([0, *out_c]).tolist()
        per_axis.append([axis_window(g, in_c, a, b, plan.pad_mode) for a, b in zip(cuts, cuts[1:])])
    for index in product(*(range(len(c)) for c in out_chunks)):
        graph.block(index, tuple(per_axis[a][i] for a, i in enumerate(index)))
    hlg = HighLevelGraph.from_collections(graph.name, graph.tasks, dependencies=[x])
    meta = np.empty((0,) * x.ndim, dtype=plan.dtype)
    return da.Array(hlg, graph.name, out_chunks, meta=meta)
