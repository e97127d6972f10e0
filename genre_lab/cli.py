"""The ``genre-lab`` command line.

::

    genre-lab synth OUT [--clips-per-genre N] [--seconds S] [--seed K]
    genre-lab check ROOT
    genre-lab features ROOT --out FILE.csv [--seconds 3] [--overwrite]
    genre-lab train ROOT --model NAME --out DIR [--epochs N] [--split track|artist|filtered]
                    [--seed K] [--overwrite]
    genre-lab evaluate MODEL ROOT [--tracks auto|test|unseen|all] [--json]
    genre-lab predict MODEL FILE...
    genre-lab tag FILE... [--model MTT_musicnn] [--top 5]

``train --model probe-msd`` (or ``probe-mtt``) fits a linear probe on a pretrained musicnn
(chapter 9); ``evaluate`` and ``predict`` take it like any model.

MODEL is a checkpoint (``genre_lab.checkpoint``): the ``--out`` folder of ``train`` or any
``.pt`` file that a chapter, ``experiment`` or ``compress`` saved.
    genre-lab fetch gtzan --dest DIR [--archive FILE | --url URL] [--sha256 HASH]
    genre-lab fetch splits [--dest DIR]
    genre-lab fetch fma-small --dest DIR | genre-lab fetch fma-metadata --dest DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path


def _synth(args) -> int:
    from .data import synth

    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"{args.out}: exists and is not a folder")

    with _only_writer(args.out, "synth"):  # two runs into one folder would mix their clips
        table = synth.generate(args.out, clips_per_genre=args.clips_per_genre,
                               seconds=args.seconds, seed=args.seed, progress=not args.quiet,
                               overwrite=args.overwrite)
    print(f"wrote {len(table)} clips to {Path(args.out) / 'genres'} "
          f"(metadata: {Path(args.out) / 'metadata.csv'})")
    return 0


def _check(args) -> int:
    from .data.gtzan import GTZANError, scan

    try:
        report = scan(args.root)
    except GTZANError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report.text())
    return 0 if report.ok else 1


def _features(args) -> int:
    from .data import load_tracks
    from .features.table import COLUMNS, feature_table, write_csv

    if args.out.is_dir():
        raise ValueError(f"{args.out}: is a folder; --out takes a file name, e.g. "
                         f"{args.out / 'features_30_sec.csv'}")
    _check_writable(args.out.parent)
    with _only_writer(args.out, "features"):
        if args.out.exists():
            if not args.overwrite:
                raise FileExistsError(f"{args.out}: already exists; choose another --out or "
                                      "add --overwrite")
            if not _is_feature_table(args.out, COLUMNS):  # --overwrite replaces only ours
                raise ValueError(f"{args.out}: not a feature table written by genre-lab (its "
                                 "header differs); not replacing it")
        tracks = load_tracks(args.root, profile="full")  # every clip, whatever the profile
        table = feature_table(tracks, seconds=args.seconds, progress=not args.quiet)
        write_csv(table, args.out)
    print(f"wrote {len(table)} rows x {table.shape[1]} columns to {args.out}")
    return 0


def _is_feature_table(path: Path, columns) -> bool:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = f.readline(100_000).rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return False
    return header == ",".join(columns)


def _check_writable(folder: Path) -> None:
    """Fail now, in one line, where a file could not be written later (after the work)."""
    import tempfile

    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".genre-lab-probe-"):
            pass
    except OSError as err:
        raise OSError(err.errno, f"cannot write there ({err.strerror})", str(folder)) from None


def _train(args) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder (--out takes a folder)")
    _check_writable(out)  # a folder that cannot be written fails now, not after training
    with _only_writer(out, "train"):
        for name, ours in (("model.pt", _is_checkpoint), ("metrics.json", _is_metrics)):
            if (out / name).exists():
                if not args.overwrite:
                    raise FileExistsError(f"{out / name}: already there; choose another --out "
                                          "or add --overwrite")
                if not ours(out / name):  # --overwrite replaces only what train wrote
                    raise ValueError(f"{out / name}: not written by genre-lab train; not "
                                     "replacing it")
        return _train_locked(args, out)


@contextlib.contextmanager
def _only_writer(out: Path, command: str):
    """Hold ``out`` (a folder, or a file's name) for this process: two runs writing there at
    once would replace each other's work without a word."""
    import hashlib

    from filelock import FileLock, Timeout

    from . import config

    # in the cache, not beside the user's files: nothing is left there
    locks = config.cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    lock = FileLock(str(locks / f"{command}-{name}.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ValueError(f"{out}: another genre-lab {command} is writing there; wait for it or "
                         "choose another --out") from None
    try:
        yield
    finally:
        lock.release()


def _is_metrics(path: Path) -> bool:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and {"model", "versions", "data"} <= set(report)


def _is_checkpoint(path: Path) -> bool:
    import torch

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - anything unreadable is not ours to replace
        return False
    return isinstance(raw, dict) and {"spec", "state_dict"} <= set(raw)


def _data_info(args, tracks, profile) -> dict:
    """What evaluate needs to know which tracks a model saw, and in which role."""
    from .inference import track_digests

    sides = {side: [str(t) for t in tracks.track_id[tracks.split == side]]
             for side in ("train", "val", "test")}
    return dict(root=str(args.root), source=tracks.attrs.get("source"), profile=profile.name,
                split=args.split, seed=args.seed, test_tracks=sides["test"],
                train_tracks=sides["train"], val_tracks=sides["val"],
                track_sha256=track_digests(tracks))


def _save(save, path: Path, name: str) -> Path:
    """``save(path)``; when the disk is full (or the folder went away), the trained model goes
    to the temporary folder instead, and the one-line error says where."""
    import tempfile
    import time

    try:
        return save(path)
    except OSError as err:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        spare = Path(tempfile.gettempdir()) / f"genre-lab-{name}-{stamp}.pt"
        try:
            save(spare)
        except OSError:
            why = "the trained model could not be saved anywhere"
        else:
            why = f"the trained model was saved to {spare} instead"
        raise OSError(err.errno, f"{err.strerror or err}; {why}", str(path)) from None


def _write_json(path: Path, report: dict) -> None:
    from . import store

    text = json.dumps(report, indent=2, allow_nan=False)  # NaN is not JSON
    store.atomic_write(path, lambda f: f.write(text.encode()))


def _train_locked(args, out: Path) -> int:
    from . import checkpoint, config, dataset, experiment, models
    from .catalog import PROBES
    from .data import load_tracks

    profile = config.get_profile(args.profile)
    tracks = load_tracks(args.root, profile=profile.name)
    if args.model in PROBES:
        tracks = (tracks.assign(split="train") if args.split == "all" else dataset.split_tracks(
            tracks, args.split, seed=args.seed, split_folder=args.split_folder))
        return _train_probe(args, out, tracks, profile)
    if args.split == "all":
        raise ValueError("--split all (no test tracks) is for probes only: a network needs "
                         "validation tracks for early stopping")
    data = dataset.prepare(tracks, split=args.split, seed=args.seed, profile=profile,
                           split_folder=args.split_folder, progress=not args.quiet)
    given = dict(epochs=args.epochs, lr=args.lr, patience=args.patience)
    cfg = experiment.recipe(args.model, profile, seed=args.seed, batch_size=args.batch_size,
                            **{k: v for k, v in given.items() if v is not None})
    run = experiment.train_model(args.model, data, cfg, cache=False, progress=not args.quiet)
    info = dict(data=_data_info(args, data.tracks, profile),
                test={k: run.result[k] for k in ("segment_accuracy", "track_accuracy",
                                                 "track_accuracy_vote", "n_tracks")})
    saved = _save(lambda path: checkpoint.save(run.model, path, settings=data.settings,
                                               history=run.history, train_config=cfg,
                                               info=info), out / "model.pt", args.model)
    # A readable copy of what the checkpoint says; evaluate and predict read the checkpoint.
    report = dict(model=run.model.spec(), features=data.settings.as_dict(),
                  config=cfg.__dict__, history=run.history.as_dict(),
                  parameters=models.count_parameters(run.model), versions=_versions(), **info)
    _write_json(out / "metrics.json", report)
    print(f"{args.model}: {models.count_parameters(run.model):,} parameters, "
          f"{run.history.seconds:.0f} s, best epoch {run.history.best_epoch + 1}")
    print(f"test ({run.result['n_tracks']} tracks): segment accuracy "
          f"{run.result['segment_accuracy']:.3f}, track accuracy "
          f"{run.result['track_accuracy']:.3f}")
    print(f"saved to {saved}")
    return 0


def _versions() -> dict:
    import librosa
    import numpy as np
    import sklearn
    import torch

    from . import __version__

    return dict(genre_lab=__version__, torch=torch.__version__, librosa=librosa.__version__,
                sklearn=sklearn.__version__, numpy=np.__version__)


def _train_probe(args, out: Path, tracks, profile) -> int:
    from . import checkpoint, models
    from .catalog import PROBES
    from .pretrained import transfer

    if args.split != "all" and not (tracks.split == "test").any():
        raise ValueError("the split left no test tracks (too few tracks?); --split all "
                         "trains on every track")
    run = transfer.train_probe(tracks, PROBES[args.model], seed=args.seed,
                               progress=not args.quiet)
    test = tracks[tracks.split == "test"]
    result = {k: run.result[k] for k in ("segment_accuracy", "track_accuracy",
                                         "track_accuracy_vote", "n_tracks")} if len(test) else {}
    info = dict(data=_data_info(args, tracks, profile), test=result)
    config = dict(C=run.C, cross_validation={str(c): v for c, v in run.validation.items()},
                  classifier="StandardScaler + LogisticRegression (scikit-learn)")
    saved = _save(lambda path: checkpoint.save(run.probe, path, settings=transfer.SETTINGS,
                                               train_config=config, info=info),
                  out / "model.pt", args.model)
    report = dict(model=run.probe.spec(), features=transfer.SETTINGS.as_dict(), config=config,
                  parameters=dict(trained=models.count_parameters(run.probe),
                                  frozen=sum(p.numel() for p in run.probe.backbone.parameters())),
                  versions=_versions(), **info)
    _write_json(out / "metrics.json", report)
    print(f"{args.model}: a linear probe on {run.probe.backbone.model_name}'s "
          f"{run.probe.layer} layer, C={run.C:g} (cross-validated track accuracy "
          f"{run.validation[run.C]['track_accuracy']:.3f})" if run.validation else
          f"{args.model}: a linear probe on {run.probe.backbone.model_name}'s "
          f"{run.probe.layer} layer, C={run.C:g}")
    if len(test):
        print(f"test ({result['n_tracks']} tracks): segment accuracy "
              f"{result['segment_accuracy']:.3f}, track accuracy "
              f"{result['track_accuracy']:.3f}")
    else:
        print("no test tracks (--split all): evaluate it on other tracks with "
              "`genre-lab evaluate`")
    print(f"saved to {saved}")
    return 0


def _evaluate(args) -> int:
    from . import checkpoint
    from .inference import evaluate_folder

    saved = checkpoint.load(args.model_dir)
    result = evaluate_folder(saved, args.root, tracks=args.tracks, progress=not args.json)
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        print(f"{result['model']} on {result['n_tracks']} tracks: {result['scope']}")
        print(f"  segment accuracy {result['segment_accuracy']:.3f}")
        print(f"  track accuracy   {result['track_accuracy']:.3f} (mean of logits), "
              f"{result['track_accuracy_vote']:.3f} (majority vote)")
    return 0


def _predict(args) -> int:
    from . import audio, checkpoint
    from .inference import predict_file

    saved = checkpoint.load(args.model_dir)
    saved.check_inputs()
    failed = 0
    for file in args.files:
        try:
            top = predict_file(saved, file, top=args.top)
        except (audio.AudioError, FileNotFoundError) as err:
            print(f"error: {err}", file=sys.stderr)  # the message names the file
            failed += 1
            continue
        if args.json:
            print(json.dumps(dict(file=str(file), top=[dict(genre=g, probability=p)
                                                       for g, p in top])))
        else:
            print(f"{file}: " + ", ".join(f"{g} {p:.2f}" for g, p in top))
    if failed:
        print(f"{failed} of {len(args.files)} file(s) could not be read", file=sys.stderr)
    return 1 if failed else 0


def _tag(args) -> int:
    from . import audio
    from .pretrained.transfer import load_model, tag_file

    model = load_model(args.model)
    failed = 0
    for file in args.files:
        try:
            top = tag_file(file, model, top=args.top)
        except (audio.AudioError, FileNotFoundError) as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps(dict(file=str(file), model=args.model,
                                  top=[dict(tag=t, probability=p) for t, p in top])))
        else:
            print(f"{file}: " + ", ".join(f"{t} {p:.2f}" for t, p in top))
    if failed:
        print(f"{failed} of {len(args.files)} file(s) could not be read", file=sys.stderr)
    return 1 if failed else 0


def _fetch(args) -> int:
    from .data import fetch, gtzan

    progress = not args.quiet
    if args.what.startswith("fma-"):
        if args.dest is None:
            raise ValueError(f"fetch {args.what} needs --dest DIR")
        if args.archive or args.url or args.sha256:
            raise ValueError("--archive, --url and --sha256 are for gtzan")
        part = args.what.removeprefix("fma-")
        root = fetch.fetch_fma(args.dest, part, progressbar=progress)
        if part == "metadata":
            print(f"FMA metadata in {root / 'fma_metadata'}")
        else:
            print(f"FMA {part} in {root / f'fma_{part}'}; its clips are checked when loaded:\n"
                  f"  from genre_lab.data import fma\n"
                  f"  tracks = fma.load_tracks({str(root)!r}, {part!r})")
        return 0
    if args.what == "splits":
        folder = fetch.fetch_splits(args.dest, progressbar=progress)
        print(f"fault-filtered split lists (Kereliuk et al. 2015) in {folder}")
        return 0
    if args.dest is None:
        raise ValueError("fetch gtzan needs --dest DIR")
    try:
        root = fetch.fetch_gtzan(args.dest, archive=args.archive, url=args.url,
                                 sha256=args.sha256, progressbar=progress)
    except fetch.FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(gtzan.scan(root).text())
    print(f"\nTo use it:\n  export GENRE_LAB_DATA={root}")
    return 0


def _positive(kind, most):
    """An argparse type: a finite number of ``kind`` greater than zero and at most ``most``
    (every input has a bound: a typo must not start a job that never ends)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        if not value <= most:  # NaN and inf too
            raise argparse.ArgumentTypeError(f"must be at most {most:g}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value < 2**32:  # NumPy's seeds
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**32 - 1, got {text}")
    return value


# Bounds of the numbers the commands take, far beyond what the course uses.
MAX_CLIPS_PER_GENRE = 10_000   # GTZAN has 100; as synth.MAX_CLIPS_PER_GENRE (a test checks)
MAX_SECONDS = 600.0            # GTZAN's clips are 30 s; as synth.MAX_SECONDS
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_LEARNING_RATE = 10.0       # Adam's usual rates are 1e-4 to 1e-2
MAX_TOP = 1_000


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and the tests)."""
    parser = argparse.ArgumentParser(
        prog="genre-lab",
        description="Tools of the genre-lab course on music genre classification.")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="generate the synthetic mini-GTZAN in GTZAN's layout")
    p.add_argument("out", type=Path, help="output folder (gets genres/<genre>/*.wav)")
    p.add_argument("--clips-per-genre", type=_positive(int, MAX_CLIPS_PER_GENRE), default=100,
                   metavar="N")
    p.add_argument("--seconds", type=_positive(float, MAX_SECONDS), default=30.0, metavar="S",
                   help="clip length")
    p.add_argument("--seed", type=_seed, default=0, metavar="K")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files an earlier genre-lab synth run wrote in OUT (listed "
                        "in OUT/.genre-lab-synth.json); other audio is always refused")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_synth)

    p = sub.add_parser("check", help="validate a GTZAN folder; exit 1 if any file is bad")
    p.add_argument("root", type=Path, help="GTZAN folder (original or Kaggle layout)")
    p.set_defaults(func=_check)

    p = sub.add_parser("features", help="write the Kaggle feature table (features_30_sec.csv)")
    p.add_argument("root", type=Path, help="GTZAN folder")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.csv")
    p.add_argument("--seconds", type=_positive(float, MAX_SECONDS), default=None,
                   help="slice length (3 writes the features_3_sec.csv variant)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a feature table already at FILE.csv")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_features)

    from .catalog import MODEL_NAMES, PROBES

    p = sub.add_parser("train", help="train a model; writes model.pt and metrics.json")
    p.add_argument("root", type=Path, help="GTZAN folder (or a synthetic one)")
    p.add_argument("--model", required=True, choices=MODEL_NAMES + tuple(PROBES),
                   help="a network trained from scratch, or probe-msd / probe-mtt: a linear "
                        "probe on musicnn pretrained on the Million Song Dataset / "
                        "MagnaTagATune (needs the musicnn wheel; see chapter 9)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--epochs", type=_positive(int, MAX_EPOCHS), default=None,
                   help="default: the model's recipe for the profile (genre_lab.experiment)")
    p.add_argument("--split", default="track", choices=["track", "artist", "filtered", "all"],
                   help="all (probes only): train on every track, keep none for testing")
    p.add_argument("--split-folder", type=Path, default=None,
                   help="folder with the filtered split lists (default: fetched ones)")
    p.add_argument("--seed", type=_seed, default=0, metavar="K")
    p.add_argument("--batch-size", type=_positive(int, MAX_BATCH_SIZE), default=32)
    p.add_argument("--lr", type=_positive(float, MAX_LEARNING_RATE), default=None,
                   help="default: the model's recipe (1e-3 for most)")
    p.add_argument("--patience", type=_positive(int, MAX_EPOCHS), default=None,
                   help="early stopping patience (default: the model's recipe)")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in DIR")
    p.add_argument("--profile", default=None, choices=["quick", "standard", "full"],
                   help="default: GENRE_LAB_PROFILE or quick")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="evaluate a trained model on a GTZAN folder")
    p.add_argument("model_dir", type=Path, metavar="MODEL",
                   help="a checkpoint file, or a folder holding model.pt")
    p.add_argument("root", type=Path, metavar="ROOT")
    p.add_argument("--tracks", default="auto", choices=["auto", "test", "unseen", "all"],
                   help="which tracks of ROOT to score: the model's test tracks, tracks it "
                        "never saw, or all (auto: test tracks if any are in ROOT, else unseen "
                        "ones)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=_evaluate)

    from .data.fetch import FMA, FMA_SIZES

    large = "\n".join(f"  fma_{k}.zip ({FMA_SIZES[k]}): {e.urls[0]}\n    sha1 {e.sha256}"
                      for k, e in FMA.items() if k not in ("metadata", "small"))
    p = sub.add_parser(
        "fetch", help="download and verify GTZAN, the filtered split lists, or FMA small",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"fma-small gets fma_metadata.zip ({FMA_SIZES['metadata']}) and "
                    f"fma_small.zip ({FMA_SIZES['small']}: 8,000 30-s clips, 8 genres)\n"
                    "into DIR/fma_metadata and DIR/fma_small. "
                    "The larger FMA subsets are not fetched here;\nget them with a download "
                    "manager, check the sha1, unzip into DIR\n(then fma.load_tracks(DIR, 'medium') "
                    "etc. reads them):\n" + large)
    p.add_argument("what", choices=["gtzan", "splits", "fma-small", "fma-metadata"])
    p.add_argument("--dest", type=Path, default=None, metavar="DIR",
                   help="target folder (splits: default the cache folder)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--archive", type=Path, default=None, metavar="FILE",
                        help="a GTZAN archive already on disk (.tar.gz or Kaggle's .zip)")
    source.add_argument("--url", default=None, help="a mirror of genres.tar.gz")
    p.add_argument("--sha256", default=None, help="expected hash of --archive or --url")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_fetch)

    p = sub.add_parser("predict", help="top genres of audio files, any length/rate/channels")
    p.add_argument("model_dir", type=Path, metavar="MODEL",
                   help="a checkpoint file, or a folder holding model.pt")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--top", type=_positive(int, MAX_TOP), default=3)
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_predict)

    from .pretrained import CHECKPOINTS

    p = sub.add_parser("tag", help="top tags of audio files with a pretrained musicnn")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--model", default="MTT_musicnn", choices=CHECKPOINTS,
                   help="MTT: 50 MagnaTagATune tags; MSD: 50 Million Song Dataset tags")
    p.add_argument("--top", type=_positive(int, MAX_TOP), default=5)
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_tag)
    return parser


def _message(err: BaseException) -> str:
    # One line: an OSError names its file; multi-line messages are joined.
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.filename}: {err.strerror}"
    else:
        text = str(err) or type(err).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def main(argv=None) -> int:
    """Entry point of the ``genre-lab`` console script: every expected error (bad input, a
    missing or damaged file, no network) is one line on stderr and exit status 2; with
    ``--debug`` the traceback is shown instead."""
    from .data.fetch import FetchError
    from .data.gtzan import GTZANError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, GTZANError, FetchError) as err:  # AudioError, CheckpointError
        if args.debug:                                              # are ValueErrors
            raise
        print(f"error: {_message(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
