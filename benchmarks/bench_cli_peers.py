"""Whole jobs on files, the same work for every tool: convcli, libvips, ImageMagick, SoX, ffmpeg.

Usage::

    python benchmarks/bench_cli_peers.py [--quick] [--repeat 5] [--only JOBS] [--markdown]
                                         [--workdir DIR]

Each job is one process (or one batch) reading files and writing files, timed wall-clock:
every contender runs once first (a warm-up whose output is checked), then ``--repeat`` times
interleaved, in a rotating order; the table shows medians, and the peak resident memory
(``ru_maxrss`` of the process, from ``wait4``) of the runs.  convcli is driven only through
``convcli filter`` and its documented options; its modules are byte-compiled first, as
``pip install`` leaves them.

Every peer is set up to do convcli's work, and the script checks that it did:

- output format and settings: uncompressed TIFF; JPEG quality 95 with the input's chroma
  subsampling (the quantisation tables and sampling of every output are compared with
  convcli's); PNG at zlib level 1 with the row filter convcli's writer picked for most rows
  (read back from its output); WAV PCM_16.  Output sizes are printed side by side;
- the same kernel: the 3x3 binomial as an exact integer mask (/16); the Gaussian as the 19 taps
  of libvips's ``gaussmat`` for sigma 2.5 at ``min_ampl`` 0.001 (its widest), which is what
  ``gaussian:sigma=2.5,size=19`` builds; the audio kernels as the same taps for every tool;
- equal results: images away from the borders within 1 (8-bit) or, after a JPEG encode,
  within 45 dB PSNR of convcli's; audio within 1 LSB after each peer's lag.  A contender that
  fails is shown with ``≠`` and does not count as the fastest peer.

Jobs (``--only`` takes job names or the groups ``image,audio,batch,startup``): PNG, JPEG
and TIFF inputs of a photo-like 4096x4096 RGB image made here (``--quick``: 1024x1024);
10 minutes of stereo 16-bit WAV (``--quick``: 1 minute); a batch of 200 JPEG photos of 1-12
MP (``--quick``: 20 of 0.25-2 MP); start-up.  Inputs are kept in ``--workdir`` for the next
run.  Peers that are not installed are skipped (Debian: ``apt-get install libvips-tools
imagemagick sox ffmpeg``).  How each peer was aligned is in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image, JpegImagePlugin

PEERS = ("libvips", "ImageMagick", "SoX", "ffmpeg")
BINOMIAL = "[1 2 1; 2 4 2; 1 2 1]/16"
IM_BINOMIAL = ["-define", "convolve:scale=0.0625", "-morphology", "Correlate",
               "3x3: 1,2,1,2,4,2,1,2,1"]  # fmt: skip
SIGMA, GAUSS_RADIUS = 2.5, 9  # libvips gaussmat's width at min_ampl 0.001, its smallest
RATE = 44100
PNG_FILTERS = ("none", "sub", "up", "avg", "paeth")


# --------------------------------------------------------------------------- measuring


@dataclass
class Contender:
    """One way of doing a job: a command, what it writes, and what was measured."""

    peer: str  # the table's column: "convcli" or one of PEERS
    label: str  # the command, short, for the details
    cmd: list[str]
    out: Path  # the file (or folder, for a batch) it writes
    env: dict[str, str] | None = None
    short: str = ""  # names a second way of the same peer in the table's cell
    note: str = ""
    times: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)  # MiB
    same: bool = True
    check: str = ""
    size: int = 0
    tree_mib: float = 0.0  # all processes together (batch only)


def run_once(c: Contender, sample_tree: bool = False) -> None:
    """Run a contender once; record its wall time and peak RSS (raise if it fails).

    The peak is GNU time's ``%M`` (the largest resident set of the command or of any child
    it waited for).  ``wait4`` from this process would not do: a child's peak counts the
    pages it shared with this (large) Python process between fork and exec.
    """
    if c.out.is_dir():
        shutil.rmtree(c.out)
    elif c.out.exists():
        c.out.unlink()
    if c.out.suffix == "":
        c.out.mkdir(parents=True)
    env = {**os.environ, **c.env} if c.env else None
    with tempfile.NamedTemporaryFile() as mem, tempfile.TemporaryFile() as err:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", mem.name, *c.cmd]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        tree = 0.0
        if sample_tree:  # poll the sum of every process's RSS in the tree
            while proc.poll() is None:
                tree = max(tree, tree_rss_mib(proc.pid))
                time.sleep(0.1)
        proc.wait()
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-600:]
            raise RuntimeError(f"{c.label} failed ({proc.returncode}): {tail}")
        kib = int(Path(mem.name).read_text().split()[-1])
    c.times.append(dt)
    c.peaks.append(kib / 1024)
    c.tree_mib = max(c.tree_mib, tree)


def tree_rss_mib(root: int) -> float:
    """Sum the resident memory of a process and all its descendants (from /proc)."""
    parent, rss = {}, {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            statm = Path(entry.path, "statm").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[pid] = int(statm.split()[1]) * page
    keep, total = {root}, 0
    for pid in sorted(parent):  # children have larger pids, except after a wrap
        if pid in keep or parent[pid] in keep:
            keep.add(pid)
            total += rss.get(pid, 0)
    return total / 2**20


def race(contenders: list[Contender], repeat: int, sample_tree: bool = False) -> None:
    """Warm each contender up once (its output is then checked), then interleave the runs."""
    for c in contenders:
        run_once(c, sample_tree)
    for c in contenders:
        c.times.clear()
    for i in range(repeat):
        k = i % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            run_once(c)


# --------------------------------------------------------------------------- inputs


def fractal(rng: np.random.Generator, side: int, beta: float) -> np.ndarray:
    """Noise whose amplitude spectrum falls as 1/f**beta, mean 0, deviation 1."""
    fy = np.fft.fftfreq(side)[:, None]
    fx = np.fft.rfftfreq(side)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    spec = (rng.standard_normal(radius.shape) + 1j * rng.standard_normal(radius.shape)) / (
        radius**beta
    )
    spec[0, 0] = 0
    x = np.fft.irfft2(spec, s=(side, side))
    return ((x - x.mean()) / x.std()).astype(np.float32)


def photo(side: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: a 1/f scene, sky to ground, soft-edged shapes, sensor grain.

    It compresses like a photo (PNG at level 6: about half the raw bytes; JPEG q95: about
    a twelfth), not like noise.
    """
    from PIL import ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    lum = 110 + 38 * fractal(rng, side, 1.4)
    lum += 60 * (0.5 - np.linspace(0, 1, side, dtype=np.float32)[:, None])
    shapes = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(shapes)
    for _ in range(12):
        x, y = rng.uniform(0, side, 2)
        s = rng.uniform(side / 20, side / 6)
        draw.ellipse([x, y, x + s, y + s * rng.uniform(0.5, 1.5)], fill=int(rng.integers(40, 200)))
    lum = lum * 0.7 + np.asarray(shapes.filter(ImageFilter.GaussianBlur(1.2)), np.float32) * 0.5
    cb, cr = 10 * fractal(rng, side, 1.6), 10 * fractal(rng, side, 1.6)
    rgb = np.stack([lum + 1.40 * cr, lum - 0.34 * cb - 0.71 * cr, lum + 1.77 * cb], axis=-1)
    rgb += rng.normal(0, 2.0, rgb.shape).astype(np.float32)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def image_inputs(folder: Path, side: int) -> dict[str, Path]:
    """The photo as PNG (Pillow's default level), JPEG q95 4:2:0 and uncompressed TIFF."""
    paths = {ext: folder / f"photo_{side}.{ext}" for ext in ("png", "jpg", "tif")}
    if not all(p.exists() for p in paths.values()):
        im = Image.fromarray(photo(side))
        im.save(paths["png"])
        im.save(paths["jpg"], quality=95, subsampling=2)
        im.save(paths["tif"])
    return paths


