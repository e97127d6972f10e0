"""genre-lab fetch against a local HTTP server: the real pooch path, offline.

The server (127.0.0.1, started here) serves a small synthetic GTZAN tarball and split lists;
it honours HTTP range requests, so resuming is tested too.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import functools
import hashlib
import http.server
import io
import json
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
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
    """Hidden entries of ``dest``: the temporary folders of a fetch (none should stay)."""
    return sorted(p.name for p in dest.iterdir() if p.name.startswith("."))


@pytest.fixture
def fetched(tmp_path):
    """``dest`` with a good GTZAN fetched into ``dest/gtzan``, and that folder's files."""
    dest = tmp_path / "dest"
    fetch.fetch_gtzan(dest, archive=make_tarball(tmp_path), progressbar=False)
    before = tree(dest / "gtzan")
    assert len(before) == 11 and fetch.RECORD in before  # 10 clips and the fetch's record
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
        if os.path.basename(os.path.dirname(src)) == "unpacked":  # moving the new copy in
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
    archive = make_tarball(served)  # the mirror is back
    root = fetch.fetch_gtzan(dest, url=f"{base}/genres.tar.gz", progressbar=False)
    assert gtzan.scan(root).ok
    assert (dest / "genres.tar.gz").read_bytes() == archive.read_bytes()  # kept: name free
    assert leftovers(dest) == []


def test_unverified_download_is_fetched_afresh_and_logged(server, tmp_path):
    served, base = server
    archive = make_tarball(served)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "genres.tar.gz.part").write_bytes(b"x" * 1000)  # never resumed
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    pooch.get_logger().addHandler(handler)
    try:
        entry = fetch.Entry("genres.tar.gz", (f"{base}/genres.tar.gz",), None)
        path = fetch.download(entry, dest, progressbar=False)
    finally:
        pooch.get_logger().removeHandler(handler)
    assert path == dest / "genres.tar.gz" and path.read_bytes() == archive.read_bytes()
    assert RangeHandler.seen == [("/genres.tar.gz", None)]
    assert any(sha256(archive) in r.getMessage() for r in records)  # the log says so
    assert leftovers(dest) == []


def test_unverified_download_never_replaces_a_file(server, tmp_path):
    served, base = server
    make_tarball(served)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "genres.tar.gz").write_bytes(b"the user's own file")
    entry = fetch.Entry("genres.tar.gz", (f"{base}/genres.tar.gz",), None)
    with pytest.raises(fetch.FetchError, match="already there") as info:
        fetch.download(entry, dest, progressbar=False)
    assert str(dest / "genres.tar.gz") in str(info.value)
    assert (dest / "genres.tar.gz").read_bytes() == b"the user's own file"
    assert RangeHandler.seen == []


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


# ---- a fetch never deletes what it did not make (through the CLI, as a user runs it) --------

