"""Compression: pruning reaches its sparsity, compressed models load from disk and predict,
int8 models agree with their float originals, distillation's loss and loop behave, and the
measurements return sane numbers. Tiny models and data: the whole file runs in seconds."""

from __future__ import annotations

import math
import os
import platform
import shutil
import time
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import toy_dataset
from genre_lab import checkpoint, compress, config, models, train

# The quick profile's patch shape. (torch 2.13 on CPU can crash in the backward pass of
# channels-last convolutions on much smaller inputs with odd batch sizes, and train.fit
# trains channels-last.)
SHAPE = (64, 65)
SETTINGS = config.get_profile("quick").features


def toy_data(n=96, seed=0):
    """Log-mel-like patches whose class shows as a brighter band."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    X = rng.normal(size=(n, *SHAPE)).astype(np.float32) * 3 - 40
    X[np.arange(n), y + 3, :] += 8.0
    return X, y


def tiny_resnet(seed=0, widths=(4, 8, 8, 8)):
    """A small ResNet with fitted standardisation and non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    model = models.build("resnet", [SHAPE], widths=widths)
    X, _ = toy_data()
    model.fit_normalization([X])
    model.train()
    with torch.no_grad():
        for i in range(0, len(X), 32):  # let batch norm see data, as training would
            model(torch.as_tensor(X[i:i + 32]))
    return model.eval()


def logits(model, X):
    return compress.TorchModel(model)(X)


# --------------------------------------------------------------------------------- pruning
@pytest.mark.parametrize("amount", [0.3, 0.9])
def test_unstructured_pruning_reaches_sparsity_and_is_permanent(amount):
    model = tiny_resnet()
    pruned = compress.prune_unstructured(model, amount)
    assert compress.sparsity(pruned) == pytest.approx(amount, abs=1e-3)
    assert compress.sparsity(model) == 0  # the original is untouched
    # a model fresh from train.fit is channels-last: pruning still works
    cl = compress.prune_unstructured(model.to(memory_format=torch.channels_last), amount)
    assert compress.sparsity(cl) == pytest.approx(amount, abs=1e-3)
    model.to(memory_format=torch.contiguous_format)
    assert not any("_orig" in k or "_mask" in k for k in pruned.state_dict())
    # global magnitude pruning: every surviving weight is at least as large as every pruned one
    weights = torch.cat([m.weight.detach().flatten() for m, _ in compress.prunable(model)])
    kept = torch.cat([m.weight.detach().flatten() for m, _ in compress.prunable(pruned)]) != 0
    assert weights[kept].abs().min() >= weights[~kept].abs().max()


def tiny_mlp(seed=0):
    torch.manual_seed(seed)
    return models.build("mlp", [SHAPE], hidden=(16,))


def test_fine_tuning_keeps_pruned_weights_at_zero():
    X, y = toy_data()
    pruned = compress.prune_unstructured(tiny_mlp(), 0.8, permanent=False)
    compress.fine_tune(pruned, toy_dataset(X, y), epochs=2)
    compress.make_permanent(pruned)
    assert compress.sparsity(pruned) == pytest.approx(0.8, abs=1e-3)


def test_channel_pruning_then_shrink_is_exact_and_smaller(tmp_path):
    X, _ = toy_data(16)
    model = tiny_resnet()
    masked = compress.prune_channels(model.to(memory_format=torch.channels_last), 0.5)
    model.to(memory_format=torch.contiguous_format)
    for block in compress.pruning._blocks(masked):
        dead = (block.body[0].weight.flatten(1).abs().sum(1) == 0).sum().item()
        assert dead == block.body[0].out_channels // 2
    thin = compress.shrink(masked)
    assert models.count_parameters(thin) < models.count_parameters(model)
    np.testing.assert_allclose(logits(thin, X), logits(masked, X), atol=1e-4)
    # saved and loaded: the narrower blocks are rebuilt from the file
    path = checkpoint.save(thin, tmp_path / "thin.pt", settings=SETTINGS)
    again = checkpoint.load(path).model
    np.testing.assert_allclose(logits(again, X), logits(thin, X), atol=1e-6)
    dense = checkpoint.save(model, tmp_path / "dense.pt", settings=SETTINGS)
    assert compress.file_size(path) < compress.file_size(dense)


