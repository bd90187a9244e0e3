"""Audio with soundfile (libsndfile): WAV, FLAC, OGG (Vorbis/Opus), AIFF.

Audio is loaded as ``(frames, channels)`` in ``[-1, 1]`` units with soundfile's own scaling
(a PCM_16 sample ``s`` is ``s / 32768``): float32, or float64 for ``DOUBLE`` and ``PCM_32``
files (float32 has 24 bits of mantissa and would round 32-bit samples).  Every one of these
values is exact, so an unchanged file cast back with :func:`convcli.io.cast` and written
with :func:`write_audio` has the same samples.

Writing takes integer samples as soundfile reads them (see :mod:`convcli.io.dtypes`) and
never hands floats to a PCM subtype: libsndfile's float-to-integer conversion scales by
``2**(n-1) - 1`` (not the ``2**(n-1)`` it reads with) and wraps unless told to clip.  A
caller that wants libsndfile's own conversion asks for it by name (``encoding``: the maps
``convcli features`` writes as 16-bit WAV previews).

What each output format holds (the audio row's ``holds`` and ``encodings`` in
:mod:`convcli.io.registry`), as audio (soundfile / libsndfile 1.2):

======  =====================================================================
format  dtypes (subtype written)
======  =====================================================================
WAV     uint8 (PCM_U8), int16 (PCM_16), int32 (PCM_24 or PCM_32), float32
        (FLOAT), float64 (DOUBLE)
AIFF    as WAV, and int16 also as PCM_S8
FLAC    int16 (PCM_S8 or PCM_16), int32 (PCM_24): no 32-bit, no float
OGG     float32 (VORBIS, or OPUS when the input was Opus)
======  =====================================================================
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import Param, SignalReadError, UnsupportedError, join_words
from . import registry
from ._signal import Form, Signal
from .atomic import atomic_file
from .dtypes import SUBTYPE_BITS, SUBTYPE_DTYPE, stored_dtype
from .limits import DEFAULT_LIMITS, Limits, open_regular
from .rows import RowSource

__all__ = [
    "open_sound",
    "claimed_frames",
    "read_audio",
    "probe_audio",
    "write_audio",
    "AudioWriter",
    "check_rate",
    "load_dtype",
    "read_frames",
]

_FLOAT_BITS = {"FLOAT": 32, "DOUBLE": 64}
_WAV_FORMATS = ("WAV", "WAVEX", "RF64")
_FLAC_MAX_CHANNELS = 8


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = re.sub(r"^Error opening .*?: (?=[A-Z])", "", text)  # soundfile repeats the path
    return text or type(exc).__name__


_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # a WAV written to a pipe: "until the end of the file"
_MAX_CHUNKS = 4096


def open_raw(path: str | os.PathLike[str]) -> Any:
    """Open an audio file with soundfile, unchecked: a reader with checks of its own.

    :func:`open_sound` is the loaders' way in (the allowlist, the budgets, truncation);
    an impulse-response reader checks what it needs and says so in its own words.

    Returns
    -------
    soundfile.SoundFile
        Open for reading; the caller closes it.

    Raises
    ------
    Exception
        Whatever soundfile raises for a file it cannot open (RuntimeError, OSError...).
    """
    import soundfile as sf

    return sf.SoundFile(os.fsencode(os.fspath(path)))


def raw_info(path: str | os.PathLike[str]) -> Any:
    """Return soundfile's description of an audio file's header, unchecked (see :func:`open_raw`).

    Raises
    ------
    Exception
        Whatever soundfile raises for a file it cannot read.
    """
    import soundfile as sf

    return sf.info(os.fsencode(os.fspath(path)))


def readable() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return what is read: libsndfile's formats and subtypes (the audio row's allowlist).

    Examples
    --------
    >>> formats, subtypes = readable()
    >>> "RF64" in formats, "GSM610" in subtypes
    (True, False)
    """
    row = registry.family("audio")
    return tuple(d for fmt in row.reads for d in fmt.decoders), row.encodings


