"""run_split: every item done exactly once before it returns; the helper's errors surface."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_one_usable_cpu_means_one_thread():
    """Pinned to one CPU (``taskset -c 0``), the engine starts no helper thread."""
    code = textwrap.dedent(
        """
        import os, threading
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        import numpy as np
        from convcli.engine import threads, convolve
        from convcli.engine import _fft
        assert threads.usable_cpus() == 1 and threads.WORKERS == 1 and _fft.WORKERS == 1
        seen = set()
        def fn(items):
            for _ in items:
                seen.add(threading.current_thread().name)
        threads.run_split(list(range(50)), fn, True)
        assert seen == {threading.current_thread().name}, seen
        x = np.random.default_rng(0).random((600, 600), dtype=np.float32)
        y = convolve(x, np.ones((3, 3)), method="direct")
        assert np.allclose(y[1:-1, 1:-1], sum(
            x[i : i + 598, j : j + 598] for i in range(3) for j in range(3)
        ), atol=1e-5)
        assert threading.active_count() == 1, threading.enumerate()
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_jobs_and_banks_count_usable_cpus(monkeypatch):
    """``-j 0`` and the feature banks count the CPUs this process may use, not the machine's."""
    from convcli.features import _bank
    from convcli.jobs.batch import worker_count

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert threads.usable_cpus() == 1
    assert worker_count(0) == 1 and worker_count(3) == 3
    assert _bank._pool() is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert worker_count(0) == 3
