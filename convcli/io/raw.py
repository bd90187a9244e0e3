"""Raw row files: the stages of a chain filtered slab by slab, with no header.

A chain of kernels too large for memory runs stage by stage: each kernel's output rows go to a
raw temporary file beside the output (:mod:`convcli.jobs.blocks`), which the next kernel
reads back by seeking.  Nothing but convcli writes or reads them, and they go with the
temporary folder that holds them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import numpy as np

from .rows import RowSource

__all__ = ["RawFile"]


class RawFile(RowSource):
    """A raw temporary file of rows (no header): written in order, then read by seeking.

    Parameters
    ----------
    path : pathlib.Path
        The file (created; the caller's temporary folder removes it).
    dtype : numpy.dtype
        The rows' dtype.
    """

    def __init__(self, path: Path, dtype: np.dtype) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.shape = (0,)
        self._row = 1
        self._fh: IO[bytes] = open(self.path, "w+b")  # noqa: SIM115 - closed by close()

    def write(self, start: int, block: np.ndarray) -> None:
        """Append rows; ``start`` must be the number of rows written so far."""
        if start != self.shape[0]:
            raise ValueError(f"rows must be written in order: {start} != {self.shape[0]}")
        if start == 0:
            self._row = int(np.prod(block.shape[1:], dtype=np.int64))
            self.shape = (0, *block.shape[1:])
        elif tuple(block.shape[1:]) != self.shape[1:]:
            raise ValueError(f"row shape {block.shape[1:]} != {self.shape[1:]}")
        self._fh.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.shape = (self.shape[0] + block.shape[0], *self.shape[1:])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Read rows ``start:stop``."""
        self._fh.flush()
        self._fh.seek(start * self._row * self.dtype.itemsize)
        data = np.fromfile(self._fh, dtype=self.dtype, count=(stop - start) * self._row)
        self._fh.seek(0, os.SEEK_END)
        return data.reshape((stop - start,) + tuple(self.shape[1:]))

    def close(self) -> None:
        """Close the file."""
        self._fh.close()
