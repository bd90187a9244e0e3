"""The registry of named kernels: one :class:`KernelDef` per name.

A :class:`KernelDef` holds everything the rest of convcli needs to know about a named kernel:
its parameters (:class:`Param`, in positional order, with types, defaults and the values they
allow), the dimensionalities it is defined for, whether it needs the sample rate, and the
builder that makes the array.  ``convcli kernels`` and docs/kernels.md print their tables from
:data:`REGISTRY`, so the code and the documentation cannot drift apart.

Parameter values are checked twice, by the same code: when a spec is parsed (everything that
can be known from the text alone: type, range, choices) and when a kernel is built (what
depends on the signal: ``axis`` against ``ndim``, cut-off frequencies against the sample
rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from convcli.errors import KernelSpecError
from convcli.kernels import _fir, _named
from convcli.kernels._numbers import NumberError, to_float

__all__ = ["Param", "KernelDef", "REGISTRY", "list_kernels", "get_kernel"]

Builder = Callable[[int, "float | None", Mapping[str, Any]], NDArray[np.float64]]

_TYPE_WORDS: dict[type, str] = {float: "a number", int: "an integer", str: "a word"}


@dataclass(frozen=True)
class Param:
    """One parameter of a named kernel.

    Attributes
    ----------
    name : str
        The name used in specs (``sigma`` in ``gaussian:sigma=2``).
    type : type
        ``float``, ``int`` or ``str``.
    default : Any
        The value used when the spec does not give one; ``None`` means the parameter is
        required.
    help : str
        One line for ``convcli kernels``.
    choices : tuple of str or None
        The allowed values of a ``str`` parameter.
    allowed : str
        What values are allowed, in words (``"> 0"``, ``"odd >= 1, or 0 for auto"``); used in
        error messages and listings.
    check : callable or None
        Returns True for an allowed value (after type conversion).
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    allowed: str = ""
    check: Callable[[Any], bool] | None = None

    @property
    def required(self) -> bool:
        """Whether a spec must give this parameter (it has no default)."""
        return self.default is None

    def expected(self) -> str:
        """Describe the allowed values, e.g. ``'a number > 0'`` or ``'one of hann, rect'``."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        words = _TYPE_WORDS[self.type]
        return f"{words} {self.allowed}".rstrip()

    def default_text(self) -> str:
        """Format the default as it would be written in a spec (``1.0``, ``0``, ``hamming``)."""
        if self.default is None:
            return ""
        if self.type is float:
            return repr(float(self.default))
        return str(self.default)

    def parse(self, text: str, kernel: str) -> Any:
        """Convert the text of a spec argument to this parameter's type and check it.

        Parameters
        ----------
        text : str
            The value as written in the spec (``"2"`` in ``gaussian:sigma=2``).
        kernel : str
            The kernel's name, for error messages.

        Returns
        -------
        Any
            The value, as ``float``, ``int`` or ``str``.

        Raises
        ------
        KernelSpecError
            When the value is not of the right type or not allowed.
        """
        value: Any
        if self.type is str:
            value = text.strip().lower()
        else:
            try:
                number = to_float(text.strip())
            except NumberError as exc:
                raise self._error(kernel, text, exc.reason) from None
            if self.type is int:
                if number != math.floor(number):
                    raise self._error(kernel, text, "is not an integer")
                value = int(number)
            else:
                value = number
        return self._check(kernel, value, text)

    def validate(self, value: Any, kernel: str) -> Any:
        """Check a value given from Python (not from spec text) and convert it to the type.

        Parameters
        ----------
        value : Any
            The value (``2``, ``2.0``, ``"hann"``).
        kernel : str
            The kernel's name, for error messages.

        Returns
        -------
        Any
            The converted value.

        Raises
        ------
        KernelSpecError
            When the value is not of the right type or not allowed.
        """
        if isinstance(value, str):
            return self.parse(value, kernel)
        if self.type is str or isinstance(value, bool):
            raise self._error(kernel, value, f"is not {_TYPE_WORDS[self.type]}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self._error(kernel, value, f"is not {_TYPE_WORDS[self.type]}") from None
        if not math.isfinite(number):
            raise self._error(kernel, value, "is not finite")
        if self.type is int:
            if number != math.floor(number):
                raise self._error(kernel, value, "is not an integer")
            return self._check(kernel, int(number), value)
        return self._check(kernel, number, value)

    def _check(self, kernel: str, value: Any, shown: Any) -> Any:
        if self.choices is not None and value not in self.choices:
            raise self._error(kernel, shown, "is not allowed")
        if self.check is not None and not self.check(value):
            raise self._error(kernel, shown, "is not allowed")
        return value

    def _error(self, kernel: str, value: Any, problem: str) -> KernelSpecError:
        shown = repr(value) if isinstance(value, str) else str(value)
        return KernelSpecError(
            f"{kernel}: {self.name} {shown} {problem}; {self.name} must be {self.expected()}"
        )


class Described:
    """What a named kernel and a named bank share: parameters, dimensionalities, messages.

    A subclass has ``name``, ``params`` and ``ndims`` attributes; ``_noun`` prefixes its name
    in messages (``"bank "`` for banks).
    """

    name: str
    params: tuple[Param, ...]
    ndims: tuple[int, ...] | None
    _noun: ClassVar[str] = ""

    def signature(self) -> str:
        """Return the spec form with every parameter and its default.

        Examples
        --------
        >>> REGISTRY["gaussian"].signature()
        'gaussian:sigma=1.0,size=0'
        >>> REGISTRY["bandpass"].signature()
        'bandpass:low,high,taps=0,window=hamming,beta=8.6'
        >>> REGISTRY["emboss"].signature()
        'emboss'
        """
        if not self.params:
            return self.name
        parts = [p.name if p.required else f"{p.name}={p.default_text()}" for p in self.params]
        return f"{self.name}:{','.join(parts)}"

    def ndims_text(self) -> str:
        """Return the supported dimensionalities in words: ``n-D``, ``2-D``, ``1-D``.

        Examples
        --------
        >>> REGISTRY["box"].ndims_text(), REGISTRY["motion"].ndims_text()
        ('n-D', '2-D')
        """
        if self.ndims is None:
            return "n-D"
        return ", ".join(f"{n}-D" for n in self.ndims)

    def supports(self, ndim: int) -> bool:
        """Whether it is defined for signals with ``ndim`` axes."""
        return ndim >= 1 and (self.ndims is None or ndim in self.ndims)

    def param(self, name: str) -> Param:
        """Return the parameter called ``name``.

        Raises
        ------
        KernelSpecError
            When there is no such parameter; the message lists the ones it has.
        """
        for p in self.params:
            if p.name == name:
                return p
        raise KernelSpecError(f"{self.name}: unknown parameter {name!r}; {self.params_text()}")

    def params_text(self) -> str:
        """Describe the parameters for an error message."""
        if not self.params:
            return f"{self._noun}{self.name} takes no parameters"
        return f"{self._noun}{self.name} takes {', '.join(p.name for p in self.params)}"


@dataclass(frozen=True)
class KernelDef(Described):
    """A named kernel: its parameters, the dimensionalities it supports and its builder.

    Attributes
    ----------
    name : str
        The name used in specs.
    summary : str
        One line for ``convcli kernels`` and docs/kernels.md.
    params : tuple of Param
        The parameters, in positional order.
    ndims : tuple of int or None
        The numbers of axes the kernel is defined for; ``None`` means any number >= 1.
    needs_rate : bool
        Whether building it needs the sample rate (audio kernels designed in Hz or seconds).
    builder : callable
        ``builder(ndim, rate, params) -> ndarray``; ``params`` holds every parameter, checked.
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    ndims: tuple[int, ...] | None
    needs_rate: bool
    builder: Builder

    def build(
        self, ndim: int, rate: float | None = None, params: Mapping[str, Any] | None = None
    ) -> NDArray[np.float64]:
        """Build the kernel for a signal with ``ndim`` axes.

        Parameters
        ----------
        ndim : int
            The number of axes of the signal (1 audio, 2 image, 3 volume).
        rate : float, optional
            The sample rate in Hz; required when :attr:`needs_rate` is true.
        params : mapping, optional
            Parameter values by name; missing ones take their defaults.  Values are checked.

        Returns
        -------
        numpy.ndarray
            A float64 array with ``ndim`` axes.

        Raises
        ------
        KernelSpecError
            For an unsupported ``ndim``, a missing rate or parameter, or a bad value.

        Examples
        --------
        >>> REGISTRY["box"].build(1, params={"size": 5}).tolist()
        [0.2, 0.2, 0.2, 0.2, 0.2]
        """
        if isinstance(ndim, bool) or not isinstance(ndim, (int, np.integer)) or ndim < 1:
            raise KernelSpecError(f"ndim must be an integer >= 1, got {ndim!r}")
        ndim = int(ndim)
        if not self.supports(ndim):
            raise KernelSpecError(
                f"kernel {self.name!r} is defined for {self.ndims_text()} signals only, "
                f"not {ndim}-D"
            )
        if self.needs_rate:
            rate = check_rate(rate, self.name)
        given = dict(params or {})
        values: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                values[p.name] = p.validate(given.pop(p.name), self.name)
            elif p.required:
                raise KernelSpecError(
                    f"{self.name} needs {p.name} ({p.help}), e.g. {self.name}:{p.name}=..."
                )
            else:
                values[p.name] = p.default
        if given:
            self.param(next(iter(given)))  # raises, naming the parameters allowed
        kernel = np.asarray(self.builder(ndim, rate, values), dtype=np.float64)
        if kernel.ndim != ndim:  # pragma: no cover - a builder bug, not a user error
            raise AssertionError(f"{self.name} built {kernel.ndim} axes for ndim={ndim}")
        return kernel


