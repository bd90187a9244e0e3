"""Impulse responses as reverb users have them: IR matrices, rates, mix, trim, normalisation.

Reverb is true convolution with the impulse response (``flip=True``), every tail sample kept
(``padding="full"``): an input of ``n`` frames and an IR of ``K`` taps give ``n + K - 1``
frames, and output frame ``t`` is ``sum_j h[j] x[t - j]`` (``numpy.convolve``).

- :func:`ir_matrix` reads an IR file's channels as an ``N_in × N_out`` matrix of paths (a
  4-channel true-stereo IR is LL, LR, RL, RR: input → output, input-major);
  :func:`apply_ir_matrix` sums each input convolved with its path into each output;
  :func:`ir_block` computes any block of that output from the input block and its halo.
- :func:`resample_kernel` resamples an IR to the signal's rate (polyphase, exact ratio).
- :func:`ir_latency`, :func:`predelay`, :func:`trim_ir`, :func:`normalize_ir` and
  :func:`mix` are the pieces of ``--mix``, ``--predelay``, ``--trim-ir`` and
  ``--ir-normalize``.

Convolution goes through :func:`convcli.convolve` (FFT, overlap-save in blocks for long IRs,
as its planner picks).  scipy.signal is imported only by :func:`resample_kernel`.

Examples
--------
>>> x = np.array([[1.0, 0.0], [0.0, 2.0]])          # 2 frames, stereo: L then R
>>> ir = np.array([[1.0, 0.5], [0.0, 0.1], [0.0, 0.2], [1.0, 0.0]])  # LL, LR, RL, RR
>>> apply_ir_matrix(x, ir_matrix(ir, inputs=2))
array([[1. , 0. ],
       [0.5, 2.1],
       [0.4, 0. ]])
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

import numpy as np

from convcli.errors import ArgumentError

__all__ = [
    "MAX_RATIO_TERM",
    "parse_ir_layout",
    "ir_matrix",
    "apply_ir_matrix",
    "ir_block",
    "resample_kernel",
    "ir_latency",
    "predelay",
    "trim_ir",
    "normalize_ir",
    "delay",
    "mix",
]

#: The largest term ``up`` or ``down`` of the ratio ``to_rate/from_rate`` that
#: :func:`resample_kernel` accepts: polyphase filters grow with it (20 taps per term), and a
#: larger term means a rate that is not what it looks like (44100 -> 22050.5 is 44101/88200).
MAX_RATIO_TERM = 1 << 14

_LAYOUT = re.compile(r"\s*(\d+)\s*[x×]\s*(\d+)\s*")


def parse_ir_layout(text: str) -> tuple[int, int]:
    """Parse ``--ir-layout IN x OUT`` (``"2x2"``, ``"1x4"``) into ``(inputs, outputs)``.

    Examples
    --------
    >>> parse_ir_layout("2x2"), parse_ir_layout("1×4")
    ((2, 2), (1, 4))
    """
    match = _LAYOUT.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ArgumentError(
            f"ir layout {text!r} is not INxOUT: inputs x outputs, e.g. 2x2 (true stereo), "
            "1x2 (mono to stereo), 1x4"
        )
    return int(match.group(1)), int(match.group(2))


def _channels_taps(ir: object) -> np.ndarray:
    """Return an IR as ``(channels, taps)`` float64: ``(taps,)`` is one channel."""
    h = np.asarray(ir, dtype=np.float64)
    if h.ndim == 1:
        h = h[None, :]
    if h.ndim != 2 or h.size == 0:
        raise ArgumentError(
            f"an impulse response is (taps,) or (channels, taps), got shape {h.shape}"
        )
    if not np.all(np.isfinite(h)):
        raise ArgumentError("the impulse response holds NaN or Inf")
    return h


def ir_matrix(ir: object, inputs: int, layout: tuple[int, int] | str | None = None) -> np.ndarray:
    """Arrange an IR's channels as an ``(N_in, N_out, taps)`` matrix of paths.

    Parameters
    ----------
    ir : array_like
        ``(taps,)`` or ``(channels, taps)``, as :func:`convcli.kernels.read_kernel_file`
        reads an audio IR.
    inputs : int
        The number of channels of the signal.
    layout : (int, int) or str, optional
        ``(N_in, N_out)`` or ``"N_inxN_out"``: the IR's channels are the paths in input-major
        order (``2x2``: LL, LR, RL, RR, i.e. input L to outputs L and R, then input R), so
        ``channels == N_in * N_out`` and ``N_in == inputs``.  Without it: one channel is used
        on every input (its own output, as a mono IR always was); ``inputs`` channels pair
        with the inputs one to one; ``inputs**2`` channels (4 on stereo) are the full
        ``inputs x inputs`` matrix (true stereo); anything else is refused.

    Returns
    -------
    numpy.ndarray
        ``(N_in, N_out, taps)`` float64; paths that do not exist are zero (and skipped).

    Raises
    ------
    ArgumentError
        A channel count that fits no layout (a 3-channel IR on stereo), or a layout that
        does not match the IR or the signal.

    Examples
    --------
    >>> ir_matrix([1.0, 0.5], inputs=2)[:, :, 0]
    array([[1., 0.],
           [0., 1.]])
    >>> ir_matrix(np.ones((2, 3)), inputs=1, layout="1x2").shape
    (1, 2, 3)
    """
    h = _channels_taps(ir)
    channels, taps = h.shape
    if isinstance(inputs, bool) or not isinstance(inputs, (int, np.integer)) or inputs < 1:
        raise ArgumentError(f"inputs must be a number of channels >= 1, got {inputs!r}")
    if isinstance(layout, str):
        layout = parse_ir_layout(layout)
    if layout is not None:
        n_in, n_out = layout
        if n_in * n_out != channels:
            raise ArgumentError(
                f"ir layout {n_in}x{n_out} needs {n_in * n_out} IR channels (input-major: "
                f"in1->out1, in1->out2, ...), but the IR has {channels}"
            )
        if n_in != inputs:
            raise ArgumentError(
                f"ir layout {n_in}x{n_out} takes {n_in} input channel(s), but the signal has "
                f"{inputs}"
            )
        return np.ascontiguousarray(h.reshape(n_in, n_out, taps))
    if channels in (1, inputs):
        matrix = np.zeros((inputs, inputs, taps))
        for c in range(inputs):
            matrix[c, c] = h[c if channels == inputs else 0]
        return matrix
    if inputs > 1 and channels == inputs * inputs:
        return np.ascontiguousarray(h.reshape(inputs, inputs, taps))
    raise ArgumentError(
        f"a {channels}-channel impulse response on a {inputs}-channel signal: an IR has 1 "
        f"channel (used on every channel), {inputs} (one per channel)"
        + (
            f" or {inputs * inputs} (true {inputs}x{inputs}: in1->out1, in1->out2, ...)"
            if inputs > 1
            else ""
        )
        + "; give the layout (inputs x outputs) for any other matrix"
    )


def _frames(x: object) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ArgumentError(f"the signal is (frames,) or (frames, channels), got {arr.shape}")
    return arr


def apply_ir_matrix(
    x: object, matrix: object, *, padding: Any = "full", method: str = "auto"
) -> np.ndarray:
    """Convolve a signal with a matrix of IRs: ``y[:, o] = sum_i x[:, i] ⊛ h[i, o]``.

    Parameters
    ----------
    x : array_like
        ``(frames, N_in)``, or ``(frames,)`` for one channel.
    matrix : array_like
        ``(N_in, N_out, taps)``, from :func:`ir_matrix`; all-zero paths are skipped.
    padding : optional
        As :func:`convcli.convolve`'s; ``"full"`` (default) keeps every tail sample
        (``frames + taps - 1`` outputs), ``"valid"`` only the outputs that see the whole IR:
        the block form (see :func:`ir_block`).
    method : str, optional
        As :func:`convcli.convolve`'s; ``auto`` picks FFT (overlap-save) for long IRs.

    Returns
    -------
    numpy.ndarray
        ``(frames_out, N_out)``, float32 (float64 for a float64 signal).

    Examples
    --------
    >>> apply_ir_matrix([1.0, 2.0], [[[1.0, 0.5]]]).ravel()
    array([1. , 2.5, 1. ])
    """
    from convcli.engine import convolve

    arr = _frames(x)
    h = np.asarray(matrix, dtype=np.float64)
    if h.ndim != 3 or h.shape[0] != arr.shape[1] or 0 in h.shape:
        raise ArgumentError(
            f"the IR matrix is (inputs, outputs, taps) with inputs = the signal's "
            f"{arr.shape[1]} channel(s); got shape {h.shape}"
        )
    out: np.ndarray | None = None
    for o in range(h.shape[1]):
        for i in range(h.shape[0]):
            if not h[i, o].any():
                continue
            y = convolve(arr[:, i], h[i, o], flip=True, padding=padding, method=method)
            if out is None:
                out = np.zeros((y.shape[0], h.shape[1]), y.dtype)
            out[:, o] += y
    if out is None:  # every path is zero
        from convcli.geometry import output_shape

        n = output_shape((arr.shape[0],), (h.shape[2],), padding=padding)[0]
        dtype = np.float64 if arr.dtype == np.float64 else np.float32
        out = np.zeros((n, h.shape[1]), dtype)
    return out


def ir_block(x: Any, matrix: object, start: int, stop: int, *, method: str = "auto") -> np.ndarray:
    """Frames ``[start, stop)`` of ``apply_ir_matrix(x, matrix)`` (full padding), by block.

    Only ``x[start - taps + 1 : stop]`` is read (the block and its halo of ``taps - 1``
    frames before it; frames outside the signal are zeros), so a caller that walks the output
    block by block -- from a ``numpy.memmap`` or any array that slices lazily -- holds one
    block and its halo at a time, and the blocks join into exactly the whole result.

    Examples
    --------
    >>> x = np.arange(6.0)
    >>> h = np.array([[[1.0, 1.0, 1.0]]])
    >>> np.concatenate([ir_block(x, h, 0, 4), ir_block(x, h, 4, 8)]).ravel()
    array([ 0.,  1.,  3.,  6.,  9., 12.,  9.,  5.])
    """
    h = np.asarray(matrix, dtype=np.float64)
    if h.ndim != 3:
        raise ArgumentError(f"the IR matrix is (inputs, outputs, taps), got shape {h.shape}")
    frames = len(x)
    total = frames + h.shape[2] - 1
    if not 0 <= start < stop <= total:
        raise ArgumentError(f"block [{start}, {stop}) is not within the {total} output frames")
    lo = start - h.shape[2] + 1
    piece = _frames(x[max(lo, 0) : min(stop, frames)])
    before, after = max(-lo, 0), max(stop - frames, 0)
    if before or after:
        piece = np.pad(piece, [(before, after), (0, 0)])
    return apply_ir_matrix(piece, h, padding="valid", method=method)


def _rate(value: object, name: str) -> Fraction:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ArgumentError(f"{name} must be a number of Hz, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ArgumentError(f"{name} must be a positive number of Hz, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    return Fraction(repr(number))  # the decimal as written: 22050.5 is 44101/2


def resample_kernel(ir: object, from_rate: float, to_rate: float) -> np.ndarray:
    """Resample an impulse response to another rate (polyphase, exact rational ratio).

    The ratio ``to_rate / from_rate`` is taken exactly as the rates are written (decimal
    values as decimals) and reduced to ``up/down``; ``scipy.signal.resample_poly`` (a Kaiser
    windowed-sinc polyphase filter) does the rest.  The values are then scaled by
    ``from_rate / to_rate``, so the IR's gain is kept: a unit impulse stays a filter of gain 1
    (DC and every frequency below both Nyquists), and a room sounds as loud at either rate.

    Parameters
    ----------
    ir : array_like
        ``(taps,)`` or ``(..., taps)``: the last axis is time.
    from_rate, to_rate : float
        The IR's rate and the signal's, in Hz.

    Returns
    -------
    numpy.ndarray
        float64, ``ceil(taps * up / down)`` taps.

    Raises
    ------
    ArgumentError
        A rate that is not a positive number, or a ratio whose reduced terms exceed
        :data:`MAX_RATIO_TERM` (44100 -> 22050.5 is 44101/88200): no exact polyphase
        resampling of a sensible size exists.

    Examples
    --------
    >>> h = resample_kernel(np.r_[1.0, np.zeros(99)], 44100, 48000)
    >>> len(h), round(float(h.sum()), 3)
    (109, 1.0)
    """
    h = np.asarray(ir, dtype=np.float64)
    if h.ndim == 0 or h.shape[-1] == 0:
        raise ArgumentError(f"an impulse response has at least one tap, got shape {h.shape}")
    ratio = _rate(to_rate, "to_rate") / _rate(from_rate, "from_rate")
    up, down = ratio.numerator, ratio.denominator
    if max(up, down) > MAX_RATIO_TERM:
        raise ArgumentError(
            f"resampling {from_rate} Hz to {to_rate} Hz is the ratio {up}/{down}, whose terms "
            f"exceed {MAX_RATIO_TERM}: it cannot be done exactly at a sensible cost; resample "
            "the impulse response to the signal's rate with a tool that approximates, or "
            "check the rates"
        )
    if up == down:
        return h.copy()
    from scipy.signal import resample_poly

    return np.asarray(resample_poly(h, up, down, axis=-1)) * float(Fraction(down, up))


def ir_latency(ir: object) -> int:
    """Return an IR's latency: the index of its peak ``|h|`` (over all channels; the first).

    This is where the direct sound of a measured room lies, so :func:`delay` by it aligns the
    dry signal with the wet one for :func:`mix`.

    Examples
    --------
    >>> ir_latency([0.0, 0.1, -0.9, 0.5])
    2
    """
    h = np.abs(np.asarray(ir, dtype=np.float64))
    if h.ndim == 0 or h.size == 0:
        raise ArgumentError("an impulse response has at least one tap")
    return int(np.argmax(h.reshape(-1, h.shape[-1]).max(axis=0)))


def predelay(ir: object, seconds: float, rate: float) -> np.ndarray:
    """Delay the wet signal: prepend ``round(seconds * rate)`` zeros to the IR (time last).

    Measure :func:`ir_latency` first, so the dry signal stays aligned with the direct sound
    and the pre-delay separates the reverb from it.  Whole samples only (half to even).

    Examples
    --------
    >>> predelay([1.0, 0.5], 0.002, 1000).tolist()
    [0.0, 0.0, 1.0, 0.5]
    """
    h = np.asarray(ir, dtype=np.float64)
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ArgumentError(f"predelay must be >= 0 seconds, got {seconds!r}")
    if not (math.isfinite(rate) and rate > 0):
        raise ArgumentError(f"rate must be a positive number of Hz, got {rate!r}")
    n = round(seconds * rate)
    return np.concatenate([np.zeros(h.shape[:-1] + (n,)), h], axis=-1)


def trim_ir(ir: object, threshold_db: float = -60.0) -> tuple[np.ndarray, int]:
    """Drop an IR's leading silence: the frames where every channel is below the threshold.

    Parameters
    ----------
    ir : array_like
        ``(taps,)`` or ``(..., taps)``.
    threshold_db : float, optional
        In dBFS (full scale = 1.0): samples with ``|h| < 10**(threshold_db / 20)`` are
        silent.  Default -60.

    Returns
    -------
    (numpy.ndarray, int)
        The trimmed IR and the number of samples removed (the latency it took away).

    Examples
    --------
    >>> trim_ir([0.0, 1e-4, 0.01, 1.0, 0.5], -50)
    (array([0.01, 1.  , 0.5 ]), 2)
    """
    h = np.asarray(ir, dtype=np.float64)
    if not (math.isfinite(threshold_db) and threshold_db <= 0):
        raise ArgumentError(f"trim threshold must be <= 0 dBFS, got {threshold_db!r}")
    if h.ndim == 0 or h.size == 0:
        raise ArgumentError("an impulse response has at least one tap")
    level = 10.0 ** (threshold_db / 20.0)
    loud = (np.abs(h) >= level).reshape(-1, h.shape[-1]).any(axis=0)
    if not loud.any():
        raise ArgumentError(
            f"the whole impulse response is below {threshold_db:g} dBFS (peak "
            f"{20 * math.log10(max(float(np.abs(h).max()), 1e-300)):.1f} dBFS): nothing to keep"
        )
    removed = int(np.argmax(loud))
    return np.ascontiguousarray(h[..., removed:]), removed


def normalize_ir(ir: object, mode: str = "none") -> np.ndarray:
    """Scale an IR (one gain for all its channels, so their balance is kept).

    ``none``: as given.  ``peak``: the largest ``|h|`` becomes 1.  ``energy``: white noise of
    unit power on every input gives unit power on average over the outputs, i.e. the sum of
    ``h**2`` over every path is the number of outputs (for a mono IR: ``sum(h**2) = 1``).
    The outputs are counted as the IR's shape says: ``(taps,)`` 1, ``(channels, taps)`` one
    per channel, an ``(N_in, N_out, taps)`` matrix ``N_out``.

    Examples
    --------
    >>> normalize_ir([0.5, -0.25], "peak").tolist()
    [1.0, -0.5]
    >>> normalize_ir([3.0, 4.0], "energy").tolist()
    [0.6, 0.8]
    """
    h = np.asarray(ir, dtype=np.float64)
    if mode not in ("none", "peak", "energy"):
        raise ArgumentError(f"ir normalize {mode!r} is not one of none, peak, energy")
    if mode == "none":
        return h.copy()
    if h.ndim == 0 or not np.any(h):
        raise ArgumentError("an impulse response of zeros cannot be normalised")
    if mode == "peak":
        return h / np.abs(h).max()
    outputs = 1 if h.ndim == 1 else h.shape[0] if h.ndim == 2 else h.shape[-2]
    return h * math.sqrt(outputs / float(np.sum(h * h)))


def delay(x: object, samples: int, length: int | None = None) -> np.ndarray:
    """Delay a signal (frames first) by ``samples`` zeros; pad or cut it to ``length`` frames.

    Examples
    --------
    >>> delay([1.0, 2.0], 2, 5).tolist()
    [0.0, 0.0, 1.0, 2.0, 0.0]
    """
    arr = np.asarray(x)
    if samples < 0:
        raise ArgumentError(f"a delay is >= 0 samples, got {samples}")
    out = np.concatenate([np.zeros((samples,) + arr.shape[1:], arr.dtype), arr])
    if length is not None:
        out = out[:length]
        if len(out) < length:
            out = np.concatenate([out, np.zeros((length - len(out),) + arr.shape[1:], arr.dtype)])
    return out


def mix(dry: object, wet: object, wet_level: float) -> np.ndarray:
    """Blend linearly: ``(1 - wet_level) * dry + wet_level * wet`` (``--mix WET``).

    ``dry`` must already be aligned with ``wet`` (``delay(x, ir_latency(ir), len(wet))`` for
    a full-padding reverb); a one-channel dry signal is spread over the wet channels.

    Examples
    --------
    >>> mix([1.0, 0.0], [0.0, 1.0], 0.25).tolist()
    [0.75, 0.25]
    """
    d, w = np.asarray(dry), np.asarray(wet)
    if not (math.isfinite(wet_level) and 0.0 <= wet_level <= 1.0):
        raise ArgumentError(f"mix must be between 0 (dry) and 1 (wet), got {wet_level!r}")
    if d.ndim == 2 and w.ndim == 2 and d.shape[1] == 1:
        d = np.broadcast_to(d, (d.shape[0], w.shape[1]))
    if d.shape != w.shape:
        raise ArgumentError(f"dry {d.shape} and wet {w.shape} signals differ in shape")
    dtype = np.result_type(w.dtype, np.float32)
    return ((1.0 - wet_level) * d + wet_level * w).astype(dtype, copy=False)
