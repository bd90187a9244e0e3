"""Reproducibility records (``filter --record``) and their check (``convcli verify``).

Beside each output ``OUT``, ``OUT.record.json`` holds::

    {"convcli_record": 1,
     "command": [...],               # the command line, as the process got it
     "cwd": "...",                   # where it ran (relative paths are relative to it)
     "versions": {"convcli": ..., "python": ..., "numpy": ..., "scipy": ...,
                  "pillow": ..., "soundfile": ..., "platform": ...},
     "options": {...},               # the resolved filter options (re-run by verify)
     "kernels": [{"spec": ..., "shape": [...], "sha256": ..., "values": [...]}],
     "geometry": {"plans": [...], "pads": [...], "methods": [...]},
     "input": {"path": ..., "sha256": ...},
     "output": {"path": ..., "sha256": ..., "dtype": ..., "shape": [...]}}

A kernel's ``sha256`` is that of its float64 values (C order) as the run built them; its
``values`` are listed when it has at most :data:`MAX_LISTED` taps.  A folder's SHA-256 (a
volume written as slices) is that of its files' names and SHA-256s, in name order.

:func:`convcli.jobs.verify.verify_record` re-runs the recorded options on the recorded input
into a temporary file and compares SHA-256s: the output is reproduced bit for bit, or not.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from convcli.errors import ConvcliError

__all__ = [
    "RECORD_SUFFIX",
    "RECORD_VERSION",
    "MAX_LISTED",
    "BadRecordError",
    "record_path",
    "file_sha256",
    "kernel_sha256",
    "versions",
    "make_record",
    "write_record",
    "read_record",
]

RECORD_SUFFIX = ".record.json"
RECORD_VERSION = 1
#: Kernels of at most this many taps have their values written in the record.
MAX_LISTED = 1024
#: The options a record keeps: those that decide the output's bytes.
_KEPT = (
    "kernels stride padding pad_mode pad_value dilation flip method normalize scale bias abs "
    "rescale dtype kind read alpha gray max_memory max_taps limits compat rounding "
    "normalized mask transposed output_padding ir_layout resample_kernel mix predelay trim_ir "
    "ir_normalize"
).split()


class BadRecordError(ConvcliError, ValueError):
    """A record that cannot be read or lacks what a re-run needs."""


def record_path(output: str) -> str:
    """Return the record's path for an output: ``OUTPUT.record.json`` beside it.

    Examples
    --------
    >>> record_path("out/soft.png"), record_path("slices/")
    ('out/soft.png.record.json', 'slices.record.json')
    """
    return output.rstrip("/\\") + RECORD_SUFFIX


def file_sha256(path: str) -> str:
    """Return the SHA-256 of a file, or of a folder's files (names and SHA-256s, name order)."""
    p = Path(path)
    if p.is_dir():
        digest = hashlib.sha256()
        for child in sorted(c for c in p.rglob("*") if c.is_file()):
            digest.update(child.relative_to(p).as_posix().encode("utf-8") + b"\0")
            digest.update(file_sha256(str(child)).encode("ascii") + b"\n")
        return digest.hexdigest()
    digest = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def kernel_sha256(kernel: np.ndarray) -> str:
    """Return the SHA-256 of a kernel's float64 values in C order.

    Examples
    --------
    >>> kernel_sha256(np.array([1.0, 2.0]))[:12]
    'dc91ce9a50dd'
    """
    data = np.ascontiguousarray(kernel, dtype=np.float64)
    return hashlib.sha256(data.tobytes()).hexdigest()


def versions() -> dict[str, str]:
    """Return the versions of convcli, Python and the libraries that compute and encode."""
    import platform

    import numpy
    import PIL
    import scipy
    import soundfile

    from convcli import __version__

    return {
        "convcli": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pillow": PIL.__version__,
        "soundfile": soundfile.__version__,
        "libsndfile": str(getattr(soundfile, "__libsndfile_version__", "")),
        "platform": platform.platform(),
    }


def _options(opts: Any) -> dict[str, Any]:
    full = asdict(opts)
    return {name: full[name] for name in _KEPT}


def make_record(
    opts: Any, job: Any, kernels: list[np.ndarray], record: dict[str, Any]
) -> dict[str, Any]:
    """Return the reproducibility record of a finished job.

    Parameters
    ----------
    opts : FilterOptions
        The run's options.
    job : Job
        The input and output.
    kernels : list of ndarray
        The kernels as the job built them (after ``--normalize``).
    record : dict
        The job's record (``plans``, ``pads``, ``methods``, ``dtype``, ``shape_out``).

    Returns
    -------
    dict
        The JSON object described in the module docstring.
    """
    listed = []
    for spec, k in zip(opts.kernels, kernels):
        entry: dict[str, Any] = {"spec": spec, "shape": list(k.shape), "sha256": kernel_sha256(k)}
        if k.size <= MAX_LISTED:
            entry["values"] = np.asarray(k, dtype=np.float64).tolist()
        listed.append(entry)
    return {
        "convcli_record": RECORD_VERSION,
        "command": list(sys.argv),
        "cwd": os.getcwd(),
        "versions": versions(),
        "options": _options(opts),
        "kernels": listed,
        "geometry": {k: record.get(k) for k in ("plans", "pads", "methods")},
        "input": {"path": job.input, "sha256": file_sha256(job.input)},
        "output": {
            "path": job.output,
            "sha256": file_sha256(job.output),
            "dtype": record.get("dtype"),
            "shape": record.get("shape_out"),
        },
    }


def write_record(rec: dict[str, Any], path: str, *, overwrite: bool = False) -> None:
    """Write a record as indented JSON, atomically."""
    from convcli.io.atomic import atomic_file

    text = json.dumps(rec, indent=1, sort_keys=False) + "\n"
    with atomic_file(path, overwrite=overwrite) as fh:
        fh.write(text.encode("utf-8"))


def _need(obj: Any, key: str, kind: type | tuple[type, ...], where: str, path: str) -> Any:
    if not isinstance(obj, dict) or key not in obj or not isinstance(obj[key], kind):
        raise BadRecordError(f"{path}: not a convcli record: {where}{key} is missing or malformed")
    return obj[key]


def read_record(path: str) -> dict[str, Any]:
    """Read and check a record file.

    Raises
    ------
    BadRecordError
        The file is unreadable, not JSON, not a record of a known version, or lacks a field
        that :func:`convcli.jobs.verify.verify_record` needs.
    """
    try:
        with open(path, "rb") as f:
            rec = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise BadRecordError(f"{path}: no such record") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).split("\n")[0]
        raise BadRecordError(f"{path}: not a readable JSON record: {reason}") from None
    version = _need(rec, "convcli_record", int, "", path)
    if version != RECORD_VERSION:
        raise BadRecordError(f"{path}: record version {version}; this convcli reads version 1")
    opts = _need(rec, "options", dict, "", path)
    _need(opts, "kernels", list, "options.", path)
    for part in ("input", "output"):
        _need(_need(rec, part, dict, "", path), "path", str, f"{part}.", path)
        _need(rec[part], "sha256", str, f"{part}.", path)
    _need(rec, "kernels", list, "", path)
    return rec
