"""Training data: every clip cut into 3-second segments, as log-mel spectrograms and MFCCs.

Each segment keeps its track id, so splits stay at the track level (segments of one track
never land on both sides of a split) and per-segment predictions can be pooled per track.
Features are computed in batches with :class:`~genre_lab.features.frontend.FeatureExtractor`
(torch) for one :class:`~genre_lab.config.FeatureSettings` and kept in :mod:`genre_lab.store`:
the second call, in any chapter, loads them in well under a second.

Notebook: 04-spectrogram-cnns onwards (log-mel), 05-sequence-models onwards (MFCC).
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from .. import GENRES, audio, config
from ..config import FeatureSettings

__all__ = ["KINDS", "Segments", "labels_of", "segment_features", "signal_features"]

#: The feature kinds :func:`segment_features` returns.
KINDS = ("logmel", "mfcc")
#: Bumped when the cached layout or the computation changes (3: power spectrum summed
#: before the banded mel matmul, float rounding differs by ~1e-7).
_FORMAT = 3
#: Segments per STFT call. Small on purpose: a batch's buffers (~1 MB each per 3-s segment)
#: then stay under glibc's 32 MB mmap threshold and are reused (at 64 segments every call
#: maps fresh pages and the STFT runs ~3x slower per segment), and both worker threads'
#: buffers fit the L3 cache: 2 took 10-25% less CPU than 4 or 8 on a 2-core EPYC.
_BATCH = 2
#: libsndfile's float32 from 16-bit PCM: x / 32768, exact in float32 (a power of two).
_PCM16_SCALE = np.float32(1 / 32768)
#: Tracks per task of a worker thread.
_CHUNK = 4


@dataclass
class Segments:
    """Feature arrays of segments, one row per segment, with the track each came from.

    Notebook: 04-spectrogram-cnns onwards.

    Attributes:
        X: float32, (n_segments, n_features, n_frames), e.g. (n, 128, 130) log-mel in dB or
            (n, 20, 130) MFCC for 3-s segments.
        track_id: str array, the track of each segment.
        label: int64 array, the genre index (into ``GENRES``) of each segment.
        kind: ``"logmel"`` or ``"mfcc"``.
    """

    X: np.ndarray
    track_id: np.ndarray
    label: np.ndarray
    kind: str

    def __post_init__(self):
        if not len(self.X) == len(self.track_id) == len(self.label):
            raise ValueError(f"X, track_id and label disagree in length: {len(self.X)}, "
                             f"{len(self.track_id)}, {len(self.label)}")

    def __len__(self) -> int:
        return len(self.X)

    def __repr__(self) -> str:
        return (f"Segments(kind={self.kind!r}, X={self.X.shape} {self.X.dtype}, "
                f"tracks={len(self.tracks)})")

    @property
    def tracks(self) -> np.ndarray:
        """The distinct track ids, in order of first appearance."""
        _, first = np.unique(self.track_id, return_index=True)
        return self.track_id[np.sort(first)]

    def subset(self, mask_or_index) -> Segments:
        """The segments selected by a boolean mask or an integer index array (copies)."""
        idx = np.asarray(mask_or_index)
        if idx.dtype == bool and idx.shape != (len(self),):
            raise ValueError(f"mask has shape {idx.shape}, expected ({len(self)},)")
        return Segments(self.X[idx], self.track_id[idx], self.label[idx], self.kind)

    def for_tracks(self, track_ids) -> Segments:
        """All segments of ``track_ids``, track by track in the order given, each in time order.

        Raises:
            KeyError: a track id has no segments here.
        """
        return self.subset(_index_of(self.track_id, track_ids))


def _index_of(segment_ids: np.ndarray, track_ids) -> np.ndarray:
    # Indices of the segments of each of track_ids, in that order, each track's in time order.
    want = np.asarray(list(track_ids) if not hasattr(track_ids, "__array__") else track_ids)
    want = want.astype(str).reshape(-1)
    order = np.argsort(segment_ids, kind="stable")  # stable: time order kept
    ids = segment_ids[order]
    lo = np.searchsorted(ids, want, side="left")
    hi = np.searchsorted(ids, want, side="right")
    missing = want[lo == hi]
    if missing.size:
        shown = ", ".join(missing[:5]) + (" ..." if missing.size > 5 else "")
        raise KeyError(f"{missing.size} track id(s) have no segments: {shown}")
    if not want.size:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([order[a:b] for a, b in zip(lo, hi, strict=True)])


def labels_of(tracks) -> np.ndarray:
    """The genre index (into ``GENRES``) of every track of a track table."""
    if "label" in tracks:
        return tracks["label"].to_numpy(dtype=np.int64)
    return np.asarray([GENRES.index(g) for g in tracks["genre"]], dtype=np.int64)


def _load(path, sr: int) -> np.ndarray:
    """``audio.load(path, sr=sr)``, bit for bit, faster for mono 16-bit PCM at ``sr`` (GTZAN's
    format): read as int16 and scaled by numpy, which takes ~40% less CPU than libsndfile's
    own float conversion. Any other file, and every error, goes through ``audio.load``."""
    if not os.path.isfile(path):  # missing, a folder, a FIFO (which open would block on)
        return audio.load(path, sr=sr)
    try:
        f = sf.SoundFile(str(path))
    except Exception:  # noqa: BLE001  (audio.load raises the error that names the file)
        return audio.load(path, sr=sr)
    with f:
        if (f.subtype == "PCM_16" and f.channels == 1 and f.samplerate == sr
                and audio.sample_rate_problem(sr) is None):
            try:
                y = f.read(dtype="int16")
            except Exception:  # noqa: BLE001
                y = None
            if y is not None and y.size:
                return np.multiply(y, _PCM16_SCALE, dtype=np.float32)
    return audio.load(path, sr=sr)


def _signals(path, track_id, settings: FeatureSettings, versions) -> list[np.ndarray]:
    # One track -> its signals cut into segments (n, segment_samples) by the one rule.
    try:
        y = _load(path, settings.sample_rate)
        ys = [y] if versions is None else versions(y, track_id)
        return [audio.segment(v, sr=settings.sample_rate, seconds=settings.segment_seconds)
                for v in ys]
    except (audio.AudioError, FileNotFoundError):
        raise
    except Exception as err:  # never a bare numpy traceback without the file's name
        raise audio.AudioError(path, f"cannot cut into segments ({type(err).__name__}: "
                                     f"{err})") from err


class _Featurizer:
    """Load a few tracks and compute both feature kinds of their segments (one thread)."""

    def __init__(self, settings: FeatureSettings, versions=None):
        from .frontend import FeatureExtractor

        self.settings, self.versions = settings, versions
        self.extract = FeatureExtractor(settings)

    def __call__(self, rows):
        import torch

        counts, logmels, mfccs = [], [], []
        segs = []
        for path, track_id in rows:
            parts = _signals(path, track_id, self.settings, self.versions)
            segs += parts
            counts.append([len(part) for part in parts])
        x = torch.from_numpy(np.concatenate(segs))
        with torch.no_grad():
            for i in range(0, len(x), _BATCH):
                logmel, mfcc = self.extract(x[i:i + _BATCH])
                logmels.append(logmel.numpy())
                mfccs.append(mfcc.numpy())
        return counts, np.concatenate(logmels), np.concatenate(mfccs)


def _workers() -> int:
    import torch

    # As many threads as torch would use for one op (the cores, or the user's choice).
    return max(1, torch.get_num_threads())


class _Rows:
    """A preallocated float32 array filled row block by row block, grown if need be.

    Sized from the track table's durations, the results land in place: no list of chunks
    and final concatenate, which would double the peak memory (1.5 GB for 1000 clips).
    """

    def __init__(self, capacity: int, shape: tuple[int, ...]):
        self.data = np.empty((max(1, capacity), *shape), np.float32)
        self.n = 0

    def add(self, rows: np.ndarray) -> None:
        if self.n + len(rows) > len(self.data):  # estimate too low: grow by half
            bigger = np.empty((max(self.n + len(rows), len(self.data) * 3 // 2),
                               *self.data.shape[1:]), np.float32)
            bigger[:self.n] = self.data[:self.n]
            self.data = bigger
        self.data[self.n:self.n + len(rows)] = rows
        self.n += len(rows)

    def result(self) -> np.ndarray:
        return self.data if self.n == len(self.data) else self.data[:self.n].copy()


def _expected_segments(tracks, settings: FeatureSettings) -> int:
    # From the table's durations (a track table has them); else one per track, then grow.
    if "duration" not in tracks:
        return len(tracks)
    seconds = np.nan_to_num(tracks["duration"].to_numpy(dtype=float))
    return int(np.maximum(1, np.floor(seconds / settings.segment_seconds + 0.5)).sum())


def compute_segments(tracks, settings: FeatureSettings, *, versions=None,
                     progress: bool = True, desc: str = "segment features") -> dict:
    """Compute (no store) the segment features of every track, in worker threads.

    Args:
        versions: ``versions(y, track_id) -> list of signals`` to featurise instead of each
            loaded clip ``y`` (augmented copies; default: the clip itself).

    Returns:
        ``{"logmel", "mfcc"}`` float32 arrays, ``"track_id"`` per segment and ``"copy"``
        (which of the track's versions each segment comes from).
    """
    import torch

    from ..parallel import progress_bar

    featurize = _Featurizer(settings, versions)
    ids = np.asarray(tracks["track_id"]).astype(str)
    rows = list(zip(tracks["path"], ids, strict=True))
    chunks = [rows[i:i + _CHUNK] for i in range(0, len(rows), _CHUNK)]
    expected = _expected_segments(tracks, settings)
    logmel = _Rows(expected, (settings.n_mels, settings.n_frames))
    mfcc = _Rows(expected, (settings.n_mfcc, settings.n_frames))
    counts = []
    workers = _workers()

    # Coarse-grained parallelism: each worker thread decodes a chunk of tracks and runs
    # their STFTs with torch single-threaded (decoding, numpy copies and torch ops all
    # release the GIL). Measured on 2 idle cores: 1.45x faster than one decoding thread
    # feeding torch's two intra-op threads (whose small ops each pay a synchronisation),
    # and steady when other processes share the cores, where that design slowed 3-6x.
    def init():
        torch.set_num_threads(1)  # this worker thread only

    bar = progress_bar(total=len(rows), unit="clip", desc=desc, disable=not progress)
    with ThreadPoolExecutor(max_workers=workers, initializer=init) as pool:
        ahead = deque()
        try:
            for i in range(len(chunks)):
                while len(ahead) < 2 * workers and i + len(ahead) < len(chunks):
                    ahead.append(pool.submit(featurize, chunks[i + len(ahead)]))
                c, chunk_logmel, chunk_mfcc = ahead.popleft().result()
                counts += c
                logmel.add(chunk_logmel)
                mfcc.add(chunk_mfcc)
                bar.update(len(c))
        finally:
            for future in ahead:  # after an error, don't start the rest
                future.cancel()
            bar.close()
    per_track = [sum(c) for c in counts]
    copy = np.concatenate([np.repeat(np.arange(len(c)), c) for c in counts]).astype(np.int64)
    return {"logmel": logmel.result(), "mfcc": mfcc.result(),
            "track_id": np.repeat(ids, per_track), "copy": copy}


def segment_features(tracks, settings: FeatureSettings | None = None, *,
                     progress: bool = True, cache: bool = True) -> dict[str, Segments]:
    """Log-mel spectrograms and MFCCs of every segment of every track.

    Notebook: 04-spectrogram-cnns onwards.

    Each clip is loaded (mono, at ``settings.sample_rate``) and cut by
    :func:`genre_lab.audio.segment` (a 29.98-30.37 s GTZAN clip gives 10 segments of 3 s, a
    12-s synthetic clip 4); every segment goes through
    :class:`~genre_lab.features.frontend.FeatureExtractor` in batches: the same numbers as
    ``librosa.feature.melspectrogram``/``power_to_db``/``mfcc`` on each segment. Results
    are kept in :mod:`genre_lab.store` under a key made of the files' fingerprint, the
    settings and the librosa and torch versions.

    Args:
        tracks: a track table (``genre_lab.data.load_tracks()``): track_id, path and label
            (or genre) columns.
        settings: the features (default: the current profile's, ``config.get_profile()``).
        progress: show a progress bar over tracks while computing.
        cache: load from / save to the store.

    Returns:
        ``{"logmel": Segments, "mfcc": Segments}``: tracks in table order, the segments of
        each in time order; X float32 (n, n_mels, frames) and (n, n_mfcc, frames).

    Raises:
        AudioError: a file cannot be decoded (the message names it).
        FileNotFoundError: a file is missing (the message names it).
    """
    settings = settings or config.get_profile().features
    if len(tracks) == 0:
        raise ValueError("no tracks: the track table is empty")
    ids = np.asarray(tracks["track_id"]).astype(str)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("track ids must be unique in the track table")

    def compute():
        return compute_segments(tracks, settings, progress=progress)

    if cache:
        import librosa
        import torch

        from .. import store

        key = dict(settings.as_dict(), tracks=store.fingerprint(tracks),
                   librosa=librosa.__version__, torch=torch.__version__, format=_FORMAT)
        arrays = store.cached_arrays("segments", key, compute)
    else:
        arrays = compute()

    seg_ids = arrays["track_id"]
    # Cached segments follow the table order they were computed in; the fingerprint ignores
    # order, so reorder when this table lists the same tracks differently.
    runs = np.flatnonzero(np.r_[True, seg_ids[1:] != seg_ids[:-1]])
    if not np.array_equal(seg_ids[runs], ids):
        index = _index_of(seg_ids, ids)
        arrays = {k: v[index] for k, v in arrays.items()}
        seg_ids = arrays["track_id"]
        runs = np.flatnonzero(np.r_[True, seg_ids[1:] != seg_ids[:-1]])
    counts = np.diff(np.r_[runs, len(seg_ids)])
    labels = np.repeat(labels_of(tracks), counts)
    return {kind: Segments(X=arrays[kind], track_id=seg_ids, label=labels, kind=kind)
            for kind in KINDS}


def signal_features(y, settings: FeatureSettings | None = None) -> dict[str, np.ndarray]:
    """Both feature kinds of the segments of one signal, as :func:`segment_features` computes
    them for a track (same settings, same numbers): for predicting on a new file.

    Notebook: 06-augmentation; used by ``genre-lab predict``.

    Args:
        y: mono float32 signal at ``settings.sample_rate`` (``genre_lab.audio.load`` gives
            one from any file); any length: shorter than a segment is zero-padded to one.
        settings: the features (default: the current profile's).

    Returns:
        ``{"logmel": (n, n_mels, frames), "mfcc": (n, n_mfcc, frames)}`` float32 arrays.
    """
    import torch

    from .frontend import FeatureExtractor

    settings = settings or config.get_profile().features
    segments = audio.segment(y, sr=settings.sample_rate, seconds=settings.segment_seconds)
    with torch.no_grad():
        logmel, mfcc = FeatureExtractor(settings)(torch.from_numpy(segments))
    return {"logmel": logmel.numpy(), "mfcc": mfcc.numpy()}
