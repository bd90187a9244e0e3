"""Series in text files: CSV, TSV, blank-separated; read strictly, written back as they came.

The reference is computed here with numpy (``np.correlate`` on a zero-padded column, sliced
by the stride) and formatted with Python's ``%`` operator; files are written and read back
with the ``csv`` module and ``str.split``, independently of ``convcli.io.text_series``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convcli
from convcli.errors import ArgumentError, SignalReadError, UnsupportedError
from convcli.io import Signal
from convcli.io import text_series as ts

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


# ------------------------------------------------------------------------------------------
# Fixtures written by hand: a table of columns, in a dialect


@dataclass
class Table:
    """A table to write: numeric columns (values, decimals) and text columns (cells)."""

    names: list[str]
    kinds: list[str]  # "num" or "text"
    cells: list[list[str]]  # as written, unquoted, per row
    values: dict[int, np.ndarray]  # numeric column -> values as written (NaN for missing)


def make_table(rows: int, seed: int = 0, decimals: tuple[int, ...] = (2, 3)) -> Table:
    """A timestamp column, numeric columns of ``decimals`` and a label column."""
    rng = np.random.default_rng(seed)
    names = ["time"] + [f"ch{c}" for c in range(len(decimals))] + ["label"]
    kinds = ["text"] + ["num"] * len(decimals) + ["text"]
    cells: list[list[str]] = []
    values = {c + 1: np.empty(rows) for c in range(len(decimals))}
    for r in range(rows):
        row = [f"2024-01-01T00:{r // 60:02d}:{r % 60:02d}"]
        for c, d in enumerate(decimals):
            v = round(float(rng.normal(0, 10)), d)
            row.append(f"{v:.{d}f}")
            values[c + 1][r] = float(f"{v:.{d}f}")
        row.append(f"L{rng.integers(0, 1000)}")
        cells.append(row)
    return Table(names, kinds, cells, values)


def render(
    table: Table,
    delimiter: str | None = ",",
    *,
    decimal: str = ".",
    header: bool = True,
    newline: str = "\n",
    bom: bool = False,
    quote_text: bool = False,
    comments: dict[int, str] | None = None,
    pad: str = " ",
) -> str:
    """Write a table: ``comments`` maps a row index to a comment line before it."""
    sep = pad if delimiter is None else delimiter
    lines: list[str] = []
    comments = comments or {}

    def cell(text: str, j: int) -> str:
        if table.kinds[j] == "num":
            return text.replace(".", decimal)
        return f'"{text}"' if quote_text else text

    if header:
        lines.append(sep.join(table.names))
    for r, row in enumerate(table.cells):
        if r in comments:
            lines.append(comments[r])
        lines.append(sep.join(cell(t, j) for j, t in enumerate(row)))
    if len(table.cells) in comments:
        lines.append(comments[len(table.cells)])
    return ("\ufeff" if bom else "") + newline.join(lines) + newline


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def read_back(
    path: Path, delimiter: str | None, *, decimal: str = ".", header: bool = True
) -> list[list[str]]:
    """Read an output with the csv module (or str.split), comments dropped, BOM removed."""
    text = path.read_bytes().decode("utf-8-sig")
    lines = [ln for ln in io.StringIO(text, newline="").read().splitlines() if ln[:1] != "#"]
    if delimiter is None:
        rows = [ln.split() for ln in lines]
    else:
        rows = list(csv.reader(lines, delimiter=delimiter, strict=True))
    return rows[1:] if header else rows


def pads(i: int, k: int, stride: int, padding: str) -> tuple[int, int]:
    """SPEC's padding, written out again."""
    if padding == "same":
        out = -(-i // stride)
        total = max((out - 1) * stride + k - i, 0)
        return total // 2, total - total // 2
    if padding == "full":
        return k - 1, k - 1
    return 0, 0


def reference(
    x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: str = "same"
) -> np.ndarray:
    """SPEC's arithmetic with numpy: zero padding, correlation, stride (odd or even ``w``)."""
    lo, hi = pads(len(x), len(w), stride, padding)
    return np.correlate(np.pad(x, (lo, hi)), w, "valid")[::stride]


def fmt(v: float, decimals: int, decimal: str = ".") -> str:
    text = f"{v:.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace(".", decimal)


def filtered(path: Path, out: Path, w: np.ndarray, **geometry: object) -> Signal:
    """Load, filter every channel with ``w``, save with the row map: what the CLI will do."""
    s = ts.read_series(path)
    y = convcli.convolve(s.data, w, channel_axis=1, **geometry)  # type: ignore[arg-type]
    rows = ts.centre_rows(len(s.data), len(w), **geometry)  # type: ignore[arg-type]
    result = Signal(y, "series", 1, source=s.source, form=s.form)
    ts.write_series(result, out, row_map=rows)
    return result


LAYOUTS = {
    "comma": {"delimiter": ","},
    "semicolon-decimal-comma": {"delimiter": ";", "decimal": ","},
    "tab": {"delimiter": "\t"},
    "tab-decimal-comma": {"delimiter": "\t", "decimal": ","},
    "blanks": {"delimiter": None, "pad": "   "},
    "comma-no-header": {"delimiter": ",", "header": False},
    "comma-quoted-text": {"delimiter": ",", "quote_text": True},
    "comma-crlf-bom": {"delimiter": ",", "newline": "\r\n", "bom": True},
    "semicolon-comments": {"delimiter": ";", "comments": {0: "# start", 5: "# five", 40: "# end"}},
    "cr-line-ends": {"delimiter": ",", "newline": "\r"},
}


# ------------------------------------------------------------------------------------------
# Reading: the values, the dialect, the columns


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_load_reads_every_layout(tmp_path: Path, name: str) -> None:
    table = make_table(40, seed=1)
    opts = dict(LAYOUTS[name])
    path = write(tmp_path / "in.csv", render(table, **opts))  # type: ignore[arg-type]
    s = ts.read_series(path)
    layout = s.form.info["series"]
    assert s.kind == "series" and s.channel_axis == 1 and s.data.dtype == np.float64
    np.testing.assert_array_equal(s.data, np.stack([table.values[1], table.values[2]], axis=1))
    assert layout.channels == (1, 2)
    assert layout.passthrough == (0, 3)
    assert layout.dialect.delimiter == opts.get("delimiter", ",")
    assert layout.dialect.decimal == opts.get("decimal", ".")
    assert layout.dialect.newline == opts.get("newline", "\n")
    assert layout.dialect.bom == opts.get("bom", False)
    assert layout.header == opts.get("header", True)
    expect = ("time", "ch0", "ch1", "label") if layout.header else ("1", "2", "3", "4")
    assert layout.names == expect
    assert [st.decimals for st in layout.styles] == [2, 3]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_identity_gives_the_file_back_byte_for_byte(tmp_path: Path, name: str) -> None:
    table = make_table(40, seed=2)
    path = write(tmp_path / "in.csv", render(table, **LAYOUTS[name]))  # type: ignore[arg-type]
    out = tmp_path / "out.csv"
    filtered(path, out, np.array([1.0]))
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("w", [[0.25, 0.5, 0.25], [1.0, -1.0], [0.2] * 5])
def test_filtered_columns_match_numpy_and_the_rest_is_untouched(
    tmp_path: Path, name: str, w: list[float]
) -> None:
    opts = LAYOUTS[name]
    table = make_table(40, seed=3)
    path = write(tmp_path / "in.csv", render(table, **opts))  # type: ignore[arg-type]
    out = tmp_path / "out.csv"
    result = filtered(path, out, np.array(w))
    decimal = str(opts.get("decimal", "."))
    rows = read_back(
        out,
        opts.get("delimiter", ","),  # type: ignore[arg-type]
        decimal=decimal,
        header=bool(opts.get("header", True)),
    )
    assert len(rows) == 40
    for c, d in ((1, 2), (2, 3)):
        x = table.values[c]
        y = result.data[:, c - 1]
        np.testing.assert_allclose(y, reference(x, np.array(w)), rtol=0, atol=1e-12)
        for r, row in enumerate(rows):
            written = table.cells[r][c].replace(".", decimal)
            assert row[c] == (written if y[r] == x[r] else fmt(y[r], d, decimal)), (r, c)
    assert [row[0] for row in rows] == [row[0] for row in table.cells]
    assert [row[3] for row in rows] == [row[3] for row in table.cells]


def test_comments_stay_in_place(tmp_path: Path) -> None:
    table = make_table(8, seed=4)
    comments = {0: "# before the first row", 3: "#  three", 8: "# after the last"}
    text = "# leading block\n#\n" + render(table, comments=comments)
    path = write(tmp_path / "in.csv", text)
    out = tmp_path / "out.csv"
    filtered(path, out, np.array([0.5, 0.5]))
    lines = out.read_text().splitlines()
    assert lines[:4] == ["# leading block", "#", "time,ch0,ch1,label", "# before the first row"]
    assert lines[7] == "#  three" and lines[8].startswith(table.cells[3][0])
    assert lines[-1] == "# after the last"


def test_blank_separated_keeps_its_blanks(tmp_path: Path) -> None:
    text = "#  t      x       y\n  0.0   1.250   -2.0\n  0.5   2.250   -4.0\n  1.0   3.250   -6.0\n"
    path = write(tmp_path / "in.dat", text)
    s = ts.read_series(path)
    assert s.data.tolist() == [[0.0, 1.25, -2.0], [0.5, 2.25, -4.0], [1.0, 3.25, -6.0]]
    s.data = s.data * [1, 2, 1]
    out = ts.write_series(s, tmp_path / "out.dat")
    assert out.read_text() == (
        "#  t      x       y\n  0.0   2.500   -2.0\n  0.5   4.500   -4.0\n  1.0   6.500   -6.0\n"
    )


def test_quoted_fields_hold_delimiters_quotes_and_line_breaks(tmp_path: Path) -> None:
    text = 'who,x,note\n"Smith, J",1.0,"say ""hi"""\n"A\nB",2.0,x\nC,3.0,"3"" pipe"\n'
    path = write(tmp_path / "in.csv", text)
    s = ts.read_series(path)
    assert s.data[:, 0].tolist() == [1.0, 2.0, 3.0]
    s.data = s.data + 0.5
    out = ts.write_series(s, tmp_path / "out.csv")
    assert out.read_text() == (
        'who,x,note\n"Smith, J",1.5,"say ""hi"""\n"A\nB",2.5,x\nC,3.5,"3"" pipe"\n'
    )
    assert list(csv.reader(io.StringIO(out.read_text(), newline="")))[2][0] == "A\nB"


def test_quoted_numbers_and_padded_fields_keep_their_dress(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", 'a, b\n"1.0", 2.00\n"2.0", 3.00\n')
    s = ts.read_series(path)
    assert s.data.tolist() == [[1.0, 2.0], [2.0, 3.0]]
    s.data = s.data * 3
    out = ts.write_series(s, tmp_path / "out.csv")
    assert out.read_text() == 'a, b\n"3.0", 6.00\n"6.0", 9.00\n'


def test_spreadsheet_export_with_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "1,5;2,25\n3,5;4,75\n")
    s = ts.read_series(path)
    assert s.data.tolist() == [[1.5, 2.25], [3.5, 4.75]]
    s.data = s.data * 2
    assert ts.write_series(s, tmp_path / "out.csv").read_text() == "3,0;4,50\n7,0;9,50\n"


def test_a_bom_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "\ufefftime,v\n0,1\n1,2\n")
    layout = ts.read_series(path, keep_columns=["time"]).form.info["series"]
    assert layout.names == ("time", "v") and layout.dialect.bom
    assert ts.read_series(path, columns="v").data.tolist() == [[1.0], [2.0]]


