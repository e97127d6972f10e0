"""Audio in: load any clip as mono float32 at 22050 Hz, fix its length, cut it into segments.

Long files (an album side, a DJ set) can be streamed instead: :func:`stream` gives the
signal block by block and :func:`stream_segments` the segments :func:`segment` would cut, in
batches, so that memory stays flat whatever the file's length.

Notebook: every chapter (01 listens to clips, 02 onwards cuts them into 3-second segments).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from .config import SAMPLE_RATE

#: librosa.resample's default ``res_type`` (soxr, high quality): the stream resamples with it
#: too, so that a streamed signal has the numbers :func:`load` gives.
_RESAMPLE_QUALITY = "soxr_hq"
#: Seconds of audio :func:`load` reads and mixes to mono at a time (never the whole
#: multichannel file at once).
_LOAD_BLOCK_SECONDS = 30.0
#: What soundfile raises on a file libsndfile cannot open or decode.
_SF_ERRORS = (sf.LibsndfileError, RuntimeError, TypeError)
#: Largest sample magnitude accepted (+60 dB over full scale). Float WAV/FLAC can hold samples
#: beyond [-1, 1]: a master slightly over 1.0 is normal and kept as it is; a file reaching
#: 1000 is damaged or mis-scaled (at 1e18 the log-mel overflows float32 into NaN).
MAX_PEAK = 1e3
#: Lowest native sample rate accepted: below it a file holds nothing above 2 kHz (8-kHz
#: telephone audio passes; a 1-Hz "clip" does not).
MIN_SAMPLE_RATE = 4000
#: Below this peak (-80 dBFS, under 16-bit dither) a file holds no music to classify.
SILENCE_PEAK = 1e-4


def peak_problem(peak: float) -> str | None:
    """Why samples whose largest magnitude is ``peak`` cannot be used, or None (NaN or inf,
    or beyond :data:`MAX_PEAK`)."""
    if not np.isfinite(peak):
        return "contains NaN or infinite samples"
    if peak > MAX_PEAK:
        return (f"samples reach {peak:.3g}, far beyond full scale (1.0); refused above "
                f"{MAX_PEAK:g} (damaged or mis-scaled float audio)")
    return None


def sample_rate_problem(rate) -> str | None:
    """Why a file's native sample rate cannot be used (below :data:`MIN_SAMPLE_RATE`), or None."""
    if rate < MIN_SAMPLE_RATE:
        return f"sample rate {rate:g} Hz is below {MIN_SAMPLE_RATE} Hz: not usable audio"
    return None


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def load(path, *, sr: int = SAMPLE_RATE, offset: float = 0.0, duration: float | None = None):
    """Load an audio file as mono float32 at ``sr`` Hz, whatever its rate and channel count.

    Decoding goes through soundfile (libsndfile) and, for a file libsndfile cannot open,
    PyAV (its bundled FFmpeg); channels are averaged, and the rate is converted with
    librosa's default high-quality resampler (soxr HQ). Formats that decode:

    - libsndfile: WAV (PCM, float; also WAVEX, RF64, W64), AIFF, AU, CAF, FLAC, OGG (Vorbis,
      Opus), MP3;
    - PyAV/FFmpeg: AAC in M4A/MP4 (what the tests check), and the other formats the FFmpeg
      in PyAV's wheel decodes (e.g. ALAC, WMA, WebM/Matroska). Only a file's first audio
      stream is read (ffmpeg's default).

    Args:
        path: the audio file.
        sr: target sample rate.
        offset: start reading this many seconds into the file.
        duration: read at most this many seconds (None: to the end).

    Returns:
        1-D float32 array.

    Raises:
        FileNotFoundError: no such file.
        AudioError: a folder, a file that cannot be opened (e.g. no permission) or decoded,
            holds no samples, holds NaN or infinite samples or samples beyond
            :data:`MAX_PEAK`, or has a sample rate below :data:`MIN_SAMPLE_RATE`; the
            message names the file and the reason.
    """
    path = Path(path)
    with _open_audio(path) as source:
        native_sr = source.samplerate
        start = int(round(offset * native_sr))
        frames = -1 if duration is None else int(round(duration * native_sr))
        blocksize = int(round(_LOAD_BLOCK_SECONDS * native_sr))
        blocks = (_mono(path, b) for b in source.blocks(blocksize, start=start, frames=frames))
        y = _join(blocks, source.frames_left(start, frames))
    if y.size == 0:
        raise AudioError(path, "no audio samples")
    if native_sr != sr:
        import librosa

        y = librosa.resample(y=y, orig_sr=native_sr, target_sr=sr).astype(np.float32, copy=False)
    return y