def music(seconds: int) -> np.ndarray:
    """Stereo, music-like: a chord of slowly swelling tones panned apart, plus noise."""
    rng = np.random.default_rng(1)
    t = np.arange(seconds * RATE) / RATE
    x = np.zeros((t.size, 2))
    for freq, amp, pan in ((55, 0.15, 0.5), (220, 0.2, 0.3), (277.2, 0.12, 0.7),
                           (329.6, 0.12, 0.5), (440, 0.08, 0.2)):  # fmt: skip
        swell = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t)
        tone = amp * swell * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6))
        x += tone[:, None] * [1 - pan, pan]
    return x + rng.normal(0, 0.03, x.shape)


def audio_inputs(folder: Path, seconds: int) -> dict[str, Path]:
    """The WAV, and the kernels as WAV and text: a 101-tap low-pass, a 2400-tap reverb IR."""
    paths = {"wav": folder / f"music_{seconds}.wav"}
    if not paths["wav"].exists():
        sf.write(paths["wav"], music(seconds), RATE, subtype="PCM_16")
    n = np.arange(101) - 50
    lowpass = np.sinc(2 * 2000 / RATE * n) * np.hamming(101)
    rng = np.random.default_rng(2)
    kernels = {
        "fir101": lowpass / lowpass.sum(),
        "ir2400": rng.standard_normal(2400) * np.exp(-np.arange(2400) / 300) * 0.05,
    }
    for name, taps in kernels.items():
        paths[name] = folder / f"{name}.wav"
        sf.write(paths[name], taps, RATE, subtype="DOUBLE")
        paths[name + ".txt"] = folder / f"{name}.txt"
        np.savetxt(paths[name + ".txt"], taps, fmt="%.17g")
    return paths


