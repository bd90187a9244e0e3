"""Alpha channels: premultiplied (no dark halos), kept as they were, or filtered apart."""

from __future__ import annotations

from typing import Any

import numpy as np

from convcli.engine import compute_dtype
from convcli.engine.chain import apply_chain

__all__ = ["ALPHA_MODES"]

#: How an alpha channel is filtered (``--alpha``): premultiplied (the default), with the other
#: channels as they are, or kept as it was.
ALPHA_MODES = ("premultiply", "separate", "keep")


def _alpha_index(signal: Any) -> int | None:
    """Return the channel index of an alpha channel, if the signal has one.

    An image or volume read by Pillow with 2 (gray+alpha) or 4 (RGBA) channels has its alpha
    last, whatever its mode was: a palette image with transparency (mode ``P``) loads as
    RGBA.  A ``.npy`` read ``--as image``/``volume`` has one only when it is 8-bit LA or RGBA
    (a 2-channel float array is more likely a vector field than gray+alpha).
    """
    if signal.kind not in ("image", "volume") or signal.channel_axis is None:
        return None
    channels = int(signal.data.shape[signal.channel_axis])
    if channels not in (2, 4):
        return None
    if signal.form.container == "npy" and signal.form.mode not in ("LA", "RGBA"):
        return None
    return channels - 1


def _unit_max(dtype: np.dtype) -> float:
    if dtype.kind in "ui":
        return float(np.iinfo(dtype).max)
    return 1.0


def _delta_like(kernel: np.ndarray) -> np.ndarray:
    """Return a kernel of the same shape with one tap at its centre (``keep``'s identity)."""
    delta = np.zeros(kernel.shape)
    delta[tuple((n - 1) // 2 for n in kernel.shape)] = 1.0
    return delta


def _filter_with_alpha(
    data: np.ndarray,
    alpha: int,
    ch: int | None,
    kernels: list[np.ndarray],
    geometry: dict[str, Any],
    mode: str,
    plans: list[Any],
    geometries: list[dict[str, Any]] | None = None,
) -> np.ndarray:
    """Filter colour and alpha: ``premultiply`` (no dark halos) or ``keep`` (alpha as is).

    ``geometries`` (one per kernel) is :func:`convcli.engine.chain.apply_chain`'s.
    """
    assert ch is not None
    unit = _unit_max(data.dtype)
    a = np.take(data, [alpha], axis=ch).astype(compute_dtype(data.dtype))
    color = np.delete(data, alpha, axis=ch)
    if mode == "keep":
        out_color = apply_chain(
            color, kernels, channel_axis=ch, geometry=geometry, plans=plans, geometries=geometries
        )
        deltas = [_delta_like(k if k.ndim == color.ndim - 1 else k[0]) for k in kernels]
        out_alpha = apply_chain(
            a, deltas, channel_axis=ch, geometry=geometry, geometries=geometries
        )
        return np.concatenate([out_color, out_alpha.astype(out_color.dtype)], axis=ch)
    weight = a / unit
    pre = color * weight
    both = np.concatenate([pre, a], axis=ch)
    out = apply_chain(
        both, kernels, channel_axis=ch, geometry=geometry, plans=plans, geometries=geometries
    )
    n = out.shape[ch] - 1
    out_color = np.take(out, range(n), axis=ch)
    out_alpha = np.take(out, [n], axis=ch)
    w = out_alpha / unit
    seen = np.abs(w) > 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        restored = np.where(seen, out_color / w, 0.0)
    if not seen.all():
        # Where the result is fully transparent, premultiplied colour is 0/0: keep the colour
        # filtered as it is there, so that colours under alpha 0 survive (identity is exact).
        plain = apply_chain(
            color, kernels, channel_axis=ch, geometry=geometry, geometries=geometries
        )
        restored = np.where(seen, restored, plain)
    return np.concatenate([restored.astype(out.dtype), out_alpha], axis=ch)
