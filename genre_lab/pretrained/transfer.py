"""Transfer learning with musicnn: per-segment embeddings, linear probes, tagging a file.

- :func:`embed`, :func:`embed_segments`, :func:`segment_patches`, :func:`load_model` and the
  segment constants live in :mod:`genre_lab.pretrained.embedding` (one-patch segments of
  2.992 s, every layer of :data:`LAYERS` per segment, cached) and are importable from here.
- :class:`Probe` is a frozen backbone plus one linear layer: raw 16-kHz segments in, genre
  logits out. It saves and loads with :mod:`genre_lab.checkpoint`, so ``genre-lab
  evaluate``/``predict`` use it like any model; :func:`train_probe` fits it with
  scikit-learn (standardisation + logistic regression) and folds both into the layer.
- :func:`tag_file` is musicnn's tagger: the mean taggram of a file's segments.

Notebook: 09 (transfer learning and tagging).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import GENRES, audio
from ..config import FeatureSettings
from ..features.segments import Segments, labels_of
from . import musicnn
from .embedding import (
    LAYERS,
    SEGMENT_SAMPLES,
    SEGMENT_SECONDS,
    _architecture,
    _empty_network,
    embed,
    embed_segments,
    load_model,
    segment_patches,
)

__all__ = ["LAYERS", "MUSICNN_NOTICE", "SEGMENT_SAMPLES", "SEGMENT_SECONDS", "SETTINGS", "Probe",
           "ProbeRun", "embed", "embed_segments", "load_model", "segment_patches", "segment_tags",
           "tag_file", "train_probe"]

#: The features a probe reads, as a checkpoint records them (musicnn's front end).
SETTINGS = FeatureSettings(sample_rate=musicnn.SR, segment_seconds=SEGMENT_SECONDS,
                           n_fft=musicnn.FFT_SIZE, hop_length=musicnn.FFT_HOP,
                           n_mels=musicnn.N_MELS, n_mfcc=musicnn.N_MELS)
#: musicnn's copyright and permission notice (the wheel's LICENSE.md; LICENSES/musicnn-ISC.txt):
#: its ISC licence asks for it in every copy of the weights, so every probe's spec carries it.
MUSICNN_NOTICE = (
    "The backbone's weights are musicnn's (musicnn 0.1.0, https://github.com/jordipons/musicnn), "
    "under the ISC licence:\n\n"
    "Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019. Code developed by "
    "Jordi Pons (www.jordipons.me).\n\n"
    "Permission to use, copy, modify, and/or distribute this software for any purpose with or "
    "without fee is hereby granted, provided that the above copyright notice and this "
    "permission notice appear in all copies.\n\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO "
    "THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT "
    "SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR "
    "ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF "
    "CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE "
    "OR PERFORMANCE OF THIS SOFTWARE."
)


# ------------------------------------------------------------------------------- probes

class Probe(nn.Module):
    """A frozen pretrained network and one linear layer on one of its layers.

    ``forward`` takes raw mono 16-kHz segments ``(batch, SEGMENT_SAMPLES)`` (what
    ``genre_lab.audio.stream_segments(path, sr=16000, seconds=SEGMENT_SECONDS)`` yields) and
    returns class logits; :meth:`logits` takes vectors of ``layer`` (from :func:`embed`).
    The backbone's weights are saved with the probe, so a checkpoint needs no wheel; its
    spec carries musicnn's licence notice (:data:`MUSICNN_NOTICE`), which goes with them.
    """

    kinds = ("audio",)

    def __init__(self, backbone: str = "MSD_musicnn", layer: str = "max_pool",
                 n_classes: int = len(GENRES), dim: int | None = None):
        super().__init__()
        if backbone not in musicnn.MODELS:
            raise ValueError(f"unknown backbone {backbone!r}: choose one of "
                             f"{', '.join(musicnn.MODELS)}")
        if layer not in LAYERS[_architecture(backbone)]:
            raise ValueError(f"{backbone} has no layer {layer!r}: choose one of "
                             f"{', '.join(LAYERS[_architecture(backbone)])}")
        self.backbone = _empty_network(backbone)
        self.backbone.model_name = backbone
        self.backbone.tags = musicnn.TAGS[backbone[:3]]
        self.backbone.requires_grad_(False)
        self.layer, self.n_classes, self.name = layer, n_classes, f"probe-{backbone}-{layer}"
        if dim is None:
            with torch.no_grad():
                self.backbone.eval()
                dim = self.backbone.features(torch.zeros(1, musicnn.N_FRAMES, musicnn.N_MELS)
                                             )[layer].flatten(1).shape[1]
        # the standardisation fitted on the training vectors, kept apart from the linear
        # layer: folded into its weights, large means cancel badly in float32
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.head = nn.Linear(dim, n_classes)

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # frozen: batch norm keeps its moving statistics
        return self

    def logits(self, vectors) -> torch.Tensor:
        """Logits of ``layer`` vectors ``(n, dim)``."""
        x = torch.as_tensor(np.asarray(vectors), dtype=torch.float32)
        return self.head((x - self.mean) / self.scale)

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        patches = segment_patches(segments.detach().cpu().numpy())
        features = self.backbone.features(torch.from_numpy(patches))
        return self.logits(features[self.layer].flatten(1))

    def spec(self) -> dict:
        """What rebuilds this probe (``Probe(**spec minus name and notice)``), as checkpoints
        (and ``metrics.json``) store it, with the notice that musicnn's weights require."""
        return dict(name="probe", backbone=self.backbone.model_name, layer=self.layer,
                    n_classes=self.n_classes, dim=self.head.in_features, notice=MUSICNN_NOTICE)

    @classmethod
    def from_spec(cls, spec: dict) -> Probe:
        return cls(**{k: v for k, v in spec.items() if k not in ("name", "notice")})

    @classmethod
    def from_sklearn(cls, pipeline, weights: nn.Module, layer: str,
                     n_classes: int = len(GENRES)) -> Probe:
        """The probe computing ``pipeline.decision_function`` (a StandardScaler, then a
        LogisticRegression) on ``layer`` of ``weights`` (a network from :func:`load_model`).
        Output ``i`` is class ``i``; a class the regression never saw gets a bias of -1e4."""
        scaler, linear = pipeline[0], pipeline[-1]
        coef, intercept = linear.coef_, linear.intercept_
        if coef.shape[0] == 1:  # two classes: sklearn keeps one row z; softmax of (-z/2, z/2)
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.r_[-intercept / 2,
                                                                        intercept / 2]
        weight = np.zeros((n_classes, coef.shape[1]))
        bias = np.full(n_classes, -1e4)
        weight[linear.classes_], bias[linear.classes_] = coef, intercept
        probe = cls(weights.model_name, layer, n_classes=n_classes, dim=weight.shape[1])
        probe.backbone.load_state_dict(weights.state_dict())
        with torch.no_grad():
            probe.mean.copy_(torch.from_numpy(scaler.mean_))
            probe.scale.copy_(torch.from_numpy(scaler.scale_))
            probe.head.weight.copy_(torch.from_numpy(weight))
            probe.head.bias.copy_(torch.from_numpy(bias))
        return probe.eval()


