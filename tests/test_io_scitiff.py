"""The scientific TIFF family (tifffile): axes, metadata round trips, planes, hostile files.

Files are written by tifffile itself from seeded arrays and read back with tifffile as the
reference.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile")

from convcli.errors import SignalReadError  # noqa: E402
from convcli.io import LimitError, Limits  # noqa: E402
from convcli.io import tifffile_tiff as T  # noqa: E402

RNG = np.random.default_rng(12)


def ref(path):
    with tifffile.TiffFile(path) as t:
        return t.series[0].asarray(), t.series[0].axes


def test_identify():
    assert T.identify(b"II*\x00....") == T.identify(b"MM\x00+....") == "TIFF"
    assert T.identify(b"\x89PNG") is None


# --- which family reads a .tif -----------------------------------------------------------------


def test_claims_what_pillow_cannot_read_or_would_strip(tmp_path):
    cases = {
        "float64_rgb.tif": (RNG.random((2, 10, 12, 3)), {"photometric": "rgb"}, True),
        "rgb16.tif": (RNG.integers(0, 65535, (20, 30, 3), dtype=np.uint16), {}, True),
        "gray8_stack.tif": (RNG.integers(0, 255, (3, 20, 30), dtype=np.uint8), {}, False),
        "gray16.tif": (RNG.integers(0, 65535, (20, 30), dtype=np.uint16), {}, False),
        "rgb8.tif": (RNG.integers(0, 255, (20, 30, 3), dtype=np.uint8), {}, False),
        "imagej.tif": (RNG.integers(0, 255, (3, 20, 30), dtype=np.uint8), {"imagej": True}, True),
        "ome.ome.tif": (RNG.random((3, 20, 30)).astype(np.float32), {"ome": True}, True),
        "lerc.tif": (RNG.random((20, 30)).astype(np.float32), {"compression": "lerc"}, True),
        # A layout Pillow reads, as BigTIFF: read page by page here and written back as BigTIFF
        "big16.tif": (RNG.integers(0, 65535, (3, 20, 30), np.uint16), {"bigtiff": True}, True),
    }
    for name, (data, kwargs, expected) in cases.items():
        kwargs.setdefault("photometric", "rgb" if data.ndim == 3 and data.shape[-1] == 3 else None)
        if kwargs["photometric"] is None:
            kwargs["photometric"] = "minisblack"
        tifffile.imwrite(tmp_path / name, data, **kwargs)
        assert T.claims(tmp_path / name) is expected, name


# --- loading -----------------------------------------------------------------------------------


def test_float64_rgb_multipage_loads(tmp_path):
    """The layout of scikit-image's multipage_rgb.tif, which Pillow cannot read."""
    data = RNG.random((2, 10, 12, 3))
    tifffile.imwrite(tmp_path / "m.tif", data, photometric="rgb")
    s = T.read_tiff(tmp_path / "m.tif")
    assert s.kind == "volume" and s.channel_axis == 3 and s.form.mode == "RGB"
    np.testing.assert_array_equal(s.data, data)
    assert T.probe_tiff(tmp_path / "m.tif")["shape"] == [2, 10, 12, 3]


