r"""How a text series is written: encoding, lines, delimiter, quotes, header, numbers.

The dialect and tokenizer of :mod:`convcli.io.text_series`: bytes to text a block at a time,
text to records (a fast path for plain blocks, a strict CSV tokenizer for the rest), cells
to float64, and what the first records of a file say (its delimiter, header, column names
and which columns hold numbers).  The rules:

- **Encoding**: UTF-8, a byte-order mark read as a BOM (kept on output).  A NUL byte, another
  control character (except tab, LF, CR) or bytes that are not UTF-8 are binary data: an error
  naming the line and column.  A line longer than :data:`MAX_LINE_BYTES` (1 MiB) is refused
  as soon as the reader has read that much of it.
- **Lines** end with LF, CRLF or CR (the first line terminator says which; each line's own
  terminator is written back; a lone CR in a file of LFs ends a record, as in Python's
  ``csv`` module, and line numbers count the file's own line ends).  A line whose first
  non-blank character is ``#`` is a comment; a line of blanks is a blank line (in a
  tab-separated file a tab is not a blank: a line of tabs is a row of empty cells).  Both
  are kept in place (below); neither is a row, except that in a file of one column an empty
  line is an empty cell.  A ``#`` anywhere else is data.
- **Delimiter**: tab, ``;``, ``,`` or runs of blanks (spaces and tabs), found strictly from the
  first :data:`SNIFF_ROWS` records (comments and blank lines skipped): a delimiter fits when it
  splits every one of them into the same number of fields, at least two, outside quotes.  Tab
  wins over ``;``, ``;`` over ``,`` (a spreadsheet export ``1,5;2,25`` is ``;``-separated with
  decimal commas), ``,`` over blanks; but when both ``,`` and blanks fit and the blank-separated
  fields are numbers with decimal commas (``1,5 2,25``), the file is refused as ambiguous.
  When nothing fits the file has one column.  A file where some line has another number of
  fields than the first is refused (ragged), naming both lines.  A comma-separated file
  without a header whose rows are all two integers (``1,5``) is refused too: it could be one
  column written with decimal commas (a header line, or ``;``, says which).
- **Quotes** as a CSV reader reads them (RFC 4180, Python's ``csv`` with ``strict=True``): a
  field that starts with ``"`` is quoted, ``""`` is a quote inside it, and it may hold
  delimiters and line breaks; text after its closing quote, or a quote never closed, is an
  error.  A quote inside an unquoted field is an ordinary character (``12" pipe``).
- **Header**: the first record is a header when one of its cells is text in a column whose
  first value below it is a number (``time,value`` above ``0.5,1.25``); ``header=True/False``
  decides instead.  A file of one record of text is a header without data: refused.
- **Numbers** are read as strictly as kernel text (:mod:`convcli.kernels._numbers`): an
  optional sign, ASCII digits with one decimal mark, an optional exponent; blanks around a
  field are allowed.  ``NaN`` (any case) and an empty cell are NaN, ``inf``/``infinity``
  (any case, signed) are infinities: all kept and counted (the layout's ``nonfinite``), as
  the README's NaN policy says.  A literal beyond float64 (``1e999``) is an error, not an
  infinity.  **Decimal mark**: ``.``; or ``,`` in a file whose fields are separated by ``;``,
  tabs or blanks (the first number with a mark decides; a number with the other mark later is
  an error: ``1.500`` in a decimal-comma file could be a thousands separator).  A decimal comma
  in a comma-separated file is an error (``"1,5"``), never a misread.
- **Columns**: a column is numeric (a channel) when its first value that is neither empty nor
  a missing-value word (``NA``, ``N/A``, ``null``...) is a number; otherwise, or when it
  holds no value at all, it passes through untouched.  A text cell below the first number of
  a numeric column is an error naming the line, the column and that first number.
  ``keep_columns=[NAME, ...]`` passes columns through whatever they hold; ``columns=[NAME,
  ...]`` filters those columns alone (every other passes through).  A name is a header name,
  or a 1-based column number (without a header, the only way).  Note that a numeric time
  column (seconds, epoch) is a channel unless it is kept.

Standard library and numpy only.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import Param, SignalReadError

__all__ = [
    "MAX_LINE_BYTES",
    "BLOCK_BYTES",
    "SNIFF_ROWS",
    "BOM",
    "EOL",
    "Dialect",
    "ColumnStyle",
    "ColumnStats",
    "Chunk",
    "ChunkReader",
    "Head",
    "CellError",
    "read_error",
    "decode",
    "parse",
    "numbers",
    "is_number",
    "meaningful",
    "sniff",
    "column_kinds",
    "select_columns",
    "format_values",
    "dress",
    "record_seps",
]

PathLike = str | os.PathLike[str]

#: Longest line (or quoted record) read, in bytes.
MAX_LINE_BYTES = 1 << 20
#: Bytes of text per block: what is parsed at a time, and the index's granularity.
BLOCK_BYTES = 1 << 20
#: Records that decide the delimiter, the header and the kind of each column.
SNIFF_ROWS = 64

#: The UTF-8 byte-order mark (read as a mark, kept on output).
BOM = b"\xef\xbb\xbf"
_MISSING_WORDS = frozenset({"na", "n/a", "#n/a", "null", "none", "-", "?", "<na>", "missing"})
_NAN_WORDS = frozenset({"nan", "+nan", "-nan"})
_INF_WORDS = {"inf": 1.0, "infinity": 1.0}
_NUMBER = {
    ".": re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII),
    ",": re.compile(r"[+-]?(?:\d+,?\d*|,\d+)(?:[eE][+-]?\d+)?", re.ASCII),
}
#: A character that is not in a number (decimal point, decimal comma, either).
_NOT_NUMERIC = {
    ".": re.compile(r"[^0-9.eE+\-\n]"),
    ",": re.compile(r"[^0-9,eE+\-\n]"),
    None: re.compile(r"[^0-9.,eE+\-\n]"),
}
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
#: Blanks that ``str.split()`` splits on but a blank-separated file does not.
_OTHER_SPACE = re.compile("[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
#: A line terminator: CRLF, LF or a lone CR.
EOL = re.compile(r"\r\n|\n|\r")
_BLANKS = re.compile(r"[ \t]*")
_COMMENT_OR_BLANK = re.compile(r"[ \t]*(?:#[^\r\n]*)?(?=[\r\n]|\Z)")
#: In a tab-separated file a tab separates fields: a line of tabs is a row of empty cells.
_COMMENT_OR_BLANK_TSV = re.compile(r" *(?:#[^\r\n]*)?(?=[\r\n]|\Z)")
_QUOTED = re.compile(r'"([^"]*(?:""[^"]*)*)"(?!")')
_UNQUOTED = {
    ",": re.compile(r"[^,\r\n]*"),
    ";": re.compile(r"[^;\r\n]*"),
    "\t": re.compile(r"[^\t\r\n]*"),
    None: re.compile(r"[^ \t\r\n]+"),
}
_COMMENT_LINE = re.compile(r"(?m)^[ \t]*#")
_DECIMALS = [re.compile(rf"\.\d{{{k}}}") for k in range(1, 40)]
_EXP_DECIMALS = [re.compile(rf"\.\d{{{k}}}\d*[eE]") for k in range(1, 40)]
_DECIMAL_COMMA_NUMBER = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?", re.ASCII)
_MAX_FIXED_DECIMALS = 15


@dataclass(frozen=True)
class Dialect:
    r"""How fields and lines are written.

    Parameters
    ----------
    delimiter : str or None
        ``","``, ``";"``, ``"\t"``, or None for runs of blanks (spaces and tabs).
    decimal : str
        ``"."`` or ``","``.
    newline : str
        The first line's terminator: ``"\n"``, ``"\r\n"`` or ``"\r"``.
    bom : bool
        Whether the file starts with a UTF-8 byte-order mark.
    """

    delimiter: str | None = ","
    decimal: str = "."
    newline: str = "\n"
    bom: bool = False

    @property
    def separator(self) -> str:
        """The text between two fields written without a source line: the delimiter or a space."""
        return " " if self.delimiter is None else self.delimiter

    @property
    def name(self) -> str:
        """The delimiter in words, for messages."""
        return {",": "commas", ";": "semicolons", "\t": "tabs"}.get(self.delimiter or "", "blanks")


@dataclass(frozen=True)
class ColumnStyle:
    """How a numeric column writes a value it did not have.

    Parameters
    ----------
    notation : str
        ``"fixed"`` (``%.{decimals}f``), ``"exp"`` (``%.{decimals}e``) or ``"repr"``
        (shortest round-trip text).
    decimals : int
        Digits after the decimal mark (of the mantissa, for ``"exp"``).
    letter : str
        The exponent letter, ``"e"`` or ``"E"``.
    """

    notation: str = "repr"
    decimals: int = 0
    letter: str = "e"


# --------------------------------------------------------------------------------------------
# Errors


def read_error(
    path: PathLike, line: int, problem: str, *, column: int | None = None, name: str = ""
) -> SignalReadError:
    """Build ``path: line L[, column C ('name')]: problem``."""
    where = f"line {line}"
    if column is not None:
        where += f", column {column}"
        if name and name != str(column):
            where += f" ({name!r})"
    return SignalReadError(f"{path}: {where}: {problem}")


# --------------------------------------------------------------------------------------------
# Bytes to text, a block at a time


class ChunkReader:
    """Read whole lines from a byte offset, a block at a time, checking line lengths.

    Each chunk ends after a line terminator (or at the end of the file).  A record that runs
    past a chunk (a quoted field with line breaks) is handed back with :meth:`unread` and
    starts the next, longer, chunk.
    """

    def __init__(self, fh: IO[bytes], path: PathLike, offset: int, line: int, eol: bytes) -> None:
        self._fh, self._path, self._eol = fh, path, eol
        fh.seek(offset)
        self.offset = offset  # of the next chunk
        self.line = line  # of the next chunk
        self._carry = b""
        self._eof = False
        self._least = 0  # the next chunk must be longer than this (after an unread)

    def unread(self, tail: bytes) -> None:
        """Give back the end of the last chunk: it starts the next one."""
        if len(tail) > MAX_LINE_BYTES:
            raise read_error(
                self._path,
                self.line - tail.count(self._eol),
                f"a record (a quoted field) longer than {MAX_LINE_BYTES} bytes",
            )
        self._carry = tail + self._carry
        self.offset -= len(tail)
        self.line -= tail.count(self._eol)
        self._least = len(self._carry)

    def next(self) -> tuple[int, int, bytes, bool] | None:
        """Return ``(offset, first_line, data, final)``, or None at the end of the file."""
        buf = self._carry
        while True:
            cut = buf.rfind(self._eol) + 1
            if self._eof or (cut > self._least and len(buf) >= BLOCK_BYTES):
                break
            data = self._fh.read(BLOCK_BYTES)
            if not data:
                self._eof = True
                break
            buf += data
            if buf.rfind(self._eol) + 1 <= self._least and len(buf) > MAX_LINE_BYTES:
                raise self._too_long(self.line + buf.count(self._eol, 0, self._least))
        if not buf:
            return None
        if self._eof:
            cut = len(buf)
        chunk, self._carry = buf[:cut], buf[cut:]
        self._least = 0
        if len(self._carry) > MAX_LINE_BYTES:
            raise self._too_long(self.line + chunk.count(self._eol))
        self._check_lines(chunk)
        offset, line = self.offset, self.line
        self.offset += len(chunk)
        self.line += chunk.count(self._eol)
        return offset, line, chunk, self._eof and not self._carry

    def _too_long(self, line: int) -> SignalReadError:
        return read_error(
            self._path, line, f"longer than {MAX_LINE_BYTES} bytes (is this a text series?)"
        )

    def _check_lines(self, chunk: bytes) -> None:
        if len(chunk) <= MAX_LINE_BYTES:
            return
        ends = np.flatnonzero(np.frombuffer(chunk, np.uint8) == self._eol[0])
        gaps = np.diff(ends, prepend=-1)
        if gaps.size and int(gaps.max()) > MAX_LINE_BYTES + 1:
            raise self._too_long(self.line + int(np.argmax(gaps)))
        if len(chunk) - (int(ends[-1]) + 1 if ends.size else 0) > MAX_LINE_BYTES:
            raise self._too_long(self.line + int(ends.size))


def decode(data: bytes, path: PathLike, line: int, eol: bytes) -> str:
    """Decode a chunk as UTF-8 text: no NUL, no control character but tab, LF and CR."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(eol, 0, exc.start) + 1
        where = line + data.count(eol, 0, exc.start)
        byte = data[exc.start : exc.start + 1].hex()
        raise read_error(
            path,
            where,
            f"byte {exc.start - start + 1} (0x{byte}) is not UTF-8 text (binary data?)",
        ) from None
    if len(data.translate(None, _CONTROL_BYTES)) == len(data):  # 5x faster than a search
        return text
    bad = _CONTROL.search(text)
    if bad is not None:
        sep = eol.decode()
        start = text.rfind(sep, 0, bad.start()) + 1
        where = line + text.count(sep, 0, bad.start())
        what = (
            "a NUL byte" if bad.group() == "\0" else f"control character U+{ord(bad.group()):04X}"
        )
        raise read_error(
            path, where, f"character {bad.start() - start + 1} is {what}: binary data, not text"
        )
    return text


