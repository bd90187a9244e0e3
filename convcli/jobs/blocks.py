"""The slab-by-slab route of a job: audio and ``.npy`` read and filtered a slab at a time.

Blocks of output rows go to the sink (:mod:`convcli.jobs.sink`) as they are computed, so
no float copy of the whole result is ever made.  Images go strip by strip
(:mod:`convcli.jobs.strips`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.engine import compute_dtype
from convcli.jobs.post import _finite_range, _post, count_nonfinite
from convcli.jobs.record import _plans_to_record
from convcli.jobs.sink import _Sink

if TYPE_CHECKING:
    from convcli.jobs.options import FilterOptions, Job

__all__ = []


#: Bytes of input per slab when a streamed input goes to its output in one pass: small
#: enough for the slab and its result to stay in the processor's caches between the read,
#: the filtering and the cast.
ONE_PASS_SLAB_BYTES = 8 << 20


def _one_pass(opts: FilterOptions) -> bool:
    """Whether a streamed input goes from its file to the output in one pass, slab by slab.

    One kernel and no ``--rescale`` (which needs the whole result's range first): each slab
    is filtered, cast and written as it comes.  Audio always streams then: the resident set
    stays at a few slabs and no array the size of the file is ever made.
    """
    return len(opts.kernels) == 1 and not opts.rescale


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
    mask: Any = None,
) -> None:
    """Filter slab by slab: in one pass where the output allows it, else through stages.

    Peak memory is a few slabs (a slab is :func:`convcli.jobs.stream.slab_bytes_for` the
    budget), whatever the input's length.  ``mask`` is the ``--mask`` row source of a
    normalized run, read slab by slab beside the input.
    """
    from convcli import io
    from convcli.jobs.options import placed_form

    nonfinite = getattr(source, "nonfinite", None)  # known, or counted by reading the rows
    if nonfinite is None:
        nonfinite = 0
        if source.may_hold_nonfinite:
            nonfinite = sum(count_nonfinite(b) for _, b in _blocks(source, _slab_bytes(opts)))
    record["nonfinite"] = nonfinite
    record["streamed"] = True
    form = placed_form(sig, source.shape, kernels, geometry, opts.dtype)
    out_sig = replace(sig, form=form)
    subtype = getattr(sig.form, "subtype", None)
    sink = partial(_Sink, job, opts, out_sig, out_dtype, rate_out, subtype)
    if _one_pass(opts) and io.streams_always(sig, job.output):
        _stream_one_pass(opts, record, sig, source, kernels[0], geometry, sink, mask)
    else:
        _stream_staged(job, opts, record, sig, source, kernels, geometry, sink, mask)
    if form.info.get("quality"):  # what the writer chose, told on the form it wrote with
        record["written"] = form.info["quality"]
    record["status"] = "ok"


def _stream_one_pass(
    opts: FilterOptions,
    record: dict[str, Any],
    sig: Any,
    source: Any,
    kernel: np.ndarray,
    geometry: dict[str, Any],
    sink: Callable[..., _Sink],
    mask: Any = None,
) -> None:
    """Filter, cast and write each slab as it comes: no temporary file at all."""
    from convcli.jobs.stream import correlate_rows

    finite = record["nonfinite"] == 0
    with sink(source.shape, finite and not opts.normalized) as out:
        plan = correlate_rows(
            source,
            kernel,
            out.put,
            channel_axis=sig.channel_axis,
            finite=finite,
            slab_bytes=min(_slab_bytes(opts), ONE_PASS_SLAB_BYTES),
            normalized=opts.normalized,
            mask=mask,
            **geometry,
        )
    _plans_to_record([plan], record, opts)
    record["clipped"] = out.clipped
    record["shape_out"] = [out.rows, *out.row_shape]


def _stream_staged(
    job: Job,
    opts: FilterOptions,
    record: dict[str, Any],
    sig: Any,
    source: Any,
    kernels: list[np.ndarray],
    geometry: dict[str, Any],
    sink: Callable[..., _Sink],
    mask: Any = None,
) -> None:
    """Each kernel's rows through a raw temporary file, then post-process, cast and write.

    The stage files live in a hidden folder beside the output and go with it.
    """
    import tempfile

    from convcli.io.atomic import hold_signals
    from convcli.io.raw import RawFile
    from convcli.jobs.stream import correlate_rows

    target = Path(job.output)
    finite = record["nonfinite"] == 0
    plans: list[Any] = []
    with hold_signals():  # the folder's clean-up is set up before an interruption can come
        stage_dir = tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.")
    with stage_dir as tmp:
        current = source
        stages: list[RawFile] = []
        try:
            for i, k in enumerate(kernels):
                raw = RawFile(Path(tmp) / f"stage{i}.raw", compute_dtype(sig.data.dtype))
                stages.append(raw)
                plans.append(
                    correlate_rows(
                        current,
                        k,
                        raw.write,
                        channel_axis=sig.channel_axis,
                        finite=finite,
                        slab_bytes=_slab_bytes(opts),
                        normalized=opts.normalized,
                        mask=mask if i == 0 else None,
                        **geometry,
                    )
                )
                current = raw
            _plans_to_record(plans, record, opts)
            last = stages[-1]
            stats = _stats(last, opts) if opts.rescale else None
            with sink(last.shape, finite and not opts.normalized, stats) as out:
                for start, block in _blocks(last, _slab_bytes(opts)):
                    out.put(start, block)
            record["clipped"] = out.clipped
            record["shape_out"] = list(last.shape)
        finally:
            for raw in stages:
                raw.close()


def _slab_bytes(opts: FilterOptions) -> int:
    from convcli.jobs.stream import slab_bytes_for

    return slab_bytes_for(opts.max_memory)


def _blocks(source: Any, slab_bytes: int) -> Any:
    """Yield ``(start, rows)`` blocks of a row source, a slab at a time."""
    from convcli.jobs.stream import slab_rows

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
