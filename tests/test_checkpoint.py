"""Checkpoints: every model family round-trips exactly, sparse and shrunk models too, and every
bad file gives one line that names it."""

from __future__ import annotations

import dataclasses
import json
import struct
import zipfile

import numpy as np
import pytest
import torch

from genre_lab import GENRES, __version__, checkpoint, compress, config, models, train
from genre_lab.catalog import INPUT_KINDS, MODEL_NAMES

SHAPES = {"logmel": (64, 65), "mfcc": (20, 65)}
SMALL = {"resnet": dict(widths=(4, 8, 8, 8)), "mlp": dict(hidden=(16,))}
SETTINGS = config.FeatureSettings(n_mels=64, hop_length=1024)


def build(name, seed=0):
    """A model with fitted standardisation and batch-norm statistics that are not the defaults."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    shapes = [SHAPES[k] for k in INPUT_KINDS[name]]
    model = models.build(name, shapes, **SMALL.get(name, {}))
    inputs = [rng.normal(size=(24, *s)).astype(np.float32) * 3 - 20 for s in shapes]
    model.fit_normalization(inputs)
    model.train()
    with torch.no_grad():
        model(*map(torch.as_tensor, inputs))
    return model.eval()


def logits(model, seed=1):
    rng = np.random.default_rng(seed)
    inputs = [torch.as_tensor(rng.normal(size=(5, *SHAPES[k])).astype(np.float32) * 3 - 20)
              for k in model.kinds]
    with torch.no_grad():
        return model(*inputs).numpy()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_family_round_trips(tmp_path, name):
    model = build(name)
    history = train.History(train_loss=[2.0, 1.5], val_accuracy=[0.3, 0.4], best_epoch=1)
    cfg = train.TrainConfig(epochs=2)
    info = {"data": "synthetic", "test": {"accuracy": 0.5}, "seed": np.int64(3)}
    path = checkpoint.save(model, tmp_path / "m.pt", settings=SETTINGS, history=history,
                           train_config=cfg, info=info)
    ck = checkpoint.load(path)
    assert isinstance(ck, checkpoint.Checkpoint) and ck.path == path
    np.testing.assert_array_equal(logits(ck.model), logits(model))
    assert not ck.model.training and ck.model.spec() == model.spec()
    assert ck.kinds == model.kinds and ck.labels == GENRES and ck.settings == SETTINGS
    assert ck.history == history.as_dict()
    assert ck.train_config == json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert ck.info == {"data": "synthetic", "test": {"accuracy": 0.5}, "seed": 3}
    assert ck.genre_lab == __version__


def test_plain_values_only_and_folder_load(tmp_path):
    model = build("cnn1d")
    path = checkpoint.save(model, tmp_path / "run" / "model.pt", settings=SETTINGS,
                           labels=[f"g{i}" for i in range(10)])
    (tmp_path / "run" / "metrics.json").write_text("{}")  # as the CLI writes it; never read
    raw = torch.load(path, weights_only=True)  # no pickled objects inside
    assert raw["format"] == checkpoint.FORMAT and raw["spec"] == model.spec()
    assert raw["history"] is None and raw["info"] == {}
    ck = checkpoint.load(tmp_path / "run", device="cpu")
    assert ck.labels == tuple(f"g{i}" for i in range(10)) and ck.path == path
    np.testing.assert_array_equal(logits(ck.model), logits(model))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["metrics.json", "model.pt"]


def test_save_checks_its_arguments(tmp_path):
    model = build("mlp")
    with pytest.raises(TypeError, match="FeatureSettings"):
        checkpoint.save(model, tmp_path / "a.pt", settings=SETTINGS.as_dict())
    with pytest.raises(ValueError, match="10 strings"):
        checkpoint.save(model, tmp_path / "a.pt", settings=SETTINGS, labels=("a", "b"))
    with pytest.raises(TypeError, match="info"):
        checkpoint.save(model, tmp_path / "a.pt", settings=SETTINGS, info={"x": object()})
    assert not list(tmp_path.iterdir())


def test_shrunk_sparse_resnet_round_trips_and_is_smaller(tmp_path):
    model = build("resnet")
    assert "inner_widths" not in model.spec()["options"]  # unshrunk specs are unchanged
    thin = compress.shrink(compress.prune_channels(model, 0.5))
    pruned = compress.prune_unstructured(thin, 0.8)
    inner = pruned.spec()["options"]["inner_widths"]
    assert inner == [2, 2, 4, 4, 4, 4, 4, 4]
    assert models.build(**pruned.spec()).state_dict().keys() == pruned.state_dict().keys()
    dense = checkpoint.save(pruned, tmp_path / "dense.pt", settings=SETTINGS)
    sparse = checkpoint.save(pruned, tmp_path / "sparse.pt", settings=SETTINGS, sparse=True)
    assert sparse.stat().st_size < dense.stat().st_size
    for path in (dense, sparse):
        again = checkpoint.load(path).model
        np.testing.assert_array_equal(logits(again), logits(pruned))
        assert again.spec() == pruned.spec()
        assert compress.count_nonzero(again) == compress.count_nonzero(pruned)
    raw = torch.load(sparse, weights_only=True)
    assert any(isinstance(v, dict) for v in raw["state_dict"].values())


# --------------------------------------------------------------------------------- errors
def _flip_tensor_byte(src, dst):
    # Flip one bit in the middle of the largest tensor's data. (torch 2.13's torch.load reads
    # such a file without complaint: its zip reader checks no CRC; the digest catches it.)
    with zipfile.ZipFile(src) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename),
                   key=lambda i: i.file_size)
    data = bytearray(src.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                    info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + info.file_size // 2] ^= 0x01
    dst.write_bytes(bytes(data))


class Planted:
    """Anything torch would have to unpickle as an object."""


def _edited(raw, tmp_path, name, **changes):
    path = tmp_path / name
    torch.save({**raw, **changes}, path)
    return path


@pytest.fixture
def good(tmp_path):
    model = build("resnet")
    path = checkpoint.save(model, tmp_path / "good.pt", settings=SETTINGS)
    return path, torch.load(path, weights_only=True)


def bad_files(tmp_path, good_path, raw):
    data = good_path.read_bytes()
    files = {}
    files["empty"] = tmp_path / "empty.pt"
    files["empty"].write_bytes(b"")
    files["truncated"] = tmp_path / "truncated.pt"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["random"] = tmp_path / "random.pt"
    files["random"].write_bytes(np.random.default_rng(0).bytes(5000))
    files["pickle"] = _edited(raw, tmp_path, "pickle.pt", info=Planted())
    files["old"] = tmp_path / "old.pt"
    torch.save({"spec": raw["spec"], "state_dict": raw["state_dict"]}, files["old"])
    files["newer"] = _edited(raw, tmp_path, "newer.pt", format=checkpoint.FORMAT + 1,
                             genre_lab="9.9")
    files["unknown"] = _edited(raw, tmp_path, "unknown.pt",
                               spec={**raw["spec"], "name": "transformer"})
    files["misfit"] = _edited(raw, tmp_path, "misfit.pt",
                              spec={**raw["spec"], "options": {"widths": (4, 8, 8, 16)}})
    files["flipped"] = tmp_path / "flipped.pt"
    _flip_tensor_byte(good_path, files["flipped"])
    state = dict(raw["state_dict"])
    state["net.head.2.bias"] = state["net.head.2.bias"] + 1
    files["edited"] = _edited(raw, tmp_path, "edited.pt", state_dict=state)
    return files


EXPECTED = {
    "empty": "not a genre-lab checkpoint", "truncated": "not a genre-lab checkpoint",
    "random": "not a genre-lab checkpoint", "pickle": "not a genre-lab checkpoint",
    "old": "older genre-lab", "newer": "saved by genre-lab 9.9 with checkpoint format 2",
    "unknown": "model 'transformer' is unknown", "misfit": "do not fit",
    "flipped": "checksum mismatch", "edited": "checksum mismatch",
}


def test_every_bad_file_gives_one_line_naming_it(tmp_path, good):
    good_path, raw = good
    for case, path in bad_files(tmp_path, good_path, raw).items():
        with pytest.raises(checkpoint.CheckpointError) as caught:
            checkpoint.load(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and EXPECTED[case] in message, (case, message)
        assert "\n" not in message and "Traceback" not in message, case
        assert "weights_only=False" not in message, case
        err = caught.value  # no chained traceback either
        assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    assert isinstance(checkpoint.CheckpointError("x"), ValueError)
    newer = str(pytest.raises(checkpoint.CheckpointError, checkpoint.load,
                              tmp_path / "newer.pt").value)
    assert "reads format 1: upgrade genre-lab" in newer
    assert "retrain" in str(pytest.raises(checkpoint.CheckpointError, checkpoint.load,
                                          tmp_path / "old.pt").value)


def test_missing_file_or_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        checkpoint.load(tmp_path / "nothing.pt")
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError, match=r"run/model\.pt"):
        checkpoint.load(tmp_path / "run")


# ------------------------------------------------------------- non-finite and hand edits
def _nan_model(value=float("nan")):
    model = build("cnn1d")
    with torch.no_grad():
        next(model.net.parameters()).view(-1)[3] = value
    return model


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_diverged_model_is_never_saved_nor_loaded(tmp_path, value):
    with pytest.raises(ValueError, match=r"not saved: net\..* 1 NaN or infinite value"):
        checkpoint.save(_nan_model(value), tmp_path / "nan.pt", settings=SETTINGS)
    assert not list(tmp_path.iterdir())
    # a file written otherwise (an older genre-lab, by hand), its digest consistent
    good = checkpoint.save(build("cnn1d"), tmp_path / "good.pt", settings=SETTINGS)
    raw = torch.load(good, weights_only=True)
    state = {k: v.detach() for k, v in _nan_model(value).state_dict().items()}
    path = _edited(raw, tmp_path, "nan.pt", state_dict=state, digest=checkpoint._digest(state))
    with pytest.raises(checkpoint.CheckpointError, match="NaN or infinite value.*smaller "
                                                         "learning rate") as caught:
        checkpoint.load(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def _settings(**changes):
    return {**SETTINGS.as_dict(), **changes}


#: Hand edits of a saved cnn1d checkpoint (quick features: 20 MFCCs x 65 frames) -> what the
#: one-line error says. Each once crashed predict or evaluate with a traceback, allocated
#: absurd buffers, or predicted with the wrong labels.
HAND_EDITS = {
    "nan weights": (None, "NaN or infinite"),
    "duplicate labels": (dict(labels=["rock"] * 10), "duplicate labels ['rock']"),
    "empty label": (dict(labels=[""] + list(GENRES[1:])), "non-empty printable strings"),
    "numbers as labels": (dict(labels=list(range(10))), "non-empty printable strings"),
    "labels not a list": (dict(labels=5), "labels must be a list"),
    "three labels": (dict(labels=list(GENRES[:3])), "3 labels for a model with 10 classes"),
    "rate 0": (dict(settings=_settings(sample_rate=0)), "sample_rate"),
    "rate 1e9": (dict(settings=_settings(sample_rate=10**9)), "sample_rate=1000000000 is "
                                                              "outside 4000..192000"),
    "rate nan": (dict(settings=_settings(sample_rate=float("nan"))), "sample_rate"),
    "rate 22050.5": (dict(settings=_settings(sample_rate=22050.5)), "must be an integer"),
    "rate as text": (dict(settings=_settings(sample_rate="22050")), "sample_rate"),
    "seconds 0": (dict(settings=_settings(segment_seconds=0)), "segment_seconds"),
    "seconds 1e9": (dict(settings=_settings(segment_seconds=1e9)), "segment_seconds"),
    "seconds inf": (dict(settings=_settings(segment_seconds=float("inf"))), "segment_seconds"),
    "n_fft 0": (dict(settings=_settings(n_fft=0)), "n_fft"),
    "n_fft 1e9": (dict(settings=_settings(n_fft=10**9)), "n_fft"),
    "n_mels 1e5": (dict(settings=_settings(n_mels=100_000)), "n_mels"),
    "hop over n_fft": (dict(settings=_settings(hop_length=4096)), "exceeds n_fft"),
    "n_mfcc over n_mels": (dict(settings=_settings(n_mfcc=100)), "cannot exceed n_mels"),
    "other features": (dict(settings=_settings(n_mfcc=40)), "the model reads mfcc of shape "
                                                            "(20, 65), its feature settings "
                                                            "give (40, 65)"),
    "settings not a dict": (dict(settings="quick"), "must be a mapping"),
    "settings missing a key": (dict(settings={"sample_rate": 22050}), "missing"),
    "huge input in spec": (dict(spec=None), "input shape [20, 1000000000] is not two positive"),
    "info a list": (dict(info=[1]), "info must be a dict"),
    "history text": (dict(history="x"), "history must be a dict"),
    "state_dict a number": (dict(state_dict=5), "state_dict is not a dict"),
    "a weight a number": (dict(state_dict={"net.x": 3}), "'net.x' is not a tensor"),
    "spec a number": (dict(spec=5), "cannot rebuild the model"),
    "label with a newline": (dict(labels=["rock\npop"] + list(GENRES[1:])), "printable"),
    "integer weights": (None, "is torch.int64 in the file, torch.float32 in the model"),
    "zero std": (None, "norms.0.std holds a standard deviation that is not positive"),
    "negative variance": (None, "running_var holds a negative variance"),
    "too deep for its input": (None, "does not run on inputs of its settings' shapes"),
}


def _state_edit(raw, case):
    # weights edited as a hand would, with the digest recomputed so that only the edit counts
    state = {k: v.clone() for k, v in raw["state_dict"].items()}
    if case == "integer weights":
        key = next(k for k, v in state.items() if v.dim() > 1)
        state[key] = state[key].round().long()
    elif case == "zero std":
        state["norms.0.std"].zero_()
    elif case == "negative variance":
        key = next(k for k in state if k.endswith("running_var"))
        state[key].fill_(-1.0)
    return dict(state_dict=state, digest=checkpoint._digest(state))


@pytest.fixture
def hand_edits(tmp_path):
    good = checkpoint.save(build("cnn1d"), tmp_path / "good.pt", settings=SETTINGS)
    raw = torch.load(good, weights_only=True)
    files = {}
    for case, (changes, _) in HAND_EDITS.items():
        if case == "nan weights":
            state = {k: v.detach() for k, v in _nan_model().state_dict().items()}
            changes = dict(state_dict=state, digest=checkpoint._digest(state))
        elif case == "huge input in spec":
            changes = dict(spec={**raw["spec"], "input_shapes": [[20, 10**9]]})
        elif case in ("integer weights", "zero std", "negative variance"):
            changes = _state_edit(raw, case)
        elif case == "too deep for its input":  # 0.1-s segments: 5 frames for cnn1d's pools
            short = config.FeatureSettings(**_settings(segment_seconds=0.1))
            model = models.build("cnn1d", [(short.n_mfcc, short.n_frames)])
            path = checkpoint.save(model, tmp_path / "short.pt", settings=short)
            files[case] = path
            continue
        files[case] = _edited(raw, tmp_path, case.replace(" ", "_") + ".pt", **changes)
    return files


#: Edits that load (the file is whole) but whose features are not what the model reads:
#: predict and evaluate refuse them (Checkpoint.check_inputs), before computing any.
LOADS_BUT_UNUSABLE = {"other features", "too deep for its input"}


def test_hand_edited_checkpoints_give_one_line(hand_edits):
    for case, path in hand_edits.items():
        with pytest.raises(checkpoint.CheckpointError) as caught:
            if case in LOADS_BUT_UNUSABLE:
                checkpoint.load(path).check_inputs()
            else:
                checkpoint.load(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and HAND_EDITS[case][1] in message, (case,
                                                                                      message)
        assert "\n" not in message, case


def test_hand_edited_checkpoints_in_predict_and_evaluate(hand_edits, make_gtzan, capsys):
    """As a user meets them: ``genre-lab predict`` and ``evaluate`` exit 2 with one line."""
    from conftest import write_tone
    from genre_lab import cli

    root = make_gtzan(clips=1)
    clip = write_tone(root.parent / "clip.wav", seconds=4.0)
    for case, path in hand_edits.items():
        for argv in (["predict", str(path), str(clip)], ["evaluate", str(path), str(root)]):
            capsys.readouterr()
            assert cli.main(argv) == 2, (case, argv[0])
            captured = capsys.readouterr()
            assert captured.out == "", (case, argv[0])
            err = captured.err.strip()
            assert len(err.splitlines()) == 1 and str(path) in err, (case, argv[0], err)
            assert HAND_EDITS[case][1] in err, (case, argv[0], err)


def test_a_full_disk_while_saving_is_one_line_naming_the_file(tmp_path, monkeypatch):
    """torch.save reports a failed write as a RuntimeError of its zip writer."""
    def disk_full(payload, f):
        f.write(b"PK")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 8000")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError) as caught:
        checkpoint.save(build("cnn1d"), tmp_path / "model.pt", settings=SETTINGS)
    assert caught.value.filename == str(tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []  # no half-written file
