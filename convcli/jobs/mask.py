"""``--mask``: the certainty of each sample of a normalized convolution, read from a file.

A mask has one channel and the input's spatial shape; integer samples are divided by their
type's largest value (255 is 1 for an 8-bit image), floats must lie in [0, 1].  It is read
whole (:func:`load_mask`) or, beside an input streamed slab by slab, block by block
(:func:`open_mask_rows`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convcli.errors import ArgumentError
from convcli.io.rows import RowSource

__all__ = ["load_mask", "open_mask_rows", "MaskRows"]


def load_mask(path: str | None, limits: Any, spatial_shape: tuple[int, ...]) -> np.ndarray | None:
    """Read ``--mask``: one channel of the input's spatial shape, scaled to [0, 1].

    Parameters
    ----------
    path : str or None
        The mask file (None: no mask, None is returned).
    limits : convcli.io.Limits or None
        The budgets its header is checked against.
    spatial_shape : tuple of int
        The input's spatial shape.

    Returns
    -------
    numpy.ndarray or None
        The certainty of each sample, float64.

    Integer samples are divided by their type's largest value (255 is 1 for an 8-bit image);
    floats are taken as they are and must lie in [0, 1].

    Raises
    ------
    ArgumentError
        Not one channel, not the input's shape, or values outside [0, 1].
    """
    from convcli import io

    if path is None:
        return None
    where = f"mask {path}"
    m = io.load(path, limits=limits)
    data = np.asarray(m.data)
    if m.channel_axis is not None:
        if data.shape[m.channel_axis] != 1:
            raise ArgumentError(
                f"{where}: {data.shape[m.channel_axis]} channels; a mask has one (0 = leave "
                "the sample out, full scale = keep it)"
            )
        data = np.take(data, 0, axis=m.channel_axis)
    if data.shape != tuple(spatial_shape):
        raise ArgumentError(
            f"{where}: shape {'x'.join(map(str, data.shape))} but the input's is "
            f"{'x'.join(map(str, spatial_shape))} (a mask has the input's spatial shape)"
        )
    if data.dtype.kind in "ui":
        return data / float(np.iinfo(data.dtype).max)
    out = data.astype(np.float64)
    if out.size and not (np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1):
        raise ArgumentError(f"{where}: values must be finite and between 0 and 1 (1 = keep)")
    return out


class MaskRows(RowSource):
    """``--mask`` read block by block for a streamed input: one channel, scaled to [0, 1]."""

    def __init__(self, source: RowSource, channel_axis: int | None, where: str) -> None:
        self._source, self._ch, self._where = source, channel_axis, where
        shape = tuple(source.shape)
        if channel_axis is not None:
            shape = shape[:channel_axis] + shape[channel_axis + 1 :]
        self.shape = shape
        self.dtype = np.dtype(np.float64)

    def _scaled(self, rows: np.ndarray) -> np.ndarray:
        if self._ch is not None:
            rows = np.take(rows, 0, axis=self._ch)
        if rows.dtype.kind in "ui":
            return rows / float(np.iinfo(rows.dtype).max)
        out = rows.astype(np.float64)
        if out.size and not (np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1):
            raise ArgumentError(
                f"{self._where}: values must be finite and between 0 and 1 (1 = keep)"
            )
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return rows ``start:stop`` of the mask, as certainties."""
        return self._scaled(self._source.read(start, stop))

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Return the rows at ``indices``, as certainties."""
        return self._scaled(self._source.take(indices))

    def close(self) -> None:
        """Close the mask's file."""
        self._source.close()


def open_mask_rows(
    path: str | None, limits: Any, spatial_shape: tuple[int, ...]
) -> RowSource | None:
    """Open ``--mask`` to read block by block beside a streamed input (else read it whole).

    Parameters
    ----------
    path : str or None
        The mask file (None: no mask, None is returned).
    limits : convcli.io.Limits or None
        The budgets its header is checked against.
    spatial_shape : tuple of int
        The input's spatial shape.

    Returns
    -------
    RowSource or None
        Rows of certainties (float64), the caller closes it.
    """
    from convcli import io
    from convcli.io.rows import ArraySource

    if path is None:
        return None
    opened = io.open_rows(path, "auto", limits)
    if opened is None:
        whole = load_mask(path, limits, spatial_shape)
        assert whole is not None
        return ArraySource(whole)
    source, header = opened
    ch = header.channel_axis
    where = f"mask {path}"
    if ch is not None and source.shape[ch] != 1:
        source.close()
        raise ArgumentError(
            f"{where}: {source.shape[ch]} channels; a mask has one (0 = leave the sample "
            "out, full scale = keep it)"
        )
    rows = MaskRows(source, ch, where)
    if rows.shape != tuple(spatial_shape):
        source.close()
        raise ArgumentError(
            f"{where}: shape {'x'.join(map(str, rows.shape))} but the input's is "
            f"{'x'.join(map(str, spatial_shape))} (a mask has the input's spatial shape)"
        )
    return rows
