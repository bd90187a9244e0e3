"""Measure the cost-model constants of ``convcli/engine/_plan.py`` on this machine.

Usage::

    python benchmarks/calibrate.py [-v] [--quick] [--repeat 5] [--sizes 512,1024,2048]

Each primitive of the engine runs on images of every size in ``--sizes`` (512² to 2048² by
default: the ordinary sizes the planner decides most often; best of ``--repeat`` runs, so
the constants describe an unloaded machine), and a least-squares fit over all sizes turns
the times into nanoseconds per sample and per operation.  ``-v`` prints every measurement
with its nanoseconds per output at each size, so a constant that drifts with the size shows.
The printout lists, for every constant, the value in ``_plan.py`` and the fitted one; copy
the fitted ones over when they differ a lot, then check the planner's picks with
``bench_engine.py``.
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
F32 = np.dtype(np.float32)


def best(fn: Callable[[], object], repeat: int, label: str = "", per: float = 1.0) -> float:
    """Best wall time of ``repeat`` runs after one warm-up, in nanoseconds."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    ns = min(times) * 1e9
    if VERBOSE and label:
        print(f"  {label:<44} {ns / 1e6:9.3f} ms  {ns / per:8.3f} ns/output")
    return ns


def fit(rows: list[list[float]], ys: list[float]) -> np.ndarray:
    a = np.asarray(rows, dtype=float)
    coef, *_ = np.linalg.lstsq(a, np.asarray(ys, dtype=float), rcond=None)
    return coef


