"""The PNG strip decoder (convcli.io.png_read) gives Pillow's pixels, byte for byte, or says None.

Every colour type and bit depth PNG has, interlaced or not, is made here (Pillow writes the
ones it can; the rest are built from bytes with every row filter forced, including Average
and Paeth, alone and in runs), decoded in blocks of several sizes and compared with what
Pillow's ``load`` gives, as convcli reads it.  Damage is refused as Pillow refuses it.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from convcli.errors import SignalReadError
from convcli.io.png_read import PngRows, decode_all, strip_layout

RNG = np.random.default_rng(20)

#: (bit depth, colour type): decoded here, or left to Pillow (None).
DECODED = {(8, 0), (16, 0), (8, 2), (8, 4), (8, 6)}
ALL = [(1, 0), (2, 0), (4, 0), (8, 0), (16, 0), (8, 2), (16, 2), (1, 3), (2, 3), (4, 3),
       (8, 3), (8, 4), (16, 4), (8, 6), (16, 6)]  # fmt: skip
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _filter_rows(raw: np.ndarray, bpp: int, types: list[int]) -> bytes:
    """PNG-filter ``(rows, row_bytes)`` raw bytes, row ``r`` with filter ``types[r]``."""
    out = []
    prior = np.zeros(raw.shape[1], np.int64)
    for row, t in zip(raw.astype(np.int64), types):
        left = np.concatenate([np.zeros(bpp, np.int64), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int64), prior[:-bpp]])
        if t == 0:
            pred = np.zeros_like(row)
        elif t == 1:
            pred = left
        elif t == 2:
            pred = prior
        elif t == 3:
            pred = (left + prior) // 2
        else:
            p = left + prior - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - prior), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
        out.append(bytes([t]) + ((row - pred) % 256).astype(np.uint8).tobytes())
        prior = row
    return b"".join(out)


def make_png(
    width: int,
    height: int,
    depth: int,
    colour: int,
    types: list[int] | None = None,
    *,
    interlace: int = 0,
    idat_size: int = 97,
    before: bytes = b"",
    after: bytes = b"",
) -> bytes:
    """A PNG of random pixels; rows filtered with ``types`` (default: each type in turn)."""
    channels = _CHANNELS[colour]
    row_bytes = (width * channels * depth + 7) // 8
    raw = RNG.integers(0, 256, (height, row_bytes), dtype=np.uint8)
    if colour == 3:  # palette indexes within the palette
        raw = raw & np.uint8((1 << min(depth, 8)) - 1) if depth < 8 else raw % 16
    types = types if types is not None else [r % 5 for r in range(height)]
    bpp = max(1, channels * depth // 8)
    stream = zlib.compress(_filter_rows(raw, bpp, types), 6)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", ihdr), before]
    if colour == 3:
        parts.append(_chunk(b"PLTE", RNG.integers(0, 256, 16 * 3, dtype=np.uint8).tobytes()))
    for i in range(0, len(stream), idat_size):
        parts.append(_chunk(b"IDAT", stream[i : i + idat_size]))
    parts += [after, _chunk(b"IEND", b"")]
    return b"".join(parts)


def pillow_array(data: bytes) -> np.ndarray:
    """What convcli's whole-image reader gives (Pillow's load)."""
    from pathlib import Path

    from convcli.io.pillow_image import image_to_array

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return image_to_array(im, Path("x.png"))[0]


def strips(data: bytes, block: int) -> np.ndarray | None:
    fh = io.BytesIO(data)
    layout = strip_layout(fh, len(data))
    if layout is None:
        return None
    return decode_all(fh, layout, "x.png", block=block)


@pytest.mark.parametrize("depth, colour", ALL)
def test_every_colour_type_and_depth_decodes_as_pillow_or_is_left_to_it(depth, colour):
    for width, height in [(1, 1), (5, 9), (33, 21)]:
        data = make_png(width, height, depth, colour)
        want = pillow_array(data)
        for block in (1, 4, 64):
            got = strips(data, block)
            if (depth, colour) not in DECODED:
                assert got is None
                continue
            assert got is not None and got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("depth, colour", sorted(DECODED))
@pytest.mark.parametrize(
    "types",
    [
        [0] * 12,
        [1] * 12,
        [2] * 12,
        [3] * 12,
        [4] * 12,
        [4, 4, 2, 2, 3, 1, 1, 0, 4, 3, 3, 2],
        [2, 4, 2, 4, 1, 3, 1, 3, 0, 0, 2, 2],
    ],
)
def test_every_filter_alone_and_in_runs(depth, colour, types):
    data = make_png(17, len(types), depth, colour, types)
    want = pillow_array(data)
    for block in (1, 2, 5, 12):
        np.testing.assert_array_equal(strips(data, block), want)


def test_pillow_written_pngs_at_every_level():
    smooth = np.cumsum(RNG.integers(-3, 4, (40, 50, 3)), axis=1) % 256
    for arr in [RNG.integers(0, 256, (40, 50, 3), dtype=np.uint8), smooth.astype(np.uint8)]:
        for kw in [{}, {"compress_level": 1}, {"compress_level": 9}, {"optimize": True}]:
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG", **kw)
            np.testing.assert_array_equal(strips(buf.getvalue(), 7), arr)


def test_interlaced_and_animated_are_left_to_pillow():
    assert strips(make_png(9, 9, 8, 2, interlace=1), 4) is None
    buf = io.BytesIO()
    frames = [Image.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for _ in range(2)]
    frames[0].save(buf, format="PNG", save_all=True, append_images=frames[1:])
    assert strips(buf.getvalue(), 4) is None


def test_exif_after_the_pixels_is_left_to_pillow_text_is_not():
    exif = _chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08\x00\x00")
    assert strips(make_png(6, 6, 8, 2, after=exif), 2) is None
    text = _chunk(b"tEXt", b"Comment\x00hello")
    data = make_png(6, 6, 8, 2, after=text)
    np.testing.assert_array_equal(strips(data, 2), pillow_array(data))


def _decode(data: bytes) -> None:
    fh = io.BytesIO(data)
    layout = strip_layout(fh, len(data))
    assert layout is not None
    decode_all(fh, layout, "x.png", block=3)


def _idat_span(data: bytes) -> tuple[int, int]:
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    return start, length


def test_damaged_pixel_data_is_refused_as_pillow_refuses_it():
    data = bytearray(make_png(20, 20, 8, 2, idat_size=1 << 20))
    start, length = _idat_span(bytes(data))
    data[start + length // 2] ^= 0xFF
    with pytest.raises(Exception):  # noqa: B017 - Pillow's own exception type
        pillow_array(bytes(data))
    with pytest.raises(SignalReadError, match="x.png: cannot read image: broken data stream"):
        _decode(bytes(data))


def test_a_bad_filter_type_is_a_broken_stream():
    raw = zlib.decompress(make_png(4, 3, 8, 0, [0, 0, 0]).split(b"IDAT")[1][:-4])
    bad = b"\x07" + raw[1:]
    ihdr = struct.pack(">IIBBBBB", 4, 3, 8, 0, 0, 0, 0)
    data = b"".join([b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", ihdr),
                     _chunk(b"IDAT", zlib.compress(bad)), _chunk(b"IEND", b"")])  # fmt: skip
    with pytest.raises(SignalReadError, match="broken data stream"):
        _decode(data)


def test_pixel_data_that_ends_early_is_truncated():
    data = make_png(30, 30, 8, 6, idat_size=1 << 20)
    start, length = _idat_span(data)
    stream = data[start : start + length]
    ihdr = data[8 : 8 + 25]
    cut = b"".join([data[:8], ihdr, _chunk(b"IDAT", stream[: length // 2]), _chunk(b"IEND", b"")])
    with pytest.raises(SignalReadError, match="image file is truncated"):
        _decode(cut)


def test_a_wrong_checksum_at_the_end_of_the_stream_is_refused():
    data = bytearray(make_png(10, 10, 8, 0, idat_size=1 << 20))
    start, length = _idat_span(bytes(data))
    data[start + length - 1] ^= 0x01  # the Adler-32's last byte
    with pytest.raises(SignalReadError, match="broken data stream"):
        _decode(bytes(data))


def test_rows_come_in_order_and_not_past_the_end():
    data = make_png(8, 5, 8, 0)
    fh = io.BytesIO(data)
    layout = strip_layout(fh, len(data))
    rows = PngRows(fh, layout, "x.png")
    out = np.empty((5, 8), np.uint8)
    rows.read_into(out[:2])
    rows.read_into(out[2:])
    assert rows.rows_read == 5
    np.testing.assert_array_equal(out, pillow_array(data))
    with pytest.raises(ValueError, match="rows 5..6"):
        rows.read_into(out[:1])
