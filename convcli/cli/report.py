"""What the user sees of a batch: one line per problem, warnings, progress, the summary line.

:func:`run_and_report` runs a :class:`convcli.jobs.batch.Batch` and prints each record as it
comes, in input order, through a :class:`Report`; each command says what its records add (its
plan lines, its warnings) in a subclass of it.  The counting and the exit code are
:class:`convcli.jobs.batch.Tally`'s.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import Any

import click

from convcli.cli import error_line, problem, spelled
from convcli.jobs.batch import Batch, Tally, run_batch

__all__ = ["Report", "run_and_report", "indent"]


def indent(text: str) -> str:
    """Indent every line of ``text`` by four spaces."""
    return "\n".join("    " + line for line in text.splitlines())


class Report:
    """Print what each record of a batch says, and count the records.

    Parameters
    ----------
    quiet : bool
        No warnings (and no summary line).
    verbose : bool
        Print each record's plan lines and the traceback of a failure.
    as_json : bool
        Print each record as one JSON object on stdout.
    """

    #: Record keys that are for this report only, never printed as JSON.
    hidden: tuple[str, ...] = ("traceback", "tables", "params")

    def __init__(self, *, quiet: bool, verbose: bool, as_json: bool) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.as_json = as_json
        self.tally = Tally()

    def record(self, rec: dict[str, Any]) -> None:
        """Print what one input's record says."""
        if rec.get("error") and rec.get("params"):
            rec = {**rec, "error": spelled(rec["error"], rec["params"])}
        if self.as_json:
            click.echo(json.dumps({k: v for k, v in rec.items() if k not in self.hidden}))
        if self.verbose:
            for line in self.plan_lines(rec):
                click.echo(line, err=True)
        self.tally.add(rec)
        if rec["status"] == "error":
            if self.verbose and rec.get("traceback"):
                click.echo(rec["traceback"].rstrip(), err=True)
            click.echo(error_line(rec["error"], rec.get("error_file") or rec["input"]), err=True)
            return
        if not self.quiet:
            for warning in self.warnings(rec):
                click.echo(f"convcli: warning: {warning}", err=True)
        self.finished(rec)

    def plan_lines(self, rec: dict[str, Any]) -> list[str]:
        """Return the lines ``-v`` prints for a record (on stderr)."""
        return []

    def warnings(self, rec: dict[str, Any]) -> list[str]:
        """Return the warnings a done record gives (each printed as ``convcli: warning: ...``)."""
        return []

    def finished(self, rec: dict[str, Any]) -> None:
        """Print what a done record adds once its warnings are out."""

    @property
    def exit_code(self) -> int:
        """Return 0 if every input was done, else 1."""
        return self.tally.exit_code


def _show(
    records: Iterable[dict[str, Any]], report: Report, total: int, show: bool, label: str
) -> None:
    """Report every record, with a progress bar on a terminal or a line per input elsewhere."""
    tty = sys.stderr.isatty()
    if show and tty:
        with click.progressbar(
            length=total, label=label, file=sys.stderr, show_pos=True, show_eta=True
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
            left = (time.monotonic() - start) / n * (total - n)
            click.echo(f"convcli: progress: {n}/{total} inputs, eta {left:.1f} s", err=True)
    else:
        for rec in records:
            report.record(rec)


def run_and_report(
    batch: Batch,
    report: Report,
    *,
    workers: int,
    fail_fast: bool,
    progress: bool | None,
    label: str,
    verb: str = "done",
) -> int:
    """Run a batch, report every record in input order, then the summary line.

    Parameters
    ----------
    batch : Batch
        The jobs.
    report : Report
        Prints the records.
    workers : int
        Worker processes (:func:`convcli.jobs.batch.run_batch`).
    fail_fast : bool
        Stop at the first failed input.
    progress : bool or None
        Show progress on stderr (None: on a terminal, unless quiet).
    label : str
        The progress bar's label (the command's name).
    verb : str, optional
        What the summary says of the inputs that went well (``done``, ``planned``).

    Returns
    -------
    int
        The exit code: 0 if every input was done, else 1.

    Raises
    ------
    click.ClickException
        The batch could not go on (a worker process ended unexpectedly).
    """
    from convcli.errors import BatchError

    total = len(batch.jobs)
    show = progress if progress is not None else (not report.quiet and sys.stderr.isatty())
    try:
        _show(run_batch(batch, workers=workers, fail_fast=fail_fast), report, total, show, label)
    except BatchError as exc:
        raise click.ClickException(problem(exc)) from None
    if not report.quiet and total > 1 and not report.as_json:
        click.echo(f"convcli: {report.tally.summary(total, verb)}", err=True)
    return report.exit_code
