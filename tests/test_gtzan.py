"""The GTZAN loader on good and bad folders: every bad case is named, none is a deep traceback."""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import numpy as np
import pytest
import soundfile as sf

from conftest import write_tone
from genre_lab import GENRES, audio, cli
from genre_lab.data import gtzan


def _scan_one_bad(make_gtzan, name: str, writer):
    root = make_gtzan()
    path = root / "genres" / name.split(".")[0] / name
    writer(path)
    return gtzan.scan(root), path


def _reason(report, path):
    found = [p.reason for p in report.skipped if p.path.name == path.name]
    assert found, f"{path.name} was not reported as skipped: {report.text()}"
    return found[0]


def test_valid_folder_is_ok(make_gtzan):
    report = gtzan.scan(make_gtzan())
    assert report.ok
    assert len(report.tracks) == 2 * len(GENRES)
    assert list(report.tracks.label) == [i for i in range(10) for _ in range(2)]


def test_kaggle_layout_is_found(make_gtzan):
    root = make_gtzan(layout="kaggle")
    genre_dir, layout = gtzan.locate(root)
    assert layout == "kaggle" and genre_dir.name == "genres_original"
    # pointing at the genre folder itself also works
    assert gtzan.locate(root / "Data" / "genres_original")[1] == "genre folders"


def test_text_named_wav(make_gtzan):
    report, path = _scan_one_bad(make_gtzan, "rock.00007.wav",
                                 lambda p: p.write_text("this is not audio at all\n"))
    assert "not a RIFF/WAV file" in _reason(report, path)
    assert "rock.00007" not in set(report.tracks.track_id)


def test_zero_byte_file(make_gtzan):
    report, path = _scan_one_bad(make_gtzan, "pop.00009.wav", lambda p: p.write_bytes(b""))
    assert "empty file" in _reason(report, path)


