"""``convcli kernels SPEC -o FILE``: every kernel file written reads back to the same values."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from test_cli_info_kernels import assert_one_error_line, invoke, ok

from convcli import convolve
from convcli.kernels import make_kernel, read_kernel_file, write_kernel_file

RNG = np.random.default_rng(16)

KERNELS = {
    "1d-odd": RNG.standard_normal(7),
    "1d-even": RNG.standard_normal(4) * 1e-300,
    "2d-odd": RNG.standard_normal((3, 5)),
    "2d-even": RNG.standard_normal((4, 2)) * 1e12,
    "3d": RNG.standard_normal((2, 3, 4)),
    "thirds": np.array([[1 / 3, 2 / 3], [0.1, -0.0]]),
}


@pytest.mark.parametrize("ext", [".txt", ".csv", ".npy", ".json"])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_round_trip_is_exact(tmp_path, ext, name):
    kernel = KERNELS[name]
    path = str(tmp_path / f"k{ext}")
    write_kernel_file(kernel, path)
    back = read_kernel_file(path)
    assert back.shape == kernel.shape
    assert back.tobytes() == kernel.astype(np.float64).tobytes()  # bit for bit, -0.0 kept


@pytest.mark.parametrize("ext", [".txt", ".csv"])
def test_text_drops_only_leading_unit_axes(tmp_path, ext):
    kernel = RNG.standard_normal((1, 5))
    path = str(tmp_path / f"row{ext}")
    write_kernel_file(kernel, path)
    back = read_kernel_file(path)
    assert back.shape == (5,)
    np.testing.assert_array_equal(make_kernel(f"@{path}", 2), kernel)


@pytest.mark.parametrize("name", ["1d-odd", "1d-even", "2d-odd", "2d-even", "thirds"])
def test_vips_matrix_means_the_same_kernel(tmp_path, name):
    kernel = KERNELS[name]
    path = str(tmp_path / "k.mat")
    write_kernel_file(kernel, path)
    back = read_kernel_file(path)
    k2 = kernel.reshape(1, -1) if kernel.ndim == 1 else kernel
    even = [(1, 0) if n % 2 == 0 and n > 1 else (0, 0) for n in k2.shape]
    np.testing.assert_array_equal(back, np.pad(k2, even))
    # the zero tap put before an even axis keeps convcli's `same` placement (correlation)
    x = RNG.standard_normal((9, 11))
    want = convolve(x, k2, padding="same", pad_mode="reflect")
    got = convolve(x, back, padding="same", pad_mode="reflect")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(k2).sum())


def test_vips_matrix_header(tmp_path):
    path = str(tmp_path / "k.mat")
    write_kernel_file(np.array([[1.0, 2.0, 1.0], [0.5, 0.25, 0.5]]), path)
    lines = open(path).read().splitlines()
    assert lines == ["3 3 1 0", "0.0 0.0 0.0", "1.0 2.0 1.0", "0.5 0.25 0.5"]


@pytest.mark.parametrize("ext", [".wav", ".aiff"])
def test_audio_kernel_is_stored_exactly(tmp_path, ext):
    import soundfile as sf

    kernel = make_kernel("lowpass:cutoff=1000", 1, rate=8000)
    path = str(tmp_path / f"lp{ext}")
    write_kernel_file(kernel, path, rate=8000)
    assert sf.info(path).samplerate == 8000
    assert read_kernel_file(path).tobytes() == kernel.tobytes()


def test_json_layout(tmp_path):
    path = str(tmp_path / "k.json")
    write_kernel_file([[1, 2], [3, 4]], path)
    assert json.load(open(path)) == {"kernel": [[1.0, 2.0], [3.0, 4.0]]}


@pytest.mark.parametrize(
    ("kernel", "name", "kw", "needle"),
    [
        (np.ones((2, 2, 2)), "k.mat", {}, "2-D kernels at most"),
        (np.ones((2, 2)), "k.wav", {"rate": 8000}, "1-D kernels at most"),
        (np.ones(3), "k.wav", {}, "needs rate"),
        (np.ones(3), "k.wav", {"rate": 8000.5}, "needs rate"),
        (np.array([1.0, np.nan]), "k.txt", {}, "finite"),
        (np.ones(3), "k.flac", {}, "cannot write"),
    ],
)
def test_refused(tmp_path, kernel, name, kw, needle):
    from convcli.errors import KernelSpecError

    path = str(tmp_path / name)
    with pytest.raises(KernelSpecError, match=needle):
        write_kernel_file(kernel, path, **kw)
    assert os.listdir(tmp_path) == []  # nothing half-written


@pytest.mark.parametrize("ext", [".txt", ".csv", ".npy", ".json", ".mat"])
def test_cli_writes_what_it_shows(tmp_path, ext):
    path = tmp_path / f"g{ext}"
    out = ok(invoke("kernels", "gaussian:sigma=1.5", "-o", path)).stdout
    assert out.rstrip().endswith(f"written: {path}")
    np.testing.assert_array_equal(make_kernel(f"@{path}", 2), make_kernel("gaussian:sigma=1.5", 2))


def test_cli_audio_and_overwrite(tmp_path):
    path = tmp_path / "lp.wav"
    ok(invoke("kernels", "lowpass:1000", "--rate", "8000", "-o", path))
    np.testing.assert_array_equal(
        read_kernel_file(str(path)), make_kernel("lowpass:1000", 1, rate=8000)
    )
    line = assert_one_error_line(invoke("kernels", "lowpass:1000", "--rate", "8000", "-o", path), 1)
    assert "--overwrite" in line
    ok(invoke("kernels", "lowpass:2000", "--rate", "8000", "-o", path, "--overwrite"))
    np.testing.assert_array_equal(
        read_kernel_file(str(path)), make_kernel("lowpass:2000", 1, rate=8000)
    )


def test_cli_bad_outputs_are_one_line(tmp_path):
    line = assert_one_error_line(invoke("kernels", "gaussian", "-o", tmp_path / "k.png"), 2)
    assert "cannot write a kernel as .png" in line
    line = assert_one_error_line(
        invoke("kernels", "box:3", "--ndim", "1", "-o", tmp_path / "k.wav"), 2
    )
    assert "--rate" in line
    assert_one_error_line(invoke("kernels", "-o", tmp_path / "k.txt"), 2)
    assert os.listdir(tmp_path) == []


def test_cli_shows_a_2d_kernel_file_as_stored(tmp_path):
    path = tmp_path / "k.csv"
    write_kernel_file(KERNELS["2d-odd"], str(path))
    assert "shape: 3x5" in ok(invoke("kernels", f"@{path}")).stdout
