"""A chain of kernels applied one after another: what ``convcli filter`` computes.

Each kernel is planned for the signal as it stands after the previous one (its shape and
dtype), so a chain of strided kernels is planned stage by stage.  A kernel with one axis more
than the signal's spatial axes holds one kernel per channel (a multi-channel impulse
response), applied channel by channel; one with two more axes is an ``(inputs, outputs)``
matrix of kernels (a true-stereo impulse response: output ``o`` is the sum over the input
channels ``i`` of channel ``i`` filtered by ``k[i, o]``).

Each kernel is a correlation (:func:`convcli.convolve`), a normalized convolution
(``normalized=True``: missing samples left out, see :func:`convcli.convolve`) or a
transposed convolution (``transposed=True``: :func:`convcli.conv_transpose`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from convcli.engine import conv_transpose, convolve, execute, make_plan
from convcli.errors import ArgumentError

__all__ = ["apply_chain", "Step", "plan_step"]


@dataclass(frozen=True)
class Step:
    """What one kernel of a chain that is not a plain correlation was planned to do.

    It answers what a :class:`convcli.engine.Plan` answers for a record (``method``,
    ``pads``, ``geometry``, ``output_shape``, :meth:`describe`).

    Attributes
    ----------
    operation : str
        ``"normalized"`` or ``"transposed"``; ``"... matrix NxM"`` for an IR matrix.
    geometry : tuple
        :class:`convcli.geometry.AxisGeometry` (normalized) or
        :class:`convcli.geometry.TransposedAxis` (transposed), one per spatial axis.
    method : str
        The method of the correlations it runs.
    input_shape, output_shape : tuple of int
        Shapes, channel axis included.
    text : str
        The line ``-v`` prints.
    """

    operation: str
    geometry: tuple[Any, ...]
    method: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    text: str

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        """``(before, after)`` per spatial axis (transposed: the crop of the full output)."""
        return tuple((a.pad_lo, a.pad_hi) for a in self.geometry)

    def describe(self) -> str:
        """Return the line ``-v`` prints."""
        return self.text


def _dims(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def plan_step(
    shape: Sequence[int],
    dtype: np.dtype | type,
    kernel: np.ndarray,
    *,
    channel_axis: int | None,
    geometry: dict[str, Any],
    normalized: bool = False,
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
    finite: bool = True,
) -> Any:
    """Plan one kernel of a chain from shapes alone: a Plan, or a :class:`Step`.

    Parameters
    ----------
    shape, dtype
        The signal's shape and dtype (channel axis included).
    kernel : ndarray
        One kernel with the signal's spatial axes.
    channel_axis : int or None
        The signal's channel axis.
    geometry : dict
        ``stride``, ``padding``, ``pad_mode``, ``pad_value``, ``dilation``, ``flip``,
        ``method``.
    normalized, transposed : bool, optional
        The operation (at most one of them).
    output_padding : int or sequence of int, optional
        Of a transposed convolution.
    finite : bool, optional
        False when the signal holds NaN or Inf.

    Returns
    -------
    Plan or Step
        A :class:`convcli.engine.Plan` for a plain correlation.
    """
    if not (normalized or transposed):
        return make_plan(shape, dtype, kernel, channel_axis=channel_axis, finite=finite, **geometry)
    if normalized:
        plan = make_plan(shape, dtype, kernel, channel_axis=channel_axis, **geometry)
        return Step(
            "normalized",
            plan.geometry,
            plan.method,
            plan.input_shape,
            plan.output_shape,
            f"normalized convolution: {plan.describe()}",
        )
    from convcli.geometry import resolve_transposed

    base = make_plan(
        shape, dtype, kernel, channel_axis=channel_axis, **{**geometry, "padding": "full"}
    )
    axes = resolve_transposed(
        [shape[a] for a in base.spatial_axes],
        base.kernel_shape,
        stride=geometry.get("stride", 1),
        padding=geometry.get("padding", "same"),
        dilation=geometry.get("dilation", 1),
        output_padding=output_padding,
    )
    out = list(shape)
    for a, g in zip(base.spatial_axes, axes):
        out[a] = g.output
    method = str(geometry.get("method", "auto"))
    text = (
        f"transposed convolution: kernel {_dims(base.kernel_shape)}; "
        f"stride {','.join(str(g.stride) for g in axes)}; "
        f"dilation {','.join(str(g.dilation) for g in axes)}; "
        f"crop {' '.join(f'{g.pad_lo}:{g.pad_hi}' for g in axes)}; "
        f"output padding {','.join(str(g.output_padding) for g in axes)} "
        f"({base.pad_mode}); {_dims(shape)} -> {_dims(out)}; "
        f"method {method} per phase ({np.prod([g.stride for g in axes])} phases)"
    )
    return Step("transposed", axes, method, tuple(shape), tuple(out), text)


def _apply_one(
    y: np.ndarray,
    k: np.ndarray,
    *,
    channel_axis: int | None,
    geometry: dict[str, Any],
    normalized: bool,
    transposed: bool,
    output_padding: int | Sequence[int],
    mask: Any,
    finite: bool,
) -> tuple[np.ndarray, Any]:
    """Apply one kernel with the signal's spatial axes; return the result and its plan."""
    plan = plan_step(
        y.shape,
        y.dtype,
        k,
        channel_axis=channel_axis,
        geometry=geometry,
        normalized=normalized,
        transposed=transposed,
        output_padding=output_padding,
        finite=finite,
    )
    if normalized:
        out = convolve(y, k, channel_axis=channel_axis, normalized=True, mask=mask, **geometry)
    elif transposed:
        out = conv_transpose(
            y, k, channel_axis=channel_axis, output_padding=output_padding, **geometry
        )
    else:
        out = execute(plan, y)
    return out, plan


