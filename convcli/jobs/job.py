"""One input's job for ``convcli filter``: load, apply the chain, post-process, cast, save.

:func:`run_job` never raises for a problem with its input: it returns a record (the same
record that ``--json`` prints) whose ``status`` is ``"ok"``, ``"planned"`` (``--dry-run``) or
``"error"`` with a one-line ``error``.  The processing order is::

    load -> [premultiply alpha] -> kernel 1 -> kernel 2 -> ... -> [un-premultiply]
         -> abs -> scale * y + bias -> rescale -> round/clip to the output dtype -> save
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from convcli.engine.chain import apply_chain
from convcli.errors import ArgumentError, Param
from convcli.jobs.alpha import _alpha_index, _filter_with_alpha
from convcli.jobs.blocks import _filter_streamed, _one_pass
from convcli.jobs.budget import (
    MEMORY_BUDGET,
    _check_memory,
    _check_strip_memory,
    _make_kernel,
    default_memory_budget,
)
from convcli.jobs.options import (
    FilterOptions,
    Job,
    _limits,
    geometry_for,
    placed_form,
)
from convcli.jobs.post import _cast, _post, _rescale, count_nonfinite
from convcli.jobs.record import _plans_to_record, record_failure

__all__ = ["run_job", "FilterOptions", "Job"]


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
    except Exception as exc:  # a bug below too: still one line, and the batch goes on
        record_failure(record, exc, job.input, opts.verbose)
    record["seconds"] = round(time.perf_counter() - t0, 6)
    return record


def _open(job: Job, opts: FilterOptions) -> tuple[Any, Any]:
    """Return ``(signal, source)``: the loaded signal, or a header and a row source.

    An image is read in rows whenever its format allows (``source`` is a
    :class:`convcli.io.rows.RowSource` and ``signal.data`` holds no rows): whether it is
    filtered in strips is decided once the kernel is built (:func:`_filter_image`).  An
    audio file, ``.npy`` or text series is read slab by slab when its in-memory working set
    would pass ``opts.max_memory`` (1 GiB when not given), and for ``--dry-run`` (planning
    needs only the header).  Everything else is loaded whole, once its header has been
    checked against the budgets: the :class:`convcli.io.Limits` and the working set against
    ``opts.max_memory`` (when not given, :func:`default_memory_budget` shared by the
    ``opts.jobs`` inputs filtered at once).

    Raises
    ------
    LimitError
        The input would need more memory than the budget and cannot be streamed.
    """
    from convcli import io
    from convcli.jobs.stream import estimate_bytes

    limits = _limits(opts)
    stream_above = opts.max_memory if opts.max_memory is not None else MEMORY_BUDGET
    options = dict(opts.read)
    if not opts.gray:
        opened = io.open_rows(job.input, opts.kind, limits, options=options)
        if opened is not None:
            source, header = opened
            if header.kind == "image":
                return header, source
            big = estimate_bytes(source.shape, (), opts.method) > stream_above
            direct = _one_pass(opts) and io.streams_always(header, job.output)
            if opts.dry_run or (
                (big or direct)
                and _alpha_index(header) is None
                and io.takes_blocks(header, job.output)
            ):
                return header, source
            source.close()
    _check_budget(job, opts)
    return io.load(job.input, opts.kind, gray=opts.gray, limits=limits, options=options), None


def _budget(opts: FilterOptions) -> int:
    """Return the working-set budget: ``--max-memory``, or the default shared by ``--jobs``."""
    if opts.max_memory is not None:
        return opts.max_memory
    return default_memory_budget() // max(1, opts.jobs)


def _check_budget(job: Job, opts: FilterOptions) -> None:
    """Refuse an input whose in-memory filtering would pass the memory budget (its header)."""
    from convcli import io

    # headers only: every budget, before decoding
    info = io.probe(job.input, limits=_limits(opts), options=dict(opts.read))
    _check_memory(info, opts, _budget(opts))


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
    """Plan the job for the opened input, then filter it by the route that fits."""
    from convcli import io

    shape_in = tuple(source.shape) if source is not None else sig.data.shape
    record.update(kind=sig.kind, shape_in=list(shape_in), dtype_in=str(sig.data.dtype))
    if sig.form.info.get("columns") is not None:  # the channels' names (a text series)
        record["columns"] = list(sig.form.info["columns"])
    record["rate"] = sig.rate
    geometry = geometry_for(opts, sig.spatial_ndim, sig.kind)
    kernels = _kernels(opts, sig, record)
    rate_out = _rate_out(sig, geometry, len(kernels))
    record["rate_out"] = rate_out
    out_dtype = np.dtype(io.output_dtype(sig, job.output, opts.dtype))
    record["dtype"] = str(out_dtype)
    if opts.dry_run:
        _dry_run(job, opts, record, sig, shape_in, kernels, geometry)
    elif sig.kind == "image":
        _filter_image(job, opts, record, sig, source, kernels, geometry, out_dtype, rate_out)
    elif source is not None:
        _filter_streamed(job, opts, record, sig, source, kernels, geometry, out_dtype, rate_out)
    else:
        _filter_in_memory(job, opts, record, sig, kernels, geometry, out_dtype, rate_out)


def _filter_image(
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
    """Filter an image in strips where the job allows (:mod:`convcli.jobs.strips`), else whole.

    ``source`` holds its rows (None: ``sig`` is loaded).  A decoded input that cannot go
    in strips is read whole first, within the memory budget.
    """
    from convcli.io.rows import ArraySource
    from convcli.jobs.strips import filter_strips, strip_plan, working_bytes

    checked = source is None  # loaded whole: the budget was checked before
    if source is None:
        source = ArraySource(sig.data)
    alpha = _alpha_index(sig)
    plan = strip_plan(sig, source, job, opts, kernels, alpha, geometry)
    if plan is None and not checked:
        _check_budget(job, opts)
        if not isinstance(source, ArraySource):
            source = ArraySource(source.read(0, source.shape[0]))
            plan = strip_plan(sig, source, job, opts, kernels, alpha, geometry)
    if plan is not None:
        from convcli import io

        out_bytes = io.writer_bytes(sig, job.output, plan.output_shape, out_dtype)
        need = source.held_bytes + out_bytes + working_bytes(source, plan)
        _check_strip_memory(job.input, source.shape, source.dtype, need, _budget(opts))
        form = placed_form(sig, source.shape, kernels, geometry, opts.dtype)
        out_sig = replace(sig, form=form)
        filter_strips(job, opts, record, out_sig, source, plan, geometry, out_dtype)
        return
    whole = replace(sig, data=source.data)
    _filter_in_memory(job, opts, record, whole, kernels, geometry, out_dtype, rate_out)


def _kernels(opts: FilterOptions, sig: Any, record: dict[str, Any]) -> list[np.ndarray]:
    """Build every kernel of the chain for the signal (within ``max_taps``), normalised if asked."""
    ndim = sig.spatial_ndim
    kernels = []
    for spec in opts.kernels:
        k = _make_kernel(spec, ndim, sig.rate, opts.max_taps)
        if opts.normalize:
            k = _normalized(k, per_channel=k.ndim == ndim + 1)
        kernels.append(k)
        record["kernels"].append(list(k.shape))
    return kernels


def _rate_out(sig: Any, geometry: dict[str, Any], count: int) -> float | None:
    """Return the output's sample rate: audio's rate over every kernel's stride, which divides it.

    Raises
    ------
    ArgumentError
        The strides do not divide the rate (an audio file stores whole Hz).
    """
    if sig.kind != "audio" or sig.rate is None:
        return sig.rate
    strides = geometry["stride"]
    s = strides if isinstance(strides, int) else strides[0]
    total_stride = s**count
    rate_out = sig.rate / total_stride
    if total_stride > 1 and not float(rate_out).is_integer():
        raise ArgumentError(
            f"stride {total_stride} does not divide the sample rate {sig.rate:g} Hz "
            f"(the output rate would be {rate_out:.4f} Hz)"
        )
    return float(rate_out)


def _dry_run(
    job: Job,
    opts: FilterOptions,
    record: dict[str, Any],
    sig: Any,
    shape_in: tuple[int, ...],
    kernels: list[np.ndarray],
    geometry: dict[str, Any],
) -> None:
    """Plan every kernel from the shapes alone (``--dry-run``): nothing is filtered or written."""
    from convcli.engine import make_plan

    ndim = sig.spatial_ndim
    shape = tuple(shape_in)
    ch = sig.channel_axis
    plans = []
    for k in kernels:
        kk = k
        if k.ndim == ndim + 1:  # one kernel per channel: a mono input is spread to them
            kk = k[0]
            if ch is None:
                shape, ch = (*shape, 1), len(shape)
            if shape[ch] == 1:
                shape = (*shape[:ch], int(k.shape[0]), *shape[ch + 1 :])
        plan = make_plan(shape, sig.data.dtype, kk, channel_axis=ch, **geometry)
        plans.append(plan)
        shape = plan.output_shape
    _plans_to_record(plans, record, opts)
    record["shape_out"] = list(shape)
    if Path(job.output).exists() and not opts.overwrite:
        overwrite = Param("overwrite", True)
        raise ArgumentError(f"output {job.output} exists (use {overwrite})", params=[overwrite])
    record["status"] = "planned"


def _filter_in_memory(
    job: Job,
    opts: FilterOptions,
    record: dict[str, Any],
    sig: Any,
    kernels: list[np.ndarray],
    geometry: dict[str, Any],
    out_dtype: np.dtype,
    rate_out: float | None,
) -> None:
    """Filter the whole signal at once, post-process, cast, and save it."""
    from convcli import io

    data = sig.data
    alpha = _alpha_index(sig)
    ch = sig.channel_axis
    plans: list[Any] = []
    record["nonfinite"] = count_nonfinite(data)
    if alpha is not None and opts.alpha != "separate":
        y = _filter_with_alpha(data, alpha, ch, kernels, geometry, opts.alpha, plans)
    else:
        y = apply_chain(data, kernels, channel_axis=ch, geometry=geometry, plans=plans)
    _plans_to_record(plans, record, opts)
    subtype = getattr(sig.form, "subtype", None)
    y = _post(y, opts)
    if opts.rescale:
        y = _rescale(y, out_dtype, sig.kind, subtype)
    cast, clipped = _cast(y, out_dtype, sig.kind, subtype, record["nonfinite"] == 0)
    record["clipped"] = int(clipped)
    record["shape_out"] = list(cast.shape)
    form = placed_form(sig, data.shape, kernels, geometry, opts.dtype)
    out = replace(sig, data=cast, rate=rate_out, form=form)
    io.save(out, job.output, overwrite=opts.overwrite, protect=job.protect)
    record["status"] = "ok"


def _normalized(k: np.ndarray, *, per_channel: bool) -> np.ndarray:
    """Divide a kernel by its sum where that sum is not 0.

    One kernel per channel (a multi-channel impulse response) is each divided by its own sum.
    """
    if per_channel:
        return np.stack([_normalized(kc, per_channel=False) for kc in k])
    total = float(k.sum())
    return k / total if total != 0.0 else k
