"""Text series (CSV, TSV, .txt/.dat) through the real CLI: filter, features, info.

The reference is numpy's: ``np.correlate`` on each column padded as SPEC says, sliced by the
stride (``test_io_series.reference``); outputs are read back with the ``csv`` module and
``str.split``.  The module's own rules (dialects, quoting, decimals, row placement) are tested
in ``tests/test_io_series.py``; here they go through ``convcli filter`` as a user runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_error_line, invoke
from test_io_series import LAYOUTS, make_table, pads, read_back, reference, render, write

import convcli
from convcli.io import registry
from convcli.io import text_series as ts

CONVCLI = shutil.which("convcli")


def _filter(*args: object, code: int = 0) -> dict:
    res = invoke("filter", *args, "--json")
    assert res.exit_code == code, (res.exit_code, res.stderr)
    return json.loads(res.stdout.splitlines()[-1])


def _within(text: str, want: float, decimals: int, decimal: str = ".") -> bool:
    """Whether a written number is ``want`` rounded to ``decimals`` (sums in another order)."""
    return abs(float(text.replace(decimal, ".")) - want) <= 0.5 * 10.0**-decimals + 1e-9


# ------------------------------------------------------------------------------ the numbers


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("spec", ["box:3", "[1 -1]", "gaussian:sigma=1.5", "[0.1 0.2 0.4]"])
def test_filter_matches_numpy_in_every_layout(tmp_path: Path, name: str, spec: str) -> None:
    opts = LAYOUTS[name]
    table = make_table(40, seed=11)
    path = write(tmp_path / "in.csv", render(table, **opts))  # type: ignore[arg-type]
    out = tmp_path / "out.csv"
    rec = _filter(path, "-k", spec, "-o", out)
    assert (rec["kind"], rec["shape_in"], rec["shape_out"]) == ("series", [40, 2], [40, 2])
    header = bool(opts.get("header", True))
    assert rec["columns"] == (["ch0", "ch1"] if header else ["2", "3"])
    w = convcli.make_kernel(spec, 1)
    decimal = str(opts.get("decimal", "."))
    rows = read_back(out, opts.get("delimiter", ","), decimal=decimal, header=header)  # type: ignore[arg-type]
    assert len(rows) == 40
    for c, d in ((1, 2), (2, 3)):
        want = reference(table.values[c], w)
        for r, row in enumerate(rows):
            assert _within(row[c], want[r], d, decimal), (r, c, row[c], want[r])
    assert [row[0] for row in rows] == [row[0] for row in table.cells]  # timestamps
    assert [row[3] for row in rows] == [row[3] for row in table.cells]  # labels


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_an_identity_kernel_gives_the_file_back_byte_for_byte(tmp_path: Path, name: str) -> None:
    table = make_table(30, seed=12)
    path = write(tmp_path / "in.csv", render(table, **LAYOUTS[name]))  # type: ignore[arg-type]
    out = tmp_path / "out.csv"
    _filter(path, "-k", "identity", "-o", out)
    assert out.read_bytes() == path.read_bytes()


def test_pass_through_columns_keep_their_bytes(tmp_path: Path) -> None:
    text = '# logger 7\nepoch;temp;"note, free"\n1700000000;20,50;"a ""b"""\n1700000001;21,00;\n'
    text += "1700000002;22,25;x\n"
    path = write(tmp_path / "log.csv", text)
    out = tmp_path / "out.csv"
    rec = _filter(path, "-k", "[0.5 0.5]", "--keep-columns", "epoch", "-o", out)
    assert rec["columns"] == ["temp"]
    lines = out.read_text().splitlines()
    assert lines[:2] == text.splitlines()[:2]
    assert [ln.split(";")[0] for ln in lines[2:]] == ["1700000000", "1700000001", "1700000002"]
    assert [ln.split(";", 2)[2] for ln in lines[2:]] == ['"a ""b"""', "", "x"]
    # [0.5 0.5], same: y[o] = (x[o] + x[o+1]) / 2 (zero after the end), 2 decimals, ties even
    assert [ln.split(";")[1] for ln in lines[2:]] == ["20,75", "21,62", "11,12"]
    # without --keep-columns a numeric time column is a channel, and is filtered
    rec = _filter(path, "-k", "[0.5 0.5]", "-o", tmp_path / "o2.csv")
    assert rec["columns"] == ["epoch", "temp"]
    # --columns filters what it names; everything else passes through
    rec = _filter(path, "-k", "[0.5 0.5]", "--columns", "2", "-o", tmp_path / "o3.csv")
    assert rec["columns"] == ["temp"]
    assert (tmp_path / "o3.csv").read_text() == out.read_text()


