"""Every audio format of the table: identified by content, filtered, kept, sized and refused.

Each format is written by soundfile from a seeded signal, filtered through the real CLI with
an identity kernel and a small FIR, and read back with soundfile: the output keeps the
format and subtype, and its samples are the reference computed with numpy on what soundfile
decodes from the input (lossless: to the last bit of the stored subtype; MP3: identical to
soundfile encoding that reference with convcli's settings, within float rounding for the
FIR).  Then what each output format holds, and what it refuses.  RF64 past 4 GiB is
``test_io_audio_rf64.py``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import assert_one_error_line, invoke, leftovers

from convcli.errors import SignalReadError, UnsupportedError
from convcli.io import Signal, identify_file, load, registry, save
from convcli.io.audio_headers import claimed_frames
from convcli.io.content import refused_name
from convcli.io.mpeg import parse_header
from convcli.io.sndfile_audio import (
    MP3_SETTINGS,
    AudioFileSource,
)

needs_mp3 = pytest.mark.skipif(
    "MP3" not in sf.available_formats(), reason="libsndfile built without MP3"
)

#: (format, subtype, extension, channels, rate): one file of each format convcli now reads.
FORMATS = [
    ("W64", "PCM_24", ".w64", 2, 8000),
    ("RF64", "PCM_16", ".rf64", 2, 8000),
    ("CAF", "PCM_16", ".caf", 2, 8000),
    ("CAF", "FLOAT", ".caf", 1, 8000),
    ("AU", "PCM_24", ".au", 2, 8000),
    ("AU", "ULAW", ".snd", 1, 8000),
    ("IRCAM", "PCM_16", ".sf", 2, 8000),
    ("NIST", "PCM_16", ".sph", 2, 8000),
    ("VOC", "PCM_16", ".voc", 2, 8000),
    ("PAF", "PCM_24", ".paf", 2, 8000),
    ("SVX", "PCM_16", ".iff", 1, 8000),
    ("PVF", "PCM_32", ".pvf", 2, 8000),
    ("AVR", "PCM_U8", ".avr", 2, 8000),
    ("WVE", "ALAW", ".wve", 1, 8000),
    ("AIFF", "FLOAT", ".aifc", 2, 8000),
    pytest.param("MP3", "MPEG_LAYER_III", ".mp3", 2, 22050, marks=needs_mp3),
    pytest.param("MP3", "MPEG_LAYER_III", ".mp3", 1, 44100, marks=needs_mp3),
]
IDS = [f"{p[0]}-{p[1]}-{p[3]}ch" for p in (getattr(f, "values", f) for f in FORMATS)]
FRAMES = 3000
BITS = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
FIR = np.array([0.25, 0.5, 0.25])


def _signal(channels: int, rate: int, seed: int = 0) -> np.ndarray:
    t = np.arange(FRAMES) / rate
    tones = [0.4 * np.sin(2 * np.pi * (440 + 110 * c) * t + c) for c in range(channels)]
    noise = np.random.default_rng(seed).normal(0.0, 0.01, (FRAMES, channels))
    return np.stack(tones, 1) + noise


def _write(path: Path, data: np.ndarray, rate: int, fmt: str, subtype: str) -> Path:
    settings = MP3_SETTINGS if fmt == "MP3" else {}
    sf.write(path, data, rate, format=fmt, subtype=subtype, **settings)
    return path


def _decoded(path: Path) -> np.ndarray:
    info = sf.info(str(path))
    dtype = "float64" if info.subtype in ("DOUBLE", "PCM_32") else "float32"
    return sf.read(str(path), dtype=dtype, always_2d=True)[0]


def _correlate(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``same`` correlation with zero padding (audio's default), float64, per channel."""
    x = x.astype(np.float64)
    return np.stack([np.convolve(x[:, c], kernel[::-1], "same") for c in range(x.shape[1])], 1)


