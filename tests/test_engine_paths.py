"""Every code path of the engine against the float64 oracle (and scipy.ndimage, numpy).

The paths are forced by calling the engine's internals, and their chunk, block and product
sizes are shrunk so that small arrays cross every boundary (chunks, tiles, remainders,
threads).  Speed lives in ``benchmarks/``: nothing here is timed.
"""

from __future__ import annotations

import numpy as np
import pytest
from _reference import reference_correlate
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import ndimage

import convcli
from convcli.engine import _direct, _fft, _plan, _separable, _toeplitz, make_plan
from convcli.engine._direct import (
    border_boxes,
    correlate_unpadded,
    group_taps,
    int16_plan,
    interior,
)
from convcli.engine._separable import correlate_separable, factorize
from convcli.geometry import resolve
from convcli.padding import PAD_MODES, SCIPY_NAMES, pad_window

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
SETTINGS = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@pytest.fixture(autouse=True)
def tiny_sizes(monkeypatch):
    """Shrink every chunk/block/product size so small arrays cross every boundary."""
    monkeypatch.setattr(_direct, "CHUNK", 7)
    monkeypatch.setattr(_direct, "SMALL_ELEMENTS", 0)  # else small inputs are padded once
    monkeypatch.setattr(_direct, "BLOCK_ELEMENTS", 16)
    monkeypatch.setattr(_direct, "THREAD_MIN_ELEMENTS", 8)
    monkeypatch.setattr(_direct, "GEMM_MIN_ROWS", 1)
    monkeypatch.setattr(_direct, "GEMM_MAX_MNK", 24)
    monkeypatch.setattr(_direct, "GEMM_CHUNK", 64)
    monkeypatch.setattr(_direct, "TOEPLITZ_STAGE_MIN_TAPS", 2)
    monkeypatch.setattr(_direct, "TOEPLITZ_ROWS", 2)
    monkeypatch.setattr(_toeplitz, "TOEPLITZ_CHUNK", 40)
    monkeypatch.setattr(_fft, "TILE_BATCH_ELEMENTS", 64)


def tol(x, w, dtype=F32):
    scale = np.abs(w).sum() * max(float(np.abs(x).max()), 1.0) + 1.0
    return (2e-5 if dtype == F32 else 1e-11) * scale


def geometry_args(x, w, stride, padding, dilation, axes):
    """Per-axis pad_lo, stride, dilation and output shape (channel axes: 0, 1, 1, size)."""
    spatial = [x.shape[a] for a in axes]
    geo = resolve(spatial, w.shape, stride=stride, padding=padding, dilation=dilation)
    pad_lo = [0] * x.ndim
    st_ = [1] * x.ndim
    dl = [1] * x.ndim
    out = list(x.shape)
    for a, g in zip(axes, geo):
        pad_lo[a], st_[a], dl[a], out[a] = g.pad_lo, g.stride, g.dilation, g.output
    return pad_lo, st_, dl, out, geo


def full_kernel(w, ndim, axes):
    """The kernel with size-1 axes at the channel axes."""
    shape = [1] * ndim
    for a, n in zip(axes, w.shape):
        shape[a] = n
    return w.reshape(shape)


def oracle(x, w, stride, padding, dilation, mode, value, axes):
    """reference_correlate on each channel (the kernel gets size-1 channel axes)."""
    wk = full_kernel(w, x.ndim, axes)
    s = [1] * x.ndim
    d = [1] * x.ndim
    p: list = [(0, 0)] * x.ndim
    geo = resolve(
        [x.shape[a] for a in axes], w.shape, stride=stride, padding=padding, dilation=dilation
    )
    for a, g in zip(axes, geo):
        s[a], d[a], p[a] = g.stride, g.dilation, (g.pad_lo, g.pad_hi)
    return reference_correlate(x, wk, s, p, d, mode, value)