def test_truncated_wav(make_gtzan, tmp_path):
    def truncate(p):
        full = write_tone(tmp_path / "full.wav", seconds=5.0)
        data = full.read_bytes()
        p.write_bytes(data[: len(data) // 2])

    report, path = _scan_one_bad(make_gtzan, "blues.00003.wav", truncate)
    assert "truncated" in _reason(report, path)


def test_non_riff_header_like_kaggle_jazz_00054(make_gtzan):
    # The Kaggle copy's jazz.00054.wav is not a RIFF file: same name, same failure mode.
    junk = bytes(np.random.default_rng(54).integers(0, 256, 4000, dtype=np.uint8))
    report, path = _scan_one_bad(make_gtzan, "jazz.00054.wav",
                                 lambda p: p.write_bytes(b"\x00\x00\x01\xba" + junk))
    assert "not a RIFF/WAV file" in _reason(report, path)


def test_stereo_44k_is_converted_not_skipped(make_gtzan):
    report, path = _scan_one_bad(
        make_gtzan, "metal.00005.wav",
        lambda p: write_tone(p, seconds=4.0, sr=44100, channels=2))
    assert report.ok
    row = report.tracks.set_index("track_id").loc["metal.00005"]
    assert "2 channels" in row.note and "44100 Hz" in row.note
    y = audio.load(path)
    assert y.ndim == 1 and y.dtype == np.float32 and abs(len(y) - 4 * 22050) <= 1


def test_8_bit_is_converted_not_skipped(make_gtzan):
    report, path = _scan_one_bad(make_gtzan, "country.00004.wav",
                                 lambda p: write_tone(p, subtype="PCM_U8"))
    assert report.ok
    assert "PCM_U8" in report.tracks.set_index("track_id").loc["country.00004"].note
    assert np.abs(audio.load(path)).max() > 0.2


def test_one_second_clip(make_gtzan):
    report, path = _scan_one_bad(make_gtzan, "disco.00011.wav",
                                 lambda p: write_tone(p, seconds=1.0))
    assert "too short" in _reason(report, path)


def test_all_zero_audio(make_gtzan):
    report, path = _scan_one_bad(
        make_gtzan, "hiphop.00002.wav",
        lambda p: sf.write(str(p), np.zeros(22050 * 4, dtype=np.float32), 22050))
    assert "silent" in _reason(report, path)


def test_missing_genre_folder(make_gtzan):
    root = make_gtzan(genres=[g for g in GENRES if g != "reggae"])
    report = gtzan.scan(root)
    assert report.missing_genres == ["reggae"] and not report.ok
    with pytest.warns(gtzan.BadAudioWarning, match="reggae: missing genre folder"):
        tracks = gtzan.track_table(root)
    assert "reggae" not in set(tracks.genre)
    with pytest.raises(gtzan.GTZANError, match="reggae"):
        gtzan.track_table(root, strict=True)


def test_unknown_genre_folder(make_gtzan):
    root = make_gtzan()
    write_tone(root / "genres" / "polka" / "polka.00000.wav")
    report = gtzan.scan(root)
    assert [p.path.name for p in report.unknown_folders] == ["polka"]
    assert "polka" not in set(report.tracks.genre)


def test_duplicate_track_id(make_gtzan):
    root = make_gtzan()
    write_tone(root / "genres" / "blues" / "blues.00000.au", freq=300.0)
    report = gtzan.scan(root)
    reasons = [p.reason for p in report.skipped]
    assert len(reasons) == 1 and "duplicate track id blues.00000" in reasons[0]
    assert (report.tracks.track_id == "blues.00000").sum() == 1


def test_file_in_wrong_genre_folder_and_odd_name(make_gtzan):
    root = make_gtzan()
    write_tone(root / "genres" / "rock" / "metal.00042.wav")
    write_tone(root / "genres" / "rock" / "my song.wav")
    reasons = " | ".join(p.reason for p in gtzan.scan(root).skipped)
    assert "file name says 'metal'" in reasons and "unexpected file name" in reasons


@pytest.mark.parametrize("make_root", [
    lambda tmp: tmp / "does-not-exist",
    lambda tmp: tmp,  # exists, but empty
    lambda tmp: (tmp / "music").mkdir() or (tmp / "music"),
])
def test_empty_or_wrong_root(tmp_path, make_root):
    with pytest.raises(gtzan.GTZANError, match="no such folder|no GTZAN genre folders"):
        gtzan.track_table(make_root(tmp_path))


def test_genre_folders_without_audio(tmp_path):
    (tmp_path / "genres" / "blues").mkdir(parents=True)
    with pytest.raises(gtzan.GTZANError, match="hold no .wav or .au files"):
        gtzan.scan(tmp_path)


def test_one_warning_lists_every_skipped_file(make_gtzan):
    root = make_gtzan()
    (root / "genres" / "jazz" / "jazz.00054.wav").write_bytes(b"not riff" * 100)
    (root / "genres" / "pop" / "pop.00009.wav").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracks = gtzan.track_table(root)
    bad = [w for w in caught if issubclass(w.category, gtzan.BadAudioWarning)]
    assert len(bad) == 1
    message = str(bad[0].message)
    assert "jazz.00054.wav" in message and "pop.00009.wav" in message
    assert len(tracks) == 20


def test_strict_raises_naming_the_file(make_gtzan):
    root = make_gtzan()
    (root / "genres" / "jazz" / "jazz.00054.wav").write_bytes(b"\x00" * 64)
    with pytest.raises(gtzan.GTZANError, match=r"jazz\.00054\.wav: not a RIFF/WAV file"):
        gtzan.track_table(root, strict=True)


def test_audio_load_names_the_bad_file(tmp_path):
    bad = tmp_path / "jazz.00054.wav"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(audio.AudioError, match=r"jazz\.00054\.wav: cannot decode audio"):
        audio.load(bad)
    with pytest.raises(FileNotFoundError):
        audio.load(tmp_path / "missing.wav")


def test_check_cli_names_bad_files_and_exits_1(make_gtzan, capsys):
    root = make_gtzan()
    (root / "genres" / "jazz" / "jazz.00054.wav").write_bytes(b"\x00\x00\x01\xba" * 500)
    (root / "genres" / "pop" / "pop.00009.wav").write_bytes(b"")
    assert cli.main(["check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "jazz.00054.wav: not a RIFF/WAV file" in out
    assert "pop.00009.wav: empty file (0 bytes)" in out
    assert "bad files (skipped): 2" in out


def test_check_cli_on_clean_folder_exits_0(make_gtzan, capsys):
    assert cli.main(["check", str(make_gtzan())]) == 0
    assert "OK: every file is usable." in capsys.readouterr().out


def test_check_cli_on_wrong_root(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path / "nope")]) == 1
    assert "no such folder" in capsys.readouterr().err


def test_links_and_unreadable_entries_are_skipped_and_reported(make_gtzan, monkeypatch, capsys):
    root = make_gtzan()
    jazz = root / "genres" / "jazz"
    (jazz / "jazz.00007.wav").symlink_to(jazz / "jazz.00007.wav")       # a link to itself
    (jazz / "jazz.00008.wav").symlink_to(root / "gone.wav")             # dangling
    (jazz / "jazz.00009.wav").symlink_to(jazz / "jazz.00000.wav")       # a good link: used
    locked = root / "genres" / "rock" / "rock.00005.wav"
    locked.write_bytes((root / "genres" / "rock" / "rock.00000.wav").read_bytes())
    real_info = gtzan.sf.info

    def info(path, *args, **kwargs):  # tests run as root: simulate a file we may not read
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_info(path, *args, **kwargs)

    monkeypatch.setattr(gtzan.sf, "info", info)
    gtzan._inspect_cached.cache_clear()
    report = gtzan.scan(root)
    reasons = {p.path.name: p.reason for p in report.skipped}
    assert "symbolic links" in reasons["jazz.00007.wav"]
    assert "No such file" in reasons["jazz.00008.wav"]
    assert "Permission denied" in reasons["rock.00005.wav"]
    assert "jazz.00009" in set(report.tracks.track_id) and len(report.tracks) == 21
    # the commands that read a data folder go on, with one warning
    with pytest.warns(gtzan.BadAudioWarning, match="3 problem"):
        assert len(gtzan.track_table(root)) == 21
    assert cli.main(["check", str(root)]) == 1
    assert "rock.00005.wav: cannot read the file (Permission denied)" in capsys.readouterr().out


# --- what check must not pass: files that later break features or training ------------------


def _float_writer(y, sr=22050):
    return lambda p: sf.write(str(p), np.asarray(y, np.float32), sr, subtype="FLOAT")


def _noise(seconds=4.0, sr=22050, scale=0.3, channels=1):
    shape = (int(seconds * sr), channels) if channels > 1 else int(seconds * sr)
    return np.random.default_rng(0).uniform(-1, 1, shape) * scale


@pytest.mark.parametrize("name, y, sr, reason", [
    # finite, but the log-mel overflows into NaN; check used to call it fine
    ("rock.00008.wav", _noise(scale=1e30), 22050, "samples reach"),
    ("rock.00008.wav", np.where(np.arange(22050 * 4) == 500, np.nan, _noise()), 22050,
     "contains NaN or infinite samples"),
    ("rock.00008.wav", np.where(np.arange(22050 * 4) == 500, -np.inf, _noise()), 22050,
     "contains NaN or infinite samples"),
    # 5 frames at 1 Hz pass the 3-s minimum and resample to 5 s of nothing
    ("blues.00004.wav", _noise(seconds=5, sr=1), 1, "sample rate 1 Hz is below 4000 Hz"),
    ("blues.00004.wav", _noise(sr=2000), 2000, "sample rate 2000 Hz is below 4000 Hz"),
    # not all zero, but nothing above -80 dBFS: predict calls it silent too
    ("jazz.00006.wav", _noise(scale=1e-5), 22050, "silent (peak"),
])
def test_check_reports_files_that_would_break_features_or_training(make_gtzan, capsys, name, y,
                                                                   sr, reason):
    report, path = _scan_one_bad(make_gtzan, name, _float_writer(y, sr))
    assert reason in _reason(report, path) and not report.ok
    assert path.stem not in set(report.tracks.track_id)
    assert cli.main(["check", str(report.root)]) == 1
    assert f"{path.name}: {reason}" in capsys.readouterr().out
    # what check refuses, load refuses (silence: only check and predict refuse it)
    with pytest.raises(audio.AudioError) if "silent" not in reason else nullcontext():
        audio.load(path)


def test_float_file_a_little_over_full_scale_is_kept_with_a_note(make_gtzan):
    report, path = _scan_one_bad(make_gtzan, "metal.00007.wav", _float_writer(_noise(scale=1.5)))
    assert report.ok
    note = report.tracks.set_index("track_id").loc["metal.00007"].note
    assert "peak 1.5 above full scale (1.0), used as it is" in note


def test_eight_channels_are_converted_not_skipped(make_gtzan):
    report, path = _scan_one_bad(make_gtzan, "disco.00009.wav",
                                 lambda p: write_tone(p, seconds=4.0, channels=8))
    assert report.ok
    assert "8 channels, mixed to mono" in report.tracks.set_index("track_id").loc[
        "disco.00009"].note
    assert audio.load(path).shape == (4 * 22050,)


def test_training_skips_what_check_reports(make_gtzan, tmp_cache, tmp_path, capsys):
    """The adversarial run: one float WAV of samples near 1e30 among good clips. ``check``
    names it; ``train`` leaves it out (one warning) and writes finite, valid JSON."""
    import json

    root = make_gtzan(clips=5)
    loud = root / "genres" / "rock" / "rock.00005.wav"
    _float_writer(_noise(scale=1e30))(loud)
    assert cli.main(["check", str(root)]) == 1
    assert "rock.00005.wav: samples reach" in capsys.readouterr().out
    out = tmp_path / "run"
    with pytest.warns(gtzan.BadAudioWarning, match=r"rock\.00005\.wav: samples reach"):
        assert cli.main(["train", str(root), "--model", "cnn1d", "--out", str(out),
                         "--epochs", "1", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"{c} in metrics.json"))
    assert all(np.isfinite(metrics["history"]["train_loss"]))
    assert "rock.00005" not in metrics["data"]["test_tracks"]
