"""Direct correlation: shift-add over strided views, in cache-sized blocks, on two threads.

For every non-zero tap ``j`` the output block gains ``w[j] * x_padded[o*s + j*d]``, read
through a strided view of the padded input, so only the strided output points are ever
computed (never the full result then a subsample).  The output is built block by block along
its outer axes; each block stays in cache while every tap is added to it.  Extra memory is one
small scratch block per thread: no im2col of the image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import product

import numpy as np

__all__ = ["correlate_direct", "BLOCK_ELEMENTS"]

#: Output elements per block: 2**16 float32 (256 KiB) keeps a block and its scratch in L2.
BLOCK_ELEMENTS = 1 << 16
#: Below this many output elements the work is not split across threads.
THREAD_MIN_ELEMENTS = 1 << 18

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor | None:
    global _POOL
    workers = min(2, os.cpu_count() or 1)
    if workers < 2:
        return None
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="convcli")
    return _POOL


def _blocks(out_shape: Sequence[int], target: int) -> list[tuple[slice | int, ...]]:
    """Split the output into blocks of about ``target`` elements along its outer axes."""
    inner = 1
    axis = len(out_shape)
    # Find the outermost axis whose inner product still fits in a block.
    while axis > 0 and inner * out_shape[axis - 1] <= target:
        axis -= 1
        inner *= out_shape[axis]
    if axis == 0:
        return [tuple(slice(None) for _ in out_shape)]
    b = axis - 1  # rows of this axis are grouped into blocks
    rows = max(1, target // inner)
    blocks: list[tuple[slice | int, ...]] = []
    for lead in product(*(range(n) for n in out_shape[:b])):
        for r0 in range(0, out_shape[b], rows):
            blocks.append(tuple(lead) + (slice(r0, min(r0 + rows, out_shape[b])),))
    return blocks


def _tap_views(
    xp: np.ndarray,
    taps: Sequence[tuple[tuple[int, ...], float]],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
) -> Iterator[tuple[np.ndarray, float]]:
    for j, wj in taps:
        sl = tuple(
            slice(jj * d, jj * d + (o - 1) * s + 1, s)
            for jj, d, s, o in zip(j, dilation, stride, out_shape)
        )
        yield xp[sl], wj


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
        Where to write the result.

    Returns
    -------
    ndarray
        ``out[o] = sum_j kernel[j] * xp[o*stride + j*dilation]``.
    """
    dtype = xp.dtype
    if out is None:
        out = np.empty(tuple(out_shape), dtype=dtype)
    w = kernel.astype(dtype, copy=False)
    taps = [(j, w[j]) for j in zip(*np.nonzero(w))]
    if not taps:
        out[...] = 0
        return out
    views = list(_tap_views(xp, taps, stride, dilation, out_shape))
    blocks = _blocks(out.shape, BLOCK_ELEMENTS)

    def run(block_list: list[tuple[slice | int, ...]]) -> None:
        scratch = np.empty(BLOCK_ELEMENTS, dtype=dtype)
        for blk in block_list:
            acc = out[blk]
            tmp = scratch[: acc.size].reshape(acc.shape)
            first = True
            for view, wj in views:
                src = view[blk]
                if first:
                    np.multiply(src, wj, out=acc)
                    first = False
                else:
                    np.multiply(src, wj, out=tmp)
                    np.add(acc, tmp, out=acc)

    pool = _pool() if threads and out.size >= THREAD_MIN_ELEMENTS and len(blocks) > 1 else None
    if pool is None:
        run(blocks)
    else:
        half = len(blocks) // 2
        futures = [pool.submit(run, blocks[:half]), pool.submit(run, blocks[half:])]
        for f in futures:
            f.result()
    return out
