"""One input's job for ``convcli filter``: load, apply the chain, post-process, cast, save.

:func:`run_job` never raises for a problem with its input: it returns a record (the same
record that ``--json`` prints) whose ``status`` is ``"ok"``, ``"planned"`` (``--dry-run``) or
``"error"`` with a one-line ``error``.  The processing order is::

    load -> [premultiply alpha] -> kernel 1 -> kernel 2 -> ... -> [un-premultiply]
         -> abs -> scale * y + bias -> rescale -> round/clip to the output dtype -> save
"""

from __future__ import annotations

import math
import os
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from convcli.engine import compute_dtype
from convcli.errors import ArgumentError, ConvcliError, KernelSpecError

__all__ = [
    "FilterOptions",
    "Job",
    "run_job",
    "default_pad_mode",
    "apply_chain",
    "default_memory_budget",
    "working_set",
    "count_nonfinite",
    "MEMORY_BUDGET",
    "MAX_TAPS",
]


#: The in-memory working set (bytes) above which audio files and ``.npy`` arrays are filtered
#: slab by slab when ``--max-memory`` is not given (given, it is that budget).
MEMORY_BUDGET = 1 << 30

#: Bytes of input per slab when a streamed input goes to its output in one pass: small
#: enough for the slab and its result to stay in the processor's caches between the read,
#: the filtering and the cast.
ONE_PASS_SLAB_BYTES = 8 << 20

#: The most taps a kernel may have (``--max-taps``): 16 Mi, e.g. a 4095x4095 kernel or a
#: 6-minute impulse response at 48 kHz.  ``-k gaussian:1000`` on an image (8001x8001, 64 Mi
#: taps) is refused before it is built.
MAX_TAPS = 1 << 24


def _cgroup_memory() -> int | None:
    """Return the memory limit of this process's cgroup (v2 or v1), if there is one."""
    for name in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(name, encoding="ascii") as fh:
                text = fh.read().strip()
        except (OSError, ValueError):
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def default_memory_budget() -> int:
    """Return the working-set budget used when ``--max-memory`` is not given.

    Half the memory this process may use: the physical memory, or less where a cgroup
    (a container) or ``RLIMIT_AS`` says so (1 GiB if none of them can be read).

    Returns
    -------
    int
        Bytes.
    """
    limits: list[int] = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    cgroup = _cgroup_memory()
    if cgroup is not None:
        limits.append(cgroup)
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            limits.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    return min(limits) // 2 if limits else MEMORY_BUDGET


def working_set(
    elements: int, in_itemsize: int, work_itemsize: int, method: str, alpha: bool = False
) -> int:
    """Estimate the bytes filtering an input in memory needs at its peak.

    The decoded input, plus a few float copies of it: the float input, its padded copy and
    the output (3), a fourth for the spectra of ``fft`` (and ``auto``, which may pick it),
    7 for premultiplied alpha (colour x alpha, its result, the division).  Measured with
    ``/usr/bin/time`` on a 4000x3000 RGB PNG: 438 MB (box:3), 589 MB (31x31, fft); on the
    same size RGBA: 1450 MB.

    Parameters
    ----------
    elements : int
        Samples of the input (channels included).
    in_itemsize, work_itemsize : int
        Bytes per sample as decoded, and as computed (4 for float32, 8 for float64).
    method : str
        ``--method``.
    alpha : bool, optional
        The input is premultiplied by an alpha channel.

    Returns
    -------
    int
        Bytes.

    Examples
    --------
    >>> working_set(36_000_000, 1, 4, "direct") // 1_000_000
    468
    """
    copies = 7 if alpha else (3 if method in ("direct", "separable") else 4)
    return elements * (in_itemsize + work_itemsize * copies)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class FilterOptions:
    """Everything ``convcli filter`` was told, once per run (picklable for ``--jobs``)."""

    kernels: tuple[str, ...]
    stride: tuple[int, ...] | None = None
    padding: Any = "same"
    pad_mode: str | None = None
    pad_value: float = 0.0
    dilation: tuple[int, ...] | None = None
    flip: bool = False
    method: str = "auto"
    normalize: bool = False
    scale: float = 1.0
    bias: float = 0.0
    abs: bool = False
    rescale: bool = False
    dtype: str = "auto"
    kind: str = "auto"
    alpha: str = "premultiply"
    gray: bool = False
    overwrite: bool = False
    dry_run: bool = False
    verbose: bool = False
    max_memory: int | None = None
    max_taps: int | None = MAX_TAPS
    limits: Any = None
    jobs: int = 1


@dataclass(frozen=True)
class Job:
    """One input and where its output goes; ``protect`` lists every input of the run."""

    input: str
    output: str
    protect: tuple[str, ...] = field(default_factory=tuple)


