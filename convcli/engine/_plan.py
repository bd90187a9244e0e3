"""The planner: validate once, resolve the geometry, and pick the cheapest exact method.

Cost model
----------
Every estimate is in nanoseconds on the project's 2-core machine
(``benchmarks/calibrate.py`` measures the constants at 512² to 2048²,
``benchmarks/bench_engine.py`` checks the picks).  ``P`` is the number of output samples
(channels included), ``X`` the number of input samples; element costs are for float32 and
double for float64.

- ``direct`` is the cheapest of its variants (see :mod:`convcli.engine._direct`):

  - *matrix products* (stride 1, inner axes keep their sizes, two taps or more along an outer
    axis): ``P * (C_MAC*K*N + C_OP*(N-1) + C_GEMM)``, ``K`` taps along the contracted axis,
    ``N`` tap positions on the others;
  - *shift-add* (the other flat cases): ``P * (C_OP*ops + C_FLAT)`` with ``ops`` the ufunc
    calls per output (taps sharing a weight are summed first; +-1 weights need no multiply);
    ``C_OP16`` per call for 8-bit input in int16;
  - *strided*: ``P * (C_VIEW*ops + C_FLAT) + C_GATHER*X``; a 2-D input (channels after its
    two axes allowed) may instead take matrix products: with a column stride, over column
    phases (one run per kernel column, ``r`` input rows per output row: ``s0``, or ``kh``
    when rows are not shared): ``P * (C_PHASE*kw*r + C_MAC*kh*kw + C_GEMV + C_FLAT)``;
    with column stride 1, over every input column:
    ``P * (C_MAC*kh*kw + C_GEMM + C_OP*(kw-1) + C_FLAT)``;
  - *Toeplitz GEMM* (one spatial axis): ``P * (C_MACB*Kt + C_TOE)`` with
    ``Kt = (B-1)*s + (L-1)*d + 1`` multiply-adds per output and ``C_MACB`` = ``C_MAC32`` or
    ``C_MAC128`` for blocks of ``B`` = 32 or 128 outputs;

  plus ``C_OUT`` per output (the fresh result's pages) and ``C_CONV`` per input sample of
  another dtype than the arithmetic's.  A padded window of at most ``SMALL_ELEMENTS`` samples
  is copied once (``C_PAD`` per sample); otherwise the border comes from one padded window
  per axis, whose outputs cost as the interior's plus ``C_PAD`` each, and the ``k'-1``
  outputs across each window's seam are computed too.
- ``separable``: for each rank term, each 1-D pass over its (chunk-fused) outputs: a
  matrix-vector product ``C_MACV*k`` per output along an outer axis, ``C_OP*ops`` along the
  innermost one (Toeplitz products ``C_MAC32*(31 + k')`` from 8 taps), plus ``C_STAGE`` per
  pass; plus ``C_OUT`` and ``C_CONV``.  A geometry the flat path cannot take in place
  pads a window per block of outputs (``C_PAD`` per sample) and runs the passes over it.
- ``fft``: over the ``E`` samples transformed (the padded input at fast lengths, the tiles
  or blocks of overlap-save, or the input itself for ``circular`` at fast sizes).  1-D
  blocks cost ``C_FFT1`` per sample; 2-D and 3-D transforms of ``n`` points cost
  ``C_FFTX + C_FFTD*(ndim-1) + C_FFT*|log2(n) - FFT_SWEET|`` per sample (small transforms
  waste calls, large ones leave the cache), plus ``C_FFTBIG`` per log2 of points above
  ``FFT_CACHE``; ``C_TILE`` per tile or batch; ``C_FFTCALL`` once.  Tiles are tried at
  every length of :data:`TILES` from ``4*k'`` up; a whole transform is the alternative.
- Per call: ``C_CALL`` for each numpy call (chunks times calls per chunk, border slabs), and
  a set-up of ``C_DIRECTCALL`` (direct) or ``C_FFTCALL`` (fft).

``auto`` takes the smallest estimate, except that small work (at most :data:`SMALL_WORK`
output samples times taps) always goes ``direct``: it costs less than any other method's
set-up, and in float64 it sums the taps in the order of the formula, exactly.  A float input
holding NaN or Inf never goes to ``fft``, which would spread them over the whole output;
``direct`` keeps them local.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from convcli.engine._direct import SMALL_WORK
from convcli.engine._fft import is_fast_length
from convcli.engine._separable import Factorization, factorize
from convcli.errors import ArgumentError
from convcli.geometry import AxisGeometry, PaddingArg, resolve
from convcli.padding import canonical_mode

__all__ = [
    "METHODS",
    "Plan",
    "make_plan",
    "estimate_costs",
    "direct_variant",
    "ufunc_ops",
    "fast_len_estimate",
    "log2_at_least_1",
    "C_OUT",
    "C_CONV",
    "C_OP",
    "C_OP16",
    "C_FLAT",
    "C_VIEW",
    "C_GATHER",
    "C_MAC",
    "C_MACV",
    "C_STAGE",
    "C_GEMM",
    "C_PHASE",
    "C_GEMV",
    "C_PAD",
    "C_CALL",
    "C_TILE",
    "C_FFTCALL",
    "C_DIRECTCALL",
    "C_FFT",
    "C_FFT1",
    "C_FFTX",
    "C_FFTD",
    "C_FFTBIG",
    "C_MAC32",
    "C_MAC128",
    "C_TOE",
    "FFT_SWEET",
    "FFT_CACHE",
    "TILES",
    "TOEPLITZ_MIN_TAPS",
    "SMALL_WORK",
]

METHODS = ("auto", "direct", "separable", "fft")

#: The fresh output: page faults and first touch, per output sample.
C_OUT = 0.3
#: Converting an input sample to the arithmetic dtype (chunk by chunk).
C_CONV = 0.3
#: One ufunc call, per sample, on contiguous float32 runs (two threads).
C_OP = 0.13
#: One ufunc call, per sample, in int16 (8-bit input).
C_OP16 = 0.09
#: Fixed cost per output of the flat shift-add (chunks, scratch, border strips).
C_FLAT = 0.6
#: One ufunc call, per output sample, on the strided path.
C_VIEW = 0.75
#: Copying one input sample into phases (strided path).
C_GATHER = 1.8
#: One multiply-add in the small matrix products of the direct path (two threads).
C_MAC = 0.03
#: One multiply-add in the matrix-vector products of separable passes.
C_MACV = 0.1
#: Fixed cost per output of each separable pass (chunk scratch, border strips).
C_STAGE = 0.5
#: Fixed cost per output of a matrix-product stage (writing and reading ``Z``).
C_GEMM = 1.25
#: Column phases of strided outputs: copying one input sample into a kernel column's run.
C_PHASE = 0.35
#: Column phases: fixed per output of the matrix-vector products (the product's write).
C_GEMV = 0.85
#: Toeplitz products: per multiply-add with blocks of 32 outputs, and of 128.
C_MAC32 = 0.026
C_MAC128 = 0.016
#: Toeplitz products: fixed per output (padded window, im2col rows, scatter).
C_TOE = 2.7
#: One sample of a padded copy of the whole input.
C_PAD = 0.5
#: One numpy call (Python and ufunc set-up), per call.
C_CALL = 800.0
#: One overlap-save tile or batch of blocks (its padded window and bookkeeping).
C_TILE = 20000.0
#: One FFT correlation's set-up (the kernel's spectrum, scipy.fft's plans, the copies).
C_FFTCALL = 45000.0
#: One direct correlation's set-up (stages, views, the padded window or the border's).
C_DIRECTCALL = 40000.0
#: FFT, 1-D blocks: per transformed sample (forward and inverse, spectrum product, copies).
C_FFT1 = 5.7
#: FFT, 2-D and 3-D: per transformed sample at the best transform size (``2**FFT_SWEET``
#: points), plus ``C_FFTD`` per axis beyond the first.
C_FFTX = 8.5
C_FFTD = 0.7
#: FFT: per transformed sample and per log2 of the points away from ``2**FFT_SWEET``.
C_FFT = 0.8
#: FFT: per transformed sample and per log2 of the points above ``FFT_CACHE``.
C_FFTBIG = 12.0
FFT_SWEET = 18
#: Points of the largest transform that stays in cache.
FFT_CACHE = 1 << 20
#: Tile lengths tried for overlap-save, for 2-D and for 3-D or more.  2-D tiles of 512 and
#: 1024 were measured twice as slow per point as 384, 640 and 768 (rows a power of two
#: apart alias in the cache); 3-D transforms of lengths with a factor 3 measured slower.
TILES = {2: (64, 128, 192, 256, 384, 640, 768, 1536), 3: (16, 32, 64, 128, 256)}
#: Fewest taps for the Toeplitz GEMM on one spatial axis (and, in ``_direct``, for Toeplitz
#: products on the innermost axis of separable passes).
TOEPLITZ_MIN_TAPS = 8
TOEPLITZ_STAGE_MIN_TAPS = 8
#: Kernels whose analysis (:func:`kernel_facts`) is remembered.
FACTS_CACHE = 64
#: A 1-D axis longer than this many overlap-save blocks goes by overlap-save, not one FFT.
OLS_MIN_BLOCKS = 4


@dataclass(frozen=True)
class Plan:
    """Everything decided before any arithmetic: geometry, dtype and method.

    Attributes
    ----------
    input_shape : tuple of int
        The input's shape (channel axis included).
    output_shape : tuple of int
        The output's shape (channel axis included, in the same place).
    geometry : tuple of AxisGeometry
        One per spatial axis.
    spatial_axes : tuple of int
        The input's spatial axes, in order.
    channel_axis : int or None
        The input's channel axis.
    pad_mode : str
        Canonical pad mode.
    pad_value : float
        Fill value of ``constant``.
    dtype : numpy.dtype
        The arithmetic (and result) dtype.
    method : str
        ``direct``, ``separable`` or ``fft``.
    requested : str
        The method asked for (``auto`` or a method).
    kernel : ndarray
        The kernel as it will be applied (flipped if asked), float64.
    taps : int
        Non-zero taps.
    rank : int or None
        Number of separable terms, if the kernel splits.
    fft_block : int or None
        The overlap-save FFT length, if used.
    costs : dict
        Estimated nanoseconds of each method that can run.
    variant : str or None
        The direct variant (:func:`direct_variant`) for ``input_dtype``.
    input_dtype : numpy.dtype or None
        The input dtype planned for.
    """

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    geometry: tuple[AxisGeometry, ...]
    spatial_axes: tuple[int, ...]
    channel_axis: int | None
    pad_mode: str
    pad_value: float
    dtype: np.dtype
    method: str
    requested: str
    kernel: np.ndarray = field(repr=False)
    taps: int
    rank: int | None
    fft_block: int | None
    costs: dict[str, float]
    factors: Factorization | None = field(default=None, repr=False)
    variant: str | None = None
    input_dtype: np.dtype | None = None

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        """``(before, after)`` padding per spatial axis."""
        return tuple((a.pad_lo, a.pad_hi) for a in self.geometry)

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        """The kernel's shape."""
        return tuple(self.kernel.shape)

    def describe(self) -> str:
        """One line for ``-v``: kernel, pads, output shape and method."""
        pads = " ".join(f"{lo}:{hi}" for lo, hi in self.pads)
        extra = ""
        if self.method == "separable" and self.rank:
            extra = f" (rank {self.rank})"
        if self.method == "fft" and self.fft_block:
            extra = f" (overlap-save, block {self.fft_block})"
        if self.method == "direct":
            variant = self.variant or direct_variant(
                self.geometry, self.kernel, self.input_shape, self.spatial_axes
            )
            names = {"toeplitz": "Toeplitz matrix products", "gemm": "matrix products"}
            if variant in names:
                extra = f" ({names[variant]})"
        return (
            f"kernel {'x'.join(map(str, self.kernel_shape))}, {self.taps} taps; "
            f"stride {','.join(str(a.stride) for a in self.geometry)}; "
            f"dilation {','.join(str(a.dilation) for a in self.geometry)}; "
            f"pads {pads} ({self.pad_mode}); "
            f"{'x'.join(map(str, self.input_shape))} -> {'x'.join(map(str, self.output_shape))}; "
            f"method {self.method}{extra}"
        )