@pytest.mark.parametrize(("fmt", "subtype", "ext", "channels", "rate"), FORMATS, ids=IDS)
def test_each_format_is_identified_by_its_content(tmp_path, fmt, subtype, ext, channels, rate):
    path = _write(tmp_path / f"a{ext}", _signal(channels, rate), rate, fmt, subtype)
    name = {"RF64": "WAV"}.get(fmt, fmt)  # RF64 is a WAV, as libsndfile reads it
    assert identify_file(path) == ("audio", name)
    data = path.read_bytes()
    (tmp_path / "noext").write_bytes(data)
    assert identify_file(tmp_path / "noext") == ("audio", name)  # the content decides
    (tmp_path / "named.png").write_bytes(data)
    label = registry.family("audio").read_format(name).label
    with pytest.raises(SignalReadError, match=f"content is {label} but the extension .png"):
        identify_file(tmp_path / "named.png")


@pytest.mark.parametrize(("fmt", "subtype", "ext", "channels", "rate"), FORMATS, ids=IDS)
def test_each_format_round_trips_through_filter(tmp_path, fmt, subtype, ext, channels, rate):
    src = _write(tmp_path / f"in{ext}", _signal(channels, rate), rate, fmt, subtype)
    x = _decoded(src)
    for spec, kernel in (("1", np.array([1.0])), ("0.25 0.5 0.25", FIR)):
        out = tmp_path / f"out-{len(kernel)}{ext}"
        res = invoke("filter", src, "-k", spec, "-o", out)
        assert res.exit_code == 0, res.stderr
        got, before = sf.info(str(out)), sf.info(str(src))
        assert (got.format, got.subtype) == (before.format, before.subtype)
        assert (got.samplerate, got.channels, got.frames) == (rate, channels, FRAMES)
        want = _correlate(x, kernel)
        if fmt == "MP3":  # lossy: the reference, encoded as convcli encodes, then decoded
            ref = _write(tmp_path / f"ref-{len(kernel)}.mp3", want, rate, fmt, subtype)
            if len(kernel) == 1:
                assert np.array_equal(_decoded(out), _decoded(ref))
            else:
                assert np.abs(_decoded(out) - _decoded(ref)).max() < 1e-3
        elif subtype in BITS:  # integers: the reference rounded to the stored grid
            scale = 2.0 ** (BITS[subtype] - 1)
            stored = sf.read(str(out), dtype="float64", always_2d=True)[0]
            assert np.abs(np.rint(want * scale) - stored * scale).max() <= 1
            if len(kernel) == 1:
                assert np.array_equal(stored, sf.read(str(src), always_2d=True)[0])
        elif subtype in ("ULAW", "ALAW"):  # companded: as libsndfile encodes the reference
            ref = _write(tmp_path / f"ref-{len(kernel)}{ext}", want, rate, fmt, subtype)
            assert np.abs(_decoded(out) - _decoded(ref)).max() <= 2.0**-6
        else:
            assert np.allclose(_decoded(out), want, atol=1e-6)


@needs_mp3
def test_an_mp3_read_slab_by_slab_is_the_whole_read_bit_for_bit(tmp_path):
    """libmpg123 rounds MPEG-2.5 differently after a seek: convcli reads forward only."""
    path = _write(tmp_path / "a.mp3", _signal(2, 8000), 8000, "MP3", "MPEG_LAYER_III")
    whole = sf.read(str(path), dtype="float32", always_2d=True)[0]
    assert np.array_equal(load(path).data, whole)
    source = AudioFileSource(path)
    try:
        for lo, hi in [(0, 700), (650, 1500), (1400, 3000), (20, 40), (2999, 3000), (5, 2900)]:
            assert np.array_equal(source.read(lo, hi), whole[lo:hi]), (lo, hi)
        index = np.random.default_rng(1).integers(0, FRAMES, 40)
        assert np.array_equal(source.take(index), whole[index])
    finally:
        source.close()


@needs_mp3
def test_mp3_is_written_at_a_stated_constant_bitrate(tmp_path):
    for rate, kbps in ((44100, 320), (22050, 160), (8000, 64)):
        path = tmp_path / f"{rate}.mp3"
        save(Signal(_signal(1, rate).astype(np.float32), "audio", 1, rate=float(rate)), path)
        data = path.read_bytes()
        headers = [parse_header(data, 0)]
        while headers[-1] is not None and len(headers) < 6:
            headers.append(parse_header(data, sum(h.length for h in headers)))
        assert {h.bitrate for h in headers if h is not None} == {kbps}, rate


