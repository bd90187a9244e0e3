"""Job functions for tests/test_cluster.py, importable by the test cluster's worker processes."""

from __future__ import annotations

import os
import signal
from typing import Any

from convcli.jobs.job import run_job


def die_after_writing_once(job: Any, opts: Any) -> dict[str, Any]:
    """Write the output, then, the first time only, kill this worker before it can report.

    The worst moment for a worker to die: its output is renamed into place, but the scheduler
    never hears that the task is done, so it runs it again elsewhere.
    """
    rec = run_job(job, opts)
    marker = f"{job.output}.died"
    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        os.kill(os.getpid(), signal.SIGKILL)
    return rec
