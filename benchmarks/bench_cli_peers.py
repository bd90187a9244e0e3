"""Whole jobs on files: ``convcli filter`` against ImageMagick, libvips, SoX and ffmpeg.

Usage::

    python benchmarks/bench_cli_peers.py [--quick] [--repeat 5]

Each job is one process reading a file and writing a file, timed wall-clock (median of
``--repeat``, contenders interleaved), on inputs made here: a 4096x4096 RGB PNG (``--quick``:
1024x1024) and a 10-minute stereo 16-bit WAV (``--quick``: 1 minute).  Peers that are not
installed are skipped (Debian: ``apt-get install imagemagick libvips-tools sox ffmpeg``).
convcli's modules are byte-compiled first, as ``pip install`` leaves them.
Each peer's output is compared with convcli's (interior pixels, or samples away from the
ends) so that the same work is being timed; the largest difference is printed.

Jobs:

- image, 3x3 binomial blur ([1 2 1; 2 4 2; 1 2 1]/16): ``convert -morphology Correlate``,
  ``vips conv``;
- image, 15x15 Gaussian (sigma 2.5, separable): ``convert -morphology Correlate``
  (``Gaussian`` kernel), ``vips gaussblur``;
- audio, 101-tap low-pass FIR: ``sox ... fir``, ``ffmpeg -af afir``;
- audio, 2400-tap impulse response (convolution reverb, ``--flip --padding full``: every
  tail sample kept): ``sox fir``, ``ffmpeg afir``;
- start-up: ``convcli --help``.

The ratio is convcli's median over the fastest peer's (target: at most 1.0).
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image


def timed(cmd: list[str]) -> float:
    """Run a command; return its wall time in seconds (it must succeed)."""
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr[-400:]}")
    return dt


def race(contenders: dict[str, list[str]], repeat: int) -> dict[str, float]:
    """Interleave the contenders ``repeat`` times; return each one's median."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, cmd in contenders.items():
            times[name].append(timed(cmd))
    return {name: statistics.median(ts) for name, ts in times.items()}


def imagemagick() -> str | None:
    """Return the real ImageMagick ``convert`` (some machines put a stand-in first on PATH)."""
    for cand in ("magick", "/usr/bin/convert", "convert"):
        path = shutil.which(cand)
        if path is None:
            continue
        res = subprocess.run([path, "-version"], capture_output=True, text=True, check=False)
        if "ImageMagick" in res.stdout:
            return path
    return None


def image_input(folder: Path, side: int) -> Path:
    """A photo-like RGB PNG: smooth gradients plus noise."""
    path = folder / f"photo_{side}.png"
    if not path.exists():
        rng = np.random.default_rng(0)
        r, c = np.mgrid[0:side, 0:side] / side
        base = np.stack([r * 200, c * 200, (r + c) * 100], axis=-1) + rng.normal(
            0, 12, (side, side, 3)
        )
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(path, compress_level=1)
    return path


def audio_input(folder: Path, seconds: int) -> tuple[Path, Path, Path, Path]:
    """A stereo PCM_16 WAV, a 101-tap low-pass (text and WAV) and a 2400-tap IR (WAV)."""
    import convcli

    wav = folder / f"music_{seconds}.wav"
    rng = np.random.default_rng(1)
    if not wav.exists():
        t = np.arange(seconds * 44100) / 44100
        x = 0.3 * np.sin(2 * np.pi * 220 * t)[:, None] + rng.normal(0, 0.05, (t.size, 2))
        sf.write(wav, x, 44100, subtype="PCM_16")
    taps = convcli.make_kernel("lowpass:cutoff=2000,taps=101", 1, rate=44100)
    txt = folder / "lp101.txt"
    np.savetxt(txt, taps)
    lp_wav = folder / "lp101.wav"
    sf.write(lp_wav, taps, 44100, subtype="FLOAT")
    ir = folder / "ir2400.wav"
    sf.write(
        ir,
        rng.standard_normal(2400) * np.exp(-np.arange(2400) / 300) * 0.05,
        44100,
        subtype="FLOAT",
    )
    return wav, txt, lp_wav, ir


