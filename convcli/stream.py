"""Moved to :mod:`convcli.jobs.stream` (slabs with halos); this alias goes in the next release."""

# ruff: noqa: F822 (the names of __all__ are found by __getattr__)
from convcli._moved import moved

__all__ = [
    "open_stream",
    "RowSource",
    "ArraySource",
    "AudioFileSource",
    "NpyFileSource",
    "RawFile",
    "correlate_rows",
    "slab_rows",
    "slab_bytes_for",
    "SLAB_BYTES",
    "MIN_SLAB_BYTES",
]

__getattr__ = moved(
    __name__,
    "convcli.jobs.stream",
    {
        "RowSource": "convcli.io.rows",
        "ArraySource": "convcli.io.rows",
        "AudioFileSource": "convcli.io.sndfile_audio",
        "NpyFileSource": "convcli.io.npy",
        "RawFile": "convcli.io.raw",
        "open_stream": "convcli.io:open_rows",
    },
)
