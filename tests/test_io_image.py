"""Images: every Pillow mode loads with the right shape, dtype and values, and round-trips."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from convcli.errors import SignalReadError, UnsupportedError
from convcli.io import Signal, cast, load, output_dtype, probe, save

ROWS, COLS = 6, 7
EXT = {
    "PNG": ".png",
    "TIFF": ".tif",
    "BMP": ".bmp",
    "WEBP": ".webp",
    "GIF": ".gif",
    "PPM": ".ppm",
    "JPEG": ".jpg",
}


def _palette(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (256, 3), dtype=np.uint8)


def make(mode: str, seed: int = 0) -> tuple[Image.Image, np.ndarray]:
    """A Pillow image of ``mode`` and the array convcli should load from it."""
    rng = np.random.default_rng(seed)
    size = (COLS, ROWS)
    if mode == "1":
        bits = rng.integers(0, 2, (ROWS, COLS)).astype(bool)
        return Image.fromarray(bits), bits.astype(np.uint8) * 255
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        shape = (ROWS, COLS) if mode == "L" else (ROWS, COLS, len(mode))
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        im = Image.frombytes(mode, size, arr.tobytes())
        expected = np.array(im.convert("RGB")) if mode == "CMYK" else arr
        return im, expected
    if mode in ("P", "Pt"):
        idx = rng.integers(0, 16, (ROWS, COLS), dtype=np.uint8)
        pal = _palette(rng)
        im = Image.frombytes("P", size, idx.tobytes())
        im.putpalette(pal.tobytes())
        rgb = pal[idx]
        if mode == "P":
            return im, rgb
        im.info["transparency"] = 3
        alpha = np.where(idx == 3, 0, 255).astype(np.uint8)
        return im, np.dstack([rgb, alpha])
    if mode in ("I;16", "I;16B"):
        arr = rng.integers(0, 65536, (ROWS, COLS), dtype=np.uint16)
        order = ">u2" if mode == "I;16B" else "<u2"
        return Image.frombytes(mode, size, arr.astype(order).tobytes()), arr
    if mode == "I":
        arr = rng.integers(-(2**31), 2**31, (ROWS, COLS), dtype=np.int64).astype(np.int32)
        return Image.frombytes("I", size, arr.tobytes()), arr
    if mode == "F":
        arr = rng.standard_normal((ROWS, COLS)).astype(np.float32) * 1000
        return Image.frombytes("F", size, arr.tobytes()), arr
    raise AssertionError(mode)


# (format, mode) pairs Pillow writes as fixtures; convcli must load each exactly.
LOSSLESS = (
    [("PNG", m) for m in ("1", "L", "LA", "P", "Pt", "RGB", "RGBA", "I;16", "I;16B")]
    + [("TIFF", m) for m in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "I", "F")]
    + [("BMP", m) for m in ("1", "L", "P", "RGB")]
    + [("WEBP", m) for m in ("RGB", "RGBA")]
    + [("GIF", m) for m in ("P", "Pt")]
    + [("PPM", m) for m in ("1", "L", "RGB", "I;16")]
)
LOSSY = [("JPEG", "L"), ("JPEG", "RGB"), ("JPEG", "CMYK")]


def write_fixture(tmp_path: Path, fmt: str, mode: str, seed: int = 0) -> tuple[Path, np.ndarray]:
    im, expected = make(mode, seed)
    path = tmp_path / f"in_{mode.replace(';', '')}{EXT[fmt]}"
    kw = {"lossless": True, "exact": True} if fmt == "WEBP" else {}
    im.save(path, fmt, **kw)
    return path, expected


def expected_dtype(mode: str) -> np.dtype:
    return np.dtype(
        {"I;16": "uint16", "I;16B": "uint16", "I": "int32", "F": "float32"}.get(mode, "uint8")
    )


@pytest.mark.parametrize(("fmt", "mode"), LOSSLESS)
def test_load_every_mode_exactly(tmp_path: Path, fmt: str, mode: str) -> None:
    path, expected = write_fixture(tmp_path, fmt, mode)
    s = load(path)
    assert s.kind == "image"
    assert s.data.dtype == expected_dtype(mode)
    assert s.data.dtype.isnative
    assert s.data.shape == expected.shape
    assert s.channel_axis == (2 if expected.ndim == 3 else None)
    assert s.spatial_ndim == 2
    np.testing.assert_array_equal(s.data, expected)
    assert s.form.container == "file"
    assert s.form.format == fmt
    assert s.form.dtype == s.data.dtype.name


@pytest.mark.parametrize(("fmt", "mode"), LOSSLESS)
def test_roundtrip_same_format(tmp_path: Path, fmt: str, mode: str) -> None:
    path, _ = write_fixture(tmp_path, fmt, mode)
    s = load(path)
    out = tmp_path / f"out{EXT[fmt]}"
    dtype = output_dtype(s, out)
    assert dtype == s.data.dtype
    data, clipped = cast(s.data, dtype)
    assert clipped == 0
    save(replace(s, data=data), out, protect=[path])
    back = load(out)
    np.testing.assert_array_equal(back.data, s.data)
    assert back.data.dtype == s.data.dtype


@pytest.mark.parametrize(("fmt", "mode"), LOSSY)
def test_jpeg_loads_and_roundtrips_close(tmp_path: Path, fmt: str, mode: str) -> None:
    im, _ = make(mode)
    # smooth content, so that JPEG at quality 95 is close
    rows, cols = np.mgrid[0:32, 0:40]
    base = (rows * 4 + cols * 3).astype(np.uint8)
    if mode == "L":
        im = Image.fromarray(base)
    else:
        rgb = np.dstack([base, base[::-1], 255 - base]).astype(np.uint8)
        im = Image.fromarray(rgb)
        if mode == "CMYK":
            im = im.convert("CMYK")
    path = tmp_path / "in.jpg"
    im.save(path, quality=95)
    s = load(path)
    ref = np.array(Image.open(path).convert("L" if mode == "L" else "RGB"))
    np.testing.assert_array_equal(s.data, ref)
    assert s.data.dtype == np.uint8
    out = tmp_path / "out.jpg"
    save(s, out)
    back = load(out)
    assert back.data.shape == s.data.shape
    diff = np.abs(back.data.astype(int) - s.data.astype(int))
    assert diff.mean() < 2.0


def test_webp_gray_is_stored_as_rgb(tmp_path: Path) -> None:
    im, arr = make("L")
    s = Signal(arr, "image")
    out = save(s, tmp_path / "g.webp")
    back = load(out)
    assert back.data.shape == (ROWS, COLS, 3)
    for c in range(3):
        np.testing.assert_array_equal(back.data[..., c], arr)
    assert load(out, gray=True).data.tolist() == arr.tolist()


def test_gif_gray_and_rgb(tmp_path: Path) -> None:
    _, gray = make("L")
    back = load(save(Signal(gray, "image"), tmp_path / "g.gif"))
    np.testing.assert_array_equal(back.data[..., 0], gray)
    rng = np.random.default_rng(3)
    few = rng.integers(0, 4, (ROWS, COLS, 3), dtype=np.uint8) * 60
    back = load(save(Signal(few, "image", 2), tmp_path / "c.gif"))
    np.testing.assert_array_equal(back.data, few)


def test_gif_la_is_written_as_rgba(tmp_path: Path) -> None:
    la = np.zeros((ROWS, COLS, 2), np.uint8)
    la[..., 0] = 200
    la[:3, :, 1] = 255
    back = load(save(Signal(la, "image", 2), tmp_path / "la.gif"))
    assert back.data.shape == (ROWS, COLS, 4)
    np.testing.assert_array_equal(back.data[:3, :, 3], 255)
    np.testing.assert_array_equal(back.data[3:, :, 3], 0)
    np.testing.assert_array_equal(back.data[:3, :, 0], 200)


def test_pgm_16_bit(tmp_path: Path) -> None:
    _, arr = make("I;16")
    out = save(Signal(arr, "image"), tmp_path / "a.pgm")
    assert out.read_bytes().startswith(b"P5\n")
    back = load(out)
    assert back.data.dtype == np.uint16
    np.testing.assert_array_equal(back.data, arr)
    assert probe(out)["dtype"] == "uint16"


def test_i16b_tiff_stays_big_endian(tmp_path: Path) -> None:
    path, arr = write_fixture(tmp_path, "TIFF", "I;16B")
    s = load(path)
    assert s.form.mode == "I;16B"
    out = save(s, tmp_path / "o.tif")
    with Image.open(out) as im:
        assert im.mode == "I;16B"
    np.testing.assert_array_equal(load(out).data, arr)


def test_tiff_compression_is_kept(tmp_path: Path) -> None:
    im, arr = make("I;16")
    path = tmp_path / "c.tif"
    im.save(path, compression="tiff_lzw")
    s = load(path)
    assert s.form.info["compression"] == "tiff_lzw"
    out = save(s, tmp_path / "o.tif")
    with Image.open(out) as back:
        assert back.info["compression"] == "tiff_lzw"
    np.testing.assert_array_equal(load(out).data, arr)


# ------------------------------------------------------------------------- EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(tmp_path: Path, orientation: int) -> None:
    rng = np.random.default_rng(orientation)
    arr = rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = "a description"
    path = tmp_path / "o.png"
    Image.fromarray(arr).save(path, exif=exif)
    with Image.open(path) as im:
        ref = np.array(ImageOps.exif_transpose(im))
    s = load(path)
    np.testing.assert_array_equal(s.data, ref)
    assert probe(path)["shape"] == list(ref.shape)
    out = save(s, tmp_path / "out.png")
    with Image.open(out) as back:
        tags = back.getexif()
        assert 0x0112 not in tags
        assert tags.get(0x010E) == "a description"
    np.testing.assert_array_equal(load(out).data, ref)


@pytest.mark.parametrize("compression", ["raw", "tiff_lzw"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("mode", ["L", "I;16", "F", "RGB"])
def test_tiff_orientation(tmp_path: Path, mode: str, orientation: int, compression: str) -> None:
    from convcli.io.pillow_image import orient

    _, arr = make(mode)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.tif"
    Image.frombytes(mode, (COLS, ROWS), arr.tobytes()).save(
        path, exif=exif, compression=compression
    )
    s = load(path)
    np.testing.assert_array_equal(s.data, orient(arr, orientation))
    assert probe(path)["shape"] == list(s.data.shape)


# ------------------------------------------------------------------------------ gray


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "Pt", "CMYK", "LA", "L", "1"])
def test_gray_equals_pillow_L(tmp_path: Path, mode: str) -> None:
    im, _ = make(mode, seed=5)
    path = tmp_path / "g.png" if mode != "CMYK" else tmp_path / "g.tif"
    im.save(path)
    s = load(path, gray=True)
    with Image.open(path) as ref_im:
        if ref_im.mode == "P":
            ref_im = ref_im.convert("RGBA" if "transparency" in ref_im.info else "RGB")
        elif ref_im.mode == "CMYK":
            ref_im = ref_im.convert("RGB")
        ref = np.array(ref_im.convert("L"))
    assert s.channel_axis is None
    assert s.data.dtype == np.uint8
    np.testing.assert_array_equal(s.data, ref)


def test_gray_keeps_16_bit_and_float() -> None:
    rng = np.random.default_rng(1)
    rgb16 = rng.integers(0, 65536, (4, 5, 3), dtype=np.uint16)
    from convcli.io.pillow_image import to_gray

    g = to_gray(rgb16, 2)
    assert g.dtype == np.uint16
    ref = rgb16 @ np.array([0.299, 0.587, 0.114])
    assert np.abs(g - ref).max() <= 1.0
    f = rng.random((4, 5, 4)).astype(np.float32)
    gf = to_gray(f, 2)
    assert gf.dtype == np.float32
    np.testing.assert_allclose(gf, f[..., :3] @ np.array([0.299, 0.587, 0.114]), rtol=1e-6)
    with pytest.raises(UnsupportedError, match="5 channels"):
        to_gray(np.zeros((2, 2, 5)), 2)


def test_gray_drops_an_rgb_icc_profile(tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im, _ = make("RGB")
    path = tmp_path / "p.png"
    im.save(path, icc_profile=icc, dpi=(300, 300))
    s = load(path)
    assert s.form.info["icc_profile"] == icc
    colour = save(s, tmp_path / "c.png")
    with Image.open(colour) as back:
        assert back.info.get("icc_profile") == icc
        assert back.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    gray = save(load(path, gray=True), tmp_path / "g.png")
    with Image.open(gray) as back:
        assert "icc_profile" not in back.info


@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_jpeg_subsampling_kept(tmp_path: Path, subsampling: int) -> None:
    im, _ = make("RGB")
    path = tmp_path / "s.jpg"
    im.save(path, subsampling=subsampling, quality=90, dpi=(72, 72))
    out = save(load(path), tmp_path / "o.jpg")
    with Image.open(out) as back:
        assert JpegImagePlugin.get_sampling(back) == subsampling
        assert back.info["dpi"] == (72, 72)


# ---------------------------------------------------------------------------- refusals


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def test_16_bit_rgb_png_is_refused_not_truncated(tmp_path: Path) -> None:
    rows, cols = 3, 4
    raw = np.arange(rows * cols * 3, dtype=">u2").reshape(rows, cols * 3) * 1000
    lines = b"".join(b"\x00" + row.tobytes() for row in raw)
    png = b"\x89PNG\r\n\x1a\n"
    png += _png_chunk(b"IHDR", struct.pack(">IIBBBBB", cols, rows, 16, 2, 0, 0, 0))
    png += _png_chunk(b"IDAT", zlib.compress(lines))
    png += _png_chunk(b"IEND", b"")
    path = tmp_path / "rgb48.png"
    path.write_bytes(png)
    with pytest.raises(SignalReadError, match="16-bit RGB") as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content", [b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"]
)
def test_broken_files_give_one_line_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(SignalReadError) as info:
        load(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(path))


def test_truncated_png_is_a_read_error(tmp_path: Path) -> None:
    im, _ = make("RGB")
    path = tmp_path / "t.png"
    im.save(path)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(SignalReadError, match="t.png"):
        load(path)


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(SignalReadError, match="does not exist"):
        load(tmp_path / "nope.png")
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(SignalReadError, match="is empty"):
        load(tmp_path / "e.png")


@pytest.mark.parametrize(
    ("shape", "dtype", "ext", "match"),
    [
        ((4, 4, 3), np.float32, ".png", "PNG cannot hold 32-bit float RGB"),
        ((4, 4, 4), np.uint8, ".jpg", "JPEG cannot hold 8-bit RGBA"),
        ((4, 4, 4), np.uint8, ".bmp", "BMP cannot hold 8-bit RGBA"),
        ((4, 4, 3), np.uint16, ".tif", "TIFF cannot hold 16-bit RGB"),
        ((4, 4), np.float32, ".pgm", "PGM cannot hold 32-bit float gray"),
        ((4, 4), np.float64, ".tif", "TIFF cannot hold 64-bit float gray"),
    ],
)
def test_save_refuses_what_a_format_cannot_hold(
    tmp_path: Path, shape: tuple[int, ...], dtype: type, ext: str, match: str
) -> None:
    data = np.zeros(shape, dtype)
    s = Signal(data, "image", 2 if len(shape) == 3 else None)
    with pytest.raises(UnsupportedError, match=match):
        save(s, tmp_path / f"x{ext}")
    assert list(tmp_path.iterdir()) == []


def test_probe_image(tmp_path: Path) -> None:
    path, _ = write_fixture(tmp_path, "PNG", "Pt")
    info = probe(path)
    assert info["kind"] == "image"
    assert info["shape"] == [ROWS, COLS, 4]
    assert info["channels"] == 4
    assert info["mode"] == "P"
    assert info["dtype"] == "uint8"
    assert info["format"] == "PNG"
    assert info["container"] == "file"
    assert info["rate"] is None
    path, _ = write_fixture(tmp_path, "TIFF", "I;16B")
    info = probe(path)
    assert info["dtype"] == "uint16"
    assert info["shape"] == [ROWS, COLS]
    assert info["bits"] == 16


def test_image_forced_as_array_and_volume(tmp_path: Path) -> None:
    path, expected = write_fixture(tmp_path, "PNG", "RGB")
    a = load(path, "array")
    assert a.kind == "array" and a.channel_axis is None
    np.testing.assert_array_equal(a.data, expected)
    v = load(path, "volume")
    assert v.kind == "volume" and v.data.shape == (1, ROWS, COLS, 3) and v.channel_axis == 3
    with pytest.raises(SignalReadError, match="cannot be read as audio"):
        load(path, "audio")


def test_a_jpeg_whose_header_pillow_refuses_is_named_not_a_keyerror(tmp_path: Path) -> None:
    """Pillow opens an MPO with its JPEG plugin; naming "MPO" as a plugin too made every
    JPEG whose header Pillow refused fail with a bare KeyError: "cannot read as JPEG: 'MPO'".
    """
    path = tmp_path / "bad.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x02" + b"\x00" * 40)
    with pytest.raises(SignalReadError) as caught:
        load(path)
    assert "'MPO'" not in str(caught.value)
    assert "bad.jpg: cannot read as JPEG: a damaged or truncated header" in str(caught.value)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_an_image_is_copied_band_by_band_into_what_pillow_gives(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    from convcli.io import pillow_image

    rng = np.random.default_rng(3)
    bands = len(mode)
    pixels = rng.integers(0, 256, (37, 29, bands), dtype=np.uint8)
    im = Image.fromarray(pixels[..., 0] if bands == 1 else pixels, mode)
    monkeypatch.setattr(pillow_image, "BAND_BYTES", 5 * 29 * bands)  # 5 rows a band
    arr, got_mode = pillow_image.image_to_array(im, Path("x.png"), copy=False)
    assert got_mode == mode
    np.testing.assert_array_equal(arr, np.asarray(im))
    assert arr.flags.writeable and arr.flags.c_contiguous
