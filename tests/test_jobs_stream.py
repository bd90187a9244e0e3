"""Slab-by-slab convolution equals the in-memory engine, for every pad mode."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import convcli
from convcli.io.npy import NpyFileSource
from convcli.io.raw import RawFile
from convcli.io.rows import ArraySource
from convcli.io.sndfile_audio import AudioFileSource
from convcli.jobs.stream import correlate_rows
from convcli.padding import PAD_MODES


def _run(source, kernel, rows, **kw):
    plan_out = {}

    def write(o0, block):
        plan_out[o0] = block.copy()

    plan = correlate_rows(source, kernel, write, rows_per_slab=rows, **kw)
    return plan, np.concatenate([plan_out[k] for k in sorted(plan_out)], axis=0)


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(1, 40),
    k=st.integers(1, 9),
    s=st.integers(1, 3),
    d=st.integers(1, 3),
    rows=st.integers(1, 7),
    mode=st.sampled_from(PAD_MODES),
    padding=st.sampled_from(["same", "full", "valid", [(3, 11)], [(12, 0)]]),
    method=st.sampled_from(["direct", "fft"]),
)
def test_slabs_equal_the_whole(n, k, s, d, rows, mode, padding, method):
    rng = np.random.default_rng(n * 1000 + k)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    w = rng.standard_normal(k)
    kw = dict(
        stride=s,
        dilation=d,
        padding=padding,
        pad_mode=mode,
        pad_value=0.5,
        method=method,
        channel_axis=1,
    )
    try:
        whole = convcli.convolve(x, w, **kw)
    except ValueError:
        return  # no output sample: the slab path refuses the same way (planned first)
    plan, got = _run(ArraySource(x), w, rows, **kw)
    assert got.shape == whole.shape == plan.output_shape
    if method == "direct":
        np.testing.assert_array_equal(got, whole)  # bit for bit
    else:
        np.testing.assert_allclose(got, whole, atol=1e-4 * (np.abs(w).sum() + 1))


@pytest.mark.parametrize("mode", PAD_MODES)
def test_volume_slabs_equal_the_whole(mode):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 255, (11, 7, 6), dtype=np.uint8)
    w = rng.standard_normal((3, 3, 3))
    whole = convcli.convolve(x, w, pad_mode=mode, method="direct", stride=(2, 1, 1))
    _, got = _run(ArraySource(x), w, 2, pad_mode=mode, method="direct", stride=(2, 1, 1))
    np.testing.assert_array_equal(got, whole)


def test_file_sources_read_what_load_reads(tmp_path):
    rng = np.random.default_rng(2)
    audio = (rng.standard_normal((5000, 2)) * 0.3).clip(-1, 1)
    sf.write(tmp_path / "a.wav", audio, 8000, subtype="PCM_16")
    src = AudioFileSource(tmp_path / "a.wav")
    loaded = convcli.io.load(tmp_path / "a.wav")
    np.testing.assert_array_equal(src.read(0, 5000), loaded.data)
    np.testing.assert_array_equal(src.read(100, 200), loaded.data[100:200])
    np.testing.assert_array_equal(src.take(np.array([3, 1, 4999, 3])), loaded.data[[3, 1, 4999, 3]])
    src.close()
    vol = rng.standard_normal((9, 4, 5)).astype(np.float32)
    np.save(tmp_path / "v.npy", vol)
    npy = NpyFileSource(tmp_path / "v.npy")
    assert npy.shape == vol.shape
    np.testing.assert_array_equal(npy.read(2, 7), vol[2:7])
    w = np.ones((3, 3, 3)) / 27
    _, got = _run(npy, w, 4, pad_mode="circular", method="direct")
    np.testing.assert_array_equal(
        got, convcli.convolve(vol, w, pad_mode="circular", method="direct")
    )
    npy.close()
    raw = RawFile(tmp_path / "r.bin", np.dtype(np.float32))
    raw.write(0, vol[:4])
    raw.write(4, vol[4:])
    assert raw.shape == vol.shape
    np.testing.assert_array_equal(raw.read(3, 9), vol[3:9])
    raw.close()


def test_npy_source_refuses_what_it_cannot_stream(tmp_path):
    np.save(tmp_path / "f.npy", np.asfortranarray(np.zeros((4, 5))))
    with pytest.raises(OSError, match="C-ordered"):
        NpyFileSource(tmp_path / "f.npy")
    (tmp_path / "short.npy").write_bytes((tmp_path / "f.npy").read_bytes()[:100])
    with pytest.raises(OSError):
        NpyFileSource(tmp_path / "short.npy")


# ------------------------------------------------------------------ through convcli filter


def _filter(*args):
    from click.testing import CliRunner

    from convcli.cli import cli

    return CliRunner().invoke(cli, ["filter", *map(str, args)])


@pytest.mark.parametrize(
    "extra",
    [
        ["-k", "identity"],
        ["-k", "lowpass:cutoff=1500", "-k", "[1 2 1]/4"],
        ["-k", "box:9", "--stride", "2", "--rescale"],
        ["-k", "echo:delay=0.01,decay=0.7", "--flip", "--padding", "full", "--scale", "0.5"],
        ["-k", "[1 -1]", "--abs", "--pad-mode", "circular", "--method", "fft"],
    ],
)
@pytest.mark.parametrize("budget", [["--max-memory", "1K"], []])
def test_streamed_audio_equals_in_memory(tmp_path, extra, budget, monkeypatch):
    import convcli.jobs.blocks as blocks
    import convcli.jobs.job as run

    rng = np.random.default_rng(4)
    audio = np.clip(rng.standard_normal((6000, 2)) * 0.3, -1, 1)
    src = tmp_path / "in.wav"
    sf.write(src, audio, 16000, subtype="PCM_16")
    whole, slabs = tmp_path / "whole.wav", tmp_path / "slabs.wav"
    with monkeypatch.context() as m:  # the reference: the whole file in memory
        m.setattr(run, "_one_pass", lambda opts: False)
        rec = _filter(src, *extra, "-o", whole, "--json")
        assert rec.exit_code == 0 and "streamed" not in json.loads(rec.stdout)
    # Without a budget, one kernel streams in one pass (many slabs here): file to file.
    monkeypatch.setattr(blocks, "ONE_PASS_SLAB_BYTES", 4000)
    res = _filter(src, *extra, "-o", slabs, *budget, "--json")
    assert res.exit_code == 0, res.output
    one_pass = extra.count("-k") == 1 and "--rescale" not in extra
    assert json.loads(res.stdout).get("streamed", False) is (bool(budget) or one_pass)
    a, ra = sf.read(whole, dtype="int16")
    b, rb = sf.read(slabs, dtype="int16")
    assert ra == rb and a.shape == b.shape
    assert np.abs(a.astype(int) - b).max() <= 1  # FFT blocks differ: at most 1 LSB
    assert sf.info(slabs).subtype == "PCM_16"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "slabs.wav", "whole.wav"]


@pytest.mark.parametrize("mode", PAD_MODES)
def test_streamed_npy_volume_equals_in_memory(tmp_path, mode, monkeypatch):
    import convcli.jobs.stream as stream

    monkeypatch.setattr(stream, "SLAB_BYTES", 200)  # many slabs even for a small volume
    rng = np.random.default_rng(5)
    vol = rng.standard_normal((13, 6, 5)).astype(np.float32)
    np.save(tmp_path / "v.npy", vol)
    args = ["-k", "gaussian:1", "-k", "sobel:axis=0", "--pad-mode", mode, "--method", "direct"]
    assert _filter(tmp_path / "v.npy", *args, "-o", tmp_path / "a.npy").exit_code == 0
    res = _filter(tmp_path / "v.npy", *args, "-o", tmp_path / "b.npy", "--max-memory", "1")
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_streamed_stereo_ir_on_mono(tmp_path, monkeypatch):
    import convcli.jobs.job as run

    rng = np.random.default_rng(6)
    sf.write(tmp_path / "m.wav", rng.uniform(-0.5, 0.5, 3000), 8000, subtype="FLOAT")
    sf.write(tmp_path / "ir.wav", rng.uniform(-0.2, 0.2, (50, 2)), 8000, subtype="FLOAT")
    args = ["-k", tmp_path / "ir.wav", "--flip", "--padding", "full"]
    with monkeypatch.context() as m:  # the reference: the whole file in memory
        m.setattr(run, "_one_pass", lambda opts: False)
        assert _filter(tmp_path / "m.wav", *args, "-o", tmp_path / "a.wav").exit_code == 0
    res = _filter(tmp_path / "m.wav", *args, "-o", tmp_path / "b.wav", "--max-memory", "1")
    assert res.exit_code == 0, res.output
    a, _ = sf.read(tmp_path / "a.wav")
    b, _ = sf.read(tmp_path / "b.wav")
    assert a.shape == b.shape == (3049, 2)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_max_memory_is_checked_on_the_command_line(tmp_path):
    res = _filter(
        tmp_path / "x.wav", "-k", "box:3", "-o", tmp_path / "y.wav", "--max-memory", "lots"
    )
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("convcli: error:") and "512M" in res.stderr


def test_an_input_the_budget_refuses_in_memory_is_streamed(tmp_path):
    """The route and the in-memory budget check use one estimate: never refused, streamed.

    A chain of two kernels on 40 000 stereo frames needs about 1.5 MiB in memory; with
    ``--max-memory 1M`` it used to pass the route's cheaper estimate and then be refused.
    """
    src = tmp_path / "a.wav"
    sf.write(src, np.random.default_rng(3).uniform(-0.5, 0.5, (40_000, 2)), 8000, "PCM_16")
    args = [src, "-k", "box:5", "-k", "box:3", "--json"]
    small = _filter(*args, "--max-memory", "1M", "-o", tmp_path / "small.wav")
    whole = _filter(*args, "-o", tmp_path / "whole.wav")
    assert small.exit_code == 0, small.output
    assert whole.exit_code == 0, whole.output
    assert json.loads(small.stdout)["streamed"] is True
    assert (tmp_path / "small.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()
