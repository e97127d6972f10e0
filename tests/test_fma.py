"""The FMA loader and `genre-lab fetch fma-*` on a tiny FMA-layout folder built here.

The folder has FMA's real shape: ``fma_metadata/tracks.csv`` with its 52 columns under a
2-level header and a ``track_id`` line, and MP3 clips at ``fma_small/NNN/NNNNNN.mp3``
(written by libsndfile's MP3 encoder, 8 kHz mono to keep them small and fast), among them
an empty file, an ID3 tag without audio and a clip cut short, as FMA small really has.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import shutil
import warnings
import zipfile

import numpy as np
import pytest
import soundfile as sf
from test_fetch import RangeHandler, server  # noqa: F401 (server: the local HTTP fixture)

from genre_lab import cli
from genre_lab.data import fetch, fma, gtzan

#: tracks.csv's columns (fma_metadata.zip of 2017-05-09), in the file's order.
COLUMNS = (
    [("album", c) for c in ("comments date_created date_released engineer favorites id "
                            "information listens producer tags title tracks type").split()]
    + [("artist", c) for c in ("active_year_begin active_year_end associated_labels bio "
                               "comments date_created favorites id latitude location longitude "
                               "members name related_projects tags website "
                               "wikipedia_page").split()]
    + [("set", "split"), ("set", "subset")]
    + [("track", c) for c in ("bit_rate comments composer date_created date_recorded duration "
                              "favorites genre_top genres genres_all information interest "
                              "language_code license listens lyricist number publisher tags "
                              "title").split()]
)
#: (track id, subset, split, genre_top, artist, seconds of audio or what the file holds)
TRACKS = [
    (2, "small", "training", "Hip-Hop", "AWOL", 30.0),
    (5, "small", "training", "Hip-Hop", "AWOL", 30.0),
    (140, "small", "validation", "Folk", "Alec K. Redfearn", 30.0),
    (10, "small", "test", "Pop", "Kurt Vile", 30.0),
    (1482, "medium", "training", "Jazz", "Someone", 30.0),       # not in small
    (20, "large", "training", None, "No Genre", 30.0),         # no top genre
    (99134, "small", "training", "Rock", "Cut", b"ID3\x03" + bytes(1700)),  # no audio
    (108925, "small", "test", "Rock", "Short", 7.44),           # cut short (mdeff/fma#8)
    (4000, "small", "training", "Pop", "Empty", b""),           # an empty file
    (4001, "small", "test", "Pop", "Absent", None),             # listed, no file
]


def write_tracks_csv(path, rows=TRACKS):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([""] + [a for a, _ in COLUMNS])
        w.writerow([""] + [b for _, b in COLUMNS])
        w.writerow(["track_id"] + [""] * len(COLUMNS))
        for tid, subset, split, genre, artist, _ in rows:
            values = {("set", "subset"): subset, ("set", "split"): split,
                      ("track", "genre_top"): genre or "", ("artist", "name"): artist,
                      ("track", "title"): f"Title, {tid}", ("track", "genres"): "[21]",
                      ("track", "duration"): 168}
            w.writerow([tid] + [values.get(c, "") for c in COLUMNS])


def make_fma(root, rows=TRACKS):
    """``root/fma_metadata/tracks.csv`` and ``root/fma_small/NNN/NNNNNN.mp3``."""
    write_tracks_csv(root / "fma_metadata" / "tracks.csv", rows)
    for i, (tid, subset, *_, audio) in enumerate(rows):
        if audio is None or subset not in ("small", "medium"):
            continue
        path = fma.audio_path(root / f"fma_{subset}", tid)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(audio, bytes):
            path.write_bytes(audio)
            continue
        path.write_bytes(mp3(audio, 220 + 40 * i))
    return root


@functools.cache
def mp3(seconds: float, freq: float) -> bytes:
    """A sine as an 8 kHz mono MP3 (encoded once per test session)."""
    t = np.arange(int(seconds * 8000)) / 8000
    out = io.BytesIO()
    sf.write(out, 0.3 * np.sin(2 * np.pi * freq * t), 8000, format="MP3",
             subtype="MPEG_LAYER_III")
    return out.getvalue()


def test_read_tracks_has_fma_columns(tmp_path):
    write_tracks_csv(tmp_path / "tracks.csv")
    table = fma.read_tracks(tmp_path / "tracks.csv")
    assert list(table.columns) == ["subset", "split", "genre", "artist", "title"]
    assert table.index.name == "track_id" and table.index.dtype == "int64"
    assert table.loc[140, "genre"] == "Folk" and table.loc[2, "title"] == "Title, 2"
    assert fma.in_subset(table, "small").sum() == 8
    assert fma.in_subset(table, "medium").sum() == 9
    assert fma.in_subset(table, "large").sum() == fma.in_subset(table, "full").sum() == 10


def test_audio_path_is_fmas():
    assert fma.audio_path("fma_small", 2).as_posix() == "fma_small/000/000002.mp3"
    assert fma.audio_path("x", 108925).as_posix() == "x/108/108925.mp3"


def test_small_table_skips_and_reports_faulty_clips(tmp_path):
    root = make_fma(tmp_path / "fma")
    with pytest.warns(gtzan.BadAudioWarning) as caught:
        tracks = fma.load_tracks(root, "small")
    assert list(tracks.columns) == gtzan.TRACK_COLUMNS + ["split"]
    assert list(tracks.track_id) == ["000002", "000005", "000010", "000140"]
    assert dict(zip(tracks.track_id, tracks.split, strict=True)) == {
        "000002": "train", "000005": "train", "000010": "test", "000140": "val"}
    assert tracks.attrs["genres"] == ("Folk", "Hip-Hop", "Pop", "Rock")
    assert [tracks.attrs["genres"][i] for i in tracks.label] == list(tracks.genre)
    assert tracks.attrs["source"] == "fma" and tracks.attrs["subset"] == "small"
    assert (tracks.sample_rate == 8000).all() and (tracks.subtype == "MPEG_LAYER_III").all()
    assert np.allclose(tracks.duration, 30.0, atol=0.1)
    assert tracks.note.str.contains("resampled to 22050 Hz").all()
    assert not tracks.note.str.contains("PCM_16").any()  # an MP3 is FMA's format
    assert list(tracks.artist) == ["AWOL", "AWOL", "Kurt Vile", "Alec K. Redfearn"]
    # one warning; one line per skipped clip (and one for the listed clip without a file)
    (warning,) = caught
    lines = str(warning.message).splitlines()
    assert lines[0].startswith("4 problem(s) in ")
    reasons = dict(line.strip().split(": ", 1) for line in lines[1:])
    small = root / "fma_small"
    assert reasons[str(small / "004" / "004000.mp3")] == "empty file (0 bytes)"
    assert reasons[str(small / "099" / "099134.mp3")].startswith("cannot decode audio")
    assert reasons[str(small / "099" / "099134.mp3")].endswith("mdeff/fma#8)")
    assert reasons[str(small / "108" / "108925.mp3")].startswith("too short (7.44 s < 29 s)")
    assert reasons[str(small)] == "1 small track(s) of tracks.csv have no MP3 here (004001)"
    assert tracks.attrs["problems"] == 4


def test_medium_includes_small_and_full_keeps_short_tracks(tmp_path):
    root = make_fma(tmp_path / "fma")
    # fma_medium holds small's clips too
    shutil.copytree(root / "fma_small", root / "fma_medium", dirs_exist_ok=True)
    with pytest.warns(gtzan.BadAudioWarning, match="4 problem"):
        medium = fma.load_tracks(root, "medium")
    assert "001482" in set(medium.track_id) and "Jazz" in medium.attrs["genres"]
    (root / "fma_medium").rename(root / "fma_full")
    with pytest.warns(gtzan.BadAudioWarning, match="problem") as caught:
        full = fma.load_tracks(root, "full")
    assert "108925" in set(full.track_id)  # 7.44 s: long enough for the untrimmed set
    assert full.attrs["without_genre"] == 1 and "000020" not in set(full.track_id)
    assert "too short" not in str(caught[0].message)


def test_strict_raises_one_line(tmp_path):
    root = make_fma(tmp_path / "fma")
    with pytest.raises(fma.FMAError, match=r"004000.mp3: empty file .*\(and 3 more problems\)"):
        fma.load_tracks(root, "small", strict=True)


def test_clean_folder_gives_no_warning_and_checks_in_processes(tmp_path):
    root = make_fma(tmp_path / "fma", [r for r in TRACKS if r[0] in (2, 5, 10, 140)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = fma.load_tracks(root, "small")
        two = fma.load_tracks(root, "small", n_jobs=2)
    assert one.equals(two) and len(one) == 4


@pytest.mark.parametrize("case, match", [
    ("no metadata", "no FMA metadata"),
    ("no audio folder", "no folder fma_small"),
    ("not tracks.csv", "no column set.subset"),
    ("no clip at all", "none of the 8 small tracks"),
    ("unknown subset", "unknown FMA subset 'tiny'"),
])
def test_unusable_folder_is_one_line(tmp_path, case, match):
    root = make_fma(tmp_path / "fma")
    subset = "small"
    if case == "no metadata":
        (root / "fma_metadata" / "tracks.csv").unlink()
    elif case == "no audio folder":
        (root / "fma_small").rename(root / "elsewhere")
    elif case == "not tracks.csv":
        (root / "fma_metadata" / "tracks.csv").write_text("a,b\n1,2\n")
    elif case == "no clip at all":
        for p in (root / "fma_small").rglob("*.mp3"):
            p.unlink()
    else:
        subset = "tiny"
    with pytest.raises(fma.FMAError, match=match) as info:
        fma.load_tracks(root, subset)
    assert "\n" not in str(info.value)


def test_registry_has_the_published_sha1_sums():
    # mdeff/fma README.md, "Usage" and "History" (2017-05-09)
    assert fetch.FMA["small"].sha256 == "ade154f733639d52e35e32f5593efe5be76c6d70"
    assert fetch.FMA["metadata"].sha256 == "f0df49ffe5f2a6008d7dc83c6915b31835dfe733"
    assert {e.alg for e in fetch.FMA.values()} == {"sha1"}
    assert fetch.FMA["full"].urls == ("https://os.unil.cloud.switch.ch/fma/fma_full.zip",)


def sha1(path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def serve_zips(served, base, monkeypatch, *, corrupt_small=False):
    """fma_metadata.zip and fma_small.zip of a tiny FMA folder, served at ``base``, with
    the registry pointing there; the small zip's sha1 is wrong with ``corrupt_small``."""
    src = make_fma(served / "src", [r for r in TRACKS if r[0] in (2, 5, 10, 140)])
    for part in ("metadata", "small"):
        archive = served / f"fma_{part}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
            for f in sorted((src / f"fma_{part}").rglob("*")):
                z.write(f, f.relative_to(src).as_posix())
        digest = "0" * 40 if corrupt_small and part == "small" else sha1(archive)
        monkeypatch.setitem(fetch.FMA, part, fetch.Entry(
            archive.name, (f"{base}/{archive.name}",), digest, alg="sha1"))


