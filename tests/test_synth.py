"""The synthetic mini-GTZAN: layout, determinism, signal sanity, realism and difficulty."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genre_lab import GENRES
from genre_lab.config import SAMPLE_RATE
from genre_lab.data import synth

SR = SAMPLE_RATE


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """Four clips per genre (one per artist), 2 s each."""
    root = tmp_path_factory.mktemp("synth-small")
    table = synth.generate(root, clips_per_genre=4, seconds=2.0, seed=0, progress=False)
    return root, table


# ---- layout and format ---------------------------------------------------------------------


def test_layout_and_format(small_set):
    root, table = small_set
    expected = {f"genres/{g}/{g}.{i:05d}.wav" for g in GENRES for i in range(4)}
    wavs = {p.as_posix() for p in _files(root) if p.suffix == ".wav"}
    assert wavs == expected
    assert not [p for p in _files(root) if p.name.endswith(".tmp")]
    for rel in sorted(expected)[::7]:
        info = sf.info(str(root / rel))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (
            SR, 1, "PCM_16", "WAV")
        assert info.frames == round(2.0 * SR)


def test_metadata(small_set):
    root, table = small_set
    on_disk = pd.read_csv(root / "metadata.csv")
    assert list(on_disk.columns[:4]) == ["track_id", "genre", "artist", "seed"]
    assert len(on_disk) == len(table) == 40
    assert list(on_disk.track_id) == [f"{g}.{i:05d}" for g in GENRES for i in range(4)]
    assert list(on_disk.genre) == [g for g in GENRES for _ in range(4)]
    for column in ("tempo", "key", "mode", "progression", "drive", "brightness", "noise_db",
                   "swing", "loudness"):
        assert column in on_disk.columns
    pd.testing.assert_frame_equal(on_disk[["track_id", "genre", "artist", "seed"]],
                                  table[["track_id", "genre", "artist", "seed"]])
    # The seed column is the clip's own seed: SeedSequence([seed, genre_index, index]).
    state = np.random.SeedSequence([0, GENRES.index("jazz"), 3]).generate_state(1)[0]
    assert on_disk.set_index("track_id").loc["jazz.00003", "seed"] == state


def test_artists_are_balanced_and_unique(small_set):
    _, table = small_set
    per_genre = table.groupby("genre").artist.nunique()
    assert (per_genre == synth.ARTISTS_PER_GENRE).all()
    assert table.artist.nunique() == len(GENRES) * synth.ARTISTS_PER_GENRE
    assert table.groupby("artist").genre.nunique().max() == 1
    # The artist is a function of the clip index: clip 4 has the artist of clip 0.
    assert synth.render_clip("rock", index=4, seconds=1)[1]["artist"] == table.set_index(
        "track_id").loc["rock.00000", "artist"]


def test_recipes_are_documented_presets():
    assert list(synth.RECIPES) == list(GENRES)
    for recipe in synth.RECIPES.values():
        assert len(recipe.artists) == synth.ARTISTS_PER_GENRE
        lo, hi = recipe.tempo
        assert 50 <= lo < hi <= 200
    assert synth.RECIPES["classical"].drums == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        synth.RECIPES["rock"].tempo = (1, 2)


def test_params_come_from_the_artists_recipe():
    for genre in ("metal", "jazz", "reggae"):
        for index in range(8):
            _, p = synth.render_clip(genre, seed=3, index=index, seconds=1)
            recipe = synth.RECIPES[genre].for_artist(index % synth.ARTISTS_PER_GENRE)
            assert recipe.tempo[0] <= p["tempo"] <= recipe.tempo[1]
            assert recipe.loudness[0] <= p["loudness"] <= recipe.loudness[1]
            assert p["progression"] in recipe.progressions
            assert p["artist"] == recipe.artists[index % 4].name


# ---- determinism ---------------------------------------------------------------------------


def test_generation_is_byte_identical_in_one_process_or_several(tmp_path):
    a = synth.generate(tmp_path / "a", clips_per_genre=2, seconds=3.0, seed=5, progress=False,
                       n_jobs=1)
    b = synth.generate(tmp_path / "b", clips_per_genre=2, seconds=3.0, seed=5, progress=False,
                       n_jobs=2)
    pd.testing.assert_frame_equal(a, b)
    files = _files(tmp_path / "a")
    assert files == _files(tmp_path / "b") and len(files) == 21
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_clip_does_not_depend_on_how_many_are_generated(tmp_path):
    synth.generate(tmp_path / "two", clips_per_genre=2, seconds=2.0, seed=1, progress=False)
    synth.generate(tmp_path / "three", clips_per_genre=3, seconds=2.0, seed=1, progress=False)
    for genre in GENRES:
        for i in range(2):
            rel = f"genres/{genre}/{genre}.{i:05d}.wav"
            assert (tmp_path / "two" / rel).read_bytes() == (tmp_path / "three" / rel).read_bytes()
    # ... nor on the order in which clips are rendered.
    late, _ = synth.render_clip("pop", seed=1, index=2, seconds=2.0)
    early = sf.read(str(tmp_path / "three/genres/pop/pop.00002.wav"), dtype="int16")[0]
    assert np.array_equal(np.round(late.astype(np.float64) * 32767).astype(np.int16), early)


def test_seed_and_index_change_the_audio():
    y0, p0 = synth.render_clip("disco", seed=0, index=0, seconds=2.0)
    y1, p1 = synth.render_clip("disco", seed=1, index=0, seconds=2.0)
    y2, _ = synth.render_clip("disco", seed=0, index=4, seconds=2.0)  # same artist, new clip
    assert p0["seed"] != p1["seed"]
    assert np.abs(y0 - y1).max() > 0.05 and np.abs(y0 - y2).max() > 0.05


# ---- signal sanity -------------------------------------------------------------------------


@pytest.mark.parametrize("genre", GENRES)
def test_signal_is_clean(genre):
    seconds = 4.3
    y, p = synth.render_clip(genre, seed=2, index=1, seconds=seconds)
    assert y.dtype == np.float32 and y.ndim == 1 and y.size == round(seconds * SR)
    assert np.isfinite(y).all()
    assert np.abs(y).max() <= 0.99
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    assert rms > 0.01  # not silent
    assert abs(float(y.mean())) < 0.01 * rms + 1e-4  # no DC
    # Within a factor of the loudness target (the limiter may shave a little off).
    assert 0.6 * p["loudness"] < rms < 1.2 * p["loudness"]
    # No hard clipping: hardly any samples sit at the peak value.
    assert np.mean(np.abs(y) > 0.985 * np.abs(y).max()) < 0.001
    # Clip edges fade in and out (no click where the excerpt starts or stops).
    assert y[0] == 0.0 and y[-1] == 0.0 and np.abs(y[:20]).max() < 0.05 * np.abs(y).max()


def test_other_sample_rates_and_lengths():
    y, _ = synth.render_clip("jazz", seconds=1.5, sr=16000)
    assert y.size == 24000 and np.isfinite(y).all() and np.abs(y).max() <= 0.99
    y, _ = synth.render_clip("metal", seconds=2.00002, sr=44100)
    assert y.size == round(2.00002 * 44100)


# ---- argument validation -------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(genre="polka"), "unknown genre"),
    (dict(genre="rock", seconds=0.5), "seconds"),
    (dict(genre="rock", seconds=float("nan")), "seconds"),
    (dict(genre="rock", seed=-1), "seed"),
    (dict(genre="rock", seed=1.5), "seed"),
    (dict(genre="rock", index=-2), "index"),
    (dict(genre="rock", sr=1000), "sr"),
])
def test_render_clip_rejects_bad_arguments(kwargs, match):
    genre = kwargs.pop("genre")
    with pytest.raises(ValueError, match=match):
        synth.render_clip(genre, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(clips_per_genre=0), "clips_per_genre"),
    (dict(clips_per_genre=2.5), "clips_per_genre"),
    (dict(seconds=0), "seconds"),
    (dict(seconds="30"), "seconds"),
    (dict(seed=-3), "seed"),
])
def test_generate_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        synth.generate(tmp_path / "x", progress=False, **kwargs)
    assert not (tmp_path / "x").exists()  # nothing written before validation


# ---- writing into a folder that already holds a set -----------------------------------------


def _contents(root):
    return {rel: (root / rel).read_bytes() for rel in _files(root)}


def test_generate_refuses_a_folder_with_earlier_clips(tmp_path):
    root = tmp_path / "set"
    (root / "genres" / "jazz").mkdir(parents=True)
    (root / "genres" / "jazz" / "notes.txt").write_text("no clips yet")
    synth.generate(root, clips_per_genre=2, seconds=1.0, seed=0, progress=False)  # no WAVs: ok
    before = _contents(root)
    with pytest.raises(FileExistsError, match="overwrite=True") as err:
        synth.generate(root, clips_per_genre=1, seconds=1.0, seed=1, progress=False)
    assert str(root / "genres") in str(err.value) and "empty folder" in str(err.value)
    assert _contents(root) == before  # nothing written or removed
    # Any .wav under genres/ counts, not only the generator's own clips.
    other = tmp_path / "other"
    (other / "genres" / "mine").mkdir(parents=True)
    sf.write(str(other / "genres" / "mine" / "take1.wav"), np.zeros(100), SR)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        synth.generate(other, clips_per_genre=1, seconds=1.0, progress=False)
    assert _files(other) == [Path("genres/mine/take1.wav")]


def test_generate_overwrite_replaces_only_earlier_clips(tmp_path):
    root = tmp_path / "set"
    synth.generate(root, clips_per_genre=3, seconds=1.0, seed=0, progress=False)
    rock = root / "genres" / "rock"
    keep = [root / "README.md", rock / "notes.txt", rock / "rock.00001.wav.bak",
            rock / "rock.1.wav", rock / "jazz.00000.wav", root / "genres" / "live.00000.wav"]
    for path in keep:
        path.write_text("mine")
    table = synth.generate(root, clips_per_genre=2, seconds=1.0, seed=1, progress=False,
                           overwrite=True)
    clips = {f"genres/{g}/{g}.{i:05d}.wav" for g in GENRES for i in range(2)}
    wavs = {p.as_posix() for p in _files(root) if p.suffix == ".wav"}
    assert wavs == clips | {"genres/rock/rock.1.wav", "genres/rock/jazz.00000.wav",
                            "genres/live.00000.wav"}  # stale rock.00002.wav etc. are gone
    assert all(path.read_text() == "mine" for path in keep)
    on_disk = pd.read_csv(root / "metadata.csv")
    assert len(table) == len(on_disk) == 20 and (on_disk.seed == table.seed).all()
    # The new clips are exactly those of a fresh run with the same arguments.
    fresh = tmp_path / "fresh"
    synth.generate(fresh, clips_per_genre=2, seconds=1.0, seed=1, progress=False)
    for rel in sorted(clips) + ["metadata.csv"]:
        assert (root / rel).read_bytes() == (fresh / rel).read_bytes(), rel


# ---- realism: orderings seen in the real GTZAN ----------------------------------------------


def _summary(task):
    genre, seed, index, seconds = task
    y, _ = synth.render_clip(genre, seed=seed, index=index, seconds=seconds)
    y = (np.round(y * 32767) / 32768).astype(np.float32)  # as loaded from the 16-bit WAV
    mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20)
    return (genre, index, np.r_[mfcc.mean(axis=1), mfcc.var(axis=1)],
            float(librosa.feature.zero_crossing_rate(y=y).mean()),
            float(librosa.feature.rms(y=y).mean()),
            float(librosa.feature.spectral_centroid(y=y, sr=SR).mean()))


def _features(clips: int, seconds: float, seed: int = 0):
    tasks = [(g, seed, i, seconds) for g in GENRES for i in range(clips)]
    _summary(("blues", seed, 0, 1.0))  # warm librosa up once, before any fork
    workers = min(2, os.cpu_count() or 1)
    if workers > 1 and sys.platform.startswith("linux"):  # fork: cheap, inherits warm-up
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            rows = list(pool.map(_summary, tasks, chunksize=8))
    else:
        rows = [_summary(t) for t in tasks]
    frame = pd.DataFrame([(g, i, z, r, c) for g, i, _, z, r, c in rows],
                         columns=["genre", "index", "zcr", "rms", "centroid"])
    return np.stack([row[2] for row in rows]), frame


def test_feature_orderings_follow_real_gtzan():
    _, frame = _features(clips=6, seconds=6.0)
    means = frame.groupby("genre")[["zcr", "rms", "centroid"]].mean()
    assert means.zcr["metal"] > 1.5 * means.zcr["classical"]
    assert means.zcr["metal"] > 1.3 * means.zcr["jazz"]
    assert means.rms.idxmin() == "classical"
    assert means.rms.drop("classical").min() > 1.5 * means.rms["classical"]
    assert means.centroid.idxmin() == "classical"
    bright = means.centroid[["pop", "disco", "metal"]].min()
    dark = means.centroid[["blues", "jazz", "classical"]].max()
    assert bright > 1.2 * dark


# ---- difficulty ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_features():
    """MFCC mean+variance of the quick profile: 20 clips per genre, 12 s, seed 0."""
    return _features(clips=20, seconds=12.0, seed=0)


def test_difficulty_is_in_the_teaching_band(quick_features):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, frame = quick_features
    y = frame.genre.map(GENRES.index).to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    track = cross_val_score(model, X, y, cv=StratifiedKFold(n_splits=5)).mean()
    assert 0.5 <= track <= 0.9, track
    # Artist-level split: each fold holds out one artist of every genre.
    slot = frame["index"].to_numpy() % synth.ARTISTS_PER_GENRE
    artist = cross_val_score(model, X, y, groups=slot, cv=GroupKFold(n_splits=4)).mean()
    assert artist <= track - 0.05, (track, artist)
    assert artist > 0.25  # still far above chance (0.1)