def test_mpeg_layer_i_and_ii_are_named_and_refused(tmp_path):
    layer2 = b"\xff\xfd\xe0\x64" + bytes(1249)  # MPEG-1 Layer II, 384 kbit/s: 1253 bytes
    assert refused_name(layer2 * 2) == "MPEG Layer I/II audio (MP2), not MP3"
    assert refused_name(b"\xff\xfb" + bytes(30)) is None  # a frame sync alone says nothing
    (tmp_path / "a.mp3").write_bytes(layer2 * 3)
    with pytest.raises(SignalReadError, match="the content is MPEG Layer I/II audio"):
        identify_file(tmp_path / "a.mp3")


@needs_mp3
def test_an_mp3_behind_an_id3v2_tag_is_read(tmp_path):
    plain = _write(tmp_path / "a.mp3", _signal(2, 44100), 44100, "MP3", "MPEG_LAYER_III")
    tag = b"ID3\x03\x00\x00\x00\x00\x10\x00" + bytes(2048)  # 2048 bytes of padding
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(tag + plain.read_bytes())
    assert identify_file(tagged) == ("audio", "MP3")
    assert np.array_equal(load(tagged).data, load(plain).data)


@needs_mp3
def test_an_mp3_without_a_length_header_is_refused(tmp_path):
    """libsndfile estimates such a length from the first frame and reads no further."""
    good = _write(tmp_path / "a.mp3", _signal(2, 44100), 44100, "MP3", "MPEG_LAYER_III")
    data = good.read_bytes()
    first = parse_header(data)
    assert first is not None and b"Info" in data[: first.length]
    bare = tmp_path / "bare.mp3"
    bare.write_bytes(data[first.length :])  # without its Info frame
    with pytest.raises(SignalReadError, match="without a Xing, Info or VBRI header"):
        load(bare)
    line = assert_one_error_line(invoke("info", bare), 1)
    assert "estimate its length" in line


@needs_mp3
def test_a_damaged_mp3_frame_is_an_error_and_nothing_else_reaches_stderr(tmp_path, capfd):
    good = _write(tmp_path / "a.mp3", _signal(2, 44100), 44100, "MP3", "MPEG_LAYER_III")
    data = bytearray(good.read_bytes())
    first = parse_header(bytes(data))
    assert first is not None
    third = 2 * first.length + 1  # inside the second audio frame's header, roughly
    data[first.length + first.length // 2 : first.length + first.length // 2 + 4] = b"\xaa" * 4
    data[third] ^= 0xFF
    path = tmp_path / "damaged.mp3"
    path.write_bytes(bytes(data))
    capfd.readouterr()
    res = invoke("filter", path, "-k", "1", "-o", tmp_path / "out.wav")
    assert capfd.readouterr().err == ""
    line = assert_one_error_line(res, 1)
    assert "damaged MP3: libmpg123:" in line, line
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"),
    [("W64", "PCM_16", ".w64"), ("RF64", "PCM_16", ".wav"), ("CAF", "PCM_16", ".caf")]
    + [("AU", "PCM_16", ".au"), ("AIFF", "PCM_16", ".aiff"), ("WAV", "PCM_16", ".wav")]
    + [("NIST", "PCM_16", ".sph"), ("AVR", "PCM_16", ".avr"), ("WVE", "ALAW", ".wve")]
    + [("SVX", "PCM_16", ".iff"), ("VOC", "PCM_16", ".voc")],
)
def test_a_cut_file_is_refused_where_the_header_says_its_length(tmp_path, fmt, subtype, ext):
    channels = 1 if fmt in ("WVE", "SVX") else 2  # mono formats
    path = _write(tmp_path / f"a{ext}", _signal(channels, 8000), 8000, fmt, subtype)
    assert claimed_frames(path) == FRAMES
    data = path.read_bytes()
    path.write_bytes(data[:-1001])
    with pytest.raises(SignalReadError, match=f"truncated: the header says {FRAMES} frames"):
        load(path)


#: Formats whose header holds no length: a cut file is read as the samples it holds.
NO_LENGTH = ("IRCAM", "PAF", "PVF")


