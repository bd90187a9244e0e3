"""Measure the cost-model constants of ``convcli/engine/_plan.py`` on this machine.

Usage::

    python benchmarks/calibrate.py [--quick]

Each primitive of the engine runs on inputs of a few sizes (best of ``--repeat`` runs: the
constants describe an unloaded machine), and a least-squares fit turns the times into
nanoseconds per sample and per operation.  The printout lists, for every constant, the value
in ``_plan.py`` and the fitted one; copy the fitted ones over when they differ a lot, then
check the planner's picks with ``bench_engine.py``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np

from convcli.engine import _direct, _fft, _plan, _toeplitz
from convcli.engine._plan import ufunc_ops
from convcli.engine._separable import correlate_separable, factorize

VERBOSE = False


def best(fn: Callable[[], object], repeat: int, label: str = "", per: float = 1.0) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    ns = min(times) * 1e9
    if VERBOSE and label:
        print(f"  {label:<40} {ns / 1e6:9.2f} ms  {ns / per:8.3f} ns/sample")
    return ns


def fit(rows: list[list[float]], ys: list[float]) -> np.ndarray:
    a = np.asarray(rows, dtype=float)
    coef, *_ = np.linalg.lstsq(a, np.asarray(ys, dtype=float), rcond=None)
    return coef


def direct(x: np.ndarray, w: np.ndarray, stride: int = 1, gemm: bool | None = None) -> object:
    pads = [k // 2 if stride == 1 else 0 for k in w.shape]
    out = [-(-n // stride) for n in x.shape]
    return _direct.correlate_unpadded(
        x,
        w,
        pads,
        [stride] * x.ndim,
        [1] * x.ndim,
        out,
        "zero",
        0.0,
        np.dtype(np.float32),
        gemm=gemm,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("-v", "--verbose", action="store_true", help="print every measurement")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    n = 1024 if args.quick else 2048
    rng = np.random.default_rng(0)
    x = rng.random((n, n), dtype=np.float32)
    u8 = rng.integers(0, 256, (n, n), dtype=np.uint8)
    p = x.size
    found: dict[str, float] = {}

    # fresh output pages: first touch of a new array against an existing one
    buf = np.empty_like(x)
    t_new = best(lambda: np.multiply(x, np.float32(0.5), out=np.empty_like(x)), args.repeat)
    t_old = best(lambda: np.multiply(x, np.float32(0.5), out=buf), args.repeat)
    found["C_OUT"] = max(t_new - t_old, 0.0) / p
    t_conv = best(lambda: u8.astype(np.float32), args.repeat)
    found["C_CONV"] = max(t_conv - t_new, 0.0) / p

    # flat shift-add: 1 x k kernels (no outer axis to contract)
    rows, ys = [], []
    for k in (3, 9, 17):
        w = rng.standard_normal((1, k))
        t = best(lambda w=w: direct(x, w), args.repeat, f"flat 1x{k}", p)
        rows.append([ufunc_ops(w.ravel().tolist()), 1.0])
        ys.append(t / p - found["C_OUT"])
    c_op, c_flat = fit(rows, ys)
    found["C_OP"], found["C_FLAT"] = c_op, c_flat

    rows, ys = [], []
    for k in (3, 9, 17):
        w = rng.integers(-3, 4, (1, k)).astype(float)
        w[0, 0] = 5
        t = best(lambda w=w: direct(u8, w), args.repeat, f"int16 1x{k}", p)
        rows.append([ufunc_ops(w[w != 0].tolist())])
        ys.append(t / p - found["C_OUT"] - c_flat)
    found["C_OP16"] = float(fit(rows, ys)[0])

    # matrix products: k x k random kernels
    rows, ys = [], []
    for k in (3, 5, 7, 9):
        w = rng.standard_normal((k, k))
        t = best(lambda w=w: direct(x, w, gemm=True), args.repeat, f"gemm {k}x{k}", p)
        rows.append([k * k, 1.0])
        ys.append(t / p - found["C_OUT"] - c_op * (k - 1))
    c_mac, c_gemm = fit(rows, ys)
    found["C_MAC"], found["C_GEMM"] = c_mac, c_gemm

    # strided phases: RGB (channels last) with stride 2; per output, gather per input
    rgb = rng.random((n // 2, n // 2, 3), dtype=np.float32)
    rows, ys = [], []
    for k in (3, 5):
        w = rng.standard_normal((k, k, 1))
        q = rgb.size // 4

        def strided(w: np.ndarray = w) -> object:
            out = [rgb.shape[0] // 2, rgb.shape[1] // 2, 3]
            return _direct.correlate_unpadded(
                rgb, w, [0, 0, 0], [2, 2, 1], [1, 1, 1], out, "zero", 0.0, np.dtype(np.float32)
            )

        t = best(strided, args.repeat, f"stride 2 RGB {k}x{k}", q)
        rows.append([ufunc_ops(w.ravel()), 4.0])
        ys.append(t / q - found["C_OUT"] - c_flat)
    found["C_VIEW"], found["C_GATHER"] = fit(rows, ys)

    # separable: gaussian passes (a matrix-vector product on the outer axis, then shift-adds
    # or Toeplitz products on the inner one)
    rows, ys = [], []
    for k in (3, 5, 7):
        g = np.exp(-0.5 * ((np.arange(k) - k // 2) / (k / 5)) ** 2)
        f = factorize(np.outer(g, g))
        assert f is not None
        pads = [k // 2, k // 2]

        def sep(f: object = f, pads: list[int] = pads) -> object:
            return correlate_separable(
                x, f, (0, 1), pads, [1, 1], [1, 1], x.shape, "zero", 0.0, np.dtype(np.float32)
            )

        t = best(sep, args.repeat, f"separable {k}x{k}", p)
        rows.append([k, 2.0])
        ys.append(t / p - found["C_OUT"] - c_op * ufunc_ops(g))
    found["C_MACV"], found["C_STAGE"] = fit(rows, ys)

    # Toeplitz products, 1-D stereo: blocks of 32 (short kernels) and 128
    m = (1 << 21) if args.quick else (1 << 22)
    audio = rng.standard_normal((m, 2)).astype(np.float32)
    rows, ys = [], []
    for taps in (16, 32, 64, 101):
        h = rng.standard_normal(taps)

        def toe(h: np.ndarray = h, b: int = 32) -> object:
            return _toeplitz.correlate_toeplitz(
                audio, h, 0, h.size // 2, 1, 1, m, "zero", 0.0, np.dtype(np.float32), block=b
            )

        t = best(toe, args.repeat, f"toeplitz L={taps} B=32", audio.size)
        rows.append([31 + taps, 1.0])
        ys.append(t / audio.size - found["C_OUT"])
    found["C_MAC32"], found["C_TOE"] = fit(rows, ys)
    h = rng.standard_normal(301)
    t = best(
        lambda: _toeplitz.correlate_toeplitz(
            audio, h, 0, 150, 1, 1, m, "zero", 0.0, np.dtype(np.float32), block=128
        ),
        args.repeat,
        "toeplitz L=301 B=128",
        audio.size,
    )
    found["C_MAC128"] = (t / audio.size - found["C_OUT"] - found["C_TOE"]) / (127 + 301)

    # FFT, 1-D overlap-save blocks: per transformed sample
    per1 = []
    for taps in (301, 4001, 65537):
        h = rng.standard_normal(taps)
        block = _fft.ols_block(taps)
        nblocks = -(-m // (block - taps + 1))

        def ols(h: np.ndarray = h, block: int = block) -> object:
            return _fft.correlate_tiles(
                audio,
                h[:, None],
                (0,),
                [h.size // 2, 0],
                [1, 1],
                [1, 1],
                list(audio.shape),
                "zero",
                0.0,
                np.dtype(np.float32),
                block,
            )

        e = nblocks * block * 2
        per1.append(best(ols, args.repeat, f"fft blocks L={taps} n={block}", e) / e)
    found["C_FFT1"] = float(np.median(per1))

    # FFT, 2-D: whole transforms and tiles; per transformed sample against |log2(n) - 18|
    rows, ys = [], []
    w = rng.standard_normal((31, 31))
    for size in (256, 512, 1024):
        img = rng.random((size, size), dtype=np.float32)

        def whole(img: np.ndarray = img) -> object:
            return _fft.correlate_whole(
                img,
                w,
                (0, 1),
                [15, 15],
                [1, 1],
                [1, 1],
                img.shape,
                "zero",
                0.0,
                np.dtype(np.float32),
            )

        pts = _fft.fast_length(size + 30) ** 2
        t = best(whole, args.repeat, f"fft whole {size}^2 k=31", pts)
        rows.append([1.0, abs(math.log2(pts) - _plan.FFT_SWEET)])
        ys.append(t / pts - _plan.C_FFTD)
    for tile in (128, 256, 512):

        def tiles(tile: int = tile) -> object:
            return _fft.correlate_tiles(
                x,
                w,
                (0, 1),
                [15, 15],
                [1, 1],
                [1, 1],
                x.shape,
                "zero",
                0.0,
                np.dtype(np.float32),
                tile,
            )

        count = (-(-n // (tile - 30))) ** 2
        e = count * tile * tile
        t = best(tiles, args.repeat, f"fft tiles {tile} on {n}^2 k=31", e)
        rows.append([1.0, abs(math.log2(tile * tile) - _plan.FFT_SWEET)])
        ys.append((t - _plan.C_TILE * count) / e - _plan.C_FFTD)
    found["C_FFTX"], found["C_FFT"] = fit(rows, ys)

    print(f"{'constant':<10} {'in _plan.py':>12} {'fitted':>10}")
    for name, value in found.items():
        print(f"{name:<10} {getattr(_plan, name):>12.4g} {value:>10.4g}")


if __name__ == "__main__":
    main()
