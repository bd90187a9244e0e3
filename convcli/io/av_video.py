r"""Video through PyAV: MP4, MOV, MKV, WebM and AVI as a volume ``frames × rows × cols × channels``.

The ``video`` family of :mod:`convcli.io.registry` (extra ``video``: ``pip install
'convcli[video]'``, PyAV).  Its row calls :func:`sniff`, :func:`probe`, :func:`load`,
:func:`save`, :func:`open_rows` (frames read in order, with a temporal halo) and
:func:`open_writer` (frames encoded as they come); the same, by path, for a script:
:func:`probe_video`, :func:`read_video`, :func:`write_video`, :func:`open_video`,
:func:`video_writer`.  PyAV is imported inside the functions; without it a video gets one
line naming the extra.

==============  ==========================================================================
content         :func:`identify` on the first 64 bytes: ``....ftyp`` (MP4; brand ``qt  ``:
                MOV; HEIF/AVIF still-image brands are not claimed), a QuickTime file that
                starts with ``moov``/``mdat``/``wide``/``pnot``/``free``/``skip`` (MOV),
                ``\x1aE\xdf\xa3`` with DocType ``matroska``/``webm`` (MKV/WEBM),
                ``RIFF....AVI `` (AVI)
extensions      ``.mp4 .m4v`` MP4, ``.mov .qt`` MOV, ``.mkv`` MKV, ``.webm`` WEBM, ``.avi``
                AVI (:data:`EXTENSIONS`); MP4 and MOV content are interchangeable, and so
                are MKV and WebM (one demuxer each): the table reads them as one format each
kinds           ``volume`` (auto), ``image`` (the first frame), ``array`` (4-D, as stored)
rows / blocks   :func:`open_rows` and :func:`open_writer` along axis 0 (frames)
==============  ==========================================================================

What is read
------------
The first video stream that is not cover art, decoded by one of :data:`DECODERS` (others
are refused by name), through the one demuxer the content names.  Frames come as RGB:
``uint8`` for sources of 8 bits per component, ``uint16`` at full 16-bit scale for 9 to
16 bits (FFmpeg's ``rgb48``: a 10-bit white, 940, becomes 65535), one channel for gray
pixel formats, four for formats with alpha.  The YUV to RGB matrix and range are the
stream's own (BT.601 limited range where it says nothing), and the writer uses the same
ones, so a lossless codec gives back the frames it was given.

Frame count and timestamps: the container's count where it has one (MP4, MOV, AVI); for
Matroska/WebM, which keep none, the video packets are counted in one pass over the file
(demuxed, not decoded).  :func:`probe` reads the header only and says ``frames_exact``:
``False`` when the count is duration × rate, None (unknown) when the header has neither.
A decode that yields another number of frames than counted is an error, never a shorter or
longer volume.

**Variable frame rate is kept, not refused.**  Every frame's presentation timestamp is read
in the counting pass and carried on the :class:`Form` (``info["pts"]``, ``info["time_base"]``,
``info["vfr"]``).  The writer gives output frame ``o`` the timestamp of input frame
``o × stride`` (the time stride is the input rate over the signal's ``rate``), so a
constant-rate video stays constant (at ``rate / stride``), a variable one keeps its timing,
and frames past the input's last (``full`` padding) follow at its mean frame interval.  The
one exception is AVI, a constant-rate container: a variable-rate video written to ``.avi``
is refused.  A 3-D kernel across time treats frames as evenly spaced either way.

Damage: FFmpeg conceals broken macroblocks and reads on; its error lines (captured through
``av.logging``, level ERROR and worse, from every thread) make the read fail with one line,
as the image readers' warnings do.  Budgets (``max_pixels``, ``max_frames``,
``max_voxels``, ``max_channels``) are checked from the header, and ``max_pixels`` is also
handed to FFmpeg's decoder, which then refuses larger frames while the header is probed.

What is written
---------------
The container the extension names; the input's codec where that container holds it and an
encoder exists (:data:`ENCODERS`: H.264 through libx264 crf 18 preset medium, HEVC through
libx265 crf 20, VP9 through libvpx-vp9 crf 30, VP8, AV1 through SVT-AV1 crf 30, FFV1, MPEG-4
part 2 and MJPEG at qscale 2, ProRes, Ut Video, HuffYUV, PNG, raw video); otherwise the
container's default (:data:`DEFAULT_ENCODER`).  A ``.mkv`` written from any other container
is FFV1, lossless.  The quality is said in words on the output ``Form``
(``info["quality"]``) and on the writer.  The pixel format, frame rate, colour tags and
timing are the input's; audio and subtitle streams are copied packet by packet, untouched
(a container that cannot hold one, as WebM cannot hold AAC, is an error naming both).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SignalReadError, SignalWriteError, UnsupportedError
from ._capture import captured_stderr
from ._signal import Form, Signal
from .atomic import atomic_file
from .limits import DEFAULT_LIMITS, Limits, open_regular
from .rows import RowSource

__all__ = [
    "EXTRA",
    "EXTENSIONS",
    "FORMATS",
    "DECODERS",
    "ENCODERS",
    "DEFAULT_ENCODER",
    "identify",
    "sniff",
    "probe",
    "load",
    "save",
    "open_rows",
    "open_writer",
    "probe_video",
    "read_video",
    "write_video",
    "open_video",
    "video_writer",
    "VideoRows",
    "VideoWriter",
]

PathLike = str | os.PathLike[str]

#: The pip extra this family needs.
EXTRA = "video"

#: Format -> FFmpeg's demuxer/muxer name.
FORMATS: dict[str, str] = {
    "MP4": "mp4",
    "MOV": "mov",
    "MKV": "matroska",
    "WEBM": "webm",
    "AVI": "avi",
}
_DEMUXER = {"MP4": "mov", "MOV": "mov", "MKV": "matroska", "WEBM": "matroska", "AVI": "avi"}

#: Extension -> format, read and written.
EXTENSIONS: dict[str, str] = {
    ".mp4": "MP4",
    ".m4v": "MP4",
    ".mov": "MOV",
    ".qt": "MOV",
    ".mkv": "MKV",
    ".webm": "WEBM",
    ".avi": "AVI",
}

#: Video codecs decoded (FFmpeg's codec names); anything else is refused by name.
DECODERS = frozenset(
    {
        "h264",
        "hevc",
        "vp8",
        "vp9",
        "av1",
        "ffv1",
        "mpeg4",
        "mpeg1video",
        "mpeg2video",
        "mjpeg",
        "prores",
        "dnxhd",
        "utvideo",
        "huffyuv",
        "ffvhuff",
        "png",
        "rawvideo",
        "theora",
    }
)


@dataclass(frozen=True)
class Encoder:
    """An FFmpeg encoder with the options convcli gives it and the quality they mean."""

    name: str
    options: dict[str, str]
    quality: str


_QSCALE_2 = {"flags": "+qscale", "global_quality": str(2 * 118)}  # FF_QP2LAMBDA = 118

#: Codec (as decoded) -> the encoder that keeps it, with its settings.
ENCODERS: dict[str, Encoder] = {
    "h264": Encoder("libx264", {"crf": "18", "preset": "medium"}, "H.264 (libx264) crf 18"),
    "hevc": Encoder(
        "libx265",
        {"crf": "20", "preset": "medium", "x265-params": "log-level=error"},
        "HEVC (libx265) crf 20",
    ),
    "vp9": Encoder(
        "libvpx-vp9",
        {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"},
        "VP9 (libvpx-vp9) crf 30",
    ),
    "vp8": Encoder(
        "libvpx",
        {"crf": "10", "b": "10M", "deadline": "good", "cpu-used": "4"},
        "VP8 (libvpx) crf 10",
    ),
    "av1": Encoder("libsvtav1", {"crf": "30", "preset": "8"}, "AV1 (SVT-AV1) crf 30"),
    "ffv1": Encoder("ffv1", {"level": "3", "slicecrc": "1"}, "FFV1 lossless"),
    "mpeg4": Encoder("mpeg4", dict(_QSCALE_2), "MPEG-4 part 2 qscale 2"),
    "mjpeg": Encoder("mjpeg", dict(_QSCALE_2), "MJPEG qscale 2"),
    "prores": Encoder("prores_ks", {"profile": "3"}, "ProRes 422 HQ (prores_ks)"),
    "utvideo": Encoder("utvideo", {}, "Ut Video lossless"),
    "huffyuv": Encoder("huffyuv", {}, "HuffYUV lossless"),
    "ffvhuff": Encoder("ffvhuff", {}, "FFVHuff lossless"),
    "png": Encoder("png", {}, "PNG lossless"),
    "rawvideo": Encoder("rawvideo", {}, "uncompressed"),
}

#: The codec written when the input's cannot be kept in the output's container.
DEFAULT_ENCODER: dict[str, str] = {
    "MP4": "h264",
    "MOV": "h264",
    "MKV": "ffv1",
    "WEBM": "vp9",
    "AVI": "mpeg4",
}

#: Stream types copied from the input, packet by packet.
_COPIED = ("audio", "subtitle")

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis"}
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"pnot", b"free", b"skip"}
_EBML = b"\x1a\x45\xdf\xa3"


def identify(head: bytes) -> str | None:
    r"""Return the video format of a file from its first bytes, or None.

    Parameters
    ----------
    head : bytes
        The first 64 bytes (fewer if the file is shorter).

    Returns
    -------
    str or None
        ``"MP4"``, ``"MOV"``, ``"MKV"``, ``"WEBM"`` or ``"AVI"``.

    Examples
    --------
    >>> identify(b"\0\0\0\x18ftypisom\0\0\2\0isomiso2"), identify(b"\0\0\0\x14ftypqt  ")
    ('MP4', 'MOV')
    >>> identify(b"RIFF\0\0\0\0AVI LIST"), identify(b"\0\0\0\x18ftypheic"), identify(b"RIFF")
    ('AVI', None, None)
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return None
        return "MOV" if brand == b"qt  " else "MP4"
    if len(head) >= 8 and head[4:8] in _QT_ATOMS and int.from_bytes(head[:4], "big") >= 8:
        return "MOV"
    if head.startswith(_EBML):
        if b"webm" in head[:64]:
            return "WEBM"
        if b"matroska" in head[:64]:
            return "MKV"
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    return None


