"""musicnn embeddings: every layer of :data:`LAYERS` for every one-patch segment of a track.

A track is cut into segments of exactly one musicnn patch (187 frames x hop 256 = 47,872
samples at 16 kHz, 2.992 s) by :func:`genre_lab.audio.segment`, the course's one segmenting
rule; each segment's log-mel (:func:`~genre_lab.pretrained.musicnn.log_mel`) gives 188
centred frames, of which the first 187 are the patch. The frame centres are those of
musicnn's own patches of the whole file (``extractor.batch_data``); only the first and last
frame of each patch see a reflected edge instead of the neighbouring audio.

- :func:`load_model` is :func:`genre_lab.pretrained.musicnn.load` with the converted weights
  kept in :mod:`genre_lab.store` (verified on read).
- :func:`embed` gives every layer of :data:`LAYERS` for every segment of every track, as
  :class:`~genre_lab.features.segments.Segments` (cached like the other features).

Speed (``benchmarks/pretrained.md``): the network is most of the time (85-95%). It runs a few
segments per forward pass (:data:`_NETWORK_BATCH`), so that its largest tensors, the timbral
convolutions' outputs (204 x 187 x 59 values a segment), stay in the CPU's cache (and
:class:`~genre_lab.pretrained.musicnn.Musicnn` takes their max over mel before ReLU and
batch norm); and :func:`embed` runs one track per thread (:func:`_tracks_in_parallel`).

Everything here is importable from :mod:`genre_lab.pretrained.transfer` as well.
Notebook: 09.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import audio, store
from ..features.segments import Segments, labels_of
from . import checkpoint_prefix, musicnn

__all__ = ["LAYERS", "SEGMENT_SAMPLES", "SEGMENT_SECONDS", "embed", "embed_segments",
           "load_model", "segment_patches"]

#: Samples of one segment: one musicnn patch (``N_FRAMES`` frames at hop ``FFT_HOP``).
SEGMENT_SAMPLES = musicnn.N_FRAMES * musicnn.FFT_HOP
SEGMENT_SECONDS = SEGMENT_SAMPLES / musicnn.SR
#: The per-segment vectors :func:`embed` keeps, by architecture: musicnn's penultimate dense
#: layer (200), its mid-end features pooled over time (753 each) and the tags (50); the
#: VGG's last pooling (256) and tags.
LAYERS = {"musicnn": ("penultimate", "mean_pool", "max_pool", "taggram"),
          "vgg": ("pool5", "taggram")}
#: Bumped when what :func:`embed` stores, or its values, change (2: the float32 log); not
#: for a faster computation of the same values (within float32 rounding: 3e-7 relative).
_FORMAT = 2
#: Segments per librosa call in :func:`segment_patches` (one STFT over the batch).
_MEL_BATCH = 32
#: Segments per forward pass: small, so that each convolution's output stays in the cache
#: (1 to 4 segments ran 1.3 to 2 times as fast as 32 on 2 cores; benchmarks/pretrained.md).
_NETWORK_BATCH = 2
#: musicnn rounds its mel spectrogram to float16 (``musicnn.log_compress``): a mel value over
#: float16's largest (a signal far over full scale, e.g. a float file peaking at 10) becomes
#: inf there, then NaN through the network. Such values saturate at the log of the largest
#: instead, as a limiter would; every other value is musicnn's own.
_LOG_MEL_MAX = float(np.log10(np.float32(10000) * np.float32(np.finfo(np.float16).max)
                              + np.float32(1)))


def _architecture(name: str) -> str:
    return "musicnn" if name.endswith("musicnn") else "vgg"


def _empty_network(name: str) -> nn.Module:
    return musicnn.Musicnn() if _architecture(name) == "musicnn" else musicnn.VGG()


def load_model(name: str = "MSD_musicnn") -> nn.Module:
    """One of :data:`musicnn.MODELS` with its trained weights, in eval mode, ``.tags`` set.

    The first call reads the wheel's checkpoint (every tensor CRC32C-checked) and maps it
    (:func:`musicnn.load`); the converted state is kept in the store under the sha256 of
    the checkpoint's ``.index`` (which holds every tensor's CRC32C), so a changed wheel is
    converted again.
    """
    if name not in musicnn.MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(musicnn.MODELS)}")
    index = Path(checkpoint_prefix(name) + ".index")
    key = dict(model=name, index=hashlib.sha256(index.read_bytes()).hexdigest(),
               torch=torch.__version__)

    def convert():
        return {k: v.numpy() for k, v in musicnn.load(name).state_dict().items()}

    state = store.cached_arrays(f"weights-{name}", key, convert)
    model = _empty_network(name)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    model.eval()
    model.tags, model.model_name = musicnn.TAGS[name[:3]], name
    return model


def segment_patches(y: np.ndarray, **kwargs) -> np.ndarray:
    """``(segments, 187, 96)`` musicnn patches of a mono 16-kHz signal (or of one segment, or
    of a ``(n, SEGMENT_SAMPLES)`` batch of segments); ``kwargs`` go to ``log_mel``. Values
    that musicnn's float16 rounding would make infinite saturate (:data:`_LOG_MEL_MAX`)."""
    y = np.asarray(y, dtype=np.float32)
    rows = y if y.ndim == 2 else audio.segment(y, sr=musicnn.SR, seconds=SEGMENT_SECONDS)
    if rows.shape[1] != SEGMENT_SAMPLES:
        raise ValueError(f"segments must have {SEGMENT_SAMPLES} samples, got {rows.shape[1]}")
    out = np.empty((len(rows), musicnn.N_FRAMES, musicnn.N_MELS), np.float32)
    for start in range(0, len(rows), _MEL_BATCH):  # librosa's STFT over a batch of segments
        with np.errstate(over="ignore"):  # the float16 overflow, saturated below
            mel = musicnn.log_mel(rows[start:start + _MEL_BATCH], **kwargs)[:, :musicnn.N_FRAMES]
        out[start:start + _MEL_BATCH] = np.minimum(mel, _LOG_MEL_MAX)
    return out


