"""Audio with soundfile (libsndfile): every format of the audio row of the table.

The formats read and written are the audio row of :mod:`convcli.io.registry` (identified
by content, :mod:`convcli.io.content`): WAV (and RF64, WAVE_FORMAT_EXTENSIBLE), FLAC, OGG
(Vorbis, Opus), AIFF/AIFF-C, W64, CAF, AU, MP3, IRCAM, NIST SPHERE, VOC, PAF, IFF/8SVX, PVF,
AVR and WVE; ``docs/audio-formats.md`` says which libsndfile formats are left out and why.

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

What each output format holds (the audio row's ``holds``, ``encodings``, ``channels``,
``rates`` and ``max_bytes`` in :mod:`convcli.io.registry`), as audio (libsndfile 1.2):

=========  =============================================================================
format     dtypes (subtype written), and what else limits it
=========  =============================================================================
WAV        uint8 (PCM_U8), int16 (PCM_16), int32 (PCM_24 or PCM_32), float32 (FLOAT),
           float64 (DOUBLE); µ-law and A-law kept.  Past 4 GiB: written as RF64
RF64, W64  as WAV, of any size
AIFF       as WAV, and int16 also as PCM_S8; at most 4 GiB
CAF        int16 (PCM_S8, PCM_16), int32 (PCM_24, PCM_32), float32, float64; µ/A-law
AU         as CAF; at most 4 GiB
FLAC       int16 (PCM_S8 or PCM_16), int32 (PCM_24): no 32-bit, no float; 8 channels
OGG        float32 (VORBIS, or OPUS when the input was Opus)
MP3        float32 (MPEG_LAYER_III: constant bitrate, the highest of its MPEG version:
           320 kbit/s from 32 kHz, 160 from 16 kHz, 64 below); 1 or 2 channels; the nine
           MPEG sample rates
IRCAM      int16 (PCM_16), int32 (PCM_32), float32 (FLOAT); µ/A-law
NIST       int16 (PCM_S8, PCM_16), int32 (PCM_24, PCM_32); µ/A-law
PAF        int16 (PCM_S8, PCM_16), int32 (PCM_24)
PVF        int16 (PCM_S8, PCM_16), int32 (PCM_32)
VOC        int16 (PCM_16: libsndfile's µ/A-law VOC reads back a sample longer); 1 or 2
           channels; at most 16 MiB
SVX        int16 (PCM_S8, PCM_16); mono; rates up to 65535 Hz; at most 4 GiB
AVR        uint8 (PCM_U8), int16 (PCM_S8, PCM_16); 1 or 2 channels; at most 4 GiB
WVE        int16 as A-law; mono, 8000 Hz
=========  =============================================================================

A WAV output is written as RF64 when its size (libsndfile's header, measured, plus the
samples) would pass ``2**32 - 1`` bytes, decided before the first sample is written from
the length the output will have (:func:`container_for`); any other format whose header
cannot describe the output's size is refused before anything is written.

MP3 is decoded by libmpg123.  libsndfile learns an MP3's length from a Xing, Info or VBRI
header and reads no further; an MP3 without one is refused (its length would be a guess
from its first frame's bitrate).  What libmpg123 prints about damaged frames (``Illegal
Audio-MPEG-Header``, ``Trying to resync``...) is caught (:mod:`convcli.io._capture`) and
makes the read an error; a flipped bit inside a frame's data (MP3 frames carry no checksum
unless encoded with one) is decoded as libmpg123 decodes it and cannot be heard.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import Param, SignalReadError, UnsupportedError, join_words
from . import registry
from ._capture import captured_stderr
from ._signal import Form, Signal
from .atomic import atomic_file
from .audio_headers import claimed_frames
from .content import HEAD_BYTES, identify
from .dtypes import SUBTYPE_BITS, SUBTYPE_DTYPE, stored_dtype
from .limits import DEFAULT_LIMITS, Limits, open_regular, read_head
from .mpeg import frame_count_tag
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
    "readable",
    "read_encodings",
    "decoder_watch",
    "check_mpeg_length",
    "container_for",
    "MP3_SETTINGS",
]

_FLOAT_BITS = {"FLOAT": 32, "DOUBLE": 64}
_WAV_FORMATS = ("WAV", "WAVEX", "RF64")
#: libsndfile formats whose decoder prints its complaints on stderr (libmpg123).
_PRINTING = ("MP3",)
#: libsndfile formats read forward only, from a seek to frame 0 (:func:`read_forward`).
_FORWARD = ("MP3",)
#: How libsndfile's MPEG writer is set (soundfile's ``compression_level`` and
#: ``bitrate_mode``): constant bitrate, the highest of the stream's MPEG version.
MP3_SETTINGS = {"compression_level": 0.0, "bitrate_mode": "CONSTANT"}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = re.sub(r"^Error opening .*?: (?=[A-Z])", "", text)  # soundfile repeats the path
    return text or type(exc).__name__


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

    Which subtype is read in which format is :func:`read_encodings`.

    Examples
    --------
    >>> formats, subtypes = readable()
    >>> "RF64" in formats, "MP3" in formats, "GSM610" in subtypes
    (True, True, False)
    """
    row = registry.family("audio")
    formats = tuple(d for fmt in row.reads for d in fmt.decoders)
    extra = tuple(e for fmt in row.reads for e in fmt.encodings if e not in row.encodings)
    return formats, row.encodings + extra


