"""Slab-by-slab convolution equals the in-memory engine, for every pad mode."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import convcli
from convcli.padding import PAD_MODES
from convcli.stream import ArraySource, AudioFileSource, NpyFileSource, RawFile, correlate_rows


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
    raw = RawFile(tmp_path / "r.bin", (9, 4, 5), np.dtype(np.float32))
    raw.write(0, vol[:4])
    raw.write(4, vol[4:])
    np.testing.assert_array_equal(raw.read(3, 9), vol[3:9])
    raw.close()


def test_npy_source_refuses_what_it_cannot_stream(tmp_path):
    np.save(tmp_path / "f.npy", np.asfortranarray(np.zeros((4, 5))))
    with pytest.raises(OSError, match="C-ordered"):
        NpyFileSource(tmp_path / "f.npy")
    (tmp_path / "short.npy").write_bytes((tmp_path / "f.npy").read_bytes()[:100])
    with pytest.raises(OSError):
        NpyFileSource(tmp_path / "short.npy")
