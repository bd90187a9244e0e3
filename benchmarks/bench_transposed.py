"""Transposed convolution: polyphase (what convcli.conv_transpose does) against zero insertion.

Zero insertion puts s-1 zeros between input samples and correlates the stretched signal with
the flipped kernel (convcli.explain.arithmetic.equivalent_convolution's geometry), through the same
engine; polyphase runs s**ndim small correlations and multiplies no inserted zero.  PyTorch's
conv_transpose2d is measured last (importing torch slows numpy's threads), where installed.

    python benchmarks/bench_transposed.py [--size 1024] [--repeat 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import convcli
from convcli import conv_transpose
from convcli.explain.arithmetic import equivalent_convolution
from convcli.geometry import resolve_transposed


def zero_insertion(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    geo = resolve_transposed(x.shape, w.shape, stride=stride, padding=padding)
    eqs = [equivalent_convolution(g) for g in geo]
    shape = [e.stretched + max(e.pad_lo, 0) + max(e.pad_hi, 0) for e in eqs]
    z = np.zeros(shape, np.float32)
    z[tuple(slice(max(e.pad_lo, 0), max(e.pad_lo, 0) + e.stretched, stride) for e in eqs)] = x
    crop = tuple(slice(max(-e.pad_lo, 0), n - max(-e.pad_hi, 0)) for e, n in zip(eqs, shape))
    return convcli.convolve(z[crop], w[::-1, ::-1], padding="valid")


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((args.size, args.size), dtype=np.float32)
    cases = [("4x4 random, stride 2, padding 1", rng.random((4, 4)), 2, 1)]
    cases.append(("bilinear:2 (4x4), stride 2, same", convcli.make_kernel("bilinear:2", 2), 2, 1))
    cases.append(("8x8 random, stride 4, padding 2", rng.random((8, 8)), 4, 2))
    print(f"input {args.size}x{args.size} float32, median of {args.repeat}")
    results = []
    for name, w, s, p in cases:
        a = conv_transpose(x, w, stride=s, padding=p)
        b = zero_insertion(x, w, s, p)
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-4), name
        t_poly = median_ms(
            lambda w=w, s=s, p=p: conv_transpose(x, w, stride=s, padding=p), args.repeat
        )
        t_zero = median_ms(lambda w=w, s=s, p=p: zero_insertion(x, w, s, p), args.repeat)
        results.append((name, w, s, p, a, t_poly, t_zero))
    try:
        import torch
    except ImportError:
        torch = None
    print(f"{'workload':36} {'polyphase':>10} {'zeros':>10} {'torch':>10}  poly/zeros poly/torch")
    for name, w, s, p, a, t_poly, t_zero in results:
        t_torch = float("nan")
        if torch is not None:
            xt = torch.from_numpy(x)[None, None]
            wt = torch.from_numpy(w.astype(np.float32))[None, None]
            f = torch.nn.functional.conv_transpose2d
            got = f(xt, wt, stride=s, padding=p)[0, 0].numpy()
            assert np.allclose(got, a, atol=1e-4), name
            with torch.no_grad():
                t_torch = median_ms(
                    lambda f=f, xt=xt, wt=wt, s=s, p=p: f(xt, wt, stride=s, padding=p),
                    args.repeat,
                )
        print(
            f"{name:36} {t_poly:10.1f} {t_zero:10.1f} {t_torch:10.1f}  "
            f"{t_poly / t_zero:10.2f} {t_poly / t_torch:10.2f}"
        )


if __name__ == "__main__":
    main()
