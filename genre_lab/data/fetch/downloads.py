"""Downloading a registry entry: resumable (HTTP range requests), verified by its hash
through pooch, mirrors tried in order; only a verified file replaces one in the destination."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from pathlib import Path

import pooch

from ... import config
from .errors import FetchError, _one_line
from .registry import Entry
from .swap import _folder_lock, _remove_stale, _temp_folder, _writable_folder


class ResumableDownloader:
    """A pooch downloader that continues a partial download with an HTTP range request.

    The bytes go to ``<dest>/<fname>.part`` and survive an interruption; when complete they
    are handed to pooch, which checks the hash before keeping the file.
    """

    def __init__(self, part: Path, *, progressbar: bool = True, timeout: float = 60.0):
        self.part, self.progressbar, self.timeout = Path(part), progressbar, timeout

    def __call__(self, url, output_file, pooch_, check_only=False):
        import requests

        from ...parallel import progress_bar

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
    """Download ``entry`` into ``dest`` (resumable), verified by its hash; mirrors are tried
    in order, and returns the file's path. A file already there with the right hash is used
    as it is; one with another hash is replaced only by a download that verifies.

    A file without a known hash is never trusted from an earlier run, and never replaces a
    file: it is downloaded afresh (no reuse, no resuming), because nothing can tell whether
    the copy on disk is complete and the one the URL serves (a cut download or a mirror's
    error page looks just like an archive); if ``dest`` already holds a file of that name,
    nothing is downloaded. pooch logs the sha256 of such a download: pass it (``--sha256``)
    to have the file verified and reused.

    Args:
        urls: override the entry's URLs (e.g. a mirror).
        sha256: override the entry's hash (None keeps it; a user-named URL without a hash is
            downloaded unverified, and the log says so).

    Raises:
        FetchError: ``dest`` is not a writable folder, every URL failed or gave a file with
            the wrong hash, ``sha256`` is not a sha256, or an unverified download would
            replace a file (one message, one line).
    """
    dest = _writable_folder(dest)
    sha256 = _sha256_or_none(sha256, entry.fname)
    target = dest / entry.fname
    with _folder_lock(dest, wait=True):
        _remove_stale(dest, "new")
        if not (sha256 or entry.sha256) and os.path.lexists(target):
            raise FetchError(f"{target}: already there, and a download without a known hash "
                             "never replaces a file: move it away, or give its sha256")
        scratch = _temp_folder(dest, "download-new")
        try:
            path = _retrieve(entry, dest, scratch, urls=urls, sha256=sha256,
                             progressbar=progressbar)
            if path != target:  # unverified, in the temporary folder: kept if still free
                if os.path.lexists(target):
                    raise FetchError(f"{target}: appeared during the download, which is not "
                                     "kept (a download without a known hash never "
                                     "replaces a file)")
                os.rename(path, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def _retrieve(entry: Entry, dest: Path, scratch: Path, *, urls=None, sha256=None,
              progressbar: bool = True) -> Path:
    """Download ``entry`` through ``scratch`` (a temporary folder inside ``dest``).

    With a known hash: ``dest/<fname>`` if it already has that hash; if it has another, it is
    refused (never replaced; in the cache folder, it is); else the download, verified, is
    moved there (resuming ``dest/<fname>.part``). Without one: the download is left in
    ``scratch`` (its path is returned) and nothing in ``dest`` is touched.
    """
    import requests

    target = dest / entry.fname
    alg, known = ("sha256", sha256) if sha256 else (entry.alg, entry.sha256)
    if known:
        if target.is_file() and pooch.file_hash(str(target), alg=alg) == known.lower():
            return target
        in_cache = dest.resolve().is_relative_to(config.cache_dir().resolve())
        if os.path.lexists(target) and not (in_cache and target.is_file()):
            # another copy, or something else: not ours to replace (a cached copy is)
            what = "a file with another hash" if target.is_file() else "not a file"
            raise FetchError(f"{target}: already there, {what} (a damaged or different copy?); "
                             "move it away and run again")
        part = dest / (entry.fname + ".part")
    else:  # unverifiable: never resume an earlier run's partial file
        part = scratch / (entry.fname + ".part")
    errors = []
    for url in urls or entry.urls:
        if progressbar:
            pooch.get_logger().info("Downloading %s from %s", entry.fname, url)
        try:
            with _pooch_log_quiet():  # its messages name the temporary folder
                path = Path(pooch.retrieve(
                    url, known_hash=f"{alg}:{known}" if known else None, fname=entry.fname,
                    path=scratch, downloader=ResumableDownloader(part, progressbar=progressbar)))
        except ValueError as err:  # hash mismatch: pooch kept nothing; drop the partial too
            part.unlink(missing_ok=True)
            errors.append(f"{url}: {_one_line(err).replace(str(scratch) + os.sep, '')}")
            continue
        except requests.ConnectionError:
            errors.append(f"{url}: cannot connect")
            continue
        except requests.Timeout:
            errors.append(f"{url}: timed out")
            continue
        except (requests.RequestException, OSError) as err:
            errors.append(f"{url}: {type(err).__name__}: {_one_line(err)}")
            continue
        if known:
            os.replace(path, target)
            return target
        pooch.get_logger().info(
            "SHA256 hash of the file downloaded from %s: %s (pass it as --sha256 to have the "
            "file verified)", url, pooch.file_hash(str(path)))
        return path
    raise FetchError(f"could not fetch {entry.fname}: " + "; ".join(errors))


@contextlib.contextmanager
def _pooch_log_quiet():
    # A filter, not setLevel: pooch's logger is not the logging manager's, so the level
    # cache that setLevel clears is not its own, and a restored level would not take.
    logger = pooch.get_logger()
    quiet = logging.Filter("no pooch")  # matches no record name: drops every record
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _sha256_or_none(sha256: str | None, what) -> str | None:
    """``sha256`` in lower case (a ``sha256:`` prefix dropped), or None.

    Raises:
        FetchError: not 64 hexadecimal digits; the message names ``what``.
    """
    if sha256 is None:
        return None
    text = sha256.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise FetchError(f"{what}: sha256 {sha256!r} is not a sha256 hash (64 hexadecimal "
                         f"digits, got {len(text)} characters)")
    return text
