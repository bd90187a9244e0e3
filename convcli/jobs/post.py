"""After the chain: ``--abs``, ``--scale``, ``--bias``, ``--rescale``, and the cast to the output.

The cast rounds, clips and counts (:func:`convcli.io.cast`); NaN and Inf in a result are
counted, kept in a float output and refused for an integer one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from convcli.errors import ArgumentError, Param

if TYPE_CHECKING:
    from convcli.jobs.options import FilterOptions

__all__ = ["count_nonfinite"]


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
    go min..max -> 0..max (negative pixels do not display), floats to 0..1; arrays and series
    of a signed integer type to the type's whole range.  Integer targets of 32 bits are computed in
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
        signed = dtype.kind == "i" and kind in ("array", "series")
        tlo, thi = (float(info.min) if signed else 0.0), float(info.max)
    else:
        tlo, thi = 0.0, 1.0
    if hi <= lo:
        return np.full_like(y, tlo)
    if dtype.kind in "ui" and dtype.itemsize >= 4:
        y = y.astype(np.float64)
    return (y - lo) * ((thi - tlo) / (hi - lo)) + tlo


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
        float32 = Param("dtype", "float32")
        raise ArgumentError(
            f"the result holds {nonfinite} NaN/Inf samples, which {out_dtype} cannot hold; "
            f"write a float output ({float32} to .npy, or .tif for one channel)",
            params=[float32],
        )
    out, clipped = io.cast(y, out_dtype, audio_subtype=subtype if kind == "audio" else None)
    if out.dtype.kind == "f" and input_finite:
        clipped = count_nonfinite(out)
    return out, clipped
