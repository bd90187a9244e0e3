"""One run of ``convcli features``: load, build the bank, compute every map, write the folder.

:func:`run_features` never raises for a problem with its input, weights or output folder: it
returns a record (what ``--json`` prints) whose ``status`` is ``"ok"`` or ``"error"``, with a
one-line ``error`` and the file it concerns in ``error_file``.  The order of work is::

    check DIR -> load -> [drop alpha] -> bank (-k, --bank or --weights) -> plan
      -> all maps in one pass -> + bias -> activation -> pooling
      -> maps.npy, one viewable file per map, montage.png, maps.json (last)

Every file is written to a temporary name beside it and renamed into place, so an
interrupted run leaves no half-written file; ``maps.json``, written last, describes a
complete set.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convcli.errors import (
    ArgumentError,
    OutputExistsError,
    Param,
    SignalWriteError,
)
from convcli.io import Form, Signal
from convcli.jobs.alpha import alpha_index
from convcli.jobs.options import geometry_for, kernel_geometries
from convcli.jobs.record import record_failure

__all__ = ["FeaturesOptions", "FeaturesJob", "run_features", "features_job", "describe_colours"]


def describe_colours() -> dict[str, str]:
    """How the viewable files draw a map (the ``colours`` entry of ``maps.json``)."""
    from convcli.features._display import DIVERGING_NAME

    return {
        "diverging": f"signed maps: {DIVERGING_NAME}; symmetric about 0, each map scaled to "
        "its own largest |value|",
        "grey": "maps of one sign: black at the map's minimum, white at its maximum",
        "flat": "a map with one value everywhere: mid-grey",
        "audio": "peak-normalised 16-bit WAV at the input rate / stride / pool stride",
    }


@dataclass(frozen=True)
class FeaturesOptions:
    """Everything ``convcli features`` was told."""

    kernels: tuple[str, ...] = ()
    bank: str | None = None
    weights: str | None = None
    stride: tuple[int, ...] | None = None
    padding: Any = "same"
    pad_mode: str | None = None
    pad_value: float = 0.0
    dilation: tuple[int, ...] | None = None
    flip: bool = False
    method: str = "auto"
    bias: tuple[float, ...] | None = None
    activation: str = "none"
    pool: str | None = None
    kind: str = "auto"
    read: tuple[tuple[str, Any], ...] = ()
    gray: bool = False
    overwrite: bool = False
    verbose: bool = False
    normalized: bool = False
    mask: str | None = None
    transposed: bool = False
    output_padding: tuple[int, ...] | None = None
    compat: str | None = None


class _Stage:
    """Which file the work in progress concerns (named in an error line)."""

    def __init__(self, path: str) -> None:
        self.path = path


def run_features(
    input_path: str,
    out_dir: str,
    opts: FeaturesOptions,
    *,
    log: Callable[[str], None] | None = None,
    protect: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Compute the feature maps of one input and write them to ``out_dir``.

    Parameters
    ----------
    input_path : str
        An image, audio file, volume (folder of slices, multi-page TIFF, animation, 3-D
        ``.npy``) or array.
    out_dir : str
        The folder to write (created; refused when it exists and is not empty, unless
        ``opts.overwrite``).
    opts : FeaturesOptions
        The bank and everything else.
    log : callable, optional
        Receives ``-v`` lines (the plan) as they are known; they are also the record's
        ``log``.
    protect : tuple of str, optional
        Paths never to write (every input of a batch); default ``(input_path,)``.

    Returns
    -------
    dict
        ``status`` (``"ok"`` or ``"error"``), ``error``, ``error_file``, ``input``,
        ``output``, ``seconds``, and on success everything ``maps.json`` holds; ``log`` and
        (with ``opts.verbose``, on failure) ``traceback`` are for the CLI's report.
    """
    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "input": input_path,
        "output": out_dir,
        "status": "error",
        "error": None,
        "error_file": None,
    }
    lines: list[str] = []

    def note(line: str) -> None:
        lines.append(line)
        if log is not None:
            log(line)

    stage = _Stage(out_dir)
    try:
        protect = (input_path,) if protect is None else protect
        record.update(_run(input_path, out_dir, opts, stage, note, protect))
        record["status"] = "ok"
    except Exception as exc:  # a bug below too: still one line, and the batch goes on
        record_failure(record, exc, stage.path, opts.verbose)
        record["error_file"] = stage.path
    record["seconds"] = round(time.perf_counter() - t0, 6)
    record["log"] = lines
    return record


