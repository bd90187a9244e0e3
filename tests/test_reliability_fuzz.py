"""Mutated bytes of valid files into every loader: only convcli's own errors may come out.

Seeds are small valid files (PNG, JPEG, TIFF, GIF, BMP, WebP, PPM, WAV, FLAC, NPY, text
series in CSV, TSV and .dat, kernel text and JSON); hypothesis flips, overwrites, inserts,
deletes and truncates bytes, with a bias towards the header, and writes sizes of 0 or
2**32 - 1 where a header keeps them.  Every mutant goes through :func:`convcli.io.load` and
:func:`convcli.io.probe` (and, for kernel files, :func:`convcli.kernels.make_kernel`): it may
load, or raise a :class:`ConvcliError`; nothing else, and nothing that hangs (an alarm fails
the example after a few seconds).  A text series that loads is written back byte for byte.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcli.errors import ConvcliError

#: Examples per format; ``CONVCLI_FUZZ_EXAMPLES=2000 pytest tests/test_reliability_fuzz.py``
#: searches longer (and with a random seed).
EXAMPLES = int(os.environ.get("CONVCLI_FUZZ_EXAMPLES", "100"))


def _image(fmt: str, **kw: object) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    buf = io.BytesIO()
    frames = [Image.fromarray(arr), Image.fromarray(arr[::-1].copy())]
    if kw.pop("pages", False):
        frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], **kw)
    else:
        frames[0].save(buf, format=fmt, **kw)
    return buf.getvalue()


def _audio(fmt: str, subtype: str) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    data = np.random.default_rng(1).uniform(-0.5, 0.5, (100, 2))
    sf.write(buf, data, 8000, format=fmt, subtype=subtype)
    return buf.getvalue()


def _npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(2).normal(size=(4, 5)).astype(np.float32))
    return buf.getvalue()


SEEDS: dict[str, Callable[[], bytes]] = {
    "png": lambda: _image("PNG"),
    "jpg": lambda: _image("JPEG", quality=80),
    "tif": lambda: _image("TIFF", pages=True),
    "gif": lambda: _image("GIF", pages=True),
    "bmp": lambda: _image("BMP"),
    "webp": lambda: _image("WEBP", lossless=True),
    "ppm": lambda: _image("PPM"),
    "wav": lambda: _audio("WAV", "PCM_16"),
    "flac": lambda: _audio("FLAC", "PCM_16"),
    "npy": _npy,
    "csv": lambda: (
        b'# logger 7\ntime,x,y,note\n2024-01-01T00:00:00,1.50,-2.0,"a, b"\n'
        b"2024-01-01T00:00:01,,3.5E+00,c\n2024-01-01T00:00:02,2.25,NaN,\n"
    ),
    "tsv": lambda: b"t\tx\n0\t1,5\n1\t-2,25\n2\t3\n",
    "dat": lambda: b"#  t   x\n  0.0   1.250\n  0.5   2.500\n",
}
#: The seeds that are text series: what loads is written back byte for byte.
SERIES = ("csv", "tsv", "dat")
KERNEL_SEEDS: dict[str, bytes] = {
    "txt": b"# a 3x3 blur\n1 2 1\n2 4 2\n1 2 1\n",
    "csv": b"1,2,1\n2,4,2\n",
    "json": b'{"kernel": [[1, 2, 1], [2, 4, 2], [1, 2, 1]]}',
}

_EXTREMES = [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x01\x00\x00"]


@st.composite
def mutants(draw: st.DrawFn, seed: bytes) -> bytes:
    """A seed with 1 to 6 mutations, most of them in its first 64 bytes."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        size = len(data)
        pos = draw(st.one_of(st.integers(0, min(63, size - 1)), st.integers(0, size - 1)))
        op = draw(st.sampled_from(["flip", "byte", "extreme", "insert", "delete", "truncate"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif op == "extreme":
            value = draw(st.sampled_from(_EXTREMES))
            data[pos : pos + 4] = value
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:
            del data[pos:]
    return bytes(data)


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"a loader ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _only_convcli_errors(call: Callable[[], object]) -> None:
    try:
        with _deadline(10):
            call()
    except ConvcliError:
        pass


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="CONVCLI_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("ext", list(SEEDS))
@FUZZ
@given(data=st.data())
def test_mutated_files_raise_only_convcli_errors(folder, ext, data):
    from convcli import io

    seed = SEEDS[ext]()
    path = folder / f"mutant.{ext}"
    path.write_bytes(data.draw(mutants(seed)))
    _only_convcli_errors(lambda: io.probe(path))
    _only_convcli_errors(lambda: io.load(path))
    if ext in SERIES:
        _only_convcli_errors(lambda: _written_back(path, folder / f"back.{ext}"))
    if ext in ("tif", "gif", "npy"):
        _only_convcli_errors(lambda: io.load(path, "volume"))
    if ext in ("wav", "flac", "npy"):  # the same files as kernel files (impulse responses)
        from convcli.kernels import make_kernel

        _only_convcli_errors(lambda: make_kernel(f"@{path}", 1, rate=8000))


@pytest.mark.parametrize("ext", list(KERNEL_SEEDS))
@FUZZ
@given(data=st.data())
def test_mutated_kernel_files_raise_only_kernel_errors(folder, ext, data):
    from convcli.kernels import make_kernel

    path = folder / f"kernel.{ext}"
    path.write_bytes(data.draw(mutants(KERNEL_SEEDS[ext])))
    for ndim in (1, 2, 3):
        _only_convcli_errors(lambda ndim=ndim: make_kernel(f"@{path}", ndim))


@FUZZ
@given(text=st.text(max_size=200))
def test_any_text_as_a_kernel_file_raises_only_kernel_errors(folder, text):
    from convcli.kernels import make_kernel

    path = folder / "any.txt"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _only_convcli_errors(lambda: make_kernel(f"@{path}", 2))


def _written_back(path: Path, out: Path) -> None:
    """Load a text series and write it back unchanged: the same bytes."""
    from convcli import io

    out.unlink(missing_ok=True)
    signal = io.load(path)
    io.save(signal, out)
    assert out.read_bytes() == path.read_bytes()


@FUZZ
@given(text=st.text(st.characters(codec="utf-8"), max_size=200), ext=st.sampled_from(SERIES))
def test_any_text_as_a_series_raises_only_convcli_errors(folder, text, ext):
    path = folder / f"any.{ext}"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _only_convcli_errors(lambda: _written_back(path, folder / f"any-back.{ext}"))


def test_the_seeds_themselves_load(folder):
    """The mutations start from files that are valid."""
    from convcli import io
    from convcli.kernels import make_kernel

    for ext, make in SEEDS.items():
        path = folder / f"seed.{ext}"
        path.write_bytes(make())
        assert io.load(path).data.size > 0
    for ext, content in KERNEL_SEEDS.items():
        path = folder / f"seed-kernel.{ext}"
        path.write_bytes(content)
        assert make_kernel(f"@{path}", 2).size >= 3
