"""Run a command as an x86-64 CPU without AVX-512 computes (AVX2 and FMA, as an AMD EPYC).

    python tools/avx2.py python -m pytest tests        # what `make test-avx2` runs
    python tools/avx2.py --check                       # are the caps in force here?

A float result can depend on the instructions a library picks at run time: NumPy's SIMD
loops (its float32 log10 differs by up to 2 ulp between its AVX2 and AVX-512 loops), torch's
own kernels, oneDNN's convolutions, MKL's and OpenBLAS's BLAS. Each library has a switch
that caps what it picks; this sets all of them, then runs the command. NumPy's switch takes
the names of its dispatch targets, which NumPy has renamed (``AVX512F``, ``AVX512_SKX``...
are ``X86_V4`` in NumPy 2.4; it ignores an unknown name with a warning), so they are read
from the NumPy installed here. ONNX Runtime has no switch: its int8 kernels are tested
under QEMU instead (``genre_lab.compress.cpu.run_emulated``). ``GENRE_LAB_ISA=avx2`` tells
the tests that the caps are meant to be in force (tests/test_environment.py checks them).

Used by the Makefile (``make test-avx2``), .ci/run and benchmarks/claims.py (``--isa avx2``).
"""

from __future__ import annotations

import os
import platform
import sys


def environment() -> dict[str, str]:
    """The variables that keep NumPy, torch, oneDNN, MKL and OpenBLAS to AVX2."""
    try:  # NumPy 2.x, then 1.x
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    beyond_avx2 = [name for name in __cpu_dispatch__ if name.startswith(("AVX512", "X86_V4"))]
    return {"NPY_DISABLE_CPU_FEATURES": " ".join(beyond_avx2),
            "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OPENBLAS_CORETYPE": "Haswell",
            "GENRE_LAB_ISA": "avx2"}


def problems() -> list[str]:
    """What in this process still computes beyond AVX2 (empty: the caps are in force)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_features__
    import torch

    found = [name for name, on in __cpu_features__.items()
             if on and name in environment()["NPY_DISABLE_CPU_FEATURES"].split()]
    out = [f"NumPy still dispatches to {', '.join(found)}"] if found else []
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ("AVX2", "DEFAULT"):
        out.append(f"torch's kernels use {capability}")
    return out


def main(argv: list[str]) -> int:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        print(f"avx2: this is {platform.machine()}, not x86-64; nothing to cap", file=sys.stderr)
        return 2
    if argv == ["--check"]:
        found = problems()
        print("; ".join(found) if found else "AVX2 caps in force")
        return 1 if found else 0
    if not argv or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python tools/avx2.py COMMAND [ARGS...] | --check", file=sys.stderr)
        return 2
    os.execvpe(argv[0], argv, {**os.environ, **environment()})
    return 0  # pragma: no cover - exec does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
