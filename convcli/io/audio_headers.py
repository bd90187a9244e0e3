"""What an audio file's header claims: its number of frames, read without libsndfile.

libsndfile quietly reads what is there when a file is shorter than its header says (and
reads bytes after a W64's data as samples when it is longer): comparing its count with the
header's tells a cut or damaged file.  :func:`claimed_frames` reads the claim of the
formats whose header holds the size of their samples:

======  ========================================================================
format  the claim
======  ========================================================================
WAV     the ``data`` chunk's size over the ``fmt `` chunk's block size (0 and
        0xFFFFFFFF, the marks of a file written to a pipe, claim nothing)
RF64    the ``ds64`` chunk's 64-bit data size over the block size
W64     the ``data`` chunk's 64-bit size (less its 24-byte header) over the block size
AIFF    the ``COMM`` chunk's frame count
CAF     the ``data`` chunk's size (less its 4-byte edit count; -1: unknown) over the
        ``desc`` chunk's bytes per packet
AU      the header's data size (0xFFFFFFFF: unknown) over the bytes of a frame
NIST    the SPHERE header's ``sample_count`` (frames)
AVR     the header's frame count (big-endian, at byte 26)
WVE     the header's sample count (mono; big-endian, at byte 18)
SVX     the ``BODY`` chunk's size over the bytes of a sample (``8SVX``: 1, ``16SV``: 2),
        when no ``CHAN`` chunk makes it stereo
VOC     the first sound block's size: a type 9 block (less its 12-byte header) over the
        bytes of a frame, or a type 1 block (less 2 bytes) of 8-bit mono samples
======  ========================================================================

Every other format claims nothing here (None), and is read as libsndfile reads it: FLAC
and OGG (whose decoders see a cut stream themselves), MP3 (its Xing, Info or VBRI frame
count, checked apart), and IRCAM, PAF and PVF, whose headers hold no length at all.

Standard library only.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from .limits import open_regular

__all__ = ["claimed_frames"]

_UNKNOWN_32 = (0, 0xFFFFFFFF)  # a WAV or AU written to a pipe: "until the end of the file"
_MAX_CHUNKS = 4096
#: Bytes per sample of AU's encodings (µ-law, 8/16/24/32-bit PCM, float, double, A-law).
_AU_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}
#: The most of a NIST SPHERE header read for its sample count (libsndfile writes 1024).
_NIST_HEAD = 64 * 1024


def claimed_frames(path: os.PathLike[str] | str) -> int | None:
    """Return the number of frames an audio file's header claims, or None.

    Parameters
    ----------
    path : str or os.PathLike
        A regular file (checked by the caller).

    Returns
    -------
    int or None
        The frames claimed (see the module docstring), or None when the format claims
        nothing, or the header cannot be read far enough.
    """
    with open_regular(path) as fh:
        head = fh.read(40)
        fh.seek(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _riff(fh, "<", rf64=None)
        if head[:4] in (b"RF64", b"BW64") and head[8:12] == b"WAVE":
            return _riff(fh, "<", rf64=_ds64(fh))
        if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return _riff(fh, ">", rf64=None)
        if head[:4] == b"riff" and head[24:28] == b"wave":
            fh.seek(40)
            return _w64(fh)
        if head[:6] == b"caff\x00\x01":
            fh.seek(8)
            return _caf(fh)
        if head[:4] in (b".snd", b"dns."):
            return _au(head)
        if head[:8] == b"NIST_1A\n":
            fh.seek(0)
            return _nist(fh.read(_NIST_HEAD))
        if head[:4] == b"2BIT" and len(head) >= 30:
            return int(struct.unpack(">I", head[26:30])[0])
        if head[:16] == b"ALawSoundFile**\x00" and len(head) >= 22:
            return int(struct.unpack(">I", head[18:22])[0])
        if head[:4] == b"FORM" and head[8:12] in (b"8SVX", b"16SV"):
            return _svx(fh, 2 if head[8:12] == b"16SV" else 1)
        if head[:20] == b"Creative Voice File\x1a" and len(head) >= 22:
            fh.seek(struct.unpack("<H", head[20:22])[0])
            return _voc(fh)
    return None


def _riff(fh: BinaryIO, endian: str, rf64: int | None) -> int | None:
    """WAV, RF64 (``rf64``: the ``ds64`` data size) and AIFF chunks, from byte 12."""
    block = None
    for _ in range(_MAX_CHUNKS):
        chunk = fh.read(8)
        if len(chunk) < 8:
            return None
        name, size = chunk[:4], struct.unpack(endian + "I", chunk[4:])[0]
        start = fh.tell()
        if endian == ">" and name == b"COMM":
            body = fh.read(6)
            return struct.unpack(">I", body[2:6])[0] if len(body) == 6 else None
        if endian == "<" and name == b"fmt ":
            body = fh.read(14)
            if len(body) == 14:
                block = struct.unpack("<H", body[12:14])[0]
        if endian == "<" and name == b"data":
            data = rf64 if rf64 is not None else size
            if data is None or (data in _UNKNOWN_32 and rf64 is None) or not block:
                return None
            return int(data // block)
        fh.seek(start + size + (size & 1))
    return None


def _ds64(fh: BinaryIO) -> int | None:
    """RF64's ``ds64`` chunk (the first after ``WAVE``): its 64-bit data size."""
    chunk = fh.read(8 + 16)
    fh.seek(12)
    if len(chunk) < 24 or chunk[:4] != b"ds64":
        return None
    return int(struct.unpack("<Q", chunk[16:24])[0])


