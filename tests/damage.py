"""Damaged copies of valid files, for every format convcli reads, and their trusted decoders.

Every original is written in the test run by the library that owns the format (Pillow,
soundfile, numpy; the tiled TIFFs and the float64 TIFF byte by byte, as Pillow writes no
tiles) from seeded numpy arrays.  Each :class:`Damage` is one copy of one original, cut or
with one bit flipped at a point chosen from the file's own structure:

- ``cut-header``: inside the header (before the first byte of pixel or sample data);
- ``cut-first`` / ``cut-last``: in the middle of the first / the last data block (a PNG's
  IDAT or fdAT chunk, a JPEG scan, a TIFF strip or tile, a GIF frame's LZW data, a FLAC
  frame, an Ogg page, a row of a BMP, PPM or ``.npy``, a line of a text kernel, an
  ``.npz`` member...);
- ``cut-end-1`` / ``cut-end-3``: without its final byte / 3 bytes;
- ``flip-header`` / ``flip-first`` / ``flip-last``: one bit flipped at a seeded place inside
  the header, the first or the last data block.

A long run adds seeded random points anywhere in the file (:func:`damages`, ``extra``).

``python tests/damage.py [--extra N] [--seed S]`` runs every case through ``convcli filter``
and prints one line per case: how convcli ended (an error line, or the same array as the
trusted decoder) and what the trusted decoder did.  The tests are in
``tests/test_reliability_damage.py``.
"""

from __future__ import annotations

import io
import json
import re
import struct
import sys
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Original",
    "Damage",
    "ORIGINALS",
    "POINTS",
    "damages",
    "trusted_image",
    "trusted_audio",
    "trusted_kernel",
    "rgb_tiff",
]

Span = tuple[int, int]


@dataclass(frozen=True)
class Original:
    """A valid file and where its header and data blocks are.

    Attributes
    ----------
    key : str
        Its name in test ids (``png``, ``tiff-lzw``, ``kernel-json``...).
    ext : str
        The file's extension.
    family : str
        ``"image"``, ``"audio"``, ``"npy"``, ``"kernel"`` (a ``-k`` file) or ``"weights"``
        (``features --weights``).
    data : bytes
        The file.
    header : Span
        ``[start, stop)`` of the header (before any pixel or sample data).
    blocks : list of Span
        The data blocks, in file order.
    """

    key: str
    ext: str
    family: str
    data: bytes
    header: Span
    blocks: tuple[Span, ...]


@dataclass(frozen=True)
class Damage:
    """One damaged copy: ``kind`` is ``"cut"`` (keep ``offset`` bytes) or ``"flip"``."""

    original: Original
    point: str
    kind: str
    offset: int
    bit: int = 0

    @property
    def id(self) -> str:
        """The test id: format and damage point."""
        return f"{self.original.key}:{self.point}"

    @property
    def name(self) -> str:
        """A file name for the damaged copy."""
        return f"{self.original.key}.{self.point}{self.original.ext}".replace(":", "-")

    def apply(self) -> bytes:
        """Return the damaged bytes."""
        data = self.original.data
        if self.kind == "cut":
            return data[: self.offset]
        out = bytearray(data)
        out[self.offset] ^= 1 << self.bit
        return bytes(out)


# --------------------------------------------------------------------------- the arrays


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _photo(rows: int, cols: int, seed: int, channels: int = 3) -> np.ndarray:
    """Smooth gradients plus noise: compresses like a photo, so blocks are not all literal."""
    r, c = np.mgrid[0:rows, 0:cols]
    planes = [(r * (2 + i) + c * (3 - i) + 40 * i) % 256 for i in range(channels)]
    base = np.stack(planes, -1).astype(np.int64)
    noise = _rng(seed).integers(-12, 13, base.shape)
    out = np.clip(base + noise, 0, 255).astype(np.uint8)
    return out[..., 0] if channels == 1 else out


def _pil_bytes(frames: list[Any], fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    if len(frames) > 1:
        frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], **kw)
    else:
        frames[0].save(buf, format=fmt, **kw)
    return buf.getvalue()


