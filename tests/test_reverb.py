"""Reverb helpers against per-path numpy.convolve sums, scipy.signal and hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcli import reverb
from convcli.errors import ArgumentError


def per_path(x, matrix):
    """The reference: each output the sum over inputs of numpy.convolve (full), float64."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    n_in, n_out, taps = matrix.shape
    y = np.zeros((len(x) + taps - 1, n_out))
    for o in range(n_out):
        for i in range(n_in):
            y[:, o] += np.convolve(x[:, i], matrix[i, o])
    return y


@pytest.mark.parametrize(
    ("inputs", "channels", "layout", "shape"),
    [
        (1, 1, None, (1, 1)),
        (2, 1, None, (2, 2)),  # a mono IR on every channel
        (2, 2, None, (2, 2)),  # one IR per channel
        (2, 4, None, (2, 2)),  # true stereo: LL, LR, RL, RR
        (1, 2, "1x2", (1, 2)),  # mono to stereo
        (1, 4, (1, 4), (1, 4)),  # first-order ambisonics from mono
        (2, 4, "2x2", (2, 2)),
        (3, 9, None, (3, 3)),
    ],
)
@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
def test_matrix_against_per_path_numpy_convolve(inputs, channels, layout, shape, method):
    rng = np.random.default_rng(channels * 10 + inputs)
    x = rng.standard_normal((300, inputs))
    ir = rng.standard_normal((channels, 57))
    matrix = reverb.ir_matrix(ir, inputs, layout)
    assert matrix.shape == shape + (57,)
    got = reverb.apply_ir_matrix(x, matrix, method=method)
    np.testing.assert_allclose(got, per_path(x, matrix), atol=1e-9)


def test_true_stereo_order_is_input_major():
    ir = np.arange(4.0)[:, None] + 1  # LL=1, LR=2, RL=3, RR=4 (one tap each)
    m = reverb.ir_matrix(ir, 2)
    assert m[:, :, 0].tolist() == [[1, 2], [3, 4]]
    y = reverb.apply_ir_matrix(np.array([[1.0, 10.0]]), m)
    assert y.tolist() == [[1 + 30, 2 + 40]]  # L out = L*LL + R*RL; R out = L*LR + R*RR


def test_a_mono_ir_and_a_per_channel_ir_stay_per_channel():
    x = np.random.default_rng(0).standard_normal((50, 2))
    h = np.array([1.0, -0.5, 0.25])
    y = reverb.apply_ir_matrix(x, reverb.ir_matrix(h, 2))
    for c in range(2):
        np.testing.assert_allclose(y[:, c], np.convolve(x[:, c], h))


def test_long_ir_through_fft_float32():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20000, 2)).astype(np.float32)
    ir = rng.standard_normal((4, 3000)) * np.exp(-np.arange(3000) / 500)
    matrix = reverb.ir_matrix(ir, 2)
    got = reverb.apply_ir_matrix(x, matrix)
    assert got.dtype == np.float32 and got.shape == (22999, 2)
    np.testing.assert_allclose(got, per_path(x, matrix), atol=2e-3)


@settings(max_examples=40, deadline=None)
@given(
    frames=st.integers(1, 60),
    taps=st.integers(1, 20),
    bounds=st.lists(st.integers(0, 100), min_size=1, max_size=5),
    seed=st.integers(0, 1000),
)
def test_blocks_with_their_halo_join_into_the_whole(frames, taps, bounds, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((frames, 2))
    matrix = reverb.ir_matrix(rng.standard_normal((4, taps)), 2)
    whole = reverb.apply_ir_matrix(x, matrix)
    total = frames + taps - 1
    cuts = sorted({0, total, *(b % total for b in bounds)})
    blocks = [reverb.ir_block(x, matrix, a, b) for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-12)


def test_a_block_reads_only_its_halo():
    class Spy:
        def __init__(self, data):
            self.data, self.reads = data, []

        def __len__(self):
            return len(self.data)

        def __getitem__(self, index):
            self.reads.append((index.start, index.stop))
            return self.data[index]

    spy = Spy(np.ones((1000, 1)))
    reverb.ir_block(spy, np.ones((1, 1, 10)), 500, 600)
    assert spy.reads == [(491, 600)]


@pytest.mark.parametrize(
    ("inputs", "channels", "layout", "message"),
    [
        (2, 3, None, "3-channel impulse response on a 2-channel signal"),
        (1, 4, None, "4-channel impulse response on a 1-channel signal"),
        (2, 4, "1x4", "takes 1 input"),
        (2, 4, "2x3", "needs 6 IR channels"),
        (2, 4, "2by2", "not INxOUT"),
    ],
)
def test_bad_layouts(inputs, channels, layout, message):
    with pytest.raises(ArgumentError, match=message):
        reverb.ir_matrix(np.ones((channels, 5)), inputs, layout)


# --- resampling ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "dst", "up", "down"),
    [
        (44100, 48000, 160, 147),
        (48000, 44100, 147, 160),
        (8000, 44100, 441, 80),
        (22050.5, 44101, 2, 1),
    ],
)
def test_resample_is_resample_poly_with_the_exact_ratio(src, dst, up, down):
    from scipy.signal import resample_poly

    ir = np.random.default_rng(0).standard_normal((2, 200))
    got = reverb.resample_kernel(ir, src, dst)
    np.testing.assert_allclose(got, resample_poly(ir, up, down, axis=-1) * down / up)
    assert got.shape == (2, -(-200 * up // down))


def test_resample_keeps_the_gain_of_a_filter():
    rate, new = 44100, 48000
    h = np.zeros(400)
    h[100:103] = [0.25, 0.5, 0.25]  # a gentle low-pass of gain 1 at DC
    g = reverb.resample_kernel(h, rate, new)
    assert g.sum() == pytest.approx(1.0, abs=1e-3)
    t = np.arange(4000)
    tone = lambda r: np.sin(2 * np.pi * 300 * t / r)  # noqa: E731
    a = np.convolve(tone(rate), h)[1000:3000]
    b = np.convolve(tone(new), g)[1000:3000]
    assert np.abs(b).max() == pytest.approx(np.abs(a).max(), rel=2e-3)


def test_same_rate_is_a_copy():
    h = np.array([1.0, 2.0])
    assert reverb.resample_kernel(h, 48000, 48000.0).tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        (44100, 22050.5, "44101/88200"),
        (44100.1, 48000, "480000/441001"),
        (0, 48000, "positive"),
        (44100, float("nan"), "positive"),
        (44100, "fast", "number of Hz"),
    ],
)
def test_resample_refuses(src, dst, message):
    with pytest.raises(ArgumentError, match=message):
        reverb.resample_kernel(np.ones(4), src, dst)


