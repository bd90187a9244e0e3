"""Chunked convolution: dask arrays and Zarr stores, larger than memory or spread over a cluster.

- :mod:`convcli.chunked.blocks` — what each output block reads (pure numpy);
- :mod:`convcli.chunked.graph` — :func:`convolve`, the dask graph of output blocks;
- :mod:`convcli.chunked.zarr_filter` — :func:`filter_zarr`, a Zarr store filtered into
  another one;
- :mod:`convcli.chunked.cluster` — where the tasks run: local threads, a scheduler's
  address, a local cluster (``local:N``).

The public names live in :mod:`convcli.dask`.  Importing this package does not import dask;
its functions do, and say which extra to install when it is missing.
"""

from __future__ import annotations
