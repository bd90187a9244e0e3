"""One pass that computes every feature map of a bank: blocked GEMM over patches, or a shared FFT.

A bank is ``F`` kernels applied side by side to one input, as a convolutional layer applies
its filters.  Its weights are ``(F, *k)`` -- the same kernels for every input channel, each
applied per channel and summed (a layer whose channels share weights) -- or ``(F, C, *k)``,
a true multi-channel layer::

    map[f] = sum_c  x[c] (*) W[f, c]  (+ bias[f])

where ``(*)`` is the correlation of :func:`convcli.convolve`, with the same stride, padding,
pad mode, dilation and flip for every map.

Methods
-------
``direct``
    im2col in bounded blocks, tap-major, then one matrix product per block: a block of
    output positions ``P`` gives a ``(K, P)`` patch matrix (``K`` = channels x taps used by
    any kernel), and ``W (F, K) @ patches (K, P)`` is written straight into the channel-first
    output ``(F, *out)``.  Never an im2col of the whole input: blocks hold about
    :data:`BLOCK_ELEMENTS` patch values.  Light products (``F*K`` at most
    :data:`LIGHT_FK`, such as 16 3x3 kernels) run on two threads, each block's product one
    batched ``matmul`` of column chunks small enough that BLAS computes them on the calling
    thread (OpenBLAS stays single-threaded up to ``M*N*K`` = :data:`BLAS_SINGLE_MNK`): no
    nested thread pools, no BLAS threads to wait for, and one GIL release per block.
    Heavier products (a CNN layer's 64 x 3 x 7x7) run on one thread in blocks of about
    :data:`HEAVY_BLOCK_ELEMENTS` patch values, few and long BLAS calls on BLAS's own threads.
``fft``
    The padded input is transformed once (per channel) and shared by every kernel: each map
    is one spectral product summed over channels and one inverse transform.  Long 1-D
    signals go by overlap-save in batches of blocks.
``engine``
    One kernel on one channel: :func:`convcli.convolve` itself (shift-add, separable or FFT,
    by the engine's planner).

Cost rule (``method="auto"``)
-----------------------------
Estimates in nanoseconds, with ``n`` output positions per map, ``K`` = channels x taps used,
``F`` maps, ``N`` the transformed size (fast lengths) and ``C`` the channels transformed::

    direct = n * (C_COL*K + C_MAC*F*K + C_STORE*F)
    fft    = C_FFT * N*log2(N) * (C + 1.5*F) + C_SPEC * (N/2) * F*C + C_STORE * n*F

(each map costs one inverse transform and its kernel's transform, about half a transform
since the kernel's few rows go first).

The constants come from fits on the project's 2-core machine (``benchmarks/bench_features.py
--calibrate``: direct over 7 banks from 4 x 3x3 to 64 x 3x3 and 32 x 9x9; fft over 5 sizes),
rounded, and checked on pairs either side of the crossover (2048x2048: 16 x 17x17 direct
0.69 s, fft 0.91 s; 8 x 13x13 direct 0.25 s, fft 0.31 s; 8 x 17x17 direct 0.57 s, fft
0.37 s).  One kernel on one channel goes to the engine.  An input holding NaN or Inf never
goes to ``fft``, which would spread them over the whole map.  For 16 maps of a 2048x2048
image, ``direct`` costs about ``0.46*K + 9`` ns per position and ``fft`` about 180: 3x3 banks
go direct (14x cheaper), and the crossover falls near ``K`` = 370 taps (19x19 kernels; 17x17
for 8 maps).

Kernels of different sizes (a bank's scales) are embedded in zero kernels of the bank's
largest size ``K`` per axis, so that every map shares one geometry, as the kernels of one layer
share one size.  Each kernel's tap ``(k-1)//2`` goes on tap ``(K-1)//2`` -- centre on centre
for odd sizes, and for any sizes the tap that ``same`` padding puts on each sample -- so with
``same`` padding and stride 1 every map is exactly its kernel applied on its own (with
dilation too, for odd sizes).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convcli.engine._plan import (
    check_channel_axis,
    check_pad_value,
    compute_dtype,
    fast_len_estimate,
    log2_at_least_1,
)
from convcli.engine.threads import usable_cpus
from convcli.errors import ArgumentError
from convcli.geometry import AxisGeometry, PaddingArg, resolve
from convcli.padding import canonical_mode, pad_window

__all__ = [
    "BANK_METHODS",
    "PER_CHANNEL",
    "BankPlan",
    "plan_bank",
    "execute_bank",
    "correlate_bank",
    "stack_kernels",
]

BANK_METHODS = ("auto", "direct", "fft")
PER_CHANNEL = ("sum", "separate")

#: Patch values per im2col block (float32: 1 MiB, about an L2 per core).
BLOCK_ELEMENTS = 1 << 18
#: Patch values per block of a heavy product (one BLAS call, on BLAS's own threads: few and
#: long calls, so that its threads rarely wait for each other).
HEAVY_BLOCK_ELEMENTS = 1 << 21
#: OpenBLAS computes a product of ``M*N*K`` up to this on the calling thread.
BLAS_SINGLE_MNK = 1 << 18
#: Products with ``F*K`` up to this are "light": two Python threads, single-threaded BLAS.
LIGHT_FK = 512
#: Below this many output values (maps x positions) everything runs on one thread.
THREAD_MIN_OUTPUT = 1 << 18

#: Cost constants (ns); see the module docstring.
C_COL = 0.19
C_MAC = 0.017
C_STORE = 0.58
C_FFT = 0.28
C_SPEC = 0.5
#: A 1-D FFT bank goes by overlap-save when the signal spans at least this many blocks.
OLS_MIN_BLOCKS = 4
#: Elements of one overlap-save batch (blocks x block length x channels).
OLS_BATCH_ELEMENTS = 1 << 21

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor | None:
    global _POOL
    if min(2, usable_cpus()) < 2:
        return None
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="convcli-bank")
    return _POOL


@dataclass(frozen=True)
class BankPlan:
    """Everything decided before any arithmetic: weights, geometry, dtype and method.

    Attributes
    ----------
    input_shape : tuple of int
        The input's shape (channel axis included).
    channel_axis : int or None
        The input's channel axis (non-negative).
    channels : int
        Input channels (1 without a channel axis).
    shared : bool
        Weights ``(F, *k)`` shared by every channel (True) or ``(F, C, *k)`` (False).
    per_channel : str
        ``"sum"``: one map per kernel, channels summed; ``"separate"`` (shared weights):
        one map per kernel and channel.
    weights : ndarray
        ``(F, C', *k)`` float64, flipped if asked, as it will be applied; ``C'`` is 1 when
        shared weights are summed over channels (the channels are summed first: the
        correlation is linear) and ``C`` for ``(F, C, *k)`` weights.
    kernel_shapes : tuple of tuple of int
        Each kernel's own shape, before embedding in the common size.
    geometry : tuple of AxisGeometry
        One per spatial axis, for the common kernel shape.
    output_shape : tuple of int
        ``(F, *out)``, or ``(F, C, *out)`` for ``per_channel="separate"``.
    pad_mode : str
        Canonical pad mode.
    pad_value : float
        Fill value of ``constant`` (per input channel).
    dtype : numpy.dtype
        The arithmetic (and result) dtype (:func:`convcli.engine.compute_dtype`).
    method : str
        ``direct``, ``fft`` or ``engine``.
    requested : str
        The method asked for.
    taps : tuple of tuple of int
        The tap positions computed: every tap, or, when most are zero in every kernel and
        channel (embedded small kernels, sparse dilated stencils), only those some kernel
        uses.
    costs : dict
        Estimated nanoseconds of ``direct`` and ``fft``.
    fft_block : int or None
        The overlap-save block length, when the FFT goes by blocks.
    """

    input_shape: tuple[int, ...]
    channel_axis: int | None
    channels: int
    shared: bool
    per_channel: str
    weights: np.ndarray = field(repr=False)
    kernel_shapes: tuple[tuple[int, ...], ...]
    geometry: tuple[AxisGeometry, ...]
    output_shape: tuple[int, ...]
    pad_mode: str
    pad_value: float
    dtype: np.dtype
    method: str
    requested: str
    taps: tuple[tuple[int, ...], ...] = field(repr=False)
    costs: dict[str, float]
    fft_block: int | None = None

    @property
    def maps(self) -> int:
        """The number of kernels ``F``."""
        return int(self.weights.shape[0])

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        """The common kernel shape every map is computed with."""
        return tuple(self.weights.shape[2:])

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        """``(before, after)`` padding per spatial axis."""
        return tuple((g.pad_lo, g.pad_hi) for g in self.geometry)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The input's spatial shape."""
        return tuple(g.size for g in self.geometry)

    def describe(self) -> str:
        """One line for ``-v``: kernels, channels, geometry, shapes and method."""
        k = "x".join(map(str, self.kernel_shape))
        if self.shared and self.channels > 1:
            how = (
                f"{self.channels} channels summed first"
                if self.per_channel == "sum"
                else f"{self.channels} channels apart"
            )
        elif self.shared:
            how = "1 channel"
        else:
            how = f"{self.channels} channels, weights per channel"
        pads = " ".join(f"{lo}:{hi}" for lo, hi in self.pads)
        costs = ", ".join(f"{m} {c / 1e6:.3g} ms" for m, c in self.costs.items())
        extra = f" (overlap-save, block {self.fft_block})" if self.fft_block else ""
        return (
            f"{self.maps} kernels {k}, {len(self.taps)} taps computed; {how}; "
            f"stride {','.join(str(g.stride) for g in self.geometry)}; "
            f"dilation {','.join(str(g.dilation) for g in self.geometry)}; "
            f"pads {pads} ({self.pad_mode}); "
            f"{'x'.join(map(str, self.input_shape))} -> "
            f"{'x'.join(map(str, self.output_shape))}; method {self.method}{extra} "
            f"(estimates: {costs})"
        )


def stack_kernels(kernels: Sequence[Any]) -> np.ndarray:
    """Stack kernels of one number of axes into ``(F, *k)``, embedding smaller ones.

    Each kernel's tap ``(k-1)//2`` is placed on tap ``(K-1)//2`` of a zero kernel of the
    largest size ``K`` per axis: centre on centre for odd sizes, and for any sizes the tap
    that ``same`` padding (stride 1) puts on each sample.

    Parameters
    ----------
    kernels : sequence of array_like
        Real, finite kernels, all with the same number of axes.

    Returns
    -------
    ndarray
        float64, ``(F, *K)`` with ``K`` the largest size per axis.

    Examples
    --------
    >>> stack_kernels([[1, 2, 3], [5]]).tolist()
    [[1.0, 2.0, 3.0], [0.0, 5.0, 0.0]]
    >>> stack_kernels([[1, 2, 3], [4, 5]]).tolist()
    [[1.0, 2.0, 3.0], [0.0, 4.0, 5.0]]
    """
    arrays = [_check_kernel(k, f"kernel {i}") for i, k in enumerate(kernels)]
    if not arrays:
        raise ArgumentError("the bank is empty: give at least one kernel")
    ndims = {a.ndim for a in arrays}
    if len(ndims) > 1:
        raise ArgumentError(
            f"the bank's kernels have different numbers of axes {sorted(ndims)}; give kernels "
            "with one number of axes"
        )
    big = tuple(max(a.shape[ax] for a in arrays) for ax in range(arrays[0].ndim))
    out = np.zeros((len(arrays),) + big)
    for i, a in enumerate(arrays):
        start = [(b - 1) // 2 - (n - 1) // 2 for b, n in zip(big, a.shape)]
        out[(i,) + tuple(slice(s, s + n) for s, n in zip(start, a.shape))] = a
    return out


def _check_kernel(kernel: Any, what: str) -> np.ndarray:
    k = np.asarray(kernel)
    if k.dtype.kind == "c":
        raise ArgumentError(f"{what} is complex; give real weights")
    if k.dtype.kind not in "biuf":
        raise ArgumentError(f"{what} must be numeric, got dtype {k.dtype}")
    if k.ndim == 0 or k.size == 0:
        raise ArgumentError(f"{what} is empty or a scalar (shape {k.shape})")
    k = k.astype(np.float64)
    bad = ~np.isfinite(k)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        word = "NaN" if np.isnan(k[index]) else "Inf"
        raise ArgumentError(f"{what} holds {word} at index {index}; weights must be finite")
    return k


def _ols_block(keff: int) -> int:
    """Overlap-save block: a power of two >= 2*k' and >= 1024, capped at 2**17 if k' allows."""
    m = max(1024, 1 << (2 * keff - 1).bit_length())
    m = min(m, 1 << 17)
    while m < keff + 1:
        m *= 2
    return m


def plan_bank(
    input_shape: Sequence[int],
    input_dtype: np.dtype | type,
    weights: Any,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    channel_axis: int | None = None,
    per_channel: str = "sum",
    method: str = "auto",
    finite: bool = True,
) -> BankPlan:
    """Validate the arguments and plan a bank without touching the data.

    Parameters are those of :func:`correlate_bank`, with the input given by its shape and
    dtype; ``finite=False`` says the input holds NaN or Inf (``auto`` then avoids ``fft``).

    Returns
    -------
    BankPlan

    Examples
    --------
    >>> p = plan_bank((512, 512), np.uint8, np.ones((16, 3, 3)))
    >>> p.method, p.output_shape, p.dtype
    ('direct', (16, 512, 512), dtype('float32'))
    >>> plan_bank((512, 512), np.uint8, np.ones((8, 31, 31))).method
    'fft'
    """
    shape = tuple(int(n) for n in input_shape)
    dtype = compute_dtype(np.dtype(input_dtype))
    if not isinstance(method, str) or method.lower() not in BANK_METHODS:
        raise ArgumentError(f"method {method!r} is not one of {', '.join(BANK_METHODS)}")
    method = method.lower()
    if per_channel not in PER_CHANNEL:
        raise ArgumentError(f"per_channel {per_channel!r} is not one of {', '.join(PER_CHANNEL)}")
    mode = canonical_mode(pad_mode)
    value = check_pad_value(pad_value)
    channel_axis = check_channel_axis(channel_axis, len(shape))
    spatial_axes = tuple(a for a in range(len(shape)) if a != channel_axis)
    nd = len(spatial_axes)
    if nd == 0:
        raise ArgumentError(f"the input of shape {shape} has no spatial axis")
    channels = shape[channel_axis] if channel_axis is not None else 1

    if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
        w = _check_kernel(weights, "the weights")
        kernel_shapes = None
    else:
        w = stack_kernels(weights)
        kernel_shapes = tuple(tuple(np.shape(k)) for k in weights)
    where = f" (channel axis {channel_axis})" if channel_axis is not None else ""
    if w.ndim == nd + 1:
        shared = True
        w = w[:, None]
    elif w.ndim == nd + 2:
        shared = False
        if w.shape[1] != channels:
            have = "1 input channel" if w.shape[1] == 1 else f"{w.shape[1]} input channels"
            raise ArgumentError(
                f"the weights have {have} (shape {_dims(w.shape)}) but the input has "
                f"{channels}{where}"
            )
        if per_channel != "sum":
            raise ArgumentError(
                "per_channel 'separate' needs weights (F, *k) shared by every channel; "
                f"these are (F, C, *k) = {_dims(w.shape)}"
            )
    else:
        raise ArgumentError(
            f"the weights have {w.ndim} axes (shape {_dims(w.shape)}) but an input with {nd} "
            f"spatial axes{where} takes (F, *k) with {nd + 1} axes or (F, C, *k) with {nd + 2}"
        )
    if kernel_shapes is None or not shared:
        kernel_shapes = tuple(tuple(w.shape[2:]) for _ in range(w.shape[0]))
    if flip:
        w = np.ascontiguousarray(w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd])
    geometry = resolve(
        [shape[a] for a in spatial_axes],
        w.shape[2:],
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    out_sp = tuple(g.output for g in geometry)
    nmaps = int(w.shape[0])
    if shared and per_channel == "separate":
        output_shape = (nmaps, channels) + out_sp
    else:
        output_shape = (nmaps,) + out_sp
    used = np.argwhere(np.any(w != 0, axis=(0, 1)))
    if 2 * len(used) > math.prod(w.shape[2:]):
        # Most taps are used: one copy of every tap beats a copy per used tap.
        used = np.argwhere(np.ones(w.shape[2:], dtype=bool))
    taps = tuple(tuple(int(i) for i in t) for t in used)
    if not taps:
        taps = ((0,) * nd,)  # all-zero weights: one tap keeps the arithmetic well-formed

    # Cost estimates (ns), per pass; "separate" runs one pass per channel.
    cin = int(w.shape[1])
    passes = channels if (shared and per_channel == "separate") else 1
    n_out = math.prod(out_sp)
    k_rows = cin * len(taps)
    costs: dict[str, float] = {}
    costs["direct"] = passes * n_out * (C_COL * k_rows + C_MAC * nmaps * k_rows + C_STORE * nmaps)
    fft_block = None
    if nd == 1:
        g = geometry[0]
        block = _ols_block(g.effective_kernel)
        step = block - g.effective_kernel + 1
        nblocks = -(-((g.output - 1) * g.stride + 1) // step)
        if nblocks >= OLS_MIN_BLOCKS:
            fft_block = block
            total = nblocks * block
        else:
            total = fast_len_estimate(g.needed)
    else:
        total = math.prod(fast_len_estimate(g.needed) for g in geometry)
    costs["fft"] = passes * (
        C_FFT
        * total
        * log2_at_least_1(total if fft_block is None else fft_block)
        * (cin + 1.5 * nmaps)
        + C_SPEC * total / 2 * nmaps * cin
        + C_STORE * n_out * nmaps
    )
    if method == "auto":
        if nmaps == 1 and cin == 1:
            chosen = "engine"
        else:
            candidates = {m: c for m, c in costs.items() if finite or m != "fft"}
            chosen = min(candidates, key=lambda m: candidates[m])
    else:
        chosen = method
    if chosen != "fft":
        fft_block = None
    return BankPlan(
        input_shape=shape,
        channel_axis=channel_axis,
        channels=channels,
        shared=shared,
        per_channel=per_channel,
        weights=w,
        kernel_shapes=kernel_shapes,
        geometry=geometry,
        output_shape=output_shape,
        pad_mode=mode,
        pad_value=value,
        dtype=dtype,
        method=chosen,
        requested=method,
        taps=taps,
        costs=costs,
        fft_block=fft_block,
    )


def _dims(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)


def execute_bank(plan: BankPlan, x: Any, *, out: np.ndarray | None = None) -> np.ndarray:
    """Run a plan made by :func:`plan_bank` on the data it was made for.

    Parameters
    ----------
    plan : BankPlan
        The plan.
    x : array_like
        The input; its shape must be ``plan.input_shape``.
    out : ndarray, optional
        A C-contiguous array of ``plan.output_shape`` and ``plan.dtype`` to write into.

    Returns
    -------
    ndarray
        The maps, ``plan.output_shape``, ``plan.dtype``.
    """
    arr = np.asarray(x)
    if arr.shape != plan.input_shape:
        raise ArgumentError(f"the plan is for shape {plan.input_shape}, got {arr.shape}")
    if out is None:
        out = np.empty(plan.output_shape, dtype=plan.dtype)
    elif out.shape != plan.output_shape or out.dtype != plan.dtype or not out.flags.c_contiguous:
        raise ArgumentError(
            f"out must be C-contiguous {plan.output_shape} {plan.dtype}, got {out.shape} "
            f"{out.dtype}"
        )
    if plan.channel_axis is None:
        xs = arr[None]
    else:
        xs = np.moveaxis(arr, plan.channel_axis, 0)
    w = plan.weights.astype(plan.dtype)
    if plan.shared and plan.per_channel == "separate":
        part = np.empty((plan.maps,) + plan.output_shape[2:], dtype=plan.dtype)
        for c in range(plan.channels):
            _run(plan, xs[c : c + 1], w, plan.pad_value, part)
            out[:, c] = part
        return out
    value = plan.pad_value
    if plan.shared and plan.channels > 1:
        # Shared weights: sum_c x_c (*) w = (sum_c x_c) (*) w, and every pad mode is linear
        # (constant mode pads the sum with channels * value).
        xs = np.sum(xs, axis=0, dtype=plan.dtype, keepdims=True)
        value = plan.pad_value * plan.channels
    _run(plan, xs, w, value, out)
    return out


def _run(plan: BankPlan, xs: np.ndarray, w: np.ndarray, value: float, out: np.ndarray) -> None:
    """Compute ``out (F, *out)`` from ``xs (C', *spatial)`` and ``w (F, C', *k)``."""
    if plan.method == "engine":
        from convcli.engine import convolve

        out[0] = convolve(
            xs[0],
            w[0, 0],
            stride=[g.stride for g in plan.geometry],
            padding=list(plan.pads),
            pad_mode=plan.pad_mode,
            pad_value=value,
            dilation=[g.dilation for g in plan.geometry],
        )
    elif plan.method == "fft":
        if plan.fft_block is not None:
            _fft_overlap_save(plan, xs, w, value, out, plan.fft_block)
        else:
            _fft_bank(plan, xs, w, value, out)
    else:
        _gemm_bank(plan, xs, w, value, out)


def _output_blocks(
    out_shape: Sequence[int], target: int
) -> list[tuple[tuple[int, ...], int, int, int]]:
    """Cut the output into blocks of about ``target`` positions.

    A block is ``(lead, a0, a1, b)``: fixed indices ``lead`` on the axes before ``b``, the
    range ``a0:a1`` on axis ``b``, and every position of the axes after it; so its positions
    are one contiguous run of the flattened output.
    """
    nd = len(out_shape)
    inner = 1
    b = nd
    while b > 0 and inner * out_shape[b - 1] <= target:
        b -= 1
        inner *= out_shape[b]
    if b == 0:
        return [((), 0, out_shape[0], 0)] if nd else []
    b -= 1  # the axis cut into ranges; `inner` positions per step along it
    rows = max(1, target // inner)
    count = -(-out_shape[b] // rows)
    rows = -(-out_shape[b] // count)  # even ranges
    blocks = []
    for lead in np.ndindex(*out_shape[:b]):
        for a0 in range(0, out_shape[b], rows):
            blocks.append((tuple(int(i) for i in lead), a0, min(a0 + rows, out_shape[b]), b))
    return blocks


def _gemm_bank(
    plan: BankPlan, xs: np.ndarray, w: np.ndarray, value: float, out: np.ndarray
) -> None:
    """Run the ``direct`` method: blocked im2col (tap-major), one product per block."""
    from numpy.lib.stride_tricks import sliding_window_view

    geo = plan.geometry
    nd = len(geo)
    cin = xs.shape[0]
    nmaps = w.shape[0]
    dtype = plan.dtype
    bounds = [(0, cin)] + [(-g.pad_lo, -g.pad_lo + g.needed) for g in geo]
    xp = pad_window(xs, bounds, plan.pad_mode, value, dtype=dtype)
    keff = tuple(g.effective_kernel for g in geo)
    win = sliding_window_view(xp, keff, axis=tuple(range(1, nd + 1)))
    win = win[
        (slice(None),)
        + tuple(slice(None, None, g.stride) for g in geo)
        + tuple(slice(None, None, g.dilation) for g in geo)
    ]  # (C', *out, *k)
    kshape = plan.kernel_shape
    all_taps = len(plan.taps) == math.prod(kshape)
    if all_taps:
        w2 = np.ascontiguousarray(w.reshape(nmaps, -1))
    else:
        idx = (slice(None), slice(None)) + tuple(np.array(t) for t in zip(*plan.taps))
        w2 = np.ascontiguousarray(w[idx].reshape(nmaps, -1))  # (F, C' * taps), channel-major
    k_rows = w2.shape[1]
    out_sp = tuple(g.output for g in geo)
    out2 = out.reshape(nmaps, -1)
    light = nmaps * k_rows <= LIGHT_FK
    target = max((BLOCK_ELEMENTS if light else HEAVY_BLOCK_ELEMENTS) // k_rows, 256)
    blocks = _output_blocks(out_sp, target)
    chunk = max(BLAS_SINGLE_MNK // (nmaps * k_rows), 64) if light else None
    strides_flat = [math.prod(out_sp[a + 1 :]) for a in range(nd)]

    def do_block(block: tuple[tuple[int, ...], int, int, int], buf: np.ndarray) -> None:
        lead, a0, a1, b = block
        rest = out_sp[b + 1 :]
        m = a1 - a0
        n = m * math.prod(rest)
        cols = buf[: k_rows * n].reshape(k_rows, n)
        src = win[(slice(None),) + lead + (slice(a0, a1),)]  # (C', m, *rest, *k)
        if all_taps:
            nsp = 1 + len(rest)
            order = (0,) + tuple(range(1 + nsp, 1 + nsp + nd)) + tuple(range(1, 1 + nsp))
            np.copyto(cols.reshape((cin,) + kshape + (m,) + rest), src.transpose(order))
        else:
            row = 0
            for c in range(cin):
                for t in plan.taps:
                    np.copyto(cols[row].reshape((m,) + rest), src[(c, Ellipsis) + t])
                    row += 1
        start = sum(i * s for i, s in zip(lead, strides_flat)) + a0 * strides_flat[b]
        if chunk is None or chunk >= n:
            np.matmul(w2, cols, out=out2[:, start : start + n])
            return
        # One batched product: numpy calls BLAS once per chunk (each small enough to stay on
        # this thread) in a C loop, without taking the GIL back between chunks.
        batch = n // chunk
        main = batch * chunk
        np.matmul(
            w2,
            cols[:, :main].reshape(k_rows, batch, chunk).transpose(1, 0, 2),
            out=out2[:, start : start + main].reshape(nmaps, batch, chunk).transpose(1, 0, 2),
        )
        if main < n:
            np.matmul(w2, cols[:, main:], out=out2[:, start + main : start + n])

    size = k_rows * max((a1 - a0) * math.prod(out_sp[b + 1 :]) for _, a0, a1, b in blocks)
    pool = _pool() if light and nmaps * math.prod(out_sp) >= THREAD_MIN_OUTPUT else None
    if pool is None or len(blocks) < 2:
        buf = np.empty(size, dtype=dtype)
        for block in blocks:
            do_block(block, buf)
        return
    queue = iter(blocks)
    lock = threading.Lock()

    def worker() -> None:
        buf = np.empty(size, dtype=dtype)
        while True:
            with lock:
                block = next(queue, None)
            if block is None:
                return
            do_block(block, buf)

    futures = [pool.submit(worker) for _ in range(2)]
    for f in futures:
        f.result()


def _dilate(kernel: np.ndarray, dilation: Sequence[int]) -> np.ndarray:
    """Insert ``d - 1`` zeros between the taps along each (trailing) axis."""
    if all(d == 1 for d in dilation):
        return kernel
    nd = len(dilation)
    lead = kernel.shape[: kernel.ndim - nd]
    shape = lead + tuple(d * (n - 1) + 1 for d, n in zip(dilation, kernel.shape[-nd:]))
    out = np.zeros(shape, dtype=kernel.dtype)
    out[(Ellipsis,) + tuple(slice(None, None, d) for d in dilation)] = kernel
    return out


def _kernel_spectrum(kernel: np.ndarray, n: Sequence[int], workers: int) -> np.ndarray:
    """Return ``rfftn(kernel, s=n)`` over the trailing axes, transforming the small axes first.

    A kernel is small: the real transform of its few rows along the last axis, then one
    axis at a time (each pass zero-pads to the full length), costs about half of
    transforming the zero-padded array whole.
    """
    import scipy.fft

    nd = len(n)
    first = kernel.ndim - nd
    spectrum = scipy.fft.rfft(kernel, n=n[-1], axis=-1, workers=workers)
    for i in range(nd - 2, -1, -1):
        spectrum = scipy.fft.fft(spectrum, n=n[i], axis=first + i, workers=workers)
    return spectrum


def _fft_bank(plan: BankPlan, xs: np.ndarray, w: np.ndarray, value: float, out: np.ndarray) -> None:
    """Run the ``fft`` method, N-D: one input transform, one product and inverse per map."""
    import scipy.fft

    geo = plan.geometry
    nd = len(geo)
    workers = usable_cpus()
    n = [int(scipy.fft.next_fast_len(g.needed, real=True)) for g in geo]
    bounds = [(0, xs.shape[0])] + [(-g.pad_lo, -g.pad_lo + size) for g, size in zip(geo, n)]
    # The pad mode's own values out to the fast length: the wrap-around of the circular
    # correlation only reaches positions past the last output.
    xp = pad_window(xs, bounds, plan.pad_mode, value, dtype=plan.dtype)
    axes = tuple(range(1, nd + 1))
    spectra = scipy.fft.rfftn(xp, axes=axes, workers=workers)  # (C', ...)
    del xp
    wd = _dilate(w, [g.dilation for g in geo])
    pick = tuple(slice(0, (g.output - 1) * g.stride + 1, g.stride) for g in geo)
    acc = np.empty(spectra.shape[1:], dtype=spectra.dtype)
    for f in range(w.shape[0]):
        wf = _kernel_spectrum(wd[f], n, workers)  # (C', ...)
        np.conjugate(wf, out=wf)
        np.multiply(spectra[0], wf[0], out=acc)
        for c in range(1, spectra.shape[0]):
            acc += spectra[c] * wf[c]
        y = scipy.fft.irfftn(acc, s=n, axes=tuple(range(nd)), workers=workers)
        out[f] = y[pick]


def _fft_overlap_save(
    plan: BankPlan, xs: np.ndarray, w: np.ndarray, value: float, out: np.ndarray, block: int
) -> None:
    """Run the ``fft`` method, 1-D: overlap-save in batches, every map from shared spectra."""
    import scipy.fft
    from numpy.lib.stride_tricks import sliding_window_view

    g = plan.geometry[0]
    workers = usable_cpus()
    keff = g.effective_kernel
    step = block - keff + 1
    full_len = (g.output - 1) * g.stride + 1  # full-resolution outputs needed
    nblocks = -(-full_len // step)
    extent = nblocks * step + block - step
    xp = pad_window(
        xs,
        [(0, xs.shape[0]), (-g.pad_lo, -g.pad_lo + extent)],
        plan.pad_mode,
        value,
        dtype=plan.dtype,
    )
    wd = _dilate(w, [g.dilation])  # (F, C', k')
    wf = np.conjugate(scipy.fft.rfft(wd, n=block, axis=-1))  # (F, C', block/2+1)
    frames = sliding_window_view(xp, block, axis=-1)  # (C', positions, block)
    cin = xs.shape[0]
    per_batch = max(1, OLS_BATCH_ELEMENTS // (block * cin))
    for b0 in range(0, nblocks, per_batch):
        b1 = min(b0 + per_batch, nblocks)
        seg = frames[:, b0 * step : (b1 - 1) * step + 1 : step, :]
        spectra = scipy.fft.rfft(seg, axis=-1, workers=workers)  # (C', nb, block/2+1)
        t0 = b0 * step
        first = -(-t0 // g.stride)
        for f in range(w.shape[0]):
            acc = spectra[0] * wf[f, 0]
            for c in range(1, cin):
                acc += spectra[c] * wf[f, c]
            y = scipy.fft.irfft(acc, n=block, axis=-1, workers=workers)[:, :step].reshape(-1)
            t1 = min(t0 + y.shape[0], full_len)
            last = (t1 - 1) // g.stride
            if last >= first:
                out[f, first : last + 1] = y[
                    first * g.stride - t0 : last * g.stride - t0 + 1 : g.stride
                ]


def correlate_bank(
    x: Any,
    weights: Any,
    *,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    channel_axis: int | None = None,
    per_channel: str = "sum",
    method: str = "auto",
) -> np.ndarray:
    """Correlate one input with a bank of kernels: every feature map in one pass.

    Parameters
    ----------
    x : array_like
        The signal: one axis per kernel axis, plus one channel axis if ``channel_axis`` names
        it.  Integers are fine (the arithmetic is :func:`convcli.engine.compute_dtype`'s).
    weights : array_like or sequence of array_like
        ``(F, *k)``: ``F`` kernels shared by every channel, each applied per channel and the
        results summed (``per_channel="sum"``) or kept apart (``"separate"``).
        ``(F, C, *k)``: a multi-channel layer, ``map[f] = sum_c x[c] (*) W[f, c]``; ``C``
        must equal the input's channels.  A list of kernels of one number of axes and any
        sizes is stacked by :func:`stack_kernels` (aligned as ``same`` padding aligns
        them, zero-padded to the largest size).  NaN and Inf are refused.
    bias : float or array_like of F floats, optional
        Added to every sample of each map.
    stride, padding, pad_mode, pad_value, dilation, flip
        As for :func:`convcli.convolve` (see its parameters for the pad-mode diagrams); the
        same for every map.
    channel_axis : int, optional
        The axis of ``x`` that holds channels.
    per_channel : {"sum", "separate"}, optional
        With ``(F, *k)`` weights and channels: sum the channels' maps (default; a layer whose
        channels share weights) or keep one map per kernel and channel.
    method : {"auto", "direct", "fft"}, optional
        ``direct``: blocked im2col and one matrix product per block; ``fft``: the input's
        transform shared by every kernel.  ``auto`` picks by the cost rule in
        :mod:`convcli.features._bank`.  Every method gives the same maps within float
        tolerance.

    Returns
    -------
    ndarray
        ``(F, *out)`` (``(F, C, *out)`` with ``per_channel="separate"``), float32 (float64
        for float64 input), ``out`` as :func:`convcli.output_shape` gives it.

    Raises
    ------
    ValueError
        Bad arguments, with a message that names the parameter, the value and what is
        allowed; a channel mismatch names both numbers.

    Examples
    --------
    >>> x = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    >>> correlate_bank(x, [[1, 2, 3], [0, 1, -1]])
    array([[ 0.,  3.,  2.,  1.,  0.],
           [ 0., -1.,  1.,  0.,  0.]])
    >>> rgb = np.ones((4, 4, 3), np.uint8)
    >>> correlate_bank(rgb, np.ones((2, 3, 3, 3)), bias=[0, -27], channel_axis=-1)[:, 1, 1]
    array([27.,  0.], dtype=float32)
    """
    arr = np.asarray(x)
    finite = not (arr.dtype.kind == "f" and not np.all(np.isfinite(arr)))
    plan = plan_bank(
        arr.shape,
        arr.dtype,
        weights,
        stride=stride,
        padding=padding,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        channel_axis=channel_axis,
        per_channel=per_channel,
        method=method,
        finite=finite,
    )
    maps = execute_bank(plan, arr)
    if bias is not None:
        add_bias(maps, bias)
    return maps


def add_bias(maps: np.ndarray, bias: Any) -> np.ndarray:
    """Add one value to every map, or one value per map, in place.

    Parameters
    ----------
    maps : ndarray
        ``(F, ...)``.
    bias : float or array_like
        One value, or ``F`` values.

    Returns
    -------
    ndarray
        ``maps``.

    Examples
    --------
    >>> add_bias(np.zeros((2, 3)), [1, -1])
    array([[ 1.,  1.,  1.],
           [-1., -1., -1.]])
    """
    b = np.asarray(bias, dtype=np.float64)
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] not in (1, maps.shape[0])):
        raise ArgumentError(
            f"bias has {b.size} values but there are {maps.shape[0]} maps: give one value, "
            "or one per map"
        )
    if not np.all(np.isfinite(b)):
        raise ArgumentError("bias holds NaN or Inf")
    b = b.reshape(-1)
    if b.size == 1:
        maps += maps.dtype.type(b[0])
    else:
        maps += b.astype(maps.dtype).reshape((-1,) + (1,) * (maps.ndim - 1))
    return maps
