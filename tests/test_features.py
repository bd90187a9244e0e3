"""The feature-map library: banks, layer weights, activation, pooling, display and montage.

The oracle is tests/_reference.py (SPEC's formula, tap by tap, in float64), applied per map
and per channel and summed; ``(F, C, *k)`` weights are also checked against an einsum over
patches built with numpy.pad, and pooling against plain loops over the windows.
"""

from __future__ import annotations

import itertools
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _reference import NUMPY_MODE, reference_correlate, reference_pads
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convcli
from convcli.errors import ArgumentError, KernelSpecError, SignalReadError
from convcli.features import (
    DIVERGING,
    _bank,
    activate,
    check_weights,
    correlate_bank,
    display,
    display_range,
    diverging_lut,
    draw_montage,
    feature_maps,
    layout_montage,
    load_weights,
    parse_pool,
    plan_bank,
    pool,
    pool_output_size,
    stack_kernels,
    to_rgb,
)
from convcli.kernels import BANKS, get_bank, list_banks, make_bank, make_kernel, parse_bank

MODES = ("zero", "constant", "reflect", "symmetric", "replicate", "circular")
PAD_VALUE = 0.75


# ------------------------------------------------------------------------------ oracles


def reference_pool(maps: np.ndarray, mode: str, size: int, stride: int) -> np.ndarray:
    """Pool with a loop over every window (o = floor((i - k) / s) + 1 per axis)."""
    spatial = maps.shape[1:]
    outs = [(n - size) // stride + 1 for n in spatial]
    result = np.zeros((maps.shape[0], *outs))
    for f in range(maps.shape[0]):
        for o in itertools.product(*(range(n) for n in outs)):
            window = maps[(f, *(slice(i * stride, i * stride + size) for i in o))]
            result[(f, *o)] = window.max() if mode == "max" else window.mean()
    return result


def reference_activation(y: np.ndarray, name: str) -> np.ndarray:
    return {
        "none": lambda v: v,
        "relu": lambda v: np.maximum(v, 0),
        "abs": np.abs,
        "tanh": np.tanh,
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    }[name](y)


def reference_layer(x, weights, *, shared, stride, padding, dilation, pad_mode, bias):
    """Per map, per channel, summed: x is (C, *spatial) float64."""
    nd = x.ndim - 1
    maps = []
    for f in range(weights.shape[0]):
        acc = 0.0
        for c in range(x.shape[0]):
            k = weights[f] if shared else weights[f, c]
            acc = acc + reference_correlate(
                x[c], k, [stride] * nd, [padding] * nd, [dilation] * nd, pad_mode, PAD_VALUE
            )
        maps.append(acc + (0.0 if bias is None else bias[f]))
    return np.array(maps)


def einsum_layer(x, weights, *, stride, pads, dilation, pad_mode):
    """(F, C, *k) weights by an einsum over patches: an independent construction."""
    nd = x.ndim - 1
    kw = {"constant_values": PAD_VALUE} if pad_mode == "constant" else {}
    xp = np.pad(x, [(0, 0)] + list(pads), mode=NUMPY_MODE[pad_mode], **kw)
    k = weights.shape[2:]
    keff = [dilation * (n - 1) + 1 for n in k]
    win = np.lib.stride_tricks.sliding_window_view(xp, keff, axis=tuple(range(1, nd + 1)))
    win = win[
        (slice(None),) + (slice(None, None, stride),) * nd + (slice(None, None, dilation),) * nd
    ]
    letters = "abc"[:nd]
    spec = f"c{''.join(letters.upper())}{letters},fc{letters}->f{letters.upper()}"
    return np.einsum(spec, win, weights)


# ---------------------------------------------------------------- maps against the oracle

SHAPES = {1: st.integers(4, 19), 2: st.integers(3, 9), 3: st.integers(3, 6)}


@st.composite
def layer_cases(draw):
    nd = draw(st.sampled_from([1, 2, 3]))
    shape = tuple(draw(SHAPES[nd]) for _ in range(nd))
    channels = draw(st.sampled_from([None, 1, 2, 3]))
    shared = draw(st.booleans())
    nmaps = draw(st.integers(1, 4))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", "valid", "full", 1]))
    pad_mode = draw(st.sampled_from(MODES))
    method = draw(st.sampled_from(["auto", "direct", "fft"]))
    use_bias = draw(st.booleans())
    activation = draw(st.sampled_from(["none", "relu", "abs", "tanh", "sigmoid"]))
    pooling = draw(st.sampled_from([None, ("max", 2, 2), ("avg", 2, 2), ("max", 3, 1)]))
    seed = draw(st.integers(0, 2**16))
    return (
        nd,
        shape,
        channels,
        shared,
        nmaps,
        k,
        stride,
        dilation,
        padding,
        pad_mode,
        method,
        use_bias,
        activation,
        pooling,
        seed,
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer_cases())
def test_maps_equal_the_reference(case):
    (
        nd,
        shape,
        channels,
        shared,
        nmaps,
        k,
        stride,
        dilation,
        padding,
        pad_mode,
        method,
        use_bias,
        activation,
        pooling,
        seed,
    ) = case
    rng = np.random.default_rng(seed)
    c = channels or 1
    x = rng.standard_normal((c, *shape))
    weights = rng.standard_normal((nmaps, *k) if shared else (nmaps, c, *k))
    bias = rng.standard_normal(nmaps) if use_bias else None
    keff = [dilation * (n - 1) + 1 for n in k]
    pads = padding if isinstance(padding, str) else (padding, padding)
    # no output sample is an error (tested elsewhere), not a case for the oracle
    assume(not (padding == "valid" and any(n < e for n, e in zip(shape, keff))))
    assume(not (padding == 1 and any(n + 2 < e for n, e in zip(shape, keff))))
    data = x[0] if channels is None else np.moveaxis(x, 0, -1)
    ref = reference_layer(
        x,
        weights,
        shared=shared,
        stride=stride,
        padding=pads,
        dilation=dilation,
        pad_mode=pad_mode,
        bias=bias,
    )
    ref = reference_activation(ref, activation)
    if pooling is not None:
        mode, size, pool_stride = pooling
        assume(all(n >= size for n in ref.shape[1:]))
        ref = reference_pool(ref, mode, size, pool_stride)
    got = feature_maps(
        data,
        weights,
        bias=bias,
        activation=activation,
        pool=None if pooling is None else f"{pooling[0]}:{pooling[1]}:{pooling[2]}",
        stride=stride,
        padding=padding,
        dilation=dilation,
        pad_mode=pad_mode,
        pad_value=PAD_VALUE,
        channel_axis=None if channels is None else -1,
        method=method,
    )
    assert got.dtype == np.float64
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("pad_mode", MODES)
def test_full_weights_equal_an_einsum_over_patches(method, pad_mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 17, 14))  # (C, rows, cols)
    weights = rng.standard_normal((5, 3, 3, 4))
    for stride, dilation, padding in ((1, 1, "same"), (2, 1, "valid"), (3, 2, "full")):
        got = correlate_bank(
            np.moveaxis(x, 0, -1),
            weights,
            stride=stride,
            dilation=dilation,
            padding=padding,
            pad_mode=pad_mode,
            pad_value=PAD_VALUE,
            channel_axis=-1,
            method=method,
        )
        pads = [
            reference_pads(n, kk, stride, dilation, padding)
            for n, kk in zip(x.shape[1:], weights.shape[2:])
        ]
        ref = einsum_layer(
            x, weights, stride=stride, pads=pads, dilation=dilation, pad_mode=pad_mode
        )
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_float32_and_integer_inputs_compute_in_float32():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    weights = rng.standard_normal((4, 3, 3, 3))
    got = correlate_bank(x, weights, channel_axis=-1, pad_mode="reflect")
    ref = einsum_layer(
        np.moveaxis(x, -1, 0).astype(np.float64),
        weights,
        stride=1,
        pads=[(1, 1), (1, 1)],
        dilation=1,
        pad_mode="reflect",
    )
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("heavy", [False, True])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_blocks_threads_and_chunks_cover_every_output(monkeypatch, nd, heavy):
    """Force tiny blocks, threads and BLAS chunks so the bookkeeping is exercised."""
    monkeypatch.setattr(_bank, "BLOCK_ELEMENTS", 40)
    monkeypatch.setattr(_bank, "HEAVY_BLOCK_ELEMENTS", 70)
    monkeypatch.setattr(_bank, "THREAD_MIN_OUTPUT", 0)
    monkeypatch.setattr(_bank, "BLAS_SINGLE_MNK", 200)
    monkeypatch.setattr(_bank, "LIGHT_FK", 0 if heavy else 10**6)
    rng = np.random.default_rng(5)
    shape = {1: (53,), 2: (13, 11), 3: (7, 6, 9)}[nd]
    x = rng.standard_normal((2, *shape))
    weights = rng.standard_normal((3, 2) + (3,) * nd)
    for stride in (1, 2):
        got = correlate_bank(
            np.moveaxis(x, 0, -1),
            weights,
            stride=stride,
            channel_axis=-1,
            method="direct",
            pad_mode="symmetric",
        )
        ref = reference_layer(
            x,
            weights,
            shared=False,
            stride=stride,
            padding="same",
            dilation=1,
            pad_mode="symmetric",
            bias=None,
        )
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_sparse_taps_are_skipped_and_still_exact(monkeypatch):
    monkeypatch.setattr(_bank, "BLOCK_ELEMENTS", 50)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((15, 16))
    small = rng.standard_normal((3, 3))
    big = np.zeros((9, 9))
    big[4, 4] = 2.0
    plan = plan_bank(x.shape, x.dtype, [small, big], method="direct")
    assert len(plan.taps) == 9  # the 3x3 in the middle (the big kernel's centre is one of them)
    got = correlate_bank(x, [small, big], method="direct", pad_mode="reflect")
    for f, k in enumerate((small, big)):
        ref = convcli.convolve(x, k, pad_mode="reflect", method="direct")
        np.testing.assert_allclose(got[f], ref, atol=1e-12)


