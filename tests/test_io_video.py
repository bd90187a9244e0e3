"""The video family (PyAV): identify, probe, load, the row reader, the block writer, hostile files.

Every video is made here by PyAV from seeded arrays: a few 32x24 frames, so the whole file
runs in seconds.  Decoded values are compared with PyAV's own decode of the same file; a
lossless codec (FFV1 in RGB) with the arrays it was given.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from convcli import convolve  # noqa: E402
from convcli.errors import SignalReadError, UnsupportedError  # noqa: E402
from convcli.io import LimitError, Limits, Signal  # noqa: E402
from convcli.io import av_video as V  # noqa: E402
from convcli.io.rows import RowSource  # noqa: E402
from convcli.jobs.stream import correlate_rows  # noqa: E402

ROWS, COLS, FRAMES, RATE = 24, 32, 8, 24


def frames_of(n: int = FRAMES, seed: int = 0, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """Smooth moving content (codecs keep it well) plus a little noise."""
    rng = np.random.default_rng(seed)
    t, r, c = np.meshgrid(np.arange(n), np.arange(rows), np.arange(cols), indexing="ij")
    base = np.stack([(r * 7 + t * 11) % 256, (c * 5 + t * 3) % 256, (r + c + t * 17) % 256], -1)
    return np.clip(base + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)


def make_video(
    path: Path,
    codec: str = "ffv1",
    pix_fmt: str = "bgr0",
    data: np.ndarray | None = None,
    *,
    fmt: str = "rgb24",
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    audio: bool = False,
    subtitles: Path | None = None,
) -> np.ndarray:
    """Write ``data`` (default :func:`frames_of`) with PyAV; return what was given."""
    data = frames_of() if data is None else data
    out = av.open(str(path), "w")
    v = out.add_stream(codec, rate=RATE)
    v.width, v.height, v.pix_fmt = data.shape[2], data.shape[1], pix_fmt
    if time_base is not None:
        v.time_base = v.codec_context.time_base = time_base
    a = None
    if audio:
        a = out.add_stream("aac", rate=8000)
        a.layout = "mono"
    t = None
    if subtitles is not None:
        srt = av.open(str(subtitles))
        t = out.add_stream_from_template(srt.streams[0])
    for i, img in enumerate(data):
        frame = av.VideoFrame.from_ndarray(img if img.ndim == 3 else img, format=fmt)
        frame.pts = i if pts is None else pts[i]
        if time_base is not None:
            frame.time_base = time_base
        for p in v.encode(frame):
            out.mux(p)
    for p in v.encode():
        out.mux(p)
    if a is not None:
        for k in range(6):
            wave = np.sin(np.arange(1024) * 0.05 + k).astype(np.float32)[None] * 0.3
            af = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            af.sample_rate, af.pts = 8000, k * 1024
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode():
            out.mux(p)
    if t is not None:
        for p in srt.demux():
            if p.size:
                p.stream = t
                out.mux(p)
    out.close()
    return data


def pyav_frames(path: Path, fmt: str = "rgb24") -> np.ndarray:
    """The reference: PyAV's own decode."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format=fmt) for f in c.decode(video=0)])


def packets(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as c:
        stream = getattr(c.streams, kind)[0]
        return [bytes(p) for p in c.demux(stream) if p.size]


def srt_file(tmp_path: Path) -> Path:
    p = tmp_path / "subs.srt"
    p.write_text(
        "1\n00:00:00,000 --> 00:00:00,200\nhello\n\n2\n00:00:00,200 --> 00:00:00,300\nworld\n"
    )
    return p


# --- identify and probe -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41", "MP4"),
        (b"\0\0\0\x14ftypqt  \0\0\0\0qt  ", "MOV"),
        (b"\0\0\0\x08wide\0\0\0\0mdat", "MOV"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "MKV"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "WEBM"),
        (b"RIFF\0\0\0\0AVI LIST", "AVI"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1", None),
        (b"RIFF\0\0\0\0WAVEfmt ", None),
        (b"\x89PNG\r\n\x1a\n", None),
    ],
)
def test_identify(head, fmt):
    assert V.identify(head) == fmt


