"""Every named kernel: shape, sums, symmetry, known values; the FIR designs with freqz."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from scipy.signal import freqz

from convcli.errors import KernelSpecError
from convcli.kernels import REGISTRY, list_kernels, make_kernel
from convcli.kernels._fir import MAX_TAPS, MIN_TAPS

#: Upsampling kernels for a transposed convolution: even sizes, phases summing to 1.
UPSAMPLING = {"bilinear", "bicubic", "lanczos"}
SPATIAL = [k.name for k in list_kernels() if not k.needs_rate and k.name not in UPSAMPLING]
CASES = [
    (name, ndim)
    for name in SPATIAL
    for ndim in (1, 2, 3)
    if REGISTRY[name].ndims is None or ndim in REGISTRY[name].ndims  # type: ignore[operator]
]
SUMS_TO_ONE = {"identity", "box", "gaussian", "sharpen", "unsharp", "disk", "emboss", "motion"}
SUMS_TO_ZERO = {"laplacian", "log", "dog", "sobel", "prewitt", "scharr", "outline"}
DERIVATIVES = {"sobel", "prewitt", "scharr"}
ISOTROPIC = {"identity", "box", "gaussian", "laplacian", "log", "dog", "sharpen", "unsharp", "disk"}


def flip_all(k: np.ndarray) -> np.ndarray:
    return k[(slice(None, None, -1),) * k.ndim]


def correlate_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """SPEC's formula, 1-D, zero padding, 'same' with stride 1 and an odd kernel."""
    half = len(w) // 2
    padded = np.concatenate([np.zeros(half), x, np.zeros(half)])
    return np.array([sum(w[j] * padded[o + j] for j in range(len(w))) for o in range(len(x))])


# --- every spatial kernel in every supported ndim ----------------------------------------


@pytest.mark.parametrize("name", sorted(UPSAMPLING))
@pytest.mark.parametrize("factor", [1, 2, 3, 4])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_upsampling_kernels(name: str, factor: int, ndim: int) -> None:
    k = make_kernel(f"{name}:{factor}", ndim)
    radius = {"bilinear": 1, "bicubic": 2, "lanczos": 3}[name]
    side = 2 * radius * factor - factor % 2
    assert k.shape == (side,) * ndim and k.dtype == np.float64
    assert np.allclose(k, flip_all(k))
    taps = make_kernel(f"{name}:{factor}", 1)
    for r in range(factor):  # each output phase's weights sum to 1
        assert taps[r::factor].sum() == pytest.approx(1.0, abs=1e-12)
    assert k.sum() == pytest.approx(factor**ndim)


def test_every_kernel_is_covered() -> None:
    assert SUMS_TO_ONE | SUMS_TO_ZERO | {"gabor"} == set(SPATIAL)
    assert len(CASES) == 10 * 3 + 6


@pytest.mark.parametrize(("name", "ndim"), CASES)
def test_shape_dtype_sum(name: str, ndim: int) -> None:
    k = make_kernel(name, ndim)
    assert k.dtype == np.float64
    assert k.ndim == ndim
    assert all(n % 2 == 1 for n in k.shape), k.shape
    assert np.all(np.isfinite(k))
    if name in SUMS_TO_ONE:
        assert k.sum() == pytest.approx(1.0, abs=1e-12)
    if name in SUMS_TO_ZERO:
        assert k.sum() == pytest.approx(0.0, abs=1e-12)
    assert make_kernel(name, ndim).tobytes() == k.tobytes()  # deterministic


@pytest.mark.parametrize(("name", "ndim"), [c for c in CASES if c[0] in ISOTROPIC])
def test_isotropic_kernels_are_symmetric(name: str, ndim: int) -> None:
    k = make_kernel(name, ndim)
    for axis in range(ndim):
        np.testing.assert_allclose(np.flip(k, axis), k, rtol=0, atol=1e-15)
    for perm in itertools.permutations(range(ndim)):
        np.testing.assert_allclose(np.transpose(k, perm), k, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("name", "ndim"), [c for c in CASES if c[0] in DERIVATIVES])
def test_derivatives_are_antisymmetric_along_their_axis(name: str, ndim: int) -> None:
    for axis in range(-ndim, ndim):
        k = make_kernel(f"{name}:axis={axis}", ndim)
        np.testing.assert_array_equal(np.flip(k, axis), -k)
        for other in range(ndim):
            if other != axis % ndim:
                np.testing.assert_array_equal(np.flip(k, other), k)
        # positive where the signal increases along axis: correlate with a ramp
        shape = [1] * ndim
        shape[axis] = 3
        ramp = np.arange(3.0).reshape(shape) * np.ones(k.shape)
        assert float((k * ramp).sum()) > 0


