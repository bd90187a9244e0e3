"""Stream a large CSV through a filter in bounded memory: convcli's text series against peers.

Usage::

    python benchmarks/bench_series.py [--quick] [--size-mib 2048] [--dir /tmp] [--keep]
                                      [--taps 31] [--slab-rows 65536] [--only convcli,pandas]

Writes (once, into ``--dir``) a CSV of about ``--size-mib`` MiB (``--quick``: 50 MiB): an ISO
timestamp, three numeric columns written with 3 decimals and a text label per row.  Then each
contender, in a process of its own, smooths the three numeric columns with a ``--taps``
Gaussian (correlation, ``same``, zero padding) slab by slab and writes a CSV of the same layout
(timestamps and labels passed through), and reports its wall time, MB/s of input and peak
resident set (``ru_maxrss`` of its own process):

- ``convcli``: :func:`convcli.io.text_series.open_rows` (one indexing pass), slabs of
  ``--slab-rows`` rows read with a halo, :func:`convcli.convolve` on each (``valid`` over the
  halo'd slab, which is exactly ``same`` on the whole), :func:`~convcli.io.text_series.open_writer`;
- ``pandas`` (if installed): ``read_csv(chunksize=...)``, the same halo carried from chunk to
  chunk, ``numpy.correlate`` per column, ``to_csv(float_format="%.3f")`` appended;
- ``csv``: Python's ``csv`` module row by row, ``float()``, ``numpy.correlate`` per slab,
  ``csv.writer``: the plain-Python way.

The first 200 000 rows of every output are compared with convcli's (numbers within half a unit
of the third decimal: sums in another order may round a tie the other way; text columns
exactly).  Target (issue 11): peak RSS bounded, under 200 MiB, whatever the file's size.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np

TARGET_MIB = 200
CHECK_ROWS = 200_000
ROW = "2024-01-01T%02d:%02d:%02d.%03d,%.3f,%.3f,%.3f,L%d\n"


def make_input(folder: Path, size_mib: int) -> Path:
    """Write the CSV (skipped when it exists): about ``size_mib`` MiB."""
    path = folder / f"series_{size_mib}mib.csv"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    target = size_mib << 20
    tmp = path.with_suffix(".part")
    with open(tmp, "w", newline="") as fh:
        fh.write("time,x,y,z,label\n")
        written, row = 0, 0
        while written < target:
            n = 100_000
            walk = np.cumsum(rng.normal(0, 1, (n, 3)), axis=0) + rng.normal(0, 20, 3)
            ms = (row + np.arange(n)) * 10
            labels = rng.integers(0, 1000, n)
            text = "".join(
                ROW
                % (
                    (m // 3_600_000) % 24,
                    (m // 60_000) % 60,
                    (m // 1000) % 60,
                    m % 1000,
                    x,
                    y,
                    z,
                    lab,
                )
                for m, (x, y, z), lab in zip(ms.tolist(), walk.tolist(), labels.tolist())
            )
            fh.write(text)
            written += len(text)
            row += n
    tmp.rename(path)
    return path


def gaussian(taps: int) -> np.ndarray:
    sigma = taps / 6
    x = np.arange(taps) - taps // 2
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_convcli(src: Path, out: Path, taps: int, slab: int) -> dict[str, float]:
    import convcli
    from convcli.io import text_series as ts

    w = gaussian(taps)
    half = taps // 2
    start = time.perf_counter()
    with ts.open_rows(src) as rows:
        indexed = time.perf_counter()
        n, chans = rows.shape
        with open(out, "wb") as fh:
            writer = ts.open_writer(fh, rows.signal, out)
            for a in range(0, n, slab):
                b = min(a + slab, n)
                lo, hi = a - half, b + half
                block = rows.read(max(lo, 0), min(hi, n))
                if lo < 0 or hi > n:
                    block = np.pad(block, ((max(-lo, 0), max(hi - n, 0)), (0, 0)))
                writer.write(convcli.convolve(block, w, padding="valid", channel_axis=1))
            writer.close()
    return {"index_s": indexed - start, "total_s": time.perf_counter() - start}


def run_pandas(src: Path, out: Path, taps: int, slab: int) -> dict[str, float]:
    import pandas as pd

    w = gaussian(taps)
    half = taps // 2
    cols = ["x", "y", "z"]
    start = time.perf_counter()
    carry: pd.DataFrame | None = None  # the rows not yet written, and the halo before them
    before = np.zeros((half, 3))
    first = True
    reader = pd.read_csv(src, chunksize=slab, dtype={"time": str, "label": str})

    def emit(frame: pd.DataFrame, values: np.ndarray, after: np.ndarray) -> None:
        nonlocal first
        padded = np.vstack([before, values, after])
        out_frame = frame.copy()
        for c, name in enumerate(cols):
            out_frame[name] = np.correlate(padded[:, c], w, "valid")
        out_frame.to_csv(
            out,
            mode="w" if first else "a",
            header=first,
            index=False,
            float_format="%.3f",
            lineterminator="\n",
        )
        first = False

    for chunk in reader:
        if carry is not None:
            values = carry[cols].to_numpy()
            after = chunk[cols].to_numpy()[:half]
            if len(after) < half:  # a tiny last chunk: keep going, it is short anyway
                after = np.vstack([after, np.zeros((half - len(after), 3))])
            emit(carry, values, after)
            before = values[-half:] if len(values) >= half else np.vstack([before, values])[-half:]
        carry = chunk
    if carry is not None:
        emit(carry, carry[cols].to_numpy(), np.zeros((half, 3)))
    return {"total_s": time.perf_counter() - start}


def run_csv(src: Path, out: Path, taps: int, slab: int) -> dict[str, float]:
    w = gaussian(taps)
    half = taps // 2
    start = time.perf_counter()
    with open(src, newline="") as fin, open(out, "w", newline="") as fout:
        reader = csv.reader(fin)
        writer = csv.writer(fout, lineterminator="\n")
        writer.writerow(next(reader))
        before = np.zeros((half, 3))
        pending: list[list[str]] = []
        while True:
            rows = list(islice(reader, slab))
            if pending:
                values = np.array([r[1:4] for r in pending], dtype=float)
                after = np.array([r[1:4] for r in rows[:half]], dtype=float).reshape(-1, 3)
                after = np.vstack([after, np.zeros((half - len(after), 3))])
                padded = np.vstack([before, values, after])
                y = np.stack([np.correlate(padded[:, c], w, "valid") for c in range(3)], axis=1)
                for r, (a, b, c) in zip(pending, y.tolist()):
                    r[1:4] = (f"{a:.3f}", f"{b:.3f}", f"{c:.3f}")
                writer.writerows(pending)
                before = np.vstack([before, values])[-half:]
            if not rows:
                break
            pending = rows
    return {"total_s": time.perf_counter() - start}


RUNNERS = {"convcli": run_convcli, "pandas": run_pandas, "csv": run_csv}


def child(name: str, src: Path, out: Path, taps: int, slab: int) -> None:
    result = RUNNERS[name](src, out, taps, slab)
    result["peak_mib"] = peak_mib()
    print(json.dumps(result))


def compare(ours: Path, theirs: Path) -> tuple[float, bool]:
    """Largest difference of the numbers, and whether the text columns agree, on a prefix."""
    worst, same_text = 0.0, True
    with open(ours, newline="") as a, open(theirs, newline="") as b:
        for ra, rb in islice(zip(csv.reader(a), csv.reader(b)), 1, CHECK_ROWS):
            same_text &= ra[0] == rb[0] and ra[4] == rb[4]
            worst = max(worst, *(abs(float(x) - float(y)) for x, y in zip(ra[1:4], rb[1:4])))
    return worst, same_text


def available(name: str) -> bool:
    if name != "pandas":
        return True
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="50 MiB instead of --size-mib")
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--keep", action="store_true", help="keep the input and outputs")
    ap.add_argument("--taps", type=int, default=31)
    ap.add_argument("--slab-rows", type=int, default=65536)
    ap.add_argument("--only", default=",".join(RUNNERS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.src, args.out, args.taps, args.slab_rows)
        return
    size = 50 if args.quick else args.size_mib
    t0 = time.perf_counter()
    src = make_input(args.dir, size)
    mb = src.stat().st_size / 1e6
    print(f"input: {src} ({mb:.0f} MB, written in {time.perf_counter() - t0:.1f} s)")
    print(f"kernel: {args.taps}-tap Gaussian, same, zero padding; slabs of {args.slab_rows} rows")
    results: dict[str, dict[str, float]] = {}
    outputs: dict[str, Path] = {}
    for name in args.only.split(","):
        if not available(name):
            print(f"{name}: not installed, skipped")
            continue
        out = args.dir / f"series_{size}mib.{name}.out.csv"
        out.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--src",
            str(src),
            "--out",
            str(out),
            "--taps",
            str(args.taps),
            "--slab-rows",
            str(args.slab_rows),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{name}: failed\n{done.stderr}")
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        outputs[name] = out
    base = results.get("convcli")
    head = f"{'contender':<10} {'total s':>8} {'MB/s':>7} {'peak MiB':>9} {'vs convcli':>11}"
    print(f"\n{head}  notes")
    for name, r in results.items():
        ratio = f"{r['total_s'] / base['total_s']:.2f}x" if base else "-"
        note = ""
        if name == "convcli":
            note = f"index pass {r['index_s']:.1f} s"
        elif "convcli" in outputs:
            worst, same = compare(outputs["convcli"], outputs[name])
            note = f"max |diff| {worst:.4f}, text columns {'equal' if same else 'DIFFER'}"
        print(
            f"{name:<10} {r['total_s']:8.1f} {mb / r['total_s']:7.1f} {r['peak_mib']:9.0f} "
            f"{ratio:>11}  {note}"
        )
    if base:
        verdict = "PASS" if base["peak_mib"] < TARGET_MIB else "FAIL"
        print(
            f"\nconvcli peak RSS {base['peak_mib']:.0f} MiB for a {mb:.0f} MB input: "
            f"target < {TARGET_MIB} MiB: {verdict}"
        )
    if not args.keep:
        for out in outputs.values():
            out.unlink(missing_ok=True)
        if not args.quick:
            src.unlink(missing_ok=True)
    if any(math.isnan(r["total_s"]) for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
