"""Kernel files: text (``.txt``, ``.csv``), ``.npy``, ``.json`` and audio impulse responses.

- Text: UTF-8 (a byte-order mark is skipped); ``#`` starts a comment (whole line or trailing);
  numbers are split by spaces, tabs or single commas; one row per line; a blank line between
  planes.  One line gives a 1-D kernel, several lines 2-D, several planes 3-D.  Errors give
  ``path:line:column``.
- ``.npy``: loaded with ``allow_pickle=False``; bool, integer and float arrays only.
- ``.json``: a nested list of numbers, or an object ``{"kernel": nested list}``.
- Audio (``.wav .flac .ogg .aiff .aif``): an impulse response, read with soundfile as float64
  (integer samples scaled to [-1, 1) as soundfile does, otherwise used exactly as stored, never
  normalised): shape ``(taps,)`` for mono, ``(channels, taps)`` for several channels.

A file with any other extension (reachable only as ``@path``) is read as text.  Every
kernel must be non-empty and finite; anything else raises :class:`KernelSpecError`
naming the path.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convcli.errors import KernelSpecError
from convcli.kernels._numbers import NumberError, row_numbers

__all__ = [
    "TEXT_EXTENSIONS",
    "AUDIO_EXTENSIONS",
    "KERNEL_FILE_EXTENSIONS",
    "has_kernel_file_extension",
    "is_audio_file",
    "is_text_file",
    "read_kernel_file",
    "read_text_kernel",
    "read_npy_kernel",
    "read_json_kernel",
    "read_impulse_response",
]

Kernel = NDArray[np.float64]

TEXT_EXTENSIONS = (".txt", ".csv")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")
KERNEL_FILE_EXTENSIONS = TEXT_EXTENSIONS + (".npy", ".json") + AUDIO_EXTENSIONS


def _extension(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def has_kernel_file_extension(path: str) -> bool:
    """Whether ``path`` ends in one of :data:`KERNEL_FILE_EXTENSIONS` (any case)."""
    return _extension(path) in KERNEL_FILE_EXTENSIONS


def is_audio_file(path: str) -> bool:
    """Whether ``path`` ends in one of :data:`AUDIO_EXTENSIONS` (any case)."""
    return _extension(path) in AUDIO_EXTENSIONS


def is_text_file(path: str) -> bool:
    """Whether ``path`` ends in one of :data:`TEXT_EXTENSIONS` (any case)."""
    return _extension(path) in TEXT_EXTENSIONS


def read_kernel_file(path: str) -> Kernel:
    """Read a kernel file, choosing the reader by the extension.

    Parameters
    ----------
    path : str
        A ``.txt``, ``.csv``, ``.npy``, ``.json`` or audio file; any other extension (only
        reachable as ``@path``) is read as text.

    Returns
    -------
    numpy.ndarray
        float64, with the file's own number of axes (an audio file with several channels
        gives ``(channels, taps)``).

    Raises
    ------
    KernelSpecError
        When the file is missing or unreadable, or does not hold a valid kernel.
    """
    if not os.path.exists(path):
        raise KernelSpecError(f"kernel file {path!r} does not exist")
    if os.path.isdir(path):
        raise KernelSpecError(f"kernel file {path!r} is a directory")
    ext = _extension(path)
    if ext in TEXT_EXTENSIONS:
        return read_text_kernel(path)
    if ext == ".npy":
        return read_npy_kernel(path)
    if ext == ".json":
        return read_json_kernel(path)
    if ext in AUDIO_EXTENSIONS:
        return read_impulse_response(path)
    if ext == ".npz":
        raise KernelSpecError(f"{path}: an .npz archive is not a kernel file; save one .npy")
    return read_text_kernel(path)


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise KernelSpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KernelSpecError(
            f"{path}: not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x})"
        ) from None


def _check_finite(kernel: Kernel, path: str) -> Kernel:
    if kernel.size == 0:
        raise KernelSpecError(f"{path}: empty kernel (shape {kernel.shape})")
    bad = ~np.isfinite(kernel)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        what = "NaN" if np.isnan(kernel[index]) else "Inf"
        raise KernelSpecError(f"{path}: {what} at index {index}; a kernel must be finite")
    return kernel


def read_text_kernel(path: str) -> Kernel:
    """Read a ``.txt``/``.csv`` kernel: one row per line, a blank line between planes.

    Raises
    ------
    KernelSpecError
        With ``path:line:column`` for a token that is not a finite number and for ragged rows
        or planes; with the path for an empty kernel.
    """
    planes: list[list[tuple[int, int, list[float]]]] = [[]]
    for line_number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            if planes[-1]:
                planes.append([])
            continue
        content = line.split("#", 1)[0]
        if not content.strip():
            continue
        try:
            values = row_numbers(content)
        except NumberError as exc:
            raise KernelSpecError(f"{path}:{line_number}:{exc.column}: {exc.reason}") from None
        column = len(content) - len(content.lstrip()) + 1
        planes[-1].append((line_number, column, values))
    if not planes[-1]:
        planes.pop()
    if not planes:
        raise KernelSpecError(f"{path}: no numbers in the file (an empty kernel)")
    first_line, _, first_values = planes[0][0]
    for plane_number, plane in enumerate(planes, start=1):
        for line_number, column, values in plane:
            if len(values) != len(first_values):
                raise KernelSpecError(
                    f"{path}:{line_number}:{column}: row has {len(values)} number"
                    f"{'s' if len(values) != 1 else ''} but the row on line {first_line} has "
                    f"{len(first_values)}"
                )
        if len(plane) != len(planes[0]):
            line_number, column, _ = plane[0]
            raise KernelSpecError(
                f"{path}:{line_number}:{column}: plane {plane_number} has {len(plane)} rows "
                f"but plane 1 (line {first_line}) has {len(planes[0])}"
            )
    array = np.array([[row for _, _, row in plane] for plane in planes], dtype=np.float64)
    if len(planes) > 1:
        return array
    if len(planes[0]) > 1:
        return array[0]
    return array[0, 0]


def read_npy_kernel(path: str) -> Kernel:
    """Read a ``.npy`` kernel with ``allow_pickle=False``; numeric (not complex) dtypes only.

    Raises
    ------
    KernelSpecError
        For an object (pickled), complex, string or structured array, NaN, Inf or no values.
    """
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as exc:
        raise KernelSpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if magic != b"\x93NUMPY":
        what = "an .npz archive" if magic.startswith(b"PK") else "no NUMPY header"
        raise KernelSpecError(f"{path}: not a readable .npy file ({what})")
    try:
        loaded: np.ndarray[Any, Any] = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise KernelSpecError(
                f"{path}: holds Python objects (a pickled object array); refused: .npy "
                "kernels are read with allow_pickle=False"
            ) from None
        raise KernelSpecError(f"{path}: not a readable .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise KernelSpecError(f"{path}: not a readable .npy file ({exc})") from None
    kind = loaded.dtype.kind
    if kind == "c":
        raise KernelSpecError(f"{path}: complex values (dtype {loaded.dtype}); a kernel is real")
    if kind not in "biuf" or loaded.dtype.fields is not None:
        raise KernelSpecError(f"{path}: dtype {loaded.dtype} is not numeric")
    with np.errstate(over="ignore"):
        kernel = loaded.astype(np.float64)
    return _check_finite(kernel, path)


def read_json_kernel(path: str) -> Kernel:
    """Read a ``.json`` kernel: a nested list of numbers, or ``{"kernel": nested list}``.

    Raises
    ------
    KernelSpecError
        With ``path:line:column`` for invalid JSON; with the path and the index (``[1][0]``)
        for a value that is not a finite number, an empty list or ragged lists.
    """
    import json

    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KernelSpecError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    where = ""
    if isinstance(data, dict):
        if "kernel" not in data:
            raise KernelSpecError(
                f"{path}: a JSON object needs a 'kernel' key holding a nested list of numbers"
            )
        data, where = data["kernel"], "kernel"
    if not isinstance(data, list):
        raise KernelSpecError(
            f"{path}: {where or 'the file'} holds {_short(data)}, not a nested list of numbers"
        )
    try:
        shape = _json_shape(data, where, path)
    except RecursionError:
        raise KernelSpecError(f"{path}: lists nested too deeply") from None
    return np.array(data, dtype=np.float64).reshape(shape)


def _short(value: Any) -> str:
    import json

    text = json.dumps(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _json_shape(node: Any, where: str, path: str) -> tuple[int, ...]:
    if isinstance(node, list):
        if not node:
            raise KernelSpecError(f"{path}: {where or 'the kernel'} is an empty list")
        shapes = [_json_shape(child, f"{where}[{i}]", path) for i, child in enumerate(node)]
        for i, shape in enumerate(shapes[1:], start=1):
            if shape != shapes[0]:
                raise KernelSpecError(
                    f"{path}: ragged lists: {where}[{i}] has shape {shape} but {where}[0] has "
                    f"shape {shapes[0]}"
                )
        return (len(node),) + shapes[0]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise KernelSpecError(f"{path}: {where} is {_short(node)}, not a number")
    try:
        value = float(node)
    except OverflowError:
        value = float("inf")
    if not np.isfinite(value):
        raise KernelSpecError(f"{path}: {where} is {_short(node)}; a kernel must be finite")
    return ()


def read_impulse_response(path: str) -> Kernel:
    """Read an audio impulse response with soundfile: ``(taps,)`` or ``(channels, taps)``.

    The samples are used as stored (float64; soundfile scales integer formats to [-1, 1)):
    never normalised.

    Raises
    ------
    KernelSpecError
        When soundfile cannot read the file, it has no samples, or a sample is not finite.
    """
    import soundfile

    try:
        data, _rate = soundfile.read(path, dtype="float64", always_2d=True)
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        raise KernelSpecError(f"{path}: cannot read as audio: {exc}") from None
    if data.shape[0] == 0:
        raise KernelSpecError(f"{path}: the impulse response has no samples")
    kernel = data[:, 0].copy() if data.shape[1] == 1 else np.ascontiguousarray(data.T)
    return _check_finite(kernel, path)
