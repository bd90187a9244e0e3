"""Where chunk tasks and batch jobs run: local threads, a Dask scheduler, a local cluster.

:func:`scheduler_for` turns what a user gives (nothing, an address, ``local:N``, a
:class:`distributed.Client`) into what :func:`dask.compute` takes, reaching the scheduler or
starting the cluster before anything is read, and failing in one line
(:class:`convcli.errors.SchedulerError`) when it cannot.

A local cluster's worker processes ignore SIGINT and SIGHUP: Ctrl-C at a terminal reaches
every process of its group, and the process that started the cluster decides when its
workers stop (it cancels their tasks, then closes the cluster), as ``--jobs`` workers do.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

from convcli.errors import ArgumentError, SchedulerError

__all__ = [
    "scheduler_for",
    "parse_local",
    "CONNECT_TIMEOUT",
    "LOCAL_SCHEDULERS",
]

#: How long to try to reach a scheduler given by its address.
CONNECT_TIMEOUT = "10s"

#: Names :func:`dask.compute` takes for its single-machine schedulers.
LOCAL_SCHEDULERS = ("threads", "synchronous", "sync", "single-threaded", "processes")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def parse_local(scheduler: str) -> int | None:
    """Return N of ``local:N``, or None for any other string.

    Raises
    ------
    ArgumentError
        ``local:`` with an N that is not a positive integer.

    Examples
    --------
    >>> parse_local("local:4"), parse_local("tcp://10.0.0.1:8786")
    (4, None)
    """
    if not scheduler.startswith("local:"):
        return None
    try:
        n = int(scheduler[6:])
    except ValueError:
        n = 0
    if n < 1:
        raise ArgumentError(f"scheduler {scheduler!r}: local:N takes a positive worker count")
    return n


@contextlib.contextmanager
def _deaf_children() -> Iterator[None]:
    """Start processes in this block with SIGINT and SIGHUP ignored (inherited through exec)."""
    from convcli.chunked.workers import DEAF_SIGNALS

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in DEAF_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _quiet_logs(quiet: bool) -> Iterator[None]:
    """Keep distributed's own log lines (a worker restarted, a slow event loop) off stderr."""
    if not quiet:
        yield
        return
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _local_cluster(n: int, quiet: bool) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    try:
        with _deaf_children():
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL if quiet else logging.WARNING,
            )
    except Exception as exc:
        raise SchedulerError(
            f"cannot start a local cluster of {n} workers: {_one_line(exc)}"
        ) from None
    from convcli.chunked.workers import LocalWorkerSetup

    with cluster, Client(cluster) as client:
        client.register_plugin(LocalWorkerSetup(quiet), name=LocalWorkerSetup.name)
        yield client


@contextlib.contextmanager
def scheduler_for(scheduler: Any, *, quiet: bool = False) -> Iterator[Any]:
    """Yield what :func:`dask.compute` takes for ``scheduler``; connect or start a cluster.

    Parameters
    ----------
    scheduler : None, str or distributed.Client
        None or ``"threads"``: local threads; another name of :data:`LOCAL_SCHEDULERS`;
        a :class:`distributed.Client` (used as it is); ``"local:N"``: a local cluster of
        ``N`` worker processes (one thread each), started here and closed on exit; any
        other string: the address of a running scheduler (``tcp://host:8786``), connected
        here and disconnected on exit.
    quiet : bool, optional
        Keep distributed's log lines and the local workers' warnings off stderr (the CLI).

    Yields
    ------
    str or distributed.Client

    Raises
    ------
    SchedulerError
        The scheduler cannot be reached, or the local cluster cannot start.
    ArgumentError
        ``local:N`` with an ``N`` that is not a positive integer.
    """
    if scheduler is None:
        yield "threads"
        return
    if not isinstance(scheduler, str):
        yield scheduler  # a Client (or anything dask.compute takes)
        return
    if scheduler in LOCAL_SCHEDULERS:
        yield scheduler
        return
    n = parse_local(scheduler)
    with _quiet_logs(quiet):
        if n is not None:
            with _local_cluster(n, quiet) as client:
                yield client
            return
        from distributed import Client

        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # OSError, TimeoutError; ValueError for a malformed address
            why = " ".join(str(exc).split()) or "not a scheduler address"
            raise SchedulerError(
                f"cannot reach the Dask scheduler at {scheduler!r}: {why}"
            ) from None
        with client:
            yield client
