r"""What a file is, by its content: the allowlist of formats convcli reads.

A file is identified by its first bytes (:data:`HEAD_BYTES` of them), never by its name, and
only the formats of the table (:mod:`convcli.io.registry`, whose rows hold the magic and the
extensions) are read, each through the one decoder its row names.  Today:

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
audio       WAV (RIFF, RF64, WAVE_FORMAT_    ``RIFF``/``RF64``      .wav .wave .rf64
            EXTENSIBLE)                      ``....WAVE``
audio       FLAC                             ``fLaC``               .flac
audio       OGG (Vorbis, Opus)               ``OggS``               .ogg .oga .opus
audio       AIFF, AIFF-C                     ``FORM....AIFF/AIFC``  .aiff .aif .aifc
audio       W64 (Sony Wave64)                ``riff`` + GUID,       .w64
                                             ``wave`` + GUID at 24
audio       CAF (Apple Core Audio)           ``caff\0\1``          .caf
audio       AU (Sun/NeXT)                    ``.snd``, ``dns.``     .au .snd
audio       MP3 (MPEG Layer III)             an ID3v2 tag, or two   .mp3
                                             frame headers in a
                                             row (:mod:`.mpeg`)
audio       IRCAM (Berkeley/IRCAM/CARL)      ``64 a3 0n 00``,       .sf .ircam
                                             ``00 0n a3 64``
audio       NIST SPHERE                      ``NIST_1A\n``          .nist .sph
audio       VOC (Creative Labs)              ``Creative Voice       .voc
                                             File\x1a``
audio       PAF (Ensoniq PARIS)              `` paf``, ``fap ``     .paf
audio       IFF/8SVX (Amiga)                 ``FORM....8SVX/16SV``  .iff .svx .8svx .16sv
audio       PVF (Portable Voice Format)      ``PVF1\n``             .pvf
audio       AVR (Audio Visual Research)      ``2BIT``               .avr
audio       WVE (Psion Series 3)             ``ALawSoundFile**``    .wve
array       NPY                              ``\x93NUMPY``         .npy
series      CSV, TSV, blank-separated text   none: UTF-8 text       .csv .tsv .txt .dat
==========  ===============================  =====================  ========================

Pillow is called with ``formats=[...]`` naming the one plugin the content says, so EPS,
PostScript, PDF, SVG and Pillow's many other plugins are never reached, whatever a file is
called.  A file whose extension names another format than its content is refused, naming
both (``content is PNG but the extension .wav says WAV``); an extension convcli does not
know (``.json``, none) makes no claim, and the content decides.  Text has no magic number:
a file with a text extension whose content no other format claims is asked of the text
family last (:func:`convcli.io.registry.identify_text`), and is refused when it is not text
(binary data named ``.csv``); a file of a format with a magic number named ``.dat`` or
``.txt`` is read as that format (those extensions name many things).

Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SignalReadError
from . import registry
from .mpeg import starts_mpeg_audio

__all__ = [
    "HEAD_BYTES",
    "identify",
    "refused_name",
    "check_content",
]

#: How many of a file's first bytes identify it: two MPEG audio frame headers (an MP3
#: without an ID3v2 tag) lie within them.
HEAD_BYTES = 2048

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
    (b"\x80\x02", "a Python pickle"),
    (b"\x80\x03", "a Python pickle"),
    (b"\x80\x04", "a Python pickle"),
    (b"\x80\x05", "a Python pickle"),
    (b"MATLAB 5.0 MAT-file", "a MATLAB file (save the array as .npy)"),
    (b"Extended Instrument: ", "a FastTracker 2 instrument (XI)"),
)


def identify(head: bytes) -> tuple[str, str] | None:
    r"""Return ``(family, format)`` of a file from its first bytes, or None.

    Parameters
    ----------
    head : bytes
        The file's first :data:`HEAD_BYTES` bytes (fewer if it is shorter).

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
    found = registry.identify(head)
    return None if found is None else (found[0].name, found[1].name)


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
    if starts_mpeg_audio(head, layers=(1, 2)):
        return "MPEG Layer I/II audio (MP2), not MP3"
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
        Its first :data:`HEAD_BYTES` bytes (fewer if the file is shorter).

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
    found = registry.identify(head)
    ext = Path(path).suffix.lower()
    claimed = registry.claimed(ext)
    if found is None and claimed is not None and not claimed[1].magic:
        found = _text(path, head, claimed)
    if found is None:
        what = _describe_head(head)
        if claimed is not None:
            raise SignalReadError(
                f"{path}: cannot read as {claimed[0].noun}: the content is {what}, "
                f"not {claimed[1].label}"
            )
        raise SignalReadError(
            f"{path}: the content is {what}, not a format convcli reads "
            f"({registry.reads_summary()})"
        )
    if claimed is not None and claimed[1] != found[1] and claimed[1].magic:
        raise SignalReadError(
            f"{path}: the content is {found[1].label} but the extension {ext} says "
            f"{claimed[1].label}"
        )
    return found[0].name, found[1].name


def _text(
    path: str | os.PathLike[str],
    head: bytes,
    claimed: tuple[registry.Family, registry.ReadFormat],
) -> tuple[registry.Family, registry.ReadFormat] | None:
    """Ask the text family its extension names; name a known binary format it is instead."""
    try:
        return registry.identify_text(head, path)
    except SignalReadError:
        name = refused_name(head)
        if name is None:
            raise
        raise SignalReadError(
            f"{path}: cannot read as {claimed[0].noun}: the content is {name}, "
            f"not {claimed[1].label}"
        ) from None
