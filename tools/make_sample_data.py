"""Generate the bundled sample data in ``sample_data/``.

Every file is synthesised by this script from fixed random seeds, using only
numpy, Pillow and soundfile: no third-party media and no downloads. Running it
twice gives byte-identical files (with the same library versions).

Files
-----
photo.png
    768x512 RGB test chart that looks like a simple landscape: a sky
    gradient, a soft-edged sun, rolling hills, hard-edged shapes (circle,
    rectangle, triangle), a soft-edged disc, a zone plate, 1 px stripes and
    a 1/2 px checkerboard, a patch of mild noise texture, a grey step wedge
    and text drawn with Pillow's built-in font. Useful for showing blur,
    sharpen and edge detection.
photo.jpg
    The same image saved as JPEG, quality 90.
gray16.png
    512x384 16-bit grey image (Pillow mode ``"I;16"``): a diagonal gradient
    over the full 0..65535 range, a few shapes, and low-amplitude detail
    (a staircase of 16-level steps, a faint +/-64 level grating) that an
    8-bit image cannot hold.
melody.wav
    4 s, 44100 Hz, stereo, PCM_16: a short synthesised melody (additive
    harmonics, ADSR envelope, the right channel slightly detuned and
    brighter) over a quiet bass line, plus low-level noise; peak -3 dBFS.
room_ir.wav
    0.5 s, 44100 Hz, mono, FLOAT: a synthetic room impulse response with a
    direct impulse, six early reflections and an exponentially decaying
    two-band noise tail (RT60 about 0.5 s); peak normalised to 1.0.
phantom/s1.png ... phantom/s32.png
    32 axial slices (96x96, 8-bit grey, unpadded names so natural sort
    order matters) of a 3-D Shepp-Logan-like phantom of ellipsoids, plus a
    small bright sphere and faint Gaussian noise.

Usage::

    python tools/make_sample_data.py [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SEED = 20240611
SR = 44100
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "sample_data"


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Return the Hermite smoothstep of ``x`` between ``edge0`` and ``edge1``."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _paste_colour(img: Image.Image, colour: tuple[int, int, int], mask: Image.Image) -> None:
    """Paint ``colour`` onto ``img`` through the 8-bit ``mask`` (in place)."""
    img.paste(Image.new("RGB", img.size, colour), (0, 0), mask)


def _save_png(img: Image.Image, path: Path) -> None:
    """Save ``img`` as an optimised PNG without any metadata."""
    img.save(path, format="PNG", optimize=True)


def _write_wav(path: Path, data: np.ndarray, sr: int, subtype: str) -> None:
    """Write a WAV file reproducibly.

    libsndfile adds a ``PEAK`` chunk to float WAV files that holds the current
    time; its timestamp is zeroed so that the output is byte-identical on
    every run.
    """
    buf = io.BytesIO()
    sf.write(buf, data, sr, subtype=subtype, format="WAV")
    raw = bytearray(buf.getvalue())
    pos = 12  # skip "RIFF" <size> "WAVE"
    while pos + 8 <= len(raw):
        chunk_id = bytes(raw[pos : pos + 4])
        (size,) = struct.unpack("<I", raw[pos + 4 : pos + 8])
        if chunk_id == b"PEAK":
            raw[pos + 12 : pos + 16] = b"\0\0\0\0"  # after the version field
        pos += 8 + size + (size & 1)
    path.write_bytes(bytes(raw))


# --------------------------------------------------------------------------- #
# photo.png / photo.jpg
# --------------------------------------------------------------------------- #
def make_photo(width: int = 768, height: int = 512) -> Image.Image:
    """Build the photo-like RGB test chart.

    Parameters
    ----------
    width, height : int
        Image size in pixels.

    Returns
    -------
    PIL.Image.Image
        An RGB image.
    """
    rng = np.random.default_rng(SEED + 1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)

    # Sky: deep blue at the top, pale near the horizon, warmer towards the sun.
    t = yy / (0.62 * height)
    top = np.array([28.0, 78.0, 168.0])
    horizon = np.array([205.0, 222.0, 238.0])
    sky = top + (horizon - top) * np.clip(t, 0, 1)[..., None] ** 0.8
    sun_x, sun_y, sun_r = 0.80 * width, 0.19 * height, 38.0
    d_sun = np.hypot(xx - sun_x, yy - sun_y)
    glow = np.exp(-((d_sun / 170.0) ** 2))[..., None]
    sky = sky + glow * (np.array([255.0, 236.0, 190.0]) - sky) * 0.55
    # Soft-edged sun disc.
    sun_a = (1.0 - _smoothstep(sun_r - 6.0, sun_r + 6.0, d_sun))[..., None]
    sky = sky + sun_a * (np.array([255.0, 244.0, 200.0]) - sky)

    # Rolling hills with a slightly soft (anti-aliased) skyline.
    ridge = (
        0.64 * height
        + 18.0 * np.sin(xx / width * 2.0 * np.pi * 1.3 + 0.4)
        + 9.0 * np.sin(xx / width * 2.0 * np.pi * 3.7 + 1.1)
    )
    far = _smoothstep(-1.0, 1.0, yy - ridge)[..., None]
    g = np.clip((yy - ridge) / (height - 0.6 * height), 0, 1)[..., None]
    ground = np.array([96.0, 150.0, 72.0]) + g * (np.array([46.0, 84.0, 38.0]) - [96, 150, 72])
    rgb = sky * (1.0 - far) + ground * far
    img = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)

    # Zone plate (fine detail; reaches the Nyquist frequency at its edge).
    zp = 168
    zy, zx = np.mgrid[0:zp, 0:zp].astype(np.float64) - (zp - 1) / 2.0
    k = np.pi * 0.5 / (zp / 2.0)
    zone = 0.5 + 0.5 * np.cos(k * (zx**2 + zy**2))
    zone_img = Image.fromarray(np.rint(30 + 200 * zone).astype(np.uint8)).convert("RGB")
    img.paste(zone_img, (16, 16))
    draw.rectangle((14, 14, 16 + zp + 1, 16 + zp + 1), outline=(20, 20, 20), width=2)

    # Stripes and checkerboards: 1 px vertical, 1 px horizontal, 1 px and 2 px checks.
    px, py, pw, ph = 200, 16, 64, 64
    draw.rectangle((px - 2, py - 2, px + 2 * pw + 7, py + 2 * ph + 7), fill=(128, 128, 128))
    sy, sx = np.mgrid[0:ph, 0:pw]
    panels = [
        (sx % 2) * 255,
        (sy % 2) * 255,
        ((sx + sy) % 2) * 255,
        (((sx // 2) + (sy // 2)) % 2) * 255,
    ]
    for i, p in enumerate(panels):
        ox = px + (i % 2) * (pw + 6)
        oy = py + (i // 2) * (ph + 6)
        img.paste(Image.fromarray(p.astype(np.uint8)).convert("RGB"), (ox, oy))
    draw.rectangle(
        (px - 2, py - 2, px + 2 * pw + 7, py + 2 * ph + 7), outline=(20, 20, 20), width=2
    )

    # Hard-edged shapes (no anti-aliasing).
    draw.ellipse((52, 356, 162, 466), fill=(214, 40, 40))
    draw.rectangle((196, 350, 316, 462), fill=(40, 70, 200))
    draw.polygon([(338, 466), (418, 330), (498, 466)], fill=(245, 150, 30))
    draw.line((52, 480, 498, 480), fill=(250, 250, 250), width=3)

    # Soft-edged disc (Gaussian-blurred mask).
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).ellipse((516, 352, 616, 452), fill=255)
    _paste_colour(img, (150, 60, 170), mask.filter(ImageFilter.GaussianBlur(7)))

    # Patch of mild noise texture: sandy gravel with a slightly blurred grain.
    tx, ty, tw, th = 636, 330, 116, 136
    grain = rng.normal(0.0, 1.0, size=(th, tw))
    coarse = np.asarray(
        Image.fromarray(np.clip(128 + 40 * grain, 0, 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(0.8)
        ),
        dtype=np.float64,
    )
    fine = rng.normal(0.0, 6.0, size=(th, tw))
    base = np.array([188.0, 164.0, 120.0])
    tex = base + ((coarse - 128.0) * 0.6 + fine)[..., None]
    img.paste(Image.fromarray(np.clip(np.rint(tex), 0, 255).astype(np.uint8)), (tx, ty))

    # Text with Pillow's built-in (FreeType) font.
    big = ImageFont.load_default(size=64)
    small = ImageFont.load_default(size=13)
    draw.text((364, 118), "convcli", font=big, fill=(255, 255, 255), stroke_width=2,
              stroke_fill=(20, 30, 60))  # fmt: skip
    draw.text((368, 196), "convolution test chart", font=ImageFont.load_default(size=20),
              fill=(20, 30, 60))  # fmt: skip

    # Bottom strip: small text and an 8-step grey wedge.
    draw.rectangle((0, height - 26, width - 1, height - 1), fill=(24, 24, 28))
    draw.text(
        (10, height - 20),
        "The quick brown fox jumps over the lazy dog. 0123456789 (){}[] +-*/=",
        font=small,
        fill=(235, 235, 235),
    )
    for i in range(8):
        v = round(i * 255 / 7)
        x0 = width - 8 * 26 - 8 + i * 26
        draw.rectangle((x0, height - 22, x0 + 25, height - 5), fill=(v, v, v))
    return img


# --------------------------------------------------------------------------- #
# gray16.png
# --------------------------------------------------------------------------- #
def make_gray16(width: int = 512, height: int = 384) -> Image.Image:
    """Build the 16-bit grey test image.

    Parameters
    ----------
    width, height : int
        Image size in pixels.

    Returns
    -------
    PIL.Image.Image
        A mode ``"I;16"`` image.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    # Diagonal gradient spanning exactly 0 .. 65535.
    grad = (xx + yy) / (width - 1 + height - 1)
    img = grad * 65535.0

    # Shapes.
    r = np.hypot(xx - 0.72 * width, yy - 0.30 * height)
    img = np.where(r < 60, 60000.0, img)  # bright disc
    img = np.where(r < 22, 4000.0, img)  # dark core
    box = (np.abs(xx - 0.24 * width) < 56) & (np.abs(yy - 0.62 * height) < 40)
    img = np.where(box, 20000.0, img)
    # Faint grating inside the box: +/-64 levels, invisible after 8-bit quantisation.
    img = np.where(box, img + 64.0 * np.sign(np.sin(xx * 2 * np.pi / 8.0)), img)

    # Staircase of 16-level steps (64 steps, 8 px each) in a band near the bottom.
    band = (yy >= height - 56) & (yy < height - 16)
    stairs = 30000.0 + 16.0 * np.floor(xx / 8.0)
    img = np.where(band, stairs, img)
    out = np.clip(np.rint(img), 0, 65535).astype(np.uint16)
    return Image.fromarray(out)


