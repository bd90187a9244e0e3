"""Normalized convolution against a tap-by-tap (x·m ⋆ w) / (m ⋆ w) loop, and astropy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _reference import NUMPY_MODE, reference_pads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convcli
from convcli.engine import make_plan
from convcli.errors import ArgumentError
from convcli.padding import PAD_MODES

METHODS = ("direct", "separable", "fft")
RTOL = {np.float32: 1e-5, np.float64: 1e-10}


def reference_normalized(x, w, m, stride, padding, dilation, pad_mode, flip=False, rtol=1e-10):
    """(x·m ⋆ w) / (m ⋆ w) in float64, tap by tap; NaN where |m ⋆ w| <= rtol * sum|w|.

    ``m`` is 0 on NaN and on padding outside the signal (zero/constant modes); copy modes
    (reflect, symmetric, replicate, circular) pad the certainty as they pad the samples.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64) * ~np.isnan(x)
    x = np.where(m > 0, x, 0.0)
    if flip:
        w = w[(slice(None, None, -1),) * w.ndim]
    pads = [
        reference_pads(i, k, s, d, p)
        for i, k, s, d, p in zip(x.shape, w.shape, stride, dilation, padding)
    ]
    numpy_mode = "constant" if pad_mode in ("zero", "constant") else NUMPY_MODE[pad_mode]
    xp = np.pad(x, pads, mode=numpy_mode)
    mp = np.pad(m, pads, mode=numpy_mode)
    out_shape = [
        (n - (d * (k - 1) + 1)) // s + 1 for n, k, s, d in zip(xp.shape, w.shape, stride, dilation)
    ]
    y = np.zeros(out_shape)
    bound = rtol * np.abs(w).sum()
    for o in itertools.product(*(range(n) for n in out_shape)):
        num = den = 0.0
        for j in itertools.product(*(range(k) for k in w.shape)):
            idx = tuple(oo * s + jj * d for oo, jj, s, d in zip(o, j, stride, dilation))
            num += w[j] * mp[idx] * xp[idx]
            den += w[j] * mp[idx]
        y[o] = num / den if abs(den) > bound else np.nan
    return y


def assert_same(got, want, atol):
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=0, atol=atol)


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 3))
    size = {1: 12, 2: 8, 3: 5}[ndim]
    shape = tuple(draw(st.integers(1, size)) for _ in range(ndim))
    kshape = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    stride = [draw(st.integers(1, 3)) for _ in range(ndim)]
    dilation = [draw(st.integers(1, 2)) for _ in range(ndim)]
    kind = draw(st.sampled_from(["same", "valid", "full", "pairs"]))
    if kind == "pairs":
        padding = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(ndim)]
    else:
        padding = kind
    ref_padding = padding if kind == "pairs" else [kind] * ndim
    for i, k, d, p in zip(shape, kshape, dilation, ref_padding):
        lo, hi = reference_pads(i, k, 1, d, p) if isinstance(p, str) else p
        if kind != "same" and i + lo + hi < d * (k - 1) + 1:
            padding, ref_padding = "same", ["same"] * ndim
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(shape)
    x[rng.random(shape) < draw(st.sampled_from([0.0, 0.2, 0.6]))] = np.nan
    # positive weights (smoothing), so the kept weight is never cancelled out
    if draw(st.booleans()):
        w = rng.uniform(0.2, 1.0, kshape[0])
        for n in kshape[1:]:
            w = np.multiply.outer(w, rng.uniform(0.2, 1.0, n))
    else:
        w = rng.uniform(0.2, 1.0, kshape)
    mask = None
    if draw(st.booleans()):
        mask = rng.random(shape) if draw(st.booleans()) else rng.random(shape) > 0.3
    mode = draw(st.sampled_from(PAD_MODES))
    flip = draw(st.booleans())
    return x, w, mask, stride, dilation, padding, ref_padding, mode, flip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(METHODS))
def test_every_method_matches_the_tap_loop(case, method):
    x, w, mask, stride, dilation, padding, ref_padding, mode, flip = case
    if method == "separable" and make_plan(x.shape, x.dtype, w).factors is None:
        method = "direct"
    want = reference_normalized(
        x, w, 1.0 if mask is None else mask, stride, ref_padding, dilation, mode, flip
    )
    got = convcli.convolve(
        x,
        w,
        stride=stride,
        padding=padding,
        dilation=dilation,
        pad_mode=mode,
        pad_value=7.0,  # never used: constant padding is outside the signal
        flip=flip,
        method=method,
        normalized=True,
        mask=mask,
    )
    assert got.dtype == np.float64
    assert_same(got, want, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["zero", "reflect", "circular"])
def test_channels_share_the_mask_and_keep_their_own_nans(method, mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 11, 3)).astype(np.float32)
    x[2, 3, 0] = x[5, 5, 2] = np.nan
    mask = rng.random((9, 11)) > 0.25
    w = np.outer([1, 2, 1], [1, 3, 3, 1]) / 32.0
    got = convcli.convolve(
        x, w, channel_axis=-1, method=method, pad_mode=mode, normalized=True, mask=mask
    )
    assert got.dtype == np.float32 and got.shape == (9, 11, 3)
    for c in range(3):
        want = reference_normalized(x[..., c], w, mask, [1, 1], ["same"] * 2, [1, 1], mode)
        assert_same(got[..., c], want, atol=2e-5)


