"""Moved to :mod:`convcli.explain.response`; this alias goes in the next release."""

# ruff: noqa: F822 (the names of __all__ are found by __getattr__)
from convcli._moved import moved

__all__ = [
    "KernelProperties",
    "kernel_properties",
    "symmetry",
    "separability_rank",
    "dtft",
    "magnitude_db",
    "level_crossings",
    "format_properties",
    "plot_response",
    "save_response",
    "HALF_DB",
    "HALF_POWER_DB",
]

__getattr__ = moved(__name__, "convcli.explain.response")
