"""genre-lab train / evaluate / predict, end to end, on synthetic and on real clips, with
models saved by the CLI, by a chapter (experiment) and by compression."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import shared, write_tone
from genre_lab import GENRES, cli
from genre_lab.data import synth


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    synth.generate(root, clips_per_genre=5, seconds=6.0, seed=0, progress=False)
    return root


@pytest.fixture(autouse=True)
def quick_profile_private_cache(tmp_cache, monkeypatch):
    monkeypatch.setenv("GENRE_LAB_PROFILE", "quick")


def train(root, out, *extra):
    return cli.main(["train", str(root), "--model", "cnn1d", "--out", str(out), "--epochs", "3",
                     "--quiet", *extra])


def test_train_writes_checkpoint_and_metrics(synthetic_root, tmp_path, capsys):
    assert train(synthetic_root, tmp_path / "run") == 0
    assert "test (10 tracks)" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (tmp_path / "run" / "model.pt").is_file()
    assert metrics["model"]["name"] == "cnn1d" and metrics["config"]["epochs"] == 3
    assert len(metrics["history"]["train_loss"]) == 3
    assert {"torch", "librosa", "genre_lab"} <= set(metrics["versions"])
    assert len(metrics["data"]["test_tracks"]) == 10


def test_same_seed_same_metrics(synthetic_root, tmp_path):
    for name in ("a", "b"):
        assert train(synthetic_root, tmp_path / name, "--seed", "7") == 0
    a, b = (json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("a", "b"))
    assert a["history"] == {**b["history"], "seconds": a["history"]["seconds"]}
    assert a["test"] == b["test"]


def test_evaluate_json(synthetic_root, tmp_path, capsys):
    train(synthetic_root, tmp_path / "run")
    trained = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    capsys.readouterr()
    assert cli.main(["evaluate", str(tmp_path / "run"), str(synthetic_root), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("segment_accuracy", "track_accuracy", "per_class", "confusion", "labels"):
        assert key in result
    assert result["evaluated_on"] == "test"
    assert result["track_accuracy"] == pytest.approx(trained["track_accuracy"])
    assert np.array(result["confusion"]).shape == (10, 10)


def test_predict_any_format_and_names_bad_files(synthetic_root, tmp_path, capsys):
    train(synthetic_root, tmp_path / "run")
    stereo = write_tone(tmp_path / "stereo44k.wav", seconds=7.0, sr=44100, channels=2)
    short = write_tone(tmp_path / "short.flac", seconds=1.0)
    bad = tmp_path / "jazz.00054.wav"
    bad.write_bytes(b"\x00" * 100)
    clip = synthetic_root / "genres" / "metal" / "metal.00001.wav"
    capsys.readouterr()
    code = cli.main(["predict", str(tmp_path / "run"), str(clip), str(stereo), str(bad),
                     str(short)])
    out, err = capsys.readouterr()
    assert code == 1  # one file failed
    assert "jazz.00054.wav" in err and "cannot decode" in err
    lines = out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith(str(clip))
    probabilities = [float(part.split()[-1]) for part in lines[0].split(": ", 1)[1].split(", ")]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    assert cli.main(["predict", str(tmp_path / "run"), str(clip), "--json", "--top", "10"]) == 0
    top = json.loads(capsys.readouterr().out)["top"]
    assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-5)


def test_missing_model_folder(tmp_path, capsys):
    assert cli.main(["predict", str(tmp_path / "nothing"), "x.wav"]) == 2
    err = capsys.readouterr().err
    assert "nothing" in err and len(err.strip().splitlines()) == 1


def test_predict_and_evaluate_any_saved_model(synthetic_root, tmp_path, capsys):
    """A model saved by a chapter (experiment's store) and one saved by compression (a
    pruned, shrunk, sparse file) both carry their feature settings: predict and evaluate
    work on them as on the CLI's folder."""
    from genre_lab import checkpoint, compress, dataset, experiment, train
    from genre_lab.data import load_tracks

    data = dataset.prepare(load_tracks(synthetic_root), split="track", progress=False)
    run = experiment.train_model("resnet", data, train.TrainConfig(epochs=1), progress=False,
                                 widths=(4, 8, 8, 8))
    [chapter_file] = (tmp_path / "cache" / "models").glob("resnet-*.pt")
    thin = compress.shrink(compress.prune_channels(run.model, 0.5))
    compressed = checkpoint.save(thin, tmp_path / "thin.pt", settings=data.settings,
                                 sparse=True)
    clip = synthetic_root / "genres" / "jazz" / "jazz.00000.wav"
    for path in (chapter_file, compressed):
        capsys.readouterr()
        assert cli.main(["predict", str(path), str(clip), "--json", "--top", "10"]) == 0
        top = json.loads(capsys.readouterr().out)["top"]
        assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-5)
        assert cli.main(["evaluate", str(path), str(synthetic_root), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["n_tracks"] == len(data.tracks)  # no test list: every track
    # the chapter's model gives the chapter's own numbers on its test tracks
    test_ids = set(data.tracks.track_id[data.tracks.split == "test"])
    saved = checkpoint.load(chapter_file)
    assert saved.settings == data.settings
    logits = train.predict_logits(saved.model, [data.side("test", "logmel").X])
    np.testing.assert_allclose(logits, run.logits, atol=1e-5)
    assert len(test_ids) == run.result["n_tracks"]


def test_a_checkpoint_from_a_newer_format_is_refused_in_one_line(synthetic_root, tmp_path,
                                                                  capsys):
    import torch

    train(synthetic_root, tmp_path / "run")
    saved_bytes = (tmp_path / "run" / "model.pt").read_bytes()
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    saved["format"] = 99
    torch.save(saved, tmp_path / "run" / "model.pt")
    capsys.readouterr()
    assert cli.main(["predict", str(tmp_path / "run"), str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert "format 99" in err and "model.pt" in err and len(err.splitlines()) == 1
    for damage in (b"", b"PK\x03\x04 not really a zip", saved_bytes[:500]):
        (tmp_path / "run" / "model.pt").write_bytes(damage)
        for argv in (["predict", str(tmp_path / "run"), str(tmp_path / "x.wav")],
                     ["evaluate", str(tmp_path / "run"), str(synthetic_root)]):
            assert cli.main(argv) == 2
            one_line_error(capsys, "model.pt: not a genre-lab checkpoint")


def test_train_and_evaluate_on_real_clips(tmp_path, capsys):
    root = shared("gtzan-sample")
    assert cli.main(["train", str(root), "--model", "cnn1d", "--out", str(tmp_path / "real"),
                     "--epochs", "15", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", str(tmp_path / "real"), str(root), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    print(f"real clips, held-out track accuracy: {result['track_accuracy']:.2f} "
          f"({result['n_tracks']} tracks)")
    assert result["n_tracks"] == 10 and result["n_segments"] == 100
    # evaluate, from the checkpoint alone, reproduces what train measured on its test tracks
    trained = json.loads((tmp_path / "real" / "metrics.json").read_text())["test"]
    for key in ("segment_accuracy", "track_accuracy", "track_accuracy_vote"):
        assert result[key] == pytest.approx(trained[key], abs=1e-9), key


# ------------------------------------------------------------- bad input: one line, no loss
def one_line_error(capsys, fragment):
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, fragment", [
    (["train", "ROOT", "--model", "cnn1d", "--out", "o", "--epochs", "0"], "greater than 0"),
    (["train", "ROOT", "--model", "cnn1d", "--out", "o", "--epochs", "-1"], "greater than 0"),
    (["predict", "m", "x.wav", "--top", "0"], "greater than 0"),
    (["synth", "o", "--seconds", "nan"], "greater than 0"),
])
def test_numbers_must_be_positive(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert fragment in capsys.readouterr().err


def test_train_refuses_to_overwrite_a_model_or_write_into_a_file(synthetic_root, tmp_path,
                                                                  capsys, monkeypatch):
    from genre_lab import experiment

    assert train(synthetic_root, tmp_path / "run") == 0
    before = (tmp_path / "run" / "model.pt").read_bytes()
    capsys.readouterr()

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking --out")

    with monkeypatch.context() as m:
        m.setattr(experiment, "train_model", no_training)
        assert train(synthetic_root, tmp_path / "run") == 2
        one_line_error(capsys, "--overwrite")
        (tmp_path / "file").write_text("x")
        assert train(synthetic_root, tmp_path / "file") == 2
        one_line_error(capsys, "not a folder")
    assert (tmp_path / "run" / "model.pt").read_bytes() == before  # nothing lost
    assert train(synthetic_root, tmp_path / "run", "--overwrite") == 0


def test_one_genre_is_not_a_classification_task(synthetic_root, tmp_path, capsys):
    import shutil

    root = tmp_path / "one"
    shutil.copytree(synthetic_root / "genres" / "rock", root / "genres" / "rock")
    with pytest.warns(UserWarning, match="missing genre folder"):
        assert train(root, tmp_path / "run") == 2
    one_line_error(capsys, "at least two genres")
    assert not (tmp_path / "run" / "model.pt").exists()


@pytest.mark.parametrize("command", ["train", "features", "evaluate"])
@pytest.mark.parametrize("root", ["missing", "empty"])
def test_missing_or_empty_root(command, root, synthetic_root, tmp_path, capsys):
    folder = tmp_path / root
    if root == "empty":
        folder.mkdir()
    argv = {"train": ["train", str(folder), "--model", "cnn1d", "--out", str(tmp_path / "o")],
            "features": ["features", str(folder), "--out", str(tmp_path / "f.csv")],
            "evaluate": ["evaluate", str(tmp_path / "run"), str(folder)]}[command]
    if command == "evaluate":
        assert train(synthetic_root, tmp_path / "run") == 0
        capsys.readouterr()
    assert cli.main(argv) == 2
    one_line_error(capsys, str(folder))


def test_features_out_folder_and_synth_out_file(synthetic_root, tmp_path, capsys):
    assert cli.main(["features", str(synthetic_root), "--out", str(tmp_path)]) == 2
    one_line_error(capsys, "is a folder")
    (tmp_path / "taken").write_text("x")
    assert cli.main(["synth", str(tmp_path / "taken"), "--clips-per-genre", "1"]) == 2
    one_line_error(capsys, "not a folder")


def test_invalid_metadata_csv_is_named(synthetic_root, tmp_path, capsys):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(synthetic_root, root)
    (root / "metadata.csv").write_bytes(b'track_id,artist\n"unclosed,\x00\xff\n')
    assert cli.main(["features", str(root), "--out", str(tmp_path / "f.csv"), "--quiet"]) == 2
    one_line_error(capsys, "metadata.csv")


def test_predict_silence_folders_and_debug(synthetic_root, tmp_path, capsys):
    import soundfile as sf

    train(synthetic_root, tmp_path / "run")
    sr = 22050
    t = np.arange(4 * sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "silence.wav", np.zeros(4 * sr), sr)
    sf.write(tmp_path / "cancels.wav", np.stack([tone, -tone], axis=1), sr)  # L = -R
    capsys.readouterr()
    for name in ("silence.wav", "cancels.wav"):
        assert cli.main(["predict", str(tmp_path / "run"), str(tmp_path / name)]) == 1
        out, err = capsys.readouterr()
        assert out == "" and "no signal" in err and name in err
    assert cli.main(["predict", str(tmp_path / "run"), str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert str(tmp_path) in err and len(err.strip().splitlines()) == 2  # the file, the count
    with pytest.raises(FileNotFoundError):  # --debug: the traceback, for a bug report
        cli.main(["--debug", "predict", str(tmp_path / "nothing"), "x.wav"])


def test_streamed_predict_equals_the_whole_signal_and_names_nan_files(synthetic_root, tmp_path,
                                                                      capsys):
    import soundfile as sf

    from genre_lab import audio, checkpoint
    from genre_lab.features.segments import signal_features
    from genre_lab.train import predict_logits

    train(synthetic_root, tmp_path / "run")
    long = write_tone(tmp_path / "long44k.wav", seconds=200.0, sr=44100, channels=2)
    capsys.readouterr()
    assert cli.main(["predict", str(tmp_path / "run"), str(long), "--json", "--top", "10"]) == 0
    streamed = {t["genre"]: t["probability"] for t in json.loads(capsys.readouterr().out)["top"]}
    saved = checkpoint.load(tmp_path / "run")
    feats = signal_features(audio.load(long), saved.settings)  # all at once, as before
    logits = predict_logits(saved.model, [feats[k] for k in saved.model.kinds]).mean(axis=0)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    for genre, p in streamed.items():
        assert p == pytest.approx(float(probs[saved.labels.index(genre)]), abs=1e-5)
    y = np.full(3 * 22050, 0.1, np.float32)
    y[1000] = np.nan
    sf.write(tmp_path / "nan.wav", y, 22050, subtype="FLOAT")
    assert cli.main(["predict", str(tmp_path / "run"), str(tmp_path / "nan.wav")]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "nan.wav" in err and "NaN" in err


# ------------------------------------------- evaluate: the checkpoint's labels, stated scope
@pytest.fixture(scope="module")
def trained(synthetic_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    with pytest.MonkeyPatch.context() as m:
        m.setenv("GENRE_LAB_PROFILE", "quick")
        m.setenv("GENRE_LAB_CACHE", str(out.parent / "cache"))
        assert train(synthetic_root, out) == 0
    return out


def evaluate_json(capsys, *argv):
    capsys.readouterr()
    assert cli.main(["evaluate", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def predicted_genres(capsys, model, files):
    capsys.readouterr()
    assert cli.main(["predict", str(model), *map(str, files), "--json", "--top", "1"]) == 0
    return {json.loads(line)["file"]: json.loads(line)["top"][0]["genre"]
            for line in capsys.readouterr().out.splitlines()}


@pytest.mark.parametrize("labels", [("blues", "rock"), ("rock", "blues")])
def test_evaluate_scores_with_the_checkpoints_labels(labels, synthetic_root, tmp_path, capsys):
    """A two-class model: evaluate agrees with predict, whatever order its labels have (it
    scored 0.0 when it read the labels as GTZAN's ten)."""
    from genre_lab import checkpoint, models
    from genre_lab.config import FeatureSettings

    settings = FeatureSettings()
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = models.build("cnn1d", [(settings.n_mfcc, settings.n_frames)], n_classes=2)
    path = checkpoint.save(model, tmp_path / "two.pt", settings=settings, labels=labels)
    result = evaluate_json(capsys, path, synthetic_root, "--tracks", "all")
    files = sorted((synthetic_root / "genres").glob("*/*.wav"))
    mine = [f for f in files if f.parent.name in labels]
    predicted = predicted_genres(capsys, path, mine)
    agree = np.mean([predicted[str(f)] == f.parent.name for f in mine])
    assert result["labels"] == list(labels) and np.array(result["confusion"]).shape == (2, 2)
    assert result["n_tracks"] == len(mine) and result["track_accuracy"] == pytest.approx(agree)
    assert result["left_out_genres"] == sorted(set(GENRES) - set(labels))


def test_evaluate_says_which_tracks_it_scored(trained, synthetic_root, tmp_path, capsys):
    import shutil

    test_ids = json.loads((trained / "metrics.json").read_text())["data"]["test_tracks"]
    # one test track missing: the other test tracks, said so
    root = tmp_path / "copy"
    shutil.copytree(synthetic_root, root)
    gone = test_ids[0]
    (root / "genres" / gone.split(".")[0] / f"{gone}.wav").unlink()
    result = evaluate_json(capsys, trained, root)
    assert result["evaluated_on"] == "test" and result["n_tracks"] == len(test_ids) - 1
    assert f"{len(test_ids) - 1} of {len(test_ids)} (1 not in the folder)" in result["scope"]
    assert set(result["track_ids"]) == set(test_ids) - {gone}
    # the same track ids, other recordings: unseen tracks, all of them
    other = tmp_path / "other"
    synth.generate(other, clips_per_genre=5, seconds=6.0, seed=1, progress=False)
    result = evaluate_json(capsys, trained, other)
    assert result["evaluated_on"] == "unseen" and result["n_tracks"] == 50
    assert result["tracks"] == dict(test=0, trained=0, unseen=50)
    assert cli.main(["evaluate", str(trained), str(other), "--tracks", "test"]) == 2
    one_line_error(capsys, "none of its tracks is one of the model's test tracks")
    # only the tracks it was trained on: no test, unless asked for
    only_trained = tmp_path / "trained-only"
    shutil.copytree(synthetic_root, only_trained)
    (only_trained / "metadata.csv").unlink()
    for track in test_ids:
        (only_trained / "genres" / track.split(".")[0] / f"{track}.wav").unlink()
    capsys.readouterr()
    assert cli.main(["evaluate", str(trained), str(only_trained)]) == 2
    one_line_error(capsys, "--tracks all")
    result = evaluate_json(capsys, trained, only_trained, "--tracks", "all")
    assert result["tracks"] == dict(test=0, trained=40, unseen=0)
    assert "40 it was trained or early-stopped on (not a test)" in result["scope"]


def test_predict_and_evaluate_never_answer_nan(trained, synthetic_root, tmp_path, capsys):
    from genre_lab import checkpoint

    saved = checkpoint.load(trained)
    with torch_no_grad():
        for p in saved.model.parameters():
            p.mul_(1e38)  # finite weights whose scores overflow
    huge = checkpoint.save(saved.model, tmp_path / "huge.pt", settings=saved.settings)
    clip = synthetic_root / "genres" / "jazz" / "jazz.00000.wav"
    capsys.readouterr()
    assert cli.main(["predict", str(huge), str(clip), "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "not finite" in err and "jazz.00000.wav" in err and str(huge) in err
    assert cli.main(["evaluate", str(huge), str(synthetic_root), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "not finite" in err and len(err.strip().splitlines()) == 1


def torch_no_grad():
    import torch

    return torch.no_grad()


# --------------------------------------------------- features and train: nothing lost
def test_features_never_replaces_a_file_silently(synthetic_root, tmp_path, capsys):
    table = tmp_path / "features.csv"
    assert cli.main(["features", str(synthetic_root), "--out", str(table), "--quiet"]) == 0
    before = table.read_bytes()
    assert cli.main(["features", str(synthetic_root), "--out", str(table), "--quiet"]) == 2
    one_line_error(capsys, "--overwrite")
    notes = tmp_path / "notes.csv"
    notes.write_text("my,own\n1,2\n")
    assert cli.main(["features", str(synthetic_root), "--out", str(notes), "--overwrite"]) == 2
    one_line_error(capsys, "not a feature table written by genre-lab")
    assert notes.read_text() == "my,own\n1,2\n"
    assert cli.main(["features", str(synthetic_root), "--out", str(table), "--overwrite",
                     "--quiet"]) == 0
    assert table.read_bytes() == before  # same clips, same table


def test_features_on_a_full_disk_keep_the_old_table(synthetic_root, tmp_path, capsys,
                                                     monkeypatch):
    import errno

    from genre_lab import store

    table = tmp_path / "features.csv"
    assert cli.main(["features", str(synthetic_root), "--out", str(table), "--quiet"]) == 0
    before = table.read_bytes()
    real = store.atomic_write

    def disk_full_halfway(path, write, **kwargs):
        def half(f):
            f.write(b"filename,length\nblues.00000.wav,6")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, half, **kwargs)

    monkeypatch.setattr(store, "atomic_write", disk_full_halfway)
    assert cli.main(["features", str(synthetic_root), "--out", str(table), "--overwrite",
                     "--quiet"]) == 2
    one_line_error(capsys, f"{table}: No space left on device")
    assert table.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["features.csv"]


def test_features_slices_longer_than_every_clip_or_too_short(synthetic_root, tmp_path, capsys):
    out = tmp_path / "f.csv"
    assert cli.main(["features", str(synthetic_root), "--out", str(out), "--seconds", "100",
                     "--quiet"]) == 2
    one_line_error(capsys, "longer than every clip (the longest is 6.0 s)")
    assert cli.main(["features", str(synthetic_root), "--out", str(out), "--seconds", "1e-9",
                     "--quiet"]) == 2  # 6e9 slices per clip
    one_line_error(capsys, "too short: at least 1 s")
    assert not out.exists()


def test_two_feature_tables_into_one_file(synthetic_root, tmp_path, capsys):
    from filelock import FileLock

    out = tmp_path / "f.csv"
    with FileLock(str(cli_lock("features", out))):  # another genre-lab features
        assert cli.main(["features", str(synthetic_root), "--out", str(out), "--quiet"]) == 2
        one_line_error(capsys, "another genre-lab features is writing there")
    assert not out.exists()


def cli_lock(command, out):
    import hashlib

    from genre_lab import config

    (config.cache_dir() / "locks").mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    return config.cache_dir() / "locks" / f"{command}-{name}.lock"


def test_two_trainings_into_one_folder(synthetic_root, tmp_path, capsys):
    from filelock import FileLock

    out = tmp_path / "run"
    out.mkdir()
    with FileLock(str(cli_lock("train", out))):  # another genre-lab train at work
        assert train(synthetic_root, out) == 2
        one_line_error(capsys, "another genre-lab train is writing there")
    assert not (out / "model.pt").exists()
    assert train(synthetic_root, out) == 0


def test_two_synths_into_one_folder(tmp_path, capsys):
    from filelock import FileLock

    out = tmp_path / "S"
    with FileLock(str(cli_lock("synth", out))):  # another genre-lab synth at work
        assert cli.main(["synth", str(out), "--clips-per-genre", "1", "--seconds", "1",
                         "--quiet"]) == 2
        one_line_error(capsys, "another genre-lab synth is writing there")
    assert not out.exists()


def test_a_full_disk_at_the_end_of_training_keeps_the_model(synthetic_root, tmp_path, capsys,
                                                            monkeypatch):
    import errno
    import tempfile

    from genre_lab import checkpoint

    spare = tmp_path / "spare"
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    real = checkpoint.save

    def full_disk_in_run(model, path, **kwargs):
        if "run" in Path(path).parts:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(model, path, **kwargs)

    monkeypatch.setattr(checkpoint, "save", full_disk_in_run)
    assert train(synthetic_root, tmp_path / "run") == 2
    err = capsys.readouterr().err.strip()
    [kept] = spare.glob("genre-lab-cnn1d-*.pt")
    assert "No space left on device" in err and f"saved to {kept} instead" in err
    assert len(err.splitlines()) == 1
    assert checkpoint.load(kept).model.name == "cnn1d"
    assert not (tmp_path / "run" / "model.pt").exists()


def test_an_unwritable_out_is_found_before_training(synthetic_root, capsys, monkeypatch):
    import os

    from genre_lab import experiment

    folder = Path("/sys/kernel")  # read-only even for root
    if not folder.is_dir() or os.access(folder, os.W_OK) and not os.path.ismount("/sys"):
        pytest.skip("no read-only folder at /sys/kernel")
    monkeypatch.setattr(experiment, "train_model", lambda *a, **k: pytest.fail("trained"))
    assert train(synthetic_root, folder) == 2
    one_line_error(capsys, "/sys/kernel: cannot write there")


def test_overwrite_replaces_only_a_genre_lab_model(synthetic_root, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.pt").write_bytes(b"my own notes")
    assert train(synthetic_root, out, "--overwrite") == 2
    one_line_error(capsys, "not written by genre-lab train; not replacing it")
    assert (out / "model.pt").read_bytes() == b"my own notes"
    (out / "model.pt").unlink()
    (out / "metrics.json").write_text('{"my": "notes"}')
    assert train(synthetic_root, out) == 2
    one_line_error(capsys, "--overwrite")
    assert train(synthetic_root, out, "--overwrite") == 2
    one_line_error(capsys, "metrics.json: not written by genre-lab train")
    assert (out / "metrics.json").read_text() == '{"my": "notes"}'


@pytest.mark.parametrize("argv, fragment", [
    (["train", "R", "--model", "cnn1d", "--out", "o", "--lr", "inf"], "at most 10"),
    (["train", "R", "--model", "cnn1d", "--out", "o", "--lr", "1e8"], "at most 10"),
    (["train", "R", "--model", "cnn1d", "--out", "o", "--epochs", "1000000000"], "at most"),
    (["train", "R", "--model", "cnn1d", "--out", "o", "--seed", "-1"], "2**32 - 1"),
    (["train", "R", "--model", "cnn1d", "--out", "o", "--batch-size", "1e9"], "not a number"),
    (["synth", "o", "--clips-per-genre", "1000000000000000"], "at most 10000"),
    (["synth", "o", "--seconds", "inf"], "at most 600"),
    (["features", "R", "--out", "f.csv", "--seconds", "100000"], "at most 600"),
    (["predict", "m", "x.wav", "--top", "1000000000"], "at most 1000"),
])
def test_every_number_has_a_bound(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert fragment in capsys.readouterr().err


def test_the_cli_bounds_are_synths():
    assert (cli.MAX_CLIPS_PER_GENRE, cli.MAX_SECONDS) == (synth.MAX_CLIPS_PER_GENRE,
                                                          synth.MAX_SECONDS)


def test_a_diverging_training_saves_nothing(synthetic_root, tmp_path, capsys, monkeypatch):
    """Adam at the bounded rates (<= 10) did not diverge here; above them it does, and the
    run stops with one line and no model (it was saved, with NaN in metrics.json)."""
    monkeypatch.setattr(cli, "MAX_LEARNING_RATE", 1e9)
    assert cli.main(["train", str(synthetic_root), "--model", "mlp", "--out",
                     str(tmp_path / "run"), "--epochs", "3", "--lr", "1e8", "--quiet"]) == 2
    one_line_error(capsys, "training diverged at epoch")
    assert not (tmp_path / "run" / "model.pt").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_evaluate_refuses_damaged_facts_in_one_line(trained, synthetic_root, tmp_path, capsys):
    from genre_lab import checkpoint

    saved = checkpoint.load(trained)
    for data in (dict(test_tracks=5), dict(track_sha256=[1, 2])):
        path = checkpoint.save(saved.model, tmp_path / "m.pt", settings=saved.settings,
                               info=dict(data=data))
        capsys.readouterr()
        assert cli.main(["evaluate", str(path), str(synthetic_root)]) == 2
        one_line_error(capsys, "damaged checkpoint facts")


def test_predict_gives_no_answer_without_sound(trained, tmp_path, capsys):
    """A constant offset, one sample, 10 ms: each got a confident genre."""
    import soundfile as sf

    sf.write(tmp_path / "dc.wav", np.full(4 * 22050, 0.5), 22050)
    sf.write(tmp_path / "one.wav", np.array([0.5]), 22050)
    sf.write(tmp_path / "ms10.wav", 0.3 * np.sin(np.arange(220) / 3), 22050)
    capsys.readouterr()
    for name, why in (("dc.wav", "constant offset"), ("one.wav", "constant offset"),
                      ("ms10.wav", "too short to classify")):
        assert cli.main(["predict", str(trained), str(tmp_path / name)]) == 1
        out, err = capsys.readouterr()
        assert out == "" and f"{name}: " in err and why in err


def test_evaluate_of_a_checkpoint_that_records_no_tracks(trained, synthetic_root, tmp_path,
                                                         capsys):
    """It was trained on some of these tracks, for all anyone can tell: never "unseen"."""
    from genre_lab import checkpoint

    saved = checkpoint.load(trained)
    for info in ({}, dict(data="synthetic")):
        path = checkpoint.save(saved.model, tmp_path / "m.pt", settings=saved.settings,
                               info=info)
        result = evaluate_json(capsys, path, synthetic_root)
        assert result["evaluated_on"] == "all" and result["n_tracks"] == 50
        assert result["tracks"]["unknown"] == 50 and "may not be a test" in result["scope"]
        assert cli.main(["evaluate", str(path), str(synthetic_root), "--tracks", "unseen"]) == 2
        one_line_error(capsys, "does not record which tracks it was trained on")
