"""musicnn and its VGG baseline in PyTorch: the front end, the weight mapping, and tags that
make musical sense. Parity with the original TensorFlow graph: tests/test_musicnn_parity.py."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import skip_without_musicnn  # noqa: E402
from genre_lab import pretrained

skip_without_musicnn()

from conftest import shared  # noqa: E402
from genre_lab.pretrained import musicnn as M  # noqa: E402


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(1)
    return {name: M.load(name) for name in M.MODELS}


#: librosa's example recordings (``librosa.ex(name)``) by file, read from the shared data
#: folder directly: ``librosa.ex`` reads LIBROSA_DATA_DIR once, at import, and may download.
EXAMPLES = {
    "brahms": "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg",
    "nutcracker": "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg",
    "choice": "admiralbob77_-_Choice_-_Drum-bass.ogg",
    "vibeace": "Kevin_MacLeod_-_Vibe_Ace.ogg",
    "trumpet": "sorohanro_-_solo-trumpet-06.ogg",
}


@pytest.fixture(scope="module")
def examples():
    """Log-mel patches of librosa's example recordings (the first 30 s of each)."""
    import librosa

    out = {}
    for name, file in EXAMPLES.items():
        audio, _ = librosa.load(shared(f"librosa/{file}"), sr=M.SR, duration=30.0)
        out[name] = M.batch_data(audio)[0]
    return out


def sine(freq=440.0, seconds=9.0):
    t = np.arange(int(seconds * M.SR)) / M.SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ----------------------------------------------------------------- front end

def test_patch_is_musicnn_formula():
    import librosa

    rng = np.random.default_rng(0)
    audio = (0.1 * sine(220.0) + 0.01 * rng.standard_normal(9 * M.SR)).astype(np.float32)
    batch, spec = M.batch_data(audio)
    # musicnn's extractor.batch_data, written out: power-2 mel (Slaney scale and norm),
    # rounded to float16, then log10(10000 x + 1) in float32 (what numpy < 2, which musicnn
    # requires, makes of float16 array * 10000), 187-frame patches without overlap
    mel = librosa.feature.melspectrogram(y=audio, sr=16000, hop_length=256, n_fft=512,
                                         n_mels=96, pad_mode="reflect").T
    expected = np.log10(np.float32(10000) * mel.astype(np.float16) + np.float32(1))
    assert expected.dtype == np.float32 and np.isfinite(expected).all()
    assert spec.shape == (1 + len(audio) // 256, 96) and spec.dtype == np.float32
    assert np.array_equal(spec, expected.astype(np.float32))
    n = (spec.shape[0] - 187) // 187 + 1
    assert batch.shape == (n, 187, 96) and batch.dtype == np.float32
    assert np.array_equal(batch[1], expected[187:374].astype(np.float32))
    assert M.patches(spec, hop=100).shape[0] == (spec.shape[0] - 187) // 100 + 1
    assert M.patches(spec[:186]).shape == (0, 187, 96)


def test_n_frames_is_three_seconds():
    import librosa

    assert librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1 == M.N_FRAMES


def test_loud_bins_do_not_overflow():
    # float16 x 10000 would overflow above mel 6.55; musicnn's numpy computed it in float32
    audio = sine(100.0, 4.0) * 3  # loud and low: mel bins well above 6.55
    spec = M.log_mel(audio)
    assert np.isfinite(spec).all() and spec.max() > np.log10(65504 + 1) + 0.1


# ----------------------------------------------------------------- mapping

@pytest.mark.parametrize("name", M.MODELS)
def test_every_tensor_mapped_once(name):
    tensors = pretrained.read_bundle(pretrained.checkpoint_prefix(name))
    table = M.MUSICNN_TABLE if "musicnn" in name else M.VGG_TABLE
    trained = {k for k in tensors if "Adam" not in k and not k.startswith("beta")}
    assert sorted(tf for tf, _, _ in table) == sorted(trained)
    model = M.load(name, tensors)
    state = model.state_dict()
    targets = [pt for _, pt, _ in table]
    assert len(set(targets)) == len(targets)
    assert {k for k in state if not k.endswith("num_batches_tracked")} == set(targets)
    # spot checks of the transposes
    conv, dense = ("conv2d_5", "midend_1") if "musicnn" in name else ("2CNN", "convs.1")
    assert np.array_equal(state[f"{dense}.weight"].numpy(),
                          tensors[f"{conv}/kernel"].transpose(3, 2, 0, 1))
    assert np.array_equal(state["output.weight"].numpy(),
                          tensors["dense_1/kernel" if "musicnn" in name else
                                  "dense/kernel"].T)
    # TF's default epsilon (1e-3); with torch's 1e-5 instead, taggrams move by up to 0.27
    # (measured against TF: tests/test_musicnn_parity.py checks the outputs themselves)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.eps == 1e-3 for m in norms)
    assert len(model.tags) == 50 and model.tags == M.TAGS[name[:3]]


def test_a_missing_or_extra_tensor_is_refused():
    tensors = pretrained.read_bundle(pretrained.checkpoint_prefix("MTT_vgg"))
    with pytest.raises(ValueError, match="missing.*3CNN/bias"):
        M.load("MTT_vgg", {k: v for k, v in tensors.items() if k != "3CNN/bias"})
    with pytest.raises(ValueError, match="unused.*extra"):
        M.load("MTT_vgg", dict(tensors, extra=np.zeros(1, np.float32)))


def test_tags():
    assert len(M.MTT_TAGS) == len(set(M.MTT_TAGS)) == 50
    assert len(M.MSD_TAGS) == len(set(M.MSD_TAGS)) == 50
    assert M.MTT_TAGS[:3] == ("guitar", "classical", "slow") and M.MTT_TAGS[-1] == "choral"
    assert M.MSD_TAGS[:3] == ("rock", "pop", "alternative") and M.MSD_TAGS[-1] == "happy"


def test_shapes(models):
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 3, (2, 187, 96)).astype(
        np.float32))
    with torch.no_grad():
        f = models["MTT_musicnn"].features(x)
        shapes = {k: tuple(v.shape) for k, v in f.items()}
        assert shapes == dict(timbral=(2, 187, 408), temporal=(2, 187, 153),
                              cnn1=(2, 187, 64), cnn2=(2, 187, 64), cnn3=(2, 187, 64),
                              mean_pool=(2, 753), max_pool=(2, 753), penultimate=(2, 200),
                              logits=(2, 50), taggram=(2, 50))
        # musicnn takes any length; 'same' and symmetric pads keep the time axis
        assert models["MSD_musicnn"].features(x[:, :100])["cnn3"].shape == (2, 100, 64)
        v = models["MTT_vgg"].features(x)
        assert [tuple(v[f"pool{i}"].shape[2:]) for i in range(1, 6)] == [
            (92, 48), (46, 24), (23, 12), (11, 6), (2, 1)]
        assert v["taggram"].shape == (2, 50)


