"""genre_lab.data.example_recording: librosa's example recordings, quietly, or None."""

from __future__ import annotations

import logging
import os

import librosa
import numpy as np
import pooch
import pytest
import requests

from conftest import shared, write_tone
from genre_lab.data import example_recording


def _fake_ex(result):
    """A stand-in for ``librosa.ex`` that logs pooch's download notice, then returns
    ``result`` (a path) or raises it (an exception)."""

    def ex(name):
        pooch.get_logger().info("Downloading file '%s.ogg' from 'https://...' to '/x'.", name)
        if isinstance(result, Exception):
            raise result
        return str(result)

    return ex


@pytest.mark.parametrize("offline", [False, True])
def test_example_recording_is_quiet_and_leaves_pooch_logger_as_it_was(offline, tmp_path,
                                                                      monkeypatch, capfd):
    path = write_tone(tmp_path / "tone.wav", seconds=2.0)
    result = requests.exceptions.ConnectionError("no network") if offline else path
    monkeypatch.setattr(librosa, "ex", _fake_ex(result))
    logger = pooch.get_logger()
    before = logger.level
    try:
        logger.setLevel(logging.INFO)  # the notice prints at this level (pooch's default: all)
        y = example_recording("nutcracker", seconds=1.0)
        assert logger.level == logging.INFO and not logger.filters  # as before
        assert logger.isEnabledFor(logging.INFO)  # pooch's own notices still print later
    finally:
        logger.setLevel(before)
    assert "Downloading" not in capfd.readouterr().err
    if offline:
        assert y is None
    else:
        assert y.dtype == np.float32 and len(y) == 22050
        assert len(example_recording("brahms", seconds=1.0, sr=16000)) == 16000  # musicnn's


def test_example_recording_reads_librosa_data_dir():
    folder = shared("librosa")
    if os.path.realpath(os.environ.get("LIBROSA_DATA_DIR", "")) != os.path.realpath(folder):
        pytest.skip("LIBROSA_DATA_DIR does not point at the shared copy (make and CI set it)")
    y = example_recording("choice", seconds=2.5)
    assert y.shape == (int(2.5 * 22050),) and np.isfinite(y).all() and np.abs(y).max() > 0.01
