"""The record of one job: what ``--json`` prints, and the one-line error it carries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from convcli.errors import ConvcliError

if TYPE_CHECKING:
    from convcli.jobs.options import FilterOptions

__all__ = ["error_message", "record_failure", "EXPECTED"]

#: What a job turns into a one-line error; anything else is an ``internal error`` (a bug).
EXPECTED = (ConvcliError, ValueError, OSError, MemoryError)


def error_message(exc: BaseException, path: str) -> str:
    """Return one line for the record's ``error``: the problem, without the input's name.

    The CLI prints ``convcli: error: <input>: <problem>``; loaders' messages start with the
    path they read, which would name the input twice.
    """
    if isinstance(exc, MemoryError):
        return "not enough memory for this input"
    if isinstance(exc, OSError) and not isinstance(exc, ConvcliError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = " ".join(str(exc).split())
    for spelling in dict.fromkeys((path, str(Path(path)), path.rstrip("/\\"))):
        if spelling and text.startswith(f"{spelling}: "):
            text = text[len(spelling) + 2 :]
            break
    return text or type(exc).__name__


def record_failure(
    record: dict[str, Any], exc: BaseException, path: str, verbose: bool = False
) -> None:
    """Put a job's failure in its record: ``error`` (one line), ``params``, ``traceback``.

    ``params`` are the parameters the message names (:class:`convcli.errors.Param`), so that
    the CLI can name its options; an exception outside :data:`EXPECTED` is a bug, said as
    ``internal error: <type>: <message>``.  Call it inside the ``except`` block (the
    traceback is the one being handled).
    """
    import traceback

    text = error_message(exc, path)
    if not isinstance(exc, EXPECTED):
        text = f"internal error: {type(exc).__name__}: {text}"
    record["error"] = text
    record["params"] = list(getattr(exc, "params", ()))
    if verbose:
        record["traceback"] = traceback.format_exc()


def _plans_to_record(plans: list[Any], record: dict[str, Any], opts: FilterOptions) -> None:
    record["methods"] = [p.method for p in plans]
    record["pads"] = [[list(p) for p in plan.pads] for plan in plans]
    record["plans"] = [p.describe() for p in plans]
    if opts.verbose or opts.dry_run:
        # The per-axis table `convcli shape` prints, for the job's real geometry.
        from convcli.explain.arithmetic import format_geometry_table

        names = ("time",) if record.get("kind") == "audio" else None
        record["tables"] = [
            format_geometry_table(p.geometry, names=names, explain_sizes=False) for p in plans
        ]