@dataclass
class ProbeRun:
    """A trained probe: ``probe`` (save it with ``genre_lab.checkpoint.save(probe, path,
    settings=SETTINGS, ...)``), the scikit-learn ``pipeline`` it came from, the chosen
    ``C``, the cross-validated track and segment accuracy of every C tried
    (``validation``), and ``result`` on the test tracks (``genre_lab.evaluate.evaluate``;
    empty without test tracks)."""

    probe: Probe
    pipeline: object
    C: float
    validation: dict
    result: dict


def train_probe(tracks, backbone: str = "MSD_musicnn", layer: str = "max_pool", *,
                Cs=(0.001, 0.01, 0.1, 1.0), seed: int = 0, progress: bool = True) -> ProbeRun:
    """Fit a linear probe on ``layer`` of ``backbone`` for the tracks' ``split`` column.

    Notebook: 09; ``genre-lab train ROOT --model probe-msd``.

    The segments of every track not in the ``test`` split are standardised and fitted with
    scikit-learn's multinomial logistic regression. ``C`` (the inverse L2 strength) is the
    one of ``Cs`` with the best track accuracy in a stratified 5-fold cross-validation over
    those tracks (segments of a track stay in one fold; ties go to the better segment
    accuracy, then to the smaller C), so a
    ``val`` split is used for fitting, not set aside. A track's prediction is the mean of
    its segments' logits, as for every model.

    Args:
        tracks: a track table with a ``split`` column (``genre_lab.dataset.split_tracks``),
            or without one: every track is then a training track.
        backbone: one of ``musicnn.MODELS``.
        layer: one of ``LAYERS[...]`` for the backbone's architecture. The default,
            musicnn's mid-level features max-pooled over each 3-s segment (753 values), was
            the best of the four layers on 50 real GTZAN clips (cross-validated track
            accuracy 0.85, against 0.83 mean_pool, 0.79 penultimate, 0.76 taggram; chapter 9).
        Cs: the regularisation values tried.
        seed: of the cross-validation folds.
        progress: progress bar while embedding.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..evaluate import evaluate

    split = tracks["split"] if "split" in tracks else np.full(len(tracks), "train")
    network = load_model(backbone)
    vectors = embed(tracks, network, progress=progress)[layer]
    fit_on = vectors.for_tracks(tracks.track_id[np.asarray(split) != "test"])
    test = vectors.for_tracks(tracks.track_id[np.asarray(split) == "test"])
    genres, per_genre = np.unique(labels_of(tracks[np.asarray(split) != "test"]),
                                  return_counts=True)
    if len(genres) < 2:
        raise ValueError("a probe needs training tracks of at least two genres")

    def fit(segments: Segments, C: float):
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
        pipeline.fit(segments.X, segments.label)
        return pipeline, Probe.from_sklearn(pipeline, network, layer)

    def scores(probe: Probe, segments: Segments) -> dict:
        with torch.no_grad():
            logits = probe.logits(segments.X).numpy()
        return evaluate(logits, segments.label, segments.track_id)

    validation = {}
    folds = min(5, int(per_genre.min()))
    if folds >= 2 and len(Cs) > 1:
        cv = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        splits = list(cv.split(fit_on.X, fit_on.label, groups=fit_on.track_id))
        for C in Cs:
            results = [scores(fit(fit_on.subset(a), C)[1], fit_on.subset(b))
                       for a, b in splits]
            validation[C] = {k: float(np.mean([r[k] for r in results]))
                             for k in ("track_accuracy", "segment_accuracy")}
        best = max(Cs, key=lambda C: (validation[C]["track_accuracy"],
                                      validation[C]["segment_accuracy"], -C))
    else:
        best = max(Cs)
    pipeline, probe = fit(fit_on, best)
    result = scores(probe, test) if len(test) else {}
    return ProbeRun(probe=probe, pipeline=pipeline, C=best, validation=validation,
                    result=result)


# ------------------------------------------------------------------------------ tagging

def segment_tags(model: nn.Module, y: np.ndarray) -> np.ndarray:
    """``(segments, 50)`` tag probabilities (a taggram) of a mono 16-kHz signal, one row per
    one-patch segment. Notebook: 09."""
    segments = audio.segment(y, sr=musicnn.SR, seconds=SEGMENT_SECONDS)
    return embed_segments(model, segments, ("taggram",))["taggram"]


def tag_file(path, model: nn.Module, *, top: int = 5) -> list[tuple[str, float]]:
    """musicnn's tagger on a file of any length: the ``top`` tags of the mean taggram of
    its segments, with their mean probabilities, streamed (memory stays flat).

    Raises:
        AudioError, FileNotFoundError: as :func:`genre_lab.audio.stream_segments` (which
            refuses NaN, infinite and absurdly loud samples); AudioError too for a silent
            file, or should a probability not be finite (never returned).
    """
    total, count, peak = 0.0, 0, 0.0
    for batch in audio.stream_segments(path, sr=musicnn.SR, seconds=SEGMENT_SECONDS):
        peak = max(peak, float(np.abs(batch).max()))
        total = total + embed_segments(model, batch, ("taggram",))["taggram"].sum(axis=0)
        count += len(batch)
    if peak < audio.SILENCE_PEAK:  # as predict and `genre-lab check` say
        raise audio.AudioError(path, "no signal: the audio is silent (after mixing the "
                                     "channels to mono)")
    mean = total / count
    if not np.isfinite(mean).all():
        raise audio.AudioError(path, "the tagger gave NaN or infinite probabilities")
    order = np.argsort(mean)[::-1][:top]
    return [(model.tags[i], float(mean[i])) for i in order]
