"""``convcli animate`` and convcli.explain.animate: frames, cells highlighted, values, files."""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pytest
from _reference import NUMPY_MODE, reference_correlate
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from convcli.cli import cli
from convcli.errors import ArgumentError, OutputExistsError
from convcli.explain.animate import output_kind, plan_animation, save_animation
from convcli.geometry import resolve, resolve_transposed
from convcli.padding import PAD_MODES

geometry_1d = st.tuples(
    st.integers(1, 9),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(1, 3),
)


def formula_cells(outputs, ks, ss, ds, los):
    """The input positions output `outputs` reads: o*s + j*d - p_lo per axis, row-major."""
    return [
        tuple(o * s + j * d - lo for o, j, s, d, lo in zip(outputs, js, ss, ds, los))
        for js in itertools.product(*(range(k) for k in ks))
    ]


@settings(max_examples=120, deadline=None)
@given(geometry_1d, geometry_1d)
def test_frames_highlight_the_cells_the_formula_names(row, col):
    (i0, k0, s0, lo0, hi0, d0), (i1, k1, s1, lo1, hi1, d1) = row, col
    try:
        axes = resolve(
            (i0, i1),
            (k0, k1),
            stride=(s0, s1),
            padding=[(lo0, hi0), (lo1, hi1)],
            dilation=(d0, d1),
        )
    except ArgumentError:
        return
    anim = plan_animation(
        (i0, i1),
        (k0, k1),
        stride=(s0, s1),
        padding=[(lo0, hi0), (lo1, hi1)],
        dilation=(d0, d1),
        max_frames=10_000,
    )
    outputs = [a.output for a in axes]
    assert len(anim.frames) == math.prod(outputs)
    assert [f.output for f in anim.frames] == list(itertools.product(*map(range, outputs)))
    for frame in anim.frames:
        expected = formula_cells(frame.output, (k0, k1), (s0, s1), (d0, d1), (lo0, lo1))
        assert list(frame.cells) == expected


@settings(max_examples=80, deadline=None)
@given(geometry_1d)
def test_1d_frames(geo):
    i, k, s, lo, hi, d = geo
    try:
        (axis,) = resolve((i,), (k,), stride=s, padding=[(lo, hi)], dilation=d)
    except ArgumentError:
        return
    anim = plan_animation((i,), (k,), stride=s, padding=[(lo, hi)], dilation=d)
    assert len(anim.frames) == axis.output
    for frame in anim.frames:
        (o,) = frame.output
        assert [c for (c,) in frame.cells] == [o * s + j * d - lo for j in range(k)]


@pytest.mark.parametrize("mode", PAD_MODES)
def test_sources_follow_numpy_pad(mode):
    x = np.arange(20.0).reshape(4, 5) + 1
    pads = [(3, 2), (2, 4)]
    anim = plan_animation(
        (4, 5),
        (3, 2),
        stride=(1, 2),
        padding=pads,
        dilation=(2, 1),
        pad_mode=mode,
        pad_value=-7.0,
        x=x,
        w=np.ones((3, 2)),
    )
    kw = {"constant_values": -7.0} if mode == "constant" else {}
    padded = np.pad(x, pads, mode=NUMPY_MODE[mode], **kw)
    for frame in anim.frames:
        for (r, c), source, (_, value) in zip(frame.cells, frame.sources, frame.terms):
            expected = padded[r + pads[0][0], c + pads[1][0]]
            assert value == expected
            inside = 0 <= r < 4 and 0 <= c < 5
            if mode in ("zero", "constant"):
                assert (source is None) == (not inside)
            else:
                assert source is not None and x[source] == expected


@pytest.mark.parametrize("mode", PAD_MODES)
@pytest.mark.parametrize(
    ("shape", "kshape", "stride", "padding", "dilation"),
    [
        ((5, 5), (3, 3), (2, 2), [(1, 1), (1, 1)], (1, 1)),
        ((6, 7), (2, 3), (1, 2), [(0, 1), (2, 2)], (2, 1)),
        ((9,), (4,), (3,), [(2, 3)], (1,)),
    ],
)
def test_frame_values_are_the_convolution(mode, shape, kshape, stride, padding, dilation):
    anim = plan_animation(
        shape,
        kshape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        pad_mode=mode,
        pad_value=2.5,
        seed=11,
    )
    assert anim.x is not None and anim.w is not None
    y = reference_correlate(anim.x, anim.w, stride, padding, dilation, mode, 2.5)
    assert y.size == len(anim.frames)
    for frame in anim.frames:
        assert frame.value == pytest.approx(y[frame.output])
        assert frame.value == pytest.approx(sum(w * v for w, v in frame.terms))