def interior_diff(a: Path, b: Path, margin: int) -> float:
    """Largest difference between two images away from their borders."""
    x = np.asarray(Image.open(a).convert("RGB"), dtype=np.int32)
    y = np.asarray(Image.open(b).convert("RGB"), dtype=np.int32)
    if x.shape != y.shape:
        return float("nan")
    m = margin
    return float(np.max(np.abs(x[m:-m, m:-m] - y[m:-m, m:-m])))


def audio_diff(a: Path, b: Path, skip: int, lags: Sequence[int] = (0,)) -> str:
    """Largest difference between two WAVs (16-bit steps), away from the ends.

    Peers align and scale a filter's output their own way: SoX centres an FIR (as
    ``--padding same`` does), ffmpeg's ``afir`` is causal and, in some versions, scales its
    output (by sqrt 2 in ffmpeg 5.1 whatever ``gtype``).  ``b[n + lag]`` is compared with
    ``g * a[n]`` for each of ``lags``, ``g`` the least-squares gain; the best is reported,
    with its gain and lag when they are not 1 and 0.
    """
    x, _ = sf.read(a, dtype="int16", always_2d=True)
    y, _ = sf.read(b, dtype="int16", always_2d=True)
    best = (float("inf"), 1.0, 0)
    for lag in lags:
        lo, hi = skip + max(0, -lag), min(len(x), len(y) - lag) - skip
        if hi <= lo:
            continue
        xa = x[lo:hi].astype(np.float64)
        yb = y[lo + lag : hi + lag].astype(np.float64)
        gain = float(np.vdot(xa, yb) / max(np.vdot(xa, xa), 1e-12))
        if abs(gain - 1) < 1e-3:
            gain = 1.0
        diff = float(np.max(np.abs(yb - np.round(gain * xa))))
        best = min(best, (diff, gain, lag))
    diff, gain, lag = best
    text = f"{diff:.0f} LSB"
    if gain != 1.0:
        text += f" after a gain of {gain:.4f}"
    if lag:
        text += f" at a lag of {lag}"
    return text


def report(name: str, medians: dict[str, float], diffs: dict[str, str]) -> None:
    """Print one job's table rows."""
    peers = {k: v for k, v in medians.items() if k != "convcli"}
    best = min(peers.values()) if peers else float("nan")
    ratio = medians["convcli"] / best if peers else float("nan")
    verdict = "PASS" if ratio <= 1.0 else "MISS"
    print(f"\n{name}")
    for who, t in sorted(medians.items(), key=lambda kv: kv[1]):
        extra = f"  max diff {diffs[who]}" if who in diffs else ""
        print(f"  {who:<12} {t * 1000:9.0f} ms{extra}")
    if peers:
        print(f"  convcli / fastest peer = {ratio:.2f}  (target <= 1.0: {verdict})")


def image_jobs(
    folder: Path, side: int, repeat: int, convcli: str, have: dict[str, str | None]
) -> None:
    """Time the two image jobs."""
    png = image_input(folder, side)
    out = {name: folder / f"out_{name}.png" for name in ("convcli", "convert", "vips")}

    # image, 3x3 binomial blur
    def job(kernel: str) -> list[str]:
        return [convcli, "filter", str(png), "-k", kernel, "--pad-mode", "replicate"] + [
            "-o",
            str(out["convcli"]),
            "--overwrite",
        ]

    jobs: dict[str, list[str]] = {"convcli": job("[1 2 1; 2 4 2; 1 2 1]/16")}
    if have["convert"]:
        jobs["convert"] = [
            have["convert"],
            str(png),
            "-define",
            "convolve:scale=0.0625",  # a fraction such as 1/16 is not parsed as one
            "-morphology",
            "Correlate",
            "3x3: 1,2,1,2,4,2,1,2,1",
            str(out["convert"]),
        ]
    if have["vips"]:
        mask = folder / "binomial.mat"
        mask.write_text("3 3 16 0\n1 2 1\n2 4 2\n1 2 1\n")
        jobs["vips"] = [
            "vips",
            "conv",
            str(png),
            str(out["vips"]),
            str(mask),
            "--precision",
            "integer",
        ]
    medians = race(jobs, repeat)
    diffs = {w: f"{interior_diff(out['convcli'], out[w], 4):.0f}" for w in jobs if w != "convcli"}
    report(f"image {side}x{side} RGB PNG, 3x3 binomial blur", medians, diffs)

    # image, 15x15 gaussian
    jobs = {"convcli": job("gaussian:sigma=2.5,size=15")}
    if have["convert"]:
        jobs["convert"] = [
            have["convert"],
            str(png),
            "-morphology",
            "Correlate",
            "Gaussian:7x2.5",
            str(out["convert"]),
        ]
    if have["vips"]:
        jobs["vips"] = [
            "vips",
            "gaussblur",
            str(png),
            str(out["vips"]),
            "2.5",
            "--min-ampl",
            "0.01",
        ]
    medians = race(jobs, repeat)
    diffs = {w: f"{interior_diff(out['convcli'], out[w], 10):.0f}" for w in jobs if w != "convcli"}
    report(f"image {side}x{side} RGB PNG, 15x15 gaussian", medians, diffs)


