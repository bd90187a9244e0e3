"""convcli.dask.convolve: the chunked path equals the in-memory path, whatever the chunks.

The indexing (halos, edges, strides, deep pads) is checked bit for bit: with integer data
and integer kernels every partial sum is exact in float32, so any order of summation gives
the same bits, and any wrong sample shows.  Float data are checked within tolerance (the
engine picks its variant by the shape it is given, and a block is not the whole array).
"""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from _reference import reference_correlate  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import convcli  # noqa: E402
import convcli.dask  # noqa: E402
from convcli.chunked.blocks import AxisSpec, axis_window  # noqa: E402
from convcli.chunked.graph import anchored_chunks  # noqa: E402
from convcli.errors import ArgumentError  # noqa: E402
from convcli.padding import PAD_MODES  # noqa: E402

SYNC = {"scheduler": "synchronous"}


def tolerance(x, w):
    return 2e-5 * (np.abs(w).sum() * max(float(np.abs(x).max()), 1.0) + 1.0)


@st.composite
def chunking(draw, n):
    """Uneven chunks of an axis of ``n``: cut at any subset of positions."""
    cuts = draw(st.sets(st.integers(1, n - 1), max_size=4)) if n > 1 else set()
    bounds = [0, *sorted(cuts), n]
    return tuple(b - a for a, b in zip(bounds, bounds[1:]))


@st.composite
def cases(draw, integer=True):
    ndim = draw(st.integers(1, 3))
    max_size = {1: 16, 2: 10, 3: 7}[ndim]
    shape = [draw(st.integers(1, max_size)) for _ in range(ndim)]
    kshape = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    kind = draw(st.sampled_from(["same", "valid", "full", "int", "pairs"]))
    if kind == "int":
        padding = draw(st.integers(0, 6))
    elif kind == "pairs":
        padding = [(draw(st.integers(0, 7)), draw(st.integers(0, 7))) for _ in range(ndim)]
    else:
        padding = kind
    channel_axis = None
    if draw(st.booleans()):
        channel_axis = draw(st.integers(0, ndim))
        shape.insert(channel_axis, draw(st.integers(1, 3)))
    chunks = tuple(draw(chunking(n)) for n in shape)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if integer:
        dtype = draw(st.sampled_from([np.uint8, np.int16, np.float32, np.float64]))
        x = rng.integers(0 if dtype == np.uint8 else -60, 60, shape).astype(dtype)
        w = rng.integers(-3, 4, kshape).astype(np.float64)
    else:
        dtype = draw(st.sampled_from([np.float32, np.float64]))
        x = rng.standard_normal(shape).astype(dtype)
        w = rng.standard_normal(kshape)
    kwargs = dict(
        stride=stride,
        padding=padding,
        dilation=dilation,
        pad_mode=draw(st.sampled_from(PAD_MODES)),
        pad_value=float(draw(st.integers(-5, 5))),
        flip=draw(st.booleans()),
        channel_axis=channel_axis,
    )
    return x, w, chunks, kwargs


def _both(x, w, chunks, kwargs, **extra):
    try:
        ref = convcli.convolve(x, w, **kwargs, **extra)
    except ArgumentError:
        with pytest.raises(ArgumentError):
            convcli.dask.convolve(da.from_array(x, chunks=chunks), w, **kwargs, **extra)
        return None, None
    y = convcli.dask.convolve(da.from_array(x, chunks=chunks), w, **kwargs, **extra)
    return y.compute(**SYNC), ref


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_chunked_equals_in_memory_bit_for_bit(case):
    x, w, chunks, kwargs = case
    got, ref = _both(x, w, chunks, kwargs, method="direct")
    if ref is None:
        return
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(integer=False), st.sampled_from(["auto", "direct", "fft"]))
def test_chunked_equals_in_memory_within_tolerance(case, method):
    x, w, chunks, kwargs = case
    got, ref = _both(x, w, chunks, kwargs, method=method)
    if ref is None:
        return
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=tolerance(x, w))