@pytest.mark.parametrize("name", ["MTT_musicnn", "MSD_musicnn"])
def test_front_end_blocks_take_the_max_first_with_the_same_values(models, name):
    """At inference each front-end block takes its max over mel before ReLU and batch norm
    (both monotonic per channel; decreasing where the batch norm's scale is negative, as for
    most channels): the values of musicnn's order, conv -> ReLU -> batch norm -> max."""
    import copy

    import torch.nn.functional as F

    model = models[name]
    x = torch.from_numpy(np.random.default_rng(3).uniform(0, 4, (3, 187, 96)).astype(
        np.float32))
    with torch.no_grad():
        h = model.bn_input(x.unsqueeze(1))
        blocks = [(model.timbral_74, model.bn_timbral_74, F.pad(h, (0, 0, 3, 3))),
                  (model.timbral_77, model.bn_timbral_77, F.pad(h, (0, 0, 3, 3)))] + [
            (getattr(model, f"temporal_{k}"), getattr(model, f"bn_temporal_{k}"),
             model._same(h, k)) for k in (128, 64, 32)]
        for conv, bn, inp in blocks:
            assert (bn.weight < 0).any() and (bn.weight > 0).any()  # both directions
            musicnn_order = bn(F.relu(conv(inp))).amax(dim=3)
            ours = model._block(inp, conv, bn)
            assert ours.shape == musicnn_order.shape
            assert (ours - musicnn_order).abs().max() <= 1e-6 * musicnn_order.abs().max()
        # in training mode batch norm normalises with the statistics of the whole
        # (batch, channel, time, mel) tensor: musicnn's order, as written
        training = copy.deepcopy(model).train()
        conv, bn, inp = training.timbral_74, training.bn_timbral_74, blocks[0][2]
        expected = copy.deepcopy(bn)(F.relu(conv(inp))).amax(dim=3)
        assert torch.equal(training._block(inp, conv, bn), expected)


# ----------------------------------------------------------------- musical sense

def top(model, batch, n=5):
    mean = M.taggram(model, batch).mean(axis=0)
    return [model.tags[i] for i in mean.argsort()[-n:][::-1]]


@pytest.mark.parametrize("name", M.MODELS)
def test_confident_and_input_dependent(models, examples, name):
    # a mis-mapped network (wrong transpose, wrong BN epsilon) gives near-0.5 or constant
    # outputs: confident tags on music, different top tags for different music
    model = models[name]
    grams = {ex: M.taggram(model, batch) for ex, batch in examples.items()}
    assert all(np.isfinite(g).all() for g in grams.values())
    peaks = [g.max() for g in grams.values()]
    assert max(peaks) > 0.6 and sum(p > 0.5 for p in peaks) >= 2, peaks
    tops = {ex: tuple(top(model, batch, 3)) for ex, batch in examples.items()}
    assert len(set(tops.values())) >= 3, tops
    means = np.stack([g.mean(axis=0) for g in grams.values()])
    assert means.std(axis=0).max() > 0.1, means.std(axis=0).max()


@pytest.mark.parametrize("name", ["MTT_musicnn", "MTT_vgg"])
def test_mtt_tags_make_sense(models, examples, name):
    # catches what the generic checks above miss: e.g. VGG's 3 x 3 kernels with time and
    # mel swapped give confident, input-dependent, wrong tags (brahms -> techno)
    model = models[name]
    for ex in ("brahms", "nutcracker"):
        assert "classical" in top(model, examples[ex], 3), ex
    assert {"drums", "beat", "beats", "electronic", "techno"} & set(top(model,
                                                                        examples["choice"]))
    assert not {"classical", "violin", "strings"} & set(top(model, examples["choice"]))
    gram = M.taggram(model, M.batch_data(sine())[0])
    vocal = [model.tags.index(t) for t in ("vocal", "vocals", "singing", "voice", "female",
                                           "male", "woman", "man", "choir", "opera")]
    assert gram[:, vocal].max() < 0.5


def test_no_tensorflow_and_no_musicnn_import():
    code = ("import sys, numpy as np, torch; from genre_lab.pretrained import musicnn; "
            "m = musicnn.load('MTT_musicnn'); m(torch.zeros(1, 187, 96)); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in "
            "('tensorflow', 'musicnn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    assert out.strip() == "[]"
