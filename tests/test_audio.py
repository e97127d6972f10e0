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


def test_segment_shapes_and_tail():
    y = np.arange(int(7.5 * 22050), dtype=np.float32)
    seg = audio.segment(y, seconds=3.0)
    assert seg.shape == (2, 3 * 22050)
    assert seg[1, 0] == 3 * 22050  # second segment starts at 3 s
    overlap = audio.segment(y, seconds=3.0, hop_seconds=1.5)
    assert overlap.shape == (4, 3 * 22050)
    short = audio.segment(y[:100], seconds=3.0)
    assert short.shape == (1, 3 * 22050) and short[0, 100:].sum() == 0
    with pytest.raises(ValueError):
        audio.segment(y, seconds=0)


def test_load_segments_keeps_track_ids(tmp_path):
    a = write_tone(tmp_path / "blues.00000.wav", seconds=6.2)
    b = write_tone(tmp_path / "rock.00001.wav", seconds=9.0)
    segments, ids = audio.load_segments([a, b], seconds=3.0)
    assert segments.shape == (5, 3 * 22050)
    assert ids.tolist() == ["blues.00000"] * 2 + ["rock.00001"] * 3
    segments, ids = audio.load_segments([a, b], seconds=3.0, clip_seconds=6.0)
    assert ids.tolist() == ["blues.00000"] * 2 + ["rock.00001"] * 2
