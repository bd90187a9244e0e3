"""Animations of convolution arithmetic, in the style of Dumoulin & Visin's figures.

One frame per output sample: the kernel sits on the padded input where that output sample
reads it (``o*s + j*d - p_lo`` per axis), and the output grid fills in.  Drawn with Pillow
only (imported when a frame is drawn); 1-D and 2-D geometries.

What a frame shows:

- the input (blue), with a thick outline around it;
- the padding, drawn per pad mode: ``zero`` dashed white cells, ``constant`` dashed beige
  cells holding the value, and ``reflect``/``symmetric``/``replicate``/``circular`` cells
  tinted per mode that show which input sample (``a b c`` in 1-D, ``row,column`` in 2-D)
  or value they copy;
- the kernel's taps (shaded; with dilation, the gaps between them stay unshaded inside a
  dashed outline of the kernel's extent ``k'``), with their weights when values are shown;
- ticks above (and left of) the input at every kernel position the stride visits, the current
  one filled; cells that no kernel position ever reads (the stride's remainder, or samples a
  stride larger than ``k'`` steps over) hatched;
- the output grid, filled up to the current sample;
- a caption: which input cells the output reads, or with values the dot product.

A transposed convolution is drawn as its equivalent direct convolution (Dumoulin & Visin,
relationship 14): ``s - 1`` zeros inserted between the inputs, padding ``k' - 1 - p`` (plus
``a`` at the end), stride 1, kernel flipped.

:meth:`Animation.frames` lists, per frame, the input cells the kernel covers: the drawing
reads them from there, so tests can check them against the formula.

Examples
--------
>>> anim = plan_animation((5, 5), (3, 3), stride=2, padding=1)
>>> len(anim.frames)
9
>>> anim.frames[4].output, anim.frames[4].cells[:3]
((1, 1), ((1, 1), (1, 2), (1, 3)))
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.errors import ArgumentError, Param
from convcli.explain.arithmetic import axis_names, relationship_for
from convcli.geometry import PaddingArg, resolve, resolve_transposed
from convcli.padding import canonical_mode, source_index

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "AxisLayout",
    "Frame",
    "Animation",
    "plan_animation",
    "output_kind",
    "save_animation",
    "DEFAULT_MAX_FRAMES",
]

DEFAULT_MAX_FRAMES = 400

# Solarized, as the conv_arithmetic figures use it.
BLUE = (38, 139, 210)
CYAN = (42, 161, 152)
VIOLET = (108, 113, 196)
MAGENTA = (211, 54, 130)
GREEN = (133, 153, 0)
YELLOW = (181, 137, 0)
BASE03 = (0, 43, 54)
BASE02 = (7, 54, 66)
BASE01 = (88, 110, 117)
BASE1 = (147, 161, 161)
BASE2 = (238, 232, 213)
WHITE = (255, 255, 255)

Colour = tuple[int, int, int]

_PAD_TINT: dict[str, Colour] = {
    "reflect": VIOLET,
    "symmetric": MAGENTA,
    "replicate": GREEN,
    "circular": YELLOW,
}

_PAD_DIAGRAM: dict[str, str] = {
    "zero": "0 0 | a b c d | 0 0",
    "constant": "v v | a b c d | v v",
    "reflect": "c b | a b c d | c b",
    "symmetric": "b a | a b c d | d c",
    "replicate": "a a | a b c d | d d",
    "circular": "c d | a b c d | a b",
}


def _blend(a: Colour, b: Colour, t: float) -> Colour:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


@dataclass(frozen=True)
class AxisLayout:
    """One drawn axis: the (stretched) input, its padding and the kernel positions.

    Positions are counted on the input's own axis: ``0 <= p < length`` is the input (with
    ``spacing - 1`` inserted zeros between samples for a transposed convolution), negative
    positions and positions from ``length`` on are padding.

    Attributes
    ----------
    size : int
        Input samples.
    kernel, stride, dilation : int
        Of the drawn convolution (stride 1 for a transposed one).
    pad_lo, pad_hi : int
        Padding drawn before and after; negative means that many input positions are cropped
        (a transposed convolution whose padding exceeds ``k' - 1``).
    output : int
        Output samples.
    spacing : int
        Distance between input samples: 1, or the stride of a transposed convolution.
    """

    size: int
    kernel: int
    stride: int
    dilation: int
    pad_lo: int
    pad_hi: int
    output: int
    spacing: int = 1

    @property
    def length(self) -> int:
        """The input's extent in positions: ``spacing*(size-1) + 1``."""
        return self.spacing * (self.size - 1) + 1

    @property
    def start(self) -> int:
        """The first drawn position."""
        return min(-self.pad_lo, 0)

    @property
    def stop(self) -> int:
        """One past the last drawn position."""
        return max(self.length + self.pad_hi, self.length)

    def taps(self, o: int) -> tuple[int, ...]:
        """Return the positions output ``o`` reads: ``o*s + j*d - p_lo`` for each tap ``j``.

        Examples
        --------
        >>> AxisLayout(5, 3, 2, 1, 1, 1, 3).taps(2)
        (3, 4, 5)
        """
        return tuple(o * self.stride + j * self.dilation - self.pad_lo for j in range(self.kernel))

    def read(self) -> frozenset[int]:
        """Return every position some kernel placement reads."""
        return frozenset(p for o in range(self.output) for p in self.taps(o))

    def sample(self, pos: int) -> int | None:
        """Return the input sample at ``pos``, or None (padding, or an inserted zero)."""
        if 0 <= pos < self.length and pos % self.spacing == 0:
            return pos // self.spacing
        return None


@dataclass(frozen=True)
class Frame:
    """One frame: one output sample and the input cells its kernel placement covers.

    Attributes
    ----------
    output : tuple of int
        The output sample's index (one entry per axis).
    cells : tuple of tuple of int
        The positions the taps read, in kernel order (row-major): ``o*s + j*d - p_lo`` per
        axis, on the input's own axis (negative: padding before).
    sources : tuple
        Per cell, the input sample whose value it holds (after the pad mode's mapping), or
        None (zero or constant padding, an inserted zero).
    value : float or None
        The output sample's value, when the animation has values.
    terms : tuple of (float, float)
        Per tap, ``(weight, input value)``, when the animation has values.
    """

    output: tuple[int, ...]
    cells: tuple[tuple[int, ...], ...]
    sources: tuple[tuple[int, ...] | None, ...]
    value: float | None = None
    terms: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Animation:
    """A planned animation: the geometry, the frames and (optionally) the values.

    Build one with :func:`plan_animation`; draw frames with :meth:`render`, write them with
    :func:`save_animation`.
    """

    layouts: tuple[AxisLayout, ...]
    frames: tuple[Frame, ...]
    transposed: bool
    pad_mode: str
    pad_value: float
    title: str
    x: np.ndarray | None = None
    w: np.ndarray | None = None

    @property
    def ndim(self) -> int:
        """1 or 2."""
        return len(self.layouts)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The output's shape (the frame count is its product)."""
        return tuple(a.output for a in self.layouts)

    def render(self, index: int, cell: int | None = None) -> Image.Image:
        """Draw frame ``index`` (an RGB image; every frame has the same size)."""
        return _Renderer(self, cell).frame(index)

    def images(self, cell: int | None = None) -> Iterator[Image.Image]:
        """Draw every frame in turn."""
        renderer = _Renderer(self, cell)
        for n in range(len(self.frames)):
            yield renderer.frame(n)

    def size(self, cell: int | None = None) -> tuple[int, int]:
        """Return the frames' ``(width, height)`` in pixels."""
        return _Renderer(self, cell).size


def _values(shape: Sequence[int], given: Any, name: str) -> np.ndarray | None:
    if given is None:
        return None
    arr = np.asarray(given, dtype=np.float64)
    if arr.shape != tuple(shape):
        raise ArgumentError(
            f"{name} values have shape {arr.shape}, but the {name} is {tuple(shape)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(f"{name} values must be finite numbers")
    return arr


def plan_animation(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    dilation: int | Sequence[int] = 1,
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    x: Any = None,
    w: Any = None,
    seed: int | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> Animation:
    """Plan the frames of an animation: one per output sample, in row-major order.

    Parameters
    ----------
    input_shape, kernel_shape : sequence of int
        One or two axes.
    stride, padding, dilation
        As for :func:`convcli.convolve` (for ``transposed``, those of the convolution being
        transposed, as :func:`convcli.geometry.resolve_transposed` takes them).
    transposed : bool, optional
        Animate the transposed convolution, as its equivalent direct convolution.
    output_padding : int or sequence of int, optional
        Transposed only: ``a``.
    pad_mode : str, optional
        A pad mode (``zero`` only for ``transposed``: its equivalent convolution pads zeros).
    pad_value : float, optional
        For ``constant``.
    x, w : array_like, optional
        The input's and the kernel's values (shapes ``input_shape``, ``kernel_shape``).
    seed : int, optional
        Fill whichever of ``x`` and ``w`` is not given with seeded random integers (input
        0-3, kernel 0-2, as in the paper's figures; seed 0 when only one of them is given).
        Without ``seed``, ``x`` or ``w``, the frames show positions, not values.
    max_frames : int, optional
        Refuse geometries with more output samples than this.

    Returns
    -------
    Animation

    Raises
    ------
    ArgumentError
        Not 1-D or 2-D, a pad mode with ``transposed``, too many frames, values of the wrong
        shape, or anything :func:`convcli.geometry.resolve` refuses.

    Examples
    --------
    >>> anim = plan_animation((4,), (3,), padding=0, seed=1)
    >>> [f.cells for f in anim.frames]
    [((0,), (1,), (2,)), ((1,), (2,), (3,))]
    >>> anim.frames[0].value == sum(w * v for w, v in anim.frames[0].terms)
    True
    """
    ndim = len(kernel_shape)
    if ndim not in (1, 2) or len(input_shape) != ndim:
        raise ArgumentError(
            f"animate draws 1-D and 2-D geometries; got a {len(input_shape)}-D input and a "
            f"{ndim}-D kernel"
        )
    mode = canonical_mode(pad_mode)
    if transposed and mode != "zero":
        raise ArgumentError(
            f"pad mode {mode!r} does not apply to a transposed convolution: its equivalent "
            "convolution pads (and inserts) zeros"
        )
    layouts: tuple[AxisLayout, ...]
    if transposed:
        taxes = resolve_transposed(
            input_shape,
            kernel_shape,
            stride=stride,
            padding=padding,
            dilation=dilation,
            output_padding=output_padding,
        )
        layouts = tuple(
            AxisLayout(
                a.size,
                a.kernel,
                1,
                a.dilation,
                a.effective_kernel - 1 - a.pad_lo,
                a.effective_kernel - 1 - a.pad_hi + a.output_padding,
                a.output,
                a.stride,
            )
            for a in taxes
        )
        rels = sorted({relationship_for(a).number for a in taxes})
        title = (
            f"transposed: input {_x(a.size for a in taxes)}, kernel {_x(a.kernel for a in taxes)}"
            f", stride {_x(a.stride for a in taxes)}, padding "
            f"{_pads((a.pad_lo, a.pad_hi) for a in taxes)}, a {_x(a.output_padding for a in taxes)}"
            f", dilation {_x(a.dilation for a in taxes)} -> output {_x(a.output for a in taxes)}"
        )
    else:
        axes = resolve(input_shape, kernel_shape, stride=stride, padding=padding, dilation=dilation)
        layouts = tuple(
            AxisLayout(a.size, a.kernel, a.stride, a.dilation, a.pad_lo, a.pad_hi, a.output)
            for a in axes
        )
        rels = sorted({relationship_for(a).number for a in axes})
        title = (
            f"input {_x(a.size for a in axes)}, kernel {_x(a.kernel for a in axes)}, stride "
            f"{_x(a.stride for a in axes)}, padding {_pads((a.pad_lo, a.pad_hi) for a in axes)}"
            f", dilation {_x(a.dilation for a in axes)} -> output {_x(a.output for a in axes)}"
        )
    word = "relationship" if len(rels) == 1 else "relationships"
    title += f" ({word} {', '.join(map(str, rels))})"
    count = math.prod(a.output for a in layouts)
    if count > max_frames:
        param = Param("max_frames")
        raise ArgumentError(
            f"the output has {count} samples, so the animation would have {count} frames; the "
            f"limit is {max_frames} (raise it with {param}, or animate a smaller geometry)",
            params=[param],
        )
    kshape = tuple(a.kernel for a in layouts)
    ishape = tuple(a.size for a in layouts)
    xv = _values(ishape, x, "input")
    wv = _values(kshape, w, "kernel")
    if seed is not None or xv is not None or wv is not None:
        # One generator, input first: the same seed gives the same pictures.
        rng = np.random.default_rng(0 if seed is None else seed)
        xr = rng.integers(0, 4, size=ishape).astype(np.float64)
        wr = rng.integers(0, 3, size=kshape).astype(np.float64)
        xv = xr if xv is None else xv
        wv = wr if wv is None else wv
    drawn_w = None if wv is None else (wv[(slice(None, None, -1),) * ndim] if transposed else wv)
    frames = _plan_frames(layouts, mode, float(pad_value), transposed, xv, drawn_w)
    return Animation(layouts, frames, transposed, mode, float(pad_value), title, xv, drawn_w)


def _x(values: Any) -> str:
    return "x".join(str(v) for v in values)


def _pads(pairs: Any) -> str:
    pairs = list(pairs)
    if all(lo == hi for lo, hi in pairs) and len({lo for lo, _ in pairs}) == 1:
        return str(pairs[0][0])
    return ",".join(f"{lo}:{hi}" for lo, hi in pairs)


def _source_maps(
    layouts: Sequence[AxisLayout], mode: str, transposed: bool
) -> list[dict[int, int | None]]:
    """Per axis, position -> input sample it holds (None: zero/constant/inserted zero)."""
    maps: list[dict[int, int | None]] = []
    for lay in layouts:
        positions = range(lay.start, lay.stop)
        if transposed or mode in ("zero", "constant"):
            maps.append({p: lay.sample(p) for p in positions})
        else:
            src = source_index(np.arange(lay.start, lay.stop), lay.size, mode)
            maps.append({p: int(s) for p, s in zip(positions, src)})
    return maps


def _plan_frames(
    layouts: Sequence[AxisLayout],
    mode: str,
    pad_value: float,
    transposed: bool,
    x: np.ndarray | None,
    w: np.ndarray | None,
) -> tuple[Frame, ...]:
    maps = _source_maps(layouts, mode, transposed)
    fill = pad_value if mode == "constant" else 0.0
    frames = []
    for out in np.ndindex(*(a.output for a in layouts)):
        per_axis = [lay.taps(o) for lay, o in zip(layouts, out)]
        cells: list[tuple[int, ...]] = []
        sources: list[tuple[int, ...] | None] = []
        terms: list[tuple[float, float]] = []
        for j in np.ndindex(*(a.kernel for a in layouts)):
            cell = tuple(per_axis[ax][jj] for ax, jj in enumerate(j))
            src = [maps[ax].get(p) for ax, p in enumerate(cell)]
            source = (
                None if any(s is None for s in src) else tuple(int(s) for s in src if s is not None)
            )
            cells.append(cell)
            sources.append(source)
            if x is not None and w is not None:
                value = float(x[source]) if source is not None else fill
                terms.append((float(w[j]), value))
        total = math.fsum(a * b for a, b in terms) if terms else None
        frames.append(
            Frame(tuple(int(o) for o in out), tuple(cells), tuple(sources), total, tuple(terms))
        )
    return tuple(frames)


def _fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}"


def _letter(n: int, size: int) -> str:
    return chr(ord("a") + n) if size <= 26 else str(n)


class _Renderer:
    """Draws the frames of one animation (every frame the same size)."""

    MARGIN = 16

    def __init__(self, anim: Animation, cell: int | None) -> None:
        from PIL import ImageFont

        self.anim = anim
        lays = list(anim.layouts)
        if anim.ndim == 1:
            lays = [AxisLayout(1, 1, 1, 1, 0, 0, 1), lays[0]]
        self.lays = lays
        self.rows = range(lays[0].start, lays[0].stop)
        self.cols = range(lays[1].start, lays[1].stop)
        self.vertical = anim.ndim == 1
        if cell is None:
            if self.vertical:
                cell = 900 // max(len(self.cols), 1)
            else:
                wide = len(self.cols) + lays[1].output + 1
                tall = max(len(self.rows), lays[0].output)
                cell = min(900 // wide, 560 // tall)
            cell = max(10, min(44, cell))
        self.cell = cell
        self.text = cell >= 18
        self.font = _font(ImageFont, max(10, round(cell * 0.42)))
        self.small = _font(ImageFont, max(8, round(cell * 0.27)))
        self.label = _font(ImageFont, 13)
        self.read = [frozenset(lay.read()) for lay in lays]
        self.maps = _source_maps(lays, anim.pad_mode, anim.transposed)
        self.captions = [self._caption(f) for f in anim.frames]
        self._layout()

    # -- geometry of the picture ---------------------------------------------------------
    def _layout(self) -> None:
        c, m = self.cell, self.MARGIN
        line = self._text_height(self.label) + 6
        tick = 10
        in_w, in_h = len(self.cols) * c, len(self.rows) * c
        out_w, out_h = self.lays[1].output * c, self.lays[0].output * c
        top = m + 2 * line  # title + panel label
        if self.vertical:
            self.in_xy = (m, top + tick)
            self.out_xy = (m, self.in_xy[1] + in_h + line + 8)
            grids_w = max(in_w, out_w)
            bottom = self.out_xy[1] + out_h
        else:
            self.in_xy = (m + tick, top + tick)
            self.out_xy = (self.in_xy[0] + in_w + 3 * c // 2 + 24, self.in_xy[1])
            grids_w = self.out_xy[0] - m + out_w
            bottom = self.in_xy[1] + max(in_h, out_h)
        legend = self._legend_items()
        probe = _probe_draw()
        widths = [probe.textlength(t, font=self.label) for t in self.captions]
        widths.append(probe.textlength(self.anim.title, font=self.label))
        legend_w = sum(probe.textlength(t, font=self.label) + 30 for _, _, t in legend)
        width = int(max(grids_w, min(max(widths), 1400), min(legend_w, 1400))) + 2 * m
        self.caption_y = bottom + 12
        self.legend_y = self.caption_y + line + 4
        self.legend_rows = self._wrap_legend(legend, width - 2 * m)
        height = self.legend_y + len(self.legend_rows) * line + m
        self.size = (width, height)
        self.line = line

    def _text_height(self, font: Any) -> int:
        box = _probe_draw().textbbox((0, 0), "Ag", font=font)
        return int(box[3] - box[1])

    def _legend_items(self) -> list[tuple[str, Colour, str]]:
        mode = self.anim.pad_mode
        items = [("solid", BLUE, "input")]
        padded = any(lay.pad_lo > 0 or lay.pad_hi > 0 for lay in self.lays)
        if self.anim.transposed:
            items.append(("dashed", WHITE, "zeros: inserted (stride) and padding"))
        elif padded:
            fill = self._pad_fill()
            style = "dashed" if mode in ("zero", "constant") else "solid"
            text = f"padding: {mode} ({_PAD_DIAGRAM[mode]})"
            if mode == "constant":
                text = f"padding: constant {_fmt(self.anim.pad_value)} ({_PAD_DIAGRAM[mode]})"
            items.append((style, fill, text))
        taps = "kernel taps (flipped)" if self.anim.transposed else "kernel taps"
        items.append(("solid", _blend(BLUE, BASE02, 0.55), taps))
        if any(self._never_read(r, c) for r in self.rows for c in self.cols):
            items.append(("hatch", WHITE, "never read"))
        items.append(("solid", CYAN, "output"))
        return items

    def _wrap_legend(
        self, items: list[tuple[str, Colour, str]], width: int
    ) -> list[list[tuple[str, Colour, str]]]:
        probe = _probe_draw()
        rows: list[list[tuple[str, Colour, str]]] = [[]]
        used = 0.0
        for item in items:
            need = probe.textlength(item[2], font=self.label) + 30
            if rows[-1] and used + need > width:
                rows.append([])
                used = 0.0
            rows[-1].append(item)
            used += need
        return rows

    def _pad_fill(self) -> Colour:
        mode = self.anim.pad_mode
        if mode == "zero":
            return WHITE
        if mode == "constant":
            return BASE2
        return _blend(_PAD_TINT[mode], WHITE, 0.6)

    def _never_read(self, r: int, c: int) -> bool:
        return r not in self.read[0] or c not in self.read[1]

    # -- captions ---------------------------------------------------------------------
    def _positions(self, taps: Sequence[int]) -> str:
        if len(taps) <= 5:
            return ", ".join(map(str, taps))
        return f"{taps[0]}, {taps[1]}, ..., {taps[-1]}"

    def _caption(self, frame: Frame) -> str:
        idx = ", ".join(map(str, frame.output))
        if frame.value is not None:
            shown = frame.terms if len(frame.terms) <= 12 else frame.terms[:10]
            text = ""
            for n, (a, b) in enumerate(shown):
                sign = ("-" if a < 0 else "") if n == 0 else (" - " if a < 0 else " + ")
                text += f"{sign}{_fmt(abs(a))}\u00b7{_fmt(b)}"
            if len(shown) < len(frame.terms):
                text += f" + ... ({len(frame.terms)} taps)"
            return f"y[{idx}] = {text} = {_fmt(frame.value)}"
        lays = self.anim.layouts
        names = axis_names(len(lays))
        parts = []
        for ax, (lay, o) in enumerate(zip(lays, frame.output)):
            word = "positions" if len(lays) == 1 else f"{names[ax]}s"
            parts.append(f"{word} {self._positions(lay.taps(o))}")
        what = "the stretched input" if self.anim.transposed else "x"
        return f"y[{idx}] reads {what} at {' x '.join(parts)}  (o*s + j*d - p_lo)"

    # -- drawing ----------------------------------------------------------------------
    def frame(self, index: int) -> Image.Image:
        from PIL import Image, ImageDraw

        anim = self.anim
        frame = anim.frames[index]
        img = Image.new("RGB", self.size, WHITE)
        draw = ImageDraw.Draw(img)
        m = self.MARGIN
        draw.text((m, m), anim.title, fill=BASE02, font=self.label)
        label_y = m + self.line
        in_label = "input (stretched, padded)" if anim.transposed else "input (padded)"
        draw.text((self.in_xy[0], label_y), in_label, fill=BASE02, font=self.label)
        out_label_xy = (
            self.out_xy[0],
            label_y if not self.vertical else self.out_xy[1] - self.line,
        )
        draw.text(out_label_xy, "output", fill=BASE02, font=self.label)

        cells: list[tuple[int, int]] = [
            (p[0], p[1]) if anim.ndim == 2 else (0, p[0]) for p in frame.cells
        ]
        weights = dict(zip(cells, (t[0] for t in frame.terms)))
        taps = set(cells)
        for r in self.rows:
            for col in self.cols:
                self._input_cell(draw, r, col, (r, col) in taps, weights.get((r, col)))
        self._outline_input(draw)
        self._kernel_outline(draw, cells)
        self._ticks(draw, frame)
        self._output(draw, index)
        draw.text((m, self.caption_y), self.captions[index], fill=BASE02, font=self.label)
        self._legend(draw)
        return img

    def _box(self, r: int, col: int) -> tuple[int, int, int, int]:
        c = self.cell
        x0 = self.in_xy[0] + (col - self.cols.start) * c
        y0 = self.in_xy[1] + (r - self.rows.start) * c
        return (x0, y0, x0 + c, y0 + c)

    def _input_cell(
        self, draw: ImageDraw.ImageDraw, r: int, col: int, tap: bool, weight: float | None
    ) -> None:
        anim = self.anim
        box = self._box(r, col)
        inside = [
            lay.start <= p < lay.stop and 0 <= p < lay.length for lay, p in zip(self.lays, (r, col))
        ]
        src0, src1 = self.maps[0].get(r), self.maps[1].get(col)
        real = all(inside) and src0 is not None and src1 is not None
        hole = all(inside) and not real  # an inserted zero (transposed)
        if real:
            fill, dashed, ink = BLUE, False, WHITE
        elif hole or anim.transposed or anim.pad_mode in ("zero", "constant"):
            fill = BASE2 if (anim.pad_mode == "constant" and not hole) else WHITE
            dashed, ink = True, BASE02
        else:
            fill, dashed, ink = (
                self._pad_fill(),
                False,
                _blend(_PAD_TINT[anim.pad_mode], BASE03, 0.45),
            )
        if tap:
            fill = _blend(fill, BASE02, 0.55)
            ink = WHITE
        draw.rectangle(box, fill=fill)
        if dashed:
            _dashed_rect(draw, box, BASE1)
        else:
            draw.rectangle(box, outline=BASE03 if real else BASE1, width=1)
        if self._never_read(r, col):
            _hatch(draw, box, BASE1)
        if tap:
            draw.rectangle(box, outline=BASE03, width=max(2, self.cell // 14))
        if not self.text:
            return
        x0, y0, x1, y1 = box
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        source = None if (src0 is None or src1 is None) else (src0, src1)
        main, corner = self._cell_texts(r, col, real, hole, source)
        if main:
            draw.text(centre, main, fill=ink, font=self.font, anchor="mm")
        if corner:
            draw.text((x0 + 3, y0 + 2), corner, fill=ink, font=self.small, anchor="la")
        if weight is not None:
            draw.text((x1 - 3, y1 - 2), _fmt(weight), fill=WHITE, font=self.small, anchor="rd")

    def _cell_texts(
        self, r: int, col: int, real: bool, hole: bool, source: tuple[int, int] | None
    ) -> tuple[str, str]:
        anim = self.anim
        x = anim.x
        one = anim.ndim == 1
        size = anim.layouts[-1].size

        def name(src: tuple[int, int]) -> str:
            return _letter(src[1], size) if one else f"{src[0]},{src[1]}"

        if x is not None:
            if source is not None:
                value = _fmt(float(x[source[1]] if one else x[source]))
                return value, ("" if real else name(source))
            if anim.pad_mode == "constant" and not hole and not anim.transposed:
                return _fmt(anim.pad_value), ""
            return "0", ""
        if source is not None:
            return name(source), ""
        if anim.pad_mode == "constant" and not hole and not anim.transposed:
            return _fmt(anim.pad_value), ""
        return ("0" if hole else ""), ""

    def _outline_input(self, draw: ImageDraw.ImageDraw) -> None:
        r0, r1 = max(0, self.rows.start), min(self.lays[0].length, self.rows.stop)
        c0, c1 = max(0, self.cols.start), min(self.lays[1].length, self.cols.stop)
        if r1 <= r0 or c1 <= c0:
            return
        a, b = self._box(r0, c0), self._box(r1 - 1, c1 - 1)
        draw.rectangle((a[0], a[1], b[2], b[3]), outline=BASE03, width=3)

    def _kernel_outline(self, draw: ImageDraw.ImageDraw, cells: Sequence[tuple[int, int]]) -> None:
        if all(lay.dilation == 1 for lay in self.lays):
            return
        a = self._box(min(r for r, _ in cells), min(col for _, col in cells))
        b = self._box(max(r for r, _ in cells), max(col for _, col in cells))
        _dashed_rect(draw, (a[0] - 1, a[1] - 1, b[2] + 1, b[3] + 1), BASE03, width=2)

    def _ticks(self, draw: ImageDraw.ImageDraw, frame: Frame) -> None:
        out = frame.output if self.anim.ndim == 2 else (0, frame.output[0])
        for ax, lay in enumerate(self.lays):
            if ax == 0 and self.vertical:
                continue
            for o in range(lay.output):
                p = lay.taps(o)[0]
                current = o == out[ax]
                tri: list[tuple[float, float]]
                if ax == 1:
                    box = self._box(self.rows.start, p)
                    cx, y = (box[0] + box[2]) / 2, box[1] - 3.0
                    tri = [(cx - 4, y - 7), (cx + 4, y - 7), (cx, y)]
                else:
                    box = self._box(p, self.cols.start)
                    cy, x = (box[1] + box[3]) / 2, box[0] - 3.0
                    tri = [(x - 7, cy - 4), (x - 7, cy + 4), (x, cy)]
                draw.polygon(tri, fill=BASE02 if current else WHITE, outline=BASE02)

    def _output(self, draw: ImageDraw.ImageDraw, index: int) -> None:
        c = self.cell
        anim = self.anim
        for n, frame in enumerate(anim.frames):
            r, col = (0, frame.output[0]) if anim.ndim == 1 else frame.output
            x0 = self.out_xy[0] + col * c
            y0 = self.out_xy[1] + r * c
            box = (x0, y0, x0 + c, y0 + c)
            if n < index:
                draw.rectangle(box, fill=CYAN, outline=BASE03)
            elif n == index:
                draw.rectangle(box, fill=_blend(CYAN, BASE02, 0.35), outline=BASE03)
                draw.rectangle(box, outline=BASE03, width=max(2, c // 14))
            else:
                draw.rectangle(box, fill=WHITE, outline=BASE1)
            if self.text and n <= index and frame.value is not None:
                centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
                draw.text(centre, _fmt(frame.value), fill=WHITE, font=self.font, anchor="mm")

    def _legend(self, draw: ImageDraw.ImageDraw) -> None:
        y = self.legend_y
        for row in self.legend_rows:
            x = float(self.MARGIN)
            for style, fill, text in row:
                box = (int(x), y + 1, int(x) + 14, y + 15)
                draw.rectangle(box, fill=fill)
                if style == "dashed":
                    _dashed_rect(draw, box, BASE01, dash=3)
                elif style == "hatch":
                    draw.rectangle(box, outline=BASE1)
                    _hatch(draw, box, BASE01)
                else:
                    draw.rectangle(box, outline=BASE03)
                draw.text((x + 20, y), text, fill=BASE02, font=self.label)
                x += draw.textlength(text, font=self.label) + 30
            y += self.line


def _font(module: Any, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        font: Any = module.load_default(size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the bitmap font
        font = module.load_default()
    return font


def _probe_draw() -> ImageDraw.ImageDraw:
    from PIL import Image, ImageDraw

    return ImageDraw.Draw(Image.new("RGB", (1, 1)))


def _dashed_rect(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    colour: Colour,
    dash: int = 4,
    width: int = 1,
) -> None:
    x0, y0, x1, y1 = box
    for a, b, horizontal, fixed in (
        (x0, x1, True, y0),
        (x0, x1, True, y1),
        (y0, y1, False, x0),
        (y0, y1, False, x1),
    ):
        t = a
        while t < b:
            e = min(t + dash, b)
            if horizontal:
                draw.line([(t, fixed), (e, fixed)], fill=colour, width=width)
            else:
                draw.line([(fixed, t), (fixed, e)], fill=colour, width=width)
            t += 2 * dash


def _hatch(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour: Colour) -> None:
    x0, y0, x1, y1 = box
    size = x1 - x0
    step = max(4, size // 5)
    for k in range(step, 2 * size, step):
        # the segment of the line x + y = x0 + y0 + k inside the box
        ax, ay = x0 + max(0, k - size), y0 + min(k, size)
        bx, by = x0 + min(k, size), y0 + max(0, k - size)
        draw.line([(ax, ay), (bx, by)], fill=colour, width=1)


def output_kind(path: str | os.PathLike[str]) -> str:
    """Tell what an animation output path asks for: ``gif``, ``apng`` or ``folder``.

    A path ending in ``.gif`` is a GIF, ``.png`` or ``.apng`` an animated PNG; an existing
    folder, a path ending in a separator, or a path without an extension is a folder of
    numbered PNG frames.

    Examples
    --------
    >>> output_kind("anim.gif"), output_kind("anim.png"), output_kind("frames/")
    ('gif', 'apng', 'folder')
    """
    text = os.fspath(path)
    p = Path(text)
    if text.endswith(("/", os.sep)) or p.is_dir():
        return "folder"
    suffix = p.suffix.lower()
    if suffix == ".gif":
        return "gif"
    if suffix in (".png", ".apng"):
        return "apng"
    if suffix == "":
        return "folder"
    raise ArgumentError(
        f"output {text!r}: the extension {suffix!r} is not .gif (GIF) or .png (animated PNG); "
        "give a folder path for numbered PNG frames"
    )


def save_animation(
    anim: Animation,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    duration: int = 600,
    cell: int | None = None,
) -> tuple[str, int, tuple[int, int]]:
    """Write an animation: a GIF, an animated PNG, or a folder of numbered PNG frames.

    Written to a temporary name beside the target and renamed into place; an existing output
    is replaced only with ``overwrite``.  In a GIF or APNG every frame shows for ``duration``
    milliseconds, the last for three times as long, and the animation loops.

    Parameters
    ----------
    anim : Animation
        From :func:`plan_animation`.
    path : str or os.PathLike
        See :func:`output_kind`.
    overwrite : bool, optional
        Replace an existing output.
    duration : int, optional
        Milliseconds per frame.
    cell : int, optional
        Cell size in pixels (default: from the grid size, 10 to 44).

    Returns
    -------
    kind : str
        ``gif``, ``apng`` or ``folder``.
    frames : int
        Frames written.
    size : tuple of int
        ``(width, height)`` of every frame.

    Raises
    ------
    OutputExistsError
        The output exists and ``overwrite`` is false.
    SignalWriteError
        The output's folder does not exist or cannot be written.
    """
    from convcli.io.atomic import check_output
    from convcli.io.drawings import save_animation, save_pictures

    kind = output_kind(path)
    target = Path(os.fspath(path).rstrip("/" + os.sep) or ".")
    check_output(target, overwrite=overwrite, folder=kind == "folder")
    renderer = _Renderer(anim, cell)
    count = len(anim.frames)
    if kind == "folder":
        digits = max(3, len(str(count)))
        frames = ((f"frame-{n + 1:0{digits}d}.png", renderer.frame(n)) for n in range(count))
        save_pictures(frames, target, overwrite=overwrite, optimize=True)
        return kind, count, renderer.size
    durations = [duration] * count
    durations[-1] = 3 * duration
    images = [renderer.frame(n) for n in range(count)]
    if kind == "gif":
        images = [im.convert("P", palette=_adaptive(), colors=255) for im in images]
    timing = durations if count > 1 else duration
    if kind == "gif":
        save_animation(images, target, "GIF", overwrite=overwrite, duration=timing, loop=0)
    else:
        save_animation(
            images, target, "PNG", overwrite=overwrite, default_image=False, duration=timing, loop=0
        )
    return kind, count, renderer.size


def _adaptive() -> Any:
    from PIL import Image

    return Image.Palette.ADAPTIVE
