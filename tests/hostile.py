"""A corpus of hostile input files for convcli, made from bytes and numpy (nothing downloaded).

``python tests/hostile.py DIR`` writes the corpus into ``DIR`` (created) and prints one line
per case: its name, what ``convcli filter`` must do with it, and what it is.  The tests in
``tests/test_reliability_corpus.py`` build it in a temporary folder and run every case.

Each :class:`Case` says how ``convcli filter NAME ARGS -o OUT`` must end:

- ``ok``: exit 0, the output written (an odd but valid file: palette, CMYK, 1-bit, I;16B,
  float, LA, 8/24/32-bit and float WAV, 1/2/6 channels, names with spaces or unicode...);
- ``error``: exit 1 and exactly one line ``convcli: error: NAME: ...`` holding every one of
  ``words`` (a file convcli must refuse: empty, truncated, a bomb, the wrong format...);
- ``usage``: exit 2 and one line holding ``words`` (a bad kernel file, read before any input).

Valid files are written with Pillow and soundfile from seeded numpy arrays, then cut, patched
or renamed; bombs and forged headers are written byte by byte.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Case", "build", "BAD_NAME", "BAD_TRUNCATED_NAME"]

#: A valid PNG whose name is not UTF-8 (a byte 0xff), as os.fsdecode gives it.
BAD_NAME = os.fsdecode(b"undecodable-\xff.png")
#: A truncated PNG whose name is not UTF-8.
BAD_TRUNCATED_NAME = os.fsdecode(b"undecodable-\xfe-truncated.png")

ROWS, COLS = 24, 32
RATE = 8000


@dataclass(frozen=True)
class Case:
    """One input of the corpus and what ``convcli filter`` must do with it.

    Attributes
    ----------
    name : str
        Its path inside the corpus folder (a file, a folder, a FIFO...).
    expect : str
        ``"ok"`` (exit 0), ``"error"`` (exit 1) or ``"usage"`` (exit 2).
    words : tuple of str
        Fragments the one error line must hold (case-insensitive); for ``ok``, fragments a
        warning line must hold (a NaN input), if any.
    args : tuple of str
        The kernel and options it is filtered with (paths relative to the corpus folder).
    output : str or None
        The output's name (default: the input's name, as ``--out-dir`` gives it).
    note : str
        What the case is.
    batch : bool
        Whether it runs in the whole-corpus batch (``-k box:3 --out-dir``): cases with
        their own arguments or output name do not.
    """

    name: str
    expect: str
    words: tuple[str, ...] = ()
    args: tuple[str, ...] = ("-k", "box:3")
    output: str | None = None
    note: str = ""
    batch: bool = True
    special: bool = field(default=False, compare=False)

    @property
    def out_name(self) -> str:
        """The output's name in the output folder."""
        return self.output or Path(self.name).name


# ------------------------------------------------------------------------------ valid bytes


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _u8(*shape: int, seed: int = 0) -> np.ndarray:
    return _rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _save_image(path: Path, im: object, **kw: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)  # type: ignore[attr-defined]


