"""Volumes: folders of slices, multi-page TIFF, animated GIF/PNG/WebP and 3-D .npy, in and out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from convcli.errors import OutputExistsError, SignalReadError, UnsupportedError
from convcli.io import Signal, cast, load, output_dtype, probe, save

ROWS, COLS = 5, 6


def planes(n: int, dtype: str = "uint8", channels: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n, ROWS, COLS) + ((channels,) if channels else ())
    hi = {"uint8": 256, "uint16": 65536}.get(dtype)
    if hi is None:
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, hi, shape).astype(dtype)


def write_folder(folder: Path, names: list[str], data: np.ndarray) -> None:
    folder.mkdir()
    for name, plane in zip(names, data):
        Image.fromarray(plane).save(folder / name)


def durations_of(im: Image.Image) -> list[float]:
    out = []
    for frame in ImageSequence.Iterator(im):
        frame.load()  # WebP sets a frame's duration when it is decoded
        out.append(frame.info["duration"])
    return out


# ----------------------------------------------------------------------------- folders


def test_folder_natural_sort_and_only_images(tmp_path: Path) -> None:
    folder = tmp_path / "stack"
    names = ["s10.png", "s2.png", "s1.png", "S3.png"]
    data = np.zeros((4, ROWS, COLS), np.uint8)
    for i, name in enumerate(names):
        data[i] = int(name[1:-4])
    write_folder(folder, names, data)
    (folder / "README.txt").write_text("not a slice")
    (folder / ".hidden.png").write_bytes(b"junk")
    (folder / "sub").mkdir()
    s = load(folder)
    assert s.kind == "volume"
    assert s.data.shape == (4, ROWS, COLS)
    assert s.channel_axis is None
    assert s.data[:, 0, 0].tolist() == [1, 2, 3, 10]
    assert s.form.container == "folder"
    assert s.form.slice_names == ["s1.png", "s2.png", "S3.png", "s10.png"]
    assert s.form.format == "PNG"
    assert s.spatial_ndim == 3


def test_folder_rgb_and_gray(tmp_path: Path) -> None:
    data = planes(3, channels=3)
    write_folder(tmp_path / "v", ["a1.png", "a2.png", "a3.png"], data)
    s = load(tmp_path / "v")
    assert s.data.shape == (3, ROWS, COLS, 3) and s.channel_axis == 3
    np.testing.assert_array_equal(s.data, data)
    g = load(tmp_path / "v", gray=True)
    assert g.data.shape == (3, ROWS, COLS) and g.channel_axis is None
    ref = np.stack([np.array(Image.fromarray(p).convert("L")) for p in data])
    np.testing.assert_array_equal(g.data, ref)


def test_folder_odd_slice_size(tmp_path: Path) -> None:
    folder = tmp_path / "v"
    write_folder(folder, ["s1.png", "s2.png"], planes(2))
    Image.fromarray(np.zeros((ROWS + 1, COLS), np.uint8)).save(folder / "s10.png")
    with pytest.raises(SignalReadError) as info:
        load(folder)
    msg = str(info.value)
    assert "s10.png" in msg and f"{ROWS + 1}x{COLS}" in msg and f"{ROWS}x{COLS}" in msg
    assert "\n" not in msg


def test_folder_odd_slice_mode(tmp_path: Path) -> None:
    folder = tmp_path / "v"
    write_folder(folder, ["s1.png", "s2.png"], planes(2))
    Image.fromarray(planes(1, channels=3)[0]).save(folder / "s3.png")
    with pytest.raises(SignalReadError, match=r"s3\.png.*RGB.*s1\.png.* L "):
        load(folder)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    with pytest.raises(SignalReadError, match="no image slices"):
        load(tmp_path / "e")
    (tmp_path / "e" / "notes.txt").write_text("x")
    with pytest.raises(SignalReadError, match="no image slices"):
        probe(tmp_path / "e")


def test_folder_written_back_with_the_same_names(tmp_path: Path) -> None:
    data = planes(3, "uint16")
    names = ["img_008.png", "img_009.png", "img_010.png"]
    write_folder(tmp_path / "in", names, data)
    s = load(tmp_path / "in")
    assert s.data.dtype == np.uint16
    out = tmp_path / "out"
    assert output_dtype(s, out) == np.uint16
    save(s, out, protect=[tmp_path / "in"])
    assert sorted(p.name for p in out.iterdir()) == names
    np.testing.assert_array_equal(load(out).data, data)


def test_folder_pattern_kept_when_plane_count_changes(tmp_path: Path) -> None:
    write_folder(tmp_path / "in", ["s8.tif", "s9.tif"], planes(2))
    s = load(tmp_path / "in")
    more = replace(s, data=planes(4))
    save(more, tmp_path / "out")
    assert sorted((tmp_path / "out").iterdir()) == [
        tmp_path / "out" / n for n in ["s10.tif", "s11.tif", "s8.tif", "s9.tif"]
    ]
    np.testing.assert_array_equal(load(tmp_path / "out").data, more.data)


def test_folder_float_slices_become_tiff(tmp_path: Path) -> None:
    write_folder(tmp_path / "in", ["a1.png", "a2.png"], planes(2))
    s = load(tmp_path / "in")
    out = tmp_path / "out"
    dtype = output_dtype(s, out, "float32")
    data, _ = cast(s.data.astype(np.float32) / 2, dtype)
    save(replace(s, data=data), out)
    assert sorted(p.name for p in out.iterdir()) == ["a1.tif", "a2.tif"]
    np.testing.assert_array_equal(load(out).data, data)
    with pytest.raises(UnsupportedError, match="no slice format holds 64-bit float"):
        output_dtype(s, tmp_path / "o2", "float64")


def test_folder_into_existing_empty_dir_and_overwrite(tmp_path: Path) -> None:
    v = Signal(planes(3), "volume")
    out = tmp_path / "out"
    out.mkdir()
    save(v, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "slice_0000.png",
        "slice_0001.png",
        "slice_0002.png",
    ]
    with pytest.raises(OutputExistsError):
        save(v, out)
    v2 = Signal(planes(2, seed=1), "volume")
    save(v2, out, overwrite=True)
    assert len(list(out.iterdir())) == 2
    np.testing.assert_array_equal(load(out).data, v2.data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# -------------------------------------------------------------------------- multi-page


def test_multipage_tiff_in_and_out(tmp_path: Path) -> None:
    data = planes(4, "uint16")
    pages = [Image.fromarray(p) for p in data]
    src = tmp_path / "in.tif"
    pages[0].save(src, save_all=True, append_images=pages[1:])
    s = load(src)
    assert s.kind == "volume" and s.form.container == "multipage"
    np.testing.assert_array_equal(s.data, data)
    info = probe(src)
    assert info["kind"] == "volume" and info["planes"] == 4 and info["shape"] == [4, ROWS, COLS]
    out = save(s, tmp_path / "out.tif")
    with Image.open(out) as im:
        assert im.n_frames == 4
    np.testing.assert_array_equal(load(out).data, data)
    first = load(src, "image")
    assert first.kind == "image"
    np.testing.assert_array_equal(first.data, data[0])


def test_multipage_tiff_odd_page(tmp_path: Path) -> None:
    a = Image.fromarray(planes(1)[0])
    b = Image.fromarray(np.zeros((ROWS + 2, COLS), np.uint8))
    src = tmp_path / "odd.tif"
    a.save(src, save_all=True, append_images=[b])
    with pytest.raises(SignalReadError, match="frame 2"):
        load(src)


def test_volume_to_tiff_from_folder_and_npy(tmp_path: Path) -> None:
    data = planes(3, "float32")
    np.save(tmp_path / "v.npy", data)
    s = load(tmp_path / "v.npy", "volume")
    assert s.kind == "volume" and s.channel_axis is None and s.form.container == "npy"
    out = save(s, tmp_path / "v.tif")
    np.testing.assert_array_equal(load(out).data, data)
    save(s, tmp_path / "slices")
    assert sorted(p.name for p in (tmp_path / "slices").iterdir())[0] == "slice_0000.tif"
    np.testing.assert_array_equal(load(tmp_path / "slices").data, data)
    save(s, tmp_path / "back.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "back.npy"), data)


def test_4d_npy_volume_channels_last(tmp_path: Path) -> None:
    data = planes(2, channels=4)
    data[..., 3] = np.maximum(data[..., 3], 1)  # animated WebP drops colour under alpha 0
    np.save(tmp_path / "v.npy", data)
    s = load(tmp_path / "v.npy", "volume")
    assert s.channel_axis == 3 and s.spatial_ndim == 3
    save(s, tmp_path / "v.webp")
    np.testing.assert_array_equal(load(tmp_path / "v.webp").data, data)


# ---------------------------------------------------------------------------- animated


def _frames(data: np.ndarray) -> list[Image.Image]:
    return [Image.fromarray(p) for p in data]


@pytest.mark.parametrize(
    ("ext", "channels", "kw"),
    [
        (".gif", 3, {}),
        (".png", 3, {}),
        (".png", 4, {}),
        (".webp", 3, {"lossless": True}),
        (".webp", 4, {"lossless": True}),
    ],
)
def test_animated_roundtrip(tmp_path: Path, ext: str, channels: int, kw: dict) -> None:
    rng = np.random.default_rng(7)
    data = (rng.integers(0, 4, (3, ROWS, COLS, channels)) * 80).astype(np.uint8)
    if channels == 4:
        data[..., 3] = 255
        data[:, 0, :, 3] = 0
        data[:, 0, :, :3] = 0  # colour under alpha 0 is not kept by every format
    src = tmp_path / f"in{ext}"
    frames = _frames(data)
    frames[0].save(
        src, save_all=True, append_images=frames[1:], duration=[40, 60, 80], loop=3, **kw
    )
    s = load(src)
    assert s.kind == "volume" and s.form.container == "animated"
    assert s.data.shape == data.shape
    np.testing.assert_array_equal(s.data, data)
    assert s.form.frame_durations == [40, 60, 80]
    assert s.form.loop == 3
    assert probe(src)["planes"] == 3
    out = tmp_path / f"out{ext}"
    save(s, out)
    with Image.open(out) as im:
        assert im.n_frames == 3
        assert durations_of(im) == [40, 60, 80]
        assert im.info.get("loop") == 3
    np.testing.assert_array_equal(load(out).data, data)
    first = load(src, "image")
    np.testing.assert_array_equal(first.data, data[0])


def test_animated_gif_with_transparency_is_rgba(tmp_path: Path) -> None:
    data = planes(3, channels=3) // 64 * 64
    frames = [Image.fromarray(p).convert("P", palette=Image.Palette.ADAPTIVE) for p in data]
    src = tmp_path / "t.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], transparency=0, duration=50)
    s = load(src)
    assert s.data.shape[-1] == 4 and s.channel_axis == 3


def test_volume_stride_keeps_total_duration(tmp_path: Path) -> None:
    data = planes(4, channels=3)
    src = tmp_path / "in.png"
    frames = _frames(data)
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    s = load(src)
    half = replace(s, data=s.data[::2])
    save(half, tmp_path / "o.png")
    with Image.open(tmp_path / "o.png") as im:
        assert durations_of(im) == [200, 200]


def test_duplicate_planes_refused_for_non_animated_volumes(tmp_path: Path) -> None:
    data = planes(3)
    data[2] = data[1]
    v = Signal(data, "volume")
    with pytest.raises(UnsupportedError, match="planes 2 and 3 are identical"):
        save(v, tmp_path / "v.gif")
    assert list(tmp_path.iterdir()) == []
    save(v, tmp_path / "v.tif")
    assert load(tmp_path / "v.tif").data.shape == (3, ROWS, COLS)


def test_animated_png_holds_8_bit_only(tmp_path: Path) -> None:
    v = Signal(planes(2, "uint16"), "volume")
    with pytest.raises(
        UnsupportedError,
        match=r"animated PNG cannot hold 16-bit gray.*use \.tif \(multi-page\), a folder of "
        r"slices \(a path with no extension\) or \.npy, or dtype='uint8'$",
    ):
        output_dtype(v, tmp_path / "v.png")
    with pytest.raises(UnsupportedError, match="animated PNG"):
        save(v, tmp_path / "v.png")


def test_volume_to_single_image_format(tmp_path: Path) -> None:
    v = Signal(planes(3), "volume")
    with pytest.raises(UnsupportedError, match="JPEG holds one image"):
        output_dtype(v, tmp_path / "v.jpg")
    one = Signal(planes(1), "volume")
    save(one, tmp_path / "one.bmp")
    np.testing.assert_array_equal(load(tmp_path / "one.bmp").data, one.data[0])


def test_probe_folder(tmp_path: Path) -> None:
    write_folder(tmp_path / "v", ["a1.png", "a2.png", "a3.png"], planes(3, channels=4))
    info = probe(tmp_path / "v")
    assert info["kind"] == "volume"
    assert info["container"] == "folder"
    assert info["shape"] == [3, ROWS, COLS, 4]
    assert info["planes"] == 3
    assert info["channels"] == 4
    assert info["mode"] == "RGBA"


def test_probe_animation_as_image(tmp_path: Path) -> None:
    data = planes(3, channels=3)
    frames = _frames(data)
    frames[0].save(tmp_path / "a.png", save_all=True, append_images=frames[1:], duration=50)
    assert probe(tmp_path / "a.png")["shape"] == [3, ROWS, COLS, 3]
    info = probe(tmp_path / "a.png", "image")
    assert info["kind"] == "image" and info["shape"] == [ROWS, COLS, 3] and info["planes"] is None
