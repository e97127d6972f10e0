"""Throughput of genre_lab.scale.featurize (Ray Data) with 1 and 2 workers, and per clip.

Usage::

    python benchmarks/scale.py                              # 300 synthetic 3-s clips
    python benchmarks/scale.py --clips-per-genre 100 --seconds 3 --musicnn

Clips are generated into a temporary folder (not the store). Ray starts with 1 CPU, then
with 2 (its workers: one task per CPU); a warm-up run starts the worker processes; each
run is timed from the first task to the last Parquet file (Ray's start is printed
apart), once per worker count and ``--repeats`` times; the best run is printed with the
others, as other processes on a shared machine only ever slow a run down. ``in-process``
is the same work without Ray (``segment_features(cache=False)`` with one torch thread),
the per-clip cost Ray adds to. On a shared machine read the figures as upper bounds on cost.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-genre", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tracks-per-task", type=int, default=16)
    parser.add_argument("--musicnn", action="store_true", help="also time the embeddings")
    args = parser.parse_args()

    import torch

    from genre_lab import config, scale
    from genre_lab.data import synth
    from genre_lab.data.gtzan import track_table
    from genre_lab.features.segments import segment_features

    settings = config.get_profile("quick").features
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        t = time.perf_counter()
        synth.generate(work / "clips", clips_per_genre=args.clips_per_genre,
                       seconds=args.seconds, progress=False)
        tracks = track_table(work / "clips")
        print(f"{len(tracks)} clips of {args.seconds:g} s generated in "
              f"{time.perf_counter() - t:.1f} s; features: quick profile "
              f"({settings.n_mels} mels, hop {settings.hop_length})")

        torch.set_num_threads(1)
        t = time.perf_counter()
        n_seg = len(segment_features(tracks, settings, progress=False, cache=False)["logmel"])
        s = time.perf_counter() - t
        print(f"in-process, 1 thread: {s:.2f} s, {len(tracks) / s:.1f} clips/s, "
              f"{n_seg / s:.1f} segments/s, {1000 * s / len(tracks):.1f} ms/clip")

        import ray

        kinds = ["logmel"] + (["musicnn"] if args.musicnn else [])
        for workers in (1, 2):
            t = time.perf_counter()
            scale.start(workers=workers)
            print(f"ray.init (local, {workers} CPUs): {time.perf_counter() - t:.1f} s")
            t = time.perf_counter()  # start the worker processes (imports: torch, librosa)
            for kind in kinds:
                scale.featurize(tracks.head(2 * workers), work / f"warm-up-{workers}{kind}",
                                kind=kind, settings=settings, tracks_per_task=1)
            print(f"warm-up ({workers} workers start): {time.perf_counter() - t:.1f} s")
            for kind in kinds:
                times = []
                for r in range(args.repeats):
                    out = work / f"{kind}-{workers}-{r}"
                    t = time.perf_counter()
                    res = scale.featurize(tracks, out, kind=kind, settings=settings,
                                          tracks_per_task=args.tracks_per_task)
                    times.append(time.perf_counter() - t)
                n = len(scale.read_segments(res.path)["segment"])
                s = min(times)
                print(f"ray {kind}, {workers} worker(s): {s:.2f} s (runs: "
                      f"{', '.join(f'{x:.2f}' for x in times)}), {len(tracks) / s:.1f} clips/s, "
                      f"{n / s:.1f} segments/s, {1000 * s / len(tracks):.1f} ms/clip, "
                      f"skipped {len(res.skipped)}")
            ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
