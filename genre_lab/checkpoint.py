"""The one file format for a trained classifier: weights, how to rebuild it, and its facts.

A checkpoint is one ``.pt`` file that ``torch.load(path, weights_only=True)`` reads: a dict
of tensors and plain values only, so loading it runs no code. It holds the model's spec
(:meth:`genre_lab.models.Classifier.spec`, which describes a pruned-and-shrunk network as it
is), the feature settings it was trained on, the class labels, the training history and
configuration, free facts (``info``), and a sha256 of the weights that :func:`load` checks.

Notebook: 04-spectrogram-cnns onwards (trained runs), 07-compression (sparse files).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import GENRES, __version__, audio, models, store
from .config import FeatureSettings

__all__ = ["FORMAT", "Checkpoint", "CheckpointError", "load", "save"]

#: Version of the checkpoint layout; :func:`load` refuses files of a newer format.
FORMAT = 1
_FIELDS = ("format", "genre_lab", "torch", "spec", "settings", "labels", "history",
           "train_config", "info", "state_dict", "digest")


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint; the one-line message names it and says why."""


#: Sane bounds of a checkpoint's feature settings (inclusive); beyond them a file was
#: damaged or hand-edited, and predict would allocate absurd buffers or fail deep in torch.
SETTING_BOUNDS = dict(sample_rate=(audio.MIN_SAMPLE_RATE, 192_000), segment_seconds=(0.1, 60.0),
                      n_fft=(16, 65_536), hop_length=(1, 65_536), n_mels=(1, 512),
                      n_mfcc=(1, 512))
