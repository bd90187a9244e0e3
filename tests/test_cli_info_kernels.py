"""``convcli info`` and ``convcli kernels`` through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import FRAMES, RATE, assert_one_error_line, invoke

from convcli.kernels import REGISTRY, make_kernel


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stderr == ""
    return result


def fields(text: str) -> dict[str, str]:
    """The ``  key: value`` lines of one input's text block."""
    out = {}
    for line in text.splitlines()[1:]:
        key, _, value = line.strip().partition(": ")
        out[key] = value
    return out


# ----------------------------------------------------------------------------------- info


def test_info_image_text_and_json(make_image):
    src = make_image("RGBA")
    text = ok(invoke("info", src)).stdout
    assert text.splitlines()[0] == str(src)
    f = fields(text)
    assert f["kind"] == "image" and f["shape"] == "40x50x4" and f["dtype"] == "uint8"
    assert f["mode"] == "RGBA" and f["channels"] == "4" and f["format"] == "PNG"
    assert "path" not in f and "rate" not in f  # the path heads the block; None is left out
    rec = json.loads(ok(invoke("info", src, "--json")).stdout)
    assert rec["input"] == str(src) and rec["status"] == "ok"
    assert rec["kind"] == "image" and rec["shape"] == [40, 50, 4] and rec["rate"] is None


@pytest.mark.parametrize(
    ("mode", "shape", "dtype"),
    [
        ("I;16", [40, 50], "uint16"),
        ("F", [40, 50], "float32"),
        ("P+transparency", [40, 50, 4], "uint8"),
    ],
)
def test_info_image_modes(make_image, mode, shape, dtype):
    rec = json.loads(ok(invoke("info", make_image(mode), "--json")).stdout)
    assert (rec["shape"], rec["dtype"]) == (shape, dtype)


def test_info_audio(make_audio):
    src = make_audio("a.flac", "PCM_24", channels=6)
    f = fields(ok(invoke("info", src)).stdout)
    assert f["kind"] == "audio" and f["rate"] == str(RATE) and f["subtype"] == "PCM_24"
    assert f["channels"] == "6" and f["duration"] == "0.1"
    rec = json.loads(ok(invoke("info", src, "--json")).stdout)
    assert rec["shape"] == [FRAMES, 6] and rec["rate"] == RATE and rec["frames"] == FRAMES
    assert rec["format"] == "FLAC" and rec["bits"] == 24


def test_info_volumes(slice_folder, multipage_tiff, animated_gif, volume_npy):
    res = ok(invoke("info", slice_folder, multipage_tiff, animated_gif, volume_npy, "--json"))
    folder, tiff, gif, npy = (json.loads(line) for line in res.stdout.splitlines())
    assert folder["kind"] == "volume" and folder["container"] == "folder"
    assert folder["shape"] == [12, 20, 24] and folder["planes"] == 12
    assert tiff["container"] == "multipage" and tiff["planes"] == 5
    assert gif["container"] == "animated" and gif["planes"] == 4
    assert npy["kind"] == "array" and npy["shape"] == [12, 20, 24] and npy["dtype"] == "float32"
    text = ok(invoke("info", slice_folder)).stdout
    assert fields(text)["planes"] == "12"


def test_info_as_reads_the_input_as_asked(volume_npy):
    rec = json.loads(ok(invoke("info", volume_npy, "--as", "volume", "--json")).stdout)
    assert rec["kind"] == "volume" and rec["planes"] == 12


def test_info_bad_files(tmp_path, make_image):
    good = make_image("L")
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    missing = tmp_path / "missing.png"
    res = invoke("info", text, good, missing)
    assert res.exit_code == 1
    lines = res.stderr.splitlines()
    assert lines[0].startswith(f"convcli: error: {text}: cannot read as audio")
    assert lines[1] == f"convcli: error: {missing}: does not exist"
    assert len(lines) == 2 and "Traceback" not in res.output
    assert res.stdout.splitlines()[0] == str(good)  # the good file is still described
    res = invoke("info", missing, "--json")
    assert_one_error_line(res, 1)
    rec = json.loads(res.stdout)
    assert rec == {"input": str(missing), "status": "error", "error": "does not exist"}


def test_info_without_input_is_a_usage_error():
    assert_one_error_line(invoke("info"), 2)


# -------------------------------------------------------------------------------- kernels


def test_kernels_lists_every_registry_name_then_the_banks():
    from convcli.kernels import BANKS

    out = ok(invoke("kernels")).stdout
    kernels, banks = out.split("\n\nbanks (convcli features --bank NAME[:ARGS]):\n")
    names = [line.split(":")[0].split()[0] for line in kernels.splitlines()]
    assert sorted(names) == sorted(REGISTRY)
    assert sorted(line.split(":")[0] for line in banks.splitlines()) == sorted(BANKS)
    for line in kernels.splitlines() + banks.splitlines():
        assert "-D" in line  # the dimensionalities it supports


def test_kernels_shows_values_shape_and_sum():
    out = ok(invoke("kernels", "gaussian:1", "--ndim", "1")).stdout.splitlines()
    assert out[-2] == "shape: 9" and out[-1] == "sum: 1"
    values = np.array(" ".join(out[:-2]).strip("[]").split(), float)
    np.testing.assert_allclose(values, make_kernel("gaussian:1", 1), atol=1e-6)


def test_kernels_inline_matrix():
    out = ok(invoke("kernels", "[1 2 1; 2 4 2; 1 2 1]/16")).stdout.splitlines()
    assert out[-2:] == ["shape: 3x3", "sum: 1"]


def test_kernels_audio_kernel_needs_the_rate():
    line = assert_one_error_line(invoke("kernels", "lowpass:1000"), 2)
    assert "rate" in line
    out = ok(invoke("kernels", "lowpass:1000", "--rate", "8000")).stdout.splitlines()
    assert out[-1] == "sum: 1"
    assert out[-2] == f"shape: {make_kernel('lowpass:1000', 1, rate=8000).size}"


@pytest.mark.parametrize(
    "args",
    [
        ["nosuchkernel"],
        ["sobel:axis=5"],
        ["prewitt", "--ndim", "3"],
        ["box", "--ndim", "9"],
        ["[1 2"],
        ["missing.txt"],
    ],
)
def test_kernels_errors_are_usage_errors(args):
    assert_one_error_line(invoke("kernels", *args), 2)


def test_kernels_help_is_light():
    code = (
        "import sys\nfrom convcli.cli import cli\n"
        "try:\n    cli.main(['kernels', '--help'])\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('numpy', 'scipy', 'PIL', 'soundfile') if m in sys.modules])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "Examples:" in run.stdout
    assert run.stdout.rstrip().endswith("[]"), run.stdout