def test_fetch_fma_small_end_to_end(server, tmp_path, monkeypatch, capsys):  # noqa: F811
    served, base = server
    serve_zips(served, base, monkeypatch)
    dest = tmp_path / "dest"
    assert cli.main(["fetch", "fma-small", "--dest", str(dest), "--quiet"]) == 0
    assert f"fma.load_tracks('{dest}', 'small')" in capsys.readouterr().out
    tracks = fma.load_tracks(dest, "small")
    assert len(tracks) == 4 and set(tracks.split) == {"train", "val", "test"}
    assert sorted(p.name for p in dest.iterdir()) == [
        "fma_metadata", "fma_metadata.zip", "fma_small", "fma_small.zip"]
    # again: the verified zips are reused (no download), the folders replaced
    RangeHandler.seen = []
    assert cli.main(["fetch", "fma-metadata", "--dest", str(dest), "--quiet"]) == 0
    assert RangeHandler.seen == []
    assert sorted(p.name for p in dest.iterdir())[0] == "fma_metadata"


def test_fetch_fma_checksum_mismatch_keeps_earlier_data(server, tmp_path, monkeypatch,  # noqa: F811
                                                        capsys):
    served, base = server
    serve_zips(served, base, monkeypatch)
    dest = tmp_path / "dest"
    fetch.fetch_fma(dest, "small", progressbar=False)
    before = sorted(p.relative_to(dest) for p in (dest / "fma_small").rglob("*"))
    (dest / "fma_small.zip").unlink()
    serve_zips(served, base, monkeypatch, corrupt_small=True)
    assert cli.main(["fetch", "fma-small", "--dest", str(dest), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not fetch fma_small.zip: ") and "SHA1" in err.upper()
    assert err.count("\n") == 1
    assert sorted(p.relative_to(dest) for p in (dest / "fma_small").rglob("*")) == before
    assert not (dest / "fma_small.zip").exists() and not (dest / "fma_small.zip.part").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".fma-")]