def test_kernels_of_different_sizes_share_the_geometry_aligned_as_same_aligns_them():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((21, 19))
    kernels = [
        rng.standard_normal((3, 3)),
        rng.standard_normal((7, 5)),
        rng.standard_normal((1, 1)),
        rng.standard_normal((2, 4)),
        rng.standard_normal((6, 1)),
    ]
    stacked = stack_kernels(kernels)
    assert stacked.shape == (5, 7, 5)
    assert np.array_equal(stacked[0, 2:5, 1:4], kernels[0])
    assert np.array_equal(stacked[3, 3:5, 1:5], kernels[3])  # tap 0 on tap 3, tap 1 on tap 2
    for method in ("direct", "fft"):
        got = correlate_bank(x, kernels, pad_mode="reflect", method=method)
        for f, k in enumerate(kernels):
            # same padding, stride 1, odd sizes: each kernel as if applied on its own
            ref = convcli.convolve(x, k, pad_mode="reflect")
            np.testing.assert_allclose(got[f], ref, atol=1e-9)


def test_shared_weights_over_channels_are_summed_and_separate_keeps_them():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((9, 10, 3))
    weights = rng.standard_normal((2, 3, 3))
    summed = correlate_bank(x, weights, channel_axis=2, pad_mode="constant", pad_value=2.0)
    apart = correlate_bank(
        x, weights, channel_axis=2, pad_mode="constant", pad_value=2.0, per_channel="separate"
    )
    assert apart.shape == (2, 3, 9, 10)
    for f in range(2):
        per = [
            convcli.convolve(x[..., c], weights[f], pad_mode="constant", pad_value=2.0)
            for c in range(3)
        ]
        np.testing.assert_allclose(apart[f], per, atol=1e-12)
        np.testing.assert_allclose(summed[f], sum(per), atol=1e-12)


