"""Filter a Zarr volume chunk by chunk: read lazily, convolve, cast, write atomically."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from convcli.chunked.cluster import scheduler_for
from convcli.errors import ArgumentError
from convcli.geometry import PaddingArg

__all__ = ["filter_zarr"]

PathLike = str | os.PathLike[str]


def _kernel(kernel: Any, ndim: int) -> np.ndarray:
    if isinstance(kernel, str):
        from convcli.kernels import make_kernel

        return np.asarray(make_kernel(kernel, ndim))
    return np.asarray(kernel)


def _out_dtype(dtype: str, stored: str | None) -> np.dtype:
    from convcli.io.dtypes import DTYPE_CHOICES

    if dtype not in DTYPE_CHOICES:
        raise ArgumentError(f"dtype {dtype!r} is not one of {', '.join(DTYPE_CHOICES)}")
    return np.dtype(stored if dtype == "auto" else dtype)


def filter_zarr(
    src: PathLike,
    dst: PathLike,
    kernel: Any,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingArg = "same",
    pad_mode: str = "zero",
    pad_value: float = 0.0,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    method: str = "auto",
    channel_axis: int | None = None,
    dtype: str = "auto",
    overwrite: bool = False,
    scheduler: Any = None,
    limits: Any = None,
) -> dict[str, Any]:
    """Filter a Zarr store (or OME-Zarr image) into a new one, chunk by chunk.

    Reads ``src`` lazily (:func:`convcli.io.zarr_store.open_dask`), convolves block by block
    (:func:`convcli.dask.convolve`) with output blocks on the output store's own chunk grid
    (its shards when sharded), casts each block to the output dtype as convcli casts every
    output (:func:`convcli.io.cast`: round half to even, clip, count the clipped samples,
    summed over every block) and writes it into a temporary store beside ``dst``, renamed
    into place when complete (:func:`convcli.io.zarr_store.save_dask`).  The output keeps
    the input's form: Zarr format, compressors, attributes, chunk shape (divided by the
    stride), and for an OME image its metadata as a single-scale image
    (:func:`convcli.io.zarr_store.single_scale_form`).  Memory per task is a few chunks.

    Parameters
    ----------
    src, dst : str or os.PathLike
        The input store and the output store.
    kernel : array_like or str
        The kernel, or a ``-k`` spec (``"gaussian:sigma=1"``) built for the spatial axes.
    stride, padding, pad_mode, pad_value, dilation, flip, method
        As for :func:`convcli.convolve` (``pad_mode`` defaults to ``zero``, as in the API).
    channel_axis : int, optional
        Default: the axis an OME image's metadata calls ``channel``, if any.
    dtype : str, optional
        ``"auto"`` (the input's dtype) or a name of :data:`convcli.io.DTYPE_CHOICES`.
    overwrite : bool, optional
        Replace an existing ``dst`` (never ``src``).
    scheduler : optional
        Where the tasks run (:func:`convcli.chunked.cluster.scheduler_for`): local threads
        by default, a :class:`distributed.Client`, a scheduler address, or ``"local:N"``.
        Any scheduler is reached (or started) before the input is opened.
    limits : convcli.io.Limits, optional
        The budgets the input's metadata is checked against.

    Returns
    -------
    dict
        ``input``, ``output``, ``shape_in``, ``shape_out``, ``dtype_in``, ``dtype``,
        ``chunks`` (the output's chunk shape), ``blocks`` (tasks that wrote), ``method``,
        ``pads`` (``[before, after]`` per spatial axis), ``clipped``, ``seconds``,
        ``status`` (``"ok"``).

    Raises
    ------
    SignalReadError, SignalWriteError, OutputExistsError, ValueError, SchedulerError
        Nothing is left at ``dst`` (nor beside it) when any is raised.

    Examples
    --------
    >>> import tempfile, numpy as np, zarr
    >>> with tempfile.TemporaryDirectory() as d:
    ...     z = zarr.create_array(d + "/in.zarr", shape=(6, 6), chunks=(2, 3), dtype="uint8")
    ...     z[...] = np.arange(36).reshape(6, 6)
    ...     rec = filter_zarr(d + "/in.zarr", d + "/out.zarr", np.ones((3, 3)) / 9,
    ...                       pad_mode="replicate")
    ...     out = zarr.open_array(d + "/out.zarr")
    ...     rec["clipped"], out.dtype, out.chunks, out[0].tolist()
    (0, dtype('uint8'), (2, 3), [2, 3, 4, 5, 6, 7])
    """
    from convcli.chunked.graph import convolve
    from convcli.engine import make_plan
    from convcli.io.zarr_store import (
        open_dask,
        read_form,
        save_dask,
        single_scale_form,
        stored_grid,
    )

    t0 = time.perf_counter()
    with scheduler_for(scheduler) as where:
        form = read_form(src, limits)
        x = open_dask(src, limits)
        ca = channel_axis if channel_axis is not None else form.info.get("channel_axis")
        k = _kernel(kernel, x.ndim - (ca is not None))
        geometry: dict[str, Any] = dict(
            stride=stride,
            padding=padding,
            pad_mode=pad_mode,
            pad_value=pad_value,
            dilation=dilation,
            flip=flip,
            method=method,
            channel_axis=ca,
        )
        plan = make_plan(x.shape, x.dtype, k, **geometry)
        steps, origins = [1] * x.ndim, [0.0] * x.ndim
        for a, g in zip(plan.spatial_axes, plan.geometry):
            steps[a] = g.stride
            origins[a] = (g.effective_kernel - 1) / 2 - g.pad_lo
        like = single_scale_form(form, steps, origins)
        out_dtype = _out_dtype(dtype, form.dtype)
        chunks, shards = stored_grid(like, plan.output_shape)
        y = convolve(x, k, chunks=shards or chunks, **geometry)
        clipped = save_dask(
            y,
            dst,
            like,
            overwrite=overwrite,
            protect=(src,),
            dtype=out_dtype,
            chunks=chunks,
            shards=shards,
            scheduler=where,
        )
    return {
        "input": os.fspath(src),
        "output": os.fspath(dst),
        "shape_in": list(x.shape),
        "shape_out": list(plan.output_shape),
        "dtype_in": form.dtype,
        "dtype": out_dtype.name,
        "chunks": list(chunks),
        "blocks": int(np.prod(y.numblocks)),
        "method": plan.requested,
        "pads": [[g.pad_lo, g.pad_hi] for g in plan.geometry],
        "clipped": clipped,
        "seconds": round(time.perf_counter() - t0, 6),
        "status": "ok",
    }