def test_one_column_files(tmp_path: Path) -> None:
    path = write(tmp_path / "in.txt", "level\n1.5\n\n2.5\n")
    s = ts.read_series(path)
    assert s.form.info["series"].header
    np.testing.assert_array_equal(s.data[:, 0], [1.5, np.nan, 2.5])
    out = ts.write_series(s, tmp_path / "out.txt")
    assert out.read_bytes() == path.read_bytes()


def test_a_lone_carriage_return_ends_a_record_as_in_the_csv_module(tmp_path: Path) -> None:
    text = "a,b\n1,2\r3,4\n5,x\n"
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["a", "b"],
        ["1", "2"],
        ["3", "4"],
        ["5", "x"],
    ]
    path = write(tmp_path / "in.csv", text)
    with pytest.raises(SignalReadError, match=r"line 3, column 2 \('b'\): 'x' is not a number"):
        ts.read_series(
            path
        )  # lines are counted by their LF, as an editor for this file counts them
    path = write(tmp_path / "in.csv", "a,b\n1,2\r3,4\n")
    s = ts.read_series(path)
    assert s.data.tolist() == [[1, 2], [3, 4]]
    assert ts.write_series(s, tmp_path / "out.csv").read_bytes() == path.read_bytes()


def test_mixed_line_ends_are_kept_per_line(tmp_path: Path) -> None:
    text = "a,b\r\n1,2\r\n3,4\n5,6\r\n7,8"
    path = write(tmp_path / "in.csv", text)
    s = ts.read_series(path)
    assert s.data[:, 0].tolist() == [1, 3, 5, 7]
    assert ts.write_series(s, tmp_path / "out.csv").read_bytes() == text.encode()
    s.data = s.data + 1
    assert ts.write_series(s, tmp_path / "o2.csv").read_bytes() == b"a,b\r\n2,3\r\n4,5\n6,7\r\n8,9"


