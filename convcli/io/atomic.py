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
The inputs are indexed once per run (real paths and inodes as they were when first
checked), so a batch of n inputs costs O(n), not O(n^2), path resolutions.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import errno
import functools
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import OutputExistsError, Param, SignalWriteError

__all__ = [
    "same_file",
    "check_output",
    "atomic_file",
    "atomic_folder",
    "write_new",
    "hold_signals",
    "interruption_held",
    "defer_interruption",
    "remove_temporaries",
    "leftover_temporaries",
    "remove_leftover_temporaries",
    "write_problem",
    "StageFolder",
]

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


def _exists(path: PathLike) -> OutputExistsError:
    """Return the error of an output that exists (``overwrite`` not given)."""
    overwrite = Param("overwrite", True)
    return OutputExistsError(f"{path}: exists; use {overwrite} to replace it", params=[overwrite])


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


@dataclasses.dataclass(frozen=True)
class _Protected:
    """The inputs of a run, by real path and by ``(st_dev, st_ino)``: O(1) per output."""

    reals: dict[str, str]
    inodes: dict[tuple[int, int], str]


@functools.lru_cache(maxsize=8)
def _protected(protect: tuple[PathLike, ...]) -> _Protected:
    """Index the paths never to write, once per run (a batch of n inputs checks n outputs)."""
    reals: dict[str, str] = {}
    inodes: dict[tuple[int, int], str] = {}
    for item in protect:
        p = os.fspath(item)
        reals.setdefault(os.path.realpath(p), p)
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            continue
        inodes.setdefault((st.st_dev, st.st_ino), p)
    return _Protected(reals, inodes)


