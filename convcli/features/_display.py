"""Feature maps made viewable: 8-bit grey or colour pictures, and peak-normalised audio.

Each map is scaled on its own, over all of its samples (a volume's every plane together):

- a **signed** map (negative and positive values) goes through the diverging colour map
  :data:`DIVERGING`, symmetric about zero: 0 is the middle colour (near-white), ``-m`` the
  blue end and ``+m`` the red end, with ``m`` the map's largest absolute value.  The colours
  are ColorBrewer's 11-class RdBu, reversed (negative blue, positive red, as matplotlib's
  ``RdBu_r``), linearly interpolated to 255 entries, entry ``127 + round(127 * v / m)``
  for a value ``v`` (entry 127, exactly the middle stop, for 0).  PNG files store the entry
  numbers with the table as their palette;
- a map of **one sign** (a ReLU's, an ``abs``'s, a blur's) is grey, its minimum black and
  its maximum white;
- a **flat** map (one value everywhere) is mid-grey (128).

NaN and Inf are drawn as 0 would be.  Audio maps are peak-normalised (the largest absolute
value becomes full scale) and written as 16-bit WAV.

Examples
--------
>>> display(np.array([[-2.0, 0.0, 2.0]]))
(array([[  0, 127, 254]], dtype=uint8), 'diverging')
>>> display(np.array([[1.0, 2.0, 3.0]]))
(array([[  0, 128, 255]], dtype=uint8), 'grey')
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "DIVERGING",
    "DIVERGING_NAME",
    "diverging_lut",
    "display",
    "display_range",
    "to_rgb",
    "waveform",
    "peak_normalise",
]

DIVERGING_NAME = "RdBu_r (ColorBrewer RdBu, reversed): negative blue, 0 near-white, positive red"

#: ColorBrewer RdBu (11 classes), reversed: from -max (dark blue) to +max (dark red).
DIVERGING: tuple[str, ...] = (
    "#053061",
    "#2166ac",
    "#4393c3",
    "#92c5de",
    "#d1e5f0",
    "#f7f7f7",
    "#fddbc7",
    "#f4a582",
    "#d6604d",
    "#b2182b",
    "#67001f",
)


@lru_cache(maxsize=1)
def diverging_lut() -> np.ndarray:
    """Return the 255-entry RGB table of :data:`DIVERGING` (entry 127 is zero).

    Examples
    --------
    >>> lut = diverging_lut()
    >>> lut.shape, lut[0].tolist(), lut[-1].tolist()
    ((255, 3), [5, 48, 97], [103, 0, 31])
    """
    stops = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in DIVERGING], float)
    where = np.linspace(0.0, 1.0, len(stops))
    t = np.linspace(0.0, 1.0, 255)
    lut = np.stack([np.interp(t, where, stops[:, ch]) for ch in range(3)], axis=1)
    table = np.rint(lut).astype(np.uint8)
    table.setflags(write=False)
    return table


def display_range(values: np.ndarray) -> tuple[str, float, float]:
    """Return how a map is drawn and the values at the two ends of its scale.

    Returns
    -------
    tuple
        ``("diverging", -m, m)``, ``("grey", lo, hi)`` or ``("flat", v, v)``; NaN and Inf
        are left out.

    Examples
    --------
    >>> display_range(np.array([-1.0, 3.0]))
    ('diverging', -3.0, 3.0)
    >>> display_range(np.array([0.0, 3.0, np.nan]))
    ('grey', 0.0, 3.0)
    """
    if values.size == 0:
        return ("flat", 0.0, 0.0)
    lo, hi = float(values.min()), float(values.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return ("flat", 0.0, 0.0)
        lo, hi = float(finite.min()), float(finite.max())
    if lo < 0.0 < hi:
        m = max(-lo, hi)
        return ("diverging", -m, m)
    if hi > lo:
        return ("grey", lo, hi)
    return ("flat", lo, hi)


def display(values: np.ndarray) -> tuple[np.ndarray, str]:
    """Make a map viewable: uint8 levels, scaled as described above.

    Parameters
    ----------
    values : ndarray
        One map, any number of axes.

    Returns
    -------
    tuple of (ndarray, str)
        The levels, of the map's shape, and how they are drawn: ``"diverging"`` (indices
        ``127 + round(127 * v / m)`` into :func:`diverging_lut`, a palette), ``"grey"``
        (``round(255 * (v - lo) / (hi - lo))``) or ``"flat"`` (128).  :func:`to_rgb` gives
        the colours.
    """
    how, lo, hi = display_range(values)
    if how == "flat":
        return np.full(values.shape, 128, np.uint8), how
    v = values
    if v.dtype.kind == "f" and not (np.isfinite(v.min()) and np.isfinite(v.max())):
        v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    if how == "diverging":
        t = v.astype(np.float32) * np.float32(127.0 / hi)
        t += np.float32(127.5)
        np.clip(t, 0.0, 254.5, out=t)
    else:
        t = v.astype(np.float32) - np.float32(lo)
        t *= np.float32(255.0 / (hi - lo))
        t += np.float32(0.5)
        np.clip(t, 0.0, 255.5, out=t)
    return t.astype(np.uint8), how


def to_rgb(levels: np.ndarray, how: str) -> np.ndarray:
    """Return the colours of :func:`display`'s levels: ``(..., 3)`` uint8.

    Examples
    --------
    >>> to_rgb(np.array([0, 127, 254], np.uint8), "diverging").tolist()
    [[5, 48, 97], [247, 247, 247], [103, 0, 31]]
    >>> to_rgb(np.array([7], np.uint8), "grey").tolist()
    [[7, 7, 7]]
    """
    if how == "diverging":
        return diverging_lut()[levels]
    return np.repeat(levels[..., None], 3, axis=-1)


def waveform(values: np.ndarray, width: int = 512, height: int = 64) -> np.ndarray:
    """Draw a 1-D map as a grey waveform picture: the min..max of each column's samples.

    The vertical scale is symmetric, ``[-m, m]`` with ``m`` the largest absolute value; the
    zero line is dark grey.

    Parameters
    ----------
    values : ndarray
        One 1-D map.
    width, height : int, optional
        The picture's size in pixels (``width`` is reduced for shorter maps).

    Returns
    -------
    ndarray
        uint8 ``(height, width)``: black background, light-grey waveform.

    Examples
    --------
    >>> waveform(np.sin(np.linspace(0, 6.3, 1000)), 100, 21).shape
    (21, 100)
    """
    v = np.nan_to_num(np.asarray(values, dtype=np.float64).reshape(-1))
    n = v.size
    width = max(1, min(width, n))
    edges = np.linspace(0, n, width + 1).astype(np.intp)
    lo = np.minimum.reduceat(v, edges[:-1])
    hi = np.maximum.reduceat(v, edges[:-1])
    peak = float(np.max(np.abs(v))) if n else 0.0
    pic = np.zeros((height, width), np.uint8)
    mid = (height - 1) / 2.0
    pic[int(round(mid)), :] = 70
    if peak > 0:
        top = np.rint(mid - hi / peak * mid).astype(np.intp)
        bottom = np.rint(mid - lo / peak * mid).astype(np.intp)
        rows = np.arange(height)[:, None]
        pic[(rows >= top[None, :]) & (rows <= bottom[None, :])] = 225
    return pic


def peak_normalise(values: np.ndarray, top: float = 32767.0 / 32768.0) -> np.ndarray:
    """Scale a map so that its largest absolute value is ``top`` (zero stays zero).

    Examples
    --------
    >>> peak_normalise(np.array([0.5, -0.25]), 1.0).tolist()
    [1.0, -0.5]
    """
    v = np.nan_to_num(np.asarray(values, dtype=np.float64))
    peak = float(np.max(np.abs(v))) if v.size else 0.0
    return v * (top / peak) if peak > 0 else v
