"""Moved to :mod:`convcli.io.pillow_image`; this alias goes in the next release."""

# ruff: noqa: F822 (the names of __all__ are found by __getattr__)
from convcli._moved import moved

__all__ = [
    "png_writer",
    "open_image",
    "read_image",
    "probe_image",
    "image_to_array",
    "to_gray",
    "orient",
    "write_image",
    "write_frames",
    "form_info",
]

__getattr__ = moved(__name__, "convcli.io.pillow_image")