def test_methods_agree_and_auto_follows_the_cost_rule():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((40, 36)).astype(np.float32)
    small = rng.standard_normal((16, 3, 3))
    large = rng.standard_normal((8, 25, 25))
    assert plan_bank(x.shape, x.dtype, small).method == "direct"
    assert plan_bank((512, 512), np.float32, large).method == "fft"
    assert plan_bank(x.shape, x.dtype, small[:1]).method == "engine"
    for weights in (small, large[:, :9, :9]):
        results = [correlate_bank(x, weights, method=m) for m in ("direct", "fft", "auto")]
        scale = np.abs(results[0]).max()
        for r in results[1:]:
            np.testing.assert_allclose(r, results[0], atol=2e-5 * scale)


def test_long_audio_goes_by_overlap_save_and_is_exact():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((20000, 2))
    weights = rng.standard_normal((3, 301))
    plan = plan_bank(x.shape, x.dtype, weights, channel_axis=1, method="fft", stride=3, dilation=2)
    assert plan.fft_block is not None
    got = correlate_bank(x, weights, channel_axis=1, method="fft", stride=3, dilation=2)
    ref = np.array(
        [
            sum(
                convcli.convolve(x[:, c], w, stride=3, dilation=2, method="direct")
                for c in range(2)
            )
            for w in weights
        ]
    )
    np.testing.assert_allclose(got, ref, atol=1e-9 * np.abs(ref).max())


