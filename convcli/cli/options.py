"""Options shared by ``filter`` and ``features``, defined once.

Values are checked here, so anything knowable from the command line is a usage error
(exit 2) before any file is touched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from convcli.errors import ArgumentError

F = TypeVar("F", bound=Callable[..., Any])

METHOD_CHOICES = ("auto", "direct", "separable", "fft")


def _ints(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    from convcli.geometry import normalize_per_axis, parse_ints

    if value is None:
        return None
    try:
        values = parse_ints(value, param.name or "value")
        normalize_per_axis(values, len(values), param.name or "value")
    except ArgumentError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return values


def _padding(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from convcli.geometry import normalize_padding, parse_padding

    try:
        parsed = parse_padding(value)
        if not isinstance(parsed, str):
            normalize_padding(parsed, len(parsed) if isinstance(parsed, list) else 1)
    except ArgumentError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return parsed


def _pad_mode(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value == "auto":
        return None
    from convcli.padding import canonical_mode

    try:
        return canonical_mode(value)
    except ArgumentError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}", ctx=ctx, param=param)
    return value


stride_opt = click.option(
    "--stride",
    "-s",
    metavar="S[,S..]",
    default=None,
    callback=_ints,
    help="Step between output samples: one value, or one per axis.  [default: 1]",
)
padding_opt = click.option(
    "--padding",
    "-p",
    metavar="MODE",
    default="same",
    show_default=True,
    callback=_padding,
    help="valid | same | full | N | N,M,.. (per axis) | A:B,C:D,.. (per axis, before:after).",
)
pad_mode_opt = click.option(
    "--pad-mode",
    metavar="NAME",
    default=None,
    callback=_pad_mode,
    help="zero | constant | reflect | symmetric | replicate | circular (aliases: zeros, "
    "reflect101, edge, nearest, clamp, wrap).  [default: reflect for images and volumes, "
    "zero for audio and arrays]",
)
pad_value_opt = click.option(
    "--pad-value",
    type=float,
    default=0.0,
    show_default=True,
    callback=_finite,
    help="Fill value of --pad-mode constant, in the input's units.",
)
dilation_opt = click.option(
    "--dilation",
    "-d",
    metavar="D[,D..]",
    default=None,
    callback=_ints,
    help="Spacing between kernel taps: one value, or one per axis.  [default: 1]",
)
flip_opt = click.option(
    "--flip",
    is_flag=True,
    default=False,
    help="Reverse the kernel on every axis: true convolution (numpy.convolve, "
    "scipy.ndimage.convolve).  The default is correlation (PyTorch, OpenCV filter2D).",
)
method_opt = click.option(
    "--method",
    type=click.Choice(METHOD_CHOICES, case_sensitive=False),
    default="auto",
    show_default=True,
    help="Every method gives the same result within float tolerance; auto picks the fastest.",
)


def parse_size(text: str) -> int:
    """Parse a size in bytes: ``1000``, ``512K``, ``256M``, ``2G``, ``1.5GiB`` (powers of 1024).

    Examples
    --------
    >>> parse_size("512M"), parse_size("2g"), parse_size("1000")
    (536870912, 2147483648, 1000)
    """
    units = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise ValueError(f"{text!r} is not a size such as 512M or 2G") from None
    if not value > 0:
        raise ValueError(f"{text!r} must be more than 0 bytes")
    return int(value)


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


max_memory_opt = click.option(
    "--max-memory",
    metavar="SIZE",
    default=None,
    callback=_size,
    help="Working-set budget (e.g. 512M, 2G): audio files and .npy arrays whose in-memory "
    "filtering would need more are filtered slab by slab.  [default: 1G]",
)


def geometry_options(f: F) -> F:
    """Add the shared geometry options to a command.

    They are stride, padding, pad mode and value, dilation, flip and method.
    """
    for opt in reversed(
        (stride_opt, padding_opt, pad_mode_opt, pad_value_opt, dilation_opt, flip_opt, method_opt)
    ):
        f = opt(f)
    return f


def check_kernel_specs(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """Parse every ``-k`` spec up front: a bad spec is a usage error (exit 2)."""
    from convcli.errors import KernelSpecError
    from convcli.kernels import parse_spec

    for spec in value:
        try:
            parsed = parse_spec(spec)
        except KernelSpecError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        if parsed.kind == "file" and parsed.path is not None and not Path(parsed.path).is_file():
            raise click.BadParameter(
                f"kernel file {parsed.path} does not exist", ctx=ctx, param=param
            )
    return value
