"""Images with Pillow: PNG, JPEG, TIFF, BMP, WebP, GIF, PPM/PGM; also their multi-frame forms.

Loading maps every Pillow mode to a numpy array with the channels last:

============================  ====================  ==========================
Pillow mode                   array                 notes
============================  ====================  ==========================
1                             uint8 (rows, cols)    0 or 255, as Pillow's "L"
L                             uint8 (rows, cols)
LA, RGB, RGBA                 uint8 (rows, cols, C)
P, PA                         uint8 RGB or RGBA     RGBA when it has transparency
CMYK, RGBX, YCbCr, LAB, HSV   uint8 RGB             converted by Pillow
La, RGBa                      uint8 LA, RGBA        un-premultiplied by Pillow
I;16, I;16B, I;16L, I;16N     uint16 (rows, cols)   native byte order
I                             int32 (rows, cols)    uint16 for 16-bit PGM/PPM
F                             float32 (rows, cols)
============================  ====================  ==========================

The EXIF orientation is applied on load (as :func:`PIL.ImageOps.exif_transpose` does) and
dropped from the EXIF carried to the output, so that viewers do not turn the image twice.
Pillow 13 turns a TIFF itself; its own (non-libtiff) reader garbles single-band uncompressed
strips with orientation 5 to 8, so such a file is read through libtiff.

Damaged files: the pixels are loaded before anything else asks for them (the EXIF
orientation of a PNG may sit after its pixels), and every step that opens or decodes is
watched (:mod:`convcli.io._watch`): a failed decode, a warning that Pillow repaired the file,
and what libtiff prints on its own are one error naming the file, never pixels.  A TIFF
Pillow does not identify is told apart: a layout it does not read, or damage
(:mod:`convcli.io._tiff`).

Writing: PNG with ``compress_level=1``.  Measured here with Pillow 13 on a 1536x1024
photo-like RGB image: level 1 takes 0.14 s for 2.85 MB, the default level 6 takes 0.38 s
(2.7x as long) for 2.47 MB (13 % smaller); for a CLI that filters in tens of milliseconds
the encoder is the largest cost, so level 1 it is.  JPEG with quality 95 and the input's
chroma subsampling where known; WebP lossless (``exact=True``); TIFF with the input's
compression when it was LZW, Deflate or PackBits, else uncompressed.  dpi, the ICC profile
(when its colour space matches the output's channels) and EXIF are carried where the format
holds them.

What each output format holds
-----------------------------
Found by writing every Pillow mode to every format with Pillow 13 and reading it back
(``tests/test_io_dtypes.py`` keeps the findings honest; the table is the image row's
``holds`` in :mod:`convcli.io.registry`).  "1" is gray, "2" gray+alpha (LA), "3" RGB,
"4" RGBA; "no" is a combination Pillow refuses or does not give back.

============  ===================================  ======  ======  ======
format        1 channel                            LA      RGB     RGBA
============  ===================================  ======  ======  ======
PNG           uint8, uint16                        uint8   uint8   uint8
TIFF          uint8, uint16, int32, float32        uint8   uint8   uint8
BMP           uint8                                no      uint8   no
WebP          uint8 (stored as RGB)                uint8   uint8   uint8
GIF           uint8 (gray palette, exact)          uint8   uint8   uint8
PPM / PNM     uint8, uint16 (written as PGM)       no      uint8   no
PGM           uint8, uint16                        no      no      no
JPEG          uint8 (lossy)                        no      uint8   no
NPY           any numeric dtype, any shape
============  ===================================  ======  ======  ======

What Pillow 13 does with the rest, and why they are refused rather than converted:

- PNG: Pillow has no mode for 16-bit LA/RGB/RGBA (it reads a 48-bit PNG as 8-bit RGB, so
  convcli refuses such an input rather than drop its low byte); "cannot write mode I/F".
- TIFF: 16-bit, int32 and float32 exist only as one-channel modes; no float64 mode anywhere.
- BMP: RGBA is written but read back as RGB (the alpha is lost); no LA, no 16-bit.
- WebP: always stored as RGB(A), 8-bit; written lossless (``exact=True``, so colours under
  alpha 0 survive).  Gray and LA are stored as RGB and RGBA.
- GIF: a 256-colour palette.  Gray is exact; RGB with more than 256 colours is quantised
  and alpha becomes 1-bit (lossy, like JPEG).  LA is written as RGBA.
- PPM/PGM: Pillow writes int32 as 16-bit PGM (clipping) and float32 as PFM inside a
  ``.pgm`` file: both refused.  16-bit PGM is read back by Pillow as mode "I" and loaded as
  uint16.
- JPEG: 8-bit gray and RGB only (CMYK is written but convcli loads CMYK as RGB).
- Animated PNG: 8-bit only.  Pillow 13 compares frames in 8-bit RGBA and merges 16-bit
  frames that differ, so a 16-bit volume goes to multi-page TIFF, a folder or ``.npy``.
- Animated WebP: lossless, but Pillow 13 has no ``exact`` for animations, so colours under
  alpha 0 are lost; libwebp decodes every animation as RGBA (an opaque one loads as RGB).
- GIF, animated PNG and animated WebP all merge identical consecutive frames (adding their
  durations).  That is harmless for an animation but loses planes of a volume, so a volume
  that did not come as an animation and has two identical consecutive planes is refused.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ..errors import Param, SignalReadError, UnsupportedError, join_words
from . import registry
from ._signal import Form, Signal
from ._watch import one_line, watched
from .atomic import atomic_file
from .content import HEAD_BYTES, check_content
from .dtypes import stored_dtype
from .limits import DEFAULT_LIMITS, Limits, open_regular, over_limit

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from .png import PngWriter

__all__ = [
    "png_writer",
    "open_image",
    "read_image",
    "probe_image",
    "image_to_array",
    "to_gray",
    "orient",
    "write_image",
    "write_frames",
    "form_info",
]

#: Formats whose frames make a volume (others, such as MPO, load their first frame): the
#: image row's formats that hold frames, and how (``"multipage"``, ``"animated"``).
MULTIFRAME_READ = {f.name: f.frames for f in registry.family("image").writes if f.frames}

_PIL_FORMAT = {"PGM": "PPM"}
_TIFF_COMPRESSIONS = ("tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits")
_ORIENTATION = 0x0112


def plugins(fmt: str) -> list[str]:
    """Return the Pillow plugins a file of image format ``fmt`` may be opened with.

    Examples
    --------
    >>> plugins("JPEG")
    ['JPEG']
    """
    return list(registry.family("image").read_format(fmt).decoders)


def _bits_of(mode: str, dtype: np.dtype) -> int:
    return 1 if mode == "1" else dtype.itemsize * 8


def _check_16bit_colour(im: PILImage.Image, path: Path) -> None:
    """Refuse a 16-bit-per-channel colour image that Pillow would read as 8-bit."""
    if im.mode not in ("LA", "RGB", "RGBA"):
        return
    for tile in getattr(im, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        raw = args[0] if isinstance(args, tuple) and args else args
        if isinstance(raw, str) and ";16" in raw:
            raise SignalReadError(
                f"{path}: 16-bit {im.mode} ({raw}): Pillow reads it as 8-bit only, which "
                f"would drop the low byte; convert it to .npy (or to 16-bit gray)"
            )


def image_to_array(im: PILImage.Image, path: Path, *, copy: bool = True) -> tuple[np.ndarray, str]:
    """Convert the current frame of a Pillow image to an array, channels last.

    Parameters
    ----------
    im : PIL.Image.Image
        An open image (its current frame).
    path : pathlib.Path
        The file, for messages.
    copy : bool, optional
        Kept for the callers: an 8-bit L, LA, RGB or RGBA frame is copied into its array
        band by band (:func:`_banded_array`) either way, never whole through Pillow's bytes.

    Returns
    -------
    array : numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, C)``; see the module docstring for the dtypes.
    mode : str
        The Pillow mode of the frame as loaded.

    Raises
    ------
    SignalReadError
        A mode convcli does not read, or 16-bit colour.
    """
    mode = im.mode
    if mode == "1":
        arr = np.array(im.convert("L"))
    elif mode in ("L", "LA", "RGB", "RGBA"):
        _check_16bit_colour(im, path)
        arr = _banded_array(im)
    elif mode in ("P", "PA"):
        alpha = mode == "PA" or "transparency" in im.info
        arr = np.array(im.convert("RGBA" if alpha else "RGB"))
    elif mode in ("CMYK", "RGBX", "YCbCr", "LAB", "HSV"):
        arr = np.array(im.convert("RGB"))
    elif mode in ("La", "RGBa"):
        arr = np.array(im.convert(mode.upper()))
    elif mode.startswith("I;16"):
        arr = np.array(im).astype(np.uint16)
    elif mode == "I":
        arr = np.array(im)
        if im.format == "PPM":  # Pillow reads 16-bit PGM/PPM as "I"
            arr = arr.astype(np.uint16)
    elif mode == "F":
        arr = np.array(im).astype(np.float32)
    else:
        raise SignalReadError(f"{path}: Pillow mode {mode!r} is not supported")
    return arr, mode


#: Bytes of a band of rows :func:`_banded_array` copies at a time.
BAND_BYTES = 1 << 20


def _banded_array(im: PILImage.Image) -> np.ndarray:
    """Copy an 8-bit L, LA, RGB or RGBA image into a new array, a band of rows at a time.

    ``np.asarray(im)`` goes through ``im.tobytes()``, whose pieces and their join are two
    whole-image copies beside Pillow's own; a band at a time holds only the array and a band.
    The array is mapped memory of its own (:func:`convcli.io.rows.anonymous_array`), whose
    rows a strip-by-strip job gives back as it goes (:meth:`convcli.io.rows.LoadedOnRead.release`).
    """
    from .rows import anonymous_array

    cols, rows = im.size
    channels = len(im.getbands())
    shape = (rows, cols, channels) if channels > 1 else (rows, cols)
    arr = anonymous_array(shape, np.dtype(np.uint8))
    band = max(1, BAND_BYTES // max(1, cols * channels))
    for r0 in range(0, rows, band):
        r1 = min(rows, r0 + band)
        piece = im.crop((0, r0, cols, r1)).tobytes()
        arr[r0:r1] = np.frombuffer(piece, dtype=np.uint8).reshape((r1 - r0, *shape[1:]))
    return arr


def orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an image array (rows and columns first).

    Parameters
    ----------
    arr : numpy.ndarray
        ``(rows, cols, ...)``.
    orientation : int
        The EXIF orientation tag, 1 to 8 (anything else is 1).

    Returns
    -------
    numpy.ndarray
        The array as it is meant to be seen (the same transpositions as
        :func:`PIL.ImageOps.exif_transpose`).

    Examples
    --------
    >>> import numpy as np
    >>> orient(np.array([[1, 2], [3, 4]]), 6).tolist()
    [[3, 1], [4, 2]]
    """
    if orientation == 2:
        out = arr[:, ::-1]
    elif orientation == 3:
        out = arr[::-1, ::-1]
    elif orientation == 4:
        out = arr[::-1]
    elif orientation == 5:
        out = np.swapaxes(arr, 0, 1)
    elif orientation == 6:
        out = np.rot90(arr, -1)
    elif orientation == 7:
        out = np.swapaxes(arr, 0, 1)[::-1, ::-1]
    elif orientation == 8:
        out = np.rot90(arr, 1)
    else:
        return arr
    return np.ascontiguousarray(out)


