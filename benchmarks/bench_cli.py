"""Time whole ``convcli`` processes: start-up, and a small filter job end to end.

Usage::

    python benchmarks/bench_cli.py [--repeat 10]

- ``convcli --help``: median wall time of ``--repeat`` subprocess runs (target: under 0.3 s).
- ``convcli filter`` of a 512x512 RGB PNG with a 3x3 blur, end to end (process start, import,
  decode, filter, encode, atomic rename; target: under 0.6 s), against ImageMagick's
  ``convert ... -morphology Convolve`` when it is installed.

The PNG is generated in a temporary folder.  If ``convcli filter`` fails (the command may be
missing while it is being built), its one-line error is printed instead of a time.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLUR = "[1 2 1; 2 4 2; 1 2 1]/16"


def convcli_command() -> list[str]:
    exe = shutil.which("convcli")
    return [exe] if exe else [sys.executable, "-c", "from convcli.cli import main; main()"]


def wall(cmd: list[str], repeat: int) -> tuple[float | None, str]:
    """Median wall seconds of ``repeat`` runs, or None and the error line."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            return None, lines[-1] if lines else f"exit {proc.returncode}"
        times.append(dt)
    return statistics.median(times), ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args(argv)
    from PIL import Image

    base = convcli_command()
    rows: list[tuple[str, float | None, float, str]] = []
    t, err = wall([*base, "--help"], args.repeat)
    rows.append(("convcli --help", t, 0.3, err))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.png"
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(src)
        out = Path(tmp) / "out.png"
        cmd = [*base, "filter", str(src), "-k", BLUR, "-o", str(out), "--overwrite"]
        t, err = wall(cmd, args.repeat)
        rows.append(("convcli filter 512² PNG 3×3 blur", t, 0.6, err))
        magick = shutil.which("magick") or shutil.which("convert")
        if magick:
            kernel = "3x3: 1,2,1 2,4,2 1,2,1"
            cmd = [
                magick,
                str(src),
                "-define",
                "convolve:scale=1/16",
                "-morphology",
                "Convolve",
                kernel,
                str(Path(tmp) / "im.png"),
            ]
            t, err = wall(cmd, args.repeat)
            rows.append((f"ImageMagick {Path(magick).name} (same job)", t, float("nan"), err))
    print(f"median of {args.repeat} runs, wall time of the whole process")
    print(f"{'job':<40} {'seconds':>8} {'target':>7}  result")
    for name, t, target, err in rows:
        if t is None:
            print(f"{name:<40} {'-':>8} {target:>7.2f}  not available: {err}")
            continue
        verdict = "" if target != target else ("PASS" if t <= target else "MISS")
        tgt = "" if target != target else f"{target:.2f}"
        print(f"{name:<40} {t:>8.3f} {tgt:>7}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