def _png_bytes(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _image_bytes(fmt: str, arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def _wav_bytes(frames: int = 800, channels: int = 2, subtype: str = "PCM_16", fmt: str = "WAV"):
    import io

    import soundfile as sf

    buf = io.BytesIO()
    data = _rng(3).uniform(-0.5, 0.5, (frames, channels))
    sf.write(buf, data, RATE, subtype=subtype, format=fmt)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --------------------------------------------------------------------------- forged headers


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_claiming(cols: int, rows: int) -> bytes:
    """A 100-byte PNG whose header claims ``cols x rows`` 8-bit gray pixels."""
    ihdr = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def tiff_claiming(cols: int, rows: int) -> bytes:
    """A 150-byte little-endian TIFF whose first IFD claims ``cols x rows`` 8-bit gray."""
    entries = [
        (256, 4, cols),  # ImageWidth, LONG
        (257, 4, rows),  # ImageLength
        (258, 3, 8),  # BitsPerSample, SHORT
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # Photometric: black is zero
        (273, 4, 8 + 2 + 12 * 9 + 4),  # StripOffsets
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, rows),  # RowsPerStrip
        (279, 4, (cols * rows) & 0xFFFFFFFF),  # StripByteCounts
    ]
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        if kind == 3:
            out += struct.pack("<HHIHH", tag, kind, 1, value, 0)
        else:
            out += struct.pack("<HHII", tag, kind, 1, value)
    return out + struct.pack("<I", 0) + b"\x00" * 16


def gif_claiming(cols: int, rows: int) -> bytes:
    """A 29-byte GIF whose screen and first frame claim ``cols x rows``."""
    screen = struct.pack("<HHBBB", cols, rows, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, cols, rows, 0)
    return b"GIF89a" + screen + frame + b"\x02\x02\x44\x01\x00;"


def jpeg_claiming(cols: int, rows: int) -> bytes:
    """A 37-byte JPEG whose SOF0 claims ``cols x rows`` gray."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, rows, cols, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 10 + b"\xff\xd9"


def bmp_claiming(cols: int, rows: int) -> bytes:
    """A 1 kB BMP whose header claims ``cols x rows`` 8-bit palette pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, cols, rows, 1, 8, 0, 0, 2835, 2835, 0, 0)
    offset = 14 + 40 + 1024
    return b"BM" + struct.pack("<IHHI", offset + 16, 0, 0, offset) + info + b"\x00" * 1040


def wav_claiming(frames: int, *, channels: int = 2, holds: int = 100) -> bytes:
    """A 16-bit WAV whose header claims ``frames`` frames but which holds ``holds``."""
    block = 2 * channels
    fmt = struct.pack("<HHIIHH", 1, channels, RATE, RATE * block, block, 16)
    data_size = (frames * block) & 0xFFFFFFFF
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"data" + struct.pack("<I", data_size) + b"\x00" * (holds * block)
    return b"RIFF" + struct.pack("<I", (data_size + 36) & 0xFFFFFFFF) + body


