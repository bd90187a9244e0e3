"""Kernel files: text (``.txt``, ``.csv``), ``.npy``, ``.json`` and audio impulse responses.

- Text: UTF-8 (a byte-order mark is skipped); ``#`` starts a comment (whole line or trailing);
  numbers are split by spaces, tabs or single commas; one row per line; a blank line between
  planes.  One line gives a 1-D kernel, several lines 2-D, several planes 3-D.  Errors give
  ``path:line:column``.
- ``.npy``: loaded with ``allow_pickle=False``; bool, integer and float arrays only.
- ``.json``: a nested list of numbers, or an object ``{"kernel": nested list}``.
- ``.mat``: a libvips matrix file (:func:`read_vips_matrix`): a header line ``W H [scale
  [offset]]``, then ``H`` rows of ``W`` numbers; the values are divided by ``scale``; a
  non-zero ``offset`` (which libvips adds to the result) is refused here, naming ``--bias``.
- Audio (``.wav .flac .ogg .aiff .aif``): an impulse response, read with soundfile as float64
  (integer samples scaled to [-1, 1) as soundfile does, otherwise used exactly as stored, never
  normalised): shape ``(taps,)`` for mono, ``(channels, taps)`` for several channels.

A file with any other extension (reachable only as ``@path``) is read as text.  Every
kernel must be non-empty and finite; anything else raises :class:`KernelSpecError`
naming the path.

Limits: only regular files are read (a FIFO or a device is refused, never waited on); a text
or JSON kernel file holds at most :data:`MAX_TEXT_BYTES` (64 MiB: some 6 million taps; save a
larger kernel as ``.npy``); a kernel file of any kind holds at most :data:`MAX_FILE_TAPS`
taps (64 Mi), checked from the ``.npy`` or audio header before anything is read.  The run's
own ``--max-taps`` (:data:`convcli.jobs.budget.MAX_TAPS`) is usually lower, and is checked with
:func:`kernel_file_taps` before the kernel is read.
"""

from __future__ import annotations

import math
import os
import re
import stat
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from convcli.errors import KernelSpecError, Param, SignalReadError
from convcli.kernels._numbers import NumberError, row_numbers

__all__ = [
    "MAX_TEXT_BYTES",
    "MAX_FILE_TAPS",
    "kernel_file_taps",
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
    "VipsMatrix",
    "read_vips_matrix",
    "impulse_response_rate",
]

Kernel = NDArray[np.float64]

TEXT_EXTENSIONS = (".txt", ".csv")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")
KERNEL_FILE_EXTENSIONS = TEXT_EXTENSIONS + (".npy", ".json", ".mat") + AUDIO_EXTENSIONS

#: Largest text or JSON kernel file read, in bytes.
MAX_TEXT_BYTES = 64 << 20
#: Most taps a kernel file may hold.
MAX_FILE_TAPS = 1 << 26

