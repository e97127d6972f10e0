"""Loading, resampling, fixing length and slicing into segments."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

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


# --- bad files: one AudioError naming the file and the reason ----------------------------


def _one_line_error(path, call, reason):
    """``call(path)`` raises an AudioError whose one-line message names the file and reason."""
    with pytest.raises(audio.AudioError) as info:
        call(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and reason in message, message
    return message


def test_a_folder_is_an_audio_error(tmp_path):
    _one_line_error(tmp_path, audio.load, "a folder, not an audio file")
    _one_line_error(tmp_path, lambda p: next(audio.stream(p)), "a folder, not an audio file")
    with pytest.raises(FileNotFoundError, match="no such audio file"):
        audio.load(tmp_path / "missing.wav")


@pytest.mark.parametrize("err", [PermissionError(13, "Permission denied"),
                                 OSError(5, "Input/output error")])
def test_a_file_that_cannot_be_opened_is_an_audio_error(tmp_path, monkeypatch, err):
    path = write_tone(tmp_path / "a.wav", seconds=1.0)

    def refuse(*args, **kwargs):  # tests run as root: simulate what chmod 000 gives a user
        raise err

    monkeypatch.setattr(audio, "open", refuse, raising=False)
    _one_line_error(path, audio.load, err.strerror)
    _one_line_error(path, lambda p: next(audio.stream_segments(p)), err.strerror)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_samples_are_an_audio_error(tmp_path, bad):
    y = np.zeros((22050, 2), np.float32)
    y[1000, 1] = bad
    path = tmp_path / "bad.wav"
    sf.write(str(path), y, 22050, subtype="FLOAT")
    for call in (audio.load, lambda p: list(audio.stream(p)),
                 lambda p: list(audio.stream_segments(p))):
        _one_line_error(path, call, "contains NaN or infinite samples")


def _float_wav(path, y, sr=22050):
    sf.write(str(path), np.asarray(y, np.float32), sr, subtype="FLOAT")
    return path


def _every_reader(path):
    """load, stream and stream_segments (what predict and tag read), each to the end."""
    return (audio.load(path), np.concatenate(list(audio.stream(path))),
            np.concatenate(list(audio.stream_segments(path))))


def test_absurdly_loud_float_samples_are_an_audio_error(tmp_path):
    """A float WAV holding samples near 1e30 is finite, yet its log-mel overflows into NaN:
    refused in one line by every reader, before any feature sees it."""
    rng = np.random.default_rng(0)
    loud = _float_wav(tmp_path / "loud.wav", rng.uniform(-1, 1, 22050 * 4) * 1e30)
    # two channels that cancel in the mix are checked before mixing
    y = rng.uniform(-1, 1, 22050 * 4) * 1e30
    cancel = _float_wav(tmp_path / "cancel.wav", np.stack([y, -y], axis=1))
    for path in (loud, cancel):
        for call in (audio.load, lambda p: list(audio.stream(p)),
                     lambda p: list(audio.stream_segments(p))):
            message = _one_line_error(path, call, "far beyond full scale")
            assert "samples reach 1e+30" in message or "samples reach 9." in message


@pytest.mark.parametrize("peak", [1.02, 8.0, audio.MAX_PEAK])
def test_float_samples_over_full_scale_up_to_the_bound_are_kept_as_they_are(tmp_path, peak):
    # a master a little over 1.0 is normal float audio: not clipped, not rescaled
    y = np.sin(np.linspace(0, 400, 22050 * 2)) * peak
    path = _float_wav(tmp_path / "hot.wav", y)
    for got in _every_reader(path):
        assert np.isfinite(got).all() and np.abs(got).max() == pytest.approx(peak, rel=1e-6)
    if peak == audio.MAX_PEAK:  # just above the bound: refused
        _one_line_error(_float_wav(path, y * 1.01), audio.load, "far beyond full scale")


@pytest.mark.parametrize("rate", [1, 100, 3999])
def test_a_sample_rate_below_4_khz_is_an_audio_error(tmp_path, rate):
    # a "clip" at 1 Hz resampled to 22050 Hz is a few samples smeared over seconds
    path = write_tone(tmp_path / "slow.wav", seconds=5.0, sr=rate, freq=rate / 10)
    for call in (audio.load, lambda p: list(audio.stream(p)),
                 lambda p: list(audio.stream_segments(p))):
        _one_line_error(path, call, f"sample rate {rate} Hz is below 4000 Hz")


def test_8_khz_audio_is_kept(tmp_path):
    path = write_tone(tmp_path / "phone.wav", seconds=2.0, sr=8000, freq=440.0)
    for got in _every_reader(path):
        assert np.isfinite(got).all() and got.size >= 2 * 22050


def test_eight_channels_are_mixed_to_mono(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.uniform(-0.5, 0.5, (22050 * 2, 8)).astype(np.float32)
    path = _float_wav(tmp_path / "octo.wav", y)
    mono, streamed, segments = _every_reader(path)
    np.testing.assert_allclose(mono, y.mean(axis=1), atol=1e-7)
    np.testing.assert_array_equal(streamed, mono)
    assert segments.shape == (1, 3 * 22050)  # 2 s: one padded 3-s segment


def test_an_empty_file_is_an_audio_error(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0, np.float32), 22050)
    nothing = tmp_path / "nothing.wav"
    nothing.write_bytes(b"")
    for call in (audio.load, lambda p: list(audio.stream(p)),
                 lambda p: list(audio.stream_segments(p))):
        _one_line_error(empty, call, "no audio samples")
        _one_line_error(nothing, call, "cannot decode audio")


# --- AAC in .m4a, through PyAV's FFmpeg -----------------------------------------------------


def write_m4a(path, *, seconds=2.0, sr=44100, freq=440.0):
    """A mono AAC .m4a of a tone, written with PyAV's encoder (timestamps set, so that the
    MP4 edit list tells the decoder to drop the encoder's 1024 priming samples)."""
    from fractions import Fraction

    import av

    t = np.arange(int(round(seconds * sr))) / sr
    y = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=sr, layout="mono")
        for start in range(0, len(y), 1024):
            frame = av.AudioFrame.from_ndarray(y[None, start:start + 1024], format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = sr, start, Fraction(1, sr)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_load_decodes_aac_in_m4a(tmp_path):
    path = write_m4a(tmp_path / "a.m4a", seconds=2.0, sr=44100, freq=440.0)
    with pytest.raises(sf.LibsndfileError):  # libsndfile cannot: this goes through PyAV
        sf.info(str(path))
    y = audio.load(path)
    assert y.dtype == np.float32 and y.ndim == 1
    # priming is dropped, the encoder's padding of the last 1024-sample AAC frame is not
    # (FFmpeg does not trim it): 2 s plus less than one frame
    assert 2 * 22050 <= len(y) < 2 * 22050 + 1024 // 2
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 22050 / len(y) - 440) < 2
    # streamed, the same numbers
    np.testing.assert_allclose(np.concatenate(list(audio.stream(path, block_seconds=0.5))),
                               y, rtol=0, atol=1e-6)
    assert len(np.concatenate(list(audio.stream_segments(path, seconds=0.5)))) == len(
        audio.segment(y, seconds=0.5))


