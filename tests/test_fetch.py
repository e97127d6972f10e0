"""genre-lab fetch against a local HTTP server: the real pooch path, offline.

The server (127.0.0.1, started here) serves a small synthetic GTZAN tarball and split lists;
it honours HTTP range requests, so resuming is tested too.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import tarfile
import threading

import numpy as np
import pytest
import soundfile as sf

from genre_lab import GENRES, cli
from genre_lab.data import fetch, gtzan, splits


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=N-`` support; records the requests it saw."""

    seen: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def send_head(self):
        self.seen.append((self.path, self.headers.get("Range")))
        spec = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not spec or not spec.startswith("bytes=") or not path.endswith(".gz"):
            return super().send_head()
        try:
            f = open(path, "rb")  # noqa: SIM115 - returned to the base class, which closes it
        except OSError:
            self.send_error(404)
            return None
        size = f.seek(0, 2)
        start = int(spec.removeprefix("bytes=").split("-")[0])
        if start >= size:
            self.send_error(416)
            f.close()
            return None
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        return f


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    RangeHandler.seen = []
    handler = functools.partial(RangeHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_tarball(folder):
    """A GTZAN-like genres.tar.gz: one 4-s .au clip per genre, as the original archive."""
    src = folder / "src"
    for i, genre in enumerate(GENRES):
        (src / "genres" / genre).mkdir(parents=True)
        t = np.arange(4 * 22050) / 22050
        y = 0.3 * np.sin(2 * np.pi * (110 + 20 * i) * t)
        sf.write(str(src / "genres" / genre / f"{genre}.00000.au"), y, 22050, subtype="PCM_16")
    archive = folder / "genres.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "genres", arcname="genres")
    return archive


def test_fetch_gtzan_from_mirror_converts_and_checks(server, tmp_path, capsys):
    served, base = server
    archive = make_tarball(served)
    dest = tmp_path / "dest"
    code = cli.main(["fetch", "gtzan", "--dest", str(dest), "--url", f"{base}/genres.tar.gz",
                     "--sha256", sha256(archive), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    root = dest / "gtzan"
    assert f"export GENRE_LAB_DATA={root}" in out
    report = gtzan.scan(root)
    assert report.ok and len(report.tracks) == 10
    assert all(p.endswith(".wav") for p in report.tracks.path)
    assert not list(root.rglob("*.au"))


def test_corrupted_download_is_rejected(server, tmp_path, monkeypatch):
    served, base = server
    archive = make_tarball(served)
    good = sha256(archive)
    archive.write_bytes(archive.read_bytes()[:-10] + b"corrupted!")  # what the mirror serves
    monkeypatch.setattr(fetch, "GTZAN", fetch.Entry("genres.tar.gz",
                                                    (f"{base}/genres.tar.gz",), good))
    dest = tmp_path / "dest"
    with pytest.raises(fetch.FetchError, match="genres.tar.gz"):
        fetch.fetch_gtzan(dest, progressbar=False)
    assert not (dest / "genres.tar.gz").exists()
    assert not (dest / "genres.tar.gz.part").exists()
    assert not (dest / "gtzan").exists()


def test_interrupted_download_resumes(server, tmp_path):
    served, base = server
    archive = make_tarball(served)
    dest = tmp_path / "dest"
    dest.mkdir()
    data = archive.read_bytes()
    (dest / "genres.tar.gz.part").write_bytes(data[: len(data) // 3])  # an earlier, cut run
    entry = fetch.Entry("genres.tar.gz", (f"{base}/genres.tar.gz",), sha256(archive))
    path = fetch.download(entry, dest, progressbar=False)
    assert path.read_bytes() == data
    assert ("/genres.tar.gz", f"bytes={len(data) // 3}-") in RangeHandler.seen
    assert not (dest / "genres.tar.gz.part").exists()


def test_local_archive_verified_by_hash(tmp_path):
    archive = make_tarball(tmp_path)
    with pytest.raises(fetch.FetchError, match="sha256 is"):
        fetch.fetch_gtzan(tmp_path / "d", archive=archive, sha256="0" * 64, progressbar=False)
    root = fetch.fetch_gtzan(tmp_path / "d", archive=archive, sha256=sha256(archive),
                             progressbar=False)
    assert gtzan.scan(root).ok


def test_fetch_splits_with_mirror_fallback(server, tmp_path, monkeypatch):
    served, base = server
    ids = {"train": [f"blues.{i:05d}" for i in range(6)], "valid": ["jazz.00001"],
           "test": ["rock.00002", "pop.00003"]}
    for name, lines in ids.items():
        body = "".join(f"{tid.split('.')[0]}/{tid}.wav\n" for tid in lines)
        (served / f"{name}_filtered.txt").write_text(body)
        fname = f"{name}_filtered.txt"
        # the first mirror is gone (404): the second one serves the file
        monkeypatch.setitem(fetch.SPLITS, fname, fetch.Entry(
            fname, (f"{base}/missing/{fname}", f"{base}/{fname}"),
            sha256(served / fname)))
    monkeypatch.setenv("GENRE_LAB_CACHE", str(tmp_path / "cache"))
    assert cli.main(["fetch", "splits", "--quiet"]) == 0
    folder = fetch.split_lists_folder()  # now cached: no download
    lists = splits.read_split_lists(folder)
    assert lists == {"train": ids["train"], "val": ids["valid"], "test": ids["test"]}


def test_split_lists_folder_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_LAB_CACHE", str(tmp_path / "cache"))
    for name in list(fetch.SPLITS):
        monkeypatch.setitem(fetch.SPLITS, name,
                            fetch.Entry(name, ("http://127.0.0.1:9/none",), "0" * 64))
    with pytest.raises(fetch.FetchError, match="genre-lab fetch splits"):
        fetch.split_lists_folder()


def test_registry_matches_the_shared_copies():
    from conftest import shared

    folder = shared("gtzan-meta/splits/upstream")
    for name, entry in fetch.SPLITS.items():
        assert sha256(folder / name) == entry.sha256
        assert len(entry.urls) == 3
