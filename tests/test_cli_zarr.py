"""Zarr stores through the CLI: a format of the table, and filtered chunk by chunk.

A Zarr store filtered into a Zarr store goes block by block (convcli.jobs.chunked); the same
data as a ``.npy`` goes through the in-memory path.  With integer data and integer kernels
every sum is exact, so the two must be equal bit for bit, whatever the geometry and the
chunks (halos deeper than a chunk, chunks of uneven sizes).
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
pytest.importorskip("dask.array")

from conftest import assert_one_error_line, invoke  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from convcli.padding import PAD_MODES  # noqa: E402

#: What a run may leave behind and must not: temporary stores, files and stage folders.
TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}(\.tmp.*)?")


def temporaries(folder):
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob(".*") if TEMPORARY.fullmatch(p.name)
    )


def make_store(path, x, chunks, fmt=3, **kw):
    z = zarr.create_array(
        str(path), shape=x.shape, dtype=x.dtype, chunks=chunks, zarr_format=fmt, **kw
    )
    z[...] = x
    return path


def volume(shape=(10, 13, 11), seed=0, dtype=np.int16, high=200):
    return np.random.default_rng(seed).integers(-high, high, shape).astype(dtype)


def both(tmp_path, x, chunks, *args, name="a"):
    """Filter ``x`` as a Zarr store (chunked) and as a .npy (in memory); return both results."""
    store = make_store(tmp_path / f"{name}.zarr", x, chunks)
    np.save(tmp_path / f"{name}.npy", x)
    res_z = invoke("filter", store, *args, "-o", tmp_path / f"{name}-out.zarr", "--json")
    res_n = invoke("filter", tmp_path / f"{name}.npy", *args, "-o", tmp_path / f"{name}-out.npy")
    assert res_z.exit_code == 0, res_z.output
    assert res_n.exit_code == 0, res_n.output
    record = json.loads(res_z.stdout)
    assert record["chunked"] is True
    return (
        zarr.open_array(str(tmp_path / f"{name}-out.zarr"))[...],
        np.load(tmp_path / f"{name}-out.npy"),
        record,
    )


# --------------------------------------------------------------------------- the format


def test_info_describes_a_store_from_its_metadata(tmp_path):
    make_store(tmp_path / "v.zarr", volume(), (4, 5, 6), fmt=2, attributes={"unit": "um"})
    res = invoke("info", tmp_path / "v.zarr", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert (info["format"], info["kind"], info["shape"], info["chunks"]) == (
        "ZARR",
        "array",
        [10, 13, 11],
        [4, 5, 6],
    )
    assert info["zarr_format"] == 2 and info["attributes"] == {"unit": "um"}
    text = invoke("info", tmp_path / "v.zarr").stdout
    assert "  format: ZARR" in text and "  chunks: 4x5x6" in text


def test_a_folder_is_a_store_by_its_content_not_its_name(tmp_path):
    make_store(tmp_path / "plain", volume(), (4, 5, 6))  # no .zarr: still a store
    assert json.loads(invoke("info", tmp_path / "plain", "--json").stdout)["format"] == "ZARR"
    (tmp_path / "empty.zarr").mkdir()
    line = assert_one_error_line(invoke("info", tmp_path / "empty.zarr"), 1)
    assert "is not a Zarr store: a folder without zarr.json, .zarray or .zgroup" in line
    (tmp_path / "file.zarr").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    line = assert_one_error_line(invoke("info", tmp_path / "file.zarr"), 1)
    assert "the content is PNG but the extension .zarr says Zarr" in line


def test_npy_to_zarr_and_zarr_to_npy(tmp_path):
    x = volume((6, 7, 8), dtype=np.uint8, high=100) + 100
    np.save(tmp_path / "a.npy", x)
    res = invoke("filter", tmp_path / "a.npy", "-k", "identity", "-o", tmp_path / "a.zarr")
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "a.zarr"))[...], x)
    res = invoke("filter", tmp_path / "a.zarr", "-k", "identity", "-o", tmp_path / "b.npy")
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), x)
    # too large to load whole: slab by slab into a .npy, the same numbers
    big = invoke(
        "filter", tmp_path / "a.zarr", "-k", "box:3", "-o", tmp_path / "c.npy", "--json",
        "--max-memory", "2K",
    )  # fmt: skip
    assert big.exit_code == 0, big.output
    assert json.loads(big.stdout)["streamed"] is True
    small = invoke("filter", tmp_path / "a.npy", "-k", "box:3", "-o", tmp_path / "d.npy")
    assert small.exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), np.load(tmp_path / "d.npy"))


def test_features_reads_a_store(tmp_path):
    x = volume((5, 12, 14), dtype=np.uint8, high=100) + 100
    make_store(tmp_path / "v.zarr", x, (2, 5, 7))
    np.save(tmp_path / "v.npy", x)
    for name in ("v.zarr", "v.npy"):
        res = invoke(
            "features", tmp_path / name, "-k", "sobel:axis=0", "-k", "box:3", "-o",
            tmp_path / f"maps-{name}",
        )  # fmt: skip
        assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(
        np.load(tmp_path / "maps-v.zarr" / "maps.npy"),
        np.load(tmp_path / "maps-v.npy" / "maps.npy"),
    )


# --------------------------------------------------------------------------- chunk by chunk


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    mode=st.sampled_from(PAD_MODES),
    stride=st.sampled_from(["1", "2", "1,3,2"]),
    dilation=st.sampled_from(["1", "2", "3,1,2"]),
    padding=st.sampled_from(["same", "valid", "full", "2", "1:3,0:2,4:0"]),
    kernel=st.sampled_from(["box:3", "[1 -2; 3 4]", "box:5", "sobel:axis=0"]),
    chunks=st.sampled_from([(3, 4, 5), (1, 13, 2), (4, 1, 11), (10, 13, 11), (7, 6, 3)]),
    seed=st.integers(0, 3),
)
def test_chunked_equals_in_memory_for_every_geometry(
    tmp_path_factory, mode, stride, dilation, padding, kernel, chunks, seed
):
    """Every pad mode, stride, dilation and padding; halos deeper than a chunk; uneven chunks."""
    tmp_path = tmp_path_factory.mktemp("geometry")
    x = volume(seed=seed)
    k = kernel if not kernel.startswith("box") else f"[{' '.join(['1'] * int(kernel[4:]))}]"
    args = ["-k", k, "--pad-mode", mode, "--pad-value", "3", "--stride", stride]
    args += ["--dilation", dilation, "--padding", padding, "--method", "direct"]
    chunked, memory, record = both(tmp_path, x, chunks, *args)
    np.testing.assert_array_equal(chunked, memory)
    assert record["shape_out"] == list(memory.shape)
    assert temporaries(tmp_path) == []


def test_a_chain_with_post_processing_equals_in_memory(tmp_path):
    x = volume((9, 12, 10), dtype=np.uint8, high=100) + 100
    args = ["-k", "[1 2 1]", "-k", "sobel:axis=1", "--abs", "--scale", "0.5", "--bias", "3"]
    args += ["--pad-mode", "symmetric", "--stride", "2", "--method", "direct"]
    chunked, memory, record = both(tmp_path, x, (2, 5, 3), *args)
    np.testing.assert_array_equal(chunked, memory)
    assert record["kernels"] == [[1, 1, 3], [3, 3, 3]] and len(record["plans"]) == 2
    assert record["clipped"] > 0  # clipped in many blocks, summed
    ref = json.loads(invoke("filter", tmp_path / "a.npy", *args, "-o", tmp_path / "r.npy",
                            "--json").stdout)  # fmt: skip
    assert record["clipped"] == ref["clipped"] and record["pads"] == ref["pads"]
    assert temporaries(tmp_path) == []


def test_rescale_takes_the_whole_results_range_first(tmp_path):
    x = volume((8, 9, 10), dtype=np.uint16, high=300) + 300
    args = ["-k", "laplacian", "--rescale", "--method", "direct", "--pad-mode", "circular"]
    chunked, memory, _ = both(tmp_path, x, (3, 4, 4), *args)
    np.testing.assert_array_equal(chunked, memory)
    assert chunked.min() == 0 and chunked.max() == 65535  # not each block's own range
    assert temporaries(tmp_path) == []


def test_nan_and_inf_are_counted_and_kept(tmp_path):
    x = volume((6, 8, 9), dtype=np.float32)
    x[2, 3, 4], x[5, 0, 0] = np.nan, np.inf
    chunked, memory, record = both(tmp_path, x, (2, 3, 4), "-k", "[1 1 1]", "--method", "direct")
    np.testing.assert_array_equal(chunked, memory)  # NaN where the windows cover them
    assert record["nonfinite"] == 2 and record["clipped"] == 0
    res = invoke("filter", tmp_path / "a.zarr", "-k", "[1 1 1]", "--dtype", "int16", "-o",
                 tmp_path / "i.zarr")  # fmt: skip
    assert "NaN/Inf" in assert_one_error_line(res, 1)
    assert not (tmp_path / "i.zarr").exists() and temporaries(tmp_path) == []


def test_the_form_is_kept_chunks_compressor_attributes(tmp_path):
    from zarr.codecs import BloscCodec

    x = volume((8, 12, 10), dtype=np.uint16, high=1000) + 1000
    codec = BloscCodec(cname="lz4", clevel=3)
    make_store(tmp_path / "v.zarr", x, (4, 6, 5), compressors=codec, attributes={"scan": 7})
    res = invoke("filter", tmp_path / "v.zarr", "-k", "box:3", "--stride", "2", "-o",
                 tmp_path / "o.zarr")  # fmt: skip
    assert res.exit_code == 0, res.output
    out = zarr.open_array(str(tmp_path / "o.zarr"))
    assert out.chunks == (2, 3, 3) and out.attrs.asdict() == {"scan": 7}
    assert out.compressors[0].cname.value == "lz4" and out.dtype == np.uint16


def test_an_ome_volume_is_a_volume_reflect_by_default(tmp_path):
    x = volume((2, 6, 8, 10), dtype=np.uint8, high=100) + 100
    axes = [{"name": "c", "type": "channel"}] + [
        {"name": n, "type": "space"} for n in ("z", "y", "x")
    ]
    transforms = [{"type": "scale", "scale": [1.0, 2.0, 0.5, 0.5]}]
    attrs = {
        "ome": {
            "version": "0.5",
            "multiscales": [{"axes": axes, "datasets": [{"path": "0",
                             "coordinateTransformations": transforms}]}],
        }
    }  # fmt: skip
    g = zarr.open_group(str(tmp_path / "img.zarr"), mode="w", attributes=attrs)
    g.create_array("0", shape=x.shape, dtype=x.dtype, chunks=(1, 3, 4, 5))[...] = x
    info = json.loads(invoke("info", tmp_path / "img.zarr", "--json").stdout)
    assert (info["kind"], info["channels"], info["planes"]) == ("volume", 2, 6)
    res = invoke("filter", tmp_path / "img.zarr", "-k", "[1 2 1]", "--method", "direct",
                 "-o", tmp_path / "o.zarr", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "(reflect)" in json.loads(res.stdout)["plans"][0]
    import convcli

    want = convcli.convolve(x, [[[1, 2, 1]]], pad_mode="reflect", channel_axis=0)
    got = zarr.open_group(str(tmp_path / "o.zarr"))["0"][...]
    np.testing.assert_array_equal(got, np.clip(np.round(want), 0, 255).astype(np.uint8))


def test_a_chunk_larger_than_the_budget_is_refused_in_one_line(tmp_path):
    make_store(tmp_path / "v.zarr", volume((16, 16, 16)), (16, 16, 16))
    res = invoke("filter", tmp_path / "v.zarr", "-k", "box:3", "-o", tmp_path / "o.zarr",
                 "--max-memory", "20K")  # fmt: skip
    line = assert_one_error_line(res, 1)
    assert "16x16x16 chunks: one block needs about" in line and "--max-memory" in line
    assert os.listdir(tmp_path) == ["v.zarr"]


def test_dry_run_plans_a_store_from_its_metadata(tmp_path):
    make_store(tmp_path / "v.zarr", volume(), (4, 5, 6))
    res = invoke("filter", tmp_path / "v.zarr", "-k", "box:3", "--stride", "2", "-o",
                 tmp_path / "o.zarr", "--dry-run", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["shape_out"] == [5, 7, 6]
    assert not (tmp_path / "o.zarr").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("-k", "box:3", "--normalized"),
        ("-k", "bilinear:2", "--transposed", "--stride", "2"),
        ("-k", "[1 2 1 2]/6", "--compat", "scipy"),
        ("-k", "box:3", "--rounding", "half-up", "--dtype", "int16"),
    ],
    ids=["normalized", "transposed", "compat", "rounding"],
)
def test_an_operation_of_its_own_goes_the_in_memory_route(tmp_path, args):
    """Not chunk by chunk (the chunked route is a plain correlation): the .npy's numbers."""
    x = volume(shape=(12, 9), dtype=np.float32).astype(np.float32) / 7
    if "--normalized" in args:
        x[4, 4] = np.nan  # a hole the neighbours fill
    store = make_store(tmp_path / "a.zarr", x, (5, 4))
    np.save(tmp_path / "a.npy", x)
    res_z = invoke("filter", store, *args, "-o", tmp_path / "out.zarr", "--json", "-q")
    res_n = invoke("filter", tmp_path / "a.npy", *args, "-o", tmp_path / "out.npy", "-q")
    assert res_z.exit_code == 0, res_z.output
    assert res_n.exit_code == 0, res_n.output
    assert not json.loads(res_z.stdout).get("chunked")
    got = zarr.open_array(str(tmp_path / "out.zarr"))[...]
    np.testing.assert_array_equal(got, np.load(tmp_path / "out.npy"))
