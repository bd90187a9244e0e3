"""The labelled montage: every map as one tile of a grid, with a legend of the colour scales.

Each tile is a map's picture (:func:`convcli.features._display.display`; a volume's middle
plane, an audio map's waveform) scaled to fit :data:`TILE` pixels on its longer side
(averaging pixels when shrinking; enlarging small maps by a whole factor, pixels kept
square and sharp), with its number and label written under it in Pillow's default font.
The number of columns is the one that brings the grid's shape closest to 4:3 (landscape).
Below the grid, a legend shows the scales the maps use: the diverging bar (``-max``, ``0``,
``+max``) and the grey bar (``min``, ``max``).

:func:`layout_montage` decides every position (the drawing code draws exactly its
:class:`Tile` list), :func:`draw_montage` draws; Pillow is imported by the drawing only.

Examples
--------
>>> layout = layout_montage(["00 a", "01 b", "02 c"], (40, 60), line_height=12)
>>> layout.columns, len(layout.tiles), layout.tiles[1].box
(2, 3, (256, 8, 496, 168))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "TILE",
    "Tile",
    "MontageLayout",
    "tile_shape",
    "layout_montage",
    "draw_montage",
    "LEGENDS",
]

#: The longer side of a tile's picture, in pixels.
TILE = 256
#: Maps smaller than this (longer side) are enlarged by a whole factor.
MIN_TILE = 128
GAP = 8
#: The grid's preferred width / height, as a natural log (4:3).
ASPECT = math.log(4 / 3)
BACKGROUND = (32, 32, 32)
TEXT = (235, 235, 235)
FONT_SIZE = 13
BAR_WIDTH = 256
BAR_HEIGHT = 12
#: The legends: how a map is drawn -> (bar label, end labels).
LEGENDS = {
    "diverging": (
        "signed maps, each to its own largest |value|",
        ("-max", "0", "+max"),
    ),
    "grey": ("maps of one sign, each from its own min to max", ("min", "max")),
}


@dataclass(frozen=True)
class Tile:
    """One map's place in the montage.

    Attributes
    ----------
    index : int
        The map's number.
    text : str
        The label as drawn (``"03 sobel-axis1"``, shortened to fit if need be).
    box : tuple of int
        ``(left, top, right, bottom)`` of the picture.
    text_at : tuple of int
        ``(left, top)`` of the label.
    """

    index: int
    text: str
    box: tuple[int, int, int, int]
    text_at: tuple[int, int]


@dataclass(frozen=True)
class MontageLayout:
    """Where everything goes.

    Attributes
    ----------
    width, height : int
        The montage's size.
    columns, rows : int
        The grid.
    tile : tuple of int
        ``(height, width)`` of every tile's picture.
    tiles : tuple of Tile
        One per map, in order.
    legend_top : int
        Where the legend starts (its rows are :data:`BAR_HEIGHT` plus a line of text each).
    line_height : int
        Height of a line of text.
    """

    width: int
    height: int
    columns: int
    rows: int
    tile: tuple[int, int]
    tiles: tuple[Tile, ...]
    legend_top: int
    line_height: int


def tile_shape(shape: Sequence[int]) -> tuple[int, int]:
    """Return the ``(height, width)`` a picture of ``shape`` gets in a tile.

    Examples
    --------
    >>> tile_shape((2048, 1024)), tile_shape((28, 28)), tile_shape((64, 512))
    ((256, 128), (252, 252), (32, 256))
    """
    h, w = int(shape[0]), int(shape[1])
    longest = max(h, w)
    if longest < MIN_TILE:
        factor = TILE // longest
        return h * factor, w * factor
    if longest <= TILE:
        return h, w
    scale = TILE / longest
    return max(1, round(h * scale)), max(1, round(w * scale))


def layout_montage(
    texts: Sequence[str],
    shape: Sequence[int],
    *,
    line_height: int,
    legends: int = 0,
    measure: Any = None,
) -> MontageLayout:
    """Place ``len(texts)`` tiles of pictures of ``shape`` in a grid, labels underneath.

    Parameters
    ----------
    texts : sequence of str
        One label per map.
    shape : sequence of int
        ``(height, width)`` of every map's picture before scaling.
    line_height : int
        Height of a line of text, in pixels.
    legends : int, optional
        How many legend rows to leave room for below the grid.
    measure : callable, optional
        ``measure(text) -> width in pixels``; labels wider than a tile are shortened with
        ``...``.  Without it, labels are kept whole.

    Returns
    -------
    MontageLayout
    """
    n = len(texts)
    th, tw = tile_shape(shape)
    cell_w = max(tw, 64) + GAP
    cell_h = th + line_height + 2 + GAP
    columns = min(
        range(1, max(n, 1) + 1),
        key=lambda c: abs(math.log(c * cell_w / (-(-max(n, 1) // c) * cell_h)) - ASPECT),
    )
    rows = -(-n // columns) if n else 0
    tiles = []
    for i, text in enumerate(texts):
        r, c = divmod(i, columns)
        left = GAP + c * cell_w
        top = GAP + r * cell_h
        if measure is not None:
            text = _fit(text, cell_w - GAP, measure)
        tiles.append(Tile(i, text, (left, top, left + tw, top + th), (left, top + th + 2)))
    grid_h = GAP + rows * cell_h
    legend_h = legends * (BAR_HEIGHT + line_height + 3 * GAP // 2)
    width = max(GAP + columns * cell_w, (2 * GAP + BAR_WIDTH + 330) if legends else 0)
    return MontageLayout(
        width=width,
        height=grid_h + legend_h + (GAP if legends else 0),
        columns=columns,
        rows=rows,
        tile=(th, tw),
        tiles=tuple(tiles),
        legend_top=grid_h,
        line_height=line_height,
    )


def _fit(text: str, width: int, measure: Any) -> str:
    if measure(text) <= width:
        return text
    while text and measure(text + "...") > width:
        text = text[:-1]
    return text + "..."


def _font() -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=FONT_SIZE)
    except TypeError:  # pragma: no cover - Pillow < 10.1: the bitmap font only
        return ImageFont.load_default()


def _to_image(picture: np.ndarray, shape: tuple[int, int]) -> Any:
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(picture))
    h, w = picture.shape[:2]
    th, tw = shape
    if (h, w) == (th, tw):
        return im
    if th >= h and tw >= w:
        return im.resize((tw, th), Image.Resampling.NEAREST)
    return im.resize((tw, th), Image.Resampling.BOX)


def draw_montage(
    pictures: Sequence[np.ndarray], texts: Sequence[str], legends: Sequence[str] = ()
) -> tuple[Any, MontageLayout]:
    """Draw the montage.

    Parameters
    ----------
    pictures : sequence of ndarray
        One uint8 picture per map, ``(h, w)`` grey or ``(h, w, 3)`` RGB, all of one size.
    texts : sequence of str
        One label per map.
    legends : sequence of str, optional
        The scales to explain below the grid: keys of :data:`LEGENDS`.

    Returns
    -------
    tuple of (PIL.Image.Image, MontageLayout)
        The RGB montage and the layout it was drawn from.

    Examples
    --------
    >>> pics = [np.full((20, 30), v, np.uint8) for v in (0, 128, 255)]
    >>> im, layout = draw_montage(pics, ["00 a", "01 b", "02 c"], ["grey"])
    >>> im.mode, im.size == (layout.width, layout.height), len(layout.tiles)
    ('RGB', True, 3)
    """
    from PIL import Image, ImageDraw

    if len(pictures) != len(texts):
        raise ValueError(f"{len(pictures)} pictures but {len(texts)} labels")
    font = _font()
    box = font.getbbox("Ag0")
    line_height = int(box[3] - min(box[1], 0)) + 2
    legend_keys = [k for k in LEGENDS if k in legends]
    shape = pictures[0].shape[:2] if pictures else (1, 1)
    layout = layout_montage(
        texts,
        shape,
        line_height=line_height,
        legends=len(legend_keys),
        measure=lambda t: font.getlength(t),
    )
    canvas = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for tile, picture in zip(layout.tiles, pictures):
        canvas.paste(_to_image(picture, layout.tile).convert("RGB"), tile.box[:2])
        draw.text(tile.text_at, tile.text, fill=TEXT, font=font)
    top = layout.legend_top
    for key in legend_keys:
        _legend(canvas, draw, font, key, GAP, top, line_height)
        top += BAR_HEIGHT + line_height + 3 * GAP // 2
    return canvas, layout


def _legend(
    canvas: Any, draw: Any, font: Any, key: str, left: int, top: int, line_height: int
) -> None:
    from PIL import Image

    from convcli.features._display import diverging_lut

    ramp = np.linspace(0, 1, BAR_WIDTH)
    if key == "diverging":
        lut = diverging_lut()
        row = lut[np.rint(ramp * (len(lut) - 1)).astype(np.intp)]
    else:
        grey = np.rint(ramp * 255).astype(np.uint8)
        row = np.stack([grey] * 3, axis=1)
    bar = np.broadcast_to(row[None], (BAR_HEIGHT, BAR_WIDTH, 3))
    canvas.paste(Image.fromarray(np.ascontiguousarray(bar)), (left, top))
    title, ends = LEGENDS[key]
    draw.text((left + BAR_WIDTH + GAP, top - 1), title, fill=TEXT, font=font)
    y = top + BAR_HEIGHT + 2
    for i, label in enumerate(ends):
        width = font.getlength(label)
        x = left + (BAR_WIDTH - 1) * i / (len(ends) - 1) - width * i / (len(ends) - 1)
        draw.text((round(x), y), label, fill=TEXT, font=font)
