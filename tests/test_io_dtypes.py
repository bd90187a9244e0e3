"""output_dtype's matrix (checked against what Pillow 13 really writes) and cast."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from convcli.errors import ArgumentError, UnsupportedError
from convcli.io import Form, Signal, cast, load, output_dtype, save
from convcli.io.pillow_image import image_dtypes
from convcli.io.registry import family

IMAGE_FORMATS = [f.name for f in family("image").writes]

EXT = {
    "PNG": ".png",
    "TIFF": ".tif",
    "BMP": ".bmp",
    "WEBP": ".webp",
    "GIF": ".gif",
    "PPM": ".ppm",
    "PGM": ".pgm",
    "JPEG": ".jpg",
}
DTYPES = ["uint8", "uint16", "int32", "float32"]
# Refused although Pillow writes something: float32 gray in .ppm/.pgm comes out as PFM, and
# RGB in .pgm as PPM (P6) data.
BY_CHOICE = {("PPM", 1, "float32"), ("PGM", 1, "float32"), ("PGM", 3, "uint8")}


def sample(dtype: str, channels: int, seed: int = 0, few: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (6, 7) if channels == 1 else (6, 7, channels)
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    info = np.iinfo(dtype)
    if few:
        return (rng.integers(0, 4, shape) * 60).astype(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=np.int64).astype(dtype)


MATRIX = [
    (fmt, channels, dtype) for fmt in IMAGE_FORMATS for channels in (1, 2, 3, 4) for dtype in DTYPES
]


@pytest.mark.parametrize(("fmt", "channels", "dtype"), MATRIX)
def test_matrix_is_what_pillow_writes(tmp_path: Path, fmt: str, channels: int, dtype: str) -> None:
    allowed = dtype in image_dtypes(fmt, channels)
    data = sample(dtype, channels, few=fmt == "GIF")
    s = Signal(data, "image", 2 if channels > 1 else None)
    out = tmp_path / f"x{EXT[fmt]}"
    if not allowed:
        with pytest.raises(UnsupportedError, match=f"{fmt} cannot hold"):
            output_dtype(s, out, dtype)
        with pytest.raises(UnsupportedError):
            save(s, out)
        if (fmt, channels, dtype) in BY_CHOICE:
            return
        # Pillow itself refuses it, or gives back something else
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = Image.fromarray(data)
                buf = io.BytesIO()
                im.save(buf, "PPM" if fmt == "PGM" else fmt)
                buf.seek(0)
                back = np.array(Image.open(buf))
        except (OSError, ValueError, TypeError, KeyError):
            return
        same = back.shape == data.shape and back.dtype == data.dtype
        assert not (same and np.array_equal(back, data)), "Pillow does hold it: widen the matrix"
        return
    assert output_dtype(s, out, dtype) == np.dtype(dtype)
    save(s, out)
    back = load(out).data
    assert back.dtype == np.dtype(dtype)
    if fmt == "WEBP" and channels <= 2:  # stored as RGB(A)
        back = back[..., [0, 3]] if channels == 2 else back[..., 0]
    if fmt == "GIF" and channels == 1:
        back = back[..., 0]
    if fmt == "GIF" and channels == 2:
        assert back.shape[-1] == 4
        return
    if fmt == "GIF" and channels == 4:  # alpha is 1-bit
        opaque = data[..., 3] == 255
        np.testing.assert_array_equal(back[..., :3][opaque], data[..., :3][opaque])
        return
    assert back.shape == data.shape
    if fmt == "JPEG":
        assert np.abs(back.astype(int) - data.astype(int)).mean() < 60  # noise is hard on JPEG
    else:
        np.testing.assert_array_equal(back, data)


def sig(kind: str, dt: str, channels: int = 1, **form: object) -> Signal:
    if kind == "audio":
        data = np.zeros((4, channels), np.float32)
        return Signal(data, "audio", 1, rate=8000, form=Form(**form))  # type: ignore[arg-type]
    shape = {"image": (4, 4), "volume": (2, 4, 4), "array": (3, 3, 3)}[kind]
    if channels > 1:
        shape = (*shape, channels)
    axis = None if channels == 1 else len(shape) - 1
    return Signal(np.zeros(shape, dt), kind, axis, form=Form(**form))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("signal", "path", "requested", "expected"),
    [
        (sig("image", "uint8", 3), "o.png", "auto", "uint8"),
        (sig("image", "uint8", 3), "o.npy", "auto", "uint8"),
        (sig("image", "uint8", 3), "o.npy", "float64", "float64"),
        (sig("image", "uint16"), "o.png", "auto", "uint16"),
        (sig("image", "uint16"), "o.tif", "auto", "uint16"),
        (sig("image", "uint16"), "o.png", "uint8", "uint8"),
        (sig("image", "float32"), "o.tif", "auto", "float32"),
        (sig("image", "int32"), "o.tif", "auto", "int32"),
        (sig("image", "uint8"), "o.jpg", "auto", "uint8"),
        (sig("image", "uint8", 4), "o.webp", "auto", "uint8"),
        (sig("volume", "uint16"), "o.tif", "auto", "uint16"),
        (sig("volume", "uint8", 3), "o.gif", "auto", "uint8"),
        (sig("volume", "float32"), "o", "auto", "float32"),
        (sig("array", "int64"), "o.npy", "auto", "int64"),
        (sig("audio", "float32", subtype="PCM_16", dtype="int16"), "o.wav", "auto", "int16"),
        (sig("audio", "float32", subtype="PCM_24", dtype="int32"), "o.flac", "auto", "int32"),
        (sig("audio", "float32", subtype="PCM_U8", dtype="uint8"), "o.wav", "auto", "uint8"),
        (sig("audio", "float32", subtype="FLOAT", dtype="float32"), "o.aiff", "auto", "float32"),
        (sig("audio", "float32", subtype="PCM_16", dtype="int16"), "o.ogg", "auto", "float32"),
        (sig("audio", "float32", subtype="DOUBLE", dtype="float64"), "o.flac", "auto", "int32"),
        (sig("audio", "float32", subtype="VORBIS", dtype="float32"), "o.wav", "auto", "float32"),
        (sig("audio", "float32", subtype="PCM_16", dtype="int16"), "o.wav", "float64", "float64"),
        (sig("audio", "float32", subtype="PCM_16", dtype="int16"), "o.npy", "auto", "int16"),
    ],
)
def test_output_dtype(signal: Signal, path: str, requested: str, expected: str) -> None:
    assert output_dtype(signal, path, requested) == np.dtype(expected)


@pytest.mark.parametrize(
    ("signal", "path", "requested", "message"),
    [
        (
            sig("image", "float32", 3),
            "o.png",
            "auto",
            r"o.png: PNG cannot hold 32-bit float RGB: PNG holds 8-bit gray, gray\+alpha, RGB "
            r"or RGBA and 16-bit gray; use .tif for one channel \(gray=True\) or .npy, "
            r"or dtype='uint8'",
        ),
        (
            sig("image", "uint16", 3),
            "o.png",
            "auto",
            r"PNG cannot hold 16-bit RGB.*use .tif for one channel \(gray=True\) or .npy, "
            r"or dtype='uint8'",
        ),
        (sig("image", "uint16", 3), "o.tif", "auto", r"TIFF cannot hold 16-bit RGB.*\.npy"),
        (sig("image", "uint16"), "o.jpg", "auto", r"JPEG cannot hold 16-bit gray.*\.png.*\.tif"),
        (sig("image", "float32"), "o.png", "auto", r"PNG cannot hold 32-bit float gray.*\.tif"),
        (sig("image", "uint8", 4), "o.jpg", "auto", r"JPEG cannot hold 8-bit RGBA.*\.png"),
        (sig("image", "uint8", 5), "o.tif", "auto", r"TIFF cannot hold 8-bit 5-channel.*\.npy"),
        (sig("image", "uint8"), "o.png", "int16", r"PNG cannot hold 16-bit signed gray"),
        (sig("volume", "uint8", 3), "o.jpg", "auto", r"JPEG holds one image"),
        (sig("volume", "float64"), "o", "auto", r"no slice format holds 64-bit float"),
        (sig("audio", "float32", subtype="FLOAT", dtype="float32"), "o.flac", "float32", "FLAC"),
        (sig("audio", "float32", subtype="PCM_16", dtype="int16"), "o.wav", "uint16", "WAV"),
        (sig("audio", "float32", subtype="PCM_16", dtype="int16"), "o.png", "auto", "audio"),
        (sig("image", "uint8"), "o.wav", "auto", "cannot be written as WAV"),
    ],
)
def test_output_dtype_refusals(signal: Signal, path: str, requested: str, message: str) -> None:
    with pytest.raises(UnsupportedError, match=message) as info:
        output_dtype(signal, path, requested)
    assert "\n" not in str(info.value)


def test_output_dtype_bad_request() -> None:
    with pytest.raises(ArgumentError, match="int8"):
        output_dtype(sig("image", "uint8"), "o.png", "int8")


# ---------------------------------------------------------------------------------- cast


def test_cast_rounds_half_to_even_and_clips() -> None:
    out, clipped = cast(np.array([0.5, 1.5, 2.5, -0.5, 254.5, 255.5, -7.0]), "uint8")
    assert out.tolist() == [0, 2, 2, 0, 254, 255, 0]
    assert clipped == 2


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "int64", "uint64"])
def test_cast_never_wraps(dtype: str) -> None:
    info = np.iinfo(dtype)
    x = np.array([-1e30, float(info.min) - 1e5, float(info.max) + 1e5, 1e30, np.nan, 3.0])
    out, clipped = cast(x, dtype)
    assert clipped == 5
    assert out[0] == info.min and out[1] == info.min
    assert out[2] >= info.max - 4096 and out[3] >= info.max - 4096  # 64-bit: float64 steps
    assert out[4] == 0 and out[5] == 3


def test_cast_int32_edges_from_float32() -> None:
    x = np.array([2.0**31, -(2.0**31), 2.0**31 - 128], np.float32)
    out, clipped = cast(x, "int32")
    assert out.tolist() == [2**31 - 1, -(2**31), 2**31 - 128]
    assert clipped == 1


def test_cast_floats_and_ints() -> None:
    out, clipped = cast(np.array([1e39, 1.0]), "float32")
    assert np.isinf(out[0]) and clipped == 1
    out, clipped = cast(np.array([1.25], np.float32), "float64")
    assert out.dtype == np.float64 and clipped == 0
    out, clipped = cast(np.array([-5, 300, 7], np.int64), "uint8")
    assert out.tolist() == [0, 255, 7] and clipped == 2
    out, clipped = cast(np.array([True, False]), "uint8")
    assert out.tolist() == [1, 0] and clipped == 0


@given(
    hnp.arrays(
        np.float64,
        st.integers(1, 50),
        elements=st.floats(-1e12, 1e12, allow_nan=False),
    ),
    st.sampled_from(["uint8", "uint16", "int16", "int32"]),
)
def test_cast_is_clip_of_rint(x: np.ndarray, dtype: str) -> None:
    info = np.iinfo(dtype)
    out, clipped = cast(x, dtype)
    expected = np.clip(np.rint(x), info.min, info.max)
    np.testing.assert_array_equal(out.astype(np.float64), expected)
    assert clipped == int(np.count_nonzero((np.rint(x) < info.min) | (np.rint(x) > info.max)))


@given(
    hnp.arrays(np.float32, st.integers(1, 50), elements=st.floats(-2, 2, width=32)),
    st.sampled_from(["PCM_16", "PCM_24", "PCM_32", "PCM_U8", "PCM_S8"]),
)
def test_audio_cast_is_exact_and_in_range(x: np.ndarray, subtype: str) -> None:
    dtype = {"PCM_16": "int16", "PCM_U8": "uint8", "PCM_S8": "int16"}.get(subtype, "int32")
    out, clipped = cast(x[:, None], dtype, audio_subtype=subtype)
    bits = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "PCM_U8": 8, "PCM_S8": 8}[subtype]
    half = 2.0 ** (bits - 1)
    r = np.rint(x.astype(np.float64) * half)
    q = np.clip(r, -half, half - 1)
    full = np.iinfo(dtype).bits
    expected = q * 2.0 ** (full - bits) + (128 if dtype == "uint8" else 0)
    np.testing.assert_array_equal(out[:, 0].astype(np.float64), expected)
    assert clipped == int(np.count_nonzero((r < -half) | (r > half - 1)))