# --------------------------------------------------------------------------------------------
# Text to records: a fast path for plain blocks, a tokenizer for the rest


@dataclass
class Chunk:
    """The records of a block of text.

    ``cells`` holds every field's value (quotes removed), row after row; ``raw`` every field
    as written (the same list when no field is quoted).  ``extras`` are the comment and blank
    lines, each with the index of the record it precedes.  ``lines`` holds each record's
    text (fast path) and ``seps`` the blanks around each record's fields (blank-separated
    files, tokenizer), both for the writer.
    """

    cells: list[str]
    raw: list[str]
    rows: int
    ncols: int
    first_line: int
    terms: list[str] | str = "\n"
    last_term: str = "\n"
    extras: list[tuple[int, str, str]] = field(default_factory=list)
    lines: list[str] | None = None
    seps: list[list[str]] | None = None
    record_lines: list[int] | None = None
    widths: list[int] | None = None

    def line_of(self, row: int) -> int:
        """Return the line number of record ``row``."""
        if self.record_lines is not None:
            return self.record_lines[row]
        return self.first_line + row

    def term(self, row: int) -> str:
        """Record ``row``'s line terminator (``""`` for a last line without one)."""
        if row == self.rows - 1:
            return self.last_term
        return self.terms if isinstance(self.terms, str) else self.terms[row]

    def column(self, j: int) -> list[str]:
        """Every value of column ``j``."""
        return self.cells[j :: self.ncols]


