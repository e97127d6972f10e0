"""The on-disk store: keys, atomic writes, verified reads, locks, tables and data folders."""

from __future__ import annotations

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

    real_savez = np.savez

    def savez_then_fail(f, **arrays):
        real_savez(f, **arrays)
        raise error("disk full")

    monkeypatch.setattr(np, "savez", savez_then_fail)
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
    assert manifest["files"] == {"a.txt": 3, "sub/b.bin": 6}
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