@pytest.mark.parametrize(("fmt", "subtype", "ext", "channels", "rate"), FORMATS, ids=IDS)
def test_hostile_files_of_each_format_are_one_line_and_exit_1(
    tmp_path, fmt, subtype, ext, channels, rate
):
    """Junk with the extension, an empty file, a cut header, a file cut in half."""
    data = _write(tmp_path / f"good{ext}", _signal(channels, rate), rate, fmt, subtype)
    data_bytes = data.read_bytes()
    cases = {
        "junk": np.random.default_rng(5).bytes(4096),
        "empty": b"",
        "header": data_bytes[:20],
    }
    if fmt not in NO_LENGTH:
        cases["cut"] = data_bytes[: len(data_bytes) // 2]
    for name, content in cases.items():
        src = tmp_path / f"{name}{ext}"
        src.write_bytes(content)
        out = tmp_path / "out" / f"{name}{ext}"
        out.parent.mkdir(exist_ok=True)
        line = assert_one_error_line(invoke("filter", src, "-k", "1", "-o", out), 1)
        assert f"{src}:" in line, line
        assert not out.exists(), name
        assert f"{src}:" in assert_one_error_line(invoke("info", src), 1)
    assert list((tmp_path / "out").iterdir()) == []
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("fmt", "subtype", "ext", "channels", "rate"), FORMATS, ids=IDS)
def test_info_names_each_format_and_subtype(tmp_path, fmt, subtype, ext, channels, rate):
    path = _write(tmp_path / f"a{ext}", _signal(channels, rate), rate, fmt, subtype)
    res = invoke("info", "--json", path)
    assert res.exit_code == 0, res.stderr
    got = json.loads(res.stdout)
    assert (got["kind"], got["format"], got["subtype"]) == ("audio", fmt, subtype)
    assert (got["channels"], got["rate"], got["frames"]) == (channels, rate, FRAMES)
    text = invoke("info", path).stdout
    assert f"  format: {fmt}\n" in text and f"  subtype: {subtype}\n" in text


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext", "out_ext", "written"),
    [
        ("CAF", "PCM_16", ".caf", ".w64", ("W64", "PCM_16")),
        ("AU", "PCM_24", ".au", ".caf", ("CAF", "PCM_24")),
        ("W64", "FLOAT", ".w64", ".rf64", ("RF64", "FLOAT")),
        ("NIST", "PCM_16", ".sph", ".flac", ("FLAC", "PCM_16")),
        ("WAV", "PCM_16", ".wav", ".au", ("AU", "PCM_16")),
        ("PAF", "PCM_24", ".paf", ".aiff", ("AIFF", "PCM_24")),
    ],
)
def test_an_output_named_in_another_format_is_that_format(
    tmp_path, fmt, subtype, ext, out_ext, written
):
    """The input's subtype is kept where the output format holds it; the samples exactly."""
    src = _write(tmp_path / f"in{ext}", _signal(2, 8000), 8000, fmt, subtype)
    out = tmp_path / f"out{out_ext}"
    res = invoke("filter", src, "-k", "1", "-o", out)
    assert res.exit_code == 0, res.stderr
    info = sf.info(str(out))
    assert (info.format, info.subtype) == written
    assert np.array_equal(sf.read(str(out))[0], sf.read(str(src))[0])


def test_bytes_after_a_w64s_samples_are_not_read_as_samples(tmp_path):
    """libsndfile reads them as more frames; the header's data size says there are none."""
    path = _write(tmp_path / "a.w64", _signal(2, 8000), 8000, "W64", "PCM_16")
    path.write_bytes(path.read_bytes() + bytes(8))
    assert sf.info(str(path)).frames == FRAMES + 2
    with pytest.raises(SignalReadError, match=f"the header says {FRAMES} frames but libsndfile"):
        load(path)


# ------------------------------------------------------------------------------ what fits


