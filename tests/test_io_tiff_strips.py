"""Uncompressed TIFF rows (convcli.io.tiff_strips): Pillow's bytes written, Pillow's pixels read."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.errors import SignalReadError
from convcli.io.tiff_strips import TiffRows, TiffWriter, raw_strips

RNG = np.random.default_rng(21)
ICC = bytes(range(256)) * 3


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((5, 7), np.uint8),
        ((5, 7, 2), np.uint8),
        ((5, 7, 3), np.uint8),
        ((5, 7, 4), np.uint8),
        ((6, 3), np.uint16),
        ((6, 3), np.int32),
        ((6, 3), np.float32),
        ((300, 250, 3), np.uint8),  # a strip of 64 KiB and more: LONG byte counts
    ],
)
@pytest.mark.parametrize(
    "extra",
    [{}, {"dpi": (72.0, 96.5)}, {"icc_profile": ICC}, {"dpi": (300.0, 0.3333), "icc_profile": ICC}],
)
def test_the_writer_writes_pillows_bytes(shape, dtype, extra):
    arr = (RNG.random(shape) * 200).astype(dtype)
    want = io.BytesIO()
    Image.fromarray(arr).save(want, format="TIFF", **extra)
    got = io.BytesIO()
    channels = shape[2] if len(shape) == 3 else 1
    writer = TiffWriter(got, shape[0], shape[1], channels, np.dtype(dtype), **extra)
    for start in range(0, shape[0], 4):
        writer.write(arr[start : start + 4])
    writer.close()
    assert got.getvalue() == want.getvalue()


def test_the_writer_counts_its_rows():
    writer = TiffWriter(io.BytesIO(), 4, 3, 1, np.dtype(np.uint8))
    writer.write(np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match="3 rows written of the TIFF's 4"):
        writer.close()
    with pytest.raises(ValueError, match="past the TIFF's 4 rows"):
        writer.write(np.zeros((2, 3), np.uint8))


def _read(data: bytes, block: int) -> np.ndarray | None:
    im = Image.open(io.BytesIO(data))
    strips = raw_strips(im)
    if strips is None:
        return None
    shape = (im.size[1], im.size[0]) + ((len(im.mode),) if im.mode in ("LA", "RGB", "RGBA") else ())
    dtype = np.uint16 if im.mode == "I;16" else np.uint8
    out = np.empty(shape, dtype)
    rows = TiffRows(io.BytesIO(data), strips, out[0].nbytes, Path("x.tif"))
    for start in range(0, shape[0], block):
        rows.read_into(out[start : start + block])
    return out


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16"])
def test_raw_strips_read_as_pillow_reads_them(mode):
    if mode == "I;16":
        arr = RNG.integers(0, 65536, (37, 23), dtype=np.uint16)
    else:
        arr = RNG.integers(0, 256, (37, 23, len(mode)) if len(mode) > 1 else (37, 23), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="TIFF")
    for block in (1, 5, 37):
        np.testing.assert_array_equal(_read(buf.getvalue(), block), arr)


def test_many_strips_read_in_order(tmp_path):
    """A TIFF of many strips (libtiff's writer: 64 KiB each) is read strip after strip."""
    from PIL import TiffImagePlugin

    arr = RNG.integers(0, 256, (200, 150, 3), np.uint8)
    path = tmp_path / "strips.tif"
    before = TiffImagePlugin.WRITE_LIBTIFF
    TiffImagePlugin.WRITE_LIBTIFF = True
    try:
        Image.fromarray(arr).save(path, compression="raw")
    finally:
        TiffImagePlugin.WRITE_LIBTIFF = before
    data = path.read_bytes()
    assert len(raw_strips(Image.open(io.BytesIO(data)))) > 1
    for block in (3, 64):
        np.testing.assert_array_equal(_read(data, block), arr)


def test_compressed_turned_and_multipage_tiffs_are_left_to_pillow():
    arr = RNG.integers(0, 256, (9, 8, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="TIFF", compression="tiff_lzw")
    assert _read(buf.getvalue(), 4) is None
    buf = io.BytesIO()
    Image.fromarray(arr).save(
        buf, format="TIFF", save_all=True, append_images=[Image.new("RGB", (8, 9))]
    )
    assert _read(buf.getvalue(), 4) is None
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(arr).save(buf, format="TIFF", exif=exif)
    assert _read(buf.getvalue(), 4) is None


def test_a_cut_file_is_truncated():
    arr = RNG.integers(0, 256, (20, 20), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="TIFF")
    data = buf.getvalue()[:-50]
    with pytest.raises(SignalReadError, match="x.tif: cannot read image: image file is truncated"):
        _read(data, 7)
