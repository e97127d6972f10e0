"""Make a trained CNN smaller and faster, and measure whether it worked.

* **Pruning** (``torch.nn.utils.prune``): global unstructured L1 magnitude pruning of every
  conv/linear weight, structured Ln pruning of whole conv output channels, fine-tuning with the
  masks on, :func:`make_permanent`, and :func:`shrink`, which cuts zeroed channels out of the
  residual blocks so the network really gets smaller. Pruned and shrunk models are saved
  with :func:`genre_lab.checkpoint.save` (``sparse=True``: a bitmask and the non-zeros) and
  read back with :func:`genre_lab.checkpoint.load`; an int8 ``.onnx`` file with
  :class:`OnnxModel`.
* **int8 quantization** with ONNX Runtime: :func:`export_onnx` (torch's exporter folds batch
  norm into the convolutions), :func:`quantize_dynamic` (Linear/LSTM weights only) and
  :func:`quantize_static` (post-training int8 for convolutions too, calibrated on training
  data), and :class:`OnnxModel` to run the result. The settings are chosen so that the
  int8 model computes the same numbers on x86 CPUs with and without VNNI and on ARM;
  :mod:`genre_lab.compress.cpu` says which kernels this CPU gets and why that matters.
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
from . import cpu
from .measure import (
    OnnxModel,
    TorchModel,
    accuracy,
    count_nonzero,
    file_size,
    gzip_size,
    latency_ms,
    measure,
    sparse_coo_size,
    throughput,
    torch_threads,
    variant_table,
)
from .pruning import (
    fine_tune,
    make_permanent,
    prunable,
    prune_channels,
    prune_unstructured,
    shrink,
    sparsity,
)
from .quantization import export_onnx, quantize_dynamic, quantize_static

__all__ = [
    "OnnxModel", "TorchModel", "accuracy", "count_nonzero", "cpu", "export_onnx", "file_size",
    "fine_tune", "gzip_size", "latency_ms",
    "make_permanent", "measure", "prunable", "prune_channels", "prune_unstructured",
    "quantize_dynamic", "quantize_static", "shrink", "sparse_coo_size", "sparsity",
    "throughput", "torch_threads", "variant_table",
]
