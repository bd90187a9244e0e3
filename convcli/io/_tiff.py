"""Why Pillow refused a TIFF: a layout it does not read, or damage.

When Pillow cannot identify a file whose magic says TIFF, :func:`diagnose` reads the first
image file directory (IFD) itself, with :mod:`struct` — the byte order, the directory's
place and size, and the tags that decide the pixel layout: ``BitsPerSample``,
``SampleFormat``, ``SamplesPerPixel``, ``ExtraSamples``, ``PhotometricInterpretation``,
``FillOrder``, ``Compression`` — and asks Pillow's own tables (``COMPRESSION_INFO``,
``OPEN_INFO``) whether that layout is one Pillow reads.  A valid file of a layout Pillow
does not read (a float64 RGB stack, as scikit-image ships ``multipage_rgb.tif``; JPEG 2000
compression) is *unsupported*, and the message says what it holds; a directory that lies
outside the file, is cut short, or misses the image's size is *damaged*; a layout Pillow
reads that Pillow still refused is damaged too (the damage is elsewhere in the header).

Only the first IFD is read; no pixel is.
"""

from __future__ import annotations

import struct
from typing import IO

__all__ = ["diagnose"]

# tag -> name, for messages
_WIDTH, _LENGTH, _BITS, _COMPRESSION, _PHOTOMETRIC = 256, 257, 258, 259, 262
_FILLORDER, _SAMPLES, _PLANAR, _EXTRA, _SAMPLEFORMAT = 266, 277, 284, 338, 339
_WANTED = (
    _WIDTH,
    _LENGTH,
    _BITS,
    _COMPRESSION,
    _PHOTOMETRIC,
    _FILLORDER,
    _SAMPLES,
    _PLANAR,
    _EXTRA,
    _SAMPLEFORMAT,
)

# TIFF field type -> (struct code, size) for the integer types these tags use
_TYPES = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 6: ("b", 1), 8: ("h", 2), 9: ("i", 4)}
_TYPES_BIG = {**_TYPES, 16: ("Q", 8), 17: ("q", 8)}

_MAX_ENTRIES = 4096
_MAX_VALUES = 1024

_SAMPLE_KIND = {1: "uint", 2: "int", 3: "float", 4: "untyped ", 5: "complex int", 6: "complex"}
_PHOTOMETRIC_NAME = {
    0: "min-is-white",
    1: "min-is-black",
    2: "RGB",
    3: "palette",
    4: "transparency mask",
    5: "CMYK",
    6: "YCbCr",
    8: "CIE L*a*b*",
    9: "ICC L*a*b*",
    10: "ITU L*a*b*",
    32844: "LogL",
    32845: "LogLuv",
    34892: "linear raw",
}
_COMPRESSION_NAME = {
    6: "old-style JPEG",
    9: "JBIG",
    10: "JBIG",
    32767: "NeXT",
    34661: "JBIG",
    34712: "JPEG 2000",
    34887: "LERC",
    34892: "lossy JPEG",
    34933: "PNG",
    34934: "JPEG XR",
    50002: "JPEG XL",
    52546: "JPEG XL",
}


class _Damaged(Exception):
    """The directory is not what the format says it must be."""


def _read_at(fh: IO[bytes], offset: int, size: int, file_size: int, what: str) -> bytes:
    if offset < 0 or offset + size > file_size:
        raise _Damaged(f"{what} at byte {offset} lies past the end of the file ({file_size} bytes)")
    fh.seek(offset)
    data = fh.read(size)
    if len(data) != size:
        raise _Damaged(f"{what} at byte {offset} is cut short")
    return data


def _first_ifd(fh: IO[bytes], file_size: int) -> tuple[bytes, dict[int, tuple[int, ...]]]:
    """Return the byte order (``b"II"``/``b"MM"``) and the wanted tags of the first IFD."""
    head = _read_at(fh, 0, 8, file_size, "the TIFF header")
    order = head[:2]
    if order not in (b"II", b"MM"):
        raise _Damaged(f"the byte order mark {order!r} is neither II nor MM")
    e = "<" if order == b"II" else ">"
    magic = struct.unpack(e + "H", head[2:4])[0]
    if magic == 42:
        offset = struct.unpack(e + "I", head[4:8])[0]
        count_fmt, entry_size, inline, types = "H", 12, 4, _TYPES
    elif magic == 43:
        big = _read_at(fh, 0, 16, file_size, "the BigTIFF header")
        if struct.unpack(e + "HH", big[4:8]) != (8, 0):
            raise _Damaged("the BigTIFF header's offset size is not 8")
        offset = struct.unpack(e + "Q", big[8:16])[0]
        count_fmt, entry_size, inline, types = "Q", 20, 8, _TYPES_BIG
    else:
        raise _Damaged(f"the TIFF version is {magic}, neither 42 nor 43 (BigTIFF)")
    if offset < 8:
        raise _Damaged(f"the first directory's offset is {offset}")
    count_size = struct.calcsize(count_fmt)
    raw_count = _read_at(fh, offset, count_size, file_size, "the first directory")
    count = struct.unpack(e + count_fmt, raw_count)[0]
    if not 0 < count <= _MAX_ENTRIES:
        raise _Damaged(f"the first directory claims {count} entries")
    table = _read_at(fh, offset + count_size, count * entry_size, file_size, "the first directory")
    tags: dict[int, tuple[int, ...]] = {}
    for i in range(count):
        entry = table[i * entry_size : (i + 1) * entry_size]
        tag, kind = struct.unpack(e + "HH", entry[:4])
        if tag not in _WANTED:
            continue
        if kind not in types:
            raise _Damaged(f"tag {tag} has field type {kind}, not an integer type")
        n = struct.unpack(e + ("I" if entry_size == 12 else "Q"), entry[4 : 4 + inline])[0]
        if not 0 < n <= _MAX_VALUES:
            raise _Damaged(f"tag {tag} claims {n} values")
        code, size = types[kind]
        field = entry[4 + inline :]
        if n * size > inline:
            at = struct.unpack(e + ("I" if inline == 4 else "Q"), field)[0]
            field = _read_at(fh, at, n * size, file_size, f"tag {tag}'s values")
        tags[tag] = struct.unpack(e + code * n, field[: n * size])
    for tag, name in ((_WIDTH, "ImageWidth"), (_LENGTH, "ImageLength")):
        if not tags.get(tag) or tags[tag][0] <= 0:
            raise _Damaged(f"the first directory has no {name}")
    return order, tags