def _vectors(model: nn.Module, patches: np.ndarray, layers,
             batch: int | None = None) -> dict[str, np.ndarray]:
    batch = batch or _NETWORK_BATCH
    out = {layer: [] for layer in layers}
    with torch.no_grad():
        for start in range(0, len(patches), batch):
            features = model.features(torch.from_numpy(patches[start:start + batch]))
            for layer in layers:
                out[layer].append(features[layer].flatten(1).numpy())
    return {layer: np.concatenate(v) for layer, v in out.items()}


def embed_segments(model: nn.Module, segments, layers=None) -> dict[str, np.ndarray]:
    """Vectors of ``(n, SEGMENT_SAMPLES)`` 16-kHz segments: ``{layer: (n, dim)}``."""
    layers = layers or LAYERS[_architecture(model.model_name)]
    return _vectors(model, segment_patches(np.atleast_2d(segments)), layers)


def _weights_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode() + value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


@contextmanager
def _tracks_in_parallel():
    """A pool of ``torch.get_num_threads()`` threads, each running whole tracks with torch on
    one thread (put back after). The threads never wait for each other, as torch's own
    threads do after every operation: on a busy 2-core machine, two torch threads on one
    track took 4.8 times as long (benchmarks/pretrained.md). Decoding, librosa and torch
    release the GIL."""
    threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="embed")
    torch.set_num_threads(1)
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)  # on an error: no more tracks
        torch.set_num_threads(threads)


def embed(tracks, model: str | nn.Module = "MSD_musicnn", *, progress: bool = True,
          cache: bool = True) -> dict[str, Segments]:
    """Every layer of :data:`LAYERS` for every segment of every track.

    Notebook: 09.

    Each track is loaded at 16 kHz (:func:`genre_lab.audio.load`), cut into one-patch
    segments (:func:`segment_patches`) and run through the network in small batches, on
    ``torch.get_num_threads()`` tracks at a time (:func:`_tracks_in_parallel`). Results are
    kept in the store under the tracks' fingerprint and a hash of the weights, so a
    fine-tuned copy of a network never reads the original's vectors.

    Args:
        tracks: a track table (``genre_lab.data.load_tracks()``).
        model: a name from ``musicnn.MODELS`` or a network from :func:`load_model`.
        progress: show a progress bar over tracks while computing.
        cache: load from / save to the store.

    Returns:
        ``{layer: Segments}``, X ``(n_segments, dim)`` float32, tracks in table order. One
        vector per track: ``genre_lab.evaluate.track_means(v.X, v.track_id)`` (the mean of
        its segments).
    """
    network = load_model(model) if isinstance(model, str) else model
    layers = LAYERS[_architecture(network.model_name)]
    if len(tracks) == 0:
        raise ValueError("no tracks: the track table is empty")
    ids = np.asarray(tracks["track_id"]).astype(str)

    def compute():
        from ..parallel import progress_bar

        def track_vectors(path):
            return _vectors(network, segment_patches(audio.load(path, sr=musicnn.SR)), layers)

        paths = list(tracks["path"])
        with _tracks_in_parallel() as pool:
            rows = list(progress_bar(pool.map(track_vectors, paths), total=len(paths),
                                     desc="embedding", unit="track", disable=not progress,
                                     leave=False))
        arrays = {layer: np.concatenate([r[layer] for r in rows]) for layer in layers}
        arrays["track_id"] = np.repeat(ids, [len(r[layers[0]]) for r in rows])
        return arrays

    if cache:
        import librosa

        key = dict(model=network.model_name, weights=_weights_digest(network),
                   tracks=store.fingerprint(tracks), track_ids=list(ids),
                   librosa=librosa.__version__, torch=torch.__version__, format=_FORMAT)
        arrays = store.cached_arrays(f"embeddings-{network.model_name}", key, compute)
    else:
        arrays = compute()
    seg_ids = arrays["track_id"]
    counts = [int((seg_ids == t).sum()) for t in ids]
    labels = np.repeat(labels_of(tracks), counts)
    return {layer: Segments(X=arrays[layer], track_id=seg_ids, label=labels, kind=layer)
            for layer in layers}
