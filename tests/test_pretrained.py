"""Pretrained checkpoints from the musicnn wheel, read without TensorFlow and CRC-verified."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genre_lab import pretrained

try:
    importlib.metadata.distribution("musicnn")
except importlib.metadata.PackageNotFoundError:
    pytest.skip(f"the musicnn wheel is not installed (`{pretrained.INSTALL}`; make setup "
                "installs it)", allow_module_level=True)


@pytest.mark.parametrize("name", pretrained.CHECKPOINTS)
def test_every_checkpoint_reads_every_byte(name):
    prefix = pretrained.checkpoint_prefix(name)
    tensors = pretrained.read_bundle(prefix)
    data = Path(prefix + ".data-00000-of-00001").stat().st_size
    assert sum(t.nbytes for t in tensors.values()) == data  # every byte belongs to a tensor
    variances = [t for k, t in tensors.items() if k.endswith("moving_variance")]
    assert variances and all((v > 0).all() for v in variances)  # trained statistics
    assert all(np.isfinite(t).all() for t in tensors.values() if t.dtype.kind == "f")


def test_no_tensorflow_and_no_musicnn_import(tmp_path):
    # reading, converting (into a fresh store), tagging and the whole CLI: nothing of
    # TensorFlow, protobuf or the musicnn package is ever imported
    code = ("import sys, numpy as np; from genre_lab import pretrained, cli; "
            "from genre_lab.pretrained import transfer; "
            "pretrained.read_bundle(pretrained.checkpoint_prefix('MSD_musicnn')); "
            "m = transfer.load_model('MTT_musicnn'); "
            "transfer.embed_segments(m, np.zeros((1, transfer.SEGMENT_SAMPLES), np.float32)); "
            "cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'musicnn', 'google', 'keras')))")
    env = dict(os.environ, GENRE_LAB_CACHE=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.fixture
def copy(tmp_path):
    source = pretrained.checkpoint_prefix("MTT_vgg")  # a prefix: ".../MTT_vgg/" + ".index"
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(source + suffix, tmp_path / ("ckpt" + suffix))
    return tmp_path / "ckpt"


def flip(path: Path, at: int):
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40
    path.write_bytes(bytes(data))


def test_a_damaged_tensor_is_named(copy):
    data = Path(str(copy) + ".data-00000-of-00001")
    flip(data, data.stat().st_size // 2)
    with pytest.raises(pretrained.BundleError, match=r"data-00000-of-00001: tensor '.+': "
                                                     "CRC32C mismatch") as err:
        pretrained.read_bundle(copy)
    assert len(str(err.value).splitlines()) == 1


def test_a_damaged_or_truncated_index_or_data_is_an_error(copy):
    index = Path(str(copy) + ".index")
    good = index.read_bytes()
    flip(index, 20)
    with pytest.raises(pretrained.BundleError, match=r"\.index: block at byte 0: CRC32C"):
        pretrained.read_bundle(copy)
    index.write_bytes(good[:-10])
    with pytest.raises(pretrained.BundleError, match=r"\.index: not a TensorFlow"):
        pretrained.read_bundle(copy)
    index.write_bytes(good)
    data = Path(str(copy) + ".data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(pretrained.BundleError, match=r"past the end of the file"):
        pretrained.read_bundle(copy)
    data.unlink()
    with pytest.raises(pretrained.BundleError, match=r"cannot read"):
        pretrained.read_bundle(copy)


def test_missing_wheel_says_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(pretrained.MissingWheelError, match=r"pip install --no-deps musicnn"):
        pretrained.checkpoint_prefix("MSD_musicnn")
    with pytest.raises(ValueError, match="unknown checkpoint"):
        pretrained.checkpoint_prefix("ImageNet")