def read_encodings(sf_format: str) -> tuple[str, ...] | None:
    """Return the subtypes read in libsndfile's format ``sf_format``, or None if it is not read.

    Examples
    --------
    >>> read_encodings("MP3"), read_encodings("SD2")
    (('MPEG_LAYER_III',), None)
    >>> "MPEG_LAYER_III" in read_encodings("WAV")  # MPEG in a WAV is not read
    False
    """
    row = registry.family("audio")
    for fmt in row.reads:
        if sf_format in fmt.decoders:
            return fmt.encodings or row.encodings
    return None


def _labels() -> str:
    return join_words([fmt.label for fmt in registry.family("audio").reads])


@contextlib.contextmanager
def decoder_watch(path: os.PathLike[str] | str, sf_format: str | None) -> Iterator[None]:
    """Make what libmpg123 prints while a block decodes an MP3 into one error.

    libmpg123 reports damaged frames on the process's stderr (``Note: Illegal
    Audio-MPEG-Header 0x... at offset 5746.``, ``Note: Trying to resync...``) and decodes
    on.  Inside the block, descriptor 2 is caught (:func:`convcli.io._capture.captured_stderr`)
    for the formats whose decoder prints (MP3); after it, any text is a
    :class:`SignalReadError` (``damaged MP3: libmpg123: ...``), raised in place of the
    block's own exception if it had one.  Other formats pass through untouched.

    Raises
    ------
    SignalReadError
        The decoder printed something.
    """
    if sf_format not in _PRINTING:
        yield
        return
    failure: BaseException | None = None
    with captured_stderr() as err:
        try:
            yield
        except (SignalReadError, RuntimeError, OSError, ValueError) as exc:
            failure = exc
    said = _decoder_lines(err.text)
    if said:
        raise SignalReadError(f"{path}: damaged {sf_format}: libmpg123: {said}") from failure
    if failure is not None:
        raise failure