# ------------------------------------------------------------------------------------------
# Columns: which are filtered, which pass through


def test_text_columns_pass_through_and_missing_words_do_not_decide(tmp_path: Path) -> None:
    text = "t,x,tag,y,empty\n0,NA,a,1,\n1,,b,2,\n2,3.5,c,N/A,\n"
    path = write(tmp_path / "in.csv", text)
    with pytest.raises(SignalReadError, match=r"line 2, column 2 \('x'\): 'NA' is not a number"):
        ts.read_series(path)
    path = write(tmp_path / "in2.csv", "t,x,tag,empty\n0,,a,\n1,,b,\n2,3.5,c,\n")
    s = ts.read_series(path)
    layout = s.form.info["series"]
    assert layout.channel_names == ("t", "x") and layout.passthrough == (2, 3)
    assert layout.nonfinite == 2
    np.testing.assert_array_equal(s.data[:, 1], [np.nan, np.nan, 3.5])


def test_keep_columns_and_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "epoch,a,b\n100,1.0,2.0\n101,3.0,4.0\n102,5.0,6.0\n")
    assert ts.read_series(path).form.info["series"].channel_names == ("epoch", "a", "b")
    kept = ts.read_series(path, keep_columns=["epoch"])
    assert kept.form.info["series"].channel_names == ("a", "b")
    only = ts.read_series(path, columns=["b"])
    assert only.data.tolist() == [[2.0], [4.0], [6.0]]
    by_number = ts.read_series(path, columns=["3", "1"])
    assert by_number.form.info["series"].channel_names == ("epoch", "b")
    only.data = only.data * 10
    out = ts.write_series(only, tmp_path / "out.csv")
    assert out.read_text() == "epoch,a,b\n100,1.0,20.0\n101,3.0,40.0\n102,5.0,60.0\n"
    with pytest.raises(
        SignalReadError, match=r"columns names no column 'c'; the column names are 'epoch', 'a'"
    ):
        ts.read_series(path, columns=["c"])
    with pytest.raises(ArgumentError, match="not both"):
        ts.read_series(path, columns=["a"], keep_columns=["b"])


