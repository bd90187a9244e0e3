"""Issue 16 parts 1-3 through the CLI: normalized convolution, reverb IR options, transposed.

References are independent of the engine: a direct ``(x·m ⋆ w) / (m ⋆ w)`` loop
(:func:`test_normalized.reference_normalized`), per-path ``numpy.convolve`` sums for impulse
responses, and a scatter-add loop (:func:`test_transposed.reference_transpose`) and PyTorch
for transposed convolution.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
from conftest import assert_one_error_line, invoke, leftovers, pil_array
from PIL import Image
from scipy import ndimage
from test_normalized import reference_normalized
from test_transposed import reference_transpose

RATE = 8000


def _record(result) -> dict:
    assert result.exit_code == 0, (result.stderr, result.exception)
    return json.loads(result.stdout.splitlines()[-1])


# ------------------------------------------------------------------- normalized convolution


@pytest.mark.parametrize(
    "extra, stride, dilation, pad_mode",
    [
        ([], (1, 1), (1, 1), "zero"),
        (["--stride", "2,1", "--dilation", "1,2"], (2, 1), (1, 2), "zero"),
        (["--pad-mode", "reflect", "--stride", "2"], (2, 2), (1, 1), "reflect"),
        (["--pad-mode", "replicate", "--padding", "full"], (1, 1), (1, 1), "replicate"),
    ],
)
def test_normalized_with_a_mask_and_nan_is_the_direct_loop(
    tmp_path, extra, stride, dilation, pad_mode
):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((11, 13))
    x[rng.random(x.shape) < 0.1] = np.nan
    m = rng.random(x.shape)
    m[3:6, 4:8] = 0
    w = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "m.npy", m)
    padding = "full" if "full" in extra else "same"
    result = invoke(
        "filter", tmp_path / "x.npy", "-k", "[1 2 1; 2 4 2; 1 2 1]", "--normalized",
        "--mask", tmp_path / "m.npy", "-o", tmp_path / "y.npy", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    want = reference_normalized(x, w, m, stride, [padding] * 2, dilation, pad_mode)
    got = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(got, want, atol=1e-12, equal_nan=True)
    assert np.array_equal(np.isnan(got), np.isnan(want))


def test_normalized_borders_do_not_darken_and_holes_are_filled(tmp_path):
    x = np.full((9, 9), 5.0)
    x[4, 4] = np.nan
    np.save(tmp_path / "x.npy", x)
    result = invoke(
        "filter", tmp_path / "x.npy", "-k", "box:3", "--normalized", "-o", tmp_path / "y.npy"
    )
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), 5.0, atol=1e-12)


def test_the_alpha_channel_is_the_mask_of_the_colour(tmp_path):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (12, 15, 4), dtype=np.uint8)
    rgba[2:6, 3:9, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    result = invoke(
        "filter", tmp_path / "in.png", "-k", "box:3", "--normalized", "-o", tmp_path / "o.png"
    )
    assert result.exit_code == 0, result.stderr
    got = pil_array(tmp_path / "o.png").astype(float)
    w = np.ones((3, 3)) / 9
    alpha = rgba[..., 3] / 255.0
    for c in range(3):
        want = reference_normalized(rgba[..., c], w, alpha, [1, 1], ["same"] * 2, [1, 1], "reflect")
        assert np.isnan(want).sum() == 8  # no alpha under the whole window: the plain colour
        plain = ndimage.correlate(rgba[..., c].astype(float), w, mode="mirror")
        want = np.where(np.isnan(want), plain, want)
        assert np.abs(got[..., c] - np.round(want)).max() <= 1
    want_alpha = ndimage.correlate(rgba[..., 3].astype(float), w, mode="mirror")
    assert np.abs(got[..., 3] - np.round(want_alpha)).max() <= 1


def test_a_gray_png_mask_is_scaled_by_its_full_scale(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((10, 12))
    mask = rng.integers(0, 256, (10, 12), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    Image.fromarray(mask).save(tmp_path / "m.png")
    result = invoke(
        "filter", tmp_path / "x.npy", "-k", "box:3", "--mask", tmp_path / "m.png",
        "-o", tmp_path / "y.npy",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    want = reference_normalized(
        x, np.ones((3, 3)), mask / 255, [1, 1], ["same"] * 2, [1, 1], "zero"
    )
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("memory", [[], ["-k", "1", "--max-memory", "1M"]])
def test_normalized_audio_streams_with_its_mask(tmp_path, memory):
    rng = np.random.default_rng(3)
    n = 60_000
    x = (rng.uniform(-0.5, 0.5, (n, 2))).astype(np.float32)
    m = (rng.random(n) > 0.3).astype(np.float64)
    sf.write(tmp_path / "in.wav", x, RATE, subtype="FLOAT")
    np.save(tmp_path / "m.npy", m)
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", "[1 2 3 2 1]", "--normalized", "--mask",
        tmp_path / "m.npy", "-o", tmp_path / "out.wav", "--json", *memory,
    )  # fmt: skip
    assert _record(result)["streamed"] is True
    got, rate = sf.read(tmp_path / "out.wav", dtype="float64")
    assert rate == RATE
    w = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    for c in range(2):  # the loop, vectorised over outputs: numerator and weight kept
        num = np.correlate(np.pad(x[:, c] * m, 2), w, "valid")
        den = np.correlate(np.pad(m, 2), w, "valid")
        want = np.where(den > 1e-5 * w.sum(), num / np.where(den > 0, den, 1), np.nan)
        np.testing.assert_allclose(got[:, c], want, atol=2e-6, equal_nan=True)
    assert leftovers(tmp_path) == []


def test_a_mask_of_the_wrong_shape_is_one_line(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((8, 9)))
    np.save(tmp_path / "m.npy", np.ones((8, 8)))
    result = invoke(
        "filter", tmp_path / "x.npy", "-k", "box:3", "--mask", tmp_path / "m.npy",
        "-o", tmp_path / "y.npy",
    )  # fmt: skip
    line = assert_one_error_line(result, 1)
    assert "m.npy" in line and "8x8" in line and "8x9" in line
    assert not (tmp_path / "y.npy").exists() and leftovers(tmp_path) == []


def test_a_colour_mask_and_a_mask_out_of_range_are_one_line(tmp_path):
    Image.fromarray(np.zeros((6, 7, 3), np.uint8)).save(tmp_path / "m.png")
    np.save(tmp_path / "x.npy", np.zeros((6, 7)))
    np.save(tmp_path / "big.npy", np.full((6, 7), 2.0))
    for mask, words in [("m.png", "3 channels"), ("big.npy", "between 0 and 1")]:
        result = invoke(
            "filter", tmp_path / "x.npy", "-k", "box:3", "--mask", tmp_path / mask,
            "-o", tmp_path / "y.npy",
        )  # fmt: skip
        assert words in assert_one_error_line(result, 1)


def test_normalized_refuses_a_zero_sum_kernel_in_one_line(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((6, 7)))
    result = invoke(
        "filter", tmp_path / "x.npy", "-k", "laplacian", "--normalized", "-o", tmp_path / "y.npy"
    )
    assert "zero-sum" in assert_one_error_line(result, 1)


# --------------------------------------------------------------------- transposed convolution


def test_transposed_bilinear_2_doubles_an_image(tmp_path):
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    result = invoke(
        "filter", tmp_path / "in.png", "--transposed", "--stride", "2", "-k", "bilinear:2",
        "-o", tmp_path / "up.png",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    got = pil_array(tmp_path / "up.png").astype(float)
    assert got.shape == (18, 22, 3)
    w = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    for c in range(3):
        want = reference_transpose(img[..., c], w, [2, 2], ["same"] * 2, [0, 0], [1, 1], "reflect")
        assert np.abs(got[..., c] - np.clip(np.round(want), 0, 255)).max() <= 1
    # inside, every output is the linear interpolation between its two nearest inputs
    inner = got[2:-2, 2:-2, 0]
    x = img[..., 0].astype(float)
    rows = np.zeros((18, 11))
    rows[2:-1:2] = 0.25 * x[:-1] + 0.75 * x[1:]
    rows[1:-2:2] = 0.75 * x[:-1] + 0.25 * x[1:]
    lin = np.zeros((18, 22))
    lin[:, 2:-1:2] = 0.25 * rows[:, :-1] + 0.75 * rows[:, 1:]
    lin[:, 1:-2:2] = 0.75 * rows[:, :-1] + 0.25 * rows[:, 1:]
    assert np.abs(inner - np.round(lin[2:-2, 2:-2])).max() <= 1


@pytest.mark.parametrize(
    "stride, padding, a, dilation",
    [("3", "valid", "1", "1"), ("2,3", "1", "1,2", "1"), ("2", "full", "0", "2")],
)
def test_transposed_with_output_padding_is_the_scatter_add_loop(
    tmp_path, stride, padding, a, dilation
):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 6))
    np.save(tmp_path / "x.npy", x)
    result = invoke(
        "filter", tmp_path / "x.npy", "--transposed", "-k", "[1 2 -1; 0 3 1]", "-s", stride,
        "-p", padding, "-a", a, "-d", dilation, "-o", tmp_path / "y.npy",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    two = lambda t: [int(v) for v in t.split(",")] * (2 if "," not in t else 1)  # noqa: E731
    pad = [padding] * 2 if not padding.isdigit() else [(int(padding), int(padding))] * 2
    w = np.array([[1.0, 2.0, -1.0], [0.0, 3.0, 1.0]])
    want = reference_transpose(x, w, two(stride), pad, two(a), two(dilation), "zero")
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-12)
    shape = invoke(
        "shape", "--transposed", "-i", "5,6", "-k", "2,3", "-s", stride, "-p", padding,
        "-a", a, "-d", dilation,
    )  # fmt: skip
    assert f"output: {want.shape[0]}x{want.shape[1]}" in shape.stdout


def test_transposed_equals_torch(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 7))
    w = rng.standard_normal((3, 4))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    result = invoke(
        "filter", tmp_path / "x.npy", "--transposed", "-k", tmp_path / "w.npy", "-s", "2,3",
        "-p", "1", "-a", "1,2", "-o", tmp_path / "y.npy",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    want = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None],
        stride=(2, 3), padding=1, output_padding=(1, 2),
    )[0, 0].numpy()  # fmt: skip
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-12)


def test_transposed_audio_doubles_the_rate(tmp_path):
    x = np.random.default_rng(7).uniform(-0.4, 0.4, (500, 2)).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, RATE, subtype="FLOAT")
    result = invoke(
        "filter", tmp_path / "in.wav", "--transposed", "-s", "2", "-k", "bilinear:2",
        "-o", tmp_path / "up.wav",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    got, rate = sf.read(tmp_path / "up.wav", dtype="float64")
    assert rate == 2 * RATE and got.shape == (1000, 2)
    for c in range(2):
        want = reference_transpose(
            x[:, c], [0.25, 0.75, 0.75, 0.25], [2], ["same"], [0], [1], "zero"
        )
        np.testing.assert_allclose(got[:, c], want, atol=1e-6)


def test_transposed_usage_errors_are_one_line(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 4)))
    for args in (["-a", "1"], ["--transposed", "--normalized"]):
        result = invoke(
            "filter", tmp_path / "x.npy", "-k", "box:3", "-o", tmp_path / "y.npy", *args
        )
        assert_one_error_line(result, 2)


# ---------------------------------------------------------------------- impulse responses


def _stereo(tmp_path, n=3000, seed=8):
    x = np.random.default_rng(seed).uniform(-0.4, 0.4, (n, 2)).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, RATE, subtype="FLOAT")
    return x.astype(np.float64)


def _ir(tmp_path, channels, taps=200, rate=RATE, name="ir.wav", seed=9, lead=0):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((taps, channels)) * np.exp(-np.arange(taps) / 40)[:, None] * 0.1
    h[:lead] = 0
    h = h.astype(np.float32)
    sf.write(tmp_path / name, h, rate, subtype="FLOAT")
    return h.astype(np.float64)


def _paths(x, h, n_in, n_out):
    """Output o = sum over inputs i of numpy.convolve(x[:, i], h[:, i*n_out + o])."""
    return np.stack(
        [sum(np.convolve(x[:, i], h[:, i * n_out + o]) for i in range(n_in)) for o in range(n_out)],
        axis=1,
    )


#: The routes of an audio job: (extra arguments, frames, streamed?).  A second kernel (the
#: identity) keeps a small input in memory; a budget below its working set streams the
#: chain stage by stage through temporary files.
ROUTES = {
    "one pass": ([], 3000, True),
    "in memory": (["-k", "1"], 3000, False),
    "staged": (["-k", "1", "--max-memory", "1M"], 50_000, True),
}


@pytest.mark.parametrize("route", ROUTES)
def test_a_4_channel_ir_is_true_stereo(tmp_path, route):
    extra, n, streamed = ROUTES[route]
    x = _stereo(tmp_path, n)
    h = _ir(tmp_path, 4)
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--flip", "--padding",
        "full", "-o", tmp_path / "out.wav", "--json", *extra,
    )  # fmt: skip
    assert _record(result).get("streamed", False) is streamed
    got, _ = sf.read(tmp_path / "out.wav", dtype="float64")
    np.testing.assert_allclose(got, _paths(x, h, 2, 2), atol=2e-6)


@pytest.mark.parametrize("layout, n_in, n_out", [("1x2", 1, 2), ("1x4", 1, 4), ("2x3", 2, 3)])
def test_an_ir_layout_is_an_inputs_by_outputs_matrix(tmp_path, layout, n_in, n_out):
    x = np.random.default_rng(10).uniform(-0.4, 0.4, (2000, n_in))
    sf.write(tmp_path / "in.wav", x, RATE, subtype="DOUBLE")
    h = _ir(tmp_path, n_in * n_out)
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--flip", "--padding",
        "full", "--ir-layout", layout, "-o", tmp_path / "out.wav",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    got, _ = sf.read(tmp_path / "out.wav", dtype="float64", always_2d=True)
    np.testing.assert_allclose(got, _paths(x, h, n_in, n_out), atol=1e-6)


def test_resample_kernel_is_polyphase_with_the_exact_ratio(tmp_path):
    from scipy.signal import resample_poly

    x = _stereo(tmp_path)
    h = _ir(tmp_path, 1, rate=11025)[:, 0]
    args = ("filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--flip", "-p", "full")
    refused = invoke(*args, "-o", tmp_path / "out.wav")
    assert "11025 Hz" in assert_one_error_line(refused, 1)
    result = invoke(*args, "--resample-kernel", "-o", tmp_path / "out.wav")
    assert result.exit_code == 0, result.stderr
    assert "resampled from 11025 Hz to 8000 Hz" in result.stderr
    ratio = Fraction(RATE, 11025)
    hr = resample_poly(h, ratio.numerator, ratio.denominator) / float(ratio)
    got, _ = sf.read(tmp_path / "out.wav", dtype="float64")
    want = np.stack([np.convolve(x[:, c], hr) for c in range(2)], axis=1)
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_a_ratio_that_cannot_resample_exactly_is_one_line(tmp_path):
    _stereo(tmp_path)
    _ir(tmp_path, 1, rate=44101)
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--resample-kernel",
        "-o", tmp_path / "out.wav",
    )  # fmt: skip
    line = assert_one_error_line(result, 1)
    assert "ir.wav" in line and "8000/44101" in line
    assert not (tmp_path / "out.wav").exists() and leftovers(tmp_path) == []


def test_a_3_channel_ir_on_stereo_is_one_line(tmp_path):
    _stereo(tmp_path)
    _ir(tmp_path, 3)
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "-o", tmp_path / "out.wav"
    )
    line = assert_one_error_line(result, 1)
    assert "ir.wav" in line and "3-channel" in line
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("route", ROUTES)
def test_mix_trim_and_predelay(tmp_path, route):
    extra, n, streamed = ROUTES[route]
    x = _stereo(tmp_path, n)
    h = _ir(tmp_path, 4, lead=30)
    h[:20] = 1e-4  # below -60 dBFS: trimmed too
    sf.write(tmp_path / "ir.wav", h.astype(np.float32), RATE, subtype="FLOAT")
    h = h.astype(np.float32).astype(np.float64)
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--flip", "-p", "full",
        "--trim-ir", "--predelay", "0.005", "--mix", "0.3", "-o", tmp_path / "out.wav",
        "--json", *extra,
    )  # fmt: skip
    assert _record(result).get("streamed", False) is streamed
    assert _record(result)["ir"][0]["trimmed"] == 30
    trimmed = h[30:]
    latency = int(np.argmax(np.abs(trimmed).max(axis=1)))
    wet_ir = np.concatenate([np.zeros((40, 4)), trimmed])  # 5 ms at 8 kHz
    wet = _paths(x, wet_ir, 2, 2)
    dry = np.zeros_like(wet)
    dry[latency : latency + len(x)] = x
    got, _ = sf.read(tmp_path / "out.wav", dtype="float64")
    np.testing.assert_allclose(got, 0.7 * dry + 0.3 * wet, atol=2e-6)


@pytest.mark.parametrize("mode", ["peak", "energy"])
def test_ir_normalize(tmp_path, mode):
    x = _stereo(tmp_path)
    h = _ir(tmp_path, 4)
    gain = 1 / np.abs(h).max() if mode == "peak" else np.sqrt(2 / np.sum(h**2))
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--flip", "-p", "full",
        "--ir-normalize", mode, "-o", tmp_path / "out.wav",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    got, _ = sf.read(tmp_path / "out.wav", dtype="float64")
    np.testing.assert_allclose(got, _paths(x, h * gain, 2, 2), atol=1e-5)


def test_trim_ir_reports_the_latency_it_removed(tmp_path):
    _stereo(tmp_path)
    h = _ir(tmp_path, 1, lead=30)
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--trim-ir",
        "-o", tmp_path / "out.wav",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    first = int(np.argmax(np.abs(h[:, 0]) >= 1e-3))
    assert f"ir.wav: trimmed {first} samples ({1000 * first / RATE:.3g} ms)" in result.stderr


def test_ir_options_without_an_ir_and_a_bad_layout_are_one_line(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((6, 7)))
    result = invoke(
        "filter", tmp_path / "x.npy", "-k", "box:3", "--mix", "0.5", "-o", tmp_path / "y.npy"
    )
    assert "--mix applies to an audio impulse response" in assert_one_error_line(result, 1)
    _stereo(tmp_path)
    _ir(tmp_path, 4)
    for layout, code in (("2by2", 2), ("1x4", 1)):
        result = invoke(
            "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--ir-layout", layout,
            "-o", tmp_path / "out.wav",
        )  # fmt: skip
        assert_one_error_line(result, code)


def test_mix_on_a_matrix_with_other_outputs_than_inputs_is_one_line(tmp_path):
    _stereo(tmp_path)
    _ir(tmp_path, 6)
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--ir-layout", "2x3",
        "--mix", "0.5", "-o", tmp_path / "out.wav",
    )  # fmt: skip
    assert "2x3" in assert_one_error_line(result, 1)


def test_dry_run_plans_a_matrix_and_a_transposed_kernel(tmp_path):
    _stereo(tmp_path)
    _ir(tmp_path, 2)
    result = invoke(
        "filter", tmp_path / "in.wav", "-k", tmp_path / "ir.wav", "--ir-layout", "2x1",
        "--flip", "-p", "full", "--dry-run", "--json", "-o", tmp_path / "out.wav",
    )  # fmt: skip
    assert _record(result)["shape_out"] == [3000 + 199, 1]
    np.save(tmp_path / "x.npy", np.zeros((5, 6)))
    result = invoke(
        "filter", tmp_path / "x.npy", "-k", "bilinear:2", "--transposed", "-s", "2",
        "--dry-run", "--json", "-o", tmp_path / "y.npy",
    )  # fmt: skip
    assert _record(result)["shape_out"] == [10, 12]


# ------------------------------------------------------------------------------ features


def test_features_normalized_sums_each_channels_path_with_the_alpha_as_mask(tmp_path):
    rng = np.random.default_rng(11)
    rgba = rng.integers(0, 256, (10, 12, 4), dtype=np.uint8)
    rgba[..., 3] = rng.integers(1, 256, (10, 12), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    result = invoke(
        "features", tmp_path / "in.png", "-k", "box:3", "-k", "[1 2 1; 2 4 2; 1 2 1]",
        "--normalized", "--stride", "2", "-o", tmp_path / "maps",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    got = np.load(tmp_path / "maps" / "maps.npy")
    alpha = rgba[..., 3] / 255.0
    for f, w in enumerate([np.ones((3, 3)) / 9, np.outer([1, 2, 1], [1, 2, 1]) / 1.0]):
        want = sum(
            reference_normalized(rgba[..., c], w, alpha, [2, 2], ["same"] * 2, [1, 1], "reflect")
            for c in range(3)
        )
        np.testing.assert_allclose(got[f], want, rtol=1e-5, atol=1e-3)
    assert json.loads((tmp_path / "maps" / "maps.json").read_text())["operation"] == "normalized"


def test_features_transposed_is_torch_conv_transpose_with_channels(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    img = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "in.png")
    w = rng.standard_normal((2, 3, 3, 3))  # (F, C, kh, kw)
    np.save(tmp_path / "w.npy", w)
    result = invoke(
        "features", tmp_path / "in.png", "--weights", tmp_path / "w.npy", "--transposed",
        "-s", "2", "-p", "1", "-a", "1", "--pad-mode", "zero", "-o", tmp_path / "maps",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    got = np.load(tmp_path / "maps" / "maps.npy")
    x = torch.from_numpy(img.astype(np.float64).transpose(2, 0, 1))[None]
    want = torch.nn.functional.conv_transpose2d(
        x, torch.from_numpy(w.transpose(1, 0, 2, 3)), stride=2, padding=1, output_padding=1
    )[0].numpy()
    assert got.shape == (2, 14, 18)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_transposed_bilinear_with_replicate_is_torch_interpolate(tmp_path):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(13).standard_normal((6, 9))
    np.save(tmp_path / "x.npy", x)
    result = invoke(
        "filter", tmp_path / "x.npy", "--transposed", "-s", "2", "-k", "bilinear:2",
        "--pad-mode", "replicate", "-o", tmp_path / "y.npy",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    want = torch.nn.functional.interpolate(
        torch.from_numpy(x)[None, None], scale_factor=2, mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-12)