@settings(max_examples=40, deadline=None)
@given(cases(integer=False))
def test_separable_method(case):
    x, w, chunks, kwargs = case
    rng = np.random.default_rng(w.size)
    sep = np.ones(w.shape)
    for a, n in enumerate(w.shape):
        shape = [1] * w.ndim
        shape[a] = n
        sep = sep * rng.standard_normal(n).reshape(shape)
    got, ref = _both(x, sep, chunks, kwargs, method="separable")
    if ref is not None:
        np.testing.assert_allclose(got, ref, rtol=0, atol=tolerance(x, sep))


@pytest.mark.parametrize("mode", PAD_MODES)
def test_against_the_oracle_with_halos_deeper_than_chunks(mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 7))
    w = rng.standard_normal((4, 3))
    chunks = ((1, 1, 2, 1, 4), (3, 1, 3))
    for padding in ("same", "full", [(9, 2), (1, 8)]):
        y = convcli.dask.convolve(
            da.from_array(x, chunks=chunks),
            w,
            padding=padding,
            pad_mode=mode,
            pad_value=2.5,
            dilation=(3, 2),
            stride=(2, 1),
        ).compute(**SYNC)
        pads = [padding] * 2 if isinstance(padding, str) else padding
        ref = reference_correlate(x, w, (2, 1), pads, (3, 2), pad_mode=mode, pad_value=2.5)
        np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)


def test_circular_wraps_to_the_far_side_of_the_whole_array():
    # dask-image #242: wrap was done per chunk, so chunk borders saw the chunk's own far side.
    x = np.arange(1, 10, dtype=np.float64)
    w = np.array([1.0, -1.0, 0.0, 1.0, -1.0])
    got = convcli.dask.convolve(da.from_array(x, chunks=5), w, pad_mode="circular", flip=True)
    ref = convcli.convolve(x, w, pad_mode="circular", flip=True)
    np.testing.assert_array_equal(got.compute(**SYNC), ref)
    np.testing.assert_array_equal(ref, np.convolve(np.pad(x, 2, mode="wrap"), w, "valid"))


def test_chunks_of_one_and_a_deep_halo_need_no_rechunking():
    # dask #6688: map_overlap refuses (or rechunks) a depth larger than a chunk.
    x = np.random.default_rng(0).integers(0, 100, (12, 6)).astype(np.float32)
    w = np.ones((5, 5))
    y = convcli.dask.convolve(da.from_array(x, chunks=(1, 6)), w, pad_mode="reflect", dilation=2)
    assert y.chunks == ((1,) * 12, (6,))
    np.testing.assert_array_equal(
        y.compute(**SYNC), convcli.convolve(x, w, pad_mode="reflect", dilation=2, method="direct")
    )


def test_pads_larger_than_the_array():
    x = np.arange(5.0)
    for mode in PAD_MODES:
        y = convcli.dask.convolve(
            da.from_array(x, chunks=2), [1.0, 2.0, 3.0], padding=[(13, 11)], pad_mode=mode
        )
        ref = convcli.convolve(x, [1.0, 2.0, 3.0], padding=[(13, 11)], pad_mode=mode)
        np.testing.assert_array_equal(y.compute(**SYNC), ref)


def test_output_chunks_are_aligned_with_the_input_chunks():
    x = da.zeros((10, 9), chunks=((4, 4, 2), (2, 7)))
    assert convcli.dask.convolve(x, np.ones((3, 3))).chunks == x.chunks
    assert convcli.dask.convolve(x, np.ones((3, 5)), pad_mode="reflect").chunks == x.chunks
    y = convcli.dask.convolve(x, np.ones((3, 3)), stride=2, padding="full")
    assert y.shape == convcli.output_shape((10, 9), (3, 3), stride=2, padding="full")
    assert y.chunks[0] == anchored_chunks((4, 4, 2), AxisSpec(10, 3, 2, 2), 6) == (3, 2, 1)
    z = convcli.dask.convolve(x, np.ones((3, 3)), padding="valid")
    assert z.shape == (8, 7) and sum(z.chunks[0]) == 8


def test_each_block_reads_only_what_it_needs():
    x = da.from_array(np.arange(40.0), chunks=4)
    y = convcli.dask.convolve(x, np.ones(3), pad_mode="zero")
    graph = dict(y.__dask_graph__())
    block = graph[(y.name, 5)]
    deps = set()
    for dep in block.dependencies:
        if isinstance(dep, str):
            continue  # the shared engine arguments
        inputs = [dep] if dep[0] == x.name else graph[dep].dependencies
        deps |= {d[1:] for d in inputs}
    assert deps == {(4,), (5,), (6,)}
    # circular: the first block reads the last chunk's last sample, and nothing else of it
    w = axis_window(AxisSpec(40, 3, 1, 1), (4,) * 10, 0, 4, "circular")
    assert w.pieces == ((0, 0, 4), (1, 0, 1), (9, 3, 4))


