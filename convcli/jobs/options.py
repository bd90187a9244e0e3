"""What a ``convcli filter`` run was told, and the per-axis checks against each input.

:class:`FilterOptions` and :class:`Job` are frozen and picklable: a batch sends them to its
worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from convcli.errors import ArgumentError, Param
from convcli.jobs.budget import MAX_TAPS

__all__ = [
    "FilterOptions",
    "Job",
    "default_pad_mode",
    "per_axis",
    "padding_for",
    "geometry_for",
    "placed_form",
]


@dataclass(frozen=True)
class FilterOptions:
    """Everything ``convcli filter`` was told, once per run (picklable for ``--jobs``).

    ``read`` holds the read options of the inputs' format, as ``(name, value)`` pairs
    (:func:`convcli.io.load`'s ``options``: a text series' ``columns``, ``keep_columns``,
    ``header``).
    """

    kernels: tuple[str, ...]
    stride: tuple[int, ...] | None = None
    padding: Any = "same"
    pad_mode: str | None = None
    pad_value: float = 0.0
    dilation: tuple[int, ...] | None = None
    flip: bool = False
    method: str = "auto"
    normalize: bool = False
    scale: float = 1.0
    bias: float = 0.0
    abs: bool = False
    rescale: bool = False
    dtype: str = "auto"
    kind: str = "auto"
    read: tuple[tuple[str, Any], ...] = ()
    alpha: str = "premultiply"
    gray: bool = False
    overwrite: bool = False
    dry_run: bool = False
    verbose: bool = False
    max_memory: int | None = None
    max_taps: int | None = MAX_TAPS
    limits: Any = None
    jobs: int = 1


@dataclass(frozen=True)
class Job:
    """One input and where its output goes; ``protect`` lists every input of the run."""

    input: str
    output: str
    protect: tuple[str, ...] = field(default_factory=tuple)


def default_pad_mode(kind: str) -> str:
    """Return the pad mode used when ``--pad-mode`` is not given.

    It is reflect for images and volumes, zero for audio and arrays.
    """
    return "reflect" if kind in ("image", "volume") else "zero"


def _axes(ndim: int) -> str:
    return f"{ndim} spatial axis" if ndim == 1 else f"{ndim} spatial axes"


def per_axis(values: tuple[int, ...] | None, ndim: int, name: str) -> int | tuple[int, ...]:
    """Check an option's per-axis values (``stride``, ``dilation``) against a signal.

    Parameters
    ----------
    values : tuple of int or None
        The values given: None (the default, 1), one value for every axis, or one per axis.
    ndim : int
        The signal's number of spatial axes.
    name : str
        The option's name, for the message.

    Returns
    -------
    int or tuple of int
        What :func:`convcli.convolve` takes.

    Raises
    ------
    ArgumentError
        More than one value, but not one per axis.

    Examples
    --------
    >>> per_axis(None, 2, "stride"), per_axis((2,), 2, "stride"), per_axis((1, 2), 2, "stride")
    (1, 2, (1, 2))
    """
    if values is None:
        return 1
    if len(values) == 1:
        return values[0]
    if len(values) != ndim:
        raise ArgumentError(
            f"{name} has {len(values)} values but the signal has {_axes(ndim)}: give one "
            f"value, or one per axis",
            params=[Param(name)],
        )
    return values


def padding_for(padding: Any, ndim: int) -> Any:
    """Check a parsed ``padding`` against a signal: a list has one entry, or one per axis.

    Parameters
    ----------
    padding : str, int or list
        As :func:`convcli.geometry.parse_padding` gives it.
    ndim : int
        The signal's number of spatial axes.

    Returns
    -------
    str, int or list
        ``padding`` itself.

    Raises
    ------
    ArgumentError
        A list of more than one entry, but not one per axis.
    """
    if isinstance(padding, list) and len(padding) not in (1, ndim):
        raise ArgumentError(
            f"padding has {len(padding)} values but the signal has {_axes(ndim)}: give one "
            f"value, or one per axis",
            params=[Param("padding")],
        )
    return padding


def geometry_for(opts: Any, ndim: int, kind: str) -> dict[str, Any]:
    """Return the geometry arguments of :func:`convcli.convolve` that ``opts`` give a signal.

    Parameters
    ----------
    opts : FilterOptions or FeaturesOptions
        Options with ``stride``, ``dilation``, ``padding``, ``pad_mode``, ``pad_value``,
        ``flip`` and ``method``.
    ndim : int
        The signal's number of spatial axes (the per-axis values are checked against it).
    kind : str
        The signal's kind: the pad mode when none was given (:func:`default_pad_mode`).

    Returns
    -------
    dict
        ``stride``, ``dilation``, ``padding``, ``pad_mode``, ``pad_value``, ``flip``,
        ``method``.

    Raises
    ------
    ArgumentError
        A per-axis value that is neither one value nor one per axis.
    """
    return {
        "stride": per_axis(opts.stride, ndim, "stride"),
        "dilation": per_axis(opts.dilation, ndim, "dilation"),
        "padding": padding_for(opts.padding, ndim),
        "pad_mode": opts.pad_mode or default_pad_mode(kind),
        "pad_value": opts.pad_value,
        "flip": opts.flip,
        "method": opts.method,
    }


def placed_form(
    sig: Any, shape: Sequence[int], kernels: Sequence[Any], geometry: dict[str, Any], dtype: str
) -> Any:
    """Return the form an output is written with: the input's, and where its rows sit.

    ``form.info["rows"]`` is the :class:`convcli.geometry.RowMap` of the chain along the
    first axis (output row ``o`` sits on the input row under the centre of the windows that
    made it), and ``form.info["full_precision"]`` says a ``dtype`` other than ``auto`` was
    asked for: a writer that copies what goes with each input row (a text series' timestamps
    and labels) reads them; the others ignore them.

    Parameters
    ----------
    sig : Signal
        The input (its form, channel axis and number of spatial axes).
    shape : sequence of int
        The input's shape, channels included.
    kernels : sequence of numpy.ndarray
        The chain (a kernel may have one more leading axis: one kernel per channel).
    geometry : dict
        What :func:`geometry_for` gives.
    dtype : str
        The ``dtype`` asked for (``"auto"`` or a name).

    Returns
    -------
    Form
        A copy of ``sig.form`` with those two entries in its ``info``.
    """
    from convcli.geometry import chain_centres

    ndim = sig.spatial_ndim
    spatial = [n for i, n in enumerate(shape) if i != sig.channel_axis]
    rows = chain_centres(
        spatial,
        [k.shape[k.ndim - ndim :] for k in kernels],
        stride=geometry["stride"],
        padding=geometry["padding"],
        dilation=geometry["dilation"],
    )
    info = {**sig.form.info, "rows": rows, "full_precision": dtype != "auto"}
    return replace(sig.form, info=info)


def _limits(opts: FilterOptions) -> Any:
    from convcli.io import DEFAULT_LIMITS

    return DEFAULT_LIMITS if opts.limits is None else opts.limits
