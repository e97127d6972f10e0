"""Atomic writes, and the temporary files that killed writes leave behind.

A temporary name carries its host and process id (``<target>.<host>-<pid>-<token>.tmp``), so
a later write in the same folder can tell a dead writer's file from a live one's. Also the two
helpers every entry format shares: a bound on the JSON read back, and one-line error text.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..config import cache_dir

#: Temporary files of killed runs older than this are removed, whoever made them.
STALE_TEMP_SECONDS = 24 * 3600
#: The most a JSON member (schema, table metadata) or a manifest may hold.
_MAX_JSON_BYTES = 16 << 20


def _host_tag() -> str:
    # The host and its PID namespace (containers): where a temp name's pid can be looked up.
    ident = socket.gethostname()
    try:
        ident += f"/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        pass
    return hashlib.sha256(ident.encode()).hexdigest()[:8]


_HOST = _host_tag()
# <target>.<host>-<pid>-<token>.tmp; before: <target>.<token>.tmp (no owner to check)
_TEMP = re.compile(r".+\.(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?[0-9a-f]{8}\.tmp")


def _temp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def file_sha256(path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on POSIX; elsewhere assumed alive, to be safe)."""
    if os.name != "posix":  # no safe probe (os.kill terminates on Windows): assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


def _remove_stale_temps(folder: Path) -> None:
    """Remove temporary files of killed writes in ``folder``: those whose process (on this
    host) is gone, and those over :data:`STALE_TEMP_SECONDS` old. A live writer's file is
    never touched: its process exists, and it was modified within the day. Names without an
    owner (older genre-lab) are only removed by age, and only in the cache."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    in_cache = None
    now = time.time()
    for entry in entries:
        match = _TEMP.fullmatch(entry.name)
        if match is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue  # temporary folders: cached_folder clears its own under its lock
        if match["host"] is None:
            if in_cache is None:
                in_cache = folder.resolve().is_relative_to(cache_dir().resolve())
            stale = in_cache and now - st.st_mtime > STALE_TEMP_SECONDS
        else:
            stale = now - st.st_mtime > STALE_TEMP_SECONDS or (
                match["host"] == _HOST and not pid_alive(int(match["pid"])))
        if stale:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def atomic_write(path, write: Callable[[BinaryIO], None], *, fsync: bool = False) -> Path:
    """Write a file all at once: ``write(f)`` fills a temporary file in the same folder, which
    then replaces ``path`` (``os.replace``: atomic on one file system).

    On any exception, KeyboardInterrupt included, the temporary file is removed and the old
    ``path`` (if any) is left as it was. Temporary files that killed processes left in the
    folder are removed first (see :func:`_remove_stale_temps`).

    Args:
        path: the file to write.
        write: writes the content to a binary file object.
        fsync: flush the file to disk before the rename (for files worth more than a cache
            entry, such as trained models).

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    _remove_stale_temps(path.parent)
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
