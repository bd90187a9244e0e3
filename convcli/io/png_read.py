"""A PNG decoder that gives the rows in order, a block at a time: zlib and a numpy unfilter.

Pillow decodes a PNG whole, on one core, into its own storage (RGB as 4 bytes a pixel),
and a whole-image copy more reaches numpy.  Here the ``IDAT`` stream is inflated by
:func:`zlib.decompressobj` as the rows are asked for (zlib releases the GIL, so a thread can
decode while another filters), and each block of scanlines is unfiltered with numpy:
``None`` is a copy, ``Sub`` a running sum along the row (``numpy.cumsum`` in uint8 wraps
modulo 256, as the filter does), ``Up`` one add per row.  ``Average`` and ``Paeth`` depend
on the pixel to the left as it is being decoded, which numpy cannot run as one operation:
their rows (few in what Pillow and zlib-level-1 writers make; most rows of libpng's
adaptive filtering) go to Pillow's own C unfilter, as a small PNG stream of their own whose
first row is the row above them, stored raw (:func:`_pillow_unfilter`).  The pixels are
Pillow's, byte for byte (``tests/test_io_png_read.py``, every colour type and bit depth).

What it reads: non-interlaced 8-bit gray, gray+alpha, RGB and RGBA, and 16-bit gray (Pillow's
modes ``L``, ``LA``, ``RGB``, ``RGBA``, ``I;16``).  :func:`strip_layout` says None for every
other PNG (palette, 1/2/4-bit, interlaced, an animation, an ``eXIf`` chunk after the pixels,
whose orientation Pillow would apply): those are decoded whole by Pillow.

Damage is refused as Pillow refuses it: a zlib error or an unknown filter type is a ``broken
data stream``, pixel data that ends before the last row ``image file is truncated``; as
Pillow does, the CRCs of ``IDAT`` chunks are not checked, and the zlib stream's end, when it
is in the data given, is (:meth:`PngRows.finish`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import numpy as np

from ..errors import SignalReadError

__all__ = ["PngLayout", "strip_layout", "PngRows"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: (bit depth, colour type) -> (Pillow mode, channels): what is decoded here.
_LAYOUTS = {(8, 0): ("L", 1), (16, 0): ("I;16", 1), (8, 2): ("RGB", 3), (8, 4): ("LA", 2),
            (8, 6): ("RGBA", 4)}  # fmt: skip
#: Chunks after the pixels that change what Pillow gives: an EXIF orientation; animation.
_AFTER_REFUSED = (b"eXIf", b"fdAT", b"acTL", b"fcTL")
#: Compressed bytes read from the file at a time.
READ_BYTES = 1 << 16


@dataclass(frozen=True)
class PngLayout:
    """Where a PNG's pixel data is, and how its rows are laid out.

    Parameters
    ----------
    width, height : int
        The image's size.
    channels : int
        1, 2, 3 or 4.
    depth : int
        8 or 16 bits per sample.
    mode : str
        The Pillow mode the rows decode to.
    idat : tuple of (int, int)
        ``(offset, length)`` of the data of every ``IDAT`` chunk, in order.
    """

    width: int
    height: int
    channels: int
    depth: int
    mode: str
    idat: tuple[tuple[int, int], ...]

    @property
    def bpp(self) -> int:
        """Bytes per pixel (the distance of a filter's left neighbour)."""
        return self.channels * self.depth // 8

    @property
    def row_bytes(self) -> int:
        """Bytes of one unfiltered scanline."""
        return self.width * self.bpp

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the rows given: uint8, or native uint16."""
        return np.dtype(np.uint8 if self.depth == 8 else np.uint16)


def strip_layout(fh: IO[bytes], size: int) -> PngLayout | None:
    """Read a PNG's chunk headers (no pixel); return its layout if it decodes here, else None.

    The chunks are walked by their lengths, data skipped: ``IHDR`` decides the layout, every
    ``IDAT`` is noted, and what follows the pixels is looked at up to ``IEND``.  None for a
    layout this module does not decode (see the module docstring), for anything after the
    pixels Pillow would act on, and for a chunk structure that does not add up (Pillow's
    whole decode then says what is wrong).

    Parameters
    ----------
    fh : binary file
        The PNG, seekable (read from its start; left anywhere).
    size : int
        Its size in bytes.
    """
    fh.seek(0)
    if fh.read(8) != _SIGNATURE:
        return None
    pos = 8
    ihdr: tuple[int, ...] | None = None
    idat: list[tuple[int, int]] = []
    after = False
    while pos + 8 <= size:
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            return None
        length, kind = struct.unpack(">I", head[:4])[0], head[4:]
        if pos + 12 + length > size:
            return None
        if kind == b"IHDR":
            if ihdr is not None or length != 13:
                return None
            ihdr = struct.unpack(">IIBBBBB", fh.read(13))
        elif kind == b"IDAT":
            if after:  # IDAT chunks must be consecutive
                return None
            idat.append((pos + 8, length))
        elif kind == b"IEND":
            break
        else:
            if idat:
                after = True
            if after and kind in _AFTER_REFUSED:
                return None
            if kind == b"acTL":
                return None
        pos += 12 + length
    else:
        return None
    if ihdr is None or not idat:
        return None
    width, height, depth, colour, compression, filters, interlace = ihdr
    found = _LAYOUTS.get((depth, colour))
    if found is None or compression or filters or interlace or not width or not height:
        return None
    return PngLayout(width, height, found[1], depth, found[0], tuple(idat))


class PngRows:
    """Decode a PNG's rows in order: :meth:`read_into` the next rows, then :meth:`finish`.

    Parameters
    ----------
    fh : binary file
        The PNG (this object reads it by seeking; the caller closes it).
    layout : PngLayout
        From :func:`strip_layout`.
    path : object
        The file, for messages.
    """

    def __init__(self, fh: IO[bytes], layout: PngLayout, path: object) -> None:
        self._fh = fh
        self._layout = layout
        self._path = path
        self._z = zlib.decompressobj()
        self._chunks = list(layout.idat)
        self._pending = b""  # compressed bytes read, not yet given to zlib
        self._stream = bytearray()  # inflated bytes not yet unfiltered
        self._prior = np.zeros(layout.row_bytes, dtype=np.uint8)
        self._row = 0
        self._scratch: np.ndarray | None = None

    @property
    def rows_read(self) -> int:
        """How many rows have been decoded."""
        return self._row

    def _broken(self, why: str) -> SignalReadError:
        return SignalReadError(f"{self._path}: cannot read image: {why}")

    def _inflate(self, need: int) -> None:
        """Inflate until ``need`` bytes wait in ``_stream`` (never much more: bombs stay small)."""
        while len(self._stream) < need:
            if self._z.eof:  # the stream ended before the last row
                raise self._broken("image file is truncated")
            if not self._pending:
                if not self._chunks:
                    raise self._broken("image file is truncated")
                self._pending = self._read_chunk()
            try:
                out = self._z.decompress(self._pending, max(need - len(self._stream), READ_BYTES))
            except zlib.error as exc:
                raise self._broken(f"broken data stream when reading image file ({exc})") from None
            self._pending = self._z.unconsumed_tail
            self._stream += out

    def _read_chunk(self) -> bytes:
        offset, length = self._chunks[0]
        self._fh.seek(offset)
        data = self._fh.read(min(length, READ_BYTES))
        if not data:
            raise self._broken("image file is truncated")
        if len(data) < length:
            self._chunks[0] = (offset + len(data), length - len(data))
        else:
            self._chunks.pop(0)
        return data

    def read_into(self, out: np.ndarray) -> None:
        """Decode the next ``len(out)`` rows into ``out`` (``(rows, width[, channels])``).

        Raises
        ------
        SignalReadError
            Damaged or truncated pixel data (as Pillow says it).
        """
        lay = self._layout
        n = len(out)
        if self._row + n > lay.height:
            raise ValueError(f"rows {self._row}..{self._row + n} of a PNG of {lay.height}")
        if n == 0:
            return
        stride = lay.row_bytes + 1
        self._inflate(n * stride)
        filtered = np.frombuffer(self._stream, dtype=np.uint8, count=n * stride)
        filtered = filtered.reshape(n, stride)
        if lay.depth == 8:
            dst = out.reshape(n, lay.row_bytes)
        else:
            if self._scratch is None or len(self._scratch) < n:
                self._scratch = np.empty((n, lay.row_bytes), dtype=np.uint8)
            dst = self._scratch[:n]
        try:
            unfilter(filtered, self._prior, dst, lay)
        except ValueError as exc:
            raise self._broken(str(exc)) from None
        del filtered  # the bytearray may be resized only with no view on it
        del self._stream[: n * stride]
        self._prior = dst[-1].copy()
        if lay.depth == 16:
            out.reshape(n, lay.width)[...] = dst.view(">u2")
        self._row += n

    def finish(self) -> None:
        """Check the end of the zlib stream where it follows the last row, as Pillow's inflate does.

        Pillow stops at the last row; when the stream's end comes right after it, zlib has
        checked the end (its last block, the Adler-32) in the same call.  Data past the last
        row is not looked at.

        Raises
        ------
        SignalReadError
            The stream's end is damaged.
        """
        if self._stream:
            return
        try:
            while not self._z.eof:
                if not self._pending:
                    if not self._chunks:
                        return
                    self._pending = self._read_chunk()
                out = self._z.decompress(self._pending, 1)
                self._pending = self._z.unconsumed_tail
                if out:
                    return
        except zlib.error as exc:
            raise self._broken(f"broken data stream when reading image file ({exc})") from None


def _runs(types: np.ndarray) -> list[tuple[int, int, int]]:
    """Split rows into runs of one filter type: ``[(type, first, stop), ...]``."""
    cuts = np.flatnonzero(np.diff(types)) + 1
    starts = [0, *cuts.tolist()]
    stops = [*cuts.tolist(), len(types)]
    return [(int(types[a]), a, b) for a, b in zip(starts, stops)]


def unfilter(filtered: np.ndarray, prior: np.ndarray, out: np.ndarray, layout: PngLayout) -> None:
    """Undo the PNG row filters of ``(rows, 1 + row_bytes)`` bytes into ``(rows, row_bytes)``.

    Parameters
    ----------
    filtered : numpy.ndarray
        Each row's filter type byte, then its filtered bytes.
    prior : numpy.ndarray
        The unfiltered row above the first (zeros above the image's first row).
    out : numpy.ndarray
        Where the unfiltered bytes go (any row stride).
    layout : PngLayout
        The image's layout (bytes per pixel, mode).

    Raises
    ------
    ValueError
        A filter type above 4 (worded as Pillow says it).
    """
    types = filtered[:, 0]
    if len(types) and int(types.max()) > 4:
        raise ValueError("broken data stream when reading image file")
    bpp = layout.bpp
    body = filtered[:, 1:]
    above = prior
    for kind, a, b in _runs(types):
        if kind == 0:
            out[a:b] = body[a:b]
        elif kind == 1:
            rows = body[a:b].reshape(b - a, -1, bpp)
            np.cumsum(rows, axis=1, dtype=np.uint8, out=out[a:b].reshape(b - a, -1, bpp))
        elif kind == 2:
            for r in range(a, b):
                np.add(body[r], above, out=out[r])
                above = out[r]
        else:
            out[a:b] = _pillow_unfilter(filtered[a:b], above, layout)
        above = out[b - 1]


def _pillow_unfilter(filtered: np.ndarray, above: np.ndarray, layout: PngLayout) -> np.ndarray:
    """Unfilter rows with Pillow's C decoder (for ``Average`` and ``Paeth``, left-dependent).

    The rows go to Pillow's PNG (``zip``) decoder as a zlib stream of stored blocks, led by
    the row above them stored raw (filter type 0), so that their filters see it.
    """
    from PIL import Image

    rows = len(filtered)
    data = b"\x00" + above.tobytes() + filtered.tobytes()
    rawmode = "I;16B" if layout.depth == 16 else layout.mode
    im = Image.frombytes(
        layout.mode, (layout.width, rows + 1), zlib.compress(data, 0), "zip", rawmode
    )
    arr = np.asarray(im)
    if layout.depth == 16:
        arr = arr.astype(">u2")
    return arr.reshape(rows + 1, -1).view(np.uint8).reshape(rows + 1, layout.row_bytes)[1:]


def decode_all(fh: IO[bytes], layout: PngLayout, path: object, block: int = 64) -> np.ndarray:
    """Decode every row of a PNG (for tests, and inputs filtered whole).

    Returns
    -------
    numpy.ndarray
        ``(height, width)`` or ``(height, width, channels)``, as Pillow's array of it.
    """
    rows = PngRows(fh, layout, path)
    shape: Sequence[int] = (layout.height, layout.width) + (
        (layout.channels,) if layout.channels > 1 else ()
    )
    out = np.empty(tuple(shape), dtype=layout.dtype)
    for start in range(0, layout.height, block):
        rows.read_into(out[start : start + block])
    rows.finish()
    return out