def test_identify_files_written_by_pyav(tmp_path):
    for name, codec, pix in [
        ("a.mp4", "libx264", "yuv420p"),
        ("a.mov", "libx264", "yuv420p"),
        ("a.mkv", "ffv1", "bgr0"),
        ("a.webm", "libvpx-vp9", "yuv420p"),
        ("a.avi", "mpeg4", "yuv420p"),
    ]:
        make_video(tmp_path / name, codec, pix)
        head = (tmp_path / name).read_bytes()[:64]
        assert V.identify(head) == V.EXTENSIONS[Path(name).suffix], name


def test_probe_reads_the_header(tmp_path):
    p = tmp_path / "a.mp4"
    make_video(p, "libx264", "yuv420p", audio=True)
    info = V.probe_video(p)
    assert info["kind"] == "volume" and info["format"] == "MP4"
    assert info["shape"] == [FRAMES, ROWS, COLS, 3] and info["dtype"] == "uint8"
    assert info["frames_exact"] is True and info["rate"] == RATE
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["streams"] == [{"index": 1, "type": "audio", "codec": "aac", "copied": True}]
    mkv = tmp_path / "a.mkv"
    make_video(mkv)
    info = V.probe_video(mkv)  # Matroska keeps no count: duration x rate
    assert info["frames"] == FRAMES and info["frames_exact"] is False


# --- load ------------------------------------------------------------------------------------


def test_lossless_load_is_exact(tmp_path):
    p = tmp_path / "a.mkv"
    given = make_video(p, "ffv1", "bgr0")
    s = V.read_video(p)
    assert s.kind == "volume" and s.channel_axis == 3 and s.rate == RATE
    np.testing.assert_array_equal(s.data, given)
    assert s.form.container == "video" and s.form.info["codec"] == "ffv1"
    assert s.form.spacing == (pytest.approx(1 / RATE), 1.0, 1.0) and s.form.units == ("s", "", "")


def test_lossy_load_equals_pyav(tmp_path):
    p = tmp_path / "a.mp4"
    make_video(p, "libx264", "yuv420p")
    np.testing.assert_array_equal(V.read_video(p).data, pyav_frames(p))
    first = V.read_video(p, "image")
    assert first.kind == "image" and first.data.shape == (ROWS, COLS, 3)
    gray = V.read_video(p, gray=True)
    assert gray.data.shape == (FRAMES, ROWS, COLS) and gray.channel_axis is None


def test_ten_bit_loads_as_uint16(tmp_path):
    p = tmp_path / "ten.mp4"
    make_video(p, "libx264", "yuv420p10le")
    s = V.read_video(p)
    assert s.data.dtype == np.uint16 and s.form.bits == 10 and s.form.mode == "RGB;16"
    np.testing.assert_array_equal(s.data, pyav_frames(p, "rgb48le"))
    assert s.data.max() > 255 * 16  # full 16-bit scale
    rgb10 = tmp_path / "rgb10.mkv"  # a lossless 10-bit RGB source round-trips exactly
    given = (frames_of().astype(np.uint16) * 4) << 6
    make_video(rgb10, "ffv1", "gbrp10le", given, fmt="rgb48le")
    s = V.read_video(rgb10)
    np.testing.assert_array_equal(s.data >> 6, given >> 6)
    out = tmp_path / "out.mkv"
    V.write_video(s, out)
    np.testing.assert_array_equal(V.read_video(out).data, s.data)


def test_gray_and_alpha_layouts(tmp_path):
    gray = frames_of()[..., 0]
    make_video(tmp_path / "g.mkv", "ffv1", "gray", gray, fmt="gray")
    s = V.read_video(tmp_path / "g.mkv")
    assert s.data.shape == (FRAMES, ROWS, COLS) and s.form.mode == "L"
    np.testing.assert_array_equal(s.data, gray)
    rgba = np.concatenate([frames_of(), frames_of(seed=1)[..., :1]], -1)
    make_video(tmp_path / "a.mkv", "ffv1", "bgra", rgba, fmt="rgba")
    s = V.read_video(tmp_path / "a.mkv")
    assert s.form.mode == "RGBA"
    np.testing.assert_array_equal(s.data, rgba)


# --- the row reader ------------------------------------------------------------------------------


