"""3-second segment features with track ids, and the on-disk array cache behind them."""

from __future__ import annotations

import dataclasses
import os
import zipfile

import librosa
import numpy as np
import pandas as pd
import pytest

from conftest import shared, write_tone
from genre_lab import GENRES, audio, cache
from genre_lab.config import FEATURES as F
from genre_lab.features import segments
from genre_lab.data.gtzan import track_table
from genre_lab.features.segments import Segments, segment_features

SR = 22050
SEG = 3 * SR


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder, never the user's."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GENRE_LAB_CACHE", str(folder))
    return folder


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
    assert len(list((tmp_cache / "features").glob("segments-*.npz"))) == 1

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


# ---------------------------------------------------------------------------- cache
def compute_counter(arrays):
    calls = []

    def compute():
        calls.append(1)
        return arrays

    return compute, calls


def test_cached_arrays_hit_and_miss(tmp_cache):
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "n": np.int64(7)}
    compute, calls = compute_counter(arrays)
    first = cache.cached_arrays("demo", {"a": 1, "b": [1, 2]}, compute)
    again = cache.cached_arrays("demo", {"b": [1, 2], "a": 1}, compute)  # key order: no matter
    assert len(calls) == 1
    for got in (first, again):
        np.testing.assert_array_equal(got["x"], arrays["x"])
        assert got["x"].dtype == np.float32 and int(got["n"]) == 7
    path = cache.cache_path("demo", {"a": 1, "b": [1, 2]})
    assert path.parent == tmp_cache / "features" and path.name.startswith("demo-")
    # any change in the key, or another name, misses
    cache.cached_arrays("demo", {"a": 2, "b": [1, 2]}, compute)
    cache.cached_arrays("demo", {"a": 1, "b": [1, 2], "c": None}, compute)
    cache.cached_arrays("other", {"a": 1, "b": [1, 2]}, compute)
    assert len(calls) == 4
    with pytest.raises(ValueError):
        cache.cache_path("../escape", {})


def test_cached_arrays_version_is_part_of_the_key(monkeypatch):
    before = cache.cache_path("demo", {"a": 1})
    monkeypatch.setattr(cache, "__version__", "99.0")
    assert cache.cache_path("demo", {"a": 1}) != before


def test_strings_round_trip_without_pickle():
    ids = np.array(["blues.00000", "rock.00012", "é-ü"], dtype=object)
    compute, calls = compute_counter({"track_id": ids, "X": np.zeros((3, 2))})
    cache.cached_arrays("ids", {"k": 1}, compute)
    got = cache.cached_arrays("ids", {"k": 1}, compute)
    assert len(calls) == 1 and got["track_id"].dtype.kind == "U"
    assert got["track_id"].tolist() == ids.tolist()
    with np.load(cache.cache_path("ids", {"k": 1}), allow_pickle=False) as z:
        assert z["track_id"].tolist() == ids.tolist()
    with pytest.raises(TypeError, match="pickle|strings"):
        cache.cached_arrays("objs", {}, lambda: {"x": np.array([{"a": 1}], dtype=object)})


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_save_leaves_nothing(monkeypatch, tmp_cache, error):
    real_savez = np.savez

    def half_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 half an npz")
        raise error

    monkeypatch.setattr(np, "savez", half_then_fail)
    compute, calls = compute_counter({"x": np.ones(5)})
    with pytest.raises(type(error)):
        cache.cached_arrays("atomic", {"k": 1}, compute)
    leftovers = [p.name for p in (tmp_cache / "features").iterdir()
                 if not p.name.endswith(".lock")]
    assert leftovers == []
    monkeypatch.setattr(np, "savez", real_savez)
    np.testing.assert_array_equal(cache.cached_arrays("atomic", {"k": 1}, compute)["x"],
                                  np.ones(5))
    assert len(calls) == 2  # the failed write was not a cache entry


def test_failed_compute_leaves_nothing(tmp_cache):
    def compute():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.cached_arrays("fails", {}, compute)
    assert not [p for p in (tmp_cache / "features").iterdir() if not p.name.endswith(".lock")]


def test_unreadable_or_compressed_entries(tmp_cache):
    key = {"k": 3}
    path = cache.cache_path("odd", key)
    path.parent.mkdir(parents=True)
    x = np.linspace(0, 1, 50).reshape(5, 10).astype(np.float32)
    np.savez_compressed(path, x=x)  # not the fast layout: numpy's reader takes over
    compute, calls = compute_counter({"x": -x})
    np.testing.assert_array_equal(cache.cached_arrays("odd", key, compute)["x"], x)
    assert calls == []
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(UserWarning, match="unreadable"):
        got = cache.cached_arrays("odd", key, compute)
    np.testing.assert_array_equal(got["x"], -x)
    assert len(calls) == 1
    assert zipfile.is_zipfile(path)  # replaced by a good entry


@pytest.mark.parametrize("anon_min_bytes", [2**26, 0])
def test_fast_reader_matches_numpy(tmp_cache, monkeypatch, anon_min_bytes):
    monkeypatch.setattr(cache, "_ANON_MIN_BYTES", anon_min_bytes)  # 0: all via mmap
    arrays = {"c": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
              "f": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
              "s": np.array(["a", "bcd"]), "e": np.zeros((0, 3)), "z": np.float64(2.5)}
    cache.cached_arrays("fast", {}, lambda: arrays)
    fast = cache._read_stored(cache.cache_path("fast", {}))
    for k, v in arrays.items():
        assert fast[k].dtype == v.dtype and fast[k].shape == v.shape
        np.testing.assert_array_equal(fast[k], v)
        assert fast[k].flags.writeable
    assert fast["f"].flags.f_contiguous and fast["c"].flags.c_contiguous


def test_fingerprint_ignores_order_and_sees_changes(tracks):
    fp = cache.fingerprint(tracks)
    assert fp == cache.fingerprint(tracks.iloc[::-1])
    assert fp != cache.fingerprint(tracks.iloc[:3])
    renamed = tracks.assign(track_id=tracks.track_id + "x")
    assert fp != cache.fingerprint(renamed)
    with open(tracks.path[2], "ab") as f:
        f.write(b"\0\0")
    assert fp != cache.fingerprint(tracks)
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        cache.fingerprint(tracks.assign(path=tracks.path.str.replace("rock.00000.wav",
                                                                     "nowhere.wav")))


def test_worker_threads_leave_torch_settings_alone(tracks):
    import torch

    before = torch.get_num_threads()
    segment_features(tracks, F, progress=False, cache=False)
    assert torch.get_num_threads() == before
