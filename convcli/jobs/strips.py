"""An image filtered strip by strip: decoding, filtering, cast and encoding overlap.

One kernel, no ``--rescale``, no alpha: the output's rows are computed a strip at a time,
each strip from the input rows its outputs need (the pad mode's included), and handed to the
sink (:class:`convcli.jobs.sink._Sink`), whose writer thread encodes strip ``k`` while strip
``k + 1`` is filtered; the input's rows come from a decoder running a few blocks ahead on a
thread of its own (:class:`convcli.io.rows.DecodedRows`) or from an image in memory.  No
float copy of the whole image is made, and the strip buffers are allocated once.

Two ways to filter a strip, each giving the bytes the whole-image job gives:

- **integer**: an 8-bit input, a kernel of integers times a power of two (the binomial over
  16, a sharpen, a Sobel), the ``direct`` method: the strip is padded once into a uint8
  window, summed exactly in int16 and rounded straight into the output type, a block of
  rows at a time while it is in cache (:mod:`convcli.engine.integer`);
- **float**: everything else the ``direct`` and ``separable`` methods run: the strip's rows,
  padded along the rows, go through the engine with the whole image's plan
  (:func:`convcli.engine.chain.apply_chain`), and the sink casts the float strip.

``fft`` plans are not run in strips (their transform lengths would differ from the whole
image's, and with them the last bits), nor is ``circular`` padding of the rows of a decoded
input (its first strip needs the last rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.jobs.post import _cast, _post, count_nonfinite
from convcli.jobs.record import _plans_to_record
from convcli.jobs.sink import _Sink

if TYPE_CHECKING:
    from convcli.jobs.options import FilterOptions, Job

__all__ = []

#: Input bytes a strip reads (its output rows follow): small enough for a strip's window,
#: sums and output to stay in the caches of the two cores.
STRIP_BYTES = 1 << 20


def strip_plan(
    sig: Any,
    source: Any,
    job: Job,
    opts: FilterOptions,
    kernels: list[np.ndarray],
    alpha: int | None,
    geometry: dict[str, Any],
) -> Any:
    """Return the whole image's plan if the job runs in strips (:func:`filter_strips`), else None.

    One kernel of the image's axes, no ``--rescale``, no alpha, channels last, an output
    that takes rows block by block (:func:`convcli.io.takes_blocks`), a ``direct`` or
    ``separable`` plan, and no ``circular`` rows from a decoder.
    """
    from convcli import io
    from convcli.engine import make_plan
    from convcli.io.rows import ArraySource
    from convcli.jobs.blocks import _one_pass

    if sig.kind != "image" or not _one_pass(opts) or alpha is not None:
        return None
    if kernels[0].ndim != sig.spatial_ndim or sig.channel_axis not in (None, 2):
        return None
    if not io.takes_blocks(sig, job.output):
        return None
    finite = not (
        source.dtype.kind in "fc"
        and isinstance(source, ArraySource)
        and count_nonfinite(source.data)
    )
    plan = make_plan(
        source.shape,
        source.dtype,
        kernels[0],
        channel_axis=sig.channel_axis,
        finite=finite,
        **geometry,
    )
    if plan.method not in ("direct", "separable"):
        return None
    rows = plan.geometry[0]
    if (
        plan.pad_mode == "circular"
        and rows.pad_lo + rows.pad_hi
        and not isinstance(source, ArraySource)
    ):
        return None
    return plan


def filter_strips(
    job: Job,
    opts: FilterOptions,
    record: dict[str, Any],
    sig: Any,
    source: Any,
    plan: Any,
    geometry: dict[str, Any],
    out_dtype: np.dtype,
) -> None:
    """Filter an image strip by strip into its output (see the module docstring)."""
    from convcli.engine.integer import integer_kernel
    from convcli.io.rows import ArraySource

    nonfinite = 0
    if source.dtype.kind in "fc" and isinstance(source, ArraySource):
        nonfinite = count_nonfinite(source.data)
    record["nonfinite"] = nonfinite
    out = plan.output_shape
    rows_shape = (out[0], out[1], out[2] if len(out) == 3 else 1)
    ik = None
    if plan.method == "direct":
        ik = integer_kernel(source.dtype, plan.kernel, plan.pad_mode, plan.pad_value)
    sink = _Sink(job, opts, sig, out_dtype, None, None, rows_shape, nonfinite == 0)
    with sink:
        if ik is not None:
            _integer_strips(opts, source, plan, ik, out_dtype, sink)
        else:
            _float_strips(source, plan, geometry, sink)
    _plans_to_record([plan], record, opts)
    record["clipped"] = sink.clipped
    record["shape_out"] = list(out)
    record["status"] = "ok"


def working_bytes(source: Any, plan: Any) -> int:
    """Bytes the strips themselves hold at most: a window, its sums and two output strips."""
    row_bytes = int(np.prod(source.shape[1:], dtype=np.int64)) * 4
    rows = (
        _strip_rows(plan, row_bytes) * plan.geometry[0].stride + plan.geometry[0].effective_kernel
    )
    return 4 * rows * row_bytes


def _strip_rows(plan: Any, row_bytes: int) -> int:
    """Output rows per strip: about :data:`STRIP_BYTES` of input read."""
    g = plan.geometry[0]
    return max(1, STRIP_BYTES // max(1, row_bytes * g.stride))


def _keep_from(source: Any, plan: Any) -> int:
    """Return the first input row the padding below the image reads (the last strips do)."""
    from convcli.padding import source_index

    g = plan.geometry[0]
    n = source.shape[0]
    stop = (g.output - 1) * g.stride + g.effective_kernel - g.pad_lo
    if stop <= n or plan.pad_mode in ("zero", "constant"):
        return n
    return int(source_index(np.arange(n, stop), n, plan.pad_mode).min())


def _fill_rows(source: Any, start: int, out: np.ndarray, plan: Any) -> None:
    """Fill ``out`` with input rows ``start:start+len(out)``, padded along the rows."""
    from convcli.padding import source_index

    n = source.shape[0]
    stop = start + len(out)
    lo, hi = max(start, 0), min(stop, n)
    if lo < hi:
        source.read_into(lo, hi, out[lo - start : hi - start])
    pads = [(start, min(stop, 0)), (max(start, n), stop)]
    for a, b in pads:
        if b <= a:
            continue
        dst = out[a - start : b - start]
        if plan.pad_mode in ("zero", "constant"):
            dst[...] = 0 if plan.pad_mode == "zero" else plan.pad_value
            continue
        index = source_index(np.arange(a, b), n, plan.pad_mode)
        inside = (index >= lo) & (index < hi)
        if np.all(inside):
            dst[...] = out[index - start]
        else:  # rows outside this strip (a tall kernel on a short image; circular)
            dst[...] = source.take(index)


def _fill_columns(win: np.ndarray, pad_lo: int, width: int, plan: Any) -> None:
    """Fill the padded columns of a window whose columns ``pad_lo:pad_lo+width`` are the input's."""
    from convcli.padding import source_index

    total = win.shape[1]
    for a, b in ((0, pad_lo), (pad_lo + width, total)):
        if b <= a:
            continue
        if plan.pad_mode in ("zero", "constant"):
            win[:, a:b] = 0 if plan.pad_mode == "zero" else plan.pad_value
            continue
        index = source_index(np.arange(a - pad_lo, b - pad_lo), width, plan.pad_mode)
        win[:, a:b] = win[:, index + pad_lo]