def default_pad_mode(kind: str) -> str:
    """Return the pad mode used when ``--pad-mode`` is not given.

    It is reflect for images and volumes, zero for audio and arrays.
    """
    return "reflect" if kind in ("image", "volume") else "zero"


def _axes(ndim: int) -> str:
    return f"{ndim} spatial axis" if ndim == 1 else f"{ndim} spatial axes"


def _per_axis(values: tuple[int, ...] | None, ndim: int, name: str) -> int | tuple[int, ...]:
    if values is None:
        return 1
    if len(values) == 1:
        return values[0]
    if len(values) != ndim:
        raise ArgumentError(
            f"--{name} has {len(values)} values but the signal has {_axes(ndim)}: give one "
            f"value, or one per axis"
        )
    return values


def _padding_for(padding: Any, ndim: int) -> Any:
    if isinstance(padding, list) and len(padding) not in (1, ndim):
        raise ArgumentError(
            f"--padding has {len(padding)} values but the signal has {_axes(ndim)}: give one "
            f"value, or one per axis"
        )
    return padding


def _alpha_index(signal: Any) -> int | None:
    """Return the channel index of an alpha channel, if the signal has one.

    An image or volume read by Pillow with 2 (gray+alpha) or 4 (RGBA) channels has its alpha
    last, whatever its mode was: a palette image with transparency (mode ``P``) loads as
    RGBA.  A ``.npy`` read ``--as image``/``volume`` has one only when it is 8-bit LA or RGBA
    (a 2-channel float array is more likely a vector field than gray+alpha).
    """
    if signal.kind not in ("image", "volume") or signal.channel_axis is None:
        return None
    channels = int(signal.data.shape[signal.channel_axis])
    if channels not in (2, 4):
        return None
    if signal.form.container == "npy" and signal.form.mode not in ("LA", "RGBA"):
        return None
    return channels - 1


def _unit_max(dtype: np.dtype) -> float:
    if dtype.kind in "ui":
        return float(np.iinfo(dtype).max)
    return 1.0


