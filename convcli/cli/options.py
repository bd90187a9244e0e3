"""Options shared by ``filter`` and ``features``, defined once.

Values are checked here, so anything knowable from the command line is a usage error
(exit 2) before any file is touched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from convcli.cli import problem
from convcli.errors import ArgumentError

F = TypeVar("F", bound=Callable[..., Any])

# Every choice list of the CLI, written out here so that `--help` imports no numpy; each is
# tested against its one source in the library (tests/test_contract.py).
#: ``--method``: :data:`convcli.engine.METHODS`.
METHOD_CHOICES = ("auto", "direct", "separable", "fft")
#: ``--as``: ``auto`` and :data:`convcli.io.KINDS`.
KIND_CHOICES = ("auto", "image", "audio", "volume", "array", "series")
#: ``--dtype``: :data:`convcli.io.DTYPE_CHOICES`.
DTYPE_CHOICES = ("auto", "uint8", "uint16", "int16", "int32", "float32", "float64")
#: ``--alpha``: :data:`convcli.jobs.alpha.ALPHA_MODES`.
ALPHA_CHOICES = ("premultiply", "separate", "keep")
#: ``--activation``: :data:`convcli.features.ACTIVATIONS`.
ACTIVATION_CHOICES = ("none", "relu", "abs", "tanh", "sigmoid")
#: ``--pad-mode``: :data:`convcli.padding.PAD_MODES`, and the aliases of
#: :data:`convcli.padding.ALIASES`.
#: ``--rounding``: :data:`convcli.io.dtypes.ROUNDINGS`.
ROUNDING_CHOICES = ("half-even", "half-up", "toward-zero", "q16-down")
PAD_MODE_CHOICES = ("zero", "constant", "reflect", "symmetric", "replicate", "circular")
PAD_MODE_ALIASES = ("zeros", "reflect101", "edge", "nearest", "clamp", "wrap")


def _ints(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    from convcli.geometry import normalize_per_axis, parse_ints

    if value is None:
        return None
    try:
        values = parse_ints(value, param.name or "value")
        normalize_per_axis(values, len(values), param.name or "value")
    except ArgumentError as exc:
        raise click.BadParameter(problem(exc), ctx=ctx, param=param) from None
    return values


def _padding(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from convcli.geometry import normalize_padding, parse_padding

    try:
        parsed = parse_padding(value)
        if not isinstance(parsed, str):
            normalize_padding(parsed, len(parsed) if isinstance(parsed, list) else 1)
    except ArgumentError as exc:
        raise click.BadParameter(problem(exc), ctx=ctx, param=param) from None
    return parsed


def _pad_mode(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value == "auto":
        return None
    from convcli.padding import canonical_mode

    try:
        return canonical_mode(value)
    except ArgumentError as exc:
        raise click.BadParameter(problem(exc), ctx=ctx, param=param) from None


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
    help=f"{' | '.join(PAD_MODE_CHOICES)} (aliases: {', '.join(PAD_MODE_ALIASES)}).  "
    "[default: reflect for images and volumes, zero for audio, series and arrays]",
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


kind_opt = click.option(
    "--as",
    "kind",
    type=click.Choice(KIND_CHOICES),
    default="auto",
    show_default=True,
    help="Read the input as this kind of signal.",
)
gray_opt = click.option(
    "--gray", is_flag=True, help="Convert images and volumes to one grey channel first."
)


def _column_names(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...] | None:
    """Split ``NAME,NAME`` (the option may be repeated); None when not given."""
    if not value:
        return None
    names = tuple(name.strip(" \t") for text in value for name in text.split(","))
    if not all(names):
        raise click.BadParameter(
            f"{','.join(value)!r} holds an empty column name (a name with a comma: give the "
            f"column's number)",
            ctx=ctx,
            param=param,
        )
    return names


columns_opt = click.option(
    "--columns",
    metavar="NAME[,NAME..]",
    multiple=True,
    callback=_column_names,
    help="Text series (CSV, TSV, .txt, .dat): filter these columns only (header names, or "
    "numbers from 1); every other column is written back as it came.",
)
keep_columns_opt = click.option(
    "--keep-columns",
    metavar="NAME[,NAME..]",
    multiple=True,
    callback=_column_names,
    help="Text series: write these columns back untouched (a numeric time or id column); "
    "the other numeric columns are filtered.",
)
header_opt = click.option(
    "--header/--no-header",
    default=None,
    help="Text series: the first record is (or is not) a header.  [default: decided from "
    "the content: text above numbers]",
)


def series_options(f: F) -> F:
    """Add the read options of text series: ``--columns``, ``--keep-columns``, ``--header``."""
    for opt in reversed((columns_opt, keep_columns_opt, header_opt)):
        f = opt(f)
    return f


def read_options(
    columns: tuple[str, ...] | None, keep_columns: tuple[str, ...] | None, header: bool | None
) -> tuple[tuple[str, Any], ...]:
    """Return the read options given, as :func:`convcli.io.load` takes them (pairs).

    Raises
    ------
    click.UsageError
        Both ``--columns`` and ``--keep-columns`` (exit 2).
    """
    if columns is not None and keep_columns is not None:
        raise click.UsageError(
            "give --columns (the columns filtered) or --keep-columns (the columns passed "
            "through), not both"
        )
    given = (("columns", columns), ("keep_columns", keep_columns), ("header", header))
    return tuple((name, value) for name, value in given if value is not None)


jobs_opt = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Worker processes for a batch; 0 = one per usable core (CPU affinity).",
)


def _scheduler(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from convcli.chunked.cluster import parse_local
    from convcli.errors import ArgumentError

    value = value.strip()
    try:
        parse_local(value)
    except ArgumentError:
        raise click.BadParameter(
            f"{value!r}: local:N takes a positive worker count", ctx=ctx, param=param
        ) from None
    return value


scheduler_opt = click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    callback=_scheduler,
    help="Run each input as a task on the Dask cluster at ADDRESS (tcp://host:8786), or on "
    "a local cluster of N worker processes (local:N).  Needs the dask extra.",
)
fail_fast_opt = click.option(
    "--fail-fast", is_flag=True, help="Stop at the first input that fails."
)
json_opt = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object per input on stdout."
)
quiet_opt = click.option("-q", "--quiet", is_flag=True, help="No warnings and no progress bar.")
progress_opt = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr.  [default: on a terminal, unless -q]",
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
        raise click.BadParameter(problem(exc), ctx=ctx, param=param) from None


max_memory_opt = click.option(
    "--max-memory",
    metavar="SIZE",
    default=None,
    callback=_size,
    help="Working-set budget (e.g. 512M, 2G): audio files, .npy arrays, videos, scientific "
    "TIFF and NIfTI whose in-memory filtering would need more are filtered slab by slab, "
    "other inputs are refused.  "
    "[default: half the memory (RAM, cgroup or RLIMIT_AS) over --jobs; slabs from 1G]",
)


def parse_count(text: str) -> int | None:
    """Parse a count: ``1000``, ``64M`` (10**6), ``2G``, ``1e8``, ``2**26``; ``none`` = no limit.

    Examples
    --------
    >>> parse_count("64M"), parse_count("2**26"), parse_count("1e3"), parse_count("none")
    (64000000, 67108864, 1000, None)
    """
    t = text.strip().replace("_", "")
    if t.lower() in ("none", "inf", "unlimited"):
        return None
    units = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    scale = 1
    if t[-1:].upper() in units:
        t, scale = t[:-1], units[t[-1:].upper()]
    try:
        if "**" in t:
            base, power = t.split("**", 1)
            value = int(base) ** int(power) if int(power) <= 64 else -1
        else:
            number = float(t)
            value = int(number) if number == int(number) else -1
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a count such as 1000, 64M, 2**26 or none") from None
    value *= scale
    if value < 1:
        raise ValueError(f"{text!r} must be a whole number of at least 1 (or none)")
    return value


def _count_option(name: str, default: int, what: str) -> Callable[[F], F]:
    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
        if value is None:
            return default
        try:
            return parse_count(value)
        except ValueError as exc:
            raise click.BadParameter(problem(exc), ctx=ctx, param=param) from None

    return click.option(
        name,
        metavar="N",
        default=None,
        callback=callback,
        help=f"{what}; 'none' for no limit.  [default: {default}]",
    )


# The defaults of convcli.io.limits and convcli.jobs.budget.MAX_TAPS, written out so that `--help`
# imports no numpy (tests/test_reliability_corpus.py checks that they agree).
_PIXELS, _VOXELS, _FRAMES, _CHANNELS, _SAMPLES, _TAPS = (
    1 << 26,
    1 << 32,
    1 << 16,
    1024,
    1 << 34,
    1 << 24,
)

max_pixels_opt = _count_option(
    "--max-pixels", _PIXELS, "Refuse an image, volume slice or frame of more pixels"
)
max_voxels_opt = _count_option(
    "--max-voxels", _VOXELS, "Refuse a volume of more pixels in all (planes x rows x cols)"
)
max_frames_opt = _count_option(
    "--max-frames", _FRAMES, "Refuse a volume of more planes (slices, pages, frames)"
)
max_channels_opt = _count_option("--max-channels", _CHANNELS, "Refuse more channels")
max_samples_opt = _count_option(
    "--max-samples", _SAMPLES, "Refuse audio of more samples (frames x channels)"
)
max_taps_opt = _count_option("--max-taps", _TAPS, "Refuse a kernel of more taps")


def _compat_names() -> list[str]:
    from convcli.presets import PRESET_NAMES

    return list(PRESET_NAMES)


compat_opt = click.option(
    "--compat",
    type=click.Choice(_compat_names(), case_sensitive=False),
    default=None,
    help="Compute as this peer does: correlation or convolution, pad mode, which tap of an "
    "even kernel is centred, strides, precision and rounding (docs/beyond-the-peers.md).",
)
rounding_opt = click.option(
    "--rounding",
    type=click.Choice(ROUNDING_CHOICES),
    default=None,
    help="How results are rounded to an integer output.  [default: half-even, or the "
    "--compat preset's]",
)


def limits_options(f: F) -> F:
    """Add the input budgets, checked from headers before anything is decoded.

    They are ``--max-pixels``, ``--max-voxels``, ``--max-frames``, ``--max-channels`` and
    ``--max-samples`` (see :mod:`convcli.io.limits`).
    """
    for opt in reversed(
        (max_pixels_opt, max_voxels_opt, max_frames_opt, max_channels_opt, max_samples_opt)
    ):
        f = opt(f)
    return f


def make_limits(
    max_pixels: int | None,
    max_voxels: int | None,
    max_frames: int | None,
    max_channels: int | None,
    max_samples: int | None,
) -> Any:
    """Return the :class:`convcli.io.Limits` the options say."""
    from convcli.io.limits import Limits

    return Limits(
        max_pixels=max_pixels,
        max_voxels=max_voxels,
        max_frames=max_frames,
        max_channels=max_channels,
        max_samples=max_samples,
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
            raise click.BadParameter(problem(exc), ctx=ctx, param=param) from None
        if parsed.kind == "file" and parsed.path is not None and not Path(parsed.path).is_file():
            what = "is not a regular file" if Path(parsed.path).exists() else "does not exist"
            raise click.BadParameter(f"kernel file {parsed.path} {what}", ctx=ctx, param=param)
    return value


def read_kernel_specs(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """Check every ``-k`` spec up front and read every kernel file once.

    A bad spec, and a kernel file that is not a valid kernel (ragged, empty, NaN, too large,
    not a regular file), are usage errors (exit 2) before any input is touched: one line that
    names the file and the problem, rather than the same error for every input of a batch.
    """
    from convcli.errors import KernelSpecError
    from convcli.kernels import parse_spec, read_kernel_file

    check_kernel_specs(ctx, param, value)
    for spec in value:
        parsed = parse_spec(spec)
        if parsed.kind != "file" or parsed.path is None:
            continue
        try:
            read_kernel_file(parsed.path)
        except KernelSpecError as exc:
            raise click.BadParameter(problem(exc), ctx=ctx, param=param) from None
    return value


def size_options(*, required: bool, output_padding_help: str) -> Callable[[F], F]:
    """Add the geometry options of ``shape`` and ``animate`` (sizes as text, parsed later).

    ``--input``, ``--kernel``, ``--stride``, ``--padding``, ``--dilation`` and
    ``--output-padding``, defined once for both commands.
    """
    opts = (
        click.option(
            "--input",
            "-i",
            "input_",
            metavar="N[,N..]",
            required=required,
            default=None,
            help="Input size per axis.",
        ),
        click.option(
            "--kernel",
            "-k",
            metavar="K[,K..]",
            required=required,
            default=None,
            help="Kernel size per axis.",
        ),
        click.option("--stride", "-s", metavar="S[,S..]", default="1", show_default=True),
        click.option(
            "--padding",
            "-p",
            metavar="MODE",
            default="same",
            show_default=True,
            help="valid | same | full | N | N,M,.. | A:B,C:D,..",
        ),
        click.option("--dilation", "-d", metavar="D[,D..]", default="1", show_default=True),
        click.option(
            "--output-padding",
            "-a",
            metavar="A[,A..]",
            default="0",
            show_default=True,
            help=output_padding_help,
        ),
    )

    def decorate(f: F) -> F:
        for opt in reversed(opts):
            f = opt(f)
        return f

    return decorate


def _output_padding(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, ...] | None:
    """Parse ``-a A[,A..]``: whole numbers >= 0 (a usage error, exit 2, otherwise)."""
    from convcli.errors import ArgumentError
    from convcli.geometry import parse_ints

    if value is None:
        return None
    try:
        values = parse_ints(value, "output_padding")
    except ArgumentError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    if any(v < 0 for v in values):
        raise click.BadParameter(f"must be >= 0, got {value}", ctx=ctx, param=param)
    return values


def operation_options(f: F) -> F:
    """Add the operation options of ``filter`` and ``features``.

    ``--normalized``, ``--mask``, ``--transposed`` and ``-a/--output-padding``.
    """
    opts = (
        click.option(
            "--normalized",
            is_flag=True,
            help="Normalized convolution: leave out NaN, masked and outside samples and "
            "divide by the kernel weight kept, y = (x*m conv w) / (m conv w).",
        ),
        click.option(
            "--mask",
            metavar="FILE",
            default=None,
            help="Certainty of each sample for --normalized (implies it): one channel of "
            "the input's shape, 0 = leave out, full scale = keep.  [default: the alpha "
            "channel, if any]",
        ),
        click.option(
            "--transposed",
            is_flag=True,
            help="Transposed convolution: upsample by the stride (the sizes `convcli shape "
            "--transposed` prints).",
        ),
        click.option(
            "--output-padding",
            "-a",
            metavar="A[,A..]",
            default=None,
            callback=_output_padding,
            help="Samples added at the end of each axis of a --transposed output.  [default: 0]",
        ),
    )
    for opt in reversed(opts):
        f = opt(f)
    return f
