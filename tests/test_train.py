"""The training loop: deterministic, restores the best epoch, stops early, saves and loads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genre_lab import models, train


def toy_data(n=120, rows=20, frames=16, seed=0):
    """MFCC-like arrays whose class is visible in one row's level."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    X = rng.normal(size=(n, rows, frames)).astype(np.float32) * 3 + 40
    X[np.arange(n), y % rows, :] += 6.0
    return X, y


def fit_once(seed=0, epochs=3, name="cnn1d", **kwargs):
    X, y = toy_data()
    train.seed_everything(seed)
    model = models.build(name, [X.shape[1:]])
    config = train.TrainConfig(epochs=epochs, seed=seed, batch_size=16, **kwargs)
    history = train.fit(model, [X[:80]], y[:80], [X[80:]], y[80:], config, progress=False)
    return model, history


def test_same_seed_same_metrics_and_weights():
    m1, h1 = fit_once(seed=1)
    m2, h2 = fit_once(seed=1)
    assert h1.train_loss == h2.train_loss and h1.val_accuracy == h2.val_accuracy
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    _, h3 = fit_once(seed=2)
    assert h3.train_loss != h1.train_loss


def test_learns_and_restores_best_epoch():
    model, history = fit_once(epochs=6)
    assert history.train_accuracy[-1] > 0.3  # chance is 0.1
    X, y = toy_data()
    val_acc = np.mean(train.predict_logits(model, [X[80:]]).argmax(1) == y[80:])
    assert val_acc == pytest.approx(max(history.val_accuracy))
    assert history.val_accuracy[history.best_epoch] == max(history.val_accuracy)


def test_early_stopping():
    # lr 0 and no batch norm: the validation score never improves after epoch 1
    _, history = fit_once(epochs=30, lr=0.0, patience=2, name="lstm")
    assert len(history.train_loss) == 3


def test_normalisation_is_fitted_on_training_data_only():
    X, y = toy_data()
    model, _ = fit_once()
    norm = model.norms[0]
    assert np.allclose(norm.mean.squeeze().numpy(), X[:80].mean(axis=(0, 2)), atol=1e-4)
    assert not np.allclose(norm.mean.squeeze().numpy(), X.mean(axis=(0, 2)), atol=1e-4)


def test_device_choice_on_this_machine():
    assert train.choose_device("cpu").type == "cpu"
    import torch

    mps = getattr(torch.backends, "mps", None)
    expected = ("cuda" if torch.cuda.is_available()
                else "mps" if mps is not None and mps.is_available() else "cpu")
    assert train.choose_device().type == expected  # the first of CUDA, MPS, CPU present


# ---- multi-label tagging -------------------------------------------------------------------


def toy_tags(n=160, rows=20, frames=16, n_tags=5, seed=0):
    """Arrays where each present tag raises its own row: several tags per example."""
    rng = np.random.default_rng(seed)
    tags = (rng.random((n, n_tags)) < 0.3).astype(np.float32)
    X = rng.normal(size=(n, rows, frames)).astype(np.float32) * 3 + 40
    X[:, :n_tags, :] += 6.0 * tags[:, :, None]
    return X, tags


def fit_tags(seed=0, epochs=8, **kwargs):
    X, tags = toy_tags()
    train.seed_everything(seed)
    model = models.build("cnn1d", [X.shape[1:]], n_classes=tags.shape[1])
    config = train.TrainConfig(epochs=epochs, seed=seed, batch_size=16, **kwargs)
    history = train.fit(model, [X[:120]], tags[:120], [X[120:]], tags[120:], config,
                        multilabel=True, progress=False)
    return model, history


def test_multilabel_learns_with_binary_cross_entropy():
    from sklearn.metrics import roc_auc_score

    model, history = fit_tags()
    X, tags = toy_tags()
    logits = train.predict_logits(model, [X[120:]])
    assert logits.shape == (40, 5)
    assert roc_auc_score(tags[120:], logits, average="macro") > 0.9
    # the best epoch is the one with the lowest validation loss, and its weights are restored
    assert history.best_epoch == int(np.argmin(history.val_loss))
    loss = torch.nn.BCEWithLogitsLoss()(torch.as_tensor(logits), torch.as_tensor(tags[120:]))
    assert loss.item() == pytest.approx(min(history.val_loss), rel=1e-5)
    # accuracy is per tag: the share of (example, tag) pairs whose logit sign is right
    assert history.val_accuracy[history.best_epoch] == pytest.approx(
        np.mean((logits > 0) == (tags[120:] > 0.5)))


def test_multilabel_is_deterministic():
    m1, h1 = fit_tags(seed=4, epochs=2)
    m2, h2 = fit_tags(seed=4, epochs=2)
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_label_shapes_must_match_the_mode():
    X, tags = toy_tags(n=40)
    model = models.build("cnn1d", [X.shape[1:]], n_classes=5)
    config = train.TrainConfig(epochs=1)
    with pytest.raises(ValueError, match="multilabel=True"):
        train.fit(model, [X], tags, config=config, progress=False)
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        train.fit(model, [X], tags.argmax(1), config=config, multilabel=True, progress=False)
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        train.fit(model, [X], tags[:, :3], config=config, multilabel=True, progress=False)
    with pytest.raises(ValueError, match="mixup"):
        train.fit(model, [X], tags, config=train.TrainConfig(epochs=1, mixup_alpha=0.2),
                  multilabel=True, progress=False)


