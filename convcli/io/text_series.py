r"""1-D series in text files: CSV, TSV and blank-separated ``.txt``/``.dat``.

A series is one numeric column per channel with time down the rows, read as audio is read:
``(rows, channels)`` float64 data with the channel axis 1 (kind ``"series"``).  float64,
because text holds decimal digits and float32 would round a 7-digit value; every value
written in a cell is read as the nearest double (``float()``'s rounding).  Everything that is
not filtered (a header, comments, timestamps, labels, the dialect) is written back as it came.

Reading
-------
Strictly, by the rules of :mod:`convcli.io.text_dialect` (encoding, line ends, comments, the
delimiter, quotes, the header, numbers and decimal marks, which columns are channels);
``columns=`` and ``keep_columns=`` choose what is filtered and what passes through.

Writing back
------------
- The preamble (BOM, the comment block, the header, comments before the first row) is copied
  byte for byte; so is every pass-through cell and every cell whose value did not change
  (quotes, padding, spelling ``1.50``/``+3``/``1e3`` included): an identity kernel gives the
  input file back byte for byte.
- A changed value is written in its column's style: fixed-point with the most decimals any
  cell of the column has (a column written with 3 decimals comes back with 3; a column of
  integers, like counts, comes back as integers, rounded half to even, as an 8-bit image
  comes back 8-bit), or in exponent notation when every cell of the column uses one (with the
  most mantissa decimals), or in shortest round-trip form (``repr``) when the column mixes
  the two or has more than 15 decimals.  ``full_precision=True`` (the CLI's ``--dtype
  float64``/``float32``) writes the shortest text that reads back as the same float64
  (float32) value instead; integer data (``--dtype int16``...) is written as integers.  The
  decimal mark is the file's; a result that rounds to zero is never written ``-0``.
- A NaN result is the input cell's own text where that cell was missing too; elsewhere an
  empty cell (``NaN`` in a blank-separated file, which cannot hold an empty cell).
- **Where an output row sits.**  Output sample ``o`` sits on the input row under the centre
  of its kernel window, ``first + o*step`` (:class:`RowMap`, :func:`centre_rows`): by SPEC's
  arithmetic ``y[o] = sum_j w[j] x[o*s + j*d - p_lo]``, so the centre tap ``(k'-1)//2`` sits on
  row ``o*s - p_lo + (k'-1)//2``.  With ``same`` and stride 1 that is row ``o``; with a stride
  it thins every column at the same rows (row ``o*s`` when ``p_lo = (k'-1)//2``, e.g. ``-k 1
  --stride 2`` keeps rows 0, 2, 4...; TensorFlow's ``same`` rule pads less with a stride, and
  for 10 rows, a 3-tap kernel and stride 2 the windows are centred on rows 1, 3, ..., 9, which
  is where their values belong).  ``valid`` starts at the row under the first window's
  centre; ``full`` adds rows before row 0 and after the last, whose pass-through cells are
  empty (``""`` in a blank-separated file).  A chain of kernels composes the maps
  (:meth:`RowMap.then`).  A pass-through cell, and the line terminator, come from the row
  an output row sits on.
- **Comments and blank lines** between rows are kept in order: each is written before the
  first output row that sits on or after the row it preceded (all of them, with a stride
  too); those after the last row close the file.  The file ends with a line terminator when
  the input did.
- The input's own extension, ``.txt`` and ``.dat`` keep its dialect.  Another extension keeps
  it where it can: ``.csv`` holds ``,``- or ``;``-separated text (a blank- or tab-separated
  file goes to ``,``, or to ``;`` if it writes decimal commas), ``.tsv`` tabs; the fields are
  then re-quoted for the new delimiter.

Pass-through cells, comments and unchanged texts are read from the input file as the output
is written (:class:`SeriesWriter` reads the source in step, a block at a time), so the input
must be unchanged since it was read (checked by size, modification time, inode and a CRC-32
of its first and last 64 KiB).

Large files
-----------
:func:`open_series` reads the file once to index it (validating every cell, counting rows and
NaNs, learning each column's style, noting the byte offset of every block of about
:data:`BLOCK_BYTES`), then :meth:`SeriesRows.read` parses only the blocks a range of rows
needs (the last few are kept, so a slab and its halo are parsed once).  :class:`SeriesWriter`
formats blocks as they come.  Memory stays a few blocks whatever the file's size.  The index
is kept (for a few files) so that a probe, then the rows or the whole data, read it once;
the row reader's ``nonfinite`` is the index's count (no second pass to count NaNs).

The family in :mod:`convcli.io.registry`
----------------------------------------
Its row: family ``"series"``, kind :data:`KIND` (default pad mode :data:`DEFAULT_PAD_MODE`,
as for audio), the extensions of :data:`FORMATS`, and the read options ``columns``,
``keep_columns`` and ``header`` (``convcli.io.load(path, options={...})``).  Text has no
magic number: a file whose extension is one of :data:`EXTENSIONS` and whose content no
format with a magic number claims is a series when its first bytes are UTF-8 text
(:func:`identify`; the whole file is checked as it is read).  A file of another format with
a text extension is read as that format (a text extension is a weak claim: ``.dat`` and
``.txt`` name many things); ``-k file.csv`` stays a kernel (only an INPUT is a series).
The registry's functions (:func:`probe`, :func:`load`, :func:`save`, :func:`target`,
:func:`open_rows`, :func:`open_writer`) are thin: :func:`probe_series`,
:func:`read_series`, :func:`write_series`, :func:`open_series` and :func:`series_writer`
do the work and take their options as keywords.  A writer takes where its rows sit from
``form.info["rows"]`` (a :class:`~convcli.geometry.RowMap`, set by the job that filtered
them) and ``form.info["full_precision"]``.

Standard library and numpy only.
"""

from __future__ import annotations

import bisect
import math
import os
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import (
    ArgumentError,
    Param,
    SignalReadError,
    SignalWriteError,
    UnsupportedError,
)
from ..geometry import RowMap, centre_rows
from . import registry
from ._signal import Form, Signal
from .atomic import atomic_file
from .limits import DEFAULT_LIMITS, Limits, open_regular
from .text_dialect import (
    BLOCK_BYTES,
    BOM,
    EOL,
    MAX_LINE_BYTES,
    SNIFF_ROWS,
    CellError,
    Chunk,
    ChunkReader,
    ColumnStats,
    ColumnStyle,
    Dialect,
    Head,
    column_kinds,
    decode,
    dress,
    format_values,
    is_number,
    meaningful,
    numbers,
    parse,
    read_error,
    record_seps,
    select_columns,
    sniff,
)

