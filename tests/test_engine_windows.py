"""Padded windows run by flat passes: the small stride-1 path and the stacked border slabs.

A small output pads its input once and runs one flat pass over the padded window
(``_small_stride1``); a large one computes its border from one window per axis, the slabs
before and after the interior stacked (``border_windows``).  Both against the float64 oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
from _reference import reference_correlate
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convcli.engine import _direct
from convcli.engine._direct import correlate_unpadded, int16_plan
from convcli.geometry import resolve
from convcli.padding import PAD_MODES

SETTINGS = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@st.composite
def stride1_problems(draw, max_size=10):
    nd = draw(st.integers(1, 3))
    cap = {1: 3 * max_size, 2: max_size, 3: max(4, max_size // 2)}[nd]
    shape = [draw(st.integers(1, cap)) for _ in range(nd)]
    kshape = [draw(st.integers(1, 4)) for _ in range(nd)]
    dilation = [draw(st.integers(1, 2)) for _ in range(nd)]
    padding = draw(st.sampled_from(["same", "valid", "full", "pairs"]))
    if padding == "pairs":
        padding = [(draw(st.integers(0, 4)), draw(st.integers(0, 4))) for _ in range(nd)]
    mode = draw(st.sampled_from(PAD_MODES))
    axes = list(range(nd))
    if draw(st.booleans()):  # a channel axis, first or last
        where = draw(st.sampled_from([0, nd]))
        shape.insert(where, draw(st.integers(1, 3)))
        axes = [a for a in range(nd + 1) if a != where]
    seed = draw(st.integers(0, 2**32 - 1))
    return shape, kshape, dilation, padding, mode, axes, seed


def _run(shape, kshape, dilation, padding, mode, axes, seed, dtype, value, integer=False):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "ub":
        x = rng.integers(0, 256 if dtype == np.uint8 else 2, shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    w = rng.integers(-3, 4, kshape).astype(float) if integer else rng.standard_normal(kshape)
    try:
        geo = resolve([x.shape[a] for a in axes], kshape, padding=padding, dilation=dilation)
    except ValueError:
        return None
    nd = x.ndim
    k = w.reshape([kshape[axes.index(a)] if a in axes else 1 for a in range(nd)])
    pad_lo, dl, out = [0] * nd, [1] * nd, list(x.shape)
    pads: list = [(0, 0)] * nd
    for a, g in zip(axes, geo):
        pad_lo[a], dl[a], out[a], pads[a] = g.pad_lo, g.dilation, g.output, (g.pad_lo, g.pad_hi)
    cdt = np.dtype(np.float64 if dtype == np.float64 else np.float32)
    got = correlate_unpadded(x, k, pad_lo, [1] * nd, dl, out, mode, value, cdt)
    ref = reference_correlate(x.astype(float), k, [1] * nd, pads, dl, mode, value)
    scale = np.abs(w).sum() * max(float(np.abs(x.astype(float)).max()), 1.0) + 1.0
    return got, ref, (2e-5 if cdt == np.float32 else 1e-11) * scale, x, k


@settings(max_examples=300, **SETTINGS)
@given(stride1_problems(), st.sampled_from([np.float32, np.float64, np.uint8, np.bool_]))
def test_small_stride1_path_equals_the_oracle(problem, dtype):
    """The whole output from one padded window (8-bit input: int16 sums, where they fit)."""
    value = 3.0 if dtype != np.float32 else 0.75  # integral: an 8-bit window keeps its type
    res = _run(*problem, dtype, value, integer=dtype in (np.uint8, np.bool_))
    assume(res is not None)
    got, ref, tol, _, _ = res
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=tol, rtol=0)


@settings(max_examples=100, **SETTINGS)
@given(stride1_problems())
def test_small_uint8_with_a_fractional_fill_sums_in_float(problem):
    res = _run(*problem, np.uint8, 0.5, integer=True)
    assume(res is not None)
    got, ref, tol, _, _ = res
    np.testing.assert_allclose(got, ref, atol=tol, rtol=0)


@settings(max_examples=300, **SETTINGS)
@given(stride1_problems(max_size=16), st.sampled_from([np.float32, np.float64, np.uint8]))
def test_border_windows_equal_the_oracle(problem, dtype):
    """Interior in place, border slabs from stacked windows; small chunks cross everything."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(_direct, "SMALL_ELEMENTS", 0)
        mp.setattr(_direct, "CHUNK", 5)
        mp.setattr(_direct, "GEMM_MIN_ROWS", 1)
        mp.setattr(_direct, "GEMM_MAX_MNK", 24)
        mp.setattr(_direct, "THREAD_MIN_ELEMENTS", 8)
        res = _run(*problem, dtype, -1.25, integer=dtype == np.uint8)
    finally:
        mp.undo()
    assume(res is not None)
    got, ref, tol, _, _ = res
    np.testing.assert_allclose(got, ref, atol=tol, rtol=0)


def test_small_float64_work_is_exact():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, 11, 5))
    w = rng.standard_normal((3, 2, 2))
    for mode in PAD_MODES:
        got = correlate_unpadded(x, w, [1, 0, 1], [1] * 3, [1] * 3, x.shape, mode, 0.5, np.float64)
        pads = [(1, 1), (0, 1), (1, 0)]
        ref = reference_correlate(x, w, [1] * 3, pads, [1] * 3, mode, 0.5)
        np.testing.assert_array_equal(got, ref)


def test_uint8_small_path_uses_int16_sums():
    x = np.full((40, 40), 255, dtype=np.uint8)
    w = np.ones((11, 11))
    assert int16_plan(x.dtype, w) is not None
    got = correlate_unpadded(x, w, [0, 0], [1, 1], [1, 1], [30, 30], "zero", 0.0, np.float32)
    assert np.all(got == 255 * 121)
