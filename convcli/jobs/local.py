"""The local backend of a batch: a pool of worker processes on this machine.

Jobs go to the workers as picklable descriptions (:class:`convcli.jobs.batch.Batch`) and their
records come back in input order.  The parent alone decides when a batch stops: Ctrl-C
reaches every process of the terminal's group, the workers ignore it, and the parent,
interrupted, sends each worker SIGTERM, which interrupts its job (its temporary files are
removed as the exception unwinds) and ends it; a worker that has not ended
:data:`STOP_TIMEOUT` seconds later is killed.  A worker killed from outside (the
out-of-memory killer) ends the batch with :class:`convcli.errors.BatchError`.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from convcli.errors import BatchError
from convcli.jobs.process import (
    catch_lost_interruptions,
    interrupt_now,
    quiet_warnings,
    signal_caught,
)

if TYPE_CHECKING:  # batch.run_batch imports this module: only the types go back
    from convcli.jobs.batch import Batch, Work

__all__ = ["LocalProcesses", "STOP_TIMEOUT"]

#: Seconds the parent waits, after an interruption, for workers to clean up their current
#: input before it kills them (a worker busy in one long numpy call cannot stop sooner).
STOP_TIMEOUT = 10.0


_STOPPING = False  # in a worker: a SIGTERM came; do no further job


_BUSY = False  # in a worker: a job is running (a SIGTERM then interrupts it)


_PROTECT: tuple[str, ...] = ()  # in a worker: every input of the run (sent once)


def _worker_init(protect: tuple[str, ...] = ()) -> None:
    """Set up a worker process: the parent alone decides when a batch stops.

    Ctrl-C reaches every process of the terminal's group, the workers too: they ignore
    SIGINT, and the parent, interrupted, sends each of them SIGTERM.  A SIGTERM — from the
    parent, or sent to the whole group — ends a worker: at once if it is idle (it has no
    file open), else by interrupting its job, whose temporary files are removed as the
    exception unwinds.  SIGXFSZ is ignored, so that a file size limit (``ulimit -f``) is an
    error on one output rather than the end of the worker.

    Each worker keeps BLAS to one thread (unless the environment says otherwise): with
    OpenBLAS's spinning helper threads in every worker, two workers on two cores ran a batch
    of direct convolutions 10x slower than one process (measured: 12 s against 1.1 s).
    """
    global _PROTECT
    _PROTECT = protect
    quiet_warnings()
    catch_lost_interruptions(_worker_interrupt)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # read when numpy loads, which is after this
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _worker_stop)
        signal.pthread_sigmask(
            signal.SIG_UNBLOCK, {signal.SIGHUP}
        )  # see _start_helpers_deaf_to_hangups
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _exit_worker() -> None:
    """End this worker now, leaving no temporary file (the parent no longer waits for it).

    It may run in a signal handler at any point, an import included: it imports nothing.
    """
    gc.collect()  # an interrupted writer's context, if still held, cleans up
    atomic = sys.modules.get("convcli.io.atomic")
    remove = getattr(atomic, "remove_temporaries", None)  # none written if it is not loaded
    if remove is not None:
        remove()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def _worker_interrupt() -> None:
    """Interrupt the job running, or end an idle worker."""
    if _BUSY:
        interrupt_now()
    else:
        _exit_worker()


def _stopping_already(signum: int, frame: Any) -> None:
    """Ignore a later stop signal: the first one is being carried out."""


def _worker_stop(signum: int, frame: Any) -> None:
    global _STOPPING
    # One stop is enough: a second signal (SIGTERM to the process group, then the parent's
    # own) would interrupt the clean-up of the first halfway, leaving an audio writer to
    # finish on a file already closed.
    # (A handler that does nothing, not SIG_IGN: a signal already on its way would then
    # make Python raise "Signal ignored due to race condition".)
    signal.signal(signal.SIGTERM, _stopping_already)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _stopping_already)
    _STOPPING = True
    _worker_interrupt()


def _work(work: Work, job: Any, opts: Any) -> dict[str, Any] | None:
    """Run one job in a worker; a worker told to stop ends once its job has unwound.

    Jobs travel without their ``protect`` list (every input of the run: sent to each job it
    would make a batch of n inputs cost O(n^2) to pickle); the worker puts it back.
    """
    global _BUSY
    from dataclasses import replace

    _BUSY = True
    try:
        if _STOPPING:
            return None
        return work(replace(job, protect=_PROTECT), opts)
    finally:
        _BUSY = False
        if _STOPPING:
            _exit_worker()


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _stop_workers(pool: Any) -> None:
    """End the workers (SIGTERM: each cleans up and exits), then kill any that hang.

    Workers are followed by process id, not by the pool's bookkeeping: a SIGTERM sent to the
    whole process group also ends multiprocessing's fork server, after which the pool takes
    every worker for dead, running or not.
    """
    processes = getattr(pool, "_processes", None)  # pid -> Process; None once shut down
    pids = [p.pid for p in processes.values() if p.pid] if isinstance(processes, dict) else []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + STOP_TIMEOUT
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _quiet_pool_threads_when_stopping() -> None:
    """Keep the pool's own threads from printing a traceback once a signal stops the run.

    The workers are stopped under the feet of the executor's management thread, which may
    then fail reading from or writing to them (seen about once in 60 runs); the run ends by
    the signal with its one line, so that failure is expected and said nowhere else.
    """
    import threading

    previous = threading.excepthook
    if getattr(previous, "convcli_quiet", False):
        return

    def hook(args: Any) -> None:
        if not signal_caught():
            previous(args)

    hook.convcli_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def _start_helpers_deaf_to_hangups(ctx: Any) -> None:
    """Start multiprocessing's resource tracker and fork server with SIGHUP ignored.

    Both ignore SIGINT and SIGTERM already, but a hang-up sent to the process group (a
    closed terminal) would kill them: the pool then starts a new tracker, which prints a
    KeyError traceback for every semaphore it never saw.  An ignored signal stays ignored in
    a child; they end anyway when this process ends.  Meanwhile SIGHUP is also blocked here,
    so that one sent to us is delivered (to our handler) once it is restored, not lost.  The
    workers set their own handlers (and unblock it: :func:`_worker_init`).
    """
    if not hasattr(signal, "SIGHUP"):
        return
    from multiprocessing import resource_tracker

    hup = {signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, hup)
    try:
        previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            resource_tracker.ensure_running()
            if ctx.get_start_method() == "forkserver":
                from multiprocessing import forkserver

                forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGHUP, previous)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, hup)


def _start_pool(workers: int, protect: tuple[str, ...]) -> Any:
    """Start a pool of ``workers`` processes (forkserver), each set up by :func:`_worker_init`."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    # multiprocessing's resource tracker is a process of its own that shares our stderr and
    # takes its -W options from ours.  When a signal ends the run, it may find a semaphore
    # the pool had already unlinked and warn about a "leak" after our last line (seen about
    # once in three runs of SIGTERM to the parent with --jobs 2): the one line would be three.
    quiet_tracker = "ignore::UserWarning:multiprocessing.resource_tracker"
    if quiet_tracker not in sys.warnoptions:
        sys.warnoptions.append(quiet_tracker)
    _start_helpers_deaf_to_hangups(ctx)
    _quiet_pool_threads_when_stopping()
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(protect,),
    )