def transposed_reference(x, w, stride, padding, dilation, extra):
    """Scatter every input sample through the kernel: the transposed convolution's definition."""
    axes = resolve_transposed(
        x.shape,
        w.shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=extra,
    )
    y = np.zeros([a.output for a in axes])
    for m in itertools.product(*map(range, x.shape)):
        for j in itertools.product(*map(range, w.shape)):
            n = tuple(mm * a.stride + jj * a.dilation - a.pad_lo for mm, jj, a in zip(m, j, axes))
            if all(0 <= nn < a.output for nn, a in zip(n, axes)):
                y[n] += x[m] * w[j]
    return y


@pytest.mark.parametrize(
    ("shape", "kshape", "stride", "padding", "dilation", "extra"),
    [
        ((3, 3), (3, 3), (2, 2), 1, (1, 1), (1, 0)),
        ((2, 2), (3, 3), (1, 1), 0, (1, 1), (0, 0)),
        ((3, 2), (2, 3), (3, 2), [(0, 1), (2, 1)], (1, 2), (2, 1)),
        ((4,), (3,), (2,), [(4, 3)], (1,), (1,)),  # padding beyond k' - 1: the crop case
        ((3,), (2,), (2,), 0, (3,), (2,)),  # a >= s, allowed as a < d
    ],
)
def test_transposed_frames(shape, kshape, stride, padding, dilation, extra):
    anim = plan_animation(
        shape,
        kshape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        transposed=True,
        output_padding=extra,
        seed=5,
    )
    axes = resolve_transposed(
        shape, kshape, stride=stride, padding=padding, dilation=dilation, output_padding=extra
    )
    assert len(anim.frames) == math.prod(a.output for a in axes)
    # the equivalent convolution: stride 1, padding k' - 1 - p_lo, over the stretched input
    los = [a.effective_kernel - 1 - a.pad_lo for a in axes]
    for frame in anim.frames:
        ones = [1] * len(shape)
        assert list(frame.cells) == formula_cells(frame.output, kshape, ones, dilation, los)
        for cell, source in zip(frame.cells, frame.sources):
            real = all(
                0 <= c < a.stride * (a.size - 1) + 1 and c % a.stride == 0
                for c, a in zip(cell, axes)
            )
            assert (source is not None) == real
            if real:
                assert source == tuple(c // a.stride for c, a in zip(cell, axes))
    y = transposed_reference(anim.x, np.flip(anim.w), stride, padding, dilation, extra)
    for frame in anim.frames:
        assert frame.value == pytest.approx(y[frame.output])


def test_given_values_and_seed():
    a = plan_animation((4, 4), (2, 2), padding=0, seed=3)
    b = plan_animation((4, 4), (2, 2), padding=0, seed=3)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.w, b.w)
    assert a.x.min() >= 0 and a.x.max() <= 3 and a.w.max() <= 2
    w = [[1, -1], [2, 0]]
    c = plan_animation((4, 4), (2, 2), padding=0, w=w)
    assert np.array_equal(c.w, np.array(w, dtype=float)) and c.x is not None
    assert plan_animation((4, 4), (2, 2)).frames[0].value is None
    with pytest.raises(ArgumentError, match="kernel values have shape"):
        plan_animation((4, 4), (2, 2), w=[1, 2, 3])


def test_refusals():
    with pytest.raises(ArgumentError, match="1-D and 2-D"):
        plan_animation((5, 5, 5), (3, 3, 3))
    with pytest.raises(ArgumentError, match="does not apply to a transposed"):
        plan_animation((3, 3), (3, 3), transposed=True, pad_mode="reflect")
    with pytest.raises(ArgumentError, match="limit is 10"):
        plan_animation((5, 5), (3, 3), max_frames=10)
    with pytest.raises(ArgumentError, match="mirror"):
        plan_animation((5,), (3,), pad_mode="mirror")


def test_rendered_frames_have_one_size():
    anim = plan_animation((6, 6), (3, 3), stride=2, padding=1, pad_mode="circular", seed=1)
    sizes = {im.size for im in anim.images()}
    assert sizes == {anim.size()}
    im = anim.render(0, cell=20)
    assert im.mode == "RGB" and im.size == anim.size(cell=20)


def test_output_kind(tmp_path):
    assert output_kind("a.gif") == "gif"
    assert output_kind("a.PNG") == "apng"
    assert output_kind(str(tmp_path)) == "folder"
    assert output_kind(tmp_path / "frames") == "folder"
    with pytest.raises(ArgumentError, match=".jpg"):
        output_kind("a.jpg")


