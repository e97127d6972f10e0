"""Transfer learning with musicnn: segment patches, embeddings in the store, probes as
checkpoints through train / evaluate / predict, and the tagger; on real clips, a probe's
held-out accuracy."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import skip_without_musicnn  # noqa: E402

skip_without_musicnn()

from conftest import shared, write_tone  # noqa: E402
from genre_lab import GENRES, audio, checkpoint, cli  # noqa: E402
from genre_lab.data import load_tracks, synth  # noqa: E402
from genre_lab.pretrained import musicnn, transfer  # noqa: E402


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    # one cache for the module: embeddings are computed once, as in a chapter
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENRE_LAB_CACHE", str(folder))
        mp.setenv("GENRE_LAB_PROFILE", "quick")
        yield folder


@pytest.fixture(scope="module")
def synthetic_root(module_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    synth.generate(root, clips_per_genre=5, seconds=6.0, seed=0, progress=False)
    return root


@pytest.fixture(scope="module")
def msd(module_cache):
    return transfer.load_model("MSD_musicnn")


def test_segments_are_musicnn_patches_of_the_whole_file(msd):
    y = np.random.default_rng(0).normal(0, 0.1, 10 * transfer.SEGMENT_SAMPLES + 5000)
    ours = transfer.segment_patches(y.astype(np.float32))
    whole, _ = musicnn.batch_data(y.astype(np.float32))
    assert ours.shape == whole.shape == (10, musicnn.N_FRAMES, musicnn.N_MELS)
    # same frame centres; only each patch's first and last frame see an edge
    assert np.array_equal(ours[:, 1:-1], whole[:, 1:-1])
    assert not np.array_equal(ours[:, 0], whole[:, 0])
    assert transfer.SETTINGS.segment_samples == transfer.SEGMENT_SAMPLES == 47872


def test_vectors_do_not_depend_on_the_batch_size(msd, monkeypatch):
    """The network runs a few segments per forward pass (for speed); any batch size gives
    the same vectors (float32 rounding), and embedding's names are transfer's."""
    from genre_lab.pretrained import embedding

    assert transfer.embed is embedding.embed and transfer.LAYERS is embedding.LAYERS
    segments = np.random.default_rng(2).normal(0, 0.1, (5, transfer.SEGMENT_SAMPLES))
    patches = transfer.segment_patches(segments.astype(np.float32))
    layers = transfer.LAYERS["musicnn"]
    by_batch = {b: embedding._vectors(msd, patches, layers, batch=b) for b in (1, 2, 5)}
    monkeypatch.setattr(embedding, "_NETWORK_BATCH", 3)
    by_batch[3] = transfer.embed_segments(msd, segments.astype(np.float32))
    for layer in layers:
        one = by_batch[1][layer]
        assert one.shape[0] == 5
        for b in (2, 3, 5):
            assert np.abs(by_batch[b][layer] - one).max() <= 1e-5 * np.abs(one).max(), (b,
                                                                                        layer)


def test_tracks_in_parallel_give_each_tracks_own_vectors_in_order(synthetic_root, msd):
    """embed runs torch.get_num_threads() tracks at a time, torch on one thread each, and
    puts torch's thread count back."""
    tracks = load_tracks(synthetic_root, progress=False).head(5)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        vectors = transfer.embed(tracks, msd, progress=False, cache=False)["max_pool"]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
    assert list(vectors.tracks) == list(tracks.track_id)
    for track_id, path in zip(tracks.track_id, tracks.path, strict=True):
        alone = transfer.embed_segments(msd, audio.segment(
            audio.load(path, sr=musicnn.SR), sr=musicnn.SR, seconds=transfer.SEGMENT_SECONDS),
            ("max_pool",))["max_pool"]
        ours = vectors.for_tracks([track_id]).X
        assert ours.shape == alone.shape == (2, 753)
        assert np.abs(ours - alone).max() <= 1e-5 * np.abs(alone).max()


