"""Peak memory of the video and scientific-TIFF row readers and block writers (issue 12).

Usage::

    python benchmarks/bench_volumes.py [--quick] [--cli] [--only video,tiff] [--dir /tmp] [--keep]

Writes (once, into ``--dir``) an H.264 MP4 of about 2 GB decoded (1280x720 RGB, 750 frames at
25 fps, with an AAC track) and a 4 GiB uint16 BigTIFF stack (512 planes of 2048x2048), then,
each in its own process, reads it slab by slab (``--slab-mib``, default 8) with the family's
row reader (``av_video.open_video``, ``tifffile_tiff.open_tiff``), filters it with a 3-frame
box along axis 0 (``[1/3, 1/3, 1/3]`` across frames or planes, through
``convcli.jobs.stream.correlate_rows``: the engine on slabs with a halo, reflect padding),
casts each slab back to the input's type and hands it to the family's block writer
(``video_writer``, ``tiff_writer``: H.264 crf 18 with the audio copied; a BigTIFF staged and
written page by page). It prints each job's peak resident set (``ru_maxrss`` of that process),
its time, the decoded size and the ratio, against the target of issue 12 (peak RSS <= 512 MiB),
and checks a window of the output against the whole-array engine on the same input frames.

``--quick`` uses 1/10 of the sizes (about 200 MB decoded, 410 MiB of TIFF) as a smoke test.
``--cli`` also runs each job as a user would, ``convcli filter SRC -k "[1|1|1]/3" -o DST``
with the default options, and reports that process's peak resident set (``os.wait4``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from convcli.io.rows import RowSource
from convcli.jobs.stream import correlate_rows

TARGET_MIB = 512
KERNEL = np.full((3, 1, 1), 1.0 / 3.0)


# --- inputs ------------------------------------------------------------------------------------


def frame(t: int, rows: int, cols: int) -> np.ndarray:
    """A synthetic 8-bit RGB frame: moving gradients and bars (codecs keep them compactly)."""
    r = np.arange(rows, dtype=np.int32)[:, None]
    c = np.arange(cols, dtype=np.int32)[None, :]
    red = (r + 2 * t) % 256 + 0 * c
    green = (c + 3 * t) % 256 + 0 * r
    blue = (((r // 16 + c // 16 + t // 4) % 2) * 200 + 20).astype(np.int32)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def make_video(path: Path, frames: int, rows: int, cols: int) -> None:
    """Write the MP4 with PyAV, frame by frame (x264 veryfast, an 8 kHz AAC track)."""
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"crf": "23", "preset": "veryfast"})
        v.width, v.height, v.pix_fmt = cols, rows, "yuv420p"
        a = out.add_stream("aac", rate=8000)
        a.layout = "mono"
        samples = 0
        for t in range(frames):
            vf = av.VideoFrame.from_ndarray(frame(t, rows, cols), format="rgb24")
            vf.pts = t
            for p in v.encode(vf):
                out.mux(p)
            while samples < (t + 1) * 8000 // 25:
                tone = np.sin(np.arange(samples, samples + 1024) * 0.05).astype(np.float32)
                af = av.AudioFrame.from_ndarray(tone[None] * 0.2, format="fltp", layout="mono")
                af.sample_rate, af.pts = 8000, samples
                samples += 1024
                for p in a.encode(af):
                    out.mux(p)
        for stream in (v, a):
            for p in stream.encode():
                out.mux(p)


def plane(z: int, side: int) -> np.ndarray:
    """A synthetic uint16 plane."""
    r = np.arange(side, dtype=np.uint32)[:, None]
    c = np.arange(side, dtype=np.uint32)[None, :]
    return ((r * 7 + c * 3 + z * 101) % 60000).astype(np.uint16)


def make_bigtiff(path: Path, planes: int, side: int) -> None:
    """Write the BigTIFF with tifffile from a generator of planes (never whole in memory)."""
    import tifffile

    tifffile.imwrite(
        path,
        (plane(z, side) for z in range(planes)),
        shape=(planes, side, side),
        dtype=np.uint16,
        bigtiff=True,
        photometric="minisblack",
        metadata={"axes": "ZYX"},
    )


# --- the round trip, in a child process ------------------------------------------------------


class Source(RowSource):
    """A family's row reader as a :class:`convcli.io.rows.RowSource`."""

    def __init__(self, rows) -> None:
        self.rows, self.shape, self.dtype = rows, rows.shape, rows.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.rows.read(start, stop)