_INTEGER_SETTINGS = ("sample_rate", "n_fft", "hop_length", "n_mels", "n_mfcc")


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        model: the classifier, in eval mode.
        settings: the segment features it was trained on.
        labels: class names; logit ``i`` is ``labels[i]``.
        history: training history (``train.History.as_dict()``), or None.
        train_config: training configuration (``asdict(TrainConfig)``), or None.
        info: free JSON-able facts: data, split, test results, distillation.
        genre_lab: the genre_lab version that saved it.
        path: the file it was read from.
    """

    model: models.Classifier  # or a pretrained.transfer.Probe
    settings: FeatureSettings
    labels: tuple[str, ...]
    history: dict | None
    train_config: dict | None
    info: dict
    genre_lab: str
    path: Path

    @property
    def kinds(self) -> tuple[str, ...]:
        """The segment kinds the model reads, in order."""
        return self.model.kinds

    def check_inputs(self) -> None:
        """Raise :class:`CheckpointError` (one line) unless the features its settings give
        are what the model reads: before computing features of a file for it (predict,
        evaluate). A model trained on other arrays (a toy set) saves and loads as it is."""
        problem = _input_problem(self.model.kinds, getattr(self.model, "input_shapes", None),
                                 self.settings)
        if problem:
            raise CheckpointError(f"{self.path}: {problem}")
        if self.model.kinds == ("audio",):
            return
        try:  # one segment of zeros: a network too deep for its input fails here, in a line
            with torch.no_grad():
                self.model(*(torch.zeros(1, *shape) for shape in self.model.input_shapes))
        except RuntimeError as err:
            raise CheckpointError(f"{self.path}: the model does not run on inputs of its "
                                  f"settings' shapes ({store._one_line(err)})") from None


# ------------------------------------------------------------------------------ helpers
def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def _plain(value, what: str):
    # Through JSON, so that what load returns equals what was saved (tuples become lists).
    if value is None:
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "as_dict"):
        value = value.as_dict()
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as err:
        raise TypeError(f"checkpoint {what} must be JSON-able: {err}") from None


def _digest(state: dict) -> str:
    # Names, dtypes, shapes and bytes of every tensor, in sorted key order.
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}\0{t.dtype}\0{list(t.shape)}\n".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _pack(tensor: torch.Tensor) -> dict:
    # A bitmask of the non-zeros (1 bit per weight) and their values: 4.1 bits per weight at
    # 90% sparsity instead of 32.
    flat = tensor.detach().cpu().flatten()
    keep = flat != 0
    bits = np.packbits(keep.numpy())
    return {"shape": list(tensor.shape), "mask": torch.from_numpy(bits), "values": flat[keep]}


def _unpack(packed: dict) -> torch.Tensor:
    n = int(np.prod(packed["shape"]))
    keep = torch.from_numpy(np.unpackbits(packed["mask"].numpy(), count=n).astype(bool))
    if int(keep.sum()) != packed["values"].numel():
        raise ValueError("mask and values disagree")
    flat = torch.zeros(n, dtype=packed["values"].dtype)
    flat[keep] = packed["values"]
    return flat.reshape(packed["shape"])


def _settings_problem(settings: FeatureSettings) -> str | None:
    # FeatureSettings checks only that every value is a positive number (NaN and inf pass)
    values = settings.as_dict()
    for name, (low, high) in SETTING_BOUNDS.items():
        value = values[name]
        if name in _INTEGER_SETTINGS and not isinstance(value, int):
            return f"{name} must be an integer, got {value!r}"
        if not (math.isfinite(value) and low <= value <= high):
            return f"{name}={value!r} is outside {low:g}..{high:g}"
    if settings.hop_length > settings.n_fft:
        return f"hop_length={settings.hop_length} exceeds n_fft={settings.n_fft}"
    return None


def _input_problem(kinds, input_shapes, settings: FeatureSettings) -> str | None:
    # What predict computes from the settings must be what the model reads.
    if tuple(kinds) == ("audio",):  # a probe reads musicnn's own front end
        from .pretrained.transfer import SETTINGS

        if settings != SETTINGS:
            return f"a probe reads musicnn's features ({SETTINGS}), its settings say {settings}"
        return None
    rows = dict(logmel=settings.n_mels, mfcc=settings.n_mfcc)
    for kind, shape in zip(kinds, input_shapes, strict=True):
        want = (rows.get(kind), settings.n_frames)
        if tuple(shape) != want:
            return (f"the model reads {kind} of shape {tuple(shape)}, its feature settings give "
                    f"{want}")
    return None


#: Largest input (rows x frames) a spec may ask for: 512 mel bands of 60 s at hop 64.
MAX_INPUT_VALUES = 512 * (60 * 192_000 // 64 + 1)


def _shapes_problem(input_shapes) -> str | None:
    # A hand-edited spec must not make the network's constructor allocate without bound.
    if not isinstance(input_shapes, list | tuple) or not input_shapes:
        return f"input_shapes must be a list of (rows, frames), got {input_shapes!r}"
    for shape in input_shapes:
        if not (isinstance(shape, list | tuple) and len(shape) == 2 and
                all(isinstance(n, int) and n > 0 for n in shape) and
                shape[0] * shape[1] <= MAX_INPUT_VALUES):
            return f"input shape {shape!r} is not two positive sizes of a plausible input"
    return None


def _labels_problem(labels) -> str | None:
    if not isinstance(labels, list | tuple):
        return f"labels must be a list of class names, got {type(labels).__name__}"
    if not all(isinstance(label, str) and label.strip() and label.isprintable()
               for label in labels):  # one label, one printed word: no newline, no control
        return f"labels must be non-empty printable strings, got {list(labels)!r}"
    if len(set(labels)) != len(labels):
        twice = sorted(label for label, n in Counter(labels).items() if n > 1)
        return f"duplicate labels {twice[:5]}" + (" ..." if len(twice) > 5 else "")
    return None


def _count_problem(labels, n_classes) -> str | None:
    if len(labels) != n_classes:
        return f"{len(labels)} labels for a model with {n_classes} classes"
    return None


def _nonfinite_weights(state: dict) -> str | None:
    for key, t in state.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            return (f"{key} holds {bad} NaN or infinite value(s) (training diverged?); "
                    "retrain the model, e.g. with a smaller learning rate")
        # what a trained network's statistics can never be: a standard deviation of 0 (its
        # inputs are divided by it) or a negative variance (batch norm takes its root)
        if key.endswith(".std") and t.is_floating_point() and not (t > 0).all():
            return f"{key} holds a standard deviation that is not positive"
        if key.endswith(".running_var") and not (t >= 0).all():
            return f"{key} holds a negative variance"
    return None


def _info_problem(raw: dict) -> str | None:
    for field in ("history", "train_config"):
        if raw[field] is not None and not isinstance(raw[field], dict):
            return f"{field} must be a dict or None, got {type(raw[field]).__name__}"
    if not isinstance(raw["info"], dict):
        return f"info must be a dict, got {type(raw['info']).__name__}"
    return None


def _sparse_enough(t: torch.Tensor) -> bool:
    return t.is_floating_point() and t.dim() > 1 and int(torch.count_nonzero(t)) * 2 <= t.numel()


# --------------------------------------------------------------------------------- save
def save(model: models.Classifier, path, *, settings: FeatureSettings, labels=GENRES,
         history=None, train_config=None, info: dict | None = None,
         sparse: bool = False) -> Path:
    """Write a trained classifier to one checkpoint file (atomically, flushed to disk).

    Notebook: 04-spectrogram-cnns onwards; 07-compression (``sparse=True``).

    Args:
        model: the classifier (a pruned, shrunk or distilled one too), or a
            :class:`genre_lab.pretrained.transfer.Probe`.
        path: the ``.pt`` file to write (its folder is created).
        settings: the segment features the model was trained on.
        labels: class names, one per output (default: the ten GTZAN genres).
        history: training history: a dict or anything with ``as_dict()`` (``train.History``).
        train_config: training configuration: a dict or a dataclass (``train.TrainConfig``).
        info: free JSON-able facts (data, split, test results, distillation).
        sparse: store each floating weight tensor with more than one dimension that is at
            least half zeros as a bitmask plus its non-zero values (pruned models).

    Returns:
        The path written.

    Raises:
        TypeError: ``settings`` is not a FeatureSettings, or a field is not JSON-able.
        ValueError: what :func:`load` would refuse: ``labels`` are not one distinct non-empty
            string per class, settings out of :data:`SETTING_BOUNDS`, NaN or infinite
            weights (a diverged model is never saved).
    """
    if not isinstance(settings, FeatureSettings):
        raise TypeError(f"settings must be a config.FeatureSettings, got {type(settings).__name__}")
    labels = list(labels)
    problem = _labels_problem(labels) or _count_problem(labels, model.n_classes)
    if problem:
        raise ValueError(f"labels must be {model.n_classes} strings (one per class, distinct, "
                         f"not empty): {problem}")
    problem = _settings_problem(settings)
    if problem:
        raise ValueError(f"feature settings: {problem}")
    spec = model.spec()
    _plain(spec, "spec")  # check only: the spec is stored as it is (tuples stay tuples)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    problem = _nonfinite_weights(state)
    if problem:
        raise ValueError(f"not saved: {problem}")
    packed = {k for k, v in state.items() if sparse and _sparse_enough(v)}
    for k in packed:  # the bitmask keeps no sign of a zero: -0.0 is saved (and hashed) as 0.0
        state[k] = state[k].masked_fill(state[k] == 0, 0.0)
    payload = dict(
        format=FORMAT, genre_lab=__version__, torch=str(torch.__version__), spec=spec,
        settings=settings.as_dict(), labels=labels, history=_plain(history, "history"),
        train_config=_plain(train_config, "train_config"), info=_plain(info, "info") or {},
        digest=_digest(state),
        state_dict={k: _pack(v) if k in packed else v for k, v in state.items()},
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return store.atomic_write(path, lambda f: _torch_save(payload, f, path), fsync=True)


def _torch_save(payload: dict, f, path: Path) -> None:
    # torch.save reports a failed write (a full disk) as a RuntimeError of its zip writer
    try:
        torch.save(payload, f)
    except RuntimeError as err:
        import errno
        import shutil

        full = shutil.disk_usage(path.parent).free < (64 << 20)
        raise OSError(errno.ENOSPC if full else errno.EIO,
                      "No space left on device" if full else
                      f"cannot write the checkpoint ({store._one_line(err)})", str(path)) from None


# --------------------------------------------------------------------------------- load
def _fit_problem(model: torch.nn.Module, state: dict) -> str | None:
    # torch's own message spans many lines: say the first thing that does not fit.
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    more = lambda keys: f" (+{len(keys) - 1} more)" if len(keys) > 1 else ""  # noqa: E731
    if missing:
        return f"{missing[0]} is missing{more(missing)}"
    if unexpected:
        return f"{unexpected[0]} is not in the model{more(unexpected)}"
    for k, t in expected.items():
        if not isinstance(state[k], torch.Tensor) or state[k].shape != t.shape:
            shape = list(state[k].shape) if isinstance(state[k], torch.Tensor) else "no tensor"
            return f"{k} has shape {shape} in the file, {list(t.shape)} in the model"
        if state[k].dtype != t.dtype:  # load_state_dict would cast it without a word
            return f"{k} is {state[k].dtype} in the file, {t.dtype} in the model"
    return None


def load(path, *, device=None) -> Checkpoint:
    """Read a checkpoint written by :func:`save` (``torch.load(weights_only=True)``).

    Notebook: 04-spectrogram-cnns onwards; 07-compression.

    Args:
        path: the ``.pt`` file, or a folder holding ``model.pt`` (as ``genre-lab train --out``
            writes it).
        device: where the weights go (default: CPU).

    Returns:
        A :class:`Checkpoint`; its model is in eval mode.

    Raises:
        FileNotFoundError: no such file (or no ``model.pt`` in the folder).
        CheckpointError: the file is not a checkpoint this version can use: damaged, from an
            older genre-lab or a newer checkpoint format, weights that do not fit the model
            or are not finite, labels that are not distinct non-empty strings, feature
            settings out of :data:`SETTING_BOUNDS`, an implausible input size in its spec
            (one line, naming the file). Whether the settings give the model's input shapes
            is :meth:`Checkpoint.check_inputs`.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint (train one with `genre-lab train`)")

    def fail(why: str):
        return CheckpointError(f"{path}: {why}")

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower():
            raise fail("not a genre-lab checkpoint (it holds Python objects besides tensors "
                       "and plain values; refused, as loading those could run code)") from None
        raise fail("not a genre-lab checkpoint (unreadable: empty, truncated or not a "
                   "torch file)") from None
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one line
        raise fail(f"not a genre-lab checkpoint (unreadable: empty, truncated or not a torch "
                   f"file; {type(err).__name__})") from None
    if not isinstance(raw, dict):
        raise fail("not a genre-lab checkpoint (no dict of fields inside)")
    if "format" not in raw:
        if "spec" in raw and "state_dict" in raw:
            raise fail("saved by an older genre-lab, before checkpoint format 1; retrain the "
                       "model, or load it with that version and re-save it with "
                       "genre_lab.checkpoint.save")
        raise fail("not a genre-lab checkpoint (a torch file without genre-lab's fields)")
    fmt = raw["format"]
    if not isinstance(fmt, int) or fmt < 1:
        raise fail(f"not a genre-lab checkpoint (format {fmt!r})")
    if fmt > FORMAT:
        raise fail(f"saved by genre-lab {raw.get('genre_lab', '?')} with checkpoint format "
                   f"{fmt}; this version ({__version__}) reads format {FORMAT}: "
                   "upgrade genre-lab")
    missing = [k for k in _FIELDS if k not in raw]
    if missing:
        raise fail(f"damaged checkpoint: no {', '.join(missing)}")

    problem = _info_problem(raw)
    if problem:
        raise fail(f"damaged checkpoint: {problem}")
    try:
        settings = FeatureSettings.from_dict(raw["settings"])
    except (TypeError, ValueError) as err:
        raise fail(f"damaged feature settings ({store._one_line(err)})") from None
    problem = _settings_problem(settings)
    if problem:
        raise fail(f"damaged feature settings: {problem}")
    problem = _labels_problem(raw["labels"])
    if problem:
        raise fail(f"damaged checkpoint: {problem}")
    labels = tuple(raw["labels"])

    spec = raw["spec"]
    try:
        name = spec["name"]
        if name == "probe":  # a pretrained backbone and a linear layer (genre_lab.pretrained)
            from .pretrained.transfer import Probe

            model = Probe.from_spec(spec)
        elif name not in models.REGISTRY:
            raise fail(f"the model {name!r} is unknown to genre-lab {__version__} (saved by "
                       f"{raw['genre_lab']}; known: {', '.join(models.REGISTRY)}, probe)")
        else:  # checked before building: a hand-edited spec could ask for a huge network
            problem = (_shapes_problem(spec["input_shapes"])
                       or _count_problem(labels, spec["n_classes"]))
            if problem:
                raise fail(f"damaged checkpoint: {problem}")
            model = models.build(**spec)
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - a spec this version cannot build
        raise fail(f"cannot rebuild the model from its spec ({store._one_line(err)})") from None
    problem = _count_problem(labels, model.n_classes)
    if problem:
        raise fail(f"damaged checkpoint: {problem}")

    if not isinstance(raw["state_dict"], dict):
        raise fail("damaged checkpoint: state_dict is not a dict of weights")
    try:
        state = {k: _unpack(v) if isinstance(v, dict) else v
                 for k, v in raw["state_dict"].items()}
    except Exception as err:  # noqa: BLE001
        raise fail(f"damaged sparse weights ({store._one_line(err)})") from None
    odd = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if odd:
        raise fail(f"damaged checkpoint: the weight {odd[0]!r} is not a tensor")
    if _digest(state) != raw["digest"]:
        raise fail("checksum mismatch: the weights are not the ones saved (a damaged file)")
    problem = _fit_problem(model, state)
    if problem:
        raise fail(f"the weights do not fit the {name!r} model of its spec: {problem}")
    problem = _nonfinite_weights(state)
    if problem:
        raise fail(problem)
    model.load_state_dict(state)
    if device is not None:
        model.to(device)
    return Checkpoint(model=model.eval(), settings=settings, labels=labels,
                      history=raw["history"], train_config=raw["train_config"],
                      info=raw["info"], genre_lab=raw["genre_lab"], path=path)