def test_explicit_output_chunks():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 9, (17, 13)).astype(np.float32)
    w = rng.integers(-2, 3, (3, 4)).astype(float)
    kw = dict(stride=(2, 1), pad_mode="symmetric", method="direct")
    y = convcli.dask.convolve(da.from_array(x, chunks=(5, 4)), w, chunks=(3, 5), **kw)
    assert y.chunks == ((3, 3, 3), (5, 5, 3))
    np.testing.assert_array_equal(y.compute(**SYNC), convcli.convolve(x, w, **kw))
    with pytest.raises(ValueError, match="chunks"):
        convcli.dask.convolve(da.from_array(x, chunks=5), w, chunks=((4, 4), (13,)))


def test_lazy_and_validated_before_compute():
    def boom(block):
        raise AssertionError("computed")

    x = da.zeros((8, 8), chunks=4).map_blocks(boom, dtype=np.float64)
    y = convcli.dask.convolve(x, np.ones((3, 3)))  # nothing is computed
    assert y.dtype == np.float64 and y.shape == (8, 8)
    with pytest.raises(ValueError, match="pad_mode"):
        convcli.dask.convolve(x, np.ones((3, 3)), pad_mode="bogus")
    with pytest.raises(ValueError, match="separable"):
        convcli.dask.convolve(x, np.eye(3), method="separable")
    unknown = da.from_array(np.arange(6.0), chunks=3)
    unknown = unknown[unknown > 1]
    with pytest.raises(ValueError, match="unknown size"):
        convcli.dask.convolve(unknown, [1.0, 1.0])


def test_dtypes_follow_the_engine():
    for dt, want in [(np.uint8, np.float32), (np.int32, np.float64), (np.float64, np.float64)]:
        y = convcli.dask.convolve(da.zeros((6,), chunks=2, dtype=dt), [1.0, 1.0])
        assert y.dtype == want
        assert y.compute(**SYNC).dtype == want


def test_nan_stays_where_the_kernel_puts_it():
    x = np.random.default_rng(2).standard_normal((40, 40)).astype(np.float32)
    x[5, 30] = np.nan
    w = np.random.default_rng(3).standard_normal((9, 9))
    got = convcli.dask.convolve(da.from_array(x, chunks=10), w).compute(**SYNC)
    ref = convcli.convolve(x, w)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, atol=tolerance(np.nan_to_num(x), w), equal_nan=True)


def test_numpy_input_and_threads():
    x = np.arange(30.0).reshape(5, 6)
    y = convcli.dask.convolve(x, np.ones((2, 2)), pad_mode="replicate")
    np.testing.assert_array_equal(
        y.compute(), convcli.convolve(x, np.ones((2, 2)), pad_mode="replicate")
    )


def test_importing_convcli_dask_imports_no_dask():
    import subprocess
    import sys

    code = "import sys, convcli.dask; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_stored_chunk_is_read_again_by_its_block_not_held(tmp_path):
    zarr = pytest.importorskip("zarr")
    from convcli.io.zarr_store import open_dask

    x = np.random.default_rng(5).integers(0, 50, (12, 10)).astype(np.int16)
    zarr.create_array(str(tmp_path / "v.zarr"), shape=x.shape, chunks=(4, 5), dtype="i2")[...] = x
    d = open_dask(tmp_path / "v.zarr")
    y = convcli.dask.convolve(d, np.ones((3, 3)), pad_mode="symmetric")
    graph = dict(y.__dask_graph__())
    block = graph[(y.name, 1, 1)]
    rereads = [k for k in block.dependencies if "reread" in str(k)]
    assert len(rereads) == 1 and rereads[0][1:] == (1, 1)
    assert (d.name, 1, 1) not in block.dependencies  # held only by the cuts taken from it
    np.testing.assert_array_equal(
        y.compute(**SYNC), convcli.convolve(x, np.ones((3, 3)), pad_mode="symmetric")
    )