def _sound_bytes(
    fmt: str,
    subtype: str,
    frames: int = 6000,
    channels: int = 2,
    seed: int = 7,
    rate: int = 8000,
    **settings: Any,
) -> bytes:
    import soundfile as sf

    t = np.arange(frames) / rate
    tones = [0.5 * np.sin(2 * np.pi * (330 + 220 * i) * t) for i in range(channels)]
    data = np.stack(tones, 1) + _rng(seed).normal(0.0, 0.02, (frames, channels))
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, subtype=subtype, **settings)
    return buf.getvalue()


# ---------------------------------------------------------------- where the blocks are


def _png_spans(data: bytes) -> tuple[Span, list[Span]]:
    pos, header_end, blocks = 8, None, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind in (b"IDAT", b"fdAT"):
            header_end = pos if header_end is None else header_end
            blocks.append((pos + 8, pos + 8 + length))
        pos += 12 + length
    assert header_end is not None and blocks
    return (0, header_end), blocks


def _jpeg_spans(data: bytes) -> tuple[Span, list[Span]]:
    pos, header_end, blocks = 2, None, []
    while pos + 4 <= len(data):
        assert data[pos] == 0xFF, pos
        marker = data[pos + 1]
        if marker == 0xD9:
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker != 0xDA:
            pos += 2 + length
            continue
        header_end = pos if header_end is None else header_end
        start = end = pos + 2 + length
        while True:  # the entropy-coded data ends at a marker that is not RSTn
            end = data.index(b"\xff", end)
            if data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 2
                continue
            break
        blocks.append((start, end))
        pos = end
    assert header_end is not None and blocks
    return (0, header_end), blocks


def _tiff_spans(data: bytes) -> tuple[Span, list[Span]]:
    from PIL import Image

    blocks: list[Span] = []
    with Image.open(io.BytesIO(data)) as im:
        for page in range(getattr(im, "n_frames", 1)):
            im.seek(page)
            tags = im.tag_v2
            offsets = tags.get(324) or tags.get(273)
            counts = tags.get(325) or tags.get(279)
            blocks += [(o, o + n) for o, n in zip(offsets, counts)]
    blocks.sort()
    return (0, 8 + 2 + 12 * 8), blocks  # the header and most of the first directory


def _bmp_spans(data: bytes, rows: int) -> tuple[Span, list[Span]]:
    offset = struct.unpack("<I", data[10:14])[0]
    stride = (len(data) - offset) // rows
    return (0, offset), [(offset + i * stride, offset + (i + 1) * stride) for i in range(rows)]


def _webp_spans(data: bytes) -> tuple[Span, list[Span]]:
    pos, header_end, blocks = 12, None, []
    while pos + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[pos : pos + 8])
        if kind in (b"VP8 ", b"VP8L"):
            header_end = pos if header_end is None else header_end
            blocks.append((pos + 8, pos + 8 + size))
            pos += 8 + size + (size & 1)
        elif kind == b"ANMF":
            pos += 8 + 16  # frame header; the frame's own VP8/VP8L chunk follows
        else:
            pos += 8 + size + (size & 1)
    assert header_end is not None and blocks
    return (0, header_end), blocks


def _gif_spans(data: bytes) -> tuple[Span, list[Span]]:
    flags = data[10]
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    header_end, blocks = None, []
    while pos < len(data) and data[pos] != 0x3B:
        if data[pos] == 0x21:  # an extension: label, then sub-blocks
            pos += 2
            while data[pos]:
                pos += 1 + data[pos]
            pos += 1
            continue
        assert data[pos] == 0x2C, pos
        header_end = pos if header_end is None else header_end
        local = data[pos + 9]
        pos += 10 + (3 * (2 << (local & 7)) if local & 0x80 else 0)
        start = pos + 1  # after the LZW minimum code size
        pos = start
        while data[pos]:
            pos += 1 + data[pos]
        blocks.append((start, pos))
        pos += 1
    assert header_end is not None and blocks
    return (0, header_end), blocks


def _netpbm_spans(data: bytes, rows: int) -> tuple[Span, list[Span]]:
    pos, fields = 2, 0
    while fields < 3:  # width, height, maxval, each after whitespace
        while data[pos : pos + 1].isspace():
            pos += 1
        while not data[pos : pos + 1].isspace():
            pos += 1
        fields += 1
    pos += 1
    stride = (len(data) - pos) // rows
    return (0, pos), [(pos + i * stride, pos + (i + 1) * stride) for i in range(rows)]