_LINES = re.compile(r"\r\n|\r|\n")
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _regular(path: str) -> os.stat_result:
    """Return the status of a kernel file that is a regular file (symlinks followed)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise KernelSpecError(f"kernel file {path!r} does not exist") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise KernelSpecError(f"{path}: cannot read: {reason}") from None
    if stat.S_ISDIR(st.st_mode):
        raise KernelSpecError(f"kernel file {path!r} is a directory")
    if not stat.S_ISREG(st.st_mode):
        what = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise KernelSpecError(f"kernel file {path!r} is {what}, not a regular file")
    return st


def _too_many(path: str, taps: int) -> KernelSpecError:
    return KernelSpecError(
        f"{path}: {taps} taps, more than the {MAX_FILE_TAPS} a kernel file may hold"
    )


def kernel_file_taps(path: str) -> int | None:
    """Return the number of taps a kernel file holds, from its header, if it has one.

    Parameters
    ----------
    path : str
        A kernel file.

    Returns
    -------
    int or None
        For ``.npy``: the product of its shape; for audio: frames x channels; None for
        text and JSON (bounded by :data:`MAX_TEXT_BYTES`) and when the header cannot be
        read (reading the kernel then says why).
    """
    from convcli.io.limits import open_regular
    from convcli.io.sndfile_audio import raw_info

    ext = _extension(path)
    try:
        if ext == ".npy":
            _regular(path)
            with open_regular(path) as handle:
                shape, _dtype = _npy_header(handle, path)
            return math.prod(shape)
        if ext in AUDIO_EXTENSIONS:
            _regular(path)
            info = raw_info(path)
            return int(info.frames) * int(info.channels)
    except (KernelSpecError, OSError, RuntimeError, ValueError, TypeError):
        return None
    return None


def _npy_header(handle: Any, path: str) -> tuple[tuple[int, ...], np.dtype]:
    """Read and check a ``.npy`` kernel's header: numeric, within the file and the limit."""
    from convcli.io.npy import header_fields

    try:
        shape, _fortran, dtype = header_fields(handle)
    except Exception as exc:
        raise KernelSpecError(f"{path}: not a readable .npy file ({exc})") from None
    if dtype.hasobject:
        raise KernelSpecError(
            f"{path}: holds Python objects (a pickled object array); refused: .npy "
            "kernels are read with allow_pickle=False"
        )
    if any(n < 0 for n in shape):
        raise KernelSpecError(f"{path}: not a readable .npy file (shape {shape})")
    taps = math.prod(shape)
    if taps > MAX_FILE_TAPS:
        raise _too_many(path, taps)
    size = os.fstat(handle.fileno()).st_size
    if handle.tell() + taps * dtype.itemsize > size:
        raise KernelSpecError(
            f"{path}: truncated: the header says {taps} values of {dtype} but the file is "
            f"{size} bytes"
        )
    return tuple(int(n) for n in shape), dtype


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
    _regular(path)
    ext = _extension(path)
    if ext in TEXT_EXTENSIONS:
        return read_text_kernel(path)
    if ext == ".npy":
        return read_npy_kernel(path)
    if ext == ".json":
        return read_json_kernel(path)
    if ext in AUDIO_EXTENSIONS:
        return read_impulse_response(path)
    if ext == ".mat":
        return _vips_kernel(path)
    if ext == ".npz":
        raise KernelSpecError(f"{path}: an .npz archive is not a kernel file; save one .npy")
    return read_text_kernel(path)


