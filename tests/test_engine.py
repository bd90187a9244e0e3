"""The engine against the float64 oracle, scipy.ndimage and numpy, over every method."""

from __future__ import annotations

import numpy as np
import pytest
from _reference import reference_correlate, reference_pads
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import ndimage

import convcli
from convcli.engine import make_plan
from convcli.errors import ArgumentError
from convcli.padding import PAD_MODES, SCIPY_NAMES

METHODS = ("direct", "separable", "fft")


def tolerance(x, w):
    return 2e-5 * (np.abs(w).sum() * max(np.abs(x).max(), 1.0) + 1.0)


@st.composite
def cases(draw, max_ndim=3):
    ndim = draw(st.integers(1, max_ndim))
    max_size = {1: 14, 2: 9, 3: 6}[ndim]
    shape = tuple(draw(st.integers(1, max_size)) for _ in range(ndim))
    kshape = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    stride = [draw(st.integers(1, 3)) for _ in range(ndim)]
    dilation = [draw(st.integers(1, 3)) for _ in range(ndim)]
    kind = draw(st.sampled_from(["same", "valid", "full", "int", "per-axis", "pairs"]))
    if kind in ("same", "valid", "full"):
        padding = kind
        ref_padding = [kind] * ndim
    elif kind == "int":
        p = draw(st.integers(0, 4))
        padding = p
        ref_padding = [(p, p)] * ndim
    elif kind == "per-axis":
        ps = [draw(st.integers(0, 4)) for _ in range(ndim)]
        padding = ps
        ref_padding = [(p, p) for p in ps]
    else:
        pairs = [(draw(st.integers(0, 4)), draw(st.integers(0, 4))) for _ in range(ndim)]
        padding = pairs
        ref_padding = pairs
    mode = draw(st.sampled_from(PAD_MODES))
    flip = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if draw(st.booleans()):  # a separable kernel: outer product of vectors
        w = rng.standard_normal(kshape[0])
        for n in kshape[1:]:
            w = np.multiply.outer(w, rng.standard_normal(n))
    else:
        w = rng.standard_normal(kshape)
    return x, w, stride, dilation, padding, ref_padding, mode, flip


def _valid(x, w, stride, dilation, ref_padding):
    for i, k, s, d, p in zip(x.shape, w.shape, stride, dilation, ref_padding):
        lo, hi = reference_pads(i, k, s, d, p)
        if i + lo + hi < d * (k - 1) + 1:
            return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(METHODS), st.sampled_from([np.float32, np.float64]))
def test_every_method_equals_the_reference(case, method, dtype):
    x, w, stride, dilation, padding, ref_padding, mode, flip = case
    kwargs = dict(
        stride=stride, padding=padding, dilation=dilation, pad_mode=mode, pad_value=0.75, flip=flip
    )
    if not _valid(x, w, stride, dilation, ref_padding):
        with pytest.raises(ValueError, match="no output sample"):
            convcli.convolve(x.astype(dtype), w, method=method, **kwargs)
        return
    if method == "separable":
        from convcli.engine._separable import factorize

        assume(factorize(w[(slice(None, None, -1),) * w.ndim] if flip else w) is not None)
    ref = reference_correlate(x, w, stride, ref_padding, dilation, mode, 0.75, flip)
    got = convcli.convolve(x.astype(dtype), w, method=method, **kwargs)
    assert got.dtype == dtype
    assert got.shape == ref.shape
    assert got.shape == convcli.output_shape(
        x.shape, w.shape, stride=stride, padding=padding, dilation=dilation
    )
    tol = tolerance(x, w) * (1e-6 if dtype == np.float64 else 1.0)
    np.testing.assert_allclose(got, ref, atol=tol, rtol=0)


@settings(max_examples=60, deadline=None)
@given(cases(max_ndim=2), st.sampled_from(METHODS + ("auto",)), st.integers(1, 3), st.booleans())
def test_channel_axis_applies_the_kernel_to_each_channel(case, method, channels, last):
    x, w, stride, dilation, padding, ref_padding, mode, flip = case
    assume(_valid(x, w, stride, dilation, ref_padding))
    if method == "separable":
        from convcli.engine._separable import factorize

        assume(factorize(w) is not None)
    xs = np.stack([x * (c + 1) for c in range(channels)], axis=-1 if last else 0)
    axis = -1 if last else 0
    got = convcli.convolve(
        xs,
        w,
        stride=stride,
        padding=padding,
        dilation=dilation,
        pad_mode=mode,
        flip=flip,
        method=method,
        channel_axis=axis,
    )
    for c in range(channels):
        ref = reference_correlate(x * (c + 1), w, stride, ref_padding, dilation, mode, 0.0, flip)
        plane = got[..., c] if last else got[c]
        np.testing.assert_allclose(plane, ref, atol=tolerance(x * (c + 1), w))


