"""Networks on MFCC sequences, input ``(batch, n_mfcc, n_frames)``.

Notebook: 05-sequence-models.
"""

from __future__ import annotations

from torch import nn


class LSTMClassifier(nn.Module):
    """A two-layer LSTM over MFCC frames; the last hidden state goes to a linear layer.

    Miri, Enriquez & Donohue trained an LSTM on MFCCs of 3-second slices (~55% dev accuracy,
    against ~75% for a CNN on the same input); Wei, Chen & Lu's MFCC LSTM reached 0.42.
    """

    def __init__(self, input_shape, n_classes: int = 10, hidden: int = 64, layers: int = 2,
                 dropout: float = 0.3):
        super().__init__()
        self.lstm = nn.LSTM(input_shape[0], hidden, num_layers=layers, batch_first=True,
                            dropout=dropout)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))

    def forward(self, x):
        out, _ = self.lstm(x.transpose(1, 2))
        return self.head(out[:, -1])


def conv1d_block(c_in: int, c_out: int, kernel: int = 5):
    """Conv1d over time, batch norm, ReLU, halve the time axis."""
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2),
                         nn.BatchNorm1d(c_out), nn.ReLU(), nn.MaxPool1d(2))


class CNN1D(nn.Module):
    """1-D convolutions over time with the MFCCs as channels, then global average pooling.

    The CNN of Miri, Enriquez & Donohue's comparison on the same MFCC input as the LSTM.
    """

    def __init__(self, input_shape, n_classes: int = 10, widths=(64, 64, 128),
                 dropout: float = 0.3):
        super().__init__()
        blocks, c_in = [], input_shape[0]
        for width in widths:
            blocks.append(conv1d_block(c_in, width))
            c_in = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(c_in, n_classes))

    def forward(self, x):
        return self.head(self.features(x))


class CRNN(nn.Module):
    """Convolutional front end (local patterns, time downsampled 4x) then a GRU (long-range
    order): the hybrid of Choi et al. (2017), here on MFCCs."""

    def __init__(self, input_shape, n_classes: int = 10, width: int = 64, hidden: int = 64,
                 dropout: float = 0.3):
        super().__init__()
        self.features = nn.Sequential(conv1d_block(input_shape[0], width),
                                      conv1d_block(width, width))
        self.gru = nn.GRU(width, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))

    def forward(self, x):
        out, _ = self.gru(self.features(x).transpose(1, 2))
        return self.head(out[:, -1])
