"""Volumes stored as a folder of image slices (multi-frame files are in :mod:`.pillow_image`).

A folder's slices are its image files (by extension; hidden files are skipped) in natural
order: ``s2.png`` before ``s10.png``.  Every slice must have the same size and mode.
Written back, a folder keeps its input's slice names (same names, same format) when the
number of planes is unchanged, the input's naming pattern when it changed (``img_007.png``
goes on as ``img_008.png``...), and ``slice_0000.png``-style names otherwise.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SignalReadError, SignalWriteError, UnsupportedError
from . import pillow_image, registry
from ._signal import Form, Signal
from .atomic import atomic_folder, write_new
from .dtypes import stored_dtype
from .limits import DEFAULT_LIMITS, Limits, over_limit, what_is
from .pillow_image import (
    check_image,
    depth_name,
    describe_holds,
    image_dtypes,
    layout_name,
    probe_image,
    read_image,
    to_gray,
)

__all__ = ["natural_key", "list_slices", "read_folder", "probe_folder", "slice_names"]

_DIGITS = re.compile(r"(\d+)")

#: Files a folder of slices may hold: the image extensions written here, and ``.pbm``.
SLICE_READ_EXT = frozenset(
    [*(e for f in registry.family("image").writes for e in f.extensions), ".pbm"]
)


def image_format_of(path: str | os.PathLike[str]) -> str | None:
    """Return the image format a file name's extension names, or None.

    Examples
    --------
    >>> image_format_of("a/b.JPG"), image_format_of("x.wav")
    ('JPEG', None)
    """
    found = registry.writes(Path(path).suffix)
    return found[1].name if found is not None and found[0].name == "image" else None


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value: ``s2`` before ``s10``.

    Parameters
    ----------
    name : str
        A file name.

    Returns
    -------
    tuple
        The key (case-insensitive; ties keep a stable order by the name itself).

    Examples
    --------
    >>> sorted(["s10.png", "s2.png", "S1.png"], key=natural_key)
    ['S1.png', 's2.png', 's10.png']
    """
    parts: list[tuple[int, int | str]] = []
    for i, part in enumerate(_DIGITS.split(name)):
        if i % 2:
            parts.append((0, int(part)))
        elif part:
            parts.append((1, part.lower()))
    parts.append((2, name))
    return tuple(parts)


def list_slices(folder: Path, limits: Limits = DEFAULT_LIMITS) -> list[Path]:
    """Return the image files of a folder in natural order.

    Parameters
    ----------
    folder : pathlib.Path
        The folder.
    limits : Limits, optional
        ``max_frames`` bounds the number of slices.

    Returns
    -------
    list of pathlib.Path
        Its non-hidden files with an image extension, naturally sorted.

    Raises
    ------
    SignalReadError
        The folder cannot be listed, holds no image, or holds an entry with an image
        extension that is not a regular file (a FIFO, a device, a socket, a folder, a
        broken link): every slice is read, so none may block or never end.
    LimitError
        More slices than ``limits.max_frames``.
    """
    names: list[str] = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith(".") or Path(e.name).suffix.lower() not in SLICE_READ_EXT:
                    continue
                try:
                    mode = e.stat().st_mode  # follows symlinks
                except OSError as exc:
                    raise SignalReadError(
                        f"{folder}: slice {e.name}: cannot read: {exc.strerror}"
                    ) from None
                if not stat.S_ISREG(mode):
                    raise SignalReadError(
                        f"{folder}: slice {e.name} is {what_is(mode)}, not a regular file"
                    )
                names.append(e.name)
    except SignalReadError:
        raise
    except OSError as exc:
        raise SignalReadError(f"{folder}: cannot list the folder: {exc.strerror}") from exc
    if not names:
        exts = " ".join(sorted(SLICE_READ_EXT))
        raise SignalReadError(f"{folder}: the folder holds no image slices ({exts})")
    if limits.max_frames is not None and len(names) > limits.max_frames:
        raise over_limit(
            f"{folder}: {len(names)} slices, more than the limit of {limits.max_frames}",
            "max_frames",
        )
    return [Path(folder, n) for n in sorted(names, key=natural_key)]


def _describe(s: Signal) -> str:
    rows, cols = s.data.shape[:2]
    return f"{rows}x{cols} (rows x cols) {s.form.mode} {s.data.dtype}"


