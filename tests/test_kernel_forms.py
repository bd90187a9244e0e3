"""Kernels in other tools' forms: ImageMagick kernel strings and libvips matrix files."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convcli
from convcli.errors import KernelSpecError
from convcli.kernels import make_kernel, parse_spec
from convcli.kernels._files import read_vips_matrix


def im_reference(x, values, width, height, ox, oy, convolve):
    """ImageMagick's morphology.c, word for word, with its default virtual pixels (edge).

    Correlate: y[r, c] = sum K[v, u] * x[r + v - Y, c + u - X];
    Convolve reflects the kernel about its origin: y[r, c] = sum K[v, u] * x[r + Y - v, c + X - u].
    NaN taps are not part of the neighbourhood.
    """
    k = np.asarray(values, dtype=np.float64).reshape(height, width)
    rows, cols = x.shape
    y = np.zeros(x.shape)
    for r, c in itertools.product(range(rows), range(cols)):
        for v, u in itertools.product(range(height), range(width)):
            if np.isnan(k[v, u]):
                continue
            rr, cc = (r + oy - v, c + ox - u) if convolve else (r + v - oy, c + u - ox)
            y[r, c] += k[v, u] * x[min(max(rr, 0), rows - 1), min(max(cc, 0), cols - 1)]
    return y


def test_a_hand_worked_origin():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    k = make_kernel("2x1+0+0:10,1", 2)  # origin on the 10
    # Correlate: 10 * x[c] + 1 * x[c+1] (the edge is copied past the last column)
    got = convcli.convolve(x, k, pad_mode="replicate")
    assert got[0].tolist() == [12.0, 23.0, 33.0]
    # Convolve reflects about the origin: 10 * x[c] + 1 * x[c-1]
    got = convcli.convolve(x, k, pad_mode="replicate", flip=True)
    assert got[0].tolist() == [11.0, 21.0, 32.0]


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 4),
    height=st.integers(1, 4),
    data=st.data(),
    convolve=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_strings_against_imagemagicks_definition(width, height, data, convolve, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(-3, 4, width * height).astype(float)
    values[rng.random(width * height) < 0.2] = np.nan
    if np.isnan(values).all():
        values[0] = 1.0
    origin = data.draw(
        st.one_of(st.none(), st.tuples(st.integers(0, width - 1), st.integers(0, height - 1)))
    )
    text = ",".join("nan" if np.isnan(v) else f"{v:g}" for v in values)
    head = f"{width}x{height}" + ("" if origin is None else f"+{origin[0]}+{origin[1]}")
    ox, oy = origin if origin is not None else ((width - 1) // 2, (height - 1) // 2)
    x = rng.standard_normal((5, 6))
    want = im_reference(x, values, width, height, ox, oy, convolve)
    got = convcli.convolve(x, make_kernel(f"{head}:{text}", 2), pad_mode="replicate", flip=convolve)
    np.testing.assert_allclose(got, want, atol=1e-12)


def _imagemagick():
    exe = shutil.which("convert", path="/usr/bin") or shutil.which("magick")
    if exe is None:
        return None
    out = subprocess.run([exe, "-version"], capture_output=True, text=True)
    return exe if "ImageMagick" in out.stdout else None


@pytest.mark.parametrize("method", ["Convolve", "Correlate"])
@pytest.mark.parametrize(
    "kernel",
    ["3x2+0+0:1,2,0,0,1,1", "3x3+2+1:1,0,0,0,0,2,0,1,0", "4x2:1,0,2,0,0,1,0,nan", "2x2:1 2 - 1"],
)
def test_imagemagick_itself(tmp_path, method, kernel):
    exe = _imagemagick()
    if exe is None:
        pytest.skip("ImageMagick is not installed")
    x = np.random.default_rng(0).integers(0, 60, (6, 7)).astype(np.uint8)
    src, dst = tmp_path / "in.pgm", tmp_path / "out.pgm"
    src.write_bytes(b"P5 7 6 255\n" + x.tobytes())
    subprocess.run([exe, str(src), "-morphology", method, kernel, str(dst)], check=True)
    want = np.frombuffer(dst.read_bytes().split(maxsplit=4)[4], np.uint8).reshape(6, 7)
    got = convcli.convolve(
        x, make_kernel(kernel, 2), pad_mode="replicate", flip=method == "Convolve"
    )
    np.testing.assert_array_equal(np.clip(np.round(got), 0, 255), want)


def test_parsing_details():
    assert make_kernel("3:1,2,1,2,4,2,1,2,1", 2).shape == (3, 3)  # 'W:' is W x W
    assert make_kernel("3x1: 1 -2  1", 2).tolist() == [[1.0, -2.0, 1.0]]
    assert make_kernel("1x3:1,2,3", 2).tolist() == [[1.0], [2.0], [3.0]]
    # even sizes: the default origin is left of and above the middle, as SPEC's 'same'...
    k = make_kernel("4x2:1,2,3,4,5,6,7,8", 2)
    assert k.shape == (3, 5) and k[1, 2] == 2.0  # ...(column 1, row 0) becomes the centre
    assert make_kernel("3x3:nan,1,nan,1,1,1,nan,1,nan", 2).sum() == 5.0  # nan: weight 0
    spec = parse_spec("3x3+0+0:1,1,1,1,1,1,1,1,1")
    assert spec.kind == "inline" and spec.array is not None and spec.array.shape == (5, 5)
    assert make_kernel("[1 2 1]", 1).tolist() == [1.0, 2.0, 1.0]  # the inline grammar is as it was


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("3:1,2,1", ["column 8", "needs 9 values", "'W:' as WxW", "got 3"]),
        ("2x2:1,2,3,4,5", ["column 13", "more than the 4 values"]),
        ("3x3+3+0:" + "1," * 8 + "1", ["column 4", "origin +3+0 is outside"]),
        ("3x3-1+0:" + "1," * 8 + "1", ["origin -1+0 is outside"]),
        ("1x1:1;1x1:2", ["column 6", "list of kernels"]),
        ("3x3>:" + "1," * 8 + "1", ["flag '>'"]),
        ("2x1:nan,-", ["every value is nan"]),
        ("2x1:1,abc", ["column 7", "'abc' is not a number"]),
        ("2x1:1,inf", ["Inf is not allowed"]),
        ("0x1:1", ["size 0x1"]),
    ],
)
def test_malformed_strings(spec, fragments):
    with pytest.raises(KernelSpecError) as info:
        make_kernel(spec, 2)
    message = str(info.value)
    assert message.startswith("ImageMagick kernel")
    for fragment in fragments:
        assert fragment in message


# --- libvips matrix files ---------------------------------------------------------------


def write(tmp_path, text, name="k.mat"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_vips_matrix_scale_and_layout(tmp_path):
    path = write(tmp_path, '3 3 16\n1 2 1\n2,4,2\n"1"\t2 1\n\n')
    m = read_vips_matrix(path)
    assert (
        m.values.tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]] and m.scale == 16 and m.offset == 0
    )
    np.testing.assert_allclose(make_kernel(path, 2), m.values / 16)
    assert make_kernel(f"@{path}", 2).shape == (3, 3)


def test_vips_even_sizes_put_tap_w_over_2_on_the_pixel(tmp_path):
    path = write(tmp_path, "4 2 1 0\n1 2 3 4\n5 6 7 8\n")
    k = make_kernel(path, 2)
    assert k.shape == (3, 5) and k[1, 2] == 7.0  # tap (row 1, column 2) at the centre


def test_vips_offset_is_refused_naming_bias(tmp_path):
    path = write(tmp_path, "1 1 1 128\n1\n")
    with pytest.raises(KernelSpecError, match="give bias=128.0$") as caught:
        make_kernel(path, 2)
    from convcli.cli import option_for

    assert caught.value.spelled(option_for).endswith("give --bias 128")  # what the CLI says
    assert read_vips_matrix(path).offset == 128.0  # a caller can apply it itself


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("", ["empty"]),
        ("3\n1 2 3\n", [":1:1:", "header"]),
        ("3 1.5\n1 2 3\n", [":1:3:", "height 1.5"]),
        ("3 1 0\n1 2 3\n", [":1:5:", "scale is 0"]),
        ("3 2\n1 2 3\n", ["header says 2 rows", "has 1"]),
        ("3 1\n1 2 3 4\n", [":2:7:", "row has 4 numbers", "width 3"]),
        ("3 1\n1 2\n", [":2:4:", "row has 2 numbers"]),
        ("3 1\n1 2 3\n4 5 6\n", [":3:1:", "line after the 1 rows"]),
        ("2 1\n1 x\n", [":2:3:", "'x' is not a number"]),
        ("2 1\n1 0,5\n", [":2:5:", "row has 3 numbers"]),  # a comma splits, as in libvips
    ],
)
def test_malformed_vips_files(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(KernelSpecError) as info:
        make_kernel(path, 2)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_a_matlab_file_is_named(tmp_path):
    path = tmp_path / "k.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + bytes(100))
    with pytest.raises(KernelSpecError, match="MATLAB"):
        make_kernel(str(path), 2)


@pytest.mark.parametrize(
    "text", ["3 3 16 0\n1 2 1\n2 4 2\n1 2 1\n", "4 2 2 0\n1 0 2 0\n0 1 0 3\n", "3 1 1 0\n1 0 -1\n"]
)
def test_libvips_itself(tmp_path, text):
    if shutil.which("vips") is None:
        pytest.skip("libvips is not installed")
    x = np.random.default_rng(0).integers(0, 200, (6, 7)).astype(np.uint8)
    src = tmp_path / "in.pgm"
    src.write_bytes(b"P5 7 6 255\n" + x.tobytes())
    mat, out = write(tmp_path, text), tmp_path / "out.csv"
    subprocess.run(["vips", "conv", str(src), str(out), mat, "--precision", "float"], check=True)
    want = np.loadtxt(out)
    got = convcli.convolve(x, make_kernel(mat, 2), pad_mode="replicate")
    np.testing.assert_allclose(got, want, atol=1e-4)
