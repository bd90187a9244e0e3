"""Builders of the named image and n-D kernels.

Every builder has the signature ``builder(ndim, rate, params) -> ndarray`` (``params`` is
complete and already checked by the registry; ``rate`` is unused here) and returns a float64
array with exactly ``ndim`` axes, odd along each, the centre tap at index ``k // 2`` -- except
the upsampling kernels (``bilinear``, ``bicubic``, ``lanczos``), made for a transposed
convolution with stride ``factor``, whose size follows the factor (even for even factors).

Conventions: the kernels are written for the default operation, correlation,
``y[o] = sum_j w[j] * x[o + j - centre]``.  So a derivative kernel (``sobel``, ``prewitt``,
``scharr``) is ``[-1, 0, 1]`` along its axis and is positive where the signal increases along
that axis (as OpenCV's ``Sobel``; with ``--flip`` the sign reverses).  Axes are counted as numpy
counts them: in 2-D, axis 0 is the rows (down the image) and axis 1 (= -1) the columns (across).
Angles are in degrees, counter-clockwise as seen on screen, from the column axis: ``motion`` at
0 degrees is a horizontal line along a row, at 90 degrees a vertical line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convcli.errors import KernelSpecError

__all__ = [
    "MAX_ELEMENTS",
    "check_size",
    "identity",
    "box",
    "gaussian",
    "laplacian",
    "log",
    "dog",
    "sharpen",
    "unsharp",
    "sobel",
    "disk",
    "prewitt",
    "scharr",
    "emboss",
    "outline",
    "motion",
    "gabor",
    "bilinear",
    "bicubic",
    "lanczos",
]

Kernel = NDArray[np.float64]
Params = Mapping[str, Any]

MAX_ELEMENTS = 2**26
"""The largest named kernel built (64 Mi taps, 512 MiB): a guard against typos like sigma=1e4."""


def check_size(name: str, shape: Sequence[int]) -> None:
    """Refuse to build a kernel with more than :data:`MAX_ELEMENTS` taps."""
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        dims = "x".join(str(n) for n in shape)
        raise KernelSpecError(
            f"{name}: the kernel would be {dims} = {count} taps; the limit is {MAX_ELEMENTS}"
        )


def cos_sin(degrees: float) -> tuple[float, float]:
    """Cosine and sine of an angle in degrees, exact at multiples of 90 degrees."""
    turn = degrees % 360.0
    exact = {0.0: (1.0, 0.0), 90.0: (0.0, 1.0), 180.0: (-1.0, 0.0), 270.0: (0.0, -1.0)}
    if turn in exact:
        return exact[turn]
    rad = math.radians(turn)
    return math.cos(rad), math.sin(rad)


def _outer(vectors: Sequence[Kernel]) -> Kernel:
    """Return the n-D outer product of 1-D vectors, one per axis."""
    return np.asarray(reduce(np.multiply.outer, vectors), dtype=np.float64).reshape(
        tuple(len(v) for v in vectors)
    )


def _squared_radius(name: str, radius: int, ndim: int) -> Kernel:
    """Squared distance from the centre over a cube of side ``2*radius + 1``."""
    side = 2 * radius + 1
    check_size(name, (side,) * ndim)
    coords = np.arange(-radius, radius + 1, dtype=np.float64) ** 2
    total = np.zeros((side,) * ndim)
    for axis in range(ndim):
        shape = [1] * ndim
        shape[axis] = side
        total = total + coords.reshape(shape)
    return total


def _radius(sigma: float, size: int) -> int:
    """Half-width: ``size // 2``, or scipy.ndimage's ``int(4 * sigma + 0.5)`` when size is 0."""
    return size // 2 if size else int(4.0 * sigma + 0.5)


def _gauss1d(sigma: float, radius: int) -> Kernel:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _gaussian_nd(name: str, sigma: float, radius: int, ndim: int) -> Kernel:
    check_size(name, (2 * radius + 1,) * ndim)
    kernel = _outer([_gauss1d(sigma, radius)] * ndim)
    return kernel / kernel.sum()


