"""The synthetic mini-GTZAN: layout, determinism, signal sanity, realism and difficulty."""

from __future__ import annotations

import dataclasses
import errno
import json
import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genre_lab import GENRES, cli
from genre_lab.config import SAMPLE_RATE
from genre_lab.data import synth
from genre_lab.data.synth import dataset

SR = SAMPLE_RATE


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """Four clips per genre (one per artist), 2 s each."""
    root = tmp_path_factory.mktemp("synth-small")
    table = synth.generate(root, clips_per_genre=4, seconds=2.0, seed=0, progress=False)
    return root, table


# ---- layout and format ---------------------------------------------------------------------


def test_layout_and_format(small_set):
    root, table = small_set
    expected = {f"genres/{g}/{g}.{i:05d}.wav" for g in GENRES for i in range(4)}
    wavs = {p.as_posix() for p in _files(root) if p.suffix == ".wav"}
    assert wavs == expected
    assert not [p for p in _files(root) if p.name.endswith(".tmp")]
    for rel in sorted(expected)[::7]:
        info = sf.info(str(root / rel))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (
            SR, 1, "PCM_16", "WAV")
        assert info.frames == round(2.0 * SR)


def test_metadata(small_set):
    root, table = small_set
    on_disk = pd.read_csv(root / "metadata.csv")
    assert list(on_disk.columns[:4]) == ["track_id", "genre", "artist", "seed"]
    assert len(on_disk) == len(table) == 40
    assert list(on_disk.track_id) == [f"{g}.{i:05d}" for g in GENRES for i in range(4)]
    assert list(on_disk.genre) == [g for g in GENRES for _ in range(4)]
    for column in ("tempo", "key", "mode", "progression", "drive", "brightness", "noise_db",
                   "swing", "loudness"):
        assert column in on_disk.columns
    pd.testing.assert_frame_equal(on_disk[["track_id", "genre", "artist", "seed"]],
                                  table[["track_id", "genre", "artist", "seed"]])
    # The seed column is the clip's own seed: SeedSequence([seed, genre_index, index]).
    state = np.random.SeedSequence([0, GENRES.index("jazz"), 3]).generate_state(1)[0]
    assert on_disk.set_index("track_id").loc["jazz.00003", "seed"] == state


def test_artists_are_balanced_and_unique(small_set):
    _, table = small_set
    per_genre = table.groupby("genre").artist.nunique()
    assert (per_genre == synth.ARTISTS_PER_GENRE).all()
    assert table.artist.nunique() == len(GENRES) * synth.ARTISTS_PER_GENRE
    assert table.groupby("artist").genre.nunique().max() == 1
    # The artist is a function of the clip index: clip 4 has the artist of clip 0.
    assert synth.render_clip("rock", index=4, seconds=1)[1]["artist"] == table.set_index(
        "track_id").loc["rock.00000", "artist"]


def test_recipes_are_documented_presets():
    assert list(synth.RECIPES) == list(GENRES)
    for recipe in synth.RECIPES.values():
        assert len(recipe.artists) == synth.ARTISTS_PER_GENRE
        lo, hi = recipe.tempo
        assert 50 <= lo < hi <= 200
    assert synth.RECIPES["classical"].drums == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        synth.RECIPES["rock"].tempo = (1, 2)


def test_params_come_from_the_artists_recipe():
    for genre in ("metal", "jazz", "reggae"):
        for index in range(8):
            _, p = synth.render_clip(genre, seed=3, index=index, seconds=1)
            recipe = synth.RECIPES[genre].for_artist(index % synth.ARTISTS_PER_GENRE)
            assert recipe.tempo[0] <= p["tempo"] <= recipe.tempo[1]
            assert recipe.loudness[0] <= p["loudness"] <= recipe.loudness[1]
            assert p["progression"] in recipe.progressions
            assert p["artist"] == recipe.artists[index % 4].name


# ---- determinism ---------------------------------------------------------------------------