def fetch_cli(capsys, *args):
    """``genre-lab fetch gtzan ARGS --quiet``: (exit status, stdout, stderr stripped)."""
    code = cli.main(["fetch", "gtzan", *map(str, args), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err.strip()


def one_line_error(err: str, *names) -> bool:
    return err.startswith("error: ") and "\n" not in err and all(str(n) in err for n in names)


@pytest.mark.parametrize("hashed", [False, True], ids=["no-hash", "other-hash"])
def test_unreachable_mirror_keeps_the_users_archive(tmp_path, capsys, hashed):
    dest = tmp_path / "dest"
    dest.mkdir()
    mine = shutil.copy(make_tarball(tmp_path), dest / "genres.tar.gz")
    before = sha256(mine)
    url = "http://127.0.0.1:9/genres.tar.gz"
    code, _, err = fetch_cli(capsys, "--dest", dest, "--url", url,
                             *(["--sha256", "0" * 64] if hashed else []))
    assert code == 1
    assert err == (f"error: {mine}: already there, a file with another hash (a damaged or "
                   "different copy?); move it away and run again" if hashed else
                   f"error: could not fetch genres.tar.gz: {url}: cannot connect")
    assert sha256(mine) == before  # the user's file, byte for byte
    assert not (dest / "gtzan").exists() and leftovers(dest) == []


def test_file_already_there_with_the_right_hash_is_used_offline(tmp_path, capsys):
    dest = tmp_path / "dest"
    dest.mkdir()
    mine = shutil.copy(make_tarball(tmp_path), dest / "genres.tar.gz")
    before = sha256(mine)
    code, out, _ = fetch_cli(capsys, "--dest", dest, "--url",
                             "http://127.0.0.1:9/genres.tar.gz", "--sha256", before)
    assert code == 0 and f"export GENRE_LAB_DATA={dest / 'gtzan'}" in out
    assert sha256(mine) == before and leftovers(dest) == []


def test_download_without_hash_never_replaces_the_users_file(server, tmp_path, capsys):
    served, base = server
    make_tarball(served)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "genres.tar.gz").write_bytes(b"the user's own copy")
    code, _, _ = fetch_cli(capsys, "--dest", dest, "--url", f"{base}/genres.tar.gz")
    assert code == 0 and gtzan.scan(dest / "gtzan").ok
    assert (dest / "genres.tar.gz").read_bytes() == b"the user's own copy"
    assert leftovers(dest) == []


def test_a_file_with_another_hash_is_never_replaced(server, tmp_path, capsys):
    served, base = server
    archive = make_tarball(served)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "genres.tar.gz").write_bytes(b"a cut copy")
    code, _, err = fetch_cli(capsys, "--dest", dest, "--url", f"{base}/genres.tar.gz",
                             "--sha256", sha256(archive))
    assert code == 1 and one_line_error(err, dest / "genres.tar.gz", "move it away")
    assert (dest / "genres.tar.gz").read_bytes() == b"a cut copy"
    (dest / "genres.tar.gz").unlink()  # moved away: now the verified download lands there
    code, _, _ = fetch_cli(capsys, "--dest", dest, "--url", f"{base}/genres.tar.gz",
                           "--sha256", sha256(archive))
    assert code == 0
    assert (dest / "genres.tar.gz").read_bytes() == archive.read_bytes()


def test_archive_inside_the_gtzan_folder_survives_fetch_and_refetch(tmp_path, capsys):
    dest = tmp_path / "dest"
    (dest / "gtzan").mkdir(parents=True)
    archive = shutil.copy(make_tarball(tmp_path), dest / "gtzan" / "genres.tar.gz")
    before = sha256(archive)
    for _ in range(2):
        code, _, err = fetch_cli(capsys, "--dest", dest, "--archive", archive)
        assert code == 0, err
        assert sha256(archive) == before and gtzan.scan(dest / "gtzan").ok
    assert leftovers(dest) == []


def test_refetch_keeps_the_users_files_in_the_gtzan_folder(fetched, tmp_path, capsys):
    dest, before = fetched
    (dest / "gtzan" / "notes.txt").write_text("my notes")
    (dest / "gtzan" / "runs").mkdir()
    (dest / "gtzan" / "runs" / "run1.csv").write_text("epoch,acc\n1,0.5\n")
    (tmp_path / "new").mkdir()
    code, _, err = fetch_cli(capsys, "--dest", dest, "--archive",
                             make_tarball(tmp_path / "new", freq0=500))
    assert code == 0, err
    after = tree(dest / "gtzan")
    assert after["notes.txt"] == hashlib.sha256(b"my notes").hexdigest()
    assert after["runs/run1.csv"] == hashlib.sha256(b"epoch,acc\n1,0.5\n").hexdigest()
    clips = [k for k in before if k.endswith(".wav")]
    assert all(after[k] != before[k] for k in clips)  # the clips are the new ones
    assert leftovers(dest) == []


@pytest.mark.parametrize("case", ["note-in-genre-folder", "archive-in-genres"])
def test_refetch_refuses_to_delete_a_users_file_in_a_fetched_folder(fetched, tmp_path,
                                                                      capsys, case):
    dest, _ = fetched
    (tmp_path / "new").mkdir()
    archive = make_tarball(tmp_path / "new")
    if case == "note-in-genre-folder":
        mine = dest / "gtzan" / "genres" / "blues" / "my-notes.txt"
        mine.write_text("mine")
    else:
        mine = archive = shutil.copy(archive, dest / "gtzan" / "genres" / "a.tar.gz")
    before = tree(dest / "gtzan")
    code, _, err = fetch_cli(capsys, "--dest", dest, "--archive", archive)
    assert code == 1
    assert one_line_error(err, mine, dest / "gtzan" / "genres", "move")
    assert tree(dest / "gtzan") == before and leftovers(dest) == []


