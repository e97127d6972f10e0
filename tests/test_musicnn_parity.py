"""The musicnn port against the ORIGINAL musicnn 0.1.0 (TensorFlow), through a stored reference.

``tests/data/musicnn_reference.npz`` (and its ``.json`` provenance) was written once by
``tools/musicnn_reference.py``: musicnn's own ``models.py`` and ``extractor.py`` (unmodified),
TF 2.15.1 on CPU (one thread, batch size 1, oneDNN at TF's default), numpy 1.26, librosa 0.11.
Nothing here imports TensorFlow or musicnn.

Measured when the reference was recorded (torch 2.13 CPU, float32; the same at 1, 2 and 4
threads), port minus TF, max abs difference over 13 patches of 5 recordings, and relative to
the largest TF value of that tensor:

* musicnn: taggram 3.0e-7, logits 3.8e-6, mean_pool 4.8e-6, max_pool 1.1e-4 (of 100),
  penultimate 3.9e-6; relative at most 1.3e-6;
* VGG: taggram 6.9e-7, logits 1.0e-5, pool5 7.6e-6; relative at most 2.2e-6.

With every library kept to AVX2 (tools/avx2.py), relative at most 3.6e-6 (1, 2 and 4 threads).
That is float32 rounding (summation order in the convolutions). TF against itself, with its
oneDNN kernels off (``TF_ENABLE_ONEDNN_OPTS=0``) rather than on, differs by up to 1.0e-5
relative. Tolerance: ``|port - tf| <= REL * max|tf|`` per tensor, ``REL = 5e-5``: 20 times
the port's largest difference, 5 times TF's own spread. Real mistakes are far above it:
batch-norm epsilon 1e-5 instead of TF's 1e-3 gives 0.1-1.5, TF's 'same' padding split the
other way round 0.03-0.5, and merely rounding the input to float16 (what a float16 evaluation
of musicnn's log compression does to every bin) 9e-5 (mean_pool) to 8e-4 (taggram).

The front end: musicnn's ``np.log10(10000 * mel + 1)`` of its float16 mel is float32 under
the numpy musicnn requires (< 1.17: legacy value-based casting), with no overflow; the port's
:func:`~genre_lab.pretrained.musicnn.log_compress` and that expression evaluated by numpy 1.26
(the recorded table) are both held, on every non-negative finite float16 value, to NumPy's
documented accuracy for a float32 log10 (``LOG10_MAX_ULP``): bit-identical when recorded, 2
ulp apart when NumPy takes its AVX2 loop instead of its AVX-512 one.

End to end (whole recordings, skipped without the shared data folder): the port's mean
taggrams against musicnn's ``extractor.batch_data`` + TF graph, whose log-mel spectrograms
were bit-identical to the port's (same librosa 0.11, soxr, libsndfile). Measured: at most
6.3e-7, top 3 tags identical, on all five recordings, four models and both pad modes.
Tolerance ``E2E_ATOL = 5e-4``: room for other resampler or decoder versions, and below every
front-end mistake measured on the three recordings tested: the old float16 log (overflow
clipped at 4.816) changes their mean taggrams by 8e-4 to 1.2e-2, the 'constant' pad instead
of 'reflect' changes trumpet's by up to 3.8e-3.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import skip_without_musicnn  # noqa: E402
from genre_lab import pretrained

skip_without_musicnn()

from conftest import shared  # noqa: E402
from genre_lab.pretrained import musicnn as M  # noqa: E402

REFERENCE = Path(__file__).parent / "data" / "musicnn_reference.npz"
#: per tensor: |port - tf| <= REL * max|tf| (measured at most 2.2e-6, 3.6e-6 on AVX2; docstring)
REL = 5e-5
#: mean taggram of a whole recording, end to end (measured at most 6.3e-7)
E2E_ATOL = 5e-4
#: NumPy's accuracy bound for its float32 log10, in ulp: the bound its own test suite holds every
#: SIMD loop to (numpy/_core/tests/data/umath-validation-set-log10.csv, last column: 4 for
#: every float32 row in NumPy 2.4). Measured: 2 ulp, both on the AVX2 and the AVX-512 loop.
LOG10_MAX_ULP = 4
#: whole recordings for the end-to-end test: a quiet and a loud one, and the one that does not
#: start with digital silence (so that the STFT's centring pad matters)
E2E = ("brahms", "choice", "trumpet")


@pytest.fixture(scope="module")
def ref():
    with np.load(REFERENCE) as data:
        out = dict(data)
    out["provenance"] = json.loads(REFERENCE.with_suffix(".json").read_text())
    return out


@pytest.fixture
def threads():
    """Set torch's intra-op threads for one test, and put the old value back."""
    old = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(old)


