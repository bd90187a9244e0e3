"""``convcli shape`` and convcli.explain.arithmetic: Dumoulin & Visin's relationships, checked by
counting kernel placements directly; transposed sizes; --target; the CLI."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from convcli.cli import cli
from convcli.errors import ArgumentError
from convcli.explain.arithmetic import (
    RELATIONSHIPS,
    Case,
    NoSolutionError,
    applicable,
    case_of,
    equivalent_convolution,
    explain,
    format_geometry_table,
    geometry_record,
    relationship_for,
    solve_geometry,
    solve_padding,
    solve_transposed,
)
from convcli.geometry import resolve, resolve_transposed

# -- brute force ---------------------------------------------------------------------------


def placements(i, k, s, d, lo, hi):
    """Count kernel placements on the padded input: starts 0, s, 2s, ... whose taps all fit."""
    n = i + lo + hi
    count, start, last = 0, 0, None
    while start + d * (k - 1) < n:
        count += 1
        last = start
        start += s
    return count, last


def transposed_size_by_search(i_t, k, s, d, lo, hi, a):
    """The input size N of the forward convolution that maps N to i_t, leaving a samples at
    its end unread: the size the transposed convolution must produce (relationship 14)."""
    found = []
    for n in range(1, s * (i_t + 1) + 2 * (d * (k - 1) + 1) + 10):
        count, last = placements(n, k, s, d, lo, hi)
        if count == i_t and (n + lo + hi) - (last + d * (k - 1) + 1) == a:
            found.append(n)
    return found


def equivalent_size(i_t, k, s, d, lo, hi, a):
    """Count placements of the equivalent direct convolution: stride 1 over the stretched
    input (s - 1 zeros between inputs), padded by k' - 1 - p (a more at the end)."""
    keff = d * (k - 1) + 1
    stretched = s * (i_t - 1) + 1
    plo, phi = keff - 1 - lo, keff - 1 - hi + a
    count = 0
    start = -plo
    while start + keff <= stretched + phi:
        count += 1
        start += 1
    return count


GRID_FORWARD = list(
    itertools.product(range(1, 21), range(1, 7), range(1, 5), range(0, 5), range(0, 5), range(1, 4))
)


def test_forward_relationships_on_the_brute_force_grid():
    chosen, hold = set(), set()
    for i, k, s, lo, hi, d in GRID_FORWARD:
        count, last = placements(i, k, s, d, lo, hi)
        if count == 0:
            with pytest.raises(ArgumentError, match="no output sample"):
                resolve((i,), (k,), stride=s, padding=[(lo, hi)], dilation=d)
            continue
        (axis,) = resolve((i,), (k,), stride=s, padding=[(lo, hi)], dilation=d)
        assert axis.output == count
        keff = d * (k - 1) + 1
        assert axis.uncovered == (i + lo + hi - keff) % s == i + lo + hi - (last + keff)
        case = case_of(axis)
        rel = relationship_for(axis)
        assert rel.applies(case) and rel.size(case) == count
        chosen.add(rel.number)
        for number in applicable(case):
            assert RELATIONSHIPS[number].size(case) == count, (number, case)
            hold.add(number)
        explain(axis)  # every case has an explanation
    assert chosen == {1, 2, 3, 4, 5, 6, 15}
    assert hold == {1, 2, 3, 4, 5, 6, 7, 15}


def test_the_most_specific_relationship_is_chosen():
    for i, k, s, lo, hi, d in GRID_FORWARD:
        if placements(i, k, s, d, lo, hi)[0] == 0:
            continue
        case = Case(i, k, s, d, lo, hi)
        number = relationship_for(case).number
        if d > 1:
            assert number == 15
        elif s == 1 and lo == hi == 0:
            assert number == 1
        elif s == 1 and k % 2 == 1 and lo == hi == k // 2:
            assert number == 3
        elif s == 1 and lo == hi == k - 1:
            assert number == 4
        elif s == 1:
            assert number == 2
        elif lo == hi == 0:
            assert number == 5
        else:
            assert number == 6


