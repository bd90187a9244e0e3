"""The NIfTI family (nibabel): axes in file order, 4-D series, scaling, header round trips.

Files are written by nibabel from seeded arrays; nibabel's own reading is the reference.
"""

from __future__ import annotations

import gzip
import sys
from dataclasses import replace

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from convcli import convolve  # noqa: E402
from convcli.errors import SignalReadError  # noqa: E402
from convcli.io import LimitError, Limits  # noqa: E402
from convcli.io import nifti as N  # noqa: E402

RNG = np.random.default_rng(7)
AFFINE = np.array([[-1.0, 0, 0, 90], [0, 1.0, 0, -126], [0, 0, 2.0, -72], [0, 0, 0, 1]])


def write(path, data, *, zooms=None, slope=None, two=False, units=("mm", "sec")):
    cls = nib.Nifti2Image if two else nib.Nifti1Image
    img = cls(data, AFFINE)
    img.header.set_xyzt_units(*units)
    img.header["descrip"] = b"convcli test"
    if zooms is not None:
        img.header.set_zooms(zooms)
    if slope is not None:
        img.header.set_slope_inter(*slope)
        img.set_data_dtype(data.dtype)
    nib.save(img, path)
    return nib.load(path)


def test_identify(tmp_path):
    write(tmp_path / "a.nii", np.zeros((2, 3, 4), np.int16))
    write(tmp_path / "b.nii", np.zeros((2, 3, 4), np.int16), two=True)
    assert N.identify((tmp_path / "a.nii").read_bytes()[:352]) == "NIFTI1"
    assert N.identify((tmp_path / "b.nii").read_bytes()[:352]) == "NIFTI2"
    big = bytearray((tmp_path / "a.nii").read_bytes()[:352])
    big[:4] = (348).to_bytes(4, "big")
    assert N.identify(bytes(big)) == "NIFTI1"
    assert N.identify(b"\x1f\x8b\x08", "t1.nii.gz") == "NIFTI-GZ"
    assert N.identify(b"\x1f\x8b\x08", "notes.gz") is None


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz", "v2.nii"])
def test_volume_in_file_order_and_header_kept(tmp_path, name):
    data = RNG.integers(-1000, 1000, (6, 5, 4)).astype(np.int16)  # (i, j, k)
    write(tmp_path / name, data, two=name == "v2.nii")
    s = N.read_nifti(tmp_path / name)
    assert s.kind == "volume" and s.channel_axis is None and s.data.dtype == np.int16
    np.testing.assert_array_equal(s.data, data.T)  # data[k, j, i] == nibabel's [i, j, k]
    assert s.form.spacing == (2.0, 1.0, 1.0) and s.form.units == ("mm", "mm", "mm")
    info = N.probe_nifti(tmp_path / name)
    assert info["shape"] == [4, 5, 6] and info["dims"] == [6, 5, 4]
    assert info["affine"] == AFFINE.tolist()
    out = tmp_path / ("o" + name)
    N.write_nifti(s, out)
    back = nib.load(out)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), data)
    assert back.header["descrip"] == b"convcli test" and np.allclose(back.affine, AFFINE)
    if name.endswith(".nii"):  # the header, byte for byte
        offset = int(back.header.get_data_offset())
        assert out.read_bytes()[:offset] == (tmp_path / name).read_bytes()[:offset]


