"""The convolution engine: validate once, plan once, hand off to one method.

The engine knows no files, no Click and no kernels by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convcli.engine._execute import correlate, execute
from convcli.engine._plan import METHODS, Plan, compute_dtype, make_plan
from convcli.engine._transposed import conv_transpose
from convcli.errors import ArgumentError
from convcli.geometry import PaddingArg

__all__ = [
    "convolve",
    "conv_transpose",
    "make_plan",
    "execute",
    "compute_dtype",
    "Plan",
    "METHODS",
]


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
    normalized: bool = False,
    mask: object | None = None,
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
        arithmetic is float32 (float64 for float64 and for integers wider than 16 bits,
        :func:`compute_dtype`), so integers never wrap.
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
    normalized : bool, optional
        Normalized convolution: ``y = (x·m ⋆ w) / (m ⋆ w)``, where ``m`` (the certainty) is 0
        on NaN samples, where ``mask`` is 0, and on padding outside the signal, so missing
        samples are left out and the kernel is renormalised by the weight it kept (borders do
        not darken, NaN holes are filled from their neighbours; astropy's ``convolve`` with
        ``nan_treatment='interpolate'`` and ``normalize_kernel=True``).  With pad mode
        ``zero`` or ``constant`` the padding is outside the signal (certainty 0, whatever its
        value); ``reflect``, ``symmetric``, ``replicate`` and ``circular`` make copies of
        samples, and each copy keeps its sample's certainty (astropy's ``boundary='extend'``
        is ``replicate``, ``'wrap'`` is ``circular``).  ±Inf is a value, not a missing sample.
        The output is NaN where ``|m ⋆ w| <= rtol * sum(|w|)`` (``rtol`` 1e-5 for float32
        arithmetic, 1e-10 for float64: above every method's rounding, so every method masks
        the same samples).  A kernel whose sum is within that bound of 0 (a derivative, a
        Laplacian) is refused with ``ValueError``, as astropy refuses it.  With weights of
        mixed sign, ``m ⋆ w`` can be small where much of the kernel is left out: the output
        is then what the definition says, large, and NaN below the bound.  Where nothing is
        left out, the result is the convolution with the kernel divided by its sum.
    mask : array_like, optional
        With ``normalized``: the certainty of each sample, bool or weights in [0, 1] (1 =
        keep, 0 = missing; the opposite of numpy.ma's and astropy's ``mask``), of ``x``'s
        spatial shape and shared by its channels (an alpha channel, say).

    Returns
    -------
    ndarray
        In :func:`compute_dtype` of ``x``'s dtype (float32 or float64); its shape is
        :func:`convcli.output_shape` on the spatial axes, the channel axis unchanged.

    Raises
    ------
    ValueError
        Bad arguments, with a message that names the parameter, the value and what is allowed.

    Examples
    --------
    >>> convolve([0, 0, 1, 0, 0], [1, 2, 3])  # Python ints are int64: float64 arithmetic
    array([0., 3., 2., 1., 0.])
    >>> convolve(np.array([0, 0, 1, 0, 0], np.uint8), [1, 2, 3], flip=True)
    array([0., 1., 2., 3., 0.], dtype=float32)
    >>> convolve(np.arange(6.0), [1.0, 1.0], padding="valid", stride=2)
    array([1., 5., 9.])
    >>> convolve(np.ones((4, 4, 3), np.uint8), np.ones((3, 3)), channel_axis=-1).shape
    (4, 4, 3)
    >>> convolve([1.0, 2.0, np.nan, 4.0], [1, 1, 1], normalized=True)
    array([1.5, 1.5, 3. , 4. ])
    """
    if normalized or mask is not None:
        if not normalized:
            raise ArgumentError(
                "mask is the certainty of normalized convolution: pass normalized=True"
            )
        from convcli.engine._normalized import normalized_convolve

        return normalized_convolve(
            x,
            kernel,
            mask,
            stride=stride,
            padding=padding,
            pad_mode=pad_mode,
            pad_value=pad_value,
            dilation=dilation,
            flip=flip,
            method=method,
            channel_axis=channel_axis,
        )
    return correlate(
        x,
        kernel,
        stride=stride,
        padding=padding,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        method=method,
        channel_axis=channel_axis,
    )
