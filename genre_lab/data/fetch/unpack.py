"""Unpacking an archive (tar or zip) safely: no member outside the destination, and
bounds on the bytes and members it may unpack to."""

from __future__ import annotations

import errno
import lzma
import os
import re
import tarfile
import zipfile
import zlib
from pathlib import Path

from .errors import FetchError, _one_line
from .registry import GTZAN, _GiB

_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error,
                   lzma.LZMAError, OSError, RuntimeError, NotImplementedError, ValueError)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_member(archive: Path, name: str) -> None:
    """Refuse a member that would land outside the destination (absolute, or with ``..``)."""
    path = name.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        raise FetchError(f"{archive}: refused member {name!r}: absolute path")
    if ".." in path.split("/"):
        raise FetchError(f"{archive}: refused member {name!r}: '..' in the path")


def _size(n: int) -> str:
    return f"{n / _GiB:g} GiB" if n >= _GiB else f"{n:,} bytes"


class _UnpackBudget:
    """Counts an archive's members and bytes against its bounds: the sizes its headers
    declare before a member is written, and the bytes on disk after."""

    def __init__(self, archive: Path, max_bytes: int, max_members: int):
        self.archive, self.max_bytes, self.max_members = archive, max_bytes, max_members
        self.members = self.declared = self.written = 0

    def _refuse(self, what: str):
        raise FetchError(f"{self.archive}: refused: {what} (a damaged or hostile archive, or "
                         "not the one expected)")

    def declare(self, members: int, size: int) -> None:
        self.members += members
        self.declared += size
        if self.members > self.max_members:
            self._refuse(f"more than {self.max_members:,} members")
        if self.declared > self.max_bytes:
            self._refuse(f"it unpacks to more than {_size(self.max_bytes)}")

    def wrote(self, path) -> None:
        self.written += os.lstat(path).st_size
        if self.written > self.max_bytes:
            self._refuse(f"it wrote more than {_size(self.max_bytes)}")


def extract(archive, dest, *, max_bytes: int | None = None,
            max_members: int | None = None) -> Path:
    """Unpack a GTZAN archive (.tar.gz as published, or the Kaggle .zip) into ``dest``.

    Members with an absolute path or a ``..`` component are refused (zip: before anything is
    written; tar: when reached, as tarfile's ``data`` filter also refuses links out of
    ``dest`` and special files). So are archives that unpack to more than ``max_bytes`` or
    ``max_members`` (default: GTZAN's bounds): a zip's declared sizes are summed before
    anything is written, a tar's as each member is reached, and the bytes written are
    counted too. On an error ``dest`` may hold part of the archive: ``fetch_gtzan``
    therefore extracts into a temporary folder.

    Raises:
        FetchError: not a tar or zip archive, truncated or corrupt, an unsafe member, too
            large, or ``dest`` cannot be written; the message names the archive (and the
            member).
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    budget = _UnpackBudget(archive, GTZAN.max_unpacked if max_bytes is None else max_bytes,
                           GTZAN.max_members if max_members is None else max_members)

    def member_filter(member, path):
        _check_member(archive, member.name)
        return tarfile.data_filter(member, path)  # refuses links out of dest, devices, ...

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                infos = z.infolist()
                for info in infos:
                    _check_member(archive, info.filename)
                budget.declare(len(infos), sum(info.file_size for info in infos))
                for info in infos:
                    path = z.extract(info, dest)
                    if not info.is_dir():
                        budget.wrote(path)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                for member in t:  # read as reached: the bounds stop a bomb early
                    budget.declare(1, member.size if member.isreg() else 0)
                    t.extract(member, dest, filter=member_filter)
                    if member.isreg():
                        budget.wrote(os.path.join(dest, member.name))
        else:
            raise FetchError(f"{archive}: neither a tar nor a zip archive (or cut short)")
    except FetchError:
        raise
    except tarfile.FilterError as err:
        raise FetchError(f"{archive}: refused member {err.tarinfo.name!r}: "
                         f"{_one_line(err)}") from None
    except _ARCHIVE_ERRORS as err:
        if (isinstance(err, OSError) and err.errno in _WRITE_ERRNOS
                and err.filename != str(archive)):
            raise FetchError(f"{archive}: cannot unpack into {dest}: {err.strerror}") from None
        raise FetchError(f"{archive}: cannot unpack, truncated or corrupt archive "
                         f"({type(err).__name__}: {_one_line(err)})") from None
    return dest
