"""Numbers and rows of numbers, as written in inline specs and kernel text files.

A number is an optional sign, ASCII digits with an optional decimal point (``1``, ``1.``, ``.5``,
``1.5``) and an optional exponent (``1e-3``).  Numbers in a row are split by spaces, tabs or
single commas.  NaN and infinities are refused: a kernel with one would poison every output
sample it touches.  Only ASCII blanks (space, tab) and commas separate numbers: a form feed,
a Unicode space or a Unicode digit (``٣``) is not a number, never silently read as one.

A row that separates some numbers by spaces alone and joins others by a bare comma between
digits (``0,25 0,5 0,25``) could be read two ways: six numbers, or three written with
decimal commas.  Such a row is an error that suggests the decimal point, never a guess;
``1 2 1``, ``1,2,1`` and ``1, 2, 1`` are read as three numbers.
"""

from __future__ import annotations

import math
import re

__all__ = ["NumberError", "to_float", "row_numbers"]

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NON_FINITE = {"nan": "NaN", "inf": "Inf", "infinity": "Inf"}
#: What splits numbers: ASCII blanks and commas only (not form feeds, not Unicode spaces).
_SEPARATORS = " \t\r\n,"
_TOKEN = re.compile(r",|[^ \t\r\n,]+")


class NumberError(ValueError):
    """A token that is not an allowed number; ``column`` is 1-based within its text."""

    def __init__(self, reason: str, column: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column


def to_float(token: str) -> float:
    """Convert one token to a finite float.

    Raises
    ------
    NumberError
        With a reason: not a number, NaN, Inf, or overflowing to infinity.
    """
    if _NUMBER.fullmatch(token) is None:
        bare = token.lstrip("+-").lower()
        if bare in _NON_FINITE:
            raise NumberError(f"{token!r}: {_NON_FINITE[bare]} is not allowed in a kernel")
        raise NumberError(f"{token!r} is not a number")
    value = float(token)
    if not math.isfinite(value):
        raise NumberError(f"{token!r} overflows to infinity")
    return value


def row_numbers(text: str) -> list[float]:
    """Split one row into numbers (by spaces, tabs or single commas).

    Raises
    ------
    NumberError
        With the 1-based column in ``text`` of the offending token.
    """
    values: list[float] = []
    previous = ""
    column = 0
    last_end = 0
    spaced = False  # two numbers separated by white space alone
    bare: int | None = None  # index of the first comma with a digit right before and after
    for match in _TOKEN.finditer(text):
        token = match.group()
        column = match.start() + 1
        if token == ",":
            if previous != "number":
                raise NumberError("unexpected ','", column)
            after, before = text[match.end() : match.end() + 1], text[last_end - 1 : last_end]
            if match.start() == last_end and after.isascii() and after.isdigit():
                if before.isascii() and before.isdigit() and bare is None:
                    bare = match.start()
            previous = ","
            continue
        try:
            values.append(to_float(token))
        except NumberError as exc:
            raise NumberError(exc.reason, column) from None
        if previous == "number":
            spaced = True
        previous = "number"
        last_end = match.end()
    if previous == ",":
        raise NumberError("trailing ','", column)
    if spaced and bare is not None:
        raise _decimal_comma(text, bare)
    return values


def _decimal_comma(text: str, comma: int) -> NumberError:
    """Build the error for a row that mixes space separators with a bare comma in a number."""
    start = comma
    while start > 0 and text[start - 1] not in _SEPARATORS:
        start -= 1
    end = comma + 1
    while end < len(text) and text[end] not in _SEPARATORS:
        end += 1
    written = text[start:end]
    point = written.replace(",", ".", 1)
    return NumberError(
        f"{written!r} could be two numbers or one with a decimal comma: this row separates "
        f"other numbers by spaces alone; write a decimal point ({point}), or separate every "
        f"number the same way",
        start + 1,
    )
