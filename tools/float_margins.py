"""How close does each float comparison in the tests come to its tolerance, on this CPU path?

    FLOAT_MARGINS=out.jsonl python -m pytest -p tools.float_margins tests
    python tools/avx2.py env FLOAT_MARGINS=avx2.jsonl python -m pytest -p tools.float_margins tests
    python tools/float_margins.py native.jsonl avx2.jsonl      # the worst use of each bound

A pytest plugin: it wraps ``np.allclose``, ``np.testing.assert_allclose``, ``torch.allclose``
and ``torch.testing.assert_close`` and records, for every call made from a test file, the
largest ``|actual - desired| / (atol + rtol * |desired|)`` (1 is the bound; above 1 fails).
Run the tests under each condition (native, ``tools/avx2.py``, 1, 2 and 4 threads) and the
report lists every comparison site with its worst ratio per condition: a site whose ratio
changes between conditions depends on the CPU path, and its bound needs a reason that holds
on every path (a documented accuracy, or the measured spread with a margin).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _site() -> str | None:
    """file:line of the test code that called the comparison (not a library's own calls)."""
    frame = sys._getframe(3)
    path = Path(frame.f_code.co_filename)
    if path.name.startswith("test_") and ROOT in path.parents:
        return f"{path.relative_to(ROOT)}:{frame.f_lineno}"
    return None


def _ratio(actual, desired, rtol: float, atol: float) -> float | None:
    import numpy as np

    try:
        a = np.asarray(actual.detach().cpu() if hasattr(actual, "detach") else actual,
                       dtype=np.float64)
        d = np.asarray(desired.detach().cpu() if hasattr(desired, "detach") else desired,
                       dtype=np.float64)
        a, d = np.broadcast_arrays(a, d)
        finite = np.isfinite(a) & np.isfinite(d)
        if not finite.any():
            return 0.0
        excess = np.abs(a - d)[finite] / (atol + rtol * np.abs(d)[finite])
        return float(np.nan_to_num(excess, posinf=1e300).max())
    except Exception:  # noqa: BLE001 - a comparison we cannot measure is skipped
        return None


def _record(kind: str, actual, desired, rtol: float, atol: float) -> None:
    site = _site()
    if site is None:
        return
    ratio = _ratio(actual, desired, rtol, atol)
    if ratio is not None:
        with open(os.environ["FLOAT_MARGINS"], "a") as f:
            f.write(json.dumps(dict(site=site, kind=kind, ratio=ratio, rtol=float(rtol),
                                    atol=float(atol))) + "\n")


def _wrap(module, name: str, rtol: float, atol: float, kind: str) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(actual, desired, *args, **kwargs):
        r = kwargs.get("rtol", args[0] if args else rtol)
        a = kwargs.get("atol", args[1] if len(args) > 1 else atol)
        _record(kind, actual, desired, r if r is not None else rtol, a if a is not None else atol)
        return original(actual, desired, *args, **kwargs)

    setattr(module, name, wrapper)


def pytest_configure(config):
    if not os.environ.get("FLOAT_MARGINS"):
        return
    import numpy as np
    import torch

    _wrap(np, "allclose", 1e-5, 1e-8, "np.allclose")
    _wrap(np.testing, "assert_allclose", 1e-7, 0.0, "assert_allclose")
    _wrap(torch, "allclose", 1e-5, 1e-8, "torch.allclose")
    # torch.testing.assert_close's defaults depend on the dtype (float32: 1.3e-6, 1e-5)
    _wrap(torch.testing, "assert_close", 1.3e-6, 1e-5, "assert_close")


def report(paths: list[str]) -> None:
    worst: dict[str, dict[str, float]] = defaultdict(dict)
    for path in paths:
        for line in Path(path).read_text().splitlines():
            row = json.loads(line)
            key = Path(path).stem
            worst[row["site"]][key] = max(worst[row["site"]].get(key, 0.0), row["ratio"])
    names = [Path(p).stem for p in paths]
    print(f"{'site':<40}" + "".join(f"{n[:12]:>13}" for n in names))
    for site, by in sorted(worst.items(), key=lambda kv: -max(kv[1].values())):
        print(f"{site:<40}" + "".join(f"{by.get(n, float('nan')):13.3g}" for n in names))


if __name__ == "__main__":
    report(sys.argv[1:])
