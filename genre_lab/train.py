"""One training loop for every torch model in the course.

* device chosen automatically: CUDA, then Apple MPS, then CPU; on CUDA, mixed precision
  (``torch.autocast``) and pinned-memory batches, while the CPU path stays in float32;
* seeded and deterministic on CPU (same seed, same metrics);
* input standardisation fitted on the training split only;
* history of train/validation loss and accuracy, early stopping, best-checkpoint restore;
* optional mixup (soft labels) and a per-batch transform (e.g. SpecAugment);
* multi-label tagging (``multilabel=True``): multi-hot targets, binary cross-entropy;
* ``tqdm.auto`` progress bars, in JupyterLab and in a terminal (``parallel.progress_bar``);
* no NaN leaves it: non-finite inputs are refused, and a run whose loss or weights stop being
  finite raises :class:`TrainingDiverged` instead of returning.

Notebook: 04-spectrogram-cnns onwards.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from . import models


class TrainingDiverged(ValueError):
    """The loss or the weights stopped being finite: nothing trained is returned.

    The message (one line) says where (1-based epoch and batch), the learning rate and what
    to try; ``epoch``, ``batch`` and ``lr`` hold the same facts. The model's weights are then
    unusable (retrain it, e.g. with a smaller learning rate).
    """

    def __init__(self, what: str, *, epoch: int, batch: int | None, n_batches: int, lr: float):
        self.epoch, self.batch, self.lr = epoch, batch, lr
        where = f"epoch {epoch}" + (f", batch {batch} of {n_batches}" if batch else "")
        super().__init__(f"training diverged at {where}: {what} (learning rate {lr:g}); try a "
                         f"smaller learning rate (--lr, TrainConfig.lr), e.g. "
                         f"{min(lr / 10, TrainConfig.lr):g}")


def _nonfinite_tensor(module: nn.Module) -> str | None:
    """The name of the first floating weight or buffer holding NaN or inf, or None (one
    device sync for the whole model)."""
    named = [(k, t) for k, t in module.state_dict().items() if t.is_floating_point()]
    # a sum is NaN or inf when a term is (or when it overflows: then each tensor is checked)
    if not named or torch.isfinite(torch.stack([t.sum().float() for _, t in named])).all():
        return None
    return next((k for k, t in named if not torch.isfinite(t).all()), None)


def _check_finite_inputs(arrays, what: str) -> None:
    for i, x in enumerate(arrays):
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
            raise ValueError(f"{what}[{i}] holds {bad} NaN or infinite value(s): features of "
                             "damaged audio? (`genre-lab check` names bad files)")


def choose_device(preferred: str | None = None) -> torch.device:
    """``preferred`` if given, else CUDA, then Apple MPS, then CPU."""
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class TrainConfig:
    """How to train.

    Attributes:
        epochs: maximum number of passes over the training data.
        batch_size: segments per step.
        lr: Adam learning rate.
        weight_decay: L2 penalty (AdamW's decoupled weight decay).
        patience: stop after this many epochs without a better validation accuracy
            (None: never stop early).
        schedule: the learning rate over training: ``"constant"`` (``lr`` throughout) or
            ``"onecycle"`` (``torch.optim.lr_scheduler.OneCycleLR``: warm up to ``lr`` over
            the first 30% of the steps, then anneal to almost zero by the last epoch; Smith &
            Topin 2019), which reaches a given accuracy in fewer epochs.
        seed: seeds initialisation, shuffling, mixup and augmentation.
        mixup_alpha: > 0 mixes pairs of examples and their labels (Zhang et al. 2018).
        normalize: standardise each input row (mel band, MFCC) with training statistics;
            False feeds raw dB values (chapter 4 shows why not).
        device: None for automatic choice.
        amp: mixed precision (``torch.autocast``: bfloat16 where the GPU supports it, else
            float16 with a gradient scaler); None turns it on for CUDA only, so CPU results
            never change.
        num_workers: ``DataLoader`` worker processes. The course's batches come from arrays
            already in memory, where 0 (no workers) is fastest. Workers draw their seed from
            the shuffling generator, so a run with workers is deterministic but not the same
            run as without.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = None
    schedule: str = "constant"
    seed: int = 0
    mixup_alpha: float = 0.0
    normalize: bool = True
    device: str | None = None
    amp: bool | None = None
    num_workers: int = 0


def autocast_dtype(device: torch.device, amp: bool | None) -> torch.dtype | None:
    """The dtype mixed precision computes in on ``device``, or None for plain float32.

    ``amp=None`` means CUDA only: bfloat16 where supported (no gradient scaling needed),
    else float16. On a CPU, ``amp=True`` uses bfloat16.
    """
    if amp is None:
        amp = device.type == "cuda"
    if not amp:
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


@dataclass
class History:
    """Per-epoch metrics of one training run."""

    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def _tensors(inputs, labels=None, multilabel: bool = False):
    xs = [torch.as_tensor(np.asarray(x), dtype=torch.float32) for x in inputs]
    if labels is not None:
        dtype = torch.float32 if multilabel else torch.long
        xs.append(torch.as_tensor(np.asarray(labels), dtype=dtype))
    return xs


def _n_correct(logits, y, multilabel: bool):
    """Right answers in a batch: items (argmax), or per item the fraction of tags whose
    logit sign (> 0: present) matches the target (multi-label)."""
    if multilabel:
        return ((logits > 0) == (y > 0.5)).float().mean(1).sum().item()
    return (logits.argmax(1) == y).sum().item()


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None)


