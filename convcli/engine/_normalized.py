"""Normalized convolution: missing samples are left out and the kernel renormalised.

``y = (x·m ⋆ w) / (m ⋆ w)``, where ``m`` is the certainty of each sample: 0 on a NaN, on a
sample a given mask sets to 0, and on padding that lies outside the signal; the mask's value
(1 for a bool mask) elsewhere.  Both correlations go through :func:`convcli.engine.convolve`
with the caller's geometry and method, so every stride, dilation, padding, dimensionality and
method applies.  The full contract is written once, on :func:`convcli.convolve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convcli.errors import ArgumentError
from convcli.padding import canonical_mode

__all__ = ["RTOL", "normalized_convolve"]

#: Where ``|m ⋆ w| <= RTOL[dtype] * sum(|w|)`` the output is NaN (masked).  The bound lies
#: well above the rounding of every method (the FFT's included) in that dtype, so every
#: method masks the same samples; a sample whose kept weight is below it is too uncertain
#: to report.
RTOL: dict[str, float] = {"float32": 1e-5, "float64": 1e-10}

#: Pad modes whose padding is outside the signal: its certainty is 0, whatever its value.
OUTSIDE_MODES = ("zero", "constant")


def _mask_array(mask: object, spatial_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Check a mask (bool, or weights in [0, 1], of the spatial shape) and return it as floats."""
    m = np.asarray(mask)
    if m.dtype.kind not in "biuf":
        raise ArgumentError(f"mask must be bool or numbers in [0, 1], got dtype {m.dtype}")
    if m.shape != spatial_shape:
        raise ArgumentError(
            f"mask has shape {m.shape} but the input's spatial shape is {spatial_shape} "
            "(a mask is per sample and shared by the channels)"
        )
    m = m.astype(dtype)
    if m.size and not (np.all(np.isfinite(m)) and m.min() >= 0 and m.max() <= 1):
        raise ArgumentError("mask values must be finite and between 0 and 1 (1 = keep)")
    return m


def normalized_convolve(
    x: object,
    kernel: object,
    mask: object | None,
    *,
    stride: int | Sequence[int],
    padding: Any,
    pad_mode: str,
    pad_value: float,
    dilation: int | Sequence[int],
    flip: bool,
    method: str,
    channel_axis: int | None,
) -> np.ndarray:
    """Compute ``(x·m ⋆ w) / (m ⋆ w)``; see :func:`convcli.convolve` (``normalized=True``).

    Examples
    --------
    >>> normalized_convolve(
    ...     [1.0, 2.0, np.nan, 4.0], [1, 1, 1], None, stride=1, padding="same", pad_mode="zero",
    ...     pad_value=0.0, dilation=1, flip=False, method="auto", channel_axis=None)
    array([1.5, 1.5, 3. , 4. ])
    """
    from convcli.engine._execute import correlate
    from convcli.engine._plan import make_plan

    arr = np.asarray(x)
    geometry = dict(stride=stride, padding=padding, dilation=dilation, flip=flip, method=method)
    plan = make_plan(
        arr.shape,
        arr.dtype,
        kernel,
        pad_mode=pad_mode,
        pad_value=pad_value,
        channel_axis=channel_axis,
        **geometry,
    )
    dtype = plan.dtype
    weight = float(np.abs(plan.kernel).sum())
    rtol = RTOL[dtype.name]
    if abs(float(plan.kernel.sum())) <= rtol * weight:
        raise ArgumentError(
            "normalized convolution divides by the kernel's weight on the samples it keeps, "
            f"and this kernel sums to {float(plan.kernel.sum()):.3g} (zero-sum: a derivative "
            "or Laplacian); fill missing samples with a smoothing kernel first, or convolve "
            "without normalized"
        )
    mode = canonical_mode(pad_mode)
    m_mode = "zero" if mode in OUTSIDE_MODES else mode
    cax = plan.channel_axis
    spatial_shape = tuple(arr.shape[a] for a in plan.spatial_axes)

    data = arr.astype(dtype, copy=True)
    certainty = _mask_array(mask, spatial_shape, dtype) if mask is not None else None
    missing = np.isnan(data) if data.dtype.kind == "f" else None
    if missing is not None and not missing.any():
        missing = None
    if certainty is not None:
        full = np.expand_dims(certainty, cax) if cax is not None else certainty
        keep = full > 0
        data = np.where(keep, data, 0) * full  # 0 * Inf would be NaN: zero them first
    if missing is not None:
        data[missing] = 0
    # The certainty: shared by the channels unless NaN make it differ between them.
    if missing is None:
        m = certainty if certainty is not None else np.ones(spatial_shape, dtype)
        m_axis = None
    else:
        m = (~missing).astype(dtype)
        if certainty is not None:
            m *= np.expand_dims(certainty, cax) if cax is not None else certainty
        m_axis = cax

    num = correlate(data, kernel, pad_mode=m_mode, channel_axis=cax, **geometry)
    den = correlate(m, kernel, pad_mode=m_mode, channel_axis=m_axis, **geometry)
    if m_axis is None and cax is not None:
        den = np.expand_dims(den, cax)
    den = den.astype(dtype, copy=False)
    ok = np.abs(den) > rtol * weight
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(ok, num / np.where(ok, den, 1), np.nan)
    return out.astype(dtype, copy=False)
