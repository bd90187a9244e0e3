"""Where each input's output goes: ``-o`` for one input, ``--out-dir`` for a batch.

Every output is planned before anything runs, so that two inputs that would write the same
output, or an output that is an input by another spelling, are usage errors (exit 2).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from convcli.cli import safe_path

__all__ = ["plan_outputs", "make_out_dir"]


def _output_for(inp: str, out_dir: Path, stem: bool, what: str) -> str:
    # abspath, so that "slices/", "." and ".." keep the folder's real name (never out/..)
    path = Path(os.path.abspath(inp))
    name = path.stem if stem else path.name
    if not name:
        raise click.UsageError(f"{safe_path(inp)} has no name to keep in --out-dir: use -o {what}")
    return str(out_dir / name)


def _index(paths: tuple[str, ...]) -> tuple[dict[str, str], dict[tuple[int, int], str]]:
    """Index paths by real path and by ``(st_dev, st_ino)``: one lookup per output."""
    reals: dict[str, str] = {}
    inodes: dict[tuple[int, int], str] = {}
    for p in paths:
        reals.setdefault(os.path.realpath(p), p)
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            continue
        inodes.setdefault((st.st_dev, st.st_ino), p)
    return reals, inodes


def plan_outputs(
    inputs: tuple[str, ...],
    output: str | None,
    out_dir: str | None,
    *,
    stem: bool = False,
    what: str = "PATH",
    refuse_inputs: bool = True,
) -> list[tuple[str, str]]:
    """Pair every input with its output: ``-o`` for one input, or ``--out-dir`` for any number.

    Parameters
    ----------
    inputs : tuple of str
        The inputs, in order.
    output : str or None
        ``-o/--output``.
    out_dir : str or None
        ``--out-dir``: each output is the input's name in it (its stem with ``stem``).
    stem : bool, optional
        Name each output after its input's stem (``features``: a folder per input).
    what : str, optional
        What ``-o`` takes, for messages (``PATH``, ``DIR``).
    refuse_inputs : bool, optional
        Refuse an output that is an input here; without, the job refuses it (``features``
        refuses to write into an input folder, in its own words).

    Returns
    -------
    list of (str, str)
        ``(input, output)`` in input order.

    Raises
    ------
    click.UsageError
        Both or neither of ``-o`` and ``--out-dir``; ``-o`` with several inputs; two inputs
        that would write the same output; an output that is an input (by real path or
        inode).
    """
    if output is not None and out_dir is not None:
        raise click.UsageError("give -o/--output or --out-dir, not both")
    if output is None and out_dir is None:
        raise click.UsageError(f"give -o/--output {what} (one input) or --out-dir DIR (any number)")
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
        pairs = [(inp, _output_for(inp, d, stem, what)) for inp in inputs]
    seen: dict[str, str] = {}
    reals, inodes = _index(inputs)
    for inp, out in pairs:
        key = os.path.realpath(out)
        if key in seen:
            raise click.UsageError(
                f"{safe_path(seen[key])} and {safe_path(inp)} would both write {safe_path(out)}"
            )
        seen[key] = inp
        other = reals.get(key) if refuse_inputs else None
        if other is None and refuse_inputs:
            try:
                st = os.stat(out)
                other = inodes.get((st.st_dev, st.st_ino))
            except (OSError, ValueError):
                pass
        if other is not None:
            raise click.UsageError(
                f"the output {safe_path(out)} is the input {safe_path(other)}: "
                "convcli never replaces an input"
            )
    return pairs


def make_out_dir(out_dir: str | None) -> None:
    """Create ``--out-dir`` (and its parents) if it is given and missing.

    Raises
    ------
    click.UsageError
        The folder cannot be created.
    """
    if out_dir is None:
        return
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.UsageError(f"cannot create --out-dir {out_dir}: {exc.strerror}") from None