# --------------------------------------------------------------------------- #
# melody.wav
# --------------------------------------------------------------------------- #
def _adsr(n: int, sr: int, a: float, d: float, s: float, r: float, hold: int) -> np.ndarray:
    """Return an ADSR envelope of ``n`` samples; the release starts at ``hold``."""
    t = np.arange(n) / sr
    env = np.where(t < a, t / a, s + (1.0 - s) * np.exp(-(t - a) / d))
    t_rel = np.maximum(np.arange(n) - hold, 0) / sr
    env = env * np.where(np.arange(n) < hold, 1.0, np.exp(-t_rel / r))
    # Short cosine fade over the last 5 ms to end exactly at zero.
    fade = min(n, int(0.005 * sr))
    env[n - fade :] *= 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, fade))
    return env


def _tone(freq: float, dur: float, sr: int, partials: list[float], phase: float) -> np.ndarray:
    """Synthesise an additive tone with the given partial amplitudes."""
    tail = 0.25
    n = int(round((dur + tail) * sr))
    t = np.arange(n) / sr
    sig = np.zeros(n)
    for k, amp in enumerate(partials, start=1):
        if k * freq < 0.45 * sr:
            sig += amp * np.sin(2 * np.pi * k * freq * t + phase * k)
    env = _adsr(n, sr, a=0.012, d=0.09, s=0.55, r=0.07, hold=int(dur * sr))
    return sig * env


