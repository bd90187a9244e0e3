"""What one job may cost: the working-set budget and the taps of a kernel.

An input whose in-memory filtering would need more than the budget is filtered slab by slab
where its format allows (:mod:`convcli.jobs.stream`), else refused from its header, before
anything is decoded; a kernel of more than ``max_taps`` taps is refused before it is built.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.engine import compute_dtype
from convcli.errors import KernelSpecError, Param, join_words

if TYPE_CHECKING:
    from convcli.jobs.options import FilterOptions

__all__ = ["memory_need", "MEMORY_BUDGET", "MAX_TAPS", "default_memory_budget", "working_set"]


#: The in-memory working set (bytes) above which audio files and ``.npy`` arrays are filtered
#: slab by slab when ``--max-memory`` is not given (given, it is that budget).
MEMORY_BUDGET = 1 << 30


#: The most taps a kernel may have (``--max-taps``): 16 Mi, e.g. a 4095x4095 kernel or a
#: 6-minute impulse response at 48 kHz.  ``-k gaussian:1000`` on an image (8001x8001, 64 Mi
#: taps) is refused before it is built.
MAX_TAPS = 1 << 24


def _cgroup_memory() -> int | None:
    """Return the memory limit of this process's cgroup (v2 or v1), if there is one."""
    for name in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(name, encoding="ascii") as fh:
                text = fh.read().strip()
        except (OSError, ValueError):
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def default_memory_budget() -> int:
    """Return the working-set budget used when ``--max-memory`` is not given.

    Half the memory this process may use: the physical memory, or less where a cgroup
    (a container) or ``RLIMIT_AS`` says so (1 GiB if none of them can be read).

    Returns
    -------
    int
        Bytes.
    """
    limits: list[int] = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    cgroup = _cgroup_memory()
    if cgroup is not None:
        limits.append(cgroup)
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            limits.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    return min(limits) // 2 if limits else MEMORY_BUDGET


def working_set(
    elements: int, in_itemsize: int, work_itemsize: int, method: str, alpha: bool = False
) -> int:
    """Estimate the bytes filtering an input in memory needs at its peak.

    The decoded input, plus a few float copies of it: the float input, its padded copy and
    the output (3), a fourth for the spectra of ``fft`` (and ``auto``, which may pick it),
    7 for premultiplied alpha (colour x alpha, its result, the division).  Measured with
    ``/usr/bin/time`` on a 4000x3000 RGB PNG: 438 MB (box:3), 589 MB (31x31, fft); on the
    same size RGBA: 1450 MB.

    Parameters
    ----------
    elements : int
        Samples of the input (channels included).
    in_itemsize, work_itemsize : int
        Bytes per sample as decoded, and as computed (4 for float32, 8 for float64).
    method : str
        ``--method``.
    alpha : bool, optional
        The input is premultiplied by an alpha channel.

    Returns
    -------
    int
        Bytes.

    Examples
    --------
    >>> working_set(36_000_000, 1, 4, "direct") // 1_000_000
    468
    """
    copies = 7 if alpha else (3 if method in ("direct", "separable") else 4)
    return elements * (in_itemsize + work_itemsize * copies)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def memory_need(info: dict[str, Any], opts: FilterOptions) -> int:
    """Return the bytes filtering an input in memory needs, from its header (``info``).

    ``info`` holds ``shape``, ``dtype`` (as loaded), ``kind`` and, for images, ``channels``
    and ``mode``.  The same estimate decides whether an input that can be read slab by slab
    is, and refuses one that cannot when it passes the budget (:func:`_check_memory`).
    """
    from convcli.jobs.alpha import has_alpha

    shape = [int(n) for n in info["shape"]]
    dtype = np.dtype(info["dtype"])  # as loaded (float32 or float64 for audio)
    work = compute_dtype(dtype).itemsize
    alpha = has_alpha(info["kind"], info.get("channels"), info.get("mode"))
    alpha = alpha and opts.alpha == "premultiply" and not opts.gray
    return working_set(math.prod(shape), dtype.itemsize, work, opts.method, alpha)


