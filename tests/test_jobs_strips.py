"""An image filtered strip by strip (convcli.jobs.strips) gives the whole image's output.

The reference is the same command with strips turned off (the whole image in memory, as
before strips).  A kernel whose float32 sums are not exact (1/9, a Gaussian) is filtered
whole, except to a PNG, which has always been written in slabs: its reference is then those
slabs (:func:`convcli.jobs.stream.correlate_rows`) cast by numpy.  Strips of a few rows,
blocks of a few rows and decoding blocks of three rows put many boundaries in small images,
for every pad mode, stride, dilation, ``valid`` and ``full`` padding, post-processing, both
ways of filtering a strip (exact integer sums; the float engine), every input the strips
read (PNG and uncompressed TIFF decoded as they are read, JPEG and the rest decoded whole,
an image loaded whole) and every output format.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import invoke
from PIL import Image

from convcli.padding import PAD_MODES

RNG = np.random.default_rng(23)

#: Kernel options: exact ones take the integer way (8-bit) or exact float32 sums (16-bit).
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
#: Cases whose float32 sums are not exact: in strips only to a PNG.
INEXACT = {"box-ninths": ("box:3", 1), "gaussian": ("gaussian:sigma=1.5", 1)}


@pytest.fixture
def tiny_strips(monkeypatch):
    """Strips of a few rows, decoding blocks of three rows."""
    import convcli.io.pillow_image as image_io
    import convcli.jobs.strips as strips

    monkeypatch.setattr(strips, "STRIP_BYTES", 300)
    monkeypatch.setattr(strips, "ONE_PASS_SLAB_BYTES", 2000)  # blocks of a few rows too
    monkeypatch.setattr(image_io, "DECODE_BLOCK_ROWS", 3)
    monkeypatch.setattr(image_io, "DECODE_BLOCKS", 2)


def _image(path, shape, **save):
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    smooth = np.cumsum(pixels.astype(int) - 128, axis=1) // 8 % 256  # some runs of similar rows
    pixels[: shape[0] // 2] = smooth[: shape[0] // 2]
    Image.fromarray(pixels).save(path, **save)
    return path


def _whole_and_strips(tmp_path, monkeypatch, src, args, ext, in_strips=True):
    """Run the command whole (strips off) and as it runs; return both outputs' paths.

    ``in_strips``: whether the command must have run in strips (else it must not have).
    """
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
    assert bool(calls) == in_strips, "in strips" if calls else "not in strips"
    rec = json.loads(res.stdout)
    assert rec["status"] == "ok"
    return whole, parts


def _same(whole, parts, ext):
    if ext == ".png":  # the PNG writer picks a row filter per block: compare pixels
        np.testing.assert_array_equal(np.asarray(Image.open(whole)), np.asarray(Image.open(parts)))
    else:
        assert whole.read_bytes() == parts.read_bytes()


def _slabs_reference(src, spec, mode, slab_bytes):
    """The pixels of the PNG route: the image in slabs of correlate_rows, cast by numpy."""
    from convcli.io.rows import ArraySource
    from convcli.jobs.stream import correlate_rows
    from convcli.kernels import make_kernel

    pixels = np.asarray(Image.open(src))
    out = {}
    correlate_rows(
        ArraySource(pixels),
        make_kernel(spec, 2),
        lambda start, block: out.setdefault(start, block),
        channel_axis=2 if pixels.ndim == 3 else None,
        pad_mode=mode,
        slab_bytes=slab_bytes,
    )
    y = np.concatenate([out[k] for k in sorted(out)])
    assert len(out) > 2  # slabs of a few rows
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("mode", PAD_MODES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_strips_equal_the_whole_image_for_every_geometry(
    tmp_path, monkeypatch, tiny_strips, mode, case
):
    src = _image(tmp_path / "in.png", (29, 23, 3))
    args = [*CASES[case], "--pad-mode", mode]
    exact = case not in INEXACT
    whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, ".tif", exact)
    _same(whole, parts, ".tif")
    if not exact:  # to a PNG: in the slabs the PNG route has always used
        whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, ".png")
        expected = _slabs_reference(src, INEXACT[case][0], mode, 2000)
        np.testing.assert_array_equal(np.asarray(Image.open(parts)), expected)


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
    in_strips = case not in INEXACT or dst_ext == ".png"
    whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, dst_ext, in_strips)
    if case in INEXACT and dst_ext == ".png":
        expected = _slabs_reference(src, INEXACT[case][0], "reflect", 2000)
        np.testing.assert_array_equal(np.asarray(Image.open(parts)), expected)
    else:
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
        in_strips = case not in INEXACT or dst_ext == ".png"
        whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, dst_ext, in_strips)
        if in_strips and case in INEXACT:
            continue  # a PNG of 1/9: the slabs' bytes (test_..._for_every_geometry)
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
        args = ["-k", "[1; 1; 2; 4; 2; 1; 1]/8", "--pad-mode", mode]
        whole, parts = _whole_and_strips(tmp_path, monkeypatch, src, args, ".tif")
        _same(whole, parts, ".tif")


def test_fft_and_chains_and_alpha_are_filtered_whole(tmp_path, monkeypatch):
    """Not in strips: an fft plan (but to a PNG), a chain, --rescale, alpha, an operation
    (--normalized, --transposed), a peer's preset or a rounding of its own."""
    import convcli.jobs.strips as strips

    src = _image(tmp_path / "in.png", (20, 20, 3))
    rgba = _image(tmp_path / "rgba.png", (20, 20, 4))
    calls = []
    original = strips.filter_strips
    monkeypatch.setattr(strips, "filter_strips", lambda *a: calls.append(1) or original(*a))
    for args, out in (
        ([src, "-k", "[1 2 1]/4", "--method", "fft"], "out.tif"),
        ([src, "-k", "box:3", "-k", "box:3"], "out.png"),
        ([src, "-k", "box:3", "--rescale"], "out.png"),
        ([rgba, "-k", "box:3"], "out.png"),
        ([src, "-k", "box:3", "--normalized"], "n.png"),
        ([src, "-k", "box:3", "--transposed", "--stride", "2"], "t.png"),
        ([src, "-k", "[1 2 1 2]/6", "--compat", "opencv"], "c.png"),
        ([src, "-k", "box:3", "--rounding", "half-up"], "r.png"),
    ):
        res = invoke("filter", *args, "-o", tmp_path / out, "--overwrite")
        assert res.exit_code == 0, res.output
    assert calls == []
    res = invoke("filter", src, "-k", "box:3", "--method", "fft", "-o", tmp_path / "fft.png")
    assert res.exit_code == 0, res.output
    assert calls == [1]  # a PNG has always been filtered in slabs, fft included


def test_strips_stay_within_the_memory_budget(tmp_path):
    src = _image(tmp_path / "in.jpg", (64, 64, 3))
    kernel = CASES["binomial"]
    res = invoke("filter", src, *kernel, "-o", tmp_path / "o.jpg", "--max-memory", "10K")
    assert res.exit_code == 1
    assert "strip by strip needs about" in res.stderr and "--max-memory" in res.stderr
