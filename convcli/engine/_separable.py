"""Separable correlation: an exact split of the kernel into 1-D passes.

A kernel of rank 1 (an outer product of one vector per axis, any number of axes) becomes one
1-D pass per axis.  A 2-D kernel of rank ``r`` (its SVD) becomes a sum of ``r`` such pairs of
passes, used where ``r`` is below the kernel's smaller side.  Each pass is the direct
shift-add along one axis: fused chunk by chunk on flat runs of the unpadded input where the
geometry allows (see :mod:`convcli.engine._direct`), else over the input padded once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from convcli.engine import _direct
from convcli.engine._direct import (
    GemmStage,
    Stage,
    TapStage,
    ToeplitzStage,
    border_windows,
    correlate_direct,
    correlate_window,
    fill_border,
    flat_ok,
    flat_passes,
    interior,
    toeplitz_stage,
)
from convcli.engine.threads import run_split

__all__ = [
    "Factorization",
    "factorize",
    "correlate_separable",
    "correlate_separable_padded",
    "pass_order",
    "separable_stages",
    "RANK_TOL",
]

#: Singular values below ``RANK_TOL * largest`` (or an outer-product residual below
#: ``RANK_TOL * max|w|``) count as zero: the split is then exact to float32 rounding.
RANK_TOL = 1e-7


@dataclass(frozen=True)
class Factorization:
    """The kernel as ``sum_r outer(vectors[r][0], vectors[r][1], ...)``.

    Attributes
    ----------
    terms : tuple of tuple of ndarray
        One tuple of 1-D float64 vectors per rank term, one vector per kernel axis.
    """

    terms: tuple[tuple[np.ndarray, ...], ...]

    @property
    def rank(self) -> int:
        """Number of terms."""
        return len(self.terms)


def _rank1(kernel: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """Split a kernel into one vector per axis if it is an outer product, else None."""
    k = np.asarray(kernel, dtype=np.float64)
    peak = float(np.max(np.abs(k)))
    if peak == 0.0:
        return tuple(np.zeros(n) for n in k.shape)
    m = np.unravel_index(int(np.argmax(np.abs(k))), k.shape)
    pivot = k[m]
    vectors = []
    for ax in range(k.ndim):
        idx = list(m)
        idx[ax] = slice(None)  # type: ignore[call-overload]
        v = k[tuple(idx)].copy()
        if ax > 0:
            v /= pivot
        vectors.append(v)
    recon = vectors[0]
    for v in vectors[1:]:
        recon = np.multiply.outer(recon, v)
    if float(np.max(np.abs(recon - k))) > RANK_TOL * peak:
        return None
    return tuple(vectors)


def factorize(kernel: np.ndarray) -> Factorization | None:
    """Return an exact split of the kernel into separable terms, or None.

    Rank 1 for any number of axes; for 2-D kernels also rank ``r < min(kernel.shape)``.

    Examples
    --------
    >>> f = factorize(np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0]))
    >>> f.rank
    1
    >>> factorize(np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])).rank
    2
    >>> factorize(np.eye(3)) is None
    True
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim == 1:
        return Factorization(((k.copy(),),))
    if k.ndim == 2 and min(k.shape) > 1:
        # An outer product first: a row and a column of the kernel (exact for integer
        # kernels), and cheaper than the SVD that the other kernels need.
        exact = _rank1(k)
        if exact is not None:
            return Factorization((exact,))
        u, sv, vt = np.linalg.svd(k)
        rank = int(np.sum(sv > RANK_TOL * sv[0]))
        if rank >= min(k.shape):
            return None
        terms = tuple((u[:, r] * sv[r], vt[r].copy()) for r in range(rank))
        recon = sum(np.outer(a, b) for a, b in terms)
        if float(np.max(np.abs(recon - k))) > RANK_TOL * 10 * float(np.max(np.abs(k))):
            return None
        return Factorization(terms)
    vectors = _rank1(k)
    return None if vectors is None else Factorization((vectors,))


def pass_order(
    kernel_shape: Sequence[int],
    padded: Sequence[int],
    out_shape: Sequence[int],
    axes: Sequence[int],
) -> list[int]:
    """Order the 1-D passes so that the total work is smallest.

    A pass along axis ``a`` costs (current size) x ``k_a`` and shrinks the size by
    ``r_a = out_a / padded_a``; doing ``a`` before ``b`` is cheaper when
    ``k_a * (1 - r_b) < k_b * (1 - r_a)``.
    """

    def key(a: int) -> float:
        shrink = 1.0 - out_shape[a] / padded[a]
        return kernel_shape[a] / shrink if shrink > 0 else float("inf")

    return sorted(axes, key=key)


