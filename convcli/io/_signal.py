"""The :class:`Signal` a loader returns and a writer takes, and the :class:`Form` it came in.

Standard library and numpy only: importing this module must stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["KINDS", "CONTAINERS", "Form", "Signal"]

#: The kinds of signal convcli knows, and the ``kind=`` values :func:`convcli.io.load` forces.
KINDS = ("image", "audio", "volume", "array", "series")

#: How a signal was stored.
CONTAINERS = ("file", "folder", "multipage", "animated", "npy")


@dataclass
class Form:
    """How a signal was stored, so that it can be written back the same way.

    Parameters
    ----------
    container : str
        ``"file"`` (one image, audio or text file), ``"folder"`` (a folder of image slices),
        ``"multipage"`` (a multi-page TIFF), ``"animated"`` (an animated GIF, PNG or WebP) or
        ``"npy"`` (a ``.npy`` array).
    format : str or None
        The file format as Pillow or soundfile names it: ``"PNG"``, ``"JPEG"``, ``"TIFF"``,
        ``"WAV"``, ``"FLAC"``, ``"NPY"``...; for a folder, the format of its first slice.
    mode : str or None
        The Pillow mode as loaded (``"1"``, ``"L"``, ``"LA"``, ``"P"``, ``"RGB"``, ``"RGBA"``,
        ``"CMYK"``, ``"I;16"``, ``"I;16B"``, ``"I"``, ``"F"``), before any conversion.
    subtype : str or None
        The soundfile subtype of an audio file (``"PCM_16"``, ``"FLOAT"``...).
    bits : int or None
        Bits per sample as stored (1, 8, 16, 24, 32, 64).
    dtype : str or None
        The numpy dtype the file stores, by name: what ``--dtype auto`` keeps.  For audio it is
        the integer or float type that holds the subtype (``"int16"`` for ``PCM_16``,
        ``"int32"`` for ``PCM_24`` and ``PCM_32``, ``"uint8"`` for ``PCM_U8``).
    slice_names : list of str
        The file names of the slices of a folder, in natural order.
    frame_durations : list of float
        Display time of each frame of an animation, in milliseconds.
    loop : int or None
        Loop count of an animation (0 = for ever; None = play once).
    info : dict
        Extras a writer carries to the output where the format can hold them: ``dpi``,
        ``icc_profile``, ``exif`` (orientation removed, as it has been applied),
        ``compression`` (TIFF), ``subsampling`` (JPEG); and ``palette``, a ``(256, 3)`` uint8
        colour table with which 8-bit gray levels are written as indexed colour (never set
        by a loader: convcli's own pictures use it).  A text series carries ``series`` (its
        layout: what is written back as it came) and ``columns`` (the channels' names).
        Set by the job that filtered a signal, for a writer that copies what goes with each
        input row: ``rows``, a :class:`convcli.geometry.RowMap` (output row ``o`` sits on
        input row ``first + o*step``), and ``full_precision`` (write changed values in
        full, not in the input's style: a ``dtype`` was asked for).
    """

    container: str = "file"
    format: str | None = None
    mode: str | None = None
    subtype: str | None = None
    bits: int | None = None
    dtype: str | None = None
    slice_names: list[str] = field(default_factory=list)
    frame_durations: list[float] = field(default_factory=list)
    loop: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Signal:
    """An image, audio clip, volume, series or raw array with what is needed to write it back.

    Parameters
    ----------
    data : numpy.ndarray
        The samples.  Image: ``(rows, cols)`` or ``(rows, cols, C)``.  Audio: ``(frames, C)``
        in ``[-1, 1]`` units (float32, float64 for ``DOUBLE`` and ``PCM_32`` files).  Volume:
        ``(planes, rows, cols)`` or ``(planes, rows, cols, C)``.  Series: ``(rows, C)``, one
        numeric column of a text file per channel, float64.  Array: as stored.
    kind : str
        One of ``"image"``, ``"audio"``, ``"volume"``, ``"array"``, ``"series"``.
    channel_axis : int or None
        The (non-negative) index of the channel axis, or None when every axis is spatial.
    rate : float or None
        Sample rate of audio, in Hz.
    source : pathlib.Path or None
        The file or folder the signal was read from.
    form : Form
        How the signal was stored.

    Examples
    --------
    >>> import numpy as np
    >>> s = Signal(np.zeros((4, 5, 3), np.uint8), "image", channel_axis=2)
    >>> s.spatial_ndim, s.channels, s.spatial_shape
    (2, 3, (4, 5))
    """

    data: np.ndarray
    kind: str
    channel_axis: int | None = None
    rate: float | None = None
    source: Path | None = None
    form: Form = field(default_factory=Form)

    @property
    def spatial_ndim(self) -> int:
        """Number of spatial axes: ``data.ndim`` less one when there is a channel axis."""
        return self.data.ndim - (1 if self.channel_axis is not None else 0)

    @property
    def channels(self) -> int:
        """Number of channels: the length of the channel axis, 1 when there is none."""
        if self.channel_axis is None:
            return 1
        return int(self.data.shape[self.channel_axis])

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The shape without the channel axis."""
        return tuple(n for i, n in enumerate(self.data.shape) if i != self.channel_axis)
