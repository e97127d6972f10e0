"""genre-lab fetch against a local HTTP server: the real pooch path, offline.

The server (127.0.0.1, started here) serves a small synthetic GTZAN tarball and split lists;
it honours HTTP range requests, so resuming is tested too.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import logging
import os
import struct
import tarfile
import threading
import zipfile

import numpy as np
import pooch
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


def make_source(folder, genres=GENRES, *, freq0=110):
    """``folder/src/genres/<genre>/<genre>.00000.au``: one 4-s clip per genre (GTZAN's
    minimum clip length is 3 s)."""
    src = folder / "src"
    for i, genre in enumerate(genres):
        (src / "genres" / genre).mkdir(parents=True)
        t = np.arange(4 * 22050) / 22050
        y = 0.3 * np.sin(2 * np.pi * (freq0 + 20 * i) * t)
        sf.write(str(src / "genres" / genre / f"{genre}.00000.au"), y, 22050, subtype="PCM_16")
    return src


def make_tarball(folder, **kwargs):
    """A GTZAN-like genres.tar.gz: one 4-s .au clip per genre, as the original archive."""
    src = make_source(folder, **kwargs)
    archive = folder / "genres.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "genres", arcname="genres")
    return archive


def make_zip(folder):
    """A Kaggle-like zip (Data/genres_original/<genre>/...), members stored uncompressed."""
    src = make_source(folder)
    archive = folder / "gtzan.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        for f in sorted((src / "genres").rglob("*.au")):
            z.write(f, "Data/genres_original/" + f.relative_to(src / "genres").as_posix())
    return archive


def tar_with(path, members: dict, *, links: dict | None = None):
    """A .tar.gz of the given ``{name: bytes}`` members (names taken verbatim) and
    ``{name: target}`` symlinks."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def zip_with(path, members: dict):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data)  # ZipInfo keeps the name verbatim
    return path


def tree(folder) -> dict:
    """Every file below ``folder`` with its bytes' hash (to show nothing changed)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(dest) -> list:
    return sorted(p.name for p in dest.iterdir() if p.name.startswith(".gtzan-"))


@pytest.fixture
def fetched(tmp_path):
    """``dest`` with a good GTZAN fetched into ``dest/gtzan``, and that folder's files."""
    dest = tmp_path / "dest"
    fetch.fetch_gtzan(dest, archive=make_tarball(tmp_path), progressbar=False)
    before = tree(dest / "gtzan")
    assert len(before) == 10
    return dest, before


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


# ---- a failed fetch leaves the earlier data alone; bad archives are one FetchError ----------

CLIP = b"not audio, but bytes"


def _good_members(skip=()):
    return {f"genres/{g}/{g}.00000.au": CLIP for g in GENRES if g not in skip}


def _garbage(folder):
    (folder / "garbage.tar.gz").write_bytes(b"<html>503 Service Unavailable</html>" * 50)
    return folder / "garbage.tar.gz", None


