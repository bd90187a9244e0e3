"""Separable correlation: an exact split of the kernel into 1-D passes.

A kernel of rank 1 (an outer product of one vector per axis, any number of axes) becomes one
1-D pass per axis.  A 2-D kernel of rank ``r`` (its SVD) becomes a sum of ``r`` such pairs of
passes, used where ``r`` is below the kernel's smaller side.  Each pass is the direct
shift-add along one axis, on the input padded once for all axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from convcli.engine._direct import correlate_direct

__all__ = ["Factorization", "factorize", "correlate_separable", "RANK_TOL"]

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
        u, sv, vt = np.linalg.svd(k)
        if sv[0] == 0.0:
            return Factorization(((np.zeros(k.shape[0]), np.zeros(k.shape[1])),))
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


def correlate_separable(
    xp: np.ndarray,
    factors: Factorization,
    spatial_axes: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    *,
    threads: bool = True,
) -> np.ndarray:
    """Correlate by 1-D passes.

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
    return total
