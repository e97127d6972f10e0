"""Loading, resampling, fixing length and slicing into segments."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_tone
from genre_lab import audio


def test_load_resamples_and_mixes_to_mono(tmp_path):
    path = write_tone(tmp_path / "a.wav", seconds=2.0, sr=44100, channels=2, freq=440.0)
    y = audio.load(path)
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == 2 * 22050
    # the tone survives resampling: its spectrum peaks at 440 Hz
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 22050 / len(y) - 440) < 2


def test_load_offset_and_duration(tmp_path):
    path = write_tone(tmp_path / "a.wav", seconds=4.0)
    assert len(audio.load(path, offset=1.0, duration=2.0)) == 2 * 22050
    assert len(audio.load(path, offset=3.5)) == 22050 // 2


def test_fix_length_pads_and_crops():
    y = np.ones(10, dtype=np.float32)
    assert audio.fix_length(y, 4).tolist() == [1, 1, 1, 1]
    assert audio.fix_length(y, 12).tolist() == [1] * 10 + [0, 0]


def test_segment_rounds_to_whole_segments_or_keeps_whole_ones_only():
    sr = 22050
    y = np.arange(int(7.5 * sr), dtype=np.float32)
    seg = audio.segment(y, seconds=3.0)  # 2.5 segments round to 3: the tail is padded
    assert seg.shape == (3, 3 * sr)
    assert seg[1, 0] == 3 * sr and seg[2, 0] == 6 * sr  # consecutive, no overlap
    assert seg[2, int(1.5 * sr):].sum() == 0
    assert audio.segment(y[:int(7.4 * sr)], seconds=3.0).shape == (2, 3 * sr)  # 2.47: dropped
    whole = audio.segment(y, seconds=3.0, whole_only=True)  # Kaggle's slicing
    assert whole.shape == (2, 3 * sr)
    np.testing.assert_array_equal(whole, seg[:2])
    for whole_only in (False, True):  # shorter than a segment: one padded segment
        short = audio.segment(y[:100], seconds=3.0, whole_only=whole_only)
        assert short.shape == (1, 3 * sr) and short[0, 100:].sum() == 0
    # every GTZAN clip length (29.98-30.37 s) gives 10 segments
    for seconds in (29.98, 30.37):
        assert len(audio.segment(np.zeros(int(seconds * sr), np.float32), seconds=3.0)) == 10
    with pytest.raises(ValueError):
        audio.segment(y, seconds=0)
    with pytest.raises(ValueError, match="1-D"):
        audio.segment(np.zeros((2, 100), np.float32), seconds=3.0)
