"""The Free Music Archive dataset (FMA; Defferrard, Benzi, Vandergheynst & Bresson, "FMA: A
Dataset for Music Analysis", ISMIR 2017: ``defferrard2017``) on disk: its ``tracks.csv``
metadata and the audio of one subset, as a track table shaped like GTZAN's.

FMA ships as ``fma_metadata.zip`` (``fma_metadata/tracks.csv``, ...) and one zip of MP3s per
subset (``fma_small``: 8,000 30-s clips of 8 balanced genres; ``fma_medium``: 25,000 clips,
16 genres; ``fma_large``: 106,574 clips; ``fma_full``: the same tracks untrimmed). The
subsets nest: a track's ``set/subset`` is the smallest one it belongs to. Unzipped side by
side (what ``genre-lab fetch fma-small`` leaves)::

    ROOT/fma_metadata/tracks.csv
    ROOT/fma_small/000/000002.mp3      # <subset folder>/<first 3 digits>/<6-digit id>.mp3

Every clip is checked as the GTZAN loader checks its own (``gtzan.inspect_file``, the same
reasons); a clip that cannot be used is skipped and one warning lists each with its reason.
FMA has such clips: six in ``fma_small`` are empty or much shorter than 30 s, cut from
tracks whose length the FMA database got wrong (mdeff/fma issues #4, #8, #44).

Labels index the subset's own genres (``tracks.attrs["genres"]``: its ``genre_top`` values,
sorted), not ``genre_lab.GENRES``; this is why ``data.load_tracks()`` does not pick FMA up
from ``GENRE_LAB_DATA``: the chapters name labels with GTZAN's ten genres.

Notebook: none yet (the instructor guide: real data beyond GTZAN).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pandas as pd

from .. import parallel
from .gtzan import MIN_SECONDS, TRACK_COLUMNS, BadAudioWarning, GTZANError, Problem, inspect_file

#: Audio folders of the subsets; "full" holds the untrimmed tracks of "large".
SUBSETS = ("small", "medium", "large", "full")
#: Length of a clip in the trimmed subsets (small, medium, large).
CLIP_SECONDS = 30.0
#: Trimmed clips shorter than this are skipped. Regular clips vary slightly around 30 s
#: (mdeff/fma utils.py: NB_AUDIO_SAMPLES = 1321967 at 44.1 kHz, 29.98 s, "fix dataset to be
#: constant"); the faulty ones are empty or a few seconds long.
MIN_CLIP_SECONDS = CLIP_SECONDS - 1.0
#: FMA's split names, as the package names its sides.
SPLIT_NAMES = {"training": "train", "validation": "val", "test": "test"}
#: The columns read from tracks.csv (its 2-level header: mdeff/fma utils.py ``load``).
COLUMNS = {("set", "subset"): "subset", ("set", "split"): "split",
           ("track", "genre_top"): "genre", ("artist", "name"): "artist",
           ("track", "title"): "title"}
#: fma_small clips known to be empty or much shorter than 30 s (mdeff/fma issue #8; #44:
#: the last three hold no audio at all). Only used to say so when a check finds one.
KNOWN_FAULTY = frozenset({98565, 98567, 98569, 99134, 108925, 133297})
TABLE_COLUMNS = TRACK_COLUMNS + ["split"]


class FMAError(GTZANError):
    """An FMA folder or tracks.csv that cannot be used; the message says which and why."""


def audio_path(audio_dir, track_id: int) -> Path:
    """Where FMA keeps a track's MP3: ``audio_dir/000/000002.mp3`` for track 2 (mdeff/fma
    utils.py ``get_audio_path``)."""
    tid = f"{int(track_id):06d}"
    return Path(audio_dir) / tid[:3] / f"{tid}.mp3"


def locate(root, subset: str = "small") -> tuple[Path, Path]:
    """``(tracks_csv, audio_dir)`` of ``subset`` below ``root``: ``tracks.csv`` in
    ``root/fma_metadata`` or ``root``; the MP3s in ``root/fma_<subset>``.

    Raises:
        FMAError: an unknown subset, or either is missing.
    """
    if subset not in SUBSETS:
        raise FMAError(f"unknown FMA subset {subset!r}: choose one of {', '.join(SUBSETS)}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FMAError(f"{root}: no such folder")
    candidates = [root / "fma_metadata" / "tracks.csv", root / "tracks.csv"]
    tracks_csv = next((c for c in candidates if c.is_file()), None)
    if tracks_csv is None:
        raise FMAError(f"{root}: no FMA metadata; expected {candidates[0]} (from "
                       "fma_metadata.zip: `genre-lab fetch fma-metadata --dest ROOT`)")
    audio_dir = root / f"fma_{subset}"
    if not audio_dir.is_dir():
        raise FMAError(f"{root}: no folder fma_{subset} (from fma_{subset}.zip)")
    return tracks_csv, audio_dir


def header(path) -> tuple[list[tuple[str, str]], int]:
    """The 2-level column names of FMA's ``tracks.csv`` and how many lines its header takes:
    3 with the line that names the index (``track_id,,,...``, as published), else 2.

    Raises:
        FMAError: no such file, or a column the loader needs is missing.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            head = list(zip(next(rows), next(rows), strict=True))
            third = next(rows, [])
    except (OSError, StopIteration, ValueError, UnicodeDecodeError, csv.Error) as err:
        raise FMAError(f"{path}: cannot read its 2-line header ({type(err).__name__})") from None
    missing = [".".join(c) for c in COLUMNS if c not in head]
    if missing:
        raise FMAError(f"{path}: not FMA's tracks.csv (no column {', '.join(missing)})")
    names_index = third[:1] == ["track_id"] and not any(third[1:])
    return head, 3 if names_index else 2