def to_gray(data: np.ndarray, channel_axis: int | None, path: Path | None = None) -> np.ndarray:
    """Convert to one channel: ITU-R 601-2 luma, alpha dropped, bit depth kept.

    ``L = R * 299/1000 + G * 587/1000 + B * 114/1000``.  uint8 and uint16 use Pillow's own
    fixed-point rounding (``(R*19595 + G*38470 + B*7471 + 0x8000) >> 16``), so an 8-bit
    result equals Pillow's ``convert("L")`` and a 16-bit one stays 16-bit; other integers
    are computed in float64, rounded and clipped; floats stay floats.

    Parameters
    ----------
    data : numpy.ndarray
        The image or volume.
    channel_axis : int or None
        Its channel axis; None means it is gray already.
    path : pathlib.Path or None, optional
        The file, for messages.

    Returns
    -------
    numpy.ndarray
        The gray data, without a channel axis.

    Raises
    ------
    UnsupportedError
        More than 4 channels.

    Examples
    --------
    >>> import numpy as np
    >>> to_gray(np.array([[[255, 0, 0], [10, 20, 30]]], np.uint8), 2).tolist()
    [[76, 18]]
    """
    if channel_axis is None:
        return data
    x = np.moveaxis(data, channel_axis, -1)
    channels = x.shape[-1]
    if channels in (1, 2):
        return np.ascontiguousarray(x[..., 0])
    if channels not in (3, 4):
        where = f"{path}: " if path is not None else ""
        raise UnsupportedError(
            f"{where}gray conversion needs gray, gray+alpha, RGB or RGBA, not {channels} channels"
        )
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    if x.dtype in (np.uint8, np.uint16):
        acc = r.astype(np.int64) * 19595 + g.astype(np.int64) * 38470
        acc += b.astype(np.int64) * 7471 + 0x8000
        return (acc >> 16).astype(x.dtype)
    if x.dtype.kind == "f":
        return (r * 0.299 + g * 0.587 + b * 0.114).astype(x.dtype)
    luma = np.rint(r * 0.299 + g * 0.587 + b * 0.114)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        luma = np.clip(luma, info.min, info.max)
    return luma.astype(x.dtype)


def _pil() -> Any:
    from PIL import Image

    return Image


def _exif_without_orientation(im: PILImage.Image) -> bytes | None:
    raw = im.info.get("exif")
    if not raw:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Possibly corrupt EXIF data": dropped below
        try:
            exif = _pil().Exif()
            exif.load(raw)
            exif.pop(_ORIENTATION, None)
            if not len(exif) and not exif.get_ifd(0x8769):
                return None
            out: bytes = exif.tobytes()
        except Exception:  # a damaged EXIF block (bytes, not pixels) is dropped, not fatal
            return None
    return out