def _fast_split(
    text: str, delimiter: str | None, ncols: int, final: bool, first_line: int
) -> Chunk | None:
    """Split a block with no quote, comment, stray CR or irregular line: None if it has one."""
    if '"' in text or ("#" in text and _COMMENT_LINE.search(text)):
        return None
    crlf = "\r" in text
    if crlf:
        if text.count("\r\n") != text.count("\r") or text.count("\n") != text.count("\r"):
            return None
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    ended = lines[-1] == ""
    if ended:
        lines.pop()
    elif not final:
        return None
    if not lines:
        return None
    cells = _fast_cells(lines, delimiter, ncols)
    if cells is None:
        return None
    newline = "\r\n" if crlf else "\n"
    return Chunk(
        cells, cells, len(lines), ncols, first_line, newline, newline if ended else "", lines=lines
    )


def _fast_cells(lines: list[str], delimiter: str | None, ncols: int) -> list[str] | None:
    """Every field of ``lines``, row after row, if each line has ``ncols`` of them."""
    if ncols == 1:
        if delimiter is None:
            return None if any(" " in line or "\t" in line for line in lines) else lines
        return None if any(delimiter in line for line in lines) else lines
    if delimiter is None:
        if _OTHER_SPACE.search("".join(lines)):
            return None
        if set(map(len, map(str.split, lines))) != {ncols}:
            return None
        return " ".join(lines).split()
    if set(map(str.count, lines, repeat(delimiter))) != {ncols - 1}:
        return None
    return delimiter.join(lines).split(delimiter)