__all__ = [
    "KIND",
    "EXTENSIONS",
    "FORMATS",
    "DEFAULT_PAD_MODE",
    "MAX_LINE_BYTES",
    "BLOCK_BYTES",
    "SNIFF_ROWS",
    "Dialect",
    "ColumnStyle",
    "Block",
    "SeriesLayout",
    "RowMap",
    "centre_rows",
    "identify",
    "probe_series",
    "read_series",
    "write_series",
    "open_series",
    "series_writer",
    "SeriesRows",
    "SeriesWriter",
    "probe",
    "load",
    "save",
    "target",
    "open_rows",
    "open_writer",
]

PathLike = str | os.PathLike[str]

#: The kind of signal this family gives.
KIND = "series"
#: The extensions a series is read from (and written to).
EXTENSIONS = (".csv", ".tsv", ".txt", ".dat")
#: Format names, by extension.
FORMATS = {".csv": "CSV", ".tsv": "TSV", ".txt": "TEXT", ".dat": "TEXT"}
#: Pad mode when none is given: as for audio.
DEFAULT_PAD_MODE = "zero"
_STAMP_BYTES = 1 << 16
#: Rows :meth:`SeriesWriter.write` formats at once: their texts are held, not a whole slab's.
_WRITE_ROWS = 1 << 16


# --------------------------------------------------------------------------------------------
# What a file is: dialect, column styles, the index


@dataclass(frozen=True)
class Block:
    """A run of whole records in the file: what is parsed at a time.

    Parameters
    ----------
    offset, end : int
        Byte offsets of its first byte and one past its last (a record boundary).
    first_row : int
        Index of its first data row.
    rows : int
        Data rows in it.
    first_line : int
        Line number (1-based) of its first line.
    """

    offset: int
    end: int
    first_row: int
    rows: int
    first_line: int


@dataclass(frozen=True)
class SeriesLayout:
    """Everything needed to read a series file again and write it back as it came.

    Carried by a loaded :class:`~convcli.io.Signal` in ``form.info["series"]``.

    Parameters
    ----------
    path : pathlib.Path or None
        The file (None for a series made in code).
    stamp : tuple of int or None
        ``(size, mtime_ns, inode, crc)`` when it was indexed; ``crc`` is the CRC-32 of its first
        and last 64 KiB (a modification time ticks in milliseconds: a file rewritten with the
        same size within one tick is told apart by its content).
    dialect : Dialect
        Delimiter, decimal mark, line terminator, BOM.
    names : tuple of str
        Every column's name, in file order (``"1"``, ``"2"``... without a header).
    header : bool
        Whether the first record is a header.
    header_span : tuple of int or None
        Byte offsets of the header line (terminator included).
    channels : tuple of int
        The columns filtered (0-based, in file order): the signal's channels.
    styles : tuple of ColumnStyle
        One per channel.
    quoted : tuple of bool
        Per column: whether its first data cell was quoted (how a cell without a source row
        is written).
    data_start : int
        Byte offset of the first data row: everything before it is the preamble.
    rows : int
        Data rows.
    blocks : tuple of Block
        The index.
    nonfinite : int
        NaN and infinite values in the channels (empty cells included).
    ends_with_newline : bool
        Whether the file's last line has a terminator.
    """

    path: Path | None = None
    stamp: tuple[int, int, int, int] | None = None
    dialect: Dialect = field(default_factory=Dialect)
    names: tuple[str, ...] = ()
    header: bool = False
    header_span: tuple[int, int] | None = None
    channels: tuple[int, ...] = ()
    styles: tuple[ColumnStyle, ...] = ()
    quoted: tuple[bool, ...] = ()
    data_start: int = 0
    rows: int = 0
    blocks: tuple[Block, ...] = ()
    nonfinite: int = 0
    ends_with_newline: bool = True

    @property
    def columns(self) -> int:
        """Number of columns, pass-through ones included."""
        return len(self.names)

    @property
    def passthrough(self) -> tuple[int, ...]:
        """The columns written back untouched (0-based)."""
        chosen = set(self.channels)
        return tuple(j for j in range(self.columns) if j not in chosen)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """The names of the channels."""
        return tuple(self.names[j] for j in self.channels)


def identify(head: bytes, path: PathLike) -> str | None:
    r"""Tell whether a file is a text series, from its extension and first bytes.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (any length; a character cut at the end is allowed).
    path : str or os.PathLike
        The file; its extension decides whether this family claims it.

    Returns
    -------
    str or None
        The format name (:data:`FORMATS`), or None when the extension is not a text one.

    Raises
    ------
    SignalReadError
        The extension is a text one but the content is not text: empty, a NUL or control
        character, or bytes that are not UTF-8 (the message names the line and column).

    Examples
    --------
    >>> identify(b"time,value\n0,1.5\n", "a.csv"), identify(b"\x89PNG", "a.png")
    ('CSV', None)
    >>> identify(b"1,2\n\x00\x01", "a.csv")
    Traceback (most recent call last):
    ...
    convcli.errors.SignalReadError: a.csv: line 2: character 1 is a NUL byte: binary data, ...
    """
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        return None
    if not head:
        raise SignalReadError(f"{path}: is empty")
    body = head[len(BOM) :] if head.startswith(BOM) else head
    eol = b"\r" if b"\n" not in body and b"\r" in body else b"\n"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(body) - 3:
            body = body[: exc.start]  # a character cut by the end of ``head``
    decode(body, path, 1, eol)  # raises, naming the line and the byte
    return fmt


# --------------------------------------------------------------------------------------------
# The index: one pass over the whole file