def make_melody(sr: int = SR, duration: float = 4.0) -> np.ndarray:
    """Synthesise the stereo melody.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    duration : float
        Length in seconds.

    Returns
    -------
    numpy.ndarray
        Float array of shape ``(n, 2)`` with peak at -3 dBFS.
    """
    rng = np.random.default_rng(SEED + 3)
    n = int(round(duration * sr))
    out = np.zeros((n, 2))
    beat = 0.125  # seconds per step (16th note at 120 bpm)
    # (MIDI note, start step, length in steps) -- a short phrase in A minor.
    melody = [
        (69, 0, 2), (72, 2, 1), (76, 3, 1), (74, 4, 2), (72, 6, 1), (71, 7, 1),
        (72, 8, 2), (69, 10, 2), (71, 12, 1), (72, 13, 1), (74, 14, 2), (76, 16, 4),
        (72, 20, 2), (71, 22, 2), (69, 24, 7),
    ]  # fmt: skip
    bass = [(45, 0, 8), (41, 8, 8), (43, 16, 8), (45, 24, 7)]
    left_partials = [1.0, 0.45, 0.25, 0.12, 0.06, 0.03]
    right_partials = [1.0, 0.55, 0.32, 0.18, 0.10, 0.05, 0.03]
    cents = 2.0 ** (3.0 / 1200.0)  # right channel detuned by +3 cents
    for notes, gain, pan in ((melody, 1.0, 0.15), (bass, 0.45, -0.2)):
        for midi, start, length in notes:
            f = 440.0 * 2.0 ** ((midi - 69) / 12.0)
            i0 = int(round(start * beat * sr))
            for ch, (partials, det) in enumerate(((left_partials, 1.0), (right_partials, cents))):
                tone = _tone(f * det, length * beat, sr, partials, phase=0.1 * ch)
                level = gain * (1.0 - pan if ch == 0 else 1.0 + pan)
                seg = tone[: n - i0]
                out[i0 : i0 + len(seg), ch] += level * seg
    out += rng.normal(0.0, 10 ** (-62 / 20.0), size=out.shape) * np.max(np.abs(out))
    # Fade in / out 10 ms to avoid clicks at the file boundaries.
    f = int(0.01 * sr)
    ramp = np.linspace(0.0, 1.0, f)[:, None]
    out[:f] *= ramp
    out[-f:] *= ramp[::-1]
    return out * (10 ** (-3 / 20.0) / np.max(np.abs(out)))


