"""Rows along axis 0 of a signal, read on demand, and rows written as they come.

:class:`RowSource` is what a family's ``open_rows`` gives (:mod:`convcli.io.registry`): the
rows ``[start, stop)`` of an input too large to load whole, read block by block;
:class:`ArraySource` gives the rows of an array in memory the same way.
:class:`BlockWriter` is what a family's ``open_writer`` gives: rows written in order as
they come, the file finished by ``close``.
"""

from __future__ import annotations

import abc
from typing import Protocol

import numpy as np

__all__ = ["RowSource", "ArraySource", "BlockWriter"]


class RowSource(abc.ABC):
    """Rows ``[start, stop)`` along axis 0 of a signal, read on demand.

    Attributes
    ----------
    shape : tuple of int
        The whole signal's shape.
    dtype : numpy.dtype
        The dtype rows come in.
    """

    shape: tuple[int, ...]
    dtype: np.dtype

    @abc.abstractmethod
    def read(self, start: int, stop: int) -> np.ndarray:
        """Return rows ``start:stop`` (``0 <= start <= stop <= shape[0]``)."""

    def close(self) -> None:  # noqa: B027 - a source without a file has nothing to release
        """Release the file, if any."""

    @property
    def may_hold_nonfinite(self) -> bool:
        """Whether rows may hold NaN or Inf (worth counting before filtering)."""
        return self.dtype.kind in "fc"

    def take(self, index: np.ndarray) -> np.ndarray:
        """Return the rows at ``index`` (any order, repeats allowed), reading runs once."""
        index = np.asarray(index, dtype=np.intp)
        out = np.empty((len(index),) + tuple(self.shape[1:]), dtype=self.dtype)
        if len(index) == 0:
            return out
        lo, hi = int(index.min()), int(index.max()) + 1
        if hi - lo <= 4 * len(index):
            block = self.read(lo, hi)
            out[...] = block[index - lo]
            return out
        for pos, i in enumerate(index):  # scattered rows (large circular pads): one by one
            out[pos] = self.read(int(i), int(i) + 1)[0]
        return out


class ArraySource(RowSource):
    """Rows of an array in memory (no copy until a slab asks)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape = tuple(data.shape)
        self.dtype = data.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return a view of rows ``start:stop``."""
        return self.data[start:stop]


class BlockWriter(Protocol):
    """Rows of an output written in order as they come (a family's ``open_writer``)."""

    def write(self, block: np.ndarray) -> None:
        """Append rows (the output's dtype, its row shape)."""

    def close(self) -> None:
        """Finish the file (a header that says the length is written now, if any)."""
