"""A chain of kernels applied one after another: what ``convcli filter`` computes.

Each kernel is planned for the signal as it stands after the previous one (its shape and
dtype), so a chain of strided kernels is planned stage by stage.  A kernel with one axis more
than the signal's spatial axes holds one kernel per channel (a multi-channel impulse
response), applied channel by channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convcli.engine import execute, make_plan
from convcli.errors import ArgumentError

__all__ = ["apply_chain"]


def apply_chain(
    data: np.ndarray,
    kernels: list[np.ndarray],
    *,
    channel_axis: int | None,
    geometry: dict[str, Any],
    plans: list[Any] | None = None,
    geometries: list[dict[str, Any]] | None = None,
) -> np.ndarray:
    """Apply kernels one after another; per-channel kernels (one more axis) channel by channel.

    Parameters
    ----------
    data : ndarray
        The signal.
    kernels : list of ndarray
        Each with the signal's spatial number of axes, or one more (a leading axis with one
        kernel per channel, as a multi-channel impulse response gives).
    channel_axis : int or None
        The signal's channel axis.
    geometry : dict
        ``stride``, ``padding``, ``pad_mode``, ``pad_value``, ``dilation``, ``flip``, ``method``.
    plans : list, optional
        Receives the :class:`convcli.engine.Plan` of each kernel.
    geometries : list of dict, optional
        One geometry per kernel, used instead of ``geometry`` (padding that depends on each
        kernel's shape).

    Returns
    -------
    ndarray
    """
    y = data
    spatial = y.ndim - (0 if channel_axis is None else 1)
    for i, k in enumerate(kernels):
        geometry = geometries[i] if geometries is not None else geometry
        finite = not (y.dtype.kind == "f" and not np.all(np.isfinite(y)))
        if k.ndim == spatial + 1:
            # One kernel per channel (a multi-channel impulse response).
            if channel_axis is None:
                y = y[..., None]
                channel_axis = y.ndim - 1
            channels = y.shape[channel_axis]
            if channels == 1 and k.shape[0] > 1:
                y = np.repeat(y, k.shape[0], axis=channel_axis)
                channels = k.shape[0]
            if k.shape[0] != channels:
                raise ArgumentError(
                    f"the kernel has {k.shape[0]} channels but the signal has {channels}"
                )
            outs = []
            for c in range(channels):
                plane = np.take(y, c, axis=channel_axis)
                plan = make_plan(plane.shape, plane.dtype, k[c], finite=finite, **geometry)
                if plans is not None and c == 0:
                    plans.append(plan)
                outs.append(execute(plan, plane))
            y = np.stack(outs, axis=channel_axis)
        else:
            plan = make_plan(
                y.shape, y.dtype, k, channel_axis=channel_axis, finite=finite, **geometry
            )
            if plans is not None:
                plans.append(plan)
            y = execute(plan, y)
    return y
