"""Alpha channels: premultiplied (no dark halos), kept as they were, or filtered apart."""

from __future__ import annotations

from typing import Any

import numpy as np

from convcli.engine import compute_dtype
from convcli.engine.chain import apply_chain
from convcli.errors import ArgumentError, Param

__all__ = ["ALPHA_MODES", "has_alpha", "alpha_index"]

#: How an alpha channel is filtered (``--alpha``): premultiplied (the default), with the other
#: channels as they are, or kept as it was.
ALPHA_MODES = ("premultiply", "separate", "keep")


def has_alpha(kind: str, channels: int | None, mode: str | None) -> bool:
    """Whether a signal's last channel is alpha, from its kind, channel count and mode.

    Images and volumes of 2 (gray+alpha) or 4 (RGBA) channels have their alpha last,
    whatever mode they were read from (a palette image with transparency, mode ``P``, loads
    as RGBA) -- provided the loader gave a mode.  A mode of None says the channels are not
    colours: a ``.npy`` or Zarr store that is not 8-bit LA or RGBA (a 2-channel float array
    is more likely a vector field than gray+alpha), a NIfTI series' time points, a TIFF's
    folded channel and time axes.  So 4 time points are never taken for RGBA.

    Examples
    --------
    >>> has_alpha("image", 4, "RGBA"), has_alpha("volume", 4, None), has_alpha("audio", 2, None)
    (True, False, False)
    """
    return kind in ("image", "volume") and channels in (2, 4) and mode is not None


def alpha_index(signal: Any) -> int | None:
    """Return the channel index of an alpha channel, if the signal has one (:func:`has_alpha`)."""
    if signal.channel_axis is None:
        return None
    channels = int(signal.data.shape[signal.channel_axis])
    if not has_alpha(signal.kind, channels, signal.form.mode):
        return None
    if signal.form.container in ("npy", "zarr") and signal.form.mode not in ("LA", "RGBA"):
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
    op: dict[str, Any] | None = None,
    mask: np.ndarray | None = None,
    geometries: list[dict[str, Any]] | None = None,
) -> np.ndarray:
    """Filter colour and alpha: ``premultiply`` (no dark halos) or ``keep`` (alpha as is).

    ``op`` holds the chain's operation (``normalized``, ``transposed``, ``output_padding``).
    Normalized, the alpha (times ``mask``, if given) is the certainty of the colour
    channels, and the alpha itself is filtered plainly (``premultiply``) or kept (``keep``).
    ``geometries`` (one per kernel) is :func:`convcli.engine.chain.apply_chain`'s.
    """
    assert ch is not None
    op = dict(op or {})
    if op.get("transposed") and mode == "keep":
        keep, transposed = Param("alpha", "keep"), Param("transposed", True)
        other = Param("alpha", "premultiply", "separate")
        raise ArgumentError(
            f"{keep} cannot keep the alpha of an upsampled ({transposed}) image; use {other}",
            params=[keep, transposed, other],
        )
    unit = _unit_max(data.dtype)
    a = np.take(data, [alpha], axis=ch).astype(compute_dtype(data.dtype))
    color = np.delete(data, alpha, axis=ch)
    if op.get("normalized"):
        certainty = np.take(a, 0, axis=ch) / unit
        if mask is not None:
            certainty = certainty * mask
        out_color = apply_chain(
            color, kernels, channel_axis=ch, geometry=geometry, plans=plans, mask=certainty, **op
        )
        unseen = np.isnan(out_color) & ~np.isnan(color).any()
        if unseen.any():
            # No alpha under the whole window: transparent there, as premultiply leaves it,
            # the colour is the plain filtered colour (what the alpha hid is kept).
            plain_color = apply_chain(color, kernels, channel_axis=ch, geometry=geometry)
            out_color = np.where(unseen, plain_color, out_color)
        plain = {**op, "normalized": False}
        if mode == "keep":
            deltas = [_delta_like(k if k.ndim == color.ndim - 1 else k[0]) for k in kernels]
            out_alpha = apply_chain(a, deltas, channel_axis=ch, geometry=geometry)
        else:
            out_alpha = apply_chain(a, kernels, channel_axis=ch, geometry=geometry, **plain)
        return np.concatenate([out_color, out_alpha.astype(out_color.dtype)], axis=ch)
    if mode == "keep":
        out_color = apply_chain(
            color,
            kernels,
            channel_axis=ch,
            geometry=geometry,
            plans=plans,
            geometries=geometries,
            **op,
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
        both, kernels, channel_axis=ch, geometry=geometry, plans=plans, geometries=geometries, **op
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
        plain_color = apply_chain(
            color, kernels, channel_axis=ch, geometry=geometry, geometries=geometries, **op
        )
        restored = np.where(seen, restored, plain_color)
    return np.concatenate([restored.astype(out.dtype), out_alpha], axis=ch)
