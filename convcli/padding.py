"""Pad modes: their names, their aliases, and :func:`pad`.

This is the only module that knows the names.  Each mode is defined as ``numpy.pad`` defines
it, for any pad size (pads larger than the input included)::

    zero       0 0 0 | a b c d | 0 0 0        numpy 'constant' (0)
    constant   v v v | a b c d | v v v        numpy 'constant' (value v)
    reflect    d c b | a b c d | c b a        numpy 'reflect'    (scipy 'mirror')
    symmetric  c b a | a b c d | d c b        numpy 'symmetric'  (scipy 'reflect')
    replicate  a a a | a b c d | d d d        numpy 'edge'       (scipy 'nearest')
    circular   b c d | a b c d | a b c        numpy 'wrap'

``mirror`` is refused: scipy.ndimage means ``reflect`` by it, ImageMagick and libvips mean
``symmetric``.

Examples
--------
>>> import numpy as np
>>> pad(np.array([1, 2, 3]), [(2, 2)], "reflect")
array([3, 2, 1, 2, 3, 2, 1])
>>> canonical_mode("edge")
'replicate'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convcli.errors import ArgumentError

__all__ = [
    "PAD_MODES",
    "ALIASES",
    "NUMPY_NAMES",
    "SCIPY_NAMES",
    "canonical_mode",
    "pad",
    "pad_window",
    "source_index",
]

PAD_MODES: tuple[str, ...] = ("zero", "constant", "reflect", "symmetric", "replicate", "circular")

ALIASES: dict[str, str] = {
    "zeros": "zero",
    "reflect101": "reflect",
    "edge": "replicate",
    "nearest": "replicate",
    "clamp": "replicate",
    "wrap": "circular",
}

NUMPY_NAMES: dict[str, str] = {
    "zero": "constant",
    "constant": "constant",
    "reflect": "reflect",
    "symmetric": "symmetric",
    "replicate": "edge",
    "circular": "wrap",
}

SCIPY_NAMES: dict[str, str] = {
    "zero": "constant",
    "constant": "constant",
    "reflect": "mirror",
    "symmetric": "reflect",
    "replicate": "nearest",
    "circular": "wrap",
}


def canonical_mode(mode: str) -> str:
    """Return the canonical name of a pad mode, resolving aliases.

    Parameters
    ----------
    mode : str
        A name or alias from the table in this module's docstring (case-insensitive).

    Returns
    -------
    str
        One of :data:`PAD_MODES`.

    Raises
    ------
    ArgumentError
        An unknown name, or ``mirror`` (ambiguous).

    Examples
    --------
    >>> canonical_mode("WRAP")
    'circular'
    """
    if not isinstance(mode, str):
        raise ArgumentError(f"pad_mode must be a string, got {mode!r}")
    name = mode.strip().lower().replace("-", "").replace("_", "")
    if name == "mirror":
        raise ArgumentError(
            "pad_mode 'mirror' is ambiguous: scipy.ndimage means 'reflect' (d c b | a b c d), "
            "ImageMagick and libvips mean 'symmetric' (c b a | a b c d); say which"
        )
    name = ALIASES.get(name, name)
    if name not in PAD_MODES:
        raise ArgumentError(
            f"pad_mode {mode!r} is not one of {', '.join(PAD_MODES)} "
            f"(aliases: {', '.join(sorted(ALIASES))})"
        )
    return name


def source_index(positions: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Map positions of the padded axis (``0 <= p < n`` is the input) to input indices.

    Defined for every mode but ``zero``/``constant``; equal to what ``numpy.pad`` reads, for
    any pad size.

    Examples
    --------
    >>> source_index(np.arange(-3, 7), 4, "reflect")
    array([3, 2, 1, 0, 1, 2, 3, 2, 1, 0])
    >>> source_index(np.arange(-3, 7), 4, "symmetric")
    array([2, 1, 0, 0, 1, 2, 3, 3, 2, 1])
    """
    m = np.asarray(positions, dtype=np.intp)
    if mode == "replicate":
        return np.clip(m, 0, n - 1)
    if mode == "circular":
        return np.mod(m, n)
    if mode == "reflect":
        if n == 1:
            return np.zeros_like(m)
        period = 2 * (n - 1)
        r = np.mod(m, period)
        return np.where(r > n - 1, period - r, r)
    if mode == "symmetric":
        period = 2 * n
        r = np.mod(m, period)
        return np.where(r >= n, period - 1 - r, r)
    raise ArgumentError(f"pad mode {mode!r} has no source index")


