"""The torch mel spectrogram, dB and MFCC path against librosa, on real and synthetic audio."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.fft
import torch

from conftest import shared
from genre_lab import audio
from genre_lab.features.frontend import MelSpectrogram, dct_matrix, mfcc_from_db, power_to_db

SR = 22050
PARAMS = dict(sr=SR, n_fft=2048, hop_length=512, n_mels=128)


def chirp_noise(seconds: float = 5.0, seed: int = 0) -> np.ndarray:
    """A 50 Hz -> 10 kHz chirp plus noise, with half a second of silence inside."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.5 * np.sin(2 * np.pi * 50 * (200 ** (t / seconds) - 1) * seconds / np.log(200))
    y += 0.02 * rng.standard_normal(t.size)
    y[SR : SR + SR // 2] = 0.0
    return y.astype(np.float32)


def real_clips(n: int = 3) -> list[np.ndarray]:
    files = sorted(shared("gtzan-sample").glob("genres/*/*.wav"))
    return [audio.load(f) for f in files[:: len(files) // n][:n]]


def librosa_features(y: np.ndarray):
    mel = librosa.feature.melspectrogram(y=y, **PARAMS)
    db = librosa.power_to_db(mel)
    return mel, db, librosa.feature.mfcc(S=db, n_mfcc=20)


def errors(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Relative Frobenius error, and the max relative error on bins above 1e-6 of the max."""
    fro = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
    big = ref > 1e-6 * ref.max()
    return float(fro), float(np.max(np.abs(ours - ref)[big] / ref[big]))


def check_against_librosa(y: np.ndarray):
    assert y.dtype == np.float32
    mel, db, mfcc = librosa_features(y)
    t_mel = MelSpectrogram()(torch.from_numpy(y))
    assert t_mel.shape == mel.shape and t_mel.dtype == torch.float32
    fro, worst = errors(t_mel.numpy(), mel)
    # float32 rounding in torch's and NumPy's FFTs and products, which differs by CPU path.
    # Measured on 5 real clips and a chirp, with AVX-512 and AVX2, 1, 2 and 4 threads
    # (benchmarks/float_margins.md): fro <= 1.4e-7, worst 1.2e-5 (AVX-512) to 2.1e-5 (AVX2),
    # dB <= 2.6e-4, MFCC <= 6.4e-4: every bound is 3x or more above the worst path.
    assert fro <= 1e-5, fro
    assert worst <= 1e-4, worst
    t_db = power_to_db(t_mel)
    np.testing.assert_allclose(t_db.numpy(), db, rtol=0, atol=2e-3)   # dB
    t_mfcc = mfcc_from_db(t_db, n_mfcc=20).numpy()
    assert t_mfcc.shape == mfcc.shape
    assert np.linalg.norm(t_mfcc - mfcc) / np.linalg.norm(mfcc) <= 1e-5
    np.testing.assert_allclose(t_mfcc, mfcc, rtol=0, atol=2e-3)


def test_matches_librosa_on_chirp_and_noise():
    check_against_librosa(chirp_noise())


def test_matches_librosa_on_real_clips():
    for y in real_clips():
        check_against_librosa(y)


def test_batch_equals_one_at_a_time():
    # different items: a loud chirp, quiet noise, a real-ish tone, silence
    rng = np.random.default_rng(1)
    items = np.stack([chirp_noise(3.0),
                      1e-3 * rng.standard_normal(3 * SR).astype(np.float32),
                      np.sin(2 * np.pi * 440 * np.arange(3 * SR) / SR).astype(np.float32),
                      np.zeros(3 * SR, np.float32)])
    mel = MelSpectrogram()
    batch = mel(torch.from_numpy(items))
    assert batch.shape == (4, 128, 130)
    db = power_to_db(batch)
    mfcc = mfcc_from_db(db)
    for i, y in enumerate(items):
        one = mel(torch.from_numpy(y))
        torch.testing.assert_close(batch[i], one, rtol=1e-5, atol=1e-9)
        # top_db is per item: each matches librosa on that item alone
        torch.testing.assert_close(db[i], power_to_db(one), rtol=0, atol=1e-4)
        ref_db = librosa.power_to_db(librosa.feature.melspectrogram(y=y, **PARAMS))
        np.testing.assert_allclose(db[i].numpy(), ref_db, rtol=0, atol=2e-3)
        torch.testing.assert_close(mfcc[i], mfcc_from_db(power_to_db(one)), rtol=0, atol=1e-3)
    assert float(db[3].max() - db[3].min()) == 0.0  # silence: all at amin, -100 dB
    assert float(db[1].max() - db[1].min()) <= 80.0 + 1e-4


def test_power_to_db_options_match_librosa():
    rng = np.random.default_rng(2)
    S = (rng.random((2, 16, 9)) ** 8).astype(np.float32)
    S[1] *= 1e-3
    for kwargs, lib in [(dict(ref=1.0, top_db=None), dict(ref=1.0, top_db=None)),
                        (dict(ref=torch.amax, top_db=40.0), dict(ref=np.max, top_db=40.0)),
                        (dict(ref=0.5, amin=1e-5, top_db=60.0), dict(ref=0.5, amin=1e-5,
                                                                      top_db=60.0))]:
        ours = power_to_db(torch.from_numpy(S), **kwargs).numpy()
        for i in range(2):
            np.testing.assert_allclose(ours[i], librosa.power_to_db(S[i], **lib), atol=1e-4)


def test_dct_matrix_is_scipy_orthonormal_dct():
    x = np.random.default_rng(3).standard_normal((128, 7))
    D = dct_matrix(128, 20, dtype=torch.float64).numpy()
    np.testing.assert_allclose(D @ x, scipy.fft.dct(x, type=2, norm="ortho", axis=0)[:20],
                               atol=1e-12)
    np.testing.assert_allclose(D @ D.T, np.eye(20), atol=1e-12)  # orthonormal rows


def test_shapes_dtypes_and_options():
    y = chirp_noise(2.0)
    mel = MelSpectrogram(n_fft=1024, hop_length=256, n_mels=64, fmin=30.0, fmax=8000.0)
    out = mel(torch.from_numpy(y))
    ref = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=256, n_mels=64,
                                         fmin=30.0, fmax=8000.0)
    assert out.shape == ref.shape == (64, mel.n_frames(len(y)))
    assert errors(out.numpy(), ref)[0] <= 1e-5
    # float64 in: float64 out, agreeing with librosa on the float64 signal
    out64 = mel(torch.from_numpy(y.astype(np.float64)))
    assert out64.dtype == torch.float64
    assert errors(out64.numpy(), ref)[0] <= 1e-5
    assert mfcc_from_db(power_to_db(out[None]), n_mfcc=13).shape == (1, 13, out.shape[-1])
    with pytest.raises(ValueError):
        mfcc_from_db(power_to_db(out), n_mfcc=65)
    with pytest.raises(ValueError):
        mel(torch.zeros(2, 3, 100))
    with pytest.raises(TypeError):
        mel(torch.zeros(100, dtype=torch.int16))


def test_empty_mel_filters_are_zero_rows_as_in_librosa():
    y = chirp_noise(1.0)
    with pytest.warns(UserWarning, match="[Ee]mpty filters"):
        ref = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=256, hop_length=64, n_mels=128)
    with pytest.warns(UserWarning, match="[Ee]mpty filters"):
        mel = MelSpectrogram(n_fft=256, hop_length=64, n_mels=128)
    out = mel(torch.from_numpy(y)).numpy()
    empty = ref.sum(axis=1) == 0
    assert empty.any() and (out[empty] == 0).all()
    assert errors(out, ref)[0] <= 1e-5


def test_banded_mel_is_the_dense_product():
    # every filter lands in one band, with all of its bins: the same as basis @ |STFT|**2
    y = torch.from_numpy(np.stack([chirp_noise(2.0), chirp_noise(2.0, seed=1)]).astype(np.float64))
    for kwargs in [dict(), dict(n_fft=1024, hop_length=256, n_mels=40, fmin=30.0, fmax=8000.0),
                   dict(n_mels=100)]:
        mel = MelSpectrogram(**kwargs)
        spec = torch.stft(y, n_fft=mel.n_fft, hop_length=mel.hop_length,
                          window=mel.window.double(), center=True, pad_mode="constant",
                          return_complex=True)
        dense = mel.mel_basis.double() @ spec.abs().square()
        torch.testing.assert_close(mel(y), dense, rtol=1e-10, atol=1e-12)


def test_power_to_db_leaves_its_input_alone():
    S = torch.rand(2, 8, 5, dtype=torch.float32) ** 4
    before = S.clone()
    for kwargs in [dict(), dict(ref=0.5, top_db=None), dict(ref=torch.amax)]:
        power_to_db(S, **kwargs)
        torch.testing.assert_close(S, before, rtol=0, atol=0)
    ints = torch.tensor([[[1, 10, 100]]])
    torch.testing.assert_close(power_to_db(ints, top_db=None),
                               torch.tensor([[[0.0, 10.0, 20.0]]]))
