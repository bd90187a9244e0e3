"""Chunked convolution of dask arrays, larger than memory or spread over a cluster.

- :mod:`convcli.chunked.blocks` — what each output block reads (pure numpy);
- :mod:`convcli.chunked.graph` — :func:`convolve`, the dask graph of output blocks.

The public names live in :mod:`convcli.dask`.  Importing this package does not import dask;
its functions do, and say which extra to install when it is missing.
"""

from __future__ import annotations