def read_folder(path: Path, kind: str, gray: bool, *, limits: Limits = DEFAULT_LIMITS) -> Signal:
    """Load a folder of slices as a volume (or its first slice as an image).

    Parameters
    ----------
    path : pathlib.Path
        The folder.
    kind : str
        ``"auto"``/``"volume"``, ``"image"`` (the first slice) or ``"array"``.
    gray : bool
        Convert to one channel.
    limits : Limits, optional
        The budgets: slices (``max_frames``), pixels per slice and of the whole volume,
        checked from the headers before the slices are decoded.

    Returns
    -------
    Signal
        ``(planes, rows, cols[, C])``.

    Raises
    ------
    SignalReadError
        No slices, an entry that is not a regular file, an unreadable slice, or a slice
        whose size or mode differs from the first (the message names it and says how).
    LimitError
        A volume larger than ``limits`` allows.
    """
    files = list_slices(path, limits)
    if kind == "image":
        return read_image(files[0], "image", gray, limits=limits)
    header = probe_image(files[0], limits=limits)
    shape = header["shape"][1:] if header["kind"] == "volume" else header["shape"]
    limits.check_planes(path, len(files), shape[0], shape[1])
    slices: list[Signal] = []
    for f in files:
        s = read_image(f, "image", False, limits=limits)
        if slices:
            first = slices[0]
            if s.data.shape != first.data.shape or s.form.mode != first.form.mode:
                raise SignalReadError(
                    f"{f}: slice is {_describe(s)} but {files[0].name} is {_describe(first)}; "
                    f"every slice of a folder must have the same size and mode"
                )
        slices.append(s)
    data = np.stack([s.data for s in slices])
    channel_axis: int | None = 3 if data.ndim == 4 else None
    if gray:
        data = to_gray(data, channel_axis, path)
        channel_axis = None
    head = slices[0].form
    form = Form(
        container="folder",
        format=head.format,
        mode=head.mode,
        bits=head.bits,
        dtype=data.dtype.name,
        slice_names=[f.name for f in files],
        info=dict(head.info),
    )
    if kind == "array":
        return Signal(data, "array", None, source=path, form=form)
    return Signal(data, "volume", channel_axis, source=path, form=form)