@st.composite
def problems(
    draw, ndim=None, min_size=1, max_size=12, max_k=4, channels=True, strides=True, flat=False
):
    nd = draw(st.integers(1, 3)) if ndim is None else ndim
    cap = {1: max_size * 3, 2: max_size, 3: max(4, max_size // 2)}[nd]
    spatial = [draw(st.integers(min_size, cap)) for _ in range(nd)]
    kshape = tuple(draw(st.integers(1, max_k)) for _ in range(nd))
    stride = [draw(st.integers(1, 3)) if strides else 1 for _ in range(nd)]
    dilation = [draw(st.integers(1, 2)) for _ in range(nd)]
    padding = draw(st.sampled_from(["same", "valid", "full", "pairs"]))
    if padding == "pairs":
        padding = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd)]
    if flat:  # stride 1, and pads that keep every size (the flat path's geometry)
        stride = [1] * nd
        pairs = []
        for k, d in zip(kshape, dilation):
            lo = draw(st.integers(0, d * (k - 1)))
            pairs.append((lo, d * (k - 1) - lo))
        padding = pairs
    mode = draw(st.sampled_from(PAD_MODES))
    shape = list(spatial)
    axes = list(range(nd))
    if channels and draw(st.booleans()):
        c = draw(st.integers(1, 3))
        where = draw(st.sampled_from([0, nd]))
        shape.insert(where, c)
        axes = [a for a in range(nd + 1) if a != where]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(shape)
    kind = draw(st.sampled_from(["random", "integer", "separable", "sparse"]))
    if kind == "random":
        w = rng.standard_normal(kshape)
    elif kind == "integer":
        w = rng.integers(-3, 4, kshape).astype(float)
    elif kind == "sparse":
        w = rng.standard_normal(kshape) * (rng.random(kshape) < 0.5)
    else:
        w = rng.standard_normal(kshape[0])
        for n in kshape[1:]:
            w = np.multiply.outer(w, rng.standard_normal(n))
    return x, w, stride, padding, dilation, mode, axes


def valid_geometry(x, w, stride, padding, dilation, axes):
    try:
        resolve(
            [x.shape[a] for a in axes], w.shape, stride=stride, padding=padding, dilation=dilation
        )
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- direct


@settings(max_examples=250, **SETTINGS)
@given(problems(), st.sampled_from([None, True, False]), st.sampled_from([F32, F64]))
def test_direct_every_variant_equals_the_oracle(problem, gemm, dtype):
    """Flat shift-add, matrix products (gemm), strided phases and views, all pad modes."""
    x, w, stride, padding, dilation, mode, axes = problem
    assume(valid_geometry(x, w, stride, padding, dilation, axes))
    pad_lo, st_, dl, out, _ = geometry_args(x, w, stride, padding, dilation, axes)
    got = correlate_unpadded(
        x.astype(dtype),
        full_kernel(w, x.ndim, axes),
        pad_lo,
        st_,
        dl,
        out,
        mode,
        0.25,
        dtype,
        gemm=gemm,
    )
    ref = oracle(x, w, stride, padding, dilation, mode, 0.25, axes)
    assert got.dtype == dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=tol(x, w, dtype), rtol=0)


@settings(max_examples=200, **SETTINGS)
@given(problems(flat=True, min_size=3), st.sampled_from([None, False]), st.sampled_from([F32, F64]))
def test_flat_path_and_matrix_products_equal_the_oracle(problem, gemm, dtype):
    """Stride 1, sizes kept: flat runs with wrapped-around borders recomputed apart."""
    x, w, stride, padding, dilation, mode, axes = problem
    assume(valid_geometry(x, w, stride, padding, dilation, axes))
    pad_lo, st_, dl, out, _ = geometry_args(x, w, stride, padding, dilation, axes)
    assert _direct.flat_ok(x.shape, out, st_)
    got = correlate_unpadded(
        x.astype(dtype),
        full_kernel(w, x.ndim, axes),
        pad_lo,
        st_,
        dl,
        out,
        mode,
        -1.0,
        dtype,
        gemm=gemm,
    )
    ref = oracle(x, w, stride, padding, dilation, mode, -1.0, axes)
    np.testing.assert_allclose(got, ref, atol=tol(x, w, dtype), rtol=0)
    factors = factorize(w)
    if factors is not None:
        got = correlate_separable(
            x.astype(dtype), factors, axes, pad_lo, st_, dl, out, mode, -1.0, dtype
        )
        np.testing.assert_allclose(got, ref, atol=tol(x, w, dtype) * 4, rtol=0)


@settings(max_examples=150, **SETTINGS)
@given(
    st.one_of(problems(), problems(flat=True, min_size=3)),
    st.sampled_from([np.uint8, np.int8, np.bool_]),
    st.booleans(),
)
def test_int16_path_equals_the_float_path_exactly(problem, itype, scaled):
    """8-bit input, integer kernel (or a scaled one): int16 sums, same numbers as float32."""
    x, w, stride, padding, dilation, mode, axes = problem
    assume(valid_geometry(x, w, stride, padding, dilation, axes))
    w = np.round(w * 2)
    assume(np.any(w != 0))
    if scaled:
        w = w / 8.0
    rng = np.random.default_rng(int(abs(x.ravel()[0]) * 1e6))
    info = {np.uint8: (0, 256), np.int8: (-128, 128), np.bool_: (0, 2)}[itype]
    xi = rng.integers(*info, x.shape).astype(itype)
    assume(int16_plan(xi.dtype, w) is not None)  # else the float path runs (sum too large)
    pad_lo, st_, dl, out, _ = geometry_args(xi, w, stride, padding, dilation, axes)
    args = (pad_lo, st_, dl, out, mode, 3.0, F32)
    got = correlate_unpadded(xi, full_kernel(w, x.ndim, axes), *args)
    flt = correlate_unpadded(xi.astype(np.float32), full_kernel(w, x.ndim, axes), *args)
    if scaled:  # one final scale instead of scaled taps: equal to float rounding
        np.testing.assert_allclose(got, flt, rtol=1e-6, atol=1e-4)
    else:
        np.testing.assert_array_equal(got, flt)
    ref = oracle(xi.astype(float), w, stride, padding, dilation, mode, 3.0, axes)
    np.testing.assert_allclose(got, ref, atol=tol(xi.astype(float), w), rtol=0)