@dataclass(frozen=True)
class FeaturesJob:
    """One input of a ``features`` batch and the folder its maps go to.

    ``protect`` lists every input of the run: no output may replace one.
    """

    input: str
    output: str
    protect: tuple[str, ...] = field(default_factory=tuple)


def features_job(job: FeaturesJob, opts: FeaturesOptions) -> dict[str, Any]:
    """Run one job of a ``features`` batch (:class:`convcli.jobs.batch.Batch`'s ``work``).

    Returns
    -------
    dict
        The record of :func:`run_features`.
    """
    return run_features(job.input, job.output, opts, protect=job.protect or None)


def _check_dir(out_dir: str, input_path: str, overwrite: bool) -> None:
    from convcli.io import same_file

    d = Path(out_dir)
    if same_file(d, input_path):
        raise OutputExistsError(f"{d}: is the input; convcli never writes into an input")
    real_in, real_out = os.path.realpath(input_path), os.path.realpath(d)
    if Path(input_path).is_dir() and real_out.startswith(real_in.rstrip(os.sep) + os.sep):
        raise OutputExistsError(
            f"{d}: is inside the input folder {input_path}; convcli never writes into an input"
        )
    if os.path.lexists(d):
        if not d.is_dir():
            raise SignalWriteError(f"{d}: exists and is not a folder")
        with os.scandir(d) as it:
            empty = next(it, None) is None
        if not empty and not overwrite:
            param = Param("overwrite", True)
            raise OutputExistsError(
                f"{d}: exists and is not empty; use {param} to write into it", params=[param]
            )