def _read_text(path: str) -> str:
    from convcli.io.limits import read_head

    size = _regular(path).st_size
    if size > MAX_TEXT_BYTES:
        raise KernelSpecError(
            f"{path}: {size} bytes, more than the {MAX_TEXT_BYTES} a text or JSON kernel file "
            f"may have; save a large kernel as .npy"
        )
    try:
        raw = read_head(path, MAX_TEXT_BYTES + 1)
    except SignalReadError as exc:
        raise KernelSpecError(str(exc)) from None
    if len(raw) > MAX_TEXT_BYTES:
        raise KernelSpecError(
            f"{path}: more than the {MAX_TEXT_BYTES} bytes a kernel file may have"
        )
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
    for line_number, line in enumerate(_LINES.split(_read_text(path)), start=1):
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
    from convcli.io.limits import open_regular
    from convcli.io.npy import read_array

    _regular(path)
    try:
        with open_regular(path) as handle:
            magic = handle.read(6)
            if magic != b"\x93NUMPY":
                what = "an .npz archive" if magic.startswith(b"PK") else "no NUMPY header"
                raise KernelSpecError(f"{path}: not a readable .npy file ({what})")
            handle.seek(0)
            _npy_header(handle, path)
            handle.seek(0)
            loaded: np.ndarray[Any, Any] = read_array(handle)
    except KernelSpecError:
        raise
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
    except (ValueError, RecursionError) as exc:  # an integer of too many digits; deep nesting
        reason = "lists nested too deeply" if isinstance(exc, RecursionError) else exc
        raise KernelSpecError(f"{path}: invalid JSON: {reason}") from None
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
    from convcli.io.sndfile_audio import claimed_frames, open_raw, readable

    _regular(path)
    try:
        with open_raw(path) as sound:
            formats, subtypes = readable()
            if sound.format not in formats or sound.subtype not in subtypes:
                raise KernelSpecError(
                    f"{path}: {sound.format} {sound.subtype} audio is not read; impulse "
                    f"responses are WAV, FLAC, OGG or AIFF in PCM or float"
                )
            frames = int(sound.frames)
            taps = frames * int(sound.channels)
            if taps > MAX_FILE_TAPS:
                raise _too_many(path, taps)
            # libsndfile reads what is there of a WAV or AIFF shorter than its header says:
            # a cut impulse response is refused, as a cut input is (convcli.io.sndfile_audio)
            claim = claimed_frames(path)
            data = sound.read(dtype="float64", always_2d=True)
            held = int(data.shape[0])
            if (claim is not None and claim > frames) or held < frames:
                raise KernelSpecError(
                    f"{path}: truncated: the header says {max(claim or 0, frames)} frames but "
                    f"the file holds {min(held, frames)}"
                )
    except KernelSpecError:
        raise
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        text = re.sub(r"^Error opening .*?: (?=[A-Z])", "", " ".join(str(exc).split()))
        raise KernelSpecError(f"{path}: cannot read as audio: {text}") from None
    if data.shape[0] == 0:
        raise KernelSpecError(f"{path}: the impulse response has no samples")
    kernel = data[:, 0].copy() if data.shape[1] == 1 else np.ascontiguousarray(data.T)
    return _check_finite(kernel, path)


