"""The job layer: one input's job, its bounded-memory streaming, and batches of jobs.

- :mod:`convcli.jobs.job` -- one input of ``convcli filter``: load, apply the chain,
  post-process, cast, save; returns the record ``--json`` prints;
- :mod:`convcli.jobs.stream` -- convolution in slabs with halos, rows to rows, for inputs
  too large to filter in memory.

Importing this package imports nothing else (``convcli --help`` stays fast).
"""