def test_generation_is_byte_identical_in_one_process_or_several(tmp_path):
    a = synth.generate(tmp_path / "a", clips_per_genre=2, seconds=3.0, seed=5, progress=False,
                       n_jobs=1)
    b = synth.generate(tmp_path / "b", clips_per_genre=2, seconds=3.0, seed=5, progress=False,
                       n_jobs=2)
    pd.testing.assert_frame_equal(a, b)
    files = _files(tmp_path / "a")
    assert files == _files(tmp_path / "b") and len(files) == 22  # 20 clips, metadata, record
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_clip_does_not_depend_on_how_many_are_generated(tmp_path):
    synth.generate(tmp_path / "two", clips_per_genre=2, seconds=2.0, seed=1, progress=False)
    synth.generate(tmp_path / "three", clips_per_genre=3, seconds=2.0, seed=1, progress=False)
    for genre in GENRES:
        for i in range(2):
            rel = f"genres/{genre}/{genre}.{i:05d}.wav"
            assert (tmp_path / "two" / rel).read_bytes() == (tmp_path / "three" / rel).read_bytes()
    # ... nor on the order in which clips are rendered.
    late, _ = synth.render_clip("pop", seed=1, index=2, seconds=2.0)
    early = sf.read(str(tmp_path / "three/genres/pop/pop.00002.wav"), dtype="int16")[0]
    assert np.array_equal(np.round(late.astype(np.float64) * 32767).astype(np.int16), early)


def test_seed_and_index_change_the_audio():
    y0, p0 = synth.render_clip("disco", seed=0, index=0, seconds=2.0)
    y1, p1 = synth.render_clip("disco", seed=1, index=0, seconds=2.0)
    y2, _ = synth.render_clip("disco", seed=0, index=4, seconds=2.0)  # same artist, new clip
    assert p0["seed"] != p1["seed"]
    assert np.abs(y0 - y1).max() > 0.05 and np.abs(y0 - y2).max() > 0.05


# ---- signal sanity -------------------------------------------------------------------------


@pytest.mark.parametrize("genre", GENRES)
def test_signal_is_clean(genre):
    seconds = 4.3
    y, p = synth.render_clip(genre, seed=2, index=1, seconds=seconds)
    assert y.dtype == np.float32 and y.ndim == 1 and y.size == round(seconds * SR)
    assert np.isfinite(y).all()
    assert np.abs(y).max() <= 0.99
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    assert rms > 0.01  # not silent
    assert abs(float(y.mean())) < 0.01 * rms + 1e-4  # no DC
    # Within a factor of the loudness target (the limiter may shave a little off).
    assert 0.6 * p["loudness"] < rms < 1.2 * p["loudness"]
    # No hard clipping: hardly any samples sit at the peak value.
    assert np.mean(np.abs(y) > 0.985 * np.abs(y).max()) < 0.001
    # Clip edges fade in and out (no click where the excerpt starts or stops).
    assert y[0] == 0.0 and y[-1] == 0.0 and np.abs(y[:20]).max() < 0.05 * np.abs(y).max()


def test_other_sample_rates_and_lengths():
    y, _ = synth.render_clip("jazz", seconds=1.5, sr=16000)
    assert y.size == 24000 and np.isfinite(y).all() and np.abs(y).max() <= 0.99
    y, _ = synth.render_clip("metal", seconds=2.00002, sr=44100)
    assert y.size == round(2.00002 * 44100)


# ---- argument validation -------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(genre="polka"), "unknown genre"),
    (dict(genre="rock", seconds=0.5), "seconds"),
    (dict(genre="rock", seconds=float("nan")), "seconds"),
    (dict(genre="rock", seed=-1), "seed"),
    (dict(genre="rock", seed=1.5), "seed"),
    (dict(genre="rock", index=-2), "index"),
    (dict(genre="rock", sr=1000), "sr"),
])
def test_render_clip_rejects_bad_arguments(kwargs, match):
    genre = kwargs.pop("genre")
    with pytest.raises(ValueError, match=match):
        synth.render_clip(genre, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(clips_per_genre=0), "clips_per_genre"),
    (dict(clips_per_genre=2.5), "clips_per_genre"),
    (dict(seconds=0), "seconds"),
    (dict(seconds="30"), "seconds"),
    (dict(seed=-3), "seed"),
    (dict(clips_per_genre=10_001), "clips_per_genre must be <= 10,000"),
    (dict(seconds=600.5), "seconds must be <= 600"),
])
def test_generate_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        synth.generate(tmp_path / "x", progress=False, **kwargs)
    assert not (tmp_path / "x").exists()  # nothing written before validation


