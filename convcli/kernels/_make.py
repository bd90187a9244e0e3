"""``make_kernel``: from a spec (or an array) to a float64 kernel with the signal's axes."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from convcli.errors import KernelSpecError
from convcli.kernels._files import (
    impulse_response_rate,
    is_audio_file,
    is_text_file,
    read_kernel_file,
)
from convcli.kernels._grammar import ParsedSpec, parse_spec
from convcli.kernels._registry import get_kernel

__all__ = ["make_kernel", "fit_axes", "as_kernel_array"]


def make_kernel(
    spec: str | ParsedSpec | ArrayLike, ndim: int, rate: float | None = None
) -> NDArray[np.float64]:
    """Build the kernel that a ``-k`` spec (or an array) describes, for a signal of ``ndim`` axes.

    Parameters
    ----------
    spec : str, ParsedSpec or array_like
        A named kernel (``"gaussian:sigma=2"``), an inline matrix (``"[1 2 1]/4"``), a kernel
        file (``"@k.txt"``, ``"ir.wav"``), a :class:`ParsedSpec`, or an array of real, finite
        numbers.  See :mod:`convcli.kernels` for the grammar.
    ndim : int
        The number of spatial axes of the signal: 1 for audio, 2 for images, 3 for volumes.
    rate : float, optional
        The sample rate in Hz; needed by the audio kernels (``lowpass``, ``echo``, ...).  An
        audio impulse response recorded at another rate is refused (the taps are samples:
        used at another rate, the response would stretch or shrink in time).

    Returns
    -------
    numpy.ndarray
        A new float64 array with exactly ``ndim`` axes.  A kernel with fewer axes gets leading
        size-1 axes (``"1 2 1"`` for an image is a (1, 3) row; ``"1;2;1"`` a (3, 1) column);
        one with more may lose leading size-1 axes.  Named kernels are built for ``ndim``.
        Exception: an audio impulse-response file with C > 1 channels and ``ndim=1`` gives
        shape (C, taps): one kernel per channel, for the caller to pair with the channels; and
        a text file with one number per line (as ``numpy.savetxt`` writes taps) is 1-D taps
        for ``ndim=1``.

    Raises
    ------
    KernelSpecError
        For a bad spec, parameter or file, a named kernel not defined for ``ndim`` (the
        message lists the dimensionalities it supports), a missing ``rate``, or a kernel with
        more axes than ``ndim`` that cannot be reduced.

    Examples
    --------
    >>> make_kernel("1 2 1", 2).tolist()
    [[1.0, 2.0, 1.0]]
    >>> make_kernel("1;2;1", 2).shape
    (3, 1)
    >>> make_kernel("sobel:axis=1", 2)
    array([[-1., 0., 1.],
           [-2., 0., 2.],
           [-1., 0., 1.]])
    >>> make_kernel("echo:delay=0.5", 1, rate=4).tolist()
    [0.5, 0.0, 1.0, 0.0, 0.0]
    >>> make_kernel("prewitt", 3)
    Traceback (most recent call last):
    ...
    convcli.errors.KernelSpecError: kernel 'prewitt' is defined for 2-D signals only, not 3-D
    """
    if isinstance(ndim, bool) or not isinstance(ndim, (int, np.integer)) or ndim < 1:
        raise KernelSpecError(f"ndim must be an integer >= 1, got {ndim!r}")
    ndim = int(ndim)
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if not isinstance(spec, ParsedSpec):
        return fit_axes(as_kernel_array(spec), ndim, "the kernel array")
    if spec.kind == "named":
        assert spec.name is not None
        return get_kernel(spec.name).build(ndim, rate, spec.params)
    if spec.kind == "inline":
        assert spec.array is not None
        return fit_axes(spec.array.copy(), ndim, f"inline kernel {spec.text.strip()!r}")
    assert spec.path is not None
    kernel = read_kernel_file(spec.path)
    if rate is not None and is_audio_file(spec.path):
        _check_rate(spec.path, rate)
    if ndim == 1 and kernel.ndim == 2 and is_audio_file(spec.path):
        return kernel
    if ndim == 1 and is_text_file(spec.path) and kernel.ndim == 2 and kernel.shape[1] == 1:
        # One tap per line, as numpy.savetxt writes a 1-D array: a column of taps.
        return np.ascontiguousarray(kernel[:, 0])
    return fit_axes(kernel, ndim, f"kernel file {spec.path!r}")


def as_kernel_array(value: Any) -> NDArray[np.float64]:
    """Check an array-like kernel (real, finite, non-empty) and return a float64 copy.

    Examples
    --------
    >>> as_kernel_array([[1, 2], [3, 4]]).dtype
    dtype('float64')
    """
    if isinstance(value, (bytes, bytearray)):
        raise KernelSpecError("a kernel must be a spec string or an array of numbers, not bytes")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise KernelSpecError(f"the kernel array is not a regular array: {exc}") from None
    if array.dtype.kind == "c":
        raise KernelSpecError(f"the kernel array is complex ({array.dtype}); a kernel is real")
    if array.dtype.kind not in "biufO" or array.dtype.fields is not None:
        raise KernelSpecError(f"the kernel array has dtype {array.dtype}, not numbers")
    if array.dtype.kind == "O":
        for index, item in np.ndenumerate(array):
            if not isinstance(item, numbers.Real):
                raise KernelSpecError(
                    f"the kernel array holds {item!r} at index {index}, not a number"
                )
    try:
        kernel = np.array(array, dtype=np.float64)
    except (ValueError, TypeError, OverflowError) as exc:
        raise KernelSpecError(
            f"the kernel array holds something that is not a number: {exc}"
        ) from None
    if kernel.size == 0:
        raise KernelSpecError(f"the kernel array is empty (shape {kernel.shape})")
    bad = ~np.isfinite(kernel)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        what = "NaN" if np.isnan(kernel[index]) else "Inf"
        raise KernelSpecError(
            f"the kernel array has {what} at index {index}; a kernel must be finite"
        )
    return kernel


def fit_axes(
    kernel: NDArray[np.float64], ndim: int, what: str, hint: str = ""
) -> NDArray[np.float64]:
    """Give ``kernel`` exactly ``ndim`` axes: add leading size-1 axes, or drop them.

    Raises
    ------
    KernelSpecError
        When the kernel has more axes than ``ndim`` and they are not leading size-1 axes.

    Examples
    --------
    >>> fit_axes(np.ones(3), 3, "k").shape
    (1, 1, 3)
    >>> fit_axes(np.ones((1, 1, 3)), 1, "k").shape
    (3,)
    """
    if kernel.ndim <= ndim:
        return kernel.reshape((1,) * (ndim - kernel.ndim) + kernel.shape)
    fitted = kernel
    while fitted.ndim > ndim and fitted.shape[0] == 1:
        fitted = fitted[0]
    if fitted.ndim == ndim:
        return fitted
    shape = "x".join(str(n) for n in kernel.shape)
    raise KernelSpecError(
        f"{what} has {kernel.ndim} axes (shape {shape}) but the signal has {ndim}; only "
        f"leading size-1 axes can be dropped{f' ({hint})' if hint else ''}"
    )


def _check_rate(path: str, rate: float) -> None:
    """Refuse an impulse response recorded at another rate than the signal's."""
    own = impulse_response_rate(path)
    if own != rate:
        raise KernelSpecError(
            f"kernel file {path}: the impulse response is sampled at {own} Hz but the signal "
            f"at {rate:g} Hz; applied as it is, it would last {own / rate:.3g} times as long "
            f"as recorded: resample one of them to the other's rate first"
        )