def test_int16_plan_limits():
    u8 = np.dtype(np.uint8)
    assert int16_plan(u8, np.ones(128)) is not None  # 255 * 128 = 32640 < 32767
    assert int16_plan(u8, np.ones(129)) is None  # 32895 would overflow
    assert int16_plan(np.dtype(np.int8), np.ones(255)) is not None  # 128 * 255 = 32640
    assert int16_plan(np.dtype(np.uint16), np.ones(3)) is None
    assert int16_plan(np.dtype(np.float32), np.ones(3)) is None
    assert int16_plan(u8, np.array([0.5, 1 / np.pi])) is None  # no common unit
    assert int16_plan(u8, np.array([0.5, 0.3]))[0].tolist() == [5, 3]
    k, s = int16_plan(u8, np.array([1.0, 2.0, 1.0]) / 16)
    assert k.tolist() == [1, 2, 1] and s == 1 / 16
    # the largest sum: all 255 under an all-positive kernel at the int16 limit
    x = np.full((200,), 255, dtype=np.uint8)
    y = convcli.convolve(x, np.ones(128), padding="valid", method="direct")
    assert np.all(y == 255 * 128)
    y = convcli.convolve(x, -np.ones(128), padding="valid", method="direct")
    assert np.all(y == -255 * 128)


@settings(max_examples=100, **SETTINGS)
@given(problems(ndim=2, min_size=3, channels=True, strides=False))
def test_non_contiguous_inputs(problem):
    x, w, stride, padding, dilation, mode, axes = problem
    assume(valid_geometry(x, w, stride, padding, dilation, axes))
    xt = np.ascontiguousarray(x[::-1]).copy()[::-1]  # negative strides
    xf = np.asfortranarray(x)
    ref = oracle(x, w, stride, padding, dilation, mode, 0.0, axes)
    channel = None if len(axes) == x.ndim else next(a for a in range(x.ndim) if a not in axes)
    for arr in (xt, xf):
        got = convcli.convolve(
            arr,
            w,
            stride=stride,
            padding=padding,
            dilation=dilation,
            pad_mode=mode,
            method="direct",
            channel_axis=channel,
        )
        np.testing.assert_allclose(got, ref, atol=tol(x, w))


@settings(max_examples=150, **SETTINGS)
@given(problems(ndim=2, channels=False, min_size=2), st.sampled_from([F32, F64]))
def test_strided_matrix_products_equal_the_oracle(problem, dtype):
    """2-D strides and size changes: products over whole input rows, strided adds."""
    x, w, stride, padding, dilation, mode, axes = problem
    assume(valid_geometry(x, w, stride, padding, dilation, axes) and w.shape[0] > 1)
    pad_lo, st_, dl, out, _ = geometry_args(x, w, stride, padding, dilation, axes)
    got = correlate_unpadded(x.astype(dtype), w, pad_lo, st_, dl, out, mode, 0.5, dtype)
    ref = oracle(x, w, stride, padding, dilation, mode, 0.5, axes)
    np.testing.assert_allclose(got, ref, atol=tol(x, w, dtype), rtol=0)


def test_strided_matrix_products_with_offsets():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((37, 41))
    w = rng.standard_normal((3, 4))
    cases = (((1, 1), (2, 2), (1, 1)), ((2, 3), (3, 2), (2, 1)), ((0, 5), (1, 3), (1, 2)))
    for start, stride, dil in cases:
        rows = (37 - start[0] - dil[0] * 2 - 1) // stride[0] + 1
        cols = (41 - start[1] - dil[1] * 3 - 1) // stride[1] + 1
        out = np.empty((rows, cols))
        _direct.strided_gemm_2d(x, w, start, stride, dil, out)
        ref = reference_correlate(
            x[start[0] :, start[1] :], w, list(stride), [(0, 0), (0, 0)], list(dil)
        )
        np.testing.assert_allclose(out, ref[:rows, :cols], atol=1e-12)


