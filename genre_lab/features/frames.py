"""Frame-wise audio features, computed with librosa (keyword arguments only).

Notebook: 01-waveforms (zero-crossing rate, RMS), 02-spectrograms onwards.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import FEATURES, SAMPLE_RATE

#: Frame and hop of the course's default features (2048 and 512 samples, librosa's own
#: defaults: 93 ms and 23 ms at 22050 Hz).
FRAME_LENGTH = FEATURES.n_fft
HOP_LENGTH = FEATURES.hop_length


def zero_crossing_rate(y, *, frame_length: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH,
                       center: bool = True):
    """Fraction of adjacent sample pairs in each frame whose signs differ.

    Notebook: 01-waveforms.

    Returns:
        1-D array, one value per frame (``librosa.feature.zero_crossing_rate``).
    """
    import librosa

    return librosa.feature.zero_crossing_rate(
        y=np.asarray(y), frame_length=frame_length, hop_length=hop_length, center=center)[0]


def rms(y, *, frame_length: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH,
        center: bool = True):
    """Root-mean-square energy of each frame (``librosa.feature.rms``).

    Notebook: 01-waveforms.
    """
    import librosa

    return librosa.feature.rms(
        y=np.asarray(y), frame_length=frame_length, hop_length=hop_length, center=center)[0]


def clip_summary(tracks: pd.DataFrame, *, frame_length: int = FRAME_LENGTH,
                 hop_length: int = HOP_LENGTH) -> pd.DataFrame:
    """Mean and spread of ZCR and RMS per clip, for per-genre distributions.

    Notebook: 01-waveforms.

    Args:
        tracks: a track table (``genre_lab.data.load_tracks()``).

    Returns:
        One row per track: track_id, genre, zcr_mean, zcr_std, rms_mean, rms_std.
    """
    from .. import audio

    rows = []
    for row in tracks.itertuples():
        y = audio.load(row.path)
        z = zero_crossing_rate(y, frame_length=frame_length, hop_length=hop_length)
        r = rms(y, frame_length=frame_length, hop_length=hop_length)
        rows.append(dict(track_id=row.track_id, genre=row.genre, zcr_mean=z.mean(),
                         zcr_std=z.std(), rms_mean=r.mean(), rms_std=r.std()))
    return pd.DataFrame(rows)


def stft_db(y, *, n_fft: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH, window: str = "hann"):
    """Magnitude STFT in dB relative to the loudest bin, (1 + n_fft // 2, frames).

    Notebook: 02-spectrograms.
    """
    import librosa

    S = np.abs(librosa.stft(y=np.asarray(y), n_fft=n_fft, hop_length=hop_length, window=window))
    return librosa.amplitude_to_db(S=S, ref=np.max)


def mel_power(y, *, sr: int = SAMPLE_RATE, n_fft: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH,
              n_mels: int = FEATURES.n_mels, window: str = "hann"):
    """Power mel spectrogram, (n_mels, frames) (``librosa.feature.melspectrogram``).

    Notebook: 02-spectrograms.
    """
    import librosa

    return librosa.feature.melspectrogram(y=np.asarray(y), sr=sr, n_fft=n_fft,
                                          hop_length=hop_length, n_mels=n_mels, window=window)


def log_mel(y, *, sr: int = SAMPLE_RATE, n_fft: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH,
            n_mels: int = FEATURES.n_mels, window: str = "hann", top_db: float | None = 80.0):
    """Log-mel spectrogram in dB (``power_to_db`` of :func:`mel_power`, ref 1.0), the input of
    the course's CNNs.

    Notebook: 02-spectrograms.
    """
    import librosa

    return librosa.power_to_db(S=mel_power(y, sr=sr, n_fft=n_fft, hop_length=hop_length,
                                           n_mels=n_mels, window=window), top_db=top_db)


def mfcc(y, *, sr: int = SAMPLE_RATE, n_mfcc: int = FEATURES.n_mfcc, n_fft: int = FRAME_LENGTH,
         hop_length: int = HOP_LENGTH, n_mels: int = FEATURES.n_mels):
    """MFCCs, (n_mfcc, frames): the DCT-II of the log-mel spectrogram (``librosa.feature.mfcc``).

    Notebook: 02-spectrograms.
    """
    import librosa

    return librosa.feature.mfcc(y=np.asarray(y), sr=sr, n_mfcc=n_mfcc, n_fft=n_fft,
                                hop_length=hop_length, n_mels=n_mels)


def chroma(y, *, sr: int = SAMPLE_RATE, n_fft: int = FRAME_LENGTH, hop_length: int = HOP_LENGTH):
    """Chromagram, energy per pitch class, (12, frames) (``librosa.feature.chroma_stft``).

    Notebook: 02-spectrograms.
    """
    import librosa

    return librosa.feature.chroma_stft(y=np.asarray(y), sr=sr, n_fft=n_fft,
                                       hop_length=hop_length)


def spectral_shape(y, *, sr: int = SAMPLE_RATE, n_fft: int = FRAME_LENGTH,
                   hop_length: int = HOP_LENGTH) -> dict:
    """Spectral centroid, bandwidth and 85% roll-off (Hz) per frame, from one STFT.

    Notebook: 02-spectrograms.
    """
    import librosa

    S = np.abs(librosa.stft(y=np.asarray(y), n_fft=n_fft, hop_length=hop_length))
    return dict(
        centroid=librosa.feature.spectral_centroid(S=S, sr=sr, n_fft=n_fft)[0],
        bandwidth=librosa.feature.spectral_bandwidth(S=S, sr=sr, n_fft=n_fft)[0],
        rolloff=librosa.feature.spectral_rolloff(S=S, sr=sr, n_fft=n_fft)[0],
    )