def round_trip(kind: str, src: Path, dst: Path, slab_mib: float) -> dict:
    """Read slab by slab, filter with the 3-frame box, cast and write; report the peak RSS."""
    if kind == "video":
        from convcli.io import av_video

        rows = av_video.open_video(src, keep=2)
        open_writer = av_video.video_writer
    else:
        from convcli.io import tifffile_tiff

        rows = tifffile_tiff.open_tiff(src)
        open_writer = tifffile_tiff.tiff_writer
    info = np.iinfo(rows.dtype)
    t0 = time.perf_counter()
    with rows:
        writer = open_writer(dst, rows.signal, overwrite=True)

        def write(o0: int, block: np.ndarray) -> None:
            writer.write(np.clip(np.rint(block), info.min, info.max).astype(rows.dtype))

        with writer:
            correlate_rows(
                Source(rows),
                KERNEL,
                write,
                pad_mode="reflect",
                channel_axis=3 if kind == "video" else None,
                slab_bytes=int(slab_mib * (1 << 20)),
            )
        extra = {
            "decoded": getattr(rows, "decoded", None),
            "restarts": getattr(rows, "restarts", None),
        }
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shape = list(rows.shape)
    return {"peak_mib": peak, "seconds": seconds, "shape": shape, **extra}


def check(kind: str, src: Path, dst: Path) -> float:
    """Largest |output - whole-array engine| on frames 100..103 (lossy video: mean abs)."""
    from convcli import convolve

    if kind == "video":
        from convcli.io.av_video import open_video as open_rows

        tol_note = "mean"
    else:
        from convcli.io.tifffile_tiff import open_tiff as open_rows

        tol_note = "max"
    with open_rows(src) as rin, open_rows(dst) as rout:
        lo = min(100, rin.shape[0] - 6)
        x = rin.read(lo - 1, lo + 5).astype(np.float32)
        ref = convolve(x, KERNEL, padding="valid", channel_axis=3 if kind == "video" else None)
        ref = np.clip(np.rint(ref), 0, np.iinfo(rin.dtype).max)
        got = rout.read(lo, lo + 4).astype(np.float32)
    diff = np.abs(got - ref)
    return float(diff.mean() if tol_note == "mean" else diff.max())


def run_cli(src: Path, dst: Path) -> dict:
    """``convcli filter`` with the 3-frame box and the defaults: its own peak RSS and time."""
    argv = [sys.executable, "-c", "from convcli.cli import main; main()", "filter", str(src)]
    argv += ["-k", "[1|1|1]/3", "-o", str(dst), "--overwrite", "--json"]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"convcli filter {src.name} failed:\n{err.read()}")
        record = json.loads(out.read().strip().splitlines()[-1])
    return {
        "peak_mib": usage.ru_maxrss / 1024,
        "seconds": time.perf_counter() - t0,
        "shape": record["shape_in"],
        "streamed": record.get("streamed", False),
    }


# --- the table -------------------------------------------------------------------------------


