"""``convcli info``: what a loader sees in each input."""

from __future__ import annotations

import json
from typing import Any

import click

from convcli.cli import error_line, safe_path, spelled
from convcli.cli.options import (
    kind_opt,
    limits_options,
    make_limits,
    read_options,
    series_options,
)


def _spacing(info: dict[str, Any]) -> str:
    """Say a sample spacing: ``2 x 1 x 1 mm``, ``0.04 s x 1 x 1`` (no unit: in samples)."""
    values, units = info["spacing"], info.get("units") or [""] * len(info["spacing"])
    if len(set(units)) == 1:
        text = " x ".join(f"{v:g}" for v in values)
        return f"{text} {units[0]}".rstrip()
    return " x ".join(f"{v:g} {u}".rstrip() for v, u in zip(values, units))


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        if not value:
            return "-"  # none (a series with no pass-through column)
        if all(isinstance(v, int) for v in value):
            return "x".join(str(v) for v in value)
        if all(isinstance(v, str) for v in value):
            return ", ".join(v if v.strip() == v and v else repr(v) for v in value) or "-"
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and (not value or value.strip() != value):
        return repr(value)  # a tab or a blank delimiter
    return str(value)


@click.command(
    "info",
    epilog="\b\nExamples:\n  convcli info photo.png song.wav ct_slices/\n"
    "  convcli info *.wav --json\n  convcli info log.csv --keep-columns time",
)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@kind_opt
@series_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per input.")
@limits_options
def command(
    inputs: tuple[str, ...],
    kind: str,
    columns: tuple[str, ...] | None,
    keep_columns: tuple[str, ...] | None,
    header: bool | None,
    as_json: bool,
    max_pixels: int | None,
    max_voxels: int | None,
    max_frames: int | None,
    max_channels: int | None,
    max_samples: int | None,
) -> int:
    """Show kind, shape, dtype, mode, channels, rate, duration and slices of each input.

    Videos, scientific TIFFs and NIfTI volumes add what their headers say: codec and
    streams, axes and compression, the sample spacing with its unit per axis (what
    lengths such as gaussian:sigma=2mm are converted with).

    Headers only (except with --as another kind, which loads the input): a header that
    claims more than the limits is refused, as filter would refuse it.  A text series (CSV,
    TSV, .txt, .dat) has no header that counts its rows: it is read once, every cell
    checked, and its columns, delimiter, decimal mark and NaN count are shown.
    """
    from convcli import io
    from convcli.jobs.record import EXPECTED, error_message

    limits = make_limits(max_pixels, max_voxels, max_frames, max_channels, max_samples)
    options = dict(read_options(columns, keep_columns, header))
    failed = 0
    for path in inputs:
        try:
            info = io.probe(path, kind=kind, limits=limits, options=options)
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
                if value is None or key in ("input", "path", "units"):
                    continue
                shown = _spacing(info) if key == "spacing" else _fmt(value)
                click.echo(f"  {key}: {shown}")
    return 1 if failed else 0
