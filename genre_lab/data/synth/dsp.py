"""Filter helpers shared by the instruments, the drums and the mastering chain."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal


@lru_cache(maxsize=256)
def _sos(kind: str, cutoff, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth second-order sections; ``cutoff`` in Hz, a ``(low, high)`` tuple for a band."""
    nyq = 0.5 * sr
    if isinstance(cutoff, tuple):
        wn = [min(c / nyq, 0.99) for c in cutoff]
    else:
        wn = min(cutoff / nyq, 0.99)
    return signal.butter(order, wn, btype=kind, output="sos")


def _filter(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``sosfilt`` that keeps float32 signals in float32."""
    return signal.sosfilt(sos.astype(x.dtype), x)