# ---- writing into a folder that already holds a set -----------------------------------------


def _contents(root):
    return {rel: (root / rel).read_bytes() for rel in _files(root)}


def _synth_cli(capsys, root, *extra):
    """``genre-lab synth ROOT ...`` (one clip of 1 s per genre): (exit status, stderr)."""
    capsys.readouterr()
    status = cli.main(["synth", str(root), "--clips-per-genre", "1", "--seconds", "1",
                       "--quiet", *extra])
    return status, capsys.readouterr().err.strip()


def _one_line(err, *fragments):
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def _fake_gtzan(root, suffix=".au"):
    """A real-looking GTZAN: a clip per genre (named as synth names its own), metadata.csv."""
    for i, genre in enumerate(GENRES):
        path = root / "genres" / genre / f"{genre}.00000{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.full(2205, i / 100), SR, format=suffix[1:].upper(),
                 subtype="PCM_16")
    (root / "metadata.csv").write_text("track_id,artist\nblues.00000,John Lee Hooker\n")
    return _contents(root)


@pytest.mark.parametrize("suffix", [".au", ".wav"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_cli_synth_never_touches_a_real_gtzan(tmp_path, capsys, suffix, overwrite):
    # The adversarial run: --overwrite deleted every real clip; without it, .au clips were
    # not refused and metadata.csv was overwritten.
    root = tmp_path / "GTZAN"
    before = _fake_gtzan(root, suffix)
    status, err = _synth_cli(capsys, root, *overwrite)
    assert status == 2
    _one_line(err, f"error: {root}: ", "genre-lab synth did not write", "empty folder")
    assert "earlier" not in err
    assert _contents(root) == before  # byte for byte, nothing added


@pytest.mark.parametrize("name", ["metadata.csv", "extra/take.mp3", "genres/rock/x.FLAC",
                                  "genres/jazz/jazz.00000.ogg", "a.opus"])
def test_cli_synth_refuses_any_audio_or_metadata_it_did_not_write(tmp_path, capsys, name):
    root = tmp_path / "mine"
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(b"not from genre-lab")
    (root / "notes.txt").write_text("kept")
    before = _contents(root)
    for extra in ([], ["--overwrite"]):
        status, err = _synth_cli(capsys, root, *extra)
        assert status == 2
        _one_line(err, str(root / name), "did not write")
        assert _contents(root) == before


def test_cli_synth_earlier_run_needs_overwrite_which_replaces_only_its_files(tmp_path, capsys):
    root = tmp_path / "set"
    assert _synth_cli(capsys, root, "--seed", "0")[0] == 0
    record = json.loads((root / dataset.RECORD).read_text())["files"]
    assert set(record) == {"metadata.csv"} | {f"genres/{g}/{g}.00000.wav" for g in GENRES}
    assert not list(root.rglob("*.tmp")) and not (root / dataset.JOURNAL).exists()
    rock = root / "genres" / "rock"
    mine = [root / "README.md", rock / "notes.txt", rock / "rock.00000.wav.bak"]
    for path in mine:
        path.write_text("mine")
    before = _contents(root)
    status, err = _synth_cli(capsys, root, "--seed", "1")
    assert status == 2
    _one_line(err, f"{root}: ", "earlier genre-lab synth run", "--overwrite")
    assert _contents(root) == before
    status, err = _synth_cli(capsys, root, "--seed", "1", "--overwrite")
    assert status == 0, err
    assert all(path.read_text() == "mine" for path in mine)
    fresh = tmp_path / "fresh"
    assert _synth_cli(capsys, fresh, "--seed", "1")[0] == 0
    ours = _contents(fresh)
    assert {rel: data for rel, data in _contents(root).items() if rel in ours} == ours
    assert set(_contents(root)) == set(ours) | {p.relative_to(root) for p in mine}


def test_cli_synth_overwrite_refuses_a_clip_changed_since(tmp_path, capsys):
    root = tmp_path / "set"
    assert _synth_cli(capsys, root)[0] == 0
    clip = root / "genres" / "pop" / "pop.00000.wav"
    data = bytearray(clip.read_bytes())
    data[-100:] = bytes(100)  # the user's edit: same size, other samples
    clip.write_bytes(bytes(data))
    before = _contents(root)
    status, err = _synth_cli(capsys, root, "--overwrite")
    assert status == 2
    _one_line(err, str(clip), "changed since")
    assert _contents(root) == before


def test_interrupted_run_is_recognised_as_an_earlier_run(tmp_path, monkeypatch):
    root = tmp_path / "set"
    calls = []
    real = dataset.render_clip

    def render_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset, "render_clip", render_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        synth.generate(root, clips_per_genre=1, seconds=1.0, progress=False, n_jobs=1)
    monkeypatch.undo()
    assert len(list(root.rglob("*.wav"))) == 4 and (root / dataset.JOURNAL).exists()
    with pytest.raises(FileExistsError, match="4 files from an earlier genre-lab synth run"):
        synth.generate(root, clips_per_genre=1, seconds=1.0, progress=False, n_jobs=1)
    synth.generate(root, clips_per_genre=1, seconds=1.0, progress=False, n_jobs=1,
                   overwrite=True)
    assert len(list(root.rglob("*.wav"))) == 10 and not (root / dataset.JOURNAL).exists()


@pytest.mark.parametrize("argv, bound", [
    (["--clips-per-genre", "1000000000000000"], ("10,000", "10000")),
    (["--seconds", "1e9"], ("600",)),
])
def test_cli_synth_bounds_are_checked_before_anything_is_written(tmp_path, capsys, argv,
                                                                  bound):
    # The adversarial run: memory grew ~180 MB/s with no output. generate() refuses (its
    # ValueError, test_generate_rejects_bad_arguments); the CLI may refuse before it.
    root = tmp_path / "huge"
    start = time.perf_counter()
    try:
        status = cli.main(["synth", str(root), "--quiet", *argv])
    except SystemExit as exit:  # argparse's own check
        status = exit.code
    assert status == 2 and time.perf_counter() - start < 5
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(("error: ", "genre-lab synth: error: ")), last
    assert any(b in last for b in bound), last
    assert not root.exists()


def test_cli_synth_checks_free_space_before_writing(tmp_path, capsys, monkeypatch):
    root = tmp_path / "set"
    (root / "keep.txt").parent.mkdir()
    (root / "keep.txt").write_text("mine")
    monkeypatch.setattr(dataset.shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=10**12, used=10**12, free=10**6))
    status = cli.main(["synth", str(root), "--quiet"])  # 1000 clips of 30 s: 1.3 GB
    assert status == 2
    _one_line(capsys.readouterr().err.strip(), f"{root}: the set needs 1.32 GB", "0.00 GB")
    assert _files(root) == [Path("keep.txt")]


def test_cli_synth_free_space_refusal_removes_the_folder_it_made(tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.setattr(dataset.shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=10**12, used=10**12, free=10**3))
    status, err = _synth_cli(capsys, tmp_path / "new" / "set")
    assert status == 2
    _one_line(err, f"{tmp_path / 'new' / 'set'}: the set needs")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["file", "sys"])
