"""Video, scientific TIFF and NIfTI through the CLI (issue 12): values, metadata, streaming.

Every file is made here by the library that owns the format (PyAV, tifffile, nibabel) from
seeded arrays, small enough that the file runs in seconds.  Values are compared with the
engine (or the tap-by-tap oracle) on what the owning library decodes: exactly for lossless
outputs, after decoding what was written for lossy ones.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from _reference import reference_correlate
from conftest import assert_one_error_line, invoke, leftovers

from convcli import convolve, make_kernel

PAD_MODES = ["zero", "constant", "reflect", "symmetric", "replicate", "circular"]


def _run(*args: object) -> dict:
    """``convcli filter ARGS --json``: exit 0, the one record."""
    res = invoke("filter", *args, "--json")
    assert res.exit_code == 0, (res.exit_code, res.stderr)
    return json.loads(res.stdout)


def _u8(y: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------ video


@pytest.fixture
def video():
    """PyAV and test_io_video's makers (skipped without the ``video`` extra)."""
    av = pytest.importorskip("av")
    import test_io_video as tv

    return av, tv


def _decoded(av, path: Path, fmt: str = "rgb24") -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format=fmt) for f in c.decode(video=0)])


def test_lossless_video_is_the_engine_exactly(video, tmp_path):
    av, tv = video
    src = tmp_path / "a.mkv"
    given = tv.make_video(src, "ffv1", "bgr0")
    k = np.random.default_rng(1).random((3, 3, 3)) / 6
    np.save(tmp_path / "k.npy", k)
    rec = _run(src, "-k", tmp_path / "k.npy", "--method", "direct", "-o", tmp_path / "b.mkv")
    assert rec["streamed"] is True and rec["rate_out"] == tv.RATE
    assert rec["written"].startswith("FFV1 lossless")
    want = _u8(convolve(given, k, pad_mode="reflect", channel_axis=3, method="direct"))
    np.testing.assert_array_equal(_decoded(av, tmp_path / "b.mkv"), want)


def test_lossy_video_after_decoding_what_was_written(video, tmp_path):
    av, tv = video
    src = tmp_path / "a.mp4"
    tv.make_video(src, "libx264", "yuv420p", audio=True)
    frames = _decoded(av, src)  # what the H.264 stream holds, as PyAV decodes it
    want = _u8(convolve(frames, make_kernel("box:3", 3), pad_mode="reflect", channel_axis=3))
    rec = _run(src, "-k", "box:3", "-o", tmp_path / "exact.mkv")  # FFV1: nothing lost
    assert rec["written"].startswith("FFV1 lossless")
    np.testing.assert_array_equal(_decoded(av, tmp_path / "exact.mkv"), want)
    rec = _run(src, "-k", "box:3", "-o", tmp_path / "b.mp4")  # H.264 again: crf 18
    assert rec["written"].startswith("H.264 (libx264) crf 18")
    got = _decoded(av, tmp_path / "b.mp4").astype(float)
    psnr = 10 * np.log10(255**2 / np.mean((got - want) ** 2))
    assert psnr > 35, psnr
    with av.open(str(tmp_path / "b.mp4")) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert c.streams.video[0].average_rate == tv.RATE
    assert tv.packets(src, "audio") == tv.packets(tmp_path / "b.mp4", "audio")  # copied


def test_a_2d_kernel_filters_every_frame_alone(video, tmp_path):
    av, tv = video
    src = tmp_path / "a.mkv"
    given = tv.make_video(src, "ffv1", "bgr0")
    rec = _run(src, "-k", "[1 2 1; 2 4 2; 1 2 1]/16", "-o", tmp_path / "b.mkv")
    assert rec["streamed"] is True
    k2 = np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    frames = [
        reference_correlate(given[t, ..., c], k2, [1, 1], ["same"] * 2, [1, 1], "reflect", 0.0)
        for t in range(tv.FRAMES)
        for c in range(3)
    ]
    want = np.stack(frames).reshape(tv.FRAMES, 3, tv.ROWS, tv.COLS).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(_decoded(av, tmp_path / "b.mkv"), _u8(want))


