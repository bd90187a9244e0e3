"""``convcli info``: what a loader sees in each input."""

from __future__ import annotations

import json
from typing import Any

import click

from convcli.cli import error_line, safe_path, spelled
from convcli.cli.options import kind_opt, limits_options, make_limits


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return (
            "x".join(str(v) for v in value)
            if all(isinstance(v, int) for v in value)
            else str(value)
        )
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@click.command(
    "info",
    epilog="\b\nExamples:\n  convcli info photo.png song.wav ct_slices/\n"
    "  convcli info *.wav --json",
)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@kind_opt
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per input.")
@limits_options
def command(
    inputs: tuple[str, ...],
    kind: str,
    as_json: bool,
    max_pixels: int | None,
    max_voxels: int | None,
    max_frames: int | None,
    max_channels: int | None,
    max_samples: int | None,
) -> int:
    """Show kind, shape, dtype, mode, channels, rate, duration and slices of each input.

    Headers only (except with --as another kind, which loads the input): a header that
    claims more than the limits is refused, as filter would refuse it.
    """
    from convcli import io
    from convcli.jobs.record import EXPECTED, error_message

    limits = make_limits(max_pixels, max_voxels, max_frames, max_channels, max_samples)
    failed = 0
    for path in inputs:
        try:
            info = io.probe(path, kind=kind, limits=limits)
        except EXPECTED as exc:
            failed += 1
            problem = spelled(error_message(exc, path), getattr(exc, "params", ()))
            if as_json:
                click.echo(json.dumps({"input": path, "status": "error", "error": problem}))
            click.echo(error_line(problem, path), err=True)
            continue
        if as_json:
            click.echo(json.dumps({"input": path, "status": "ok", **info}, default=str))
        else:
            click.echo(safe_path(path))
            for key, value in info.items():
                if value is not None and key not in ("input", "path"):
                    click.echo(f"  {key}: {_fmt(value)}")
    return 1 if failed else 0
