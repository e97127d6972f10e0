"""An ipywidgets explorer: hear and see each augmentation at a chosen strength.

Notebook: 06-augmentation.
"""

from __future__ import annotations

import math

import numpy as np

from .. import audio
from ..config import SAMPLE_RATE
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


def _at_strength(name: str, strength: float, shape=None):
    # The transform of `name` at a fixed strength, and a text saying what that is.
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


def augmentation_explorer(y, *, sr: int = SAMPLE_RATE, n_mels: int = 64, n_fft: int = 2048,
                          hop_length: int = 1024, seconds: float = 3.0,
                          audio_player: bool = True):
    """Pick an augmentation and its strength; see the log-mel spectrogram of a clip before
    and after, and hear the result.

    Notebook: 06-augmentation.

    The strength slider runs from 0 (off) to 1 (the strongest setting, see ``STRENGTHS``:
    40 dB to 0 dB SNR, 0 to +6 semitones, rate 1 to 2, 0 to -24 dB, 0 to 1.5 s, masks
    of 0 to half the rows and frames).

    Args:
        y: a mono signal (the first ``seconds`` are used).
        sr, n_mels, n_fft, hop_length, seconds: the log-mel parameters (a Dataset's
            ``feature_params``).
        audio_player: also display an ``IPython.display.Audio`` player of the result.

    Returns:
        A ``widgets.Explorer``; its callback returns the figure, the augmented signal and
        spectrogram, and the text describing the setting.
    """
    import ipywidgets
    import torch
    from matplotlib.figure import Figure

    from .. import plots
    from ..segments import signal_features
    from ..widgets import Explorer

    clip = audio.fix_length(np.asarray(y, dtype=np.float32), int(round(seconds * sr)))
    params = dict(seconds=seconds, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length)
    before = signal_features(clip, **params)["logmel"][0]

    def draw(augmentation, strength, seed):
        transform, text = _at_strength(augmentation, strength, before.shape)
        if isinstance(transform, SpecAugment):  # acts on the spectrogram itself
            z = clip
            generator = torch.Generator().manual_seed(seed)
            after = transform([torch.from_numpy(before[None])], generator)[0][0].numpy()
        else:
            z = transform(clip, np.random.default_rng(seed))
            after = signal_features(z, **params)["logmel"][0]
        fig = Figure(figsize=(11, 3), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        vmin, vmax = float(min(before.min(), after.min())), float(max(before.max(), after.max()))
        plots.spectrogram(before, sr=sr, hop_length=hop_length, y_axis="mel", ax=axes[0],
                          title="original", colorbar=False, vmin=vmin, vmax=vmax)
        plots.spectrogram(after, sr=sr, hop_length=hop_length, y_axis="mel", ax=axes[1],
                          title=f"{augmentation}: {text}", vmin=vmin, vmax=vmax)
        axes[1].set(ylabel=None)
        player = None
        if audio_player:
            from IPython.display import Audio, display

            player = Audio(data=np.clip(z, -1, 1), rate=sr, normalize=False)  # level audible
            display(player)
        return dict(figure=fig, signal=z, logmel=after, setting=text, audio=player)

    controls = dict(
        augmentation=ipywidgets.Dropdown(options=list(STRENGTHS), value="pitch shift",
                                         description="augment"),
        strength=ipywidgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                        description="strength"),
        seed=ipywidgets.IntSlider(value=0, min=0, max=9, description="seed"),
    )
    return Explorer(draw, controls)