def npy_claiming(shape: tuple[int, ...], descr: str = "<f8", payload: int = 64) -> bytes:
    """An ``.npy`` whose header claims ``shape`` of ``descr`` followed by ``payload`` bytes."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    pad = 64 - (10 + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * payload


# ------------------------------------------------------------------------------ the corpus


def _images(root: Path) -> list[Case]:
    from PIL import Image

    cases: list[Case] = []
    rgb = _u8(ROWS, COLS, 3)
    png = _png_bytes(rgb)
    jpg = _image_bytes("JPEG", rgb)
    tif = _image_bytes("TIFF", rgb)

    _write(root / "zero-byte.png", b"")
    cases.append(Case("zero-byte.png", "error", ("empty",), note="0 bytes"))
    _write(root / "zero-byte.jpg", b"")
    cases.append(Case("zero-byte.jpg", "error", ("empty",), note="0 bytes"))
    _write(root / "zero-byte.tif", b"")
    cases.append(Case("zero-byte.tif", "error", ("empty",), note="0 bytes"))
    _write(root / "truncated.png", png[: len(png) // 2])
    cases.append(Case("truncated.png", "error", ("truncated",), note="half a PNG"))
    _write(root / "truncated.jpg", jpg[: len(jpg) // 2])
    cases.append(Case("truncated.jpg", "error", ("truncated",), note="half a JPEG"))
    _write(root / "truncated.tif", tif[: len(tif) // 3])
    cases.append(Case("truncated.tif", "error", ("cannot read",), note="a third of a TIFF"))
    _write(root / "signature-only.png", png[:8])
    cases.append(Case("signature-only.png", "error", ("cannot read",), note="8 bytes of PNG"))
    _write(root / "bomb-100k.png", png_claiming(100_000, 100_000))
    cases.append(
        Case("bomb-100k.png", "error", ("10000000000 pixels", "--max-pixels"), note="10^10 px")
    )
    _write(root / "bomb-100k.tif", tiff_claiming(100_000, 100_000))
    cases.append(
        Case("bomb-100k.tif", "error", ("10000000000 pixels", "--max-pixels"), note="10^10 px")
    )
    _write(root / "bomb-65k.gif", gif_claiming(65535, 65535))
    cases.append(Case("bomb-65k.gif", "error", ("pixels", "--max-pixels"), note="4.3 Gpx GIF"))
    _write(root / "bomb-65k.jpg", jpeg_claiming(65500, 65500))
    cases.append(Case("bomb-65k.jpg", "error", ("pixels", "--max-pixels"), note="4.3 Gpx JPEG"))
    _write(root / "bomb-100k.bmp", bmp_claiming(100_000, 100_000))
    cases.append(Case("bomb-100k.bmp", "error", ("pixels", "--max-pixels"), note="10^10 px BMP"))
    _write(root / "eps-renamed.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\nshowpage\n")
    cases.append(Case("eps-renamed.png", "error", ("PostScript",), note="EPS named .png"))
    _write(root / "pdf-renamed.png", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    cases.append(Case("pdf-renamed.png", "error", ("PDF",), note="PDF named .png"))
    _write(
        root / "svg-renamed.png",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect/></svg>\n',
    )
    cases.append(Case("svg-renamed.png", "error", ("SVG",), note="SVG named .png"))
    _write(root / "eps-renamed.jpg", b"\xc5\xd0\xd3\xc6" + b"\x00" * 28)
    cases.append(Case("eps-renamed.jpg", "error", ("EPS",), note="DOS EPS binary named .jpg"))
    _write(root / "text-named.png", b"hello, this is not an image\n")
    cases.append(Case("text-named.png", "error", ("text",), note="text named .png"))
    _write(root / "wav-named.png", _wav_bytes(200))
    cases.append(
        Case("wav-named.png", "error", ("content is WAV", "extension .png says PNG"), note="")
    )
    _write(root / "jpeg-named.png", jpg)
    cases.append(Case("jpeg-named.png", "error", ("content is JPEG", ".png says PNG")))
    _write(root / "tga-named.png", b"\x00\x00\x02" + b"\x00" * 15 + b"\xff" * 30)
    cases.append(Case("tga-named.png", "error", ("not PNG",), note="TGA: not in the allowlist"))

    # odd but valid modes
    def image(name: str, im: object, note: str, **kw: object) -> None:
        _save_image(root / name, im, **kw)
        cases.append(Case(name, "ok", note=note))

    pal = Image.frombytes("P", (COLS, ROWS), _u8(ROWS, COLS, seed=1).tobytes())
    pal.putpalette(_u8(768, seed=2).tobytes())
    image("palette.png", pal, "mode P")
    image("palette-transparent.png", pal, "mode P + tRNS", transparency=5)
    image("cmyk.tif", Image.frombytes("CMYK", (COLS, ROWS), _u8(ROWS, COLS, 4).tobytes()), "CMYK")
    image("1bit.png", Image.fromarray(_u8(ROWS, COLS) > 127), "mode 1")
    i16b = _rng(4).integers(0, 65536, (ROWS, COLS)).astype(">u2")
    image("i16b.tif", Image.frombytes("I;16B", (COLS, ROWS), i16b.tobytes()), "I;16B")
    image("gray16.png", Image.fromarray(i16b.astype(np.uint16)), "16-bit gray")
    flt = _rng(5).normal(0, 10, (ROWS, COLS)).astype(np.float32)
    image("float.tif", Image.fromarray(flt), "mode F")
    image("int32.tif", Image.fromarray(_rng(6).integers(-9, 9, (ROWS, COLS), dtype=np.int32)), "I")
    image("la.png", Image.fromarray(_u8(ROWS, COLS, 2), "LA"), "gray + alpha")
    image("rgba.png", Image.fromarray(_u8(ROWS, COLS, 4), "RGBA"), "RGBA")
    image("photo.jpg", Image.fromarray(rgb), "JPEG")
    image("image.bmp", Image.fromarray(rgb), "BMP")
    image("image.webp", Image.fromarray(rgb), "WebP (lossless)", lossless=True)
    image("image.ppm", Image.fromarray(rgb), "PPM")
    image("image.pgm", Image.fromarray(rgb[..., 0]), "PGM")
    image("with space.png", Image.fromarray(rgb), "a name with spaces")
    image("ünïcødé ☃.png", Image.fromarray(rgb), "a unicode name")
    image(BAD_NAME, Image.fromarray(rgb), "a name with an invalid UTF-8 byte")
    frames = [Image.fromarray(_u8(ROWS, COLS, seed=10 + i)) for i in range(3)]
    _save_image(root / "multipage.tif", frames[0], save_all=True, append_images=frames[1:])
    cases.append(Case("multipage.tif", "ok", note="3-page TIFF: a volume"))
    gif = [Image.fromarray((_u8(ROWS, COLS, seed=20 + i) // 16) * 16) for i in range(3)]
    _save_image(root / "animated.gif", gif[0], save_all=True, append_images=gif[1:], duration=50)
    cases.append(Case("animated.gif", "ok", note="3-frame GIF: a volume"))
    nan = flt.copy()
    nan[3, 4] = np.nan
    nan[10, 11] = np.inf
    image("nan-inf.tif", Image.fromarray(nan), "float with a NaN and an Inf")
    cases[-1] = Case("nan-inf.tif", "ok", ("2 NaN/Inf",), note="float with a NaN and an Inf")
    _write(root / BAD_TRUNCATED_NAME, png[: len(png) // 2])
    cases.append(Case(BAD_TRUNCATED_NAME, "error", ("truncated",), note="bad name, bad file"))
    _write(root / "unknown-ext.dat", png)
    cases.append(
        Case(
            "unknown-ext.dat",
            "ok",
            output="unknown-ext.png",
            batch=False,
            note="PNG named .dat: a text extension claims only text; the content decides",
        )
    )
    return cases


def _audio(root: Path) -> list[Case]:
    import soundfile as sf

    cases: list[Case] = []
    wav = _wav_bytes(800)
    flac = _wav_bytes(800, subtype="PCM_16", fmt="FLAC")
    _write(root / "zero-byte.wav", b"")
    cases.append(Case("zero-byte.wav", "error", ("empty",)))
    _write(root / "zero-byte.flac", b"")
    cases.append(Case("zero-byte.flac", "error", ("empty",)))
    _write(root / "header-only.wav", wav[:20])
    cases.append(Case("header-only.wav", "error", ("cannot read as audio",), note="20 bytes"))
    _write(root / "claims-1000-frames.wav", wav_claiming(1000, holds=100))
    cases.append(
        Case(
            "claims-1000-frames.wav",
            "error",
            ("truncated", "1000 frames", "holds 100"),
            note="header claims more frames than the file holds",
        )
    )
    _write(root / "claims-2g-frames.wav", wav_claiming(0x3FFFFFF0 // 4, holds=100))
    cases.append(Case("claims-2g-frames.wav", "error", ("truncated", "holds 100")))
    _write(root / "truncated.flac", flac[: len(flac) // 2])
    cases.append(Case("truncated.flac", "error", ("cannot read as audio",), note="half a FLAC"))
    _write(root / "png-named.wav", _png_bytes(_u8(8, 8)))
    cases.append(Case("png-named.wav", "error", ("content is PNG", "extension .wav says WAV")))
    _write(root / "text-named.wav", b"not audio at all\n")
    cases.append(Case("text-named.wav", "error", ("cannot read as audio", "text")))
    channels = bytearray(_wav_bytes(10, channels=1))
    struct.pack_into("<H", channels, 22, 4000)  # the fmt chunk's channel count
    _write(root / "4000-channels.wav", bytes(channels))
    cases.append(Case("4000-channels.wav", "error", ("channels",), note="libsndfile: 1024 at most"))
    _write(root / "zero-frames.wav", _wav_bytes(0, channels=1))
    cases.append(Case("zero-frames.wav", "error", ("no samples",)))
    _write(root / "ima-adpcm.wav", _wav_bytes(800, channels=1, subtype="IMA_ADPCM"))
    cases.append(Case("ima-adpcm.wav", "error", ("IMA_ADPCM",), note="codec not in the list"))
    _write(root / "sun-au-named.wav", _wav_bytes(100, channels=1, fmt="AU"))
    cases.append(
        Case("sun-au-named.wav", "error", ("content is AU", ".wav says WAV"), note="AU named .wav")
    )
    data = _rng(7).uniform(-0.5, 0.5, (400, 6))
    for name, subtype, ch, fmt in [
        ("pcm-u8.wav", "PCM_U8", 1, "WAV"),
        ("pcm-16-stereo.wav", "PCM_16", 2, "WAV"),
        ("pcm-24.wav", "PCM_24", 2, "WAV"),
        ("pcm-32.wav", "PCM_32", 2, "WAV"),
        ("float.wav", "FLOAT", 2, "WAV"),
        ("double.wav", "DOUBLE", 1, "WAV"),
        ("six-channels.wav", "PCM_16", 6, "WAV"),
        ("mu-law.wav", "ULAW", 1, "WAV"),
        ("pcm-24.flac", "PCM_24", 2, "FLAC"),
        ("pcm-16.aiff", "PCM_16", 2, "AIFF"),
    ]:
        sf.write(root / name, data[:, :ch], RATE, subtype=subtype, format=fmt)
        cases.append(Case(name, "ok", note=f"{subtype}, {ch} channel(s)"))
    nan = data[:, :2].copy()
    nan[5, 0] = np.nan
    sf.write(root / "nan.wav", nan, RATE, subtype="FLOAT")
    cases.append(Case("nan.wav", "ok", ("1 NaN/Inf",), note="float WAV with a NaN"))
    sf.write(root / "ünïcødé ♪.wav", data[:, :2], RATE, subtype="PCM_16")
    cases.append(Case("ünïcødé ♪.wav", "ok", note="a unicode name"))
    return cases


def _arrays(root: Path) -> list[Case]:
    import io

    cases: list[Case] = []
    _write(root / "zero-byte.npy", b"")
    cases.append(Case("zero-byte.npy", "error", ("empty",)))
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    _write(root / "pickled.npy", buf.getvalue())
    cases.append(Case("pickled.npy", "error", ("Python objects", "never unpickles")))
    _write(root / "terabytes.npy", npy_claiming((1 << 20, 1 << 20)))
    cases.append(
        Case("terabytes.npy", "error", ("truncated", "8796093022208 bytes"), note="8 TiB claim")
    )
    good = io.BytesIO()
    np.save(good, _rng(8).normal(size=(30, 40)).astype(np.float32))
    _write(root / "truncated.npy", good.getvalue()[:-100])
    cases.append(Case("truncated.npy", "error", ("truncated",)))
    _write(root / "negative-shape.npy", npy_claiming((-5, 4)))
    cases.append(Case("negative-shape.npy", "error", ("npy",)))
    _write(root / "text-named.npy", b"1 2 3\n4 5 6\n")
    cases.append(Case("text-named.npy", "error", ("cannot read as .npy", "text")))
    complex_ = io.BytesIO()
    np.save(complex_, np.ones((4, 4), np.complex64))
    _write(root / "complex.npy", complex_.getvalue())
    cases.append(Case("complex.npy", "error", ("not a real number type",)))
    npz = io.BytesIO()
    np.savez(npz, a=np.zeros(3))
    _write(root / "npz-named.npy", npz.getvalue())
    cases.append(Case("npz-named.npy", "error", ("zip",)))
    huge_header = b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b" " * 60000
    _write(root / "huge-header.npy", huge_header)
    cases.append(Case("huge-header.npy", "error", ("cannot read .npy",)))
    nan = _rng(9).normal(size=(20, 30)).astype(np.float32)
    nan[2, 3] = np.nan
    np.save(root / "nan.npy", nan)
    cases.append(Case("nan.npy", "ok", ("1 NaN/Inf",), note="float array with a NaN"))
    cases.append(
        Case(
            "nan.npy",
            "error",
            ("NaN/Inf", "uint8 cannot hold"),
            args=("-k", "box:3", "--dtype", "uint8"),
            batch=False,
            note="NaN to an integer output: refused",
        )
    )
    np.save(root / "fortran.npy", np.asfortranarray(_rng(10).normal(size=(20, 30))))
    cases.append(Case("fortran.npy", "ok", note="Fortran order"))
    return cases


def _series(root: Path) -> list[Case]:
    """Text series (CSV, TSV, .txt/.dat): odd but valid layouts, and what must be refused."""
    cases: list[Case] = []

    def text(name: str, content: bytes, expect: str, words: tuple[str, ...], note: str) -> None:
        _write(root / name, content)
        cases.append(Case(name, expect, words, note=note))

    rows = "".join(
        f"2024-05-01T10:{m:02d}:00,{20 + (m % 7) * 0.25:.2f},{50 + m % 5:.1f},L{m}\n"
        for m in range(40)
    )
    log = ("# logger 7\ntime,temp,humidity,label\n" + rows).encode()
    text("sensor-log.csv", log, "ok", (), "timestamps, two numeric columns, labels")
    text("bom.csv", b"\xef\xbb\xbf" + log, "ok", (), "a UTF-8 BOM before the header")
    text("crlf.csv", log.replace(b"\n", b"\r\n"), "ok", (), "CRLF line ends")
    spreadsheet = b"t;x;y\n" + b"".join(b"%d;%d,5;-%d,25\n" % (i, i, i) for i in range(30))
    text("spreadsheet.csv", spreadsheet, "ok", (), "';' between fields, decimal commas")
    tabs = b"".join(b"%d\t%d.125\n" % (i, i * i) for i in range(30))
    text("tabs.tsv", tabs, "ok", (), "tab-separated, no header")
    blanks = b"#  t    x\n" + b"".join(b"  %d.0   %d.50\n" % (i, 3 * i) for i in range(30))
    text("blanks.dat", blanks, "ok", (), "blank-separated, a comment header")
    quoted = b'who,x\n"Smith, J",1.5\n"line\nbreak",2.5\n"say ""hi""",3.5\n'
    text("quoted.csv", quoted, "ok", (), "quoted fields with commas, quotes, line breaks")
    nan = b"t,x\na,1.0\nb,\nc,NaN\nd,4.0\n"
    text("nan-cells.csv", nan, "ok", ("2 NaN/Inf",), "an empty cell and a NaN")
    text("zero-byte.csv", b"", "error", ("empty",), "0 bytes")
    text("ragged.csv", b"a,b,c\n1,2,3\n4,5\n", "error", ("line 3", "2 fields"), "ragged rows")
    text(
        "decimal-comma.csv",
        b"t,x\n0,1.5\n1,2,5\n",
        "error",
        ("line 3", "decimal comma in a comma-separated file"),
        "a decimal comma in a comma-separated file",
    )
    text(
        "text-cell.csv",
        b"t,x\n0,1.5\n1,2.5\n2,n/a?\n",
        "error",
        ("line 4, column 2", "is not a number"),
        "a cell of text in a numeric column",
    )
    text("header-only.csv", b"time,value\n", "error", ("no data rows",), "a header alone")
    junk = bytes(_rng(12).integers(128, 256, 4096, dtype=np.uint8))
    text("binary-junk.csv", junk, "error", ("not UTF-8",), "binary junk named .csv")
    text("gzip-named.csv", b"\x1f\x8b\x08\x00" + bytes(60), "error", ("gzip",), "gzipped CSV")
    text("nul-byte.txt", b"1 2\n3 \x004\n", "error", ("NUL byte",), "a NUL in the text")
    line = b"a,b\n1,2\n" + b"7" * ((1 << 20) + 10) + b"\n"
    text("long-line.csv", line, "error", ("line 3", "longer than 1048576 bytes"), "a 1 MiB line")
    with open(root / "sparse-1g.csv", "wb") as fh:  # sparse: 1 GiB on paper, one line of NULs
        fh.write(b"a,b\n1,2\n")
        fh.truncate(1 << 30)
    cases.append(Case("sparse-1g.csv", "error", ("line 3", "NUL byte"), note="a 1 GiB line"))
    _write(root / "png-named.csv", _png_bytes(_u8(8, 8)))
    cases.append(
        Case(
            "png-named.csv",
            "error",
            ("an image cannot be written as CSV",),
            note="a PNG named .csv: read as the PNG it is, not written as CSV",
        )
    )
    return cases


