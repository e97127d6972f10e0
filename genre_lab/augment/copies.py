"""Augmented copies of the training tracks, computed once and cached with their features.

Notebook: 06-augmentation.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .. import config
from ..config import FeatureSettings
from ..dataset import Dataset
from ..features.segments import KINDS, Segments, compute_segments, labels_of
from .waveform import Transform

#: Bumped when the cached layout or the computation of augmented segments changes (3: the
#: features front end's banded mel on the power spectrum, genre_lab.features.segments).
_FORMAT = 3


def _track_rng(seed: int, track_id: str, copy: int) -> np.random.Generator:
    # One stream per (seed, track, copy): a track's copies do not depend on the other
    # tracks of the table or on its order.
    words = np.frombuffer(hashlib.sha256(track_id.encode()).digest()[:16], dtype=np.uint32)
    return np.random.default_rng([int(seed), int(copy), *map(int, words)])


def augmented_segments(tracks, transform: Transform, settings: FeatureSettings | None = None,
                       *, copies: int = 1, seed: int = 0, progress: bool = True,
                       cache: bool = True) -> dict[str, Segments]:
    """Segment features of ``copies`` augmented versions of every track, computed once and
    cached.

    Notebook: 06-augmentation.

    Each clip is loaded, augmented whole (``transform(y, rng)``, one generator per seed,
    track and copy), then cut and featurised exactly as
    :func:`genre_lab.features.segments.segment_features` does. Every segment keeps its
    track's id, so augmented copies of a training track stay on the training side of any
    split. The result is kept in :mod:`genre_lab.store` under a key made of the transform's
    ``key``, ``copies``, ``seed``, the tracks' fingerprint and the feature settings.

    Args:
        tracks: a track table (usually the training tracks only).
        transform: a :class:`Transform` (e.g. ``PitchShift(steps=(-2, 2))``).
        copies: augmented versions per track.
        seed: seed of the random choices.
        settings: the features (a Dataset's ``settings``; default: the profile's).
        progress: show a progress bar while computing.
        cache: load from / save to the store.

    Returns:
        ``{"logmel": Segments, "mfcc": Segments}``: tracks in table order, for each its
        copies in order, each copy's segments in time order.
    """
    if len(tracks) == 0:
        raise ValueError("no tracks: the track table is empty")
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    key_text = getattr(transform, "key", None)
    if not isinstance(key_text, str):
        raise TypeError(f"{transform!r} has no `key`: use a genre_lab.augment.Transform")
    settings = settings or config.get_profile().features

    def versions(y, track_id):
        return [transform(y, _track_rng(seed, track_id, copy)) for copy in range(copies)]

    def compute():
        return compute_segments(tracks, settings, versions=versions, progress=progress,
                                desc=f"augment {type(transform).__name__}")

    if cache:
        import librosa
        import torch

        from .. import store

        key = dict(transform=key_text, copies=int(copies), seed=int(seed),
                   tracks=store.fingerprint(tracks), features=settings.as_dict(),
                   librosa=librosa.__version__, torch=torch.__version__, format=_FORMAT)
        arrays = store.cached_arrays("augmented", key, compute)
    else:
        arrays = compute()

    ids = np.asarray(tracks["track_id"]).astype(str)
    label_of = dict(zip(ids, labels_of(tracks), strict=True))
    labels = np.asarray([label_of[t] for t in arrays["track_id"]], dtype=np.int64)
    result = {kind: Segments(X=arrays[kind], track_id=arrays["track_id"], label=labels,
                             kind=kind) for kind in KINDS}
    # a cached entry follows the table order it was computed in: reorder for this table
    return {kind: s.for_tracks(ids) for kind, s in result.items()}


def augmented_dataset(data: Dataset, transform: Transform, *, copies: int = 1, seed: int = 0,
                      progress: bool = True, cache: bool = True) -> Dataset:
    """A copy of a :class:`~genre_lab.dataset.Dataset` whose training side also holds ``copies``
    augmented versions of each training track (validation and test sides unchanged).

    Notebook: 06-augmentation.

    The augmentation is recorded in ``Dataset.augmentations``, which is part of
    ``experiment.train_model``'s cache key, so runs on augmented and original data are
    cached apart. Calls can be chained to add several kinds of copies.

    Example:
        >>> noisy = augmented_dataset(data, GaussianNoise(snr_db=(15, 35)))
        >>> run = experiment.train_model("lenet5", noisy, TrainConfig(epochs=8))
    """
    train = data.tracks[data.tracks.split == "train"]
    extra = augmented_segments(train, transform, data.settings, copies=copies, seed=seed,
                               progress=progress, cache=cache)
    segments = {}
    for kind, original in data.segments.items():
        added = extra[kind]
        segments[kind] = Segments(np.concatenate([original.X, added.X]),
                                  np.concatenate([original.track_id, added.track_id]),
                                  np.concatenate([original.label, added.label]), kind)
    record = dict(transform=transform.key, copies=int(copies), seed=int(seed))
    return data.with_segments(segments, augmentations=(*data.augmentations, record))


def fewer_training_tracks(data: Dataset, fraction: float, *, seed: int = 0) -> Dataset:
    """A copy of a :class:`~genre_lab.dataset.Dataset` that keeps only ``fraction`` of the training
    tracks of each genre (at least one); the others are marked ``"unused"``, the
    validation and test tracks are unchanged.

    Notebook: 06-augmentation (augmentation matters most when data is scarce).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    tracks = data.tracks.copy()
    rng = np.random.default_rng(seed)
    for _, rows in tracks[tracks.split == "train"].groupby("genre", sort=True):
        keep = max(1, int(round(fraction * len(rows))))
        drop = rng.permutation(rows.index.to_numpy())[keep:]
        tracks.loc[drop, "split"] = "unused"
    return data.with_segments(data.segments, tracks=tracks,
                              split_name=f"{data.split_name}, {fraction:g} of train")
