"""The engine's two worker threads: one pool, and items pulled by both threads as they go.

numpy releases the GIL in its loops and matrix products, so two threads really run in
parallel; the direct, Toeplitz and FFT paths all split their blocks here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["run_split"]

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor | None:
    global _POOL
    workers = min(2, os.cpu_count() or 1)
    if workers < 2:
        return None
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="convcli")
    return _POOL


class _Shared:
    """An iterator over ``items`` that several threads can pull from."""

    def __init__(self, items: Sequence[Any]) -> None:
        self._items = items
        self._next = 0
        self._lock = threading.Lock()

    def __iter__(self) -> _Shared:
        return self

    def __next__(self) -> Any:
        with self._lock:
            i = self._next
            if i >= len(self._items):
                raise StopIteration
            self._next = i + 1
        return self._items[i]


def run_split(items: Sequence[Any], fn: Callable[[Iterable[Any]], None], go: bool) -> None:
    """Run ``fn`` over ``items`` on two threads that pull items as they go.

    ``fn`` iterates over what it is given (allocating its scratch once per call).  Pulling
    items one by one, rather than handing each thread a fixed half, keeps both threads busy
    to the end when another process takes one of the cores for a while.  One call on the
    calling thread if ``go`` is False.
    """
    pool = _pool() if go and len(items) > 1 else None
    if pool is None:
        fn(items)
        return
    shared = _Shared(items)
    futures = [pool.submit(fn, shared), pool.submit(fn, shared)]
    for f in futures:
        f.result()
