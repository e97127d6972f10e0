"""Compile librosa's numba kernels once, in one process, before anything runs in parallel.

librosa's ``@guvectorize(cache=True)`` kernels (peak picking, beat tracking, zero crossings,
tuning, overlap-add, ...) are compiled on first use and written to numba's cache. When
several processes compile the same kernel at once (pytest-xdist workers, joblib workers of
:func:`genre_lab.features.table.feature_table`), numba can pair cache files written by
different processes and the next process to load them dies of a segmentation fault
(numba issue #10128, librosa issue #1998). Compiling every kernel the course uses here, in
one process, first, fills the cache so that the parallel processes only read it.

Run ``python -m genre_lab.warmup`` by hand if you like; the root ``conftest.py`` calls
:func:`compile_librosa_kernels` before pytest starts its workers, and the feature table
before its worker processes. With a warm cache
(``NUMBA_CACHE_DIR``) it takes a second or two; on a fresh machine about 20 s.
"""

from __future__ import annotations

import time

import numpy as np

from .config import SAMPLE_RATE

__all__ = ["compile_librosa_kernels"]


def _tone(seconds: float, dtype) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    clicks = (np.sin(2 * np.pi * 2 * t) > 0.99).astype(float)  # a beat for the beat tracker
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.3 * clicks).astype(dtype)


def compile_librosa_kernels() -> float:
    """Call every librosa function the course uses that has numba kernels, on float32 and
    float64 signals (numba compiles one variant per input type). Returns the seconds spent.
    """
    import librosa

    start = time.perf_counter()
    for dtype in (np.float32, np.float64):
        y = _tone(4.0, dtype)
        S = np.abs(librosa.stft(y=y, pad_mode="reflect"))
        librosa.feature.chroma_stft(S=S**2, sr=SAMPLE_RATE)  # as the feature table calls them
        librosa.feature.rms(y=y, pad_mode="reflect")
        librosa.feature.spectral_centroid(S=S, sr=SAMPLE_RATE)
        librosa.feature.spectral_bandwidth(S=S, sr=SAMPLE_RATE)
        librosa.feature.spectral_rolloff(S=S, sr=SAMPLE_RATE)
        librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE, aggregate=np.median)
        librosa.feature.zero_crossing_rate(y=y)
        librosa.zero_crossings(y)
        librosa.beat.beat_track(y=y, sr=SAMPLE_RATE)
        librosa.onset.onset_detect(y=y, sr=SAMPLE_RATE)
        librosa.feature.tempo(y=y, sr=SAMPLE_RATE)
        librosa.estimate_tuning(y=y, sr=SAMPLE_RATE)
        librosa.effects.pitch_shift(y=y, sr=SAMPLE_RATE, n_steps=1.0)
        librosa.effects.time_stretch(y=y, rate=1.1)
        librosa.istft(librosa.stft(y=y))
        librosa.feature.mfcc(y=y, sr=SAMPLE_RATE)
        librosa.feature.chroma_stft(y=y, sr=SAMPLE_RATE)
        librosa.effects.hpss(y=y)
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"librosa's numba kernels compiled and cached in {compile_librosa_kernels():.1f} s")
