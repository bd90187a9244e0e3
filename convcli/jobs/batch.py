"""Batches: many inputs through one job function, in input order, on a backend.

A batch is a job function and the picklable descriptions of its jobs (:class:`Batch`).  A
backend runs them and yields one record per job in input order: :class:`InProcess` one after
another in this process, :class:`convcli.jobs.local.LocalProcesses` on a pool of worker
processes; another backend (a Dask cluster, say) takes the same :class:`Batch` and keeps the
same promises (:class:`Backend`).  :class:`Tally` counts the records and gives the summary
line and the exit code, in one place, for every command that runs batches.

A record is a dict with at least ``input``, ``status`` (``"ok"``, ``"planned"`` or
``"error"``) and ``error`` (one line, or None); a job function never raises for a problem
with its input, only ``KeyboardInterrupt`` when the run is stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from convcli.jobs.process import signal_caught

__all__ = ["Batch", "Backend", "InProcess", "Tally", "Work", "run_batch", "worker_count"]

#: A job function: ``work(job, options) -> record``; module-level, so that it pickles by name.
Work = Callable[[Any, Any], dict[str, Any]]


@dataclass(frozen=True)
class Batch:
    """The jobs of a run: a job function, the job descriptions and the run's options.

    Parameters
    ----------
    work : callable
        ``work(job, options) -> record``, a module-level function (it travels by name).
    jobs : sequence
        The job descriptions, in input order: frozen dataclasses with a ``protect`` field
        (the paths never to write: every input of the run, the same for every job; a backend
        may send it once per worker rather than once per job).
    options : object
        The run's options, the same for every job (picklable).
    """

    work: Work
    jobs: Sequence[Any]
    options: Any


class Backend(Protocol):
    """What runs a batch.  ``run`` yields one record per job, in input order.

    A backend stops at the first record whose status is ``"error"`` when ``fail_fast`` is
    true (jobs already running may finish; none starts after), and raises
    ``KeyboardInterrupt`` once a stop signal has come (:func:`convcli.jobs.process.signal_caught`),
    every running job having cleaned up after itself.
    """

    def run(self, batch: Batch, *, fail_fast: bool = False) -> Iterator[dict[str, Any]]:
        """Yield the batch's records in input order."""
        ...


class InProcess:
    """Run a batch's jobs one after another in this process."""

    def run(self, batch: Batch, *, fail_fast: bool = False) -> Iterator[dict[str, Any]]:
        """Yield the batch's records in input order."""
        for job in batch.jobs:
            rec = batch.work(job, batch.options)
            if signal_caught():  # the interruption was swallowed on its way up: stop here
                raise KeyboardInterrupt
            yield rec
            if fail_fast and rec["status"] == "error":
                return


def worker_count(jobs: int) -> int:
    """Return the worker processes ``-j/--jobs`` asks for: 0 is every core this process may use.

    The cores counted are :func:`convcli.engine.threads.usable_cpus`: the process's CPU
    affinity (``taskset -c 0`` gives one worker), not every core of the machine.
    """
    from convcli.engine.threads import usable_cpus  # here: --help imports no numpy

    return usable_cpus() if jobs == 0 else jobs


def run_batch(
    batch: Batch, *, workers: int = 1, fail_fast: bool = False, backend: Backend | None = None
) -> Iterator[dict[str, Any]]:
    """Yield a batch's records in input order.

    Parameters
    ----------
    batch : Batch
        The jobs.
    workers : int, optional
        Worker processes: with more than one (and more than one job), the jobs run on
        :class:`convcli.jobs.local.LocalProcesses`, else in this process.
    fail_fast : bool, optional
        Stop at the first failed job.
    backend : Backend, optional
        Run on this backend instead.

    Yields
    ------
    dict
        One record per job, in input order.
    """
    if backend is None:
        if workers <= 1 or len(batch.jobs) <= 1:
            backend = InProcess()
        else:
            from convcli.jobs.local import LocalProcesses

            backend = LocalProcesses(workers)
    yield from backend.run(batch, fail_fast=fail_fast)


class Tally:
    """Count a batch's records: the summary line and the exit code, decided in one place."""

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0

    def add(self, record: dict[str, Any]) -> None:
        """Count one record."""
        if record["status"] == "error":
            self.failed += 1
        else:
            self.done += 1

    def summary(self, total: int, verb: str = "done") -> str:
        """Return ``8 done, 2 failed, of 10 inputs``."""
        return f"{self.done} {verb}, {self.failed} failed, of {total} inputs"

    @property
    def exit_code(self) -> int:
        """Return 0 if every input was done, else 1."""
        return 1 if self.failed else 0
