"""Orchestration: train a model by name on a dataset (cached), over seeds, best of several.

::

    data = dataset.prepare(load_tracks(), split="track")
    run = train_model("cnn64", data)
    run.result["track_accuracy"]

The chapters, the ``genre-lab train`` command and the benchmarks all go through here, so a
model is trained the same way everywhere.

Notebook: 04-spectrogram-cnns onwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from . import catalog, checkpoint, config, models, store
from .dataset import Dataset, prepare, split_tracks
from .evaluate import evaluate, seed_verdicts
from .train import History, TrainConfig, fit, predict_logits, seed_everything

__all__ = ["RECIPES", "Distillation", "Run", "best_of", "comparison_table", "over_seeds",
           "prepare", "recipe", "seed_summary", "split_tracks", "train_model", "weights_hash"]

#: How a model trains until validation stops improving, chosen from measured validation
#: curves (``python benchmarks/convergence.py``; benchmarks/convergence.md): ``epochs`` as
#: a multiple of the profile's epochs, the rest as in :class:`TrainConfig`. The cheap models
#: (a fraction of a second an epoch on the quick profile) train long with early stopping;
#: the ResNet, several seconds an epoch, gets a one-cycle schedule, which ends on a plateau
#: in fewer epochs. Other models train for the profile's epochs.
_EARLY_STOPPING = dict(epochs=6, patience=10)
RECIPES = {
    **{name: _EARLY_STOPPING for name in ("mlp", "lenet5", "lstm", "cnn1d", "crnn", "fusion")},
    "resnet": dict(epochs=1.5, lr=3e-3, schedule="onecycle"),
}


def recipe(name: str, profile=None, **changes) -> TrainConfig:
    """The :class:`TrainConfig` the course trains model ``name`` with on ``profile`` (default:
    ``GENRE_LAB_PROFILE``), with ``changes`` applied (e.g. ``seed=1``)."""
    profile = config.get_profile(profile)
    options = dict(RECIPES.get(name, {}))
    epochs = max(1, round(options.pop("epochs", 1) * profile.epochs))
    return dataclasses.replace(TrainConfig(epochs=epochs, **options), **changes)


@dataclass
class Run:
    """A trained model with its history and its test-set evaluation (``cached``: loaded
    from the store, so ``history.seconds`` is the time of the run that trained it).
    ``validation`` is the same evaluation on the validation side (None without one): what a
    choice between runs may look at, per segment and per track."""

    name: str
    model: models.Classifier
    history: History
    config: TrainConfig
    result: dict
    logits: np.ndarray
    labels: np.ndarray
    track_ids: np.ndarray
    cached: bool = False
    validation: dict | None = None


@dataclass(frozen=True)
class Distillation:
    """Train a student on a teacher's softened logits as well as the labels (Hinton et al.
    2015; see ``train.distillation_loss``).

    Attributes:
        teacher: a trained model, or a :class:`Run`.
        temperature: softens both logit vectors (> 1 shows more of the teacher's "dark
            knowledge").
        alpha: weight of the teacher's term against the true labels'.
    """

    teacher: object
    temperature: float = 4.0
    alpha: float = 0.5

    @property
    def model(self):
        return getattr(self.teacher, "model", self.teacher)

    def key(self) -> dict:
        return dict(teacher=weights_hash(self.model), temperature=self.temperature,
                    alpha=self.alpha)


def weights_hash(model) -> str:
    """A hash of a model's weights and buffers (a teacher's identity in cache keys)."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _run_key(name: str, data: Dataset, cfg: TrainConfig, options: dict, tag,
             distill: Distillation | None) -> dict:
    import torch

    assignment = sorted(zip(data.tracks.track_id, data.tracks.split, strict=True))
    if data.segment_split is not None:
        assignment = hashlib.sha256("".join(data.segment_split).encode()).hexdigest()
    # what cannot change the weights stays out of the key: the device (as the cache is per
    # machine), the loader's workers, and mixed precision left to its device default; a
    # constant learning rate, the default, too (models trained before schedules keep theirs)
    config = {k: v for k, v in asdict(cfg).items()
              if k != "num_workers" and not (k == "amp" and v is None)
              and not (k == "schedule" and v == "constant")}
    return dict(name=name, options=options, config={**config, "device": None},
                tracks=store.fingerprint(data.tracks), split=assignment,
                features=data.settings.as_dict(), augmentations=data.augmentations, tag=tag,
                distillation=distill.key() if distill else None, torch=torch.__version__)


