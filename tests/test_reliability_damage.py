"""Damaged data is an error, never silent pixels (issue 15).

A decode that fails is one error line naming the file (exit 1) and no output; never what was
left in a half-filled buffer.  A decode that succeeds only by repairing the file (a Pillow
warning, a libtiff error line) is an error too, and what libtiff prints on its own is folded
into convcli's one line, never left on the process's stderr.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke


def _one_line(res, code: int, names: str) -> str:
    assert res.exit_code == code, (res.exit_code, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("convcli: error: "), lines[0]
    assert names in lines[0], (names, lines[0])
    return lines[0]


# ------------------------------------------------------------- the bugs of issue 15, item 1


def _png_with_damaged_idat() -> tuple[bytes, np.ndarray]:
    """An RGB PNG whose compressed pixel data has one byte changed (its CRC left stale)."""
    from PIL import Image

    arr = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    idat = data.find(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + length // 2] ^= 0xFF
    return bytes(data), arr


def test_a_png_with_damaged_pixel_data_is_an_error_not_black_pixels(tmp_path):
    data, _ = _png_with_damaged_idat()
    path = tmp_path / "damaged.png"
    path.write_bytes(data)
    out = tmp_path / "out.png"
    res = invoke("filter", path, "-k", "box:3", "-o", out)
    line = _one_line(res, 1, f"convcli: error: {path}: ")
    assert "broken data stream" in line, line
    assert not out.exists()


def test_a_png_with_damaged_pixel_data_raises_from_load(tmp_path):
    from convcli import io as cio
    from convcli.errors import SignalReadError

    data, _ = _png_with_damaged_idat()
    path = tmp_path / "damaged.png"
    path.write_bytes(data)
    with pytest.raises(SignalReadError, match="damaged.png: .*broken data stream"):
        cio.load(path)


def test_info_on_a_png_with_damaged_pixel_data_reads_the_header_only(tmp_path):
    """``info`` decodes no pixel: a damaged body does not stop it (nor print a traceback)."""
    import json

    data, _ = _png_with_damaged_idat()
    path = tmp_path / "damaged.png"
    path.write_bytes(data)
    res = invoke("info", path, "--json")
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    assert record["shape"] == [40, 50, 3] and record["status"] == "ok"


def test_a_damaged_png_with_exif_after_the_pixels_is_an_error(tmp_path):
    """An eXIf chunk after IDAT: finding the orientation decodes the pixels, which fail."""
    from PIL import Image

    arr = np.random.default_rng(1).integers(0, 256, (30, 20, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    png = buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = exif.tobytes()
    chunk = struct.pack(">I", len(raw)) + b"eXIf" + raw
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + raw) & 0xFFFFFFFF)
    iend = png.rfind(b"IEND") - 4
    good = png[:iend] + chunk + png[iend:]
    path = tmp_path / "exif-after.png"
    path.write_bytes(good)
    from convcli import io as cio

    assert cio.load(path).data.shape == (20, 30, 3)  # turned by the late orientation
    bad = bytearray(good)
    idat = bad.find(b"IDAT")
    bad[idat + 40] ^= 0x5A
    path.write_bytes(bytes(bad))
    res = invoke("filter", path, "-k", "box:3", "-o", tmp_path / "out.png")
    _one_line(res, 1, f"convcli: error: {path}: ")


# ------------------------------------------------------------- how damage is heard


def _deflate_tiff_with_damaged_strip(path: Path) -> None:
    from PIL import Image

    arr = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="TIFF", compression="tiff_adobe_deflate")
    data = bytearray(buf.getvalue())
    with Image.open(io.BytesIO(bytes(data))) as im:
        start = im.tag_v2[273][0]
        size = im.tag_v2[279][0]
    data[start + size // 2] ^= 0x55
    path.write_bytes(bytes(data))


def test_what_libtiff_prints_is_folded_into_the_one_line(tmp_path, capfd):
    path = tmp_path / "damaged-deflate.tif"
    _deflate_tiff_with_damaged_strip(path)
    capfd.readouterr()
    res = invoke("filter", path, "-k", "box:3", "-o", tmp_path / "out.tif")
    assert capfd.readouterr().err == ""  # nothing on the process's own stderr
    line = _one_line(res, 1, f"convcli: error: {path}: ")
    assert "libtiff: ZIPDecode: Decoding error" in line, line


def test_a_fax_strip_that_libtiff_decodes_with_errors_is_refused(tmp_path, capfd):
    """libtiff fills what it could not decode and Pillow returns pixels: still an error."""
    from PIL import Image

    bits = np.random.default_rng(4).random((40, 48)) > 0.5
    buf = io.BytesIO()
    Image.fromarray(bits).save(buf, format="TIFF", compression="group4")
    data = bytearray(buf.getvalue())
    with Image.open(io.BytesIO(bytes(data))) as im:
        start, size = im.tag_v2[273][0], im.tag_v2[279][0]
    path = tmp_path / "fax.tif"
    for offset in range(start + 2, start + size - 2):
        damaged = bytearray(data)
        damaged[offset] ^= 0x10
        path.write_bytes(bytes(damaged))
        with Image.open(path) as im:
            try:
                im.load()  # Pillow itself: does it hand back pixels?
            except OSError:
                continue
        break
    else:
        pytest.skip("no flip that Pillow decodes with libtiff errors")
    capfd.readouterr()
    res = invoke("filter", path, "-k", "box:3", "-o", tmp_path / "out.tif")
    assert capfd.readouterr().err == ""
    line = _one_line(res, 1, f"convcli: error: {path}: ")
    assert "damaged TIFF" in line and "Fax4Decode" in line, line


def test_load_truncated_images_set_by_a_caller_is_not_obeyed(tmp_path):
    from PIL import ImageFile

    from convcli import io as cio
    from convcli.errors import SignalReadError

    data, _ = _png_with_damaged_idat()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(SignalReadError, match="truncated"):
            cio.load(path)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is put back
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def test_an_apng_whose_animation_control_is_damaged_is_an_error(tmp_path):
    """Pillow warns "Invalid APNG" and reads the default image: a repair, so an error."""
    from PIL import Image

    frames = [Image.fromarray(np.full((8, 9), 40 * i, np.uint8)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="PNG", save_all=True, append_images=frames[1:])
    data = buf.getvalue()
    at = data.find(b"acTL") - 4
    length = struct.unpack(">I", data[at : at + 4])[0]
    body = struct.pack(">II", 0, 0)  # zero frames: invalid
    data = data[:at] + _png_chunk(b"acTL", body) + data[at + 12 + length :]
    path = tmp_path / "anim.png"
    path.write_bytes(data)
    res = invoke("filter", path, "-k", "box:3", "-o", tmp_path / "out.png")
    line = _one_line(res, 1, f"convcli: error: {path}: ")
    assert "damaged PNG: Invalid APNG" in line, line


def test_a_jpeg_with_a_malformed_mpo_index_is_an_error(tmp_path):
    from PIL import Image

    arr = np.random.default_rng(5).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    jpg = buf.getvalue()
    body = b"MPF\x00" + b"not a TIFF header"
    app2 = b"\xff\xe2" + struct.pack(">H", len(body) + 2) + body
    path = tmp_path / "bad-mpo.jpg"
    path.write_bytes(jpg[:2] + app2 + jpg[2:])
    res = invoke("filter", path, "-k", "box:3", "-o", tmp_path / "out.jpg")
    line = _one_line(res, 1, f"convcli: error: {path}: ")
    assert "malformed MPO" in line, line


def test_complaints_pillow_logs_are_an_error_not_a_stray_line(tmp_path):
    import logging

    from convcli.errors import SignalReadError
    from convcli.io._watch import watched

    with pytest.raises(SignalReadError, match="x.tif: damaged TIFF: More samples per pixel"):
        with watched(tmp_path / "x.tif", "TIFF"):
            logging.getLogger("PIL.TiffImagePlugin").error("More samples per pixel: %s", 11)


def test_damaged_exif_is_dropped_without_an_error(tmp_path):
    """EXIF is parsed from bytes already read: a damaged block is metadata, dropped."""
    from PIL import Image

    from convcli import io as cio

    arr = np.random.default_rng(6).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "a camera maker"
    raw = bytearray(exif.tobytes())
    raw[-6:] = b"\xff" * 6  # the maker's string cut short / overwritten
    raw[18:22] = struct.pack("<I", 0x7FFFFFF0)  # an entry's offset far past the block
    for fmt, ext in (("PNG", ".png"), ("WEBP", ".webp")):
        path = tmp_path / f"exif{ext}"
        Image.fromarray(arr).save(path, format=fmt, exif=bytes(raw), lossless=True)
        assert cio.load(path).data.shape[2] == 3


# ------------------------------------------------------------- capturing descriptor 2


def test_captured_stderr_takes_what_is_written_to_descriptor_2(capfd):
    from convcli.io._capture import captured_stderr

    capfd.readouterr()
    with captured_stderr() as outer:
        os.write(2, b"outer 1\n")
        with captured_stderr() as inner:
            os.write(2, b"inner\n")
        os.write(2, b"outer 2\n")
    os.write(2, b"after\n")
    assert inner.text == "inner\n"
    assert outer.text == "outer 1\nouter 2\n"
    assert capfd.readouterr().err == "after\n"  # descriptor 2 is back where it was
    with captured_stderr(enabled=False) as off:
        os.write(2, b"shown\n")
    assert off.text == "" and capfd.readouterr().err == "shown\n"


def test_captured_stderr_from_two_threads_keeps_each_text_apart():
    import threading

    from convcli.io._capture import captured_stderr

    texts: dict[str, str] = {}

    def work(tag: str) -> None:
        for _ in range(20):
            with captured_stderr() as err:
                os.write(2, tag.encode() * 3)
            texts.setdefault(tag, "")
            texts[tag] += err.text

    threads = [threading.Thread(target=work, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert texts == {"a": "aaa" * 20, "b": "bbb" * 20}


def test_captured_stderr_with_descriptor_2_closed_captures_nothing_and_fails_nothing():
    import subprocess
    import sys

    code = (
        "import os\n"
        "os.close(2)\n"
        "from convcli.io._capture import captured_stderr\n"
        "with captured_stderr() as e:\n"
        "    pass\n"
        "print(repr(e.text))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "''", out


def test_a_valid_compressed_tiff_with_private_tags_is_read(tmp_path, capfd):
    """Tags libtiff does not know (GeoTIFF's, private ones) are metadata: no error."""
    from PIL import Image, TiffImagePlugin

    from convcli import io as cio

    arr = np.random.default_rng(7).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[50000] = "private"
    tags.tagtype[50000] = 2
    tags[33550] = (0.5, 0.5, 0.0)  # GeoTIFF ModelPixelScale
    tags.tagtype[33550] = 12
    for compression in ("tiff_adobe_deflate", "tiff_lzw", "packbits", "jpeg"):
        path = tmp_path / f"tags-{compression}.tif"
        Image.fromarray(arr).save(path, compression=compression, tiffinfo=tags)
        capfd.readouterr()
        got = cio.load(path).data
        assert capfd.readouterr().err == ""
        with Image.open(path) as im:
            assert np.array_equal(got, np.array(im))


# ------------------------------------------------------------- issue 15, item 3


def _rgb_tiff(planes: np.ndarray) -> bytes:
    """A valid multi-page RGB TIFF of ``(pages, rows, cols, 3)`` in ``planes``' own dtype.

    Written byte by byte, as a float64 stack like scikit-image's ``multipage_rgb.tif`` must
    be (Pillow writes none): little-endian, uncompressed, one strip per page, chunky RGB,
    BitsPerSample the dtype's bits three times, SampleFormat 3 (IEEE float) or 1 (unsigned)
    three times, SamplesPerPixel 3; every tag as the TIFF 6.0 spec writes it.
    """
    _, rows, cols, channels = planes.shape
    bits = planes.dtype.itemsize * 8
    sample_format = 3 if planes.dtype.kind == "f" else 1
    out = bytearray(b"II*\x00" + struct.pack("<I", 0))
    first_ifd_at = 4
    for plane in planes.astype(planes.dtype.newbyteorder("<")):
        pixels = plane.tobytes()
        strip_at = len(out)
        out += pixels
        bps_at = len(out)
        out += struct.pack("<3H", bits, bits, bits)
        fmt_at = len(out)
        out += struct.pack("<3H", sample_format, sample_format, sample_format)
        if len(out) % 2:
            out += b"\x00"
        ifd_at = len(out)
        struct.pack_into("<I", out, first_ifd_at, ifd_at)
        tags = [
            (256, 4, 1, struct.pack("<I", cols)),
            (257, 4, 1, struct.pack("<I", rows)),
            (258, 3, 3, struct.pack("<I", bps_at)),
            (259, 3, 1, struct.pack("<H", 1)),
            (262, 3, 1, struct.pack("<H", 2)),
            (273, 4, 1, struct.pack("<I", strip_at)),
            (277, 3, 1, struct.pack("<H", channels)),
            (278, 4, 1, struct.pack("<I", rows)),
            (279, 4, 1, struct.pack("<I", len(pixels))),
            (284, 3, 1, struct.pack("<H", 1)),
            (339, 3, 3, struct.pack("<I", fmt_at)),
        ]
        out += struct.pack("<H", len(tags))
        for tag, kind, n, value in tags:
            out += struct.pack("<HHI", tag, kind, n) + value.ljust(4, b"\x00")
        first_ifd_at = len(out)
        out += struct.pack("<I", 0)  # the next IFD's offset, patched by the next page
    return bytes(out)


def test_the_tiff_writer_here_writes_tiffs_pillow_reads(tmp_path):
    from convcli import io as cio

    planes = np.random.default_rng(2).integers(0, 256, (2, 6, 7, 3), dtype=np.uint8)
    path = tmp_path / "multipage_rgb8.tif"
    path.write_bytes(_rgb_tiff(planes))
    assert np.array_equal(cio.load(path).data, planes)


def test_a_float64_rgb_multipage_tiff_is_unsupported_not_damaged(tmp_path):
    planes = np.random.default_rng(2).normal(size=(2, 6, 7, 3))
    path = tmp_path / "multipage_rgb.tif"
    path.write_bytes(_rgb_tiff(planes))
    res = invoke("filter", path, "-k", "box:3", "-o", tmp_path / "out.tif")
    line = _one_line(res, 1, f"convcli: error: {path}: ")
    assert "TIFF with 3 float64 samples per pixel is not read" in line, line
    assert "convert it to .npy" in line, line
    assert "damaged" not in line and "truncated" not in line, line
    res = invoke("info", path)
    line = _one_line(res, 1, str(path))
    assert "3 float64 samples per pixel is not read" in line, line


@pytest.mark.parametrize(
    ("dtype", "words"),
    [
        (np.float32, "TIFF with 3 float32 samples per pixel is not read"),
        (np.uint32, "TIFF with 3 uint32 samples per pixel is not read"),
    ],
)
def test_other_rgb_layouts_pillow_does_not_read_say_what_they_hold(tmp_path, dtype, words):
    planes = (np.random.default_rng(3).random((1, 4, 5, 3)) * 1000).astype(dtype)
    path = tmp_path / "rgb.tif"
    path.write_bytes(_rgb_tiff(planes))
    line = _one_line(invoke("filter", path, "-k", "box:3", "-o", tmp_path / "o.tif"), 1, "")
    assert words in line, line


def test_a_tiff_of_another_compression_says_which(tmp_path):
    planes = np.zeros((1, 4, 5, 3), np.uint8)
    data = bytearray(_rgb_tiff(planes))
    at = data.find(struct.pack("<HHIH", 259, 3, 1, 1))
    data[at + 8 : at + 10] = struct.pack("<H", 34712)
    path = tmp_path / "j2k.tif"
    path.write_bytes(bytes(data))
    line = _one_line(invoke("info", path), 1, str(path))
    assert "TIFF with compression 34712 (JPEG 2000) is not read" in line, line


def test_a_damaged_tiff_directory_is_still_called_damaged(tmp_path):
    planes = np.random.default_rng(4).normal(size=(1, 4, 5, 3))
    data = _rgb_tiff(planes)
    path = tmp_path / "cut.tif"
    path.write_bytes(data[: len(data) - 40])  # the directory, at the end, is cut
    line = _one_line(invoke("info", path), 1, str(path))
    assert "a damaged or truncated header" in line and "is not read" not in line, line


# ------------------------------------------------------------- audio and impulse responses


def _sound(tmp_path: Path, name: str, fmt: str, subtype: str, channels: int = 1) -> Path:
    import soundfile as sf

    t = np.arange(4000) / 8000.0
    data = np.stack([0.5 * np.sin(2 * np.pi * 440 * (i + 1) * t) for i in range(channels)], 1)
    path = tmp_path / name
    sf.write(path, data, 8000, format=fmt, subtype=subtype)
    return path


def test_a_cut_impulse_response_is_a_usage_error_not_a_shorter_kernel(tmp_path):
    """libsndfile reads what is left of a cut WAV; an input so cut is refused, so is a kernel."""
    ir = _sound(tmp_path, "ir.wav", "WAV", "PCM_16")
    data = ir.read_bytes()
    ir.write_bytes(data[: len(data) - 1001])
    signal = _sound(tmp_path, "in.wav", "WAV", "PCM_16")
    res = invoke("filter", signal, "-k", ir, "-o", tmp_path / "out.wav")
    line = _one_line(res, 2, "ir.wav")
    assert "truncated: the header says 4000 frames but the file holds 3499" in line, line
    assert not (tmp_path / "out.wav").exists()


def test_an_ogg_with_a_cut_last_page_says_it_may_be_damaged(tmp_path):
    path = _sound(tmp_path, "in.ogg", "OGG", "VORBIS")
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    res = invoke("filter", path, "-k", "box:3", "-o", tmp_path / "out.ogg")
    line = _one_line(res, 1, f"convcli: error: {path}: ")
    assert "a page is damaged or cut off" in line, line


# ------------------------------------------------------------- layer weights (features)


def _weights_files(tmp_path: Path) -> dict[str, bytes]:
    weight = np.random.default_rng(8).normal(size=(4, 3, 3)).astype(np.float32)
    out = {}
    for name, save in (("w.npz", np.savez), ("wz.npz", np.savez_compressed)):
        buf = io.BytesIO()
        save(buf, weight=weight, bias=np.arange(4.0))
        out[name] = buf.getvalue()
    buf = io.BytesIO()
    np.save(buf, weight)
    out["w.npy"] = buf.getvalue()
    return out


def _member_data(data: bytes, name: str) -> int:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 :][:4])
    return info.header_offset + 30 + name_len + extra_len


