"""Benchmark ``convcli.features.correlate_bank`` (every map in one pass) against its peers.

Usage::

    python benchmarks/bench_features.py [--quick] [--only B1,B3] [--repeat 5]
    python benchmarks/bench_features.py --calibrate     # fit the planner's cost constants

The issue's target is B1: a 2048x2048 grey float32 image and 16 random 3x3 kernels must go
at least as fast as 16 separate ``cv2.filter2D`` calls (ratio <= 1.00).  The other rows show
where the cost rule sends other banks and how that compares with the fastest library call.
Every contender runs once untimed (its result checked against convcli's), then ``--repeat``
times interleaved in a rotating order; the table shows medians.  The geometry is aligned:
correlation, ``same`` output, the pad mode named on each row (OpenCV's BORDER_REFLECT_101 is
convcli's ``reflect``).  OpenCV and PyTorch are yardsticks here, never dependencies.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import convcli
from convcli.features import _bank as bank_module
from convcli.features import correlate_bank, plan_bank


def _try_import(name: str) -> Any:
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # noqa: BLE001 - any failure means "not installed"
        return None


cv2 = _try_import("cv2")
torch = _try_import("torch")
signal = _try_import("scipy.signal")


@dataclass
class Workload:
    key: str
    title: str
    target: float | None
    ours: Callable[[], Any]
    method: str
    peers: dict[str, Callable[[], Any]] = field(default_factory=dict)


def build(quick: bool) -> list[Workload]:
    rng = np.random.default_rng(0)
    n = 512 if quick else 2048
    out: list[Workload] = []

    # B1: the workload.
    x = rng.random((n, n), dtype=np.float32)
    w = rng.standard_normal((16, 3, 3)).astype(np.float32)
    wl = Workload(
        "B1",
        f"{n}^2 grey, 16 x 3x3, reflect",
        1.0,
        lambda: correlate_bank(x, w, pad_mode="reflect"),
        plan_bank(x.shape, x.dtype, w, pad_mode="reflect").method,
    )
    if cv2 is not None:
        wl.peers["cv2.filter2D x16"] = lambda: [
            cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT_101) for k in w
        ]
    if torch is not None:
        tx = torch.from_numpy(x)[None, None]
        tw = torch.from_numpy(w)[:, None]

        def torch_b1() -> Any:
            xp = torch.nn.functional.pad(tx, (1, 1, 1, 1), mode="reflect")
            return torch.nn.functional.conv2d(xp, tw)[0].numpy()

        wl.peers["torch.conv2d"] = torch_b1
    out.append(wl)

    # B2: the first layer of a CNN on a photo: 64 x 3 x 7x7, stride 2, padding 3 (zero).
    m = 256 if quick else 1024
    photo = rng.integers(0, 256, (m, m, 3), dtype=np.uint8)
    layer = (rng.standard_normal((64, 3, 7, 7)) * 0.05).astype(np.float32)
    kw = {"stride": 2, "padding": 3, "pad_mode": "zero", "channel_axis": -1}
    wl = Workload(
        "B2",
        f"{m}^2 RGB, 64x3x7x7, stride 2",
        None,
        lambda: correlate_bank(photo, layer, **kw),
        plan_bank(photo.shape, photo.dtype, layer, **kw).method,
    )
    if torch is not None:
        tp = torch.from_numpy(np.moveaxis(photo, -1, 0).astype(np.float32))[None]
        tl = torch.from_numpy(layer)
        wl.peers["torch.conv2d"] = lambda: torch.nn.functional.conv2d(tp, tl, stride=2, padding=3)[
            0
        ].numpy()
    if cv2 is not None:
        planes = [np.ascontiguousarray(photo[..., c], dtype=np.float32) for c in range(3)]

        def cv_b2() -> Any:
            maps = []
            for f in range(64):
                acc = sum(
                    cv2.filter2D(planes[c], -1, layer[f, c], borderType=cv2.BORDER_CONSTANT)
                    for c in range(3)
                )
                maps.append(acc[::2, ::2])
            return maps

        wl.peers["cv2.filter2D x192 + [::2]"] = cv_b2
    out.append(wl)

    # B3: large kernels: the FFT of the input shared by every kernel.
    big = (rng.standard_normal((8, 31, 31)) / 31).astype(np.float32)
    wl = Workload(
        "B3",
        f"{n}^2 grey, 8 x 31x31, reflect",
        None,
        lambda: correlate_bank(x, big, pad_mode="reflect"),
        plan_bank(x.shape, x.dtype, big, pad_mode="reflect").method,
    )
    if cv2 is not None:
        wl.peers["cv2.filter2D x8"] = lambda: [
            cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT_101) for k in big
        ]
    if torch is not None:
        tbig = torch.from_numpy(big)[:, None]

        def torch_b3() -> Any:
            xp = torch.nn.functional.pad(torch.from_numpy(x)[None, None], (15,) * 4, mode="reflect")
            return torch.nn.functional.conv2d(xp, tbig)[0].numpy()

        wl.peers["torch.conv2d"] = torch_b3
    out.append(wl)

    # B4: an FIR bank on stereo audio, channels summed (zero padding).
    seconds = 10 if quick else 60
    audio = (rng.standard_normal((44100 * seconds, 2)) * 0.1).astype(np.float32)
    fir = (rng.standard_normal((4, 101)) / 10).astype(np.float32)
    wl = Workload(
        "B4",
        f"{seconds} s stereo, 4 x 101 taps",
        None,
        lambda: correlate_bank(audio, fir, channel_axis=1),
        plan_bank(audio.shape, audio.dtype, fir, channel_axis=1).method,
    )
    if signal is not None:
        mono = audio[:, 0] + audio[:, 1]
        wl.peers["signal.oaconvolve x4"] = lambda: [
            signal.oaconvolve(mono, k[::-1], mode="same") for k in fir
        ]
    out.append(wl)
    return out


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    y = fn()
    return time.perf_counter() - t0, y


def _check(ref: np.ndarray, got: Any) -> str:
    g = np.asarray(got, dtype=np.float64)
    if g.shape != ref.shape:
        return f"DIFF (shape {g.shape}, expected {ref.shape})"
    err = float(np.max(np.abs(g - ref))) / max(float(np.max(np.abs(ref))), 1e-30)
    return "ok" if err <= 1e-4 else f"DIFF ({err:.1e})"


def run(wl: Workload, repeat: int) -> tuple[dict[str, list[float]], dict[str, str]]:
    contenders = {"convcli": wl.ours, **wl.peers}
    _, ref = _timed(wl.ours)
    ref64 = np.asarray(ref, dtype=np.float64)
    del ref
    checks = {"convcli": "ref"}
    for name, fn in wl.peers.items():
        _, y = _timed(fn)
        checks[name] = _check(ref64, y)
        del y
    del ref64
    times: dict[str, list[float]] = {}
    names = list(contenders)
    for r in range(repeat):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            dt, y = _timed(contenders[name])
            del y
            times.setdefault(name, []).append(dt)
    return times, checks


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}"


def _best_of_3(plan: Any, x: np.ndarray) -> float:
    return min(_timed(lambda: bank_module.execute_bank(plan, x))[0] for _ in range(3))


def calibrate() -> None:
    """Time the two methods over a grid and fit the cost constants (ns) by least squares.

    ``direct`` fits C_COL, C_MAC and C_STORE; ``fft`` then fits C_FFT and C_SPEC with
    C_STORE (the same output writes) taken from the direct fit.
    """
    from scipy.optimize import nnls

    rng = np.random.default_rng(1)
    rows, times = [], []
    x = rng.random((1024, 1024), dtype=np.float32)
    for nmaps, k in ((4, 3), (16, 3), (64, 3), (8, 5), (16, 7), (32, 9), (4, 11)):
        w = rng.standard_normal((nmaps, k, k)).astype(np.float32)
        best = _best_of_3(plan_bank(x.shape, x.dtype, w, method="direct"), x)
        rows.append([x.size * k * k, x.size * nmaps * k * k, x.size * nmaps])
        times.append(best * 1e9)
        print(f"direct F={nmaps:3d} k={k:2d}: {best * 1e3:8.1f} ms", flush=True)
    c, _ = nnls(np.array(rows, float), np.array(times))
    store = c[2]
    print(f"direct: C_COL={c[0]:.3f} C_MAC={c[1]:.4f} C_STORE={store:.3f}")
    rows, times = [], []
    for size, nmaps in ((512, 4), (1024, 4), (1024, 16), (2048, 8), (2048, 16)):
        xs = rng.random((size, size), dtype=np.float32)
        w = rng.standard_normal((nmaps, 15, 15)).astype(np.float32)
        plan = plan_bank(xs.shape, xs.dtype, w, method="fft")
        best = _best_of_3(plan, xs)
        total = float(np.prod([bank_module._fast_len_estimate(g.needed) for g in plan.geometry]))
        rows.append([total * np.log2(total) * (1 + 1.5 * nmaps), total / 2 * nmaps])
        times.append(best * 1e9 - store * xs.size * nmaps)
        print(f"fft {size}^2 F={nmaps:3d}: {best * 1e3:8.1f} ms", flush=True)
    c, _ = nnls(np.array(rows, float), np.array(times))
    print(f"fft: C_FFT={c[0]:.3f} C_SPEC={c[1]:.3f} (with C_STORE={store:.3f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--only", default="", help="comma-separated workload ids, e.g. B1,B3")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per contender")
    ap.add_argument("--calibrate", action="store_true", help="fit the cost constants")
    args = ap.parse_args(argv)
    if args.calibrate:
        calibrate()
        return 0
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 5)
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    versions = [f"numpy {np.__version__}"]
    for name, mod in (("scipy", _try_import("scipy")), ("opencv", cv2), ("torch", torch)):
        versions.append(f"{name} {mod.__version__}" if mod is not None else f"{name} -")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"convcli {convcli.__version__}; {', '.join(versions)}; Python {sys.version.split()[0]}")
    print(f"{cpu}, {os.cpu_count()} CPUs; median of {repeat}, contenders interleaved")
    print()
    head = (
        f"{'id':<3} {'workload':<30} {'method':<7} {'convcli ms':>10}  {'fastest peer':<26} "
        f"{'peer ms':>8} {'ratio':>6} {'target':>6}  result"
    )
    print(head)
    print("-" * len(head))
    details = []
    for wl in build(args.quick):
        if only and wl.key not in only:
            continue
        times, checks = run(wl, repeat)
        ours = statistics.median(times["convcli"])
        peers = {n: statistics.median(times[n]) for n in wl.peers if checks[n] == "ok"}
        line = f"{wl.key:<3} {wl.title:<30} {wl.method:<7} {_ms(ours):>10}  "
        if peers:
            best = min(peers, key=lambda n: peers[n])
            ratio = ours / peers[best]
            target = f"{wl.target:.2f}" if wl.target is not None else "-"
            verdict = "-" if wl.target is None else ("PASS" if ratio <= wl.target else "MISS")
            line += f"{best:<26} {_ms(peers[best]):>8} {ratio:>6.2f} {target:>6}  {verdict}"
        else:
            line += f"{'(no peer)':<26}"
        print(line, flush=True)
        details.append((wl, times, checks))
    print("\nEvery contender (median ms, then every run):")
    for wl, times, checks in details:
        print(f"{wl.key} {wl.title}")
        for name in sorted(times, key=lambda n: statistics.median(times[n])):
            runs = " ".join(_ms(t) for t in times[name])
            print(
                f"    {name:<28} {_ms(statistics.median(times[name])):>8}  {checks[name]:<6} "
                f"[{runs}]"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
