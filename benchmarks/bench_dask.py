"""convcli on Dask: a Zarr volume larger than memory, and batch throughput against workers.

Usage::

    python benchmarks/bench_dask.py [--budget-mib 512] [--dir /tmp] [--keep] [--quick]
                                    [--only volume,batch]

(a) **volume**: writes (once, into ``--dir``) a float32 Zarr volume four times larger than
``--budget-mib`` (the memory limit of each worker), chunks of 128³, then filters it with a
3×3×3 Gaussian (``gaussian:size=3``, ``symmetric`` padding) into a new store, each contender
on a fresh ``LocalCluster`` of 2 worker processes (one thread each) with
``memory_limit=--budget-mib``, and prints the wall time, each worker's peak RSS (asked of
the workers: ``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and the client's:

- ``convcli.dask.filter_zarr`` (open lazily, convolve block by block, cast, write atomically);
- the peer: ``dask.array.map_overlap`` of ``scipy.ndimage.correlate`` (depth 1,
  ``boundary="reflect"``, which is numpy's ``symmetric``) written by ``dask.array.to_zarr``.

Both outputs are then compared on a few chunks (float32 rounding).

(b) **batch**: many small in-memory arrays (``--arrays`` of 1024×1024 float32, each made from
a seed on the worker: a stand-in for reading a file) convolved with a 5×5 Gaussian, cast to
uint8 and reduced to a checksum, by ``client.map`` on 1 and 2 worker processes (a stand-in
for the batch backend), against the same jobs run one after another in this process
(``--jobs 1``).  Prints jobs per second, the ratio to the serial run, and what an empty task
costs the cluster (``client.map`` of a function that returns its argument).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MIB = 1 << 20


def make_volume(path: Path, budget_mib: int, chunk: int) -> tuple[int, ...]:
    """Write a float32 volume of 4 x budget (skipped when it exists), chunk row by chunk row."""
    import zarr

    plane = 1024 * 512 * 4
    planes = max(chunk, 4 * budget_mib * MIB // plane)
    shape = (planes, 1024, 512)
    if path.exists():
        z = zarr.open_array(str(path), mode="r")
        if tuple(z.shape) == shape:
            return shape
        shutil.rmtree(path)
    z = zarr.create_array(str(path), shape=shape, chunks=(chunk,) * 3, dtype="float32")
    rng = np.random.default_rng(0)
    for p in range(0, planes, chunk):
        n = min(chunk, planes - p)
        z[p : p + n] = rng.random((n, *shape[1:]), dtype=np.float32)
    return shape


def cluster(workers: int, budget_mib: int | None):
    from distributed import Client, LocalCluster

    c = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=None if budget_mib is None else f"{budget_mib}MiB",
        dashboard_address=None,
        host="127.0.0.1",
        silence_logs=logging.CRITICAL,  # the workers' heartbeats complain as the cluster closes
    )
    return c, Client(c)


def warm() -> None:
    """Import what both contenders use, on a worker, before the clock starts."""
    import scipy.ndimage  # noqa: F401
    import zarr  # noqa: F401

    import convcli.dask  # noqa: F401


def peaks() -> tuple[float, float]:
    """This process's peak RSS in MiB: ``VmHWM`` of its address space, and ``ru_maxrss``.

    ``ru_maxrss`` also counts the parent's resident set at the time the worker was spawned
    (Linux keeps the old address space's high-water mark across ``fork`` and ``exec``), so
    ``VmHWM`` is the worker's own figure; both are printed.
    """
    hwm = float("nan")
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return hwm, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_peaks(client) -> list[tuple[float, float]]:
    found = client.run(peaks)
    return [found[w] for w in sorted(found)]


def run_convcli(src: Path, dst: Path, client) -> None:
    import convcli.dask

    convcli.dask.filter_zarr(
        src, dst, "gaussian:size=3", pad_mode="symmetric", dtype="float32", scheduler=client
    )


def run_peer(src: Path, dst: Path, client) -> None:
    import dask
    import dask.array as da
    import zarr
    from scipy import ndimage

    import convcli

    w = convcli.make_kernel("gaussian:size=3", 3).astype(np.float32)
    x = da.from_zarr(zarr.open_array(str(src), mode="r"))
    y = x.map_overlap(
        lambda b: ndimage.correlate(b, w, mode="reflect"),
        depth=1,
        boundary="reflect",
        dtype=np.float32,
    )
    out = zarr.create_array(str(dst), shape=x.shape, chunks=x.chunksize, dtype="float32")
    dask.compute(da.store(y, out, lock=False, compute=False), scheduler=client)


def bench_volume(args, folder: Path) -> None:
    import zarr

    src = folder / f"volume_{args.budget_mib}.zarr"
    t0 = time.perf_counter()
    # In a child process: the workers are spawned from this one, and ru_maxrss would count
    # the slabs written here; this process stays as small as a client.
    subprocess.run(
        [sys.executable, __file__, "--make-volume", str(src), "--budget-mib", str(args.budget_mib)],
        check=True,
    )
    shape = tuple(zarr.open_array(str(src), mode="r").shape)
    size = int(np.prod(shape)) * 4
    print(
        f"volume {'x'.join(map(str, shape))} float32, {size / MIB:.0f} MiB "
        f"({size / MIB / args.budget_mib:.1f}x the {args.budget_mib} MiB budget of each worker), "
        f"chunks 128^3; ready in {time.perf_counter() - t0:.1f} s"
    )
    rows: list[tuple[str, float, list[tuple[float, float]], Path]] = []
    for name, fn in (("convcli.dask.filter_zarr", run_convcli), ("map_overlap+ndimage", run_peer)):
        dst = folder / f"out_{name.split('.')[0].replace('+', '_')}.zarr"
        shutil.rmtree(dst, ignore_errors=True)
        c, client = cluster(2, args.budget_mib)
        try:
            client.run(warm)
            t = time.perf_counter()
            fn(src, dst, client)
            wall = time.perf_counter() - t
            found = worker_peaks(client)
        finally:
            client.close()
            c.close()
        rows.append((name, wall, found, dst))
    ours = rows[0][1]
    print(
        f"{'contender':26s} {'wall s':>7s} {'MiB/s':>7s} {'ratio':>6s}  "
        f"each worker's peak RSS, MiB: VmHWM (ru_maxrss)"
    )
    for name, wall, found, _ in rows:
        rss = ", ".join(f"{h:.0f} ({m:.0f})" for h, m in found)
        print(f"{name:26s} {wall:7.1f} {size / MIB / wall:7.0f} {ours / wall:6.2f}  {rss}")
    hwm, maxrss = peaks()
    print(f"client + scheduler process: VmHWM {hwm:.0f} MiB (ru_maxrss {maxrss:.0f})")
    a = zarr.open_array(str(rows[0][3]), mode="r")
    b = zarr.open_array(str(rows[1][3]), mode="r")
    worst = 0.0
    for p in (0, shape[0] // 2, shape[0] - 1):  # the edges and the middle
        worst = max(worst, float(np.max(np.abs(a[p] - b[p]))))
    print(f"largest difference between the two outputs on 3 planes: {worst:.2e} (float32)")
    if not args.keep:
        for _, _, _, dst in rows:
            shutil.rmtree(dst, ignore_errors=True)


def job(seed: int) -> int:
    """One batch job: make a 1024x1024 array (a stand-in for reading), filter, cast, checksum."""
    import convcli
    from convcli.io import cast

    x = np.random.default_rng(seed).random((1024, 1024), dtype=np.float32) * 255
    y = convcli.convolve(x, convcli.make_kernel("gaussian:size=5", 2), pad_mode="reflect")
    out, _ = cast(y, "uint8")
    return int(out.sum(dtype=np.int64))


def nothing(seed: int) -> int:
    """An empty task: what a task costs the cluster, whatever it does."""
    return seed


def bench_batch(args) -> None:
    seeds = list(range(args.arrays))
    job(0)
    t = time.perf_counter()
    serial = [job(s) for s in seeds]
    base = time.perf_counter() - t
    print(f"batch: {args.arrays} arrays of 1024x1024 float32, 5x5 Gaussian, cast to uint8")
    print(f"{'runner':28s} {'wall s':>7s} {'jobs/s':>7s} {'speed-up':>8s} {'empty task ms':>14s}")
    print(f"{'in process, one by one':28s} {base:7.2f} {args.arrays / base:7.0f} {1.0:8.2f}")
    for n in (1, 2):
        c, client = cluster(n, None)
        try:
            client.gather(client.map(job, seeds[:4], pure=False))  # imports on every worker
            t = time.perf_counter()
            client.gather(client.map(nothing, range(500), pure=False))
            empty = (time.perf_counter() - t) / 500 * 1000
            t = time.perf_counter()
            got = client.gather(client.map(job, seeds, pure=False))
            wall = time.perf_counter() - t
        finally:
            client.close()
            c.close()
        assert got == serial, "the cluster computed other numbers"
        label = f"client.map, {n} worker{'s' if n > 1 else ''}"
        print(f"{label:28s} {wall:7.2f} {args.arrays / wall:7.0f} {base / wall:8.2f} {empty:14.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget-mib", type=int, default=512)
    ap.add_argument("--arrays", type=int, default=200)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--keep", action="store_true", help="keep the volume and the outputs")
    ap.add_argument("--quick", action="store_true", help="a 1 GiB volume, 50 arrays")
    ap.add_argument("--only", default="volume,batch")
    ap.add_argument("--make-volume", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make_volume:
        make_volume(Path(args.make_volume), args.budget_mib, 128)
        return
    if args.quick:
        args.budget_mib, args.arrays = 256, 50
    folder = Path(args.dir) / "convcli_bench_dask"
    folder.mkdir(parents=True, exist_ok=True)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{os.cpu_count()} cores (load average {load}), python {sys.version.split()[0]}")
    try:
        if "volume" in args.only:
            bench_volume(args, folder)
        if "batch" in args.only:
            bench_batch(args)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
