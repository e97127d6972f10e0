"""3-second segment features with track ids (genre_lab.features.segments)."""

from __future__ import annotations

import dataclasses
import os

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import shared, write_tone
from genre_lab import GENRES, audio
from genre_lab.config import FEATURES as F
from genre_lab.data.gtzan import track_table
from genre_lab.features import segments
from genre_lab.features.segments import Segments, segment_features

SR = 22050
SEG = 3 * SR


pytestmark = pytest.mark.usefixtures("tmp_cache")  # a fresh cache per test


@pytest.fixture
def tracks(tmp_path):
    """Four short clips of two genres: 6.2 s -> 2 segments, 7.6 s -> 3 (padded),
    4.4 s -> 1 (cropped), 2.0 s -> 1 (padded)."""
    rows = []
    for i, (genre, seconds) in enumerate([("rock", 6.2), ("blues", 7.6), ("rock", 4.4),
                                          ("blues", 2.0)]):
        path = write_tone(tmp_path / "clips" / f"{genre}.{i:05d}.wav", seconds=seconds,
                          freq=150.0 * (i + 1), seed=i)
        rows.append(dict(track_id=f"{genre}.{i:05d}", genre=genre, label=GENRES.index(genre),
                         path=str(path)))
    return pd.DataFrame(rows)


def librosa_segment(y: np.ndarray, n_mfcc: int = 20):
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=2048, hop_length=512, n_mels=128)
    db = librosa.power_to_db(mel, top_db=80.0)
    return db, librosa.feature.mfcc(S=db, n_mfcc=n_mfcc)


# ---------------------------------------------------------------------------- segments
def test_shapes_ids_labels_and_order(tracks):
    feats = segment_features(tracks, F, progress=False)
    assert set(feats) == {"logmel", "mfcc"}
    logmel, mfcc = feats["logmel"], feats["mfcc"]
    assert logmel.X.shape == (7, 128, 130) and mfcc.X.shape == (7, 20, 130)
    assert logmel.X.dtype == mfcc.X.dtype == np.float32
    assert logmel.kind == "logmel" and mfcc.kind == "mfcc"
    expected = ["rock.00000"] * 2 + ["blues.00001"] * 3 + ["rock.00002", "blues.00003"]
    assert logmel.track_id.tolist() == mfcc.track_id.tolist() == expected
    assert logmel.label.dtype == np.int64
    assert [GENRES[i] for i in logmel.label] == [t.split(".")[0] for t in expected]
    assert logmel.tracks.tolist() == tracks.track_id.tolist()
    # the output is preallocated from a duration column: a wrong estimate changes nothing
    for duration in (30.0, 1.0):
        other = segment_features(tracks.assign(duration=duration), F, progress=False, cache=False)
        np.testing.assert_array_equal(other["logmel"].X, logmel.X)
        np.testing.assert_array_equal(other["mfcc"].X, mfcc.X)


def test_segment_k_equals_librosa_on_that_slice(tracks):
    feats = segment_features(tracks, F, progress=False, cache=False)
    for row in tracks.itertuples():
        y = audio.load(row.path)
        n = max(1, round(len(y) / SEG))
        y = audio.fix_length(y, n * SEG)
        mine = feats["logmel"].for_tracks([row.track_id])
        mine_mfcc = feats["mfcc"].for_tracks([row.track_id])
        assert len(mine) == n
        for k in range(n):
            db, mfcc = librosa_segment(y[k * SEG:(k + 1) * SEG])
            np.testing.assert_allclose(mine.X[k], db, rtol=0, atol=2e-3)
            np.testing.assert_allclose(mine_mfcc.X[k], mfcc, rtol=0, atol=2e-3)


def test_real_clips_give_ten_segments_each():
    tracks = track_table(shared("gtzan-sample")).iloc[[0, 17, 33]].reset_index(drop=True)
    feats = segment_features(tracks, F, progress=False)
    assert feats["logmel"].X.shape == (30, 128, 130)
    assert feats["mfcc"].X.shape == (30, 20, 130)
    assert (feats["logmel"].label == np.repeat(tracks.label.to_numpy(), 10)).all()
    # the last segment of the second clip, against librosa on that slice
    y = audio.load(tracks.path[1])
    y = audio.fix_length(y, 10 * SEG)
    db, mfcc = librosa_segment(y[9 * SEG:])
    np.testing.assert_allclose(feats["logmel"].X[19], db, rtol=0, atol=2e-3)
    np.testing.assert_allclose(feats["mfcc"].X[19], mfcc, rtol=0, atol=2e-3)


def test_make_gtzan_folder(make_gtzan):
    tracks = track_table(make_gtzan(clips=1))
    feats = segment_features(tracks, dataclasses.replace(F, n_mfcc=13), progress=False)
    assert feats["mfcc"].X.shape == (10, 13, 130)  # ten 4-s clips, one segment each
    assert feats["logmel"].track_id.tolist() == tracks.track_id.tolist()
    assert feats["logmel"].label.tolist() == list(range(10))


