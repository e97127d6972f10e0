"""A small on-disk cache for named dictionaries of arrays (features, embeddings).

Each entry is one ``.npz`` file in ``cache_dir() / "features"``, named by a hash of what
produced it. Entries are written to a temporary file and renamed into place, so a crash or
Ctrl-C never leaves a half-written entry; they hold no pickles, so loading one runs no code.

Notebook: 04-spectrogram-cnns onwards (through ``genre_lab.segments``).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

from . import __version__
from .config import cache_dir

__all__ = ["cache_path", "cached_arrays", "fingerprint"]

#: Arrays from this size on are read into anonymous memory (see ``_empty``).
_ANON_MIN_BYTES = 2**26


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


def _key_hash(key: Mapping) -> str:
    text = json.dumps({"key": key, "genre_lab": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(name: str, key: Mapping) -> Path:
    """The file that holds (or would hold) the entry ``name`` for ``key``."""
    if not name or any(c in name for c in "/\\\0") or name.startswith("."):
        raise ValueError(f"cache name must be a plain file-name stem, got {name!r}")
    return cache_dir() / "features" / f"{name}-{_key_hash(key)}.npz"


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


def _empty(shape, dtype, fortran: bool) -> np.ndarray:
    # Big arrays go in private anonymous memory, prefaulted in one call: numpy's own
    # allocation asks Linux for transparent huge pages, and that page-fault path stalls
    # now and then on compaction (1 s instead of 0.3 s for GTZAN's 735 MB).
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    if nbytes == 0 or nbytes < _ANON_MIN_BYTES or not hasattr(mmap, "MAP_ANONYMOUS"):
        return np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    memory = mmap.mmap(-1, nbytes, flags=flags | getattr(mmap, "MAP_POPULATE", 0))
    flat = np.frombuffer(memory, dtype=dtype)
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def _read_stored(path: Path) -> dict[str, np.ndarray]:
    # np.load reads an .npz member in small chunks through zipfile (0.5-1.7 s for the
    # 735 MB of GTZAN's segment features); members that np.savez stored uncompressed can
    # instead be read straight into their arrays with one readinto each (about 0.3 s).
    out = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                raise ValueError("not a plain np.savez member")
            f.seek(info.header_offset)
            local = f.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                raise ValueError("bad zip local header")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            f.seek(start)
            version = npformat.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npformat.read_array_header_2_0(f)
            else:
                raise ValueError(f"npy format {version}")
            if dtype.hasobject:  # would need pickle: let np.load refuse it
                raise ValueError("object array")
            arr = _empty(shape, dtype, fortran)
            if f.tell() - start + arr.nbytes != info.file_size:
                raise ValueError("member size does not match its header")
            flat = (arr.T if fortran else arr).reshape(-1).view(np.uint8)
            if f.readinto(memoryview(flat)) != arr.nbytes:
                raise ValueError("truncated member")
            out[info.filename[:-4]] = arr
    return out


def _load(path: Path) -> dict[str, np.ndarray]:
    try:
        return _read_stored(path)
    except (ValueError, OSError, EOFError, struct.error, zipfile.BadZipFile):
        pass  # anything unusual: numpy's own reader decides
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _save(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    # Same folder as the target, so os.replace is an atomic rename on one file system.
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: never leave a temp file behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def cached_arrays(name: str, key: Mapping,
                  compute: Callable[[], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Return ``compute()``'s arrays, from the cache when this ``key`` was computed before.

    Notebook: 04-spectrogram-cnns onwards (through ``genre_lab.segments``).

    The entry is ``cache_dir() / "features" / f"{name}-{hash}.npz"``, the hash covering
    ``key`` (as sorted JSON) and the genre_lab version. A miss computes, saves atomically
    (a temporary file in the same folder, renamed into place) and returns the arrays; a
    file lock makes parallel runs compute an entry once. An unreadable entry is recomputed.

    Args:
        name: what is cached (a file-name stem, e.g. ``"segments"``).
        key: everything the result depends on, JSON-serialisable (others go through str).
        compute: returns a dict of arrays; string or object arrays of strings are stored
            as unicode arrays, so every entry loads with ``allow_pickle=False``.

    Returns:
        dict name -> array (object arrays of strings come back as unicode arrays).
    """
    path = cache_path(name, key)
    if path.is_file():
        try:
            return _load(path)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"{path}: unreadable cache entry ({err}); recomputing", stacklevel=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(path) + ".lock"):
        if path.is_file():  # another process computed it while we waited
            try:
                return _load(path)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile):
                pass
        result = compute()
        arrays = {k: _storable(k, v) for k, v in result.items()}
        _save(path, arrays)
    return arrays
