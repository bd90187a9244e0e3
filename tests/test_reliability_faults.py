"""Faults injected into real ``convcli`` processes: signals, resource limits, full disks, pipes.

Each test runs the installed ``convcli`` in a subprocess (its own session, so that a signal to
its process group reaches its workers and nothing else) and checks what a user would find
afterwards: the exit status, one line per problem and no traceback, every output at its final
name whole (equal to what an uninterrupted run writes), no temporary file, no process left.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

CONVCLI = shutil.which("convcli")
pytestmark = pytest.mark.skipif(CONVCLI is None, reason="the convcli script is not installed")

RATE = 8000


def _hidden(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob(".*"))


@pytest.fixture(scope="module")
def slow_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """120 WAVs that each take a while (a 4000-tap kernel, direct): a batch still running."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("slow")
    rng = np.random.default_rng(0)
    names = []
    for i in range(120):
        name = f"in{i:03d}.wav"
        sf.write(root / name, rng.uniform(-0.5, 0.5, 40_000), RATE, subtype="PCM_16")
        names.append(name)
    np.save(root / "k.npy", rng.random(4000) / 4000)
    return root, names


ARGS = ["-k", "k.npy", "--method", "direct", "-q"]


def _start(root: Path, args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [CONVCLI, *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        **kw,
    )


def _wait_for_output(proc: subprocess.Popen, out: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir()):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("no output appeared")


def _live_in_session(sid: int) -> list[int]:
    """The processes of a session that still run (zombies, already dead, are not counted)."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            live.append(int(entry))
    return live


def _working_convcli(sid: int) -> bool:
    """Whether a convcli of the session has numpy loaded: past Python's start-up, at work.

    A signal in the first milliseconds of an interpreter's start-up, before any of convcli
    runs, is Python's own "Fatal Python error: init_sys_streams" (exit status 1).
    """
    for pid in _live_in_session(sid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"convcli" not in fh.read():
                    continue
            with open(f"/proc/{pid}/maps", encoding="ascii", errors="replace") as fh:
                if "_multiarray_umath" in fh.read():
                    return True
        except OSError:
            continue
    return False


def _session_gone(sid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _live_in_session(sid):
            return True
        time.sleep(0.02)
    return False


def _check_outputs_whole(root: Path, out: Path, names: list[str]) -> int:
    """Every file at a final name is what an uninterrupted run writes; return the count.

    The last two finished are compared byte for byte with a fresh run (the last one was being
    written, or had just been, when the signal came); every other one has the very same size
    and a header that says all its frames are there.
    """
    import soundfile as sf

    done = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert set(done) <= set(names)
    ref = out.parent / f"{out.name}-reference"
    ref.mkdir()
    args = ["-k", str(root / "k.npy"), *ARGS[2:]]
    last = done[-2:]
    res = invoke("filter", *(root / n for n in last), *args, "--out-dir", ref)
    assert res.exit_code == 0, res.stderr
    size = (ref / last[0]).stat().st_size
    for name in done:
        if name in last:
            assert (out / name).read_bytes() == (ref / name).read_bytes(), name
        assert (out / name).stat().st_size == size, name
        assert sf.info(out / name).frames == 40_000
    return len(done)


@pytest.mark.parametrize(
    ("jobs", "sig", "target"),
    [
        ("1", signal.SIGINT, "group"),  # Ctrl-C at a terminal
        ("1", signal.SIGTERM, "parent"),  # kill PID
        ("2", signal.SIGINT, "group"),
        ("2", signal.SIGTERM, "parent"),  # the workers are not signalled: the parent stops them
        ("2", signal.SIGTERM, "group"),  # kill -TERM -PGID, systemd: the fork server dies too
        ("1", signal.SIGHUP, "group"),
        ("2", signal.SIGHUP, "group"),  # a closed terminal: resource tracker and fork server too
    ],
    ids=[
        "int-j1",
        "term-j1",
        "int-j2-group",
        "term-j2-parent-only",
        "term-j2-group",
        "hup-j1",
        "hup-j2-group",
    ],
)
def test_a_signal_mid_batch_leaves_whole_outputs_and_no_temporary_file(
    slow_batch, tmp_path, jobs, sig, target
):
    root, names = slow_batch
    out = tmp_path / "out"
    proc = _start(root, ["filter", *names, *ARGS, "--out-dir", str(out), "-j", jobs])
    _wait_for_output(proc, out)
    if target == "group":
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    stderr = err.decode()
    assert proc.returncode == -sig, (proc.returncode, stderr)  # ended by the signal itself
    word = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}.get(sig, "hung up")
    assert stderr.splitlines()[-1] == f"convcli: {word}", stderr
    assert "Traceback" not in stderr
    assert _hidden(out) == [] and _hidden(root) == []
    assert _session_gone(proc.pid), "a worker outlived the run"
    done = _check_outputs_whole(root, out, names)
    assert 0 < done < len(names)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_signal_the_instant_a_temporary_file_appears(slow_batch, tmp_path, jobs):
    """The moment a write starts, where an interruption could lose a temporary file's name."""
    root, names = slow_batch
    for trial, sig in enumerate([signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGTERM]):
        out = tmp_path / f"out{trial}"
        out.mkdir()
        proc = _start(root, ["filter", *names[:4], *ARGS, "--out-dir", str(out), "-j", jobs])
        deadline = time.monotonic() + 60
        while not any(out.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0002)
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == -sig, err.decode()
        assert "Traceback" not in err.decode() and "Exception" not in err.decode(), err.decode()
        assert _hidden(out) == [], trial
        assert _session_gone(proc.pid)
        for p in out.iterdir():
            assert p.stat().st_size == (root / p.name).stat().st_size  # whole, same format


def test_a_worker_killed_by_the_system_is_one_line(slow_batch, tmp_path):
    """The OOM killer takes a worker: the batch ends with one line, not a traceback."""
    root, names = slow_batch
    out = tmp_path / "out"
    proc = _start(root, ["filter", *names, *ARGS, "--out-dir", str(out), "-j", "2"])
    _wait_for_output(proc, out)
    workers = [
        pid
        for pid in _live_in_session(proc.pid)
        if pid != proc.pid and _parent_of(pid) != proc.pid and _parent_of(pid) != 1
    ]
    assert workers, "no worker found"
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    stderr = err.decode()
    assert proc.returncode == 1, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("convcli: error:")]
    assert len(lines) == 1 and "a worker process ended unexpectedly" in lines[0], stderr
    assert "Traceback" not in stderr
    assert _session_gone(proc.pid)
    _check_outputs_whole(root, out, names)


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def test_sigkill_leaves_no_partial_file_at_a_final_name(slow_batch, tmp_path):
    root, names = slow_batch
    out = tmp_path / "out"
    proc = _start(root, ["filter", *names, *ARGS, "--out-dir", str(out), "-j", "2"])
    _wait_for_output(proc, out)
    time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _session_gone(proc.pid)
    # temporary files may remain (hidden: .NAME.*.tmp.wav); finished names are whole
    assert all(p.name.startswith(".in") and ".tmp" in p.name for p in out.glob(".*"))
    assert _check_outputs_whole(root, out, names) > 0


