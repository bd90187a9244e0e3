"""Layer weights from files: ``.npy`` arrays and ``.npz`` archives, never pickles.

- ``.npy``: the weights, ``(F, *k)`` (one set of kernels for every input channel) or
  ``(F, C, *k)`` (PyTorch's ``Conv*d.weight`` layout: out channels, in channels, then the
  kernel's axes);
- ``.npz``: ``weight`` (as above) and optionally ``bias`` (``F`` values), as
  ``numpy.savez("w.npz", weight=conv.weight.detach().numpy(), bias=conv.bias.detach().numpy())``
  writes them.

Files are read with ``allow_pickle=False``: an array of Python objects is refused, never
unpickled.  Which of the two layouts a file holds is decided against the input
(:func:`check_weights`): ``k`` has one axis per spatial axis of the signal.

Examples
--------
>>> import os, tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     path = os.path.join(d, "w.npz")
...     np.savez(path, weight=np.ones((4, 3, 5, 5), np.float32), bias=np.zeros(4))
...     layer = load_weights(path)
>>> layer.weight.shape, layer.bias.shape
((4, 3, 5, 5), (4,))
>>> check_weights(layer, spatial_ndim=2, channels=3)
'full'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convcli.errors import KernelSpecError, Param, SignalReadError

__all__ = ["LayerWeights", "load_weights", "check_weights", "WEIGHT_KEYS"]

#: The arrays an ``.npz`` may hold: ``weight`` (required) and ``bias`` (optional).
WEIGHT_KEYS = ("weight", "bias")

_SAVE_HINT = (
    "save the weights with numpy: np.save('w.npy', conv.weight.detach().numpy()), or "
    "np.savez('w.npz', weight=..., bias=...)"
)


@dataclass(frozen=True)
class LayerWeights:
    """A layer's weights as read from a file.

    Attributes
    ----------
    weight : ndarray
        float64, ``(F, *k)`` or ``(F, C, *k)``, finite.
    bias : ndarray or None
        float64, ``(F,)``, finite; None when the file has none.
    path : str
        Where they were read from.
    dtype : str
        The stored dtype of ``weight``.
    """

    weight: np.ndarray
    bias: np.ndarray | None
    path: str
    dtype: str

    @property
    def maps(self) -> int:
        """The number of filters ``F``."""
        return int(self.weight.shape[0])


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape) or "scalar"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _numeric(arr: Any, what: str) -> np.ndarray:
    """Check a loaded array (real, numeric, finite, non-empty); return it as float64."""
    a = np.asarray(arr)
    if a.dtype.kind == "c":
        raise KernelSpecError(f"{what} is complex ({a.dtype}); weights are real numbers")
    if a.dtype.kind not in "biuf" or a.dtype.fields is not None:
        raise KernelSpecError(f"{what} has dtype {a.dtype}, not numbers")
    if a.size == 0:
        raise KernelSpecError(f"{what} is empty (shape {_shape(a.shape)})")
    out = a.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        word = "NaN" if np.isnan(out[index]) else "Inf"
        count = int(np.count_nonzero(bad))
        more = f" (and {count - 1} more)" if count > 1 else ""
        raise KernelSpecError(
            f"{what} holds {word} at index {index}{more}; weights must be finite numbers"
        )
    return out


def _unreadable(exc: BaseException, what: str) -> KernelSpecError:
    """Say in one line why numpy or zipfile could not read a weights file.

    A damaged file makes them raise many things: ValueError and EOFError (a cut array),
    tokenize.TokenError (a mangled version-1 ``.npy`` header), zipfile.BadZipFile (a member
    whose CRC-32 does not match), zlib.error (a broken deflate stream), NotImplementedError
    (a member's compression method flipped to an unknown one).  Every one is this error.
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, ValueError) and "pickle" in text.lower():
        return KernelSpecError(
            "holds Python objects (a pickled array); convcli reads numeric arrays only "
            f"and never unpickles: {_SAVE_HINT}"
        )
    return KernelSpecError(f"{what}: {text}")