def test_video_streamed_staged_and_in_memory_agree(video, tmp_path):
    av, tv = video
    src = tmp_path / "a.mkv"
    tv.make_video(src, "ffv1", "bgr0", tv.frames_of(10))
    one = _run(src, "-k", "gaussian:1", "-o", tmp_path / "one.mkv")
    whole = _run(src, "-k", "gaussian:1", "-k", "identity", "-o", tmp_path / "whole.mkv")
    staged = tmp_path / "staged.mkv"
    slabs = _run(src, "-k", "gaussian:1", "-k", "identity", "--max-memory", "64K", "-o", staged)
    assert one["streamed"] and slabs["streamed"] and "streamed" not in whole
    first = _decoded(av, tmp_path / "one.mkv")
    np.testing.assert_array_equal(first, _decoded(av, tmp_path / "whole.mkv"))
    np.testing.assert_array_equal(first, _decoded(av, staged))


@pytest.mark.parametrize("mode", PAD_MODES)
def test_a_time_kernel_reaches_the_first_and_last_frames_as_its_pad_mode_says(
    video, tmp_path, mode
):
    av, tv = video
    gray = np.random.default_rng(2).integers(0, 256, (7, 4, 6), dtype=np.uint8)
    src = tmp_path / "g.mkv"
    tv.make_video(src, "ffv1", "gray", gray, fmt="gray")
    out = tmp_path / "o.mkv"  # weights 1..5 across time: each frame's reach shows in the sum
    args = ["-k", "1|2|3|4|5", "--pad-mode", mode, "--pad-value", "9", "--dtype", "uint16"]
    _run(src, *args, "-o", out)
    w = np.arange(1.0, 6.0).reshape(5, 1, 1)
    want = reference_correlate(gray, w, [1] * 3, ["same"] * 3, [1] * 3, mode, 9.0)
    got = _decoded(av, out, "gray16le")
    np.testing.assert_array_equal(got, want.astype(np.uint16))  # every frame, ends included


def test_a_time_stride_divides_the_frame_rate(video, tmp_path):
    av, tv = video
    src = tmp_path / "a.mkv"
    given = tv.make_video(src, "ffv1", "bgr0")
    rec = _run(
        src, "-k", "3|2|1", "--stride", "2,1,1", "--method", "direct", "-o", tmp_path / "h.mkv"
    )
    assert rec["rate_out"] == tv.RATE / 2 and rec["shape_out"][0] == 4
    with av.open(str(tmp_path / "h.mkv")) as c:
        assert c.streams.video[0].average_rate == Fraction(tv.RATE, 2)
    k = np.array([3.0, 2.0, 1.0]).reshape(3, 1, 1)
    want = convolve(given, k, stride=(2, 1, 1), pad_mode="reflect", channel_axis=3)
    np.testing.assert_array_equal(_decoded(av, tmp_path / "h.mkv"), _u8(want))


def test_variable_frame_rate_keeps_its_timestamps(video, tmp_path):
    av, tv = video
    pts = [0, 1, 3, 4, 8, 9, 10, 14]
    src = tmp_path / "v.mkv"
    tv.make_video(src, "ffv1", "bgr0", pts=pts, time_base=Fraction(1, 24))
    _run(src, "-k", "box:3", "-o", tmp_path / "o.mkv")

    def stamps(path: Path) -> list[float]:
        with av.open(str(path)) as c:
            return [float(f.pts * f.time_base) for f in c.decode(video=0)]

    assert stamps(tmp_path / "o.mkv") == stamps(src)