def test_nan_input_never_goes_to_fft():
    x = np.ones((64, 64), np.float32)
    x[5, 5] = np.nan
    weights = np.ones((4, 31, 31))
    plan = plan_bank(x.shape, x.dtype, weights, finite=False)
    assert plan.method == "direct"
    maps = correlate_bank(x, weights)
    assert np.isnan(maps[0, 5, 5]) and np.isfinite(maps[0, 40, 40])


@pytest.mark.parametrize(
    ("weights", "kwargs", "words"),
    [
        (np.ones((2, 3, 3, 3)), {"channel_axis": None}, ["3 input channels", "has 1"]),
        (np.ones((2, 4, 3, 3)), {"channel_axis": -1}, ["4 input channels", "has 3"]),
        (np.ones((3, 3)), {"channel_axis": -1}, ["2 axes", "(F, *k) with 3 axes"]),
        (np.full((2, 3, 3), np.nan), {}, ["NaN", "finite"]),
        ([np.ones(3), np.ones((3, 3))], {}, ["different numbers of axes"]),
    ],
)
def test_bad_weights_raise_value_errors_naming_the_numbers(weights, kwargs, words):
    x = np.ones((8, 8, 3)) if kwargs.get("channel_axis") is not None else np.ones((8, 8))
    with pytest.raises(ValueError) as info:
        correlate_bank(x, weights, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_bias_adds_one_value_or_one_per_map():
    x = np.zeros((4, 4))
    maps = correlate_bank(x, np.ones((3, 1, 1)), bias=[1, 2, 3])
    assert maps[:, 0, 0].tolist() == [1, 2, 3]
    assert correlate_bank(x, np.ones((3, 1, 1)), bias=5)[:, 2, 2].tolist() == [5, 5, 5]
    with pytest.raises(ArgumentError, match="2 values but there are 3 maps"):
        correlate_bank(x, np.ones((3, 1, 1)), bias=[1, 2])


# --------------------------------------------------------------------------- the layer


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("stride", [None, 1, 2, 3])
def test_pooling_sizes_follow_relationship_7(mode, size, stride):
    rng = np.random.default_rng(size)
    for spatial in ((11,), (7, 9), (5, 6, 4)):
        maps = rng.standard_normal((2, *spatial))
        s = size if stride is None else stride
        if any(n < size for n in spatial):
            with pytest.raises(ArgumentError, match="larger than the maps"):
                pool(maps, mode, size, stride)
            continue
        got = pool(maps, mode, size, stride)
        expected_shape = tuple(math.floor((i - size) / s) + 1 for i in spatial)
        assert got.shape == (2, *expected_shape)
        assert tuple(pool_output_size(i, size, stride) for i in spatial) == expected_shape
        np.testing.assert_allclose(got, reference_pool(maps, mode, size, s), atol=1e-12)


def test_pool_specs_parse_and_refuse():
    assert parse_pool("max:3").text() == "max:3"
    assert parse_pool("avg:3:1").stride == 1
    for bad in ("max", "mean:2", "max:0", "max:2:x", "max:1:2:3"):
        with pytest.raises(ArgumentError):
            parse_pool(bad)


def test_activation_pooling_order_and_values():
    x = np.array([-3.0, -1.0, 2.0, 4.0])
    out = feature_maps(
        x, np.ones((1, 1)), bias=[-2.0], activation="relu", pool="max:2", padding="valid"
    )
    # (x - 2) -> relu -> max over pairs
    assert out.tolist() == [[0.0, 2.0]]
    values = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])
    np.testing.assert_allclose(
        activate(values.copy(), "sigmoid"), [0.0, 1 / (1 + math.e), 0.5, 1 / (1 + 1 / math.e), 1.0]
    )
    with pytest.raises(ArgumentError, match="activation 'gelu'"):
        activate(values.copy(), "gelu")


# ------------------------------------------------------------------------------- banks


def test_compass_rotations_turn_the_edge_kernel_around():
    bank = dict(make_bank("compass", 2))
    assert list(bank) == [f"sobel-{d}" for d in ("E", "NE", "N", "NW", "W", "SW", "S", "SE")]
    assert np.array_equal(bank["sobel-E"], make_kernel("sobel:axis=1", 2))
    assert np.array_equal(bank["sobel-S"], make_kernel("sobel:axis=0", 2))
    for a, b in (("E", "W"), ("N", "S"), ("NE", "SW"), ("NW", "SE")):
        assert np.array_equal(bank[f"sobel-{a}"], -bank[f"sobel-{b}"])
    # a 90-degree turn counter-clockwise on screen is numpy's rot90
    assert np.array_equal(np.rot90(bank["sobel-E"]), bank["sobel-N"])
    kirsch = dict(make_bank("compass:base=kirsch", 2))
    assert all(
        sorted(k.ravel().tolist()) == sorted(kirsch["kirsch-E"].ravel().tolist())
        for k in kirsch.values()
    )


