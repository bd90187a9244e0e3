"""The modules that moved keep their old names for one release, with a warning."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def moved_rows() -> list[tuple[str, str]]:
    text = API_PAGE.read_text(encoding="utf-8")
    table = text.split("<!-- moved:start -->")[1].split("<!-- moved:end -->")[0]
    return re.findall(r"^\| `([\w.]+)` \| `([\w.]+)` \|", table, flags=re.M)


def test_the_readme_lists_the_moves():
    assert ("convcli.run", "convcli.jobs.job") in moved_rows()


@pytest.mark.parametrize(("old", "new"), moved_rows())
def test_an_old_module_gives_its_names_from_their_new_homes_with_a_warning(old, new):
    module = importlib.import_module(old)
    assert module.__all__  # the names it had before it moved
    homes = set()
    for name in module.__all__:
        with pytest.warns(DeprecationWarning, match=re.escape(f"{old}.{name} has moved to ")) as w:
            value = getattr(module, name)
        where = str(w[0].message).split(" has moved to ")[1].split(";")[0]
        home, _, new_name = where.rpartition(".")
        assert value is getattr(importlib.import_module(home), new_name)
        homes.add(home)
    assert new in homes
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_a_module_that_stays_finds_the_names_it_lost():
    from convcli.io import dtypes, pillow_image, slices, sndfile_audio

    for name, home in (
        ("check_image", pillow_image),
        ("image_dtypes", pillow_image),
        ("check_audio", sndfile_audio),
        ("audio_subtype", sndfile_audio),
        ("slice_format", slices),
    ):
        with pytest.warns(DeprecationWarning, match=f"convcli.io.dtypes.{name} has moved"):
            assert getattr(dtypes, name) is getattr(home, name)
    with pytest.raises(AttributeError, match="no attribute 'IMAGE_DTYPES'"):
        dtypes.IMAGE_DTYPES  # noqa: B018 - the rows of convcli.io.registry now
