"""``convcli filter`` end to end, through the real CLI (CliRunner, and a few subprocesses).

References are computed here in float64 with scipy.ndimage / numpy on data read with Pillow
and soundfile, then rounded and clipped as SPEC says; 8/16-bit outputs must agree within 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import (
    FRAMES,
    IMAGE_MODES,
    RATE,
    assert_one_error_line,
    error_lines,
    invoke,
    leftovers,
    pil_array,
    pil_frames,
    pil_mode,
    rng_for,
)
from PIL import Image
from scipy import ndimage

import convcli
from convcli.kernels import make_kernel

JSON_KEYS = {
    "input",
    "output",
    "kind",
    "shape_in",
    "shape_out",
    "dtype",
    "rate",
    "kernels",
    "methods",
    "pads",
    "clipped",
    "seconds",
    "status",
    "error",
}


# ------------------------------------------------------------------------------ references


def correlate(x: np.ndarray, k: np.ndarray, mode: str = "mirror", cval: float = 0.0):
    """Float64 correlation with centred odd kernels, channel by channel (channels last)."""
    x = np.asarray(x, np.float64)
    if x.ndim == k.ndim:
        return ndimage.correlate(x, k, mode=mode, cval=cval)
    return np.stack(
        [ndimage.correlate(x[..., c], k, mode=mode, cval=cval) for c in range(x.shape[-1])], -1
    )


def premultiplied(x: np.ndarray, k: np.ndarray, unit: float = 255.0) -> np.ndarray:
    """The reference of --alpha premultiply: filter colour*alpha and alpha, then divide
    (where the result is fully transparent, the colour filtered as it is)."""
    x = np.asarray(x, np.float64)
    a = x[..., -1]
    col = correlate(x[..., :-1] * (a / unit)[..., None], k)
    alpha = correlate(a, k)
    w = (alpha / unit)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        col = np.where(w > 1e-6, col / w, correlate(x[..., :-1], k))
    return np.concatenate([col, alpha[..., None]], -1)


def quantise(ref: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.rint(ref), info.min, info.max)


def assert_within_one(out: np.ndarray, ref: np.ndarray) -> None:
    assert out.shape == ref.shape
    diff = np.abs(out.astype(np.float64) - quantise(ref, out.dtype))
    assert diff.max() <= 1, diff.max()


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def records(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


GAUSS = "gaussian:1"


# ---------------------------------------------------------------------------- image modes


@pytest.mark.parametrize("mode", list(IMAGE_MODES))
def test_identity_round_trips_every_image_mode(tmp_path, make_image, mode):
    src = make_image(mode)
    before = src.read_bytes()
    out = tmp_path / f"out{src.suffix}"
    ok(invoke("filter", src, "-k", "identity", "-o", out))
    assert pil_mode(out) == IMAGE_MODES[mode][1]
    expected, got = pil_array(src), pil_array(out)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert src.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", list(IMAGE_MODES))
def test_blur_equals_the_float_reference_in_every_mode(tmp_path, make_image, mode):
    src = make_image(mode)
    out = tmp_path / f"out{src.suffix}"
    res = ok(invoke("filter", src, "-k", GAUSS, "-o", out, "--json"))
    (rec,) = records(res)
    assert rec["status"] == "ok" and rec["kind"] == "image"
    x = pil_array(src)
    k = make_kernel(GAUSS, 2)
    got = pil_array(out)
    assert pil_mode(out) == IMAGE_MODES[mode][1]  # 16-bit stays 16-bit, float stays float
    assert got.dtype == x.dtype
    if x.ndim == 3 and x.shape[-1] in (2, 4):
        ref = premultiplied(x, k)  # the default --alpha
    else:
        ref = correlate(x, k)
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
    else:
        assert_within_one(got, ref)


def test_sixteen_bit_keeps_its_low_byte(tmp_path, make_image):
    src = make_image("I;16")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "box:3", "-o", out))
    got = pil_array(out)
    assert got.dtype == np.uint16 and len(np.unique(got & 0xFF)) > 200


# ---------------------------------------------------------------------------------- alpha


def red_under_transparent_blue_opaque() -> np.ndarray:
    img = np.zeros((40, 50, 4), np.uint8)
    img[:, :25] = (255, 0, 0, 0)  # pure red, fully transparent
    img[:, 25:] = (0, 0, 255, 255)  # opaque blue
    return img


def test_premultiply_keeps_transparent_colour_out(tmp_path, write_png):
    src = write_png(red_under_transparent_blue_opaque(), "rgba.png")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "box:5", "-o", out))
    got = pil_array(out)
    visible = got[..., 3] > 0
    assert visible[:, 23:27].all()  # the blur spread alpha across the edge
    assert got[visible][:, 0].max() == 0, "red bled into the visible pixels"
    assert (got[visible][:, 2] >= 254).all()  # the colour there is still blue
    np.testing.assert_array_equal(
        got[:, :, 3], quantise(correlate(src_alpha(src), box(5)), np.uint8)
    )


def src_alpha(path):
    return pil_array(path)[..., 3]


def box(n, ndim=2):
    return make_kernel(f"box:{n}", ndim)


def test_premultiply_applies_to_palette_images_with_transparency(tmp_path):
    # A P image whose transparent index is red, next to opaque blue: loaded as RGBA, and
    # premultiplied like any RGBA image.
    a = np.zeros((40, 50), np.uint8)
    a[:, 25:] = 1
    im = Image.frombytes("P", (50, 40), a.tobytes())
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    src = tmp_path / "pal.png"
    im.save(src, transparency=0)
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "box:5", "-o", out))
    got = pil_array(out)
    assert pil_mode(out) == "RGBA"
    visible = got[..., 3] > 0
    assert got[visible][:, 0].max() == 0, "the transparent index's red bled into blue"


def test_alpha_separate_filters_every_channel_as_it_is(tmp_path, write_png):
    x = red_under_transparent_blue_opaque()
    src = write_png(x, "rgba.png")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "box:5", "--alpha", "separate", "-o", out))
    got = pil_array(out)
    assert_within_one(got, correlate(x, box(5)))
    assert got[20, 26, 0] > 0  # separate: the hidden red shows at the edge, as asked


def test_alpha_keep_leaves_alpha_unchanged(tmp_path, make_image):
    src = make_image("RGBA")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", GAUSS, "--alpha", "keep", "-o", out))
    x, got = pil_array(src), pil_array(out)
    np.testing.assert_array_equal(got[..., 3], x[..., 3])
    assert_within_one(got[..., :3], correlate(x[..., :3], make_kernel(GAUSS, 2)))


def test_alpha_keep_with_stride_samples_alpha(tmp_path, make_image):
    src = make_image("LA")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "box:3", "--alpha", "keep", "-s", "2", "-o", out))
    x, got = pil_array(src), pil_array(out)
    assert got.shape == (20, 25, 2)
    # same padding at stride 2 pads 0:1, so output o is centred on input 2*o + 1: alpha is
    # taken where the kernel's centre sits
    np.testing.assert_array_equal(got[..., 1], x[1::2, 1::2, 1])


def test_la_premultiplied(tmp_path, make_image):
    src = make_image("LA")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "box:3", "-o", out))
    assert_within_one(pil_array(out), premultiplied(pil_array(src), box(3)))


# -------------------------------------------------------------------------------- options


def test_gray(tmp_path, make_image):
    src = make_image("RGBA")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", GAUSS, "--gray", "-o", out))
    assert pil_mode(out) == "L"
    with Image.open(src) as im:
        luma = np.array(im.convert("RGB").convert("L"))
    assert_within_one(pil_array(out), correlate(luma, make_kernel(GAUSS, 2)))


def test_normalize(tmp_path, write_png):
    src = write_png(np.full((40, 50), 100, np.uint8))
    raw, norm = tmp_path / "raw.png", tmp_path / "norm.png"
    res = ok(invoke("filter", src, "-k", "[1 2 1; 2 4 2; 1 2 1]", "-o", raw, "--json"))
    assert records(res)[0]["clipped"] == 40 * 50  # 1600 does not fit in 8 bits
    assert (pil_array(raw) == 255).all()
    ok(invoke("filter", src, "-k", "[1 2 1; 2 4 2; 1 2 1]", "--normalize", "-o", norm))
    assert (pil_array(norm) == 100).all()


def test_bias_is_mid_grey_for_a_zero_sum_kernel(tmp_path, write_png):
    src = write_png(np.full((40, 50), 37, np.uint8))
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "laplacian", "--bias", "128", "-o", out))
    assert (pil_array(out) == 128).all()


def test_scale_and_bias_in_input_units(tmp_path, make_image):
    src = make_image("I;16")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "identity", "--scale", "0.5", "--bias", "1000", "-o", out))
    x = pil_array(src).astype(np.float64)
    np.testing.assert_array_equal(pil_array(out), quantise(0.5 * x + 1000, np.uint16))


def test_abs(tmp_path, write_png):
    ramp = np.tile(np.arange(250, 0, -5, dtype=np.uint8), (40, 1))  # decreasing to the right
    src = write_png(ramp)
    plain, mag = tmp_path / "plain.png", tmp_path / "abs.png"
    ok(invoke("filter", src, "-k", "sobel:axis=1", "-o", plain))
    ok(invoke("filter", src, "-k", "sobel:axis=1", "--abs", "-o", mag))
    ref = correlate(ramp, make_kernel("sobel:axis=1", 2))
    assert (ref[:, 1:-1] < 0).all()
    assert (pil_array(plain)[:, 1:-1] == 0).all()  # negative: clipped to 0
    assert_within_one(pil_array(mag), np.abs(ref))


@pytest.mark.parametrize(("mode", "top"), [("L", 255), ("I;16", 65535)])
def test_rescale_stretches_to_the_full_range(tmp_path, make_image, mode, top):
    src = make_image(mode)
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "box:5", "--rescale", "-o", out))
    got = pil_array(out)
    assert got.min() == 0 and got.max() == top
    ref = correlate(pil_array(src), box(5))
    ref = (ref - ref.min()) / (ref.max() - ref.min()) * top
    assert_within_one(got, ref)


def test_dtype_uint16_png_from_uint8(tmp_path, make_image):
    src = make_image("L")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "identity", "--dtype", "uint16", "-o", out))
    assert pil_mode(out) == "I;16"
    np.testing.assert_array_equal(pil_array(out), pil_array(src).astype(np.uint16))


def test_dtype_float32_to_tif(tmp_path, make_image):
    src = make_image("L")
    out = tmp_path / "o.tif"
    ok(invoke("filter", src, "-k", GAUSS, "--dtype", "float32", "-o", out))
    assert pil_mode(out) == "F"
    ref = correlate(pil_array(src), make_kernel(GAUSS, 2))
    np.testing.assert_allclose(pil_array(out), ref, rtol=1e-5, atol=1e-3)


def test_dtype_a_format_cannot_hold_is_one_line_naming_alternatives(tmp_path, make_image):
    src = make_image("RGB")
    out = tmp_path / "o.png"
    res = invoke("filter", src, "-k", GAUSS, "--dtype", "float32", "-o", out)
    line = assert_one_error_line(res, 1)
    assert str(src) in line and ".npy" in line and ".tif" in line
    assert not out.exists() and leftovers(tmp_path) == []


def test_as_image_reads_a_3d_npy_with_channels_last(tmp_path):
    x = rng_for(3).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    src = tmp_path / "rgb.npy"
    np.save(src, x)
    out_npy, out_png = tmp_path / "o.npy", tmp_path / "o.png"
    res = ok(invoke("filter", src, "--as", "image", "-k", GAUSS, "-o", out_npy, "--json"))
    (rec,) = records(res)
    assert rec["kind"] == "image" and rec["kernels"] == [[9, 9]]
    ref = correlate(x, make_kernel(GAUSS, 2))  # reflect: the default for images
    assert_within_one(np.load(out_npy), ref)
    ok(invoke("filter", src, "--as", "image", "-k", GAUSS, "-o", out_png))
    assert pil_mode(out_png) == "RGB"
    assert_within_one(pil_array(out_png), ref)


def test_as_audio_reads_a_2d_npy_and_writes_npy(tmp_path):
    x = rng_for(4).uniform(-0.5, 0.5, (300, 2)).astype(np.float32)
    src = tmp_path / "sig.npy"
    np.save(src, x)
    out = tmp_path / "o.npy"
    res = ok(invoke("filter", src, "--as", "audio", "-k", "1 2 3", "-o", out, "--json"))
    (rec,) = records(res)
    assert rec["kind"] == "audio" and rec["pads"] == [[[1, 1]]]
    got = np.load(out)
    assert got.dtype == np.float32 and got.shape == x.shape
    for c in range(2):  # zero padding: the default for audio
        ref = np.correlate(x[:, c].astype(np.float64), [1.0, 2.0, 3.0], mode="same")
        np.testing.assert_allclose(got[:, c], ref, atol=1e-6)


@pytest.mark.parametrize("flip", [False, True])
def test_flip_is_true_convolution(tmp_path, flip):
    x = rng_for(6).normal(size=200)
    src = tmp_path / "x.npy"
    np.save(src, x)
    out = tmp_path / "o.npy"
    ok(invoke("filter", src, "-k", "1 2 4", *(["--flip"] if flip else []), "-o", out))
    op = np.convolve if flip else np.correlate
    np.testing.assert_allclose(np.load(out), op(x, [1.0, 2.0, 4.0], mode="same"), atol=1e-12)


@pytest.mark.parametrize(
    ("padding", "pads"),
    [
        ("valid", [(0, 0), (0, 0)]),
        ("same", [(1, 1), (2, 2)]),
        ("full", [(2, 2), (4, 4)]),
        ("2", [(2, 2), (2, 2)]),
        ("1,3", [(1, 1), (3, 3)]),
        ("0:2,3:1", [(0, 2), (3, 1)]),
    ],
)
def test_padding_forms(tmp_path, padding, pads):
    x = rng_for(7).normal(size=(12, 15))
    k = rng_for(8).normal(size=(3, 5))
    src, kfile = tmp_path / "x.npy", tmp_path / "k.npy"
    np.save(src, x)
    np.save(kfile, k)
    out = tmp_path / "o.npy"
    res = ok(invoke("filter", src, "-k", kfile, "--padding", padding, "-o", out, "--json"))
    assert records(res)[0]["pads"] == [[list(p) for p in pads]]
    xp = np.pad(x, pads)  # arrays: zero padding by default
    ref = ndimage.correlate(xp, k, mode="constant")
    ref = ref[1 : xp.shape[0] - 1, 2 : xp.shape[1] - 2]  # the 'valid' part
    np.testing.assert_allclose(np.load(out), ref, atol=1e-9)


def test_default_pad_mode_is_reflect_for_images(tmp_path, make_image):
    src = make_image("L")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "1 0 0", "-o", out))  # y[c] = x_padded[c - 1]
    x, got = pil_array(src), pil_array(out)
    np.testing.assert_array_equal(got[:, 0], x[:, 1])  # reflect: d c b | a b c d
    np.testing.assert_array_equal(got[:, 1:], x[:, :-1])


def test_default_pad_mode_is_zero_for_audio(tmp_path, make_audio):
    src = make_audio("a.wav", "PCM_16", channels=1)
    out = tmp_path / "o.wav"
    ok(invoke("filter", src, "-k", "1 0 0", "-o", out))
    x, _ = sf.read(src, dtype="int16")
    got, _ = sf.read(out, dtype="int16")
    assert got[0] == 0
    np.testing.assert_array_equal(got[1:], x[:-1])


@pytest.mark.parametrize(
    ("mode", "first"),
    [
        ("replicate", lambda x: x[:, 0]),
        ("circular", lambda x: x[:, -1]),
        ("symmetric", lambda x: x[:, 0]),
        ("zero", lambda x: 0 * x[:, 0]),
    ],
)
def test_pad_modes_at_the_border(tmp_path, make_image, mode, first):
    src = make_image("L")
    out = tmp_path / "o.png"
    ok(invoke("filter", src, "-k", "1 0 0", "--pad-mode", mode, "-o", out))
    np.testing.assert_array_equal(pil_array(out)[:, 0], first(pil_array(src)))


def test_pad_value(tmp_path, make_image):
    src = make_image("L")
    out = tmp_path / "o.png"
    args = ("-k", "1 0 0", "--pad-mode", "constant", "--pad-value", "77", "-o", out)
    ok(invoke("filter", src, *args))
    assert (pil_array(out)[:, 0] == 77).all()


def test_methods_give_the_same_file(tmp_path, make_image):
    src = make_image("RGB")
    outs = {}
    for method in ("auto", "direct", "fft", "separable"):
        outs[method] = tmp_path / f"{method}.png"
        res = ok(
            invoke(
                "filter", src, "-k", "gaussian:2", "--method", method, "-o", outs[method], "--json"
            )
        )
        if method != "auto":
            assert records(res)[0]["methods"] == [method]
    base = pil_array(outs["direct"]).astype(int)
    for method, path in outs.items():
        assert np.abs(pil_array(path).astype(int) - base).max() <= 1, method


def test_separable_method_on_a_non_separable_kernel(tmp_path, make_image):
    src = make_image("L")
    out = tmp_path / "o.png"
    full_rank = "[1 2 3; 4 5 6; 7 8 10]"  # rank 3: no fewer 1-D passes than its size
    res = invoke("filter", src, "-k", full_rank, "--method", "separable", "-o", out)
    line = assert_one_error_line(res, 1)
    assert line.startswith(f"convcli: error: {src}: ") and "separable" in line
    assert not out.exists()


def test_stride_and_dilation(tmp_path, make_image):
    src = make_image("L")
    out = tmp_path / "o.png"
    res = ok(invoke("filter", src, "-k", "box:3", "-s", "2,3", "-d", "2", "-o", out, "--json"))
    (rec,) = records(res)
    assert rec["shape_out"] == [20, 17] == list(pil_array(out).shape)


def test_chain_applies_kernels_one_after_another(tmp_path, make_image):
    src = make_image("L")
    out = tmp_path / "o.npy"
    ok(invoke("filter", src, "-k", "box:3", "-k", "sobel", "--dtype", "float32", "-o", out))
    ref = correlate(correlate(pil_array(src), box(3)), make_kernel("sobel", 2))
    np.testing.assert_allclose(np.load(out), ref, rtol=1e-5, atol=1e-3)


# ---------------------------------------------------------------------------------- audio


def read_int(path):
    return sf.read(path, dtype="int32", always_2d=True)[0]


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_audio_identity_is_sample_exact_in_every_wav_subtype(tmp_path, make_audio, subtype):
    src = make_audio("in.wav", subtype, channels=2)
    out = tmp_path / "o.wav"
    ok(invoke("filter", src, "-k", "identity", "-o", out))
    info = sf.info(out)
    assert (info.subtype, info.samplerate, info.channels) == (subtype, RATE, 2)
    if subtype in ("FLOAT", "DOUBLE"):
        dt = "float32" if subtype == "FLOAT" else "float64"
        np.testing.assert_array_equal(sf.read(out, dtype=dt)[0], sf.read(src, dtype=dt)[0])
    else:
        np.testing.assert_array_equal(read_int(out), read_int(src))


@pytest.mark.parametrize(
    ("name", "subtype", "channels"),
    [
        ("m.wav", "PCM_16", 1),
        ("six.wav", "PCM_24", 6),
        ("s.flac", "PCM_16", 2),
        ("m.flac", "PCM_24", 1),
        ("s.aiff", "PCM_16", 2),
    ],
)
def test_audio_formats_and_channel_counts(tmp_path, make_audio, name, subtype, channels):
    src = make_audio(name, subtype, channels=channels)
    out = tmp_path / f"o{src.suffix}"
    ok(invoke("filter", src, "-k", "identity", "-o", out))
    assert (sf.info(out).subtype, sf.info(out).channels) == (subtype, channels)
    np.testing.assert_array_equal(read_int(out), read_int(src))
    blurred = tmp_path / f"b{src.suffix}"
    ok(invoke("filter", src, "-k", "[1 2 1]/4", "-o", blurred))
    x = read_int(src).astype(np.float64) / 2.0**31
    k = np.array([0.25, 0.5, 0.25])
    ref = np.stack([np.correlate(np.pad(x[:, c], 1), k, "valid") for c in range(channels)], -1)
    bits = 16 if subtype == "PCM_16" else 24
    got = read_int(blurred).astype(np.float64) / 2.0 ** (32 - bits)
    assert np.abs(got - np.rint(ref * 2.0 ** (bits - 1))).max() <= 1


def test_clipping_is_counted_warned_and_never_wraps(tmp_path, make_audio):
    src = make_audio("in.wav", "PCM_16", channels=2)
    out = tmp_path / "o.wav"
    res = ok(invoke("filter", src, "-k", "identity", "--scale", "4", "-o", out, "--json"))
    x = sf.read(src, dtype="int16")[0].astype(np.int64)
    loud = 4 * x
    expected = int(np.count_nonzero((loud > 32767) | (loud < -32768)))
    assert expected > 0
    assert records(res)[0]["clipped"] == expected
    warnings = [ln for ln in res.stderr.splitlines() if "clipped" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("convcli: warning: ")
    assert str(expected) in warnings[0]
    got = sf.read(out, dtype="int16")[0]
    np.testing.assert_array_equal(got, np.clip(loud, -32768, 32767))  # saturates, no wrap
    quiet = ok(
        invoke("filter", src, "-k", "identity", "--scale", "4", "-q", "-o", tmp_path / "q.wav")
    )
    assert quiet.stderr == ""


@pytest.mark.parametrize(("rate", "stride", "rate_out"), [(8000, 2, 4000), (44100, 3, 14700)])
def test_stride_divides_the_sample_rate(tmp_path, make_audio, rate, stride, rate_out):
    src = make_audio("in.wav", "PCM_16", channels=1, rate=rate, frames=rate // 10)
    out = tmp_path / "o.wav"
    res = ok(invoke("filter", src, "-k", "identity", "-s", str(stride), "-o", out, "--json"))
    assert records(res)[0]["rate_out"] == rate_out
    assert sf.info(out).samplerate == rate_out
    np.testing.assert_array_equal(read_int(out), read_int(src)[::stride])


def test_stride_that_does_not_divide_the_rate_is_an_error(tmp_path, make_audio):
    src = make_audio("in.wav", "PCM_16", channels=1, rate=22050, frames=2205)
    out = tmp_path / "o.wav"
    res = invoke("filter", src, "-k", "identity", "-s", "4", "-o", out)
    line = assert_one_error_line(res, 1)
    assert "22050" in line and str(src) in line
    assert not out.exists()


def stereo_ir(tmp_path, taps=31):
    ir = rng_for(11).uniform(-0.3, 0.3, (taps, 2))
    path = tmp_path / "ir.wav"
    sf.write(path, ir, RATE, subtype="DOUBLE")
    return path, ir


def test_stereo_impulse_response_on_stereo_input(tmp_path, make_audio):
    src = make_audio("in.wav", "FLOAT", channels=2, amplitude=0.3)
    ir_path, ir = stereo_ir(tmp_path)
    out = tmp_path / "o.wav"
    ok(invoke("filter", src, "-k", ir_path, "-o", out))
    x = sf.read(src, dtype="float64")[0]
    got = sf.read(out, dtype="float64")[0]
    for c in range(2):  # one kernel per channel; same padding is 15:15 for 31 taps
        ref = np.correlate(np.pad(x[:, c], 15), ir[:, c], "valid")
        np.testing.assert_allclose(got[:, c], ref, atol=1e-5)


def test_stereo_impulse_response_on_mono_input(tmp_path, make_audio):
    src = make_audio("in.wav", "FLOAT", channels=1, amplitude=0.3)
    ir_path, ir = stereo_ir(tmp_path)
    out = tmp_path / "o.wav"
    res = ok(invoke("filter", src, "-k", ir_path, "-o", out, "--json"))
    assert records(res)[0]["shape_out"] == [FRAMES, 2]
    dry = ok(invoke("filter", src, "-k", ir_path, "-o", tmp_path / "d.wav", "--dry-run", "--json"))
    assert records(dry)[0]["shape_out"] == [FRAMES, 2]
    x = sf.read(src, dtype="float64", always_2d=True)[0][:, 0]
    got = sf.read(out, dtype="float64", always_2d=True)[0]
    assert got.shape == (FRAMES, 2)
    for c in range(2):
        ref = np.correlate(np.pad(x, 15), ir[:, c], "valid")
        np.testing.assert_allclose(got[:, c], ref, atol=1e-5)


def test_normalize_divides_each_channel_of_an_impulse_response_by_its_own_sum(tmp_path, make_audio):
    x = rng_for(12).uniform(-0.5, 0.5, (FRAMES, 1))
    src = make_audio("in.wav", "FLOAT", data=np.hstack([x, x]))
    ir = np.array([[1.0, 3.0], [1.0, 3.0]]) / 8  # channel sums 0.25 and 0.75
    ir_path = tmp_path / "ir.wav"
    sf.write(ir_path, ir, RATE, subtype="DOUBLE")
    out = tmp_path / "o.wav"
    ok(invoke("filter", src, "-k", ir_path, "--normalize", "-o", out))
    got = sf.read(out, dtype="float64")[0]
    np.testing.assert_allclose(got[:, 0], got[:, 1], atol=1e-7)
    ref = np.correlate(np.pad(x[:, 0], (0, 1)), [0.5, 0.5], "valid")  # same pads 0:1
    np.testing.assert_allclose(got[:, 0], ref, atol=1e-6)


def test_reverb_with_flip_and_full_padding(tmp_path, make_audio):
    src = make_audio("dry.wav", "PCM_16", channels=2, amplitude=0.2)
    ir = rng_for(13).uniform(-0.2, 0.2, 40)
    ir_path = tmp_path / "room.wav"
    sf.write(ir_path, ir, RATE, subtype="FLOAT")
    ir = sf.read(ir_path, dtype="float64")[0]
    out = tmp_path / "wet.wav"
    res = ok(
        invoke("filter", src, "-k", ir_path, "--flip", "--padding", "full", "-o", out, "--json")
    )
    assert records(res)[0]["shape_out"] == [FRAMES + 40 - 1, 2]
    assert sf.info(out).frames == FRAMES + 40 - 1
    x = sf.read(src, dtype="float64")[0]
    got = sf.read(out, dtype="int16")[0].astype(np.float64)
    for c in range(2):
        ref = np.rint(np.convolve(x[:, c], ir) * 32768)
        assert np.abs(got[:, c] - ref).max() <= 1


def test_audio_lowpass_uses_the_rate(tmp_path, make_audio):
    src = make_audio("in.wav", "PCM_16", channels=1)
    out = tmp_path / "o.wav"
    res = ok(invoke("filter", src, "-k", "lowpass:1000", "-o", out, "--json"))
    (rec,) = records(res)
    taps = rec["kernels"][0][0]
    np.testing.assert_allclose(make_kernel("lowpass:1000", 1, rate=RATE).shape, [taps])


# -------------------------------------------------------------------------------- volumes


def test_folder_of_slices_in_natural_order_and_names_kept(tmp_path, slice_folder, volume_array):
    out = tmp_path / "out_slices"
    res = ok(invoke("filter", slice_folder, "-k", "identity", "-o", out, "--json"))
    assert records(res)[0]["kind"] == "volume"
    names = sorted(os.listdir(out))
    assert names == sorted(f"s{i}.png" for i in range(1, 13))
    for i in range(1, 13):
        np.testing.assert_array_equal(pil_array(out / f"s{i}.png"), volume_array[i - 1])
    assert leftovers(tmp_path) == []


def test_folder_3d_gaussian_equals_the_reference(tmp_path, slice_folder, volume_array):
    out = tmp_path / "smooth"
    res = ok(invoke("filter", slice_folder, "-k", GAUSS, "-o", out, "--json"))
    assert records(res)[0]["kernels"] == [[9, 9, 9]]
    got = np.stack([pil_array(out / f"s{i}.png") for i in range(1, 13)])
    k = make_kernel(GAUSS, 3)
    assert_within_one(got, correlate(volume_array, k))  # reflect, on the float data
    ref2 = convcli.convolve(volume_array.astype(np.float64), k, pad_mode="reflect")
    assert_within_one(got, ref2)


def test_folder_to_multipage_tiff_and_npy(tmp_path, slice_folder, volume_array):
    tif, npy = tmp_path / "v.tif", tmp_path / "v.npy"
    ok(invoke("filter", slice_folder, "-k", "identity", "-o", tif))
    ok(invoke("filter", slice_folder, "-k", "identity", "-o", npy))
    np.testing.assert_array_equal(np.stack(pil_frames(tif)), volume_array)
    np.testing.assert_array_equal(np.load(npy), volume_array)


def test_multipage_tiff_in_and_out(tmp_path, multipage_tiff, volume_array):
    out = tmp_path / "o.tif"
    res = ok(invoke("filter", multipage_tiff, "-k", GAUSS, "-o", out, "--json"))
    assert records(res)[0]["shape_out"] == [5, 20, 24]
    got = np.stack(pil_frames(out))
    assert got.shape == (5, 20, 24)
    assert_within_one(got, correlate(volume_array[:5], make_kernel(GAUSS, 3)))


def test_animated_gif_in_and_out(tmp_path, animated_gif):
    out = tmp_path / "o.gif"
    res = ok(invoke("filter", animated_gif, "-k", "identity", "-o", out, "--json"))
    assert records(res)[0]["kind"] == "volume"
    before, after = pil_frames(animated_gif), pil_frames(out)
    assert len(after) == len(before) == 4
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    blurred = tmp_path / "b.gif"
    ok(invoke("filter", animated_gif, "-k", "box:3", "-o", blurred))
    assert len(pil_frames(blurred)) == 4


def test_3d_npy_in_and_out(tmp_path, volume_npy, volume_array):
    k = make_kernel(GAUSS, 3)
    x = volume_array.astype(np.float64)
    arr_out, vol_out = tmp_path / "a.npy", tmp_path / "v.npy"
    res = ok(invoke("filter", volume_npy, "-k", GAUSS, "-o", arr_out, "--json"))
    assert records(res)[0]["kind"] == "array"  # every axis spatial, zero padding
    np.testing.assert_allclose(np.load(arr_out), correlate(x, k, "constant"), atol=1e-3)
    res = ok(invoke("filter", volume_npy, "--as", "volume", "-k", GAUSS, "-o", vol_out, "--json"))
    assert records(res)[0]["kind"] == "volume"  # reflect padding
    got = np.load(vol_out)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, correlate(x, k), atol=1e-3)
    ref = convcli.convolve(x, k, pad_mode="reflect")
    np.testing.assert_allclose(got, ref, atol=1e-3)


# ------------------------------------------------------------------------ batches and jobs


def batch(tmp_path, make_image, n=4):
    modes = ["RGB", "L", "RGBA", "I;16"]
    return [make_image(modes[i % 4], name=f"b{i}.png", seed=i) for i in range(n)]


def test_jobs_2_writes_the_same_bytes_as_jobs_1(tmp_path, make_image):
    inputs = batch(tmp_path, make_image)
    one, two = tmp_path / "one", tmp_path / "two"
    ok(invoke("filter", *inputs, "-k", GAUSS, "--out-dir", one, "-j", "1"))
    res = ok(invoke("filter", *inputs, "-k", GAUSS, "--out-dir", two, "-j", "2", "--json"))
    assert [r["input"] for r in records(res)] == [str(p) for p in inputs]  # input order
    for p in inputs:
        assert (one / p.name).read_bytes() == (two / p.name).read_bytes()


def test_out_dir_is_created_and_keeps_names(tmp_path, make_image):
    inputs = batch(tmp_path, make_image, 3)
    out_dir = tmp_path / "new" / "deeper"
    res = ok(invoke("filter", *inputs, "-k", "box:3", "--out-dir", out_dir))
    assert sorted(os.listdir(out_dir)) == sorted(p.name for p in inputs)
    assert "3 done, 0 failed, of 3 inputs" in res.stderr


def test_two_inputs_writing_the_same_output_is_refused_before_anything(tmp_path, make_image):
    a = make_image("L", name="x.png")
    (tmp_path / "sub").mkdir()
    b = make_image("L", name="sub/x.png")
    c = make_image("L", name="c.png")
    out_dir = tmp_path / "out"
    res = invoke("filter", c, a, b, "-k", "box:3", "--out-dir", out_dir)
    line = assert_one_error_line(res, 2)
    assert "x.png" in line
    assert not out_dir.exists()


def test_output_with_two_inputs_is_a_usage_error(tmp_path, make_image):
    a, b = make_image("L", name="a.png"), make_image("L", name="b.png")
    res = invoke("filter", a, b, "-k", "box:3", "-o", tmp_path / "o.png")
    assert_one_error_line(res, 2)
    assert not (tmp_path / "o.png").exists()


# ----------------------------------------------------------------------------- protection


def test_existing_output_needs_overwrite(tmp_path, make_image):
    src = make_image("L")
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    res = invoke("filter", src, "-k", "box:3", "-o", out)
    line = assert_one_error_line(res, 1)
    assert "--overwrite" in line
    assert out.read_bytes() == b"keep me"
    ok(invoke("filter", src, "-k", "box:3", "-o", out, "--overwrite"))
    assert_within_one(pil_array(out), correlate(pil_array(src), box(3)))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("spelling", ["same", "dot", "symlink", "hardlink"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_an_input_is_never_written(tmp_path, make_image, monkeypatch, spelling, overwrite):
    src = make_image("L", name="in.png")
    before = src.read_bytes()
    monkeypatch.chdir(tmp_path)
    if spelling == "same":
        out = "in.png"
    elif spelling == "dot":
        out = "./sub/../in.png"
        (tmp_path / "sub").mkdir()
    elif spelling == "symlink":
        out = "link.png"
        os.symlink(src, out)
    else:
        out = "hard.png"
        os.link(src, out)
    args = ["filter", "in.png", "-k", "box:3", "-o", out] + (["--overwrite"] if overwrite else [])
    res = invoke(*args)
    line = assert_one_error_line(res, 2)
    assert "input" in line
    assert src.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_out_dir_that_is_the_inputs_folder_is_refused(tmp_path, make_image):
    src = make_image("L")
    before = src.read_bytes()
    res = invoke("filter", src, "-k", "box:3", "--out-dir", tmp_path, "--overwrite")
    assert_one_error_line(res, 2)
    assert src.read_bytes() == before


def test_volume_output_folder_holding_the_input_is_refused(tmp_path, slice_folder):
    before = {p.name: p.read_bytes() for p in slice_folder.iterdir()}
    res = invoke("filter", slice_folder, "-k", "box:3", "-o", tmp_path, "--overwrite")
    line = assert_one_error_line(res, 1)
    assert "input" in line
    assert {p.name: p.read_bytes() for p in slice_folder.iterdir()} == before
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------- a batch with errors


def broken_batch(tmp_path, make_image):
    good1 = make_image("L", name="good1.png")
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(make_image("RGB", name="full.png").read_bytes()[:200])
    (tmp_path / "full.png").unlink()
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    missing = tmp_path / "missing.png"
    good2 = make_image("RGB", name="good2.png")
    return [good1, trunc, text, missing, good2], [trunc, text, missing]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_broken_file_fails_alone(tmp_path, make_image, jobs):
    inputs, bad = broken_batch(tmp_path, make_image)
    out_dir = tmp_path / "out"
    res = invoke("filter", *inputs, "-k", "box:3", "--out-dir", out_dir, "-j", jobs)
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert sorted(os.listdir(out_dir)) == ["good1.png", "good2.png"]
    lines = error_lines(res)
    assert len(lines) == len(bad)
    for path, line in zip(bad, lines):
        prefix = f"convcli: error: {path}: "
        assert line.startswith(prefix), line
        problem = line[len(prefix) :]
        assert problem and not problem.startswith(str(path))  # not named twice
    assert "2 done, 3 failed, of 5 inputs" in res.stderr
    assert leftovers(tmp_path) == []


def test_broken_batch_json_records(tmp_path, make_image):
    inputs, bad = broken_batch(tmp_path, make_image)
    res = invoke("filter", *inputs, "-k", "box:3", "--out-dir", tmp_path / "o", "--json")
    assert res.exit_code == 1
    recs = records(res)
    assert [r["status"] for r in recs] == ["ok", "error", "error", "error", "ok"]
    assert all(r["error"] for r in recs if r["status"] == "error")


def test_fail_fast_stops_after_the_first_failure(tmp_path, make_image):
    inputs, bad = broken_batch(tmp_path, make_image)
    out_dir = tmp_path / "out"
    res = invoke("filter", *inputs, "-k", "box:3", "--out-dir", out_dir, "--fail-fast")
    assert res.exit_code == 1
    assert sorted(os.listdir(out_dir)) == ["good1.png"]
    assert len(error_lines(res)) == 1


def test_fail_fast_with_jobs(tmp_path, make_image):
    inputs, bad = broken_batch(tmp_path, make_image)
    res = invoke(
        "filter", *inputs, "-k", "box:3", "--out-dir", tmp_path / "o", "--fail-fast", "-j", "2"
    )
    assert res.exit_code == 1
    assert len(error_lines(res)) == 1
    assert "Traceback" not in res.output


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-k", "[1 2; 3", "-o", "o.png"], ["never closed"]),
        (["-k", "nosuchkernel", "-o", "o.png"], ["nosuchkernel"]),
        (["-k", "box:3", "--pad-mode", "bogus", "-o", "o.png"], ["bogus"]),
        (["-k", "box:3", "--pad-mode", "mirror", "-o", "o.png"], ["reflect", "symmetric"]),
        (["-k", "box:3", "--stride", "0", "-o", "o.png"], ["stride"]),
        (["-k", "box:3", "--stride", "x", "-o", "o.png"], ["stride"]),
        (["-k", "box:3", "--dilation", "-1", "-o", "o.png"], ["dilation"]),
        (["-k", "box:3", "--padding", "sideways", "-o", "o.png"], ["padding"]),
        (["-k", "box:3", "--padding", "1:2:3", "-o", "o.png"], ["padding"]),
        (["-k", "box:3"], ["-o/--output", "--out-dir"]),
        (["-k", "box:3", "-o", "o.png", "--out-dir", "d"], ["not both"]),
        (["-k", "box:3", "-o", "o.png", "--no-such-option"], ["--no-such-option"]),
        (["-k", "missing_kernel.txt", "-o", "o.png"], ["missing_kernel.txt"]),
        (["-k", "@missing_kernel", "-o", "o.png"], ["missing_kernel"]),
        (["-o", "o.png"], ["kernel"]),
        (["-k", "box:3", "--method", "magic", "-o", "o.png"], ["magic"]),
        (["-k", "box:3", "--dtype", "complex64", "-o", "o.png"], ["complex64"]),
        (["-k", "box:3", "--pad-value", "nan", "-o", "o.png"], ["finite"]),
        (["-k", "box:3", "-j", "-1", "-o", "o.png"], ["jobs"]),
        (["-k", "0,25 0,5 0,25", "-o", "o.png"], ["'0,25'", "decimal point (0.25)"]),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, make_image, monkeypatch, args, words):
    src = make_image("L", name="in.png")
    monkeypatch.chdir(tmp_path)
    res = invoke("filter", "in.png", *args)
    line = assert_one_error_line(res, 2)
    for word in words:
        assert word in line, line
    assert sorted(os.listdir(tmp_path)) == [src.name]


def test_no_input_is_a_usage_error():
    assert_one_error_line(invoke("filter", "-k", "box:3", "-o", "o.png"), 2)


# ----------------------------------------------------------------- json, dry run, verbosity


def test_json_record_has_the_documented_keys(tmp_path, make_image, make_audio):
    img, wav = make_image("RGB"), make_audio("in.wav")
    res = ok(invoke("filter", img, wav, "-k", "box:3", "--out-dir", tmp_path / "o", "--json"))
    recs = records(res)
    assert len(recs) == 2
    for rec in recs:
        assert JSON_KEYS <= set(rec)
        assert rec["status"] == "ok" and rec["error"] is None and rec["seconds"] >= 0
    image, audio = recs
    assert image["kind"] == "image" and image["shape_in"] == [40, 50, 3]
    assert image["dtype"] == "uint8" and image["rate"] is None
    assert image["kernels"] == [[3, 3]] and image["pads"] == [[[1, 1], [1, 1]]]
    assert audio["kind"] == "audio" and audio["rate"] == RATE and audio["dtype"] == "int16"
    assert audio["kernels"] == [[3]] and audio["methods"][0] in ("direct", "fft", "separable")


def test_dry_run_writes_nothing_and_says_the_plan(tmp_path, make_image):
    src = make_image("RGB")
    out_dir = tmp_path / "never"
    res = ok(invoke("filter", src, "-k", "box:3", "-s", "2", "--out-dir", out_dir, "--dry-run"))
    assert not out_dir.exists()
    assert str(src) in res.stdout and res.stderr == ""
    assert "40x50x3 -> 20x25x3" in res.stdout
    res = ok(invoke("filter", src, "-k", "box:3", "-o", tmp_path / "o.png", "--dry-run", "--json"))
    (rec,) = records(res)
    assert rec["status"] == "planned" and rec["shape_out"] == [40, 50, 3]
    assert not (tmp_path / "o.png").exists()


def test_verbose_prints_the_plan(tmp_path, make_image):
    src = make_image("L")
    res = ok(invoke("filter", src, "-k", "box:3", "-k", GAUSS, "-o", tmp_path / "o.png", "-v"))
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("convcli: ") and "kernel" in ln]
    assert len(lines) == 2
    assert "kernel 3x3" in lines[0] and "pads 1:1 1:1 (reflect)" in lines[0]
    assert "kernel 9x9" in lines[1] and "method" in lines[1]


def test_verbose_error_has_a_traceback_and_the_line(tmp_path):
    missing = tmp_path / "missing.png"
    res = invoke("filter", missing, "-k", "box:3", "-o", tmp_path / "o.png", "-v")
    assert res.exit_code == 1
    assert "Traceback" in res.stderr
    assert res.stderr.splitlines()[-1].startswith(f"convcli: error: {missing}: ")
    quiet = invoke("filter", missing, "-k", "box:3", "-o", tmp_path / "o.png")
    assert "Traceback" not in quiet.stderr


def test_progress_bar_only_when_asked_off_a_terminal(tmp_path, make_image):
    inputs = batch(tmp_path, make_image, 2)
    plain = ok(invoke("filter", *inputs, "-k", "box:3", "--out-dir", tmp_path / "a"))
    assert "progress" not in plain.stderr
    forced = ok(invoke("filter", *inputs, "-k", "box:3", "--out-dir", tmp_path / "b", "--progress"))
    assert "2/2" in forced.stderr
    quiet = ok(invoke("filter", *inputs, "-k", "box:3", "--out-dir", tmp_path / "c", "-q"))
    assert quiet.stderr == ""


# ------------------------------------------------------------------------- real processes


def convcli_cmd() -> list[str]:
    exe = shutil.which("convcli")
    if exe is not None:
        return [exe]
    return [sys.executable, "-c", "from convcli.cli import main; main()"]


def test_subprocess_filter_and_error(tmp_path, make_image):
    src = make_image("RGB")
    out = tmp_path / "o.png"
    run = subprocess.run(
        [*convcli_cmd(), "filter", str(src), "-k", GAUSS, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # stderr is a pipe: no progress bar
    assert_within_one(pil_array(out), correlate(pil_array(src), make_kernel(GAUSS, 2)))
    bad = subprocess.run(
        [
            *convcli_cmd(),
            "filter",
            str(tmp_path / "nope.png"),
            "-k",
            GAUSS,
            "-o",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [f"convcli: error: {tmp_path / 'nope.png'}: does not exist"]


def test_subprocess_usage_error(tmp_path):
    run = subprocess.run(
        [*convcli_cmd(), "filter", "x.png", "-k", "box:3", "--pad-mode", "mirror", "-o", "y.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 2
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("convcli: error:")


HEAVY = ("numpy", "scipy", "PIL", "soundfile")


@pytest.mark.parametrize("args", [["--help"], ["filter", "--help"]])
def test_help_shows_examples_and_imports_nothing_heavy(args):
    code = (
        "import sys, atexit\n"
        f"atexit.register(lambda: print('LOADED', [m for m in {HEAVY!r} if m in sys.modules],"
        " file=sys.stderr))\n"
        "from convcli.cli import main\n"
        f"sys.argv = ['convcli', *{args!r}]\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Examples:" in run.stdout and "convcli filter" in run.stdout
    assert "LOADED []" in run.stderr, run.stderr
    if shutil.which("convcli"):
        real = subprocess.run(
            [shutil.which("convcli"), *args], capture_output=True, text=True, timeout=120
        )
        assert real.returncode == 0 and real.stdout == run.stdout


# ----------------------------------------------------------------- interruptions and bugs


def _break_writes(monkeypatch, ext: str, error: BaseException) -> None:
    """Make the writer of ``ext`` write part of a file, then raise ``error``.

    A PNG and an uncompressed TIFF are written strip by strip (convcli.io.png.PngWriter,
    convcli.io.tiff_strips.TiffWriter) while the image is filtered; other formats in one
    piece (convcli.io.pillow_image.write_image).
    """
    import convcli.io.pillow_image as image_io
    import convcli.io.png as png_io
    import convcli.io.tiff_strips as tiff_io

    def half_a_strip(self, block):
        self._fh.write(b" half a strip")
        raise error

    if ext == ".png":
        monkeypatch.setattr(png_io.PngWriter, "write", half_a_strip)
    elif ext == ".tif":
        monkeypatch.setattr(tiff_io.TiffWriter, "write", half_a_strip)
    else:

        def half_a_file(fh, *args, **kwargs):
            fh.write(b"II*\x00 half a file")
            raise error

        monkeypatch.setattr(image_io, "write_image", half_a_file)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_interrupt_while_writing_leaves_no_file(tmp_path, make_image, monkeypatch, ext):
    _break_writes(monkeypatch, ext, KeyboardInterrupt())
    src = make_image("L")
    out = tmp_path / f"o{ext}"
    res = invoke("filter", src, "-k", "[1 2 1; 2 4 2; 1 2 1]/16", "-o", out)  # strip by strip
    assert res.exit_code == 130
    assert res.stderr.splitlines() == ["convcli: interrupted"]
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_a_failed_write_leaves_no_file(tmp_path, make_image, monkeypatch, ext):
    _break_writes(monkeypatch, ext, OSError(28, "No space left on device"))
    src = make_image("L")
    out = tmp_path / f"o{ext}"
    binomial = "[1 2 1; 2 4 2; 1 2 1]/16"  # exact: a TIFF too is written strip by strip
    line = assert_one_error_line(invoke("filter", src, "-k", binomial, "-o", out), 1)
    assert "No space left on device" in line
    assert not out.exists() and leftovers(tmp_path) == []


def test_an_unexpected_exception_is_one_line_and_the_batch_goes_on(
    tmp_path, make_image, monkeypatch
):
    import convcli.engine.chain

    real = convcli.engine.chain.apply_chain
    calls = []

    def broken_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(convcli.engine.chain, "apply_chain", broken_once)
    a, b = make_image("L", name="a.png"), make_image("L", name="b.png")
    res = invoke("filter", a, b, "-k", "box:3", "--out-dir", tmp_path / "o")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert error_lines(res) == [f"convcli: error: {a}: internal error: RuntimeError: boom"]
    assert os.listdir(tmp_path / "o") == ["b.png"]


def test_volume_folder_output_needs_overwrite(tmp_path, slice_folder):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"old")
    line = assert_one_error_line(invoke("filter", slice_folder, "-k", "box:3", "-o", out), 1)
    assert "--overwrite" in line and (out / "old.png").read_bytes() == b"old"
    ok(invoke("filter", slice_folder, "-k", "box:3", "-o", out, "--overwrite"))
    assert sorted(os.listdir(out)) == sorted(f"s{i}.png" for i in range(1, 13))
    assert leftovers(tmp_path) == []


def test_audio_rescale_peak_normalises(tmp_path, make_audio):
    src = make_audio("in.wav", "PCM_16", channels=2, amplitude=0.1)
    out = tmp_path / "o.wav"
    ok(invoke("filter", src, "-k", "[1 2 1]/4", "--rescale", "-o", out))
    got = sf.read(out, dtype="int16")[0]
    assert np.abs(got.astype(int)).max() == 32767


def test_out_dir_keeps_the_real_name_of_folder_spellings(tmp_path, slice_folder, monkeypatch):
    work = slice_folder / "work"
    work.mkdir()
    (work / "keep.txt").write_text("precious")
    monkeypatch.chdir(work)
    ok(invoke("filter", "..", "-k", "identity", "--out-dir", "out", "--overwrite"))
    assert sorted(os.listdir(work)) == ["keep.txt", "out"]
    assert os.listdir(work / "out") == ["slices"]
    assert len(os.listdir(work / "out" / "slices")) == 12
    monkeypatch.chdir(tmp_path)
    ok(invoke("filter", "slices/", "-k", "identity", "--out-dir", "o2"))
    assert os.listdir(tmp_path / "o2") == ["slices"]


def test_out_dir_that_is_a_file_is_a_usage_error(tmp_path, make_image):
    src = make_image("L")
    (tmp_path / "file").write_text("x")
    line = assert_one_error_line(
        invoke("filter", src, "-k", "box:3", "--out-dir", tmp_path / "file"), 2
    )
    assert "not a folder" in line


def test_missing_output_folder_is_one_line(tmp_path, make_image):
    src = make_image("L")
    line = assert_one_error_line(
        invoke("filter", src, "-k", "box:3", "-o", tmp_path / "nope" / "o.png"), 1
    )
    assert "does not exist" in line


def test_rescale_of_a_32_bit_image_reaches_the_top_without_clipping(tmp_path, make_image):
    src = make_image("I")
    out = tmp_path / "o.tif"
    res = ok(invoke("filter", src, "-k", "box:3", "--rescale", "-o", out, "--json"))
    assert records(res)[0]["clipped"] == 0 and res.stderr == ""
    got = pil_array(out)
    assert got.dtype == np.int32 and got.min() == 0 and got.max() == 2**31 - 1


def test_audio_rescale_to_another_dtype_does_not_clip(tmp_path, make_audio):
    src = make_audio("in.wav", "PCM_24", channels=1, amplitude=0.3)
    out = tmp_path / "o.wav"
    res = ok(
        invoke(
            "filter", src, "-k", "identity", "--rescale", "--dtype", "int16", "-o", out, "--json"
        )
    )
    assert records(res)[0]["clipped"] == 0 and res.stderr == ""
    assert sf.info(out).subtype == "PCM_16"
    assert np.abs(sf.read(out, dtype="int16")[0].astype(int)).max() == 32767


def test_a_two_channel_float_array_is_not_taken_for_gray_and_alpha(tmp_path):
    x = rng_for(14).normal(size=(20, 24, 2)).astype(np.float32)
    src = tmp_path / "flow.npy"
    np.save(src, x)
    out = tmp_path / "o.npy"
    ok(invoke("filter", src, "--as", "image", "-k", "box:3", "-o", out))
    np.testing.assert_allclose(np.load(out), correlate(x, box(3)), atol=1e-5)


def test_an_8_bit_rgba_array_is_premultiplied(tmp_path):
    x = red_under_transparent_blue_opaque()
    src = tmp_path / "rgba.npy"
    np.save(src, x)
    out = tmp_path / "o.npy"
    ok(invoke("filter", src, "--as", "image", "-k", "box:5", "-o", out))
    got = np.load(out)
    assert got[got[..., 3] > 0][:, 0].max() == 0


@pytest.mark.parametrize(
    ("src_fixture", "args", "words"),
    [
        ("audio", ["--padding", "1,2"], ["2 values", "1 spatial axis:"]),
        ("volume", ["-s", "1,2"], ["--stride has 2 values", "3 spatial axes"]),
        ("image", ["-k", "lowpass:100"], ["1-D"]),
        ("audio", ["-k", "[1 2; 3 4]"], ["2 axes"]),
        ("image", ["--padding", "valid", "-d", "30"], ["no output sample"]),
    ],
)
def test_problems_known_only_per_input_are_one_line_exit_1(
    tmp_path, make_image, make_audio, slice_folder, src_fixture, args, words
):
    src = {
        "audio": lambda: make_audio("a.wav"),
        "image": lambda: make_image("L"),
        "volume": lambda: slice_folder,
    }[src_fixture]()
    ext = {"audio": ".wav", "image": ".png", "volume": ".npy"}[src_fixture]
    kernel = [] if "-k" in args else ["-k", "box:3"]
    line = assert_one_error_line(
        invoke("filter", src, *kernel, *args, "-o", tmp_path / f"o{ext}"), 1
    )
    assert line.startswith(f"convcli: error: {src}: ")
    for word in words:
        assert word in line, line


def test_wrong_output_extension_message_reads_well(tmp_path, make_image):
    src = make_image("L")
    line = assert_one_error_line(invoke("filter", src, "-k", "box:3", "-o", tmp_path / "o.wav"), 1)
    assert "an image cannot be written as WAV audio" in line


# ------------------------------------------------------------------ the per-axis geometry table


def test_dry_run_and_verbose_print_the_shape_table(tmp_path, make_image):
    from convcli.explain.arithmetic import format_geometry_table
    from convcli.geometry import resolve

    src = make_image("L")
    rows, cols = np.asarray(Image.open(src)).shape
    expected = format_geometry_table(
        resolve((rows, cols), (3, 3), stride=2, padding="same"), explain_sizes=False
    )
    res = ok(invoke("filter", src, "-k", "box:3", "-s", "2", "-o", tmp_path / "o.png", "--dry-run"))
    assert [ln.strip() for ln in expected.splitlines()] == [
        ln.strip() for ln in res.stdout.splitlines()[1:]
    ]
    assert not (tmp_path / "o.png").exists()
    res = ok(invoke("filter", src, "-k", "box:3", "-s", "2", "-o", tmp_path / "o.png", "-v"))
    err = [ln.strip() for ln in res.stderr.splitlines()]
    assert all(ln.strip() in err for ln in expected.splitlines())
    res = ok(invoke("filter", src, "-k", "box:3", "-o", tmp_path / "p.png", "--json", "-v"))
    assert "tables" not in json.loads(res.stdout)


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_wide_integer_files_are_filtered_exactly(tmp_path, suffix):
    # int32 .npy and TIFF mode I: values above 2**24, which float32 sums got wrong.
    rng = np.random.default_rng(11)
    x = rng.integers(-(2**29), 2**29, size=(12, 10), dtype=np.int32)
    src = tmp_path / f"in{suffix}"
    if suffix == ".npy":
        np.save(src, x)
    else:
        Image.fromarray(x, mode="I").save(src)
    out = tmp_path / f"out{suffix}"
    res = invoke(
        "filter",
        str(src),
        "-k",
        "1 -1 0; 2 -2 1; 1 -1 3",
        "--pad-mode",
        "replicate",
        "-o",
        str(out),
    )
    assert res.exit_code == 0, res.output
    got = np.load(out) if suffix == ".npy" else np.array(Image.open(out))
    assert got.dtype == np.int32
    w = np.array([[1, -1, 0], [2, -2, 1], [1, -1, 3]])
    xp = np.pad(x.astype(np.int64), 1, mode="edge")
    exact = sum(int(w[i, j]) * xp[i : i + 12, j : j + 10] for i in range(3) for j in range(3))
    info = np.iinfo(np.int32)
    np.testing.assert_array_equal(got, np.clip(exact, info.min, info.max))


def test_an_impulse_response_at_another_rate_is_an_error_for_that_input(tmp_path):
    ir = tmp_path / "hall.wav"
    sf.write(ir, np.array([1.0, 0.5, 0.25]), 44100, subtype="FLOAT")
    same = tmp_path / "at44k.wav"
    other = tmp_path / "at22k.wav"
    sf.write(same, np.linspace(-0.5, 0.5, 300), 44100, subtype="FLOAT")
    sf.write(other, np.linspace(-0.5, 0.5, 300), 22050, subtype="FLOAT")
    out = tmp_path / "out"
    res = invoke("filter", str(same), str(other), "-k", str(ir), "--out-dir", str(out))
    assert res.exit_code == 1
    lines = error_lines(res)
    assert len(lines) == 1, lines
    assert str(other) in lines[0] and "44100 Hz" in lines[0] and "22050 Hz" in lines[0]
    assert sorted(os.listdir(out)) == ["at44k.wav"]
