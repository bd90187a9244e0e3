r"""What a file is, by its content: the allowlist of formats convcli reads.

A file is identified by its first bytes, never by its name, and only these formats are
read (each through the one decoder named here):

==========  ===============================  =====================  ========================
family      format                           magic                  read extensions
==========  ===============================  =====================  ========================
image       PNG (APNG)                       ``\x89PNG``           .png .apng
image       JPEG (MPO read as JPEG)          ``\xff\xd8\xff``    .jpg .jpeg .jpe .jfif .mpo
image       TIFF (BigTIFF)                   ``II*\0`` ``MM\0*``  .tif .tiff
image       BMP                              ``BM``                 .bmp .dib
image       WebP                             ``RIFF....WEBP``       .webp
image       GIF                              ``GIF87a`` ``GIF89a``  .gif
image       PPM/PGM/PBM/PNM, PFM gray        ``P1``..``P6``, ``Pf`` .ppm .pgm .pbm .pnm .pfm
audio       WAV (RIFF, RF64, WAVE_FORMAT_    ``RIFF``/``RF64``      .wav .wave
            EXTENSIBLE)                      ``....WAVE``
audio       FLAC                             ``fLaC``               .flac
audio       OGG (Vorbis, Opus)               ``OggS``               .ogg .oga .opus
audio       AIFF, AIFF-C                     ``FORM....AIFF/AIFC``  .aiff .aif .aifc
array       NPY                              ``\x93NUMPY``         .npy
==========  ===============================  =====================  ========================

Pillow is called with ``formats=[...]`` naming the one plugin the content says, so EPS,
PostScript, PDF, SVG and Pillow's many other plugins are never reached, whatever a file is
called.  A file whose extension names another format than its content is refused, naming
both (``content is PNG but the extension .wav says WAV``); an extension convcli does not
know (``.dat``, none) makes no claim, and the content decides.

Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SignalReadError

__all__ = [
    "IMAGE_FORMATS",
    "AUDIO_FORMATS",
    "AUDIO_SUBTYPES",
    "READ_EXT",
    "identify",
    "refused_name",
    "check_content",
    "pil_formats",
]

#: Image formats read (Pillow's names), and the Pillow plugins each may be opened with.  An
#: MPO is opened by the JPEG plugin (Pillow registers no opener under "MPO": naming it made
#: every JPEG whose header Pillow refused fail with a bare KeyError, "'MPO'").
IMAGE_FORMATS: dict[str, tuple[str, ...]] = {
    "PNG": ("PNG",),
    "JPEG": ("JPEG",),
    "TIFF": ("TIFF",),
    "BMP": ("BMP",),
    "WEBP": ("WEBP",),
    "GIF": ("GIF",),
    "PPM": ("PPM",),
}

#: Audio container formats read (soundfile's names).
AUDIO_FORMATS = ("WAV", "WAVEX", "RF64", "FLAC", "OGG", "AIFF")

#: Audio sample encodings read (soundfile's subtypes).  Every codec with a history of
#: decoder bugs that nobody needs for filtering (ADPCM, GSM, DWVW, MPEG...) is left out.
AUDIO_SUBTYPES = (
    "PCM_S8",
    "PCM_U8",
    "PCM_16",
    "PCM_24",
    "PCM_32",
    "FLOAT",
    "DOUBLE",
    "ULAW",
    "ALAW",
    "VORBIS",
    "OPUS",
)

#: Extension -> (family, format) of the files convcli reads.
READ_EXT: dict[str, tuple[str, str]] = {
    **dict.fromkeys((".png", ".apng"), ("image", "PNG")),
    **dict.fromkeys((".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"), ("image", "JPEG")),
    **dict.fromkeys((".tif", ".tiff"), ("image", "TIFF")),
    **dict.fromkeys((".bmp", ".dib"), ("image", "BMP")),
    ".webp": ("image", "WEBP"),
    ".gif": ("image", "GIF"),
    **dict.fromkeys((".ppm", ".pgm", ".pbm", ".pnm", ".pfm"), ("image", "PPM")),
    **dict.fromkeys((".wav", ".wave"), ("audio", "WAV")),
    ".flac": ("audio", "FLAC"),
    **dict.fromkeys((".ogg", ".oga", ".opus"), ("audio", "OGG")),
    **dict.fromkeys((".aiff", ".aif", ".aifc"), ("audio", "AIFF")),
    ".npy": ("npy", "NPY"),
}

_NAMES = {
    "PNG": "PNG",
    "JPEG": "JPEG",
    "TIFF": "TIFF",
    "BMP": "BMP",
    "WEBP": "WebP",
    "GIF": "GIF",
    "PPM": "PPM/PGM",
    "WAV": "WAV",
    "FLAC": "FLAC",
    "OGG": "OGG",
    "AIFF": "AIFF",
    "NPY": "NPY",
}

_FAMILY_WORDS = {"image": "an image", "audio": "audio", "npy": ".npy"}

#: What convcli reads, for messages.
READS = "PNG, JPEG, TIFF, BMP, WebP, GIF, PPM/PGM images, WAV, FLAC, OGG, AIFF audio, .npy"

# Formats recognised only to be refused by name (never opened).
_REFUSED: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"%!PS", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "an EPS file"),
    (b"<svg", "an SVG drawing"),
    (b"<?xml", "an XML document (SVG?)"),
    (b"<!DOCTYPE", "an HTML/XML document"),
    (b"<html", "an HTML document"),
    (b"8BPS", "a Photoshop document"),
    (b"PK\x03\x04", "a zip archive (.npz?)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x00\x00\x01\x00", "a Windows icon"),
    (b"\xffO\xffQ", "a JPEG 2000 codestream"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"ID3", "an MP3 file"),
    (b"\xff\xfb", "an MP3 file"),
    (b"\x80\x02", "a Python pickle"),
    (b"\x80\x03", "a Python pickle"),
    (b"\x80\x04", "a Python pickle"),
    (b"\x80\x05", "a Python pickle"),
    (b".snd", "Sun/NeXT audio"),
    (b"caff", "Core Audio (CAF)"),
)


def identify(head: bytes) -> tuple[str, str] | None:
    r"""Return ``(family, format)`` of a file from its first bytes, or None.

    Parameters
    ----------
    head : bytes
        At least the first 16 bytes of the file (fewer if it is shorter).

    Returns
    -------
    tuple of str, or None
        ``("image", "PNG")``, ``("audio", "WAV")``, ``("npy", "NPY")``...; None when the
        content is none of the formats convcli reads.

    Examples
    --------
    >>> identify(b"\x89PNG\r\n\x1a\n\x00\x00"), identify(b"%PDF-1.7")
    (('image', 'PNG'), None)
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image", "TIFF"
    if head.startswith(b"BM") and len(head) >= 14:
        return "image", "BMP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "WEBP"
    if len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"123456f" and head[2:3].isspace():
        return "image", "PPM"
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "audio", "WAV"
    if head.startswith(b"fLaC"):
        return "audio", "FLAC"
    if head.startswith(b"OggS"):
        return "audio", "OGG"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio", "AIFF"
    if head.startswith(b"\x93NUMPY"):
        return "npy", "NPY"
    return None