def _check_memory(info: dict[str, Any], opts: FilterOptions, budget: int) -> None:
    """Refuse an input whose in-memory filtering would need more than ``budget`` bytes."""
    from convcli.io import LimitError
    from convcli.io.registry import streamed

    shape = [int(n) for n in info["shape"]]
    dtype = np.dtype(info["dtype"])
    need = memory_need(info, opts)
    if need > budget:
        dims = "x".join(map(str, shape))
        kind = info["kind"] if opts.kind == "auto" else opts.kind
        max_memory = Param("max_memory")
        nouns = [row.noun for row in streamed()]
        why = (
            "a transposed convolution is computed in memory, never slab by slab"
            if opts.transposed
            else f"only {join_words(nouns, 'and')} written to {join_words(nouns)} are filtered "
            "slab by slab"
        )
        raise LimitError(
            f"{info['path']}: filtering this {dims} {dtype.name} {kind} in memory "
            f"needs about {_bytes(need)}, more than the {max_memory} budget of {_bytes(budget)} "
            f"({need} > {budget} bytes); {why}",
            limit="max_memory",
        )


def _check_strip_memory(
    path: str, shape: tuple[int, ...], dtype: np.dtype, need: int, budget: int
) -> None:
    """Refuse an image whose strip-by-strip filtering would need more than ``budget`` bytes.

    ``need`` counts what stays in memory: a whole decoded input or gathered output, if the
    formats need one, and the strips' buffers.
    """
    from convcli.io import LimitError

    if need <= budget:
        return
    dims = "x".join(map(str, shape))
    max_memory = Param("max_memory")
    raise LimitError(
        f"{path}: filtering this {dims} {np.dtype(dtype).name} image strip by strip needs "
        f"about {_bytes(need)}, more than the {max_memory} budget of {_bytes(budget)} "
        f"({need} > {budget} bytes)",
        limit="max_memory",
    )


def _too_many_taps(spec: str, shape: tuple[int, ...], ndim: int, max_taps: int) -> KernelSpecError:
    dims = "x".join(map(str, shape))
    param = Param("max_taps")
    return KernelSpecError(
        f"kernel {spec}: {dims} = {math.prod(shape)} taps for a {ndim}-D signal, more than the "
        f"limit of {max_taps} ({param})",
        params=[param],
    )


def _make_kernel(
    spec: str,
    ndim: int,
    rate: float | None,
    max_taps: int | None,
    spacing: list[tuple[float, str]] | None = None,
) -> np.ndarray:
    """Build a kernel, refusing one of more than ``max_taps`` taps before it is built.

    A named n-D kernel (a cube: ``gaussian``, ``box``, ``disk``...) is first built for one
    axis, which is cheap, and its side raised to ``ndim``; with lengths in units
    (``sigma=2mm``) it is built for each axis with that axis's spacing, and the sides
    multiplied.  A kernel file's size comes from its header
    (:func:`convcli.kernels._files.kernel_file_taps`).  Whatever is built is checked again.
    ``spacing`` is the signal's, per axis (:attr:`convcli.io.Signal.sample_spacing`).
    """
    from convcli.kernels import get_kernel, make_kernel, parse_spec
    from convcli.kernels._files import kernel_file_taps

    if max_taps is None:
        return make_kernel(spec, ndim, rate=rate, spacing=spacing)
    parsed = parse_spec(spec)
    if parsed.kind == "named" and parsed.name is not None and ndim > 1:
        definition = get_kernel(parsed.name)
        if definition.ndims is None and not definition.needs_rate:
            axes = [[step] for step in spacing] if spacing is not None else [None] * ndim
            try:
                sides = [int(make_kernel(parsed, 1, rate=rate, spacing=a).shape[0]) for a in axes]
            except KernelSpecError:  # sobel:axis=1 has no 1-D form: build it as asked
                sides = [0] * ndim
            if math.prod(sides) > max_taps:
                raise _too_many_taps(spec, tuple(sides), ndim, max_taps)
    elif parsed.kind == "file" and parsed.path is not None:
        taps = kernel_file_taps(parsed.path)
        if taps is not None and taps > max_taps:
            param = Param("max_taps")
            raise KernelSpecError(
                f"kernel file {parsed.path}: {taps} taps, more than the limit of {max_taps} "
                f"({param})",
                params=[param],
            )
    k = make_kernel(parsed, ndim, rate=rate, spacing=spacing)
    if k.size > max_taps:
        raise _too_many_taps(spec, k.shape, ndim, max_taps)
    return k