def _tokenize(
    text: str,
    delimiter: str | None,
    *,
    ncols: int | None,
    final: bool,
    first_line: int,
    path: PathLike,
    limit: int | None = None,
) -> tuple[Chunk, int]:
    """Split text into records as a strict CSV reader does; return them and the characters used.

    Fewer characters than ``len(text)`` are used when the last record runs past the text (a
    quoted field with a line break) and ``final`` is false, or when ``limit`` records are read.
    """
    state = _Tokens(text, delimiter, ncols, final, first_line, path)
    while state.pos < len(text) and (limit is None or state.rows < limit):
        if not state.extra_line() and not state.record():
            break
    chunk = Chunk(
        state.cells,
        state.raws,
        state.rows,
        ncols or 0,
        first_line,
        state.terms,
        state.terms[-1] if state.terms else "",
        state.extras,
        None,
        state.seps if delimiter is None else None,
        state.record_lines,
        state.widths,
    )
    return chunk, state.pos


class _Tokens:
    """The tokenizer's state: a position in the text and the records read so far."""

    def __init__(
        self,
        text: str,
        delimiter: str | None,
        ncols: int | None,
        final: bool,
        line: int,
        path: PathLike,
    ) -> None:
        self.text, self.delimiter, self.ncols = text, delimiter, ncols
        self.final, self.line, self.path = final, line, path
        # lines are counted as the chunk reader counts them: by the file's own line end (a
        # lone CR in a file of LFs ends a record, as in Python's csv module, not a line)
        self.eol = "\r" if "\n" not in text and "\r" in text else "\n"
        self.pos = 0
        self.rows = 0
        self.cells: list[str] = []
        self.raws: list[str] = []
        self.terms: list[str] = []
        self.extras: list[tuple[int, str, str]] = []
        self.seps: list[list[str]] = []
        self.record_lines: list[int] = []
        self.widths: list[int] = []

    def extra_line(self, blank_is_cell: bool | None = None) -> bool:
        """Take a comment or blank line at the position, if there is one.

        A blank line is an empty cell, not an extra line, in a file of one column (unless
        ``blank_is_cell`` says otherwise).
        """
        if self.pos >= len(self.text):
            return False
        blank = _COMMENT_OR_BLANK_TSV if self.delimiter == "\t" else _COMMENT_OR_BLANK
        m = blank.match(self.text, self.pos)
        if m is None:
            return False
        if blank_is_cell is None:
            blank_is_cell = self.ncols == 1
        if "#" not in m.group() and blank_is_cell:
            return False
        end = self._eol(m.end())
        if end is None:
            return False
        self.extras.append((self.rows, m.group(), end[0]))
        self.pos = end[1]
        self.line += self.eol in end[0]
        return True

    def _eol(self, pos: int) -> tuple[str, int] | None:
        """Return the terminator at ``pos`` and the position after it (None: the text ends)."""
        m = EOL.match(self.text, pos)
        if m is not None:
            return m.group(), m.end()
        if pos >= len(self.text) and self.final:
            return "", pos
        if pos >= len(self.text):
            return None
        raise AssertionError("not at a line end")  # pragma: no cover

    def record(self) -> bool:
        """Take one record; False when it runs past the text (and the text is not final)."""
        start, line = self.pos, self.line
        fields: list[tuple[str, str]] = []
        seps: list[str] = []
        pos = start
        if self.delimiter is None:
            lead = _BLANKS.match(self.text, pos)
            assert lead is not None
            seps.append(lead.group())
            pos = lead.end()
        while True:
            got = self._field(pos)
            if got is None:
                self.pos, self.line = start, line
                return False
            value, raw, pos = got
            fields.append((value, raw))
            pos, more = self._after_field(pos, seps)
            if not more:
                break
        end = self._eol(pos)
        if end is None:
            self.pos, self.line = start, line
            return False
        if end[1] - start > MAX_LINE_BYTES:
            raise read_error(
                self.path, line, f"a record (a quoted field) longer than {MAX_LINE_BYTES} bytes"
            )
        self._keep(fields, seps, end[0], line)
        self.pos = end[1]
        self.line += self.eol in end[0]
        return True

    def _field(self, pos: int) -> tuple[str, str, int] | None:
        text = self.text
        if pos < len(text) and text[pos] == '"':
            m = _QUOTED.match(text, pos)
            if m is None:
                if not self.final:
                    return None
                raise read_error(self.path, self.line, "a quote opened here is never closed")
            raw = m.group()
            self.line += raw.count(self.eol)
            after = m.end()
            if after < len(text) and not self._ends_field(text[after]):
                raise read_error(
                    self.path, self.line, f"text after the closing quote of {raw[:40]!r}"
                )
            return m.group(1).replace('""', '"'), raw, after
        m = _UNQUOTED[self.delimiter].match(text, pos)
        assert m is not None or self.delimiter is None
        if m is None:
            return "", "", pos
        return m.group(), m.group(), m.end()

    def _ends_field(self, char: str) -> bool:
        if self.delimiter is None:
            return char in " \t\r\n"
        return char in (self.delimiter, "\r", "\n")

    def _after_field(self, pos: int, seps: list[str]) -> tuple[int, bool]:
        """Step over the separator after a field; say whether another field follows."""
        text = self.text
        if self.delimiter is not None:
            if pos < len(text) and text[pos] == self.delimiter:
                return pos + 1, True
            return pos, False
        m = _BLANKS.match(text, pos)
        assert m is not None
        seps.append(m.group())
        if m.end() >= len(text) or text[m.end()] in "\r\n":
            return m.end(), False
        return m.end(), True

    def _keep(self, fields: list[tuple[str, str]], seps: list[str], term: str, line: int) -> None:
        self.cells.extend(v for v, _ in fields)
        self.raws.extend(r for _, r in fields)
        self.widths.append(len(fields))
        self.terms.append(term)
        self.record_lines.append(line)
        if self.delimiter is None:
            self.seps.append(seps)
        self.rows += 1