def test_rows_equal_the_whole_load_and_decode_each_frame_once(tmp_path):
    p = tmp_path / "a.mp4"
    make_video(p, "libx264", "yuv420p", frames_of(20))
    whole = V.read_video(p).data
    with V.open_video(p, keep=2) as rows:
        assert rows.shape == whole.shape and rows.dtype == whole.dtype
        # slabs of 4 output frames with a halo of 2 (a 3-frame kernel), reflect padding
        for start in range(0, 20, 4):
            lo, hi = max(start - 1, 0), min(start + 5, 20)
            np.testing.assert_array_equal(rows.read(lo, hi), whole[lo:hi])
        assert rows.decoded == 20 and rows.restarts == 0
        assert len(rows._cache) <= 2  # memory: the slab and the halo, not the video
        np.testing.assert_array_equal(rows.read(0, 3), whole[:3])  # before the window
        assert rows.restarts == 1


class VideoSource(RowSource):
    """The row reader as the stream module's RowSource (as the io table will wrap it)."""

    def __init__(self, rows: V.VideoRows) -> None:
        self.rows, self.shape, self.dtype = rows, rows.shape, rows.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.rows.read(start, stop)


@pytest.mark.parametrize("mode", ["zero", "reflect", "symmetric", "replicate", "circular"])
def test_time_kernel_reach_at_first_and_last_frames(tmp_path, mode):
    p = tmp_path / "a.mkv"
    given = make_video(p, "ffv1", "bgr0", frames_of(9))
    k = np.zeros((5, 1, 1))
    k[:, 0, 0] = [1.0, 2.0, 4.0, 8.0, 16.0]  # each frame's reach is visible in the sum
    want = convolve(given, k, pad_mode=mode, channel_axis=-1)
    got = np.empty_like(want)

    def write(o0, block):
        got[o0 : o0 + len(block)] = block

    with V.open_video(p, keep=4, circular=mode == "circular") as rows:
        correlate_rows(VideoSource(rows), k, write, pad_mode=mode, channel_axis=3, rows_per_slab=2)
        assert rows.restarts == (1 if mode == "circular" else 0)
        assert rows.decoded == (18 if mode == "circular" else 9)
    np.testing.assert_allclose(got, want, rtol=1e-6)


# --- the writer ------------------------------------------------------------------------------


def test_three_frame_box_slab_by_slab_into_a_lossless_writer(tmp_path):
    src, out = tmp_path / "a.mkv", tmp_path / "b.mkv"
    given = make_video(src, "ffv1", "bgr0", frames_of(10))
    k = np.full((3, 1, 1), 1 / 3)
    want = np.rint(convolve(given, k, pad_mode="reflect", channel_axis=-1)).astype(np.uint8)
    with V.open_video(src, keep=2) as rows:
        writer = V.video_writer(out, rows.signal)

        def write(o0, block):
            writer.write(np.rint(block).astype(np.uint8))

        with writer:
            correlate_rows(
                VideoSource(rows), k, write, pad_mode="reflect", channel_axis=3, rows_per_slab=3
            )
    assert writer.quality == "FFV1 lossless, bgr0"
    np.testing.assert_array_equal(V.read_video(out).data, want)


def test_mp4_round_trip_keeps_codec_rate_audio_and_states_quality(tmp_path):
    src, out = tmp_path / "a.mp4", tmp_path / "b.mp4"
    make_video(src, "libx264", "yuv420p", audio=True)
    s = V.read_video(src)
    V.write_video(s, out)
    assert s.form.info["quality"] == "H.264 (libx264) crf 18, preset medium, yuv420p"
    t = V.read_video(out)
    assert t.form.info["codec"] == "h264" and t.form.info["pix_fmt"] == "yuv420p"
    assert t.rate == RATE and t.data.shape == s.data.shape
    assert np.abs(t.data.astype(int) - s.data).mean() < 4  # crf 18
    np.testing.assert_array_equal(t.data, pyav_frames(out))
    assert packets(out, "audio") == packets(src, "audio")
    with av.open(str(out)) as c:
        assert [x.type for x in c.streams] == ["video", "audio"]


def test_subtitles_copied_untouched(tmp_path):
    src, out = tmp_path / "a.mkv", tmp_path / "b.mkv"
    make_video(src, subtitles=srt_file(tmp_path))
    V.write_video(V.read_video(src), out)
    assert packets(out, "subtitles") == packets(src, "subtitles") == [b"hello", b"world"]


