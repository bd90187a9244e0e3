"""One input's job for ``convcli filter``: load, apply the chain, post-process, cast, save.

:func:`run_job` never raises for a problem with its input: it returns a record (the same
record that ``--json`` prints) whose ``status`` is ``"ok"``, ``"planned"`` (``--dry-run``) or
``"error"`` with a one-line ``error``.  The processing order is::

    load -> [premultiply alpha] -> kernel 1 -> kernel 2 -> ... -> [un-premultiply]
         -> abs -> scale * y + bias -> rescale -> round/clip to the output dtype -> save
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from convcli.errors import ArgumentError, ConvcliError

__all__ = ["FilterOptions", "Job", "run_job", "default_pad_mode", "apply_chain"]


#: The in-memory working set (bytes) above which audio files and ``.npy`` arrays are filtered
#: slab by slab (``--max-memory`` overrides it).
MEMORY_BUDGET = 1 << 30


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

    if kind == "audio":
        if stats is not None:
            peak = stats[2]
        else:
            peak = float(np.max(np.abs(y))) if y.size else 0.0
        top = 1.0
        if dtype.kind in "ui":
            bits = 8 * dtype.itemsize
            if subtype in SUBTYPE_BITS and SUBTYPE_DTYPE.get(subtype) == dtype.name:
                bits = SUBTYPE_BITS[subtype]
            top = 1.0 - 2.0 ** -(bits - 1)
        return y * (top / peak) if peak > 0 else y
    if stats is not None:
        lo, hi = stats[0], stats[1]
    else:
        lo, hi = float(np.min(y)), float(np.max(y))
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
        ``plans`` (one line per kernel), ``clipped``, ``seconds``, ``status`` and ``error``.
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
        "seconds": 0.0,
        "status": "error",
        "error": None,
    }
    try:
        _run(job, opts, record)
    except (ConvcliError, ValueError, OSError, MemoryError) as exc:
        record["error"] = _message(exc, job.input)
        if opts.verbose:
            record["traceback"] = traceback.format_exc()
    except Exception as exc:  # a bug somewhere below: still one line, and the batch goes on
        record["error"] = f"internal error: {type(exc).__name__}: {_message(exc, job.input)}"
        if opts.verbose:
            record["traceback"] = traceback.format_exc()
    record["seconds"] = round(time.perf_counter() - t0, 6)
    return record


def _message(exc: BaseException, path: str) -> str:
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


def _open(job: Job, opts: FilterOptions) -> tuple[Any, Any]:
    """Return ``(signal, source)``: the loaded signal, or a header and a row source.

    An audio file or ``.npy`` is read slab by slab (``source`` is a
    :class:`convcli.stream.RowSource` and ``signal.data`` holds no rows) when its in-memory
    working set would pass ``opts.max_memory``, and for ``--dry-run`` (planning needs only
    the header).  Everything else is loaded whole.
    """
    from convcli import io
    from convcli.stream import estimate_bytes, open_stream

    if not opts.gray:
        opened = open_stream(job.input, opts.kind)
        if opened is not None:
            source, header = opened
            budget = opts.max_memory if opts.max_memory is not None else MEMORY_BUDGET
            big = estimate_bytes(source.shape, (), opts.method) > budget
            if opts.dry_run or (big and _alpha_index(header) is None and _streams_to(header, job)):
                return header, source
            source.close()
    return io.load(job.input, kind=opts.kind, gray=opts.gray), None


def _streams_to(header: Any, job: Job) -> bool:
    """Whether the output's format can be written block by block (audio or ``.npy``)."""
    from convcli.errors import UnsupportedError
    from convcli.io._formats import resolve_target

    try:
        return resolve_target(header, job.output).family in ("audio", "npy")
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
    from convcli.kernels import make_kernel

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
        k = make_kernel(spec, ndim, rate=sig.rate)
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
        _plans_to_record(plans, record)
        record["shape_out"] = list(shape)
        if Path(job.output).exists() and not opts.overwrite:
            raise ArgumentError(f"output {job.output} exists (use --overwrite)")
        record["status"] = "planned"
        return

    subtype = getattr(sig.form, "subtype", None)
    if source is not None:
        _filter_streamed(job, opts, record, sig, source, kernels, geometry, out_dtype, rate_out)
        return

    if alpha is not None and opts.alpha != "separate":
        y = _filter_with_alpha(data, alpha, ch, kernels, geometry, opts.alpha, plans)
    else:
        y = apply_chain(data, kernels, channel_axis=ch, geometry=geometry, plans=plans)
    _plans_to_record(plans, record)
    y = _post(y, opts)
    if opts.rescale:
        y = _rescale(y, out_dtype, sig.kind, subtype)
    cast, clipped = _cast(y, out_dtype, sig.kind, subtype)
    record["clipped"] = int(clipped)
    record["shape_out"] = list(cast.shape)
    out = replace(sig, data=cast, rate=rate_out)
    io.save(out, job.output, overwrite=opts.overwrite, protect=job.protect)
    record["status"] = "ok"


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
    y: np.ndarray, out_dtype: np.dtype, kind: str, subtype: str | None
) -> tuple[np.ndarray, int]:
    """Round, clip and count into the output dtype; NaN/Inf cannot go to an integer type."""
    from convcli import io

    nonfinite = 0
    if y.dtype.kind == "f" and out_dtype.kind in "ui" and y.size:
        # min and max propagate NaN and show Inf: count only when there is something to count
        if not (np.isfinite(np.min(y)) and np.isfinite(np.max(y))):
            nonfinite = int(np.count_nonzero(~np.isfinite(y)))
    if nonfinite:
        raise ArgumentError(
            f"the result holds {nonfinite} NaN/Inf samples, which {out_dtype} cannot hold"
        )
    return io.cast(y, out_dtype, audio_subtype=subtype if kind == "audio" else None)


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

    Peak memory is a few slabs (:data:`convcli.stream.SLAB_BYTES`), whatever the input's
    length; the temporary files live in a hidden folder beside the output and go with it.
    """
    import tempfile

    from convcli.stream import RawFile, correlate_rows

    target = Path(job.output)
    subtype = getattr(sig.form, "subtype", None)
    plans: list[Any] = []
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        current = source
        stages: list[RawFile] = []
        try:
            for i, k in enumerate(kernels):
                raw = RawFile(
                    Path(tmp) / f"stage{i}.raw",
                    np.dtype(np.float64 if sig.data.dtype == np.float64 else np.float32),
                )
                stages.append(raw)
                plans.append(
                    correlate_rows(current, k, raw.write, channel_axis=sig.channel_axis, **geometry)
                )
                current = raw
            _plans_to_record(plans, record)
            record["streamed"] = True
            last = stages[-1]
            stats = _stats(last, opts) if opts.rescale else None
            record["clipped"] = _write_streamed(
                last, job, opts, sig, out_dtype, rate_out, subtype, stats
            )
            record["shape_out"] = list(last.shape)
        finally:
            for raw in stages:
                raw.close()
    record["status"] = "ok"


def _blocks(source: Any) -> Any:
    """Yield ``(start, rows)`` blocks of a row source, a slab at a time."""
    from convcli.stream import slab_rows

    n = source.shape[0]
    step = slab_rows(int(np.prod(source.shape[1:], dtype=np.int64)) or 1)
    for start in range(0, n, step):
        yield start, source.read(start, min(start + step, n))


def _stats(source: Any, opts: FilterOptions) -> tuple[float, float, float]:
    """Return the min, max and peak magnitude of the post-processed result, for ``--rescale``."""
    lo, hi, peak = np.inf, -np.inf, 0.0
    for _, block in _blocks(source):
        y = _post(block, opts)
        if y.size:
            lo = min(lo, float(np.min(y)))
            hi = max(hi, float(np.max(y)))
            peak = max(peak, float(np.max(np.abs(y))))
    return lo, hi, peak


def _write_streamed(
    source: Any,
    job: Job,
    opts: FilterOptions,
    sig: Any,
    out_dtype: np.dtype,
    rate_out: float | None,
    subtype: str | None,
    stats: tuple[float, float, float] | None,
) -> int:
    """Post-process, cast and write a row source block by block, atomically; return clipped."""
    from convcli.io._formats import resolve_target
    from convcli.io.atomic import atomic_file

    target = resolve_target(sig, job.output)
    clipped = 0
    with atomic_file(job.output, overwrite=opts.overwrite, protect=job.protect) as fh:
        if target.family == "audio":
            from convcli.io.audio import AudioWriter, check_rate

            channels = int(source.shape[1])
            assert target.format is not None
            writer: Any = AudioWriter(
                fh,
                check_rate(rate_out, job.output),
                channels,
                out_dtype,
                target.format,
                sig.form,
                job.output,
            )
        else:
            writer = _NpyWriter(fh, tuple(source.shape), out_dtype)
        try:
            for _, block in _blocks(source):
                y = _post(block, opts)
                if stats is not None:
                    y = _rescale(y, out_dtype, sig.kind, subtype, stats)
                cast, n = _cast(y, out_dtype, sig.kind, subtype)
                clipped += int(n)
                writer.write(cast)
        finally:
            writer.close()
    return clipped


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


def _plans_to_record(plans: list[Any], record: dict[str, Any]) -> None:
    record["methods"] = [p.method for p in plans]
    record["pads"] = [[list(p) for p in plan.pads] for plan in plans]
    record["plans"] = [p.describe() for p in plans]


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
    a = np.take(data, [alpha], axis=ch).astype(
        np.float32 if data.dtype != np.float64 else np.float64
    )
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