@pytest.mark.parametrize("rows", [19, 20])
@pytest.mark.parametrize(
    ("stride", "padding"), [(2, "same"), (3, "same"), (1, "valid"), (2, "valid"), (1, "full")]
)
def test_stride_valid_and_full_keep_the_rows_under_the_window_centres(
    tmp_path: Path, rows: int, stride: int, padding: str
) -> None:
    table = make_table(rows, seed=13)
    path = write(tmp_path / "in.tsv", render(table, "\t"))
    out = tmp_path / "out.tsv"
    w = np.array([0.25, 0.5, 0.25])
    rec = _filter(
        path, "-k", "[0.25 0.5 0.25]", "--stride", str(stride), "--padding", padding, "-o", out
    )
    written = read_back(out, "\t")
    want = reference(table.values[1], w, stride=stride, padding=padding)
    assert rec["shape_out"] == [len(want), 2] == [len(written), 2]
    first = 1 - pads(rows, 3, stride, padding)[0]
    for o, row in enumerate(written):
        r = first + o * stride
        source = table.cells[r] if 0 <= r < rows else ["", "", "", ""]
        assert (row[0], row[3]) == (source[0], source[3]), (o, r)
        assert _within(row[1], want[o], 2)


def test_a_chain_composes_where_rows_sit(tmp_path: Path) -> None:
    table = make_table(40, seed=14)
    path = write(tmp_path / "in.csv", render(table))
    out = tmp_path / "out.csv"
    _filter(path, "-k", "box:3", "-k", "[1 2 1]", "--stride", "2", "-o", out)
    where = convcli.geometry.chain_centres((40,), [(3,), (3,)], stride=2)
    written = read_back(out, ",")
    assert len(written) == 10
    assert [row[0] for row in written] == [table.cells[where.source(o)][0] for o in range(10)]


# ------------------------------------------------------------------------------ streaming


@pytest.mark.parametrize("name", ["comma", "semicolon-comments", "blanks", "comma-quoted-text"])
@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("--stride", "3"),
        ("--padding", "full"),
        ("--padding", "valid", "-k", "[1 -1]"),  # a chain: through stage files
        ("--rescale", "--dtype", "float64"),
        ("--pad-mode", "reflect"),
    ],
)
def test_streamed_equals_in_memory(
    tmp_path: Path, monkeypatch, name: str, extra: tuple[str, ...]
) -> None:
    table = make_table(300, seed=15)
    path = write(tmp_path / "in.csv", render(table, **LAYOUTS[name]))  # type: ignore[arg-type]
    whole, streamed = tmp_path / "whole.csv", tmp_path / "streamed.csv"
    b = _filter(path, "-k", "gaussian:sigma=2", *extra, "--max-memory", "1", "-o", streamed)
    with monkeypatch.context() as m:  # one kernel streams whatever the size: not here
        m.setattr(convcli.io, "streams_always", lambda signal, path: False)
        a = _filter(path, "-k", "gaussian:sigma=2", *extra, "-o", whole)
    assert "streamed" not in a and b["streamed"] is True
    assert (a["shape_out"], a["nonfinite"]) == (b["shape_out"], b["nonfinite"])
    assert streamed.read_bytes() == whole.read_bytes()


def test_one_kernel_streams_whatever_the_size(tmp_path: Path) -> None:
    """As audio: a few slabs of memory, never an array the size of the file; a chain streams
    when its working set passes the budget."""
    path = write(tmp_path / "in.csv", render(make_table(40, seed=18)))
    assert _filter(path, "-k", "box:3", "-o", tmp_path / "a.csv")["streamed"] is True
    assert "streamed" not in _filter(path, "-k", "box:3", "-k", "box:3", "-o", tmp_path / "b.csv")