def test_mixed_precision_is_off_on_cpu_by_default():
    cpu = torch.device("cpu")
    assert train.autocast_dtype(cpu, None) is None
    assert train.autocast_dtype(cpu, False) is None
    assert train.autocast_dtype(cpu, True) == torch.bfloat16
    m1, h1 = fit_once(seed=3)
    m2, h2 = fit_once(seed=3, amp=False)
    assert h1.train_loss == h2.train_loss           # the default is exactly float32 on a CPU
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_mixed_precision_path_learns():
    # bfloat16 autocast on the CPU runs the same code path as on a GPU (minus the scaler)
    model, history = fit_once(epochs=6, amp=True)
    X, y = toy_data()
    logits = train.predict_logits(model, [X[80:]], amp=True)
    assert logits.dtype == np.float32
    assert history.train_accuracy[-1] > 0.3                              # chance is 0.1
    assert np.mean(logits.argmax(1) == y[80:]) == pytest.approx(max(history.val_accuracy),
                                                                 abs=0.05)


def test_loader_workers_are_deterministic():
    # workers draw their base seed from the loader's generator, so the shuffle differs from
    # num_workers=0, but the same seed still gives the same run
    _, h1 = fit_once(seed=4, epochs=2, num_workers=2)
    _, h2 = fit_once(seed=4, epochs=2, num_workers=2)
    assert h1.train_loss == h2.train_loss and h1.val_accuracy == h2.val_accuracy


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_mixed_precision_matches_cpu_learning():
    _, cpu = fit_once(seed=5, epochs=6, device="cpu")
    model, gpu = fit_once(seed=5, epochs=6, device="cuda")          # amp on by default
    assert train.autocast_dtype(torch.device("cuda"), None) in (torch.bfloat16, torch.float16)
    assert max(gpu.val_accuracy) >= max(cpu.val_accuracy) - 0.1


# ------------------------------------------------------------------- nothing non-finite out
def _one_line(err) -> str:
    message = str(err)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("name, caught_by", [
    ("mlp", "the training loss is nan"),            # NaN from the second batch on
    ("cnn1d", "running_var holds NaN or infinite"),  # the loss stays finite, batch norm not
])
def test_a_diverging_run_raises_and_returns_nothing(name, caught_by):
    """What ``genre-lab train --lr 1e8`` (or TrainConfig(lr=1e8) in a notebook) does: an
    error naming where, the learning rate and what to try; no history, so nothing is saved."""
    with pytest.raises(train.TrainingDiverged) as caught:
        fit_once(name=name, lr=1e8)
    message = _one_line(caught.value)
    assert message.startswith("training diverged at epoch 1") and caught_by in message
    assert "learning rate 1e+08" in message and "try a smaller learning rate" in message
    assert caught.value.epoch == 1 and caught.value.lr == 1e8
    assert isinstance(caught.value, ValueError)  # the CLI's one-line errors


def test_a_validation_loss_that_is_not_finite_is_divergence():
    # one batch, one epoch: the loss was finite, the step left huge (finite) weights whose
    # logits overflow on the validation tracks
    X, y = toy_data(n=40)
    model = models.build("lstm", [X.shape[1:]])
    config = train.TrainConfig(epochs=1, batch_size=40, lr=3e37)
    with pytest.raises(train.TrainingDiverged) as caught:
        train.fit(model, [X], y, [X[:8]], y[:8], config, progress=False)
    assert "at epoch 1: the validation loss is nan" in _one_line(caught.value)
    assert caught.value.batch is None


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), -1.0])
def test_a_learning_rate_that_is_not_a_finite_number_is_refused(lr):
    with pytest.raises(ValueError, match="learning rate must be a finite number"):
        fit_once(lr=lr, epochs=1)


def test_non_finite_or_overflowing_inputs_are_refused():
    X, y = toy_data()
    model = models.build("cnn1d", [X.shape[1:]])
    bad = X.copy()
    bad[5, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"train_inputs\[0\] holds 1 NaN or infinite"):
        train.fit(model, [bad], y, progress=False)
    with pytest.raises(ValueError, match=r"val_inputs\[0\] holds 1 NaN or infinite"):
        train.fit(model, [X[:80]], y[:80], [bad[:10]], y[:10], progress=False)
    huge = X * np.float32(1e36)  # finite, but its variance overflows float32
    with pytest.raises(ValueError, match="standardisation fitted on train_inputs is not finite"):
        train.fit(model, [huge], y, progress=False)


def test_predict_logits_never_returns_nan():
    model, _ = fit_once(epochs=1)
    with torch.no_grad():
        model.net.head[-1].bias[0] = float("nan")  # the last linear layer
    X, _ = toy_data()
    with pytest.raises(ValueError, match="NaN or infinite logits for 120 of 120"):
        train.predict_logits(model, [X])


def test_a_one_cycle_schedule_peaks_at_lr_and_anneals_to_almost_zero(monkeypatch):
    made = []
    one_cycle = torch.optim.lr_scheduler.OneCycleLR

    def recording(*args, **kwargs):
        made.append(one_cycle(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(torch.optim.lr_scheduler, "OneCycleLR", recording)
    _, history = fit_once(epochs=4, schedule="onecycle", lr=3e-3)
    (scheduler,) = made
    group = scheduler.optimizer.param_groups[0]
    assert group["max_lr"] == 3e-3 and scheduler.last_epoch == 4 * 5   # 80 segments / 16
    assert group["lr"] < 3e-3 / 50       # the last step: near zero
    assert max(history.val_accuracy) > 0.3    # chance: 0.1
    _, constant = fit_once(epochs=4, lr=3e-3)
    assert not made[1:] and constant.val_accuracy != history.val_accuracy


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule must be"):
        fit_once(epochs=1, schedule="cosine")
