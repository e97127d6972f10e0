"""The on-disk store: keys, atomic writes, verified reads, locks, tables and data folders."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest

from genre_lab import store

pytestmark = pytest.mark.usefixtures("tmp_cache")  # a fresh cache per test


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".old")))


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


# ---------------------------------------------------------------------------------- keys
def test_keys_paths_and_names(tmp_cache):
    path = store.entry_path("arrays", "demo", {"a": 1, "b": [1, 2]}, ".npz")
    assert path.parent == tmp_cache / "arrays" and path.parent.is_dir()
    assert path.name == f"demo-{store.key_hash('demo', {'b': [1, 2], 'a': 1})}.npz"
    assert len(store.key_hash("demo", {})) == 16
    assert store.key_hash("demo", {"a": 1}) != store.key_hash("other", {"a": 1})
    assert store.key_hash("demo", {"a": 1}) != store.key_hash("demo", {"a": 2})
    assert store.model_path("mlp", {"s": 0}) == store.entry_path("models", "mlp", {"s": 0}, ".pt")
    for bad in ("../escape", "a/b", ".hidden", "", "nul\0"):
        with pytest.raises(ValueError, match="plain file-name stem"):
            store.entry_path("arrays", bad, {}, ".npz")


@pytest.mark.parametrize("attr, value", [("FORMAT", 99), ("__version__", "99.0")])
def test_key_includes_format_and_version(monkeypatch, attr, value):
    before = store.key_hash("demo", {"a": 1})
    monkeypatch.setattr(store, attr, value)
    assert store.key_hash("demo", {"a": 1}) != before


def test_fingerprint_ignores_order_and_sees_changes(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"t{i}.wav")
        paths[-1].write_bytes(b"x" * (i + 1))
    tracks = pd.DataFrame({"track_id": ["a", "b", "c"], "path": [str(p) for p in paths]})
    fp = store.fingerprint(tracks)
    assert fp == store.fingerprint(tracks.iloc[::-1])
    assert fp != store.fingerprint(tracks.iloc[:2])
    paths[0].write_bytes(b"yy")
    assert fp != store.fingerprint(tracks)
    paths[1].unlink()
    with pytest.raises(FileNotFoundError, match="t1.wav"):
        store.fingerprint(tracks)


# ---------------------------------------------------------------------------- atomic_write
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path, error):
    path = tmp_path / "f.bin"
    store.atomic_write(path, lambda f: f.write(b"old"))

    def write(f):
        f.write(b"half")
        raise error("interrupted")

    with pytest.raises(error):
        store.atomic_write(path, write)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    assert store.atomic_write(path, lambda f: f.write(b"new"), fsync=True) == path
    assert path.read_bytes() == b"new"


# ---------------------------------------------------------------------------------- arrays
def test_cached_arrays_hit_and_miss(tmp_cache):
    compute = Counter({"x": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.int64(3)})
    first = store.cached_arrays("demo", {"a": 1, "b": [1, 2]}, compute)
    again = store.cached_arrays("demo", {"b": [1, 2], "a": 1}, compute)  # key order: no matter
    assert compute.calls == 1
    for got in (first, again):
        np.testing.assert_array_equal(got["x"], compute.value["x"])
        assert got["x"].dtype == np.float32 and got["n"] == 3
    assert len(list((tmp_cache / "arrays").glob("demo-*.npz"))) == 1
    store.cached_arrays("demo", {"a": 2, "b": [1, 2]}, compute)
    store.cached_arrays("other", {"a": 1, "b": [1, 2]}, compute)
    assert compute.calls == 3


def test_strings_round_trip_without_pickle_and_objects_refused():
    ids = np.array(["blues.00000", "rock.00099"], dtype=object)
    compute = Counter({"ids": ids, "empty": np.array([], dtype=object)})
    store.cached_arrays("ids", {}, compute)
    got = store.cached_arrays("ids", {}, compute)
    assert compute.calls == 1 and got["ids"].dtype.kind == "U" and list(got["ids"]) == list(ids)
    with np.load(store.entry_path("arrays", "ids", {}, ".npz"), allow_pickle=False) as z:
        assert list(z["ids"]) == list(ids)
    with pytest.raises(TypeError, match="only hold strings"):
        store.cached_arrays("objs", {}, lambda: {"x": np.array([{"a": 1}], dtype=object)})


def _flip_data_byte(path, member="x.npy"):
    # Flip one byte well inside the member's array data (past the zip and .npy headers).
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(member) + 200 + info.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "pickle", "npy"])
def test_bad_entries_warn_once_and_are_recomputed(tmp_cache, damage):
    x = np.arange(4000, dtype=np.float64)
    compute = Counter({"x": x})
    store.cached_arrays("bad", {}, compute)
    path = store.entry_path("arrays", "bad", {}, ".npz")
    if damage == "flip":
        _flip_data_byte(path)
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "pickle":  # a planted pickle: np.load must refuse it, running nothing
        np.savez(path, x=np.array([{"evil": 1}], dtype=object))
    else:  # a single .npy where an archive belongs
        np.save(path.with_suffix(".tmp.npy"), x)
        path.with_suffix(".tmp.npy").replace(path)
    with pytest.warns(UserWarning) as caught:
        got = store.cached_arrays("bad", {}, compute)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert str(path) in message and "recomputing" in message and "\n" not in message
    assert compute.calls == 2
    np.testing.assert_array_equal(got["x"], x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # replaced: the next read is clean
        np.testing.assert_array_equal(store.cached_arrays("bad", {}, compute)["x"], x)
    assert compute.calls == 2 and not leftovers(tmp_cache)


def test_flipped_byte_is_caught_by_the_crc():
    store.cached_arrays("crc", {}, lambda: {"x": np.zeros(4000)})
    path = store.entry_path("arrays", "crc", {}, ".npz")
    _flip_data_byte(path)
    with pytest.raises(zipfile.BadZipFile, match="CRC"):
        store._read_npz(path)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failed_compute_or_write_keeps_the_old_entry(tmp_cache, monkeypatch, error):
    path = store.entry_path("arrays", "atomic", {}, ".npz")
    store.cached_arrays("atomic", {}, lambda: {"x": np.arange(3)})
    old = path.read_bytes()
    path.write_bytes(old[:-10])  # damaged: the next call recomputes it...

    def fails():
        raise error("compute failed")

    with pytest.warns(UserWarning), pytest.raises(error):
        store.cached_arrays("atomic", {}, fails)
    assert path.read_bytes() == old[:-10] and not leftovers(tmp_cache)  # ...but failed

    real_write_array = np.lib.format.write_array

    def write_then_fail(f, array, **kwargs):
        real_write_array(f, array, **kwargs)
        raise error("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.warns(UserWarning), pytest.raises(error):
        store.cached_arrays("atomic", {}, lambda: {"x": np.arange(5)})
    assert path.read_bytes() == old[:-10] and not leftovers(tmp_cache)
    monkeypatch.undo()
    with pytest.raises(error):  # a fresh key: nothing at all is left behind
        store.cached_arrays("fresh", {}, fails)
    assert not list((tmp_cache / "arrays").glob("fresh-*.npz")) and not leftovers(tmp_cache)


def test_two_threads_compute_once():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.3)
        return {"x": np.arange(10)}

    results = []
    threads = [threading.Thread(target=lambda: results.append(
        store.cached_arrays("shared", {}, slow))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 2
    for got in results:
        np.testing.assert_array_equal(got["x"], np.arange(10))


# ----------------------------------------------------------------------------------- tables
def mixed_table(index=None):
    df = pd.DataFrame({
        "filename": ["a.wav", "b.wav", "c.wav"],
        "f64": [0.1, np.nan, -1e300],
        "f32": np.array([1.5, 2.25, -0.0], dtype=np.float32),
        "i64": np.array([1, -2**62, 3], dtype=np.int64),
        "flag": [True, False, True],
        "obj": np.array(["x", "yy", ""], dtype=object),
        7: [1, 2, 3],
    }, index=index)
    df.attrs["seconds"] = 3
    return df


@pytest.mark.parametrize("index", [None, pd.Index(["t1", "t2", "t3"], name="track"),
                                   pd.Index([10, 20, 30]), pd.RangeIndex(5, 11, 2)])
def test_table_round_trip_is_exact(index):
    df = mixed_table(index)
    compute = Counter(df)
    first = store.cached_table("table", {"i": str(index)}, compute)
    again = store.cached_table("table", {"i": str(index)}, compute)
    assert compute.calls == 1
    for got in (first, again):
        pd.testing.assert_frame_equal(got, df, check_exact=True)
        assert got.attrs == {"seconds": 3}
        assert list(got.columns) == list(df.columns)


def test_table_drops_attrs_that_are_not_json_and_refuses_objects():
    df = mixed_table()
    df.attrs["odd"] = object()
    with pytest.warns(UserWarning, match="odd"):
        got = store.cached_table("attrs", {}, lambda: df)
    assert got.attrs == {"seconds": 3}
    with pytest.raises(TypeError, match="bad"):
        store.cached_table("objs", {}, lambda: pd.DataFrame({"bad": [1, "a"]}))


def test_damaged_table_is_recomputed(tmp_cache):
    df = mixed_table()
    compute = Counter(df)
    store.cached_table("tab", {}, compute)
    path = store.entry_path("tables", "tab", {}, ".npz")
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.warns(UserWarning, match="tab-"):
        got = store.cached_table("tab", {}, compute)
    pd.testing.assert_frame_equal(got, df, check_exact=True)
    assert compute.calls == 2


# ---------------------------------------------------------------------------------- folders
def builder(calls, content=b"abc"):
    def build(folder):
        calls.append(folder)
        (folder / "sub").mkdir()
        (folder / "a.txt").write_bytes(content)
        (folder / "sub" / "b.bin").write_bytes(content * 2)
    return build


def test_folder_built_once_with_manifest(tmp_cache):
    calls = []
    root = store.cached_folder("synth", {"seed": 0}, builder(calls))
    assert root.parent == tmp_cache / "data" and root.name.startswith("synth-")
    assert store.cached_folder("synth", {"seed": 0}, builder(calls)) == root
    assert len(calls) == 1 and calls[0] != root  # built elsewhere, then renamed into place
    manifest = json.loads((root / ".complete.json").read_text())
    assert {rel: f["size"] for rel, f in manifest["files"].items()} == {"a.txt": 3, "sub/b.bin": 6}
    assert manifest["files"]["a.txt"]["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert not leftovers(tmp_cache)


@pytest.mark.parametrize("damage", ["missing file", "wrong size", "no manifest"])
def test_damaged_folder_is_rebuilt(tmp_cache, damage):
    calls = []
    root = store.cached_folder("synth", {}, builder(calls))
    if damage == "missing file":
        (root / "sub" / "b.bin").unlink()
    elif damage == "wrong size":
        (root / "a.txt").write_bytes(b"abcd")
    else:
        (root / ".complete.json").unlink()
    with pytest.warns(UserWarning, match="rebuilding") as caught:
        assert store.cached_folder("synth", {}, builder(calls)) == root
    assert str(root) in str(caught[0].message)
    assert len(calls) == 2 and (root / "a.txt").read_bytes() == b"abc"
    assert (root / "sub" / "b.bin").stat().st_size == 6 and not leftovers(tmp_cache)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failed_rebuild_keeps_the_old_folder(tmp_cache, error):
    root = store.cached_folder("synth", {}, builder([]))
    (root / ".complete.json").unlink()  # incomplete, yet it holds data

    def fails(folder):
        (folder / "part.txt").write_text("half")
        raise error("build failed")

    with pytest.warns(UserWarning), pytest.raises(error):
        store.cached_folder("synth", {}, fails)
    assert (root / "a.txt").read_bytes() == b"abc" and not leftovers(tmp_cache)
    with pytest.raises(error):
        store.cached_folder("fresh", {}, fails)
    assert not list((tmp_cache / "data").glob("fresh-*")) or \
        all(p.suffix == ".lock" for p in (tmp_cache / "data").glob("fresh-*"))


def test_data_folder_follows_the_umask(tmp_cache):
    # a cache built once for a class is readable by others when the umask says so
    old = os.umask(0o022)
    try:
        root = store.cached_folder("shared", {"v": 1}, lambda d: (d / "a.txt").write_text("x"))
    finally:
        os.umask(old)
    assert root.stat().st_mode & 0o777 == 0o755


# ------------------------------------------------------------- folders: changed content
def test_changed_samples_of_the_same_size_are_caught(tmp_cache):
    # The adversarial run: samples of a cached synthetic clip overwritten in place (same
    # size) went unnoticed, since the manifest held sizes only.
    import soundfile as sf

    from genre_lab.data import synth

    def build(folder):
        synth.generate(folder, clips_per_genre=1, seconds=1.0, progress=False, n_jobs=1)

    root = store.cached_folder("synth-mini", {}, build)
    clip = root / "genres" / "jazz" / "jazz.00000.wav"
    original = clip.read_bytes()
    with sf.SoundFile(str(clip), "r+") as f:
        f.seek(1000)
        f.write(np.zeros(500, dtype=np.int16))
    assert clip.stat().st_size == len(original) and clip.read_bytes() != original
    with pytest.warns(UserWarning) as caught:
        assert store.cached_folder("synth-mini", {}, build) == root
    message = str(caught[0].message)
    assert len(caught) == 1 and "\n" not in message
    assert str(root) in message and "genres/jazz/jazz.00000.wav was changed" in message
    assert clip.read_bytes() == original and not leftovers(tmp_cache)


def test_touched_but_unchanged_file_is_fine_and_hashed_once(tmp_cache, monkeypatch):
    calls = []
    root = store.cached_folder("synth", {}, builder(calls))
    later = (root / "a.txt").stat().st_mtime_ns + 5_000_000_000
    os.utime(root / "a.txt", ns=(later, later))
    hashed = []
    real = store.folders.file_sha256  # the manifest check's, in genre_lab/store/folders.py
    monkeypatch.setattr(store.folders, "file_sha256",
                        lambda p: hashed.append(p.name) or real(p))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            assert store.cached_folder("synth", {}, builder(calls)) == root
    assert hashed == ["a.txt"] and len(calls) == 1  # the manifest learnt the new mtime
    assert json.loads((root / ".complete.json").read_text())["files"]["a.txt"]["mtime_ns"] == \
        later and not leftovers(tmp_cache)


def test_manifest_of_sizes_only_is_rebuilt(tmp_cache):
    calls = []
    root = store.cached_folder("synth", {}, builder(calls))
    (root / ".complete.json").write_text(json.dumps({"files": {"a.txt": 3, "sub/b.bin": 6}}))
    with pytest.warns(UserWarning, match="older build"):
        store.cached_folder("synth", {}, builder(calls))
    assert len(calls) == 2 and isinstance(
        json.loads((root / ".complete.json").read_text())["files"]["a.txt"], dict)


# -------------------------------------------------------------- temporary files of kills
_WRITER = """
import sys, time
from genre_lab import store

