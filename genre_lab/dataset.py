"""A split dataset: tracks with a train/val/test side each, and their segment features.

::

    data = prepare(load_tracks(), split="track")
    x, y, track_ids = data.arrays("train", ["logmel"])

Below the training loop: :mod:`genre_lab.experiment` trains on a :class:`Dataset`, and
:mod:`genre_lab.augment` and :mod:`genre_lab.compress` take one as well.

Notebook: 04-spectrogram-cnns onwards.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from . import config
from .data import splits
from .features.segments import Segments, segment_features

__all__ = ["Dataset", "prepare", "split_tracks"]


@dataclass
class Dataset:
    """Tracks with a ``split`` column and the segment features of every track.

    ``segment_split``, when set, assigns each *segment* to a side instead (the leaky random
    split of chapter 8; the tracks' ``split`` column then reads ``"mixed"``).
    """

    tracks: pd.DataFrame
    segments: dict[str, Segments]
    profile: config.Profile
    split_name: str = "track"
    segment_split: np.ndarray | None = None
    #: augmented copies added to the training side (``augment.augmented_dataset``)
    augmentations: tuple = ()

    @property
    def settings(self) -> config.FeatureSettings:
        """The feature settings of every segment here (the profile's)."""
        return self.profile.features

    def with_segments(self, segments: dict[str, Segments], **changes) -> Dataset:
        """A copy with other segments (and other fields in ``changes``), same profile."""
        return dataclasses.replace(self, segments=segments, **changes)

    def side(self, name: str, kind: str) -> Segments:
        """The segments of one kind (``"logmel"``/``"mfcc"``) on one side of the split."""
        if self.segment_split is not None:
            return self.segments[kind].subset(self.segment_split == name)
        ids = self.tracks.track_id[self.tracks.split == name]
        return self.segments[kind].for_tracks(ids)

    def has_side(self, name: str) -> bool:
        """Whether the split has a side called ``name`` (e.g. no "val" without validation)."""
        sides = self.segment_split if self.segment_split is not None else self.tracks.split
        return bool(np.any(np.asarray(sides) == name))

    def arrays(self, name: str, kinds) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """``(inputs, labels, track_ids)`` of one side, one input array per kind."""
        parts = [self.side(name, kind) for kind in kinds]
        return [p.X for p in parts], parts[0].label, parts[0].track_id

    def fit_arrays(self, kinds) -> tuple:
        """``(train_x, train_y, val_x, val_y)`` for ``train.fit`` (val None without a val side)."""
        train_x, train_y, _ = self.arrays("train", kinds)
        val_x, val_y = (None, None)
        if self.has_side("val"):
            val_x, val_y, _ = self.arrays("val", kinds)
        return train_x, train_y, val_x, val_y

    def shapes(self, kinds) -> list[tuple[int, int]]:
        """Input shape (rows, frames) of each kind."""
        return [tuple(self.segments[k].X.shape[1:]) for k in kinds]


def split_tracks(tracks: pd.DataFrame, how: str = "track", *, seed: int = config.SEED,
                 split_folder=None, **options) -> pd.DataFrame:
    """Add a ``split`` column: ``how`` is ``"track"``, ``"artist"``, ``"filtered"`` or
    ``"given"`` (keep the table's own ``split`` column, e.g. FMA's published split);
    ``options`` go to the split function (e.g. ``val=0.25, test=0.25`` for tracks)."""
    if how == "given":
        return _given_split(tracks)
    if how == "track":
        return splits.track_split(tracks, seed=seed, **options)
    if how == "artist":
        return splits.artist_split(tracks, seed=seed, **options)
    if how == "filtered":
        if split_folder is None:
            from .data import fetch

            split_folder = fetch.split_lists_folder()
        return splits.filtered_split(tracks, folder=split_folder)
    raise ValueError(f"unknown split {how!r}: choose track, artist, filtered, given or segment")


def _given_split(tracks: pd.DataFrame) -> pd.DataFrame:
    """The table's own split, checked: train, val and test only, train and test not empty."""
    if "split" not in tracks:
        raise ValueError("split='given' needs a 'split' column in the track table (e.g. "
                         "genre_lab.data.fma.load_tracks gives FMA's published split)")
    sides = tracks["split"]
    odd = sorted(set(sides.dropna()) - {"train", "val", "test"})
    if odd or sides.isna().any():
        found = ", ".join(map(repr, odd)) or "missing values"
        raise ValueError(f"split='given': the split column must hold train, val or test; "
                         f"found {found}")
    for side in ("train", "test"):
        if not (sides == side).any():
            raise ValueError(f"split='given': no {side} tracks")
    return tracks.copy()


def prepare(tracks: pd.DataFrame, *, split: str = "track", seed: int = config.SEED,
            profile: config.Profile | str | None = None, split_folder=None,
            progress: bool = True, **split_options) -> Dataset:
    """Split the tracks and compute (or load from the store) their segment features.

    Args:
        profile: sets the feature settings here and the epochs of
            ``experiment.train_model`` later (default: ``GENRE_LAB_PROFILE``).
        split: ``"track"`` (stratified by genre), ``"artist"`` (no artist on two sides),
            ``"filtered"`` (Kereliuk et al.'s fault-filtered GTZAN split), ``"given"`` (the
            table's own ``split`` column, e.g. FMA's published split) or ``"segment"``:
            3-second segments assigned at random, ignoring their tracks. The last one leaks
            (segments of one recording on both sides) and exists to measure that leak.
        split_options: e.g. ``val=0.25, test=0.25`` for the track and segment splits.
    """
    profile = config.get_profile(profile)
    genres = sorted(set(tracks["genre"]))
    if len(genres) < 2:
        raise ValueError(f"a classifier needs clips of at least two genres; these tracks have "
                         f"{len(genres)} ({', '.join(genres) or 'none'})")
    if split == "segment":
        segments = segment_features(tracks, profile.features, progress=progress)
        labels = segments["logmel"].label
        val = split_options.get("val", 0.2)
        test = split_options.get("test", 0.2)
        index = np.arange(len(labels))
        rest, test_idx = train_test_split(index, test_size=test, stratify=labels,
                                          random_state=seed)
        side = np.full(len(labels), "train", dtype=object)
        side[test_idx] = "test"
        if val:
            _, val_idx = train_test_split(rest, test_size=val / (1 - test),
                                          stratify=labels[rest], random_state=seed)
            side[val_idx] = "val"
        split_table = tracks.assign(split="mixed")
        return Dataset(split_table, segments, profile, split, side.astype(str))
    split_table = split_tracks(tracks, split, seed=seed, split_folder=split_folder,
                               **split_options)
    segments = segment_features(split_table, profile.features, progress=progress)
    return Dataset(split_table, segments, profile, split)