def test_info_features_and_units_on_a_video(video, tmp_path):
    _, tv = video
    src = tmp_path / "a.mkv"
    tv.make_video(src, "ffv1", "bgr0")
    res = invoke("info", src)
    assert res.exit_code == 0 and "codec: ffv1" in res.stdout
    assert f"spacing: {1 / tv.RATE:g} s x 1 x 1" in res.stdout
    res = invoke("features", src, "-k", "sobel:axis=0", "-o", tmp_path / "maps")
    assert res.exit_code == 0, res.stderr
    maps = np.load(tmp_path / "maps" / "maps.npy")
    assert maps.shape == (1, tv.FRAMES, tv.ROWS, tv.COLS)
    res = invoke("filter", src, "-k", "gaussian:sigma=20ms", "-o", tmp_path / "o.mkv")
    line = assert_one_error_line(res, 1)  # a time on every axis: rows are not spaced in s
    assert "axis 1 (rows) of the signal has no physical spacing" in line


# ------------------------------------------------------------------------- scientific TIFF


@pytest.fixture
def tifffile():
    return pytest.importorskip("tifffile")


def test_imagej_hyperstack_filtered_per_time_and_channel_with_metadata(tifffile, tmp_path):
    data = np.random.default_rng(3).integers(0, 4000, (2, 5, 3, 12, 14), dtype=np.uint16)
    src = tmp_path / "h.tif"
    meta = {"axes": "TZCYX", "spacing": 2.0, "unit": "um", "finterval": 0.5}
    tifffile.imwrite(src, data, imagej=True, resolution=(2.0, 2.0), metadata=meta)
    rec = _run(src, "-k", "gaussian:sigma=1um", "--method", "separable", "-o", tmp_path / "o.tif")
    assert rec["streamed"] is True and rec["resolved"] == [{"sigma": [0.5, 2.0, 2.0]}]
    with tifffile.TiffFile(tmp_path / "o.tif") as t:
        got, axes = t.series[0].asarray(), t.series[0].axes
        assert t.is_imagej and t.imagej_metadata["spacing"] == 2.0
        assert t.imagej_metadata["finterval"] == 0.5 and t.imagej_metadata["unit"] == "micron"
    assert axes == "TZCYX" and got.dtype == np.uint16
    spacing = [(2.0, "um"), (0.5, "um"), (0.5, "um")]
    k = make_kernel("gaussian:sigma=1um", 3, spacing=spacing)
    volume = data.transpose(1, 3, 4, 0, 2).reshape(5, 12, 14, 6)  # Z, Y, X, (T C)
    y = convolve(volume, k, pad_mode="reflect", channel_axis=3, method="separable")
    want = np.clip(np.rint(y), 0, 65535).astype(np.uint16)
    np.testing.assert_array_equal(got, want.reshape(5, 12, 14, 2, 3).transpose(3, 0, 4, 1, 2))


def test_ome_tiff_spacing_follows_the_stride(tifffile, tmp_path):
    data = np.random.default_rng(4).random((6, 10, 12)).astype(np.float32)
    src = tmp_path / "a.ome.tif"
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0}
    tifffile.imwrite(src, data, ome=True, metadata=meta)
    rec = _run(src, "-k", "box:3", "--stride", "2", "-o", tmp_path / "o.ome.tif")
    assert rec["shape_out"] == [3, 5, 6]
    with tifffile.TiffFile(tmp_path / "o.ome.tif") as t:
        pixels = tifffile.xml2dict(t.ome_metadata)["OME"]["Image"]["Pixels"]
        got = t.series[0].asarray()
    assert (pixels["PhysicalSizeX"], pixels["PhysicalSizeZ"]) == (1.0, 4.0)
    want = convolve(data, make_kernel("box:3", 3), stride=2, pad_mode="reflect")
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_tiff_streamed_equals_in_memory_and_bigtiff_is_kept(tifffile, tmp_path):
    data = np.random.default_rng(5).random((2, 4, 10, 12, 3))  # float64 RGB, Pillow cannot
    src = tmp_path / "s.tif"
    tifffile.imwrite(src, data, bigtiff=True, photometric="rgb", metadata={"axes": "TZYXS"})
    one = _run(src, "-k", "gaussian:1", "-o", tmp_path / "one.tif")
    whole = _run(src, "-k", "gaussian:1", "-k", "identity", "-o", tmp_path / "whole.tif")
    assert one["streamed"] and "streamed" not in whole
    with (
        tifffile.TiffFile(tmp_path / "one.tif") as a,
        tifffile.TiffFile(tmp_path / "whole.tif") as b,
    ):
        assert a.is_bigtiff and a.series[0].axes == "TZYXS" and a.series[0].dtype == np.float64
        np.testing.assert_allclose(a.asarray(), b.asarray(), rtol=1e-12, atol=1e-12)