def test_transposed_relationships_and_round_trip_on_a_grid():
    chosen, hold = set(), set()
    for i_t, k, s, lo, hi, d in itertools.product(
        range(1, 9), range(1, 7), range(1, 5), range(0, 5), range(0, 5), range(1, 4)
    ):
        for a in range(max(s, d)):
            keff = d * (k - 1) + 1
            if s * (i_t - 1) + a + keff - lo - hi < 1:
                with pytest.raises(ArgumentError):
                    resolve_transposed(
                        (i_t,), (k,), stride=s, padding=[(lo, hi)], dilation=d, output_padding=a
                    )
                continue
            (axis,) = resolve_transposed(
                (i_t,), (k,), stride=s, padding=[(lo, hi)], dilation=d, output_padding=a
            )
            o = axis.output
            assert o == equivalent_size(i_t, k, s, d, lo, hi, a)
            assert equivalent_convolution(axis).output == o
            if a < s:
                # the round trip: the forward convolution maps o back to i', a samples unread
                assert transposed_size_by_search(i_t, k, s, d, lo, hi, a) == [o]
                (fwd,) = resolve((o,), (k,), stride=s, padding=[(lo, hi)], dilation=d)
                assert fwd.output == i_t and fwd.uncovered == a
            case = case_of(axis)
            rel = relationship_for(axis)
            assert rel.kind == "transposed" and rel.size(case) == o
            chosen.add(rel.number)
            for number in applicable(case):
                assert RELATIONSHIPS[number].size(case) == o, (number, case)
                hold.add(number)
    assert chosen == hold == {8, 9, 10, 11, 12, 13, 14}


# (i, k, s, p, d) -> o and the relationship, from the conv_arithmetic figures
PAPER = [
    ((4, 3, 1, 0, 1), 2, 1),  # no_padding_no_strides
    ((5, 4, 1, 2, 1), 6, 2),  # arbitrary_padding_no_strides
    ((5, 3, 1, 1, 1), 5, 3),  # same_padding_no_strides
    ((5, 3, 1, 2, 1), 7, 4),  # full_padding_no_strides
    ((5, 3, 2, 0, 1), 2, 5),  # no_padding_strides
    ((5, 3, 2, 1, 1), 3, 6),  # padding_strides
    ((6, 3, 2, 1, 1), 3, 6),  # padding_strides_odd
    ((7, 3, 1, 0, 2), 3, 15),  # dilation
]


