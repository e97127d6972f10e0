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
