"""Shared fixtures: the real-data folder beside the project, and tiny GTZAN-shaped folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_lab import GENRES

PROJECT = Path(__file__).resolve().parents[1]
#: Real GTZAN clips and metadata for tests; present in CI, absent on a user's machine.
SHARED_DATA = Path(os.environ.get("GENRE_LAB_SHARED_DATA", PROJECT.parent / "shared" / "data"))


#: Test modules that compare floating-point results with a reference (librosa, TensorFlow's
#: musicnn, the Kaggle table, hand-written code, ONNX Runtime): marked ``numerics``, and CI
#: runs them a second time as a CPU without AVX-512 computes (`make test-avx2`). Each bound
#: is a documented accuracy or a measured spread over CPU paths with a margin
#: (benchmarks/float_margins.md).
NUMERICS = {"test_audio", "test_augment", "test_cli", "test_compress", "test_frames",
            "test_frontend", "test_musicnn", "test_musicnn_parity", "test_real_data",
            "test_segments", "test_table", "test_train", "test_transfer"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.stem in NUMERICS:
            item.add_marker(pytest.mark.numerics)


def shared(relative: str) -> Path:
    """A path in the shared real-data folder, or skip (fail when CI requires the folder)."""
    path = SHARED_DATA / relative
    if not path.exists():
        reason = f"real test data not found at {path} (only CI and developers have it)"
        if os.environ.get("GENRE_LAB_REQUIRE_SHARED_DATA"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def skip_without_musicnn() -> None:
    """Skip the calling test module when the musicnn wheel (the pretrained weights) is absent."""
    import importlib.metadata

    from genre_lab.pretrained import INSTALL

    try:
        importlib.metadata.distribution("musicnn")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"the musicnn wheel is not installed (`{INSTALL}`)", allow_module_level=True)


def write_tone(path: Path, *, seconds: float = 4.0, sr: int = 22050, channels: int = 1,
               subtype: str = "PCM_16", freq: float = 220.0, seed: int = 0) -> Path:
    """Write a short clip (a tone plus a little noise) for layout tests."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    if channels > 1:
        y = np.stack([y] * channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y.astype(np.float32), sr, subtype=subtype)
    return path


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A fresh, empty cache folder (``GENRE_LAB_CACHE``) for one test, never the user's."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GENRE_LAB_CACHE", str(folder))
    return folder


@pytest.fixture
def make_gtzan(tmp_path):
    """Build a small valid GTZAN folder: ``make_gtzan(clips=2, layout="original")``."""

    def build(clips: int = 2, layout: str = "original", genres=GENRES) -> Path:
        root = tmp_path / "gtzan"
        base = root / ("genres" if layout == "original" else "Data/genres_original")
        for gi, genre in enumerate(genres):
            for i in range(clips):
                write_tone(base / genre / f"{genre}.{i:05d}.wav", freq=110.0 * (gi + 1) + i,
                           seed=gi * 100 + i)
        return root

    return build


def toy_dataset(X, y, frac=(0.6, 0.2), *, features=None):
    """A genre_lab.dataset.Dataset of one segment per track from arrays ``X`` (n, rows,
    frames) and labels ``y``: the first 60% train, 20% val, the rest test."""
    import numpy as np
    import pandas as pd

    from genre_lab import config
    from genre_lab.dataset import Dataset
    from genre_lab.features.segments import Segments

    n = len(X)
    ids = np.array([f"t{i:03d}" for i in range(n)])
    n_train, n_val = int(frac[0] * n), int(frac[1] * n)
    split = ["train"] * n_train + ["val"] * n_val + ["test"] * (n - n_train - n_val)
    tracks = pd.DataFrame({"track_id": ids, "split": split, "path": ["-"] * n,
                           "genre": [GENRES[i] for i in y]})
    quick = config.get_profile("quick")
    profile = config.Profile("toy", 1, 1.0, epochs=2, seeds=2,
                             features=features or quick.features)
    return Dataset(tracks, {"logmel": Segments(X, ids, np.asarray(y), "logmel")}, profile)
