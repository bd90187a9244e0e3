"""Damaged data is an error, never silent pixels (issue 15).

A decode that fails is one error line naming the file (exit 1) and no output; never what was
left in a half-filled buffer.
"""

from __future__ import annotations

import io
import struct
import zlib

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