def audio_jobs(
    folder: Path, seconds: int, repeat: int, convcli: str, have: dict[str, str | None]
) -> None:
    """Time the two audio jobs."""
    wav, txt, lp_wav, ir = audio_input(folder, seconds)
    aout = {name: folder / f"out_{name}.wav" for name in ("convcli", "sox", "ffmpeg")}
    for label, kernel_wav, kernel_txt, extra in (
        ("101-tap low-pass FIR", lp_wav, txt, ["--flip"]),
        ("2400-tap impulse response (reverb)", ir, None, ["--flip", "--padding", "full"]),
    ):
        jobs = {
            "convcli": [
                convcli,
                "filter",
                str(wav),
                "-k",
                str(kernel_wav),
                *extra,
                "-o",
                str(aout["convcli"]),
                "--overwrite",
            ]
        }
        if have["sox"]:
            coefs = kernel_txt
            if coefs is None:
                coefs = folder / "ir.txt"
                np.savetxt(coefs, sf.read(kernel_wav)[0])
            jobs["sox"] = ["sox", "-D", str(wav), str(aout["sox"]), "fir", str(coefs)]
        if have["ffmpeg"]:
            jobs["ffmpeg"] = [
                "ffmpeg",
                "-y",
                "-loglevel",
                "error",
                "-i",
                str(wav),
                "-i",
                str(kernel_wav),
                "-lavfi",
                "afir=gtype=none",
                "-c:a",
                "pcm_s16le",
                str(aout["ffmpeg"]),
            ]
        try:
            medians = race(jobs, repeat)
        except RuntimeError as exc:  # an ffmpeg without these afir options
            print(f"\n{label}: {exc}")
            jobs.pop("ffmpeg", None)
            medians = race(jobs, repeat)
        k = len(sf.read(kernel_wav)[0])
        lags = (0, (k - 1) // 2, k // 2, -((k - 1) // 2), -(k // 2))
        diffs = {
            w: audio_diff(aout["convcli"], aout[w], 3000, lags) for w in jobs if w != "convcli"
        }
        report(f"audio {seconds} s stereo PCM_16 WAV, {label}", medians, diffs)


def main() -> None:
    """Run every job and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--only", default="image,audio,startup", help="comma-separated: image, audio, startup"
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    convcli = shutil.which("convcli") or sys.exit("convcli is not on PATH")
    # Time what an installed package runs: pip byte-compiles it; an editable install (or
    # PYTHONDONTWRITEBYTECODE) would have every run compile convcli's modules again.
    import convcli as package

    compileall.compile_dir(str(Path(package.__file__).parent), quiet=1)
    have = {tool: shutil.which(tool) for tool in ("vips", "sox", "ffmpeg")}
    have["convert"] = imagemagick()
    print("peers found:", ", ".join(t for t, p in have.items() if p) or "none")
    side = 1024 if args.quick else 4096
    seconds = 60 if args.quick else 600
    repeat = 3 if args.quick else args.repeat
    with tempfile.TemporaryDirectory(prefix="convcli-bench-") as d:
        folder = Path(d)
        if "image" in only:
            image_jobs(folder, side, repeat, convcli, have)
        if "audio" in only:
            audio_jobs(folder, seconds, repeat, convcli, have)
        if "startup" in only:
            startup: Callable[[], float] = lambda: timed([convcli, "--help"])  # noqa: E731
            ts = [startup() for _ in range(10)]
            print(
                f"\nconvcli --help: median {statistics.median(ts) * 1000:.0f} ms (target < 300 ms)"
            )


if __name__ == "__main__":
    main()