def test_codec_follows_the_container(tmp_path):
    src = tmp_path / "a.mp4"
    make_video(src, "libx264", "yuv420p")
    s = V.read_video(src)
    for name, codec in [("b.webm", "vp9"), ("b.mov", "h264"), ("b.avi", "h264"), ("b.mkv", "ffv1")]:
        V.write_video(s, tmp_path / name)
        assert V.probe_video(tmp_path / name)["codec"] == codec, name
        assert V.read_video(tmp_path / name).data.shape == s.data.shape
    assert s.form.info["quality"] == "FFV1 lossless, bgr0"  # .mkv from another container
    np.testing.assert_array_equal(V.read_video(tmp_path / "b.mkv").data, s.data)


def test_a_volume_from_elsewhere_goes_to_mkv_losslessly(tmp_path):
    data = frames_of(5)
    sig = Signal(data, "volume", 3, rate=10.0)
    V.write_video(sig, tmp_path / "v.mkv")
    back = V.read_video(tmp_path / "v.mkv")
    np.testing.assert_array_equal(back.data, data)
    assert back.rate == 10.0 and sig.form.info["quality"] == "FFV1 lossless, bgr0"
    rgba = np.concatenate([data, data[..., :1]], -1)
    with pytest.raises(UnsupportedError, match="holds no alpha channel"):
        V.write_video(Signal(rgba, "volume", 3, rate=10.0), tmp_path / "v.mp4")


def test_a_stream_the_container_cannot_hold_is_refused_and_nothing_written(tmp_path):
    src = tmp_path / "a.mp4"
    make_video(src, "libx264", "yuv420p", audio=True)
    copied = r"audio stream 1 \(aac\) cannot be copied into WEBM"
    with pytest.raises(UnsupportedError, match=copied):
        V.write_video(V.read_video(src), tmp_path / "b.webm")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.mp4"]


def test_time_stride_divides_the_rate(tmp_path):
    src, out = tmp_path / "a.mp4", tmp_path / "b.mp4"
    make_video(src, "libx264", "yuv420p", audio=True)
    s = V.read_video(src)
    V.write_video(replace(s, data=s.data[::2], rate=s.rate / 2), out)
    t = V.read_video(out)
    assert t.rate == RATE / 2 and t.data.shape[0] == FRAMES // 2
    assert packets(out, "audio") == packets(src, "audio")
    with pytest.raises(UnsupportedError, match="not the input's 24 divided by a whole stride"):
        V.video_writer(tmp_path / "c.mp4", replace(s, rate=10.0))


@pytest.mark.parametrize("name", ["vfr.mkv", "vfr.mp4"])
def test_variable_frame_rate_keeps_timestamps(tmp_path, name):
    src = tmp_path / name
    stamps = [0, 40, 80, 200, 240, 400, 440, 480]
    codec = "ffv1" if name.endswith("mkv") else "libx264"
    make_video(src, codec, "yuv420p", pts=stamps, time_base=Fraction(1, 1000))
    s = V.read_video(src)
    assert s.form.info["vfr"] is True
    for out_name in ("o.mkv", "o.mp4"):
        out = tmp_path / out_name
        V.write_video(s, out)
        with av.open(str(out)) as c:
            st = c.streams.video[0]
            seconds = [float(f.pts * st.time_base) for f in c.decode(st)]
        assert seconds == pytest.approx([t / 1000 for t in stamps], abs=1e-3)
    with pytest.raises(UnsupportedError, match="variable frame rate and AVI"):
        V.write_video(s, tmp_path / "o.avi")
    const = tmp_path / "c.mkv"
    make_video(const)
    assert V.read_video(const).form.info["vfr"] is False


def test_writer_abort_leaves_nothing(tmp_path):
    src = tmp_path / "a.mkv"
    make_video(src)
    s = V.read_video(src)
    w = V.video_writer(tmp_path / "b.mkv", s)
    w.write(s.data[:2])
    w.abort()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.mkv"]
    with pytest.raises(UnsupportedError, match="float64"):
        V.write_video(replace(s, data=s.data.astype(float)), tmp_path / "c.mkv")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.mkv"]


