"""Audio: every subtype and channel count round-trips sample for sample; clipping is counted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from convcli.errors import SignalReadError, UnsupportedError
from convcli.io import Form, Signal, cast, load, output_dtype, probe, save

RATE = 8000
FRAMES = 300
BITS = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
EXT = {"WAV": ".wav", "FLAC": ".flac", "AIFF": ".aiff", "OGG": ".ogg"}
CASES = [
    ("WAV", "PCM_U8"),
    ("WAV", "PCM_16"),
    ("WAV", "PCM_24"),
    ("WAV", "PCM_32"),
    ("WAV", "FLOAT"),
    ("WAV", "DOUBLE"),
    ("FLAC", "PCM_S8"),
    ("FLAC", "PCM_16"),
    ("FLAC", "PCM_24"),
    ("AIFF", "PCM_S8"),
    ("AIFF", "PCM_U8"),
    ("AIFF", "PCM_16"),
    ("AIFF", "PCM_24"),
    ("AIFF", "PCM_32"),
    ("AIFF", "FLOAT"),
    ("AIFF", "DOUBLE"),
]


def write_fixture(path: Path, fmt: str, subtype: str, channels: int, seed: int = 0) -> None:
    """Full-scale samples, both extremes included, written exactly."""
    rng = np.random.default_rng(seed)
    if subtype in BITS:
        bits = BITS[subtype]
        v = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (FRAMES, channels))
        v[0], v[1] = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        container = np.int16 if bits <= 16 else np.int32
        shift = np.iinfo(container).bits - bits
        data: np.ndarray = (v * 2**shift).astype(container)
    else:
        data = rng.uniform(-1, 1, (FRAMES, channels))
        data[0], data[1] = -1.0, 1.0
        data[2] = 1.5  # float files hold values beyond full scale
        data = data.astype(np.float32 if subtype == "FLOAT" else np.float64)
    sf.write(path, data, RATE, subtype=subtype, format=fmt)


def samples(path: Path) -> np.ndarray:
    info = sf.info(str(path))
    dtype = "float64" if info.subtype in ("FLOAT", "DOUBLE") else "int32"
    data, _ = sf.read(str(path), dtype=dtype, always_2d=True)
    return data


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize(("fmt", "subtype"), CASES)
def test_roundtrip_sample_exact(tmp_path: Path, fmt: str, subtype: str, channels: int) -> None:
    src = tmp_path / f"in{EXT[fmt]}"
    write_fixture(src, fmt, subtype, channels)
    s = load(src)
    assert s.kind == "audio"
    assert s.channel_axis == 1
    assert s.data.shape == (FRAMES, channels)
    assert s.rate == RATE
    assert s.form.subtype == subtype
    assert s.data.dtype == (np.float64 if subtype in ("DOUBLE", "PCM_32") else np.float32)
    out = tmp_path / f"out{EXT[fmt]}"
    dtype = output_dtype(s, out)
    data, clipped = cast(s.data, dtype, audio_subtype=s.form.subtype)
    assert clipped == 0
    save(replace(s, data=data), out, protect=[src])
    info = sf.info(str(out))
    assert (info.subtype, info.channels, info.samplerate) == (subtype, channels, RATE)
    np.testing.assert_array_equal(samples(out), samples(src))


@pytest.mark.parametrize(("fmt", "subtype"), [c for c in CASES if c[1] in BITS])
def test_loaded_values_are_soundfile_scaling(tmp_path: Path, fmt: str, subtype: str) -> None:
    src = tmp_path / f"in{EXT[fmt]}"
    write_fixture(src, fmt, subtype, 2)
    s = load(src)
    ref, _ = sf.read(str(src), dtype="float64", always_2d=True)
    np.testing.assert_array_equal(s.data.astype(np.float64), ref)
    assert s.data.min() == -1.0
    assert s.data.max() == 1.0 - 2.0 ** (1 - BITS[subtype])


def test_ogg_vorbis(tmp_path: Path) -> None:
    t = np.arange(4000) / RATE
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    src = tmp_path / "in.ogg"
    sf.write(src, np.stack([tone, -tone], 1), RATE, format="OGG", subtype="VORBIS")
    s = load(src)
    assert s.form.subtype == "VORBIS" and s.data.dtype == np.float32
    out = tmp_path / "out.ogg"
    assert output_dtype(s, out) == np.float32
    save(s, out)
    info = sf.info(str(out))
    assert (info.subtype, info.channels, info.samplerate) == ("VORBIS", 2, RATE)
    back = load(out).data
    assert abs(back.shape[0] - s.data.shape[0]) < 64
    n = min(back.shape[0], s.data.shape[0])
    assert np.corrcoef(back[:n, 0], s.data[:n, 0])[0, 1] > 0.99
    with pytest.raises(UnsupportedError, match="OGG cannot hold int16"):
        output_dtype(s, out, "int16")


@pytest.mark.parametrize(
    ("subtype", "dtype", "lo", "hi"),
    [
        ("PCM_16", "int16", -32768, 32767),
        ("PCM_24", "int32", -(2**23) * 256, (2**23 - 1) * 256),
        ("PCM_32", "int32", -(2**31), 2**31 - 1),
        ("PCM_U8", "uint8", 0, 255),
        ("PCM_S8", "int16", -128 * 256, 127 * 256),
    ],
)
def test_clipping_counted_never_wrapping(subtype: str, dtype: str, lo: int, hi: int) -> None:
    x = np.array([[1.5], [-1.5], [1.0], [-1.0], [0.25], [np.nan], [50.0]])
    out, clipped = cast(x, dtype, audio_subtype=subtype)
    assert out.dtype == np.dtype(dtype)
    assert clipped == 5  # 1.5, -1.5, 1.0 (one step over), 50 and NaN; -1.0 is full scale
    assert out[0, 0] == hi and out[1, 0] == lo and out[6, 0] == hi
    assert out[3, 0] == lo
    mid = 128 if dtype == "uint8" else 0
    assert out[5, 0] == mid


def test_one_is_clipped_by_one_step() -> None:
    out, clipped = cast(np.array([[1.0]]), "int16", audio_subtype="PCM_16")
    assert (out[0, 0], clipped) == (32767, 1)


def test_clipped_result_written_is_saturated(tmp_path: Path) -> None:
    s = Signal(
        np.array([[0.9], [1.7], [-3.0]], np.float32),
        "audio",
        1,
        rate=RATE,
        form=Form(subtype="PCM_16", dtype="int16", format="WAV"),
    )
    data, clipped = cast(s.data, output_dtype(s, tmp_path / "c.wav"), audio_subtype="PCM_16")
    assert clipped == 2
    save(replace(s, data=data), tmp_path / "c.wav")
    back, _ = sf.read(str(tmp_path / "c.wav"), dtype="int16")
    assert back.tolist() == [round(0.9 * 32768), 32767, -32768]


def test_dtype_changes_the_subtype(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    write_fixture(src, "WAV", "PCM_24", 2)
    s = load(src)
    for requested, subtype in [("int16", "PCM_16"), ("float32", "FLOAT"), ("uint8", "PCM_U8")]:
        out = tmp_path / f"{requested}.wav"
        dtype = output_dtype(s, out, requested)
        data, _ = cast(s.data, dtype, audio_subtype=s.form.subtype)
        save(replace(s, data=data), out)
        assert sf.info(str(out)).subtype == subtype
        back = load(out).data
        step = 2.0 ** (1 - {"int16": 16, "float32": 24, "uint8": 8}[requested])
        assert np.abs(back - s.data).max() <= step


@pytest.mark.parametrize(
    ("subtype", "expected", "written"),
    [("FLOAT", "int32", "PCM_24"), ("PCM_32", "int32", "PCM_24"), ("PCM_U8", "int16", "PCM_16")],
)
def test_flac_auto_dtype(tmp_path: Path, subtype: str, expected: str, written: str) -> None:
    src = tmp_path / "in.wav"
    write_fixture(src, "WAV", subtype, 1)
    s = load(src)
    out = tmp_path / "out.flac"
    dtype = output_dtype(s, out)
    assert dtype == np.dtype(expected)
    data, clipped = cast(s.data, dtype, audio_subtype=s.form.subtype)
    save(replace(s, data=data), out)
    assert sf.info(str(out)).subtype == written
    back = load(out).data
    if subtype == "FLOAT":
        assert clipped == 2  # 1.0 and 1.5
        inside = np.abs(s.data) < 1
        assert np.abs(back - s.data)[inside].max() <= 2.0**-23
    else:
        assert np.abs(back - s.data).max() <= 2.0**-23


def test_flac_refuses_float_and_many_channels(tmp_path: Path) -> None:
    s = Signal(np.zeros((10, 9), np.int16), "audio", 1, rate=RATE)
    with pytest.raises(UnsupportedError, match="FLAC cannot hold float32"):
        output_dtype(s, tmp_path / "x.flac", "float32")
    with pytest.raises(UnsupportedError, match="at most 8 channels"):
        save(s, tmp_path / "x.flac")
    with pytest.raises(UnsupportedError, match="WAV cannot hold uint16"):
        output_dtype(s, tmp_path / "x.wav", "uint16")


def test_rate_is_kept_and_checked(tmp_path: Path) -> None:
    s = Signal(np.zeros((10, 1), np.float32), "audio", 1, rate=22050.0)
    save(s, tmp_path / "a.wav")
    assert sf.info(str(tmp_path / "a.wav")).samplerate == 22050
    with pytest.raises(UnsupportedError, match="not a whole number"):
        save(replace(s, rate=14700.5), tmp_path / "b.wav")
    with pytest.raises(UnsupportedError, match="needs a sample rate"):
        save(replace(s, rate=None), tmp_path / "c.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_audio_to_npy_holds_full_scale_integers(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    write_fixture(src, "WAV", "PCM_16", 2)
    s = load(src)
    out = tmp_path / "a.npy"
    dtype = output_dtype(s, out)
    assert dtype == np.int16
    data, _ = cast(s.data, dtype, audio_subtype=s.form.subtype)
    save(replace(s, data=data), out)
    ref, _ = sf.read(str(src), dtype="int16", always_2d=True)
    np.testing.assert_array_equal(np.load(out), ref)
    back = load(out, "audio")
    np.testing.assert_array_equal(back.data, s.data)
    assert back.rate is None and back.form.subtype == "PCM_16"


def test_audio_kind_errors(tmp_path: Path) -> None:
    src = tmp_path / "in.flac"
    write_fixture(src, "FLAC", "PCM_16", 1)
    with pytest.raises(SignalReadError, match="is audio"):
        load(src, "image")
    a = load(src, "array")
    assert a.kind == "array" and a.channel_axis is None and a.data.shape == (FRAMES, 1)
    s = load(src)
    with pytest.raises(UnsupportedError, match="audio cannot be written as PNG"):
        output_dtype(s, tmp_path / "x.png")


def test_broken_audio(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(SignalReadError) as info:
        load(bad)
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)
    with pytest.raises(SignalReadError):
        probe(bad)


def test_probe_audio(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    write_fixture(src, "WAV", "PCM_24", 6)
    info = probe(src)
    assert info["kind"] == "audio"
    assert info["shape"] == [FRAMES, 6]
    assert info["channels"] == 6
    assert info["rate"] == RATE
    assert info["subtype"] == "PCM_24"
    assert info["bits"] == 24
    assert info["frames"] == FRAMES
    assert info["duration"] == pytest.approx(FRAMES / RATE)
    assert info["dtype"] == "float32"
    assert info["planes"] is None


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "AIFF"])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24"])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_read_frames_equals_libsndfile_float_read(tmp_path, fmt, subtype, channels):
    """The integer-then-scale read gives libsndfile's float32 samples bit for bit."""
    from convcli.io.sndfile_audio import read_frames

    rng = np.random.default_rng(channels)
    full = 2**15 if subtype == "PCM_16" else 2**31
    n = 3 * (1 << 16) + 7  # several blocks and a partial one
    ints = rng.integers(-full, full, (n, channels), dtype=np.int64)
    ints[:3], ints[3:6] = -full, full - 1  # the extremes
    dtype = "int16" if subtype == "PCM_16" else "int32"
    if dtype == "int32":
        ints &= ~0xFF  # 24 bits, left-justified
    path = tmp_path / f"t{EXT[fmt]}"
    sf.write(path, ints.astype(dtype), RATE, subtype=subtype, format=fmt)
    with sf.SoundFile(path) as f:
        want = f.read(dtype="float32", always_2d=True)
    with sf.SoundFile(path) as f:
        got = read_frames(f, f.frames, "float32")
    with sf.SoundFile(path) as f:
        f.seek(1000)
        tail = read_frames(f, n, "float32")  # asks for more than is left
    assert got.dtype == np.float32 and got.shape == (n, channels)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(tail, want[1000:])
