"""``convcli animate``: draw a convolution geometry, one frame per output sample."""

from __future__ import annotations

import math
from typing import Any

import click

from convcli.cli import problem
from convcli.cli.options import size_options

EPILOG = """\b
Examples:
  convcli animate -i 5,5 -k 3,3 -s 2 -p 1 -o padding_strides.gif
  convcli animate -i 7,7 -k 3,3 -p 0 -d 2 -o dilation.png
  convcli animate -i 5,5 -k 3,3 -p 1 --pad-mode reflect --values 7 -o reflect.gif
  convcli animate -i 3,3 -k 3,3 -s 2 -p 1 --transposed -a 1 -o transposed.gif
  convcli animate -i 8 -k 3 -s 2 -p same --values -o frames/
  convcli animate --input-values "1 2 3; 4 5 6; 7 8 9" --kernel-values sobel:axis=1 -p 1 -o s.gif

\b
One frame per output sample, in row-major order (no extra frames); in a GIF or animated PNG
the last frame shows three times as long and the animation loops.  -o NAME.gif writes a GIF,
NAME.png an animated PNG, and a folder path (no extension, or ending in /) numbered PNG
frames frame-001.png, frame-002.png, ...  A transposed convolution is drawn as its
equivalent direct convolution (zeros inserted between the inputs, stride 1, kernel flipped).
"""


def _values_array(text: str, ndim: int | None, what: str) -> Any:
    from convcli.kernels import make_kernel, parse_spec

    parsed = parse_spec(text)
    if ndim is None:
        if parsed.kind == "inline" and parsed.array is not None:
            ndim = parsed.array.ndim
        elif parsed.kernel_def is not None:
            kdef = parsed.kernel_def
            ndim = 2 if kdef.supports(2) else (kdef.ndims or (1,))[0]
        else:
            ndim = 2
    array = make_kernel(parsed, ndim)
    if array.ndim not in (1, 2):
        raise click.UsageError(f"{what} {text!r} has {array.ndim} axes; animate draws 1-D and 2-D")
    return array