#: Format -> the read format of the io table (one per demuxer).
_TABLE_FORMAT = {"MP4": "MP4", "MOV": "MP4", "MKV": "MKV", "WEBM": "MKV", "AVI": "AVI"}


def sniff(head: bytes, name: str | None = None) -> str | None:
    r"""Return the io table's read format of a video (one per demuxer), or None.

    Examples
    --------
    >>> sniff(b"\0\0\0\x14ftypqt  "), sniff(b"\x1a\x45\xdf\xa3\x9fB\x82\x84webm")
    ('MP4', 'MKV')
    """
    found = identify(head)
    return None if found is None else _TABLE_FORMAT[found]


def _av(path: PathLike, writing: bool = False) -> Any:
    """Import PyAV, or say which extra to install."""
    try:
        import av
    except ImportError:
        verb = "writing" if writing else "reading"
        text = f"{path}: {verb} video needs PyAV: pip install 'convcli[{EXTRA}]'"
        if writing:
            raise UnsupportedError(text) from None
        raise SignalReadError(text) from None
    return av


# --- FFmpeg's log, watched ----------------------------------------------------------------

_LOG_LOCK = threading.RLock()
_PICTURE_SIZE = re.compile(r"Picture size (\d+)x(\d+) (?:is invalid|exceeds)")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@contextlib.contextmanager
def _ffmpeg_log(av: Any) -> Iterator[list[tuple[int, str, str]]]:
    """Collect what FFmpeg logs (WARNING and worse, every thread) during the block.

    PyAV silences FFmpeg by default; the level and callback are process-wide, so they are
    set for the block only, under a lock, and restored after.
    """
    with _LOG_LOCK:
        before = av.logging.get_level()
        av.logging.set_level(av.logging.WARNING)
        try:
            with av.logging.Capture(local=False) as logs:
                yield logs
        finally:
            av.logging.set_level(before)


def _errors(av: Any, logs: list[tuple[int, str, str]]) -> list[str]:
    """Return FFmpeg's error lines (level ERROR and worse), each on one line, once."""
    out = []
    for level, name, message in logs:
        if level <= av.logging.ERROR:
            text = " ".join(message.split())
            out.append(f"{name}: {text}" if name else text)
    return list(dict.fromkeys(out))


def _joined(lines: list[str], shown: int = 2) -> str:
    more = len(lines) - shown
    return "; ".join(lines[:shown]) + (f" (and {more} more)" if more > 0 else "")


def _check_logs(av: Any, path: PathLike, logs: list[tuple[int, str, str]], limits: Limits) -> None:
    """Raise for damage FFmpeg reported (a too-large picture is a budget, not damage)."""
    lines = _errors(av, logs)
    for line in lines:
        found = _PICTURE_SIZE.search(line)
        if found:
            cols, rows = int(found.group(1)), int(found.group(2))
            limits.check_pixels(path, rows, cols, "a frame of ")
    if lines:
        raise SignalReadError(f"{path}: damaged video: {_joined(lines)}")


