"""The table of format families (convcli.io.registry) and what io asks it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from convcli.errors import UnsupportedError
from convcli.io import Form, Signal, load, registry, save


def test_every_row_names_a_module_with_load_probe_and_save():
    for row in registry.families():
        for name in ("load", "probe", "save"):
            assert callable(row.function(name)), (row.name, name)
        for fmt in row.writes:
            if fmt.blocks:
                assert callable(row.function("open_writer")), (row.name, fmt.name)


def test_a_format_named_explicitly_wins_over_the_extension(tmp_path: Path):
    planes = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = save(Signal(planes, "volume"), tmp_path / "maps-1.5", format="folder")
    assert sorted(p.name for p in out.iterdir()) == ["slice_0000.png", "slice_0001.png"]
    np.testing.assert_array_equal(load(out).data, planes)
    with pytest.raises(UnsupportedError, match="unknown output extension '.5'"):
        save(Signal(planes, "volume"), tmp_path / "other-1.5")
    with pytest.raises(UnsupportedError, match="format 'BOGUS' is not one of folder, PNG"):
        save(Signal(planes, "volume"), tmp_path / "x", format="BOGUS")


def test_an_encoding_is_libsndfiles_conversion_and_only_where_the_format_has_it(tmp_path):
    x = np.linspace(-0.9, 0.9, 101)[:, None]
    out = save(Signal(x, "audio", 1, rate=8000.0), tmp_path / "a.wav", encoding="PCM_16")
    assert sf.info(out).subtype == "PCM_16"
    with open(tmp_path / "b.wav", "wb") as fh:  # what soundfile writes of the same floats
        sf.write(fh, x[:, 0], 8000, subtype="PCM_16", format="WAV")
    assert out.read_bytes() == (tmp_path / "b.wav").read_bytes()
    with pytest.raises(UnsupportedError, match="PNG is not written as PCM_16"):
        save(Signal(np.zeros((2, 2), np.uint8), "image"), tmp_path / "c.png", encoding="PCM_16")


def test_a_palette_writes_gray_levels_as_indexed_colour(tmp_path: Path):
    lut = np.stack([np.arange(256), 255 - np.arange(256), np.zeros(256)], axis=1)
    levels = np.array([[0, 255], [128, 7]], np.uint8)
    out = save(Signal(levels, "image", form=Form(info={"palette": lut})), tmp_path / "p.png")
    with Image.open(out) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), levels)
        assert im.getpalette()[3 * 255 : 3 * 256] == [255, 0, 0]
