"""Run a plan; correlate a signal with a kernel (plan, then run).

:func:`correlate` is :func:`convcli.convolve` without normalized convolution: the engine's
own modules that convolve pieces of a signal (normalized and transposed convolution) call it,
so that none of them imports the package that imports them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convcli.engine._direct import correlate_unpadded
from convcli.engine._plan import Plan, direct_variant, make_plan
from convcli.geometry import PaddingArg

__all__ = ["correlate", "execute"]


def correlate(
    x: object,
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
) -> np.ndarray:
    """Plan and run a correlation: :func:`convcli.convolve` with ``normalized=False``.

    The parameters are :func:`convcli.convolve`'s.  A float input that the plan would send to
    ``fft`` under ``auto`` is planned again without it when it holds NaN or Inf.
    """
    arr = np.asarray(x)
    args = dict(
        stride=stride,
        padding=padding,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        method=method,
        channel_axis=channel_axis,
    )
    plan = make_plan(arr.shape, arr.dtype, kernel, **args)  # type: ignore[arg-type]
    if plan.method == "fft" and plan.requested == "auto" and arr.dtype.kind == "f":
        # NaN or Inf would spread over the whole output by FFT: check only when it matters
        # (min/max propagate both, without a temporary array).
        if not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            plan = make_plan(arr.shape, arr.dtype, kernel, finite=False, **args)  # type: ignore[arg-type]
    return execute(plan, arr)


def _full_kernel(plan: Plan, dtype: np.dtype | None = None) -> np.ndarray:
    """Return the kernel with a size-1 axis at the channel axis, in the compute dtype."""
    k = plan.kernel
    if plan.channel_axis is not None:
        k = np.expand_dims(k, plan.channel_axis)
    return k.astype(dtype or plan.dtype)


def _per_axis(plan: Plan, attr: str, fill: int) -> list[int]:
    values = [fill] * len(plan.input_shape)
    for a, g in zip(plan.spatial_axes, plan.geometry):
        values[a] = getattr(g, attr)
    return values


def execute(plan: Plan, x: np.ndarray) -> np.ndarray:
    """Run a plan made by :func:`make_plan` on the data it was made for.

    Parameters
    ----------
    plan : Plan
        The plan.
    x : ndarray
        The input; its shape must be ``plan.input_shape``.

    Returns
    -------
    ndarray
    """
    x = np.asarray(x)
    if x.shape != plan.input_shape:
        raise ValueError(f"plan is for shape {plan.input_shape}, got {x.shape}")
    stride = _per_axis(plan, "stride", 1)
    dilation = _per_axis(plan, "dilation", 1)
    out_shape = list(plan.output_shape)
    if plan.method == "direct":
        variant = (
            plan.variant
            if x.dtype == plan.input_dtype and plan.variant
            else direct_variant(plan.geometry, plan.kernel, x.shape, plan.spatial_axes, x.dtype)
        )
        if (
            variant in ("gemm", "toeplitz")
            and x.dtype.kind == "f"
            and (variant == "toeplitz" or np.any(plan.kernel == 0))
            and not np.isfinite(np.sum(x))
        ):
            # Matrix products multiply zero weights too (0 * NaN = NaN): with NaN or Inf in
            # the input, sum tap by tap so that they stay where the kernel's taps put them.
            variant = "taps"
        if variant == "toeplitz":
            from convcli.engine._toeplitz import correlate_toeplitz

            a, g = plan.spatial_axes[0], plan.geometry[0]
            return correlate_toeplitz(
                x,
                plan.kernel,
                a,
                g.pad_lo,
                g.stride,
                g.dilation,
                g.output,
                plan.pad_mode,
                plan.pad_value,
                plan.dtype,
            )
        return correlate_unpadded(
            x,
            _full_kernel(plan, np.dtype(np.float64)),
            _per_axis(plan, "pad_lo", 0),
            stride,
            dilation,
            out_shape,
            plan.pad_mode,
            plan.pad_value,
            plan.dtype,
            gemm=variant == "gemm",
        )
    if plan.method == "separable":
        from convcli.engine._separable import correlate_separable, factorize

        factors = plan.factors or factorize(plan.kernel)
        assert factors is not None
        return correlate_separable(
            x,
            factors,
            plan.spatial_axes,
            _per_axis(plan, "pad_lo", 0),
            stride,
            dilation,
            out_shape,
            plan.pad_mode,
            plan.pad_value,
            plan.dtype,
        )
    from convcli.engine._fft import correlate_fft

    return correlate_fft(
        x,
        _full_kernel(plan, np.dtype(np.float64)),
        plan.spatial_axes,
        _per_axis(plan, "pad_lo", 0),
        stride,
        dilation,
        out_shape,
        plan.pad_mode,
        plan.pad_value,
        plan.dtype,
        tile=plan.fft_block,
    )
