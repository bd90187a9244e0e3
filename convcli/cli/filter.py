"""``convcli filter``: apply kernels one after another (a chain) to files."""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from convcli.cli import error_line, safe_path
from convcli.cli.options import (
    geometry_options,
    limits_options,
    make_limits,
    max_memory_opt,
    max_taps_opt,
    read_kernel_specs,
)
from convcli.jobs.process import (
    catch_lost_interruptions,
    interrupt_now,
    quiet_warnings,
    signal_caught,
)

DTYPES = ("auto", "uint8", "uint16", "int16", "int32", "float32", "float64")
KINDS = ("auto", "image", "audio", "volume", "array")

EPILOG = """\b
Examples:
  convcli filter photo.jpg -k gaussian:sigma=2 -o soft.jpg
  convcli filter photo.png -k sharpen -o crisp.png
  convcli filter photo.png -k sobel:axis=1 --abs --gray -o edges.png
  convcli filter photo.png -k "[1 2 1; 2 4 2; 1 2 1]/16" -k box:3 -o chain.png
  convcli filter song.wav -k lowpass:cutoff=1000 -o dull.wav
  convcli filter song.wav -k room_ir.wav --flip --padding full -o wet.wav
  convcli filter ct_slices/ -k gaussian:1.5 -o ct_smooth/
  convcli filter scans/*.png -k box:5 --out-dir blurred/ -j 0 --json
"""


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


class Report:
    """Counts outcomes and prints one line per problem; decides the exit code in one place."""

    def __init__(self, *, quiet: bool, verbose: bool, as_json: bool) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.as_json = as_json
        self.done = 0
        self.failed = 0

    def record(self, rec: dict[str, Any]) -> None:
        """Print what one input's record says."""
        if self.as_json:
            out = {k: v for k, v in rec.items() if k not in ("traceback", "tables")}
            click.echo(json.dumps(out))
        tables = rec.get("tables") or []
        if self.verbose:
            for i, line in enumerate(rec.get("plans", []), 1):
                click.echo(f"convcli: {safe_path(rec['input'])}: kernel {i}: {line}", err=True)
                if i <= len(tables):
                    click.echo(_indent(tables[i - 1]), err=True)
        if rec["status"] == "error":
            self.failed += 1
            if self.verbose and rec.get("traceback"):
                click.echo(rec["traceback"].rstrip(), err=True)
            click.echo(error_line(rec["error"], rec["input"]), err=True)
            return
        self.done += 1
        if rec.get("nonfinite") and not self.quiet:
            click.echo(
                f"convcli: warning: {safe_path(rec['input'])}: {rec['nonfinite']} NaN/Inf "
                f"samples in the input (NaN/Inf in the result wherever a kernel window covers "
                f"one)",
                err=True,
            )
        if rec.get("clipped") and not self.quiet:
            click.echo(
                f"convcli: warning: {safe_path(rec['input'])}: {rec['clipped']} samples clipped "
                f"to the {rec['dtype']} range",
                err=True,
            )
        if rec["status"] == "planned" and not self.as_json and not self.verbose:
            click.echo(
                f"{safe_path(rec['input'])} -> {safe_path(rec['output'])}: "
                + "; ".join(rec.get("plans", [])),
            )
            for table in tables:
                click.echo(_indent(table))

    @property
    def exit_code(self) -> int:
        """Return 0 if every input was done, else 1."""
        return 1 if self.failed else 0


def _output_for(inp: str, out_dir: Path) -> str:
    # abspath, so that "slices/", "." and ".." keep the folder's real name (never out/..)
    name = Path(os.path.abspath(inp)).name
    if not name:
        raise click.UsageError(f"{safe_path(inp)} has no name to keep in --out-dir: use -o PATH")
    return str(out_dir / name)


def _index(paths: tuple[str, ...]) -> tuple[dict[str, str], dict[tuple[int, int], str]]:
    """Index paths by real path and by ``(st_dev, st_ino)``: one lookup per output."""
    reals: dict[str, str] = {}
    inodes: dict[tuple[int, int], str] = {}
    for p in paths:
        reals.setdefault(os.path.realpath(p), p)
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            continue
        inodes.setdefault((st.st_dev, st.st_ino), p)
    return reals, inodes


