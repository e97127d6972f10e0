"""The folders a fetch works in: the destination (writable, locked: one fetch at a time),
temporary folders marked with an owner file (and the removal of those a killed run left),
the ``.genre-lab-fetch.json`` record of what a fetch made, and the swap-in that replaces
only what an earlier fetch made."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

from ... import store
from .errors import FetchError, _one_line


def _writable_folder(dest) -> Path:
    """``dest`` as a folder this process may write in, created if need be.

    Raises:
        FetchError: ``dest`` (or a folder above it) is a file, or is not writable.
    """
    dest = Path(dest).expanduser()
    existing = dest
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise FetchError(f"{existing}: not a folder (the destination must be a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FetchError(f"{existing}: not writable")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # PermissionError, a read-only file system, ...
        raise FetchError(f"{dest}: cannot create the folder ({_one_line(err)})") from None
    return dest


_OWNER = ".genre-lab-owner"  # in each temporary folder: {"made_by", "pid", "host"}
_MADE_BY = "genre-lab fetch"
RECORD = ".genre-lab-fetch.json"  # in each fetched folder: every path the fetch put there
_TEMP = re.compile(r"\.[\w.-]+-(?P<kind>new|old)-(?P<pid>\d+)-\w+")


def _temp_folder(dest: Path, prefix: str) -> Path:
    """A new folder ``dest/.<prefix>-<pid>-<random>`` marked as this process's."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{prefix}-{os.getpid()}-", dir=dest))
        (folder / _OWNER).write_text(json.dumps(
            {"made_by": _MADE_BY, "pid": os.getpid(), "host": socket.gethostname()}))
    except OSError as err:
        raise FetchError(f"{dest}: cannot create a folder there ({_one_line(err)})") from None
    return folder


def _remove_stale(dest: Path, kind: str) -> None:
    """Remove the temporary folders of ``kind`` ("new": unpacked or downloaded files; "old":
    an earlier copy moved aside) that a run killed on this host left in ``dest``.

    Only folders whose name and owner file say they are ours, whose owner process is gone,
    and (for "old") that hold nothing but what their copied record lists.
    """
    try:
        children = list(dest.iterdir())
    except OSError:
        return
    for folder in children:
        match = _TEMP.fullmatch(folder.name)
        if not match or match["kind"] != kind or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            owner = json.loads((folder / _OWNER).read_text())
            pid = int(match["pid"])
            ours = (owner.get("made_by") == _MADE_BY and owner.get("pid") == pid
                    and owner.get("host") == socket.gethostname())
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        if not ours or pid == os.getpid() or store.pid_alive(pid):
            continue
        if kind == "old":
            try:
                listed = _read_record(folder) or set()
                aside = folder / "aside"
                names = sorted(p.name for p in aside.iterdir()) if aside.is_dir() else []
                if _first_unlisted(aside, names, listed) is not None:
                    continue
            except (FetchError, OSError):
                continue
        shutil.rmtree(folder, ignore_errors=True)


_HELD_LOCKS: set = set()