def test_sparse_file_is_smaller_and_loads_back_exactly(tmp_path):
    X, _ = toy_data(16)
    pruned = compress.prune_unstructured(tiny_resnet(), 0.9)
    dense = checkpoint.save(pruned, tmp_path / "dense.pt", settings=SETTINGS)
    sparse = checkpoint.save(pruned, tmp_path / "sparse.pt", settings=SETTINGS, sparse=True)
    assert compress.file_size(sparse) < 0.75 * compress.file_size(dense)
    assert compress.gzip_size(dense) < compress.file_size(dense)
    again = checkpoint.load(sparse).model
    np.testing.assert_array_equal(logits(again, X), logits(pruned, X))
    assert compress.count_nonzero(again) == compress.count_nonzero(pruned)


# ---------------------------------------------------------------------------- quantization
@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    model = tiny_resnet(widths=(8, 16, 16, 32))
    X, _ = toy_data()
    fp32 = compress.export_onnx(model, folder / "fp32.onnx")
    static = compress.quantize_static(fp32, folder / "static.onnx", X[:64])
    dynamic = compress.quantize_dynamic(fp32, folder / "dynamic.onnx")
    return model, dict(fp32=fp32, static=static, dynamic=dynamic)


def test_onnx_export_matches_torch(onnx_models):
    model, paths = onnx_models
    X, _ = toy_data(8, seed=1)
    onnx_model = compress.OnnxModel(paths["fp32"])
    assert isinstance(onnx_model, compress.OnnxModel)
    np.testing.assert_allclose(onnx_model(X), logits(model, X), atol=1e-4, rtol=1e-4)
    assert onnx_model(X[:1]).shape == (1, 10)  # the batch size is dynamic


@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_int8_models_load_and_agree_with_fp32(onnx_models, kind):
    model, paths = onnx_models
    X, _ = toy_data(32, seed=2)
    reference = logits(model, X)
    out = compress.OnnxModel(paths[kind])(X)
    assert out.shape == reference.shape and np.isfinite(out).all()
    assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.95
    assert np.mean(out.argmax(1) == reference.argmax(1)) >= 0.75


def test_static_int8_is_smaller_dynamic_barely_changes_a_cnn(onnx_models):
    _, paths = onnx_models
    fp32, static, dynamic = (compress.file_size(paths[k]) for k in ("fp32", "static", "dynamic"))
    assert static < 0.5 * fp32
    assert 0.9 * fp32 < dynamic < 1.1 * fp32  # only the last Linear layer is quantized


def test_dynamic_int8_shrinks_a_linear_model(tmp_path):
    torch.manual_seed(0)
    mlp = models.build("mlp", [SHAPE], hidden=(128, 64)).eval()
    X, _ = toy_data(8)
    fp32 = compress.export_onnx(mlp, tmp_path / "mlp.onnx")
    int8 = compress.quantize_dynamic(fp32, tmp_path / "mlp-int8.onnx")
    assert compress.file_size(int8) < 0.4 * compress.file_size(fp32)
    reference = logits(mlp, X)
    # 7-bit weights: one step is 1/64 of a weight row's largest value
    np.testing.assert_allclose(compress.OnnxModel(int8)(X), reference,
                               atol=0.02 * np.abs(reference).max())


def test_quantize_static_rejects_unknown_format(onnx_models, tmp_path):
    _, paths = onnx_models
    with pytest.raises(ValueError, match="quant_format"):
        compress.quantize_static(paths["fp32"], tmp_path / "x.onnx", np.zeros((2, *SHAPE)),
                                 quant_format="int4")


# ------------------------------------------------- int8 on CPUs with and without VNNI
#: QEMU's user-mode emulator runs this machine's Python on a CPU without AVX-512 and VNNI
#: (compress.cpu.run_emulated), where ONNX Runtime's U8S8 kernels add byte products in 16
#: bits. CI installs it (.ci/run) and requires the test.
QEMU = shutil.which("qemu-x86_64")


