"""Zarr stores (format 2 and 3, OME-Zarr): the family's functions for the table of formats.

A Zarr store is a folder identified by its content, never by its name (``zarr.json``,
``.zarray`` or ``.zgroup`` as a regular file: the row's ``markers`` in
:mod:`convcli.io.registry`).  It is read as an array, every axis spatial but the channel
axis an OME-Zarr image names; an OME-Zarr image of three spatial axes is a volume
(:func:`convcli.io.zarr_read.kind_of`).  It can be:

- loaded whole (:func:`load`, within ``max_voxels``) and written whole (:func:`save`), as
  every format is;
- read rows by rows (:func:`open_rows`), for the slab-by-slab route to ``.npy``;
- opened lazily, chunk by chunk (:func:`open_chunked`), and written chunk by chunk
  (:func:`chunk_target`, :func:`save_chunked`): the route of a Zarr store filtered into a
  Zarr store, with memory per task of a few chunks whatever the store's size.

What is written keeps the input's form: Zarr format, chunks (divided by the stride),
shards, compressors, attributes and an OME image's metadata (single-scale).  Reading is
:mod:`convcli.io.zarr_read`, writing :mod:`convcli.io.zarr_write`; their public names are
here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SignalReadError
from ._signal import Signal
from .limits import Limits
from .registry import ChunkTarget, Target
from .zarr_read import (
    FORMAT,
    METADATA,
    ZarrRowReader,
    describe,
    header,
    identify,
    kind_of,
    open_dask,
    read,
    read_form,
)
from .zarr_write import (
    ZarrBlockWriter,
    cast_block,
    save_dask,
    single_scale_form,
    store_dask,
    stored_grid,
)

__all__ = [
    "FORMAT",
    "METADATA",
    "identify",
    "kind_of",
    "read_form",
    "open_dask",
    "save_dask",
    "store_dask",
    "cast_block",
    "stored_grid",
    "single_scale_form",
    "ZarrRowReader",
    "ZarrBlockWriter",
    "probe",
    "load",
    "save",
    "open_rows",
    "open_chunked",
    "chunk_target",
    "save_chunked",
]


def probe(path: Path, fmt: str = FORMAT, limits: Limits | None = None) -> dict[str, Any]:
    """Describe a store from its metadata (:func:`convcli.io.zarr_read.describe`).

    Examples
    --------
    >>> import tempfile, zarr
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = zarr.create_array(d + "/v.zarr", shape=(8, 6), chunks=(4, 3), dtype="uint16",
    ...                           zarr_format=2, attributes={"unit": "um"})
    ...     info = probe(d + "/v.zarr")
    >>> info["kind"], info["shape"], info["chunks"], info["zarr_format"], info["attributes"]
    ('array', [8, 6], [4, 3], 2, {'unit': 'um'})
    """
    return describe(path, limits)


def load(
    path: Path,
    fmt: str = FORMAT,
    kind: str = "auto",
    gray: bool = False,
    limits: Limits | None = None,
) -> Signal:
    """Read a (small) store into memory as ``kind`` (:func:`convcli.io.zarr_read.read`)."""
    return read(path, kind, gray, limits)


def save(
    signal: Signal,
    data: np.ndarray,
    target: Any,
    *,
    overwrite: bool,
    protect: tuple[Any, ...],
    threads: int | None = None,
) -> None:
    """Write a signal's data as it is (its own axis order) to a new store, atomically.

    A signal read from a Zarr store keeps its form (chunks, compressors, attributes, an OME
    image's metadata); any other is written as Zarr format 3 with chunks of up to 64 per
    axis (512 for one and two axes).
    """
    import dask.array as da

    arr = np.asarray(signal.data)
    like = signal.form if signal.form.container == "zarr" else None
    chunks, shards = stored_grid(like, arr.shape)
    save_dask(
        da.from_array(arr, chunks=shards or chunks),
        target.path,
        like,
        overwrite=overwrite,
        protect=protect,
        chunks=chunks,
        shards=shards,
    )


def open_rows(
    path: Path, fmt: str, kind: str, limits: Limits
) -> tuple[ZarrRowReader, Signal] | None:
    """Open a store to read its rows (first axis) block by block.

    A store whose first axis is its channel axis, or that cannot be read as ``kind``,
    returns None (:func:`load` then says what is wrong).
    """
    try:
        sig = header(path, kind, limits)
    except SignalReadError:
        return None
    if sig.channel_axis == 0:
        return None
    return ZarrRowReader(path, limits), sig


def open_chunked(path: Path, fmt: str, kind: str, limits: Limits) -> tuple[Any, Signal]:
    """Open a store as a lazy dask array of its stored chunks, and its header signal.

    Only the chunk budgets apply (``max_pixels`` per chunk, ``max_channels``): memory is a
    few chunks whatever the store's size.

    Raises
    ------
    SignalReadError
        As :func:`convcli.io.zarr_read.read_form` and :func:`convcli.io.zarr_read.kind_of`.
    """
    sig = header(path, kind, limits)
    return open_dask(path, limits), sig


def chunk_target(
    signal: Signal,
    target: Target,
    shape: Sequence[int],
    steps: Sequence[int] | None = None,
    origins: Sequence[float] | None = None,
) -> ChunkTarget:
    """Decide how a chunked result of ``shape`` computed from ``signal`` is stored.

    The input's form when it is a Zarr store, moved for the geometry
    (:func:`convcli.io.zarr_write.single_scale_form`: chunks divided by the stride, an OME
    image's scale and translation); else Zarr format 3 with default chunks.

    Parameters
    ----------
    signal : Signal
        The input (its form).
    target : Target
        The output.
    shape : sequence of int
        The result's shape.
    steps, origins : sequence, optional
        Per axis: output sample ``o`` lies at input position ``origins[a] + o * steps[a]``.
    """
    like = signal.form if signal.form.container == "zarr" else None
    if like is not None and steps is not None:
        like = single_scale_form(like, steps, origins or [0.0] * len(steps))
    chunks, shards = stored_grid(like, shape)
    return ChunkTarget(target.path, target.family, like, chunks, shards)


def save_chunked(darr: Any, out: ChunkTarget, **options: Any) -> tuple[tuple[int, ...], list[Any]]:
    """Write a dask array as ``out`` says, chunk by chunk, atomically.

    ``options`` are :func:`convcli.io.zarr_write.store_dask`'s (``overwrite``, ``protect``,
    ``dtype``, ``finish``, ``width``, ``also``, ``scheduler``, ``threads``).
    """
    return store_dask(darr, out.path, out.form, chunks=out.chunks, shards=out.shards, **options)