def _safe(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "map"


def _build_bank(
    opts: FeaturesOptions,
    ndim: int,
    rate: float | None,
    channels: int,
    stage: _Stage,
    spacing: list[tuple[float, str]] | None = None,
) -> tuple[Any, list[str], list[tuple[int, ...]], np.ndarray | None, dict[str, Any]]:
    """Return the weights for :func:`plan_bank`, labels, kernel shapes, bias and a source.

    ``spacing`` (the input's, per axis) converts ``-k`` lengths given with units.
    """
    from convcli.kernels import kernel_label, make_bank, make_kernel

    if opts.weights is not None:
        from convcli.features._weights import check_weights, load_weights

        stage.path = opts.weights
        layer = load_weights(opts.weights)
        layout = check_weights(layer, ndim, channels)
        stem = _safe(Path(opts.weights).stem)
        labels = [f"{stem}-f{i}" for i in range(layer.maps)]
        shapes = [tuple(layer.weight.shape[1:])] * layer.maps
        source = {
            "weights": opts.weights,
            "layout": "(F, C, *k)" if layout == "full" else "(F, *k)",
            "shape": list(layer.weight.shape),
            "dtype": layer.dtype,
            "bias_in_file": layer.bias is not None,
        }
        return layer.weight, labels, shapes, layer.bias, source
    if opts.bank is not None:
        pairs = make_bank(opts.bank, ndim, rate)
        source = {"bank": opts.bank}
    else:
        pairs = []
        for spec in opts.kernels:
            k = make_kernel(spec, ndim, rate=rate, spacing=spacing)
            if k.ndim != ndim:
                each, weights = Param("kernels"), Param("weights")
                raise ArgumentError(
                    f"kernel {spec!r} holds {k.shape[0]} per-channel kernels (shape "
                    f"{'x'.join(map(str, k.shape))}); features takes one kernel per {each} "
                    f"spec (use {weights} for per-channel weights)",
                    params=[each, weights],
                )
            pairs.append((kernel_label(spec), k))
        source = {"kernels": list(opts.kernels)}
    labels = [label for label, _ in pairs]
    kernels = [k for _, k in pairs]
    return kernels, labels, [tuple(k.shape) for k in kernels], None, source


def _run(
    input_path: str,
    out_dir: str,
    opts: FeaturesOptions,
    stage: _Stage,
    log: Callable[[str], None],
    protect: tuple[str, ...],
) -> dict[str, Any]:
    """Check DIR, load, build the bank, compute every map, write the folder; describe it."""
    from convcli.features._bank import plan_bank
    from convcli.features._layer import parse_pool

    stage.path = out_dir
    _check_dir(out_dir, input_path, opts.overwrite)
    stage.path = input_path
    sig, data, alpha_dropped = _load(input_path, opts)
    ch = sig.channel_axis
    channels = int(data.shape[ch]) if ch is not None else 1
    ndim = sig.spatial_ndim
    weights, labels, shapes, file_bias, source = _build_bank(
        opts, ndim, sig.rate, channels, stage, sig.sample_spacing
    )
    bias = _bias(opts, file_bias, len(labels), source)
    geometry = geometry_for(opts, ndim, sig.kind)
    pooling = parse_pool(opts.pool) if opts.pool else None
    finite = not (data.dtype.kind == "f" and not np.all(np.isfinite(data)))
    plan = plan_bank(data.shape, data.dtype, weights, channel_axis=ch, finite=finite, **geometry)
    peer = kernel_geometries(opts, geometry, [np.empty(plan.kernel_shape)], ndim)
    if peer is not None:  # --compat: the peer's `same` padding for the bank's kernel shape
        geometry = peer[0]
        plan = plan_bank(
            data.shape, data.dtype, weights, channel_axis=ch, finite=finite, **geometry
        )
    operation = "transposed" if opts.transposed else "normalized" if opts.normalized else None
    if operation is None:
        log(plan.describe())
        rate_out = _rate_out(sig, plan.geometry[0].stride * (pooling.stride if pooling else 1))
        maps = _compute(plan, data, bias, opts.activation, pooling)
    else:
        log(f"{operation} convolution, path by path (channel, kernel): {plan.describe()}")
        if opts.transposed:  # upsampled by the stride, then pooled
            rate_out = _rate_out(sig, pooling.stride if pooling else 1)
            if rate_out is not None:
                rate_out *= plan.geometry[0].stride
        else:
            rate_out = _rate_out(sig, plan.geometry[0].stride * (pooling.stride if pooling else 1))
        mask = _features_mask(opts, sig, data, alpha_dropped)
        maps = _compute_paths(plan, data, geometry, opts, mask)
        maps = _finish(maps, bias, opts.activation, pooling)
    description: dict[str, Any] = {
        "kind": sig.kind,
        "input_shape": list(sig.data.shape),
        "channels": channels,
        "alpha_dropped": alpha_dropped,
        "channel_use": _channel_use(plan.shared, channels),
        "rate": sig.rate,
        "rate_out": rate_out,
        "source": source,
        "geometry": _geometry_record(plan, opts),
        "operation": operation or "correlation",
        "output_padding": list(opts.output_padding or ()) if opts.transposed else None,
        "bias": None if bias is None else [float(b) for b in bias],
        "activation": opts.activation,
        "pool": None
        if pooling is None
        else {"mode": pooling.mode, "size": pooling.size, "stride": pooling.stride},
        "shape": list(maps.shape),
        "dtype": "float32",
    }
    if sig.form.info.get("columns") is not None:  # the channels' names (a text series)
        description["columns"] = list(sig.form.info["columns"])
    stage.path = out_dir
    width = max(2, len(str(len(labels) - 1)))
    stems = [f"{i:0{width}d}-{label}" for i, label in enumerate(labels)]
    written = _write_outputs(
        Path(out_dir),
        maps,
        stems,
        labels,
        shapes,
        bias,
        sig,
        rate_out,
        opts,
        protect,
        rows=_map_rows(plan, pooling),
    )
    description.update(written)
    description["colours"] = describe_colours()
    with _atomic(Path(out_dir) / "maps.json", opts, protect) as fh:
        fh.write(json.dumps(description, indent=2).encode("utf-8") + b"\n")
    return description


def _load(input_path: str, opts: FeaturesOptions) -> tuple[Any, np.ndarray, bool]:
    """Load the input; drop the alpha channel of an RGBA or LA image or volume (not a .npy)."""
    from convcli import io

    sig = io.load(input_path, kind=opts.kind, gray=opts.gray, options=dict(opts.read))
    data = sig.data
    ch = sig.channel_axis
    if sig.form.container != "npy" and alpha_index(sig) is not None:
        assert ch is not None
        return sig, np.delete(data, data.shape[ch] - 1, axis=ch), True
    return sig, data, False


def _bias(
    opts: FeaturesOptions, file_bias: np.ndarray | None, nmaps: int, source: dict[str, Any]
) -> np.ndarray | None:
    """Return each map's bias: ``--bias`` (one value, or one per map), else the file's."""
    if opts.bias is not None:
        if len(opts.bias) not in (1, nmaps):
            raise ArgumentError(
                f"bias has {len(opts.bias)} values but the bank has {nmaps} maps: give one "
                "value, or one per map",
                params=[Param("bias")],
            )
        source["bias"] = "--bias"
        return np.broadcast_to(np.asarray(opts.bias, dtype=np.float64), (nmaps,)).copy()
    if file_bias is not None:
        source["bias"] = "file"
    return file_bias


def _rate_out(sig: Any, step: int) -> float | None:
    """Return the maps' sample rate (audio): the input's over the stride times the pool stride."""
    if sig.kind != "audio" or sig.rate is None:
        return None
    rate_out = sig.rate / step
    if not float(rate_out).is_integer():
        raise ArgumentError(
            f"stride x pool stride {step} does not divide the sample rate {sig.rate:g} Hz "
            f"(the maps' rate would be {rate_out:.4f} Hz, and WAV files hold whole Hz)"
        )
    return rate_out


def _map_rows(plan: Any, pooling: Any) -> Any:
    """Where the maps' rows sit on the input's: the centre of the kernel (and pool) windows."""
    from convcli.geometry import RowMap

    rows = plan.geometry[0].centres()
    if pooling is not None:
        rows = rows.then(RowMap((pooling.size - 1) // 2, pooling.stride))
    return rows


def _features_mask(
    opts: FeaturesOptions, sig: Any, data: np.ndarray, alpha_dropped: bool
) -> np.ndarray | None:
    """Return the certainty of a normalized run: ``--mask``, else a dropped alpha channel."""
    from convcli.jobs.mask import load_mask

    if not opts.normalized:
        return None
    ch = sig.channel_axis
    spatial_shape = tuple(n for a, n in enumerate(data.shape) if a != ch)
    if opts.mask is not None:
        return load_mask(opts.mask, None, spatial_shape)
    if alpha_dropped:
        alpha = np.take(sig.data, sig.data.shape[ch] - 1, axis=ch)
        full = float(np.iinfo(alpha.dtype).max) if alpha.dtype.kind in "ui" else 1.0
        return alpha / full
    return None


def _compute_paths(
    plan: Any,
    data: np.ndarray,
    geometry: dict[str, Any],
    opts: FeaturesOptions,
    mask: np.ndarray | None,
) -> np.ndarray:
    """Compute every map path by path: normalized or transposed convolutions, summed.

    ``map[f] = sum_c op(x[c], W[f, c])`` (``W[f]`` for every ``c`` with shared weights), or
    one map per kernel and channel with ``per_channel="separate"``; the weights are the
    plan's (embedded in the bank's common size, flipped if asked).
    """
    from convcli.engine import conv_transpose, convolve

    ch = plan.channel_axis
    planes = [data] if ch is None else [np.take(data, c, axis=ch) for c in range(plan.channels)]
    geo = {**geometry, "flip": False}
    ndim = len(plan.geometry)
    output_padding: Any = 0
    if opts.output_padding is not None:
        from convcli.jobs.options import per_axis

        output_padding = per_axis(opts.output_padding, ndim, "output_padding")

    def path(f: int, c: int) -> np.ndarray:
        w = plan.weights[f, 0 if plan.shared else c]
        if opts.transposed:
            return conv_transpose(planes[c], w, output_padding=output_padding, **geo)
        return convolve(planes[c], w, normalized=True, mask=mask, **geo)

    maps = []
    for f in range(plan.weights.shape[0]):
        paths = [path(f, c) for c in range(len(planes))]
        if plan.per_channel == "separate" and plan.shared and ch is not None:
            maps.append(np.stack(paths))
        else:
            maps.append(np.sum(paths, axis=0))
    return np.stack(maps)


def _finish(maps: np.ndarray, bias: np.ndarray | None, activation: str, pooling: Any) -> np.ndarray:
    """Add the bias, then the activation, then the pooling (float32 out)."""
    from convcli.features._bank import add_bias
    from convcli.features._layer import activate, pool

    maps = np.ascontiguousarray(maps, dtype=np.float32)
    if bias is not None:
        add_bias(maps, bias)
    activate(maps, activation)
    if pooling is not None:
        maps = pool(maps, pooling.mode, pooling.size, pooling.stride)
    return np.ascontiguousarray(maps, dtype=np.float32)


def _compute(
    plan: Any, data: np.ndarray, bias: np.ndarray | None, activation: str, pooling: Any
) -> np.ndarray:
    """Compute every map in one pass, then the bias, the activation and the pooling."""
    from convcli.features._bank import add_bias, execute_bank
    from convcli.features._layer import activate, pool

    maps = execute_bank(plan, data)
    if bias is not None:
        add_bias(maps, bias)
    activate(maps, activation)
    if pooling is not None:
        maps = pool(maps, pooling.mode, pooling.size, pooling.stride)
    return np.ascontiguousarray(maps, dtype=np.float32)


def _geometry_record(plan: Any, opts: FeaturesOptions) -> dict[str, Any]:
    """Describe the geometry every map was computed with (``maps.json``)."""
    return {
        "stride": [g.stride for g in plan.geometry],
        "dilation": [g.dilation for g in plan.geometry],
        "padding": [[g.pad_lo, g.pad_hi] for g in plan.geometry],
        "padding_given": opts.padding,
        "pad_mode": plan.pad_mode,
        "pad_value": plan.pad_value,
        "flip": opts.flip,
        "kernel_shape": list(plan.kernel_shape),
        "method": plan.method,
    }


def _channel_use(shared: bool, channels: int) -> str:
    if not shared:
        return "weights per channel: map f = sum_c x_c (*) W[f, c]"
    if channels > 1:
        return "each kernel applied to every channel and summed"
    return "one channel"


def _atomic(path: Path, opts: FeaturesOptions, protect: tuple[str, ...]) -> Any:
    from convcli.io.atomic import atomic_file

    return atomic_file(path, overwrite=opts.overwrite, protect=protect)


def _stats(m: np.ndarray) -> dict[str, Any]:
    finite = np.isfinite(m)
    count = int(m.size - np.count_nonzero(finite))
    v = m if count == 0 else m[finite]
    if v.size == 0:
        return {"min": None, "max": None, "mean": None, "nonfinite": count}
    stats: dict[str, Any] = {
        "min": float(v.min()),
        "max": float(v.max()),
        "mean": float(np.mean(v, dtype=np.float64)),
    }
    if count:
        stats["nonfinite"] = count
    return stats


def _write_outputs(
    folder: Path,
    maps: np.ndarray,
    stems: list[str],
    labels: list[str],
    shapes: list[tuple[int, ...]],
    bias: np.ndarray | None,
    sig: Any,
    rate_out: float | None,
    opts: FeaturesOptions,
    protect: tuple[str, ...],
    rows: Any = None,
) -> dict[str, Any]:
    """Write maps.npy, the viewable files and the montage; describe them.

    A map of a one-channel text series is also written as that series (its file's layout,
    the column replaced by the map; ``rows`` says where the map's rows sit on the input's).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SignalWriteError(f"{folder}: cannot create the folder: {exc.strerror}") from exc
    _save(Signal(maps, "array"), folder / "maps.npy", opts, protect)
    nd = maps.ndim - 1
    audio = nd == 1 and sig.kind == "audio" and rate_out is not None

    series = sig.kind == "series" and sig.channels == 1 and sig.source is not None

    def one(i: int) -> tuple[dict[str, Any], np.ndarray | None, str]:
        if series and nd == 1:
            return _write_series_view(folder, maps[i], stems[i], sig, rows, opts, protect)
        return _write_view(folder, maps[i], stems[i], nd, audio, rate_out, opts, protect)

    from convcli.engine.threads import usable_cpus  # here: --help imports no numpy

    workers = min(2, usable_cpus())
    if workers > 1 and len(stems) > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="convcli-out") as pool:
            results = list(pool.map(one, range(len(stems))))
    else:
        results = [one(i) for i in range(len(stems))]

    entries = []
    for i, (view, _, how) in enumerate(results):
        entry: dict[str, Any] = {
            "index": i,
            "name": labels[i],
            "file": view.get("file"),
            "kernel_shape": list(shapes[i]),
        }
        if bias is not None:
            entry["bias"] = float(bias[i])
        entry.update(_stats(maps[i]))
        entry["display"] = how
        entries.append(entry)
    montage = None
    tiles = [t for _, t, _ in results]
    if tiles and all(t is not None for t in tiles):
        from convcli.features._montage import draw_montage

        # Waveforms are grey whatever the map's sign: the colour legends are for pictures.
        shown = {how for _, _, how in results} if nd > 1 else set()
        texts = [f"{i:0{max(2, len(str(len(stems) - 1)))}d} {labels[i]}" for i in range(len(stems))]
        image, layout = draw_montage(
            [t for t in tiles if t is not None], texts, sorted(shown & {"diverging", "grey"})
        )
        _save(_picture(np.asarray(image)), folder / "montage.png", opts, protect, threads=None)
        montage = "montage.png"
    return {"files": {"maps": "maps.npy", "montage": montage}, "maps": entries}


def _write_view(
    folder: Path,
    m: np.ndarray,
    stem: str,
    nd: int,
    audio: bool,
    rate_out: float | None,
    opts: FeaturesOptions,
    protect: tuple[str, ...],
) -> tuple[dict[str, Any], np.ndarray | None, str]:
    """Write one map's viewable file; return its entry, its montage tile and how it is drawn."""
    from convcli.features._display import display, display_range, peak_normalise, waveform

    if nd == 1:
        how = display_range(m)[0]
        tile = waveform(m)
        if audio:
            assert rate_out is not None
            name = f"{stem}.wav"
            # 16-bit as libsndfile converts the peak-normalised floats (encoding)
            wav = Signal(peak_normalise(m)[:, None], "audio", 1, rate=float(int(rate_out)))
            _save(wav, folder / name, opts, protect, encoding="PCM_16")
        else:
            name = f"{stem}.png"
            _save(_picture(waveform(m, 1024, 128)), folder / name, opts, protect)
        return {"file": name}, tile, how
    if nd == 2:
        levels, how = display(m)
        name = f"{stem}.png"
        _save(_levels(levels, how), folder / name, opts, protect)
        return {"file": name}, _tile(levels, how), how
    if nd == 3:
        levels, how = display(m)
        name = stem
        digits = max(3, len(str(len(levels) - 1)))
        names = [f"{z:0{digits}d}.png" for z in range(len(levels))]
        _save(_levels(levels, how, names), folder / name, opts, protect, format="folder")
        return {"file": name}, _tile(levels[len(levels) // 2], how), how
    return {"file": None}, None, display_range(m)[0]


def _write_series_view(
    folder: Path,
    m: np.ndarray,
    stem: str,
    sig: Any,
    rows: Any,
    opts: FeaturesOptions,
    protect: tuple[str, ...],
) -> tuple[dict[str, Any], np.ndarray | None, str]:
    """Write one map of a one-channel series as the input file, its column replaced by the map.

    Timestamps, labels, the header and the dialect come from the input; the map's rows sit
    on the input rows under the centres of their windows (``rows``).
    """
    from dataclasses import replace

    from convcli.features._display import display_range, waveform

    name = f"{stem}{Path(sig.source).suffix.lower()}"
    form = replace(sig.form, info={**sig.form.info, "rows": rows, "full_precision": False})
    one = Signal(m.astype(np.float64)[:, None], "series", 1, source=sig.source, form=form)
    _save(one, folder / name, opts, protect)
    return {"file": name}, waveform(m), display_range(m)[0]


def _tile(levels: np.ndarray, how: str) -> np.ndarray:
    """Return a map's montage tile: levels scaled to the tile (averaged down), then coloured.

    Averaging the levels before the colour map averages the map's values, not its colours.
    """
    from convcli.features._display import to_rgb
    from convcli.features._montage import _to_image, tile_shape

    small = np.asarray(_to_image(levels, tile_shape(levels.shape)))
    return to_rgb(small, how) if how == "diverging" else small


def _levels(levels: np.ndarray, how: str, slice_names: list[str] | None = None) -> Signal:
    """Return 8-bit levels as an image (or the planes of a volume) to write as PNG.

    A diverging map is indexed colour (the levels index :func:`diverging_lut`), any other
    8-bit grey; a volume's planes go to a folder with ``slice_names``.
    """
    from convcli.features._display import diverging_lut

    info = {"palette": diverging_lut()} if how == "diverging" else {}
    levels = np.ascontiguousarray(levels)
    if slice_names is None:
        return Signal(levels, "image", form=Form(info=info))
    form = Form(container="folder", slice_names=slice_names, info=info)
    return Signal(levels, "volume", form=form)


def _picture(picture: np.ndarray) -> Signal:
    """Return a drawn 8-bit picture (gray, or RGB channels last) as an image to write."""
    return Signal(picture, "image", channel_axis=2 if picture.ndim == 3 else None)


def _save(
    signal: Signal,
    path: Path,
    opts: FeaturesOptions,
    protect: tuple[str, ...],
    threads: int | None = 1,
    **options: Any,
) -> None:
    """Write one of the folder's files atomically.

    A PNG deflates on one thread by default: maps are written two at a time.
    """
    from convcli import io

    io.save(signal, path, overwrite=opts.overwrite, protect=protect, threads=threads, **options)
