"""Kernels: the ``-k`` grammar, the registry of named kernels, and kernel files.

The entry point is :func:`make_kernel`; :func:`parse_spec` parses without building, and
:func:`kernel_label` names a spec's output files.  Named banks of kernels (``edges``,
``compass``, ``gabor``, ``log-scales``), for ``convcli features --bank``, are built by
:func:`make_bank` and listed by :func:`list_banks`.  :data:`REGISTRY` (and :func:`list_kernels`)
hold one :class:`KernelDef` per named kernel, from which ``convcli kernels`` and docs/kernels.md
print their tables.  Only numpy is imported here; soundfile is imported when an audio
impulse response is read.

How a spec is read
------------------
A spec (surrounding spaces ignored) is the first of these that applies:

1. ``@path``: a kernel file, always (an extension other than those below is read as text).
2. A path ending in ``.txt .csv .npy .json .wav .flac .ogg .aiff .aif`` (any case) that
   exists: a kernel file.
3. Text starting with a letter (other than ``nan``/``inf``): a named kernel, ``name`` or
   ``name:args`` -- unless it ends in a kernel-file extension and does not start with
   ``name:``, in which case it is a kernel file that does not exist (an error naming the path).
4. Anything else: an inline matrix.

So ``box:5``, ``gaussian`` and ``1 2 1`` are never taken for files, even if files of those
names exist (write ``@box`` to read one).

- Named: ``gaussian``, ``gaussian:2``, ``gaussian:sigma=2,size=9``, ``motion:9,45``,
  ``bandpass:300,3000``: comma-separated arguments, ``key=value`` or positional in the order of
  the parameters (positional first); names and keys are case-insensitive.
- Inline: numbers split by spaces or commas, rows by ``;``, planes by ``|``, optionally in
  brackets with a ``/N`` or ``*F`` factor: ``"[1 2 1; 2 4 2; 1 2 1]/16"``.  No ``;``/``|``
  gives 1-D, ``;`` 2-D, ``|`` 3-D (planes, rows, columns).
- ImageMagick's kernel strings: ``3x3:1,2,1,2,4,2,1,2,1``, ``3x3+0+0:...`` (origin column
  and row), ``nan`` for a tap outside the neighbourhood; centred on their origin.
- Files: ``.txt``/``.csv`` (one row per line, ``#`` comments, a blank line between planes),
  ``.npy`` (no pickles), ``.json`` (a nested list, or ``{"kernel": ...}``), ``.mat`` (a libvips
  matrix: ``W H [scale [offset]]`` then rows), audio impulse responses (used exactly as
  stored; several channels give one kernel per channel).

Conventions
-----------
Named kernels are written for the default operation, correlation
(``y[o] = sum_j w[j] x[o + j - centre]``, centre tap at index ``k // 2``): derivative kernels
are ``[-1, 0, 1]`` along their axis, positive where the signal increases along it; ``echo``
puts its echoes before the centre so that it delays.  With ``--flip`` (true convolution)
derivative signs reverse and echoes become pre-echoes.

Examples
--------
>>> from convcli.kernels import make_kernel, kernel_label
>>> make_kernel("[1 2 1]/4", 1).tolist()
[0.25, 0.5, 0.25]
>>> make_kernel("sharpen", 2).tolist()
[[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]
>>> kernel_label("gaussian:sigma=2")
'gaussian-sigma2'
"""

from __future__ import annotations

from convcli.kernels._banks import (
    BANKS,
    BankDef,
    ParsedBank,
    get_bank,
    list_banks,
    make_bank,
    parse_bank,
)
from convcli.kernels._files import (
    KERNEL_FILE_EXTENSIONS,
    VipsMatrix,
    read_kernel_file,
    read_vips_matrix,
)
from convcli.kernels._grammar import ParsedSpec, format_inline, kernel_label, parse_spec
from convcli.kernels._make import make_kernel
from convcli.kernels._registry import REGISTRY, KernelDef, Param, get_kernel, list_kernels

__all__ = [
    "make_kernel",
    "parse_spec",
    "ParsedSpec",
    "kernel_label",
    "format_inline",
    "REGISTRY",
    "KernelDef",
    "Param",
    "list_kernels",
    "get_kernel",
    "read_kernel_file",
    "read_vips_matrix",
    "VipsMatrix",
    "KERNEL_FILE_EXTENSIONS",
    "BANKS",
    "BankDef",
    "ParsedBank",
    "make_bank",
    "list_banks",
    "get_bank",
    "parse_bank",
]