def test_folder_not_made_by_a_fetch_is_not_replaced(tmp_path, capsys):
    dest = tmp_path / "dest"
    (dest / "gtzan" / "genres" / "blues").mkdir(parents=True)
    (dest / "gtzan" / "genres" / "blues" / "mine.wav").write_bytes(b"RIFF my own")
    code, _, err = fetch_cli(capsys, "--dest", dest, "--archive", make_tarball(tmp_path))
    assert code == 1
    assert one_line_error(err, f"{dest / 'gtzan' / 'genres'}: already there", "move it away")
    assert tree(dest / "gtzan") == {"genres/blues/mine.wav": sha256(
        dest / "gtzan" / "genres" / "blues" / "mine.wav")}
    assert (dest / "gtzan" / "genres" / "blues" / "mine.wav").read_bytes() == b"RIFF my own"
    assert leftovers(dest) == []


def test_file_that_appears_during_the_fetch_is_kept(fetched, tmp_path, capsys, monkeypatch):
    dest, before = fetched
    late = dest / "gtzan" / "genres" / "blues" / "late.txt"
    check = fetch._check_complete

    def check_then_user_writes(archive, folder):
        check(archive, folder)
        late.write_text("written while the fetch ran")

    monkeypatch.setattr(fetch, "_check_complete", check_then_user_writes)
    (tmp_path / "new").mkdir()
    code, _, err = fetch_cli(capsys, "--dest", dest, "--archive",
                             make_tarball(tmp_path / "new", freq0=500))
    assert code == 1 and one_line_error(err, late)
    assert tree(dest / "gtzan") == {**before, "genres/blues/late.txt": sha256(late)}
    assert leftovers(dest) == []


@pytest.mark.parametrize("record", ["not json", json.dumps(
    {"made_by": "genre-lab fetch", "archive": "x", "paths": ["../outside/"]})])
def test_damaged_record_is_refused(fetched, tmp_path, capsys, record):
    dest, _ = fetched
    (dest / "gtzan" / fetch.RECORD).write_text(record)
    before = tree(dest / "gtzan")
    (tmp_path / "new").mkdir()
    code, _, err = fetch_cli(capsys, "--dest", dest, "--archive",
                             make_tarball(tmp_path / "new"))
    assert code == 1 and one_line_error(err, dest / "gtzan" / fetch.RECORD)
    assert tree(dest / "gtzan") == before and leftovers(dest) == []


# ---- bounds on what an archive unpacks to ---------------------------------------------------

@pytest.mark.parametrize("kind", ["tar-members", "tar-bytes", "zip-members", "zip-bytes"])
def test_archive_beyond_its_bounds_is_refused(fetched, tmp_path, capsys, monkeypatch, kind):
    dest, before = fetched
    limit = {"members": dict(max_members=5), "bytes": dict(max_unpacked=1_000_000)}
    monkeypatch.setattr(fetch, "GTZAN", dataclasses.replace(fetch.GTZAN,
                                                            **limit[kind.split("-")[1]]))
    (tmp_path / "a").mkdir()
    archive = make_tarball(tmp_path / "a") if kind.startswith("tar") else make_zip(tmp_path / "a")
    extracted = []
    extract = zipfile.ZipFile.extract
    monkeypatch.setattr(zipfile.ZipFile, "extract",
                        lambda self, *a, **k: extracted.append(1) or extract(self, *a, **k))
    code, _, err = fetch_cli(capsys, "--dest", dest, "--archive", archive)
    assert code == 1
    what = "more than 5 members" if kind.endswith("members") else "more than 1,000,000 bytes"
    assert one_line_error(err, f"{archive}: refused: ", what)
    if kind.startswith("zip"):
        assert extracted == []  # a zip's declared sizes are checked before anything is written
    assert tree(dest / "gtzan") == before and leftovers(dest) == []


def test_bytes_written_beyond_the_declared_sizes_are_caught(tmp_path, capsys, monkeypatch):
    archive = make_zip(tmp_path)
    with zipfile.ZipFile(archive) as z:
        declared = sum(i.file_size for i in z.infolist())
    monkeypatch.setattr(fetch, "GTZAN", dataclasses.replace(fetch.GTZAN,
                                                            max_unpacked=declared + 1000))
    extract = zipfile.ZipFile.extract

    def lying_extract(self, member, path=None, pwd=None):  # a decoder that writes more
        target = extract(self, member, path, pwd)
        if os.path.isfile(target):
            with open(target, "ab") as f:
                f.write(b"\0" * 500)
        return target

    monkeypatch.setattr(zipfile.ZipFile, "extract", lying_extract)
    code, _, err = fetch_cli(capsys, "--dest", tmp_path / "dest", "--archive", archive)
    assert code == 1 and one_line_error(err, f"{archive}: refused: it wrote more than")
    assert not (tmp_path / "dest" / "gtzan").exists() and leftovers(tmp_path / "dest") == []


