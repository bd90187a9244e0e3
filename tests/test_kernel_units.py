"""Lengths with units in named kernels: mm and um through a volume's spacing, ms through a rate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from convcli import convolve, make_kernel
from convcli.errors import KernelSpecError
from convcli.kernels import kernel_label, parse_spec
from convcli.kernels._units import Quantity, normalize_spacing, parse_quantity

MM_112 = [(2.0, "mm"), (1.0, "mm"), (1.0, "mm")]  # planes 2 mm apart, rows and cols 1 mm


def impulse_response(sigma, shape):
    x = np.zeros(shape)
    x[tuple(n // 2 for n in shape)] = 1.0
    return ndimage.gaussian_filter(x, sigma, mode="constant", truncate=4.0)


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [("2mm", 2.0, "mm"), ("1.5um", 1.5, "um"), ("1.5µm", 1.5, "um"), ("10ms", 10.0, "ms")],
)
def test_parse_quantity(text, value, unit):
    assert parse_quantity(text) == Quantity(value, unit)
    assert parse_quantity(" 2 mm ") == Quantity(2.0, "mm")
    assert parse_quantity("2") is None


def test_spec_grammar_carries_units():
    assert parse_spec("gaussian:sigma=2mm").params == {"sigma": Quantity(2.0, "mm")}
    assert parse_spec("gaussian:1.5um").params == {"sigma": Quantity(1.5, "um")}
    assert kernel_label("gaussian:sigma=2mm") == "gaussian-sigma2mm"
    with pytest.raises(KernelSpecError, match="unknown unit 'furlong'"):
        parse_spec("gaussian:sigma=2furlong")
    with pytest.raises(KernelSpecError, match="is not a positive length"):
        parse_spec("box:size=-3mm")
    with pytest.raises(KernelSpecError, match="sobel: axis"):
        parse_spec("sobel:axis=2mm")  # not a length: no unit


def test_fslmaths_2mm_gaussian_on_anisotropic_voxels():
    """``fslmaths -kernel gauss 2`` on 1x1x2 mm voxels: sigma 2, 2 and 1 voxels."""
    k = make_kernel("gaussian:sigma=2mm", 3, spacing=MM_112)
    assert k.shape == (9, 17, 17)
    np.testing.assert_allclose(k, impulse_response((1.0, 2.0, 2.0), k.shape), atol=1e-15)
    vol = np.random.default_rng(0).random((12, 20, 20))
    got = convolve(vol, k, pad_mode="symmetric")
    np.testing.assert_allclose(got, ndimage.gaussian_filter(vol, (1.0, 2.0, 2.0)), atol=1e-12)


def test_nifti_spacing_drives_the_kernel(tmp_path):
    nib = pytest.importorskip("nibabel")
    from convcli.io import nifti

    img = nib.Nifti1Image(np.zeros((6, 5, 4), np.float32), np.diag([1.0, 1.0, 2.0, 1.0]))
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((1.0, 1.0, 2.0))  # (di, dj, dk)
    nib.save(img, tmp_path / "v.nii")
    form = nifti.read_nifti(tmp_path / "v.nii").form
    k = make_kernel("gaussian:sigma=2mm", 3, spacing=list(zip(form.spacing, form.units)))
    np.testing.assert_array_equal(k, make_kernel("gaussian:sigma=2mm", 3, spacing=MM_112))


def test_um_through_ome_physical_sizes(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    from convcli.io import tifffile_tiff

    meta = {"axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0}
    tifffile.imwrite(
        tmp_path / "a.ome.tif", np.zeros((3, 8, 8), np.uint16), ome=True, metadata=meta
    )
    form = tifffile_tiff.read_tiff(tmp_path / "a.ome.tif").form
    k = make_kernel("gaussian:sigma=1.5um", 3, spacing=list(zip(form.spacing, form.units)))
    np.testing.assert_allclose(k, impulse_response((0.75, 3.0, 3.0), k.shape), atol=1e-15)


def test_isotropic_units_are_the_plain_kernel():
    one_mm = [(1.0, "mm")] * 3
    for spec, plain in [
        ("gaussian:sigma=2mm", "gaussian:sigma=2"),
        ("log:sigma=1.5mm", "log:sigma=1.5"),
        ("dog:sigma1=1mm,sigma2=2mm", "dog:sigma1=1,sigma2=2"),
        ("unsharp:sigma=1mm", "unsharp:sigma=1"),
        ("disk:radius=2mm", "disk:radius=2"),
        ("box:size=5mm", "box:size=5"),
        ("gaussian:sigma=2000um", "gaussian:sigma=2"),
    ]:
        np.testing.assert_array_equal(
            make_kernel(spec, 3, spacing=one_mm), make_kernel(plain, 3), err_msg=spec
        )


def test_box_counts_the_voxels_within_half_the_size():
    assert make_kernel("box:size=3mm", 3, spacing=MM_112).shape == (1, 3, 3)
    assert make_kernel("box:size=4mm", 3, spacing=MM_112).shape == (3, 5, 5)
    k = make_kernel("gaussian:sigma=1mm,size=5mm", 3, spacing=MM_112)
    assert k.shape == (3, 5, 5)


def test_anisotropic_forms_keep_their_sums():
    log = make_kernel("log:sigma=2mm", 3, spacing=MM_112)
    dog = make_kernel("dog:sigma1=1mm,sigma2=2mm", 3, spacing=MM_112)
    unsharp = make_kernel("unsharp:sigma=2mm", 3, spacing=MM_112)
    disk = make_kernel("disk:radius=2mm", 3, spacing=MM_112)
    assert abs(log.sum()) < 1e-12 and abs(dog.sum()) < 1e-12
    assert unsharp.sum() == pytest.approx(1.0) and disk.sum() == pytest.approx(1.0)
    assert log.shape == (9, 17, 17) and log[4, 8, 8] < 0
    assert disk.shape == (3, 5, 5) and (disk[1] > 0).sum() == 13 and (disk[0] > 0).sum() == 1


def test_ms_on_audio_through_the_rate():
    np.testing.assert_array_equal(make_kernel("box:size=10ms", 1, rate=1000), np.full(11, 1 / 11))
    np.testing.assert_array_equal(
        make_kernel("gaussian:sigma=2ms", 1, rate=8000), make_kernel("gaussian:sigma=16", 1)
    )
    assert make_kernel("gaussian:sigma=0.002s", 1, rate=8000).shape == (129,)


def test_refused_without_spacing_never_guessed():
    with pytest.raises(KernelSpecError, match="sigma=2mm is a length, but the signal has no"):
        make_kernel("gaussian:sigma=2mm", 3)
    with pytest.raises(KernelSpecError, match=r"axis 1 \(rows\) of the signal has no physical"):
        make_kernel("gaussian:sigma=2ms", 3, spacing=[(0.04, "s"), (1.0, ""), (1.0, "")])
    with pytest.raises(KernelSpecError, match="is a length, but axis 0 .* is spaced in s"):
        make_kernel("box:size=3mm", 1, rate=8000)
    with pytest.raises(KernelSpecError, match="spacing has 2 entries but the signal has 3"):
        make_kernel("box:size=3mm", 3, spacing=["1mm", "1mm"])


def test_spacing_forms():
    assert normalize_spacing(["0.5mm", (2, "um"), None], 3, None) == (
        Quantity(0.5, "mm"),
        Quantity(2.0, "um"),
        None,
    )
    assert make_kernel("gaussian:sigma=1", 2, 8000.0).shape == (9, 9)  # the old signature
