"""The ``-k`` grammar: named kernels, inline matrices and kernel files.

A spec (surrounding spaces ignored) is read as the first of these that applies:

1. ``@path``: a kernel file, always (an extension other than those below is read as text).
2. A path ending in a kernel-file extension (``.txt .csv .npy .json .wav .flac .ogg .aiff
   .aif``, any case) that exists: a kernel file.
3. Text starting with a letter (other than ``nan``/``inf``): a named kernel, ``name`` or
   ``name:args`` -- unless it ends in a kernel-file extension and does not start with
   ``name:``, in which case it is a kernel file that does not exist (an error naming the path).
4. Anything else: an inline matrix.

So ``box:5``, ``gaussian`` and ``1 2 1`` (no extension) are never taken for files, even when a
file of that name exists; write ``@box`` to read such a file.

Named: ``name:args``, args split by commas, each ``key=value`` or positional in the order of
the kernel's parameters (``gaussian:2`` is ``gaussian:sigma=2``); positional values come first.
Names and keys are case-insensitive.

Inline: numbers split by spaces or single commas, rows by ``;``, planes by ``|``; optionally in
brackets followed by ``/N`` or ``*F``.  No ``;`` or ``|`` gives 1-D, ``;`` 2-D, ``|`` 3-D
(planes, rows, columns).  Errors give the 1-based column in the spec.

ImageMagick's kernel strings are inline matrices too (see :func:`parse_imagemagick`):
``WxH[+X+Y]:v,v,...`` (``W`` alone is ``WxW``), read row by row, ``nan`` or ``-`` for a tap
that is not part of the neighbourhood (weight 0), ``+X+Y`` the origin (column, row).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from convcli.errors import KernelSpecError
from convcli.kernels._files import has_kernel_file_extension
from convcli.kernels._numbers import NumberError, row_numbers, to_float
from convcli.kernels._origin import centre_origin
from convcli.kernels._registry import KernelDef, get_kernel

__all__ = [
    "ParsedSpec",
    "parse_spec",
    "parse_inline",
    "parse_imagemagick",
    "kernel_label",
    "format_inline",
]

SpecKind = Literal["named", "inline", "file"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_NAMED_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\s*:")
_LEADING_WORD = re.compile(r"[A-Za-z]+")
_NON_FINITE_WORDS = {"nan", "inf", "infinity"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: ImageMagick's user kernel: geometry ``W[xH][+X+Y]`` (and its flags, refused) before ``:``.
_IM_HEAD = re.compile(r"\s*\d+\s*(?:[xX]\s*\d*\s*)?(?:[+-]\s*\d+\s*[+-]\s*\d+\s*)?[@<>]?\s*:")
_IM_GEOMETRY = re.compile(
    r"\s*(?P<w>\d+)\s*(?:[xX]\s*(?P<h>\d*)\s*)?"
    r"(?:(?P<x>[+-]\s*\d+)\s*(?P<y>[+-]\s*\d+)\s*)?(?P<flag>[@<>])?\s*"
)
_IM_TOKEN = re.compile(r"[^\s,]+")


@dataclass(frozen=True)
class ParsedSpec:
    """A ``-k`` spec, parsed but not built.

    Attributes
    ----------
    kind : {"named", "inline", "file"}
        What the spec is.
    text : str
        The spec as given.
    name : str or None
        The kernel's name (``kind == "named"``), lower case.
    params : dict
        The parameters written in the spec (positional ones under their names), converted and
        checked; defaults are not filled in.
    path : str or None
        The file's path (``kind == "file"``), with ``@`` removed and ``~`` expanded.
    array : numpy.ndarray or None
        The matrix (``kind == "inline"``), float64, factor applied.
    """

    kind: SpecKind
    text: str
    name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    array: NDArray[np.float64] | None = field(default=None, compare=False, repr=False)

    @property
    def kernel_def(self) -> KernelDef | None:
        """The registry entry of a named spec, else None."""
        return get_kernel(self.name) if self.name is not None else None


def _classify(text: str) -> SpecKind:
    if text.startswith("@"):
        return "file"
    if has_kernel_file_extension(text):
        if os.path.exists(os.path.expanduser(text)) or not _NAMED_PREFIX.match(text):
            return "file"
    word = _LEADING_WORD.match(text)
    if word is not None and word.group().lower() not in _NON_FINITE_WORDS:
        return "named"
    return "inline"


def parse_spec(spec: str) -> ParsedSpec:
    """Parse a ``-k`` spec without building the kernel or reading any file.

    Named specs are checked against the registry (name, parameters, values: everything that
    does not depend on the signal); inline matrices are parsed into an array.  See the module
    docstring for the grammar and how a spec's kind is decided.

    Parameters
    ----------
    spec : str
        ``"gaussian:sigma=2"``, ``"[1 2 1]/4"``, ``"@kernel.txt"``, ...

    Returns
    -------
    ParsedSpec

    Raises
    ------
    KernelSpecError
        For an unknown name or parameter, a bad value, or a malformed matrix; the message
        says where.

    Examples
    --------
    >>> parse_spec("gaussian:2")
    ParsedSpec(kind='named', text='gaussian:2', name='gaussian', params={'sigma': 2.0}, path=None)
    >>> parse_spec("[1 2 1]/4").array.tolist()
    [0.25, 0.5, 0.25]
    >>> parse_spec("@ir.wav").path
    'ir.wav'
    """
    if not isinstance(spec, str):
        raise KernelSpecError(f"a kernel spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise KernelSpecError("empty kernel spec")
    kind = _classify(text)
    if kind == "file":
        path = text[1:].strip() if text.startswith("@") else text
        if not path:
            raise KernelSpecError("kernel spec '@' needs a path after the @")
        return ParsedSpec("file", spec, path=os.path.expanduser(path))
    if kind == "named":
        kdef, params = _parse_named(text)
        return ParsedSpec("named", spec, name=kdef.name, params=params)
    if _IM_HEAD.match(spec):
        return ParsedSpec("inline", spec, array=parse_imagemagick(spec))
    return ParsedSpec("inline", spec, array=parse_inline(spec))


def _parse_named(text: str) -> tuple[KernelDef, dict[str, Any]]:
    name, colon, args = text.partition(":")
    name = name.strip()
    if _NAME.fullmatch(name) is None:
        raise KernelSpecError(
            f"{text!r} is not a kernel name, an inline matrix or an existing kernel file "
            "(named kernels are written name or name:key=value,...)"
        )
    try:
        kdef = get_kernel(name)
    except KernelSpecError as exc:
        if not colon and os.path.exists(name):
            raise KernelSpecError(f"{exc}; to read the file {name!r}, write @{name}") from None
        raise
    params: dict[str, Any] = {}
    if not colon:
        return kdef, params
    if not args.strip():
        raise KernelSpecError(f"{kdef.name}: nothing after ':'; {kdef.params_text()}")
    position = 0
    keyword_seen = False
    for number, item in enumerate(args.split(","), start=1):
        item = item.strip()
        if not item:
            raise KernelSpecError(f"{kdef.name}: argument {number} of {text!r} is empty")
        if "=" in item:
            key, _, value = item.partition("=")
            param = kdef.param(key.strip().lower())
            keyword_seen = True
        else:
            if keyword_seen:
                raise KernelSpecError(
                    f"{kdef.name}: positional value {item!r} after a key=value argument; "
                    "write positional values first"
                )
            if position >= len(kdef.params):
                raise KernelSpecError(
                    f"{kdef.name}: too many values in {text!r}: {kdef.name} takes "
                    f"{len(kdef.params)} ({', '.join(p.name for p in kdef.params) or 'none'})"
                )
            param = kdef.params[position]
            position += 1
            value = item
        if param.name in params:
            raise KernelSpecError(f"{kdef.name}: {param.name} is given twice in {text!r}")
        if not value.strip():
            raise KernelSpecError(
                f"{kdef.name}: {param.name} has no value; {param.name} must be {param.expected()}"
            )
        params[param.name] = param.parse(value, kdef.name)
    return kdef, params


def _pieces(text: str, sep: str, offset: int) -> list[tuple[str, int]]:
    """Split ``text`` on ``sep``; each piece with its offset in the whole spec."""
    out = []
    for piece in text.split(sep):
        out.append((piece, offset))
        offset += len(piece) + len(sep)
    return out


def _first_column(piece: str, offset: int) -> int:
    return offset + len(piece) - len(piece.lstrip()) + 1


def parse_inline(spec: str) -> NDArray[np.float64]:
    """Parse an inline matrix: ``"1 2 1"``, ``"[1 2 1; 2 4 2; 1 2 1]/16"``, ``"1 2;3 4|5 6;7 8"``.

    Parameters
    ----------
    spec : str
        The matrix; see the module docstring for the grammar.

    Returns
    -------
    numpy.ndarray
        float64; 1-D without ``;`` and ``|``, 2-D with ``;``, 3-D with ``|``.

    Raises
    ------
    KernelSpecError
        For a token that is not a finite number, ragged rows or planes, an empty matrix or
        row, a zero factor; the message gives the 1-based column in ``spec``.

    Examples
    --------
    >>> parse_inline("[1 2 1]*0.25").tolist()
    [0.25, 0.5, 0.25]
    >>> parse_inline("1,2;3,4").tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    >>> parse_inline("1 2;3 4|5 6;7 8").shape
    (2, 2, 2)
    """
    where = f"inline kernel {spec.strip()!r}"

    def fail(column: int, problem: str) -> KernelSpecError:
        return KernelSpecError(f"{where}: column {column}: {problem}")

    start = len(spec) - len(spec.lstrip())
    end = len(spec.rstrip())
    if start >= end:
        raise KernelSpecError("empty kernel spec")
    op, factor = "*", 1.0
    if spec[start] == "[":
        close = spec.find("]", start + 1)
        if close < 0:
            raise fail(start + 1, "'[' is never closed by ']'")
        nested = spec.find("[", start + 1, close)
        if nested >= 0:
            raise fail(nested + 1, "unexpected '[' (brackets do not nest: split rows by ';')")
        body_start, body_end = start + 1, close
        op, factor = _factor(spec, close + 1, end, fail)
    else:
        body_start, body_end = start, end
        for index in range(start, end):
            char = spec[index]
            if char in "[]":
                raise fail(index + 1, f"unexpected {char!r}")
            if char in "/*":
                raise fail(
                    index + 1,
                    f"unexpected {char!r}: a factor needs brackets, as in '[1 2 1]{char}4'",
                )
    body = spec[body_start:body_end]
    ndim = 3 if "|" in body else 2 if ";" in body else 1
    planes: list[list[list[float]]] = []
    first_rows: list[list[float]] = []
    for plane_number, (plane, plane_offset) in enumerate(_pieces(body, "|", body_start), 1):
        rows: list[list[float]] = []
        plane_name = f"plane {plane_number}, " if ndim == 3 else ""
        if ndim == 3 and not plane.strip():
            raise fail(_first_column(plane, plane_offset), f"plane {plane_number} is empty")
        for row_number, (row, row_offset) in enumerate(_pieces(plane, ";", plane_offset), 1):
            try:
                values = row_numbers(row)
            except NumberError as exc:
                raise fail(row_offset + exc.column, exc.reason) from None
            column = _first_column(row, row_offset)
            if not values:
                if ndim == 1:
                    raise fail(column, "empty matrix")
                raise fail(column, f"{plane_name}row {row_number} is empty")
            reference = first_rows[0] if first_rows else (rows[0] if rows else values)
            if len(values) != len(reference):
                raise fail(
                    column,
                    f"{plane_name}row {row_number} has {_numbers(len(values))} but "
                    f"{'plane 1, ' if ndim == 3 else ''}row 1 has {len(reference)}",
                )
            rows.append(values)
        if planes and len(rows) != len(planes[0]):
            raise fail(
                _first_column(plane, plane_offset),
                f"plane {plane_number} has {len(rows)} rows but plane 1 has {len(planes[0])}",
            )
        if not first_rows:
            first_rows = rows
        planes.append(rows)
    array = np.array(planes, dtype=np.float64)
    array = array.reshape(array.shape[3 - ndim :])
    array = array / factor if op == "/" else array * factor
    if not np.all(np.isfinite(array)):
        raise fail(body_end + 1, "the factor makes values overflow to infinity")
    return array


def parse_imagemagick(spec: str) -> NDArray[np.float64]:
    """Parse an ImageMagick kernel string: ``"3x3:1,2,1,2,4,2,1,2,1"``, ``"3x3+0+0:..."``.

    The form is ImageMagick's ``WxH[+X+Y]:values`` (``-morphology Convolve``,
    ``-convolve``): ``W`` columns and ``H`` rows (``W`` alone: a ``W x W`` square, so
    ``3:`` needs 9 values; a row of three is ``3x1:``), then ``W*H`` values row by row,
    split by spaces or commas; ``nan`` or ``-`` marks a tap that is not part of the
    neighbourhood (weight 0 in a convolution).  ``+X+Y`` is the origin, the tap that sits on
    the output pixel: column ``X`` and row ``Y`` from the top left; by default
    ``((W-1)//2, (H-1)//2)``.  The kernel is returned centred on its origin
    (:func:`convcli.kernels._origin.centre_origin`: zeros added where needed), so that
    convcli's correlation with ``padding="same"`` computes ImageMagick's
    ``-morphology Correlate`` and ``--flip`` its ``-morphology Convolve``, origin included.
    A list of kernels (``;``) and the rotation flags ``@ > <`` are not read.
    ``-define convolve:scale`` is not part of the string: ``--normalize`` and ``--scale``
    play its part.

    Raises
    ------
    KernelSpecError
        With the 1-based column: a bad geometry or origin, a token that is not a number,
        ``nan`` or ``-``, too few or too many values, no value that is not ``nan``.

    Examples
    --------
    >>> parse_imagemagick("3x1:1,2,1").tolist()
    [[1.0, 2.0, 1.0]]
    >>> parse_imagemagick("2x2+0+0: 1 2 3 nan")
    array([[0., 0., 0.],
           [0., 1., 2.],
           [0., 3., 0.]])
    """
    where = f"ImageMagick kernel {spec.strip()!r}"

    def fail(column: int, problem: str) -> KernelSpecError:
        return KernelSpecError(f"{where}: column {column}: {problem}")

    colon = spec.find(":")
    geometry = _IM_GEOMETRY.fullmatch(spec, 0, colon)
    if colon < 0 or geometry is None:
        raise fail(1, "expected WxH[+X+Y]: before the values, as in '3x3:1,2,1,2,4,2,1,2,1'")
    if geometry.group("flag"):
        raise fail(
            geometry.start("flag") + 1,
            f"the flag {geometry.group('flag')!r} (a list of rotated kernels) is not read",
        )
    width = int(geometry.group("w"))
    height = int(geometry.group("h") or width)
    if width < 1 or height < 1:
        raise fail(geometry.start("w") + 1, f"size {width}x{height}: both must be >= 1")
    if geometry.group("x") is not None:
        ox = int(geometry.group("x").replace(" ", ""))
        oy = int(geometry.group("y").replace(" ", ""))
        if not (0 <= ox < width and 0 <= oy < height):
            raise fail(
                geometry.start("x") + 1,
                f"origin {ox:+d}{oy:+d} is outside the {width}x{height} kernel "
                f"(column 0..{width - 1}, row 0..{height - 1})",
            )
    else:
        ox, oy = (width - 1) // 2, (height - 1) // 2
    if ";" in spec[colon:]:
        raise fail(
            spec.index(";", colon) + 1,
            "a list of kernels (';') is not read: give one kernel per -k",
        )
    values: list[float] = []
    need = width * height
    for match in _IM_TOKEN.finditer(spec, colon + 1):
        token, column = match.group(), match.start() + 1
        if len(values) == need:
            raise fail(column, f"more than the {need} values a {width}x{height} kernel has")
        if token.lower() == "nan" or token == "-":
            values.append(float("nan"))
            continue
        try:
            values.append(to_float(token))
        except NumberError as exc:
            raise fail(column, exc.reason) from None
    if len(values) < need:
        square = " (ImageMagick reads 'W:' as WxW)" if geometry.group("h") is None else ""
        raise fail(
            len(spec.rstrip()) + 1,
            f"a {width}x{height} kernel needs {need} values{square}, got {len(values)}",
        )
    kernel = np.array(values, dtype=np.float64).reshape(height, width)
    if np.isnan(kernel).all():
        raise fail(colon + 2, "every value is nan: at least one tap must be part of the kernel")
    kernel[np.isnan(kernel)] = 0.0
    return centre_origin(kernel, (oy, ox))


def _numbers(count: int) -> str:
    return f"{count} number" if count == 1 else f"{count} numbers"


def _factor(
    spec: str, begin: int, end: int, fail: Callable[[int, str], KernelSpecError]
) -> tuple[str, float]:
    """Read the optional ``/N`` or ``*F`` after the closing bracket: ``("/", N)``, ``("*", F)``."""
    tail = spec[begin:end]
    if not tail.strip():
        return "*", 1.0
    op_index = begin + len(tail) - len(tail.lstrip())
    op = spec[op_index]
    if op not in "/*":
        raise fail(op_index + 1, f"unexpected {spec[op_index:end]!r} after ']'; expected /N or *F")
    number = spec[op_index + 1 : end]
    if not number.strip():
        raise fail(op_index + 1, f"{op!r} needs a number after it")
    column = _first_column(number, op_index + 1)
    try:
        value = to_float(number.strip())
    except NumberError as exc:
        raise fail(column, f"factor: {exc.reason}") from None
    if value == 0.0:
        raise fail(column, f"factor {op}{number.strip()} is zero")
    return op, value


def format_inline(kernel: ArrayLike) -> str:
    """Format a 1-D, 2-D or 3-D array as an inline spec that parses back to the same values.

    Values are written with ``repr``, so they parse back exactly.  The grammar has no way to
    write a 2-D kernel of one row or a 3-D kernel of one plane: those come back with the
    leading size-1 axis dropped, which :func:`make_kernel` restores for a signal of that many
    axes.

    Examples
    --------
    >>> format_inline([[1, 2], [3, 4]])
    '[1.0 2.0; 3.0 4.0]'
    >>> parse_inline(format_inline([0.1, 1e-300])).tolist()
    [0.1, 1e-300]
    """
    array = np.asarray(kernel, dtype=np.float64)
    if not 1 <= array.ndim <= 3 or array.size == 0:
        raise KernelSpecError(
            f"an inline kernel has 1 to 3 axes and at least one value, not shape {array.shape}"
        )

    def row(values: NDArray[np.float64]) -> str:
        return " ".join(repr(float(v)) for v in values)

    def plane(rows: NDArray[np.float64]) -> str:
        return "; ".join(row(r) for r in rows)

    if array.ndim == 1:
        text = row(array)
    elif array.ndim == 2:
        text = plane(array)
    else:
        text = " | ".join(plane(p) for p in array)
    return f"[{text}]"


def kernel_label(spec: str | ArrayLike) -> str:
    """Return a short, filesystem-safe label for a spec, to name feature-map files.

    Named kernels give the name and the parameters written in the spec, inline matrices
    ``inline`` and their shape, files their stem, arrays ``array`` and their shape.

    Parameters
    ----------
    spec : str or array_like
        A ``-k`` spec (or an array given to :func:`make_kernel`).

    Returns
    -------
    str
        Only letters, digits, ``.``, ``_`` and ``-``.

    Raises
    ------
    KernelSpecError
        When the spec cannot be parsed.

    Examples
    --------
    >>> kernel_label("gaussian:2"), kernel_label("sobel:axis=1"), kernel_label("box")
    ('gaussian-sigma2', 'sobel-axis1', 'box')
    >>> kernel_label("[1 2 1; 2 4 2; 1 2 1]/16"), kernel_label("@rooms/big hall.wav")
    ('inline3x3', 'big_hall')
    """
    if not isinstance(spec, str):
        shape = np.shape(spec)
        return "array" + "x".join(str(n) for n in shape)
    parsed = parse_spec(spec)
    if parsed.kind == "named":
        kdef = get_kernel(str(parsed.name))
        parts = [kdef.name]
        for p in kdef.params:
            if p.name in parsed.params:
                parts.append(f"{p.name}{_label_value(parsed.params[p.name])}")
        label = "-".join(parts)
    elif parsed.kind == "inline":
        assert parsed.array is not None
        label = "inline" + "x".join(str(n) for n in parsed.array.shape)
    else:
        base = os.path.basename(os.path.normpath(str(parsed.path)))
        stem, ext = os.path.splitext(base)
        label = stem if ext else base
    label = _UNSAFE.sub("_", label).strip("_.")
    return label or "kernel"


def _label_value(value: Any) -> str:
    if isinstance(value, float):
        return format(value, ".6g").replace("+", "")
    return str(value)