def test_edges_gabor_and_log_scales():
    assert [label for label, _ in make_bank("edges", 2)] == [
        "sobel-axis0",
        "sobel-axis1",
        "prewitt-axis0",
        "prewitt-axis1",
        "scharr-axis0",
        "scharr-axis1",
    ]
    edges3 = make_bank("edges:op=scharr", 3)
    assert [k.shape for _, k in edges3] == [(3, 3, 3)] * 3
    for label, k in make_bank("edges", 2):
        assert np.array_equal(k, make_kernel(label.replace("-axis", ":axis="), 2))
    gabor = make_bank("gabor:orientations=3,scales=2,sigma=1.5,lambda=4", 2)
    assert len(gabor) == 6
    assert gabor[1][0] == "gabor-theta60-lambda4" and gabor[3][0] == "gabor-theta0-lambda8"
    assert all(abs(k.sum()) < 1e-9 for _, k in gabor)  # dc=remove
    kept = make_bank("gabor:orientations=1,scales=1,dc=keep", 2)[0][1]
    assert kept.sum() > 1
    logs = make_bank("log-scales:sigma=0.5,scales=3", 1)
    assert [label for label, _ in logs] == ["log-sigma0.5", "log-sigma1", "log-sigma2"]
    for (_, k), sigma in zip(logs, (0.5, 1, 2)):
        np.testing.assert_allclose(k, sigma**2 * make_kernel(f"log:sigma={sigma}", 1))


def test_bank_registry_lists_and_refuses():
    assert [b.name for b in list_banks()] == sorted(BANKS)
    for b in list_banks():
        assert b.signature().startswith(b.name) and b.summary and b.ndims_text()
    assert get_bank("EDGES").name == "edges"
    with pytest.raises(KernelSpecError, match="did you mean edges"):
        parse_bank("egdes")
    with pytest.raises(KernelSpecError, match="unknown parameter 'size'"):
        parse_bank("edges:size=3")
    with pytest.raises(KernelSpecError, match="op 'laplace' is not allowed"):
        parse_bank("edges:op=laplace")
    with pytest.raises(KernelSpecError, match="defined for 2-D signals only, not 3-D"):
        make_bank("compass", 3)
    with pytest.raises(KernelSpecError, match="positional value"):
        parse_bank("gabor:orientations=2,3")


# ------------------------------------------------------------------------ weights files


def _savez(path: Path, **arrays: np.ndarray) -> None:
    """An .npz archive under any name (numpy.savez adds .npz to a name without it)."""
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def test_weights_files_npy_and_npz(tmp_path: Path):
    w = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3)
    np.save(tmp_path / "w.npy", w)
    layer = load_weights(tmp_path / "w.npy")
    assert layer.weight.dtype == np.float64 and layer.bias is None and layer.dtype == "float32"
    assert check_weights(layer, 2, 3) == "full" and check_weights(layer, 3, 5) == "shared"
    np.savez(tmp_path / "w.npz", weight=w, bias=np.array([1.0, 2.0]))
    layer = load_weights(tmp_path / "w.npz")
    assert layer.bias.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda p: np.save(p / "w.npy", np.array([object()]), allow_pickle=True),
            ["Python objects", "never unpickles"],
        ),
        (lambda p: np.save(p / "w.npy", np.array([[np.nan, 1.0]])), ["NaN at index (0, 0)"]),
        (
            lambda p: np.save(p / "w.npy", np.array([1.0, np.inf, np.inf])),
            ["Inf at index (1,)", "1 more"],
        ),
        (lambda p: np.save(p / "w.npy", np.ones(5)), ["1 axis", "(F, *k)"]),
        (lambda p: np.save(p / "w.npy", np.ones((2, 2), complex)), ["complex"]),
        (lambda p: np.save(p / "w.npy", np.zeros((0, 3))), ["empty"]),
        (lambda p: _savez(p / "w.npy", kernel=np.ones((2, 3))), ["no 'weight' array", "kernel"]),
        (
            lambda p: _savez(p / "w.npy", weight=np.ones((2, 3)), bias=np.ones(3)),
            ["bias has shape 3", "2 filters"],
        ),
        (lambda p: (p / "w.npy").write_text("1 2 3\n"), ["not a .npy array or a .npz"]),
    ],
)
def test_bad_weights_files_are_refused_clearly(tmp_path: Path, make, words):
    make(tmp_path)
    with pytest.raises(KernelSpecError) as info:
        load_weights(tmp_path / "w.npy")
    for word in words:
        assert word in str(info.value)