# --- opening an input ------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How decoded frames become arrays: FFmpeg's pixel format to numpy.

    Attributes
    ----------
    to_format : str
        The packed format frames are converted to (``rgb24``, ``rgb48le``, ``gray``...).
    channels : int
        1 (gray), 3 (RGB) or 4 (RGBA).
    dtype : numpy.dtype
        ``uint8`` or ``uint16``.
    bits : int
        Bits per component as stored (8, 10, 12, 16).
    mode : str
        ``"L"``, ``"RGB"``, ``"RGBA"``, ``"I;16"``, ``"RGB;16"``, ``"RGBA;16"``.
    """

    to_format: str
    channels: int
    dtype: np.dtype
    bits: int
    mode: str


def layout_of(av: Any, pix_fmt: str) -> Layout:
    """Decide how frames of FFmpeg pixel format ``pix_fmt`` are returned.

    Gray formats give one channel, formats with alpha four, the rest three (RGB); more than
    8 bits per component give ``uint16`` (``yuv420p10le`` -> ``rgb48le``).
    """
    fmt = av.VideoFormat(pix_fmt)
    comps = fmt.components
    bits = max((c.bits for c in comps), default=8)
    deep = bits > 8 and not fmt.has_palette
    alpha = any(c.is_alpha for c in comps)
    gray = len(comps) <= 2 and not fmt.has_palette and not fmt.is_rgb
    if gray and not alpha:
        return Layout("gray16le" if deep else "gray", 1, np.dtype(_u(deep)), bits, _mode(1, deep))
    if alpha:
        return Layout("rgba64le" if deep else "rgba", 4, np.dtype(_u(deep)), bits, _mode(4, deep))
    return Layout("rgb48le" if deep else "rgb24", 3, np.dtype(_u(deep)), bits, _mode(3, deep))


def _u(deep: bool) -> str:
    return "uint16" if deep else "uint8"


def _mode(channels: int, deep: bool) -> str:
    name = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    if not deep:
        return name
    return "I;16" if channels == 1 else f"{name};16"


@dataclass
class _Input:
    """An open container, its video stream and what the header says."""

    av: Any
    path: Path
    fmt: str
    fh: Any
    container: Any
    stream: Any
    layout: Layout
    rows: int
    cols: int

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        self.fh.close()


def _open_container(av: Any, path: Path, fmt: str, limits: Limits) -> tuple[Any, Any]:
    """Open the file through the one demuxer its content names; return (file, container)."""
    fh = open_regular(path)
    options = {} if limits.max_pixels is None else {"max_pixels": str(limits.max_pixels)}
    try:
        with _ffmpeg_log(av) as logs:
            try:
                container = av.open(fh, format=_DEMUXER[fmt], options=options, buffer_size=1 << 20)
            except av.FFmpegError as exc:
                lines = _errors(av, logs)
                why = _joined(lines) if lines else _one_line(exc)
                raise SignalReadError(f"{path}: cannot read {fmt} video: {why}") from None
    except BaseException:
        fh.close()
        raise
    try:
        _check_open_logs(av, path, container, logs, limits)
    except BaseException:
        with contextlib.suppress(Exception):
            container.close()
        fh.close()
        raise
    return fh, container


def _check_open_logs(
    av: Any, path: Path, container: Any, logs: list[tuple[int, str, str]], limits: Limits
) -> None:
    """Check the budgets first (FFmpeg logs a refused size as an error), then damage."""
    for stream in container.streams.video:
        cc = stream.codec_context
        if cc is not None and cc.width and cc.height:
            limits.check_pixels(path, int(cc.height), int(cc.width), "a frame of ")
    _check_logs(av, path, logs, limits)


def _video_stream(path: Path, fmt: str, container: Any) -> Any:
    """Return the first video stream that is not cover art, or say what the file holds."""
    for stream in container.streams.video:
        if not stream.disposition & stream.disposition.attached_pic:
            return stream
    held = [
        f"{s.type} ({s.codec_context.name if s.codec_context else 'unknown codec'})"
        for s in container.streams
    ]
    what = ", ".join(held) if held else "no stream at all"
    raise SignalReadError(f"{path}: is not a video: the {fmt} file holds {what}, no video stream")


def _open_input(path: PathLike, limits: Limits) -> _Input:
    """Open a video for reading: content, demuxer, stream, codec and budgets checked."""
    p = Path(path)
    av = _av(p)
    with open_regular(p) as fh:
        head = fh.read(64)
    if not head:
        raise SignalReadError(f"{p}: is empty (0 bytes)")
    fmt = identify(head)
    if fmt is None:
        raise SignalReadError(
            f"{p}: the content is not a video convcli reads (MP4, MOV, MKV, WebM, AVI)"
        )
    fh, container = _open_container(av, p, fmt, limits)
    try:
        stream = _video_stream(p, fmt, container)
        cc = stream.codec_context
        codec = cc.codec.canonical_name if cc is not None else None
        if codec not in DECODERS:
            raise SignalReadError(
                f"{p}: the video codec {codec or 'unknown'} is not read "
                f"(convcli decodes {', '.join(sorted(DECODERS))})"
            )
        if not cc.width or not cc.height or cc.pix_fmt is None:
            raise SignalReadError(
                f"{p}: damaged video: the header gives no frame size or pixel format"
            )
        layout = layout_of(av, cc.pix_fmt)
        limits.check_channels(p, layout.channels)
        frames = int(stream.frames or 0)
        if frames:
            limits.check_planes(p, frames, int(cc.height), int(cc.width))
        return _Input(av, p, fmt, fh, container, stream, layout, int(cc.height), int(cc.width))
    except BaseException:
        with contextlib.suppress(Exception):
            container.close()
        fh.close()
        raise


def _rate(stream: Any) -> Fraction | None:
    """Return the stream's frame rate: the average, else FFmpeg's guess."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return None


def _header_frames(inp: _Input) -> tuple[int | None, bool | None]:
    """Frames from the header: the count, else duration x rate; and whether it is exact."""
    stream = inp.stream
    if stream.frames:
        return int(stream.frames), True
    rate = _rate(stream)
    seconds = None
    if stream.duration is not None and stream.time_base:
        seconds = Fraction(stream.duration) * stream.time_base
    elif inp.container.duration:
        seconds = Fraction(inp.container.duration, 1_000_000)
    if rate is None or seconds is None:
        return None, None
    return round(seconds * rate), False


def _streams(container: Any, video: Any) -> list[dict[str, Any]]:
    """Describe every stream other than the video one read."""
    out = []
    for s in container.streams:
        if s.index == video.index:
            continue
        cc = s.codec_context
        out.append(
            {
                "index": int(s.index),
                "type": s.type,
                "codec": cc.name if cc is not None else None,
                "copied": s.type in _COPIED,
            }
        )
    return out