class _Scan:
    """Validate every block of a file, learn each column's style, and index the blocks."""

    def __init__(
        self,
        path: PathLike,
        head: Head,
        numeric: list[int],
        undecided: list[int],
        limits: Limits,
        keep_values: bool,
    ) -> None:
        self.path, self.head, self.limits, self.keep = path, head, limits, keep_values
        self.comma = head.delimiter == ","
        self.mark: str | None = "." if self.comma else None
        self.numeric = sorted(numeric)
        self.undecided = sorted(undecided)
        self.stats = {j: ColumnStats() for j in self.numeric}
        self.first: dict[int, tuple[int, str]] = {}  # column -> (line, text) of its first value
        self.missing: dict[int, tuple[int, str]] = {}  # undecided column -> its first missing word
        self.rows = 0
        self.nonfinite = 0
        self.blocks: list[Block] = []
        self.values: list[dict[int, np.ndarray]] = []
        self.last_byte = b""

    def run(self, fh: IO[bytes]) -> None:
        """Read every block from the first data row on."""
        head = self.head
        reader = ChunkReader(fh, self.path, head.data_start, head.data_line, head.eol)
        ref = head.header_line or head.data_line
        while (got := reader.next()) is not None:
            offset, line, data, final = got
            text = decode(data, self.path, line, head.eol)
            chunk, used = parse(
                text,
                head.delimiter,
                head.ncols,
                final=final,
                line=line,
                path=self.path,
                ref_line=ref,
            )
            if used < len(text):
                tail = text[used:].encode("utf-8")
                reader.unread(tail)
                data = data[: len(data) - len(tail)]
            if data:
                self.take(chunk, Block(offset, offset + len(data), self.rows, chunk.rows, line))
                self.last_byte = data[-1:]

    def take(self, chunk: Chunk, block: Block) -> None:
        """Check and index one block."""
        for j in list(self.undecided):
            self._decide(chunk, j)
        got = {j: self._column(chunk, j) for j in self.numeric}
        self.nonfinite += sum(int(np.count_nonzero(~np.isfinite(v))) for v in got.values())
        if self.keep:
            self.values.append(got)
            self.limits.check_samples(self.path, self.rows + chunk.rows, max(len(self.numeric), 1))
        self.blocks.append(block)
        self.rows += chunk.rows

    def _column(self, chunk: Chunk, j: int) -> np.ndarray:
        cells = chunk.column(j)
        try:
            values, self.mark = numbers(cells, self.mark, self.comma, self.stats[j])
        except CellError as exc:
            problem, where = exc.problem, chunk.line_of(exc.index)
            if j not in self.first:
                self._first_value(chunk, j, cells)
            line, text = self.first.get(j, (where, ""))
            if problem.endswith("is not a number") and line < where and is_number(text):
                problem += f" (this column holds numbers: {text!r} on line {line})"
            raise read_error(
                self.path,
                where,
                problem,
                column=j + 1,
                name=self.head.names[j],
            ) from None
        if j not in self.first:
            self._first_value(chunk, j, cells)
        return values

    def _first_value(self, chunk: Chunk, j: int, cells: list[str]) -> None:
        for i, cell in enumerate(cells):
            if meaningful(cell.strip(" \t")):
                self.first[j] = (chunk.line_of(i), cell.strip(" \t"))
                return

    def _decide(self, chunk: Chunk, j: int) -> None:
        """Decide the kind of a column that held nothing so far, by its first value."""
        cells = chunk.column(j)
        if not any(map(str.strip, cells)):
            return
        for i, cell in enumerate(cells):
            token = cell.strip(" \t")
            if not token:
                continue
            if not meaningful(token):
                self.missing.setdefault(j, (chunk.line_of(i), token))
                continue
            self.undecided.remove(j)
            if not is_number(token):
                return
            if j in self.missing:
                line, word = self.missing[j]
                raise read_error(
                    self.path,
                    line,
                    f"{word!r} is not a number (write an empty cell or NaN for a missing "
                    f"value); this column holds numbers: {token!r} on line {chunk.line_of(i)}",
                    column=j + 1,
                    name=self.head.names[j],
                )
            self.numeric = sorted([*self.numeric, j])
            self.stats[j] = ColumnStats()
            self.nonfinite += self.rows  # every earlier row was empty
            return

    def layout(self, path: Path, stamp: tuple[int, int, int, int]) -> SeriesLayout:
        """Return the layout, once every block is read."""
        head = self.head
        if self.rows == 0:
            what = "a header but no data rows" if head.header else "no data rows"
            raise SignalReadError(f"{path}: has {what}")
        if not self.numeric:
            listed = ", ".join(repr(n) for n in head.names)
            raise SignalReadError(f"{path}: no column holds numbers (columns: {listed})")
        self.limits.check_channels(path, len(self.numeric))
        self.limits.check_samples(path, self.rows, len(self.numeric))
        mark = self.mark or ("," if head.delimiter == ";" else ".")
        dialect = Dialect(head.delimiter, mark, head.newline, head.bom)
        return SeriesLayout(
            path=path,
            stamp=stamp,
            dialect=dialect,
            names=head.names,
            header=head.header,
            header_span=head.header_span,
            channels=tuple(self.numeric),
            styles=tuple(self.stats[j].style() for j in self.numeric),
            quoted=head.quoted,
            data_start=head.data_start,
            rows=self.rows,
            blocks=tuple(self.blocks),
            nonfinite=self.nonfinite,
            ends_with_newline=self.last_byte in (b"\n", b"\r"),
        )

    def data(self) -> np.ndarray:
        """Every kept value, ``(rows, channels)``."""
        out = np.full((self.rows, len(self.numeric)), np.nan)
        for block, got in zip(self.blocks, self.values):
            for c, j in enumerate(self.numeric):
                if j in got:
                    out[block.first_row : block.first_row + block.rows, c] = got[j]
        return out


def _plan_columns(
    head: Head,
    columns: Sequence[str] | None,
    keep_columns: Sequence[str] | None,
    path: PathLike,
) -> tuple[list[int], list[int]]:
    """Return the numeric columns and the undecided ones, from the options and the sample."""
    if columns is not None and keep_columns is not None:
        both = [Param("columns"), Param("keep_columns")]
        raise ArgumentError(
            f"give {both[0]} (what is filtered) or {both[1]}, not both", params=both
        )
    if columns is not None:
        chosen = select_columns(head.names, columns, path, "columns")
        if not chosen:
            what = Param("columns")
            raise ArgumentError(f"{what} is empty: name a column to filter", params=[what])
        return chosen, []
    kept = set(select_columns(head.names, keep_columns, path, "keep_columns"))
    kinds = column_kinds(head)
    numeric = [j for j, k in enumerate(kinds) if k == "num" and j not in kept]
    undecided = [j for j, k in enumerate(kinds) if k is None and j not in kept]
    return numeric, undecided


def _stamp(fh: IO[bytes]) -> tuple[int, int, int, int]:
    """Return ``(size, mtime_ns, inode, crc)``: what says a file is the one that was indexed."""
    st = os.fstat(fh.fileno())
    where = fh.tell()
    fh.seek(0)
    crc = zlib.crc32(fh.read(_STAMP_BYTES))
    if st.st_size > _STAMP_BYTES:
        fh.seek(max(st.st_size - _STAMP_BYTES, _STAMP_BYTES))
        crc = zlib.crc32(fh.read(_STAMP_BYTES), crc)
    fh.seek(where)
    return (st.st_size, st.st_mtime_ns, st.st_ino, crc)


def _same_file(fh: IO[bytes], stamp: tuple[int, int, int, int] | None) -> bool:
    """Whether an open file is still what ``stamp`` says (by size, time and inode: cheap)."""
    st = os.fstat(fh.fileno())
    return stamp is not None and (st.st_size, st.st_mtime_ns, st.st_ino) == stamp[:3]