def apply_chain(
    data: np.ndarray,
    kernels: list[np.ndarray],
    *,
    channel_axis: int | None,
    geometry: dict[str, Any] | Sequence[dict[str, Any]],
    plans: list[Any] | None = None,
    normalized: bool = False,
    mask: Any = None,
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
    geometries: list[dict[str, Any]] | None = None,
) -> np.ndarray:
    """Apply kernels one after another; per-channel kernels and IR matrices channel by channel.

    Parameters
    ----------
    data : ndarray
        The signal.
    kernels : list of ndarray
        Each with the signal's spatial number of axes; or one more (a leading axis with one
        kernel per channel, as a multi-channel impulse response gives); or two more (an
        ``(inputs, outputs, ...)`` matrix of kernels: output ``o`` sums input ``i`` filtered
        by ``k[i, o]``).
    channel_axis : int or None
        The signal's channel axis.
    geometry : dict, or one dict per kernel
        ``stride``, ``padding``, ``pad_mode``, ``pad_value``, ``dilation``, ``flip``, ``method``.
    plans : list, optional
        Receives the :class:`convcli.engine.Plan` (or :class:`Step`) of each kernel.
    normalized : bool, optional
        Normalized convolution for every kernel (see :func:`convcli.convolve`).
    mask : array_like, optional
        With ``normalized``: the certainty of the first kernel's input (its spatial shape);
        later kernels leave out the NaN samples of the result before them (where the first
        kept no weight).
    transposed : bool, optional
        Transposed convolution for every kernel (:func:`convcli.conv_transpose`).
    output_padding : int or sequence of int, optional
        Of a transposed convolution.
    geometries : list of dict, optional
        One geometry per kernel, used instead of ``geometry`` (padding that depends on each
        kernel's shape, as a ``--compat`` preset's ``same`` rule gives).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.0, 2.0]])             # 2 frames, stereo
    >>> matrix = np.array([[[1.0], [0.5]], [[0.0], [1.0]]])  # L->L 1, L->R 0.5, R->R 1
    >>> apply_chain(x, [matrix], channel_axis=1, geometry={})
    array([[1. , 0.5],
           [0. , 2. ]])
    """
    if normalized and transposed:
        raise ArgumentError("normalized and transposed convolution cannot be combined")
    y = data
    spatial = y.ndim - (0 if channel_axis is None else 1)
    if geometries is None:
        geometries = [geometry] * len(kernels) if isinstance(geometry, dict) else list(geometry)
    if len(geometries) != len(kernels):
        raise ArgumentError(f"{len(geometries)} geometries for {len(kernels)} kernels")
    op: dict[str, Any] = dict(
        normalized=normalized, transposed=transposed, output_padding=output_padding
    )
    for n, (k, geo) in enumerate(zip(kernels, geometries)):
        finite = not (y.dtype.kind == "f" and not np.all(np.isfinite(y)))
        m = mask if n == 0 else None
        if k.ndim == spatial + 2:
            y, channel_axis = _apply_matrix(y, k, channel_axis, geo, op, m, finite, plans)
        elif k.ndim == spatial + 1:
            # One kernel per channel (a multi-channel impulse response).
            if channel_axis is None:
                y = y[..., None]
                channel_axis = y.ndim - 1
            channels = y.shape[channel_axis]
            if channels == 1 and k.shape[0] > 1:
                y = np.repeat(y, k.shape[0], axis=channel_axis)
                channels = k.shape[0]
            if k.shape[0] != channels:
                raise ArgumentError(
                    f"the kernel has {k.shape[0]} channels but the signal has {channels}"
                )
            outs = []
            for c in range(channels):
                plane = np.take(y, c, axis=channel_axis)
                out, plan = _apply_one(
                    plane, k[c], channel_axis=None, geometry=geo, mask=m, finite=finite, **op
                )
                if plans is not None and c == 0:
                    plans.append(plan)
                outs.append(out)
            y = np.stack(outs, axis=channel_axis)
        else:
            y, plan = _apply_one(
                y, k, channel_axis=channel_axis, geometry=geo, mask=m, finite=finite, **op
            )
            if plans is not None:
                plans.append(plan)
    return y