class LocalProcesses:
    """Run a batch's jobs in up to ``workers`` processes; yield the records in input order.

    Parameters
    ----------
    workers : int
        The most worker processes (no more than the batch has jobs).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, batch: Batch, *, fail_fast: bool = False) -> Iterator[dict[str, Any]]:
        """Yield the batch's records in input order, from a pool of processes.

        An interruption (Ctrl-C, or SIGTERM, which :func:`convcli.cli.main` turns into
        KeyboardInterrupt) stops the workers before it goes on: every job running is
        interrupted and cleans up after itself, no queued job starts.  With ``fail_fast``,
        the first failed record is the last: the jobs running finish, queued ones never start.

        Raises
        ------
        BatchError
            A worker process ended unexpectedly (killed from outside).
        """
        from concurrent.futures.process import BrokenProcessPool
        from dataclasses import replace

        jobs, opts = batch.jobs, batch.options
        pool = _start_pool(min(self.workers, len(jobs)), jobs[0].protect)
        futures: list[Any] = []
        try:
            futures.extend(
                pool.submit(_work, batch.work, replace(job, protect=()), opts) for job in jobs
            )
            for done, fut in enumerate(futures):
                try:
                    rec = fut.result()
                except BrokenProcessPool:
                    if signal_caught():  # the workers ended first: this run is being stopped
                        raise KeyboardInterrupt from None
                    raise BatchError(
                        f"a worker process ended unexpectedly (killed? out of memory?); "
                        f"{len(jobs) - done} of {len(jobs)} inputs not done"
                    ) from None
                if rec is None or signal_caught():  # a worker was stopped; or we were, quietly
                    raise KeyboardInterrupt
                yield rec
                if fail_fast and rec["status"] == "error":
                    return  # the pool's shutdown below cancels what has not started
        except BaseException:
            _stop_workers(pool)
            raise
        finally:
            # Queued inputs are cancelled by the pool's own thread: cancelling them from here too
            # races with it when workers end (CPython raises InvalidStateError in that thread).
            pool.shutdown(wait=True, cancel_futures=True)