def check_pad_value(pad_value: object) -> float:
    """Return ``pad_value`` as a finite float, or raise :class:`ArgumentError`."""
    try:
        value = float(pad_value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ArgumentError(f"pad_value must be a number, got {pad_value!r}") from None
    if not math.isfinite(value):
        raise ArgumentError(f"pad_value must be finite, got {pad_value!r}")
    return value


def check_channel_axis(channel_axis: object, ndim: int) -> int | None:
    """Return the channel axis as a non-negative index (or None), or raise."""
    if channel_axis is None:
        return None
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, (int, np.integer)):
        raise ArgumentError(f"channel_axis must be an int or None, got {channel_axis!r}")
    if not -ndim <= channel_axis < ndim:
        raise ArgumentError(
            f"channel_axis {channel_axis} is out of range for an input with {ndim} axes"
        )
    return int(channel_axis) % ndim


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """Return the arithmetic dtype for an input dtype.

    float32 for float32 (and narrower floats) and for integers of up to 16 bits, which it
    holds exactly; float64 for float64 and for integers wider than 16 bits (int32, uint32,
    int64, uint64), which float32 cannot hold exactly above 2**24.

    Parameters
    ----------
    dtype : numpy.dtype
        The input's dtype.

    Returns
    -------
    numpy.dtype
        float32 or float64.

    Raises
    ------
    ArgumentError
        A complex or non-numeric dtype.

    Examples
    --------
    >>> import numpy as np
    >>> [compute_dtype(np.dtype(t)).name for t in ("uint8", "uint16", "int32", "float64")]
    ['float32', 'float32', 'float64', 'float64']
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise ArgumentError(f"x is complex ({dtype}); convolve real and imaginary parts apart")
    if dtype.kind not in "biuf":
        raise ArgumentError(f"x must be a numeric array, got dtype {dtype}")
    if dtype.itemsize > (4 if dtype.kind == "f" else 2):
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _check_kernel(kernel: object) -> np.ndarray:
    k = np.asarray(kernel)
    if k.dtype.kind == "c":
        raise ArgumentError("kernel is complex; give a real kernel")
    if k.dtype.kind not in "biuf":
        raise ArgumentError(f"kernel must be numeric, got dtype {k.dtype}")
    if k.ndim == 0:
        raise ArgumentError("kernel is a scalar; give an array with one axis per spatial axis")
    if k.size == 0:
        raise ArgumentError(f"kernel is empty (shape {k.shape})")
    k = k.astype(np.float64)
    if not np.all(np.isfinite(k)):
        raise ArgumentError("kernel holds NaN or Inf")
    return k


def log2_at_least_1(n: float) -> float:
    """Return ``log2(n)``, and 1 for any ``n`` below 2: the FFT cost factor of a length.

    Examples
    --------
    >>> log2_at_least_1(8), log2_at_least_1(0)
    (3.0, 1.0)
    """
    return math.log2(max(n, 2.0))


def make_plan(
    input_shape: Sequence[int],
    input_dtype: np.dtype | type,
    kernel: object,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    method: str = "auto",
    channel_axis: int | None = None,
    finite: bool = True,
) -> Plan:
    """Validate the arguments and plan a convolution without touching the data.

    Parameters are those of :func:`convcli.convolve`, with the input given by its shape and
    dtype; ``finite=False`` says the input holds NaN or Inf (``auto`` then avoids ``fft``).

    Returns
    -------
    Plan

    Examples
    --------
    >>> p = make_plan((512, 512), np.uint8, np.ones((15, 15)) / 225)
    >>> p.method, p.output_shape, p.dtype
    ('separable', (512, 512), dtype('float32'))
    """
    shape = tuple(int(n) for n in input_shape)
    dtype = compute_dtype(np.dtype(input_dtype))
    k = _check_kernel(kernel)
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ArgumentError(f"method {method!r} is not one of {', '.join(METHODS)}")
    method = method.lower()
    mode = canonical_mode(pad_mode)
    value = check_pad_value(pad_value)
    channel_axis = check_channel_axis(channel_axis, len(shape))
    spatial_axes = tuple(a for a in range(len(shape)) if a != channel_axis)
    if k.ndim != len(spatial_axes):
        where = f" (channel axis {channel_axis})" if channel_axis is not None else ""
        hint = (
            ""
            if channel_axis is not None or k.ndim != len(shape) - 1
            else ("; if one axis holds channels, say which with channel_axis")
        )
        raise ArgumentError(
            f"the kernel has {k.ndim} axes {k.shape} but the input has {len(spatial_axes)} "
            f"spatial axes {tuple(shape[a] for a in spatial_axes)}{where}{hint}"
        )
    if flip:
        k = np.ascontiguousarray(k[(slice(None, None, -1),) * k.ndim])
    geometry = resolve(
        [shape[a] for a in spatial_axes], k.shape, stride=stride, padding=padding, dilation=dilation
    )
    out_shape = list(shape)
    for a, g in zip(spatial_axes, geometry):
        out_shape[a] = g.output
    channels = shape[channel_axis] if channel_axis is not None else 1
    taps, ops, factors = kernel_facts(k)
    costs, fft_block, variant = estimate_costs(
        shape,
        np.dtype(input_dtype),
        dtype,
        k,
        geometry,
        spatial_axes,
        channels,
        mode,
        factors,
        ops=ops,
    )

    if method == "auto":
        candidates = {m: c for m, c in costs.items() if finite or m != "fft"}
        if factors is None or k.ndim == 1:
            candidates.pop("separable", None)
        if channels * math.prod(g.output for g in geometry) * taps <= SMALL_WORK:
            candidates = {"direct": costs["direct"]}
        chosen = min(candidates, key=lambda m: candidates[m])
    else:
        chosen = method
        if chosen == "separable" and factors is None:
            raise ArgumentError(_not_separable(k))
    if chosen != "fft":
        fft_block = None
    return Plan(
        input_shape=shape,
        output_shape=tuple(out_shape),
        geometry=geometry,
        spatial_axes=spatial_axes,
        channel_axis=channel_axis,
        pad_mode=mode,
        pad_value=value,
        dtype=dtype,
        method=chosen,
        requested=method,
        kernel=k,
        taps=taps,
        rank=factors.rank if factors is not None else None,
        fft_block=fft_block,
        costs=costs,
        factors=factors,
        variant=variant,
        input_dtype=np.dtype(input_dtype),
    )


def kernel_facts(k: np.ndarray) -> tuple[int, int, Factorization | None]:
    """Return the kernel's non-zero taps, :func:`ufunc_ops` and factorization.

    Remembered for the last :data:`FACTS_CACHE` kernels of up to 4096 taps: a batch of inputs
    (or the frames of a stream) filtered with one kernel does not analyse it again.
    """
    if k.size <= 4096:
        return _facts(k.shape, np.ascontiguousarray(k, dtype=np.float64).tobytes())
    nz = k[k != 0]
    return int(nz.size), ufunc_ops(nz) if nz.size else 1, factorize(k)


@lru_cache(maxsize=FACTS_CACHE)
def _facts(shape: tuple[int, ...], data: bytes) -> tuple[int, int, Factorization | None]:
    k = np.frombuffer(data, dtype=np.float64).reshape(shape)
    nz = k[k != 0]
    return int(nz.size), ufunc_ops(nz) if nz.size else 1, factorize(k)


def _not_separable(k: np.ndarray) -> str:
    if k.ndim == 2:
        rank = int(np.linalg.matrix_rank(k))
        return (
            f"method 'separable': the {k.shape[0]}x{k.shape[1]} kernel has rank {rank}, so it "
            f"cannot be split exactly into fewer 1-D passes than its size; use method "
            f"'direct', 'fft' or 'auto'"
        )
    return (
        f"method 'separable': the {'x'.join(map(str, k.shape))} kernel is not an outer product "
        f"of 1-D vectors, so it cannot be split exactly; use method 'direct', 'fft' or 'auto'"
    )


def _ols_block(keff: int) -> int:
    from convcli.engine._fft import ols_block

    return ols_block(keff)


@lru_cache(maxsize=4096)
def fast_len_estimate(n: int) -> int:
    """Return the smallest 5-smooth length ``>= n``, without importing scipy.

    The transform length an FFT of ``n`` samples is costed at (what
    ``scipy.fft.next_fast_len`` gives for real transforms); planning stays cheap.

    Examples
    --------
    >>> fast_len_estimate(97), fast_len_estimate(1000)
    (100, 1000)
    """
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < 2 * n:
        p3 = p5
        while p3 < 2 * n:
            m = p3
            while m < n:
                m *= 2
            best = min(best, m)
            p3 *= 3
        p5 *= 5
    return best


def ufunc_ops(weights: Sequence[float] | np.ndarray) -> int:
    """Count the ufunc calls of the shift-add for taps of these (non-zero) weights.

    Examples
    --------
    >>> ufunc_ops([1, 2, 1]), ufunc_ops([0.3, -0.2, 0.5]), ufunc_ops([-1, -1, 5, -1, -1])
    (3, 5, 5)
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size > 64:
        values, cnt = np.unique(w, return_counts=True)
        counts = list(zip(values.tolist(), cnt.tolist()))
    else:  # a dict count: np.unique's set-up costs more than small kernels
        counts = sorted(Counter(w.tolist()).items())
    if not counts:
        return 1
    unit = [v in (1.0, -1.0) for v, _ in counts]
    # The first group: one saving a call, as _direct._accumulate picks it (else the first).
    saving = [not u or (v == 1.0 and c > 1) for u, (v, c) in zip(unit, counts)]
    if any(saving):
        first = saving.index(True)
    else:
        first = max(range(len(counts)), key=lambda i: (counts[i][1], -i))
    ops = [c if u else (2 if c == 1 else c + 1) for u, (_, c) in zip(unit, counts)]
    v, n = counts[first]
    total = sum(ops) - ops[first]
    return total + (n if v == -1.0 else (n - 1 if v == 1.0 and n > 1 else max(n, 1)))


