"""Writing the data set: every clip as a WAV in GTZAN's layout, plus ``metadata.csv``, plus a
record of what was written, so that a later run replaces only files of its own."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from genre_lab import GENRES, store
from genre_lab.config import SAMPLE_RATE
from genre_lab.parallel import n_workers, run_jobs

from .render import _check_int, _check_seconds, render_clip

#: Bounds of :func:`generate`: GTZAN has 100 clips of 30 s per genre; these allow far more,
#: yet keep a typo from filling the disk (10 genres x 10,000 x 600 s would be 2.6 TB) and one
#: clip, rendered in memory by each worker, under about 1 GB.
MAX_CLIPS_PER_GENRE = 10_000
MAX_SECONDS = 600.0
#: What a finished run wrote: JSON ``{"files": {relative path: [size, sha256]}}``, written last.
RECORD = ".genre-lab-synth.json"
#: ``size sha256 path`` lines appended before each file gets its final name; removed once
#: :data:`RECORD` is written, so it only remains after an interrupted run.
JOURNAL = ".genre-lab-synth.journal"
#: Audio files (by suffix) that :func:`generate` refuses to mix its clips with.
AUDIO_SUFFIXES = frozenset({
    ".wav", ".wave", ".au", ".snd", ".mp3", ".mp2", ".flac", ".ogg", ".oga", ".opus", ".m4a",
    ".mp4", ".aac", ".aif", ".aiff", ".aifc", ".wma", ".wv", ".ape", ".caf", ".w64", ".rf64",
    ".mka", ".webm", ".amr", ".ac3", ".mid", ".midi"})
_METADATA = "metadata.csv"
_MAX_RECORD_BYTES = 64 << 20  # a record of 100,000 files is about 10 MB
_ROW_BYTES = 1024  # per clip, beside its WAV: its metadata row and its record entries
_MAX_FILES_CHECKED = 2 * len(GENRES) * MAX_CLIPS_PER_GENRE  # a folder to write into


def _write_wav(tmp: Path, y: np.ndarray, sr: int) -> tuple[int, str]:
    """Write ``y`` as 16-bit WAV to ``tmp``; return its size and sha256."""
    pcm = np.clip(np.round(y.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    buffer = io.BytesIO()
    sf.write(buffer, pcm, sr, subtype="PCM_16", format="WAV")
    data = buffer.getvalue()
    tmp.write_bytes(data)
    return len(data), hashlib.sha256(data).hexdigest()


def _write_clip(genre: str, seed: int, index: int, seconds: float, folder: Path):
    """Render one clip into ``folder/<genre>.<index>.wav.tmp``; return its metadata row,
    size and sha256 (the caller records it, then gives it its final name)."""
    y, params = render_clip(genre, seed=seed, index=index, seconds=seconds, sr=SAMPLE_RATE)
    track_id = f"{genre}.{index:05d}"
    size, digest = _write_wav(folder / f"{track_id}.wav.tmp", y, SAMPLE_RATE)
    return {"track_id": track_id, **params}, size, digest


def _recorded(root: Path) -> dict[str, set[tuple[int, str]]]:
    """What earlier runs wrote into ``root``: relative path -> {(size, sha256)}, from the
    record of a finished run and the journal of an interrupted one (unreadable parts: none)."""
    files: dict[str, set[tuple[int, str]]] = {}
    try:
        if (root / RECORD).stat().st_size <= _MAX_RECORD_BYTES:
            listed = json.loads((root / RECORD).read_text(encoding="utf-8"))["files"]
            for rel, (size, digest) in listed.items():
                files.setdefault(rel, set()).add((int(size), str(digest)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    try:
        if (root / JOURNAL).stat().st_size <= _MAX_RECORD_BYTES:
            for line in (root / JOURNAL).read_text(encoding="utf-8").splitlines():
                parts = line.split(" ", 2)  # a killed run may leave a partial last line
                if len(parts) == 3 and parts[0].isdigit() and len(parts[1]) == 64:
                    files.setdefault(parts[2], set()).add((int(parts[0]), parts[1]))
    except (OSError, ValueError):
        pass
    return files


def _is_recorded(path: Path, versions: set[tuple[int, str]]) -> bool:
    """Whether ``path`` is a regular file with the size and sha256 an earlier run recorded."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and any(size == st.st_size for size, _ in versions) and \
        (st.st_size, store.file_sha256(path)) in versions


