"""The loader on 50 real GTZAN clips (../shared/data; skipped where it is absent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import shared
from genre_lab import GENRES, audio, cli
from genre_lab.data import gtzan, load_tracks


@pytest.fixture(scope="module")
def sample_root():
    return shared("gtzan-sample")


@pytest.fixture(scope="module")
def kaggle_table():
    return pd.read_csv(shared("gtzan-meta/features_30_sec.csv"))


def test_discovery_and_validation(sample_root):
    report = gtzan.scan(sample_root)
    assert report.ok, report.text()
    assert report.layout == "original"
    t = report.tracks
    assert len(t) == 50
    assert (t.groupby("genre").size() == 5).all() and set(t.genre) == set(GENRES)
    assert (t.sample_rate == 22050).all() and (t.channels == 1).all()
    assert (t.subtype == "PCM_16").all() and t.note.isna().all()


def test_durations_in_gtzan_range(sample_root):
    t = gtzan.track_table(sample_root)
    assert t.duration.round(2).between(29.98, 30.37).all(), t.duration.describe()
    assert t.duration.max() > 30.3  # GTZAN clips are not all equally long


def test_frame_counts_match_kaggle_length_column(sample_root, kaggle_table):
    t = gtzan.track_table(sample_root)
    lengths = kaggle_table.set_index(kaggle_table.filename.str.removesuffix(".wav"))["length"]
    assert (t.frames.to_numpy() == lengths.loc[t.track_id].to_numpy()).all()


def test_load_tracks_reads_real_data_from_environment(sample_root, monkeypatch):
    monkeypatch.setenv("GENRE_LAB_DATA", str(sample_root))
    tracks = load_tracks()
    assert tracks.attrs["source"] == "gtzan" and len(tracks) == 50
    y = audio.load(tracks.path.iloc[0])
    assert y.dtype == np.float32 and len(y) == tracks.frames.iloc[0]


def test_kaggle_layout_of_the_same_clips(sample_root, tmp_path):
    # The Kaggle copy: Data/genres_original/<genre>/..., plus its corrupt jazz.00054.wav.
    base = tmp_path / "Data" / "genres_original"
    for genre_dir in (sample_root / "genres").iterdir():
        (base / genre_dir.name).mkdir(parents=True)
        for f in genre_dir.iterdir():
            (base / genre_dir.name / f.name).symlink_to(f)
    (base / "jazz" / "jazz.00054.wav").write_bytes(b"\xff\xfb\x90\x00" + bytes(1000))
    report = gtzan.scan(tmp_path)
    assert report.layout == "kaggle" and len(report.tracks) == 50
    assert [p.path.name for p in report.skipped] == ["jazz.00054.wav"]
    assert cli.main(["check", str(tmp_path)]) == 1


def test_published_zcr_means_quoted_in_chapter_1(kaggle_table):
    # chapter 1 quotes the Kaggle table: mean ZCR 0.147 for metal, 0.078 for classical
    by_genre = kaggle_table.groupby("label")["zero_crossing_rate_mean"].mean()
    assert round(by_genre["metal"], 3) == 0.147
    assert round(by_genre["classical"], 3) == 0.078