class VipsMatrix(NamedTuple):
    """A libvips matrix file: the values as stored, their ``scale`` and ``offset``.

    libvips convolves with ``values`` and computes ``sum / scale + offset``.
    """

    values: Kernel
    scale: float
    offset: float

    def kernel(self) -> Kernel:
        """Return ``values / scale``, placed as libvips places it (see :func:`read_vips_matrix`)."""
        from convcli.kernels._origin import centre_origin

        rows, cols = self.values.shape
        return centre_origin(self.values / self.scale, (rows // 2, cols // 2))


_VIPS_TOKEN = re.compile(r'[^ \t\r\n,"]+')


def _vips_numbers(line: str, path: str, line_number: int) -> list[tuple[float, int]]:
    """Split a libvips matrix line (spaces, tabs, commas, quotes) into numbers and columns."""
    from convcli.kernels._numbers import NumberError, to_float

    out = []
    for match in _VIPS_TOKEN.finditer(line):
        try:
            out.append((to_float(match.group()), match.start() + 1))
        except NumberError as exc:
            raise KernelSpecError(
                f"{path}:{line_number}:{match.start() + 1}: {exc.reason}"
            ) from None
    return out


def read_vips_matrix(path: str) -> VipsMatrix:
    r"""Read a libvips matrix file (``vips_matrixload``'s ``.mat``).

    The first line holds ``width height [scale [offset]]`` (scale 1 and offset 0 when
    omitted; scale must not be 0); then ``height`` lines of ``width`` numbers, split by any
    mix of spaces, tabs, commas and double quotes, ``.`` as the decimal point.  Blank lines
    are skipped.  Stricter than libvips, which ignores what follows: a row with more numbers
    than the width, or a line after the last row, is an error.

    libvips correlates (``sum(pixel[i] * mask[i]) / scale + offset``) with tap
    ``(width // 2, height // 2)`` on each pixel and pads by copying the edge (convcli's
    ``replicate``).  :meth:`VipsMatrix.kernel` places an even-sized matrix so that the same
    tap sits on each sample under ``padding="same"`` (a zero row or column after it).

    Raises
    ------
    KernelSpecError
        With ``path:line:column``: a bad header, a token that is not a number, a row of the
        wrong length, too few or too many rows.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "blur.mat")
    >>> with open(path, "w") as f:
    ...     _ = f.write("3 3 16 0\n1 2 1\n2 4 2\n1 2 1\n")
    >>> m = read_vips_matrix(path)
    >>> m.scale, m.offset, m.kernel()[1].tolist()
    (16.0, 0.0, [0.125, 0.25, 0.125])
    """
    from convcli.io.limits import read_head

    _regular(path)
    try:
        magic = read_head(path, 19)
    except SignalReadError as exc:
        raise KernelSpecError(str(exc)) from None
    if magic == b"MATLAB 5.0 MAT-file":
        raise KernelSpecError(
            f"{path}: a MATLAB .mat file, not a libvips matrix; save the kernel as .npy or text"
        )
    lines = [(n, line) for n, line in enumerate(_LINES.split(_read_text(path)), 1) if line.strip()]
    if not lines:
        raise KernelSpecError(f"{path}: empty: a libvips matrix starts with 'width height'")
    number, header = lines[0]
    head = _vips_numbers(header, path, number)
    if not 2 <= len(head) <= 4:
        raise KernelSpecError(
            f"{path}:{number}:1: the header is 'width height [scale [offset]]', "
            f"got {len(head)} numbers"
        )
    (width, wcol), (height, hcol) = head[0], head[1]
    for value, column, name in ((width, wcol, "width"), (height, hcol, "height")):
        if value != math.floor(value) or value < 1:
            raise KernelSpecError(
                f"{path}:{number}:{column}: {name} {value:g} is not a positive integer"
            )
    scale = head[2][0] if len(head) > 2 else 1.0
    offset = head[3][0] if len(head) > 3 else 0.0
    if scale == 0:
        raise KernelSpecError(f"{path}:{number}:{head[2][1]}: scale is 0; it divides the sum")
    cols, rows = int(width), int(height)
    if rows * cols > MAX_FILE_TAPS:
        raise _too_many(path, rows * cols)
    body = lines[1:]
    if len(body) < rows:
        where = f"{path}:{body[-1][0] if body else number}"
        raise KernelSpecError(f"{where}: the header says {rows} rows, the file has {len(body)}")
    if len(body) > rows:
        raise KernelSpecError(
            f"{path}:{body[rows][0]}:1: a line after the {rows} rows the header announces"
        )
    values = []
    for line_number, line in body:
        row = _vips_numbers(line, path, line_number)
        if len(row) != cols:
            column = row[cols][1] if len(row) > cols else len(line.rstrip()) + 1
            raise KernelSpecError(
                f"{path}:{line_number}:{column}: row has {len(row)} numbers but the header "
                f"says width {cols}"
            )
        values.append([v for v, _ in row])
    return VipsMatrix(np.array(values, dtype=np.float64), float(scale), float(offset))


def _vips_kernel(path: str) -> Kernel:
    matrix = read_vips_matrix(path)
    if matrix.offset != 0:
        bias = Param("bias", float(matrix.offset))
        raise KernelSpecError(
            f"{path}: offset {matrix.offset:g}, which libvips adds to the result; a convcli "
            f"kernel has no offset: set it to 0 in the file and give {bias}",
            params=[bias],
        )
    return matrix.kernel()


def impulse_response_rate(path: str) -> int:
    """Return the sample rate, in Hz, an audio impulse response file was recorded at.

    Raises
    ------
    KernelSpecError
        When soundfile cannot read the file's header.
    """
    from convcli.io.sndfile_audio import raw_info

    _regular(path)
    try:
        return int(raw_info(path).samplerate)
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        text = re.sub(r"^Error opening .*?: (?=[A-Z])", "", " ".join(str(exc).split()))
        raise KernelSpecError(f"{path}: cannot read as audio: {text}") from None
