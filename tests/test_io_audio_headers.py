"""What audio headers claim (convcli.io.audio_headers): the frames, read without libsndfile."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import invoke

from convcli.errors import SignalReadError
from convcli.io import load
from convcli.io.audio_headers import claimed_frames

FRAMES = 1234


def _write(path: Path, fmt: str, subtype: str, channels: int, **kw) -> Path:
    data = np.random.default_rng(0).uniform(-0.5, 0.5, (FRAMES, channels))
    sf.write(path, data, 8000, format=fmt, subtype=subtype, **kw)
    return path


@pytest.mark.parametrize(
    ("fmt", "subtype", "channels", "kw"),
    [
        ("WAV", "PCM_16", 2, {}),
        ("WAV", "PCM_24", 3, {}),
        ("WAVEX", "FLOAT", 6, {}),
        ("RF64", "PCM_16", 2, {}),
        ("RF64", "DOUBLE", 1, {}),
        ("W64", "PCM_24", 2, {}),
        ("W64", "PCM_U8", 1, {}),  # an odd data size: 8-byte alignment after it
        ("AIFF", "PCM_16", 2, {}),
        ("CAF", "PCM_16", 2, {}),
        ("CAF", "FLOAT", 3, {}),
        ("AU", "PCM_24", 2, {}),
        ("AU", "ULAW", 1, {}),
        ("AU", "PCM_16", 2, {"endian": "LITTLE"}),  # "dns."
        ("NIST", "PCM_16", 2, {}),
        ("NIST", "PCM_32", 1, {}),
        ("AVR", "PCM_U8", 2, {}),
        ("AVR", "PCM_16", 1, {}),
        ("WVE", "ALAW", 1, {}),
        ("SVX", "PCM_16", 1, {}),
        ("SVX", "PCM_S8", 1, {}),
        ("VOC", "PCM_16", 2, {}),  # a type 9 block
        ("VOC", "PCM_U8", 1, {}),  # a type 1 block
    ],
)
def test_the_claim_is_the_frames_written(tmp_path, fmt, subtype, channels, kw):
    path = _write(tmp_path / "a.snd", fmt, subtype, channels, **kw)
    assert claimed_frames(path) == FRAMES


@pytest.mark.parametrize("fmt", ["IRCAM", "PAF", "PVF", "FLAC", "OGG"])
def test_formats_that_claim_nothing_here(tmp_path, fmt):
    subtype = {"OGG": "VORBIS", "IRCAM": "PCM_16"}.get(fmt, "PCM_16")
    assert claimed_frames(_write(tmp_path / "a", fmt, subtype, 1)) is None


def test_libsndfiles_companded_voc_is_a_sample_longer_so_convcli_writes_none(tmp_path):
    """Its block counts the end byte as a sample: read back, it is one frame longer."""
    path = _write(tmp_path / "a.voc", "VOC", "ULAW", 1)
    assert int.from_bytes(path.read_bytes()[27:30], "little") == 12 + FRAMES + 1
    assert claimed_frames(path) == sf.info(str(path)).frames == FRAMES + 1
    src = _write(tmp_path / "in.wav", "WAV", "ULAW", 1)
    assert invoke("filter", src, "-k", "1", "-o", tmp_path / "out.voc").exit_code == 0
    info = sf.info(str(tmp_path / "out.voc"))
    assert (info.subtype, info.frames) == ("PCM_16", FRAMES)


def test_a_length_left_unknown_claims_nothing(tmp_path):
    wav = bytearray(_write(tmp_path / "a.wav", "WAV", "PCM_16", 1).read_bytes())
    struct.pack_into("<I", wav, 40, 0xFFFFFFFF)  # written to a pipe
    (tmp_path / "pipe.wav").write_bytes(bytes(wav))
    assert claimed_frames(tmp_path / "pipe.wav") is None
    caf = bytearray(_write(tmp_path / "a.caf", "CAF", "PCM_16", 1).read_bytes())
    at = caf.find(b"data")
    struct.pack_into(">q", caf, at + 4, -1)  # "the data runs to the end of the file"
    (tmp_path / "open.caf").write_bytes(bytes(caf))
    assert claimed_frames(tmp_path / "open.caf") is None
    au = bytearray(_write(tmp_path / "a.au", "AU", "PCM_16", 1).read_bytes())
    struct.pack_into(">I", au, 8, 0xFFFFFFFF)
    (tmp_path / "open.au").write_bytes(bytes(au))
    assert claimed_frames(tmp_path / "open.au") is None


def test_a_header_cut_short_claims_nothing(tmp_path):
    cases = [("WAV", "PCM_16", 41), ("RF64", "PCM_16", 41), ("W64", "PCM_16", 41)]
    cases += [("NIST", "PCM_16", 100), ("AVR", "PCM_16", 29), ("WVE", "ALAW", 21)]
    cases += [("SVX", "PCM_16", 40), ("VOC", "PCM_16", 29)]
    for fmt, subtype, most in cases:  # ``most``: the longest cut that ends before the claim
        data = _write(tmp_path / "a", fmt, subtype, 1).read_bytes()
        for size in (4, 20, most // 2 + 5, most):
            (tmp_path / "cut").write_bytes(data[:size])
            assert claimed_frames(tmp_path / "cut") is None, (fmt, size)


def test_a_cut_rf64_is_refused_as_a_cut_wav_is(tmp_path):
    """libsndfile reads what is left of a cut RF64 without a word: its ds64 chunk tells."""
    path = _write(tmp_path / "a.wav", "RF64", "PCM_16", 2)
    data = path.read_bytes()
    path.write_bytes(data[:-1001])
    with pytest.raises(SignalReadError, match=f"truncated: the header says {FRAMES} frames"):
        load(path)
    buf = io.BytesIO()
    sf.write(buf, np.zeros((10, 1)), 8000, format="RF64", subtype="PCM_16")
    assert buf.getvalue()[:4] == b"RF64"
