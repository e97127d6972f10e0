"""Networks on log-mel spectrogram patches, input ``(batch, n_mels, n_frames)``.

Notebook: 04-spectrogram-cnns (all), 06-augmentation (Cheng et al. with a frequency channel),
07-compression.
"""

from __future__ import annotations

import torch
from torch import nn


def _flat_size(features: nn.Module, input_shape) -> int:
    with torch.no_grad():
        return features(torch.zeros(1, 1, *input_shape)).numel()


class PixelMLP(nn.Module):
    """A 5-layer perceptron on the flattened spectrogram pixels.

    Miri, Enriquez & Donohue (CS230 report, 2018) tried this first on grayscale
    spectrogram images: it reached ~90% training and ~45% development accuracy, which is the
    lesson: pixels without convolution overfit.
    """

    def __init__(self, input_shape, n_classes: int = 10, hidden=(512, 256, 128, 64),
                 dropout: float = 0.3):
        super().__init__()
        layers, width = [nn.Flatten()], int(torch.tensor(input_shape).prod())
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class LeNet5(nn.Module):
    """LeNet-5 style: two small conv + average-pool stages, then 120-84-classes.

    Garcia Martin's blog post (2019): 95% training but 78% test accuracy on GTZAN
    mel spectrograms, i.e. it overfits.

    Args:
        frequency_channel: add a frequency-coordinate input channel (see FrequencyChannel).
    """

    def __init__(self, input_shape, n_classes: int = 10, frequency_channel: bool = False):
        super().__init__()
        self.coord = FrequencyChannel() if frequency_channel else nn.Identity()
        self.features = nn.Sequential(
            nn.Conv2d(2 if frequency_channel else 1, 8, 3), nn.ReLU(), nn.AvgPool2d(2),
            nn.Dropout(0.2),
            nn.Conv2d(8, 32, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Dropout(0.2),
        )
        flat = _flat_size(nn.Sequential(self.coord, self.features), input_shape)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 120), nn.ReLU(),
            nn.Dropout(0.3), nn.Linear(120, 84), nn.ReLU(), nn.Dropout(0.4),
            nn.Linear(84, n_classes),
        )

    def forward(self, x):
        return self.head(self.features(self.coord(x.unsqueeze(1))))


class CNN64(nn.Module):
    """Four blocks of 64 3x3 filters, 2x2 max pooling and dropout, then one dense layer.

    Garcia Martin's "CNN-64": 0.876 test accuracy on GTZAN 3-second mel patches, with no sign of
    overfitting (train 0.873).
    """

    def __init__(self, input_shape, n_classes: int = 10, n_filters: int = 64):
        super().__init__()
        blocks, channels = [], 1
        for dropout in (0.2, 0.2, 0.2, 0.3):
            blocks += [nn.Conv2d(channels, n_filters, 3), nn.ReLU(), nn.MaxPool2d(2),
                       nn.Dropout(dropout)]
            channels = n_filters
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(),
                                  nn.Linear(_flat_size(self.features, input_shape), n_classes))

    def forward(self, x):
        return self.head(self.features(x.unsqueeze(1)))


class FrequencyChannel(nn.Module):
    """Append a channel holding each row's frequency position in [-1, 1] (CoordConv-style),
    so convolutions can tell a low note from a high one (Kiefer, Li & Mak's positional idea)."""

    def forward(self, x):
        b, _, f, t = x.shape
        coord = torch.linspace(-1.0, 1.0, f, device=x.device, dtype=x.dtype)
        return torch.cat([x, coord.view(1, 1, f, 1).expand(b, 1, f, t)], dim=1)


class Cheng2020(nn.Module):
    """The 5-conv baseline of Cheng, Chang & Kuo (IS3C 2020): 3x3 convolutions with
    128-64-32-16-8 filters, each followed by ReLU, 2x2 max pooling and dropout 0.5, then one
    dense layer.

    Kiefer, Li & Mak used it as their baseline: 47% after 10 epochs, where the
    paper reports 83.3% after 100 epochs with majority voting.

    Args:
        frequency_channel: add a frequency-coordinate input channel (see FrequencyChannel).
    """

    def __init__(self, input_shape, n_classes: int = 10, dropout: float = 0.5,
                 frequency_channel: bool = False, widths=(128, 64, 32, 16, 8)):
        super().__init__()
        self.coord = FrequencyChannel() if frequency_channel else nn.Identity()
        blocks, channels = [], 2 if frequency_channel else 1
        for width in widths:
            # pooling before the ReLU gives the same output (ReLU is monotonic) on a
            # quarter of the values: 10% faster training on CPU
            blocks += [nn.Conv2d(channels, width, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                       nn.Dropout(dropout)]
            channels = width
        self.features = nn.Sequential(*blocks)
        flat = _flat_size(nn.Sequential(self.coord, self.features), input_shape)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, n_classes))

    def forward(self, x):
        return self.head(self.features(self.coord(x.unsqueeze(1))))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1) shortcut.

    Args:
        inner: channels between the two convolutions (default ``c_out``; fewer after
            ``genre_lab.compress.shrink``).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, inner: int | None = None):
        super().__init__()
        inner = c_out if inner is None else inner
        self.body = nn.Sequential(
            nn.Conv2d(c_in, inner, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(inner), nn.ReLU(),
            nn.Conv2d(inner, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet-18 (He et al. 2016): four stages of two basic blocks, global average
    pooling. Widths default to a quarter of ResNet-18's (16-128 instead of 64-512) so it
    trains on a CPU.

    Wei, Chen & Lu reached 0.84 with an ImageNet-pretrained ResNet18 on mel images;
    Kiefer, Li & Mak got 16% training one from scratch for 10 epochs.

    Args:
        widths: output channels of the four stages.
        inner_widths: channels inside each of the eight blocks (between its two
            convolutions); default: the block's own width. ``genre_lab.compress.shrink``
            narrows them, and :meth:`shape_options` reports them so the model can be rebuilt.
    """

    def __init__(self, input_shape, n_classes: int = 10, widths=(16, 32, 64, 128),
                 inner_widths=None):
        super().__init__()
        n_blocks = 2 * len(widths)
        if inner_widths is not None and len(inner_widths) != n_blocks:
            raise ValueError(f"inner_widths needs {n_blocks} values (two blocks per stage), "
                             f"got {len(inner_widths)}")
        inner = list(inner_widths) if inner_widths is not None else [None] * n_blocks
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, c_in = [], widths[0]
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages += [BasicBlock(c_in, width, stride, inner[2 * i]),
                       BasicBlock(width, width, inner=inner[2 * i + 1])]
            c_in = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c_in, n_classes))

    def forward(self, x):
        return self.head(self.stages(self.stem(x.unsqueeze(1))))

    def shape_options(self, options: dict) -> dict:
        """``options`` with ``inner_widths`` as the blocks are now: present only when some
        block is narrower (or wider) than its stage, so an unshrunk model's spec is unchanged.
        """
        options = {k: v for k, v in options.items() if k != "inner_widths"}
        blocks = [b for b in self.stages if isinstance(b, BasicBlock)]
        inner = [b.body[0].out_channels for b in blocks]
        if inner != [b.body[3].out_channels for b in blocks]:
            options["inner_widths"] = inner
        return options
