"""The PNG encoder (convcli.io.png): what Pillow reads back is exactly the array."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from convcli.io import png


def _read(data: bytes) -> tuple[np.ndarray, Image.Image]:
    im = Image.open(io.BytesIO(data))
    im.load()
    if im.mode in ("I;16", "I;16B", "I"):
        return np.asarray(im).astype(np.uint16), im
    return np.asarray(im), im


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 40),
    channels=st.sampled_from([1, 2, 3, 4]),
    depth=st.sampled_from([np.uint8, np.uint16]),
    smooth=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_round_trip(rows, cols, channels, depth, smooth, seed):
    if depth == np.uint16 and channels > 1:
        return  # Pillow reads 16-bit colour PNGs as 8-bit; convcli never writes them
    rng = np.random.default_rng(seed)
    top = np.iinfo(depth).max
    if smooth:  # gradients: the Up filter wins
        base = np.add.outer(np.arange(rows), np.arange(cols)) * (top // 80)
        a = np.repeat(base[:, :, None], channels, axis=2).astype(depth)
    else:
        a = rng.integers(0, top, (rows, cols, channels), dtype=depth, endpoint=True)
    if channels == 1:
        a = a[:, :, 0]
    buf = io.BytesIO()
    png.write_png(buf, a)
    got, _ = _read(buf.getvalue())
    np.testing.assert_array_equal(got, a)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_images_deflate_in_pieces(threads, monkeypatch):
    monkeypatch.setattr(png, "PARALLEL_MIN_BYTES", 1000)
    monkeypatch.setattr(png, "IDAT_BYTES", 4096)  # several IDAT chunks too
    rng = np.random.default_rng(threads)
    a = rng.integers(0, 256, (301, 97, 3), dtype=np.uint8)
    buf = io.BytesIO()
    png.write_png(buf, a, threads=threads)
    got, _ = _read(buf.getvalue())
    np.testing.assert_array_equal(got, a)


def test_metadata_is_carried():
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010E] = "a test image"  # ImageDescription
    a = np.zeros((8, 9, 3), np.uint8)
    buf = io.BytesIO()
    png.write_png(buf, a, dpi=(300, 150), icc_profile=icc, exif=exif.tobytes())
    _, im = _read(buf.getvalue())
    assert im.info["icc_profile"] == icc
    assert [round(v) for v in im.info["dpi"]] == [300, 150]
    assert im.getexif()[0x010E] == "a test image"


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 2), np.float32), np.zeros((2, 2, 5), np.uint8), np.zeros((0, 3), np.uint8)]
)
def test_refuses_what_png_cannot_hold(bad):
    with pytest.raises(ValueError, match="PNG"):
        png.write_png(io.BytesIO(), bad)


def test_smaller_or_equal_to_pillow_level_1_on_the_sample_photo():
    from pathlib import Path

    photo = Path(__file__).resolve().parents[1] / "sample_data" / "photo.png"
    a = np.asarray(Image.open(photo))
    ours, theirs = io.BytesIO(), io.BytesIO()
    png.write_png(ours, a)
    Image.fromarray(a).save(theirs, "PNG", compress_level=1)
    assert len(ours.getvalue()) <= 1.1 * len(theirs.getvalue())


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 60),
    cols=st.integers(1, 30),
    channels=st.sampled_from([1, 2, 3, 4]),
    cuts=st.lists(st.integers(0, 60), max_size=6),
    smooth=st.booleans(),
    threads=st.sampled_from([1, 2, 3]),
    seed=st.integers(0, 2**31),
)
def test_writer_in_blocks_round_trips(rows, cols, channels, cuts, smooth, threads, seed):
    """Blocks of any sizes (one row, empty, uneven) give one PNG of exactly the rows."""
    rng = np.random.default_rng(seed)
    if smooth:  # gradients: the Up filter wins, also on each block's first row
        base = np.add.outer(np.arange(rows), np.arange(cols)) * 3
        a = np.repeat(base[:, :, None], channels, axis=2).astype(np.uint8)
    else:
        a = rng.integers(0, 256, (rows, cols, channels), dtype=np.uint8)
    bounds = sorted({0, rows, *(c for c in cuts if c <= rows)})
    buf = io.BytesIO()
    w = png.PngWriter(buf, rows, cols, channels, np.uint8, threads=threads)
    for lo, hi in zip(bounds, bounds[1:]):
        w.write(a[lo:hi] if channels > 1 else a[lo:hi, :, 0])
    w.write(a[:0])  # an empty block changes nothing
    w.close()
    got, _ = _read(buf.getvalue())
    np.testing.assert_array_equal(got.reshape(a.shape), a)


def test_writer_in_blocks_16_bit_and_many_pieces(monkeypatch):
    monkeypatch.setattr(png, "PARALLEL_MIN_BYTES", 500)
    monkeypatch.setattr(png, "IDAT_BYTES", 1000)
    a = np.random.default_rng(3).integers(0, 65536, (120, 33), dtype=np.uint16)
    buf = io.BytesIO()
    w = png.PngWriter(buf, 120, 33, 1, np.uint16, threads=2)
    for lo in range(0, 120, 17):
        w.write(a[lo : lo + 17])
    w.close()
    np.testing.assert_array_equal(_read(buf.getvalue())[0], a)


def test_writer_refuses_wrong_rows():
    w = png.PngWriter(io.BytesIO(), 4, 5, 3, np.uint8)
    with pytest.raises(ValueError, match="rows"):
        w.write(np.zeros((4, 6, 3), np.uint8))
    w.write(np.zeros((3, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="more than"):
        w.write(np.zeros((2, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="3 rows written"):
        w.close()
