"""Metrics: segment and track accuracy, per-class scores, confusion, bootstrap intervals and
paired tests.

A model sees 3-second segments; a listener judges a whole track. Track predictions
aggregate a track's segments, by the mean of their logits or by a majority vote.

Notebook: 03-classical-baselines onwards; 08-evaluation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix

from . import GENRES


def aggregate_tracks(logits, track_ids, labels, *, method: str = "mean"):
    """One prediction per track from its segments' logits.

    Args:
        logits: (n_segments, n_classes) scores.
        track_ids: (n_segments,) track of each segment.
        labels: (n_segments,) true class of each segment (constant within a track).
        method: ``"mean"`` (argmax of the mean logits) or ``"vote"`` (majority of segment
            argmaxes; ties go to the class with the larger mean logit).

    Returns:
        ``(track_ids, predicted, true)`` arrays, tracks in order of first appearance.
    """
    logits = np.asarray(logits, dtype=np.float64)
    ids, first, inverse = np.unique(np.asarray(track_ids), return_index=True,
                                    return_inverse=True)
    order = np.argsort(first)
    n_tracks, n_classes = len(ids), logits.shape[1]
    sums = np.zeros((n_tracks, n_classes))
    np.add.at(sums, inverse, logits)
    counts = np.bincount(inverse, minlength=n_tracks)[:, None]
    mean = sums / counts
    if method == "mean":
        predicted = mean.argmax(axis=1)
    elif method == "vote":
        votes = np.zeros((n_tracks, n_classes))
        np.add.at(votes, (inverse, logits.argmax(axis=1)), 1)
        # break ties by the mean logit: add a fraction smaller than one vote
        span = np.ptp(mean, axis=1, keepdims=True) + 1e-12
        predicted = (votes + 0.5 * (mean - mean.min(axis=1, keepdims=True)) / span).argmax(1)
    else:
        raise ValueError(f"method must be 'mean' or 'vote', not {method!r}")
    true = np.zeros(n_tracks, dtype=np.int64)
    true[inverse] = np.asarray(labels)
    return ids[order], predicted[order], true[order]


def evaluate(logits, labels, track_ids=None, *, genres=GENRES) -> dict:
    """Everything a chapter reports about a model on one split.

    Returns:
        dict with ``segment_accuracy``, ``track_accuracy`` (mean of logits),
        ``track_accuracy_vote``, ``per_class`` (precision/recall/f1/support per genre, on
        tracks when track ids are given, else segments), ``confusion`` (list of lists, rows =
        true genre), ``labels`` (genre names), ``n_segments`` and ``n_tracks``.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    result = dict(segment_accuracy=float(np.mean(logits.argmax(1) == labels)),
                  n_segments=int(len(labels)), labels=list(genres))
    true, predicted = labels, logits.argmax(1)
    if track_ids is not None:
        _, predicted, true = aggregate_tracks(logits, track_ids, labels, method="mean")
        _, voted, _ = aggregate_tracks(logits, track_ids, labels, method="vote")
        result.update(track_accuracy=float(np.mean(predicted == true)),
                      track_accuracy_vote=float(np.mean(voted == true)),
                      n_tracks=int(len(true)))
    classes = list(range(len(genres)))
    report = classification_report(true, predicted, labels=classes, target_names=list(genres),
                                   output_dict=True, zero_division=0)
    result["per_class"] = {g: {k: float(v) for k, v in report[g].items()} for g in genres}
    result["confusion"] = confusion_matrix(true, predicted, labels=classes).tolist()
    return result


def seed_verdicts(means: pd.Series, stds: pd.Series, reference) -> pd.Series:
    """Compare conditions run over several seeds with the row ``reference``.

    A condition is ``"better"`` or ``"worse"`` only when the two mean ± std intervals do not
    overlap (the means differ by more than the sum of the standard deviations); otherwise it
    is ``"within seed spread"``. The reference row itself is ``"reference"``.
    """
    diff = means - means[reference]
    spread = stds + stds[reference]
    out = pd.Series(np.select([diff > spread, diff < -spread], ["better", "worse"],
                              "within seed spread"), index=means.index)
    out[reference] = "reference"
    return out


def bootstrap_ci(correct, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap confidence interval of an accuracy.

    Args:
        correct: per-item 0/1 outcomes (e.g. per test track).

    Returns:
        ``(accuracy, low, high)``.
    """
    correct = np.asarray(correct, dtype=float)
    rng = np.random.default_rng(seed)
    means = rng.choice(correct, size=(n_boot, len(correct)), replace=True).mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(correct.mean()), float(low), float(high)


def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's exact test of two classifiers on the same items.

    Returns:
        dict with ``a_only`` and ``b_only`` (items only one model gets right) and the two-sided
        exact ``p_value`` (binomial test on the discordant pairs).
    """
    from scipy.stats import binomtest

    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = a_only + b_only
    p = 1.0 if n == 0 else binomtest(a_only, n, 0.5).pvalue
    return dict(a_only=a_only, b_only=b_only, p_value=float(p))