def _earlier_files(root: Path) -> tuple[list[Path], Path | None]:
    """The audio files and ``metadata.csv`` in ``root``: (those an earlier run wrote, unchanged;
    the first one that is not, or None)."""
    if not root.exists():
        return [], None
    recorded = _recorded(root)
    ours, seen = [], 0
    def unreadable(err: OSError):  # a folder that cannot be listed cannot be vouched for
        raise err

    for folder, subfolders, names in os.walk(root, onerror=unreadable):  # no symlinked folders
        subfolders.sort()
        seen += len(names)
        if seen > _MAX_FILES_CHECKED:
            raise FileExistsError(f"{root}: holds over {_MAX_FILES_CHECKED:,} files, more than "
                                  f"a run writes; choose an empty folder")
        for name in sorted(names):
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if rel != _METADATA and os.path.splitext(name)[1].lower() not in AUDIO_SUFFIXES:
                continue
            if not _is_recorded(path, recorded.get(rel, set())):
                return ours, path
            ours.append(path)
    return ours, None


def _check_free_space(root: Path, needed: int, freed: int) -> None:
    existing = next(p for p in (root, *root.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if needed > free + freed:
        raise OSError(f"{root}: the set needs {needed / 1e9:.2f} GB, but only "
                      f"{(free + freed) / 1e9:.2f} GB are free there; choose fewer or shorter "
                      f"clips, or another disk")


def _prepare(root: Path, overwrite: bool, needed: int) -> None:
    """Refuse a folder holding audio or ``metadata.csv`` that an earlier run did not write, or
    that it wrote when ``overwrite`` is false; check the free space; then remove the earlier
    run's files (only those, unchanged) and its record."""
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root}: exists and is not a folder")
    ours, foreign = _earlier_files(root)
    if foreign is not None:
        raise FileExistsError(
            f"{root}: holds {foreign}, which genre-lab synth did not write (or which was "
            f"changed since); refusing to write into this folder, even with overwrite: "
            f"choose an empty folder")
    if ours and not overwrite:
        raise FileExistsError(
            f"{root}: holds {len(ours)} files from an earlier genre-lab synth run (e.g. "
            f"{ours[0]}): pass overwrite=True (genre-lab synth --overwrite) to replace them, "
            f"or choose an empty folder")
    _check_free_space(root, needed, sum(p.stat().st_size for p in ours))
    for path in ours:
        path.unlink()
    for name in (RECORD, JOURNAL):  # what they list is gone now
        (root / name).unlink(missing_ok=True)


def generate(root, *, clips_per_genre: int = 100, seconds: float = 30.0, seed: int = 0,
             progress: bool = True, overwrite: bool = False,
             n_jobs: int | None = None) -> pd.DataFrame:
    """Write the synthetic mini-GTZAN in GTZAN's layout.

    Writes ``root/genres/<genre>/<genre>.000NN.wav`` (22050 Hz, mono, PCM_16) for every genre
    and ``root/metadata.csv`` (one row per clip: ``track_id``, ``genre``, ``artist``,
    ``seed``, then the drawn parameters), each file via a temporary name and ``os.replace``
    so an interrupted run never leaves a half-written file under its final name. Last comes
    ``root/.genre-lab-synth.json`` (:data:`RECORD`): every file written, with its size and
    sha256, so that a later run knows which files are its own.

    Args:
        root: output folder (created if missing).
        clips_per_genre: clips per genre, 1 to :data:`MAX_CLIPS_PER_GENRE` (10,000); GTZAN
            has 100.
        seconds: length of every clip, 1 to :data:`MAX_SECONDS` (600); GTZAN's are 30 s.
        seed: seed of the set (>= 0); the same arguments give byte-identical files.
        progress: show a progress bar.
        overwrite: if ``root`` holds the files of an earlier run (as recorded, unchanged),
            delete them first. Nothing else is ever deleted.
        n_jobs: worker processes (None: every core; 1: in this process). Each clip depends
            only on its genre, seed and index, so the files are the same either way.

    Returns:
        The metadata table, sorted by genre then index.

    Raises:
        ValueError: an argument out of range.
        FileExistsError: ``root`` holds an audio file (any of :data:`AUDIO_SUFFIXES`) or a
            ``metadata.csv`` that no earlier run wrote, or that one did but was changed
            since; or, without ``overwrite``, the files of an earlier run. Nothing is
            written or removed then.
        OSError: the disk has too little free space for the set (checked before writing).
    """
    clips_per_genre = _check_int("clips_per_genre", clips_per_genre, 1)
    if clips_per_genre > MAX_CLIPS_PER_GENRE:
        raise ValueError(f"clips_per_genre must be <= {MAX_CLIPS_PER_GENRE:,} (GTZAN has 100; "
                         f"the bound keeps a typo from filling the disk), got {clips_per_genre}")
    seed = _check_int("seed", seed, 0)
    _check_seconds(seconds)
    if seconds > MAX_SECONDS:
        raise ValueError(f"seconds must be <= {MAX_SECONDS:g} (GTZAN's clips are 30 s; each "
                         f"clip is rendered in memory), got {seconds!r}")
    root = Path(root)
    n_clips = len(GENRES) * clips_per_genre
    wav_bytes = 44 + 2 * round(seconds * SAMPLE_RATE)
    _prepare(root, overwrite, needed=n_clips * (wav_bytes + _ROW_BYTES))

    jobs = ((_write_clip, (genre, seed, index, seconds, root / "genres" / genre))
            for genre in GENRES for index in range(clips_per_genre))
    for genre in GENRES:
        (root / "genres" / genre).mkdir(parents=True, exist_ok=True)
    written: dict[str, list] = {}
    rows = []
    with open(root / JOURNAL, "a", encoding="utf-8") as journal:
        def record(tmp: Path, final: Path, size: int, digest: str) -> None:
            # Journal first: a file under its final name is always recorded.
            rel = final.relative_to(root).as_posix()
            journal.write(f"{size} {digest} {rel}\n")
            journal.flush()
            os.replace(tmp, final)
            written[rel] = [size, digest]

        for row, size, digest in run_jobs(jobs, n_jobs=n_workers(n_jobs, n_clips),
                                          progress=progress, desc="synthetic mini-GTZAN",
                                          unit="clip"):
            final = root / "genres" / row["genre"] / f"{row['track_id']}.wav"
            record(final.with_name(final.name + ".tmp"), final, size, digest)
            rows.append(row)
        table = pd.DataFrame(rows)
        first = ["track_id", "genre", "artist", "seed", "index", "artist_slot"]
        table = table[first + [c for c in table.columns if c not in first]]
        table = table.sort_values(["genre", "index"], kind="stable").reset_index(drop=True)
        csv = table.to_csv(index=False).encode()
        tmp = root / f"{_METADATA}.tmp"
        tmp.write_bytes(csv)
        record(tmp, root / _METADATA, len(csv), hashlib.sha256(csv).hexdigest())
    text = json.dumps({"written_by": "genre-lab synth", "files": written}, sort_keys=True,
                      indent=0)
    store.atomic_write(root / RECORD, lambda f: f.write(text.encode()))
    (root / JOURNAL).unlink()
    return table
