"""How a run's processes behave: a stop signal becomes one clean interruption.

SIGINT, SIGTERM and SIGHUP are turned into ``KeyboardInterrupt`` (:func:`on_stop_signal`), so
that every output being written removes its temporary file as the exception unwinds; a step
that must not be split holds the interruption back (:func:`convcli.io.atomic.hold_signals`).
An interruption that Python drops (raised in a ``__del__`` or a callback from C) is raised
again (:func:`catch_lost_interruptions`), and a batch checks :func:`signal_caught` between
inputs.  The CLI installs these in its own process, and a batch in each worker
(:mod:`convcli.jobs.local`).

Standard library only: the CLI imports this module before it knows which command runs.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

__all__ = [
    "STOP_SIGNALS",
    "interrupt_now",
    "on_stop_signal",
    "catch_lost_interruptions",
    "caught_signal",
    "signal_caught",
    "stopped",
    "quiet_warnings",
]


#: The signals a run cleans up after, and what the one line says for each.
STOP_SIGNALS: dict[int, str] = {
    int(signal.SIGINT): "interrupted",
    int(signal.SIGTERM): "terminated",
    **({int(signal.SIGHUP): "hung up"} if hasattr(signal, "SIGHUP") else {}),
}


_caught: list[int] = []  # the signal that stopped this run, if any


def interrupt_now() -> None:
    """Raise KeyboardInterrupt, or have a :func:`convcli.io.atomic.hold_signals` block do it.

    A signal handler calls this: a step that must not be split (a temporary file created
    and not yet known by name) finishes first.
    """
    atomic = sys.modules.get("convcli.io.atomic")
    if atomic is not None and atomic.interruption_held():
        atomic.defer_interruption()
        return
    raise KeyboardInterrupt


def on_stop_signal(signum: int, frame: Any) -> None:
    """Stop the run: later signals are ignored while it cleans up."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if not _caught:
        _caught.append(signum)
    interrupt_now()


_relay: list[Any] = [interrupt_now]  # what a re-raised interruption calls


def _raise_once(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _relay[0]()


def _unraisable(unraisable: Any) -> None:
    """Re-raise an interruption that Python could not let out; report anything else.

    A KeyboardInterrupt raised while a ``__del__`` or a callback from C runs is "ignored"
    by Python (a traceback is printed, the exception dropped).  Here it is raised again,
    silently, a moment later in the main thread (:func:`_thread.interrupt_main`).
    """
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        import _thread
        import threading

        signal.signal(signal.SIGINT, _raise_once)
        # from another thread, a moment later: once this hook and the __del__ are over
        threading.Timer(0.001, _thread.interrupt_main, args=(signal.SIGINT,)).start()
        return
    sys.__unraisablehook__(unraisable)


def catch_lost_interruptions(relay: Any = None) -> None:
    """Install :func:`_unraisable` as :func:`sys.unraisablehook` (the CLI and its workers).

    Parameters
    ----------
    relay : callable, optional
        What the interruption, raised again, calls: :func:`interrupt_now` by default.
    """
    _relay[0] = interrupt_now if relay is None else relay
    sys.unraisablehook = _unraisable


def caught_signal() -> int | None:
    """Return the signal that asked this run to stop (SIGINT, SIGTERM, SIGHUP), if one did."""
    return _caught[0] if _caught else None


def signal_caught() -> bool:
    """Whether SIGINT, SIGTERM or SIGHUP has asked this run to stop.

    The handler raises KeyboardInterrupt, but code that swallows exceptions (a callback
    from C, a ``__del__``) can lose it; a batch checks this between inputs so that it stops
    all the same.
    """
    return bool(_caught)


def stopped() -> tuple[str, int]:
    """Return the line's word and the exit status of an interrupted run."""
    signum = _caught[0] if _caught else int(signal.SIGINT)
    return STOP_SIGNALS.get(signum, "interrupted"), 128 + signum


def quiet_warnings() -> None:
    """Keep Python's warnings (numpy overflow, Pillow metadata) off the CLI's stderr.

    What a user needs to know is a ``convcli: warning:`` or ``convcli: error:`` line (an
    overflow is counted as clipped; a damaged file fails in one line).  ``python -W`` or
    ``PYTHONWARNINGS`` still show them.
    """
    if not sys.warnoptions:
        import warnings

        warnings.simplefilter("ignore")
