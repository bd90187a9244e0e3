"""run_split: every item done exactly once before it returns; the helper's errors surface."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from convcli.engine import threads


@pytest.mark.parametrize("n", [2, 3, 17, 200])
def test_every_item_is_done_once_before_return(n):
    rng = np.random.default_rng(n)
    for _ in range(30):
        done = np.zeros(n, dtype=np.int64)
        delays = rng.random(n) * 2e-4

        def fn(items, done=done, delays=delays):
            for i in items:
                time.sleep(delays[i])  # the helper may still be busy when the caller ends
                done[i] += 1

        threads.run_split(list(range(n)), fn, True)
        assert np.all(done == 1)


def test_the_helpers_error_reaches_the_caller():
    started = threading.Event()

    def fn(items):
        for _ in items:
            if threading.current_thread() is not threading.main_thread():
                started.set()
                raise RuntimeError("helper failed")
            started.wait(1.0)  # make sure the helper takes an item

    with pytest.raises(RuntimeError, match="helper failed"):
        threads.run_split(list(range(20)), fn, True)


def test_the_callers_error_propagates_and_the_helper_finishes():
    done = []

    def fn(items):
        for i in items:
            if threading.current_thread() is threading.main_thread() and i >= 2:
                raise ValueError("caller failed")
            time.sleep(1e-3)
            done.append(i)

    with pytest.raises(ValueError, match="caller failed"):
        threads.run_split(list(range(10)), fn, True)


def test_one_thread_when_not_asked():
    seen = set()

    def fn(items):
        for _ in items:
            seen.add(threading.current_thread().name)

    threads.run_split(list(range(10)), fn, False)
    assert seen == {threading.current_thread().name}
