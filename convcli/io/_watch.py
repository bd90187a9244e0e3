"""Pillow under watch: every failed decode, and every sign of repaired damage, is one error.

A decoder says a file is damaged in three ways, and :func:`watched` hears all of them:

- it raises (Pillow's ``broken data stream``, ``image file is truncated``, ``decoder error
  -2``): the error names the file and Pillow's words;
- it warns and reads on, repairing the file: Pillow's ``Truncated File Read`` or ``Tag data
  larger than file`` while a TIFF's directories are read (any Pillow warning there: the tags
  decide the pixels), ``Image appears to be a malformed MPO file`` (a JPEG), ``Invalid
  APNG``; Pillow also *logs* a few complaints (``More samples per pixel than can be
  decoded``), which Python's last-resort handler would print on stderr;
- libtiff prints on its own, to descriptor 2 (``ZIPDecode: Decoding error at scanline 0,
  incorrect data check``; ``Fax4Decode: Bad code word at line 28 of strip 0`` while Pillow
  returns the rows it could make): :func:`convcli.io._capture.captured_stderr` catches it.

A failure becomes one :class:`SignalReadError`, with what libtiff printed folded in; a
decode that succeeded after a warning or a libtiff error line becomes one too (``damaged
TIFF: ...``).  libtiff's warnings about metadata alone (an unknown tag, an ASCII value
without its final NUL, tags out of order) do not touch the pixels and are dropped.
``ImageFile.LOAD_TRUNCATED_IMAGES`` is held False by :func:`convcli.io.pillow_image.open_image`.

Warnings Pillow gives about damaged EXIF (in a JPEG, PNG or WebP) are not in the list: the
EXIF is parsed from bytes already read, not from the pixels, and a damaged block is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConvcliError, SignalReadError
from ._capture import captured_stderr
from .limits import over_limit

__all__ = ["Watch", "watched", "one_line"]

#: Pillow warnings that mean "damaged, read anyway", by format; None: every UserWarning.
DAMAGE_WARNINGS: dict[str, tuple[str, ...] | None] = {
    "TIFF": None,
    "JPEG": ("Image appears to be a malformed MPO file",),
    "PNG": ("Invalid APNG",),
}

#: libtiff warnings about metadata only: the pixels are read as written.
HARMLESS_LIBTIFF = (
    "Unknown field with tag",
    "ASCII value for tag",
    "not end in null byte",
    "tags are not sorted in ascending order",
    "Nonstandard tile",
)

_MODULE = re.compile(r"^tempfile\.tif: ")  # Pillow names the file it hands libtiff so
_REFUSAL = re.compile(r"^[A-Z0-9]+ opening failed\. (.+)$")  # Image.WARN_POSSIBLE_FORMATS
_SHOWN = 2


def one_line(exc: BaseException) -> str:
    """Return an exception's text on one line (its type's name if it has none)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.into.append(" ".join(record.getMessage().split()))


class Watch:
    """What Pillow warned and logged, so far, inside a :func:`watched` block."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.caught: list[warnings.WarningMessage] = []
        self.logged: list[str] = []

    def damage(self) -> list[str]:
        """Return the warnings that say the file was damaged and read anyway."""
        patterns = DAMAGE_WARNINGS.get(self.fmt, ())
        out = []
        for w in self.caught:
            text = " ".join(str(w.message).split())
            if _REFUSAL.match(text):  # why a plugin refused the file: see refusals()
                continue
            if patterns is None:
                if w.category is UserWarning:
                    out.append(text)
            elif any(p in text for p in patterns):
                out.append(text)
        return out

    def refusals(self) -> list[str]:
        """Return why Pillow's plugin refused the file, and the damage seen meanwhile.

        Pillow says why only with ``Image.WARN_POSSIBLE_FORMATS`` set (as
        :func:`convcli.io.pillow_image.open_image` sets it), in a warning ``"PNG opening failed.
        broken PNG file (bad header checksum in b'IHDR')"``.
        """
        why = []
        for w in self.caught:
            found = _REFUSAL.match(" ".join(str(w.message).split()))
            if found:
                why.append(found.group(1))
        return list(dict.fromkeys(self.notes() + why))

    def notes(self) -> list[str]:
        """Return the damage warnings and Pillow's logged complaints, for a message."""
        return list(dict.fromkeys(self.damage() + self.logged))


def _libtiff_lines(text: str) -> list[str]:
    """Return what libtiff printed that is not a harmless metadata warning, one per line."""
    out = []
    for raw in text.splitlines():
        line = _MODULE.sub("", raw.strip()).rstrip(".")
        if not line or any(h in line for h in HARMLESS_LIBTIFF):
            continue
        out.append(line)
    return list(dict.fromkeys(out))


def _joined(lines: list[str]) -> str:
    more = len(lines) - _SHOWN
    text = "; ".join(lines[:_SHOWN])
    return text + (f" (and {more} more)" if more > 0 else "")


@contextlib.contextmanager
def watched(
    path: Path, fmt: str, *, what: str = "cannot read image", libtiff: bool = False
) -> Iterator[Watch]:
    """Run a step that opens or decodes an image; make every sign of damage one error.

    Parameters
    ----------
    path : pathlib.Path
        The file, for messages.
    fmt : str
        Its format (``"TIFF"``, ``"JPEG"``...): which Pillow warnings mean damage.
    what : str, optional
        The words before Pillow's own when the step raises.
    libtiff : bool, optional
        Capture what C code prints to descriptor 2 meanwhile (libtiff decodes a
        compressed TIFF).

    Yields
    ------
    Watch
        The warnings and log lines so far (for a message the block raises itself).

    Raises
    ------
    SignalReadError
        The block raised (Pillow's words, and libtiff's); or it ended after a damage
        warning, a complaint Pillow logged, or a libtiff error line.
    LimitError
        Pillow's decompression-bomb check (``--max-pixels``).
    """
    from PIL import Image

    watch = Watch(fmt)
    logger = logging.getLogger("PIL")
    handler = _Collect(watch.logged)
    logger.addHandler(handler)
    failure: Exception | None = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            watch.caught = caught
            with captured_stderr(libtiff) as err:
                try:
                    yield watch
                except (ConvcliError, MemoryError):
                    raise
                except Exception as exc:  # noqa: BLE001 - said in one line below
                    failure = exc
    finally:
        logger.removeHandler(handler)
    printed = _libtiff_lines(err.text)
    if failure is not None:
        if isinstance(failure, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
            raise over_limit(f"{path}: {one_line(failure)}", "max_pixels") from failure
        detail = printed + watch.notes()
        text = f"{path}: {what}: {one_line(failure)}"
        if detail:
            text += f" ({'libtiff: ' if printed else ''}{_joined(detail)})"
        raise SignalReadError(text) from failure
    problems = watch.notes() + printed
    if problems:
        raise SignalReadError(f"{path}: damaged {fmt}: {_joined(problems)}")