def test_disk_full_while_unpacking_is_one_line(fetched, tmp_path, capsys, monkeypatch):
    dest, before = fetched

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    (tmp_path / "new").mkdir()
    archive = make_tarball(tmp_path / "new")
    monkeypatch.setattr(tarfile, "copyfileobj", no_space)
    code, _, err = fetch_cli(capsys, "--dest", dest, "--archive", archive)
    assert code == 1 and one_line_error(err, archive, "cannot unpack into",
                                        os.strerror(errno.ENOSPC))
    assert tree(dest / "gtzan") == before and leftovers(dest) == []


# ---- temporary folders of a killed fetch; two fetches at once ---------------------------------

def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def temp_folder(dest, name, owner=None, files=()):
    folder = dest / name
    folder.mkdir(parents=True)
    if owner is not None:
        (folder / ".genre-lab-owner").write_text(json.dumps(owner))
    for rel in files:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("x")
    return folder


def test_temporary_folder_of_a_killed_fetch_is_removed_next_time(tmp_path, capsys):
    dest = tmp_path / "dest"
    archive = make_tarball(tmp_path)
    ready = tmp_path / "ready"
    script = (f"import sys, time; sys.path[:0] = {sys.path!r}\n"
              "from genre_lab.data import fetch\n"
              f"def hang(*a, **k): open({str(ready)!r}, 'w').close(); time.sleep(60)\n"
              "fetch.convert_au = hang\n"
              f"fetch.fetch_gtzan({str(dest)!r}, archive={str(archive)!r}, progressbar=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(600):  # mid-unpack (clips unpacked, not yet converted)
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert ready.exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = leftovers(dest)
    assert len(killed) == 1 and killed[0].startswith(f".gtzan-new-{proc.pid}-")
    me = {"made_by": "genre-lab fetch", "host": socket.gethostname()}
    temp_folder(dest, ".gtzan-new-1234-nofile", files=["mine.txt"])  # no owner file
    temp_folder(dest, f".gtzan-new-{os.getppid()}-alive",  # its owner still runs
                {**me, "pid": os.getppid()}, ["x"])
    temp_folder(dest, f".gtzan-new-{proc.pid}-elsewhere",  # another host's
                {**me, "host": "another-host", "pid": proc.pid}, ["x"])
    temp_folder(dest, ".notes-new-and-old", files=["mine.txt"])  # not a fetch's name
    code, _, err = fetch_cli(capsys, "--dest", dest, "--archive", archive)
    assert code == 0, err
    assert killed[0] not in leftovers(dest)
    assert len(leftovers(dest)) == 4  # the others are not clearly a dead fetch's


def test_moved_aside_copy_of_a_killed_fetch_is_removed_only_if_all_listed(tmp_path, capsys):
    dest = tmp_path / "dest"
    pid = dead_pid()
    owner = {"made_by": "genre-lab fetch", "pid": pid, "host": socket.gethostname()}
    record = json.dumps({"made_by": "genre-lab fetch",
                         "paths": ["genres/", "genres/blues/", "genres/blues/a.wav"]})
    ours = temp_folder(dest, f".gtzan-old-{pid}-ours", owner, ["aside/genres/blues/a.wav"])
    (ours / fetch.RECORD).write_text(record)
    mixed = temp_folder(dest, f".gtzan-old-{pid}-mixed", owner,
                        ["aside/genres/blues/a.wav", "aside/genres/blues/mine.txt"])
    (mixed / fetch.RECORD).write_text(record)
    code, _, err = fetch_cli(capsys, "--dest", dest, "--archive", make_tarball(tmp_path))
    assert code == 0, err
    assert not ours.exists()
    assert (mixed / "aside" / "genres" / "blues" / "mine.txt").read_text() == "x"


def test_second_fetch_into_the_same_folder_is_refused(tmp_path, capsys):
    dest = tmp_path / "dest"
    dest.mkdir()
    fd = os.open(dest, os.O_RDONLY)  # another fetch at work: it holds the folder's lock
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        code, _, err = fetch_cli(capsys, "--dest", dest, "--archive", make_tarball(tmp_path))
    finally:
        os.close(fd)
    assert code == 1 and one_line_error(err, dest, "another genre-lab fetch")
    assert list(dest.iterdir()) == []


# ---- odd inputs: one line that names the file, nothing of the user's lost --------------------

def _odd_archive_folder(tmp_path, dest):
    return ["--archive", tmp_path], tmp_path, "a folder, not an archive"


def _odd_dangling_link(tmp_path, dest):
    (tmp_path / "link.tar.gz").symlink_to(tmp_path / "nothing")
    return ["--archive", tmp_path / "link.tar.gz"], tmp_path / "link.tar.gz", "broken"


def _odd_device(tmp_path, dest):
    return ["--archive", "/dev/null"], "/dev/null", "not a regular file"


def _odd_empty_archive(tmp_path, dest):
    (tmp_path / "empty.tar.gz").write_bytes(b"")
    return ["--archive", tmp_path / "empty.tar.gz"], tmp_path / "empty.tar.gz", "neither"


def _odd_short_hash(tmp_path, dest):
    archive = make_tarball(tmp_path)
    return ["--archive", archive, "--sha256", "abc"], archive, "not a sha256 hash"


def _odd_non_hex_hash(tmp_path, dest):
    return (["--url", "http://127.0.0.1:9/genres.tar.gz", "--sha256", "z" * 64],
            "http://127.0.0.1:9/genres.tar.gz", "not a sha256 hash")


def _odd_empty_hash(tmp_path, dest):
    archive = make_tarball(tmp_path)
    return ["--archive", archive, "--sha256", ""], archive, "not a sha256 hash"


def _odd_hash_without_source(tmp_path, dest):
    return ["--sha256", "b" * 64], "genres.tar.gz", "not the registry's"


def _odd_gtzan_dangling_link(tmp_path, dest):
    (dest / "gtzan").symlink_to(tmp_path / "nothing")
    return ["--archive", make_tarball(tmp_path)], dest / "gtzan", "broken symbolic link"


def _odd_url_named_gtzan(tmp_path, dest):
    (dest / "gtzan").mkdir()
    (dest / "gtzan" / "mine.txt").write_text("mine")
    return (["--url", "http://127.0.0.1:9/gtzan", "--sha256", "a" * 64],
            "http://127.0.0.1:9/gtzan", "cannot connect")


ODD = [_odd_archive_folder, _odd_dangling_link, _odd_device, _odd_empty_archive,
       _odd_short_hash, _odd_non_hex_hash, _odd_empty_hash, _odd_hash_without_source,
       _odd_gtzan_dangling_link, _odd_url_named_gtzan]


@pytest.mark.parametrize("make_odd", ODD, ids=lambda f: f.__name__.removeprefix("_odd_"))
def test_odd_input_is_one_line_and_loses_nothing(tmp_path, capsys, make_odd):
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "src").mkdir()
    args, names, says = make_odd(tmp_path / "src", dest)
    before = tree(tmp_path)
    code, _, err = fetch_cli(capsys, "--dest", dest, *args)
    assert code == 1 and one_line_error(err, names, says), err
    assert tree(tmp_path) == before and leftovers(dest) == []


