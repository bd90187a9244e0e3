"""Output dtypes: which dtype each format holds, and the cast that rounds, clips and counts.

What each output format holds
-----------------------------
Found by writing every Pillow mode to every format with Pillow 13 and reading it back
(``tests/test_io_dtypes.py`` keeps the findings honest).  "1" is gray, "2" gray+alpha (LA),
"3" RGB, "4" RGBA; "no" is a combination Pillow refuses or does not give back.

============  ===================================  ======  ======  ======
format        1 channel                            LA      RGB     RGBA
============  ===================================  ======  ======  ======
PNG           uint8, uint16                        uint8   uint8   uint8
TIFF          uint8, uint16, int32, float32        uint8   uint8   uint8
BMP           uint8                                no      uint8   no
WebP          uint8 (stored as RGB)                uint8   uint8   uint8
GIF           uint8 (gray palette, exact)          uint8   uint8   uint8
PPM / PNM     uint8, uint16 (written as PGM)       no      uint8   no
PGM           uint8, uint16                        no      no      no
JPEG          uint8 (lossy)                        no      uint8   no
NPY           any numeric dtype, any shape
============  ===================================  ======  ======  ======

What Pillow 13 does with the rest, and why they are refused rather than converted:

- PNG: Pillow has no mode for 16-bit LA/RGB/RGBA (it reads a 48-bit PNG as 8-bit RGB, so
  convcli refuses such an input rather than drop its low byte); "cannot write mode I/F".
- TIFF: 16-bit, int32 and float32 exist only as one-channel modes; no float64 mode anywhere.
- BMP: RGBA is written but read back as RGB (the alpha is lost); no LA, no 16-bit.
- WebP: always stored as RGB(A), 8-bit; written lossless (``exact=True``, so colours under
  alpha 0 survive).  Gray and LA are stored as RGB and RGBA.
- GIF: a 256-colour palette.  Gray is exact; RGB with more than 256 colours is quantised
  and alpha becomes 1-bit (lossy, like JPEG).  LA is written as RGBA.
- PPM/PGM: Pillow writes int32 as 16-bit PGM (clipping) and float32 as PFM inside a
  ``.pgm`` file: both refused.  16-bit PGM is read back by Pillow as mode "I" and loaded as
  uint16.
- JPEG: 8-bit gray and RGB only (CMYK is written but convcli loads CMYK as RGB).
- Animated PNG: 8-bit only.  Pillow 13 compares frames in 8-bit RGBA and merges 16-bit
  frames that differ, so a 16-bit volume goes to multi-page TIFF, a folder or ``.npy``.
- Animated WebP: lossless, but Pillow 13 has no ``exact`` for animations, so colours under
  alpha 0 are lost; libwebp decodes every animation as RGBA (an opaque one loads as RGB).
- GIF, animated PNG and animated WebP all merge identical consecutive frames (adding their
  durations).  That is harmless for an animation but loses planes of a volume, so a volume
  that did not come as an animation and has two identical consecutive planes is refused.

Audio (soundfile / libsndfile 1.2):

======  =====================================================================
format  dtypes (subtype written)
======  =====================================================================
WAV     uint8 (PCM_U8), int16 (PCM_16), int32 (PCM_24 or PCM_32), float32
        (FLOAT), float64 (DOUBLE)
AIFF    as WAV, and int16 also as PCM_S8
FLAC    int16 (PCM_S8 or PCM_16), int32 (PCM_24): no 32-bit, no float
OGG     float32 (VORBIS, or OPUS when the input was Opus)
======  =====================================================================

Integer audio arrays hold full-scale samples as soundfile's ``read(dtype=...)`` returns
them: int16 and int32 are signed and left-justified (a 24-bit sample ``s`` is ``s * 256``
in int32), uint8 is offset binary (128 is silence), as PCM_U8 stores it.  The input's
subtype is kept when the output dtype is its dtype and the format has it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from ..errors import ArgumentError, Param, UnsupportedError
from ._formats import FORMAT_EXT, resolve_target
from ._signal import Signal

__all__ = [
    "DTYPE_CHOICES",
    "IMAGE_DTYPES",
    "ANIMATED_PNG_DTYPES",
    "AUDIO_DTYPES",
    "SUBTYPE_DTYPE",
    "SUBTYPE_BITS",
    "output_dtype",
    "cast",
    "image_dtypes",
    "check_image",
    "check_audio",
    "slice_format",
    "stored_dtype",
    "audio_subtype",
]

#: Samples cast at a time (float to integer): the temporaries stay in cache.
CAST_BLOCK = 1 << 16

#: The values ``requested`` (``--dtype``) takes.
DTYPE_CHOICES = ("auto", "uint8", "uint16", "int16", "int32", "float32", "float64")

_U8 = ("uint8",)

#: Image format -> channel count -> dtypes it holds (see the module docstring).
IMAGE_DTYPES: dict[str, dict[int, tuple[str, ...]]] = {
    "PNG": {1: ("uint8", "uint16"), 2: _U8, 3: _U8, 4: _U8},
    "TIFF": {1: ("uint8", "uint16", "int32", "float32"), 2: _U8, 3: _U8, 4: _U8},
    "BMP": {1: _U8, 3: _U8},
    "WEBP": {1: _U8, 2: _U8, 3: _U8, 4: _U8},
    "GIF": {1: _U8, 2: _U8, 3: _U8, 4: _U8},
    "PPM": {1: ("uint8", "uint16"), 3: _U8},
    "PGM": {1: ("uint8", "uint16")},
    "JPEG": {1: _U8, 3: _U8},
}

#: What an animated PNG holds (Pillow 13 merges differing 16-bit frames).
ANIMATED_PNG_DTYPES: dict[int, tuple[str, ...]] = {1: _U8, 2: _U8, 3: _U8, 4: _U8}

#: Audio format -> dtypes it holds.
AUDIO_DTYPES: dict[str, tuple[str, ...]] = {
    "WAV": ("uint8", "int16", "int32", "float32", "float64"),
    "AIFF": ("uint8", "int16", "int32", "float32", "float64"),
    "FLAC": ("int16", "int32"),
    "OGG": ("float32",),
}

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

_DEFAULT_SUBTYPE = {
    "uint8": "PCM_U8",
    "int16": "PCM_16",
    "int32": "PCM_32",
    "float32": "FLOAT",
    "float64": "DOUBLE",
}

_LAYOUT = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}
_DEPTH = {
    "uint8": "8-bit",
    "uint16": "16-bit",
    "int16": "16-bit signed",
    "int32": "32-bit integer",
    "float32": "32-bit float",
    "float64": "64-bit float",
}


def _layout(channels: int) -> str:
    return _LAYOUT.get(channels, f"{channels}-channel")


def _depth(dtype: str) -> str:
    return _DEPTH.get(dtype, dtype)


def _join(words: list[str], last: str = "or") -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def image_dtypes(fmt: str, channels: int, *, animated: bool = False) -> tuple[str, ...]:
    """Return the dtypes an image format holds for a number of channels.

    Parameters
    ----------
    fmt : str
        ``"PNG"``, ``"TIFF"``, ``"BMP"``, ``"WEBP"``, ``"GIF"``, ``"PPM"``, ``"PGM"``,
        ``"JPEG"``.
    channels : int
        1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA).
    animated : bool, optional
        For PNG: an animated PNG (8-bit only).

    Returns
    -------
    tuple of str
        Dtype names; empty when the format cannot hold that many channels.

    Examples
    --------
    >>> image_dtypes("PNG", 1), image_dtypes("PNG", 3), image_dtypes("JPEG", 4)
    (('uint8', 'uint16'), ('uint8',), ())
    """
    if animated and fmt == "PNG":
        return ANIMATED_PNG_DTYPES.get(channels, ())
    return IMAGE_DTYPES.get(fmt, {}).get(channels, ())


def _describe_holds(fmt: str, animated: bool) -> str:
    table = ANIMATED_PNG_DTYPES if animated and fmt == "PNG" else IMAGE_DTYPES[fmt]
    by_dtype: dict[str, list[str]] = {}
    for channels, dtypes in table.items():
        for dt in dtypes:
            by_dtype.setdefault(dt, []).append(_layout(channels))
    parts = [f"{_depth(dt)} {_join(layouts)}" for dt, layouts in by_dtype.items()]
    return _join(parts, "and")


def check_image(
    fmt: str,
    dtype: np.dtype,
    channels: int,
    path: os.PathLike[str] | str,
    *,
    animated: bool = False,
    volume: bool = False,
) -> None:
    """Raise :class:`UnsupportedError` unless ``fmt`` holds ``dtype`` with ``channels``.

    Parameters
    ----------
    fmt : str
        Image format name.
    dtype : numpy.dtype
        The output dtype.
    channels : int
        Number of channels.
    path : str or os.PathLike
        The output, named in the message.
    animated : bool, optional
        The output is an animation (animated PNG holds 8-bit only).
    volume : bool, optional
        The output holds a volume (multi-page or animated): suggest only what holds one.

    Raises
    ------
    UnsupportedError
        With a message that says what the format holds and what to use instead.

    Examples
    --------
    >>> import numpy as np
    >>> check_image("PNG", np.dtype("float32"), 3, "out.png")
    Traceback (most recent call last):
    ...
    convcli.errors.UnsupportedError: out.png: PNG cannot hold 32-bit float RGB: PNG holds ...
    """
    name = np.dtype(dtype).name
    if name in image_dtypes(fmt, channels, animated=animated):
        return
    what = f"{'animated ' if animated else ''}{fmt}"
    hints: list[str] = []
    params: list[Param] = []
    others = [
        FORMAT_EXT[f]
        for f in IMAGE_DTYPES
        if f != fmt and name in IMAGE_DTYPES[f].get(channels, ()) and f != "PGM"
    ]
    if volume:
        if fmt != "TIFF" and name in IMAGE_DTYPES["TIFF"].get(channels, ()):
            hints.append(".tif (multi-page)")
        if any(name in IMAGE_DTYPES[f].get(channels, ()) for f in ("PNG", "TIFF")):
            hints.append("a folder of slices (a path with no extension)")
    elif others:
        hints.append(_join(sorted(set(others), key=others.index)))
    if channels > 1 and not volume:
        one = [FORMAT_EXT[f] for f in ("TIFF", "PNG") if name in IMAGE_DTYPES[f][1]]
        if one:
            params.append(Param("gray", True))
            hints.append(f"{one[0]} for one channel ({params[-1]})")
    hints.append(".npy")
    fits = image_dtypes(fmt, channels, animated=animated)
    if fits:
        params.append(Param("dtype", *fits))
    tail = f", or {params[-1]}" if fits else ""
    raise UnsupportedError(
        f"{path}: {what} cannot hold {_depth(name)} {_layout(channels)}: {what} holds "
        f"{_describe_holds(fmt, animated)}; use {_join(hints)}{tail}",
        params=params,
    )


def check_audio(fmt: str, dtype: np.dtype, path: os.PathLike[str] | str) -> None:
    """Raise :class:`UnsupportedError` unless audio format ``fmt`` holds ``dtype``.

    Parameters
    ----------
    fmt : str
        ``"WAV"``, ``"AIFF"``, ``"FLAC"`` or ``"OGG"``.
    dtype : numpy.dtype
        The output dtype.
    path : str or os.PathLike
        The output, named in the message.

    Raises
    ------
    UnsupportedError
        With a message that says what the format holds.
    """
    name = np.dtype(dtype).name
    holds = AUDIO_DTYPES[fmt]
    if name in holds:
        return
    others = [FORMAT_EXT[f] for f, dts in AUDIO_DTYPES.items() if f != fmt and name in dts]
    use = _join([*others, ".npy"])
    dtype_param = Param("dtype", *holds)
    raise UnsupportedError(
        f"{path}: {fmt} cannot hold {name} samples: {fmt} holds {_join(list(holds))}; "
        f"use {use}, or {dtype_param}",
        params=[dtype_param],
    )


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


def slice_format(signal: Signal, dtype: np.dtype, path: os.PathLike[str] | str) -> str:
    """Return the image format of the slices of a folder output.

    The input's slice format when the volume came as a folder and that format holds the
    dtype; else PNG when it holds it; else TIFF.

    Parameters
    ----------
    signal : Signal
        The volume.
    dtype : numpy.dtype
        The output dtype.
    path : str or os.PathLike
        The output folder, named in a message.

    Returns
    -------
    str
        An image format name.

    Raises
    ------
    UnsupportedError
        No slice format holds the dtype with that many channels.
    """
    from ._formats import image_format_of

    name = np.dtype(dtype).name
    channels = signal.channels
    candidates = ["PNG", "TIFF"]
    if signal.form.container == "folder" and signal.form.slice_names:
        first = image_format_of(signal.form.slice_names[0])
        if first is not None:
            candidates.insert(0, first)
    for fmt in candidates:
        if name in image_dtypes(fmt, channels):
            return fmt
    raise UnsupportedError(
        f"{path}: no slice format holds {_depth(name)} {_layout(channels)} (PNG holds "
        f"{_describe_holds('PNG', False)}; TIFF holds {_describe_holds('TIFF', False)}); "
        f"write .npy"
    )


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
    target = resolve_target(signal, path)
    stored = stored_dtype(signal)
    if target.family == "npy":
        return want if want is not None else stored
    if target.family == "audio":
        fmt = target.format
        assert fmt is not None
        if want is None:
            want = stored
            if want.name not in AUDIO_DTYPES[fmt]:
                if fmt == "OGG":
                    want = np.dtype("float32")
                elif fmt == "FLAC":
                    want = np.dtype("int16" if want.itemsize == 1 else "int32")
        check_audio(fmt, want, target.path)
        return want
    dtype = want if want is not None else stored
    if target.family == "folder":
        slice_format(signal, dtype, target.path)
        return dtype
    assert target.format is not None
    frames = target.family == "frames"
    check_image(
        target.format,
        dtype,
        signal.channels,
        target.path,
        animated=frames and target.format != "TIFF",
        volume=frames,
    )
    return dtype


def audio_subtype(dtype: np.dtype, hint: str | None, fmt: str | None = None) -> str:
    """Return the soundfile subtype that holds ``dtype``, keeping ``hint`` where it can.

    Parameters
    ----------
    dtype : numpy.dtype
        The dtype of the samples to write.
    hint : str or None
        The input's subtype.  Kept when its dtype (:data:`SUBTYPE_DTYPE`) is ``dtype`` and
        ``fmt`` (when given) has it.
    fmt : str or None, optional
        The output format (``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"AIFF"``).

    Returns
    -------
    str
        A subtype name.

    Raises
    ------
    UnsupportedError
        No subtype holds ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> audio_subtype(np.dtype("int32"), "PCM_24"), audio_subtype(np.dtype("int32"), None)
    ('PCM_24', 'PCM_32')
    >>> audio_subtype(np.dtype("int32"), None, "FLAC")
    'PCM_24'
    """
    name = np.dtype(dtype).name
    available = _available_subtypes(fmt)
    if hint is not None and SUBTYPE_DTYPE.get(hint, "float32") == name:
        if available is None or hint in available:
            return hint
    if fmt == "FLAC":
        choice = {"int16": "PCM_16", "int32": "PCM_24"}.get(name)
    elif fmt == "OGG":
        choice = "VORBIS" if name == "float32" else None
    else:
        choice = _DEFAULT_SUBTYPE.get(name)
    if choice is None:
        raise UnsupportedError(f"no {fmt or 'audio'} subtype holds {name} samples")
    return choice


def _available_subtypes(fmt: str | None) -> Iterable[str] | None:
    if fmt is None:
        return None
    return {
        "WAV": ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"),
        "AIFF": ("PCM_U8", "PCM_S8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"),
        "FLAC": ("PCM_S8", "PCM_16", "PCM_24"),
        "OGG": ("VORBIS", "OPUS"),
    }.get(fmt, ())


def _int_bounds(dtype: np.dtype) -> tuple[float, float]:
    """Float bounds that convert to ``dtype`` without overflow."""
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if hi > info.max:  # int64/uint64: 2**63 - 1 rounds up to 2**63 in float64
        hi = float(np.nextafter(hi, 0.0))
    return lo, hi


def cast(
    data: np.ndarray, dtype: np.dtype | str, *, audio_subtype: str | None = None
) -> tuple[np.ndarray, int]:
    """Round, clip and convert a float result to the output dtype; count what was clipped.

    Integers never wrap: values are rounded half to even (:func:`numpy.rint`) and clipped to
    the dtype's range; NaN becomes 0 and counts as clipped.  A float dtype is a plain
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
            out[start:stop], n = _cast_audio(flat[start:stop], dt, audio_subtype)
        else:
            work = np.float64 if (dt.itemsize >= 4 or x.dtype == np.float64) else np.float32
            r = np.rint(flat[start:stop].astype(work, copy=False))
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


def _cast_audio(x: np.ndarray, dt: np.dtype, subtype: str) -> tuple[np.ndarray, int]:
    full = dt.itemsize * 8
    bits = full
    if SUBTYPE_DTYPE.get(subtype) == dt.name and subtype in SUBTYPE_BITS:
        bits = SUBTYPE_BITS[subtype]
    scale = 2.0 ** (bits - 1)
    # Integers of up to 24 bits are exact in float32 (and scaling by a power of two is exact),
    # so 8-, 16- and 24-bit output needs no float64 copy.
    work = np.float32 if bits <= 24 and x.dtype != np.float64 else np.float64
    r = np.multiply(x, scale, dtype=work)
    np.rint(r, out=r)
    signed = np.dtype(f"i{dt.itemsize}")
    q, clipped = _clip_to(r, signed, -scale, scale - 1)
    if full > bits:  # left-justify (PCM_24 in int32, PCM_S8 in int16): exact in integers
        q <<= full - bits
    if dt.kind == "u":  # offset binary: adding 2**(n-1) modulo 2**n flips the sign bit
        q = q.view(dt) ^ np.array(1 << (full - 1), dtype=dt)
    return q.astype(dt, copy=False), clipped
