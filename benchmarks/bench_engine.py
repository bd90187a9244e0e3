"""Benchmark the engine against every installed peer library, on the grid of issue 5.

Usage::

    python benchmarks/bench_engine.py [--quick] [--only W1,W5] [--repeat 5] [--no-memory]

Each workload runs ``convcli.convolve`` and every peer that is installed (scipy.ndimage,
scipy.signal fftconvolve/oaconvolve, numpy.correlate, OpenCV, PyTorch CPU), with the geometry
aligned (zero padding, ``same`` output, correlation).  Every contender runs once untimed (a
warm-up whose result is checked against convcli's within float32 tolerance), then the
contenders run ``--repeat`` times interleaved, in a rotating order; the table shows medians.
A contender whose warm-up took longer than ``SLOW_S`` seconds (``QUICK_SLOW_S`` with
``--quick``) is not repeated: its warm-up time is its figure (marked ``*``).  ``ratio`` is
convcli's median over the fastest peer library's; ``target`` is the issue's ratio to meet.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import convcli
from convcli.engine import make_plan

SLOW_S = 3.0
QUICK_SLOW_S = 0.1  # with --quick: peers slower than this are timed once
RATE = 44100

Array = Any  # an ndarray, or a list of them (banks)


@dataclass
class Workload:
    """One row of the grid."""

    key: str
    title: str
    target: float
    x: np.ndarray
    kernel: np.ndarray
    kwargs: dict[str, Any]
    peers: dict[str, Callable[[], Array]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    note: str = ""
    bank: np.ndarray | None = None  # (F, *k) for banks: convcli.features.correlate_bank
    #: The peers the ratio is taken against (default: all); the others are shown in the details.
    against: tuple[str, ...] | None = None
    #: Timed runs of this workload per ``--repeat`` (small workloads take more, to steady
    #: their medians).
    repeat_scale: int = 1

    def run_convcli(self) -> Array:
        if self.bank is not None:
            from convcli.features import correlate_bank

            return list(correlate_bank(self.x, self.bank, **self.kwargs))
        return convcli.convolve(self.x, self.kernel, **self.kwargs)

    def method(self) -> str:
        if self.bank is not None:
            from convcli.features import plan_bank

            return "bank/" + plan_bank(self.x.shape, self.x.dtype, self.bank).method
        plan = make_plan(self.x.shape, self.x.dtype, self.kernel, **self.kwargs)
        extra = f"/{plan.fft_block}" if plan.fft_block else ""
        return plan.method + extra


# --------------------------------------------------------------------------- peers


def _try_import(name: str) -> Any:
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # noqa: BLE001 - any failure means "not installed"
        return None


#: Where the PyTorch contenders run.  Importing torch (MKL, its OpenMP runtime) slows
#: numpy's work on two threads in the same process by about a third (measured: a 3x3 on
#: 4096² float32 went from 16 to 24 ms with OpenCV unchanged), which would bias every other
#: contender; so by default ("child") they run in a child process of this script ("only"),
#: and their medians join the table.  "here" runs them in this process.
TORCH_MODE = os.environ.get("CONVCLI_BENCH_TORCH", "child")
HAVE_TORCH = importlib.util.find_spec("torch") is not None

cv2 = _try_import("cv2")
torch = _try_import("torch") if TORCH_MODE in ("here", "only") else None
ndimage = _try_import("scipy.ndimage")
signal = _try_import("scipy.signal")


def gauss1d(k: int, sigma: float | None = None) -> np.ndarray:
    """A normalised sampled gaussian of odd size ``k`` (binomial for k=3)."""
    if k == 3:
        return np.array([1.0, 2.0, 1.0]) / 4.0
    s = sigma if sigma is not None else 0.3 * ((k - 1) * 0.5 - 1) + 0.8  # OpenCV's default
    t = np.arange(k) - (k - 1) / 2
    g = np.exp(-(t**2) / (2 * s * s))
    return g / g.sum()


def outer(*vs: np.ndarray) -> np.ndarray:
    w = vs[0]
    for v in vs[1:]:
        w = np.multiply.outer(w, v)
    return w


def image_peers(
    x: np.ndarray, w: np.ndarray, sep: tuple[np.ndarray, np.ndarray] | None
) -> dict[str, Callable[[], Array]]:
    """2-D float32, same, zero padding, correlation."""
    peers: dict[str, Callable[[], Array]] = {}
    w32 = w.astype(np.float32)
    if cv2 is not None:
        peers["cv2.filter2D"] = lambda: cv2.filter2D(x, -1, w32, borderType=cv2.BORDER_CONSTANT)
        if sep is not None:
            kx, ky = (v.astype(np.float32) for v in (sep[1], sep[0]))
            peers["cv2.sepFilter2D"] = lambda: cv2.sepFilter2D(
                x, -1, kx, ky, borderType=cv2.BORDER_CONSTANT
            )
    if ndimage is not None:
        peers["ndimage.correlate"] = lambda: ndimage.correlate(x, w32, mode="constant")
        if sep is not None:
            ky, kx = (v.astype(np.float32) for v in sep)
            peers["ndimage.correlate1d x2"] = lambda: ndimage.correlate1d(
                ndimage.correlate1d(x, kx, axis=1, mode="constant"), ky, axis=0, mode="constant"
            )
    if signal is not None:
        wf = np.ascontiguousarray(w32[::-1, ::-1])
        peers["signal.fftconvolve"] = lambda: signal.fftconvolve(x, wf, mode="same")
        peers["signal.oaconvolve"] = lambda: signal.oaconvolve(x, wf, mode="same")
    if torch is not None:
        tx = torch.from_numpy(x)[None, None]
        tw = torch.from_numpy(w32)[None, None]
        peers["torch.conv2d"] = lambda: torch.nn.functional.conv2d(tx, tw, padding="same")[
            0, 0
        ].numpy()
    return peers


def build(quick: bool) -> list[Workload]:
    rng = np.random.default_rng(2024)
    n2 = 512 if quick else 4096
    nb = 256 if quick else 2048
    n3 = 40 if quick else 256
    seconds = 10 if quick else 600
    img = rng.random((n2, n2), dtype=np.float32)
    out: list[Workload] = []

    g3 = gauss1d(3)
    w = outer(g3, g3)
    out.append(Workload("W1", f"{n2}² 3×3 gauss", 2.0, img, w, {}, image_peers(img, w, (g3, g3))))

    w = rng.standard_normal((5, 5))
    out.append(Workload("W2", f"{n2}² 5×5 random", 2.0, img, w, {}, image_peers(img, w, None)))

    g15 = gauss1d(15, 3.0)
    w = outer(g15, g15)
    wl = Workload("W3", f"{n2}² 15×15 gauss", 1.5, img, w, {}, image_peers(img, w, (g15, g15)))
    out.append(wl)

    w = rng.standard_normal((31, 31))
    wl = Workload("W4", f"{n2}² 31×31 random", 1.0, img, w, {}, image_peers(img, w, None))
    if not quick:
        del wl.peers["ndimage.correlate"]
        wl.skipped.append("ndimage.correlate (about 20 s)")
    out.append(wl)

    out.append(_rgb_workload("W5", rng, n2, 1.5))
    out.append(_stride_workload("W6", rng, img, 1.0))

    # W7: a bank of 16 random 3x3 kernels on one image, all maps in one pass.
    bimg = rng.random((nb, nb), dtype=np.float32)
    bank = rng.standard_normal((16, 3, 3))
    bank32 = bank.astype(np.float32)
    wl = Workload("W7", f"{nb}² bank of 16 3×3", 1.0, bimg, bank[0], {}, bank=bank)
    if cv2 is not None:
        wl.peers["cv2.filter2D ×16"] = lambda: [
            cv2.filter2D(bimg, -1, k, borderType=cv2.BORDER_CONSTANT) for k in bank32
        ]
    if ndimage is not None:
        wl.peers["ndimage.correlate ×16"] = lambda: [
            ndimage.correlate(bimg, k, mode="constant") for k in bank32
        ]
    if torch is not None:
        tb = torch.from_numpy(bimg)[None, None]
        twb = torch.from_numpy(bank32[:, None])
        wl.peers["torch.conv2d 1->16"] = lambda: list(
            torch.nn.functional.conv2d(tb, twb, padding="same")[0].numpy()
        )
    out.append(wl)

    # W8/W9: stereo audio, frames x channels (as soundfile reads it).
    audio = rng.standard_normal((seconds * RATE, 2)).astype(np.float32)
    for key, taps, target in (("W8", 101, 1.0), ("W9", 65537, 1.0)):
        if taps == 101:
            h = np.sinc(0.25 * (np.arange(taps) - taps // 2)) * np.hamming(taps) * 0.25
            title = f"{seconds // 60 or seconds} {'min' if seconds >= 60 else 's'} stereo, "
            title += "101-tap FIR"
        else:
            h = rng.standard_normal(taps) * np.exp(-np.arange(taps) / 8000.0) * 0.01
            title = f"{seconds // 60 or seconds} {'min' if seconds >= 60 else 's'} stereo, "
            title += "65537-tap IR"
        h32 = h.astype(np.float32)
        wl = Workload(key, title, target, audio, h, {"channel_axis": 1})
        hf = np.ascontiguousarray(h32[::-1])
        if signal is not None:
            wl.peers["signal.oaconvolve"] = lambda hf=hf: signal.oaconvolve(
                audio, hf[:, None], mode="same", axes=0
            )
            wl.peers["signal.fftconvolve"] = lambda hf=hf: signal.fftconvolve(
                audio, hf[:, None], mode="same", axes=0
            )
        if taps == 101:
            wl.peers["np.correlate"] = lambda h32=h32: np.stack(
                [np.correlate(audio[:, c], h32, mode="same") for c in range(2)], axis=1
            )
            if ndimage is not None:
                wl.peers["ndimage.correlate1d"] = lambda h32=h32: ndimage.correlate1d(
                    audio, h32, axis=0, mode="constant"
                )
            if torch is not None:
                ta = torch.from_numpy(audio)
                th = torch.from_numpy(h32)[None, None]
                wl.peers["torch.conv1d"] = lambda ta=ta, th=th: torch.nn.functional.conv1d(
                    ta.T.contiguous()[:, None], th, padding="same"
                )[:, 0].T.numpy()
        else:
            wl.skipped.append("np.correlate, ndimage, torch.conv1d (minutes)")
            if torch is not None:
                ta = torch.from_numpy(audio)

                def torch_fft(ta: Any = ta, h32: np.ndarray = h32) -> np.ndarray:
                    n = ta.shape[0] + h32.size - 1
                    th = torch.from_numpy(np.ascontiguousarray(h32[::-1]))
                    xf = torch.fft.rfft(ta.T, n=n)
                    y = torch.fft.irfft(xf * torch.fft.rfft(th, n=n), n=n)
                    lo = (h32.size - 1) // 2
                    return y[:, lo : lo + ta.shape[0]].T.numpy()

                wl.peers["torch.fft"] = torch_fft
        out.append(wl)

    vol = rng.random((n3, n3, n3), dtype=np.float32)
    w = outer(g3, g3, g3)
    wl = Workload("W10", f"{n3}³ 3×3×3 gauss", 1.0, vol, w, {})
    w10 = w.astype(np.float32)
    if ndimage is not None:
        wl.peers["ndimage.correlate"] = lambda: ndimage.correlate(vol, w10, mode="constant")
        g32 = g3.astype(np.float32)

        def nd_sep() -> np.ndarray:
            y = vol
            for a in range(3):
                y = ndimage.correlate1d(y, g32, axis=a, mode="constant")
            return y

        wl.peers["ndimage.correlate1d x3"] = nd_sep
    _volume_peers(wl, vol, w10)
    out.append(wl)

    w = rng.standard_normal((7, 7, 7))
    wl = Workload("W11", f"{n3}³ 7×7×7 random", 1.0, vol, w, {})
    w11 = w.astype(np.float32)
    if ndimage is not None:
        wl.peers["ndimage.correlate"] = lambda: ndimage.correlate(vol, w11, mode="constant")
    _volume_peers(wl, vol, w11)
    out.append(wl)
    return out + build_ordinary(quick)


def _rgb_workload(
    key: str, rng: np.random.Generator, n: int, target: float, like_for_like: bool = False
) -> Workload:
    """RGB uint8, 3x3 sharpen; every contender returns the exact float result.

    With ``like_for_like`` the ratio is taken against OpenCV's float32 output only (the
    type convcli returns); OpenCV's int16 output (half the bytes) is shown in the details.
    """
    rgb = rng.integers(0, 256, (n, n, 3), dtype=np.uint8)
    sharpen = np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    title = f"{n}² RGB u8 3×3 sharpen"
    wl = Workload(key, title, target, rgb, sharpen, {"channel_axis": -1})
    s32 = sharpen.astype(np.float32)
    if cv2 is not None:
        wl.peers["cv2.filter2D u8->f32"] = lambda: cv2.filter2D(
            rgb, cv2.CV_32F, s32, borderType=cv2.BORDER_CONSTANT
        )
        wl.peers["cv2.filter2D u8->s16"] = lambda: cv2.filter2D(
            rgb, cv2.CV_16S, s32, borderType=cv2.BORDER_CONSTANT
        )
        if like_for_like:
            wl.against = ("cv2.filter2D u8->f32",)
            wl.note = "ratio against OpenCV's float32 output, convcli's own type"
    if ndimage is not None:
        wl.peers["ndimage.correlate"] = lambda: ndimage.correlate(
            rgb, s32[:, :, None], output=np.float32, mode="constant"
        )
    if torch is not None:
        trgb = torch.from_numpy(rgb)
        tw = torch.from_numpy(np.repeat(s32[None, None], 3, axis=0))

        def torch_rgb() -> np.ndarray:
            t = trgb.permute(2, 0, 1)[None].float()
            y = torch.nn.functional.conv2d(t, tw, padding="same", groups=3)
            return y[0].permute(1, 2, 0).contiguous().numpy()

        wl.peers["torch.conv2d (u8->f32)"] = torch_rgb
    return wl


def _stride_workload(
    key: str, rng: np.random.Generator, img: np.ndarray, target: float
) -> Workload:
    """3x3 random, stride 2.

    ``same`` with stride 2 pads 0 before, 1 after (TensorFlow's rule): output ``o`` reads
    ``x[2o + j]``, i.e. the centred full-resolution result at ``[1::2, 1::2]``.
    """
    w = rng.standard_normal((3, 3))
    w6 = w.astype(np.float32)
    title = f"{img.shape[0]}² 3×3 random, stride 2"
    wl = Workload(key, title, target, img, w, {"stride": 2})
    if cv2 is not None:
        wl.peers["cv2.filter2D + [1::2,1::2]"] = lambda: cv2.filter2D(
            img, -1, w6, borderType=cv2.BORDER_CONSTANT
        )[1::2, 1::2]
    if ndimage is not None:
        wl.peers["ndimage.correlate + slice"] = lambda: ndimage.correlate(img, w6, mode="constant")[
            1::2, 1::2
        ]
    if torch is not None:
        tx = torch.from_numpy(img)[None, None]
        tw6 = torch.from_numpy(w6)[None, None]
        wl.peers["torch.conv2d stride 2"] = lambda: torch.nn.functional.conv2d(
            torch.nn.functional.pad(tx, (0, 1, 0, 1)), tw6, stride=2
        )[0, 0].numpy()
    return wl


#: The sides of issue 14's ordinary-size images (W12-W17, W18-W23).
ORDINARY_SIDES = (1024, 2048)


def build_ordinary(quick: bool) -> list[Workload]:
    """The engine at ordinary sizes (issue 14): 1024² and 2048², float32 unless said.

    W12-W17 are 1024², W18-W23 2048² (``--quick``: 256² and 512²), each with the same six
    jobs: 3×3 and 5×5 against ``cv2.filter2D`` (target 1.5), a 15×15 Gaussian against
    ``cv2.sepFilter2D`` (1.2), 31×31 (1.0), uint8 RGB 3×3 against ``cv2.filter2D`` to the
    same float32 output (1.2), and 3×3 at stride 2 against OpenCV computing every output
    and slicing (0.5).
    """
    rng = np.random.default_rng(14)
    out: list[Workload] = []
    sides = (256, 512) if quick else ORDINARY_SIDES
    for i, n in enumerate(sides):
        key = 12 + 6 * i
        scale = 4 if n <= 1024 else 2
        img = rng.random((n, n), dtype=np.float32)
        g3 = gauss1d(3)
        w = outer(g3, g3)
        rows = [
            Workload(f"W{key}", f"{n}² 3×3 gauss", 1.5, img, w, {}, image_peers(img, w, (g3, g3)))
        ]
        w = rng.standard_normal((5, 5))
        rows.append(
            Workload(f"W{key + 1}", f"{n}² 5×5 random", 1.5, img, w, {}, image_peers(img, w, None))
        )
        g15 = gauss1d(15, 3.0)
        w = outer(g15, g15)
        rows.append(
            Workload(
                f"W{key + 2}", f"{n}² 15×15 gauss", 1.2, img, w, {}, image_peers(img, w, (g15, g15))
            )
        )
        w = rng.standard_normal((31, 31))
        wl = Workload(
            f"W{key + 3}", f"{n}² 31×31 random", 1.0, img, w, {}, image_peers(img, w, None)
        )
        if n > 1024:
            del wl.peers["ndimage.correlate"]
            wl.skipped.append("ndimage.correlate (seconds)")
        rows.append(wl)
        rows.append(_rgb_workload(f"W{key + 4}", rng, n, 1.2, like_for_like=True))
        rows.append(_stride_workload(f"W{key + 5}", rng, img, 0.5))
        for wl in rows:
            wl.repeat_scale = scale
        out.extend(rows)
    return out


def _volume_peers(wl: Workload, vol: np.ndarray, w32: np.ndarray) -> None:
    if signal is not None:
        wf = np.ascontiguousarray(w32[::-1, ::-1, ::-1])
        wl.peers["signal.fftconvolve"] = lambda: signal.fftconvolve(vol, wf, mode="same")
        wl.peers["signal.oaconvolve"] = lambda: signal.oaconvolve(vol, wf, mode="same")
    if torch is not None:
        tv = torch.from_numpy(vol)[None, None]
        tw = torch.from_numpy(w32)[None, None]
        wl.peers["torch.conv3d"] = lambda: torch.nn.functional.conv3d(tv, tw, padding="same")[
            0, 0
        ].numpy()


# --------------------------------------------------------------------------- running


def _scale(wl: Workload) -> float:
    k = wl.bank if wl.bank is not None else wl.kernel
    per = np.abs(k).reshape(len(k), -1).sum(1).max() if wl.bank is not None else np.abs(k).sum()
    return float(per) * max(float(np.abs(wl.x).max()), 1.0)


def _check(ref: Array, got: Array, scale: float) -> str:
    refs = ref if isinstance(ref, list) else [ref]
    gots = got if isinstance(got, list) else [got]
    if len(refs) != len(gots):
        return f"DIFF ({len(gots)} maps, expected {len(refs)})"
    worst = 0.0
    for r, g in zip(refs, gots):
        g = np.asarray(g)
        if g.shape != r.shape:
            return f"DIFF (shape {g.shape}, expected {r.shape})"
        worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - r))) / scale)
    return "ok" if worst <= 1e-5 else f"DIFF ({worst:.1e})"


def _timed(fn: Callable[[], Array]) -> tuple[float, Array]:
    gc.collect()
    t0 = time.perf_counter()
    y = fn()
    return time.perf_counter() - t0, y


def _peak_memory(fn: Callable[[], Array]) -> int:
    gc.collect()
    tracemalloc.start()
    y = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del y
    return peak


@dataclass
class Row:
    wl: Workload
    times: dict[str, list[float]]
    checks: dict[str, str]
    slow: set[str]
    memory: float | None
    method: str

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])


def run_workload(
    wl: Workload, repeat: int, memory: bool, slow_s: float = SLOW_S, time_convcli: bool = True
) -> Row:
    contenders: dict[str, Callable[[], Array]] = {"convcli": wl.run_convcli, **wl.peers}
    if not time_convcli:  # its result is still the reference every peer is checked against
        del contenders["convcli"]
    times: dict[str, list[float]] = {}
    checks: dict[str, str] = {}
    slow: set[str] = set()
    dt, ref = _timed(wl.run_convcli)
    refs = ref if isinstance(ref, list) else [ref]
    ref64: Array = [np.asarray(r, dtype=np.float64) for r in refs]
    if not isinstance(ref, list):
        ref64 = ref64[0]
    del ref, refs
    scale = _scale(wl)
    checks["convcli"] = "ref"
    for name, fn in wl.peers.items():
        try:
            dt, y = _timed(fn)
        except Exception as exc:  # noqa: BLE001 - a peer that fails is reported, not fatal
            checks[name] = f"failed: {type(exc).__name__}: {exc}"[:60]
            continue
        checks[name] = _check(ref64, y, scale)
        del y
        if dt > slow_s:
            times[name] = [dt]
            slow.add(name)
    del ref64
    active = [n for n in contenders if n not in slow and not checks[n].startswith("failed")]
    if not time_convcli:
        del checks["convcli"]
    for r in range(repeat * wl.repeat_scale if active else 0):
        shift = r % len(active)
        for name in active[shift:] + active[:shift]:
            dt, y = _timed(contenders[name])
            del y
            times.setdefault(name, []).append(dt)
    mem = None
    if memory:
        mem = _peak_memory(wl.run_convcli) / wl.x.nbytes
    return Row(wl, times, checks, slow, mem, wl.method())


def _fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}"


def print_table(rows: list[Row], memory: bool) -> None:
    head = (
        f"{'id':<4} {'workload':<30} {'method':<14} {'convcli ms':>10} "
        f"{'fastest peer':<28} {'peer ms':>8} {'ratio':>6} {'target':>6}  result"
    )
    if memory:
        head += "  peak/input"
    print(head)
    print("-" * len(head))
    for row in rows:
        wl = row.wl
        ours = row.median("convcli")
        peers = {
            n: row.median(n)
            for n in (wl.against or wl.peers)
            if n in row.times and row.checks[n] == "ok"
        }
        line = f"{wl.key:<4} {wl.title:<30} {row.method:<14} {_fmt_ms(ours):>10} "
        if peers:
            best = min(peers, key=lambda n: peers[n])
            ratio = ours / peers[best]
            verdict = "PASS" if ratio <= wl.target else "MISS"
            star = "*" if best in row.slow else ""
            line += f"{best + star:<28} {_fmt_ms(peers[best]):>8} {ratio:>6.2f} "
            line += f"{wl.target:>6.1f}  {verdict}"
        else:
            line += f"{'(no peer)':<28} {'':>8} {'':>6} {wl.target:>6.1f}  -"
        if memory and row.memory is not None:
            line += f"  {row.memory:.2f}"
        print(line)


def print_details(rows: list[Row]) -> None:
    print("\nEvery contender (median ms; * = one run: its warm-up was too slow to repeat):")
    for row in rows:
        wl = row.wl
        print(f"{wl.key} {wl.title}" + (f"  [{wl.note}]" if wl.note else ""))
        names = sorted(row.checks, key=lambda n: row.median(n) if n in row.times else 1e9)
        for name in names:
            t = _fmt_ms(row.median(name)) if name in row.times else "-"
            star = "*" if name in row.slow else ""
            print(f"    {name + star:<30} {t:>9}  {row.checks[name]}")
        for s in wl.skipped:
            print(f"    {'skipped: ' + s}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run (< 30 s)")
    ap.add_argument("--only", default="", help="comma-separated workload ids, e.g. W1,W5")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per contender")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc peak run")
    args = ap.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 5)
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    versions = [f"numpy {np.__version__}"]
    for name, mod in (("scipy", _try_import("scipy")), ("opencv", cv2), ("torch", torch)):
        versions.append(f"{name} {mod.__version__}" if mod is not None else f"{name} -")
    if torch is None and HAVE_TORCH:
        versions[-1] = "torch (in a child process)"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    slow_s = QUICK_SLOW_S if args.quick else SLOW_S
    if TORCH_MODE == "only":  # the child: time the PyTorch contenders, print them as JSON
        found = {}
        for wl in build(args.quick):
            wl.peers = {n: f for n, f in wl.peers.items() if n.startswith("torch")}
            if (only and wl.key not in only) or not wl.peers:
                continue
            print(f"  running {wl.key} {wl.title} (PyTorch) ...", file=sys.stderr, flush=True)
            row = run_workload(wl, repeat, False, slow_s, time_convcli=False)
            found[wl.key] = {"times": row.times, "checks": row.checks, "slow": sorted(row.slow)}
        print(json.dumps(found))
        return 0
    print(f"convcli {convcli.__version__}; {', '.join(versions)}; Python {sys.version.split()[0]}")
    print(f"{cpu}, {os.cpu_count()} CPUs; median of {repeat}, contenders interleaved")
    if torch is not None:
        print(f"torch threads: {torch.get_num_threads()}")
    print()
    from_child: dict[str, Any] = {}
    if TORCH_MODE == "child" and HAVE_TORCH:
        print("  PyTorch contenders: in a child process ...", file=sys.stderr, flush=True)
        env = {**os.environ, "CONVCLI_BENCH_TORCH": "only"}
        argv = sys.argv[1:] if argv is None else argv
        child = subprocess.run(
            [sys.executable, os.path.abspath(__file__), *argv],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        from_child = json.loads(child.stdout.strip().splitlines()[-1])
    workloads = [w for w in build(args.quick) if not only or w.key in only]
    rows = []
    for wl in workloads:
        print(f"  running {wl.key} {wl.title} ...", file=sys.stderr, flush=True)
        row = run_workload(wl, repeat, not args.no_memory, slow_s)
        extra = from_child.get(wl.key)
        if extra:
            row.times.update(extra["times"])
            row.checks.update(extra["checks"])
            row.slow.update(extra["slow"])
        rows.append(row)
    print_table(rows, not args.no_memory)
    print_details(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
