"""The arithmetic of strided, padded, dilated convolution: the one implementation of SPEC.md.

Standard library only, so that ``convcli shape`` starts instantly.

Per spatial axis, with input size ``i``, kernel size ``k``, stride ``s``, dilation ``d``,
effective kernel size ``k' = d*(k-1) + 1`` and padding ``p_lo``, ``p_hi``::

    out = floor((i + p_lo + p_hi - k') / s) + 1
    y[o] = sum_j w[j] * x_padded[o*s + j*d]

Padding is one of

- ``"valid"``: no padding; an axis with no output sample is an error;
- ``"same"``: ``out = ceil(i / s)``, ``total = max((out-1)*s + k' - i, 0)``,
  ``p_lo = total // 2``, ``p_hi = total - p_lo`` (TensorFlow's rule);
- ``"full"``: ``p_lo = p_hi = k' - 1``;
- explicit: an int (every side of every axis), one int per axis (both sides), or one
  ``(before, after)`` pair per axis.  The CLI's text forms ``N``, ``N,M`` and ``A:B,C:D`` are
  parsed by :func:`parse_padding`.

Examples
--------
>>> output_shape((5, 5), (3, 3), stride=2, padding=1)
(3, 3)
>>> [(a.pad_lo, a.pad_hi, a.output) for a in resolve((10,), (4,), padding="same")]
[(1, 2, 10)]
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from convcli.errors import ArgumentError, Param

__all__ = [
    "AxisGeometry",
    "RowMap",
    "PaddingArg",
    "normalize_per_axis",
    "normalize_padding",
    "parse_padding",
    "parse_ints",
    "resolve",
    "output_shape",
    "TransposedAxis",
    "resolve_transposed",
    "transposed_output_shape",
    "centre_rows",
    "chain_centres",
]

PaddingArg = str | int | Sequence[int] | Sequence[Sequence[int]]
PADDING_WORDS = ("valid", "same", "full")


class RowMap(NamedTuple):
    """Where output samples sit on input samples along an axis: ``o`` on ``first + o*step``.

    The input sample under the centre of output ``o``'s kernel window
    (:meth:`AxisGeometry.centres`); a writer that copies what goes with each input row (the
    timestamps of a text series) reads it.

    Examples
    --------
    >>> centre_rows(10, 3, stride=2)
    RowMap(first=1, step=2)
    >>> RowMap(1, 2).then(RowMap(0, 3))
    RowMap(first=1, step=6)
    """

    first: int = 0
    step: int = 1

    def then(self, after: RowMap) -> RowMap:
        """Compose with the map of the next stage of a chain (whose input is our output)."""
        return RowMap(self.first + self.step * after.first, self.step * after.step)

    def source(self, o: int) -> int:
        """Return the input sample output ``o`` sits on (may be before 0 or past the end)."""
        return self.first + o * self.step


@dataclass(frozen=True)
class AxisGeometry:
    """The resolved geometry of one spatial axis.

    Attributes
    ----------
    size : int
        Input size ``i``.
    kernel : int
        Kernel size ``k``.
    stride : int
        Stride ``s``.
    dilation : int
        Dilation ``d``.
    pad_lo, pad_hi : int
        Padding before and after the input.
    output : int
        Output size.
    """

    size: int
    kernel: int
    stride: int
    dilation: int
    pad_lo: int
    pad_hi: int
    output: int

    @property
    def effective_kernel(self) -> int:
        """The dilated kernel's extent ``k' = d*(k-1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def padded(self) -> int:
        """The padded input's size ``i + p_lo + p_hi``."""
        return self.size + self.pad_lo + self.pad_hi

    @property
    def needed(self) -> int:
        """How much of the padded input the outputs read: ``(out-1)*s + k'``."""
        return (self.output - 1) * self.stride + self.effective_kernel

    @property
    def uncovered(self) -> int:
        """Padded samples at the end that no kernel placement reaches (stride remainder)."""
        return self.padded - self.needed

    def centres(self) -> RowMap:
        """Return where each output sits: the input sample under its window's centre tap.

        By the arithmetic ``y[o] = sum_j w[j] x[o*s + j*d - p_lo]``, the centre tap
        ``(k'-1)//2`` sits on sample ``o*s - p_lo + (k'-1)//2``.
        """
        return RowMap((self.effective_kernel - 1) // 2 - self.pad_lo, self.stride)


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ArgumentError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # ints and numpy integers, not floats
    except TypeError:
        raise ArgumentError(f"{name} must be an integer, got {value!r}") from None


def normalize_per_axis(
    value: int | Sequence[int], ndim: int, name: str, minimum: int = 1
) -> tuple[int, ...]:
    """Return one int per axis from an int or a sequence of ``ndim`` ints.

    Parameters
    ----------
    value : int or sequence of int
        The user's value.
    ndim : int
        Number of spatial axes.
    name : str
        Parameter name, for messages.
    minimum : int, optional
        Smallest allowed value.

    Returns
    -------
    tuple of int

    Raises
    ------
    ArgumentError
        Wrong length, not an integer, or below ``minimum``.

    Examples
    --------
    >>> normalize_per_axis(2, 3, "stride")
    (2, 2, 2)
    >>> normalize_per_axis([1, 2], 2, "dilation")
    (1, 2)
    """
    if isinstance(value, (str, bytes)):
        raise ArgumentError(f"{name} must be an integer or one integer per axis, got {value!r}")
    if isinstance(value, Sequence) or hasattr(value, "__len__"):
        items = [_as_int(v, name) for v in value]  # type: ignore[union-attr]
        if len(items) == 1:
            items = items * ndim
        if len(items) != ndim:
            raise ArgumentError(
                f"{name} has {len(items)} values {tuple(items)} but the kernel has {ndim} "
                f"axes: give one value, or one per axis"
            )
    else:
        items = [_as_int(value, name)] * ndim
    for v in items:
        if v < minimum:
            raise ArgumentError(f"{name} must be >= {minimum}, got {v}")
    return tuple(items)


def normalize_padding(padding: PaddingArg, ndim: int) -> str | tuple[tuple[int, int], ...]:
    """Normalise a padding argument to a word or one ``(before, after)`` pair per axis.

    Parameters
    ----------
    padding : str, int, sequence of int, or sequence of pairs
        ``"valid"``, ``"same"``, ``"full"``, an int, one int per axis, or one
        ``(before, after)`` pair per axis.  Strings in the CLI's forms (``"2"``, ``"1,2"``,
        ``"1:2,0:0"``) are accepted too.
    ndim : int
        Number of spatial axes.

    Returns
    -------
    str or tuple of (int, int)

    Examples
    --------
    >>> normalize_padding("SAME", 2)
    'same'
    >>> normalize_padding(1, 2)
    ((1, 1), (1, 1))
    >>> normalize_padding([(0, 1), 2], 2)
    ((0, 1), (2, 2))
    """
    if isinstance(padding, str):
        word = padding.strip().lower()
        if word in PADDING_WORDS:
            return word
        return normalize_padding(parse_padding(padding), ndim)
    if isinstance(padding, bool):
        raise ArgumentError(f"padding must be valid, same, full or integers, got {padding!r}")
    if not isinstance(padding, Sequence) and not hasattr(padding, "__len__"):
        p = _as_int(padding, "padding")
        pairs = [(p, p)] * ndim
    else:
        items: list[Any] = list(padding)  # type: ignore[arg-type]
        if len(items) == 1:
            items = items * ndim
        if len(items) != ndim:
            raise ArgumentError(
                f"padding has {len(items)} entries but the kernel has {ndim} axes: give one "
                f"value, or one value or (before, after) pair per axis"
            )
        pairs = []
        for item in items:
            if isinstance(item, (str, bytes)):
                raise ArgumentError(f"padding entry {item!r} is not an integer or a pair")
            if isinstance(item, Sequence) or hasattr(item, "__len__"):
                pair = list(item)
                if len(pair) != 2:
                    raise ArgumentError(
                        f"padding entry {tuple(pair)} must be one int or a (before, after) pair"
                    )
                pairs.append((_as_int(pair[0], "padding"), _as_int(pair[1], "padding")))
            else:
                p = _as_int(item, "padding")
                pairs.append((p, p))
    for lo, hi in pairs:
        if lo < 0 or hi < 0:
            raise ArgumentError(f"padding must be >= 0, got {(lo, hi)}")
    return tuple(pairs)


def parse_ints(text: str, name: str) -> tuple[int, ...]:
    """Parse the CLI form ``N`` or ``N,M,...`` into ints.

    Examples
    --------
    >>> parse_ints("2,1", "stride")
    (2, 1)
    """
    parts = [p.strip() for p in str(text).replace("x", ",").split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ArgumentError(f"{name} {text!r} is not N or N,M,... (integers)") from None
    if not values:
        raise ArgumentError(f"{name} is empty")
    return values


def parse_padding(text: str) -> str | int | list[int] | list[tuple[int, int]]:
    """Parse the CLI form of ``--padding``.

    ``valid``, ``same``, ``full``, ``N`` (every side of every axis), ``N,M,...`` (per axis,
    both sides) or ``A:B,C:D,...`` (per axis, before:after).

    Examples
    --------
    >>> parse_padding("full")
    'full'
    >>> parse_padding("2")
    2
    >>> parse_padding("1,2")
    [1, 2]
    >>> parse_padding("0:1,2:3")
    [(0, 1), (2, 3)]
    """
    word = str(text).strip().lower()
    if word in PADDING_WORDS:
        return word
    if word == "mirror":
        pad_mode = Param("pad_mode")
        raise ArgumentError(
            f"padding 'mirror' is a pad mode, not a padding: see {pad_mode}", params=[pad_mode]
        )
    parts = [p.strip() for p in word.split(",")]
    try:
        if any(":" in p for p in parts):
            pairs: list[tuple[int, int]] = []
            for p in parts:
                a, sep, b = p.partition(":")
                if not sep:
                    pairs.append((int(p), int(p)))
                else:
                    pairs.append((int(a), int(b)))
            return pairs
        ints = [int(p) for p in parts]
    except ValueError:
        raise ArgumentError(
            f"padding {text!r} is not one of valid, same, full, N, N,M,... or A:B,C:D,..."
        ) from None
    return ints[0] if len(ints) == 1 else ints


def _normalize(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    stride: int | Sequence[int],
    padding: PaddingArg,
    dilation: int | Sequence[int],
) -> tuple[
    tuple[int, ...],
    tuple[int, ...],
    tuple[int, ...],
    tuple[int, ...],
    str | tuple[tuple[int, int], ...],
]:
    """Check and normalise the arguments of :func:`resolve` and :func:`resolve_transposed`."""
    ishape = tuple(_as_int(v, "input size") for v in input_shape)
    kshape = tuple(_as_int(v, "kernel size") for v in kernel_shape)
    ndim = len(kshape)
    if ndim == 0:
        raise ArgumentError("the kernel has no axes: give at least one kernel size")
    if len(ishape) != ndim:
        raise ArgumentError(
            f"the input has {len(ishape)} spatial axes {ishape} but the kernel has {ndim} {kshape}"
        )
    if any(v < 1 for v in ishape):
        raise ArgumentError(f"input sizes must be >= 1, got {ishape}")
    if any(v < 1 for v in kshape):
        raise ArgumentError(f"kernel sizes must be >= 1, got {kshape}")
    strides = normalize_per_axis(stride, ndim, "stride")
    dilations = normalize_per_axis(dilation, ndim, "dilation")
    return ishape, kshape, strides, dilations, normalize_padding(padding, ndim)


def resolve(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    dilation: int | Sequence[int] = 1,
) -> tuple[AxisGeometry, ...]:
    """Resolve the geometry of every spatial axis.

    Parameters
    ----------
    input_shape : sequence of int
        Spatial sizes of the input.
    kernel_shape : sequence of int
        Kernel sizes, one per spatial axis.
    stride, padding, dilation
        As for :func:`convcli.convolve`.

    Returns
    -------
    tuple of AxisGeometry

    Raises
    ------
    ArgumentError
        Bad values, mismatched axis counts, or an axis without any output sample.
    """
    ishape, kshape, strides, dilations, pads = _normalize(
        input_shape, kernel_shape, stride, padding, dilation
    )
    axes = []
    for ax in range(len(kshape)):
        i, k, s, d = ishape[ax], kshape[ax], strides[ax], dilations[ax]
        keff = d * (k - 1) + 1
        if pads == "same":
            out = -(-i // s)
            total = max((out - 1) * s + keff - i, 0)
            lo, hi = total // 2, total - total // 2
        elif pads == "full":
            lo = hi = keff - 1
        elif pads == "valid":
            lo = hi = 0
        else:
            assert not isinstance(pads, str)
            lo, hi = pads[ax]
        span = i + lo + hi - keff
        if span < 0:
            raise ArgumentError(
                f"axis {ax}: the padded input ({i} + {lo} + {hi} = {i + lo + hi}) is smaller than "
                f"the effective kernel ({keff} = {d}*({k}-1)+1), so there is no output sample; "
                f"use padding 'same' or 'full', or a smaller kernel or dilation"
            )
        axes.append(AxisGeometry(i, k, s, d, lo, hi, span // s + 1))
    return tuple(axes)


def output_shape(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    dilation: int | Sequence[int] = 1,
) -> tuple[int, ...]:
    """Return the output's spatial shape, as :func:`convcli.convolve` would produce it.

    Parameters
    ----------
    input_shape : sequence of int
        Spatial sizes of the input (no channel axis).
    kernel_shape : sequence of int
        Kernel sizes, one per spatial axis.
    stride : int or sequence of int, optional
        Step between output samples, per axis.
    padding : str, int, or sequence, optional
        ``"valid"``, ``"same"`` (default), ``"full"``, or explicit padding; see
        :func:`convcli.convolve`.
    dilation : int or sequence of int, optional
        Spacing between kernel taps, per axis.

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> output_shape((4,), (3,), padding="valid")
    (2,)
    >>> output_shape((7, 7), (3, 3), padding=0, dilation=2)
    (3, 3)
    >>> output_shape((5,), (3,), stride=2, padding="same")
    (3,)
    """
    geo = resolve(input_shape, kernel_shape, stride=stride, padding=padding, dilation=dilation)
    return tuple(a.output for a in geo)


@dataclass(frozen=True)
class TransposedAxis:
    """The geometry of one axis of a transposed convolution (Dumoulin & Visin, relationship 14).

    The transposed convolution of a convolution with kernel ``k``, stride ``s``, dilation ``d``
    and padding ``p_lo``/``p_hi`` maps an input of size ``i`` to
    ``o = s*(i-1) + a + k' - p_lo - p_hi``, where ``a`` (output padding, ``0 <= a < s``)
    chooses among the input sizes that the forward convolution maps to the same size.
    """

    size: int
    kernel: int
    stride: int
    dilation: int
    pad_lo: int
    pad_hi: int
    output_padding: int
    output: int

    @property
    def effective_kernel(self) -> int:
        """The dilated kernel's extent ``k' = d*(k-1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1


def resolve_transposed(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    dilation: int | Sequence[int] = 1,
    output_padding: int | Sequence[int] = 0,
) -> tuple[TransposedAxis, ...]:
    """Resolve the geometry of a transposed convolution, per axis.

    ``padding`` names the padding of the forward convolution being transposed.  ``"same"``
    gives ``o = i*s`` (TensorFlow's rule: the forward ``same`` convolution maps ``i*s`` back to
    ``i``); ``"valid"`` gives ``s*(i-1) + k'``; ``"full"`` gives ``s*(i-1) - k' + 2``.

    Examples
    --------
    >>> [a.output for a in resolve_transposed((3,), (3,), stride=2, padding=1)]
    [5]
    >>> [a.output for a in resolve_transposed((3,), (3,), stride=2, padding=1, output_padding=1)]
    [6]
    >>> [a.output for a in resolve_transposed((4,), (3,), stride=2, padding="same")]
    [8]
    """
    ishape, kshape, strides, dilations, pads = _normalize(
        input_shape, kernel_shape, stride, padding, dilation
    )
    ndim = len(kshape)
    extra = normalize_per_axis(output_padding, ndim, "output_padding", minimum=0)
    axes = []
    for ax in range(ndim):
        i, k, s, d, a = ishape[ax], kshape[ax], strides[ax], dilations[ax], extra[ax]
        keff = d * (k - 1) + 1
        if a >= max(s, d):
            raise ArgumentError(
                f"axis {ax}: output_padding {a} must be smaller than the stride ({s}) or the "
                f"dilation ({d})"
            )
        if pads == "same":
            total = keff - s
            if total >= 0:
                lo, hi = total // 2, total - total // 2
            else:
                lo = hi = 0
                a += -total
        elif pads == "full":
            lo = hi = keff - 1
        elif pads == "valid":
            lo = hi = 0
        else:
            assert not isinstance(pads, str)
            lo, hi = pads[ax]
        out = s * (i - 1) + a + keff - lo - hi
        if out < 1:
            raise ArgumentError(
                f"axis {ax}: the transposed output size s*(i-1)+a+k'-p_lo-p_hi = "
                f"{s}*({i}-1)+{a}+{keff}-{lo}-{hi} = {out} is not positive"
            )
        axes.append(TransposedAxis(i, k, s, d, lo, hi, a, out))
    return tuple(axes)


def transposed_output_shape(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    dilation: int | Sequence[int] = 1,
    output_padding: int | Sequence[int] = 0,
) -> tuple[int, ...]:
    """Return the output shape of the transposed convolution; see :func:`resolve_transposed`.

    Examples
    --------
    >>> transposed_output_shape((2, 2), (3, 3), padding="valid")
    (4, 4)
    """
    geo = resolve_transposed(
        input_shape,
        kernel_shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
    )
    return tuple(a.output for a in geo)


def centre_rows(
    rows: int,
    kernel_size: int,
    *,
    stride: int = 1,
    padding: PaddingArg = "same",
    dilation: int = 1,
) -> RowMap:
    """Return where each output of one axis sits: the input sample under its window's centre.

    Parameters
    ----------
    rows : int
        Input size along the axis.
    kernel_size : int
        Taps of the kernel along the axis.
    stride, padding, dilation
        As for :func:`convcli.convolve` (one axis).

    Returns
    -------
    RowMap
        ``first = (k'-1)//2 - p_lo`` with ``k' = dilation*(kernel_size-1) + 1``, and
        ``step = stride``.

    Examples
    --------
    >>> centre_rows(10, 5), centre_rows(10, 5, padding="valid"), centre_rows(10, 5, padding="full")
    (RowMap(first=0, step=1), RowMap(first=2, step=1), RowMap(first=-2, step=1))
    >>> centre_rows(9, 3, stride=2), centre_rows(10, 3, stride=2), centre_rows(10, 1, stride=2)
    (RowMap(first=0, step=2), RowMap(first=1, step=2), RowMap(first=0, step=2))
    """
    (axis,) = resolve((rows,), (kernel_size,), stride=stride, padding=padding, dilation=dilation)
    return axis.centres()


def chain_centres(
    input_shape: Sequence[int],
    kernel_shapes: Sequence[Sequence[int]],
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    dilation: int | Sequence[int] = 1,
) -> RowMap:
    """Return where the outputs of a chain of kernels sit along the first axis.

    Each kernel's :meth:`AxisGeometry.centres` on the output of the one before, composed
    (:meth:`RowMap.then`): the input sample under the centre of every window that made it.

    Parameters
    ----------
    input_shape : sequence of int
        The spatial sizes of the chain's input.
    kernel_shapes : sequence of sequence of int
        The spatial shape of each kernel, in order.
    stride, padding, dilation
        As for :func:`convcli.convolve`, the same for every kernel.

    Returns
    -------
    RowMap
        Output sample ``o`` of the last kernel sits on input sample ``first + o*step``.

    Examples
    --------
    >>> chain_centres((20,), [(3,), (3,)], stride=2)
    RowMap(first=3, step=4)
    """
    where = RowMap()
    shape = tuple(input_shape)
    for kshape in kernel_shapes:
        axes = resolve(shape, kshape, stride=stride, padding=padding, dilation=dilation)
        where = where.then(axes[0].centres())
        shape = tuple(a.output for a in axes)
    return where
