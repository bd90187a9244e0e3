"""File extensions, format names and where an output goes (file, folder of slices, animation).

Standard library only (plus the :class:`Signal` type): no Pillow, no soundfile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import Param, SignalWriteError, UnsupportedError
from ._signal import Signal

__all__ = [
    "IMAGE_EXT",
    "AUDIO_EXT",
    "NPY_EXT",
    "SLICE_READ_EXT",
    "FORMAT_EXT",
    "Target",
    "resolve_target",
    "image_format_of",
]

#: Output extensions written with Pillow, and the format each names.  ``.pgm`` is its own
#: entry because it holds gray only; ``.ppm`` and ``.pnm`` hold gray (as PGM) or RGB.
IMAGE_EXT = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".ppm": "PPM",
    ".pnm": "PPM",
    ".pgm": "PGM",
}

#: Audio extensions written with soundfile, and the soundfile format each names.
AUDIO_EXT = {
    ".wav": "WAV",
    ".flac": "FLAC",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".aiff": "AIFF",
    ".aif": "AIFF",
}

NPY_EXT = ".npy"

#: Files a folder of slices may hold: every image extension Pillow reads here.
SLICE_READ_EXT = frozenset([*IMAGE_EXT, ".pbm"])

#: The usual extension of each output format (for messages and generated slice names).
FORMAT_EXT = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "TIFF": ".tif",
    "BMP": ".bmp",
    "WEBP": ".webp",
    "GIF": ".gif",
    "PPM": ".ppm",
    "PGM": ".pgm",
    "WAV": ".wav",
    "FLAC": ".flac",
    "OGG": ".ogg",
    "AIFF": ".aiff",
    "NPY": ".npy",
}

#: Formats that hold many frames: a volume written to one of them keeps every plane.
MULTIFRAME = {"TIFF": "multipage", "GIF": "animated", "PNG": "animated", "WEBP": "animated"}


@dataclass(frozen=True)
class Target:
    """Where and how an output is written.

    Parameters
    ----------
    path : pathlib.Path
        The output path as given.
    family : str
        ``"image"`` (one Pillow file), ``"frames"`` (a multi-page TIFF or an animation),
        ``"folder"`` (a folder of image slices), ``"audio"`` or ``"npy"``.
    format : str or None
        ``"PNG"``, ``"WAV"``, ``"NPY"``...; None for a folder (the slice format depends on the
        dtype: see :func:`convcli.io.dtypes.slice_format`).
    """

    path: Path
    family: str
    format: str | None


def image_format_of(path: str | os.PathLike[str]) -> str | None:
    """Return the image output format an extension names, or None.

    Parameters
    ----------
    path : str or os.PathLike
        A file name.

    Returns
    -------
    str or None
        ``"PNG"``, ``"JPEG"``, ``"TIFF"``, ``"BMP"``, ``"WEBP"``, ``"GIF"``, ``"PPM"``,
        ``"PGM"``, or None.

    Examples
    --------
    >>> image_format_of("a/b.JPG"), image_format_of("x.wav")
    ('JPEG', None)
    """
    return IMAGE_EXT.get(Path(path).suffix.lower())


def _known() -> str:
    exts = [*IMAGE_EXT, *AUDIO_EXT, NPY_EXT]
    return " ".join(exts)


def resolve_target(signal: Signal, path: str | os.PathLike[str]) -> Target:
    """Decide the output family and format from the path and the signal's kind.

    Parameters
    ----------
    signal : Signal
        The signal to write (its kind, shape and form).
    path : str or os.PathLike
        The output path.  A path with no extension, or an existing directory, is a folder of
        slices (volumes only).

    Returns
    -------
    Target
        The family and format.

    Raises
    ------
    UnsupportedError
        The extension is unknown or names a format that cannot hold this kind of signal.
    SignalWriteError
        The path is an existing directory and the signal is not a volume.
    """
    p = Path(path)
    ext = p.suffix.lower()
    kind = signal.kind
    if p.is_dir() or ext == "":
        if kind == "volume":
            return Target(p, "folder", None)
        if p.is_dir():
            raise SignalWriteError(
                f"{p}: is a directory; a {kind} is written to a file: give a file name"
            )
        raise UnsupportedError(
            f"{p}: has no extension, so its format is unknown; only a volume is written to a "
            f"folder of slices; add one of {_known()}"
        )
    if ext == NPY_EXT:
        return Target(p, "npy", "NPY")
    if ext in AUDIO_EXT:
        if kind == "audio":
            return Target(p, "audio", AUDIO_EXT[ext])
        audio = Param("kind", "audio")
        hint = f" (read it with {audio})" if kind == "array" and signal.data.ndim <= 2 else ""
        raise UnsupportedError(
            f"{p}: {'an' if kind[0] in 'aeiou' else 'a'} {kind} cannot be written as "
            f"{AUDIO_EXT[ext]} audio{hint}; "
            f"use an image extension or .npy",
            params=[audio] if hint else [],
        )
    if ext in IMAGE_EXT:
        fmt = IMAGE_EXT[ext]
        if kind == "audio":
            raise UnsupportedError(
                f"{p}: audio cannot be written as {fmt}; use .wav, .flac, .ogg, .aiff or .npy"
            )
        if kind == "volume":
            if fmt in MULTIFRAME:
                return Target(p, "frames", fmt)
            if signal.data.shape[0] == 1:
                return Target(p, "image", fmt)
            raise UnsupportedError(
                f"{p}: {fmt} holds one image, not a volume of {signal.data.shape[0]} planes; "
                f"use .tif (multi-page), .gif, .png or .webp (animated), a folder of slices "
                f"(a path with no extension) or .npy"
            )
        if kind == "array" and signal.data.ndim != 2:
            image, volume = Param("kind", "image"), Param("kind", "volume")
            raise UnsupportedError(
                f"{p}: a {signal.data.ndim}-D array is not an image; read it with {image} "
                f"(channels last) or {volume}, or write .npy",
                params=[image, volume],
            )
        return Target(p, "image", fmt)
    raise UnsupportedError(f"{p}: unknown output extension {ext!r}; use one of {_known()}")