# --------------------------------------------------------------------------- #
# room_ir.wav
# --------------------------------------------------------------------------- #
def _fft_lowpass(x: np.ndarray, sr: int, cutoff: float) -> np.ndarray:
    """Zero-phase low-pass ``x`` with a smooth (Gaussian-shaped) FFT mask."""
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / sr)
    return np.fft.irfft(spec * np.exp(-0.5 * (freqs / cutoff) ** 2), n=len(x))


def make_room_ir(sr: int = SR, duration: float = 0.5, rt60: float = 0.5) -> np.ndarray:
    """Synthesise a mono room impulse response.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    duration : float
        Length in seconds.
    rt60 : float
        Broadband reverberation time (60 dB decay) in seconds.

    Returns
    -------
    numpy.ndarray
        1-D float32 array with peak exactly 1.0 (the direct sound).
    """
    rng = np.random.default_rng(SEED + 4)
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    ir = np.zeros(n)
    t_direct = 0.001
    ir[int(round(t_direct * sr))] = 1.0
    # Early reflections: (delay after direct in ms, gain); each slightly smeared.
    early = [(6.8, 0.58), (11.3, -0.47), (16.9, 0.40), (22.4, -0.33), (29.1, 0.29), (36.5, -0.24)]
    smear = np.array([0.25, 0.5, 0.25])
    for ms, gain in early:
        i = int(round((t_direct + ms / 1000.0) * sr))
        ir[i - 1 : i + 2] += gain * smear / smear.max()
    # Late tail: low band decays more slowly than the high band.
    onset = _smoothstep(0.012, 0.045, t)
    low = _fft_lowpass(rng.normal(size=n), sr, 2500.0)
    noise_hi = rng.normal(size=n)
    high = noise_hi - _fft_lowpass(noise_hi, sr, 2500.0)
    low /= np.std(low)
    high /= np.std(high)
    decay = 3.0 * np.log(10.0)  # 60 dB in amplitude = 10**-3
    env_low = np.exp(-decay * t / (1.02 * rt60))
    env_high = np.exp(-decay * t / (0.55 * rt60))
    tail = onset * (0.11 * low * env_low + 0.05 * high * env_high)
    ir += tail
    # Fade the last 20 ms to zero.
    f = int(0.02 * sr)
    ir[-f:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, f))
    ir /= np.max(np.abs(ir))
    return ir.astype(np.float32)


