"""Kernel files: text/csv, npy, json, audio impulse responses; every bad case located."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from convcli.errors import KernelSpecError
from convcli.kernels import kernel_label, make_kernel, parse_spec, read_kernel_file


def write(path: Path, text: str, encoding: str = "utf-8") -> str:
    path.write_bytes(text.encode(encoding))
    return str(path)


def error_of(spec: str, ndim: int = 1) -> str:
    with pytest.raises(KernelSpecError) as info:
        make_kernel(spec, ndim)
    return str(info.value)


# --- text --------------------------------------------------------------------------------


def test_text_2d_with_comments_commas_and_tabs(tmp_path: Path) -> None:
    path = write(
        tmp_path / "k.txt",
        "# a 3x3 kernel\n"
        "1 2 1   # top\n"
        "  # an indented comment line does not split planes\n"
        "2,4,2\n"
        "1\t2 ,1\n",
    )
    k = make_kernel(path, 2)
    np.testing.assert_array_equal(k, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    assert k.dtype == np.float64


def test_text_single_line_is_1d(tmp_path: Path) -> None:
    path = write(tmp_path / "k.txt", "\n# taps\n-1 0 1.5e0\n\n")
    k = read_kernel_file(path)
    assert k.shape == (3,)
    np.testing.assert_array_equal(k, [-1, 0, 1.5])
    assert make_kernel(path, 2).shape == (1, 3)


def test_text_planes(tmp_path: Path) -> None:
    path = write(tmp_path / "k.txt", "1 2\n3 4\n\n\n   \n5 6\n7 8\n")
    k = make_kernel(path, 3)
    assert k.shape == (2, 2, 2)
    np.testing.assert_array_equal(k[1], [[5, 6], [7, 8]])


def test_text_planes_of_one_row(tmp_path: Path) -> None:
    path = write(tmp_path / "k.txt", "1 2 3\n\n4 5 6\n")
    assert read_kernel_file(path).shape == (2, 1, 3)


def test_csv_with_bom_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "k.csv", "\ufeff0.25,0.5,0.25\r\n0.5,1,0.5\r\n")
    np.testing.assert_array_equal(make_kernel(path, 2), [[0.25, 0.5, 0.25], [0.5, 1, 0.5]])


def test_text_upper_case_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "K.TXT", "1 2 1\n")
    assert parse_spec(path).kind == "file"
    np.testing.assert_array_equal(make_kernel(path, 1), [1, 2, 1])


def test_text_column_file_is_taps_for_audio(tmp_path: Path) -> None:
    # numpy.savetxt writes a 1-D array one number per line: for audio, a column of taps
    path = tmp_path / "taps.txt"
    np.savetxt(path, [1.0, 2.0, 1.0])
    assert make_kernel(str(path), 2).shape == (3, 1)
    np.testing.assert_array_equal(make_kernel(str(path), 1), [1.0, 2.0, 1.0])
    wide = write(tmp_path / "wide.txt", "1 2\n3 4\n")
    assert "but the signal has 1" in error_of(wide, 1)


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("1 2 1\n1 nan 1\n", "2:3", "NaN"),
        ("1 2 1\n1 2 Inf\n", "2:5", "Inf"),
        ("1 2 1\n1 2 -infinity\n", "2:5", "Inf"),
        ("1 2\n\n# c\n1 x\n", "4:3", "'x' is not a number"),
        ("1 2 1\n  1 2\n", "2:3", "row has 2 numbers but the row on line 1 has 3"),
        ("1 2\n3 4\n\n5 6\n", "4:1", "plane 2 has 1 rows but plane 1 (line 1) has 2"),
        ("1 2\n\n5 6 7\n", "3:1", "row has 3 numbers"),
        ("1,,2\n", "1:3", "unexpected ','"),
        ("1 2,\n", "1:4", "trailing ','"),
        ("a,b,c\n1,2,3\n", "1:1", "'a' is not a number"),
        ("\ufeff1 2\n3 y\n", "2:3", "'y'"),
        ("0,25 0,5 0,25\n", "1:1", "decimal point (0.25)"),
        ("1 2 1\n2 4,5 2\n", "2:3", "'4,5' could be two numbers"),
    ],
)
def test_text_errors_give_line_and_column(
    tmp_path: Path, text: str, where: str, fragment: str
) -> None:
    path = write(tmp_path / "bad.txt", text)
    message = error_of(path, 2)
    assert message.startswith(f"{path}:{where}: "), message
    assert fragment in message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "  # x\n\n"])
def test_text_empty(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "empty.csv", text)
    message = error_of(path)
    assert path in message and "empty kernel" in message


def test_text_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "k.txt"
    path.write_bytes(b"1 2 \xff\n")
    message = error_of(str(path))
    assert str(path) in message and "not UTF-8" in message and "byte 4" in message


def test_text_utf16_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "k.txt", "1 2 1\n", encoding="utf-16")
    assert "not UTF-8" in error_of(path)


# --- npy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8, np.bool_])
def test_npy_numeric(tmp_path: Path, dtype: type) -> None:
    data: np.ndarray = np.array([[1, 0, 1], [0, 1, 1]], dtype=dtype)
    path = tmp_path / "k.npy"
    np.save(path, data)
    k = make_kernel(str(path), 2)
    assert k.dtype == np.float64
    np.testing.assert_array_equal(k, data.astype(np.float64))


def test_npy_3d_and_leading_axes(tmp_path: Path) -> None:
    data = np.arange(8.0).reshape(1, 2, 4)
    path = tmp_path / "k.npy"
    np.save(path, data)
    assert make_kernel(f"@{path}", 2).shape == (2, 4)
    assert make_kernel(f"@{path}", 3).shape == (1, 2, 4)
    assert "3 axes (shape 1x2x4) but the signal has 1" in error_of(str(path), 1)


def test_npy_pickled_object_array_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npy"
    np.save(path, np.array([1, "x", None], dtype=object), allow_pickle=True)
    message = error_of(str(path))
    assert str(path) in message and "pickle" in message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (np.array([1.0, np.nan, 2.0]), "NaN at index (1,)"),
        (np.array([[1.0, 2.0], [3.0, -np.inf]]), "Inf at index (1, 1)"),
        (np.array([1 + 1j, 2]), "complex"),
        (np.array(["1", "2"]), "not numeric"),
        (np.zeros(3, dtype=[("a", "f8"), ("b", "f8")]), "not numeric"),
        (np.zeros((0, 3)), "empty kernel"),
        (np.array([1e300], dtype=np.longdouble) * 1e300, "Inf"),
    ],
)
def test_npy_refused(tmp_path: Path, data: np.ndarray, fragment: str) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, data)
    message = error_of(str(path))
    assert str(path) in message and fragment in message


def test_npy_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "bad.npy"
    path.write_bytes(b"this is not numpy")
    assert "not a readable .npy file" in error_of(str(path))


# --- json --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "shape"),
    [
        ([1, 2, 1], (3,)),
        ([[1, 2], [3, 4.5]], (2, 2)),
        ({"kernel": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "note": "sharpen"}, (3, 3)),
        ([[[1], [2]], [[3], [4]]], (2, 2, 1)),
    ],
)
def test_json(tmp_path: Path, payload: object, shape: tuple[int, ...]) -> None:
    path = tmp_path / "k.json"
    path.write_text(json.dumps(payload))
    k = read_kernel_file(str(path))
    assert k.shape == shape and k.dtype == np.float64
    nested = payload["kernel"] if isinstance(payload, dict) else payload
    np.testing.assert_array_equal(k, np.array(nested, dtype=float))


def test_json_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "k.json", "\ufeff[1, 2]")
    np.testing.assert_array_equal(make_kernel(path, 1), [1, 2])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[1, 2], [3]]", "ragged lists: [1] has shape (1,) but [0] has shape (2,)"),
        ('{"kernel": [[1, 2], [3, [4]]]}', "kernel[1][1] has shape (1,)"),
        ("[1, NaN]", "[1] is NaN"),
        ("[1, -Infinity]", "[1] is -Infinity"),
        ("[1, 1e999]", "[1] is Infinity"),
        ('[1, "2"]', '[1] is "2", not a number'),
        ("[true, 1]", "[0] is true, not a number"),
        ("[1, null]", "[1] is null"),
        ("[]", "empty list"),
        ("[[1], []]", "[1] is an empty list"),
        ("3", "holds 3, not a nested list"),
        ('{"weights": [1]}', "'kernel' key"),
        ('{"kernel": 5}', "kernel holds 5"),
        ("[1, 2,\n 3", "2:3: invalid JSON"),
        ("[1 2]", "1:4: invalid JSON"),
    ],
)
def test_json_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path / "bad.json", text)
    message = error_of(path)
    assert message.startswith(path), message
    assert fragment in message, message


# --- audio impulse responses -------------------------------------------------------------


def test_audio_mono_used_exactly(tmp_path: Path) -> None:
    ir = np.array([0.9, -0.3, 0.125, 0.0, -0.0625])
    path = tmp_path / "ir.wav"
    soundfile.write(path, ir, 48000, subtype="DOUBLE")
    k = make_kernel(str(path), 1)
    assert k.dtype == np.float64 and k.shape == (5,)
    np.testing.assert_array_equal(k, ir)  # never normalised
    assert kernel_label(str(path)) == "ir"
    assert make_kernel(str(path), 2).shape == (1, 5)


def test_audio_stereo_gives_one_kernel_per_channel(tmp_path: Path) -> None:
    ir = np.array([[0.5, 0.25], [0.0, -0.5], [-0.25, 0.125]], dtype=np.float32)  # frames x 2
    path = tmp_path / "hall.flac"
    soundfile.write(path, ir, 44100, subtype="PCM_24")
    k = make_kernel(f"@{path}", 1)
    assert k.shape == (2, 3)
    np.testing.assert_allclose(k, ir.T, atol=2**-23)
    assert make_kernel(str(path), 2).shape == (2, 3)


def test_audio_int16_is_scaled_not_normalised(tmp_path: Path) -> None:
    path = tmp_path / "ir.aiff"
    soundfile.write(path, np.array([16384, -8192, 0], dtype=np.int16), 8000, subtype="PCM_16")
    np.testing.assert_array_equal(make_kernel(str(path), 1), [0.5, -0.25, 0.0])


def test_audio_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF....not really")
    message = error_of(str(path))
    assert str(path) in message and "cannot read as audio" in message


def test_audio_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros((0, 1)), 8000)
    assert "no samples" in error_of(str(path))


def test_audio_nan_refused(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    soundfile.write(path, np.array([1.0, np.nan]), 8000, subtype="FLOAT")
    assert "NaN at index (1,)" in error_of(str(path))


def test_audio_at_the_signals_rate_is_used(tmp_path: Path) -> None:
    path = tmp_path / "ir.wav"
    soundfile.write(path, np.array([0.5, 0.25]), 22050, subtype="DOUBLE")
    np.testing.assert_array_equal(make_kernel(str(path), 1, rate=22050), [0.5, 0.25])
    np.testing.assert_array_equal(make_kernel(str(path), 1, rate=22050.0), [0.5, 0.25])


def test_audio_at_another_rate_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "hall.wav"
    soundfile.write(path, np.array([0.5, 0.25]), 44100, subtype="DOUBLE")
    with pytest.raises(KernelSpecError) as info:
        make_kernel(str(path), 1, rate=22050)
    message = str(info.value)
    assert str(path) in message
    assert "44100 Hz" in message and "22050 Hz" in message and "2 times as long" in message
    assert make_kernel(str(path), 2).shape == (1, 2)  # no rate (an image): no check


# --- missing and odd paths ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["missing.txt", "missing.npy", "missing.json", "missing.ogg"])
def test_missing_file(tmp_path: Path, name: str) -> None:
    path = str(tmp_path / name)
    for spec in (path, f"@{path}"):
        message = error_of(spec)
        assert path in message and "does not exist" in message


def test_missing_file_without_extension(tmp_path: Path) -> None:
    path = str(tmp_path / "kernel")
    assert "does not exist" in error_of(f"@{path}")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "k.txt"
    folder.mkdir()
    assert "is a directory" in error_of(str(folder))


def test_read_kernel_file_returns_file_axes(tmp_path: Path) -> None:
    path = write(tmp_path / "k.txt", "1 2\n3 4\n")
    assert read_kernel_file(path).shape == (2, 2)
