"""Kernel frequency responses (convcli.explain.response) and ``convcli kernels --response``."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convcli.cli import cli
from convcli.errors import ArgumentError, OutputExistsError
from convcli.explain.response import (
    HALF_DB,
    HALF_POWER_DB,
    dtft,
    format_properties,
    kernel_properties,
    level_crossings,
    plot_response,
    save_response,
    separability_rank,
    symmetry,
)
from convcli.kernels import make_kernel

RATE = 44100.0


def test_lowpass_minus_6_db_point_is_its_cutoff():
    w = make_kernel("lowpass:cutoff=1000", 1, rate=RATE)
    (f,) = level_crossings(w, HALF_DB)
    assert f * RATE == pytest.approx(1000.0, abs=1.0)
    assert abs(dtft(w, 1000.0 / RATE)[0]) == pytest.approx(0.5, abs=1e-3)
    props = kernel_properties(w)
    assert props.dc_gain == pytest.approx(1.0)
    assert abs(props.nyquist_gain) < 1e-3
    assert props.symmetry == ("symmetric",) and not props.zero_sum
    (f3,) = props.crossings[HALF_POWER_DB]
    assert 900.0 < f3 * RATE < 1000.0


@pytest.mark.parametrize(
    ("spec", "cutoffs"),
    [("highpass:cutoff=3000", [3000.0]), ("bandpass:300,3000", [300.0, 3000.0])],
)
def test_other_fir_cutoffs(spec, cutoffs):
    w = make_kernel(spec, 1, rate=RATE)
    found = [f * RATE for f in level_crossings(w, HALF_DB)]
    assert found == pytest.approx(cutoffs, abs=2.0)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_gaussian_has_unit_dc_gain_and_rank_one(ndim):
    w = make_kernel("gaussian:sigma=1.5", ndim)
    props = kernel_properties(w)
    assert props.dc_gain == pytest.approx(1.0)
    assert props.symmetry == ("symmetric",) * ndim
    assert props.separable
    if ndim == 2:
        assert props.rank == 1
    if ndim == 3:
        assert props.rank == (1, 1, 1)


@pytest.mark.parametrize("axis", [0, 1])
def test_sobel_is_zero_sum_and_antisymmetric_along_its_axis(axis):
    w = make_kernel(f"sobel:axis={axis}", 2)
    props = kernel_properties(w)
    assert props.zero_sum and props.dc_gain == 0.0
    assert props.symmetry[axis] == "antisymmetric"
    assert props.symmetry[1 - axis] == "symmetric"
    assert props.rank == 1
    assert props.nyquist_per_axis[axis] == 0.0  # the central difference is blind at Nyquist


def test_rank_symmetry_and_nyquist_of_small_kernels():
    assert separability_rank([[0, 1, 0], [1, -4, 1], [0, 1, 0]]) == 2
    assert separability_rank(np.zeros(3)) == 0
    assert symmetry([1, 2, 3], 0) == "none"
    assert symmetry([[1, 2], [3, 4]], 1) == "none"
    props = kernel_properties([1.0, -1.0])
    assert props.zero_sum and props.nyquist_gain == 2.0 and props.symmetry == ("antisymmetric",)
    corner = kernel_properties(np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16)
    assert corner.nyquist_gain == 0.0 and corner.dc_gain == 1.0


def test_dtft_matches_the_fft():
    rng = np.random.default_rng(0)
    w = rng.normal(size=17)
    freqs = np.arange(64) / 64
    centre = np.exp(2j * np.pi * freqs * 8)  # dtft refers the phase to the centre tap
    np.testing.assert_allclose(dtft(w, freqs), np.fft.fft(w, 64) * centre, atol=1e-12)


def test_format_properties_lines():
    text = format_properties(kernel_properties(make_kernel("sobel:axis=1", 2)))
    assert text.splitlines() == [
        "DC gain: 0 (-inf dB)",
        "Nyquist gain: 0 (-inf dB) with every axis at Nyquist; along row 0, column 0",
        "zero-sum: yes",
        "separability rank: 1 (matrix rank: separable)",
        "symmetry: row symmetric, column antisymmetric",
    ]
    lp = format_properties(
        kernel_properties(make_kernel("lowpass:cutoff=1000", 1, rate=RATE)), rate=RATE
    )
    assert "-6 dB: 999.9 Hz" in lp or "-6 dB: 1000.0 Hz" in lp


@pytest.mark.parametrize(
    ("spec", "ndim", "rate", "size"),
    [
        ("lowpass:cutoff=1000", 1, RATE, (820, 500)),
        ("gaussian", 1, None, (820, 500)),
        ("gaussian:sigma=2", 2, None, (620, 560)),
        ("laplacian", 2, None, (620, 560)),
    ],
)
def test_plots_open(tmp_path, spec, ndim, rate, size):
    image = plot_response(make_kernel(spec, ndim, rate=rate), rate=rate, title=spec)
    target = tmp_path / "r.png"
    save_response(image, target)
    with Image.open(target) as im:
        assert im.format == "PNG" and im.size == size and im.mode == "RGB"
        assert len(im.getcolors(maxcolors=100_000)) > 10  # something was drawn
    with pytest.raises(OutputExistsError):
        save_response(image, target)
    save_response(image, target, overwrite=True)
    assert os.listdir(tmp_path) == ["r.png"]


def test_plot_refusals(tmp_path):
    with pytest.raises(ArgumentError, match="1-D and 2-D"):
        plot_response(np.ones((2, 2, 2)))
    with pytest.raises(ArgumentError, match="use .png"):
        save_response(plot_response([1.0, 2.0]), tmp_path / "r.nope")


# -- the CLI --------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(cli, ["kernels", *args])


def test_cli_response(tmp_path):
    out = tmp_path / "lp.png"
    result = run("lowpass:cutoff=1000", "--rate", "44100", "--response", str(out))
    assert result.exit_code == 0, result.output
    assert "DC gain: 1 (0.00 dB)" in result.stdout
    assert "symmetry: symmetric" in result.stdout
    assert result.stdout.strip().endswith(f"response: {out} (820x500)")
    with Image.open(out) as im:
        assert im.size == (820, 500)
    again = run("lowpass:cutoff=1000", "--rate", "44100", "--response", str(out))
    assert again.exit_code == 1 and again.stdout == ""
    assert again.stderr.strip() == f"convcli: error: {out}: exists; use --overwrite to replace it"
    result = run("sobel:axis=1", "--plot", str(out), "--overwrite")
    assert result.exit_code == 0
    assert "zero-sum: yes" in result.stdout and "column antisymmetric" in result.stdout
    with Image.open(out) as im:
        assert im.size == (620, 560)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gaussian", "--ndim", "3"], "1-D and 2-D kernels"),
        (["--rate", "8000"], "needs a kernel SPEC"),
        (["box:3", "--rate", "-5"], "--rate must be a positive"),
    ],
)
def test_cli_response_usage_errors(tmp_path, args, message):
    result = run(*args, "--response", str(tmp_path / "r.png"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not os.listdir(tmp_path)


def test_cli_response_bad_extension(tmp_path):
    result = run("box:3", "--response", str(tmp_path / "r.xyz"))
    assert result.exit_code == 2 and "use .png" in result.stderr


def test_kernels_without_response_is_unchanged():
    result = run("[1 2 1]/4")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-2:] == ["shape: 3", "sum: 1"]
