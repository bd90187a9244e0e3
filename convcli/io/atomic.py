"""Atomic writing: a temporary name beside the target, fsync, then into place.

Every output is written to a hidden temporary file in the target's own folder (same file
system, so the final move is a rename), flushed and ``os.fsync``-ed, then moved into place:

- with ``overwrite``: :func:`os.replace` (atomic: a reader sees the old file or the new one);
- without: :func:`os.link` to the target name, then the temporary name is removed.  Linking
  fails if the target exists, so a file that appeared while convcli was writing is never
  clobbered.  Where hard links are not supported, a checked :func:`os.rename` is the fallback.

Any exception, KeyboardInterrupt included, removes the temporary file.  A folder of slices is
written into a temporary folder beside the target and renamed into place; with ``overwrite``
an existing folder is first renamed aside, and deleted once the new one is in place.

Inputs are protected: a target that is one of ``protect`` by real path (symlinks, ``./``
spellings) or by ``(st_dev, st_ino)`` (hard links) is refused, with or without overwrite.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import OutputExistsError, SignalWriteError

__all__ = ["same_file", "check_output", "atomic_file", "atomic_folder", "write_new"]

PathLike = str | os.PathLike[str]

# errno values of os.link that mean "this file system has no hard links": fall back to rename.
_NO_LINK = {
    errno.EPERM,
    errno.EACCES,
    errno.EXDEV,
    errno.EMLINK,
    errno.ENOSYS,
    getattr(errno, "ENOTSUP", errno.EPERM),
    getattr(errno, "EOPNOTSUPP", errno.EPERM),
}

_UMASK: int | None = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        mask = os.umask(0o022)
        os.umask(mask)
        _UMASK = mask
    return _UMASK


def same_file(a: PathLike, b: PathLike) -> bool:
    """Tell whether two paths name the same file.

    True when their real paths are equal (symlinks and ``./`` spellings resolved) or, for
    existing files, when they share ``(st_dev, st_ino)`` (hard links).

    Parameters
    ----------
    a, b : str or os.PathLike
        The paths; they need not exist.

    Returns
    -------
    bool
        Whether writing to ``a`` would write to ``b``.

    Examples
    --------
    >>> same_file("convcli/../convcli", "./convcli")
    True
    >>> same_file("no-such-file-a", "no-such-file-b")
    False
    """
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _inside(path: PathLike, folder: PathLike) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real != top and real.startswith(top.rstrip(os.sep) + os.sep)


def _is_empty_dir(path: Path) -> bool:
    if path.is_symlink() or not path.is_dir():
        return False
    with os.scandir(path) as it:
        return next(it, None) is None


def check_output(
    target: PathLike,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
    folder: bool = False,
) -> None:
    """Check that ``target`` may be written, before anything is encoded.

    Parameters
    ----------
    target : str or os.PathLike
        The output file or folder.
    overwrite : bool, optional
        Whether an existing output may be replaced.
    protect : iterable of str or os.PathLike, optional
        Paths never to write (the inputs).
    folder : bool, optional
        The output is a folder of slices (an existing empty folder is then taken as is).

    Raises
    ------
    OutputExistsError
        The target is an input, lies inside an input... or contains one (folder), or exists
        and ``overwrite`` is false.
    SignalWriteError
        The target's folder does not exist, or the target is a directory where a file is
        expected.
    """
    path = Path(target)
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise SignalWriteError(f"{path}: output folder {parent} {what}")
    for p in protect:
        if same_file(path, p):
            raise OutputExistsError(f"{path}: is the input {p}; convcli never writes over an input")
        if folder and path.is_dir() and _inside(p, path):
            raise OutputExistsError(
                f"{path}: holds the input {p}; convcli never replaces a folder with an input in it"
            )
    if not os.path.lexists(path):
        return
    if not folder and path.is_dir():
        raise SignalWriteError(f"{path}: is a directory, not a file")
    if folder and _is_empty_dir(path):
        return
    if not overwrite:
        raise OutputExistsError(f"{path}: exists; use --overwrite to replace it")


def _fsync_dir(folder: PathLike) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _commit_file(tmp: str, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExistsError(f"{target}: exists; use --overwrite to replace it") from None
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        if os.path.lexists(target):
            raise OutputExistsError(f"{target}: exists; use --overwrite to replace it") from None
        os.rename(tmp, target)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_file(
    target: PathLike, *, overwrite: bool = False, protect: Iterable[PathLike] = ()
) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``target``; on success move it into place.

    Parameters
    ----------
    target : str or os.PathLike
        The output file.
    overwrite : bool, optional
        Replace an existing target (never an input).
    protect : iterable of str or os.PathLike, optional
        Paths never to write (the inputs).

    Yields
    ------
    BinaryIO
        The temporary file, open for binary writing (and reading, for writers that seek).
        Its name is hidden and ends with the target's extension.

    Raises
    ------
    OutputExistsError
        See :func:`check_output`; also when the target appears while writing.
    SignalWriteError
        The folder is missing or not writable.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with atomic_file(os.path.join(d, "a.txt")) as fh:
    ...         _ = fh.write(b"hello")
    ...     sorted(os.listdir(d))
    ['a.txt']
    """
    path = Path(target)
    protect = tuple(protect)
    check_output(path, overwrite=overwrite, protect=protect)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}"
        )
    except OSError as exc:
        raise SignalWriteError(f"{path}: cannot write in {path.parent}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        with open(tmp, "r+b") as fh:  # a real name: writers may look at fh.name
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        check_output(path, overwrite=overwrite, protect=protect)
        _commit_file(tmp, path, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _remove(path: PathLike) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _commit_folder(tmp: str, target: Path, overwrite: bool) -> None:
    if _is_empty_dir(target):
        os.rmdir(target)
    elif os.path.lexists(target):
        if not overwrite:
            raise OutputExistsError(f"{target}: exists; use --overwrite to replace it")
        aside = target.parent / f".{target.name}.{secrets.token_hex(6)}.old"
        os.rename(target, aside)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(aside, target)
            raise
        _remove(aside)
        return
    try:
        os.rename(tmp, target)
    except OSError as exc:
        if os.path.lexists(target):
            raise OutputExistsError(f"{target}: exists; use --overwrite to replace it") from exc
        raise


@contextlib.contextmanager
def atomic_folder(
    target: PathLike, *, overwrite: bool = False, protect: Iterable[PathLike] = ()
) -> Iterator[Path]:
    """Make a temporary folder beside ``target``; on success rename it into place.

    Parameters
    ----------
    target : str or os.PathLike
        The output folder.  An existing empty folder is replaced without ``overwrite``.
    overwrite : bool, optional
        Replace an existing folder: it is renamed aside, the new one renamed into place,
        then the old one deleted.
    protect : iterable of str or os.PathLike, optional
        Paths never to write or delete (the inputs).

    Yields
    ------
    pathlib.Path
        The temporary folder to write the slices into.

    Raises
    ------
    OutputExistsError
        See :func:`check_output`.
    SignalWriteError
        The parent folder is missing or not writable.
    """
    path = Path(target)
    protect = tuple(protect)
    check_output(path, overwrite=overwrite, protect=protect, folder=True)
    try:
        tmp = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise SignalWriteError(f"{path}: cannot write in {path.parent}: {exc.strerror}") from exc
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield Path(tmp)
        _fsync_dir(tmp)
        check_output(path, overwrite=overwrite, protect=protect, folder=True)
        _commit_folder(tmp, path, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(path.parent)


def write_new(path: PathLike) -> contextlib.AbstractContextManager[BinaryIO]:
    """Open a new file (``x+b``), for the slices written inside :func:`atomic_folder`.

    Parameters
    ----------
    path : str or os.PathLike
        A file that must not exist yet.

    Returns
    -------
    context manager of BinaryIO
        The open file; it is flushed and fsync-ed when the block ends without error.
    """
    return _write_new(Path(path))


@contextlib.contextmanager
def _write_new(path: Path) -> Iterator[BinaryIO]:
    with open(path, "x+b") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
