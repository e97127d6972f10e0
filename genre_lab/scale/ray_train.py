"""A course model trained with Ray Train (``TorchTrainer``, DDP) on :func:`featurize`'s rows.

Notebook: 10-scaling-with-ray (appendix).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .ray_data import SEGMENTS


class _KeepTracks:
    """Ray Data UDF: the rows of some tracks, as (features, label) only."""

    def __init__(self, track_ids):
        self.ids = np.asarray(sorted(map(str, track_ids)))

    def __call__(self, batch: dict) -> dict:
        keep = np.isin(batch["track_id"].astype(str), self.ids)
        return {"features": batch["features"][keep], "label": batch["label"][keep]}


def _train_loop(cfg: dict) -> None:
    """Each Ray Train worker runs this: DDP over its shards of the Parquet rows."""
    import ray.train
    import ray.train.torch
    import torch
    import torch.distributed as dist
    from torch import nn

    from .. import models
    from ..train import seed_everything

    conf = cfg["config"]
    seed_everything(conf.seed)  # the same seed everywhere: one initialisation
    torch.set_num_threads(1)
    ctx = ray.train.get_context()
    shard = ray.train.get_dataset_shard("train")
    val = ray.train.get_dataset_shard("val") if cfg["validate"] else None
    model = models.build(cfg["model"], [cfg["shape"]], n_classes=cfg["n_classes"])

    def batches(data, shuffle_seed=None):
        kw = dict(local_shuffle_buffer_size=4 * conf.batch_size,
                  local_shuffle_seed=shuffle_seed) if shuffle_seed is not None else {}
        return data.iter_torch_batches(batch_size=conf.batch_size, dtypes={
            "features": torch.float32, "label": torch.int64}, **kw)

    def all_sum(*values):  # summed over the workers, in float64
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    # Standardisation from the whole training set: per-row sums over every worker's shard,
    # so the statistics equal Classifier.fit_normalization on all training rows.
    rows = cfg["shape"][0]
    s1, s2, n = torch.zeros(rows, dtype=torch.float64), torch.zeros(rows, dtype=torch.float64), 0
    for b in batches(shard):
        x = b["features"].double()
        s1 += x.sum(dim=(0, 2))
        s2 += (x * x).sum(dim=(0, 2))
        n += x.shape[0] * x.shape[2]
    stats = torch.cat([s1, s2, torch.tensor([float(n)], dtype=torch.float64)])
    dist.all_reduce(stats)
    s1, s2, n = stats[:rows], stats[rows:2 * rows], stats[-1]
    norm = model.norms[0]
    norm.mean.copy_((s1 / n).float().unsqueeze(1))
    norm.std.copy_(((s2 - s1 * s1 / n) / (n - 1)).clamp_min(0).sqrt().float()
                   .clamp_min(1e-6).unsqueeze(1))  # torch.std: unbiased, as Standardize

    model = ray.train.torch.prepare_model(model)  # DDP (gloo on CPU)
    optimizer = torch.optim.AdamW(model.parameters(), lr=conf.lr, weight_decay=conf.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    best, best_key = None, None
    history = {k: [] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")}
    for epoch in range(conf.epochs):
        model.train()
        loss_sum = correct = seen = 0.0
        for b in batches(shard, shuffle_seed=conf.seed * 1000 + epoch * 10 + ctx.get_world_rank()):
            logits = model(b["features"])
            loss = loss_fn(logits, b["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(b["label"])
            correct += (logits.argmax(1) == b["label"]).sum().item()
            seen += len(b["label"])
        loss_sum, correct, seen = all_sum(loss_sum, correct, seen)
        metrics = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen}
        if val is not None:
            model.eval()
            vl = vc = vn = 0.0
            with torch.no_grad():
                for b in batches(val):
                    logits = model(b["features"])
                    vl += loss_fn(logits, b["label"]).item() * len(b["label"])
                    vc += (logits.argmax(1) == b["label"]).sum().item()
                    vn += len(b["label"])
            vl, vc, vn = all_sum(vl, vc, vn)
            metrics.update(val_loss=vl / vn, val_accuracy=vc / vn)
        for k in history:
            if k in metrics:
                history[k].append(metrics[k])
        key = (metrics["val_accuracy"], -metrics["val_loss"]) if val is not None else (epoch,)
        if best_key is None or key > best_key:  # as train.fit: keep the best epoch
            best_key = key
            best = {k: v.detach().clone() for k, v in model.module.state_dict().items()}
            history["best_epoch"] = epoch
        checkpoint = None
        if epoch == conf.epochs - 1 and ctx.get_world_rank() == 0:
            folder = tempfile.mkdtemp()
            torch.save({"state": best, "history": history}, Path(folder) / "model.pt")
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint)  # every worker reports each epoch


def train(path, train_tracks, val_tracks=None, *, model: str = "cnn64", config=None,
          workers: int = 2, cpus_per_worker: float = 0.5, n_classes: int = 10, storage=None,
          in_memory: bool = True):
    """Train a course model with Ray Train (``TorchTrainer``, DDP) on :func:`featurize`'s rows.

    Notebook: 10-scaling-with-ray.

    What is the same as :func:`genre_lab.train.fit`: the model (:func:`genre_lab.models.build`,
    its standardisation fitted on all training rows), AdamW and cross-entropy, the
    :class:`~genre_lab.train.TrainConfig` fields ``epochs``, ``batch_size``, ``lr``,
    ``weight_decay`` and ``seed``, the best validation epoch kept. What differs: every
    worker takes ``batch_size`` rows a step, so a step sees ``workers x batch_size`` rows
    (DDP averages the gradients); Ray Data streams blocks to the workers, so which rows a
    worker gets, and the shuffle (a local buffer of 4 batches, seeded per epoch and worker),
    are not ``fit``'s; the result is therefore not ``fit``'s numbers, and not bit-for-bit
    repeatable. No early stopping, mixup, augmentation, distillation or GPU here.

    Args:
        path: :func:`featurize`'s folder (its ``segments`` Parquet files).
        train_tracks, val_tracks: the track ids to train on and to validate on.
        model: a model name reading one input (log-mel or MFCC, as featurized).
        config: a :class:`genre_lab.train.TrainConfig` (default: its defaults).
        workers: Ray Train workers (processes).
        cpus_per_worker: Ray's CPU share for each: workers that take every CPU Ray has
            leave none for the Ray Data tasks that read their rows, and the run waits
            forever (seen with 2 workers of 1 CPU on 2 CPUs); 0.5 leaves one CPU of 2.
        storage: where Ray Train keeps the run and its checkpoint (default: a temp folder).
        in_memory: keep the training and validation rows in Ray's object store (which
            spills to disk when full) after one read; ``False`` streams them from the
            Parquet files every epoch, for sets far larger than the cluster's memory.

    Returns:
        ``(model, history)``: the trained :class:`~genre_lab.models.Classifier` (best
        epoch's weights) and a dict of per-epoch losses and accuracies plus ``best_epoch``.
    """
    import ray
    import torch
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from .. import models
    from ..train import TrainConfig

    config = config or TrainConfig()
    path = Path(path)
    path = path / SEGMENTS if (path / SEGMENTS).is_dir() else path
    # in_memory: read once and keep the two sets in Ray's object store; streamed from
    # Parquet anew each epoch, an epoch took 18 s instead of 0.6 s here (2 CPUs, 800 rows).
    rows = ray.data.read_parquet(str(path))
    rows = rows.materialize() if in_memory else rows
    shape = tuple(np.asarray(rows.take(1)[0]["features"]).shape)
    keep = dict(batch_format="numpy", num_cpus=1)
    datasets = {"train": rows.map_batches(_KeepTracks(train_tracks), **keep)}
    if val_tracks is not None:
        datasets["val"] = rows.map_batches(_KeepTracks(val_tracks), **keep)
    if in_memory:
        datasets = {name: data.materialize() for name, data in datasets.items()}
    storage = Path(storage or tempfile.mkdtemp(prefix="genre-lab-ray-train-")).resolve()
    trainer = TorchTrainer(
        _train_loop, datasets=datasets,
        train_loop_config={"config": config, "model": model, "shape": shape,
                           "n_classes": n_classes, "validate": val_tracks is not None},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=False,
                                     resources_per_worker={"CPU": cpus_per_worker}),
        run_config=RunConfig(storage_path=str(storage), name="train"))
    result = trainer.fit()
    with result.checkpoint.as_directory() as folder:
        saved = torch.load(Path(folder) / "model.pt", weights_only=True)
    net = models.build(model, [shape], n_classes=n_classes)
    net.load_state_dict(saved["state"])
    return net.eval(), saved["history"]
