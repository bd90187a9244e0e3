"""What a C library prints on its own, caught: libtiff writes its errors to the process's stderr.

libtiff reports a damaged strip (``ZIPDecode: Decoding error at scanline 0, incorrect data
check.``, ``Fax4Decode: Bad code word at line 28 of strip 0``, ``JPEGLib: ...``) through its
default handlers, which ``fprintf`` to file descriptor 2: Python never sees the text, and a
user would see it beside convcli's own line, or, where the decoder carried on, beside an
output that was written as if nothing had happened.  :func:`captured_stderr` points
descriptor 2 at an anonymous file around a decode and hands the text back, so the reader can
fold it into its one error line (or refuse the file when libtiff complained but Pillow gave
pixels anyway).

Descriptor 2 belongs to the whole process: while it is redirected, whatever any thread writes
to it lands in the capture.  convcli decodes on the main thread of each process (``--jobs``
workers are processes) and nothing else writes to stderr meanwhile; a lock keeps two
threads that decode at once (a library user's) from redirecting over each other, and
nesting in one thread works (the inner capture restores the outer one).  When descriptor 2
is closed, or neither ``memfd_create`` nor a temporary file can be had, nothing is redirected
and the text is empty.

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

__all__ = ["Captured", "captured_stderr", "MAX_CAPTURED"]

#: The most bytes of captured text kept (libtiff can write a line per damaged row).
MAX_CAPTURED = 1 << 16

_LOCK = threading.RLock()


class Captured:
    """The text written to descriptor 2 during a :func:`captured_stderr` block.

    Attributes
    ----------
    text : str
        Filled in when the block ends (UTF-8, undecodable bytes replaced); empty while the
        block runs, and when nothing could be redirected.
    """

    def __init__(self) -> None:
        self.text = ""


def _scratch() -> int | None:
    """Return a descriptor of a new empty anonymous file, or None."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        with contextlib.suppress(OSError):
            return int(memfd("convcli-stderr", getattr(os, "MFD_CLOEXEC", 0)))
    try:
        handle, name = tempfile.mkstemp(prefix="convcli-stderr-")
    except OSError:
        return None
    with contextlib.suppress(OSError):
        os.unlink(name)
    return handle


@contextlib.contextmanager
def captured_stderr(enabled: bool = True) -> Iterator[Captured]:
    r"""Redirect file descriptor 2 to an anonymous file for the block; collect the text.

    Parameters
    ----------
    enabled : bool, optional
        False: redirect nothing (the text stays empty), so callers need no second branch.

    Yields
    ------
    Captured
        Its ``text`` is set when the block ends, whether it ends normally or by an
        exception.

    Examples
    --------
    >>> with captured_stderr() as err:
    ...     _ = os.write(2, b"TIFFReadDirectory: Warning, Unknown field with tag 50000.\n")
    >>> err.text
    'TIFFReadDirectory: Warning, Unknown field with tag 50000.\n'
    """
    captured = Captured()
    if not enabled:
        yield captured
        return
    with _LOCK:
        scratch = _scratch()
        saved = None
        if scratch is not None:
            try:
                saved = os.dup(2)
            except OSError:  # descriptor 2 is closed: nothing would be shown anyway
                os.close(scratch)
                scratch = None
        if scratch is None or saved is None:
            yield captured
            return
        with contextlib.suppress(Exception):
            sys.stderr.flush()  # Python's own pending text goes where it was meant to
        os.dup2(scratch, 2)
        try:
            yield captured
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            try:
                os.lseek(scratch, 0, os.SEEK_SET)
                raw = os.read(scratch, MAX_CAPTURED)
            except OSError:
                raw = b""
            finally:
                os.close(scratch)
            captured.text = raw.decode("utf-8", "replace")
