"""The hostile corpus (``tests/hostile.py``) through ``convcli filter``, case by case and batched.

Every case asserts the exit code, exactly one error line naming the file and the problem (or
success, for the odd-but-valid files), no traceback, no output and no temporary file left
behind, and inputs byte-for-byte unchanged.  The whole corpus also runs as one batch in a
subprocess of the installed ``convcli`` (with a timeout: a FIFO must not hang it), serially
and with ``--jobs 2``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke
from hostile import BAD_NAME, BAD_TRUNCATED_NAME, Case, build

from convcli.cli import safe_path

CONVCLI = shutil.which("convcli")


def _cmd() -> list[str]:
    return [CONVCLI] if CONVCLI else [sys.executable, "-m", "convcli.cli"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    root = tmp_path_factory.mktemp("corpus")
    return root, build(root)


def _digest(path: Path) -> str | None:
    """A hash of a regular file or a folder's regular files; None for anything else."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        st = os.lstat(path)
        if st.st_size > 1 << 20:  # the sparse 65 MiB kernel file: its size and time tell
            return f"{st.st_size}:{st.st_mtime_ns}"
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if stat.S_ISDIR(mode):
        parts = [f"{p.name}:{_digest(p)}" for p in sorted(path.iterdir())]
        return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
    return f"mode {stat.S_IFMT(mode)}"


def _snapshot(root: Path) -> dict[str, str | None]:
    return {os.fsdecode(p.name): _digest(p) for p in root.iterdir()}


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a FIFO read would block for ever)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _case_id(case: Case) -> str:
    name = case.name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    return f"{case.expect}:{name}:{' '.join(case.args[1:2])}"


def _cases() -> list[Case]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return build(d)


CASES = _cases()


def _hidden(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob(".*"))


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_case(corpus, case: Case, tmp_path, monkeypatch):
    root, _ = corpus
    monkeypatch.chdir(root)
    before = _snapshot(root)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / case.out_name
    started = time.monotonic()
    with _deadline(60):
        res = invoke("filter", case.name, *case.args, "-o", target)
    took = time.monotonic() - started
    assert "Traceback" not in res.output, res.output
    lines = res.stderr.splitlines()
    errors = [line for line in lines if line.startswith("convcli: error:")]
    if case.expect == "ok":
        assert res.exit_code == 0, (res.exit_code, res.stderr)
        assert errors == []
        assert [p.name for p in out_dir.iterdir()] == [case.out_name]
        for word in case.words:  # a warning (NaN/Inf) must say so
            assert any(word.lower() in line.lower() for line in lines), res.stderr
    else:
        code = 2 if case.expect == "usage" else 1
        assert res.exit_code == code, (res.exit_code, res.stderr)
        assert len(lines) == 1 and len(errors) == 1, res.stderr
        line = errors[0]
        if case.expect == "error":
            assert line.startswith(f"convcli: error: {safe_path(case.name)}: "), line
        else:  # a bad kernel file: the line names it
            assert Path(case.args[1].lstrip("@")).name in line, line
        for word in case.words:
            assert word.lower() in line.lower(), (word, line)
        assert list(out_dir.iterdir()) == []
    assert _hidden(out_dir) == [] and _hidden(root) == []
    assert _snapshot(root) == before  # inputs byte for byte unchanged, nothing added
    assert not (root / "pwned").exists()
    if case.expect != "ok":
        assert took < 10, took


