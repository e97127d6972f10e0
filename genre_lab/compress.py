"""Make a trained CNN smaller and faster, and measure whether it worked.

* **Pruning** (``torch.nn.utils.prune``): global unstructured L1 magnitude pruning of every
  conv/linear weight, structured Ln pruning of whole conv output channels, fine-tuning with the
  masks on, :func:`make_permanent`, and :func:`shrink`, which cuts zeroed channels out of the
  residual blocks so the network really gets smaller.
* **int8 quantization** with ONNX Runtime: :func:`export_onnx` (torch's exporter folds batch
  norm into the convolutions), :func:`quantize_dynamic` (Linear/LSTM weights only) and
  :func:`quantize_static` (post-training int8 for convolutions too, calibrated on training
  data), and :class:`OnnxModel` to run the result.
* **Knowledge distillation** (Hinton et al. 2015) is not here: it is a way of training, so it
  lives in the one training loop (``genre_lab.train.fit(teacher_logits=...)``,
  ``train.distillation_loss``) and ``genre_lab.experiment.train_model(..., teacher=run)``.
* **Measurements**: parameters, bytes on disk, batch-1 latency, throughput and accuracy of any
  predictor (:func:`measure`), and :func:`variant_table` to compare them.

Every predictor here is a callable ``f(x) -> logits`` on NumPy arrays ``(batch, n_mels,
frames)``: :class:`TorchModel` wraps a torch model, :class:`OnnxModel` an ONNX Runtime session,
so a torch model and its int8 export are measured the same way.

Notebook: 07-compression.
"""

from __future__ import annotations

import copy
import gzip
import io
import logging
import statistics
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune

from . import models
from .evaluate import evaluate
from .models.cnn import BasicBlock
from .train import History, TrainConfig

__all__ = [
    "OnnxModel", "TorchModel", "count_nonzero", "export_onnx", "file_size", "fine_tune",
    "gzip_size", "latency_ms",
    "load", "make_permanent", "measure", "prunable", "prune_channels", "prune_unstructured",
    "quantize_dynamic", "quantize_static", "save", "shrink", "sparse_coo_size", "sparsity",
    "throughput", "torch_threads", "variant_table",
]


# ----------------------------------------------------------------------------- predictors
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


# --------------------------------------------------------------------------- measurements
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


# --------------------------------------------------------------------- saving and loading
def _blocks(model: nn.Module) -> list[BasicBlock]:
    return [m for m in model.modules() if isinstance(m, BasicBlock)]


def _resize_block(block: BasicBlock, width: int) -> None:
    # Replace the block's inner conv / batch norm / conv with ones of ``width`` channels.
    conv0, conv1 = block.body[0], block.body[3]
    block.body[0] = nn.Conv2d(conv0.in_channels, width, conv0.kernel_size, stride=conv0.stride,
                              padding=conv0.padding, bias=False)
    block.body[1] = nn.BatchNorm2d(width)
    block.body[3] = nn.Conv2d(width, conv1.out_channels, conv1.kernel_size,
                              padding=conv1.padding, bias=False)


def _pack(tensor: torch.Tensor) -> dict:
    # A bitmask of the non-zeros (1 bit per weight) and their values: 4.1 bits per weight at
    # 90% sparsity instead of 32.
    flat = tensor.detach().flatten()
    keep = flat != 0
    bits = np.packbits(keep.numpy())
    return {"shape": list(tensor.shape), "mask": torch.from_numpy(bits), "values": flat[keep]}


def _unpack(packed: dict) -> torch.Tensor:
    n = int(np.prod(packed["shape"]))
    keep = torch.from_numpy(np.unpackbits(packed["mask"].numpy(), count=n).astype(bool))
    flat = torch.zeros(n, dtype=packed["values"].dtype)
    flat[keep] = packed["values"]
    return flat.reshape(packed["shape"])


