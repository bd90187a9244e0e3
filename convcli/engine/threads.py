"""The engine's two worker threads: the calling thread and one pooled helper pull items as they go.

numpy releases the GIL in its loops and matrix products, so two threads really run in
parallel; the direct, separable, Toeplitz and FFT paths all split their blocks here.  The
pool's thread is made on the first split job, and :mod:`concurrent.futures` imported then,
so a small job pays for neither.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["run_split", "usable_cpus", "WORKERS"]


def usable_cpus() -> int:
    """Return how many CPUs this process may run on.

    The process's CPU affinity where the system has one (``taskset -c 0`` gives 1), else
    :func:`os.cpu_count`: threads beyond it would only take turns on the same core.

    Examples
    --------
    >>> usable_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this system (macOS, Windows)
        return os.cpu_count() or 1


#: The engine's threads: two at most (the calling thread and one helper), one on one CPU.
WORKERS = min(2, usable_cpus())

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor | None:
    global _POOL
    workers = WORKERS
    if workers < 2:
        return None
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="convcli")
    return _POOL


class _Shared:
    """Items that the calling thread and one helper thread pull one at a time.

    The helper's item in progress is tracked, so that the caller, once it runs out of items,
    waits for that item only: a helper that a busy machine has not scheduled yet costs
    nothing (it finds no items when it runs), where waiting for it to start could take a
    scheduler time slice, longer than a whole medium-sized job.
    """

    def __init__(self, items: Sequence[Any]) -> None:
        self._items = items
        self._next = 0
        self._cond = threading.Condition()
        self._helper_busy = False
        self._error: BaseException | None = None

    def _pull(self, helper: bool) -> Any:
        with self._cond:
            if helper and self._helper_busy:  # the helper asks again: its last item is done
                self._helper_busy = False
                self._cond.notify_all()
            i = self._next
            if i >= len(self._items):
                raise StopIteration
            self._next = i + 1
            if helper:
                self._helper_busy = True
        return self._items[i]

    def caller(self) -> Iterator[Any]:
        """Yield items to the calling thread."""
        while True:
            try:
                yield self._pull(False)
            except StopIteration:
                return

    def help(self, fn: Callable[[Iterable[Any]], None]) -> None:
        """Run ``fn`` on the helper thread's items (its exception reaches the caller)."""

        def items() -> Iterator[Any]:
            while True:
                try:
                    yield self._pull(True)
                except StopIteration:
                    return

        try:
            fn(items())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller in wait()
            self._error = exc
        finally:
            with self._cond:
                self._helper_busy = False
                self._cond.notify_all()

    def wait(self) -> None:
        """Wait for the helper's item in progress, if any; raise the helper's exception."""
        with self._cond:
            while self._helper_busy:
                self._cond.wait()
        if self._error is not None:
            raise self._error


def run_split(items: Sequence[Any], fn: Callable[[Iterable[Any]], None], go: bool) -> None:
    """Run ``fn`` over ``items`` on two threads that pull items as they go.

    ``fn`` iterates over what it is given (allocating its scratch once per call).  Pulling
    items one by one, rather than handing each thread a fixed half, keeps both threads busy
    to the end when another process takes one of the cores for a while.  The calling thread
    is one of the two, and it waits for the helper only while the helper is working on an
    item (:class:`_Shared`).  One call on the calling thread if ``go`` is False.
    """
    pool = _pool() if go and len(items) > 1 else None
    if pool is None:
        fn(items)
        return
    shared = _Shared(items)
    pool.submit(shared.help, fn)
    try:
        fn(shared.caller())
    finally:
        shared.wait()
