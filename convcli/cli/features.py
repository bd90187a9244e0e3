"""``convcli features``: apply a bank of kernels to one input and write one map per kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from convcli.cli import problem, safe_path
from convcli.cli.options import (
    ACTIVATION_CHOICES,
    check_kernel_specs,
    fail_fast_opt,
    geometry_options,
    gray_opt,
    jobs_opt,
    json_opt,
    kind_opt,
    progress_opt,
    quiet_opt,
    read_options,
    series_options,
)
from convcli.cli.outputs import make_out_dir, plan_outputs
from convcli.cli.report import Report, run_and_report

EPILOG = """\b
Examples:
  convcli features photo.png --bank edges -o edges/
  convcli features photo.png -k sobel:axis=0 -k sobel:axis=1 -k laplacian -o maps/
  convcli features photo.png --bank gabor:orientations=8,scales=3 --activation abs -o gabor/
  convcli features photo.jpg --weights conv1.npy --stride 2 --padding 3 --activation relu \\
      --pool max:2 -o conv1/
  convcli features song.wav --bank log-scales:sigma=4,scales=5 -o bands/
  convcli features log.csv --columns temp --bank log-scales:sigma=4,scales=3 -o bands/
  convcli features ct_slices/ --bank edges:op=sobel -o ct_edges/
  convcli features scans/*.png --bank edges --out-dir maps/ -j 0 --json

\b
The first layer of a trained network, on your own photo (PyTorch):
  import numpy as np, torchvision
  conv1 = torchvision.models.resnet18(weights="DEFAULT").conv1
  np.save("conv1.npy", conv1.weight.detach().numpy())     # (64, 3, 7, 7)
  # with a bias: np.savez("conv1.npz", weight=..., bias=conv.bias.detach().numpy())
then: convcli features photo.jpg --weights conv1.npy --stride 2 --padding 3 -o conv1/
Keras/TensorFlow kernels are (kh, kw, C, F): save w.transpose(3, 2, 0, 1).

\b
Each folder receives: maps.npy (float32, (F, *out)); one viewable file per map, NN-<label>.png
(images: signed maps in a blue-white-red diverging colour map symmetric about 0, maps of
one sign in grey), NN-<label>.wav (audio, peak-normalised) or NN-<label>/ (volumes: one
PNG per plane), NN-<label>.csv (a text series of one column: the input file, its column
replaced by the map); montage.png (every map labelled; volumes: the middle plane); maps.json
(each map's name, kernel shape, min/max/mean, and the geometry used).
"""


def _bank(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from convcli.errors import KernelSpecError
    from convcli.kernels import parse_bank

    try:
        parse_bank(value)
    except KernelSpecError as exc:
        raise click.BadParameter(problem(exc), ctx=ctx, param=param) from None
    return value


def _weights(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value)
    if not path.exists():
        raise click.BadParameter(f"{value} does not exist", ctx=ctx, param=param)
    if path.is_dir():
        raise click.BadParameter(
            f"{value} is a folder, not a .npy or .npz file", ctx=ctx, param=param
        )
    return value


def _bias(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[float, ...] | None:
    if value is None:
        return None
    import math

    try:
        values = tuple(float(v) for v in value.replace(" ", "").split(","))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not B or B,B,... (numbers)", ctx=ctx, param=param
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise click.BadParameter(f"{value!r} holds NaN or Inf", ctx=ctx, param=param)
    return values


def _pool(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from convcli.errors import ArgumentError
    from convcli.features._layer import parse_pool

    try:
        return parse_pool(value).text()
    except ArgumentError as exc:
        raise click.BadParameter(problem(exc), ctx=ctx, param=param) from None


class FeaturesReport(Report):
    """What a ``features`` record adds: the plan, the alpha and bias warnings, maps written."""

    hidden = ("traceback", "log", "params")

    def plan_lines(self, rec: dict[str, Any]) -> list[str]:
        """Return the bank's plan (kernels, channels, pads, shapes, method)."""
        return [f"convcli: {safe_path(rec['input'])}: {line}" for line in rec.get("log", [])]

    def warnings(self, rec: dict[str, Any]) -> list[str]:
        """Return the warnings: alpha not used; --bias over the file's bias; maps with NaN/Inf."""
        where = safe_path(rec["input"])
        found = []
        if rec.get("alpha_dropped"):
            found.append(
                f"{where}: the alpha channel is not used (the maps describe the colour channels)"
            )
        source = rec["source"]
        if source.get("bias") == "--bias" and source.get("bias_in_file"):
            found.append(f"{safe_path(source['weights'])}: --bias replaces the bias in the file")
        bad = sum(1 for m in rec["maps"] if m.get("nonfinite"))
        if bad:
            found.append(f"{where}: {bad} maps hold NaN or Inf (drawn as 0)")
        return found

    def finished(self, rec: dict[str, Any]) -> None:
        """Say (with -v) how many maps were written where, and how long it took."""
        if self.verbose:
            shape = "x".join(str(n) for n in rec["shape"])
            click.echo(
                f"convcli: {safe_path(rec['input'])}: wrote {rec['shape'][0]} maps ({shape}) to "
                f"{safe_path(rec['output'])} in {rec['seconds']:.2f} s",
                err=True,
            )


@click.command("features", epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "-k",
    "--kernel",
    "kernels",
    multiple=True,
    metavar="SPEC",
    callback=check_kernel_specs,
    help="A kernel (as for filter); repeat for a bank, one map per kernel, in order.",
)
@click.option(
    "--bank",
    metavar="NAME[:ARGS]",
    default=None,
    callback=_bank,
    help="A named bank: edges, compass, gabor, log-scales (see `convcli kernels`).",
)
@click.option(
    "--weights",
    metavar="FILE",
    default=None,
    callback=_weights,
    help="Layer weights: .npy (F, *k) or (F, C, *k), or .npz with 'weight' and optional "
    "'bias'.  (F, *k): each kernel applied to every channel, summed.",
)
@click.option(
    "-o",
    "--output",
    metavar="DIR",
    default=None,
    help="Folder to write, for one input (created; must be empty unless --overwrite).",
)
@click.option(
    "--out-dir",
    metavar="DIR",
    default=None,
    help="Write each input's maps to DIR/<input name without extension>/ (created if missing).",
)
@geometry_options
@click.option(
    "--bias",
    metavar="B[,B..]",
    default=None,
    callback=_bias,
    help="Add to each map: one value, or one per map (replaces a bias in the .npz).",
)
@click.option(
    "--activation",
    type=click.Choice(ACTIVATION_CHOICES, case_sensitive=False),
    default="none",
    show_default=True,
    help="Applied after the bias.",
)
@click.option(
    "--pool",
    metavar="MODE:N[:S]",
    default=None,
    callback=_pool,
    help="Pool after the activation: max:N or avg:N, windows N wide, S apart "
    "(default N); out = floor((in - N) / S) + 1.",
)
@kind_opt
@series_options
@gray_opt
@click.option(
    "--overwrite",
    is_flag=True,
    help="Write into a DIR that is not empty, replacing files of the same names.",
)
@jobs_opt
@fail_fast_opt
@json_opt
@quiet_opt
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print the plan (kernels, channels, pads, shapes, method) and tracebacks.",
)
@progress_opt
def command(
    inputs: tuple[str, ...],
    kernels: tuple[str, ...],
    bank: str | None,
    weights: str | None,
    output: str | None,
    out_dir: str | None,
    stride: tuple[int, ...] | None,
    padding: Any,
    pad_mode: str | None,
    pad_value: float,
    dilation: tuple[int, ...] | None,
    flip: bool,
    method: str,
    bias: tuple[float, ...] | None,
    activation: str,
    pool: str | None,
    kind: str,
    columns: tuple[str, ...] | None,
    keep_columns: tuple[str, ...] | None,
    header: bool | None,
    gray: bool,
    overwrite: bool,
    jobs: int,
    fail_fast: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    progress: bool | None,
) -> int:
    """Apply a bank of kernels to each INPUT and write one feature map per kernel.

    The maps of one input go to -o DIR; those of any number of inputs to --out-dir DIR, one
    folder per input named after it (DIR/photo/ for photo.png), in worker processes with -j.

    Give the bank as -k SPEC (repeated), --bank NAME[:ARGS] or --weights FILE (exactly one).
    Every map is computed in one pass, as a convolutional layer computes its channels:
    map f = sum over channels of (input channel (*) kernel f) + bias f, then the activation,
    then the pooling.  The geometry options apply to every map; the default pad mode is
    reflect for images and volumes, zero for audio, series and arrays.  --method is auto, direct
    (blocked im2col and one matrix product per block) or fft (the input's transform shared
    by every kernel); separable is for filter only.
    """
    given = [name for name, v in (("-k", kernels), ("--bank", bank), ("--weights", weights)) if v]
    if len(given) != 1:
        if not given:
            raise click.UsageError(
                "give the bank: -k SPEC (repeated), --bank NAME or --weights FILE"
            )
        raise click.UsageError(f"give one of -k, --bank and --weights, not {' and '.join(given)}")
    if method.lower() == "separable":
        raise click.UsageError(
            "--method separable is for one kernel (filter); features computes every map in one "
            "pass by direct (blocked im2col + matrix product) or fft: use auto, direct or fft"
        )
    if kernels and bias is not None and len(bias) not in (1, len(kernels)):
        raise click.UsageError(
            f"--bias has {len(bias)} values but there are {len(kernels)} kernels: give one value, "
            "or one per kernel"
        )
    read = read_options(columns, keep_columns, header)
    from convcli.features._job import FeaturesJob, FeaturesOptions, features_job
    from convcli.jobs.batch import Batch, worker_count

    pairs = plan_outputs(inputs, output, out_dir, stem=True, what="DIR", refuse_inputs=False)
    make_out_dir(out_dir)
    opts = FeaturesOptions(
        kernels=kernels,
        bank=bank,
        weights=weights,
        stride=stride,
        padding=padding,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        method=method.lower(),
        bias=bias,
        activation=activation.lower(),
        pool=pool,
        kind=kind,
        read=read,
        gray=gray,
        overwrite=overwrite,
        verbose=verbose,
    )
    protect = tuple(inputs)
    batch = Batch(features_job, [FeaturesJob(inp, out, protect) for inp, out in pairs], opts)
    return run_and_report(
        batch,
        FeaturesReport(quiet=quiet, verbose=verbose, as_json=as_json),
        workers=worker_count(jobs),
        fail_fast=fail_fast,
        progress=progress,
        label="features",
    )
