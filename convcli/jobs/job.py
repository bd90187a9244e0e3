"""One input's job for ``convcli filter``: load, apply the chain, post-process, cast, save.

:func:`run_job` never raises for a problem with its input: it returns a record (the same
record that ``--json`` prints) whose ``status`` is ``"ok"``, ``"planned"`` (``--dry-run``) or
``"error"`` with a one-line ``error``.  The processing order is::

    load -> [premultiply alpha] -> kernel 1 -> kernel 2 -> ... -> [un-premultiply]
         -> abs -> scale * y + bias -> rescale -> round/clip to the output dtype -> save

A Zarr store written to a Zarr store takes the same steps chunk by chunk
(:mod:`convcli.jobs.chunked`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from convcli.engine.chain import apply_chain
from convcli.errors import ArgumentError, Param
from convcli.io.rows import RowSource
from convcli.jobs.alpha import _filter_with_alpha, alpha_index
from convcli.jobs.blocks import _filter_streamed, _one_pass
from convcli.jobs.budget import (
    MEMORY_BUDGET,
    _check_memory,
    _check_strip_memory,
    _make_kernel,
    default_memory_budget,
    memory_need,
)
from convcli.jobs.chunked import ChunkedInput, filter_chunked, open_chunked_input
from convcli.jobs.mask import load_mask, open_mask_rows
from convcli.jobs.options import (
    FilterOptions,
    Job,
    _limits,
    geometry_for,
    kernel_geometries,
    per_axis,
    placed_form,
    rounding_for,
)
from convcli.jobs.post import _cast, _post, _rescale, count_nonfinite
from convcli.jobs.record import _plans_to_record, record_failure
from convcli.presets import get_preset

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

    A Zarr store written to a Zarr store is read chunk by chunk (``source`` is a
    :class:`convcli.jobs.chunked.ChunkedInput`), whatever its size.
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
    chunked = open_chunked_input(job, opts, limits)
    if chunked is not None:  # a Zarr store into a Zarr store: chunk by chunk, any size
        return chunked
    stream_above = opts.max_memory if opts.max_memory is not None else MEMORY_BUDGET
    options = dict(opts.read)
    if not opts.gray and opts.compat is None:  # a preset's chain is filtered in memory
        opened = io.open_rows(job.input, opts.kind, limits, options=options)
        if opened is not None:
            source, header = opened
            if header.kind == "image" and isinstance(source, RowSource):
                return header, source  # in strips, or read whole: decided with the kernel
            big = estimate_bytes(source.shape, (), opts.method) > stream_above
            if not big:  # in memory, would it pass the budget the in-memory route checks?
                ch = header.channel_axis
                info = {
                    "shape": source.shape,
                    "dtype": header.data.dtype,
                    "kind": header.kind,
                    "channels": None if ch is None else int(source.shape[ch]),
                    "mode": header.form.mode,
                }
                big = memory_need(info, opts) > _budget(opts)
            direct = _one_pass(opts) and io.streams_always(header, job.output)
            if opts.dry_run or (
                (big or direct)
                and not opts.transposed
                and alpha_index(header) is None
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
    if opts.record and not opts.dry_run:  # before any work: the record must be writable too
        from convcli.io.atomic import check_output
        from convcli.jobs.provenance import record_path

        check_output(record_path(job.output), overwrite=opts.overwrite, protect=job.protect)
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
    kernels = _kernels(opts, sig, record, shape_in)
    rate_out = _rate_out(sig, geometry, len(kernels), opts.transposed)
    record["rate_out"] = rate_out
    out_dtype = np.dtype(io.output_dtype(sig, job.output, opts.dtype))
    record["dtype"] = str(out_dtype)
    sig = replace(sig, form=_form_out(sig, geometry, len(kernels), opts.transposed))
    if opts.dry_run:
        _dry_run(job, opts, record, sig, shape_in, kernels, geometry)
    elif isinstance(source, ChunkedInput):
        filter_chunked(job, opts, record, sig, source, kernels, geometry, out_dtype)
    elif sig.kind == "image":
        _filter_image(job, opts, record, sig, source, kernels, geometry, out_dtype, rate_out)
    elif source is not None:
        ch = sig.channel_axis
        spatial_shape = tuple(n for a, n in enumerate(shape_in) if a != ch)
        mask = open_mask_rows(opts.mask, _limits(opts), spatial_shape)
        try:
            _filter_streamed(
                job, opts, record, sig, source, kernels, geometry, out_dtype, rate_out, mask
            )
        finally:
            if mask is not None:
                mask.close()
    else:
        _filter_in_memory(job, opts, record, sig, kernels, geometry, out_dtype, rate_out)
    if sig.form.info.get("quality"):  # what a writer of a lossy or re-encoded format chose
        record["written"] = sig.form.info["quality"]
    if opts.record and record["status"] == "ok":
        from convcli.jobs.provenance import make_record, record_path, write_record

        path = record_path(job.output)
        write_record(make_record(opts, job, kernels, record), path, overwrite=opts.overwrite)
        record["record"] = path


def _strides(geometry: dict[str, Any], ndim: int, count: int) -> tuple[int, ...]:
    """Return each spatial axis's total stride over a chain of ``count`` kernels."""
    stride = geometry["stride"]
    per_axis = (stride,) * ndim if isinstance(stride, int) else tuple(stride)
    return tuple(int(s) ** count for s in per_axis)


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
    alpha = alpha_index(sig)
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