@pytest.mark.parametrize("mode", PAD_MODES)
@pytest.mark.parametrize("method", ["auto", *METHODS])
@pytest.mark.parametrize(
    "shape,kshape", [((64, 75), (5, 5)), ((20, 17, 11), (3, 3, 3)), ((301,), (7,))]
)
def test_scipy_ndimage_is_a_second_oracle(mode, method, shape, kshape):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape)
    vecs = [rng.standard_normal(k) for k in kshape]
    w = vecs[0]
    for v in vecs[1:]:
        w = np.multiply.outer(w, v)
    kw = dict(mode=SCIPY_NAMES[mode], cval=0.5 if mode == "constant" else 0.0)
    for flip, oracle in ((False, ndimage.correlate), (True, ndimage.convolve)):
        ref = oracle(x, w, **kw)
        got = convcli.convolve(x, w, pad_mode=mode, pad_value=0.5, flip=flip, method=method)
        np.testing.assert_allclose(got, ref, atol=1e-9)


@pytest.mark.parametrize("n,k", [(1, 1), (10, 3), (10, 4), (7, 7), (3, 8), (50, 6)])
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("method", METHODS)
def test_numpy_convolve_and_correlate_are_oracles(n, k, mode, method):
    rng = np.random.default_rng(n * 100 + k)
    x, w = rng.standard_normal(n), rng.standard_normal(k)
    if k > n and mode != "full":
        return  # numpy's 'valid'/'same' swap or lengthen there
    padding = mode
    if mode == "same" and k % 2 == 0:
        # numpy.convolve's 'same' centres on index (k-1)//2 of the flipped kernel: p_lo = k//2
        padding = [(k // 2, k - 1 - k // 2)]
    got = convcli.convolve(x, w, flip=True, padding=padding, method=method)
    np.testing.assert_allclose(got, np.convolve(x, w, mode=mode), atol=1e-12)
    if mode == "valid":
        got = convcli.convolve(x, w, padding="valid", method=method)
        np.testing.assert_allclose(got, np.correlate(x, w, mode="valid"), atol=1e-12)


@pytest.mark.parametrize(
    "i,k,s,p,d,o",
    [
        (4, 3, 1, 0, 1, 2),
        (5, 4, 1, 2, 1, 6),
        (5, 3, 1, 1, 1, 5),
        (5, 3, 1, 2, 1, 7),
        (5, 3, 2, 0, 1, 2),
        (5, 3, 2, 1, 1, 3),
        (6, 3, 2, 1, 1, 3),
        (7, 3, 1, 0, 2, 3),
    ],
)
def test_conv_arithmetic_golden_geometries(i, k, s, p, d, o):
    assert convcli.output_shape((i, i), (k, k), stride=s, padding=p, dilation=d) == (o, o)
    x = np.arange(i * i, dtype=np.float64).reshape(i, i)
    y = convcli.convolve(x, np.ones((k, k)), stride=s, padding=p, dilation=d)
    assert y.shape == (o, o)
    np.testing.assert_allclose(
        y, reference_correlate(x, np.ones((k, k)), [s, s], [(p, p)] * 2, [d, d])
    )


@settings(max_examples=100, deadline=None)
@given(cases(max_ndim=3))
def test_impulse_returns_the_kernel(case):
    _, w, *_ = case
    shape = tuple(3 * n for n in w.shape)
    x = np.zeros(shape)
    centre = tuple(n // 2 for n in shape)
    x[centre] = 1.0
    for method in ("direct", "fft"):
        y = convcli.convolve(x, w, flip=True, padding="full", method=method)
        sl = tuple(slice(c, c + n) for c, n in zip(centre, w.shape))
        np.testing.assert_allclose(y[sl], w, atol=1e-12)
        y = convcli.convolve(x, w, padding="full", method=method)
        np.testing.assert_allclose(y[sl], w[(slice(None, None, -1),) * w.ndim], atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=3), st.data())
def test_same_with_stride_one_keeps_the_size(shape, data):
    kshape = [data.draw(st.integers(1, 6)) for _ in shape]
    dil = [data.draw(st.integers(1, 3)) for _ in shape]
    assert convcli.output_shape(shape, kshape, padding="same", dilation=dil) == tuple(shape)
    strides = [data.draw(st.integers(1, 4)) for _ in shape]
    assert convcli.output_shape(shape, kshape, stride=strides) == tuple(
        -(-n // s) for n, s in zip(shape, strides)
    )


def test_large_inputs_cross_blocks_and_threads():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((700, 913)).astype(np.float32)
    w = rng.standard_normal((3, 5))
    ref = ndimage.correlate(x.astype(np.float64), w, mode="mirror")
    for method in ("direct", "fft", "auto"):
        got = convcli.convolve(x, w, pad_mode="reflect", method=method)
        np.testing.assert_allclose(got, ref, atol=1e-4)
    g = np.outer([1, 4, 6, 4, 1], [1, 2, 1]) / 64.0
    for method in ("separable", "direct"):
        # explicit centred pads: with a stride, TF's "same" rule pads less than at stride 1
        got = convcli.convolve(
            x, g, stride=(2, 3), padding=[2, 1], pad_mode="symmetric", method=method
        )
        ref = ndimage.correlate(x.astype(np.float64), g, mode="reflect")
        np.testing.assert_allclose(got, ref[::2, ::3], atol=1e-5)


@pytest.mark.parametrize("stride,flip", [(1, False), (3, True)])
def test_long_1d_goes_by_overlap_save(stride, flip):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((40000, 2)).astype(np.float32)
    w = rng.standard_normal(301)
    plan = make_plan(
        x.shape, x.dtype, w, method="fft", channel_axis=1, stride=stride, padding="full"
    )
    assert plan.fft_block == 1024
    got = convcli.convolve(
        x, w, method="fft", channel_axis=1, stride=stride, padding="full", flip=flip
    )
    for c in range(2):
        full = np.convolve(x[:, c].astype(np.float64), w if flip else w[::-1], mode="full")
        np.testing.assert_allclose(got[:, c], full[::stride], atol=2e-4)
    direct = convcli.convolve(
        x, w, method="direct", channel_axis=1, stride=stride, padding="full", flip=flip
    )
    np.testing.assert_allclose(got, direct, atol=2e-4)


def test_four_axes():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 5, 3, 6))
    w = rng.standard_normal((2, 3, 1, 2))
    ref = reference_correlate(x, w, [1, 2, 1, 1], ["same"] * 4, [1, 1, 1, 2], "reflect")
    for method in ("direct", "fft"):
        got = convcli.convolve(
            x, w, stride=[1, 2, 1, 1], dilation=[1, 1, 1, 2], pad_mode="reflect", method=method
        )
        np.testing.assert_allclose(got, ref, atol=1e-10)


def test_integers_never_wrap():
    x = np.full((5, 5), 255, dtype=np.uint8)
    y = convcli.convolve(x, np.ones((3, 3)), pad_mode="replicate")
    assert y.dtype == np.float32
    assert np.all(y == 2295)
    y = convcli.convolve(np.array([30000, 30000], dtype=np.int16), [1, 1], padding="valid")
    assert y[0] == 60000


SOBEL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
PREWITT = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])