def _join(blocks, n: int | None) -> np.ndarray:
    """Concatenate 1-D float32 blocks; into one array allocated up front when their total
    length ``n`` is known (no list of blocks beside the result)."""
    blocks = iter(blocks)
    first = next(blocks, np.zeros(0, np.float32))
    second = next(blocks, None)
    if second is None:  # a clip shorter than a block: nothing to join
        return np.ascontiguousarray(first)
    blocks = itertools.chain([first, second], blocks)
    if n is None:
        return np.concatenate(list(blocks))
    y = np.empty(n, np.float32)
    filled = 0
    for b in blocks:
        if filled + len(b) > len(y):  # more than the header said: grow
            y = np.concatenate([y[:filled], np.empty(filled + len(b) - len(y), np.float32)])
        y[filled:filled + len(b)] = b
        filled += len(b)
    return y[:filled]


def stream(path, *, sr: int = SAMPLE_RATE, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """The signal :func:`load` gives, as consecutive blocks, without holding the whole file.

    The file is decoded ``block_seconds`` at a time (by the same decoders as :func:`load`),
    checked (NaN/infinite samples, samples beyond :data:`MAX_PEAK`), mixed to mono and
    resampled with a streaming soxr resampler at librosa's default quality. The concatenated
    blocks have ``load``'s length (librosa's ``ceil(n * sr / native_sr)``); their samples
    equal ``load``'s exactly when no resampling is needed, and, resampled, to within float32
    rounding (bit-identical with python-soxr 1.1: soxr filters a stream as it filters the
    whole signal).

    Args:
        path: the audio file.
        sr: target sample rate.
        block_seconds: seconds of the file decoded at a time (blocks out of the resampler
            vary in length around ``block_seconds * sr``).

    Yields:
        1-D float32 arrays, none empty.

    Raises:
        FileNotFoundError, AudioError: as :func:`load`, raised when the bad file or block is
        reached (so after some blocks were yielded, for damage deep in a file).
    """
    if not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds!r}")
    path = Path(path)
    with _open_audio(path) as source:
        native_sr = source.samplerate
        resampler = None
        if native_sr != sr:
            import soxr

            resampler = soxr.ResampleStream(native_sr, sr, 1, dtype="float32",
                                            quality=_RESAMPLE_QUALITY)
        n_in = n_out = 0
        for block in source.blocks(max(1, int(round(block_seconds * native_sr)))):
            y = np.ascontiguousarray(_mono(path, block))
            n_in += len(y)
            if resampler is not None:
                y = resampler.resample_chunk(y)
            if len(y):
                n_out += len(y)
                yield y
        if n_in == 0:
            raise AudioError(path, "no audio samples")
        if resampler is not None:
            # flush the resampler, then give librosa.resample's length (it pads with zeros)
            tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            n_total = int(np.ceil(n_in * (float(sr) / native_sr)))
            want = max(0, n_total - n_out)
            if len(tail) < want:
                tail = np.concatenate([tail, np.zeros(want - len(tail), np.float32)])
            tail = tail[:want]
            if len(tail):
                yield tail


