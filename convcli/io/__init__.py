"""Loaders and writers: file -> :class:`Signal` -> file.

One :class:`Signal` type for images (Pillow), audio (soundfile), volume stacks (folders of
slices, multi-page TIFF, animated GIF/PNG/WebP, 3-D ``.npy``) and raw ``.npy`` arrays.

- :func:`load` reads a file or folder, :func:`probe` describes it from its header;
- :func:`output_dtype` tells which dtype an output will hold (or why it cannot), and
  :func:`cast` rounds, clips and counts into it;
- :func:`save` writes atomically, never over an existing output without ``overwrite`` and
  never over an input (``protect``, compared with :func:`same_file`);
- :class:`Limits` holds the budgets every loader checks from the header before it decodes
  anything (:mod:`convcli.io.limits`); only regular files are read, and only the formats
  of the table, identified by their content (:mod:`convcli.io.content`);
- :func:`open_rows` reads an input block by block, :func:`open_writer` writes an output
  block by block, where the format allows (:func:`takes_blocks`, :func:`streams_always`);
- :func:`open_chunked` opens an input as a lazy dask array of its chunks, and
  :func:`chunk_target` and :func:`save_chunked` write one chunk by chunk (Zarr stores).

Every format is a family of :mod:`convcli.io.registry`: one row of its table (content,
extensions, what each output format holds, blocks, optional extra) and one module
(:mod:`.pillow_image`, :mod:`.sndfile_audio`, :mod:`.npy`, :mod:`.zarr_store`,
:mod:`.slices`); everything above is a lookup in that table.  Pillow and soundfile are
imported only when a file is read or written (zarr and dask when a Zarr store is).
"""

from __future__ import annotations

from ._api import (
    chunk_target,
    identify_file,
    load,
    open_chunked,
    open_rows,
    open_writer,
    probe,
    save,
    save_chunked,
    streams_always,
    takes_blocks,
    writer_bytes,
)
from ._signal import CONTAINERS, KINDS, Form, Signal
from .atomic import same_file
from .dtypes import DTYPE_CHOICES, ROUNDINGS, cast, output_dtype
from .limits import DEFAULT_LIMITS, LimitError, Limits

__all__ = [
    "Signal",
    "Form",
    "KINDS",
    "CONTAINERS",
    "DTYPE_CHOICES",
    "ROUNDINGS",
    "load",
    "save",
    "probe",
    "output_dtype",
    "cast",
    "same_file",
    "identify_file",
    "open_rows",
    "open_writer",
    "takes_blocks",
    "streams_always",
    "open_chunked",
    "chunk_target",
    "save_chunked",
    "writer_bytes",
    "Limits",
    "LimitError",
    "DEFAULT_LIMITS",
]
