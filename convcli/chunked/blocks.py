"""Output blocks of a chunked convolution: which input samples each one reads, and the block.

Pure numpy (no dask): :mod:`convcli.chunked.graph` turns these plans into a dask graph.

Think in output space.  Along one axis of size ``n`` with effective kernel ``k'``, stride
``s`` and padding ``p_lo``, the outputs ``o0 <= o < o1`` read the padded positions
``o0*s ... (o1-1)*s + k' - 1``, that is the input positions

    w0 = o0*s - p_lo        up to        w1 = (o1-1)*s + k' - p_lo   (exclusive)

of the infinitely padded input.  Positions ``0 <= p < n`` are the input itself; the others
are what the pad mode makes of them, read from the *whole* array by
:func:`convcli.padding.source_index` (``circular`` from the far end, ``reflect`` and
``symmetric`` mirrored at the array's own edge, ``replicate`` its edge sample, for any pad
size), or the fill value (``zero``, ``constant``).  So a block needs a set of input indices
per axis, however many chunks they span (a halo deeper than a chunk, or the far side of the
array, is just more pieces): :func:`axis_window` lists the pieces of chunks that hold them,
and :func:`run_block` assembles exactly the padded window from those pieces and runs the
ordinary engine on it with no padding.  Every output sample sees the same values, at the
same taps, as in :func:`convcli.convolve` on the whole array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

from convcli.padding import source_index

__all__ = [
    "AxisSpec",
    "AxisWindow",
    "EngineCall",
    "axis_window",
    "assemble",
    "cut",
    "run_block",
]

_FILL_MODES = ("zero", "constant")


@dataclass(frozen=True)
class AxisSpec:
    """One axis of the whole computation, as the blocks see it.

    A channel axis is an axis with ``keff == stride == 1`` and no padding.

    Attributes
    ----------
    size : int
        Input size ``n``.
    keff : int
        Effective kernel size ``k' = d*(k-1) + 1``.
    stride : int
        Stride ``s``.
    pad_lo : int
        Padding before the input.
    """

    size: int
    keff: int
    stride: int
    pad_lo: int

    def window(self, o0: int, o1: int) -> tuple[int, int]:
        """Return the input positions ``[w0, w1)`` that outputs ``[o0, o1)`` read."""
        return o0 * self.stride - self.pad_lo, (o1 - 1) * self.stride + self.keff - self.pad_lo


@dataclass(frozen=True)
class AxisWindow:
    """What one output block reads along one axis.

    Attributes
    ----------
    pieces : tuple of (int, int, int)
        ``(chunk, start, stop)``: slices of input chunks along this axis; concatenated in
        order they are the *compact* run, the sorted distinct input indices the window reads.
    loc : slice or ndarray
        For each window position, its index in the compact run (a slice when the window is
        the compact run itself); ``-1`` marks a fill position (``zero``/``constant``).
    length : int
        Window length ``w1 - w0``.
    """

    pieces: tuple[tuple[int, int, int], ...]
    loc: slice | np.ndarray
    length: int

    @property
    def compact(self) -> int:
        """Length of the compact run."""
        return sum(b - a for _, a, b in self.pieces)

    @property
    def fills(self) -> bool:
        """Whether some window position is fill."""
        return isinstance(self.loc, np.ndarray) and bool(np.any(self.loc < 0))


def _runs(index: np.ndarray) -> list[tuple[int, int]]:
    """Split sorted distinct indices into runs ``[a, b)`` of consecutive values."""
    if index.size == 0:
        return []
    cut = np.flatnonzero(np.diff(index) != 1) + 1
    starts = np.concatenate(([0], cut))
    stops = np.concatenate((cut, [index.size]))
    return [(int(index[a]), int(index[b - 1]) + 1) for a, b in zip(starts, stops)]


def _pieces(runs: Sequence[tuple[int, int]], chunks: Sequence[int]) -> list[tuple[int, int, int]]:
    """Cut runs of input indices at chunk boundaries: ``(chunk, start, stop)`` within chunks."""
    bounds = np.cumsum([0, *chunks])
    out: list[tuple[int, int, int]] = []
    for a, b in runs:
        c = int(np.searchsorted(bounds, a, side="right")) - 1
        while a < b:
            c0, c1 = int(bounds[c]), int(bounds[c + 1])
            stop = min(b, c1)
            out.append((c, a - c0, stop - c0))
            a = stop
            c += 1
    return out


def axis_window(axis: AxisSpec, chunks: Sequence[int], o0: int, o1: int, mode: str) -> AxisWindow:
    """Plan what outputs ``[o0, o1)`` read along one axis.

    Parameters
    ----------
    axis : AxisSpec
        The axis's geometry.
    chunks : sequence of int
        The input's chunk sizes along the axis.
    o0, o1 : int
        The output block.
    mode : str
        Canonical pad mode.

    Returns
    -------
    AxisWindow

    Examples
    --------
    >>> g = AxisSpec(size=10, keff=5, stride=1, pad_lo=2)
    >>> w = axis_window(g, [4, 4, 2], 0, 4, "circular")   # wraps to the last chunk
    >>> w.pieces, w.loc
    (((0, 0, 4), (1, 0, 2), (2, 0, 2)), array([6, 7, 0, 1, 2, 3, 4, 5]))
    >>> axis_window(g, [1] * 10, 4, 6, "reflect").pieces  # a halo deeper than a chunk
    ((2, 0, 1), (3, 0, 1), (4, 0, 1), (5, 0, 1), (6, 0, 1), (7, 0, 1))
    """
    n = axis.size
    w0, w1 = axis.window(o0, o1)
    length = w1 - w0
    if 0 <= w0 and w1 <= n:  # inside the array: the window is its own compact run
        return AxisWindow(tuple(_pieces([(w0, w1)], chunks)), slice(0, length), length)
    pos = np.arange(w0, w1)
    if mode in _FILL_MODES:
        lo, hi = max(w0, 0), min(w1, n)
        runs = [(lo, hi)] if hi > lo else []
        loc = np.where((pos >= 0) & (pos < n), pos - lo, -1)
        return AxisWindow(tuple(_pieces(runs, chunks)), loc, length)
    idx = source_index(pos, n, mode)
    distinct = np.unique(idx)
    loc = np.searchsorted(distinct, idx)
    if distinct.size == length and np.array_equal(loc, np.arange(length)):
        return AxisWindow(tuple(_pieces(_runs(distinct), chunks)), slice(0, length), length)
    return AxisWindow(tuple(_pieces(_runs(distinct), chunks)), loc, length)


@dataclass(frozen=True)
class EngineCall:
    """The engine arguments every block shares (the kernel is already flipped if asked).

    Attributes
    ----------
    kernel : ndarray
        float64, one axis per spatial axis.
    stride, dilation : tuple of int
        Per spatial axis.
    method : str
        ``auto``, ``direct``, ``separable`` or ``fft``: ``auto`` picks per block.
    channel_axis : int or None
        The channel axis (non-negative).
    mode : str
        Canonical pad mode (the fill of ``zero``/``constant`` windows).
    value : float
        The fill value of ``constant``.
    dtype : numpy.dtype
        The compute dtype of the input (:func:`convcli.engine.compute_dtype`).
    """

    kernel: np.ndarray
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    method: str
    channel_axis: int | None
    mode: str
    value: float
    dtype: np.dtype


def assemble(
    parts: Sequence[np.ndarray],
    windows: Sequence[AxisWindow],
    fill: float,
    dtype: np.dtype,
    whole: Sequence[bool] | None = None,
) -> np.ndarray:
    """Build the padded window of one block from its input pieces.

    Parameters
    ----------
    parts : sequence of ndarray
        One array per combination of pieces (``itertools.product`` of each axis's
        ``pieces``, in order): the input chunk itself, or only the piece already cut from it.
    windows : sequence of AxisWindow
        One per axis.
    fill : float
        The value of fill positions.
    dtype : numpy.dtype
        The compute dtype, used when the window holds fill positions (the fill value may not
        be representable in the input's dtype).
    whole : sequence of bool, optional
        For each part, whether it is the whole chunk (to be cut here) rather than the piece;
        default: every part is a whole chunk.

    Returns
    -------
    ndarray
        The window: the input's dtype when it holds no fill, else ``dtype``.

    Examples
    --------
    >>> g = AxisSpec(size=5, keff=3, stride=1, pad_lo=1)
    >>> w = axis_window(g, [2, 3], 0, 2, "reflect")
    >>> w.pieces, w.loc
    (((0, 0, 2), (1, 0, 1)), array([1, 0, 1, 2]))
    >>> assemble([np.array([10, 11]), np.array([12, 13, 14])], [w], 0.0, np.dtype("f4"))
    array([11, 10, 11, 12])
    """
    shape = tuple(w.length for w in windows)
    fills = any(w.fills for w in windows)
    if any(w.compact == 0 for w in windows):  # nothing but padding
        return np.full(shape, fill, dtype=dtype)
    combos = list(product(*(range(len(w.pieces)) for w in windows)))
    whole = [True] * len(combos) if whole is None else list(whole)

    def piece(i: int) -> np.ndarray:
        if not whole[i]:
            return parts[i]
        return parts[i][
            tuple(slice(w.pieces[c][1], w.pieces[c][2]) for w, c in zip(windows, combos[i]))
        ]

    if len(combos) == 1 and not fills and all(isinstance(w.loc, slice) for w in windows):
        return piece(0)
    compact = np.empty(tuple(w.compact for w in windows), dtype=dtype if fills else parts[0].dtype)
    starts = [np.cumsum([0] + [b - a for _, a, b in w.pieces]) for w in windows]
    for i, combo in enumerate(combos):
        dst = tuple(slice(int(s[c]), int(s[c + 1])) for s, c in zip(starts, combo))
        compact[dst] = piece(i)
    out = compact
    for ax, w in enumerate(windows):
        if isinstance(w.loc, slice):
            continue
        out = np.take(out, np.maximum(w.loc, 0), axis=ax)
        mask = w.loc < 0
        if mask.any():
            out[(slice(None),) * ax + (mask,)] = fill
    return out


def cut(chunk: np.ndarray, bounds: Sequence[tuple[int, int]]) -> np.ndarray:
    """Return a copy of a piece of a chunk (a copy, so that the chunk itself can be freed).

    Examples
    --------
    >>> cut(np.arange(6).reshape(2, 3), [(0, 2), (2, 3)])
    array([[2],
           [5]])
    """
    return chunk[tuple(slice(a, b) for a, b in bounds)].copy()


def run_block(
    parts: Sequence[np.ndarray],
    windows: Sequence[AxisWindow],
    whole: Sequence[bool],
    call: EngineCall,
) -> np.ndarray:
    """Compute one output block: assemble its padded window, then run the engine unpadded.

    Parameters
    ----------
    parts : sequence of ndarray
        The input chunks, as :func:`assemble` takes them.
    windows : sequence of AxisWindow
        One per axis of the input (channel axis included).
    whole : sequence of bool
        For each part, whether it is a whole chunk or an already cut piece.
    call : EngineCall
        The shared engine arguments.

    Returns
    -------
    ndarray
        The block, in ``call.dtype``.
    """
    from convcli.engine import convolve

    fill = 0.0 if call.mode == "zero" else call.value
    window = assemble(parts, windows, fill, call.dtype, whole)
    nsp = call.kernel.ndim
    return convolve(
        window,
        call.kernel,
        stride=call.stride,
        padding=[(0, 0)] * nsp,
        dilation=call.dilation,
        method=call.method,
        channel_axis=call.channel_axis,
    )