def test_a_chosen_column_of_text_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "t,x\nnoon,1\nnight,2\n")
    with pytest.raises(SignalReadError, match=r"line 2, column 1 \('t'\): 'noon' is not a number"):
        ts.read_series(path, columns=["t"])


def test_header_can_be_forced(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "time,2019\n2024-01,5\n2024-02,6\n")
    assert not ts.read_series(path).form.info["series"].header  # "2019" is a number: no header
    s = ts.read_series(path, header=True)
    assert s.form.info["series"].names == ("time", "2019") and s.data.tolist() == [[5.0], [6.0]]


# ------------------------------------------------------------------------------------------
# Numbers: decimals, counts, full precision, NaN and empty cells


def test_a_column_keeps_its_decimals_and_counts_stay_integers(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "n,x\n0,1.000\n1,2.5\n4,3\n")
    s = ts.read_series(path)
    assert [st.decimals for st in s.form.info["series"].styles] == [0, 3]
    s.data = s.data / 3
    assert ts.write_series(s, tmp_path / "a.csv").read_text() == "n,x\n0,0.333\n0,0.833\n1,1.000\n"
    full = ts.write_series(s, tmp_path / "b.csv", full_precision=True).read_text()
    assert full.splitlines()[3] == f"{4 / 3!r},1.0"  # an unchanged-looking 1.0 is 3/3 == 1
    as32 = Signal(s.data.astype(np.float32), "series", 1, form=s.form, source=s.source)
    assert ts.write_series(as32, tmp_path / "c.csv", full_precision=True).read_text().splitlines()[
        1
    ] == (
        "0,0.33333334"  # 0/3 is the 0 that was written: its text stays
    )
    ints = Signal(np.rint(s.data * 30).astype(np.int16), "series", 1, form=s.form)
    assert ts.write_series(ints, tmp_path / "d.csv").read_text().splitlines()[2] == "10,25"


def test_exponent_columns_and_mixed_notation(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "a,b\n1.50E-03,0.001\n2.25E+01,1e-05\n")
    s = ts.read_series(path)
    styles = s.form.info["series"].styles
    assert (styles[0].notation, styles[0].decimals, styles[0].letter) == ("exp", 2, "E")
    assert styles[1].notation == "repr"
    s.data = s.data * 2
    assert (
        ts.write_series(s, tmp_path / "o.csv").read_text()
        == "a,b\n3.00E-03,0.002\n4.50E+01,2e-05\n"
    )


def test_never_minus_zero(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "x\n1.00\n2.00\n")
    s = ts.read_series(path)
    s.data = np.array([[-0.001], [-0.0]])
    assert ts.write_series(s, tmp_path / "o.csv").read_text() == "x\n0.00\n0.00\n"


def test_nan_and_empty_cells(tmp_path: Path) -> None:
    text = "t,x,y\n0,1.0,nan\n1,,2.0\n2,3.0,NaN\n3,-inf,4.0\n4,5.0,Infinity\n"
    path = write(tmp_path / "in.csv", text)
    s = ts.read_series(path)
    assert s.form.info["series"].nonfinite == 5
    assert np.isnan(s.data[[0, 2], 2]).all() and np.isnan(s.data[1, 1])
    assert s.data[3, 1] == -np.inf and s.data[4, 2] == np.inf
    assert ts.write_series(s, tmp_path / "same.csv").read_bytes() == path.read_bytes()
    s.data = s.data.copy()
    s.data[:, 1:] = np.nan
    assert ts.write_series(s, tmp_path / "o.csv").read_text() == (
        "t,x,y\n0,,nan\n1,,\n2,,NaN\n3,,\n4,,\n"
    )
    blanks = write(tmp_path / "in.txt", "1.0 2.0\n3.0 4.0\n")
    b = ts.read_series(blanks)
    b.data = np.array([[np.nan, 1.0], [2.0, np.nan]])
    assert ts.write_series(b, tmp_path / "o.txt").read_text() == "NaN 1.0\n2.0 NaN\n"


def test_nan_spreads_over_the_window_as_numpy_computes_it(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "x\n1.0\n2.0\n\n4.0\n5.0\n6.0\n")
    out = tmp_path / "o.csv"
    filtered(path, out, np.ones(3) / 3)
    assert out.read_text() == "x\n1.0\n\n\n\n5.0\n3.7\n"


# ------------------------------------------------------------------------------------------
# Where output rows sit: stride, valid, full