def _riff_spans(data: bytes, big_endian: bool = False) -> tuple[Span, list[Span]]:
    """WAV (``data``) or AIFF (``SSND``): the sample chunk, as blocks of 512 bytes."""
    endian = ">" if big_endian else "<"
    pos = 12
    while pos + 8 <= len(data):
        kind, size = struct.unpack(endian + "4sI", data[pos : pos + 8])
        if kind in (b"data", b"SSND"):
            start = pos + 8 + (8 if kind == b"SSND" else 0)
            stop = min(pos + 8 + size, len(data))
            edges = list(range(start, stop, 512)) + [stop]
            return (0, start), list(zip(edges[:-1], edges[1:]))
        pos += 8 + size + (size & 1)
    raise AssertionError("no sample chunk")


def _sample_spans(data: bytes, other: bytes) -> tuple[Span, list[Span]]:
    """The samples of a file, found as the bytes where another file of its layout differs.

    ``other`` is the same format, subtype and length written from other noise: the headers
    match, the sample bytes do not (a VOC's end byte, a PAF's padding stay out).  Blocks of
    512 bytes.
    """
    assert len(data) == len(other)
    differ = np.flatnonzero(np.frombuffer(data, np.uint8) != np.frombuffer(other, np.uint8))
    start, stop = int(differ[0]), int(differ[-1]) + 1
    edges = list(range(start, stop, 512)) + [stop]
    return (0, start), list(zip(edges[:-1], edges[1:]))


def _mp3_spans(data: bytes) -> tuple[Span, list[Span]]:
    """MP3: the Info frame is the header; each audio frame a block (found by its sync)."""
    from convcli.io.mpeg import parse_header

    first = parse_header(data, 0)
    assert first is not None
    pos, blocks = first.length, []
    while (frame := parse_header(data, pos)) is not None:
        blocks.append((pos, pos + frame.length))
        pos += frame.length
    assert blocks and pos == len(data), (pos, len(data))
    return (0, first.length), blocks