def parse(
    text: str,
    delimiter: str | None,
    ncols: int,
    *,
    final: bool,
    line: int,
    path: PathLike,
    ref_line: int,
) -> tuple[Chunk, int]:
    """Split a block of text into records of ``ncols`` fields; say how much text was used."""
    fast = _fast_split(text, delimiter, ncols, final, line)
    if fast is not None:
        return fast, len(text)
    chunk, used = _tokenize(text, delimiter, ncols=ncols, final=final, first_line=line, path=path)
    for row, width in enumerate(chunk.widths or ()):
        if width != ncols:
            raise _ragged(path, chunk.line_of(row), width, ncols, delimiter, ref_line)
    return chunk, used


def _ragged(
    path: PathLike, line: int, width: int, ncols: int, delimiter: str | None, ref_line: int
) -> SignalReadError:
    """Build the error for a record of another number of fields than the first."""
    plural = "s" if width != 1 else ""
    problem = (
        f"{width} field{plural} separated by {Dialect(delimiter).name}, but line {ref_line} "
        f"has {ncols}"
    )
    if delimiter == "," and width > ncols:
        problem += (
            " (a decimal comma in a comma-separated file? write decimal points, or separate "
            "the fields with ';')"
        )
    return read_error(path, line, problem)


# --------------------------------------------------------------------------------------------
# Cells to numbers


class CellError(Exception):
    """A cell that is not a number: its index in the column, and why."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(problem)
        self.index = index
        self.problem = problem


@dataclass
class ColumnStats:
    """What a numeric column's cells say about how it writes numbers."""

    fixed: int = -1  # most decimals of a fixed-point cell (-1: none seen)
    exp: int = -1  # most mantissa decimals of a cell with an exponent (-1: none seen)
    letter: str = ""

    def style(self) -> ColumnStyle:
        """Return the style a changed value of the column is written in."""
        if self.exp >= 0 and self.fixed >= 0:
            return ColumnStyle("repr")
        if self.exp >= 0:
            return ColumnStyle("exp", self.exp, self.letter or "e")
        if 0 <= self.fixed <= _MAX_FIXED_DECIMALS:
            return ColumnStyle("fixed", self.fixed)
        return ColumnStyle("repr")

    def scan(self, text: str, count: int) -> None:
        """Update from ``count`` numbers joined by newlines, with decimal points."""
        exps = text.count("e") + text.count("E")
        if exps == 0:
            self.fixed = _most(text, max(self.fixed, 0), _DECIMALS)
        elif exps == count:
            self.exp = _most(text, max(self.exp, 0), _EXP_DECIMALS)
            self.letter = self.letter or ("E" if "E" in text else "e")
        else:
            self.fixed, self.exp = max(self.fixed, 0), max(self.exp, 0)

    def token(self, token: str) -> None:
        """Update from one number written with a decimal point."""
        mantissa, _, power = token.replace("E", "e").partition("e")
        point = mantissa.find(".")
        decimals = len(mantissa) - point - 1 if point >= 0 else 0
        if power:
            self.exp = max(self.exp, decimals)
            self.letter = self.letter or ("E" if "E" in token else "e")
        else:
            self.fixed = max(self.fixed, decimals)