def test_a_pytorch_checkpoint_is_named_as_such(tmp_path: Path):
    with zipfile.ZipFile(tmp_path / "model.pt", "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(KernelSpecError, match="PyTorch checkpoint"):
        load_weights(tmp_path / "model.pt")
    with pytest.raises(SignalReadError, match="does not exist"):
        load_weights(tmp_path / "missing.npy")


def test_channel_mismatch_names_both_numbers():
    from convcli.features import LayerWeights

    layer = LayerWeights(np.ones((64, 3, 7, 7)), None, "w.npy", "float32")
    with pytest.raises(
        KernelSpecError, match=r"3 input channels \(shape 64x3x7x7\) but the input has 1 channel"
    ):
        check_weights(layer, 2, 1)
    with pytest.raises(KernelSpecError, match="4 axes"):
        check_weights(layer, 1, 1)


# ---------------------------------------------------------------- display and montage


def test_display_diverging_grey_and_flat():
    lut = diverging_lut()
    assert lut.shape == (255, 3)
    assert lut[127].tolist() == [0xF7, 0xF7, 0xF7]  # the middle stop, exactly, for 0
    assert lut[0].tolist() == [0x05, 0x30, 0x61] and lut[-1].tolist() == [0x67, 0x00, 0x1F]
    assert len(DIVERGING) == 11
    levels, how = display(np.array([[-4.0, 0.0, 1.0, 4.0, np.nan]]))
    assert how == "diverging"
    # 127 + round(127 * v / max|v|); NaN drawn as 0
    assert levels.tolist() == [[0, 127, 127 + round(127 / 4), 254, 127]]
    rgb = to_rgb(levels, how)
    assert rgb[0, 0].tolist() == lut[0].tolist() and rgb[0, 1].tolist() == [247, 247, 247]
    levels, how = display(np.array([2.0, 3.0, 6.0]))
    assert how == "grey" and levels.tolist() == [0, 64, 255]
    assert to_rgb(levels, how)[1].tolist() == [64, 64, 64]
    levels, how = display(np.full((2, 2), 7.0))
    assert how == "flat" and np.all(levels == 128)
    assert display_range(np.array([np.nan, -1.0, 2.0])) == ("diverging", -2.0, 2.0)
    assert display_range(np.array([np.inf, np.nan])) == ("flat", 0.0, 0.0)


def test_the_montage_has_one_labelled_tile_per_map():
    values = [0, 40, 80, 120, 160, 200, 240]
    pictures = [np.full((30, 45), v, np.uint8) for v in values]
    texts = [f"{i:02d} kernel-{i}" for i in range(len(values))]
    image, layout = draw_montage(pictures, texts, ["grey"])
    assert len(layout.tiles) == len(values)
    assert [t.index for t in layout.tiles] == list(range(len(values)))
    assert [t.text for t in layout.tiles] == texts
    rgb = np.asarray(image)
    assert rgb.shape == (layout.height, layout.width, 3)
    boxes = [t.box for t in layout.tiles]
    for i, (left, top, right, bottom) in enumerate(boxes):
        assert 0 <= left < right <= layout.width and 0 <= top < bottom <= layout.height
        assert (bottom - top, right - left) == layout.tile
        # each tile shows its own map (here: its constant grey), and nothing else
        assert np.all(rgb[top:bottom, left:right] == values[i])
        x, y = layout.tiles[i].text_at
        assert y >= bottom and x == left
        # the label is drawn: light text pixels under the tile
        strip = rgb[y : y + layout.line_height, left:right]
        assert (strip > 200).any()
        for j, other in enumerate(boxes[:i]):
            assert right <= other[0] or other[2] <= left or bottom <= other[1] or other[3] <= top, (
                i,
                j,
            )


def test_long_labels_are_shortened_to_fit_their_tile():
    layout = layout_montage(["00 " + "x" * 300], (20, 20), line_height=10, measure=len)
    text = layout.tiles[0].text
    assert text.endswith("...") and len(text) <= layout.tile[1] + 8
