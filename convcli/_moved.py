"""Aliases for modules that moved: the old name works for one more release, with a warning.

An alias module is one line: ``__getattr__ = moved(__name__, "convcli.jobs.job")``.  Reading
any of its names imports the new home and warns with a :class:`DeprecationWarning` that names
it, so that importing the old module costs nothing and says nothing until it is used.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved"]


def moved(old: str, new: str, elsewhere: Mapping[str, str] | None = None) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that finds the names of ``old`` in their new home.

    Parameters
    ----------
    old : str
        The old module's name, for the warning.
    new : str
        The module that now holds its names (``old`` itself for a module that stays and
        lost a few names to ``elsewhere``).
    elsewhere : mapping, optional
        Names that went to another module than ``new``: name -> module, or
        ``"module:new_name"`` for a name that was renamed too.

    Returns
    -------
    callable
        ``__getattr__(name)``: the name from its new module, after a
        :class:`DeprecationWarning`; :class:`AttributeError` for a name neither holds.
    """
    homes = dict(elsewhere or {})

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in homes and new == old:  # a module that keeps most of its names
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        home, _, renamed = homes.get(name, new).partition(":")
        value = getattr(importlib.import_module(home), renamed or name, _MISSING)
        if value is _MISSING:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old}.{name} has moved to {home}.{renamed or name}; the old name goes in the "
            f"next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__


_MISSING = object()
