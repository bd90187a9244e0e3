"""Batches on a real Dask cluster of worker processes on this machine (loopback only).

One cluster of two single-threaded worker processes serves the module (it takes a few
seconds to start); ``--scheduler local:2`` starts its own where the test is about the
process that owns the cluster (Ctrl-C).  What a user would find is checked: records, exit
status and stderr as a local run gives them, outputs equal byte for byte to ``--jobs 1``,
no temporary file, no worker left running a job.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from conftest import assert_one_error_line, invoke  # noqa: E402

CONVCLI = shutil.which("convcli")
RATE = 8000
TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}(\.tmp.*)?")
SLOW = ["-k", "k.npy", "--method", "direct", "-q"]  # a 4000-tap kernel: a job of ~0.1 s


def finished(folder: Path) -> list[str]:
    """The names of the outputs renamed into place (not the hidden temporary files)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def temporaries(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob(".*") if TEMPORARY.fullmatch(p.name))


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    ) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A mixed batch (PNG, WAV, .npy, a Zarr store) and 60 slow WAVs."""
    import soundfile as sf
    from PIL import Image

    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(root / f"p{i}.png")
    sf.write(root / "a.wav", rng.uniform(-0.5, 0.5, (4000, 2)), RATE, subtype="PCM_16")
    np.save(root / "v.npy", rng.normal(size=(6, 9, 7)).astype(np.float32))
    z = zarr.create_array(str(root / "s.zarr"), shape=(12, 10, 9), chunks=(4, 4, 4), dtype="u2")
    z[...] = rng.integers(0, 4000, (12, 10, 9))
    for i in range(60):
        sf.write(root / f"in{i:03d}.wav", rng.uniform(-0.5, 0.5, 40_000), RATE, subtype="PCM_16")
    np.save(root / "k.npy", rng.random(4000) / 4000)
    return root


MIXED = ["p0.png", "p1.png", "p2.png", "a.wav", "v.npy", "s.zarr", "missing.png"]


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def records(stdout: str, out: Path) -> list[dict]:
    """The JSON records but their seconds, each output relative to ``out``."""
    recs = []
    for line in stdout.splitlines():
        rec = json.loads(line)
        rec.pop("seconds")
        rec["output"] = os.path.relpath(rec["output"], out)
        recs.append(rec)
    return recs


def run_in(root: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([CONVCLI, *map(str, args)], cwd=root, capture_output=True, text=True)


@pytest.mark.parametrize(
    "command",
    [
        ["filter", *MIXED, "-k", "box:3", "-k", "[1 -1]"],
        ["features", *MIXED[:5], "-k", "sobel:axis=0", "-k", "box:3"],
    ],
    ids=["filter", "features"],
)
def test_a_batch_on_the_cluster_is_the_batch_of_jobs_1(inputs, tmp_path, cluster, command):
    """Same records (but the seconds), summary, exit status and bytes; relative paths."""
    local = run_in(inputs, *command, "--out-dir", tmp_path / "j1", "--json")
    remote = run_in(
        inputs, *command, "--out-dir", tmp_path / "dask", "--json",
        "--scheduler", cluster.scheduler_address,
    )  # fmt: skip
    assert remote.returncode == local.returncode == (1 if "missing.png" in command else 0)
    assert records(remote.stdout, tmp_path / "dask") == records(local.stdout, tmp_path / "j1")
    assert remote.stderr == local.stderr
    assert tree(tmp_path / "dask") == tree(tmp_path / "j1") and len(tree(tmp_path / "j1")) > 5
    assert temporaries(tmp_path) == []


def test_a_zarr_volume_on_the_cluster_spreads_its_chunks(inputs, tmp_path, cluster, client):
    args = ["filter", "s.zarr", "-k", "sobel:axis=0", "--pad-mode", "circular", "--stride", "2"]
    local = run_in(inputs, *args, "-o", tmp_path / "local.zarr", "--json")
    with distributed.get_task_stream(client) as ts:
        remote = run_in(
            inputs, *args, "-o", tmp_path / "dask.zarr", "--json",
            "--scheduler", cluster.scheduler_address,
        )  # fmt: skip
    assert remote.returncode == local.returncode == 0, remote.stderr
    assert records(remote.stdout, tmp_path / "dask.zarr") == records(
        local.stdout, tmp_path / "local.zarr"
    )
    assert tree(tmp_path / "dask.zarr") == tree(tmp_path / "local.zarr")
    blocks = [t for t in ts.data if "convcli-convolve" in str(t["key"])]
    assert len({t["worker"] for t in blocks}) == 2  # both workers computed blocks


def _executing(client) -> dict[str, list[str]]:
    def keys(dask_worker):
        return [str(ts.key) for ts in dask_worker.state.executing]

    return {w: k for w, k in client.run(keys).items() if any("convcli-job" in x for x in k)}


def test_a_worker_killed_mid_batch(inputs, tmp_path, cluster, client):
    """The killed worker's job runs again elsewhere: every output once, whole, correct."""
    names = [f"in{i:03d}.wav" for i in range(24)]
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [CONVCLI, "filter", *names, *SLOW, "--out-dir", out, "--json",
         "--scheduler", cluster.scheduler_address],
        cwd=inputs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    busy: dict[str, list[str]] = {}
    deadline = time.monotonic() + 60
    while not busy and proc.poll() is None and time.monotonic() < deadline:
        if finished(out):
            busy = _executing(client)
        time.sleep(0.01)
    assert busy, "no job found running"
    victim = next(iter(busy))
    os.kill(client.run(os.getpid)[victim], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    recs = records(stdout, out)
    assert [r["input"] for r in recs] == names and {r["status"] for r in recs} == {"ok"}
    reference = run_in(inputs, "filter", *names, *SLOW, "--out-dir", tmp_path / "ref")
    assert reference.returncode == 0
    assert tree(out) == tree(tmp_path / "ref")
    assert temporaries(tmp_path) == []
    client.wait_for_workers(2, timeout=30)  # the nanny has restarted it


def test_a_worker_that_dies_after_renaming_its_output(inputs, tmp_path, client):
    """Its job runs again and replaces its own output rather than fail on 'output exists'."""
    sys.path.insert(0, str(Path(__file__).parent))  # the workers import cluster_jobs as we do
    from cluster_jobs import die_after_writing_once

    from convcli.jobs.batch import Batch
    from convcli.jobs.dask_backend import DaskCluster
    from convcli.jobs.job import FilterOptions, Job

    names = ["p0.png", "p1.png", "a.wav"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "p1.png").write_bytes(b"there before the batch")
    protect = tuple(str(inputs / n) for n in names)
    jobs = [Job(str(inputs / n), str(out / n), protect) for n in names]
    batch = Batch(die_after_writing_once, jobs, FilterOptions(kernels=("box:3",)))
    recs = list(DaskCluster(client).run(batch))
    assert [r["status"] for r in recs] == ["ok", "error", "ok"], recs
    assert "exists" in recs[1]["error"]  # an output that was there is never replaced
    assert (out / "p1.png").read_bytes() == b"there before the batch"
    ref = invoke("filter", inputs / "p0.png", inputs / "a.wav", "-k", "box:3", "--out-dir",
                 tmp_path / "ref")  # fmt: skip
    assert ref.exit_code == 0
    for name in ("p0.png", "a.wav"):
        assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    assert temporaries(tmp_path) == []
    client.wait_for_workers(2, timeout=30)


def test_ctrl_c_cancels_stops_and_leaves_no_temporary_file(inputs, tmp_path, client, cluster):
    """SIGINT to convcli alone (the cluster's workers are elsewhere): the running jobs stop."""
    names = [f"in{i:03d}.wav" for i in range(60)]
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [CONVCLI, "filter", *names, *SLOW, "--out-dir", out,
         "--scheduler", cluster.scheduler_address],
        cwd=inputs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(finished(out)) < 3 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, stderr  # 130 in a shell
    assert stderr.splitlines()[-1] == "convcli: interrupted" and "Traceback" not in stderr
    assert temporaries(tmp_path) == []
    done = finished(out)
    assert 0 < len(done) < len(names)
    time.sleep(1.0)  # a job left running would write its output now
    assert finished(out) == done and temporaries(tmp_path) == []
    assert not any(_executing(client).values())
    ref = run_in(inputs, "filter", *done, *SLOW, "--out-dir", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    assert tree(out) == tree(tmp_path / "ref")


@pytest.mark.skipif(CONVCLI is None, reason="the convcli script is not installed")
def test_ctrl_c_at_a_terminal_with_a_local_cluster(inputs, tmp_path):
    """SIGINT to the whole process group: exit by SIGINT, one line, no process left."""
    names = [f"in{i:03d}.wav" for i in range(60)]
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [CONVCLI, "filter", *names, *SLOW, "--out-dir", out, "--scheduler", "local:2"],
        cwd=inputs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not finished(out) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, stderr
    assert stderr.splitlines() == ["convcli: interrupted"], stderr
    assert temporaries(tmp_path) == []
    assert _session_gone(proc.pid), "a worker outlived the run"
    done = finished(out)
    ref = run_in(inputs, "filter", *done, *SLOW, "--out-dir", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    assert tree(out) == tree(tmp_path / "ref")


def _session_gone(sid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                alive.append(entry)
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_an_unreachable_scheduler_is_one_line_before_anything_is_read(tmp_path, monkeypatch):
    from convcli.chunked import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    res = invoke("filter", tmp_path / "missing.png", "-k", "box:3", "--out-dir",
                 tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")  # fmt: skip
    line = assert_one_error_line(res, 1)
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in line
    assert os.listdir(tmp_path) == []  # not even --out-dir


def test_jobs_and_scheduler_together_is_a_usage_error(tmp_path):
    res = invoke("filter", tmp_path / "a.png", "-k", "box:3", "-o", tmp_path / "b.png",
                 "--scheduler", "local:2", "-j", "2")  # fmt: skip
    assert "give -j/--jobs or --scheduler, not both" in assert_one_error_line(res, 2)
    res = invoke("features", tmp_path / "a.png", "-k", "box:3", "-o", tmp_path / "b",
                 "--scheduler", "local:x")  # fmt: skip
    assert "local:N takes a positive worker count" in assert_one_error_line(res, 2)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
