"""Which int8 kernels this CPU gives ONNX Runtime, and whether they can saturate.

ONNX Runtime's CPU library (MLAS) picks its integer matrix kernels when it starts, from the
instructions the CPU reports. For uint8 activations times int8 weights (U8S8, what
:func:`genre_lab.compress.quantize_static` produces):

* **x86-64 with VNNI** (AVX-512 VNNI, or AVX-VNNI on recent laptop CPUs): ``VPDPBUSD``
  multiplies four byte pairs and adds them straight into a 32-bit sum: exact.
* **x86-64 with AVX2 or AVX-512 but no VNNI** (e.g. AMD Zen 2/3, Intel before Ice Lake
  and Alder Lake): ``VPMADDUBSW`` multiplies byte pairs and adds each *two* products into a
  **16-bit** integer, clipped at ±32767. Two products of an activation near 255 and a weight
  near ±127 reach 2 x 255 x 127 = 64770: the sum saturates and the result is wrong.
* **ARM64** (NEON, dot-product instructions): products widen to 16 or 32 bits: exact.

Weights limited to 7 bits (±64, ONNX Runtime's ``reduce_range``) keep every pair below the
limit (2 x 255 x 64 = 32640), so the same int8 model gives the same numbers on every CPU.

The flags come from NumPy's run-time CPU detection (the CPUID instruction on x86, the
kernel's HWCAP or sysctl on ARM), plus Linux's ``/proc/cpuinfo`` for AVX-VNNI, which NumPy
does not report.

Notebook: 07-compression.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The 16-bit limit of one VPMADDUBSW pair sum.
INT16_MAX = 32767


def features() -> dict[str, bool]:
    """The CPU features that decide ONNX Runtime's int8 kernels (missing ones are False).

    Notebook: 07-compression.

    Keys: ``avx2``, ``avx512`` (F, BW, DQ and VL: the "core" set), ``avx512_vnni``,
    ``avx_vnni``, ``amx_int8``, ``neon``, ``neon_dot`` (ARM dot product).
    """
    try:  # NumPy 2.x, then 1.x
        from numpy._core._multiarray_umath import __cpu_features__ as found
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as found
    flags = set(_proc_flags())
    return {
        "avx2": bool(found.get("AVX2")),
        "avx512": all(found.get(k) for k in ("AVX512F", "AVX512BW", "AVX512DQ", "AVX512VL")),
        "avx512_vnni": bool(found.get("AVX512VNNI") or found.get("AVX512_CLX")),
        "avx_vnni": "avx_vnni" in flags and bool(found.get("AVX2")),
        "amx_int8": "amx_int8" in flags,
        "neon": bool(found.get("ASIMD") or found.get("NEON")),
        "neon_dot": bool(found.get("ASIMDDP")),
    }


def _proc_flags() -> list[str]:
    path = Path("/proc/cpuinfo")
    try:
        text = path.read_text(errors="replace") if path.is_file() else ""
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return line.split(":", 1)[1].split()
    return []


def u8s8_kernel(found: dict[str, bool] | None = None) -> tuple[str, bool | None]:
    """The kind of kernel ONNX Runtime uses for uint8 x int8 products on this CPU, and
    whether its pair sums can saturate (None: unknown architecture).

    Notebook: 07-compression.
    """
    found = features() if found is None else found
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64") or found["neon"]:
        return ("NEON dot product (UDOT/SDOT), 32-bit sums" if found["neon_dot"]
                else "NEON, 16-bit products widened to 32 bits"), False
    if found["avx512_vnni"] or found["avx_vnni"]:
        name = "AVX-512 VNNI" if found["avx512_vnni"] else "AVX-VNNI"
        return f"{name} (VPDPBUSD), 32-bit sums", False
    if found["avx2"] or found["avx512"]:
        name = "AVX-512" if found["avx512"] else "AVX2"
        return f"{name} without VNNI (VPMADDUBSW), pairs summed in 16 bits", True
    if machine in ("x86_64", "amd64", "i386", "i686"):
        return "SSE, 16-bit products widened to 32 bits", False
    return f"unknown for {machine or 'this machine'}", None


def describe(found: dict[str, bool] | None = None) -> str:
    """One line: the architecture, its int8-relevant features and the U8S8 kernel.

    Notebook: 07-compression.
    """
    found = features() if found is None else found
    names = {"avx2": "AVX2", "avx512": "AVX-512", "avx512_vnni": "AVX-512 VNNI",
             "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8", "neon": "NEON",
             "neon_dot": "NEON dot product"}
    present = ", ".join(names[k] for k, v in found.items() if v) or "none of " + \
        ", ".join(names.values())
    kernel, saturates = u8s8_kernel(found)
    risk = {True: "can saturate", False: "exact", None: "unknown"}[saturates]
    return f"{platform.machine()} ({present}): int8 kernels {kernel}, {risk}"


def saturating_dot(activations, weights, *, saturate: bool = True):
    """Integer dot products the way ``VPMADDUBSW`` computes them: each two neighbouring
    products (along the last axis of ``activations``, the first of ``weights``) are added
    in 16 bits and clipped to ±32767, then all pair sums are added in 32 bits.

    Notebook: 07-compression.

    Args:
        activations: uint8 values, shape ``(..., K)`` with even K.
        weights: int8 values, shape ``(K, N)``.
        saturate: False gives the exact int32 result (what VNNI and ARM compute).

    Returns:
        int64 array ``(..., N)``.
    """
    import numpy as np

    a = np.asarray(activations, dtype=np.int64)
    w = np.asarray(weights, dtype=np.int64)
    if a.shape[-1] % 2:
        raise ValueError(f"the reduced axis needs an even length, not {a.shape[-1]}")
    products = a[..., :, None] * w  # (..., K, N)
    pairs = products[..., 0::2, :] + products[..., 1::2, :]
    if saturate:
        pairs = np.clip(pairs, -INT16_MAX - 1, INT16_MAX)
    return pairs.sum(axis=-2)


#: A QEMU CPU model with AVX2 and FMA but neither AVX-512 nor VNNI (Intel Haswell, 2013):
#: ONNX Runtime takes its VPMADDUBSW kernels there.
WITHOUT_VNNI = "Haswell-v4"

# Run inside the emulator. It loads this file alone: the package would import torch, which
# takes a minute under emulation.
_RUN_ONNXRUNTIME = """
import importlib.util, json, sys
import numpy as np, onnxruntime as ort
spec = importlib.util.spec_from_file_location("cpu", sys.argv[1])
cpu = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cpu)
x = np.load(sys.argv[2])
outputs = {}
for path in sys.argv[3:]:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs[path] = np.concatenate([session.run(None, {name: x[i:i + 64]})[0]
                                    for i in range(0, len(x), 64)]).tolist()