def _folders(root: Path) -> list[Case]:
    from PIL import Image

    cases: list[Case] = []

    def folder(name: str, planes: list[tuple[str, np.ndarray]]) -> Path:
        path = root / name
        path.mkdir(parents=True, exist_ok=True)
        for file, arr in planes:
            Image.fromarray(arr).save(path / file)
        return path

    folder("slices-ok", [(f"s{i}.png", _u8(ROWS, COLS, seed=30 + i)) for i in (1, 2, 10)])
    cases.append(Case("slices-ok", "ok", note="3 slices in natural order"))
    folder("slices-size", [("s1.png", _u8(ROWS, COLS)), ("s2.png", _u8(ROWS + 1, COLS))])
    cases.append(Case("slices-size", "error", ("s2.png", "every slice"), note="sizes differ"))
    folder("slices-mode", [("s1.png", _u8(ROWS, COLS)), ("s2.png", _u8(ROWS, COLS, 3))])
    cases.append(Case("slices-mode", "error", ("s2.png", "every slice"), note="modes differ"))
    path = folder("slices-fifo", [("s1.png", _u8(ROWS, COLS))])
    os.mkfifo(path / "s2.png")
    cases.append(Case("slices-fifo", "error", ("s2.png", "FIFO"), note="a FIFO slice"))
    path = folder("slices-device", [("s1.png", _u8(ROWS, COLS))])
    os.symlink("/dev/zero", path / "s2.png")
    cases.append(Case("slices-device", "error", ("s2.png", "character device")))
    path = root / "slices-none"
    path.mkdir()
    (path / "notes.txt").write_text("no images here")
    cases.append(Case("slices-none", "error", ("no image slices",)))
    (root / "folder-named.png").mkdir()
    cases.append(Case("folder-named.png", "error", ("no image slices",), note="empty folder"))
    return cases