def form_info(im: PILImage.Image, fmt: str) -> dict[str, Any]:
    """Collect the extras a writer carries: dpi, ICC profile, EXIF, compression, subsampling.

    Parameters
    ----------
    im : PIL.Image.Image
        The open image.
    fmt : str
        Its format (``"JPEG"`` for MPO).

    Returns
    -------
    dict
        The :attr:`Form.info` entries.
    """
    info: dict[str, Any] = {}
    dpi = im.info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2 and all(float(v) > 0 for v in dpi):
        info["dpi"] = (float(dpi[0]), float(dpi[1]))
    icc = im.info.get("icc_profile")
    if isinstance(icc, bytes) and len(icc) >= 20:
        info["icc_profile"] = icc
    if fmt in ("JPEG", "PNG", "WEBP"):
        exif = _exif_without_orientation(im)
        if exif:
            info["exif"] = exif
    if fmt == "TIFF" and im.info.get("compression") in _TIFF_COMPRESSIONS:
        info["compression"] = im.info["compression"]
    if fmt == "JPEG":
        from PIL import JpegImagePlugin

        try:
            sampling = JpegImagePlugin.get_sampling(im)
        except Exception:  # the frame header's layers, read at open: nothing is decoded
            sampling = -1
        if sampling in (0, 1, 2):
            info["subsampling"] = sampling
    return info


def _orientation(im: PILImage.Image) -> int:
    """Return the EXIF orientation, 1 to 8 (1 when there is none or it cannot be read).

    Never decodes a pixel.  Pillow's PNG reader answers ``getexif()`` on an image not yet
    loaded by decoding every pixel, to look for an eXIf chunk after the image data; a
    failure there must not be swallowed here (it once left a damaged PNG as black pixels),
    so a PNG whose pixels are still to load and whose EXIF, if any, comes after them says
    1: :func:`_read_open` loads the pixels first (and a failure is an error there), and
    :func:`probe_image` reads headers only.  What is left to fail here is parsing the
    EXIF block itself, from bytes already read: a damaged block is dropped, as
    :func:`_exif_without_orientation` drops it.
    """
    if im.format == "PNG" and "exif" not in im.info and getattr(im, "tile", None):
        return 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Possibly corrupt EXIF data": metadata only
        try:
            value = im.getexif().get(_ORIENTATION, 1)
        except Exception:  # a damaged EXIF block, parsed from bytes already read
            return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _unify(arrays: list[np.ndarray], modes: list[str], path: Path, animated: bool) -> np.ndarray:
    """Stack frames; an animation's 8-bit frames are promoted to a common layout."""
    first = arrays[0]
    same = all(a.shape == first.shape and a.dtype == first.dtype for a in arrays)
    if not same and animated and all(a.dtype == np.uint8 for a in arrays):
        sizes = {a.shape[:2] for a in arrays}
        if len(sizes) == 1:
            chans = [1 if a.ndim == 2 else a.shape[2] for a in arrays]
            alpha = any(c in (2, 4) for c in chans)
            colour = any(c >= 3 for c in chans)
            target = (3 if colour else 1) + (1 if alpha else 0)
            arrays = [_promote(a, target) for a in arrays]
            same = True
    if not same:
        for i, (a, m) in enumerate(zip(arrays, modes)):
            if a.shape != first.shape or a.dtype != first.dtype:
                raise SignalReadError(
                    f"{path}: frame {i + 1} is {_describe(a, m)} but frame 1 is "
                    f"{_describe(first, modes[0])}; every frame of a volume must match"
                )
    return np.stack(arrays)


def _promote(a: np.ndarray, channels: int) -> np.ndarray:
    if a.ndim == 2:
        a = a[..., None]
    have = a.shape[2]
    if have == channels:
        return a if channels > 1 else a[..., 0]
    colour = a[..., :3] if have >= 3 else np.repeat(a[..., :1], 3, axis=2)
    alpha = a[..., -1:] if have in (2, 4) else np.full(a.shape[:2] + (1,), 255, np.uint8)
    if channels == 4:
        return np.concatenate([colour, alpha], axis=2)
    if channels == 3:
        return np.ascontiguousarray(colour)
    if channels == 2:
        return np.concatenate([a[..., :1], alpha], axis=2)
    return np.ascontiguousarray(a[..., 0])


def _describe(a: np.ndarray, mode: str) -> str:
    rows, cols = a.shape[:2]
    return f"{rows}x{cols} (rows x cols) {mode} {a.dtype}"


@contextlib.contextmanager
def open_image(
    path: Path, limits: Limits = DEFAULT_LIMITS, fmt: str | None = None
) -> Iterator[PILImage.Image]:
    """Open an image with Pillow, safely: the one context every image read goes through.

    The path must be a regular file (never a FIFO or a device); its content must be one of
    the image formats convcli reads (:mod:`convcli.io.content`), and Pillow is told to try
    that plugin only (``formats=[...]``), so EPS, PDF and the rest are never reached.  The
    size in the header is checked against ``limits.max_pixels`` before any pixel is
    decoded; while the image is open, Pillow's decompression-bomb limit is
    ``limits.max_pixels`` and its :class:`~PIL.Image.DecompressionBombWarning` an error.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    limits : Limits, optional
        The budgets.
    fmt : str, optional
        The image format, when the caller has identified the content already.

    Yields
    ------
    PIL.Image.Image
        The open image (its file is closed when the block ends).

    Raises
    ------
    SignalReadError
        Not a regular file, not an image format convcli reads, a content that does not
        match the extension, a header Pillow cannot read (a TIFF of a layout Pillow does not
        read says so, apart from a damaged one: :mod:`convcli.io._tiff`), a header Pillow
        read only by repairing it (:mod:`convcli.io._watch`).
    LimitError
        More pixels than ``limits.max_pixels``.
    """
    from PIL import Image, ImageFile

    with open_regular(path) as fh:
        if fmt is None:
            family, fmt = check_content(path, fh.read(HEAD_BYTES))
            fh.seek(0)
            if family != "image":
                raise SignalReadError(f"{path}: is {fmt}, not an image")
        before = (
            Image.MAX_IMAGE_PIXELS,
            ImageFile.LOAD_TRUNCATED_IMAGES,
            getattr(Image, "WARN_POSSIBLE_FORMATS", False),
        )
        with warnings.catch_warnings():
            # Pillow's other complaints (about metadata, or a palette) are not the user's
            # business; the decoding steps are watched (_watch.watched), and a bomb is an error.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                Image.MAX_IMAGE_PIXELS = None  # the header's size is checked below, by us
                ImageFile.LOAD_TRUNCATED_IMAGES = False  # whatever a library user set
                Image.WARN_POSSIBLE_FORMATS = True  # why a plugin refused: for the message
                with watched(path, fmt, what=f"cannot read as {fmt}") as watch:
                    try:
                        im = Image.open(fh, formats=plugins(fmt))
                    except Image.UnidentifiedImageError:
                        raise _unidentified(path, fh, fmt, watch.refusals()) from None
                with im:
                    cols, rows = im.size
                    limits.check_pixels(path, rows, cols)
                    Image.MAX_IMAGE_PIXELS = limits.max_pixels
                    yield im
            finally:
                (
                    Image.MAX_IMAGE_PIXELS,
                    ImageFile.LOAD_TRUNCATED_IMAGES,
                    Image.WARN_POSSIBLE_FORMATS,
                ) = before


