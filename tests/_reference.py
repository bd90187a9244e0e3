"""The oracle: SPEC.md's formula, tap by tap, in float64.

    out = floor((i + p_lo + p_hi - k') / s) + 1
    y[o] = sum_j w[j] * x_padded[o*s + j*d]

Padding is numpy.pad itself (the definition of the pad modes); the padding amounts are
computed here again from SPEC's words, independently of convcli.geometry.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

NUMPY_MODE = {
    "zero": "constant",
    "constant": "constant",
    "reflect": "reflect",
    "symmetric": "symmetric",
    "replicate": "edge",
    "circular": "wrap",
}


def reference_pads(i, k, s, d, padding):
    keff = d * (k - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "full":
        return keff - 1, keff - 1
    if padding == "same":
        out = math.ceil(i / s)
        total = max((out - 1) * s + keff - i, 0)
        return total // 2, total - total // 2
    return padding  # a (lo, hi) pair


def reference_correlate(
    x, w, stride, padding, dilation, pad_mode="zero", pad_value=0.0, flip=False
):
    """x and w have the same number of axes; stride/dilation/padding are per-axis lists."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if flip:
        w = w[(slice(None, None, -1),) * w.ndim]
    pads = [
        reference_pads(i, k, s, d, p)
        for i, k, s, d, p in zip(x.shape, w.shape, stride, dilation, padding)
    ]
    kw = {"constant_values": pad_value} if pad_mode == "constant" else {}
    xp = np.pad(x, pads, mode=NUMPY_MODE[pad_mode], **kw)
    out_shape = []
    for n, k, s, d in zip(xp.shape, w.shape, stride, dilation):
        keff = d * (k - 1) + 1
        out_shape.append((n - keff) // s + 1)
    y = np.zeros(out_shape)
    for o in itertools.product(*(range(n) for n in out_shape)):
        acc = 0.0
        for j in itertools.product(*(range(k) for k in w.shape)):
            idx = tuple(oo * s + jj * d for oo, jj, s, d in zip(o, j, stride, dilation))
            acc += w[j] * xp[idx]
        y[o] = acc
    return y
