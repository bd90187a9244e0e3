"""SPEC's arithmetic (geometry.py) and the pad modes (padding.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcli import geometry
from convcli.errors import ArgumentError
from convcli.padding import ALIASES, NUMPY_NAMES, PAD_MODES, canonical_mode, pad, pad_window


def placements(i, k, s, d, lo, hi):
    """Count kernel placements directly: start positions o*s whose taps all fit."""
    n = i + lo + hi
    count = 0
    start = 0
    while start + d * (k - 1) < n:
        count += 1
        start += s
    return count


@settings(max_examples=500, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(0, 4),
    st.integers(0, 4),
    st.integers(1, 3),
)
def test_output_size_counts_kernel_placements(i, k, s, lo, hi, d):
    count = placements(i, k, s, d, lo, hi)
    if count == 0:
        with pytest.raises(ArgumentError, match="no output sample"):
            geometry.output_shape((i,), (k,), stride=s, padding=[(lo, hi)], dilation=d)
    else:
        assert geometry.output_shape((i,), (k,), stride=s, padding=[(lo, hi)], dilation=d) == (
            count,
        )


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 4), st.integers(1, 3))
def test_same_follows_tensorflow(i, k, s, d):
    (a,) = geometry.resolve((i,), (k,), stride=s, padding="same", dilation=d)
    keff = d * (k - 1) + 1
    assert a.output == math.ceil(i / s)
    total = max((a.output - 1) * s + keff - i, 0)
    assert (a.pad_lo, a.pad_hi) == (total // 2, total - total // 2)
    (f,) = geometry.resolve((i,), (k,), stride=s, padding="full", dilation=d)
    assert (f.pad_lo, f.pad_hi) == (keff - 1, keff - 1)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 20), st.integers(1, 6), st.integers(1, 4), st.integers(0, 4), st.integers(1, 3)
)
def test_transposed_sizes_round_trip(i, k, s, p, d):
    keff = d * (k - 1) + 1
    if i + 2 * p < keff:
        return
    (fwd,) = geometry.resolve((i,), (k,), stride=s, padding=p, dilation=d)
    a = (i + 2 * p - keff) % s
    if a >= max(s, d):
        return
    (t,) = geometry.resolve_transposed(
        (fwd.output,), (k,), stride=s, padding=p, dilation=d, output_padding=a
    )
    assert t.output == i


@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 4))
def test_transposed_same_round_trips(i, k, s):
    (t,) = geometry.resolve_transposed((i,), (k,), stride=s, padding="same")
    assert t.output == i * s
    assert geometry.output_shape((t.output,), (k,), stride=s, padding="same") == (i,)


def test_parse_forms():
    assert geometry.parse_padding("Same") == "same"
    assert geometry.parse_padding("3") == 3
    assert geometry.parse_padding("1,2") == [1, 2]
    assert geometry.parse_padding("1:2,3:4") == [(1, 2), (3, 4)]
    assert geometry.normalize_padding("1:2,3:4", 2) == ((1, 2), (3, 4))
    assert geometry.parse_ints("2,3", "stride") == (2, 3)
    with pytest.raises(ArgumentError, match="padding 'x' is not one of"):
        geometry.parse_padding("x")
    with pytest.raises(ArgumentError, match="stride 'a' is not"):
        geometry.parse_ints("a", "stride")
    with pytest.raises(ArgumentError, match="pad mode"):
        geometry.parse_padding("mirror")


@pytest.mark.parametrize("value,name", [(0, "stride"), (-1, "dilation")])
def test_per_axis_minimum(value, name):
    with pytest.raises(ArgumentError, match=f"{name} must be >= 1"):
        geometry.normalize_per_axis(value, 2, name)


def test_aliases_and_mirror():
    for alias, name in ALIASES.items():
        assert canonical_mode(alias) == name
        assert canonical_mode(alias.upper()) == name
    with pytest.raises(ArgumentError) as err:
        canonical_mode("mirror")
    assert "reflect" in str(err.value) and "symmetric" in str(err.value)
    with pytest.raises(
        ArgumentError,
        match="pad_mode 'bogus' is not one of zero, constant, reflect, symmetric, replicate, "
        "circular",
    ):
        canonical_mode("bogus")


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=3),
    st.sampled_from(PAD_MODES),
    st.data(),
)
def test_pad_equals_numpy_pad_for_any_size(shape, mode, data):
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) * 1.5 - 3
    pads = [(data.draw(st.integers(0, 15)), data.draw(st.integers(0, 15))) for _ in shape]
    kw = {"constant_values": 2.5} if mode == "constant" else {}
    np.testing.assert_array_equal(
        pad(x, pads, mode, 2.5), np.pad(x, pads, mode=NUMPY_NAMES[mode], **kw)
    )
    # any window of the padded signal, crops included, equals the same slice of numpy.pad
    big = [(16, 16)] * len(shape)
    full = np.pad(x, big, mode=NUMPY_NAMES[mode], **kw)
    bounds = []
    for n in shape:
        a = data.draw(st.integers(-16, n - 1))
        b = data.draw(st.integers(a + 1, n + 16))
        bounds.append((a, b))
    win = pad_window(x, bounds, mode, 2.5, dtype=np.float32)
    assert win.dtype == np.float32
    np.testing.assert_array_equal(
        win, full[tuple(slice(a + 16, b + 16) for a, b in bounds)].astype(np.float32)
    )