def test_fma_refetch_keeps_the_users_files_and_refuses_to_delete_them(server, tmp_path,
                                                                        monkeypatch):
    served, base = server
    archive = zip_with(served / "fma_small.zip", {"fma_small/000/000002.mp3": b"ID3 clip",
                                                  "fma_small/README.txt": b"FMA small"})
    monkeypatch.setitem(fetch.FMA, "small", dataclasses.replace(
        fetch.FMA["small"], urls=(f"{base}/fma_small.zip",),
        sha256=hashlib.sha1(archive.read_bytes()).hexdigest()))
    dest = tmp_path / "dest"
    dest.mkdir()
    fetch._fetch_fma_zip("small", dest, progressbar=False)
    notes = dest / "fma_small" / "my-notes.txt"
    notes.write_text("mine")
    fetch._fetch_fma_zip("small", dest, progressbar=False)  # replaced; the notes stay
    assert notes.read_text() == "mine"
    assert (dest / "fma_small" / "000" / "000002.mp3").read_bytes() == b"ID3 clip"
    mine = dest / "fma_small" / "000" / "mine.mp3"
    mine.write_bytes(b"my clip")
    with pytest.raises(fetch.FetchError) as info:
        fetch._fetch_fma_zip("small", dest, progressbar=False)
    assert str(mine) in str(info.value) and "\n" not in str(info.value)
    assert mine.read_bytes() == b"my clip"
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]
