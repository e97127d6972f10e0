"""musicnn and its VGG-like baseline in PyTorch, with the trained weights of the musicnn wheel.

A port of ``musicnn`` 0.1.0 (Pons & Serra 2019, ISC licence): ``extractor.batch_data`` (the
front end), ``models.define_model`` for ``'*_musicnn'`` and ``'*_vgg'`` (the networks) and
``configuration.py`` (the tags). TensorFlow is not needed: the checkpoints are read with
:func:`genre_lab.pretrained.read_bundle` and mapped tensor by tensor (:data:`MUSICNN_TABLE`,
:data:`VGG_TABLE`).

The front end (``extractor.batch_data``), step by step:

1. ``librosa.load(path, sr=16000)``: mono, resampled with librosa's default resampler
   (librosa 0.7-0.9, which musicnn was written for, used ``kaiser_best`` (resampy); librosa
   >= 0.10 uses ``soxr_hq``: the two differ by far less than the model notices).
2. ``librosa.feature.melspectrogram(y, sr=16000, hop_length=256, n_fft=512, n_mels=96)``,
   every other argument at librosa's default: power 2 (energy), a centred Hann STFT, Slaney
   mel scale and Slaney (area) norm, fmin 0, fmax 8 kHz. The centring pad was ``'reflect'``
   by default before librosa 0.10 and is ``'constant'`` since; musicnn's is ``'reflect'``.
3. ``.astype(float16)`` (musicnn stored its training spectrograms in float16) and then
   ``log10(10000 * mel + 1)`` (:func:`log_compress`). Under the numpy musicnn requires
   (< 1.17; its training code pinned 1.16.4) ``10000 * <float16 array>`` is *float32*:
   legacy value-based casting takes 10000 as uint16 and float16 x uint16 promotes to float32.
   So the log is computed in float32 from the float16-rounded mel, never overflows, and is
   float32 (up to 6.6 on GTZAN, above float16's log10(65505) = 4.816). numpy >= 2 (NEP 50)
   keeps the product in float16, which overflows to +inf wherever ``mel > 6.55``: 1.1% of
   the bins and 89% of the 3-s patches of 50 GTZAN clips (fed those infinities, musicnn's
   TF graph gives one and the same taggram for every such patch). The float32 product is
   written out here, so the result is musicnn's under any numpy: bit-identical to
   ``extractor.batch_data`` under numpy 1.26 (``tools/musicnn_reference.py``,
   ``tests/test_musicnn_parity.py``).
4. Patches of ``n_frames = time_to_frames(3 s) + 1 = 187`` frames, hop ``n_frames`` (no
   overlap by default), the last incomplete patch dropped; a clip shorter than 187 frames
   gives no patch (musicnn raises an error).

The networks (``models.py``), input ``(batch, 187, 96)`` (time, mel):

* **musicnn**: batch norm of the input; timbral convolutions (7 x 38 and 7 x 67 over
  (time, mel), 204 filters each, the time axis zero-padded by 3, 'valid' along mel) and
  temporal convolutions (128 x 1, 64 x 1 and 32 x 1, 51 filters each, TF 'same' padding:
  ``(k - 1) // 2`` before and the rest after), each ReLU -> batch norm -> max over the whole
  mel axis; concatenated to 561 channels per frame. Mid end: three 1-D convolutions over time
  (kernel 7, 64 filters, zero-pad 3, ReLU, batch norm), the 2nd and 3rd residual; the front-end
  and the three mid-end outputs concatenated (561 + 3 * 64 = 753 per frame). Back end: max
  and mean over time, interleaved ``[max_0, mean_0, max_1, ...]`` (TF's flatten of
  ``(753, 2)``), batch norm, dense 200 + ReLU, batch norm (the "penultimate" features), dense
  50 (logits), sigmoid.
* **vgg**: batch norm of the input, then five blocks of 3 x 3 'same' convolution (128
  filters) + ReLU + batch norm + 'valid' max pooling (4 x 1 stride 2 x 2; 2 x 2; 2 x 2; 2 x 2;
  4 x 4 stride 4 x 4): (187, 96) -> (92, 48) -> (46, 24) -> (23, 12) -> (11, 6) -> (2, 1);
  flattened in TF's (time, mel, channel) order (256) and a dense layer of 50.

Dropout is identity at inference; every batch norm uses its moving statistics with TF's
default epsilon 0.001.

Notebook: 09 (pretrained networks and tagging).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint_prefix, read_bundle

__all__ = ["FFT_HOP", "FFT_SIZE", "MODELS", "MSD_TAGS", "MTT_TAGS", "MUSICNN_TABLE", "Musicnn",
           "N_FRAMES", "N_MELS", "SR", "TAGS", "VGG", "VGG_TABLE", "batch_data", "load",
           "load_audio", "log_compress", "log_mel", "patches", "taggram", "top_tags"]

# musicnn/configuration.py
SR = 16000
FFT_HOP = 256
FFT_SIZE = 512
N_MELS = 96
#: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``: 3-s patches.
N_FRAMES = 187
#: TF-1 ``tf.layers.batch_normalization``'s default epsilon.
BN_EPS = 1e-3

MTT_TAGS = ('guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock',
            'fast', 'piano', 'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian',
            'opera', 'male', 'singing', 'vocals', 'no vocals', 'harpsichord', 'loud', 'quiet',
            'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft', 'sitar', 'solo', 'man',
            'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal',
            'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice',
            'choral')
MSD_TAGS = ('rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance',
            '00s', 'alternative rock', 'jazz', 'beautiful', 'metal', 'chillout',
            'male vocalists', 'classic rock', 'soul', 'indie rock', 'Mellow', 'electronica',
            '80s', 'folk', '90s', 'chill', 'instrumental', 'punk', 'oldies', 'blues',
            'hard rock', 'ambient', 'acoustic', 'experimental', 'female vocalist', 'guitar',
            'Hip-Hop', '70s', 'party', 'country', 'easy listening', 'sexy', 'catchy', 'funk',
            'electro', 'heavy metal', 'Progressive rock', '60s', 'rnb', 'indie pop', 'sad',
            'House', 'happy')
#: The 50 output tags of each model, in output order (musicnn's configuration.py).
TAGS = {"MTT": MTT_TAGS, "MSD": MSD_TAGS}
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")


# --------------------------------------------------------------------------- front end

def load_audio(path, *, res_type: str | None = None) -> np.ndarray:
    """Mono float32 audio at 16 kHz, as ``librosa.load(path, sr=16000)``."""
    import librosa

    kwargs = {} if res_type is None else {"res_type": res_type}
    audio, _ = librosa.load(path, sr=SR, mono=True, **kwargs)
    return audio


def log_compress(mel: np.ndarray) -> np.ndarray:
    """musicnn's ``'logC'`` compression of a mel spectrogram: the mel rounded to float16 (as
    musicnn stores it), then ``log10(10000 * mel + 1)`` in float32, exactly as numpy < 2
    evaluates musicnn's ``np.log10(10000 * audio_rep + 1)`` on a float16 array (see the
    module's notes: no float16 arithmetic, no overflow). Returns float32."""
    mel16 = np.asarray(mel).astype(np.float16)
    return np.log10(np.float32(10000) * mel16 + np.float32(1))


