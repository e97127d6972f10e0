"""Writing the data set: every clip as a WAV in GTZAN's layout, plus ``metadata.csv``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from genre_lab import GENRES
from genre_lab.config import SAMPLE_RATE
from genre_lab.parallel import n_workers, run_jobs

from .render import _check_int, _check_seconds, render_clip


def _write_atomic_wav(path: Path, y: np.ndarray, sr: int) -> None:
    pcm = np.clip(np.round(y.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(str(tmp), pcm, sr, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def _write_clip(genre: str, seed: int, index: int, seconds: float, folder: Path) -> dict:
    """Render one clip, write it as ``folder/<genre>.<index>.wav``; return its metadata row."""
    y, params = render_clip(genre, seed=seed, index=index, seconds=seconds, sr=SAMPLE_RATE)
    track_id = f"{genre}.{index:05d}"
    _write_atomic_wav(folder / f"{track_id}.wav", y, SAMPLE_RATE)
    return {"track_id": track_id, **params}


def _clip_files(genres: Path) -> list[Path]:
    """The ``<genre>/<genre>.NNNNN.wav`` files under ``genres`` (what :func:`generate` writes)."""
    found = []
    for genre in GENRES:
        folder = genres / genre
        if not folder.is_dir():
            continue
        name = re.compile(rf"{re.escape(genre)}\.\d{{5,}}\.wav")
        found += sorted(p for p in folder.iterdir() if name.fullmatch(p.name) and p.is_file())
    return found


def _clear_earlier_run(root: Path, overwrite: bool) -> None:
    """Refuse to write over WAVs of an earlier run, or remove its clips when ``overwrite``."""
    genres = root / "genres"
    if not genres.is_dir():
        return
    if not any(p.suffix.lower() == ".wav" for p in genres.rglob("*")):
        return
    if not overwrite:
        raise FileExistsError(
            f"{genres} already holds .wav files from an earlier run, which would be left "
            f"beside the new clips but missing from metadata.csv: pass overwrite=True to "
            f"replace them, or choose an empty folder instead of {root}")
    for path in _clip_files(genres):
        path.unlink()


def generate(root, *, clips_per_genre: int = 100, seconds: float = 30.0, seed: int = 0,
             progress: bool = True, overwrite: bool = False,
             n_jobs: int | None = None) -> pd.DataFrame:
    """Write the synthetic mini-GTZAN in GTZAN's layout.

    Writes ``root/genres/<genre>/<genre>.000NN.wav`` (22050 Hz, mono, PCM_16) for every genre
    and ``root/metadata.csv`` (one row per clip: ``track_id``, ``genre``, ``artist``,
    ``seed``, then the drawn parameters), each file via a temporary name and ``os.replace``
    so an interrupted run never leaves a half-written file under its final name.

    Args:
        root: output folder (created if missing).
        clips_per_genre: clips per genre (>= 1); GTZAN has 100.
        seconds: length of every clip (>= 1); GTZAN's are 30 s.
        seed: seed of the set (>= 0); the same arguments give byte-identical files.
        progress: show a progress bar.
        overwrite: if ``root/genres`` already holds WAVs (an earlier run), first delete the
            clips an earlier run wrote (``<genre>/<genre>.NNNNN.wav`` of the ten genres; no
            other file is touched). Without it such a folder is refused.
        n_jobs: worker processes (None: every core; 1: in this process). Each clip depends
            only on its genre, seed and index, so the files are the same either way.

    Returns:
        The metadata table, sorted by genre then index.

    Raises:
        ValueError: an argument out of range.
        FileExistsError: ``root/genres`` already holds ``.wav`` files and ``overwrite`` is
            false (nothing is written then).
    """
    clips_per_genre = _check_int("clips_per_genre", clips_per_genre, 1)
    seed = _check_int("seed", seed, 0)
    _check_seconds(seconds)
    root = Path(root)
    _clear_earlier_run(root, overwrite)
    jobs = []
    for genre in GENRES:
        folder = root / "genres" / genre
        folder.mkdir(parents=True, exist_ok=True)
        jobs += [(_write_clip, (genre, seed, index, seconds, folder))
                 for index in range(clips_per_genre)]
    rows = list(run_jobs(jobs, n_jobs=n_workers(n_jobs, len(jobs)), progress=progress,
                         desc="synthetic mini-GTZAN", unit="clip"))
    table = pd.DataFrame(rows)
    first = ["track_id", "genre", "artist", "seed", "index", "artist_slot"]
    table = table[first + [c for c in table.columns if c not in first]]
    table = table.sort_values(["genre", "index"], kind="stable").reset_index(drop=True)
    tmp = root / "metadata.csv.tmp"
    table.to_csv(tmp, index=False)
    os.replace(tmp, root / "metadata.csv")
    return table