def _unidentified(path: Path, fh: IO[bytes], fmt: str, notes: list[str]) -> SignalReadError:
    """Say why Pillow could not identify a file: a layout it does not read, or damage."""
    why = "; ".join(notes[:2])
    if fmt == "TIFF":
        from ._tiff import diagnose

        verdict, text = diagnose(fh, os.fstat(fh.fileno()).st_size)
        if verdict == "unsupported":
            return SignalReadError(f"{path}: {text}")
        why = text or why
    detail = f" ({why})" if why else ""
    return SignalReadError(f"{path}: cannot read as {fmt}: a damaged or truncated header{detail}")


def _read_failed(path: Path, exc: Exception) -> SignalReadError:
    from PIL import Image

    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return over_limit(f"{path}: {one_line(exc)}", "max_pixels")
    return SignalReadError(f"{path}: cannot read image: {one_line(exc)}")


def read_image(
    path: Path,
    kind: str,
    gray: bool,
    *,
    limits: Limits = DEFAULT_LIMITS,
    fmt: str | None = None,
    copy: bool = True,
) -> Signal:
    """Load an image file Pillow opens, as an image, a volume (its frames) or an array.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    kind : str
        ``"auto"`` (a multi-page TIFF or an animated GIF/PNG/WebP with more than one frame
        is a volume, anything else an image), ``"image"`` (first frame), ``"volume"``
        (every frame; one frame gives one plane) or ``"array"`` (as ``auto``, every axis
        spatial).
    gray : bool
        Convert to one channel (:func:`to_gray`).
    limits : Limits, optional
        The budgets, checked from the header before anything is decoded.
    fmt : str, optional
        The image format, when the caller has identified the content already.
    copy : bool, optional
        False: the pixels of an 8-bit image may be a read-only array
        (:func:`image_to_array`).

    Returns
    -------
    Signal
        The loaded signal.

    Raises
    ------
    SignalReadError
        Pillow cannot read the file, or a frame differs from the first (see also
        :func:`open_image`).
    LimitError
        An image, frame or volume larger than ``limits`` allows.
    """
    try:
        with open_image(path, limits, fmt) as im:
            if not _needs_libtiff(im):
                return _read_open(im, path, kind, gray, limits, copy)
        return _read_with_libtiff(path, kind, gray, limits)
    except (SignalReadError, UnsupportedError, MemoryError):
        raise
    except Exception as exc:
        raise _read_failed(path, exc) from exc


def _needs_libtiff(im: PILImage.Image) -> bool:
    """Pillow 13's own (non-libtiff) TIFF reader garbles orientation 5-8 on raw strips."""
    if im.format != "TIFF" or getattr(im, "use_load_libtiff", True):
        return False
    tags = getattr(im, "tag_v2", {})
    return tags.get(_ORIENTATION) in (5, 6, 7, 8)


def _read_with_libtiff(path: Path, kind: str, gray: bool, limits: Limits) -> Signal:
    from PIL import TiffImagePlugin

    before = TiffImagePlugin.READ_LIBTIFF
    TiffImagePlugin.READ_LIBTIFF = True
    try:
        with open_image(path, limits, "TIFF") as im:
            return _read_open(im, path, kind, gray, limits)
    finally:
        TiffImagePlugin.READ_LIBTIFF = before


def _read_open(
    im: PILImage.Image, path: Path, kind: str, gray: bool, limits: Limits, copy: bool = True
) -> Signal:
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    _check_16bit_colour(im, path)  # before anything loads the pixels and drops the tile
    loaded_mode = im.mode
    arrays: list[np.ndarray] = []
    modes: list[str] = []
    durations: list[float] = []
    # Every step that may decode (counting frames walks a TIFF's directories; seeking an
    # animation decodes the frame before; load decodes) is watched: a failure, a warning
    # that Pillow repaired something, or what libtiff prints is one error, never pixels.
    with watched(path, fmt, libtiff=fmt == "TIFF"):
        frames = int(getattr(im, "n_frames", 1)) if fmt in MULTIFRAME_READ else 1
        volume = kind == "volume" or (kind in ("auto", "array") and frames > 1)
        count = frames if volume else 1
        if volume:
            limits.check_planes(path, count, im.size[1], im.size[0])
        for i in range(count):
            if i:
                im.seek(i)
                limits.check_pixels(path, im.size[1], im.size[0], what=f"frame {i + 1}: ")
                _check_16bit_colour(im, path)
            im.load()
            if not i:  # loaded: reading the EXIF (even a PNG's, after the pixels) decodes nothing
                # Pillow 13 turns a TIFF by its orientation tag itself (size at open, pixels
                # at load)
                orientation = 1 if fmt == "TIFF" else _orientation(im)
                info = form_info(im, fmt)
            arr, mode = image_to_array(im, path, copy=copy)
            arrays.append(orient(arr, orientation))
            modes.append(mode)
            if "duration" in im.info:
                durations.append(float(im.info["duration"]))
        loop = im.info.get("loop") if frames > 1 else None
    if volume:
        data = _unify(arrays, modes, path, MULTIFRAME_READ.get(fmt) == "animated")
        channel_axis: int | None = 3 if data.ndim == 4 else None
        container = MULTIFRAME_READ.get(fmt, "file") if frames > 1 else "file"
    else:
        data = arrays[0]
        channel_axis = 2 if data.ndim == 3 else None
        container = "file"
    opaque = channel_axis is not None and data.shape[-1] == 4 and np.all(data[..., 3] == 255)
    if fmt == "WEBP" and frames > 1 and opaque:
        # libwebp decodes every animation as RGBA; an opaque one is RGB
        data = np.ascontiguousarray(data[..., :3])
    if gray:
        data = to_gray(data, channel_axis, path)
        channel_axis = None
    out_kind = "array" if kind == "array" else ("volume" if volume else "image")
    form = Form(
        container=container,
        format=fmt,
        mode=loaded_mode,
        bits=_bits_of(loaded_mode, data.dtype),
        dtype=data.dtype.name,
        frame_durations=durations if container == "animated" else [],
        loop=int(loop) if isinstance(loop, (int, float)) and container == "animated" else None,
        info=info,
    )
    if out_kind == "array":
        channel_axis = None
    return Signal(data, out_kind, channel_axis=channel_axis, source=path, form=form)


_MODE_LAYOUT: dict[str, tuple[int, str]] = {
    "1": (1, "uint8"),
    "L": (1, "uint8"),
    "LA": (2, "uint8"),
    "La": (2, "uint8"),
    "PA": (4, "uint8"),
    "RGB": (3, "uint8"),
    "RGBX": (3, "uint8"),
    "YCbCr": (3, "uint8"),
    "LAB": (3, "uint8"),
    "HSV": (3, "uint8"),
    "CMYK": (3, "uint8"),
    "RGBA": (4, "uint8"),
    "RGBa": (4, "uint8"),
    "I": (1, "int32"),
    "F": (1, "float32"),
}


