"""Moved to :mod:`convcli.io.slices`; this alias goes in the next release."""

# ruff: noqa: F822 (the names of __all__ are found by __getattr__)
from convcli._moved import moved

__all__ = [
    "natural_key",
    "list_slices",
    "read_folder",
    "probe_folder",
    "slice_names",
]

__getattr__ = moved(__name__, "convcli.io.slices")
