"""A toy format family: the one module a new format needs (tests/test_io_registry.py adds its row).

A ``.toy`` file is ``TOY1`` and a newline, one line of JSON (``{"shape": [...], "dtype":
"float32"}``), then the samples, C order.  Nothing else in convcli knows it: the row that
registers it and this module are all there is, and ``load``, ``probe``, ``save``, ``info``
and ``filter`` (in memory and slab by slab) work with it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

import numpy as np

from convcli.errors import SignalReadError
from convcli.io import Form, Limits, Signal
from convcli.io.atomic import atomic_file
from convcli.io.limits import open_regular
from convcli.io.registry import Family, Magic, ReadFormat, WriteFormat
from convcli.io.rows import RowSource

MAGIC = b"TOY1\n"

#: The one row of the table.
ROW = Family(
    name="toy",
    module=__name__,
    noun="a toy file",
    plural="toys",
    takes=("array",),
    reads=(ReadFormat("TOY", "TOY", (Magic((0, MAGIC)),), (".toy",)),),
    writes=(WriteFormat("TOY", (".toy",), ("float32", "float64", "int16"), blocks=("array",)),),
)


def _header(fh: IO[bytes], path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    if fh.read(len(MAGIC)) != MAGIC:
        raise SignalReadError(f"{path}: not a toy file")
    try:
        head = json.loads(fh.readline(4096))
        shape, dtype = tuple(int(n) for n in head["shape"]), np.dtype(head["dtype"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SignalReadError(f"{path}: a damaged toy header ({exc})") from None
    return shape, dtype, fh.tell()


def _form(dtype: np.dtype) -> Form:
    return Form(container="file", format="TOY", bits=dtype.itemsize * 8, dtype=dtype.name)


def probe(path: Path, fmt: str, limits: Limits) -> dict[str, Any]:
    """Describe a toy file from its header."""
    with open_regular(path) as fh:
        shape, dtype, _ = _header(fh, path)
    return {
        "kind": "array",
        "format": "TOY",
        "container": "file",
        "shape": list(shape),
        "dtype": dtype.name,
        "bits": dtype.itemsize * 8,
    }


def load(path: Path, fmt: str, kind: str, gray: bool, limits: Limits) -> Signal:
    """Load a toy file: an array, every axis spatial."""
    if kind not in ("auto", "array"):
        raise SignalReadError(f"{path}: a toy file is an array; it cannot be read as {kind}")
    with open_regular(path) as fh:
        shape, dtype, _ = _header(fh, path)
        data = np.frombuffer(fh.read(), dtype=dtype)
    if data.size != math.prod(shape):
        raise SignalReadError(f"{path}: truncated")
    return Signal(data.reshape(shape).copy(), "array", source=path, form=_form(dtype))


class ToyWriter:
    """Write the header for the whole shape, then rows as they come."""

    def __init__(self, fh: IO[bytes], shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._fh = fh
        fh.write(MAGIC + json.dumps({"shape": list(shape), "dtype": dtype.name}).encode() + b"\n")

    def write(self, block: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(block).tobytes())

    def close(self) -> None:
        self._fh.flush()


def save(
    signal: Signal,
    data: np.ndarray,
    target: Any,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
) -> None:
    """Write an array atomically."""
    with atomic_file(target.path, overwrite=overwrite, protect=protect) as fh:
        writer = ToyWriter(fh, data.shape, data.dtype)
        writer.write(data)
        writer.close()


class ToyRows(RowSource):
    """Rows of a toy file, read by seeking."""

    def __init__(self, path: Path) -> None:
        self._fh = open_regular(path)
        self.shape, self.dtype, self._offset = _header(self._fh, path)
        self._row = math.prod(self.shape[1:]) * self.dtype.itemsize

    def read(self, start: int, stop: int) -> np.ndarray:
        self._fh.seek(self._offset + start * self._row)
        data = np.frombuffer(self._fh.read((stop - start) * self._row), dtype=self.dtype)
        return data.reshape((stop - start, *self.shape[1:]))

    def close(self) -> None:
        self._fh.close()


def open_rows(path: Path, fmt: str, kind: str, limits: Limits) -> tuple[ToyRows, Signal] | None:
    """Open a toy file to read its rows block by block."""
    if kind not in ("auto", "array"):
        return None
    rows = ToyRows(path)
    empty = np.empty((0, *rows.shape[1:]), rows.dtype)
    return rows, Signal(empty, "array", source=path, form=_form(rows.dtype))


def open_writer(
    fh: IO[bytes],
    target: Any,
    shape: tuple[int, ...],
    dtype: np.dtype,
    form: Form,
    rate: float | None,
) -> ToyWriter:
    """Start a toy file whose rows come block by block."""
    return ToyWriter(fh, shape, np.dtype(dtype))
