"""The planner: validate once, resolve the geometry, and pick the cheapest exact method.

Cost model (nanoseconds on the project's 2-core machine; see ``benchmarks/`` and the README):

- every method pays for the padded copy of the input: ``C_PAD`` per padded element;
- ``direct``: ``C_TAP`` per output element and non-zero tap, plus ``C_OUT`` per output element;
- ``separable``: for each rank term and each 1-D pass, ``C_TAP`` per pass-output element and
  tap plus ``C_OUT`` per pass-output element;
- ``fft``: ``C_FFT * N * log2(N)`` over the transformed elements ``N`` (both transforms of the
  input, the kernel transform is small) plus ``C_OUT`` per transformed element; long 1-D
  signals by overlap-save: the same per block.

``auto`` takes the smallest estimate.  A float input holding NaN or Inf never goes to ``fft``,
which would spread them over the whole output; ``direct`` keeps them local.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from convcli.engine._separable import Factorization, factorize
from convcli.errors import ArgumentError
from convcli.geometry import AxisGeometry, PaddingArg, resolve
from convcli.padding import canonical_mode

__all__ = ["METHODS", "Plan", "make_plan", "C_PAD", "C_TAP", "C_OUT", "C_FFT"]

METHODS = ("auto", "direct", "separable", "fft")

C_PAD = 1.0
C_TAP = 0.25
C_OUT = 1.0
C_FFT = 0.55
#: A 1-D axis longer than this many overlap-save blocks goes by overlap-save, not one FFT.
OLS_MIN_BLOCKS = 4


@dataclass(frozen=True)
class Plan:
    """Everything decided before any arithmetic: geometry, dtype and method.

    Attributes
    ----------
    input_shape : tuple of int
        The input's shape (channel axis included).
    output_shape : tuple of int
        The output's shape (channel axis included, in the same place).
    geometry : tuple of AxisGeometry
        One per spatial axis.
    spatial_axes : tuple of int
        The input's spatial axes, in order.
    channel_axis : int or None
        The input's channel axis.
    pad_mode : str
        Canonical pad mode.
    pad_value : float
        Fill value of ``constant``.
    dtype : numpy.dtype
        The arithmetic (and result) dtype.
    method : str
        ``direct``, ``separable`` or ``fft``.
    requested : str
        The method asked for (``auto`` or a method).
    kernel : ndarray
        The kernel as it will be applied (flipped if asked), float64.
    taps : int
        Non-zero taps.
    rank : int or None
        Number of separable terms, if the kernel splits.
    fft_block : int or None
        The overlap-save FFT length, if used.
    costs : dict
        Estimated nanoseconds of each method that can run.
    """

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    geometry: tuple[AxisGeometry, ...]
    spatial_axes: tuple[int, ...]
    channel_axis: int | None
    pad_mode: str
    pad_value: float
    dtype: np.dtype
    method: str
    requested: str
    kernel: np.ndarray = field(repr=False)
    taps: int
    rank: int | None
    fft_block: int | None
    costs: dict[str, float]
    factors: Factorization | None = field(default=None, repr=False)

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        """``(before, after)`` padding per spatial axis."""
        return tuple((a.pad_lo, a.pad_hi) for a in self.geometry)

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        """The kernel's shape."""
        return tuple(self.kernel.shape)

    def describe(self) -> str:
        """One line for ``-v``: kernel, pads, output shape and method."""
        pads = " ".join(f"{lo}:{hi}" for lo, hi in self.pads)
        extra = ""
        if self.method == "separable" and self.rank:
            extra = f" (rank {self.rank})"
        if self.method == "fft" and self.fft_block:
            extra = f" (overlap-save, block {self.fft_block})"
        return (
            f"kernel {'x'.join(map(str, self.kernel_shape))}, {self.taps} taps; "
            f"stride {','.join(str(a.stride) for a in self.geometry)}; "
            f"dilation {','.join(str(a.dilation) for a in self.geometry)}; "
            f"pads {pads} ({self.pad_mode}); "
            f"{'x'.join(map(str, self.input_shape))} -> {'x'.join(map(str, self.output_shape))}; "
            f"method {self.method}{extra}"
        )


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind == "c":
        raise ArgumentError(f"x is complex ({dtype}); convolve real and imaginary parts apart")
    if dtype.kind not in "biuf":
        raise ArgumentError(f"x must be a numeric array, got dtype {dtype}")
    if dtype == np.float64 or (dtype.kind == "f" and dtype.itemsize > 8):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _check_kernel(kernel: object) -> np.ndarray:
    k = np.asarray(kernel)
    if k.dtype.kind == "c":
        raise ArgumentError("kernel is complex; give a real kernel")
    if k.dtype.kind not in "biuf":
        raise ArgumentError(f"kernel must be numeric, got dtype {k.dtype}")
    if k.ndim == 0:
        raise ArgumentError("kernel is a scalar; give an array with one axis per spatial axis")
    if k.size == 0:
        raise ArgumentError(f"kernel is empty (shape {k.shape})")
    k = k.astype(np.float64)
    if not np.all(np.isfinite(k)):
        raise ArgumentError("kernel holds NaN or Inf")
    return k


def _log2(n: float) -> float:
    return math.log2(max(n, 2.0))


