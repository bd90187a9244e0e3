"""Rows along axis 0 of a signal, read on demand, and rows written as they come.

:class:`RowSource` is what a family's ``open_rows`` gives (:mod:`convcli.io.registry`): the
rows ``[start, stop)`` of an input too large to load whole, read block by block;
:class:`ArraySource` gives the rows of an array in memory the same way.
:class:`BlockWriter` is what a family's ``open_writer`` gives: rows written in order as
they come, the file finished by ``close``.
"""

from __future__ import annotations

import abc
import mmap
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

__all__ = ["RowSource", "ArraySource", "LoadedOnRead", "DecodedRows", "BlockWriter"]


class RowSource(abc.ABC):
    """Rows ``[start, stop)`` along axis 0 of a signal, read on demand.

    Attributes
    ----------
    shape : tuple of int
        The whole signal's shape.
    dtype : numpy.dtype
        The dtype rows come in.
    nonfinite : int or None
        The NaN and infinite samples of every row, when the source knows it without reading
        them again (a text series counts them as it indexes the file); None: count them by
        reading the rows, if :attr:`may_hold_nonfinite`.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    nonfinite: int | None = None

    @abc.abstractmethod
    def read(self, start: int, stop: int) -> np.ndarray:
        """Return rows ``start:stop`` (``0 <= start <= stop <= shape[0]``)."""

    def close(self) -> None:  # noqa: B027 - a source without a file has nothing to release
        """Release the file, if any."""

    def expect(self, halo: int, wrap: bool) -> None:  # noqa: B027 - a hint most can ignore
        """Hear how the rows will be read, before the first read.

        Slabs come in order, each starting at most ``halo`` rows before the previous one
        ended (the pad mode's rows near either end lie within ``halo`` rows of those read
        there too); ``wrap`` (circular padding) reads rows of the far end as well.  A source
        that can only move forward (a video decoder) keeps that many rows behind, so that
        no row is decoded twice; one that seeks has nothing to do.
        """

    def read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        """Copy rows ``start:stop`` into ``out`` (a caller's buffer, any strides)."""
        out[...] = self.read(start, stop)

    @property
    def held_bytes(self) -> int:
        """Bytes of rows the source holds in memory at most (a file read on demand: 0)."""
        return 0

    def release(self, below: int) -> None:  # noqa: B027 - nothing held by default
        """Say that rows below ``below`` will not be read again (a decoder may drop them)."""

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
        self._data: np.ndarray | None = data
        self.shape = tuple(data.shape)
        self.dtype = data.dtype

    @property
    def data(self) -> np.ndarray:
        """The whole array."""
        assert self._data is not None
        return self._data

    @property
    def held_bytes(self) -> int:
        """The array's bytes."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return a view of rows ``start:stop``."""
        return self.data[start:stop]

    def read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        """Copy rows ``start:stop`` into ``out``."""
        np.copyto(out, self.data[start:stop], casting="unsafe")


def anonymous_array(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Return a new C-ordered array over anonymous mapped memory of its own (zeros).

    Its pages can be given back to the system row by row (:meth:`LoadedOnRead.release`).

    Examples
    --------
    >>> anonymous_array((2, 3), np.dtype(np.uint8)).tolist()
    [[0, 0, 0], [0, 0, 0]]
    """
    count = int(np.prod(shape, dtype=np.int64))
    if count == 0:
        return np.empty(shape, dtype=dtype)
    size = count * np.dtype(dtype).itemsize
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    mm = mmap.mmap(-1, size, flags=flags) if flags else mmap.mmap(-1, size)
    return np.frombuffer(mm, dtype=dtype, count=count).reshape(shape)


def _mapping(data: np.ndarray) -> mmap.mmap | None:
    """Return the mapping ``data`` covers whole from its start, or None if there is none."""
    base: Any = data
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    if not isinstance(base, mmap.mmap) or not data.flags.c_contiguous:
        return None
    return base if data.nbytes == len(base) else None


class LoadedOnRead(ArraySource):
    """Rows of an array decoded whole, on the first read (after the caller's budget checks).

    Parameters
    ----------
    shape : tuple of int
        The array's shape, known from a header.
    dtype : numpy.dtype
        Its dtype.
    load : callable
        Returns the array (of that shape and dtype).
    """

    def __init__(
        self, shape: tuple[int, ...], dtype: np.dtype, load: Callable[[], np.ndarray]
    ) -> None:
        self._data = None
        self._freed = 0
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self._load: Callable[[], np.ndarray] | None = load

    @property
    def data(self) -> np.ndarray:
        """The whole array, decoded now if it was not yet."""
        if self._data is None:
            assert self._load is not None
            data = self._load()
            if tuple(data.shape) != self.shape or data.dtype != self.dtype:
                raise ValueError(
                    f"decoded {data.shape} {data.dtype}, not {self.shape} {self.dtype}"
                )
            self._data, self._load = data, None
            self._freed = 0
        return self._data

    def release(self, below: int) -> None:
        """Give the pages of rows below ``below`` back, if the array is mapped memory of its own.

        An image decoded into :func:`anonymous_array` (a JPEG, a compressed TIFF) shrinks as
        a strip-by-strip job consumes it; those rows must not be read again (they read 0).
        """
        data = self._data
        mm = None if data is None or not hasattr(mmap, "MADV_DONTNEED") else _mapping(data)
        if mm is None or data is None:
            return
        row_bytes = data.nbytes // max(1, data.shape[0])
        length = (min(below, data.shape[0]) * row_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
        if length > self._freed:
            mm.madvise(mmap.MADV_DONTNEED, 0, length)
            self._freed = length


class DecodedRows(RowSource):
    """Rows a decoder gives in order, decoded on a thread of their own, a block ahead.

    ``decode(out)`` fills ``out`` with the next ``len(out)`` rows.  A thread runs it into a
    few blocks of ``block_rows`` rows, allocated once and reused, while the caller works on
    the rows before; :meth:`read_into` copies rows out of them, and :meth:`release` hands
    back the blocks of rows no longer needed.  Rows are read in order: any rows at or after
    the last :meth:`release`; a read that reaches further ahead than the blocks do adds a
    block.  The decoder's exception is raised by the read that waits for its rows.

    Parameters
    ----------
    shape : tuple of int
        The whole signal's shape, rows first.
    dtype : numpy.dtype
        The rows' dtype.
    decode : callable
        ``decode(out)``: the next rows, in order.
    block_rows : int
        Rows per block.
    blocks : int
        Blocks in flight (at least 2).
    finish : callable, optional
        Called on the thread after the last row (a check of the file's end).
    close : callable, optional
        Called by :meth:`close` (the file).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: np.dtype,
        decode: Callable[[np.ndarray], None],
        *,
        block_rows: int,
        blocks: int,
        finish: Callable[[], None] | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.block_rows = max(1, int(block_rows))
        self._decode = decode
        self._finish = finish
        self._close = close
        count = max(2, int(blocks))
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._held = count * self.block_rows * row_bytes
        self._free = [
            np.empty((self.block_rows, *self.shape[1:]), dtype=self.dtype) for _ in range(count)
        ]
        self._ready: dict[int, np.ndarray] = {}  # first row -> a decoded block
        self._released = 0  # rows below this are gone
        self._error: BaseException | None = None
        self._stop = False
        self._starved = False  # the thread waits for a free block
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def held_bytes(self) -> int:
        """The blocks' bytes."""
        return self._held

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="convcli-decode", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        n = self.shape[0]
        try:
            for start in range(0, n, self.block_rows):
                with self._cond:
                    while not self._free and not self._stop:
                        self._starved = True
                        self._cond.notify_all()
                        self._cond.wait()
                    self._starved = False
                    if self._stop:
                        return
                    buf = self._free.pop()
                self._decode(buf[: min(self.block_rows, n - start)])
                with self._cond:
                    self._ready[start] = buf
                    self._cond.notify_all()
            if self._finish is not None:
                self._finish()
        except BaseException as exc:  # noqa: BLE001 - raised by the reader
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _block(self, start: int) -> np.ndarray:
        """Wait for the block that starts at row ``start``."""
        self._start()
        with self._cond:
            while start not in self._ready:
                if self._error is not None:
                    raise self._error
                if self._starved and not self._free:  # a read reaching further ahead
                    self._free.append(np.empty_like(next(iter(self._ready.values()))))
                    self._held += self._free[-1].nbytes
                    self._cond.notify_all()
                self._cond.wait()
            return self._ready[start]

    def read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        """Copy rows ``start:stop`` into ``out`` (any strides, ``stop - start`` rows)."""
        if start < self._released:
            raise RuntimeError(f"rows from {start} were read after rows below {self._released}")
        b = self.block_rows
        row = start
        while row < stop:
            first = row - row % b
            block = self._block(first)
            upto = min(stop, first + b)
            out[row - start : upto - start] = block[row - first : upto - first]
            row = upto

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return a copy of rows ``start:stop``."""
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        self.read_into(start, stop, out)
        return out

    def release(self, below: int) -> None:
        """Hand back the blocks of rows below ``below``: they will not be read again."""
        b = self.block_rows
        with self._cond:
            self._released = max(self._released, below)
            for first in [f for f in self._ready if f + b <= self._released]:
                self._free.append(self._ready.pop(first))
            self._cond.notify_all()

    def wait(self) -> None:
        """Wait until every row is decoded and the end checked; raise the decoder's exception."""
        self._start()
        assert self._thread is not None
        while True:
            self.release(self.shape[0])
            self._thread.join(0.05)
            if not self._thread.is_alive():
                break
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the decoding thread and release the file."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._close is not None:
            self._close()


class BlockWriter(Protocol):
    """Rows of an output written in order as they come (a family's ``open_writer``)."""

    def write(self, block: np.ndarray) -> None:
        """Append rows (the output's dtype, its row shape)."""

    def close(self) -> None:
        """Finish the file (a header that says the length is written now, if any)."""