def probe_video(path: PathLike, *, limits: Limits | None = None) -> dict[str, Any]:
    """Describe a video from its container header, without decoding a frame.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    limits : Limits, optional
        The budgets: frame size, frame count (when the header has one), voxels, channels.

    Returns
    -------
    dict
        The keys of :func:`convcli.io.probe` (``kind`` ``"volume"``, ``shape`` ``[frames,
        rows, cols, channels]`` with frames None when unknown, ``rate`` in frames per
        second, ``duration`` in seconds, ``planes``), ``spacing`` and ``units`` (the frame
        interval in seconds; rows and columns in samples) and ``codec``, ``pix_fmt``,
        ``frames_exact`` (True: the container's count; False: duration × rate; None:
        unknown), ``variable_rate`` (the header's hint: average and guessed rates differ;
        the reader decides from the timestamps), ``streams`` (the other streams, and
        whether they are copied to an output).

    Raises
    ------
    SignalReadError
        Not a video, an unread codec, a damaged header, or no PyAV.
    LimitError
        A frame, frame count or volume larger than ``limits``.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    inp = _open_input(path, limits)
    try:
        frames, exact = _header_frames(inp)
        if frames is not None:
            limits.check_planes(inp.path, frames, inp.rows, inp.cols)
        rate = _rate(inp.stream)
        guessed = inp.stream.guessed_rate
        lay = inp.layout
        duration = None
        if frames is not None and rate:
            duration = float(frames / rate)
        return {
            "path": str(inp.path),
            "kind": "volume",
            "format": inp.fmt,
            "container": "video",
            "shape": [frames, inp.rows, inp.cols, lay.channels],
            "dtype": lay.dtype.name,
            "channels": lay.channels,
            "mode": lay.mode,
            "subtype": None,
            "bits": lay.bits,
            "rate": float(rate) if rate else None,
            "duration": duration,
            "frames": frames,
            "planes": frames,
            "spacing": [float(1 / rate) if rate else 1.0, 1.0, 1.0],
            "units": ["s" if rate else "", "", ""],
            "codec": inp.stream.codec_context.codec.canonical_name,
            "pix_fmt": inp.stream.codec_context.pix_fmt,
            "frames_exact": exact,
            "variable_rate": bool(rate and guessed and abs(float(rate / guessed) - 1) > 1e-3),
            "streams": _streams(inp.container, inp.stream),
        }
    finally:
        inp.close()


# --- the counting pass ------------------------------------------------------------------------


@dataclass
class Timing:
    """Presentation timestamps of every frame, from one demux pass (no decoding).

    Attributes
    ----------
    count : int
        Video packets: the frames the decoder must give.
    pts : list of int
        Timestamps in presentation order, in ``time_base`` units; ``i`` (with a time base
        of one frame) when the container keeps none.
    time_base : fractions.Fraction
        Their unit, in seconds.
    vfr : bool
        Whether some frame is more than one tick off an even spacing at the stream's rate.
    """

    count: int
    pts: list[int]
    time_base: Fraction
    vfr: bool


def _count_packets(inp: _Input, limits: Limits) -> Timing:
    """Demux every video packet once: the frame count and the timestamps."""
    av, stream = inp.av, inp.stream
    stamps: list[int | None] = []
    with _ffmpeg_log(av) as logs:
        try:
            for packet in inp.container.demux(stream):
                if packet.size == 0 and packet.dts is None:
                    continue  # PyAV's flush packet
                stamps.append(packet.pts)
                if limits.max_frames is not None and len(stamps) > limits.max_frames:
                    limits.check_planes(inp.path, len(stamps), inp.rows, inp.cols)
        except av.FFmpegError as exc:
            raise SignalReadError(f"{inp.path}: damaged video: {_one_line(exc)}") from None
    _check_logs(av, inp.path, logs, limits)
    if not stamps:
        raise SignalReadError(f"{inp.path}: the video stream holds no frame")
    limits.check_planes(inp.path, len(stamps), inp.rows, inp.cols)
    rate = _rate(stream) or Fraction(25)
    if any(s is None for s in stamps) or not stream.time_base:
        return Timing(len(stamps), list(range(len(stamps))), 1 / rate, False)
    pts = sorted(int(s) for s in stamps if s is not None)
    tb = Fraction(stream.time_base)
    step = 1 / (Fraction(stream.guessed_rate or rate) * tb)
    vfr = any(abs(p - pts[0] - round(i * step)) > 1 for i, p in enumerate(pts))
    return Timing(len(pts), pts, tb, vfr)


def _form(inp: _Input, timing: Timing) -> Form:
    """Describe the video; ``info["source"]`` is the file its other streams are copied from."""
    cc = inp.stream.codec_context
    rate = _rate(inp.stream) or 1 / (timing.time_base or Fraction(1, 25))
    if timing.vfr and len(timing.pts) > 1:
        span = (timing.pts[-1] - timing.pts[0]) * timing.time_base
        rate = Fraction(len(timing.pts) - 1) / span if span else rate
    info = {
        "codec": cc.codec.canonical_name,
        "pix_fmt": cc.pix_fmt,
        "profile": cc.profile,
        "rate": str(rate),
        "time_base": str(timing.time_base),
        "pts": timing.pts,
        "vfr": timing.vfr,
        "colorspace": int(cc.colorspace),
        "color_range": int(cc.color_range),
        "color_primaries": int(cc.color_primaries),
        "color_trc": int(cc.color_trc),
        "streams": _streams(inp.container, inp.stream),
        "stream_index": int(inp.stream.index),
        "source": str(inp.path),
    }
    return Form(
        container="video",
        format=inp.fmt,
        mode=inp.layout.mode,
        bits=inp.layout.bits,
        dtype=inp.layout.dtype.name,
        info=info,
        spacing=(float(1 / rate), 1.0, 1.0),
        units=("s", "", ""),
    )


# --- reading frames ---------------------------------------------------------------------------


class VideoRows(RowSource):
    """Frames ``[start, stop)`` of a video, decoded in order, with a window kept behind.

    The decoder only moves forward.  The last ``keep`` decoded frames stay in memory, so a
    consumer that reads slab after slab along time, each slab overlapping the one before by
    a halo of ``h <= keep`` frames (and reading the pad mode's rows near either end, which
    lie within ``h`` of the rows it reads there), decodes every frame exactly once; memory is
    the slab being returned plus ``keep`` frames, whatever the video's length.  A read that
    starts before the window (``circular`` padding at the start reads the last frames first)
    reopens the file and decodes from the first frame again: correct, and counted in
    :attr:`restarts`.  With ``circular``, the first ``keep`` frames are kept as well, so a
    consumer that wraps around in time decodes the video twice in all (once to reach the
    last frames for the first slab, once in order), not once per slab near the end.
    :meth:`expect` sets ``keep`` and ``circular`` from the slabs a consumer will read.

    Attributes
    ----------
    shape : tuple of int
        ``(frames, rows, cols, channels)``.
    dtype : numpy.dtype
        ``uint8`` or ``uint16``.
    rate : float
        Frames per second (the mean rate of a variable-rate video).
    form : Form
        How the video is stored (codec, pixel format, timestamps, other streams).
    signal : Signal
        A signal with no frames that describes the video as :func:`load` would.
    restarts : int
        How many times the decoder went back to the first frame.
    decoded : int
        Frames decoded so far, restarts included.
    """

    def __init__(
        self, path: PathLike, limits: Limits, keep: int | None, circular: bool = False
    ) -> None:
        self.path = Path(path)
        self._limits = limits
        inp = _open_input(self.path, limits)
        try:
            timing = _count_packets(inp, limits)
            self.form = _form(inp, timing)
        finally:
            inp.close()
        lay = inp.layout
        self._layout = lay
        self.shape: tuple[int, ...] = (timing.count, inp.rows, inp.cols, lay.channels)
        self.dtype = lay.dtype
        self.rate = 1.0 / self.form.spacing[0] if self.form.spacing else 0.0
        frame_bytes = inp.rows * inp.cols * lay.channels * lay.dtype.itemsize
        self.keep = max(2, min(256, (64 << 20) // max(1, frame_bytes))) if keep is None else keep
        empty = np.empty((0, *self.shape[1:]), dtype=self.dtype)
        self.signal = Signal(empty, "volume", 3, rate=self.rate, source=self.path, form=self.form)
        self.restarts = 0
        self.decoded = 0
        self._inp: _Input | None = None
        self._frames: Iterator[np.ndarray] | None = None
        self._cache: deque[np.ndarray] = deque(maxlen=self.keep)
        self._head: list[np.ndarray] = []
        self._head_size = self.keep if circular else 0
        self._next = 0

    def expect(self, halo: int, wrap: bool) -> None:
        """Keep ``halo + 1`` frames behind (and the first ones too when ``wrap``).

        :func:`convcli.jobs.stream.correlate_rows` says so before its first read, so that
        every frame is decoded once (twice in all with circular padding).
        """
        self.keep = max(2, int(halo) + 1)
        self._cache = deque(self._cache, maxlen=self.keep)
        self._head_size = self.keep if wrap else 0

    # the decoder
    def _start(self) -> None:
        self._stop_decoder()
        inp = _open_input(self.path, self._limits)
        cc = inp.stream.codec_context
        cc.thread_type = "AUTO"
        cc.thread_count = 0
        self._inp = inp
        self._frames = self._decode(inp)
        self._cache.clear()
        self._next = 0

    def _stop_decoder(self) -> None:
        if self._inp is not None:
            self._inp.close()
        self._inp = None
        self._frames = None

    def _decode(self, inp: _Input) -> Iterator[np.ndarray]:
        lay = self._layout
        for packet in inp.container.demux(inp.stream):
            for frame in packet.decode():
                if frame.width != inp.cols or frame.height != inp.rows:
                    raise SignalReadError(
                        f"{self.path}: the frame size changes at frame {self._next}: "
                        f"{frame.height}x{frame.width} (rows x cols), not "
                        f"{inp.rows}x{inp.cols}"
                    )
                array = frame.to_ndarray(format=lay.to_format)  # the frame's matrix and range
                if array.ndim == 2:
                    array = array[:, :, None]
                yield array

    def _advance(self) -> np.ndarray:
        """Decode the next frame (watched by the caller), keep it in the window."""
        assert self._frames is not None
        frame = next(self._frames, None)
        if frame is None:
            raise SignalReadError(
                f"{self.path}: the video stream ends at frame {self._next}, but it holds "
                f"{self.shape[0]} frames"
            )
        self._cache.append(frame)
        if self._next == len(self._head) < self._head_size:
            self._head.append(frame)
        self._next += 1
        self.decoded += 1
        return frame

    def _check_end(self) -> None:
        """After the last frame: the decoder must have no more."""
        assert self._frames is not None
        if next(self._frames, None) is not None:
            raise SignalReadError(
                f"{self.path}: the video stream decodes to more than its {self.shape[0]} frames"
            )

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return frames ``start:stop`` as ``(stop - start, rows, cols, channels)``.

        Raises
        ------
        SignalReadError
            A frame cannot be decoded, FFmpeg reported damage, or the stream holds another
            number of frames than counted.
        """
        n = self.shape[0]
        if not 0 <= start <= stop <= n:
            raise ValueError(f"frames {start}:{stop} are outside 0:{n}")
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        head = len(self._head)  # frames below it are served from the head
        need = max(start, head)
        if self._frames is None or (need < stop and need < self._next - len(self._cache)):
            if self._frames is not None:
                self.restarts += 1
            self._start()
        first = self._next - len(self._cache)
        for i in range(start, min(stop, head)):
            out[i - start] = self._head[i]
        for i in range(need, min(stop, self._next)):
            out[i - start] = self._cache[i - first]
        av = _av(self.path)
        with _ffmpeg_log(av) as logs:
            try:
                while self._next < stop:
                    frame = self._advance()
                    if self._next - 1 >= start:
                        out[self._next - 1 - start] = frame
                if stop == n and self._next == n:
                    self._check_end()
            except av.FFmpegError as exc:
                lines = _errors(av, logs)
                why = _joined(lines) if lines else _one_line(exc)
                raise SignalReadError(f"{self.path}: damaged video: {why}") from None
        _check_logs(av, self.path, logs, self._limits)
        return out

    def close(self) -> None:
        """Close the decoder and its file."""
        self._stop_decoder()
        self._cache.clear()
        self._head.clear()

    def __enter__(self) -> VideoRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(
    path: PathLike,
    *,
    limits: Limits | None = None,
    keep: int | None = None,
    circular: bool = False,
) -> VideoRows:
    """Open a video for reading frame blocks along time.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    limits : Limits, optional
        The budgets, checked from the header and the frame count.
    keep : int, optional
        Frames kept decoded behind the last one read: give the halo of the slabs (the
        kernel's effective length along time less one) so that no frame is decoded twice.
        Default: as many as fit in 64 MiB, between 2 and 256.
    circular : bool, optional
        The consumer pads time circularly: keep the first ``keep`` frames too (memory:
        ``2 * keep`` frames besides the slab).

    Returns
    -------
    VideoRows
        ``shape``, ``dtype``, ``read(start, stop)``, ``close()``; also ``signal`` (the
        description :func:`load` would give, with no frames) and ``form``.

    Raises
    ------
    SignalReadError
        As :func:`load`, for what the header and the counting pass can tell.
    """
    return VideoRows(path, DEFAULT_LIMITS if limits is None else limits, keep, circular)


