"""Getting real data: the GTZAN archive and the fault-filtered split lists, with pooch.

Every file has a registry entry (its name, one or more URLs, a sha256 hash). Downloads go
through ``pooch.retrieve`` into a temporary folder, which verifies the hash; only a verified
file replaces one of the same name in the destination (a file there with the right hash is
used as it is), and a download without a known hash never replaces anything. Large files
resume where an interrupted download stopped (HTTP range requests).

* The split lists of Kereliuk, Sturm & Larsen (2015), as published in three public
  repositories (byte-identical copies).
* The original GTZAN archive ``genres.tar.gz`` (1.2 GB, .au files), whose home at
  ``opihi.cs.uvic.ca`` is often down: the registry adds the Internet Archive's copy, and a
  user can name an archive already on disk or another mirror. It is unpacked (within a size
  and member-count bound) and checked in a temporary folder and only then swapped in: a
  failed fetch never harms an earlier one.
* FMA (Defferrard et al. 2017): ``fma_metadata.zip`` and the audio subsets' zips, verified
  by the sha1 sums its authors publish, unpacked and swapped in the same way.

What a fetch unpacks into a folder (``dest/gtzan``, ``dest/fma_small``) is listed in that
folder's ``.genre-lab-fetch.json``; a later fetch replaces only those paths and refuses when
one of its folders holds anything else. Temporary folders (``.gtzan-new-<pid>-*`` and the
like) carry their owner's pid and host; one left by a killed run is removed by the next
fetch into the same folder. One fetch at a time works in a folder (a lock on the folder).

Every failure is a one-line ``FetchError`` that names the file.

Modules: ``registry`` (the entries), ``downloads`` (resumable, verified downloads),
``unpack`` (bounded, safe extraction), ``swap`` (temporary folders, the folder lock, the
record and the swap-in), ``errors`` (``FetchError``); this module holds the fetches.

Notebook: 08-evaluation (the filtered split); the instructor guide (real data).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import urllib.parse
from pathlib import Path

import pooch

from ... import config
from .downloads import ResumableDownloader, _retrieve, _sha256_or_none, download
from .errors import FetchError, _one_line
from .registry import FMA, FMA_SIZES, GTZAN, SPLITS, Entry
from .swap import (
    RECORD,
    _check_replaceable,
    _folder_lock,
    _read_record,
    _remove_stale,
    _swap_in,
    _temp_folder,
    _writable_folder,
)
from .unpack import extract

__all__ = ["FMA", "FMA_SIZES", "GTZAN", "RECORD", "SPLITS", "Entry", "FetchError",
           "ResumableDownloader", "convert_au", "download", "extract", "fetch_fma",
           "fetch_gtzan", "fetch_splits", "split_lists_folder"]


def fetch_splits(dest=None, *, progressbar: bool = False) -> Path:
    """Download the three fault-filtered split lists; returns their folder.

    Default folder: ``cache_dir()/splits``.

    Raises:
        FetchError: a list cannot be downloaded (offline, every mirror down) or ``dest`` is
            not a writable folder; one message, one line.
    """
    dest = _writable_folder(Path(dest) if dest else config.cache_dir() / "splits")
    with _folder_lock(dest, wait=True):
        for entry in SPLITS.values():
            download(entry, dest, progressbar=progressbar)
    return dest


def split_lists_folder() -> Path:
    """The folder of the filtered split lists: fetched ones in the cache, else downloaded now.

    Raises:
        FetchError: they are not in the cache and cannot be downloaded (offline); pass a
            folder that holds them instead (``--split-folder``).
    """
    folder = config.cache_dir() / "splits"
    if all((folder / name).is_file() for name in SPLITS):
        return folder
    try:
        return fetch_splits(folder)
    except FetchError as err:
        raise FetchError(f"{err}; the filtered split lists are not cached: run "
                         "`genre-lab fetch splits` once online, or give a folder that holds "
                         "them (--split-folder)") from None


def convert_au(root, *, progress: bool = True) -> int:
    """Convert every ``.au`` clip below ``root`` into a 16-bit ``.wav`` beside it and remove
    the ``.au`` (the Kaggle copy's format); returns the number converted.

    A clip that cannot be decoded is left as it is (``gtzan.scan`` reports it as skipped).
    """
    import soundfile as sf

    from ...parallel import progress_bar

    files = sorted(Path(root).rglob("*.au"))
    done = 0
    for au in progress_bar(files, desc="au -> wav", unit="clip", disable=not progress):
        try:
            data, rate = sf.read(str(au), dtype="int16")
        except (sf.LibsndfileError, RuntimeError):
            continue
        tmp = au.with_suffix(".wav.tmp")
        sf.write(str(tmp), data, rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, au.with_suffix(".wav"))
        au.unlink()
        done += 1
    return done


def fetch_gtzan(dest, *, archive=None, url=None, sha256: str | None = None,
                convert: bool = True, progressbar: bool = True) -> Path:
    """Get GTZAN into ``dest`` and return the folder to set as ``GENRE_LAB_DATA``.

    The archive is unpacked into a temporary folder inside ``dest``, its ``.au`` clips are
    converted there, and it is checked (a GTZAN layout with usable clips in each of the 10
    genre folders); only then is it swapped into ``dest/gtzan`` (``_swap_in``): what an
    earlier fetch put there is replaced, everything else in ``dest/gtzan`` (notes, runs, the
    archive itself) stays. A fetch that would have to delete a file it did not make refuses
    before it starts. On any failure the temporary folder is removed and ``dest/gtzan`` is
    as it was; no file already in ``dest`` is removed or replaced except by a download that
    verifies against its hash.

    Args:
        dest: where the archive and the clips go.
        archive: an archive already on disk (``genres.tar.gz`` or Kaggle's zip); verified
            against ``sha256`` when given.
        url: a mirror to download from instead of the registry's URLs; without ``sha256``
            the download is kept (as ``dest/<its name>``) only if the fetch succeeds and
            that name is free.
        sha256: the expected hash of ``archive`` or ``url``'s file.
        convert: turn ``.au`` clips into ``.wav``.

    Raises:
        FetchError: ``dest`` is not a writable folder (checked before any download), another
            fetch works there, the archive cannot be had or verified, is truncated, corrupt
            or too large, holds an unsafe member, or is not a complete GTZAN, or the swap
            would delete what a fetch did not make; one line that names the file.
    """
    dest = _writable_folder(dest)
    sha256 = _sha256_or_none(sha256, archive or url or GTZAN.fname)
    if archive is None and url is None and sha256 not in (None, GTZAN.sha256):
        raise FetchError(f"{GTZAN.fname}: sha256 {sha256} is not the registry's "
                         f"({GTZAN.sha256}); give the file with --archive or --url")
    root = dest / "gtzan"
    with _folder_lock(dest, wait=False):
        _remove_stale(dest, "new")
        _check_root(root)
        if archive is not None:
            archive = Path(archive).expanduser()
            _check_archive(archive, sha256)
        _check_replaceable(root, (), _read_record(root), archive)
        scratch = _temp_folder(dest, "gtzan-new")
        label = str(archive or url or GTZAN.fname)  # what messages name
        try:
            if archive is None:
                entry = GTZAN if url is None else Entry(_url_fname(url, root.name), (url,),
                                                        sha256)
                archive = _retrieve(entry, dest, scratch, progressbar=progressbar)
                label = str(archive) if archive.parent == dest else f"{url} (downloaded)"
            unpacked = scratch / "unpacked"
            extract(archive, unpacked, max_bytes=GTZAN.max_unpacked,
                    max_members=GTZAN.max_members)
            if convert:
                convert_au(unpacked, progress=progressbar)
            _check_complete(archive, unpacked)
            _swap_in(unpacked, root, label)
            if archive.parent == scratch and not os.path.lexists(dest / archive.name):
                with contextlib.suppress(OSError):  # an unverified download: kept if free
                    os.rename(archive, dest / archive.name)
        except BaseException as err:
            if isinstance(err, FetchError):  # named as the user knows them
                text = str(err).replace(str(scratch / "unpacked"), str(root))
                if archive is not None:
                    text = text.replace(str(archive), label)
                raise FetchError(text) from None
            if isinstance(err, OSError | RuntimeError):
                raise FetchError(f"{label}: {type(err).__name__}: {_one_line(err)}") from None
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        _remove_stale(dest, "old")
    return root


def _url_fname(url: str, avoid: str) -> str:
    """The file name a download from ``url`` is kept under (GTZAN's when the URL has none)."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name.startswith(".") or name == avoid or re.search(r"[/\\\0]", name):
        return GTZAN.fname
    return name


def _check_root(root: Path) -> None:
    if root.is_symlink() and not root.exists():
        raise FetchError(f"{root}: a broken symbolic link; remove it, or point it at a folder")
    if root.exists() and not root.is_dir():
        raise FetchError(f"{root}: exists and is not a folder")


def _check_archive(archive: Path, sha256: str | None) -> None:
    """Raise FetchError unless ``archive`` is a readable file (with that hash, if given)."""
    if archive.is_dir():
        raise FetchError(f"{archive}: a folder, not an archive (give the .tar.gz or .zip)")
    if not archive.exists():
        broken = " (a broken symbolic link)" if archive.is_symlink() else ""
        raise FetchError(f"{archive}: no such archive{broken}")
    if not archive.is_file():
        raise FetchError(f"{archive}: not a regular file (give the .tar.gz or .zip)")
    try:
        with open(archive, "rb"):
            pass
    except OSError as err:
        raise FetchError(f"{archive}: cannot read it ({err.strerror})") from None
    if sha256:
        actual = pooch.file_hash(str(archive), alg="sha256")
        if actual != sha256:
            raise FetchError(f"{archive}: sha256 is {actual}, expected {sha256}")


def _check_complete(archive: Path, folder: Path) -> None:
    """Raise FetchError unless ``folder`` (what ``archive`` unpacked into) is a GTZAN layout
    with at least one usable clip in every genre folder."""
    from ... import GENRES
    from .. import gtzan

    try:
        report = gtzan.scan(folder)
    except gtzan.GTZANError as err:
        where = os.path.abspath(folder)
        text = _one_line(err)
        for form in {str(Path(where).resolve()), where}:
            text = text.replace(form + os.sep, "").replace(form, ".")
        raise FetchError(f"{archive}: not a GTZAN archive ({text.removeprefix('.: ')})"
                         ) from None
    with_clips = set(report.tracks.genre)
    empty = [g for g in GENRES if g not in with_clips and g not in report.missing_genres]
    what = []
    if report.missing_genres:
        what.append("no folder for " + ", ".join(report.missing_genres))
    if empty:
        what.append("no usable clip in " + ", ".join(empty))
    if what:
        raise FetchError(f"{archive}: not a complete GTZAN archive ({'; '.join(what)})")


def fetch_fma(dest, what: str = "small", *, progressbar: bool = True) -> Path:
    """Get FMA's metadata and (unless ``what`` is "metadata") one audio subset into ``dest``;
    returns ``dest``, the root that ``fma.load_tracks`` reads.

    Each zip is downloaded (resumable, verified by its published sha1; a verified zip
    already in ``dest`` is reused), unpacked into a temporary folder inside ``dest`` (within
    its entry's bounds), checked (``fma_metadata/tracks.csv`` with FMA's columns;
    ``fma_<subset>/NNN/*.mp3``) and only then swapped into ``dest/fma_<what>``, as
    ``fetch_gtzan`` does: on any failure the earlier folder is as it was, and files a fetch
    did not make stay. The clips themselves are checked when loaded. It needs room for a
    zip and its unpacked copy (2 x 7.2 GiB for small; a third copy while an earlier folder
    is replaced).

    Args:
        what: "metadata", or a subset of :data:`FMA` (small: 7.2 GiB; medium, large and full
            are 22, 93 and 879 GiB: the CLI leaves those to a download manager).

    Raises:
        FetchError: ``dest`` is not a writable folder, another fetch works there, a zip
            cannot be had (offline) or does not match its sha1, is corrupt or too large, or
            does not hold what FMA's zip holds; one line.
    """
    if what not in FMA:
        raise FetchError(f"unknown FMA part {what!r}: choose one of {', '.join(FMA)}")
    dest = _writable_folder(dest)
    with _folder_lock(dest, wait=False):
        _remove_stale(dest, "new")
        for part in dict.fromkeys(["metadata", what]):
            _fetch_fma_zip(part, dest, progressbar=progressbar)
        _remove_stale(dest, "old")
    return dest


def _fetch_fma_zip(part: str, dest: Path, *, progressbar: bool) -> None:
    from .. import fma

    name, entry = f"fma_{part}", FMA[part]
    root = dest / name
    _check_root(root)
    _check_replaceable(root, (), _read_record(root))
    archive = dest / entry.fname
    scratch = _temp_folder(dest, "fma-new")
    try:
        archive = _retrieve(entry, dest, scratch, progressbar=progressbar)
        unpacked = scratch / "unpacked"
        extract(archive, unpacked, max_bytes=entry.max_unpacked, max_members=entry.max_members)
        if not (unpacked / name).is_dir():
            raise FetchError(f"{archive}: not FMA's {name}.zip (no {name}/ folder inside)")
        if part == "metadata":
            try:
                fma.header(unpacked / name / "tracks.csv")
            except fma.FMAError as err:
                text = _one_line(err).replace(str(unpacked / name) + os.sep, "")
                raise FetchError(f"{archive}: not FMA's metadata ({text})") from None
        elif next((unpacked / name).glob("[0-9][0-9][0-9]/[0-9]*.mp3"), None) is None:
            raise FetchError(f"{archive}: no {name}/NNN/NNNNNN.mp3 inside")
        _swap_in(unpacked / name, root, archive)
    except BaseException as err:
        if isinstance(err, FetchError):  # named as the user knows them
            raise FetchError(str(err).replace(str(scratch / "unpacked"), str(dest))) from None
        if isinstance(err, OSError | RuntimeError):
            raise FetchError(f"{archive}: {type(err).__name__}: {_one_line(err)}") from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
