"""Atomic writing: no temp file left behind, outputs and inputs protected, overwrite works."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from convcli.errors import OutputExistsError, SignalWriteError
from convcli.io import Signal, load, same_file, save
from convcli.io import pillow_image as image_module
from convcli.io.atomic import atomic_file, atomic_folder


def gray(value: int = 7) -> Signal:
    return Signal(np.full((4, 5), value, np.uint8), "image")


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_no_temp_left_when_the_writer_fails(tmp_path: Path, error: BaseException) -> None:
    with pytest.raises(type(error)):
        with atomic_file(tmp_path / "a.png") as fh:
            fh.write(b"half an image")
            raise error
    assert listing(tmp_path) == []


def test_no_temp_left_when_an_encoder_fails_inside_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fh, arr, fmt, form, **kw):  # type: ignore[no-untyped-def]
        fh.write(b"\x89PNG partial")
        raise OSError("disk on fire")

    monkeypatch.setattr(image_module, "write_image", broken)
    with pytest.raises(SignalWriteError, match=r"a\.png: cannot write PNG: disk on fire"):
        save(gray(), tmp_path / "a.png")
    assert listing(tmp_path) == []


def test_interrupt_inside_save_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fh, arr, fmt, form, **kw):  # type: ignore[no-untyped-def]
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(image_module, "write_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(gray(), tmp_path / "a.png")
    with pytest.raises(KeyboardInterrupt):
        save(Signal(np.zeros((2, 3, 3), np.uint8), "volume"), tmp_path / "folder")
    assert listing(tmp_path) == []


def test_temp_is_hidden_beside_the_target_with_its_extension(tmp_path: Path) -> None:
    with atomic_file(tmp_path / "out.flac") as fh:
        name = Path(fh.name)
        assert name.parent == tmp_path
        assert name.name.startswith(".out.flac.")
        assert name.suffix == ".flac"
        fh.write(b"x")
    assert listing(tmp_path) == ["out.flac"]


def test_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    os.umask(old)
    out = save(gray(), tmp_path / "a.png")
    assert (out.stat().st_mode & 0o777) == (0o666 & ~old)


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="exists; use overwrite=True"):
        save(gray(), target)
    assert target.read_bytes() == b"precious"
    save(gray(9), target, overwrite=True)
    assert load(target).data[0, 0] == 9
    assert listing(tmp_path) == ["a.png"]


def test_a_file_that_appears_meanwhile_is_not_clobbered(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    with pytest.raises(OutputExistsError):
        with atomic_file(target) as fh:
            fh.write(b"mine")
            target.write_bytes(b"theirs")
    assert target.read_bytes() == b"theirs"
    assert listing(tmp_path) == ["a.bin"]


def test_fallback_when_hard_links_are_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(src, dst):  # type: ignore[no-untyped-def]
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    save(gray(), tmp_path / "a.png")
    assert listing(tmp_path) == ["a.png"]
    with pytest.raises(OutputExistsError):
        save(gray(), tmp_path / "a.png")
    assert listing(tmp_path) == ["a.png"]


@pytest.mark.parametrize("how", ["same", "dot", "hardlink", "symlink", "symlinked-dir"])
def test_inputs_are_protected(tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.png"
    save(gray(1), src)
    original = src.read_bytes()
    monkeypatch.chdir(tmp_path)
    if how == "same":
        target = src
    elif how == "dot":
        target = Path("./sub/../in.png")
        (tmp_path / "sub").mkdir()
    elif how == "hardlink":
        target = tmp_path / "link.png"
        os.link(src, target)
    elif how == "symlink":
        target = tmp_path / "sym.png"
        target.symlink_to(src)
    else:
        (tmp_path / "alias").symlink_to(tmp_path)
        target = tmp_path / "alias" / "in.png"
    with pytest.raises(OutputExistsError, match="is the input"):
        save(gray(2), target, overwrite=True, protect=[src])
    assert src.read_bytes() == original


def test_same_file() -> None:
    assert same_file(".", os.getcwd())
    assert not same_file("/", os.getcwd()) or os.getcwd() == "/"


def test_output_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SignalWriteError, match="output folder .*missing.* does not exist"):
        save(gray(), tmp_path / "missing" / "a.png")
    assert listing(tmp_path) == []
    (tmp_path / "f").write_text("a file")
    with pytest.raises(SignalWriteError, match="is not a folder"):
        save(gray(), tmp_path / "f" / "a.png")


def test_directory_where_a_file_is_expected(tmp_path: Path) -> None:
    (tmp_path / "d.png").mkdir()
    with pytest.raises(SignalWriteError, match="is a directory"):
        save(gray(), tmp_path / "d.png", overwrite=True)
    with pytest.raises(SignalWriteError, match="is a directory"):
        save(gray(), tmp_path)


def test_folder_output_atomic_and_protected(tmp_path: Path) -> None:
    vol = Signal(np.zeros((2, 3, 4), np.uint8), "volume")
    src = tmp_path / "in"
    save(vol, src)
    assert listing(src) == ["slice_0000.png", "slice_0001.png"]
    with pytest.raises(OutputExistsError, match="is the input"):
        save(vol, src, overwrite=True, protect=[src])
    with pytest.raises(OutputExistsError, match="holds the input"):
        save(vol, src, overwrite=True, protect=[src / "slice_0000.png"])
    with pytest.raises(OutputExistsError, match="exists"):
        save(vol, src)
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "out") as tmp:
            (tmp / "x.png").write_bytes(b"partial")
            raise RuntimeError
    assert listing(tmp_path) == ["in"]
    save(Signal(np.ones((3, 3, 4), np.uint8), "volume"), src, overwrite=True)
    assert listing(src) == ["slice_0000.png", "slice_0001.png", "slice_0002.png"]
    assert listing(tmp_path) == ["in"]


def test_volume_path_without_extension_replaces_a_file_only_with_overwrite(
    tmp_path: Path,
) -> None:
    (tmp_path / "out").write_text("a file")
    vol = Signal(np.zeros((2, 3, 4), np.uint8), "volume")
    with pytest.raises(OutputExistsError):
        save(vol, tmp_path / "out")
    save(vol, tmp_path / "out", overwrite=True)
    assert (tmp_path / "out").is_dir()
