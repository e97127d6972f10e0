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


def segment(y, *, sr: int = SAMPLE_RATE, seconds: float = 3.0, whole_only: bool = False):
    """Cut a signal into consecutive segments of ``seconds``: the course's one segmenting rule.

    A clip gives ``round(duration / seconds)`` segments, at least one: a tail of half a
    segment or more is zero-padded into a last segment, a shorter one is dropped. So every
    GTZAN clip (29.98-30.37 s) gives 10 segments of 3 s, a 12-s synthetic clip 4, a 1-s
    clip one padded segment. ``whole_only=True`` keeps whole segments only (``floor``; a
    clip shorter than one segment still gives one padded segment), as the Kaggle
    3-second feature table was cut.

    Returns:
        float32 array of shape (n_segments, round(seconds * sr)).
    """
    seg = int(round(seconds * sr))
    if seg <= 0:
        raise ValueError(f"segment length must be positive, got {seconds=}")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {y.shape}")
    # half a segment or more counts as one (not Python's round, which rounds 2.5 to 2)
    n = len(y) // seg if whole_only else (2 * len(y) + seg) // (2 * seg)
    y = fix_length(y, max(1, n) * seg)
    return y.reshape(-1, seg)