def test_gemm_path_on_medium_images_crosses_chunks_and_remainders(monkeypatch):
    monkeypatch.undo()
    monkeypatch.setattr(_direct, "SMALL_ELEMENTS", 0)  # no single padded copy
    monkeypatch.setattr(_direct, "GEMM_CHUNK", 1 << 12)  # several chunks
    rng = np.random.default_rng(4)
    x = rng.standard_normal((93, 131)).astype(np.float32)
    for kshape in ((3, 3), (5, 7), (7, 1)):
        w = rng.standard_normal(kshape)
        w[0, :] = 0  # a zero row on the contracted axis
        for mode in PAD_MODES:
            got = convcli.convolve(x, w, pad_mode=mode, pad_value=1.5, method="direct")
            cval = 1.5 if mode == "constant" else 0.0
            ref = ndimage.correlate(x.astype(float), w, mode=SCIPY_NAMES[mode], cval=cval)
            np.testing.assert_allclose(got, ref, atol=tol(x, w))
    x = x[:24, :70]
    w = rng.standard_normal((4, 2))
    for mode in PAD_MODES:
        got = convcli.convolve(x, w, dilation=2, pad_mode=mode, method="direct")
        ref = reference_correlate(x, w, [1, 1], ["same", "same"], [2, 2], mode)
        np.testing.assert_allclose(got, ref, atol=tol(x, w))
    stage = _direct.gemm_stage((93, 131), rng.standard_normal((3, 5)), (1, 2), (1, 1))
    assert stage is not None and stage.weights.shape == (3, 5)


def test_zero_kernel_and_one_tap():
    x = np.arange(30.0).reshape(5, 6)
    assert np.all(convcli.convolve(x, np.zeros((3, 3)), method="direct") == 0)
    assert np.all(convcli.convolve(x, np.zeros((3, 3)), method="separable") == 0)
    np.testing.assert_array_equal(convcli.convolve(x, [[2.0]], method="direct"), 2 * x)
    np.testing.assert_array_equal(convcli.convolve(x, [[2.0]], method="separable"), 2 * x)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 8),
    st.integers(0, 8),
)
def test_interior_reads_only_inside(n, k, s, d, lo, hi):
    keff = d * (k - 1) + 1
    out = (n + lo + hi - keff) // s + 1
    assume(out >= 1)
    a, b = interior(n, k, s, d, lo, out)
    assert 0 <= a <= b <= out
    for o in range(out):
        inside = o * s - lo >= 0 and o * s - lo + keff - 1 <= n - 1
        assert inside == (a <= o < b)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=3), st.data())
def test_border_boxes_partition_the_outside(shape, data):
    inner = []
    for n in shape:
        a = data.draw(st.integers(0, n))
        inner.append((a, data.draw(st.integers(a, n))))
    count = np.zeros(shape, dtype=int)
    for box in border_boxes(shape, inner):
        count[tuple(slice(a, b) for a, b in box)] += 1
    inside = np.zeros(shape, dtype=bool)
    if all(b > a for a, b in inner):
        inside[tuple(slice(a, b) for a, b in inner)] = True
        assert np.all(count[~inside] == 1) and np.all(count[inside] == 0)


def test_group_taps_and_op_count_agree():
    k = np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    groups = group_taps(k)
    assert sorted(len(t) for _, t in groups) == [1, 4]
    assert _plan.ufunc_ops(k[k != 0].tolist()) == 5
    assert _plan.ufunc_ops([1.0] * 9) == 8


# --------------------------------------------------------------------------- separable


@settings(max_examples=200, **SETTINGS)
@given(
    st.one_of(problems(), problems(flat=True, min_size=3)),
    st.integers(1, 2),
    st.sampled_from([F32, F64]),
    st.sampled_from([2, 100]),
)
def test_separable_fused_passes_equal_the_oracle(problem, rank, dtype, toeplitz_from):
    """Flat fused passes (matrix-vector, Toeplitz and shift-add stages), rank 2, every mode."""
    _direct.TOEPLITZ_STAGE_MIN_TAPS = toeplitz_from  # restored by the fixture
    x, w, stride, padding, dilation, mode, axes = problem
    rng = np.random.default_rng(len(x.shape) * 7 + w.size)
    if w.ndim == 2 and rank == 2 and min(w.shape) > 2:
        w = np.outer(rng.standard_normal(w.shape[0]), rng.standard_normal(w.shape[1]))
        w = w + np.outer(rng.standard_normal(w.shape[0]), rng.standard_normal(w.shape[1]))
    factors = factorize(w)
    assume(factors is not None)
    assume(valid_geometry(x, w, stride, padding, dilation, axes))
    pad_lo, st_, dl, out, _ = geometry_args(x, w, stride, padding, dilation, axes)
    got = correlate_separable(
        x.astype(dtype), factors, axes, pad_lo, st_, dl, out, mode, -0.5, dtype
    )
    ref = oracle(x, w, stride, padding, dilation, mode, -0.5, axes)
    np.testing.assert_allclose(got, ref, atol=tol(x, w, dtype) * 4, rtol=0)


