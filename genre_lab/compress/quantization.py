"""int8 quantization with ONNX Runtime: export, dynamic and static (calibrated) post-training,
with settings that give the same numbers on every CPU (see :mod:`genre_lab.compress.cpu`).

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


#: Activation and weight types of each ``activations`` choice of :func:`quantize_static`.
ACTIVATION_TYPES = {"uint8": "QUInt8", "int8": "QInt8"}


def quantize_static(onnx_path, out_path, calibration: np.ndarray, *, weight_bits: int = 7,
                    per_channel: bool = True, quant_format: str = "qdq",
                    activations: str = "uint8", batch_size: int = 32) -> Path:
    """Post-training static int8 quantization of an ONNX model with ONNX Runtime, with
    settings that give the same result on every CPU.

    Notebook: 07-compression.

    Weights become int8, one scale per output channel (``per_channel``); activations become
    uint8 with scales fixed in advance from the range each tensor takes on the
    ``calibration`` inputs (min/max over a few hundred training segments). Convolutions, the
    residual additions and the final linear layer then run as int8 kernels.

    The defaults and why (ONNX Runtime's quantization guide discusses each choice):

    * ``activations="uint8"`` with int8 weights (U8S8): the format every CPU has fast
      kernels for. Signed activations (S8S8, ONNX Runtime's own default) have fast kernels
      on ARM and on the newest x86 CPUs only (AVX-VNNI-INT8); elsewhere they fall back to
      generic code slower than float32.
    * ``weight_bits=7`` (ONNX Runtime's ``reduce_range``): weights in ±64 instead of ±127.
      On x86 CPUs without VNNI the U8S8 kernels add two 8-bit products in a 16-bit
      register, which overflows (saturates) for large activations times large weights;
      7-bit weights cannot overflow it (``genre_lab.compress.cpu``). With VNNI, or on ARM,
      the result is the same, so the model computes the same numbers everywhere. 8 bits
      is slightly more precise on VNNI and ARM CPUs, and can be badly wrong elsewhere.
    * ``per_channel=True``: one scale per output channel wins back the bit that 7-bit
      weights give up, for channels whose weights are small.
    * ``quant_format="qdq"``: float operators between QuantizeLinear/DequantizeLinear pairs,
      which ONNX Runtime fuses into the same int8 kernels as the ``"qoperator"`` format
      (``QLinearConv`` ...); the format ONNX Runtime recommends and that other runtimes
      (TensorRT, OpenVINO, mobile back ends) read. ``"qoperator"`` gives a file about 4%
      smaller.

    Args:
        onnx_path: the float model (from :func:`export_onnx`).
        out_path: where the int8 model goes.
        calibration: training inputs, never test ones.
        weight_bits: 7 (portable) or 8 (exact only on CPUs with VNNI and on ARM).
        activations: ``"uint8"`` or ``"int8"``.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    formats = {"qoperator": QuantFormat.QOperator, "qdq": QuantFormat.QDQ}
    if quant_format not in formats:
        raise ValueError(f"quant_format must be 'qoperator' or 'qdq', not {quant_format!r}")
    if weight_bits not in (7, 8):
        raise ValueError(f"weight_bits must be 7 or 8, not {weight_bits!r}")
    if activations not in ACTIVATION_TYPES:
        raise ValueError(f"activations must be 'uint8' or 'int8', not {activations!r}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "preprocessed.onnx"
        # shape inference and graph clean-up, as ONNX Runtime advises before quantizing
        quant_pre_process(str(onnx_path), str(ready))
        name = _input_name(ready)
        ort_quantize_static(str(ready), str(out_path), _Calibration(name, calibration, batch_size),
                            quant_format=formats[quant_format], per_channel=per_channel,
                            reduce_range=weight_bits == 7,
                            activation_type=getattr(QuantType, ACTIVATION_TYPES[activations]),
                            weight_type=QuantType.QInt8)
    return out_path


def quantize_dynamic(onnx_path, out_path, *, op_types=("MatMul", "Gemm", "LSTM", "GRU"),
                     weight_bits: int = 7) -> Path:
    """Dynamic int8 quantization with ONNX Runtime: weights of the listed operators (by
    default those of torch's Linear, LSTM and GRU layers) stored as int8; activations
    quantized to uint8 on the fly at each call. With the default ``op_types`` convolutions
    stay float, so a CNN barely changes; ONNX Runtime quantizes them too when ``op_types``
    includes ``"Conv"``. ``weight_bits=7`` and one scale per output channel: see
    :func:`quantize_static` (the on-the-fly uint8 activations meet the same 16-bit kernels).

    Notebook: 07-compression.
    """
    from onnxruntime.quantization import QuantType, quant_pre_process
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    if weight_bits not in (7, 8):
        raise ValueError(f"weight_bits must be 7 or 8, not {weight_bits!r}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "preprocessed.onnx"
        quant_pre_process(str(onnx_path), str(ready))
        ort_quantize_dynamic(str(ready), str(out_path), op_types_to_quantize=list(op_types),
                             per_channel=True, reduce_range=weight_bits == 7,
                             weight_type=QuantType.QInt8)
    return out_path


def _input_name(path) -> str:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initialisers = {t.name for t in graph.initializer}
    return next(i.name for i in graph.input if i.name not in initialisers)
