"""Direct correlation: exact sums over the taps, with no padded copy, in cache-sized chunks.

``y[o] = sum_j w[j] * x[o*s + j*d - p_lo]``.  What keeps it fast, in order of effect:

- **Flat runs.**  With stride 1 and an output whose inner axes have the input's sizes
  (``same`` padding, channels anywhere), output ``f`` and its input sample for tap ``j`` are
  a constant distance apart in the flattened arrays, so each tap is one operation on two
  contiguous runs: ``y[f0:f1] += w * x[f0+off:f1+off]``.  Outputs near the edges of the inner
  axes read wrapped-around samples; they are recomputed with the border (below).
- **Small matrix products.**  Along the outermost kernel axis the taps of each run are a
  matrix product: ``Z[g, t] = sum_i x[g + i*W] * w[i, t]`` (``W`` that axis's flat stride) is
  a GEMM whose input is a strided view of ``x`` itself (no copy), and the output is then
  ``y[f] = sum_t Z[f + off_t, t]``: ``kh*kw`` multiply-adds at BLAS speed plus ``kw - 1``
  adds, instead of ``2*kh*kw`` ufunc passes.  numpy's matmul runs stacks of products small
  enough that OpenBLAS keeps each on the calling thread (its helper threads spin, and stall
  badly when another process holds the other core) and releases the GIL meanwhile, so the
  two worker threads here really run in parallel.  No scipy import.
- **Few ufunc calls per tap** elsewhere: taps that share a weight are summed first and scaled
  once; a weight of +1 or -1 is an add or a subtract.
- **No padded copy.**  The *interior* (outputs whose taps all fall inside the input) reads the
  input itself; only thin *border* slabs are computed from small padded windows
  (:func:`convcli.padding.pad_window`), whatever the pad mode.
- **int16 for 8-bit input.**  A uint8/int8/bool input with an integer kernel (up to one common
  scale) whose sums cannot leave int16 is summed in int16 (exact: the float path gives the
  same numbers), then scaled and converted to float32 chunk by chunk.
- **Chunks and two threads.**  Work proceeds in chunks of outputs held in cache while every
  tap is added; an input of another dtype is converted chunk by chunk; chunks are split
  between two threads (numpy releases the GIL in its loops).  Extra memory is a few chunks
  per thread: never an im2col of the image.

Strided outputs read only the samples they need: each block copies its input samples into
phases along the last strided axis, so every tap reads a contiguous run
(:func:`phased_shift_add`).  A 2-D input with a column stride (channels after its axes
allowed) copies one run per kernel column instead and takes one matrix-vector product per
output row (:func:`phased_products_2d`): work in proportion to the outputs kept, and with
zero or constant padding no border slabs.  Other geometries (a ``valid``/``full`` size
change on an inner axis) shift-add over strided views of the input, in blocks along the
outer axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from typing import Any

import numpy as np

from convcli.engine import threads as engine_threads
from convcli.engine.threads import run_split
from convcli.padding import pad_window

__all__ = [
    "BLOCK_ELEMENTS",
    "CHUNK",
    "GEMM_CHUNK",
    "CACHE_BYTES",
    "STRIDED_GEMM_CHUNK",
    "MIN_CHUNKS",
    "GEMM_MAX_MNK",
    "GEMM_MIN_ROWS",
    "THREAD_MIN_ELEMENTS",
    "SMALL_ELEMENTS",
    "TINY_ELEMENTS",
    "SMALL_WORK",
    "TapGroups",
    "FlatPass",
    "TapStage",
    "GemmStage",
    "ToeplitzStage",
    "toeplitz_stage",
    "TOEPLITZ_ROWS",
    "TOEPLITZ_STAGE_MIN_TAPS",
    "Stage",
    "group_taps",
    "flat_offsets",
    "flat_ok",
    "flat_passes",
    "flat_chunk",
    "gemm_stage",
    "phased_shift_add",
    "strided_gemm_2d",
    "gemm_2d_ok",
    "phased_products_2d",
    "phased_ok",
    "PHASED_ELEMENTS",
    "PHASED_MAX_OUTPUTS",
    "NARROW_RATIO",
    "shift_add",
    "correlate_direct",
    "correlate_unpadded",
    "interior",
    "border_boxes",
    "fill_border",
    "long_axis_last",
    "SHORT_INNER",
    "int16_plan",
]

#: Output elements per block of the strided-view path (256 KiB of float32: L2-resident).
BLOCK_ELEMENTS = 1 << 16
#: Output elements per chunk of the flat path (per thread).  Measured on 4096x4096 float32
#: (3x3 and 15x15 separable, 3x3 and 5x5 direct): 2**18 beats 2**16 by 10-25% (fewer calls,
#: and the two threads contend less for the GIL between them); 2**20 is slower again.
CHUNK = 1 << 18
#: Elements of the matrix-product scratch ``Z`` per chunk (``N`` columns x chunk).
GEMM_CHUNK = 1 << 20
#: Bytes of the arrays one chunk of the flat path touches (a share of a core's L2).
CACHE_BYTES = 1 << 20
#: Elements of ``Z`` per block of output rows in :func:`strided_gemm_2d`.
STRIDED_GEMM_CHUNK = 1 << 18
#: Elements of the phase runs per block of output rows in :func:`phased_products_2d`.
PHASED_ELEMENTS = 1 << 18
#: Most outputs of :func:`phased_products_2d` with two workers.  Interleaved medians, 3x3
#: and 5x5 at stride 2: on 1024² input (2**18 outputs) the phases on one thread took 0.8 of
#: the two-thread products over every column; on 2048², 1.25 of them.
PHASED_MAX_OUTPUTS = 1 << 18
#: A 2-D border slab at least this many times taller than wide is computed transposed.
NARROW_RATIO = 8
#: Fewest chunks a large output is cut into, so that both threads have work.
MIN_CHUNKS = 8
#: Largest ``m*n*k`` of one product: OpenBLAS runs products up to 4 * 65536 on one thread.
GEMM_MAX_MNK = 1 << 18
#: Rows per small Toeplitz product in a stack (one OpenBLAS thread each).
TOEPLITZ_ROWS = 16
#: Fewest taps for a Toeplitz stage on the innermost axis of separable passes (the same
#: threshold as the planner's ``TOEPLITZ_STAGE_MIN_TAPS``).
TOEPLITZ_STAGE_MIN_TAPS = 8
#: Rows per product from which a 3x3 kernel's products pay (larger kernels: fewer rows).
GEMM_MIN_ROWS = 64
#: Up to this many input samples read (the padded window), the input is padded once (no
#: interior/border split).
SMALL_ELEMENTS = 1 << 18
#: Up to this many samples in the padded window (and 32 taps), one multiply-add per tap.
TINY_ELEMENTS = 1 << 12
#: Up to this many multiply-adds (outputs times taps), float64 sums tap by tap in the
#: formula's order; the planner sends such work to ``direct`` whatever it estimates.
SMALL_WORK = 1 << 16
#: Below this many output elements the work is not split across threads.
THREAD_MIN_ELEMENTS = 1 << 17

#: ``[(weight, [tap index, ...]), ...]``: taps grouped by their (exact) weight.
TapGroups = list[tuple[float, list[tuple[int, ...]]]]
#: One 1-D pass of the flat path: ``[(weight, [flat offset, ...]), ...]``.
FlatPass = list[tuple[float, list[int]]]


def _blocks(out_shape: Sequence[int], target: int) -> list[tuple[slice, ...]]:
    """Split an output into blocks of about ``target`` elements along its outer axes."""
    inner = 1
    axis = len(out_shape)
    while axis > 0 and inner * out_shape[axis - 1] <= target:
        axis -= 1
        inner *= out_shape[axis]
    if axis == 0:
        return [tuple(slice(None) for _ in out_shape)]
    b = axis - 1  # this axis is cut into runs of `rows`
    rows = max(1, target // inner)
    blocks: list[tuple[slice, ...]] = []
    for lead in product(*(range(n) for n in out_shape[:b])):
        for r0 in range(0, out_shape[b], rows):
            blk = tuple(slice(i, i + 1) for i in lead)
            blocks.append(blk + (slice(r0, min(r0 + rows, out_shape[b])),))
    return blocks


def group_taps(kernel: np.ndarray) -> TapGroups:
    """Group the non-zero taps of a kernel by weight, largest group first.

    Examples
    --------
    >>> group_taps(np.array([[1.0, 2.0, 1.0]]))
    [(1.0, [(0, 0), (0, 2)]), (2.0, [(0, 1)])]
    """
    groups: dict[float, list[tuple[int, ...]]] = {}
    for j in zip(*np.nonzero(kernel)):
        groups.setdefault(float(kernel[j]), []).append(tuple(int(i) for i in j))
    return sorted(groups.items(), key=lambda g: -len(g[1]))


def _accumulate(
    acc: np.ndarray,
    tmp: np.ndarray,
    groups: Sequence[tuple[Any, Sequence[np.ndarray]]],
    init: bool = True,
    final: np.ndarray | None = None,
) -> None:
    """``acc (+)= sum_g w_g * sum(sources of g)`` with as few ufunc calls as possible.

    With ``init`` the first group overwrites ``acc``; otherwise everything is added to it.
    Starting with a group of another weight than +-1 (or of several +1 taps) saves one call;
    -1 and single +1 taps are cheapest later, as plain subtracts and adds.  With ``final``
    (an array of ``acc``'s shape, any dtype) the last call writes its result there instead
    of into ``acc``: int16 sums go to a float32 output without a conversion pass.
    """
    ops: list[tuple[Any, np.ndarray, Any, np.ndarray]] = []  # (ufunc, a, b, out)
    if init:
        for i, (wv, srcs) in enumerate(groups):
            if (wv != 1 and wv != -1) or (wv == 1 and len(srcs) > 1):
                groups = [groups[i], *groups[:i], *groups[i + 1 :]]
                break
    first = init
    for wv, srcs in groups:
        if not first and (wv == 1 or wv == -1):
            op = np.add if wv == 1 else np.subtract
            ops.extend((op, acc, s, acc) for s in srcs)
            continue
        if first and wv == 1 and len(srcs) > 1:
            ops.append((np.add, srcs[0], srcs[1], acc))
            ops.extend((np.add, acc, s, acc) for s in srcs[2:])
            first = False
            continue
        if len(srcs) == 1:
            g = srcs[0]
        else:
            ops.append((np.add, srcs[0], srcs[1], tmp))
            ops.extend((np.add, tmp, s, tmp) for s in srcs[2:])
            g = tmp
        if first:
            ops.append((np.multiply, g, wv, acc))
            first = False
        else:
            ops.append((np.multiply, g, wv, tmp))
            ops.append((np.add, acc, tmp, acc))
    if final is not None and ops and ops[-1][3] is acc:
        fn, a, b, _ = ops[-1]
        ops[-1] = (fn, a, b, final)
    elif final is not None:  # nothing summed (no taps), or a plain accumulate: copy at the end
        ops.append((np.add, acc, acc.dtype.type(0), final))
    for fn, a, b, out in ops:
        fn(a, b, out=out)
    if first:
        (acc if final is None else final)[...] = 0


# --------------------------------------------------------------------------- flat path


def flat_ok(in_shape: Sequence[int], out_shape: Sequence[int], stride: Sequence[int]) -> bool:
    """Whether the flat path applies: stride 1, and every axis but the first keeps its size."""
    return all(s == 1 for s in stride) and tuple(in_shape[1:]) == tuple(out_shape[1:])


def _c_strides(shape: Sequence[int]) -> list[int]:
    strides = [1] * len(shape)
    for a in range(len(shape) - 2, -1, -1):
        strides[a] = strides[a + 1] * shape[a + 1]
    return strides


def flat_offsets(
    shape: Sequence[int],
    groups: TapGroups,
    pad_lo: Sequence[int],
    dilation: Sequence[int],
) -> FlatPass:
    """Turn tap groups into flat offsets in a C-contiguous array of ``shape``.

    Examples
    --------
    >>> flat_offsets((4, 10), [(1.0, [(0, 0), (2, 2)])], (1, 1), (1, 1))
    [(1.0, [-11, 11])]
    """
    st = _c_strides(shape)
    return [
        (wv, [sum((jj * d - p) * s for jj, d, p, s in zip(j, dilation, pad_lo, st)) for j in taps])
        for wv, taps in groups
    ]


@dataclass(frozen=True)
class TapStage:
    """``y[f] = sum_g w_g * sum_{o in g} a[f + o]``: shift-adds of flat offsets (ufuncs)."""

    groups: FlatPass

    def reach(self) -> tuple[int, int]:
        """Lowest and highest offset read, relative to an output position."""
        offs = [o for _, g in self.groups for o in g] or [0]
        return min(offs), max(offs)


@dataclass(frozen=True)
class GemmStage:
    """A matrix product along one axis, then shifted adds along the others.

    ``Z[t, g] = sum_i a[g + base + i*step] * weights[i, t]`` (one small GEMM per run of
    ``g``), then ``y[f] = sum_t Z[t, f + offsets[t]]``.  ``step`` is the contracted axis's
    flat stride (times its dilation); ``offsets`` are the flat offsets of the other taps.
    """

    step: int
    base: int
    weights: np.ndarray  # (K, N)
    offsets: tuple[int, ...]  # N

    def reach(self) -> tuple[int, int]:
        """Lowest and highest offset read, relative to an output position."""
        k = self.weights.shape[0]
        return self.base + min(self.offsets), self.base + max(self.offsets) + (k - 1) * self.step


@dataclass(frozen=True)
class ToeplitzStage:
    """``y[f] = sum_j w[j] * a[f + base + j*dilation]`` by blocked Toeplitz products.

    Outputs go ``block`` at a time: rows of ``K = block - 1 + (L-1)*dilation + 1`` input
    samples (copied, cache-sized) times the ``K x block`` banded matrix
    (:func:`convcli.engine._toeplitz.toeplitz_matrix`): ``K`` multiply-adds per output at
    matrix speed instead of about ``2L`` ufunc passes.  The last partial block is summed tap
    by tap.
    """

    base: int
    dilation: int
    taps: np.ndarray  # (L,)
    matrix: np.ndarray  # (K, block)

    def reach(self) -> tuple[int, int]:
        """Lowest and highest offset read, relative to an output position."""
        return self.base, self.base + (self.taps.size - 1) * self.dilation


Stage = TapStage | GemmStage | ToeplitzStage


def toeplitz_stage(taps: np.ndarray, base: int, dilation: int, block: int = 32) -> ToeplitzStage:
    """Build a :class:`ToeplitzStage` for the 1-D taps ``w[j]`` at ``base + j*dilation``."""
    from convcli.engine._toeplitz import toeplitz_matrix

    w = np.asarray(taps, dtype=np.float64)
    return ToeplitzStage(base, dilation, w, toeplitz_matrix(w, block, 1, dilation))


def _run_toeplitz(
    stage: ToeplitzStage,
    arr: np.ndarray,
    start: int,
    n: int,
    dst: np.ndarray,
    abuf: np.ndarray,
    tmp: np.ndarray,
    init: bool,
) -> None:
    """Apply a :class:`ToeplitzStage` for ``n`` outputs; ``arr[start]`` is output 0's position."""
    t = stage.matrix
    k, b = t.shape
    rows = n // b
    stacked = rows - rows % TOEPLITZ_ROWS
    it = arr.itemsize
    a0 = start + stage.base
    done = 0
    for r0, r1 in ((0, stacked), (stacked, rows)):
        if r1 <= r0:
            continue
        cnt = r1 - r0
        frames = np.ndarray((cnt, k), arr.dtype, arr, (a0 + r0 * b) * it, (b * it, it))
        a = abuf[: cnt * k].reshape(cnt, k)
        np.copyto(a, frames)
        y = dst[r0 * b : r1 * b].reshape(cnt, b) if init else tmp[: cnt * b].reshape(cnt, b)
        if r0 == 0 and cnt >= TOEPLITZ_ROWS:  # small products: one thread each, GIL released
            np.matmul(a.reshape(-1, TOEPLITZ_ROWS, k), t, out=y.reshape(-1, TOEPLITZ_ROWS, b))
        else:
            np.matmul(a, t, out=y)
        if not init:
            np.add(dst[r0 * b : r1 * b], y.reshape(-1), out=dst[r0 * b : r1 * b])
        done = r1 * b
    if done < n:  # the last partial block, tap by tap
        m = n - done
        s0 = a0 + done
        d = stage.dilation
        groups = [(w, [arr[s0 + j * d : s0 + j * d + m]]) for j, w in enumerate(stage.taps)]
        _accumulate(dst[done:], tmp[:m], [g for g in groups if g[0] != 0], init)


def _gemm_rows(step: int, k: int, n: int) -> int:
    """Return the rows per small product.

    At most ``step`` (BLAS's leading dimension), and few enough multiply-adds that OpenBLAS
    keeps the product on the calling thread.
    """
    return max(1, min(step, GEMM_MAX_MNK // max(1, k * n)))


@dataclass
class _GemmLayout:
    """How :func:`_run_gemm` runs a :class:`GemmStage` for ``n`` outputs into scratch ``Z``.

    Built once per chunk size and thread (every full chunk has the same): the product
    shapes, the views of ``Z`` they write and the rows of ``Z`` the outputs sum.
    """

    m: int  # rows per product
    nq: int  # products in the stack
    rem: int  # rows of the last, smaller product
    z3: np.ndarray | None  # the stack's output view of Z
    zr: np.ndarray | None  # the last product's output view of Z
    rows: list[np.ndarray]  # Z[t, f + offset_t - lo] for f < n


def _gemm_layout(stage: GemmStage, n: int, zbuf: np.ndarray) -> _GemmLayout:
    k, nt = stage.weights.shape
    lo = min(stage.offsets)
    span = n + max(stage.offsets) - lo
    m = min(_gemm_rows(stage.step, k, nt), span)
    nq, rem = divmod(span, m)
    it = zbuf.itemsize
    z = zbuf[: nt * span].reshape(nt, span)
    z3 = np.ndarray((nq, m, nt), z.dtype, z, 0, (m * it, it, span * it)) if nq else None
    zr = z[:, nq * m :].T if rem else None
    rows = [z[t, o - lo : o - lo + n] for t, o in enumerate(stage.offsets)]
    return _GemmLayout(m, nq, rem, z3, zr, rows)


def _run_gemm(
    stage: GemmStage,
    arr: np.ndarray,
    start: int,
    n: int,
    dst: np.ndarray,
    zbuf: np.ndarray,
    init: bool,
    layout: _GemmLayout | None = None,
) -> None:
    """Apply a :class:`GemmStage` for ``n`` outputs; ``arr[start]`` is output 0's position.

    ``layout`` is :func:`_gemm_layout` for ``n`` and ``zbuf``, if the caller keeps one.
    """
    w = stage.weights
    k, nt = w.shape
    it = arr.itemsize
    single = nt == 1 and init  # one column: the product writes the output itself
    if single or layout is None:
        layout = _gemm_layout(stage, n, dst if single else zbuf)
    m, nq = layout.m, layout.nq
    # Strided views built by the ndarray constructor: it checks the buffer's bounds, and
    # costs a tenth of as_strided (this runs for every chunk).
    aoff = (start + min(stage.offsets) + stage.base) * it
    if nq:
        a3 = np.ndarray((nq, m, k), arr.dtype, arr, aoff, (m * it, it, stage.step * it))
        np.matmul(a3, w, out=layout.z3)
    if layout.rem:
        a1 = np.ndarray((layout.rem, k), arr.dtype, arr, aoff + nq * m * it, (it, stage.step * it))
        np.matmul(a1, w, out=layout.zr)
    if single:
        return
    rows = layout.rows
    if init:
        if nt == 1:
            np.copyto(dst, rows[0])
            return
        np.add(rows[0], rows[1], out=dst)
        rows = rows[2:]
    for r in rows:
        np.add(dst, r, out=dst)


def flat_chunk(width: int, stages: int, itemsize: int, convert: bool) -> int:
    """Return the outputs per chunk of the flat path (before the halo's and threads' say).

    The arrays a chunk works in should stay in cache together: the sums, scratch, the source
    window (converted, if ``convert``), the intermediate results of earlier stages.  The
    rows of ``Z`` of a product stage (``width`` of them) are each written once and read
    once: they need not, and are bounded by :data:`GEMM_CHUNK` instead.
    """
    arrays = 3 + 2 * (stages - 1) + (1 if convert else 0)
    chunk = min(CHUNK, max(4096, CACHE_BYTES // (arrays * itemsize)))
    return min(chunk, max(64, GEMM_CHUNK // width)) if width > 1 else chunk


def flat_passes(
    src: np.ndarray,
    stages: Sequence[Stage],
    f0: int,
    f1: int,
    out: np.ndarray,
    *,
    work_dtype: np.dtype | None = None,
    scale: float | None = None,
    accumulate: bool = False,
    threads: bool = True,
) -> None:
    """Apply stages one after another on ``[f0, f1)`` of a flat output, chunk by chunk.

    ``out[f] (+)= scale * S_last(... S_0(src) ...)[f]``.  Each chunk of outputs computes the
    earlier stages on just the samples it needs (the later stages' reach), in scratch
    buffers, so intermediate results stay in cache.

    Parameters
    ----------
    src : ndarray
        The C-contiguous input; every position read must lie inside it.
    stages : sequence of TapStage or GemmStage
        First applied first.
    f0, f1 : int
        The flat output range.
    out : ndarray
        The C-contiguous output (shape of the result; its flat positions are ``f``).
    work_dtype : dtype, optional
        The arithmetic dtype (default ``out.dtype``); ``src`` is converted chunk by chunk.
    scale : float, optional
        A factor for the result (applied when converting from ``work_dtype``).
    accumulate : bool, optional
        Add to ``out`` instead of overwriting it.
    threads : bool, optional
        Split the chunks over two threads.
    """
    if f1 <= f0:
        return
    wdt = np.dtype(work_dtype) if work_dtype is not None else out.dtype
    run = _FlatRun(src.reshape(-1), _typed(stages, wdt), f0, f1, out, wdt, scale, accumulate)
    split = threads and f1 - f0 >= THREAD_MIN_ELEMENTS
    run.size_chunks(split)
    run_split(list(range(f0, f1, run.chunk)), run, split)


def _typed(stages: Sequence[Stage], wdt: np.dtype) -> list[Stage]:
    """Return the stages with their weights in the arithmetic dtype."""
    typed: list[Stage] = []
    for st in stages:
        if isinstance(st, TapStage):
            typed.append(TapStage([(wdt.type(w), offs) for w, offs in st.groups]))
        elif isinstance(st, GemmStage):
            typed.append(GemmStage(st.step, st.base, st.weights.astype(wdt), st.offsets))
        else:
            w = st.taps.astype(wdt)
            typed.append(ToeplitzStage(st.base, st.dilation, w, st.matrix.astype(wdt)))
    return typed


class _FlatRun:
    """One :func:`flat_passes` call: its stages, chunk size and output; called per thread.

    Each call (one per thread) allocates its scratch once, then runs its chunks: every
    stage on the samples the later stages need, in scratch, the last one into the output.
    """

    def __init__(
        self,
        sflat: np.ndarray,
        stages: list[Stage],
        f0: int,
        f1: int,
        out: np.ndarray,
        wdt: np.dtype,
        scale: float | None,
        accumulate: bool,
    ) -> None:
        self.sflat, self.stages, self.f0, self.f1, self.wdt = sflat, stages, f0, f1, wdt
        self.out, self.oflat, self.scale, self.accumulate = out, out.reshape(-1), scale, accumulate
        self.reach = [st.reach() for st in stages]
        self.halo = sum(b - a for a, b in self.reach)
        gemms = [len(st.offsets) for st in stages if isinstance(st, GemmStage)]
        self.width = max(gemms, default=0)
        # im2col rows of Toeplitz stages: K/B samples per output
        toes = [
            -(-st.matrix.shape[0] // st.matrix.shape[1])
            for st in stages
            if isinstance(st, ToeplitzStage)
        ]
        self.ratio = max(toes, default=0)
        self.convert = sflat.dtype != wdt
        self.direct_out = wdt == out.dtype and (scale is None or scale == 1.0)
        # Unscaled sums in another dtype (int16 for 8-bit input): the last shift-add writes
        # the output itself, converting as it goes, instead of a separate conversion pass.
        self.fused_out = (
            not self.direct_out
            and (scale is None or scale == 1.0)
            and not accumulate
            and isinstance(stages[-1], TapStage)
        )
        self.chunk = 0

    def size_chunks(self, split: bool) -> None:
        """Choose the outputs per chunk: cache-sized, enough for two threads if ``split``."""
        stages, m = self.stages, len(self.stages)
        chunk = flat_chunk(self.width, m, self.wdt.itemsize, self.convert)
        chunk = max(chunk, min(4 * self.halo, 4 * CHUNK))  # the halo is re-read (re-converted)
        if self.width > 1:
            chunk = min(chunk, max(64, GEMM_CHUNK // self.width))
        if split:  # enough chunks for both threads
            chunk = min(chunk, max(4096, -(-(self.f1 - self.f0) // MIN_CHUNKS)))
        if m == 1 and isinstance(stages[0], GemmStage):  # whole products: no remainder product
            g = stages[0]
            rows = _gemm_rows(g.step, *g.weights.shape)
            spread = max(g.offsets) - min(g.offsets)
            if chunk + spread > 2 * rows:
                chunk = (chunk + spread) // rows * rows - spread
        self.chunk = chunk

    def __call__(self, starts: Iterable[int]) -> None:
        size, wdt = self.chunk + self.halo, self.wdt
        scratch = _FlatScratch(
            bufs=[np.empty(size, dtype=wdt) for _ in range(2 if len(self.stages) > 1 else 0)],
            tmp=np.empty(size, dtype=wdt),
            zbuf=np.empty(self.width * size, dtype=wdt) if self.width else None,
            abuf=np.empty(self.ratio * size + TOEPLITZ_ROWS * 256, dtype=wdt)
            if self.ratio
            else None,
            conv=np.empty(size, dtype=wdt) if self.convert else None,
            fin=None if self.direct_out else np.empty(self.chunk, dtype=wdt),
        )
        for c0 in starts:
            self._chunk(c0, min(c0 + self.chunk, self.f1), scratch)

    def _chunk(self, c0: int, c1: int, sc: _FlatScratch) -> None:
        """Run every stage for the outputs ``[c0, c1)``."""
        stages, reach, m = self.stages, self.reach, len(self.stages)
        lo, hi = [0] * m, [0] * m
        lo[-1], hi[-1] = c0, c1
        for p in range(m - 1, 0, -1):
            lo[p - 1], hi[p - 1] = lo[p] + reach[p][0], hi[p] + reach[p][1]
        a, b = lo[0] + reach[0][0], hi[0] + reach[0][1]
        if sc.conv is not None:
            np.copyto(sc.conv[: b - a], self.sflat[a:b], casting="unsafe")
            arr, base = sc.conv, a
        else:
            arr, base = self.sflat, 0
        for p, st in enumerate(stages):
            n = hi[p] - lo[p]
            last = p == m - 1
            if not last:
                dst = sc.bufs[p % 2][:n]
            elif sc.fin is None:  # the output itself
                dst = self.oflat[c0:c1]
            else:
                dst = sc.fin[:n]
            start = lo[p] - base
            init = not (last and self.accumulate and self.direct_out)
            if isinstance(st, GemmStage):
                assert sc.zbuf is not None
                lay = sc.layouts.get((p, n))
                if lay is None:
                    lay = sc.layouts[p, n] = _gemm_layout(st, n, sc.zbuf)
                _run_gemm(st, arr, start, n, dst, sc.zbuf, init, lay)
            elif isinstance(st, ToeplitzStage):
                assert sc.abuf is not None
                _run_toeplitz(st, arr, start, n, dst, sc.abuf, sc.tmp, init)
            else:
                groups = [
                    (w, [arr[start + o : start + o + n] for o in offs]) for w, offs in st.groups
                ]
                final = self.oflat[c0:c1] if last and self.fused_out else None
                _accumulate(dst, sc.tmp[:n], groups, init, final)
            arr, base = dst, lo[p]
        if sc.fin is not None and not self.fused_out:
            self._finish(sc.fin[: c1 - c0], self.oflat[c0:c1])

    def _finish(self, res: np.ndarray, target: np.ndarray) -> None:
        """Convert (and scale) a chunk's sums in another dtype into the output."""
        dtype, scale = self.out.dtype, self.scale
        if self.accumulate:  # (not used by the engine's own paths: no fast path needed)
            target += res.astype(dtype) * dtype.type(scale or 1.0)
        elif scale is not None and scale != 1.0:
            np.multiply(res, dtype.type(scale), out=target, casting="unsafe")
        else:
            np.copyto(target, res, casting="unsafe")


@dataclass
class _FlatScratch:
    """One thread's scratch arrays for :class:`_FlatRun`."""

    bufs: list[np.ndarray]  # two intermediate results, alternately
    tmp: np.ndarray
    zbuf: np.ndarray | None  # Z of product stages
    abuf: np.ndarray | None  # im2col rows of Toeplitz stages
    conv: np.ndarray | None  # the source window, converted
    fin: np.ndarray | None  # the last stage's sums before conversion
    layouts: dict[tuple[int, int], _GemmLayout] = field(default_factory=dict)


def gemm_stage(
    shape: Sequence[int],
    kernel: np.ndarray,
    pad_lo: Sequence[int],
    dilation: Sequence[int],
) -> GemmStage | None:
    """Plan the direct flat path as one :class:`GemmStage`, or None if it does not pay.

    The contracted axis is the outermost one with two taps or more, other than the last
    (its flat stride bounds the rows of each product: :func:`_products_pay`).
    """
    st = _c_strides(shape)
    axis = next((a for a in range(kernel.ndim - 1) if kernel.shape[a] > 1), None)
    if axis is None:
        return None
    k = np.moveaxis(kernel, axis, 0).reshape(kernel.shape[axis], -1)
    cols = np.flatnonzero(np.any(k != 0, axis=0))
    if cols.size == 0 or not _products_pay(st[axis] * dilation[axis], k.shape[0], cols.size):
        return None
    others = [n for a, n in enumerate(kernel.shape) if a != axis]
    oaxes = [a for a in range(kernel.ndim) if a != axis]
    offsets = []
    for c in cols:
        j = np.unravel_index(int(c), others)
        offsets.append(sum((int(jj) * dilation[a] - pad_lo[a]) * st[a] for jj, a in zip(j, oaxes)))
    return GemmStage(
        step=st[axis] * dilation[axis],
        base=-pad_lo[axis] * st[axis],
        weights=np.ascontiguousarray(k[:, cols]),
        offsets=tuple(offsets),
    )


# --------------------------------------------------------------------------- view path


def shift_add(
    src: np.ndarray,
    groups: TapGroups,
    start: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out: np.ndarray,
    *,
    work_dtype: np.dtype | None = None,
    scale: float | None = None,
    threads: bool = True,
) -> np.ndarray:
    """``out[o] = scale * sum_j w[j] * src[start + o*stride + j*dilation]``, per axis.

    Parameters
    ----------
    src : ndarray
        The samples read, any strides.  Every position read must lie inside it.
    groups : TapGroups
        The taps, grouped by weight (:func:`group_taps`); weights are cast to ``work_dtype``.
    start : sequence of int
        Position of ``src`` read by output 0 and tap 0, per axis.
    stride, dilation : sequence of int
        Per axis.
    out : ndarray
        The result (any strides); its shape is the output shape.
    work_dtype : dtype, optional
        The arithmetic dtype (default ``out.dtype``; ``src`` must have it); if it differs
        from ``out.dtype``, each block is summed in scratch, then scaled and cast into ``out``.
    scale : float, optional
        A factor applied to each finished block (with ``work_dtype`` only).
    threads : bool, optional
        Split a large output over two threads.

    Returns
    -------
    ndarray
        ``out``.
    """
    wdt = np.dtype(work_dtype) if work_dtype is not None else out.dtype
    if not groups:
        out[...] = 0
        return out
    views = []
    for wv, taps in groups:
        vs = []
        for j in taps:
            sl = tuple(
                slice(b + jj * d, b + jj * d + (o - 1) * s + 1, s)
                for b, jj, d, s, o in zip(start, j, dilation, stride, out.shape)
            )
            vs.append(src[sl])
        views.append((wdt.type(wv), vs))
    blocks = _blocks(out.shape, BLOCK_ELEMENTS)
    separate = wdt != out.dtype

    def run(block_list: Iterable[tuple[slice, ...]]) -> None:
        tmp_flat = np.empty(BLOCK_ELEMENTS, dtype=wdt)
        acc_flat = np.empty(BLOCK_ELEMENTS, dtype=wdt) if separate else None
        for blk in block_list:
            dst = out[blk]
            block_groups = [(wv, [v[blk] for v in vs]) for wv, vs in views]
            _sum_block(dst, tmp_flat, acc_flat, block_groups, scale)

    run_split(blocks, run, threads and out.size >= THREAD_MIN_ELEMENTS)
    return out


def _sum_block(
    dst: np.ndarray,
    tmp_flat: np.ndarray,
    acc_flat: np.ndarray | None,
    groups: Sequence[tuple[Any, Sequence[np.ndarray]]],
    scale: float | None,
) -> None:
    """Sum one block into ``dst``: directly, or in ``acc_flat`` (another dtype), then scaled.

    Unscaled sums in another dtype reach ``dst`` in :func:`_accumulate`'s last call.
    """
    tmp = tmp_flat[: dst.size].reshape(dst.shape)
    if acc_flat is None:
        _accumulate(dst, tmp, groups)
        return
    acc = acc_flat[: dst.size].reshape(dst.shape)
    if scale is None or scale == 1.0:
        _accumulate(acc, tmp, groups, final=dst)
        return
    _accumulate(acc, tmp, groups)
    np.multiply(acc, dst.dtype.type(scale), out=dst, casting="unsafe")


def phased_shift_add(
    x: np.ndarray,
    groups: TapGroups,
    start: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out: np.ndarray,
    *,
    work_dtype: np.dtype | None = None,
    scale: float | None = None,
    threads: bool = True,
) -> np.ndarray:
    """:func:`shift_add` for strided outputs, reading contiguous runs.

    A view with a stride along its innermost strided axis makes numpy's loops step over
    samples one by one.  Here each block of outputs first copies the input samples it needs
    (converting them to ``work_dtype``) into ``s`` phases along the last strided axis
    (``phase[r][c] = x[start + c*s + r]``), in cache; tap ``q = j*d`` then reads phase
    ``q % s`` from column ``q // s`` on: a contiguous run.  Parameters are those of
    :func:`shift_add` (``x`` in any dtype).
    """
    wdt = np.dtype(work_dtype) if work_dtype is not None else out.dtype
    if not groups:
        out[...] = 0
        return out
    nd = x.ndim
    ax = max(a for a in range(nd) if stride[a] > 1)  # the phase axis
    s_ax = stride[ax]
    kmax = [max(j[a] for _, taps in groups for j in taps) for a in range(nd)]
    blocks = _blocks(out.shape, BLOCK_ELEMENTS)
    separate = wdt != out.dtype
    typed = [(wdt.type(wv), taps) for wv, taps in groups]

    def run(block_list: Iterable[tuple[slice, ...]]) -> None:
        tmp_flat = np.empty(BLOCK_ELEMENTS, dtype=wdt)
        acc_flat = np.empty(BLOCK_ELEMENTS, dtype=wdt) if separate else None
        region: np.ndarray | None = None
        for blk in block_list:
            dst = out[blk]
            full = blk + (slice(None),) * (nd - len(blk))
            lo = [b.indices(n)[0] for b, n in zip(full, out.shape)]
            cnt = dst.shape
            # input rows read by this block, per axis (relative to `start`)
            r0 = [start[a] + lo[a] * stride[a] for a in range(nd)]
            r1 = [
                start[a] + (lo[a] + cnt[a] - 1) * stride[a] + kmax[a] * dilation[a] + 1
                for a in range(nd)
            ]
            width = -(-(r1[ax] - r0[ax]) // s_ax)
            shape = [r1[a] - r0[a] for a in range(nd)]
            shape[ax] = width
            size = s_ax * int(np.prod(shape))
            if region is None or region.size < size:
                region = np.empty(size, dtype=wdt)
            phases = region[:size].reshape(s_ax, *shape)
            for r in range(s_ax):
                src = x[
                    tuple(
                        slice(r0[a] + r, r1[a], s_ax) if a == ax else slice(r0[a], r1[a])
                        for a in range(nd)
                    )
                ]
                ph = phases[r]
                if src.shape[ax] < width:
                    ph[
                        tuple(
                            slice(src.shape[ax], None) if a == ax else slice(None)
                            for a in range(nd)
                        )
                    ] = 0
                    ph = ph[
                        tuple(
                            slice(0, src.shape[ax]) if a == ax else slice(None) for a in range(nd)
                        )
                    ]
                np.copyto(ph, src, casting="unsafe")
            views = []
            for wv, taps in typed:
                vs = []
                for j in taps:
                    sl = []
                    for a in range(nd):
                        q = j[a] * dilation[a]
                        if a == ax:
                            sl.append(slice(q // s_ax, q // s_ax + cnt[a]))
                        else:
                            sl.append(slice(q, q + (cnt[a] - 1) * stride[a] + 1, stride[a]))
                    vs.append(phases[(j[ax] * dilation[ax]) % s_ax][tuple(sl)])
                views.append((wv, vs))
            _sum_block(dst, tmp_flat, acc_flat, views, scale)

    run_split(blocks, run, threads and out.size >= THREAD_MIN_ELEMENTS)
    return out


def strided_gemm_2d(
    x: np.ndarray,
    kernel: np.ndarray,
    start: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out: np.ndarray,
    *,
    threads: bool = True,
) -> np.ndarray:
    """2-D correlation by small matrix products, for any stride and output size.

    ``out[r, c] = sum_ij w[i, j] * x[start0 + r*s0 + i*d0, start1 + c*s1 + j*d1]``; axes
    after the first two (channels: kernel size 1, stride 1) are carried whole.  For a block
    of output rows, one stack of products (one per output row) contracts the kernel's rows
    over whole input rows: ``Z[r, j, col] = sum_i x[start0 + r*s0 + i*d0, col] * w[i, j]``
    (the input rows are read in place, ``s0`` rows apart; converted block by block if ``x``
    is not C-contiguous in the output's dtype); then ``kw - 1`` adds of strided runs of ``Z``
    give the outputs.  The products cover every input column, also with a column stride:
    measured, copying the columns into phases first costs more than the products it saves.
    """
    dtype = out.dtype
    w = np.ascontiguousarray(np.asarray(kernel, dtype=dtype).reshape(kernel.shape[:2]))
    kh, kw = w.shape
    rows_out, cols_out = out.shape[:2]
    s0, s1 = stride[0], stride[1]
    d0, d1 = dilation[0], dilation[1]
    ch = math.prod(x.shape[2:])
    span = ((cols_out - 1) * s1 + (kw - 1) * d1 + 1) * ch  # input values read per row
    per = max(1, min(rows_out, STRIDED_GEMM_CHUNK // max(1, kw * span)))
    m_cols = max(1, min(span, GEMM_MAX_MNK // (kh * kw)))
    in_place = x.dtype == dtype and x.flags.c_contiguous
    row = x.shape[1] * ch if in_place else span  # elements between input rows
    nrows = (per - 1) * s0 + (kh - 1) * d0 + 1  # input rows a block reads
    blocks = list(range(0, rows_out, per))
    odst = out.reshape(rows_out, cols_out, ch)
    if not np.may_share_memory(odst, out):  # not a view of ``out``: sum apart, copy back
        odst = np.empty((rows_out, cols_out, ch), dtype=dtype)

    def run(block_list: Iterable[int]) -> None:
        z = np.empty(per * kw * span, dtype=dtype)
        buf = None if in_place else np.empty(nrows * span, dtype=dtype)
        it = z.itemsize
        for r0 in block_list:
            n = min(per, rows_out - r0)
            r_in = start[0] + r0 * s0
            if buf is None:
                src, origin = x, (r_in * x.shape[1] + start[1]) * ch
            else:  # the block's input rows, converted
                m_rows = (n - 1) * s0 + (kh - 1) * d0 + 1
                view = x[r_in : r_in + m_rows, start[1] : start[1] + span // ch]
                region = buf[: m_rows * span].reshape(view.shape[:2] + (ch,))
                np.copyto(region, view.reshape(region.shape), casting="unsafe")
                src, origin = buf, 0
            for q0 in range(0, span, m_cols):
                m = min(m_cols, span - q0)
                a3 = np.ndarray(
                    (n, m, kh), dtype, src, (origin + q0) * it, (s0 * row * it, it, d0 * row * it)
                )
                z3 = np.ndarray((n, m, kw), dtype, z, q0 * it, (kw * span * it, it, span * it))
                np.matmul(a3, w, out=z3)
            cols = [
                np.ndarray(
                    (n, cols_out, ch),
                    dtype,
                    z,
                    (j * span + j * d1 * ch) * it,
                    (kw * span * it, s1 * ch * it, it),
                )
                for j in range(kw)
            ]
            dst = odst[r0 : r0 + n]
            if kw == 1:
                np.copyto(dst, cols[0])
                continue
            np.add(cols[0], cols[1], out=dst)
            for c in cols[2:]:
                np.add(dst, c, out=dst)

    run_split(blocks, run, threads and out.size >= THREAD_MIN_ELEMENTS)
    if not np.may_share_memory(odst, out):
        out[...] = odst.reshape(out.shape)
    return out


def phased_products_2d(
    x: np.ndarray,
    kernel: np.ndarray,
    start: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out: np.ndarray,
    *,
    fill: float | None = None,
) -> np.ndarray:
    """2-D correlation with a column stride: one matrix-vector product per output row.

    ``out[r, c] = sum_ij w[i, j] * x[start0 + r*s0 + i*d0, start1 + c*s1 + j*d1]``; axes
    after the first two (channels: kernel size 1, stride 1) are carried whole.  Each block of
    output rows first copies, for every kernel column ``j``, the input samples that column
    reads into a contiguous run per input row (``run[j][c] = x[row, start1 + c*s1 + j*d1]``,
    converted to the output's dtype): ``kw`` runs of ``cols_out`` per row, so the copy is in
    proportion to the outputs kept (the polyphase decomposition along the columns, one
    phase per tap column).  The runs of the kernel's rows and columns are then a constant
    distance apart, so each output row is a product of a ``cols_out x kh*kw`` strided view
    (no further copy) with the flattened kernel, written straight into ``out``.  Input
    rows shared by consecutive output rows (``d0 = 1``, ``s0 <= kh``) are copied once;
    otherwise each output row gets its own ``kh`` rows.  See :func:`phased_ok`.

    With ``fill`` (``zero``/``constant`` padding) the samples read outside ``x`` are that
    value, so the whole output, border included, is one pass; without it every sample read
    must lie inside ``x`` (the interior).
    """
    dtype = out.dtype
    kh, kw = kernel.shape[0], kernel.shape[1]
    wv = np.ascontiguousarray(np.asarray(kernel, dtype=dtype).reshape(kh * kw))
    rows_out, cols_out = out.shape[:2]
    s0, s1 = stride[0], stride[1]
    d0, d1 = dilation[0], dilation[1]
    ch = math.prod(x.shape[2:])
    run_len = cols_out * ch  # one phase run: the samples one kernel column reads per row
    shared = d0 == 1 and s0 <= kh
    slots = s0 if shared else kh  # buffer rows per output row (beyond the block's first)
    per = max(1, min(PHASED_ELEMENTS // (slots * kw * run_len), -(-rows_out // MIN_CHUNKS)))
    m_cols = max(1, min(run_len, GEMM_MAX_MNK // (kh * kw)))
    blocks = list(range(0, rows_out, per))
    odst = out.reshape(rows_out, run_len)
    if not np.may_share_memory(odst, out):  # not a view of ``out``: products apart, copy back
        odst = np.empty((rows_out, run_len), dtype=dtype)
    width = x.shape[1]
    cols = []  # per kernel column: (first valid output column, end, input columns)
    for j in range(kw):
        c0 = start[1] + j * d1  # input column of output column 0
        lo = 0 if c0 >= 0 else min(cols_out, -(c0 // s1))
        hi = max(lo, min(cols_out, -(-(width - c0) // s1)))
        cols.append((lo, hi, slice(c0 + lo * s1, c0 + (hi - 1) * s1 + 1, s1)))
    if fill is None and any(lo != 0 or hi != cols_out for lo, hi, _ in cols):
        raise ValueError("phased_products_2d without fill reads outside the input")
    value = dtype.type(fill if fill is not None else 0)
    # A kernel column reading the columns of an earlier one ``shift`` outputs on (``j*d1``
    # equal modulo ``s1``) copies that run, contiguous, and gathers only its last ``shift``.
    reuse: list[tuple[int, int] | None] = []
    for j in range(kw):
        jj = next((i for i in range(j) if (j - i) * d1 % s1 == 0), None)
        shift = (j - jj) * d1 // s1 if jj is not None else 0
        reuse.append((jj, shift) if jj is not None and shift < cols_out else None)

    def copy_rows(dst: np.ndarray, r0: int, step: int) -> None:
        """``dst[t, j] = x[r0 + t*step, columns of j]`` (``fill`` outside ``x``)."""
        t_lo = 0 if r0 >= 0 else min(len(dst), -(r0 // step))
        t_hi = max(t_lo, min(len(dst), -(-(x.shape[0] - r0) // step)))
        if fill is None and (t_lo != 0 or t_hi != len(dst)):
            raise ValueError("phased_products_2d without fill reads outside the input")
        dst[:t_lo] = value
        dst[t_hi:] = value
        src = x[r0 + t_lo * step : r0 + (t_hi - 1) * step + 1 : step] if t_hi > t_lo else None
        for j, (lo, hi, cs) in enumerate(cols):
            run = dst[t_lo:t_hi, j]
            share = reuse[j]
            if share is not None:  # the same columns as an earlier run, shifted: contiguous
                jj, shift = share
                np.copyto(run[:, : cols_out - shift], dst[t_lo:t_hi, jj, shift:])
                lo = max(lo, cols_out - shift)
                hi = max(hi, lo)
                cs = slice(cs.start + (lo - cols[j][0]) * s1, cs.stop, s1)
                run = run[:, cols_out - shift :]
                lo, hi = lo - (cols_out - shift), hi - (cols_out - shift)
            run[:, :lo] = value
            run[:, hi:] = value
            if src is not None and hi > lo:
                np.copyto(run[:, lo:hi], src[:, cs], casting="unsafe")

    def run(block_list: Iterable[int]) -> None:
        nbuf = ((per - 1) * s0 + kh) if shared else per * kh
        buf = np.empty(nbuf * kw * run_len, dtype=dtype)
        it = buf.itemsize
        for r0 in block_list:
            n = min(per, rows_out - r0)
            r_in = start[0] + r0 * s0
            if shared:
                m = (n - 1) * s0 + kh
                copy_rows(buf[: m * kw * run_len].reshape(m, kw, cols_out, *x.shape[2:]), r_in, 1)
            else:
                b = buf[: n * kh * kw * run_len].reshape(n, kh, kw, cols_out, *x.shape[2:])
                for i in range(kh):
                    copy_rows(b[:, i], r_in + i * d0, s0)
            step = slots * kw * run_len * it
            for q0 in range(0, run_len, m_cols):
                mc = min(m_cols, run_len - q0)
                a3 = np.ndarray((n, mc, kh * kw), dtype, buf, q0 * it, (step, it, run_len * it))
                np.matmul(a3, wv, out=odst[r0 : r0 + n, q0 : q0 + mc])

    run(blocks)  # one thread: see phased_ok
    if not np.may_share_memory(odst, out):
        out[...] = odst.reshape(out.shape)
    return out


def phased_ok(
    shape: Sequence[int],
    kernel_shape: Sequence[int],
    stride: Sequence[int],
) -> bool:
    """Whether :func:`phased_products_2d` applies and pays.

    Two axes (and channels after them: kernel size 1, stride 1), a column stride of 2 or
    more (with stride 1 every column is read anyway: :func:`strided_gemm_2d` and the flat
    path read them in place), and output rows long enough for a product to be worth its call.
    The copies run on one thread (two contend for the GIL and measured slower): with two
    workers, only up to :data:`PHASED_MAX_OUTPUTS` outputs, beyond which the two threads of
    :func:`strided_gemm_2d` win although they compute every column.
    """
    if len(shape) < 2 or stride[1] < 2:
        return False
    if any(k != 1 for k in kernel_shape[2:]) or any(s != 1 for s in stride[2:]):
        return False
    cols_out = -(-shape[1] // stride[1]) * math.prod(shape[2:])
    if engine_threads.WORKERS > 1 and -(-shape[0] // stride[0]) * cols_out > PHASED_MAX_OUTPUTS:
        return False  # two threads of products over every column do better
    return cols_out * kernel_shape[0] * kernel_shape[1] >= 9 * GEMM_MIN_ROWS


def gemm_2d_ok(
    shape: Sequence[int],
    kernel_shape: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> bool:
    """Whether :func:`strided_gemm_2d` applies and pays.

    Two axes (and channels after them: kernel size 1, stride 1), two kernel rows or more,
    and phase rows long enough for the products to be worth their call.
    """
    if len(shape) < 2 or kernel_shape[0] < 2:
        return False
    if any(k != 1 for k in kernel_shape[2:]) or any(s != 1 for s in stride[2:]):
        return False
    rows = shape[1] * math.prod(shape[2:]) * dilation[0]
    return _products_pay(rows, kernel_shape[0], kernel_shape[1])


def _products_pay(rows: int, k: int, n: int) -> bool:
    """Whether stacked ``rows x k`` by ``k x n`` products beat ``k*n`` shift-adds.

    Each product in a stack costs a few tens of nanoseconds; it pays once it holds as many
    multiply-adds as a 3x3 kernel on :data:`GEMM_MIN_ROWS` rows (a large kernel pays on
    narrow rows: its shift-adds would be twice its taps in ufunc calls).
    """
    return min(rows, _gemm_rows(rows, k, n)) * k * n >= 9 * GEMM_MIN_ROWS


def correlate_direct(
    xp: np.ndarray,
    kernel: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    *,
    threads: bool = True,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Correlate a padded array with a kernel of the same number of axes ("valid" geometry).

    Parameters
    ----------
    xp : ndarray
        The padded input, in the compute dtype; it must hold at least
        ``(out-1)*s + d*(k-1) + 1`` samples per axis.
    kernel : ndarray
        The kernel, same number of axes as ``xp`` (size 1 on channel axes).
    stride, dilation : sequence of int
        Per axis.
    out_shape : sequence of int
        The output shape.
    threads : bool, optional
        Split large outputs over two threads.
    out : ndarray, optional
        Where to write the result (any strides), of ``xp``'s dtype.

    Returns
    -------
    ndarray
        ``out[o] = sum_j kernel[j] * xp[o*stride + j*dilation]``.
    """
    order = long_axis_last(out_shape)
    if order is not None:  # a thin slab: make its long axis the inner loop
        xt = np.ascontiguousarray(xp.transpose(order))
        res = correlate_direct(
            xt,
            kernel.transpose(order),
            [stride[a] for a in order],
            [dilation[a] for a in order],
            [out_shape[a] for a in order],
            threads=threads,
        )
        back = res.transpose(np.argsort(order))
        if out is None:
            return np.ascontiguousarray(back)
        out[...] = back
        return out
    if out is None:
        out = np.empty(tuple(out_shape), dtype=xp.dtype)
    w = kernel.astype(xp.dtype, copy=False)
    return shift_add(xp, group_taps(w), [0] * xp.ndim, stride, dilation, out, threads=threads)


#: An innermost output axis shorter than this makes numpy's inner loops too short to pay.
SHORT_INNER = 64


def long_axis_last(shape: Sequence[int]) -> list[int] | None:
    """Return an axis order that puts the longest axis innermost, if the innermost is short.

    numpy's ufunc loops run along the innermost axis; a slab of a few columns (the left and
    right borders of an image) would run thousands of loops a few samples long.

    Examples
    --------
    >>> long_axis_last((4096, 2))
    [1, 0]
    >>> long_axis_last((2, 4096)) is None
    True
    """
    if len(shape) < 2 or shape[-1] >= SHORT_INNER:
        return None
    longest = max(range(len(shape)), key=lambda a: shape[a])
    if shape[longest] < 4 * shape[-1]:
        return None
    return [a for a in range(len(shape)) if a != longest] + [longest]


# --------------------------------------------------------------------------- interior/border


def interior(
    size: int, kernel: int, stride: int, dilation: int, pad_lo: int, out: int
) -> tuple[int, int]:
    """Return the output range ``[lo, hi)`` whose taps all read inside the input.

    Examples
    --------
    >>> interior(10, 3, 1, 1, 1, 10)
    (1, 9)
    >>> interior(4096, 3, 2, 1, 0, 2048)
    (0, 2047)
    """
    keff = dilation * (kernel - 1) + 1
    lo = min(out, -(-pad_lo // stride))
    last = size - keff + pad_lo  # the largest o*s allowed
    hi = min(out, last // stride + 1) if last >= 0 else 0
    return lo, max(lo, hi)


def border_boxes(
    shape: Sequence[int], inner: Sequence[tuple[int, int]]
) -> list[tuple[tuple[int, int], ...]]:
    """Split ``shape`` minus the box ``inner`` into at most ``2*ndim`` disjoint boxes.

    Examples
    --------
    >>> border_boxes((4, 5), [(1, 3), (1, 4)])
    [((0, 1), (0, 5)), ((3, 4), (0, 5)), ((1, 3), (0, 1)), ((1, 3), (4, 5))]
    """
    boxes = []
    for a, (lo, hi) in enumerate(inner):
        before = list(inner[:a])
        after = [(0, n) for n in shape[a + 1 :]]
        if lo > 0:
            boxes.append(tuple(before + [(0, lo)] + after))
        if hi < shape[a]:
            boxes.append(tuple(before + [(hi, shape[a])] + after))
    return boxes


def fill_border(
    x: np.ndarray,
    out: np.ndarray,
    boxes: Iterable[tuple[tuple[int, int], ...]],
    kernel_shape: Sequence[int],
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    mode: str,
    value: float,
    compute: Callable[[np.ndarray, np.ndarray], None],
) -> None:
    """Compute each output box from a small padded window of ``x``.

    ``compute(window, out_box)`` correlates a padded window ("valid") into a view of ``out``.
    """
    for bx in boxes:
        if any(hi <= lo for lo, hi in bx):
            continue
        bounds = [
            (lo * s - p, (hi - 1) * s - p + d * (k - 1) + 1)
            for (lo, hi), s, p, d, k in zip(bx, stride, pad_lo, dilation, kernel_shape)
        ]
        win = pad_window(x, bounds, mode, value, dtype=out.dtype)
        compute(win, out[tuple(slice(lo, hi) for lo, hi in bx)])


def int16_plan(dtype: np.dtype, kernel: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Return ``(integer kernel, scale)`` if int16 sums are exact for this input, else None.

    The input must be ``uint8``, ``int8`` or ``bool`` and the kernel ``scale`` times an
    integer kernel whose absolute sum times the largest input magnitude is below 32767.

    Examples
    --------
    >>> k, s = int16_plan(np.dtype(np.uint8), np.array([1.0, 2.0, 1.0]) / 4)
    >>> k.tolist(), s
    ([1, 2, 1], 0.25)
    >>> int16_plan(np.dtype(np.uint8), np.ones(200)) is None
    True
    """
    peak = {"u": 255, "i": 128, "b": 1}.get(dtype.kind)
    if peak is None or dtype.itemsize != 1 or not np.any(kernel):
        return None
    k = np.ascontiguousarray(kernel, dtype=np.float64)
    found = _integer_kernel(k.shape, k.tobytes()) if k.size <= 4096 else _unit(k)
    if found is None:
        return None
    rounded, scale = found
    if peak * float(np.abs(rounded).sum()) >= 32767:
        return None
    return rounded.astype(np.int16), scale


@lru_cache(maxsize=64)
def _integer_kernel(shape: tuple[int, ...], data: bytes) -> tuple[np.ndarray, float] | None:
    """:func:`_unit` of a kernel given by its bytes, remembered (planning asks for each call)."""
    return _unit(np.frombuffer(data, dtype=np.float64).reshape(shape))


def _unit(kernel: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Return ``(rounded, scale)`` with ``kernel == scale * rounded`` integers, or None.

    An integer kernel stays as it is; otherwise a unit that makes it one is looked for: its
    smallest weight or a fraction of it (1/9 box, 3/8 and 1/2), or a power of two (/16).
    All candidates are tried at once; the first that fits is taken.
    """
    small = float(np.abs(kernel[kernel != 0]).min())
    units = np.array(
        [1.0, small, *(small / m for m in range(2, 13)), *(2.0**-p for p in range(1, 25))]
    )
    ints = kernel.reshape(1, -1) / units[:, None]
    rounded = np.round(ints)
    fits = np.all(np.abs(ints - rounded) <= 1e-9 * np.maximum(np.abs(rounded), 1.0), axis=1)
    if not fits.any():
        return None
    i = int(np.argmax(fits))
    return rounded[i].reshape(kernel.shape), float(units[i])


def correlate_unpadded(
    x: np.ndarray,
    kernel: np.ndarray,
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    mode: str,
    value: float,
    dtype: np.dtype,
    *,
    threads: bool = True,
    gemm: bool | None = None,
) -> np.ndarray:
    """Correlate without a padded copy: the interior from ``x`` itself, the border apart.

    A small output with stride 1 is one flat run over the input padded once
    (:func:`correlate_window`).  Otherwise the *interior* (outputs whose taps all read
    inside the input) reads ``x`` in place, and the border is computed from small padded
    windows: with stride 1 one window per axis, the slabs before and after the interior
    stacked (:func:`border_windows`); with strides one per border box.

    Parameters
    ----------
    x : ndarray
        The input, any dtype and strides.
    kernel : ndarray
        Same number of axes as ``x`` (size 1 on channel axes), float64.
    pad_lo : sequence of int
        Padding before each axis.
    stride, dilation : sequence of int
        Per axis.
    out_shape : sequence of int
        The output shape.
    mode, value : str, float
        Pad mode and its fill value, for the border.
    dtype : dtype
        The compute and result dtype.
    threads : bool, optional
        Split large outputs over two threads.
    gemm : bool, optional
        Use the matrix-product path where the geometry allows (default: wherever it does);
        the planner decides by cost.

    Returns
    -------
    ndarray
    """
    dtype = np.dtype(dtype)
    out = np.empty(tuple(out_shape), dtype=dtype)
    if not np.any(kernel):  # no tap reads anything (the flat path's reach would be empty)
        out[...] = 0
        return out
    needed = math.prod(
        (o - 1) * s + d * (k - 1) + 1
        for o, s, d, k in zip(out_shape, stride, dilation, kernel.shape)
    )
    if needed <= SMALL_ELEMENTS:  # one padded copy costs less than the border slabs' calls
        _small(x, kernel, pad_lo, stride, dilation, out, mode, value, threads, gemm)
        return out
    if (
        gemm is not False
        and mode in ("zero", "constant")
        and any(s > 1 for s in stride)
        and phased_ok(x.shape, kernel.shape, stride)
        and tuple(out_shape[2:]) == x.shape[2:]
        and not any(pad_lo[2:])
    ):  # the column phases read the padding's value themselves: no border slabs
        fill = value if mode == "constant" else 0.0
        start = [-p for p in pad_lo]
        return phased_products_2d(x, kernel, start, stride, dilation, out, fill=fill)
    stride1 = all(s == 1 for s in stride)
    inner = [
        interior(n, k, s, d, p, o)
        for n, k, s, d, p, o in zip(x.shape, kernel.shape, stride, dilation, pad_lo, out_shape)
    ]
    if all(hi > lo for lo, hi in inner):
        _interior(x, kernel, inner, pad_lo, stride, dilation, out, threads, gemm)
    else:
        inner = [(0, 0)] * x.ndim
    k = kernel.astype(dtype)

    def window(win: np.ndarray, dst: np.ndarray) -> None:
        if stride1 and win.ndim == 2 and win.shape[0] >= NARROW_RATIO * win.shape[1]:
            # A tall, narrow slab (the columns before and after the interior): its flat run
            # would be cut into short rows; transposed, the taps run along its long axis.
            win_t = np.ascontiguousarray(win.T)
            dst_t = np.empty(dst.shape[::-1], dtype=dst.dtype)
            stage = direct_stage(win_t.shape, k.T, [0, 0], dilation[::-1], gemm)
            correlate_window(win_t, [[stage]], dst_t)
            dst[...] = dst_t.T
        elif stride1:
            stage = direct_stage(win.shape, k, [0] * win.ndim, dilation, gemm)
            correlate_window(win, [[stage]], dst)
        else:
            correlate_direct(win, k, stride, dilation, dst.shape, threads=False, out=dst)

    border_windows(x, out, inner, kernel.shape, pad_lo, dilation, mode, value, window, stride)
    return out


def _small(
    x: np.ndarray,
    kernel: np.ndarray,
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out: np.ndarray,
    mode: str,
    value: float,
    threads: bool,
    gemm: bool | None,
) -> None:
    """Correlate a small output: pad the input once, then run over the padded window.

    With stride 1, one flat run over the window (:func:`correlate_window`); with strides,
    the interior paths with the whole output as interior.  8-bit input keeps its type in the
    window (summed in int16) where the fill value fits it.
    """
    dtype = out.dtype
    bounds = [
        (-p, -p + (o - 1) * s + d * (k - 1) + 1)
        for p, o, s, d, k in zip(pad_lo, out.shape, stride, dilation, kernel.shape)
    ]
    if math.prod(b - a for a, b in bounds) <= TINY_ELEMENTS and np.count_nonzero(kernel) <= 32:
        _tiny(pad_window(x, bounds, mode, value, dtype=dtype), kernel, stride, dilation, out)
        return
    ints = int16_plan(x.dtype, kernel) if dtype == np.float32 else None
    if ints is not None and mode == "constant" and not _fits(value, x.dtype):
        ints = None
    win = pad_window(x, bounds, mode, value, dtype=x.dtype if ints is not None else dtype)
    zero = [0] * x.ndim
    # Small float64 work sums tap by tap, in the formula's order (matrix products would
    # reorder the sums): exact to the last bit for distinct weights.
    exact = dtype == np.float64 and out.size * np.count_nonzero(kernel) <= SMALL_WORK
    use_gemm = False if exact else gemm
    if any(s > 1 for s in stride):
        whole = [(0, n) for n in out.shape]
        _interior(win, kernel, whole, zero, stride, dilation, out, threads, use_gemm)
        return
    if ints is not None:
        stage: Stage = TapStage(flat_offsets(win.shape, group_taps(ints[0]), zero, dilation))
        correlate_window(
            win, [[stage]], out, work_dtype=np.dtype(np.int16), scale=ints[1], threads=threads
        )
        return
    k = kernel.astype(dtype)
    stage = direct_stage(win.shape, k, zero, dilation, use_gemm)
    correlate_window(win, [[stage]], out, threads=threads)


def _tiny(
    win: np.ndarray,
    kernel: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    out: np.ndarray,
) -> None:
    """Correlate a tiny padded window ("valid"): one multiply-add per tap over views.

    The fewest numpy calls and no set-up: for a few thousand samples the calls are the cost.
    Taps are summed in the formula's order (exact in float64).
    """
    tmp = np.empty_like(out)
    first = True
    for j in zip(*np.nonzero(kernel)):
        view = win[
            tuple(
                slice(i * d, i * d + (o - 1) * s + 1, s)
                for i, d, o, s in zip(j, dilation, out.shape, stride)
            )
        ]
        if first:
            np.multiply(view, kernel[j], out=out, casting="unsafe")
            first = False
        else:
            np.multiply(view, kernel[j], out=tmp, casting="unsafe")
            np.add(out, tmp, out=out)


def _fits(value: float, dtype: np.dtype) -> bool:
    """Whether ``value`` is exactly representable in the integer or bool ``dtype``."""
    if not float(value).is_integer():
        return False
    if dtype.kind == "b":
        return value in (0.0, 1.0)
    info = np.iinfo(dtype)
    return info.min <= value <= info.max


def direct_stage(
    shape: Sequence[int],
    kernel: np.ndarray,
    pad_lo: Sequence[int],
    dilation: Sequence[int],
    gemm: bool | None = None,
    groups: TapGroups | None = None,
) -> Stage:
    """Return the flat-path stage of a kernel on a C-contiguous array of ``shape``.

    Matrix products (:func:`gemm_stage`) where they pay and ``gemm`` is not False, else
    shift-adds of the tap groups (``groups``: :func:`group_taps` of the kernel, if known).
    """
    stage = gemm_stage(shape, kernel, pad_lo, dilation) if gemm is not False else None
    if stage is not None:
        return stage
    groups = group_taps(kernel) if groups is None else groups
    return TapStage(flat_offsets(shape, groups, pad_lo, dilation))


def correlate_window(
    win: np.ndarray,
    terms: Sequence[Sequence[Stage]],
    dst: np.ndarray,
    *,
    work_dtype: np.dtype | None = None,
    scale: float | None = None,
    threads: bool = False,
) -> None:
    """Correlate a padded window ("valid", stride 1) by flat passes, into ``dst``.

    ``terms`` are sums of stage sequences planned for ``win``'s shape with no padding (one
    term for a direct kernel, one per rank term for separable passes).  The flat run covers
    every position of the window from the first output to the last; the positions past the
    valid extent of an inner axis read wrapped-around samples and are dropped.

    Parameters
    ----------
    win : ndarray
        The C-contiguous padded window.
    terms : sequence of sequence of Stage
        Summed; each is applied as :func:`flat_passes` applies it.
    dst : ndarray
        The valid outputs (any strides), ``win.shape - (k' - 1)`` per axis.
    work_dtype, scale, threads
        As for :func:`flat_passes`.
    """
    if dst.size == 0:
        return
    st = _c_strides(win.shape)
    n_flat = sum((o - 1) * s for o, s in zip(dst.shape, st)) + 1
    buf = np.empty(n_flat, dtype=dst.dtype)
    for r, stages in enumerate(terms):
        flat_passes(
            win,
            stages,
            0,
            n_flat,
            buf,
            work_dtype=work_dtype,
            scale=scale,
            accumulate=r > 0,
            threads=threads,
        )
    item = buf.itemsize
    dst[...] = np.ndarray(dst.shape, buf.dtype, buf, 0, tuple(s * item for s in st))


def border_windows(
    x: np.ndarray,
    out: np.ndarray,
    inner: Sequence[tuple[int, int]],
    kernel_shape: Sequence[int],
    pad_lo: Sequence[int],
    dilation: Sequence[int],
    mode: str,
    value: float,
    compute: Callable[[np.ndarray, np.ndarray], None],
    stride: Sequence[int] | None = None,
) -> None:
    """Compute the border of an output around its finished interior box.

    Axis by axis (as :func:`border_boxes` splits the border), the slabs before and after the
    interior come from one window: their two padded windows stacked along that axis, the
    first one lengthened to a multiple of the stride so that the second starts on an output.
    The outputs that straddle the seam are computed and dropped.  ``compute(window, dst)``
    correlates a C-contiguous window ("valid", with ``stride``) into ``dst``.  An empty
    ``inner`` box (all ``(0, 0)``) makes the whole output one slab.
    """
    nd = x.ndim
    st = list(stride) if stride is not None else [1] * nd
    keff = [d * (k - 1) + 1 for k, d in zip(kernel_shape, dilation)]
    if all(hi <= lo for lo, hi in inner):
        inner = [(0, 0)] + [(0, n) for n in out.shape[1:]]
    for a in range(nd):
        lo, hi = inner[a]
        span = [inner[b] if b < a else (0, out.shape[b]) for b in range(nd)]
        parts = [(o0, o1) for o0, o1 in ((0, lo), (hi, out.shape[a])) if o1 > o0]
        if not parts or any(r1 <= r0 for b, (r0, r1) in enumerate(span) if b != a):
            continue
        s = st[a]
        reads = [(o1 - o0 - 1) * s + keff[a] for o0, o1 in parts]  # window samples per part
        lens = [-(-n // s) * s for n in reads[:-1]] + [reads[-1]]
        bounds = [
            (r0 * sb - p, (r1 - 1) * sb - p + ke)
            for (r0, r1), sb, p, ke in zip(span, st, pad_lo, keff)
        ]
        shape = [b1 - b0 for b0, b1 in bounds]
        shape[a] = sum(lens)
        win = np.zeros(shape, dtype=out.dtype) if s > 1 else np.empty(shape, dtype=out.dtype)
        res_shape = [r1 - r0 for r0, r1 in span]
        res_shape[a] = (shape[a] - keff[a]) // s + 1
        res = np.empty(res_shape, dtype=out.dtype)
        pos = 0
        for (o0, _), n, m in zip(parts, reads, lens):
            bounds[a] = (o0 * s - pad_lo[a], o0 * s - pad_lo[a] + n)
            pad_window(x, bounds, mode, value, dtype=out.dtype, out=_along(win, a, pos, pos + n))
            pos += m
        compute(win, res)
        pos = 0
        for (o0, o1), m in zip(parts, lens):
            dst = [slice(r0, r1) for r0, r1 in span]
            dst[a] = slice(o0, o1)
            out[tuple(dst)] = _along(res, a, pos // s, pos // s + o1 - o0)
            pos += m


def _along(arr: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    """``arr[..., start:stop, ...]`` on ``axis``."""
    sl = [slice(None)] * arr.ndim
    sl[axis] = slice(start, stop)
    return arr[tuple(sl)]


def _interior(
    x: np.ndarray,
    kernel: np.ndarray,
    inner: Sequence[tuple[int, int]],
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out: np.ndarray,
    threads: bool,
    gemm: bool | None = None,
) -> None:
    """Compute the interior box of ``out`` from ``x`` (flat path where it applies)."""
    dtype = out.dtype
    ints = int16_plan(x.dtype, kernel) if dtype == np.float32 else None
    wdt = np.dtype(np.int16) if ints is not None else dtype
    k = ints[0] if ints is not None else kernel.astype(dtype)
    scale = ints[1] if ints is not None else None
    if flat_ok(x.shape, out.shape, stride):
        xc = np.ascontiguousarray(x)
        st = _c_strides(out.shape)
        f0 = sum(lo * s for (lo, _), s in zip(inner, st))
        f1 = sum((hi - 1) * s for (_, hi), s in zip(inner, st)) + 1
        use_gemm = False if ints is not None else gemm
        stage = direct_stage(x.shape, k, pad_lo, dilation, use_gemm)
        flat_passes(xc, [stage], f0, f1, out, work_dtype=wdt, scale=scale, threads=threads)
        return
    box = tuple(slice(lo, hi) for lo, hi in inner)
    start = [lo * s - p for (lo, _), s, p in zip(inner, stride, pad_lo)]
    if gemm is not False and phased_ok(x.shape, kernel.shape, stride):
        phased_products_2d(x, kernel, start, stride, dilation, out[box])
        return
    if gemm is not False and gemm_2d_ok(x.shape, kernel.shape, stride, dilation):
        kf = kernel.astype(dtype)
        strided_gemm_2d(x, kf, start, stride, dilation, out[box], threads=threads)
        return
    groups = group_taps(k)
    if any(s > 1 for s in stride):
        phased_shift_add(
            x,
            groups,
            start,
            stride,
            dilation,
            out[box],
            work_dtype=wdt,
            scale=scale,
            threads=threads,
        )
        return
    src = x if x.dtype == wdt else x.astype(wdt)
    shift_add(
        src,
        groups,
        start,
        stride,
        dilation,
        out[box],
        work_dtype=wdt,
        scale=scale,
        threads=threads,
    )