def test_sixteen_bit_rgb(tmp_path):
    data = RNG.integers(0, 65535, (20, 30, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c.tif", data, photometric="rgb")
    s = T.read_tiff(tmp_path / "c.tif")
    assert s.kind == "image" and s.data.dtype == np.uint16 and s.channel_axis == 2
    np.testing.assert_array_equal(s.data, data)
    T.write_tiff(s, tmp_path / "o.tif")
    np.testing.assert_array_equal(ref(tmp_path / "o.tif")[0], data)


def test_tiled_deflate_round_trip(tmp_path):
    data = RNG.integers(0, 4000, (3, 40, 50), dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "t.tif", data, tile=(16, 16), compression="zlib", photometric="minisblack"
    )
    s = T.read_tiff(tmp_path / "t.tif")
    np.testing.assert_array_equal(s.data, data)
    T.write_tiff(s, tmp_path / "o.tif")
    with tifffile.TiffFile(tmp_path / "o.tif") as t:
        page = t.pages.first
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (16, 16)
        assert page.compression == tifffile.TiffFile(tmp_path / "t.tif").pages.first.compression
        np.testing.assert_array_equal(t.asarray(), data)


def test_imagej_hyperstack_axes_and_metadata(tmp_path):
    data = RNG.integers(0, 4000, (2, 3, 2, 20, 30), dtype=np.uint16)  # TZCYX
    meta = {"axes": "TZCYX", "spacing": 2.5, "unit": "um", "finterval": 0.5}
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata=meta, resolution=(2.0, 2.0))
    s = T.read_tiff(tmp_path / "h.tif")
    assert s.kind == "volume" and s.data.shape == (3, 20, 30, 4) and s.form.mode is None
    for t, z, c in np.ndindex(2, 3, 2):  # channel t * C + c of plane z
        np.testing.assert_array_equal(s.data[z, :, :, t * 2 + c], data[t, z, c])
    assert s.form.spacing == (2.5, 0.5, 0.5) and s.form.units == ("um", "um", "um")
    T.write_tiff(s, tmp_path / "o.tif")
    back, axes = ref(tmp_path / "o.tif")
    assert axes == "TZCYX"
    np.testing.assert_array_equal(back, data)
    with tifffile.TiffFile(tmp_path / "o.tif") as t:
        ij = t.imagej_metadata
        assert (ij["spacing"], ij["finterval"], ij["frames"], ij["slices"]) == (2.5, 0.5, 2, 3)
        assert ij["unit"] in ("micron", "um") and t.pages.first.resolution == (2.0, 2.0)


def test_ome_metadata_regenerated_with_the_shape(tmp_path):
    data = RNG.random((4, 2, 20, 30)).astype(np.float32)  # ZCYX
    meta = {
        "axes": "ZCYX",
        "PhysicalSizeX": 0.5,
        "PhysicalSizeY": 0.5,
        "PhysicalSizeZ": 2.0,
        "Channel": {"Name": ["dapi", "gfp"]},
    }
    tifffile.imwrite(tmp_path / "a.ome.tif", data, ome=True, metadata=meta)
    s = T.read_tiff(tmp_path / "a.ome.tif")
    assert s.data.shape == (4, 20, 30, 2) and s.form.spacing == (2.0, 0.5, 0.5)
    # a stride of 2 along planes, as the job layer will pass it: half the planes, twice apart
    form = replace(s.form, spacing=(4.0, 0.5, 0.5))
    T.write_tiff(replace(s, data=s.data[::2], form=form), tmp_path / "o.ome.tif")
    back, axes = ref(tmp_path / "o.ome.tif")
    assert axes == "ZCYX"
    np.testing.assert_array_equal(back, data[::2])
    with tifffile.TiffFile(tmp_path / "o.ome.tif") as t:
        pixels = tifffile.xml2dict(t.ome_metadata)["OME"]["Image"]["Pixels"]
    assert (pixels["SizeZ"], pixels["SizeC"], pixels["PhysicalSizeZ"]) == (2, 2, 4.0)
    assert [c["Name"] for c in pixels["Channel"]] == ["dapi", "gfp"]


def test_bigtiff_kept_and_chosen_past_4_gib(tmp_path):
    data = RNG.integers(0, 255, (3, 20, 30), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "b.tif", data, bigtiff=True, photometric="minisblack")
    s = T.read_tiff(tmp_path / "b.tif")
    T.write_tiff(s, tmp_path / "o.tif")
    with tifffile.TiffFile(tmp_path / "o.tif") as t:
        assert t.is_bigtiff
        np.testing.assert_array_equal(t.asarray(), data)
    plain = replace(s.form, info={**s.form.info, "bigtiff": False})
    assert T._options(plain, "ZYX", np.dtype(np.uint8), 1 << 20)["bigtiff"] is False
    assert T._options(plain, "ZYX", np.dtype(np.uint8), 5 << 30)["bigtiff"] is True


def test_resolution_tags_give_spacing(tmp_path):
    data = RNG.integers(0, 65535, (20, 30, 3), dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "s.tif", data, photometric="rgb", resolution=(254.0, 254.0), resolutionunit=2
    )
    s = T.read_tiff(tmp_path / "s.tif")  # 254 pixels per inch: 0.1 mm
    assert s.form.spacing == pytest.approx((0.1, 0.1)) and s.form.units == ("mm", "mm")
    T.write_tiff(s, tmp_path / "o.tif")
    with tifffile.TiffFile(tmp_path / "o.tif") as t:
        assert t.pages.first.resolution == pytest.approx((254.0, 254.0))


# --- planes, streamed ----------------------------------------------------------------------------


def test_rows_and_block_writer_equal_the_whole(tmp_path):
    data = RNG.integers(0, 4000, (2, 5, 2, 20, 30), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    whole = T.read_tiff(tmp_path / "h.tif")
    with T.open_tiff(tmp_path / "h.tif") as rows:
        assert rows.shape == whole.data.shape and rows.dtype == whole.data.dtype
        writer = T.tiff_writer(tmp_path / "o.tif", rows.signal)
        with writer:
            for start in range(0, 5, 2):
                block = rows.read(start, min(start + 2, 5))
                np.testing.assert_array_equal(block, whole.data[start : start + 2])
                writer.write(block)
    back, axes = ref(tmp_path / "o.tif")
    assert axes == "TZCYX"
    np.testing.assert_array_equal(back, data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.tif", "o.tif"]  # no staging left


def test_writer_abort_leaves_nothing(tmp_path):
    data = RNG.integers(0, 255, (3, 20, 30), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", data, imagej=True)
    s = T.read_tiff(tmp_path / "a.tif")
    w = T.tiff_writer(tmp_path / "o.tif", s)
    w.write(s.data[:1])
    w.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


def test_changed_channels_are_written_plainly(tmp_path):
    data = RNG.integers(0, 4000, (3, 2, 20, 30), dtype=np.uint16)  # ZCYX
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": "ZCYX"})
    s = T.read_tiff(tmp_path / "h.tif")
    mean = s.data.mean(axis=-1).astype(np.uint16)  # one channel left
    T.write_tiff(replace(s, data=mean, channel_axis=None), tmp_path / "o.tif")
    back, axes = ref(tmp_path / "o.tif")
    assert axes == "ZYX"
    np.testing.assert_array_equal(back, mean)


# --- hostile -------------------------------------------------------------------------------------


def test_strips_past_the_end_of_the_file(tmp_path):
    import struct

    data = np.arange(2 * 20 * 30, dtype=np.uint16).reshape(2, 20, 30)
    tifffile.imwrite(tmp_path / "s.tif", data, photometric="minisblack", rowsperstrip=5)
    with tifffile.TiffFile(tmp_path / "s.tif") as t:
        tag = t.pages.first.tags[273]
        offsets = list(t.pages.first.dataoffsets)
    raw = bytearray((tmp_path / "s.tif").read_bytes())
    offsets[1] = 10**6
    struct.pack_into("<" + "I" * len(offsets), raw, tag.valueoffset, *offsets)
    (tmp_path / "bad.tif").write_bytes(bytes(raw))
    for call in (T.read_tiff, T.probe_tiff, T.open_tiff):
        with pytest.raises(SignalReadError) as exc:
            call(tmp_path / "bad.tif")
        text = str(exc.value)
        assert "\n" not in text and "strip 1 at byte 1000000" in text
        assert "lies past the end of the file" in text


def test_damaged_compressed_strip(tmp_path):
    data = RNG.integers(0, 4000, (3, 40, 50), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "z.tif", data, compression="zlib", photometric="minisblack")
    with tifffile.TiffFile(tmp_path / "z.tif") as t:
        at = t.pages[1].dataoffsets[0]
    raw = bytearray((tmp_path / "z.tif").read_bytes())
    for k in range(10):
        raw[at + 20 + k] ^= 0x55
    (tmp_path / "bad.tif").write_bytes(bytes(raw))
    with pytest.raises(SignalReadError, match="cannot read TIFF"):
        T.read_tiff(tmp_path / "bad.tif")
    with T.open_tiff(tmp_path / "bad.tif") as rows:
        rows.read(0, 1)
        with pytest.raises(SignalReadError, match="cannot read TIFF"):
            rows.read(1, 2)


def test_budgets_from_the_header(tmp_path):
    data = RNG.integers(0, 255, (2, 5, 2, 20, 30), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    with pytest.raises(LimitError, match="max_pixels"):
        T.probe_tiff(tmp_path / "h.tif", limits=Limits(max_pixels=100))
    with pytest.raises(LimitError, match="max_frames"):
        T.read_tiff(tmp_path / "h.tif", limits=Limits(max_frames=4))  # 5 planes
    with pytest.raises(LimitError, match="max_channels"):
        T.open_tiff(tmp_path / "h.tif", limits=Limits(max_channels=1))


def test_gray_only_for_colour(tmp_path):
    data = RNG.integers(0, 255, (3, 2, 20, 30), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(SignalReadError, match="are not colours"):
        T.read_tiff(tmp_path / "h.tif", gray=True)
    rgb = RNG.integers(0, 65535, (20, 30, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb")
    assert T.read_tiff(tmp_path / "c.tif", gray=True).data.shape == (20, 30)


def test_without_tifffile_one_line_names_the_extra(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "a.tif", RNG.random((4, 5)))
    monkeypatch.setitem(sys.modules, "tifffile", None)
    with pytest.raises(SignalReadError, match=r"pip install 'convcli\[volumes\]'"):
        T.read_tiff(tmp_path / "a.tif")


def test_array_kind_round_trip(tmp_path):
    data = RNG.integers(0, 4000, (2, 3, 2, 20, 30), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    s = T.read_tiff(tmp_path / "h.tif", "array")
    assert s.kind == "array" and s.data.shape == data.shape
    T.write_tiff(s, tmp_path / "o.tif")
    back, axes = ref(tmp_path / "o.tif")
    assert axes == "TZCYX"
    np.testing.assert_array_equal(back, data)


def test_time_points_of_a_hyperstack_count_as_frames(tmp_path):
    data = RNG.integers(0, 255, (6, 2, 20, 30), dtype=np.uint8)  # TZYX: 2 planes, 6 times
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": "TZYX"})
    with pytest.raises(LimitError, match="6 volumes in the series, more than the limit of 4"):
        T.probe_tiff(tmp_path / "h.tif", limits=Limits(max_frames=4))
    with pytest.raises(LimitError, match="7200 voxels in all"):
        T.probe_tiff(tmp_path / "h.tif", limits=Limits(max_voxels=5000))