def _damaged_weights(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    files = _weights_files(tmp_path)
    npz, npzc, npy = files["w.npz"], files["wz.npz"], files["w.npy"]
    crc = bytearray(npz)
    crc[_member_data(npz, "weight.npy") + 100] ^= 0x40  # a value: only the CRC-32 tells
    deflate = bytearray(npzc)
    deflate[_member_data(npzc, "weight.npy") + 10] ^= 0x10
    method = bytearray(npz)
    method[npz.find(b"PK\x01\x02") + 10] = 99  # the central directory's method: unknown
    header = bytearray(npy)
    header[97] = ord("(")  # an unclosed bracket in the padding: a tokenize error
    return [
        ("crc.npz", bytes(crc), "Bad CRC-32"),
        ("deflate.npz", bytes(deflate), "cannot read an array"),
        ("method.npz", bytes(method), "compression method"),
        ("cut.npy", npy[:-9], "is truncated: the header says 4x3x3 float32"),
        ("header.npy", bytes(header), "is not a readable .npy array"),
    ]


def test_damaged_weights_are_one_line_never_a_traceback(tmp_path):
    from PIL import Image

    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((12, 10), np.uint8)).save(image)
    for name, data, words in _damaged_weights(tmp_path):
        path = tmp_path / name
        path.write_bytes(data)
        res = invoke("features", image, "--weights", path, "-o", tmp_path / f"maps-{name}")
        assert res.exception is None or isinstance(res.exception, SystemExit), (name, res)
        line = _one_line(res, 1, f"convcli: error: {path}: ")
        assert words in line, (name, line)
        assert not (tmp_path / f"maps-{name}").exists()
