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
from .batch import SpecAugment, mixup
from .copies import augmented_dataset, augmented_segments, fewer_training_tracks
from .strengths import STRENGTHS, at_strength
from .waveform import (
                       Compose,
                       Gain,
                       GaussianNoise,
                       Identity,
                       PitchShift,
                       RandomCrop,
                       TimeShift,
                       TimeStretch,
                       Transform,
)

__all__ = ["STRENGTHS", "Compose", "Gain", "GaussianNoise", "Identity", "PitchShift",
           "RandomCrop", "SpecAugment", "TimeShift", "TimeStretch", "Transform",
           "at_strength", "augmented_dataset", "augmented_segments",
           "fewer_training_tracks", "mixup"]
