"""convcli.dask.filter_zarr: a Zarr volume filtered chunk by chunk, locally and on a cluster."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
distributed = pytest.importorskip("distributed")

from test_io_zarr import make_array, make_ome, tree  # noqa: E402

import convcli  # noqa: E402
import convcli.dask  # noqa: E402
from convcli.errors import OutputExistsError, SchedulerError  # noqa: E402
from convcli.io import cast  # noqa: E402

KERNEL = np.array([[[1, 2, 1], [2, 4, 2], [1, 2, 1]]] * 2, dtype=float) * [[[1]], [[-1]]]


def volume(shape=(9, 14, 11), seed=0):
    return np.random.default_rng(seed).integers(0, 4000, shape).astype(np.uint16)


def expected(x, kernel, dtype="uint16", **kw):
    """The in-memory path: convolve the whole array, then cast as convcli casts."""
    return cast(convcli.convolve(x, kernel, **kw), dtype)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize(
    "geometry",
    [
        {"pad_mode": "reflect"},
        {"pad_mode": "circular", "stride": (1, 2, 3)},
        {"pad_mode": "symmetric", "padding": "full", "dilation": 2},
        {"pad_mode": "replicate", "padding": "valid"},
        {"pad_mode": "constant", "pad_value": 7, "padding": [(0, 3), (5, 1), (2, 2)]},
    ],
)
def test_filter_equals_the_in_memory_path(tmp_path, fmt, geometry):
    x = volume()
    make_array(tmp_path / "in.zarr", x, fmt, (4, 5, 3), attributes={"scan": 7})
    rec = convcli.dask.filter_zarr(
        tmp_path / "in.zarr", tmp_path / "out.zarr", KERNEL, method="direct", **geometry
    )
    want, clipped = expected(x, KERNEL, method="direct", **geometry)
    out = zarr.open_array(str(tmp_path / "out.zarr"))
    np.testing.assert_array_equal(out[...], want)
    assert rec["clipped"] == clipped > 0  # negative lobes: clipped in every chunk, summed
    assert rec["shape_out"] == list(want.shape) and rec["status"] == "ok"
    stride = geometry.get("stride", (1, 1, 1))
    assert out.chunks == tuple(min(-(-c // s), n) for c, s, n in zip((4, 5, 3), stride, want.shape))
    assert out.attrs.asdict() == {"scan": 7} and out.metadata.zarr_format == fmt
    assert sorted(os.listdir(tmp_path)) == ["in.zarr", "out.zarr"]


def test_kernel_spec_dtype_and_overwrite(tmp_path):
    x = volume((6, 7, 8))
    make_array(tmp_path / "in.zarr", x, 3, (3, 3, 3))
    rec = convcli.dask.filter_zarr(
        tmp_path / "in.zarr", tmp_path / "out.zarr", "gaussian:size=3", dtype="float32"
    )
    k = convcli.make_kernel("gaussian:size=3", 3)
    out = zarr.open_array(str(tmp_path / "out.zarr"))[...]
    assert out.dtype == np.float32 and rec["dtype"] == "float32" and rec["clipped"] == 0
    np.testing.assert_allclose(out, convcli.convolve(x, k), rtol=1e-5, atol=1e-3)
    with pytest.raises(OutputExistsError):
        convcli.dask.filter_zarr(tmp_path / "in.zarr", tmp_path / "out.zarr", k)
    with pytest.raises(OutputExistsError, match="input"):
        convcli.dask.filter_zarr(tmp_path / "in.zarr", tmp_path / "in.zarr", k, overwrite=True)
    with pytest.raises(ValueError, match="dtype"):
        convcli.dask.filter_zarr(tmp_path / "in.zarr", tmp_path / "x.zarr", k, dtype="int8")
    assert sorted(os.listdir(tmp_path)) == ["in.zarr", "out.zarr"]


def test_ome_channel_axis_from_the_metadata(tmp_path):
    x = volume((2, 6, 8, 10)).astype(np.uint8)
    make_ome(tmp_path / "img.zarr", x, 2)
    k = np.ones((3, 3, 3))
    rec = convcli.dask.filter_zarr(tmp_path / "img.zarr", tmp_path / "o.zarr", k, stride=2)
    want, clipped = expected(x, k, "uint8", stride=2, channel_axis=0)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "o.zarr" / "0"))[...], want)
    assert rec["clipped"] == clipped


# ------------------------------------------------------------------------- a real cluster


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes on loopback (a few seconds to start)."""
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as c:
        yield c


def test_cluster_writes_the_same_bytes_as_local_threads(tmp_path, cluster):
    x = volume((12, 16, 10))
    make_array(tmp_path / "in.zarr", x, 3, (4, 5, 4))
    geometry = {"pad_mode": "circular", "stride": (2, 1, 1), "dilation": (1, 2, 1)}
    local = convcli.dask.filter_zarr(
        tmp_path / "in.zarr", tmp_path / "threads.zarr", KERNEL, **geometry
    )
    with distributed.Client(cluster) as client, distributed.get_task_stream(client) as ts:
        remote = convcli.dask.filter_zarr(
            tmp_path / "in.zarr", tmp_path / "cluster.zarr", KERNEL, scheduler=client, **geometry
        )
    blocks = [t for t in ts.data if str(t["key"]).startswith("('convcli-convolve")]
    assert len(blocks) == remote["blocks"] and len({t["worker"] for t in blocks}) == 2
    by_address = convcli.dask.filter_zarr(
        tmp_path / "in.zarr",
        tmp_path / "address.zarr",
        KERNEL,
        scheduler=cluster.scheduler_address,
        **geometry,
    )
    threads = tree(tmp_path / "threads.zarr")
    assert len(threads) > 10
    assert tree(tmp_path / "cluster.zarr") == threads
    assert tree(tmp_path / "address.zarr") == threads
    assert local["clipped"] == remote["clipped"] == by_address["clipped"] > 0


def test_a_failure_on_the_cluster_leaves_no_temporary_store(tmp_path, cluster):
    from convcli.io.zarr_store import save_dask

    def slow_or_fail(block, block_info=None):  # nested: pickled by value for the workers
        import time

        if block_info[0]["chunk-location"] == (0,):
            raise RuntimeError("disk full")
        time.sleep(0.5)
        return block

    import dask.array as da

    bad = da.arange(16.0, chunks=4).map_blocks(slow_or_fail, dtype=np.float64)
    with distributed.Client(cluster) as client:
        with pytest.raises(RuntimeError, match="disk full"):
            save_dask(bad, tmp_path / "o.zarr", chunks=(4,), scheduler=client)
    time.sleep(1.0)  # the other blocks would have finished by now
    assert os.listdir(tmp_path) == []


def test_an_unreachable_scheduler_fails_before_anything_is_read(tmp_path, monkeypatch):
    from convcli.chunked import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    t0 = time.perf_counter()
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        convcli.dask.filter_zarr(
            tmp_path / "missing.zarr", tmp_path / "out.zarr", KERNEL, scheduler="tcp://127.0.0.1:9"
        )
    assert time.perf_counter() - t0 < 10
    with pytest.raises(SchedulerError, match="not-an-address"):
        convcli.dask.filter_zarr(
            tmp_path / "a.zarr", tmp_path / "b.zarr", KERNEL, scheduler="not-an-address"
        )
    with pytest.raises(ValueError, match="local:N"):
        convcli.dask.filter_zarr(
            tmp_path / "a.zarr", tmp_path / "b.zarr", KERNEL, scheduler="local:0"
        )
    assert os.listdir(tmp_path) == []