def _flac_spans(data: bytes) -> tuple[Span, list[Span]]:
    pos = 4
    while True:
        last, size = data[pos] & 0x80, int.from_bytes(data[pos + 1 : pos + 4], "big")
        pos += 4 + size
        if last:
            break
    syncs = [i for i in range(pos, len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xF8]
    edges = syncs + [len(data)]
    return (0, pos), list(zip(edges[:-1], edges[1:]))


def _ogg_spans(data: bytes) -> tuple[Span, list[Span]]:
    pos, header_end, blocks = 0, None, []
    while pos + 27 <= len(data):
        assert data[pos : pos + 4] == b"OggS", pos
        granule = struct.unpack("<q", data[pos + 6 : pos + 14])[0]
        segments = data[pos + 26]
        body = pos + 27 + segments
        size = sum(data[pos + 27 : body])
        if granule > 0:  # an audio page (the header pages have granule 0)
            header_end = pos if header_end is None else header_end
            blocks.append((body, body + size))
        pos = body + size
    assert header_end is not None and blocks
    return (0, header_end), blocks


def _npy_spans(data: bytes, rows: int) -> tuple[Span, list[Span]]:
    length = struct.unpack("<H", data[8:10])[0]
    start = 10 + length
    stride = (len(data) - start) // rows
    return (0, start), [(start + i * stride, start + (i + 1) * stride) for i in range(rows)]


def _lines(data: bytes) -> tuple[Span, list[Span]]:
    edges = [0] + [i + 1 for i, b in enumerate(data) if b == 0x0A]
    if edges[-1] != len(data):
        edges.append(len(data))
    spans = list(zip(edges[:-1], edges[1:]))
    return spans[0], spans[1:] or spans


# ------------------------------------------------------------------------ the originals


def _tiled_tiff(arr: np.ndarray, compression: int, tile: int = 16) -> bytes:
    """A little-endian tiled RGB TIFF (Pillow writes no tiles): raw, packbits or deflate."""
    rows, cols, channels = arr.shape
    tiles = []
    for r0 in range(0, rows, tile):
        for c0 in range(0, cols, tile):
            block = np.zeros((tile, tile, channels), np.uint8)
            part = arr[r0 : r0 + tile, c0 : c0 + tile]
            block[: part.shape[0], : part.shape[1]] = part
            raw = block.tobytes()
            if compression == 8:
                raw = zlib.compress(raw, 6)
            elif compression == 32773:  # PackBits: literal runs of up to 128 bytes
                raw = b"".join(
                    bytes([len(raw[i : i + 128]) - 1]) + raw[i : i + 128]
                    for i in range(0, len(raw), 128)
                )
            tiles.append(raw)
    count = len(tiles)
    entries: list[tuple[int, int, int, bytes]] = []  # tag, type, count, value bytes

    def short(tag: int, *values: int) -> None:
        entries.append((tag, 3, len(values), struct.pack(f"<{len(values)}H", *values)))

    def long(tag: int, *values: int) -> None:
        entries.append((tag, 4, len(values), struct.pack(f"<{len(values)}I", *values)))

    n_tags = 12
    ifd_size = 2 + 12 * n_tags + 4
    extra_at = 8 + ifd_size
    bps_at, off_at = extra_at, extra_at + 6
    cnt_at = off_at + 4 * count
    data_at = cnt_at + 4 * count
    offsets, pos = [], data_at
    for t in tiles:
        offsets.append(pos)
        pos += len(t)
    long(256, cols)
    long(257, rows)
    entries.append((258, 3, 3, struct.pack("<I", bps_at)))
    short(259, compression)
    short(262, 2)
    short(277, channels)
    short(284, 1)
    short(339, 1)
    long(322, tile)
    long(323, tile)
    entries.append((324, 4, count, struct.pack("<I", off_at)))
    entries.append((325, 4, count, struct.pack("<I", cnt_at)))
    assert len(entries) == n_tags
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", n_tags))
    for tag, kind, n, value in sorted(entries):
        out += struct.pack("<HHI", tag, kind, n) + value.ljust(4, b"\x00")
    out += struct.pack("<I", 0)
    out += struct.pack("<3H", 8, 8, 8)
    out += struct.pack(f"<{count}I", *offsets)
    out += struct.pack(f"<{count}I", *[len(t) for t in tiles])
    assert len(out) == data_at
    return bytes(out + b"".join(tiles))


def rgb_tiff(planes: np.ndarray) -> bytes:
    """A valid multi-page RGB TIFF of ``(pages, rows, cols, 3)`` in ``planes``' own dtype.

    Written byte by byte, as a float64 stack like scikit-image's ``multipage_rgb.tif`` must
    be (Pillow writes none): little-endian, uncompressed, one strip per page, chunky RGB,
    BitsPerSample the dtype's bits three times, SampleFormat 3 (IEEE float) or 1 (unsigned)
    three times, SamplesPerPixel 3; every tag as the TIFF 6.0 spec writes it.
    """
    _, rows, cols, channels = planes.shape
    bits = planes.dtype.itemsize * 8
    sample_format = 3 if planes.dtype.kind == "f" else 1
    out = bytearray(b"II*\x00" + struct.pack("<I", 0))
    first_ifd_at = 4
    for plane in planes.astype(planes.dtype.newbyteorder("<")):
        pixels = plane.tobytes()
        strip_at = len(out)
        out += pixels
        bps_at = len(out)
        out += struct.pack("<3H", bits, bits, bits)
        fmt_at = len(out)
        out += struct.pack("<3H", sample_format, sample_format, sample_format)
        if len(out) % 2:
            out += b"\x00"
        ifd_at = len(out)
        struct.pack_into("<I", out, first_ifd_at, ifd_at)
        tags = [
            (256, 4, 1, struct.pack("<I", cols)),
            (257, 4, 1, struct.pack("<I", rows)),
            (258, 3, 3, struct.pack("<I", bps_at)),
            (259, 3, 1, struct.pack("<H", 1)),
            (262, 3, 1, struct.pack("<H", 2)),
            (273, 4, 1, struct.pack("<I", strip_at)),
            (277, 3, 1, struct.pack("<H", channels)),
            (278, 4, 1, struct.pack("<I", rows)),
            (279, 4, 1, struct.pack("<I", len(pixels))),
            (284, 3, 1, struct.pack("<H", 1)),
            (339, 3, 3, struct.pack("<I", fmt_at)),
        ]
        out += struct.pack("<H", len(tags))
        for tag, kind, n, value in tags:
            out += struct.pack("<HHI", tag, kind, n) + value.ljust(4, b"\x00")
        first_ifd_at = len(out)
        out += struct.pack("<I", 0)  # the next IFD's offset, patched by the next page
    return bytes(out)


def _image(key: str, ext: str, data: bytes, spans: tuple[Span, list[Span]]) -> Original:
    return Original(key, ext, "image", data, spans[0], tuple(spans[1]))


def _originals() -> list[Original]:
    from PIL import Image

    rgb = _photo(96, 160, 1)
    small = _photo(40, 48, 2)
    gray = _photo(40, 48, 3, channels=1)
    out: list[Original] = []

    png = _pil_bytes([Image.fromarray(_rng(4).integers(0, 256, (128, 192, 3), np.uint8))], "PNG")
    out.append(_image("png", ".png", png, _png_spans(png)))
    apng = _pil_bytes([Image.fromarray(_photo(32, 40, 10 + i)) for i in range(3)], "PNG")
    out.append(_image("apng", ".png", apng, _png_spans(apng)))
    jpg = _pil_bytes([Image.fromarray(rgb)], "JPEG", quality=90)
    out.append(_image("jpeg", ".jpg", jpg, _jpeg_spans(jpg)))
    prog = _pil_bytes([Image.fromarray(rgb)], "JPEG", quality=90, progressive=True)
    out.append(_image("jpeg-progressive", ".jpg", prog, _jpeg_spans(prog)))

    for name in ("raw", "packbits", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "jpeg"):
        kw: dict[str, Any] = {"compression": name}
        if name == "raw":
            kw["tiffinfo"] = {278: 8}  # several strips (Pillow's own writer makes one)
        else:
            kw["strip_size"] = 2048
        tif = _pil_bytes([Image.fromarray(small)], "TIFF", **kw)
        out.append(_image(f"tiff-{name.replace('tiff_', '')}", ".tif", tif, _tiff_spans(tif)))
    bits = Image.fromarray(_photo(40, 48, 5, channels=1) > 127)
    g4 = _pil_bytes([bits], "TIFF", compression="group4")
    out.append(_image("tiff-group4", ".tif", g4, _tiff_spans(g4)))
    for name, code in (("raw", 1), ("packbits", 32773), ("deflate", 8)):
        tiled = _tiled_tiff(small, code)
        out.append(_image(f"tiff-tiles-{name}", ".tif", tiled, _tiff_spans(tiled)))
    pages = _pil_bytes(
        [Image.fromarray(_photo(24, 32, 20 + i)) for i in range(3)], "TIFF", compression="tiff_lzw"
    )
    out.append(_image("tiff-pages", ".tif", pages, _tiff_spans(pages)))

    bmp = _pil_bytes([Image.fromarray(small)], "BMP")
    out.append(_image("bmp", ".bmp", bmp, _bmp_spans(bmp, 40)))
    for name, kw in (("webp-lossy", {"quality": 80}), ("webp-lossless", {"lossless": True})):
        webp = _pil_bytes([Image.fromarray(rgb)], "WEBP", **kw)
        out.append(_image(name, ".webp", webp, _webp_spans(webp)))
    gif = _pil_bytes([Image.fromarray(gray)], "GIF")
    out.append(_image("gif", ".gif", gif, _gif_spans(gif)))
    agif = _pil_bytes(
        [Image.fromarray(_photo(24, 32, 30 + i, channels=1)) for i in range(3)],
        "GIF",
        duration=50,
        loop=0,
    )
    out.append(_image("gif-animated", ".gif", agif, _gif_spans(agif)))
    ppm = _pil_bytes([Image.fromarray(small)], "PPM")
    out.append(_image("ppm", ".ppm", ppm, _netpbm_spans(ppm, 40)))
    pgm = _pil_bytes([Image.fromarray(gray)], "PPM")
    out.append(_image("pgm", ".pgm", pgm, _netpbm_spans(pgm, 40)))

    for key, fmt, subtype, ext in (
        ("wav-pcm16", "WAV", "PCM_16", ".wav"),
        ("wav-pcm24", "WAV", "PCM_24", ".wav"),
        ("wav-float", "WAV", "FLOAT", ".wav"),
        ("flac", "FLAC", "PCM_16", ".flac"),
        ("ogg-vorbis", "OGG", "VORBIS", ".ogg"),
        ("aiff", "AIFF", "PCM_16", ".aiff"),
    ):
        sound = _sound_bytes(fmt, subtype)
        if fmt in ("WAV", "AIFF"):
            spans = _riff_spans(sound, big_endian=fmt == "AIFF")
        elif fmt == "FLAC":
            spans = _flac_spans(sound)
        else:
            spans = _ogg_spans(sound)
        out.append(Original(key, ext, "audio", sound, spans[0], tuple(spans[1])))

    for key, fmt, subtype, ext, channels in (  # the formats libsndfile adds
        ("w64", "W64", "PCM_24", ".w64", 2),
        ("rf64", "RF64", "PCM_16", ".wav", 2),
        ("caf", "CAF", "PCM_16", ".caf", 2),
        ("au", "AU", "PCM_16", ".au", 2),
        ("au-ulaw", "AU", "ULAW", ".au", 1),
        ("ircam", "IRCAM", "PCM_16", ".sf", 2),
        ("nist", "NIST", "PCM_16", ".sph", 2),
        ("voc", "VOC", "PCM_16", ".voc", 2),
        ("paf", "PAF", "PCM_24", ".paf", 2),
        ("svx", "SVX", "PCM_16", ".iff", 1),
        ("pvf", "PVF", "PCM_16", ".pvf", 2),
        ("avr", "AVR", "PCM_16", ".avr", 2),
        ("wve", "WVE", "ALAW", ".wve", 1),
    ):
        sound = _sound_bytes(fmt, subtype, channels=channels)
        other = _sound_bytes(fmt, subtype, channels=channels, seed=70)
        out.append(Original(key, ext, "audio", sound, *_split(_sample_spans(sound, other))))
    mp3 = _sound_bytes(
        "MP3", "MPEG_LAYER_III", rate=22050, compression_level=0.0, bitrate_mode="CONSTANT"
    )
    out.append(Original("mp3", ".mp3", "audio", mp3, *_split(_mp3_spans(mp3))))

    buf = io.BytesIO()
    np.save(buf, _rng(8).normal(0.0, 1.0, (24, 30)).astype(np.float32))
    npy = buf.getvalue()
    out.append(Original("npy", ".npy", "npy", npy, *_split(_npy_spans(npy, 24))))

    txt = b"# a 3x3 blur\n1 2 1\n2 4 2\n1 2 1\n"
    out.append(Original("kernel-txt", ".txt", "kernel", txt, *_split(_lines(txt))))
    csv = b"0.0625,0.125,0.0625\n0.125,0.25,0.125\n0.0625,0.125,0.0625\n"
    out.append(Original("kernel-csv", ".csv", "kernel", csv, *_split(_lines(csv))))
    js = json.dumps({"kernel": [[1, 2, 1], [2, 4, 2], [1, 2, 1]]}, indent=1).encode()
    out.append(Original("kernel-json", ".json", "kernel", js, *_split(_lines(js))))
    buf = io.BytesIO()
    np.save(buf, _rng(9).normal(0.0, 1.0, (5, 5)))
    knpy = buf.getvalue()
    out.append(Original("kernel-npy", ".npy", "kernel", knpy, *_split(_npy_spans(knpy, 5))))
    ir = _sound_bytes("WAV", "PCM_16", frames=400, channels=1)
    out.append(Original("kernel-wav", ".wav", "kernel", ir, *_split(_riff_spans(ir))))

    weight = _rng(10).normal(0.0, 1.0, (4, 3, 3)).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, weight)
    wnpy = buf.getvalue()
    out.append(Original("weights-npy", ".npy", "weights", wnpy, *_split(_npy_spans(wnpy, 4))))
    for key, save in (("weights-npz", np.savez), ("weights-npz-deflate", np.savez_compressed)):
        buf = io.BytesIO()
        save(buf, weight=weight, bias=np.arange(4.0))
        npz = buf.getvalue()
        out.append(Original(key, ".npz", "weights", npz, *_split(_zip_spans(npz))))
    return out


