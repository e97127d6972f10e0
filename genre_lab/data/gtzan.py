"""The real GTZAN on disk: find it, validate every file, and build the track table.

Two layouts are recognised, from the folder a user points at (or any folder inside them):

* the original archive: ``ROOT/genres/<genre>/<genre>.000NN.au`` (or ``.wav``);
* the Kaggle copy: ``ROOT/Data/genres_original/<genre>/<genre>.000NN.wav``.

Every file is checked before anything trains on it. A file that cannot be used (not audio,
empty, truncated, silent, too short, misnamed, a duplicate id, or what ``genre_lab.audio``
refuses: NaN/infinite or absurdly loud samples, a rate below 4 kHz) is skipped, and one warning
lists every skipped file and why; ``strict=True`` raises instead. Files that are usable but
not in GTZAN's format (stereo, another rate, 8-bit) are kept and noted: ``genre_lab.audio``
converts them on load. GTZAN really has such a file: the Kaggle copy's ``jazz.00054.wav``
is not a RIFF file.

Notebook: 01-waveforms (the track table), 08-evaluation (GTZAN's faults).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from .. import GENRES, audio
from ..config import SAMPLE_RATE

#: Where the genre folders sit below the folder a user names, per layout.
LAYOUTS = {
    "original": Path("genres"),
    "kaggle": Path("Data") / "genres_original",
    "genre folders": Path("."),
    "kaggle (genres_original)": Path("genres_original"),
}
AUDIO_SUFFIXES = (".wav", ".au")
#: Shorter clips are skipped: a model needs at least one 3-second segment.
MIN_SECONDS = 3.0
TRACK_ID = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})$")
TRACK_COLUMNS = [
    "track_id", "genre", "label", "path", "artist", "duration", "sample_rate", "channels",
    "frames", "subtype", "note",
]


class GTZANError(Exception):
    """The dataset folder cannot be used as it is; the message says which path and why."""


class BadAudioWarning(UserWarning):
    """Files were skipped; the message lists each one and the reason."""


@dataclass
class Problem:
    """A file (or folder) with what is wrong with it."""

    path: Path
    reason: str

    def __str__(self):
        return f"{self.path}: {self.reason}"


@dataclass
class Report:
    """What a scan of a GTZAN folder found: the usable tracks and every problem."""

    root: Path
    genre_dir: Path
    layout: str
    tracks: pd.DataFrame
    skipped: list[Problem] = field(default_factory=list)
    converted: list[Problem] = field(default_factory=list)
    unknown_folders: list[Problem] = field(default_factory=list)
    missing_genres: list[str] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file is usable and every genre folder is there."""
        return not (self.skipped or self.unknown_folders or self.missing_genres)

    def problems(self) -> list[Problem]:
        """Every reason the dataset is not clean (skipped files, odd or missing folders)."""
        missing = [Problem(self.genre_dir / g, "missing genre folder") for g in self.missing_genres]
        return missing + self.unknown_folders + self.skipped

    def text(self) -> str:
        """The human-readable report that ``genre-lab check`` prints."""
        t = self.tracks
        lines = [f"GTZAN check: {self.root}", f"layout: {self.layout} ({self.genre_dir})", ""]
        lines.append(f"{'genre':<10} {'tracks':>6} {'min s':>7} {'max s':>7}  sample rates")
        for genre in GENRES:
            rows = t[t.genre == genre]
            if rows.empty:
                lines.append(f"{genre:<10} {0:>6}")
                continue
            rates = ", ".join(f"{r} Hz" for r in sorted(rows.sample_rate.unique()))
            lines.append(
                f"{genre:<10} {len(rows):>6} {rows.duration.min():>7.2f} "
                f"{rows.duration.max():>7.2f}  {rates}"
            )
        lines.append(f"{'total':<10} {len(t):>6}")
        for title, items in [
            ("missing genre folders", [Problem(self.genre_dir / g, "missing") for g in
                                       self.missing_genres]),
            ("unknown folders (skipped)", self.unknown_folders),
            ("bad files (skipped)", self.skipped),
            ("converted on load (kept)", self.converted),
        ]:
            if items:
                lines += ["", f"{title}: {len(items)}"] + [f"  {p}" for p in items]
        if self.ignored:
            lines += ["", f"other files ignored: {len(self.ignored)}"]
        lines += ["", "OK: every file is usable." if self.ok else
                  f"NOT OK: {len(self.problems())} problem(s) above."]
        return "\n".join(lines)


