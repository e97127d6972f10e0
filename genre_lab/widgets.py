"""ipywidgets explorers for the chapters.

Each explorer is controls plus a drawing callback. ``explorer.update(**values)`` is the
callback the widgets call; it returns (and keeps in ``.result``) what it computed, so a unit
test can drive it without a browser.

An explorer draws on a ``matplotlib.figure.Figure`` of its own, never a pyplot figure, and
displays it in its output widget itself. JupyterLab sends widget messages to a kernel
subshell (its ``commsOverSubshells`` setting; ipykernel 7 runs a subshell in a thread of its
own), so two widget messages can run at once, and each ends with matplotlib-inline's
``flush_figures``, which shows and closes every open pyplot figure. With pyplot, one
message's flush showed another's half-drawn figure in JupyterLab's log console while that
message's own display came out blank.

Notebook: 01-waveforms (ZCR explorer), 02-spectrograms (spectrogram explorer),
06-augmentation (augmentation explorer).
"""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
from IPython.core.pylabtools import print_figure
from IPython.display import display
from matplotlib.figure import Figure

from . import GENRES, audio, config, features, plots
from .config import SAMPLE_RATE, FeatureSettings


def _png(figure: Figure) -> str:
    # A figure as IPython's inline display would send it: a base64 PNG, cropped tight.
    return print_figure(figure, "png", base64=True)


