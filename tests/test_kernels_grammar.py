"""The -k grammar: inline matrices, named specs, precedence, labels, make_kernel's axes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from convcli.errors import KernelSpecError
from convcli.kernels import (
    REGISTRY,
    KernelDef,
    ParsedSpec,
    format_inline,
    kernel_label,
    list_kernels,
    make_kernel,
    parse_spec,
)

# --- inline matrices: good -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1 2 1", [1, 2, 1]),
        ("1,2,1", [1, 2, 1]),
        ("1, 2 ,1", [1, 2, 1]),
        ("  1\t2   1  ", [1, 2, 1]),
        ("[1 2 1]", [1, 2, 1]),
        ("[ 1 2 1 ]", [1, 2, 1]),
        ("[1 2 1]*0.25", [0.25, 0.5, 0.25]),
        ("[1 2 1] / 4", [0.25, 0.5, 0.25]),
        ("[1 2 1]/-2", [-0.5, -1, -0.5]),
        ("-1 +2 .5 5. 1e2 -1.5E-1", [-1, 2, 0.5, 5, 100, -0.15]),
        ("7", [7]),
    ],
)
def test_inline_1d(spec: str, expected: list[float]) -> None:
    parsed = parse_spec(spec)
    assert parsed.kind == "inline"
    assert parsed.name is None
    assert parsed.array is not None
    assert parsed.array.dtype == np.float64
    assert parsed.array.shape == (len(expected),)
    np.testing.assert_allclose(parsed.array, expected, rtol=0, atol=1e-15)


def test_inline_2d_with_factor() -> None:
    k = parse_spec("[1 2 1; 2 4 2; 1 2 1]/16").array
    assert k is not None
    np.testing.assert_array_equal(k, np.outer([1, 2, 1], [1, 2, 1]) / 16)
    assert k.sum() == 1.0


@pytest.mark.parametrize("spec", ["1 2;3 4", "1,2;3,4", "[1 2; 3 4]", " 1 2 ; 3 4 ", "1, 2; 3, 4"])
def test_inline_2d_separators(spec: str) -> None:
    np.testing.assert_array_equal(parse_spec(spec).array, [[1, 2], [3, 4]])


def test_inline_3d_planes_rows_columns() -> None:
    k = parse_spec("1 2;3 4|5 6;7 8").array
    assert k is not None
    assert k.shape == (2, 2, 2)
    np.testing.assert_array_equal(k[0], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(k[1], [[5, 6], [7, 8]])
    np.testing.assert_array_equal(k[:, 0, 1], [2, 6])


def test_inline_3d_planes_of_one_row() -> None:
    k = parse_spec("[1 2 | 3 4]*2").array
    assert k is not None
    assert k.shape == (2, 1, 2)
    np.testing.assert_array_equal(k.ravel(), [2, 4, 6, 8])


def test_inline_column_kernel() -> None:
    k = parse_spec("1;2;1").array
    assert k is not None
    assert k.shape == (3, 1)


# --- inline matrices: bad ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("1 2 x", ["column 5", "'x'", "not a number"]),
        ("1 2;3 foo", ["column 7", "'foo'"]),
        ("1 nan 2", ["column 3", "NaN"]),
        ("1 NaN", ["column 3", "NaN"]),
        ("1 -inf", ["column 3", "Inf"]),
        ("inf 1", ["column 1", "Inf"]),
        ("nan", ["column 1", "NaN"]),
        ("1 1e999", ["column 3", "1e999", "infinity"]),
        ("1 2;3", ["column 5", "row 2 has 1 number", "row 1 has 2"]),
        ("1 2 ; 3 4 5", ["column 7", "row 2 has 3 numbers"]),
        ("1 2|3 4;5 6", ["column 5", "plane 2 has 2 rows", "plane 1 has 1"]),
        ("1 2;3 4|5 6;7", ["column 13", "plane 2, row 2 has 1 number"]),
        ("1 2|3 4 5", ["column 5", "plane 2, row 1 has 3 numbers", "plane 1, row 1 has 2"]),
        ("1 2|3 4|", ["column 9", "plane 3 is empty"]),
        ("1 2;;3 4", ["column 5", "row 2 is empty"]),
        ("1 2;", ["column 5", "row 2 is empty"]),
        ("[]", ["column 2", "empty matrix"]),
        ("[1 2]/0", ["column 7", "factor", "zero"]),
        ("[1 2]*0.0", ["column 7", "zero"]),
        ("[1 2]/x", ["column 7", "'x'"]),
        ("[1 2]/", ["column 6", "needs a number"]),
        ("[1 2] 3", ["column 7", "after ']'"]),
        ("[1 2", ["column 1", "never closed"]),
        ("[[1 2]]", ["column 2", "'['"]),
        ("1 2]", ["column 4", "']'"]),
        ("1 2 1/4", ["column 6", "brackets"]),
        ("2*1 2", ["column 2", "brackets"]),
        ("1,,2", ["column 3", "','"]),
        (",1 2", ["column 1", "','"]),
        ("1 2,", ["column 4", "','"]),
        ("1 2 3e", ["column 5", "'3e'"]),
        ("1_000", ["column 1", "'1_000'"]),
        ("0x10", ["column 1", "'0x10'"]),
        ("0,25 0,5 0,25", ["column 1", "'0,25'", "decimal comma", "0.25"]),
        ("1 \u0663 1", ["column 3", "not a number"]),  # ARABIC-INDIC DIGIT THREE
        ("1\x0c2", ["column 1", "not a number"]),
        ("1\u20032", ["column 1", "not a number"]),  # EM SPACE
        ("1 0,5 1", ["column 3", "'0,5'", "decimal point (0.5)"]),
        ("[1 2 1; 2 -0,5 2]/8", ["column 11", "'-0,5'", "(-0.5)"]),
        ("1,5 2", ["column 1", "'1,5'"]),
        ("1 2|1 0,5", ["column 7", "'0,5'"]),
    ],
)
def test_inline_errors_say_where(spec: str, fragments: list[str]) -> None:
    with pytest.raises(KernelSpecError) as info:
        parse_spec(spec)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1 2 1", [1, 2, 1]),
        ("1,2,1", [1, 2, 1]),
        ("1, 2, 1", [1, 2, 1]),
        ("1 ,2 ,1", [1, 2, 1]),
        ("0.25 0.5 0.25", [0.25, 0.5, 0.25]),
        ("0,25", [0, 25]),  # one way to read it: no space separates any number
    ],
)
def test_commas_and_spaces_read_one_way(spec: str, expected: list[float]) -> None:
    parsed = parse_spec(spec)
    assert parsed.array is not None
    assert parsed.array.tolist() == expected


def test_empty_spec() -> None:
    for spec in ["", "   "]:
        with pytest.raises(KernelSpecError, match="empty kernel spec"):
            parse_spec(spec)


def test_kernel_spec_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        make_kernel("1 2 x", 1)


# --- hypothesis round trip ---------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
arrays = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), elements=finite
)


@given(arrays)
def test_format_inline_round_trip(array: np.ndarray) -> None:
    text = format_inline(array)
    back = make_kernel(text, array.ndim)
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@given(arrays, st.sampled_from([" ", ",", ", ", "  ,"]), st.booleans())
def test_hand_formatted_round_trip(array: np.ndarray, sep: str, brackets: bool) -> None:
    """Format independently of format_inline: any separator, with or without brackets."""
    as3 = array.reshape((1,) * (3 - array.ndim) + array.shape)
    text = "|".join(";".join(sep.join(repr(float(v)) for v in row) for row in p) for p in as3)
    if brackets:
        text = f"[{text}]*1"
    back = parse_spec(text).array
    assert back is not None
    assert back.shape[-1] == array.shape[-1]
    np.testing.assert_array_equal(back.reshape(array.shape), array)


@given(
    hnp.arrays(np.float64, st.integers(1, 6), elements=st.integers(-1000, 1000).map(float)),
    st.integers(1, 64),
)
def test_divisor_factor(array: np.ndarray, divisor: int) -> None:
    text = "[" + " ".join(str(int(v)) for v in array) + f"]/{divisor}"
    back = parse_spec(text).array
    np.testing.assert_array_equal(back, array / divisor)  # exact: divided, not multiplied


# --- named specs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "name", "params"),
    [
        ("gaussian", "gaussian", {}),
        ("gaussian:2", "gaussian", {"sigma": 2.0}),
        ("gaussian:sigma=2", "gaussian", {"sigma": 2.0}),
        ("gaussian:2,9", "gaussian", {"sigma": 2.0, "size": 9}),
        ("gaussian:2,size=9", "gaussian", {"sigma": 2.0, "size": 9}),
        ("gaussian:size=9,sigma=.5", "gaussian", {"sigma": 0.5, "size": 9}),
        (" Gaussian : Sigma = 2 ", "gaussian", {"sigma": 2.0}),
        ("box:5", "box", {"size": 5}),
        ("box:5.0", "box", {"size": 5}),
        ("sobel:axis=1", "sobel", {"axis": 1}),
        ("sobel:-2", "sobel", {"axis": -2}),
        ("motion:9,45", "motion", {"length": 9, "angle": 45.0}),
        ("lowpass:cutoff=1000", "lowpass", {"cutoff": 1000.0}),
        ("bandpass:300,3000", "bandpass", {"low": 300.0, "high": 3000.0}),
        (
            "lowpass:1000,window=KAISER,beta=5",
            "lowpass",
            {"cutoff": 1e3, "window": "kaiser", "beta": 5.0},
        ),
        ("gabor:lambda=4,theta=30", "gabor", {"lambda": 4.0, "theta": 30.0}),
    ],
)
def test_named_parse(spec: str, name: str, params: dict[str, object]) -> None:
    parsed = parse_spec(spec)
    assert parsed == ParsedSpec("named", spec, name=name, params=params)
    assert parsed.kernel_def is REGISTRY[name]
    for key, value in params.items():
        assert type(parsed.params[key]) is type(value)


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(KernelSpecError) as info:
        parse_spec("gausian:2")
    message = str(info.value)
    assert "'gausian'" in message
    assert "gaussian" in message.split("did you mean", 1)[1]
    assert "convcli kernels" in message


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(KernelSpecError) as info:
        parse_spec("zzzzz")
    assert "did you mean" not in str(info.value)
    assert "convcli kernels" in str(info.value)


def test_unknown_name_that_is_a_file_suggests_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myfilter").write_text("1 2 1\n")
    with pytest.raises(KernelSpecError, match="write @myfilter"):
        parse_spec("myfilter")
    np.testing.assert_array_equal(make_kernel("@myfilter", 1), [1, 2, 1])


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("gaussian:sigm=2", ["unknown parameter 'sigm'", "sigma, size"]),
        ("emboss:1", ["too many values", "emboss takes 0"]),
        ("gaussian:1,3,5", ["too many values", "sigma, size"]),
        ("gaussian:sigma=abc", ["sigma", "'abc'", "not a number", "> 0"]),
        ("gaussian:sigma=-1", ["sigma", "'-1'", "> 0"]),
        ("gaussian:0", ["sigma", "'0'", "> 0"]),
        ("gaussian:sigma=nan", ["sigma", "NaN"]),
        ("gaussian:size=4", ["size", "'4'", "odd"]),
        ("gaussian:size=-3", ["size", "'-3'"]),
        ("box:2.5", ["size", "'2.5'", "not an integer"]),
        ("box:0", ["size", "'0'", "odd and >= 1"]),
        ("disk:radius=0", ["radius", "'0'", "> 0"]),
        ("motion:0", ["length", "'0'", ">= 1"]),
        ("sharpen:-1", ["amount", "'-1'", ">= 0"]),
        ("echo:decay=2", ["decay", "'2'", "between -1 and 1"]),
        ("echo:repeats=0", ["repeats", "'0'", ">= 1"]),
        ("lowpass:1000,taps=4", ["taps", "'4'", "odd and >= 3"]),
        ("lowpass:1000,window=bogus", ["window", "'bogus'", "hamming, hann, blackman, kaiser"]),
        ("gaussian:sigma=1,sigma=2", ["sigma is given twice"]),
        ("gaussian:2,sigma=3", ["sigma is given twice"]),
        ("gaussian:sigma=2,3", ["positional", "'3'"]),
        ("gaussian:", ["nothing after ':'", "sigma, size"]),
        ("gaussian:2,", ["argument 2", "empty"]),
        ("gaussian:sigma=", ["sigma has no value"]),
        ("foo bar", ["not a kernel name"]),
    ],
)
def test_named_errors(spec: str, fragments: list[str]) -> None:
    with pytest.raises(KernelSpecError) as info:
        parse_spec(spec)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_required_parameter_missing() -> None:
    with pytest.raises(KernelSpecError, match=r"lowpass needs cutoff"):
        make_kernel("lowpass", 1, rate=8000)
    with pytest.raises(KernelSpecError, match=r"bandpass needs high"):
        make_kernel("bandpass:300", 1, rate=8000)


# --- precedence: named / inline / file --------------------------------------------------


def test_precedence_never_takes_named_or_inline_for_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ["box:5", "1 2 1", "gaussian", "sobel"]:
        (tmp_path / name).write_text("9 9 9\n")
    assert parse_spec("box:5").kind == "named"
    assert parse_spec("gaussian").kind == "named"
    assert parse_spec("1 2 1").kind == "inline"
    np.testing.assert_array_equal(make_kernel("box:5", 1), np.full(5, 0.2))
    np.testing.assert_array_equal(make_kernel("1 2 1", 1), [1, 2, 1])


def test_precedence_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "k.txt").write_text("1 2 3\n")
    (tmp_path / "K2.CSV").write_text("4,5\n")
    (tmp_path / "plain").write_text("6 7\n")
    (tmp_path / "w.npz").write_bytes(b"PK")
    assert parse_spec("k.txt") == ParsedSpec("file", "k.txt", path="k.txt")
    assert parse_spec("@k.txt").path == "k.txt"
    assert parse_spec(" @ k.txt ").path == "k.txt"
    np.testing.assert_array_equal(make_kernel("k.txt", 1), [1, 2, 3])
    np.testing.assert_array_equal(make_kernel("K2.CSV", 1), [4, 5])
    np.testing.assert_array_equal(make_kernel("@plain", 1), [6, 7])  # @: read as text
    with pytest.raises(KernelSpecError, match="w.npz.*archive"):
        make_kernel("@w.npz", 1)
    # A missing path with a kernel-file extension is a file, and the error names it.
    for spec in ["missing.txt", "sub/dir/k.npy", "1.json", "@missing.wav"]:
        parsed = parse_spec(spec)
        assert parsed.kind == "file"
        with pytest.raises(KernelSpecError, match=re.escape(spec.lstrip("@")) + ".*does not exist"):
            make_kernel(spec, 1)


def test_at_needs_a_path() -> None:
    with pytest.raises(KernelSpecError, match="needs a path"):
        parse_spec("@")


def test_home_is_expanded() -> None:
    path = parse_spec("@~/k.txt").path
    assert path is not None
    assert not path.startswith("~")
    assert path.endswith("k.txt")


# --- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        ("gaussian", "gaussian"),
        ("gaussian:2", "gaussian-sigma2"),
        ("gaussian:size=9,sigma=0.5", "gaussian-sigma0.5-size9"),
        ("sobel:axis=1", "sobel-axis1"),
        ("sobel:axis=-1", "sobel-axis-1"),
        ("lowpass:cutoff=1000,window=hann", "lowpass-cutoff1000-windowhann"),
        ("echo:delay=1e-7", "echo-delay1e-07"),
        ("gaussian:sigma=1e6", "gaussian-sigma1e06"),
        ("[1 2 1; 2 4 2; 1 2 1]/16", "inline3x3"),
        ("1 2 1", "inline3"),
        ("1 2;3 4|5 6;7 8", "inline2x2x2"),
        ("@ir.wav", "ir"),
        ("@rooms/Big Hall (2).flac", "Big_Hall_2"),
        ("@weird name.txt", "weird_name"),
        ("@.txt", "txt"),
    ],
)
def test_kernel_label(spec: str, label: str) -> None:
    assert kernel_label(spec) == label
    assert re.fullmatch(r"[A-Za-z0-9._-]+", label)


def test_kernel_label_array_and_bad_spec() -> None:
    assert kernel_label(np.ones((3, 5))) == "array3x5"
    with pytest.raises(KernelSpecError):
        kernel_label("gausian")


# --- make_kernel: axes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "ndim", "shape"),
    [
        ("1 2 1", 1, (3,)),
        ("1 2 1", 2, (1, 3)),
        ("1 2 1", 3, (1, 1, 3)),
        ("1;2;1", 2, (3, 1)),
        ("1;2;1", 3, (1, 3, 1)),
        ("1 2;3 4", 3, (1, 2, 2)),
        ("1 2;3 4|5 6;7 8", 3, (2, 2, 2)),
        ("1 2 3|4 5 6", 3, (2, 1, 3)),
        ("5", 2, (1, 1)),
    ],
)
def test_make_kernel_adds_leading_axes(spec: str, ndim: int, shape: tuple[int, ...]) -> None:
    k = make_kernel(spec, ndim)
    assert k.shape == shape
    assert k.dtype == np.float64
    np.testing.assert_array_equal(k.ravel(), parse_spec(spec).array.ravel())  # type: ignore[union-attr]


def test_make_kernel_drops_leading_size_one_axes() -> None:
    np.testing.assert_array_equal(make_kernel(np.ones((1, 1, 3)), 1), np.ones(3))
    assert make_kernel(np.ones((1, 4, 3)), 2).shape == (4, 3)
    assert make_kernel(np.ones((1, 1, 4, 3)), 3).shape == (1, 4, 3)


@pytest.mark.parametrize(
    ("spec", "ndim", "fragments"),
    [
        ("1 2;3 4", 1, ["has 2 axes", "shape 2x2", "signal has 1"]),
        ("1;2;3", 1, ["has 2 axes", "shape 3x1", "signal has 1"]),
        ("1 2;3 4|5 6;7 8", 2, ["has 3 axes", "shape 2x2x2", "signal has 2"]),
    ],
)
def test_make_kernel_too_many_axes(spec: str, ndim: int, fragments: list[str]) -> None:
    with pytest.raises(KernelSpecError) as info:
        make_kernel(spec, ndim)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_make_kernel_array_too_many_axes() -> None:
    with pytest.raises(KernelSpecError, match=r"3 axes \(shape 2x1x1\) but the signal has 1"):
        make_kernel(np.ones((2, 1, 1)), 1)


def test_make_kernel_array_like() -> None:
    source = np.array([[1, 2], [3, 4]], dtype=np.int16)
    k = make_kernel(source, 2)
    assert k.dtype == np.float64
    np.testing.assert_array_equal(k, source)
    as_float = np.array([1.0, 2.0])
    out = make_kernel(as_float, 1)
    out[0] = 99.0
    assert as_float[0] == 1.0  # a copy, never the caller's array
    np.testing.assert_array_equal(make_kernel([True, False], 1), [1.0, 0.0])
    np.testing.assert_array_equal(make_kernel(3.5, 2), [[3.5]])


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([1.0, np.nan], "NaN at index (1,)"),
        ([[1.0, 2.0], [np.inf, 0.0]], "Inf at index (1, 0)"),
        ([], "empty"),
        (np.zeros((0, 3)), "empty"),
        ([1 + 2j, 3], "complex"),
        (["a", "b"], "dtype <U1"),
        ([[1, 2], [3]], "not a regular array"),
        ([1, None], "None at index (1,), not a number"),
        (np.array([1, "x"], dtype=object), "'x' at index (1,)"),
        (b"1 2 1", "bytes"),
    ],
)
def test_make_kernel_array_like_refused(value: object, fragment: str) -> None:
    with pytest.raises(KernelSpecError) as info:
        make_kernel(value, 1)  # type: ignore[arg-type]
    assert fragment in str(info.value)


@pytest.mark.parametrize("ndim", [0, -1, 1.5, True, "2", None])
def test_make_kernel_bad_ndim(ndim: object) -> None:
    with pytest.raises(KernelSpecError, match="ndim must be an integer >= 1"):
        make_kernel("1 2 1", ndim)  # type: ignore[arg-type]


def test_make_kernel_accepts_parsed_spec() -> None:
    parsed = parse_spec("box:3")
    np.testing.assert_array_equal(make_kernel(parsed, 1), np.full(3, 1 / 3))


def test_inline_array_is_not_shared() -> None:
    parsed = parse_spec("1 2 1")
    k = make_kernel(parsed, 1)
    k[:] = 0
    np.testing.assert_array_equal(make_kernel(parsed, 1), [1, 2, 1])


# --- the registry ------------------------------------------------------------------------


def test_registry_listing() -> None:
    kernels = list_kernels()
    names = [k.name for k in kernels]
    assert names == sorted(REGISTRY)
    assert {
        "identity", "box", "gaussian", "laplacian", "log", "dog", "sharpen", "unsharp", "sobel",
        "disk", "prewitt", "scharr", "emboss", "outline", "motion", "gabor", "lowpass",
        "highpass", "bandpass", "bandstop", "echo", "bilinear", "bicubic", "lanczos",
    } == set(names)  # fmt: skip
    for k in kernels:
        assert isinstance(k, KernelDef)
        assert k.summary and "\n" not in k.summary
        assert re.fullmatch(r"[a-z]+", k.name)
        assert k.needs_rate == (k.ndims == (1,) and k.name != "identity")
        for p in k.params:
            assert p.help
            assert p.type in (float, int, str)
            if p.default is not None:  # every default passes its own check
                assert p.validate(p.default, k.name) == p.default
            if p.choices is not None:
                assert p.type is str and p.default in p.choices
    with pytest.raises(TypeError):
        REGISTRY["new"] = REGISTRY["box"]  # type: ignore[index]


def test_signatures_and_ndims_text() -> None:
    assert REGISTRY["gaussian"].signature() == "gaussian:sigma=1.0,size=0"
    assert REGISTRY["sobel"].signature() == "sobel:axis=-1"
    assert REGISTRY["motion"].signature() == "motion:length=9,angle=0.0"
    assert REGISTRY["lowpass"].signature() == "lowpass:cutoff,taps=0,window=hamming,beta=8.6"
    assert REGISTRY["echo"].signature() == "echo:delay=0.25,decay=0.5,repeats=1"
    assert REGISTRY["laplacian"].signature() == "laplacian"
    assert REGISTRY["gaussian"].ndims_text() == "n-D"
    assert REGISTRY["gabor"].ndims_text() == "2-D"
    assert REGISTRY["echo"].ndims_text() == "1-D"


def test_every_signature_parses_back() -> None:
    """The signature with its defaults is itself a valid spec (where nothing is required)."""
    for k in list_kernels():
        if any(p.required for p in k.params):
            continue
        parsed = parse_spec(k.signature())
        assert parsed.name == k.name
        assert parsed.params == {p.name: p.default for p in k.params}


# --- import cost -------------------------------------------------------------------------


def test_import_is_numpy_only() -> None:
    code = (
        "import sys, convcli.kernels\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('scipy', 'PIL', 'soundfile', 'click'))\n"
        "print(','.join(bad))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_no_scipy_in_kernels_source() -> None:
    package = Path(__file__).resolve().parents[1] / "convcli" / "kernels"
    for source in package.glob("*.py"):
        for line in source.read_text().splitlines():
            assert not re.match(r"\s*(import|from)\s+scipy", line), (source.name, line)
