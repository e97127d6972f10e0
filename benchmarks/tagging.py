"""A small multi-label tagger trained from scratch on the synthetic set: per-tag and macro
ROC-AUC / PR-AUC on the test tracks (mean of the segments' tag probabilities), over seeds.

    python benchmarks/tagging.py                        # cnn64, quick profile, seeds 0 1 2
    python benchmarks/tagging.py --model lenet5 --seeds 0 1 2 3 4

Beside the tagger, a reference that knows only each test track's true genre: it scores a tag
by its prevalence among the training tracks of that genre. A tagger far above it hears the
tags themselves, not just the genre.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
import torch

from genre_lab import config, evaluate, models, train
from genre_lab.data import load_tracks
from genre_lab.data.tags import TAGS, track_tags
from genre_lab.dataset import prepare


def genre_reference(data, tags: pd.DataFrame) -> pd.DataFrame:
    """Per-tag metrics of scoring each test track by its genre's training prevalence."""
    tracks = data.tracks
    train_side = tracks.split == "train"
    by_genre = tags[train_side.to_numpy()].groupby(tracks.genre[train_side].to_numpy()).mean()
    test = tracks[tracks.split == "test"]
    scores = by_genre.loc[test.genre].to_numpy()
    return evaluate.tag_metrics(tags.loc[test.track_id], scores)


def run(data, tags: pd.DataFrame, name: str, seed: int, epochs: int) -> tuple[pd.DataFrame, float]:
    kinds = list(models.REGISTRY[name][1])
    target = lambda ids: tags.loc[ids].to_numpy(np.float32)  # noqa: E731
    train_x, _, train_ids = data.arrays("train", kinds)
    val_x, _, val_ids = data.arrays("val", kinds)
    test_x, _, test_ids = data.arrays("test", kinds)
    start = time.perf_counter()
    train.seed_everything(seed)
    model = models.build(name, data.shapes(kinds), n_classes=len(TAGS))
    train.fit(model, train_x, target(train_ids), val_x, target(val_ids),
              train.TrainConfig(epochs=epochs, seed=seed), multilabel=True, progress=False)
    probs = 1 / (1 + np.exp(-train.predict_logits(model, test_x).astype(np.float64)))
    ids, scores = evaluate.track_means(probs, test_ids)
    seconds = time.perf_counter() - start
    return evaluate.tag_metrics(tags.loc[ids], scores), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--model", default="cnn64")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    args = parser.parse_args()
    profile = config.get_profile(args.profile)
    epochs = args.epochs or profile.epochs
    start = time.perf_counter()
    data = prepare(load_tracks(profile=profile.name, progress=False), profile=profile,
                   progress=False)
    tags = track_tags(data.tracks)
    prepared = time.perf_counter() - start
    sides = data.tracks.split.value_counts().to_dict()
    print(f"{profile.name} profile, {args.model}, {epochs} epochs, seeds {args.seeds}; "
          f"tracks {sides}; torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{platform.processor() or platform.machine()}; data ready in {prepared:.1f} s")
    tables, seconds = [], []
    for seed in args.seeds:
        table, s = run(data, tags, args.model, seed, epochs)
        tables.append(table)
        seconds.append(s)
        print(f"seed {seed}: macro ROC-AUC {table.roc_auc['macro']:.3f}, PR-AUC "
              f"{table.pr_auc['macro']:.3f} ({s:.1f} s)")
    stacked = pd.concat(tables, keys=args.seeds)
    mean = stacked.groupby(level=1, sort=False).mean()
    std = stacked.groupby(level=1, sort=False).std(ddof=1)
    ref = genre_reference(data, tags)
    report = pd.DataFrame({
        "prevalence": mean.prevalence,
        "roc_auc": [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean.roc_auc, std.roc_auc, strict=True)],
        "pr_auc": [f"{m:.3f} ± {s:.3f}" for m, s in zip(mean.pr_auc, std.pr_auc, strict=True)],
        "genre_ref_roc": ref.roc_auc.reindex(mean.index),
        "genre_ref_pr": ref.pr_auc.reindex(mean.index),
    })
    print(report.round(3).to_string())
    spread = np.std(seconds, ddof=1) if len(seconds) > 1 else 0.0
    print(f"training + test scoring per seed: {np.mean(seconds):.1f} ± {spread:.1f} s; "
          f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
