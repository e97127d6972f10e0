"""The one on-disk store for everything the course caches: arrays, tables, data folders, models.

Every entry lives at ``cache_dir() / kind / f"{name}-{hash}{suffix}"``, the hash covering the
entry's name, its key (everything the result depends on), :data:`FORMAT` and the genre_lab
version. The rules, for every kind:

* Written atomically: a temporary file (or folder) next to the target, renamed into place,
  so a crash or Ctrl-C never leaves a half-written entry and never harms the old one.
* Verified on read: ``.npz`` members are read completely, so zipfile checks each one's CRC-32;
  a data folder must match its manifest. A bad entry is reported in one warning that names
  it, then recomputed and replaced.
* No pickles: loading an entry runs no code (``np.load(..., allow_pickle=False)``).
* A file lock per entry: parallel runs (two notebooks in CI) compute an entry once.

Notebook: every chapter (data, features and trained models are cached here).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import __version__
from .config import cache_dir

__all__ = ["FORMAT", "atomic_write", "cached_arrays", "cached_folder", "cached_table",
           "entry_path", "fingerprint", "key_hash", "locked", "model_path"]

#: Version of the on-disk layout; part of every key hash, so a change invalidates old entries.
FORMAT = 2

#: The manifest a data folder gets last: relative file paths and their sizes.
MANIFEST = ".complete.json"
#: The member of a table entry that holds column names, dtypes, index and attrs.
_TABLE_META = "__table__"


def fingerprint(tracks) -> str:
    """A hash of the audio files behind a track table: (track_id, size, mtime_ns) per row.

    Notebook: 04-spectrogram-cnns onwards (a cache key of ``segment_features``).

    Rows are sorted by track id first, so the same tracks in another order give the same
    fingerprint; replacing or touching a file changes it.

    Args:
        tracks: a track table with ``track_id`` and ``path`` columns.

    Raises:
        FileNotFoundError: a file is gone (the message names it).
    """
    h = hashlib.sha256()
    rows = sorted(zip(map(str, tracks["track_id"]), tracks["path"], strict=True))
    for track_id, path in rows:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such audio file (track {track_id})") from None
        h.update(f"{track_id}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def key_hash(name: str, key: Mapping) -> str:
    """16 hex digits of sha256 over ``name``, ``key`` (sorted JSON; other values via str),
    :data:`FORMAT` and the genre_lab version."""
    text = json.dumps({"name": name, "key": key, "format": FORMAT, "genre_lab": __version__},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_stem(what: str, value: str) -> None:
    if not isinstance(value, str) or not value or value.startswith(".") or \
            any(c in value for c in "/\\\0"):
        raise ValueError(f"cache {what} must be a plain file-name stem, got {value!r}")


def entry_path(kind: str, name: str, key: Mapping, suffix: str) -> Path:
    """The path of the entry ``name`` for ``key``.

    That is ``cache_dir() / kind / f"{name}-{key_hash(name, key)}{suffix}"``; the ``kind``
    folder is created.

    Raises:
        ValueError: ``kind`` or ``name`` is not a plain file-name stem.
    """
    _check_stem("kind", kind)
    _check_stem("name", name)
    folder = cache_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{key_hash(name, key)}{suffix}"


def model_path(name: str, key: Mapping) -> Path:
    """Where a trained run is cached: ``entry_path("models", name, key, ".pt")``."""
    return entry_path("models", name, key, ".pt")


def locked(path):
    """A file lock for ``path`` (``path + ".lock"``), as a context manager."""
    from filelock import FileLock

    return FileLock(str(path) + ".lock")


def _temp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")


def atomic_write(path, write: Callable[[BinaryIO], None], *, fsync: bool = False) -> Path:
    """Write a file all at once: ``write(f)`` fills a temporary file in the same folder, which
    then replaces ``path`` (``os.replace``: atomic on one file system).

    On any exception, KeyboardInterrupt included, the temporary file is removed and the old
    ``path`` (if any) is left as it was.

    Args:
        path: the file to write.
        write: writes the content to a binary file object.
        fsync: flush the file to disk before the rename (for files worth more than a cache
            entry, such as trained models).

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    while True:
        tmp = _temp_name(path)
        try:  # O_EXCL: never another's temp file; mode 0o666 so the umask applies as usual
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _storable(name: str, value) -> np.ndarray:
    # Object arrays (track ids from pandas) become fixed-width unicode: no pickle needed.
    arr = np.asarray(value)
    if arr.dtype == object:
        if not all(isinstance(v, str) for v in arr.flat):
            raise TypeError(f"array {name!r}: object arrays can only hold strings")
        arr = arr.astype(np.str_) if arr.size else np.zeros(arr.shape, dtype="U1")
    if arr.dtype.hasobject:
        raise TypeError(f"array {name!r} of dtype {arr.dtype} would need pickle")
    return arr


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    # Reading each member to its end makes zipfile compare its CRC-32 (BadZipFile if not).
    # Our own file object: np.load leaks the one it opens when the zip is unreadable.
    with open(path, "rb") as f:
        loaded = np.load(f, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with loaded as z:
            return {k: z[k] for k in z.files}


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _cached(path: Path, read: Callable, make: Callable, write: Callable):
    # Read a verified entry, or make it under the lock (once, across processes) and write it.
    # Returns (value, True) when read, (made value, False) when made.
    def attempt():  # (value,) when read; the error when unreadable; None when missing
        if not path.is_file():
            return None
        try:
            return (read(path),)
        except MemoryError:
            raise
        except Exception as err:  # noqa: BLE001 - any unreadable entry is recomputed
            return err

    first = attempt()
    if isinstance(first, tuple):
        return first[0], True
    with locked(path):
        again = attempt()  # another process may have written it while we waited
        if isinstance(again, tuple):
            return again[0], True
        error = again or first
        if error is not None:
            warnings.warn(f"{path}: unreadable cache entry ({_one_line(error)}); recomputing it",
                          stacklevel=3)
        value = make()
        write(path, value)
    return value, False


def cached_arrays(name: str, key: Mapping,
                  compute: Callable[[], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Return ``compute()``'s arrays, from the store when this ``key`` was computed before.

    Notebook: 04-spectrogram-cnns onwards (through ``genre_lab.features.segments``).

    The entry is ``cache_dir() / "arrays" / f"{name}-{hash}.npz"`` (uncompressed
    ``np.savez``). An entry that cannot be read, or whose data fails its CRC-32, gives a
    warning naming the file and is recomputed and replaced.

    Args:
        name: what is cached (a file-name stem, e.g. ``"segments"``).
        key: everything the result depends on, JSON-serialisable (others go through str).
        compute: returns a dict of arrays; object arrays of strings are stored as unicode
            arrays, so every entry loads with ``allow_pickle=False``.

    Returns:
        dict name -> array (object arrays of strings come back as unicode arrays).

    Raises:
        TypeError: ``compute`` returned an object array holding anything but strings.
    """
    def make():
        return {k: _storable(k, v) for k, v in compute().items()}

    return _cached(entry_path("arrays", name, key, ".npz"), _read_npz, make, _write_npz)[0]


# ------------------------------------------------------------------------------- tables
def _json_attrs(attrs: dict) -> dict:
    kept, dropped = {}, []
    for k, v in attrs.items():
        try:
            kept[str(k)] = json.loads(json.dumps(v))
        except (TypeError, ValueError):
            dropped.append(k)
    if dropped:
        warnings.warn(f"DataFrame.attrs {dropped} are not JSON-able: not cached", stacklevel=4)
    return kept


def _encode_table(df) -> dict[str, np.ndarray]:
    import pandas as pd

    names = list(df.columns)
    if not all(isinstance(c, str | int) and not isinstance(c, bool) for c in names):
        raise TypeError(f"cached tables need str or int column names, got {names!r}")
    if len(set(names)) != len(names):
        raise TypeError(f"cached tables need unique column names, got {names!r}")
    arrays, dtypes = {}, []
    for i, col in enumerate(names):
        series = df.iloc[:, i]
        dtypes.append(str(series.dtype))
        values = series.to_numpy(dtype=object) if isinstance(series.dtype, pd.StringDtype) \
            else series.to_numpy()
        arrays[f"c{i}"] = _storable(f"column {col}", values)
    meta = dict(columns=names, column_dtype=str(df.columns.dtype), dtypes=dtypes, rows=len(df),
                attrs=_json_attrs(df.attrs))
    index = df.index
    if isinstance(index, pd.RangeIndex):
        meta["range"] = [index.start, index.stop, index.step, index.name]
    elif isinstance(index, pd.MultiIndex):
        raise TypeError("cached tables cannot have a MultiIndex: reset_index() first")
    else:
        meta["index"] = [str(index.dtype), index.name]
        arrays["index"] = _storable("index", index.to_numpy(dtype=object)
                                    if isinstance(index.dtype, pd.StringDtype)
                                    else index.to_numpy())
    arrays[_TABLE_META] = np.array(json.dumps(meta))
    return arrays


def _restore(values: np.ndarray):
    # Strings were stored as unicode arrays: object (or pandas string) dtype comes back.
    return values.astype(object) if values.dtype.kind == "U" else values


def _decode_table(arrays: dict[str, np.ndarray]):
    import pandas as pd

    meta = json.loads(str(arrays[_TABLE_META][()]))
    columns, dtypes, rows = meta["columns"], meta["dtypes"], meta["rows"]
    if "range" in meta:
        start, stop, step, index_name = meta["range"]
        index = pd.RangeIndex(start, stop, step, name=index_name)
    else:
        index_dtype, index_name = meta["index"]
        index = pd.Index(_restore(arrays["index"]), name=index_name)
        index = index.astype(index_dtype)
    if len(index) != rows or len(columns) != len(dtypes):
        raise ValueError("table metadata does not match its arrays")
    data = {}
    for i, (col, dtype) in enumerate(zip(columns, dtypes, strict=True)):
        values = arrays[f"c{i}"]
        if values.shape != (rows,):
            raise ValueError(f"column {col!r} has shape {values.shape}, expected ({rows},)")
        data[i] = pd.Series(_restore(values), index=index, copy=False).astype(dtype)
    df = pd.DataFrame(data, index=index)
    df.columns = pd.Index(columns, dtype=object).astype(meta["column_dtype"])
    df.attrs.update(meta["attrs"])
    return df


def cached_table(name: str, key: Mapping, compute: Callable):
    """Return ``compute()``'s DataFrame, from the store when this ``key`` was computed before.

    Notebook: 03-classical-baselines (the feature table).

    Stored in the arrays format (``cache_dir() / "tables" / f"{name}-{hash}.npz"``): one
    array per column (strings as unicode), the index when it is not a RangeIndex, and a JSON
    member with column names, dtypes and ``df.attrs``. Round trips are exact for float,
    int, bool and string columns; attrs that are not JSON-able are dropped with a warning.

    Args:
        name: what is cached (a file-name stem, e.g. ``"features-30s"``).
        key: everything the table depends on, JSON-serialisable (others go through str).
        compute: returns the DataFrame (str or int column names; no MultiIndex).

    Returns:
        The DataFrame, as stored (the first call returns it after the same round trip).

    Raises:
        TypeError: a column cannot be stored without pickle (objects other than strings).
    """
    def make():
        return _encode_table(compute())

    # Decoding is part of reading: an inconsistent entry is recomputed like a corrupt one.
    path = entry_path("tables", name, key, ".npz")
    value, was_read = _cached(path, lambda p: _decode_table(_read_npz(p)), make, _write_npz)
    return value if was_read else _decode_table(value)


# ------------------------------------------------------------------------------ folders
def _folder_problem(root: Path) -> str | None:
    """Why ``root`` is not a complete entry, or None when it is."""
    manifest = root / MANIFEST
    if not root.is_dir():
        return "missing"
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return f"no {MANIFEST}: an interrupted or older build"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"unreadable {MANIFEST} ({_one_line(err)})"
    if not isinstance(files, dict):
        return f"unreadable {MANIFEST}"
    for rel, size in files.items():
        try:
            actual = (root / rel).stat().st_size
        except OSError:
            return f"{rel} is missing"
        if actual != size:
            return f"{rel} has {actual} bytes, the manifest says {size}"
    return None


def _write_manifest(folder: Path) -> None:
    files = {p.relative_to(folder).as_posix(): p.stat().st_size
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    text = json.dumps({"format": FORMAT, "files": files}, indent=0)
    atomic_write(folder / MANIFEST, lambda f: f.write(text.encode()))


def cached_folder(name: str, key: Mapping, build: Callable[[Path], None]) -> Path:
    """A folder of files made once by ``build``, e.g. the synthetic mini-GTZAN.

    Notebook: every chapter (through ``genre_lab.data.synthetic_root``).

    The entry is ``cache_dir() / "data" / f"{name}-{hash}"``. Under a file lock, ``build(tmp)``
    fills a temporary folder next to it; a manifest (``.complete.json``: every file's
    relative path and size) is written last, and the folder is renamed into place. A folder
    without a manifest, or whose files do not match it, is rebuilt with a warning: into a new
    temporary folder first, and only then does the new folder replace the bad one.

    Args:
        name: what is cached (a file-name stem, e.g. ``"synth-quick-seed0"``).
        key: everything the files depend on, JSON-serialisable (others go through str).
        build: fills the (empty, existing) folder it is given.

    Returns:
        The complete folder.
    """
    root = entry_path("data", name, key, "")
    if _folder_problem(root) is None:
        return root
    with locked(root):
        problem = _folder_problem(root)
        if problem is None:  # another process built it while we waited
            return root
        # Leftovers of killed runs: only the lock holder makes these, so none is in use.
        for stale in root.parent.glob(f"{root.name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        if root.exists():
            warnings.warn(f"{root}: incomplete data folder ({problem}); rebuilding it",
                          stacklevel=2)
        tmp = _temp_name(root)
        tmp.mkdir()  # not mkdtemp, whose 0o700 would keep the folder from anyone else
        try:
            build(tmp)
            _write_manifest(tmp)
            if root.exists():  # set the bad folder aside only now that its successor is whole
                old = _temp_name(root)
                os.replace(root, old)
                try:
                    os.replace(tmp, root)
                except BaseException:
                    os.replace(old, root)
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root