@pytest.mark.parametrize("name", SPATIAL)
def test_unsupported_ndim_lists_the_supported(name: str) -> None:
    ndims = REGISTRY[name].ndims
    if ndims is None:
        assert make_kernel(name, 4).ndim == 4
        return
    for ndim in {1, 2, 3} - set(ndims):
        with pytest.raises(KernelSpecError) as info:
            make_kernel(name, ndim)
        assert "2-D" in str(info.value)
        assert f"not {ndim}-D" in str(info.value)


@pytest.mark.parametrize("name", ["lowpass", "highpass", "bandpass", "bandstop", "echo"])
def test_audio_kernels_are_1d_only(name: str) -> None:
    with pytest.raises(KernelSpecError, match=r"defined for 1-D signals only, not 2-D"):
        make_kernel(f"{name}:100,1000" if "band" in name else name, 2, rate=8000)


# --- known values ------------------------------------------------------------------------


def test_sobel_2d_values() -> None:
    k1 = make_kernel("sobel:axis=1", 2)
    np.testing.assert_array_equal(k1, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(make_kernel("sobel", 2), k1)  # axis=-1 is the last axis
    np.testing.assert_array_equal(make_kernel("sobel:0", 2), k1.T)
    np.testing.assert_array_equal(make_kernel("sobel", 1), [-1, 0, 1])
    k3 = make_kernel("sobel:axis=0", 3)
    np.testing.assert_array_equal(k3[2], np.outer([1, 2, 1], [1, 2, 1]))
    np.testing.assert_array_equal(k3[1], np.zeros((3, 3)))


def test_prewitt_scharr_values() -> None:
    np.testing.assert_array_equal(make_kernel("prewitt", 2), [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])
    np.testing.assert_array_equal(
        make_kernel("scharr:axis=0", 2), [[-3, -10, -3], [0, 0, 0], [3, 10, 3]]
    )


def test_small_fixed_kernels() -> None:
    np.testing.assert_array_equal(make_kernel("sharpen", 2), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_array_equal(
        make_kernel("sharpen:0.5", 2), [[0, -0.5, 0], [-0.5, 3, -0.5], [0, -0.5, 0]]
    )
    np.testing.assert_array_equal(make_kernel("laplacian", 1), [1, -2, 1])
    np.testing.assert_array_equal(make_kernel("laplacian", 2), [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    lap3 = make_kernel("laplacian", 3)
    assert lap3[1, 1, 1] == -6 and np.count_nonzero(lap3) == 7
    np.testing.assert_array_equal(make_kernel("emboss", 2), [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    np.testing.assert_array_equal(
        make_kernel("outline", 2), [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]
    )
    np.testing.assert_array_equal(make_kernel("identity", 1), [1])
    ident = make_kernel("identity:5", 2)
    assert ident.shape == (5, 5) and ident[2, 2] == 1 and ident.sum() == 1
    np.testing.assert_array_equal(make_kernel("box:3", 2), np.full((3, 3), 1 / 9))


@pytest.mark.parametrize("sigma", [0.3, 0.5, 1.0, 1.7, 2.5])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_gaussian_matches_scipy_ndimage(sigma: float, ndim: int) -> None:
    k = make_kernel(f"gaussian:sigma={sigma}", ndim)
    radius = int(4 * sigma + 0.5)
    assert k.shape == (2 * radius + 1,) * ndim
    x = np.arange(-radius, radius + 1)
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    expected = g
    for _ in range(ndim - 1):
        expected = np.multiply.outer(expected, g)
    np.testing.assert_allclose(k, expected, rtol=1e-12, atol=1e-15)
    impulse = np.zeros(k.shape)
    impulse[(radius,) * ndim] = 1.0
    weights = ndimage.gaussian_filter(impulse, sigma, truncate=4.0, mode="constant")
    np.testing.assert_allclose(k, weights, rtol=1e-10, atol=1e-15)


def test_gaussian_explicit_size() -> None:
    k = make_kernel("gaussian:2,5", 2)
    assert k.shape == (5, 5)
    assert k.sum() == pytest.approx(1.0)
    g = np.exp(-(np.arange(-2, 3) ** 2) / 8.0)
    np.testing.assert_allclose(k, np.outer(g, g) / np.outer(g, g).sum())


def test_log_against_scipy_gaussian_laplace() -> None:
    k = make_kernel("log:2", 2)
    assert k.shape == (17, 17)
    assert k[8, 8] < 0 and k[8, 8] == k.min()
    assert k.sum() == pytest.approx(0, abs=1e-14)
    impulse = np.zeros((17, 17))
    impulse[8, 8] = 1
    reference = ndimage.gaussian_laplace(impulse, 2.0, truncate=4.0, mode="constant")
    assert np.corrcoef(k.ravel(), reference.ravel())[0, 1] > 0.99
    assert k[8, 8] == pytest.approx(reference[8, 8], rel=0.1)


def test_log_explicit_size_and_1d() -> None:
    k = make_kernel("log:sigma=1,size=5", 1)
    assert k.shape == (5,)
    assert k[2] < 0 < k[0]
    assert k.sum() == pytest.approx(0, abs=1e-15)


def test_dog_is_a_difference_of_gaussians() -> None:
    k = make_kernel("dog:1,2", 2)
    radius = int(4 * 2 + 0.5)
    assert k.shape == (2 * radius + 1,) * 2
    g1 = make_kernel(f"gaussian:1,{2 * radius + 1}", 2)
    g2 = make_kernel(f"gaussian:2,{2 * radius + 1}", 2)
    np.testing.assert_allclose(k, g1 - g2, atol=1e-16)
    assert k[radius, radius] > 0
    assert make_kernel("dog:2,1", 1)[radius] < 0
    with pytest.raises(KernelSpecError, match="sigma1 and sigma2 are both 1.5"):
        make_kernel("dog:1.5,1.5", 2)


def test_unsharp() -> None:
    k = make_kernel("unsharp:sigma=1,amount=2", 2)
    g = make_kernel("gaussian:1", 2)
    identity = np.zeros_like(g)
    identity[4, 4] = 1
    np.testing.assert_allclose(k, identity + 2 * (identity - g), atol=1e-15)
    np.testing.assert_allclose(make_kernel("unsharp:amount=0", 2), identity)


@pytest.mark.parametrize(
    ("spec", "ndim", "shape", "count"),
    [
        ("disk", 2, (5, 5), 13),
        ("disk:1", 3, (3, 3, 3), 7),
        ("disk:1.5", 2, (5, 5), 9),
        ("disk:0.5", 2, (3, 3), 1),
        ("disk:3", 1, (7,), 7),
    ],
)
def test_disk(spec: str, ndim: int, shape: tuple[int, ...], count: int) -> None:
    k = make_kernel(spec, ndim)
    assert k.shape == shape
    assert np.count_nonzero(k) == count
    np.testing.assert_allclose(k[k > 0], 1.0 / count)


# --- motion ------------------------------------------------------------------------------


def test_motion_axis_aligned_is_a_box() -> None:
    np.testing.assert_allclose(make_kernel("motion", 2), np.full((1, 9), 1 / 9))
    np.testing.assert_allclose(make_kernel("motion:5,90", 2), np.full((5, 1), 0.2))
    np.testing.assert_allclose(make_kernel("motion:5,180", 2), np.full((1, 5), 0.2))
    np.testing.assert_allclose(make_kernel("motion:5,-90", 2), np.full((5, 1), 0.2))
    np.testing.assert_array_equal(make_kernel("motion:1", 2), [[1.0]])
    np.testing.assert_allclose(make_kernel("motion:4", 2), [[0.125, 0.25, 0.25, 0.25, 0.125]])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 25), st.floats(-360, 360, allow_nan=False))
def test_motion_properties(length: int, angle: float) -> None:
    k = make_kernel(f"motion:{length},{angle!r}", 2)
    assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
    assert k.sum() == pytest.approx(1.0)
    assert k.min() >= 0
    np.testing.assert_allclose(flip_all(k), k, atol=1e-12)  # a line through the centre
    rows, cols = np.indices(k.shape)
    r = rows - k.shape[0] // 2
    c = cols - k.shape[1] // 2
    # the mass lies along the direction (row, col) = (-sin, cos): the spread across it is small
    t = math.radians(angle)
    across = r * math.cos(t) + c * math.sin(t)
    assert float((k * across**2).sum()) <= 0.5
    assert max(k.shape) <= length + 2


def test_motion_45_goes_up_and_right() -> None:
    k = make_kernel("motion:9,45", 2)
    centre = k.shape[0] // 2
    assert k[0, -1] > 0 and k[-1, 0] > 0  # upper right and lower left
    assert k[0, 0] == 0 and k[-1, -1] == 0
    assert k[:centre, centre + 1 :].sum() == pytest.approx(k[centre + 1 :, :centre].sum())


# --- gabor -------------------------------------------------------------------------------


def opencv_gabor(
    ksize: int, sigma: float, theta: float, lambd: float, gamma: float, psi: float
) -> np.ndarray:
    """A transcription of OpenCV's getGaborKernel (radians), loop by loop."""
    sigma_x, sigma_y = sigma, sigma / gamma
    c, s = math.cos(theta), math.sin(theta)
    if ksize > 0:
        xmax = ymax = ksize // 2
    else:
        xmax = round(max(abs(3 * sigma_x * c), abs(3 * sigma_y * s)))
        ymax = round(max(abs(3 * sigma_x * s), abs(3 * sigma_y * c)))
    kernel = np.zeros((2 * ymax + 1, 2 * xmax + 1))
    ex, ey = -0.5 / sigma_x**2, -0.5 / sigma_y**2
    for y in range(-ymax, ymax + 1):
        for x in range(-xmax, xmax + 1):
            xr = x * c + y * s
            yr = -x * s + y * c
            v = math.exp(ex * xr * xr + ey * yr * yr) * math.cos(2 * math.pi / lambd * xr + psi)
            kernel[ymax - y, xmax - x] = v
    return kernel


@pytest.mark.parametrize(
    ("theta", "sigma", "lambd", "gamma", "psi", "size"),
    [
        (0, 3.0, 8.0, 0.5, 0, 0),
        (30, 2.0, 5.0, 1.0, 90, 0),
        (90, 4.0, 10.0, 0.3, 45, 0),
        (135, 1.5, 4.0, 0.8, -30, 11),
    ],
)
def test_gabor_matches_opencv_formula(
    theta: float, sigma: float, lambd: float, gamma: float, psi: float, size: int
) -> None:
    spec = f"gabor:theta={theta},sigma={sigma},lambda={lambd},gamma={gamma},psi={psi},size={size}"
    k = make_kernel(spec, 2)
    expected = opencv_gabor(size, sigma, math.radians(theta), lambd, gamma, math.radians(psi))
    assert k.shape == expected.shape
    np.testing.assert_allclose(k, expected, atol=1e-12)


def test_gabor_default_shape() -> None:
    k = make_kernel("gabor", 2)
    assert k.shape == (37, 19)  # ymax = round(3 * sigma / gamma), xmax = round(3 * sigma)
    assert k[18, 9] == pytest.approx(1.0)


# --- parameter validation that depends on the signal -------------------------------------


@pytest.mark.parametrize(
    ("spec", "ndim", "fragments"),
    [
        ("sobel:axis=2", 2, ["axis 2", "2-D", "between -2 and 1"]),
        ("sobel:axis=-4", 3, ["axis -4", "between -3 and 2"]),
        ("prewitt:axis=1", 2, []),
        ("gaussian:sigma=1e4", 3, ["80001x80001x80001", "limit"]),
    ],
)
def test_build_time_validation(spec: str, ndim: int, fragments: list[str]) -> None:
    if not fragments:
        make_kernel(spec, ndim)
        return
    with pytest.raises(KernelSpecError) as info:
        make_kernel(spec, ndim)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_build_with_python_values() -> None:
    kdef = REGISTRY["gaussian"]
    np.testing.assert_array_equal(kdef.build(1, params={"sigma": 2}), make_kernel("gaussian:2", 1))
    with pytest.raises(KernelSpecError, match="sigma -2 is not allowed"):
        kdef.build(1, params={"sigma": -2})
    with pytest.raises(KernelSpecError, match="unknown parameter 'radius'"):
        kdef.build(1, params={"radius": 2})
    with pytest.raises(KernelSpecError, match="size True is not an integer"):
        kdef.build(1, params={"size": True})


# --- FIR filters -------------------------------------------------------------------------


def gain_db(h: np.ndarray, freqs: np.ndarray | list[float], rate: float) -> np.ndarray:
    _, response = freqz(h, worN=np.atleast_1d(np.asarray(freqs, dtype=float)), fs=rate)
    return 20 * np.log10(np.maximum(np.abs(response), 1e-300))


FIR_CASES = [
    (8000, "lowpass:1000", (1000,)),
    (8000, "highpass:cutoff=500", (500,)),
    (8000, "bandpass:300,3000", (300, 3000)),
    (8000, "bandstop:1000,2000", (1000, 2000)),
    (44100, "lowpass:cutoff=1000", (1000,)),
    (44100, "lowpass:15000", (15000,)),
    (44100, "highpass:8000", (8000,)),
    (44100, "bandpass:low=200,high=5000", (200, 5000)),
    (44100, "bandstop:4000,6000", (4000, 6000)),
    (48000, "lowpass:12000", (12000,)),
    (48000, "highpass:100", (100,)),
    (48000, "bandpass:1000,1500", (1000, 1500)),
    (48000, "bandstop:300,20000", (300, 20000)),
]
WINDOW_CONSTANT = {"hamming": 3.3, "hann": 3.1, "blackman": 5.5, "kaiser": 5.5}


@pytest.mark.parametrize("window", ["hamming", "hann", "blackman", "kaiser"])
@pytest.mark.parametrize(("rate", "spec", "cutoffs"), FIR_CASES)
def test_fir_response(rate: int, spec: str, cutoffs: tuple[float, ...], window: str) -> None:
    h = make_kernel(f"{spec},window={window}", 1, rate=rate)
    taps = len(h)
    assert taps % 2 == 1 and MIN_TAPS <= taps <= MAX_TAPS
    np.testing.assert_array_equal(h, h[::-1])  # linear phase, centred
    np.testing.assert_allclose(gain_db(h, list(cutoffs), rate), -6.02, atol=0.5)

    nyquist = rate / 2
    width = WINDOW_CONSTANT[window] * rate / taps  # the transition width this length gives
    kind = spec.split(":")[0]
    passband: list[tuple[float, float]]
    stopband: list[tuple[float, float]]
    if kind == "lowpass":
        passband = [(0.0, cutoffs[0] - width)]
        stopband = [(cutoffs[0] + width, nyquist)]
    elif kind == "highpass":
        passband = [(cutoffs[0] + width, nyquist)]
        stopband = [(0.0, cutoffs[0] - width)]
    elif kind == "bandpass":
        passband = [(cutoffs[0] + width, cutoffs[1] - width)]
        stopband = [(0.0, cutoffs[0] - width), (cutoffs[1] + width, nyquist)]
    else:
        passband = [(0.0, cutoffs[0] - width), (cutoffs[1] + width, nyquist)]
        stopband = [(cutoffs[0] + width, cutoffs[1] - width)]
    for lo, hi in passband:
        assert hi > lo
        response = gain_db(h, np.linspace(lo, hi, 400), rate)
        assert np.max(np.abs(response)) < 0.1, (lo, hi, np.max(np.abs(response)))
    for lo, hi in stopband:
        assert hi > lo
        response = gain_db(h, np.linspace(lo, hi, 400), rate)
        assert np.max(response) < -40, (lo, hi, np.max(response))


def test_fir_unity_points() -> None:
    rate = 44100
    lp = make_kernel("lowpass:1000", 1, rate=rate)
    hp = make_kernel("highpass:1000", 1, rate=rate)
    bp = make_kernel("bandpass:1000,3000", 1, rate=rate)
    bs = make_kernel("bandstop:1000,3000", 1, rate=rate)
    assert lp.sum() == pytest.approx(1.0, abs=1e-12)
    centred = np.arange(len(hp)) - len(hp) // 2
    assert np.sum(hp * (-1.0) ** centred) == pytest.approx(1.0, abs=1e-12)
    assert abs(np.exp(2j * np.pi * 2000 / rate * np.arange(len(bp))) @ bp) == pytest.approx(1.0)
    assert bs.sum() == pytest.approx(1.0, abs=1e-12)


def test_fir_rect_window_still_has_minus_6db_roughly() -> None:
    h = make_kernel("lowpass:cutoff=4000,window=rect,taps=201", 1, rate=44100)
    assert len(h) == 201
    assert gain_db(h, [4000], 44100)[0] == pytest.approx(-6.02, abs=0.5)


@pytest.mark.parametrize(
    ("spec", "rate", "taps"),
    [
        ("lowpass:1000", 44100, 583),  # width 250 Hz: ceil(3.3 * 44100 / 250) = 583
        ("lowpass:1000", 8000, 107),  # width 250 Hz: 105.6 -> 106 -> odd 107
        ("highpass:3000", 8000, 107),  # 1000 Hz from Nyquist: width 250 Hz
        ("highpass:2000", 8000, 53),  # 2000 Hz from 0 and from Nyquist: width 500 Hz
        ("bandpass:1000,1100", 8000, 1057),  # 100 Hz apart: width 25 Hz
        ("lowpass:2000,window=rect", 8000, 15),  # ceil(0.9 * 8000 / 500) = 15
        ("lowpass:3000,window=rect", 8000, 29),  # ceil(0.9 * 8000 / 250) = 29
        ("lowpass:1", 48000, 16383),  # clamped
        ("lowpass:1000,taps=31", 8000, 31),
    ],
)
def test_fir_taps(spec: str, rate: int, taps: int) -> None:
    assert len(make_kernel(spec, 1, rate=rate)) == taps


def test_kaiser_beta_changes_length() -> None:
    h86 = make_kernel("lowpass:1000,window=kaiser", 1, rate=8000)
    h5 = make_kernel("lowpass:1000,window=kaiser,beta=5", 1, rate=8000)
    assert len(h5) < len(h86)
    assert gain_db(h5, [1000], 8000)[0] == pytest.approx(-6.02, abs=0.5)
    with pytest.raises(KernelSpecError, match="beta 5 applies only to window=kaiser"):
        make_kernel("lowpass:1000,beta=5", 1, rate=8000)


@pytest.mark.parametrize(
    ("spec", "rate", "fragments"),
    [
        ("lowpass:4000", 8000, ["cutoff 4000 Hz", "rate 8000 Hz", "< 4000 Hz"]),
        ("highpass:30000", 44100, ["cutoff 30000", "< 22050 Hz"]),
        ("bandpass:100,22050", 44100, ["high 22050", "< 22050"]),
        ("bandpass:3000,300", 8000, ["low 3000 Hz must be below high 300 Hz"]),
        ("bandstop:300,300", 8000, ["low 300 Hz must be below high 300 Hz"]),
        ("echo:delay=0.0001", 4000, ["delay 0.0001 s", "less than one sample", "4000 Hz"]),
    ],
)
def test_fir_range_errors(spec: str, rate: int, fragments: list[str]) -> None:
    with pytest.raises(KernelSpecError) as info:
        make_kernel(spec, 1, rate=rate)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("name", ["lowpass:100", "highpass:100", "bandpass:1,2", "echo"])
def test_audio_kernels_need_the_rate(name: str) -> None:
    with pytest.raises(KernelSpecError, match="needs the sample rate"):
        make_kernel(name, 1)
    for rate in (0, -8000, float("nan"), "fast"):
        with pytest.raises(KernelSpecError, match="rate must be"):
            make_kernel(name, 1, rate=rate)  # type: ignore[arg-type]


def test_spatial_kernels_ignore_the_rate() -> None:
    np.testing.assert_array_equal(make_kernel("box", 1, rate=44100), make_kernel("box", 1))


# --- echo --------------------------------------------------------------------------------


def test_echo_taps() -> None:
    h = make_kernel("echo:delay=0.25,decay=0.5,repeats=2", 1, rate=8)
    # D = 2 samples, 2 repeats: 9 taps, centre 4
    np.testing.assert_array_equal(h, [0.25, 0, 0.5, 0, 1, 0, 0, 0, 0])
    default = make_kernel("echo", 1, rate=44100)
    assert len(default) == 2 * 11025 + 1
    assert default[11025] == 1 and default[0] == 0.5 and np.count_nonzero(default) == 2


@pytest.mark.parametrize(("delay", "decay", "repeats"), [(0.5, 0.5, 1), (0.25, -0.7, 3)])
def test_echo_is_causal_with_correlation(delay: float, decay: float, repeats: int) -> None:
    rate = 16
    h = make_kernel(f"echo:{delay},{decay},{repeats}", 1, rate=rate)
    step = round(delay * rate)
    x = np.random.default_rng(0).standard_normal(50)
    y = correlate_same(x, h)
    expected = x.copy()
    for k in range(1, repeats + 1):
        expected[k * step :] += decay**k * x[: len(x) - k * step]
    np.testing.assert_allclose(y, expected, atol=1e-12)
