"""Budgets and file checks: what convcli refuses before it allocates or decodes anything.

convcli runs unattended over files nobody checked, so every loader asks two questions
before it decodes a byte of pixels or samples:

- **Is it a regular file?**  A FIFO would block the read for ever, ``/dev/zero`` or
  ``/dev/urandom`` would never end, a socket cannot be read at all: :func:`regular_file`
  (``os.stat``, so symlinks are followed) and :func:`open_regular` refuse anything else
  with one message that says what the path is.
- **Is it within budget?**  The sizes a header claims (pixels per image, pixels of a whole
  volume, planes, channels, audio samples) are checked against :class:`Limits` first: a
  tiny file that claims 100000x100000 pixels is refused from its header, in microseconds.

=================  ==================  ====================================================
limit              default             what it bounds
=================  ==================  ====================================================
``max_pixels``     67108864 (2**26)    pixels of one image, one volume slice or one frame
``max_voxels``     4294967296 (2**32)  pixels of a whole volume (planes x rows x cols)
``max_frames``     65536               planes of a volume: slices, pages, animation frames
``max_channels``   1024                channels of an image, volume, audio file or array
``max_samples``    17179869184 (2**34) samples of an audio file (frames x channels)
=================  ==================  ====================================================

``max_pixels`` stays below Pillow's own decompression-bomb limit (89478485 pixels), and
Pillow's :class:`~PIL.Image.DecompressionBombWarning` is an error here.  Every limit may be
``None`` (no limit).  The defaults never bother a real job: a 64-megapixel photo, a 65536-
slice stack, 24 hours of 96 kHz stereo.  The working-set budget (``--max-memory``) is
checked by :mod:`convcli.jobs.budget`, which knows the kernels and the method.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, fields
from typing import BinaryIO

from ..errors import Param, SignalReadError

__all__ = [
    "Limits",
    "LimitError",
    "over_limit",
    "DEFAULT_LIMITS",
    "MAX_PIXELS",
    "MAX_VOXELS",
    "MAX_FRAMES",
    "MAX_CHANNELS",
    "MAX_SAMPLES",
    "regular_file",
    "open_regular",
    "read_head",
    "what_is",
]

PathLike = str | os.PathLike[str]

#: Pixels of one image, slice or frame (Pillow warns from 89478485 on).
MAX_PIXELS = 1 << 26
#: Pixels of a whole volume.
MAX_VOXELS = 1 << 32
#: Planes of a volume.
MAX_FRAMES = 1 << 16
#: Channels of any signal.
MAX_CHANNELS = 1024
#: Samples (frames x channels) of an audio file.
MAX_SAMPLES = 1 << 34


class LimitError(SignalReadError):
    """An input larger than a budget of :class:`Limits`; the message gives both numbers.

    Parameters
    ----------
    message : str
        What is too large, with the numbers.
    limit : str, optional
        The budget exceeded (``max_pixels``...): its :class:`~convcli.errors.Param`, so that
        the CLI can name its option.
    """

    def __init__(self, message: str = "", *, limit: str | None = None) -> None:
        super().__init__(message, params=() if limit is None else (Param(limit),))

    @property
    def limit(self) -> str | None:
        """The budget exceeded (``max_pixels``, ``max_frames``...), if the message names one."""
        return self.params[0].name if self.params else None


def over_limit(message: str, limit: str) -> LimitError:
    """Return the :class:`LimitError` of a budget exceeded: the message ends ``(limit)``.

    Examples
    --------
    >>> err = over_limit("a.png: 9 planes, more than the limit of 8", "max_frames")
    >>> str(err), err.limit
    ('a.png: 9 planes, more than the limit of 8 (max_frames)', 'max_frames')
    """
    return LimitError(f"{message} ({limit})", limit=limit)


def _over(value: int, limit: int | None) -> bool:
    return limit is not None and value > limit


@dataclass(frozen=True)
class Limits:
    """The sizes an input may claim before anything is decoded.

    Parameters
    ----------
    max_pixels : int or None
        Pixels (rows x cols) of one image, volume slice or animation frame.
    max_voxels : int or None
        Pixels of a whole volume (planes x rows x cols).
    max_frames : int or None
        Planes of a volume (slices of a folder, pages of a TIFF, frames of an animation).
    max_channels : int or None
        Channels of an image, volume, audio file or ``.npy`` read as one.
    max_samples : int or None
        Samples of an audio file (frames x channels).

    Examples
    --------
    >>> Limits().check_pixels("big.png", 100_000, 100_000)
    Traceback (most recent call last):
    ...
    convcli.io.limits.LimitError: big.png: 100000x100000 (rows x cols) is 10000000000 pixels, ...
    """

    max_pixels: int | None = MAX_PIXELS
    max_voxels: int | None = MAX_VOXELS
    max_frames: int | None = MAX_FRAMES
    max_channels: int | None = MAX_CHANNELS
    max_samples: int | None = MAX_SAMPLES

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{f.name} must be an int or None, not {value!r}")
            if value is not None and value < 1:
                raise ValueError(f"{f.name} must be at least 1, got {value}")

    def check_pixels(self, path: PathLike, rows: int, cols: int, what: str = "") -> None:
        """Refuse an image (or slice, or frame) of more than ``max_pixels`` pixels.

        Raises
        ------
        LimitError
            With the size, the pixel count and the limit.
        """
        if rows < 1 or cols < 1:
            raise SignalReadError(f"{path}: {what}{rows}x{cols} (rows x cols) has no pixel")
        count = rows * cols
        if _over(count, self.max_pixels):
            raise over_limit(
                f"{path}: {what}{rows}x{cols} (rows x cols) is {count} pixels, more than the "
                f"limit of {self.max_pixels}",
                "max_pixels",
            )

    def check_planes(self, path: PathLike, planes: int, rows: int, cols: int) -> None:
        """Refuse a volume of more than ``max_frames`` planes or ``max_voxels`` pixels.

        Raises
        ------
        LimitError
            With the counts and the limit.
        """
        if _over(planes, self.max_frames):
            raise over_limit(
                f"{path}: {planes} planes, more than the limit of {self.max_frames}", "max_frames"
            )
        count = planes * rows * cols
        if _over(count, self.max_voxels):
            raise over_limit(
                f"{path}: {planes}x{rows}x{cols} (planes x rows x cols) is {count} voxels, "
                f"more than the limit of {self.max_voxels}",
                "max_voxels",
            )

    def check_channels(self, path: PathLike, channels: int) -> None:
        """Refuse more than ``max_channels`` channels (and none at all).

        Raises
        ------
        LimitError
            With the count and the limit.
        """
        if channels < 1:
            raise SignalReadError(f"{path}: the header says {channels} channels")
        if _over(channels, self.max_channels):
            raise over_limit(
                f"{path}: {channels} channels, more than the limit of {self.max_channels}",
                "max_channels",
            )

    def check_samples(self, path: PathLike, frames: int, channels: int) -> None:
        """Refuse audio of more than ``max_samples`` samples or ``max_channels`` channels.

        Raises
        ------
        LimitError
            With the counts and the limit.
        """
        self.check_channels(path, channels)
        count = frames * channels
        if _over(count, self.max_samples):
            raise over_limit(
                f"{path}: {frames} frames x {channels} channels is {count} samples, more than "
                f"the limit of {self.max_samples}",
                "max_samples",
            )

    def check_elements(self, path: PathLike, shape: tuple[int, ...], itemsize: int) -> None:
        """Refuse an array whose element count overflows what numpy can address.

        Raises
        ------
        LimitError
            When ``prod(shape) * itemsize`` is not below ``2**63``.
        """
        count = math.prod(shape)
        if count * itemsize >= 1 << 63:
            dims = "x".join(map(str, shape))
            raise LimitError(f"{path}: a {dims} array cannot be held by any computer")


#: The limits used when none are given.
DEFAULT_LIMITS = Limits()

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def what_is(mode: int) -> str:
    """Name the kind of file an ``st_mode`` describes.

    Examples
    --------
    >>> import stat
    >>> what_is(stat.S_IFIFO | 0o644), what_is(stat.S_IFREG | 0o644)
    ('a FIFO (named pipe)', 'a regular file')
    """
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def regular_file(path: PathLike) -> os.stat_result:
    """Return ``os.stat(path)`` if ``path`` is a regular file (symlinks followed).

    Parameters
    ----------
    path : str or os.PathLike
        The path.

    Returns
    -------
    os.stat_result
        Its status.

    Raises
    ------
    SignalReadError
        The path does not exist, cannot be looked at, or is a folder, a FIFO, a device or a
        socket (which would block or never end).

    Examples
    --------
    >>> regular_file("/dev/null")
    Traceback (most recent call last):
    ...
    convcli.errors.SignalReadError: /dev/null: is a character device, not a regular file
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SignalReadError(f"{path}: does not exist") from None
    except OSError as exc:
        raise SignalReadError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:  # an embedded NUL byte
        raise SignalReadError(f"{path}: not a usable path: {exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise SignalReadError(f"{path}: is {what_is(st.st_mode)}, not a regular file")
    return st


def open_regular(path: PathLike) -> BinaryIO:
    """Open a regular file for binary reading, never blocking on a FIFO.

    The path is checked with :func:`regular_file`, opened non-blocking (so a FIFO that
    appeared in between cannot block) and checked again on the open descriptor.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    BinaryIO
        The open file; the caller closes it.

    Raises
    ------
    SignalReadError
        See :func:`regular_file`; also when the file cannot be opened.
    """
    regular_file(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SignalReadError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise SignalReadError(f"{path}: is {what_is(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_head(path: PathLike, size: int = 64) -> bytes:
    """Return the first ``size`` bytes of a regular file.

    Raises
    ------
    SignalReadError
        See :func:`open_regular`; also when the read fails.
    """
    with open_regular(path) as fh:
        try:
            return fh.read(size)
        except OSError as exc:
            raise SignalReadError(f"{path}: cannot read: {exc.strerror}") from None