def test_the_exit_status_stops_a_shell_loop(slow_batch, tmp_path):
    """Ctrl-C in ``for f in ...; do convcli ...; done`` stops the loop, not just one file."""
    root, names = slow_batch
    out = tmp_path / "out"
    out.mkdir()
    script = (
        f'for f in {" ".join(names[:40])}; do "{CONVCLI}" filter "$f" {" ".join(ARGS)} '
        f'-o "{out}/$f"; echo "status $?"; done; echo "loop ended"'
    )
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # interrupt a later convcli, once it is at work
        if any(out.iterdir()) and _working_convcli(proc.pid):
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    text = stdout.decode()
    assert "loop ended" not in text and "status 130" not in text, text
    assert _hidden(out) == []
    shell = subprocess.run(
        ["bash", "-c", f'"{CONVCLI}" filter in000.wav -k "[1 x]" -o o.wav; echo $?'],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert shell.stdout.strip() == "2"


def _limited(**limits: int) -> Callable[[], None]:
    def apply() -> None:
        for name, value in limits.items():
            resource.setrlimit(getattr(resource, name), (value, value))

    return apply


@pytest.fixture
def sizes(tmp_path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "small.png")
    big = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    import soundfile as sf

    sf.write(tmp_path / "long.wav", rng.uniform(-0.5, 0.5, (30_000, 2)), RATE, subtype="PCM_16")
    return tmp_path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_size_limit_fails_one_output_and_kills_nothing(sizes, jobs):
    out = sizes / "out"
    for inputs, extra in [(["big.png", "small.png"], []), (["long.wav"], ["--max-memory", "1K"])]:
        run = subprocess.run(
            [CONVCLI, "filter", *inputs, "-k", "box:3", "--out-dir", str(out), "-j", jobs, *extra],
            cwd=sizes,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_limited(RLIMIT_FSIZE=60_000),
        )
        assert run.returncode == 1, run.stderr  # not killed by SIGXFSZ
        errors = [x for x in run.stderr.splitlines() if x.startswith("convcli: error:")]
        assert len(errors) == 1 and "Traceback" not in run.stderr, run.stderr
        assert errors[0].startswith(f"convcli: error: {inputs[0]}: "), errors
        assert "File too large" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["small.png"]  # streamed stages gone too


def test_a_read_only_output_folder(sizes):
    """An unwritable folder even for root: a read-only tmpfs, in a private mount namespace."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a read-only tmpfs")
    out = sizes / "ro"
    out.mkdir()
    script = (
        f"mount -t tmpfs -o size=64k,ro tmpfs {out} || exit 99; "
        f'"{CONVCLI}" filter small.png -k box:3 -o {out}/o.png; echo "status $?"; '
        f'"{CONVCLI}" filter small.png -k box:3 --out-dir {out}/sub; echo "status $?"; '
        f"ls -A {out}"
    )
    run = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        cwd=sizes,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if run.returncode == 99:
        pytest.skip("cannot mount a tmpfs here")
    assert run.stdout.split() == ["status", "1", "status", "2"], run.stdout + run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 2 and "Traceback" not in run.stderr
    assert lines[0].startswith("convcli: error: small.png: ") and "Read-only" in lines[0]
    assert "cannot create --out-dir" in lines[1] and "Read-only" in lines[1]


def test_a_full_disk_fails_one_output_and_leaves_nothing(sizes):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a small tmpfs")
    out = sizes / "out"
    out.mkdir()
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {out} || exit 99; "
        f'"{CONVCLI}" filter big.png small.png -k box:3 --out-dir {out}; '
        f'echo "status $?"; ls -A {out}'
    )
    run = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        cwd=sizes,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if run.returncode == 99:
        pytest.skip("cannot mount a tmpfs here")
    assert run.stdout.split() == ["status", "1", "small.png"], run.stdout + run.stderr
    errors = run.stderr.splitlines()
    assert errors[0].startswith("convcli: error: big.png: ") and "No space left" in errors[0]
    assert "Traceback" not in run.stderr


def test_an_address_space_limit_is_one_line_not_a_crash(tmp_path):
    """Under ``ulimit -v`` the default budget follows the limit; past the budget, MemoryError."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (12_000, 12_500)}
    with open(tmp_path / "img.npy", "wb") as fh:  # 600 MB on paper, sparse on disk
        np.lib.format.write_array_header_1_0(fh, header)
        fh.truncate(fh.tell() + 12_000 * 12_500 * 4)
    common = [CONVCLI, "filter", "img.npy", "--as", "image", "-k", "box:3"]
    limit = _limited(RLIMIT_AS=700 << 20)
    for extra, words in [
        ([], ["needs about", "--max-memory budget of"]),  # 350 MiB: half the 700 MB limit
        (["--max-memory", "100G", "--max-pixels", "none"], ["not enough memory"]),
    ]:
        run = subprocess.run(
            [*common, *extra, "-o", "o.tif"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=limit,
        )
        assert run.returncode == 1, run.stderr
        lines = run.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("convcli: error: img.npy: "), run.stderr
        for word in words:
            assert word in lines[0], lines[0]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["img.npy"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_300_files_under_32_open_files(tmp_path, jobs):
    import soundfile as sf
    from PIL import Image

    rng = np.random.default_rng(2)
    names = []
    for i in range(300):
        kind = i % 4
        if kind == 0:
            name = f"f{i:03d}.png"
            Image.fromarray(rng.integers(0, 256, (6, 7), dtype=np.uint8)).save(tmp_path / name)
        elif kind == 1:
            name = f"f{i:03d}.wav"
            sf.write(tmp_path / name, rng.uniform(-0.5, 0.5, (50, 1)), RATE)
        elif kind == 2:
            name = f"f{i:03d}.tif"  # multi-page: Pillow keeps the file open between pages
            pages = [Image.fromarray(rng.integers(0, 256, (6, 7), dtype=np.uint8)) for _ in "ab"]
            pages[0].save(tmp_path / name, save_all=True, append_images=pages[1:])
        else:
            name = f"f{i:03d}.npy"
            np.save(tmp_path / name, rng.normal(size=(5, 6)).astype(np.float32))
        names.append(name)
    run = subprocess.run(
        [CONVCLI, "filter", *names, "-k", "box:3", "--out-dir", "out", "-j", jobs],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=_limited(RLIMIT_NOFILE=32),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / "out")) == names


def test_no_descriptor_is_left_open_by_the_loaders(tmp_path):
    """In one process: load and probe every kind many times; the open descriptors stay put."""
    import soundfile as sf
    from PIL import Image

    from convcli import io
    from convcli.errors import SignalReadError

    rng = np.random.default_rng(3)
    pages = [Image.fromarray(rng.integers(0, 256, (6, 7), dtype=np.uint8)) for _ in "abc"]
    pages[0].save(tmp_path / "a.tif", save_all=True, append_images=pages[1:])
    pages[0].save(tmp_path / "a.gif", save_all=True, append_images=pages[1:])
    sf.write(tmp_path / "a.wav", rng.uniform(-0.5, 0.5, (50, 2)), RATE)
    np.save(tmp_path / "a.npy", np.zeros((3, 4)))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    files = ["a.tif", "a.gif", "a.wav", "a.npy"]
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        for name in files:
            io.load(tmp_path / name)
            io.probe(tmp_path / name)
        with pytest.raises(SignalReadError):
            io.load(tmp_path / "bad.png")
    assert len(os.listdir("/proc/self/fd")) <= before


def _unprivileged(base: Path) -> tuple[list[str], Callable[[], None] | None] | None:
    """How to run convcli without the right to write anywhere, or None.

    As ``nobody`` (os.setuid in the child) where ``nobody`` can run this Python; else as root
    without the capabilities that override file permissions (``setpriv``), on a folder owned
    by ``nobody``.
    """
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        entry = pwd.getpwnam("nobody")
    except (ImportError, KeyError):
        return None

    def drop() -> None:
        os.setgid(entry.pw_gid)
        os.setgroups([])
        os.setuid(entry.pw_uid)

    try:
        ran = subprocess.run([CONVCLI, "--version"], preexec_fn=drop, cwd=base, capture_output=True)
        if ran.returncode == 0:
            return [], drop
    except OSError:
        pass
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    if subprocess.run([*prefix, CONVCLI, "--version"], capture_output=True).returncode != 0:
        return None
    return prefix, None


def test_an_unwritable_output_folder_as_an_unprivileged_user():
    from PIL import Image

    base = Path(tempfile.mkdtemp(prefix="convcli-nobody-", dir="/tmp"))
    try:
        how = _unprivileged(base)
        if how is None:
            pytest.skip("cannot drop privileges here")
        prefix, drop = how
        os.chmod(base, 0o755)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(base / "in.png")
        os.chmod(base / "in.png", 0o644)
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        shutil.chown(locked, "nobody")
        env = {**os.environ, "HOME": str(base), "PYTHONDONTWRITEBYTECODE": "1"}
        for args, code, words in [
            (["-o", str(locked / "o.png")], 1, ["in.png", "Permission denied"]),
            (["--out-dir", str(locked / "sub")], 2, ["cannot create --out-dir"]),
            (["--out-dir", str(locked)], 1, ["in.png", "Permission denied"]),
        ]:
            run = subprocess.run(
                [*prefix, CONVCLI, "filter", "in.png", "-k", "box:3", *args],
                preexec_fn=drop,
                env=env,
                cwd=base,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert run.returncode == code, run.stderr
            lines = run.stderr.splitlines()
            assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
            for word in words:
                assert word in lines[0], lines[0]
            assert os.listdir(locked) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_fifo_input_never_hangs(tmp_path, jobs):
    from PIL import Image

    os.mkfifo(tmp_path / "pipe.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "stack").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "stack" / "s1.png")
    os.mkfifo(tmp_path / "stack" / "s2.png")
    run = subprocess.run(
        [CONVCLI, "filter", "pipe.png", "ok.png", "stack", "-k", "box:3", "--out-dir", "out"]
        + ["-j", jobs],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    errors = [x for x in run.stderr.splitlines() if x.startswith("convcli: error:")]
    assert errors == [
        "convcli: error: pipe.png: is a FIFO (named pipe), not a regular file",
        "convcli: error: stack: slice s2.png is a FIFO (named pipe), not a regular file",
    ]
    assert os.listdir(tmp_path / "out") == ["ok.png"]
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe.png").st_mode)


def test_a_fifo_kernel_file_never_hangs(tmp_path):
    os.mkfifo(tmp_path / "k.txt")
    run = subprocess.run(
        [CONVCLI, "filter", "x.png", "-k", "@k.txt", "-o", "o.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "k.txt" in run.stderr and "not a regular file" in run.stderr


def test_info_never_hangs_on_special_files(tmp_path):
    os.mkfifo(tmp_path / "pipe.wav")
    run = subprocess.run(
        [CONVCLI, "info", "pipe.wav", "/dev/zero", "/dev/urandom"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "convcli: error: pipe.wav: is a FIFO (named pipe), not a regular file",
        "convcli: error: /dev/zero: is a character device, not a regular file",
        "convcli: error: /dev/urandom: is a character device, not a regular file",
    ]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