@pytest.mark.parametrize(
    ("ext", "channels", "rate", "words"),
    [
        (".mp3", 3, 44100, "MP3 holds at most 2 channels, not 3; use .wav or .aiff"),
        (".mp3", 2, 96000, "MP3 holds the sample rates 8000, 11025"),
        (".svx", 2, 8000, "SVX holds at most 1 channel, not 2"),
        (".iff", 1, 96000, "SVX holds sample rates up to 65535 Hz, not 96000"),
        (".wve", 1, 44100, "WVE holds the sample rate 8000 Hz only, not 44100"),
        (".flac", 9, 8000, "FLAC holds at most 8 channels, not 9"),
    ],
)
def test_a_layout_the_format_cannot_hold_is_one_line(tmp_path, ext, channels, rate, words):
    src = _write(tmp_path / "in.wav", _signal(channels, rate), rate, "WAV", "PCM_16")
    out = tmp_path / f"out{ext}"
    line = assert_one_error_line(invoke("filter", src, "-k", "1", "-o", out), 1)
    assert words in line, line
    assert not out.exists()


@pytest.mark.parametrize(
    ("subtype", "ext", "dtype", "written"),
    [
        ("PCM_U8", ".voc", "int16", "PCM_16"),  # VOC's 8-bit rates are inexact: int16
        ("PCM_U8", ".caf", "int16", "PCM_16"),  # CAF holds no unsigned 8-bit
        ("FLOAT", ".sph", "int32", "PCM_32"),  # NIST: integers only
        ("DOUBLE", ".sf", "float32", "FLOAT"),  # IRCAM: float32 at most
        ("PCM_16", ".mp3", "float32", "MPEG_LAYER_III"),
        ("PCM_16", ".wve", "int16", "ALAW"),
        ("ULAW", ".au", "float32", "ULAW"),  # mu-law kept
        ("ULAW", ".voc", "int16", "PCM_16"),  # libsndfile's µ-law VOC gains a sample
        ("ALAW", ".wve", "int16", "ALAW"),
    ],
)
def test_auto_dtype_is_the_nearest_the_format_holds(tmp_path, subtype, ext, dtype, written):
    rate = 8000
    src = _write(tmp_path / "in.wav", _signal(1, rate), rate, "WAV", subtype)
    out = tmp_path / f"out{ext}"
    res = invoke("filter", src, "-k", "1", "-o", out, "--json")
    assert res.exit_code == 0, res.stderr
    assert sf.info(str(out)).subtype == written
    assert json.loads(res.stdout)["dtype"] == dtype


def test_a_requested_int16_is_16_bit_pcm_where_the_format_holds_float(tmp_path):
    src = _write(tmp_path / "in.wav", _signal(1, 8000), 8000, "WAV", "ULAW")
    for ext in (".wav", ".au"):
        out = tmp_path / f"out{ext}"
        assert invoke("filter", src, "-k", "1", "--dtype", "int16", "-o", out).exit_code == 0
        assert sf.info(str(out)).subtype == "PCM_16"


def test_a_dtype_the_format_cannot_hold_says_what_it_holds(tmp_path):
    s = Signal(np.zeros((10, 1), np.float32), "audio", 1, rate=8000.0)
    with pytest.raises(UnsupportedError, match="VOC cannot hold float32 samples: VOC holds int16"):
        save(s, tmp_path / "x.voc")
    with pytest.raises(UnsupportedError, match="CAF cannot hold uint8"):
        save(replace(s, data=np.zeros((10, 1), np.uint8)), tmp_path / "x.caf")


def test_a_format_the_installed_libsndfile_lacks_says_so(tmp_path, monkeypatch):
    import soundfile

    def without_mp3() -> dict:
        return {k: v for k, v in available.items() if k != "MP3"}

    def refuse(*args, **kw):
        raise RuntimeError("Error opening 'x': Format not recognised.")

    available = soundfile.available_formats()
    frame = b"\xff\xfb\xe0\x64" + bytes(1040)
    (tmp_path / "a.mp3").write_bytes(frame * 3)
    monkeypatch.setattr(soundfile, "available_formats", without_mp3)
    signal = Signal(np.zeros((10, 1), np.float32), "audio", 1, rate=44100.0)
    with pytest.raises(UnsupportedError, match=r"libsndfile \(.*\) was built without MP3"):
        save(signal, tmp_path / "out.mp3")
    monkeypatch.setattr(soundfile, "SoundFile", refuse)
    with pytest.raises(SignalReadError, match=r"cannot read as audio: the installed libsndfile"):
        load(tmp_path / "a.mp3")
