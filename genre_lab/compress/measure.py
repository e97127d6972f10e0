"""Measure any predictor the same way: size on disk, batch-1 latency, throughput, accuracy.

Notebook: 07-compression.
"""

from __future__ import annotations

import gzip
import io
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..evaluate import evaluate


class TorchModel:
    """A torch classifier as a predictor: NumPy batch in, NumPy logits out.

    Notebook: 07-compression.
    """

    def __init__(self, model: nn.Module):
        self.model = model.cpu().eval()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy()


class OnnxModel:
    """An ONNX file run by ONNX Runtime's CPU provider, as a predictor.

    Notebook: 07-compression.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (the sessions of a comparison should all use the same
            number, as :func:`torch_threads` does for torch).
    """

    def __init__(self, path, *, threads: int = 1):
        import onnxruntime as ort

        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no notes about unused initialisers
        self.session = ort.InferenceSession(str(self.path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.asarray(x, dtype=np.float32)})[0]


def _predictor(model) -> TorchModel | OnnxModel:
    if isinstance(model, TorchModel | OnnxModel):
        return model
    if isinstance(model, nn.Module):
        return TorchModel(model)
    if callable(model):
        return model
    raise TypeError(f"not a model or predictor: {type(model).__name__}")


@contextmanager
def torch_threads(n: int | None):
    """Run torch with ``n`` intra-op threads inside the block (None: leave as is).

    Notebook: 07-compression.
    """
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _timings(predict, x, *, repeats: int, warmup: int, threads: int | None) -> list[float]:
    with torch_threads(threads):
        for _ in range(warmup):
            predict(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            predict(x)
            times.append(time.perf_counter() - start)
    return times


def latency_ms(model, x: np.ndarray, *, repeats: int = 100, warmup: int = 10,
               threads: int | None = 1) -> float:
    """Median wall time of one call on ``x`` (e.g. a batch of one segment), in milliseconds,
    after ``warmup`` untimed calls. The median ignores the odd call that another process
    delayed.

    Notebook: 07-compression.

    Args:
        model: a torch model or a predictor.
        threads: torch threads during the measurement (an :class:`OnnxModel` has its own,
            set when it is created).
    """
    return 1e3 * statistics.median(
        _timings(_predictor(model), x, repeats=repeats, warmup=warmup, threads=threads))


def throughput(model, x: np.ndarray, *, repeats: int = 5, warmup: int = 1,
               threads: int | None = 1) -> float:
    """Segments per second when predicting the batch ``x`` (median of ``repeats`` calls).

    Notebook: 07-compression.
    """
    seconds = statistics.median(
        _timings(_predictor(model), x, repeats=repeats, warmup=warmup, threads=threads))
    return len(x) / seconds


def file_size(path) -> int:
    """Bytes of a file, or of every file in a folder.

    Notebook: 07-compression.
    """
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def gzip_size(path) -> int:
    """Bytes of a file after gzip (level 9): what a download or an app bundle would carry,
    and where zeros written densely by pruning finally save space.

    Notebook: 07-compression.
    """
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0))


def sparse_coo_size(model: nn.Module) -> int:
    """Bytes of ``torch.save`` of the state dict with every tensor turned ``to_sparse()``
    (COO: one int64 index per dimension and one value per non-zero).

    Notebook: 07-compression.
    """
    buffer = io.BytesIO()
    torch.save({k: v.to_sparse() if v.is_floating_point() and v.dim() else v
                for k, v in model.state_dict().items()}, buffer)
    return buffer.tell()


def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameters (what pruning leaves).

    Notebook: 07-compression.
    """
    return int(sum(int(torch.count_nonzero(p)) for p in model.parameters()))


def accuracy(model, inputs: np.ndarray, labels, track_ids=None, *,
             batch_size: int = 64) -> dict:
    """:func:`genre_lab.evaluate.evaluate` of a model or predictor on one array of inputs.

    Notebook: 07-compression.
    """
    predict = _predictor(model)
    logits = np.concatenate([predict(inputs[i:i + batch_size])
                             for i in range(0, len(inputs), batch_size)])
    return evaluate(logits, labels, track_ids)


def measure(name: str, model, path, test, *, params: int, threads: int | None = 1,
            repeats: int = 100, batch: int = 64) -> dict:
    """One row of a comparison table.

    Notebook: 07-compression.

    Args:
        name: the variant's name.
        model: a torch model or predictor.
        path: its saved artefact (file or folder) in deployable form.
        test: ``(inputs, labels, track_ids)`` of the test split.
        params: parameters to report (non-zero ones for a pruned model).
        threads: CPU threads for the timings.
        repeats: timed batch-1 calls (the throughput takes ``max(3, repeats // 20)``).
        batch: batch size of the throughput.

    Returns:
        dict with ``variant``, ``params``, ``size_bytes``, ``latency_ms_b1`` (median),
        ``throughput`` (segments/s at ``batch``), ``accuracy`` (segment) and
        ``track_accuracy``.
    """
    x, y, ids = test
    predict = _predictor(model)
    result = accuracy(predict, x, y, ids)
    return dict(variant=name, params=int(params), size_bytes=file_size(path),
                latency_ms_b1=latency_ms(predict, x[:1], repeats=repeats, threads=threads),
                throughput=throughput(predict, x[:batch], repeats=max(3, repeats // 20),
                                      threads=threads),
                accuracy=result["segment_accuracy"], track_accuracy=result["track_accuracy"])


def variant_table(rows: list[dict], baseline: str | None = None) -> pd.DataFrame:
    """The rows of :func:`measure` as a table, with size and speed ratios to ``baseline``
    (default: the first row).

    Notebook: 07-compression.
    """
    table = pd.DataFrame(rows).set_index("variant")
    base = table.loc[baseline or table.index[0]]
    table["smaller ×"] = base.size_bytes / table.size_bytes
    table["faster ×"] = base.latency_ms_b1 / table.latency_ms_b1
    table["Δ accuracy"] = table.accuracy - base.accuracy
    return table
