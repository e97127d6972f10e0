"""Every augmentation on one scale: strength 0 (off) to 1 (the strongest the course shows).

Notebook: 06-augmentation (through ``genre_lab.widgets.augmentation_explorer``).
"""

from __future__ import annotations

import math

from .batch import SpecAugment
from .waveform import (
    Gain,
    GaussianNoise,
    PitchShift,
    TimeShift,
    TimeStretch,
)

#: What the explorer's strength slider (0 to 1) means for each augmentation; 0 is "off".
STRENGTHS = {
    "noise": ("SNR", "dB", lambda s: math.inf if s == 0 else 40.0 * (1 - s)),
    "pitch shift": ("shift", "semitones", lambda s: 6.0 * s),
    "time stretch": ("rate", "x", lambda s: 2.0 ** s),
    "gain": ("gain", "dB", lambda s: -24.0 * s),
    "time shift": ("shift", "s", lambda s: 1.5 * s),
    "SpecAugment": ("mask width", "rows/frames", lambda s: s / 2),
}


def at_strength(name: str, strength: float, shape=None):
    """The augmentation ``name`` (a key of :data:`STRENGTHS`) at ``strength``, and a text
    saying what that is; SpecAugment needs the spectrogram's ``shape`` (rows, frames)."""
    label, unit, to_value = STRENGTHS[name]
    value = to_value(strength)
    text = f"{label} {value:.3g} {unit}"
    if name == "noise":
        return GaussianNoise(snr_db=value), text
    if name == "pitch shift":
        return PitchShift(steps=value), f"{label} {value:+.2f} {unit}"
    if name == "time stretch":
        return TimeStretch(rate=value), text
    if name == "gain":
        return Gain(db=value), text
    if name == "time shift":
        return TimeShift(seconds=value), text
    rows, frames = shape
    widths = (int(round(value * rows)), int(round(value * frames)))
    return (SpecAugment(freq_width=(widths[0],) * 2, time_width=(widths[1],) * 2),
            f"{label} {widths[0]} rows, {widths[1]} frames")