def test_streamed_takes_the_nan_count_from_the_index(tmp_path: Path, monkeypatch) -> None:
    text = "t,x\n" + "".join(f"{i},{'' if i % 7 == 0 else i / 4}\n" for i in range(50))
    path = write(tmp_path / "in.csv", text)
    counted = []
    import convcli.jobs.blocks as blocks

    original = blocks.count_nonfinite
    monkeypatch.setattr(blocks, "count_nonfinite", lambda x: counted.append(1) or original(x))
    res = invoke("filter", path, "-k", "box:3", "--max-memory", "1", "-o", tmp_path / "o.csv")
    assert res.exit_code == 0, res.stderr
    assert "8 NaN/Inf samples in the input" in res.stderr
    assert counted == []  # no pass over the rows to count them


# ------------------------------------------------------------------------------ hostile


HOSTILE = {
    "ragged.csv": (b"a,b,c\n1,2,3\n4,5\n", "line 3: 2 fields separated by commas"),
    "decimal-comma.csv": (b"t,x\n0,1.5\n1,2,5\n", "a decimal comma in a comma-separated file"),
    "text-cell.csv": (b"t,x\n0,1.5\n1,abc\n", "line 3, column 2 ('x'): 'abc' is not a number"),
    "empty.csv": (b"", "is empty"),
    "junk.csv": (bytes(np.random.default_rng(3).integers(128, 256, 4096, np.uint8)), "UTF-8"),
    "nul.txt": (b"1 2\n3 \x004\n", "NUL byte"),
    "only-header.tsv": (b"time\tvalue\n", "a header but no data rows"),
    "gzip.csv": (b"\x1f\x8b\x08\x00" + bytes(40), "the content is a gzip archive, not CSV"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_series_get_one_line_and_exit_1(tmp_path: Path, name: str) -> None:
    content, words = HOSTILE[name]
    path = write(tmp_path / name, content)
    out = tmp_path / f"out{path.suffix}"
    line = assert_one_error_line(invoke("filter", path, "-k", "box:3", "-o", out), 1)
    assert line.startswith(f"convcli: error: {path}: ") and words in line, line
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [name]
    line = assert_one_error_line(invoke("info", path), 1)
    assert words in line


def test_a_gigabyte_line_is_refused_at_once(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.csv"  # 1 GiB on paper: zeros after two good lines
    with open(sparse, "wb") as fh:
        fh.write(b"a,b\n1,2\n")
        fh.truncate(1 << 30)
    line = assert_one_error_line(
        invoke("filter", sparse, "-k", "box:3", "-o", tmp_path / "o.csv"), 1
    )
    assert "line 3: character 1 is a NUL byte" in line
    long = tmp_path / "long.csv"  # a real line past the 1 MiB limit
    long.write_bytes(b"a,b\n1,2\n" + b"7" * (ts.MAX_LINE_BYTES + 10) + b"\n")
    line = assert_one_error_line(invoke("filter", long, "-k", "box:3", "-o", tmp_path / "o.csv"), 1)
    assert f"line 3: longer than {ts.MAX_LINE_BYTES} bytes" in line


def test_a_bom_is_read_as_a_bom_and_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", "\ufefftime,v\n0,1.0\n1,2.0\n2,4.0\n")
    out = tmp_path / "out.csv"
    rec = _filter(path, "-k", "[0.5 0.5]", "--keep-columns", "time", "-o", out)
    assert rec["columns"] == ["v"]
    assert out.read_bytes() == "\ufefftime,v\n0,1.5\n1,3.0\n2,2.0\n".encode()


# ------------------------------------------------------------------------------ options


def test_columns_and_keep_columns_together_are_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", render(make_table(5)))
    for command in (
        ["filter", "-k", "box:3", "-o", tmp_path / "o.csv"],
        ["features", "-k", "box:3", "-o", tmp_path / "m"],
        ["info"],
    ):
        res = invoke(command[0], path, *command[1:], "--columns", "ch0", "--keep-columns", "time")
        line = assert_one_error_line(res, 2)
        assert "give --columns" in line and "--keep-columns" in line and "not both" in line
    res = invoke("filter", path, "-k", "box:3", "-o", tmp_path / "o.csv", "--columns", "a,,b")
    assert "empty column name" in assert_one_error_line(res, 2)


def test_options_that_name_no_column_or_no_series(tmp_path: Path, make_audio) -> None:
    path = write(tmp_path / "in.csv", render(make_table(5)))
    res = invoke("filter", path, "-k", "box:3", "--columns", "nope", "-o", tmp_path / "o.csv")
    line = assert_one_error_line(res, 1)
    assert "--columns names no column 'nope'; the column names are 'time', 'ch0'" in line
    wav = make_audio()
    res = invoke("filter", wav, "-k", "box:3", "--keep-columns", "time", "-o", tmp_path / "o.wav")
    line = assert_one_error_line(res, 1)
    assert line.endswith("--keep-columns applies to a text series, not audio"), line


def test_header_can_be_forced_either_way(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "time,2019\n2024-01,5\n2024-02,7\n")
    out = tmp_path / "o.csv"
    rec = _filter(path, "-k", "[0.5 0.5]", "-o", out)  # "2019" is a number: no header
    assert rec["shape_in"] == [3, 1]
    rec = _filter(path, "-k", "[0.5 0.5]", "--header", "-o", out, "--overwrite")
    assert rec["shape_in"] == [2, 1] and rec["columns"] == ["2019"]
    assert out.read_text() == "time,2019\n2024-01,6\n2024-02,4\n"  # integers stay integers
    numbers = write(tmp_path / "h.csv", "5;6\n7;8\n")
    info = json.loads(invoke("info", numbers, "--no-header", "--json").stdout)
    assert (info["header"], info["rows"]) == (False, 2)
    info = json.loads(invoke("info", numbers, "--header", "--json").stdout)
    assert (info["header"], info["rows"], info["columns"]) == (True, 1, ["5", "6"])


def test_dtype_writes_full_precision_or_integers(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "t,x\na,1.00\nb,2.00\nc,4.00\n")
    w = "[0.3333333333333333 0.3333333333333333 0.3333333333333333]"
    _filter(path, "-k", w, "-o", tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_text() == "t,x\na,1.00\nb,2.33\nc,2.00\n"
    _filter(path, "-k", w, "--dtype", "float64", "-o", tmp_path / "b.csv")
    full = (tmp_path / "b.csv").read_text().splitlines()[2]  # the shortest text of the double
    assert full.startswith("b,2.333333333333333") and float(full[2:]) == pytest.approx(7 / 3)
    _filter(path, "-k", w, "--dtype", "int16", "-o", tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_text() == "t,x\na,1\nb,2\nc,2\n"


def test_nan_and_empty_cells_follow_the_nan_policy(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "t,x\n0,1.0\n1,\n2,3.0\n3,NaN\n4,5.0\n5,6.0\n")
    res = invoke(
        "filter", path, "-k", "box:3", "--keep-columns", "t", "-o", tmp_path / "o.csv", "--json"
    )
    assert res.exit_code == 0
    assert "2 NaN/Inf samples in the input" in res.stderr
    assert json.loads(res.stdout)["nonfinite"] == 2
    assert (tmp_path / "o.csv").read_text() == "t,x\n0,\n1,\n2,\n3,NaN\n4,\n5,3.7\n"
    res = invoke("filter", path, "-k", "box:3", "--dtype", "int16", "-o", tmp_path / "i.csv")
    assert "NaN/Inf samples, which int16 cannot hold" in assert_one_error_line(res, 1)


def test_other_outputs_and_kinds(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", render(make_table(12, seed=16)))
    data = ts.read_series(path).data
    _filter(path, "-k", "[1]", "-o", tmp_path / "o.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), data)
    rec = _filter(tmp_path / "o.npy", "--as", "series", "-k", "[1]", "-o", tmp_path / "back.tsv")
    assert rec["kind"] == "series"
    np.testing.assert_array_equal(ts.read_series(tmp_path / "back.tsv").data, data)
    for ext, family in ((".wav", "WAV"), (".png", "PNG")):
        res = invoke("filter", path, "-k", "box:3", "-o", tmp_path / f"o{ext}")
        line = assert_one_error_line(res, 1)
        assert f"a series cannot be written as {family}; write .npy or a text series" in line
    res = invoke("filter", path, "--as", "image", "-k", "box:3", "-o", tmp_path / "o2.csv")
    assert "is a text series; it can be read as a series" in assert_one_error_line(res, 1)


def test_a_csv_kernel_stays_a_kernel_beside_a_csv_input(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "t,x\na,1\nb,2\nc,4\n")
    kernel = write(tmp_path / "k.csv", "0.5,0.5\n")
    _filter(path, "-k", kernel, "-o", tmp_path / "o.csv")
    assert (tmp_path / "o.csv").read_text() == "t,x\na,2\nb,3\nc,2\n"  # integers stay integers


def test_a_png_named_dat_is_still_a_png(tmp_path: Path, write_png) -> None:
    png = write_png(np.zeros((4, 5), np.uint8))
    dat = tmp_path / "picture.dat"
    dat.write_bytes(png.read_bytes())
    rec = _filter(dat, "-k", "box:3", "-o", tmp_path / "o.png")
    assert rec["kind"] == "image"


def test_the_family_row_and_the_module_agree() -> None:
    from convcli.jobs.options import default_pad_mode

    row = registry.family("series")
    assert {ext: fmt.name for fmt in row.reads for ext in fmt.extensions} == ts.FORMATS
    assert tuple(ts.FORMATS) == ts.EXTENSIONS
    assert all(not fmt.magic for fmt in row.reads)
    assert default_pad_mode(ts.KIND) == ts.DEFAULT_PAD_MODE
    assert ts.KIND in row.takes and ts.KIND in convcli.io.KINDS


# ------------------------------------------------------------------------------ info, features


def test_info_shows_the_columns_and_the_dialect(tmp_path: Path) -> None:
    path = write(tmp_path / "in.tsv", render(make_table(6), "\t", decimal=","))
    res = invoke("info", path, "--keep-columns", "label")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    for want in ("  kind: series", "  shape: 6x2", "  columns: ch0, ch1", "  keep: time, label"):
        assert want in lines, res.stdout
    assert "  delimiter: '\\t'" in lines and "  decimal: ," in lines
    info = json.loads(invoke("info", path, "--json").stdout)
    assert (info["kind"], info["shape"], info["rows"], info["delimiter"]) == (
        "series",
        [6, 2],
        6,
        "\t",
    )


def test_features_of_a_series(tmp_path: Path) -> None:
    table = make_table(30, seed=17)
    path = write(tmp_path / "log.csv", render(table))
    out = tmp_path / "maps"
    res = invoke(
        "features",
        path,
        "--columns",
        "ch0",
        "-k",
        "box:3",
        "-k",
        "[1 0 -1]",
        "--stride",
        "2",
        "-o",
        out,
    )
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "00-box-size3.csv",
        "01-inline3.csv",
        "maps.json",
        "maps.npy",
        "montage.png",
    ]
    maps = np.load(out / "maps.npy")
    assert maps.shape == (2, 15)
    want = reference(table.values[1], np.ones(3) / 3, stride=2)
    np.testing.assert_allclose(maps[0], want, rtol=1e-6, atol=1e-5)
    rows = read_back(out / "00-box-size3.csv", ",")
    assert [row[0] for row in rows] == [table.cells[1 + 2 * o][0] for o in range(15)]
    assert [row[2] for row in rows] == [table.cells[1 + 2 * o][2] for o in range(15)]  # ch1
    assert all(_within(row[1], want[o], 2) for o, row in enumerate(rows))
    # two channels: each map sums them, as a layer does; no per-map series file then
    res = invoke("features", path, "-k", "box:3", "-o", tmp_path / "two")
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "two").iterdir())[0] == "00-box-size3.png"


# ------------------------------------------------------------------------------ installed


@pytest.mark.skipif(CONVCLI is None and not os.environ.get("CI"), reason="convcli not installed")
def test_the_readme_example_as_a_user_runs_it(tmp_path: Path) -> None:
    text = "time,temperature,humidity\n" + "".join(
        f"2024-05-01T10:{m:02d}:00,{20 + (m % 7) * 0.25:.2f},{50 + (m % 5):.1f}\n"
        for m in range(60)
    )
    write(tmp_path / "log.csv", text)
    cmd = [CONVCLI] if CONVCLI else [sys.executable, "-m", "convcli.cli"]
    done = subprocess.run(
        [
            *cmd,
            "filter",
            "log.csv",
            "-k",
            "gaussian:sigma=3",
            "--keep-columns",
            "time",
            "-o",
            "smooth.csv",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    rows = read_back(tmp_path / "smooth.csv", ",")
    assert [row[0] for row in rows] == [ln.split(",")[0] for ln in text.splitlines()[1:]]
    temps = np.array([float(ln.split(",")[1]) for ln in text.splitlines()[1:]])
    want = reference(temps, convcli.make_kernel("gaussian:sigma=3", 1))
    assert all(_within(row[1], want[r], 2) for r, row in enumerate(rows))