def pad_window(
    x: np.ndarray,
    bounds: Sequence[tuple[int, int]],
    mode: str,
    value: float = 0.0,
    *,
    dtype: np.dtype | type | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Return a window of the infinitely padded input.

    Along each axis ``bounds[ax] = (start, stop)`` selects positions ``start <= p < stop`` of
    the padded signal, where ``0 <= p < n`` is the input itself.  ``(-lo, n + hi)`` is
    ``numpy.pad`` with ``(lo, hi)``; a ``stop`` below ``n`` crops the input.

    Parameters
    ----------
    x : ndarray
        The input.
    bounds : sequence of (int, int)
        One ``(start, stop)`` per axis of ``x``.
    mode : str
        A pad mode or alias.
    value : float, optional
        The fill value of ``constant`` mode.
    dtype : dtype, optional
        The result's dtype (the input is converted while copying); default ``x.dtype``.
    out : ndarray, optional
        A C-contiguous array of the window's shape and ``dtype`` to write into.

    Returns
    -------
    ndarray
    """
    mode = canonical_mode(mode)
    if len(bounds) != x.ndim:
        raise ArgumentError(f"pad needs one (start, stop) per axis: {x.ndim}, got {len(bounds)}")
    dt = np.dtype(dtype) if dtype is not None else x.dtype
    shape = tuple(b - a for a, b in bounds)
    if any(s < 0 for s in shape):
        raise ArgumentError(f"empty pad window {tuple(bounds)}")
    if out is None:
        out = np.empty(shape, dtype=dt)
    elif out.shape != shape or out.dtype != dt:
        raise ArgumentError(f"out has shape {out.shape} {out.dtype}, expected {shape} {dt}")
    if out.size == 0:
        return out
    fill = 0.0 if mode == "zero" else value
    # Interior: the part of the window that lies inside the input, per axis.
    inner = [(max(a, 0), min(b, n)) for (a, b), n in zip(bounds, x.shape)]
    if mode in ("zero", "constant"):
        if all(lo < hi for lo, hi in inner):
            src = tuple(slice(lo, hi) for lo, hi in inner)
            dst = tuple(slice(lo - a, hi - a) for (lo, hi), (a, _) in zip(inner, bounds))
            out[dst] = x[src]
            for ax in range(x.ndim):
                (a, b), (lo, hi) = bounds[ax], inner[ax]
                pre = (slice(None),) * ax
                if lo - a > 0:
                    out[pre + (slice(0, lo - a),)] = fill
                if b - hi > 0:
                    out[pre + (slice(hi - a, b - a),)] = fill
        else:
            out[...] = fill
        return out
    # Index modes: every position maps to an input index, per axis (numpy.pad's result).
    maps = [source_index(np.arange(a, b), n, mode) for (a, b), n in zip(bounds, x.shape)]
    fast = all(
        lo < hi and int(m.min()) >= lo and int(m.max()) < hi for m, (lo, hi) in zip(maps, inner)
    )
    if not fast:
        # A window whose pads read outside its own interior: gather axis by axis.
        y = x
        for ax, m in enumerate(maps):
            y = np.take(y, m, axis=ax)
        out[...] = y
        return out
    src = tuple(slice(lo, hi) for lo, hi in inner)
    dst = tuple(slice(lo - a, hi - a) for (lo, hi), (a, _) in zip(inner, bounds))
    out[dst] = x[src]
    # Fill the pads axis by axis, reading the window's own interior: axes before `ax` are
    # already complete, so the corners come out as numpy.pad makes them.
    for ax in range(x.ndim):
        (a, b), (lo, hi) = bounds[ax], inner[ax]
        pre = (slice(None),) * ax
        post = tuple(
            slice(ilo - ba, ihi - ba)
            for (ilo, ihi), (ba, _) in zip(inner[ax + 1 :], bounds[ax + 1 :])
        )
        for p0, p1 in ((a, lo), (hi, b)):
            if p1 <= p0:
                continue
            rel = maps[ax][p0 - a : p1 - a] - a
            target = out[pre + (slice(p0 - a, p1 - a),) + post]
            view = out[pre + (slice(None),) + post]
            sl = _as_slice(rel)
            if sl is not None:
                # A contiguous run (all but very large pads): a plain slice, no gather.
                target[...] = view[pre + (sl,)]
            else:
                target[...] = np.take(view, rel, axis=ax)
    return out


def _as_slice(idx: np.ndarray) -> slice | None:
    """Return the slice equal to an index run with step +1 or -1, else None."""
    if len(idx) == 1:
        return slice(int(idx[0]), int(idx[0]) + 1)
    step = int(idx[1] - idx[0])
    if step not in (1, -1) or not np.all(np.diff(idx) == step):
        return None
    first, last = int(idx[0]), int(idx[-1])
    if step == 1:
        return slice(first, last + 1)
    return slice(first, last - 1 if last > 0 else None, -1)


def pad(
    x: np.ndarray,
    pads: Sequence[tuple[int, int]],
    mode: str = "zero",
    value: float = 0.0,
    *,
    dtype: np.dtype | type | None = None,
) -> np.ndarray:
    """Pad an array; the same result as ``numpy.pad`` with the mode's numpy name.

    Parameters
    ----------
    x : ndarray
        The input.
    pads : sequence of (int, int)
        ``(before, after)`` per axis of ``x``; any non-negative size, larger than the input
        included.
    mode : str, optional
        A pad mode or alias (see the module docstring).  Default ``zero``.
    value : float, optional
        The fill value for ``constant``.
    dtype : dtype, optional
        The result's dtype; default ``x.dtype``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> pad(np.array([[1, 2], [3, 4]]), [(1, 0), (0, 3)], "circular")
    array([[3, 4, 3, 4, 3],
           [1, 2, 1, 2, 1],
           [3, 4, 3, 4, 3]])
    """
    x = np.asarray(x)
    for lo, hi in pads:
        if lo < 0 or hi < 0:
            raise ArgumentError(f"pad sizes must be >= 0, got {tuple(pads)}")
    bounds = [(-lo, n + hi) for (lo, hi), n in zip(pads, x.shape)]
    return pad_window(x, bounds, mode, value, dtype=dtype)