def _decoder_lines(text: str) -> str:
    """libmpg123's lines, without their source-file prefixes, the first two on one line."""
    lines = [re.sub(r"^\[[^]]*\]\s*", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    shown = " ".join(lines[:2])
    return shown + (f" (and {len(lines) - 2} more)" if len(lines) > 2 else "")


def check_mpeg_length(path: os.PathLike[str] | str, frames: int) -> None:
    """Refuse an MP3 whose length libsndfile can only estimate (no Xing/Info/VBRI header).

    Parameters
    ----------
    path : str or os.PathLike
        The MP3 (a regular file).
    frames : int
        The frames libsndfile says it has (its estimate, without such a header).

    Raises
    ------
    SignalReadError
        The first frame holds no frame count.
    """
    with open_regular(path) as fh:
        count = frame_count_tag(fh)
    if count is None:
        raise SignalReadError(
            f"{path}: an MP3 without a Xing, Info or VBRI header: libsndfile can only "
            f"estimate its length ({frames} frames, from its size and first bitrate) and "
            f"reads no further; re-encode it with such a header (LAME and ffmpeg write one)"
        )


def open_sound(
    path: os.PathLike[str] | str, limits: Limits = DEFAULT_LIMITS, fmt: str | None = None
) -> Any:
    """Open an audio file with soundfile, checked: the one way every audio read starts.

    The path must be a regular file; soundfile's format must be one the content was
    identified as (``fmt``: the audio row's decoders of that format) and its subtype one
    that format is read with (:func:`read_encodings`); the header must claim at least one
    frame, no more than ``limits`` allows, and as many as the file holds (a cut WAV, RF64,
    W64, AIFF, CAF, AU, NIST, AVR, WVE, SVX or VOC is refused, where libsndfile would
    quietly read less: :func:`convcli.io.audio_headers.claimed_frames`); an MP3 must say its
    length (:func:`check_mpeg_length`), and libmpg123 must not complain while it is opened
    (:func:`decoder_watch`).

    Parameters
    ----------
    path : str or os.PathLike
        The file (a name with undecodable bytes is passed to libsndfile as bytes).
    limits : Limits, optional
        The budgets (channels, samples).
    fmt : str, optional
        The format the content was identified as (``"WAV"``, ``"MP3"``...); None: identified
        here (:func:`convcli.io.content.identify`), or any format of the audio row.

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
    if fmt is None:
        found = identify(read_head(path, HEAD_BYTES))
        fmt = found[1] if found is not None and found[0] == "audio" else None
    printing = fmt in _PRINTING
    try:
        with decoder_watch(path, fmt if printing else None):
            f = sf.SoundFile(os.fsencode(os.fspath(path)))
    except SignalReadError:
        raise
    except Exception as exc:
        missing = _not_built_in(fmt)
        raise SignalReadError(f"{path}: cannot read as audio: {missing or _one_line(exc)}") from exc
    try:
        _check_open(f, path, limits, fmt, claim)
        if f.format in _FORWARD:  # the decode starts from a seek, as soundfile.read's does
            with decoder_watch(path, f.format):
                f.seek(0)
    except BaseException:
        f.close()
        raise
    return f


def _not_built_in(fmt: str | None) -> str | None:
    """Say so when the installed libsndfile has none of the libraries format ``fmt`` needs."""
    import soundfile as sf

    if fmt is None:
        return None
    decoders = registry.family("audio").read_format(fmt).decoders
    if any(d in sf.available_formats() for d in decoders):
        return None
    version = getattr(sf, "__libsndfile_version__", "?")
    return f"the installed libsndfile ({version}) was built without {fmt}"


def _check_open(f: Any, path: Any, limits: Limits, fmt: str | None, claim: int | None) -> None:
    """Check an open file as :func:`open_sound` says."""
    row = registry.family("audio")
    decoders = row.read_format(fmt).decoders if fmt is not None else readable()[0]
    if f.format not in decoders:
        if fmt is not None and read_encodings(f.format) is not None:
            raise SignalReadError(
                f"{path}: the content starts as {row.read_format(fmt).label} but libsndfile "
                f"reads it as {f.format}"
            )
        raise SignalReadError(f"{path}: {f.format} audio is not read; convcli reads {_labels()}")
    subtypes = read_encodings(f.format) or ()
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
    if f.format == "MP3":
        check_mpeg_length(path, frames)
    if claim is not None and claim > frames:
        raise SignalReadError(
            f"{path}: truncated: the header says {claim} frames but the file holds {frames}"
        )
    if claim is not None and claim < frames:  # libsndfile would read what follows as samples
        raise SignalReadError(
            f"{path}: the header says {claim} frames but libsndfile reads {frames}: bytes "
            f"after the samples, or a damaged header"
        )


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
    float32 go through integers block by block, which is twice as fast; MP3 is read
    without a seek (:func:`read_forward`).
    """
    if f.format in _FORWARD:
        return read_forward(f, frames, dtype)
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


def read_forward(f: Any, frames: int, dtype: str = "float32") -> np.ndarray:
    """Read up to ``frames`` frames from where libsndfile stands, with no seek around the read.

    soundfile's ``read`` asks libsndfile where it stands before a read and seeks to where
    it should stand after it.  Each of these is a real seek for an MP3, and libmpg123 decodes
    again from a few frames back; its MPEG-2 and 2.5 synthesis (sample rates below 32 kHz)
    then rounds the float samples differently, so the same file read in other blocks gives
    samples one float32 step apart.  Read here through libsndfile's own ``sf_readf_*``
    (soundfile's cffi handles), the samples of an MP3 opened and sought to frame 0 are
    those of ``soundfile.read`` of the whole file, however the reads are split.

    Returns
    -------
    numpy.ndarray
        ``(n, channels)`` of ``dtype`` (float32 or float64), ``n <= frames``.
    """
    import soundfile as sf

    out = np.empty((frames, f.channels), dtype=dtype)
    lib, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
    handle = getattr(f, "_file", None)
    if lib is None or ffi is None or handle is None:  # another soundfile: its own read
        return f.read(frames, dtype=dtype, always_2d=True)
    ctype = "float" if dtype == "float32" else "double"
    reader = getattr(lib, f"sf_readf_{ctype}")
    got = int(reader(handle, ffi.cast(f"{ctype} *", ffi.from_buffer(out)), frames))
    code = int(getattr(f, "_errorcode", 0))
    if code:
        raise sf.LibsndfileError(code)  # a RuntimeError, as soundfile's read raises
    return out[: max(got, 0)]


def _bits(subtype: str) -> int | None:
    return SUBTYPE_BITS.get(subtype, _FLOAT_BITS.get(subtype))


def read_audio(
    path: Path, kind: str, *, limits: Limits = DEFAULT_LIMITS, fmt: str | None = None
) -> Signal:
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
    fmt : str, optional
        The format the content was identified as (:func:`open_sound`).

    Returns
    -------
    Signal
        The audio, with its rate and subtype.

    Raises
    ------
    SignalReadError
        soundfile cannot read it, or :func:`open_sound` refuses it.
    """
    with open_sound(path, limits, fmt) as f:
        frames = int(f.frames)
        with decoder_watch(path, f.format):
            try:
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


def probe_audio(
    path: Path, *, limits: Limits = DEFAULT_LIMITS, fmt: str | None = None
) -> dict[str, Any]:
    """Describe an audio file from its header (:func:`open_sound`).

    Parameters
    ----------
    path : pathlib.Path
        The file.
    limits : Limits, optional
        The budgets: a header that claims more is refused.
    fmt : str, optional
        The format the content was identified as (:func:`open_sound`).

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
    with open_sound(path, limits, fmt) as f:
        frames, channels = int(f.frames), int(f.channels)
        rate, sf_format, subtype = float(f.samplerate), f.format, f.subtype
    return {
        "kind": "audio",
        "format": sf_format,
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
        An audio output format of the table (``"WAV"``, ``"FLAC"``, ``"MP3"``...).
    form : Form
        The input's form: its subtype is kept when the dtype and format allow, and a WAV
        input's kind of WAV (WAVEX, RF64) too.
    path : str or os.PathLike
        The output, for messages.
    encoding : str, optional
        Write float samples with this subtype, converted by libsndfile (which scales by its
        own rule: see the module docstring); by default the dtype decides.
    frames : int, optional
        The frames the output will have: a WAV that would pass 4 GiB is written as RF64,
        and a format whose header cannot describe the size is refused
        (:func:`container_for`).  None: unknown, written as ``fmt``.

    Raises
    ------
    UnsupportedError
        The format cannot hold the dtype, that many channels, that rate or that size.
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
        frames: int | None = None,
    ) -> None:
        import soundfile as sf

        check_audio(fmt, dtype, path)
        check_layout(fmt, channels, rate, path)
        self.subtype = encoding or audio_subtype(np.dtype(dtype), form.subtype, fmt)
        self._converted = encoding is not None  # libsndfile converts the samples itself
        self.format = container_for(fmt, self.subtype, channels, frames, path, form.format)
        if self.format not in sf.available_formats():
            version = getattr(sf, "__libsndfile_version__", "?")
            raise UnsupportedError(
                f"{path}: the installed libsndfile ({version}) was built without "
                f"{self.format}; write another format"
            )
        settings = MP3_SETTINGS if self.format == "MP3" else {}
        self._file = sf.SoundFile(
            _sound_target(fh),
            "w",
            samplerate=rate,
            channels=channels,
            subtype=self.subtype,
            format=self.format,
            **settings,
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


#: Bytes per sample of the subtypes whose files have a size known in advance.
SAMPLE_BYTES = {
    "PCM_S8": 1,
    "PCM_U8": 1,
    "ULAW": 1,
    "ALAW": 1,
    "PCM_16": 2,
    "PCM_24": 3,
    "PCM_32": 4,
    "FLOAT": 4,
    "DOUBLE": 8,
}


@functools.lru_cache(maxsize=64)
def header_bytes(sf_format: str, subtype: str, channels: int) -> int:
    """Return the bytes libsndfile writes around no samples: its header for this layout.

    Measured by writing an empty file to memory: libsndfile writes the same chunks (a
    ``fact`` and a ``PEAK`` chunk for float WAV) whatever the length.

    Examples
    --------
    >>> header_bytes("WAV", "PCM_16", 2), header_bytes("WAV", "FLOAT", 2)
    (44, 88)
    """
    import soundfile as sf

    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", 8000, channels, subtype, format=sf_format):
        pass
    return len(buf.getvalue())


def file_bytes(sf_format: str, subtype: str, channels: int, frames: int) -> int:
    """Return the size of a file of ``frames`` frames: header, samples and a pad byte.

    Examples
    --------
    >>> file_bytes("WAV", "PCM_16", 2, 1000)
    4044
    >>> file_bytes("WAV", "PCM_U8", 1, 7)  # an odd chunk is padded to an even size
    52
    """
    data = frames * channels * SAMPLE_BYTES[subtype]
    return header_bytes(sf_format, subtype, channels) + data + (data & 1)


def container_for(
    fmt: str,
    subtype: str,
    channels: int,
    frames: int | None,
    path: os.PathLike[str] | str,
    kept: str | None = None,
) -> str:
    """Return the libsndfile format an output is written as, decided from its final size.

    A WAV output keeps the input's kind of WAV (``kept``: WAVEX, RF64).  When the file
    (:func:`file_bytes`) would pass what the format's header can describe (``max_bytes``
    in the table: ``2**32 - 1`` bytes for WAV's 32-bit sizes), the table's ``beyond``
    format is written instead (WAV: RF64, as SoX and ffmpeg write), or the output is
    refused.

    Parameters
    ----------
    fmt : str
        The output format of the table.
    subtype : str
        The subtype written.
    channels : int
        Channels.
    frames : int or None
        The output's frames; None: unknown, ``fmt`` is written.
    path : str or os.PathLike
        The output, for messages.
    kept : str, optional
        The input's libsndfile format.

    Returns
    -------
    str
        A libsndfile format name.

    Raises
    ------
    UnsupportedError
        The output is larger than the format can describe, and nothing is written beyond.

    Examples
    --------
    >>> container_for("WAV", "PCM_16", 2, 1_073_741_812, "out.wav")  # 4 GiB - 3 bytes
    'WAV'
    >>> container_for("WAV", "PCM_16", 2, 1_073_741_813, "out.wav")  # 4 GiB + 1
    'RF64'
    """
    sf_format = kept if fmt == "WAV" and kept in _WAV_FORMATS else fmt
    row = registry.family("audio").write_format(fmt)
    if frames is None or row.max_bytes is None or sf_format == "RF64":
        return sf_format
    if subtype not in SAMPLE_BYTES:
        return sf_format
    size = file_bytes(sf_format, subtype, channels, frames)
    if size <= row.max_bytes:
        return sf_format
    if row.beyond is not None:
        return row.beyond
    big = [w.extensions[0] for w in registry.family("audio").writes if w.name in _BIG]
    raise UnsupportedError(
        f"{path}: {fmt} describes at most {row.max_bytes} bytes and this output would be "
        f"{size} ({frames} frames of {channels} channels of {subtype}); use "
        f"{join_words(big)}"
    )


_BIG = ("RF64", "W64", "CAF")  # 64-bit sizes, and every subtype of WAV


def check_layout(fmt: str, channels: int, rate: int, path: os.PathLike[str] | str) -> None:
    """Raise :class:`UnsupportedError` unless ``fmt`` holds that many channels at that rate.

    The limits are the table's (``channels``, ``rates``, ``max_rate``): FLAC holds 8
    channels, MP3 two and the nine MPEG rates, 8SVX one channel up to 65535 Hz...

    Examples
    --------
    >>> check_layout("MP3", 2, 44100, "out.mp3")
    >>> check_layout("MP3", 2, 96000, "out.mp3")
    Traceback (most recent call last):
    ...
    convcli.errors.UnsupportedError: out.mp3: MP3 holds the sample rates 8000, 11025, ...
    """
    row = registry.family("audio").write_format(fmt)
    free = [  # lossless formats that take any channels and rates: the suggestions
        w.extensions[0]
        for w in registry.family("audio").writes
        if not w.lossy and w.channels is None and w.rates is None and w.max_rate is None
    ][:2]
    if row.channels is not None and channels > row.channels:
        raise UnsupportedError(
            f"{path}: {fmt} holds at most {row.channels} channel"
            f"{'s' if row.channels > 1 else ''}, not {channels}; use {' or '.join(free)}"
        )
    if row.rates is not None and rate not in row.rates:
        held = (
            f"the sample rate {row.rates[0]} Hz only"
            if len(row.rates) == 1
            else f"the sample rates {', '.join(map(str, row.rates))} Hz"
        )
        raise UnsupportedError(
            f"{path}: {fmt} holds {held}, not {rate}; resample first, or use {' or '.join(free)}"
        )
    if row.max_rate is not None and rate > row.max_rate:
        raise UnsupportedError(
            f"{path}: {fmt} holds sample rates up to {row.max_rate} Hz, not {rate}; "
            f"use {' or '.join(free)}"
        )


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
        An audio output format of the table (``"WAV"``, ``"FLAC"``, ``"MP3"``...).
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
    channels, frames = int(data.shape[1]), int(data.shape[0])
    writer = AudioWriter(fh, rate, channels, data.dtype, fmt, form, path, encoding, frames)
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
#: The dtype each encoding is written from, where :data:`SUBTYPE_DTYPE` has none: the
#: lossy codecs take float32, the companded ones 16-bit integers (or float32, kept).
_CODEC_DTYPE = {"VORBIS": "float32", "OPUS": "float32", "MPEG_LAYER_III": "float32"}
_COMPANDED = ("ULAW", "ALAW")
#: Each dtype, and the wider ones that hold every value of it exactly.
_EXACT_IN = {
    "uint8": ("int16", "int32", "float32", "float64"),
    "int16": ("int32", "float32", "float64"),
    "int32": ("float64",),
    "float32": ("float64",),
    "float64": (),
}
#: How many other formats a message suggests.
_SUGGESTED = 3


def check_audio(fmt: str, dtype: np.dtype, path: os.PathLike[str] | str) -> None:
    """Raise :class:`UnsupportedError` unless audio format ``fmt`` holds ``dtype``.

    Parameters
    ----------
    fmt : str
        An audio output format of the table (``"WAV"``, ``"FLAC"``, ``"MP3"``...).
    dtype : numpy.dtype
        The output dtype.
    path : str or os.PathLike
        The output, named in the message.

    Raises
    ------
    UnsupportedError
        With a message that says what the format holds, and a few formats that hold
        ``dtype``.
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
    use = join_words([*others[:_SUGGESTED], ".npy"])
    dtype_param = Param("dtype", *holds)
    raise UnsupportedError(
        f"{path}: {fmt} cannot hold {name} samples: {fmt} holds {join_words(list(holds))}; "
        f"use {use}, or {dtype_param}",
        params=[dtype_param],
    )


def _encodes(subtype: str, dtype: str, fmt: str | None = None) -> bool:
    """Whether ``subtype`` is written from samples of ``dtype`` (in format ``fmt``).

    µ-law and A-law are written from float32, as they are read; from int16 only in a
    format that holds no float32 (WVE), where int16 is what the samples must be.
    """
    if subtype in _COMPANDED and dtype == "int16" and fmt is not None:
        return "float32" not in _holds(fmt)
    return SUBTYPE_DTYPE.get(subtype, _CODEC_DTYPE.get(subtype, "float32")) == dtype


def audio_subtype(dtype: np.dtype, hint: str | None, fmt: str | None = None) -> str:
    """Return the soundfile subtype that holds ``dtype``, keeping ``hint`` where it can.

    Parameters
    ----------
    dtype : numpy.dtype
        The dtype of the samples to write.
    hint : str or None
        The input's subtype.  Kept when it is written from ``dtype`` (its
        :data:`SUBTYPE_DTYPE`; µ-law and A-law from float32, or from int16 in a format
        without float) and ``fmt`` (when given) has it.
    fmt : str or None, optional
        The output format (``"WAV"``, ``"FLAC"``, ``"MP3"``...).

    Returns
    -------
    str
        The usual subtype of ``dtype`` (PCM_U8, PCM_16, PCM_32, FLOAT, DOUBLE) if the
        format has it, else the first of the format's encodings written from ``dtype``.

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
    >>> audio_subtype(np.dtype("int16"), None, "WVE")
    'ALAW'
    """
    name = np.dtype(dtype).name
    available = _available_subtypes(fmt)
    if hint is not None and _encodes(hint, name, fmt):
        if available is None or hint in available:
            return hint
    choice = _DEFAULT_SUBTYPE.get(name)
    if available is not None and choice not in available:
        choice = next((e for e in available if _encodes(e, name, fmt)), None)
    if choice is None:
        raise UnsupportedError(f"no {fmt or 'audio'} subtype holds {name} samples")
    return choice


def _available_subtypes(fmt: str | None) -> tuple[str, ...] | None:
    if fmt is None:
        return None
    found = [w.encodings for w in registry.family("audio").writes if w.name == fmt]
    return found[0] if found else ()


def _holds(fmt: str) -> tuple[str, ...]:
    """Return the dtypes an audio format holds (its row's ``holds``)."""
    holds = registry.family("audio").write_format(fmt).holds
    assert isinstance(holds, tuple)
    return holds


def nearest_dtype(stored: str, holds: tuple[str, ...]) -> str:
    """Return the dtype of ``holds`` an output of ``stored`` samples is written as.

    ``stored`` itself where the format holds it; else the first of ``holds`` that holds
    every value of ``stored`` exactly (uint8 in int16, int16 in int32 or float32, int32 and
    float32 in float64); else the widest of ``holds`` (its last), rounding.

    Examples
    --------
    >>> nearest_dtype("uint8", ("int16", "int32")), nearest_dtype("float32", ("int16", "int32"))
    ('int16', 'int32')
    >>> nearest_dtype("float64", ("float32",))
    'float32'
    """
    if stored in holds:
        return stored
    exact = [d for d in holds if d in _EXACT_IN[stored]]
    return exact[0] if exact else holds[-1]


# ----------------------------------------------------------------------------- the registry's


def load(path: Path, fmt: str, kind: str, gray: bool, limits: Limits) -> Signal:
    """Load an audio file as audio or as an array (:func:`read_audio`)."""
    if kind in ("image", "volume", "series"):
        what = "a series" if kind == "series" else kind
        raise SignalReadError(f"{path}: is audio; it cannot be read as {what}")
    return read_audio(path, kind, limits=limits, fmt=fmt)


def probe(path: Path, fmt: str, limits: Limits) -> dict[str, Any]:
    """Describe an audio file from its header (:func:`probe_audio`)."""
    return probe_audio(path, limits=limits, fmt=fmt)


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
    if kind == "series":
        return registry.default_target(registry.family("audio"), signal, path, fmt)
    audio = Param("kind", "audio")
    hint = f" (read it with {audio})" if kind == "array" and signal.data.ndim <= 2 else ""
    raise UnsupportedError(
        f"{path}: {'an' if kind[0] in 'aeiou' else 'a'} {kind} cannot be written as "
        f"{fmt.name} audio{hint}; "
        f"use an image extension or .npy",
        params=[audio] if hint else [],
    )


def output_dtype(signal: Signal, target: registry.Target, want: np.dtype | None) -> np.dtype:
    """Keep the stored dtype where the format holds it, else the nearest (:func:`nearest_dtype`).

    FLAC takes integers (float as int32), OGG and MP3 float32, VOC and 8SVX int16...
    """
    fmt = target.format
    assert fmt is not None
    if want is None:
        stored = stored_dtype(signal)
        if stored.name in _EXACT_IN:
            want = np.dtype(nearest_dtype(stored.name, _holds(fmt)))
        elif fmt in _ANY_DTYPE_INTO:  # another dtype (an .npy read as audio): as always
            want = np.dtype(_ANY_DTYPE_INTO[fmt][stored.itemsize > 1])
        else:
            want = stored  # refused below, naming what the format holds
    check_audio(fmt, want, target.path)
    return want


#: What FLAC and OGG have always taken a dtype other than the five audio dtypes into
#: (itemsize 1, itemsize more than 1); the other formats refuse it.
_ANY_DTYPE_INTO = {"OGG": ("float32", "float32"), "FLAC": ("int16", "int32")}


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

    def __init__(
        self, path: str | os.PathLike[str], limits: Any = None, fmt: str | None = None
    ) -> None:
        self.path = Path(path)
        self._opened = (DEFAULT_LIMITS if limits is None else limits, fmt)
        self._file = open_sound(path, *self._opened)
        self.subtype = self._file.subtype
        self.rate = float(self._file.samplerate)
        self.format = self._file.format
        self.dtype = np.dtype(load_dtype(self.subtype))
        self.shape = (int(self._file.frames), int(self._file.channels))
        # a format read forward only: the frames decoded last, and where the decoder stands
        self._kept = np.empty((0, self.shape[1]), dtype=self.dtype)
        self._kept_start = self._next = 0

    def read(self, start: int, stop: int) -> np.ndarray:
        """Read frames ``start:stop``."""
        with decoder_watch(self.path, self.format):
            try:
                if self.format in _FORWARD:
                    data = self._forward(start, stop)
                else:
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

    def _forward(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` of an MP3, decoded forward from frame 0 (:func:`read_forward`).

        The frames of the last read are kept: a slab's halo, which the previous slab read
        too, comes from them.  A read that starts before them decodes again from frame 0,
        in the file opened again (a seek back does not put libmpg123 where it started).
        """
        if start < self._kept_start:
            self._file.close()
            self._file = open_sound(self.path, *self._opened)
            self._kept = self._kept[:0]
            self._kept_start = self._next = 0
        while self._next < start:  # decode up to ``start``, dropping what comes before
            skipped = read_forward(
                self._file, min(_READ_BLOCK, start - self._next), self.dtype.name
            )
            if len(skipped) == 0:
                break
            self._next += len(skipped)
            self._kept, self._kept_start = skipped[:0], self._next
        held = self._kept[start - self._kept_start : stop - self._kept_start]
        if stop <= self._next or self._next < start:
            return held
        fresh = read_forward(self._file, stop - self._next, self.dtype.name)
        self._next += len(fresh)
        data = np.concatenate([held, fresh]) if len(held) else fresh
        self._kept, self._kept_start = data, start
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
    audio = AudioFileSource(path, limits, fmt)
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
    rate_hz = check_rate(rate, target.path)
    return AudioWriter(
        fh, rate_hz, channels, dtype, target.format, form, target.path, frames=int(shape[0])
    )
