"""Split datasets (genre_lab.dataset): sides, the leaky segment split, the profile's settings."""

from __future__ import annotations

import numpy as np
import pytest

from genre_lab import config
from genre_lab.data import synth
from genre_lab.data.gtzan import track_table
from genre_lab.dataset import prepare, split_tracks


@pytest.fixture(scope="module")
def tracks(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    synth.generate(root, clips_per_genre=4, seconds=6.0, seed=0, progress=False)
    return track_table(root)


pytestmark = pytest.mark.usefixtures("tmp_cache")  # a fresh cache per test


def test_track_split_keeps_tracks_whole_and_uses_the_profile(tracks):
    data = prepare(tracks, split="track", profile="quick", progress=False, val=0.25,
                   test=0.25)
    quick = config.get_profile("quick")
    assert data.profile == quick and data.settings == quick.features
    assert data.shapes(["logmel", "mfcc"]) == [(64, quick.features.n_frames),
                                               (20, quick.features.n_frames)]
    sides = {name: set(data.side(name, "logmel").track_id) for name in ("train", "val", "test")}
    assert not (sides["train"] & sides["val"] or sides["train"] & sides["test"]
                or sides["val"] & sides["test"])
    assert set().union(*sides.values()) == set(tracks.track_id)
    train_x, train_y, val_x, val_y = data.fit_arrays(["logmel", "mfcc"])
    assert len(train_x) == 2 and len(train_x[0]) == len(train_y) == len(train_x[1])
    assert len(val_x[0]) == len(val_y) == len(data.side("val", "mfcc"))
    # every segment of a track carries the track's label
    test = data.side("test", "logmel")
    label_of = dict(zip(tracks.track_id, tracks.label, strict=True))
    assert all(label_of[t] == y for t, y in zip(test.track_id, test.label, strict=True))


def test_other_profile_other_features(tracks):
    standard = prepare(tracks, split="track", profile="standard", progress=False, val=0.25,
                       test=0.25)
    assert standard.settings.n_mels == 128
    assert standard.segments["logmel"].X.shape[1:] == (128, 130)


def test_without_validation_there_is_no_val_side(tracks):
    data = prepare(tracks, split="track", progress=False, val=0.0, test=0.25)
    assert not data.has_side("val")
    *_, val_x, val_y = data.fit_arrays(["logmel"])
    assert val_x is None and val_y is None


def test_segment_split_mixes_the_segments_of_a_track(tracks):
    data = prepare(tracks, split="segment", seed=0, progress=False, val=0.25, test=0.25)
    assert (data.tracks.split == "mixed").all() and data.split_name == "segment"
    train = set(data.side("train", "logmel").track_id)
    test = set(data.side("test", "logmel").track_id)
    assert train & test  # the leak chapter 8 measures
    n = len(data.segments["logmel"])
    assert sum(len(data.side(s, "logmel")) for s in ("train", "val", "test")) == n


def test_artist_split_and_unknown_split(tracks):
    split = split_tracks(tracks, "artist", seed=0)
    by_artist = split.groupby("artist").split.nunique()
    assert (by_artist == 1).all()  # no artist on two sides
    with pytest.raises(ValueError, match="unknown split"):
        split_tracks(tracks, "random")
    np.testing.assert_array_equal(split_tracks(tracks, "artist", seed=0).split, split.split)


def test_given_split_keeps_the_tables_own_sides(tracks):
    # e.g. FMA's published split (genre_lab.data.fma.load_tracks gives a split column)
    sides = np.resize(["train", "train", "val", "test"], len(tracks))
    data = prepare(tracks.assign(split=sides), split="given", progress=False)
    assert list(data.tracks.split) == list(sides)
    for side in ("train", "val", "test"):
        expected = set(tracks.track_id[sides == side])
        assert set(data.side(side, "logmel").track_id) == expected
    with pytest.raises(ValueError, match="needs a 'split' column"):
        split_tracks(tracks, "given")
    with pytest.raises(ValueError, match="'training'"):
        split_tracks(tracks.assign(split="training"), "given")
    with pytest.raises(ValueError, match="no test tracks"):
        split_tracks(tracks.assign(split="train"), "given")
