"""Frequency responses of kernels: the numbers, and plots drawn with Pillow.

numpy and Pillow only (no matplotlib, no scipy.signal).  A kernel ``w`` used by correlation
(convcli's default) has the frequency response

    H(f) = sum_j w[j] exp(-2 pi i f j)           (f in cycles per sample, |f| <= 1/2)

per axis; with ``--flip`` (convolution) the phase changes sign and the magnitude does not, so
every number here holds for both.

- DC gain ``H(0) = sum(w)``; Nyquist gain ``H(1/2) = sum_j w[j] (-1)^j`` (per axis, and at
  the corner where every axis is at Nyquist);
- zero-sum: ``|sum(w)|`` below ``1e-9 * sum(|w|)`` (a derivative or edge kernel: flat regions
  map to 0);
- separability rank: the matrix rank of a 2-D kernel (1 = an outer product of two 1-D
  kernels, which ``--method separable`` can use); for N-D kernels the ranks of the N
  unfoldings (all 1 = separable); 1 for any non-zero 1-D kernel;
- symmetry per axis: ``symmetric`` (``w`` equals ``w`` reversed along that axis: a real,
  zero-phase response about the centre), ``antisymmetric`` (``w`` equals minus itself
  reversed), or ``none``;
- for 1-D kernels, the frequencies where the magnitude crosses -3 dB and -6 dB below its peak
  (the -6 dB point of convcli's ``lowpass`` is its cut-off).

Examples
--------
>>> import numpy as np
>>> p = kernel_properties(np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
>>> p.zero_sum, p.rank, p.symmetry
(True, 1, ('symmetric', 'antisymmetric'))
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from convcli.errors import ArgumentError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "KernelProperties",
    "kernel_properties",
    "symmetry",
    "separability_rank",
    "dtft",
    "magnitude_db",
    "level_crossings",
    "format_properties",
    "plot_response",
    "save_response",
    "HALF_DB",
    "HALF_POWER_DB",
]

#: Half amplitude, -6.02 dB: the level of convcli's FIR filters at their cut-offs.
HALF_DB = 20.0 * math.log10(0.5)
#: Half power, -3.01 dB.
HALF_POWER_DB = 10.0 * math.log10(0.5)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class KernelProperties:
    """What :func:`kernel_properties` finds out about a kernel.

    Attributes
    ----------
    shape : tuple of int
    dc_gain : float
        ``sum(w)``.
    nyquist_gain : float
        The response with every axis at Nyquist (real for a real kernel).
    nyquist_per_axis : tuple of float
        The response at Nyquist along each axis, the other axes at DC.
    zero_sum : bool
    rank : int or tuple of int
        Matrix rank (1-D and 2-D), or the ranks of the unfoldings (N-D).
    separable : bool
    symmetry : tuple of str
        ``symmetric``, ``antisymmetric`` or ``none``, per axis.
    crossings : dict of float to list of float
        1-D only: level (dB below the peak) -> frequencies in cycles/sample.
    peak_gain : float
        The largest magnitude of the response (1-D: on a fine grid).
    """

    shape: tuple[int, ...]
    dc_gain: float
    nyquist_gain: float
    nyquist_per_axis: tuple[float, ...]
    zero_sum: bool
    rank: int | tuple[int, ...]
    separable: bool
    symmetry: tuple[str, ...]
    crossings: dict[float, list[float]]
    peak_gain: float


def _as_kernel(kernel: Any) -> FloatArray:
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim == 0 or w.size == 0:
        raise ArgumentError(f"a kernel needs at least one axis and one tap, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ArgumentError("the kernel holds NaN or infinite values")
    return w


def _tol(w: FloatArray) -> float:
    return 1e-9 * max(float(np.abs(w).max()), 1e-300)


def symmetry(kernel: Any, axis: int) -> str:
    """Classify a kernel along one axis: ``symmetric``, ``antisymmetric`` or ``none``.

    Examples
    --------
    >>> symmetry([1, 2, 1], 0), symmetry([-1, 0, 1], 0), symmetry([1, 2, 3], 0)
    ('symmetric', 'antisymmetric', 'none')
    """
    w = _as_kernel(kernel)
    flipped = np.flip(w, axis=axis)
    tol = _tol(w)
    if np.all(np.abs(w - flipped) <= tol):
        return "symmetric"
    if np.all(np.abs(w + flipped) <= tol):
        return "antisymmetric"
    return "none"


def separability_rank(kernel: Any) -> int | tuple[int, ...]:
    """Return the separability rank: matrix rank (1-D, 2-D) or the unfoldings' ranks (N-D).

    Examples
    --------
    >>> separability_rank(np.outer([1, 2, 1], [1, 0, -1]))
    1
    >>> separability_rank([[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    2
    """
    w = _as_kernel(kernel)
    if w.ndim == 1:
        return int(np.any(np.abs(w) > 0))
    if w.ndim == 2:
        return int(np.linalg.matrix_rank(w))
    return tuple(
        int(np.linalg.matrix_rank(np.moveaxis(w, ax, 0).reshape(w.shape[ax], -1)))
        for ax in range(w.ndim)
    )


def dtft(kernel: Any, freqs: Any) -> NDArray[np.complex128]:
    """Evaluate a 1-D kernel's response at frequencies in cycles per sample.

    The phase is referred to the kernel's centre tap (index ``(k-1)/2``), so a symmetric
    kernel has a real response.

    Examples
    --------
    >>> np.round(dtft([0.25, 0.5, 0.25], [0.0, 0.25, 0.5]).real, 6).tolist()
    [1.0, 0.5, 0.0]
    """
    w = _as_kernel(kernel).ravel()
    f = np.atleast_1d(np.asarray(freqs, dtype=np.float64))
    n = np.arange(w.size, dtype=np.float64) - (w.size - 1) / 2.0
    out = np.empty(f.shape, dtype=np.complex128)
    chunk = max(1, 4_000_000 // w.size)
    flat = f.ravel()
    res = out.ravel()
    for start in range(0, flat.size, chunk):
        part = flat[start : start + chunk]
        res[start : start + chunk] = np.exp(-2j * np.pi * np.outer(part, n)) @ w
    return res.reshape(f.shape)


def magnitude_db(h: Any, floor: float = -300.0) -> FloatArray:
    """Return ``20 log10 |h|``, with zeros at ``floor`` dB.

    Examples
    --------
    >>> magnitude_db([1.0, 0.5, 0.0]).round(2).tolist()
    [0.0, -6.02, -300.0]
    """
    mag = np.abs(np.asarray(h))
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(mag)
    return np.maximum(np.where(mag > 0, db, floor), floor)


def _grid_size(taps: int) -> int:
    return int(2 ** math.ceil(math.log2(max(16384, 8 * taps))))


def level_crossings(kernel: Any, level_db: float) -> list[float]:
    """Return the frequencies (cycles/sample) where a 1-D kernel's magnitude crosses a level.

    ``level_db`` is relative to the peak of the magnitude.  Crossings are found on a fine
    grid and refined by bisection on the exact response.

    Examples
    --------
    >>> [round(f, 4) for f in level_crossings([0.25, 0.5, 0.25], HALF_DB)]
    [0.25]
    """
    w = _as_kernel(kernel).ravel()
    nfft = _grid_size(w.size)
    mag = np.abs(np.fft.rfft(w, nfft))
    freqs = np.arange(mag.size) / nfft
    peak = float(mag.max())
    if peak == 0.0:
        return []
    target = peak * 10.0 ** (level_db / 20.0)
    above = mag >= target
    out = []
    for idx in np.flatnonzero(above[1:] != above[:-1]):
        lo, hi = float(freqs[idx]), float(freqs[idx + 1])
        lo_above = bool(above[idx])
        for _ in range(60):
            mid = (lo + hi) / 2.0
            if (abs(dtft(w, mid)[0]) >= target) == lo_above:
                lo = mid
            else:
                hi = mid
        out.append((lo + hi) / 2.0)
    return out


def kernel_properties(kernel: Any) -> KernelProperties:
    """Compute a kernel's DC and Nyquist gains, zero-sum flag, rank, symmetry, crossings.

    Examples
    --------
    >>> p = kernel_properties([0.25, 0.5, 0.25])
    >>> p.dc_gain, p.nyquist_gain, p.symmetry, [round(f, 3) for f in p.crossings[HALF_DB]]
    (1.0, 0.0, ('symmetric',), [0.25])
    """
    w = _as_kernel(kernel)
    dc = float(w.sum())
    signs = [(-1.0) ** np.arange(n) for n in w.shape]
    corner = w
    for ax, s in enumerate(signs):
        shape = [1] * w.ndim
        shape[ax] = -1
        corner = corner * s.reshape(shape)
    per_axis = []
    for ax, s in enumerate(signs):
        shape = [1] * w.ndim
        shape[ax] = -1
        per_axis.append(float((w * s.reshape(shape)).sum()))
    rank = separability_rank(w)
    separable = all(r <= 1 for r in rank) if isinstance(rank, tuple) else rank <= 1
    crossings: dict[float, list[float]] = {}
    if w.ndim == 1:
        nfft = _grid_size(w.size)
        peak = float(np.abs(np.fft.rfft(w, nfft)).max())
        for level in (HALF_POWER_DB, HALF_DB):
            crossings[level] = level_crossings(w, level)
    else:
        size = [max(64, 4 * n) for n in w.shape]
        peak = float(np.abs(np.fft.fftn(w, size, axes=tuple(range(w.ndim)))).max())
    return KernelProperties(
        shape=tuple(w.shape),
        dc_gain=dc,
        nyquist_gain=float(corner.sum()),
        nyquist_per_axis=tuple(per_axis),
        zero_sum=abs(dc) <= 1e-9 * float(np.abs(w).sum()),
        rank=rank,
        separable=separable,
        symmetry=tuple(symmetry(w, ax) for ax in range(w.ndim)),
        crossings=crossings,
        peak_gain=peak,
    )


def _db_text(gain: float) -> str:
    if gain == 0.0 or abs(gain) < 1e-15:
        return "-inf dB"
    return f"{20.0 * math.log10(abs(gain)):.2f} dB"


def _num(v: float) -> str:
    if abs(v) < 1e-12:
        return "0"
    return f"{v:.6g}"


def _freq_text(f: float, rate: float | None) -> str:
    if rate is None:
        return f"{f:.4f} cycles/sample"
    return f"{f * rate:.1f} Hz"


def format_properties(
    props: KernelProperties, *, rate: float | None = None, names: Sequence[str] | None = None
) -> str:
    """Format :func:`kernel_properties` for people, one property per line.

    Examples
    --------
    >>> print(format_properties(kernel_properties([0.25, 0.5, 0.25]), rate=8000))
    DC gain: 1 (0.00 dB)
    Nyquist gain: 0 (-inf dB)
    zero-sum: no
    separability rank: 1 (1-D)
    symmetry: symmetric
    -3 dB: 1456.2 Hz
    -6 dB: 2000.0 Hz
    """
    from convcli.explain.arithmetic import axis_names

    nd = len(props.shape)
    names = tuple(names) if names is not None else axis_names(nd)
    lines = [f"DC gain: {_num(props.dc_gain)} ({_db_text(props.dc_gain)})"]
    nyq = f"Nyquist gain: {_num(props.nyquist_gain)} ({_db_text(props.nyquist_gain)})"
    if nd > 1:
        nyq += " with every axis at Nyquist; along " + ", ".join(
            f"{n} {_num(g)}" for n, g in zip(names, props.nyquist_per_axis)
        )
    lines.append(nyq)
    lines.append(f"zero-sum: {'yes' if props.zero_sum else 'no'}")
    if nd == 1:
        lines.append(f"separability rank: {props.rank} (1-D)")
    elif isinstance(props.rank, tuple):
        ranks = ", ".join(map(str, props.rank))
        verdict = "separable" if props.separable else "not separable"
        lines.append(f"separability rank: {ranks} (ranks of the unfoldings: {verdict})")
    else:
        verdict = "separable" if props.separable else "not separable"
        lines.append(f"separability rank: {props.rank} (matrix rank: {verdict})")
    if nd == 1:
        lines.append(f"symmetry: {props.symmetry[0]}")
    else:
        lines.append("symmetry: " + ", ".join(f"{n} {s}" for n, s in zip(names, props.symmetry)))
    for level, label in ((HALF_POWER_DB, "-3 dB"), (HALF_DB, "-6 dB")):
        if level in props.crossings:
            found = props.crossings[level]
            text = ", ".join(_freq_text(f, rate) for f in found[:6]) or "none"
            if len(found) > 6:
                text += f", ... ({len(found)} crossings)"
            lines.append(f"{label}: {text}")
    return "\n".join(lines)


# -- plotting ----------------------------------------------------------------------------

_INK = (7, 54, 66)
_GRID = (225, 225, 225)
_AXIS = (88, 110, 117)
_CURVE = (38, 139, 210)
_MARK = (220, 50, 47)
_VIRIDIS = (
    (68, 1, 84),
    (72, 40, 120),
    (62, 74, 137),
    (49, 104, 142),
    (38, 130, 142),
    (31, 158, 137),
    (53, 183, 121),
    (110, 206, 88),
    (181, 222, 43),
    (253, 231, 37),
)


def _colormap(values: FloatArray) -> NDArray[np.uint8]:
    """Map values in [0, 1] to RGB through a viridis-like ramp."""
    anchors = np.asarray(_VIRIDIS, dtype=np.float64)
    pos = np.clip(values, 0.0, 1.0) * (len(anchors) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(anchors) - 1)
    t = (pos - lo)[..., None]
    rgb = anchors[lo] * (1.0 - t) + anchors[hi] * t
    return np.round(rgb).astype(np.uint8)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType
        return ImageFont.load_default()


def _vertical_text(img: Image.Image, xy: tuple[int, int], text: str, font: Any) -> None:
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    box = probe.textbbox((0, 0), text, font=font)
    label = Image.new("L", (int(box[2]) + 2, int(box[3]) + 2), 0)
    ImageDraw.Draw(label).text((1, 1), text, fill=255, font=font)
    label = label.rotate(90, expand=True)
    ink = Image.new("RGB", label.size, _INK)
    img.paste(ink, (xy[0], xy[1] - label.size[1] // 2), label)


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * mag >= raw:
            return m * mag
    return 10.0 * mag


def _hz_label(f: float) -> str:
    if f >= 1000.0:
        v = f / 1000.0
        return f"{v:g}k"
    return f"{f:g}"


def plot_response(
    kernel: Any,
    *,
    rate: float | None = None,
    title: str = "",
    size: tuple[int, int] | None = None,
) -> Image.Image:
    """Draw a kernel's magnitude response (1-D: dB against frequency; 2-D: a dB image).

    Parameters
    ----------
    kernel : array_like
        A 1-D or 2-D kernel.
    rate : float, optional
        1-D only: the sample rate; the frequency axis is then in Hz, log scale (10 Hz or
        rate/2000 up to Nyquist), else in cycles/sample, linear (0 to 0.5).
    title : str, optional
        Drawn above the plot.
    size : tuple of int, optional
        ``(width, height)``; default 820x500 (1-D) or 620x560 (2-D).

    Returns
    -------
    PIL.Image.Image
        RGB.

    Raises
    ------
    ArgumentError
        A kernel with more than 2 axes.
    """
    w = _as_kernel(kernel)
    if w.ndim == 1:
        return _plot_1d(w, rate, title, size or (820, 500))
    if w.ndim == 2:
        return _plot_2d(w, title, size or (620, 560))
    raise ArgumentError(f"a response plot shows 1-D and 2-D kernels; this one is {w.ndim}-D")


def _plot_1d(w: FloatArray, rate: float | None, title: str, size: tuple[int, int]) -> Image.Image:
    from PIL import Image, ImageDraw

    width, height = size
    left, right, top, bottom = 78, 24, 44, 64
    pw, ph = width - left - right, height - top - bottom
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font, small = _font(14), _font(12)
    log_axis = rate is not None
    nyq = 0.5 if rate is None else rate / 2.0
    if log_axis:
        assert rate is not None
        fmin = 10.0 ** math.floor(math.log10(max(nyq / 2000.0, 1e-300)))
        fmin = max(fmin, 10.0) if nyq > 1000.0 else fmin
        xs = np.geomspace(fmin, nyq, pw)
        cycles = xs / rate

        def xpos(f: float) -> float:
            return left + pw * math.log(f / fmin) / math.log(nyq / fmin)

    else:
        xs = np.linspace(0.0, 0.5, pw)
        cycles = xs
        fmin = 0.0

        def xpos(f: float) -> float:
            return left + pw * f / 0.5

    db = magnitude_db(dtft(w, cycles), floor=-400.0)
    peak_db = float(db.max())
    top_db = 10.0 * math.ceil((peak_db + 1e-9) / 10.0)
    low_db = float(db.min())
    bottom_db = max(10.0 * math.floor(low_db / 10.0), top_db - 120.0)
    if top_db - bottom_db < 20.0:
        bottom_db = top_db - 20.0

    def ypos(v: float) -> float:
        v = min(max(v, bottom_db), top_db)
        return top + ph * (top_db - v) / (top_db - bottom_db)

    # grid and ticks
    step = _nice_step(top_db - bottom_db, 8)
    v = step * math.ceil(bottom_db / step - 1e-9)
    while v <= top_db + 1e-9:
        y = ypos(v)
        draw.line([(left, y), (left + pw, y)], fill=_GRID)
        draw.line([(left - 5, y), (left, y)], fill=_AXIS)
        draw.text((left - 8, y), f"{v:g}", fill=_INK, font=small, anchor="rm")
        v += step
    if log_axis:
        decade = fmin
        while decade <= nyq * 1.0001:
            for mult in range(1, 10):
                f = decade * mult
                if f > nyq * 1.0001:
                    break
                x = xpos(f)
                draw.line([(x, top), (x, top + ph)], fill=_GRID if mult > 1 else (200, 200, 200))
                if mult == 1:
                    draw.line([(x, top + ph), (x, top + ph + 5)], fill=_AXIS)
                    draw.text((x, top + ph + 8), _hz_label(f), fill=_INK, font=small, anchor="mt")
            decade *= 10.0
        xlabel = f"frequency (Hz, log scale; Nyquist {nyq:g} Hz)"
    else:
        for n in range(11):
            f = n * 0.05
            x = xpos(f)
            draw.line([(x, top), (x, top + ph)], fill=_GRID)
            draw.line([(x, top + ph), (x, top + ph + 5)], fill=_AXIS)
            draw.text((x, top + ph + 8), f"{f:.2f}", fill=_INK, font=small, anchor="mt")
        xlabel = "frequency (cycles/sample; 0.5 = Nyquist)"
    draw.rectangle((left, top, left + pw, top + ph), outline=_AXIS)
    # the -6 dB level below the peak, and where the curve meets it
    half = peak_db + HALF_DB
    if bottom_db < half < top_db:
        y = ypos(half)
        x = float(left)
        while x < left + pw:
            draw.line([(x, y), (min(x + 6, left + pw), y)], fill=_MARK)
            x += 12
        draw.text((left + pw - 4, y - 3), "-6 dB", fill=_MARK, font=small, anchor="rb")
    points = [(left + n, ypos(float(d))) for n, d in enumerate(db)]
    draw.line(points, fill=_CURVE, width=2)
    for f in level_crossings(w, HALF_DB)[:8]:
        fx = f * rate if rate is not None else f
        if fx < fmin or fx > nyq:
            continue
        x, y = xpos(fx), ypos(half)
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), outline=_MARK, width=2)
        draw.text(
            (x + 6, y + 4),
            _freq_text(f, rate).replace(" cycles/sample", ""),
            fill=_MARK,
            font=small,
            anchor="la",
        )
    draw.text((left + pw / 2, height - 22), xlabel, fill=_INK, font=font, anchor="mm")
    _vertical_text(img, (8, top + ph // 2), "magnitude (dB)", font)
    draw.text((left, 14), title, fill=_INK, font=font)
    return img


def _plot_2d(w: FloatArray, title: str, size: tuple[int, int]) -> Image.Image:
    from PIL import Image, ImageDraw

    width, height = size
    left, top, bottom = 78, 44, 70
    bar_w, gap = 18, 24
    side = min(width - left - gap - bar_w - 60, height - top - bottom)
    n = int(2 ** math.ceil(math.log2(max(256, 4 * max(w.shape)))))
    spectrum = np.fft.fftshift(np.abs(np.fft.fft2(w, (n, n))))
    db = magnitude_db(spectrum, floor=-400.0)
    top_db = 10.0 * math.ceil((float(db.max()) + 1e-9) / 10.0)
    bottom_db = max(10.0 * math.floor(float(db.min()) / 10.0), top_db - 80.0)
    if top_db - bottom_db < 20.0:
        bottom_db = top_db - 20.0
    norm = (db - bottom_db) / (top_db - bottom_db)
    # rows: row frequency from -0.5 (top) to just below 0.5; columns likewise
    heat = Image.fromarray(_colormap(norm), "RGB").resize((side, side), Image.Resampling.BILINEAR)
    img = Image.new("RGB", size, (255, 255, 255))
    img.paste(heat, (left, top))
    draw = ImageDraw.Draw(img)
    font, small = _font(14), _font(12)
    draw.rectangle((left - 1, top - 1, left + side, top + side), outline=_AXIS)

    def pos(f: float) -> float:
        return side * (f + 0.5) / 1.0

    for f in (-0.5, -0.25, 0.0, 0.25, 0.5):
        x = left + pos(f)
        y = top + pos(f)
        draw.line([(x, top + side), (x, top + side + 5)], fill=_AXIS)
        draw.text((x, top + side + 8), f"{f:g}", fill=_INK, font=small, anchor="mt")
        draw.line([(left - 5, y), (left, y)], fill=_AXIS)
        draw.text((left - 8, y), f"{f:g}", fill=_INK, font=small, anchor="rm")
    draw.text(
        (left + side / 2, top + side + 34),
        "column frequency (cycles/sample)",
        fill=_INK,
        font=font,
        anchor="mm",
    )
    _vertical_text(img, (8, top + side // 2), "row frequency (cycles/sample)", font)
    # colour bar
    bx = left + side + gap
    ramp = np.linspace(1.0, 0.0, side)[:, None] * np.ones((1, bar_w))
    img.paste(Image.fromarray(_colormap(ramp), "RGB"), (bx, top))
    draw.rectangle((bx - 1, top - 1, bx + bar_w, top + side), outline=_AXIS)
    step = _nice_step(top_db - bottom_db, 8)
    v = step * math.ceil(bottom_db / step - 1e-9)
    while v <= top_db + 1e-9:
        y = top + side * (top_db - v) / (top_db - bottom_db)
        draw.line([(bx + bar_w, y), (bx + bar_w + 4, y)], fill=_AXIS)
        draw.text((bx + bar_w + 7, y), f"{v:g}", fill=_INK, font=small, anchor="lm")
        v += step
    draw.text((bx + bar_w / 2, top + side + 8), "dB", fill=_INK, font=small, anchor="mt")
    draw.text((left, 14), title, fill=_INK, font=font)
    return img


def save_response(
    image: Image.Image, path: str | os.PathLike[str], *, overwrite: bool = False
) -> None:
    """Write a plot atomically (temporary name beside it, then renamed into place).

    The format follows the extension (any that Pillow writes: ``.png``, ``.jpg``, ...).

    Raises
    ------
    ArgumentError
        An extension Pillow cannot write.
    OutputExistsError
        The file exists and ``overwrite`` is false.
    """
    from convcli.io.drawings import save_picture

    save_picture(image, path, overwrite=overwrite)