# --------------------------------------------------------------------------- #
# phantom/
# --------------------------------------------------------------------------- #
# Modified 3-D Shepp-Logan phantom (Toft / Kak & Slaney style):
# intensity, semi-axes (a, b, c), centre (x0, y0, z0), rotation about z (deg).
_ELLIPSOIDS = [
    (1.0, 0.690, 0.920, 0.810, 0.00, 0.000, 0.00, 0.0),
    (-0.8, 0.6624, 0.874, 0.780, 0.00, -0.0184, 0.00, 0.0),
    (-0.2, 0.110, 0.310, 0.220, 0.22, 0.000, 0.00, -18.0),
    (-0.2, 0.160, 0.410, 0.280, -0.22, 0.000, 0.00, 18.0),
    (0.1, 0.210, 0.250, 0.410, 0.00, 0.350, -0.15, 0.0),
    (0.1, 0.046, 0.046, 0.050, 0.00, 0.100, 0.25, 0.0),
    (0.1, 0.046, 0.046, 0.050, 0.00, -0.100, 0.25, 0.0),
    (0.1, 0.046, 0.023, 0.050, -0.08, -0.605, 0.00, 0.0),
    (0.1, 0.023, 0.023, 0.020, 0.00, -0.606, 0.00, 0.0),
    (0.1, 0.023, 0.046, 0.020, 0.06, -0.605, 0.00, 0.0),
]


def make_phantom(size: int = 96, n_slices: int = 32) -> np.ndarray:
    """Build the 3-D phantom volume.

    Parameters
    ----------
    size : int
        In-plane size of each slice (pixels).
    n_slices : int
        Number of slices along z.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(n_slices, size, size)``.
    """
    rng = np.random.default_rng(SEED + 5)
    z = np.linspace(-0.8, 0.8, n_slices)
    y = np.linspace(1.0, -1.0, size)  # image rows go downwards
    x = np.linspace(-1.0, 1.0, size)
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    vol = np.zeros_like(xx)
    for amp, a, b, c, x0, y0, z0, phi in _ELLIPSOIDS:
        p = np.deg2rad(phi)
        dx, dy, dz = xx - x0, yy - y0, zz - z0
        u = dx * np.cos(p) + dy * np.sin(p)
        v = -dx * np.sin(p) + dy * np.cos(p)
        vol += amp * (((u / a) ** 2 + (v / b) ** 2 + (dz / c) ** 2) <= 1.0)
    # Small bright sphere.
    sphere = (xx - 0.30) ** 2 + (yy + 0.35) ** 2 + (zz - 0.30) ** 2 <= 0.09**2
    vol = np.where(sphere, 1.2, vol)
    grey = 12.0 + 195.0 * vol + rng.normal(0.0, 1.5, size=vol.shape)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- #
# main
# --------------------------------------------------------------------------- #
def main(argv: list[str] | None = None) -> None:
    """Write all sample files into the output directory.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (defaults to ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    out: Path = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)

    photo = make_photo()
    _save_png(photo, out / "photo.png")
    photo.save(out / "photo.jpg", format="JPEG", quality=90, optimize=True)

    _save_png(make_gray16(), out / "gray16.png")

    _write_wav(out / "melody.wav", make_melody(), SR, "PCM_16")
    _write_wav(out / "room_ir.wav", make_room_ir(), SR, "FLOAT")

    phantom_dir = out / "phantom"
    phantom_dir.mkdir(exist_ok=True)
    for i, sl in enumerate(make_phantom(), start=1):
        _save_png(Image.fromarray(sl), phantom_dir / f"s{i}.png")


if __name__ == "__main__":
    main()
