"""Peer presets (``--compat NAME``): the conventions under which convcli's numbers equal a peer's.

A preset sets what each tool decides differently for the same kernel:

- correlation or convolution (``flip``);
- the pad mode (``pad_mode``, a :mod:`convcli.padding` name);
- which tap of an even-sized kernel sits on the output sample under ``same`` padding
  (``origin``: ``"low"`` pads ``d*(k-1) // 2`` before, tap ``(k - 1) // 2`` without dilation:
  convcli's own rule with stride 1, and PyTorch's; ``"high"`` pads the larger half before,
  tap ``k // 2``: OpenCV's anchor and libvips' centre);
- what a stride does under ``same`` (``strided``): ``"subsample"`` computes the stride-1 result
  and keeps every ``s``-th sample (``peer(x)[::s]``, for peers without a stride);
  ``"symmetric"`` pads ``(d*(k-1)) // 2`` on both sides (PyTorch's ``padding=k//2`` idiom:
  PyTorch refuses ``padding='same'`` with a stride);
- the arithmetic's precision (``compute``: ``"float64"`` for peers that compute in double;
  ``"auto"`` keeps convcli's float32 for 8- and 16-bit inputs);
- how a float result is rounded to an integer output (``rounding``, one of
  :data:`convcli.io.dtypes.ROUNDINGS`), after the peer stores it (``stored``: libvips sums in
  double and stores a float32 image, which its save-time cast truncates).

Only ``same`` padding is changed by a preset: ``valid``, ``full`` and explicit padding mean
the same to every tool.  Options given on the command line win over the preset's
(``--pad-mode``, ``--rounding``); ``--flip`` with a preset that correlates makes it convolve.

This module is standard library only, like :mod:`convcli.geometry`.

Examples
--------
>>> PRESETS["opencv"].pad_mode, PRESETS["scipy"].flip
('reflect', True)
>>> same_pads(PRESETS["opencv"], (4, 3), (1, 1), (1, 1))
((2, 1), (1, 1))
>>> same_pads(PRESETS["scipy"], (4,), (2,), (1,))
((3, 3),)
>>> same_pads(PRESETS["torch"], (4,), (1,), (2,))
((1, 1),)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Preset", "PRESETS", "PRESET_NAMES", "get_preset", "same_pads"]


@dataclass(frozen=True)
class Preset:
    """One peer's conventions (see the module docstring for each field)."""

    name: str
    peer: str
    flip: bool
    pad_mode: str
    origin: str
    strided: str
    compute: str
    rounding: str
    stored: str | None = None


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "scipy",
            "scipy.ndimage.convolve (default mode 'reflect'; integer outputs truncated)",
            True,
            "symmetric",
            "low",
            "subsample",
            "float64",
            "toward-zero",
        ),
        Preset(
            "opencv",
            "cv2.filter2D (anchor -1, BORDER_DEFAULT; saturate_cast rounds half to even)",
            False,
            "reflect",
            "high",
            "subsample",
            "auto",
            "half-even",
        ),
        Preset(
            "torch",
            "torch.nn.functional.conv1d/2d/3d (padding='same', or k//2 with a stride)",
            False,
            "zero",
            "low",
            "symmetric",
            "auto",
            "half-even",
        ),
        Preset(
            "imagemagick",
            "ImageMagick 6 Q16 -convolve / -morphology Convolve (virtual pixels: edge)",
            False,
            "replicate",
            "low",
            "subsample",
            "float64",
            "q16-down",
        ),
        Preset(
            "vips",
            "vips conv (precision float), saved to an integer format",
            False,
            "replicate",
            "high",
            "subsample",
            "float64",
            "toward-zero",
            "float32",
        ),
        Preset(
            "ffmpeg",
            "ffmpeg -vf convolution (odd square matrices)",
            False,
            "reflect",
            "high",
            "subsample",
            "auto",
            "half-up",
        ),
    )
}

#: The names ``--compat`` takes, in the order the docs list them.
PRESET_NAMES = tuple(PRESETS)


def get_preset(name: str) -> Preset:
    """Return the preset called ``name`` (case-insensitive).

    Raises
    ------
    ValueError
        An unknown name; the message lists the known ones.
    """
    preset = PRESETS.get(name.lower())
    if preset is None:
        raise ValueError(f"compat {name!r} is not one of {', '.join(PRESET_NAMES)}")
    return preset


def same_pads(
    preset: Preset,
    kernel_shape: Sequence[int],
    dilation: Sequence[int],
    stride: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """Return the ``(before, after)`` padding per axis that ``same`` means to the peer.

    Parameters
    ----------
    preset : Preset
        The peer.
    kernel_shape, dilation, stride : sequence of int
        One entry per spatial axis.

    Returns
    -------
    tuple of (int, int)
        Padding that puts the peer's origin tap on each output sample (for ``subsample``:
        ``ceil(i / s)`` outputs, sample ``o`` centred on input ``o * s``).
    """
    pads = []
    strided = any(s > 1 for s in stride)
    for k, d in zip(kernel_shape, dilation):
        span = d * (k - 1)
        if preset.strided == "symmetric" and strided:
            pads.append((span // 2, span // 2))
            continue
        before = span // 2 if preset.origin == "low" else span - span // 2
        pads.append((before, span - before))
    return tuple(pads)
