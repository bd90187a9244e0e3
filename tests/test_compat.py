"""``--compat``: convcli's numbers equal scipy.ndimage's, OpenCV's and PyTorch's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.ndimage as ndi
from test_cli_info_kernels import assert_one_error_line, invoke, ok

from convcli.kernels import format_inline
from convcli.presets import PRESET_NAMES, PRESETS, same_pads

RNG = np.random.default_rng(1616)
IMAGE = RNG.integers(0, 256, (19, 24), dtype=np.uint8)
FLOATS = RNG.standard_normal((17, 22)).astype(np.float32)

#: Non-negative kernels of sum < 1 (scipy wraps what does not fit uint8; convcli clips).
KERNELS = {
    "3x3": RNG.random((3, 3)) / 9,
    "2x4": RNG.random((2, 4)) / 8,
    "4x1": RNG.random((4, 1)) / 4,
    "5x2": RNG.random((5, 2)) / 10,
}
#: Kernels whose sums are exact in float32 (OpenCV accumulates in float32).
DYADIC = {
    "3x3": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "2x4": np.array([[1, 2, 1, 2], [3, 1, 1, 1]]) / 16,
    "4x1": np.array([[1], [3], [3], [1]]) / 8,
    "3x2-signed": np.array([[-1, 2], [5, -3], [1, 4]]) / 8,
}


def run(tmp_path, x, kernel, *args, name="x"):
    src = tmp_path / f"{name}.npy"
    dst = tmp_path / f"{name}-out.npy"
    np.save(src, x)
    ok(invoke("filter", src, "-k", format_inline(kernel), "-o", dst, "--overwrite", "-q", *args))
    return np.load(dst)


@pytest.mark.parametrize("kname", sorted(KERNELS))
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_scipy_uint8(tmp_path, kname, stride):
    k = KERNELS[kname]
    got = run(tmp_path, IMAGE, k, "--compat", "scipy", "--stride", str(stride))
    want = ndi.convolve(IMAGE, k)[::stride, ::stride]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


def test_scipy_png(tmp_path):
    from PIL import Image

    Image.fromarray(IMAGE).save(tmp_path / "g.png")
    k = KERNELS["2x4"]
    ok(
        invoke(
            "filter",
            tmp_path / "g.png",
            "-k",
            format_inline(k),
            "--compat",
            "scipy",
            "-o",
            tmp_path / "o.png",
        )
    )
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "o.png")), ndi.convolve(IMAGE, k)
    )


@pytest.mark.parametrize("kname", sorted(KERNELS))
def test_scipy_float64_and_1d(tmp_path, kname):
    k = KERNELS[kname] - 0.05
    x = FLOATS.astype(np.float64)
    np.testing.assert_allclose(
        run(tmp_path, x, k, "--compat", "scipy"), ndi.convolve(x, k), rtol=1e-12, atol=1e-12
    )
    k1 = k.ravel()
    np.testing.assert_allclose(
        run(tmp_path, x[0], k1, "--compat", "scipy", name="row"),
        ndi.convolve1d(x[0], k1),
        rtol=1e-12,
        atol=1e-12,
    )


def test_without_the_preset_scipy_differs(tmp_path):
    """The test above is not vacuous: convcli's defaults give other numbers."""
    k = KERNELS["2x4"]
    assert not np.array_equal(run(tmp_path, IMAGE, k), ndi.convolve(IMAGE, k))
    assert not np.array_equal(run(tmp_path, IMAGE, k, "--flip"), ndi.convolve(IMAGE, k))


def _cv2():
    return pytest.importorskip("cv2")


@pytest.mark.parametrize("kname", sorted(DYADIC))
@pytest.mark.parametrize("stride", [1, 2])
def test_opencv_uint8(tmp_path, kname, stride):
    cv = _cv2()
    k = DYADIC[kname]
    got = run(tmp_path, IMAGE, k, "--compat", "opencv", "--stride", str(stride))
    want = cv.filter2D(IMAGE, -1, k)[::stride, ::stride]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kname", sorted(KERNELS))
def test_opencv_float32(tmp_path, kname):
    cv = _cv2()
    k = KERNELS[kname] - 0.05
    got = run(tmp_path, FLOATS, k, "--compat", "opencv")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, cv.filter2D(FLOATS, -1, k), rtol=2e-5, atol=2e-6)