def _integer_strips(
    opts: FilterOptions, source: Any, plan: Any, ik: Any, out_dtype: np.dtype, sink: _Sink
) -> None:
    """Exact int16 sums of padded uint8 windows, rounded straight into the output type."""
    from convcli.engine.integer import IntegerCorrelation, round_scaled

    gr, gc = plan.geometry
    width = source.shape[1]
    ch = source.shape[2] if len(source.shape) == 3 else 1
    out_rows, out_cols = gr.output, gc.output
    window_cols = max(gc.pad_lo + width, (out_cols - 1) * gc.stride + gc.effective_kernel)
    per = min(out_rows, _strip_rows(plan, width * ch))
    max_in = (per - 1) * gr.stride + gr.effective_kernel
    corr = IntegerCorrelation(
        ik, (max_in, window_cols, ch), out_cols, (gr.stride, gc.stride), (gr.dilation, gc.dilation)
    )
    window = np.empty((max_in, window_cols, ch), dtype=np.uint8)
    outs = [np.empty((per, out_cols, ch), dtype=out_dtype) for _ in range(2)]
    plain = not opts.abs and opts.scale == 1.0 and opts.bias == 0.0
    plain = plain and out_dtype.kind in "ui"
    clipped: list[int] = []
    scale = np.float32(ik.scale)
    keep = _keep_from(source, plan)

    for i, o0 in enumerate(range(0, out_rows, per)):
        o1 = min(o0 + per, out_rows)
        start = o0 * gr.stride - gr.pad_lo
        n_in = (o1 - o0 - 1) * gr.stride + gr.effective_kernel
        win = window[:n_in]
        inner = win[:, gc.pad_lo : gc.pad_lo + width]
        _fill_rows(
            source, start, inner if ch > 1 or len(source.shape) == 3 else inner[..., 0], plan
        )
        _fill_columns(win, gc.pad_lo, width, plan)
        dst = outs[i % 2]

        def finish(r0: int, r1: int, sums: np.ndarray, dst: np.ndarray = dst) -> None:
            if plain:
                clipped.append(round_scaled(sums, ik.shift, dst[r0:r1]))
                return
            y = _post(np.multiply(sums, scale, dtype=np.float32), opts)
            cast, n = _cast(y, out_dtype, "image", None, True)
            dst[r0:r1] = cast
            clipped.append(int(n))

        corr(win, finish)
        source.release(max(0, min(o1 * gr.stride - gr.pad_lo, keep)))
        block = dst[: o1 - o0]
        sink.put(o0, block if ch > 1 else block[..., 0], final=True)
    sink.clipped += sum(clipped)