def probe_folder(path: Path, *, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Describe a folder of slices from its first slice's header and the slice count.

    Parameters
    ----------
    path : pathlib.Path
        The folder.
    limits : Limits, optional
        The budgets, as :func:`read_folder` applies them.

    Returns
    -------
    dict
        As :func:`convcli.io.probe`, with ``container`` ``"folder"`` and ``planes``.

    Raises
    ------
    SignalReadError
        No slices, or the first cannot be read.
    LimitError
        A volume larger than ``limits`` allows.
    """
    files = list_slices(path, limits)
    head = probe_image(files[0], limits=limits)
    shape = head["shape"][1:] if head["kind"] == "volume" else head["shape"]
    limits.check_planes(path, len(files), shape[0], shape[1])
    return {
        **head,
        "kind": "volume",
        "container": "folder",
        "shape": [len(files), *shape],
        "planes": len(files),
    }


def slice_names(form: Form, count: int, fmt: str) -> list[str]:
    """Name the slices of a folder output.

    Parameters
    ----------
    form : Form
        The input's form (its slice names, when it was a folder).
    count : int
        Number of planes to write.
    fmt : str
        The slice format (its extension is used unless an input name already names it).

    Returns
    -------
    list of str
        ``count`` distinct file names.

    Examples
    --------
    >>> slice_names(Form(), 2, "PNG")
    ['slice_0000.png', 'slice_0001.png']
    >>> slice_names(Form(container="folder", slice_names=["s8.png", "s9.png"]), 3, "PNG")
    ['s8.png', 's9.png', 's10.png']
    >>> slice_names(Form(container="folder", slice_names=["a_01.tif", "a_02.tif"]), 2, "PNG")
    ['a_01.png', 'a_02.png']
    """
    names = form.slice_names if form.container == "folder" else []
    ext = registry.family("image").write_format(fmt).extensions[0]
    if names and image_format_of(names[0]) == fmt:
        ext = Path(names[0]).suffix
    out: list[str] = []
    if names and len(names) == count:
        out = [Path(n).stem + ext for n in names]
    elif names:
        stem = Path(names[0]).stem
        match = re.match(r"^(.*?)(\d+)(\D*)$", stem)
        if match:
            prefix, digits, suffix = match.groups()
            width = len(digits) if digits.startswith("0") and len(digits) > 1 else 1
            start = int(digits)
            out = [f"{prefix}{start + i:0{width}d}{suffix}{ext}" for i in range(count)]
        else:
            out = [f"{stem}_{i:04d}{ext}" for i in range(count)]
    if len(set(out)) != count:
        width = max(4, len(str(count - 1)))
        out = [f"slice_{i:0{width}d}{ext}" for i in range(count)]
    return out


def slice_format(signal: Signal, dtype: np.dtype, path: os.PathLike[str] | str) -> str:
    """Return the image format of the slices of a folder output.

    The input's slice format when the volume came as a folder and that format holds the
    dtype; else PNG when it holds it; else TIFF.

    Parameters
    ----------
    signal : Signal
        The volume.
    dtype : numpy.dtype
        The output dtype.
    path : str or os.PathLike
        The output folder, named in a message.

    Returns
    -------
    str
        An image format name.

    Raises
    ------
    UnsupportedError
        No slice format holds the dtype with that many channels.
    """
    name = np.dtype(dtype).name
    channels = signal.channels
    candidates = ["PNG", "TIFF"]
    if signal.form.container == "folder" and signal.form.slice_names:
        first = image_format_of(signal.form.slice_names[0])
        if first is not None:
            candidates.insert(0, first)
    for fmt in candidates:
        if name in image_dtypes(fmt, channels):
            return fmt
    raise UnsupportedError(
        f"{path}: no slice format holds {depth_name(name)} {layout_name(channels)} (PNG holds "
        f"{describe_holds('PNG', False)}; TIFF holds {describe_holds('TIFF', False)}); "
        f"write .npy"
    )


# ----------------------------------------------------------------------------- the registry's


def load(path: Path, fmt: str | None, kind: str, gray: bool, limits: Limits) -> Signal:
    """Load a folder of slices as a volume, an image (its first slice) or an array."""
    if kind in ("audio", "series"):
        what = "audio" if kind == "audio" else "a series"
        raise SignalReadError(f"{path}: a folder of slices cannot be read as {what}")
    return read_folder(path, kind, gray, limits=limits)


def probe(path: Path, fmt: str | None, limits: Limits) -> dict[str, Any]:
    """Describe a folder of slices (:func:`probe_folder`)."""
    return probe_folder(path, limits=limits)


def target(signal: Signal, path: Path, fmt: Any = None) -> registry.Target:
    """Write a volume to a folder of slices (a path with no extension, or a folder).

    Raises
    ------
    SignalWriteError
        The path is a folder and the signal is not a volume.
    UnsupportedError
        The path has no extension and the signal is not a volume.
    """
    kind = signal.kind
    if kind == "volume":
        return registry.Target(path, "folder", None)
    if path.is_dir():
        raise SignalWriteError(
            f"{path}: is a directory; a {kind} is written to a file: give a file name"
        )
    raise UnsupportedError(
        f"{path}: has no extension, so its format is unknown; only a volume is written to a "
        f"folder of slices; add one of {' '.join(registry.write_extensions())}"
    )


def output_dtype(signal: Signal, target: registry.Target, want: np.dtype | None) -> np.dtype:
    """Keep the stored dtype (or ``want``) if a slice format holds it."""
    dtype = want if want is not None else stored_dtype(signal)
    slice_format(signal, dtype, target.path)
    return dtype


def save(
    signal: Signal,
    data: np.ndarray,
    target: registry.Target,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
) -> None:
    """Write a volume's planes as image files in a new folder, renamed into place."""
    out = target.path
    fmt = slice_format(signal, data.dtype, out)
    channels = 1 if data.ndim == 3 else int(data.shape[3])
    check_image(fmt, data.dtype, channels, out)
    names = slice_names(signal.form, len(data), fmt)
    with atomic_folder(out, overwrite=overwrite, protect=protect) as tmp:
        for name, plane in zip(names, data):
            with write_new(tmp / name) as fh:
                pillow_image.write_image(fh, plane, fmt, signal.form, threads=threads)
