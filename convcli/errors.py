"""The exceptions convcli raises.

One base class, :class:`ConvcliError`; each subclass is also the builtin exception a Python
user would expect (``ValueError``, ``OSError``, ``FileExistsError``), as soundfile does, so
``except ValueError`` keeps working.  Messages name the parameter (or file), what it got and
what is allowed.  The library raises; the CLI decides what the user sees.
"""

from __future__ import annotations

__all__ = [
    "ConvcliError",
    "ArgumentError",
    "KernelSpecError",
    "SignalReadError",
    "SignalWriteError",
    "OutputExistsError",
    "UnsupportedError",
    "SchedulerError",
]


class ConvcliError(Exception):
    """Base class of every error convcli raises on purpose."""


class ArgumentError(ConvcliError, ValueError):
    """A bad argument: stride, padding, pad mode, dilation, method, shapes."""


class KernelSpecError(ConvcliError, ValueError):
    """A ``-k`` spec, kernel name, parameter or kernel file that cannot be used."""


class SignalReadError(ConvcliError, OSError):
    """An input file that cannot be read as a signal."""


class SignalWriteError(ConvcliError, OSError):
    """An output that cannot be written."""


class OutputExistsError(ConvcliError, FileExistsError):
    """An output exists (and ``overwrite`` was not given) or would replace an input."""


class UnsupportedError(ConvcliError, ValueError):
    """A result the requested output format cannot hold (float RGB in PNG, say)."""


class SchedulerError(ConvcliError, ConnectionError):
    """A Dask scheduler that cannot be reached or started (``--scheduler``)."""