def probe_image(
    path: Path, *, limits: Limits = DEFAULT_LIMITS, fmt: str | None = None
) -> dict[str, Any]:
    """Describe an image file from its headers (no pixel is decoded).

    Parameters
    ----------
    path : pathlib.Path
        The file.
    limits : Limits, optional
        The budgets: a header that claims more is refused, as :func:`read_image` would.
    fmt : str, optional
        The image format, when the caller has identified the content already.

    Returns
    -------
    dict
        ``kind``, ``format``, ``container``, ``shape``, ``dtype``, ``channels``, ``mode``,
        ``bits``, ``planes`` (frames, for a volume).

    Raises
    ------
    SignalReadError
        Pillow cannot read the file (see :func:`open_image`).
    LimitError
        The image or its frames are larger than ``limits`` allows.
    """
    try:
        with open_image(path, limits, fmt) as im:
            fmt = "JPEG" if im.format == "MPO" else str(im.format)
            mode = im.mode
            _check_16bit_colour(im, path)
            cols, rows = im.size
            with watched(path, fmt):  # counting a TIFF's pages reads every directory
                frames = int(getattr(im, "n_frames", 1)) if fmt in MULTIFRAME_READ else 1
            if frames > 1:
                limits.check_planes(path, frames, rows, cols)
            if mode == "P":
                channels, dtype = (4 if "transparency" in im.info else 3), "uint8"
            elif mode.startswith("I;16") or (mode == "I" and fmt == "PPM"):
                channels, dtype = 1, "uint16"
            elif mode in _MODE_LAYOUT:
                channels, dtype = _MODE_LAYOUT[mode]
            else:
                raise SignalReadError(f"{path}: Pillow mode {mode!r} is not supported")
            # TIFF: Pillow reports the turned size already; a PNG's EXIF after the pixels is
            # not looked for (that would decode them)
            orientation = 1 if fmt == "TIFF" else _orientation(im)
    except (SignalReadError, MemoryError):
        raise
    except Exception as exc:
        raise _read_failed(path, exc) from exc
    if orientation >= 5:
        rows, cols = cols, rows
    shape: list[int] = [rows, cols] + ([channels] if channels > 1 else [])
    volume = frames > 1
    return {
        "kind": "volume" if volume else "image",
        "format": fmt,
        "container": MULTIFRAME_READ[fmt] if volume else "file",
        "shape": [frames, *shape] if volume else shape,
        "dtype": dtype,
        "channels": channels,
        "mode": mode,
        "bits": 1 if mode == "1" else np.dtype(dtype).itemsize * 8,
        "planes": frames if volume else None,
    }


# ----------------------------------------------------------------------------- writing


def _icc_fits(icc: bytes, channels: int) -> bool:
    space = icc[16:20]
    return space == (b"GRAY" if channels <= 2 else b"RGB ")


def _save_kwargs(fmt: str, form: Form, channels: int) -> dict[str, Any]:
    info = form.info
    kw: dict[str, Any] = {}
    if fmt == "PNG":
        kw["compress_level"] = 1
    elif fmt == "JPEG":
        kw["quality"] = 95
        if info.get("subsampling") in (0, 1, 2) and channels == 3:
            kw["subsampling"] = info["subsampling"]
    elif fmt == "WEBP":
        kw.update(lossless=True, exact=True)
    elif fmt == "TIFF" and info.get("compression") in _TIFF_COMPRESSIONS:
        kw["compression"] = info["compression"]
    if "dpi" in info and fmt in ("PNG", "JPEG", "TIFF", "BMP"):
        kw["dpi"] = info["dpi"]
    icc = info.get("icc_profile")
    stored = 3 if fmt == "WEBP" and channels <= 2 else channels
    if icc and fmt in ("PNG", "JPEG", "TIFF", "WEBP") and _icc_fits(icc, stored):
        kw["icc_profile"] = icc
    if info.get("exif") and fmt in ("PNG", "JPEG", "WEBP"):
        kw["exif"] = info["exif"]
    return kw


def _channels(arr: np.ndarray) -> int:
    return 1 if arr.ndim == 2 else int(arr.shape[2])


def to_pil(arr: np.ndarray, fmt: str, form: Form) -> PILImage.Image:
    """Make a Pillow image of a ``(rows, cols[, C])`` array for format ``fmt``.

    Parameters
    ----------
    arr : numpy.ndarray
        uint8 gray, LA, RGB or RGBA; uint16, int32 or float32 gray.
    fmt : str
        The output format (GIF gets LA as RGBA; TIFF keeps a big-endian 16-bit input so).
    form : Form
        The input's form.

    Returns
    -------
    PIL.Image.Image
        The image.
    """
    Image = _pil()
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if fmt == "GIF" and _channels(arr) == 2:
        arr = _promote(arr, 4)
    arr = np.ascontiguousarray(arr)
    rows, cols = arr.shape[:2]
    if (
        arr.dtype == np.uint16
        and fmt == "TIFF"
        and form.mode == "I;16B"
        and "compression" not in form.info
    ):
        return Image.frombytes("I;16B", (cols, rows), arr.astype(">u2").tobytes())
    return Image.fromarray(arr)


def write_image(
    fh: IO[bytes], arr: np.ndarray, fmt: str, form: Form, *, threads: int | None = None
) -> None:
    """Encode one image to an open file.

    Parameters
    ----------
    fh : binary file
        Where to write.
    arr : numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, C)``, in a dtype the format holds (checked by
        the caller with :func:`check_image`).
    fmt : str
        The output format.
    form : Form
        The input's form: metadata to carry.
    threads : int, optional
        Deflate threads of a PNG (default: every core).
    """
    kw = _save_kwargs(fmt, form, _channels(arr))
    palette = form.info.get("palette")
    if fmt == "PNG" and arr.dtype in (np.uint8, np.uint16) and palette is None:
        shape = (arr.shape[0], arr.shape[1], _channels(arr))
        writer = png_writer(fh, shape, arr.dtype, form, threads=threads)
        writer.write(arr)
        writer.close()
        return
    im = to_pil(arr, fmt, form)
    if palette is not None:  # indexed colour: the levels index the palette's colours
        if im.mode != "L":
            raise UnsupportedError(f"a palette colours 8-bit gray levels, not mode {im.mode}")
        im.putpalette(np.asarray(palette, dtype=np.uint8).ravel().tolist())
    im.save(fh, format=_PIL_FORMAT.get(fmt, fmt), **kw)


def png_writer(
    fh: IO[bytes],
    shape: tuple[int, int, int],
    dtype: np.dtype,
    form: Form,
    *,
    threads: int | None = None,
) -> PngWriter:
    """Start a PNG of ``(rows, cols, channels)`` uint8/uint16, rows to come block by block.

    The PNG that :func:`write_image` writes (deflate on every core, the input's metadata);
    write every row with :meth:`convcli.io.png.PngWriter.write`, then ``close`` it.
    """
    from .png import PngWriter  # deflate on every core: see convcli.io.png

    kw = _save_kwargs("PNG", form, shape[2])
    return PngWriter(
        fh,
        *shape,
        dtype,
        level=kw["compress_level"],
        dpi=kw.get("dpi"),
        icc_profile=kw.get("icc_profile"),
        exif=kw.get("exif"),
        threads=threads,
    )


