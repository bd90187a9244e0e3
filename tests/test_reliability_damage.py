"""Damaged files of every format through ``convcli filter``: an error line, or the true pixels.

Every case of ``tests/damage.py`` (format x damage point: cuts in the header, in the first
and the last data block and of the final bytes; bit flips in the header and the data) runs
through the real CLI, ``convcli filter FILE -k box:3 -o OUT``, and must end one of two ways:

- exit 1, exactly one stderr line ``convcli: error: FILE: ...``, no output and no temporary
  file (for a kernel file: exit 2, read before any input, and the line names the kernel);
- exit 0, where the format cannot tell the damage (raw samples, an uncompressed raster, a
  flip in entropy-coded data that the decoder takes), and then what ``convcli.io.load``
  gives is exactly what the trusted decoder gives for that damaged file (Pillow's own
  ``open`` and ``load``, ``soundfile.read``, ``numpy.load``; for kernels numpy, ``json``
  and soundfile).  When the trusted decoder raises, convcli must fail.

Nothing else reaches the process's stderr (libtiff's own lines are folded into convcli's).
Layer weights (``.npy``, ``.npz``) go through ``convcli features --weights`` the same way.
``convcli info`` on the same file may succeed (a header can be whole over a damaged body) but
never prints a traceback.  After the corpus: the bugs of issue 15 (items 1 and 3) and the
ways damage is heard, each with a test of its own.

The default run tries the fixed points; ``CONVCLI_DAMAGE_LONG=200 pytest
tests/test_reliability_damage.py`` adds 200 seeded random cuts and 200 random bit flips per
format (``CONVCLI_DAMAGE_SEED`` picks another seed).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke
from damage import ORIGINALS, TRUSTED, Damage, damages, rgb_tiff

from convcli.cli import safe_path

#: Random damage points per format (cuts, and as many bit flips) on top of the fixed ones.
EXTRA = int(os.environ.get("CONVCLI_DAMAGE_LONG", "0"))
SEED = int(os.environ.get("CONVCLI_DAMAGE_SEED", "0"))

CASES = [d for original in ORIGINALS for d in damages(original, EXTRA, SEED)]

#: Output extension per input extension (a filtered GIF is written as PNG: GIF is 8-bit
#: palette only, and the damage, not the GIF writer, is under test).
_OUT_EXT = {".gif": ".png"}


def _clean_inputs(folder: Path) -> dict[str, Path]:
    """A clean 2-D image and a clean mono WAV to apply damaged kernel files to."""
    import soundfile as sf
    from PIL import Image

    image = folder / "clean.png"
    rng = np.random.default_rng(11)
    Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8)).save(image)
    sound = folder / "clean.wav"
    sf.write(sound, rng.uniform(-0.5, 0.5, (500, 1)), 8000, subtype="PCM_16")
    return {"image": image, "audio": sound}


def _assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), what


def _one_line(res, code: int, names: str) -> str:
    assert res.exit_code == code, (res.exit_code, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("convcli: error: "), lines[0]
    assert names in lines[0], (names, lines[0])
    return lines[0]


def _trusted(damage: Damage, path: Path) -> tuple[np.ndarray | None, str | None]:
    try:
        return TRUSTED[damage.original.family](path), None
    except Exception as exc:  # noqa: BLE001 - whatever the trusted decoder raises
        return None, f"{type(exc).__name__}: {exc}"


def run_case(damage: Damage, folder: Path, after_cli: Callable[[], None] = lambda: None) -> str:
    """Run one damaged file through the CLI, assert the contract, say how it ended.

    ``after_cli`` runs right after the CLI, before the trusted decoder (which may print).
    """
    from convcli import io as cio

    original = damage.original
    path = folder / damage.name
    path.write_bytes(damage.apply())
    if original.family == "kernel":
        clean = _clean_inputs(folder)["audio" if original.ext == ".wav" else "image"]
        out = folder / f"out{clean.suffix}"
        res = invoke("filter", clean, "-k", f"@{path}", "-o", out)
        after_cli()
        trusted, refused = _trusted(damage, path)
        verdict = "trusted decoder refuses it" if refused else "trusted decoder accepts it"
        assert "Traceback" not in res.output, res.output
        if res.exit_code == 2:
            line = _one_line(res, 2, path.name)
            assert not out.exists()
            return f"usage error ({verdict}): {line.split(': ', 2)[-1].replace(f'{folder}/', '')}"
        from convcli.kernels import read_kernel_file

        assert refused is None, (res.exit_code, res.stderr, refused)
        _assert_same(read_kernel_file(str(path)), trusted, "kernel")
        if res.exit_code == 1:  # the kernel read as written; what it makes fails (NaN...)
            line = _one_line(res, 1, f"convcli: error: {safe_path(str(clean))}: ")
            return f"identical kernel, then: {line.split(': ', 3)[-1]}"
        assert res.exit_code == 0, (res.exit_code, res.stderr)
        return "identical kernel"
    if original.family == "weights":
        return _run_weights(damage, path, folder, after_cli)
    out = folder / f"out{_OUT_EXT.get(original.ext, original.ext)}"
    res = invoke("filter", path, "-k", "box:3", "-o", out)
    info = invoke("info", path)
    after_cli()
    trusted, refused = _trusted(damage, path)
    verdict = "trusted decoder refuses it" if refused else "trusted decoder accepts it"
    assert "Traceback" not in res.output, res.output
    assert "Traceback" not in info.output, info.output
    assert info.exit_code in (0, 1), (info.exit_code, info.output)
    if info.exit_code == 1:
        _one_line(info, 1, safe_path(str(path)))
    if res.exit_code != 0 or refused is not None:
        line = _one_line(res, 1, f"convcli: error: {safe_path(str(path))}: ")
        assert not out.exists()
        assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
        return f"error ({verdict}): {line.split(': ', 3)[-1]}"
    assert out.exists()
    assert trusted is not None
    _assert_same(cio.load(path).data, trusted, "convcli.io.load")
    if original.family == "audio":
        from convcli.io.sndfile_audio import AudioFileSource

        source = AudioFileSource(path)
        try:
            _assert_same(source.read(0, source.shape[0]), trusted, "AudioFileSource")
        finally:
            source.close()
    return "identical to the trusted decoder"


def _run_weights(damage: Damage, path: Path, folder: Path, after_cli: Callable[[], None]) -> str:
    """``convcli features CLEAN --weights DAMAGED``: exit 1 naming the file, or the same weights."""
    from convcli.features import load_weights

    clean = _clean_inputs(folder)["image"]
    out = folder / "maps"
    res = invoke("features", clean, "--weights", path, "-o", out)
    after_cli()
    trusted, refused = _trusted(damage, path)
    verdict = "trusted decoder refuses it" if refused else "trusted decoder accepts it"
    assert "Traceback" not in res.output, res.output
    if res.exit_code != 0 or refused is not None:
        line = _one_line(res, 1, f"convcli: error: {safe_path(str(path))}: ")
        assert not out.exists()
        return f"error ({verdict}): {line.split(': ', 3)[-1]}"
    layer = load_weights(path)
    parts = [layer.weight.ravel()] + ([layer.bias.ravel()] if layer.bias is not None else [])
    assert trusted is not None
    _assert_same(np.concatenate(parts), trusted, "load_weights")
    return "identical weights"


@pytest.mark.parametrize("damage", CASES, ids=[d.id for d in CASES])
def test_damaged_file(damage: Damage, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    def nothing_printed_beside() -> None:
        # what a C library writes to the process's stderr on its own (libtiff) is folded
        # into convcli's one line, never left beside it
        assert capfd.readouterr().err == ""

    capfd.readouterr()
    run_case(damage, tmp_path, nothing_printed_beside)


def test_the_corpus_covers_every_format_and_point():
    keys = {o.key for o in ORIGINALS}
    for key in [
        "png",
        "apng",
        "jpeg",
        "jpeg-progressive",
        "tiff-raw",
        "tiff-packbits",
        "tiff-lzw",
        "tiff-deflate",
        "tiff-adobe_deflate",
        "tiff-jpeg",
        "tiff-group4",
        "tiff-tiles-raw",
        "tiff-tiles-deflate",
        "bmp",
        "webp-lossy",
        "webp-lossless",
        "gif",
        "gif-animated",
        "ppm",
        "pgm",
        "wav-pcm16",
        "wav-pcm24",
        "wav-float",
        "flac",
        "ogg-vorbis",
        "aiff",
        "w64",
        "rf64",
        "caf",
        "au",
        "au-ulaw",
        "ircam",
        "nist",
        "voc",
        "paf",
        "svx",
        "pvf",
        "avr",
        "wve",
        "mp3",
        "npy",
        "kernel-txt",
        "kernel-csv",
        "kernel-json",
        "kernel-npy",
        "kernel-wav",
        "weights-npy",
        "weights-npz",
        "weights-npz-deflate",
    ]:
        assert key in keys, key
    for original in ORIGINALS:
        assert len(original.blocks) >= 1 and original.header[1] > original.header[0], original.key
        points = {d.point for d in damages(original)}
        assert {"cut-header", "cut-first", "cut-last", "flip-first", "flip-last"} <= points


def test_the_originals_load_as_the_trusted_decoder_gives_them(tmp_path):
    from convcli import io as cio
    from convcli.features import load_weights
    from convcli.kernels import read_kernel_file

    for original in ORIGINALS:
        path = tmp_path / f"{original.key}{original.ext}"
        path.write_bytes(original.data)
        want = TRUSTED[original.family](path)
        if original.family == "kernel":
            got = read_kernel_file(str(path))
        elif original.family == "weights":
            layer = load_weights(path)
            bias = [layer.bias] if layer.bias is not None else []
            got = np.concatenate([a.ravel() for a in [layer.weight, *bias]])
        else:
            got = cio.load(path).data
        _assert_same(got, want, original.key)


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


def test_the_tiff_writer_here_writes_tiffs_pillow_reads(tmp_path):
    from convcli import io as cio

    planes = np.random.default_rng(2).integers(0, 256, (2, 6, 7, 3), dtype=np.uint8)
    path = tmp_path / "multipage_rgb8.tif"
    path.write_bytes(rgb_tiff(planes))
    assert np.array_equal(cio.load(path).data, planes)


def test_a_float64_rgb_multipage_tiff_is_unsupported_not_damaged(tmp_path):
    planes = np.random.default_rng(2).normal(size=(2, 6, 7, 3))
    path = tmp_path / "multipage_rgb.tif"
    path.write_bytes(rgb_tiff(planes))
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
    path.write_bytes(rgb_tiff(planes))
    line = _one_line(invoke("filter", path, "-k", "box:3", "-o", tmp_path / "o.tif"), 1, "")
    assert words in line, line


def test_a_tiff_of_another_compression_says_which(tmp_path):
    planes = np.zeros((1, 4, 5, 3), np.uint8)
    data = bytearray(rgb_tiff(planes))
    at = data.find(struct.pack("<HHIH", 259, 3, 1, 1))
    data[at + 8 : at + 10] = struct.pack("<H", 34712)
    path = tmp_path / "j2k.tif"
    path.write_bytes(bytes(data))
    line = _one_line(invoke("info", path), 1, str(path))
    assert "TIFF with compression 34712 (JPEG 2000) is not read" in line, line


def test_a_damaged_tiff_directory_is_still_called_damaged(tmp_path):
    planes = np.random.default_rng(4).normal(size=(1, 4, 5, 3))
    data = rgb_tiff(planes)
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