def _centre_impulse(side: int, ndim: int) -> Kernel:
    kernel = np.zeros((side,) * ndim)
    kernel[(side // 2,) * ndim] = 1.0
    return kernel


def _check_axis(name: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise KernelSpecError(
            f"{name}: axis {axis} is out of range for a {ndim}-D signal; "
            f"axis must be between {-ndim} and {ndim - 1}"
        )
    return axis % ndim


def _derivative(name: str, axis: int, ndim: int, smooth: Sequence[float]) -> Kernel:
    axis = _check_axis(name, axis, ndim)
    diff = np.array([-1.0, 0.0, 1.0])
    across = np.asarray(smooth, dtype=np.float64)
    return _outer([diff if a == axis else across for a in range(ndim)])


def identity(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Build a centred 1 in a cube of side ``size``."""
    check_size("identity", (p["size"],) * ndim)
    return _centre_impulse(p["size"], ndim)


def box(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Build the mean over a cube of side ``size``."""
    size = p["size"]
    check_size("box", (size,) * ndim)
    return np.full((size,) * ndim, 1.0 / size**ndim)


def gaussian(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Build the outer product of normalised 1-D Gaussians (the weights of scipy.ndimage)."""
    return _gaussian_nd("gaussian", p["sigma"], _radius(p["sigma"], p["size"]), ndim)


def laplacian(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Build the 3^ndim stencil: 1 at the 2*ndim face neighbours, -2*ndim at the centre."""
    kernel = _centre_impulse(3, ndim) * (-2.0 * ndim)
    for axis in range(ndim):
        for side in (0, 2):
            index = [1] * ndim
            index[axis] = side
            kernel[tuple(index)] = 1.0
    return kernel


def log(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Laplacian of Gaussian, as MATLAB's ``fspecial('log')`` in n-D.

    ``h = g * (r**2 - ndim*sigma**2) / sigma**4`` with ``g`` the Gaussian normalised to sum 1;
    then the mean is subtracted so that the kernel sums to 0.  The centre is negative.
    """
    sigma = p["sigma"]
    r2 = _squared_radius("log", _radius(sigma, p["size"]), ndim)
    g = np.exp(-r2 / (2.0 * sigma**2))
    g /= g.sum()
    h = g * (r2 - ndim * sigma**2) / sigma**4
    return h - h.mean()


def dog(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Difference of two normalised Gaussians over the same support (the larger one's)."""
    s1, s2 = p["sigma1"], p["sigma2"]
    if s1 == s2:
        raise KernelSpecError(f"dog: sigma1 and sigma2 are both {s1}; they must differ")
    radius = _radius(max(s1, s2), p["size"])
    return _gaussian_nd("dog", s1, radius, ndim) - _gaussian_nd("dog", s2, radius, ndim)


def sharpen(ndim: int, rate: float | None, p: Params) -> Kernel:
    """``identity - amount * laplacian`` (in 2-D with amount 1: ``[0 -1 0; -1 5 -1; 0 -1 0]``)."""
    return _centre_impulse(3, ndim) - p["amount"] * laplacian(ndim, rate, p)


def unsharp(ndim: int, rate: float | None, p: Params) -> Kernel:
    """``identity + amount * (identity - gaussian)``, the Gaussian of automatic size."""
    blur = _gaussian_nd("unsharp", p["sigma"], _radius(p["sigma"], 0), ndim)
    ident = _centre_impulse(blur.shape[0], ndim)
    return ident + p["amount"] * (ident - blur)


def sobel(ndim: int, rate: float | None, p: Params) -> Kernel:
    """``[-1, 0, 1]`` along ``axis`` times ``[1, 2, 1]`` along the others (unscaled)."""
    return _derivative("sobel", p["axis"], ndim, (1.0, 2.0, 1.0))


def prewitt(ndim: int, rate: float | None, p: Params) -> Kernel:
    """``[-1, 0, 1]`` along ``axis`` times ``[1, 1, 1]`` across."""
    return _derivative("prewitt", p["axis"], ndim, (1.0, 1.0, 1.0))


def scharr(ndim: int, rate: float | None, p: Params) -> Kernel:
    """``[-1, 0, 1]`` along ``axis`` times ``[3, 10, 3]`` across."""
    return _derivative("scharr", p["axis"], ndim, (3.0, 10.0, 3.0))


def disk(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Set the samples within ``radius`` of the centre to ``1 / count``, the others to 0."""
    radius = p["radius"]
    r2 = _squared_radius("disk", math.ceil(radius), ndim)
    inside = (r2 <= radius * radius).astype(np.float64)
    return inside / inside.sum()


def emboss(ndim: int, rate: float | None, p: Params) -> Kernel:
    """``[-2 -1 0; -1 1 1; 0 1 2]``."""
    return np.array([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])


def outline(ndim: int, rate: float | None, p: Params) -> Kernel:
    """``[-1 -1 -1; -1 8 -1; -1 -1 -1]``."""
    kernel = -np.ones((3, 3))
    kernel[1, 1] = 8.0
    return kernel


def motion(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Draw an antialiased line of ``length`` pixels through the centre, normalised to sum 1.

    The line is ``length`` points one pixel apart, centred on the middle tap, in the
    direction ``angle`` (degrees counter-clockwise from the column axis, rows growing
    downwards); each point is spread bilinearly over its four neighbouring taps.  Along a row
    or a column the kernel is a plain box of ``length`` taps (odd lengths) and the all-zero
    border rows and columns are cropped, so ``motion:9`` is 1 x 9.
    """
    length, angle = p["length"], p["angle"]
    cos, sin = cos_sin(angle)
    along = np.arange(length, dtype=np.float64) - (length - 1) / 2.0
    rows = np.round(along * -sin, 12)
    cols = np.round(along * cos, 12)
    radius = math.ceil(max(np.abs(rows).max(), np.abs(cols).max()))
    side = 2 * radius + 1
    check_size("motion", (side, side))
    kernel = np.zeros((side, side))
    r0 = np.floor(rows)
    c0 = np.floor(cols)
    fr = rows - r0
    fc = cols - c0
    r0i = r0.astype(np.intp) + radius
    c0i = c0.astype(np.intp) + radius
    for dr, wr in ((0, 1.0 - fr), (1, fr)):
        for dc, wc in ((0, 1.0 - fc), (1, fc)):
            weight = wr * wc
            keep = weight > 0
            np.add.at(kernel, (r0i[keep] + dr, c0i[keep] + dc), weight[keep])
    kernel /= kernel.sum()
    return _crop_zero_border(kernel)


def _crop_zero_border(kernel: Kernel) -> Kernel:
    """Drop all-zero rows and columns in pairs (one each side), keeping the centre."""
    for axis in range(kernel.ndim):
        moved = np.moveaxis(kernel, axis, 0)
        while moved.shape[0] > 1 and not moved[0].any() and not moved[-1].any():
            moved = moved[1:-1]
        kernel = np.moveaxis(moved, 0, axis)
    return np.ascontiguousarray(kernel)


def gabor(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Build the real Gabor kernel of OpenCV's ``getGaborKernel`` (``ktype=CV_64F``).

    With ``x`` and ``y`` taken as OpenCV takes them (``kernel[ymax - y, xmax - x]``),
    ``x' = x cos(theta) + y sin(theta)``, ``y' = -x sin(theta) + y cos(theta)`` and
    ``w = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) * cos(2 pi x' / lambda + psi)``.
    ``theta`` and ``psi`` are in degrees here (radians in OpenCV).  With ``size=0`` the
    half-widths are OpenCV's: 3 standard deviations of the envelope projected on each axis.
    """
    sigma, gamma, wavelength = p["sigma"], p["gamma"], p["lambda"]
    cos, sin = cos_sin(p["theta"])
    sigma_x, sigma_y = sigma, sigma / gamma
    if p["size"]:
        xmax = ymax = p["size"] // 2
    else:
        xmax = round(max(abs(3 * sigma_x * cos), abs(3 * sigma_y * sin)))
        ymax = round(max(abs(3 * sigma_x * sin), abs(3 * sigma_y * cos)))
    check_size("gabor", (2 * ymax + 1, 2 * xmax + 1))
    y = (ymax - np.arange(2 * ymax + 1, dtype=np.float64))[:, None]
    x = (xmax - np.arange(2 * xmax + 1, dtype=np.float64))[None, :]
    xr = x * cos + y * sin
    yr = -x * sin + y * cos
    envelope = np.exp(-0.5 * (xr**2 / sigma_x**2 + yr**2 / sigma_y**2))
    return envelope * np.cos(2.0 * math.pi / wavelength * xr + math.radians(p["psi"]))


# --- interpolation kernels, for upsampling with a transposed convolution ------------------
#
# Sampled at (j - centre) / factor over 2*radius*factor - factor%2 taps (the profile's whole
# support), with stride ``factor`` and padding "same" (a crop of (k - factor) / 2 each side)
# a transposed convolution gives output o the weights profile(src(o) - i) of input i, where
# src(o) = (o + 0.5) / factor - 0.5: half-pixel centres, as align_corners=False.


def _upsampling(
    name: str, factor: int, radius: int, profile: Any, ndim: int, per_phase: bool = False
) -> Kernel:
    side = 2 * radius * factor - factor % 2
    check_size(name, (side,) * ndim)
    t = (np.arange(side, dtype=np.float64) - (side - 1) / 2.0) / factor
    taps = np.asarray(profile(t), dtype=np.float64)
    if per_phase:  # each output phase's weights sum to 1: a flat signal stays flat
        for r in range(factor):
            taps[r::factor] /= taps[r::factor].sum()
    return _outer([taps] * ndim)


def bilinear(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Tent ``max(0, 1 - |t|)``: linear interpolation (bilinear in 2-D) by ``factor``.

    Examples
    --------
    >>> bilinear(1, None, {"factor": 2}).tolist()
    [0.25, 0.75, 0.75, 0.25]
    """
    return _upsampling("bilinear", p["factor"], 1, lambda t: np.maximum(0.0, 1.0 - np.abs(t)), ndim)


def _keys(a: float) -> Any:
    def profile(t: np.ndarray) -> np.ndarray:
        x = np.abs(t)
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        return np.where(x <= 1, near, np.where(x < 2, far, 0.0))

    return profile


def bicubic(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Keys' cubic convolution kernel with parameter ``a``, by ``factor``.

    ``a = -0.5`` (Keys 1981; Pillow's BICUBIC, MATLAB's imresize) is the default; OpenCV's
    INTER_CUBIC and PyTorch's ``interpolate(mode='bicubic')`` use ``a = -0.75``.

    Examples
    --------
    >>> bicubic(1, None, {"factor": 2, "a": -0.5}).round(6).tolist()
    [-0.023438, -0.070312, 0.226562, 0.867188, 0.867188, 0.226562, -0.070312, -0.023438]
    """
    return _upsampling("bicubic", p["factor"], 2, _keys(p["a"]), ndim)


def lanczos(ndim: int, rate: float | None, p: Params) -> Kernel:
    """Lanczos window ``sinc(t) sinc(t/a)`` for ``|t| < a``, by ``factor``.

    The taps of each output phase are divided by their sum (as Pillow normalises its
    weights), so a flat signal stays flat; bilinear and bicubic need no such step.
    """
    a = p["a"]

    def profile(t: np.ndarray) -> np.ndarray:
        return np.where(np.abs(t) < a, np.sinc(t) * np.sinc(t / a), 0.0)

    return _upsampling("lanczos", p["factor"], a, profile, ndim, per_phase=True)