def _load_npy(path: Path) -> np.ndarray:
    from convcli.io.limits import open_regular
    from convcli.io.npy import header_fields, read_array

    try:
        with open_regular(path) as fh:
            shape, _fortran, dtype = header_fields(fh)
            claimed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            held = os.fstat(fh.fileno()).st_size - fh.tell()
            if not dtype.hasobject and claimed > held:  # before anything is allocated
                raise KernelSpecError(
                    f"is truncated: the header says {_shape(tuple(shape))} {dtype} "
                    f"({claimed} bytes of data) but the file holds {max(held, 0)}"
                )
            fh.seek(0)
            return read_array(fh)
    except (KernelSpecError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - said, never swallowed (see _unreadable)
        raise _unreadable(exc, "is not a readable .npy array") from None


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    from convcli.io.npy import archive_names, read_archive

    try:
        names = archive_names(path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - said, never swallowed (see _unreadable)
        raise _unreadable(exc, "is not a readable .npz archive") from None
    if any(n.endswith("data.pkl") for n in names):
        raise KernelSpecError(
            "is a PyTorch checkpoint (torch.save), which holds pickles convcli never loads: "
            + _SAVE_HINT
        )
    try:
        archive = read_archive(path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - said, never swallowed (see _unreadable)
        raise _unreadable(exc, "is not a readable .npz archive") from None
    with archive:
        keys = list(archive.files)
        if "weight" not in keys:
            held = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "") or "nothing"
            raise KernelSpecError(
                f"has no 'weight' array (it holds: {held}); write it with "
                "np.savez('w.npz', weight=..., bias=...)"
            )
        try:
            weight = archive["weight"]
            bias = archive["bias"] if "bias" in keys else None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - read in full, so a member's CRC-32 is checked
            raise _unreadable(exc, "cannot read an array") from None
    return weight, bias


def load_weights(path: str | os.PathLike[str]) -> LayerWeights:
    """Read a layer's weights (and bias) from ``.npy`` or ``.npz``.

    The format is decided by the file's content (``.npy`` magic, or a zip archive), not its
    extension.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    LayerWeights

    Raises
    ------
    SignalReadError
        The file is missing or unreadable.
    KernelSpecError
        Not ``.npy``/``.npz``; a pickle or a PyTorch checkpoint; no ``weight`` in an
        ``.npz``; fewer than 2 axes; not real numbers; NaN or Inf; a bias that is not ``F``
        values.  Messages start with the problem; the CLI puts the file's name first.
    """
    from convcli.io.limits import read_head

    p = Path(path)
    if p.is_dir():
        raise SignalReadError(f"{p}: is a folder, not a weights file")
    head = read_head(p, 6)  # a regular file (never a FIFO), or one line why not
    if head.startswith(b"\x93NUMPY"):
        raw_weight, raw_bias = _load_npy(p), None
    elif head.startswith(b"PK"):
        raw_weight, raw_bias = _load_npz(p)
    else:
        raise KernelSpecError(f"is not a .npy array or a .npz archive: {_SAVE_HINT}")
    stored = str(np.asarray(raw_weight).dtype)
    weight = _numeric(raw_weight, "the weights")
    if weight.ndim < 2:
        raise KernelSpecError(
            f"the weights have {weight.ndim} axis (shape {_shape(weight.shape)}); a bank is "
            "(F, *k) or (F, C, *k): the first axis counts the filters"
        )
    bias = None
    if raw_bias is not None:
        bias = _numeric(raw_bias, "the bias").reshape(-1)
        if np.ndim(raw_bias) > 1 or bias.shape[0] != weight.shape[0]:
            raise KernelSpecError(
                f"the bias has shape {_shape(np.shape(raw_bias))} but the weights have "
                f"{weight.shape[0]} filters (shape {_shape(weight.shape)}); give one bias per "
                "filter"
            )
    return LayerWeights(weight, bias, str(p), stored)


def check_weights(layer: LayerWeights, spatial_ndim: int, channels: int) -> str:
    """Check weights against an input; return ``"shared"`` (``(F, *k)``) or ``"full"``.

    Parameters
    ----------
    layer : LayerWeights
        The weights.
    spatial_ndim : int
        The input's spatial axes (1 audio, 2 image, 3 volume).
    channels : int
        The input's channels.

    Returns
    -------
    str
        ``"shared"``: one kernel set applied to every channel and summed; ``"full"``:
        ``(F, C, *k)`` with ``C == channels``.

    Raises
    ------
    KernelSpecError
        The number of axes fits neither layout, or ``C`` differs from ``channels`` (the
        message names both numbers).

    Examples
    --------
    >>> layer = LayerWeights(np.ones((8, 3, 3, 3)), None, "w.npy", "float32")
    >>> check_weights(layer, 3, 1)
    'shared'
    >>> check_weights(layer, 2, 1)
    Traceback (most recent call last):
    ...
    convcli.errors.KernelSpecError: the weights have 3 input channels (shape 8x3x3x3) but the ...
    """
    w = layer.weight
    nd = int(spatial_ndim)
    if w.ndim == nd + 1:
        return "shared"
    if w.ndim == nd + 2:
        if w.shape[1] != channels:
            hint = ""
            params: list[Param] = []
            if w.shape[1] == 1 and channels > 1:
                gray = Param("gray", True)
                params.append(gray)
                hint = (
                    f"; use {gray} for one channel, or save the weights as (F, *k) to apply "
                    "them to each channel and sum"
                )
            elif w.shape[1] == 3 and channels == 1:
                hint = "; the weights want a colour (RGB) image"
            elif w.shape[1] == 3 and channels == 4:
                hint = "; drop the alpha channel first"
            raise KernelSpecError(
                f"the weights have {_count(w.shape[1], 'input channel')} (shape "
                f"{_shape(w.shape)}) but the input has {_count(channels, 'channel')}{hint}",
                params=params,
            )
        return "full"
    raise KernelSpecError(
        f"the weights have {w.ndim} axes (shape {_shape(w.shape)}) but a {nd}-D input takes "
        f"(F, *k) with {nd + 1} axes or (F, C, *k) with {nd + 2}"
    )
