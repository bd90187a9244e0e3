"""What a local cluster's worker processes are told when they start (restarted ones too).

Imported by :mod:`convcli.chunked.cluster` when it starts a local cluster, and by each
worker as it unpickles the plugin; it needs ``distributed``.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["LocalWorkerSetup", "DEAF_SIGNALS"]

#: The signals a local cluster's workers ignore (their parent stops them).
DEAF_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGHUP") if hasattr(signal, n))


class LocalWorkerSetup(WorkerPlugin):
    """Set up a local cluster's worker process.

    It ignores SIGINT and SIGHUP (Ctrl-C at a terminal reaches every process of the group;
    the process that started the cluster decides when its workers stop) and SIGXFSZ (a file
    size limit is an error on one output, not the end of a worker) and, with ``quiet``,
    keeps Python's warnings off the terminal the workers share with their parent.

    Parameters
    ----------
    quiet : bool, optional
        Ignore Python's warnings.
    """

    name = "convcli-local-worker"

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def setup(self, worker: Any = None) -> None:
        """Set the worker process up (signals in its main thread, where they are handled)."""
        if threading.current_thread() is threading.main_thread():
            for sig in DEAF_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
            if hasattr(signal, "SIGXFSZ"):
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if self.quiet:
            import warnings

            warnings.simplefilter("ignore")