def batch_inputs(folder: Path, count: int, mp_range: tuple[float, float], side: int) -> list[Path]:
    """``count`` JPEG photos (q90, 4:2:0), sizes spread evenly over ``mp_range`` megapixels.

    Each is a crop of the big photo, scaled down, turned or mirrored and tinted, with fresh
    grain, so no two are alike; the sizes follow the golden-ratio sequence (even spread,
    shuffled order).
    """
    sub = folder / f"photos_{count}_{side}"
    paths = [sub / f"img_{i:03d}.jpg" for i in range(count)]
    if all(p.exists() for p in paths):
        return paths
    sub.mkdir(exist_ok=True)
    base = Image.fromarray(photo(side, seed=3))
    rng = np.random.default_rng(4)
    lo, hi = mp_range
    for i, path in enumerate(paths):
        mp = lo + (hi - lo) * ((i * 0.6180339887) % 1)
        aspect = (4 / 3, 3 / 2, 16 / 9)[i % 3]
        w = int(round((mp * 1e6 * aspect) ** 0.5)) // 16 * 16
        h = int(round(mp * 1e6 / w)) // 16 * 16
        scale = rng.uniform(0.6, max(0.6, min(side / w, side / h)))  # < 1: scaled up
        cw, ch = int(w * scale), int(h * scale)
        x0, y0 = rng.integers(0, side - cw + 1), rng.integers(0, side - ch + 1)
        im = base.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.Resampling.BILINEAR)
        if i % 4 == 1:
            im = im.transpose(Image.Transpose.ROTATE_90)
        arr = np.asarray(im, np.float32) * rng.uniform(0.85, 1.15, 3).astype(np.float32)
        arr += rng.normal(0, 1.5, arr.shape).astype(np.float32)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=90)
    return paths


# --------------------------------------------------------------------------- what was written


def png_filters(path: Path) -> tuple[Counter[str], int]:
    """Count the row filters of an 8-bit PNG; also return the zlib header's FLEVEL (0 = level 1)."""
    data, pos, idat = path.read_bytes(), 8, []
    width = height = channels = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, _, colour = struct.unpack(">IIBB", body[:10])
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    stream = b"".join(idat)
    raw = np.frombuffer(zlib.decompress(stream), np.uint8)
    kinds = raw[:: 1 + width * channels][:height]
    return Counter(PNG_FILTERS[k] for k in kinds), stream[1] >> 6


def settings(path: Path) -> str:
    """What a written file says about how it was encoded, for the details."""
    suffix = path.suffix.lower()
    if suffix == ".png":
        counts, flevel = png_filters(path)
        rows = ", ".join(f"{k} {v}" for k, v in counts.most_common())
        return f"zlib FLEVEL {flevel}, filters: {rows}"
    if suffix in (".jpg", ".jpeg"):
        with Image.open(path) as im:
            sampling = ("4:4:4", "4:2:2", "4:2:0")[JpegImagePlugin.get_sampling(im)]
            tables = sum(int(np.sum(t)) for t in im.quantization.values())
            return f"{sampling}, quant-table sum {tables}"
    if suffix in (".tif", ".tiff"):
        with Image.open(path) as im:
            return f"TIFF compression {im.info.get('compression')}"
    if suffix == ".wav":
        info = sf.info(str(path))
        return f"{info.subtype}, {info.frames} frames"
    return ""


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file in a folder."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size if path.exists() else 0


# --------------------------------------------------------------------------- checks


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int32)


def image_check(ref: Path, got: Path, margin: int) -> tuple[bool, str]:
    """Lossless outputs: interior pixels within 1; JPEG outputs: within 45 dB PSNR."""
    a, b = pixels(ref), pixels(got)
    if a.shape != b.shape:
        return False, f"shape {b.shape} != {a.shape}"
    d = np.abs(a - b)[margin:-margin, margin:-margin]
    text = f"max |diff| {d.max()}, {100 * np.mean(d != 0):.1f}% differ"
    if ref.suffix.lower() != ".jpg":
        return bool(d.max() <= 1), text
    psnr = 10 * np.log10(255**2 / max(float(np.mean(d.astype(np.float64) ** 2)), 1e-12))
    same_settings = settings(ref) == settings(got)
    text += f", PSNR {psnr:.1f} dB" + ("" if same_settings else ", settings differ")
    return bool(psnr >= 45 and same_settings), text


