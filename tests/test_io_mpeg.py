"""MPEG audio frame headers (convcli.io.mpeg): what makes bytes an MP3, and its length tag.

The frames here are made by hand from the header layout (ISO 11172-3 / 13818-3); the ones
LAME writes are tested through soundfile in ``test_io_audio_formats.py``.
"""

from __future__ import annotations

import io

import pytest

from convcli.io.mpeg import (
    MAX_FRAME_BYTES,
    frame_count_tag,
    id3v2_length,
    parse_header,
    starts_mpeg_audio,
)

FRAME = b"\xff\xfb\xe0\x64" + bytes(1040)  # MPEG-1 Layer III, 320 kbit/s, 44.1 kHz: 1044 B


@pytest.mark.parametrize(
    ("header", "want"),
    [
        (b"\xff\xfb\xe0\x64", ("1", 3, 320, 44100, 2, False, 1044, 1152)),
        (b"\xff\xfb\x96\x64", ("1", 3, 128, 48000, 2, False, 384 + 1, 1152)),  # padded
        (b"\xff\xf3\xe4\xc4", ("2", 3, 160, 24000, 1, False, 480, 576)),  # mono
        (b"\xff\xe2\x88\xc4", ("2.5", 3, 64, 8000, 1, True, 576, 576)),  # with a CRC
        (b"\xff\xfd\xe0\x64", None),  # Layer II: not MP3
        (b"\xff\xfb\x00\x64", None),  # free format
        (b"\xff\xfb\xf0\x64", None),  # bitrate index 15
        (b"\xff\xfb\xec\x64", None),  # sample rate index 3
        (b"\xff\xeb\xe0\x64", None),  # the reserved MPEG version
        (b"\xff\xf9\xe0\x64", None),  # the reserved layer
        (b"\xff\xfb\xe0\x66", None),  # the reserved emphasis
        (b"\xff\xd8\xff\xe0", None),  # a JPEG
        (b"\xff\xfb\xe0", None),  # too short
    ],
)
def test_frame_headers(header, want):
    got = parse_header(header)
    assert (tuple(got) if got is not None else None) == want


def test_layers_are_asked_for():
    header = parse_header(b"\xff\xfd\xe0\x64", layers=(1, 2))
    assert header is not None and (header.layer, header.bitrate, header.length) == (2, 384, 1253)
    assert MAX_FRAME_BYTES == parse_header(b"\xff\xfd\xea\x64", layers=(2,)).length  # 32 kHz


def test_two_frames_in_a_row_make_an_mp3():
    assert starts_mpeg_audio(FRAME * 2)
    assert not starts_mpeg_audio(FRAME)  # one frame header is not enough
    assert not starts_mpeg_audio(FRAME + bytes(1044))  # nothing where it ends
    assert not starts_mpeg_audio(b"\xff\xfb\xe0\x64" + bytes(100) + FRAME * 2)
    free = b"\xff\xfb\x00\x64" + bytes(1040)
    assert not starts_mpeg_audio(free * 2)
    other = b"\xff\xfb\xe4\x64" + bytes(956)  # 48 kHz: another stream
    assert not starts_mpeg_audio(FRAME + other)
    layer2 = b"\xff\xfd\xe0\x64" + bytes(1249)
    assert not starts_mpeg_audio(layer2 * 2)
    assert starts_mpeg_audio(layer2 * 2, layers=(1, 2))


def test_an_id3v2_tag_then_a_frame_make_an_mp3():
    tag = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10)  # 20 bytes
    assert id3v2_length(tag) == 20
    assert id3v2_length(b"ID3\x04\x00\x10\x00\x00\x00\x0a") == 30  # and a footer
    assert id3v2_length(b"ID3\x05\x00\x00\x00\x00\x00\x0a") is None  # no such version
    assert starts_mpeg_audio(tag + FRAME * 2)
    assert starts_mpeg_audio(tag + FRAME)  # the second frame lies beyond: the tag vouches
    assert not starts_mpeg_audio(tag + b"\xff\xd8\xff\xe0" + bytes(2000))
    assert starts_mpeg_audio(b"ID3\x04\x00\x00\x00\x01\x00\x00" + bytes(3000))  # 16 KiB tag


def _with_tag(kind: bytes, flags: int, count: int, at: int) -> bytes:
    frame = bytearray(FRAME)
    frame[at : at + 12] = kind + flags.to_bytes(4, "big") + count.to_bytes(4, "big")
    return bytes(frame)


def test_the_frame_count_of_a_xing_info_or_vbri_header():
    info = _with_tag(b"Info", 0x0F, 1234, 36)  # stereo MPEG-1: 32 bytes of side info
    assert frame_count_tag(io.BytesIO(info + FRAME)) == 1234
    assert frame_count_tag(io.BytesIO(_with_tag(b"Xing", 0x0E, 1234, 36))) is None  # no count
    vbri = bytearray(FRAME)
    vbri[36:40] = b"VBRI"
    vbri[50:54] = (99).to_bytes(4, "big")
    assert frame_count_tag(io.BytesIO(bytes(vbri))) == 99
    assert frame_count_tag(io.BytesIO(FRAME * 2)) is None
    tag = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10)
    assert frame_count_tag(io.BytesIO(tag + info)) == 1234
    assert frame_count_tag(io.BytesIO(b"not an mp3")) is None
