r"""MPEG audio frame headers: what makes a file an MP3, read from its bytes.

An MP3 has no magic number of its own.  It is a run of frames, each starting with a 4-byte
header whose first eleven bits are set (the *frame sync*), optionally behind an ID3v2 tag.
A frame sync alone is weak evidence (one pair of random bytes in 2048 starts with one, and
``\xff\xfb`` is common in binary data), so :func:`starts_mpeg_audio` asks for more:

- an ID3v2 tag (``ID3``, a major version 2, 3 or 4, a revision that is not 0xFF, a size of
  four "syncsafe" bytes below 0x80) followed, where that lies within the bytes given, by a
  valid frame header (and a second one where the first ends);
- or a valid frame header at byte 0 **and** a second valid header exactly where the first
  frame ends (its length is computed from its bitrate, sample rate and padding), of the same
  MPEG version, layer and sample rate.

A valid header has the sync, an MPEG version that is not the reserved one, the layer asked
for (Layer III for MP3), a bitrate index from 1 to 14 (free-format streams, index 0, have
no computable frame length and are not recognised), a sample-rate index from 0 to 2 and an
emphasis that is not the reserved one.

libsndfile counts an MP3's frames with libmpg123, which knows the exact count only from a
Xing, Info (LAME, ffmpeg) or VBRI (Fraunhofer) header in the first frame; without one it
estimates from the file's size and the first frame's bitrate, and reads no further than the
estimate.  :func:`frame_count_tag` tells whether that header is there.

Standard library only: the table of formats (:mod:`convcli.io.registry`) identifies MP3
with it before soundfile is imported.

Examples
--------
>>> header = parse_header(b"\xff\xfb\xe0\x64")
>>> header.version, header.layer, header.bitrate, header.rate, header.length
('1', 3, 320, 44100, 1044)
>>> parse_header(b"\xff\xd8\xff\xe0") is None  # a JPEG's start is no frame header
True
"""

from __future__ import annotations

from typing import BinaryIO, NamedTuple

__all__ = [
    "FrameHeader",
    "parse_header",
    "id3v2_length",
    "starts_mpeg_audio",
    "frame_count_tag",
    "MAX_FRAME_BYTES",
]

#: The longest frame (Layer II at 384 kbit/s and 32 kHz, padded): two frame headers lie
#: within the first ``MAX_FRAME_BYTES + 4`` bytes of a bare MPEG audio stream.
MAX_FRAME_BYTES = 1729

