"""Augmentations: shapes, seeds, strengths, mixup, SpecAugment and the augmented-segment cache."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from conftest import write_tone  # noqa: E402
from genre_lab import GENRES, augment, config, experiment  # noqa: E402
from genre_lab.dataset import Dataset  # noqa: E402
from genre_lab.features.segments import segment_features, signal_features  # noqa: E402

SR = 22050
SETTINGS = config.FeatureSettings(segment_seconds=1.0, n_mels=32, n_mfcc=13, n_fft=1024,
                                  hop_length=512)
PROFILE = config.Profile("test", clips_per_genre=1, clip_seconds=1.0, epochs=1, seeds=1,
                         features=SETTINGS)


pytestmark = pytest.mark.usefixtures("tmp_cache")  # a fresh cache per test


@pytest.fixture
def signal():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(SR)).astype(
        np.float32)


@pytest.fixture
def tracks(tmp_path):
    """Four clips of two genres: 2.1 s -> 2 one-second segments, 3.2 s -> 3."""
    rows = []
    for i, (genre, seconds) in enumerate([("rock", 2.1), ("blues", 3.2), ("rock", 3.2),
                                          ("blues", 2.1)]):
        path = write_tone(tmp_path / "clips" / f"{genre}.{i:05d}.wav", seconds=seconds,
                          freq=150.0 * (i + 1), seed=i)
        rows.append(dict(track_id=f"{genre}.{i:05d}", genre=genre, label=GENRES.index(genre),
                         path=str(path)))
    return pd.DataFrame(rows)


def peak_hz(y, sr=SR):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.fft.rfftfreq(len(y), d=1 / sr)[spectrum.argmax()]


# --------------------------------------------------------------------------- waveforms
TRANSFORMS = [
    augment.GaussianNoise(snr_db=(10, 30)),
    augment.PitchShift(steps=(-2, 2)),
    augment.TimeStretch(rate=(0.8, 1.25)),
    augment.TimeStretch(rate=(0.8, 1.25), pad="zero"),
    augment.Gain(db=(-6, 6)),
    augment.TimeShift(seconds=(-0.3, 0.3)),
    augment.TimeShift(seconds=(-0.3, 0.3), mode="zero"),
    augment.RandomCrop(seconds=0.5),
    augment.Compose([augment.Gain(db=(-3, 3)), augment.GaussianNoise(snr_db=(20, 30))]),
]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: t.key[:40])
def test_waveform_shape_dtype_and_seeds(transform, signal):
    before = signal.copy()
    out = transform(signal, np.random.default_rng(0))
    n = int(0.5 * SR) if isinstance(transform, augment.RandomCrop) else len(signal)
    assert out.shape == (n,) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert np.array_equal(signal, before)  # the input is left alone
    assert np.array_equal(out, transform(signal, np.random.default_rng(0)))
    assert np.array_equal(out, transform(signal, 0))  # a seed works as well as a generator
    assert not np.array_equal(out, transform(signal, np.random.default_rng(1)))


@pytest.mark.parametrize("transform", [
    augment.GaussianNoise(snr_db=np.inf), augment.PitchShift(steps=0),
    augment.TimeStretch(rate=1.0), augment.Gain(db=0), augment.TimeShift(seconds=0),
    augment.TimeShift(seconds=0, mode="zero"), augment.Identity(),
    augment.RandomCrop(seconds=1.0)], ids=lambda t: t.key[:40])
def test_zero_strength_is_identity(transform, signal):
    assert np.allclose(transform(signal, 3), signal)


def test_keys_are_stable_and_name_the_parameters():
    assert augment.PitchShift(steps=(-2, 2)).key == augment.PitchShift(steps=(-2.0, 2.0)).key
    assert augment.PitchShift(steps=(-2, 2)).key != augment.PitchShift(steps=(-3, 3)).key
    assert augment.PitchShift(steps=1).key.startswith("PitchShift(steps=(1.0, 1.0)")
    stack = augment.Compose([augment.Gain(db=3), augment.PitchShift(steps=1)])
    assert stack.key == f"Compose([{augment.Gain(db=3).key}, {augment.PitchShift(1).key}])"
    with pytest.raises(ValueError):
        augment.PitchShift(steps=(2, -2))
    with pytest.raises(ValueError):
        augment.TimeStretch(rate=(0, 2))


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0, 40.0])
def test_noise_reaches_the_requested_snr(snr, signal):
    noisy = augment.GaussianNoise(snr_db=snr)(signal, np.random.default_rng(7))
    achieved = 10 * np.log10(np.mean(signal.astype(float) ** 2)
                             / np.mean((noisy - signal).astype(float) ** 2))
    assert abs(achieved - snr) < 0.5
    silent = np.zeros(SR, np.float32)  # no signal power: nothing to scale the noise to
    assert np.array_equal(augment.GaussianNoise(snr_db=snr)(silent, 0), silent)


@pytest.mark.parametrize("steps", [-5, 3, 12])
def test_pitch_shift_moves_a_tone_by_the_semitone_ratio(steps):
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(2 * SR) / SR)).astype(np.float32)
    shifted = augment.PitchShift(steps=steps)(tone)
    assert len(shifted) == len(tone)
    assert peak_hz(shifted) / peak_hz(tone) == pytest.approx(2 ** (steps / 12), rel=0.005)


def test_time_stretch_crops_or_pads_back():
    tone = (0.5 * np.sin(2 * np.pi * 330.0 * np.arange(SR) / SR)).astype(np.float32)
    fast = augment.TimeStretch(rate=2.0, pad="zero")(tone)
    assert len(fast) == SR
    assert np.abs(fast[: SR // 2 - 2048]).max() > 0.1 and np.abs(fast[SR // 2 + 1:]).max() == 0
    wrapped = augment.TimeStretch(rate=2.0)(tone)
    assert np.array_equal(wrapped[SR // 2:], wrapped[:SR - SR // 2])  # repeated, no silence
    slow = augment.TimeStretch(rate=0.5)(tone)
    assert len(slow) == SR
    assert peak_hz(slow) == pytest.approx(330.0, rel=0.01)  # the pitch stays


def test_time_shift_modes(signal):
    shift = augment.TimeShift(seconds=0.1)
    assert np.array_equal(shift(signal), np.roll(signal, int(0.1 * SR)))
    zero = augment.TimeShift(seconds=-0.1, mode="zero")(signal)
    n = int(0.1 * SR)
    assert np.array_equal(zero[:-n], signal[n:]) and not zero[-n:].any()


def test_compose_applies_in_order_with_one_generator(signal):
    gain, noise = augment.Gain(db=(-6, 6)), augment.GaussianNoise(snr_db=(10, 30))
    stacked = augment.Compose([gain, noise])
    rng = np.random.default_rng(5)
    by_hand = noise(gain(signal, rng), rng)
    assert np.allclose(stacked(signal, np.random.default_rng(5)), by_hand)


# --------------------------------------------------------------------------- SpecAugment
def test_specaugment_masks_the_requested_widths():
    x = torch.randn(6, 32, 40) * 10 - 40  # raw-dB-like values
    spec = augment.SpecAugment(freq_width=(5, 5), time_width=(7, 7))
    out = spec([x], torch.Generator().manual_seed(0))[0]
    assert out.shape == x.shape and out.dtype == x.dtype
    changed = out != x
    fill = x.mean(dim=(1, 2))
    for i in range(len(x)):
        rows = changed[i].all(dim=1)
        frames = changed[i].all(dim=0)
        assert rows.sum() == 5 and frames.sum() == 7
        assert np.ptp(np.flatnonzero(rows.numpy())) == 4  # one contiguous band
        assert torch.allclose(out[i][changed[i]], fill[i].expand(int(changed[i].sum())))
        # nothing masked outside the two bands
        assert not changed[i][~rows][:, ~frames].any()


def test_specaugment_seeds_ranges_and_inputs():
    x = torch.randn(16, 32, 40)
    other = torch.randn(16, 20, 40)
    spec = augment.SpecAugment(freq_width=8, time_width=10, freq_masks=2, time_masks=2,
                               inputs=(0,))
    a = spec([x, other], torch.Generator().manual_seed(1))
    b = spec([x, other], torch.Generator().manual_seed(1))
    c = spec([x, other], torch.Generator().manual_seed(2))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert a[1] is other  # input 1 not masked
    masked_rows = (a[0] != x).all(dim=2).sum(dim=1)
    assert (masked_rows <= 16).all()  # two masks of at most 8 rows
    fixed = augment.SpecAugment(freq_width=0, time_width=0, fill=-80.0)
    assert torch.equal(fixed([x])[0], x)  # zero width: nothing masked
    with pytest.raises(ValueError):
        augment.SpecAugment(freq_width=(5, 2))


# --------------------------------------------------------------------------------- mixup
def test_mixup_soft_labels_and_one_lambda_for_all_inputs():
    n = 12
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((n, 3, 4)).astype(np.float32))
    y = torch.arange(n) % 10
    xs, target = augment.mixup([x, 3 * x + 1], y, 10, alpha=0.4,
                               generator=torch.Generator().manual_seed(0))
    assert target.shape == (n, 10) and target.dtype == torch.float32
    assert torch.allclose(target.sum(dim=1), torch.ones(n)) and (target >= 0).all()
    # an affine function of one input mixes into the same function of its mix only when
    # both inputs share λ and the partners
    assert torch.allclose(xs[1], 3 * xs[0] + 1, atol=1e-5)
    same = augment.mixup([x, 3 * x + 1], y, 10, alpha=0.4,
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(same[0][0], xs[0]) and torch.equal(same[1], target)
    other = augment.mixup([x, 3 * x + 1], y, 10, alpha=0.4,
                          generator=torch.Generator().manual_seed(1))
    assert not torch.equal(other[1], target)
    with pytest.raises(ValueError):
        augment.mixup([x], y, 10, alpha=0.0, generator=torch.Generator())


def test_mixup_matches_lambda_times_pairs():
    n = 8
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, 4, 5)).astype(np.float32))
    y = torch.arange(n)  # every example its own class: the targets tell the partners
    (mixed,), target = augment.mixup([x], y, n, alpha=1.0,
                                     generator=torch.Generator().manual_seed(3))
    lams = []
    for i in range(n):
        weights = target[i]
        if weights.count_nonzero() == 1:  # its own partner
            assert torch.allclose(mixed[i], x[i], atol=1e-6)
            continue
        lams.append(float(weights[i]))
        j = int(np.flatnonzero((weights > 0).numpy() & (np.arange(n) != i))[0])
        assert torch.allclose(mixed[i], lams[-1] * x[i] + (1 - lams[-1]) * x[j], atol=1e-5)
    assert len(lams) > 1 and np.allclose(lams, lams[0])  # one λ for the batch


def test_fit_with_mixup_and_specaugment_is_deterministic():
    from genre_lab import models
    from genre_lab.train import TrainConfig, fit, seed_everything

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 16, 20)).astype(np.float32) - 30
    y = np.arange(40) % 10
    spec = augment.SpecAugment(freq_width=3, time_width=3)
    histories = []
    for _ in range(2):
        seed_everything(4)  # the initial weights
        model = models.build("lenet5", [(16, 20)])
        cfg = TrainConfig(epochs=2, batch_size=16, mixup_alpha=0.3, seed=4)
        histories.append(fit(model, [x], y, [x[:10]], y[:10], cfg, batch_transform=spec,
                             progress=False))
    assert histories[0].train_loss == histories[1].train_loss
    assert np.isfinite(histories[0].train_loss).all()


# ----------------------------------------------------------- augmented segments and cache
@dataclass(frozen=True)
class Counting(augment.Transform):
    """Gain that counts its calls (class-level, so frozen instances can share it)."""

    db: float = 3.0
    calls = []

    def apply(self, y, **choices):
        Counting.calls.append(1)
        return y * np.float32(10 ** (self.db / 20))


@dataclass(frozen=True)
class Interrupted(augment.Transform):
    """Fails on its second call, as Ctrl-C would in the middle of a computation."""

    calls = []

    def apply(self, y, **choices):
        Interrupted.calls.append(1)
        if len(Interrupted.calls) >= 2:
            raise KeyboardInterrupt
        return y.copy()


def test_augmented_segments_shapes_ids_and_identity(tracks):
    original = segment_features(tracks, SETTINGS, progress=False)
    same = augment.augmented_segments(tracks, augment.Identity(), copies=2, progress=False,
                                      settings=SETTINGS)
    for kind in ("logmel", "mfcc"):
        seg = same[kind]
        assert seg.X.dtype == np.float32 and seg.X.shape[1:] == original[kind].X.shape[1:]
        assert len(seg) == 2 * len(original[kind])
        expected = np.concatenate([np.repeat(t, 2 * n) for t, n in
                                   zip(tracks.track_id, [2, 3, 3, 2], strict=True)])
        assert seg.track_id.tolist() == expected.tolist()  # table order, ids kept
        assert seg.label.tolist() == [GENRES.index(t.split(".")[0]) for t in expected]
        # an unchanged copy has exactly the original features, copy after copy
        for track in tracks.track_id:
            mine, theirs = seg.for_tracks([track]).X, original[kind].for_tracks([track]).X
            np.testing.assert_allclose(mine, np.concatenate([theirs, theirs]), atol=1e-4)


def test_augmented_segments_match_signal_features_and_depend_on_the_seed(tracks):
    from genre_lab import audio

    pitch = augment.PitchShift(steps=(-2, 2))
    a = augment.augmented_segments(tracks, pitch, seed=0, settings=SETTINGS, progress=False)
    b = augment.augmented_segments(tracks, pitch, seed=1, settings=SETTINGS, progress=False)
    assert not np.allclose(a["logmel"].X, b["logmel"].X)
    # one track's copy does not depend on the rest of the table or its order
    alone = augment.augmented_segments(tracks.iloc[[2]], pitch, seed=0, progress=False,
                                       settings=SETTINGS)
    track = tracks.track_id[2]
    np.testing.assert_array_equal(alone["logmel"].X, a["logmel"].for_tracks([track]).X)
    # the same cache entry, in this table's order
    reordered = augment.augmented_segments(tracks.iloc[::-1], pitch, SETTINGS, seed=0,
                                           progress=False)
    assert reordered["logmel"].track_id[0] == tracks.track_id.iloc[-1]
    np.testing.assert_array_equal(reordered["mfcc"].for_tracks([track]).X,
                                  a["mfcc"].for_tracks([track]).X)
    # the features are those of the augmented signal
    y = audio.load(tracks.path[2])
    rng = augment.copies._track_rng(0, track, 0)
    expected = signal_features(pitch(y, rng), SETTINGS)["logmel"]
    np.testing.assert_allclose(alone["logmel"].X, expected, atol=1e-4)


def test_augmented_segments_are_cached(tracks, tmp_cache):
    Counting.calls.clear()
    first = augment.augmented_segments(tracks, Counting(), settings=SETTINGS, progress=False)
    assert len(Counting.calls) == len(tracks)
    entries = list((tmp_cache / "arrays").glob("augmented-*.npz"))
    assert len(entries) == 1
    second = augment.augmented_segments(tracks, Counting(), settings=SETTINGS, progress=False)
    assert len(Counting.calls) == len(tracks)  # loaded, not recomputed
    np.testing.assert_array_equal(first["logmel"].X, second["logmel"].X)
    augment.augmented_segments(tracks, Counting(db=4.0), settings=SETTINGS, progress=False)
    augment.augmented_segments(tracks, Counting(), copies=2, settings=SETTINGS, progress=False)
    augment.augmented_segments(tracks, Counting(), seed=1, settings=SETTINGS, progress=False)
    assert len(list((tmp_cache / "arrays").glob("augmented-*.npz"))) == 4
    assert len(Counting.calls) == (1 + 1 + 2 + 1) * len(tracks)


def test_interrupted_computation_leaves_nothing(tracks, tmp_cache):
    Interrupted.calls.clear()
    with pytest.raises(KeyboardInterrupt):
        augment.augmented_segments(tracks, Interrupted(), settings=SETTINGS, progress=False)
    folder = tmp_cache / "arrays"
    assert not list(folder.glob("augmented-*.npz")) and not list(folder.glob("*.tmp"))


def test_interrupted_write_leaves_nothing(tracks, tmp_cache, monkeypatch):
    real_write_array = np.lib.format.write_array

    def interrupted_write(file, array, **kwargs):  # the store writes each array of an entry
        real_write_array(file, array, **kwargs)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(np.lib.format, "write_array", interrupted_write)
        augment.augmented_segments(tracks, augment.Gain(db=2), settings=SETTINGS, progress=False)
    folder = tmp_cache / "arrays"
    assert not list(folder.glob("augmented-*.npz")) and not list(folder.glob("*.tmp"))
    done = augment.augmented_segments(tracks, augment.Gain(db=2), settings=SETTINGS, progress=False)
    assert len(done["logmel"]) == 10 and len(list(folder.glob("augmented-*.npz"))) == 1


# ----------------------------------------------------------------- datasets for training
def small_dataset(tracks):
    table = tracks.assign(split=["train", "train", "val", "test"])
    return Dataset(table, segment_features(table, SETTINGS, progress=False), PROFILE, "track")


def test_augmented_dataset_adds_copies_to_the_training_side_only(tracks):
    data = small_dataset(tracks)
    noisy = augment.augmented_dataset(data, augment.GaussianNoise(snr_db=20), copies=2,
                                      progress=False)
    train, aug_train = data.side("train", "logmel"), noisy.side("train", "logmel")
    assert len(aug_train) == 3 * len(train)
    assert set(aug_train.track_id) == set(train.track_id)  # ids kept: no leak
    for side in ("val", "test"):
        for kind in ("logmel", "mfcc"):
            np.testing.assert_array_equal(noisy.side(side, kind).X, data.side(side, kind).X)
    assert noisy.augmentations == (
        dict(transform=augment.GaussianNoise(snr_db=20).key, copies=2, seed=0),)
    both = augment.augmented_dataset(noisy, augment.Gain(db=3), progress=False)
    assert len(both.side("train", "logmel")) == 4 * len(train)
    assert len(both.augmentations) == 2
    assert data.augmentations == ()  # the original is untouched
    # train_model caches runs on augmented and original data apart (the key sees it)
    from genre_lab.train import TrainConfig

    cfg = TrainConfig(epochs=1)
    assert experiment._run_key("lenet5", data, cfg, {}, None, None) != \
        experiment._run_key("lenet5", noisy, cfg, {}, None, None)


def test_fewer_training_tracks_keeps_one_per_genre_and_the_held_out_sides():
    rows = [dict(track_id=f"{g}.{i:05d}", genre=g, path="x", split=s)
            for g in ("rock", "jazz") for i, s in enumerate(["train"] * 8 + ["val", "test"])]
    data = Dataset(pd.DataFrame(rows), {}, PROFILE, "track")
    quarter = augment.fewer_training_tracks(data, 0.25, seed=0)
    counts = quarter.tracks[quarter.tracks.split == "train"].groupby("genre").size()
    assert counts.to_dict() == {"jazz": 2, "rock": 2}
    assert (quarter.tracks.split == "unused").sum() == 12
    held = quarter.tracks.split.isin(["val", "test"])
    assert quarter.tracks[held].equals(data.tracks[data.tracks.split.isin(["val", "test"])])
    tiny = augment.fewer_training_tracks(data, 0.01)
    assert (tiny.tracks.split == "train").sum() == 2  # at least one per genre
    assert augment.fewer_training_tracks(data, 0.25, seed=0).tracks.equals(quarter.tracks)
    with pytest.raises(ValueError):
        augment.fewer_training_tracks(data, 0.0)


def test_explorer_callback(signal):
    from genre_lab.widgets import augmentation_explorer

    explorer = augmentation_explorer(np.tile(signal, 3), SETTINGS)
    assert explorer.result["setting"].startswith("shift +3.00")  # drawn on creation
    for name in augment.STRENGTHS:
        off = explorer.update(augmentation=name, strength=0.0, seed=0)
        np.testing.assert_allclose(off["logmel"], explorer.update(
            augmentation=name, strength=0.0, seed=1)["logmel"], atol=1e-4)
        on = explorer.update(augmentation=name, strength=0.8, seed=0)
        assert on["logmel"].shape == off["logmel"].shape
        assert not np.allclose(on["logmel"], off["logmel"]), name