def _names(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


_LAYOUTS: OrderedDict[tuple[Any, ...], SeriesLayout] = OrderedDict()
_KEEP_LAYOUTS = 4


def _index(
    path: PathLike,
    *,
    columns: Sequence[str] | str | None,
    keep_columns: Sequence[str] | str | None,
    header: bool | None,
    limits: Limits | None,
    keep_values: bool = False,
) -> tuple[SeriesLayout, np.ndarray | None]:
    """Index a file (or take its index from the cache); with ``keep_values``, its data too."""
    limits = DEFAULT_LIMITS if limits is None else limits
    cols, keep = _names(columns), _names(keep_columns)
    p = Path(path)
    with open_regular(p) as fh:
        stamp = _stamp(fh)
        key = (os.path.realpath(p), stamp, cols, keep, header)
        layout = _LAYOUTS.get(key)
        if layout is not None:
            _LAYOUTS.move_to_end(key)
            limits.check_channels(p, len(layout.channels))
            limits.check_samples(p, layout.rows, len(layout.channels))
            return layout, None
        if stamp[0] == 0:
            raise SignalReadError(f"{p}: is empty")
        head = sniff(fh, p, header)
        numeric, undecided = _plan_columns(head, cols, keep, p)
        scan = _Scan(p, head, numeric, undecided, limits, keep_values)
        scan.run(fh)
        if _stamp(fh) != stamp:
            raise SignalReadError(f"{p}: changed while it was being read")
        layout = scan.layout(p, stamp)
    _LAYOUTS[key] = layout
    while len(_LAYOUTS) > _KEEP_LAYOUTS:
        _LAYOUTS.popitem(last=False)
    return layout, scan.data() if keep_values else None


# --------------------------------------------------------------------------------------------
# Reading: probe, load, rows block by block


def _check_kind(kind: str, path: PathLike) -> None:
    if kind not in ("auto", KIND, "array"):
        raise SignalReadError(
            f"{path}: is a text series; it can be read as a series (or an array), not {kind}"
        )


def _form(layout: SeriesLayout, path: Path) -> Form:
    fmt = FORMATS.get(path.suffix.lower(), "TEXT")
    info = {"series": layout, "columns": list(layout.channel_names)}
    return Form(container="file", format=fmt, bits=64, dtype="float64", info=info)


def _signal(layout: SeriesLayout, data: np.ndarray, kind: str, path: Path) -> Signal:
    form = _form(layout, path)
    if kind == "array":
        return Signal(data, "array", None, source=path, form=form)
    return Signal(data, KIND, 1, source=path, form=form)


def probe_series(
    path: PathLike,
    *,
    limits: Limits | None = None,
    columns: Sequence[str] | str | None = None,
    keep_columns: Sequence[str] | str | None = None,
    header: bool | None = None,
) -> dict[str, Any]:
    """Describe a series file: its shape, dialect and columns.

    Text has no header that counts its rows, so the whole file is read once (in bounded
    memory, validating every cell); the index is kept, so that :func:`read_series` or
    :func:`open_series` right after does not read it again for that.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    limits : Limits, optional
        The budgets: channels (numeric columns) and samples (rows x channels).
    columns, keep_columns : sequence of str, optional
        Which columns are filtered (``columns``) or passed through (``keep_columns``): see
        the module docstring.
    header : bool, optional
        Whether the first record is a header (default: decided from the content).

    Returns
    -------
    dict
        The keys of :func:`convcli.io.probe` (``kind`` ``"series"``, ``shape`` ``[rows,
        channels]``, ``dtype`` ``"float64"``...) and ``rows``, ``columns`` (the channels'
        names), ``keep`` (the pass-through columns' names), ``header``, ``delimiter``,
        ``decimal``, ``nonfinite``.

    Raises
    ------
    SignalReadError
        The file is not a series this module reads, or is larger than ``limits``; the
        message names the line and column.
    """
    p = Path(path)
    layout, _ = _index(p, columns=columns, keep_columns=keep_columns, header=header, limits=limits)
    chans = len(layout.channels)
    return {
        "kind": KIND,
        "format": FORMATS.get(p.suffix.lower(), "TEXT"),
        "container": "file",
        "shape": [layout.rows, chans],
        "dtype": "float64",
        "channels": chans,
        "mode": None,
        "subtype": None,
        "bits": 64,
        "rate": None,
        "duration": None,
        "frames": None,
        "planes": None,
        "rows": layout.rows,
        "columns": list(layout.channel_names),
        "keep": [layout.names[j] for j in layout.passthrough],
        "header": layout.header,
        "delimiter": layout.dialect.delimiter if layout.dialect.delimiter else " ",
        "decimal": layout.dialect.decimal,
        "nonfinite": layout.nonfinite,
    }


def read_series(
    path: PathLike,
    kind: str = "auto",
    *,
    limits: Limits | None = None,
    columns: Sequence[str] | str | None = None,
    keep_columns: Sequence[str] | str | None = None,
    header: bool | None = None,
) -> Signal:
    r"""Load a series file: ``(rows, channels)`` float64, channel axis 1.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    kind : str, optional
        ``"auto"`` or ``"series"`` (channel axis 1), or ``"array"`` (the same data, every
        axis spatial).
    limits : Limits, optional
        The budgets: channels and samples.
    columns, keep_columns : sequence of str, optional
        Which columns are filtered, or passed through (module docstring).
    header : bool, optional
        Whether the first record is a header (default: decided from the content).

    Returns
    -------
    Signal
        The channels; ``form.info["series"]`` holds the :class:`SeriesLayout` that
        :func:`write_series` writes back with.

    Raises
    ------
    SignalReadError
        The file is not a series this module reads (one line naming the line and column),
        or is larger than ``limits``.
    ArgumentError
        Both ``columns`` and ``keep_columns`` given, or ``columns`` empty.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "a.csv")
    ...     with open(p, "w") as f:
    ...         _ = f.write("time;level;note\n00:00;1,5;a\n00:01;2,25;b\n")
    ...     s = read_series(p)
    >>> s.kind, s.data.tolist(), s.form.info["series"].channel_names
    ('series', [[1.5], [2.25]], ('level',))
    """
    p = Path(path)
    _check_kind(kind, p)
    layout, data = _index(
        p,
        columns=columns,
        keep_columns=keep_columns,
        header=header,
        limits=limits,
        keep_values=True,
    )
    if data is None:  # the index came from the cache
        with SeriesRows(layout) as rows:
            data = rows.read(0, layout.rows)
    return _signal(layout, data, kind, p)


def open_series(
    path: PathLike,
    *,
    limits: Limits | None = None,
    columns: Sequence[str] | str | None = None,
    keep_columns: Sequence[str] | str | None = None,
    header: bool | None = None,
) -> SeriesRows:
    """Open a series file for reading rows block by block (after one indexing pass).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    limits, columns, keep_columns, header
        As for :func:`read_series`.

    Returns
    -------
    SeriesRows
        The row reader (close it, or use it in a ``with`` block).
    """
    layout, _ = _index(
        path, columns=columns, keep_columns=keep_columns, header=header, limits=limits
    )
    return SeriesRows(layout)


def _open_source(layout: SeriesLayout) -> IO[bytes]:
    """Open the layout's file, checked unchanged since it was indexed."""
    assert layout.path is not None
    fh = open_regular(layout.path)
    if _stamp(fh) != layout.stamp:
        fh.close()
        raise SignalReadError(f"{layout.path}: changed since it was read")
    return fh


def _read_block(fh: IO[bytes], layout: SeriesLayout, block: Block) -> Chunk:
    """Parse one block of the index again."""
    assert layout.path is not None
    fh.seek(block.offset)
    data = fh.read(block.end - block.offset)
    if len(data) != block.end - block.offset or not _same_file(fh, layout.stamp):
        raise SignalReadError(f"{layout.path}: changed since it was read")
    eol = b"\r" if layout.dialect.newline == "\r" else b"\n"
    text = decode(data, layout.path, block.first_line, eol)
    chunk, _ = parse(
        text,
        layout.dialect.delimiter,
        layout.columns,
        final=True,
        line=block.first_line,
        path=layout.path,
        ref_line=block.first_line,
    )
    if chunk.rows != block.rows:
        raise SignalReadError(f"{layout.path}: changed since it was read")
    return chunk


def _block_values(chunk: Chunk, layout: SeriesLayout) -> np.ndarray:
    """Return the channels of a parsed block, ``(rows, channels)``."""
    values = np.empty((chunk.rows, len(layout.channels)))
    comma = layout.dialect.delimiter == ","
    for c, j in enumerate(layout.channels):
        values[:, c] = numbers(chunk.column(j), layout.dialect.decimal, comma, None)[0]
    return values


class SeriesRows:
    """Rows ``[start, stop)`` of a series file, parsed block by block on demand.

    The duck type of :class:`convcli.stream.RowSource`: ``shape``, ``dtype``, ``read``,
    ``take``, ``close`` and ``may_hold_nonfinite``; also ``nonfinite`` (counted by the index)
    and ``signal`` (a :class:`~convcli.io.Signal` with no rows describing the input).

    Parameters
    ----------
    layout : SeriesLayout
        The file's index (:func:`open_series` makes it).
    """

    #: Parsed blocks kept: a slab and its halo never parse a block twice.
    KEEP = 4

    def __init__(self, layout: SeriesLayout) -> None:
        assert layout.path is not None
        self.layout = layout
        self.path = layout.path
        self.shape = (layout.rows, len(layout.channels))
        self.dtype = np.dtype(np.float64)
        self.nonfinite = layout.nonfinite
        self._firsts = [b.first_row for b in layout.blocks]
        self._kept: OrderedDict[int, np.ndarray] = OrderedDict()
        self._fh = _open_source(layout)

    @property
    def may_hold_nonfinite(self) -> bool:
        """Whether any cell is NaN, empty or infinite (counted while indexing)."""
        return self.nonfinite > 0

    @property
    def signal(self) -> Signal:
        """The input as :func:`read_series` describes it, with no rows."""
        empty = np.empty((0, self.shape[1]))
        return _signal(self.layout, empty, KIND, self.path)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return rows ``start:stop`` (``0 <= start <= stop <= shape[0]``)."""
        if not 0 <= start <= stop <= self.shape[0]:
            raise ValueError(f"rows {start}:{stop} are not within 0:{self.shape[0]}")
        out = np.empty((stop - start, self.shape[1]))
        i = max(bisect.bisect_right(self._firsts, start) - 1, 0)
        pos = start
        while pos < stop:
            block = self.layout.blocks[i]
            if block.rows:
                values = self._values(i)
                a, b = pos - block.first_row, min(stop, block.first_row + block.rows)
                out[pos - start : b - start] = values[a : b - block.first_row]
                pos = b
            i += 1
        return out

    def take(self, index: np.ndarray) -> np.ndarray:
        """Return the rows at ``index`` (any order, repeats allowed), reading a run once."""
        index = np.asarray(index, dtype=np.intp)
        out = np.empty((len(index), self.shape[1]))
        if len(index) == 0:
            return out
        lo, hi = int(index.min()), int(index.max()) + 1
        if hi - lo <= 4 * len(index):
            return self.read(lo, hi)[index - lo]
        for pos, i in enumerate(index.tolist()):  # scattered rows (a large circular pad)
            out[pos] = self.read(i, i + 1)[0]
        return out

    def _values(self, i: int) -> np.ndarray:
        kept = self._kept.get(i)
        if kept is not None:
            self._kept.move_to_end(i)
            return kept
        values = _block_values(
            _read_block(self._fh, self.layout, self.layout.blocks[i]), self.layout
        )
        self._kept[i] = values
        while len(self._kept) > self.KEEP:
            self._kept.popitem(last=False)
        return values

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> SeriesRows:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _output_dialect(layout: SeriesLayout, path: Path) -> Dialect:
    """Return the dialect of an output: the input's, unless the extension says otherwise."""
    ext = path.suffix.lower()
    dialect = layout.dialect
    if ext not in EXTENSIONS:
        raise UnsupportedError(
            f"{path}: a series is written as text ({', '.join(EXTENSIONS)}), not "
            f"{ext or 'to a path without an extension'}"
        )
    want = dialect.delimiter
    if layout.path is not None and ext == layout.path.suffix.lower():
        return dialect  # written back as it came, whatever its name says
    if ext == ".tsv":
        want = "\t"
    elif ext == ".csv" and want not in (",", ";"):
        want = ";" if dialect.decimal == "," else ","
    return replace(dialect, delimiter=want, decimal="." if want == "," else dialect.decimal)


class _Source:
    """The input file read again in order, block by block, for the rows output rows sit on."""

    def __init__(self, layout: SeriesLayout) -> None:
        self.layout = layout
        self.fh = _open_source(layout)
        self.next_block = 0
        self.chunk: Chunk | None = None
        self.values = np.empty((0, len(layout.channels)))
        self.base = 0  # the current chunk's first row
        self.extra = 0  # the current chunk's next extra line

    def copy(self, start: int, stop: int, out: IO[bytes]) -> None:
        """Copy bytes ``start:stop`` of the input to ``out``."""
        self.fh.seek(start)
        while start < stop:
            data = self.fh.read(min(BLOCK_BYTES, stop - start))
            if not data:
                raise SignalReadError(f"{self.layout.path}: changed since it was read")
            out.write(data)
            start += len(data)

    def _advance(self) -> bool:
        if self.next_block >= len(self.layout.blocks):
            return False
        block = self.layout.blocks[self.next_block]
        self.next_block += 1
        self.chunk = _read_block(self.fh, self.layout, block)
        self.values = _block_values(self.chunk, self.layout)
        self.base, self.extra = block.first_row, 0
        return True

    def extras(self, upto: int | None) -> list[tuple[str, str]]:
        """Return the comment and blank lines before rows up to ``upto`` (None: all) not given yet.

        Afterwards the current chunk holds row ``upto``.
        """
        out: list[tuple[str, str]] = []
        while True:
            chunk = self.chunk
            if chunk is not None:
                lines = chunk.extras
                while self.extra < len(lines) and (
                    upto is None or self.base + lines[self.extra][0] <= upto
                ):
                    out.append(lines[self.extra][1:])
                    self.extra += 1
                if self.extra < len(lines):
                    return out
                if upto is not None and upto < self.base + chunk.rows:
                    return out
            if not self._advance():
                return out

    def next_extra(self) -> float:
        """Return the row the current chunk's next extra line precedes (infinity if none)."""
        if self.chunk is None or self.extra >= len(self.chunk.extras):
            return math.inf
        return self.base + self.chunk.extras[self.extra][0]

    def close(self) -> None:
        """Close the file."""
        self.fh.close()


def _layout_of(signal: Signal, data: np.ndarray, path: Path) -> SeriesLayout:
    """Return the layout a signal is written back with (plain for a series made in code)."""
    layout = signal.form.info.get("series") if signal.form is not None else None
    if isinstance(layout, SeriesLayout):
        return layout
    chans = int(data.shape[1])
    delimiter = {".csv": ",", ".tsv": "\t"}.get(path.suffix.lower())
    return SeriesLayout(
        dialect=Dialect(delimiter),
        names=tuple(str(j + 1) for j in range(chans)),
        channels=tuple(range(chans)),
        styles=(ColumnStyle(),) * chans,
        quoted=(False,) * chans,
    )


def _series_data(signal: Signal) -> np.ndarray:
    """Return the data as ``(rows, channels)``."""
    data = np.asarray(signal.data)
    if data.ndim == 1:
        return data[:, None]
    if data.ndim != 2:
        raise ArgumentError(f"series data must be (rows, channels), not shape {data.shape}")
    return data.T if signal.channel_axis == 0 else data


class SeriesWriter:
    """Write blocks of rows of a series, in order, as the input file was written.

    Each output row sits on an input row (``row_map``); its pass-through cells, its line
    terminator, the comment lines before it and the text of every value that did not change
    are read from the input file in step, a block at a time.

    Parameters
    ----------
    fh : binary file
        Where to write (an :func:`~convcli.io.atomic.atomic_file`).
    layout : SeriesLayout
        The input's layout (``signal.form.info["series"]``), or a plain one.
    path : str or os.PathLike
        The output path: its extension may change the delimiter (module docstring).
    row_map : RowMap, optional
        Where output rows sit (:func:`centre_rows`; default: row ``o`` on row ``o``).
    full_precision : bool, optional
        Write changed values in full (shortest round-trip text of their float dtype) rather
        than in each column's style.

    Raises
    ------
    UnsupportedError
        The path's extension is not a text one.
    SignalReadError
        The input changed since it was read.
    """

    def __init__(
        self,
        fh: IO[bytes],
        layout: SeriesLayout,
        path: PathLike,
        *,
        row_map: RowMap | tuple[int, int] = (0, 1),
        full_precision: bool = False,
    ) -> None:
        self.layout = layout
        self.path = Path(path)
        self.dialect = _output_dialect(layout, self.path)
        self._fh = fh
        self._map = RowMap(*row_map)
        if self._map.step < 1:
            raise ArgumentError(f"row_map step must be at least 1, not {self._map.step}")
        self._full = full_precision
        self._source = _Source(layout) if layout.path is not None else None
        self._verbatim = self._source is not None and self.dialect == layout.dialect
        self._sep = self.dialect.separator
        self._nan = "NaN" if self.dialect.delimiter is None else ""
        self._out = 0  # rows written
        self._pending = ""  # the terminator of the last line written
        self._closed = False
        try:
            self._write_preamble()
        except BaseException:
            self.abandon()
            raise

    # -- the preamble and the end

    def _write_preamble(self) -> None:
        source, layout = self._source, self.layout
        if source is None:
            return
        span = layout.header_span
        if self._verbatim or span is None:
            source.copy(0, layout.data_start, self._fh)
            return
        source.copy(0, span[0], self._fh)
        source.fh.seek(span[0])
        raw = source.fh.read(span[1] - span[0]).decode("utf-8")
        term = EOL.search(raw)
        line = self._sep.join(self._quote(name, j) for j, name in enumerate(layout.names))
        self._fh.write((line + (term.group() if term else "")).encode("utf-8"))
        source.copy(span[1], layout.data_start, self._fh)

    def close(self) -> None:
        """Write the comment lines after the last row and the final line terminator."""
        if self._closed:
            return
        self._closed = True
        parts: list[str] = []
        if self._source is None:
            parts.append(self._pending)
        else:
            try:
                for text, term in self._source.extras(None):
                    self._emit(parts, text, term)
                if self.layout.ends_with_newline:
                    parts.append(self._pending)
            finally:
                self._source.close()
        self._fh.write("".join(parts).encode("utf-8"))

    def abandon(self) -> None:
        """Stop without writing more (the output is being thrown away)."""
        self._closed = True
        if self._source is not None:
            self._source.close()

    # -- rows

    def write(self, block: np.ndarray) -> None:
        """Write the next rows: ``(rows, channels)`` in the output dtype (1-D: one channel).

        A block of any size is formatted :data:`_WRITE_ROWS` rows at a time: a cell's text
        costs tens of bytes as a Python string, eight as a float64.
        """
        data = np.asarray(block)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or data.shape[1] != len(self.layout.channels):
            raise ArgumentError(
                f"{self.path}: blocks of {len(self.layout.channels)} channels expected, not "
                f"shape {data.shape}"
            )
        for start in range(0, len(data), _WRITE_ROWS):
            self._write_rows(data[start : start + _WRITE_ROWS])

    def _write_rows(self, data: np.ndarray) -> None:
        """Write the next rows (at most :data:`_WRITE_ROWS`)."""
        texts = [
            format_values(data[:, c], self._style(c), self.dialect.decimal, self._full)
            for c in range(data.shape[1])
        ]
        src = self._map.first + self._map.step * (self._out + np.arange(len(data)))
        parts: list[str] = []
        k = 0
        while k < len(data):
            row = int(src[k])
            if self._source is not None and 0 <= row < self.layout.rows:
                k = self._sourced(parts, data, texts, src, k)
            else:
                k = self._orphans(parts, data, texts, src, k)
        self._out += len(data)
        self._fh.write("".join(parts).encode("utf-8"))

    def _style(self, c: int) -> ColumnStyle:
        return self.layout.styles[c] if c < len(self.layout.styles) else ColumnStyle()

    def _emit(self, parts: list[str], text: str, term: str) -> None:
        parts.append(self._pending)
        parts.append(text)
        self._pending = term or self.dialect.newline

    def _sourced(
        self, parts: list[str], data: np.ndarray, texts: list[list[str]], src: np.ndarray, k: int
    ) -> int:
        """Write rows from ``k`` that sit on rows of one input block; return where they end."""
        source = self._source
        assert source is not None
        for text, term in source.extras(int(src[k])):
            self._emit(parts, text, term)
        chunk = source.chunk
        assert chunk is not None
        bound = min(source.base + chunk.rows, source.next_extra())
        stop = k + max(int(np.searchsorted(src[k:], bound)), 1)
        local = src[k:stop] - source.base
        cols = self._columns(chunk, source.values[local], local, data[k:stop], texts, k)
        if self.dialect.delimiter is not None and isinstance(chunk.terms, str):
            lines = list(map(self._sep.join, zip(*cols)))
            last = int(local[-1])
            parts.append(self._pending)
            parts.append(chunk.terms.join(lines))
            self._pending = chunk.term(last) or self.dialect.newline
            return stop
        for i, fields in enumerate(zip(*cols)):
            at = int(local[i])
            if self.dialect.delimiter is None:
                seps = record_seps(chunk, at)
                line = "".join(s + f for s, f in zip(seps, fields)) + seps[-1]
            else:
                line = self._sep.join(fields)
            self._emit(parts, line, chunk.term(at))
        return stop

    def _columns(
        self,
        chunk: Chunk,
        before: np.ndarray,
        local: np.ndarray,
        data: np.ndarray,
        texts: list[list[str]],
        k: int,
    ) -> list[list[str]]:
        """Every column of a run of rows that sit on rows ``local`` of ``chunk``."""
        ncols, n = self.layout.columns, len(local)
        lo, hi, step = int(local[0]), int(local[-1]) + 1, self._map.step
        cols: list[list[str]] = []
        chans = {j: c for c, j in enumerate(self.layout.channels)}
        for j in range(ncols):
            raw = chunk.raw[j::ncols][lo:hi:step]
            if j not in chans:
                cols.append(raw if self._verbatim else self._requote(chunk, j, lo, hi, step))
                continue
            c = chans[j]
            cols.append(self._cells(data[:, c], before[:, c], texts[c][k : k + n], raw, chunk, j))
        return cols

    def _cells(
        self,
        values: np.ndarray,
        before: np.ndarray,
        texts: list[str],
        raw: list[str],
        chunk: Chunk,
        j: int,
    ) -> list[str]:
        """Return a channel's cells: the input's text where a value is unchanged, else new.

        Integers (a ``dtype`` asked for) are all written as integers: ``1.00`` is 1 too.
        """
        nan = np.isnan(values) if values.dtype.kind == "f" else np.zeros(len(values), bool)
        same = (values == before) | (nan & np.isnan(before))
        if values.dtype.kind != "f":
            same[:] = False
        if not self._verbatim:
            raw = [self._number_text(t) for t in raw]
        if same.all():
            return list(raw)
        out = list(texts)
        for i in np.flatnonzero(same).tolist():
            out[i] = raw[i]
        for i in np.flatnonzero(nan & ~same).tolist():
            out[i] = self._nan
        joined = "\n".join(raw) if self._verbatim else ""
        if '"' in joined or " " in joined or "\t" in joined:  # quoted or padded numbers
            for i in np.flatnonzero(~same).tolist():
                out[i] = dress(out[i], raw[i])
        return out

    def _number_text(self, raw: str) -> str:
        """Return an unchanged number's text in the output dialect (another delimiter or mark)."""
        text = raw.strip(" \t")
        if text.startswith('"') and text.endswith('"') and len(text) >= 2:
            text = text[1:-1].strip(" \t")
        if self.dialect.decimal != self.layout.dialect.decimal:
            text = text.replace(self.layout.dialect.decimal, self.dialect.decimal)
        return text

    def _requote(self, chunk: Chunk, j: int, lo: int, hi: int, step: int) -> list[str]:
        values = chunk.column(j)[lo:hi:step]
        return [self._quote(v, j) for v in values]

    def _quote(self, value: str, j: int) -> str:
        """Return a pass-through value (or a name) quoted as the output dialect needs."""
        special = ('"', "\r", "\n", self._sep)
        needs = any(ch in value for ch in special) or (j == 0 and value.startswith("#"))
        if self.dialect.delimiter is None:
            needs = needs or not value or " " in value or "\t" in value
        return '"' + value.replace('"', '""') + '"' if needs else value

    def _orphans(
        self, parts: list[str], data: np.ndarray, texts: list[list[str]], src: np.ndarray, k: int
    ) -> int:
        """Write rows from ``k`` that sit on no input row (``full`` padding, or no input)."""
        rows = self.layout.rows
        if self._source is not None and int(src[k]) >= rows:
            for text, term in self._source.extras(rows - 1):
                self._emit(parts, text, term)
        stop = k + 1
        while stop < len(data) and (self._source is None or not 0 <= int(src[stop]) < rows):
            stop += 1
        empty = '""' if self.dialect.delimiter is None else ""
        cols: list[list[str]] = [[empty] * (stop - k) for _ in range(self.layout.columns)]
        for c, j in enumerate(self.layout.channels):
            cells = list(texts[c][k:stop])
            if data.dtype.kind == "f":
                for i in np.flatnonzero(np.isnan(data[k:stop, c])).tolist():
                    cells[i] = self._nan
            if j < len(self.layout.quoted) and self.layout.quoted[j]:
                cells = [f'"{t}"' for t in cells]
            cols[j] = cells
        for fields in zip(*cols):
            self._emit(parts, self._sep.join(fields), self.dialect.newline)
        return stop


def series_writer(
    fh: IO[bytes],
    signal: Signal,
    path: PathLike,
    *,
    row_map: RowMap | tuple[int, int] = (0, 1),
    full_precision: bool = False,
) -> SeriesWriter:
    """Open a block writer for a series: ``write(block)`` in order along the rows, ``close()``.

    Parameters
    ----------
    fh : binary file
        Where to write (the caller makes it atomic: :func:`convcli.io.atomic.atomic_file`).
    signal : Signal
        The input series (its ``form.info["series"]`` layout), or a series made in code
        (``data`` of shape ``(rows, channels)``, possibly with no rows).
    path : str or os.PathLike
        The output path (its extension; messages).
    row_map : RowMap, optional
        Where output rows sit on input rows (:func:`centre_rows`, :meth:`RowMap.then`).
    full_precision : bool, optional
        Write changed values in full instead of in each column's style (the CLI passes
        ``--dtype`` other than ``auto``).

    Returns
    -------
    SeriesWriter
        The writer.
    """
    data = _series_data(signal)
    return SeriesWriter(
        fh,
        _layout_of(signal, data, Path(path)),
        path,
        row_map=row_map,
        full_precision=full_precision,
    )


def write_series(
    signal: Signal,
    path: PathLike,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
    row_map: RowMap | tuple[int, int] = (0, 1),
    full_precision: bool = False,
) -> Path:
    r"""Write a series as its input was written, atomically.

    Parameters
    ----------
    signal : Signal
        ``(rows, channels)`` data in the output dtype (float: each column's style; integer:
        integers), with the input's form, or made in code.
    path : str or os.PathLike
        ``.csv``, ``.tsv``, ``.txt`` or ``.dat``.
    overwrite : bool, optional
        Replace an existing output.
    protect : iterable of str or os.PathLike, optional
        Paths never to write (the inputs; the series' own input is always protected).
    row_map : RowMap, optional
        Where output rows sit on input rows (:func:`centre_rows`).
    full_precision : bool, optional
        Write changed values in full.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    OutputExistsError
        The output exists and ``overwrite`` is false, or it is an input.
    UnsupportedError
        Not a text extension.
    SignalWriteError
        The output cannot be written.
    SignalReadError
        The input changed since it was read (its pass-through columns cannot be copied).

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p, q = os.path.join(d, "a.csv"), os.path.join(d, "b.csv")
    ...     with open(p, "w") as f:
    ...         _ = f.write("t,x\n00:00,1.00\n00:01,2.50\n00:02,4.00\n")
    ...     s = read_series(p)
    ...     s.data = s.data * 2
    ...     _ = write_series(s, q)
    ...     print(open(q).read(), end="")
    t,x
    00:00,2.00
    00:01,5.00
    00:02,8.00
    """
    from ..errors import ConvcliError

    out = Path(path)
    data = _series_data(signal)
    layout = _layout_of(signal, data, out)
    _output_dialect(layout, out)
    guarded = (*protect, layout.path) if layout.path is not None else tuple(protect)
    try:
        with atomic_file(out, overwrite=overwrite, protect=guarded) as fh:
            writer = SeriesWriter(fh, layout, out, row_map=row_map, full_precision=full_precision)
            try:
                writer.write(data)
                writer.close()
            finally:
                writer.abandon()
    except (ConvcliError, KeyboardInterrupt):
        raise
    except Exception as exc:
        reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())
        raise SignalWriteError(
            f"{out}: cannot write {FORMATS[out.suffix.lower()]}: {reason}"
        ) from exc
    return out


