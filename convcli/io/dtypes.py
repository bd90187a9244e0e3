"""Output dtypes: the dtype an output will hold, and the cast that rounds, clips and counts.

What each output format holds is its row's data in :mod:`convcli.io.registry`; the family's
module decides what an output keeps or refuses (``output_dtype``), and documents why
(:mod:`convcli.io.pillow_image`, :mod:`convcli.io.sndfile_audio`).

Integer audio arrays hold full-scale samples as soundfile's ``read(dtype=...)`` returns
them: int16 and int32 are signed and left-justified (a 24-bit sample ``s`` is ``s * 256``
in int32), uint8 is offset binary (128 is silence), as PCM_U8 stores it.  The input's
subtype is kept when the output dtype is its dtype and the format has it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._moved import moved
from ..errors import ArgumentError, Param, UnsupportedError, join_words
from . import registry
from ._signal import Signal
from .registry import Target

__all__ = [
    "DTYPE_CHOICES",
    "ROUNDINGS",
    "round_to_integers",
    "SUBTYPE_DTYPE",
    "SUBTYPE_BITS",
    "output_dtype",
    "default_output_dtype",
    "cast",
    "stored_dtype",
]

#: Samples cast at a time (float to integer): the temporaries stay in cache.
CAST_BLOCK = 1 << 16

#: The values ``requested`` (``--dtype``) takes.
DTYPE_CHOICES = ("auto", "uint8", "uint16", "int16", "int32", "float32", "float64")


#: How a float result is rounded to an integer output (``--rounding``): ``half-even`` (the
#: default: numpy's ``rint``, OpenCV's ``cvRound``, ``torch.round``), ``half-up``
#: (``floor(y + 0.5)``: libvips, and ImageMagick's TIFF, PPM and BMP writers),
#: ``toward-zero`` (C's cast: what scipy.ndimage stores in an integer output), ``q16-down``
#: (ImageMagick Q16's 8-bit PNG writer: rounded half up to a 16-bit quantum ``257·y``, then
#: truncated to 8 bits; for other dtypes it is ``half-up``).
ROUNDINGS = ("half-even", "half-up", "toward-zero", "q16-down")


def round_to_integers(
    values: np.ndarray, rounding: str = "half-even", dtype: Any = None
) -> np.ndarray:
    """Round floats to whole numbers by one of :data:`ROUNDINGS` (a new array).

    ``dtype`` is the integer dtype they go to: ``q16-down`` differs from ``half-up`` only for
    ``uint8``.

    Examples
    --------
    >>> y = np.array([0.5, 1.5, 2.5, -0.5, 2.75, 2.9985])
    >>> for mode in ROUNDINGS:
    ...     print(mode, round_to_integers(y, mode, np.uint8).tolist())
    half-even [0.0, 2.0, 2.0, -0.0, 3.0, 3.0]
    half-up [1.0, 2.0, 3.0, 0.0, 3.0, 3.0]
    toward-zero [0.0, 1.0, 2.0, -0.0, 2.0, 2.0]
    q16-down [0.0, 1.0, 2.0, 0.0, 2.0, 3.0]
    """
    if rounding == "half-even":
        return np.rint(values)
    if rounding == "toward-zero":
        return np.trunc(values)
    if rounding == "q16-down" and dtype is not None and np.dtype(dtype) == np.uint8:
        quanta = np.floor(np.multiply(values, 257.0, dtype=np.float64) + 0.5)
        return np.floor(np.clip(quanta, 0.0, 65535.0) / 257.0).astype(values.dtype, copy=False)
    if rounding in ("half-up", "q16-down"):
        return np.floor(values + 0.5)
    raise ArgumentError(f"rounding {rounding!r} is not one of {', '.join(ROUNDINGS)}")


#: The dtype that holds each soundfile subtype (any other subtype: float32).
SUBTYPE_DTYPE = {
    "PCM_U8": "uint8",
    "PCM_S8": "int16",
    "PCM_16": "int16",
    "PCM_24": "int32",
    "PCM_32": "int32",
    "FLOAT": "float32",
    "DOUBLE": "float64",
}

#: Bits of resolution of the integer PCM subtypes.
SUBTYPE_BITS = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}


def stored_dtype(signal: Signal) -> np.dtype:
    """Return the dtype the signal's file stores: what ``--dtype auto`` keeps.

    Parameters
    ----------
    signal : Signal
        A loaded signal (``form.dtype``), or one made in code (its data's dtype).

    Returns
    -------
    numpy.dtype
        The stored dtype.
    """
    if signal.form.dtype:
        return np.dtype(signal.form.dtype)
    return signal.data.dtype


def _requested(requested: str) -> np.dtype | None:
    if requested not in DTYPE_CHOICES:
        raise ArgumentError(f"dtype {requested!r} is not one of {', '.join(DTYPE_CHOICES)}")
    return None if requested == "auto" else np.dtype(requested)


def output_dtype(signal: Signal, path: str | os.PathLike[str], requested: str = "auto") -> np.dtype:
    """Return the dtype the output file will hold.

    ``auto`` keeps the input's stored dtype (:func:`stored_dtype`: the image's, the audio
    subtype's, the array's) unless the output format cannot hold it and holds an obvious
    equivalent: audio to FLAC (float becomes int32, i.e. PCM_24; PCM_U8 becomes int16) and
    audio to OGG (always float32).  An image never changes depth silently: a 16-bit image
    to JPEG is an error, not a clip.

    Parameters
    ----------
    signal : Signal
        The input signal (its kind, channels and form decide); the result of a filter
        with the same form works too.
    path : str or os.PathLike
        The output path: its extension names the format; no extension or an existing
        directory is a folder of slices (volumes).
    requested : str, optional
        ``"auto"`` or a dtype name of :data:`DTYPE_CHOICES`.

    Returns
    -------
    numpy.dtype
        The dtype to :func:`cast` to before :func:`convcli.io.save`.

    Raises
    ------
    ArgumentError
        ``requested`` is not one of :data:`DTYPE_CHOICES`.
    UnsupportedError
        The format cannot hold that dtype with that many channels, or that kind of signal;
        the message says what it holds and what to use instead.

    Examples
    --------
    >>> import numpy as np
    >>> from convcli.io import Signal
    >>> rgb = Signal(np.zeros((4, 4, 3), np.uint8), "image", channel_axis=2)
    >>> output_dtype(rgb, "out.png"), output_dtype(rgb, "out.npy", "float32")
    (dtype('uint8'), dtype('float32'))
    >>> output_dtype(rgb, "out.png", "float32")
    Traceback (most recent call last):
    ...
    convcli.errors.UnsupportedError: out.png: PNG cannot hold 32-bit float RGB: ...
    """
    want = _requested(requested)
    target = registry.target_for(signal, path)
    decide = registry.family(target.family).function("output_dtype", path)
    if decide is not None:
        return np.dtype(decide(signal, target, want))
    return default_output_dtype(signal, target, want)


def default_output_dtype(signal: Signal, target: Target, want: np.dtype | None) -> np.dtype:
    """Keep the stored dtype (or ``want``) if the output format holds it.

    The choice of a family whose row says what each format holds and whose module has no
    ``output_dtype`` of its own.

    Raises
    ------
    UnsupportedError
        The format does not hold the dtype.
    """
    dtype = want if want is not None else stored_dtype(signal)
    fmt = target.write_format()
    holds = None if fmt is None else fmt.dtypes(signal.channels)
    if holds is not None and dtype.name not in holds:
        assert fmt is not None
        param = Param("dtype", *holds)
        raise UnsupportedError(
            f"{target.path}: {fmt.name} cannot hold {dtype.name}: it holds "
            f"{join_words(list(holds))}; use {param} or .npy",
            params=[param],
        )
    return dtype


def _int_bounds(dtype: np.dtype) -> tuple[float, float]:
    """Float bounds that convert to ``dtype`` without overflow."""
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if hi > info.max:  # int64/uint64: 2**63 - 1 rounds up to 2**63 in float64
        hi = float(np.nextafter(hi, 0.0))
    return lo, hi


def cast(
    data: np.ndarray,
    dtype: np.dtype | str,
    *,
    audio_subtype: str | None = None,
    rounding: str = "half-even",
) -> tuple[np.ndarray, int]:
    """Round, clip and convert a float result to the output dtype; count what was clipped.

    Integers never wrap: values are rounded half to even (:func:`numpy.rint`; or as
    ``rounding`` says, :func:`round_to_integers`) and clipped to the dtype's range; NaN
    becomes 0 and counts as clipped.  A float dtype is a plain
    conversion (a finite value that overflows to infinity counts as clipped).

    With ``audio_subtype`` (the input's soundfile subtype, any string for audio), ``data`` is
    in ``[-1, 1]`` units and an integer dtype holds full-scale samples as soundfile reads
    them: signed left-justified int16/int32, offset-binary unsigned (uint8 = PCM_U8).  The
    samples are quantised to the subtype's resolution when the subtype's dtype is ``dtype``
    (PCM_24 in int32 gives multiples of 256), so that an unchanged PCM file is written back
    sample for sample; clipping is at the subtype's range (libsndfile itself would wrap).

    Parameters
    ----------
    data : numpy.ndarray
        The result, in the input's units (float, or integer).
    dtype : numpy.dtype or str
        The output dtype (from :func:`output_dtype`).
    audio_subtype : str or None, optional
        For audio: the input's subtype.
    rounding : str, optional
        One of :data:`ROUNDINGS` (float to integer only).

    Returns
    -------
    array : numpy.ndarray
        The converted samples.
    clipped : int
        How many samples were outside the range (or NaN).

    Examples
    --------
    >>> import numpy as np
    >>> cast(np.array([-3.0, 0.5, 1.5, 2.5, 300.0]), "uint8")
    (array([  0,   0,   2,   2, 255], dtype=uint8), 2)
    >>> cast(np.array([[0.5], [-1.0], [1.0]]), "int16", audio_subtype="PCM_16")
    (array([[ 16384],
           [-32768],
           [ 32767]], dtype=int16), 1)
    >>> cast(np.array([[0.0], [1.0]]), "uint8", audio_subtype="PCM_U8")
    (array([[128],
           [255]], dtype=uint8), 1)
    """
    dt = np.dtype(dtype)
    if rounding not in ROUNDINGS:
        raise ArgumentError(f"rounding {rounding!r} is not one of {', '.join(ROUNDINGS)}")
    x = np.asarray(data)
    if x.dtype == np.bool_:
        x = x.astype(np.uint8)
    if dt.kind == "f":
        with np.errstate(over="ignore"):
            out = x.astype(dt)
        if x.dtype.kind == "f" and np.dtype(x.dtype).itemsize > dt.itemsize:
            return out, int(np.count_nonzero(np.isinf(out) & np.isfinite(x)))
        return out, 0
    if dt.kind not in "iu":
        raise UnsupportedError(f"cannot cast to {dt.name}: not an integer or float dtype")
    if x.dtype.kind in "iu" and audio_subtype is None:
        return _cast_int_to_int(x, dt)
    # Float to integer, in cache-sized blocks: no temporary the size of the whole result.
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.shape, dtype=dt)
    clipped = 0
    for start in range(0, flat.size, CAST_BLOCK):
        stop = min(start + CAST_BLOCK, flat.size)
        if audio_subtype is not None:
            out[start:stop], n = _cast_audio(flat[start:stop], dt, audio_subtype, rounding)
        else:
            work = np.float64 if (dt.itemsize >= 4 or x.dtype == np.float64) else np.float32
            block = flat[start:stop].astype(work, copy=False)
            r = (
                np.rint(block)
                if rounding == "half-even"
                else round_to_integers(block, rounding, dt)
            )
            out[start:stop], n = _clip_to(r, dt, *_int_bounds(dt))
        clipped += n
    return out.reshape(x.shape), clipped


def _clip_to(r: np.ndarray, dt: np.dtype, lo: float, hi: float) -> tuple[np.ndarray, int]:
    """Clip rounded floats to ``[lo, hi]`` (NaN to 0), convert, count.

    Two reductions decide the common case (nothing out of range, no NaN: min and max
    propagate NaN) before any element-wise mask is built.
    """
    if r.size == 0:
        return r.astype(dt), 0
    low, high = float(np.min(r)), float(np.max(r))
    if lo <= low and high <= hi:
        return r.astype(dt), 0
    nan = np.isnan(r)
    clipped = int(np.count_nonzero(r < lo)) + int(np.count_nonzero(r > hi))
    clipped += int(np.count_nonzero(nan))
    r = np.clip(r, lo, hi)
    r[nan] = 0
    return r.astype(dt), clipped


def _cast_int_to_int(x: np.ndarray, dt: np.dtype) -> tuple[np.ndarray, int]:
    src, dst = np.iinfo(x.dtype), np.iinfo(dt)
    lo, hi = max(src.min, dst.min), min(src.max, dst.max)
    low = x < lo if src.min < lo else np.zeros(x.shape, bool)
    high = x > hi if src.max > hi else np.zeros(x.shape, bool)
    clipped = int(np.count_nonzero(low | high))
    if clipped:
        x = np.clip(x, np.array(lo, x.dtype), np.array(hi, x.dtype))
    return x.astype(dt), clipped


def _cast_audio(
    x: np.ndarray, dt: np.dtype, subtype: str, rounding: str = "half-even"
) -> tuple[np.ndarray, int]:
    full = dt.itemsize * 8
    bits = full
    if SUBTYPE_DTYPE.get(subtype) == dt.name and subtype in SUBTYPE_BITS:
        bits = SUBTYPE_BITS[subtype]
    scale = 2.0 ** (bits - 1)
    # Integers of up to 24 bits are exact in float32 (and scaling by a power of two is exact),
    # so 8-, 16- and 24-bit output needs no float64 copy.
    work = np.float32 if bits <= 24 and x.dtype != np.float64 else np.float64
    r = np.multiply(x, scale, dtype=work)
    if rounding == "half-even":
        np.rint(r, out=r)
    else:
        r = round_to_integers(r, rounding, np.dtype(f"i{dt.itemsize}"))
    signed = np.dtype(f"i{dt.itemsize}")
    q, clipped = _clip_to(r, signed, -scale, scale - 1)
    if full > bits:  # left-justify (PCM_24 in int32, PCM_S8 in int16): exact in integers
        q <<= full - bits
    if dt.kind == "u":  # offset binary: adding 2**(n-1) modulo 2**n flips the sign bit
        q = q.view(dt) ^ np.array(1 << (full - 1), dtype=dt)
    return q.astype(dt, copy=False), clipped


# Names that moved to their families' modules (one more release):
__getattr__ = moved(
    __name__,
    __name__,
    {
        "image_dtypes": "convcli.io.pillow_image",
        "check_image": "convcli.io.pillow_image",
        "check_audio": "convcli.io.sndfile_audio",
        "audio_subtype": "convcli.io.sndfile_audio",
        "slice_format": "convcli.io.slices",
    },
)