def check_rate(rate: float | None, name: str) -> float:
    """Return ``rate`` as a float, or raise when it is missing or not a positive number."""
    if rate is None:
        raise KernelSpecError(
            f"kernel {name!r} needs the sample rate (it is designed in Hz or seconds for audio)"
        )
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise KernelSpecError(f"rate must be a number of Hz, got {rate!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise KernelSpecError(f"rate must be a positive number of Hz, got {rate!r}")
    return value


# --- parameter helpers --------------------------------------------------------------------


def _positive(x: float) -> bool:
    return x > 0


def _non_negative(x: float) -> bool:
    return x >= 0


def _odd_or_auto(x: int) -> bool:
    return x == 0 or (x >= 1 and x % 2 == 1)


def _odd(x: int) -> bool:
    return x >= 1 and x % 2 == 1


def _taps(x: int) -> bool:
    return x == 0 or (x >= 3 and x % 2 == 1)


def _at_least_one(x: int) -> bool:
    return x >= 1


def _unit_range(x: float) -> bool:
    return -1.0 <= x <= 1.0


def _any(x: float) -> bool:
    return True


def _keys_a(x: float) -> bool:
    return -1.0 <= x <= 0.0


def _factor() -> Param:
    return Param(
        "factor",
        int,
        2,
        "upsampling factor: use it as the stride of a transposed convolution",
        allowed=">= 1",
        check=_at_least_one,
    )


_ODD = "that is odd and >= 1"


def _sigma(default: float = 1.0, name: str = "sigma", what: str = "") -> Param:
    text = what or "standard deviation in samples"
    return Param(name, float, default, text, allowed="> 0", check=_positive)


def _size(help_text: str = "kernel size per axis; 0 = auto") -> Param:
    return Param("size", int, 0, help_text, allowed=_ODD + ", or 0 for auto", check=_odd_or_auto)


def _odd_size(default: int) -> Param:
    return Param("size", int, default, "kernel size per axis", allowed=_ODD, check=_odd)


def _axis() -> Param:
    return Param(
        "axis",
        int,
        -1,
        "axis of the derivative; -1 = the last (columns)",
        allowed="between -ndim and ndim-1",
        check=_any,
    )


def _fir_params(*cutoffs: tuple[str, str]) -> tuple[Param, ...]:
    first = tuple(
        Param(name, float, None, text, allowed="> 0 and < rate/2", check=_positive)
        for name, text in cutoffs
    )
    return first + (
        Param(
            "taps",
            int,
            0,
            "number of taps; 0 = auto from the transition width",
            allowed="that is odd and >= 3, or 0 for auto",
            check=_taps,
        ),
        Param("window", str, "hamming", "window of the windowed sinc", choices=_fir.WINDOWS),
        Param(
            "beta",
            float,
            _fir.DEFAULT_BETA,
            "Kaiser window shape (window=kaiser only)",
            allowed=">= 0",
            check=_non_negative,
        ),
    )


_DEFS: tuple[KernelDef, ...] = (
    KernelDef(
        "identity",
        "a centred 1: passes the signal through unchanged",
        (_odd_size(1),),
        None,
        False,
        _named.identity,
    ),
    KernelDef(
        "box",
        "mean over a cube of size^ndim samples (sums to 1)",
        (_odd_size(3),),
        None,
        False,
        _named.box,
    ),
    KernelDef(
        "gaussian",
        "separable Gaussian blur, truncated at 4 sigma like scipy.ndimage (sums to 1)",
        (_sigma(), _size("kernel size per axis; 0 = auto, 2*int(4*sigma+0.5)+1")),
        None,
        False,
        _named.gaussian,
    ),
    KernelDef(
        "laplacian",
        "2*ndim-neighbour Laplacian stencil, centre -2*ndim (sums to 0)",
        (),
        None,
        False,
        _named.laplacian,
    ),
    KernelDef(
        "log",
        "Laplacian of Gaussian, negative centre, made zero-sum (sums to 0)",
        (_sigma(), _size()),
        None,
        False,
        _named.log,
    ),
    KernelDef(
        "dog",
        "difference of Gaussians G(sigma1) - G(sigma2) (sums to 0)",
        (
            _sigma(1.0, "sigma1", "standard deviation of the positive Gaussian"),
            _sigma(1.6, "sigma2", "standard deviation of the negative Gaussian"),
            _size("kernel size per axis; 0 = auto from the larger sigma"),
        ),
        None,
        False,
        _named.dog,
    ),
    KernelDef(
        "sharpen",
        "identity - amount*laplacian (sums to 1)",
        (Param("amount", float, 1.0, "strength", allowed=">= 0", check=_non_negative),),
        None,
        False,
        _named.sharpen,
    ),
    KernelDef(
        "unsharp",
        "unsharp mask: identity + amount*(identity - gaussian) (sums to 1)",
        (
            _sigma(what="standard deviation of the blur in samples"),
            Param("amount", float, 1.0, "strength", allowed=">= 0", check=_non_negative),
        ),
        None,
        False,
        _named.unsharp,
    ),
    KernelDef(
        "sobel",
        "Sobel derivative along axis, [1,2,1] smoothing across (sums to 0)",
        (_axis(),),
        None,
        False,
        _named.sobel,
    ),
    KernelDef(
        "disk",
        "flat n-ball of the given radius (sums to 1)",
        (Param("radius", float, 2.0, "radius in samples", allowed="> 0", check=_positive),),
        None,
        False,
        _named.disk,
    ),
    KernelDef(
        "prewitt",
        "Prewitt derivative along axis, [1,1,1] smoothing across (sums to 0)",
        (_axis(),),
        (2,),
        False,
        _named.prewitt,
    ),
    KernelDef(
        "scharr",
        "Scharr derivative along axis, [3,10,3] smoothing across (sums to 0)",
        (_axis(),),
        (2,),
        False,
        _named.scharr,
    ),
    KernelDef(
        "emboss",
        "emboss [-2 -1 0; -1 1 1; 0 1 2] (sums to 1)",
        (),
        (2,),
        False,
        _named.emboss,
    ),
    KernelDef(
        "outline",
        "outline [-1 -1 -1; -1 8 -1; -1 -1 -1] (sums to 0)",
        (),
        (2,),
        False,
        _named.outline,
    ),
    KernelDef(
        "motion",
        "antialiased line: motion blur (sums to 1)",
        (
            Param(
                "length",
                int,
                9,
                "length of the line in pixels",
                allowed=">= 1",
                check=_at_least_one,
            ),
            Param(
                "angle",
                float,
                0.0,
                "degrees counter-clockwise from the column axis (0 = along a row)",
                check=_any,
            ),
        ),
        (2,),
        False,
        _named.motion,
    ),
    KernelDef(
        "gabor",
        "real Gabor filter as OpenCV getGaborKernel, angles in degrees (not normalised)",
        (
            Param(
                "theta", float, 0.0, "orientation of the normal to the stripes, degrees", check=_any
            ),
            _sigma(3.0, what="standard deviation of the Gaussian envelope"),
            Param(
                "lambda",
                float,
                8.0,
                "wavelength of the stripes in pixels",
                allowed="> 0",
                check=_positive,
            ),
            Param("gamma", float, 0.5, "spatial aspect ratio", allowed="> 0", check=_positive),
            Param("psi", float, 0.0, "phase offset, degrees", check=_any),
            _size("kernel size per axis; 0 = auto, as OpenCV (3 sigma)"),
        ),
        (2,),
        False,
        _named.gabor,
    ),
    KernelDef(
        "bilinear",
        "linear upsampling by a transposed convolution, stride factor, padding same",
        (_factor(),),
        None,
        False,
        _named.bilinear,
    ),
    KernelDef(
        "bicubic",
        "Keys cubic upsampling by a transposed convolution, stride factor (a=-0.75: OpenCV, "
        "PyTorch)",
        (
            _factor(),
            Param(
                "a",
                float,
                -0.5,
                "Keys' parameter: -0.5 as Pillow and MATLAB, -0.75 as OpenCV and PyTorch",
                allowed="between -1 and 0",
                check=_keys_a,
            ),
        ),
        None,
        False,
        _named.bicubic,
    ),
    KernelDef(
        "lanczos",
        "Lanczos upsampling by a transposed convolution, stride factor (phases sum to 1)",
        (
            _factor(),
            Param("a", int, 3, "lobes of the window", allowed=">= 1", check=_at_least_one),
        ),
        None,
        False,
        _named.lanczos,
    ),
    KernelDef(
        "lowpass",
        "windowed-sinc low-pass FIR, -6 dB at cutoff (linear phase)",
        _fir_params(("cutoff", "cut-off frequency in Hz")),
        (1,),
        True,
        _fir.lowpass,
    ),
    KernelDef(
        "highpass",
        "windowed-sinc high-pass FIR, -6 dB at cutoff (linear phase)",
        _fir_params(("cutoff", "cut-off frequency in Hz")),
        (1,),
        True,
        _fir.highpass,
    ),
    KernelDef(
        "bandpass",
        "windowed-sinc band-pass FIR, -6 dB at low and high (linear phase)",
        _fir_params(("low", "lower cut-off in Hz"), ("high", "upper cut-off in Hz")),
        (1,),
        True,
        _fir.bandpass,
    ),
    KernelDef(
        "bandstop",
        "windowed-sinc band-stop FIR, -6 dB at low and high (linear phase)",
        _fir_params(("low", "lower cut-off in Hz"), ("high", "upper cut-off in Hz")),
        (1,),
        True,
        _fir.bandstop,
    ),
    KernelDef(
        "echo",
        "echoes: y[t] = x[t] + decay*x[t-D] + decay**2*x[t-2D] + ... (D = delay*rate)",
        (
            Param(
                "delay",
                float,
                0.25,
                "delay of each echo in seconds",
                allowed="> 0",
                check=_positive,
            ),
            Param(
                "decay",
                float,
                0.5,
                "gain of each echo relative to the one before",
                allowed="between -1 and 1",
                check=_unit_range,
            ),
            Param("repeats", int, 1, "number of echoes", allowed=">= 1", check=_at_least_one),
        ),
        (1,),
        True,
        _fir.echo,
    ),
)

REGISTRY: Mapping[str, KernelDef] = MappingProxyType({d.name: d for d in _DEFS})
"""Every named kernel, by name (read-only)."""


def list_kernels() -> list[KernelDef]:
    """Return every named kernel, sorted by name.

    Examples
    --------
    >>> for k in list_kernels()[:3]:
    ...     print(f"{k.signature():36} {k.ndims_text():4} {k.summary}")
    bandpass:low,high,taps=0,window=hamming,beta=8.6 1-D  windowed-sinc band-pass FIR, ...
    bandstop:low,high,taps=0,window=hamming,beta=8.6 1-D  windowed-sinc band-stop FIR, ...
    bicubic:factor=2,a=-0.5              n-D  Keys cubic upsampling by a transposed convolution, ...
    """
    return [REGISTRY[name] for name in sorted(REGISTRY)]


def get_kernel(name: str) -> KernelDef:
    """Return the named kernel ``name`` (case-insensitive).

    Raises
    ------
    KernelSpecError
        When there is no such kernel; the message suggests close names and ``convcli kernels``.

    Examples
    --------
    >>> get_kernel("Sobel").name
    'sobel'
    """
    key = name.strip().lower()
    try:
        return REGISTRY[key]
    except KeyError:
        pass
    import difflib

    close = difflib.get_close_matches(key, list(REGISTRY), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise KernelSpecError(
        f"unknown kernel {name.strip()!r}{hint} (`convcli kernels` lists them all)"
    ) from None
