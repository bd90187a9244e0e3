"""Numbers and rows of numbers, as written in inline specs and kernel text files.

A number is an optional sign, digits with an optional decimal point (``1``, ``1.``, ``.5``,
``1.5``) and an optional exponent (``1e-3``).  Numbers in a row are split by spaces, tabs or
single commas.  NaN and infinities are refused: a kernel with one would poison every output
sample it touches.
"""

from __future__ import annotations

import math
import re

__all__ = ["NumberError", "to_float", "row_numbers"]

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NON_FINITE = {"nan": "NaN", "inf": "Inf", "infinity": "Inf"}
_TOKEN = re.compile(r",|[^\s,]+")


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
    for match in _TOKEN.finditer(text):
        token = match.group()
        column = match.start() + 1
        if token == ",":
            if previous != "number":
                raise NumberError("unexpected ','", column)
            previous = ","
            continue
        try:
            values.append(to_float(token))
        except NumberError as exc:
            raise NumberError(exc.reason, column) from None
        previous = "number"
    if previous == ",":
        raise NumberError("trailing ','", column)
    return values
