"""``convcli filter``: apply kernels one after another (a chain) to files."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from convcli.cli import error_line, safe_path
from convcli.cli.options import check_kernel_specs, geometry_options, max_memory_opt

DTYPES = ("auto", "uint8", "uint16", "int16", "int32", "float32", "float64")
KINDS = ("auto", "image", "audio", "volume", "array")

EPILOG = """\b
Examples:
  convcli filter photo.jpg -k gaussian:sigma=2 -o soft.jpg
  convcli filter photo.png -k sharpen -o crisp.png
  convcli filter photo.png -k sobel:axis=1 --abs --gray -o edges.png
  convcli filter photo.png -k "[1 2 1; 2 4 2; 1 2 1]/16" -k box:3 -o chain.png
  convcli filter song.wav -k lowpass:cutoff=1000 -o dull.wav
  convcli filter song.wav -k room_ir.wav --flip --padding full -o wet.wav
  convcli filter ct_slices/ -k gaussian:1.5 -o ct_smooth/
  convcli filter scans/*.png -k box:5 --out-dir blurred/ -j 0 --json
"""


class Report:
    """Counts outcomes and prints one line per problem; decides the exit code in one place."""

    def __init__(self, *, quiet: bool, verbose: bool, as_json: bool) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.as_json = as_json
        self.done = 0
        self.failed = 0

    def record(self, rec: dict[str, Any]) -> None:
        """Print what one input's record says."""
        if self.as_json:
            out = {k: v for k, v in rec.items() if k != "traceback"}
            click.echo(json.dumps(out))
        if self.verbose:
            for i, line in enumerate(rec.get("plans", []), 1):
                click.echo(f"convcli: {safe_path(rec['input'])}: kernel {i}: {line}", err=True)
        if rec["status"] == "error":
            self.failed += 1
            if self.verbose and rec.get("traceback"):
                click.echo(rec["traceback"].rstrip(), err=True)
            click.echo(error_line(rec["error"], rec["input"]), err=True)
            return
        self.done += 1
        if rec.get("clipped") and not self.quiet:
            click.echo(
                f"convcli: warning: {safe_path(rec['input'])}: {rec['clipped']} samples clipped "
                f"to the {rec['dtype']} range",
                err=True,
            )
        if rec["status"] == "planned" and not self.as_json and not self.verbose:
            click.echo(
                f"{safe_path(rec['input'])} -> {safe_path(rec['output'])}: "
                + "; ".join(rec.get("plans", [])),
            )

    @property
    def exit_code(self) -> int:
        """Return 0 if every input was done, else 1."""
        return 1 if self.failed else 0


def _output_for(inp: str, out_dir: Path) -> str:
    # abspath, so that "slices/", "." and ".." keep the folder's real name (never out/..)
    name = Path(os.path.abspath(inp)).name
    if not name:
        raise click.UsageError(f"{safe_path(inp)} has no name to keep in --out-dir: use -o PATH")
    return str(out_dir / name)


def _same(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a) == os.path.realpath(b) or os.path.samefile(a, b)
    except OSError:
        return False


def _plan_outputs(
    inputs: tuple[str, ...], output: str | None, out_dir: str | None
) -> list[tuple[str, str]]:
    if output is not None and out_dir is not None:
        raise click.UsageError("give -o/--output or --out-dir, not both")
    if output is None and out_dir is None:
        raise click.UsageError("give -o/--output PATH (one input) or --out-dir DIR (any number)")
    if output is not None:
        if len(inputs) > 1:
            raise click.UsageError(
                f"-o/--output takes one input, got {len(inputs)}: use --out-dir DIR for a batch"
            )
        pairs = [(inputs[0], output)]
    else:
        assert out_dir is not None
        d = Path(out_dir)
        if d.exists() and not d.is_dir():
            raise click.UsageError(f"--out-dir {out_dir} exists and is not a folder")
        pairs = [(inp, _output_for(inp, d)) for inp in inputs]
    seen: dict[str, str] = {}
    for inp, out in pairs:
        key = os.path.realpath(out)
        if key in seen:
            raise click.UsageError(
                f"{safe_path(seen[key])} and {safe_path(inp)} would both write {safe_path(out)}"
            )
        seen[key] = inp
        for other in inputs:
            if _same(out, other):
                raise click.UsageError(
                    f"the output {safe_path(out)} is the input {safe_path(other)}: "
                    "convcli never replaces an input"
                )
    return pairs


def _run_all(jobs: list[Any], opts: Any, workers: int, fail_fast: bool) -> Iterator[dict[str, Any]]:
    """Yield records in input order; with workers > 1, from a pool of processes."""
    from convcli.run import run_job

    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            rec = run_job(job, opts)
            yield rec
            if fail_fast and rec["status"] == "error":
                return
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = [pool.submit(run_job, job, opts) for job in jobs]
        try:
            for fut in futures:
                rec = fut.result()
                yield rec
                if fail_fast and rec["status"] == "error":
                    for f in futures:
                        f.cancel()
                    return
        except BaseException:
            for f in futures:
                f.cancel()
            raise


@click.command("filter", epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "-k",
    "--kernel",
    "kernels",
    multiple=True,
    required=True,
    metavar="SPEC",
    callback=check_kernel_specs,
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
    type=click.Choice(DTYPES),
    default="auto",
    show_default=True,
    help="Output sample type; auto keeps the input's.",
)
@click.option(
    "--as",
    "kind",
    type=click.Choice(KINDS),
    default="auto",
    show_default=True,
    help="Read the input as this kind of signal.",
)
@click.option(
    "--alpha",
    type=click.Choice(("premultiply", "separate", "keep")),
    default="premultiply",
    show_default=True,
    help="RGBA/LA images: premultiply (no dark halos), filter separately, or keep alpha.",
)
@click.option("--gray", is_flag=True, help="Convert images and volumes to one grey channel first.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never an input).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Worker processes for a batch; 0 = all cores.",
)
@click.option("--fail-fast", is_flag=True, help="Stop at the first input that fails.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per input on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No warnings and no progress bar.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print the resolved plan (kernel, pads, output shape, method) and tracebacks.",
)
@max_memory_opt
@click.option("--dry-run", is_flag=True, help="Plan every input and print it; write nothing.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr.  [default: on a terminal, unless -q]",
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
    scale: float,
    bias: float,
    abs_: bool,
    rescale: bool,
    dtype: str,
    kind: str,
    alpha: str,
    gray: bool,
    overwrite: bool,
    jobs: int,
    fail_fast: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    max_memory: int | None,
    dry_run: bool,
    progress: bool | None,
) -> int:
    """Apply kernels one after another (a chain) to images, audio or volume stacks.

    The geometry options apply to every kernel of the chain.  Outputs keep the input's kind,
    format and sample type unless the output's extension or --dtype says otherwise.
    """
    from convcli.run import FilterOptions, Job

    pairs = _plan_outputs(inputs, output, out_dir)
    if out_dir is not None and not dry_run:
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.UsageError(f"cannot create --out-dir {out_dir}: {exc.strerror}") from None
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
        alpha=alpha,
        gray=gray,
        overwrite=overwrite,
        dry_run=dry_run,
        verbose=verbose,
        max_memory=max_memory,
    )
    protect = tuple(inputs)
    job_list = [Job(inp, out, protect) for inp, out in pairs]
    workers = (os.cpu_count() or 1) if jobs == 0 else jobs
    report = Report(quiet=quiet, verbose=verbose, as_json=as_json)
    tty = sys.stderr.isatty()
    show = progress if progress is not None else (not quiet and tty)
    records = _run_all(job_list, opts, workers, fail_fast)
    if show and tty:
        with click.progressbar(
            length=len(job_list), label="filter", file=sys.stderr, show_pos=True, show_eta=True
        ) as bar:
            for rec in records:
                report.record(rec)
                bar.update(1)
    elif show:
        # --progress where stderr is no terminal: click's bar would print its label only, so
        # print one plain line per input instead.
        start = time.monotonic()
        for n, rec in enumerate(records, 1):
            report.record(rec)
            left = (time.monotonic() - start) / n * (len(job_list) - n)
            click.echo(f"convcli: progress: {n}/{len(job_list)} inputs, eta {left:.1f} s", err=True)
    else:
        for rec in records:
            report.record(rec)
    if not quiet and len(job_list) > 1 and not as_json:
        verb = "planned" if dry_run else "done"
        click.echo(
            f"convcli: {report.done} {verb}, {report.failed} failed, of {len(job_list)} inputs",
            err=True,
        )
    return report.exit_code