def _apply_matrix(
    y: np.ndarray,
    k: np.ndarray,
    channel_axis: int | None,
    geometry: dict[str, Any],
    op: dict[str, Any],
    mask: Any,
    finite: bool,
    plans: list[Any] | None,
) -> tuple[np.ndarray, int]:
    """Output ``o`` = sum over inputs ``i`` of input channel ``i`` filtered by ``k[i, o]``."""
    if channel_axis is None:
        y = y[..., None]
        channel_axis = y.ndim - 1
    inputs, outputs = int(k.shape[0]), int(k.shape[1])
    if y.shape[channel_axis] != inputs:
        raise ArgumentError(
            f"the kernel matrix takes {inputs} input channel(s) but the signal has "
            f"{y.shape[channel_axis]}"
        )
    planes = [np.take(y, i, axis=channel_axis) for i in range(inputs)]
    outs: list[np.ndarray | None] = [None] * outputs
    first: Any = None
    for o in range(outputs):
        # paths that do not exist are skipped (an output of none is one zero path's result)
        for i in [i for i in range(inputs) if k[i, o].any()] or [0]:
            out, plan = _apply_one(
                planes[i], k[i, o], channel_axis=None, geometry=geometry, mask=mask,
                finite=finite, **op,
            )  # fmt: skip
            first = first or plan
            current = outs[o]
            outs[o] = out if current is None else current + out
    if plans is not None and first is not None:
        out_shape = list(first.output_shape)
        out_shape.insert(channel_axis, outputs)
        plans.append(
            Step(
                f"matrix {inputs}x{outputs}",
                first.geometry,
                first.method,
                tuple(y.shape),
                tuple(out_shape),
                f"{inputs}x{outputs} matrix of kernels (inputs x outputs), each: "
                + first.describe(),
            )
        )
    return np.stack([o for o in outs if o is not None], axis=channel_axis), channel_axis