@settings(max_examples=150, deadline=None)
@given(
    rows=st.integers(1, 30),
    half=st.integers(0, 4),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
    padding=st.sampled_from(["same", "valid", "full"]),
)
def test_centre_rows_is_the_row_under_the_centre_tap(
    rows: int, half: int, stride: int, dilation: int, padding: str
) -> None:
    k = 2 * half + 1
    assume(padding != "valid" or dilation * (k - 1) + 1 <= rows)
    x = np.arange(1, rows + 1, dtype=float)  # row r holds r + 1; padding holds 0
    w = np.zeros(k)
    w[half] = 1.0
    y = convcli.convolve(x, w, stride=stride, padding=padding, dilation=dilation)
    where = ts.centre_rows(rows, k, stride=stride, padding=padding, dilation=dilation)
    for o, value in enumerate(y):
        r = where.source(o)
        assert value == (r + 1 if 0 <= r < rows else 0)


@pytest.mark.parametrize("rows", [20, 21])
@pytest.mark.parametrize(
    ("stride", "padding"), [(2, "same"), (3, "same"), (1, "valid"), (2, "valid"), (1, "full")]
)
def test_stride_valid_full_take_pass_through_cells_from_their_rows(
    tmp_path: Path, stride: int, padding: str, rows: int
) -> None:
    first = 1 - pads(rows, 3, stride, padding)[0]  # the centre tap, 1, over row o*s - p_lo
    table = make_table(rows, seed=5)
    path = write(tmp_path / "in.csv", render(table))
    out = tmp_path / "out.csv"
    w = np.array([0.25, 0.5, 0.25])
    filtered(path, out, w, stride=stride, padding=padding)
    written = read_back(out, ",")
    expect = reference(table.values[1], w, stride=stride, padding=padding)
    assert len(written) == len(expect)
    for o, row in enumerate(written):
        r = first + o * stride
        source = table.cells[r] if 0 <= r < rows else ["", "", "", ""]
        assert row[0] == source[0] and row[3] == source[3]
        assert float(row[1]) == pytest.approx(expect[o], abs=0.006)


def test_stride_with_an_identity_kernel_keeps_every_other_line(tmp_path: Path) -> None:
    table = make_table(9, seed=6)
    path = write(tmp_path / "in.csv", render(table, comments={3: "# three"}))
    out = tmp_path / "out.csv"
    filtered(path, out, np.array([1.0]), stride=2)
    source = path.read_text().splitlines()
    assert out.read_text().splitlines() == [source[0], source[1], source[3], source[4]] + [
        source[6],
        source[8],
        source[10],
    ]


def test_a_chain_composes_row_maps() -> None:
    first = ts.centre_rows(20, 3, stride=2)  # 10 rows out
    second = ts.centre_rows(10, 3, stride=2, padding="valid")
    chain = first.then(second)
    assert [chain.source(o) for o in range(4)] == [first.source(second.source(o)) for o in range(4)]


# ------------------------------------------------------------------------------------------
# Streaming: many small blocks give what the whole file gives


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from convcli.io import text_dialect

    monkeypatch.setattr(text_dialect, "BLOCK_BYTES", 97)
    ts._LAYOUTS.clear()


def stream(path: Path, out: Path, w: np.ndarray, slab: int, **geometry: object) -> None:
    """What the job layer will do: slabs with a halo read from the rows, blocks to the writer."""
    with ts.open_series(path) as rows:
        n = rows.shape[0]
        y_all = convcli.convolve(rows.read(0, n), w, channel_axis=1, **geometry)  # type: ignore[arg-type]
        where = ts.centre_rows(n, len(w), **geometry)  # type: ignore[arg-type]
        halo = len(w)
        for start in range(0, n, slab):  # the reads a slab and its halo make
            rows.read(max(start - halo, 0), min(start + slab + halo, n))
        with open(out, "wb") as fh:
            writer = ts.series_writer(fh, rows.signal, out, row_map=where)
            for start in range(0, len(y_all), slab):
                writer.write(y_all[start : start + slab])
            writer.close()


@pytest.mark.parametrize("name", ["comma", "semicolon-comments", "blanks", "comma-quoted-text"])
@pytest.mark.parametrize(
    ("stride", "padding"), [(1, "same"), (3, "same"), (1, "full"), (2, "valid")]
)
def test_streaming_equals_in_memory(
    tmp_path: Path, small_blocks: None, name: str, stride: int, padding: str
) -> None:
    table = make_table(60, seed=7)
    path = write(tmp_path / "in.csv", render(table, **LAYOUTS[name]))  # type: ignore[arg-type]
    layout = ts.read_series(path).form.info["series"]
    assert len(layout.blocks) > 10
    w = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    whole, streamed = tmp_path / "whole.csv", tmp_path / "streamed.csv"
    filtered(path, whole, w, stride=stride, padding=padding)
    for slab in (1, 7, 1000):
        streamed.unlink(missing_ok=True)
        stream(path, streamed, w, slab, stride=stride, padding=padding)
        assert streamed.read_bytes() == whole.read_bytes()