def test_cache_hit_loads_same_arrays_without_computing(tracks, monkeypatch, tmp_cache):
    first = segment_features(tracks, F, progress=False)
    assert len(list((tmp_cache / "arrays").glob("segments-*.npz"))) == 1

    def no_compute(*args, **kwargs):
        raise AssertionError("recomputed on a cache hit")

    monkeypatch.setattr(segments, "compute_segments", no_compute)
    again = segment_features(tracks, F, progress=False)
    for kind in ("logmel", "mfcc"):
        np.testing.assert_array_equal(again[kind].X, first[kind].X)
        np.testing.assert_array_equal(again[kind].track_id, first[kind].track_id)
        np.testing.assert_array_equal(again[kind].label, first[kind].label)
    # the same tracks listed in another order: still a hit, segments in the new order
    shuffled = tracks.iloc[[2, 0, 3, 1]]
    third = segment_features(shuffled, F, progress=False)["logmel"]
    expected = first["logmel"].for_tracks(shuffled.track_id)
    np.testing.assert_array_equal(third.X, expected.X)
    assert third.track_id.tolist() == expected.track_id.tolist()
    assert third.label.tolist() == expected.label.tolist()
    # another parameter, or a changed file: a miss
    with pytest.raises(AssertionError, match="recomputed"):
        segment_features(tracks, dataclasses.replace(F, n_mels=64), progress=False)
    st = os.stat(tracks.path[0])
    os.utime(tracks.path[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="recomputed"):
        segment_features(tracks, F, progress=False)


def test_cache_false_neither_reads_nor_writes(tracks, tmp_cache):
    segment_features(tracks, F, progress=False, cache=False)
    assert not list(tmp_cache.glob("arrays/*.npz"))


def test_segments_subset_and_for_tracks(tracks):
    seg = segment_features(tracks, F, progress=False)["mfcc"]
    picked = seg.for_tracks(["blues.00003", "rock.00000"])
    assert picked.track_id.tolist() == ["blues.00003", "rock.00000", "rock.00000"]
    np.testing.assert_array_equal(picked.X[1:], seg.X[:2])  # time order kept
    np.testing.assert_array_equal(seg.for_tracks(tracks.track_id).X, seg.X)
    assert len(seg.for_tracks([])) == 0
    with pytest.raises(KeyError, match="jazz.00009"):
        seg.for_tracks(["rock.00000", "jazz.00009"])
    mask = seg.label == GENRES.index("blues")
    blues = seg.subset(mask)
    assert len(blues) == 4 and set(blues.track_id) == {"blues.00001", "blues.00003"}
    assert blues.kind == "mfcc"
    np.testing.assert_array_equal(seg.subset([6, 0]).X, seg.X[[6, 0]])
    with pytest.raises(ValueError):
        seg.subset(mask[:-1])
    with pytest.raises(ValueError):
        Segments(seg.X, seg.track_id[:-1], seg.label, "mfcc")


def test_bad_file_error_names_the_file(tracks, tmp_cache):
    bad = tracks.copy()
    path = os.path.join(os.path.dirname(bad.path[1]), "blues.00001-bad.wav")
    with open(path, "wb") as f:
        f.write(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + bytes(100))
    bad.loc[1, "path"] = path
    with pytest.raises(audio.AudioError, match="blues.00001-bad.wav"):
        segment_features(bad, F, progress=False)
    assert not list(tmp_cache.glob("arrays/*.npz")) and not list(tmp_cache.glob("**/*.tmp"))
    bad.loc[1, "path"] = path + ".missing"
    with pytest.raises(FileNotFoundError, match="missing"):
        segment_features(bad, F, progress=False)


def test_unexpected_error_while_cutting_names_the_file(tracks, monkeypatch):
    def broken(y, **kwargs):
        raise IndexError("index 3 is out of bounds for axis 0 with size 2")

    monkeypatch.setattr(audio, "segment", broken)
    with pytest.raises(audio.AudioError, match=r"rock\.00000\.wav.*IndexError"):
        segment_features(tracks, F, progress=False, cache=False)


def test_worker_threads_leave_torch_settings_alone(tracks):
    import torch

    before = torch.get_num_threads()
    segment_features(tracks, F, progress=False, cache=False)
    assert torch.get_num_threads() == before


def test_fast_pcm16_load_is_audio_load_bit_for_bit(tmp_path):
    # mono 16-bit PCM at the feature rate: read as int16 and scaled; full scale included
    loud = tmp_path / "loud.wav"
    ramp = np.linspace(-1.0, 1.0, 3 * SR).astype(np.float32)
    sf.write(str(loud), ramp, SR, subtype="PCM_16")
    files = [write_tone(tmp_path / "tone.wav", seconds=3.5), loud]
    files += sorted(shared("gtzan-sample").glob("genres/*/*.wav"))[:2]
    # anything else goes through audio.load: other subtype, stereo, another rate
    files += [write_tone(tmp_path / "float.wav", subtype="FLOAT"),
              write_tone(tmp_path / "pcm24.flac", subtype="PCM_24"),
              write_tone(tmp_path / "stereo.wav", channels=2),
              write_tone(tmp_path / "44k.wav", sr=44100)]
    for path in files:
        ours, ref = segments._load(path, SR), audio.load(path, sr=SR)
        assert ours.dtype == ref.dtype == np.float32 and ours.shape == ref.shape, path
        np.testing.assert_array_equal(ours, ref, err_msg=str(path))


def test_fast_load_errors_are_audio_loads(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0, np.float32), SR, subtype="PCM_16")
    with pytest.raises(audio.AudioError, match="empty.wav.*no audio samples"):
        segments._load(empty, SR)
    with pytest.raises(audio.AudioError, match="a folder"):
        segments._load(tmp_path, SR)
    with pytest.raises(FileNotFoundError, match="nothing.wav"):
        segments._load(tmp_path / "nothing.wav", SR)
