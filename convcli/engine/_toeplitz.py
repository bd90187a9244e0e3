"""1-D correlation by blocked Toeplitz matrix products (one GEMM per chunk of samples).

Outputs are taken ``B`` at a time: output block ``b`` of a chunk reads the ``K`` input samples
``win[b*B*s : b*B*s + K]`` with ``K = (B-1)*s + (L-1)*d + 1``, so a chunk of ``nb`` blocks is
the product of an ``nb x K`` matrix of overlapping input rows (copied from the padded window:
``K/(B*s)`` times the chunk, cache-sized) and the ``K x B`` banded Toeplitz matrix of the
kernel, ``T[c*s + j*d, c] = w[j]``.  That is ``K`` multiply-adds per output instead of ``L``,
but at matrix-product speed: it beats the shift-add from a few dozen taps up to a few hundred,
where overlap-save FFT takes over.  numpy's matmul runs it on stacks of small products (no
scipy import is needed), on two threads.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from convcli.engine.threads import run_split
from convcli.padding import pad_window

__all__ = [
    "TOEPLITZ_CHUNK",
    "GEMM_ROWS",
    "toeplitz_block",
    "toeplitz_matrix",
    "correlate_toeplitz",
]

#: Elements of the im2col matrix per chunk (``nb x K``; 2**17 float32 = 512 KiB).
TOEPLITZ_CHUNK = 1 << 17
#: Rows per matrix product: small enough that OpenBLAS keeps each product on one thread.
GEMM_ROWS = 16


def toeplitz_block(taps: int, stride: int = 1) -> int:
    """Return the outputs per matrix row ``B``: 32 for short kernels, 128 from 200 taps.

    Measured: 32 is best up to about 100 taps, 128 at 300 (overlap-save wins from there).

    Examples
    --------
    >>> toeplitz_block(101), toeplitz_block(301)
    (32, 128)
    """
    return 32 if taps < 200 else 128


def toeplitz_matrix(w: np.ndarray, block: int, stride: int, dilation: int) -> np.ndarray:
    """Return the ``K x B`` matrix ``T`` with ``T[c*s + j*d, c] = w[j]``.

    Examples
    --------
    >>> toeplitz_matrix(np.array([1.0, 2.0]), 3, 1, 1)
    array([[1., 0., 0.],
           [2., 1., 0.],
           [0., 2., 1.],
           [0., 0., 2.]])
    """
    k = (block - 1) * stride + (w.size - 1) * dilation + 1
    t = np.zeros((k, block), dtype=w.dtype)
    rows = np.arange(block)[None, :] * stride + np.arange(w.size)[:, None] * dilation
    t[rows, np.broadcast_to(np.arange(block), rows.shape)] = w[:, None]
    return t


def correlate_toeplitz(
    x: np.ndarray,
    w: np.ndarray,
    axis: int,
    pad_lo: int,
    stride: int,
    dilation: int,
    out_len: int,
    mode: str,
    value: float,
    dtype: np.dtype,
    *,
    block: int | None = None,
    threads: bool = True,
) -> np.ndarray:
    """Correlate every 1-D line of ``x`` along ``axis`` with the 1-D kernel ``w``.

    Parameters
    ----------
    x : ndarray
        The input, any dtype and strides; the other axes are channels.
    w : ndarray
        The 1-D kernel.
    axis : int
        The spatial axis.
    pad_lo, stride, dilation : int
        Along ``axis``.
    out_len : int
        Output length along ``axis``.
    mode, value : str, float
        Pad mode and fill value (the padded window of each chunk comes from
        :func:`convcli.padding.pad_window`: no padded copy of the whole input).
    dtype : dtype
        The compute and result dtype.
    block : int, optional
        Outputs per matrix row (default :func:`toeplitz_block`).
    threads : bool, optional
        Split the chunks over two threads.

    Returns
    -------
    ndarray
        The result, C-contiguous, ``axis`` of length ``out_len``.
    """
    dtype = np.dtype(dtype)
    b = block or toeplitz_block(w.size, stride)
    t = toeplitz_matrix(np.asarray(w, dtype=dtype), b, stride, dilation)
    k = t.shape[0]
    rows = max(1, TOEPLITZ_CHUNK // k // GEMM_ROWS) * GEMM_ROWS  # matrix rows per chunk
    per_chunk = rows * b  # outputs per chunk
    shape = list(x.shape)
    shape[axis] = out_len
    out = np.empty(shape, dtype=dtype)
    xm = np.moveaxis(x, axis, -1)
    om = np.moveaxis(out, axis, -1)
    jobs = [
        (lead, o0) for lead in np.ndindex(*xm.shape[:-1]) for o0 in range(0, out_len, per_chunk)
    ]

    def run(items: Iterable[tuple[tuple[int, ...], int]]) -> None:
        win = np.empty((rows - 1) * b * stride + k, dtype=dtype)
        a_buf = np.empty((rows, k), dtype=dtype)
        y_buf = np.empty((rows, b), dtype=dtype)
        item = win.itemsize
        for lead, o0 in items:
            o1 = min(o0 + per_chunk, out_len)
            nb = -(-(o1 - o0) // b)
            nb = -(-nb // GEMM_ROWS) * GEMM_ROWS
            start = o0 * stride - pad_lo
            length = (nb - 1) * b * stride + k
            seg = pad_window(
                xm[lead], [(start, start + length)], mode, value, dtype=dtype, out=win[:length]
            )
            frames = np.lib.stride_tricks.as_strided(
                seg, shape=(nb, k), strides=(b * stride * item, item), writeable=False
            )
            np.copyto(a_buf[:nb], frames)
            # Many small products in one call: OpenBLAS runs each on the calling thread (no
            # spinning helper threads) and numpy releases the GIL for the whole stack.
            np.matmul(
                a_buf[:nb].reshape(-1, GEMM_ROWS, k),
                t,
                out=y_buf[:nb].reshape(-1, GEMM_ROWS, b),
            )
            om[lead][o0:o1] = y_buf[:nb].reshape(-1)[: o1 - o0]

    run_split(jobs, run, threads and len(jobs) > 1)
    return out