def test_four_d_series_filters_each_time_point(tmp_path):
    data = RNG.random((6, 5, 4, 3)).astype(np.float32)  # (i, j, k, t)
    write(tmp_path / "f.nii.gz", data, zooms=(1.0, 1.0, 2.0, 2.5))
    s = N.read_nifti(tmp_path / "f.nii.gz")
    assert s.kind == "volume" and s.data.shape == (4, 5, 6, 3) and s.channel_axis == 3
    assert s.form.mode is None
    k = np.ones((3, 3, 3)) / 27
    y = convolve(s.data, k, channel_axis=3, pad_mode="reflect")
    for t in range(3):
        alone = convolve(data[..., t].T, k, pad_mode="reflect")
        np.testing.assert_allclose(y[..., t], alone, rtol=1e-6)
    arr = N.read_nifti(tmp_path / "f.nii.gz", "array")  # t x k x j x i, every axis spatial
    np.testing.assert_array_equal(arr.data, data.transpose(3, 2, 1, 0))
    assert arr.form.spacing == (2.5, 2.0, 1.0, 1.0) and arr.form.units == ("s", "mm", "mm", "mm")
    N.write_nifti(replace(s, data=y.astype(np.float32)), tmp_path / "o.nii.gz")
    back = np.asanyarray(nib.load(tmp_path / "o.nii.gz").dataobj)
    np.testing.assert_allclose(back, y.transpose(2, 1, 0, 3), rtol=1e-6)
    N.write_nifti(arr, tmp_path / "a.nii")
    np.testing.assert_array_equal(np.asanyarray(nib.load(tmp_path / "a.nii").dataobj), data)


def test_scaling_real_values_in_stored_type_out(tmp_path):
    raw = RNG.integers(0, 3000, (6, 5, 4)).astype(np.int16)
    ref = write(tmp_path / "s.nii", raw, slope=(0.5, 10.0))
    real = np.asanyarray(ref.dataobj)
    s = N.read_nifti(tmp_path / "s.nii")
    assert s.data.dtype == np.float32 and s.form.dtype == "float32"
    np.testing.assert_allclose(s.data, real.T, rtol=1e-6)
    w = N.nifti_writer(tmp_path / "o.nii", s)
    with w:
        w.write(s.data)
    back = nib.load(tmp_path / "o.nii")
    assert back.get_data_dtype() == np.int16 and (back.dataobj.slope, back.dataobj.inter) == (
        0.5,
        10.0,
    )
    np.testing.assert_array_equal(back.dataobj.get_unscaled(), raw)
    assert w.clipped == 0
    # a derivative acts on the real values; what int16 cannot hold is clipped and counted
    d = s.data * 100.0
    w = N.nifti_writer(tmp_path / "d.nii", s)
    with w:
        w.write(d)
    assert w.clipped == int(((d - 10.0) / 0.5 > 32767).sum())
    # another dtype asked for: stored as it is, unscaled
    N.write_nifti(replace(s, data=s.data.astype(np.float64)), tmp_path / "f.nii")
    f = nib.load(tmp_path / "f.nii")
    assert f.get_data_dtype() == np.float64
    np.testing.assert_allclose(np.asanyarray(f.dataobj), real, rtol=1e-6)


def test_stride_rescales_pixdim_and_affine(tmp_path):
    data = RNG.random((6, 5, 4)).astype(np.float32)
    write(tmp_path / "v.nii", data)
    s = N.read_nifti(tmp_path / "v.nii")  # spacing (dk, dj, di) = (2, 1, 1)
    half = replace(s, data=s.data[:, ::2, ::2], form=replace(s.form, spacing=(2.0, 2.0, 2.0)))
    N.write_nifti(half, tmp_path / "h.nii")
    back = nib.load(tmp_path / "h.nii")
    assert back.shape == (3, 3, 4) and back.header.get_zooms() == (2.0, 2.0, 2.0)
    np.testing.assert_allclose(back.affine, AFFINE @ np.diag([2.0, 2.0, 1.0, 1.0]))