def audio_check(ref: Path, got: Path, taps: int) -> tuple[bool, str]:
    """Samples within 1 LSB, away from the ends, at the best of the lags peers use."""
    a, _ = sf.read(ref, dtype="int16", always_2d=True)
    b, _ = sf.read(got, dtype="int16", always_2d=True)
    lags = sorted({0, 1, -1, (taps - 1) // 2, taps // 2, -((taps - 1) // 2), -(taps // 2)})
    best = (float("inf"), 0.0, 0)
    for lag in lags:
        lo, hi = 3000 + max(0, -lag), min(len(a), len(b) - lag) - 3000
        x, y = a[lo:hi].astype(np.float64), b[lo + lag : hi + lag].astype(np.float64)
        gain = float(np.vdot(x, y) / max(np.vdot(x, x), 1e-12))
        best = min(best, (float(np.max(np.abs(y - x))), gain, lag))
    diff, gain, lag = best
    text = f"max |diff| {diff:.0f} LSB at lag {lag}, gain {gain:.4f}, {len(b)} frames"
    return diff <= 1 and len(a) == len(b), text


# --------------------------------------------------------------------------- the jobs


@dataclass
class Ctx:
    """What every job's contenders are built from."""

    convcli: str
    tools: dict[str, str | None]
    work: Path
    images: dict[str, Path] = field(default_factory=dict)
    audio: dict[str, Path] = field(default_factory=dict)
    photos: list[Path] = field(default_factory=list)
    png_filter: str = "up"
    png_note: str = ""
    ffmpeg_gain: float = 1.0


@dataclass(frozen=True)
class ImageJob:
    key: str
    title: str
    src: str  # png, jpg, tif
    dst: str
    kernel: str  # binomial, gauss


@dataclass(frozen=True)
class AudioJob:
    key: str
    title: str
    kernel: str  # fir101, ir2400
    full: bool  # --padding full: every tail sample kept


@dataclass(frozen=True)
class BatchJob:
    key: str
    title: str


@dataclass(frozen=True)
class StartupJob:
    key: str
    title: str


JOBS: list[ImageJob | AudioJob | BatchJob | StartupJob] = [
    ImageJob("png-tif", "PNG → TIFF, 3×3 binomial", "png", "tif", "binomial"),
    ImageJob("png-tif-gauss", "PNG → TIFF, Gaussian σ 2.5 (19 taps)", "png", "tif", "gauss"),
    ImageJob("jpg-jpg", "JPEG → JPEG q95, 3×3 binomial", "jpg", "jpg", "binomial"),
    ImageJob("tif-tif", "TIFF → TIFF, 3×3 binomial", "tif", "tif", "binomial"),
    ImageJob("png-png", "PNG → PNG (zlib 1), 3×3 binomial", "png", "png", "binomial"),
    AudioJob("wav-fir", "WAV → WAV, 101-tap FIR", "fir101", full=False),
    AudioJob("wav-reverb", "WAV → WAV, 2400-tap reverb, full", "ir2400", full=True),
    BatchJob("batch", "batch of JPEG photos → JPEG q95, 3×3"),
    StartupJob("startup", "start-up (--help / -version)"),
]


def gauss_taps() -> np.ndarray:
    """libvips's ``gaussmat`` for SIGMA at min_ampl 0.001, float: exp(-x²/2σ²), normalised."""
    x = np.arange(-GAUSS_RADIUS, GAUSS_RADIUS + 1)
    taps = np.exp(-(x * x) / (2 * SIGMA * SIGMA))
    return taps / taps.sum()


def vips_target(out: Path, fmt: str, ctx: Ctx) -> str:
    """libvips's output with convcli's settings, as ``file[options]``."""
    opts = {
        "tif": "compression=none",
        "jpg": "Q=95,subsample-mode=on,optimize-coding=false",  # on = 4:2:0
        "png": f"compression=1,filter={ctx.png_filter}",
    }[fmt]
    return f"{out}[{opts}]"


def im_settings(fmt: str) -> list[str]:
    """ImageMagick's output settings for convcli's (see benchmarks/README.md)."""
    return {
        "tif": ["-compress", "None"],
        "jpg": ["-quality", "95", "-sampling-factor", "2x2", "-define",
                "jpeg:optimize-coding=false", "-define", "jpeg:dct-method=islow"],
        # IM 6.9.11 writes no filter for compression-filter=1..4: 5 (adaptive) is nearest.
        "png": ["-define", "png:compression-level=1", "-define", "png:compression-filter=5",
                "-define", "png:compression-strategy=0"],
    }[fmt]  # fmt: skip


def vips_variants(kernel: str, src: Path, out: Path, fmt: str, ctx: Ctx) -> list[Contender]:
    """libvips's ways of doing the kernel; one whose numbers differ is shown, not counted."""
    if kernel == "binomial":
        mat = ctx.work / "binomial.mat"
        mat.write_text("3 3 16 0\n1 2 1\n2 4 2\n1 2 1\n")
        cmd = ["vips", "conv", str(src), vips_target(out, fmt, ctx), str(mat), "--precision",
               "integer"]  # fmt: skip
        return [Contender("libvips", "vips conv --precision integer", cmd, out)]
    ints = np.rint(gauss_taps() * 4096).astype(int)
    mat = ctx.work / "gauss19.mat"
    mat.write_text(f"{ints.size} 1 {ints.sum()} 0\n" + " ".join(map(str, ints)) + "\n")
    fast = out.with_name(out.stem + "_vector" + out.suffix)
    return [
        Contender("libvips", "VIPS_NOVECTOR=1 vips convsep --precision integer (taps x4096)",
                  ["vips", "convsep", str(src), vips_target(out, fmt, ctx), str(mat),
                   "--precision", "integer"], out, env={"VIPS_NOVECTOR": "1"},
                  short="convsep"),
        Contender("libvips", "vips gaussblur 2.5 --min-ampl 0.001 (vector path)",
                  ["vips", "gaussblur", str(src), vips_target(fast, fmt, ctx), str(SIGMA),
                   "--min-ampl", "0.001"], fast, short="gaussblur"),
    ]  # fmt: skip


def im_kernel(kernel: str) -> list[str]:
    """ImageMagick's arguments for the kernel: the 3x3 mask, or the 19 taps along each axis."""
    if kernel == "binomial":
        return IM_BINOMIAL
    taps = ",".join(f"{t:.17g}" for t in gauss_taps())
    n = 2 * GAUSS_RADIUS + 1
    return ["-morphology", "Convolve", f"{n}x1: {taps};1x{n}: {taps}"]  # applied in turn


def image_contenders(job: ImageJob, ctx: Ctx) -> list[Contender]:
    """convcli, libvips and ImageMagick on one image job."""
    src = ctx.images[job.src]
    kernel = BINOMIAL if job.kernel == "binomial" else f"gaussian:sigma={SIGMA},size=19"

    def out(who: str) -> Path:
        return ctx.work / "out" / f"{job.key}_{who}.{job.dst}"

    found = [
        Contender("convcli", f"convcli filter -k '{kernel}' --pad-mode replicate",
                  [ctx.convcli, "filter", str(src), "-k", kernel, "--pad-mode", "replicate",
                   "-o", str(out("convcli")), "--overwrite", "-q"], out("convcli"))
    ]  # fmt: skip
    if ctx.tools["vips"]:
        found += vips_variants(job.kernel, src, out("vips"), job.dst, ctx)
    if ctx.tools["convert"]:
        cmd = [ctx.tools["convert"], str(src), *im_kernel(job.kernel), *im_settings(job.dst)]
        label = "convert -morphology " + ("Correlate 3x3" if job.kernel == "binomial" else
                                          "Convolve 19x1;1x19")  # fmt: skip
        note = "PNG filter adaptive (IM 6.9 ignores 1-4)" if job.dst == "png" else ""
        found.append(Contender("ImageMagick", label, [*cmd, str(out("im"))], out("im"), note=note))
    return found


def audio_contenders(job: AudioJob, ctx: Ctx) -> list[Contender]:
    """convcli, SoX and ffmpeg on one audio job."""
    wav, kern, txt = ctx.audio["wav"], ctx.audio[job.kernel], ctx.audio[job.kernel + ".txt"]
    taps = len(np.loadtxt(txt))
    full = ["--padding", "full"] if job.full else []

    def out(who: str) -> Path:
        return ctx.work / "out" / f"{job.key}_{who}.wav"

    found = [
        Contender("convcli", f"convcli filter -k {kern.name} --flip {' '.join(full)}".strip(),
                  [ctx.convcli, "filter", str(wav), "-k", str(kern), "--flip", *full,
                   "-o", str(out("convcli")), "--overwrite", "-q"], out("convcli"))
    ]  # fmt: skip
    if ctx.tools["sox"]:
        pad = ["pad", f"{(taps - 1) // 2}s", f"{taps // 2}s"] if job.full else []
        cmd = ["sox", "-D", str(wav), str(out("sox")), *pad, "fir", str(txt)]
        found.append(Contender("SoX", f"sox -D {' '.join(pad)} fir".replace("  ", " "), cmd,
                               out("sox")))  # fmt: skip
    if ctx.tools["ffmpeg"]:
        graph = "afir=gtype=none"
        if job.full:
            graph = f"[0:a]apad=pad_len={taps - 1}[a];[a][1:a]{graph}"
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), "-i",
               str(ctx.audio[job.kernel + ".ffmpeg"]), "-lavfi", graph, "-c:a", "pcm_s16le",
               str(out("ffmpeg"))]  # fmt: skip
        found.append(Contender("ffmpeg", f"ffmpeg -lavfi '{graph}'", cmd, out("ffmpeg")))
    return found