def locate(root) -> tuple[Path, str]:
    """Find the folder that holds the genre folders below ``root``.

    Returns:
        ``(genre_dir, layout_name)``.

    Raises:
        GTZANError: ``root`` does not exist or holds no genre folder in a known layout.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise GTZANError(f"{root}: no such folder (set GENRE_LAB_DATA to your GTZAN folder)")
    if not root.is_dir():
        raise GTZANError(f"{root}: not a folder")
    for layout, sub in LAYOUTS.items():
        candidate = root / sub
        if candidate.is_dir() and any((candidate / g).is_dir() for g in GENRES):
            return candidate.resolve(), layout
    expected = ", ".join(f"{root / sub}/<genre>/" for sub in LAYOUTS.values())
    raise GTZANError(f"{root}: no GTZAN genre folders found; expected one of: {expected}")


def _libsndfile_says_truncated(info) -> str | None:
    # libsndfile's header log flags a data chunk larger than the file: "data : N (should be M)"
    for line in info.extra_info.splitlines():
        key = line.strip().lower()
        if key.startswith(("data", "data size")) and "should be" in key:
            return line.strip()
    return None


@lru_cache(maxsize=4096)
def _inspect_cached(path: str, size: int, mtime_ns: int, min_seconds: float):
    p = Path(path)
    if size == 0:
        return None, "empty file (0 bytes)", None
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as err:
        with open(p, "rb") as f:
            head = f.read(4)
        if p.suffix.lower() == ".wav" and head not in (b"RIFF", b"RIFX", b"RF64"):
            return None, f"not a RIFF/WAV file (starts with {head!r}); cannot decode", None
        return None, f"cannot decode audio ({err})", None
    meta = dict(sample_rate=info.samplerate, channels=info.channels, frames=info.frames,
                subtype=info.subtype, duration=info.frames / info.samplerate)
    truncated = _libsndfile_says_truncated(info)
    if truncated:
        return meta, f"truncated file (header: {truncated})", None
    if info.frames == 0:
        return meta, "no audio samples", None
    rate_problem = audio.sample_rate_problem(info.samplerate)
    if rate_problem:
        return meta, rate_problem, None
    if meta["duration"] < min_seconds:
        return meta, f"too short ({meta['duration']:.2f} s < {min_seconds:g} s)", None
    try:
        y, _ = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        return meta, f"cannot decode audio ({err})", None
    peak = float(np.maximum(y.max(), -y.min()))  # NaN propagates
    peak_problem = audio.peak_problem(peak)
    if peak_problem:
        return meta, peak_problem, None
    if peak == 0:
        return meta, "silent (every sample is zero)", None
    if peak < audio.SILENCE_PEAK:
        return meta, f"silent (peak {peak:.2g}, below -80 dBFS)", None
    notes = []
    if info.channels != 1:
        notes.append(f"{info.channels} channels, mixed to mono on load")
    if info.samplerate != SAMPLE_RATE:
        notes.append(f"{info.samplerate} Hz, resampled to {SAMPLE_RATE} Hz on load")
    if info.subtype != "PCM_16":
        notes.append(f"{info.subtype} samples (GTZAN is PCM_16)")
    if peak > 1:
        notes.append(f"peak {peak:.3g} above full scale (1.0), used as it is")
    return meta, None, "; ".join(notes) or None


def inspect_file(path, *, min_seconds: float = MIN_SECONDS):
    """Check one audio file.

    Returns:
        ``(meta, bad_reason, note)``: ``meta`` holds sample_rate, channels, frames, subtype and
        duration (None when the header cannot be read); ``bad_reason`` says why the file must
        be skipped (None when usable); ``note`` says what loading will convert (or None).
    """
    path = Path(path)
    st = path.stat()
    return _inspect_cached(str(path), st.st_size, st.st_mtime_ns, float(min_seconds))


def _artists(root: Path, genre_dir: Path) -> dict[str, str]:
    # The synthetic set (and any user who adds one) keeps artists in metadata.csv.
    for candidate in (root / "metadata.csv", genre_dir.parent / "metadata.csv"):
        if candidate.is_file():
            try:
                meta = pd.read_csv(candidate, usecols=lambda c: c in ("track_id", "artist"))
            except (ValueError, OSError, UnicodeDecodeError) as err:  # pandas' parser errors
                raise GTZANError(f"{candidate}: cannot read it as a CSV table "
                                 f"({str(err).splitlines()[0] if str(err) else err!r})") from None
            if {"track_id", "artist"} <= set(meta.columns):
                return dict(zip(meta.track_id, meta.artist, strict=True))
    return {}


def _reason(err: OSError) -> str:
    # "Too many levels of symbolic links", "No such file or directory" (a dangling link), ...
    return err.strerror or type(err).__name__


def scan(root, *, min_seconds: float = MIN_SECONDS) -> Report:
    """Find and validate every clip below ``root``; nothing is raised for bad files.

    Raises:
        GTZANError: only when ``root`` is not a GTZAN folder at all.
    """
    root = Path(root).expanduser()
    genre_dir, layout = locate(root)
    artists = _artists(root, genre_dir)
    rows, skipped, converted, unknown, ignored = [], [], [], [], []
    seen: dict[str, Path] = {}
    missing = [g for g in GENRES if not (genre_dir / g).is_dir()]
    for folder in sorted(p for p in genre_dir.iterdir() if p.is_dir()):
        if folder.name.startswith("."):
            continue
        try:
            entries = sorted(folder.iterdir())
        except OSError as err:  # an unreadable folder: skipped and reported like a bad file
            skipped.append(Problem(folder, f"cannot list the folder ({_reason(err)})"))
            continue
        if folder.name not in GENRES:
            n = sum(1 for f in entries if f.suffix.lower() in AUDIO_SUFFIXES)
            unknown.append(Problem(folder, f"unknown genre folder ({n} audio files skipped)"))
            continue
        for path in entries:
            if path.name.startswith(".") or path.is_dir():
                continue
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                ignored.append(path)
                continue
            match = TRACK_ID.match(path.stem)
            if not match:
                skipped.append(Problem(path, f"unexpected file name (want {folder.name}.000NN"
                                             f"{path.suffix})"))
                continue
            if match["genre"] != folder.name:
                skipped.append(Problem(path, f"file name says {match['genre']!r} but it is in "
                                             f"the {folder.name!r} folder"))
                continue
            track_id = path.stem
            if track_id in seen:
                skipped.append(Problem(path, f"duplicate track id {track_id} (kept "
                                             f"{seen[track_id].name})"))
                continue
            try:
                meta, bad, note = inspect_file(path, min_seconds=min_seconds)
            except OSError as err:  # a dangling link, a link loop, no read permission
                meta, bad, note = None, f"cannot read the file ({_reason(err)})", None
            if bad:
                skipped.append(Problem(path, bad))
                continue
            seen[track_id] = path
            if note:
                converted.append(Problem(path, note))
            rows.append(dict(track_id=track_id, genre=folder.name,
                             label=GENRES.index(folder.name), path=str(path),
                             artist=artists.get(track_id), note=note, **meta))
    if not rows and not skipped:
        raise GTZANError(f"{genre_dir}: genre folders hold no .wav or .au files")
    tracks = pd.DataFrame(rows, columns=TRACK_COLUMNS)
    tracks = tracks.astype({"label": "int64", "sample_rate": "int64", "channels": "int64",
                            "frames": "int64"})
    tracks.attrs.update(root=str(root), genre_dir=str(genre_dir), layout=layout)
    return Report(root=root, genre_dir=genre_dir, layout=layout, tracks=tracks, skipped=skipped,
                  converted=converted, unknown_folders=unknown, missing_genres=missing,
                  ignored=ignored)


def track_table(root, *, strict: bool = False, min_seconds: float = MIN_SECONDS) -> pd.DataFrame:
    """The usable tracks below ``root`` as a table, one row per clip.

    Columns: track_id, genre, label (index into ``GENRES``), path, artist (None where unknown),
    duration (s), sample_rate, channels, frames, subtype, note (conversion on load, if any).

    Args:
        root: a GTZAN folder in the original or the Kaggle layout.
        strict: raise on the first problem instead of skipping bad files with a warning.
        min_seconds: clips shorter than this are skipped.

    Raises:
        GTZANError: ``root`` is not a GTZAN folder, or (strict) a file or folder is bad.

    Warns:
        BadAudioWarning: once, listing every skipped file or folder and why.
    """
    report = scan(root, min_seconds=min_seconds)
    problems = report.problems()
    if problems and strict:
        raise GTZANError(f"{problems[0]}" + (f" (and {len(problems) - 1} more problems)"
                                              if len(problems) > 1 else ""))
    if problems:
        listing = "\n".join(f"  {p}" for p in problems)
        warnings.warn(BadAudioWarning(
            f"{len(problems)} problem(s) in {report.genre_dir}; skipped:\n{listing}"),
            stacklevel=2)
    if report.tracks.empty:
        raise GTZANError(f"{report.genre_dir}: no usable audio files")
    return report.tracks
