"""int8 quantization with ONNX Runtime: export, dynamic and static (calibrated) post-training.

Notebook: 07-compression.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import models


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