def test_a_bigtiff_pillow_could_read_streams_through_tifffile(tifffile, tmp_path):
    data = np.random.default_rng(9).integers(0, 65535, (6, 10, 12), dtype=np.uint16)
    src = tmp_path / "big.tif"
    tifffile.imwrite(src, data, bigtiff=True, photometric="minisblack")
    rec = _run(src, "-k", "box:3", "--max-memory", "64K", "-o", tmp_path / "o.tif")
    assert rec["streamed"] is True  # page by page, not loaded whole by Pillow
    with tifffile.TiffFile(tmp_path / "o.tif") as t:
        assert t.is_bigtiff and len(t.pages) == 6
        got = t.asarray()
    want = convolve(data.astype(np.float64), make_kernel("box:3", 3), pad_mode="reflect")
    np.testing.assert_array_equal(got, np.clip(np.rint(want), 0, 65535).astype(np.uint16))


# ------------------------------------------------------------------------------------ NIfTI


@pytest.fixture
def nib():
    return pytest.importorskip("nibabel")


AFFINE = np.array([[-1.0, 0, 0, 90], [0, 1.0, 0, -126], [0, 0, 2.0, -72], [0, 0, 0, 1]])


def _nifti(nib, path: Path, data: np.ndarray, slope: tuple[float, float] | None = None) -> None:
    img = nib.Nifti1Image(data, AFFINE)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((1.0, 1.0, 2.0, 3.0)[: data.ndim])
    if slope is not None:
        img.header.set_slope_inter(*slope)
    img.set_data_dtype(data.dtype)
    nib.save(img, path)


def test_brain_mri_smoothed_with_a_2mm_gaussian(nib, tmp_path):
    stored = np.random.default_rng(6).integers(-500, 3000, (16, 14, 8)).astype(np.int16)
    src = tmp_path / "t1.nii.gz"
    _nifti(nib, src, stored, slope=(0.5, 10.0))
    rec = _run(src, "-k", "gaussian:sigma=2mm", "-o", tmp_path / "smooth.nii.gz")
    assert rec["resolved"] == [{"sigma": [1.0, 2.0, 2.0]}]  # k at 2 mm, j and i at 1 mm
    out = nib.load(tmp_path / "smooth.nii.gz")
    assert out.get_data_dtype() == np.int16 and (out.dataobj.slope, out.dataobj.inter) == (0.5, 10)
    np.testing.assert_array_equal(out.affine, AFFINE)
    assert out.header.get_zooms() == (1.0, 1.0, 2.0)
    real = (stored * 0.5 + 10.0).T  # k x j x i: file order, slowest first
    k = make_kernel("gaussian:sigma=2mm", 3, spacing=[(2, "mm"), (1, "mm"), (1, "mm")])
    want = convolve(real.astype(np.float32), k, pad_mode="reflect")
    np.testing.assert_allclose(out.get_fdata().T, want, atol=0.25 + 1e-3)  # half a step