def _int16(input_dtype: np.dtype, k: np.ndarray) -> np.ndarray | None:
    from convcli.engine._direct import int16_plan

    plan = int16_plan(input_dtype, k)
    return None if plan is None else plan[0]


def direct_variant(
    geometry: Sequence[AxisGeometry],
    kernel: np.ndarray,
    input_shape: Sequence[int],
    spatial_axes: Sequence[int],
    input_dtype: np.dtype | None = None,
) -> str:
    """Name the direct variant the engine runs for this geometry.

    One of ``toeplitz``, ``gemm``, ``int16``, ``flat``, ``strided`` or ``views``: the
    cheapest by :func:`direct_cost`, which :func:`convcli.engine.execute` follows.
    """
    return direct_cost(geometry, kernel, input_shape, spatial_axes, input_dtype)[0]


def direct_cost(
    geometry: Sequence[AxisGeometry],
    kernel: np.ndarray,
    input_shape: Sequence[int],
    spatial_axes: Sequence[int],
    input_dtype: np.dtype | None = None,
    dsize: float = 1.0,
    ops: int | None = None,
) -> tuple[str, float]:
    """Return the direct variant and its cost per output sample (ns), float32 units.

    ``ops`` is :func:`ufunc_ops` of the kernel's non-zero taps, if known.
    """
    nz = kernel[kernel != 0]
    taps = max(int(nz.size), 1)
    stride1 = all(g.stride == 1 for g in geometry)
    inner_same = all(g.output == g.size for g in geometry[1:])
    ints = _int16(input_dtype, kernel) if input_dtype is not None else None
    if ints is not None and stride1 and inner_same:
        return "int16", C_OP16 * ufunc_ops(ints[ints != 0]) + C_FLAT
    if ops is None:
        ops = ufunc_ops(nz) if nz.size else 1
    if not (stride1 and inner_same) and len(geometry) > 1:
        return _strided_cost(geometry, kernel, input_shape, spatial_axes, dsize, ops)
    best = ("flat", dsize * C_OP * ops + C_FLAT)
    if len(geometry) == 1:
        g = geometry[0]
        if taps >= TOEPLITZ_MIN_TAPS:
            from convcli.engine._toeplitz import toeplitz_block

            b = toeplitz_block(g.kernel, g.stride)
            kt = (b - 1) * g.stride + g.effective_kernel
            cost = dsize * ((C_MAC32 if b <= 32 else C_MAC128) * kt + C_TOE)
            if cost < best[1]:
                best = ("toeplitz", cost)
        return best
    outer = next((i for i in range(kernel.ndim - 1) if kernel.shape[i] > 1), None)
    if outer is not None:
        kk = kernel.shape[outer]
        n = int(np.count_nonzero(np.any(np.moveaxis(kernel, outer, 0) != 0, axis=0)))
        cost = dsize * (C_MAC * kk * n + C_OP * max(n - 1, 0) + C_GEMM)
        if cost < best[1]:
            best = ("gemm", cost)
    return best


