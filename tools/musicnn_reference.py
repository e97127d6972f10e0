"""Reference outputs of the ORIGINAL musicnn (TensorFlow) for ``tests/test_musicnn_parity.py``.

Writes ``tests/data/musicnn_reference.npz`` (< 1 MB) and ``tests/data/musicnn_reference.json``
(provenance and the measured front-end differences). The project never imports TensorFlow or
musicnn; this script is the only place that runs them, once, by hand, in a throwaway venv.

What is computed, for the four models of musicnn 0.1.0 (MTT_musicnn, MSD_musicnn, MTT_vgg,
MSD_vgg), with musicnn's own ``models.py`` / ``extractor.py`` from the 0.1.0 sdist:

* **Network parity.** Inputs: float16 mel patches (187 x 96, as musicnn stores them) cut from
  a few of librosa's example recordings by the port's front end (``genre_lab`` stage, below);
  the TF graph gets ``np.log10(10000 * mel + 1)`` evaluated by numpy 1.x, i.e. musicnn's own
  expression, so that the network comparison does not depend on the audio pipeline. Stored:
  the inputs, the TF taggram and logits, and for musicnn ``penultimate``, ``mean_pool`` and
  ``max_pool``; for VGG ``pool5``.
* **musicnn's log compression**, ``np.log10(10000 * x + 1)`` under numpy 1.x, for every
  non-negative finite float16 ``x`` (31744 values): the whole function, for the front-end test.
* **End to end.** For each recording (the whole file), musicnn's ``extractor.batch_data``
  and the TF graph, mean taggram over the 3-s patches, two ways: ``release``, with the STFT
  centring pad that librosa used by default when musicnn was released and trained
  (``'reflect'``, librosa < 0.10), and ``shipped``, the code exactly as shipped under this
  librosa (0.11: ``'constant'``). The port's defaults correspond to ``release``.
* Checks recorded in the JSON: the graph built here equals ``extractor.extractor()`` run as
  shipped (same taggram and features), and the original front end against the port's
  ``log_mel`` (max abs difference, per pad mode).

Two stages, because the project's venv (numpy 2, torch) cannot hold TensorFlow 1-style code
and musicnn's pins (numpy < 1.17):

1. ``inputs`` (project venv): the port's front end -> a temporary ``.npz``;
2. ``tf`` (TF venv): the original graph -> the reference files.

``all`` (the default) runs 1 here and 2 in the TF venv as a subprocess.

The TF venv (CPU only; TF 2.15 still has ``tf.compat.v1``, which musicnn's code uses as is)::

    python3.11 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install "tensorflow-cpu==2.15.1" "numpy<2" "librosa==0.11.0"
    # musicnn's sources and checkpoints: the sdist, never pip-installed (its pins are old)
    /tmp/tfenv/bin/pip download --no-deps --no-binary :all: musicnn==0.1.0 -d /tmp/sdist
    mkdir -p /tmp/musicnn-src && tar xzf /tmp/sdist/musicnn-0.1.0.tar.gz -C /tmp/musicnn-src

The command (from the repository root, with the shared data folder beside it)::

    PYTHONPATH=. .venv/bin/python tools/musicnn_reference.py \\
        --tf-python /tmp/tfenv/bin/python --musicnn-src /tmp/musicnn-src/musicnn-0.1.0

What of musicnn is changed: nothing in its files. ``models.py`` and ``extractor.py`` are
imported from the sdist unmodified (TF 2.15 runs them: they call ``tf.compat.v1`` and
``extractor`` disables eager execution itself). This script rebuilds the ~10 lines of
``extractor.extractor()`` that make the graph and session, to fetch the logits and to restore
without its bare ``except:`` (which would hide a failed restore); the ``release`` front end
calls ``extractor.batch_data`` with ``librosa.feature.melspectrogram`` wrapped to default to
``pad_mode='reflect'``. TF runs on one thread, batch size 1 as ``configuration.BATCH_SIZE``.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "musicnn_reference.npz"
SHARED = Path(os.environ.get("GENRE_LAB_SHARED_DATA", ROOT.parent / "shared" / "data"))
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")
#: librosa's example recordings (``librosa.ex(name)``), as in tests/test_musicnn.py.
RECORDINGS = {
    "brahms": "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg",
    "nutcracker": "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg",
    "choice": "admiralbob77_-_Choice_-_Drum-bass.ogg",
    "vibeace": "Kevin_MacLeod_-_Vibe_Ace.ogg",
    "trumpet": "sorohanro_-_solo-trumpet-06.ogg",
}
N_FRAMES = 187
N_MELS = 96


def _versions(*names: str) -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _patch_starts(n_frames: int) -> list[int]:
    """First, middle and last non-overlapping 187-frame patch (fewer if the clip is short)."""
    n = (n_frames - N_FRAMES) // N_FRAMES + 1
    return sorted({0, n // 2, n - 1}) if n > 0 else []


# --------------------------------------------------------------------------- stage 1

def make_inputs(path: Path) -> None:
    """Project venv: the port's front end on each recording -> float16 mel patches, and the
    port's whole log-mel spectrograms for the TF stage's front-end comparison."""
    import librosa

    from genre_lab.pretrained import musicnn as M

    out, names, files, rec, idx, mels = {}, [], [], [], [], []
    for r, (name, file) in enumerate(RECORDINGS.items()):
        audio = M.load_audio(SHARED / "librosa" / file)
        mel16 = librosa.feature.melspectrogram(
            y=audio, sr=M.SR, hop_length=M.FFT_HOP, n_fft=M.FFT_SIZE, n_mels=M.N_MELS,
            pad_mode="reflect").T.astype(np.float16)
        spec = M.log_mel(audio)
        # the stored float16 mel is exactly what the port's front end compresses
        assert np.array_equal(M.log_compress(mel16), spec), name
        for start in _patch_starts(len(mel16)):
            mels.append(mel16[start:start + N_FRAMES])
            rec.append(r)
            idx.append(start // N_FRAMES)
        names.append(name)
        files.append(file)
        out[f"spec.{name}"] = spec
    out.update(names=np.array(names), files=np.array(files), mel=np.stack(mels),
               patch_recording=np.array(rec), patch_index=np.array(idx),
               versions=np.array(json.dumps(_versions("numpy", "librosa", "soxr",
                                                      "soundfile", "torch"))))
    np.savez(path, **out)
    print(f"inputs: {len(mels)} patches of {len(names)} recordings -> {path}")


# --------------------------------------------------------------------------- stage 2

def run_tf(inputs: Path, musicnn_src: Path, out_path: Path, command: str,
           sdist: Path | None = None) -> None:
    """TF venv: musicnn's original graph on the inputs -> the reference npz and JSON."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(musicnn_src))
    import librosa
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import extractor, models

    assert Path(extractor.__file__).is_relative_to(musicnn_src), extractor.__file__
    tf1 = tf.compat.v1
    data = np.load(inputs)
    names, files = [str(n) for n in data["names"]], [str(f) for f in data["files"]]
    mel16 = data["mel"]
    # musicnn's own expression under numpy 1.x (float16 array * int -> float32)
    x = np.log10(10000 * mel16 + 1)
    assert x.dtype == np.float32 and np.isfinite(x).all()
    n_frames = librosa.time_to_frames(3, sr=config.SR, n_fft=config.FFT_SIZE,
                                      hop_length=config.FFT_HOP) + 1
    assert n_frames == N_FRAMES

    def build(model):
        # extractor.extractor(), lines "tensorflow: define the model" and "loading model"
        tf1.reset_default_graph()
        with tf.name_scope("model"):
            xp = tf1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
            is_training = tf1.placeholder(tf.bool)
            outs = models.define_model(xp, is_training, model, 50)
            normalized_y = tf.nn.sigmoid(outs[0])
        sess = tf1.Session(config=tf1.ConfigProto(intra_op_parallelism_threads=1,
                                                  inter_op_parallelism_threads=1))
        sess.run(tf1.global_variables_initializer())
        tf1.train.Saver().restore(sess, str(musicnn_src / "musicnn" / model) + "/")
        if "vgg" in model:
            fetch = dict(taggram=normalized_y, logits=outs[0], pool5=outs[5])
        else:
            fetch = dict(taggram=normalized_y, logits=outs[0], mean_pool=outs[6],
                         max_pool=outs[7], penultimate=outs[8])

        def run(batch):
            rows = [sess.run(fetch, {xp: batch[i:i + config.BATCH_SIZE], is_training: False})
                    for i in range(len(batch))]
            return {k: np.concatenate([r[k] for r in rows]) for k in fetch}

        return sess, run

    melspectrogram = librosa.feature.melspectrogram

    def batch_data(file, pad):
        """musicnn's extractor.batch_data, as shipped (pad None) or with librosa's old
        default centring pad."""
        if pad is not None:
            librosa.feature.melspectrogram = lambda **kw: melspectrogram(pad_mode=pad, **kw)
        try:
            return extractor.batch_data(str(SHARED / "librosa" / file), n_frames, n_frames)
        finally:
            librosa.feature.melspectrogram = melspectrogram

    out = dict(names=data["names"], files=data["files"], mel=mel16,
               patch_recording=data["patch_recording"], patch_index=data["patch_index"],
               models=np.array(MODELS))
    # musicnn's log compression over every non-negative finite float16 value
    every = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16)
    out["logc_table"] = np.log10(10000 * every + 1)
    assert out["logc_table"].dtype == np.float32

    front = {}
    batches = {}
    for name, file in zip(names, files, strict=True):
        port = data[f"spec.{name}"]
        for pad, label in ((None, "shipped"), ("reflect", "release")):
            batch, spec = batch_data(file, pad)
            assert spec.dtype == np.float32 and np.isfinite(spec).all()
            batches[name, label] = batch
            diff = np.abs(spec - port) if spec.shape == port.shape else None
            front[f"{name}/{label}"] = dict(
                frames=int(len(spec)), max_value=float(spec.max()),
                max_abs_diff_to_port=None if diff is None else float(diff.max()),
                frames_differing=None if diff is None else int((diff.max(1) > 0).sum()))

    checks, e2e_counts = {}, {}
    for model in MODELS:
        # extractor.extractor() as shipped, on one recording, to check the graph built here
        check = names[2]
        shipped = extractor.extractor(str(SHARED / "librosa" / files[2]), model)
        sess, run = build(model)
        for key, value in run(x).items():
            out[f"{model}.{key}"] = value
        for name in names:
            for label in ("release", "shipped"):
                batch = batches[name, label]
                out[f"e2e.{model}.{label}.{name}"] = run(batch)["taggram"].mean(axis=0)
                e2e_counts[name] = len(batch)
        taggram, _, features = shipped
        mine = run(batches[check, "shipped"])
        keys = ["pool5"] if "vgg" in model else ["mean_pool", "max_pool", "penultimate"]
        checks[model] = dict(recording=check,
                             taggram=float(np.abs(taggram - mine["taggram"]).max()))
        for k in keys:
            theirs = features[k].reshape(mine[k].shape)
            # extractor.extractor() (0.1.0) returns the first patch's cnn1-3 and penultimate
            # for every patch (its loop concatenates stale variables): compare patch 0 only
            rows = slice(0, 1) if k == "penultimate" else slice(None)
            checks[model][k] = float(np.abs(theirs[rows] - mine[k][rows]).max())
        sess.close()

    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **out)
    provenance = dict(
        what="musicnn 0.1.0 (original TF graph) reference outputs for genre_lab's port",
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        command=command,
        tf_versions=_versions("tensorflow-cpu", "tensorflow", "keras", "numpy", "librosa",
                              "soxr", "soundfile"),
        inputs_versions=json.loads(str(data["versions"])),
        platform=platform.platform(),
        tf_threads=1, tf_batch_size=config.BATCH_SIZE,
        tf_enable_onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (TF default: on)"),
        musicnn_src=str(musicnn_src),
        sdist_sha256=_sha256(sdist) if sdist and sdist.is_file() else None,
        source_sha256={f: _sha256(musicnn_src / "musicnn" / f)
                       for f in ("models.py", "extractor.py", "configuration.py")},
        checkpoint_sha256={m: _sha256(musicnn_src / "musicnn" / m / ".data-00000-of-00001")
                           for m in MODELS},
        shims=["none in musicnn's files: models.py and extractor.py imported unmodified",
               "graph and session built as in extractor.extractor() (logits fetched too; "
               "Saver.restore without its bare except)",
               "'release' front end: extractor.batch_data with librosa.feature.melspectrogram "
               "defaulting to pad_mode='reflect' (librosa < 0.10's default)"],
        recordings=dict(zip(names, files, strict=True)), e2e_patches=e2e_counts,
        inputs="float16 mel patches from genre_lab's front end (reflect pad); TF input = "
               "np.log10(10000 * mel + 1) under numpy 1.x (float32)",
        extractor_vs_this_graph_max_abs_diff=checks,
        extractor_bug="extractor.extractor() 0.1.0 returns, for every patch after the first, "
                      "the first patch's cnn1, cnn2, cnn3 and penultimate (stale variables in "
                      "its batch loop); taggram, mean_pool and max_pool are right",
        front_end_vs_port_log_mel=front,
    )
    out_path.with_suffix(".json").write_text(json.dumps(provenance, indent=1) + "\n")
    print(f"tf: wrote {out_path} ({out_path.stat().st_size} bytes) and its .json")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", nargs="?", default="all", choices=("all", "inputs", "tf"))
    parser.add_argument("--tf-python", default="/tmp/tfenv/bin/python")
    parser.add_argument("--musicnn-src", type=Path, default=Path("/tmp/musicnn-src/musicnn-0.1.0"))
    parser.add_argument("--inputs", type=Path, default=Path("/tmp/musicnn_reference_inputs.npz"))
    parser.add_argument("--sdist", type=Path, default=Path("/tmp/sdist/musicnn-0.1.0.tar.gz"),
                        help="only hashed, for the provenance")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--command", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    command = args.command or " ".join([Path(sys.executable).name, *sys.argv])
    if args.stage in ("all", "inputs"):
        make_inputs(args.inputs)
    if args.stage == "tf":
        run_tf(args.inputs, args.musicnn_src.resolve(), args.out, command, args.sdist)
    elif args.stage == "all":
        subprocess.run([args.tf_python, __file__, "tf", "--musicnn-src", str(args.musicnn_src),
                        "--inputs", str(args.inputs), "--out", str(args.out),
                        "--sdist", str(args.sdist), "--command", command], check=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))


if __name__ == "__main__":
    main()
