"""Exact integer correlation of 8-bit samples, each block of rows rounded into its output type.

An 8-bit image filtered by an integer kernel (up to one common scale, a power of two: the
3x3 binomial over 16, a sharpen, a Sobel) needs no float at all: every sum fits int16, and
``sum * 2**-k`` rounded half to even is integer arithmetic
(:func:`round_scaled`).  The float path computes the same numbers (the products and sums of
such a kernel are exact in float32), so the output is identical; what it saves is the float
image, the separate cast and its min/max scans.

:class:`IntegerCorrelation` correlates a padded window ("valid" geometry) of rows by the
engine's flat shift-adds in int16 (:func:`convcli.engine._direct.flat_passes`; strided views
with strides), block of rows by block of rows on the engine's two threads, and hands each
block of sums to a ``finish`` callable while it is still in cache: it writes the block to
its output type.  The buffers are allocated once and reused from window to window (the
first touch of fresh memory costs more than the arithmetic on this kind of machine).

This module is the engine's entry for the job layer's image strips
(:mod:`convcli.jobs.strips`); it uses the direct path's primitives and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from convcli.engine._direct import (
    TapStage,
    flat_offsets,
    flat_passes,
    group_taps,
    int16_plan,
    shift_add,
)
from convcli.engine.threads import run_split

__all__ = ["IntegerKernel", "integer_kernel", "IntegerCorrelation", "round_scaled"]

#: Output rows per block handed to ``finish`` (each thread takes blocks in turn).
BLOCK_ROWS = 8


@dataclass(frozen=True)
class IntegerKernel:
    """A kernel as integer taps times a power of two, summed exactly in int16.

    Parameters
    ----------
    taps : numpy.ndarray
        The integer weights (int16), the kernel's axes.
    shift : int
        The kernel is ``taps * 2**-shift`` (``shift >= 0``).
    """

    taps: np.ndarray
    shift: int

    @property
    def scale(self) -> float:
        """``2**-shift``."""
        return math.ldexp(1.0, -self.shift)


def integer_kernel(
    dtype: np.dtype, kernel: np.ndarray, pad_mode: str = "zero", pad_value: float = 0.0
) -> IntegerKernel | None:
    """Return the kernel as int16 taps and a power-of-two scale, if integer sums are exact.

    The input must be uint8, the kernel ``2**-shift`` times integers (the engine's
    :func:`convcli.engine._direct.int16_plan`) whose sums, and the rounding's carry, stay
    within int16; a ``constant`` pad value must be a uint8 value.

    Examples
    --------
    >>> k = integer_kernel(np.dtype(np.uint8), np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    >>> k.taps.tolist(), k.shift
    ([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 4)
    >>> integer_kernel(np.dtype(np.uint8), np.ones((3, 3)) / 9) is None  # 1/9: not a power of 2
    True
    """
    if np.dtype(dtype) != np.uint8:
        return None
    if pad_mode == "constant" and not (float(pad_value).is_integer() and 0 <= pad_value <= 255):
        return None
    found = int16_plan(np.dtype(dtype), np.asarray(kernel, dtype=np.float64))
    if found is None:
        return None
    taps, scale = found
    mantissa, exponent = math.frexp(scale)
    if mantissa != 0.5:
        return None
    shift = 1 - exponent
    if shift < 0:
        return None
    positive = 255 * int(np.clip(taps, 0, None).astype(np.int64).sum())
    carry = (1 << (shift - 1)) if shift > 0 else 0
    if positive + carry > np.iinfo(np.int16).max:
        return None
    return IntegerKernel(taps.astype(np.int16), shift)


def round_scaled(sums: np.ndarray, shift: int, out: np.ndarray) -> int:
    """Write ``sums * 2**-shift`` rounded half to even, clipped to ``out``'s dtype; count clips.

    ``round(s / 2**k)`` half to even is ``(s + 2**(k-1) - 1 + ((s >> k) & 1)) >> k`` in
    integers (``>>`` floors, also for negative sums); numpy's ``rint`` of the float product
    gives the same integer whenever the product is exact.

    Parameters
    ----------
    sums : numpy.ndarray
        int16 sums.
    shift : int
        The power of two to divide by (``>= 0``).
    out : numpy.ndarray
        Same shape, an unsigned or signed integer dtype.

    Returns
    -------
    int
        How many samples were outside ``out``'s range.

    Examples
    --------
    >>> s = np.array([8, 24, 9, -8, -24, 4100], np.int16)
    >>> out = np.empty(6, np.uint8)
    >>> round_scaled(s, 4, out), out.tolist()
    (2, [0, 2, 1, 0, 0, 255])
    """
    if shift > 0:
        r = np.right_shift(sums, shift)
        np.bitwise_and(r, 1, out=r)
        r += (1 << (shift - 1)) - 1
        r += sums
        np.right_shift(r, shift, out=r)
    else:
        r = sums
    if not r.size:
        return 0
    info = np.iinfo(out.dtype)
    lo, hi = int(r.min()), int(r.max())
    if lo >= info.min and hi <= info.max:
        np.copyto(out, r, casting="unsafe")
        return 0
    clipped = int(np.count_nonzero(r < info.min)) + int(np.count_nonzero(r > info.max))
    bounds = np.iinfo(r.dtype)
    low, high = max(info.min, bounds.min), min(info.max, bounds.max)
    np.copyto(out, np.clip(r, low, high), casting="unsafe")
    return clipped


#: ``finish(first_row, stop_row, sums)``: the sums of output rows ``[first_row, stop_row)``.
Finish = Callable[[int, int, np.ndarray], None]


class IntegerCorrelation:
    """Correlate padded windows of 8-bit rows with an :class:`IntegerKernel`, block by block.

    Parameters
    ----------
    kernel : IntegerKernel
        The taps (2-D: rows, columns).
    window_shape : tuple of int
        The largest window: ``(rows, columns, channels)`` of padded input.
    out_cols : int
        Output columns (the window's columns may reach past what they read).
    stride, dilation : sequence of int
        Per spatial axis (rows, columns).
    threads : bool, optional
        Split each window's blocks over the engine's two threads.
    """

    def __init__(
        self,
        kernel: IntegerKernel,
        window_shape: tuple[int, int, int],
        out_cols: int,
        stride: Sequence[int],
        dilation: Sequence[int],
        *,
        threads: bool = True,
    ) -> None:
        self.kernel = kernel
        self.shape = tuple(int(n) for n in window_shape)
        self.stride = (int(stride[0]), int(stride[1]), 1)
        self.dilation = (int(dilation[0]), int(dilation[1]), 1)
        self.threads = threads
        taps = kernel.taps[:, :, None]
        self._groups = group_taps(taps)
        self._reach = [d * (k - 1) + 1 for d, k in zip(self.dilation, taps.shape)]
        rows, cols, ch = self.shape
        self.out_cols = int(out_cols)
        flat = self.stride[0] == 1 and self.stride[1] == 1
        self._stage = (
            TapStage(flat_offsets(self.shape, self._groups, [0, 0, 0], self.dilation))
            if flat
            else None
        )
        out_rows = (rows - self._reach[0]) // self.stride[0] + 1
        # Stride 1: sums at every window position (the row pitch of the window); else the
        # output's own shape.
        self._sums = np.empty((out_rows, cols if flat else self.out_cols, ch), dtype=np.int16)
        self._wide = None if flat else np.empty(self.shape, dtype=np.int16)

    def out_rows(self, window_rows: int) -> int:
        """Output rows of a window of ``window_rows`` rows."""
        return (window_rows - self._reach[0]) // self.stride[0] + 1

    def __call__(self, window: np.ndarray, finish: Finish) -> None:
        """Correlate a window and hand every block of output rows' sums to ``finish``.

        ``window`` is ``(rows, columns, channels)`` uint8, C-contiguous, of the shape's
        columns and at most its rows.
        """
        rows, cols, ch = window.shape
        n = self.out_rows(rows)
        blocks = [(r, min(r + BLOCK_ROWS, n)) for r in range(0, n, BLOCK_ROWS)]
        out_cols = self.out_cols
        if self._stage is not None:
            stage, sums = self._stage, self._sums
            pitch = cols * ch

            def run(items: Iterable[tuple[int, int]]) -> None:
                for r0, r1 in items:
                    f1 = (r1 - 1) * pitch + out_cols * ch
                    flat_passes(
                        window,
                        [stage],
                        r0 * pitch,
                        f1,
                        sums,
                        work_dtype=np.dtype(np.int16),
                        threads=False,
                    )
                    finish(r0, r1, sums[r0:r1, :out_cols])

        else:
            wide = self._wide[:rows]  # type: ignore[index]
            np.copyto(wide, window, casting="unsafe")
            s0, s1, _ = self.stride
            sums = self._sums

            def run(items: Iterable[tuple[int, int]]) -> None:
                for r0, r1 in items:
                    shift_add(
                        wide,
                        self._groups,
                        [r0 * s0, 0, 0],
                        self.stride,
                        self.dilation,
                        sums[r0:r1],
                        threads=False,
                    )
                    finish(r0, r1, sums[r0:r1])

        run_split(blocks, run, self.threads and len(blocks) > 1)
