"""What follows the bank in a layer: an activation, then optional pooling.

Pooling takes windows of ``size`` samples on every spatial axis, ``stride`` apart (default
``size``: windows side by side, as PyTorch's ``MaxPool2d(N)``), with no padding, so each axis
has ``o = floor((i - size) / stride) + 1`` outputs (Dumoulin & Visin, relationship 7); samples
past the last whole window are dropped.

Examples
--------
>>> maps = np.array([[[-1.0, 2.0, 3.0], [4.0, -5.0, 6.0]]])
>>> activate(maps.copy(), "relu").tolist()
[[[0.0, 2.0, 3.0], [4.0, 0.0, 6.0]]]
>>> pool(maps, "max", 2).tolist()
[[[4.0]]]
>>> pool_output_size(7, 2), pool_output_size(7, 3, 2)
(3, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from convcli.errors import ArgumentError, Param
from convcli.geometry import PaddingArg

__all__ = [
    "ACTIVATIONS",
    "POOL_MODES",
    "Pooling",
    "activate",
    "pool",
    "parse_pool",
    "pool_output_size",
    "feature_maps",
]

ACTIVATIONS = ("none", "relu", "abs", "tanh", "sigmoid")
POOL_MODES = ("max", "avg")


def activate(maps: np.ndarray, activation: str = "none") -> np.ndarray:
    """Apply an activation in place (a float array) and return it.

    Parameters
    ----------
    maps : ndarray
        Floating-point maps.
    activation : {"none", "relu", "abs", "tanh", "sigmoid"}
        ``relu`` = max(x, 0); ``sigmoid`` = 1 / (1 + exp(-x)), computed as
        ``(1 + tanh(x/2)) / 2`` so that it never overflows.

    Returns
    -------
    ndarray
        ``maps``, changed in place.

    Examples
    --------
    >>> activate(np.array([-2.0, 0.0, 2.0]), "sigmoid").round(4).tolist()
    [0.1192, 0.5, 0.8808]
    """
    name = str(activation).lower()
    if name not in ACTIVATIONS:
        raise ArgumentError(f"activation {activation!r} is not one of {', '.join(ACTIVATIONS)}")
    if maps.dtype.kind != "f":
        raise ArgumentError(f"activation needs floating-point maps, got {maps.dtype}")
    if name == "relu":
        np.maximum(maps, 0, out=maps)
    elif name == "abs":
        np.abs(maps, out=maps)
    elif name == "tanh":
        np.tanh(maps, out=maps)
    elif name == "sigmoid":
        maps *= 0.5
        np.tanh(maps, out=maps)
        maps += 1
        maps *= 0.5
    return maps


@dataclass(frozen=True)
class Pooling:
    """A pooling step: ``mode`` over windows of ``size`` samples, ``stride`` apart, per axis.

    Attributes
    ----------
    mode : {"max", "avg"}
        Maximum or mean of each window.
    size : int
        Window size on every spatial axis.
    stride : int
        Step between windows (``size`` unless told).
    """

    mode: str
    size: int
    stride: int

    def text(self) -> str:
        """Return the CLI form: ``max:2`` or ``avg:3:2``.

        Examples
        --------
        >>> Pooling("max", 2, 2).text(), Pooling("avg", 3, 2).text()
        ('max:2', 'avg:3:2')
        """
        tail = "" if self.stride == self.size else f":{self.stride}"
        return f"{self.mode}:{self.size}{tail}"


def parse_pool(text: str) -> Pooling:
    """Parse ``MODE:N`` or ``MODE:N:S`` (``max:2``, ``avg:3``, ``max:3:2``).

    Raises
    ------
    ArgumentError
        A mode other than max and avg, or a size or stride that is not an integer >= 1.

    Examples
    --------
    >>> parse_pool("max:2")
    Pooling(mode='max', size=2, stride=2)
    >>> parse_pool("AVG:3:1")
    Pooling(mode='avg', size=3, stride=1)
    """
    parts = [p.strip() for p in str(text).split(":")]
    mode = parts[0].lower()
    if mode not in POOL_MODES or len(parts) not in (2, 3):
        raise ArgumentError(
            f"pool {text!r} is not MODE:N or MODE:N:S with MODE max or avg (e.g. max:2)"
        )
    try:
        numbers = [int(p) for p in parts[1:]]
    except ValueError:
        raise ArgumentError(f"pool {text!r}: N and S must be integers (e.g. max:2)") from None
    if any(n < 1 for n in numbers):
        raise ArgumentError(f"pool {text!r}: N and S must be >= 1")
    size = numbers[0]
    return Pooling(mode, size, numbers[1] if len(numbers) == 2 else size)


def pool_output_size(size: int, window: int, stride: int | None = None) -> int:
    """Return ``floor((size - window) / stride) + 1``; 0 when the window does not fit.

    Examples
    --------
    >>> pool_output_size(4, 2), pool_output_size(5, 2), pool_output_size(1, 2)
    (2, 2, 0)
    """
    s = window if stride is None else stride
    if size < window:
        return 0
    return (size - window) // s + 1


def pool(
    maps: np.ndarray, mode: str, size: int, stride: int | None = None, *, axes: int = 1
) -> np.ndarray:
    """Pool every map over its spatial axes (all axes after the first ``axes``).

    Parameters
    ----------
    maps : ndarray
        ``(F, *spatial)`` (or ``axes`` leading non-spatial axes).
    mode : {"max", "avg"}
        Window maximum or mean.
    size : int
        Window size on every spatial axis.
    stride : int, optional
        Step between windows; default ``size``.
    axes : int, optional
        Number of leading axes that are not pooled.

    Returns
    -------
    ndarray
        The pooled maps, same dtype; spatial sizes from :func:`pool_output_size`.

    Raises
    ------
    ArgumentError
        A bad mode, or a window larger than a map.

    Examples
    --------
    >>> pool(np.arange(10.0)[None], "avg", 3).tolist()
    [[1.0, 4.0, 7.0]]
    >>> pool(np.arange(10.0)[None], "max", 3, 2).tolist()
    [[2.0, 4.0, 6.0, 8.0]]
    """
    if mode not in POOL_MODES:
        raise ArgumentError(f"pool mode {mode!r} is not one of {', '.join(POOL_MODES)}")
    s = size if stride is None else stride
    if size < 1 or s < 1:
        raise ArgumentError(f"pool size and stride must be >= 1, got {size} and {s}")
    spatial = maps.shape[axes:]
    outs = [pool_output_size(n, size, s) for n in spatial]
    if any(o == 0 for o in outs):
        dims = "x".join(map(str, spatial))
        param = Param("pool")
        raise ArgumentError(
            f"the pooling window {size} is larger than the maps ({dims}); use a smaller {param}",
            params=[param],
        )
    nd = len(spatial)
    reduce = np.max if mode == "max" else np.mean
    if s == size:
        # Windows side by side: crop to whole windows, split each axis in (o, size).
        crop = maps[(slice(None),) * axes + tuple(slice(0, o * size) for o in outs)]
        shape = maps.shape[:axes] + tuple(v for o in outs for v in (o, size))
        window_axes = tuple(axes + 2 * i + 1 for i in range(nd))
        return np.asarray(reduce(crop.reshape(shape), axis=window_axes), dtype=maps.dtype)
    from numpy.lib.stride_tricks import sliding_window_view

    spatial_axes = tuple(range(axes, axes + nd))
    win = sliding_window_view(maps, (size,) * nd, axis=spatial_axes)
    win = win[(slice(None),) * axes + (slice(None, None, s),) * nd]
    window_axes = tuple(range(axes + nd, axes + 2 * nd))
    return np.asarray(reduce(win, axis=window_axes), dtype=maps.dtype)


def feature_maps(
    x: Any,
    weights: Any,
    *,
    bias: Any = None,
    activation: str = "none",
    pool: str | Pooling | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    channel_axis: int | None = None,
    method: str = "auto",
) -> np.ndarray:
    """Compute a layer's output: the bank, plus bias, then the activation, then pooling.

    Parameters
    ----------
    x, weights, bias, stride, padding, pad_mode, pad_value, dilation, flip, channel_axis, method
        As for :func:`convcli.features.correlate_bank`.
    activation : {"none", "relu", "abs", "tanh", "sigmoid"}, optional
        See :func:`activate`.
    pool : str or Pooling, optional
        ``"max:N"``, ``"avg:N"``, ``"max:N:S"`` (see :func:`parse_pool`), or a
        :class:`Pooling`.

    Returns
    -------
    ndarray
        ``(F, *out)``: float32 (float64 where :func:`convcli.engine.compute_dtype` says).

    Examples
    --------
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> feature_maps(x, [[[1.0]], [[-1.0]]], activation="relu", pool="max:2")
    array([[[ 5.,  7.],
            [13., 15.]],
    <BLANKLINE>
           [[ 0.,  0.],
            [ 0.,  0.]]])
    """
    from convcli.features._bank import correlate_bank

    pooling = parse_pool(pool) if isinstance(pool, str) else pool
    maps = correlate_bank(
        x,
        weights,
        bias=bias,
        stride=stride,
        padding=padding,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dilation=dilation,
        flip=flip,
        channel_axis=channel_axis,
        method=method,
    )
    activate(maps, activation)
    if pooling is not None:
        maps = _pool(maps, pooling.mode, pooling.size, pooling.stride)
    return maps


_pool = pool  # ``feature_maps`` has a parameter called ``pool``
