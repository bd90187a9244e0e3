"""``convcli features``: apply a bank of kernels to one input and write one map per kernel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from convcli.cli import error_line, safe_path
from convcli.cli.options import check_kernel_specs, geometry_options

KINDS = ("auto", "image", "audio", "volume", "array")
ACTIVATIONS = ("none", "relu", "abs", "tanh", "sigmoid")

EPILOG = """\b
Examples:
  convcli features photo.png --bank edges -o edges/
  convcli features photo.png -k sobel:axis=0 -k sobel:axis=1 -k laplacian -o maps/
  convcli features photo.png --bank gabor:orientations=8,scales=3 --activation abs -o gabor/
  convcli features photo.jpg --weights conv1.npy --stride 2 --padding 3 --activation relu \\
      --pool max:2 -o conv1/
  convcli features song.wav --bank log-scales:sigma=4,scales=5 -o bands/
  convcli features ct_slices/ --bank edges:op=sobel -o ct_edges/

\b
The first layer of a trained network, on your own photo (PyTorch):
  import numpy as np, torchvision
  conv1 = torchvision.models.resnet18(weights="DEFAULT").conv1
  np.save("conv1.npy", conv1.weight.detach().numpy())     # (64, 3, 7, 7)
  # with a bias: np.savez("conv1.npz", weight=..., bias=conv.bias.detach().numpy())
then: convcli features photo.jpg --weights conv1.npy --stride 2 --padding 3 -o conv1/
Keras/TensorFlow kernels are (kh, kw, C, F): save w.transpose(3, 2, 0, 1).

\b
DIR receives: maps.npy (float32, (F, *out)); one viewable file per map, NN-<label>.png
(images: signed maps in a blue-white-red diverging colour map symmetric about 0, maps of
one sign in grey), NN-<label>.wav (audio, peak-normalised) or NN-<label>/ (volumes: one
PNG per plane); montage.png (every map labelled; volumes: the middle plane); maps.json
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
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
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
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command("features", epilog=EPILOG)
@click.argument("input_path", metavar="INPUT")
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
    "out_dir",
    metavar="DIR",
    required=True,
    help="Folder to write (created; must be empty unless --overwrite).",
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
    type=click.Choice(ACTIVATIONS, case_sensitive=False),
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
@click.option(
    "--as",
    "kind",
    type=click.Choice(KINDS),
    default="auto",
    show_default=True,
    help="Read the input as this kind of signal.",
)
@click.option("--gray", is_flag=True, help="Convert images and volumes to one grey channel first.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Write into a DIR that is not empty, replacing files of the same names.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's record as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No warnings.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print the plan (kernels, channels, pads, shapes, method) and tracebacks.",
)
def command(
    input_path: str,
    kernels: tuple[str, ...],
    bank: str | None,
    weights: str | None,
    out_dir: str,
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
    gray: bool,
    overwrite: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> int:
    """Apply a bank of kernels to INPUT and write one feature map per kernel to DIR.

    Give the bank as -k SPEC (repeated), --bank NAME[:ARGS] or --weights FILE (exactly one).
    Every map is computed in one pass, as a convolutional layer computes its channels:
    map f = sum over channels of (input channel (*) kernel f) + bias f, then the activation,
    then the pooling.  The geometry options apply to every map; the default pad mode is
    reflect for images and volumes, zero for audio and arrays.  --method is auto, direct
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
    from convcli.features._job import FeaturesOptions, run_features

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
        gray=gray,
        overwrite=overwrite,
        verbose=verbose,
    )

    def log(line: str) -> None:
        click.echo(f"convcli: {safe_path(input_path)}: {line}", err=True)

    rec = run_features(input_path, out_dir, opts, log=log if verbose else None)
    if as_json:
        click.echo(json.dumps({k: v for k, v in rec.items() if k != "traceback"}))
    if rec["status"] == "error":
        if verbose and rec.get("traceback"):
            click.echo(rec["traceback"].rstrip(), err=True)
        click.echo(error_line(rec["error"], rec["error_file"]), err=True)
        return 1
    if not quiet:
        if rec.get("alpha_dropped"):
            click.echo(
                f"convcli: warning: {safe_path(input_path)}: the alpha channel is not used "
                "(the maps describe the colour channels)",
                err=True,
            )
        if rec["source"].get("bias") == "--bias" and rec["source"].get("bias_in_file"):
            click.echo(
                f"convcli: warning: {safe_path(weights)}: --bias replaces the bias in the file",
                err=True,
            )
        bad = sum(1 for m in rec["maps"] if m.get("nonfinite"))
        if bad:
            click.echo(
                f"convcli: warning: {safe_path(input_path)}: {bad} maps hold NaN or Inf "
                "(drawn as 0)",
                err=True,
            )
    if verbose:
        shape = "x".join(str(n) for n in rec["shape"])
        click.echo(
            f"convcli: {safe_path(input_path)}: wrote {rec['shape'][0]} maps ({shape}) to "
            f"{safe_path(out_dir)} in {rec['seconds']:.2f} s",
            err=True,
        )
    return 0