def test_nifti_4d_series_per_time_point_or_across_time(nib, tmp_path):
    data = np.random.default_rng(7).normal(size=(6, 5, 4, 4)).astype(np.float32)  # i j k t
    src = tmp_path / "bold.nii"
    _nifti(nib, src, data)
    _run(src, "-k", "box:3", "-o", tmp_path / "each.nii")  # 4 time points are not RGBA
    got = nib.load(tmp_path / "each.nii").get_fdata(dtype=np.float32)
    volume = data.transpose(2, 1, 0, 3)  # k j i, t as the channel axis
    want = convolve(volume, make_kernel("box:3", 3), pad_mode="reflect", channel_axis=3)
    np.testing.assert_allclose(got.transpose(2, 1, 0, 3), want, rtol=1e-5, atol=1e-6)
    k4 = np.array([1.0, 2.0, 1.0]).reshape(3, 1, 1, 1) / 4  # across time, t first
    np.save(tmp_path / "t.npy", k4)
    _run(src, "--as", "array", "-k", tmp_path / "t.npy", "-o", tmp_path / "time.nii")
    got = nib.load(tmp_path / "time.nii").get_fdata(dtype=np.float32).T  # t k j i
    want = convolve(data.T, k4, pad_mode="zero")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_nifti_file_order_stride_and_streaming(nib, tmp_path):
    data = np.random.default_rng(8).integers(0, 1000, (8, 6, 4)).astype(np.int16)
    src = tmp_path / "v.nii"
    _nifti(nib, src, data)
    _run(src, "-k", "identity", "-o", tmp_path / "v.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), data.T)  # [k, j, i]
    one = _run(src, "-k", "box:3", "--stride", "2", "-o", tmp_path / "half.nii")
    whole = _run(
        src, "-k", "box:3", "-k", "identity", "--stride", "2,1,1", "-o", tmp_path / "w.nii"
    )
    assert one["streamed"] and "streamed" not in whole
    half = nib.load(tmp_path / "half.nii")
    assert half.shape == (4, 3, 2) and half.header.get_zooms() == (2.0, 2.0, 4.0)
    np.testing.assert_array_equal(half.affine[:3, :3], AFFINE[:3, :3] * 2)
    want = convolve(
        data.T.astype(np.float32), make_kernel("box:3", 3), stride=2, pad_mode="reflect"
    )
    np.testing.assert_array_equal(np.asanyarray(half.dataobj).T, np.rint(want).astype(np.int16))


# ------------------------------------------------------------------ budgets and extras


def test_budgets_apply_from_headers(video, nib, tifffile, tmp_path):
    _, tv = video
    tv.make_video(tmp_path / "a.mkv", "ffv1", "bgr0")
    _nifti(nib, tmp_path / "b.nii", np.zeros((20, 10, 6), np.int16))
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((5, 8, 9)), metadata={"axes": "ZYX"})
    for name, option, words in [
        ("a.mkv", ["--max-frames", "4"], "planes, more than the limit of 4 (--max-frames)"),
        ("a.mkv", ["--max-pixels", "700"], "768 pixels, more than the limit of 700"),
        ("b.nii", ["--max-voxels", "1000"], "1200 voxels, more than the limit of 1000"),
        ("c.tif", ["--max-frames", "2"], "5 planes, more than the limit of 2 (--max-frames)"),
    ]:
        out = tmp_path / f"out{Path(name).suffix}"
        line = assert_one_error_line(
            invoke("filter", tmp_path / name, "-k", "box:3", "-o", out, *option), 1
        )
        assert words in line, line
        assert not out.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("module", "extra", "name"), [("av", "video", "a.mkv"), ("nibabel", "volumes", "b.nii")]
)
def test_without_the_extra_one_line_names_it(
    video, nib, tmp_path, monkeypatch, module, extra, name
):
    import sys

    _, tv = video
    tv.make_video(tmp_path / "a.mkv", "ffv1", "bgr0")
    _nifti(nib, tmp_path / "b.nii", np.zeros((4, 3, 2), np.int16))
    monkeypatch.setitem(sys.modules, module, None)
    for command in (["info"], ["filter", "-k", "box", "-o", tmp_path / "o.npy"]):
        line = assert_one_error_line(invoke(command[0], tmp_path / name, *command[1:]), 1)
        assert line.endswith(f"pip install 'convcli[{extra}]'"), line
