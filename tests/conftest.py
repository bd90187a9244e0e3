"""Shared fixtures: inputs made in ``tmp_path`` from seeded numpy arrays, and CLI helpers.

Every input is small (40x50 images, 0.1 s of audio, 12x20x24 volumes) so that the CLI test
files stay fast.  The arrays a test compares against are read back with Pillow and soundfile
themselves, never through convcli's loaders.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROWS, COLS = 40, 50
RATE = 8000
FRAMES = 800  # 0.1 s at 8 kHz

#: Every Pillow mode the filter command reads: mode -> (file extension, mode of the output).
IMAGE_MODES: dict[str, tuple[str, str]] = {
    "1": (".png", "L"),
    "L": (".png", "L"),
    "LA": (".png", "LA"),
    "P": (".png", "RGB"),
    "P+transparency": (".png", "RGBA"),
    "RGB": (".png", "RGB"),
    "RGBA": (".png", "RGBA"),
    "CMYK": (".tif", "RGB"),
    "I;16": (".png", "I;16"),
    "I;16B": (".tif", "I;16B"),
    "I": (".tif", "I"),
    "F": (".tif", "F"),
}


def rng_for(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def image_of_mode(mode: str, seed: int = 0, shape: tuple[int, int] = (ROWS, COLS)) -> Any:
    """A Pillow image of ``mode`` with seeded random content."""
    from PIL import Image

    rng = rng_for(seed)
    rows, cols = shape
    u8 = lambda *c: rng.integers(0, 256, (rows, cols, *c), dtype=np.uint8)  # noqa: E731
    if mode == "1":
        return Image.fromarray(rng.random((rows, cols)) > 0.5)
    if mode in ("L", "LA", "RGB", "RGBA"):
        channels = {"L": (), "LA": (2,), "RGB": (3,), "RGBA": (4,)}[mode]
        return Image.fromarray(u8(*channels), mode)
    if mode in ("P", "P+transparency"):
        im = Image.frombytes("P", (cols, rows), u8().tobytes())
        im.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
        if mode == "P+transparency":
            im.info["transparency"] = 7
        return im
    if mode == "CMYK":
        return Image.frombytes("CMYK", (cols, rows), u8(4).tobytes())
    if mode in ("I;16", "I;16B"):
        values = rng.integers(0, 65536, (rows, cols)).astype(">u2" if mode == "I;16B" else "<u2")
        return Image.frombytes(mode, (cols, rows), values.tobytes())
    if mode == "I":
        return Image.fromarray(rng.integers(-100_000, 100_000, (rows, cols), dtype=np.int32))
    if mode == "F":
        return Image.fromarray(rng.normal(0.0, 10.0, (rows, cols)).astype(np.float32))
    raise ValueError(mode)


def pil_array(path: Path | str) -> np.ndarray:
    """An image file as an array, read with Pillow alone (the reference loader)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode == "1":
            im = im.convert("L")
        elif im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode == "CMYK":
            im = im.convert("RGB")
        arr = np.array(im)
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 2:
        arr = arr.astype(np.uint16)
    return arr


def pil_mode(path: Path | str) -> str:
    from PIL import Image

    with Image.open(path) as im:
        return str(im.mode)


def pil_frames(path: Path | str) -> list[np.ndarray]:
    """Every frame of a multi-page or animated file, read with Pillow alone."""
    from PIL import Image, ImageSequence

    out = []
    with Image.open(path) as im:
        for frame in ImageSequence.Iterator(im):
            f = frame.convert("RGB") if frame.mode in ("P", "RGB") and im.format == "GIF" else frame
            out.append(np.array(f))
    return out


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., Path]:
    """Write an image of a Pillow mode (see :data:`IMAGE_MODES`) and return its path."""

    def make(mode: str, name: str | None = None, seed: int = 0, **kw: Any) -> Path:
        ext = IMAGE_MODES[mode][0]
        stem = mode.replace(";", "_").replace("+", "_")
        path = tmp_path / (name or f"in_{stem}{ext}")
        im = image_of_mode(mode, seed, **kw)
        params = {"transparency": im.info["transparency"]} if "transparency" in im.info else {}
        im.save(path, **params)
        return path

    return make


@pytest.fixture
def write_png(tmp_path: Path) -> Callable[..., Path]:
    """Write an 8-bit gray, RGB or RGBA array (or 16-bit gray) as PNG."""

    def write(arr: np.ndarray, name: str = "in.png") -> Path:
        from PIL import Image

        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(arr)).save(path)
        return path

    return write


@pytest.fixture
def make_audio(tmp_path: Path) -> Callable[..., Path]:
    """Write seeded noise as an audio file of a soundfile subtype; return its path."""

    def make(
        name: str = "in.wav",
        subtype: str = "PCM_16",
        channels: int = 2,
        rate: int = RATE,
        frames: int = FRAMES,
        amplitude: float = 0.8,
        seed: int = 0,
        data: np.ndarray | None = None,
    ) -> Path:
        import soundfile as sf

        if data is None:
            data = rng_for(seed).uniform(-amplitude, amplitude, (frames, channels))
        path = tmp_path / name
        sf.write(path, data, rate, subtype=subtype)
        return path

    return make


@pytest.fixture
def volume_array() -> np.ndarray:
    """12 planes of 20x24 8-bit gray; plane i is offset by 16*i so that order shows."""
    rng = rng_for(5)
    base = rng.integers(0, 60, (12, 20, 24))
    return (base + 16 * np.arange(12)[:, None, None]).astype(np.uint8)


@pytest.fixture
def slice_folder(tmp_path: Path, volume_array: np.ndarray) -> Path:
    """A folder of slices s1.png ... s12.png (natural order: s2 before s10)."""
    from PIL import Image

    folder = tmp_path / "slices"
    folder.mkdir()
    for i, plane in enumerate(volume_array, 1):
        Image.fromarray(plane).save(folder / f"s{i}.png")
    return folder


@pytest.fixture
def multipage_tiff(tmp_path: Path, volume_array: np.ndarray) -> Path:
    from PIL import Image

    path = tmp_path / "stack.tif"
    frames = [Image.fromarray(p) for p in volume_array[:5]]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


@pytest.fixture
def animated_gif(tmp_path: Path) -> Path:
    """4 frames of 16 gray levels (a palette holds them exactly)."""
    from PIL import Image

    rng = rng_for(9)
    planes = (rng.integers(0, 16, (4, 20, 24)) * 17).astype(np.uint8)
    path = tmp_path / "anim.gif"
    frames = [Image.fromarray(p) for p in planes]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return path


@pytest.fixture
def volume_npy(tmp_path: Path, volume_array: np.ndarray) -> Path:
    path = tmp_path / "vol.npy"
    np.save(path, volume_array.astype(np.float32))
    return path


# ------------------------------------------------------------------------------- the CLI


def invoke(*args: Any, **kw: Any) -> Any:
    """Run ``convcli ARGS`` in-process with Click's CliRunner (stderr kept apart)."""
    from click.testing import CliRunner

    from convcli.cli import cli

    return CliRunner().invoke(cli, [os.fspath(a) for a in args], **kw)


def error_lines(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("convcli: error:")]


def assert_one_error_line(result: Any, code: int) -> str:
    """Assert the exit code, exactly one stderr line, of the form ``convcli: error: ...``."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("convcli: error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Hidden (temporary) names left in a folder tree."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))
