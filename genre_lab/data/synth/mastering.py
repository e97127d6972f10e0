"""The mastering chain: room reverb, noise floor, production EQ, swells, loudness and limiter."""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from .dsp import _filter, _sos


def _master(x: np.ndarray, p: dict, rng: np.random.Generator, sr: int, start: int, n: int,
            bar_s: float) -> np.ndarray:
    """Master the mix ``x`` (in place where it can): the clip is ``x[start : start + n]``.

    ``p`` holds the clip's parameters, ``bar_s`` is the length of a bar in seconds.
    """
    if p["reverb"] > 0:
        x += np.float32(p["reverb"] * 1.5) * _room(x, p["room"], rng, sr)
    # Noise floor relative to the music; it goes through the production EQ with it.
    rms = math.sqrt(float(np.dot(x, x)) / x.size) + 1e-12
    noise = _noise(p["noise_kind"], x.size, rng, sr)
    x += np.float32(rms * 10 ** (p["noise_db"] / 20)) * noise
    # Production EQ in one pass: tilt around 1 kHz, low-pass (brightness), no DC.
    eq = _master_eq(p["tilt_db"], p["brightness"], sr)
    eq = np.vstack([eq, _peaking(p["eq1_hz"], p["eq1_db"], sr),
                    _peaking(p["eq2_hz"], p["eq2_db"], sr)])
    x = _filter(eq, x)
    # Slow swells: crescendos and decrescendos over a few bars (gain steps of 256 samples).
    if p["dynamics"] > 0:
        q, blk = int(2 * bar_s * sr), 256
        pts = 1.0 - p["dynamics"] * rng.random(x.size // q + 2)
        m = x.size // blk
        curve = np.interp(np.arange(m) * blk, np.arange(pts.size) * q, pts)
        x[: m * blk].reshape(m, blk)[:] *= curve[:, None].astype(np.float32)
        x[m * blk :] *= np.float32(curve[-1])
    # Loudness: scale to the target RMS and limit the peaks, twice (limiting lowers RMS).
    target = p["loudness"]
    for _ in range(2):
        clip = x[start:]
        x *= np.float32(target / (math.sqrt(float(np.dot(clip, clip)) / clip.size) + 1e-12))
        x = _limit(x, 0.97, sr)
    # Fades of 10 ms at both ends of the clip (no click where the excerpt is cut).
    nf = int(0.01 * sr)
    x[start : start + nf] *= np.linspace(0.0, 1.0, nf)
    end = start + n
    x[end - nf : end] *= np.linspace(1.0, 0.0, nf)
    return x


def _room(x: np.ndarray, seconds: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Reverb tail: ``x`` convolved with exponentially decaying noise, at a quarter of the rate.

    Tails are dark anyway, so the convolution runs on a 4x decimated signal (16x cheaper) and
    the result is linearly interpolated back to the full rate.
    """
    q = 4
    m = x.size // q
    xs = x[: m * q].reshape(m, q).mean(axis=1)
    n_ir = int(seconds * sr / q)
    t = np.arange(n_ir) * (q / sr)
    ir = ((rng.random(n_ir) - 0.5) * np.exp(-6.91 * t / seconds)).astype(np.float32)
    ir[: int(0.012 * sr / q)] = 0.0  # pre-delay
    ir /= math.sqrt(float(np.sum(ir**2)))
    wet = signal.fftconvolve(xs, ir)[:m]
    return _upsample(wet, q, x.size)


def _upsample(v: np.ndarray, q: int, n: int) -> np.ndarray:
    """Linear interpolation of ``v`` (one value every ``q`` samples) to ``n`` samples."""
    w = (np.arange(q) / q).astype(v.dtype)
    v = np.r_[v, v[-1]]
    out = (v[:-1, None] * (1.0 - w) + v[1:, None] * w).ravel()
    if out.size < n:
        out = np.r_[out, np.full(n - out.size, v[-1])]
    return out[:n]


def _master_eq(tilt_db: float, brightness: float, sr: int) -> np.ndarray:
    """Second-order sections of the master EQ: tilt shelf, low-pass, 30 Hz high-pass."""
    # Tilt: a first-order shelf, gain g**-0.5 below ~1 kHz and g**0.5 above; g spans 3 octaves.
    g = 10 ** (tilt_db * 3 / 20)
    s = math.sqrt(g)
    b, a = signal.butter(1, 1000.0 / (0.5 * sr))
    c = 1 / s - s
    shelf = np.array([[s * a[0] + c * b[0], s * a[1] + c * b[1], 0.0, a[0], a[1], 0.0]])
    return np.vstack([shelf, _sos("lowpass", brightness, sr, 2), _sos("highpass", 30.0, sr, 2)])


def _peaking(hz: float, gain_db: float, sr: int, q: float = 1.0) -> np.ndarray:
    """One second-order section of a peaking EQ (the usual audio-EQ biquad)."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * min(hz, 0.45 * sr) / sr
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    b = np.array([1 + alpha * a, -2 * cos, 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * cos, 1 - alpha / a])
    return np.r_[b / den[0], den / den[0]][None, :]


def _noise(kind: str, n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Unit-RMS background noise: ``hiss``/``tape`` (white; the EQ colours it) or ``vinyl``
    (white plus sparse crackle)."""
    y = (rng.random(n, dtype=np.float32) - np.float32(0.5)) * np.float32(math.sqrt(12.0))
    if kind == "vinyl":
        count = int(rng.poisson(8.0 * n / sr))
        y[rng.integers(0, n, count)] += rng.standard_normal(count) * 40.0
    elif kind not in ("hiss", "tape"):
        raise ValueError(f"unknown noise kind {kind!r}")
    return y


def _limit(x: np.ndarray, threshold: float, sr: int) -> np.ndarray:
    """A look-ahead peak limiter: afterwards ``max(abs(x)) <= threshold``.

    The gain is set at the edges of blocks of 64 samples (~3 ms) from the loudest sample on
    either side, then interpolated linearly inside each block: a sample's gain is never above
    what its own block needs, so no sample exceeds the threshold, and the gain moves smoothly.
    """
    if np.max(np.abs(x)) <= threshold:
        return x
    q = 64
    m = -(-x.size // q)
    padded = np.zeros(m * q, dtype=x.dtype)
    padded[: x.size] = np.abs(x)
    peaks = padded.reshape(m, q).max(axis=1)
    # Gain at each block boundary: safe for the blocks on both sides of it.
    edges = np.maximum(np.r_[0.0, peaks], np.r_[peaks, 0.0])
    gain = np.minimum(1.0, threshold / np.maximum(edges, 1e-12))
    w = (np.arange(q) / q).astype(x.dtype)
    gain = gain.astype(x.dtype)
    gain = (gain[:-1, None] * (1.0 - w) + gain[1:, None] * w).ravel()[: x.size]
    return x * gain