def features(model, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = {k: v.numpy() for k, v in model.features(torch.from_numpy(x)).items()}
    if "pool5" in out:  # (B, C, T, mel) -> TF's (B, T, mel, C)
        out["pool5"] = out["pool5"].transpose(0, 2, 3, 1)
    return out


def test_reference_is_small_and_from_these_weights(ref):
    assert REFERENCE.stat().st_size < 1_000_000
    prov = ref["provenance"]
    assert prov["tf_versions"]["numpy"].startswith("1.")  # musicnn's numpy semantics
    for name in M.MODELS:
        data = Path(pretrained.checkpoint_prefix(name) + ".data-00000-of-00001")
        assert hashlib.sha256(data.read_bytes()).hexdigest() == prov["checkpoint_sha256"][name]
    # extractor.extractor() as shipped gives what the reference's graph gives
    for checks in prov["extractor_vs_this_graph_max_abs_diff"].values():
        assert max(v for k, v in checks.items() if k != "recording") < 1e-6, checks


def test_log_compression_is_musicnns(ref):
    # every non-negative finite float16 value (musicnn rounds the mel to float16 first)
    every = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16)
    table = ref["logc_table"]
    ours = M.log_compress(every)
    assert ours.dtype == table.dtype == np.float32
    # 10000 * mel + 1 is exact IEEE float32 arithmetic, the same on every CPU; log10 is not:
    # NumPy picks a SIMD loop by CPU (its float32 log10 differs by 2 ulp between the AVX2 and
    # AVX-512 loops here), and promises each within LOG10_MAX_ULP of the correctly rounded
    # result. So the port and musicnn's table are each within that of log10 in float64.
    x = np.float32(10000) * every.astype(np.float32) + np.float32(1)
    exact = np.log10(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_max_ulp(ours, exact, maxulp=LOG10_MAX_ULP)
    np.testing.assert_array_max_ulp(table, exact, maxulp=LOG10_MAX_ULP)
    # musicnn's values are float32, finite, and go far above float16's log10(65504 + 1)
    assert np.isfinite(table).all() and table.max() > 8.8
    # and the port's front end is exactly this compression of the float16 mel
    audio = (3 * np.sin(2 * np.pi * 100 * np.arange(4 * M.SR) / M.SR)).astype(np.float32)
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=M.SR, hop_length=M.FFT_HOP,
                                         n_fft=M.FFT_SIZE, n_mels=M.N_MELS,
                                         pad_mode="reflect").T
    spec = M.log_mel(audio)
    assert mel.max() > 6.55 and np.isfinite(spec).all() and spec.max() > 4.9
    assert np.array_equal(spec, M.log_compress(mel))


def check(name: str, ref, n_threads: int, threads) -> None:
    threads(n_threads)
    model = M.load(name)
    x = M.log_compress(ref["mel"])
    ours = features(model, x)
    keys = ["taggram", "logits"] + (["pool5"] if "vgg" in name else
                                    ["mean_pool", "max_pool", "penultimate"])
    for key in keys:
        tf_out = ref[f"{name}.{key}"]
        assert ours[key].shape == tf_out.shape, key
        diff = np.abs(ours[key] - tf_out).max()
        assert diff <= REL * np.abs(tf_out).max(), (name, key, n_threads, diff)


@pytest.mark.parametrize("name", M.MODELS)
def test_networks_match_tensorflow(ref, threads, name):
    check(name, ref, 1, threads)


@pytest.mark.parametrize("n_threads", [2, 4])
@pytest.mark.parametrize("name", ["MTT_musicnn", "MTT_vgg"])
def test_networks_match_tensorflow_on_more_threads(ref, threads, name, n_threads):
    check(name, ref, n_threads, threads)


def test_top_tags_end_to_end(ref, threads):
    """Whole recordings, audio file to mean taggram: the port's defaults against musicnn's
    ``extractor.batch_data`` (with librosa's old 'reflect' pad, as at musicnn's release) and
    the TF graph; and ``pad_mode='constant'`` against musicnn as shipped under librosa 0.11."""
    threads(1)
    names = [str(n) for n in ref["names"]]
    files = dict(zip(names, (str(f) for f in ref["files"]), strict=True))
    models = {name: M.load(name) for name in M.MODELS}
    for rec in E2E:
        audio = M.load_audio(shared(f"librosa/{files[rec]}"))
        for pad, label in (("reflect", "release"), ("constant", "shipped")):
            if pad == "constant" and rec != "trumpet":
                continue  # the others start and end with digital silence: same numbers
            batch, _ = M.batch_data(audio, pad_mode=pad)
            for name, model in models.items():
                ours = M.taggram(model, batch).mean(axis=0)
                theirs = ref[f"e2e.{name}.{label}.{rec}"]
                assert np.abs(ours - theirs).max() <= E2E_ATOL, (rec, name, label)
                # musicnn's tagger.top_tags: the top 3 of the mean taggram (in the reference,
                # the 1st to 4th are at least 6e-3 apart here, > 2 * E2E_ATOL)
                assert list(ours.argsort()[::-1][:3]) == list(theirs.argsort()[::-1][:3]), (
                    rec, name, label)
