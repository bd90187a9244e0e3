"""``convcli kernels``: list the named kernels, or show one kernel's values."""

from __future__ import annotations

from typing import Any

import click

from convcli.cli import problem

EPILOG = """\b
Examples:
  convcli kernels
  convcli kernels gaussian:sigma=1.5
  convcli kernels sobel:axis=0 --ndim 3
  convcli kernels lowpass:cutoff=1000 --rate 44100
  convcli kernels "[1 2 1; 2 4 2; 1 2 1]/16"
  convcli kernels lowpass:cutoff=1000 --rate 44100 --response lowpass.png
  convcli kernels sobel:axis=1 --response sobel.png
  convcli kernels gaussian:sigma=1.5 -o blur.mat
  convcli kernels lowpass:cutoff=1000 --rate 44100 -o lowpass.wav

\b
--response PATH (or --plot PATH) also prints the kernel's DC gain, Nyquist gain, zero-sum
flag, separability rank and symmetry per axis (and, 1-D, its -3/-6 dB points), and draws its
magnitude response: 1-D in dB against Hz (log scale) with --rate, else against cycles/sample;
2-D as a dB image over row and column frequency.
"""


def _table(entries: list[Any]) -> str:
    rows = [(k.signature(), k.ndims_text(), k.summary) for k in entries]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a.ljust(w0)}  {b.ljust(w1)}  {c}" for a, b, c in rows)


def kernel_table() -> str:
    """Return the table of named kernels (name and parameters, dimensionalities, summary)."""
    from convcli.kernels import list_kernels

    return _table(list_kernels())


def bank_table() -> str:
    """Return the table of named banks (``convcli features --bank``)."""
    from convcli.kernels import list_banks

    return _table(list_banks())


@click.command("kernels", epilog=EPILOG)
@click.argument("spec", required=False)
@click.option(
    "--ndim",
    "-n",
    type=click.IntRange(1, 8),
    default=None,
    help="Build for a signal with this many axes.  [default: 2 where supported]",
)
@click.option(
    "--rate",
    "-r",
    type=float,
    default=None,
    help="Sample rate in Hz (for audio kernels such as lowpass and echo).",
)
@click.option(
    "--response",
    "--plot",
    "response",
    metavar="PATH",
    default=None,
    help="Draw the frequency response to PATH (.png) and print its properties.",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    default=None,
    help="Write the kernel to FILE (.txt .csv .npy .json .mat, or .wav/.aiff for 1-D with "
    "--rate); reading it back gives the same values.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --response or -o file.")
def command(
    spec: str | None,
    ndim: int | None,
    rate: float | None,
    response: str | None,
    output: str | None,
    overwrite: bool,
) -> int:
    """List every named kernel, or print SPEC's values, shape and sum."""
    if spec is None:
        if response is not None or output is not None:
            raise click.UsageError(f"{'--response' if response else '-o'} needs a kernel SPEC")
        click.echo(kernel_table())
        click.echo("\nbanks (convcli features --bank NAME[:ARGS]):")
        click.echo(bank_table())
        return 0
    if response is not None:
        if rate is not None and not 0 < rate < float("inf"):
            raise click.UsageError(f"--rate must be a positive number of Hz, got {rate:g}")
        _check_plot_path(response, overwrite)
    if output is not None:
        _check_kernel_path(output, overwrite)
    import numpy as np

    from convcli.errors import KernelSpecError
    from convcli.kernels import make_kernel, parse_spec

    try:
        parsed = parse_spec(spec)
        if ndim is None:
            kdef = parsed.kernel_def
            if kdef is not None:
                ndim = 2 if kdef.supports(2) else (kdef.ndims or (1,))[0]
            elif parsed.kind == "inline" and parsed.array is not None:
                ndim = parsed.array.ndim
            elif parsed.kind == "file" and parsed.path is not None:
                from convcli.kernels import read_kernel_file

                ndim = max(1, read_kernel_file(parsed.path).ndim)
            else:
                ndim = None
        kernel = make_kernel(spec, ndim if ndim is not None else 1, rate=rate)
        if ndim is None:  # a file: show it as stored
            kernel = np.squeeze(kernel) if kernel.ndim > 1 else kernel
    except KernelSpecError as exc:
        raise click.UsageError(problem(exc)) from None
    if response is not None:
        if kernel.ndim == 0:
            kernel = kernel.reshape(1)
        if kernel.ndim > 2:
            raise click.UsageError(
                f"--response draws 1-D and 2-D kernels; {spec!r} is {kernel.ndim}-D (use --ndim)"
            )
    with np.printoptions(precision=6, suppress=True, linewidth=100, threshold=2000):
        click.echo(np.array2string(kernel, separator=" "))
    click.echo(f"shape: {'x'.join(map(str, kernel.shape))}")
    click.echo(f"sum: {float(kernel.sum()):.6g}")
    if response is not None:
        _response(spec, kernel, rate, response, overwrite)
    if output is not None:
        _write(kernel, output, rate, overwrite)
    return 0


