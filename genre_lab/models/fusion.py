"""Two inputs, one decision: a CNN on the log-mel spectrogram and an LSTM on the MFCCs,
concatenated into a small MLP head.

Notebook: 05-sequence-models.
"""

from __future__ import annotations

import torch
from torch import nn

from .rnn import LSTMClassifier


class Fusion(nn.Module):
    """Wei, Chen & Lu's multimodal network (Rice report): image features from a CNN and
    sequence features from an LSTM, concatenated and classified by fully connected layers.

    Args:
        input_shapes: ``[(n_mels, frames), (n_mfcc, frames)]``.
    """

    def __init__(self, input_shapes, n_classes: int = 10, width: int = 32, hidden: int = 64,
                 dropout: float = 0.3):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.lstm = LSTMClassifier(input_shapes[1], hidden=hidden).lstm
        self.head = nn.Sequential(nn.Linear(2 * width + hidden, 64), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(64, n_classes))

    def forward(self, mel, mfcc):
        image = self.cnn(mel.unsqueeze(1))
        sequence, _ = self.lstm(mfcc.transpose(1, 2))
        return self.head(torch.cat([image, sequence[:, -1]], dim=1))