def exact_correlate(x: np.ndarray, w: np.ndarray, mode: str) -> np.ndarray:
    """Correlation in Python integers ('same', odd kernel): exact whatever the magnitudes."""
    r = w.shape[0] // 2
    xp = np.pad(x.astype(object), r, mode=mode)
    out = np.zeros(x.shape, dtype=object)
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            out += int(w[i, j]) * xp[i : i + x.shape[0], j : j + x.shape[1]]
    return out


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int64, np.uint64])
@pytest.mark.parametrize("name", ["sobel", "prewitt"])
@pytest.mark.parametrize("method", ["auto", "direct", "separable"])
def test_integers_wider_than_16_bits_are_computed_in_float64(dtype, name, method):
    # scipy.ndimage's sobel/prewitt tests on uint32 and uint64, with values that float32
    # cannot hold: above 2**24 the float32 sums were off by up to hundreds.
    w = {"sobel": SOBEL, "prewitt": PREWITT}[name]  # scipy's filter along axis 1 (columns)
    info = np.iinfo(dtype)
    top = min(int(info.max), 2**46)  # sums stay below 2**53: exact in float64
    rng = np.random.default_rng(7)
    x = rng.integers(max(int(info.min), -top), top, size=(9, 11), dtype=dtype, endpoint=True)
    got = convcli.convolve(x, w, pad_mode="reflect", method=method)
    assert got.dtype == np.float64
    assert got.tolist() == exact_correlate(x, w, "reflect").tolist()
    ours = convcli.convolve(x, w, pad_mode="symmetric", method=method)
    theirs = getattr(ndimage, name)(x.astype(np.float64), axis=1)  # correlate1d, mode reflect
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("bool", "float32"),
        ("uint8", "float32"),
        ("int16", "float32"),
        ("uint16", "float32"),
        ("float16", "float32"),
        ("float32", "float32"),
        ("int32", "float64"),
        ("uint32", "float64"),
        ("int64", "float64"),
        ("uint64", "float64"),
        ("float64", "float64"),
    ],
)
def test_arithmetic_dtype_follows_what_float32_holds_exactly(dtype, expected):
    assert convcli.convolve(np.ones(4, dtype=dtype), [1, 1]).dtype == np.dtype(expected)
    assert convcli.engine.compute_dtype(np.dtype(dtype)) == np.dtype(expected)