@pytest.fixture(scope="module")
def saturating_conv(tmp_path_factory):
    """A convolution whose int8 pair sums overflow 16 bits with 8-bit weights: every other
    input channel has a large positive weight, and the test input sits at the top of the
    calibrated range. Returns the input and the int8 models with 7- and 8-bit weights."""
    folder = tmp_path_factory.mktemp("saturation")
    conv = torch.nn.Sequential(torch.nn.Conv2d(8, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(4, 4, 1))
    with torch.no_grad():
        conv[0].weight.fill_(0.05)
        conv[0].weight[:, ::2] = 1.0
        conv[0].bias.zero_()
    fp32 = folder / "conv.onnx"
    with warnings.catch_warnings():  # torch's exporter calls its own deprecated pytree API
        warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
        torch.onnx.export(conv.eval(), (torch.zeros(1, 8, 6, 6),), str(fp32), dynamo=True,
                          input_names=["x"], output_names=["y"], external_data=False,
                          dynamic_shapes=({0: torch.export.Dim("batch")},))
    calibration = np.random.default_rng(0).uniform(0, 1, (16, 8, 6, 6)).astype(np.float32)
    paths = {bits: compress.quantize_static(fp32, folder / f"conv-{bits}bit.onnx", calibration,
                                            weight_bits=bits) for bits in (7, 8)}
    return np.full((2, 8, 6, 6), 0.99, dtype=np.float32), paths


def onnx_reference(path, x):
    """The int8 model evaluated by ONNX's own reference implementation (exact arithmetic)."""
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(str(path)).run(None, {"x": x})[0]


def test_saturating_dot_is_vpmaddubsw():
    a = np.array([[255, 255, 10, 20]], dtype=np.uint8)
    w = np.array([[127], [127], [-3], [5]], dtype=np.int8)
    exact = 255 * 127 * 2 + 10 * -3 + 20 * 5
    assert compress.cpu.saturating_dot(a, w, saturate=False)[0, 0] == exact
    assert compress.cpu.saturating_dot(a, w)[0, 0] == 32767 + 10 * -3 + 20 * 5  # clipped
    # 7-bit weights cannot overflow a pair: the worst case fits in 16 bits
    worst = compress.cpu.saturating_dot(np.full((1, 2), 255), np.full((2, 1), 64))
    assert worst[0, 0] == 2 * 255 * 64 <= compress.cpu.INT16_MAX


def test_cpu_description_names_the_kernel():
    found = compress.cpu.features()
    assert set(found) >= {"avx2", "avx512_vnni", "avx_vnni", "neon", "neon_dot"}
    kernel, saturates = compress.cpu.u8s8_kernel(found)
    assert kernel in compress.cpu.describe(found)
    haswell = dict.fromkeys(found, False) | {"avx2": True}
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert compress.cpu.u8s8_kernel(haswell)[1] is True
        assert compress.cpu.u8s8_kernel(haswell | {"avx_vnni": True})[1] is False


def test_int8_with_7bit_weights_is_exact_on_this_cpu(saturating_conv):
    x, paths = saturating_conv
    for bits, path in paths.items():
        ours = compress.OnnxModel(path)(x)
        reference = onnx_reference(path, x)
        if bits == 7 or compress.cpu.u8s8_kernel()[1] is False:
            np.testing.assert_allclose(ours, reference, atol=1e-5)
        elif compress.cpu.u8s8_kernel()[1]:  # AVX2 without VNNI: 8-bit weights saturate
            assert np.abs(ours - reference).max() > 1.0


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="emulates an x86-64 CPU without VNNI")
def test_int8_on_a_cpu_without_vnni(saturating_conv):
    if QEMU is None:
        reason = "qemu-x86_64 not installed (Debian: apt-get install qemu-user)"
        if os.environ.get("GENRE_LAB_REQUIRE_EMULATOR"):
            pytest.fail(reason)
        pytest.skip(reason)
    x, paths = saturating_conv
    found, emulated = compress.cpu.run_emulated(list(paths.values()), x, timeout=300)
    assert found["avx2"] and not found["avx512_vnni"]
    outputs = dict(zip(paths, emulated, strict=True))
    np.testing.assert_allclose(outputs[7], onnx_reference(paths[7], x), atol=1e-5)
    # the naive 8-bit weights really do go wrong there: the failure the settings prevent
    assert np.abs(outputs[8] - onnx_reference(paths[8], x)).max() > 1.0


