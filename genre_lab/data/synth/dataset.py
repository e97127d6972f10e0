"""Writing the data set: every clip as a WAV in GTZAN's layout, plus ``metadata.csv``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from genre_lab import GENRES
from genre_lab.config import SAMPLE_RATE

from .render import _check_int, _check_seconds, render_clip


def _write_atomic_wav(path: Path, y: np.ndarray, sr: int) -> None:
    pcm = np.clip(np.round(y.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(str(tmp), pcm, sr, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


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
             progress: bool = True, overwrite: bool = False) -> pd.DataFrame:
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
    rows = []
    bar = tqdm(total=len(GENRES) * clips_per_genre, desc="synthetic mini-GTZAN", unit="clip",
               disable=not progress)
    try:
        for genre in GENRES:
            folder = root / "genres" / genre
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(clips_per_genre):
                y, params = render_clip(genre, seed=seed, index=index, seconds=seconds,
                                        sr=SAMPLE_RATE)
                track_id = f"{genre}.{index:05d}"
                _write_atomic_wav(folder / f"{track_id}.wav", y, SAMPLE_RATE)
                rows.append({"track_id": track_id, **params})
                bar.update(1)
    finally:
        bar.close()
    table = pd.DataFrame(rows)
    first = ["track_id", "genre", "artist", "seed", "index", "artist_slot"]
    table = table[first + [c for c in table.columns if c not in first]]
    table = table.sort_values(["genre", "index"], kind="stable").reset_index(drop=True)
    tmp = root / "metadata.csv.tmp"
    table.to_csv(tmp, index=False)
    os.replace(tmp, root / "metadata.csv")
    return table