@torch.no_grad()
def predict_logits(model: nn.Module, inputs, *, batch_size: int = 256, device=None,
                   amp: bool | None = None):
    """Logits of a model on arrays (one array per input kind), as a NumPy array (float32).

    ``amp``: mixed precision as in :class:`TrainConfig` (None: on CUDA only).

    Raises:
        ValueError: a logit is NaN or infinite (never returned as an answer).
    """
    device = choose_device(device) if not isinstance(device, torch.device) else device
    model = model.to(device).eval()
    dtype = autocast_dtype(device, amp)
    loader = DataLoader(TensorDataset(*_tensors(inputs)), batch_size=batch_size,
                        pin_memory=device.type == "cuda")
    out = []
    for batch in loader:
        with _autocast(device, dtype):
            out.append(model(*(x.to(device, non_blocking=True) for x in batch)).float().cpu())
    logits = torch.cat(out).numpy()
    if not np.isfinite(logits).all():
        rows = int((~np.isfinite(logits).all(axis=1)).sum())
        raise ValueError(f"the model gave NaN or infinite logits for {rows} of {len(logits)} "
                         "input(s): its weights or the inputs are not usable")
    return logits


def _epoch_metrics(model, loader, loss_fn, device, multilabel: bool = False, dtype=None):
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for *xs, y in loader:
            xs = [x.to(device, non_blocking=True) for x in xs]
            y = y.to(device, non_blocking=True)
            with _autocast(device, dtype):
                logits = model(*xs).float()
            loss_sum += loss_fn(logits, y).item() * len(y)
            correct += _n_correct(logits, y, multilabel)
            total += len(y)
    return loss_sum / total, correct / total


def distillation_loss(student_logits, teacher_logits, labels, *, temperature: float = 4.0,
                      alpha: float = 0.5):
    """Knowledge distillation (Hinton et al. 2015): ``alpha`` x the KL divergence between the
    teacher's and the student's class probabilities, both softened by ``temperature`` and
    scaled by ``temperature**2`` (so the gradients keep their size as the temperature
    grows), plus ``1 - alpha`` x the cross-entropy with the true labels.

    Notebook: 07-compression. ``alpha=0`` is plain cross-entropy; ``alpha=1`` learns from
    the teacher alone.
    """
    import torch.nn.functional as F

    hard = F.cross_entropy(student_logits, labels)
    if alpha == 0:
        return hard
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1),
                    F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True) * t * t
    return alpha * soft + (1 - alpha) * hard


