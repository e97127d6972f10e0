"""Profiles, paths and seeds: every knob that an environment variable turns.

``GENRE_LAB_PROFILE``  quick | standard | full: data size and epochs (default quick).
``GENRE_LAB_DATA``     a folder with the real GTZAN; unset, the synthetic mini-GTZAN.
``GENRE_LAB_CACHE``    where generated data, feature caches and trained models go (default:
                       ``.cache/genre-lab`` in the source checkout when the package runs from
                       one, as after ``make setup``; else the platform cache folder, e.g.
                       ``~/.cache/genre-lab``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Every audio signal in the course is mono float32 at this rate (GTZAN's own).
SAMPLE_RATE = 22050
#: Default seed for data generation, splits and training.
SEED = 0


@dataclass(frozen=True)
class Profile:
    """How big a run is.

    Attributes:
        name: ``quick``, ``standard`` or ``full``.
        clips_per_genre: synthetic clips generated per genre (real data: all clips).
        clip_seconds: length of each synthetic clip.
        epochs: training epochs for the chapter models.
        seeds: repetitions of an experiment when a chapter reports mean ± std.
        n_mels: mel bands of the networks' log-mel input.
        hop_length: STFT hop in samples (a 3-s segment has 1 + 66150 // hop_length frames).
    """

    name: str
    clips_per_genre: int
    clip_seconds: float
    epochs: int
    seeds: int
    n_mels: int = 128
    hop_length: int = 512


PROFILES = {
    # What CI runs: every chapter in about a minute on 2 CPU cores.
    # (64 mel bands x 65 frames a segment: a quarter of the pixels, so CNNs train on a CPU)
    "quick": Profile("quick", clips_per_genre=20, clip_seconds=12.0, epochs=8, seeds=3,
                     n_mels=64, hop_length=1024),
    # GTZAN's size on synthetic data: a useful model on a laptop CPU.
    "standard": Profile("standard", clips_per_genre=100, clip_seconds=30.0, epochs=30, seeds=3),
    # For a GPU box with the real GTZAN.
    "full": Profile("full", clips_per_genre=100, clip_seconds=30.0, epochs=80, seeds=5),
}


def get_profile(name: str | None = None) -> Profile:
    """Return the profile ``name``, or the one ``GENRE_LAB_PROFILE`` names (default quick)."""
    name = name or os.environ.get("GENRE_LAB_PROFILE") or "quick"
    try:
        return PROFILES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown profile {name!r} (from GENRE_LAB_PROFILE?): choose one of "
                         f"{', '.join(PROFILES)}") from None


def data_root() -> Path | None:
    """The real-GTZAN folder named by ``GENRE_LAB_DATA``, or None for the synthetic set."""
    value = os.environ.get("GENRE_LAB_DATA", "").strip()
    return Path(value).expanduser() if value else None


def source_checkout() -> Path | None:
    """The repository this package runs from (an editable install), or None (a wheel)."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "genre-lab"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def cache_dir() -> Path:
    """Folder for generated data, feature caches and trained models.

    ``GENRE_LAB_CACHE`` if set; else ``.cache/genre-lab`` in the source checkout, so that
    ``make`` and a kernel started any other way share one cache; else (an installed wheel)
    the platform cache folder.
    """
    value = os.environ.get("GENRE_LAB_CACHE", "").strip()
    if value:
        path = Path(value).expanduser()
    elif (checkout := source_checkout()) is not None:
        path = checkout / ".cache" / "genre-lab"
    else:
        import pooch

        path = Path(pooch.os_cache("genre-lab"))
    path.mkdir(parents=True, exist_ok=True)
    return path
