"""Writing the data set: every clip as a WAV in GTZAN's layout, plus ``metadata.csv``, plus a
record of what was written, so that a later run replaces only files of its own."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import warnings
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


def _save(tmp: Path, data: bytes) -> None:
    """Write ``data`` to the new file ``tmp`` (``O_EXCL``: never another's file)."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _save_temp(tmp: Path, data: bytes, final: Path) -> None:
    """:func:`_save`; on failure, remove the partial ``tmp`` and name ``final`` in the error."""
    try:
        _save(tmp, data)
    except FileExistsError:  # not ours: leave it
        raise
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror or str(err), str(final)) from None
        raise


def _write_wav(tmp: Path, y: np.ndarray, sr: int, final: Path) -> tuple[int, str]:
    """Write ``y`` as 16-bit WAV to ``tmp``; return its size and sha256."""
    pcm = np.clip(np.round(y.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    buffer = io.BytesIO()
    sf.write(buffer, pcm, sr, subtype="PCM_16", format="WAV")
    data = buffer.getvalue()
    _save_temp(tmp, data, final)
    return len(data), hashlib.sha256(data).hexdigest()


def _write_clip(genre: str, seed: int, index: int, seconds: float, tmp: Path, final: Path):
    """Render one clip into ``tmp`` (a unique temporary name next to ``final``); return its
    metadata row, size and sha256 (the caller records it, then renames it to ``final``).
    Runs in a worker process: an OSError names ``final``, and no partial ``tmp`` is left."""
    y, params = render_clip(genre, seed=seed, index=index, seconds=seconds, sr=SAMPLE_RATE)
    size, digest = _write_wav(tmp, y, SAMPLE_RATE, final)
    return {"track_id": f"{genre}.{index:05d}", **params}, size, digest


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


def _refuse_links(root: Path, targets: list[Path]) -> None:
    """Refuse a symbolic link at ``root``, ``root/genres``, a genre folder, or where a file of
    the set (``targets``, the record, the journal) would go: writing would follow it and
    could replace files outside ``root``."""
    genres = root / "genres"
    folders = [root, genres, *(genres / g for g in GENRES)]
    for path in [*folders, root / RECORD, root / JOURNAL, *targets]:
        if path.parent not in (root, genres) and not path.parent.is_dir():
            continue  # a genre folder still to be made holds nothing yet
        if path.is_symlink():
            raise FileExistsError(
                f"{path}: is a symbolic link; genre-lab synth writes only into real folders "
                f"and files (writing through a link could replace files outside {root}): "
                f"refusing; choose another folder")


def _make_root(root: Path) -> list[Path]:
    """Create ``root`` and check that a file can be written in it; return the folders created
    (deepest first). Raises OSError, naming ``root``, where nothing can be written."""
    created, path = [], root
    while not os.path.lexists(path) and path != path.parent:
        created.append(path)
        path = path.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root, prefix=".genre-lab-synth-probe-"):
            pass
    except OSError as err:
        _remove_folders(created)
        raise OSError(err.errno, f"cannot write there ({err.strerror or err})",
                      str(root)) from None
    return created


def _remove_folders(folders: list[Path]) -> None:
    for folder in folders:  # deepest first; only while empty
        try:
            folder.rmdir()
        except OSError:
            break


def _prepare(root: Path, overwrite: bool, needed: int, targets: list[Path]) -> None:
    """Refuse symbolic links (see :func:`_refuse_links`) and a folder holding audio or
    ``metadata.csv`` that an earlier run did not write, or that it wrote when ``overwrite``
    is false; create ``root`` and check that it can be written and has the free space; then
    remove the earlier run's files (only those, unchanged) and its record."""
    _refuse_links(root, targets)
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
    created = _make_root(root)
    try:
        _check_free_space(root, needed, sum(p.stat().st_size for p in ours))
    except BaseException:
        _remove_folders(created)
        raise
    for path in ours:
        path.unlink()
    for name in (RECORD, JOURNAL):  # what they list is gone now
        (root / name).unlink(missing_ok=True)


def _append(fd: int, data: bytes) -> None:
    while data:  # a short write (a full disk) is followed by one that raises
        data = data[os.write(fd, data):]


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
        FileExistsError: a symbolic link at ``root``, ``root/genres``, a genre folder, or
            where a file of the set would go (writing would follow it). Nothing is written.
        OSError: ``root`` cannot be created or written ("cannot write there"), or the disk
            has too little free space for the set (both checked before writing; a folder
            created for the check is removed); or writing a file failed (a full disk): the
            error names the file, its partial temporary file is removed, and the clips
            written before it are recorded, so ``overwrite`` replaces them.
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
    clips = [(genre, index) for genre in GENRES for index in range(clips_per_genre)]
    finals = [root / "genres" / genre / f"{genre}.{index:05d}.wav" for genre, index in clips]
    _prepare(root, overwrite, needed=n_clips * (wav_bytes + _ROW_BYTES),
             targets=[*finals, root / _METADATA])

    for genre in GENRES:
        (root / "genres" / genre).mkdir(parents=True, exist_ok=True)
        store.remove_stale_temps(root / "genres" / genre)  # of killed runs
    store.remove_stale_temps(root)
    # Unique temporary names (host, pid of this process, token): never a user's file, and a
    # killed run's are removed by the next run (store.remove_stale_temps).
    temps = [store.temp_name(final) for final in finals]
    jobs = [(_write_clip, (genre, seed, index, seconds, tmp, final))
            for (genre, index), tmp, final in zip(clips, temps, finals, strict=True)]
    written: dict[str, list] = {}
    rows = []
    current = finals[0]  # the file being written, named in an error without a file name
    fd = os.open(root / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                 getattr(os, "O_NOFOLLOW", 0), 0o666)

    def record(tmp: Path, final: Path, size: int, digest: str) -> None:
        # Journal first: a file under its final name is always recorded.
        nonlocal current
        rel = final.relative_to(root).as_posix()
        current = root / JOURNAL
        _append(fd, f"{size} {digest} {rel}\n".encode())
        current = final
        os.replace(tmp, final)
        written[rel] = [size, digest]

    results = run_jobs(jobs, n_jobs=n_workers(n_jobs, n_clips), progress=progress,
                       desc="synthetic mini-GTZAN", unit="clip")
    done = 0
    try:
        for (row, size, digest), tmp, final in zip(results, temps, finals, strict=True):
            record(tmp, final, size, digest)
            rows.append(row)
            done += 1
            current = finals[min(done, n_clips - 1)]  # the clip awaited next
        table = pd.DataFrame(rows)
        first = ["track_id", "genre", "artist", "seed", "index", "artist_slot"]
        table = table[first + [c for c in table.columns if c not in first]]
        table = table.sort_values(["genre", "index"], kind="stable").reset_index(drop=True)
        csv = table.to_csv(index=False).encode()
        current = root / _METADATA
        tmp = store.temp_name(current)
        temps.append(tmp)
        _save_temp(tmp, csv, current)
        record(tmp, current, len(csv), hashlib.sha256(csv).hexdigest())
        text = json.dumps({"written_by": "genre-lab synth", "files": written}, sort_keys=True,
                          indent=0)
        current = root / RECORD
        store.atomic_write(current, lambda f: f.write(text.encode()))
    except OSError as err:
        raise OSError(err.errno, f"{err.strerror or err}; {done} of {n_clips} clips were "
                      f"written before this, recorded as this run's (genre-lab synth "
                      f"--overwrite replaces them)", err.filename or str(current)) from err
    finally:
        os.close(fd)
        with warnings.catch_warnings():  # joblib's, on stopping early: the error says it
            warnings.simplefilter("ignore")
            results.close()  # stops the workers
        for tmp in temps[done:]:  # the partial or unrecorded files of a failed run
            tmp.unlink(missing_ok=True)
    (root / JOURNAL).unlink()
    return table
