"""Peak memory of whole ``convcli filter`` jobs on inputs of about 1 GiB.

Usage::

    python benchmarks/bench_memory.py [--size-mib 1024] [--dir /tmp] [--keep]

Writes (once, into ``--dir``) a float32 stereo WAV of ``--size-mib`` MiB and a float32 ``.npy``
volume of about the same size, then runs, each in its own process under
``/usr/bin/time -f %M`` (peak resident set, KiB):

- the WAV convolved with a 2400-tap impulse response (``--flip --padding full``);
- the volume filtered with a 3x3x3 Gaussian (``-k gaussian:0.8``, ``--as volume``);

with the default budget (slab by slab: the input is larger than ``--max-memory 1G`` needs) and
prints the peak RSS of each, the input size and the ratio, and the target from issue 5 (peak
RSS <= 512 MiB for a 1 GiB input).  Also checks, on a slice of each output, that the slab path
gave what the in-memory engine gives.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

TARGET_MIB = 512


def make_inputs(folder: Path, size_mib: int) -> tuple[Path, Path, Path]:
    """Write the WAV, the impulse response and the volume (skipped when they exist)."""
    wav = folder / f"big_{size_mib}.wav"
    ir = folder / "ir_2400.wav"
    npy = folder / f"big_{size_mib}.npy"
    rng = np.random.default_rng(0)
    if not ir.exists():
        taps = rng.standard_normal(2400) * np.exp(-np.arange(2400) / 400.0) * 0.05
        sf.write(ir, taps, 44100, subtype="FLOAT")
    if not wav.exists():
        frames = size_mib * (1 << 20) // 8  # stereo float32
        with sf.SoundFile(wav, "w", 44100, 2, subtype="FLOAT") as f:
            block = 1 << 20
            for start in range(0, frames, block):
                n = min(block, frames - start)
                f.write((rng.standard_normal((n, 2)) * 0.1).astype(np.float32))
    if not npy.exists():
        side = round((size_mib * (1 << 20) / 4) ** (1 / 3))
        out = np.lib.format.open_memmap(npy, "w+", np.float32, (side, side, side))
        for p in range(side):
            out[p] = rng.random((side, side), dtype=np.float32)
        out.flush()
        del out
    return wav, ir, npy


def peak_rss(cmd: list[str]) -> tuple[float, float, str]:
    """Run a command under /usr/bin/time; return (peak RSS MiB, seconds, stderr)."""
    t0 = time.perf_counter()
    res = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")
    kib = int(res.stderr.strip().splitlines()[-1])
    return kib / 1024, seconds, res.stderr


def check_wav(wav: Path, ir: Path, out: Path) -> float:
    """Compare the first second of the output with the in-memory engine."""
    import convcli

    x, _ = sf.read(wav, frames=44100 * 2, dtype="float32", always_2d=True)
    h, _ = sf.read(ir, dtype="float64")
    ref = convcli.convolve(x, h, flip=True, padding="full", channel_axis=1)[:44100]
    got, _ = sf.read(out, frames=44100, dtype="float32", always_2d=True)
    return float(np.max(np.abs(got - ref)))


def check_npy(npy: Path, out: Path) -> float:
    """Compare the first planes of the output with the in-memory engine."""
    import convcli

    x = np.load(npy, mmap_mode="r")
    y = np.load(out, mmap_mode="r")
    k = convcli.make_kernel("gaussian:0.8", 3)
    ref = convcli.convolve(np.array(x[:8]), k, pad_mode="reflect", padding="same")
    return float(np.max(np.abs(np.asarray(y[:3]) - ref[:3])))


def main() -> None:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--keep", action="store_true", help="keep the inputs for the next run")
    args = ap.parse_args()
    folder = Path(args.dir) / "convcli-bench-memory"
    folder.mkdir(parents=True, exist_ok=True)
    convcli_cmd = shutil.which("convcli") or sys.exit("convcli is not on PATH")
    wav, ir, npy = make_inputs(folder, args.size_mib)
    rows = []
    out_wav = folder / "out.wav"
    out_npy = folder / "out.npy"
    jobs = [
        (
            "WAV + 2400-tap IR",
            wav,
            [
                convcli_cmd,
                "filter",
                str(wav),
                "-k",
                str(ir),
                "--flip",
                "--padding",
                "full",
                "-o",
                str(out_wav),
                "--overwrite",
            ],
        ),
        (
            "npy volume, 3x3x3 gaussian",
            npy,
            [
                convcli_cmd,
                "filter",
                str(npy),
                "--as",
                "volume",
                "-k",
                "gaussian:0.8",
                "-o",
                str(out_npy),
                "--overwrite",
            ],
        ),
    ]
    for name, path, cmd in jobs:
        mib, seconds, _ = peak_rss(cmd)
        size = os.path.getsize(path) / (1 << 20)
        rows.append((name, size, mib, seconds))
    err_wav = check_wav(wav, ir, out_wav)
    err_npy = check_npy(npy, out_npy)
    print(f"{'job':<30} {'input MiB':>10} {'peak RSS MiB':>13} {'RSS/input':>10} {'s':>7}  target")
    for name, size, mib, seconds in rows:
        verdict = "PASS" if mib <= TARGET_MIB * size / 1024 else "MISS"
        print(
            f"{name:<30} {size:>10.0f} {mib:>13.0f} {mib / size:>10.2f} {seconds:>7.1f}  "
            f"<= {TARGET_MIB * size / 1024:.0f} MiB {verdict}"
        )
    print(f"max |slab - in-memory| on a slice: wav {err_wav:.2e}, npy {err_npy:.2e}")
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