def _form_out(sig: Any, geometry: dict[str, Any], count: int, transposed: bool = False) -> Any:
    """Return the output's form: the input's, its sample spacing times the stride.

    So a NIfTI's pixdim and affine, a TIFF's resolution and OME sizes and a video's frame
    interval describe the output's samples; a transposed convolution (upsampling) divides
    the spacing by the stride instead.  The ``info`` is a copy, for the writer's notes.
    """
    form = sig.form
    spacing = form.spacing
    if spacing is not None and len(spacing) == sig.spatial_ndim:
        strides = _strides(geometry, sig.spatial_ndim, count)
        if transposed:
            spacing = tuple(float(v) / s for v, s in zip(spacing, strides))
        else:
            spacing = tuple(float(v) * s for v, s in zip(spacing, strides))
    return replace(form, spacing=spacing, info=dict(form.info))


def _kernels(
    opts: FilterOptions, sig: Any, record: dict[str, Any], shape_in: tuple[int, ...]
) -> list[np.ndarray]:
    """Build every kernel of the chain for the signal (within ``max_taps``), normalised if asked.

    On audio, a kernel read from an audio file is an impulse response, built as the IR options
    say (:func:`convcli.jobs.impulse.impulse_kernel`); what they did goes in ``record["ir"]``.

    Raises
    ------
    ArgumentError
        An IR option with no impulse response to apply it to.
    """
    from convcli.kernels import parse_spec, resolved_params

    if sig.kind == "audio":  # impulse responses (and convcli.reverb) only for audio
        from convcli.jobs.impulse import impulse_kernel, is_impulse_response

    ndim = sig.spatial_ndim
    spacing = sig.sample_spacing
    ch = sig.channel_axis
    channels = 1 if ch is None else int(shape_in[ch])
    kernels = []
    notes = []
    resolved: list[Any] = []
    for spec in opts.kernels:
        if sig.kind == "audio" and is_impulse_response(spec, sig.kind):
            note: dict[str, Any] = {"kernel": spec}
            path = parse_spec(spec).path
            assert path is not None
            k = impulse_kernel(spec, path, float(sig.rate), channels, opts, note)
            notes.append(note)
            resolved.append(None)
        else:
            k = _make_kernel(spec, ndim, sig.rate, opts.max_taps, spacing)
            resolved.append(resolved_params(spec, ndim, sig.rate, spacing))
        if opts.normalize:
            k = _normalized(k, extra=k.ndim - ndim)
        if k.ndim == ndim + 2:
            channels = int(k.shape[1])
        elif k.ndim == ndim + 1:
            channels = int(k.shape[0])
        kernels.append(k)
        record["kernels"].append(list(k.shape))
    if any(r is not None for r in resolved):  # lengths given in mm, um, ms...: in samples
        record["resolved"] = resolved
    given = opts.ir_options()
    if given and not notes:
        verb = "applies" if len(given) == 1 else "apply"
        raise ArgumentError(
            f"{', '.join(map(str, given))} {verb} to an audio impulse response (a kernel read "
            f"from an audio file, on an audio input); this {sig.kind} input has none",
            params=given,
        )
    if notes:
        record["ir"] = notes
    return kernels


def _rate_out(
    sig: Any, geometry: dict[str, Any], count: int, transposed: bool = False
) -> float | None:
    """Return the output's rate: the input's over the first axis's stride, every kernel's.

    Audio's sample rate, which the strides must divide (an audio file stores whole Hz); a
    video's frame rate (its time axis is the first).  A transposed convolution multiplies
    the rate by the stride instead.

    Raises
    ------
    ArgumentError
        The strides do not divide an audio rate.
    """
    if sig.rate is None:
        return None
    total_stride = _strides(geometry, sig.spatial_ndim, count)[0]
    if transposed:
        return float(sig.rate * total_stride)
    rate_out = sig.rate / total_stride
    if sig.kind != "audio":
        return float(rate_out)
    if total_stride > 1 and not float(rate_out).is_integer():
        raise ArgumentError(
            f"stride {total_stride} does not divide the sample rate {sig.rate:g} Hz "
            f"(the output rate would be {rate_out:.4f} Hz)"
        )
    return float(rate_out)


