"""``--compat imagemagick|vips|ffmpeg`` against the tools themselves, where they are installed.

For each tool found on PATH (``convert``, ``vips``, ``ffmpeg``) and each kernel, the tool and
``convcli filter --compat NAME`` filter the same 8-bit grey PNG; the script prints how many
pixels differ (all of them, and the interior: pixels whose window stays inside the image)
and the median wall time of each command, with the ratio, measured in the same run.

    python benchmarks/compat_peers.py [--size 256] [--repeat 3]

scipy, OpenCV and PyTorch are checked in the test run (tests/test_compat.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

#: Kernels of sum 1 (ImageMagick's -convolve and ffmpeg's default rdiv divide by the sum),
#: as integer numerators over a denominator (ffmpeg takes integers).
KERNELS = {
    "blur3x3": (np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]), 16),
    "asym3x3": (np.array([[1, 0, 2], [3, 1, 0], [0, 4, 5]]), 16),
    "box5x5": (np.ones((5, 5), dtype=int), 25),
    "even2x4": (np.array([[1, 2, 3, 1], [0, 2, 1, 1]]), 11),
    "row1x6": (np.array([[1, 3, 5, 2, 1, 1]]), 13),
}


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def _median_time(cmd: list[str], repeat: int) -> float:
    return statistics.median(_run(cmd) for _ in range(repeat))


def _inline(num: np.ndarray, den: int) -> str:
    rows = "; ".join(" ".join(str(int(v)) for v in row) for row in num)
    return f"[{rows}]/{den}"


def _peer_command(tool: str, src: str, dst: str, num: np.ndarray, den: int, tmp: str) -> list:
    if tool == "imagemagick":
        h, w = num.shape
        values = ",".join(repr(float(v) / den) for v in num.ravel())
        return ["convert", src, "-convolve", f"{w}x{h}:{values}", "-depth", "8", dst]
    if tool == "vips":
        mat = os.path.join(tmp, "k.mat")
        with open(mat, "w") as f:
            f.write(f"{num.shape[1]} {num.shape[0]} {den} 0\n")
            f.write("\n".join(" ".join(str(int(v)) for v in row) for row in num) + "\n")
        return ["vips", "conv", src, dst, mat]
    matrix = " ".join(str(int(v)) for v in num.ravel())
    return [
        "ffmpeg", "-v", "error", "-y", "-i", src, "-vf",
        f"convolution=0m={matrix}:0rdiv=1/{den}:0mode=square", "-pix_fmt", "gray", dst,
    ]  # fmt: skip


def _supports(tool: str, num: np.ndarray) -> bool:
    """ffmpeg's square mode takes 3x3, 5x5 and 7x7 matrices only."""
    return tool != "ffmpeg" or (num.shape[0] == num.shape[1] and num.shape[0] in (3, 5, 7))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    found = {
        name: shutil.which(exe)
        for name, exe in (("imagemagick", "convert"), ("vips", "vips"), ("ffmpeg", "ffmpeg"))
    }
    convcli = [sys.executable, "-m", "convcli.cli"] if not shutil.which("convcli") else ["convcli"]
    rng = np.random.default_rng(16)
    image = rng.integers(0, 256, (args.size, args.size + 7), dtype=np.uint8)
    print(f"image {image.shape[0]}x{image.shape[1]} uint8 grey PNG; median of {args.repeat}")
    print(f"{'tool':12} {'kernel':9} {'differ':>7} {'interior':>9} {'peer s':>8} "
          f"{'convcli s':>9} {'ratio':>6}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.png")
        Image.fromarray(image).save(src)
        for tool, exe in found.items():
            if exe is None:
                print(f"{tool:12} not installed: skipped")
                continue
            for kname, (num, den) in KERNELS.items():
                if not _supports(tool, num):
                    continue
                peer_out = os.path.join(tmp, f"{tool}-{kname}.png")
                ours = os.path.join(tmp, f"convcli-{tool}-{kname}.png")
                peer_cmd = _peer_command(tool, src, peer_out, num, den, tmp)
                our_cmd = [*convcli, "filter", src, "-k", _inline(num, den), "--compat", tool,
                           "-o", ours, "--overwrite", "-q"]  # fmt: skip
                t_peer = _median_time(peer_cmd, args.repeat)
                t_ours = _median_time(our_cmd, args.repeat)
                a = np.asarray(Image.open(peer_out).convert("L"))
                b = np.asarray(Image.open(ours))
                h, w = num.shape
                inner = (slice(h, -h), slice(w, -w))
                differ = int(np.count_nonzero(a != b))
                inside = int(np.count_nonzero(a[inner] != b[inner]))
                print(f"{tool:12} {kname:9} {differ:7d} {inside:9d} {t_peer:8.3f} "
                      f"{t_ours:9.3f} {t_ours / t_peer:6.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
