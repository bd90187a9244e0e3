""".npy arrays: loaded as stored (no pickles), forced kinds, written back; the import is light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convcli.errors import ArgumentError, SignalReadError, UnsupportedError
from convcli.io import Signal, load, output_dtype, probe, save


@pytest.mark.parametrize(
    "dtype", ["uint8", "int16", "uint16", "int32", "int64", "float32", "float64"]
)
def test_npy_as_stored(tmp_path: Path, dtype: str) -> None:
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    np.save(tmp_path / "a.npy", data)
    s = load(tmp_path / "a.npy")
    assert s.kind == "array" and s.channel_axis is None and s.spatial_ndim == 3
    assert s.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(s.data, data)
    assert s.form.container == "npy" and s.form.dtype == dtype
    out = tmp_path / "b.npy"
    assert output_dtype(s, out) == np.dtype(dtype)
    save(s, out)
    back = np.load(out)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, data)


def test_npy_big_endian_and_bool(tmp_path: Path) -> None:
    np.save(tmp_path / "be.npy", np.arange(6, dtype=">i4").reshape(2, 3))
    s = load(tmp_path / "be.npy")
    assert s.data.dtype == np.int32 and s.data.dtype.isnative
    assert s.data.tolist() == [[0, 1, 2], [3, 4, 5]]
    np.save(tmp_path / "b.npy", np.array([[True, False]]))
    assert load(tmp_path / "b.npy").data.tolist() == [[1, 0]]


def test_pickled_npy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(SignalReadError, match="Python objects") as info:
        load(path)
    assert str(info.value).startswith(str(path))
    with pytest.raises(SignalReadError, match="Python objects"):
        probe(path)


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["a", "b"])])
def test_non_numeric_npy_is_refused(tmp_path: Path, bad: np.ndarray) -> None:
    np.save(tmp_path / "x.npy", bad)
    with pytest.raises(SignalReadError, match="not a real number type"):
        load(tmp_path / "x.npy")


def test_npz_and_garbage_npy(tmp_path: Path) -> None:
    np.savez(tmp_path / "z.npz", a=np.zeros(3))
    with pytest.raises(SignalReadError):
        load(tmp_path / "z.npz")
    (tmp_path / "g.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(SignalReadError, match="cannot read .npy"):
        load(tmp_path / "g.npy")


def test_forced_kinds(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    np.save(tmp_path / "rgb.npy", rgb)
    im = load(tmp_path / "rgb.npy", "image")
    assert im.kind == "image" and im.channel_axis == 2 and im.form.mode == "RGB"
    save(im, tmp_path / "rgb.png")
    np.testing.assert_array_equal(load(tmp_path / "rgb.png").data, rgb)
    g = load(tmp_path / "rgb.npy", "image", gray=True)
    assert g.data.shape == (4, 5) and g.channel_axis is None
    vol = load(tmp_path / "rgb.npy", "volume")
    assert vol.kind == "volume" and vol.channel_axis is None and vol.data.shape == (4, 5, 3)
    with pytest.raises(SignalReadError, match="cannot be read as audio"):
        load(tmp_path / "rgb.npy", "audio")
    np.save(tmp_path / "one.npy", np.zeros(5))
    with pytest.raises(SignalReadError, match="cannot be read as image"):
        load(tmp_path / "one.npy", "image")
    with pytest.raises(SignalReadError, match="cannot be read as volume"):
        load(tmp_path / "one.npy", "volume")
    with pytest.raises(ArgumentError, match="kind 'bogus'"):
        load(tmp_path / "one.npy", "bogus")


@pytest.mark.parametrize(
    ("dtype", "values", "expected", "subtype"),
    [
        ("int16", [-32768, 16384], [-1.0, 0.5], "PCM_16"),
        ("int8", [-128, 64], [-1.0, 0.5], "PCM_S8"),
        ("uint8", [0, 192], [-1.0, 0.5], "PCM_U8"),
        ("int32", [-(2**31), 2**30], [-1.0, 0.5], "PCM_32"),
        ("float32", [-0.25, 2.0], [-0.25, 2.0], "FLOAT"),
        ("float64", [-0.25, 2.0], [-0.25, 2.0], "DOUBLE"),
    ],
)
def test_npy_as_audio(
    tmp_path: Path, dtype: str, values: list, expected: list, subtype: str
) -> None:
    np.save(tmp_path / "a.npy", np.array(values, dtype))
    s = load(tmp_path / "a.npy", "audio")
    assert s.kind == "audio" and s.channel_axis == 1 and s.rate is None
    assert s.data.shape == (2, 1)
    assert s.data[:, 0].tolist() == expected
    assert s.form.subtype == subtype
    with pytest.raises(UnsupportedError, match="needs a sample rate"):
        save(s, tmp_path / "a.wav")
    np.save(tmp_path / "u16.npy", np.zeros(3, np.uint16))
    with pytest.raises(SignalReadError, match="uint16 samples"):
        load(tmp_path / "u16.npy", "audio")


def test_array_outputs(tmp_path: Path) -> None:
    a2 = Signal(np.zeros((3, 4), np.uint16), "array")
    save(a2, tmp_path / "a.png")
    assert load(tmp_path / "a.png").data.dtype == np.uint16
    a3 = Signal(np.zeros((3, 4, 5), np.float32), "array")
    with pytest.raises(UnsupportedError, match="kind='image' \\(channels last\\) or kind='volume'"):
        save(a3, tmp_path / "a.tif")
    with pytest.raises(UnsupportedError, match="read it with kind='audio'"):
        output_dtype(Signal(np.zeros((3, 2)), "array"), tmp_path / "a.wav")
    with pytest.raises(UnsupportedError, match="has no extension"):
        save(a2, tmp_path / "noext")
    with pytest.raises(UnsupportedError, match="unknown output extension"):
        save(a2, tmp_path / "x.xyz")


def test_probe_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 3, 4), ">f4"))
    info = probe(tmp_path / "a.npy")
    assert info["kind"] == "array"
    assert info["shape"] == [2, 3, 4]
    assert info["dtype"] == "float32"
    assert info["container"] == "npy"
    assert info["channels"] is None and info["rate"] is None
    assert info["path"] == str(tmp_path / "a.npy")


def test_import_is_light() -> None:
    code = (
        "import sys, convcli.io; "
        "heavy = [m for m in ('PIL', 'soundfile') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_probe_with_a_forced_kind(tmp_path: Path) -> None:
    np.save(tmp_path / "rgb.npy", np.zeros((4, 5, 3), np.uint8))
    info = probe(tmp_path / "rgb.npy", "image")
    assert info["kind"] == "image"
    assert info["shape"] == [4, 5, 3]
    assert info["channels"] == 3
    assert info["mode"] == "RGB"
    np.save(tmp_path / "mono.npy", np.zeros(80, np.int16))
    info = probe(tmp_path / "mono.npy", "audio")
    assert info["kind"] == "audio" and info["shape"] == [80, 1] and info["frames"] == 80
    assert info["rate"] is None and info["duration"] is None and info["subtype"] == "PCM_16"
    assert probe(tmp_path / "rgb.npy", "array")["channels"] is None
    with pytest.raises(SignalReadError):
        probe(tmp_path / "mono.npy", "image")
    with pytest.raises(ArgumentError):
        probe(tmp_path / "mono.npy", "sound")