def _samples_text(spp: int, formats: tuple[int, ...], bits: tuple[int, ...]) -> str:
    kinds = {_SAMPLE_KIND.get(f, f"format-{f} ") for f in formats}
    if len(set(bits)) == 1 and len(kinds) == 1:
        kind = kinds.pop()
        word = "sample" if spp == 1 else "samples"
        return f"{spp} {kind}{bits[0]} {word} per pixel"
    return f"{spp} samples per pixel of {', '.join(map(str, bits))} bits"


def _layout(order: bytes, tags: dict[int, tuple[int, ...]]) -> str | None:
    """Describe a layout Pillow does not read, or None (Pillow's rules, from its tables)."""
    from PIL import TiffImagePlugin as tiff

    compression = tags.get(_COMPRESSION, (1,))[0]
    if compression not in tiff.COMPRESSION_INFO:
        name = _COMPRESSION_NAME.get(compression)
        label = f"{compression} ({name})" if name else str(compression)
        return f"TIFF with compression {label} is not read"
    photo = tags.get(_PHOTOMETRIC, (0,))[0]
    if tiff.COMPRESSION_INFO[compression] == "tiff_jpeg":
        photo = 6
    fill = tags.get(_FILLORDER, (1,))[0]
    formats = tags.get(_SAMPLEFORMAT, (1,))
    key_formats = (formats[0],) if len(set(formats)) == 1 else formats
    bits = tags.get(_BITS, (1,))
    extra = tags.get(_EXTRA, ())
    default_spp = 3 if compression in (6, 7) and photo in (2, 6) else 1
    spp = tags.get(_SAMPLES, (default_spp,))[0]
    if tags.get(_PLANAR, (1,))[0] == 2 and extra and max(extra) == 0:
        bits, spp, extra = bits[: -len(extra)], spp - len(extra), ()
    if spp < len(bits):
        bits = bits[:spp]
    elif spp > len(bits) == 1:
        bits = bits * spp
    if len(bits) != spp:
        return None  # BitsPerSample and SamplesPerPixel disagree: a damaged directory
    key = (order, photo, key_formats, fill, bits, extra)
    if key in tiff.OPEN_INFO:
        return None
    if not any(k[1] == photo for k in tiff.OPEN_INFO):
        name = _PHOTOMETRIC_NAME.get(photo)
        label = f"{photo} ({name})" if name else str(photo)
        return f"TIFF with photometric interpretation {label} is not read"
    sample_formats = formats if len(formats) == spp else formats[:1] * spp
    text = f"TIFF with {_samples_text(spp, sample_formats, bits)}"
    if extra:
        text += f" ({len(extra)} extra)"
    return text + " is not read; convert it to .npy"


def diagnose(fh: IO[bytes], file_size: int) -> tuple[str, str | None]:
    r"""Tell why Pillow could not identify a file whose magic says TIFF.

    Parameters
    ----------
    fh : binary file
        The file (read from its start; left anywhere).
    file_size : int
        Its size in bytes.

    Returns
    -------
    (str, str or None)
        ``("unsupported", what)``: a valid header of a layout Pillow does not read;
        ``("damaged", why)``: the first directory is broken (``why`` says how), or its
        layout is one Pillow reads (``why`` is None: the damage is elsewhere).

    Examples
    --------
    >>> import io, struct
    >>> tags = [(256, 4, 1, 7), (257, 4, 1, 6), (258, 3, 3, 0), (262, 3, 1, 2),
    ...         (277, 3, 1, 3), (339, 3, 3, 0)]
    >>> ifd = struct.pack("<H", len(tags)) + b"".join(
    ...     struct.pack("<HHII", t, k, n, v) for t, k, n, v in tags) + b"\0" * 4
    >>> data = b"II*\0" + struct.pack("<I", 8) + ifd
    >>> values = len(data)
    >>> data = data.replace(struct.pack("<HHII", 258, 3, 3, 0),
    ...                     struct.pack("<HHII", 258, 3, 3, values))
    >>> data = data.replace(struct.pack("<HHII", 339, 3, 3, 0),
    ...                     struct.pack("<HHII", 339, 3, 3, values + 6))
    >>> data += struct.pack("<6H", 64, 64, 64, 3, 3, 3)
    >>> diagnose(io.BytesIO(data), len(data))
    ('unsupported', 'TIFF with 3 float64 samples per pixel is not read; convert it to .npy')
    >>> diagnose(io.BytesIO(data[:20]), 20)
    ('damaged', 'the first directory at byte 10 lies past the end of the file (20 bytes)')
    """
    try:
        order, tags = _first_ifd(fh, file_size)
    except _Damaged as exc:
        return "damaged", str(exc)
    except (OSError, struct.error) as exc:
        return "damaged", " ".join(str(exc).split()) or type(exc).__name__
    what = _layout(order, tags)
    if what is None:
        return "damaged", None
    return "unsupported", what
