"""The command line on Dask: batch throughput against workers, a Zarr volume against memory.

Usage::

    python benchmarks/bench_dask_cli.py [--inputs 32] [--volume-mib 256] [--max-memory 64M]
                                        [--workers 1,2] [--dir /tmp] [--only batch,volume]
                                        [--blas-threads 1]

(a) **batch**: ``--inputs`` mono WAVs of 40 000 samples, each filtered with a 4000-tap
kernel (``--method direct``, about 0.1 s a job), by ``convcli filter --out-dir`` with
``--jobs 1`` and with ``--scheduler local:N`` for each N of ``--workers``; prints wall time,
inputs per second and the speed-up over ``--jobs 1``, and checks every output is
byte-identical to ``--jobs 1``'s.  The wall time includes starting the local cluster.
Every run gets ``OPENBLAS_NUM_THREADS`` (and OMP, MKL) = ``--blas-threads``: a Dask worker
sets them to 1 itself, and on a loaded machine a multi-threaded BLAS in the ``--jobs 1`` run
measured 4-7x slower, which would be credited to the cluster (``--blas-threads 0`` leaves
them unset).

(b) **volume**: a float32 Zarr store of ``--volume-mib`` (chunks 64³), four times
``--max-memory`` by default, filtered by ``convcli filter in.zarr -k gaussian:size=3 -o
out.zarr --max-memory M`` on local threads and with ``--scheduler local:2``.  Every process
of the run (convcli and its workers, started in a session of their own) is sampled every
50 ms for its peak resident set (``VmHWM`` in ``/proc/PID/status``); each one's last value is
printed.  The two outputs must be byte-identical.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

MIB = 1 << 20
CONVCLI = shutil.which("convcli") or "convcli"


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def run_sampled(args: list[str], cwd: Path) -> tuple[float, dict[int, tuple[str, int]]]:
    """Run convcli in a session of its own; return wall seconds and {pid: (name, VmHWM KiB)}."""
    peaks: dict[int, tuple[str, int]] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen([CONVCLI, *args], cwd=cwd, start_new_session=True)
    while proc.poll() is None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[3]) != proc.pid:
                    continue
                with open(f"/proc/{entry}/status") as fh:
                    status = dict(line.split(":", 1) for line in fh if ":" in line)
                hwm = int(status["VmHWM"].split()[0])
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, KeyError, ValueError, IndexError):
                continue
            if int(entry) == proc.pid:
                name = "convcli"
            else:
                name = "worker" if "spawn_main" in cmd else "helper"
            peaks[int(entry)] = (name, hwm)
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"convcli {' '.join(args)} failed with status {proc.returncode}")
    return wall, peaks


def bench_batch(root: Path, n: int, workers: list[int]) -> None:
    import soundfile as sf

    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        names.append(f"in{i:03d}.wav")
        sf.write(root / names[-1], rng.uniform(-0.5, 0.5, 40_000), 8000, subtype="PCM_16")
    np.save(root / "k.npy", rng.random(4000) / 4000)
    common = ["filter", *names, "-k", "k.npy", "--method", "direct", "-q"]
    rows = []
    t0 = time.perf_counter()
    subprocess.run([CONVCLI, *common, "--out-dir", "j1", "--jobs", "1"], cwd=root, check=True)
    base = time.perf_counter() - t0
    rows.append(("--jobs 1", base))
    ref = tree(root / "j1")
    for w in workers:
        out = f"local{w}"
        t0 = time.perf_counter()
        subprocess.run(
            [CONVCLI, *common, "--out-dir", out, "--scheduler", f"local:{w}"], cwd=root, check=True
        )
        rows.append((f"--scheduler local:{w}", time.perf_counter() - t0))
        assert tree(root / out) == ref, f"{out} differs from --jobs 1"
    print(
        f"batch: {n} WAVs of 40000 samples, a 4000-tap kernel (direct), cpu_count={os.cpu_count()}"
    )
    print(f"{'runner':26} {'wall s':>7} {'inputs/s':>9} {'speed-up':>9}")
    for name, wall in rows:
        print(f"{name:26} {wall:7.2f} {n / wall:9.1f} {base / wall:9.2f}")
    print("every output byte-identical to --jobs 1")


def bench_volume(root: Path, mib: int, max_memory: str) -> None:
    import zarr

    planes = max(64, mib * MIB // (512 * 512 * 4))
    shape = (planes, 512, 512)
    z = zarr.create_array(str(root / "in.zarr"), shape=shape, chunks=(64,) * 3, dtype="float32")
    rng = np.random.default_rng(1)
    for p in range(0, planes, 64):
        z[p : p + 64] = rng.standard_normal((min(64, planes - p), 512, 512), dtype=np.float32)
    size = np.prod(shape) * 4 / MIB
    print(f"\nvolume {'x'.join(map(str, shape))} float32, {size:.0f} MiB, chunks 64^3, "
          f"--max-memory {max_memory}")  # fmt: skip
    common = ["filter", "in.zarr", "-k", "gaussian:size=3", "--pad-mode", "symmetric", "-q"]
    common += ["--max-memory", max_memory]
    for name, extra, out in [
        ("local threads", [], "threads.zarr"),
        ("--scheduler local:2", ["--scheduler", "local:2"], "local2.zarr"),
    ]:
        wall, peaks = run_sampled([*common, "-o", out, *extra], root)
        rss = ", ".join(f"{label} {kib / 1024:.0f}" for label, kib in sorted(peaks.values()))
        print(f"{name:22} {wall:6.1f} s   peak RSS MiB (VmHWM): {rss}")
    assert tree(root / "threads.zarr") == tree(root / "local2.zarr"), "outputs differ"
    print("both outputs byte-identical")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=32)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--volume-mib", type=int, default=256)
    ap.add_argument("--max-memory", default="64M")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--only", default="batch,volume")
    ap.add_argument("--blas-threads", type=int, default=1)
    a = ap.parse_args()
    if a.blas_threads:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(a.blas_threads)
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        root = Path(d)
        if "batch" in a.only:
            bench_batch(root, a.inputs, [int(w) for w in a.workers.split(",")])
        if "volume" in a.only:
            bench_volume(root, a.volume_mib, a.max_memory)


if __name__ == "__main__":
    main()