def frame_durations(form: Form, count: int) -> list[float]:
    """Return ``count`` frame durations in milliseconds.

    The input's durations when it had as many frames; else the input's total time spread
    evenly over the new frames (a stride on the plane axis keeps the playing time); else
    100 ms each.

    Parameters
    ----------
    form : Form
        The input's form.
    count : int
        Number of frames to write.

    Returns
    -------
    list of float
        Durations.

    Examples
    --------
    >>> frame_durations(Form(frame_durations=[100, 100, 100, 100]), 2)
    [200.0, 200.0]
    """
    have = form.frame_durations
    if len(have) == count:
        return [float(d) for d in have]
    if have and sum(have) > 0:
        return [float(sum(have)) / count] * count
    return [100.0] * count


def write_frames(
    fh: IO[bytes], planes: np.ndarray, fmt: str, form: Form, path: os.PathLike[str] | str
) -> None:
    """Encode a volume as a multi-page TIFF or an animated GIF, PNG or WebP.

    Parameters
    ----------
    fh : binary file
        Where to write.
    planes : numpy.ndarray
        ``(planes, rows, cols[, C])``.
    fmt : str
        ``"TIFF"``, ``"GIF"``, ``"PNG"`` or ``"WEBP"``.
    form : Form
        The input's form (durations, loop, metadata).
    path : str or os.PathLike
        The output, for messages.

    Raises
    ------
    UnsupportedError
        An animation would merge two identical consecutive planes of a volume that did not
        come as an animation.
    """
    channels = 1 if planes.ndim == 3 else int(planes.shape[3])
    kw = _save_kwargs(fmt, form, channels)
    if fmt != "TIFF":
        if form.container != "animated":
            _refuse_duplicates(planes, fmt, path)
        durations = frame_durations(form, len(planes))
        kw["duration"] = durations if fmt == "PNG" else [round(d) for d in durations]
        loop = form.loop if form.container == "animated" else 0
        if loop is not None:
            kw["loop"] = loop
        if fmt == "GIF" and channels in (2, 4):
            kw["disposal"] = 2
    frames = [to_pil(p, fmt, form) for p in planes]
    frames[0].save(fh, format=fmt, save_all=True, append_images=frames[1:], **kw)


def _refuse_duplicates(planes: np.ndarray, fmt: str, path: os.PathLike[str] | str) -> None:
    for i in range(len(planes) - 1):
        if np.array_equal(planes[i], planes[i + 1]):
            raise UnsupportedError(
                f"{path}: planes {i + 1} and {i + 2} are identical and an animated {fmt} "
                f"merges identical consecutive frames, which would lose a plane; use .tif, "
                f"a folder of slices or .npy"
            )


# ----------------------------------------------------------------------------- what it holds

_LAYOUT = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}


_DEPTH = {
    "uint8": "8-bit",
    "uint16": "16-bit",
    "int16": "16-bit signed",
    "int32": "32-bit integer",
    "float32": "32-bit float",
    "float64": "64-bit float",
}


def layout_name(channels: int) -> str:
    """Name a channel layout: ``gray``, ``gray+alpha``, ``RGB``, ``RGBA``, ``5-channel``."""
    return _LAYOUT.get(channels, f"{channels}-channel")


def depth_name(dtype: str) -> str:
    """Name a sample type: ``8-bit``, ``16-bit``, ``32-bit float``..."""
    return _DEPTH.get(dtype, dtype)


def _write_format(fmt: str) -> registry.WriteFormat:
    return registry.family("image").write_format(fmt)


def image_dtypes(fmt: str, channels: int, *, animated: bool = False) -> tuple[str, ...]:
    """Return the dtypes an image format holds for a number of channels.

    Parameters
    ----------
    fmt : str
        ``"PNG"``, ``"TIFF"``, ``"BMP"``, ``"WEBP"``, ``"GIF"``, ``"PPM"``, ``"PGM"``,
        ``"JPEG"``.
    channels : int
        1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA).
    animated : bool, optional
        For PNG: an animated PNG (8-bit only).

    Returns
    -------
    tuple of str
        Dtype names; empty when the format cannot hold that many channels.

    Examples
    --------
    >>> image_dtypes("PNG", 1), image_dtypes("PNG", 3), image_dtypes("JPEG", 4)
    (('uint8', 'uint16'), ('uint8',), ())
    """
    holds = _write_format(fmt).dtypes(channels, frames=animated)
    return () if holds is None else holds


def describe_holds(fmt: str, animated: bool = False) -> str:
    """Say what an image format holds: ``8-bit gray, RGB or RGBA and 16-bit gray``."""
    wf = _write_format(fmt)
    table = wf.frames_holds if animated and wf.frames_holds is not None else wf.holds
    assert isinstance(table, dict)
    by_dtype: dict[str, list[str]] = {}
    for channels, dtypes in table.items():
        for dt in dtypes:
            by_dtype.setdefault(dt, []).append(layout_name(channels))
    parts = [f"{depth_name(dt)} {join_words(layouts)}" for dt, layouts in by_dtype.items()]
    return join_words(parts, "and")


def check_image(
    fmt: str,
    dtype: np.dtype,
    channels: int,
    path: os.PathLike[str] | str,
    *,
    animated: bool = False,
    volume: bool = False,
) -> None:
    """Raise :class:`UnsupportedError` unless ``fmt`` holds ``dtype`` with ``channels``.

    Parameters
    ----------
    fmt : str
        Image format name.
    dtype : numpy.dtype
        The output dtype.
    channels : int
        Number of channels.
    path : str or os.PathLike
        The output, named in the message.
    animated : bool, optional
        The output is an animation (animated PNG holds 8-bit only).
    volume : bool, optional
        The output holds a volume (multi-page or animated): suggest only what holds one.

    Raises
    ------
    UnsupportedError
        With a message that says what the format holds and what to use instead.

    Examples
    --------
    >>> import numpy as np
    >>> check_image("PNG", np.dtype("float32"), 3, "out.png")
    Traceback (most recent call last):
    ...
    convcli.errors.UnsupportedError: out.png: PNG cannot hold 32-bit float RGB: PNG holds ...
    """
    name = np.dtype(dtype).name
    if name in image_dtypes(fmt, channels, animated=animated):
        return
    what = f"{'animated ' if animated else ''}{fmt}"
    hints: list[str] = []
    params: list[Param] = []
    others = [  # lossless formats first; .pgm is .ppm's gray, suggested as .ppm
        wf.extensions[0]
        for wf in sorted(registry.family("image").writes, key=lambda wf: wf.lossy)
        if wf.name not in (fmt, "PGM") and name in image_dtypes(wf.name, channels)
    ]
    if volume:
        if fmt != "TIFF" and name in image_dtypes("TIFF", channels):
            hints.append(".tif (multi-page)")
        if any(name in image_dtypes(f, channels) for f in ("PNG", "TIFF")):
            hints.append("a folder of slices (a path with no extension)")
    elif others:
        hints.append(join_words(sorted(set(others), key=others.index)))
    if channels > 1 and not volume:
        one = [
            _write_format(f).extensions[0] for f in ("TIFF", "PNG") if name in image_dtypes(f, 1)
        ]
        if one:
            params.append(Param("gray", True))
            hints.append(f"{one[0]} for one channel ({params[-1]})")
    hints.append(".npy")
    fits = image_dtypes(fmt, channels, animated=animated)
    if fits:
        params.append(Param("dtype", *fits))
    tail = f", or {params[-1]}" if fits else ""
    raise UnsupportedError(
        f"{path}: {what} cannot hold {depth_name(name)} {layout_name(channels)}: {what} holds "
        f"{describe_holds(fmt, animated)}; use {join_words(hints)}{tail}",
        params=params,
    )