def test_an_undecodable_m4a_is_an_audio_error(tmp_path):
    path = tmp_path / "noise.m4a"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _one_line_error(path, audio.load, "cannot decode audio")
    _one_line_error(path, lambda p: list(audio.stream_segments(p)), "cannot decode audio")


# --- streaming: the numbers of load and segment, block by block ---------------------------


@pytest.mark.parametrize("seconds", [67.5, 66.4, 0.4, 1.6, 12.0])
def test_stream_segments_at_22050_are_exactly_segment_of_load(tmp_path, seconds):
    # 67.5 s: 22.5 segments round to 23, the tail padded, over three 30-s blocks;
    # 66.4 s: 22.13, the tail dropped; 0.4 s: one padded segment; 12 s: four exactly
    path = write_tone(tmp_path / "a.wav", seconds=seconds, sr=22050)
    expected = audio.segment(audio.load(path))
    for batch in (1, 5, 64):
        batches = list(audio.stream_segments(path, batch=batch))
        assert all(b.dtype == np.float32 and 1 <= len(b) <= batch for b in batches)
        assert all(len(b) == batch for b in batches[:-1])
        np.testing.assert_array_equal(np.concatenate(batches), expected)
    np.testing.assert_array_equal(
        np.concatenate(list(audio.stream(path, block_seconds=0.7))), audio.load(path))


def test_stream_segments_of_a_44100_stereo_file_match_segment_of_load(tmp_path):
    # resampled block by block (soxr.ResampleStream) vs at once (librosa.resample): the
    # same soxr filter. Measured here: identical to the last bit (max |diff| 0.0 with
    # python-soxr 1.1); the tolerance allows float32 rounding (~1e-7 at this level) should
    # a soxr build split its work differently.
    path = write_tone(tmp_path / "a.wav", seconds=61.7, sr=44100, channels=2, freq=440.0)
    y = audio.load(path)
    expected = audio.segment(y)
    got = np.concatenate(list(audio.stream_segments(path, batch=7)))
    assert got.shape == expected.shape and len(got) == 21
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    streamed = np.concatenate(list(audio.stream(path, block_seconds=2.3)))
    assert len(streamed) == len(y)
    np.testing.assert_allclose(streamed, y, rtol=0, atol=1e-6)


def test_stream_checks_its_arguments(tmp_path):
    path = write_tone(tmp_path / "a.wav", seconds=1.0)
    with pytest.raises(ValueError):
        next(audio.stream(path, block_seconds=0))
    with pytest.raises(ValueError):
        next(audio.stream_segments(path, batch=0))
    with pytest.raises(ValueError):
        next(audio.stream_segments(path, seconds=0))
