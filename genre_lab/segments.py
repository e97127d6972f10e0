"""Training data: every clip cut into 3-second segments, as log-mel spectrograms and MFCCs.

Each segment keeps its track id, so splits stay at the track level (segments of one track
never land on both sides of a split) and per-segment predictions can be pooled per track.
Features are computed in batches with ``genre_lab.melspec`` (torch) and cached on disk with
``genre_lab.cache``: the second call, in any chapter, loads them in well under a second.

Notebook: 04-spectrogram-cnns onwards (log-mel), 05-sequence-models onwards (MFCC).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import GENRES, audio
from .config import SAMPLE_RATE

__all__ = ["KINDS", "Segments", "segment_features"]

#: The feature kinds :func:`segment_features` returns.
KINDS = ("logmel", "mfcc")
#: Bumped when the cached layout or the computation changes.
_FORMAT = 1
#: Segments per STFT call. Small on purpose: a batch's buffers (~1 MB per 3-s segment)
#: then stay under glibc's 32 MB mmap threshold and are reused; at 64 segments every call
#: maps fresh pages and the STFT runs ~3x slower per segment.
_BATCH = 8
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


def _labels(tracks) -> np.ndarray:
    if "label" in tracks:
        return tracks["label"].to_numpy(dtype=np.int64)
    return np.asarray([GENRES.index(g) for g in tracks["genre"]], dtype=np.int64)


def _load_segments(path, *, seg_samples: int, seconds: float) -> np.ndarray:
    # One track -> (n, seg_samples): length rounded to a whole number of segments.
    try:
        y = audio.load(path, sr=SAMPLE_RATE)
        n = max(1, round(len(y) / seg_samples))
        y = audio.fix_length(y, n * seg_samples)
        return audio.segment(y, sr=SAMPLE_RATE, seconds=seconds)
    except (audio.AudioError, FileNotFoundError):
        raise
    except Exception as err:  # never a bare numpy traceback without the file's name
        raise audio.AudioError(path, f"cannot cut into segments ({type(err).__name__}: "
                                     f"{err})") from err


class _Featurizer:
    """Load a few tracks and compute both feature kinds of their segments (one thread)."""

    def __init__(self, *, seconds, n_mels, n_mfcc, n_fft, hop_length):
        from .melspec import MelSpectrogram

        self.seconds, self.n_mfcc = seconds, n_mfcc
        self.seg_samples = int(round(seconds * SAMPLE_RATE))
        self.mel = MelSpectrogram(sr=SAMPLE_RATE, n_fft=n_fft, hop_length=hop_length,
                                  n_mels=n_mels)

    def __call__(self, paths):
        import torch

        from .melspec import mfcc_from_db, power_to_db

        counts, logmels, mfccs = [], [], []
        segs = []
        for path in paths:
            segs.append(_load_segments(path, seg_samples=self.seg_samples, seconds=self.seconds))
            counts.append(len(segs[-1]))
        x = torch.from_numpy(np.concatenate(segs))
        with torch.no_grad():
            for i in range(0, len(x), _BATCH):
                db = power_to_db(self.mel(x[i:i + _BATCH]), top_db=80.0)
                logmels.append(db.numpy())
                mfccs.append(mfcc_from_db(db, n_mfcc=self.n_mfcc).numpy())
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


def _expected_segments(tracks, seg_samples: int) -> int:
    # From the table's durations (a track table has them); else one per track, then grow.
    if "duration" not in tracks:
        return len(tracks)
    samples = np.nan_to_num(tracks["duration"].to_numpy(dtype=float)) * SAMPLE_RATE
    return int(np.maximum(1, np.round(samples / seg_samples)).sum())


def _compute(tracks, *, progress, **params):
    import torch
    from tqdm.auto import tqdm

    featurize = _Featurizer(**params)
    paths, ids = list(tracks["path"]), np.asarray(tracks["track_id"]).astype(str)
    chunks = [paths[i:i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    n_frames = featurize.mel.n_frames(featurize.seg_samples)
    expected = _expected_segments(tracks, featurize.seg_samples)
    logmel = _Rows(expected, (params["n_mels"], n_frames))
    mfcc = _Rows(expected, (params["n_mfcc"], n_frames))
    counts = []
    workers = _workers()

    # Coarse-grained parallelism: each worker thread decodes a chunk of tracks and runs
    # their STFTs with torch single-threaded (decoding, numpy copies and torch ops all
    # release the GIL). Measured on 2 idle cores: 1.45x faster than one decoding thread
    # feeding torch's two intra-op threads (whose small ops each pay a synchronisation),
    # and steady when other processes share the cores, where that design slowed 3-6x.
    def init():
        torch.set_num_threads(1)  # this worker thread only

    bar = tqdm(total=len(paths), unit="clip", desc="segment features", disable=not progress)
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
    return {"logmel": logmel.result(), "mfcc": mfcc.result(),
            "track_id": np.repeat(ids, counts)}


def segment_features(tracks, *, seconds: float = 3.0, n_mels: int = 128, n_mfcc: int = 20,
                     n_fft: int = 2048, hop_length: int = 512, progress: bool = True,
                     cache: bool = True) -> dict[str, Segments]:
    """Log-mel spectrograms and MFCCs of every ``seconds``-long segment of every track.

    Notebook: 04-spectrogram-cnns onwards.

    Each clip is loaded (mono, 22050 Hz), its length rounded to a whole number of segments
    (``max(1, round(len / segment))``: a 29.98-30.37 s GTZAN clip gives 10 segments of 3 s,
    a 12-s synthetic clip 4), cut, and every segment goes through :class:`MelSpectrogram`
    in batches, then ``power_to_db`` (``top_db=80`` per segment) and a DCT for the MFCCs:
    the same numbers as ``librosa.feature.melspectrogram``/``power_to_db``/``mfcc`` on each
    segment. Results are cached (``GENRE_LAB_CACHE``/features) under a key made of the
    files' fingerprint, every parameter and the librosa and torch versions.

    Args:
        tracks: a track table (``genre_lab.data.load_tracks()``): track_id, path and label
            (or genre) columns.
        seconds: segment length.
        n_mels: mel bands.
        n_mfcc: MFCCs kept.
        n_fft: FFT window in samples.
        hop_length: hop in samples (3 s at 512 gives 130 frames).
        progress: show a progress bar over tracks while computing.
        cache: load from / save to the on-disk cache.

    Returns:
        ``{"logmel": Segments, "mfcc": Segments}``: tracks in table order, the segments of
        each in time order; X float32 (n, n_mels, frames) and (n, n_mfcc, frames).

    Raises:
        AudioError: a file cannot be decoded (the message names it).
        FileNotFoundError: a file is missing (the message names it).
    """
    if len(tracks) == 0:
        raise ValueError("no tracks: the track table is empty")
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    ids = np.asarray(tracks["track_id"]).astype(str)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("track ids must be unique in the track table")
    params = dict(seconds=float(seconds), n_mels=int(n_mels), n_mfcc=int(n_mfcc),
                  n_fft=int(n_fft), hop_length=int(hop_length), sr=SAMPLE_RATE, top_db=80.0)

    def compute():
        return _compute(tracks, progress=progress, **{k: params[k] for k in (
            "seconds", "n_mels", "n_mfcc", "n_fft", "hop_length")})

    if cache:
        import librosa
        import torch

        from .cache import cached_arrays, fingerprint

        key = dict(params, tracks=fingerprint(tracks), librosa=librosa.__version__,
                   torch=torch.__version__, format=_FORMAT)
        arrays = cached_arrays("segments", key, compute)
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
    labels = np.repeat(_labels(tracks), counts)
    return {kind: Segments(X=arrays[kind], track_id=seg_ids, label=labels, kind=kind)
            for kind in KINDS}


def signal_features(y, *, seconds: float = 3.0, n_mels: int = 128, n_mfcc: int = 20,
                    n_fft: int = 2048, hop_length: int = 512) -> dict[str, np.ndarray]:
    """Both feature kinds of the segments of one signal, as :func:`segment_features` computes
    them for a track (same parameters, same numbers): for predicting on a new file.

    Notebook: used by ``genre-lab predict``.

    Args:
        y: mono float32 signal at 22050 Hz (``genre_lab.audio.load`` gives one from any file);
            any length: shorter than a segment is zero-padded to one segment.

    Returns:
        ``{"logmel": (n, n_mels, frames), "mfcc": (n, n_mfcc, frames)}`` float32 arrays.
    """
    import torch

    from .melspec import MelSpectrogram, mfcc_from_db, power_to_db

    seg_samples = int(round(seconds * SAMPLE_RATE))
    n = max(1, round(len(y) / seg_samples))
    segments = audio.segment(audio.fix_length(np.asarray(y, dtype=np.float32), n * seg_samples),
                             sr=SAMPLE_RATE, seconds=seconds)
    mel = MelSpectrogram(sr=SAMPLE_RATE, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    with torch.no_grad():
        db = power_to_db(mel(torch.from_numpy(segments)), top_db=80.0)
        return {"logmel": db.numpy(), "mfcc": mfcc_from_db(db, n_mfcc=n_mfcc).numpy()}