@pytest.mark.parametrize(("stride", "padding"), [(1, "same"), (3, "same"), (1, "full")])
def test_a_block_is_formatted_a_few_rows_at_a_time(
    tmp_path: Path, monkeypatch, stride: int, padding: str
) -> None:
    """The writer formats at most ``_WRITE_ROWS`` rows at once; the bytes do not depend on it."""
    table = make_table(60, seed=8)
    path = write(tmp_path / "in.csv", render(table, **LAYOUTS["semicolon-comments"]))
    w = np.array([0.25, 0.5, 0.25])
    filtered(path, tmp_path / "whole.csv", w, stride=stride, padding=padding)
    for rows in (1, 7):
        monkeypatch.setattr(ts, "_WRITE_ROWS", rows)
        out = tmp_path / f"rows{rows}.csv"
        filtered(path, out, w, stride=stride, padding=padding)
        assert out.read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_row_reader_reads_ranges_with_halos(tmp_path: Path, small_blocks: None) -> None:
    table = make_table(200, seed=8)
    path = write(tmp_path / "in.csv", render(table, comments={50: "# c", 120: "# d"}))
    data = ts.read_series(path).data
    with ts.open_series(path) as rows:
        assert rows.shape == (200, 2) and rows.dtype == np.float64
        assert not rows.may_hold_nonfinite
        for start in range(0, 200, 23):
            lo, hi = max(start - 4, 0), min(start + 27, 200)
            np.testing.assert_array_equal(rows.read(lo, hi), data[lo:hi])
        np.testing.assert_array_equal(rows.take(np.array([199, 0, 5, 5])), data[[199, 0, 5, 5]])
        np.testing.assert_array_equal(rows.take(np.array([7, 5, 6, 5])), data[[7, 5, 6, 5]])
        assert rows.take(np.array([], dtype=int)).shape == (0, 2)
        assert rows.signal.data.shape == (0, 2) and rows.signal.kind == "series"


def test_probe_then_open_reads_the_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "in.csv", render(make_table(10)))
    ts._LAYOUTS.clear()
    runs = []
    original = ts._Scan.run

    def counting(self: ts._Scan, fh: object) -> None:
        runs.append(1)
        original(self, fh)  # type: ignore[arg-type]

    monkeypatch.setattr(ts._Scan, "run", counting)
    info = ts.probe_series(path)
    with ts.open_series(path) as rows:
        rows.read(0, 10)
    ts.read_series(path)
    assert len(runs) == 1
    assert info["shape"] == [10, 2] and info["kind"] == "series" and info["dtype"] == "float64"
    assert info["columns"] == ["ch0", "ch1"] and info["keep"] == ["time", "label"]
    assert (info["delimiter"], info["decimal"], info["header"]) == (",", ".", True)


def test_a_file_rewritten_within_one_clock_tick_is_indexed_again(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "t,x\na,1.5\nb,2.5\n")
    stat = path.stat()
    assert ts.probe_series(path)["columns"] == ["x"]
    write(path, "t,x\na,7.5\nb,8.5\n")  # the same size; the same times, as within one tick
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ts.read_series(path).data.tolist() == [[7.5], [8.5]]