def _most(text: str, start: int, patterns: list[re.Pattern[str]]) -> int:
    """Return the most decimals in ``text``, knowing that some number has ``start``."""
    k = start
    while k < len(patterns) and patterns[k].search(text):
        k += 1
    return k


def numbers(
    cells: list[str], mark: str | None, comma_delimited: bool, stats: ColumnStats | None
) -> tuple[np.ndarray, str | None]:
    """Read a column's cells as float64; return them and the decimal mark (None: not yet seen).

    Raises
    ------
    CellError
        A cell that is not a number, NaN, an infinity or empty.
    """
    text = "\n".join(cells)
    if _NOT_NUMERIC[mark].search(text) is None:
        got = _fast_numbers(text, cells, mark, stats)
        if got is not None:
            return got
    values = np.empty(len(cells))
    for i, cell in enumerate(cells):
        try:
            values[i], mark = _value(cell.strip(" \t"), mark, comma_delimited, stats)
        except ValueError as exc:
            raise CellError(i, str(exc)) from None
    return values, mark


def _fast_numbers(
    text: str, cells: list[str], mark: str | None, stats: ColumnStats | None
) -> tuple[np.ndarray, str | None] | None:
    """Read cells that hold only digits, signs, exponents and decimal marks (None: look closer)."""
    if mark is None:
        dot, comma = "." in text, "," in text
        if dot and comma:
            return None
        mark = "," if comma else "." if dot else None
    tokens = cells
    if mark == ",":
        text = text.replace(",", ".")
        tokens = text.split("\n")
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        return None
    if values.size and not np.isfinite(values).all():
        return None  # a literal beyond float64: said by the slow path
    if stats is not None:
        stats.scan(text, len(cells))
    return values.reshape(len(cells)), mark


def _value(
    token: str, mark: str | None, comma_delimited: bool, stats: ColumnStats | None
) -> tuple[float, str | None]:
    """Read one (stripped) cell; return its value and the decimal mark."""
    if not token:
        return math.nan, mark
    low = token.lower()
    if low in _NAN_WORDS:
        return math.nan, mark
    sign, bare = (low[0], low[1:]) if low[0] in "+-" else ("", low)
    if bare in _INF_WORDS:
        return (-math.inf if sign == "-" else math.inf), mark
    if _NUMBER["."].fullmatch(token):
        if "." in token and mark == ",":
            raise ValueError(
                f"{token!r} has a decimal point, but this file writes decimal commas (is the "
                f"point a thousands separator?)"
            )
        mark = "." if "." in token else mark
        point = token
    elif "," in token and _NUMBER[","].fullmatch(token):
        point = token.replace(",", ".")
        if comma_delimited:
            raise ValueError(
                f"{token!r}: a decimal comma in a comma-separated file is ambiguous; write "
                f"{point}, or separate the fields with ';'"
            )
        if mark == ".":
            raise ValueError(f"{token!r} has a decimal comma, but this file writes decimal points")
        mark = ","
    else:
        raise ValueError(f"{token!r} is not a number")
    value = float(point)
    if math.isinf(value):
        raise ValueError(f"{token!r} is beyond the range of float64")
    if stats is not None:
        stats.token(point)
    return value, mark


def is_number(token: str) -> bool:
    """Whether a stripped cell reads as a number (with either decimal mark), NaN or infinity."""
    try:
        _value(token, None, False, None)
    except ValueError:
        return False
    return True


def meaningful(token: str) -> bool:
    """Whether a stripped cell says something about its column: not empty, not a missing word."""
    return bool(token) and token.lower() not in _MISSING_WORDS


# --------------------------------------------------------------------------------------------
# The head: BOM, line ends, delimiter, header, names, the kind of each column

_DATA_LINE = re.compile(r"(?:\A|[\r\n])[ \t]*[^#\s]")
_CANDIDATES: tuple[str | None, ...] = ("\t", ";", ",", None)


@dataclass
class Head:
    """What the first records of a file say."""

    bom: bool
    eol: bytes
    newline: str
    delimiter: str | None
    ncols: int
    header: bool
    names: tuple[str, ...]
    header_span: tuple[int, int] | None
    header_line: int | None
    data_start: int
    data_line: int
    sample: list[list[str]]  # the values of the first data records
    quoted: tuple[bool, ...]


def _line_ends(data: bytes) -> tuple[bytes, str]:
    """Return the byte that ends lines and the first line's terminator."""
    lf, cr = data.find(b"\n"), data.find(b"\r")
    if cr >= 0 and (lf < 0 or cr < lf):
        if data[cr + 1 : cr + 2] == b"\n":
            return b"\n", "\r\n"
        if cr + 1 < len(data) or lf < 0:
            return b"\r", "\r"
    return b"\n", "\n"


