"""Profiles, paths and seeds: every knob that an environment variable turns.

``GENRE_LAB_PROFILE``  quick | standard | full: data size and epochs (default quick).
``GENRE_LAB_DATA``     a folder with the real GTZAN; unset, the synthetic mini-GTZAN.
``GENRE_LAB_CACHE``    where generated data, feature caches and trained models go (default:
                       ``.cache/genre-lab`` in the source checkout when the package runs from
                       one, as after ``make setup``; else the platform cache folder, e.g.
                       ``~/.cache/genre-lab``).
``GENRE_LAB_PROGRESS`` 0 (or false, no, off): no progress bars (the book's build sets it: in a
                       kernel they are ipywidgets, which a static page would load from a CDN).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

#: Default seed for data generation, splits and training.
SEED = 0


@dataclass(frozen=True)
class FeatureSettings:
    """How audio becomes network input: the one description of a 3-second segment's features.

    Every place that computes, caches or reads segment features takes one of these (a
    profile has one; a checkpoint stores the one its model was trained on), so the numbers
    2048/512/128 are written here and nowhere else.

    Attributes:
        sample_rate: Hz; every signal in the course is mono float32 at this rate.
        segment_seconds: length of a segment (GTZAN's 30-s clips give 10).
        n_fft: STFT window in samples.
        hop_length: STFT hop in samples (a 3-s segment has ``1 + 66150 // hop_length`` frames).
        n_mels: mel bands of the log-mel input.
        n_mfcc: MFCCs kept from the log-mel.
    """

    sample_rate: int = 22050
    segment_seconds: float = 3.0
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    n_mfcc: int = 20

    def __post_init__(self):
        for name, value in self.as_dict().items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"feature setting {name} must be a positive number, "
                                 f"got {value!r}")
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) cannot exceed n_mels ({self.n_mels})")

    @property
    def segment_samples(self) -> int:
        """Samples in one segment."""
        return int(round(self.segment_seconds * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """STFT frames of one segment (centred frames, as librosa computes them)."""
        return 1 + self.segment_samples // self.hop_length

    def as_dict(self) -> dict:
        """The settings as a JSON-able dict (what caches key on and checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values) -> FeatureSettings:
        """Settings from :meth:`as_dict`'s output; unknown or missing keys are an error."""
        if not isinstance(values, dict):
            raise ValueError(f"feature settings must be a mapping, got {type(values).__name__}")
        unknown = set(values) - {f.name for f in fields(cls)}
        missing = {f.name for f in fields(cls)} - set(values)
        if unknown or missing:
            raise ValueError(f"feature settings: unknown {sorted(unknown)}, "
                             f"missing {sorted(missing)}")
        return cls(**values)


#: The default features (GTZAN-sized networks: 128 mel bands, hop 512, 130 frames).
FEATURES = FeatureSettings()
#: Every audio signal in the course is mono float32 at this rate (GTZAN's own).
SAMPLE_RATE = FEATURES.sample_rate


@dataclass(frozen=True)
class Profile:
    """How big a run is.

    Attributes:
        name: ``quick``, ``standard`` or ``full``.
        clips_per_genre: synthetic clips generated per genre (real data: all clips).
        clip_seconds: length of each synthetic clip.
        epochs: training epochs for the chapter models.
        seeds: repetitions of an experiment when a chapter reports mean ± std.
        features: the segment features the networks get.
    """

    name: str
    clips_per_genre: int
    clip_seconds: float
    epochs: int
    seeds: int
    features: FeatureSettings = FEATURES


PROFILES = {
    # What CI runs: every chapter in about a minute on 2 CPU cores.
    # (64 mel bands x 65 frames a segment: a quarter of the pixels, so CNNs train on a CPU)
    "quick": Profile("quick", clips_per_genre=20, clip_seconds=12.0, epochs=8, seeds=3,
                     features=FeatureSettings(n_mels=64, hop_length=1024)),
    # GTZAN's size on synthetic data: a useful model on a laptop CPU.
    "standard": Profile("standard", clips_per_genre=100, clip_seconds=30.0, epochs=30, seeds=3),
    # For a GPU box with the real GTZAN.
    "full": Profile("full", clips_per_genre=100, clip_seconds=30.0, epochs=80, seeds=5),
}


def get_profile(name: Profile | str | None = None) -> Profile:
    """Return the profile ``name``, or the one ``GENRE_LAB_PROFILE`` names (default quick);
    a :class:`Profile` is returned as it is."""
    if isinstance(name, Profile):
        return name
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


def progress_bars() -> bool:
    """False where ``GENRE_LAB_PROGRESS`` turns the package's progress bars off."""
    return os.environ.get("GENRE_LAB_PROGRESS", "").strip().lower() not in {"0", "false", "no",
                                                                           "off"}


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