def _operation(opts: FilterOptions, ndim: int) -> dict[str, Any]:
    """Return the chain's operation: ``normalized``, ``transposed`` and ``output_padding``."""
    if opts.normalized and opts.transposed:
        normalized, transposed = Param("normalized", True), Param("transposed", True)
        raise ArgumentError(
            f"{normalized} and {transposed} cannot be combined (normalize, then upsample, in "
            "two runs)",
            params=[normalized, transposed],
        )
    return {
        "normalized": opts.normalized,
        "transposed": opts.transposed,
        "output_padding": (
            0
            if opts.output_padding is None
            else per_axis(opts.output_padding, ndim, "output_padding")
        ),
    }


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
    from convcli.engine.chain import plan_step

    ndim = sig.spatial_ndim
    op = _operation(opts, ndim)
    shape = tuple(shape_in)
    ch = sig.channel_axis
    if opts.mask is not None:
        load_mask(opts.mask, _limits(opts), tuple(n for a, n in enumerate(shape) if a != ch))
    plans = []
    geometries = kernel_geometries(opts, geometry, kernels, ndim)
    for i, k in enumerate(kernels):
        kk = k
        extra = k.ndim - ndim
        if extra:  # per channel, or a matrix: every kernel has the same geometry
            kk = k.reshape(k.shape[extra:]) if k.size == 0 else k[(0,) * extra]
            if ch is None:
                shape, ch = (*shape, 1), len(shape)
            if extra == 1 and shape[ch] == 1:  # a mono input is spread to the kernels
                shape = (*shape[:ch], int(k.shape[0]), *shape[ch + 1 :])
        g = geometries[i] if geometries is not None else geometry
        plan = plan_step(shape, sig.data.dtype, kk, channel_axis=ch, geometry=g, **op)
        plans.append(plan)
        shape = tuple(plan.output_shape)
        if extra == 2:
            shape = (*shape[:ch], int(k.shape[1]), *shape[ch + 1 :])
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
    alpha = alpha_index(sig)
    ch = sig.channel_axis
    op = _operation(opts, sig.spatial_ndim)
    spatial_shape = tuple(n for a, n in enumerate(data.shape) if a != ch)
    mask = load_mask(opts.mask, _limits(opts), spatial_shape)
    plans: list[Any] = []
    record["nonfinite"] = count_nonfinite(data)
    geometries = kernel_geometries(opts, geometry, kernels, sig.spatial_ndim)
    if alpha is not None and opts.alpha != "separate":
        y = _filter_with_alpha(
            data, alpha, ch, kernels, geometry, opts.alpha, plans, op, mask, geometries
        )
    else:
        if _in_double(opts) and data.dtype != np.float64:
            data = data.astype(np.float64)
        y = apply_chain(
            data,
            kernels,
            channel_axis=ch,
            geometry=geometry,
            plans=plans,
            mask=mask,
            geometries=geometries,
            **op,
        )
        if opts.compat is not None and get_preset(opts.compat).stored == "float32":
            y = y.astype(np.float32)
    _plans_to_record(plans, record, opts)
    subtype = getattr(sig.form, "subtype", None)
    y = _post(y, opts)
    if opts.rescale:
        y = _rescale(y, out_dtype, sig.kind, subtype)
    # normalized: NaN where no weight was kept is the result, not an overflow
    finite = record["nonfinite"] == 0 and not opts.normalized
    cast, clipped = _cast(y, out_dtype, sig.kind, subtype, finite, rounding_for(opts))
    record["clipped"] = int(clipped)
    record["shape_out"] = list(cast.shape)
    form = placed_form(sig, data.shape, kernels, geometry, opts.dtype)
    out = replace(sig, data=cast, rate=rate_out, form=form)
    io.save(out, job.output, overwrite=opts.overwrite, protect=job.protect)
    if form.info.get("quality"):  # what the writer chose, told on the form it wrote with
        record["written"] = form.info["quality"]
    record["status"] = "ok"


def _in_double(opts: FilterOptions) -> bool:
    """Whether a ``--compat`` preset computes in float64 (its peer computes in double)."""
    return opts.compat is not None and get_preset(opts.compat).compute == "float64"


def _normalized(k: np.ndarray, *, extra: int) -> np.ndarray:
    """Divide a kernel by its sum where that sum is not 0.

    One kernel per channel (``extra`` leading axes: a multi-channel impulse response, a
    matrix of paths) is each divided by its own sum.
    """
    if extra > 0:
        return np.stack([_normalized(kc, extra=extra - 1) for kc in k])
    total = float(k.sum())
    return k / total if total != 0.0 else k
