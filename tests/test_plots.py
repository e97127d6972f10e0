"""Plot helpers: properties a reader relies on when comparing panels."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

from genre_lab import plots


def test_spectrograms_by_genre_share_one_colour_map_and_scale():
    # one image entirely below 0 dB, one crossing 0 dB: specshow alone picks magma for the
    # first and coolwarm for the second, so the two panels would not be comparable
    rng = np.random.default_rng(0)
    images = {"quiet": -80 + 10 * rng.random((16, 20)), "loud": -40 + 60 * rng.random((16, 20))}
    axes = plots.spectrograms_by_genre(images)
    meshes = [ax.collections[0] for ax in axes if ax.get_visible()]
    assert len({m.get_cmap().name for m in meshes}) == 1
    assert len({m.get_clim() for m in meshes}) == 1
    matplotlib.pyplot.close("all")
