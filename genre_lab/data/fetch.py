"""Getting real data: the GTZAN archive and the fault-filtered split lists, with pooch.

Every file has a registry entry (its name, one or more URLs, a sha256 hash). Downloads go
through ``pooch.retrieve``, which verifies the hash and keeps nothing that fails it; large
files resume where an interrupted download stopped (HTTP range requests).

* The split lists of Kereliuk, Sturm & Larsen (2015), as published in three public
  repositories (byte-identical copies).
* The original GTZAN archive ``genres.tar.gz`` (1.2 GB, .au files), whose home at
  ``opihi.cs.uvic.ca`` is often down: the registry adds the Internet Archive's copy, and a
  user can name an archive already on disk or another mirror. It is unpacked and checked in
  a temporary folder and only then swapped in: a failed fetch never harms an earlier one.
* FMA (Defferrard et al. 2017): ``fma_metadata.zip`` and the audio subsets' zips, verified
  by the sha1 sums its authors publish, unpacked and swapped in the same way.

Every failure is a one-line ``FetchError`` that names the file.

Notebook: 08-evaluation (the filtered split); the instructor guide (real data).
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pooch

from .. import config


@dataclass(frozen=True)
class Entry:
    """A downloadable file: where it may be had, and the sha256 it must have (or the hash
    of another algorithm that pooch knows, named by ``alg``: FMA publishes sha1 sums)."""

    fname: str
    urls: tuple[str, ...]
    sha256: str | None
    alg: str = "sha256"


_SPLIT_MIRRORS = (
    "https://raw.githubusercontent.com/coreyker/dnn-mgr/master/gtzan/{}",
    "https://raw.githubusercontent.com/jongpillee/music_dataset_split/master/GTZAN_split/{}",
    "https://raw.githubusercontent.com/jordipons/sklearn-audio-transfer-learning/master/"
    "data/index/GTZAN/{}",
)
#: The fault-filtered split lists (443 / 197 / 290 tracks).
SPLITS = {
    name: Entry(name, tuple(m.format(name) for m in _SPLIT_MIRRORS), sha)
    for name, sha in [
        ("train_filtered.txt", "2b04966cef1486f1a7767b74271533fa23e220388db804a1937835e1fc4fa3fa"),
        ("valid_filtered.txt", "f8fbee7c52397a0e0f3a91dc54fedecb2e27f5bdc9a9daeab8cb10d077e26956"),
        ("test_filtered.txt", "09cafa6a89ce0a27f30ed250d56ecb4d03c22fffb5a693f96c7ae655ee02ac72"),
    ]
}
#: The original GTZAN archive; the hash is the one torchaudio's GTZAN loader checks.
GTZAN = Entry(
    "genres.tar.gz",
    ("http://opihi.cs.uvic.ca/sound/genres.tar.gz",
     "https://web.archive.org/web/20220328223413/http://opihi.cs.uvic.ca/sound/genres.tar.gz"),
    "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6",
)
#: FMA (Defferrard et al. 2017): the metadata and the audio subsets, with the sha1 sums and
#: URLs of mdeff/fma README.md (release of 2017-05-09) and sizes as it states them.
FMA = {
    name: Entry(f"fma_{name}.zip", (f"https://os.unil.cloud.switch.ch/fma/fma_{name}.zip",),
                sha1, alg="sha1")
    for name, sha1 in [("metadata", "f0df49ffe5f2a6008d7dc83c6915b31835dfe733"),
                       ("small", "ade154f733639d52e35e32f5593efe5be76c6d70"),
                       ("medium", "c67b69ea232021025fca9231fc1c7c1a063ab50b"),
                       ("large", "497109f4dd721066b5ce5e5f250ec604dc78939e"),
                       ("full", "0f0ace23fbe9ba30ecb7e95f763e435ea802b8ab")]
}
FMA_SIZES = {"metadata": "342 MiB", "small": "7.2 GiB", "medium": "22 GiB", "large": "93 GiB",
             "full": "879 GiB"}


class FetchError(RuntimeError):
    """A download or archive that could not be had or did not verify."""


class ResumableDownloader:
    """A pooch downloader that continues a partial download with an HTTP range request.

    The bytes go to ``<dest>/<fname>.part`` and survive an interruption; when complete they
    are handed to pooch, which checks the hash before keeping the file.
    """

    def __init__(self, part: Path, *, progressbar: bool = True, timeout: float = 60.0):
        self.part, self.progressbar, self.timeout = Path(part), progressbar, timeout

    def __call__(self, url, output_file, pooch_, check_only=False):
        import requests

        from ..parallel import progress_bar

        if check_only:
            return requests.head(url, allow_redirects=True, timeout=self.timeout).ok
        have = self.part.stat().st_size if self.part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as r:
            if r.status_code == 416:  # the part file already holds everything
                pass
            else:
                r.raise_for_status()
                resumed = r.status_code == 206
                total = int(r.headers.get("content-length", 0)) + (have if resumed else 0)
                with open(self.part, "ab" if resumed else "wb") as f, progress_bar(
                        total=total or None, initial=have if resumed else 0, unit="B",
                        unit_scale=True, desc=self.part.name.removesuffix(".part"),
                        disable=not self.progressbar) as bar:
                    for chunk in r.iter_content(chunk_size=1 << 20):
                        f.write(chunk)
                        bar.update(len(chunk))
        os.replace(self.part, output_file)


def download(entry: Entry, dest, *, urls=None, sha256: str | None = None,
             progressbar: bool = True) -> Path:
    """Download ``entry`` into ``dest`` (resumable), verified by its sha256; mirrors are tried
    in order. A file already there with the right hash is not downloaded again.

    A file without a known sha256 is never trusted from an earlier run: it is downloaded
    afresh every time (no reuse, no resuming of a ``.part``), because nothing can tell
    whether the copy on disk is complete and the one the URL serves (a cut download or a
    mirror's error page looks just like an archive). pooch logs the sha256 of such a
    download; pass it (``--sha256``) to have the file verified and reused.

    Args:
        urls: override the entry's URLs (e.g. a mirror).
        sha256: override the entry's hash (None keeps it; a user-named URL without a hash is
            downloaded unverified, and the log says so).

    Raises:
        FetchError: ``dest`` is not a writable folder, or every URL failed or gave a file
            with the wrong hash (one message, one line).
    """
    import requests

    dest = _writable_folder(dest)
    known = sha256 or entry.sha256
    part = dest / (entry.fname + ".part")
    if not known:  # unverifiable: never reuse an earlier run's file or partial file
        for stale in (dest / entry.fname, part):
            try:
                stale.unlink(missing_ok=True)
            except OSError as err:
                raise FetchError(f"{stale}: cannot remove the unverified earlier download "
                                 f"({err})") from None
    errors = []
    for url in urls or entry.urls:
        try:
            alg = "sha256" if sha256 else entry.alg
            path = pooch.retrieve(url, known_hash=f"{alg}:{known}" if known else None,
                                  fname=entry.fname, path=dest,
                                  downloader=ResumableDownloader(part, progressbar=progressbar))
            return Path(path)
        except ValueError as err:  # hash mismatch: pooch kept nothing; drop the partial too
            part.unlink(missing_ok=True)
            errors.append(f"{url}: {_one_line(err)}")
        except requests.ConnectionError:
            errors.append(f"{url}: cannot connect")
        except requests.Timeout:
            errors.append(f"{url}: timed out")
        except (requests.RequestException, OSError) as err:
            errors.append(f"{url}: {type(err).__name__}: {_one_line(err)}")
    raise FetchError(f"could not fetch {entry.fname}: " + "; ".join(errors))


def _one_line(err) -> str:
    return " ".join(str(err).split())


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


def fetch_splits(dest=None, *, progressbar: bool = False) -> Path:
    """Download the three fault-filtered split lists; returns their folder.

    Default folder: ``cache_dir()/splits``.

    Raises:
        FetchError: a list cannot be downloaded (offline, every mirror down) or ``dest`` is
            not a writable folder; one message, one line.
    """
    dest = Path(dest) if dest else config.cache_dir() / "splits"
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


_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error,
                   lzma.LZMAError, OSError, RuntimeError, NotImplementedError, ValueError)
_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_member(archive: Path, name: str) -> None:
    """Refuse a member that would land outside the destination (absolute, or with ``..``)."""
    path = name.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        raise FetchError(f"{archive}: refused member {name!r}: absolute path")
    if ".." in path.split("/"):
        raise FetchError(f"{archive}: refused member {name!r}: '..' in the path")


def extract(archive, dest) -> Path:
    """Unpack a GTZAN archive (.tar.gz as published, or the Kaggle .zip) into ``dest``.

    Members with an absolute path or a ``..`` component are refused (zip: before anything is
    written; tar: when reached, as tarfile's ``data`` filter also refuses links out of
    ``dest`` and special files). On an error ``dest`` may hold part of the archive:
    ``fetch_gtzan`` therefore extracts into a temporary folder.

    Raises:
        FetchError: not a tar or zip archive, truncated or corrupt, or an unsafe member; the
            message names the archive (and the member).
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)

    def member_filter(member, path):
        _check_member(archive, member.name)
        return tarfile.data_filter(member, path)  # refuses links out of dest, devices, ...

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    _check_member(archive, name)
                z.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                t.extractall(dest, filter=member_filter)
        else:
            raise FetchError(f"{archive}: neither a tar nor a zip archive (or cut short)")
    except FetchError:
        raise
    except tarfile.FilterError as err:
        raise FetchError(f"{archive}: refused member {err.tarinfo.name!r}: "
                         f"{_one_line(err)}") from None
    except _ARCHIVE_ERRORS as err:
        raise FetchError(f"{archive}: cannot unpack, truncated or corrupt archive "
                         f"({type(err).__name__}: {_one_line(err)})") from None
    return dest


