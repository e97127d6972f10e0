"""Benchmark and calibration report of the synthetic mini-GTZAN (genre_lab.data.synth).

    python benchmarks/synth.py                                  # quick profile: 20 x 12 s
    python benchmarks/synth.py --clips-per-genre 100 --seconds 30   # GTZAN's size

Speed: generates the set into a temporary folder on one core and prints the real-time factor
(seconds of audio per second of wall time) overall and, from a second, synthesis-only pass,
per genre; then the size of the files.

Calibration: reads the WAVs back and prints
  * track-level accuracy: MFCC mean+variance -> StandardScaler + LogisticRegression, 5-fold
    StratifiedKFold (one clip = one sample);
  * artist-level accuracy: 4 folds, each holding out one artist of every genre;
  * per-genre means of zero-crossing rate, RMS and spectral centroid, beside the real GTZAN's;
  * how often librosa's tempo estimate lands within 5% of the clip's tempo (or x2, x0.5).
"""

from __future__ import annotations

import os

# One core: keep BLAS/OpenMP pools single-threaded (set before numpy is imported).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from genre_lab import GENRES  # noqa: E402
from genre_lab.config import SAMPLE_RATE  # noqa: E402
from genre_lab.data import synth  # noqa: E402

# Per-genre means of the real GTZAN (the Kaggle features table), for comparison.
REAL = pd.DataFrame(
    {"zcr": [0.079, 0.078, 0.083, 0.129, 0.108, 0.077, 0.147, 0.134, 0.092, 0.109],
     "rms": [0.136, 0.043, 0.126, 0.136, 0.178, 0.087, 0.153, 0.200, 0.123, 0.127],
     "centroid": [1728, 1354, 1896, 2620, 2525, 1792, 2602, 3074, 2185, 2243]},
    index=list(GENRES))


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity here)"


def time_generation(root: Path, args) -> pd.DataFrame:
    audio = len(GENRES) * args.clips_per_genre * args.seconds
    wall, cpu = time.perf_counter(), time.process_time()
    table = synth.generate(root, clips_per_genre=args.clips_per_genre, seconds=args.seconds,
                           seed=args.seed, progress=not args.quiet, n_jobs=1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"\ngenerate(): {len(table)} clips, {audio:.0f} s of audio in {wall:.1f} s wall "
          f"({cpu:.1f} s CPU): real-time factor {audio / wall:.0f}x wall, {audio / cpu:.0f}x CPU")
    print(f"files: {size / 2**20:.1f} MiB in {root}")
    return table


def time_per_genre(args) -> None:
    rows = []
    for genre in GENRES:
        wall, cpu = time.perf_counter(), time.process_time()
        for index in range(args.clips_per_genre):
            synth.render_clip(genre, seed=args.seed, index=index, seconds=args.seconds)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        audio = args.clips_per_genre * args.seconds
        rows.append((genre, audio / wall, audio / cpu, 1e3 * wall / args.clips_per_genre))
    frame = pd.DataFrame(rows, columns=["genre", "rtf_wall", "rtf_cpu", "ms_per_clip"])
    print(f"\nsynthesis only (render_clip), real-time factor per genre, {args.seconds:g} s clips:")
    print(frame.set_index("genre").round(1).to_string())
    total = len(GENRES) * args.clips_per_genre * args.seconds
    print(f"overall {total / (frame.ms_per_clip.sum() * args.clips_per_genre / 1e3):.0f}x; "
          f"slowest: {frame.genre[frame.rtf_wall.idxmin()]} {frame.rtf_wall.min():.0f}x")


