"""Named kernel banks: sets of kernels applied side by side, one feature map per kernel.

A bank is written like a named kernel, ``name`` or ``name:args`` (``gabor:orientations=8``,
``log-scales:1,5``): comma-separated arguments, ``key=value`` or positional in the order of
the bank's parameters.  :data:`BANKS` holds one :class:`BankDef` per name; ``convcli kernels``
lists them from :func:`list_banks`, and :func:`make_bank` builds one for a signal of ``ndim``
axes as a list of ``(label, kernel)`` pairs.  Labels are filesystem-safe and name each
kernel as a ``-k`` spec would (``sobel-axis1``, ``gabor-theta45-lambda6``).

The kernels follow the conventions of :mod:`convcli.kernels._named`: written for
correlation, centre tap at index ``k // 2``, derivatives ``[-1, 0, 1]`` along their axis
(positive where the signal increases along it).

Examples
--------
>>> [label for label, _ in make_bank("edges:op=sobel", 2)]
['sobel-axis0', 'sobel-axis1']
>>> [label for label, _ in make_bank("compass", 2)][:3]
['sobel-E', 'sobel-NE', 'sobel-N']
>>> BANKS["log-scales"].signature()
'log-scales:sigma=1.0,scales=4,factor=2.0'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from convcli.errors import KernelSpecError
from convcli.kernels import _named
from convcli.kernels._registry import REGISTRY, Described, Param, check_rate

__all__ = [
    "BankDef",
    "ParsedBank",
    "BANKS",
    "list_banks",
    "get_bank",
    "parse_bank",
    "make_bank",
    "COMPASS_DIRECTIONS",
]

Kernel = NDArray[np.float64]
BankBuilder = Callable[[int, Mapping[str, Any]], list[tuple[str, Kernel]]]

#: Compass directions of the ``compass`` bank, counter-clockwise from east in 45-degree steps:
#: each kernel responds most where the signal grows brighter towards that direction.
COMPASS_DIRECTIONS = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")

#: The 3x3 ring, clockwise from the top-left corner.
_RING = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))

#: The east-facing (brighter to the right) 3x3 kernel of each ``compass`` base.
_COMPASS_EAST = {
    "sobel": ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0)),
    "prewitt": ((-1.0, 0.0, 1.0), (-1.0, 0.0, 1.0), (-1.0, 0.0, 1.0)),
    "kirsch": ((-3.0, -3.0, 5.0), (-3.0, 0.0, 5.0), (-3.0, -3.0, 5.0)),
}

#: The smoothing across the derivative axis of each ``edges`` operator.
_EDGE_SMOOTHING = {
    "sobel": (1.0, 2.0, 1.0),
    "prewitt": (1.0, 1.0, 1.0),
    "scharr": (3.0, 10.0, 3.0),
}


@dataclass(frozen=True)
class BankDef(Described):
    """A named bank: its parameters, the dimensionalities it supports and its builder.

    Attributes
    ----------
    name : str
        The name used after ``--bank``.
    summary : str
        One line for ``convcli kernels`` and docs/kernels.md.
    params : tuple of Param
        The parameters, in positional order.
    ndims : tuple of int or None
        The numbers of axes the bank is defined for; ``None`` means any number >= 1.
    builder : callable
        ``builder(ndim, params) -> [(label, kernel), ...]``; ``params`` holds every parameter,
        checked.
    needs_rate : bool
        Whether building it needs the sample rate (no bank does yet; kept for symmetry with
        :class:`~convcli.kernels.KernelDef`).
    """

    _noun: ClassVar[str] = "bank "

    name: str
    summary: str
    params: tuple[Param, ...]
    ndims: tuple[int, ...] | None
    builder: BankBuilder = field(repr=False)
    needs_rate: bool = False

    def build(
        self, ndim: int, rate: float | None = None, params: Mapping[str, Any] | None = None
    ) -> list[tuple[str, Kernel]]:
        """Build the bank for a signal with ``ndim`` axes.

        Parameters
        ----------
        ndim : int
            The number of spatial axes of the signal.
        rate : float, optional
            The sample rate in Hz, for banks that need it.
        params : mapping, optional
            Parameter values by name; missing ones take their defaults.  Values are checked.

        Returns
        -------
        list of (str, numpy.ndarray)
            ``(label, kernel)`` pairs, every kernel float64 with ``ndim`` axes.

        Raises
        ------
        KernelSpecError
            For an unsupported ``ndim``, an unknown parameter or a bad value.

        Examples
        --------
        >>> [k.shape for _, k in BANKS["edges"].build(3, params={"op": "prewitt"})]
        [(3, 3, 3), (3, 3, 3), (3, 3, 3)]
        """
        if isinstance(ndim, bool) or not isinstance(ndim, (int, np.integer)) or ndim < 1:
            raise KernelSpecError(f"ndim must be an integer >= 1, got {ndim!r}")
        ndim = int(ndim)
        if not self.supports(ndim):
            raise KernelSpecError(
                f"bank {self.name!r} is defined for {self.ndims_text()} signals only, not {ndim}-D"
            )
        if self.needs_rate:
            check_rate(rate, self.name)
        given = dict(params or {})
        values: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                values[p.name] = p.validate(given.pop(p.name), self.name)
            else:
                values[p.name] = p.default
        if given:
            self.param(next(iter(given)))  # raises, naming the parameters allowed
        bank = [(label, np.asarray(k, dtype=np.float64)) for label, k in self.builder(ndim, values)]
        for label, k in bank:
            if k.ndim != ndim:  # pragma: no cover - a builder bug, not a user error
                raise AssertionError(f"{self.name}: {label} has {k.ndim} axes for ndim={ndim}")
        return bank


@dataclass(frozen=True)
class ParsedBank:
    """A ``--bank`` spec, parsed but not built.

    Attributes
    ----------
    text : str
        The spec as given.
    name : str
        The bank's name.
    params : dict
        The parameters written in the spec, converted and checked (no defaults filled in).
    """

    text: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def bank_def(self) -> BankDef:
        """The registry entry."""
        return BANKS[self.name]


# --- builders ------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return format(value, ".6g").replace("+", "")


def _edges(ndim: int, p: Mapping[str, Any]) -> list[tuple[str, Kernel]]:
    ops = tuple(_EDGE_SMOOTHING) if p["op"] == "all" else (p["op"],)
    return [
        (f"{op}-axis{axis}", _named._derivative(op, axis, ndim, _EDGE_SMOOTHING[op]))
        for op in ops
        for axis in range(ndim)
    ]


def _compass(ndim: int, p: Mapping[str, Any]) -> list[tuple[str, Kernel]]:
    east = np.array(_COMPASS_EAST[p["base"]])
    ring = np.array([east[rc] for rc in _RING])
    bank = []
    for step, direction in enumerate(COMPASS_DIRECTIONS):
        kernel = np.zeros((3, 3))
        kernel[1, 1] = east[1, 1]
        # One step counter-clockwise moves every ring value one place back along the ring.
        for rc, value in zip(_RING, np.roll(ring, -step)):
            kernel[rc] = value
        bank.append((f"{p['base']}-{direction}", kernel))
    return bank


def _gabor(ndim: int, p: Mapping[str, Any]) -> list[tuple[str, Kernel]]:
    gabor = REGISTRY["gabor"]
    bank = []
    for scale in range(p["scales"]):
        sigma = p["sigma"] * p["factor"] ** scale
        wavelength = p["lambda"] * p["factor"] ** scale
        # A square support of 3 standard deviations of the envelope's longer axis, the same
        # for every orientation.
        half = max(1, round(3.0 * sigma / min(p["gamma"], 1.0)))
        for step in range(p["orientations"]):
            theta = 180.0 * step / p["orientations"]
            params = {
                "theta": theta,
                "sigma": sigma,
                "lambda": wavelength,
                "gamma": p["gamma"],
                "psi": p["psi"],
                "size": 2 * half + 1,
            }
            kernel = gabor.build(2, params=params)
            if p["dc"] == "remove":
                # The envelope is the modulus of the complex Gabor: |cos| and |sin| parts.
                quadrature = gabor.build(2, params={**params, "psi": p["psi"] + 90.0})
                envelope = np.hypot(kernel, quadrature)
                kernel = kernel - envelope * (kernel.sum() / envelope.sum())
            bank.append((f"gabor-theta{_fmt(theta)}-lambda{_fmt(wavelength)}", kernel))
    return bank


def _log_scales(ndim: int, p: Mapping[str, Any]) -> list[tuple[str, Kernel]]:
    log = REGISTRY["log"]
    bank = []
    for scale in range(p["scales"]):
        sigma = p["sigma"] * p["factor"] ** scale
        kernel = sigma**2 * log.build(ndim, params={"sigma": sigma})
        bank.append((f"log-sigma{_fmt(sigma)}", kernel))
    return bank


def _positive(x: float) -> bool:
    return x > 0


def _above_one(x: float) -> bool:
    return x > 1


def _count(x: int) -> bool:
    return 1 <= x <= 64


def _any(x: float) -> bool:
    return True


def _count_param(name: str, default: int, what: str) -> Param:
    return Param(name, int, default, what, allowed="between 1 and 64", check=_count)


_FACTOR = Param(
    "factor", float, 2.0, "ratio between successive scales", allowed="> 1", check=_above_one
)

_DEFS: tuple[BankDef, ...] = (
    BankDef(
        "edges",
        "derivatives along each axis: sobel, prewitt and scharr (or one of them)",
        (
            Param(
                "op",
                str,
                "all",
                "which operators: all, or one of sobel, prewitt, scharr",
                choices=("all", *_EDGE_SMOOTHING),
            ),
        ),
        (2, 3),
        _edges,
    ),
    BankDef(
        "compass",
        "8 rotations of a 3x3 edge kernel, E NE N NW W SW S SE (brighter towards it)",
        (
            Param(
                "base",
                str,
                "sobel",
                "the east kernel rotated: sobel (Robinson), prewitt or kirsch",
                choices=tuple(_COMPASS_EAST),
            ),
        ),
        (2,),
        _compass,
    ),
    BankDef(
        "gabor",
        "Gabor filters, orientations x scales (theta = 180*i/orientations degrees)",
        (
            _count_param("orientations", 4, "number of orientations over 180 degrees"),
            _count_param("scales", 2, "number of scales"),
            Param(
                "sigma",
                float,
                2.0,
                "envelope standard deviation at the first scale, pixels",
                allowed="> 0",
                check=_positive,
            ),
            Param(
                "lambda",
                float,
                5.0,
                "wavelength at the first scale, pixels",
                allowed="> 0",
                check=_positive,
            ),
            _FACTOR,
            Param("gamma", float, 0.5, "spatial aspect ratio", allowed="> 0", check=_positive),
            Param("psi", float, 0.0, "phase offset, degrees", check=_any),
            Param(
                "dc",
                str,
                "remove",
                "remove: subtract a multiple of the envelope so each kernel sums to 0",
                choices=("remove", "keep"),
            ),
        ),
        (2,),
        _gabor,
    ),
    BankDef(
        "log-scales",
        "scale-normalised Laplacian of Gaussian sigma^2*log at sigma*factor^i (sums to 0)",
        (
            Param(
                "sigma",
                float,
                1.0,
                "standard deviation at the first scale, samples",
                allowed="> 0",
                check=_positive,
            ),
            _count_param("scales", 4, "number of scales"),
            _FACTOR,
        ),
        None,
        _log_scales,
    ),
)

BANKS: Mapping[str, BankDef] = MappingProxyType({d.name: d for d in _DEFS})
"""Every named bank, by name (read-only)."""


def list_banks() -> list[BankDef]:
    """Return every named bank, sorted by name.

    Examples
    --------
    >>> for b in list_banks():
    ...     print(f"{b.signature():44} {b.ndims_text()}")
    compass:base=sobel                           2-D
    edges:op=all                                 2-D, 3-D
    gabor:orientations=4,scales=2,sigma=2.0,lambda=5.0,factor=2.0,gamma=0.5,psi=0.0,dc=remove 2-D
    log-scales:sigma=1.0,scales=4,factor=2.0     n-D
    """
    return [BANKS[name] for name in sorted(BANKS)]


def get_bank(name: str) -> BankDef:
    """Return the bank called ``name`` (case-insensitive).

    Raises
    ------
    KernelSpecError
        When there is no such bank; the message suggests close names.

    Examples
    --------
    >>> get_bank("Edges").name
    'edges'
    """
    key = name.strip().lower()
    if key in BANKS:
        return BANKS[key]
    import difflib

    close = difflib.get_close_matches(key, list(BANKS), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise KernelSpecError(
        f"unknown bank {name.strip()!r}{hint} (banks: {', '.join(sorted(BANKS))})"
    )


def parse_bank(spec: str) -> ParsedBank:
    """Parse a ``--bank`` spec, ``name`` or ``name:args``, checking every value given.

    Parameters
    ----------
    spec : str
        ``"edges"``, ``"gabor:orientations=8,scales=3"``, ``"log-scales:0.5,6"``...

    Returns
    -------
    ParsedBank

    Raises
    ------
    KernelSpecError
        For an unknown bank or parameter, or a bad value.

    Examples
    --------
    >>> parse_bank("log-scales:0.5,6")
    ParsedBank(text='log-scales:0.5,6', name='log-scales', params={'sigma': 0.5, 'scales': 6})
    >>> parse_bank("gabor:orientations=0")
    Traceback (most recent call last):
    ...
    convcli.errors.KernelSpecError: gabor: orientations '0' is not allowed; orientations must be ...
    """
    if not isinstance(spec, str):
        raise KernelSpecError(f"a bank spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise KernelSpecError("empty bank spec")
    name, colon, args = text.partition(":")
    bank = get_bank(name)
    params: dict[str, Any] = {}
    if not colon:
        return ParsedBank(spec, bank.name, params)
    if not args.strip():
        raise KernelSpecError(f"{bank.name}: nothing after ':'; {bank.params_text()}")
    position = 0
    keyword_seen = False
    for number, item in enumerate(args.split(","), start=1):
        item = item.strip()
        if not item:
            raise KernelSpecError(f"{bank.name}: argument {number} of {text!r} is empty")
        if "=" in item:
            key, _, value = item.partition("=")
            param = bank.param(key.strip().lower())
            keyword_seen = True
        else:
            if keyword_seen:
                raise KernelSpecError(
                    f"{bank.name}: positional value {item!r} after a key=value argument; "
                    "write positional values first"
                )
            if position >= len(bank.params):
                raise KernelSpecError(
                    f"{bank.name}: too many values in {text!r}: {bank.name} takes "
                    f"{len(bank.params)} ({', '.join(p.name for p in bank.params)})"
                )
            param = bank.params[position]
            position += 1
            value = item
        if param.name in params:
            raise KernelSpecError(f"{bank.name}: {param.name} is given twice in {text!r}")
        if not value.strip():
            raise KernelSpecError(
                f"{bank.name}: {param.name} has no value; {param.name} must be {param.expected()}"
            )
        params[param.name] = param.parse(value, bank.name)
    return ParsedBank(spec, bank.name, params)


def make_bank(
    spec: str | ParsedBank, ndim: int, rate: float | None = None
) -> list[tuple[str, Kernel]]:
    """Build the bank a ``--bank`` spec names, for a signal of ``ndim`` axes.

    Parameters
    ----------
    spec : str or ParsedBank
        ``"edges"``, ``"compass:base=kirsch"``, ``"gabor:orientations=8"``,
        ``"log-scales:sigma=2,scales=3"``...
    ndim : int
        The number of spatial axes of the signal.
    rate : float, optional
        The sample rate in Hz (no bank needs it yet).

    Returns
    -------
    list of (str, numpy.ndarray)
        ``(label, kernel)`` pairs in the bank's order; kernels are float64 with ``ndim`` axes
        and may differ in size (``gabor`` and ``log-scales`` grow with the scale).

    Raises
    ------
    KernelSpecError
        For a bad spec or an unsupported ``ndim``.

    Examples
    --------
    >>> bank = make_bank("compass:base=kirsch", 2)
    >>> bank[0][0], bank[0][1].tolist()
    ('kirsch-E', [[-3.0, -3.0, 5.0], [-3.0, 0.0, 5.0], [-3.0, -3.0, 5.0]])
    >>> [(label, k.shape) for label, k in make_bank("log-scales:scales=2", 1)]
    [('log-sigma1', (9,)), ('log-sigma2', (17,))]
    """
    parsed = parse_bank(spec) if isinstance(spec, str) else spec
    return BANKS[parsed.name].build(ndim, rate, parsed.params)