def convert_au(root, *, progress: bool = True) -> int:
    """Convert every ``.au`` clip below ``root`` into a 16-bit ``.wav`` beside it and remove
    the ``.au`` (the Kaggle copy's format); returns the number converted.

    A clip that cannot be decoded is left as it is (``gtzan.scan`` reports it as skipped).
    """
    import soundfile as sf

    from ..parallel import progress_bar

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
    genre folders); only then does it replace ``dest/gtzan``: the earlier folder is moved
    aside, the new one moved in, and the earlier one removed. On any failure the temporary
    folder is removed and ``dest/gtzan`` is as it was. A file downloaded without a sha256
    is removed when the fetch fails (it is never reused anyway: see ``download``).

    Args:
        dest: where the archive and the clips go.
        archive: an archive already on disk (``genres.tar.gz`` or Kaggle's zip); verified
            against ``sha256`` when given.
        url: a mirror to download from instead of the registry's URLs.
        sha256: the expected hash of ``archive`` or ``url``'s file.
        convert: turn ``.au`` clips into ``.wav``.

    Raises:
        FetchError: ``dest`` is not a writable folder (checked before any download), the
            archive cannot be had or verified, is truncated or corrupt, holds an unsafe
            member, or is not a complete GTZAN; one line that names the file.
    """
    dest = Path(dest)
    _writable_folder(dest)
    root = dest / "gtzan"
    if root.exists() and not root.is_dir():
        raise FetchError(f"{root}: exists and is not a folder")
    unverified = None
    if archive is not None:
        archive = Path(archive)
        if not archive.is_file():
            raise FetchError(f"{archive}: no such archive")
        if sha256:
            actual = pooch.file_hash(str(archive), alg="sha256")
            if actual != sha256.lower():
                raise FetchError(f"{archive}: sha256 is {actual}, expected {sha256}")
    else:
        entry = GTZAN if url is None else Entry(Path(url).name or GTZAN.fname, (url,), sha256)
        archive = download(entry, dest, sha256=sha256 if url else None, progressbar=progressbar)
        if not entry.sha256:
            unverified = archive
    try:
        new = Path(tempfile.mkdtemp(prefix=".gtzan-new-", dir=dest))
    except OSError as err:
        raise FetchError(f"{dest}: cannot create a folder there ({_one_line(err)})") from None
    try:
        extract(archive, new)
        if convert:
            convert_au(new, progress=progressbar)
        _check_complete(archive, new)
        _swap_in(new, root)
    except BaseException as err:
        shutil.rmtree(new, ignore_errors=True)
        if unverified is not None:
            unverified.unlink(missing_ok=True)
        if isinstance(err, OSError | RuntimeError) and not isinstance(err, FetchError):
            raise FetchError(f"{archive}: {type(err).__name__}: {_one_line(err)}") from None
        raise
    return root


def _check_complete(archive: Path, folder: Path) -> None:
    """Raise FetchError unless ``folder`` (what ``archive`` unpacked into) is a GTZAN layout
    with at least one usable clip in every genre folder."""
    from .. import GENRES
    from . import gtzan

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


def _swap_in(new: Path, root: Path) -> None:
    """Put folder ``new`` at ``root`` (same file system); an earlier ``root`` is moved aside
    first and put back if the move fails, then removed."""
    if not root.exists():
        os.rename(new, root)
        return
    holder = Path(tempfile.mkdtemp(prefix=f".{root.name}-old-", dir=root.parent))
    old = holder / root.name
    try:
        os.rename(root, old)
    except OSError as err:
        holder.rmdir()
        raise FetchError(f"{root}: cannot move the earlier copy aside ({_one_line(err)}); "
                         "it is unchanged") from None
    try:
        os.rename(new, root)
    except OSError as err:
        try:
            os.rename(old, root)
        except OSError:
            raise FetchError(f"{root}: cannot move the new copy in ({_one_line(err)}); the "
                             f"earlier copy is kept in {old}") from None
        holder.rmdir()
        raise FetchError(f"{root}: cannot move the new copy in ({_one_line(err)}); the "
                         "earlier copy is unchanged") from None
    shutil.rmtree(holder, ignore_errors=True)


def fetch_fma(dest, what: str = "small", *, progressbar: bool = True) -> Path:
    """Get FMA's metadata and (unless ``what`` is "metadata") one audio subset into ``dest``;
    returns ``dest``, the root that ``fma.load_tracks`` reads.

    Each zip is downloaded (resumable, verified by its published sha1; a verified zip
    already in ``dest`` is reused), unpacked into a temporary folder inside ``dest``,
    checked (``fma_metadata/tracks.csv`` with FMA's columns; ``fma_<subset>/NNN/*.mp3``) and
    only then swapped in for ``dest/fma_<what>``, as ``fetch_gtzan`` does: on any failure
    the earlier folder is as it was. The clips themselves are checked when loaded. It needs
    room for a zip and its unpacked copy (2 x 7.2 GiB for small; a third copy while an
    earlier folder is replaced).

    Args:
        what: "metadata", or a subset of :data:`FMA` (small: 7.2 GiB; medium, large and full
            are 22, 93 and 879 GiB: the CLI leaves those to a download manager).

    Raises:
        FetchError: ``dest`` is not a writable folder, a zip cannot be had (offline) or does
            not match its sha1, is corrupt, or does not hold what FMA's zip holds; one line.
    """
    if what not in FMA:
        raise FetchError(f"unknown FMA part {what!r}: choose one of {', '.join(FMA)}")
    dest = _writable_folder(dest)
    for part in dict.fromkeys(["metadata", what]):
        _fetch_fma_zip(part, dest, progressbar=progressbar)
    return dest


def _fetch_fma_zip(part: str, dest: Path, *, progressbar: bool) -> None:
    from . import fma

    name = f"fma_{part}"
    root = dest / name
    if root.exists() and not root.is_dir():
        raise FetchError(f"{root}: exists and is not a folder")
    archive = download(FMA[part], dest, progressbar=progressbar)
    try:
        new = Path(tempfile.mkdtemp(prefix=".fma-new-", dir=dest))
    except OSError as err:
        raise FetchError(f"{dest}: cannot create a folder there ({_one_line(err)})") from None
    try:
        extract(archive, new)
        if not (new / name).is_dir():
            raise FetchError(f"{archive}: not FMA's {name}.zip (no {name}/ folder inside)")
        if part == "metadata":
            try:
                fma.header(new / name / "tracks.csv")
            except fma.FMAError as err:
                text = _one_line(err).replace(str(new / name) + os.sep, "")
                raise FetchError(f"{archive}: not FMA's metadata ({text})") from None
        elif next((new / name).glob("[0-9][0-9][0-9]/[0-9]*.mp3"), None) is None:
            raise FetchError(f"{archive}: no {name}/NNN/NNNNNN.mp3 inside")
        _swap_in(new / name, root)
    except BaseException as err:
        if isinstance(err, OSError | RuntimeError) and not isinstance(err, FetchError):
            raise FetchError(f"{archive}: {type(err).__name__}: {_one_line(err)}") from None
        raise
    finally:
        shutil.rmtree(new, ignore_errors=True)
