"""Augmentations applied to training batches: SpecAugment masks and mixup.

Notebook: 06-augmentation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


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
