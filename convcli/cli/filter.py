"""``convcli filter``: apply kernels one after another (a chain) to files."""

from __future__ import annotations

from typing import Any

import click

from convcli.cli import safe_path
from convcli.cli.options import (
    ALPHA_CHOICES,
    DTYPE_CHOICES,
    _finite,
    compat_opt,
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
    operation_options,
    progress_opt,
    quiet_opt,
    read_kernel_specs,
    read_options,
    rounding_opt,
    scheduler_opt,
    series_options,
)
from convcli.cli.outputs import make_out_dir, plan_outputs
from convcli.cli.report import Report, backend_for, indent, run_and_report

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
  convcli filter scans/*.png -k box:5 --out-dir blurred/ --scheduler tcp://10.0.0.5:8786
  convcli filter volume.zarr -k gaussian:2 -o smooth.zarr
  convcli filter dem.tif -k gaussian:2 --normalized --mask valid.png -o filled.tif
  convcli filter photo.png --transposed --stride 2 -k bilinear:2 -o twice.png
  convcli filter dry.wav -k hall_ll_lr_rl_rr.wav --flip --padding full --mix 0.3 -o wet.wav
  convcli filter photo.png -k "[1 2 1 2]/6" --compat opencv -o as_cv2.png
  convcli filter photo.png -k gaussian:2 -o soft.png --record
"""


def _in_samples(params: dict[str, list[float]]) -> str:
    """Say what lengths with units came to: ``sigma 1, 2, 2 samples (axis 0 first)``."""
    parts = [f"{name} {', '.join(f'{v:g}' for v in values)}" for name, values in params.items()]
    return "; ".join(parts) + " samples per axis (axis 0 first)"


def _ir_layout(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check ``--ir-layout INxOUT`` up front: a bad layout is a usage error (exit 2)."""
    if value is None:
        return None
    from convcli.errors import ArgumentError
    from convcli.reverb import parse_ir_layout

    try:
        n_in, n_out = parse_ir_layout(value)
    except ArgumentError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return f"{n_in}x{n_out}"


def _ir_lines(note: dict[str, Any], rate: float | None) -> list[str]:
    """Say what ``--trim-ir`` and ``--resample-kernel`` did to one impulse response."""
    lines = []
    name = safe_path(note["kernel"])
    if note.get("resampled") is not None and rate:
        lines.append(f"{name}: resampled from {note['resampled']:g} Hz to {rate:g} Hz")
    if "trimmed" in note:
        ms = f" ({1000 * note['trimmed'] / rate:.3g} ms)" if rate else ""
        lines.append(
            f"{name}: trimmed {note['trimmed']} samples{ms} of leading silence: the latency removed"
        )
    return lines


class FilterReport(Report):
    """What a ``filter`` record adds: each kernel's plan, NaN/Inf and clipping, a dry run."""

    def plan_lines(self, rec: dict[str, Any]) -> list[str]:
        """Each kernel's resolved plan, and the per-axis table ``convcli shape`` prints."""
        tables = rec.get("tables") or []
        resolved = rec.get("resolved") or []
        where = safe_path(rec["input"])
        lines = []
        for i, line in enumerate(rec.get("plans", []), 1):
            if i <= len(resolved) and resolved[i - 1]:
                lines.append(f"convcli: {where}: kernel {i}: {_in_samples(resolved[i - 1])}")
            lines.append(f"convcli: {where}: kernel {i}: {line}")
            if i <= len(tables):
                lines.append(indent(tables[i - 1]))
        if rec.get("written"):
            lines.append(f"convcli: {where}: written as {rec['written']}")
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
        """Print what the IR options did (stderr), and a dry run's plan (stdout).

        The IR lines (``--trim-ir``'s latency removed, ``--resample-kernel``'s rates) are
        left out by -q and --json (whose record has them); the plan by -v and --json.
        """
        if not (self.quiet or self.as_json):
            for note in rec.get("ir") or []:
                for line in _ir_lines(note, rec.get("rate")):
                    click.echo(f"convcli: {safe_path(rec['input'])}: {line}", err=True)
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
@operation_options
@click.option(
    "--ir-layout",
    metavar="INxOUT",
    default=None,
    callback=_ir_layout,
    help="Audio IR channels as an inputs x outputs matrix, input-major (2x2: LL,LR,RL,RR).  "
    "[default: 1 channel on every channel, one per channel, or N*N = true N x N]",
)
@click.option(
    "--resample-kernel",
    is_flag=True,
    help="Resample an audio IR recorded at another rate to the input's (polyphase, exact).",
)
@click.option(
    "--mix",
    metavar="WET",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Wet/dry blend 0..1 with the dry input delayed to the IR's direct sound.",
)
@click.option(
    "--predelay",
    metavar="SECONDS",
    type=click.FloatRange(min=0.0),
    default=0.0,
    callback=_finite,
    help="Delay the audio IR (the wet signal) by this many seconds.",
)
@click.option(
    "--trim-ir",
    is_flag=True,
    help="Drop the audio IR's leading silence (below -60 dBFS); the latency removed is reported.",
)
@click.option(
    "--ir-normalize",
    type=click.Choice(["none", "peak", "energy"]),
    default="none",
    show_default=True,
    help="Scale the audio IR: peak |h| = 1, or unit energy per output.",
)
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
@scheduler_opt
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
@compat_opt
@rounding_opt
@click.option(
    "--record",
    is_flag=True,
    help="Write OUTPUT.record.json beside each output (command, versions, kernels, geometry, "
    "SHA-256s) for `convcli verify`.",
)
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
    normalized: bool,
    mask: str | None,
    transposed: bool,
    output_padding: tuple[int, ...] | None,
    ir_layout: str | None,
    resample_kernel: bool,
    mix: float | None,
    predelay: float,
    trim_ir: bool,
    ir_normalize: str,
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
    scheduler: str | None,
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
    compat: str | None,
    rounding: str | None,
    record: bool,
) -> int:
    """Apply kernels one after another (a chain) to images, audio, series or volume stacks.

    The geometry options apply to every kernel of the chain.  Outputs keep the input's kind,
    format and sample type unless the output's extension or --dtype says otherwise.
    """
    from convcli.jobs.batch import Batch, worker_count
    from convcli.jobs.job import FilterOptions, Job, run_job

    if output_padding is not None and not transposed:
        raise click.UsageError("--output-padding applies to a --transposed convolution")
    if (normalized or mask is not None) and transposed:
        raise click.UsageError("--normalized (or --mask) and --transposed cannot be combined")
    read = read_options(columns, keep_columns, header)
    pairs = plan_outputs(inputs, output, out_dir)
    # a cluster is reached (or started) before anything is read, and closed with the command
    backend = click.get_current_context().with_resource(backend_for(scheduler))
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
        normalized=normalized or mask is not None,
        mask=mask,
        transposed=transposed,
        output_padding=output_padding,
        ir_layout=ir_layout,
        resample_kernel=resample_kernel,
        mix=mix,
        predelay=predelay,
        trim_ir=trim_ir,
        ir_normalize=ir_normalize,
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
        compat=compat.lower() if compat else None,
        rounding=rounding,
        record=record,
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
        backend=backend,
    )
