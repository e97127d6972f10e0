"""The chapter explorers' callbacks, driven without a browser."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from genre_lab import widgets  # noqa: E402
from genre_lab.data import gtzan  # noqa: E402


def test_zcr_explorer_callback(make_gtzan):
    tracks = gtzan.track_table(make_gtzan(clips=2))
    explorer = widgets.zcr_explorer(tracks)
    first = explorer.result  # drawn once on creation
    assert first["path"].endswith("blues.00000.wav")

    result = explorer.update(genre="rock", clip=1, frame_length=1024, hop_length=256)
    assert result["path"].endswith("rock.00001.wav")
    n_samples = 4 * 22050
    assert len(result["zcr"]) == 1 + n_samples // 256
    assert np.all((result["zcr"] >= 0) & (result["zcr"] <= 1))

    # changing a control runs the callback, as a click in JupyterLab does
    explorer.controls["hop_length"].value = 1024
    assert len(explorer.result["zcr"]) == 1 + n_samples // 1024
    assert explorer.values["genre"] == "blues"
