"""Splits keep whole tracks (and, for artist splits, whole artists) on one side."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import shared
from genre_lab import GENRES
from genre_lab.data import splits


def table(per_genre=20, artists=4):
    rows = [dict(track_id=f"{g}.{i:05d}", genre=g, artist=f"{g}-artist{i % artists}")
            for g in GENRES for i in range(per_genre)]
    return pd.DataFrame(rows)


def test_track_split_is_stratified_and_seeded():
    t = splits.track_split(table(), val=0.2, test=0.2, seed=3)
    counts = splits.summary(t)
    assert (counts.train == 12).all() and (counts.val == 4).all() and (counts.test == 4).all()
    assert t.split.equals(splits.track_split(table(), seed=3).split)
    assert not t.split.equals(splits.track_split(table(), seed=4).split)
    with pytest.raises(ValueError):
        splits.track_split(table(), val=0.5, test=0.5)


def test_artist_split_keeps_artists_apart():
    t = splits.artist_split(table(), seed=0)
    sides = t.groupby("artist").split.nunique()
    assert (sides == 1).all()
    assert set(t.split) == {"train", "val", "test"}
    # every genre is on every side (one artist of four per genre in test)
    assert (splits.summary(t) > 0).all().all()


def test_artist_split_needs_artists():
    t = table()
    t["artist"] = None
    with pytest.raises(ValueError, match="filtered_split"):
        splits.artist_split(t)


def test_filtered_split_from_shared_lists():
    folder = shared("gtzan-meta/splits")
    lists = splits.read_split_lists(folder)
    assert {k: len(v) for k, v in lists.items()} == {"train": 443, "val": 197, "test": 290}
    upstream = splits.read_split_lists(folder / "upstream")
    assert upstream == lists
    full = pd.DataFrame(dict(track_id=[f"{g}.{i:05d}" for g in GENRES for i in range(100)]))
    t = splits.filtered_split(full, folder=folder)
    assert len(t) == 930 and t.split.value_counts().to_dict() == {"train": 443, "test": 290,
                                                                    "val": 197}


def test_an_artist_split_of_too_few_artists_says_so():
    tracks = pd.DataFrame(dict(track_id=[f"t{i}" for i in range(8)], genre=["a", "b"] * 4,
                               artist=["x"] * 4 + ["y"] * 4))
    with pytest.raises(ValueError, match="needs at least 4 artists .* these tracks have 2"):
        splits.artist_split(tracks)