def test_cli_synth_unwritable_place_says_so_not_free_space(tmp_path, capsys, monkeypatch, where):
    # The adversarial run: `genre-lab synth /sys/kernel/x` said the disk had too little space.
    if where == "sys":
        root = Path("/sys/kernel/genre-lab-x")
        if not sys.platform.startswith("linux") or not Path("/sys/kernel").is_dir():
            pytest.skip("no /sys")
    else:  # a place nothing can be created in, even for root: under a file
        (tmp_path / "file.txt").write_text("mine")
        root = tmp_path / "file.txt" / "x"
    monkeypatch.setattr(dataset.shutil, "disk_usage",  # what /sys reports
                        lambda path: SimpleNamespace(total=0, used=0, free=0))
    status, err = _synth_cli(capsys, root)
    assert status == 2
    _one_line(err, f"error: {root}: cannot write there")
    assert "free" not in err and not root.exists()
    if where == "file":
        assert _contents(tmp_path) == {Path("file.txt"): b"mine"}


def test_cli_synth_never_touches_a_file_named_like_a_temporary_file(tmp_path, capsys):
    # The adversarial run: synth's temporary files had fixed names, so a user's
    # blues.00000.wav.tmp was overwritten, then renamed away.
    root = tmp_path / "set"
    blues = root / "genres" / "blues"
    blues.mkdir(parents=True)
    for name in ("blues.00000.wav.tmp", "metadata.csv.tmp"):
        (blues / name).write_bytes(b"mine: " + name.encode())
    (root / "metadata.csv.tmp").write_bytes(b"mine too")
    # A temporary file of a killed run (its process is gone): removed by the next run.
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    stale = Path(f"{dataset.store.temp_name(blues / 'blues.00001.wav')}".replace(
        f"-{os.getpid()}-", f"-{killed.pid}-"))
    stale.write_bytes(b"half a clip")
    before = _contents(root)
    del before[stale.relative_to(root)]
    status, err = _synth_cli(capsys, root, "--clips-per-genre", "2")
    assert status == 0, err
    after = _contents(root)
    assert {rel: after[rel] for rel in before} == before  # the user's files, byte for byte
    assert not stale.exists()
    left = {p.name for p in root.rglob("*.tmp")}
    assert left == {"blues.00000.wav.tmp", "metadata.csv.tmp"}
    assert (blues / "blues.00000.wav").read_bytes()[:4] == b"RIFF"


