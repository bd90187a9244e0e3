"""Kernels whose origin (the tap that sits on the output sample) is not convcli's centre.

convcli's ``same`` padding with stride 1 puts tap ``(k - 1) // 2`` of each axis on each
sample, and ``--flip`` reverses the kernel about its middle.  Other tools let the origin be
any tap (ImageMagick's ``WxH+X+Y:``) or take ``k // 2`` (libvips).  Such a kernel is placed in
an odd-sized array of zeros with its origin at the centre: then the origin tap sits on each
sample for correlation and for ``--flip`` alike (reversing about the centre is reversing
about the origin), exactly as the other tool computes it.  The zeros cost nothing in the
direct method (it skips zero taps) and do not change a kernel's separability.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["centre_origin"]


def centre_origin(kernel: NDArray[np.float64], origin: Sequence[int]) -> NDArray[np.float64]:
    """Return ``kernel`` zero-padded so that ``origin`` (one index per axis) is its centre.

    A kernel that is odd along every axis with its origin at the centre is returned as it is.

    Examples
    --------
    >>> centre_origin(np.array([[1.0, 2.0], [3.0, 4.0]]), (0, 0))
    array([[0., 0., 0.],
           [0., 1., 2.],
           [0., 3., 4.]])
    >>> centre_origin(np.array([1.0, 2.0, 3.0]), (1,)).tolist()
    [1.0, 2.0, 3.0]
    """
    pads = []
    for n, o in zip(kernel.shape, origin):
        if not 0 <= o < n:
            raise ValueError(f"origin {tuple(origin)} is outside the kernel {kernel.shape}")
        half = max(o, n - 1 - o)
        pads.append((half - o, half - (n - 1 - o)))
    if not any(lo or hi for lo, hi in pads):
        return kernel
    return np.pad(kernel, pads)
