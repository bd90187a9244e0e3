"""convcli on Dask: chunked convolution of dask arrays.

Needs the ``dask`` extra (``pip install 'convcli[dask]'``: dask, distributed, zarr).
Importing this module does not import dask; calling its functions does.

- :func:`convolve` — :func:`convcli.convolve`'s arguments and arithmetic on a dask array,
  returning a lazy dask array: every pad mode exact at the whole array's edges, halos of
  any depth, stride, dilation, every padding and method, a channel axis.

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

__all__ = ["convolve"]