def in_child(*argv: str) -> dict:
    """Run this script with ``argv`` in a fresh process; return the JSON it prints last.

    Every step that allocates (making the inputs, the round trips, the checks) runs in a
    child, so that this process stays small: on Linux a child's ``ru_maxrss`` starts from its
    parent's high-water mark (it is carried across fork and exec), so a parent that once
    held 500 MiB would make every later child report at least that.
    """
    res = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:2])} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    """Make the inputs, run each round trip in its own process and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1/10 of the sizes")
    ap.add_argument("--only", default="video,tiff")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--keep", action="store_true", help="keep the inputs for the next run")
    ap.add_argument(
        "--slab-mib",
        type=float,
        default=8.0,
        help="float32 input per slab (convcli.jobs.stream: 32 by default; benchmarks/README.md)",
    )
    ap.add_argument("--cli", action="store_true", help="also run each job through convcli filter")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "SRC", "DST"), help=argparse.SUPPRESS)
    ap.add_argument("--check", nargs=3, metavar=("KIND", "SRC", "DST"), help=argparse.SUPPRESS)
    ap.add_argument("--make", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    if args.child:
        kind, src, dst = args.child
        print(json.dumps(round_trip(kind, Path(src), Path(dst), args.slab_mib)))
        return
    if args.check:
        kind, src, dst = args.check
        print(json.dumps({"err": check(kind, Path(src), Path(dst))}))
        return
    if args.make:
        kind, path = args.make
        if kind == "video":
            make_video(Path(path), 750 // scale, 720, 1280)
        else:
            make_bigtiff(Path(path), 512 // scale, 2048)
        print(json.dumps({}))
        return
    quick = ["--quick"] if args.quick else []
    folder = Path(args.dir) / "convcli-bench-volumes"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    if "video" in args.only:
        src = folder / f"video_{scale}.mp4"
        if not src.exists():
            t0 = time.perf_counter()
            in_child("--make", "video", str(src), *quick)
            print(f"made {src.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        jobs.append(("video", "MP4 720p H.264, 3-frame box", src, folder / "out.mp4"))
    if "tiff" in args.only:
        src = folder / f"stack_{scale}.tif"
        if not src.exists():
            t0 = time.perf_counter()
            in_child("--make", "tiff", str(src), *quick)
            print(f"made {src.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        jobs.append(("tiff", "BigTIFF uint16, 3-plane box", src, folder / "out.tif"))
    print(
        f"{'job':<32} {'decoded MiB':>12} {'file MiB':>9} {'peak RSS MiB':>13} {'RSS/decoded':>12}"
        f" {'s':>7}  target"
    )
    notes = []
    for kind, name, src, dst in jobs:
        r = in_child("--child", kind, str(src), str(dst), "--slab-mib", str(args.slab_mib))
        itemsize = 1 if kind == "video" else 2
        decoded = float(np.prod(r["shape"])) * itemsize / (1 << 20)
        verdict = "PASS" if r["peak_mib"] <= TARGET_MIB else "MISS"
        print(
            f"{name:<32} {decoded:>12.0f} {src.stat().st_size / (1 << 20):>9.0f} "
            f"{r['peak_mib']:>13.0f} {r['peak_mib'] / decoded:>12.3f} {r['seconds']:>7.1f}  "
            f"<= {TARGET_MIB} MiB {verdict}"
        )
        err = in_child("--check", kind, str(src), str(dst))["err"]
        what = "mean |out - engine| (lossy H.264)" if kind == "video" else "max |out - engine|"
        notes.append(f"{kind}: shape {r['shape']}, {what} on 4 frames: {err:.3g}")
        if kind == "video":
            notes[-1] += f"; frames decoded {r['decoded']}, decoder restarts {r['restarts']}"
        dst.unlink(missing_ok=True)
        if args.cli:
            c = run_cli(src, dst)
            verdict = "PASS" if c["peak_mib"] <= TARGET_MIB else "MISS"
            print(
                f"{'  through convcli filter':<32} {decoded:>12.0f} "
                f"{src.stat().st_size / (1 << 20):>9.0f} {c['peak_mib']:>13.0f} "
                f"{c['peak_mib'] / decoded:>12.3f} {c['seconds']:>7.1f}  "
                f"<= {TARGET_MIB} MiB {verdict}"
            )
            err = in_child("--check", kind, str(src), str(dst))["err"]
            notes.append(
                f"{kind} through convcli filter: streamed {c['streamed']}, {what}: {err:.3g}"
            )
            dst.unlink(missing_ok=True)
    notes.append(f"slabs of {args.slab_mib:g} MiB of float32 input (--slab-mib)")
    print("\n".join(notes))
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
