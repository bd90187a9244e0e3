"""Exact integer correlation of 8-bit windows (convcli.engine.integer) against the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from _reference import reference_correlate

from convcli.engine.integer import IntegerCorrelation, integer_kernel, round_scaled

RNG = np.random.default_rng(22)


def test_integer_kernels_are_integers_times_a_power_of_two():
    u8 = np.dtype(np.uint8)
    k = integer_kernel(u8, np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float))
    assert k is not None and k.shift == 0
    assert integer_kernel(u8, np.ones((3, 3)) / 8).shift == 3
    assert integer_kernel(u8, np.ones((3, 3)) / 9) is None  # not a power of two
    assert integer_kernel(u8, np.ones((200,))) is None  # sums leave int16
    assert integer_kernel(np.dtype(np.uint16), np.ones((3, 3))) is None
    assert integer_kernel(u8, np.ones((3, 3)), "constant", 0.5) is None
    assert integer_kernel(u8, np.ones((3, 3)), "constant", 300) is None
    assert integer_kernel(u8, np.ones((3, 3)), "constant", 7) is not None


@pytest.mark.parametrize("shift", [0, 1, 4, 7])
def test_round_scaled_is_numpys_rint_of_the_product(shift):
    sums = np.arange(-32768, 32768 - (1 << max(shift - 1, 0)), dtype=np.int32).astype(np.int16)
    want = np.rint(sums.astype(np.float32) * np.float32(2.0**-shift))
    for dtype in (np.uint8, np.int16, np.uint16):
        out = np.empty(sums.shape, dtype)
        clipped = round_scaled(sums, shift, out)
        info = np.iinfo(dtype)
        np.testing.assert_array_equal(out, np.clip(want, info.min, info.max).astype(dtype))
        assert clipped == int(np.count_nonzero((want < info.min) | (want > info.max)))


@pytest.mark.parametrize("stride", [(1, 1), (2, 1), (2, 3)])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 1), (1, 3)])
@pytest.mark.parametrize("channels", [1, 3])
def test_window_sums_equal_the_oracle(stride, dilation, channels):
    taps = RNG.integers(-4, 5, (3, 4)).astype(float)
    taps[1, 1] = 9
    ik = integer_kernel(np.dtype(np.uint8), taps / 4)
    assert ik is not None
    rows, cols = 23, 31
    window = RNG.integers(0, 256, (rows, cols, channels), dtype=np.uint8)
    want = reference_correlate(
        window.astype(float),
        taps[:, :, None],
        stride=(*stride, 1),
        padding=["valid"] * 3,
        dilation=(*dilation, 1),
    )
    out_cols = want.shape[1]
    corr = IntegerCorrelation(ik, (rows + 5, cols, channels), out_cols, stride, dilation)
    got = np.full(want.shape, -1, dtype=np.int64)

    def finish(r0, r1, sums):
        got[r0:r1] = sums

    corr(window, finish)
    np.testing.assert_array_equal(got * 2.0**-ik.shift, want / 4)
