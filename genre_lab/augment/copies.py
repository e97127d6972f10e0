"""Augmented copies of the training tracks, computed once and cached with their features.

Notebook: 06-augmentation.
"""

from __future__ import annotations

import dataclasses
import hashlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import GENRES, audio
from ..config import SAMPLE_RATE
from ..segments import KINDS, Segments
from .waveform import Transform

#: Bumped when the cached layout or the computation of augmented segments changes.
_FORMAT = 1
#: The feature parameters of ``segments.signal_features`` (a Dataset's feature_params may
#: hold more, e.g. the augmentations applied).
_FEATURE_KEYS = ("seconds", "n_mels", "n_mfcc", "n_fft", "hop_length")


def _track_rng(seed: int, track_id: str, copy: int) -> np.random.Generator:
    # One stream per (seed, track, copy): a track's copies do not depend on the other
    # tracks of the table or on its order.
    words = np.frombuffer(hashlib.sha256(track_id.encode()).digest()[:16], dtype=np.uint32)
    return np.random.default_rng([int(seed), int(copy), *map(int, words)])


def _labels(tracks) -> np.ndarray:
    if "label" in tracks:
        return tracks["label"].to_numpy(dtype=np.int64)
    return np.asarray([GENRES.index(g) for g in tracks["genre"]], dtype=np.int64)


def _augment_track(path, track_id, transform, copies, seed, params):
    from ..segments import signal_features

    y = audio.load(path, sr=SAMPLE_RATE)
    out = []
    for copy in range(copies):
        out.append(signal_features(transform(y, _track_rng(seed, track_id, copy)), **params))
    return out


def _compute(tracks, transform, copies, seed, params, progress):
    import torch
    from tqdm.auto import tqdm

    ids = np.asarray(tracks["track_id"]).astype(str)
    paths = list(tracks["path"])

    def init():
        torch.set_num_threads(1)  # this worker thread only (see segments._compute)

    arrays = {kind: [] for kind in KINDS}
    seg_ids, copy_index = [], []
    with tqdm(total=len(ids), unit="clip", desc=f"augment {type(transform).__name__}",
              disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads()),
                               initializer=init) as pool:
        futures = [pool.submit(_augment_track, p, t, transform, copies, seed, params)
                   for p, t in zip(paths, ids, strict=True)]
        try:
            for track_id, future in zip(ids, futures, strict=True):
                for copy, feats in enumerate(future.result()):
                    for kind in KINDS:
                        arrays[kind].append(feats[kind])
                    n = len(feats[KINDS[0]])
                    seg_ids += [track_id] * n
                    copy_index += [copy] * n
                bar.update()
        finally:
            for future in futures:  # after an error or Ctrl-C, start no more
                future.cancel()
    out = {kind: np.concatenate(v).astype(np.float32) for kind, v in arrays.items()}
    return dict(out, track_id=np.asarray(seg_ids, dtype=str),
                copy=np.asarray(copy_index, dtype=np.int64))


def augmented_segments(tracks, transform: Transform, *, copies: int = 1, seed: int = 0,
                       seconds: float = 3.0, n_mels: int = 128, n_mfcc: int = 20,
                       n_fft: int = 2048, hop_length: int = 512, progress: bool = True,
                       cache: bool = True) -> dict[str, Segments]:
    """Segment features of ``copies`` augmented versions of every track, computed once and
    cached.

    Notebook: 06-augmentation.

    Each clip is loaded, augmented whole (``transform(y, rng)``, one generator per seed,
    track and copy), then cut and featurised exactly as :func:`genre_lab.segments.
    segment_features` does. Every segment keeps its track's id, so augmented copies of a
    training track stay on the training side of any split. The result is cached
    (``GENRE_LAB_CACHE``/features, written atomically) under a key made of the transform's
    ``key``, ``copies``, ``seed``, the tracks' fingerprint and the feature parameters.

    Args:
        tracks: a track table (usually the training tracks only).
        transform: a :class:`Transform` (e.g. ``PitchShift(steps=(-2, 2))``).
        copies: augmented versions per track.
        seed: seed of the random choices.
        seconds, n_mels, n_mfcc, n_fft, hop_length: the feature parameters (a Dataset's
            ``feature_params``).
        progress: show a progress bar while computing.
        cache: load from / save to the on-disk cache.

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
    params = dict(seconds=float(seconds), n_mels=int(n_mels), n_mfcc=int(n_mfcc),
                  n_fft=int(n_fft), hop_length=int(hop_length))

    def compute():
        return _compute(tracks, transform, copies, seed, params, progress)

    if cache:
        import librosa
        import torch

        from ..cache import cached_arrays, fingerprint

        key = dict(transform=key_text, copies=int(copies), seed=int(seed),
                   tracks=fingerprint(tracks), features=params, sr=SAMPLE_RATE,
                   librosa=librosa.__version__, torch=torch.__version__, format=_FORMAT)
        arrays = cached_arrays("augmented", key, compute)
    else:
        arrays = compute()

    ids = np.asarray(tracks["track_id"]).astype(str)
    label_of = dict(zip(ids, _labels(tracks), strict=True))
    labels = np.asarray([label_of[t] for t in arrays["track_id"]], dtype=np.int64)
    result = {kind: Segments(X=arrays[kind], track_id=arrays["track_id"], label=labels,
                             kind=kind) for kind in KINDS}
    # a cached entry follows the table order it was computed in: reorder for this table
    return {kind: s.for_tracks(ids) for kind, s in result.items()}


def augmented_dataset(data, transform: Transform, *, copies: int = 1, seed: int = 0,
                      progress: bool = True, cache: bool = True):
    """A copy of an ``experiment.Dataset`` whose training side also holds ``copies``
    augmented versions of each training track (validation and test sides unchanged).

    Notebook: 06-augmentation.

    The augmentation is recorded in ``feature_params["augment"]``, which is part of
    ``experiment.train_model``'s cache key, so runs on augmented and original data are
    cached apart. Calls can be chained to add several kinds of copies.

    Example:
        >>> noisy = augmented_dataset(data, GaussianNoise(snr_db=(15, 35)))
        >>> run = experiment.train_model("lenet5", noisy, TrainConfig(epochs=8))
    """
    train = data.tracks[data.tracks.split == "train"]
    params = {k: data.feature_params[k] for k in _FEATURE_KEYS if k in data.feature_params}
    extra = augmented_segments(train, transform, copies=copies, seed=seed, progress=progress,
                               cache=cache, **params)
    segments = {}
    for kind, original in data.segments.items():
        added = extra[kind]
        segments[kind] = Segments(np.concatenate([original.X, added.X]),
                                  np.concatenate([original.track_id, added.track_id]),
                                  np.concatenate([original.label, added.label]), kind)
    record = dict(transform=transform.key, copies=int(copies), seed=int(seed))
    feature_params = dict(data.feature_params,
                          augment=[*data.feature_params.get("augment", []), record])
    return dataclasses.replace(data, segments=segments, feature_params=feature_params)


def fewer_training_tracks(data, fraction: float, *, seed: int = 0):
    """A copy of an ``experiment.Dataset`` that keeps only ``fraction`` of the training
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
    return dataclasses.replace(data, tracks=tracks,
                               split_name=f"{data.split_name}, {fraction:g} of train")