def test_separable_on_medium_images_matches_ndimage(monkeypatch):
    monkeypatch.undo()
    monkeypatch.setattr(_direct, "SMALL_ELEMENTS", 0)
    monkeypatch.setattr(_direct, "CHUNK", 1000)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((70, 97, 3))
    g = np.exp(-0.5 * ((np.arange(9) - 4) / 2.0) ** 2)
    w = np.outer(g[:5], np.exp(-0.5 * ((np.arange(15) - 7) / 3.0) ** 2))
    assert make_plan(x.shape, x.dtype, w, channel_axis=-1).method == "separable"
    for mode in PAD_MODES:
        got = convcli.convolve(
            x, w, pad_mode=mode, pad_value=2.0, channel_axis=-1, method="separable"
        )
        cval = 2.0 if mode == "constant" else 0.0
        ref = ndimage.correlate(x, w[:, :, None], mode=SCIPY_NAMES[mode], cval=cval)
        np.testing.assert_allclose(got, ref, atol=1e-9)


def test_separable_3d_and_exact_rank1_vectors():
    rng = np.random.default_rng(9)
    v = rng.standard_normal((9, 11, 13))
    w = np.multiply.outer(np.multiply.outer([1.0, 2, 1], [1.0, 0, -1]), [1.0, 4, 6, 4, 1])
    got = convcli.convolve(v, w, pad_mode="reflect", method="separable")
    ref = ndimage.correlate(v, w, mode="mirror")
    np.testing.assert_allclose(got, ref, atol=1e-10)
    f = _separable.factorize(np.ones((3, 3)))
    assert f is not None and all(np.array_equal(t, np.ones(3)) for t in f.terms[0])


# --------------------------------------------------------------------------- Toeplitz


@settings(max_examples=200, **SETTINGS)
@given(
    st.integers(1, 120),
    st.integers(1, 40),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from(["same", "valid", "full", "pairs"]),
    st.sampled_from(PAD_MODES),
    st.sampled_from([None, 4, 16, 32]),
    st.integers(0, 2),
    st.integers(0, 2**32 - 1),
)
def test_toeplitz_products_equal_the_oracle(n, taps, s, d, padding, mode, block, chans, seed):
    rng = np.random.default_rng(seed)
    if padding == "pairs":
        padding = [(int(rng.integers(0, 50)), int(rng.integers(0, 50)))]
    shape = (n,) if chans == 0 else ((n, chans) if chans == 1 else (chans, n))
    axis = 0 if chans < 2 else 1
    x = rng.standard_normal(shape)
    w = rng.standard_normal(taps)
    try:
        (g,) = resolve((n,), (taps,), stride=s, padding=padding, dilation=d)
    except ValueError:
        return
    got = _toeplitz.correlate_toeplitz(
        x, w, axis, g.pad_lo, s, d, g.output, mode, 0.5, F64, block=block
    )
    axes = [axis]
    ref = oracle(x, w, [s], padding, [d], mode, 0.5, axes)
    np.testing.assert_allclose(got, ref, atol=tol(x, w, F64))


def test_toeplitz_matrix_is_the_banded_kernel():
    t = _toeplitz.toeplitz_matrix(np.array([1.0, 2.0, 3.0]), 2, 2, 2)
    # K = (B-1)*s + (L-1)*d + 1 = 2 + 4 + 1 = 7; column c holds w at c*s + j*d
    assert t.shape == (7, 2)
    assert t[:, 0].tolist() == [1, 0, 2, 0, 3, 0, 0]
    assert t[:, 1].tolist() == [0, 0, 1, 0, 2, 0, 3]


def test_fir_plans_toeplitz_and_runs_it(monkeypatch):
    monkeypatch.undo()  # real sizes: the cost model counts chunks
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5000, 2)).astype(np.float32)
    h = rng.standard_normal(101)
    p = make_plan((26_460_000, 2), np.float32, h, channel_axis=1)
    assert p.method == "direct" and "Toeplitz" in p.describe()
    got = convcli.convolve(x, h, channel_axis=1, method="direct", padding="full")
    for c in range(2):
        ref = np.convolve(x[:, c].astype(float), h[::-1], mode="full")
        np.testing.assert_allclose(got[:, c], ref, atol=2e-4)


# --------------------------------------------------------------------------- FFT


@settings(max_examples=150, **SETTINGS)
@given(problems(ndim=None, max_size=14, max_k=5), st.sampled_from([8, 12, 16, 24]))
def test_fft_tiles_equal_the_oracle(problem, tile):
    x, w, stride, padding, dilation, mode, axes = problem
    assume(valid_geometry(x, w, stride, padding, dilation, axes))
    keff = [d * (k - 1) + 1 for d, k in zip(dilation, w.shape)]
    assume(all(tile > k for k in keff))
    pad_lo, st_, dl, out, _ = geometry_args(x, w, stride, padding, dilation, axes)
    got = _fft.correlate_tiles(
        x.astype(np.float64),
        full_kernel(w, x.ndim, axes),
        axes,
        pad_lo,
        st_,
        dl,
        out,
        mode,
        0.75,
        F64,
        tile,
    )
    ref = oracle(x, w, stride, padding, dilation, mode, 0.75, axes)
    np.testing.assert_allclose(got, ref, atol=tol(x, w, F64) * 100)