def write(f):
    f.write(b"half")
    f.flush()
    print("writing", flush=True)
    sys.stdin.readline()  # killed here, or told to finish
    f.write(b" and the rest")

store.atomic_write(sys.argv[1], write)
"""


def _start_writer(path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


def test_temp_file_of_a_killed_write_is_removed_a_live_one_kept(tmp_path):
    killed = _start_writer(tmp_path / "model.pt")
    killed.kill()
    killed.wait()
    killed.stdout.close()
    killed.stdin.close()
    (left,) = [p.name for p in tmp_path.iterdir()]
    assert left.startswith("model.pt.") and left.endswith(f"-{killed.pid}-{left[-12:-4]}.tmp")
    live = _start_writer(tmp_path / "other.pt")  # a live writer in the same folder
    live_temp = [p for p in tmp_path.iterdir() if p.name.startswith("other.pt.")]
    store.atomic_write(tmp_path / "model.pt", lambda f: f.write(b"whole"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.pt", live_temp[0].name])  # the killed write's file is gone, the live one kept
    live.communicate("go\n")
    assert live.returncode == 0 and (tmp_path / "other.pt").read_bytes() == b"half and the rest"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "other.pt"]


def test_stale_temp_rules(tmp_cache, tmp_path):
    day = store.STALE_TEMP_SECONDS
    folder = tmp_cache / "arrays"
    folder.mkdir(parents=True)
    host = store._HOST
    other = "0123abcd" if host != "0123abcd" else "4567ef01"
    files = {  # name: (age in seconds, removed?)
        f"a.npz.{host}-{os.getpid()}-00000001.tmp": (0, False),  # this live process
        f"a.npz.{other}-999999999-00000002.tmp": (0, False),  # another host: age decides
        f"a.npz.{other}-999999999-00000003.tmp": (day + 60, True),
        f"a.npz.{host}-{os.getpid()}-00000004.tmp": (day + 60, True),  # over a day
        "b.npz.0000abcd.tmp": (day + 60, True),  # an older genre-lab's name, in the cache
        "b.npz.0000abce.tmp": (60, False),
        "notes.tmp": (day * 30, False),  # not one of ours
    }
    for name, (age, _) in files.items():
        (folder / name).write_bytes(b"x")
        os.utime(folder / name, (time.time() - age,) * 2)
    (folder / f"c.{other}-1-00000005.tmp").mkdir()  # a folder: cached_folder's to clear
    os.utime(folder / f"c.{other}-1-00000005.tmp", (time.time() - 2 * day,) * 2)
    store.cached_arrays("a", {}, lambda: {"x": np.arange(3)})
    kept = {p.name for p in folder.iterdir()}
    for name, (_, removed) in files.items():
        assert (name not in kept) == removed, name
    assert f"c.{other}-1-00000005.tmp" in kept
    # outside the cache, a name without owner is never removed
    (tmp_path / "x.bin.0000abcd.tmp").write_bytes(b"x")
    os.utime(tmp_path / "x.bin.0000abcd.tmp", (time.time() - 2 * day,) * 2)
    store.atomic_write(tmp_path / "x.bin", lambda f: f.write(b"y"))
    assert (tmp_path / "x.bin.0000abcd.tmp").exists()


# ------------------------------------------------- entries that decode but do not fit
def _edit_entry(path, edit):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _set_header_shape(path, member, shape):
    # Edit the .npy header in place (padding keeps its length): the CRC in the archive's
    # directory stays, so only the header check can tell.
    data = bytearray(path.read_bytes())
    start = data.find(b"{'descr'", data.find(member.encode()))
    end = data.find(b"\n", start)  # the header's padding ends there
    header = repr({"descr": "<f8", "fortran_order": False, "shape": shape}).encode()
    assert len(header) <= end - start
    data[start:end] = header.ljust(end - start)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("edit, fragment", [
    (lambda a: a.update(x=a["x"].reshape(20, 200)), "'x' was replaced"),
    (lambda a: a.update(x=a["x"].astype(np.float32)), "'x' was replaced"),
    (lambda a: a.update(x=np.array(["text"] * 4000)), "'x' was replaced"),
    (lambda a: a.pop("ids"), "do not match the schema"),
    (lambda a: a.update(extra=np.zeros(3)), "do not match the schema"),
    (lambda a: a.pop("__schema__"), "no __schema__"),  # also what an older store wrote
    ("huge header", "does not fit"),
    ("short header", "does not fit"),
])
def test_entries_that_decode_but_do_not_fit_are_recomputed(tmp_cache, edit, fragment):
    value = {"x": np.arange(4000, dtype=np.float64), "ids": np.array(["a", "bb"])}
    compute = Counter(value)
    store.cached_arrays("fit", {}, compute)
    path = store.entry_path("arrays", "fit", {}, ".npz")
    if edit == "huge header":
        _set_header_shape(path, "x.npy", (10**13,))
    elif edit == "short header":
        _set_header_shape(path, "x.npy", (3999,))
    else:
        _edit_entry(path, edit)
    with pytest.warns(UserWarning) as caught:
        got = store.cached_arrays("fit", {}, compute)
    message = str(caught[0].message)
    assert len(caught) == 1 and "\n" not in message and fragment in message, message
    assert str(path) in message and "recomputing" in message and compute.calls == 2
    np.testing.assert_array_equal(got["x"], value["x"])
    assert list(got["ids"]) == ["a", "bb"] and set(got) == {"x", "ids"}


def test_table_with_a_column_dropped_consistently_is_recomputed(tmp_cache):
    df = mixed_table()
    compute = Counter(df)
    store.cached_table("tab", {}, compute)
    path = store.entry_path("tables", "tab", {}, ".npz")

    def drop_last_column(arrays):
        meta = json.loads(str(arrays["__table__"][()]))
        del arrays[f"c{len(meta['columns']) - 1}"]
        meta["columns"].pop()
        meta["dtypes"].pop()
        arrays["__table__"] = np.array(json.dumps(meta))

    _edit_entry(path, drop_last_column)
    with pytest.warns(UserWarning, match="recomputing"):
        got = store.cached_table("tab", {}, compute)
    pd.testing.assert_frame_equal(got, df, check_exact=True)
    assert compute.calls == 2


def test_segment_features_recompute_an_entry_edited_to_the_wrong_shape(tmp_cache, tmp_path):
    # The user's way: segment_features returned a hand-edited entry's (800, 10, 65) logmel.
    from genre_lab import config
    from genre_lab.data import load_tracks, synth
    from genre_lab.features.segments import segment_features

    root = tmp_path / "set"
    synth.generate(root, clips_per_genre=1, seconds=3.0, progress=False, n_jobs=1)
    tracks = load_tracks(root, profile="quick")
    settings = config.get_profile("quick").features
    first = segment_features(tracks, settings, progress=False)
    (path,) = (tmp_cache / "arrays").glob("segments-*.npz")
    _edit_entry(path, lambda a: a.update(logmel=a["logmel"][:, :10]))
    with pytest.warns(UserWarning, match="recomputing"):
        again = segment_features(tracks, settings, progress=False)
    for kind in first:
        np.testing.assert_array_equal(again[kind].X, first[kind].X)