def test_fetch_fma_offline_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(fetch.FMA, "metadata", fetch.Entry(
        "fma_metadata.zip", ("http://127.0.0.1:9/fma_metadata.zip",), "0" * 40, alg="sha1"))
    assert cli.main(["fetch", "fma-metadata", "--dest", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: could not fetch fma_metadata.zip: "
                   "http://127.0.0.1:9/fma_metadata.zip: cannot connect\n")


def test_fetch_fma_zip_without_fma_layout_is_refused(server, tmp_path, monkeypatch):  # noqa: F811
    served, base = server
    archive = served / "fma_small.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("other/readme.txt", "not FMA")
    serve_zips(served / "meta", base + "/meta", monkeypatch)
    monkeypatch.setitem(fetch.FMA, "small", fetch.Entry(
        archive.name, (f"{base}/{archive.name}",), sha1(archive), alg="sha1"))
    with pytest.raises(fetch.FetchError, match=r"fma_small.zip: not FMA's fma_small.zip"):
        fetch.fetch_fma(tmp_path / "d", "small", progressbar=False)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "fma_metadata", "fma_metadata.zip", "fma_small.zip"]


def test_fetch_help_lists_the_large_subsets(capsys):
    with pytest.raises(SystemExit):
        cli.main(["fetch", "--help"])
    out = capsys.readouterr().out
    for part in ("medium", "large", "full"):
        assert fetch.FMA[part].urls[0] in out and fetch.FMA[part].sha256 in out
    assert "879 GiB" in out