def _plan_outputs(
    inputs: tuple[str, ...], output: str | None, out_dir: str | None
) -> list[tuple[str, str]]:
    if output is not None and out_dir is not None:
        raise click.UsageError("give -o/--output or --out-dir, not both")
    if output is None and out_dir is None:
        raise click.UsageError("give -o/--output PATH (one input) or --out-dir DIR (any number)")
    if output is not None:
        if len(inputs) > 1:
            raise click.UsageError(
                f"-o/--output takes one input, got {len(inputs)}: use --out-dir DIR for a batch"
            )
        pairs = [(inputs[0], output)]
    else:
        assert out_dir is not None
        d = Path(out_dir)
        if d.exists() and not d.is_dir():
            raise click.UsageError(f"--out-dir {out_dir} exists and is not a folder")
        pairs = [(inp, _output_for(inp, d)) for inp in inputs]
    seen: dict[str, str] = {}
    reals, inodes = _index(inputs)
    for inp, out in pairs:
        key = os.path.realpath(out)
        if key in seen:
            raise click.UsageError(
                f"{safe_path(seen[key])} and {safe_path(inp)} would both write {safe_path(out)}"
            )
        seen[key] = inp
        other = reals.get(key)
        if other is None:
            try:
                st = os.stat(out)
                other = inodes.get((st.st_dev, st.st_ino))
            except (OSError, ValueError):
                pass
        if other is not None:
            raise click.UsageError(
                f"the output {safe_path(out)} is the input {safe_path(other)}: "
                "convcli never replaces an input"
            )
    return pairs


#: Seconds the parent waits, after an interruption, for workers to clean up their current
#: input before it kills them (a worker busy in one long numpy call cannot stop sooner).
STOP_TIMEOUT = 10.0

_STOPPING = False  # in a worker: a SIGTERM came; do no further job
_BUSY = False  # in a worker: a job is running (a SIGTERM then interrupts it)
_PROTECT: tuple[str, ...] = ()  # in a worker: every input of the run (sent once)


def _worker_init(protect: tuple[str, ...] = ()) -> None:
    """Set up a worker process: the parent alone decides when a batch stops.

    Ctrl-C reaches every process of the terminal's group, the workers too: they ignore
    SIGINT, and the parent, interrupted, sends each of them SIGTERM.  A SIGTERM — from the
    parent, or sent to the whole group — ends a worker: at once if it is idle (it has no
    file open), else by interrupting its job, whose temporary files are removed as the
    exception unwinds.  SIGXFSZ is ignored, so that a file size limit (``ulimit -f``) is an
    error on one output rather than the end of the worker.

    Each worker keeps BLAS to one thread (unless the environment says otherwise): with
    OpenBLAS's spinning helper threads in every worker, two workers on two cores ran a batch
    of direct convolutions 10x slower than one process (measured: 12 s against 1.1 s).
    """
    global _PROTECT
    _PROTECT = protect
    quiet_warnings()
    catch_lost_interruptions(_worker_interrupt)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # read when numpy loads, which is after this
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _worker_stop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # see _run_all
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _exit_worker() -> None:
    """End this worker now, leaving no temporary file (the parent no longer waits for it).

    It may run in a signal handler at any point, an import included: it imports nothing.
    """
    gc.collect()  # an interrupted writer's context, if still held, cleans up
    atomic = sys.modules.get("convcli.io.atomic")
    remove = getattr(atomic, "remove_temporaries", None)  # none written if it is not loaded
    if remove is not None:
        remove()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def _worker_interrupt() -> None:
    """Interrupt the job running, or end an idle worker."""
    if _BUSY:
        interrupt_now()
    else:
        _exit_worker()


def _stopping_already(signum: int, frame: Any) -> None:
    """Ignore a later stop signal: the first one is being carried out."""


def _worker_stop(signum: int, frame: Any) -> None:
    global _STOPPING
    # One stop is enough: a second signal (SIGTERM to the process group, then the parent's
    # own) would interrupt the clean-up of the first halfway, leaving an audio writer to
    # finish on a file already closed.
    # (A handler that does nothing, not SIG_IGN: a signal already on its way would then
    # make Python raise "Signal ignored due to race condition".)
    signal.signal(signal.SIGTERM, _stopping_already)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _stopping_already)
    _STOPPING = True
    _worker_interrupt()