def read_video(
    path: PathLike, kind: str = "auto", *, gray: bool = False, limits: Limits | None = None
) -> Signal:
    """Load a video as a volume ``(frames, rows, cols, channels)``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    kind : str, optional
        ``"auto"`` or ``"volume"``; ``"image"`` gives the first frame; ``"array"`` the 4-D
        array with every axis spatial.
    gray : bool, optional
        Convert to one channel (ITU-R 601-2 luma, as :func:`convcli.io.pillow_image.to_gray`).
    limits : Limits, optional
        The budgets.

    Returns
    -------
    Signal
        ``channel_axis`` 3 (``2`` for an image), ``rate`` in frames per second.

    Raises
    ------
    SignalReadError
        Not a video (an audio-only MP4 says what it holds), a truncated file (an MP4
        without its ``moov`` atom), damaged frames, an unread codec, or no PyAV.
    LimitError
        Larger than ``limits``.
    """
    if kind not in ("auto", "volume", "image", "array"):
        raise SignalReadError(f"{path}: a video cannot be read as {kind}")
    with open_video(path, limits=limits, keep=0) as rows:
        count = 1 if kind == "image" else rows.shape[0]
        data = rows.read(0, count)
        sig = rows.signal
    channel_axis: int | None = 3
    if gray and data.shape[3] > 1:
        from .pillow_image import to_gray

        data = to_gray(data, 3, Path(path))
        channel_axis = None
    elif data.shape[3] == 1 and kind != "array":
        data = data[..., 0]
        channel_axis = None
    if kind == "image":  # the first frame: rows and columns, no frame interval
        form = replace(sig.form, spacing=(1.0, 1.0), units=("", ""))
        image_axis = None if channel_axis is None else 2
        return Signal(data[0], "image", image_axis, rate=None, source=sig.source, form=form)
    if kind == "array":  # every axis spatial: the channels are spaced by nothing
        form = replace(sig.form, spacing=(*(sig.form.spacing or ()), 1.0), units=("s", "", "", ""))
        return Signal(data, "array", None, rate=sig.rate, source=sig.source, form=form)
    return Signal(data, "volume", channel_axis, rate=sig.rate, source=sig.source, form=sig.form)