def test_a_changed_input_is_not_copied_from(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", render(make_table(10)))
    s = ts.read_series(path)
    write(path, path.read_text().replace("L", "M"))
    os.utime(path, ns=(1, 1))
    with pytest.raises(SignalReadError, match="changed since it was read"):
        ts.write_series(s, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


# ------------------------------------------------------------------------------------------
# Round trips of random tables (hypothesis)

LABEL = st.text("abcxyz", min_size=1, max_size=5).map(lambda s: "L" + s)


@st.composite
def tables(draw: Callable[..., object]) -> tuple[str, dict[str, object], np.ndarray]:
    delimiter = draw(st.sampled_from([",", ";", "\t", None]))
    ncols = draw(st.integers(1, 4))
    kinds = ["num"] + [draw(st.sampled_from(["num", "text"])) for _ in range(ncols - 1)]
    kinds = draw(st.permutations(kinds))
    decimal = "," if delimiter in (";", "\t") and ncols > 1 and draw(st.booleans()) else "."
    decimals = [draw(st.integers(0, 4)) for _ in range(ncols)]
    rows = draw(st.integers(1, 25))
    header = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    sep = "   " if delimiter is None else delimiter
    values = np.empty((rows, kinds.count("num")))
    lines = []
    if header:
        lines.append(sep.join(f"c{j}" for j in range(ncols)))
    for r in range(rows):
        cells, c = [], 0
        for j, kind in enumerate(kinds):
            if kind == "text":
                label = draw(LABEL)
                quoted = delimiter is not None and draw(st.booleans())
                cells.append(f'"{label}{sep if quoted else ""}"' if quoted else label)
                continue
            missing = r > 0 and draw(st.integers(0, 9)) == 0
            if missing:
                # one column: an empty last cell would read as the file's final newline
                spell = ["nan"] if ncols == 1 else ["", "nan"]
                cells.append("NaN" if delimiter is None else draw(st.sampled_from(spell)))
                values[r, c] = np.nan
            else:
                v = draw(st.integers(-(10**6), 10**6)) / 10 ** decimals[j]
                cells.append(f"{v:.{decimals[j]}f}".replace(".", decimal))
                values[r, c] = float(f"{v:.{decimals[j]}f}")
            c += 1
        lines.append(sep.join(cells))
        if draw(st.integers(0, 12)) == 0:
            lines.append("# " + draw(LABEL))
    if delimiter == "," and ncols == 2 and not header and all(d == 0 for d in decimals):
        assume(kinds.count("text") > 0)
    text = ("\ufeff" if draw(st.booleans()) else "") + newline.join(lines)
    text += newline if draw(st.booleans()) else ""
    return text, {"delimiter": delimiter, "header": header}, values


@settings(max_examples=120, **SETTINGS)
@given(case=tables())
def test_random_tables_come_back_byte_for_byte(tmp_path: Path, case: tuple) -> None:
    text, meta, values = case
    path = write(tmp_path / "in.csv", text)
    s = ts.read_series(path)
    np.testing.assert_array_equal(s.data, values)
    out = tmp_path / "out.csv"
    out.unlink(missing_ok=True)
    ts.write_series(s, out)
    assert out.read_bytes() == path.read_bytes()


@settings(max_examples=60, **SETTINGS)
@given(
    case=tables(),
    stride=st.integers(1, 3),
    padding=st.sampled_from(["same", "valid", "full"]),
    slab=st.integers(1, 9),
)
def test_random_tables_stream_as_they_filter_in_memory(
    tmp_path: Path, case: tuple, stride: int, padding: str, slab: int
) -> None:
    text, _, values = case
    assume(padding != "valid" or len(values) >= 3)
    path = write(tmp_path / "in.csv", text)
    w = np.array([0.25, 0.5, 0.25])
    whole, streamed = tmp_path / "whole.csv", tmp_path / "streamed.csv"
    whole.unlink(missing_ok=True)
    streamed.unlink(missing_ok=True)
    filtered(path, whole, w, stride=stride, padding=padding)
    stream(path, streamed, w, slab, stride=stride, padding=padding)
    assert streamed.read_bytes() == whole.read_bytes()


# ------------------------------------------------------------------------------------------
# Other extensions


def test_another_text_extension_changes_the_delimiter_where_it_must(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", 'name;v\n"a;b";1,5\nc;2,5\n')
    s = ts.read_series(path)
    assert ts.write_series(s, tmp_path / "o.tsv").read_text() == "name\tv\na;b\t1,5\nc\t2,5\n"
    assert ts.write_series(s, tmp_path / "o.txt").read_bytes() == path.read_bytes()
    blanks = ts.read_series(write(tmp_path / "in.dat", '"x y" 1.5\nz 2.5\n'))
    blanks.data = blanks.data * 2
    assert ts.write_series(blanks, tmp_path / "o.csv").read_text() == "x y,3.0\nz,5.0\n"
    with pytest.raises(UnsupportedError, match="written as text"):
        ts.write_series(s, tmp_path / "o.wav")


def test_a_series_made_in_code(tmp_path: Path) -> None:
    s = Signal(np.array([[1.5, np.nan], [0.1, 2.0]]), "series", 1)
    assert ts.write_series(s, tmp_path / "a.csv").read_text() == "1.5,\n0.1,2.0\n"
    assert ts.write_series(s, tmp_path / "a.txt").read_text() == "1.5 NaN\n0.1 2.0\n"
    back = ts.read_series(tmp_path / "a.csv")
    np.testing.assert_array_equal(back.data, s.data)


def test_read_as_array(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "1.0,2.0\n3.0,4.0\n")
    s = ts.read_series(path, "array")
    assert s.kind == "array" and s.channel_axis is None and s.data.shape == (2, 2)
    with pytest.raises(SignalReadError, match="not image"):
        ts.read_series(path, "image")


def test_a_csv_kernel_file_is_still_a_kernel(tmp_path: Path) -> None:
    from convcli.kernels._files import read_kernel_file

    path = write(tmp_path / "k.csv", "1,2,1\n")
    np.testing.assert_array_equal(read_kernel_file(str(path)), [1, 2, 1])


# ------------------------------------------------------------------------------------------
# Identification


def test_identify() -> None:
    assert ts.identify(b"a,b\n1,2\n", "x.CSV") == "CSV"
    assert ts.identify(b"a\tb\n", "x.tsv") == "TSV"
    assert ts.identify(b"1 2\n", "x.dat") == "TEXT" == ts.identify(b"1 2\n", "x.txt")
    assert ts.identify(b"\x89PNG\r\n", "x.png") is None
    assert ts.identify("t\n\u00e9".encode()[:-1], "x.csv") == "CSV"  # a character cut short
    with pytest.raises(SignalReadError, match="is empty"):
        ts.identify(b"", "x.csv")
    with pytest.raises(SignalReadError, match=r"x.dat: line 2: byte 3 \(0xff\) is not UTF-8"):
        ts.identify(b"1,2\n3,\xff\n", "x.dat")


# ------------------------------------------------------------------------------------------
# Hostile inputs: one line, naming the file, the line and the column


HOSTILE = {
    "ragged": (
        "a,b,c\n1,2,3\n4,5\n",
        r"line 3: 2 fields separated by commas, but line 1 has 3$",
    ),
    "decimal-comma-in-a-comma-file": (
        "t,x\n0,1.5\n1,2,5\n",
        r"line 3: 3 fields separated by commas, but line 1 has 2 \(a decimal comma in a "
        r"comma-separated file\? write decimal points, or separate the fields with ';'\)$",
    ),
    "quoted-decimal-comma-in-a-comma-file": (
        't,x\n0,"1,5"\n1,2.5\n',
        r"line 2, column 2 \('x'\): '1,5': a decimal comma in a comma-separated file is "
        r"ambiguous; write 1.5, or separate the fields with ';'$",
    ),
    "one-column-of-decimal-commas": (
        "level\n1,5\n2,25\n",
        r"line 2: 2 fields separated by commas, but line 1 has 1 \(a decimal comma",
    ),
    "integer-pairs": (
        "1,5\n2,25\n3,75\n",
        r"line 1: '1,5' reads as two integers separated by a comma, or as one number with a "
        r"decimal comma",
    ),
    "blanks-with-decimal-commas": (
        "1,5 2,25\n3,5 4,25\n",
        r"line 1: reads as fields separated by commas, or by blanks with decimal commas",
    ),
    "text-in-a-numeric-column": (
        "t,x\n0,1.5\n1,2.5\n2,abc\n",
        r"line 4, column 2 \('x'\): 'abc' is not a number \(this column holds numbers: '1.5' "
        r"on line 2\)$",
    ),
    "point-in-a-decimal-comma-file": (
        "t;x\n0;1,5\n1;1.500\n",
        r"line 3, column 2 \('x'\): '1.500' has a decimal point, but this file writes decimal "
        r"commas",
    ),
    "overflow": ("x\n1\n1e999\n", r"line 3, column 1 \('x'\): '1e999' is beyond the range"),
    "nul-bytes": ("a,b\n1,2\n3,\x004\n", r"line 3: character 3 is a NUL byte: binary data"),
    "control-character": ("a,b\n1,\x072\n", r"line 2: character 3 is control character U\+0007"),
    "empty": ("", r"is empty$"),
    "header-only": ("time,value\n", r"has a header but no data rows$"),
    "comments-only": ("# nothing\n\n# here\n", r"holds no data, only comments and blank lines$"),
    "unclosed-quote": ('a,b\n"x,1\n2,3\n', r"line 2: a quote opened here is never closed$"),
    "text-after-a-quote": ('a,b\n"x"y,1\n', r"line 2: text after the closing quote of '\"x\"'$"),
    "no-numbers": ("a,b\nx,y\nz,w\n", r"no column holds numbers \(columns: '1', '2'\)$"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_inputs_get_one_line(tmp_path: Path, name: str) -> None:
    text, message = HOSTILE[name]
    path = write(tmp_path / f"{name}.csv", text)
    with pytest.raises(SignalReadError) as info:
        ts.read_series(path)
    line = str(info.value)
    assert "\n" not in line and line.startswith(f"{path}: ")
    assert __import__("re").search(message, line), line


def test_binary_junk_named_csv(tmp_path: Path) -> None:
    junk = bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))
    path = write(tmp_path / "junk.csv", junk)
    with pytest.raises(SignalReadError, match=r"junk.csv: line \d+: .*(not UTF-8|binary data)"):
        ts.read_series(path)
    png = write(tmp_path / "image.csv", b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(SignalReadError, match="not UTF-8 text"):
        ts.read_series(png)


def test_a_huge_line_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    with open(path, "wb") as fh:
        fh.write(b"a,b\n1,2\n")
        block = b"7" * (1 << 20)
        for _ in range(64):  # a 64 MiB line
            fh.write(block)
    tracemalloc.start()
    try:
        with pytest.raises(SignalReadError, match=r"long.csv: line 3: longer than 1048576 bytes"):
            ts.read_series(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_a_long_quoted_record_is_refused(tmp_path: Path) -> None:
    text = 'a,b\n1,"' + "x\n" * (ts.MAX_LINE_BYTES // 2 + 10) + '"\n'
    path = write(tmp_path / "q.csv", text)
    with pytest.raises(SignalReadError, match=r"line 2: a record \(a quoted field\) longer than"):
        ts.read_series(path)


def test_messages_name_the_column_by_number_without_a_header(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "1.5,2\n2.5,x\n")
    with pytest.raises(SignalReadError, match=r"line 2, column 2: 'x' is not a number"):
        ts.read_series(path, columns=["1", "2"])


def test_nan_words_count_as_numbers_when_deciding(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "x,y\nNaN,a\n1.0,b\n")
    s = ts.read_series(path)
    assert s.form.info["series"].channel_names == ("x",)
    assert math.isnan(s.data[0, 0])