def direct(x: np.ndarray, w: np.ndarray, stride: int = 1, gemm: bool | None = None) -> np.ndarray:
    pads = [k // 2 if stride == 1 else 0 for k in w.shape]
    out = [
        -(-n // stride) if stride == 1 else (n - k) // stride + 1 for n, k in zip(x.shape, w.shape)
    ]
    return _direct.correlate_unpadded(
        x, w, pads, [stride] * x.ndim, [1] * x.ndim, out, "zero", 0.0, F32, gemm=gemm
    )


def calls(repeat: int, found: dict[str, float]) -> None:
    """C_CALL: one more ufunc call per chunk, on a range too short to cost anything else."""
    x = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    out = np.empty_like(x)
    rows, ys = [], []
    for k in (1, 5, 9, 17):
        weights = [0.5 + i for i in range(k)]
        st = _direct.TapStage([(wv, [i]) for i, wv in enumerate(weights)])
        t = best(
            lambda st=st: _direct.flat_passes(x, [st], 100, 116, out, threads=False), 20 * repeat
        )
        rows.append([ufunc_ops(weights), 1.0])
        ys.append(t)
    found["C_CALL"] = float(fit(rows, ys)[0])


def outputs(xs: dict[int, np.ndarray], repeat: int, found: dict[str, float]) -> None:
    """C_OUT (a fresh output's pages) and C_CONV (uint8 to float32), at the largest size."""
    x = xs[max(xs)]
    u8 = (x * 255).astype(np.uint8)
    buf = np.empty_like(x)
    t_new = best(lambda: np.multiply(x, np.float32(0.5), out=np.empty_like(x)), repeat)
    t_old = best(lambda: np.multiply(x, np.float32(0.5), out=buf), repeat)
    found["C_OUT"] = max(t_new - t_old, 0.0) / x.size
    found["C_CONV"] = max(best(lambda: u8.astype(np.float32), repeat) - t_new, 0.0) / x.size


def flat(xs: dict[int, np.ndarray], repeat: int, found: dict[str, float]) -> None:
    """C_OP, C_FLAT (1 x k shift-adds), C_OP16 (uint8 in int16), C_MAC, C_GEMM (k x k)."""
    rng = np.random.default_rng(1)
    rows, ys = [], []
    for n, x in xs.items():
        for k in (3, 9, 17):
            w = rng.standard_normal((1, k))
            t = best(lambda w=w, x=x: direct(x, w), repeat, f"flat 1x{k} {n}²", x.size)
            rows.append([ufunc_ops(w.ravel()), 1.0])
            ys.append(t / x.size - found["C_OUT"])
    found["C_OP"], found["C_FLAT"] = fit(rows, ys)
    rows, ys = [], []
    for n, x in xs.items():
        u8 = (x * 255).astype(np.uint8)
        for k in (3, 9, 17):
            w = rng.integers(-3, 4, (1, k)).astype(float)
            w[0, 0] = 5
            t = best(lambda w=w, u8=u8: direct(u8, w), repeat, f"int16 1x{k} {n}²", u8.size)
            rows.append([ufunc_ops(w[w != 0])])
            ys.append(t / u8.size - found["C_OUT"] - found["C_FLAT"])
    found["C_OP16"] = float(fit(rows, ys)[0])
    rows, ys = [], []
    for n, x in xs.items():
        for k in (3, 5, 7, 9):
            w = rng.standard_normal((k, k))
            t = best(lambda w=w, x=x: direct(x, w, gemm=True), repeat, f"gemm {k}x{k} {n}²", x.size)
            rows.append([k * k, 1.0])
            ys.append(t / x.size - found["C_OUT"] - found["C_OP"] * (k - 1))
    found["C_MAC"], found["C_GEMM"] = fit(rows, ys)


def strided(xs: dict[int, np.ndarray], repeat: int, found: dict[str, float]) -> None:
    """C_VIEW, C_GATHER: shift-adds over column phases, RGB with stride 2; C_PHASE, C_GEMV."""
    rng = np.random.default_rng(2)
    rows, ys = [], []
    for n, x in xs.items():
        rgb = np.repeat(x[: n // 2, : n // 2, None], 3, axis=2)
        for k in (3, 5):
            w = rng.standard_normal((k, k, 1))
            q = rgb.size // 4
            t = best(
                lambda w=w, rgb=rgb: direct(rgb, w, stride=2, gemm=False),
                repeat,
                f"stride 2 RGB {k}x{k} taps {n // 2}²",
                q,
            )
            rows.append([ufunc_ops(w.ravel()), 4.0])
            ys.append(t / q - found["C_OUT"] - found["C_FLAT"])
    found["C_VIEW"], found["C_GATHER"] = fit(rows, ys)
    # the column phases' products (gemm): kw runs of s0 rows per output, then kh*kw taps
    rows, ys = [], []
    for n, x in xs.items():
        for k in (3, 5):
            w = rng.standard_normal((k, k))
            q = x.size // 4
            t = best(
                lambda w=w, x=x: direct(x, w, stride=2, gemm=True),
                repeat,
                f"stride 2 phased products {k}x{k} {n}²",
                q,
            )
            rows.append([2.0 * k, 1.0])
            ys.append(t / q - found["C_OUT"] - found["C_MAC"] * k * k - found["C_FLAT"])
    found["C_PHASE"], found["C_GEMV"] = fit(rows, ys)


def separable(xs: dict[int, np.ndarray], repeat: int, found: dict[str, float]) -> None:
    """C_MACV, C_STAGE: gaussian passes (matrix-vector products, then shift-adds)."""
    rows, ys = [], []
    for n, x in xs.items():
        for k in (3, 5, 7):
            g = np.exp(-0.5 * ((np.arange(k) - k // 2) / (k / 5)) ** 2)
            f = factorize(np.outer(g, g))
            assert f is not None
            pads = [k // 2, k // 2]

            def sep(f: object = f, pads: list[int] = pads, x: np.ndarray = x) -> object:
                return correlate_separable(
                    x, f, (0, 1), pads, [1, 1], [1, 1], x.shape, "zero", 0.0, F32
                )

            t = best(sep, repeat, f"separable {k}x{k} {n}²", x.size)
            rows.append([k, 2.0])
            ys.append(t / x.size - found["C_OUT"] - found["C_OP"] * ufunc_ops(g))
    found["C_MACV"], found["C_STAGE"] = fit(rows, ys)


def toeplitz(m: int, repeat: int, found: dict[str, float]) -> np.ndarray:
    """C_MAC32, C_TOE, C_MAC128: blocked Toeplitz products on stereo audio."""
    rng = np.random.default_rng(3)
    audio = rng.standard_normal((m, 2)).astype(np.float32)
    rows, ys = [], []
    for taps in (16, 32, 64, 101):
        h = rng.standard_normal(taps)

        def toe(h: np.ndarray = h, b: int = 32) -> object:
            return _toeplitz.correlate_toeplitz(
                audio, h, 0, h.size // 2, 1, 1, m, "zero", 0.0, F32, block=b
            )

        t = best(toe, repeat, f"toeplitz L={taps} B=32", audio.size)
        rows.append([31 + taps, 1.0])
        ys.append(t / audio.size - found["C_OUT"])
    found["C_MAC32"], found["C_TOE"] = fit(rows, ys)
    h = rng.standard_normal(301)
    t = best(
        lambda: _toeplitz.correlate_toeplitz(
            audio, h, 0, 150, 1, 1, m, "zero", 0.0, F32, block=128
        ),
        repeat,
        "toeplitz L=301 B=128",
        audio.size,
    )
    found["C_MAC128"] = (t / audio.size - found["C_OUT"] - found["C_TOE"]) / (127 + 301)
    return audio


def fft(xs: dict[int, np.ndarray], audio: np.ndarray, repeat: int, found: dict[str, float]) -> None:
    """C_FFT1 (1-D blocks), C_FFTX, C_FFT (2-D, whole and tiles); set-ups of FFT and direct."""
    rng = np.random.default_rng(4)
    m = audio.shape[0]
    per1 = []
    for taps in (301, 4001, 65537):
        h = rng.standard_normal(taps)
        block = _fft.ols_block(taps)
        nblocks = -(-m // (block - taps + 1))

        def ols(h: np.ndarray = h, block: int = block) -> object:
            return _fft.correlate_tiles(
                audio, h[:, None], (0,), [h.size // 2, 0], [1, 1], [1, 1], list(audio.shape),
                "zero", 0.0, F32, block,
            )  # fmt: skip

        e = nblocks * block * 2
        per1.append(best(ols, repeat, f"fft blocks L={taps} n={block}", e) / e)
    found["C_FFT1"] = float(np.median(per1))
    rows, ys = [], []
    w = rng.standard_normal((31, 31))
    for size in sorted({256, *xs}):
        img = rng.random((size, size), dtype=np.float32)

        def whole(img: np.ndarray = img) -> object:
            return _fft.correlate_whole(
                img, w, (0, 1), [15, 15], [1, 1], [1, 1], img.shape, "zero", 0.0, F32
            )

        pts = _fft.fast_length(size + 30) ** 2
        t = best(whole, repeat, f"fft whole {size}² k=31", pts)
        rows.append([1.0, abs(math.log2(pts) - _plan.FFT_SWEET)])
        ys.append(t / pts - _plan.C_FFTD)
    x = xs[max(xs)]
    n = x.shape[0]
    for tile in (128, 256, 512):

        def tiles(tile: int = tile) -> object:
            return _fft.correlate_tiles(
                x, w, (0, 1), [15, 15], [1, 1], [1, 1], x.shape, "zero", 0.0, F32, tile
            )

        count = (-(-n // (tile - 30))) ** 2
        e = count * tile * tile
        t = best(tiles, repeat, f"fft tiles {tile} on {n}² k=31", e)
        rows.append([1.0, abs(math.log2(tile * tile) - _plan.FFT_SWEET)])
        ys.append((t - _plan.C_TILE * count) / e - _plan.C_FFTD)
    found["C_FFTX"], found["C_FFT"] = fit(rows, ys)
    tiny = rng.random((8, 8), dtype=np.float32)
    found["C_DIRECTCALL"] = best(
        lambda: _direct.correlate_unpadded(
            tiny, w[:3, :3], [1, 1], [1, 1], [1, 1], tiny.shape, "zero", 0.0, F32
        ),
        repeat * 20,
        "direct 8x8, 3x3 (set-up)",
    )
    found["C_FFTCALL"] = best(
        lambda: _fft.correlate_fft(
            tiny, w[:3, :3], (0, 1), [1, 1], [1, 1], [1, 1], tiny.shape, "zero", 0.0, F32
        ),
        repeat * 20,
        "fft 8x8, 3x3 (set-up)",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="256² and 512², shorter audio")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", default="", help="image sides, e.g. 512,1024,2048")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every measurement")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    sizes = [int(s) for s in args.sizes.split(",") if s] or (
        [256, 512] if args.quick else [512, 1024, 2048]
    )
    rng = np.random.default_rng(0)
    xs = {n: rng.random((n, n), dtype=np.float32) for n in sizes}
    found: dict[str, float] = {}
    calls(args.repeat, found)
    outputs(xs, args.repeat, found)
    flat(xs, args.repeat, found)
    strided(xs, args.repeat, found)
    separable(xs, args.repeat, found)
    audio = toeplitz((1 << 21) if args.quick else (1 << 22), args.repeat, found)
    fft(xs, audio, args.repeat, found)
    print(f"{'constant':<10} {'in _plan.py':>12} {'fitted':>10}   sizes {sizes}")
    for name, value in found.items():
        print(f"{name:<10} {getattr(_plan, name):>12.4g} {value:>10.4g}")


if __name__ == "__main__":
    main()
