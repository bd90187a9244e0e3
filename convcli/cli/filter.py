"""``convcli filter``: apply kernels one after another (a chain) to files."""

from __future__ import annotations

from typing import Any

import click

from convcli.cli import safe_path
from convcli.cli.options import (
    ALPHA_CHOICES,
    DTYPE_CHOICES,
    fail_fast_opt,
    geometry_options,
    gray_opt,
    jobs_opt,
    json_opt,
    kind_opt,
    limits_options,
    make_limits,
    max_memory_opt,
    max_taps_opt,
    progress_opt,
    quiet_opt,
    read_kernel_specs,
    read_options,
    series_options,
)
from convcli.cli.outputs import make_out_dir, plan_outputs
from convcli.cli.report import Report, indent, run_and_report

EPILOG = """\b
Examples:
  convcli filter photo.jpg -k gaussian:sigma=2 -o soft.jpg
  convcli filter photo.png -k sharpen -o crisp.png
  convcli filter photo.png -k sobel:axis=1 --abs --gray -o edges.png
  convcli filter photo.png -k "[1 2 1; 2 4 2; 1 2 1]/16" -k box:3 -o chain.png
  convcli filter song.wav -k lowpass:cutoff=1000 -o dull.wav
  convcli filter song.wav -k room_ir.wav --flip --padding full -o wet.wav
  convcli filter ct_slices/ -k gaussian:1.5 -o ct_smooth/
  convcli filter log.csv -k gaussian:sigma=3 --keep-columns time -o smooth.csv
  convcli filter scans/*.png -k box:5 --out-dir blurred/ -j 0 --json
"""


class FilterReport(Report):
    """What a ``filter`` record adds: each kernel's plan, NaN/Inf and clipping, a dry run."""

    def plan_lines(self, rec: dict[str, Any]) -> list[str]:
        """Each kernel's resolved plan, and the per-axis table ``convcli shape`` prints."""
        tables = rec.get("tables") or []
        lines = []
        for i, line in enumerate(rec.get("plans", []), 1):
            lines.append(f"convcli: {safe_path(rec['input'])}: kernel {i}: {line}")
            if i <= len(tables):
                lines.append(indent(tables[i - 1]))
        return lines

    def warnings(self, rec: dict[str, Any]) -> list[str]:
        """NaN/Inf samples in the input; samples clipped to the output type."""
        where = safe_path(rec["input"])
        found = []
        if rec.get("nonfinite"):
            found.append(
                f"{where}: {rec['nonfinite']} NaN/Inf samples in the input (NaN/Inf in the "
                f"result wherever a kernel window covers one)"
            )
        if rec.get("clipped"):
            found.append(f"{where}: {rec['clipped']} samples clipped to the {rec['dtype']} range")
        return found

    def finished(self, rec: dict[str, Any]) -> None:
        """Print a dry run's plan of the input on stdout (unless -v or --json has)."""
        if rec["status"] == "planned" and not self.as_json and not self.verbose:
            click.echo(
                f"{safe_path(rec['input'])} -> {safe_path(rec['output'])}: "
                + "; ".join(rec.get("plans", [])),
            )
            for table in rec.get("tables") or []:
                click.echo(indent(table))


@click.command("filter", epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "-k",
    "--kernel",
    "kernels",
    multiple=True,
    required=True,
    metavar="SPEC",
    callback=read_kernel_specs,
    help='A kernel: a name (gaussian:sigma=2), an inline matrix ("[1 2 1; 2 4 2; 1 2 1]/16") '
    "or a file (@k.txt, ir.wav).  Repeat for a chain.  See `convcli kernels`.",
)
@click.option("-o", "--output", metavar="PATH", default=None, help="Output file (one input).")
@click.option(
    "--out-dir",
    metavar="DIR",
    default=None,
    help="Write each output here under its input's name (created if missing).",
)
@geometry_options
@click.option("--normalize", is_flag=True, help="Divide each kernel by its sum (where not 0).")
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply the result: output = scale * result + bias.",
)
@click.option(
    "--bias",
    type=float,
    default=0.0,
    show_default=True,
    help="Add to the result, in the input's units (128 is mid-grey for 8-bit).",
)
@click.option("--abs", "abs_", is_flag=True, help="Take the absolute value (edge magnitudes).")
@click.option(
    "--rescale",
    is_flag=True,
    help="Stretch the result to the output type's full range (audio: peak-normalise).",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPE_CHOICES),
    default="auto",
    show_default=True,
    help="Output sample type; auto keeps the input's.",
)
@kind_opt
@series_options
@click.option(
    "--alpha",
    type=click.Choice(ALPHA_CHOICES),
    default="premultiply",
    show_default=True,
    help="RGBA/LA images: premultiply (no dark halos), filter separately, or keep alpha.",
)
@gray_opt
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never an input).")
@jobs_opt
@fail_fast_opt
@json_opt
@quiet_opt
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print the resolved plan (kernel, pads, output shape, method) and tracebacks.",
)
@max_memory_opt
@limits_options
@max_taps_opt
@click.option("--dry-run", is_flag=True, help="Plan every input and print it; write nothing.")
@progress_opt
def command(
    inputs: tuple[str, ...],
    kernels: tuple[str, ...],
    output: str | None,
    out_dir: str | None,
    stride: tuple[int, ...] | None,
    padding: Any,
    pad_mode: str | None,
    pad_value: float,
    dilation: tuple[int, ...] | None,
    flip: bool,
    method: str,
    normalize: bool,
    scale: float,
    bias: float,
    abs_: bool,
    rescale: bool,
    dtype: str,
    kind: str,
    columns: tuple[str, ...] | None,
    keep_columns: tuple[str, ...] | None,
    header: bool | None,
    alpha: str,
    gray: bool,
    overwrite: bool,
    jobs: int,
    fail_fast: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    max_memory: int | None,
    max_pixels: int | None,
    max_voxels: int | None,
    max_frames: int | None,
    max_channels: int | None,
    max_samples: int | None,
    max_taps: int | None,
    dry_run: bool,
    progress: bool | None,
) -> int:
    """Apply kernels one after another (a chain) to images, audio, series or volume stacks.

    The geometry options apply to every kernel of the chain.  Outputs keep the input's kind,
    format and sample type unless the output's extension or --dtype says otherwise.
    """
    from convcli.jobs.batch import Batch, worker_count
    from convcli.jobs.job import FilterOptions, Job, run_job

    read = read_options(columns, keep_columns, header)
    pairs = plan_outputs(inputs, output, out_dir)
    if not dry_run:
        make_out_dir(out_dir)
    workers = worker_count(jobs)
    opts = FilterOptions(
        kernels=kernels,
        stride=stride,
        padding=padding,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        method=method.lower(),
        normalize=normalize,
        scale=scale,
        bias=bias,
        abs=abs_,
        rescale=rescale,
        dtype=dtype,
        kind=kind,
        read=read,
        alpha=alpha,
        gray=gray,
        overwrite=overwrite,
        dry_run=dry_run,
        verbose=verbose,
        max_memory=max_memory,
        max_taps=max_taps,
        limits=make_limits(max_pixels, max_voxels, max_frames, max_channels, max_samples),
        jobs=max(1, min(workers, len(pairs))),
    )
    protect = tuple(inputs)
    batch = Batch(run_job, [Job(inp, out, protect) for inp, out in pairs], opts)
    return run_and_report(
        batch,
        FilterReport(quiet=quiet, verbose=verbose, as_json=as_json),
        workers=workers,
        fail_fast=fail_fast,
        progress=progress,
        label="filter",
        verb="planned" if dry_run else "done",
    )
