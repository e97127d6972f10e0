"""Pretrained music networks, offline: the trained musicnn and VGG-like checkpoints that the
``musicnn`` wheel ships (Pons & Serra 2019; MagnaTagATune and Million Song Dataset, 50 tags
each; ISC licence), read without TensorFlow.

So far: finding a checkpoint in the installed wheel (:func:`checkpoint_prefix`) and reading
its tensors with every CRC32C verified (:func:`genre_lab.pretrained.bundle.read_bundle`);
the networks in PyTorch with those weights: :mod:`genre_lab.pretrained.musicnn`.
The wheel's metadata pins numpy < 1.17 and TensorFlow, neither of which the course needs, so
it is installed without its dependencies and never imported::

    pip install --no-deps musicnn==0.1.0

Notebook: 09 (pretrained networks and tagging).
"""

from __future__ import annotations

from pathlib import Path

from .bundle import BundleError, read_bundle

__all__ = ["CHECKPOINTS", "BundleError", "MissingWheelError", "checkpoint_prefix",
           "read_bundle"]

#: The four trained models in musicnn 0.1.0: the musicnn and VGG-like architectures, each
#: trained on MagnaTagATune (MTT) and on the Million Song Dataset (MSD).
CHECKPOINTS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")
INSTALL = "pip install --no-deps musicnn==0.1.0"


class MissingWheelError(FileNotFoundError):
    """The musicnn wheel (which holds the weights) is not installed."""


def checkpoint_prefix(name: str) -> str:
    """The checkpoint prefix of one of :data:`CHECKPOINTS` in the installed musicnn wheel,
    found through the package metadata: nothing of musicnn is imported.

    Raises:
        MissingWheelError: the wheel is not installed (the message gives the command).
        ValueError: an unknown name.
    """
    import importlib.metadata

    if name not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {name!r}: choose one of {', '.join(CHECKPOINTS)}")
    try:
        dist = importlib.metadata.distribution("musicnn")
    except importlib.metadata.PackageNotFoundError:
        raise MissingWheelError(f"the pretrained weights come with the musicnn wheel, which is "
                                f"not installed: run `{INSTALL}` (make setup does)") from None
    index = Path(dist.locate_file(f"musicnn/{name}/.index"))
    if not index.is_file():
        raise MissingWheelError(f"{index}: missing from the installed musicnn "
                                f"{dist.version}; reinstall it: `{INSTALL}`")
    return str(index)[:-len(".index")]