@settings(max_examples=150, **SETTINGS)
@given(problems(ndim=None, max_size=14, max_k=6), st.sampled_from([F32, F64]))
def test_fft_circular_exact_size_equals_the_oracle(problem, dtype):
    """circular pad mode at fast sizes: the input's own FFT size, kernel folded."""
    x, w, stride, padding, dilation, _, axes = problem
    assume(all(_fft.is_fast_length(x.shape[a]) for a in axes))
    assume(valid_geometry(x, w, stride, padding, dilation, axes))
    pad_lo, st_, dl, out, _ = geometry_args(x, w, stride, padding, dilation, axes)
    got = _fft.correlate_fft(
        x.astype(dtype),
        full_kernel(w, x.ndim, axes),
        axes,
        pad_lo,
        st_,
        dl,
        out,
        "circular",
        0.0,
        dtype,
    )
    ref = oracle(x, w, stride, padding, dilation, "circular", 0.0, axes)
    np.testing.assert_allclose(got, ref, atol=tol(x, w, dtype) * 10)


def test_circular_kernel_longer_than_the_signal_wraps():
    x = np.arange(8.0)
    w = np.arange(1.0, 12.0)  # 11 taps on 8 samples: taps fold modulo 8
    for padding in ("same", "full", [(3, 20)]):
        got = convcli.convolve(x, w, pad_mode="circular", padding=padding, method="fft")
        ref = reference_correlate(
            x, w, [1], [padding if isinstance(padding, str) else padding[0]], [1], "circular"
        )
        np.testing.assert_allclose(got, ref, atol=1e-9)


def test_fft_whole_and_ols_blocks():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3000, 2))
    h = rng.standard_normal(301)
    pad_lo, st_, dl, out, _ = geometry_args(x, h, [2], "same", [1], [0])
    for block in (512, 1024, 4096):
        got = _fft.correlate_tiles(
            x, h[:, None], (0,), pad_lo, st_, dl, out, "reflect", 0.0, F64, block
        )
        lo = pad_lo[0]
        xp = np.pad(x, [(lo, 301), (0, 0)], mode="reflect")
        for c in range(2):
            full = np.correlate(xp[:, c], h, mode="valid")
            np.testing.assert_allclose(got[:, c], full[: 2 * out[0] : 2], atol=1e-9)
    img = rng.standard_normal((40, 33))
    w = rng.standard_normal((7, 5))
    got = _fft.correlate_whole(
        img, w, (0, 1), [3, 2], [1, 1], [1, 1], img.shape, "symmetric", 0.0, F64
    )
    np.testing.assert_allclose(got, ndimage.correlate(img, w, mode="reflect"), atol=1e-9)


def test_ols_block_rule():
    assert _fft.ols_block(101) == 1024
    assert _fft.ols_block(301) == 1024
    assert _fft.ols_block(1001) == 8192
    assert _fft.ols_block(65537) == 131072
    assert _fft.ols_block(200_001) == 262144  # the kernel itself needs more than 2**17
    assert [n for n in range(1, 100) if _fft.is_fast_length(n)][:12] == [
        1,
        2,
        3,
        4,
        5,
        6,
        8,
        9,
        10,
        12,
        15,
        16,
    ]


def test_large_images_plan_tiles_and_match_ndimage(monkeypatch):
    monkeypatch.undo()  # real sizes: the cost model counts chunks
    rng = np.random.default_rng(14)
    p = make_plan((4096, 4096), np.float32, rng.standard_normal((31, 31)))
    assert p.method == "fft" and p.fft_block is not None
    p = make_plan((256, 256, 256), np.float32, rng.standard_normal((7, 7, 7)))
    assert p.method == "fft" and p.fft_block is not None
    x = rng.standard_normal((150, 170)).astype(np.float32)
    w = rng.standard_normal((9, 9))
    got = _fft.correlate_tiles(
        x, w, (0, 1), [4, 4], [1, 1], [1, 1], x.shape, "replicate", 0.0, F32, 32
    )
    np.testing.assert_allclose(
        got, ndimage.correlate(x.astype(float), w, mode="nearest"), atol=1e-3
    )


# --------------------------------------------------------------------------- planner, API


