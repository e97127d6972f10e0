"""Where the audio comes from: the real GTZAN when ``GENRE_LAB_DATA`` is set, else the
synthetic mini-GTZAN, generated once into the cache folder.

A chapter's data cell is one line::

    tracks = load_tracks()

Notebook: every chapter.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from .. import config, store
from .gtzan import BadAudioWarning, GTZANError, scan, track_table

__all__ = ["BadAudioWarning", "GTZANError", "example_recording", "load_tracks", "scan",
           "synthetic_root", "track_table"]


def _synth_version() -> str:
    # Any change to the generator's source changes the cache key, so stale clips are never used.
    from . import synth

    source = Path(synth.__file__)
    files = sorted(source.parent.glob("*.py")) if source.name == "__init__.py" else [source]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + file.read_bytes())
    return digest.hexdigest()[:10]


def synthetic_root(profile: config.Profile | str | None = None, *, seed: int = config.SEED,
                   progress: bool = True) -> Path:
    """The synthetic mini-GTZAN for a profile, generated on first use into the store.

    The store builds it in a temporary folder renamed into place when complete, under a
    file lock, so parallel runs (two notebooks in CI) generate it once and an interrupted
    run leaves nothing half-written; a later run checks every file's size against the
    entry's manifest.
    """
    from . import synth

    profile = config.get_profile(profile)
    key = dict(profile=profile.name, clips_per_genre=profile.clips_per_genre,
               seconds=profile.clip_seconds, seed=seed, generator=_synth_version())

    def build(folder: Path) -> None:
        synth.generate(folder, clips_per_genre=profile.clips_per_genre,
                       seconds=profile.clip_seconds, seed=seed, progress=progress)

    return store.cached_folder(f"synth-{profile.name}-seed{seed}", key, build)


def load_tracks(root=None, *, profile: str | None = None, seed: int = config.SEED,
                strict: bool = False, progress: bool = True) -> pd.DataFrame:
    """The course's one entry point for data: a table of tracks, one row per clip.

    Args:
        root: a GTZAN folder. Default: ``GENRE_LAB_DATA`` if set, else the synthetic set of
            the current profile (``GENRE_LAB_PROFILE``).
        profile: profile name (default: from the environment). On the synthetic set it sets
            the size of the generated set; on real data it caps the clips per genre.
        seed: seed of the synthetic set.
        strict: raise on a bad file instead of skipping it with a warning.
        progress: show a progress bar while generating the synthetic set.

    Returns:
        The track table of :func:`genre_lab.data.gtzan.track_table`; ``.attrs["source"]`` is
        ``"gtzan"`` or ``"synthetic"`` and ``.attrs["root"]`` the folder.
    """
    root = root if root is not None else config.data_root()
    if root is None:
        tracks = track_table(synthetic_root(profile, seed=seed, progress=progress), strict=strict)
        tracks.attrs["source"] = "synthetic"
        return tracks
    tracks = track_table(root, strict=strict)
    # Real data: the profile caps clips per genre (quick: the first 20 of each genre).
    keep = config.get_profile(profile).clips_per_genre
    subset = tracks.groupby("genre", sort=False).head(keep).reset_index(drop=True)
    subset.attrs.update(tracks.attrs, source="gtzan")
    return subset


def example_recording(name: str = "nutcracker", *, seconds: float | None = None,
                      sr: int = config.SAMPLE_RATE):
    """A real recording from librosa's examples (``librosa.ex``), mono at ``sr`` Hz, or None
    when it can be had neither from ``LIBROSA_DATA_DIR`` nor from the network.

    Quiet: pooch's "Downloading file ... to ..." notice (logged at INFO on stderr) is
    silenced while librosa fetches the file; pooch's logger is as before afterwards.

    Notebook: 02-spectrograms, 09-transfer-and-tagging.

    Args:
        name: a key of ``librosa.util.list_examples()`` ("nutcracker", "choice", "brahms", ...).
        seconds: keep only the first ``seconds`` (default: the whole recording).
        sr: sample rate (default: the course's 22050 Hz).
    """
    import librosa
    import pooch

    from .. import audio

    # A filter, not setLevel: pooch's logger is not registered with logging's manager, so a
    # level change would leave its cached "INFO is off" behind after the level is restored.
    logger = pooch.get_logger()
    quiet = _BelowWarning()
    logger.addFilter(quiet)
    try:
        path = librosa.ex(name)
    except OSError:  # no network and no local copy (requests' errors are OSErrors)
        return None
    finally:
        logger.removeFilter(quiet)
    return audio.load(path, sr=sr, duration=seconds)


class _BelowWarning:
    """A logging filter that drops records below WARNING."""

    def filter(self, record) -> bool:
        import logging

        return record.levelno >= logging.WARNING