def _work(job: Any, opts: Any) -> dict[str, Any] | None:
    """Run one job in a worker; a worker told to stop ends once its job has unwound.

    Jobs travel without their ``protect`` list (every input of the run: sent to each job it
    would make a batch of n inputs cost O(n^2) to pickle); the worker puts it back.
    """
    global _BUSY
    from dataclasses import replace

    from convcli.jobs.job import run_job

    _BUSY = True
    try:
        if _STOPPING:
            return None
        return run_job(replace(job, protect=_PROTECT), opts)
    finally:
        _BUSY = False
        if _STOPPING:
            _exit_worker()


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _stop_workers(pool: Any) -> None:
    """End the workers (SIGTERM: each cleans up and exits), then kill any that hang.

    Workers are followed by process id, not by the pool's bookkeeping: a SIGTERM sent to the
    whole process group also ends multiprocessing's fork server, after which the pool takes
    every worker for dead, running or not.
    """
    processes = getattr(pool, "_processes", None)  # pid -> Process; None once shut down
    pids = [p.pid for p in processes.values() if p.pid] if isinstance(processes, dict) else []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + STOP_TIMEOUT
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _quiet_pool_threads_when_stopping() -> None:
    """Keep the pool's own threads from printing a traceback once a signal stops the run.

    The workers are stopped under the feet of the executor's management thread, which may
    then fail reading from or writing to them (seen about once in 60 runs); the run ends by
    the signal with its one line, so that failure is expected and said nowhere else.
    """
    import threading

    previous = threading.excepthook
    if getattr(previous, "convcli_quiet", False):
        return

    def hook(args: Any) -> None:
        if not signal_caught():
            previous(args)

    hook.convcli_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def _start_helpers_deaf_to_hangups(ctx: Any) -> None:
    """Start multiprocessing's resource tracker and fork server with SIGHUP ignored.

    Both ignore SIGINT and SIGTERM already, but a hang-up sent to the process group (a
    closed terminal) would kill them: the pool then starts a new tracker, which prints a
    KeyError traceback for every semaphore it never saw.  An ignored signal stays ignored in
    a child; they end anyway when this process ends.  Meanwhile SIGHUP is also blocked here,
    so that one sent to us is delivered (to our handler) once it is restored, not lost.  The
    workers set their own handlers (and unblock it: :func:`_worker_init`).
    """
    if not hasattr(signal, "SIGHUP"):
        return
    from multiprocessing import resource_tracker

    hup = {signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, hup)
    try:
        previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            resource_tracker.ensure_running()
            if ctx.get_start_method() == "forkserver":
                from multiprocessing import forkserver

                forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGHUP, previous)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, hup)


def _run_all(jobs: list[Any], opts: Any, workers: int, fail_fast: bool) -> Iterator[dict[str, Any]]:
    """Yield records in input order; with workers > 1, from a pool of processes.

    An interruption (Ctrl-C, or SIGTERM, which :func:`convcli.cli.main` turns into
    KeyboardInterrupt) stops the workers before it goes on: every job running is
    interrupted and cleans up after itself, no queued job starts.
    """
    from convcli.jobs.job import run_job

    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            rec = run_job(job, opts)
            if signal_caught():  # the interruption was swallowed on its way up: stop here
                raise KeyboardInterrupt
            yield rec
            if fail_fast and rec["status"] == "error":
                return
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from dataclasses import replace

    ctx = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    # multiprocessing's resource tracker is a process of its own that shares our stderr and
    # takes its -W options from ours.  When a signal ends the run, it may find a semaphore
    # the pool had already unlinked and warn about a "leak" after our last line (seen about
    # once in three runs of SIGTERM to the parent with --jobs 2): the one line would be three.
    quiet_tracker = "ignore::UserWarning:multiprocessing.resource_tracker"
    if quiet_tracker not in sys.warnoptions:
        sys.warnoptions.append(quiet_tracker)
    _start_helpers_deaf_to_hangups(ctx)
    _quiet_pool_threads_when_stopping()
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(jobs[0].protect,),
    )
    futures: list[Any] = []
    try:
        futures.extend(pool.submit(_work, replace(job, protect=()), opts) for job in jobs)
        for done, fut in enumerate(futures):
            try:
                rec = fut.result()
            except BrokenProcessPool:
                if signal_caught():  # the workers ended first: this run is being stopped
                    raise KeyboardInterrupt from None
                raise click.ClickException(
                    f"a worker process ended unexpectedly (killed? out of memory?); "
                    f"{len(jobs) - done} of {len(jobs)} inputs not done"
                ) from None
            if rec is None or signal_caught():  # a worker was stopped; or we were, quietly
                raise KeyboardInterrupt
            yield rec
            if fail_fast and rec["status"] == "error":
                return  # the pool's shutdown below cancels what has not started
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        # Queued inputs are cancelled by the pool's own thread: cancelling them from here too
        # races with it when workers end (CPython raises InvalidStateError in that thread).
        pool.shutdown(wait=True, cancel_futures=True)