# --------------------------------------------------------------------------------------------
# The registry's functions (convcli.io.registry): the work is done above


def probe(path: Path, fmt: str, limits: Limits, **options: Any) -> dict[str, Any]:
    """Describe a series file (:func:`probe_series`; ``options``: its read options)."""
    return probe_series(path, limits=limits, **options)


def load(path: Path, fmt: str, kind: str, gray: bool, limits: Limits, **options: Any) -> Signal:
    """Load a series file as a series or an array (:func:`read_series`); ``gray`` is moot."""
    return read_series(path, kind, limits=limits, **options)


def open_rows(
    path: Path, fmt: str, kind: str, limits: Limits, **options: Any
) -> tuple[SeriesRows, Signal] | None:
    """Open a series file to read its rows block by block, read as ``auto`` or ``series``.

    Returns
    -------
    (SeriesRows, Signal) or None
        The rows (after one indexing pass), and the signal :func:`read_series` would give
        without its rows; None for another kind (:func:`load` reads it whole).
    """
    if kind not in ("auto", KIND):
        return None
    rows = open_series(path, limits=limits, **options)
    return rows, rows.signal


def _placement(form: Form) -> tuple[RowMap, bool]:
    """Where a writer's rows sit, and whether it writes values in full (``form.info``)."""
    rows = form.info.get("rows") if form is not None else None
    full = bool(form.info.get("full_precision")) if form is not None else False
    return RowMap(*rows) if rows is not None else RowMap(), full