def features(root: Path, table: pd.DataFrame, quiet: bool) -> tuple[np.ndarray, pd.DataFrame]:
    import librosa
    import soundfile as sf
    from tqdm.auto import tqdm

    X, rows = [], []
    for row in tqdm(table.itertuples(), total=len(table), desc="features", disable=quiet):
        y, sr = sf.read(str(root / "genres" / row.genre / f"{row.track_id}.wav"),
                        dtype="float32")
        mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
        X.append(np.r_[mfcc.mean(axis=1), mfcc.var(axis=1)])
        drummed = isinstance(row.drums, str) and bool(row.drums)
        estimate = float(librosa.feature.tempo(y=y, sr=sr)[0]) if drummed else np.nan
        rows.append({
            "genre": row.genre, "slot": row.artist_slot, "tempo": row.tempo,
            "estimate": estimate,
            "zcr": float(librosa.feature.zero_crossing_rate(y=y).mean()),
            "rms": float(librosa.feature.rms(y=y).mean()),
            "centroid": float(librosa.feature.spectral_centroid(y=y, sr=sr).mean()),
        })
    return np.array(X), pd.DataFrame(rows)


def calibration(X: np.ndarray, frame: pd.DataFrame) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = frame.genre.map(GENRES.index).to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        track = cross_val_score(model, X, y, cv=StratifiedKFold(n_splits=5))
        shuffled = cross_val_score(model, X, y,
                                   cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0))
        artist = cross_val_score(model, X, y, groups=frame.slot.to_numpy(),
                                 cv=GroupKFold(n_splits=4))
    print("\nMFCC mean+var -> logistic regression (chance 0.10):")
    print(f"  track-level 5-fold StratifiedKFold   {track.mean():.3f} +- {track.std():.3f}"
          f"  (shuffled folds {shuffled.mean():.3f})")
    print(f"  artist-level (one artist per genre held out per fold) {artist.mean():.3f} +- "
          f"{artist.std():.3f}   -> leakage gap {track.mean() - artist.mean():+.3f}")

    means = frame.groupby("genre")[["zcr", "rms", "centroid"]].mean().loc[list(GENRES)]
    ratio = frame.estimate / frame.tempo
    octave = np.min(np.abs(np.log(np.stack([ratio, 2 * ratio, ratio / 2]))), axis=0)
    frame = frame.assign(hit=np.where(frame.estimate.notna(), octave < np.log(1.05), np.nan))
    means["tempo_hit"] = frame.groupby("genre").hit.mean()
    out = means.join(REAL.add_suffix("_gtzan"))[["zcr", "zcr_gtzan", "rms", "rms_gtzan",
                                              "centroid", "centroid_gtzan", "tempo_hit"]]
    print("\nper-genre means (synthetic beside the real GTZAN), sorted by ZCR:")
    print(out.sort_values("zcr", ascending=False).round(3).to_string())
    hits = frame.hit.dropna()
    print(f"\ntempo within 5% (x1, x2 or x0.5) on drummed clips: {hits.mean():.2f} "
          f"({int(hits.sum())}/{len(hits)})")
    checks = {
        "ZCR metal / classical > 1.5": means.zcr["metal"] / means.zcr["classical"],
        "ZCR metal / jazz > 1": means.zcr["metal"] / means.zcr["jazz"],
        "RMS lowest is classical": means.rms.idxmin() == "classical",
        "centroid lowest is classical": means.centroid.idxmin() == "classical",
        "centroid min(pop,disco,metal) / max(blues,jazz,classical) > 1":
            means.centroid[["pop", "disco", "metal"]].min()
            / means.centroid[["blues", "jazz", "classical"]].max(),
    }
    print("\norderings:")
    for name, value in checks.items():
        print(f"  {name}: {value if isinstance(value, bool) else round(float(value), 2)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips-per-genre", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-calibration", action="store_true", help="speed only")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    print(f"synthetic mini-GTZAN: {args.clips_per_genre} clips/genre x {args.seconds:g} s, "
          f"seed {args.seed}, {SAMPLE_RATE} Hz; {pin_one_core()}")
    synth.render_clip("blues", seconds=1.0)  # warm-up (imports, caches)
    with tempfile.TemporaryDirectory(prefix="genre-lab-synth-") as tmp:
        root = Path(tmp)
        table = time_generation(root, args)
        time_per_genre(args)
        if not args.no_calibration:
            X, frame = features(root, table, args.quiet)
            calibration(X, frame)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