def read_tracks(path) -> pd.DataFrame:
    """The columns of ``tracks.csv`` the loader needs, indexed by track id.

    ``tracks.csv`` has a 2-level header (``album,album,...`` over ``comments,date_created,
    ...``) and a third line that names the index (``track_id``); mdeff/fma utils.py ``load``
    reads it with ``header=[0, 1], index_col=0``. Here the header is read by
    :func:`header` and only the columns in :data:`COLUMNS` are parsed (the file is 250 MB;
    pandas takes no ``usecols`` with a 2-level header).

    Returns:
        Columns subset, split, genre, artist, title; index ``track_id`` (int).

    Raises:
        FMAError: not such a file, or a column missing.
    """
    path = Path(path)
    head, lines = header(path)
    positions = [0] + [head.index(c) for c in COLUMNS]
    try:
        table = pd.read_csv(path, header=None, skiprows=lines, index_col=0, usecols=positions,
                            names=["track_id"] + [f"{a}.{b}" for a, b in head[1:]])
    except (ValueError, OSError, UnicodeDecodeError) as err:  # pandas' parser errors
        raise FMAError(f"{path}: cannot read it as FMA's tracks.csv "
                       f"({str(err).splitlines()[0] if str(err) else err!r})") from None
    table = table[[f"{a}.{b}" for a, b in COLUMNS]]
    table.columns = list(COLUMNS.values())
    table.index = table.index.astype("int64")
    table.index.name = "track_id"
    return table


def in_subset(tracks: pd.DataFrame, subset: str) -> pd.Series:
    """Which rows of :func:`read_tracks` belong to ``subset``; subsets nest (small is in
    medium, both in large), as the ordered category of mdeff/fma utils.py ``load``."""
    order = {"small": 0, "medium": 1, "large": 2, "full": 2}
    rank = tracks["subset"].map(order)
    return rank.notna() & (rank <= order[subset])


