"""Convolution arithmetic explained: relationships, tables, receptive fields, solving for sizes.

Standard library only (like :mod:`convcli.geometry`, whose numbers it explains), so that
``convcli shape`` starts instantly.

The relationships are those of Dumoulin & Visin, *A guide to convolution arithmetic for deep
learning* (arXiv:1603.07285), numbered as in the paper (the ``relationship`` counter of
``conv_arithmetic.tex`` in github.com/vdumoulin/conv_arithmetic):

==  ========================================  ===========================================
 1  no zero padding, unit strides             ``o = (i - k) + 1``
 2  zero padding, unit strides                ``o = (i - k) + 2p + 1``
 3  half (same) padding, unit strides         ``o = i`` (k odd, ``p = floor(k/2)``)
 4  full padding, unit strides                ``o = i + (k - 1)`` (``p = k - 1``)
 5  no zero padding, non-unit strides         ``o = floor((i - k)/s) + 1``
 6  zero padding, non-unit strides            ``o = floor((i + 2p - k)/s) + 1``
 7  pooling                                   ``o = floor((i - k)/s) + 1``
 8  transposed: no padding, unit strides      ``o' = i' + (k - 1)``
 9  transposed: zero padding, unit strides    ``o' = i' + (k - 1) - 2p``
10  transposed: half padding, unit strides    ``o' = i'``
11  transposed: full padding, unit strides    ``o' = i' - (k - 1)``
12  transposed: no padding, non-unit strides  ``o' = s(i' - 1) + k``
13  transposed: padding, non-unit strides     ``o' = s(i' - 1) + k - 2p``
14  transposed: padding, strides, ``a``       ``o' = s(i' - 1) + a + k - 2p``
15  dilated convolution                       ``o = floor((i + 2p - k - (k-1)(d-1))/s) + 1``
==  ========================================  ===========================================

The paper pads both ends by ``p``; with ``p_lo != p_hi`` (``same`` with an even total,
explicit ``A:B``) every ``2p`` reads ``p_lo + p_hi``.  A transposed convolution with
dilation ``d > 1`` is relationship 14 with the dilated extent ``k' = d(k-1) + 1`` in place of
``k``, the substitution relationship 15 makes.  Relationship 7 (pooling) is the same formula
as relationship 5 and never describes a convolution: :func:`relationship_for` does not pick
it, :func:`applicable` lists it.

Examples
--------
>>> from convcli.geometry import resolve
>>> axes = resolve((5, 5), (3, 3), stride=2, padding=1)
>>> relationship_for(axes[0]).number
6
>>> print(format_geometry_table(axes))  # doctest: +NORMALIZE_WHITESPACE
axis    input  kernel  k'  stride  dilation  pad_lo  pad_hi  output  uncovered
row         5       3   3       2         1       1       1       3          0
column      5       3   3       2         1       1       1       3          0
output: 3x3 (input 5x5)
receptive field of one output sample: 3x3 input samples (9 taps)
row, column: relationship 6 (zero padding, non-unit strides): stride 2, padding 1:
  o = floor((i + 2p - k)/s) + 1 = floor((5 + 2 - 3)/2) + 1 = 3
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from convcli.errors import ArgumentError
from convcli.geometry import AxisGeometry, TransposedAxis, resolve, resolve_transposed

__all__ = [
    "Case",
    "Relationship",
    "RELATIONSHIPS",
    "NoSolutionError",
    "PaddingSolution",
    "TransposedSolution",
    "axis_names",
    "case_of",
    "applicable",
    "relationship_for",
    "explain",
    "receptive_field",
    "equivalent_convolution",
    "geometry_record",
    "format_geometry_table",
    "solve_padding",
    "solve_transposed",
    "solve_geometry",
    "Equivalent",
]

Axis = AxisGeometry | TransposedAxis


class NoSolutionError(ArgumentError):
    """No padding (or output padding) gives the requested output size."""


class Case(NamedTuple):
    """The numbers of one axis, as the relationships read them.

    ``a`` is the output padding (0 for a forward convolution); ``transposed`` tells which
    family of relationships applies.
    """

    i: int
    k: int
    s: int
    d: int
    lo: int
    hi: int
    a: int = 0
    transposed: bool = False

    @property
    def keff(self) -> int:
        """The dilated kernel's extent ``k' = d(k-1) + 1``."""
        return self.d * (self.k - 1) + 1

    @property
    def total(self) -> int:
        """Total padding ``p_lo + p_hi`` (the paper's ``2p``)."""
        return self.lo + self.hi

    @property
    def symmetric(self) -> bool:
        """Whether both ends are padded alike (the paper's setting)."""
        return self.lo == self.hi


@dataclass(frozen=True)
class Relationship:
    """One of the paper's relationships: its number, title, formula and when it applies.

    Attributes
    ----------
    number : int
        1 to 15, as in the paper.
    title : str
        The paper's section name.
    formula : str
        The formula as the paper writes it.
    kind : str
        ``"forward"``, ``"pooling"`` or ``"transposed"``.
    condition : callable
        ``condition(case) -> bool``: the relationship's hypotheses hold.
    size : callable
        ``size(case) -> int``: the formula evaluated, word for word (``2p`` as ``p_lo + p_hi``).
    """

    number: int
    title: str
    formula: str
    kind: str
    condition: Callable[[Case], bool]
    size: Callable[[Case], int]

    def applies(self, case: Case) -> bool:
        """Tell whether the relationship's hypotheses hold for ``case``."""
        family = "transposed" if case.transposed else ("forward", "pooling")
        return self.kind in family and self.condition(case)


def _unpadded(c: Case) -> bool:
    return c.lo == 0 and c.hi == 0


def _half(c: Case) -> bool:
    return c.k % 2 == 1 and c.lo == c.hi == c.k // 2


def _full(c: Case) -> bool:
    return c.lo == c.hi == c.k - 1


def _plain(c: Case) -> bool:  # unit stride, no dilation
    return c.s == 1 and c.d == 1


_REL: list[Relationship] = [
    Relationship(
        1,
        "no zero padding, unit strides",
        "o = (i - k) + 1",
        "forward",
        lambda c: _plain(c) and _unpadded(c),
        lambda c: (c.i - c.k) + 1,
    ),
    Relationship(
        2,
        "zero padding, unit strides",
        "o = (i - k) + 2p + 1",
        "forward",
        _plain,
        lambda c: (c.i - c.k) + c.total + 1,
    ),
    Relationship(
        3,
        "half (same) padding, unit strides",
        "o = i",
        "forward",
        lambda c: _plain(c) and _half(c),
        lambda c: c.i,
    ),
    Relationship(
        4,
        "full padding, unit strides",
        "o = i + (k - 1)",
        "forward",
        lambda c: _plain(c) and _full(c),
        lambda c: c.i + (c.k - 1),
    ),
    Relationship(
        5,
        "no zero padding, non-unit strides",
        "o = floor((i - k)/s) + 1",
        "forward",
        lambda c: c.d == 1 and _unpadded(c),
        lambda c: (c.i - c.k) // c.s + 1,
    ),
    Relationship(
        6,
        "zero padding, non-unit strides",
        "o = floor((i + 2p - k)/s) + 1",
        "forward",
        lambda c: c.d == 1,
        lambda c: (c.i + c.total - c.k) // c.s + 1,
    ),
    Relationship(
        7,
        "pooling",
        "o = floor((i - k)/s) + 1",
        "pooling",
        lambda c: c.d == 1 and _unpadded(c),
        lambda c: (c.i - c.k) // c.s + 1,
    ),
    Relationship(
        8,
        "no zero padding, unit strides, transposed",
        "o' = i' + (k - 1)",
        "transposed",
        lambda c: _plain(c) and _unpadded(c) and c.a == 0,
        lambda c: c.i + (c.k - 1),
    ),
    Relationship(
        9,
        "zero padding, unit strides, transposed",
        "o' = i' + (k - 1) - 2p",
        "transposed",
        lambda c: _plain(c) and c.a == 0,
        lambda c: c.i + (c.k - 1) - c.total,
    ),
    Relationship(
        10,
        "half (same) padding, transposed",
        "o' = i'",
        "transposed",
        lambda c: _plain(c) and _half(c) and c.a == 0,
        lambda c: c.i,
    ),
    Relationship(
        11,
        "full padding, transposed",
        "o' = i' - (k - 1)",
        "transposed",
        lambda c: _plain(c) and _full(c) and c.a == 0,
        lambda c: c.i - (c.k - 1),
    ),
    Relationship(
        12,
        "no zero padding, non-unit strides, transposed",
        "o' = s(i' - 1) + k",
        "transposed",
        lambda c: c.d == 1 and _unpadded(c) and c.a == 0,
        lambda c: c.s * (c.i - 1) + c.k,
    ),
    Relationship(
        13,
        "zero padding, non-unit strides, transposed",
        "o' = s(i' - 1) + k - 2p",
        "transposed",
        lambda c: c.d == 1 and c.a == 0,
        lambda c: c.s * (c.i - 1) + c.k - c.total,
    ),
    Relationship(
        14,
        "zero padding, non-unit strides, transposed, with a",
        "o' = s(i' - 1) + a + k - 2p",
        "transposed",
        lambda c: True,
        lambda c: c.s * (c.i - 1) + c.a + c.keff - c.total,
    ),
    Relationship(
        15,
        "dilated convolutions",
        "o = floor((i + 2p - k - (k - 1)(d - 1))/s) + 1",
        "forward",
        lambda c: True,
        lambda c: (c.i + c.total - c.k - (c.k - 1) * (c.d - 1)) // c.s + 1,
    ),
]

#: The 15 relationships by number.
RELATIONSHIPS: dict[int, Relationship] = {r.number: r for r in _REL}

# Most specific first, per family; the first that applies is the one reported.
_FORWARD_ORDER = (1, 3, 4, 2, 5, 6, 15)
_TRANSPOSED_ORDER = (8, 10, 11, 9, 12, 13, 14)


def axis_names(ndim: int) -> tuple[str, ...]:
    """Name the spatial axes: plane, row, column (the last ``ndim`` of them).

    Examples
    --------
    >>> axis_names(2)
    ('row', 'column')
    >>> axis_names(1)
    ('axis',)
    >>> axis_names(4)
    ('axis 0', 'axis 1', 'axis 2', 'axis 3')
    """
    if ndim == 1:
        return ("axis",)
    if ndim <= 3:
        return ("plane", "row", "column")[3 - ndim :]
    return tuple(f"axis {n}" for n in range(ndim))


def case_of(axis: Axis) -> Case:
    """Return the numbers of a resolved axis as a :class:`Case`.

    Examples
    --------
    >>> from convcli.geometry import resolve
    >>> case_of(resolve((7,), (3,), padding=0, dilation=2)[0])
    Case(i=7, k=3, s=1, d=2, lo=0, hi=0, a=0, transposed=False)
    """
    if isinstance(axis, TransposedAxis):
        return Case(
            axis.size,
            axis.kernel,
            axis.stride,
            axis.dilation,
            axis.pad_lo,
            axis.pad_hi,
            axis.output_padding,
            True,
        )
    return Case(axis.size, axis.kernel, axis.stride, axis.dilation, axis.pad_lo, axis.pad_hi)


def applicable(axis: Axis | Case) -> list[int]:
    """List every relationship whose hypotheses hold for an axis (pooling's included).

    Examples
    --------
    >>> from convcli.geometry import resolve
    >>> applicable(resolve((4,), (3,), padding=0)[0])
    [1, 2, 5, 6, 7, 15]
    """
    case = axis if isinstance(axis, Case) else case_of(axis)
    return [r.number for r in _REL if r.applies(case)]


def relationship_for(axis: Axis | Case) -> Relationship:
    """Return the most specific relationship that describes an axis.

    Forward: 15 where the dilation is above 1; with unit strides 1 (no padding), 3 (half),
    4 (full), else 2; with larger strides 5 (no padding), else 6.  Transposed: with unit
    strides (and no dilation) 8, 10, 11, else 9; else 12 (no padding, ``a = 0``), 13
    (``a = 0``), else 14.

    Examples
    --------
    >>> from convcli.geometry import resolve, resolve_transposed
    >>> relationship_for(resolve((5,), (3,), padding="same")[0]).number
    3
    >>> relationship_for(resolve_transposed((3,), (3,), stride=2, padding=1)[0]).number
    13
    """
    case = axis if isinstance(axis, Case) else case_of(axis)
    order = _TRANSPOSED_ORDER if case.transposed else _FORWARD_ORDER
    for number in order:
        rel = RELATIONSHIPS[number]
        if rel.applies(case):
            return rel
    raise AssertionError(f"no relationship for {case}")  # 14 and 15 always apply


def _pad_words(c: Case) -> str:
    if c.symmetric:
        return f"padding {c.lo}"
    return f"padding {c.lo}:{c.hi} (p_lo + p_hi in place of 2p)"


def _p_prime(c: Case) -> str:
    kk = "k" if c.d == 1 else "k'"
    lo, hi = c.keff - 1 - c.lo, c.keff - 1 - c.hi + c.a
    text = f"p' = {kk} - p - 1 = {lo}"
    if lo == hi and c.a == 0:
        return text
    return text + f" before, {hi} after" + (" (+ a)" if c.a else "")


def _two_p(c: Case) -> str:
    return f"{c.total}" if c.symmetric else f"{c.lo} + {c.hi}"


def explain(axis: Axis | Case) -> str:
    """Explain an axis's output size: its relationship, why it applies, the numbers.

    Returns one line: ``<why it applies>: <formula> = <numbers> = <size>``.

    Examples
    --------
    >>> from convcli.geometry import resolve, resolve_transposed
    >>> explain(resolve((4,), (3,), padding=0)[0])
    'unit stride, no padding: o = (i - k) + 1 = (4 - 3) + 1 = 2'
    >>> explain(resolve((7,), (3,), padding=0, dilation=2)[0])
    "dilation 2, k' = k + (k - 1)(d - 1) = 5: o = floor((i + 2p - k')/s) + 1 = floor((7 + 0 - 5)/1) + 1 = 3"
    >>> explain(resolve_transposed((3,), (3,), stride=2, padding=1, output_padding=1)[0])
    "stride 2 (1 zero between inputs), padding 1, output padding a = 1, p' = k - p - 1 = 1 before, 2 after (+ a): o' = s(i' - 1) + a + k - 2p = 2(3 - 1) + 1 + 3 - 2 = 6"
    """  # noqa: E501
    c = axis if isinstance(axis, Case) else case_of(axis)
    rel = relationship_for(c)
    n = rel.number
    out = rel.size(c)
    i, k, s, d = c.i, c.k, c.s, c.d
    if n == 1:
        return f"unit stride, no padding: o = (i - k) + 1 = ({i} - {k}) + 1 = {out}"
    if n == 2:
        return (
            f"unit stride, {_pad_words(c)}: o = (i - k) + 2p + 1 = "
            f"({i} - {k}) + {_two_p(c)} + 1 = {out}"
        )
    if n == 3:
        return f"unit stride, odd kernel, half padding p = floor(k/2) = {c.lo}: o = i = {out}"
    if n == 4:
        return (
            f"unit stride, full padding p = k - 1 = {c.lo}: o = i + (k - 1) = {i} + {k - 1} = {out}"
        )
    if n == 5:
        return (
            f"stride {s}, no padding: o = floor((i - k)/s) + 1 = floor(({i} - {k})/{s}) + 1 = {out}"
        )
    if n == 6:
        return (
            f"stride {s}, {_pad_words(c)}: o = floor((i + 2p - k)/s) + 1 = "
            f"floor(({i} + {_two_p(c)} - {k})/{s}) + 1 = {out}"
        )
    if n == 15:
        return (
            f"dilation {d}, k' = k + (k - 1)(d - 1) = {c.keff}: o = floor((i + 2p - k')/s) + 1 = "
            f"floor(({i} + {_two_p(c)} - {c.keff})/{s}) + 1 = {out}"
        )
    # Transposed: the equivalent direct convolution pads by p' = k - p - 1.
    if n == 8:
        return (
            f"transpose of an unpadded unit-stride convolution, p' = k - 1 = {k - 1}: "
            f"o' = i' + (k - 1) = {i} + {k - 1} = {out}"
        )
    if n == 9:
        return (
            f"transpose of a unit-stride convolution with {_pad_words(c)}, {_p_prime(c)}: "
            f"o' = i' + (k - 1) - 2p = {i} + {k - 1} - {_two_p(c)} = {out}"
        )
    if n == 10:
        return f"transpose of a half-padded convolution, p' = p = {c.lo}: o' = i' = {out}"
    if n == 11:
        return (
            f"transpose of a fully padded convolution, p' = 0: o' = i' - (k - 1) = "
            f"{i} - {k - 1} = {out}"
        )
    gaps = f"stride {s} ({s - 1} zero{'s' if s != 2 else ''} between inputs)"
    if n == 12:
        return (
            f"{gaps}, no padding, p' = k - 1 = {k - 1}: o' = s(i' - 1) + k = "
            f"{s}({i} - 1) + {k} = {out}"
        )
    if n == 13:
        return (
            f"{gaps}, {_pad_words(c)}, {_p_prime(c)}: o' = s(i' - 1) + k - 2p = "
            f"{s}({i} - 1) + {k} - {_two_p(c)} = {out}"
        )
    # 14
    kk = "k" if d == 1 else "k'"
    dil = "" if d == 1 else f", dilation {d} (k' = d(k - 1) + 1 = {c.keff} in place of k)"
    beyond = "" if c.a < s else f" (a >= s: a convolution maps o' to {i + c.a // s}, not {i})"
    pads = "no padding" if _unpadded(c) else _pad_words(c)
    return (
        f"{gaps}, {pads}, output padding a = {c.a}{dil}, {_p_prime(c)}: "
        f"o' = s(i' - 1) + a + {kk} - 2p = {s}({i} - 1) + {c.a} + {c.keff} - {_two_p(c)} = "
        f"{out}{beyond}"
    )


def receptive_field(axes: Sequence[Axis]) -> tuple[int, ...]:
    """Return the receptive field of one output sample: ``k'`` input samples per axis.

    For a transposed convolution, the span of the equivalent direct convolution's kernel
    over the stretched input (also ``k'``).

    Examples
    --------
    >>> from convcli.geometry import resolve
    >>> receptive_field(resolve((9, 9), (3, 3), dilation=(1, 3)))
    (3, 7)
    """
    return tuple(a.effective_kernel for a in axes)


@dataclass(frozen=True)
class Equivalent:
    """The direct convolution equivalent to one axis of a transposed convolution.

    ``s - 1`` zeros are inserted between the ``i'`` inputs (the stretched input has
    ``s(i' - 1) + 1`` samples), which are padded by ``pad_lo = k' - 1 - p_lo`` before and
    ``pad_hi = k' - 1 - p_hi + a`` after (negative: that many samples cropped) and correlated,
    stride 1, with the flipped kernel.
    """

    stretched: int
    pad_lo: int
    pad_hi: int
    output: int


def equivalent_convolution(axis: TransposedAxis) -> Equivalent:
    """Return the direct convolution that computes one axis of a transposed convolution.

    Examples
    --------
    >>> from convcli.geometry import resolve_transposed
    >>> equivalent_convolution(resolve_transposed((3,), (3,), stride=2, padding=1)[0])
    Equivalent(stretched=5, pad_lo=1, pad_hi=1, output=5)
    """
    keff = axis.effective_kernel
    stretched = axis.stride * (axis.size - 1) + 1
    lo = keff - 1 - axis.pad_lo
    hi = keff - 1 - axis.pad_hi + axis.output_padding
    return Equivalent(stretched, lo, hi, stretched + lo + hi - keff + 1)


def geometry_record(axes: Sequence[Axis]) -> dict[str, Any]:
    """Return the ``--json`` record of a geometry (SPEC's keys first).

    Keys: ``input``, ``kernel``, ``stride``, ``dilation``, ``padding`` (``[before, after]``
    per axis), ``output``, then ``transposed``, ``effective_kernel``, ``receptive_field``,
    ``relationship`` (numbers), ``reason`` (lines), and ``uncovered`` (forward) or
    ``output_padding`` and ``equivalent`` (transposed).

    Examples
    --------
    >>> from convcli.geometry import resolve
    >>> rec = geometry_record(resolve((5,), (3,), stride=2, padding=1))
    >>> rec["output"], rec["relationship"], rec["uncovered"]
    ([3], [6], [0])
    """
    transposed = bool(axes) and isinstance(axes[0], TransposedAxis)
    record: dict[str, Any] = {
        "input": [a.size for a in axes],
        "kernel": [a.kernel for a in axes],
        "stride": [a.stride for a in axes],
        "dilation": [a.dilation for a in axes],
        "padding": [[a.pad_lo, a.pad_hi] for a in axes],
        "output": [a.output for a in axes],
        "transposed": transposed,
        "effective_kernel": [a.effective_kernel for a in axes],
        "receptive_field": list(receptive_field(axes)),
        "relationship": [relationship_for(a).number for a in axes],
        "reason": [explain(a) for a in axes],
    }
    if transposed:
        taxes = [a for a in axes if isinstance(a, TransposedAxis)]
        eq = [equivalent_convolution(a) for a in taxes]
        record["output_padding"] = [a.output_padding for a in taxes]
        record["equivalent"] = {
            "input": [e.stretched for e in eq],
            "padding": [[e.pad_lo, e.pad_hi] for e in eq],
            "stride": [1] * len(eq),
        }
    else:
        record["uncovered"] = [a.uncovered for a in axes if isinstance(a, AxisGeometry)]
    return record


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[n]) for r in cells) for n in range(len(header))]
    out = []
    for r in cells:
        first = r[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        out.append("  ".join([first, *rest]).rstrip())
    return out


def _join(names: Sequence[str]) -> str:
    return ", ".join(names)


def format_geometry_table(
    axes: Sequence[Axis],
    *,
    names: Sequence[str] | None = None,
    explain_sizes: bool = True,
) -> str:
    """Format a resolved geometry for people: the per-axis table and what it means.

    This is what ``convcli shape`` prints, and what ``filter -v``/``--dry-run`` print for a
    job's real geometry.

    Parameters
    ----------
    axes : sequence of AxisGeometry or of TransposedAxis
        From :func:`convcli.geometry.resolve` or :func:`convcli.geometry.resolve_transposed`.
    names : sequence of str, optional
        One name per axis; default :func:`axis_names` (``row``, ``column``, ...).
    explain_sizes : bool, optional
        Add the lines below the table: output size, receptive field, uncovered samples, the
        relationship that gives each axis's size (axes that share an explanation share a
        line), and for a transposed convolution its equivalent direct convolution.

    Returns
    -------
    str
        Lines joined by newlines, no trailing newline.

    Examples
    --------
    >>> from convcli.geometry import resolve
    >>> print(format_geometry_table(resolve((10,), (4,), stride=3, padding=0),
    ...                             explain_sizes=False))
    axis  input  kernel  k'  stride  dilation  pad_lo  pad_hi  output  uncovered
    axis     10       4   4       3         1       0       0       3          0
    """
    if not axes:
        raise ArgumentError("format_geometry_table needs at least one axis")
    names = tuple(names) if names is not None else axis_names(len(axes))
    if len(names) != len(axes):
        raise ArgumentError(f"{len(names)} axis names for {len(axes)} axes")
    transposed = isinstance(axes[0], TransposedAxis)
    header = ["axis", "input", "kernel", "k'", "stride", "dilation", "pad_lo", "pad_hi"]
    rows: list[list[object]] = []
    for name, a in zip(names, axes):
        row: list[object] = [name, a.size, a.kernel, a.effective_kernel, a.stride, a.dilation]
        row += [a.pad_lo, a.pad_hi]
        if isinstance(a, TransposedAxis):
            row += [a.output_padding, a.output]
        else:
            row += [a.output, a.uncovered]
        rows.append(row)
    header += ["a", "output"] if transposed else ["output", "uncovered"]
    lines = _table(header, rows)
    if not explain_sizes:
        return "\n".join(lines)
    sizes = "x".join(str(a.size) for a in axes)
    lines.append(f"output: {'x'.join(str(a.output) for a in axes)} (input {sizes})")
    rf = receptive_field(axes)
    taps = 1
    for a in axes:
        taps *= a.kernel
    lines.append(
        f"receptive field of one output sample: {'x'.join(map(str, rf))} input samples "
        f"({taps} tap{'s' if taps != 1 else ''})"
    )
    for name, a in zip(names, axes):
        if isinstance(a, AxisGeometry) and a.uncovered:
            n = a.uncovered
            lines.append(
                f"{name}: the last {n} padded sample{'s are' if n != 1 else ' is'} never read "
                f"(stride remainder (i + p_lo + p_hi - k') mod s = "
                f"({a.size} + {a.pad_lo} + {a.pad_hi} - {a.effective_kernel}) mod {a.stride})"
            )
    groups: dict[tuple[int, str], list[str]] = {}
    for name, a in zip(names, axes):
        rel = relationship_for(a)
        groups.setdefault((rel.number, explain(a)), []).append(name)
    for (number, reason), who in groups.items():
        why, _, formula = reason.partition(": ")
        title = RELATIONSHIPS[number].title
        lines.append(f"{_join(who)}: relationship {number} ({title}): {why}:")
        lines.append(f"  {formula}")
    if transposed:
        taxes = [a for a in axes if isinstance(a, TransposedAxis)]
        eq = [equivalent_convolution(a) for a in taxes]
        lines.append(
            "equivalent convolution: stride 1 over the stretched input "
            f"{'x'.join(str(e.stretched) for e in eq)} (s - 1 zeros between inputs), padding "
            f"{', '.join(f'{e.pad_lo}:{e.pad_hi}' for e in eq)}, kernel flipped"
        )
        forward = []
        for a in taxes:
            try:
                (f,) = resolve(
                    (a.output,),
                    (a.kernel,),
                    stride=a.stride,
                    padding=[(a.pad_lo, a.pad_hi)],
                    dilation=a.dilation,
                )
                forward.append(str(f.output))
            except ArgumentError:
                forward.append("-")
        lines.append(
            f"round trip: the convolution with these k, s, p, d maps "
            f"{'x'.join(str(a.output) for a in taxes)} to {'x'.join(forward)}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class PaddingSolution:
    """The paddings that give one axis a target output size (forward convolution).

    Attributes
    ----------
    pad_lo, pad_hi : int
        The smallest total padding that works, split as ``same`` splits it (the extra sample
        at the end).
    symmetric : int or None
        The smallest ``p`` with ``p_lo = p_hi = p`` that works (PyTorch's ``padding=p``), or
        None when no symmetric padding does.
    totals : tuple of (int, int)
        Every total ``p_lo + p_hi`` from ``totals[0]`` to ``totals[1]`` works.
    """

    pad_lo: int
    pad_hi: int
    symmetric: int | None
    totals: tuple[int, int]


def _check_positive(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"{name} must be an integer >= 1, got {value!r}")


def solve_padding(
    size: int, kernel: int, target: int, *, stride: int = 1, dilation: int = 1
) -> PaddingSolution:
    """Find the padding that gives a convolution's axis ``target`` output samples.

    ``o = floor((i + P - k')/s) + 1 = N`` holds for every total padding ``P`` from
    ``(N-1)s + k' - i`` to ``(N-1)s + k' - i + s - 1`` (and ``P >= 0``).

    Raises
    ------
    NoSolutionError
        ``N`` is smaller than the output without padding.

    Examples
    --------
    >>> solve_padding(5, 3, 3, stride=2)
    PaddingSolution(pad_lo=1, pad_hi=1, symmetric=1, totals=(2, 3))
    >>> solve_padding(6, 3, 3, stride=2)
    PaddingSolution(pad_lo=0, pad_hi=1, symmetric=1, totals=(1, 2))
    >>> solve_padding(224, 7, 112, stride=2)
    PaddingSolution(pad_lo=2, pad_hi=3, symmetric=3, totals=(5, 6))
    >>> solve_padding(10, 3, 2)
    Traceback (most recent call last):
    ...
    convcli.explain.arithmetic.NoSolutionError: no padding gives 2 output samples: without padding there are already 8 (i=10, k'=3, s=1)
    """  # noqa: E501
    for value, name in ((size, "input size"), (kernel, "kernel size"), (target, "target")):
        _check_positive(value, name)
    _check_positive(stride, "stride")
    _check_positive(dilation, "dilation")
    keff = dilation * (kernel - 1) + 1
    low = (target - 1) * stride + keff - size
    high = low + stride - 1
    if high < 0:
        least = (size - keff) // stride + 1
        raise NoSolutionError(
            f"no padding gives {target} output sample{'s' if target != 1 else ''}: without "
            f"padding there are already {least} (i={size}, k'={keff}, s={stride})"
        )
    total = max(low, 0)
    even = total + (total % 2)
    symmetric = even // 2 if even <= high else None
    return PaddingSolution(total // 2, total - total // 2, symmetric, (total, high))


@dataclass(frozen=True)
class TransposedSolution:
    """The padding and output padding that give one transposed axis a target size.

    Attributes
    ----------
    pad_lo, pad_hi : int
        The padding (given, or the smallest total that works, split as ``same`` splits it).
    output_padding : int
        The output padding ``a``.
    symmetric : tuple of (int, int) or None
        The smallest ``(p, a)`` with ``p_lo = p_hi = p`` that works, or None (also None when
        the padding was given).
    """

    pad_lo: int
    pad_hi: int
    output_padding: int
    symmetric: tuple[int, int] | None


def solve_transposed(
    size: int,
    kernel: int,
    target: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    padding: tuple[int, int] | None = None,
) -> TransposedSolution:
    """Find the output padding (and padding) that give a transposed axis ``target`` samples.

    ``o' = s(i' - 1) + a + k' - p_lo - p_hi`` with ``0 <= a < max(s, d)`` (PyTorch's rule).
    With ``padding`` given, only ``a`` is solved for; else the smallest total padding with
    the smallest ``a``.

    Raises
    ------
    NoSolutionError
        No allowed ``a`` (and padding) gives ``target``.

    Examples
    --------
    >>> solve_transposed(3, 3, 6, stride=2, padding=(1, 1))
    TransposedSolution(pad_lo=1, pad_hi=1, output_padding=1, symmetric=None)
    >>> solve_transposed(4, 4, 8, stride=2)
    TransposedSolution(pad_lo=1, pad_hi=1, output_padding=0, symmetric=(1, 0))
    >>> solve_transposed(3, 3, 9, stride=2, padding=(0, 0))
    Traceback (most recent call last):
    ...
    convcli.explain.arithmetic.NoSolutionError: no output padding gives 9 output samples with padding 0:0: that needs a = 2, and a must be 0 <= a < max(s, d) = 2
    """  # noqa: E501
    for value, name in ((size, "input size"), (kernel, "kernel size"), (target, "target")):
        _check_positive(value, name)
    _check_positive(stride, "stride")
    _check_positive(dilation, "dilation")
    keff = dilation * (kernel - 1) + 1
    limit = max(stride, dilation)
    base = stride * (size - 1) + keff  # o' with no padding and a = 0
    if padding is not None:
        lo, hi = padding
        a = target - (base - lo - hi)
        if not 0 <= a < limit:
            raise NoSolutionError(
                f"no output padding gives {target} output samples with padding {lo}:{hi}: that "
                f"needs a = {a}, and a must be 0 <= a < max(s, d) = {limit}"
            )
        return TransposedSolution(lo, hi, a, None)
    excess = base - target  # = p_lo + p_hi - a
    if excess >= 0:
        symmetric = (excess // 2, 0) if excess % 2 == 0 else None
        if symmetric is None and limit > 1:
            symmetric = ((excess + 1) // 2, 1)
        return TransposedSolution(excess // 2, excess - excess // 2, 0, symmetric)
    if -excess < limit:
        return TransposedSolution(0, 0, -excess, (0, -excess))
    raise NoSolutionError(
        f"no padding gives {target} output samples: without padding the largest is "
        f"{base + limit - 1} (s(i' - 1) + a + k' with a = {limit - 1}; i'={size}, k'={keff}, "
        f"s={stride})"
    )


def _solved_check(axes: Sequence[Axis], targets: Sequence[int]) -> None:
    got = [a.output for a in axes]
    if got != list(targets):  # pragma: no cover - the algebra above guarantees it
        raise AssertionError(f"solved geometry gives {got}, not {list(targets)}")


def solve_geometry(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    targets: Sequence[int],
    *,
    stride: Sequence[int],
    dilation: Sequence[int],
    transposed: bool = False,
    padding: Sequence[tuple[int, int]] | None = None,
    names: Sequence[str] | None = None,
) -> tuple[tuple[Axis, ...], list[Any]]:
    """Solve every axis for its target and return the solved geometry with the solutions.

    Parameters
    ----------
    input_shape, kernel_shape, targets, stride, dilation : sequence of int
        One value per axis.
    transposed : bool, optional
        Solve a transposed convolution (output padding, and padding unless given).
    padding : sequence of (int, int), optional
        Transposed only: the padding, fixed; only the output padding is solved for.
    names : sequence of str, optional
        Axis names for messages.

    Returns
    -------
    axes : tuple of AxisGeometry or TransposedAxis
        The geometry with the solved padding, resolved again (its outputs are the targets).
    solutions : list of PaddingSolution or TransposedSolution

    Raises
    ------
    NoSolutionError
        For the first axis with no solution, naming it.

    Examples
    --------
    >>> axes, sol = solve_geometry((5, 6), (3, 3), (3, 3), stride=(2, 2), dilation=(1, 1))
    >>> [(a.pad_lo, a.pad_hi, a.output) for a in axes]
    [(1, 1, 3), (0, 1, 3)]
    """
    ndim = len(kernel_shape)
    names = tuple(names) if names is not None else axis_names(ndim)
    solutions: list[Any] = []
    for ax in range(ndim):
        try:
            if transposed:
                solutions.append(
                    solve_transposed(
                        input_shape[ax],
                        kernel_shape[ax],
                        targets[ax],
                        stride=stride[ax],
                        dilation=dilation[ax],
                        padding=None if padding is None else padding[ax],
                    )
                )
            else:
                solutions.append(
                    solve_padding(
                        input_shape[ax],
                        kernel_shape[ax],
                        targets[ax],
                        stride=stride[ax],
                        dilation=dilation[ax],
                    )
                )
        except NoSolutionError as exc:
            raise NoSolutionError(f"{names[ax]}: {exc}") from None
    pads = [(s.pad_lo, s.pad_hi) for s in solutions]
    axes: tuple[Axis, ...]
    if transposed:
        axes = resolve_transposed(
            input_shape,
            kernel_shape,
            stride=stride,
            padding=pads,
            dilation=dilation,
            output_padding=[s.output_padding for s in solutions],
        )
    else:
        axes = resolve(input_shape, kernel_shape, stride=stride, padding=pads, dilation=dilation)
    _solved_check(axes, targets)
    return axes, solutions
