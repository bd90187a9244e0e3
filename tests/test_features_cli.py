"""``convcli features`` through the real command group (Click's CliRunner).

Every test checks the exit code, the stderr lines and what was written; the maps are compared
with the library's own oracle-tested functions or with an einsum over patches.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import RATE, assert_one_error_line, error_lines, invoke, leftovers, pil_array

import convcli
from convcli.features import correlate_bank, pool
from convcli.kernels import make_bank, make_kernel


def _maps(folder: Path) -> np.ndarray:
    return np.load(folder / "maps.npy", allow_pickle=False)


def _record(folder: Path) -> dict:
    return json.loads((folder / "maps.json").read_text())


@pytest.fixture
def rgb(write_png) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(1).integers(0, 256, (24, 30, 3), dtype=np.uint8)
    return write_png(data, "rgb.png"), data


@pytest.fixture
def grey(write_png) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(2).integers(0, 256, (20, 26), dtype=np.uint8)
    return write_png(data, "grey.png"), data


def test_kernels_write_every_output(tmp_path, grey):
    path, data = grey
    out = tmp_path / "maps"
    res = invoke("features", path, "-k", "sobel:axis=0", "-k", "box:3", "-k", "1 -1", "-o", out)
    assert res.exit_code == 0, res.output
    assert res.stderr == "" and res.stdout == ""
    maps = _maps(out)
    assert maps.dtype == np.float32 and maps.shape == (3, 20, 26)
    for f, spec in enumerate(("sobel:axis=0", "box:3", "1 -1")):
        k = make_kernel(spec, 2)
        ref = convcli.convolve(data, k, pad_mode="reflect")  # filter's default for images
        np.testing.assert_allclose(maps[f], ref, rtol=1e-5, atol=1e-3)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "00-sobel-axis0.png",
        "01-box-size3.png",
        "02-inline2.png",
        "maps.json",
        "maps.npy",
        "montage.png",
    ]
    assert pil_array(out / "00-sobel-axis0.png").shape == (20, 26, 3)  # signed: colour map
    assert pil_array(out / "01-box-size3.png").shape == (20, 26)  # one sign: grey
    rec = _record(out)
    assert [m["name"] for m in rec["maps"]] == ["sobel-axis0", "box-size3", "inline2"]
    assert [m["kernel_shape"] for m in rec["maps"]] == [[3, 3], [3, 3], [1, 2]]
    assert [m["display"] for m in rec["maps"]] == ["diverging", "grey", "diverging"]
    for m, arr in zip(rec["maps"], maps):
        assert m["min"] == pytest.approx(float(arr.min()))
        assert m["max"] == pytest.approx(float(arr.max()))
        assert m["mean"] == pytest.approx(float(arr.mean(dtype=np.float64)), rel=1e-6)
    geo = rec["geometry"]
    assert geo["pad_mode"] == "reflect" and geo["stride"] == [1, 1]
    assert geo["padding"] == [[1, 1], [1, 1]] and geo["kernel_shape"] == [3, 3]
    assert rec["shape"] == [3, 20, 26] and rec["files"]["montage"] == "montage.png"
    assert pil_array(out / "montage.png").ndim == 3
    assert leftovers(out) == []


def test_a_bank_on_a_colour_photo_sums_the_channels(tmp_path, rgb):
    path, data = rgb
    out = tmp_path / "edges"
    res = invoke("features", path, "--bank", "edges:op=sobel", "-o", out, "--stride", "2")
    assert res.exit_code == 0, res.output
    maps = _maps(out)
    assert maps.shape == (2, 12, 15)
    for f, (_, k) in enumerate(make_bank("edges:op=sobel", 2)):
        ref = sum(convcli.convolve(data[..., c], k, stride=2, pad_mode="reflect") for c in range(3))
        np.testing.assert_allclose(maps[f], ref, rtol=1e-5, atol=1e-2)
    rec = _record(out)
    assert rec["source"] == {"bank": "edges:op=sobel"}
    assert rec["channel_use"] == "each kernel applied to every channel and summed"


def test_layer_weights_bias_activation_and_pooling(tmp_path, rgb):
    path, data = rgb
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((6, 3, 5, 5)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32) * 100
    wfile = tmp_path / "conv1.npz"
    np.savez(wfile, weight=weight, bias=bias)
    out = tmp_path / "conv1"
    res = invoke(
        "features",
        path,
        "--weights",
        wfile,
        "--stride",
        "2",
        "--padding",
        "2",
        "--pad-mode",
        "zero",
        "--activation",
        "relu",
        "--pool",
        "max:2",
        "-o",
        out,
    )
    assert res.exit_code == 0, res.output
    # an einsum over zero-padded patches, as torch.nn.Conv2d(3, 6, 5, stride=2, padding=2)
    x = np.moveaxis(data.astype(np.float64), -1, 0)
    xp = np.pad(x, [(0, 0), (2, 2), (2, 2)])
    win = np.lib.stride_tricks.sliding_window_view(xp, (5, 5), axis=(1, 2))[:, ::2, ::2]
    ref = np.einsum("cRCij,fcij->fRC", win, weight.astype(np.float64)) + bias[:, None, None]
    ref = pool(np.maximum(ref, 0), "max", 2)
    maps = _maps(out)
    assert maps.shape == ref.shape == (6, 6, 7)
    np.testing.assert_allclose(maps, ref, rtol=1e-4, atol=1e-2)
    rec = _record(out)
    assert rec["bias"] == pytest.approx(bias.tolist())
    assert rec["pool"] == {"mode": "max", "size": 2, "stride": 2}
    assert rec["source"]["layout"] == "(F, C, *k)" and rec["source"]["bias"] == "file"
    assert [m["name"] for m in rec["maps"]][:2] == ["conv1-f0", "conv1-f1"]
    assert all(m["display"] in ("grey", "flat") for m in rec["maps"])  # relu: one sign
    # --bias replaces the file's bias, with a warning
    res = invoke("features", path, "--weights", wfile, "--bias", "1", "-o", tmp_path / "b")
    assert res.exit_code == 0
    assert "--bias replaces the bias in the file" in res.stderr
    assert _record(tmp_path / "b")["bias"] == [1.0] * 6


def test_shared_weights_npy_apply_to_each_channel(tmp_path, rgb):
    path, data = rgb
    weight = np.random.default_rng(4).standard_normal((3, 3, 3))
    np.save(tmp_path / "w.npy", weight)
    res = invoke(
        "features",
        path,
        "--weights",
        tmp_path / "w.npy",
        "-o",
        tmp_path / "o",
        "--bias",
        "1,2,3",
        "--activation",
        "tanh",
    )
    assert res.exit_code == 0, res.output
    ref = correlate_bank(data, weight, channel_axis=-1, pad_mode="reflect", bias=[1, 2, 3])
    np.testing.assert_allclose(_maps(tmp_path / "o"), np.tanh(ref), atol=1e-5)


def test_audio_maps_are_peak_normalised_wavs_at_the_strided_rate(tmp_path, make_audio):
    import soundfile as sf

    path = make_audio("in.wav", channels=2)
    out = tmp_path / "bands"
    res = invoke(
        "features", path, "--bank", "log-scales:sigma=2,scales=2", "--stride", "2", "-o", out
    )
    assert res.exit_code == 0, res.output
    maps = _maps(out)
    assert maps.shape[0] == 2 and maps.shape[1] == 400
    rec = _record(out)
    assert rec["rate_out"] == RATE / 2 and rec["geometry"]["pad_mode"] == "zero"
    for m, arr in zip(rec["maps"], maps):
        assert m["file"].endswith(".wav")
        samples, rate = sf.read(out / m["file"])
        assert rate == RATE // 2 and samples.shape == (400,)
        assert np.abs(samples).max() == pytest.approx(32767 / 32768, abs=1e-4)
        np.testing.assert_allclose(samples, arr / np.abs(arr).max() * (32767 / 32768), atol=1e-4)
    assert (out / "montage.png").exists()


def test_a_stride_that_does_not_divide_the_rate_is_refused(tmp_path, make_audio):
    path = make_audio("in.wav", rate=8001)
    res = invoke("features", path, "-k", "1 -1", "--stride", "2", "-o", tmp_path / "o")
    line = assert_one_error_line(res, 1)
    assert "does not divide the sample rate 8001" in line and str(path) in line


def test_volume_maps_are_folders_of_slices(tmp_path, slice_folder, volume_array):
    out = tmp_path / "vol"
    res = invoke("features", slice_folder, "--bank", "edges:op=prewitt", "-o", out)
    assert res.exit_code == 0, res.output
    maps = _maps(out)
    assert maps.shape == (3, 12, 20, 24)
    k = dict(make_bank("edges:op=prewitt", 3))["prewitt-axis0"]
    ref = convcli.convolve(volume_array, k, pad_mode="reflect")
    np.testing.assert_allclose(maps[0], ref, atol=1e-3)
    planes = sorted(p.name for p in (out / "00-prewitt-axis0").iterdir())
    assert planes == [f"{i:03d}.png" for i in range(12)]
    assert pil_array(out / "00-prewitt-axis0" / "005.png").shape == (20, 24, 3)
    assert (out / "montage.png").exists() and leftovers(out) == []


def test_json_and_verbose(tmp_path, grey):
    path, _ = grey
    res = invoke(
        "features", path, "-k", "laplacian", "-k", "box", "-o", tmp_path / "o", "--json", "-v"
    )
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["status"] == "ok" and rec["error"] is None and rec["shape"] == [2, 20, 26]
    assert "method direct" in res.stderr and "wrote 2 maps" in res.stderr


def test_an_rgba_image_loses_its_alpha_with_a_warning(tmp_path, write_png):
    data = np.random.default_rng(5).integers(0, 256, (10, 12, 4), dtype=np.uint8)
    path = write_png(data, "rgba.png")
    w = np.ones((2, 3, 1, 1))
    np.save(tmp_path / "w.npy", w)
    res = invoke("features", path, "--weights", tmp_path / "w.npy", "-o", tmp_path / "o")
    assert res.exit_code == 0, res.output
    assert "alpha channel is not used" in res.stderr
    np.testing.assert_allclose(_maps(tmp_path / "o")[0], data[..., :3].sum(axis=-1))
    res = invoke("features", path, "--weights", tmp_path / "w.npy", "-o", tmp_path / "q", "-q")
    assert res.exit_code == 0 and res.stderr == ""


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: np.save(p, np.ones((4, 3, 3, 3, 3))), ["5 axes", "(F, *k) with 3 axes"]),
        (
            lambda p: np.save(p, np.ones((4, 1, 3, 3))),
            ["1 input channel (shape 4x1x3x3)", "has 3 channels"],
        ),
        (lambda p: np.save(p, np.array([object()]), allow_pickle=True), ["pickled"]),
        (lambda p: np.save(p, np.array([[[np.nan]]])), ["NaN at index (0, 0, 0)"]),
    ],
)
def test_bad_weights_files_exit_1_with_one_line_naming_the_file(tmp_path, rgb, make, words):
    path, _ = rgb
    wfile = tmp_path / "bad.npy"
    make(wfile)
    out = tmp_path / "o"
    res = invoke("features", path, "--weights", wfile, "-o", out)
    line = assert_one_error_line(res, 1)
    assert line.startswith(f"convcli: error: {wfile}: ")
    for word in words:
        assert word in line
    assert not out.exists()


def test_a_folder_that_is_not_empty_needs_overwrite(tmp_path, grey):
    path, _ = grey
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = invoke("features", path, "-k", "box", "-o", out)
    line = assert_one_error_line(res, 1)
    assert f"{out}: exists and is not empty; use --overwrite" in line
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    res = invoke("features", path, "-k", "box", "-o", out, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (out / "keep.txt").read_text() == "mine" and (out / "00-box.png").exists()
    res = invoke("features", path, "-k", "box", "-o", out, "--overwrite")
    assert res.exit_code == 0 and leftovers(out) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert invoke("features", path, "-k", "box", "-o", empty).exit_code == 0


def test_the_input_is_never_written(tmp_path, slice_folder, grey):
    res = invoke("features", slice_folder, "-k", "box", "-o", slice_folder, "--overwrite")
    assert "never writes into an input" in assert_one_error_line(res, 1)
    res = invoke("features", slice_folder, "-k", "box", "-o", slice_folder / "sub")
    assert "inside the input folder" in assert_one_error_line(res, 1)
    path, _ = grey
    res = invoke("features", path, "-k", "box", "-o", path)
    assert assert_one_error_line(res, 1).startswith(f"convcli: error: {path}: ")
    # a folder that holds the input may be written into (nothing in it is replaced but the
    # files features writes, never the input)
    before = path.read_bytes()
    res = invoke("features", path, "-k", "box", "-o", path.parent, "--overwrite")
    assert res.exit_code == 0, res.output
    assert path.read_bytes() == before and (path.parent / "00-box.png").exists()


def test_input_problems_exit_1(tmp_path, grey):
    res = invoke("features", tmp_path / "missing.png", "-k", "box", "-o", tmp_path / "o")
    assert "missing.png: does not exist" in assert_one_error_line(res, 1)
    path, _ = grey
    res = invoke(
        "features", path, "--bank", "edges", "--padding", "valid", "-d", "20", "-o", tmp_path / "o"
    )
    assert "no output sample" in assert_one_error_line(res, 1)
    res = invoke("features", path, "-k", "box", "--pool", "max:50", "-o", tmp_path / "o")
    assert "larger than the maps" in assert_one_error_line(res, 1)
    res = invoke("features", path, "--bank", "log-scales", "--bias", "1,2", "-o", tmp_path / "o")
    assert "2 values but the bank has 4 maps" in assert_one_error_line(res, 1)
    res = invoke("features", path, "-k", "box", "--stride", "1,2,3", "-o", tmp_path / "o")
    assert "3 values but the signal has 2 spatial axes" in assert_one_error_line(res, 1)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "give the bank"),
        (["-k", "box", "--bank", "edges"], "not -k and --bank"),
        (["--bank", "edgez"], "did you mean edges"),
        (["--bank", "gabor:orientations=0"], "orientations"),
        (["-k", "box", "--method", "separable"], "--method separable"),
        (["-k", "box", "--pool", "median:2"], "max or avg"),
        (["-k", "box", "--activation", "gelu"], "gelu"),
        (["-k", "box", "-k", "box", "--bias", "1,2,3"], "3 values but there are 2 kernels"),
        (["-k", "box", "--bias", "x"], "not B or B,B"),
        (["--weights", "no-such.npy"], "no-such.npy does not exist"),
        (["-k", "nosuchkernel"], "unknown kernel"),
    ],
)
def test_usage_errors_exit_2(tmp_path, grey, args, words):
    path, _ = grey
    res = invoke("features", path, *args, "-o", tmp_path / "o")
    line = assert_one_error_line(res, 2)
    assert words in line
    assert not (tmp_path / "o").exists()


def test_features_is_listed_and_documents_the_pytorch_export():
    res = invoke("--help")
    assert "features" in res.output and "Apply a bank of kernels" in res.output
    res = invoke("features", "--help")
    assert res.exit_code == 0
    assert "conv1.weight.detach().numpy()" in res.output
    assert "--weights conv1.npy" in res.output
    assert not error_lines(res)


# ----------------------------------------------------------------------------- batches


@pytest.fixture
def three_images(write_png) -> list[Path]:
    rng = np.random.default_rng(11)
    return [
        write_png(rng.integers(0, 256, (18, 22), dtype=np.uint8), f"in/{name}.png")
        for name in ("a", "b", "c")
    ]


def test_a_batch_writes_one_folder_per_input_in_order(tmp_path, three_images):
    out = tmp_path / "maps"
    args = ["-k", "sobel:axis=0", "-k", "box:3", "--out-dir", out]
    res = invoke("features", *three_images, *args, "-j", "2", "--json")
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["input"] for r in records] == [str(p) for p in three_images]
    assert [r["output"] for r in records] == [str(out / p.stem) for p in three_images]
    assert all(r["status"] == "ok" and "log" not in r for r in records)
    assert res.stderr == ""  # --json: no summary line
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "c"]
    # each folder is what features -o writes for that input alone, byte for byte
    for src in three_images:
        alone = tmp_path / f"alone-{src.stem}"
        assert invoke("features", src, *args[:4], "-o", alone).exit_code == 0
        for name in ("maps.npy", "00-sobel-axis0.png", "montage.png"):
            assert (alone / name).read_bytes() == (out / src.stem / name).read_bytes()
    assert leftovers(out) == []


def test_a_bad_input_in_a_batch_is_one_line_and_the_others_are_written(tmp_path, three_images):
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"not a png at all")
    inputs = [three_images[0], bad, *three_images[1:]]
    out = tmp_path / "maps"
    res = invoke("features", *inputs, "-k", "box:3", "--out-dir", out, "-j", "2")
    assert res.exit_code == 1
    [line] = error_lines(res)
    assert line.startswith(f"convcli: error: {bad}: ")
    assert res.stderr.splitlines()[-1] == "convcli: 3 done, 1 failed, of 4 inputs"
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "c"]
    assert (out / "c" / "maps.npy").exists()


def test_fail_fast_stops_a_batch_at_the_first_failure(tmp_path, three_images):
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"not a png at all")
    out = tmp_path / "maps"
    res = invoke(
        "features",
        three_images[0],
        bad,
        three_images[1],
        "-k",
        "box",
        "--out-dir",
        out,
        "--fail-fast",
        "--json",
    )
    assert res.exit_code == 1
    assert [json.loads(line)["status"] for line in res.stdout.splitlines()] == ["ok", "error"]
    assert sorted(p.name for p in out.iterdir()) == ["a"]


@pytest.mark.parametrize(
    ("outputs", "words"),
    [
        (["-o", "x", "--out-dir", "y"], "not both"),
        ([], "give -o/--output DIR (one input) or --out-dir DIR"),
        (["-o", "x"], "-o/--output takes one input, got 2"),
    ],
)
def test_batch_usage_errors(tmp_path, three_images, outputs, words):
    res = invoke("features", *three_images[:2], "-k", "box", *outputs)
    assert words in assert_one_error_line(res, 2)


def test_two_inputs_with_one_name_would_write_one_folder(tmp_path, write_png):
    data = np.zeros((8, 8), np.uint8)
    a, b = write_png(data, "x/a.png"), write_png(data, "y/a.png")
    res = invoke("features", a, b, "-k", "box", "--out-dir", tmp_path / "maps")
    assert "would both write" in assert_one_error_line(res, 2)
    assert not (tmp_path / "maps").exists()
