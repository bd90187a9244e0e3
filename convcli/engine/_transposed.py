"""Transposed convolution, as PyTorch's ``conv_transpose1d/2d/3d`` defines it.

Per spatial axis, with input size ``i``, kernel size ``k``, stride ``s``, dilation ``d``,
``k' = d*(k-1) + 1``, padding ``p_lo``/``p_hi`` and output padding ``a``, every input sample
scatters the kernel into a full output of ``s*(i-1) + k'`` samples (plus ``a``)::

    full[i*s + j*d] += x[i] * w[j]
    y[o] = full[o + p_lo],   0 <= o < s*(i-1) + a + k' - p_lo - p_hi

The sizes are :func:`convcli.geometry.resolve_transposed`'s, the ones ``convcli shape
--transposed`` prints.

How it is computed: polyphase.  Output samples whose full index has the same remainder ``r``
modulo ``s`` (one phase) receive the same taps, ``j*d ≡ r (mod s)``: a phase is a stride-1
correlation of ``x`` with those taps, reversed (a sub-kernel with dilation
``d / gcd(s, d)``).  So ``s**ndim`` small correlations through :func:`convcli.engine.convolve`
(every method applies) write the interleaved phases of the output, and no multiplication by an
inserted zero is done.  (Measured against inserting ``s - 1`` zeros between samples and
correlating with the flipped kernel: see ``benchmarks/bench_transposed.py``.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from convcli.geometry import PaddingArg, TransposedAxis, resolve_transposed
from convcli.padding import canonical_mode, pad

__all__ = ["conv_transpose"]


@dataclass(frozen=True)
class _Phase:
    """One phase of one axis: which outputs it writes and which taps and inputs they read."""

    first: int  # first output index of the phase (its outputs are first, first + step, ...)
    step: int  # the stride
    count: int  # number of outputs
    taps: slice  # the kernel's taps in this phase (before reversal)
    dilation: int  # spacing of those taps, in input samples
    start: int  # input index read by the first output's first (reversed) tap
    stop: int  # one past the input index read by the last output's last tap


def _phases(axis: TransposedAxis, size: int) -> list[_Phase | None]:
    """Return the ``s`` phases of one axis (None for a phase that no tap reaches).

    ``size`` is the input size (after any extension by the pad mode); ``axis.pad_lo`` is the
    crop at the start of the full output.
    """
    s, d, k = axis.stride, axis.dilation, axis.kernel
    g = math.gcd(s, d)
    step, tap_dilation = s // g, d // g
    phases: list[_Phase | None] = []
    for first in range(s):
        count = -(-(axis.output - first) // s) if first < axis.output else 0
        r = (first + axis.pad_lo) % s
        if count <= 0 or r % g:
            phases.append(None)
            continue
        j0 = next((j for j in range(step) if (j * d - r) % s == 0), None)
        if j0 is None or j0 >= k:
            phases.append(None)
            continue
        n_taps = -(-(k - j0) // step)
        m0 = (j0 * d - r) // s  # full[q*s + r] reads x[q - m0 - n*tap_dilation], n < n_taps
        q0 = (first + axis.pad_lo - r) // s
        start = q0 - m0 - (n_taps - 1) * tap_dilation
        stop = q0 + count - 1 - m0 + 1
        taps = slice(j0, j0 + (n_taps - 1) * step + 1, step)
        phases.append(_Phase(first, s, count, taps, tap_dilation, start, stop))
    return phases


def conv_transpose(
    x: object,
    kernel: object,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    output_padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    method: str = "auto",
    channel_axis: int | None = None,
) -> np.ndarray:
    """Transposed convolution (PyTorch's ``conv_transpose``): upsample by the stride.

    Every input sample adds the kernel, times itself, into the output at ``stride`` steps;
    ``padding`` then crops the full output (it names the padding of the forward convolution
    being transposed), and ``output_padding`` adds samples at the end.  Per axis::

        full[i*s + j*d] += x[i] * w[j]          (0 <= i < size, 0 <= j < k)
        y[o] = full[o + p_lo]
        out = s*(size-1) + output_padding + d*(k-1) + 1 - p_lo - p_hi

    This is the gradient (adjoint) of :func:`convcli.convolve` with the same kernel and
    geometry, and equals ``torch.nn.functional.conv_transpose1d/2d/3d`` for one channel in
    and out (``padding=p``, ``output_padding``, ``dilation``, ``stride``).

    Parameters
    ----------
    x : array_like
        The signal: one axis per kernel axis, plus one channel axis if ``channel_axis`` names
        it (the kernel is applied to each channel).
    kernel : array_like
        The kernel, one axis per spatial axis; NaN and Inf are refused.
    stride, dilation : int or sequence of int, optional
        As for :func:`convcli.convolve`: the upsampling factor, and the tap spacing.
    padding : {"same", "valid", "full"}, int, sequence of int, or sequence of pairs, optional
        How much of the full output to crop, before and after: the forward convolution's
        padding.  ``"same"`` (default; TensorFlow's ``conv2d_transpose(padding='SAME')``):
        the output is ``size * stride``, the crop ``k' - s`` split with the smaller half
        first (and ``s - k'`` extra samples at the end when the kernel is shorter than the
        stride); with an interpolation kernel (``bilinear:F``, ``bicubic:F``,
        ``lanczos:F``) and stride F it upsamples with half-pixel centres.  ``"valid"``:
        no crop (``s*(size-1) + k'``, PyTorch's default ``padding=0``).  ``"full"``: crop
        ``k' - 1`` each side.  An int or pairs: explicit, as PyTorch's ``padding``.
    output_padding : int or sequence of int, optional
        Samples added at the end of each axis, ``0 <= a < max(stride, dilation)``
        (PyTorch's rule); they receive what the scatter puts there.
    flip : bool, optional
        Reverse the kernel first: the transpose of true convolution.
    pad_mode : str, optional
        How ``x`` extends beyond its edges before the scatter (the pad modes of
        :func:`convcli.convolve`, e.g. ``d c b | a b c d | c b a``): ``zero`` (default) is
        PyTorch's transposed convolution; with an interpolation kernel, ``replicate`` gives
        ``torch.nn.functional.interpolate(..., align_corners=False)`` up to the edges too.
    pad_value : float, optional
        The fill value of ``constant``.
    method : {"auto", "direct", "separable", "fft"}, optional
        The method of each phase's correlation (see :func:`convcli.convolve`).
    channel_axis : int, optional
        The axis of ``x`` that holds channels.

    Returns
    -------
    ndarray
        float32 (float64 for a float64 input), the spatial shape of
        :func:`convcli.geometry.transposed_output_shape` (what ``convcli shape --transposed``
        prints), the channel axis unchanged.

    Raises
    ------
    ValueError
        Bad arguments (:class:`convcli.ArgumentError`), with a message that names the
        parameter, the value and what is allowed.

    Examples
    --------
    >>> conv_transpose([1.0, 2.0], [1.0, 10.0, 100.0], stride=2, padding="valid")
    array([  1.,  10., 102.,  20., 200.])
    >>> conv_transpose([1.0, 2.0], [1.0, 10.0, 100.0], stride=2, padding=1, output_padding=1)
    array([ 10., 102.,  20., 200.])
    >>> conv_transpose(np.ones((2, 3), np.float32), [[0.25, 0.75, 0.75, 0.25]] * 4,
    ...                stride=2).shape
    (4, 6)
    """
    from convcli.engine._plan import make_plan

    arr = np.asarray(x)
    plan = make_plan(
        arr.shape,
        arr.dtype,
        kernel,
        pad_mode=pad_mode,
        pad_value=pad_value,
        flip=flip,
        method=method,
        channel_axis=channel_axis,
        padding="full",  # checks the kernel, channel axis, pad mode and method only
    )
    w, dtype = plan.kernel, plan.dtype  # flipped already, when asked
    spatial, cax = plan.spatial_axes, plan.channel_axis
    geometry = resolve_transposed(
        [arr.shape[a] for a in spatial],
        w.shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
    )
    mode = canonical_mode(pad_mode)
    data = arr
    if mode != "zero":
        data, geometry = _extend(arr, geometry, spatial, mode, plan.pad_value)
    out_shape = list(arr.shape)
    for a, g in zip(spatial, geometry):
        out_shape[a] = g.output
    out = np.zeros(out_shape, dtype)
    per_axis = [_phases(g, data.shape[a]) for a, g in zip(spatial, geometry)]
    for combo in np.ndindex(*(g.stride for g in geometry)):
        phases = [per_axis[n][r] for n, r in enumerate(combo)]
        if all(p is not None for p in phases):  # else no tap reaches these outputs: 0
            _run_phase(data, w, [p for p in phases if p is not None], spatial, cax, out, method)
    return out


def _extend(
    x: np.ndarray,
    geometry: Sequence[TransposedAxis],
    spatial: Sequence[int],
    mode: str,
    value: float,
) -> tuple[np.ndarray, tuple[TransposedAxis, ...]]:
    """Extend ``x`` by its pad mode as far as the kept outputs read; shift the geometry."""
    pads = [(0, 0)] * x.ndim
    shifted = []
    for a, g in zip(spatial, geometry):
        keff = g.effective_kernel
        lowest = -((keff - 1 - g.pad_lo) // g.stride)  # ceil((p_lo - (k'-1)) / s)
        highest = (g.pad_lo + g.output - 1) // g.stride
        lo, hi = max(0, -lowest), max(0, highest - (g.size - 1))
        pads[a] = (lo, hi)
        shifted.append(
            TransposedAxis(
                g.size + lo + hi,
                g.kernel,
                g.stride,
                g.dilation,
                g.pad_lo + lo * g.stride,
                g.pad_hi,
                g.output_padding,
                g.output,
            )
        )
    return pad(x, pads, mode, value), tuple(shifted)


def _run_phase(
    x: np.ndarray,
    w: np.ndarray,
    phases: Sequence[_Phase],
    spatial: Sequence[int],
    cax: int | None,
    out: np.ndarray,
    method: str,
) -> None:
    """Correlate ``x`` with one phase's reversed taps; write its outputs into ``out``."""
    from convcli.engine._execute import correlate

    take: list[slice] = [slice(None)] * x.ndim
    write: list[slice] = [slice(None)] * x.ndim
    pads: list[tuple[int, int]] = []
    dilations: list[int] = []
    sub = w[tuple(p.taps for p in phases)]
    sub = sub[(slice(None, None, -1),) * sub.ndim]
    for a, p in zip(spatial, phases):
        n = x.shape[a]
        lo, hi = max(0, -p.start), max(0, p.stop - n)
        begin, end = max(0, p.start), min(n, p.stop)
        if begin >= end:
            return  # every sample this phase reads is zero padding
        take[a] = slice(begin, end)
        write[a] = slice(p.first, p.first + (p.count - 1) * p.step + 1, p.step)
        pads.append((lo, hi))
        dilations.append(p.dilation)
    y = correlate(
        x[tuple(take)],
        sub,
        padding=pads,
        dilation=dilations,
        method=method,
        channel_axis=cax,
    )
    out[tuple(write)] = y
