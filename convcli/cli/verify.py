"""``convcli verify``: re-run a ``--record`` and say whether its output is reproduced."""

from __future__ import annotations

import click

from convcli.cli import error_line, problem

EPILOG = """\b
Examples:
  convcli filter photo.png -k gaussian:2 -o soft.png --record
  convcli verify soft.png.record.json

\b
Exit status: 0 the output is reproduced bit for bit; 1 it is not (or the input has changed,
or the re-run failed); 2 the record cannot be read.
"""


@click.command("verify", epilog=EPILOG)
@click.argument("record", metavar="RECORD")
def command(record: str) -> int:
    """Re-run the filter a RECORD (OUTPUT.record.json) describes and compare the output."""
    from convcli.jobs.provenance import BadRecordError
    from convcli.jobs.verify import verify_record

    try:
        verdict = verify_record(record)
    except BadRecordError as exc:
        raise click.UsageError(problem(exc)) from None
    if verdict.reproduced:
        click.echo(f"{record}: {verdict.message}")
        return 0
    click.echo(error_line(verdict.message, record), err=True)
    return 1
