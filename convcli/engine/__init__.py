"""The convolution engine: validate once, plan once, hand off to one method.

The engine knows no files, no Click and no kernels by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convcli.engine._direct import correlate_unpadded
from convcli.engine._plan import METHODS, Plan, direct_variant, make_plan
from convcli.geometry import PaddingArg

__all__ = ["convolve", "make_plan", "execute", "Plan", "METHODS"]


def convolve(
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
    """Correlate (or, with ``flip``, convolve) an N-D signal with a kernel.

    Per spatial axis, with input size ``i``, kernel size ``k``, stride ``s``, dilation ``d``
    and effective kernel size ``k' = d*(k-1) + 1``::

        out = floor((i + p_lo + p_hi - k') / s) + 1
        y[o] = sum_j w[j] * x_padded[o*s + j*d]

    Parameters
    ----------
    x : array_like
        The signal: one axis per kernel axis, plus one channel axis if ``channel_axis`` names
        it (the kernel is then applied to each channel).  Integers and bools are fine: the
        arithmetic is float32 (float64 for a float64 input), so integers never wrap.
    kernel : array_like
        The kernel (weights), one axis per spatial axis of ``x``; NaN and Inf are refused.
    stride : int or sequence of int, optional
        Step between output samples: one int for every axis, or one per axis.  Only the
        strided outputs are computed.
    padding : {"same", "valid", "full"}, int, sequence of int, or sequence of pairs, optional
        ``"same"`` (default): ``out = ceil(i / s)``; the total padding
        ``max((out-1)*s + k' - i, 0)`` is split with the smaller half before (TensorFlow's
        rule: with stride 1 and an odd kernel, the kernel's centre sits on each sample).
        ``"valid"``: no padding (an axis with no output sample is an error).
        ``"full"``: ``k' - 1`` on both sides: every input sample meets every tap.
        An int pads every side of every axis; one int per axis pads both sides of that axis;
        one ``(before, after)`` pair per axis is explicit.
    pad_mode : str, optional
        How the padding is filled, as ``numpy.pad`` defines it, for any pad size::

            zero       0 0 0 | a b c d | 0 0 0   (alias zeros)
            constant   v v v | a b c d | v v v   (v = pad_value)
            reflect    d c b | a b c d | c b a   (alias reflect101; scipy.ndimage 'mirror')
            symmetric  c b a | a b c d | d c b   (scipy.ndimage 'reflect')
            replicate  a a a | a b c d | d d d   (aliases edge, nearest, clamp)
            circular   b c d | a b c d | a b c   (alias wrap)

        ``mirror`` is refused as ambiguous.  Default ``zero``.
    pad_value : float, optional
        The fill value of ``constant``.
    dilation : int or sequence of int, optional
        Spacing between kernel taps, per axis.
    flip : bool, optional
        Reverse the kernel on every axis first: true convolution, as ``numpy.convolve`` and
        ``scipy.ndimage.convolve`` compute it.  The default is correlation, what a
        convolutional layer (PyTorch, OpenCV ``filter2D``) computes.
    method : {"auto", "direct", "separable", "fft"}, optional
        Every method gives the same result within float tolerance.  ``auto`` picks the
        cheapest by a cost model (see :mod:`convcli.engine._plan`).  ``separable`` raises
        ``ValueError`` for a kernel that cannot be split exactly.
    channel_axis : int, optional
        The axis of ``x`` that holds channels.

    Returns
    -------
    ndarray
        float32 (float64 for float64 input), shape :func:`convcli.output_shape` on the spatial
        axes and the channel axis unchanged.

    Raises
    ------
    ValueError
        Bad arguments, with a message that names the parameter, the value and what is allowed.

    Examples
    --------
    >>> convolve([0, 0, 1, 0, 0], [1, 2, 3])
    array([0., 3., 2., 1., 0.], dtype=float32)
    >>> convolve([0, 0, 1, 0, 0], [1, 2, 3], flip=True)
    array([0., 1., 2., 3., 0.], dtype=float32)
    >>> convolve(np.arange(6.0), [1.0, 1.0], padding="valid", stride=2)
    array([1., 5., 9.])
    >>> convolve(np.ones((4, 4, 3), np.uint8), np.ones((3, 3)), channel_axis=-1).shape
    (4, 4, 3)
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