# --- writing ---------------------------------------------------------------------------------


def _out_format(path: Path) -> str:
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise UnsupportedError(
            f"{path}: {path.suffix or 'no extension'} is not a video extension "
            f"({' '.join(EXTENSIONS)})"
        )
    return fmt


def choose_codec(form: Form, out_fmt: str) -> str:
    """Return the codec a video of ``form`` is written with into ``out_fmt``.

    The input's codec where an encoder exists (``info["encoder_codec"]`` overrides it), FFV1
    for a ``.mkv`` written from another container, else the container's default.

    Examples
    --------
    >>> choose_codec(Form(format="MP4", info={"codec": "h264"}), "MP4")
    'h264'
    >>> choose_codec(Form(format="MP4", info={"codec": "h264"}), "MKV")
    'ffv1'
    >>> choose_codec(Form(format="MKV", info={"codec": "h264"}), "WEBM")
    'vp9'
    """
    forced = form.info.get("encoder_codec")
    if forced:
        return str(forced)
    codec = form.info.get("codec")
    if out_fmt == "MKV" and form.format not in ("MKV", "WEBM"):
        return "ffv1"
    if out_fmt == "WEBM" and codec not in ("vp8", "vp9", "av1"):
        return DEFAULT_ENCODER["WEBM"]
    if codec in ENCODERS:
        return str(codec)
    return DEFAULT_ENCODER[out_fmt]


#: Encoders that store what they are given exactly.
LOSSLESS = frozenset({"ffv1", "utvideo", "huffyuv", "ffvhuff", "png", "rawvideo"})


def _pix_fmt(av: Any, encoder: str, wanted: str | None, deep: bool, channels: int) -> str:
    """Return the pixel format to encode in.

    ``wanted`` (the input's) if the encoder takes it and it holds the frames' depth (a
    ``--dtype uint16`` result of an 8-bit video is not cut back to 8 bits); otherwise the
    one that keeps the channels and the bit depth, in RGB (or gray) for a lossless encoder
    so that the frames are stored exactly, else the encoder's first choice.
    """
    names = [f.name for f in (av.Codec(encoder, "w").video_formats or ())]
    if not names:
        return wanted or "yuv420p"
    if wanted is not None and wanted in names:
        kept = layout_of(av, wanted)  # the input's, if it holds these frames' depth
        if (kept.bits > 8) == deep and kept.channels >= channels:
            return wanted
    exact = encoder in LOSSLESS

    def score(name: str) -> tuple[bool, bool, bool, int]:
        lay = layout_of(av, name)
        fmt = av.VideoFormat(name)
        rgb = fmt.is_rgb or channels == 1
        bits_ok = lay.bits == (16 if deep else 8) if exact else (lay.bits > 8) == deep
        return (lay.channels == channels, bits_ok, exact and rgb, -names.index(name))

    return max(names, key=score)