def batch_contenders(job: BatchJob, ctx: Ctx) -> list[Contender]:
    """convcli -j 0 against vips in a loop and two at a time, and mogrify."""
    files = [str(p) for p in ctx.photos]

    def out(who: str) -> Path:
        return ctx.work / "out" / f"batch_{who}"

    found = [
        Contender("convcli", "convcli filter *.jpg --out-dir out -j 0",
                  [ctx.convcli, "filter", *files, "-k", BINOMIAL, "--pad-mode", "replicate",
                   "--out-dir", str(out("convcli")), "-j", "0", "--overwrite", "-q"],
                  out("convcli"))
    ]  # fmt: skip
    if ctx.tools["vips"]:
        mat = ctx.work / "binomial.mat"
        mat.write_text("3 3 16 0\n1 2 1\n2 4 2\n1 2 1\n")
        target = vips_target(Path("${f##*/}"), "jpg", ctx)
        one = f'vips conv "$f" "{out("vips")}/{target}" {mat} --precision integer'
        loop = ["sh", "-c", f'for f in "$@"; do {one} || exit 1; done', "sh", *files]
        listing = ctx.work / "photos.list"
        listing.write_text("\0".join(files) + "\0")
        two = ["xargs", "-a", str(listing), "-0", "-n", "1", "-P", "2", "sh", "-c",
               f'f=$1; {one.replace(str(out("vips")), str(out("vips2")))}', "sh"]  # fmt: skip
        found += [
            Contender("libvips", "xargs -P 2 vips conv", two, out("vips2"), short="-P 2"),
            Contender("libvips", "for f in *.jpg; do vips conv ...; done", loop, out("vips"),
                      short="loop"),
        ]  # fmt: skip
    if shutil.which("mogrify") and ctx.tools["convert"]:
        mogrify = str(Path(ctx.tools["convert"]).with_name("mogrify"))
        cmd = [mogrify, "-path", str(out("im")), *IM_BINOMIAL, *im_settings("jpg"), *files]
        found.append(Contender("ImageMagick", "mogrify -path out", cmd, out("im")))
    return found


