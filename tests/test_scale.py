"""genre_lab.scale: the pipeline on Ray (one local Ray instance with 2 CPUs for the module)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray", reason="Ray is optional: pip install 'genre-lab[scale]'")
pytestmark = pytest.mark.usefixtures("one_ray_at_a_time")  # not beside appendix 10's Ray

from genre_lab import config, scale  # noqa: E402
from genre_lab.data import synth  # noqa: E402
from genre_lab.data.gtzan import track_table  # noqa: E402
from genre_lab.features.segments import segment_features  # noqa: E402

SETTINGS = config.get_profile("quick").features


@pytest.fixture(scope="module")
def _ray_stopped_after_module():
    yield
    import ray

    ray.shutdown()


@pytest.fixture
def ray_local(_ray_stopped_after_module):
    """A local Ray with 2 CPUs, started once for the module (again after the cluster test)."""
    scale.start(workers=2)


def test_a_missed_start_up_is_tried_again_then_said_in_one_line(monkeypatch):
    """Ray's own start-up limit, missed on a busy machine: cleaned up and tried again, then
    one line that says why and what to do (Ray's traceback is not chained)."""
    import ray

    tries, stops = [], []

    def init(**kwargs):
        tries.append(kwargs)
        raise Exception("The current node timed out during startup. This could happen "
                        "because some of the raylet failed to startup or the GCS has become "
                        "overloaded.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: stops.append(1))
    monkeypatch.setattr(scale.time, "sleep", lambda seconds: None)
    with pytest.raises(scale.RayStartError, match="missed Ray's start-up limit 3 times") as e, \
            pytest.warns(RuntimeWarning, match="start-up limit") as retries:
        scale.start(workers=2)
    assert len([w for w in retries if "start-up limit" in str(w.message)]) == 2  # each retry
    assert len(tries) == len(stops) == 3 and tries[0]["num_cpus"] == 2
    assert "\n" not in str(e.value) and "load average" in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__
    # any other failure is Ray's own error, at once
    monkeypatch.setattr(ray, "init", lambda **kwargs: (_ for _ in ()).throw(ValueError("bad")))
    with pytest.raises(ValueError, match="bad"):
        scale.start(workers=2)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory):
    """20 synthetic 4-s clips (2 a genre): 1 segment of 3 s each."""
    root = tmp_path_factory.mktemp("synth")
    synth.generate(root, clips_per_genre=2, seconds=4, progress=False, n_jobs=1)
    return track_table(root)


def rows(result) -> set[tuple[str, int]]:
    seg = scale.read_segments(result.path)
    return set(zip(seg["track_id"].tolist(), seg["segment"].tolist(), strict=True))


def test_features_equal_segment_features(ray_local, tracks, tmp_path):
    out = scale.featurize(tracks, tmp_path / "out", settings=SETTINGS, tracks_per_task=4)
    got = scale.read_segments(out.path)
    want = segment_features(tracks, SETTINGS, progress=False, cache=False)["logmel"]
    order = np.lexsort((np.arange(len(want)), want.track_id))  # by track, then time
    assert out.skipped == [] and out.tracks == len(tracks)
    np.testing.assert_array_equal(got["track_id"], want.track_id[order])
    np.testing.assert_array_equal(got["label"], want.label[order])
    assert np.allclose(got["features"], want.X[order], atol=1e-5)


def test_bad_file_is_skipped_and_reported(ray_local, tracks, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    table = tracks.head(3).copy()
    table.loc[1, "path"] = str(bad)
    out = scale.featurize(table, tmp_path / "out", settings=SETTINGS)
    assert [s["track_id"] for s in out.skipped] == [table.track_id[1]]
    assert "broken.wav" in out.skipped[0]["error"]
    assert {t for t, _ in rows(out)} == {table.track_id[0], table.track_id[2]}


def test_an_earlier_jobs_folder_is_refused_and_kept(ray_local, tracks, tmp_path):
    first = scale.featurize(tracks.head(2), tmp_path / "out", settings=SETTINGS)
    before = sorted(p.name for p in first.segments_path.iterdir())
    with pytest.raises(FileExistsError, match="earlier job"):
        scale.featurize(tracks.head(3), tmp_path / "out", settings=SETTINGS)
    assert sorted(p.name for p in first.segments_path.iterdir()) == before
    left = tmp_path / "broken-run"  # a job that died before writing: its notes stay
    (left / "skipped").mkdir(parents=True)
    (left / "skipped" / "x.attempts").write_text("1")
    with pytest.raises(FileExistsError, match="skipped"):
        scale.featurize(tracks.head(1), left, settings=SETTINGS)


def test_worker_killed_mid_job_loses_and_doubles_no_row(ray_local, tracks, tmp_path):
    victim = tracks.track_id[len(tracks) // 2]
    expected = rows(scale.featurize(tracks, tmp_path / "clean", settings=SETTINGS,
                                    tracks_per_task=2))
    out = scale.featurize(tracks, tmp_path / "out", settings=SETTINGS, tracks_per_task=2,
                          _crash_on=(victim, 1))
    crashes = out.path / "skipped" / f"{victim}.crash-1"
    assert crashes.exists()  # a worker process did die (os._exit) mid-job
    assert out.skipped == []
    seg = scale.read_segments(out.path)
    pairs = list(zip(seg["track_id"].tolist(), seg["segment"].tolist(), strict=True))
    assert len(pairs) == len(set(pairs))  # no duplicate
    assert set(pairs) == expected  # none lost
    assert not list((out.path / "skipped").glob("*.attempts"))


def test_file_that_kills_every_worker_is_given_up(ray_local, tracks, tmp_path):
    victim = tracks.track_id[1]
    out = scale.featurize(tracks.head(4), tmp_path / "out", settings=SETTINGS,
                          tracks_per_task=4, max_attempts=2, _crash_on=(victim, 99))
    assert [s["track_id"] for s in out.skipped] == [victim]
    assert "died on this file 2 times" in out.skipped[0]["error"]
    assert sorted(p.name for p in (out.path / "skipped").glob("*.crash-*")) == [
        f"{victim}.crash-1", f"{victim}.crash-2"]
    assert {t for t, _ in rows(out)} == set(tracks.track_id[:4]) - {victim}
    with pytest.raises(ValueError, match="max_attempts"):
        scale.featurize(tracks.head(1), tmp_path / "never", max_attempts=0)


def test_torch_trainer_ddp_two_workers(ray_local, tracks, tmp_path):
    from genre_lab.train import TrainConfig

    out = scale.featurize(tracks, tmp_path / "out", settings=SETTINGS)
    ids = tracks.track_id.tolist()
    model, history = scale.train(out.path, ids[::2], ids[1::2], model="lenet5", workers=2,
                                 config=TrainConfig(epochs=1, batch_size=4),
                                 storage=tmp_path / "runs", in_memory=False)  # streamed
    assert len(history["train_loss"]) == 1 and len(history["val_accuracy"]) == 1
    assert all(np.isfinite(history["train_loss"]))
    # the standardisation is the training rows' own (as fit_normalization computes it)
    seg = scale.read_segments(out.path)
    x = seg["features"][np.isin(seg["track_id"], ids[::2])]
    assert np.allclose(model.norms[0].mean.numpy()[:, 0], x.mean(axis=(0, 2)), atol=1e-3)
    assert np.allclose(model.norms[0].std.numpy()[:, 0], x.std(axis=(0, 2), ddof=1), rtol=1e-3)


def test_musicnn_embeddings_equal_transfer(ray_local, tracks, tmp_path):
    from conftest import skip_without_musicnn

    skip_without_musicnn()
    from genre_lab import audio
    from genre_lab.pretrained import transfer

    table = tracks.head(2).copy()
    table.loc[1, "path"] = str(tmp_path / "missing.wav")  # a whole block of bad files
    out = scale.featurize(table.head(1), tmp_path / "one", kind="musicnn", layer="max_pool")
    bad = scale.featurize(table.tail(1), tmp_path / "bad", kind="musicnn", layer="max_pool")
    got = scale.read_segments(out.path)
    model = transfer.load_model("MSD_musicnn")
    y = audio.load(table.path[0], sr=transfer.SETTINGS.sample_rate)
    segments = audio.segment(y, sr=transfer.SETTINGS.sample_rate,
                             seconds=transfer.SEGMENT_SECONDS)
    want = transfer.embed_segments(model, segments, ["max_pool"])["max_pool"]
    assert np.allclose(got["features"], want, atol=1e-4)
    assert len(bad.skipped) == 1 and len(scale.read_segments(bad.path)["segment"]) == 0


def test_featurize_reads_an_fma_folder(ray_local, tmp_path):
    """The same calls on FMA's layout (test_fma's tiny folder: 4 good MP3 clips of 30 s)."""
    from test_fma import make_fma

    from genre_lab.data import fma, gtzan

    with pytest.warns(gtzan.BadAudioWarning):  # its empty, cut and tag-only files
        tracks = fma.load_tracks(make_fma(tmp_path / "fma"), "small")
    out = scale.featurize(tracks, tmp_path / "out", settings=SETTINGS)
    got = scale.read_segments(out.path)
    assert out.skipped == [] and sorted(set(got["track_id"])) == sorted(tracks.track_id)
    genres = tracks.attrs["genres"]  # FMA's genre names, not GTZAN's
    labels = dict(zip(got["track_id"], got["label"], strict=True))
    assert {t: genres[y] for t, y in labels.items()} == dict(
        zip(tracks.track_id, tracks.genre, strict=True))
    want = segment_features(tracks, SETTINGS, progress=False, cache=False)["logmel"]
    assert len(got["segment"]) == len(want.X) == 10 * len(tracks)  # 30 s: 10 segments


def _reads(cmdline, text: str) -> bool:
    try:
        return text.encode() in cmdline.read_bytes()
    except OSError:
        return False


def test_the_same_code_on_a_cluster(tracks, tmp_path):
    """A one-node cluster started as on a real one (`ray start --head`), joined by address
    from a separate driver: its workers get this checkout's genre_lab (scale.start ships
    it), and featurize writes the rows a local run writes."""
    import os
    import secrets
    import shutil
    import socket
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    import ray

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_cli = Path(sys.executable).with_name("ray")
    # the cluster's token authentication, as a client of a real one needs it (Ray 2.60)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    # a short session folder: Ray's Unix sockets live there (paths of at most 107 bytes)
    session = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    log = tmp_path / "head.log"
    ray.shutdown()  # the local Ray of the tests above: one Ray at a time on 2 cores

    def start_head():
        return subprocess.Popen(  # stopped by terminate(), never `ray stop` (stops every Ray)
            [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
             "--node-ip-address=127.0.0.1", "--include-dashboard=false",
             "--disable-usage-stats", f"--temp-dir={session}"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=tmp_path, env=env)

    head = start_head()
    try:
        tracks.head(4).to_csv(tmp_path / "tracks.csv", index=False)
        driver = (
            "import sys, pandas as pd\n"
            "from genre_lab import config, scale\n"
            "scale.start(address=sys.argv[1])\n"
            "out = scale.featurize(pd.read_csv(sys.argv[2], dtype={'track_id': str}), "
            "sys.argv[3], settings=config.get_profile('quick').features)\n"
            "print(len(out.skipped))\n")
        # the head takes a few seconds; on a busy machine it can miss Ray's start-up limit
        # (see scale.START_ATTEMPTS), and a person would run `ray start` again
        for attempt in range(1, scale.START_ATTEMPTS + 1):
            deadline = time.monotonic() + 120
            while "Ray runtime started" not in log.read_text() and head.poll() is None:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
            if head.poll() is None:
                break
            assert "timed out during startup" in log.read_text(), log.read_text()[-3000:]
            assert attempt < scale.START_ATTEMPTS, log.read_text()[-3000:]
            head = start_head()
        run = subprocess.run([sys.executable, "-c", driver, f"127.0.0.1:{port}",
                              str(tmp_path / "tracks.csv"), str(tmp_path / "out")],
                             capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.split()[-1] == "0"
    finally:
        head.terminate()
        head.wait(timeout=60)
        # and whatever a failed `ray start` left running: every process of this session folder
        scale._stop({int(cmd.parent.name) for cmd in Path("/proc").glob("[0-9]*/cmdline")
                     if _reads(cmd, session)})
        shutil.rmtree(session, ignore_errors=True)
    got = scale.read_segments(tmp_path / "out")
    want = segment_features(tracks.head(4), SETTINGS, progress=False, cache=False)["logmel"]
    order = np.lexsort((np.arange(len(want)), want.track_id))
    np.testing.assert_array_equal(got["track_id"], want.track_id[order])
    assert np.allclose(got["features"], want.X[order], atol=1e-5)
