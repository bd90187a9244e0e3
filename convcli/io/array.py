"""Moved to :mod:`convcli.io.npy`; this alias goes in the next release."""

# ruff: noqa: F822 (the names of __all__ are found by __getattr__)
from convcli._moved import moved

__all__ = [
    "read_npy",
    "probe_npy",
    "write_npy",
    "mode_of",
    "NpyHeader",
    "read_npy_header",
    "check_npy_limits",
]

__getattr__ = moved(__name__, "convcli.io.npy")
