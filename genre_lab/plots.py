"""Every figure the chapters draw. Each helper takes ``ax=None`` (or ``axes``), draws, and
returns what it drew, so a chapter can compose figures (the libfmp habit).

Notebook: every chapter.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import GENRES
from .config import FEATURES, SAMPLE_RATE


def _ax(ax, figsize=(8, 2.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def waveform(y, *, sr: int = SAMPLE_RATE, ax=None, title: str | None = None, color=None):
    """Waveform of a signal against time (``librosa.display.waveshow``).

    Notebook: 01-waveforms.
    """
    import librosa.display

    ax = _ax(ax)
    # waveshow redraws the whole figure (canvas.draw_idle, immediate on Agg and inline
    # canvases) to pick between envelope and samples: 10 panels cost seconds. Defer the draw
    # to when the figure is shown; zooming later still switches between the two.
    canvas = ax.figure.canvas
    canvas.draw_idle = lambda *args, **kwargs: None  # shadows the method on this canvas only
    try:
        librosa.display.waveshow(y=np.asarray(y), sr=sr, ax=ax, axis="time", color=color)
    finally:
        del canvas.draw_idle
    ax.set(title=title, ylabel="amplitude")
    ax.label_outer()
    return ax


def waveforms_by_genre(clips: dict, *, sr: int = SAMPLE_RATE, axes=None, seconds: float = 3.0):
    """One waveform per genre (the first ``seconds`` of each), in a grid.

    Notebook: 01-waveforms.

    Args:
        clips: genre -> signal.
    """
    if axes is None:
        _, axes = plt.subplots(len(clips) // 2 + len(clips) % 2, 2, figsize=(11, 1.6 * len(clips)),
                               sharex=True, sharey=True, layout="constrained")
    axes = np.ravel(axes)
    for ax, (genre, y) in zip(axes, clips.items(), strict=False):
        waveform(y[: int(seconds * sr)], sr=sr, ax=ax, title=genre)
    for ax in axes[len(clips):]:
        ax.set_visible(False)
    return axes


def frame_feature(values, *, sr: int = SAMPLE_RATE, hop_length: int = FEATURES.hop_length, ax=None,
                  label: str | None = None, **kwargs):
    """A frame-wise feature (ZCR, RMS, ...) against time in seconds.

    Notebook: 01-waveforms.
    """
    import librosa

    ax = _ax(ax)
    t = librosa.frames_to_time(frames=np.arange(len(values)), sr=sr, hop_length=hop_length)
    ax.plot(t, values, label=label, **kwargs)
    ax.set(xlabel="time (s)", xlim=(0, t[-1] if len(t) else 1))
    return ax


def genre_distribution(table, column: str, *, ax=None, order=GENRES, ylabel: str | None = None):
    """Box plot of one per-clip statistic per genre (seaborn), genres in GTZAN order.

    Notebook: 01-waveforms, 03-classical-baselines.
    """
    import seaborn as sns

    ax = _ax(ax, figsize=(9, 3))
    order = [g for g in order if g in set(table["genre"])]
    sns.boxplot(data=table, x="genre", y=column, order=order, hue="genre", hue_order=order,
                ax=ax, palette="tab10", legend=False)
    ax.set(xlabel="", ylabel=ylabel or column)
    ax.tick_params(axis="x", rotation=30)
    return ax


def spectrogram(S_db, *, sr: int = SAMPLE_RATE, hop_length: int = FEATURES.hop_length,
                y_axis: str = "linear", ax=None, title: str | None = None,
                colorbar: bool = True, **kwargs):
    """A spectrogram in dB (``librosa.display.specshow``); ``y_axis`` "linear", "log", "mel",
    "chroma" or None (rows as numbers, e.g. MFCCs).

    Notebook: 02-spectrograms onwards.
    """
    import librosa.display

    ax = _ax(ax, figsize=(8, 3))
    img = librosa.display.specshow(data=S_db, sr=sr, hop_length=hop_length, x_axis="time",
                                   y_axis=y_axis, ax=ax, **kwargs)
    if colorbar:
        ax.figure.colorbar(img, ax=ax, format="%+2.0f" if y_axis != "chroma" else None)
    ax.set(title=title)
    return ax


def spectrograms_by_genre(images: dict, *, sr: int = SAMPLE_RATE,
                          hop_length: int = FEATURES.hop_length, y_axis: str = "mel",
                          axes=None, **kwargs):
    """One spectrogram per genre side by side, on a shared colour scale and colour map.

    Notebook: 02-spectrograms.

    Args:
        images: genre -> 2-D array in dB.
    """
    if axes is None:
        rows = (len(images) + 1) // 2
        _, axes = plt.subplots(rows, 2, figsize=(11, 2.0 * rows), sharex=True, sharey=True,
                               layout="constrained")
    import librosa.display

    axes = np.ravel(axes)
    vmin = min(np.min(v) for v in images.values())
    vmax = max(np.max(v) for v in images.values())
    # one colour map for all panels (specshow would choose per image, by the sign of its values)
    kwargs.setdefault("cmap", librosa.display.cmap(np.concatenate([np.ravel(v) for v in
                                                                   images.values()])))
    for ax, (genre, S) in zip(axes, images.items(), strict=False):
        spectrogram(S, sr=sr, hop_length=hop_length, y_axis=y_axis, ax=ax, title=genre,
                    colorbar=False, vmin=vmin, vmax=vmax, **kwargs)
        ax.label_outer()
    for ax in axes[len(images):]:
        ax.set_visible(False)
    return axes


def filterbank(fb, *, sr: int = SAMPLE_RATE, ax=None, title: str | None = None):
    """Mel filters (rows of ``fb``) against frequency in Hz.

    Notebook: 02-spectrograms.
    """
    ax = _ax(ax, figsize=(8, 2.5))
    freqs = np.linspace(0, sr / 2, fb.shape[1])
    ax.plot(freqs, fb.T, lw=0.8)
    ax.set(xlabel="frequency (Hz)", ylabel="weight", title=title)
    return ax


def confusion(matrix, labels=GENRES, *, ax=None, normalize: bool = True, title=None):
    """Confusion matrix as a seaborn heatmap; rows are true genres. ``normalize`` shows each
    row as fractions of that genre's items.

    Notebook: 03-classical-baselines onwards.
    """
    import seaborn as sns

    m = np.asarray(matrix, dtype=float)
    if normalize:
        m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    ax = _ax(ax, figsize=(5.5, 4.5))
    sns.heatmap(m, annot=True, fmt=".2f" if normalize else ".0f", cmap="Blues", vmin=0,
                vmax=1 if normalize else None, xticklabels=labels, yticklabels=labels,
                cbar=False, ax=ax, annot_kws={"size": 7})
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return ax


def history(hist, *, axes=None, label: str | None = None, color=None):
    """Training curves: loss and accuracy per epoch, training (dashed) and validation (solid).

    Notebook: 04-spectrogram-cnns onwards.

    Args:
        hist: a :class:`genre_lab.train.History`.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3), layout="constrained")
    epochs = np.arange(1, len(hist.train_loss) + 1)
    for ax, train, val, name in [(axes[0], hist.train_loss, hist.val_loss, "loss"),
                                 (axes[1], hist.train_accuracy, hist.val_accuracy, "accuracy")]:
        line, = ax.plot(epochs, train, ls="--", color=color)
        if len(val):
            ax.plot(epochs, val, color=line.get_color(), label=label)
        ax.set(xlabel="epoch", ylabel=name)
    axes[1].set(ylim=(0, 1.02))
    if label:
        axes[1].legend(fontsize=8)
    return axes


def taggram(probabilities, tags, *, seconds_per_row: float, top: int = 12, ax=None,
            title: str | None = None):
    """A taggram: the probability of each tag (rows) in each segment (columns), for the
    ``top`` tags by mean probability, most likely on top.

    Notebook: 09-transfer-and-tagging.

    Args:
        probabilities: (n_segments, n_tags) tag probabilities.
        tags: the tag names, one per column of ``probabilities``.
        seconds_per_row: length of one segment (the time axis is in seconds).
    """
    p = np.asarray(probabilities, dtype=float)
    order = np.argsort(p.mean(axis=0))[::-1][:top]
    ax = _ax(ax, figsize=(8, 0.22 * len(order) + 0.9))
    image = ax.imshow(p[:, order].T, aspect="auto", cmap="magma", vmin=0, vmax=1,
                      interpolation="nearest",
                      extent=(0, len(p) * seconds_per_row, len(order) - 0.5, -0.5))
    ax.set_yticks(range(len(order)), [tags[i] for i in order], fontsize=8)
    ax.set(xlabel="time (s)", title=title)
    plt.colorbar(image, ax=ax, pad=0.01, label="probability")
    return ax