def _inspect(path: str, min_seconds: float):
    # A module-level function: parallel.run_jobs may run it in worker processes.
    try:
        return inspect_file(path, min_seconds=min_seconds)
    except OSError as err:  # a dangling link, no read permission
        return None, f"cannot read the file ({err.strerror or type(err).__name__})", None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_tracks(root, subset: str = "small", *, strict: bool = False,
                min_seconds: float | None = None, n_jobs: int | None = 1,
                progress: bool = False) -> pd.DataFrame:
    """The usable tracks of an FMA subset as a table, one row per clip: FMA's counterpart of
    ``data.load_tracks``.

    Columns: those of ``gtzan.track_table`` (track_id: the 6-digit id as in the file name;
    genre: ``genre_top``; label: index into ``attrs["genres"]``; artist: the artist's name;
    duration, sample_rate, channels, frames, subtype from the file; note: conversion on
    load) plus ``split``: FMA's published split, as ``train``/``val``/``test``
    (``dataset.prepare(tracks, split="given")`` keeps it). Tracks
    without a top genre (most of "large") are left out and counted in
    ``attrs["without_genre"]``.

    Args:
        root: the folder holding ``fma_metadata/`` and ``fma_<subset>/``.
        subset: small, medium, large or full.
        strict: raise on the first problem instead of skipping bad files with a warning.
        min_seconds: shorter clips are skipped. Default: 29 s for the 30-s clips, and
            gtzan's 3 s (one segment) for the untrimmed tracks of "full".
        n_jobs: processes that check the clips (None: every core). Each MP3 is decoded
            once: 60-80 ms for a 30-s 44.1 kHz stereo clip on this project's 2 shared cores,
            so fma_small's 8,000 take about 10 minutes in one process.
        progress: show a progress bar while checking.

    Raises:
        FMAError: no FMA folder or tracks.csv, no audio at all, or (strict) a bad file.

    Warns:
        BadAudioWarning: once, one line per skipped clip and why, and one for missing ones.
    """
    tracks_csv, audio_dir = locate(root, subset)
    if min_seconds is None:
        min_seconds = MIN_SECONDS if subset == "full" else MIN_CLIP_SECONDS
    meta = read_tracks(tracks_csv)
    meta = meta[in_subset(meta, subset)].sort_index()
    without_genre = int(meta.genre.isna().sum())
    meta = meta[meta.genre.notna()]
    genres = tuple(sorted(meta.genre.unique()))
    paths = {tid: audio_path(audio_dir, tid) for tid in meta.index}
    present = [tid for tid, p in paths.items() if p.is_file()]
    absent = sorted(set(paths) - set(present))
    if not present:
        raise FMAError(f"{audio_dir}: none of the {len(meta)} {subset} tracks of {tracks_csv} "
                       "is there (want <3 digits>/<6-digit id>.mp3)")
    jobs = [(_inspect, (str(paths[tid]), float(min_seconds))) for tid in present]
    checked = parallel.run_jobs(jobs, n_jobs=parallel.n_workers(n_jobs, len(jobs)),
                                progress=progress, desc=f"checking fma_{subset}", unit="clip")
    rows, problems = [], []
    for tid, (info, bad, note) in zip(present, checked, strict=True):
        if bad:
            known = " (a known FMA fault: mdeff/fma#8)" if tid in KNOWN_FAULTY else ""
            problems.append(Problem(paths[tid], _one_line(bad) + known))
            continue
        # gtzan's notes compare with GTZAN's PCM_16; an MP3 is FMA's format, not a conversion
        note = "; ".join(n for n in (note or "").split("; ")
                         if n and not n.endswith("(GTZAN is PCM_16)")) or None
        row = meta.loc[tid]
        rows.append(dict(track_id=f"{tid:06d}", genre=row.genre,
                         label=genres.index(row.genre), path=str(paths[tid]),
                         artist=None if pd.isna(row.artist) else str(row.artist), note=note,
                         split=SPLIT_NAMES.get(row.split, row.split), **info))
    if absent:
        shown = ", ".join(f"{t:06d}" for t in absent[:5]) + (", ..." if len(absent) > 5 else "")
        problems.append(Problem(audio_dir, f"{len(absent)} {subset} track(s) of tracks.csv "
                                           f"have no MP3 here ({shown})"))
    if problems and strict:
        raise FMAError(f"{problems[0]}" + (f" (and {len(problems) - 1} more problems)"
                                           if len(problems) > 1 else ""))
    if problems:
        listing = "\n".join(f"  {p}" for p in problems)
        warnings.warn(BadAudioWarning(f"{len(problems)} problem(s) in {audio_dir}; "
                                      f"skipped:\n{listing}"), stacklevel=2)
    if not rows:
        raise FMAError(f"{audio_dir}: no usable audio files")
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table = table.astype({"label": "int64", "sample_rate": "int64", "channels": "int64",
                          "frames": "int64"})
    table.attrs.update(root=str(Path(root).expanduser()), genre_dir=str(audio_dir),
                       layout=f"fma_{subset}", source="fma", subset=subset, genres=genres,
                       without_genre=without_genre, problems=len(problems))
    return table