def _first_text(fh: IO[bytes], path: PathLike) -> tuple[bool, bytes, str, int, int, str, bool]:
    """Find the first block of text with a record in it (skipping a block of comments)."""
    fh.seek(0)
    start = fh.read(1 << 16)
    if not start:
        raise SignalReadError(f"{path}: is empty")
    bom = start.startswith(BOM)
    eol, newline = _line_ends(start[len(BOM) if bom else 0 :])
    reader = ChunkReader(fh, path, len(BOM) if bom else 0, 1, eol)
    while True:
        got = reader.next()
        if got is None:
            raise SignalReadError(f"{path}: holds no data, only comments and blank lines")
        offset, line, data, final = got
        text = decode(data, path, line, eol)
        if _DATA_LINE.search(text):
            return bom, eol, newline, offset, line, text, final


def _split_head(text: str, line: int, final: bool, path: PathLike) -> dict[str | None, Chunk]:
    """Split the first records with every candidate delimiter (a candidate that fails: none)."""
    found: dict[str | None, Chunk] = {}
    for cand in _CANDIDATES:
        try:
            found[cand], _ = _tokenize(
                text, cand, ncols=None, final=final, first_line=line, path=path, limit=SNIFF_ROWS
            )
        except SignalReadError:
            continue
    return found


def _fit(chunk: Chunk | None) -> int:
    """Return the number of fields every record has, if at least two; else 0."""
    widths = chunk.widths if chunk is not None else None
    if not widths or len(set(widths)) != 1 or widths[0] < 2:
        return 0
    return widths[0]


def _delimiter(text: str, line: int, final: bool, path: PathLike) -> tuple[str | None, int]:
    """Choose the delimiter and the number of columns from the first records.

    Returns ``("", 1)`` for a file of one column (the extension then names the delimiter).
    """
    found = _split_head(text, line, final, path)
    blanks = found.get(None)
    for cand in _CANDIDATES[:3]:
        width = _fit(found.get(cand))
        if width:
            if cand == "," and blanks is not None and _fit(blanks):
                _refuse_blank_decimal_commas(blanks, path)
            return cand, width
    if _fit(blanks):
        return None, _fit(blanks)
    for other in _CANDIDATES:  # some delimiter splits the first record: the file is ragged
        chunk = found.get(other)
        if chunk is not None and chunk.widths and chunk.widths[0] >= 2:
            widths = chunk.widths
            row = next(i for i, w in enumerate(widths) if w != widths[0])
            line_at = chunk.line_of
            raise _ragged(path, line_at(row), widths[row], widths[0], other, line_at(0))
    return "", 1


def _refuse_blank_decimal_commas(blanks: Chunk, path: PathLike) -> None:
    """Refuse lines that split on commas and on blanks into numbers with decimal commas.

    ``1,5 2,25`` is three fields separated by commas, or two numbers with decimal commas.
    """
    for i, cell in enumerate(blanks.cells):
        if _DECIMAL_COMMA_NUMBER.fullmatch(cell):
            row = i // max(blanks.ncols or (blanks.widths or [1])[0], 1)
            raise read_error(
                path,
                blanks.line_of(min(row, blanks.rows - 1)),
                f"reads as fields separated by commas, or by blanks with decimal commas "
                f"({cell!r}); separate the fields with ';' or tabs, or write decimal points",
            )


def _one_column_delimiter(path: PathLike) -> str | None:
    return {".csv": ",", ".tsv": "\t"}.get(Path(path).suffix.lower())


def sniff(fh: IO[bytes], path: PathLike, header: bool | None) -> Head:
    """Read the head of a file: line ends, BOM, delimiter, header, names, first records."""
    bom, eol, newline, offset, line, text, final = _first_text(fh, path)
    delimiter, ncols = _delimiter(text, line, final, path)
    if delimiter == "":
        delimiter = _one_column_delimiter(path)
    state = _Tokens(text, delimiter, ncols, final, line, path)
    while state.extra_line(blank_is_cell=False):
        pass
    first_pos, first_line = state.pos, state.line
    records, raws = _first_records(state, first_line)
    if header is None:
        header = _looks_like_header(records)
    if delimiter == "," and not header and ncols == 2:
        _refuse_integer_pairs(records, state.record_lines, path)

    def at(pos: int) -> int:
        return offset + len(text[:pos].encode("utf-8"))

    span: tuple[int, int] | None = None
    data_pos, data_line = first_pos, first_line
    names = tuple(str(j + 1) for j in range(ncols))
    if header:
        after = _Tokens(text, delimiter, ncols, final, first_line, path)
        after.pos = first_pos
        after.record()
        span = (at(first_pos), at(after.pos))
        while after.extra_line(blank_is_cell=False):
            pass
        data_pos, data_line = after.pos, after.line
        names = tuple(v.strip(" \t") for v in records[0])
    first_raw = raws[1] if header and len(raws) > 1 else raws[0]
    return Head(
        bom=bom,
        eol=eol,
        newline=newline,
        delimiter=delimiter,
        ncols=ncols,
        header=header,
        names=names,
        header_span=span,
        header_line=first_line if header else None,
        data_start=at(data_pos),
        data_line=data_line,
        sample=records[1:] if header else records,
        quoted=tuple(r.startswith('"') for r in first_raw),
    )


