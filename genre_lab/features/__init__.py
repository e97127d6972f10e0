"""Everything that turns audio into numbers, in one place.

* :mod:`~genre_lab.features.frames`: frame-wise features through librosa, for teaching
  (zero-crossing rate, RMS, STFT, mel, MFCC, chroma, spectral shape); chapters 1-2.
* :mod:`~genre_lab.features.table`: the Kaggle GTZAN feature table (57 clip summaries);
  chapter 3.
* :mod:`~genre_lab.features.frontend`: the torch front end (batched mel spectrogram, dB,
  MFCC) that matches librosa; what the networks see.
* :mod:`~genre_lab.features.segments`: every track cut into segments (the one rule,
  :func:`genre_lab.audio.segment`) as log-mel and MFCC arrays, kept in the store;
  chapters 4-8.

Every setting (sample rate, segment length, n_fft, hop, mel bands, MFCCs) comes from one
:class:`genre_lab.config.FeatureSettings`. The frame-wise teaching functions are also
available here directly (``features.zero_crossing_rate``); the others by module, so that
importing this package does not import torch.
"""

from .frames import (
    FRAME_LENGTH,
    HOP_LENGTH,
    chroma,
    clip_summary,
    log_mel,
    mel_power,
    mfcc,
    rms,
    spectral_shape,
    stft_db,
    zero_crossing_rate,
)

__all__ = ["FRAME_LENGTH", "HOP_LENGTH", "chroma", "clip_summary", "log_mel", "mel_power",
           "mfcc", "rms", "spectral_shape", "stft_db", "zero_crossing_rate"]
