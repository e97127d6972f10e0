"""Metrics: segment and track accuracy, per-class scores, confusion, bootstrap intervals,
paired tests, and ROC-AUC / PR-AUC for multi-label tagging.

A model sees 3-second segments; a listener judges a whole track. Track predictions
aggregate a track's segments, by the mean of their logits or by a majority vote.

Notebook: 03-classical-baselines onwards; 08-evaluation; 09 (pretrained networks and
tagging).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    classification_report,
    confusion_matrix,
    roc_auc_score,
)

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


def most_confused(confusion) -> tuple[int, int, int]:
    """The largest off-diagonal cell of a confusion matrix (rows = true classes).

    Notebook: 03-classical-baselines, 04-spectrogram-cnns (the pair to listen to).

    Returns:
        ``(true, predicted, count)``: class indices and how many items of ``true`` were
        predicted as ``predicted``; ties go to the first cell in row-major order.
    """
    m = np.asarray(confusion)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(f"expected a square confusion matrix of 2 classes or more, "
                         f"got shape {m.shape}")
    off = np.where(np.eye(len(m), dtype=bool), -1, m)
    true, predicted = np.unravel_index(int(np.argmax(off)), m.shape)
    return int(true), int(predicted), int(m[true, predicted])


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


def track_means(scores, track_ids):
    """The mean of each track's segment scores (e.g. tag probabilities).

    Notebook: 04-spectrogram-cnns (a genre's most typical test track), 09 (pretrained
    networks and tagging).

    Args:
        scores: (n_segments, n_columns) scores.
        track_ids: (n_segments,) track of each segment.

    Returns:
        ``(track_ids, means)``: tracks in order of first appearance, (n_tracks, n_columns).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(scores) != len(track_ids):
        raise ValueError(f"scores must be (n_segments, n_columns) with one row per track id, "
                         f"got shape {scores.shape} for {len(track_ids)} track ids")
    ids, first, inverse = np.unique(np.asarray(track_ids), return_index=True,
                                    return_inverse=True)
    sums = np.zeros((len(ids), scores.shape[1]))
    np.add.at(sums, inverse, scores)
    means = sums / np.bincount(inverse, minlength=len(ids))[:, None]
    order = np.argsort(first)
    return ids[order], means[order]


def tag_metrics(y_true, scores, tags=None) -> pd.DataFrame:
    """Per-tag ranking metrics of a multi-label tagger, plus their macro average.

    Notebook: 04-spectrogram-cnns (a genre's most typical test track), 09 (pretrained
    networks and tagging).

    Both metrics ask how well the scores rank the clips that have a tag above those that do
    not, at every threshold, so any monotonic score works (logits or probabilities):

    * ``roc_auc`` (scikit-learn's ``roc_auc_score``): the chance that a random positive clip
      scores above a random negative one. Chance level 0.5, whatever the prevalence;
      constant scores ("predict nothing") give exactly 0.5.
    * ``pr_auc``: average precision (``average_precision_score``), the area under the
      precision-recall curve. Chance level is the tag's prevalence, so a rare tag's PR-AUC
      must be read against its ``prevalence`` column.

    A tag whose ``y_true`` column has no positive, or no negative, has no ranking to judge: it
    gets NaN in both metrics and is left out of the ``"macro"`` row, which averages the other
    tags (its ``prevalence`` is the mean prevalence of those same tags: the macro PR-AUC of
    chance).

    Args:
        y_true: (n_items, n_tags) 0/1 truth, an array or a DataFrame.
        scores: (n_items, n_tags) finite scores, higher meaning more likely.
        tags: the tag names (default: ``y_true``'s columns if it is a DataFrame, else
            ``tag0``, ``tag1``, ...).

    Returns:
        A DataFrame indexed by tag, then ``"macro"``, with columns ``prevalence``,
        ``roc_auc`` and ``pr_auc``.
    """
    if tags is None:
        tags = (list(y_true.columns) if isinstance(y_true, pd.DataFrame)
                else [f"tag{i}" for i in range(np.shape(y_true)[1])])
    truth = np.asarray(y_true, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if truth.ndim != 2 or scores.shape != truth.shape or len(tags) != truth.shape[1]:
        raise ValueError(f"y_true and scores must both be (n_items, n_tags) with one tag name "
                         f"per column: got {truth.shape}, {scores.shape} and {len(tags)} tags")
    if "macro" in tags:
        raise ValueError("'macro' is the name of the average row: rename that tag")
    if not np.isin(truth, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite (no NaN or inf)")
    rows = []
    for j in range(truth.shape[1]):
        y, s = truth[:, j], scores[:, j]
        both = 0 < y.sum() < len(y)
        rows.append(dict(prevalence=float(y.mean()) if len(y) else np.nan,
                         roc_auc=float(roc_auc_score(y, s)) if both else np.nan,
                         pr_auc=float(average_precision_score(y, s)) if both else np.nan))
    table = pd.DataFrame(rows, index=pd.Index([str(t) for t in tags], name="tag"))
    kept = table[table.roc_auc.notna()]
    table.loc["macro"] = kept.mean() if len(kept) else np.nan
    return table