@pytest.mark.parametrize("link", ["", "genres", "genres/blues", "genres/blues/blues.00000.wav",
                                  "metadata.csv"])
def test_cli_synth_refuses_symlinks_it_would_write_through(tmp_path, capsys, link):
    # The adversarial run: OUT/genres/blues -> the user's folder; synth replaced their
    # blues.00000.wav (the check did not follow the link, the writing did).
    theirs = tmp_path / "theirs"
    (theirs / "blues").mkdir(parents=True)
    (theirs / "blues" / "blues.00000.wav").write_bytes(b"their clip")
    (theirs / "metadata.csv").write_bytes(b"their metadata")
    target = {"": theirs, "genres": theirs, "genres/blues": theirs / "blues",
              "genres/blues/blues.00000.wav": theirs / "blues" / "blues.00000.wav",
              "metadata.csv": theirs / "metadata.csv"}[link]
    root = tmp_path / "set"
    path = root / link if link else root
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    before, inside = _contents(theirs), sorted(p.name for p in tmp_path.rglob("*"))
    for extra in ([], ["--overwrite"]):
        status, err = _synth_cli(capsys, root, *extra)
        assert status == 2
        _one_line(err, f"error: {path}: is a symbolic link")
        assert _contents(theirs) == before
        assert sorted(p.name for p in tmp_path.rglob("*")) == inside  # nothing written