def _first_records(state: _Tokens, first_line: int) -> tuple[list[list[str]], list[list[str]]]:
    """Read the first :data:`SNIFF_ROWS` records: their values and their raw fields."""
    ncols = state.ncols or 1
    while state.rows <= SNIFF_ROWS and state.pos < len(state.text):
        if not state.extra_line() and not state.record():
            break
    if not state.rows:
        raise read_error(state.path, first_line, f"a record longer than {MAX_LINE_BYTES} bytes")
    for row, width in enumerate(state.widths):
        if width != ncols:
            line = state.record_lines[row]
            raise _ragged(state.path, line, width, ncols, state.delimiter, first_line)
    records = [state.cells[i * ncols : (i + 1) * ncols] for i in range(state.rows)]
    raws = [state.raws[i * ncols : (i + 1) * ncols] for i in range(state.rows)]
    return records, raws


def _looks_like_header(records: list[list[str]]) -> bool:
    """Whether the first record names columns: text above a number (or text alone)."""
    first = [v.strip(" \t") for v in records[0]]
    if len(records) == 1:  # a header alone, or one row
        return not any(is_number(v) for v in first if v)
    for j, cell in enumerate(first):
        if not cell or is_number(cell):
            continue
        below = next((r[j].strip(" \t") for r in records[1:] if meaningful(r[j].strip(" \t"))), "")
        if below and is_number(below):
            return True
    return False


def _refuse_integer_pairs(records: list[list[str]], lines: list[int], path: PathLike) -> None:
    """Refuse a headerless comma-separated file of two integer columns (decimal commas?)."""
    for a, b in records:
        if not (re.fullmatch(r"[+-]?\d+", a.strip(" \t")) and re.fullmatch(r"\d+", b.strip())):
            return
    raise read_error(
        path,
        lines[0],
        f"{','.join(records[0])!r} reads as two integers separated by a comma, or as one "
        f"number with a decimal comma; add a header line naming the two columns, or separate "
        f"the fields with ';'",
    )


def column_kinds(head: Head) -> list[str | None]:
    """Per column: ``"num"`` or ``"text"`` by its first meaningful sampled value; None if none."""
    kinds: list[str | None] = []
    for j in range(head.ncols):
        cell = next((r[j].strip(" \t") for r in head.sample if meaningful(r[j].strip(" \t"))), None)
        kinds.append(None if cell is None else "num" if is_number(cell) else "text")
    return kinds


def select_columns(
    names: tuple[str, ...], chosen: Sequence[str] | None, path: PathLike, what: str
) -> list[int]:
    """Column indices of ``chosen`` names (header names, or 1-based column numbers)."""
    if chosen is None:
        return []
    picked: list[int] = []
    param = Param(what)
    for name in chosen:
        if names.count(name) > 1:
            raise SignalReadError(
                f"{path}: {names.count(name)} columns are named {name!r} ({param}); name it "
                f"by its number",
                params=[param],
            )
        if name in names:
            picked.append(names.index(name))
        elif name.isascii() and name.isdigit() and 1 <= int(name) <= len(names):
            picked.append(int(name) - 1)
        else:
            listed = ", ".join(repr(n) for n in names)
            raise SignalReadError(
                f"{path}: {param} names no column {name!r}; the column names are {listed} "
                f"(or a column's number, 1 to {len(names)})",
                params=[param],
            )
    return sorted(set(picked))


# --------------------------------------------------------------------------------------------
# Writing: the source read in step, values formatted in each column's style

_TOKEN = re.compile(r"[^ \t]+")


def format_values(values: np.ndarray, style: ColumnStyle, decimal: str, full: bool) -> list[str]:
    """Format values (NaN and infinities as ``nan``/``inf``): the column's style, or in full."""
    if values.dtype.kind in "iub":
        texts = list(map(str, values.tolist()))
    elif full or style.notation == "repr":
        if values.dtype == np.float64:
            texts = list(map(repr, values.tolist()))
        else:  # the shortest text that reads back as the same float32 (float16) value
            texts = list(map(str, values))
    else:
        spec = f"%.{style.decimals}{'f' if style.notation == 'fixed' else style.letter}"
        texts = list(map(spec.__mod__, values.tolist()))
    if values.dtype.kind == "f":
        for i in np.flatnonzero(np.signbit(values) & (np.abs(values) < 1)).tolist():
            if float(texts[i]) == 0:  # never "-0" or "-0.00"
                texts[i] = texts[i][1:]
    if decimal == "," and texts:
        texts = "\n".join(texts).replace(".", ",").split("\n")
    return texts


def dress(text: str, raw: str) -> str:
    """Write ``text`` as ``raw`` was written: in quotes, or with its blanks around it."""
    if raw.startswith('"'):
        return f'"{text}"'
    core = raw.strip(" \t")
    if core == raw:
        return text
    lead = raw[: len(raw) - len(raw.lstrip(" \t"))]
    return lead + text + raw[len(lead) + len(core) :]


def record_seps(chunk: Chunk, local: int) -> list[str]:
    """Return the blanks before, between and after the fields of a blank-separated record."""
    if chunk.seps is not None:
        return chunk.seps[local]
    assert chunk.lines is not None
    line = chunk.lines[local]
    seps, end = [], 0
    for m in _TOKEN.finditer(line):
        seps.append(line[end : m.start()])
        end = m.end()
    seps.append(line[end:])
    return seps