# ----------------------------------------------------------------------------- the registry's


def load(path: Path, fmt: str, kind: str, gray: bool, limits: Limits) -> Signal:
    """Load an image file as ``kind`` (:func:`read_image`); it is never audio or a series."""
    if kind == "series":
        raise SignalReadError(f"{path}: is an image; it cannot be read as a series")
    if kind == "audio":
        audio = ", ".join(f.label for f in registry.family("audio").reads)
        raise SignalReadError(f"{path}: is not an audio file ({audio}); it cannot be read as audio")
    return read_image(path, kind, gray, limits=limits, fmt=fmt)


def probe(path: Path, fmt: str, limits: Limits) -> dict[str, Any]:
    """Describe an image file from its header (:func:`probe_image`)."""
    return probe_image(path, limits=limits, fmt=fmt)


def target(signal: Signal, path: Path, fmt: registry.WriteFormat) -> registry.Target:
    """Write an image, a 2-D array, or a volume: its planes as frames, or its one plane.

    Raises
    ------
    UnsupportedError
        Audio; a volume of several planes to a format of one image; an array that is not 2-D.
    """
    kind = signal.kind
    if kind == "series":
        return registry.default_target(registry.family("image"), signal, path, fmt)
    if kind == "audio":
        use = [w.extensions[0] for w in registry.family("audio").writes] + [".npy"]
        raise UnsupportedError(
            f"{path}: audio cannot be written as {fmt.name}; use {join_words(use)}"
        )
    if kind == "volume":
        if fmt.frames:
            return registry.Target(path, "image", fmt.name, frames=True)
        if signal.data.shape[0] == 1:
            return registry.Target(path, "image", fmt.name)
        raise UnsupportedError(
            f"{path}: {fmt.name} holds one image, not a volume of {signal.data.shape[0]} "
            f"planes; use .tif (multi-page), .gif, .png or .webp (animated), a folder of "
            f"slices (a path with no extension) or .npy"
        )
    if kind == "array" and signal.data.ndim != 2:
        image, volume = Param("kind", "image"), Param("kind", "volume")
        raise UnsupportedError(
            f"{path}: a {signal.data.ndim}-D array is not an image; read it with {image} "
            f"(channels last) or {volume}, or write .npy",
            params=[image, volume],
        )
    return registry.Target(path, "image", fmt.name)


def output_dtype(signal: Signal, target: registry.Target, want: np.dtype | None) -> np.dtype:
    """Keep the stored dtype (or ``want``) if the format holds it; never change depth."""
    dtype = want if want is not None else stored_dtype(signal)
    assert target.format is not None
    check_image(
        target.format,
        dtype,
        signal.channels,
        target.path,
        animated=target.frames and target.format != "TIFF",
        volume=target.frames,
    )
    return dtype


def save(
    signal: Signal,
    data: np.ndarray,
    target: registry.Target,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
) -> None:
    """Write one image (a volume's one plane), or a volume's planes as frames, atomically."""
    fmt, out = target.format, target.path
    assert fmt is not None
    if target.frames:
        channels = 1 if data.ndim == 3 else int(data.shape[3])
        animated = fmt != "TIFF"
        check_image(fmt, data.dtype, channels, out, animated=animated, volume=True)
        with atomic_file(out, overwrite=overwrite, protect=protect) as fh:
            write_frames(fh, data, fmt, signal.form, out)
        return
    image = data[0] if signal.kind == "volume" else data
    channels = 1 if image.ndim == 2 else int(image.shape[2])
    check_image(fmt, image.dtype, channels, out)
    with atomic_file(out, overwrite=overwrite, protect=protect) as fh:
        write_image(fh, image, fmt, signal.form, threads=threads)


def open_writer(
    fh: IO[bytes],
    target: registry.Target,
    shape: tuple[int, ...],
    dtype: np.dtype,
    form: Form,
    rate: float | None,
) -> Any:
    """Start an image of ``(rows, cols[, channels])`` whose rows come block by block.

    A PNG is deflated block by block on every core (:func:`png_writer`); an uncompressed
    TIFF is written as the rows come (:class:`convcli.io.tiff_strips.TiffWriter`); every other
    output gathers its rows (:class:`GatherWriter`) and is encoded by Pillow at the end,
    as :func:`write_image` encodes it: the same bytes in every case.
    """
    assert target.format is not None
    fmt = target.format
    rows, cols = int(shape[0]), int(shape[1])
    channels = int(shape[2]) if len(shape) == 3 else 1
    check_image(fmt, dtype, channels, target.path)
    if fmt == "PNG" and "palette" not in form.info:
        return png_writer(fh, (rows, cols, channels), dtype, form)
    if fmt == "TIFF" and _streams_tiff(np.dtype(dtype), channels, form):
        from .tiff_strips import TiffWriter

        kw = _save_kwargs("TIFF", form, channels)
        return TiffWriter(
            fh, rows, cols, channels, dtype, dpi=kw.get("dpi"), icc_profile=kw.get("icc_profile")
        )
    return GatherWriter(fh, (rows, cols, channels), np.dtype(dtype), fmt, form)


def writer_bytes(
    target: registry.Target, shape: tuple[int, ...], dtype: np.dtype, form: Form
) -> int:
    """Bytes :func:`open_writer`'s writer holds: 0 for PNG and uncompressed TIFF, else the image.

    A gathered 8-bit gray or RGB image is Pillow's (RGB at 4 bytes a pixel); another is an
    array and Pillow's copy of it at the end.
    """
    channels = int(shape[2]) if len(shape) == 3 else 1
    pixels = int(shape[0]) * int(shape[1])
    if target.format == "PNG" and "palette" not in form.info:
        return 0
    if target.format == "TIFF" and _streams_tiff(dtype, channels, form):
        return 0
    if dtype == np.uint8 and channels in (1, 3) and "palette" not in form.info:
        return pixels * (1 if channels == 1 else 4)
    return 2 * pixels * channels * dtype.itemsize


def _streams_tiff(dtype: np.dtype, channels: int, form: Form) -> bool:
    """Whether :func:`write_image` writes this TIFF uncompressed, little-endian."""
    from .tiff_strips import writer_mode

    if "compression" in form.info or writer_mode(dtype, channels) is None:
        return False
    return not (dtype == np.uint16 and form.mode == "I;16B")