def _zip_spans(data: bytes) -> tuple[Span, list[Span]]:
    import zipfile

    blocks = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 :][:4])
            start = info.header_offset + 30 + name_len + extra_len
            blocks.append((start, start + info.compress_size))
    return (0, blocks[0][0]), blocks


def _split(spans: tuple[Span, list[Span]]) -> tuple[Span, tuple[Span, ...]]:
    return spans[0], tuple(spans[1])


ORIGINALS: list[Original] = _originals()

#: The damage points every short run tries, for every format.
POINTS = (
    "cut-header",
    "cut-first",
    "cut-last",
    "cut-end-1",
    "cut-end-3",
    "flip-header",
    "flip-first",
    "flip-last",
)


def _inside(span: Span, rng: np.random.Generator) -> int:
    lo, hi = span
    return int(rng.integers(lo + (hi - lo) // 4, max(lo + 3 * (hi - lo) // 4, lo + 1)))


def damages(original: Original, extra: int = 0, seed: int = 0) -> list[Damage]:
    """Return the damaged copies of ``original``: :data:`POINTS`, then ``extra`` random ones.

    ``extra`` random cuts (anywhere in the file) and as many random single-bit flips (half
    of them in the data blocks), seeded by ``seed`` and the format's key.
    """
    size = len(original.data)
    key_seed = zlib.crc32(original.key.encode())
    rng = np.random.default_rng([seed, key_seed])
    first, last = original.blocks[0], original.blocks[-1]
    h0, h1 = original.header
    out = [
        Damage(original, "cut-header", "cut", max(1, (h0 + h1) // 2)),
        Damage(original, "cut-first", "cut", (first[0] + first[1]) // 2),
        Damage(original, "cut-last", "cut", (last[0] + last[1]) // 2),
        Damage(original, "cut-end-1", "cut", size - 1),
        Damage(original, "cut-end-3", "cut", size - 3),
        Damage(original, "flip-header", "flip", _inside((h0, h1), rng), int(rng.integers(8))),
        Damage(original, "flip-first", "flip", _inside(first, rng), int(rng.integers(8))),
        Damage(original, "flip-last", "flip", _inside(last, rng), int(rng.integers(8))),
    ]
    data_lo, data_hi = first[0], last[1]
    for i in range(extra):
        cut = int(rng.integers(1, size))
        out.append(Damage(original, f"cut-{cut}", "cut", cut))
        if i % 2:
            pos = int(rng.integers(0, size))
        else:
            pos = int(rng.integers(data_lo, max(data_hi, data_lo + 1)))
        bit = int(rng.integers(8))
        out.append(Damage(original, f"flip-{pos}.{bit}", "flip", pos, bit))
    unique: dict[str, Damage] = {}
    for d in out:
        unique.setdefault(d.id, d)
    return list(unique.values())


# ------------------------------------------------------------------- trusted decoders


def _frame_array(im: Any) -> np.ndarray:
    """One frame as convcli's table (``io.pillow_image``) says it loads, with Pillow alone."""
    mode = im.mode
    if mode == "1":
        return np.array(im.convert("L"))
    if mode in ("P", "PA"):
        alpha = mode == "PA" or "transparency" in im.info
        return np.array(im.convert("RGBA" if alpha else "RGB"))
    if mode in ("CMYK", "RGBX", "YCbCr", "LAB", "HSV"):
        return np.array(im.convert("RGB"))
    if mode in ("La", "RGBa"):
        return np.array(im.convert(mode.upper()))
    if mode.startswith("I;16"):
        return np.array(im).astype(np.uint16)
    if mode == "I" and im.format == "PPM":
        return np.array(im).astype(np.uint16)
    if mode == "F":
        return np.array(im).astype(np.float32)
    return np.array(im)


def _promoted(frames: list[np.ndarray]) -> list[np.ndarray]:
    """An animation's 8-bit frames in one layout: colour if any is, alpha if any has it."""
    chans = [1 if f.ndim == 2 else f.shape[2] for f in frames]
    alpha = any(c in (2, 4) for c in chans)
    colour = any(c >= 3 for c in chans)
    out = []
    for f in frames:
        g = f[..., None] if f.ndim == 2 else f
        rgb = g[..., :3] if g.shape[2] >= 3 else np.repeat(g[..., :1], 3, axis=2)
        a = g[..., -1:] if g.shape[2] in (2, 4) else np.full(g.shape[:2] + (1,), 255, np.uint8)
        body = rgb if colour else g[..., :1]
        f = np.concatenate([body, a], axis=2) if alpha else body
        out.append(f[..., 0] if f.shape[2] == 1 else f)
    return out


def trusted_image(path: Path) -> np.ndarray:
    """Decode an image file with Pillow's own ``open`` and ``load`` (truncation refused).

    A file of more than one frame (TIFF pages, GIF/PNG/WebP animation frames) gives every
    frame, stacked as convcli stacks a volume.  Raises whatever Pillow raises.
    """
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own complaints: it decodes as it decodes
        frames, fmt = _pillow_frames(path)
    if len(frames) == 1:
        return frames[0]
    if fmt in ("GIF", "PNG", "WEBP") and len({f.shape for f in frames}) > 1:
        frames = _promoted(frames)
    out = np.stack(frames)
    if fmt == "WEBP" and out.shape[-1] == 4 and np.all(out[..., 3] == 255):
        out = out[..., :3]  # libwebp decodes every animation as RGBA; an opaque one is RGB
    return out


def _pillow_frames(path: Path) -> tuple[list[np.ndarray], str]:
    from PIL import Image

    with Image.open(path) as im:
        fmt = im.format
        count = int(getattr(im, "n_frames", 1)) if fmt in ("TIFF", "GIF", "PNG", "WEBP") else 1
        frames = []
        for i in range(count):
            im.seek(i)
            im.load()
            frames.append(_frame_array(im))
    return frames, str(fmt)


def trusted_audio(path: Path) -> np.ndarray:
    """Decode an audio file with ``soundfile.read`` (float64 for DOUBLE and PCM_32)."""
    import soundfile as sf

    subtype = sf.info(str(path)).subtype
    dtype = "float64" if subtype in ("DOUBLE", "PCM_32") else "float32"
    data, _ = sf.read(str(path), dtype=dtype, always_2d=True)
    return data


def trusted_kernel(path: Path) -> np.ndarray:
    """Read a kernel file with numpy, ``json`` or soundfile alone, as float64."""
    ext = path.suffix
    if ext == ".npy":
        return np.load(path, allow_pickle=False).astype(np.float64)
    if ext == ".json":
        data = json.loads(path.read_bytes().decode("utf-8"))
        if isinstance(data, dict):
            data = data["kernel"]
        return np.array(data, dtype=np.float64)
    if ext == ".wav":
        import soundfile as sf

        data, _ = sf.read(str(path), dtype="float64", always_2d=True)
        return data[:, 0] if data.shape[1] == 1 else data.T
    # the documented grammar: numbers split by whitespace or single commas, "#" comments
    text = path.read_bytes().decode("utf-8-sig")
    if ",," in text.replace(" ", "") or re.search(r"(^|\n)\s*,|,\s*($|\n|#)", text):
        raise ValueError("an empty field between commas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": refused below
        kernel = np.loadtxt(io.StringIO(text.replace(",", " ")), dtype=np.float64, ndmin=1)
    if kernel.size == 0:
        raise ValueError("no numbers")
    return kernel


def trusted_weights(path: Path) -> np.ndarray:
    """Read layer weights with ``numpy.load``: the weights, then the bias if any, flattened."""
    with np.load(path, allow_pickle=False) as loaded:
        parts = [loaded["weight"], loaded["bias"]] if "bias" in loaded else [loaded["weight"]]
        return np.concatenate([np.asarray(p, np.float64).ravel() for p in parts])


def _trusted_npy_weights(path: Path) -> np.ndarray:
    if path.suffix == ".npz":
        return trusted_weights(path)
    return np.load(path, allow_pickle=False).astype(np.float64).ravel()


TRUSTED: dict[str, Callable[[Path], np.ndarray]] = {
    "image": trusted_image,
    "audio": trusted_audio,
    "npy": lambda p: np.load(p, allow_pickle=False),
    "kernel": trusted_kernel,
    "weights": _trusted_npy_weights,
}


# ------------------------------------------------------------------------------ report


def _main(argv: list[str]) -> int:
    import argparse
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    from test_reliability_damage import run_case

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extra", type=int, default=0, help="random damage points per format")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    tally: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for original in ORIGINALS:
            for d in damages(original, args.extra, args.seed):
                case_dir = Path(tmp) / d.id.replace(":", "_")
                case_dir.mkdir()
                outcome = run_case(d, case_dir)
                how = outcome.split(":")[0]
                tally[how] = tally.get(how, 0) + 1
                print(f"{d.id:40s} {outcome}", flush=True)
    print(", ".join(f"{n} {what}" for what, n in sorted(tally.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