@pytest.mark.parametrize(("geometry", "out", "number"), PAPER)
def test_conv_arithmetic_figures(geometry, out, number):
    i, k, s, p, d = geometry
    (axis,) = resolve((i,), (k,), stride=s, padding=p, dilation=d)
    assert axis.output == out
    assert relationship_for(axis).number == number
    result = CliRunner().invoke(
        cli,
        [
            "shape",
            "-i",
            f"{i},{i}",
            "-k",
            f"{k},{k}",
            "-s",
            str(s),
            "-p",
            str(p),
            "-d",
            str(d),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["output"] == [out, out]
    assert record["relationship"] == [number, number]
    assert record["uncovered"] == [(i + 2 * p - (d * (k - 1) + 1)) % s] * 2


# The transposed figures: (i', k, s, p, a) -> o' and the relationship
PAPER_TRANSPOSED = [
    ((2, 3, 1, 0, 0), 4, 8),
    ((6, 4, 1, 2, 0), 5, 9),
    ((5, 3, 1, 1, 0), 5, 10),
    ((7, 3, 1, 2, 0), 5, 11),
    ((2, 3, 2, 0, 0), 5, 12),
    ((3, 3, 2, 1, 0), 5, 13),
    ((3, 3, 2, 1, 1), 6, 14),
]


@pytest.mark.parametrize(("geometry", "out", "number"), PAPER_TRANSPOSED)
def test_conv_arithmetic_transposed_figures(geometry, out, number):
    i, k, s, p, a = geometry
    (axis,) = resolve_transposed((i,), (k,), stride=s, padding=p, output_padding=a)
    assert (axis.output, relationship_for(axis).number) == (out, number)
    result = CliRunner().invoke(
        cli,
        [
            "shape",
            "-i",
            str(i),
            "-k",
            str(k),
            "-s",
            str(s),
            "-p",
            str(p),
            "-a",
            str(a),
            "--transposed",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["output"] == [out] and record["relationship"] == [number]
    assert record["transposed"] is True and record["output_padding"] == [a]
    eq = equivalent_convolution(axis)
    assert record["equivalent"]["padding"] == [[eq.pad_lo, eq.pad_hi]]
    assert eq.pad_lo == k - p - 1  # the paper's p' = k - p - 1


def test_explanations_quote_the_numbers():
    (axis,) = resolve((5,), (3,), stride=2, padding=1)
    assert explain(axis) == (
        "stride 2, padding 1: o = floor((i + 2p - k)/s) + 1 = floor((5 + 2 - 3)/2) + 1 = 3"
    )
    (axis,) = resolve((10,), (4,), padding="same")
    assert "p_lo + p_hi in place of 2p" in explain(axis)
    assert relationship_for(axis).number == 2


# -- --target -------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1, 60), st.integers(1, 7), st.integers(1, 5), st.integers(1, 3), st.integers(1, 70)
)
def test_target_padding_recomputes(i, k, s, d, target):
    keff = d * (k - 1) + 1

    def out(total):
        return (i + total - keff) // s + 1 if i + total >= keff else 0

    try:
        sol = solve_padding(i, k, target, stride=s, dilation=d)
    except NoSolutionError:
        assert all(out(total) != target for total in range(0, target * s + keff + s))
        return
    (axis,) = resolve((i,), (k,), stride=s, padding=[(sol.pad_lo, sol.pad_hi)], dilation=d)
    assert axis.output == target
    total = sol.pad_lo + sol.pad_hi
    assert 0 <= sol.pad_hi - sol.pad_lo <= 1  # split as 'same' splits it
    assert total == 0 or out(total - 1) != target  # the smallest total
    lo, hi = sol.totals
    assert all(out(t) == target for t in range(lo, hi + 1))
    assert out(hi + 1) != target
    symmetric = [p for p in range(0, target * s + keff) if out(2 * p) == target]
    assert sol.symmetric == (symmetric[0] if symmetric else None)


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 7),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(1, 150),
    st.one_of(st.none(), st.tuples(st.integers(0, 4), st.integers(0, 4))),
)
def test_target_transposed_recomputes(i, k, s, d, target, padding):
    keff = d * (k - 1) + 1
    limit = max(s, d)
    try:
        sol = solve_transposed(i, k, target, stride=s, dilation=d, padding=padding)
    except NoSolutionError:
        pads = [padding] if padding else [(lo, hi) for lo in range(12) for hi in range(12)]
        for (lo, hi), a in itertools.product(pads, range(limit)):
            assert s * (i - 1) + a + keff - lo - hi != target
        return
    (axis,) = resolve_transposed(
        (i,),
        (k,),
        stride=s,
        padding=[(sol.pad_lo, sol.pad_hi)],
        dilation=d,
        output_padding=sol.output_padding,
    )
    assert axis.output == target
    if padding is not None:
        assert (sol.pad_lo, sol.pad_hi) == padding
    if sol.symmetric is not None:
        p, a = sol.symmetric
        (sym,) = resolve_transposed((i,), (k,), stride=s, padding=p, dilation=d, output_padding=a)
        assert sym.output == target


def test_solve_geometry_names_the_axis():
    with pytest.raises(NoSolutionError, match="^column: no padding gives 1 output"):
        solve_geometry((5, 10), (3, 3), (3, 1), stride=(1, 1), dilation=(1, 1))
    axes, _ = solve_geometry((224, 224), (7, 7), (112, 112), stride=(2, 2), dilation=(1, 1))
    assert [a.output for a in axes] == [112, 112]


# -- the table ------------------------------------------------------------------------------


def test_format_geometry_table_forward_and_transposed():
    text = format_geometry_table(resolve((6, 5), (3, 3), stride=2, padding=1))
    lines = text.splitlines()
    assert lines[0].split() == [
        "axis",
        "input",
        "kernel",
        "k'",
        "stride",
        "dilation",
        "pad_lo",
        "pad_hi",
        "output",
        "uncovered",
    ]
    assert lines[1].split() == ["row", "6", "3", "3", "2", "1", "1", "1", "3", "1"]
    assert "output: 3x3 (input 6x5)" in text
    assert "row: the last 1 padded sample is never read" in text
    assert "relationship 6" in text
    named = format_geometry_table(resolve((100,), (9,), padding="same"), names=["time"])
    assert named.splitlines()[1].startswith("time ")
    assert "relationship 3 (half (same) padding, unit strides)" in named
    short = format_geometry_table(resolve((4, 4), (3, 3)), explain_sizes=False)
    assert len(short.splitlines()) == 3
    trans = format_geometry_table(
        resolve_transposed((3, 3), (3, 3), stride=2, padding=1, output_padding=(0, 1))
    )
    assert trans.splitlines()[0].split()[-2:] == ["a", "output"]
    assert "relationship 13" in trans and "relationship 14" in trans
    assert "round trip: the convolution with these k, s, p, d maps 5x6 to 3x3" in trans
    with pytest.raises(ArgumentError):
        format_geometry_table(resolve((4,), (3,)), names=["row", "column"])


def test_record_keys():
    record = geometry_record(resolve((5, 5), (3, 3), stride=2, padding=1))
    assert list(record)[:6] == ["input", "kernel", "stride", "dilation", "padding", "output"]


# -- the CLI --------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(cli, ["shape", *args])


def test_cli_json_has_the_spec_keys():
    result = run("--input", "224,224", "--kernel", "7,7", "--stride", "2", "--json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    for key in ("input", "kernel", "stride", "dilation", "padding", "output"):
        assert key in record
    assert record["input"] == [224, 224] and record["kernel"] == [7, 7]
    assert record["stride"] == [2, 2] and record["dilation"] == [1, 1]
    assert record["padding"] == [[2, 3], [2, 3]] and record["output"] == [112, 112]
    assert record["receptive_field"] == [7, 7] and record["effective_kernel"] == [7, 7]


def test_cli_table():
    result = run("-i", "5,5", "-k", "3,3", "-s", "2", "-p", "1")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].split() == [
        "row",
        "5",
        "3",
        "3",
        "2",
        "1",
        "1",
        "1",
        "3",
        "0",
    ]
    assert "relationship 6" in result.stdout
    assert "receptive field of one output sample: 3x3" in result.stdout


def test_cli_dilation_and_transposed():
    result = run("-i", "7", "-k", "3", "-p", "0", "-d", "2", "--json")
    assert json.loads(result.stdout)["relationship"] == [15]
    assert json.loads(result.stdout)["receptive_field"] == [5]
    result = run("-i", "3", "-k", "3", "-s", "2", "-p", "1", "--transposed", "-a", "1")
    assert result.exit_code == 0
    assert "relationship 14" in result.stdout and "equivalent convolution" in result.stdout


def test_cli_target():
    result = run("-i", "224", "-k", "7", "-s", "2", "--target", "112", "--json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["output"] == [112] and record["target"] == [112]
    assert record["padding"] == [[2, 3]] and record["symmetric_padding"] == [3]
    result = run("-i", "56", "-k", "4", "-s", "2", "--transposed", "--target", "112", "--json")
    record = json.loads(result.stdout)
    assert record["output"] == [112] and record["padding"] == [[1, 1]]
    assert record["output_padding"] == [0]
    result = run("-i", "3", "-k", "3", "-s", "2", "-p", "1", "--transposed", "-t", "6")
    assert result.exit_code == 0
    assert "output padding a = 1" in result.stdout
    table = run("-i", "10,10", "-k", "3", "--target", "10")
    assert table.exit_code == 0 and table.stdout.startswith("target 10x10:")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-i", "10", "-k", "3", "--target", "2"], 1, "no padding gives 2 output samples"),
        (
            ["-i", "3", "-k", "3", "-s", "2", "-p", "1", "--transposed", "-t", "9"],
            1,
            "no output padding gives 9",
        ),
        (["-i", "10", "-k", "3", "--target", "8", "-p", "1"], 2, "--target solves for the padding"),
        (["-i", "5", "-k", "3", "-a", "1"], 2, "--output-padding needs --transposed"),
        (["-i", "5,5", "-k", "3", "-s", "2,2,2"], 2, "stride has 3 values"),
        (["-i", "2", "-k", "5", "-p", "valid"], 2, "no output sample"),
        (["-i", "5", "-k", "3", "-p", "mirror"], 2, "pad mode, not a padding"),
        (["-i", "5", "-k", "x"], 2, "kernel 'x' is not N"),
        (["-i", "5", "-k", "3", "-s", "2", "-a", "2", "--transposed"], 2, "output_padding 2"),
    ],
)
def test_cli_errors_are_one_line(args, code, message):
    result = run(*args)
    assert result.exit_code == code
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convcli: error: ")
    assert message in lines[0]


def test_shape_stays_light():
    code = (
        "import sys, convcli.cli.shape, convcli.explain.arithmetic; "
        "print(','.join(m for m in ('numpy', 'PIL', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