def _protected_hit(path: Path, protect: tuple[PathLike, ...]) -> str | None:
    """Return the input ``path`` would write over, if any (:func:`same_file` on every one)."""
    index = _protected(protect)
    hit = index.reals.get(os.path.realpath(path))
    if hit is None:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        hit = index.inodes.get((st.st_dev, st.st_ino))
    return hit


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
        The target's folder does not exist, the target is a directory where a file is
        expected, or it is a FIFO, a device or a socket (never replaced, even with
        ``overwrite``).
    """
    path = Path(target)
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise SignalWriteError(f"{path}: output folder {parent} {what}")
    inputs = protect if isinstance(protect, tuple) else tuple(protect)  # the cache's key
    hit = _protected_hit(path, inputs)
    if hit is not None:
        raise OutputExistsError(f"{path}: is the input {hit}; convcli never writes over an input")
    if folder and inputs and path.is_dir():
        top = os.path.realpath(path).rstrip(os.sep) + os.sep
        for real, p in _protected(inputs).reals.items():
            if real.startswith(top):
                raise OutputExistsError(
                    f"{path}: holds the input {p}; convcli never replaces a folder with an "
                    f"input in it"
                )
    if not os.path.lexists(path):
        return
    mode = os.lstat(path).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
        from .limits import what_is

        raise SignalWriteError(
            f"{path}: is {what_is(mode)}; convcli writes only regular files and folders"
        )
    if not folder and path.is_dir():
        raise SignalWriteError(f"{path}: is a directory, not a file")
    if folder and _is_empty_dir(path):
        return
    if not overwrite:
        raise _exists(path)


_held = 0  # depth of hold_signals() blocks in progress
_deferred: list[bool] = []  # an interruption came during one


@contextlib.contextmanager
def hold_signals() -> Iterator[None]:
    """Hold an interruption back for a few steps that must not be split.

    Creating a temporary file and learning its name, or moving a finished output into place
    and removing what it replaces, must happen whole: a KeyboardInterrupt in between would
    leave a temporary file nobody knows about.  convcli's signal handlers (SIGINT, SIGTERM,
    SIGHUP; :mod:`convcli.cli`) ask :func:`interruption_held` and, while a block runs,
    :func:`defer_interruption` instead of raising; the block raises KeyboardInterrupt as it
    ends.  (Blocking the signal itself would not do: a process-wide signal goes to whichever
    thread does not block it, BLAS's and the engine's included, and Python then runs the
    handler in the main thread at its next chance, inside the block.)

    Examples
    --------
    >>> with hold_signals():
    ...     pass
    """
    global _held
    _held += 1
    try:
        yield
    finally:
        _held -= 1
        if not _held and _deferred:
            _deferred.clear()
            raise KeyboardInterrupt


_LIVE: dict[str, None] = {}  # temporary files and folders being written, by path


def remove_temporaries() -> None:
    """Remove every temporary file or folder of a write that has not finished.

    Registered with :mod:`atexit` (and run by convcli's workers as they exit): whatever way
    an interruption unwinds — even one raised as a ``with`` statement enters its block, when
    no ``__exit__`` runs — no temporary file survives the process, short of SIGKILL.
    """
    for path in list(_LIVE):
        _remove(path)
        _LIVE.pop(path, None)


atexit.register(remove_temporaries)


def _temporary_name(name: str) -> re.Pattern[str]:
    """Match the hidden names a write of ``name`` uses beside it (see the module docstring).

    ``.NAME.XXXXXXXX.tmp.EXT`` (:func:`atomic_file`), ``.NAME.XXXXXXXX.tmp``
    (:func:`atomic_folder`) and ``.NAME.XXXXXXXX`` (the stages of a slab-by-slab or
    chunk-by-chunk run), ``XXXXXXXX`` being :mod:`tempfile`'s eight random characters.
    """
    return re.compile(re.escape(f".{name}.") + r"[a-z0-9_]{8}(\.tmp(\.[^/]*)?)?")


def leftover_temporaries(target: PathLike, *, inside: bool = False) -> list[Path]:
    """Return the temporary files and folders a write of ``target`` may have left behind.

    A process that is killed (SIGKILL, a Dask worker that dies or is stopped in the middle
    of a task) cannot remove them; whoever knows the run is over can, by their names.

    Parameters
    ----------
    target : str or os.PathLike
        An output.
    inside : bool, optional
        The output is a folder of outputs (``features``): the temporaries of the files in it
        are returned too.

    Returns
    -------
    list of pathlib.Path
        Hidden names beside ``target`` that only a write of it uses (and with ``inside``,
        such names inside it).

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in ("a.png", ".a.png.k3j_9zq1.tmp.png", ".a.png.old", ".b.png.k3j_9zq1"):
    ...         open(os.path.join(d, name), "w").close()
    ...     [p.name for p in leftover_temporaries(os.path.join(d, "a.png"))]
    ['.a.png.k3j_9zq1.tmp.png']
    """
    path = Path(target)
    found = []
    pattern = _temporary_name(path.name)
    with contextlib.suppress(OSError):
        with os.scandir(path.parent) as it:
            found += [Path(e.path) for e in it if pattern.fullmatch(e.name)]
    if inside and path.is_dir() and not path.is_symlink():
        any_name = re.compile(r"\..+\.[a-z0-9_]{8}(\.tmp(\.[^/]*)?)?")
        with contextlib.suppress(OSError):
            with os.scandir(path) as it:
                found += [Path(e.path) for e in it if any_name.fullmatch(e.name)]
    return sorted(found)


def remove_leftover_temporaries(target: PathLike, *, inside: bool = False) -> int:
    """Remove what :func:`leftover_temporaries` finds; return how many were removed.

    Call it only once no write of ``target`` can be running any more.
    """
    found = leftover_temporaries(target, inside=inside)
    for path in found:
        _remove(path)
    return len(found)


def interruption_held() -> bool:
    """Whether a :func:`hold_signals` block is running (a signal handler then defers)."""
    return _held > 0


def defer_interruption() -> None:
    """Have the running :func:`hold_signals` block raise KeyboardInterrupt when it ends."""
    _deferred.append(True)


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
        raise _exists(target) from None
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        if os.path.lexists(target):
            raise _exists(target) from None
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
    tmp: str | None = None
    try:
        with hold_signals():  # an interruption comes once ``tmp`` is known, never before
            try:
                fd, tmp = tempfile.mkstemp(
                    dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}"
                )
            except OSError as exc:
                raise SignalWriteError(
                    f"{path}: cannot write in {path.parent}: {exc.strerror}"
                ) from exc
            _LIVE[tmp] = None
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        with open(tmp, "r+b") as fh:  # a real name: writers may look at fh.name
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        check_output(path, overwrite=overwrite, protect=protect)
        with hold_signals():
            _commit_file(tmp, path, overwrite)
            _LIVE.pop(tmp, None)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _LIVE.pop(tmp, None)
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
            raise _exists(target)
        aside = target.parent / f".{target.name}.{os.urandom(6).hex()}.old"
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
            raise _exists(target) from exc
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
    tmp: str | None = None
    try:
        with hold_signals():  # an interruption comes once ``tmp`` is known, never before
            try:
                tmp = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            except OSError as exc:
                raise SignalWriteError(
                    f"{path}: cannot write in {path.parent}: {exc.strerror}"
                ) from exc
            _LIVE[tmp] = None
        os.chmod(tmp, 0o777 & ~_umask())
        yield Path(tmp)
        _fsync_dir(tmp)
        check_output(path, overwrite=overwrite, protect=protect, folder=True)
        with hold_signals():  # the old folder goes aside and comes back, or is removed
            _commit_folder(tmp, path, overwrite)
            _LIVE.pop(tmp, None)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            _LIVE.pop(tmp, None)
        raise
    _fsync_dir(path.parent)


class StageFolder:
    """A hidden folder beside an output, ``.NAME.XXXXXXXX/``, for what a writer stages.

    A writer that needs the whole output before it can write the file (a TIFF's ImageJ or
    OME description, a NIfTI header, a page order that is not the planes') keeps the rows
    here until it closes.  The folder is one of the live temporaries: removed by
    :meth:`close`, and by :func:`remove_temporaries` when a signal or an error unwinds the
    process first.  Its name is the one a slab-by-slab run gives its stages.

    Parameters
    ----------
    target : str or os.PathLike
        The output beside which the folder is made.

    Raises
    ------
    SignalWriteError
        The output's folder is missing or not writable.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with StageFolder(os.path.join(d, "a.tif")) as stage:
    ...         _ = (stage.path / "rows.raw").write_bytes(b"...")
    ...         hidden = stage.path.name.startswith(".a.tif.")
    ...     hidden, os.listdir(d)
    (True, [])
    """

    def __init__(self, target: PathLike) -> None:
        where = Path(target)
        with hold_signals():  # the folder is known as live before an interruption can come
            try:
                self.path = Path(tempfile.mkdtemp(dir=where.parent, prefix=f".{where.name}."))
            except OSError as exc:
                raise SignalWriteError(
                    f"{where}: cannot write in {where.parent}: {exc.strerror}"
                ) from exc
            _LIVE[str(self.path)] = None

    def close(self) -> None:
        """Remove the folder and what it holds."""
        shutil.rmtree(self.path, ignore_errors=True)
        _LIVE.pop(str(self.path), None)

    def __enter__(self) -> StageFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def write_problem(exc: BaseException) -> str:
    """Say in a few words why a write failed: the system's reason, or the exception's text.

    A full disk, a read-only folder, a file size limit (``ulimit -f``, named as such) come
    from the ``OSError``'s ``strerror``; anything else is the exception's message on one
    line.  Writers put it after ``<path>: cannot write <format>: ``.

    Examples
    --------
    >>> import errno
    >>> write_problem(OSError(errno.EFBIG, "File too large"))
    'File too large (a file size limit: ulimit -f)'
    >>> write_problem(ValueError("cannot write mode F as PNG"))
    'cannot write mode F as PNG'
    """
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        if exc.errno == errno.EFBIG:
            text += " (a file size limit: ulimit -f)"
        return text
    return " ".join(str(exc).split()) or type(exc).__name__
