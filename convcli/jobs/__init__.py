"""The job layer: one input's job, its bounded-memory streaming, and batches of jobs.

One input of ``convcli filter``, step by step:

- :mod:`convcli.jobs.job` -- :func:`~convcli.jobs.job.run_job`: open, plan, filter by the
  route that fits, save; returns the record ``--json`` prints;
- :mod:`convcli.jobs.options` -- what the run was told; per-axis values against a signal;
- :mod:`convcli.jobs.budget` -- the working-set budget, and kernels within ``max_taps``;
- :mod:`convcli.jobs.alpha` -- premultiplied and kept alpha;
- :mod:`convcli.jobs.post` -- abs, scale, bias, rescale, the cast;
- :mod:`convcli.jobs.strips` -- an image strip by strip: decoding, filtering and encoding
  overlapped, exact integer sums where they are exact;
- :mod:`convcli.jobs.blocks` -- a streamed input (audio, ``.npy``) in slabs (in one pass,
  or through stage files);
- :mod:`convcli.jobs.stream` -- convolution in slabs with halos, rows to rows;
- :mod:`convcli.jobs.sink` -- post-process, cast and write blocks on a thread, atomically;
- :mod:`convcli.jobs.record` -- the record's one-line error.

Many inputs, for ``filter`` and ``features`` alike:

- :mod:`convcli.jobs.batch` -- a :class:`~convcli.jobs.batch.Batch` of picklable jobs, the
  backend protocol, records in input order, the tally (summary line, exit code);
- :mod:`convcli.jobs.local` -- the backend of worker processes on this machine;
- :mod:`convcli.jobs.process` -- stop signals as one clean interruption, in every process.

Importing this package imports nothing else (``convcli --help`` stays fast).
"""