def log_mel(audio: np.ndarray, *, pad_mode: str = "reflect") -> np.ndarray:
    """musicnn's log-mel spectrogram, ``(frames, 96)`` float32 (``extractor.batch_data``).

    Args:
        audio: mono audio at 16 kHz, or a batch ``(..., samples)`` of signals of one length
            (librosa computes them in one call): then ``(..., frames, 96)``.
        pad_mode: the STFT's centring pad; ``'reflect'`` was librosa's default when musicnn
            was released (and trained), ``'constant'`` is librosa >= 0.10's.
    """
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=SR, hop_length=FFT_HOP, n_fft=FFT_SIZE,
                                         n_mels=N_MELS, pad_mode=pad_mode)
    return log_compress(np.swapaxes(mel, -1, -2))


def patches(spectrogram: np.ndarray, n_frames: int = N_FRAMES, hop: int | None = None
            ) -> np.ndarray:
    """Cut ``(frames, mels)`` into ``(n, n_frames, mels)`` patches every ``hop`` frames
    (default: ``n_frames``, no overlap), dropping the incomplete last one, as musicnn does;
    ``n`` is 0 when the spectrogram is shorter than one patch."""
    hop = n_frames if hop is None else hop
    starts = range(0, spectrogram.shape[0] - n_frames + 1, hop)
    out = np.empty((len(starts), n_frames, spectrogram.shape[1]), dtype=np.float32)
    for i, start in enumerate(starts):
        out[i] = spectrogram[start:start + n_frames]
    return out