def refused_name(head: bytes) -> str | None:
    """Name a format that is recognised only to be refused (PDF, EPS, SVG...), or None.

    Examples
    --------
    >>> refused_name(b"%!PS-Adobe-3.0 EPSF-3.0"), refused_name(b"hello")
    ('PostScript/EPS', None)
    """
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, name in _REFUSED:
        if stripped.startswith(magic) or stripped[:16].lower().startswith(magic.lower()):
            return name
    return None


def _describe_head(head: bytes) -> str:
    name = refused_name(head)
    if name is not None:
        return name
    text = head[:16]
    if text and all(32 <= b < 127 or b in b"\t\r\n" for b in text):
        shown = text.decode("ascii").split("\n")[0].strip()[:12]
        return f"text ({shown!r}...)" if shown else "text"
    return "unrecognised (starts " + " ".join(f"{b:02x}" for b in head[:8]) + ")"


def check_content(path: str | os.PathLike[str], head: bytes) -> tuple[str, str]:
    r"""Identify a file by its content and check it against its extension.

    Parameters
    ----------
    path : str or os.PathLike
        The file (its extension is compared with its content).
    head : bytes
        Its first bytes (at least 16, fewer if the file is shorter).

    Returns
    -------
    tuple of str
        ``(family, format)`` as :func:`identify` gives them.

    Raises
    ------
    SignalReadError
        The file is empty, is not a format convcli reads (EPS, PDF, SVG...: named where
        known), or its extension names another format than its content.

    Examples
    --------
    >>> check_content("a.wav", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
    Traceback (most recent call last):
    ...
    convcli.errors.SignalReadError: a.wav: the content is PNG but the extension .wav says WAV
    """
    if not head:
        raise SignalReadError(f"{path}: is empty (0 bytes)")
    found = identify(head)
    ext = Path(path).suffix.lower()
    claimed = READ_EXT.get(ext)
    if found is None:
        what = _describe_head(head)
        if claimed is not None:
            raise SignalReadError(
                f"{path}: cannot read as {_FAMILY_WORDS[claimed[0]]}: the content is {what}, "
                f"not {_NAMES[claimed[1]]}"
            )
        raise SignalReadError(
            f"{path}: the content is {what}, not a format convcli reads ({READS})"
        )
    if claimed is not None and claimed != found:
        raise SignalReadError(
            f"{path}: the content is {_NAMES[found[1]]} but the extension {ext} says "
            f"{_NAMES[claimed[1]]}"
        )
    return found


def pil_formats(fmt: str) -> list[str]:
    """Return the Pillow plugin names to open a file of image format ``fmt`` with.

    Examples
    --------
    >>> pil_formats("JPEG")
    ['JPEG']
    """
    return list(IMAGE_FORMATS[fmt])