@pytest.mark.parametrize("name", ["anim.gif", "anim.png"])
def test_files_open_with_the_right_size_and_frame_count(tmp_path, name):
    anim = plan_animation((5, 5), (3, 3), stride=2, padding=1, seed=0)
    target = tmp_path / name
    kind, count, size = save_animation(anim, target, duration=100)
    assert count == 9 and size == anim.size()
    with Image.open(target) as im:
        assert im.format == ("GIF" if name.endswith(".gif") else "PNG")
        assert im.size == size
        assert im.n_frames == 9 and im.is_animated
    assert os.listdir(tmp_path) == [name]  # no temporary file left behind
    with pytest.raises(OutputExistsError):
        save_animation(anim, target)
    one = plan_animation((3, 3), (3, 3), padding="valid")
    save_animation(one, target, overwrite=True)
    with Image.open(target) as im:
        assert getattr(im, "n_frames", 1) == 1


def test_folder_of_frames(tmp_path):
    anim = plan_animation((7,), (3,), stride=2, padding=0, seed=2)
    target = tmp_path / "frames"
    kind, count, size = save_animation(anim, target)
    assert (kind, count) == ("folder", 3)
    names = sorted(os.listdir(target))
    assert names == ["frame-001.png", "frame-002.png", "frame-003.png"]
    for n in names:
        with Image.open(target / n) as im:
            assert im.format == "PNG" and im.size == size
    assert sorted(os.listdir(tmp_path)) == ["frames"]
    with pytest.raises(OutputExistsError):
        save_animation(anim, target)
    save_animation(plan_animation((5,), (3,), padding=0), target, overwrite=True)
    assert sorted(os.listdir(target)) == ["frame-001.png", "frame-002.png", "frame-003.png"]


# -- the CLI --------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(cli, ["animate", *args])


def test_cli_gif(tmp_path):
    out = tmp_path / "a.gif"
    result = run("-i", "5,5", "-k", "3,3", "-s", "2", "-p", "1", "-d", "1", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("px") and "9 frames (GIF)" in result.stdout
    with Image.open(out) as im:
        assert im.n_frames == 9
    again = run("-i", "5,5", "-k", "3,3", "-o", str(out))
    assert again.exit_code == 1
    assert again.stderr.strip() == f"convcli: error: {out}: exists; use --overwrite to replace it"
    assert run("-i", "5,5", "-k", "3,3", "-o", str(out), "--overwrite").exit_code == 0


def test_cli_values_transposed_and_frames(tmp_path):
    result = run(
        "-i",
        "5,5",
        "-k",
        "3,3",
        "-p",
        "1",
        "--pad-mode",
        "reflect",
        "--values",
        "-o",
        str(tmp_path / "r.png"),
    )
    assert result.exit_code == 0, result.output
    result = run("-i", "4", "-k", "3", "--values", "7", "-o", str(tmp_path / "v") + "/")
    assert result.exit_code == 0, result.output
    assert len(os.listdir(tmp_path / "v")) == 4
    result = run(
        "-i",
        "3,3",
        "-k",
        "3,3",
        "-s",
        "2",
        "-p",
        "1",
        "--transposed",
        "-a",
        "1",
        "-o",
        str(tmp_path / "t.gif"),
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "t.gif") as im:
        assert im.n_frames == 36
    result = run(
        "--input-values",
        "1 2 3; 4 5 6; 7 8 9",
        "--kernel-values",
        "sobel:axis=1",
        "-p",
        "1",
        "-o",
        str(tmp_path / "s.gif"),
    )
    assert result.exit_code == 0, result.output
    assert "9 frames" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "5,5,5", "-k", "3"], "1-D and 2-D"),
        (["-i", "5", "-k", "3", "-a", "1"], "--output-padding needs --transposed"),
        (["-i", "3", "-k", "3", "--transposed", "--pad-mode", "wrap"], "transposed"),
        (["-i", "50,50", "-k", "3"], "limit is 400"),
        (["-i", "2", "-k", "5", "-p", "valid"], "no output sample"),
        (["-i", "4,4", "-k", "3,3", "--input-values", "1 2; 3 4"], "--input-values has shape"),
        (["-k", "3"], "give --input"),
        (["-i", "5", "-k", "3", "--pad-mode", "mirror"], "ambiguous"),
        (["-i", "5", "-k", "3", "--kernel-values", "nosuchkernel"], "nosuchkernel"),
    ],
)
def test_cli_usage_errors(tmp_path, args, message):
    result = run(*args, "-o", str(tmp_path / "x.gif"))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convcli: error: ")
    assert message in lines[0]
    assert not os.listdir(tmp_path)


def test_cli_bad_extension(tmp_path):
    result = run("-i", "5", "-k", "3", "-o", str(tmp_path / "x.jpg"))
    assert result.exit_code == 2 and "'.jpg'" in result.stderr