def test_every_auto_pick_runs_and_agrees():
    rng = np.random.default_rng(15)
    cases = [
        ((60, 70), rng.standard_normal((3, 3)), {}),
        ((60, 70, 3), np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]), {"channel_axis": -1}),
        ((61, 70), rng.standard_normal((3, 3)), {"stride": 2}),
        ((3000, 2), rng.standard_normal(33), {"channel_axis": 1}),
        ((20, 21, 22), rng.standard_normal((3, 3, 3)), {}),
    ]
    for shape, w, kw in cases:
        x = (rng.random(shape) * 255).astype(np.uint8)
        auto = convcli.convolve(x, w, **kw)
        for method in ("direct", "fft"):
            np.testing.assert_allclose(convcli.convolve(x, w, method=method, **kw), auto, atol=5e-3)


def test_nan_input_never_goes_to_fft_by_auto(monkeypatch):
    monkeypatch.undo()  # real sizes: the cost model counts chunks
    x = np.zeros((300, 300), dtype=np.float32)
    x[5, 5] = np.nan
    w = np.random.default_rng(0).random((31, 31))
    assert make_plan(x.shape, x.dtype, w).method == "fft"
    y = convcli.convolve(x, w)
    assert np.isnan(y[5, 5]) and np.isfinite(y[200, 200])
    x[5, 5] = np.inf
    assert np.isfinite(convcli.convolve(x, w)[200, 200])


def test_nan_stays_on_the_kernels_support_with_matrix_products(monkeypatch):
    monkeypatch.undo()
    x = np.zeros(20000, dtype=np.float32)
    x[10000] = np.nan
    h = np.ones(101)
    assert make_plan(x.shape, x.dtype, h).method == "direct"
    y = convcli.convolve(x, h, method="direct")
    assert np.isnan(y[9950:10051]).all() and np.isfinite(y[:9950]).all()
    assert np.isfinite(y[10051:]).all()
    img = np.zeros((400, 500), dtype=np.float32)
    img[200, 250] = np.inf
    w = np.array([[0.0, 1, 0], [1, 1, 1], [0, 1, 0]])
    y = convcli.convolve(img, w, method="direct")
    support = np.isinf(y)
    assert support.sum() == 5 and np.isfinite(y[~support]).all()


def test_costs_and_describe(monkeypatch):
    monkeypatch.undo()  # real sizes: the cost model counts chunks
    p = make_plan((4096, 4096, 3), np.uint8, [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], channel_axis=-1)
    assert p.method == "direct" and set(p.costs) == {"direct", "separable", "fft"}
    v = _plan.direct_variant(p.geometry, p.kernel, p.input_shape, p.spatial_axes, np.dtype("u1"))
    assert v == "int16"
    p = make_plan((2048, 2048), np.float32, np.ones((5, 5)), method="direct")
    assert "matrix products" in p.describe()


def test_engine_import_does_not_pull_scipy():
    import subprocess
    import sys

    code = "import sys, convcli.engine; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pad_window_into_out_and_crops():
    x = np.arange(12.0).reshape(3, 4)
    buf = np.empty((5, 2), dtype=np.float32)
    got = pad_window(x, [(-1, 4), (3, 5)], "symmetric", dtype=np.float32, out=buf)
    assert got is buf
    full = np.pad(x, [(1, 1), (0, 1)], mode="symmetric")
    np.testing.assert_array_equal(buf, full[:, 3:5])


@settings(max_examples=150, **SETTINGS)
@given(problems(ndim=2, channels=True, min_size=2), st.sampled_from([F32, F64]))
def test_column_phase_products_equal_the_oracle(problem, dtype):
    """Column strides, channels anywhere: the column phases' products, border included."""
    x, w, stride, padding, dilation, mode, axes = problem
    assume(valid_geometry(x, w, stride, padding, dilation, axes))
    pad_lo, st_, dl, out, _ = geometry_args(x, w, stride, padding, dilation, axes)
    got = correlate_unpadded(
        x.astype(dtype), full_kernel(w, x.ndim, axes), pad_lo, st_, dl, out, mode, 0.5, dtype
    )
    ref = oracle(x, w, stride, padding, dilation, mode, 0.5, axes)
    np.testing.assert_allclose(got, ref, atol=tol(x, w, dtype), rtol=0)