def claimed_frames(path: os.PathLike[str] | str) -> int | None:
    """Return the number of frames a WAV or AIFF header claims, or None.

    WAV: the ``data`` chunk's size over the ``fmt `` chunk's block size (None when the size
    is 0 or 0xFFFFFFFF, the marks of a file written to a pipe, or the file is RF64).  AIFF:
    the ``COMM`` chunk's frame count.  libsndfile quietly reads what is there when a file is
    shorter than its header says; comparing the two tells a truncated file.

    Parameters
    ----------
    path : str or os.PathLike
        A regular file (checked by the caller).

    Returns
    -------
    int or None
        The frames claimed.
    """
    with open_regular(path) as fh:
        head = fh.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            endian = "<"
        elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            endian = ">"
        else:
            return None
        block = None
        for _ in range(_MAX_CHUNKS):
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack(endian + "I", chunk[4:])[0]
            start = fh.tell()
            if endian == ">" and name == b"COMM":
                body = fh.read(6)
                return struct.unpack(">I", body[2:6])[0] if len(body) == 6 else None
            if endian == "<" and name == b"fmt ":
                body = fh.read(14)
                if len(body) == 14:
                    block = struct.unpack("<H", body[12:14])[0]
            if endian == "<" and name == b"data":
                if size in _UNKNOWN_SIZES or not block:
                    return None
                return int(size // block)
            fh.seek(start + size + (size & 1))
    return None


def open_sound(path: os.PathLike[str] | str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Open an audio file with soundfile, checked: the one way every audio read starts.

    The path must be a regular file; soundfile's format and subtype must be in the
    allowlist (:func:`readable`: the audio row of :mod:`convcli.io.registry`); the header
    must claim at least one frame, no more than ``limits`` allows, and no more than the file
    holds (a truncated WAV or AIFF is refused, where libsndfile would quietly read less).

    Parameters
    ----------
    path : str or os.PathLike
        The file (a name with undecodable bytes is passed to libsndfile as bytes).
    limits : Limits, optional
        The budgets (channels, samples).

    Returns
    -------
    soundfile.SoundFile
        The open file; the caller closes it.

    Raises
    ------
    SignalReadError
        Any of the above, with the numbers.
    """
    import soundfile as sf

    claim = claimed_frames(path)  # also checks that the path is a regular file
    try:
        f = sf.SoundFile(os.fsencode(os.fspath(path)))
    except Exception as exc:
        raise SignalReadError(f"{path}: cannot read as audio: {_one_line(exc)}") from exc
    try:
        formats, subtypes = readable()
        if f.format not in formats:
            raise SignalReadError(
                f"{path}: {f.format} audio is not read; convcli reads WAV, FLAC, OGG and AIFF"
            )
        if f.subtype not in subtypes:
            raise SignalReadError(
                f"{path}: {f.format} with {f.subtype} samples is not read; convcli reads "
                f"{', '.join(subtypes)}"
            )
        frames, channels = int(f.frames), int(f.channels)
        limits.check_samples(path, frames, channels)
        if frames < 1:
            if f.format == "OGG":  # libsndfile counts an Ogg stream by its pages' positions
                raise SignalReadError(
                    f"{path}: holds no samples libsndfile can count (0 frames): the stream "
                    f"is empty, or a page is damaged or cut off"
                )
            raise SignalReadError(f"{path}: holds no samples (0 frames)")
        if claim is not None and claim > frames:
            raise SignalReadError(
                f"{path}: truncated: the header says {claim} frames but the file holds {frames}"
            )
    except BaseException:
        f.close()
        raise
    return f


def load_dtype(subtype: str) -> str:
    """Return the float dtype audio of this subtype loads as.

    Parameters
    ----------
    subtype : str
        A soundfile subtype.

    Returns
    -------
    str
        ``"float64"`` for ``DOUBLE`` and ``PCM_32`` (exact), else ``"float32"``.

    Examples
    --------
    >>> load_dtype("PCM_16"), load_dtype("PCM_32")
    ('float32', 'float64')
    """
    return "float64" if subtype in ("DOUBLE", "PCM_32") else "float32"


#: Integer subtypes read as integers and scaled here: libsndfile's own float conversion is
#: the same power-of-two scale of the same integers (exact in float32), at half the speed.
_SCALED_READS = {"PCM_16": ("int16", 2.0**-15), "PCM_24": ("int32", 2.0**-31)}
#: Frames per block of a scaled read.
_READ_BLOCK = 1 << 16


def read_frames(f: Any, frames: int, dtype: str) -> np.ndarray:
    """Read up to ``frames`` frames from an open ``soundfile.SoundFile`` as ``dtype``.

    Returns ``(n, channels)`` with ``n <= frames`` (fewer at the end of the file).  The same
    samples as ``f.read(frames, dtype=dtype, always_2d=True)``; 16- and 24-bit PCM read as
    float32 go through integers block by block, which is twice as fast.
    """
    scaled = _SCALED_READS.get(f.subtype) if dtype == "float32" else None
    if scaled is None:
        return f.read(frames, dtype=dtype, always_2d=True)
    idt, factor = scaled
    out = np.empty((frames, f.channels), dtype=np.float32)
    buf = np.empty((min(frames, _READ_BLOCK), f.channels), dtype=idt)
    scale = np.float32(factor)
    done = 0
    while done < frames:
        want = min(_READ_BLOCK, frames - done)
        got = f.read(want, dtype=idt, always_2d=True, out=buf[:want])
        np.multiply(got, scale, out=out[done : done + len(got)])
        done += len(got)
        if len(got) < want:
            return out[:done]
    return out


def _bits(subtype: str) -> int | None:
    return SUBTYPE_BITS.get(subtype, _FLOAT_BITS.get(subtype))


def read_audio(path: Path, kind: str, *, limits: Limits = DEFAULT_LIMITS) -> Signal:
    """Load an audio file.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    kind : str
        ``"auto"`` or ``"audio"`` (``(frames, C)``, channel axis 1) or ``"array"`` (the same
        data, every axis spatial).
    limits : Limits, optional
        The budgets, checked from the header (:func:`open_sound`).

    Returns
    -------
    Signal
        The audio, with its rate and subtype.

    Raises
    ------
    SignalReadError
        soundfile cannot read it, or :func:`open_sound` refuses it.
    """
    with open_sound(path, limits) as f:
        try:
            frames = int(f.frames)
            data = read_frames(f, frames, load_dtype(f.subtype))
        except Exception as exc:
            raise SignalReadError(f"{path}: cannot read as audio: {_one_line(exc)}") from exc
        if data.shape[0] != frames:
            raise SignalReadError(
                f"{path}: truncated: the header says {frames} frames but the file holds "
                f"{data.shape[0]}"
            )
        rate, fmt, subtype = f.samplerate, f.format, f.subtype
    form = Form(
        container="file",
        format=fmt,
        subtype=subtype,
        bits=_bits(subtype),
        dtype=SUBTYPE_DTYPE.get(subtype, "float32"),
    )
    if kind == "array":
        return Signal(data, "array", None, rate=float(rate), source=path, form=form)
    return Signal(data, "audio", 1, rate=float(rate), source=path, form=form)


def probe_audio(path: Path, *, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Describe an audio file from its header (:func:`open_sound`).

    Parameters
    ----------
    path : pathlib.Path
        The file.
    limits : Limits, optional
        The budgets: a header that claims more is refused.

    Returns
    -------
    dict
        ``kind``, ``format``, ``container``, ``shape``, ``dtype``, ``channels``, ``subtype``,
        ``bits``, ``rate``, ``duration`` (seconds), ``frames``.

    Raises
    ------
    SignalReadError
        soundfile cannot read it, or :func:`open_sound` refuses it.
    """
    with open_sound(path, limits) as f:
        frames, channels = int(f.frames), int(f.channels)
        rate, fmt, subtype = float(f.samplerate), f.format, f.subtype
    return {
        "kind": "audio",
        "format": fmt,
        "container": "file",
        "shape": [frames, channels],
        "dtype": load_dtype(subtype),
        "channels": channels,
        "subtype": subtype,
        "bits": _bits(subtype),
        "rate": rate,
        "duration": frames / rate,
        "frames": frames,
    }


def check_rate(rate: float | None, path: os.PathLike[str] | str) -> int:
    """Return the sample rate as the whole number a file stores.

    Parameters
    ----------
    rate : float or None
        The signal's rate in Hz.
    path : str or os.PathLike
        The output, for messages.

    Returns
    -------
    int
        The rate.

    Raises
    ------
    UnsupportedError
        No rate, not positive, or not a whole number (a stride that does not divide it).

    Examples
    --------
    >>> check_rate(22050.0, "out.wav")
    22050
    >>> check_rate(14700.5, "out.wav")
    Traceback (most recent call last):
    ...
    convcli.errors.UnsupportedError: out.wav: sample rate 14700.5 Hz is not a whole number...
    """
    if rate is None:
        raise UnsupportedError(
            f"{path}: audio needs a sample rate and this signal has none (read from .npy?)"
        )
    if not rate > 0:
        raise UnsupportedError(f"{path}: sample rate {rate} Hz is not positive")
    if float(rate) != int(rate):
        raise UnsupportedError(
            f"{path}: sample rate {rate} Hz is not a whole number, and audio files store "
            f"whole Hz; pick a stride that divides the input rate"
        )
    return int(rate)


def _requantize(x: np.ndarray, shift: int, bits: int) -> np.ndarray:
    """Round left-justified samples to ``bits`` of resolution (a no-op when they are)."""
    step = 1 << shift
    if not np.any(x % step):
        return x
    scale = 2.0 ** (bits - 1)
    q = np.clip(np.rint(x.astype(np.float64) / step), -scale, scale - 1)
    return (q * step).astype(x.dtype)


def _sound_target(fh: IO[bytes]) -> Any:
    """Return what libsndfile should write to: the open file's name if it has one, else it.

    Given a Python file object, soundfile has libsndfile call back into Python for every
    write, and an exception raised in such a callback (KeyboardInterrupt from Ctrl-C or
    SIGTERM) is printed and swallowed by cffi: the interruption would be lost and a traceback
    printed.  By name, libsndfile writes on its own descriptor, and the interruption comes
    in Python code between blocks.  (The file is the one the caller opened: the caller's
    flush and fsync reach the same inode.)
    """
    name = getattr(fh, "name", None)
    if isinstance(name, str) and os.path.isfile(name):
        return os.fsencode(name)
    return fh


class AudioWriter:
    """Encode audio block by block (the same samples :func:`write_audio` would write).

    Parameters
    ----------
    fh : binary file
        Where to write.
    rate : int
        Sample rate (:func:`check_rate`).
    channels : int
        Number of channels.
    dtype : numpy.dtype
        The dtype of the blocks (see :func:`write_audio`).
    fmt : str
        ``"WAV"``, ``"FLAC"``, ``"OGG"`` or ``"AIFF"``.
    form : Form
        The input's form: its subtype is kept when the dtype and format allow.
    path : str or os.PathLike
        The output, for messages.
    encoding : str, optional
        Write float samples with this subtype, converted by libsndfile (which scales by its
        own rule: see the module docstring); by default the dtype decides.

    Raises
    ------
    UnsupportedError
        The format cannot hold the dtype or that many channels.
    """

    def __init__(
        self,
        fh: IO[bytes],
        rate: int,
        channels: int,
        dtype: np.dtype,
        fmt: str,
        form: Form,
        path: os.PathLike[str] | str,
        encoding: str | None = None,
    ) -> None:
        import soundfile as sf

        check_audio(fmt, dtype, path)
        if fmt == "FLAC" and channels > _FLAC_MAX_CHANNELS:
            raise UnsupportedError(
                f"{path}: FLAC holds at most {_FLAC_MAX_CHANNELS} channels, not {channels}; "
                f"use .wav or .aiff"
            )
        self.subtype = encoding or audio_subtype(np.dtype(dtype), form.subtype, fmt)
        self._converted = encoding is not None  # libsndfile converts the samples itself
        sf_format = fmt
        if fmt == "WAV" and form.format in _WAV_FORMATS:
            sf_format = str(form.format)
        self._file = sf.SoundFile(
            _sound_target(fh),
            "w",
            samplerate=rate,
            channels=channels,
            subtype=self.subtype,
            format=sf_format,
        )

    def write(self, data: np.ndarray) -> None:
        """Append ``(frames, C)`` samples."""
        if self._converted:
            samples = data
        elif self.subtype == "PCM_U8":
            samples = (data.astype(np.int16) - 128) << 8
        elif self.subtype == "PCM_S8":
            samples = _requantize(data, 8, 8)
        elif self.subtype == "PCM_24":
            samples = _requantize(data, 8, 24)
        else:
            samples = data
        self._file.write(np.ascontiguousarray(samples))

    def close(self) -> None:
        """Finish the file (the header is written with the final length)."""
        self._file.close()


def write_audio(
    fh: IO[bytes],
    data: np.ndarray,
    rate: int,
    fmt: str,
    form: Form,
    path: os.PathLike[str] | str,
    encoding: str | None = None,
) -> str:
    """Encode audio to an open file.

    Parameters
    ----------
    fh : binary file
        Where to write.
    data : numpy.ndarray
        ``(frames, C)`` in a dtype ``fmt`` holds: uint8, int16, int32 (full-scale samples,
        as :func:`convcli.io.cast` gives them), float32 or float64 (``[-1, 1]`` units).
    rate : int
        Sample rate (:func:`check_rate`).
    fmt : str
        ``"WAV"``, ``"FLAC"``, ``"OGG"`` or ``"AIFF"``.
    form : Form
        The input's form: its subtype is kept when the dtype and format allow.
    path : str or os.PathLike
        The output, for messages.
    encoding : str, optional
        Float samples written with this subtype, converted by libsndfile (:class:`AudioWriter`).

    Returns
    -------
    str
        The subtype written.

    Raises
    ------
    UnsupportedError
        The format cannot hold the dtype or that many channels.
    """
    writer = AudioWriter(fh, rate, int(data.shape[1]), data.dtype, fmt, form, path, encoding)
    try:
        writer.write(data)
    finally:
        writer.close()
    return writer.subtype


# ----------------------------------------------------------------------------- what it holds

_DEFAULT_SUBTYPE = {
    "uint8": "PCM_U8",
    "int16": "PCM_16",
    "int32": "PCM_32",
    "float32": "FLOAT",
    "float64": "DOUBLE",
}


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
    holds = _holds(fmt)
    if name in holds:
        return
    others = [  # the formats that hold the most first
        w.extensions[0]
        for w in sorted(registry.family("audio").writes, key=lambda w: -len(_holds(w.name)))
        if w.name != fmt and name in _holds(w.name)
    ]
    use = join_words([*others, ".npy"])
    dtype_param = Param("dtype", *holds)
    raise UnsupportedError(
        f"{path}: {fmt} cannot hold {name} samples: {fmt} holds {join_words(list(holds))}; "
        f"use {use}, or {dtype_param}",
        params=[dtype_param],
    )


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
    found = [w.encodings for w in registry.family("audio").writes if w.name == fmt]
    return found[0] if found else ()


def _holds(fmt: str) -> tuple[str, ...]:
    """Return the dtypes an audio format holds (its row's ``holds``)."""
    holds = registry.family("audio").write_format(fmt).holds
    assert isinstance(holds, tuple)
    return holds


# ----------------------------------------------------------------------------- the registry's


def load(path: Path, fmt: str, kind: str, gray: bool, limits: Limits) -> Signal:
    """Load an audio file as audio or as an array (:func:`read_audio`)."""
    if kind in ("image", "volume"):
        raise SignalReadError(f"{path}: is audio; it cannot be read as {kind}")
    return read_audio(path, kind, limits=limits)


def probe(path: Path, fmt: str, limits: Limits) -> dict[str, Any]:
    """Describe an audio file from its header (:func:`probe_audio`)."""
    return probe_audio(path, limits=limits)


def target(signal: Signal, path: Path, fmt: registry.WriteFormat) -> registry.Target:
    """Write audio, and only audio.

    Raises
    ------
    UnsupportedError
        Another kind (an array of one or two axes is told to be read as audio).
    """
    kind = signal.kind
    if kind == "audio":
        return registry.Target(path, "audio", fmt.name)
    audio = Param("kind", "audio")
    hint = f" (read it with {audio})" if kind == "array" and signal.data.ndim <= 2 else ""
    raise UnsupportedError(
        f"{path}: {'an' if kind[0] in 'aeiou' else 'a'} {kind} cannot be written as "
        f"{fmt.name} audio{hint}; "
        f"use an image extension or .npy",
        params=[audio] if hint else [],
    )


def output_dtype(signal: Signal, target: registry.Target, want: np.dtype | None) -> np.dtype:
    """Keep the stored dtype where the format holds it; FLAC takes integers, OGG float32."""
    fmt = target.format
    assert fmt is not None
    if want is None:
        want = stored_dtype(signal)
        if want.name not in _holds(fmt):
            if fmt == "OGG":
                want = np.dtype("float32")
            elif fmt == "FLAC":
                want = np.dtype("int16" if want.itemsize == 1 else "int32")
    check_audio(fmt, want, target.path)
    return want


def save(
    signal: Signal,
    data: np.ndarray,
    target: registry.Target,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
    encoding: str | None = None,
) -> None:
    """Write ``(frames, C)`` samples at the signal's rate, atomically."""
    fmt, out = target.format, target.path
    assert fmt is not None
    rate = check_rate(signal.rate, out)
    check_audio(fmt, data.dtype, out)
    with atomic_file(out, overwrite=overwrite, protect=protect) as fh:
        write_audio(fh, data, rate, fmt, signal.form, out, encoding)


# ----------------------------------------------------------------------------- rows


class AudioFileSource(RowSource):
    """Frames of an audio file: ``(frames, C)`` in ``[-1, 1]`` units, as ``load`` reads them.

    The file is opened as :func:`convcli.io.load` opens it
    (:func:`open_sound`): a regular file, an allowed format and
    subtype, within ``limits``, not truncated.
    """

    def __init__(self, path: str | os.PathLike[str], limits: Any = None) -> None:
        self.path = Path(path)
        self._file = open_sound(path, DEFAULT_LIMITS if limits is None else limits)
        self.subtype = self._file.subtype
        self.rate = float(self._file.samplerate)
        self.format = self._file.format
        self.dtype = np.dtype(load_dtype(self.subtype))
        self.shape = (int(self._file.frames), int(self._file.channels))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Read frames ``start:stop``."""
        try:
            self._file.seek(start)
            data = read_frames(self._file, stop - start, self.dtype.name)
        except (RuntimeError, OSError, ValueError) as exc:
            raise SignalReadError(f"{self.path}: cannot read as audio: {exc}") from exc
        if data.shape[0] != stop - start:
            raise SignalReadError(
                f"{self.path}: the file ends at frame {start + data.shape[0]}, but its header "
                f"says {self.shape[0]} frames"
            )
        return data

    @property
    def may_hold_nonfinite(self) -> bool:
        """Integer PCM cannot hold NaN or Inf, whatever dtype it is read as."""
        return self.subtype not in SUBTYPE_BITS

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def open_rows(
    path: Path, fmt: str, kind: str, limits: Limits
) -> tuple[AudioFileSource, Signal] | None:
    """Open an audio file to read its frames block by block (read as ``auto`` or ``audio``).

    Returns
    -------
    (AudioFileSource, Signal) or None
        The frames, and the signal :func:`read_audio` would give, without its samples.

    Raises
    ------
    SignalReadError
        :func:`open_sound` refuses the file.
    """
    if kind not in ("auto", "audio"):
        return None
    audio = AudioFileSource(path, limits)
    form = Form(
        container="file",
        format=audio.format,
        subtype=audio.subtype,
        bits=_bits(audio.subtype),
        dtype=SUBTYPE_DTYPE.get(audio.subtype, "float32"),
    )
    empty = np.empty((0, audio.shape[1]), dtype=audio.dtype)
    return audio, Signal(empty, "audio", 1, rate=audio.rate, source=path, form=form)


def open_writer(
    fh: IO[bytes],
    target: registry.Target,
    shape: tuple[int, ...],
    dtype: np.dtype,
    form: Form,
    rate: float | None,
) -> AudioWriter:
    """Start an audio file whose frames come block by block (its channels: ``shape[-1]``)."""
    assert target.format is not None
    channels = int(shape[-1]) if len(shape) > 1 else 1
    return AudioWriter(
        fh, check_rate(rate, target.path), channels, dtype, target.format, form, target.path
    )