class VideoWriter:
    """Encode frames as they come into a video file.

    Created by :func:`video_writer` (which writes atomically to a path) or :func:`open_writer`
    (into the temporary file the caller made); ``write(block)`` takes ``(frames, rows, cols[,
    channels])`` blocks in order (``uint8``, or ``uint16`` for deep pixel formats), and
    ``close()`` flushes the encoder, copies what is left of the input's audio and subtitle
    streams and (for a path) moves the file into place.  ``abort()`` (or an exception inside
    a ``with`` block) removes the temporary file.

    Parameters
    ----------
    path : str or os.PathLike
        The output; its extension names the container.
    form : Form
        The input's form (codec, pixel format, timestamps, colour tags, other streams), or
        a plain one (frames from elsewhere).  The writer puts ``quality`` and ``encoder`` in
        its ``info``.
    rate : float or None
        The output's frame rate: the input's over the time stride (None keeps it).
    fh : binary file, optional
        Write into this open file (the caller commits it); else a temporary file beside
        ``path`` is written and moved into place.
    source : str or os.PathLike, optional
        The input whose audio and subtitle streams are copied.
    frame_shape : tuple of int, optional
        ``(rows, cols[, channels])`` with ``dtype``: open the video stream at once.
    dtype : numpy.dtype, optional
        The frames' dtype (with ``frame_shape``).
    overwrite, protect
        As :func:`convcli.io.atomic.atomic_file` takes them (``fh`` not given).

    Attributes
    ----------
    quality : str
        The encoder and its settings in words (``"H.264 (libx264) crf 18, preset medium,
        yuv420p"``), also put in ``signal.form.info["quality"]``.
    encoder : str
        FFmpeg's encoder name.
    frames : int
        Frames written so far.
    """

    def __init__(
        self,
        path: PathLike,
        form: Form,
        rate: float | None,
        *,
        fh: Any = None,
        source: PathLike | None = None,
        frame_shape: tuple[int, ...] | None = None,
        dtype: Any = None,
        overwrite: bool = False,
        protect: Iterable[PathLike] = (),
    ) -> None:
        self.path = Path(path)
        self._av = av = _av(self.path, writing=True)
        self._fmt = _out_format(self.path)
        self._form = form
        info = form.info
        if "rate" in info:  # a video: the signal's rate says the time stride
            self._in_rate = Fraction(info["rate"])
            self._stride = _time_stride(self.path, self._in_rate, rate)
        else:  # frames from elsewhere: at the signal's rate, else 25 per second
            given = Fraction(rate or 25).limit_denominator(1 << 20)
            self._in_rate, self._stride = given, 1
        if self._fmt == "AVI" and info.get("vfr"):
            raise UnsupportedError(
                f"{self.path}: the input has a variable frame rate and AVI holds a constant "
                f"one; write .mkv, .mp4 or .mov"
            )
        self._codec = codec = choose_codec(form, self._fmt)
        self._enc = ENCODERS[codec]
        self.encoder = self._enc.name
        self.frames = 0
        self.quality = ""
        self._stream: Any = None
        self._copy: list[tuple[Any, Any]] = []
        self._source: Any = None
        self._pending: Iterator[Any] | None = None
        self._lookahead: Any = None
        self._by_index: dict[int, Any] = {}
        self._tb = Fraction(1, 25)
        self._stack = contextlib.ExitStack()
        try:
            if fh is None:
                fh = self._stack.enter_context(
                    atomic_file(self.path, overwrite=overwrite, protect=protect)
                )
            self._out = av.open(fh, "w", format=FORMATS[self._fmt])
            self._stack.callback(self._close_out)
            if frame_shape is not None and len(frame_shape) >= 2 and all(frame_shape[:2]):
                channels = frame_shape[2] if len(frame_shape) == 3 else 1  # video stream first
                deep = np.dtype(dtype) == np.uint16
                self._open_video(frame_shape[0], frame_shape[1], channels, deep)
            self._open_copies(source)
        except BaseException as exc:
            self._fail(exc)
            raise

    # -- set-up
    def _close_out(self) -> None:
        with contextlib.suppress(Exception):
            self._out.close()
        if self._source is not None:
            with contextlib.suppress(Exception):
                self._source.close()

    def _open_copies(self, path: PathLike | None) -> None:
        """Add the input's audio and subtitle streams, to be copied packet by packet."""
        wanted = [s for s in self._form.info.get("streams", ()) if s.get("copied")]
        if not wanted or path is None or not Path(path).is_file():
            return
        av = self._av
        fmt = self._form.format or "MP4"
        fh, source = _open_container(av, Path(path), fmt, Limits(None, None, None))
        self._stack.callback(fh.close)
        self._source = source
        for entry in wanted:
            stream = source.streams[entry["index"]]
            try:
                out = self._out.add_stream_from_template(stream)
            except (ValueError, av.FFmpegError) as exc:
                raise UnsupportedError(
                    f"{self.path}: the input's {entry['type']} stream {entry['index']} "
                    f"({entry['codec']}) cannot be copied into {self._fmt}: {_one_line(exc)}; "
                    f"write the input's container ({fmt.lower()})"
                ) from None
            self._copy.append((stream, out))
        self._by_index = {s.index: o for s, o in self._copy}
        self._pending = iter(source.demux(*[s for s, _ in self._copy]))

    def _open_video(self, rows: int, cols: int, channels: int, deep: bool) -> None:
        av, form, info = self._av, self._form, self._form.info
        wanted = info.get("pix_fmt") if self._codec == info.get("codec") else None
        pix_fmt = _pix_fmt(av, self.encoder, wanted, deep, channels)
        if layout_of(av, pix_fmt).channels < channels:
            raise UnsupportedError(
                f"{self.path}: {self._enc.quality.split(' (')[0]} in {self._fmt} holds no alpha "
                f"channel ({pix_fmt}); write .mkv (FFV1 keeps it)"
            )
        half_w, half_h = _subsampled(av, pix_fmt)
        if (half_w and cols % 2) or (half_h and rows % 2):
            raise UnsupportedError(
                f"{self.path}: {pix_fmt} (chroma subsampled) needs an even frame size, not "
                f"{rows}x{cols} (rows x cols); write .mkv (FFV1 keeps any size)"
            )
        rate = self._in_rate / self._stride
        stream = self._out.add_stream(self.encoder, rate=rate)
        stream.width, stream.height, stream.pix_fmt = cols, rows, pix_fmt
        self._tb = self._time_base(rate)  # the muxer may change the stream's: keep the codec's
        stream.time_base = self._tb
        stream.codec_context.time_base = self._tb
        cc = stream.codec_context
        for attr in ("colorspace", "color_range", "color_primaries", "color_trc"):
            if info.get(attr):
                with contextlib.suppress(Exception):
                    setattr(cc, attr, int(info[attr]))
        stream.options = dict(self._enc.options)
        self._stream = stream
        self.quality = f"{self._enc.quality}, {pix_fmt}"
        if self._enc.name == "libx264" or self._enc.name == "libx265":
            self.quality = f"{self._enc.quality}, preset medium, {pix_fmt}"
        form.info["quality"] = self.quality
        form.info["encoder"] = self.encoder

    def _time_base(self, rate: Fraction) -> Fraction:
        if self._fmt == "AVI" or "time_base" not in self._form.info:
            return 1 / rate
        return Fraction(self._form.info["time_base"])

    def _pts(self, o: int) -> int:
        """Return the timestamp of output frame ``o``: input frame ``o * stride``'s."""
        if self._fmt == "AVI" or "pts" not in self._form.info:
            return o
        pts = self._form.info["pts"]
        i = o * self._stride
        if i < len(pts):
            return int(pts[i])
        step = (pts[-1] - pts[0]) / (len(pts) - 1) if len(pts) > 1 else 1
        return int(round(pts[-1] + (i - len(pts) + 1) * step))

    # -- frames
    def write(self, block: np.ndarray) -> None:
        """Encode frames ``(count, rows, cols[, channels])``, in order after the last ones.

        Raises
        ------
        UnsupportedError
            A dtype other than uint8/uint16, a channel count other than 1, 3 or 4, or a
            frame size that changes.
        SignalWriteError
            The encoder or muxer failed.
        """
        try:
            with self._encoding():
                self._write(np.asarray(block))
        except BaseException as exc:
            self._fail(exc)
            raise

    @contextlib.contextmanager
    def _encoding(self) -> Iterator[None]:
        """Make an encoder's or muxer's failure one line; keep what encoders print quiet.

        libx265 and SVT-AV1 print to descriptor 2 on their own: that text is caught, and
        shown only in the message of a failure.
        """
        av = self._av
        with captured_stderr() as err, _ffmpeg_log(av) as logs:
            try:
                yield
            except (av.FFmpegError, OSError) as exc:
                printed = [" ".join(line.split()) for line in err.text.splitlines()]
                lines = _errors(av, logs) + [line for line in printed if line]
                why = _joined(lines) if lines else _one_line(exc)
                raise SignalWriteError(f"{self.path}: cannot write {self._fmt}: {why}") from None

    def _write(self, block: np.ndarray) -> None:
        av = self._av
        if block.ndim == 3:
            block = block[..., None]
        if block.ndim != 4 or block.dtype not in (np.uint8, np.uint16):
            raise UnsupportedError(
                f"{self.path}: video frames are uint8 or uint16 (frames, rows, cols[, "
                f"channels]), not {block.dtype} of shape {block.shape}"
            )
        count, rows, cols, channels = block.shape
        if channels not in (1, 3, 4):
            raise UnsupportedError(
                f"{self.path}: a video frame has 1, 3 or 4 channels, not {channels}"
            )
        deep = block.dtype == np.uint16
        if self._stream is None:
            self._open_video(rows, cols, channels, deep)
        elif (rows, cols) != (self._stream.height, self._stream.width):
            raise UnsupportedError(
                f"{self.path}: the frame size changes from "
                f"{self._stream.height}x{self._stream.width} to {rows}x{cols}"
            )
        fmt = {1: "gray", 3: "rgb24", 4: "rgba"}[channels]
        if deep:
            fmt = {1: "gray16le", 3: "rgb48le", 4: "rgba64le"}[channels]
        info = self._form.info
        for plane in block:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(plane if channels > 1 else plane[..., 0]), format=fmt
            )
            frame = frame.reformat(
                format=self._stream.pix_fmt,
                dst_colorspace=_SWS_MATRIX.get(int(info.get("colorspace") or 2)),
                dst_color_range=info.get("color_range") or None,
            )
            frame.pts = self._pts(self.frames)
            frame.time_base = self._tb
            self._mux_video(self._stream.encode(frame))
            self.frames += 1

    def _mux_video(self, packets: list[Any]) -> None:
        for packet in packets:
            self._out.mux(packet)
            if packet.pts is not None and packet.time_base is not None:
                self._mux_copies(float(packet.pts * packet.time_base))

    def _mux_copies(self, until: float | None) -> None:
        """Copy the input's other packets up to time ``until`` (all when None)."""
        if self._pending is None:
            return
        while True:
            packet = self._lookahead or next(self._pending, None)
            self._lookahead = None
            if packet is None:
                self._pending = None
                return
            if packet.size == 0 and packet.dts is None:
                continue
            stamp = packet.dts if packet.dts is not None else packet.pts
            if until is not None and stamp is not None and float(stamp * packet.time_base) > until:
                self._lookahead = packet
                return
            packet.stream = self._by_index[packet.stream_index]
            self._out.mux(packet)

    # -- the end
    def close(self) -> None:
        """Flush the encoder, copy the rest of the other streams, and move the file in place.

        Raises
        ------
        SignalWriteError
            No frame was written, or the encoder or muxer failed.
        """
        try:
            if self._stream is None:
                raise SignalWriteError(f"{self.path}: no frame to write")
            with self._encoding():
                self._mux_video(self._stream.encode(None))
                self._mux_copies(None)
                self._out.close()
        except BaseException as exc:
            self._fail(exc)
            raise
        self._stack.close()

    def abort(self) -> None:
        """Give up: close everything and remove the temporary file."""
        self._fail(SignalWriteError(f"{self.path}: aborted"))

    def _fail(self, exc: BaseException) -> None:
        stack, self._stack = self._stack, contextlib.ExitStack()
        with contextlib.suppress(BaseException):
            stack.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._fail(exc)