def _strided_cost(
    geometry: Sequence[AxisGeometry],
    kernel: np.ndarray,
    input_shape: Sequence[int],
    spatial_axes: Sequence[int],
    dsize: float,
    ops: int,
) -> tuple[str, float]:
    """Strides or size changes: shift-adds over phases or views, or products over rows.

    With a column stride the products run over column phases
    (:func:`convcli.engine._direct.phased_products_2d`: in proportion to the outputs kept);
    otherwise (:func:`convcli.engine._direct.strided_gemm_2d`) they cover every input
    column, then add the kernel's columns from strided runs.
    """
    from convcli.engine._direct import gemm_2d_ok, phased_ok

    stride1 = all(g.stride == 1 for g in geometry)
    per_in = math.prod(g.stride for g in geometry)  # input samples per output
    if stride1:
        best = ("views", dsize * C_VIEW * ops + C_FLAT)
    else:
        best = ("strided", dsize * (C_VIEW * ops + C_GATHER * per_in) + C_FLAT)
    full = [1] * len(input_shape)
    strides = [1] * len(input_shape)
    dilations = [1] * len(input_shape)
    for a, n, g in zip(spatial_axes, kernel.shape, geometry):
        full[a], strides[a], dilations[a] = n, g.stride, g.dilation
    kh, kw = kernel.shape[0], kernel.shape[1]
    if phased_ok(input_shape, full, strides):
        s0 = geometry[0].stride
        rows = s0 if geometry[0].dilation == 1 and s0 <= kh else kh
        cost = dsize * (C_PHASE * kw * rows + C_MAC * kh * kw + C_GEMV) + C_FLAT
        return ("gemm", cost) if cost < best[1] else best
    if not gemm_2d_ok(input_shape, full, strides, dilations):
        return best
    s1 = geometry[1].stride
    cost = dsize * (s1 * (C_MAC * kh * kw + C_GEMM) + C_OP * (kw - 1)) + C_FLAT
    return ("gemm", cost) if cost < best[1] else best


