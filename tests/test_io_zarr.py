"""Zarr stores (format 2 and 3, OME-Zarr) read, opened lazily, and written atomically."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")

from convcli.errors import OutputExistsError, SignalReadError  # noqa: E402
from convcli.io import Form, Limits  # noqa: E402
from convcli.io import zarr_store as zs  # noqa: E402
from convcli.io.limits import LimitError  # noqa: E402

AXES = [
    {"name": "c", "type": "channel"},
    {"name": "z", "type": "space", "unit": "micrometer"},
    {"name": "y", "type": "space", "unit": "micrometer"},
    {"name": "x", "type": "space", "unit": "micrometer"},
]


def data(shape, dtype=np.uint16, seed=0):
    return np.random.default_rng(seed).integers(0, 1000, shape).astype(dtype)


def make_array(path, x, fmt=3, chunks=None, **kw):
    z = zarr.create_array(
        str(path), shape=x.shape, dtype=x.dtype, chunks=chunks or x.shape, zarr_format=fmt, **kw
    )
    z[...] = x
    return z


def make_ome(path, x, fmt):
    """An OME-Zarr image of two levels: 0.4 in format 2, 0.5 in format 3."""
    scale = [{"type": "scale", "scale": [1.0, 2.0, 0.5, 0.5]}]
    multiscales = [
        {
            "name": "cells",
            "axes": AXES,
            "datasets": [
                {"path": "0", "coordinateTransformations": scale},
                {"path": "1", "coordinateTransformations": scale},
            ],
        }
    ]
    if fmt == 2:
        multiscales[0]["version"] = "0.4"
        attrs = {"multiscales": multiscales, "omero": {"channels": [{"label": "a"}]}}
    else:
        attrs = {"ome": {"version": "0.5", "multiscales": multiscales}}
    g = zarr.open_group(str(path), mode="w", zarr_format=fmt, attributes=attrs)
    g.create_array("0", shape=x.shape, dtype=x.dtype, chunks=(1, 3, 4, 5))[...] = x
    small = x[:, ::2, ::2, ::2]
    g.create_array("1", shape=small.shape, dtype=x.dtype)[...] = small
    return attrs


def tree(path):
    """Every file under ``path`` with its bytes."""
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, path)] = fh.read()
    return out


# ------------------------------------------------------------------------- identify, probe


@pytest.mark.parametrize("fmt", [2, 3])
def test_identify_by_content(tmp_path, fmt):
    make_array(tmp_path / "a.zarr", data((4, 5)), fmt)
    zarr.open_group(str(tmp_path / "g"), mode="w", zarr_format=fmt)
    (tmp_path / "plain.zarr").mkdir()
    (tmp_path / "f.zarr").write_bytes(b"not a folder")
    assert zs.identify(tmp_path / "a.zarr") == "ZARR"
    assert zs.identify(tmp_path / "g") == "ZARR"  # a name makes no claim
    assert zs.identify(tmp_path / "plain.zarr") is None
    assert zs.identify(tmp_path / "f.zarr") is None
    assert zs.identify(tmp_path / "missing") is None


def test_identify_needs_a_regular_metadata_file(tmp_path):
    (tmp_path / "p.zarr").mkdir()
    os.mkfifo(tmp_path / "p.zarr" / "zarr.json")
    assert zs.identify(tmp_path / "p.zarr") is None
    with pytest.raises(SignalReadError, match="not a Zarr store"):
        zs.probe(tmp_path / "p.zarr")


@pytest.mark.parametrize("fmt", [2, 3])
def test_probe(tmp_path, fmt):
    make_array(tmp_path / "v.zarr", data((6, 8, 10)), fmt, (3, 4, 5), attributes={"unit": "um"})
    info = zs.probe(tmp_path / "v.zarr")
    assert info["shape"] == [6, 8, 10] and info["dtype"] == "uint16" and info["bits"] == 16
    assert info["chunks"] == [3, 4, 5] and info["zarr_format"] == fmt
    assert info["attributes"] == {"unit": "um"} and info["ome"] is None
    assert info["format"] == "ZARR" and info["container"] == "zarr"
    json.dumps(info)  # ready for --json


def test_probe_checks_budgets(tmp_path):
    make_array(tmp_path / "v.zarr", data((6, 8)), 3, (6, 8))
    with pytest.raises(LimitError, match="chunk"):
        zs.probe(tmp_path / "v.zarr", limits=Limits(max_pixels=40))
    zs.probe(tmp_path / "v.zarr", limits=Limits(max_pixels=48))
    # metadata that claims a huge array costs nothing: only the metadata is read
    zarr.create_array(str(tmp_path / "huge.zarr"), shape=(10**6,) * 3, chunks=(64,) * 3, dtype="u1")
    assert zs.probe(tmp_path / "huge.zarr")["shape"] == [10**6] * 3
    with pytest.raises(LimitError, match="max_voxels"):
        zs.load(tmp_path / "huge.zarr")


def test_refusals(tmp_path):
    z = zarr.create_array(str(tmp_path / "s.zarr"), shape=(3,), dtype=str)
    z[...] = np.array(["a", "b", "c"])
    with pytest.raises(SignalReadError, match="not a real number type"):
        zs.probe(tmp_path / "s.zarr")
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    with pytest.raises(SignalReadError, match="without OME multiscales"):
        zs.probe(tmp_path / "g.zarr")
    bad = {"multiscales": [{"datasets": [{"path": "../elsewhere"}]}]}
    zarr.open_group(str(tmp_path / "t.zarr"), mode="w", zarr_format=2, attributes=bad)
    with pytest.raises(SignalReadError, match="not a path inside the store"):
        zs.probe(tmp_path / "t.zarr")
    (tmp_path / "j.zarr").mkdir()
    (tmp_path / "j.zarr" / "zarr.json").write_text("{not json")
    with pytest.raises(SignalReadError, match="cannot read as Zarr"):
        zs.probe(tmp_path / "j.zarr")


# ------------------------------------------------------------------------- reading


@pytest.mark.parametrize("fmt", [2, 3])
def test_load_and_open_dask(tmp_path, fmt):
    x = data((7, 9, 4))
    make_array(tmp_path / "v.zarr", x, fmt, (3, 4, 4))
    s = zs.load(tmp_path / "v.zarr")
    assert s.kind == "array" and s.channel_axis is None and s.form.container == "zarr"
    np.testing.assert_array_equal(s.data, x)
    v = zs.load(tmp_path / "v.zarr", kind="volume")
    assert v.kind == "volume" and v.channel_axis is None
    assert zs.load(tmp_path / "v.zarr", kind="image").channel_axis == 2  # rows x cols x 4
    make_array(tmp_path / "line.zarr", x[:, 0, 0], fmt)
    with pytest.raises(SignalReadError, match="as volume"):
        zs.load(tmp_path / "line.zarr", kind="volume")
    with pytest.raises(SignalReadError, match="audio"):
        zs.load(tmp_path / "v.zarr", kind="audio")
    d = zs.open_dask(tmp_path / "v.zarr")
    assert d.chunks == ((3, 3, 1), (4, 4, 1), (4,))
    np.testing.assert_array_equal(d.compute(), x)


def test_bool_and_big_endian_read_natively(tmp_path):
    make_array(tmp_path / "b.zarr", np.array([True, False, True]), 3)
    make_array(tmp_path / "e.zarr", np.arange(5, dtype=">u2"), 2)
    assert zs.load(tmp_path / "b.zarr").data.dtype == np.uint8
    e = zs.open_dask(tmp_path / "e.zarr")
    assert e.dtype == np.dtype("=u2") and e.compute().tolist() == [0, 1, 2, 3, 4]
    assert zs.probe(tmp_path / "e.zarr")["dtype"] == "uint16"


@pytest.mark.parametrize("fmt", [2, 3])
def test_ome_reads_the_highest_resolution(tmp_path, fmt):
    x = data((2, 6, 8, 10), np.uint8)
    make_ome(tmp_path / "img.zarr", x, fmt)
    info = zs.probe(tmp_path / "img.zarr")
    assert info["ome"] == ("0.4" if fmt == 2 else "0.5") and info["array_path"] == "0"
    assert info["shape"] == [2, 6, 8, 10] and info["channel_axis"] == 0 and info["channels"] == 2
    s = zs.load(tmp_path / "img.zarr")
    assert s.channel_axis == 0
    np.testing.assert_array_equal(s.data, x)
    np.testing.assert_array_equal(zs.open_dask(tmp_path / "img.zarr").compute(), x)


def test_row_reader(tmp_path):
    x = data((11, 3, 2))
    make_array(tmp_path / "v.zarr", x, 3, (4, 3, 2))
    r = zs.ZarrRowReader(tmp_path / "v.zarr")
    assert r.shape == x.shape and r.dtype == x.dtype and not r.may_hold_nonfinite
    np.testing.assert_array_equal(r.read(3, 9), x[3:9])
    np.testing.assert_array_equal(r.take(np.array([10, 0, 0, 5])), x[[10, 0, 0, 5]])
    with pytest.raises(ValueError):
        r.read(5, 12)
    r.close()


# ------------------------------------------------------------------------- writing


@pytest.mark.parametrize("fmt", [2, 3])
def test_save_keeps_the_form(tmp_path, fmt):
    x = data((9, 10, 11))
    kw = {"attributes": {"unit": "um", "n": 3}}
    if fmt == 3:
        kw["dimension_names"] = ["z", "y", "x"]
        kw["compressors"] = zarr.codecs.BloscCodec(cname="lz4", clevel=2)
    else:
        import numcodecs

        kw["compressors"] = numcodecs.Zlib(level=3)
        kw["filters"] = [numcodecs.Delta(dtype="<u2")]
    src = make_array(tmp_path / "in.zarr", x, fmt, (4, 5, 6), **kw)
    form = zs.read_form(tmp_path / "in.zarr")
    clipped = zs.save_dask(da.from_array(x, chunks=3), tmp_path / "out.zarr", form)
    assert clipped == 0
    out = zarr.open_array(str(tmp_path / "out.zarr"))
    np.testing.assert_array_equal(out[...], x)
    assert out.chunks == (4, 5, 6) and out.metadata.zarr_format == fmt
    assert out.attrs.asdict() == {"unit": "um", "n": 3}
    assert out.compressors == src.compressors and out.filters == src.filters
    if fmt == 3:
        assert out.metadata.dimension_names == ("z", "y", "x")
    # a new dtype keeps compressors and attributes, not the dtype's own filters
    zs.save_dask(da.from_array(x * 1.5, chunks=5), tmp_path / "f.zarr", form, dtype="float32")
    f = zarr.open_array(str(tmp_path / "f.zarr"))
    assert f.dtype == np.float32 and f.compressors == src.compressors and f.filters == ()


def test_save_casts_and_sums_the_clipped_count_over_chunks(tmp_path):
    x = np.linspace(-100, 400, 60).reshape(6, 10)
    n = zs.save_dask(da.from_array(x, chunks=(2, 3)), tmp_path / "o.zarr", dtype="uint8")
    assert n == int(np.count_nonzero((np.rint(x) < 0) | (np.rint(x) > 255)))
    out = zarr.open_array(str(tmp_path / "o.zarr"))[...]
    np.testing.assert_array_equal(out, np.clip(np.rint(x), 0, 255).astype(np.uint8))


def test_save_is_atomic(tmp_path):
    def fail(block, block_info=None):
        if block_info[0]["chunk-location"] == (2,):
            raise RuntimeError("disk full")
        return block

    bad = da.from_array(np.arange(20.0), chunks=4).map_blocks(fail, dtype=np.float64)
    with pytest.raises(RuntimeError, match="disk full"):
        zs.save_dask(bad, tmp_path / "o.zarr", chunks=(4,))
    assert os.listdir(tmp_path) == []  # no store, no temporary folder
    good = da.arange(5.0, chunks=2)
    zs.save_dask(good, tmp_path / "o.zarr")
    with pytest.raises(OutputExistsError, match="exists"):
        zs.save_dask(good, tmp_path / "o.zarr")
    zs.save_dask(good * 2, tmp_path / "o.zarr", overwrite=True)
    assert zarr.open_array(str(tmp_path / "o.zarr"))[...].tolist() == [0, 2, 4, 6, 8]
    with pytest.raises(OutputExistsError, match="input"):
        zs.save_dask(good, tmp_path / "o.zarr", overwrite=True, protect=[tmp_path / "o.zarr"])
    assert sorted(os.listdir(tmp_path)) == ["o.zarr"]


def test_sharded_stores_are_written_by_whole_shards(tmp_path):
    x = np.random.default_rng(0).random((40, 30)).astype(np.float32)
    make_array(tmp_path / "in.zarr", x, 3, (5, 5), shards=(10, 15))
    form = zs.read_form(tmp_path / "in.zarr")
    assert form.info["shards"] == (10, 15)
    zs.save_dask(da.from_array(x, chunks=(7, 9)), tmp_path / "out.zarr", form)
    out = zarr.open_array(str(tmp_path / "out.zarr"))
    assert out.chunks == (5, 5) and out.shards == (10, 15)
    np.testing.assert_array_equal(out[...], x)


@pytest.mark.parametrize("fmt", [2, 3])
def test_ome_written_back_single_scale(tmp_path, fmt):
    x = data((2, 6, 8, 10), np.uint8)
    attrs = make_ome(tmp_path / "img.zarr", x, fmt)
    form = zs.read_form(tmp_path / "img.zarr")
    like = zs.single_scale_form(form, [1, 2, 2, 2], [0.0, 1.0, 0.5, 0.5])
    y = da.from_array(x[:, ::2, ::2, ::2], chunks=1)
    zs.save_dask(y, tmp_path / "out.zarr", like)
    assert sorted(os.listdir(tmp_path / "img.zarr")) != sorted(os.listdir(tmp_path / "out.zarr"))
    g = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    assert list(g.array_keys()) == ["0"]
    out_attrs = g.attrs.asdict()
    ms = out_attrs["multiscales"] if fmt == 2 else out_attrs["ome"]["multiscales"]
    assert ms[0]["axes"] == AXES and len(ms[0]["datasets"]) == 1
    assert ms[0]["datasets"][0]["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 4.0, 1.0, 1.0]},
        {"type": "translation", "translation": [0.0, 2.0, 0.25, 0.25]},
    ]
    if fmt == 2:
        assert out_attrs["omero"] == attrs["omero"]
    info = zs.probe(tmp_path / "out.zarr")
    assert info["ome"] and info["channel_axis"] == 0 and info["chunks"] == [1, 2, 2, 3]
    np.testing.assert_array_equal(zs.load(tmp_path / "out.zarr").data, x[:, ::2, ::2, ::2])


def test_block_writer(tmp_path):
    x = data((23, 4, 3))
    with zs.ZarrBlockWriter(tmp_path / "o.zarr", x.shape, x.dtype, chunks=(5, 4, 3)) as w:
        for a, b in [(0, 3), (3, 4), (4, 17), (17, 23)]:
            w.write(x[a:b])
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "o.zarr"))[...], x)
    like = zs.read_form(tmp_path / "o.zarr")
    w = zs.ZarrBlockWriter(tmp_path / "p.zarr", x.shape, x.dtype, like)
    w.write(x[:10])
    with pytest.raises(OSError, match="10 of 23 rows"):
        w.close()
    with (
        pytest.raises(RuntimeError),
        zs.ZarrBlockWriter(tmp_path / "q.zarr", x.shape, x.dtype) as w,
    ):
        w.write(x[:5])
        raise RuntimeError("interrupted")
    with pytest.raises(ValueError, match="does not fit"):
        with zs.ZarrBlockWriter(tmp_path / "r.zarr", x.shape, x.dtype) as w:
            w.write(x[:5].astype(np.float32))
    assert sorted(os.listdir(tmp_path)) == ["o.zarr"]


def test_form_is_a_form(tmp_path):
    make_array(tmp_path / "v.zarr", data((3, 3)), 2)
    form = zs.read_form(tmp_path / "v.zarr")
    assert isinstance(form, Form) and form.format == "ZARR" and form.dtype == "uint16"
    assert form.info["zarr_format"] == 2 and form.info["chunks"] == (3, 3)


def test_a_failed_save_leaves_nothing_even_for_writes_still_running(tmp_path, monkeypatch):
    import time

    from convcli.io import zarr_write

    store = zarr_write._store_block

    def slow_store(block, array, region, finish, width, live):
        if region[0].start == 0:
            time.sleep(0.05)
            raise RuntimeError("disk full")
        time.sleep(0.4)  # this write is still running when the failure is raised
        return store(block, array, region, finish, width, live)

    monkeypatch.setattr(zarr_write, "_store_block", slow_store)
    with pytest.raises(RuntimeError, match="disk full"):
        zs.save_dask(da.arange(8.0, chunks=4), tmp_path / "o.zarr", chunks=(4,))
    time.sleep(0.6)
    assert os.listdir(tmp_path) == []