@click.command("filter", epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "-k",
    "--kernel",
    "kernels",
    multiple=True,
    required=True,
    metavar="SPEC",
    callback=read_kernel_specs,
    help='A kernel: a name (gaussian:sigma=2), an inline matrix ("[1 2 1; 2 4 2; 1 2 1]/16") '
    "or a file (@k.txt, ir.wav).  Repeat for a chain.  See `convcli kernels`.",
)
@click.option("-o", "--output", metavar="PATH", default=None, help="Output file (one input).")
@click.option(
    "--out-dir",
    metavar="DIR",
    default=None,
    help="Write each output here under its input's name (created if missing).",
)
@geometry_options
@click.option("--normalize", is_flag=True, help="Divide each kernel by its sum (where not 0).")
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply the result: output = scale * result + bias.",
)
@click.option(
    "--bias",
    type=float,
    default=0.0,
    show_default=True,
    help="Add to the result, in the input's units (128 is mid-grey for 8-bit).",
)
@click.option("--abs", "abs_", is_flag=True, help="Take the absolute value (edge magnitudes).")
@click.option(
    "--rescale",
    is_flag=True,
    help="Stretch the result to the output type's full range (audio: peak-normalise).",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default="auto",
    show_default=True,
    help="Output sample type; auto keeps the input's.",
)
@click.option(
    "--as",
    "kind",
    type=click.Choice(KINDS),
    default="auto",
    show_default=True,
    help="Read the input as this kind of signal.",
)
@click.option(
    "--alpha",
    type=click.Choice(("premultiply", "separate", "keep")),
    default="premultiply",
    show_default=True,
    help="RGBA/LA images: premultiply (no dark halos), filter separately, or keep alpha.",
)
@click.option("--gray", is_flag=True, help="Convert images and volumes to one grey channel first.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never an input).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Worker processes for a batch; 0 = all cores.",
)
@click.option("--fail-fast", is_flag=True, help="Stop at the first input that fails.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per input on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No warnings and no progress bar.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print the resolved plan (kernel, pads, output shape, method) and tracebacks.",
)
@max_memory_opt
@limits_options
@max_taps_opt
@click.option("--dry-run", is_flag=True, help="Plan every input and print it; write nothing.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr.  [default: on a terminal, unless -q]",
)
def command(
    inputs: tuple[str, ...],
    kernels: tuple[str, ...],
    output: str | None,
    out_dir: str | None,
    stride: tuple[int, ...] | None,
    padding: Any,
    pad_mode: str | None,
    pad_value: float,
    dilation: tuple[int, ...] | None,
    flip: bool,
    method: str,
    normalize: bool,
    scale: float,
    bias: float,
    abs_: bool,
    rescale: bool,
    dtype: str,
    kind: str,
    alpha: str,
    gray: bool,
    overwrite: bool,
    jobs: int,
    fail_fast: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    max_memory: int | None,
    max_pixels: int | None,
    max_voxels: int | None,
    max_frames: int | None,
    max_channels: int | None,
    max_samples: int | None,
    max_taps: int | None,
    dry_run: bool,
    progress: bool | None,
) -> int:
    """Apply kernels one after another (a chain) to images, audio or volume stacks.

    The geometry options apply to every kernel of the chain.  Outputs keep the input's kind,
    format and sample type unless the output's extension or --dtype says otherwise.
    """
    from convcli.jobs.job import FilterOptions, Job

    pairs = _plan_outputs(inputs, output, out_dir)
    if out_dir is not None and not dry_run:
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.UsageError(f"cannot create --out-dir {out_dir}: {exc.strerror}") from None
    workers = (os.cpu_count() or 1) if jobs == 0 else jobs
    opts = FilterOptions(
        kernels=kernels,
        stride=stride,
        padding=padding,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        method=method.lower(),
        normalize=normalize,
        scale=scale,
        bias=bias,
        abs=abs_,
        rescale=rescale,
        dtype=dtype,
        kind=kind,
        alpha=alpha,
        gray=gray,
        overwrite=overwrite,
        dry_run=dry_run,
        verbose=verbose,
        max_memory=max_memory,
        max_taps=max_taps,
        limits=make_limits(max_pixels, max_voxels, max_frames, max_channels, max_samples),
        jobs=max(1, min(workers, len(pairs))),
    )
    protect = tuple(inputs)
    job_list = [Job(inp, out, protect) for inp, out in pairs]
    report = Report(quiet=quiet, verbose=verbose, as_json=as_json)
    tty = sys.stderr.isatty()
    show = progress if progress is not None else (not quiet and tty)
    records = _run_all(job_list, opts, workers, fail_fast)
    if show and tty:
        with click.progressbar(
            length=len(job_list), label="filter", file=sys.stderr, show_pos=True, show_eta=True
        ) as bar:
            for rec in records:
                report.record(rec)
                bar.update(1)
    elif show:
        # --progress where stderr is no terminal: click's bar would print its label only, so
        # print one plain line per input instead.
        start = time.monotonic()
        for n, rec in enumerate(records, 1):
            report.record(rec)
            left = (time.monotonic() - start) / n * (len(job_list) - n)
            click.echo(f"convcli: progress: {n}/{len(job_list)} inputs, eta {left:.1f} s", err=True)
    else:
        for rec in records:
            report.record(rec)
    if not quiet and len(job_list) > 1 and not as_json:
        verb = "planned" if dry_run else "done"
        click.echo(
            f"convcli: {report.done} {verb}, {report.failed} failed, of {len(job_list)} inputs",
            err=True,
        )
    return report.exit_code
