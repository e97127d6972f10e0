"""Waveform transforms: seeded callables ``transform(y, rng)``, composable.

Notebook: 06-augmentation.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..config import SAMPLE_RATE


def _span(value, name: str) -> tuple[float, float]:
    # A fixed value or a (low, high) range, as a tuple of two floats.
    if np.ndim(value) == 0:
        low = high = float(value)
    else:
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}")
        low, high = (float(v) for v in value)
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"{name}: want low <= high, got {value!r}")
    return low, high


def _uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    low, high = span
    return low if low == high else float(rng.uniform(low, high))


def _fix(y: np.ndarray, n: int, pad: str) -> np.ndarray:
    # Crop (keep the start) or pad to n samples: with zeros, or by repeating the signal.
    if len(y) >= n:
        return y[:n]
    if pad == "wrap" and len(y):
        return np.resize(y, n)  # tiles y
    return np.pad(y, (0, n - len(y)))


class Transform:
    """A seeded waveform augmentation: ``transform(y, rng) -> y'``.

    A subclass is a frozen dataclass whose fields are its parameters; it defines
    ``sample(rng)`` (the random choices of one call, as a dict) and ``apply(y, **choices)``
    (the deterministic part). ``key`` names the class and its parameters, for cache keys.

    Notebook: 06-augmentation.
    """

    def sample(self, rng: np.random.Generator) -> dict:
        """The random choices of one call (e.g. ``{"n_steps": 1.3}``)."""
        return {}

    def apply(self, y: np.ndarray, **choices) -> np.ndarray:
        """Apply the transform with the given choices (deterministic)."""
        raise NotImplementedError

    def __call__(self, y, rng=None) -> np.ndarray:
        """Augment the mono signal ``y`` with choices drawn from ``rng`` (a
        ``np.random.Generator`` or a seed); returns a new float32 array."""
        rng = np.random.default_rng(rng)
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ValueError(f"want a mono 1-D signal, got shape {y.shape}")
        return np.asarray(self.apply(y, **self.sample(rng)), dtype=np.float32)

    @property
    def key(self) -> str:
        """A stable text naming the transform and its parameters (for cache keys)."""
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}"
                         for f in dataclasses.fields(self))
        return f"{type(self).__name__}({args})"


@dataclass(frozen=True)
class Identity(Transform):
    """No change: a "duplicate the training set" control for the copy-based augmentations.

    Notebook: 06-augmentation.
    """

    def apply(self, y, **choices):
        return y.copy()


@dataclass(frozen=True)
class GaussianNoise(Transform):
    """Add white Gaussian noise at a signal-to-noise ratio drawn from ``snr_db``.

    Notebook: 06-augmentation.

    The noise is scaled to the clip's own power, so the SNR is exact whatever the clip's
    level (Kiefer, Li & Mak and Garcia Martin added noise of a fixed amplitude, 0.001 and
    0.005, which drowns a quiet clip and leaves a loud one untouched). A silent clip stays silent.

    Args:
        snr_db: SNR in dB, a number or a (low, high) range drawn uniformly; ``inf`` adds
            nothing.
    """

    snr_db: float | tuple[float, float] = (15.0, 35.0)

    def __post_init__(self):
        object.__setattr__(self, "snr_db", _span(self.snr_db, "snr_db"))

    def sample(self, rng):
        return dict(snr_db=_uniform(rng, self.snr_db), seed=int(rng.integers(2**63)))

    def apply(self, y, *, snr_db, seed=0):
        power = float(np.mean(np.square(y, dtype=np.float64)))
        if power == 0.0 or math.isinf(snr_db):
            return y.copy()
        noise = np.random.default_rng(seed).standard_normal(len(y))
        noise *= math.sqrt(power / 10 ** (snr_db / 10) / np.mean(noise**2))
        return (y + noise).astype(np.float32)


@dataclass(frozen=True)
class PitchShift(Transform):
    """Shift the pitch by ``steps`` semitones, keeping the duration
    (``librosa.effects.pitch_shift``: a phase-vocoder time stretch, then resampling).

    Notebook: 06-augmentation.

    Args:
        steps: semitones, a number or a (low, high) range drawn uniformly; 0 returns the
            input unchanged.
        sr: sample rate of the signals.
        bins_per_octave: steps per octave (12: semitones).
    """

    steps: float | tuple[float, float] = (-2.0, 2.0)
    sr: int = SAMPLE_RATE
    bins_per_octave: int = 12

    def __post_init__(self):
        object.__setattr__(self, "steps", _span(self.steps, "steps"))

    def sample(self, rng):
        return dict(n_steps=_uniform(rng, self.steps))

    def apply(self, y, *, n_steps):
        if n_steps == 0:
            return y.copy()
        import librosa

        out = librosa.effects.pitch_shift(y=y, sr=self.sr, n_steps=n_steps,
                                          bins_per_octave=self.bins_per_octave)
        return _fix(out, len(y), "zero")  # librosa keeps the length; make sure


@dataclass(frozen=True)
class TimeStretch(Transform):
    """Play faster (``rate`` > 1) or slower, keeping the pitch
    (``librosa.effects.time_stretch``), then crop or pad back to the input's length.

    Notebook: 06-augmentation.

    A slowed-down clip is cropped (its end is lost); a sped-up one is padded by repeating
    it from the start (``pad="wrap"``: no silent tail for the network to learn from) or
    with zeros (``pad="zero"``).

    Args:
        rate: speed factor, a number or a (low, high) range drawn log-uniformly (so 0.8
            and 1.25 are equally likely); 1 returns the input unchanged.
        pad: ``"wrap"`` or ``"zero"``.
    """

    rate: float | tuple[float, float] = (0.8, 1.25)
    pad: str = "wrap"

    def __post_init__(self):
        object.__setattr__(self, "rate", _span(self.rate, "rate"))
        if self.rate[0] <= 0:
            raise ValueError(f"rate must be positive, got {self.rate}")
        if self.pad not in ("wrap", "zero"):
            raise ValueError(f"pad must be 'wrap' or 'zero', got {self.pad!r}")

    def sample(self, rng):
        low, high = self.rate
        return dict(rate=math.exp(_uniform(rng, (math.log(low), math.log(high)))))

    def apply(self, y, *, rate):
        if rate == 1:
            return y.copy()
        import librosa

        return _fix(librosa.effects.time_stretch(y=y, rate=rate), len(y), self.pad)


@dataclass(frozen=True)
class Gain(Transform):
    """Scale the level by ``db`` decibels (no clipping: the signals are float).

    Notebook: 06-augmentation.

    On a log-mel spectrogram in dB this adds ``db`` to every pixel above the floor.

    Args:
        db: gain in dB, a number or a (low, high) range drawn uniformly.
    """

    db: float | tuple[float, float] = (-6.0, 6.0)

    def __post_init__(self):
        object.__setattr__(self, "db", _span(self.db, "db"))

    def sample(self, rng):
        return dict(db=_uniform(rng, self.db))

    def apply(self, y, *, db):
        return (y * np.float32(10 ** (db / 20))).astype(np.float32)


@dataclass(frozen=True)
class TimeShift(Transform):
    """Shift the signal in time by ``seconds`` (positive: later).

    Notebook: 06-augmentation.

    ``mode="circular"`` rotates it (what falls off one end comes back at the other: the
    segments are then cut at other places of the same music); ``mode="zero"`` fills the
    gap with silence.

    Args:
        seconds: shift, a number or a (low, high) range drawn uniformly.
        mode: ``"circular"`` or ``"zero"``.
        sr: sample rate of the signals.
    """

    seconds: float | tuple[float, float] = (-1.5, 1.5)
    mode: str = "circular"
    sr: int = SAMPLE_RATE

    def __post_init__(self):
        object.__setattr__(self, "seconds", _span(self.seconds, "seconds"))
        if self.mode not in ("circular", "zero"):
            raise ValueError(f"mode must be 'circular' or 'zero', got {self.mode!r}")

    def sample(self, rng):
        return dict(shift=int(round(_uniform(rng, self.seconds) * self.sr)))

    def apply(self, y, *, shift):
        if self.mode == "circular":
            return np.roll(y, shift)
        out = np.zeros_like(y)
        if shift >= 0:
            out[shift:] = y[:len(y) - shift]
        else:
            out[:shift] = y[-shift:]
        return out


@dataclass(frozen=True)
class RandomCrop(Transform):
    """A random excerpt of ``seconds`` (Garcia Martin's slicing, at a random place); a shorter
    signal is zero-padded at the end. The output has ``round(seconds * sr)`` samples.

    Notebook: 06-augmentation.

    Args:
        seconds: excerpt length.
        sr: sample rate of the signals.
    """

    seconds: float = 3.0
    sr: int = SAMPLE_RATE

    def __post_init__(self):
        if self.seconds <= 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")

    def sample(self, rng):
        return dict(fraction=float(rng.uniform()))

    def apply(self, y, *, fraction):
        n = int(round(self.seconds * self.sr))
        start = int(fraction * (max(len(y) - n, 0) + 1))
        return _fix(y[start:start + n], n, "zero")


@dataclass(frozen=True)
class Compose(Transform):
    """Apply transforms one after the other, all drawing from the same generator.

    Notebook: 06-augmentation.

    Example:
        >>> stack = Compose([PitchShift(steps=(-2, 2)), GaussianNoise(snr_db=20)])
        >>> y2 = stack(y, np.random.default_rng(0))
    """

    transforms: tuple = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "transforms", tuple(self.transforms))
        for t in self.transforms:
            if not isinstance(t, Transform):
                raise TypeError(f"Compose takes Transform objects, got {t!r}")

    def sample(self, rng):
        return dict(choices=[t.sample(rng) for t in self.transforms])

    def apply(self, y, *, choices):
        for t, c in zip(self.transforms, choices, strict=True):
            y = np.asarray(t.apply(y, **c), dtype=np.float32)
        return y

    @property
    def key(self) -> str:
        return f"Compose([{', '.join(t.key for t in self.transforms)}])"
