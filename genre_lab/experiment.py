"""An experiment in three calls: prepare a split dataset, train a model by name, evaluate it.

::

    data = prepare(load_tracks(), split="track")
    run = train_model("cnn64", data)
    run.result["track_accuracy"]

The chapters, the ``genre-lab train`` command and the benchmarks all go through here, so a
model is trained the same way everywhere.

Notebook: 04-spectrogram-cnns onwards.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from . import config, models
from .data import splits
from .evaluate import evaluate
from .segments import Segments, segment_features
from .train import History, TrainConfig, fit, predict_logits, seed_everything


@dataclass
class Dataset:
    """Tracks with a ``split`` column and the segment features of every track.

    ``segment_split``, when set, assigns each *segment* to a side instead (the leaky random
    split of chapter 8; the tracks' ``split`` column then reads ``"mixed"``).
    """

    tracks: pd.DataFrame
    segments: dict[str, Segments]
    feature_params: dict = field(default_factory=dict)
    split_name: str = "track"
    segment_split: np.ndarray | None = None

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

    def shapes(self, kinds) -> list[tuple[int, int]]:
        """Input shape (rows, frames) of each kind."""
        return [tuple(self.segments[k].X.shape[1:]) for k in kinds]


def feature_params(profile: config.Profile | str | None = None) -> dict:
    """The segment feature parameters of a profile (see ``config.Profile``)."""
    if not isinstance(profile, config.Profile):
        profile = config.get_profile(profile)
    return dict(seconds=3.0, n_mels=profile.n_mels, n_mfcc=20, n_fft=2048,
                hop_length=profile.hop_length)


def split_tracks(tracks: pd.DataFrame, how: str = "track", *, seed: int = config.SEED,
                 split_folder=None, **options) -> pd.DataFrame:
    """Add a ``split`` column: ``how`` is ``"track"``, ``"artist"`` or ``"filtered"``;
    ``options`` go to the split function (e.g. ``val=0.25, test=0.25`` for tracks)."""
    if how == "track":
        return splits.track_split(tracks, seed=seed, **options)
    if how == "artist":
        return splits.artist_split(tracks, seed=seed, **options)
    if how == "filtered":
        if split_folder is None:
            from .data import fetch

            split_folder = fetch.split_lists_folder()
        return splits.filtered_split(tracks, folder=split_folder)
    raise ValueError(f"unknown split {how!r}: choose track, artist, filtered or segment")


def prepare(tracks: pd.DataFrame, *, split: str = "track", seed: int = config.SEED,
            profile: str | None = None, split_folder=None, progress: bool = True,
            **split_options) -> Dataset:
    """Split the tracks and compute (or load from the cache) their segment features.

    Args:
        split: ``"track"`` (stratified by genre), ``"artist"`` (no artist on two sides),
            ``"filtered"`` (Kereliuk et al.'s fault-filtered GTZAN split) or ``"segment"``:
            3-second segments assigned at random, ignoring their tracks. The last one leaks
            (segments of one recording on both sides) and exists to measure that leak.
        split_options: e.g. ``val=0.25, test=0.25`` for the track and segment splits.
    """
    params = feature_params(profile)
    if split == "segment":
        segments = segment_features(tracks, progress=progress, **params)
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
        return Dataset(split_table, segments, params, split, side.astype(str))
    split_table = split_tracks(tracks, split, seed=seed, split_folder=split_folder,
                               **split_options)
    segments = segment_features(split_table, progress=progress, **params)
    return Dataset(split_table, segments, params, split)


@dataclass
class Run:
    """A trained model with its history and its test-set evaluation."""

    name: str
    model: models.Classifier
    history: History
    config: TrainConfig
    result: dict
    logits: np.ndarray
    labels: np.ndarray
    track_ids: np.ndarray


def weights_hash(model) -> str:
    """A hash of a model's weights and buffers (a teacher's identity in cache keys)."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _run_key(name: str, data: Dataset, cfg: TrainConfig, options: dict, tag,
             distillation=None) -> str:
    import torch

    from . import __version__
    from .cache import fingerprint

    assignment = sorted(zip(data.tracks.track_id, data.tracks.split, strict=True))
    if data.segment_split is not None:
        assignment = hashlib.sha256("".join(data.segment_split).encode()).hexdigest()
    key = dict(name=name, options=options, config={**asdict(cfg), "device": None},
               tracks=fingerprint(data.tracks), split=assignment, features=data.feature_params,
               tag=tag, distillation=distillation, torch=torch.__version__,
               genre_lab=__version__)
    text = json.dumps(key, sort_keys=True, default=str)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def train_model(name: str, data: Dataset, config_: TrainConfig | None = None, *,
                batch_transform=None, teacher=None, temperature: float = 4.0,
                alpha: float = 0.5, cache: bool = True, cache_tag: str | None = None,
                progress: bool = True, **options) -> Run:
    """Build the model ``name`` (``options`` go to its constructor), fit it on the train side
    (validation side for early stopping and best-epoch restore), evaluate it on the test side.

    Training is deterministic, so a trained model is cached (``GENRE_LAB_CACHE``/models,
    keyed by the model, its options, the config, the data and the split): a later chapter
    asking for the same run loads it in milliseconds instead of training it again. A
    ``batch_transform`` is part of the key through its ``key`` attribute (genre_lab's
    augmentations have one) or an explicit ``cache_tag``; without either, no caching.

    Args:
        teacher: a trained model or :class:`Run` to distil from (Hinton et al. 2015): the
            student learns from its logits softened by ``temperature``, weighted by
            ``alpha`` against the true labels (see ``train.distillation_loss``).
    """
    from filelock import FileLock

    from . import train as training
    from .config import cache_dir

    cfg = config_ or TrainConfig(epochs=config.get_profile().epochs)
    kinds = models.input_kinds(name)
    test_x, test_y, test_ids = data.arrays("test", kinds)
    teacher_model = getattr(teacher, "model", teacher)
    distillation = None
    if teacher_model is not None:
        distillation = dict(teacher=weights_hash(teacher_model), temperature=temperature,
                            alpha=alpha)
    cache_tag = cache_tag or getattr(batch_transform, "key", None)
    folder = None
    if cache and (batch_transform is None or cache_tag):
        folder = cache_dir() / "models" / _run_key(name, data, cfg, options, cache_tag,
                                                   distillation)
        folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock") if folder else nullcontext():
        if folder and (folder / "metrics.json").is_file():
            model = training.load(folder)
            history = History(**json.loads((folder / "metrics.json").read_text())["history"])
        else:
            seed_everything(cfg.seed)  # the initial weights depend on the seed only
            model = models.build(name, data.shapes(kinds), **options)
            train_x, train_y, _ = data.arrays("train", kinds)
            val_x, val_y = (None, None)
            if data.has_side("val"):
                val_x, val_y, _ = data.arrays("val", kinds)
            soft = None if teacher_model is None else predict_logits(teacher_model, train_x)
            history = fit(model, train_x, train_y, val_x, val_y, cfg,
                          batch_transform=batch_transform, teacher_logits=soft,
                          temperature=temperature, alpha=alpha, progress=progress)
            if folder:
                training.save(model, folder, history=history, config=cfg,
                              extra=dict(distillation=distillation))
    logits = predict_logits(model, test_x)
    result = evaluate(logits, test_y, test_ids)
    label = name if teacher_model is None else f"{name} (distilled)"
    return Run(label, model, history, cfg, result, logits, test_y, test_ids)


def best_of(names, data: Dataset, config_: TrainConfig | None = None, **kwargs) -> Run:
    """Train (or load from the cache) each model and return the best by validation
    accuracy: model selection never looks at the test side."""
    runs = [train_model(name, data, config_, **kwargs) for name in names]
    return max(runs, key=lambda run: max(run.history.val_accuracy))
