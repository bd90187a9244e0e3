"""The Dask backend of a batch: each input's job is one task on a ``dask.distributed`` cluster.

:class:`DaskCluster` keeps the promises of :class:`convcli.jobs.batch.Backend`, so a batch
on a cluster gives the records, progress, summary and exit code of a local run, in input
order, and writes the bytes ``--jobs 1`` writes.  The workers read and write the paths as
given, on a file system every worker shares: a relative path is relative to the directory
convcli runs in, which a job enters on its worker (jobs of batches started elsewhere wait
their turn on that worker).  :func:`connect` reaches the scheduler at an
address (``tcp://host:8786``) or starts a local cluster (``local:N``) before anything is
read, or fails in one line (:class:`convcli.errors.SchedulerError`).

What happens when things go wrong:

- **A worker dies mid-task.**  The scheduler runs its task again on another worker (up to
  Dask's ``distributed.scheduler.allowed-failures`` times; then that input's record is an
  error and the batch goes on).  A dead attempt leaves no partial file (every output is
  renamed into place whole), and the temporary files it could not remove are removed once
  the batch is over (:func:`convcli.io.atomic.remove_leftover_temporaries`, by their hidden
  names).  An attempt that died after renaming its output into place, but before its
  record reached the scheduler, leaves a whole output: the next attempt replaces it (with
  the same bytes) rather than fail on "output exists", because the parent noted which
  outputs did not exist when the batch started (``fresh``), and only those are taken as
  this batch's own.  No input is lost (the scheduler keeps every task until it has run) and
  no output is written twice under two names (each output has one path).
- **Ctrl-C (or SIGTERM, SIGHUP).**  The parent cancels every task not finished
  (:meth:`distributed.Client.cancel`), and, as a cancelled task that is already running
  goes on in its worker's thread, tells every worker to stop this batch: a job that has
  not started returns at once, and a running one is interrupted (a KeyboardInterrupt raised
  in its thread, as SIGTERM interrupts a ``--jobs`` worker), so its temporary files are
  removed as the exception unwinds.  The parent waits for them (up to
  :data:`convcli.jobs.local.STOP_TIMEOUT`), closes a local cluster, then removes whatever
  temporary file of the batch's outputs is left (a worker killed by the same Ctrl-C, a job
  stuck in a long C call).  Finished outputs stay whole.
- **A job that fails** is an error record, as everywhere; ``--fail-fast`` stops the batch
  the same way as Ctrl-C after that record.

A Zarr store filtered on the cluster spreads its chunks over every worker
(:func:`convcli.jobs.chunked.chunks_on` with :func:`distributed.worker_client`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from convcli.errors import BatchError
from convcli.jobs.process import signal_caught

if TYPE_CHECKING:
    from convcli.jobs.batch import Batch, Work

__all__ = ["DaskCluster", "connect"]


# ----------------------------------------------------------------------------- on a worker

_LOCK = threading.Lock()
_RUNNING: dict[str, set[int]] = {}  # batch token -> threads running one of its jobs
_STOPPED: set[str] = set()  # batches told to stop

_HERE = threading.Condition()  # guards the worker's working directory:
_HERE_USERS = 0  # how many jobs run in it


def _same(value: Any) -> Any:
    """Return ``value``: a task whose result every job of a batch shares."""
    return value


def _fresh(path: str) -> bool:
    """Whether an output is not there yet (or is an empty folder) as the batch starts."""
    if not os.path.lexists(path):
        return True
    if os.path.isdir(path) and not os.path.islink(path):
        with os.scandir(path) as it:
            return next(it, None) is None
    return False


@contextlib.contextmanager
def _working_directory(path: str) -> Iterator[None]:
    """Run in ``path``, the directory the batch's relative paths are relative to.

    The working directory is the process's: jobs of batches started in other directories
    wait until no job of another directory runs in this worker.

    Raises
    ------
    OSError
        ``path`` does not exist on this worker.
    """
    global _HERE_USERS
    with _HERE:
        while _HERE_USERS and os.getcwd() != path:
            _HERE.wait()
        if os.getcwd() != path:
            os.chdir(path)
        _HERE_USERS += 1
    try:
        yield
    finally:
        with _HERE:
            _HERE_USERS -= 1
            _HERE.notify_all()


def _run_job(
    work: Work,
    job: Any,
    opts: Any,
    protect: tuple[str, ...],
    token: str,
    fresh: bool,
    cwd: str,
) -> dict[str, Any] | None:
    """Run one job of a batch on a worker; None if the batch was stopped.

    Jobs travel without their ``protect`` list (every input of the run), which comes from a
    task of its own computed once per worker.  Paths are read as given, in ``cwd`` (the
    directory convcli was started in, which must be there on the worker too).
    """
    me = threading.get_ident()
    try:
        with _LOCK:
            if token in _STOPPED:
                return None
            _RUNNING.setdefault(token, set()).add(me)
        try:
            with _working_directory(cwd):  # a job never raises for its input: OSError is this
                return _job(work, replace(job, protect=protect), opts, fresh)
        except OSError as exc:
            return _failed(
                job,
                f"the directory it is relative to, {cwd}, cannot be entered on a Dask worker "
                f"({exc.strerror or exc}): give paths every worker can reach",
            )
        finally:
            try:
                _leave(token, me)
            except KeyboardInterrupt:  # the stop arrived as this job left: leave all the same
                _leave(token, me)
            _checkpoint()  # a stop sent before we left is raised here, not in the idle thread
    except KeyboardInterrupt:  # the batch was stopped while this job ran
        return None


def _leave(token: str, me: int) -> None:
    """Note that thread ``me`` no longer runs a job of batch ``token``."""
    with _LOCK:
        running = _RUNNING.get(token, set())
        running.discard(me)
        if not running:
            _RUNNING.pop(token, None)


def _checkpoint() -> None:
    """Do nothing, in Python: entering a Python function raises a pending interruption."""


def _job(work: Work, job: Any, opts: Any, fresh: bool) -> dict[str, Any]:
    """Run a job as this worker should: its chunks on the cluster, a retry as a retry."""
    from distributed import get_worker, worker_client

    from convcli.jobs.chunked import chunks_on

    if fresh and not opts.overwrite and os.path.lexists(job.output):
        # Not there when the batch started: written by an attempt of this very job on a
        # worker that died before it could say so.  Replace it (with the same bytes).
        opts = replace(opts, overwrite=True)
    if hasattr(opts, "jobs"):  # the memory budget is shared by the jobs of this worker
        with contextlib.suppress(ValueError, AttributeError):
            opts = replace(opts, jobs=max(1, int(get_worker().state.nthreads)))
    with chunks_on(worker_client):
        return work(job, opts)


def _interrupt(thread_id: int, token: str) -> None:
    """Raise KeyboardInterrupt in a thread, once no temporary file is being created.

    :func:`convcli.io.atomic.hold_signals` marks the few steps that must not be split (a
    temporary file created and not yet known by name); the interruption waits for them (up
    to a second) as a signal handler would.
    """
    import sys

    atomic = sys.modules.get("convcli.io.atomic")
    deadline = time.monotonic() + 1.0
    while atomic is not None and atomic.interruption_held() and time.monotonic() < deadline:
        time.sleep(0.001)
    with _LOCK:  # only into a thread still running a job of the batch (see _run_job)
        if thread_id not in _RUNNING.get(token, ()):
            return
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread_id), ctypes.py_object(KeyboardInterrupt)
        )


def _stop_batch(token: str) -> int:
    """Stop a batch on this worker: no job of it starts, the running ones are interrupted."""
    with _LOCK:
        _STOPPED.add(token)
        threads = list(_RUNNING.get(token, ()))
    for thread_id in threads:
        threading.Thread(target=_interrupt, args=(thread_id, token), daemon=True).start()
    return len(threads)


def _running(token: str) -> int:
    """Return how many jobs of a batch still run on this worker."""
    with _LOCK:
        return len(_RUNNING.get(token, ()))


# ----------------------------------------------------------------------------- the parent


def _failed(job: Any, message: str) -> dict[str, Any]:
    """Return the record of a job the cluster could not run."""
    return {
        "input": job.input,
        "output": job.output,
        "status": "error",
        "error": message,
        "seconds": 0.0,
    }


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class DaskCluster:
    """Run a batch's jobs as tasks on a Dask cluster; yield the records in input order.

    Parameters
    ----------
    client : distributed.Client
        Connected to the cluster (:func:`connect`).
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def run(self, batch: Batch, *, fail_fast: bool = False) -> Iterator[dict[str, Any]]:
        """Yield the batch's records in input order (see the module docstring).

        Raises
        ------
        BatchError
            The cluster cannot run convcli's jobs (the workers cannot import it, say) or the
            scheduler went away.
        """
        import uuid

        client = self.client
        jobs = batch.jobs
        token = uuid.uuid4().hex
        n = len(jobs)
        fresh = [_fresh(job.output) for job in jobs]
        cwd = os.getcwd()
        opts = client.submit(_same, batch.options, key=f"convcli-options-{token}")
        protect = client.submit(_same, tuple(jobs[0].protect), key=f"convcli-protect-{token}")
        futures = [
            client.submit(
                _run_job,
                batch.work,
                replace(job, protect=()),
                opts,
                protect,
                token,
                fresh[i],
                cwd,
                key=f"convcli-job-{token}-{i}",
                priority=n - i,  # in input order, as far as the workers go
                pure=False,
            )
            for i, job in enumerate(jobs)
        ]
        try:
            for job, fut in zip(jobs, futures):
                rec = self._result(fut, job)
                if rec is None or signal_caught():  # a stop reached the workers first
                    raise KeyboardInterrupt
                yield rec
                if fail_fast and rec["status"] == "error":
                    break
        except BaseException:
            self._stop([*futures, opts, protect], token)
            self._sweep(jobs)
            raise
        self._stop([*futures, opts, protect], token)
        self._sweep(jobs)

    def _result(self, fut: Any, job: Any) -> dict[str, Any] | None:
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        try:
            return fut.result()
        except KilledWorker:
            return _failed(
                job,
                "every Dask worker that ran it ended before it was done (killed? out of memory?)",
            )
        except FutureCancelledError:
            if signal_caught():
                raise KeyboardInterrupt from None
            return _failed(job, "cancelled on the Dask cluster")
        except (KeyboardInterrupt, BatchError):
            raise
        except Exception as exc:
            raise BatchError(
                f"the Dask cluster cannot run convcli jobs: {type(exc).__name__}: {_one_line(exc)}"
            ) from None

    def _stop(self, futures: list[Any], token: str) -> None:
        """Cancel what has not finished; stop the jobs still running; wait for them."""
        from convcli.jobs.local import STOP_TIMEOUT

        client = self.client
        with contextlib.suppress(Exception):
            client.cancel(futures, force=True)
        with contextlib.suppress(Exception):
            running = client.run(_stop_batch, token, on_error="return")
            deadline = time.monotonic() + STOP_TIMEOUT
            while any(isinstance(v, int) and v > 0 for v in running.values()):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
                running = client.run(_running, token, on_error="return")

    @staticmethod
    def _sweep(jobs: Any) -> None:
        """Remove the temporary files an attempt that did not finish left behind."""
        from convcli.io.atomic import remove_leftover_temporaries

        for job in jobs:
            remove_leftover_temporaries(job.output, inside=os.path.isdir(job.output))


@contextlib.contextmanager
def connect(address: str) -> Iterator[DaskCluster]:
    """Reach the scheduler at ``address`` (or start ``local:N``); yield the backend.

    A local cluster is closed on exit (its workers end), once every job of it has stopped.

    Raises
    ------
    SchedulerError
        The scheduler cannot be reached (within
        :data:`convcli.chunked.cluster.CONNECT_TIMEOUT`) or the local cluster cannot start.
    ArgumentError
        ``local:N`` with an N that is not a positive integer.
    """
    from convcli.chunked.cluster import scheduler_for

    with scheduler_for(address, quiet=True) as client:
        yield DaskCluster(client)