@click.command("animate", epilog=EPILOG)
@size_options(required=False, output_padding_help="With --transposed: extra size at the end.")
@click.option("--transposed", is_flag=True, help="Animate the transposed convolution.")
@click.option(
    "--pad-mode",
    metavar="NAME",
    default="zero",
    show_default=True,
    help="zero | constant | reflect | symmetric | replicate | circular (or an alias).",
)
@click.option("--pad-value", type=float, default=0.0, show_default=True, help="For constant.")
@click.option(
    "--values",
    "seed",
    type=int,
    is_flag=False,
    flag_value=0,
    default=None,
    metavar="[SEED]",
    help="Write random input and kernel values (integers, seeded; default seed 0) in the cells.",
)
@click.option(
    "--input-values",
    metavar="MATRIX",
    default=None,
    help='The input\'s values: an inline matrix ("1 2; 3 4") or file; implies --values.',
)
@click.option(
    "--kernel-values",
    metavar="SPEC",
    default=None,
    help="The kernel's values: any -k spec (sobel:axis=1, an inline matrix, a file).",
)
@click.option(
    "--output", "-o", metavar="PATH", required=True, help="NAME.gif, NAME.png, or a folder."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option(
    "--duration", type=click.IntRange(20, 60000), default=600, show_default=True, help="ms/frame."
)
@click.option(
    "--cell",
    type=click.IntRange(8, 200),
    default=None,
    help="Cell size in pixels.  [default: auto]",
)
@click.option(
    "--max-frames",
    type=click.IntRange(1),
    default=400,
    show_default=True,
    help="Refuse geometries with more output samples.",
)
def command(
    input_: str | None,
    kernel: str | None,
    stride: str,
    padding: str,
    dilation: str,
    output_padding: str,
    transposed: bool,
    pad_mode: str,
    pad_value: float,
    seed: int | None,
    input_values: str | None,
    kernel_values: str | None,
    output: str,
    overwrite: bool,
    duration: int,
    cell: int | None,
    max_frames: int,
) -> int:
    """Animate a convolution: the kernel sliding over the padded input, the output filling in.

    Draws the style of Dumoulin & Visin's conv_arithmetic figures: input cells, padding drawn
    per pad mode (copied cells show which input sample they copy), dilation gaps, the stride's
    kernel positions and never-read samples, the output grid; with --values, the numbers and
    each frame's dot product.  1-D and 2-D geometries, any that `convcli shape` accepts.
    """
    from convcli.errors import ArgumentError, ConvcliError, KernelSpecError
    from convcli.explain.animate import output_kind, plan_animation, save_animation
    from convcli.geometry import normalize_per_axis, parse_ints, parse_padding

    if not math.isfinite(pad_value):
        raise click.UsageError(f"--pad-value must be a finite number, got {pad_value}")
    if not transposed and output_padding.strip() not in ("0", ""):
        raise click.UsageError("--output-padding needs --transposed")
    try:
        output_kind(output)
        sizes = parse_ints(input_, "input") if input_ is not None else None
        ksizes = parse_ints(kernel, "kernel") if kernel is not None else None
        ndim = None
        if sizes is not None or ksizes is not None:
            ndim = max(len(sizes or ()), len(ksizes or ()))
        x = _values_array(input_values, ndim, "--input-values") if input_values else None
        if ndim is None and x is not None:
            ndim = x.ndim
        w = _values_array(kernel_values, ndim, "--kernel-values") if kernel_values else None
        if ndim is None and w is not None:
            ndim = w.ndim
        if ndim is None:
            raise click.UsageError("give --input and --kernel (sizes), or --input-values")
        if sizes is None:
            if x is None:
                raise click.UsageError("give --input N[,N..] or --input-values")
            sizes = tuple(x.shape)
        if ksizes is None:
            if w is None:
                raise click.UsageError("give --kernel K[,K..] or --kernel-values")
            ksizes = tuple(w.shape)
        if ndim not in (1, 2):
            raise click.UsageError(f"animate draws 1-D and 2-D geometries, not {ndim}-D")
        sizes_n = normalize_per_axis(sizes, ndim, "input")
        ksizes_n = normalize_per_axis(ksizes, ndim, "kernel")
        if x is not None and tuple(x.shape) != sizes_n:
            raise click.UsageError(
                f"--input-values has shape {_x(x.shape)} but --input is {_x(sizes_n)}"
            )
        if w is not None and tuple(w.shape) != ksizes_n:
            raise click.UsageError(
                f"--kernel-values has shape {_x(w.shape)} but --kernel is {_x(ksizes_n)}"
            )
        anim = plan_animation(
            sizes_n,
            ksizes_n,
            stride=normalize_per_axis(parse_ints(stride, "stride"), ndim, "stride"),
            padding=parse_padding(padding),
            dilation=normalize_per_axis(parse_ints(dilation, "dilation"), ndim, "dilation"),
            transposed=transposed,
            output_padding=normalize_per_axis(
                parse_ints(output_padding, "output-padding"), ndim, "output-padding", minimum=0
            ),
            pad_mode=pad_mode,
            pad_value=pad_value,
            x=x,
            w=w,
            seed=seed,
            max_frames=max_frames,
        )
    except (ArgumentError, KernelSpecError) as exc:
        raise click.UsageError(problem(exc)) from None
    try:
        kind, count, (width, height) = save_animation(
            anim, output, overwrite=overwrite, duration=duration, cell=cell
        )
    except ConvcliError as exc:
        raise click.ClickException(problem(exc)) from None
    what = {"gif": "GIF", "apng": "animated PNG", "folder": "PNG frames"}[kind]
    click.echo(f"{output}: {count} frame{'s' if count != 1 else ''} ({what}), {width}x{height} px")
    return 0


def _x(shape: Any) -> str:
    return "x".join(str(n) for n in shape)


__all__ = ["command"]