def _check_kernel_path(path: str, overwrite: bool) -> None:
    """Refuse, before any work, an ``-o`` path of a format not written, or that exists."""
    import os

    from convcli.errors import ConvcliError
    from convcli.io.atomic import check_output
    from convcli.kernels import WRITE_EXTENSIONS

    ext = os.path.splitext(path)[1].lower()
    if ext not in WRITE_EXTENSIONS:
        raise click.UsageError(
            f"-o {path!r}: cannot write a kernel as {ext or 'a file without an extension'}; "
            f"use {', '.join(WRITE_EXTENSIONS)}"
        )
    try:
        check_output(path, overwrite=overwrite)
    except ConvcliError as exc:
        raise click.ClickException(problem(exc)) from None


def _write(kernel: Any, path: str, rate: float | None, overwrite: bool) -> None:
    from convcli.errors import ConvcliError, KernelSpecError
    from convcli.kernels import write_kernel_file

    try:
        write_kernel_file(kernel, path, rate=rate, overwrite=overwrite)
    except KernelSpecError as exc:
        raise click.UsageError(problem(exc)) from None
    except ConvcliError as exc:
        raise click.ClickException(problem(exc)) from None
    click.echo(f"written: {path}")


def _check_plot_path(path: str, overwrite: bool) -> None:
    """Refuse, before any work, a plot path Pillow cannot write or that exists."""
    import os

    from convcli.errors import ConvcliError
    from convcli.io.atomic import check_output
    from convcli.io.drawings import picture_format

    ext = os.path.splitext(path)[1].lower()
    if picture_format(path) is None:
        raise click.UsageError(
            f"--response {path!r}: cannot write {ext or 'a file without an extension'}; use .png"
        )
    try:
        check_output(path, overwrite=overwrite)
    except ConvcliError as exc:
        raise click.ClickException(problem(exc)) from None


def _response(spec: str, kernel: Any, rate: float | None, path: str, overwrite: bool) -> None:
    from convcli.errors import ArgumentError, ConvcliError
    from convcli.explain.response import (
        format_properties,
        kernel_properties,
        plot_response,
        save_response,
    )

    hz = rate if kernel.ndim == 1 else None
    shape = "x".join(map(str, kernel.shape))
    title = f"{spec}  ({shape} taps" + (f", {rate:g} Hz)" if hz else ")")
    try:
        click.echo(format_properties(kernel_properties(kernel), rate=hz))
        image = plot_response(kernel, rate=hz, title=title)
    except ArgumentError as exc:
        raise click.UsageError(problem(exc)) from None
    try:
        save_response(image, path, overwrite=overwrite)
    except ConvcliError as exc:
        raise click.ClickException(problem(exc)) from None
    click.echo(f"response: {path} ({image.width}x{image.height})")