def _w64(fh: BinaryIO) -> int | None:
    """W64 chunks, from byte 40: 16-byte GUIDs, 64-bit sizes, 8-byte alignment."""
    block = None
    for _ in range(_MAX_CHUNKS):
        chunk = fh.read(24)
        if len(chunk) < 24:
            return None
        name, size = chunk[:4], struct.unpack("<Q", chunk[16:24])[0]
        start = fh.tell()
        if size < 24:
            return None
        if name == b"fmt ":
            body = fh.read(14)
            if len(body) == 14:
                block = struct.unpack("<H", body[12:14])[0]
        if name == b"data":
            return int((size - 24) // block) if block else None
        fh.seek(start + size - 24 + (-size % 8))
    return None


def _caf(fh: BinaryIO) -> int | None:
    """CAF chunks, from byte 8: a 4-byte type and a signed 64-bit size, big-endian."""
    packet = None
    for _ in range(_MAX_CHUNKS):
        chunk = fh.read(12)
        if len(chunk) < 12:
            return None
        name, size = chunk[:4], struct.unpack(">q", chunk[4:])[0]
        start = fh.tell()
        if name == b"desc":
            body = fh.read(32)
            if len(body) == 32:
                packet = struct.unpack(">I", body[16:20])[0]
        if name == b"data":
            if size < 4 or not packet:
                return None  # -1: the data runs to the end of the file
            return int((size - 4) // packet)
        if size < 0:
            return None
        fh.seek(start + size)
    return None


def _au(head: bytes) -> int | None:
    """AU's header: data size, encoding, channels (big-endian ``.snd``, little ``dns.``)."""
    if len(head) < 24:
        return None
    endian = ">" if head[:4] == b".snd" else "<"
    _, size, encoding, _, channels = struct.unpack(endian + "5I", head[4:24])
    width = _AU_BYTES.get(encoding)
    if size in _UNKNOWN_32 or not width or not channels:
        return None
    return int(size // (width * channels))


def _nist(head: bytes) -> int | None:
    """NIST SPHERE: the ``sample_count -i N`` line of its text header."""
    for line in head.split(b"end_head", 1)[0].splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == b"sample_count" and words[1] == b"-i":
            return int(words[2]) if words[2].isdigit() else None
    return None


def _svx(fh: BinaryIO, width: int) -> int | None:
    """IFF 8SVX/16SV chunks, from byte 12: a ``BODY`` of mono samples (a ``CHAN``: None)."""
    for _ in range(_MAX_CHUNKS):
        chunk = fh.read(8)
        if len(chunk) < 8:
            return None
        name, size = chunk[:4], struct.unpack(">I", chunk[4:])[0]
        if name == b"CHAN":
            return None
        if name == b"BODY":
            return int(size // width)
        fh.seek(fh.tell() + size + (size & 1))
    return None


def _voc(fh: BinaryIO) -> int | None:
    """VOC blocks, from the header's offset: the frames of the first sound block."""
    for _ in range(_MAX_CHUNKS):
        block = fh.read(4)
        if len(block) < 4 or block[0] in (0, 8):  # the end, or a stereo type 1 ahead
            return None
        kind, size = block[0], int.from_bytes(block[1:4], "little")
        if kind == 1:
            return size - 2 if size >= 2 else None
        if kind == 9:
            info = fh.read(12)
            if len(info) < 12 or size < 12:
                return None
            bits, channels = info[4], info[5]
            if bits % 8 or not bits or not channels:
                return None
            return (size - 12) // (bits // 8 * channels)
        fh.seek(fh.tell() + size)
    return None
