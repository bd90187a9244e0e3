"""RF64 past 4 GiB: a WAV output that would pass 2**32 - 1 bytes is written as RF64.

The switch point is shown by the size arithmetic at the real boundary, for every subtype
(the header libsndfile writes is measured, and checked against files it writes); end to end
at a lowered limit, through the slab-by-slab writer and the in-memory one; and, with
``CONVCLI_BIG_AUDIO=1``, by a real 4.48 GB output (a sparse input, about 25 s and 4.5 GB of
disk).  Formats of 32-bit sizes that have no 64-bit sibling refuse such an output.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from conftest import invoke

from convcli.errors import UnsupportedError
from convcli.io import identify_file, load, registry, save
from convcli.io.sndfile_audio import container_for, file_bytes, header_bytes


@pytest.mark.parametrize(
    ("subtype", "channels"),
    [("PCM_16", 2), ("PCM_24", 1), ("PCM_U8", 1), ("FLOAT", 2), ("DOUBLE", 6), ("ULAW", 3)],
)
def test_a_wav_past_4_gib_is_rf64_and_one_just_under_stays_wav(subtype, channels):
    """The switch point, from the size arithmetic: header + samples (+ pad) > 2**32 - 1."""
    width = {"PCM_16": 2, "PCM_24": 3, "PCM_U8": 1, "FLOAT": 4, "DOUBLE": 8, "ULAW": 1}[subtype]
    frame = width * channels
    for kept, written in ((None, "WAV"), ("WAV", "WAV"), ("WAVEX", "WAVEX")):
        header = header_bytes(written, subtype, channels)  # 44 to 88 bytes (WAVEX: 80+)

        def size(frames: int, header: int = header) -> int:
            data = frames * frame
            return header + data + data % 2

        most = (2**32 - 1 - header) // frame
        while size(most) > 2**32 - 1:
            most -= 1
        assert size(most) <= 2**32 - 1 < size(most + 1)
        assert file_bytes(written, subtype, channels, most) == size(most)
        assert container_for("WAV", subtype, channels, most, "o.wav", kept) == written
        assert container_for("WAV", subtype, channels, most + 1, "o.wav", kept) == "RF64"
    assert container_for("WAV", subtype, channels, 2**40, "o.wav", "RF64") == "RF64"
    assert container_for("W64", subtype, channels, 2**40, "o.w64") == "W64"
    assert container_for("WAV", subtype, channels, None, "o.wav") == "WAV"  # length unknown


def test_the_header_sizes_are_what_libsndfile_writes():
    for subtype, channels, frames in (("PCM_16", 2, 1000), ("FLOAT", 3, 7), ("PCM_U8", 1, 7)):
        buf = io.BytesIO()
        sf.write(buf, np.zeros((frames, channels)), 8000, subtype=subtype, format="WAV")
        assert len(buf.getvalue()) == file_bytes("WAV", subtype, channels, frames)


def test_formats_of_32_bit_sizes_refuse_what_they_cannot_describe():
    with pytest.raises(UnsupportedError, match=r"AIFF describes at most 4294967295 bytes.*\.rf64"):
        container_for("AIFF", "PCM_16", 2, 2**30, "o.aiff")
    with pytest.raises(UnsupportedError, match="VOC describes at most 16777215 bytes"):
        container_for("VOC", "PCM_16", 1, 2**23, "o.voc")
    assert container_for("VOC", "PCM_16", 1, 2**22, "o.voc") == "VOC"


@pytest.fixture
def small_wav(monkeypatch):
    """The WAV row with a limit of 20000 bytes: RF64 past it, through every writer."""
    row = registry.family("audio")
    wav = row.write_format("WAV")
    small = replace(
        row, writes=tuple(replace(w, max_bytes=20_000) if w is wav else w for w in row.writes)
    )
    families = list(registry.FAMILIES)
    families[families.index(row)] = small
    monkeypatch.setattr(registry, "FAMILIES", families)
    return 20_000


@pytest.mark.parametrize("frames", [4000, 5000])
def test_the_switch_to_rf64_is_made_by_the_streamed_and_the_whole_writer(
    tmp_path, small_wav, frames
):
    """4000 stereo 16-bit frames make 16044 bytes (WAV), 5000 make 20044 (RF64)."""
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (frames, 2))
    src = tmp_path / "in.wav"
    sf.write(src, x, 8000, subtype="PCM_16")
    want = "RF64" if 44 + 4 * frames > small_wav else "WAV"
    streamed = tmp_path / "streamed.wav"
    res = invoke("filter", src, "-k", "1", "-o", streamed)
    assert res.exit_code == 0, res.stderr
    whole = tmp_path / "whole.wav"
    signal = load(src)
    save(replace(signal, data=(signal.data * 32768).astype(np.int16)), whole)
    for out in (streamed, whole):
        assert sf.info(str(out)).format == want
        assert out.read_bytes()[:4] == (b"RF64" if want == "RF64" else b"RIFF")
        assert identify_file(out) == ("audio", "WAV")
        assert np.array_equal(
            sf.read(str(out), dtype="int16")[0], sf.read(str(src), dtype="int16")[0]
        )


@pytest.mark.skipif(
    "CONVCLI_BIG_AUDIO" not in os.environ,
    reason="writes a 4.4 GB file: set CONVCLI_BIG_AUDIO=1 (about a minute)",
)
def test_a_real_wav_output_past_4_gib_is_rf64(tmp_path):
    """A sparse 1.1 GB 16-bit WAV filtered to float64 WAV: 4.4 GB, written as RF64."""
    frames = 280_000_000  # 1.12 GB of 16-bit stereo in, 4.48 GB of float64 out
    src = tmp_path / "in.wav"
    with sf.SoundFile(src, "w", 8000, 2, "PCM_16") as f:
        f.write(np.zeros((1, 2), np.int16))
    data = frames * 4
    with open(src, "r+b") as fh:  # the same header, claiming every frame; zeros, sparse
        fh.seek(4)
        fh.write((36 + data).to_bytes(4, "little"))
        fh.seek(40)
        fh.write(data.to_bytes(4, "little"))
        fh.truncate(44 + data)
    out = tmp_path / "out.wav"
    res = invoke("filter", src, "-k", "1", "--dtype", "float64", "-o", out)
    assert res.exit_code == 0, res.stderr
    assert out.stat().st_size > 2**32
    with open(out, "rb") as fh:
        assert fh.read(4) == b"RF64"
    info = sf.info(str(out))
    assert (info.format, info.subtype, info.frames) == ("RF64", "DOUBLE", frames)
