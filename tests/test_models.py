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


@pytest.mark.parametrize("name", ["lenet5", "cheng"])
def test_frequency_channel_tells_rows_apart_and_leaves_the_plain_model_as_it_was(name):
    shape = (64, 65)
    plain = models.build(name, [shape])
    aware = models.build(name, [shape], frequency_channel=True)
    # the plain model keeps its weights' names (old checkpoints load); one more input channel
    assert list(plain.state_dict()) == list(aware.state_dict())
    first = [m for m in aware.modules() if isinstance(m, torch.nn.Conv2d)][0]
    assert first.in_channels == 2
    # the channel is each row's place on the frequency axis, -1 (lowest band) to +1
    coord = models.cnn.FrequencyChannel()(torch.zeros(1, 1, *shape))[0, 1]
    assert torch.equal(coord[:, 0], torch.linspace(-1, 1, shape[0]))
    assert torch.equal(coord, coord[:, :1].expand(shape))
    assert aware.eval()(torch.randn(3, *shape)).shape == (3, 10)
