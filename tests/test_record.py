"""``filter --record`` and ``convcli verify``: records that re-run bit for bit."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image
from test_cli_info_kernels import assert_one_error_line, invoke, ok

from convcli.kernels import make_kernel

RNG = np.random.default_rng(616)


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(RNG.integers(0, 256, (21, 18, 3), dtype=np.uint8)).save(path)
    return path


def test_record_holds_what_the_brief_lists(tmp_path, image):
    out = tmp_path / "out.png"
    ok(invoke("filter", image, "-k", "gaussian:1.5", "-k", "[1 2 1 2]/6", "--stride", "2",
              "-o", out, "--record"))  # fmt: skip
    rec = json.load(open(f"{out}.record.json"))
    assert rec["convcli_record"] == 1
    assert rec["command"] and rec["cwd"] == os.getcwd()
    assert {"convcli", "python", "numpy", "scipy", "pillow", "soundfile"} <= set(rec["versions"])
    k1 = make_kernel("gaussian:1.5", 2)
    assert rec["kernels"][0]["sha256"] == hashlib.sha256(k1.tobytes()).hexdigest()
    assert rec["kernels"][0]["values"] == k1.tolist()
    assert rec["kernels"][1]["shape"] == [1, 4]
    assert rec["geometry"]["methods"] and len(rec["geometry"]["pads"]) == 2
    assert rec["input"] == {"path": str(image), "sha256": sha(image)}
    assert rec["output"]["sha256"] == sha(out)
    assert rec["output"]["shape"] == list(np.asarray(Image.open(out)).shape)
    assert rec["options"]["stride"] == [2]


def test_verify_reproduces_and_notices_changes(tmp_path, image):
    out = tmp_path / "out.png"
    ok(invoke("filter", image, "-k", "sobel:axis=1", "--abs", "-o", out, "--record", "-q"))
    record = f"{out}.record.json"
    result = ok(invoke("verify", record))
    assert "reproduced bit for bit" in result.stdout
    # the output on disk replaced by another
    ok(invoke("filter", image, "-k", "box:3", "-o", out, "--overwrite"))
    assert "on disk is not the recorded output" in assert_one_error_line(
        invoke("verify", record), 1
    )
    # a record whose output hash does not match what the options give
    rec = json.load(open(record))
    rec["output"]["sha256"] = "0" * 64
    json.dump(rec, open(record, "w"))
    assert "not reproduced" in assert_one_error_line(invoke("verify", record), 1)
    # the input changed
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(image)
    assert "has changed" in assert_one_error_line(invoke("verify", record), 1)
    os.remove(image)
    assert "missing" in assert_one_error_line(invoke("verify", record), 1)


def test_a_changed_option_is_not_reproduced(tmp_path, image):
    out = tmp_path / "out.png"
    ok(invoke("filter", image, "-k", "gaussian:1", "-o", out, "--record"))
    record = f"{out}.record.json"
    rec = json.load(open(record))
    rec["options"]["bias"] = 1.0
    json.dump(rec, open(record, "w"))
    assert "not reproduced" in assert_one_error_line(invoke("verify", record), 1)


def test_compat_kernel_file_audio_and_npy(tmp_path):
    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, RNG.standard_normal((400, 2)) * 0.1, 8000, subtype="PCM_16")
    kfile = tmp_path / "k.npy"
    np.save(kfile, RNG.standard_normal(9))
    out = tmp_path / "b.wav"
    ok(invoke("filter", wav, "-k", kfile, "--compat", "scipy", "-o", out, "--record", "-q"))
    rec = json.load(open(f"{out}.record.json"))
    assert rec["options"]["compat"] == "scipy"
    assert rec["kernels"][0]["values"] == np.load(kfile).tolist()
    assert "reproduced bit for bit" in ok(invoke("verify", f"{out}.record.json")).stdout
    x = tmp_path / "x.npy"
    np.save(x, RNG.standard_normal((6, 7, 8)).astype(np.float32))
    y = tmp_path / "y.npy"
    ok(invoke("filter", x, "-k", "gaussian", "--rounding", "half-up", "-o", y, "--record"))
    assert "reproduced" in ok(invoke("verify", f"{y}.record.json")).stdout


def test_verify_from_elsewhere_uses_the_recorded_folder(tmp_path, image, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok(invoke("filter", "in.png", "-k", "box:3", "-o", "rel.png", "--record"))
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    assert "reproduced" in ok(invoke("verify", tmp_path / "rel.png.record.json")).stdout


def test_an_existing_record_is_not_replaced(tmp_path, image):
    out = tmp_path / "out.png"
    open(f"{out}.record.json", "w").write("{}")
    line = assert_one_error_line(invoke("filter", image, "-k", "box:3", "-o", out, "--record"), 1)
    assert "--overwrite" in line
    assert not out.exists()  # nothing written: the record was checked first
    ok(invoke("filter", image, "-k", "box:3", "-o", out, "--record", "--overwrite"))
    assert json.load(open(f"{out}.record.json"))["output"]["sha256"] == sha(out)


def test_no_record_without_the_flag_or_on_a_dry_run(tmp_path, image):
    ok(invoke("filter", image, "-k", "box:3", "-o", tmp_path / "a.png"))
    ok(invoke("filter", image, "-k", "box:3", "-o", tmp_path / "b.png", "--record", "--dry-run"))
    assert sorted(os.listdir(tmp_path)) == ["a.png", "in.png"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not json", "not a readable JSON record"),
        ("[]", "convcli_record is missing"),
        ('{"convcli_record": 9}', "record version 9"),
        ('{"convcli_record": 1, "options": {"kernels": []}}', "input is missing"),
        (
            '{"convcli_record": 1, "options": {"kernels": [], "colour": 1}, "kernels": [],'
            ' "input": {"path": "a", "sha256": "b"}, "output": {"path": "c", "sha256": "d"}}',
            "options this convcli does not know: colour",
        ),
    ],
)
def test_bad_records_exit_2(tmp_path, text, needle):
    path = tmp_path / "r.record.json"
    path.write_text(text)
    assert needle in assert_one_error_line(invoke("verify", path), 2)
    assert "no such record" in assert_one_error_line(invoke("verify", tmp_path / "no.json"), 2)


def test_folder_sha_is_names_and_contents(tmp_path):
    from convcli.jobs.provenance import file_sha256

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "s1.png").write_bytes(b"one")
    (tmp_path / "d" / "s2.png").write_bytes(b"two")
    want = hashlib.sha256(
        b"s1.png\0" + hashlib.sha256(b"one").hexdigest().encode() + b"\n"
        + b"s2.png\0" + hashlib.sha256(b"two").hexdigest().encode() + b"\n"
    ).hexdigest()  # fmt: skip
    assert file_sha256(str(tmp_path / "d")) == want
    (tmp_path / "d" / "s2.png").write_bytes(b"tw0")
    assert file_sha256(str(tmp_path / "d")) != want


@pytest.mark.parametrize(
    "args",
    [
        ("-k", "gaussian:1.5", "--normalized", "--pad-mode", "zero"),  # borders not darkened
        ("--transposed", "--stride", "2", "-a", "1", "-k", "bilinear:2"),
    ],
    ids=["normalized", "transposed"],
)
def test_verify_replays_the_operation_options(tmp_path, image, args):
    out = tmp_path / "out.png"
    ok(invoke("filter", image, *args, "-o", out, "--record", "-q"))
    assert "reproduced bit for bit" in ok(invoke("verify", f"{out}.record.json")).stdout
    # the same record without the operation's options gives other bytes: they mattered
    rec = json.load(open(f"{out}.record.json"))
    for name in ("normalized", "transposed", "output_padding"):
        rec["options"].pop(name, None)
    plain = tmp_path / "plain.record.json"
    plain.write_text(json.dumps(rec))
    assert "not reproduced" in assert_one_error_line(invoke("verify", plain), 1)


def test_verify_replays_impulse_response_and_series_options(tmp_path):
    import soundfile as sf

    rate = 8000
    dry = tmp_path / "dry.wav"
    sf.write(dry, RNG.uniform(-0.4, 0.4, (4000, 2)), rate, subtype="PCM_16")
    ir = tmp_path / "ir.wav"
    sf.write(ir, np.r_[np.zeros(40), RNG.uniform(-0.3, 0.3, 200)], rate, subtype="FLOAT")
    wet = tmp_path / "wet.wav"
    ok(invoke("filter", dry, "-k", ir, "--flip", "--padding", "full", "--mix", "0.4",
              "--trim-ir", "-o", wet, "--record", "-q"))  # fmt: skip
    assert "reproduced bit for bit" in ok(invoke("verify", f"{wet}.record.json")).stdout
    log = tmp_path / "log.csv"
    log.write_text("t,x,y\n0,1.5,2\n1,2.5,3\n2,3,4\n3,1,1\n4,0.5,2\n")
    out = tmp_path / "smooth.csv"
    ok(invoke("filter", log, "-k", "box:3", "--columns", "x", "-o", out, "--record", "-q"))
    assert "reproduced bit for bit" in ok(invoke("verify", f"{out}.record.json")).stdout