def _float_strips(source: Any, plan: Any, geometry: dict[str, Any], sink: _Sink) -> None:
    """Each strip's rows, padded along the rows, through the engine with the image's plan."""
    from convcli.engine.chain import apply_chain

    gr = plan.geometry[0]
    row_shape = source.shape[1:]
    row_bytes = int(np.prod(row_shape)) * source.dtype.itemsize
    per = min(gr.output, _strip_rows(plan, row_bytes))
    max_in = (per - 1) * gr.stride + gr.effective_kernel
    slab_geometry = {
        "stride": [g.stride for g in plan.geometry],
        "dilation": [g.dilation for g in plan.geometry],
        "padding": [(0, 0)] + [(g.pad_lo, g.pad_hi) for g in plan.geometry[1:]],
        "pad_mode": plan.pad_mode,
        "pad_value": plan.pad_value,
        "flip": False,
        "method": plan.method,
    }
    buf = np.empty((max_in, *row_shape), dtype=source.dtype)
    keep = _keep_from(source, plan)
    for o0 in range(0, gr.output, per):
        o1 = min(o0 + per, gr.output)
        start = o0 * gr.stride - gr.pad_lo
        n_in = (o1 - o0 - 1) * gr.stride + gr.effective_kernel
        rows = buf[:n_in]
        _fill_rows(source, start, rows, plan)
        y = apply_chain(rows, [plan.kernel], channel_axis=plan.channel_axis, geometry=slab_geometry)
        source.release(max(0, min(o1 * gr.stride - gr.pad_lo, keep)))
        sink.put(o0, y)
