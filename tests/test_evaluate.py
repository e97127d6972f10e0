"""Segment-to-track aggregation, metrics, bootstrap intervals and McNemar's test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genre_lab import evaluate


def test_aggregate_mean_and_vote():
    # track a: segments vote 2:1 for class 1, but class 0 has the larger summed logit
    logits = np.array([[5.0, 0.0], [0.0, 1.0], [0.0, 1.0],   # a
                       [0.0, 2.0], [0.0, 3.0]])              # b
    ids = np.array(["a", "a", "a", "b", "b"])
    labels = np.array([0, 0, 0, 1, 1])
    tracks, mean_pred, true = evaluate.aggregate_tracks(logits, ids, labels, method="mean")
    assert tracks.tolist() == ["a", "b"] and true.tolist() == [0, 1]
    assert mean_pred.tolist() == [0, 1]
    _, vote_pred, _ = evaluate.aggregate_tracks(logits, ids, labels, method="vote")
    assert vote_pred.tolist() == [1, 1]
    with pytest.raises(ValueError):
        evaluate.aggregate_tracks(logits, ids, labels, method="median")


def test_vote_tie_goes_to_larger_mean_logit():
    logits = np.array([[3.0, 0.0], [0.0, 1.0]])
    _, pred, _ = evaluate.aggregate_tracks(logits, ["t", "t"], [0, 0], method="vote")
    assert pred.tolist() == [0]


def test_evaluate_keys_and_values():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 4)
    logits = rng.normal(size=(40, 10))
    logits[np.arange(40), labels] += 3  # mostly right
    ids = np.repeat([f"t{i}" for i in range(20)], 2)
    result = evaluate.evaluate(logits, labels, ids)
    for key in ("segment_accuracy", "track_accuracy", "track_accuracy_vote", "per_class",
                "confusion", "labels"):
        assert key in result
    assert result["n_tracks"] == 20 and result["n_segments"] == 40
    assert np.sum(result["confusion"]) == 20
    assert result["segment_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == labels))
    assert set(result["per_class"]) == set(result["labels"])


def test_most_confused_is_the_largest_off_diagonal_cell():
    m = np.array([[9, 1, 0], [3, 7, 0], [0, 3, 5]])
    assert evaluate.most_confused(m) == (1, 0, 3)      # tie with (2, 1): row-major first
    assert evaluate.most_confused(np.diag([4, 5])) == (0, 1, 0)  # nothing confused
    with pytest.raises(ValueError, match="square"):
        evaluate.most_confused(np.ones((2, 3)))


def test_bootstrap_interval_contains_estimate_and_narrows_with_n():
    rng = np.random.default_rng(1)
    small = rng.random(100) < 0.7
    large = rng.random(1000) < 0.7
    acc, lo, hi = evaluate.bootstrap_ci(small, seed=0)
    assert lo < acc < hi
    _, lo2, hi2 = evaluate.bootstrap_ci(large, seed=0)
    assert hi2 - lo2 < hi - lo
    assert evaluate.bootstrap_ci(small, seed=0) == (acc, lo, hi)  # seeded


def test_mcnemar():
    a = np.array([1] * 30 + [0] * 10 + [1] * 2, dtype=bool)
    b = np.array([1] * 30 + [1] * 10 + [0] * 2, dtype=bool)
    result = evaluate.mcnemar(a, b)
    assert result["a_only"] == 2 and result["b_only"] == 10
    assert result["p_value"] < 0.05
    assert evaluate.mcnemar(a, a)["p_value"] == 1.0


def test_seed_verdicts_need_non_overlapping_intervals():
    means = pd.Series({"base": 0.50, "up": 0.60, "down": 0.40, "close": 0.55})
    stds = pd.Series({"base": 0.02, "up": 0.03, "down": 0.02, "close": 0.04})
    verdicts = evaluate.seed_verdicts(means, stds, "base")
    assert verdicts.to_dict() == {"base": "reference", "up": "better", "down": "worse",
                                  "close": "within seed spread"}


# ---- multi-label tagging -------------------------------------------------------------------


def tagging_truth(n=4000, prevalence=(0.05, 0.2, 0.5), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, len(prevalence))) < np.asarray(prevalence)).astype(int)


def test_tag_metrics_perfect_scores():
    y = tagging_truth(n=200)
    table = evaluate.tag_metrics(y, y * 2.0 - 1.0, ["a", "b", "c"])
    assert list(table.index) == ["a", "b", "c", "macro"]
    assert list(table.columns) == ["prevalence", "roc_auc", "pr_auc"]
    assert (table[["roc_auc", "pr_auc"]] == 1.0).all().all()
    assert table.prevalence["macro"] == pytest.approx(y.mean(axis=0).mean())


def test_tag_metrics_random_scores_are_at_chance():
    y = tagging_truth()
    scores = np.random.default_rng(1).random(y.shape)
    table = evaluate.tag_metrics(y, scores, ["rare", "some", "half"])
    assert np.allclose(table.roc_auc, 0.5, atol=0.05)
    # PR-AUC at chance is the prevalence, not 0.5
    assert np.allclose(table.pr_auc, table.prevalence, atol=0.03)
    assert table.pr_auc["rare"] < 0.1


def test_predicting_nothing_is_accurate_but_ranks_nothing():
    y = tagging_truth(prevalence=(0.05, 0.1, 0.02))
    scores = np.full(y.shape, -5.0)  # logits: every tag "absent" for every clip
    accuracy = np.mean((scores > 0) == y)
    assert accuracy > 0.9
    table = evaluate.tag_metrics(y, scores, ["a", "b", "c"])
    assert (table.roc_auc == 0.5).all()
    assert np.allclose(table.pr_auc, table.prevalence)  # no better than chance either


def test_tag_without_positives_or_negatives_is_nan_and_left_out_of_macro():
    y = tagging_truth(n=300)
    y[:, 0] = 0  # no positive
    y[:, 2] = 1  # no negative
    scores = np.random.default_rng(2).random(y.shape)
    scores[:, 1] = y[:, 1]  # perfect on the one usable tag
    table = evaluate.tag_metrics(pd.DataFrame(y, columns=["none", "ok", "all"]), scores)
    assert table.loc[["none", "all"], ["roc_auc", "pr_auc"]].isna().all().all()
    assert table.loc["macro", "roc_auc"] == 1.0 and table.loc["macro", "pr_auc"] == 1.0
    assert table.loc["macro", "prevalence"] == pytest.approx(y[:, 1].mean())
    assert table.loc["all", "prevalence"] == 1.0


def test_tag_metrics_bad_input():
    y = tagging_truth(n=20)
    with pytest.raises(ValueError, match="n_tags"):
        evaluate.tag_metrics(y, y[:, :2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="0 and 1"):
        evaluate.tag_metrics(y * 2, y, ["a", "b", "c"])
    with pytest.raises(ValueError, match="finite"):
        evaluate.tag_metrics(y, np.where(y, np.nan, 0.0), ["a", "b", "c"])
    with pytest.raises(ValueError, match="macro"):
        evaluate.tag_metrics(y, y, ["a", "macro", "c"])


def test_track_means_in_order_of_first_appearance():
    scores = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    ids, means = evaluate.track_means(scores, ["b", "a", "b"])
    assert ids.tolist() == ["b", "a"]
    assert means.tolist() == [[3.0, 2.5], [3.0, 2.0]]
