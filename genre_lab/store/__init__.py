"""The one on-disk store for everything the course caches: arrays, tables, data folders, models.

Every entry lives at ``cache_dir() / kind / f"{name}-{hash}{suffix}"``, the hash covering the
entry's name, its key (everything the result depends on), :data:`FORMAT` and the genre_lab
version. The rules, for every kind:

* Written atomically: a temporary file (or folder) next to the target, renamed into place,
  so a crash or Ctrl-C never leaves a half-written entry and never harms the old one. A
  temporary name carries its host and process id; a later write removes the ones whose
  process is gone, or that are over a day old.
* Verified on read: an ``.npz`` carries a schema (every array's dtype, shape and CRC-32),
  which its members must match, and they are read completely, so zipfile checks each one's
  CRC-32; a data folder must match its manifest (sizes and mtimes, and the sha256 of a file
  whose mtime changed). A bad or inconsistent entry is reported in one warning that names
  it, then recomputed and replaced.
* No pickles: loading an entry runs no code (``.npy`` headers parsed, ``allow_pickle=False``).
* A file lock per entry: parallel runs (two notebooks in CI) compute an entry once.

The package: this module holds the public API (entry paths and keys, locks, the ``cached_*``
functions); :mod:`.files` atomic writes and temporary names, :mod:`.npz` the verified
``.npz`` format, :mod:`.tables` DataFrames as arrays, :mod:`.folders` a data folder's manifest.

Notebook: every chapter (data, features and trained models are cached here).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .. import __version__
from ..config import cache_dir
from .files import _HOST as _HOST  # "X as X": re-exported, used as store.X
from .files import STALE_TEMP_SECONDS as STALE_TEMP_SECONDS
from .files import _one_line, _temp_name, atomic_write, file_sha256, pid_alive
from .files import _remove_stale_temps as remove_stale_temps
from .files import _temp_name as temp_name
from .folders import MANIFEST as MANIFEST
from .folders import _folder_problem, _write_manifest
from .npz import _npz_writer, _read_npz, _storable
from .tables import _decode_table, _encode_table

__all__ = ["FORMAT", "atomic_write", "cached_arrays", "cached_folder", "cached_table",
           "entry_path", "file_sha256", "fingerprint", "key_hash", "locked", "model_path",
           "pid_alive", "remove_stale_temps", "temp_name"]

#: Version of the on-disk layout; part of every key hash, so a change invalidates old entries.
FORMAT = 2


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


# ------------------------------------------------------------------------------- entries
def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    # Through this package's atomic_write (tests replace it to simulate a full disk).
    atomic_write(path, _npz_writer(arrays))


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
def cached_folder(name: str, key: Mapping, build: Callable[[Path], None]) -> Path:
    """A folder of files made once by ``build``, e.g. the synthetic mini-GTZAN.

    Notebook: every chapter (through ``genre_lab.data.synthetic_root``).

    The entry is ``cache_dir() / "data" / f"{name}-{hash}"``. Under a file lock, ``build(tmp)``
    fills a temporary folder next to it; a manifest (``.complete.json``: every file's
    relative path, size, mtime_ns and sha256) is written last, and the folder is renamed
    into place. Each call checks every file's size and mtime (a stat each), and the sha256
    of a file whose mtime changed. A folder without a manifest, or whose files do not match
    it, is rebuilt with a warning: into a new temporary folder first, and only then does the
    new folder replace the bad one.

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
            _write_manifest(tmp, FORMAT)
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