def target(signal: Signal, path: Path, fmt: registry.WriteFormat) -> registry.Target:
    """Write a series, or an array of one or two axes (rows, and a column per channel).

    Raises
    ------
    UnsupportedError
        Another kind, or an array of more axes.
    """
    if signal.kind == KIND or (signal.kind == "array" and signal.data.ndim in (1, 2)):
        return registry.Target(path, "series", fmt.name)
    if signal.kind == "array":
        raise UnsupportedError(
            f"{path}: a {signal.data.ndim}-D array cannot be written as {fmt.name}: a text "
            f"series holds rows of columns; write .npy"
        )
    return registry.default_target(registry.family("series"), signal, path, fmt)


def save(
    signal: Signal,
    data: np.ndarray,
    target: registry.Target,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
) -> None:
    """Write ``(rows, channels)`` as the input was written (:func:`write_series`), atomically."""
    row_map, full = _placement(signal.form)
    write_series(
        replace(signal, data=data),
        target.path,
        overwrite=overwrite,
        protect=protect,
        row_map=row_map,
        full_precision=full,
    )


def open_writer(
    fh: IO[bytes],
    target: registry.Target,
    shape: tuple[int, ...],
    dtype: np.dtype,
    form: Form,
    rate: float | None,
) -> SeriesWriter:
    """Start a series file whose rows come block by block (:func:`series_writer`)."""
    channels = int(shape[1]) if len(shape) > 1 else 1
    row_map, full = _placement(form)
    empty = Signal(np.empty((0, channels), dtype), KIND, 1, form=form)
    return series_writer(fh, empty, target.path, row_map=row_map, full_precision=full)