def train_model(name: str, data: Dataset, train_config: TrainConfig | None = None, *,
                distill: Distillation | None = None, batch_transform=None,
                cache: bool = True, cache_tag: str | None = None, progress: bool = True,
                **options) -> Run:
    """Build the model ``name`` (``options`` go to its constructor), fit it on the train side
    (validation side for early stopping and best-epoch restore), evaluate it on the test side.

    Training is deterministic, so a trained model is kept in the store (a checkpoint keyed by
    the model, its options, the config, the data, the split and the feature settings): a
    later chapter asking for the same run loads it in milliseconds instead of training it
    again. A ``batch_transform`` is part of the key through its ``key`` attribute
    (genre_lab's augmentations have one) or an explicit ``cache_tag``; without either, no
    caching.

    Args:
        train_config: default: the model's :func:`recipe` for the dataset's profile.
        distill: learn from a teacher as well (:class:`Distillation`).
    """
    cfg = train_config or recipe(name, data.profile)
    kinds = catalog.input_kinds(name)
    test_x, test_y, test_ids = data.arrays("test", kinds)
    cache_tag = cache_tag or getattr(batch_transform, "key", None)
    path = None
    if cache and (batch_transform is None or cache_tag):
        path = store.model_path(name, _run_key(name, data, cfg, options, cache_tag, distill))

    def train() -> tuple[models.Classifier, History]:
        seed_everything(cfg.seed)  # the initial weights depend on the seed only
        model = models.build(name, data.shapes(kinds), **options)
        train_x, train_y, val_x, val_y = data.fit_arrays(kinds)
        soft = None if distill is None else predict_logits(distill.model, train_x)
        history = fit(model, train_x, train_y, val_x, val_y, cfg,
                      batch_transform=batch_transform, teacher_logits=soft,
                      temperature=distill.temperature if distill else 4.0,
                      alpha=distill.alpha if distill else 0.5, progress=progress)
        return model, history

    saved = None
    if path is None:
        model, history = train()
    else:
        with store.locked(path):
            if path.is_file():
                try:
                    saved = checkpoint.load(path)
                except (checkpoint.CheckpointError, OSError) as err:
                    import warnings

                    warnings.warn(f"{err}; training again", stacklevel=2)
            if saved is not None:
                model, history = saved.model, History(**saved.history)
            else:
                model, history = train()
                checkpoint.save(model, path, settings=data.settings, history=history,
                                train_config=cfg, info=dict(
                                    distillation=distill.key() if distill else None))
    logits = predict_logits(model, test_x)
    result = evaluate(logits, test_y, test_ids)
    validation = None
    if data.has_side("val"):
        val_x, val_y, val_ids = data.arrays("val", kinds)
        validation = evaluate(predict_logits(model, val_x), val_y, val_ids)
    label = name if distill is None else f"{name} (distilled)"
    return Run(label, model, history, cfg, result, logits, test_y, test_ids,
               cached=saved is not None, validation=validation)


def over_seeds(name: str, data, train_config: TrainConfig | None = None, *,
               seeds=None, **kwargs) -> list[Run]:
    """:func:`train_model` once per training seed (``TrainConfig.seed``).

    Args:
        data: a :class:`Dataset`, or a function ``seed -> Dataset`` for a new split per seed.
        seeds: default ``range(profile.seeds)``.
        kwargs: go to :func:`train_model` (options, ``batch_transform``, ``progress`` ...).
    """
    make = data if callable(data) else (lambda seed: data)
    if seeds is None or train_config is None:
        profile = make(0).profile
        seeds = range(profile.seeds) if seeds is None else seeds
        train_config = train_config or recipe(name, profile)
    return [train_model(name, make(seed), dataclasses.replace(train_config, seed=seed),
                        **kwargs) for seed in seeds]


def seed_summary(runs: dict[str, list[Run]], reference: str | None = None, *,
                 on: str = "test") -> pd.DataFrame:
    """One row per condition of ``{condition: over_seeds(...)}``: the number of seeds and the
    mean and standard deviation of segment and track accuracy; with ``reference``, a
    ``verdict`` column on segments (``evaluate.seed_verdicts``: better/worse only beyond the
    spreads).

    Args:
        on: ``"validation"``: the validation side (the epoch each run kept), what a choice
            between conditions may look at; ``"test"``: the test side, to report a choice
            once it is made.
    """
    if on not in ("validation", "test"):
        raise ValueError(f"on must be 'validation' or 'test', not {on!r}")
    rows = []
    for condition, condition_runs in runs.items():
        for run in condition_runs:
            side = run.result if on == "test" else run.validation
            if side is None:
                raise ValueError(f"{condition}: the run has no validation side")
            rows.append(dict(condition=condition, seed=run.config.seed,
                             segment=side["segment_accuracy"],
                             track=side.get("track_accuracy", np.nan)))
    table = pd.DataFrame(rows).groupby("condition", sort=False).agg(
        seeds=("seed", "nunique"), mean=("segment", "mean"), std=("segment", "std"),
        track_mean=("track", "mean"), track_std=("track", "std"))
    table.index.name = None
    if reference is not None:
        table["verdict"] = seed_verdicts(table["mean"], table["std"], reference)
    return table


def comparison_table(runs: dict[str, Run]) -> pd.DataFrame:
    """One row per run: model, input kinds, parameters, training seconds, whether the model
    was loaded from the store (``cached``: its seconds are then those of the run that
    trained it), last training accuracy, best validation accuracy (the epoch kept) and test
    accuracy per segment and per track (mean of logits, majority vote)."""
    rows = [{"model": run.name, "input": " + ".join(run.model.kinds),
             "parameters": int(models.count_parameters(run.model)),
             "seconds": run.history.seconds, "cached": run.cached,
             "train acc (last)": run.history.train_accuracy[-1],
             "val acc (best)": max(run.history.val_accuracy, default=np.nan),
             "test segment acc": run.result["segment_accuracy"],
             "test track acc": run.result["track_accuracy"],
             "test track acc (vote)": run.result["track_accuracy_vote"]}
            for run in runs.values()]
    return pd.DataFrame.from_records(rows, index=list(runs))


def best_of(names, data: Dataset, train_config: TrainConfig | None = None,
            **kwargs) -> Run:
    """Train (or load from the store) each model and return the best by validation
    accuracy: model selection never looks at the test side."""
    runs = [train_model(name, data, train_config, **kwargs) for name in names]
    return max(runs, key=lambda run: max(run.history.val_accuracy))
