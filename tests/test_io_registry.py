"""The table of format families (convcli.io.registry) and what io asks it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import convcli
from convcli.errors import MissingExtraError, SignalReadError, UnsupportedError
from convcli.io import Form, Signal, identify_file, load, output_dtype, probe, registry, save


def test_every_row_names_a_module_with_load_probe_and_save():
    for row in registry.families():
        for name in ("load", "probe", "save"):
            assert callable(row.function(name)), (row.name, name)
        for fmt in row.writes:
            if fmt.blocks:
                assert callable(row.function("open_writer")), (row.name, fmt.name)


def test_a_format_named_explicitly_wins_over_the_extension(tmp_path: Path):
    planes = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = save(Signal(planes, "volume"), tmp_path / "maps-1.5", format="folder")
    assert sorted(p.name for p in out.iterdir()) == ["slice_0000.png", "slice_0001.png"]
    np.testing.assert_array_equal(load(out).data, planes)
    with pytest.raises(UnsupportedError, match="unknown output extension '.5'"):
        save(Signal(planes, "volume"), tmp_path / "other-1.5")
    with pytest.raises(UnsupportedError, match="format 'BOGUS' is not one of folder, PNG"):
        save(Signal(planes, "volume"), tmp_path / "x", format="BOGUS")


def test_an_encoding_is_libsndfiles_conversion_and_only_where_the_format_has_it(tmp_path):
    x = np.linspace(-0.9, 0.9, 101)[:, None]
    out = save(Signal(x, "audio", 1, rate=8000.0), tmp_path / "a.wav", encoding="PCM_16")
    assert sf.info(out).subtype == "PCM_16"
    with open(tmp_path / "b.wav", "wb") as fh:  # what soundfile writes of the same floats
        sf.write(fh, x[:, 0], 8000, subtype="PCM_16", format="WAV")
    assert out.read_bytes() == (tmp_path / "b.wav").read_bytes()
    with pytest.raises(UnsupportedError, match="PNG is not written as PCM_16"):
        save(Signal(np.zeros((2, 2), np.uint8), "image"), tmp_path / "c.png", encoding="PCM_16")


def test_a_palette_writes_gray_levels_as_indexed_colour(tmp_path: Path):
    lut = np.stack([np.arange(256), 255 - np.arange(256), np.zeros(256)], axis=1)
    levels = np.array([[0, 255], [128, 7]], np.uint8)
    out = save(Signal(levels, "image", form=Form(info={"palette": lut})), tmp_path / "p.png")
    with Image.open(out) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), levels)
        assert im.getpalette()[3 * 255 : 3 * 256] == [255, 0, 0]


# ----------------------------------------------------------------------------- a new format


@pytest.fixture
def toy():
    """The toy family's one row, in the table for one test (tests/toy_format.py is its module)."""
    import toy_format

    with registry.registered(toy_format.ROW):
        yield toy_format


def _toy_file(path: Path, data: np.ndarray) -> Path:
    import json

    head = json.dumps({"shape": list(data.shape), "dtype": data.dtype.name}).encode()
    path.write_bytes(b"TOY1\n" + head + b"\n" + np.ascontiguousarray(data).tobytes())
    return path


def test_without_its_row_a_toy_file_is_not_read(tmp_path):
    path = _toy_file(tmp_path / "a.toy", np.zeros((3, 4), np.float32))
    with pytest.raises(SignalReadError, match="not a format convcli reads"):
        load(path)


def test_a_new_format_is_one_module_and_one_row_load_save_probe(tmp_path, toy):
    data = np.random.default_rng(0).standard_normal((30, 7)).astype(np.float32)
    path = _toy_file(tmp_path / "a.toy", data)
    assert identify_file(path) == ("toy", "TOY")
    info = probe(path)
    assert (info["kind"], info["format"], info["shape"], info["dtype"]) == (
        "array",
        "TOY",
        [30, 7],
        "float32",
    )
    sig = load(path)
    np.testing.assert_array_equal(sig.data, data)
    out = save(sig, tmp_path / "b.toy")
    assert out.read_bytes() == path.read_bytes()
    assert output_dtype(sig, tmp_path / "c.toy", "float64") == np.float64
    with pytest.raises(UnsupportedError, match="TOY cannot hold uint8: it holds float32"):
        output_dtype(sig, tmp_path / "c.toy", "uint8")
    with pytest.raises(UnsupportedError, match="an image cannot be written as TOY"):
        save(Signal(np.zeros((2, 2), np.uint8), "image"), tmp_path / "d.toy")
    with pytest.raises(SignalReadError, match=r"the content is TOY but the extension \.npy says"):
        load(_toy_file(tmp_path / "e.npy", data))


def test_a_new_format_works_in_info_and_filter_in_memory_and_slab_by_slab(tmp_path, toy):
    import json

    from conftest import invoke

    data = np.random.default_rng(1).standard_normal((200, 9)).astype(np.float32)
    path = _toy_file(tmp_path / "a.toy", data)
    res = invoke("info", path, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["format"] == "TOY"
    expected = convcli.convolve(data, np.full((3, 3), 1 / 9), pad_mode="zero")
    for extra, streamed in (([], False), (["--max-memory", "1"], True)):
        out = tmp_path / f"out{len(extra)}.toy"
        res = invoke("filter", path, "-k", "box:3", "-o", out, "--json", *extra)
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout).get("streamed", False) is streamed
        np.testing.assert_allclose(load(out).data, expected, rtol=1e-6, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.toy", "out0.toy", "out2.toy"]


def test_a_format_whose_extra_is_missing_is_one_line_naming_the_extra(tmp_path):
    row = registry.Family(
        name="fakevideo",
        module="convcli_fake_video_module",
        noun="a fake video",
        plural="videos",
        takes=("volume",),
        reads=(registry.ReadFormat("FAKEV", "FAKEV", (registry.Magic((0, b"FAKEV")),), (".fv",)),),
        writes=(registry.WriteFormat("FAKEV", (".fv",)),),
        extra="video",
        requires=("convcli_no_such_module",),
    )
    from conftest import assert_one_error_line, invoke

    path = tmp_path / "clip.fv"
    path.write_bytes(b"FAKEV" + bytes(64))
    want = (
        f"{path}: FAKEV needs the optional 'video' extra (convcli_no_such_module is not "
        "installed): pip install 'convcli[video]'"
    )
    with registry.registered(row):
        with pytest.raises(MissingExtraError) as caught:
            load(path)
        assert str(caught.value) == want and isinstance(caught.value, ImportError)
        for command in (["info", path], ["filter", path, "-k", "box", "-o", tmp_path / "o.npy"]):
            line = assert_one_error_line(invoke(*command), 1)
            assert line == f"convcli: error: {want}"
        line = assert_one_error_line(
            invoke("filter", tmp_path / "x.png", "-k", "box", "-o", path), 1
        )
        assert "needs the optional 'video' extra" in line or "does not exist" in line
