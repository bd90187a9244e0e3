"""The chain's operations: IR matrices, normalized and transposed kernels, slab by slab too."""

from __future__ import annotations

import numpy as np
import pytest
from test_normalized import reference_normalized

import convcli
from convcli.engine.chain import apply_chain
from convcli.io.rows import ArraySource
from convcli.jobs.stream import correlate_rows


def _slabs(x, k, rows, **kw):
    blocks = []
    correlate_rows(ArraySource(x), k, lambda start, b: blocks.append(b), rows_per_slab=rows, **kw)
    return np.concatenate(blocks)


@pytest.mark.parametrize(
    "geometry",
    [
        {"flip": True, "padding": "full"},
        {"flip": False, "padding": "same", "stride": 2},
        {"flip": True, "padding": [(3, 1)], "dilation": 2, "pad_mode": "reflect"},
    ],
)
def test_a_matrix_sums_its_paths(geometry):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 2))
    k = rng.standard_normal((2, 3, 7))
    k[1, 2] = 0.0  # a path that does not exist
    got = apply_chain(x, [k], channel_axis=1, geometry=geometry)
    want = np.stack(
        [sum(convcli.convolve(x[:, i], k[i, o], **geometry) for i in range(2)) for o in range(3)],
        axis=1,
    )
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(_slabs(x, k, 7, channel_axis=1, **geometry), want, atol=1e-12)


def test_a_normalized_chain_leaves_out_what_the_first_kernel_could_not_fill():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(40)
    m = np.ones(40)
    m[10:20] = 0
    w1, w2 = np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 1.0])
    got = apply_chain(x, [w1, w2], channel_axis=None, geometry={}, normalized=True, mask=m)
    first = reference_normalized(x, w1, m, [1], ["same"], [1], "zero")
    want = reference_normalized(first, w2, np.ones(40), [1], ["same"], [1], "zero")
    np.testing.assert_allclose(got, want, atol=1e-12, equal_nan=True)
    assert np.isnan(got).sum() == np.isnan(want).sum() > 0


@pytest.mark.parametrize(
    "mode", ["zero", "constant", "reflect", "symmetric", "replicate", "circular"]
)
def test_normalized_slabs_carry_the_certainty_of_their_padding(mode):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 5))
    x[rng.random(x.shape) < 0.2] = np.nan
    m = rng.random(x.shape)
    w = rng.uniform(0.2, 1.0, (5, 3))
    kw = dict(pad_mode=mode, pad_value=3.0, stride=(2, 1), method="direct")
    whole = convcli.convolve(x, w, normalized=True, mask=m, **kw)
    got = _slabs(x, w, 4, normalized=True, mask=ArraySource(m), **kw)
    np.testing.assert_allclose(got, whole, atol=1e-12, equal_nan=True)


def test_transposed_in_the_chain_is_conv_transpose():
    x = np.random.default_rng(3).standard_normal((6, 7, 2))
    w = np.random.default_rng(4).standard_normal((3, 3))
    geometry = {"stride": 2, "padding": 1, "pad_mode": "zero"}
    got = apply_chain(x, [w], channel_axis=2, geometry=geometry, transposed=True, output_padding=1)
    want = convcli.conv_transpose(x, w, channel_axis=2, output_padding=1, **geometry)
    np.testing.assert_array_equal(got, want)
    assert got.shape == (12, 14, 2)
