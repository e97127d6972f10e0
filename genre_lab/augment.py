"""Data augmentation: waveform transforms, SpecAugment masks, mixup, and cached augmented
copies of the training segments.

Three families, by where they act:

* **waveforms**, before the spectrogram (:class:`GaussianNoise`, :class:`PitchShift`,
  :class:`TimeStretch`, :class:`Gain`, :class:`TimeShift`, :class:`RandomCrop`, stacked
  with :class:`Compose`): small seeded callables ``transform(y, rng)``. Pitch shift and
  time stretch cost tens of milliseconds per clip, so :func:`augmented_segments`
  computes augmented copies of the training tracks once and caches their features;
* **spectrogram batches**, during training (:class:`SpecAugment`, Park et al. 2019): a
  ``batch_transform(xs, generator)`` for :func:`genre_lab.train.fit`;
* **examples and labels** together (:func:`mixup`, Zhang et al. 2018): called by
  :func:`genre_lab.train.fit` when ``TrainConfig.mixup_alpha > 0``.

Every random choice comes from the generator passed in: the same seed gives the same output.

Notebook: 06-augmentation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import GENRES, audio
from .config import SAMPLE_RATE
from .segments import KINDS, Segments

__all__ = ["STRENGTHS", "Compose", "Gain", "GaussianNoise", "Identity", "PitchShift",
           "RandomCrop", "SpecAugment", "TimeShift", "TimeStretch", "Transform",
           "augmentation_explorer", "augmented_dataset", "augmented_segments",
           "fewer_training_tracks", "mixup"]

#: Bumped when the cached layout or the computation of augmented segments changes.
_FORMAT = 1
#: The feature parameters of ``segments.signal_features`` (a Dataset's feature_params may
#: hold more, e.g. the augmentations applied).
_FEATURE_KEYS = ("seconds", "n_mels", "n_mfcc", "n_fft", "hop_length")


# ----------------------------------------------------------------------------- helpers
def _span(value, name: str) -> tuple[float, float]:
    # A fixed value or a (low, high) range, as a tuple of two floats.
    if np.ndim(value) == 0:
        low = high = float(value)
    else:
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}")
        low, high = (float(v) for v in value)
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"{name}: want low <= high, got {value!r}")
    return low, high


def _uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    low, high = span
    return low if low == high else float(rng.uniform(low, high))


def _fix(y: np.ndarray, n: int, pad: str) -> np.ndarray:
    # Crop (keep the start) or pad to n samples: with zeros, or by repeating the signal.
    if len(y) >= n:
        return y[:n]
    if pad == "wrap" and len(y):
        return np.resize(y, n)  # tiles y
    return np.pad(y, (0, n - len(y)))


# -------------------------------------------------------------------------- waveforms
class Transform:
    """A seeded waveform augmentation: ``transform(y, rng) -> y'``.

    A subclass is a frozen dataclass whose fields are its parameters; it defines
    ``sample(rng)`` (the random choices of one call, as a dict) and ``apply(y, **choices)``
    (the deterministic part). ``key`` names the class and its parameters, for cache keys.

    Notebook: 06-augmentation.
    """

    def sample(self, rng: np.random.Generator) -> dict:
        """The random choices of one call (e.g. ``{"n_steps": 1.3}``)."""
        return {}

    def apply(self, y: np.ndarray, **choices) -> np.ndarray:
        """Apply the transform with the given choices (deterministic)."""
        raise NotImplementedError

    def __call__(self, y, rng=None) -> np.ndarray:
        """Augment the mono signal ``y`` with choices drawn from ``rng`` (a
        ``np.random.Generator`` or a seed); returns a new float32 array."""
        rng = np.random.default_rng(rng)
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ValueError(f"want a mono 1-D signal, got shape {y.shape}")
        return np.asarray(self.apply(y, **self.sample(rng)), dtype=np.float32)

    @property
    def key(self) -> str:
        """A stable text naming the transform and its parameters (for cache keys)."""
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}"
                         for f in dataclasses.fields(self))
        return f"{type(self).__name__}({args})"


@dataclass(frozen=True)
class Identity(Transform):
    """No change: a "duplicate the training set" control for the copy-based augmentations.

    Notebook: 06-augmentation.
    """

    def apply(self, y, **choices):
        return y.copy()


@dataclass(frozen=True)
class GaussianNoise(Transform):
    """Add white Gaussian noise at a signal-to-noise ratio drawn from ``snr_db``.

    Notebook: 06-augmentation.

    The noise is scaled to the clip's own power, so the SNR is exact whatever the clip's
    level (seed 003 and seed 004 added noise of a fixed amplitude, 0.001 and 0.005, which
    drowns a quiet clip and leaves a loud one untouched). A silent clip stays silent.

    Args:
        snr_db: SNR in dB, a number or a (low, high) range drawn uniformly; ``inf`` adds
            nothing.
    """

    snr_db: float | tuple[float, float] = (15.0, 35.0)

    def __post_init__(self):
        object.__setattr__(self, "snr_db", _span(self.snr_db, "snr_db"))

    def sample(self, rng):
        return dict(snr_db=_uniform(rng, self.snr_db), seed=int(rng.integers(2**63)))

    def apply(self, y, *, snr_db, seed=0):
        power = float(np.mean(np.square(y, dtype=np.float64)))
        if power == 0.0 or math.isinf(snr_db):
            return y.copy()
        noise = np.random.default_rng(seed).standard_normal(len(y))
        noise *= math.sqrt(power / 10 ** (snr_db / 10) / np.mean(noise**2))
        return (y + noise).astype(np.float32)


@dataclass(frozen=True)
class PitchShift(Transform):
    """Shift the pitch by ``steps`` semitones, keeping the duration
    (``librosa.effects.pitch_shift``: a phase-vocoder time stretch, then resampling).

    Notebook: 06-augmentation.

    Args:
        steps: semitones, a number or a (low, high) range drawn uniformly; 0 returns the
            input unchanged.
        sr: sample rate of the signals.
        bins_per_octave: steps per octave (12: semitones).
    """

    steps: float | tuple[float, float] = (-2.0, 2.0)
    sr: int = SAMPLE_RATE
    bins_per_octave: int = 12

    def __post_init__(self):
        object.__setattr__(self, "steps", _span(self.steps, "steps"))

    def sample(self, rng):
        return dict(n_steps=_uniform(rng, self.steps))

    def apply(self, y, *, n_steps):
        if n_steps == 0:
            return y.copy()
        import librosa

        out = librosa.effects.pitch_shift(y=y, sr=self.sr, n_steps=n_steps,
                                          bins_per_octave=self.bins_per_octave)
        return _fix(out, len(y), "zero")  # librosa keeps the length; make sure


@dataclass(frozen=True)
class TimeStretch(Transform):
    """Play faster (``rate`` > 1) or slower, keeping the pitch
    (``librosa.effects.time_stretch``), then crop or pad back to the input's length.

    Notebook: 06-augmentation.

    A slowed-down clip is cropped (its end is lost); a sped-up one is padded by repeating
    it from the start (``pad="wrap"``: no silent tail for the network to learn from) or
    with zeros (``pad="zero"``).

    Args:
        rate: speed factor, a number or a (low, high) range drawn log-uniformly (so 0.8
            and 1.25 are equally likely); 1 returns the input unchanged.
        pad: ``"wrap"`` or ``"zero"``.
    """

    rate: float | tuple[float, float] = (0.8, 1.25)
    pad: str = "wrap"

    def __post_init__(self):
        object.__setattr__(self, "rate", _span(self.rate, "rate"))
        if self.rate[0] <= 0:
            raise ValueError(f"rate must be positive, got {self.rate}")
        if self.pad not in ("wrap", "zero"):
            raise ValueError(f"pad must be 'wrap' or 'zero', got {self.pad!r}")

    def sample(self, rng):
        low, high = self.rate
        return dict(rate=math.exp(_uniform(rng, (math.log(low), math.log(high)))))

    def apply(self, y, *, rate):
        if rate == 1:
            return y.copy()
        import librosa

        return _fix(librosa.effects.time_stretch(y=y, rate=rate), len(y), self.pad)


@dataclass(frozen=True)
class Gain(Transform):
    """Scale the level by ``db`` decibels (no clipping: the signals are float).

    Notebook: 06-augmentation.

    On a log-mel spectrogram in dB this adds ``db`` to every pixel above the floor.

    Args:
        db: gain in dB, a number or a (low, high) range drawn uniformly.
    """

    db: float | tuple[float, float] = (-6.0, 6.0)

    def __post_init__(self):
        object.__setattr__(self, "db", _span(self.db, "db"))

    def sample(self, rng):
        return dict(db=_uniform(rng, self.db))

    def apply(self, y, *, db):
        return (y * np.float32(10 ** (db / 20))).astype(np.float32)


@dataclass(frozen=True)
class TimeShift(Transform):
    """Shift the signal in time by ``seconds`` (positive: later).

    Notebook: 06-augmentation.

    ``mode="circular"`` rotates it (what falls off one end comes back at the other: the
    segments are then cut at other places of the same music); ``mode="zero"`` fills the
    gap with silence.

    Args:
        seconds: shift, a number or a (low, high) range drawn uniformly.
        mode: ``"circular"`` or ``"zero"``.
        sr: sample rate of the signals.
    """

    seconds: float | tuple[float, float] = (-1.5, 1.5)
    mode: str = "circular"
    sr: int = SAMPLE_RATE

    def __post_init__(self):
        object.__setattr__(self, "seconds", _span(self.seconds, "seconds"))
        if self.mode not in ("circular", "zero"):
            raise ValueError(f"mode must be 'circular' or 'zero', got {self.mode!r}")

    def sample(self, rng):
        return dict(shift=int(round(_uniform(rng, self.seconds) * self.sr)))

    def apply(self, y, *, shift):
        if self.mode == "circular":
            return np.roll(y, shift)
        out = np.zeros_like(y)
        if shift >= 0:
            out[shift:] = y[:len(y) - shift]
        else:
            out[:shift] = y[-shift:]
        return out


@dataclass(frozen=True)
class RandomCrop(Transform):
    """A random excerpt of ``seconds`` (seed 004's slicing, at a random place); a shorter
    signal is zero-padded at the end. The output has ``round(seconds * sr)`` samples.

    Notebook: 06-augmentation.

    Args:
        seconds: excerpt length.
        sr: sample rate of the signals.
    """

    seconds: float = 3.0
    sr: int = SAMPLE_RATE

    def __post_init__(self):
        if self.seconds <= 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")

    def sample(self, rng):
        return dict(fraction=float(rng.uniform()))

    def apply(self, y, *, fraction):
        n = int(round(self.seconds * self.sr))
        start = int(fraction * (max(len(y) - n, 0) + 1))
        return _fix(y[start:start + n], n, "zero")


@dataclass(frozen=True)
class Compose(Transform):
    """Apply transforms one after the other, all drawing from the same generator.

    Notebook: 06-augmentation.

    Example:
        >>> stack = Compose([PitchShift(steps=(-2, 2)), GaussianNoise(snr_db=20)])
        >>> y2 = stack(y, np.random.default_rng(0))
    """

    transforms: tuple = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "transforms", tuple(self.transforms))
        for t in self.transforms:
            if not isinstance(t, Transform):
                raise TypeError(f"Compose takes Transform objects, got {t!r}")

    def sample(self, rng):
        return dict(choices=[t.sample(rng) for t in self.transforms])

    def apply(self, y, *, choices):
        for t, c in zip(self.transforms, choices, strict=True):
            y = np.asarray(t.apply(y, **c), dtype=np.float32)
        return y

    @property
    def key(self) -> str:
        return f"Compose([{', '.join(t.key for t in self.transforms)}])"


# ---------------------------------------------------------------- spectrogram batches
def _band_masks(n: int, size: int, width: tuple[int, int], count: int, generator):
    # (n, size) bool: `count` bands per row, each of a width drawn in [low, high] (capped
    # at size) starting anywhere it fits, like Park et al.'s f ~ U[0, F], f0 ~ U[0, v - f).
    import torch

    mask = torch.zeros(n, size, dtype=torch.bool)
    if count == 0 or width[1] == 0:
        return mask
    low, high = min(width[0], size), min(width[1], size)
    widths = torch.randint(low, high + 1, (n, count), generator=generator)
    starts = (torch.rand(n, count, generator=generator) * (size - widths + 1)).long()
    pos = torch.arange(size)
    inside = (pos >= starts[..., None]) & (pos < (starts + widths)[..., None])
    return mask | inside.any(dim=1)


@dataclass(frozen=True)
class SpecAugment:
    """Frequency and time masking of spectrogram batches (Park et al. 2019), as a
    ``batch_transform(xs, generator)`` for :func:`genre_lab.train.fit`.

    Notebook: 06-augmentation.

    Each example gets its own masks: ``freq_masks`` bands of rows, each of a width drawn
    uniformly from 0 to ``freq_width`` (Park et al.'s F), and ``time_masks`` bands of frames
    of up to ``time_width`` (their T). Time warping, the third part of their policy and the
    least useful in their ablation, is left out.

    The inputs reach the batch transform in raw dB (the model standardises them inside),
    where 0 would be a loud value, not "nothing": masked pixels are set to the example's
    own mean over its rows and frames (``fill="mean"``), or to a given number.

    Args:
        freq_width: the widest frequency mask in rows (int), or a (low, high) range.
        time_width: the widest time mask in frames (int), or a (low, high) range.
        freq_masks: frequency masks per example.
        time_masks: time masks per example.
        fill: ``"mean"`` or a number (in the inputs' units).
        inputs: which inputs of a multi-input model to mask (indices); None: all.
    """

    freq_width: int | tuple[int, int] = 8
    time_width: int | tuple[int, int] = 8
    freq_masks: int = 1
    time_masks: int = 1
    fill: str | float = "mean"
    inputs: tuple[int, ...] | None = None

    def __post_init__(self):
        for name in ("freq_width", "time_width"):
            value = getattr(self, name)
            low, high = (0, value) if np.ndim(value) == 0 else value
            if int(low) != low or int(high) != high or not 0 <= low <= high:
                raise ValueError(f"{name} must be a width >= 0 or a (low, high) pair of "
                                 f"ints, got {value!r}")
            object.__setattr__(self, name, (int(low), int(high)))
        if self.freq_masks < 0 or self.time_masks < 0:
            raise ValueError("mask counts must be >= 0")
        if self.fill != "mean" and not isinstance(self.fill, int | float):
            raise ValueError(f"fill must be 'mean' or a number, got {self.fill!r}")
        if self.inputs is not None:
            object.__setattr__(self, "inputs", tuple(int(i) for i in self.inputs))

    @property
    def key(self) -> str:
        """A stable text naming the transform and its parameters (a ``cache_tag``)."""
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}"
                         for f in dataclasses.fields(self))
        return f"SpecAugment({args})"

    def masks(self, n: int, rows: int, frames: int, generator):
        """Boolean masks ``(n, rows)`` and ``(n, frames)``: True where masked."""
        return (_band_masks(n, rows, self.freq_width, self.freq_masks, generator),
                _band_masks(n, frames, self.time_width, self.time_masks, generator))

    def __call__(self, xs, generator=None):
        """Mask a batch: ``xs`` is a list of tensors ``(batch, rows, frames)`` (one per
        model input); returns new tensors, the inputs untouched."""
        import torch

        if generator is None:
            generator = torch.Generator().manual_seed(0)
        out = []
        for i, x in enumerate(xs):
            if (self.inputs is not None and i not in self.inputs) or x.ndim != 3:
                out.append(x)
                continue
            rows_masked, frames_masked = self.masks(x.shape[0], x.shape[1], x.shape[2],
                                                    generator)
            masked = (rows_masked[:, :, None] | frames_masked[:, None, :]).to(x.device)
            if self.fill == "mean":
                value = x.mean(dim=(1, 2), keepdim=True)
            else:
                value = torch.as_tensor(float(self.fill), dtype=x.dtype, device=x.device)
            out.append(torch.where(masked, value, x))
        return out


# ----------------------------------------------------------------------------- mixup
def mixup(xs, y, n_classes: int, *, alpha: float, generator):
    """Mix each example with another of the batch, and their labels (Zhang et al. 2018).

    Notebook: 06-augmentation (called by :func:`genre_lab.train.fit` when
    ``TrainConfig.mixup_alpha > 0``).

    One λ per batch, drawn from Beta(alpha, alpha) (as in Zhang et al.'s code); the partner
    of each example comes from a random permutation of the batch. Every input of a
    multi-input model is mixed with the same λ and the same permutation. The inputs are
    raw dB features: mixing them mixes log-powers, not sounds, which is what mixup on
    spectrograms does in practice.

    Args:
        xs: list of float tensors ``(batch, ...)``, one per model input.
        y: int64 labels ``(batch,)``.
        n_classes: number of classes.
        alpha: Beta parameter (> 0); small values give λ near 0 or 1 (mild mixing).
        generator: ``torch.Generator`` that seeds λ and the permutation.

    Returns:
        ``(mixed_xs, soft_targets)``: soft targets float ``(batch, n_classes)``, each row
        summing to 1, for ``nn.CrossEntropyLoss``.
    """
    import torch

    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    # numpy has a Beta sampler that takes a seed, torch's does not take a generator
    seed = int(torch.randint(2**62, (1,), generator=generator).item())
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(len(y), generator=generator).to(y.device)
    mixed = [lam * x + (1.0 - lam) * x[perm] for x in xs]
    onehot = torch.nn.functional.one_hot(y, n_classes).to(xs[0].dtype)
    return mixed, lam * onehot + (1.0 - lam) * onehot[perm]


# ---------------------------------------------------------- augmented segment caches
def _track_rng(seed: int, track_id: str, copy: int) -> np.random.Generator:
    # One stream per (seed, track, copy): a track's copies do not depend on the other
    # tracks of the table or on its order.
    words = np.frombuffer(hashlib.sha256(track_id.encode()).digest()[:16], dtype=np.uint32)
    return np.random.default_rng([int(seed), int(copy), *map(int, words)])


def _labels(tracks) -> np.ndarray:
    if "label" in tracks:
        return tracks["label"].to_numpy(dtype=np.int64)
    return np.asarray([GENRES.index(g) for g in tracks["genre"]], dtype=np.int64)


def _augment_track(path, track_id, transform, copies, seed, params):
    from .segments import signal_features

    y = audio.load(path, sr=SAMPLE_RATE)
    out = []
    for copy in range(copies):
        out.append(signal_features(transform(y, _track_rng(seed, track_id, copy)), **params))
    return out


def _compute(tracks, transform, copies, seed, params, progress):
    import torch
    from tqdm.auto import tqdm

    ids = np.asarray(tracks["track_id"]).astype(str)
    paths = list(tracks["path"])

    def init():
        torch.set_num_threads(1)  # this worker thread only (see segments._compute)

    arrays = {kind: [] for kind in KINDS}
    seg_ids, copy_index = [], []
    with tqdm(total=len(ids), unit="clip", desc=f"augment {type(transform).__name__}",
              disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads()),
                               initializer=init) as pool:
        futures = [pool.submit(_augment_track, p, t, transform, copies, seed, params)
                   for p, t in zip(paths, ids, strict=True)]
        try:
            for track_id, future in zip(ids, futures, strict=True):
                for copy, feats in enumerate(future.result()):
                    for kind in KINDS:
                        arrays[kind].append(feats[kind])
                    n = len(feats[KINDS[0]])
                    seg_ids += [track_id] * n
                    copy_index += [copy] * n
                bar.update()
        finally:
            for future in futures:  # after an error or Ctrl-C, start no more
                future.cancel()
    out = {kind: np.concatenate(v).astype(np.float32) for kind, v in arrays.items()}
    return dict(out, track_id=np.asarray(seg_ids, dtype=str),
                copy=np.asarray(copy_index, dtype=np.int64))


def augmented_segments(tracks, transform: Transform, *, copies: int = 1, seed: int = 0,
                       seconds: float = 3.0, n_mels: int = 128, n_mfcc: int = 20,
                       n_fft: int = 2048, hop_length: int = 512, progress: bool = True,
                       cache: bool = True) -> dict[str, Segments]:
    """Segment features of ``copies`` augmented versions of every track, computed once and
    cached.

    Notebook: 06-augmentation.

    Each clip is loaded, augmented whole (``transform(y, rng)``, one generator per seed,
    track and copy), then cut and featurised exactly as :func:`genre_lab.segments.
    segment_features` does. Every segment keeps its track's id, so augmented copies of a
    training track stay on the training side of any split. The result is cached
    (``GENRE_LAB_CACHE``/features, written atomically) under a key made of the transform's
    ``key``, ``copies``, ``seed``, the tracks' fingerprint and the feature parameters.

    Args:
        tracks: a track table (usually the training tracks only).
        transform: a :class:`Transform` (e.g. ``PitchShift(steps=(-2, 2))``).
        copies: augmented versions per track.
        seed: seed of the random choices.
        seconds, n_mels, n_mfcc, n_fft, hop_length: the feature parameters (a Dataset's
            ``feature_params``).
        progress: show a progress bar while computing.
        cache: load from / save to the on-disk cache.

    Returns:
        ``{"logmel": Segments, "mfcc": Segments}``: tracks in table order, for each its
        copies in order, each copy's segments in time order.
    """
    if len(tracks) == 0:
        raise ValueError("no tracks: the track table is empty")
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    key_text = getattr(transform, "key", None)
    if not isinstance(key_text, str):
        raise TypeError(f"{transform!r} has no `key`: use a genre_lab.augment.Transform")
    params = dict(seconds=float(seconds), n_mels=int(n_mels), n_mfcc=int(n_mfcc),
                  n_fft=int(n_fft), hop_length=int(hop_length))

    def compute():
        return _compute(tracks, transform, copies, seed, params, progress)

    if cache:
        import librosa
        import torch

        from .cache import cached_arrays, fingerprint

        key = dict(transform=key_text, copies=int(copies), seed=int(seed),
                   tracks=fingerprint(tracks), features=params, sr=SAMPLE_RATE,
                   librosa=librosa.__version__, torch=torch.__version__, format=_FORMAT)
        arrays = cached_arrays("augmented", key, compute)
    else:
        arrays = compute()

    ids = np.asarray(tracks["track_id"]).astype(str)
    label_of = dict(zip(ids, _labels(tracks), strict=True))
    labels = np.asarray([label_of[t] for t in arrays["track_id"]], dtype=np.int64)
    result = {kind: Segments(X=arrays[kind], track_id=arrays["track_id"], label=labels,
                             kind=kind) for kind in KINDS}
    # a cached entry follows the table order it was computed in: reorder for this table
    return {kind: s.for_tracks(ids) for kind, s in result.items()}


def augmented_dataset(data, transform: Transform, *, copies: int = 1, seed: int = 0,
                      progress: bool = True, cache: bool = True):
    """A copy of an ``experiment.Dataset`` whose training side also holds ``copies``
    augmented versions of each training track (validation and test sides unchanged).

    Notebook: 06-augmentation.

    The augmentation is recorded in ``feature_params["augment"]``, which is part of
    ``experiment.train_model``'s cache key, so runs on augmented and original data are
    cached apart. Calls can be chained to add several kinds of copies.

    Example:
        >>> noisy = augmented_dataset(data, GaussianNoise(snr_db=(15, 35)))
        >>> run = experiment.train_model("lenet5", noisy, TrainConfig(epochs=8))
    """
    train = data.tracks[data.tracks.split == "train"]
    params = {k: data.feature_params[k] for k in _FEATURE_KEYS if k in data.feature_params}
    extra = augmented_segments(train, transform, copies=copies, seed=seed, progress=progress,
                               cache=cache, **params)
    segments = {}
    for kind, original in data.segments.items():
        added = extra[kind]
        segments[kind] = Segments(np.concatenate([original.X, added.X]),
                                  np.concatenate([original.track_id, added.track_id]),
                                  np.concatenate([original.label, added.label]), kind)
    record = dict(transform=transform.key, copies=int(copies), seed=int(seed))
    feature_params = dict(data.feature_params,
                          augment=[*data.feature_params.get("augment", []), record])
    return dataclasses.replace(data, segments=segments, feature_params=feature_params)


def fewer_training_tracks(data, fraction: float, *, seed: int = 0):
    """A copy of an ``experiment.Dataset`` that keeps only ``fraction`` of the training
    tracks of each genre (at least one); the others are marked ``"unused"``, the
    validation and test tracks are unchanged.

    Notebook: 06-augmentation (augmentation matters most when data is scarce).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    tracks = data.tracks.copy()
    rng = np.random.default_rng(seed)
    for _, rows in tracks[tracks.split == "train"].groupby("genre", sort=True):
        keep = max(1, int(round(fraction * len(rows))))
        drop = rng.permutation(rows.index.to_numpy())[keep:]
        tracks.loc[drop, "split"] = "unused"
    return dataclasses.replace(data, tracks=tracks,
                               split_name=f"{data.split_name}, {fraction:g} of train")


# --------------------------------------------------------------------------- explorer
#: What the explorer's strength slider (0 to 1) means for each augmentation; 0 is "off".
STRENGTHS = {
    "noise": ("SNR", "dB", lambda s: math.inf if s == 0 else 40.0 * (1 - s)),
    "pitch shift": ("shift", "semitones", lambda s: 6.0 * s),
    "time stretch": ("rate", "x", lambda s: 2.0 ** s),
    "gain": ("gain", "dB", lambda s: -24.0 * s),
    "time shift": ("shift", "s", lambda s: 1.5 * s),
    "SpecAugment": ("mask width", "rows/frames", lambda s: s / 2),
}


def _at_strength(name: str, strength: float, shape=None):
    # The transform of `name` at a fixed strength, and a text saying what that is.
    label, unit, to_value = STRENGTHS[name]
    value = to_value(strength)
    text = f"{label} {value:.3g} {unit}"
    if name == "noise":
        return GaussianNoise(snr_db=value), text
    if name == "pitch shift":
        return PitchShift(steps=value), f"{label} {value:+.2f} {unit}"
    if name == "time stretch":
        return TimeStretch(rate=value), text
    if name == "gain":
        return Gain(db=value), text
    if name == "time shift":
        return TimeShift(seconds=value), text
    rows, frames = shape
    widths = (int(round(value * rows)), int(round(value * frames)))
    return (SpecAugment(freq_width=(widths[0],) * 2, time_width=(widths[1],) * 2),
            f"{label} {widths[0]} rows, {widths[1]} frames")


def augmentation_explorer(y, *, sr: int = SAMPLE_RATE, n_mels: int = 64, n_fft: int = 2048,
                          hop_length: int = 1024, seconds: float = 3.0,
                          audio_player: bool = True):
    """Pick an augmentation and its strength; see the log-mel spectrogram of a clip before
    and after, and hear the result.

    Notebook: 06-augmentation.

    The strength slider runs from 0 (off) to 1 (the strongest setting, see ``STRENGTHS``:
    40 dB to 0 dB SNR, 0 to +6 semitones, rate 1 to 2, 0 to -24 dB, 0 to 1.5 s, masks
    of 0 to half the rows and frames).

    Args:
        y: a mono signal (the first ``seconds`` are used).
        sr, n_mels, n_fft, hop_length, seconds: the log-mel parameters (a Dataset's
            ``feature_params``).
        audio_player: also display an ``IPython.display.Audio`` player of the result.

    Returns:
        A ``widgets.Explorer``; its callback returns the figure, the augmented signal and
        spectrogram, and the text describing the setting.
    """
    import ipywidgets
    import matplotlib.pyplot as plt
    import torch

    from . import plots
    from .segments import signal_features
    from .widgets import Explorer

    clip = audio.fix_length(np.asarray(y, dtype=np.float32), int(round(seconds * sr)))
    params = dict(seconds=seconds, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length)
    before = signal_features(clip, **params)["logmel"][0]

    def draw(augmentation, strength, seed):
        transform, text = _at_strength(augmentation, strength, before.shape)
        if isinstance(transform, SpecAugment):  # acts on the spectrogram itself
            z = clip
            generator = torch.Generator().manual_seed(seed)
            after = transform([torch.from_numpy(before[None])], generator)[0][0].numpy()
        else:
            z = transform(clip, np.random.default_rng(seed))
            after = signal_features(z, **params)["logmel"][0]
        fig, axes = plt.subplots(1, 2, figsize=(11, 3), sharey=True, layout="constrained")
        vmin, vmax = float(min(before.min(), after.min())), float(max(before.max(), after.max()))
        plots.spectrogram(before, sr=sr, hop_length=hop_length, y_axis="mel", ax=axes[0],
                          title="original", colorbar=False, vmin=vmin, vmax=vmax)
        plots.spectrogram(after, sr=sr, hop_length=hop_length, y_axis="mel", ax=axes[1],
                          title=f"{augmentation}: {text}", vmin=vmin, vmax=vmax)
        axes[1].set(ylabel=None)
        player = None
        if audio_player:
            from IPython.display import Audio, display

            player = Audio(data=np.clip(z, -1, 1), rate=sr, normalize=False)  # level audible
            display(player)
        return dict(figure=fig, signal=z, logmel=after, setting=text, audio=player)

    controls = dict(
        augmentation=ipywidgets.Dropdown(options=list(STRENGTHS), value="pitch shift",
                                         description="augment"),
        strength=ipywidgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                        description="strength"),
        seed=ipywidgets.IntSlider(value=0, min=0, max=9, description="seed"),
    )
    return Explorer(draw, controls)
