"""Moved to :mod:`convcli.explain.animate`; this alias goes in the next release."""

# ruff: noqa: F822 (the names of __all__ are found by __getattr__)
from convcli._moved import moved

__all__ = [
    "AxisLayout",
    "Frame",
    "Animation",
    "plan_animation",
    "output_kind",
    "save_animation",
    "DEFAULT_MAX_FRAMES",
]

__getattr__ = moved(__name__, "convcli.explain.animate")
