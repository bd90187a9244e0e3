"""FFT correlation: real FFTs of fast lengths, the pad mode's own values, strided outputs.

The input is padded as its pad mode says (not just zeros) to a fast FFT length per axis; a
circular correlation of that length gives every "valid" output untouched by the wrap-around,
since the outputs only read ``(out-1)*s + k'`` samples.  Long 1-D signals go by overlap-save in
blocks (batched real FFTs, a bounded number of blocks at a time).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = ["fast_length", "dilate", "correlate_fft", "correlate_overlap_save", "ols_block"]

WORKERS = os.cpu_count() or 1
#: Elements of the overlap-save batch (blocks x block length x channels) per FFT call.
OLS_BATCH_ELEMENTS = 1 << 22


def fast_length(n: int) -> int:
    """Return the smallest length >= n that scipy.fft transforms fast (5-smooth).

    Examples
    --------
    >>> fast_length(1000), fast_length(1025)
    (1000, 1080)
    """
    import scipy.fft

    return int(scipy.fft.next_fast_len(int(n), real=True))


def dilate(kernel: np.ndarray, dilation: Sequence[int], axes: Sequence[int]) -> np.ndarray:
    """Insert ``d - 1`` zeros between the taps along each axis.

    Examples
    --------
    >>> dilate(np.array([1.0, 2.0, 3.0]), [2], [0])
    array([1., 0., 2., 0., 3.])
    """
    if all(d == 1 for d in dilation):
        return kernel
    shape = list(kernel.shape)
    sl: list[slice] = [slice(None)] * kernel.ndim
    for a, d in zip(axes, dilation):
        shape[a] = d * (kernel.shape[a] - 1) + 1
        sl[a] = slice(None, None, d)
    out = np.zeros(shape, dtype=kernel.dtype)
    out[tuple(sl)] = kernel
    return out


def ols_block(keff: int) -> int:
    """Overlap-save FFT length for a 1-D kernel of extent ``keff``.

    The smallest power of two at least ``2*keff`` and 1024, capped at 2**17 (1 MiB of
    complex64, L2-resident) unless the kernel itself needs more.

    Examples
    --------
    >>> ols_block(101), ols_block(65537)
    (1024, 131072)
    """
    m = max(1024, 1 << (2 * keff - 1).bit_length())
    m = min(m, 1 << 17)
    while m < keff + 1:
        m *= 2
    return m


def correlate_fft(
    xp: np.ndarray,
    kernel: np.ndarray,
    spatial_axes: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
) -> np.ndarray:
    """Correlate by one N-D real FFT.

    Parameters
    ----------
    xp : ndarray
        The padded input in the compute dtype; along each spatial axis it must be a fast
        length at least ``(out-1)*s + k'`` (extra samples are never read by a valid output).
    kernel : ndarray
        Same number of axes as ``xp`` (size 1 on channel axes).
    spatial_axes : sequence of int
        The axes to transform.
    stride, dilation : sequence of int
        Per spatial axis.
    out_shape : sequence of int
        The output shape (all axes of ``xp``).

    Returns
    -------
    ndarray
    """
    import scipy.fft

    axes = list(spatial_axes)
    n = [xp.shape[a] for a in axes]
    w = dilate(kernel.astype(xp.dtype, copy=False), dilation, axes)
    wf = scipy.fft.rfftn(w, s=n, axes=axes, workers=WORKERS)
    xf = scipy.fft.rfftn(xp, axes=axes, workers=WORKERS)
    np.conjugate(wf, out=wf)
    xf *= wf
    y = scipy.fft.irfftn(xf, s=n, axes=axes, workers=WORKERS)
    sl: list[slice] = [slice(None)] * xp.ndim
    for a, s, o in zip(axes, stride, (out_shape[a] for a in axes)):
        sl[a] = slice(0, (o - 1) * s + 1, s)
    for a in range(xp.ndim):
        if a not in axes:
            sl[a] = slice(0, out_shape[a])
    return np.ascontiguousarray(y[tuple(sl)], dtype=xp.dtype)


def correlate_overlap_save(
    xp: np.ndarray,
    kernel: np.ndarray,
    axis: int,
    stride: int,
    dilation: int,
    out_len: int,
    block: int,
) -> np.ndarray:
    """Correlate along one axis by overlap-save, with batched real FFTs of length ``block``.

    Parameters
    ----------
    xp : ndarray
        The padded input (compute dtype); along ``axis`` at least
        ``nblocks*step + block - step`` samples, where ``step = block - k' + 1`` and
        ``nblocks = ceil(((out_len-1)*stride + 1) / step)``.
    kernel : ndarray
        The kernel, size 1 on every axis but ``axis``.
    axis : int
        The spatial axis.
    stride, dilation : int
        Along ``axis``.
    out_len : int
        Output length along ``axis``.
    block : int
        FFT length.

    Returns
    -------
    ndarray
        The output, ``axis`` of length ``out_len``.
    """
    import scipy.fft

    dtype = xp.dtype
    x = np.moveaxis(xp, axis, -1)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])  # (channels, samples); a copy only if not contiguous
    w = dilate(np.ravel(kernel).astype(dtype), [dilation], [0])
    keff = w.size
    step = block - keff + 1
    wf = np.conjugate(scipy.fft.rfft(w, n=block))
    full_len = (out_len - 1) * stride + 1  # full-resolution outputs needed
    nblocks = -(-full_len // step)
    # Blocks per batch, a multiple of the stride so every batch starts on an output sample.
    per_batch = max(1, OLS_BATCH_ELEMENTS // (block * x2.shape[0]))
    out = np.empty((x2.shape[0], out_len), dtype=dtype)
    frames = np.lib.stride_tricks.sliding_window_view(x2, block, axis=-1)
    for b0 in range(0, nblocks, per_batch):
        b1 = min(b0 + per_batch, nblocks)
        seg = frames[:, b0 * step : (b1 - 1) * step + 1 : step, :]
        yf = scipy.fft.rfft(seg, axis=-1, workers=WORKERS)
        yf *= wf
        y = scipy.fft.irfft(yf, n=block, axis=-1, workers=WORKERS)[:, :, :step]
        y = y.reshape(x2.shape[0], -1)  # full-resolution outputs t0 .. t0 + len - 1
        t0 = b0 * step
        t1 = min(t0 + y.shape[1], full_len)
        first = -(-t0 // stride)  # first output index o with o*stride >= t0
        last = (t1 - 1) // stride
        if last >= first:
            out[:, first : last + 1] = y[:, first * stride - t0 : last * stride - t0 + 1 : stride]
    out = out.reshape(lead + (out_len,))
    return np.ascontiguousarray(np.moveaxis(out, -1, axis))
