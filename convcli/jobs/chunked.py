"""The chunked route of a job: a Zarr store filtered into a Zarr store, chunk by chunk.

An input whose format is read chunk by chunk (:func:`convcli.io.open_chunked`) going to an
output written chunk by chunk (:func:`convcli.io.chunk_target`) never comes into memory
whole: each output block is one task that reads the input samples it needs, halos and the
pad mode's samples from the whole array's far side included
(:func:`convcli.chunked.graph.convolve`), then is post-processed, cast and written on the
output's own chunk grid (:func:`convcli.io.save_chunked`).  The steps are those of every
other input::

    kernel 1 -> [stage store] -> kernel 2 -> ... -> abs -> scale * y + bias
             -> [rescale: the whole result's range, one more pass] -> cast -> store

A chain of kernels, or ``--rescale``, goes through stage stores (the result of a kernel,
float, chunk by chunk) in a hidden folder beside the output, removed with it: a block of
the next kernel then reads its chunks from storage, so memory stays at a few chunks per
task whatever the store's size.  The NaN/Inf count of the input is taken in the first pass.

Where the tasks run: on local threads (as many as cores, fewer when ``--max-memory`` holds
fewer blocks), or, inside a job on a Dask cluster (:mod:`convcli.jobs.dask_backend`), on
the whole cluster (:func:`chunks_on`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.jobs.post import _cast, _finite_range, _post, _rescale
from convcli.jobs.record import _plans_to_record

if TYPE_CHECKING:
    from convcli.jobs.options import FilterOptions, Job

__all__ = ["ChunkedInput", "open_chunked_input", "filter_chunked", "chunks_on", "Finish"]

#: Where a job's chunk tasks run: None (local threads), or a factory of a context that
#: yields a :class:`distributed.Client` (the cluster a batch's job runs on).
_SCHEDULER: ContextVar[Callable[[], contextlib.AbstractContextManager[Any]] | None] = ContextVar(
    "convcli_chunk_scheduler", default=None
)


@contextlib.contextmanager
def chunks_on(factory: Callable[[], contextlib.AbstractContextManager[Any]]) -> Iterator[None]:
    """Run the chunk tasks of the jobs in this block on the client ``factory()`` yields.

    A job running as a task on a Dask cluster passes :func:`distributed.worker_client`: its
    chunks are then spread over the whole cluster rather than run on its worker's threads.
    """
    token = _SCHEDULER.set(factory)
    try:
        yield
    finally:
        _SCHEDULER.reset(token)


@contextlib.contextmanager
def _scheduler() -> Iterator[Any]:
    factory = _SCHEDULER.get()
    if factory is None:
        yield None
        return
    with factory() as client:
        yield client


@dataclass
class ChunkedInput:
    """A lazy dask array of an input's stored chunks (the job's ``source``)."""

    array: Any

    @property
    def shape(self) -> tuple[int, ...]:
        """Return the input's shape."""
        return tuple(int(n) for n in self.array.shape)

    def close(self) -> None:
        """Nothing is open between reads."""


def open_chunked_input(job: Job, opts: FilterOptions, limits: Any) -> tuple[Any, Any] | None:
    """Return ``(header, ChunkedInput)`` if the job goes the chunked route, else None.

    It does when its input is read chunk by chunk and its output written chunk by chunk
    (a Zarr store to a Zarr store), for a plain correlation: not with ``--gray`` (a
    conversion of the whole), an operation of its own (``--normalized``, ``--mask``,
    ``--transposed``), a peer's preset or rounding (``--compat``, ``--rounding``) or
    impulse-response options; those go the in-memory route, within the memory budget.
    """
    from convcli import io

    if opts.gray or opts.normalized or opts.mask is not None or opts.transposed:
        return None
    if opts.compat is not None or opts.rounding is not None or opts.ir_options():
        return None
    opened = io.open_chunked(job.input, opts.kind, limits)
    if opened is None:
        return None
    array, header = opened
    if io.chunk_target(header, job.output, tuple(array.shape)) is None:
        return None
    return header, ChunkedInput(array)