_VERSIONS = {3: "1", 2: "2", 0: "2.5"}  # the 2-bit field; 1 is reserved
_RATES = {"1": (44100, 48000, 32000), "2": (22050, 24000, 16000), "2.5": (11025, 12000, 8000)}
_BITRATES = {  # kbit/s by (version is MPEG-1, layer), index 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


class FrameHeader(NamedTuple):
    """One MPEG audio frame header, decoded.

    Attributes
    ----------
    version : str
        ``"1"``, ``"2"`` or ``"2.5"``.
    layer : int
        1, 2 or 3.
    bitrate : int
        kbit/s.
    rate : int
        Sample rate, Hz.
    channels : int
        1 (mono) or 2.
    protected : bool
        A 16-bit CRC follows the header.
    length : int
        The frame's length in bytes, header included.
    samples : int
        Samples per channel the frame decodes to.
    """

    version: str
    layer: int
    bitrate: int
    rate: int
    channels: int
    protected: bool
    length: int
    samples: int


def parse_header(
    data: bytes, offset: int = 0, layers: tuple[int, ...] = (3,)
) -> FrameHeader | None:
    """Decode the frame header at ``data[offset:offset+4]``, or None if it is not a valid one.

    Parameters
    ----------
    data : bytes
        Bytes of a file.
    offset : int, optional
        Where the header would start.
    layers : tuple of int, optional
        The layers accepted (MP3 is Layer III).

    Returns
    -------
    FrameHeader or None
        None when the four bytes are not there, or are not a header of an accepted layer
        (see the module docstring for what is valid).
    """
    raw = data[offset : offset + 4]
    if len(raw) < 4:
        return None
    word = int.from_bytes(raw, "big")
    if word >> 21 != 0x7FF:
        return None
    version = _VERSIONS.get((word >> 19) & 3)
    layer = 4 - ((word >> 17) & 3)  # 0b01 is Layer III, 0b11 Layer I; 0b00 reserved
    bitrate_index, rate_index = (word >> 12) & 15, (word >> 10) & 3
    if version is None or layer == 4 or layer not in layers or word & 3 == 2:
        return None
    if not 1 <= bitrate_index <= 14 or rate_index == 3:
        return None
    mpeg1 = version == "1"
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index - 1]
    rate = _RATES[version][rate_index]
    padding = (word >> 9) & 1
    if layer == 1:
        length, samples = (12 * bitrate * 1000 // rate + padding) * 4, 384
    elif layer == 2 or mpeg1:
        length, samples = 144 * bitrate * 1000 // rate + padding, 1152
    else:  # Layer III of MPEG-2 and 2.5: half the samples per frame
        length, samples = 72 * bitrate * 1000 // rate + padding, 576
    channels = 1 if (word >> 6) & 3 == 3 else 2
    protected = not (word >> 16) & 1
    return FrameHeader(version, layer, bitrate, rate, channels, protected, length, samples)


def id3v2_length(data: bytes) -> int | None:
    r"""Return the length of the ID3v2 tag ``data`` starts with (header and footer), or None.

    Examples
    --------
    >>> id3v2_length(b"ID3\x04\x00\x00\x00\x00\x02\x01")
    267
    >>> id3v2_length(b"ID3\x04\x00\x00\x00\x00\x02\x81") is None  # not syncsafe
    True
    """
    if len(data) < 10 or data[:3] != b"ID3" or data[3] not in (2, 3, 4) or data[4] == 0xFF:
        return None
    size = data[6:10]
    if any(b >= 0x80 for b in size):
        return None
    body = (size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3]
    footer = 10 if data[3] == 4 and data[5] & 0x10 else 0
    return 10 + body + footer


def _two_frames(data: bytes, offset: int, layers: tuple[int, ...], need_both: bool) -> bool:
    """Tell whether a valid header is at ``offset`` and another where its frame ends."""
    first = parse_header(data, offset, layers)
    if first is None:
        return False
    after = offset + first.length
    if len(data) < after + 4:
        return not need_both
    second = parse_header(data, after, layers)
    return second is not None and second[:2] == first[:2] and second.rate == first.rate


def starts_mpeg_audio(head: bytes, layers: tuple[int, ...] = (3,)) -> bool:
    r"""Whether ``head`` (a file's first bytes) starts an MPEG audio stream of ``layers``.

    Parameters
    ----------
    head : bytes
        The file's first bytes: at least ``MAX_FRAME_BYTES + 4`` of them for a stream
        without an ID3v2 tag (two frame headers are needed), fewer if the file is shorter.
    layers : tuple of int, optional
        The layers accepted (MP3: Layer III).

    Examples
    --------
    >>> frame = b"\xff\xfb\xe0\x64" + bytes(1040)
    >>> starts_mpeg_audio(frame * 2), starts_mpeg_audio(frame)
    (True, False)
    >>> starts_mpeg_audio(b"\xff\xfb\xe0\x64" + bytes(200) + frame)  # no frame at 1044
    False
    """
    tag = id3v2_length(head)
    if tag is not None:
        return tag >= len(head) or _two_frames(head, tag, layers, need_both=False)
    return _two_frames(head, 0, layers, need_both=True)


def _side_info(header: FrameHeader) -> int:
    """Bytes of Layer III side information after the header (and its CRC)."""
    if header.version == "1":
        size = 17 if header.channels == 1 else 32
    else:
        size = 9 if header.channels == 1 else 17
    return size + (2 if header.protected else 0)


def frame_count_tag(fh: BinaryIO) -> int | None:
    """Return the frame count a Xing, Info or VBRI header in the first frame gives, or None.

    Parameters
    ----------
    fh : binary file
        An MP3, open at any position (it is read from the start; the position is left
        where the read ends).

    Returns
    -------
    int or None
        The number of MPEG frames the header says the stream has; None when the first
        frame holds no such header (or no count), or no frame is where it should be.
    """
    fh.seek(0)
    start = fh.read(10)
    tag = id3v2_length(start)
    offset = 0 if tag is None else tag
    fh.seek(offset)
    frame = fh.read(MAX_FRAME_BYTES + 4)
    header = parse_header(frame)
    if header is None:
        return None
    frame = frame[: header.length]
    at = 4 + _side_info(header)
    if frame[at : at + 4] in (b"Xing", b"Info"):
        flags = int.from_bytes(frame[at + 4 : at + 8], "big")
        if flags & 1 and len(frame) >= at + 12:
            return int.from_bytes(frame[at + 8 : at + 12], "big")
        return None
    if frame[36:40] == b"VBRI" and len(frame) >= 36 + 18:
        return int.from_bytes(frame[36 + 14 : 36 + 18], "big")
    return None