def test_odd_size_into_subsampled_chroma_is_refused(tmp_path):
    src = tmp_path / "a.mp4"
    make_video(src, "libx264", "yuv420p")
    s = V.read_video(src)
    with pytest.raises(UnsupportedError, match="even frame size"):
        V.write_video(replace(s, data=s.data[:, :23]), tmp_path / "b.mp4")


# --- hostile files ---------------------------------------------------------------------------


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_truncated_mp4_without_moov(tmp_path):
    src = tmp_path / "a.mp4"
    make_video(src, "libx264", "yuv420p")
    cut = tmp_path / "cut.mp4"
    data = src.read_bytes()
    cut.write_bytes(data[: data.find(b"moov") - 8])
    with pytest.raises(SignalReadError) as exc:
        V.read_video(cut)
    assert "moov atom not found" in one_line(exc)


def test_corrupt_frames_are_an_error(tmp_path):
    src = tmp_path / "a.mp4"
    make_video(src, "libx264", "yuv420p", frames_of(12, rows=48, cols=64))
    data = bytearray(src.read_bytes())
    start = data.find(b"mdat") + 200
    rng = np.random.default_rng(3)
    for at in rng.integers(start, data.find(b"moov") - 100, 60):
        data[at] ^= 0xFF
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(SignalReadError) as exc:
        V.read_video(bad)
    assert "damaged video: h264:" in one_line(exc)
    with pytest.raises(SignalReadError), V.open_video(bad) as rows:
        rows.read(0, rows.shape[0])
    assert av.logging.get_level() is None  # FFmpeg's log is silent again


def test_header_claiming_huge_frames(tmp_path):
    src = tmp_path / "a.avi"
    make_video(src, "ffv1", "bgr0")
    data = bytearray(src.read_bytes())
    strf, avih = data.find(b"strf"), data.find(b"avih")
    struct.pack_into("<ii", data, strf + 12, 100_000, 100_000)  # BITMAPINFOHEADER
    struct.pack_into("<II", data, avih + 8 + 32, 100_000, 100_000)
    huge = tmp_path / "huge.avi"
    huge.write_bytes(bytes(data))
    for call in (V.probe_video, V.read_video):
        with pytest.raises(LimitError) as exc:
            call(huge)
        assert "100000x100000 (rows x cols) is 10000000000 pixels" in one_line(exc)


def test_budgets_from_the_header(tmp_path):
    src = tmp_path / "a.mp4"
    make_video(src, "libx264", "yuv420p")
    with pytest.raises(LimitError, match="8 planes, more than the limit of 4"):
        V.probe_video(src, limits=Limits(max_frames=4))
    with pytest.raises(LimitError, match="max_voxels"):
        V.open_video(src, limits=Limits(max_voxels=1000))
    mkv = tmp_path / "a.mkv"  # no count in the header: the counting pass stops early
    make_video(mkv)
    with pytest.raises(LimitError, match="max_frames"):
        V.open_video(mkv, limits=Limits(max_frames=4))


def test_audio_only_mp4_is_not_a_video(tmp_path):
    p = tmp_path / "a.mp4"
    out = av.open(str(p), "w")
    a = out.add_stream("aac", rate=8000)
    a.layout = "mono"
    wave = np.zeros((1, 1024), np.float32)
    for k in range(3):
        af = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
        af.sample_rate, af.pts = 8000, k * 1024
        for pk in a.encode(af):
            out.mux(pk)
    for pk in a.encode():
        out.mux(pk)
    out.close()
    with pytest.raises(SignalReadError) as exc:
        V.read_video(p)
    assert one_line(exc).endswith("is not a video: the MP4 file holds audio (aac), no video stream")


def test_not_a_video(tmp_path):
    p = tmp_path / "a.mp4"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(SignalReadError, match="not a video convcli reads"):
        V.read_video(p)


def test_without_pyav_one_line_names_the_extra(tmp_path, monkeypatch):
    src = tmp_path / "a.mkv"
    make_video(src)
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(SignalReadError, match=r"pip install 'convcli\[video\]'"):
        V.read_video(src)
    with pytest.raises(UnsupportedError, match=r"pip install 'convcli\[video\]'"):
        V.video_writer(tmp_path / "b.mkv", Signal(np.zeros((1, 2, 2), np.uint8), "volume"))
