"""The library's messages name Python parameters; the CLI names its options in the same place.

A library error carries the parameters its message names (:class:`convcli.errors.Param`), and
the CLI spells each as the option that sets it (:func:`convcli.cli.option_for`): the one line
a user sees is the same as before the library learnt to speak Python.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import numpy as np
import pytest
from conftest import assert_one_error_line, invoke

from convcli.cli import cli, option_for
from convcli.errors import ArgumentError, OutputExistsError, Param, UnsupportedError
from convcli.io import LimitError, Limits, Signal, output_dtype, save
from convcli.jobs.options import per_axis

PACKAGE = Path(__file__).resolve().parent.parent / "convcli"
OPTION = re.compile(r"(?<![\w-])--[a-z]")
#: The one string outside the CLI that spells an option: a value maps.json records (bytes
#: of an output, kept as they were).
RECORDED = {("features/_job.py", "--bias")}


def _library_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] != "cli"]


def _strings(path: Path) -> list[str]:
    """Every string constant of a module but its docstrings (f-strings' parts included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def test_no_library_message_names_a_command_line_option():
    found = {
        (str(path.relative_to(PACKAGE)), text)
        for path in _library_files()
        for text in _strings(path)
        if OPTION.search(text)
    }
    assert found == RECORDED


def _named_params() -> set[str]:
    """The parameter names the library's messages carry: Param("..."), limit="...", over_limit."""
    names = set()
    for path in _library_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not any(
            isinstance(node, ast.ImportFrom)
            and (node.module or "").endswith("errors")
            and any(alias.name == "Param" for alias in node.names)
            for node in ast.walk(tree)
        ):
            continue  # no errors.Param here (the kernels' registry has a Param of its own)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = getattr(node.func, "id", getattr(node.func, "attr", ""))
            args = [a for a in node.args if isinstance(a, ast.Constant)]
            if func == "Param" and args:
                names.add(args[0].value)
            elif func == "over_limit" and len(node.args) == 2 and args:
                names.add(args[-1].value)
            for kw in node.keywords:
                if kw.arg == "limit" and isinstance(kw.value, ast.Constant):
                    names.add(kw.value.value)
    return names


def test_every_parameter_a_message_names_is_an_option_of_the_cli():
    ctx = click.Context(cli)
    options = {
        opt
        for name in cli.list_commands(ctx)
        for param in cli.get_command(ctx, name).params
        for opt in getattr(param, "opts", ())
    }
    names = _named_params()
    assert {"max_pixels", "kind", "overwrite", "dtype", "max_taps", "weights", "kernels"} <= names
    for name in names:
        assert option_for(Param(name)) in options, name


def test_the_library_says_python_and_the_cli_says_options(tmp_path):
    with pytest.raises(LimitError) as caught:
        Limits(max_pixels=100).check_pixels("a.png", 20, 20)
    assert str(caught.value).endswith("more than the limit of 100 (max_pixels)")
    assert caught.value.limit == "max_pixels"
    assert caught.value.spelled(option_for).endswith("limit of 100 (--max-pixels)")

    with pytest.raises(ArgumentError, match="^stride has 3 values") as caught:
        per_axis((1, 2, 3), 2, "stride")
    assert caught.value.spelled(option_for).startswith("--stride has 3 values")

    rgb = Signal(np.zeros((4, 4, 3), np.float32), "image", channel_axis=2)
    with pytest.raises(UnsupportedError, match=r"\(gray=True\) or .npy, or dtype='uint8'$"):
        output_dtype(rgb, tmp_path / "o.png")

    save(Signal(np.zeros((2, 2), np.uint8), "image"), tmp_path / "o.png")
    with pytest.raises(OutputExistsError, match="use overwrite=True to replace it$"):
        save(Signal(np.zeros((2, 2), np.uint8), "image"), tmp_path / "o.png")


def test_the_cli_lines_name_the_options(tmp_path, write_png):
    src = write_png(np.zeros((30, 30), np.uint8), "in.png")
    line = assert_one_error_line(
        invoke("filter", src, "-k", "box", "-o", tmp_path / "a.png", "--max-pixels", "100"), 1
    )
    assert line.endswith("more than the limit of 100 (--max-pixels)")
    line = assert_one_error_line(
        invoke("filter", src, "-k", "box", "--stride", "1,2,3", "-o", tmp_path / "b.png"), 1
    )
    assert ": --stride has 3 values but the signal has 2 spatial axes" in line
    np.save(tmp_path / "x.npy", np.zeros((3, 4, 5), np.float32))
    line = assert_one_error_line(
        invoke("filter", tmp_path / "x.npy", "-k", "box", "-o", tmp_path / "x.tif"), 1
    )
    assert "read it with --as image (channels last) or --as volume, or write .npy" in line
    rgb = write_png(np.zeros((8, 8, 3), np.uint8), "rgb.png")
    res = invoke("filter", rgb, "-k", "box", "--dtype", "float32", "-o", tmp_path / "f.png")
    assert assert_one_error_line(res, 1).endswith("(--gray) or .npy, or --dtype uint8")
    res = invoke(
        "filter", rgb, "-k", "box", "--dtype", "float32", "-o", tmp_path / "f.png", "--json"
    )
    assert (
        '"error": ' in res.stdout and "--dtype uint8" in res.stdout and "params" not in res.stdout
    )