def test_a_constant_signal_stays_constant_at_the_borders():
    x = np.full((6, 7), 5.0)
    w = np.ones((3, 3))
    plain = convcli.convolve(x, w / 9)
    assert plain[0, 0] < 5  # zero padding darkens the corner
    np.testing.assert_allclose(convcli.convolve(x, w, normalized=True), 5.0)


def test_nan_holes_are_filled_and_empty_windows_are_nan():
    x = np.arange(10.0)
    x[3:7] = np.nan
    y = convcli.convolve(x, [1, 1, 1], normalized=True)
    np.testing.assert_allclose(y[[2, 3, 6, 7]], [1.5, 2.0, 7.0, 7.5])
    assert np.isnan(y[4]) and np.isnan(y[5])


def test_inf_is_a_value_not_a_missing_sample():
    y = convcli.convolve([1.0, np.inf, 3.0, 4.0, 5.0], [1, 1, 1], normalized=True)
    assert np.isinf(y[:3]).all() and y[4] == 4.5


def test_a_zero_mask_hides_inf_and_nan():
    x = np.array([1.0, np.inf, np.nan, 4.0])
    y = convcli.convolve(x, [1, 1, 1], normalized=True, mask=[1, 0, 1, 1])
    np.testing.assert_allclose(y, [1.0, 1.0, 4.0, 4.0])


def test_integer_input_gives_float32():
    y = convcli.convolve(
        np.arange(12, dtype=np.uint8).reshape(3, 4), np.ones((3, 3)), normalized=True
    )
    assert y.dtype == np.float32
    assert y[1, 1] == pytest.approx(5.0)


def test_the_threshold_is_relative_to_the_kernel_weight():
    w = np.array([1.0, 0.0, 1e-12])  # only the tiny tap sees the one valid sample
    x = np.array([np.nan, np.nan, 2.0])
    y = convcli.convolve(x, w, normalized=True, padding="valid", method="direct")
    assert np.isnan(y[0])  # 1e-12 <= 1e-10 * 1.0


@pytest.mark.parametrize("kernel", ["laplacian", "sobel"])
def test_zero_sum_kernels_are_refused(kernel):
    w = convcli.make_kernel(kernel, 2)
    with pytest.raises(ValueError, match="sums to"):
        convcli.convolve(np.ones((5, 5)), w, normalized=True)


def test_mixed_sign_kernels_follow_the_definition():
    w = convcli.make_kernel("sharpen", 2)  # sums to 1; centre 5, four -1
    x = np.random.default_rng(0).random((5, 5))
    y = convcli.convolve(x, w, normalized=True)
    want = reference_normalized(x, w, 1.0, [1, 1], ["same"] * 2, [1, 1], "zero")
    np.testing.assert_allclose(y, want)
    assert y[0, 0] == pytest.approx((5 * x[0, 0] - x[0, 1] - x[1, 0]) / 3)


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.ones((4, 4)), "shape"),
        (np.full((4, 5), 2.0), "between 0 and 1"),
        (np.full((4, 5), np.nan), "between 0 and 1"),
        (np.full((4, 5), "a"), "dtype"),
    ],
)
def test_bad_masks_are_refused(mask, message):
    with pytest.raises(ArgumentError, match=message):
        convcli.convolve(np.ones((4, 5)), np.ones((3, 3)), normalized=True, mask=mask)


def test_a_mask_without_normalized_is_refused():
    with pytest.raises(ArgumentError, match="normalized=True"):
        convcli.convolve(np.ones(4), [1, 1], mask=np.ones(4))


def test_default_behaviour_is_unchanged():
    x = np.random.default_rng(1).random((6, 6))
    w = np.random.default_rng(2).random((3, 3))
    np.testing.assert_array_equal(
        convcli.convolve(x, w), convcli.convolve(x, w, normalized=False, mask=None)
    )


ASTROPY_BOUNDARY = {
    "zero": ("fill", np.nan),
    "replicate": ("extend", 0.0),
    "circular": ("wrap", 0.0),
}


@pytest.mark.parametrize("mode", sorted(ASTROPY_BOUNDARY))
@pytest.mark.parametrize("ndim", [1, 2])
def test_astropy_interpolate_agrees(mode, ndim):
    astropy = pytest.importorskip("astropy.convolution")
    rng = np.random.default_rng(ndim)
    shape = (23,) if ndim == 1 else (13, 17)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.3] = np.nan
    w = rng.uniform(0.1, 1.0, (5,) * ndim)  # astropy wants odd sizes
    boundary, fill = ASTROPY_BOUNDARY[mode]
    want = astropy.convolve(
        x,
        w,
        boundary=boundary,
        fill_value=fill,
        nan_treatment="interpolate",
        normalize_kernel=True,
        preserve_nan=False,
    )
    got = convcli.convolve(x, w, pad_mode=mode, flip=True, normalized=True)  # astropy convolves
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