@pytest.mark.parametrize("mode", ["zero", "constant", "reflect", "circular"])
@pytest.mark.parametrize(
    "kshape, stride, dilation",
    [
        ((3, 3), (2, 2), (1, 1)),
        ((5, 4), (3, 2), (1, 3)),
        ((2, 3), (4, 3), (1, 1)),
        ((3, 5), (2, 3), (2, 2)),
        ((1, 6), (1, 2), (1, 1)),
    ],
)
def test_column_phases_rows_shared_or_not_and_runs_reused(
    monkeypatch, mode, kshape, stride, dilation
):
    """Rows shared between output rows (``d0 = 1``, ``s0 <= kh``) or copied per output row,
    kernel columns that reuse an earlier column's run, uint8 and RGB inputs, several blocks."""
    monkeypatch.setattr(_direct, "PHASED_ELEMENTS", 40)
    calls = []
    real = _direct.phased_products_2d
    monkeypatch.setattr(
        _direct, "phased_products_2d", lambda *a, **k: calls.append(k) or real(*a, **k)
    )
    rng = np.random.default_rng(5)
    for x in (
        rng.standard_normal((29, 37)).astype(np.float32),
        rng.integers(0, 256, (23, 31, 3), dtype=np.uint8),
    ):
        w = rng.standard_normal(kshape)
        ca = 2 if x.ndim == 3 else None
        got = convcli.convolve(
            x,
            w,
            stride=stride,
            dilation=dilation,
            pad_mode=mode,
            pad_value=0.25,
            channel_axis=ca,
            method="direct",
        )
        ref = convcli.convolve(
            x.astype(np.float64),
            w,
            stride=stride,
            dilation=dilation,
            pad_mode=mode,
            pad_value=0.25,
            channel_axis=ca,
            method="fft",
        )
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref, atol=tol(x, w), rtol=0)
    assert calls, "the column phases were not used"
    assert any("fill" in k and k["fill"] is not None for k in calls) == (
        mode in ("zero", "constant")
    )


def test_column_phases_without_fill_refuse_to_read_outside():
    x = np.ones((10, 12), dtype=np.float32)
    out = np.empty((5, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="outside the input"):
        _direct.phased_products_2d(x, np.ones((3, 3)), [0, 0], [2, 2], [1, 1], out)
    got = _direct.phased_products_2d(x, np.ones((3, 3)), [0, 0], [2, 2], [1, 1], out, fill=0.0)
    assert got[0, 0] == 9 and got[-1, -1] == 4  # the last row and column read one padded line


@pytest.mark.parametrize("mode", PAD_MODES)
@pytest.mark.parametrize("kshape, dilation", [((3, 3), (1, 1)), ((5, 2), (1, 2)), ((3, 4), (2, 1))])
def test_narrow_border_slabs_computed_transposed(monkeypatch, mode, kshape, dilation):
    """The tall, narrow column slabs of a stride-1 border are computed on their transpose."""
    monkeypatch.setattr(_direct, "NARROW_RATIO", 2)
    seen = []
    real = _direct.correlate_window
    monkeypatch.setattr(
        _direct,
        "correlate_window",
        lambda win, *a, **k: seen.append(win.shape) or real(win, *a, **k),
    )
    rng = np.random.default_rng(8)
    x = rng.standard_normal((61, 47)).astype(np.float32)
    w = rng.standard_normal(kshape)
    for gemm in (None, False):
        pad_lo, st_, dl, out, _ = geometry_args(x, w, 1, "same", dilation, (0, 1))
        got = correlate_unpadded(x, w, pad_lo, st_, dl, out, mode, 0.5, F32, gemm=gemm)
        ref = oracle(x, w, 1, "same", dilation, mode, 0.5, (0, 1))
        np.testing.assert_allclose(got, ref, atol=tol(x, w), rtol=0)
    # the column slabs (61 rows, a few columns) reached the flat path transposed: none is tall
    assert len(seen) >= 4 and all(a < b for a, b in seen), seen


def test_column_phases_only_up_to_a_size_with_two_workers(monkeypatch):
    """Beyond PHASED_MAX_OUTPUTS two workers run the products over every column instead."""
    from convcli.engine import threads

    monkeypatch.setattr(_direct, "PHASED_MAX_OUTPUTS", 100)
    shape, k = (40, 40), (3, 3)
    monkeypatch.setattr(threads, "WORKERS", 2)
    assert _direct.phased_ok(shape, k, (2, 2)) is False  # 400 outputs
    assert _direct.phased_ok((20, 20), k, (2, 2)) is True  # 100 outputs
    monkeypatch.setattr(threads, "WORKERS", 1)
    assert _direct.phased_ok(shape, k, (2, 2)) is True
    assert _direct.phased_ok(shape, k, (2, 1)) is False  # no column stride: every column read


def test_small_float64_strided_work_sums_taps_in_the_formulas_order(monkeypatch):
    """Small float64 work at a column stride stays tap by tap (no products): exact."""
    monkeypatch.undo()
    rng = np.random.default_rng(21)
    x = rng.standard_normal((12, 300))
    w = rng.standard_normal((3, 3))
    got = convcli.convolve(x, w, stride=2)  # same: pads 0 before, 1 after
    xp = np.pad(x, ((0, 1), (0, 1)))
    want = None
    for i in range(3):
        for j in range(3):
            term = xp[i : i + 11 : 2, j : j + 299 : 2] * w[i, j]
            want = term if want is None else want + term
    assert np.array_equal(got, want)
