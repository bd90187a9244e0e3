"""Writing a kernel to a file that :func:`convcli.kernels.read_kernel_file` reads back.

- ``.txt`` and ``.csv``: one row per line (numbers split by a space, or a comma for ``.csv``),
  a blank line between the planes of a 3-D kernel.  Values are written with ``repr``, the
  shortest text that reads back to the same float64, so a round trip is exact.  Text has no
  way to say "2-D, one row": such a kernel reads back with its leading size-1 axes dropped,
  which :func:`convcli.make_kernel` restores for a signal of that many axes.
- ``.npy``: float64, shape kept.
- ``.json``: ``{"kernel": nested list}``, shape kept.
- ``.mat``: a libvips matrix (``W H 1 0``, then the rows), 1-D or 2-D.  libvips puts tap
  ``k // 2`` of each axis on the output sample, convcli's ``same`` tap ``(k - 1) // 2``: an
  axis of even size is written with a zero tap before it, so that libvips and convcli
  correlate with the file as convcli does with the kernel (the values read back are the
  kernel with that zero; ``--flip`` reverses an even kernel about its middle, so flipped
  results differ by a shift).
- Audio (``.wav``, ``.aiff``, ``.aif``): a 1-D kernel as one channel of 64-bit float samples at
  ``rate`` Hz, stored exactly.  FLAC and Ogg cannot hold float64 values, and are refused.

Every file is written atomically (:func:`convcli.io.atomic.atomic_file`).
"""

from __future__ import annotations

import json
import os

import numpy as np
from numpy.typing import ArrayLike

from convcli.errors import KernelSpecError, Param

__all__ = ["WRITE_EXTENSIONS", "write_kernel_file"]

#: The extensions :func:`write_kernel_file` writes.
WRITE_EXTENSIONS = (".txt", ".csv", ".npy", ".json", ".mat", ".wav", ".aiff", ".aif")
_AUDIO_FORMATS = {".wav": "WAV", ".aiff": "AIFF", ".aif": "AIFF"}


def _text(kernel: np.ndarray, sep: str) -> str:
    array = kernel.reshape((1,) * (3 - kernel.ndim) + kernel.shape) if kernel.ndim < 3 else kernel
    planes = ["\n".join(sep.join(repr(float(v)) for v in row) for row in plane) for plane in array]
    return "\n\n".join(planes) + "\n"


def _mat(kernel: np.ndarray) -> str:
    array = kernel.reshape(1, -1) if kernel.ndim == 1 else kernel
    pads = [(1, 0) if n % 2 == 0 and n > 1 else (0, 0) for n in array.shape]
    array = np.pad(array, pads)
    rows, cols = array.shape
    body = "\n".join(" ".join(repr(float(v)) for v in row) for row in array)
    return f"{cols} {rows} 1 0\n{body}\n"


def write_kernel_file(
    kernel: ArrayLike, path: str, *, rate: float | None = None, overwrite: bool = False
) -> None:
    r"""Write a kernel to ``path`` in the format its extension names.

    Parameters
    ----------
    kernel : array_like
        The kernel: finite numbers, 1-D to 3-D (``.mat``: 1-D or 2-D; audio: 1-D).
    path : str
        The output file: ``.txt``, ``.csv``, ``.npy``, ``.json``, ``.mat``, ``.wav``,
        ``.aiff`` or ``.aif``.
    rate : float, optional
        The sample rate in Hz of an audio file (required for one; a whole number).
    overwrite : bool, optional
        Replace an existing file.

    Raises
    ------
    KernelSpecError
        An extension not written, a kernel the format cannot hold, or no ``rate`` for audio.
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile
    >>> from convcli.kernels import read_kernel_file
    >>> path = os.path.join(tempfile.mkdtemp(), "k.csv")
    >>> write_kernel_file([[0.1, 0.2], [0.3, 0.4]], path)
    >>> open(path).read()
    '0.1,0.2\n0.3,0.4\n'
    >>> read_kernel_file(path).tolist()
    [[0.1, 0.2], [0.3, 0.4]]
    """
    from convcli.io.atomic import atomic_file

    array = np.asarray(kernel, dtype=np.float64)
    array = array.reshape(1) if array.ndim == 0 else array
    ext = os.path.splitext(path)[1].lower()
    if ext not in WRITE_EXTENSIONS:
        raise KernelSpecError(
            f"{path}: cannot write a kernel as {ext or 'a file without an extension'}; use "
            f"{', '.join(WRITE_EXTENSIONS)}"
        )
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise KernelSpecError(f"{path}: a kernel must be non-empty and finite")
    limit = {".mat": 2, ".wav": 1, ".aiff": 1, ".aif": 1}.get(ext, 3)
    if array.ndim > limit:
        raise KernelSpecError(
            f"{path}: a {ext} kernel file holds {limit}-D kernels at most; "
            f"this one is {array.ndim}-D"
        )
    if ext in _AUDIO_FORMATS:
        if rate is None or not (rate > 0 and float(rate).is_integer()):
            need = Param("rate")
            raise KernelSpecError(
                f"{path}: an audio kernel needs {need}, a whole number of Hz", params=[need]
            )
        _write_audio(array, path, int(rate), _AUDIO_FORMATS[ext], overwrite)
        return
    if ext == ".npy":
        with atomic_file(path, overwrite=overwrite) as fh:
            np.save(fh, array, allow_pickle=False)
        return
    if ext == ".json":
        text = json.dumps({"kernel": array.tolist()}) + "\n"
    elif ext == ".mat":
        text = _mat(array)
    else:
        text = _text(array, "," if ext == ".csv" else " ")
    with atomic_file(path, overwrite=overwrite) as fh:
        fh.write(text.encode("utf-8"))


def _write_audio(array: np.ndarray, path: str, rate: int, fmt: str, overwrite: bool) -> None:
    import soundfile as sf

    from convcli.io.atomic import atomic_file

    with atomic_file(path, overwrite=overwrite) as fh:
        with sf.SoundFile(fh, "w", samplerate=rate, channels=1, subtype="DOUBLE", format=fmt) as f:
            f.write(array.reshape(-1, 1))