@contextlib.contextmanager
def _folder_lock(dest: Path, *, wait: bool):
    """Hold an exclusive lock on the folder ``dest`` (flock on the folder itself, so no lock
    file is left); re-entrant within a process. ``wait=False``: refuse at once when another
    fetch holds it. Where the folder cannot be locked (Windows, some network file systems)
    it goes on without a lock.
    """
    try:
        import fcntl

        fd = os.open(dest, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        key = tuple(os.fstat(fd)[1:3])  # (inode, device)
        locked = False
        if key not in _HELD_LOCKS:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                locked = True
            except BlockingIOError:
                raise FetchError(f"{dest}: another genre-lab fetch is working in this folder; "
                                 "wait until it ends and run again") from None
            except OSError:
                pass
        if locked:
            _HELD_LOCKS.add(key)
        try:
            yield
        finally:
            if locked:
                _HELD_LOCKS.discard(key)
    finally:
        os.close(fd)  # releases the lock


def _paths_below(folder: Path, rel: str):
    """``rel`` (a folder: ``rel/``) and every path below ``folder``, named from ``rel``;
    symbolic links are not followed."""
    if folder.is_symlink() or not folder.is_dir():
        yield rel
        return
    yield rel + "/"
    for child in sorted(folder.iterdir()):
        yield from _paths_below(child, f"{rel}/{child.name}")


def _listing(folder: Path) -> list[str]:
    """Every path below ``folder`` (relative, a folder ending in ``/``)."""
    return [p for child in sorted(folder.iterdir()) for p in _paths_below(child, child.name)]


def _first_unlisted(folder: Path, names, listed: set) -> Path | None:
    """The first path below ``folder/<name>`` (for each of ``names``) not in ``listed``."""
    for name in names:
        for rel in _paths_below(folder / name, name):
            if rel not in listed:
                return folder / rel.rstrip("/")
    return None


def _read_record(root: Path, name: str = RECORD) -> set | None:
    """The paths listed in ``root/<name>``, or None when there is no record.

    Raises:
        FetchError: the record is there but unreadable.
    """
    path = root / name
    if not os.path.lexists(path):
        return None
    try:
        record = json.loads(path.read_text())
        if record.get("made_by") != _MADE_BY:
            raise ValueError("not genre-lab's")
        paths = record["paths"]
        if not isinstance(paths, list) or not all(map(_is_plain_relative, paths)):
            raise ValueError("a path that is not plain and relative")
        return set(paths)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise FetchError(f"{path}: not a readable genre-lab fetch record ({_one_line(err)}); "
                         "move it away and run again") from None


def _is_plain_relative(path) -> bool:
    # What _listing writes: "a/b" or "a/b/", no empty, ".", ".." part; never the record.
    parts = path.removesuffix("/").split("/") if isinstance(path, str) else [""]
    return parts[0] != RECORD and all(p not in ("", ".", "..") for p in parts)


def _top_names(listed: set) -> list[str]:
    return sorted({p.split("/")[0] for p in listed})


def _check_replaceable(root: Path, names, listed: set | None, archive=None) -> None:
    """Refuse (before any work) what a swap into ``root`` would have to delete and did not
    make: a path in the way of ``names`` that the record does not list, anything unlisted
    inside a folder the record lists, or ``archive`` itself inside one."""
    listed = listed or set()
    ours = [n for n in _top_names(listed) if os.path.lexists(root / n)]
    for name in names:
        if os.path.lexists(root / name) and name not in ours:
            raise FetchError(f"{root / name}: already there and not made by genre-lab fetch "
                             f"(not in {RECORD}); move it away and run again")
    if archive is not None:
        where = Path(archive).resolve()
        for name in ours:
            if where.is_relative_to((root / name).resolve()):
                raise FetchError(f"{archive}: inside {root / name}, which a new fetch "
                                 "replaces; move the archive out of it and run again")
    stray = _first_unlisted(root, ours, listed)
    if stray is not None:
        folder = root / stray.relative_to(root).parts[0]
        raise FetchError(f"{stray}: not made by genre-lab fetch, inside {folder}, which a new "
                         "fetch replaces; move it out of there and run again")


def _swap_in(new: Path, root: Path, archive=None) -> None:
    """Move what folder ``new`` holds into ``root`` (same file system), and list it in
    ``root/.genre-lab-fetch.json``.

    What the earlier record lists is moved aside, checked to hold nothing else, and only
    then removed; anything else in ``root`` stays. Refused (FetchError, nothing changed)
    when an entry of ``new`` would replace a path the record does not list, or a folder to
    replace holds an unlisted file. On a failed move everything is put back.
    """
    names = sorted(p.name for p in new.iterdir())
    if RECORD in names:
        raise FetchError(f"{archive}: holds a member named {RECORD}, genre-lab's record; "
                         "refused")
    record = json.dumps({"made_by": _MADE_BY, "archive": str(archive),
                         "paths": _listing(new)}, indent=0)
    if not os.path.lexists(root):
        (new / RECORD).write_text(record)
        os.rename(new, root)
        return
    listed = _read_record(root)
    _check_replaceable(root, names, listed)
    ours = [n for n in _top_names(listed or set()) if os.path.lexists(root / n)]
    holder = _temp_folder(root.parent, f"{root.name}-old")
    aside = holder / "aside"
    moved_aside, moved_in, recorded = [], [], False
    try:
        aside.mkdir()
        if listed is not None:  # kept with the moved-aside copy: what may be removed
            shutil.copyfile(root / RECORD, holder / RECORD)
        for name in ours:
            os.rename(root / name, aside / name)
            moved_aside.append(name)
        stray = _first_unlisted(aside, ours, listed or set())
        if stray is not None:  # it appeared since the check
            raise FetchError(f"{root / stray.relative_to(aside)}: not made by genre-lab fetch, "
                             "inside a folder a new fetch replaces; move it out of there and "
                             "run again")
        (holder / "record.new").write_text(record)
        os.replace(holder / "record.new", root / RECORD)
        recorded = True
        for name in names:
            os.rename(new / name, root / name)
            moved_in.append(name)
    except (OSError, FetchError) as err:
        try:
            for name in reversed(moved_in):
                os.rename(root / name, new / name)
            for name in moved_aside:
                os.rename(aside / name, root / name)
            if recorded and listed is not None:
                os.replace(holder / RECORD, root / RECORD)
            elif recorded:
                (root / RECORD).unlink()
        except OSError:
            raise FetchError(f"{root}: cannot move the new copy in ({_one_line(err)}), nor "
                             f"put the earlier one back: it is kept in {aside}") from None
        shutil.rmtree(holder, ignore_errors=True)
        if isinstance(err, FetchError):
            raise
        raise FetchError(f"{root}: cannot move the new copy in ({_one_line(err)}); the "
                         "earlier copy is unchanged") from None
    shutil.rmtree(holder, ignore_errors=True)
