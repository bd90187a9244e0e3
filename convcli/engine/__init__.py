"""The convolution engine: validate once, plan once, hand off to one method.

The engine knows no files, no Click and no kernels by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convcli.engine._direct import correlate_direct
from convcli.engine._plan import METHODS, Plan, make_plan
from convcli.geometry import PaddingArg
from convcli.padding import pad_window

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
    finite = True
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        finite = False
    plan = make_plan(
        arr.shape,
        arr.dtype,
        kernel,
        stride=stride,
        padding=padding,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        method=method,
        channel_axis=channel_axis,
        finite=finite,
    )
    return execute(plan, arr)


def _full_kernel(plan: Plan) -> np.ndarray:
    """Return the kernel with a size-1 axis at the channel axis, in the compute dtype."""
    k = plan.kernel
    if plan.channel_axis is not None:
        k = np.expand_dims(k, plan.channel_axis)
    return k.astype(plan.dtype)


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
    # Along each spatial axis read the padded positions [-p_lo, -p_lo + extent).
    extent = {a: g.needed for a, g in zip(plan.spatial_axes, plan.geometry)}
    if plan.method == "fft":
        from convcli.engine import _fft

        if plan.fft_block is not None:
            a = plan.spatial_axes[0]
            g = plan.geometry[0]
            step = plan.fft_block - g.effective_kernel + 1
            nblocks = -(-((g.output - 1) * g.stride + 1) // step)
            extent[a] = nblocks * step + plan.fft_block - step
        else:
            for a in plan.spatial_axes:
                extent[a] = _fft.fast_length(extent[a])
    bounds = [(0, n) for n in plan.input_shape]
    for a, g in zip(plan.spatial_axes, plan.geometry):
        bounds[a] = (-g.pad_lo, -g.pad_lo + extent[a])
    xp = pad_window(x, bounds, plan.pad_mode, plan.pad_value, dtype=plan.dtype)
    if plan.method == "direct":
        return correlate_direct(xp, _full_kernel(plan), stride, dilation, out_shape)
    if plan.method == "separable":
        from convcli.engine._separable import correlate_separable, factorize

        factors = plan.factors or factorize(plan.kernel)
        assert factors is not None
        return correlate_separable(xp, factors, plan.spatial_axes, stride, dilation, out_shape)
    from convcli.engine import _fft

    if plan.fft_block is not None:
        a = plan.spatial_axes[0]
        g = plan.geometry[0]
        return _fft.correlate_overlap_save(
            xp, _full_kernel(plan), a, g.stride, g.dilation, g.output, plan.fft_block
        )
    return _fft.correlate_fft(
        xp,
        _full_kernel(plan),
        plan.spatial_axes,
        [g.stride for g in plan.geometry],
        [g.dilation for g in plan.geometry],
        out_shape,
    )
