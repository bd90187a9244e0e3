"""The ``convcli`` command line: a thin Click layer over the library.

Only this package imports click.  Commands are imported when they are run, so
``convcli --help`` loads neither numpy nor scipy, Pillow or soundfile.

Exit codes: 0 every input done; 1 some input failed; 2 a usage error; 130 interrupted
(SIGINT), 143 terminated (SIGTERM), 129 hung up (SIGHUP).  Every error is one line,
``convcli: error: <file>: <problem>``; a traceback only with ``-v``.

A signal is turned into ``KeyboardInterrupt``, so that every output being written removes its
temporary file as the exception unwinds; then the process ends by that same signal (as Python
itself does after an uncaught ``KeyboardInterrupt``), so that the shell sees status 128+N and
a shell loop stops too.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Iterable
from typing import Any

import click

from convcli import __version__
from convcli.errors import ConvcliError, Param, join_words, spell
from convcli.jobs.process import (
    STOP_SIGNALS,
    catch_lost_interruptions,
    caught_signal,
    on_stop_signal,
    quiet_warnings,
    stopped,
)

__all__ = ["cli", "main"]

#: name -> (module, short help). Listed here so that ``--help`` needs no command imports.
COMMANDS: dict[str, tuple[str, str]] = {
    "filter": ("convcli.cli.filter", "Apply kernels one after another (a chain) to files."),
    "features": ("convcli.cli.features", "Apply a bank of kernels and write one map per kernel."),
    "shape": ("convcli.cli.shape", "Compute the output size of a convolution geometry."),
    "kernels": ("convcli.cli.kernels", "List the named kernels, or show one kernel's values."),
    "animate": ("convcli.cli.animate", "Animate a convolution geometry (GIF, APNG, PNG frames)."),
    "info": ("convcli.cli.info", "Show what convcli sees in input files."),
    "verify": ("convcli.cli.verify", "Re-run a --record and check the output bit for bit."),
}

EPILOG = """\b
Examples:
  convcli filter photo.jpg -k gaussian:sigma=2 -o soft.jpg
  convcli filter photo.png -k sobel:axis=1 --abs -o edges.png
  convcli filter song.wav -k room_ir.wav --flip --padding full -o wet.wav
  convcli filter scans/*.png -k box:5 --out-dir blurred/ -j 0
  convcli shape --input 5,5 --kernel 3,3 --stride 2 --padding 1
  convcli kernels
"""


#: The library parameters whose option is not ``--`` and the name with dashes.
OPTION_NAMES = {"kind": "--as", "kernels": "-k"}


def option_for(param: Param) -> str:
    """Spell a parameter a library message names as the option that sets it.

    Examples
    --------
    >>> option_for(Param("max_pixels")), option_for(Param("kind", "image"))
    ('--max-pixels', '--as image')
    >>> option_for(Param("overwrite", True)), option_for(Param("dtype", "uint8", "uint16"))
    ('--overwrite', '--dtype uint8 or uint16')
    >>> option_for(Param("bias", 2.0))
    '--bias 2'
    """
    option = OPTION_NAMES.get(param.name, "--" + param.name.replace("_", "-"))
    values = [f"{v:g}" if isinstance(v, float) else str(v) for v in param.values if v is not True]
    return f"{option} {join_words(values)}" if values else option


def problem(exc: BaseException) -> str:
    """Return an exception's message as the CLI says it: options for the parameters it names."""
    if isinstance(exc, ConvcliError):
        return exc.spelled(option_for)
    return str(exc)


def spelled(message: str, params: Iterable[Param]) -> str:
    """Return a record's error message with options for the parameters it names."""
    return spell(message, params, option_for)


def error_line(message: str, path: object = None) -> str:
    """Format the one line every error gets: ``convcli: error: <file>: <problem>``."""
    text = " ".join(str(message).split())  # one line, whatever the message holds
    if path is not None:
        return f"convcli: error: {safe_path(path)}: {text}"
    return f"convcli: error: {text}"


def safe_path(path: object) -> str:
    """Return a path printable on any terminal (undecodable bytes escaped)."""
    text = str(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8", "replace")


class Interrupted(Exception):
    """Ctrl-C during a command: reported as one line, exit status 130."""


def _die_by(signum: int) -> None:
    """End the process by ``signum`` (its default action), as a shell expects.

    The exit handlers run first, as they would at a normal exit (CPython does the same after
    an uncaught KeyboardInterrupt): worker pools are joined and their semaphores released
    (so that multiprocessing's resource tracker has no "leaked semaphore" warning to print),
    and any temporary file left by an interrupted write is removed
    (:func:`convcli.io.atomic.remove_temporaries`).
    """
    import atexit
    import gc

    gc.collect()  # an interrupted writer's context is closed, and cleans up, now
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is not None:
        run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


class ConvcliGroup(click.Group):
    """A group that loads its commands lazily and reports errors in one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the command names in their listed order."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import a command's module on demand."""
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands from :data:`COMMANDS` without importing them."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; Ctrl-C becomes :class:`Interrupted` (Click would print a blank line)."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted from None

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; usage errors become one line and exit status 2."""
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name or "convcli",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(error_line(exc.format_message()), err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt, Interrupted):
            word, status = stopped()
            click.echo(f"convcli: {word}", err=True)
            sys.exit(status)
        except BrokenPipeError:
            sys.exit(141)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(
    cls=ConvcliGroup,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "-V", "--version", prog_name="convcli")
def cli() -> None:
    """Apply convolution kernels to images, audio and volume stacks.

    Exact (direct, separable and FFT methods agree within float tolerance), fast, and safe
    with files: outputs are written atomically and never replace an input.
    """


def main() -> None:
    """Console-script entry point.

    SIGINT, SIGTERM and SIGHUP interrupt the run cleanly (no partial output, no temporary
    file), then end the process by the same signal; SIGXFSZ is ignored, so that a file size
    limit (``ulimit -f``) is one failed output, not a dead process.
    """
    quiet_warnings()
    catch_lost_interruptions()
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_stop_signal)
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        try:
            cli.main(prog_name="convcli")
        finally:
            # The run is over (every output written or cleaned up): from here a signal just
            # ends the process, by its default action, which a shell loop sees.
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
    except KeyboardInterrupt:  # a signal in the very instant the run ended
        pass
    except SystemExit:
        if caught_signal() is None:
            raise
    # Out of the except blocks, the interrupted frames are no longer held by a traceback.
    _die_by(caught_signal() or int(signal.SIGINT))
