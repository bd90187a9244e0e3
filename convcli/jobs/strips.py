"""An image filtered strip by strip: decoding, filtering, cast and encoding overlap.

One kernel, no ``--rescale``, no alpha: the output's rows are computed a strip at a time,
each strip from the input rows its outputs need (the pad mode's included), and handed to the
sink (:class:`convcli.jobs.sink._Sink`), whose writer thread encodes strip ``k`` while strip
``k + 1`` is filtered; the input's rows come from a decoder running a few blocks ahead on a
thread of its own (:class:`convcli.io.rows.DecodedRows`) or from an image in memory.  No
float copy of the whole image is made, and the strip buffers are allocated once.

Two ways to filter a strip, each giving the bytes the whole-image job gives:

- **integer**: an 8-bit input, a kernel of integers times a power of two (the binomial over
  16, a sharpen, a Sobel) whose plan is exact in float32: the strip is padded once into a uint8
  window, summed exactly in int16 and rounded straight into the output type, a block of
  rows at a time while it is in cache (:mod:`convcli.engine.integer`);
- **float**: the strip's rows, padded along the rows, go through the engine with the whole
  image's plan (:func:`convcli.engine.chain.apply_chain`), and the sink casts the float
  strip.  The engine computes the borders of a strip in another order than those of the
  whole image, so this way is taken only where the order cannot change a bit: a ``direct``
  or ``separable`` plan whose float32 sums are exact (integer taps times a power of two on
  integer samples, :func:`exact_in_float32`), or a PNG output, which has always been
  written slab by slab (the slabs of :func:`convcli.jobs.stream.correlate_rows`, these very
  strips).  Anything else (a Gaussian to a TIFF, an ``fft`` plan) is filtered whole, as before.

The writer gets blocks of :func:`block_rows` rows, the slabs the PNG route always wrote (a
PNG's row filter and deflate pieces follow its blocks: the same blocks, the same bytes);
the integer way fills a block strip by strip.  ``circular`` padding of the rows of a
decoded input is not run in strips (its first strip needs the last rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.jobs.blocks import ONE_PASS_SLAB_BYTES
from convcli.jobs.post import _cast, _post, count_nonfinite
from convcli.jobs.record import _plans_to_record
from convcli.jobs.sink import _Sink
from convcli.jobs.stream import slab_rows

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

    One plain correlation (no ``--normalized``, ``--mask``, ``--transposed``, ``--compat`` or
    ``--rounding``) of one kernel of the image's axes, no ``--rescale``, no alpha, channels
    last, an output that takes rows block by block (:func:`convcli.io.takes_blocks`), no
    ``circular`` rows from a decoder, and a plan whose strips give the whole image's bytes:
    a ``direct`` or ``separable`` plan exact in float32 (:func:`exact_in_float32`), or any
    plan to a PNG (the PNG route has always filtered in these slabs, ``fft`` included).
    """
    from convcli import io
    from convcli.engine import make_plan
    from convcli.io.registry import target_for
    from convcli.io.rows import ArraySource
    from convcli.jobs.blocks import _one_pass

    if sig.kind != "image" or not _one_pass(opts) or alpha is not None:
        return None
    if opts.normalized or opts.transposed or opts.mask is not None:
        return None  # an operation of its own, on the whole image
    if opts.compat is not None or opts.rounding is not None:
        return None  # a peer's arithmetic and rounding: filtered as the preset says
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
    if not _exact(source, plan) and target_for(sig, job.output).format != "PNG":
        return None
    rows = plan.geometry[0]
    if (
        plan.pad_mode == "circular"
        and rows.pad_lo + rows.pad_hi
        and not isinstance(source, ArraySource)
    ):
        return None
    return plan


def exact_in_float32(dtype: np.dtype, terms: Sequence[Sequence[np.ndarray]]) -> bool:
    """Whether a filter of ``dtype`` samples is exact in float32, whatever the order of its sums.

    ``terms`` is the filter as a sum of terms, each a chain of correlations (a ``direct``
    plan: one term, the kernel; a ``separable`` one: its factors, one vector per axis).
    True for integer samples and arrays of integers times a power of two each, when the
    largest sample times the product of each chain's absolute sums, added over the terms,
    stays below 2**24: every product and partial sum is then a float32 number.

    Examples
    --------
    >>> u8 = np.dtype(np.uint8)
    >>> exact_in_float32(u8, [[np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16]])
    True
    >>> exact_in_float32(u8, [[np.array([1.0, 2, 1]) / 4, np.array([0.5, 1, 0.5])]])
    True
    >>> exact_in_float32(u8, [[np.ones((3, 3)) / 9]])
    False
    >>> exact_in_float32(np.dtype(np.uint16), [[np.ones((17, 17))]])
    False
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "ui" or dtype.itemsize > 2 or not terms:
        return False
    info = np.iinfo(dtype)
    bound = 0.0
    for chain in terms:
        product = float(max(abs(int(info.min)), int(info.max)))
        for array in chain:
            total = _integer_sum(np.asarray(array, dtype=np.float64))
            if total is None:
                return False
            product *= total
        bound += product
    return bound < 2.0**24


def _integer_sum(a: np.ndarray) -> float | None:
    """``sum(abs(a)) * 2**s`` for the least ``s`` that makes ``a * 2**s`` integers, or None."""
    if a.size == 0 or not np.all(np.isfinite(a)):
        return None
    for shift in range(0, 25):
        taps = np.ldexp(a, shift)
        if np.all(taps == np.round(taps)):
            return float(np.abs(taps).sum())
    return None


def _exact(source: Any, plan: Any) -> bool:
    """Whether the plan's float32 result on ``source`` is exact (:func:`exact_in_float32`)."""
    if plan.method == "direct":
        return exact_in_float32(source.dtype, [[plan.kernel]])
    if plan.method == "separable" and plan.factors is not None:
        return exact_in_float32(source.dtype, plan.factors.terms)
    return False


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
    if _exact(source, plan):  # integer sums give the plan's own numbers
        ik = integer_kernel(source.dtype, plan.kernel, plan.pad_mode, plan.pad_value)
    sink = _Sink(job, opts, sig, out_dtype, None, None, rows_shape, nonfinite == 0)
    with sink:
        if ik is not None:
            _integer_strips(opts, source, plan, ik, out_dtype, sink)
        else:
            _float_strips(source, plan, sink)
    _plans_to_record([plan], record, opts)
    record["clipped"] = sink.clipped
    record["shape_out"] = list(out)
    record["status"] = "ok"


