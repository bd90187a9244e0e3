"""Kernel lengths in physical units: ``gaussian:sigma=2mm``, ``box:size=10ms``.

A parameter that measures a length in samples (``sigma``, ``size``, ``radius``...) may carry
a unit instead: ``m``, ``cm``, ``mm``, ``um`` (or ``µm``), ``nm`` for lengths, ``s``, ``ms``,
``us`` (or ``µs``) for times.  :func:`parse_quantity` reads ``2mm`` into a
:class:`Quantity`; when the kernel is built, :func:`resolve` converts it to samples along each
axis with the signal's sample spacing (``make_kernel(..., spacing=...)``; on audio, ``rate``
gives a spacing of ``1/rate`` seconds).  Anisotropic spacing gives per-axis values, and the
kernel is built by its anisotropic form (:data:`ANISOTROPIC`): a Gaussian of 2 mm on voxels
of 1 x 1 x 2 mm has sigma 2, 2 and 1 samples (fslmaths ``-kernel gauss 2``).  Where the
per-axis values are all equal, the ordinary builder is used, so ``sigma=2mm`` on 1 mm voxels
is exactly ``sigma=2``.

Conversion:

- a float length (``sigma``, ``radius``): ``length / spacing`` samples, per axis;
- an odd size (``size``): the samples whose centres lie within half the length of the
  centre, boundary included (fslmaths' box): ``2 * floor(length / 2 / spacing) + 1``.

A unit on a signal without spacing along an axis, a length on a time axis (or the
reverse), or an unknown unit is a :class:`~convcli.errors.KernelSpecError`, never a guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convcli.errors import KernelSpecError
from convcli.kernels import _named

__all__ = [
    "Quantity",
    "UNITS",
    "parse_quantity",
    "normalize_spacing",
    "resolve",
    "ANISOTROPIC",
]

#: Unit -> (dimension, size in SI base units).
UNITS: dict[str, tuple[str, float]] = {
    "m": ("length", 1.0),
    "cm": ("length", 1e-2),
    "mm": ("length", 1e-3),
    "um": ("length", 1e-6),
    "nm": ("length", 1e-9),
    "s": ("time", 1.0),
    "ms": ("time", 1e-3),
    "us": ("time", 1e-6),
}
_ALIASES = {"µm": "um", "μm": "um", "µs": "us", "μs": "us"}
_QUANTITY = re.compile(
    r"[ \t]*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t]*([A-Za-zµμ]+)[ \t]*"
)
_UNIT_LIST = "m, cm, mm, um (µm), nm, s, ms, us"


@dataclass(frozen=True)
class Quantity:
    """A length or a time with its unit, as written in a spec (``2mm``, ``10ms``).

    Examples
    --------
    >>> q = Quantity(1.5, "um")
    >>> q.dimension, q.si, str(q)
    ('length', 1.5e-06, '1.5um')
    """

    value: float
    unit: str

    @property
    def dimension(self) -> str:
        """``"length"`` or ``"time"``."""
        return UNITS[self.unit][0]

    @property
    def si(self) -> float:
        """The value in metres or seconds."""
        return self.value * UNITS[self.unit][1]

    def __str__(self) -> str:
        return f"{self.value:g}{self.unit}"


def _unit(name: str) -> str | None:
    key = _ALIASES.get(name, name)
    return key if key in UNITS else None


def parse_quantity(text: str, kernel: str = "", param: str = "") -> Quantity | None:
    """Read ``2mm``, ``1.5 um``, ``10ms``; None when the text has no unit.

    Raises
    ------
    KernelSpecError
        A number followed by a word that is not a unit convcli knows.

    Examples
    --------
    >>> parse_quantity("2mm"), parse_quantity("1.5µm"), parse_quantity("3")
    (Quantity(value=2.0, unit='mm'), Quantity(value=1.5, unit='um'), None)
    """
    found = _QUANTITY.fullmatch(text)
    if found is None:
        return None
    unit = _unit(found.group(2))
    if unit is None:
        where = f"{kernel}: {param} " if kernel else ""
        raise KernelSpecError(
            f"{where}{text.strip()!r}: unknown unit {found.group(2)!r}; units are {_UNIT_LIST}"
        )
    value = float(found.group(1))
    if not math.isfinite(value):
        raise KernelSpecError(f"{kernel}: {param} {text.strip()!r} is not finite")
    return Quantity(value, unit)


Spacing = Sequence[Any]


def normalize_spacing(
    spacing: Spacing | None, ndim: int, rate: float | None
) -> tuple[Quantity | None, ...] | None:
    """Return one :class:`Quantity` (or None: no physical spacing) per axis, or None.

    ``spacing`` has one entry per spatial axis: None, a string with a unit (``"0.5mm"``), a
    ``(value, unit)`` pair (``unit`` ``""`` means none, as ``Form.units`` writes it), or a
    :class:`Quantity`.  Without it, a 1-D signal with a ``rate`` is spaced ``1/rate``
    seconds (audio).

    Raises
    ------
    KernelSpecError
        Not one entry per axis, an unknown unit, or a spacing that is not positive.

    Examples
    --------
    >>> normalize_spacing([(2.0, "mm"), "1mm", None], 3, None)
    (Quantity(value=2.0, unit='mm'), Quantity(value=1.0, unit='mm'), None)
    >>> normalize_spacing(None, 1, 8000.0)
    (Quantity(value=0.000125, unit='s'),)
    """
    if spacing is None:
        return (Quantity(1.0 / float(rate), "s"),) if ndim == 1 and rate else None
    entries = list(spacing)
    if len(entries) != ndim:
        raise KernelSpecError(f"spacing has {len(entries)} entries but the signal has {ndim} axes")
    out: list[Quantity | None] = []
    for entry in entries:
        q: Quantity | None
        if entry is None or isinstance(entry, Quantity):
            q = entry
        elif isinstance(entry, str):
            q = parse_quantity(entry)
            if q is None:
                raise KernelSpecError(f"spacing {entry!r} has no unit")
        else:
            value, unit = entry
            q = None if not unit else Quantity(float(value), _unit(str(unit)) or str(unit))
            if q is not None and q.unit not in UNITS:
                raise KernelSpecError(f"spacing unit {unit!r} is not one of {_UNIT_LIST}")
        if q is not None and not (math.isfinite(q.value) and q.value > 0):
            raise KernelSpecError(f"spacing {q} is not a positive length or time")
        out.append(q)
    return tuple(out)


_AXIS_NAMES = {1: ("samples",), 2: ("rows", "columns"), 3: ("planes", "rows", "columns")}


def _axis_name(axis: int, ndim: int) -> str:
    names = _AXIS_NAMES.get(ndim)
    return f"axis {axis} ({names[axis]})" if names else f"axis {axis}"


def _per_axis(
    name: str, param: str, q: Quantity, spacing: tuple[Quantity | None, ...] | None, ndim: int
) -> list[float]:
    """``q`` in samples along each axis."""
    if spacing is None:
        raise KernelSpecError(
            f"{name}: {param}={q} is a {q.dimension}, but the signal has no sample spacing "
            f"(give {param} in samples, or read a file whose header gives its spacing)"
        )
    out = []
    for axis, step in enumerate(spacing):
        if step is None:
            raise KernelSpecError(
                f"{name}: {param}={q} is a {q.dimension}, but {_axis_name(axis, ndim)} of the "
                f"signal has no physical spacing"
            )
        if step.dimension != q.dimension:
            raise KernelSpecError(
                f"{name}: {param}={q} is a {q.dimension}, but {_axis_name(axis, ndim)} is "
                f"spaced in {step.unit} (a {step.dimension})"
            )
        out.append(q.si / step.si)
    return out


def _odd_size(samples: float) -> int:
    """Return the samples whose centres lie within half the length: ``2 floor(x/2) + 1``."""
    return 2 * math.floor(samples / 2 + 1e-9) + 1


def resolve(
    name: str,
    params: Sequence[Any],
    values: Mapping[str, Any],
    ndim: int,
    rate: float | None,
    spacing: Spacing | None,
) -> tuple[dict[str, Any], bool]:
    """Convert every :class:`Quantity` among ``values`` to samples.

    Parameters
    ----------
    name : str
        The kernel (for messages).
    params : sequence of Param
        Its parameters (type and check of each).
    values : mapping
        Every parameter's value, checked; quantities where units were given.
    ndim : int
        The signal's number of axes.
    rate : float or None
        The sample rate (audio's spacing when ``spacing`` is None).
    spacing : sequence or None
        See :func:`normalize_spacing`.

    Returns
    -------
    (dict, bool)
        The values in samples (a float or int where every axis agrees, else a tuple with one
        per axis), and whether any is per axis (the kernel is then anisotropic).

    Raises
    ------
    KernelSpecError
        No spacing, a unit of the wrong dimension, or a value that is not allowed once in
        samples.

    Examples
    --------
    >>> from convcli.kernels import REGISTRY
    >>> g = REGISTRY["gaussian"]
    >>> resolve("gaussian", g.params, {"sigma": Quantity(2, "mm"), "size": 0}, 3, None,
    ...         [(2, "mm"), (1, "mm"), (1, "mm")])
    ({'sigma': (1.0, 2.0, 2.0), 'size': 0}, True)
    """
    out = dict(values)
    steps = None
    anisotropic = False
    for p in params:
        q = values.get(p.name)
        if not isinstance(q, Quantity):
            continue
        if steps is None:
            steps = normalize_spacing(spacing, ndim, rate)
        samples = _per_axis(name, p.name, q, steps, ndim)
        converted: list[Any] = [_odd_size(s) for s in samples] if p.type is int else samples
        for value in converted:
            if p.check is not None and not p.check(value):
                raise KernelSpecError(
                    f"{name}: {p.name}={q} is {value:g} samples along an axis; {p.name} must "
                    f"be {p.expected()}"
                )
        if all(math.isclose(c, converted[0], rel_tol=1e-12) for c in converted):
            out[p.name] = converted[0]
        else:
            out[p.name] = tuple(converted)
            anisotropic = True
    return out, anisotropic


# --- anisotropic forms ---------------------------------------------------------------------------

Kernel = NDArray[np.float64]


def _axes(value: Any, ndim: int) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * ndim


def _radii(sigmas: Sequence[float], sizes: Sequence[int]) -> list[int]:
    return [size // 2 if size else int(4.0 * s + 0.5) for s, size in zip(sigmas, sizes)]


def _gauss(name: str, sigmas: Sequence[float], radii: Sequence[int]) -> Kernel:
    _named.check_size(name, [2 * r + 1 for r in radii])
    kernel = _named._outer([_named._gauss1d(s, r) for s, r in zip(sigmas, radii)])
    return kernel / kernel.sum()


def _coords(radii: Sequence[int]) -> list[Kernel]:
    ndim = len(radii)
    out = []
    for axis, r in enumerate(radii):
        shape = [1] * ndim
        shape[axis] = 2 * r + 1
        out.append(np.arange(-r, r + 1, dtype=np.float64).reshape(shape))
    return out


def gaussian(ndim: int, rate: float | None, p: Mapping[str, Any]) -> Kernel:
    """Build the separable Gaussian with one sigma (and size) per axis."""
    sigmas, sizes = _axes(p["sigma"], ndim), _axes(p["size"], ndim)
    return _gauss("gaussian", sigmas, _radii(sigmas, sizes))


def box(ndim: int, rate: float | None, p: Mapping[str, Any]) -> Kernel:
    """Build the mean over a box of one size per axis."""
    sizes = _axes(p["size"], ndim)
    _named.check_size("box", sizes)
    return np.full(sizes, 1.0 / math.prod(sizes))


def log(ndim: int, rate: float | None, p: Mapping[str, Any]) -> Kernel:
    """Build the Laplacian of an anisotropic Gaussian, made zero-sum.

    ``h = g * (sum_a x_a**2 / s_a**4 - sum_a 1 / s_a**2)``: with equal sigmas, the
    isotropic ``g * (r**2 - n s**2) / s**4`` of :func:`convcli.kernels._named.log`.
    """
    sigmas = _axes(p["sigma"], ndim)
    radii = _radii(sigmas, _axes(p["size"], ndim))
    _named.check_size("log", [2 * r + 1 for r in radii])
    coords = _coords(radii)
    quad = sum((x / s) ** 2 for x, s in zip(coords, sigmas))
    g = np.exp(-0.5 * np.asarray(quad))
    g /= g.sum()
    factor = sum(x**2 / s**4 for x, s in zip(coords, sigmas)) - sum(1 / s**2 for s in sigmas)
    h = g * factor
    return np.asarray(h - h.mean(), dtype=np.float64)


def dog(ndim: int, rate: float | None, p: Mapping[str, Any]) -> Kernel:
    """Build the difference of two anisotropic Gaussians over the larger one's support."""
    s1, s2 = _axes(p["sigma1"], ndim), _axes(p["sigma2"], ndim)
    if s1 == s2:
        raise KernelSpecError(f"dog: sigma1 and sigma2 are both {s1}; they must differ")
    wide = [max(a, b) for a, b in zip(s1, s2)]
    radii = _radii(wide, _axes(p["size"], ndim))
    return _gauss("dog", s1, radii) - _gauss("dog", s2, radii)


def unsharp(ndim: int, rate: float | None, p: Mapping[str, Any]) -> Kernel:
    """Build ``identity + amount * (identity - gaussian)`` with one sigma per axis."""
    sigmas = _axes(p["sigma"], ndim)
    blur = _gauss("unsharp", sigmas, _radii(sigmas, (0,) * ndim))
    ident = np.zeros(blur.shape)
    ident[tuple(n // 2 for n in blur.shape)] = 1.0
    return np.asarray(ident + p["amount"] * (ident - blur), dtype=np.float64)


def disk(ndim: int, rate: float | None, p: Mapping[str, Any]) -> Kernel:
    """Build the flat ellipsoid ``sum_a (x_a / r_a)**2 <= 1`` (a ball in physical units)."""
    radii = _axes(p["radius"], ndim)
    coords = _coords([math.ceil(r) for r in radii])
    _named.check_size("disk", [c.size for c in coords])
    inside = (sum((x / r) ** 2 for x, r in zip(coords, radii)) <= 1.0 + 1e-12).astype(float)
    return np.asarray(inside / inside.sum(), dtype=np.float64)


#: Kernel name -> the builder used when a parameter differs between axes.
ANISOTROPIC: dict[str, Callable[[int, float | None, Mapping[str, Any]], Kernel]] = {
    "gaussian": gaussian,
    "box": box,
    "log": log,
    "dog": dog,
    "unsharp": unsharp,
    "disk": disk,
}
