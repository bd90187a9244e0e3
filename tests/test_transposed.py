"""Transposed convolution against a float64 scatter-add loop, PyTorch, and the shape command."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from _reference import NUMPY_MODE
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convcli
from convcli.cli import cli
from convcli.errors import ArgumentError
from convcli.geometry import resolve, transposed_output_shape
from convcli.padding import PAD_MODES

METHODS = ("auto", "direct", "fft")


def reference_pads_transposed(k, s, d, padding):
    """The crop (p_lo, p_hi) and extra output padding, from SPEC's words for each form."""
    keff = d * (k - 1) + 1
    if padding == "valid":
        return 0, 0, 0
    if padding == "full":
        return keff - 1, keff - 1, 0
    if padding == "same":  # the forward 'same' convolution of an input of size i*s
        total = keff - s
        return (total // 2, total - total // 2, 0) if total >= 0 else (0, 0, -total)
    return padding[0], padding[1], 0


def reference_transpose(x, w, stride, padding, output_padding, dilation, pad_mode, flip=False):
    """Scatter every sample of x (extended by the pad mode) times w; crop; float64."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if flip:
        w = w[(slice(None, None, -1),) * w.ndim]
    crops = [
        reference_pads_transposed(k, s, d, p)
        for k, s, d, p in zip(w.shape, stride, dilation, padding)
    ]
    out_shape = [
        s * (i - 1) + a + extra + d * (k - 1) + 1 - lo - hi
        for i, k, s, d, a, (lo, hi, extra) in zip(
            x.shape, w.shape, stride, dilation, output_padding, crops
        )
    ]
    # extend x far enough on each side that every kept output has all its contributions
    margin = [
        max(k * d, lo, hi) // s + 2
        for k, d, s, (lo, hi, _) in zip(w.shape, dilation, stride, crops)
    ]
    xe = np.pad(x, [(m, m) for m in margin], mode=NUMPY_MODE[pad_mode])
    y = np.zeros(out_shape)
    for i in itertools.product(*(range(n) for n in xe.shape)):
        for j in itertools.product(*(range(k) for k in w.shape)):
            o = [
                (ii - m) * s + jj * d - lo
                for ii, m, s, jj, d, (lo, _, _) in zip(i, margin, stride, j, dilation, crops)
            ]
            if all(0 <= oo < n for oo, n in zip(o, out_shape)):
                y[tuple(o)] += xe[i] * w[j]
    return y


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 3))
    size = {1: 7, 2: 4, 3: 3}[ndim]
    shape = tuple(draw(st.integers(1, size)) for _ in range(ndim))
    kshape = tuple(draw(st.integers(1, 4 if ndim < 3 else 3)) for _ in range(ndim))
    stride = [draw(st.integers(1, 3)) for _ in range(ndim)]
    dilation = [draw(st.integers(1, 2)) for _ in range(ndim)]
    output_padding = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)]
    kind = draw(st.sampled_from(["same", "valid", "full", "pairs"]))
    if kind == "pairs":
        padding = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(ndim)]
    else:
        padding = kind
    ref_padding = padding if kind == "pairs" else [kind] * ndim
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(shape)
    w = rng.standard_normal(kshape)
    return x, w, stride, dilation, output_padding, padding, ref_padding


def _positive(x, w, stride, dilation, output_padding, padding):
    try:
        transposed_output_shape(
            x.shape,
            w.shape,
            stride=stride,
            padding=padding,
            dilation=dilation,
            output_padding=output_padding,
        )
    except ArgumentError:
        return False
    return True


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(PAD_MODES), st.sampled_from(METHODS), st.booleans())
def test_matches_the_scatter_loop(case, mode, method, flip):
    x, w, stride, dilation, output_padding, padding, ref_padding = case
    if not _positive(x, w, stride, dilation, output_padding, padding):
        with pytest.raises(ArgumentError, match="not positive"):
            convcli.conv_transpose(
                x,
                w,
                stride=stride,
                padding=padding,
                dilation=dilation,
                output_padding=output_padding,
            )
        return
    want = reference_transpose(x, w, stride, ref_padding, output_padding, dilation, mode, flip)
    got = convcli.conv_transpose(
        x,
        w,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        pad_mode=mode,
        flip=flip,
        method=method,
    )
    assert got.dtype == np.float64
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, w, stride, dilation, output_padding, padding, _ = case
    sym = [lo for lo, _ in padding] if isinstance(padding, list) else [0] * x.ndim
    if not _positive(x, w, stride, dilation, output_padding, sym):
        return  # torch pads both sides alike
    f = getattr(torch.nn.functional, f"conv_transpose{x.ndim}d")
    want = f(
        torch.from_numpy(x)[None, None],
        torch.from_numpy(w)[None, None],
        stride=stride,
        padding=sym,
        output_padding=output_padding,
        dilation=dilation,
    )[0, 0].numpy()
    got = convcli.conv_transpose(
        x,
        w,
        stride=stride,
        padding=sym,
        output_padding=output_padding,
        dilation=dilation,
    )
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_torch_with_channels_float32():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    want = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x)[:, None], torch.from_numpy(w)[None, None], stride=(2, 3), padding=1
    )[:, 0].numpy()
    got = convcli.conv_transpose(x, w, stride=(2, 3), padding=1, channel_axis=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "kernel", "args"),
    [
        ((3,), (3,), ["-s", "2", "-p", "1", "-a", "1"]),
        ((5, 4), (4, 4), ["-s", "2"]),
        ((5, 4), (3, 2), ["-s", "3,2", "-p", "valid", "-d", "2"]),
        ((4, 3, 2), (3, 3, 3), ["-s", "2", "-p", "full"]),
        ((6,), (2,), ["-s", "4", "-p", "same"]),
    ],
)
def test_shape_is_what_shape_transposed_prints(shape, kernel, args):
    argv = ["shape", "-i", ",".join(map(str, shape)), "-k", ",".join(map(str, kernel))]
    result = CliRunner().invoke(cli, argv + args + ["--transposed", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    opts = dict(zip(args[::2], args[1::2]))

    def ints(text):
        return [int(v) for v in text.split(",")]

    padding = opts.get("-p", "same")
    padding = padding if padding in ("same", "valid", "full") else ints(padding)
    y = convcli.conv_transpose(
        np.ones(shape),
        np.ones(kernel),
        stride=ints(opts.get("-s", "1")),
        padding=padding,
        dilation=ints(opts.get("-d", "1")),
        output_padding=ints(opts.get("-a", "0")),
    )
    assert list(y.shape) == record["output"]


def test_it_is_the_adjoint_of_convolve():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((11, 10))
    w = rng.standard_normal((3, 4))
    geometry = dict(stride=(2, 3), padding=[(1, 2), (0, 1)], dilation=(1, 2))
    y = convcli.convolve(x, w, **geometry)
    g = rng.standard_normal(y.shape)
    # the samples the forward strides never reach come back as output padding: (0, 1) here
    uncovered = [a.uncovered for a in resolve(x.shape, w.shape, **geometry)]
    back = convcli.conv_transpose(g, w, output_padding=uncovered, **geometry)
    assert back.shape == x.shape
    assert np.vdot(y, g) == pytest.approx(np.vdot(x, back))


def test_same_upsamples_by_the_stride():
    for s, k in [(2, 4), (2, 1), (3, 3), (4, 2)]:
        assert convcli.conv_transpose(np.ones(5), np.ones(k), stride=s).shape == (5 * s,)


@pytest.mark.parametrize("factor", [2, 3])
def test_bilinear_doubles_like_interpolate(factor):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).random((9, 11))
    k = convcli.make_kernel(f"bilinear:{factor}", 2)
    want = torch.nn.functional.interpolate(
        torch.from_numpy(x)[None, None], scale_factor=factor, mode="bilinear", align_corners=False
    )[0, 0].numpy()
    edged = convcli.conv_transpose(x, k, stride=factor, pad_mode="replicate")
    np.testing.assert_allclose(edged, want, atol=1e-12)  # everywhere
    zero = convcli.conv_transpose(x, k, stride=factor)  # a bilinear ConvTranspose2d
    inner = (slice(factor, -factor),) * 2
    np.testing.assert_allclose(zero[inner], want[inner], atol=1e-12)
    assert (zero[0] < want[0]).all()  # zero padding darkens the border


def test_bilinear_matches_scipy_zoom():
    from scipy import ndimage

    x = np.random.default_rng(1).random((6, 7, 5))
    y = convcli.conv_transpose(x, convcli.make_kernel("bilinear:2", 3), stride=2, pad_mode="edge")
    want = ndimage.zoom(x, 2, order=1, grid_mode=True, mode="nearest")
    np.testing.assert_allclose(y, want, atol=1e-12)


def test_bicubic_matches_torch_with_its_a():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).random((8, 10))
    y = convcli.conv_transpose(
        x, convcli.make_kernel("bicubic:2,a=-0.75", 2), stride=2, pad_mode="replicate"
    )
    want = torch.nn.functional.interpolate(
        torch.from_numpy(x)[None, None], scale_factor=2, mode="bicubic", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(y, want, atol=1e-12)


@pytest.mark.parametrize(("spec", "resample"), [("bicubic:2", "BICUBIC"), ("lanczos:2", "LANCZOS")])
def test_pillow_interior(spec, resample):
    from PIL import Image

    x = np.random.default_rng(3).random((12, 14)).astype(np.float32)
    y = convcli.conv_transpose(x, convcli.make_kernel(spec, 2), stride=2)
    want = np.asarray(Image.fromarray(x, "F").resize((28, 24), getattr(Image, resample)))
    inner = (slice(6, -6),) * 2  # Pillow renormalises the weights it keeps at the edges
    np.testing.assert_allclose(y[inner], want[inner], atol=1e-5)


@pytest.mark.parametrize("spec", ["bilinear:2", "bicubic:3", "lanczos:4,a=2"])
def test_a_flat_signal_stays_flat(spec):
    factor = int(spec.split(":")[1].split(",")[0])
    y = convcli.conv_transpose(
        np.full(10, 3.0), convcli.make_kernel(spec, 1), stride=factor, pad_mode="replicate"
    )
    np.testing.assert_allclose(y, 3.0)


def test_interpolation_kernels():
    assert convcli.make_kernel("bilinear:2", 1).tolist() == [0.25, 0.75, 0.75, 0.25]
    np.testing.assert_allclose(
        convcli.make_kernel("bilinear:3", 1), [1, 2, 3, 2, 1] / np.float64(3)
    )
    assert convcli.make_kernel("bilinear:2", 2).shape == (4, 4)
    assert convcli.make_kernel("bicubic:2", 1).shape == (8,)
    assert convcli.make_kernel("lanczos:2", 1).shape == (12,)
    assert convcli.make_kernel("bilinear:1", 2).tolist() == [[1.0]]
    with pytest.raises(ValueError, match="factor"):
        convcli.make_kernel("bilinear:0", 2)
    with pytest.raises(ValueError, match="between -1 and 0"):
        convcli.make_kernel("bicubic:2,a=0.5", 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(output_padding=2, stride=2), "output_padding"),
        (dict(stride=0), "stride"),
        (dict(padding=[(9, 9)]), "not positive"),
        (dict(pad_mode="mirror"), "ambiguous"),
        (dict(method="bogus"), "method"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ArgumentError, match=message):
        convcli.conv_transpose(np.ones(4), np.ones(3), **kwargs)
