"""The exceptions convcli raises.

One base class, :class:`ConvcliError`; each subclass is also the builtin exception a Python
user would expect (``ValueError``, ``OSError``, ``FileExistsError``), as soundfile does, so
``except ValueError`` keeps working.  Messages name the parameter (or file), what it got and
what is allowed.  The library raises; the CLI decides what the user sees.

A message speaks the library's language: it names Python parameters (``max_pixels``,
``kind='image'``, ``overwrite=True``).  Each parameter it names is also carried as a
:class:`Param` in the exception's ``params``, so that a caller with other names for them (the
CLI: ``--max-pixels``, ``--as image``, ``--overwrite``) can say the same thing in its own
words (:meth:`ConvcliError.spelled`).

Examples
--------
>>> p = Param("kind", "image")
>>> err = UnsupportedError(f"a.png: a 3-D array is not an image; read it with {p}", params=[p])
>>> str(err)
"a.png: a 3-D array is not an image; read it with kind='image'"
>>> err.spelled(lambda q: "--as " + " or ".join(map(str, q.values)))
'a.png: a 3-D array is not an image; read it with --as image'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Param",
    "spell",
    "join_words",
    "ConvcliError",
    "ArgumentError",
    "KernelSpecError",
    "SignalReadError",
    "SignalWriteError",
    "OutputExistsError",
    "UnsupportedError",
    "BatchError",
    "MissingExtraError",
]


def join_words(words: Sequence[str], last: str = "or") -> str:
    """Join words as a sentence does: ``a, b or c``.

    Examples
    --------
    >>> join_words(["uint8"]), join_words(["uint8", "uint16", "int32"]), join_words([])
    ('uint8', 'uint8, uint16 or int32', '')
    """
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


@dataclass(frozen=True, init=False)
class Param:
    """A parameter a message names, with the values it suggests, if any.

    Its ``str`` is the library's spelling: ``max_pixels``, ``kind='image'``,
    ``dtype='uint8' or 'uint16'``, ``overwrite=True``.

    Parameters
    ----------
    name : str
        The Python parameter.
    *values : str or bool
        Values the message suggests (``True`` for a flag to set).
    """

    name: str
    values: tuple[object, ...]

    def __init__(self, name: str, *values: object) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "values", tuple(values))

    def __str__(self) -> str:
        if not self.values:
            return self.name
        return f"{self.name}={join_words([repr(v) for v in self.values])}"


def spell(text: str, params: Iterable[Param], spelling: Callable[[Param], str]) -> str:
    """Rewrite each parameter a message names from the library's spelling to another.

    Parameters
    ----------
    text : str
        The message (or the part of it after a path).
    params : iterable of Param
        The parameters it names, in the order it names them.
    spelling : callable
        The other spelling of a parameter.

    Returns
    -------
    str
        The message; a parameter not found in it is left alone.
    """
    end = len(text)
    for param in reversed(list(params)):
        start = text.rfind(str(param), 0, end)
        if start < 0:
            continue
        text = text[:start] + spelling(param) + text[start + len(str(param)) :]
        end = start
    return text


class ConvcliError(Exception):
    """Base class of every error convcli raises on purpose.

    Parameters
    ----------
    message : str
        What is wrong, in the library's words.
    params : iterable of Param, optional
        The parameters the message names, in order.
    """

    def __init__(self, message: str = "", *, params: Iterable[Param] = ()) -> None:
        super().__init__(message)
        self.params = tuple(params)

    def spelled(self, spelling: Callable[[Param], str]) -> str:
        """Return the message with each parameter it names spelled another way."""
        return spell(str(self), self.params, spelling)


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


class BatchError(ConvcliError, RuntimeError):
    """A batch that cannot go on: a worker process ended unexpectedly (killed from outside)."""


class MissingExtraError(ConvcliError, ImportError):
    """A file of a format whose optional pip extra is not installed; the message names it."""
