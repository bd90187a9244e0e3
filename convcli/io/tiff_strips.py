"""Uncompressed TIFF rows in order: read from their strips, and written after the header.

An uncompressed TIFF holds its rows as they are in memory.  Reading, Pillow would copy the
whole image into its own storage and a whole-image copy more would reach numpy; here the
rows of each strip Pillow's header names (its ``raw`` tiles) are read straight into the
caller's buffer (:class:`TiffRows`).  Writing, :class:`TiffWriter` writes the header and
directory that Pillow writes for the same image (built by Pillow's own
:class:`PIL.TiffImagePlugin.ImageFileDirectory_v2`, with the tags Pillow's writer sets: the
bytes are Pillow's, ``tests/test_io_tiff_strips.py``), then the rows as they come.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ..errors import SignalReadError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["raw_strips", "TiffRows", "TiffWriter", "writer_mode"]

#: Pillow modes whose raw strips are the rows as numpy holds them (little-endian files).
_MODES = ("L", "LA", "RGB", "RGBA", "I;16")


def raw_strips(im: PILImage.Image) -> list[tuple[int, int, int]] | None:
    """Return ``[(first_row, stop_row, offset), ...]`` of an opened TIFF's raw strips, or None.

    None unless every tile is an uncompressed strip of whole rows, in order, whose bytes
    are the rows of Pillow's mode (``L``, ``LA``, ``RGB``, ``RGBA``, little-endian ``I;16``),
    of a single-page image Pillow does not turn (no orientation tag other than 1).
    """
    if im.format != "TIFF" or im.mode not in _MODES or getattr(im, "n_frames", 1) != 1:
        return None
    tags = getattr(im, "tag_v2", {})
    if tags.get(0x0112, 1) != 1:
        return None
    width, height = im.size
    strips = []
    row = 0
    for tile in getattr(im, "tile", None) or ():
        name, extents, offset, args = tile[0], tile[1], tile[2], tile[3]
        if name != "raw" or not isinstance(args, tuple) or len(args) < 3:
            return None
        if args[0] != im.mode or args[1] not in (0, None) or args[2] != 1:
            return None
        x0, y0, x1, y1 = extents
        if (x0, x1) != (0, width) or y0 != row or y1 <= y0:
            return None
        strips.append((y0, y1, int(offset)))
        row = y1
    if row != height or not strips:
        return None
    return strips


class TiffRows:
    """Read an uncompressed TIFF's rows in order from its strips (:func:`raw_strips`).

    Parameters
    ----------
    fh : binary file
        The TIFF, with ``readinto`` (read by seeking; the caller closes it).
    strips : list of (int, int, int)
        From :func:`raw_strips`.
    row_bytes : int
        Bytes per row.
    path : object
        The file, for messages.
    """

    def __init__(
        self, fh: Any, strips: list[tuple[int, int, int]], row_bytes: int, path: object
    ) -> None:
        self._fh = fh
        self._strips = strips
        self._row_bytes = row_bytes
        self._path = path
        self._row = 0

    def read_into(self, out: np.ndarray) -> None:
        """Read the next ``len(out)`` rows into ``out`` (C-contiguous).

        Raises
        ------
        SignalReadError
            The file ends inside the rows.
        """
        buf = memoryview(out.reshape(-1).view(np.uint8).data)
        done = 0
        stop = self._row + len(out)
        while self._row < stop:
            first, last, offset = next(s for s in self._strips if s[0] <= self._row < s[1])
            upto = min(stop, last)
            n = (upto - self._row) * self._row_bytes
            self._fh.seek(offset + (self._row - first) * self._row_bytes)
            got = self._fh.readinto(buf[done : done + n])
            if got != n:
                raise SignalReadError(f"{self._path}: cannot read image: image file is truncated")
            done += n
            self._row = upto


def writer_mode(dtype: np.dtype, channels: int) -> str | None:
    """Return the Pillow mode :class:`TiffWriter` writes ``dtype`` with ``channels`` as.

    Examples
    --------
    >>> writer_mode(np.dtype("uint8"), 3), writer_mode(np.dtype("uint16"), 3)
    ('RGB', None)
    """
    if dtype == np.uint8:
        return {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(channels)
    if channels == 1:
        return {"uint16": "I;16", "int32": "I", "float32": "F"}.get(dtype.name)
    return None


class TiffWriter:
    """Write an uncompressed TIFF: the header and directory first, then rows as they come.

    The directory is the one Pillow writes for an image of this size and mode with these
    ``dpi`` and ``icc_profile`` (one strip of every row, after the directory), so that the
    file is byte for byte what ``Image.fromarray(array).save(fh, "TIFF", ...)`` writes.

    Parameters
    ----------
    fh : binary file
        Where to write, at its start.
    height, width, channels : int
        The image's size.
    dtype : numpy.dtype
        As :func:`writer_mode` takes it.
    dpi : (float, float), optional
        Written as the resolution tags.
    icc_profile : bytes, optional
        Written as the ICC profile tag.
    """

    def __init__(
        self,
        fh: IO[bytes],
        height: int,
        width: int,
        channels: int,
        dtype: np.dtype,
        *,
        dpi: tuple[float, float] | None = None,
        icc_profile: bytes | None = None,
    ) -> None:
        from PIL import TiffImagePlugin as tiff
        from PIL import TiffTags

        mode = writer_mode(np.dtype(dtype), channels)
        if mode is None:
            raise ValueError(f"TiffWriter writes no {channels}-channel {np.dtype(dtype)}")
        _, prefix, photo, sample_format, bits, extra = tiff.SAVE_INFO[mode]
        ifd: Any = tiff.ImageFileDirectory_v2(prefix=prefix)
        # The tags TiffImagePlugin._save sets for an uncompressed image from fromarray().
        ifd[tiff.PLANAR_CONFIGURATION] = 1
        ifd[tiff.IMAGEWIDTH] = width
        ifd[tiff.IMAGELENGTH] = height
        if icc_profile:
            ifd[tiff.ICCPROFILE] = icc_profile
        if dpi:
            ifd[tiff.RESOLUTION_UNIT] = 2
            ifd[tiff.X_RESOLUTION] = dpi[0]
            ifd[tiff.Y_RESOLUTION] = dpi[1]
        if bits != (1,):
            ifd[tiff.BITSPERSAMPLE] = bits
            if len(bits) != 1:
                ifd[tiff.SAMPLESPERPIXEL] = len(bits)
        if extra is not None:
            ifd[tiff.EXTRASAMPLES] = extra
        if sample_format != 1:
            ifd[tiff.SAMPLEFORMAT] = sample_format
        ifd[tiff.PHOTOMETRIC_INTERPRETATION] = photo
        stride = len(bits) * ((width * bits[0] + 7) // 8)
        ifd[tiff.ROWSPERSTRIP] = height
        if stride * height >= 2**16:
            ifd.tagtype[tiff.STRIPBYTECOUNTS] = TiffTags.LONG
        ifd[tiff.STRIPBYTECOUNTS] = (stride * height,)
        ifd[tiff.STRIPOFFSETS] = (0,)  # the directory's writer puts the data's offset here
        ifd[tiff.COMPRESSION] = 1
        ifd.save(fh)
        self._fh = fh
        self._shape = (height, width, channels)
        self._dtype = np.dtype(dtype)
        self._rows = 0

    def write(self, block: np.ndarray) -> None:
        """Append ``(rows, width[, channels])`` pixels of the writer's dtype."""
        height, width, channels = self._shape
        a = np.asarray(block)
        if a.shape[1:] not in ((width, channels), (width,) if channels == 1 else ()):
            raise ValueError(f"rows of {a.shape[1:]} for a {width}x{channels} TIFF")
        if a.dtype != self._dtype or self._rows + len(a) > height:
            raise ValueError(f"{len(a)} rows of {a.dtype} past the TIFF's {height} rows")
        self._fh.write(np.ascontiguousarray(a).data)
        self._rows += len(a)

    def close(self) -> None:
        """Finish the file (every row must have been written)."""
        if self._rows != self._shape[0]:
            raise ValueError(f"{self._rows} rows written of the TIFF's {self._shape[0]}")