def test_resample_does_not_import_scipy_until_used():
    import subprocess
    import sys

    code = "import sys, convcli.reverb; print('scipy.signal' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- latency, predelay, trim, normalise, mix -----------------------------------------------


def test_latency_is_the_peak_over_all_channels():
    ir = np.zeros((2, 10))
    ir[0, 3] = 0.5
    ir[1, 6] = -0.9
    assert reverb.ir_latency(ir) == 6
    assert reverb.ir_latency(reverb.ir_matrix(ir, 2)) == 6


def test_dry_aligned_with_the_direct_sound():
    ir = np.r_[np.zeros(5), 1.0, 0.3, 0.1]
    x = np.random.default_rng(0).standard_normal(40)
    wet = reverb.apply_ir_matrix(x, reverb.ir_matrix(ir, 1))[:, 0]
    dry = reverb.delay(x, reverb.ir_latency(ir), len(wet))
    out = reverb.mix(dry, wet, 0.3)
    np.testing.assert_allclose(out, 0.7 * dry + 0.3 * wet, rtol=1e-6)
    direct = np.convolve(x, np.r_[np.zeros(5), 1.0])  # the wet's direct sound
    np.testing.assert_allclose(dry[: len(direct)], direct)
    assert not dry[len(direct) :].any()


def test_predelay_shifts_the_wet_signal():
    ir = np.array([[1.0, 0.5], [0.2, 0.1]])
    out = reverb.predelay(ir, 0.0015, 2000)  # 3 samples
    assert out.shape == (2, 5) and out[:, :3].tolist() == [[0, 0, 0], [0, 0, 0]]
    with pytest.raises(ArgumentError, match=">= 0 seconds"):
        reverb.predelay(ir, -0.1, 2000)


def test_trim_reports_the_samples_removed():
    ir = np.zeros((2, 8))
    ir[1, 3] = 10 ** (-40 / 20)  # -40 dBFS in the second channel
    ir[0, 5] = 1.0
    trimmed, removed = reverb.trim_ir(ir, -50)
    assert removed == 3 and trimmed.shape == (2, 5)
    trimmed, removed = reverb.trim_ir(ir, -30)
    assert removed == 5
    with pytest.raises(ArgumentError, match="below -20 dBFS"):
        reverb.trim_ir(ir * 0.01, -20)
    with pytest.raises(ArgumentError, match="<= 0 dBFS"):
        reverb.trim_ir(ir, 3)


def test_normalize_modes():
    rng = np.random.default_rng(4)
    ir = rng.standard_normal((2, 2, 100))
    assert np.abs(reverb.normalize_ir(ir, "peak")).max() == pytest.approx(1.0)
    e = reverb.normalize_ir(ir, "energy")
    assert (e**2).sum() == pytest.approx(2.0)  # two outputs
    np.testing.assert_allclose(e / ir, (e / ir).flat[0])  # one gain: the balance is kept
    assert reverb.normalize_ir(ir, "none").tolist() == ir.tolist()
    # unit-power white noise in both inputs: unit power on average over the outputs
    x = rng.standard_normal((200000, 2))
    y = reverb.apply_ir_matrix(x, e)
    assert (y**2).mean() == pytest.approx(1.0, rel=0.03)
    with pytest.raises(ArgumentError, match="none, peak, energy"):
        reverb.normalize_ir(ir, "rms")
    with pytest.raises(ArgumentError, match="zeros"):
        reverb.normalize_ir(np.zeros(4), "peak")


def test_mix_spreads_mono_dry_and_checks_its_range():
    out = reverb.mix(np.ones((3, 1)), np.zeros((3, 2)), 0.25)
    assert out.tolist() == [[0.75, 0.75]] * 3
    with pytest.raises(ArgumentError, match="between 0"):
        reverb.mix(np.ones(3), np.ones(3), 1.5)
    with pytest.raises(ArgumentError, match="differ in shape"):
        reverb.mix(np.ones(3), np.ones(4), 0.5)