def test_cli_synth_full_disk_names_the_file_and_leaves_no_partial_file(tmp_path, capsys,
                                                                       monkeypatch):
    # The adversarial run (a 3 MB tmpfs): "error: [Errno 28] No space left on device", no
    # file named, a partial temporary file left.
    root = tmp_path / "set"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    real = dataset._save

    def disk_fills_up(tmp, data):
        if tmp.name.startswith("country.00000.wav."):
            tmp.write_bytes(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(tmp, data)

    monkeypatch.setattr(dataset, "_save", disk_fills_up)
    monkeypatch.setattr(dataset, "n_workers", lambda n_jobs, n_items: 1)  # the patch applies
    status, err = _synth_cli(capsys, root)
    assert status == 2
    clip = root / "genres" / "country" / "country.00000.wav"
    _one_line(err, f"error: {clip}: No space left on device", "2 of 10 clips", "--overwrite")
    assert not list(root.rglob("*.tmp")) and not clip.exists()
    assert (root / "notes.txt").read_text() == "mine"
    assert len(list(root.rglob("*.wav"))) == 2 and (root / dataset.JOURNAL).exists()
    monkeypatch.undo()
    status, err = _synth_cli(capsys, root)
    assert status == 2 and "2 files from an earlier genre-lab synth run" in err
    assert _synth_cli(capsys, root, "--overwrite")[0] == 0
    assert len(list(root.rglob("*.wav"))) == 10 and (root / "notes.txt").read_text() == "mine"


def test_a_worker_error_reaches_the_parent_naming_the_clip(tmp_path):
    # Clips are written in worker processes: the error must cross with its file name.
    final = tmp_path / "blues.00003.wav"
    with pytest.raises(FileNotFoundError) as raised:
        list(dataset.run_jobs([(dataset._save_temp, (tmp_path / "no" / "x.tmp", b"x", final))]
                              * 2, n_jobs=2, progress=False))
    assert raised.value.filename == str(final)


# ---- realism: orderings seen in the real GTZAN ----------------------------------------------


def _summary(task):
    genre, seed, index, seconds = task
    y, _ = synth.render_clip(genre, seed=seed, index=index, seconds=seconds)
    y = (np.round(y * 32767) / 32768).astype(np.float32)  # as loaded from the 16-bit WAV
    mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20)
    return (genre, index, np.r_[mfcc.mean(axis=1), mfcc.var(axis=1)],
            float(librosa.feature.zero_crossing_rate(y=y).mean()),
            float(librosa.feature.rms(y=y).mean()),
            float(librosa.feature.spectral_centroid(y=y, sr=SR).mean()))


def _features(clips: int, seconds: float, seed: int = 0):
    tasks = [(g, seed, i, seconds) for g in GENRES for i in range(clips)]
    _summary(("blues", seed, 0, 1.0))  # warm librosa up once, before any fork
    workers = min(2, os.cpu_count() or 1)
    if workers > 1 and sys.platform.startswith("linux"):  # fork: cheap, inherits warm-up
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            rows = list(pool.map(_summary, tasks, chunksize=8))
    else:
        rows = [_summary(t) for t in tasks]
    frame = pd.DataFrame([(g, i, z, r, c) for g, i, _, z, r, c in rows],
                         columns=["genre", "index", "zcr", "rms", "centroid"])
    return np.stack([row[2] for row in rows]), frame


def test_feature_orderings_follow_real_gtzan():
    _, frame = _features(clips=6, seconds=6.0)
    means = frame.groupby("genre")[["zcr", "rms", "centroid"]].mean()
    assert means.zcr["metal"] > 1.5 * means.zcr["classical"]
    assert means.zcr["metal"] > 1.3 * means.zcr["jazz"]
    assert means.rms.idxmin() == "classical"
    assert means.rms.drop("classical").min() > 1.5 * means.rms["classical"]
    assert means.centroid.idxmin() == "classical"
    bright = means.centroid[["pop", "disco", "metal"]].min()
    dark = means.centroid[["blues", "jazz", "classical"]].max()
    assert bright > 1.2 * dark


# ---- difficulty ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_features():
    """MFCC mean+variance of the quick profile: 20 clips per genre, 12 s, seed 0."""
    return _features(clips=20, seconds=12.0, seed=0)


def test_difficulty_is_in_the_teaching_band(quick_features):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, frame = quick_features
    y = frame.genre.map(GENRES.index).to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    track = cross_val_score(model, X, y, cv=StratifiedKFold(n_splits=5)).mean()
    assert 0.5 <= track <= 0.9, track
    # Artist-level split: each fold holds out one artist of every genre.
    slot = frame["index"].to_numpy() % synth.ARTISTS_PER_GENRE
    artist = cross_val_score(model, X, y, groups=slot, cv=GroupKFold(n_splits=4)).mean()
    assert artist <= track - 0.05, (track, artist)
    assert artist > 0.25  # still far above chance (0.1)