def _truncated_tgz(folder):
    data = make_tarball(folder).read_bytes()
    (folder / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    return folder / "cut.tar.gz", None


def _truncated_zip(folder):
    data = make_zip(folder).read_bytes()
    (folder / "cut.zip").write_bytes(data[: len(data) // 2])
    return folder / "cut.zip", None


def _corrupt_zip(folder):
    archive = make_zip(folder)
    with zipfile.ZipFile(archive) as z:
        info = z.infolist()[0]
    data = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 1000: start + 1010] = b"\xff" * 10  # inside the first clip: bad CRC
    (folder / "bad.zip").write_bytes(bytes(data))
    return folder / "bad.zip", None


def _nine_genres(folder):
    return make_tarball(folder, genres=GENRES[:-1]), GENRES[-1]


def _no_usable_clip(folder):  # every genre folder is there, one holds only a bad clip
    archive = make_tarball(folder)
    with tarfile.open(archive) as t:
        members = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    members[f"genres/{GENRES[3]}/{GENRES[3]}.00000.au"] = CLIP
    return tar_with(folder / "one-bad.tar.gz", members), f"no usable clip in {GENRES[3]}"


def _not_gtzan(folder):
    return tar_with(folder / "other.tar.gz", {"README.txt": b"hello"}), "not a GTZAN archive"


def _tar_dotdot(folder):
    members = {**_good_members(), "genres/../../escaped.txt": b"x"}
    return tar_with(folder / "dotdot.tar.gz", members), "genres/../../escaped.txt"


def _tar_dotdot_inside(folder):  # stays inside dest, but is refused all the same
    members = {**_good_members(), "genres/../genres/blues/x.au": b"x"}
    return tar_with(folder / "dotdot2.tar.gz", members), "genres/../genres/blues/x.au"


def _tar_absolute(folder):
    members = {**_good_members(), "/tmp/escaped-abs.txt": b"x"}
    return tar_with(folder / "abs.tar.gz", members), "/tmp/escaped-abs.txt"


def _tar_link_out(folder):
    return (tar_with(folder / "link.tar.gz", _good_members(),
                     links={"genres/blues/out": "../../../../outside"}), "genres/blues/out")


def _zip_dotdot(folder):
    members = {**_good_members(), "../escaped.txt": b"x"}
    return zip_with(folder / "dotdot.zip", members), "../escaped.txt"


def _zip_absolute(folder):
    members = {**_good_members(), "/escaped-abs.txt": b"x"}
    return zip_with(folder / "abs.zip", members), "/escaped-abs.txt"


BAD_ARCHIVES = [_garbage, _truncated_tgz, _truncated_zip, _corrupt_zip, _nine_genres,
                _no_usable_clip, _not_gtzan, _tar_dotdot, _tar_dotdot_inside, _tar_absolute,
                _tar_link_out, _zip_dotdot, _zip_absolute]


@pytest.mark.parametrize("make_bad", BAD_ARCHIVES, ids=lambda f: f.__name__.strip("_"))
def test_bad_archive_is_one_error_and_keeps_earlier_data(fetched, tmp_path, make_bad):
    dest, before = fetched
    bad = tmp_path / "bad"
    bad.mkdir()
    archive, says = make_bad(bad)
    with pytest.raises(fetch.FetchError) as info:
        fetch.fetch_gtzan(dest, archive=archive, progressbar=False)
    message = str(info.value)
    assert str(archive) in message and "\n" not in message
    if says:
        assert says in message
    assert tree(dest / "gtzan") == before  # the earlier, good copy is untouched
    assert leftovers(dest) == []  # no half-unpacked temporary folder
    assert not list(tmp_path.rglob("escaped*")) and not os.path.exists("/tmp/escaped-abs.txt")


def test_garbage_download_keeps_earlier_data_and_is_not_kept(fetched, server):
    dest, before = fetched
    served, base = server
    (served / "genres.tar.gz").write_bytes(b"<html>not found</html>")  # a mirror's error page
    with pytest.raises(fetch.FetchError, match="genres.tar.gz"):
        fetch.fetch_gtzan(dest, url=f"{base}/genres.tar.gz", progressbar=False)
    assert tree(dest / "gtzan") == before
    assert not (dest / "genres.tar.gz").exists()  # downloaded unverified, then failed: gone
    assert leftovers(dest) == []


def test_failed_swap_puts_earlier_data_back(fetched, tmp_path, monkeypatch):
    dest, before = fetched
    rename = os.rename

    def failing_rename(src, dst):
        if os.path.basename(src).startswith(".gtzan-new-"):
            raise PermissionError(13, "Permission denied", str(dst))
        return rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    (tmp_path / "again").mkdir()
    archive = make_tarball(tmp_path / "again")
    with pytest.raises(fetch.FetchError, match="earlier copy is unchanged"):
        fetch.fetch_gtzan(dest, archive=archive, progressbar=False)
    assert tree(dest / "gtzan") == before
    assert leftovers(dest) == []


def test_refetch_replaces_earlier_data(fetched, tmp_path):
    dest, before = fetched
    (tmp_path / "new").mkdir()
    archive = make_tarball(tmp_path / "new", freq0=500)
    root = fetch.fetch_gtzan(dest, archive=archive, progressbar=False)
    after = tree(root)
    assert set(after) == set(before) and after != before
    assert leftovers(dest) == []


def test_undecodable_au_is_left_for_scan_to_report(tmp_path):
    src = make_source(tmp_path)
    bad_header = b".snd" + struct.pack(">5I", 24, 100, 99, 22050, 1) + b"x" * 100  # codec 99
    (src / "genres" / "blues" / "blues.00001.au").write_bytes(bad_header)
    archive = tmp_path / "genres.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "genres", arcname="genres")
    root = fetch.fetch_gtzan(tmp_path / "d", archive=archive, progressbar=False)
    report = gtzan.scan(root)
    assert len(report.tracks) == 10
    assert [p.path.name for p in report.skipped] == ["blues.00001.au"]


# ---- a download without a hash is never reused ----------------------------------------------

def test_unverified_download_is_not_reused_after_a_failure(server, tmp_path):
    served, base = server
    (served / "genres.tar.gz").write_bytes(b"<html>try again later</html>")
    dest = tmp_path / "dest"
    with pytest.raises(fetch.FetchError, match="genres.tar.gz"):
        fetch.fetch_gtzan(dest, url=f"{base}/genres.tar.gz", progressbar=False)
    assert not (dest / "genres.tar.gz").exists()
    make_tarball(served)  # the mirror is back
    root = fetch.fetch_gtzan(dest, url=f"{base}/genres.tar.gz", progressbar=False)
    assert gtzan.scan(root).ok


def test_unverified_download_is_fetched_afresh_and_logged(server, tmp_path):
    served, base = server
    archive = make_tarball(served)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "genres.tar.gz").write_bytes(b"an earlier run's file")  # never trusted
    (dest / "genres.tar.gz.part").write_bytes(b"x" * 1000)  # nor resumed
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    pooch.get_logger().addHandler(handler)
    try:
        entry = fetch.Entry("genres.tar.gz", (f"{base}/genres.tar.gz",), None)
        path = fetch.download(entry, dest, progressbar=False)
    finally:
        pooch.get_logger().removeHandler(handler)
    assert path.read_bytes() == archive.read_bytes()
    assert RangeHandler.seen == [("/genres.tar.gz", None)]
    assert any(sha256(archive) in r.getMessage() for r in records)  # the log says so


# ---- a destination that cannot be written is refused before any download --------------------

@pytest.mark.parametrize("what", ["gtzan", "splits"])
@pytest.mark.parametrize("case", ["file", "below-file", "access", "mkdir"])
def test_unusable_dest_is_refused_before_download(server, tmp_path, monkeypatch, what, case):
    served, base = server
    archive = make_tarball(served)
    for name in list(fetch.SPLITS):
        (served / name).write_text("blues/blues.00000.wav\n")
        monkeypatch.setitem(fetch.SPLITS, name, fetch.Entry(name, (f"{base}/{name}",),
                                                            sha256(served / name)))
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    dest = {"file": afile, "below-file": afile / "sub"}.get(case, tmp_path / "new" / "dest")
    if case == "access":  # tests run as root, where chmod does not stop writes
        access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if
                            str(p).startswith(str(tmp_path)) else access(p, mode, **kw))
    if case == "mkdir":
        def mkdir(self, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(self))
        monkeypatch.setattr(type(tmp_path), "mkdir", mkdir)
    with pytest.raises(fetch.FetchError) as info:
        if what == "gtzan":
            fetch.fetch_gtzan(dest, url=f"{base}/genres.tar.gz", sha256=sha256(archive),
                              progressbar=False)
        else:
            fetch.fetch_splits(dest)
    assert "\n" not in str(info.value)
    assert RangeHandler.seen == []  # nothing downloaded
    assert afile.read_text() == "not a folder"


def test_fetch_splits_offline_is_one_line(tmp_path, monkeypatch):
    for name in list(fetch.SPLITS):
        monkeypatch.setitem(fetch.SPLITS, name, fetch.Entry(
            name, ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b"), "0" * 64))
    with pytest.raises(fetch.FetchError) as info:
        fetch.fetch_splits(tmp_path / "splits")
    message = str(info.value)
    assert message.startswith("could not fetch train_filtered.txt: ")
    assert "http://127.0.0.1:9/a: cannot connect" in message and "\n" not in message
