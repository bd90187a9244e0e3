"""``convcli shape``: the arithmetic of a convolution geometry, per axis, explained.

Standard library only (with click): ``convcli shape`` starts instantly.
"""

from __future__ import annotations

import json
from typing import Any

import click

from convcli.cli import problem
from convcli.cli.options import size_options
from convcli.errors import ArgumentError
from convcli.explain.arithmetic import (
    NoSolutionError,
    PaddingSolution,
    TransposedSolution,
    format_geometry_table,
    geometry_record,
    solve_geometry,
)
from convcli.geometry import (
    normalize_per_axis,
    parse_ints,
    parse_padding,
    resolve,
    resolve_transposed,
)

EPILOG = """\b
Examples:
  convcli shape --input 5,5 --kernel 3,3 --stride 2 --padding 1
  convcli shape -i 224,224 -k 7,7 -s 2 --padding same --json
  convcli shape -i 7 -k 3 -p 0 -d 2
  convcli shape -i 3 -k 3 -s 2 -p 1 --transposed -a 1
  convcli shape -i 224 -k 7 -s 2 --target 112
  convcli shape -i 56 -k 4 -s 2 --transposed --target 112

\b
--target N solves for the padding that gives N output samples per axis (the smallest
total, split as 'same' splits it, and the smallest symmetric one); with --transposed, for
the padding and output padding a (or only a, when --padding is given).  When no padding
can give N, shape prints one line and exits with status 1 (status 2 is for malformed
options).
"""


def _explicit(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _target_lines(solutions: list[Any], transposed: bool, names: tuple[str, ...]) -> list[str]:
    lines = []
    for name, sol in zip(names, solutions):
        if isinstance(sol, PaddingSolution):
            sym = "none" if sol.symmetric is None else f"padding {sol.symmetric}"
            lo, hi = sol.totals
            totals = f"{lo}" if lo == hi else f"{lo} to {hi}"
            lines.append(
                f"{name}: padding {sol.pad_lo}:{sol.pad_hi} (any total from {totals} works; "
                f"symmetric: {sym})"
            )
        elif isinstance(sol, TransposedSolution):
            text = f"{name}: padding {sol.pad_lo}:{sol.pad_hi}, output padding a = "
            text += str(sol.output_padding)
            if sol.symmetric is not None:
                text += f" (symmetric: padding {sol.symmetric[0]}, a = {sol.symmetric[1]})"
            lines.append(text)
    return lines


@click.command("shape", epilog=EPILOG)
@size_options(
    required=True,
    output_padding_help="With --transposed: extra size at the end (0 <= a < max(stride, "
    "dilation)).",
)
@click.option("--transposed", is_flag=True, help="Sizes of the transposed convolution instead.")
@click.option(
    "--target",
    "-t",
    metavar="N[,N..]",
    default=None,
    help="Solve for the padding (and, transposed, output padding) giving this output size.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def command(
    ctx: click.Context,
    input_: str,
    kernel: str,
    stride: str,
    padding: str,
    dilation: str,
    output_padding: str,
    transposed: bool,
    target: str | None,
    as_json: bool,
) -> int:
    """Compute, per axis, the output size of a convolution (or transposed convolution).

    Prints the input, kernel, effective kernel k' = d(k-1)+1, stride, dilation, padding
    before and after, output and the samples at the end that no stride reaches, the
    receptive field of one output sample, and which relationship of Dumoulin & Visin's "A
    guide to convolution arithmetic for deep learning" (1-15) gives the size, and why.
    """
    try:
        sizes = parse_ints(input_, "input")
        ksizes = parse_ints(kernel, "kernel")
        ndim = max(len(sizes), len(ksizes))
        sizes_n = normalize_per_axis(sizes, ndim, "input")
        ksizes_n = normalize_per_axis(ksizes, ndim, "kernel")
        strides = normalize_per_axis(parse_ints(stride, "stride"), ndim, "stride")
        dilations = normalize_per_axis(parse_ints(dilation, "dilation"), ndim, "dilation")
        extra = normalize_per_axis(
            parse_ints(output_padding, "output-padding"), ndim, "output-padding", minimum=0
        )
        pad = parse_padding(padding)
        if not transposed and _explicit(ctx, "output_padding"):
            raise ArgumentError("--output-padding needs --transposed")
        solutions: list[Any] = []
        axes: tuple[Any, ...]
        if target is not None:
            targets = normalize_per_axis(parse_ints(target, "target"), ndim, "target")
            if not transposed and _explicit(ctx, "padding"):
                raise ArgumentError("--target solves for the padding: leave out --padding")
            if transposed and _explicit(ctx, "output_padding"):
                raise ArgumentError(
                    "--target solves for the output padding: leave out --output-padding"
                )
            fixed = None
            if transposed and _explicit(ctx, "padding"):
                given = resolve_transposed(
                    sizes_n, ksizes_n, stride=strides, padding=pad, dilation=dilations
                )
                fixed = [(a.pad_lo, a.pad_hi) for a in given]
            axes, solutions = solve_geometry(
                sizes_n,
                ksizes_n,
                targets,
                stride=strides,
                dilation=dilations,
                transposed=transposed,
                padding=fixed,
            )
        elif transposed:
            axes = resolve_transposed(
                sizes_n,
                ksizes_n,
                stride=strides,
                padding=pad,
                dilation=dilations,
                output_padding=extra,
            )
        else:
            axes = resolve(sizes_n, ksizes_n, stride=strides, padding=pad, dilation=dilations)
    except NoSolutionError as exc:  # exit status 1: a valid question, no answer
        raise click.ClickException(problem(exc)) from None
    except ArgumentError as exc:
        raise click.UsageError(problem(exc)) from None
    record = geometry_record(axes)
    if target is not None:
        record["target"] = list(targets)
        if transposed:
            record["symmetric"] = [
                None if s.symmetric is None else list(s.symmetric) for s in solutions
            ]
        else:
            record["symmetric_padding"] = [s.symmetric for s in solutions]
    if as_json:
        click.echo(json.dumps(record))
        return 0
    from convcli.explain.arithmetic import axis_names

    names = axis_names(ndim)
    if target is not None:
        click.echo(f"target {'x'.join(map(str, targets))}:")
        for line in _target_lines(solutions, transposed, names):
            click.echo(f"  {line}")
    click.echo(format_geometry_table(axes, names=names))
    return 0


__all__ = ["command"]