class GatherWriter:
    """Gather an image's rows block by block, then encode it with Pillow (:func:`write_image`).

    For the formats Pillow encodes whole (JPEG, WebP, BMP...).  The rows go straight into the
    Pillow image the encoder reads (8-bit gray and RGB: no array of the whole image beside
    it); other layouts into an array, encoded by :func:`write_image` at the end.

    Parameters
    ----------
    fh : binary file
        Where to write.
    shape : (int, int, int)
        Rows, columns, channels.
    dtype : numpy.dtype
        The rows' dtype.
    fmt : str
        The output format.
    form : Form
        The input's form: metadata to carry.
    """

    def __init__(
        self, fh: IO[bytes], shape: tuple[int, int, int], dtype: np.dtype, fmt: str, form: Form
    ) -> None:
        self._fh, self._shape, self._dtype, self._fmt, self._form = fh, shape, dtype, fmt, form
        self._rows = 0
        rows, cols, channels = shape
        self._mode = None
        if dtype == np.uint8 and channels in (1, 3) and "palette" not in form.info:
            self._mode = "L" if channels == 1 else "RGB"
        if self._mode is not None:
            self._image: Any = _pil().new(self._mode, (cols, rows))
        else:
            self._array = np.empty((rows, cols, channels) if channels > 1 else (rows, cols), dtype)

    def write(self, block: np.ndarray) -> None:
        """Append ``(rows, cols[, channels])`` pixels."""
        rows, cols, channels = self._shape
        a = np.ascontiguousarray(block, dtype=self._dtype)
        n = len(a)
        if self._rows + n > rows:
            raise ValueError(f"more than the {rows} rows of the image")
        if self._mode is None:
            self._array[self._rows : self._rows + n] = a.reshape((n, *self._array.shape[1:]))
        elif n:
            piece = _pil().frombuffer(self._mode, (cols, n), a, "raw", self._mode, 0, 1)
            self._image.paste(piece, (0, self._rows))
        self._rows += n

    def close(self) -> None:
        """Encode the image (every row must have been written)."""
        rows, _, channels = self._shape
        if self._rows != rows:
            raise ValueError(f"{self._rows} rows written of the image's {rows}")
        if self._mode is None:
            write_image(self._fh, self._array, self._fmt, self._form)
            return
        kw = _save_kwargs(self._fmt, self._form, channels)
        self._image.save(self._fh, format=_PIL_FORMAT.get(self._fmt, self._fmt), **kw)


# ----------------------------------------------------------------------------- rows


def open_rows(path: Path, fmt: str, kind: str, limits: Limits) -> tuple[Any, Signal] | None:
    """Open an image to read its rows block by block (read as ``auto`` or ``image``).

    A PNG (8-bit gray, gray+alpha, RGB, RGBA; 16-bit gray; not interlaced) is decoded as
    its rows are read (:mod:`convcli.io.png_read`), and an uncompressed TIFF read from its
    strips (:mod:`convcli.io.tiff_strips`), both on a thread of their own, a few blocks
    ahead.  Any other single image without alpha (a JPEG, a compressed TIFF...) is decoded
    whole by Pillow at the first read (:class:`convcli.io.rows.LoadedOnRead`), as
    :func:`read_image` decodes it.  None for a volume, an image with alpha (premultiplied
    as a whole), another PNG (what follows its pixels may change its form) and anything
    Pillow refuses (:func:`load` then says why).

    Returns
    -------
    (RowSource, Signal) or None
        The rows, and the signal :func:`read_image` would give, holding no rows.
    """
    from .rows import LoadedOnRead

    if kind not in ("auto", "image"):
        return None
    try:
        with open_image(path, limits, fmt) as im:
            found = _row_layout(im, path)
    except (SignalReadError, UnsupportedError):
        return None
    if found is None:
        return None
    shape, dtype, form, decoder = found
    header = Signal(
        np.empty((0, *shape[1:]), dtype=dtype),
        "image",
        channel_axis=2 if len(shape) == 3 else None,
        source=path,
        form=form,
    )
    if decoder is not None:
        return _decoded_rows(path, shape, dtype, decoder), header

    def load() -> np.ndarray:
        return read_image(path, "image", False, limits=limits, fmt=fmt, copy=False).data

    return LoadedOnRead(shape, dtype, load), header


#: Rows per block a decoding thread fills (the blocks are reused).
DECODE_BLOCK_ROWS = 32
#: Blocks a decoding thread may fill ahead of the rows read.
DECODE_BLOCKS = 12


def _row_layout(
    im: PILImage.Image, path: Path
) -> tuple[tuple[int, ...], np.dtype, Form, Any] | None:
    """Describe an opened image for :func:`open_rows`: shape, dtype, form, and its decoder.

    The decoder is ``("PNG", layout)`` or ``("TIFF", strips)``, or None for an image
    Pillow decodes whole; None altogether for what is not read in rows.
    """
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    mode = im.mode
    if mode not in ("1", "L", "RGB", "I;16", "I;16B", "I;16L", "I", "F", "CMYK", "YCbCr"):
        return None  # alpha, or a palette (perhaps with transparency): premultiplied whole
    _check_16bit_colour(im, path)
    with watched(path, fmt):
        frames = int(getattr(im, "n_frames", 1)) if fmt in MULTIFRAME_READ else 1
    if frames != 1:
        return None
    cols, rows = im.size
    decoder: Any = None
    if fmt == "PNG":
        from .png_read import strip_layout

        fh: Any = getattr(im, "fp", None)
        layout = strip_layout(fh, os.fstat(fh.fileno()).st_size) if fh is not None else None
        if layout is None or layout.mode != mode or _orientation(im) != 1:
            return None
        decoder = ("PNG", layout)
    elif fmt == "TIFF" and not _needs_libtiff(im):
        from .tiff_strips import raw_strips

        strips = raw_strips(im)
        if strips is not None:
            decoder = ("TIFF", strips)
    channels = 3 if mode in ("RGB", "CMYK", "YCbCr") else 1
    dtype: np.dtype = np.dtype(np.uint8)
    if mode.startswith("I;16") or (mode == "I" and fmt == "PPM"):
        dtype = np.dtype(np.uint16)
    elif mode in ("I", "F"):
        return None  # wider than 16 bits: filtered whole, as before
    if decoder is None and fmt != "TIFF" and _orientation(im) >= 5:
        cols, rows = rows, cols  # turned on load (Pillow turns a TIFF at open)
    form = Form(
        container="file",
        format=fmt,
        mode=mode,
        bits=_bits_of(mode, dtype),
        dtype=dtype.name,
        info=form_info(im, fmt),
    )
    shape = (rows, cols, channels) if channels > 1 else (rows, cols)
    return shape, dtype, form, decoder


def _decoded_rows(path: Path, shape: tuple[int, ...], dtype: np.dtype, decoder: Any) -> Any:
    """Rows decoded on a thread from a file opened again (PNG or uncompressed TIFF)."""
    from .rows import DecodedRows

    kind, detail = decoder
    fh = open_regular(path)
    try:
        if kind == "PNG":
            from .png_read import PngRows

            png = PngRows(fh, detail, path)
            decode, finish = png.read_into, png.finish
        else:
            from .tiff_strips import TiffRows

            row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
            decode, finish = TiffRows(fh, detail, row_bytes, path).read_into, None
    except BaseException:
        fh.close()
        raise
    return DecodedRows(
        shape,
        dtype,
        decode,
        block_rows=DECODE_BLOCK_ROWS,
        blocks=DECODE_BLOCKS,
        finish=finish,
        close=fh.close,
    )
