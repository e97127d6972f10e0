"""The course's models, by name.

Torch models take the arrays of :class:`genre_lab.features.segments.Segments` as they are:
log-mel patches ``(batch, n_mels, frames)`` or MFCC sequences ``(batch, n_mfcc, frames)``.
:func:`build` wraps a network in a :class:`Classifier` that standardises each input with
statistics fitted on the training split, so a saved model carries its own normalisation.

Notebook: 04-spectrogram-cnns, 05-sequence-models, 06-augmentation, 07-compression.
"""

from __future__ import annotations

import torch
from torch import nn

from ..catalog import INPUT_KINDS, MODEL_NAMES
from .cnn import CNN64, Cheng2020, LeNet5, PixelMLP, ResNet
from .fusion import Fusion
from .rnn import CNN1D, CRNN, LSTMClassifier

_CLASSES = {"mlp": PixelMLP, "lenet5": LeNet5, "cnn64": CNN64, "cheng": Cheng2020,
            "resnet": ResNet, "lstm": LSTMClassifier, "cnn1d": CNN1D, "crnn": CRNN,
            "fusion": Fusion}
#: name -> (network class, the segment kinds it reads, in order)
REGISTRY = {name: (_CLASSES[name], kinds) for name, kinds in INPUT_KINDS.items()}


class Standardize(nn.Module):
    """Subtract a per-row mean and divide by a per-row std (one row = one mel band or one
    MFCC coefficient), with statistics fitted on training data only."""

    def __init__(self, n_rows: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_rows, 1))
        self.register_buffer("std", torch.ones(n_rows, 1))

    @torch.no_grad()
    def fit(self, x):
        """Fit on a training array ``(n, rows, frames)``."""
        x = torch.as_tensor(x, dtype=torch.float32)
        self.mean.copy_(x.mean(dim=(0, 2)).unsqueeze(1))
        self.std.copy_(x.std(dim=(0, 2)).clamp_min(1e-6).unsqueeze(1))
        return self

    def forward(self, x):
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """A network with its input standardisation and the facts needed to rebuild it."""

    def __init__(self, name: str, input_shapes, n_classes: int = 10, **options):
        super().__init__()
        if name not in REGISTRY:
            raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}")
        cls, kinds = REGISTRY[name]
        input_shapes = [tuple(s) for s in input_shapes]
        if len(input_shapes) != len(kinds):
            raise ValueError(f"{name} reads {len(kinds)} input(s) ({', '.join(kinds)}), "
                             f"got {len(input_shapes)} shape(s)")
        self.name, self.kinds, self.input_shapes = name, kinds, input_shapes
        self.n_classes, self._options = n_classes, options
        self.norms = nn.ModuleList(Standardize(s[0]) for s in input_shapes)
        arg = input_shapes if len(input_shapes) > 1 else input_shapes[0]
        self.net = cls(arg, n_classes=n_classes, **options)

    def fit_normalization(self, inputs):
        """Fit each input's standardisation on the training arrays."""
        for norm, x in zip(self.norms, inputs, strict=True):
            norm.fit(x)
        return self

    def forward(self, *inputs):
        return self.net(*(norm(x) for norm, x in zip(self.norms, inputs, strict=True)))

    @property
    def options(self) -> dict:
        """The network's options as it is now (a shrunk ResNet reports its inner widths)."""
        shape_options = getattr(self.net, "shape_options", None)
        return shape_options(self._options) if shape_options else dict(self._options)

    def spec(self) -> dict:
        """What :func:`build` needs to rebuild this model as it is now (saved in checkpoints):
        ``build(**model.spec())`` gives a model with the same layer shapes."""
        return dict(name=self.name, input_shapes=[list(s) for s in self.input_shapes],
                    n_classes=self.n_classes, options=self.options)


def build(name: str, input_shapes, n_classes: int = 10, options: dict | None = None,
          **more) -> Classifier:
    """Build a model by name for inputs of the given shapes (one per kind it reads).

    Example: ``build("cheng", [(128, 130)])``, ``build("fusion", [(128, 130), (20, 130)])``;
    ``build(**model.spec())`` rebuilds a model's layers (options as a dict or as keywords).
    """
    return Classifier(name, input_shapes, n_classes, **(options or {}), **more)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["CNN1D", "CNN64", "CRNN", "Cheng2020", "Classifier", "Fusion", "LSTMClassifier",
           "LeNet5", "MODEL_NAMES", "PixelMLP", "REGISTRY", "ResNet", "Standardize", "build",
           "count_parameters"]