print(json.dumps(dict(features=cpu.features(), outputs=outputs)))
"""


def run_emulated(paths, x, *, cpu_model: str = WITHOUT_VNNI, timeout: float = 3600):
    """Run ONNX models on ``x`` with ONNX Runtime on an emulated x86-64 CPU: QEMU's user-mode
    emulator (Debian/Ubuntu: ``apt-get install qemu-user``) runs this Python with the CPU
    model ``cpu_model``, so ONNX Runtime picks the kernels that CPU would get. Only the
    numbers are meaningful: emulation is hundreds of times slower.

    Notebook: 07-compression (via ``benchmarks/compression.py --emulate``; tests).

    Returns:
        ``(features, outputs)``: :func:`features` as seen inside the emulator, and one output
        array per path.
    """
    import numpy as np

    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise RuntimeError("qemu-x86_64 not found: install QEMU's user-mode emulator "
                           "(Debian/Ubuntu: apt-get install qemu-user)")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise RuntimeError(f"emulating an x86-64 CPU needs an x86-64 Python, not "
                           f"{platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "x.npy"
        np.save(inputs, np.asarray(x, dtype=np.float32))
        command = [qemu, "-cpu", cpu_model, sys.executable, "-c", _RUN_ONNXRUNTIME, __file__,
                   str(inputs), *map(str, paths)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"ONNX Runtime under qemu-x86_64 -cpu {cpu_model} failed: {tail[0]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["features"], [np.array(result["outputs"][str(p)], dtype=np.float32)
                                for p in paths]