def block_rows(source: Any, plan: Any) -> int:
    """Output rows per block handed to the writer: about 8 MiB of float32 input per block.

    The slabs of :func:`convcli.jobs.stream.correlate_rows` at
    :data:`convcli.jobs.blocks.ONE_PASS_SLAB_BYTES`, in which a PNG has always been written
    (its row filters and deflate pieces follow the blocks).
    """
    elements = int(np.prod(source.shape[1:], dtype=np.int64)) or 1
    return max(1, slab_rows(elements, ONE_PASS_SLAB_BYTES) // plan.geometry[0].stride)


def working_bytes(source: Any, plan: Any) -> int:
    """Bytes the strips hold at most: four times a block's input rows in float32.

    The rows, their result, the engine's work on them and the block in flight to the writer.
    """
    g = plan.geometry[0]
    elements = int(np.prod(source.shape[1:], dtype=np.int64))
    rows = block_rows(source, plan) * g.stride + g.effective_kernel
    return 4 * rows * elements * 4


def _strip_rows(plan: Any, row_bytes: int) -> int:
    """Output rows per strip of the integer way: about :data:`STRIP_BYTES` of input read."""
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
    """Exact int16 sums of padded uint8 windows, rounded straight into the output type.

    Each block of :func:`block_rows` output rows is filled strip by strip (a strip's window
    stays in cache) and handed to the writer while the next block is filled.
    """
    from convcli.engine.integer import IntegerCorrelation, round_scaled

    gr, gc = plan.geometry
    width = source.shape[1]
    ch = source.shape[2] if len(source.shape) == 3 else 1
    out_rows, out_cols = gr.output, gc.output
    window_cols = max(gc.pad_lo + width, (out_cols - 1) * gc.stride + gc.effective_kernel)
    block = min(out_rows, block_rows(source, plan))
    per = min(block, _strip_rows(plan, width * ch))
    max_in = (per - 1) * gr.stride + gr.effective_kernel
    corr = IntegerCorrelation(
        ik, (max_in, window_cols, ch), out_cols, (gr.stride, gc.stride), (gr.dilation, gc.dilation)
    )
    window = np.empty((max_in, window_cols, ch), dtype=np.uint8)
    outs = [np.empty((block, out_cols, ch), dtype=out_dtype) for _ in range(2)]
    plain = not opts.abs and opts.scale == 1.0 and opts.bias == 0.0
    plain = plain and out_dtype.kind in "ui"
    clipped: list[int] = []
    scale = np.float32(ik.scale)
    keep = _keep_from(source, plan)

    for i, b0 in enumerate(range(0, out_rows, block)):
        b1 = min(b0 + block, out_rows)
        dst = outs[i % 2]
        for o0 in range(b0, b1, per):
            o1 = min(o0 + per, b1)
            start = o0 * gr.stride - gr.pad_lo
            n_in = (o1 - o0 - 1) * gr.stride + gr.effective_kernel
            win = window[:n_in]
            inner = win[:, gc.pad_lo : gc.pad_lo + width]
            _fill_rows(
                source, start, inner if ch > 1 or len(source.shape) == 3 else inner[..., 0], plan
            )
            _fill_columns(win, gc.pad_lo, width, plan)
            part = dst[o0 - b0 : o1 - b0]

            def finish(r0: int, r1: int, sums: np.ndarray, part: np.ndarray = part) -> None:
                if plain:
                    clipped.append(round_scaled(sums, ik.shift, part[r0:r1]))
                    return
                y = _post(np.multiply(sums, scale, dtype=np.float32), opts)
                cast, n = _cast(y, out_dtype, "image", None, True)
                part[r0:r1] = cast
                clipped.append(int(n))

            corr(win, finish)
            source.release(max(0, min(o1 * gr.stride - gr.pad_lo, keep)))
        done = dst[: b1 - b0]
        sink.put(b0, done if ch > 1 else done[..., 0], final=True)
    sink.clipped += sum(clipped)


def _float_strips(source: Any, plan: Any, sink: _Sink) -> None:
    """Each block's rows, padded along the rows, through the engine with the image's plan.

    The computation of :func:`convcli.jobs.stream.correlate_rows` on the same slabs: the rows
    padded in the plan's dtype, the same geometry.
    """
    from convcli.engine.chain import apply_chain

    gr = plan.geometry[0]
    row_shape = source.shape[1:]
    per = min(gr.output, block_rows(source, plan))
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
    buf = np.empty((max_in, *row_shape), dtype=plan.dtype)
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