def test_rows_equal_the_whole_and_stream_into_the_writer(tmp_path):
    data = RNG.integers(0, 255, (6, 5, 7, 2)).astype(np.uint8)
    write(tmp_path / "f.nii.gz", data)
    whole = N.read_nifti(tmp_path / "f.nii.gz")
    with N.open_nifti(tmp_path / "f.nii.gz") as rows:
        assert rows.shape == whole.data.shape
        with N.nifti_writer(tmp_path / "o.nii.gz", rows.signal) as w:
            for k in range(0, 7, 3):
                block = rows.read(k, min(k + 3, 7))
                np.testing.assert_array_equal(block, whole.data[k : k + 3])
                w.write(block)
    np.testing.assert_array_equal(np.asanyarray(nib.load(tmp_path / "o.nii.gz").dataobj), data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.nii.gz", "o.nii.gz"]


def test_image_and_fresh_header(tmp_path):
    data = RNG.random((6, 5)).astype(np.float32)
    write(tmp_path / "i.nii", data)
    s = N.read_nifti(tmp_path / "i.nii")
    assert s.kind == "image" and s.data.shape == (5, 6)
    from convcli.io import Signal

    N.write_nifti(Signal(np.ones((2, 3, 4), np.int16), "volume"), tmp_path / "new.nii")
    assert nib.load(tmp_path / "new.nii").shape == (4, 3, 2)


# --- hostile -------------------------------------------------------------------------------------


def one_line(exc):
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_bogus_header(tmp_path):
    write(tmp_path / "a.nii", np.zeros((2, 3, 4), np.int16))
    raw = bytearray((tmp_path / "a.nii").read_bytes())
    raw[70:72] = (9999).to_bytes(2, "little")  # datatype
    (tmp_path / "bad.nii").write_bytes(bytes(raw))
    with pytest.raises(SignalReadError) as exc:
        N.read_nifti(tmp_path / "bad.nii")
    assert "bogus NIfTI header" in one_line(exc)
    junk = tmp_path / "junk.nii"
    junk.write_bytes(b"\x5c\x01\x00\x00" + bytes(340) + b"n+1\x00" + bytes(4))
    with pytest.raises(SignalReadError) as exc:
        N.probe_nifti(junk)
    one_line(exc)


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz"])
def test_data_block_shorter_than_the_header_says(tmp_path, name):
    write(tmp_path / name, RNG.random((6, 5, 4)).astype(np.float32))
    if name.endswith(".gz"):
        whole = gzip.decompress((tmp_path / name).read_bytes())
        (tmp_path / "cut.nii.gz").write_bytes(gzip.compress(whole[:-100]))
        cut = tmp_path / "cut.nii.gz"
    else:
        cut = tmp_path / "cut.nii"
        cut.write_bytes((tmp_path / name).read_bytes()[:-100])
    for call in (N.probe_nifti, N.read_nifti, N.open_nifti):
        with pytest.raises(SignalReadError) as exc:
            call(cut)
        assert "the data block is cut short" in one_line(exc)
    if name.endswith(".gz"):  # a stream cut in the middle, trailer and all
        mid = tmp_path / "mid.nii.gz"
        mid.write_bytes((tmp_path / name).read_bytes()[:-30])
        with pytest.raises(SignalReadError) as exc:
            N.read_nifti(mid)
        one_line(exc)


def test_budgets_from_the_header(tmp_path):
    write(tmp_path / "a.nii", np.zeros((2, 3, 4), np.int16))
    hdr = nib.load(tmp_path / "a.nii").header.copy()
    hdr.set_data_shape((30_000, 30_000, 30_000))
    huge = tmp_path / "huge.nii"
    with open(huge, "wb") as fh:
        hdr.write_to(fh)
    with pytest.raises(LimitError) as exc:
        N.read_nifti(huge)
    assert "max_pixels" in one_line(exc)
    write(tmp_path / "f.nii", np.zeros((2, 3, 4, 5), np.int16))
    with pytest.raises(LimitError, match="5 time points, more than the limit of 4"):
        N.probe_nifti(tmp_path / "f.nii", limits=Limits(max_frames=4, max_voxels=None))


def test_no_units_no_spacing(tmp_path):
    write(tmp_path / "a.nii", np.zeros((2, 3, 4), np.int16), units=("unknown", "unknown"))
    assert N.read_nifti(tmp_path / "a.nii").form.spacing is None


def test_without_nibabel_one_line_names_the_extra(tmp_path, monkeypatch):
    write(tmp_path / "a.nii", np.zeros((2, 3, 4), np.int16))
    monkeypatch.setitem(sys.modules, "nibabel", None)
    with pytest.raises(SignalReadError, match=r"pip install 'convcli\[volumes\]'"):
        N.read_nifti(tmp_path / "a.nii")