def stream_segments(path, *, sr: int = SAMPLE_RATE, seconds: float = 3.0,
                    batch: int = 64) -> Iterator[np.ndarray]:
    """The segments of ``segment(load(path, sr=sr), sr=sr, seconds=seconds)``, in batches,
    computed from :func:`stream` without ever holding the whole signal.

    Same rule as :func:`segment`: ``round(duration / seconds)`` segments (half a segment or
    more counts as one), at least one, the last zero-padded. Memory is about one decoded
    block (30 s) plus one batch, whatever the file's length.

    Args:
        path: the audio file.
        sr: sample rate of the segments.
        seconds: segment length.
        batch: at most this many segments per array.

    Yields:
        float32 arrays of shape (n, round(seconds * sr)), 1 <= n <= batch; every one but the
        last has n == batch. Each is a new array (keeping one is safe).

    Raises:
        FileNotFoundError, AudioError: as :func:`stream`.
    """
    seg = int(round(seconds * sr))
    if seg <= 0:
        raise ValueError(f"segment length must be positive, got {seconds=}")
    if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    out = np.zeros((batch, seg), np.float32)
    flat = out.reshape(-1)
    filled = 0  # samples in ``out``
    total = 0  # samples in the whole signal
    for y in stream(path, sr=sr):
        total += len(y)
        while len(y):
            take = min(len(y), flat.size - filled)
            flat[filled:filled + take] = y[:take]
            filled += take
            y = y[take:]
            if filled == flat.size:
                yield out
                out = np.zeros((batch, seg), np.float32)
                flat = out.reshape(-1)
                filled = 0
    # the tail: segment()'s rule on the whole length; a last segment is zero-padded
    n_segments = max(1, (2 * total + seg) // (2 * seg))
    rows = n_segments - (total // (batch * seg)) * batch  # segments not yet yielded
    if rows:
        flat[filled:] = 0
        yield out[:rows]


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
    3-second feature table was cut. :func:`stream_segments` cuts a file by the same rule
    without loading it whole.

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


# --- decoding ---------------------------------------------------------------------------


def _mono(path: Path, block: np.ndarray) -> np.ndarray:
    """A (frames, channels) float32 block, checked (:func:`peak_problem`, every channel
    before mixing), as mono (channels averaged)."""
    if block.size:
        # two passes without a copy; np.maximum keeps a NaN (Python's max may not)
        problem = peak_problem(float(np.maximum(block.max(), -block.min())))
        if problem:
            raise AudioError(path, problem)
    return block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)


def _open_file(path: Path):
    """``path`` opened for binary reading, or the error a user can act on."""
    if path.is_dir():
        raise AudioError(path, "a folder, not an audio file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such audio file")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such audio file") from None
    except IsADirectoryError:
        raise AudioError(path, "a folder, not an audio file") from None
    except OSError as err:
        raise AudioError(path, f"cannot open ({err.strerror or err})") from None


@contextmanager
def _open_audio(path: Path):
    """A source with ``samplerate`` and ``blocks(blocksize, start=0, frames=-1)`` (yielding
    (frames, channels) float32 arrays at the file's rate): libsndfile, else PyAV."""
    _open_file(path).close()  # the errors a user can act on: a folder, missing, no permission
    try:  # by name, not through a Python file object: libsndfile's own I/O is 2x faster
        f = sf.SoundFile(str(path))
    except _SF_ERRORS as err:
        sf_reason = _sf_reason(err)
    else:
        with f:
            yield _checked_rate(_SndfileSource(path, f))
        return
    with _open_av(path, str(path), sf_reason) as source:
        yield _checked_rate(source)


def _checked_rate(source):
    problem = sample_rate_problem(source.samplerate)
    if problem:
        raise AudioError(source.path, problem)
    return source


def _sf_reason(err: Exception) -> str:
    reason = getattr(err, "error_string", None) or str(err)
    return reason.strip().rstrip(".")


class _SndfileSource:
    def __init__(self, path: Path, f: sf.SoundFile):
        self.path, self.file, self.samplerate = path, f, f.samplerate

    def frames_left(self, start: int, frames: int) -> int:
        left = max(0, self.file.frames - start)
        return left if frames < 0 else min(left, frames)

    def blocks(self, blocksize: int, *, start: int = 0, frames: int = -1):
        try:
            if start:
                self.file.seek(min(start, self.file.frames))
            if self.frames_left(start, frames) <= blocksize:  # one read, no block buffer
                yield self.file.read(frames, dtype="float32", always_2d=True)
                return
            yield from self.file.blocks(blocksize=blocksize, frames=frames, dtype="float32",
                                        always_2d=True)
        except _SF_ERRORS as err:
            raise AudioError(self.path, f"cannot decode audio ({_sf_reason(err)})") from None


@contextmanager
def _open_av(path: Path, fh, sf_reason: str):
    """PyAV source for a file libsndfile could not open; AudioError when FFmpeg cannot either."""
    import av

    try:
        container = av.open(fh, mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise AudioError(path, f"cannot decode audio (libsndfile: {sf_reason}; FFmpeg: "
                               f"{_av_reason(err)})") from None
    with container:
        if not container.streams.audio:
            raise AudioError(path, "no audio stream")
        stream = container.streams.audio[0]
        if not stream.codec_context.sample_rate:
            raise AudioError(path, "cannot decode audio (FFmpeg: unknown sample rate)")
        yield _AVSource(path, container, stream)


def _av_reason(err: Exception) -> str:
    return str(getattr(err, "strerror", None) or err).strip().rstrip(".")


class _AVSource:
    def __init__(self, path: Path, container, stream):
        self.path, self.container, self.stream = path, container, stream
        self.samplerate = stream.codec_context.sample_rate

    def frames_left(self, start: int, frames: int) -> None:
        return None  # not known before decoding

    def _frames(self):
        """Decoded frames as (frames, channels) float32 at ``samplerate``."""
        import av

        # float planar at the stream's rate: a format conversion only (a rate change in the
        # middle of a stream is resampled to the first rate); channels are mixed by _mono
        resampler = av.AudioResampler(format="fltp", rate=self.samplerate)
        try:
            for frame in self.container.decode(self.stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().T
            for out in resampler.resample(None):
                yield out.to_ndarray().T
        except (av.error.FFmpegError, OSError, ValueError) as err:
            raise AudioError(self.path, f"cannot decode audio (FFmpeg: {_av_reason(err)})") \
                from None

    def blocks(self, blocksize: int, *, start: int = 0, frames: int = -1):
        left = np.inf if frames < 0 else frames
        pending, n_pending = [], 0
        for x in self._frames():
            if start:
                skip = min(start, len(x))
                x, start = x[skip:], start - skip
            x = x[: int(min(len(x), left))]
            left -= len(x)
            if len(x):
                pending.append(x)
                n_pending += len(x)
            while n_pending >= blocksize:
                joined = np.concatenate(pending)
                yield joined[:blocksize]
                rest = joined[blocksize:]
                pending, n_pending = ([rest] if len(rest) else []), len(rest)
            if not left:
                break
        if n_pending:
            yield np.concatenate(pending)