def _overheads(
    variant: str, k: np.ndarray, geometry: Sequence[AxisGeometry], channels: int, ops: int
) -> float:
    """Per-call costs of the direct path, and its border slabs.

    A padded window of at most ``SMALL_ELEMENTS`` samples is copied once and run over in
    one go (no border); otherwise the interior runs in chunks and the border comes from one
    padded window per axis, computed tap by tap.
    """
    from convcli.engine._direct import CHUNK, SMALL_ELEMENTS, flat_chunk, interior

    n_out = channels * math.prod(g.output for g in geometry)
    width = 1
    if variant == "gemm":  # the products' columns: every tap position off the contracted axis
        outer = next((i for i in range(k.ndim - 1) if k.shape[i] > 1), 0)
        width = int(np.count_nonzero(np.any(np.moveaxis(k, outer, 0) != 0, axis=0))) or 1
    per_chunk = 3 + width if variant == "gemm" else ops
    if variant == "toeplitz":
        return C_CALL * -(-n_out // CHUNK) * 4
    window = channels * math.prod(g.needed for g in geometry)
    if window <= SMALL_ELEMENTS:
        return C_CALL * (per_chunk + 4 * len(geometry)) + C_PAD * window
    inner = 1
    for g in geometry:
        lo, hi = interior(g.size, g.kernel, g.stride, g.dilation, g.pad_lo, g.output)
        inner *= hi - lo
    border = n_out - channels * inner
    calls = -(-n_out // flat_chunk(width, 1, 4, False)) * per_chunk
    windows = sum(
        1 for g in geometry if g.pad_lo or g.pad_hi or g.output != g.size
    )  # axes with a border slab
    # The border's outputs are counted at the interior's rate; their windows add a copy and
    # the calls of one more run per axis (and the outputs across each seam: see the caller).
    return C_CALL * (calls + windows * (8 + per_chunk)) + border * C_PAD


def estimate_costs(
    shape: Sequence[int],
    input_dtype: np.dtype,
    dtype: np.dtype,
    k: np.ndarray,
    geometry: Sequence[AxisGeometry],
    spatial_axes: Sequence[int],
    channels: int,
    mode: str,
    factors: Factorization | None,
    *,
    ops: int | None = None,
) -> tuple[dict[str, float], int | None, str]:
    """Estimate every method's nanoseconds (``ops``: :func:`ufunc_ops` of the kernel).

    Returns
    -------
    costs : dict
        Nanoseconds per method.
    tile : int or None
        The FFT tile or block, if overlap-save is the cheaper FFT.
    variant : str
        The cheapest direct variant.
    """
    dsize = dtype.itemsize / 4
    n_out = channels * math.prod(g.output for g in geometry)
    n_in = math.prod(shape)
    conv = C_CONV * n_in if np.dtype(input_dtype) != dtype else 0.0
    out_cost = C_OUT * dsize * n_out
    costs: dict[str, float] = {}
    if ops is None:
        nz = k[k != 0]
        ops = ufunc_ops(nz) if nz.size else 1
    variant, per = direct_cost(
        geometry, k, shape, spatial_axes, np.dtype(input_dtype), dsize, ops=ops
    )
    # Border windows also compute the outputs across each seam (dropped): k'-1 per slab.
    seams = sum(n_out / g.output * (g.effective_kernel - 1) for g in geometry if g.output > 1)
    costs["direct"] = (n_out + seams) * per + out_cost + conv + C_DIRECTCALL
    costs["direct"] += _overheads(variant, k, geometry, channels, ops)

    if factors is not None:
        flat = all(g.stride == 1 for g in geometry) and all(
            g.output == g.size for g in geometry[1:]
        )
        sep = out_cost + conv
        contiguous = spatial_axes[-1] == len(shape) - 1  # no channel axis after the last
        if not flat:
            sep += C_PAD * dsize * channels * math.prod(g.needed for g in geometry)
        for term in factors.terms:
            size = float(channels * math.prod(g.needed for g in geometry))
            for i, (g, v) in enumerate(zip(geometry, term)):
                if v.size == 1 and g.stride == 1:
                    continue
                if flat:
                    outer = i < len(geometry) - 1
                    nzv = v[v != 0]
                    if outer:
                        per_out = C_MACV * v.size
                    elif v.size >= TOEPLITZ_STAGE_MIN_TAPS and contiguous:  # Toeplitz, B=32
                        per_out = C_MAC32 * (31 + g.effective_kernel)
                    else:
                        per_out = C_OP * ufunc_ops(nzv)
                    sep += n_out * dsize * (per_out + C_STAGE)
                else:
                    size = size * g.output / g.needed
                    sep += size * dsize * (C_VIEW * ufunc_ops(v[v != 0]) + C_FLAT)
        stages = sum(sum(1 for v in term if v.size > 1) for term in factors.terms)
        n_out_all = channels * math.prod(g.output for g in geometry)
        sep += C_CALL * stages * (-(-n_out_all // 65536) * 4 + 2 * len(geometry))
        costs["separable"] = sep

    # Every needed input sample is transformed once at least: when that alone costs more
    # than another method, the tile search is skipped (the whole transform's cost stands).
    floor = dsize * channels * math.prod(g.needed for g in geometry) * min(C_FFT1, C_FFTX)
    quick = floor > min(costs.values())
    fft, tile = _fft_cost(shape, geometry, spatial_axes, channels, mode, dsize, quick)
    costs["fft"] = fft + out_cost + C_FFTCALL
    return costs, tile, variant


def _transform(points: int, samples: float, dsize: float, ndim: int) -> float:
    """Cost of transforming ``samples`` samples in transforms of ``points`` points."""
    if ndim == 1:
        return samples * dsize * C_FFT1
    lg = log2_at_least_1(points)
    per = C_FFTX + C_FFTD * (ndim - 1) + C_FFT * abs(lg - FFT_SWEET)
    per += C_FFTBIG * max(0.0, lg - math.log2(FFT_CACHE))
    return samples * dsize * per


def _fft_cost(
    shape: Sequence[int],
    geometry: Sequence[AxisGeometry],
    spatial_axes: Sequence[int],
    channels: int,
    mode: str,
    dsize: float,
    quick: bool = False,
) -> tuple[float, int | None]:
    """Estimate the FFT's cost and tile; ``quick``: the whole transform only, no tiles."""
    if mode == "circular" and all(is_fast_length(g.size) for g in geometry):
        pts = math.prod(g.size for g in geometry)
        return _transform(pts, channels * pts, dsize, len(geometry)), None
    if len(geometry) == 1:
        g = geometry[0]
        block = _ols_block(g.effective_kernel)
        per = (block - g.effective_kernel) // g.stride + 1
        nblocks = -(-g.output // per)
        if nblocks >= OLS_MIN_BLOCKS:
            batches = -(-nblocks * block // (1 << 20)) * channels
            cost = _transform(block, nblocks * block * channels, dsize, 1)
            return cost + C_TILE * batches, block
    sizes = [fast_len_estimate(g.needed) for g in geometry]
    pts = math.prod(sizes)
    best = _transform(pts, channels * pts, dsize, len(geometry))
    tile = None
    if len(geometry) > 1 and not quick:
        axes = [
            (g.needed, g.effective_kernel, g.output, g.stride, n) for g, n in zip(geometry, sizes)
        ]
        for t in TILES[min(len(geometry), 3)]:
            if any(t < 4 * keff for need, keff, _, _, _ in axes if need > t):
                continue
            if all(need <= t for need, _, _, _, _ in axes):
                break
            tpts = count = 1
            for need, keff, out, s, n in axes:
                tpts *= t if need > t else n
                count *= -(-out // ((t - keff) // s + 1)) if need > t else 1
            cost = _transform(tpts, count * tpts * channels, dsize, len(geometry))
            cost += C_TILE * count
            if cost < best:
                best, tile = cost, t
    return best, tile
