"""The manifest of a cached data folder (``.complete.json``): written last when
``cached_folder`` builds the folder, and checked on every call (each file's size and mtime,
and the sha256 of a file whose mtime changed)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from .files import _MAX_JSON_BYTES, _one_line, atomic_write, file_sha256

#: The manifest a data folder gets last: relative file paths with size, mtime_ns and sha256.
MANIFEST = ".complete.json"


def _folder_problem(root: Path) -> str | None:
    """Why ``root`` is not a complete entry, or None when it is.

    Every file's size and mtime_ns are compared with the manifest (a stat each); a file
    whose mtime differs is hashed, and its sha256 decides: touched but unchanged is fine,
    and the manifest then learns the new mtime, so the file is not hashed again.
    """
    manifest = root / MANIFEST
    if not root.is_dir():
        return "missing"
    try:
        if manifest.stat().st_size > _MAX_JSON_BYTES:
            return f"{MANIFEST} is implausibly large"
        text = manifest.read_text(encoding="utf-8")
        files = json.loads(text)["files"]
    except FileNotFoundError:
        return f"no {MANIFEST}: an interrupted or older build"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"unreadable {MANIFEST} ({_one_line(err)})"
    if not isinstance(files, dict):
        return f"unreadable {MANIFEST}"
    touched = {}
    for rel, entry in files.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("size"), int) and
                isinstance(entry.get("mtime_ns"), int) and isinstance(entry.get("sha256"), str)):
            return f"{MANIFEST} of an older build (no size, mtime and sha256 for {rel})"
        try:
            st = (root / rel).stat()
        except OSError:
            return f"{rel} is missing"
        if st.st_size != entry["size"]:
            return f"{rel} has {st.st_size} bytes, the manifest says {entry['size']}"
        if st.st_mtime_ns != entry["mtime_ns"]:
            try:
                digest = file_sha256(root / rel)
            except OSError as err:
                return f"{rel} is unreadable ({_one_line(err)})"
            if digest != entry["sha256"]:
                return f"{rel} was changed since it was written (its sha256 differs)"
            touched[rel] = st.st_mtime_ns
    if touched:
        _note_mtimes(root, text, touched)
    return None


def _note_mtimes(root: Path, text: str, touched: Mapping[str, int]) -> None:
    # Best effort, under the entry's lock if it is free (a build in progress: skip), and only
    # if the manifest is still the one that was checked; a read-only cache is left as it is.
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(root) + ".lock", timeout=0):
            if (root / MANIFEST).read_text(encoding="utf-8") != text:
                return
            manifest = json.loads(text)
            for rel, mtime_ns in touched.items():
                manifest["files"][rel]["mtime_ns"] = mtime_ns
            new = json.dumps(manifest, indent=0)
            atomic_write(root / MANIFEST, lambda f: f.write(new.encode()))
    except (Timeout, OSError):
        pass


def _write_manifest(folder: Path, fmt: int) -> None:
    # fmt: the store's FORMAT, recorded in the manifest.
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            st = path.stat()
            files[path.relative_to(folder).as_posix()] = dict(
                size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=file_sha256(path))
    text = json.dumps({"format": fmt, "files": files}, indent=0)
    atomic_write(folder / MANIFEST, lambda f: f.write(text.encode()))
