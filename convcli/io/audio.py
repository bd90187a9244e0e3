"""Moved to :mod:`convcli.io.sndfile_audio`; this alias goes in the next release."""

# ruff: noqa: F822 (the names of __all__ are found by __getattr__)
from convcli._moved import moved

__all__ = [
    "open_sound",
    "claimed_frames",
    "read_audio",
    "probe_audio",
    "write_audio",
    "AudioWriter",
    "check_rate",
    "load_dtype",
    "read_frames",
]

__getattr__ = moved(__name__, "convcli.io.sndfile_audio")