def correlate_separable_padded(
    xp: np.ndarray,
    factors: Factorization,
    spatial_axes: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    *,
    threads: bool = True,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Correlate a padded array by 1-D passes over whole arrays ("valid" geometry).

    Parameters
    ----------
    xp : ndarray
        The padded input in the compute dtype (all axes, channel axes included).
    factors : Factorization
        The kernel's separable terms; vectors are given per spatial axis, in order.
    spatial_axes : sequence of int
        The axes of ``xp`` the vectors apply to.
    stride, dilation, out_shape : sequence of int
        Per axis of ``xp`` (1, 1 and the channel count on channel axes).
    threads : bool, optional
        Split large passes over two threads.
    out : ndarray, optional
        Where to write the result (any strides).

    Returns
    -------
    ndarray
    """
    dtype = xp.dtype
    total: np.ndarray | None = None
    for term in factors.terms:
        vec = dict(zip(spatial_axes, term))
        # A size-1 vector with stride 1 needs no pass: it is a scalar factor.
        skipped = [a for a in spatial_axes if vec[a].size == 1 and stride[a] == 1]
        if len(skipped) == len(spatial_axes):  # the whole kernel is one tap
            skipped = skipped[1:]
        scale = float(np.prod([vec[a][0] for a in skipped]))
        axes = [a for a in spatial_axes if a not in skipped]
        ksize = [vec[a].size if a in vec else 1 for a in range(xp.ndim)]
        order = pass_order(ksize, xp.shape, out_shape, axes)
        y = xp
        for n, a in enumerate(order):
            v = vec[a] * (scale if n == 0 else 1.0)
            shape = [1] * xp.ndim
            shape[a] = v.size
            w = v.reshape(shape)
            pass_out = list(y.shape)
            pass_out[a] = out_shape[a]
            st = [1] * xp.ndim
            st[a] = stride[a]
            dl = [1] * xp.ndim
            dl[a] = dilation[a]
            y = correlate_direct(y, w.astype(dtype), st, dl, pass_out, threads=threads)
        if total is None:
            total = np.ascontiguousarray(y)
        else:
            total += y
    assert total is not None
    if out is None:
        return total
    out[...] = total
    return out


def correlate_separable(
    x: np.ndarray,
    factors: Factorization,
    spatial_axes: Sequence[int],
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    mode: str,
    value: float,
    dtype: np.dtype,
    *,
    threads: bool = True,
) -> np.ndarray:
    """Correlate by 1-D passes, fused chunk by chunk: no whole-size intermediate result.

    With stride 1 and the inner axes keeping their sizes, each chunk of the interior runs the
    passes one after another on flat runs of the input (outermost axis first, so the
    intermediate results a chunk needs are barely larger than the chunk), and the border
    comes from one padded window per axis (:func:`convcli.engine._direct.border_windows`).
    Other stride-1 geometries (and small outputs) run the same fused passes over padded
    windows of a block of outputs each; strided outputs pad a window per block and run each
    pass over the block.

    Parameters
    ----------
    x : ndarray
        The input, any dtype.
    factors : Factorization
        The kernel's separable terms, one vector per spatial axis.
    spatial_axes : sequence of int
        The axes of ``x`` the vectors apply to.
    pad_lo, stride, dilation, out_shape : sequence of int
        Per axis of ``x`` (0, 1, 1 and the channel count on channel axes).
    mode, value : str, float
        Pad mode and fill value.
    dtype : dtype
        The compute and result dtype.
    threads : bool, optional
        Use two threads where it pays.

    Returns
    -------
    ndarray
    """
    dtype = np.dtype(dtype)
    kshape = [1] * x.ndim
    for a, v in zip(spatial_axes, factors.terms[0]):
        kshape[a] = v.size
    inner = [
        interior(n, k, s, d, p, o)
        for n, k, s, d, p, o in zip(x.shape, kshape, stride, dilation, pad_lo, out_shape)
    ]
    needed = math.prod(
        (o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out_shape, stride, dilation, kshape)
    )
    small = needed <= _direct.SMALL_ELEMENTS
    out = np.empty(tuple(out_shape), dtype=dtype)
    stride1 = all(s == 1 for s in stride)

    def window(win: np.ndarray, dst: np.ndarray) -> None:
        terms = separable_stages(win.shape, factors, spatial_axes, [0] * win.ndim, dilation)
        correlate_window(win, terms, dst, threads=threads and small)

    def passes(win: np.ndarray, dst: np.ndarray) -> None:
        correlate_separable_padded(
            win, factors, spatial_axes, stride, dilation, dst.shape, threads=False, out=dst
        )

    if not small and flat_ok(x.shape, out_shape, stride) and all(hi > lo for lo, hi in inner):
        _fused_interior(x, factors, spatial_axes, pad_lo, dilation, inner, out, threads)
        border_windows(x, out, inner, kshape, pad_lo, dilation, mode, value, window)
        return out
    compute = window if stride1 else passes
    if small:
        whole = [tuple((0, n) for n in out_shape)]
        fill_border(x, out, whole, kshape, pad_lo, stride, dilation, mode, value, compute)
        return out

    def run(boxes: Iterable[tuple[tuple[int, int], ...]]) -> None:
        fill_border(x, out, boxes, kshape, pad_lo, stride, dilation, mode, value, compute)

    run_split(_row_boxes(out_shape), run, threads)
    return out


def _row_boxes(out_shape: Sequence[int]) -> list[tuple[tuple[int, int], ...]]:
    """Split an output into boxes of about ``BLOCK_ELEMENTS * 4`` along its outer axes."""
    blocks = _direct._blocks(out_shape, 4 * _direct.BLOCK_ELEMENTS)
    return [
        tuple(b.indices(n)[:2] for b, n in zip(blk + (slice(None),) * len(out_shape), out_shape))
        for blk in blocks
    ]


def _fused_interior(
    x: np.ndarray,
    factors: Factorization,
    spatial_axes: Sequence[int],
    pad_lo: Sequence[int],
    dilation: Sequence[int],
    inner: Sequence[tuple[int, int]],
    out: np.ndarray,
    threads: bool,
) -> None:
    """Compute the interior box by fused flat passes over ``x`` itself (stride 1, sizes kept)."""
    xc = np.ascontiguousarray(x)
    strides = _direct._c_strides(x.shape)
    f0 = sum(lo * s for (lo, _), s in zip(inner, strides))
    f1 = sum((hi - 1) * s for (_, hi), s in zip(inner, strides)) + 1
    terms = separable_stages(x.shape, factors, spatial_axes, pad_lo, dilation)
    for r, stages in enumerate(terms):
        flat_passes(
            xc, stages, f0, f1, out, work_dtype=out.dtype, accumulate=r > 0, threads=threads
        )


def separable_stages(
    shape: Sequence[int],
    factors: Factorization,
    spatial_axes: Sequence[int],
    pad_lo: Sequence[int],
    dilation: Sequence[int],
) -> list[list[Stage]]:
    """Plan the 1-D passes of each rank term as flat-path stages on an array of ``shape``.

    Outermost axis first; a pass along an axis with a long flat stride is a matrix-vector
    product per run of outputs, the innermost pass Toeplitz products (from
    ``TOEPLITZ_STAGE_MIN_TAPS`` taps) or shift-adds.  One-tap axes fold into the first stage
    (their weight as a scale, their padding as an offset).
    """
    strides = _direct._c_strides(shape)
    terms: list[list[Stage]] = []
    for term in factors.terms:
        stages: list[Stage] = []
        scale = 1.0
        shift = 0  # the offsets of one-tap axes, folded into the first stage
        for a, v in zip(spatial_axes, term):  # outermost axis first
            if v.size == 1:
                scale *= float(v[0])
                shift -= pad_lo[a] * strides[a]
                continue
            stages.append(_pass_stage(v, strides[a], pad_lo[a], dilation[a]))
        if not stages:  # a one-tap kernel
            stages.append(TapStage([(1.0, [0])]))
        stages[0] = _scaled(stages[0], scale, shift)
        terms.append(stages)
    return terms


def _pass_stage(v: np.ndarray, stride: int, pad: int, dilation: int) -> Stage:
    """One 1-D pass along an axis of flat stride ``stride`` as a flat-path stage."""
    step = dilation * stride
    if step >= _direct.GEMM_MIN_ROWS:  # a matrix-vector product per run of outputs
        return GemmStage(step, -pad * stride, v.reshape(-1, 1).copy(), (0,))
    if stride == 1 and v.size >= _direct.TOEPLITZ_STAGE_MIN_TAPS:
        return toeplitz_stage(v, -pad, dilation)
    groups: dict[float, list[int]] = {}
    for j in range(v.size):
        if v[j] != 0:
            groups.setdefault(float(v[j]), []).append((j * dilation - pad) * stride)
    return TapStage(sorted(groups.items(), key=lambda g: -len(g[1])))


def _scaled(stage: Stage, scale: float, shift: int) -> Stage:
    """Return the stage with its weights times ``scale``, reading ``shift`` further on."""
    if isinstance(stage, GemmStage):
        return GemmStage(stage.step, stage.base + shift, stage.weights * scale, stage.offsets)
    if isinstance(stage, ToeplitzStage):
        return ToeplitzStage(
            stage.base + shift, stage.dilation, stage.taps * scale, stage.matrix * scale
        )
    return TapStage([(w * scale, [o + shift for o in offs]) for w, offs in stage.groups])