def test_opencv_rounds_half_to_even(tmp_path):
    cv = _cv2()
    x = np.array([[1, 2, 3, 4, 5, 6, 7, 8]], dtype=np.uint8)
    k = np.array([[0.5, 0.5]])  # every output a half
    got = run(tmp_path, x, k, "--compat", "opencv")
    np.testing.assert_array_equal(got, cv.filter2D(x, -1, k))
    np.testing.assert_array_equal(
        run(tmp_path, x, k, "--compat", "opencv", "--rounding", "half-up"),
        np.floor(cv.filter2D(x.astype(np.float32), -1, k) + 0.5),
    )


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("kshape", [(3, 3), (2, 4), (4, 1), (5, 2)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_torch_same(tmp_path, kshape, dilation):
    torch = _torch()
    k = RNG.standard_normal(kshape).astype(np.float32)
    got = run(tmp_path, FLOATS, k, "--compat", "torch", "--dilation", str(dilation))
    want = torch.nn.functional.conv2d(
        torch.from_numpy(FLOATS)[None, None],
        torch.from_numpy(k)[None, None],
        padding="same",
        dilation=dilation,
    )[0, 0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kshape", [(3, 3), (2, 4), (5, 1)])
@pytest.mark.parametrize("stride", [2, 3])
def test_torch_strided(tmp_path, kshape, stride):
    torch = _torch()
    k = RNG.standard_normal(kshape).astype(np.float32)
    got = run(tmp_path, FLOATS, k, "--compat", "torch", "--stride", str(stride))
    pad = tuple((n - 1) // 2 for n in kshape)
    want = torch.nn.functional.conv2d(
        torch.from_numpy(FLOATS)[None, None],
        torch.from_numpy(k)[None, None],
        padding=pad,
        stride=stride,
    )[0, 0].numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_torch_1d_and_3d(tmp_path):
    torch = _torch()
    x1 = FLOATS[0]
    k1 = RNG.standard_normal(6).astype(np.float32)
    want1 = torch.nn.functional.conv1d(
        torch.from_numpy(x1)[None, None], torch.from_numpy(k1)[None, None], padding="same"
    )[0, 0].numpy()
    np.testing.assert_allclose(
        run(tmp_path, x1, k1, "--compat", "torch", name="a"), want1, rtol=1e-5, atol=1e-5
    )
    x3 = RNG.standard_normal((6, 7, 8)).astype(np.float32)
    k3 = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    want3 = torch.nn.functional.conv3d(
        torch.from_numpy(x3)[None, None], torch.from_numpy(k3)[None, None], padding="same"
    )[0, 0].numpy()
    np.testing.assert_allclose(
        run(tmp_path, x3, k3, "--compat", "torch", name="v"), want3, rtol=1e-5, atol=1e-5
    )


def test_given_options_win_over_the_preset(tmp_path):
    k = KERNELS["3x3"]
    got = run(tmp_path, IMAGE, k, "--compat", "scipy", "--pad-mode", "zero")
    np.testing.assert_array_equal(got, ndi.convolve(IMAGE, k, mode="constant"))


def test_dry_run_shows_the_peer_padding(tmp_path):
    np.save(tmp_path / "x.npy", IMAGE)
    out = ok(
        invoke(
            "filter",
            tmp_path / "x.npy",
            "-k",
            "[1 2 3 4]",
            "--compat",
            "opencv",
            "--dry-run",
            "-o",
            tmp_path / "y.npy",
        )
    ).stdout
    assert "pads 0:0 2:1 (reflect)" in out


def test_unknown_preset_is_a_usage_error(tmp_path):
    np.save(tmp_path / "x.npy", IMAGE)
    line = assert_one_error_line(
        invoke(
            "filter",
            tmp_path / "x.npy",
            "-k",
            "box:3",
            "--compat",
            "matlab",
            "-o",
            tmp_path / "y.npy",
        ),
        2,
    )
    assert "scipy" in line and "opencv" in line
    assert not (tmp_path / "y.npy").exists()


def test_same_pads_keep_the_size_and_centre():
    for preset in PRESETS.values():
        for k in range(1, 7):
            for d in (1, 2):
                ((lo, hi),) = same_pads(preset, (k,), (d,), (1,))
                assert lo + hi == d * (k - 1)
                assert lo == (
                    d * (k - 1) // 2 if preset.origin == "low" else d * (k - 1) - d * (k - 1) // 2
                )


def test_cli_choices_are_the_presets_and_roundings():
    from convcli.cli.options import ROUNDING_CHOICES
    from convcli.io.dtypes import ROUNDINGS

    assert ROUNDING_CHOICES == ROUNDINGS
    assert set(PRESET_NAMES) == {"scipy", "opencv", "torch", "imagemagick", "vips", "ffmpeg"}


def test_the_docs_preset_table_is_the_code():
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "beyond-the-peers.md"
    rows = {
        m.group(1): [c.strip() for c in line.split("|")[1:-1]]
        for line in page.read_text().splitlines()
        if (m := re.match(r"\| `([a-z]+)` \| ", line)) and m.group(1) in PRESETS
    }
    assert list(rows) == list(PRESET_NAMES)
    for name, cells in rows.items():
        preset = PRESETS[name]
        assert cells[2] == ("convolution" if preset.flip else "correlation")
        assert cells[3].startswith(f"`{preset.pad_mode}`")
        assert ("peer(x)[::s]" in cells[5]) == (preset.strided == "subsample")
        assert cells[6].startswith("float64" if preset.compute == "float64" else "float32")
        assert cells[7] == f"`{preset.rounding}`"


@pytest.mark.parametrize("stride", [1, 2])
def test_features_torch(tmp_path, stride):
    torch = _torch()
    w = RNG.standard_normal((3, 2, 4)).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "x.npy", FLOATS)
    ok(invoke("features", tmp_path / "x.npy", "--weights", tmp_path / "w.npy", "--compat",
              "torch", "--stride", str(stride), "-o", tmp_path / "maps", "-q"))  # fmt: skip
    got = np.load(tmp_path / "maps" / "maps.npy")
    padding = "same" if stride == 1 else (0, 1)
    want = torch.nn.functional.conv2d(
        torch.from_numpy(FLOATS)[None, None], torch.from_numpy(w)[:, None],
        stride=stride, padding=padding,
    )[0].numpy()  # fmt: skip
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_features_scipy(tmp_path):
    ks = [KERNELS["2x4"], RNG.random((2, 4))]  # a bank of one shape
    np.save(tmp_path / "x.npy", FLOATS)
    args = [a for k in ks for a in ("-k", format_inline(k))]
    ok(invoke("features", tmp_path / "x.npy", *args, "--compat", "scipy",
              "-o", tmp_path / "maps", "-q"))  # fmt: skip
    got = np.load(tmp_path / "maps" / "maps.npy")
    x = FLOATS.astype(np.float64)
    for got_map, k in zip(got, ks):
        np.testing.assert_allclose(got_map, ndi.convolve(x, k), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rounding", ["half-even", "half-up", "toward-zero"])
def test_rounding_reaches_streamed_audio(tmp_path, rounding):
    """One kernel, audio to audio: the streamed route rounds as told too."""
    import soundfile as sf

    pcm = RNG.integers(-20000, 20000, (300, 1)).astype(np.int16)
    sf.write(tmp_path / "a.wav", pcm, 8000, subtype="PCM_16")
    out = ok(invoke("filter", tmp_path / "a.wav", "-k", "[0.5 0.5]", "--rounding", rounding,
                    "-o", tmp_path / "b.wav", "-q", "--json")).stdout  # fmt: skip
    assert json.loads(out)["streamed"] is True
    got = sf.read(tmp_path / "b.wav", dtype="int16")[0]
    a = pcm[:, 0].astype(np.int64)
    halves = (a + np.append(a[1:], 0)) / 2  # `same` with [0.5 0.5]: x[i] and x[i+1], zero after
    want = {"half-even": np.rint, "half-up": lambda v: np.floor(v + 0.5), "toward-zero": np.trunc}
    np.testing.assert_array_equal(got, want[rounding](halves))
    assert np.any(halves != np.rint(halves))  # there are halves to round
