"""Audio with soundfile (libsndfile): WAV, FLAC, OGG (Vorbis/Opus), AIFF.

Audio is loaded as ``(frames, channels)`` in ``[-1, 1]`` units with soundfile's own scaling
(a PCM_16 sample ``s`` is ``s / 32768``): float32, or float64 for ``DOUBLE`` and ``PCM_32``
files (float32 has 24 bits of mantissa and would round 32-bit samples).  Every one of these
values is exact, so an unchanged file cast back with :func:`convcli.io.cast` and written
with :func:`write_audio` has the same samples.

Writing takes integer samples as soundfile reads them (see :mod:`convcli.io.dtypes`) and
never hands floats to a PCM subtype: libsndfile's float-to-integer conversion scales by
``2**(n-1) - 1`` (not the ``2**(n-1)`` it reads with) and wraps unless told to clip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import SignalReadError, UnsupportedError
from ._signal import Form, Signal
from .dtypes import SUBTYPE_BITS, SUBTYPE_DTYPE, audio_subtype, check_audio

__all__ = [
    "read_audio",
    "probe_audio",
    "write_audio",
    "AudioWriter",
    "check_rate",
    "load_dtype",
]

_FLOAT_BITS = {"FLOAT": 32, "DOUBLE": 64}
_WAV_FORMATS = ("WAV", "WAVEX", "RF64")
_FLAC_MAX_CHANNELS = 8


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


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


def _bits(subtype: str) -> int | None:
    return SUBTYPE_BITS.get(subtype, _FLOAT_BITS.get(subtype))


def read_audio(path: Path, kind: str) -> Signal:
    """Load an audio file.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    kind : str
        ``"auto"`` or ``"audio"`` (``(frames, C)``, channel axis 1) or ``"array"`` (the same
        data, every axis spatial).

    Returns
    -------
    Signal
        The audio, with its rate and subtype.

    Raises
    ------
    SignalReadError
        soundfile cannot read it.
    """
    import soundfile as sf

    try:
        info = sf.info(str(path))
        data, rate = sf.read(str(path), dtype=load_dtype(info.subtype), always_2d=True)
    except Exception as exc:
        raise SignalReadError(f"{path}: cannot read as audio: {_one_line(exc)}") from exc
    form = Form(
        container="file",
        format=info.format,
        subtype=info.subtype,
        bits=_bits(info.subtype),
        dtype=SUBTYPE_DTYPE.get(info.subtype, "float32"),
    )
    if kind == "array":
        return Signal(data, "array", None, rate=float(rate), source=path, form=form)
    return Signal(data, "audio", 1, rate=float(rate), source=path, form=form)


def probe_audio(path: Path) -> dict[str, Any]:
    """Describe an audio file from its header (:func:`soundfile.info`).

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    dict
        ``kind``, ``format``, ``container``, ``shape``, ``dtype``, ``channels``, ``subtype``,
        ``bits``, ``rate``, ``duration`` (seconds), ``frames``.

    Raises
    ------
    SignalReadError
        soundfile cannot read it.
    """
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise SignalReadError(f"{path}: cannot read as audio: {_one_line(exc)}") from exc
    return {
        "kind": "audio",
        "format": info.format,
        "container": "file",
        "shape": [int(info.frames), int(info.channels)],
        "dtype": load_dtype(info.subtype),
        "channels": int(info.channels),
        "subtype": info.subtype,
        "bits": _bits(info.subtype),
        "rate": float(info.samplerate),
        "duration": float(info.duration),
        "frames": int(info.frames),
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
    ) -> None:
        import soundfile as sf

        check_audio(fmt, dtype, path)
        if fmt == "FLAC" and channels > _FLAC_MAX_CHANNELS:
            raise UnsupportedError(
                f"{path}: FLAC holds at most {_FLAC_MAX_CHANNELS} channels, not {channels}; "
                f"use .wav or .aiff"
            )
        self.subtype = audio_subtype(np.dtype(dtype), form.subtype, fmt)
        sf_format = fmt
        if fmt == "WAV" and form.format in _WAV_FORMATS:
            sf_format = str(form.format)
        self._file = sf.SoundFile(
            fh, "w", samplerate=rate, channels=channels, subtype=self.subtype, format=sf_format
        )

    def write(self, data: np.ndarray) -> None:
        """Append ``(frames, C)`` samples."""
        if self.subtype == "PCM_U8":
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
    fh: IO[bytes], data: np.ndarray, rate: int, fmt: str, form: Form, path: os.PathLike[str] | str
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

    Returns
    -------
    str
        The subtype written.

    Raises
    ------
    UnsupportedError
        The format cannot hold the dtype or that many channels.
    """
    writer = AudioWriter(fh, rate, int(data.shape[1]), data.dtype, fmt, form, path)
    try:
        writer.write(data)
    finally:
        writer.close()
    return writer.subtype
