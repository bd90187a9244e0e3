"""FFT correlation: real FFTs of fast lengths, the pad mode's own values, strided outputs.

Three ways, all exact up to float rounding:

- **Whole.**  The input is padded as its pad mode says (not just zeros) to a fast FFT length
  per axis; a circular correlation of that length gives every output untouched by the
  wrap-around, since the outputs only read ``(out-1)*s + k'`` samples.
- **Tiles (overlap-save).**  The outputs are cut into tiles of ``T`` samples per transformed
  axis (blocks, in 1-D); each tile reads a padded window of ``T`` samples from
  :func:`convcli.padding.pad_window` (no padded copy of the whole input) and keeps the
  ``T - k' + 1`` outputs its circular correlation gets right.  Tiles go through batched real
  FFTs with ``workers``; the kernel's spectrum is computed once, at the tile size.  Small
  transforms stay in cache, and memory stays bounded whatever the input's length.
- **Circular, exact size.**  With the ``circular`` pad mode and input sizes that are fast
  lengths, the circular correlation of the input itself *is* the padded result: no padding,
  and the transform has the input's own size.  The kernel is folded modulo the size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import product

import numpy as np

from convcli.engine.threads import WORKERS, run_split
from convcli.padding import pad_window

__all__ = [
    "WORKERS",
    "TILE_BATCH_ELEMENTS",
    "fast_length",
    "is_fast_length",
    "dilate",
    "ols_block",
    "correlate_fft",
    "correlate_whole",
    "correlate_tiles",
    "correlate_circular",
]

#: Real samples per batch of tiles (one FFT call, one thread): 2**20 float32 = 4 MiB.
TILE_BATCH_ELEMENTS = 1 << 20


def fast_length(n: int) -> int:
    """Return the smallest length >= n that scipy.fft transforms fast (5-smooth).

    Examples
    --------
    >>> fast_length(1000), fast_length(1025)
    (1000, 1080)
    """
    import scipy.fft

    return int(scipy.fft.next_fast_len(int(n), real=True))


def is_fast_length(n: int) -> bool:
    """Whether ``n`` is a product of 2, 3 and 5 only (no scipy import).

    Examples
    --------
    >>> is_fast_length(4096), is_fast_length(4099)
    (True, False)
    """
    if n < 1:
        return False
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


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

    A power of two: the smallest at least ``2*keff`` and 1024 up to 512 taps, else the
    smallest at least ``8*keff`` (measured: fewer, longer blocks pay for long kernels), capped
    at 2**17 (1 MiB of complex64, in L2) unless the kernel itself needs more.

    Examples
    --------
    >>> ols_block(101), ols_block(301), ols_block(1001), ols_block(65537)
    (1024, 1024, 8192, 131072)
    """
    factor = 2 if keff <= 512 else 8
    m = max(1024, 1 << (factor * keff - 1).bit_length())
    m = min(m, 1 << 17)
    while m < keff + 1:
        m *= 2
    return m


def _spectrum(
    kernel: np.ndarray, dtype: np.dtype, dilation: Sequence[int], axes: Sequence[int], n: list[int]
) -> np.ndarray:
    import scipy.fft

    w = dilate(kernel.astype(dtype), dilation, axes)
    wf = scipy.fft.rfftn(w, s=n, axes=axes, workers=WORKERS)
    np.conjugate(wf, out=wf)
    return wf


def correlate_fft(
    x: np.ndarray,
    kernel: np.ndarray,
    spatial_axes: Sequence[int],
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    mode: str,
    value: float,
    dtype: np.dtype,
    *,
    tile: int | None = None,
) -> np.ndarray:
    """Correlate by FFT: circular exact size, tiles, or one whole transform.

    Parameters
    ----------
    x : ndarray
        The input, any dtype.
    kernel : ndarray
        Same number of axes as ``x`` (size 1 on channel axes).
    spatial_axes : sequence of int
        The axes to transform.
    pad_lo, stride, dilation, out_shape : sequence of int
        Per axis of ``x`` (0, 1, 1 and the size on channel axes).
    mode, value : str, float
        Pad mode and fill value.
    dtype : dtype
        The compute and result dtype.
    tile : int, optional
        Overlap-save: the FFT length per transformed axis.

    Returns
    -------
    ndarray
    """
    dtype = np.dtype(dtype)
    if mode == "circular" and all(is_fast_length(x.shape[a]) for a in spatial_axes):
        return correlate_circular(
            x, kernel, spatial_axes, pad_lo, stride, dilation, out_shape, dtype
        )
    if tile is not None:
        return correlate_tiles(
            x, kernel, spatial_axes, pad_lo, stride, dilation, out_shape, mode, value, dtype, tile
        )
    return correlate_whole(
        x, kernel, spatial_axes, pad_lo, stride, dilation, out_shape, mode, value, dtype
    )


