"""Audio FIR kernels: windowed-sinc filters and echoes, designed with numpy alone.

(scipy.signal is not imported anywhere in convcli: importing it costs about a second.)

The filters are odd-length, symmetric (linear phase) and centred, so that with the default
``same`` padding they delay nothing.  With the ideal response ``d[n]`` sampled at
``n = -M..M`` and the window ``w``:

- ``lowpass``: ``d = 2 fc sinc(2 fc n)``, scaled to gain 1 at DC;
- ``highpass``: ``d = delta - 2 fc sinc(2 fc n)``, scaled to gain 1 at Nyquist;
- ``bandpass``: the difference of two low-passes, scaled to gain 1 at the band centre;
- ``bandstop``: ``delta`` minus the band-pass, scaled to gain 1 at DC;

where ``fc`` is the cut-off over the sample rate.  The gain at each cut-off is then 0.5
(-6 dB), the pass band is flat to the window's ripple and the transition is centred on the
cut-off.

``taps=0`` (auto) picks the length from a transition width of a quarter of the distance from
the nearest cut-off to 0 Hz, to Nyquist, or (band filters) to the other cut-off: for a window
with main-lobe constant ``A`` (rect 0.9, hann 3.1, hamming 3.3, blackman 5.5; kaiser
``(As - 7.95) / 14.36`` with ``As`` the attenuation of its ``beta``), ``N = ceil(A * rate / df)``,
made odd and clamped to [15, 16383].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convcli.errors import KernelSpecError
from convcli.kernels._named import check_size

__all__ = [
    "WINDOWS",
    "DEFAULT_BETA",
    "MIN_TAPS",
    "MAX_TAPS",
    "window",
    "auto_taps",
    "lowpass",
    "highpass",
    "bandpass",
    "bandstop",
    "echo",
]

Kernel = NDArray[np.float64]
Params = Mapping[str, Any]

WINDOWS: tuple[str, ...] = ("hamming", "hann", "blackman", "kaiser", "rect")
DEFAULT_BETA = 8.6
MIN_TAPS = 15
MAX_TAPS = 16383

_MAIN_LOBE = {"rect": 0.9, "hann": 3.1, "hamming": 3.3, "blackman": 5.5}


def window(name: str, taps: int, beta: float = DEFAULT_BETA) -> Kernel:
    """Return the symmetric window ``name`` of ``taps`` samples (peak 1 at the centre).

    Examples
    --------
    >>> window("hamming", 5).round(2).tolist()
    [0.08, 0.54, 1.0, 0.54, 0.08]
    """
    if name == "rect":
        w = np.ones(taps)
    elif name == "kaiser":
        w = np.kaiser(taps, beta)
    else:
        phase = 2.0 * math.pi * np.arange(taps) / max(taps - 1, 1)
        if name == "hamming":
            w = 0.54 - 0.46 * np.cos(phase)
        elif name == "hann":
            w = 0.5 - 0.5 * np.cos(phase)
        elif name == "blackman":
            w = 0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase)
        else:
            raise KernelSpecError(f"window {name!r} is not one of {', '.join(WINDOWS)}")
    w = np.asarray(w, dtype=np.float64)
    return np.clip((w + w[::-1]) / 2.0, 0.0, None)


def _kaiser_attenuation(beta: float) -> float:
    """Return the stop-band attenuation (dB) of a Kaiser window: Kaiser's beta rule inverted."""
    if beta >= 0.1102 * (50.0 - 8.7):
        return beta / 0.1102 + 8.7
    if beta <= 0.0:
        return 21.0
    lo, hi = 21.0, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if 0.5842 * (mid - 21.0) ** 0.4 + 0.07886 * (mid - 21.0) < beta:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _main_lobe(name: str, beta: float) -> float:
    if name == "kaiser":
        return (_kaiser_attenuation(beta) - 7.95) / 14.36
    return _MAIN_LOBE[name]


def auto_taps(cutoffs: tuple[float, ...], rate: float, name: str, beta: float) -> int:
    """Return the automatic, odd number of taps for these cut-offs (see the module docstring).

    Examples
    --------
    >>> auto_taps((1000.0,), 44100.0, "hamming", 8.6)
    583
    """
    nyquist = rate / 2.0
    gaps = [c for c in cutoffs] + [nyquist - c for c in cutoffs]
    gaps += [b - a for a, b in zip(cutoffs, cutoffs[1:])]
    width = min(gaps) / 4.0
    taps = math.ceil(_main_lobe(name, beta) * rate / width)
    taps += 1 - taps % 2
    return min(max(taps, MIN_TAPS), MAX_TAPS)