def batch_data(source, n_frames: int = N_FRAMES, hop: int | None = None, **kwargs
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(patches, spectrogram)`` of a file (or of 16-kHz mono audio), as musicnn's
    ``extractor.batch_data``; ``kwargs`` go to :func:`log_mel`."""
    audio = source if isinstance(source, np.ndarray) else load_audio(source)
    spectrogram = log_mel(audio, **kwargs)
    return patches(spectrogram, n_frames, hop), spectrogram


# --------------------------------------------------------------------------- networks

def _bn(channels: int) -> nn.BatchNorm2d | nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=BN_EPS)


def _bn2(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class Musicnn(nn.Module):
    """musicnn (``models.build_musicnn``). Input ``(batch, time, 96)`` log-mel patches;
    ``forward`` returns the logits, :meth:`features` every intermediate representation."""

    def __init__(self, num_classes: int = 50, num_filt_midend: int = 64,
                 num_units_backend: int = 200, n_mels: int = N_MELS):
        super().__init__()
        timbral = int(1.6 * 128)   # 204
        temporal = int(1.6 * 32)   # 51
        self.bn_input = _bn2(1)
        # front end: (time, mel) kernels; padding is applied in forward
        self.timbral_74 = nn.Conv2d(1, timbral, (7, int(0.4 * n_mels)))   # 7 x 38
        self.bn_timbral_74 = _bn2(timbral)
        self.timbral_77 = nn.Conv2d(1, timbral, (7, int(0.7 * n_mels)))   # 7 x 67
        self.bn_timbral_77 = _bn2(timbral)
        self.temporal_128 = nn.Conv2d(1, temporal, (128, 1))
        self.bn_temporal_128 = _bn2(temporal)
        self.temporal_64 = nn.Conv2d(1, temporal, (64, 1))
        self.bn_temporal_64 = _bn2(temporal)
        self.temporal_32 = nn.Conv2d(1, temporal, (32, 1))
        self.bn_temporal_32 = _bn2(temporal)
        frontend = 2 * timbral + 3 * temporal  # 561
        # mid end: 2-D convolutions spanning every channel, as in TF (kernel 7 x channels)
        self.midend_1 = nn.Conv2d(1, num_filt_midend, (7, frontend))
        self.bn_midend_1 = _bn2(num_filt_midend)
        self.midend_2 = nn.Conv2d(1, num_filt_midend, (7, num_filt_midend))
        self.bn_midend_2 = _bn2(num_filt_midend)
        self.midend_3 = nn.Conv2d(1, num_filt_midend, (7, num_filt_midend))
        self.bn_midend_3 = _bn2(num_filt_midend)
        midend = frontend + 3 * num_filt_midend  # 753
        # back end
        self.bn_pool = _bn(2 * midend)
        self.dense = nn.Linear(2 * midend, num_units_backend)
        self.bn_dense = _bn(num_units_backend)
        self.output = nn.Linear(num_units_backend, num_classes)

    @staticmethod
    def _same(x: torch.Tensor, k: int) -> torch.Tensor:
        # TF 'same' along time for stride 1: (k - 1) // 2 before, the rest after
        return F.pad(x, (0, 0, (k - 1) // 2, k - 1 - (k - 1) // 2))

    def _block(self, x, conv, bn):
        # conv -> ReLU -> batch norm -> max over the whole mel axis: (B, C, T)
        if self.training:  # batch statistics: over the whole (B, C, T, mel) tensor
            return bn(F.relu(conv(x))).amax(dim=3)
        # At inference ReLU and batch norm are monotonic per channel (increasing, or
        # decreasing where bn's scale is negative), so the max over mel is taken first: on
        # the convolution with those channels negated (max of -conv = -min of conv), then
        # ReLU and batch norm on (B, C, T) only. The same values, at about 60% of the cost.
        sign = torch.where(bn.weight < 0, -1.0, 1.0)
        peak = F.conv2d(x, conv.weight * sign[:, None, None, None], conv.bias * sign)
        return bn(F.relu(peak.amax(dim=3, keepdim=True) * sign[:, None, None])).squeeze(3)

    @staticmethod
    def _mid(x, conv, bn):
        # x: (B, T, C) -> (B, T, filters)
        y = bn(F.relu(conv(F.pad(x.unsqueeze(1), (0, 0, 3, 3)))))  # (B, F, T, 1)
        return y.squeeze(3).transpose(1, 2)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every representation musicnn's ``extractor`` names, per patch, plus the logits
        and the taggram: ``timbral`` (B, T, 408), ``temporal`` (B, T, 153), ``cnn1``,
        ``cnn2``, ``cnn3`` (B, T, 64), ``mean_pool``, ``max_pool`` (B, 753),
        ``penultimate`` (B, 200), ``logits``, ``taggram`` (B, 50)."""
        h = self.bn_input(x.unsqueeze(1))                      # (B, 1, T, 96)
        padded = F.pad(h, (0, 0, 3, 3))
        f74 = self._block(padded, self.timbral_74, self.bn_timbral_74)
        f77 = self._block(padded, self.timbral_77, self.bn_timbral_77)
        s1 = self._block(self._same(h, 128), self.temporal_128, self.bn_temporal_128)
        s2 = self._block(self._same(h, 64), self.temporal_64, self.bn_temporal_64)
        s3 = self._block(self._same(h, 32), self.temporal_32, self.bn_temporal_32)
        front = torch.cat([f74, f77, s1, s2, s3], dim=1).transpose(1, 2)  # (B, T, 561)
        cnn1 = self._mid(front, self.midend_1, self.bn_midend_1)
        cnn2 = self._mid(cnn1, self.midend_2, self.bn_midend_2) + cnn1
        cnn3 = self._mid(cnn2, self.midend_3, self.bn_midend_3) + cnn2
        mid = torch.cat([front, cnn1, cnn2, cnn3], dim=2)     # (B, T, 753)
        max_pool, mean_pool = mid.amax(dim=1), mid.mean(dim=1)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TF's flatten order
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
        logits = self.output(penultimate)
        return dict(timbral=front[..., :408], temporal=front[..., 408:], cnn1=cnn1,
                    cnn2=cnn2, cnn3=cnn3, mean_pool=mean_pool, max_pool=max_pool,
                    penultimate=penultimate, logits=logits, taggram=torch.sigmoid(logits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["logits"]


class VGG(nn.Module):
    """musicnn's VGG-like baseline (``models.vgg``). Input ``(batch, 187, 96)`` only."""

    POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
             ((4, 4), (4, 4)))

    def __init__(self, num_classes: int = 50, num_filters: int = 128):
        super().__init__()
        self.bn_input = _bn2(1)
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else num_filters, num_filters, 3,
                                             padding=1) for i in range(5))
        self.bns = nn.ModuleList(_bn2(num_filters) for _ in range(5))
        self.output = nn.Linear(2 * 1 * num_filters, num_classes)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``pool1`` .. ``pool5`` as (B, C, T, mel), ``logits`` and ``taggram``."""
        h = self.bn_input(x.unsqueeze(1))
        out = {}
        for i, (conv, bn, (size, stride)) in enumerate(zip(self.convs, self.bns, self.POOLS,
                                                                strict=True)):
            h = F.max_pool2d(bn(F.relu(conv(h))), size, stride)
            out[f"pool{i + 1}"] = h
        logits = self.output(h.permute(0, 2, 3, 1).flatten(1))  # TF's (time, mel, C) order
        return dict(out, logits=logits, taggram=torch.sigmoid(logits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["logits"]


# --------------------------------------------------------------------------- weights

def _bn_rows(tf: str, torch_name: str) -> list[tuple[str, str, str]]:
    return [(f"{tf}/gamma", f"{torch_name}.weight", "vector"),
            (f"{tf}/beta", f"{torch_name}.bias", "vector"),
            (f"{tf}/moving_mean", f"{torch_name}.running_mean", "vector"),
            (f"{tf}/moving_variance", f"{torch_name}.running_var", "vector")]


def _conv_rows(tf: str, torch_name: str) -> list[tuple[str, str, str]]:
    return [(f"{tf}/kernel", f"{torch_name}.weight", "conv"),
            (f"{tf}/bias", f"{torch_name}.bias", "vector")]


def _dense_rows(tf: str, torch_name: str) -> list[tuple[str, str, str]]:
    return [(f"{tf}/kernel", f"{torch_name}.weight", "dense"),
            (f"{tf}/bias", f"{torch_name}.bias", "vector")]


# TF-1 names layers by creation order (conv2d, conv2d_1, ...; batch_normalization, ...):
# models.build_musicnn creates them input BN, f74, f77, s1 (128), s2 (64), s3 (32), the
# three mid-end convolutions, then the back end's BN, dense, BN, dense.
_MUSICNN_LAYERS = [
    ("bn", "batch_normalization", "bn_input"),
    ("conv", "conv2d", "timbral_74"), ("bn", "batch_normalization_1", "bn_timbral_74"),
    ("conv", "conv2d_1", "timbral_77"), ("bn", "batch_normalization_2", "bn_timbral_77"),
    ("conv", "conv2d_2", "temporal_128"), ("bn", "batch_normalization_3", "bn_temporal_128"),
    ("conv", "conv2d_3", "temporal_64"), ("bn", "batch_normalization_4", "bn_temporal_64"),
    ("conv", "conv2d_4", "temporal_32"), ("bn", "batch_normalization_5", "bn_temporal_32"),
    ("conv", "conv2d_5", "midend_1"), ("bn", "batch_normalization_6", "bn_midend_1"),
    ("conv", "conv2d_6", "midend_2"), ("bn", "batch_normalization_7", "bn_midend_2"),
    ("conv", "conv2d_7", "midend_3"), ("bn", "batch_normalization_8", "bn_midend_3"),
    ("bn", "batch_normalization_9", "bn_pool"),
    ("dense", "dense", "dense"), ("bn", "batch_normalization_10", "bn_dense"),
    ("dense", "dense_1", "output"),
]
_VGG_LAYERS = [("bn", "batch_normalization", "bn_input")] + [
    row for i in range(5) for row in (("conv", f"{i + 1}CNN", f"convs.{i}"),
                                      ("bn", f"batch_normalization_{i + 1}", f"bns.{i}"))
] + [("dense", "dense", "output")]
_ROWS = {"bn": _bn_rows, "conv": _conv_rows, "dense": _dense_rows}
#: (TF tensor, torch parameter or buffer, transform) for every trained tensor: 'conv' is
#: HWIO -> OIHW, 'dense' (in, out) -> (out, in), 'vector' as is.
MUSICNN_TABLE = [row for kind, tf, pt in _MUSICNN_LAYERS for row in _ROWS[kind](tf, pt)]
VGG_TABLE = [row for kind, tf, pt in _VGG_LAYERS for row in _ROWS[kind](tf, pt)]

_TRANSFORMS = {"conv": lambda a: a.transpose(3, 2, 0, 1), "dense": lambda a: a.T,
               "vector": lambda a: a}


def _is_optimizer_slot(name: str) -> bool:
    return "/Adam" in name or name in ("beta1_power", "beta2_power")


def load(name: str = "MTT_musicnn", tensors: dict[str, np.ndarray] | None = None
         ) -> nn.Module:
    """One of :data:`MODELS` with its trained weights, in eval mode, ``.tags`` set.

    Every trained tensor of the checkpoint (all but the Adam slots and ``beta*_power``) is
    used exactly once and every parameter and buffer of the network is set (else
    ``ValueError``); ``tensors`` replaces the checkpoint (tests)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    if tensors is None:
        tensors = read_bundle(checkpoint_prefix(name))
    model, table = (Musicnn(), MUSICNN_TABLE) if name.endswith("musicnn") else (VGG(),
                                                                                VGG_TABLE)
    trained = {k for k in tensors if not _is_optimizer_slot(k)}
    used = [tf for tf, _, _ in table]
    missing = sorted(set(used) - trained)
    unused = sorted(trained - set(used))
    if missing or unused or len(used) != len(set(used)):
        raise ValueError(f"{name}: checkpoint and mapping disagree: missing {missing}, "
                         f"unused {unused}")
    state = model.state_dict()
    targets = [pt for _, pt, _ in table]
    unset = sorted(k for k in state if k not in targets and not k.endswith("num_batches_tracked"))
    if unset or len(targets) != len(set(targets)):
        raise ValueError(f"{name}: parameters not set by the mapping: {unset}")
    new = {}
    for tf, pt, how in table:
        value = _TRANSFORMS[how](tensors[tf])
        if tuple(value.shape) != tuple(state[pt].shape):
            raise ValueError(f"{name}: {tf} {tensors[tf].shape} -> {pt} "
                             f"{tuple(state[pt].shape)}: shapes differ")
        new[pt] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    model.load_state_dict(new, strict=False)
    model.eval()
    model.tags = TAGS[name[:3]]
    model.model_name = name
    return model


# --------------------------------------------------------------------------- tagging

@torch.no_grad()
def taggram(model: nn.Module, batch: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """``(patches, 50)`` tag probabilities of ``(patches, time, 96)`` log-mel patches."""
    out = [model.features(torch.from_numpy(batch[i:i + batch_size]))["taggram"]
           for i in range(0, len(batch), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, len(model.tags)), np.float32)


def top_tags(model: nn.Module, source, top_n: int = 3, **kwargs) -> list[str]:
    """The ``top_n`` tags of a file (or 16-kHz audio) by mean probability over its
    patches, as musicnn's ``tagger.top_tags``."""
    batch, _ = batch_data(source, **kwargs)
    if not len(batch):
        raise ValueError(f"shorter than one {N_FRAMES}-frame patch (3 s)")
    mean = taggram(model, batch).mean(axis=0)
    return [model.tags[i] for i in mean.argsort()[-top_n:][::-1]]