def _check_labels(model, train_labels, val_labels, multilabel: bool) -> None:
    """Integer labels (n,) for classification, 0/1 arrays (n, outputs) for tagging."""
    n_out = getattr(model, "n_classes", None)
    for name, labels in (("train_labels", train_labels), ("val_labels", val_labels)):
        if labels is None:
            continue
        shape = np.shape(labels)
        if multilabel and (len(shape) != 2 or (n_out is not None and shape[1] != n_out)):
            raise ValueError(f"multilabel: {name} must be (n, {n_out}), one 0/1 column per "
                             f"model output; got shape {shape}")
        if not multilabel and len(shape) != 1:
            raise ValueError(f"{name} has shape {shape}: pass integer labels (n,), or "
                             f"multilabel=True for (n, n_tags) 0/1 targets")


def fit(model: models.Classifier, train_inputs, train_labels, val_inputs=None, val_labels=None,
        config: TrainConfig | None = None, *, batch_transform=None, teacher_logits=None,
        temperature: float = 4.0, alpha: float = 0.5, multilabel: bool = False,
        progress: bool = True) -> History:
    """Train ``model`` in place; restore the weights of its best validation epoch.

    Args:
        model: a :class:`genre_lab.models.Classifier` (its standardisation is fitted here on
            ``train_inputs``).
        train_inputs: list of arrays, one per input kind of the model.
        train_labels: integer labels; with ``multilabel``, an ``(n, n_tags)`` 0/1 array.
        val_inputs, val_labels: validation data (None: no validation, keep the last epoch).
        config: :class:`TrainConfig`.
        batch_transform: ``f(xs, generator) -> xs`` applied to each training batch (e.g.
            SpecAugment), on the device, after standardisation is fitted.
        teacher_logits: a teacher's logits on ``train_inputs`` (same order): train on
            :func:`distillation_loss` with ``temperature`` and ``alpha`` instead of plain
            cross-entropy. Validation is scored on the true labels either way.
        multilabel: multi-label tagging (notebook 09): the model has one output per tag,
            trained with binary cross-entropy on its logits (``BCEWithLogitsLoss``); a tag
            is predicted present where its logit is > 0. The history's accuracies are then
            per tag (the share of item-tag pairs right, high even for a model that predicts
            nothing when tags are rare), and the best epoch is the one with the lowest
            validation loss (``patience`` counts epochs without a lower one). Not with mixup
            or distillation.
        progress: show a progress bar over epochs.

    Returns:
        The :class:`History`.

    Raises:
        ValueError: an input array holds NaN or inf, or its standardisation is not finite.
        TrainingDiverged: the training loss (checked every batch), the weights (every epoch)
            or the validation loss stopped being finite; no history is returned.
    """
    from .parallel import progress_bar

    config = config or TrainConfig()
    seed_everything(config.seed)
    device = choose_device(config.device)
    generator = torch.Generator().manual_seed(config.seed)
    if not (math.isfinite(config.lr) and config.lr >= 0):
        raise ValueError(f"the learning rate must be a finite number >= 0, got {config.lr!r}")
    _check_finite_inputs(train_inputs, "train_inputs")
    if val_inputs is not None:
        _check_finite_inputs(val_inputs, "val_inputs")
    if teacher_logits is not None:
        _check_finite_inputs([teacher_logits], "teacher_logits")
    if config.normalize:
        model.fit_normalization(train_inputs)
        bad = _nonfinite_tensor(model)
        if bad:
            raise ValueError(f"the standardisation fitted on train_inputs is not finite ({bad}):"
                             " input values too large for float32")
    model.to(device)
    # 2-D convolutions train about a third faster on channels-last feature maps on a CPU
    # (benchmarks/train.md); the weights go back to the usual layout at the end.
    channels_last = any(isinstance(m, nn.Conv2d) for m in model.modules())
    if channels_last:
        model.to(memory_format=torch.channels_last)

    distilling = teacher_logits is not None
    if distilling and config.mixup_alpha > 0:
        raise ValueError("distillation with mixup is not supported: choose one")
    _check_labels(model, train_labels, val_labels, multilabel)
    if multilabel and (distilling or config.mixup_alpha > 0):
        raise ValueError("multi-label training supports neither mixup nor distillation")
    tensors = _tensors(train_inputs, train_labels, multilabel)
    if distilling:  # the teacher's logits travel with their examples through the shuffle
        tensors.insert(-1, torch.as_tensor(np.asarray(teacher_logits), dtype=torch.float32))
    train = TensorDataset(*tensors)
    dtype = autocast_dtype(device, config.amp)
    # float16 gradients can underflow: scale the loss (bfloat16 and float32 need no scaling)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    pin = device.type == "cuda"                  # page-locked batches copy to the GPU async
    workers = dict(num_workers=config.num_workers,
                   persistent_workers=config.num_workers > 0)
    loader = DataLoader(train, batch_size=config.batch_size, shuffle=True, generator=generator,
                        pin_memory=pin, **workers)
    val = None
    if val_inputs is not None:
        val = DataLoader(TensorDataset(*_tensors(val_inputs, val_labels, multilabel)),
                         batch_size=256, pin_memory=pin, **workers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    if config.schedule not in ("constant", "onecycle"):
        raise ValueError(f"schedule must be 'constant' or 'onecycle', not {config.schedule!r}")
    scheduler = None
    if config.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=len(loader))
    loss_fn = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    history, best_state, best_key, waited = History(), None, None, 0

    def diverged(what: str, epoch: int, batch: int | None = None) -> TrainingDiverged:
        return TrainingDiverged(what, epoch=epoch + 1, batch=batch, n_batches=len(loader),
                                lr=config.lr)

    start = time.perf_counter()
    bar = progress_bar(range(config.epochs), desc=f"train {getattr(model, 'name', '')}",
                       disable=not progress, leave=False)
    for epoch in bar:
        # training loss and accuracy are running figures over the epoch (dropout on, as
        # Keras reports them): no second pass over the training data
        model.train()
        seen, correct, loss_sum = 0, 0, 0.0
        for batch_index, (*xs, y) in enumerate(loader, 1):
            xs = [x.to(device, non_blocking=True) for x in xs]
            y = y.to(device, non_blocking=True)
            soft = xs.pop() if distilling else None
            if batch_transform is not None:
                xs = batch_transform(xs, generator)
            target = y
            if config.mixup_alpha > 0:
                from .augment.batch import mixup

                xs, target = mixup(xs, y, model.n_classes, alpha=config.mixup_alpha,
                                   generator=generator)
            with _autocast(device, dtype):
                logits = model(*xs).float()      # losses in float32 under mixed precision
            if distilling:
                loss = distillation_loss(logits, soft, y, temperature=temperature, alpha=alpha)
            else:
                loss = loss_fn(logits, target)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            loss_value = loss.item()  # the sync the running loss needs anyway: no extra cost
            if not math.isfinite(loss_value):
                raise diverged(f"the training loss is {loss_value}", epoch, batch_index)
            seen += len(y)
            loss_sum += loss_value * len(y)
            correct += _n_correct(logits, y, multilabel)
        bad = _nonfinite_tensor(model)  # the last step's weights (the next loss checks others)
        if bad:
            raise diverged(f"{bad} holds NaN or infinite values", epoch)
        train_loss, train_acc = loss_sum / seen, correct / seen
        history.train_loss.append(train_loss)
        history.train_accuracy.append(train_acc)
        if val is not None:
            val_loss, val_acc = _epoch_metrics(model, val, loss_fn, device, multilabel, dtype)
            if not math.isfinite(val_loss):
                raise diverged(f"the validation loss is {val_loss}", epoch)
            history.val_loss.append(val_loss)
            history.val_accuracy.append(val_acc)
            key = (-val_loss, val_acc) if multilabel else (val_acc, -val_loss)
            bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{train_acc:.2f}",
                            val_acc=f"{val_acc:.2f}")
        else:
            key = (epoch, 0)
            bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{train_acc:.2f}")
        if best_key is None or key > best_key:
            best_key, best_state, waited = key, copy.deepcopy(model.state_dict()), 0
            history.best_epoch = epoch
        else:
            waited += 1
            if config.patience is not None and waited >= config.patience:
                break
    bar.close()
    model.load_state_dict(best_state)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    history.seconds = time.perf_counter() - start
    return history