def make_plan(
    input_shape: Sequence[int],
    input_dtype: np.dtype | type,
    kernel: object,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    method: str = "auto",
    channel_axis: int | None = None,
    finite: bool = True,
) -> Plan:
    """Validate the arguments and plan a convolution without touching the data.

    Parameters are those of :func:`convcli.convolve`, with the input given by its shape and
    dtype; ``finite=False`` says the input holds NaN or Inf (``auto`` then avoids ``fft``).

    Returns
    -------
    Plan

    Examples
    --------
    >>> p = make_plan((512, 512), np.uint8, np.ones((15, 15)) / 225)
    >>> p.method, p.output_shape, p.dtype
    ('separable', (512, 512), dtype('float32'))
    """
    shape = tuple(int(n) for n in input_shape)
    dtype = _compute_dtype(np.dtype(input_dtype))
    k = _check_kernel(kernel)
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ArgumentError(f"method {method!r} is not one of {', '.join(METHODS)}")
    method = method.lower()
    mode = canonical_mode(pad_mode)
    try:
        value = float(pad_value)
    except (TypeError, ValueError):
        raise ArgumentError(f"pad_value must be a number, got {pad_value!r}") from None
    if not math.isfinite(value):
        raise ArgumentError(f"pad_value must be finite, got {pad_value!r}")
    if channel_axis is not None:
        if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)):
            raise ArgumentError(f"channel_axis must be an int or None, got {channel_axis!r}")
        if not -len(shape) <= channel_axis < len(shape):
            raise ArgumentError(
                f"channel_axis {channel_axis} is out of range for an input with {len(shape)} axes"
            )
        channel_axis = int(channel_axis) % len(shape)
    spatial_axes = tuple(a for a in range(len(shape)) if a != channel_axis)
    if k.ndim != len(spatial_axes):
        where = f" (channel axis {channel_axis})" if channel_axis is not None else ""
        hint = (
            ""
            if channel_axis is not None or k.ndim != len(shape) - 1
            else ("; if one axis holds channels, say which with channel_axis")
        )
        raise ArgumentError(
            f"the kernel has {k.ndim} axes {k.shape} but the input has {len(spatial_axes)} "
            f"spatial axes {tuple(shape[a] for a in spatial_axes)}{where}{hint}"
        )
    if flip:
        k = np.ascontiguousarray(k[(slice(None, None, -1),) * k.ndim])
    geometry = resolve(
        [shape[a] for a in spatial_axes], k.shape, stride=stride, padding=padding, dilation=dilation
    )
    out_shape = list(shape)
    for a, g in zip(spatial_axes, geometry):
        out_shape[a] = g.output
    channels = shape[channel_axis] if channel_axis is not None else 1
    taps = int(np.count_nonzero(k))

    # Cost estimates (ns).
    padded = channels * math.prod(g.needed for g in geometry)
    n_out = math.prod(out_shape)
    costs: dict[str, float] = {}
    costs["direct"] = C_PAD * padded + n_out * (C_OUT + C_TAP * max(taps, 1))

    factors = factorize(k)
    if factors is not None and k.ndim > 1:
        sep = C_PAD * padded
        for term in factors.terms:
            size = float(padded)
            passes = [(g, v) for g, v in zip(geometry, term) if v.size > 1 or g.stride > 1]
            for g, v in sorted(passes, key=lambda gv: gv[1].size):
                size = size * g.output / g.needed
                sep += size * (C_OUT + C_TAP * v.size)
        costs["separable"] = sep

    fft_block = None
    if len(geometry) == 1:
        g = geometry[0]
        block = _ols_block(g.effective_kernel)
        step = block - g.effective_kernel + 1
        nblocks = -(-((g.output - 1) * g.stride + 1) // step)
        if nblocks >= OLS_MIN_BLOCKS:
            fft_block = block
            total = nblocks * block * channels
            costs["fft"] = C_PAD * padded + total * (C_FFT * 2 * _log2(block) + C_OUT)
    if "fft" not in costs:
        total = channels * math.prod(_fast_len_estimate(g.needed) for g in geometry)
        costs["fft"] = C_PAD * total + total * (C_FFT * 2 * _log2(total) + C_OUT)

    if method == "auto":
        candidates = {m: c for m, c in costs.items() if finite or m != "fft"}
        chosen = min(candidates, key=lambda m: candidates[m])
    else:
        chosen = method
        if chosen == "separable" and factors is None:
            raise ArgumentError(_not_separable(k))
    if chosen != "fft":
        fft_block = None
    return Plan(
        input_shape=shape,
        output_shape=tuple(out_shape),
        geometry=geometry,
        spatial_axes=spatial_axes,
        channel_axis=channel_axis,
        pad_mode=mode,
        pad_value=value,
        dtype=dtype,
        method=chosen,
        requested=method,
        kernel=k,
        taps=taps,
        rank=factors.rank if factors is not None else None,
        fft_block=fft_block,
        costs=costs,
        factors=factors,
    )


def _not_separable(k: np.ndarray) -> str:
    if k.ndim == 2:
        rank = int(np.linalg.matrix_rank(k))
        return (
            f"method 'separable': the {k.shape[0]}x{k.shape[1]} kernel has rank {rank}, so it "
            f"cannot be split exactly into fewer 1-D passes than its size; use method "
            f"'direct', 'fft' or 'auto'"
        )
    return (
        f"method 'separable': the {'x'.join(map(str, k.shape))} kernel is not an outer product "
        f"of 1-D vectors, so it cannot be split exactly; use method 'direct', 'fft' or 'auto'"
    )


def _ols_block(keff: int) -> int:
    from convcli.engine._fft import ols_block

    return ols_block(keff)


def _fast_len_estimate(n: int) -> int:
    """Return a 5-smooth length >= n without importing scipy (planning stays cheap)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < 2 * n:
        p3 = p5
        while p3 < 2 * n:
            m = p3
            while m < n:
                m *= 2
            best = min(best, m)
            p3 *= 3
        p5 *= 5
    return best
