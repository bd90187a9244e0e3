"""convcli: apply convolution kernels to images, audio and volume stacks.

The Python API (heavy modules are imported on first use, so ``import convcli`` is instant):

- :func:`convolve` — correlate/convolve an N-D array with a kernel (stride, padding, pad mode,
  dilation, flip, method, channel axis);
- :func:`conv_transpose` — transposed convolution (PyTorch's ``conv_transpose``): upsampling;
- :func:`output_shape` — the output's spatial shape for a geometry;
- :func:`make_kernel` — a kernel from a ``-k`` spec (named, inline matrix or file).

Examples
--------
>>> import convcli
>>> convcli.output_shape((5, 5), (3, 3), stride=2, padding=1)
(3, 3)
>>> convcli.convolve([1, 2, 3], [1, 1], padding="valid")  # int64: float64 arithmetic
array([3., 5.])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convcli.errors import (
    ArgumentError,
    ConvcliError,
    KernelSpecError,
    OutputExistsError,
    SignalReadError,
    SignalWriteError,
    UnsupportedError,
)
from convcli.geometry import output_shape

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "convolve",
    "conv_transpose",
    "output_shape",
    "make_kernel",
    "ConvcliError",
    "ArgumentError",
    "KernelSpecError",
    "SignalReadError",
    "SignalWriteError",
    "OutputExistsError",
    "UnsupportedError",
]

if TYPE_CHECKING:
    from convcli.engine import conv_transpose, convolve
    from convcli.kernels import make_kernel


def __getattr__(name: str) -> Any:
    if name == "convolve":
        from convcli.engine import convolve

        return convolve
    if name == "conv_transpose":
        from convcli.engine import conv_transpose

        return conv_transpose
    if name == "make_kernel":
        from convcli.kernels import make_kernel

        return make_kernel
    raise AttributeError(f"module 'convcli' has no attribute {name!r}")
