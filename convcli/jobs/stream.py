"""Bounded memory: convolve in halo'd slabs along the first axis, from rows to rows.

A signal too large for the working set is never padded, converted or transformed whole.
The output is cut into slabs of rows along axis 0 (time for audio, planes for volumes, rows
for arrays); each slab reads exactly the input rows its outputs need, including the rows
the pad mode takes from elsewhere (a reflection near the start, the far end for
``circular``), assembles them already padded along axis 0, and runs the ordinary engine on
that slab with no padding along axis 0.  Every output equals the in-memory result (bit for
bit with ``direct`` and ``separable``; within float tolerance with ``fft``, whose transform
lengths differ).

Rows come from a :class:`convcli.io.rows.RowSource` — an array in memory, an input file
read block by block (a family of :mod:`convcli.io.registry` that can: an audio file, a
``.npy`` read by seeking, no memory map), or a raw temporary file
(:class:`convcli.io.raw.RawFile`) — and go to a writer function, so a chain of kernels runs
stage by stage through raw temporary files beside the output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from convcli.io.rows import RowSource

__all__ = [
    "correlate_rows",
    "slab_rows",
    "slab_bytes_for",
    "SLAB_BYTES",
    "MIN_SLAB_BYTES",
]

#: Bytes of input per slab (float32 rows): small enough to stay far below any budget.
SLAB_BYTES = 32 << 20


#: The smallest slab :func:`slab_bytes_for` gives, however small the budget.
MIN_SLAB_BYTES = 256 << 10


def slab_bytes_for(budget: int | None) -> int:
    """Return the bytes of input per slab that keep a streamed run within ``budget``.

    Measured peak of a streamed run: the interpreter (about 60 MB with numpy and scipy) plus
    about 5 slabs (the slab as float, its padded copy, the output, FFT spectra); a slab is
    therefore a sixth of the budget, at most :data:`SLAB_BYTES` (more buys no speed) and at
    least :data:`MIN_SLAB_BYTES`.

    Examples
    --------
    >>> slab_bytes_for(None) == SLAB_BYTES, slab_bytes_for(60 << 20) == 10 << 20
    (True, True)
    """
    if budget is None:
        return SLAB_BYTES
    return min(SLAB_BYTES, max(MIN_SLAB_BYTES, budget // 6))


def slab_rows(row_elements: int, slab_bytes: int = SLAB_BYTES, itemsize: int = 4) -> int:
    """Output rows per slab so that a slab's input is about ``slab_bytes``.

    Examples
    --------
    >>> slab_rows(2)
    4194304
    """
    return max(1, slab_bytes // max(1, row_elements * itemsize))


def _padded_rows(
    source: RowSource, start: int, stop: int, mode: str, value: float, dtype: np.dtype
) -> np.ndarray:
    """Rows ``start:stop`` of the input padded along axis 0, in ``dtype``.

    Positions below 0 or from ``n`` on are filled as the pad mode says.
    """
    from convcli.padding import source_index

    n = source.shape[0]
    parts = []
    for lo, hi, inside in [
        (start, min(stop, 0), False),
        (max(start, 0), min(stop, n), True),
        (max(start, n), stop, False),
    ]:
        if hi <= lo:
            continue
        if inside:
            parts.append(source.read(lo, hi))
        elif mode in ("zero", "constant"):
            fill = 0.0 if mode == "zero" else value
            parts.append(np.full((hi - lo,) + source.shape[1:], fill, dtype=dtype))
        else:
            parts.append(source.take(source_index(np.arange(lo, hi), n, mode)))
    if len(parts) == 1:
        return parts[0].astype(dtype, copy=False)
    return np.concatenate([p.astype(dtype, copy=False) for p in parts], axis=0)


def correlate_rows(
    source: RowSource,
    kernel: np.ndarray,
    write: Callable[[int, np.ndarray], None],
    *,
    stride: int | Sequence[int] = 1,
    padding: Any = "same",
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    method: str = "auto",
    channel_axis: int | None = None,
    rows_per_slab: int | None = None,
    finite: bool = True,
    slab_bytes: int | None = None,
    normalized: bool = False,
    mask: RowSource | None = None,
    dtype: Any = None,
) -> Any:
    """Correlate a row source with one kernel, slab by slab; hand each slab to ``write``.

    Parameters
    ----------
    source : RowSource
        The input, read in rows along axis 0 (which must be spatial: ``channel_axis != 0``).
    kernel : ndarray
        As for :func:`convcli.convolve`; or one more leading axis with one kernel per
        channel (a multi-channel impulse response), or two (an ``(inputs, outputs)`` matrix
        of kernels), as :func:`convcli.engine.chain.apply_chain` takes.
    write : callable
        ``write(first_output_row, block)``, called in order.
    stride, padding, pad_mode, pad_value, dilation, flip, method, channel_axis
        As for :func:`convcli.convolve`.
    rows_per_slab : int, optional
        Output rows per slab; default :func:`slab_rows` of the input's row size.
    finite : bool, optional
        False when the input holds NaN or Inf: ``auto`` then never picks ``fft``, which
        would spread them over whole blocks.
    slab_bytes : int, optional
        Bytes of input per slab when ``rows_per_slab`` is not given; default
        :data:`SLAB_BYTES` (see :func:`slab_bytes_for`).
    normalized : bool, optional
        Normalized convolution (see :func:`convcli.convolve`): each slab's rows come with
        their certainty, 0 on the rows of a ``zero`` or ``constant`` padding (outside the
        signal), the copied row's on the rows of the other pad modes, so every slab leaves
        out what the whole signal leaves out.
    mask : RowSource, optional
        With ``normalized``: the certainty of each row's samples (the input's spatial
        shape, no channel axis), read slab by slab as the input is.
    dtype : numpy.dtype, optional
        The arithmetic dtype; default :func:`convcli.engine.compute_dtype` of the source's.

    Returns
    -------
    Plan
        The whole signal's plan (geometry, method, output shape).
    """
    from convcli.engine import make_plan
    from convcli.engine.chain import apply_chain
    from convcli.padding import canonical_mode

    if channel_axis == 0:
        raise ValueError("correlate_rows needs axis 0 to be spatial")
    k = np.asarray(kernel, dtype=np.float64)
    spatial = len(source.shape) - (0 if channel_axis is None else 1)
    one = k.reshape(k.shape[k.ndim - spatial :]) if k.ndim == spatial else k
    while one.ndim > spatial:  # per channel, or a matrix: every kernel has this geometry
        one = one[0]
    mode = canonical_mode(pad_mode)
    plan = make_plan(
        source.shape,
        source.dtype if dtype is None else dtype,
        one,
        stride=stride,
        padding=padding,
        pad_mode=mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        method=method,
        channel_axis=channel_axis,
        finite=finite,
    )
    g0 = plan.geometry[0]
    slab_geometry = {
        "stride": [g.stride for g in plan.geometry],
        "dilation": [g.dilation for g in plan.geometry],
        "padding": [(0, 0)] + [(g.pad_lo, g.pad_hi) for g in plan.geometry[1:]],
        "pad_mode": mode,
        "pad_value": pad_value,
        "flip": flip,
        "method": plan.method,
    }
    row_elements = int(np.prod(source.shape[1:], dtype=np.int64)) or 1
    per_slab = SLAB_BYTES if slab_bytes is None else slab_bytes
    rows = rows_per_slab or max(1, slab_rows(row_elements, per_slab) // g0.stride)
    halo = max(g0.effective_kernel - g0.stride, g0.pad_lo, g0.pad_hi, 0)
    expect = getattr(source, "expect", None)  # a duck-typed source may not hear it
    if expect is not None:
        expect(halo, mode == "circular")  # a video keeps the halo's frames decoded
    for o0 in range(0, g0.output, rows):
        o1 = min(o0 + rows, g0.output)
        start = o0 * g0.stride - g0.pad_lo
        stop = (o1 - 1) * g0.stride + g0.effective_kernel - g0.pad_lo
        slab = _padded_rows(source, start, stop, mode, pad_value, plan.dtype)
        certainty = None
        if normalized:
            certainty = _certainty_rows(mask, source.shape, spatial, start, stop, mode, plan.dtype)
        out = apply_chain(
            slab,
            [k],
            channel_axis=channel_axis,
            geometry=slab_geometry,
            normalized=normalized,
            mask=certainty,
        )
        write(o0, out)
    return plan


def _certainty_rows(
    mask: RowSource | None,
    shape: Sequence[int],
    spatial: int,
    start: int,
    stop: int,
    mode: str,
    dtype: np.dtype,
) -> np.ndarray:
    """Return the certainty of rows ``start:stop`` (padded along axis 0), normalized runs.

    Rows outside the signal are 0 for ``zero`` and ``constant`` (left out) and copies of
    their source row's certainty for the other modes; rows inside are the mask's (1 without).
    """
    from convcli.padding import source_index

    n = shape[0]
    row_shape = tuple(shape[1:spatial])
    source: RowSource = mask if mask is not None else _Ones((n, *row_shape), dtype)
    if mode in ("zero", "constant"):
        lo = min(max(start, 0), n)
        hi = max(min(stop, n), lo)
        return np.concatenate(
            [
                np.zeros((lo - start, *row_shape), dtype),
                source.read(lo, hi).astype(dtype, copy=False),
                np.zeros((stop - hi, *row_shape), dtype),
            ]
        )
    return source.take(source_index(np.arange(start, stop), n, mode)).astype(dtype, copy=False)


class _Ones(RowSource):
    """Rows of ones: the certainty of a signal without a mask."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, np.dtype(dtype)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return ``stop - start`` rows of ones."""
        return np.ones((stop - start, *self.shape[1:]), self.dtype)


def estimate_bytes(shape: Sequence[int], kernel_shape: Sequence[int], method: str) -> int:
    """Estimate the in-memory working set of one convolution of ``shape`` (float32).

    The input as float32, its padded copy and the output, and for ``fft`` the complex
    spectra of the padded input (about twice its size again).

    Examples
    --------
    >>> estimate_bytes((1000, 1000), (3, 3), "direct") // 1_000_000
    12
    """
    n = math.prod(int(v) for v in shape)
    factor = 3 if method != "fft" else 6
    return 4 * n * factor