def test_the_corpus_covers_what_the_issue_lists():
    names = {c.name for c in CASES}
    notes = " ".join(c.note for c in CASES)
    for name in [
        "zero-byte.png",
        "zero-byte.jpg",
        "zero-byte.tif",
        "zero-byte.wav",
        "zero-byte.flac",
        "truncated.png",
        "truncated.jpg",
        "truncated.tif",
        "claims-1000-frames.wav",
        "truncated.flac",
        "png-named.wav",
        "wav-named.png",
        "text-named.npy",
        "bomb-100k.png",
        "bomb-100k.tif",
        "pickled.npy",
        "terabytes.npy",
        "eps-renamed.png",
        "pdf-renamed.png",
        "svg-renamed.png",
        "slices-size",
        "slices-mode",
        "palette.png",
        "cmyk.tif",
        "1bit.png",
        "i16b.tif",
        "float.tif",
        "la.png",
        "pcm-u8.wav",
        "pcm-24.wav",
        "pcm-32.wav",
        "float.wav",
        "six-channels.wav",
        "with space.png",
        "ünïcødé ☃.png",
        BAD_NAME,
    ]:
        assert name in names, name
    for word in ["ragged.txt", "empty.txt", "nan.txt", "huge.txt", "huge.npy"]:
        assert word in notes, word
    for name in [  # issue 11, part 5: text series
        "ragged.csv",
        "decimal-comma.csv",
        "text-cell.csv",
        "sparse-1g.csv",
        "long-line.csv",
        "binary-junk.csv",
        "zero-byte.csv",
        "bom.csv",
    ]:
        assert name in names, name
    assert len(CASES) >= 100


def _batch(root: Path, out: Path, *extra: str, timeout: int = 240) -> subprocess.CompletedProcess:
    inputs = [c.name for c in CASES if c.batch]
    return subprocess.run(
        [*_cmd(), "filter", *inputs, "-k", "box:3", "--out-dir", str(out), *extra],
        cwd=root,
        capture_output=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_whole_corpus_as_one_batch(corpus, tmp_path, jobs):
    root, _ = corpus
    before = _snapshot(root)
    out = tmp_path / "out"
    run = _batch(root, out, "--jobs", jobs)
    stderr = run.stderr.decode("utf-8")  # printable whatever the names hold
    assert run.returncode == 1, stderr
    assert "Traceback" not in stderr
    batch = [c for c in CASES if c.batch]
    bad = [c for c in batch if c.expect == "error"]
    good = [c for c in batch if c.expect == "ok"]
    errors = [line for line in stderr.splitlines() if line.startswith("convcli: error:")]
    # one line per bad file, in input order, naming it and its problem
    assert len(errors) == len(bad), "\n".join(errors)
    for case, line in zip(bad, errors):
        assert line.startswith(f"convcli: error: {safe_path(case.name)}: "), (case.name, line)
        for word in case.words:
            assert word.lower() in line.lower(), (word, line)
    summary = stderr.splitlines()[-1]
    assert summary == f"convcli: {len(good)} done, {len(bad)} failed, of {len(batch)} inputs"
    written = {os.fsdecode(p.name) for p in out.iterdir()}
    assert written == {c.out_name for c in good}  # every good file, nothing else
    assert _hidden(out) == [] and _hidden(root) == []
    assert _snapshot(root) == before


def test_batch_json_records_every_input_in_order(corpus, tmp_path):
    root, _ = corpus
    run = _batch(root, tmp_path / "out", "--json")
    records = [json.loads(line) for line in run.stdout.decode("utf-8").splitlines()]
    batch = [c for c in CASES if c.batch]
    assert [r["input"] for r in records] == [c.name for c in batch]
    for case, rec in zip(batch, records):
        assert rec["status"] == ("ok" if case.expect == "ok" else "error"), rec
        assert "nonfinite" in rec
    by_name = {r["input"]: r for r in records}
    assert by_name["nan-inf.tif"]["nonfinite"] == 2
    assert by_name["nan.wav"]["nonfinite"] == 1
    assert by_name["float.tif"]["nonfinite"] == 0
    assert by_name["nan-cells.csv"]["nonfinite"] == 2
    assert by_name["sensor-log.csv"]["columns"] == ["temp", "humidity"]


# ------------------------------------------------------------------- headers, limits, info


BOMBS = ["bomb-100k.png", "bomb-100k.tif", "bomb-65k.gif", "bomb-65k.jpg", "bomb-100k.bmp"]


@pytest.mark.parametrize("name", [*BOMBS, "terabytes.npy", "claims-2g-frames.wav"])
def test_a_tiny_file_claiming_huge_sizes_is_refused_from_its_header_at_once(corpus, name):
    from convcli import io
    from convcli.errors import SignalReadError

    root, _ = corpus
    for reader in (io.load, io.probe):
        started = time.perf_counter()
        with pytest.raises(SignalReadError):
            reader(root / name)
        assert time.perf_counter() - started < 0.25


@pytest.mark.parametrize("name", BOMBS)
def test_info_refuses_bombs_and_tells_the_size(corpus, name):
    root, _ = corpus
    res = invoke("info", root / name)
    assert res.exit_code == 1 and "pixels" in res.stderr and "--max-pixels" in res.stderr
    assert len(res.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "option", "words"),
    [
        ("photo.jpg", ["--max-pixels", "700"], ["768 pixels", "700"]),
        ("multipage.tif", ["--max-frames", "2"], ["3 planes", "--max-frames"]),
        ("slices-ok", ["--max-frames", "2"], ["3 slices", "--max-frames"]),
        ("slices-ok", ["--max-voxels", "1000"], ["2304 voxels", "--max-voxels"]),
        ("six-channels.wav", ["--max-channels", "4"], ["6 channels", "--max-channels"]),
        ("pcm-16-stereo.wav", ["--max-samples", "100"], ["800 samples", "--max-samples"]),
        ("photo.jpg", ["--max-taps", "8"], ["3x3 = 9 taps", "--max-taps"]),
        ("photo.jpg", ["--max-memory", "10K"], ["needs about", "--max-memory", "10.0 KiB"]),
        ("rgba.png", ["--max-memory", "20K"], ["needs about", "--max-memory"]),
        ("multipage.tif", ["--max-memory", "1K"], ["needs about", "slab by slab"]),
        ("sensor-log.csv", ["--max-channels", "1"], ["2 channels", "--max-channels"]),
        ("sensor-log.csv", ["--max-samples", "50"], ["80 samples", "--max-samples"]),
    ],
)
def test_every_budget_is_an_option_and_names_its_numbers(corpus, tmp_path, name, option, words):
    root, _ = corpus
    out = tmp_path / f"o{Path(name).suffix}"
    res = invoke("filter", root / name, "-k", "box:3", "-o", out, *option)
    assert res.exit_code == 1, res.stderr
    assert len(res.stderr.splitlines()) == 1
    for word in words:
        assert word in res.stderr, (word, res.stderr)
    assert not out.exists() and _hidden(tmp_path) == []


