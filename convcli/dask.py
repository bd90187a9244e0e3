"""convcli on Dask: chunked convolution of dask arrays, and Zarr volumes filtered chunk by chunk.

Needs the ``dask`` extra (``pip install 'convcli[dask]'``: dask, distributed, zarr).
Importing this module does not import dask; calling its functions does.

- :func:`convolve` — :func:`convcli.convolve`'s arguments and arithmetic on a dask array,
  returning a lazy dask array: every pad mode exact at the whole array's edges, halos of
  any depth, stride, dilation, every padding and method, a channel axis;
- :func:`filter_zarr` — a Zarr store (or OME-Zarr image) filtered into a new store, chunk
  by chunk, on local threads or a :mod:`distributed` cluster.

Zarr reading and writing itself is :mod:`convcli.io.zarr_store`.

Examples
--------
>>> import numpy as np, dask.array as da
>>> import convcli, convcli.dask
>>> x = np.arange(24.0).reshape(4, 6)
>>> y = convcli.dask.convolve(da.from_array(x, chunks=(1, 2)), np.ones((3, 3)),
...                           pad_mode="reflect", stride=2)
>>> y.shape, y.chunks
((2, 3), ((1, 1), (1, 1, 1)))
>>> bool((y.compute() == convcli.convolve(x, np.ones((3, 3)), pad_mode="reflect",
...                                       stride=2)).all())
True
"""

from __future__ import annotations

from convcli.chunked.graph import convolve
from convcli.chunked.zarr_filter import filter_zarr

__all__ = ["convolve", "filter_zarr"]