def _special(root: Path) -> list[Case]:
    cases: list[Case] = []
    os.mkfifo(root / "fifo.png")
    cases.append(Case("fifo.png", "error", ("FIFO",), note="a named pipe", special=True))
    os.mkfifo(root / "fifo.wav")
    cases.append(Case("fifo.wav", "error", ("FIFO",), note="a named pipe", special=True))
    os.symlink("/dev/zero", root / "dev-zero.wav")
    cases.append(Case("dev-zero.wav", "error", ("character device",), special=True))
    os.symlink("/dev/urandom", root / "dev-urandom.png")
    cases.append(Case("dev-urandom.png", "error", ("character device",), special=True))
    os.symlink("/dev/zero", root / "dev-zero.npy")
    cases.append(Case("dev-zero.npy", "error", ("character device",), special=True))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(root / "socket.png"))
    finally:
        sock.close()
    cases.append(Case("socket.png", "error", ("socket",), special=True))
    os.symlink("nowhere.png", root / "broken-link.png")
    cases.append(Case("broken-link.png", "error", ("does not exist",), special=True))
    return cases


def _kernels(root: Path) -> list[Case]:
    from PIL import Image

    cases: list[Case] = []
    k = root / "kernels"
    k.mkdir()
    Image.fromarray(_u8(ROWS, COLS, 3, seed=40)).save(root / "kernel-target.png")

    def kernel(file: str, content: bytes | None, expect: str, words: tuple[str, ...]) -> None:
        if content is not None:
            (k / file).write_bytes(content)
        cases.append(
            Case(
                "kernel-target.png",
                expect,
                words,
                args=("-k", f"@kernels/{file}"),
                output=f"kernel-{Path(file).stem}.png",
                batch=False,
                note=f"kernel file {file}",
            )
        )

    kernel("ragged.txt", b"1 2 1\n2 4\n1 2 1\n", "usage", ("ragged.txt:2:1", "row has 2"))
    kernel("empty.txt", b"# only a comment\n\n", "usage", ("no numbers",))
    kernel("nan.txt", b"1 2 1\n2 nan 2\n", "usage", ("nan.txt:2:3", "NaN"))
    kernel("inf.csv", b"1,2,1\n2,1e999,2\n", "usage", ("inf.csv:2:3", "infinity"))
    kernel("code.txt", b"__import__('os').system('touch pwned')\n", "usage", ("not a number",))
    kernel("bom.txt", b"\xef\xbb\xbf1 2 1\n2 4 2\n1 2 1\n", "ok", ())
    kernel("latin1.txt", b"1 2 1 \xe9\n", "usage", ("not UTF-8",))
    kernel("ragged.json", b"[[1, 2], [3]]", "usage", ("ragged",))
    kernel("inf.json", b"[[1, Infinity]]", "usage", ("finite",))
    kernel("bad.json", b"[[1, 2]\n [3, 4]", "usage", ("bad.json:2:", "invalid JSON"))
    kernel("bigint.json", b"[" + b"9" * 5000 + b"]", "usage", ("invalid JSON",))
    kernel("deep.json", b"[" * 100_000 + b"]" * 100_000, "usage", ("deep",))
    with open(k / "huge.txt", "wb") as fh:  # sparse: 65 MiB on paper, nothing on disk
        fh.truncate(65 << 20)
    kernel("huge.txt", None, "usage", ("bytes", ".npy"))
    (k / "huge.npy").write_bytes(npy_claiming((100_000, 100_000)))
    kernel("huge.npy", None, "usage", ("taps",))
    buf = bytearray()
    import io

    pick = io.BytesIO()
    np.save(pick, np.array([1, "x", None], dtype=object), allow_pickle=True)
    buf += pick.getvalue()
    kernel("pickled.npy", bytes(buf), "usage", ("Python objects",))
    os.mkfifo(k / "fifo.txt")
    kernel("fifo.txt", None, "usage", ("fifo.txt",))
    cases.append(
        Case(
            "kernel-target.png",
            "error",
            ("8001x8001", "64016001 taps", "--max-taps"),
            args=("-k", "gaussian:1000"),
            output="kernel-gaussian-1000.png",
            batch=False,
            note="-k gaussian:1000 on an image",
        )
    )
    return cases


BUILDERS: tuple[Callable[[Path], list[Case]], ...] = (
    _images,
    _audio,
    _arrays,
    _series,
    _folders,
    _special,
    _kernels,
)


def build(root: Path | str) -> list[Case]:
    """Write the corpus into ``root`` (created) and return its cases.

    Parameters
    ----------
    root : pathlib.Path or str
        An empty or missing folder.

    Returns
    -------
    list of Case
        Every case, in a fixed order.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    for make in BUILDERS:
        cases.extend(make(root))
    return cases


def main(argv: list[str]) -> int:
    """Write the corpus into ``argv[0]`` and print its cases."""
    if len(argv) != 1:
        print("usage: python tests/hostile.py DIR", file=sys.stderr)
        return 2
    for case in build(argv[0]):
        name = case.name.encode("utf-8", "backslashreplace").decode("utf-8")
        args = " ".join(case.args)
        print(f"{case.expect:6} {name:32} {args:28} {case.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