def test_auto_avoids_fft_on_nan_and_direct_keeps_nan_local():
    x = np.zeros((40, 40))
    x[5, 5] = np.nan
    w = np.random.default_rng(0).random((21, 21))
    assert make_plan(x.shape, x.dtype, w).method == "fft"
    y = convcli.convolve(x, w)
    assert np.isnan(y[5, 5]) and np.isfinite(y[35, 35])


def test_planner_choices():
    g15 = np.outer(np.hanning(17)[1:-1], np.hanning(17)[1:-1])
    # a 3x3 box: direct and two 1-D passes cost the same (measured within noise)
    assert make_plan((4096, 4096), np.float32, np.ones((3, 3))).method in ("direct", "separable")
    assert make_plan((4096, 4096), np.float32, g15).method == "separable"
    assert (
        make_plan((4096, 4096), np.float32, np.random.default_rng(0).random((31, 31))).method
        == "fft"
    )
    assert make_plan((26_000_000,), np.float32, np.ones(101)).method in ("direct", "fft")
    p = make_plan((26_000_000, 2), np.float32, np.ones(65537), channel_axis=1)
    assert p.method == "fft" and p.fft_block == 131072
    assert "method" in p.describe()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(stride=0), "stride must be >= 1"),
        (dict(dilation=0), "dilation must be >= 1"),
        (dict(stride=(1, 2, 3)), "stride has 3 values"),
        (dict(dilation=[1, 1, 1]), "dilation has 3 values"),
        (dict(padding="bogus"), "padding 'bogus' is not one of"),
        (dict(padding=[1, 2, 3]), "padding has 3 entries"),
        (dict(padding=-1), "padding must be >= 0"),
        (dict(pad_mode="bogus"), "pad_mode 'bogus' is not one of zero, constant, reflect"),
        (dict(pad_mode="mirror"), "'reflect'.*'symmetric'"),
        (dict(method="magic"), "method 'magic' is not one of"),
        (dict(padding="valid", dilation=5), "no output sample"),
        (dict(channel_axis=5), "channel_axis 5 is out of range"),
        (dict(pad_value="x"), "pad_value must be a number"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        convcli.convolve(np.zeros((6, 6)), np.ones((3, 3)), **kwargs)


def test_bad_kernels_and_inputs():
    with pytest.raises(ValueError, match="kernel has 3 axes"):
        convcli.convolve(np.zeros((6, 6)), np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="say which with channel_axis"):
        convcli.convolve(np.zeros((6, 6, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="NaN or Inf"):
        convcli.convolve(np.zeros(6), [1.0, np.nan])
    with pytest.raises(ValueError, match="empty"):
        convcli.convolve(np.zeros(6), [])
    with pytest.raises(ValueError, match="complex"):
        convcli.convolve(np.zeros(6, complex), [1.0])
    with pytest.raises(ValueError, match="rank 3"):
        convcli.convolve(np.zeros((6, 6)), np.eye(3), method="separable")
    with pytest.raises(ValueError, match="not an outer product"):
        convcli.convolve(
            np.zeros((6, 6, 6)), np.random.default_rng(0).random((3, 3, 3)), method="separable"
        )
    assert issubclass(ArgumentError, ValueError)


def test_low_rank_separable_matches_direct():
    lap = np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    x = np.random.default_rng(2).standard_normal((30, 40))
    plan = make_plan(x.shape, x.dtype, lap, method="separable")
    assert plan.rank == 2
    np.testing.assert_allclose(
        convcli.convolve(x, lap, method="separable"),
        convcli.convolve(x, lap, method="direct"),
        atol=1e-12,
    )