def startup_contenders(job: StartupJob, ctx: Ctx) -> list[Contender]:
    """Each tool starting and printing its usage or version."""
    none = ctx.work / "out" / "nothing.txt"
    found = [Contender("convcli", "convcli --help", [ctx.convcli, "--help"], none)]
    for peer, tool, flag in (("libvips", "vips", "--version"), ("ImageMagick", "convert",
                             "-version"), ("SoX", "sox", "--version"), ("ffmpeg", "ffmpeg",
                             "-version")):  # fmt: skip
        exe = ctx.tools[tool]
        if exe:
            found.append(Contender(peer, f"{tool} {flag}", [exe, flag], none))
    return found


# --------------------------------------------------------------------------- checking a job


def verify(job: ImageJob | AudioJob | BatchJob | StartupJob, cs: list[Contender], ctx: Ctx) -> None:
    """Compare every peer's output with convcli's; note sizes and encoding settings."""
    ref = cs[0]
    for c in cs:
        c.size = size_of(c.out)
        if isinstance(job, (ImageJob, AudioJob)):
            c.note = "; ".join(filter(None, [settings(c.out), c.note]))
        if c is ref or isinstance(job, StartupJob):
            continue
        if isinstance(job, ImageJob):
            margin = 2 if job.kernel == "binomial" else GAUSS_RADIUS + 1
            c.same, c.check = image_check(ref.out, c.out, margin)
        elif isinstance(job, AudioJob):
            taps = len(np.loadtxt(ctx.audio[job.kernel + ".txt"]))
            c.same, c.check = audio_check(ref.out, c.out, taps)
        else:
            c.same, c.check = batch_check(ref.out, c.out)


