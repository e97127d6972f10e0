"""Orchestration: cached runs, distillation, runs over seeds, comparison and best-of."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import toy_dataset
from genre_lab import checkpoint, config, experiment, models, store
from genre_lab.train import TrainConfig


def toy_data(n=96, seed=0, shape=(16, 12)):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    X = rng.normal(size=(n, *shape)).astype(np.float32) * 3 - 40
    X[np.arange(n), y + 3, :] += 8.0  # the class shows as a brighter band
    return X, y


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_LAB_CACHE", str(tmp_path))
    monkeypatch.setattr(store, "fingerprint", lambda tracks: "toy")  # no audio files here
    return toy_dataset(*toy_data())


CFG = TrainConfig(epochs=2, batch_size=16)


def test_a_run_is_cached_as_a_checkpoint_and_loaded_back(data, tmp_path):
    first = experiment.train_model("mlp", data, CFG, progress=False, hidden=(16,))
    [path] = (tmp_path / "models").glob("mlp-*.pt")
    saved = checkpoint.load(path)
    assert saved.settings == data.settings and saved.train_config["epochs"] == 2
    again = experiment.train_model("mlp", data, CFG, progress=False, hidden=(16,))
    np.testing.assert_array_equal(first.logits, again.logits)
    assert again.history == first.history
    # another option, config or seed is another entry
    experiment.train_model("mlp", data, TrainConfig(epochs=2, batch_size=16, seed=1),
                           progress=False, hidden=(16,))
    assert len(list((tmp_path / "models").glob("mlp-*.pt"))) == 2


def test_a_damaged_cached_run_is_trained_again_with_a_warning(data, tmp_path):
    first = experiment.train_model("mlp", data, CFG, progress=False, hidden=(16,))
    [path] = (tmp_path / "models").glob("mlp-*.pt")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="training again"):
        again = experiment.train_model("mlp", data, CFG, progress=False, hidden=(16,))
    np.testing.assert_array_equal(first.logits, again.logits)  # same seed, same numbers
    checkpoint.load(path)  # replaced by a good one


def test_distilled_runs_are_cached_apart_from_plain_ones(data, tmp_path):
    torch.manual_seed(0)
    teacher = models.build("mlp", data.shapes(["logmel"]), hidden=(8,))
    distill = experiment.Distillation(teacher, temperature=2.0, alpha=0.7)
    first = experiment.train_model("mlp", data, CFG, distill=distill, progress=False,
                                   hidden=(16,))
    again = experiment.train_model("mlp", data, CFG, distill=distill, progress=False,
                                   hidden=(16,))
    np.testing.assert_array_equal(first.logits, again.logits)
    plain = experiment.train_model("mlp", data, CFG, progress=False, hidden=(16,))
    assert len(list((tmp_path / "models").glob("mlp-*.pt"))) == 2  # a separate entry
    assert plain.name == "mlp" and first.name == "mlp (distilled)"
    assert not np.array_equal(plain.logits, first.logits)
    assert first.logits.shape == (len(data.side("test", "logmel")), 10)


def test_the_default_config_is_the_models_recipe_for_the_dataset_profile(data):
    run = experiment.train_model("mlp", data, progress=False, cache=False, hidden=(16,))
    assert run.config == experiment.recipe("mlp", data.profile)
    assert run.config.epochs == 6 * data.profile.epochs == 12 and run.config.patience == 10
    assert 1 <= len(run.history.train_loss) <= 12


def test_over_seeds_and_seed_summary(data):
    runs = experiment.over_seeds("mlp", data, CFG, seeds=[0, 1, 2], progress=False,
                                 hidden=(16,))
    assert [run.config.seed for run in runs] == [0, 1, 2]
    assert all(run.config.epochs == 2 for run in runs)
    # the data may be a function of the seed (a new split per seed)
    made = []
    per_seed = experiment.over_seeds("mlp", lambda seed: made.append(seed) or data,
                                     seeds=[3, 4], progress=False, hidden=(16,))
    assert made[-2:] == [3, 4] and len(per_seed) == 2
    table = experiment.seed_summary({"a": runs, "b": per_seed}, reference="a")
    assert list(table.index) == ["a", "b"] and table.loc["a", "seeds"] == 3
    accs = [run.result["segment_accuracy"] for run in runs]
    assert table.loc["a", "mean"] == pytest.approx(np.mean(accs))
    assert table.loc["a", "std"] == pytest.approx(np.std(accs, ddof=1))
    assert table.loc["a", "verdict"] == "reference"
    # a choice between conditions looks at validation: the epoch each run kept, per
    # segment (what training saw as its best) and per track
    chosen_on = experiment.seed_summary({"a": runs, "b": per_seed}, reference="a",
                                        on="validation")
    vals = [run.validation["segment_accuracy"] for run in runs]
    assert vals == pytest.approx([max(run.history.val_accuracy) for run in runs])
    assert chosen_on.loc["a", "mean"] == pytest.approx(np.mean(vals))
    assert chosen_on.loc["a", "track_mean"] == pytest.approx(
        np.mean([run.validation["track_accuracy"] for run in runs]))
    assert runs[0].validation["n_tracks"] == (data.tracks.split == "val").sum()
    assert chosen_on.loc["b", "seeds"] == 2
    with pytest.raises(ValueError, match="validation"):
        experiment.seed_summary({"a": runs}, on="val")


def test_comparison_table_and_best_of_choose_by_validation(data, monkeypatch):
    runs = {name: experiment.train_model(name, data, CFG, progress=False)
            for name in ("mlp", "lenet5")}
    table = experiment.comparison_table(runs)
    assert list(table.index) == ["mlp", "lenet5"]
    assert table.loc["lenet5", "parameters"] == models.count_parameters(runs["lenet5"].model)
    assert table["val acc (best)"].dtype == float and table.loc["mlp", "input"] == "logmel"
    assert table["parameters"].dtype == np.int64   # printed as 2303562, not 2303562.0
    assert not table["cached"].any()  # both trained just now
    best = experiment.best_of(["mlp", "lenet5"], data, CFG, progress=False)
    assert best.name == table["val acc (best)"].idxmax()
    assert best.cached  # best_of found both in the store: seconds are the first run's
    reloaded = experiment.comparison_table({"mlp": experiment.train_model(
        "mlp", data, CFG, progress=False)})
    assert reloaded.loc["mlp", "cached"] and reloaded.loc["mlp", "seconds"] == table.loc[
        "mlp", "seconds"]

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(experiment, "fit", no_training)  # the runs come from the store
    assert experiment.best_of(["mlp", "lenet5"], data, CFG, progress=False).name == best.name


def test_each_model_trains_with_its_recipe():
    quick = config.get_profile("quick")
    resnet = experiment.recipe("resnet", quick)
    assert (resnet.schedule, resnet.epochs, resnet.patience) == ("onecycle", 12, None)
    mlp = experiment.recipe("mlp", quick, seed=3)
    assert (mlp.epochs, mlp.patience, mlp.seed, mlp.schedule) == (48, 10, 3, "constant")
    assert experiment.recipe("cnn64", quick) == TrainConfig(epochs=quick.epochs)
    standard = experiment.recipe("resnet", "standard")
    assert standard.epochs == 45