@dataclass(frozen=True)
class Finish:
    """What each output block goes through: abs, scale, bias, rescale, the cast.

    Called on a block (by the writer, on whichever worker writes it), it returns the cast
    block and two counts: the samples the cast clipped, and the NaN/Inf samples of a float
    result.  Which of the two is the record's ``clipped`` depends on whether the input held
    NaN/Inf, known only once the pass is over (:func:`convcli.jobs.post._cast`).
    """

    abs: bool
    scale: float
    bias: float
    rescale: bool
    dtype: str
    kind: str
    stats: tuple[float, float, float] | None = None

    def post(self, block: np.ndarray) -> np.ndarray:
        """Apply abs, scale and bias."""
        return _post(block, self)  # type: ignore[arg-type]

    def __call__(self, block: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        """Post-process and cast one block; return it and its two counts."""
        y = self.post(block)
        dtype = np.dtype(self.dtype)
        if self.rescale:
            y = _rescale(y, dtype, self.kind, None, self.stats)
        out, clipped = _cast(y, dtype, self.kind, None, input_finite=False)
        overflow = 0
        if out.dtype.kind == "f" and out.size:
            overflow = int(np.count_nonzero(~np.isfinite(out)))
        return out, (int(clipped), overflow)


def _block_range(block: np.ndarray, finish: Finish) -> tuple[float, float, float]:
    return _finite_range(finish.post(block))


def _nonfinite_block(block: np.ndarray) -> np.ndarray:
    count = 0
    if block.dtype.kind == "f" and block.size:
        count = int(np.count_nonzero(~np.isfinite(block)))
    return np.full((1,) * block.ndim, count, dtype=np.int64)


def _nonfinite(x: Any) -> Any:
    """Return a lazy count of the NaN/Inf samples of a dask array (None for integers)."""
    if x.dtype.kind != "f":
        return None
    ones = tuple((1,) * len(c) for c in x.chunks)
    return x.map_blocks(_nonfinite_block, chunks=ones, dtype=np.int64).sum()


def _plans(
    shape: tuple[int, ...],
    dtype: np.dtype,
    kernels: Sequence[np.ndarray],
    channel_axis: int | None,
    geometry: dict[str, Any],
) -> list[Any]:
    """Plan every kernel of the chain on the shapes alone (as the blocks will run them)."""
    from convcli.engine import compute_dtype, make_plan

    plans = []
    for k in kernels:
        plan = make_plan(shape, dtype, k, channel_axis=channel_axis, **geometry)
        plans.append(plan)
        shape, dtype = tuple(plan.output_shape), compute_dtype(dtype)
    return plans


def _placement(plans: Sequence[Any], ndim: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Where output sample ``o`` lies on each input axis: ``origin + o * step``.

    A kernel's output ``o`` sits at ``t + o*s`` of its input, ``t = (k'-1)/2 - p_lo``; a
    chain composes them (``t1 + s1*(t2 + s2*o)``...).
    """
    steps, origins = [1] * ndim, [0.0] * ndim
    for plan in plans:
        for a, g in zip(plan.spatial_axes, plan.geometry):
            origins[a] += steps[a] * ((g.effective_kernel - 1) / 2 - g.pad_lo)
            steps[a] *= g.stride
    return tuple(steps), tuple(origins)


def _threads(opts: FilterOptions, array: Any, plans: Sequence[Any]) -> int:
    """Local threads for the blocks: one per core shared by ``--jobs``, within the budget.

    A block's working set is its window (its chunk and the halo the largest kernel reaches)
    as :func:`convcli.jobs.budget.working_set` counts an input in memory, plus the chunk it
    reads.

    Raises
    ------
    LimitError
        One block needs more than ``--max-memory``: the store's chunks are too large.
    """
    from convcli.engine import compute_dtype
    from convcli.errors import Param
    from convcli.io import LimitError
    from convcli.jobs.budget import _bytes, default_memory_budget, working_set

    budget = opts.max_memory
    if budget is None:
        budget = default_memory_budget() // max(1, opts.jobs)
    reach = [0] * array.ndim
    for plan in plans:
        for a, g in zip(plan.spatial_axes, plan.geometry):
            reach[a] = max(reach[a], g.effective_kernel - 1)
    chunk = [max(c) for c in array.chunks]
    window = math.prod(c + r for c, r in zip(chunk, reach))
    itemsize = np.dtype(array.dtype).itemsize
    work = compute_dtype(array.dtype).itemsize
    need = working_set(window, itemsize, work, opts.method) + math.prod(chunk) * itemsize
    if need > budget:
        dims = "x".join(map(str, chunk))
        max_memory = Param("max_memory")
        raise LimitError(
            f"{dims} chunks: one block needs about {_bytes(need)}, more than the {max_memory} "
            f"budget of {_bytes(budget)}; store the input with smaller chunks",
            limit="max_memory",
        )
    from convcli.engine.threads import usable_cpus

    cores = max(1, usable_cpus() // max(1, opts.jobs))
    return max(1, min(cores, budget // need))


def _compute(values: Sequence[Any], where: Any, threads: int) -> list[Any]:
    """Compute lazy values that write nothing, on local threads or the cluster."""
    import dask

    if where is None:
        return list(dask.compute(*values, scheduler="threads", num_workers=threads))
    return list(where.gather(where.compute(list(values))))


def filter_chunked(
    job: Job,
    opts: FilterOptions,
    record: dict[str, Any],
    sig: Any,
    source: ChunkedInput,
    kernels: list[np.ndarray],
    geometry: dict[str, Any],
    out_dtype: np.dtype,
) -> None:
    """Filter a store chunk by chunk into a store (see the module docstring); fill the record."""
    from convcli import io

    x = source.array
    ch = sig.channel_axis
    plans = _plans(tuple(x.shape), x.dtype, kernels, ch, geometry)
    _plans_to_record(plans, record, opts)
    shape_out = tuple(int(n) for n in plans[-1].output_shape)
    steps, origins = _placement(plans, x.ndim)
    out = io.chunk_target(sig, job.output, shape_out, steps=steps, origins=origins)
    assert out is not None  # open_chunked_input said so
    threads = _threads(opts, x, plans)
    finish = Finish(
        opts.abs, opts.scale, opts.bias, opts.rescale, out_dtype.name, sig.kind, stats=None
    )
    write = {
        "overwrite": opts.overwrite,
        "protect": job.protect,
        "dtype": out_dtype,
        "width": 2,
        "threads": threads,
    }
    record["chunked"] = True
    with _scheduler() as where:
        write["scheduler"] = where
        if len(kernels) == 1 and not opts.rescale:
            y = _convolve(x, kernels[0], out.grid, ch, geometry)
            count = _nonfinite(x)
            counts, found = io.save_chunked(
                y, out, finish=finish, also=[] if count is None else [count], **write
            )
            nonfinite = int(found[0]) if found else 0
        else:
            counts, nonfinite = _staged(
                job, opts, sig, x, kernels, geometry, plans, out, finish, write, where, threads
            )
    record["nonfinite"] = nonfinite
    float_out = out_dtype.kind == "f"
    record["clipped"] = counts[1] if float_out and nonfinite == 0 else counts[0]
    record["shape_out"] = list(shape_out)
    record["status"] = "ok"


def _convolve(
    x: Any, kernel: np.ndarray, grid: Sequence[int], ch: int | None, geometry: dict[str, Any]
) -> Any:
    from convcli.chunked.graph import convolve

    return convolve(x, kernel, chunks=tuple(grid), channel_axis=ch, **geometry)


def _staged(
    job: Job,
    opts: FilterOptions,
    sig: Any,
    x: Any,
    kernels: list[np.ndarray],
    geometry: dict[str, Any],
    plans: list[Any],
    out: Any,
    finish: Finish,
    write: dict[str, Any],
    where: Any,
    threads: int,
) -> tuple[tuple[int, ...], int]:
    """Each kernel into a float stage store (the last one too, for ``--rescale``), then out.

    Returns the writer's counts and the input's NaN/Inf count.
    """
    import tempfile
    from dataclasses import replace

    from convcli import io
    from convcli.io.atomic import hold_signals
    from convcli.jobs.options import _limits

    target = Path(job.output)
    staged = kernels if opts.rescale else kernels[:-1]
    nonfinite = 0
    ch = sig.channel_axis
    with hold_signals():  # the folder's clean-up is set up before an interruption can come
        stage_dir = tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.")
    with stage_dir as tmp:
        current = x
        for i, k in enumerate(staged):
            steps, origins = _placement(plans[: i + 1], x.ndim)
            shape = tuple(int(n) for n in plans[i].output_shape)
            path = Path(tmp) / f"stage{i}.zarr"
            stage = io.chunk_target(sig, path, shape, steps=steps, origins=origins)
            assert stage is not None
            y = _convolve(current, k, stage.grid, ch, geometry)
            count = _nonfinite(current) if i == 0 else None
            _, found = io.save_chunked(
                y,
                stage,
                overwrite=False,
                protect=job.protect,
                dtype=y.dtype,
                also=[] if count is None else [count],
                scheduler=where,
                threads=threads,
            )
            if found:
                nonfinite = int(found[0])
            opened = io.open_chunked(path, opts.kind, _limits(opts))
            assert opened is not None
            current = opened[0]
        if opts.rescale:
            parts = [_delayed_range(b, finish) for b in current.to_delayed().ravel()]
            ranges = _compute(parts, where, threads)
            lo = min((r[0] for r in ranges), default=np.inf)
            hi = max((r[1] for r in ranges), default=-np.inf)
            peak = max((r[2] for r in ranges), default=0.0)
            finish = replace(finish, stats=(lo, hi, peak))
            y = current
        else:
            y = _convolve(current, kernels[-1], out.grid, ch, geometry)
        counts, _ = io.save_chunked(y, out, finish=finish, **write)
    return counts, nonfinite


def _delayed_range(block: Any, finish: Finish) -> Any:
    import dask

    return dask.delayed(_block_range)(block, finish)
