"""An image filtered strip by strip (convcli.jobs.strips) gives the whole image's output.

The reference is the same command with strips turned off (the whole image in memory, as
before strips).  Strips of a few rows and decoding blocks of three rows put many strip
and block boundaries in small images, for every pad mode, stride, dilation, ``valid`` and
``full`` padding, post-processing, both ways of filtering a strip (exact integer sums; the
float engine), every input the strips read (PNG and uncompressed TIFF decoded as they are
read, JPEG and the rest decoded whole, an image loaded whole) and every output format.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import invoke
from PIL import Image

from convcli.padding import PAD_MODES

RNG = np.random.default_rng(23)

#: Kernel options; the first four take the integer way, the others the float engine.
CASES = {
    "binomial": ["-k", "[1 2 1; 2 4 2; 1 2 1]/16"],
    "binomial-stride": ["-k", "[1 2 1; 2 4 2; 1 2 1]/16", "--stride", "2,3"],
    "sobel-abs-dilation": ["-k", "sobel", "--abs", "--dilation", "2"],
    "sharpen-full": ["-k", "sharpen", "--padding", "full"],
    "laplacian-post-valid": [
        "-k",
        "laplacian",
        "--scale",
        "3",
        "--bias",
        "128",
        "--padding",
        "valid",
    ],
    "box-ninths": ["-k", "box:3"],
    "gaussian": ["-k", "gaussian:sigma=1.5"],
    "tall-stride-dilation": ["-k", "[1; 2; 3; 2; 1]/8", "--stride", "3", "--dilation", "2"],
}


@pytest.fixture
def tiny_strips(monkeypatch):
    """Strips of a few rows, decoding blocks of three rows."""
    import convcli.io.pillow_image as image_io
    import convcli.jobs.strips as strips

    monkeypatch.setattr(strips, "STRIP_BYTES", 300)
    monkeypatch.setattr(image_io, "DECODE_BLOCK_ROWS", 3)
    monkeypatch.setattr(image_io, "DECODE_BLOCKS", 2)


def _image(path, shape, **save):
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    smooth = np.cumsum(pixels.astype(int) - 128, axis=1) // 8 % 256  # some runs of similar rows
    pixels[: shape[0] // 2] = smooth[: shape[0] // 2]
    Image.fromarray(pixels).save(path, **save)
    return path


def _whole_and_strips(tmp_path, monkeypatch, src, args, ext):
    """Run the command whole (strips off) and in strips; return both outputs' paths."""
    import convcli.jobs.strips as strips

    whole, parts = tmp_path / f"whole{ext}", tmp_path / f"strips{ext}"
    with monkeypatch.context() as m:
        m.setattr(strips, "strip_plan", lambda *a, **k: None)
        res = invoke("filter", src, *args, "-o", whole, "--overwrite")
        assert res.exit_code == 0, res.output
    calls = []
    original = strips.filter_strips
    monkeypatch.setattr(strips, "filter_strips", lambda *a: calls.append(1) or original(*a))
    res = invoke("filter", src, *args, "-o", parts, "--json", "--overwrite")
    assert res.exit_code == 0, res.output
    assert calls, "not filtered in strips"
    rec = json.loads(res.stdout)
    assert rec["status"] == "ok"
    return whole, parts


def _same(whole, parts, ext):
    if ext == ".png":  # the PNG writer picks a row filter per block: compare pixels
        np.testing.assert_array_equal(np.asarray(Image.open(whole)), np.asarray(Image.open(parts)))
    else:
        assert whole.read_bytes() == parts.read_bytes()


@pytest.mark.parametrize("mode", PAD_MODES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_strips_equal_the_whole_image_for_every_geometry(
    tmp_path, monkeypatch, tiny_strips, mode, case
):
    src = _image(tmp_path / "in.png", (29, 23, 3))
    args = [*CASES[case], "--pad-mode", mode]
    whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, ".tif")
    _same(whole, parts, ".tif")


@pytest.mark.parametrize(
    "src_ext, save",
    [
        (".png", {}),
        (".tif", {}),
        (".jpg", {"quality": 90}),
        (".bmp", {}),
        (".tif", {"compression": "tiff_lzw"}),
    ],
)
@pytest.mark.parametrize("dst_ext", [".png", ".tif", ".jpg", ".bmp", ".webp", ".ppm"])
@pytest.mark.parametrize("case", ["binomial", "gaussian", "laplacian-post-valid"])
def test_strips_equal_the_whole_image_for_every_format(
    tmp_path, monkeypatch, tiny_strips, src_ext, save, dst_ext, case
):
    src = _image(tmp_path / f"in{src_ext}", (26, 19, 3), **save)
    args = [*CASES[case], "--pad-mode", "reflect"]
    whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, dst_ext)
    _same(whole, parts, dst_ext)


@pytest.mark.parametrize("dst_ext", [".png", ".tif", ".pgm", ".jpg"])
@pytest.mark.parametrize("case", ["binomial", "box-ninths", "sharpen-full"])
def test_strips_of_gray_and_of_images_loaded_whole(
    tmp_path, monkeypatch, tiny_strips, dst_ext, case
):
    gray = _image(tmp_path / "gray.png", (31, 70))  # the planner picks fft for tiny gray
    rgb = _image(tmp_path / "rgb.png", (31, 70, 3))
    for src, extra in ((gray, []), (rgb, ["--gray"])):  # --gray: loaded whole, then strips
        args = [*CASES[case], "--pad-mode", "symmetric", *extra]
        whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, dst_ext)
        _same(whole, parts, dst_ext)


def test_sixteen_bit_gray_goes_the_float_way(tmp_path, monkeypatch, tiny_strips):
    src = tmp_path / "deep.png"
    Image.fromarray(RNG.integers(0, 65536, (25, 21), dtype=np.uint16)).save(src)
    for dst in (".png", ".tif"):
        args = [*CASES["binomial"], "--pad-mode", "replicate"]
        whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, dst)
        _same(whole, parts, dst)


def test_a_tall_kernel_on_a_short_image(tmp_path, monkeypatch, tiny_strips):
    """Padded rows that reach past the strip (a kernel taller than the image)."""
    src = _image(tmp_path / "short.png", (3, 40, 3))
    for mode in PAD_MODES:
        args = ["-k", "box:7", "--pad-mode", mode]
        whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, ".tif")
        _same(whole, parts, ".tif")


def test_fft_and_chains_and_alpha_are_filtered_whole(tmp_path, monkeypatch):
    import convcli.jobs.strips as strips

    src = _image(tmp_path / "in.png", (20, 20, 3))
    rgba = _image(tmp_path / "rgba.png", (20, 20, 4))
    calls = []
    original = strips.filter_strips
    monkeypatch.setattr(strips, "filter_strips", lambda *a: calls.append(1) or original(*a))
    for args in (
        [src, "-k", "box:3", "--method", "fft"],
        [src, "-k", "box:3", "-k", "box:3"],
        [src, "-k", "box:3", "--rescale"],
        [rgba, "-k", "box:3"],
    ):
        res = invoke("filter", *args, "-o", tmp_path / "out.png", "--overwrite")
        assert res.exit_code == 0, res.output
    assert calls == []


def test_strips_stay_within_the_memory_budget(tmp_path):
    src = _image(tmp_path / "in.jpg", (64, 64, 3))
    res = invoke("filter", src, "-k", "box:3", "-o", tmp_path / "o.jpg", "--max-memory", "10K")
    assert res.exit_code == 1
    assert "strip by strip needs about" in res.stderr and "--max-memory" in res.stderr
