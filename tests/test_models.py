"""Every model of the catalogue builds by name, runs, and names its inputs."""

from __future__ import annotations

import pytest
import torch

from genre_lab import catalog, models


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_every_model_builds_and_runs(name):
    shapes = {"logmel": (64, 65), "mfcc": (20, 65)}  # the quick profile's
    kinds = catalog.input_kinds(name)
    model = models.build(name, [shapes[k] for k in kinds]).eval()
    out = model(*(torch.randn(2, *shapes[k]) for k in kinds))
    assert out.shape == (2, 10)
    assert models.count_parameters(model) > 1000
    assert models.build(name, [shapes[k] for k in kinds]).spec()["name"] == name


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'vgg'.*cnn64"):
        models.build("vgg", [(10, 10)])
