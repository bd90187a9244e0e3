"""Contract tests: the CLI, the API, the README and the code say the same things."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

import convcli
from convcli.cli import cli
from convcli.padding import ALIASES, NUMPY_NAMES, PAD_MODES, SCIPY_NAMES
from convcli.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
# The front page and the reference pages in docs/: a marked table may live in any of them.
PAGES = {
    path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}


def _section(name: str) -> str:
    found = [text for text in PAGES.values() if f"<!-- {name}:start -->" in text]
    assert len(found) == 1, f"the {name} table is in {len(found)} pages, not one"
    text = found[0]
    start = text.index(f"<!-- {name}:start -->")
    end = text.index(f"<!-- {name}:end -->")
    return text[start:end]


def test_cli_geometry_defaults_equal_the_api_defaults():
    filter_cmd = cli.get_command(click.Context(cli), "filter")
    assert filter_cmd is not None
    params = {p.name: p for p in filter_cmd.params}
    api = inspect.signature(convcli.convolve).parameters
    assert params["padding"].default == api["padding"].default == "same"
    assert params["pad_value"].default == api["pad_value"].default == 0.0
    assert params["method"].default == api["method"].default == "auto"
    assert params["flip"].default is api["flip"].default is False
    assert params["stride"].default is None and api["stride"].default == 1  # None means 1
    assert params["dilation"].default is None and api["dilation"].default == 1
    # --pad-mode defaults by kind (reflect for images/volumes); the API's is zero, as for arrays
    from convcli.jobs.options import default_pad_mode

    assert default_pad_mode("array") == api["pad_mode"].default == "zero"
    assert default_pad_mode("audio") == "zero"
    assert default_pad_mode("image") == default_pad_mode("volume") == "reflect"


def test_readme_kernel_table_is_the_registry():
    from convcli.cli.kernels import kernel_table

    block = _section("kernels")
    assert kernel_table() in block


def test_readme_bank_table_is_the_registry():
    from convcli.cli.kernels import bank_table

    assert bank_table() in _section("banks")


def test_readme_pad_mode_table_is_the_code():
    block = _section("pad-modes")
    rows = [r for r in block.splitlines() if r.startswith("| `")]
    names = [re.match(r"\| `([a-z]+)`", r).group(1) for r in rows]
    assert names == list(PAD_MODES)
    for row, name in zip(rows, names):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert NUMPY_NAMES[name] in cells[2]
        assert SCIPY_NAMES[name] in cells[3]
        aliases = sorted(a for a, n in ALIASES.items() if n == name)
        assert sorted(re.findall(r"`([a-z0-9]+)`", cells[-1])) == aliases
        presets = sorted(p.name for p in PRESETS.values() if p.pad_mode == name)
        assert sorted(re.findall(r"`([a-z0-9]+)`", cells[-2])) == presets


def test_the_cli_imports_no_heavy_module():
    code = (
        "import sys, convcli.cli, convcli.cli.options, convcli.cli.shape; "
        "heavy = [m for m in ('numpy', 'scipy', 'PIL', 'soundfile') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_an_image_job_imports_no_audio_or_tifffile_module(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 6), (10, 200, 30)).save(tmp_path / "in.tif")
    code = (
        "import sys; from convcli.cli import main; "
        f"sys.argv = ['convcli', 'filter', {str(tmp_path / 'in.tif')!r}, '-k', 'box:3', '-o', "
        f"{str(tmp_path / 'out.tif')!r}, '-q']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "names = ('convcli.reverb', 'convcli.jobs.impulse', 'tifffile', 'secrets')\n"
        "print(','.join(m for m in names if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (tmp_path / "out.tif").is_file()
    assert out.stdout.strip() == ""


def test_import_convcli_is_light():
    code = (
        "import sys, convcli; "
        "print(','.join(m for m in ('scipy', 'PIL', 'soundfile', 'click') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _choices(command: str, option: str) -> tuple[str, ...]:
    cmd = cli.get_command(click.Context(cli), command)
    assert cmd is not None
    (param,) = [p for p in cmd.params if option in getattr(p, "opts", ())]
    return tuple(param.type.choices)


@pytest.mark.parametrize("command", ["filter", "features", "info"])
def test_every_as_choice_list_is_the_kinds_of_io(command):
    from convcli.io import KINDS

    assert _choices(command, "--as") == ("auto", *KINDS)


@pytest.mark.parametrize("command", ["filter", "features"])
def test_every_method_choice_list_is_the_engines(command):
    from convcli.engine import METHODS

    assert _choices(command, "--method") == METHODS


def test_the_dtype_alpha_and_activation_choices_are_the_librarys():
    from convcli.features import ACTIVATIONS
    from convcli.io import DTYPE_CHOICES
    from convcli.jobs.alpha import ALPHA_MODES

    assert _choices("filter", "--dtype") == DTYPE_CHOICES
    assert _choices("filter", "--alpha") == ALPHA_MODES
    assert _choices("features", "--activation") == ACTIVATIONS


@pytest.mark.parametrize("command", ["filter", "features"])
def test_the_pad_mode_help_lists_the_modes_and_aliases_of_padding(command):
    cmd = cli.get_command(click.Context(cli), command)
    (param,) = [p for p in cmd.params if "--pad-mode" in getattr(p, "opts", ())]
    names, aliases = re.match(r"(.*) \(aliases: (.*)\)\.", param.help).groups()
    assert tuple(names.split(" | ")) == PAD_MODES
    assert sorted(aliases.split(", ")) == sorted(ALIASES)
    for spelling in (*PAD_MODES, *ALIASES):  # and the option takes every one of them
        ctx = click.Context(cmd)
        assert param.process_value(ctx, spelling) in PAD_MODES