class Explorer:
    """Widgets that redraw a figure whenever a control changes.

    Displayed, an explorer is its live widgets plus a PNG of its current figure, for where
    widgets do not run (the built book ranks the picture first, see book/_config.yml).

    Args:
        draw: ``draw(**values) -> dict``; draws one ``matplotlib.figure.Figure`` (made with
            ``Figure(...)``, not pyplot) and returns it as ``"figure"`` with what it computed.
        controls: name -> ipywidgets control; names are ``draw``'s keyword arguments.
    """

    def __init__(self, draw, controls: dict):
        self.controls = controls
        self._draw = draw
        self.result = None
        self.output = widgets.interactive_output(self._show, controls)
        self.widget = widgets.VBox([widgets.HBox(list(controls.values())), self.output])

    @property
    def values(self) -> dict:
        """The controls' current values."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self, **values):
        """Redraw for these control values; returns (and keeps in ``.result``) the result."""
        result = self._draw(**values)
        figure = result.get("figure") if isinstance(result, dict) else None
        if not isinstance(figure, Figure):
            raise TypeError("an explorer's draw() must return a dict with a "
                            "matplotlib.figure.Figure under 'figure'")
        if figure.canvas.manager is not None:
            raise ValueError("an explorer's draw() must make its figure with "
                             "matplotlib.figure.Figure, not pyplot: the inline backend shows "
                             "and closes pyplot figures from other threads")
        self.result = result
        return result

    def _show(self, **values):
        # The widgets' callback, run inside self.output.
        figure = self.update(**values)["figure"]
        display({"image/png": _png(figure), "text/plain": repr(figure)}, raw=True)

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["image/png"] = _png(self.result["figure"])
        return bundle


def zcr_explorer(tracks, *, sr: int = SAMPLE_RATE) -> Explorer:
    """Pick a genre, a clip, a frame length and a hop; see the waveform, ZCR and RMS.

    Notebook: 01-waveforms.

    Args:
        tracks: a track table (``genre_lab.data.load_tracks()``).
    """
    by_genre = {g: list(rows.path) for g, rows in tracks.groupby("genre")}
    genres = [g for g in GENRES if g in by_genre]
    load = lru_cache(maxsize=16)(lambda path: audio.load(path, sr=sr))

    def draw(genre, clip, frame_length, hop_length):
        paths = by_genre[genre]
        path = paths[min(clip, len(paths) - 1)]
        y = load(path)
        zcr = features.zero_crossing_rate(y, frame_length=frame_length, hop_length=hop_length)
        energy = features.rms(y, frame_length=frame_length, hop_length=hop_length)
        fig = Figure(figsize=(9, 5), layout="constrained")
        ax_wave, ax_zcr, ax_rms = fig.subplots(3, 1, sharex=True)
        plots.waveform(y, sr=sr, ax=ax_wave, title=f"{genre}: {path.rsplit('/', 1)[-1]}")
        plots.frame_feature(zcr, sr=sr, hop_length=hop_length, ax=ax_zcr, color="C1")
        ax_zcr.set(ylabel="ZCR")
        plots.frame_feature(energy, sr=sr, hop_length=hop_length, ax=ax_rms, color="C2")
        ax_rms.set(ylabel="RMS")
        return dict(figure=fig, path=path, zcr=zcr, rms=energy)

    n_max = max(len(p) for p in by_genre.values()) - 1
    controls = dict(
        genre=widgets.Dropdown(options=genres, value=genres[0], description="genre"),
        clip=widgets.IntSlider(value=0, min=0, max=n_max, description="clip"),
        frame_length=widgets.Dropdown(options=[256, 512, 1024, 2048, 4096], value=2048,
                                      description="frame"),
        hop_length=widgets.Dropdown(options=[128, 256, 512, 1024], value=512,
                                    description="hop"),
    )
    return Explorer(draw, controls)


def spectrogram_explorer(signals: dict, *, sr: int = SAMPLE_RATE) -> Explorer:
    """Pick a signal, n_fft, hop, n_mels and window; see its STFT and log-mel spectrogram.

    Notebook: 02-spectrograms.

    Args:
        signals: name -> 1-D signal (e.g. one clip per genre).
    """
    names = list(signals)

    def draw(name, n_fft, hop_length, n_mels, window):
        y = signals[name]
        S = features.stft_db(y, n_fft=n_fft, hop_length=hop_length, window=window)
        M = features.log_mel(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
                             window=window)
        fig = Figure(figsize=(11, 3.2), layout="constrained")
        ax_stft, ax_mel = fig.subplots(1, 2)
        plots.spectrogram(S, sr=sr, hop_length=hop_length, y_axis="log", ax=ax_stft,
                          title=f"STFT: {n_fft}-sample {window} window, hop {hop_length}")
        plots.spectrogram(M, sr=sr, hop_length=hop_length, y_axis="mel", ax=ax_mel,
                          title=f"log-mel, {n_mels} bands")
        return dict(figure=fig, stft_shape=S.shape, mel_shape=M.shape)

    controls = dict(
        name=widgets.Dropdown(options=names, value=names[0], description="signal"),
        n_fft=widgets.Dropdown(options=[256, 512, 1024, 2048, 4096], value=2048,
                               description="n_fft"),
        hop_length=widgets.Dropdown(options=[128, 256, 512, 1024], value=512,
                                    description="hop"),
        n_mels=widgets.Dropdown(options=[16, 32, 64, 128], value=128, description="n_mels"),
        window=widgets.Dropdown(options=["hann", "hamming", "blackman", "boxcar"],
                                value="hann", description="window"),
    )
    return Explorer(draw, controls)


def augmentation_explorer(y, settings: FeatureSettings | None = None, *,
                          audio_player: bool = True) -> Explorer:
    """Pick an augmentation and its strength; see the log-mel spectrogram of a clip before
    and after, and hear the result.

    Notebook: 06-augmentation.

    The strength slider runs from 0 (off) to 1 (the strongest setting, see ``STRENGTHS``:
    40 dB to 0 dB SNR, 0 to +6 semitones, rate 1 to 2, 0 to -24 dB, 0 to 1.5 s, masks
    of 0 to half the rows and frames).

    Args:
        y: a mono signal (its first segment is used).
        settings: the features shown (a Dataset's ``settings``; default: the profile's).
        audio_player: also display an ``IPython.display.Audio`` player of the result.

    Returns:
        A ``widgets.Explorer``; its callback returns the figure, the augmented signal and
        spectrogram, and the text describing the setting.
    """
    import numpy as np
    import torch

    from .augment import STRENGTHS, SpecAugment, at_strength
    from .features.segments import signal_features

    settings = settings or config.get_profile().features
    sr, hop_length = settings.sample_rate, settings.hop_length
    clip = audio.fix_length(np.asarray(y, dtype=np.float32), settings.segment_samples)
    before = signal_features(clip, settings)["logmel"][0]

    def draw(augmentation, strength, seed):
        transform, text = at_strength(augmentation, strength, before.shape)
        if isinstance(transform, SpecAugment):  # acts on the spectrogram itself
            z = clip
            generator = torch.Generator().manual_seed(seed)
            after = transform([torch.from_numpy(before[None])], generator)[0][0].numpy()
        else:
            z = transform(clip, np.random.default_rng(seed))
            after = signal_features(z, settings)["logmel"][0]
        fig = Figure(figsize=(11, 3), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        vmin, vmax = float(min(before.min(), after.min())), float(max(before.max(), after.max()))
        plots.spectrogram(before, sr=sr, hop_length=hop_length, y_axis="mel", ax=axes[0],
                          title="original", colorbar=False, vmin=vmin, vmax=vmax)
        plots.spectrogram(after, sr=sr, hop_length=hop_length, y_axis="mel", ax=axes[1],
                          title=f"{augmentation}: {text}", vmin=vmin, vmax=vmax)
        axes[1].set(ylabel=None)
        player = None
        if audio_player:
            from IPython.display import Audio, display

            player = Audio(data=np.clip(z, -1, 1), rate=sr, normalize=False)  # level audible
            display(player)
        return dict(figure=fig, signal=z, logmel=after, setting=text, audio=player)

    controls = dict(
        augmentation=widgets.Dropdown(options=list(STRENGTHS), value="pitch shift",
                                         description="augment"),
        strength=widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                        description="strength"),
        seed=widgets.IntSlider(value=0, min=0, max=9, description="seed"),
    )
    return Explorer(draw, controls)