def _design(name: str, p: Params, rate: float, keys: tuple[str, ...]) -> tuple[Kernel, Kernel]:
    """Check the cut-offs; return the sample indices ``n`` and the window."""
    nyquist = rate / 2.0
    cutoffs = tuple(float(p[k]) for k in keys)
    for key, value in zip(keys, cutoffs):
        if not 0.0 < value < nyquist:
            raise KernelSpecError(
                f"{name}: {key} {value:g} Hz is out of range at rate {rate:g} Hz; "
                f"{key} must be > 0 and < {nyquist:g} Hz (rate/2)"
            )
    if len(cutoffs) == 2 and not cutoffs[0] < cutoffs[1]:
        raise KernelSpecError(f"{name}: low {cutoffs[0]:g} Hz must be below high {cutoffs[1]:g} Hz")
    win, beta = p["window"], p["beta"]
    if win != "kaiser" and beta != DEFAULT_BETA:
        raise KernelSpecError(f"{name}: beta {beta:g} applies only to window=kaiser, not {win}")
    taps = p["taps"] or auto_taps(cutoffs, rate, win, beta)
    check_size(name, (taps,))
    half = taps // 2
    n = np.arange(-half, half + 1, dtype=np.float64)
    return n, window(win, taps, beta)


def _ideal_lowpass(fc: float, n: Kernel) -> Kernel:
    return 2.0 * fc * np.sinc(2.0 * fc * n)


def _delta(n: Kernel) -> Kernel:
    return (n == 0).astype(np.float64)


def _finish(h: Kernel, gain: float) -> Kernel:
    h = h / gain
    return (h + h[::-1]) / 2.0


def _gain_at(h: Kernel, n: Kernel, freq: float) -> float:
    """Return the (real) response of a centred symmetric filter at ``freq`` cycles/sample."""
    return float(np.sum(h * np.cos(2.0 * math.pi * freq * n)))


def lowpass(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Windowed-sinc low-pass, gain 1 at DC and 0.5 at ``cutoff``."""
    assert rate is not None
    n, w = _design("lowpass", p, rate, ("cutoff",))
    h = _ideal_lowpass(p["cutoff"] / rate, n) * w
    return _finish(h, float(h.sum()))


def highpass(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Windowed-sinc high-pass, gain 1 at Nyquist and 0.5 at ``cutoff``."""
    assert rate is not None
    n, w = _design("highpass", p, rate, ("cutoff",))
    h = (_delta(n) - _ideal_lowpass(p["cutoff"] / rate, n)) * w
    return _finish(h, _gain_at(h, n, 0.5))


def bandpass(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Windowed-sinc band-pass, gain 1 at the band centre and 0.5 at ``low`` and ``high``."""
    assert rate is not None
    n, w = _design("bandpass", p, rate, ("low", "high"))
    f1, f2 = p["low"] / rate, p["high"] / rate
    h = (_ideal_lowpass(f2, n) - _ideal_lowpass(f1, n)) * w
    return _finish(h, _gain_at(h, n, (f1 + f2) / 2.0))


def bandstop(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Windowed-sinc band-stop, gain 1 at DC and 0.5 at ``low`` and ``high``."""
    assert rate is not None
    n, w = _design("bandstop", p, rate, ("low", "high"))
    f1, f2 = p["low"] / rate, p["high"] / rate
    h = (_delta(n) - _ideal_lowpass(f2, n) + _ideal_lowpass(f1, n)) * w
    return _finish(h, float(h.sum()))


def echo(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Build ``2*D*repeats + 1`` taps: 1 at the centre, ``decay**k`` at ``k*D`` before it.

    With correlation (the default) and ``same`` padding this is the causal echo
    ``y[t] = x[t] + decay * x[t - D] + decay**2 * x[t - 2D] + ...``, ``D = round(delay*rate)``.
    """
    assert rate is not None
    delay, decay, repeats = p["delay"], p["decay"], p["repeats"]
    step = round(delay * rate)
    if step < 1:
        raise KernelSpecError(
            f"echo: delay {delay:g} s is less than one sample at rate {rate:g} Hz; "
            f"delay must be >= {0.5 / rate:g} s"
        )
    centre = step * repeats
    check_size("echo", (2 * centre + 1,))
    h = np.zeros(2 * centre + 1)
    h[centre] = 1.0
    for k in range(1, repeats + 1):
        h[centre - k * step] = decay**k
    return h