def correlate_whole(
    x: np.ndarray,
    kernel: np.ndarray,
    spatial_axes: Sequence[int],
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    mode: str,
    value: float,
    dtype: np.dtype,
) -> np.ndarray:
    """Correlate by one N-D real FFT of the input padded to fast lengths."""
    import scipy.fft

    axes = list(spatial_axes)
    bounds = [(0, n) for n in x.shape]
    n = []
    for a in axes:
        keff = dilation[a] * (kernel.shape[a] - 1) + 1
        size = fast_length((out_shape[a] - 1) * stride[a] + keff)
        bounds[a] = (-pad_lo[a], size - pad_lo[a])
        n.append(size)
    xp = pad_window(x, bounds, mode, value, dtype=dtype)
    wf = _spectrum(kernel, dtype, [dilation[a] for a in axes], axes, n)
    xf = scipy.fft.rfftn(xp, axes=axes, workers=WORKERS)
    del xp
    xf *= wf
    y = scipy.fft.irfftn(xf, s=n, axes=axes, workers=WORKERS)
    del xf
    sl = tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out_shape, stride))
    return np.ascontiguousarray(y[sl], dtype=dtype)


def correlate_tiles(
    x: np.ndarray,
    kernel: np.ndarray,
    spatial_axes: Sequence[int],
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    mode: str,
    value: float,
    dtype: np.dtype,
    tile: int,
) -> np.ndarray:
    """Correlate by overlap-save over tiles of ``tile`` samples per transformed axis.

    An axis whose padded extent fits in one tile is transformed whole, at a fast length.
    """
    import scipy.fft

    axes = list(spatial_axes)
    if len(axes) == 1:
        return _blocks_1d(
            x, kernel, axes[0], pad_lo, stride, dilation, out_shape, mode, value, dtype, tile
        )
    nd = x.ndim
    size = list(x.shape)  # the window (tile) shape, all axes
    per = list(out_shape)  # outputs per tile, all axes
    for a in axes:
        keff = dilation[a] * (kernel.shape[a] - 1) + 1
        needed = (out_shape[a] - 1) * stride[a] + keff
        if needed <= tile:
            size[a] = fast_length(needed)
        else:
            size[a] = tile
            per[a] = (tile - keff) // stride[a] + 1
    counts = [-(-o // p) for o, p in zip(out_shape, per)]
    tiles = list(product(*(range(c) for c in counts)))
    n = [size[a] for a in axes]
    wf = _spectrum(kernel, dtype, [dilation[a] for a in axes], axes, n)
    out = np.empty(tuple(out_shape), dtype=dtype)
    batch = max(1, TILE_BATCH_ELEMENTS // math.prod(size))
    faxes = [a + 1 for a in axes]
    groups = [tiles[t0 : t0 + batch] for t0 in range(0, len(tiles), batch)]

    def run(items: Iterable[list[tuple[int, ...]]]) -> None:
        buf = np.empty((min(batch, len(tiles)), *size), dtype=dtype)
        for group in items:
            for i, idx in enumerate(group):
                bounds = []
                for a in range(nd):
                    o0 = idx[a] * per[a]
                    start = o0 * stride[a] - pad_lo[a] if a in axes else 0
                    bounds.append((start, start + size[a]))
                pad_window(x, bounds, mode, value, dtype=dtype, out=buf[i])
            xf = scipy.fft.rfftn(buf[: len(group)], axes=faxes, workers=1)
            xf *= wf
            y = scipy.fft.irfftn(xf, s=n, axes=faxes, workers=1)
            del xf
            for i, idx in enumerate(group):
                src: list[int | slice] = [i]
                dst: list[slice] = []
                for a in range(nd):
                    o0 = idx[a] * per[a]
                    m = min(per[a], out_shape[a] - o0)
                    dst.append(slice(o0, o0 + m))
                    src.append(
                        slice(0, (m - 1) * stride[a] + 1, stride[a]) if a in axes else slice(None)
                    )
                out[tuple(dst)] = y[tuple(src)]

    # Batches go to two threads (pocketfft releases the GIL), each pulling the next batch
    # when done: steadier than splitting every transform in two when a core is busy.
    run_split(groups, run, WORKERS > 1)
    return out


def _blocks_1d(
    x: np.ndarray,
    kernel: np.ndarray,
    axis: int,
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    mode: str,
    value: float,
    dtype: np.dtype,
    block: int,
) -> np.ndarray:
    """1-D overlap-save: per line and batch of blocks, one padded window and its frames."""
    import scipy.fft

    s, d, p = stride[axis], dilation[axis], pad_lo[axis]
    w = np.ravel(kernel)
    keff = d * (w.size - 1) + 1
    out_len = out_shape[axis]
    per = (block - keff) // s + 1  # outputs per block
    advance = per * s  # input samples per block
    wf = _spectrum(w, dtype, [d], [0], [block])
    out = np.empty(tuple(out_shape), dtype=dtype)
    xm = np.moveaxis(x, axis, -1)
    om = np.moveaxis(out, axis, -1)
    nblocks = -(-out_len // per)
    batch = max(1, TILE_BATCH_ELEMENTS // block)
    jobs = [(lead, b0) for lead in np.ndindex(*xm.shape[:-1]) for b0 in range(0, nblocks, batch)]

    def run(items: Iterable[tuple[tuple[int, ...], int]]) -> None:
        win = np.empty((min(batch, nblocks) - 1) * advance + block, dtype=dtype)
        item = win.itemsize
        for lead, b0 in items:
            line, dst = xm[lead], om[lead]
            nb = min(batch, nblocks - b0)
            start = b0 * advance - p
            length = (nb - 1) * advance + block
            seg = pad_window(
                line, [(start, start + length)], mode, value, dtype=dtype, out=win[:length]
            )
            frames = np.lib.stride_tricks.as_strided(
                seg, shape=(nb, block), strides=(advance * item, item), writeable=False
            )
            yf = scipy.fft.rfft(frames, axis=-1, workers=1)
            yf *= wf
            y = scipy.fft.irfft(yf, n=block, axis=-1, workers=1)
            del yf
            o0 = b0 * per
            o1 = min(o0 + nb * per, out_len)
            dst[o0:o1] = y[:, : (per - 1) * s + 1 : s].reshape(-1)[: o1 - o0]

    run_split(jobs, run, WORKERS > 1)
    return out


def correlate_circular(
    x: np.ndarray,
    kernel: np.ndarray,
    spatial_axes: Sequence[int],
    pad_lo: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    out_shape: Sequence[int],
    dtype: np.dtype,
) -> np.ndarray:
    """Correlate with the ``circular`` pad mode by an FFT of the input's own size.

    ``y[o] = sum_j w[j] * x[(o*s - p_lo + j*d) mod n]`` on every spatial axis, for any
    padding, stride and dilation: the circular correlation ``c`` of ``x`` with the kernel
    folded modulo ``n``, read at ``(o*s - p_lo) mod n``.
    """
    import scipy.fft

    axes = list(spatial_axes)
    n = [x.shape[a] for a in axes]
    w = dilate(np.asarray(kernel, dtype=np.float64), [dilation[a] for a in axes], axes)
    folded = np.zeros([x.shape[a] if a in axes else 1 for a in range(x.ndim)])
    idx = np.ix_(*(np.arange(w.shape[a]) % x.shape[a] if a in axes else [0] for a in range(x.ndim)))
    np.add.at(folded, idx, w)
    wf = scipy.fft.rfftn(folded.astype(dtype), axes=axes, workers=WORKERS)
    np.conjugate(wf, out=wf)
    xf = scipy.fft.rfftn(np.asarray(x, dtype=dtype), axes=axes, workers=WORKERS)
    xf *= wf
    c = scipy.fft.irfftn(xf, s=n, axes=axes, workers=WORKERS)
    del xf
    sel = []
    simple = True
    for a in range(x.ndim):
        if a in axes:
            pos = (np.arange(out_shape[a]) * stride[a] - pad_lo[a]) % x.shape[a]
            sel.append(pos)
            simple = simple and stride[a] == 1 and out_shape[a] == x.shape[a]
        else:
            sel.append(np.arange(out_shape[a]))
    if simple:  # a pure shift: roll each axis
        shifts = [pad_lo[a] for a in axes]
        return np.ascontiguousarray(np.roll(c, shifts, axis=axes), dtype=dtype)
    return np.ascontiguousarray(c[np.ix_(*sel)], dtype=dtype)
