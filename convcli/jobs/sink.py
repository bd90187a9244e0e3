"""The output sink: post-process, cast and write blocks of rows as they come, atomically."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.errors import ConvcliError
from convcli.jobs.options import rounding_for
from convcli.jobs.post import _cast, _post, _rescale

if TYPE_CHECKING:
    from convcli.jobs.options import FilterOptions, Job

__all__ = []


class _Sink:
    """Post-process, cast and write blocks of rows in order, atomically, on a thread.

    :meth:`put` hands a block over; its cast and write run on a writer thread while the
    caller filters the next block (one block waits at most).  The output appears at its name
    only once every block is written (:func:`convcli.io.atomic.atomic_file`); an error on
    either side, or an interruption, leaves nothing behind.

    Parameters
    ----------
    job, opts, sig, out_dtype, rate_out, subtype
        The job, its options and input, and the output's dtype, rate and input subtype.
    shape : tuple of int
        The output's shape, rows first, when known (a ``.npy`` header needs it); audio takes
        its channel count from the first block.
    finite : bool
        The input held no NaN/Inf.
    stats : tuple of float, optional
        The result's range, for ``--rescale``.
    """

    def __init__(
        self,
        job: Job,
        opts: FilterOptions,
        sig: Any,
        out_dtype: np.dtype,
        rate_out: float | None,
        subtype: str | None,
        shape: tuple[int, ...],
        finite: bool,
        stats: tuple[float, float, float] | None = None,
    ) -> None:
        from convcli.io.registry import target_for

        self._job, self._opts, self._sig = job, opts, sig
        self._dtype, self._rate, self._subtype = out_dtype, rate_out, subtype
        self._shape, self._finite, self._stats = tuple(shape), finite, stats
        self._target = target_for(sig, job.output)
        self._writer: Any = None
        self._pending: Any = None
        self.clipped = 0
        self.rows = 0
        self.row_shape: tuple[int, ...] = self._shape[1:]

    def __enter__(self) -> _Sink:
        from concurrent.futures import ThreadPoolExecutor

        from convcli.io.atomic import atomic_file

        self._file_cm = atomic_file(
            self._job.output, overwrite=self._opts.overwrite, protect=self._job.protect
        )
        self._fh = self._file_cm.__enter__()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="convcli-write")
        return self

    def put(self, start: int, block: np.ndarray, *, final: bool = False) -> None:
        """Queue rows ``start:start+len(block)`` (in order) for writing.

        ``final``: the block is post-processed and cast already (the output's dtype), and
        the caller does not touch it until the next ``put`` returns.
        """
        from convcli.io.atomic import hold_signals

        with hold_signals():  # the block in flight is always the one ``_pending`` knows
            self._wait()
            write = self._write_final if final else self._write
            self._pending = self._pool.submit(write, block)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _open_writer(self, row_shape: tuple[int, ...]) -> Any:
        """Start the output's writer: its rows as planned, the row shape of its blocks."""
        from convcli.io import open_writer

        shape = (self._shape[0], *row_shape)
        return open_writer(self._fh, self._target, shape, self._dtype, self._sig.form, self._rate)

    def _write(self, block: np.ndarray) -> None:
        y = _post(block, self._opts)
        if self._stats is not None:
            y = _rescale(y, self._dtype, self._sig.kind, self._subtype, self._stats)
        cast, n = _cast(
            y, self._dtype, self._sig.kind, self._subtype, self._finite, rounding_for(self._opts)
        )
        self._write_final(cast, n)

    def _write_final(self, cast: np.ndarray, n: int = 0) -> None:
        try:
            if self._writer is None:
                self._writer = self._open_writer(tuple(cast.shape[1:]))
            self._writer.write(cast)
        except (ConvcliError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise self._write_error(exc) from exc
        self.clipped += int(n)
        self.rows += int(cast.shape[0])
        self.row_shape = tuple(cast.shape[1:])

    def __exit__(self, *exc: Any) -> Any:
        from convcli.io.atomic import hold_signals

        with hold_signals():  # the clean-up runs whole; an interruption is raised after it
            return self._finish(*exc)

    def _finish(self, *exc: Any) -> Any:
        """Wait for the writer thread, close the writer, then commit or drop the file."""
        error: BaseException | None = None
        if exc[0] is None:
            try:
                self._wait()
                if self._writer is None:  # no rows at all: still a valid, empty file
                    self._writer = self._open_writer(self._shape[1:])
            except BaseException as failure:  # noqa: BLE001 - raised below, after clean-up
                error = failure
        self._pool.shutdown(wait=True)  # a block in flight finishes (moot if we failed)
        if exc[0] is None and error is None:
            try:
                self._writer.close()
            except (ConvcliError, KeyboardInterrupt) as failure:
                error = failure
            except Exception as failure:  # noqa: BLE001 - said in one line below
                error = self._write_error(failure)
                error.__cause__ = failure
        else:
            self._close_quietly()
        if error is not None:
            if self._file_cm.__exit__(type(error), error, error.__traceback__):
                return True
            raise error
        return self._file_cm.__exit__(*exc)

    def _write_error(self, exc: Exception) -> ConvcliError:
        """One line for a failed write, with the system's reason when libsndfile hid it.

        libsndfile writes on its own descriptor and says only "System error"; writing past
        the end of the (temporary, doomed) file on ours gives the reason: a full disk, a
        file size limit.
        """
        from convcli.errors import SignalWriteError
        from convcli.io.atomic import write_problem

        cause: BaseException = exc
        if not isinstance(exc, OSError):
            try:
                fd = self._fh.fileno()
                os.pwrite(fd, bytes(1 << 16), os.fstat(fd).st_size)
            except OSError as probe:
                cause = probe
        fmt = self._target.format or self._target.family
        return SignalWriteError(f"{self._job.output}: cannot write {fmt}: {write_problem(cause)}")

    def _close_quietly(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away
                pass