def batch_check(ref: Path, got: Path, samples: int = 5) -> tuple[bool, str]:
    """Check a few outputs spread over the batch; report the worst."""
    names = sorted(p.name for p in ref.iterdir())
    if sorted(p.name for p in got.iterdir()) != names:
        return False, "not the same files"
    picks = names[:: max(1, len(names) // samples)][:samples]
    results = [image_check(ref / n, got / n, 2) for n in picks]
    worst = min(results, key=lambda r: (r[0], -float(r[1].split("PSNR ")[1].split()[0])))
    return all(r[0] for r in results), f"{len(picks)} checked, worst: {worst[1]}"


# --------------------------------------------------------------------------- reporting


def seconds(t: float) -> str:
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"


def table_row(title: str, cs: list[Contender]) -> list[str]:
    """One row: times per column, the ratio, output sizes, peak memory."""
    med = {id(c): statistics.median(c.times) for c in cs}
    conv = cs[0]
    cells, chosen = [seconds(med[id(conv)])], [conv]
    for peer in PEERS:
        mine = sorted((c for c in cs if c.peer == peer), key=lambda c: (not c.same, med[id(c)]))
        if not mine:
            cells.append("")
            continue
        best, rest = mine[0], mine[1:]
        cell = seconds(med[id(best)]) + ("" if best.same else " ≠")
        if rest:  # name every way: "-P 2: 12.1 s (loop 20.3 s)"
            cell = f"{best.short}: {cell}" if best.short else cell
            cell += "".join(
                f" ({r.short} {seconds(med[id(r)])}{'' if r.same else ' ≠'})" for r in rest
            )
        cells.append(cell)
        chosen.append(best)
    counted = [c for c in chosen[1:] if c.same]
    fastest = min(counted, key=lambda c: med[id(c)], default=None)
    ratio = f"{med[id(conv)] / med[id(fastest)]:.2f}" if fastest else ""
    sizes = [c.size for c in chosen if c.size]
    size = " / ".join(f"{s / 1e6:.1f}" for s in sizes)
    if sizes and max(sizes) > 1.05 * min(sizes):
        size += " (differ)"
    if conv.tree_mib:  # a batch: every process at once (sampled), not one process's peak
        lightest = min(counted, key=lambda c: c.tree_mib, default=None)
        peak = f"{conv.tree_mib:.0f}"
        if lightest:
            peak += f" vs {lightest.tree_mib:.0f} ({lightest.peer}), all processes"
    else:
        lightest = min(counted, key=lambda c: max(c.peaks), default=None)
        peak = f"{max(conv.peaks):.0f}"
        if lightest:
            peak += f" vs {max(lightest.peaks):.0f} ({lightest.peer})"
    return [title, *cells, ratio, size, peak]


HEADER = ["job", "convcli", *PEERS, "ratio", "output MB (convcli / peers)", "peak MiB"]


def print_table(rows: list[list[str]], markdown: bool) -> None:
    """Print the rows, aligned, or as a Markdown table."""
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    for r in [HEADER, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def print_details(title: str, cs: list[Contender]) -> None:
    """Each contender: median and spread, peak memory, size, check and settings."""
    print(f"\n{title}", flush=True)
    for c in sorted(cs, key=lambda c: statistics.median(c.times)):
        ts = c.times
        mark = "" if c.same else " ≠ NOT THE SAME RESULT"
        print(f"  {c.peer:<11} {seconds(statistics.median(ts)):>9} "
              f"[{seconds(min(ts))}-{seconds(max(ts))}] {max(c.peaks):6.0f} MiB "
              f"{c.size / 1e6:8.2f} MB  {c.label}{mark}")  # fmt: skip
        tree = f"all processes together {c.tree_mib:.0f} MiB" if c.tree_mib else ""
        for extra in (c.check, c.note, tree):
            if extra:
                print(f"  {'':<11} {extra}")


# --------------------------------------------------------------------------- set-up


def find_tools() -> dict[str, str | None]:
    """The peers on PATH; ImageMagick's real convert (some machines put a stand-in first)."""
    tools: dict[str, str | None] = {t: shutil.which(t) for t in ("vips", "sox", "ffmpeg")}
    tools["convert"] = None
    for cand in ("magick", "/usr/bin/convert", "convert"):
        path = shutil.which(cand)
        if (
            path
            and "ImageMagick"
            in subprocess.run(
                [path, "-version"], capture_output=True, text=True, check=False
            ).stdout
        ):
            tools["convert"] = path
            break
    return tools


def probe_png_filter(ctx: Ctx) -> None:
    """Run convcli's PNG writer once on the input; the peers get the filter it used most."""
    probe = ctx.work / "out" / "probe.png"
    subprocess.run([ctx.convcli, "filter", str(ctx.images["png"]), "-k", BINOMIAL, "-o",
                    str(probe), "--overwrite", "-q"], check=True)  # fmt: skip
    counts, flevel = png_filters(probe)
    ctx.png_filter = max(("sub", "up"), key=lambda f: counts.get(f, 0))
    rows = ", ".join(f"{k} {v}" for k, v in counts.most_common())
    ctx.png_note = f"convcli's PNG rows: {rows} (FLEVEL {flevel}); peers get '{ctx.png_filter}'"


def check_gauss_taps() -> str:
    """Say whether convcli's gaussian:sigma=2.5,size=19 is libvips's 19 float taps."""
    try:
        import convcli

        k = convcli.make_kernel(f"gaussian:sigma={SIGMA},size=19", 2)
    except Exception as exc:  # the library's API may move; the CLI is what is timed
        return f"gaussian taps not checked ({exc})"
    diff = float(np.max(np.abs(k - np.outer(gauss_taps(), gauss_taps()))))
    return f"convcli's gaussian:sigma=2.5,size=19 vs libvips gaussmat taps: max diff {diff:.1e}"


def calibrate_ffmpeg(ctx: Ctx) -> None:
    """Measure afir's output gain on a short clip; give ffmpeg the kernels divided by it."""
    rng = np.random.default_rng(5)
    clip, got = ctx.work / "clip.wav", ctx.work / "out" / "clip_ffmpeg.wav"
    x = np.round(rng.normal(0, 3000, (RATE // 2, 2)))
    sf.write(clip, x.astype(np.int16), RATE, subtype="PCM_16")
    h = np.loadtxt(ctx.audio["fir101.txt"])
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(clip), "-i",
                    str(ctx.audio["fir101"]), "-lavfi", "afir=gtype=none", "-c:a", "pcm_s16le",
                    str(got)], check=True)  # fmt: skip
    y, _ = sf.read(got, dtype="float64", always_2d=True)
    ref = np.stack([np.convolve(x[:, i], h)[: len(y)] for i in range(2)], axis=1) / 32768
    ctx.ffmpeg_gain = float(np.vdot(ref, y) / np.vdot(ref, ref))
    for name in ("fir101", "ir2400"):
        taps = np.loadtxt(ctx.audio[name + ".txt"]) / ctx.ffmpeg_gain
        ctx.audio[name + ".ffmpeg"] = ctx.work / f"{name}_ffmpeg.wav"
        sf.write(ctx.audio[name + ".ffmpeg"], taps, RATE, subtype="DOUBLE")


def prepare(jobs: list, ctx: Ctx, quick: bool) -> list[str]:
    """Make the inputs the chosen jobs need; return lines saying what they are."""
    lines, side = [], 1024 if quick else 4096
    if any(isinstance(j, ImageJob) for j in jobs):
        ctx.images = image_inputs(ctx.work, side)
        sizes = ", ".join(f"{k} {v.stat().st_size / 1e6:.1f} MB" for k, v in ctx.images.items())
        lines.append(f"image: {side}x{side} RGB photo-like ({sizes})")
        if any(isinstance(j, ImageJob) and j.dst == "png" for j in jobs):
            probe_png_filter(ctx)
            lines.append(ctx.png_note)
        lines.append(check_gauss_taps())
    if any(isinstance(j, AudioJob) for j in jobs):
        seconds_ = 60 if quick else 600
        ctx.audio = audio_inputs(ctx.work, seconds_)
        lines.append(f"audio: {seconds_} s stereo PCM_16 44.1 kHz, music-like")
        if ctx.tools["ffmpeg"]:
            calibrate_ffmpeg(ctx)
            lines.append(f"ffmpeg afir's gain measured {ctx.ffmpeg_gain:.4f}: it gets the "
                         "kernels divided by it")  # fmt: skip
    if any(isinstance(j, BatchJob) for j in jobs):
        count, mp = (20, (0.25, 2.0)) if quick else (200, (1.0, 12.0))
        ctx.photos = batch_inputs(ctx.work, count, mp, 2048 if quick else 4096)
        total = sum(Image.open(p).size[0] * Image.open(p).size[1] for p in ctx.photos) / 1e6
        mb = sum(p.stat().st_size for p in ctx.photos) / 1e6
        lines.append(f"batch: {count} JPEG q90 4:2:0 photos, {mp[0]}-{mp[1]} MP, "
                     f"{total:.0f} MP and {mb:.0f} MB in all")  # fmt: skip
    return lines


# --------------------------------------------------------------------------- main

BUILDERS: dict[type, Callable] = {
    ImageJob: image_contenders,
    AudioJob: audio_contenders,
    BatchJob: batch_contenders,
    StartupJob: startup_contenders,
}
GROUPS = {ImageJob: "image", AudioJob: "audio", BatchJob: "batch", StartupJob: "startup"}


def byte_compile() -> str:
    """Compile convcli's modules as ``pip install`` does; return convcli's executable."""
    spec = importlib.util.find_spec("convcli")
    exe = shutil.which("convcli")
    if spec is None or spec.origin is None or exe is None:
        sys.exit("convcli is not installed (pip install -e .)")
    # An editable install under PYTHONDONTWRITEBYTECODE would compile every module per run.
    compileall.compile_dir(str(Path(spec.origin).parent), quiet=1)
    return exe


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    """Run the chosen jobs; print the details, then one table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small inputs, a smoke test")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs (5; --quick: 3)")
    ap.add_argument("--only", default="image,audio,batch,startup",
                    help="job names or groups: " + ",".join(j.key for j in JOBS))  # fmt: skip
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--workdir", type=Path,
                    default=Path(tempfile.gettempdir()) / "convcli-bench-peers")  # fmt: skip
    args = ap.parse_args()
    repeat = args.repeat or (3 if args.quick else 5)
    only = set(args.only.split(","))
    jobs = [j for j in JOBS if j.key in only or GROUPS[type(j)] in only]
    (args.workdir / "out").mkdir(parents=True, exist_ok=True)
    ctx = Ctx(convcli=byte_compile(), tools=find_tools(), work=args.workdir)
    found = [t for t, p in ctx.tools.items() if p]
    print("peers found:", ", ".join(found) or "none", "| repeat:", repeat, flush=True)
    for line in prepare(jobs, ctx, args.quick):
        print(line, flush=True)
    before, rows = load(), []
    for job in jobs:
        cs = BUILDERS[type(job)](job, ctx)
        race(cs, repeat, sample_tree=isinstance(job, BatchJob))
        verify(job, cs, ctx)
        print_details(job.title, cs)
        rows.append(table_row(job.title, cs))
    print(f"\nload before: {before}\nload after:  {load()}")
    print(f"medians of {repeat} interleaved runs; ≠ = not the same result (not counted)\n")
    print_table(rows, args.markdown)


if __name__ == "__main__":
    main()