def test_cached_weights_equal_the_checkpoint(msd, module_cache):
    direct = musicnn.load("MSD_musicnn").state_dict()
    assert all(torch.equal(direct[k], v) for k, v in msd.state_dict().items())
    assert list((module_cache / "arrays").glob("weights-MSD_musicnn-*.npz"))


def test_embeddings_are_cached_per_weights(synthetic_root, msd, module_cache):
    tracks = load_tracks(synthetic_root, progress=False)
    first = transfer.embed(tracks, msd, progress=False)
    assert set(first) == set(transfer.LAYERS["musicnn"])
    assert first["penultimate"].X.shape == (2 * len(tracks), 200)  # 6-s clips: 2 segments
    assert first["mean_pool"].X.shape[1] == first["max_pool"].X.shape[1] == 753
    again = transfer.embed(tracks, msd, progress=False)  # from the store, identical
    assert np.array_equal(again["penultimate"].X, first["penultimate"].X)
    entries = sorted((module_cache / "arrays").glob("embeddings-MSD_musicnn-*.npz"))
    assert len(entries) == 1
    # a changed network (fine-tuned) gets its own entry, never the original's vectors
    changed = transfer.load_model("MSD_musicnn")
    with torch.no_grad():
        changed.output.bias += 1.0
    few = tracks.head(3)
    other = transfer.embed(few, changed, progress=False)
    assert np.allclose(other["penultimate"].X, first["penultimate"].X[:6])
    assert not np.allclose(other["taggram"].X, first["taggram"].X[:6])
    assert len(sorted((module_cache / "arrays").glob("embeddings-MSD_musicnn-*.npz"))) == 2
    assert list(first["penultimate"].tracks) == list(tracks.track_id)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_a_probe_is_the_scikit_learn_model(msd, n_classes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    X = rng.normal(2, 3, (80, 200))
    y = rng.choice([1, 4, 6, 9][:n_classes], 80)  # genres 1, 4, ...: others absent
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    probe = transfer.Probe.from_sklearn(pipe, msd, "penultimate")
    logits = probe.logits(X).detach().numpy()
    assert logits.shape == (80, len(GENRES))
    present = pipe[-1].classes_
    expected = pipe.predict_proba(X)
    softmax = torch.softmax(torch.from_numpy(logits).double(), 1).numpy()
    assert np.allclose(softmax[:, present], expected, atol=1e-5)
    assert softmax[:, np.setdiff1d(np.arange(10), present)].max() < 1e-30
    assert np.array_equal(present[expected.argmax(1)], logits.argmax(1))


def test_probe_train_evaluate_predict_from_the_cli(synthetic_root, tmp_path, capsys):
    out = tmp_path / "probe"
    assert cli.main(["train", str(synthetic_root), "--model", "probe-msd", "--out", str(out),
                     "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "linear probe on MSD_musicnn's max_pool layer" in printed
    saved = checkpoint.load(out)
    assert isinstance(saved.model, transfer.Probe) and saved.settings == transfer.SETTINGS
    assert saved.model.backbone.model_name == "MSD_musicnn"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["parameters"]["trained"] == 753 * 10 + 10
    assert metrics["model"]["notice"] == transfer.MUSICNN_NOTICE  # musicnn's, readable
    assert cli.main(["evaluate", str(out), str(synthetic_root), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("segment_accuracy", "track_accuracy", "track_accuracy_vote"):
        assert result[key] == pytest.approx(metrics["test"][key], abs=1e-9), key
    # predict streams raw segments through the whole probe: the same as the cached vectors
    tracks = load_tracks(synthetic_root, progress=False)
    path = tracks.path.iloc[0]
    assert cli.main(["predict", str(out), str(path), "--json", "--top", "10"]) == 0
    top = json.loads(capsys.readouterr().out)["top"]
    vectors = transfer.embed(tracks, saved.model.backbone, progress=False)["max_pool"]
    logits = saved.model.logits(vectors.for_tracks([tracks.track_id.iloc[0]]).X).mean(0)
    probs = torch.softmax(logits, 0).detach().numpy()
    assert {t["genre"]: t["probability"] for t in top} == pytest.approx(
        {g: float(p) for g, p in zip(GENRES, probs, strict=True)}, abs=1e-5)


def test_split_all_is_for_probes_and_evaluate_says_training_tracks(synthetic_root, tmp_path,
                                                                    capsys):
    out = tmp_path / "all"
    assert cli.main(["train", str(synthetic_root), "--model", "probe-msd", "--out", str(out),
                     "--split", "all", "--quiet"]) == 0
    assert "no test tracks" in capsys.readouterr().out
    # every track is a training track: no test unless asked for (the CLI's --tracks)
    assert cli.main(["evaluate", str(out), str(synthetic_root)]) == 2
    assert "add --tracks all" in capsys.readouterr().err
    assert cli.main(["evaluate", str(out), str(synthetic_root), "--tracks", "all"]) == 0
    assert "trained or early-stopped on (not a test)" in capsys.readouterr().out
    assert cli.main(["train", str(synthetic_root), "--model", "cnn1d", "--out",
                     str(tmp_path / "x"), "--split", "all", "--quiet"]) == 2
    assert "for probes only" in capsys.readouterr().err


def test_tag_files_and_name_bad_ones(module_cache, tmp_path, capsys):
    tone = write_tone(tmp_path / "tone.wav", seconds=7.0, sr=44100, channels=2)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    assert cli.main(["tag", str(tone), str(bad), "--json", "--top", "3"]) == 1
    captured = capsys.readouterr()
    row = json.loads(captured.out)
    assert row["model"] == "MTT_musicnn" and len(row["top"]) == 3
    assert all(t["tag"] in musicnn.MTT_TAGS and 0 < t["probability"] < 1 for t in row["top"])
    # the file's tags are the mean taggram of its segments
    y = audio.load(tone, sr=musicnn.SR)
    mtt = transfer.load_model("MTT_musicnn")
    mean = transfer.embed_segments(mtt, audio.segment(y, sr=musicnn.SR,
                                                      seconds=transfer.SEGMENT_SECONDS)
                                   )["taggram"].mean(0)
    assert row["top"][0]["probability"] == pytest.approx(float(mean.max()), abs=1e-6)
    assert "bad.wav" in captured.err and "1 of 2 file(s)" in captured.err
    assert "Traceback" not in captured.err
    import soundfile as sf

    sf.write(tmp_path / "silence.wav", np.zeros(3 * 16000), 16000)  # no tags to hear
    assert cli.main(["tag", str(tmp_path / "silence.wav")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "silence.wav" in captured.err and "no signal" in captured.err


def _float_noise(path, peak, seconds=7.0, sr=22050):
    import soundfile as sf

    y = np.random.default_rng(0).uniform(-1, 1, int(seconds * sr)) * peak
    sf.write(str(path), y.astype(np.float32), sr, subtype="FLOAT")
    return path


def test_no_nan_probability_leaves_tag_or_a_probes_predict(msd, module_cache, tmp_path, capsys):
    """Float files of huge samples gave NaN probabilities in ``tag`` and ``predict``: samples
    near 1e30 are refused (one line naming the file), loud ones up to the bound give finite
    probabilities."""
    garbage = _float_noise(tmp_path / "garbage.wav", 1e30)
    loud = _float_noise(tmp_path / "loud.wav", audio.MAX_PEAK)
    mtt = transfer.load_model("MTT_musicnn")
    with pytest.raises(audio.AudioError, match="garbage.wav: samples reach"):
        transfer.tag_file(garbage, mtt)
    assert all(np.isfinite(p) and 0 <= p <= 1 for _, p in transfer.tag_file(loud, mtt, top=50))
    assert cli.main(["tag", str(garbage), str(loud), "--json", "--top", "50"]) == 1
    captured = capsys.readouterr()
    assert all(np.isfinite(t["probability"]) for t in json.loads(captured.out)["top"])
    assert "garbage.wav: samples reach" in captured.err and "Traceback" not in captured.err
    # a probe through predict: the same audio rules
    probe = transfer.Probe("MSD_musicnn", "penultimate")
    probe.backbone.load_state_dict(msd.state_dict())
    path = checkpoint.save(probe, tmp_path / "probe.pt", settings=transfer.SETTINGS)
    assert cli.main(["predict", str(path), str(garbage), str(loud), "--json", "--top", "10"]) == 1
    captured = capsys.readouterr()
    top = json.loads(captured.out)["top"]
    assert all(np.isfinite(t["probability"]) for t in top)
    assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-5)
    assert "garbage.wav: samples reach" in captured.err


def test_unknown_layer_and_backbone_are_named():
    with pytest.raises(ValueError, match="has no layer 'pool5'"):
        transfer.Probe("MSD_musicnn", "pool5")
    with pytest.raises(ValueError, match="unknown backbone"):
        transfer.Probe("VGGish")


def test_a_probe_checkpoint_needs_no_wheel_and_is_verified(msd, tmp_path):
    probe = transfer.Probe("MSD_musicnn", "penultimate")
    probe.backbone.load_state_dict(msd.state_dict())
    path = checkpoint.save(probe, tmp_path / "p.pt", settings=transfer.SETTINGS)
    loaded = checkpoint.load(path).model
    assert loaded.spec() == probe.spec() and loaded.head.in_features == 200
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                 probe.state_dict().values(), strict=True))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(checkpoint.CheckpointError, match="p.pt"):
        checkpoint.load(path)


def test_a_probe_checkpoint_carries_musicnns_notice(tmp_path):
    """A probe checkpoint is a copy of musicnn's weights: its ISC licence asks for the
    copyright and permission notice of the wheel's LICENSE.md in every copy."""
    path = checkpoint.save(transfer.Probe("MTT_vgg", "pool5"), tmp_path / "p.pt",
                           settings=transfer.SETTINGS)
    raw = torch.load(path, weights_only=True)
    assert raw["spec"]["notice"] == transfer.MUSICNN_NOTICE
    assert checkpoint.load(path).model.spec()["notice"] == transfer.MUSICNN_NOTICE
    wheel = importlib.metadata.distribution("musicnn").read_text("LICENSE.md")
    assert "Universitat Pompeu Fabra 2019" in wheel and "ISC" in transfer.MUSICNN_NOTICE
    assert " ".join(wheel.split()) in " ".join(transfer.MUSICNN_NOTICE.split())


def test_probe_on_real_clips_beats_training_from_scratch(module_cache):
    """The 50 real GTZAN clips (5 per genre, mostly one artist per genre): cross-validated
    over tracks (5 folds x 4 shufflings), the default probe (MSD musicnn, max_pool) reaches
    0.85 +- 0.11 track accuracy (chapter 9 measures the same)."""
    from sklearn.model_selection import StratifiedKFold

    tracks = load_tracks(shared("gtzan-sample"), progress=False)
    accuracies = []
    for repeat in range(2):
        folds = StratifiedKFold(5, shuffle=True, random_state=repeat)
        for _, test in folds.split(tracks, tracks.genre):
            split = pd.Series("train", index=tracks.index)
            split.iloc[test] = "test"
            run = transfer.train_probe(tracks.assign(split=split.values), Cs=(1.0,),
                                       progress=False)
            accuracies.append(run.result["track_accuracy"])
    print(f"real clips, probe-msd: {np.mean(accuracies):.3f} +- {np.std(accuracies):.3f}")
    assert np.mean(accuracies) >= 0.70


def test_without_the_wheel_the_cli_says_the_install_command(monkeypatch, tmp_path, capsys):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    monkeypatch.setenv("GENRE_LAB_CACHE", str(tmp_path / "cache"))
    tone = write_tone(tmp_path / "tone.wav", seconds=4.0)
    assert cli.main(["tag", str(tone)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install --no-deps musicnn==0.1.0" in err