def _delta_like(kernel: np.ndarray) -> np.ndarray:
    """Return a kernel of the same shape with one tap at its centre (``keep``'s identity)."""
    delta = np.zeros(kernel.shape)
    delta[tuple((n - 1) // 2 for n in kernel.shape)] = 1.0
    return delta


def apply_chain(
    data: np.ndarray,
    kernels: list[np.ndarray],
    *,
    channel_axis: int | None,
    geometry: dict[str, Any],
    plans: list[Any] | None = None,
) -> np.ndarray:
    """Apply kernels one after another; per-channel kernels (one more axis) channel by channel.

    Parameters
    ----------
    data : ndarray
        The signal.
    kernels : list of ndarray
        Each with the signal's spatial number of axes, or one more (a leading axis with one
        kernel per channel, as a multi-channel impulse response gives).
    channel_axis : int or None
        The signal's channel axis.
    geometry : dict
        ``stride``, ``padding``, ``pad_mode``, ``pad_value``, ``dilation``, ``flip``, ``method``.
    plans : list, optional
        Receives the :class:`convcli.engine.Plan` of each kernel.

    Returns
    -------
    ndarray
    """
    from convcli.engine import execute, make_plan

    y = data
    spatial = y.ndim - (0 if channel_axis is None else 1)
    for k in kernels:
        finite = not (y.dtype.kind == "f" and not np.all(np.isfinite(y)))
        if k.ndim == spatial + 1:
            # One kernel per channel (a multi-channel impulse response).
            if channel_axis is None:
                y = y[..., None]
                channel_axis = y.ndim - 1
            channels = y.shape[channel_axis]
            if channels == 1 and k.shape[0] > 1:
                y = np.repeat(y, k.shape[0], axis=channel_axis)
                channels = k.shape[0]
            if k.shape[0] != channels:
                raise ArgumentError(
                    f"the kernel has {k.shape[0]} channels but the signal has {channels}"
                )
            outs = []
            for c in range(channels):
                plane = np.take(y, c, axis=channel_axis)
                plan = make_plan(plane.shape, plane.dtype, k[c], finite=finite, **geometry)
                if plans is not None and c == 0:
                    plans.append(plan)
                outs.append(execute(plan, plane))
            y = np.stack(outs, axis=channel_axis)
        else:
            plan = make_plan(
                y.shape, y.dtype, k, channel_axis=channel_axis, finite=finite, **geometry
            )
            if plans is not None:
                plans.append(plan)
            y = execute(plan, y)
    return y


def count_nonfinite(x: np.ndarray) -> int:
    """Count the NaN and infinite samples of an array (0 for integers; two reductions first).

    Examples
    --------
    >>> count_nonfinite(np.array([1.0, np.nan, -np.inf])), count_nonfinite(np.arange(3))
    (2, 0)
    """
    if x.dtype.kind not in "fc" or not x.size:
        return 0
    if np.isfinite(np.min(x)) and np.isfinite(np.max(x)):  # min and max propagate NaN
        return 0
    return int(np.count_nonzero(~np.isfinite(x)))


def _finite_range(y: np.ndarray) -> tuple[float, float, float]:
    """Return min, max and peak magnitude of the finite samples (NaN/Inf left out)."""
    if not y.size:
        return np.inf, -np.inf, 0.0
    lo, hi = float(np.min(y)), float(np.max(y))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        y = y[np.isfinite(y)]
        if not y.size:
            return np.inf, -np.inf, 0.0
        lo, hi = float(np.min(y)), float(np.max(y))
    return lo, hi, max(abs(lo), abs(hi))


def _rescale(
    y: np.ndarray,
    dtype: np.dtype,
    kind: str,
    subtype: str | None,
    stats: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Stretch the result to the output type's full range.

    Audio is peak-normalised (zero stays zero) to the largest sample the output holds: the
    input's PCM subtype when it is written again, else the output dtype.  Images and volumes
    go min..max -> 0..max (negative pixels do not display), floats to 0..1; arrays of a signed
    integer type to the type's whole range.  Integer targets of 32 bits are computed in
    float64, which holds their top value exactly.  ``stats`` (min, max, peak magnitude)
    gives the whole result's range when ``y`` is one block of it.
    """
    from convcli.io.dtypes import SUBTYPE_BITS, SUBTYPE_DTYPE

    if stats is None:
        stats = _finite_range(y)  # NaN/Inf (kept in float outputs) do not set the range
    if kind == "audio":
        peak = stats[2]
        top = 1.0
        if dtype.kind in "ui":
            bits = 8 * dtype.itemsize
            if subtype in SUBTYPE_BITS and SUBTYPE_DTYPE.get(subtype) == dtype.name:
                bits = SUBTYPE_BITS[subtype]
            top = 1.0 - 2.0 ** -(bits - 1)
        return y * (top / peak) if peak > 0 else y
    lo, hi = stats[0], stats[1]
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        signed = dtype.kind == "i" and kind == "array"
        tlo, thi = (float(info.min) if signed else 0.0), float(info.max)
    else:
        tlo, thi = 0.0, 1.0
    if hi <= lo:
        return np.full_like(y, tlo)
    if dtype.kind in "ui" and dtype.itemsize >= 4:
        y = y.astype(np.float64)
    return (y - lo) * ((thi - tlo) / (hi - lo)) + tlo


def run_job(job: Job, opts: FilterOptions) -> dict[str, Any]:
    """Run one input through the chain and write its output.

    Parameters
    ----------
    job : Job
        The input, its output path, and the paths never to write.
    opts : FilterOptions
        The run's options.

    Returns
    -------
    dict
        The record: ``input``, ``output``, ``kind``, ``shape_in``, ``shape_out``, ``dtype_in``,
        ``dtype``, ``rate``, ``rate_out``, ``kernels`` (shapes), ``methods``, ``pads``,
        ``plans`` (one line per kernel), ``clipped``, ``nonfinite`` (NaN/Inf samples of the
        input), ``seconds``, ``status`` and ``error``.
    """
    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "input": job.input,
        "output": job.output,
        "kind": None,
        "shape_in": None,
        "shape_out": None,
        "dtype_in": None,
        "dtype": None,
        "rate": None,
        "rate_out": None,
        "kernels": [],
        "methods": [],
        "pads": [],
        "plans": [],
        "clipped": 0,
        "nonfinite": 0,
        "seconds": 0.0,
        "status": "error",
        "error": None,
    }
    try:
        _run(job, opts, record)
    except (ConvcliError, ValueError, OSError, MemoryError) as exc:
        record["error"] = error_message(exc, job.input)
        if opts.verbose:
            record["traceback"] = traceback.format_exc()
    except Exception as exc:  # a bug somewhere below: still one line, and the batch goes on
        record["error"] = f"internal error: {type(exc).__name__}: {error_message(exc, job.input)}"
        if opts.verbose:
            record["traceback"] = traceback.format_exc()
    record["seconds"] = round(time.perf_counter() - t0, 6)
    return record


def error_message(exc: BaseException, path: str) -> str:
    """Return one line for the record's ``error``: the problem, without the input's name.

    The CLI prints ``convcli: error: <input>: <problem>``; loaders' messages start with the
    path they read, which would name the input twice.
    """
    if isinstance(exc, MemoryError):
        return "not enough memory for this input"
    if isinstance(exc, OSError) and not isinstance(exc, ConvcliError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = " ".join(str(exc).split())
    for spelling in dict.fromkeys((path, str(Path(path)), path.rstrip("/\\"))):
        if spelling and text.startswith(f"{spelling}: "):
            text = text[len(spelling) + 2 :]
            break
    return text or type(exc).__name__


def _limits(opts: FilterOptions) -> Any:
    from convcli.io import DEFAULT_LIMITS

    return DEFAULT_LIMITS if opts.limits is None else opts.limits


def _open(job: Job, opts: FilterOptions) -> tuple[Any, Any]:
    """Return ``(signal, source)``: the loaded signal, or a header and a row source.

    An audio file or ``.npy`` is read slab by slab (``source`` is a
    :class:`convcli.stream.RowSource` and ``signal.data`` holds no rows) when its in-memory
    working set would pass ``opts.max_memory`` (1 GiB when not given), and for ``--dry-run``
    (planning needs only the header).  Everything else is loaded whole, once its header has
    been checked against the budgets: the :class:`convcli.io.Limits` and the working set
    against ``opts.max_memory`` (when not given, :func:`default_memory_budget` shared by
    the ``opts.jobs`` inputs filtered at once).

    Raises
    ------
    LimitError
        The input would need more memory than the budget and cannot be streamed.
    """
    from convcli import io
    from convcli.stream import estimate_bytes, open_stream

    limits = _limits(opts)
    budget = opts.max_memory
    if budget is None:  # the default is shared by the inputs filtered at once (--jobs)
        budget = default_memory_budget() // max(1, opts.jobs)
    stream_above = opts.max_memory if opts.max_memory is not None else MEMORY_BUDGET
    if not opts.gray:
        opened = open_stream(job.input, opts.kind, limits)
        if opened is not None:
            source, header = opened
            big = estimate_bytes(source.shape, (), opts.method) > stream_above
            direct = _one_pass(opts) and _streams_to(header, job, ("audio",))
            if opts.dry_run or (
                (big or direct) and _alpha_index(header) is None and _streams_to(header, job)
            ):
                return header, source
            source.close()
    info = io.probe(job.input, limits=limits)  # headers only: every budget, before decoding
    _check_memory(info, opts, budget)
    return io.load(job.input, kind=opts.kind, gray=opts.gray, limits=limits), None


def _check_memory(info: dict[str, Any], opts: FilterOptions, budget: int) -> None:
    """Refuse an input whose in-memory filtering would need more than ``budget`` bytes."""
    from convcli.io import LimitError
    from convcli.io.audio import load_dtype

    shape = [int(n) for n in info["shape"]]
    dtype = np.dtype(info["dtype"])
    if info["kind"] == "audio" and info.get("subtype"):
        dtype = np.dtype(load_dtype(str(info["subtype"])))
    work = compute_dtype(dtype).itemsize
    alpha = info["kind"] in ("image", "volume") and info.get("channels") in (2, 4)
    alpha = alpha and opts.alpha == "premultiply" and not opts.gray
    need = working_set(math.prod(shape), dtype.itemsize, work, opts.method, alpha)
    if need > budget:
        dims = "x".join(map(str, shape))
        kind = info["kind"] if opts.kind == "auto" else opts.kind
        raise LimitError(
            f"{info['path']}: filtering this {dims} {dtype.name} {kind} in memory "
            f"needs about {_bytes(need)}, more than the --max-memory budget of {_bytes(budget)} "
            f"({need} > {budget} bytes); only audio and .npy written to audio or .npy are "
            f"filtered slab by slab"
        )


def _one_pass(opts: FilterOptions) -> bool:
    """Whether a streamed input goes from its file to the output in one pass, slab by slab.

    One kernel and no ``--rescale`` (which needs the whole result's range first): each slab
    is filtered, cast and written as it comes.  Audio always streams then: the resident set
    stays at a few slabs and no array the size of the file is ever made.
    """
    return len(opts.kernels) == 1 and not opts.rescale


def _streams_to(header: Any, job: Job, families: tuple[str, ...] = ("audio", "npy")) -> bool:
    """Whether the output's format can be written block by block (audio or ``.npy``)."""
    from convcli.errors import UnsupportedError
    from convcli.io._formats import resolve_target

    try:
        return resolve_target(header, job.output).family in families
    except (UnsupportedError, ValueError):
        return False


def _run(job: Job, opts: FilterOptions, record: dict[str, Any]) -> None:
    sig, source = _open(job, opts)
    try:
        _run_signal(job, opts, record, sig, source)
    finally:
        if source is not None:
            source.close()


def _run_signal(
    job: Job, opts: FilterOptions, record: dict[str, Any], sig: Any, source: Any
) -> None:
    from convcli import io

    data = sig.data
    shape_in = tuple(source.shape) if source is not None else data.shape
    record.update(
        kind=sig.kind,
        shape_in=list(shape_in),
        dtype_in=str(data.dtype),
        rate=sig.rate,
    )
    ndim = sig.spatial_ndim
    geometry = {
        "stride": _per_axis(opts.stride, ndim, "stride"),
        "dilation": _per_axis(opts.dilation, ndim, "dilation"),
        "padding": _padding_for(opts.padding, ndim),
        "pad_mode": opts.pad_mode or default_pad_mode(sig.kind),
        "pad_value": opts.pad_value,
        "flip": opts.flip,
        "method": opts.method,
    }
    kernels = []
    for spec in opts.kernels:
        k = _make_kernel(spec, ndim, sig.rate, opts.max_taps)
        if opts.normalize:
            k = _normalized(k, per_channel=k.ndim == ndim + 1)
        kernels.append(k)
        record["kernels"].append(list(k.shape))

    # The output rate of audio: every kernel's stride divides it.
    rate_out = sig.rate
    if sig.kind == "audio" and sig.rate is not None:
        strides = geometry["stride"]
        s = strides if isinstance(strides, int) else strides[0]
        total_stride = s ** len(kernels)
        rate_out = sig.rate / total_stride
        if total_stride > 1 and not float(rate_out).is_integer():
            raise ArgumentError(
                f"stride {total_stride} does not divide the sample rate {sig.rate:g} Hz "
                f"(the output rate would be {rate_out:.4f} Hz)"
            )
    record["rate_out"] = rate_out

    out_dtype = np.dtype(io.output_dtype(sig, job.output, opts.dtype))
    record["dtype"] = str(out_dtype)

    alpha = _alpha_index(sig)
    ch = sig.channel_axis
    plans: list[Any] = []
    if opts.dry_run:
        from convcli.engine import make_plan

        shape: tuple[int, ...] = tuple(shape_in)
        dry_ch = ch
        for k in kernels:
            kk = k
            if k.ndim == ndim + 1:  # one kernel per channel: a mono input is spread to them
                kk = k[0]
                if dry_ch is None:
                    shape, dry_ch = (*shape, 1), len(shape)
                if shape[dry_ch] == 1:
                    shape = (*shape[:dry_ch], int(k.shape[0]), *shape[dry_ch + 1 :])
            plan = make_plan(shape, data.dtype, kk, channel_axis=dry_ch, **geometry)
            plans.append(plan)
            shape = plan.output_shape
        _plans_to_record(plans, record, opts)
        record["shape_out"] = list(shape)
        if Path(job.output).exists() and not opts.overwrite:
            raise ArgumentError(f"output {job.output} exists (use --overwrite)")
        record["status"] = "planned"
        return

    subtype = getattr(sig.form, "subtype", None)
    if source is not None:
        _filter_streamed(job, opts, record, sig, source, kernels, geometry, out_dtype, rate_out)
        return

    if _png_strips(sig, job, opts, kernels, alpha, out_dtype):
        _filter_to_png(job, opts, record, sig, kernels[0], geometry, out_dtype)
        return

    record["nonfinite"] = count_nonfinite(data)
    if alpha is not None and opts.alpha != "separate":
        y = _filter_with_alpha(data, alpha, ch, kernels, geometry, opts.alpha, plans)
    else:
        y = apply_chain(data, kernels, channel_axis=ch, geometry=geometry, plans=plans)
    _plans_to_record(plans, record, opts)
    y = _post(y, opts)
    if opts.rescale:
        y = _rescale(y, out_dtype, sig.kind, subtype)
    cast, clipped = _cast(y, out_dtype, sig.kind, subtype, record["nonfinite"] == 0)
    record["clipped"] = int(clipped)
    record["shape_out"] = list(cast.shape)
    out = replace(sig, data=cast, rate=rate_out)
    io.save(out, job.output, overwrite=opts.overwrite, protect=job.protect)
    record["status"] = "ok"


def _png_strips(
    sig: Any,
    job: Job,
    opts: FilterOptions,
    kernels: list[np.ndarray],
    alpha: int | None,
    out_dtype: np.dtype,
) -> bool:
    """Whether an image goes to a PNG strip by strip (:func:`_filter_to_png`).

    One kernel, no ``--rescale``, no alpha channel, an 8- or 16-bit PNG output.
    """
    from convcli.io._formats import resolve_target

    if sig.kind != "image" or not _one_pass(opts) or alpha is not None:
        return False
    if kernels[0].ndim != sig.spatial_ndim or sig.channel_axis not in (None, 2):
        return False
    if out_dtype not in (np.uint8, np.uint16):
        return False
    try:
        target = resolve_target(sig, job.output)
    except (ConvcliError, ValueError):
        return False
    return target.family == "image" and target.format == "PNG"


def _filter_to_png(
    job: Job,
    opts: FilterOptions,
    record: dict[str, Any],
    sig: Any,
    kernel: np.ndarray,
    geometry: dict[str, Any],
    out_dtype: np.dtype,
) -> None:
    """Filter an image in strips of rows, each cast and deflated while the next is filtered.

    The same pixels as filtering the whole image (each strip reads the rows its outputs
    need, the pad mode's included: :func:`convcli.stream.correlate_rows`), without a float
    copy of the whole result, and the PNG's deflate (on every core) overlaps the filtering.
    """
    from convcli.engine import make_plan
    from convcli.stream import ArraySource, correlate_rows

    data = sig.data
    nonfinite = count_nonfinite(data)
    record["nonfinite"] = nonfinite
    finite = nonfinite == 0
    ch = sig.channel_axis
    whole = make_plan(data.shape, data.dtype, kernel, channel_axis=ch, finite=finite, **geometry)
    out = whole.output_shape
    rows_shape = (out[0], out[1], out[2] if len(out) == 3 else 1)
    sink = _Sink(job, opts, sig, out_dtype, None, None, rows_shape, finite)
    with sink:
        plan = correlate_rows(
            ArraySource(data),
            kernel,
            sink.put,
            channel_axis=ch,
            finite=finite,
            slab_bytes=ONE_PASS_SLAB_BYTES,
            **geometry,
        )
    _plans_to_record([plan], record, opts)
    record["clipped"] = sink.clipped
    record["shape_out"] = list(out)
    record["status"] = "ok"


def _too_many_taps(spec: str, shape: tuple[int, ...], ndim: int, max_taps: int) -> KernelSpecError:
    dims = "x".join(map(str, shape))
    return KernelSpecError(
        f"kernel {spec}: {dims} = {math.prod(shape)} taps for a {ndim}-D signal, more than the "
        f"limit of {max_taps} (--max-taps)"
    )


def _make_kernel(spec: str, ndim: int, rate: float | None, max_taps: int | None) -> np.ndarray:
    """Build a kernel, refusing one of more than ``max_taps`` taps before it is built.

    A named n-D kernel (a cube: ``gaussian``, ``box``, ``disk``...) is first built for one
    axis, which is cheap, and its side raised to ``ndim``; a kernel file's size comes from its
    header (:func:`convcli.kernels._files.kernel_file_taps`).  Whatever is built is checked
    again.
    """
    from convcli.kernels import get_kernel, make_kernel, parse_spec
    from convcli.kernels._files import kernel_file_taps

    if max_taps is None:
        return make_kernel(spec, ndim, rate=rate)
    parsed = parse_spec(spec)
    if parsed.kind == "named" and parsed.name is not None and ndim > 1:
        definition = get_kernel(parsed.name)
        if definition.ndims is None and not definition.needs_rate:
            try:
                side = int(make_kernel(parsed, 1, rate=rate).shape[0])
            except KernelSpecError:  # sobel:axis=1 has no 1-D form: build it as asked
                side = 0
            if side**ndim > max_taps:
                raise _too_many_taps(spec, (side,) * ndim, ndim, max_taps)
    elif parsed.kind == "file" and parsed.path is not None:
        taps = kernel_file_taps(parsed.path)
        if taps is not None and taps > max_taps:
            raise KernelSpecError(
                f"kernel file {parsed.path}: {taps} taps, more than the limit of {max_taps} "
                f"(--max-taps)"
            )
    k = make_kernel(parsed, ndim, rate=rate)
    if k.size > max_taps:
        raise _too_many_taps(spec, k.shape, ndim, max_taps)
    return k


def _post(y: np.ndarray, opts: FilterOptions) -> np.ndarray:
    """Apply ``--abs``, then ``--scale`` and ``--bias``."""
    if opts.abs:
        y = np.abs(y)
    if opts.scale != 1.0:
        y = y * opts.scale
    if opts.bias != 0.0:
        y = y + opts.bias
    return y


def _cast(
    y: np.ndarray,
    out_dtype: np.dtype,
    kind: str,
    subtype: str | None,
    input_finite: bool = True,
) -> tuple[np.ndarray, int]:
    """Round, clip and count into the output dtype; NaN/Inf cannot go to an integer type.

    A float output keeps NaN and Inf; when the input held none, every one in the output is an
    overflow (of ``--scale``, ``--bias`` or the float32 range) and counts as clipped.
    """
    from convcli import io

    nonfinite = 0
    if y.dtype.kind == "f" and out_dtype.kind in "ui" and y.size:
        # min and max propagate NaN and show Inf: count only when there is something to count
        if not (np.isfinite(np.min(y)) and np.isfinite(np.max(y))):
            nonfinite = int(np.count_nonzero(~np.isfinite(y)))
    if nonfinite:
        raise ArgumentError(
            f"the result holds {nonfinite} NaN/Inf samples, which {out_dtype} cannot hold; "
            f"write a float output (--dtype float32 to .npy, or .tif for one channel)"
        )
    out, clipped = io.cast(y, out_dtype, audio_subtype=subtype if kind == "audio" else None)
    if out.dtype.kind == "f" and input_finite:
        clipped = count_nonfinite(out)
    return out, clipped


def _filter_streamed(
    job: Job,
    opts: FilterOptions,
    record: dict[str, Any],
    sig: Any,
    source: Any,
    kernels: list[np.ndarray],
    geometry: dict[str, Any],
    out_dtype: np.dtype,
    rate_out: float | None,
) -> None:
    """Filter slab by slab: each kernel through a raw temporary file, then cast and write.

    Peak memory is a few slabs (a slab is :func:`convcli.stream.slab_bytes_for` the budget),
    whatever the input's length; the temporary files live in a hidden folder beside the
    output and go with it.
    """
    import tempfile

    from convcli.io.atomic import hold_signals
    from convcli.stream import RawFile, correlate_rows

    target = Path(job.output)
    subtype = getattr(sig.form, "subtype", None)
    plans: list[Any] = []
    nonfinite = 0
    if source.may_hold_nonfinite:
        nonfinite = sum(count_nonfinite(b) for _, b in _blocks(source, _slab_bytes(opts)))
    record["nonfinite"] = nonfinite
    record["streamed"] = True
    if _one_pass(opts) and _streams_to(sig, job, ("audio",)):
        from convcli.stream import correlate_rows

        sink = _Sink(job, opts, sig, out_dtype, rate_out, subtype, source.shape, nonfinite == 0)
        with sink:
            plans.append(
                correlate_rows(
                    source,
                    kernels[0],
                    sink.put,
                    channel_axis=sig.channel_axis,
                    finite=nonfinite == 0,
                    slab_bytes=min(_slab_bytes(opts), ONE_PASS_SLAB_BYTES),
                    **geometry,
                )
            )
        _plans_to_record(plans, record, opts)
        record["clipped"] = sink.clipped
        record["shape_out"] = [sink.rows, *sink.row_shape]
        record["status"] = "ok"
        return
    with hold_signals():  # the folder's clean-up is set up before an interruption can come
        stage_dir = tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.")
    with stage_dir as tmp:
        current = source
        stages: list[RawFile] = []
        try:
            for i, k in enumerate(kernels):
                raw = RawFile(
                    Path(tmp) / f"stage{i}.raw",
                    compute_dtype(sig.data.dtype),
                )
                stages.append(raw)
                plans.append(
                    correlate_rows(
                        current,
                        k,
                        raw.write,
                        channel_axis=sig.channel_axis,
                        finite=nonfinite == 0,
                        slab_bytes=_slab_bytes(opts),
                        **geometry,
                    )
                )
                current = raw
            _plans_to_record(plans, record, opts)
            last = stages[-1]
            stats = _stats(last, opts) if opts.rescale else None
            finite = nonfinite == 0
            sink = _Sink(job, opts, sig, out_dtype, rate_out, subtype, last.shape, finite, stats)
            with sink:
                for start, block in _blocks(last, _slab_bytes(opts)):
                    sink.put(start, block)
            record["clipped"] = sink.clipped
            record["shape_out"] = list(last.shape)
        finally:
            for raw in stages:
                raw.close()
    record["status"] = "ok"


def _slab_bytes(opts: FilterOptions) -> int:
    from convcli.stream import slab_bytes_for

    return slab_bytes_for(opts.max_memory)


def _blocks(source: Any, slab_bytes: int) -> Any:
    """Yield ``(start, rows)`` blocks of a row source, a slab at a time."""
    from convcli.stream import slab_rows

    n = source.shape[0]
    step = slab_rows(int(np.prod(source.shape[1:], dtype=np.int64)) or 1, slab_bytes)
    for start in range(0, n, step):
        yield start, source.read(start, min(start + step, n))


def _stats(source: Any, opts: FilterOptions) -> tuple[float, float, float]:
    """Return the min, max and peak magnitude of the post-processed result, for ``--rescale``."""
    lo, hi, peak = np.inf, -np.inf, 0.0
    for _, block in _blocks(source, _slab_bytes(opts)):
        b_lo, b_hi, b_peak = _finite_range(_post(block, opts))
        lo, hi, peak = min(lo, b_lo), max(hi, b_hi), max(peak, b_peak)
    return lo, hi, peak


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
        from convcli.io._formats import resolve_target

        self._job, self._opts, self._sig = job, opts, sig
        self._dtype, self._rate, self._subtype = out_dtype, rate_out, subtype
        self._shape, self._finite, self._stats = tuple(shape), finite, stats
        target = resolve_target(sig, job.output)
        self._family, self._format = target.family, target.format
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

    def put(self, start: int, block: np.ndarray) -> None:
        """Queue rows ``start:start+len(block)`` (in order) for writing."""
        from convcli.io.atomic import hold_signals

        with hold_signals():  # the block in flight is always the one ``_pending`` knows
            self._wait()
            self._pending = self._pool.submit(self._write, block)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _open_writer(self, channels: int) -> Any:
        if self._family == "image":
            from convcli.io.dtypes import check_image
            from convcli.io.image import png_writer

            assert self._format == "PNG" and len(self._shape) == 3
            check_image(self._format, self._dtype, self._shape[2], self._job.output)
            return png_writer(self._fh, self._shape, self._dtype, self._sig.form)
        if self._family != "audio":
            return _NpyWriter(self._fh, self._shape, self._dtype)
        from convcli.io.audio import AudioWriter, check_rate

        assert self._format is not None
        return AudioWriter(
            self._fh,
            check_rate(self._rate, self._job.output),
            channels,
            self._dtype,
            self._format,
            self._sig.form,
            self._job.output,
        )

    def _write(self, block: np.ndarray) -> None:
        y = _post(block, self._opts)
        if self._stats is not None:
            y = _rescale(y, self._dtype, self._sig.kind, self._subtype, self._stats)
        cast, n = _cast(y, self._dtype, self._sig.kind, self._subtype, self._finite)
        try:
            if self._writer is None:
                self._writer = self._open_writer(int(cast.shape[1]) if cast.ndim > 1 else 1)
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
                    self._writer = self._open_writer(int(self._shape[-1]))
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
        from convcli.io._api import _write_problem

        cause: BaseException = exc
        if not isinstance(exc, OSError):
            try:
                fd = self._fh.fileno()
                os.pwrite(fd, bytes(1 << 16), os.fstat(fd).st_size)
            except OSError as probe:
                cause = probe
        fmt = self._format or self._family
        return SignalWriteError(f"{self._job.output}: cannot write {fmt}: {_write_problem(cause)}")

    def _close_quietly(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away
                pass


class _NpyWriter:
    """Write a ``.npy`` header, then rows in order."""

    def __init__(self, fh: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": shape,
        }
        np.lib.format.write_array_header_2_0(fh, header)
        self._fh = fh

    def write(self, block: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(block).tobytes())

    def close(self) -> None:
        self._fh.flush()


def _normalized(k: np.ndarray, *, per_channel: bool) -> np.ndarray:
    """Divide a kernel by its sum where that sum is not 0.

    One kernel per channel (a multi-channel impulse response) is each divided by its own sum.
    """
    if per_channel:
        return np.stack([_normalized(kc, per_channel=False) for kc in k])
    total = float(k.sum())
    return k / total if total != 0.0 else k


def _plans_to_record(plans: list[Any], record: dict[str, Any], opts: FilterOptions) -> None:
    record["methods"] = [p.method for p in plans]
    record["pads"] = [[list(p) for p in plan.pads] for plan in plans]
    record["plans"] = [p.describe() for p in plans]
    if opts.verbose or opts.dry_run:
        # The per-axis table `convcli shape` prints, for the job's real geometry.
        from convcli.arithmetic import format_geometry_table

        names = ("time",) if record.get("kind") == "audio" else None
        record["tables"] = [
            format_geometry_table(p.geometry, names=names, explain_sizes=False) for p in plans
        ]


def _filter_with_alpha(
    data: np.ndarray,
    alpha: int,
    ch: int | None,
    kernels: list[np.ndarray],
    geometry: dict[str, Any],
    mode: str,
    plans: list[Any],
) -> np.ndarray:
    """Filter colour and alpha: ``premultiply`` (no dark halos) or ``keep`` (alpha as is)."""
    assert ch is not None
    unit = _unit_max(data.dtype)
    a = np.take(data, [alpha], axis=ch).astype(compute_dtype(data.dtype))
    color = np.delete(data, alpha, axis=ch)
    if mode == "keep":
        out_color = apply_chain(color, kernels, channel_axis=ch, geometry=geometry, plans=plans)
        deltas = [_delta_like(k if k.ndim == color.ndim - 1 else k[0]) for k in kernels]
        out_alpha = apply_chain(a, deltas, channel_axis=ch, geometry=geometry)
        return np.concatenate([out_color, out_alpha.astype(out_color.dtype)], axis=ch)
    weight = a / unit
    pre = color * weight
    both = np.concatenate([pre, a], axis=ch)
    out = apply_chain(both, kernels, channel_axis=ch, geometry=geometry, plans=plans)
    n = out.shape[ch] - 1
    out_color = np.take(out, range(n), axis=ch)
    out_alpha = np.take(out, [n], axis=ch)
    w = out_alpha / unit
    seen = np.abs(w) > 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        restored = np.where(seen, out_color / w, 0.0)
    if not seen.all():
        # Where the result is fully transparent, premultiplied colour is 0/0: keep the colour
        # filtered as it is there, so that colours under alpha 0 survive (identity is exact).
        plain = apply_chain(color, kernels, channel_axis=ch, geometry=geometry)
        restored = np.where(seen, restored, plain)
    return np.concatenate([restored.astype(out.dtype), out_alpha], axis=ch)
