"""Audio in: load any clip as mono float32 at 22050 Hz, fix its length, cut it into segments.

Notebook: every chapter (01 listens to clips, 02 onwards cuts them into 3-second segments).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .config import SAMPLE_RATE


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def load(path, *, sr: int = SAMPLE_RATE, offset: float = 0.0, duration: float | None = None):
    """Load an audio file as mono float32 at ``sr`` Hz, whatever its rate and channel count.

    Decoding goes through soundfile (libsndfile: WAV, AU, FLAC, OGG, MP3), channels are
    averaged, and the rate is converted with librosa's default high-quality resampler.

    Args:
        path: the audio file.
        sr: target sample rate.
        offset: start reading this many seconds into the file.
        duration: read at most this many seconds (None: to the end).

    Returns:
        1-D float32 array.

    Raises:
        AudioError: the file cannot be decoded or holds no samples; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such audio file")
    try:
        with sf.SoundFile(str(path)) as f:
            native_sr = f.samplerate
            start = int(round(offset * native_sr))
            frames = -1 if duration is None else int(round(duration * native_sr))
            if start:
                f.seek(min(start, f.frames))
            y = f.read(frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(path, f"cannot decode audio ({err})") from None
    if y.size == 0:
        raise AudioError(path, "no audio samples")
    y = y[:, 0] if y.shape[1] == 1 else y.mean(axis=1, dtype=np.float32)
    if native_sr != sr:
        import librosa

        y = librosa.resample(y=y, orig_sr=native_sr, target_sr=sr).astype(np.float32)
    return y


def fix_length(y, n_samples: int):
    """Crop or zero-pad ``y`` (last axis) to exactly ``n_samples``."""
    import librosa

    return librosa.util.fix_length(data=y, size=n_samples, axis=-1)


def segment(y, *, sr: int = SAMPLE_RATE, seconds: float = 3.0, hop_seconds: float | None = None):
    """Cut a signal into equal segments of ``seconds`` (hop ``hop_seconds``, default no overlap).

    A tail shorter than one segment is dropped, as in the Kaggle 3-second table (a 30-s GTZAN
    clip gives 10 segments). A signal shorter than one segment gives one zero-padded segment.

    Returns:
        float32 array of shape (n_segments, round(seconds * sr)).
    """
    seg = int(round(seconds * sr))
    hop = seg if hop_seconds is None else int(round(hop_seconds * sr))
    if seg <= 0 or hop <= 0:
        raise ValueError(f"segment length and hop must be positive, got {seconds=} {hop_seconds=}")
    y = np.asarray(y, dtype=np.float32)
    if y.shape[-1] < seg:
        return fix_length(y, seg)[None, :]
    n = 1 + (y.shape[-1] - seg) // hop
    starts = np.arange(n) * hop
    return np.stack([y[s : s + seg] for s in starts])


def load_segments(paths, track_ids=None, *, sr: int = SAMPLE_RATE, seconds: float = 3.0,
                  clip_seconds: float | None = None):
    """Load clips and cut each into segments that keep their track id.

    Args:
        paths: audio files.
        track_ids: one id per path (default: the file stems).
        sr: sample rate.
        seconds: segment length.
        clip_seconds: crop/pad every clip to this length first, so every track gives the
            same number of segments (GTZAN clips run 29.98-30.37 s).

    Returns:
        ``(segments, segment_track_ids)``: float32 (n, samples) and an object array of ids.
    """
    paths = [Path(p) for p in paths]
    track_ids = [p.stem for p in paths] if track_ids is None else list(track_ids)
    if len(track_ids) != len(paths):
        raise ValueError("one track id per path")
    segments, ids = [], []
    for path, tid in zip(paths, track_ids, strict=True):
        y = load(path, sr=sr)
        if clip_seconds is not None:
            y = fix_length(y, int(round(clip_seconds * sr)))
        s = segment(y, sr=sr, seconds=seconds)
        segments.append(s)
        ids.extend([tid] * len(s))
    return np.concatenate(segments), np.asarray(ids, dtype=object)