#: FFmpeg's AVColorSpace (a stream's tag) -> swscale's matrix (SWS_CS_*), for the writer; an
#: unspecified matrix is swscale's default, BT.601, as when the frames were decoded.
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}


def _subsampled(av: Any, pix_fmt: str) -> tuple[bool, bool]:
    """Return whether a pixel format halves the chroma's width, and its height."""
    fmt = av.VideoFormat(pix_fmt, 4, 4)
    return bool(fmt.chroma_width(4) < 4), bool(fmt.chroma_height(4) < 4)


def _time_stride(path: Path, in_rate: Fraction, rate: float | None) -> int:
    """Return the time stride: the input's frame rate over the signal's."""
    if rate is None:
        return 1
    ratio = float(in_rate) / float(rate)
    stride = round(ratio)
    if stride < 1 or abs(ratio - stride) > 1e-6 * ratio:
        raise UnsupportedError(
            f"{path}: the frame rate {float(rate):g} is not the input's {float(in_rate):g} "
            f"divided by a whole stride"
        )
    return stride


def video_writer(
    path: PathLike,
    signal: Signal,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
) -> VideoWriter:
    """Open a video for writing frames in order along time.

    Parameters
    ----------
    path : str or os.PathLike
        The output; its extension names the container (:data:`EXTENSIONS`).
    signal : Signal
        Describes the output: its ``form`` (the input's codec, pixel format, timestamps,
        colour tags and other streams, as :func:`load` or :func:`open_rows` gave them),
        ``rate`` (the output frame rate: the input's divided by the time stride; None keeps
        the input's) and ``source`` (the input, whose audio and subtitle streams are
        copied).  Its ``data`` is not used.
    overwrite : bool, optional
        Replace an existing output.
    protect : iterable of str or os.PathLike, optional
        Paths never written (the inputs).

    Returns
    -------
    VideoWriter
        ``write(block)``, ``close()``, ``abort()``, and ``quality``.

    Raises
    ------
    UnsupportedError
        Not a video extension, no PyAV, a rate that is not the input's over a whole
        stride, a stream the container cannot hold, a variable frame rate into AVI.
    OutputExistsError
        The output exists (without ``overwrite``) or is an input.
    """
    data = signal.data
    return VideoWriter(
        path,
        signal.form,
        signal.rate,
        source=signal.source,
        frame_shape=tuple(data.shape[1:]) if data.ndim >= 3 else None,
        dtype=data.dtype,
        overwrite=overwrite,
        protect=tuple(protect),
    )


def write_video(
    signal: Signal,
    path: PathLike,
    *,
    overwrite: bool = False,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Write a whole volume (``(frames, rows, cols[, channels])``, uint8 or uint16) as video.

    See :func:`video_writer` for the codec, quality, timing and copied streams.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    data = np.asarray(signal.data)
    if signal.channel_axis is not None and signal.channel_axis != data.ndim - 1:
        data = np.moveaxis(data, signal.channel_axis, -1)
    writer = video_writer(path, signal, overwrite=overwrite, protect=protect)
    with writer:
        writer.write(data)
    return Path(path)


# --- the io table's functions ----------------------------------------------------------------


def probe(path: Path, fmt: str, limits: Limits) -> dict[str, Any]:
    """Describe a video from its container header (:func:`probe_video`)."""
    return probe_video(path, limits=limits)


def load(path: Path, fmt: str, kind: str, gray: bool, limits: Limits) -> Signal:
    """Load a video as ``kind`` (:func:`read_video`)."""
    if kind == "audio":
        raise SignalReadError(f"{path}: is a video; it cannot be read as audio")
    return read_video(path, kind, gray=gray, limits=limits)


def open_rows(path: Path, fmt: str, kind: str, limits: Limits) -> tuple[VideoRows, Signal] | None:
    """Open a video to decode its frames block by block (read as ``auto`` or ``volume``).

    The frames are counted first (one demux pass, no decoding), so the signal's shape is
    known before the first slab; :meth:`VideoRows.expect` takes the consumer's halo.
    """
    if kind not in ("auto", "volume"):
        return None
    rows = open_video(path, limits=limits)
    return rows, rows.signal


def save(
    signal: Signal,
    data: np.ndarray,
    target: Any,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
) -> None:
    """Write a whole volume (channels last) as the container the target names, atomically."""
    with atomic_file(target.path, overwrite=overwrite, protect=protect) as fh:
        writer = VideoWriter(
            target.path,
            signal.form,
            signal.rate,
            fh=fh,
            source=signal.source,
            frame_shape=tuple(data.shape[1:]),
            dtype=data.dtype,
        )
        with writer:
            writer.write(data)


def open_writer(
    fh: Any,
    target: Any,
    shape: tuple[int, ...],
    dtype: np.dtype,
    form: Form,
    rate: float | None,
) -> VideoWriter:
    """Start a video of ``shape`` (frames first) whose frames come block by block.

    The input's audio and subtitle streams are copied from ``form.info["source"]``.
    """
    return VideoWriter(
        target.path,
        form,
        rate,
        fh=fh,
        source=form.info.get("source"),
        frame_shape=tuple(shape[1:]),
        dtype=dtype,
    )