def save(model: models.Classifier, path, *, sparse: bool = False) -> Path:
    """Save a (pruned, shrunk or distilled) torch classifier to one file.

    Notebook: 07-compression.

    The file holds the model's spec (as :func:`genre_lab.train.save` writes it), the inner
    widths of its residual blocks (which :func:`shrink` may have changed) and its weights;
    ``sparse=True`` stores each weight tensor that is at least half zeros as a bitmask plus
    its non-zero values. :func:`load` reads it back with ``weights_only=True``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, value in model.state_dict().items():
        if sparse and value.is_floating_point() and value.dim() > 1 and \
                torch.count_nonzero(value) * 2 <= value.numel():
            state[key] = _pack(value)
        else:
            state[key] = value
    widths = [b.body[0].out_channels for b in _blocks(model)]
    torch.save({"spec": model.spec(), "inner_widths": widths, "state_dict": state}, path)
    return path


def load(path, *, threads: int = 1):
    """Load a compressed model: an ``.onnx`` file as an :class:`OnnxModel`, a file written by
    :func:`save` (or a :func:`genre_lab.train.save` folder) as a torch classifier in eval mode.

    Notebook: 07-compression.
    """
    from . import train

    path = Path(path)
    if path.suffix == ".onnx":
        return OnnxModel(path, threads=threads)
    if path.is_dir():
        return train.load(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    spec = checkpoint["spec"]
    model = models.build(spec["name"], spec["input_shapes"], spec["n_classes"],
                         **spec["options"])
    blocks = _blocks(model)
    for block, width in zip(blocks, checkpoint.get("inner_widths") or [], strict=False):
        if width != block.body[0].out_channels:
            _resize_block(block, width)
    state = {k: _unpack(v) if isinstance(v, dict) else v
             for k, v in checkpoint["state_dict"].items()}
    model.load_state_dict(state)
    return model.eval()


# -------------------------------------------------------------------------------- pruning
def _contiguous_copy(model: nn.Module) -> nn.Module:
    # torch's pruning flattens weights with .view(), which a channels-last model refuses
    return copy.deepcopy(model).to(memory_format=torch.contiguous_format)


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` of every convolution and linear layer: what pruning touches
    (biases and batch-norm parameters are few and stay).

    Notebook: 07-compression.
    """
    return [(m, "weight") for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def sparsity(model: nn.Module) -> float:
    """Fraction of zeros among the weights of :func:`prunable` layers.

    Notebook: 07-compression.
    """
    weights = [getattr(m, name) for m, name in prunable(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


def make_permanent(model: nn.Module) -> nn.Module:
    """``prune.remove`` on every pruned parameter: the mask is multiplied into the weight,
    and the weight becomes an ordinary parameter again (zeros included). In place.

    Notebook: 07-compression.
    """
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod | prune.PruningContainer):
                prune.remove(module, hook._tensor_name)
    return model


def prune_unstructured(model: nn.Module, amount: float, *, permanent: bool = True):
    """A copy of ``model`` with the fraction ``amount`` of its conv/linear weights set to zero:
    those of smallest magnitude over the whole network (global L1, Han et al. 2015), so layers
    with many redundant weights lose more of them.

    Notebook: 07-compression.

    Args:
        permanent: apply :func:`make_permanent`; False keeps the masks on, for
            :func:`fine_tune` (the pruned weights then stay zero while the others train).
    """
    model = _contiguous_copy(model)
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured,
                              amount=amount)
    return make_permanent(model) if permanent else model


def _channel_targets(model: nn.Module) -> list[tuple[nn.Conv2d, nn.Module | None]]:
    # Residual networks: the first conv of each block (its output channels feed only the
    # block's second conv, so removing them changes no tensor shape outside the block).
    # Plain CNNs: every conv, with the batch norm that follows it, if any.
    blocks = _blocks(model)
    if blocks:
        return [(b.body[0], b.body[1]) for b in blocks]
    pairs = []
    for seq in (m for m in model.modules() if isinstance(m, nn.Sequential)):
        children = list(seq)
        for i, child in enumerate(children):
            if isinstance(child, nn.Conv2d):
                after = children[i + 1] if i + 1 < len(children) else None
                pairs.append((child, after if isinstance(after, nn.BatchNorm2d) else None))
    return pairs


def prune_channels(model: nn.Module, amount: float, *, n: int | float = 2,
                   permanent: bool = True):
    """A copy of ``model`` with the fraction ``amount`` of each target conv's output channels
    zeroed: those whose filters have the smallest Ln norm (``prune.ln_structured``, dim 0).

    Notebook: 07-compression.

    Targets are the inner convolutions of residual blocks (see :func:`shrink`), or every
    convolution of a plain CNN. The batch norm after a pruned channel is masked too (scale
    and shift zero), so the channel's output is exactly zero and :func:`shrink` can cut it.
    """
    model = _contiguous_copy(model)
    for conv, norm in _channel_targets(model):
        prune.ln_structured(conv, "weight", amount=amount, n=n, dim=0)
        keep = conv.weight_mask.amax(dim=(1, 2, 3))
        for module, name in ([(norm, "weight"), (norm, "bias")] if norm is not None else []) + \
                ([(conv, "bias")] if conv.bias is not None else []):
            prune.custom_from_mask(module, name, keep)
    return make_permanent(model) if permanent else model


@torch.no_grad()
def shrink(model: nn.Module) -> nn.Module:
    """A copy of a channel-pruned residual network with its dead inner channels removed: each
    block's first conv, batch norm and second conv get narrower, so the model has fewer
    parameters, a smaller file and fewer multiply-adds. Exact: a removed channel was zero
    after its batch norm. Models without residual blocks come back unchanged.

    Notebook: 07-compression.
    """
    model = make_permanent(_contiguous_copy(model))
    for block in _blocks(model):
        conv0, norm, conv1 = block.body[0], block.body[1], block.body[3]
        keep = ((norm.weight != 0) | (norm.bias != 0)).nonzero().flatten()
        if len(keep) == conv0.out_channels:
            continue
        if len(keep) == 0:  # keep one channel: a zero-width conv cannot run
            keep = torch.tensor([0])
        _resize_block(block, len(keep))
        block.body[0].weight.copy_(conv0.weight[keep])
        new_norm = block.body[1]
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(new_norm, name).copy_(getattr(norm, name)[keep])
        new_norm.num_batches_tracked.copy_(norm.num_batches_tracked)
        new_norm.eps, new_norm.momentum = norm.eps, norm.momentum
        block.body[3].weight.copy_(conv1.weight[:, keep])
    return model.eval()


def fine_tune(model: models.Classifier, data, *, epochs: int = 1, lr: float = 3e-4,
              progress: bool = False) -> History:
    """Train a pruned (masks on) or shrunk model a little more on the training side, with the
    course's loop (:func:`genre_lab.train.fit`: best validation epoch kept, input
    standardisation unchanged). In place.

    Notebook: 07-compression.
    """
    from .train import fit

    kinds = model.kinds
    train_x, train_y, _ = data.arrays("train", kinds)
    val_x, val_y = (None, None)
    if data.has_side("val"):
        val_x, val_y, _ = data.arrays("val", kinds)
    cfg = TrainConfig(epochs=epochs, lr=lr, normalize=False)
    history = fit(model, train_x, train_y, val_x, val_y, cfg, progress=progress)
    return history


# --------------------------------------------------------------------------- quantization
class _OneInput(nn.Module):
    # Classifier.forward(*inputs) has no fixed signature; the exporter wants one.
    def __init__(self, model: models.Classifier):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


def export_onnx(model: models.Classifier, path, *, example: np.ndarray | None = None) -> Path:
    """Export a one-input classifier to ONNX (opset 18+) with a dynamic batch size.

    Notebook: 07-compression.

    The exporter (``torch.onnx.export(dynamo=True)``, which needs ``onnxscript``) traces the
    model in eval mode and its optimiser folds each batch norm into the convolution before it;
    the input standardisation stays as two float operations at the graph's entry. Source
    locations that the exporter stores on every node are dropped, they are not needed to run
    the model and make the file bigger.
    """
    import onnx

    if len(model.input_shapes) != 1:
        raise ValueError(f"{model.name} reads {len(model.input_shapes)} inputs; "
                         "export_onnx handles one")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if example is None:
        example = np.zeros((2, *model.input_shapes[0]), dtype=np.float32)
    wrapper = _OneInput(copy.deepcopy(model).cpu().eval()).eval()
    batch = torch.export.Dim("batch")
    # The exporter logs a warning per torchvision operator it cannot register when
    # torchvision is absent; the course does not use them, so hear only errors meanwhile.
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # torch 2.13's exporter calls torch's own deprecated pytree API (LeafSpec); the
            # warning is about torch's code, not this call.
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            torch.onnx.export(wrapper, (torch.as_tensor(example[:2]),), str(path), dynamo=True,
                              input_names=[model.kinds[0]], output_names=["logits"],
                              dynamic_shapes=({0: batch},), external_data=False,
                              verbose=False)
    finally:
        registration.setLevel(level)
    proto = onnx.load(str(path))
    for node in proto.graph.node:
        del node.metadata_props[:]
    del proto.graph.value_info[:]
    onnx.save(proto, str(path))
    return path


class _Calibration:
    # ONNX Runtime's CalibrationDataReader protocol: a dict of inputs per call, None at the end.
    def __init__(self, name: str, inputs: np.ndarray, batch_size: int):
        inputs = np.asarray(inputs, dtype=np.float32)
        self._batches = iter([{name: inputs[i:i + batch_size]}
                              for i in range(0, len(inputs), batch_size)])

    def get_next(self):
        return next(self._batches, None)


def quantize_static(onnx_path, out_path, calibration: np.ndarray, *, per_channel: bool = True,
                    quant_format: str = "qoperator", batch_size: int = 32) -> Path:
    """Post-training static int8 quantization of an ONNX model with ONNX Runtime.

    Notebook: 07-compression.

    Weights become int8 (one scale per output channel with ``per_channel``); activations
    become uint8 with scales fixed in advance from the range each tensor takes on the
    ``calibration`` inputs (min/max over a few hundred training segments). Convolutions, the
    residual additions and the final linear layer then run as int8 kernels (``QLinearConv``,
    ``QLinearAdd``, ``QGemm``).

    Args:
        onnx_path: the float model (from :func:`export_onnx`).
        out_path: where the int8 model goes.
        calibration: training inputs, never test ones.
        quant_format: ``"qoperator"`` (int8 operators: the smallest file) or ``"qdq"``
            (float operators between QuantizeLinear/DequantizeLinear pairs, which
            runtimes fuse into int8 kernels; the format hardware back ends prefer).
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    formats = {"qoperator": QuantFormat.QOperator, "qdq": QuantFormat.QDQ}
    if quant_format not in formats:
        raise ValueError(f"quant_format must be 'qoperator' or 'qdq', not {quant_format!r}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "preprocessed.onnx"
        # shape inference and graph clean-up, as ONNX Runtime advises before quantizing
        quant_pre_process(str(onnx_path), str(ready))
        name = _input_name(ready)
        ort_quantize_static(str(ready), str(out_path), _Calibration(name, calibration, batch_size),
                            quant_format=formats[quant_format], per_channel=per_channel,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out_path


def quantize_dynamic(onnx_path, out_path, *, op_types=("MatMul", "Gemm", "LSTM", "GRU")) -> Path:
    """Dynamic int8 quantization with ONNX Runtime: weights of the listed operators (by
    default those of torch's Linear, LSTM and GRU layers) stored as int8; activations
    quantized on the fly at each call. Convolutions stay float: a CNN barely changes.

    Notebook: 07-compression.
    """
    from onnxruntime.quantization import QuantType, quant_pre_process
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "preprocessed.onnx"
        quant_pre_process(str(onnx_path), str(ready))
        ort_quantize_dynamic(str(ready), str(out_path), op_types_to_quantize=list(op_types),
                             weight_type=QuantType.QInt8)
    return out_path


def _input_name(path) -> str:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initialisers = {t.name for t in graph.initializer}
    return next(i.name for i in graph.input if i.name not in initialisers)
