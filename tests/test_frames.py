"""Frame-wise teaching features (genre_lab.features.frames): librosa's numbers, the course's
settings, and the same log-mel as the networks' torch front end."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import pandas as pd
import torch

from conftest import write_tone
from genre_lab import config, features
from genre_lab.features.frontend import FeatureExtractor


def tone(seconds=3.0, sr=22050):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    return (0.4 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.normal(size=t.size)).astype(
        np.float32)


def test_defaults_are_the_course_settings():
    f = config.FEATURES
    assert (features.FRAME_LENGTH, features.HOP_LENGTH) == (f.n_fft, f.hop_length)
    y = tone()
    assert features.log_mel(y).shape == (f.n_mels, f.n_frames)
    assert features.mfcc(y).shape == (f.n_mfcc, f.n_frames)


def test_zcr_and_rms_are_librosas():
    y = tone()
    np.testing.assert_allclose(features.zero_crossing_rate(y),
                               librosa.feature.zero_crossing_rate(y=y)[0])
    np.testing.assert_allclose(features.rms(y, frame_length=1024, hop_length=256),
                               librosa.feature.rms(y=y, frame_length=1024, hop_length=256)[0])
    # by hand, on one frame in the middle: the share of sign changes
    frame = y[22050:22050 + 2048]
    by_hand = np.mean(np.abs(np.diff(np.signbit(frame).astype(int))))
    k = (22050 + 1024) // 512  # the centred frame that covers those samples
    assert abs(features.zero_crossing_rate(y)[k] - by_hand) < 2 / 2048


def test_teaching_log_mel_is_what_the_networks_see():
    # one idea, two implementations: librosa for teaching, torch for training
    settings = dataclasses.replace(config.get_profile("quick").features)
    y = tone(settings.segment_seconds)
    taught = features.log_mel(y, n_fft=settings.n_fft, hop_length=settings.hop_length,
                              n_mels=settings.n_mels)
    with torch.no_grad():
        logmel, mfcc = FeatureExtractor(settings)(torch.from_numpy(y[None]))
    np.testing.assert_allclose(logmel[0].numpy(), taught, atol=2e-3)
    np.testing.assert_allclose(mfcc[0].numpy(), features.mfcc(
        y, n_mfcc=settings.n_mfcc, n_fft=settings.n_fft, hop_length=settings.hop_length,
        n_mels=settings.n_mels), atol=2e-2)


def test_clip_summary_per_track(tmp_path):
    rows = []
    for i, (genre, freq) in enumerate([("blues", 200.0), ("metal", 3000.0)]):
        path = write_tone(tmp_path / f"{genre}.{i:05d}.wav", seconds=2.0, freq=freq)
        rows.append(dict(track_id=f"{genre}.{i:05d}", genre=genre, path=str(path)))
    summary = features.clip_summary(pd.DataFrame(rows))
    assert list(summary.track_id) == ["blues.00000", "metal.00001"]
    # a higher tone crosses zero more often
    assert summary.zcr_mean.iloc[1] > 5 * summary.zcr_mean.iloc[0]
    assert (summary[["zcr_std", "rms_mean", "rms_std"]] >= 0).all().all()