# ---------------------------------------------------------------------------- distillation
def test_distillation_loss_limits():
    torch.manual_seed(0)
    student, teacher = torch.randn(8, 10), torch.randn(8, 10)
    y = torch.randint(0, 10, (8,))
    ce = F.cross_entropy(student, y)
    assert torch.allclose(train.distillation_loss(student, teacher, y, alpha=0.0), ce)
    # alpha=1 against itself: nothing left to learn
    assert train.distillation_loss(student, student, y, alpha=1.0).abs() < 1e-6
    # by hand: T^2 KL(teacher_T || student_T)
    t = 3.0
    p, q = F.softmax(teacher / t, 1), F.softmax(student / t, 1)
    by_hand = (p * (p.log() - q.log())).sum(1).mean() * t * t
    loss = train.distillation_loss(student, teacher, y, temperature=t, alpha=0.5)
    assert torch.allclose(loss, 0.5 * by_hand + 0.5 * ce, atol=1e-6)


def test_fit_with_a_teacher_at_alpha_zero_is_plain_training():
    X, y = toy_data()
    cfg = train.TrainConfig(epochs=2, batch_size=16)
    teacher_logits = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
    plain, student = tiny_mlp(), tiny_mlp()
    h_plain = train.fit(plain, [X[:64]], y[:64], [X[64:]], y[64:], cfg, progress=False)
    h_kd = train.fit(student, [X[:64]], y[:64], [X[64:]], y[64:], cfg,
                     teacher_logits=teacher_logits, alpha=0.0, progress=False)
    assert h_kd.val_accuracy == pytest.approx(h_plain.val_accuracy)
    for a, b in zip(plain.state_dict().values(), student.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------- measurements
def test_measurements_are_sane(tmp_path):
    model = tiny_resnet()
    X, y = toy_data(16)
    calls = []

    def slow(x):  # a predictor that takes at least 20 ms per call
        calls.append(len(x))
        time.sleep(0.02)
        return np.zeros((len(x), 10), np.float32)

    ms = compress.latency_ms(slow, X[:1], repeats=5, warmup=2)
    assert calls == [1] * 7 and 20 <= ms < 1000  # warm-up calls run, then a median of 5
    per_second = compress.throughput(slow, X, repeats=3, warmup=1)
    assert len(X) / 1.0 < per_second <= len(X) / 0.02  # segments per second of one batch
    assert math.isfinite(compress.latency_ms(model, X[:1], repeats=5, warmup=1))
    folder = tmp_path / "fp32"
    checkpoint.save(model, folder / "model.pt", settings=SETTINGS)
    (folder / "metrics.json").write_text("{}")  # the CLI writes one beside the model
    assert compress.file_size(folder) > compress.file_size(folder / "model.pt") > 0
    assert isinstance(checkpoint.load(folder).model, models.Classifier)
    assert compress.sparse_coo_size(model) > 0
    ids = np.array([f"t{i // 4}" for i in range(len(X))])
    row = compress.measure("fp32", model, folder / "model.pt", (X, y, ids),
                           params=models.count_parameters(model), repeats=5)
    assert set(row) >= {"variant", "params", "size_bytes", "latency_ms_b1", "accuracy"}
    assert 0 <= row["accuracy"] <= 1 and row["size_bytes"] == compress.file_size(
        folder / "model.pt")
    half = dict(row, variant="half", size_bytes=row["size_bytes"] // 2)
    table = compress.variant_table([row, half])
    assert table.loc["fp32", "smaller ×"] == 1 and table.loc["half", "smaller ×"] >= 1.99


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with compress.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
