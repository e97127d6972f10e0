"""Getting real data: the GTZAN archive and the fault-filtered split lists, with pooch.

Every file has a registry entry (its name, one or more URLs, a sha256 hash). Downloads go
through ``pooch.retrieve``, which verifies the hash and keeps nothing that fails it; large
files resume where an interrupted download stopped (HTTP range requests).

* The split lists of Kereliuk, Sturm & Larsen (2015), as published in three public
  repositories (byte-identical copies).
* The original GTZAN archive ``genres.tar.gz`` (1.2 GB, .au files), whose home at
  ``opihi.cs.uvic.ca`` is often down: the registry adds the Internet Archive's copy, and a
  user can name an archive already on disk or another mirror.

Notebook: 08-evaluation (the filtered split); the instructor guide (real data).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pooch

from .. import config


@dataclass(frozen=True)
class Entry:
    """A downloadable file: where it may be had, and the sha256 it must have."""

    fname: str
    urls: tuple[str, ...]
    sha256: str | None


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
        from tqdm.auto import tqdm

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
                with open(self.part, "ab" if resumed else "wb") as f, tqdm(
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

    Args:
        urls: override the entry's URLs (e.g. a mirror).
        sha256: override the entry's hash (None keeps it; a user-named URL without a hash is
            downloaded unverified, and the log says so).

    Raises:
        FetchError: every URL failed or gave a file with the wrong hash.
    """
    import requests

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    known = sha256 or entry.sha256
    errors = []
    for url in urls or entry.urls:
        part = dest / (entry.fname + ".part")
        try:
            path = pooch.retrieve(url, known_hash=f"sha256:{known}" if known else None,
                                  fname=entry.fname, path=dest,
                                  downloader=ResumableDownloader(part, progressbar=progressbar))
            return Path(path)
        except ValueError as err:  # hash mismatch: pooch kept nothing; drop the partial too
            part.unlink(missing_ok=True)
            errors.append(f"{url}: {err}")
        except (requests.RequestException, OSError) as err:
            errors.append(f"{url}: {type(err).__name__}: {err}")
    raise FetchError(f"could not fetch {entry.fname}:\n  " + "\n  ".join(errors))


def fetch_splits(dest=None, *, progressbar: bool = False) -> Path:
    """Download the three fault-filtered split lists; returns their folder.

    Default folder: ``cache_dir()/splits``.
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
        raise FetchError(f"{err}\nthe filtered split lists are not cached; run "
                         "`genre-lab fetch splits` once online, or give a folder that holds "
                         "them (--split-folder)") from None


def extract(archive, dest) -> Path:
    """Unpack a GTZAN archive (.tar.gz as published, or the Kaggle .zip) into ``dest``."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")  # refuses absolute paths and links out of dest
    else:
        raise FetchError(f"{archive}: neither a tar nor a zip archive")
    return dest


def convert_au(root, *, progress: bool = True) -> int:
    """Convert every ``.au`` clip below ``root`` into a 16-bit ``.wav`` beside it and remove
    the ``.au`` (the Kaggle copy's format); returns the number converted."""
    import soundfile as sf
    from tqdm.auto import tqdm

    files = sorted(Path(root).rglob("*.au"))
    for au in tqdm(files, desc="au -> wav", unit="clip", disable=not progress):
        data, rate = sf.read(str(au), dtype="int16")
        tmp = au.with_suffix(".wav.tmp")
        sf.write(str(tmp), data, rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, au.with_suffix(".wav"))
        au.unlink()
    return len(files)


def fetch_gtzan(dest, *, archive=None, url=None, sha256: str | None = None,
                convert: bool = True, progressbar: bool = True) -> Path:
    """Get GTZAN into ``dest`` and return the folder to set as ``GENRE_LAB_DATA``.

    Args:
        dest: where the archive and the clips go.
        archive: an archive already on disk (``genres.tar.gz`` or Kaggle's zip); verified
            against ``sha256`` when given.
        url: a mirror to download from instead of the registry's URLs.
        sha256: the expected hash of ``archive`` or ``url``'s file.
        convert: turn ``.au`` clips into ``.wav``.
    """
    dest = Path(dest)
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
    root = dest / "gtzan"
    if root.exists():
        shutil.rmtree(root)
    extract(archive, root)
    if convert:
        convert_au(root, progress=progressbar)
    return root
