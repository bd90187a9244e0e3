"""The planner's picks: what ``auto`` chooses, and that it stays exact where it must."""

from __future__ import annotations

import numpy as np
import pytest
from _reference import reference_correlate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convcli
from convcli.engine import _plan, make_plan
from convcli.geometry import resolve
from convcli.padding import PAD_MODES


def _oracle(x, w, mode, channel_axis=None, padding="same"):
    axes = [a for a in range(x.ndim) if a != channel_axis]
    geo = resolve([x.shape[a] for a in axes], w.shape, padding=padding)
    shape = [1] * x.ndim
    pads = [(0, 0)] * x.ndim
    for a, n, g in zip(axes, w.shape, geo):
        shape[a] = n
        pads[a] = (g.pad_lo, g.pad_hi)
    return reference_correlate(x, w.reshape(shape), [1] * x.ndim, pads, [1] * x.ndim, mode, 0.5)


@pytest.mark.parametrize("mode", PAD_MODES)
@pytest.mark.parametrize(
    "kshape,channel_axis", [((1, 2, 7), None), ((2, 7, 1), None), ((2, 7), 0), ((7, 2), 2)]
)
def test_tiny_inputs_stay_direct_and_exact(mode, kshape, channel_axis):
    # Issue 14: a 6x8x12 float64 array with a 14-tap kernel went to FFT, which costs more
    # than the direct sums and is not exact; direct sums the taps in the oracle's order.
    rng = np.random.default_rng(14)
    x = rng.standard_normal((6, 8, 12))
    w = rng.standard_normal(kshape)
    kw = dict(pad_mode=mode, pad_value=0.5, channel_axis=channel_axis)
    assert make_plan(x.shape, x.dtype, w, **kw).method == "direct"
    y = convcli.convolve(x, w, **kw)
    np.testing.assert_array_equal(y, _oracle(x, w, mode, channel_axis))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(1, 40), min_size=1, max_size=3),
    st.data(),
    st.sampled_from(["same", "valid", "full"]),
    st.sampled_from([np.float32, np.float64, np.uint8]),
)
def test_small_work_never_leaves_the_direct_path(shape, data, padding, dtype):
    kshape = [data.draw(st.integers(1, min(n, 15))) for n in shape]
    outputs = int(np.prod([g.output for g in resolve(shape, kshape, padding=padding)]))
    if outputs * int(np.prod(kshape)) > _plan.SMALL_WORK:
        return
    w = np.random.default_rng(0).standard_normal(kshape)
    assert make_plan(shape, dtype, w, padding=padding).method == "direct"


def test_large_work_still_goes_by_cost():
    rng = np.random.default_rng(0)
    assert make_plan((512, 512), np.float32, rng.standard_normal((31, 31))).method == "fft"
    g = np.exp(-0.5 * (np.arange(15) - 7) ** 2 / 9.0)
    assert make_plan((512, 512), np.float32, np.outer(g, g)).method == "separable"
