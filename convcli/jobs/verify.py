"""``convcli verify``'s check: re-run a reproducibility record and compare SHA-256s."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, fields
from typing import Any

from convcli.jobs.job import Job, run_job
from convcli.jobs.provenance import BadRecordError, file_sha256, read_record

__all__ = ["Verdict", "verify_record"]


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify_record` found: ``reproduced``, and one line saying why."""

    reproduced: bool
    message: str


def _filter_options(opts: dict[str, Any], path: str) -> Any:
    from convcli.io import Limits
    from convcli.jobs.options import FilterOptions

    known = {f.name for f in fields(FilterOptions)}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise BadRecordError(f"{path}: options this convcli does not know: {', '.join(unknown)}")
    values = dict(opts)
    for name in ("kernels", "stride", "dilation", "output_padding"):
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    if isinstance(values.get("read"), list):  # a text series' read options, as pairs
        values["read"] = tuple(
            (str(pair[0]), tuple(pair[1]) if isinstance(pair[1], list) else pair[1])
            for pair in values["read"]
            if isinstance(pair, list) and len(pair) == 2
        )
    if isinstance(values.get("padding"), list):
        values["padding"] = [tuple(p) if isinstance(p, list) else p for p in values["padding"]]
    try:
        if isinstance(values.get("limits"), dict):
            values["limits"] = Limits(**values["limits"])
        return FilterOptions(**values, overwrite=True)
    except TypeError as exc:
        raise BadRecordError(f"{path}: malformed options: {exc}") from None


def verify_record(path: str) -> Verdict:
    """Re-run a record's filter and say whether its output is reproduced bit for bit.

    Relative paths are taken from the recorded ``cwd`` when it exists, else from the
    record's folder.  The recorded output is not touched: the re-run writes to a temporary
    file beside it, removed afterwards.  The output is reproduced when the re-run's SHA-256
    is the recorded one and the output on disk, if there, is too.

    Parameters
    ----------
    path : str
        A ``.record.json`` file.

    Returns
    -------
    Verdict
        ``reproduced`` and one line: which SHA-256s agree or differ.

    Raises
    ------
    BadRecordError
        The record cannot be read (:func:`read_record`).
    """
    rec = read_record(path)
    opts = _filter_options(rec["options"], path)
    cwd = rec.get("cwd") if isinstance(rec.get("cwd"), str) else None
    base = cwd if cwd and os.path.isdir(cwd) else os.path.dirname(os.path.abspath(path))
    source = os.path.join(base, rec["input"]["path"])
    output = os.path.join(base, rec["output"]["path"])
    if not os.path.exists(source):
        return Verdict(False, f"the input {rec['input']['path']} is missing")
    if file_sha256(source) != rec["input"]["sha256"]:
        return Verdict(False, f"the input {rec['input']['path']} has changed since the record")
    ext = os.path.splitext(output.rstrip("/\\"))[1]
    beside = os.path.dirname(os.path.abspath(output))
    with tempfile.TemporaryDirectory(
        dir=beside if os.path.isdir(beside) else None, prefix=".convcli-verify-"
    ) as tmp:
        again = os.path.join(tmp, "again" + ext)
        old = os.getcwd()
        try:
            os.chdir(base)
            result = run_job(Job(source, again, (source,)), opts)
        finally:
            os.chdir(old)
        if result["status"] != "ok":
            return Verdict(False, f"the re-run failed: {result['error']}")
        got = file_sha256(again)
    want = rec["output"]["sha256"]
    name = rec["output"]["path"]
    if got != want:
        return Verdict(
            False, f"not reproduced: {name}: sha256 {got[:16]}..., recorded {want[:16]}..."
        )
    if os.path.exists(output) and file_sha256(output) != want:
        return Verdict(
            False,
            f"{name} on disk is not the recorded output (the re-run reproduces the record, "
            f"sha256 {want[:16]}...)",
        )
    return Verdict(True, f"reproduced bit for bit: {name} (sha256 {want[:16]}...)")