def test_budgets_can_be_raised_or_lifted(corpus, tmp_path):
    root, _ = corpus
    args = ["-k", "box:3", "--max-pixels", "none", "--max-frames", "3", "--max-memory", "1G"]
    res = invoke("filter", root / "multipage.tif", *args, "-o", tmp_path / "o.tif")
    assert res.exit_code == 0, res.stderr
    res = invoke("info", root / "photo.jpg", "--max-pixels", "700")
    assert res.exit_code == 1 and "768 pixels" in res.stderr
    res = invoke("filter", root / "photo.jpg", "-k", "box:3", "--max-pixels", "0", "-o", "x.jpg")
    assert res.exit_code == 2 and "--max-pixels" in res.stderr


def test_long_audio_streams_under_a_small_budget_instead_of_being_refused(corpus, tmp_path):
    root, _ = corpus
    res = invoke(
        "filter", root / "pcm-16-stereo.wav", "-k", "box:3", "--max-memory", "1K", "--json",
        "-o", tmp_path / "o.wav",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["streamed"] is True


def test_option_defaults_agree_with_the_library():
    from convcli.cli import options
    from convcli.io import limits
    from convcli.jobs.budget import MAX_TAPS

    assert (
        options._PIXELS,
        options._VOXELS,
        options._FRAMES,
        options._CHANNELS,
        options._SAMPLES,
        options._TAPS,
    ) == (
        limits.MAX_PIXELS,
        limits.MAX_VOXELS,
        limits.MAX_FRAMES,
        limits.MAX_CHANNELS,
        limits.MAX_SAMPLES,
        MAX_TAPS,
    )
    from PIL import Image

    assert limits.MAX_PIXELS < Image.MAX_IMAGE_PIXELS  # below Pillow's bomb limit


def test_pillow_is_never_asked_to_try_other_plugins(corpus, monkeypatch):
    """Every Image.open names the one plugin the content says."""
    from PIL import Image

    from convcli import io
    from convcli.errors import SignalReadError

    root, _ = corpus
    seen: list[object] = []
    real = Image.open

    def spy(fp, mode="r", formats=None):
        seen.append(formats)
        return real(fp, mode, formats)

    monkeypatch.setattr(Image, "open", spy)
    for name in ["palette.png", "photo.jpg", "cmyk.tif", "image.ppm", "animated.gif"]:
        io.load(root / name)
    assert seen and all(f is not None and len(f) <= 2 for f in seen), seen
    for name in ["eps-renamed.png", "pdf-renamed.png", "svg-renamed.png", "tga-named.png"]:
        with pytest.raises(SignalReadError):
            io.load(root / name)
    assert len(seen) == 5  # the refused files never reached Pillow


def test_the_decompression_bomb_warning_is_an_error(tmp_path):
    """Pillow's own bomb check, at --max-pixels, is an error while convcli reads."""
    import warnings

    from PIL import Image

    from convcli.io import Limits
    from convcli.io.pillow_image import open_image

    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a.png")
    with open_image(tmp_path / "a.png", Limits(max_pixels=500)) as im:
        assert Image.MAX_IMAGE_PIXELS == 500
        with warnings.catch_warnings(), pytest.raises(Image.DecompressionBombWarning):
            Image._decompression_bomb_check((30, 30))  # what a GIF seek does
        assert im.size == (20, 20)
    assert Image.MAX_IMAGE_PIXELS != 500  # restored


# ------------------------------------------------------------------------ NaN / Inf policy


def test_nan_is_kept_in_a_float_output_and_counted(corpus, tmp_path):
    from PIL import Image

    root, _ = corpus
    out = tmp_path / "o.tif"
    res = invoke("filter", root / "nan-inf.tif", "-k", "box:3", "-o", out, "--json")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["nonfinite"] == 2
    assert "2 NaN/Inf samples in the input" in res.stderr
    got = np.array(Image.open(out))
    bad = ~np.isfinite(got)
    assert bad[2:5, 3:6].all() and bad[9:12, 10:13].all()  # each 3x3 window that sees one
    assert bad.sum() == 18 and np.isfinite(got[bad == 0]).all()


def test_nan_with_rescale_uses_the_finite_range(corpus, tmp_path):
    root, _ = corpus
    out = tmp_path / "o.npy"
    res = invoke("filter", root / "nan.npy", "-k", "box:3", "--rescale", "-o", out)
    assert res.exit_code == 0, res.stderr
    got = np.load(out)
    finite = got[np.isfinite(got)]
    assert finite.size == got.size - 9 and finite.min() == 0 and finite.max() == 1


def test_nan_to_an_integer_output_is_refused(corpus, tmp_path):
    root, _ = corpus
    out = tmp_path / "o.png"
    res = invoke("filter", root / "nan-inf.tif", "-k", "box:3", "--dtype", "uint16", "-o", out)
    assert res.exit_code == 1 and "18 NaN/Inf" in res.stderr and "uint16 cannot hold" in res.stderr
    assert not out.exists()


def test_nan_in_streamed_audio_is_counted_and_never_goes_to_fft(corpus, tmp_path):
    import soundfile as sf

    root, _ = corpus
    out = tmp_path / "o.wav"
    res = invoke(
        "filter", root / "nan.wav", "-k", "lowpass:cutoff=1000", "--max-memory", "1K",
        "--json", "-o", out,
    )  # fmt: skip
    rec = json.loads(res.stdout)
    assert res.exit_code == 0 and rec["streamed"] and rec["nonfinite"] == 1
    assert "fft" not in rec["methods"]
    got, _ = sf.read(out)
    assert np.isnan(got[:, 0]).sum() < 200 and np.isfinite(got[:, 1]).all()


def test_integer_outputs_never_wrap(corpus, tmp_path):
    from PIL import Image

    root, _ = corpus
    out = tmp_path / "o.png"
    res = invoke("filter", root / "la.png", "-k", "identity", "--scale", "300", "-o", out)
    assert res.exit_code == 0 and "clipped" in res.stderr
    got = np.array(Image.open(out))
    src = np.array(Image.open(root / "la.png"))
    assert (got[..., 0][src[..., 0] > 0] == 255).all()  # clipped to the top, not wrapped


# --------------------------------------------------------------------------- outputs


@pytest.fixture
def photo(corpus, tmp_path) -> Path:
    root, _ = corpus
    src = tmp_path / "in.png"
    shutil.copy(root / "palette.png", src)
    return src


def _one_line(res, code: int) -> str:
    assert res.exit_code == code, (res.exit_code, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("convcli: error: "), res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def test_an_output_that_is_a_folder(photo, tmp_path):
    (tmp_path / "dir.png").mkdir()
    line = _one_line(invoke("filter", photo, "-k", "box:3", "-o", tmp_path / "dir.png"), 1)
    assert "directory" in line and (tmp_path / "dir.png").is_dir()
    assert _hidden(tmp_path) == []


def test_a_missing_output_folder(photo, tmp_path):
    line = _one_line(invoke("filter", photo, "-k", "box:3", "-o", tmp_path / "no/o.png"), 1)
    assert "does not exist" in line and not (tmp_path / "no").exists()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_an_output_that_is_a_fifo_or_a_device_is_never_replaced(photo, tmp_path, overwrite):
    os.mkfifo(tmp_path / "pipe.png")
    line = _one_line(
        invoke("filter", photo, "-k", "box:3", "-o", tmp_path / "pipe.png", *overwrite), 1
    )
    assert "FIFO" in line or "exists" in line
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.png").st_mode)
    assert _hidden(tmp_path) == []


def test_dev_null_is_never_replaced():
    from convcli.errors import SignalWriteError
    from convcli.io.atomic import check_output

    with pytest.raises(SignalWriteError, match="character device"):
        check_output("/dev/null", overwrite=True)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("spelling", ["symlink", "hardlink", "dot"])
def test_an_output_that_is_the_input_by_another_spelling(photo, tmp_path, monkeypatch, spelling):
    before = photo.read_bytes()
    monkeypatch.chdir(tmp_path)
    if spelling == "symlink":
        os.symlink(photo, tmp_path / "link.png")
        out = "link.png"
    elif spelling == "hardlink":
        os.link(photo, tmp_path / "hard.png")
        out = "hard.png"
    else:
        out = f"./sub/../{photo.name}"
        (tmp_path / "sub").mkdir()
    line = _one_line(invoke("filter", photo, "-k", "box:3", "-o", out, "--overwrite"), 2)
    assert "is the input" in line
    assert photo.read_bytes() == before and _hidden(tmp_path) == []


def test_json_and_messages_with_undecodable_names(corpus, tmp_path):
    root, _ = corpus
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    names = [BAD_NAME, BAD_TRUNCATED_NAME, "ünïcødé ☃.png", "with space.png"]
    run = subprocess.run(
        [*_cmd(), "filter", *names, "-k", "box:3", "--out-dir", str(tmp_path / "o"), "--json"],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 1
    err = run.stderr.decode("utf-8")
    assert "Traceback" not in err
    assert f"convcli: error: {safe_path(BAD_TRUNCATED_NAME)}: " in err
    assert "undecodable-\\udcfe-truncated.png" in err  # escaped, printable
    records = [json.loads(line) for line in run.stdout.decode("ascii").splitlines()]
    assert [r["input"] for r in records] == names
    assert [r["status"] for r in records] == ["ok", "error", "ok", "ok"]
    assert (tmp_path / "o" / BAD_NAME).exists()


def test_the_default_budget_follows_the_address_space_limit():
    import resource

    from convcli.jobs.budget import default_memory_budget

    with open("/proc/self/status", encoding="ascii") as fh:
        size = next(int(x.split()[1]) << 10 for x in fh if x.startswith("VmSize:"))
    if size > 6 << 30:
        pytest.skip("this process maps more than 6 GiB already")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, hard))
        assert default_memory_budget() <= 4 << 30
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert default_memory_budget() >= 1 << 20
