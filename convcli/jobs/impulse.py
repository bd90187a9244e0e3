"""An audio impulse response as ``convcli filter`` uses it: rate, trim, layout, gain, mix.

A kernel read from an audio file, applied to an audio signal, goes through
:func:`impulse_kernel` in this order::

    read -> [--resample-kernel] -> [--trim-ir] -> layout (mono, per channel, or an
    inputs x outputs matrix) -> [--ir-normalize] -> [--predelay] -> [--mix]

The result is one kernel the chain applies (:func:`convcli.engine.chain.apply_chain`), so an
input streamed slab by slab keeps its bounded memory: ``--mix`` is folded into the kernel
(``WET * h + (1 - WET) * delta`` at the IR's latency, on each input's own output), which is
the dry signal delayed to the direct sound, computed with the same geometry as the wet one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from convcli import reverb
from convcli.errors import ArgumentError, KernelSpecError, Param

if TYPE_CHECKING:
    from convcli.jobs.options import FilterOptions

__all__ = ["impulse_kernel", "is_impulse_response", "TRIM_THRESHOLD_DB"]

#: ``--trim-ir`` drops the leading frames where every channel is below this level (dBFS).
TRIM_THRESHOLD_DB = -60.0


def is_impulse_response(spec: str, kind: str) -> bool:
    """Whether ``spec`` names an audio file and the signal is audio: an impulse response."""
    from convcli.kernels import parse_spec
    from convcli.kernels._files import is_audio_file

    if kind != "audio":
        return False
    parsed = parse_spec(spec)
    return parsed.kind == "file" and parsed.path is not None and is_audio_file(parsed.path)


def _own_rate(path: str) -> float:
    from convcli.kernels._files import impulse_response_rate

    return float(impulse_response_rate(path))


def _paths(h: np.ndarray, channels: int, layout: str | None) -> np.ndarray:
    """Arrange an IR for a signal of ``channels`` channels.

    As given when that is what the chain already does with it (one channel, used on every
    input channel; one channel per input channel; several channels on a mono input, each an
    output); an ``(inputs, outputs, taps)`` matrix when ``--ir-layout`` says so or the IR has
    ``channels**2`` channels (true stereo: LL, LR, RL, RR).
    """
    if layout is not None:
        return reverb.ir_matrix(h, channels, layout)
    if h.ndim == 1 or h.shape[0] == channels or channels == 1:
        return h
    return reverb.ir_matrix(h, channels)  # true N x N, or one line on why it fits nothing


def _dry(k: np.ndarray, latency: int) -> np.ndarray:
    """Return the dry path: a unit impulse at ``latency``, on each input's own output."""
    dry = np.zeros_like(k)
    if k.ndim == 3:
        n_in, n_out = k.shape[:2]
        if n_in != 1 and n_in != n_out:
            mix = Param("mix")
            raise ArgumentError(
                f"{mix} blends the dry input into the wet output, but an {n_in}x{n_out} "
                "impulse response has a different number of outputs than inputs (a mono "
                "input, or as many outputs as inputs, can be mixed)",
                params=[mix],
            )
        for o in range(n_out):
            dry[0 if n_in == 1 else o, o, latency] = 1.0
    else:
        dry[..., latency] = 1.0
    return dry


def impulse_kernel(
    spec: str,
    path: str,
    rate: float,
    channels: int,
    opts: FilterOptions,
    note: dict[str, Any],
) -> np.ndarray:
    """Build the kernel of an audio impulse response for a signal, as the IR options say.

    Parameters
    ----------
    spec, path : str
        The ``-k`` spec and the file it names.
    rate : float
        The signal's sample rate.
    channels : int
        The signal's channels where this kernel applies.
    opts : FilterOptions
        ``resample_kernel``, ``trim_ir``, ``ir_layout``, ``ir_normalize``, ``predelay``,
        ``mix`` and ``max_taps``.
    note : dict
        Receives what was done: ``resampled`` (from Hz), ``trimmed`` (samples), ``latency``
        (samples), ``layout`` (``"NxM"``).

    Returns
    -------
    numpy.ndarray
        ``(taps,)``, ``(channels, taps)`` or ``(inputs, outputs, taps)``, float64.

    Raises
    ------
    KernelSpecError, ArgumentError
        A rate that differs without ``--resample-kernel``, a ratio that cannot resample
        exactly, a channel count that fits no layout, a kernel over ``max_taps``.
    """
    from convcli.jobs.budget import _make_kernel, _too_many_taps

    own = _own_rate(path)
    if own != rate and opts.resample_kernel:
        h = _make_kernel(spec, 1, None, opts.max_taps)
        try:
            h = reverb.resample_kernel(h, own, rate)
        except ArgumentError as exc:
            raise KernelSpecError(f"kernel file {path}: {exc}") from None
        note["resampled"] = own
    else:
        h = _make_kernel(spec, 1, rate, opts.max_taps)  # refuses another rate
    if opts.trim_ir:
        try:
            h, removed = reverb.trim_ir(h, TRIM_THRESHOLD_DB)
        except ArgumentError as exc:
            raise KernelSpecError(f"kernel file {path}: {exc}") from None
        note["trimmed"] = removed
    try:
        k = _paths(h, channels, opts.ir_layout)
    except ArgumentError as exc:
        raise KernelSpecError(f"kernel file {path}: {exc}", params=[Param("ir_layout")]) from None
    if k.ndim == 3:
        note["layout"] = f"{k.shape[0]}x{k.shape[1]}"
    k = reverb.normalize_ir(k, opts.ir_normalize)
    latency = reverb.ir_latency(k)
    note["latency"] = latency
    if opts.predelay:
        k = reverb.predelay(k, opts.predelay, rate)
    if opts.mix is not None:
        k = opts.mix * k + (1.0 - opts.mix) * _dry(k, latency)
    if opts.max_taps is not None and k.size > opts.max_taps:
        raise _too_many_taps(spec, k.shape, 1, opts.max_taps)
    return np.ascontiguousarray(k)
