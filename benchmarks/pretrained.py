"""musicnn on CPU: seconds per track and x real time, per stage and end to end, of ``embed``.

Usage::

    python benchmarks/pretrained.py                              # quick profile (200 x 12 s)
    python benchmarks/pretrained.py --root ../shared/data/gtzan-sample   # 50 real 30-s clips
    python benchmarks/pretrained.py --threads 1 2 --model MSD_vgg
    python benchmarks/pretrained.py --batch 1 2 8 32      # segments per forward pass
    python benchmarks/pretrained.py --repeat 3            # best of 3 end-to-end runs

Stages, per clip: decode and resample to 16 kHz (``audio.load``), musicnn's log-mel of each
one-patch segment (librosa), the network over the segments in batches (torch, every layer
``embed`` keeps). End to end: ``embed`` on an empty cache (all of the above, plus saving),
best of ``--repeat`` runs, and once more on a full cache (a hit). Each thread count runs in
this process with ``torch.set_num_threads``; each batch size sets ``embed``'s
(``embedding._NETWORK_BATCH``). Results are in ``benchmarks/pretrained.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="a GTZAN folder (default: synthetic)")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--model", default="MSD_musicnn")
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    parser.add_argument("--batch", type=int, nargs="+", default=None,
                        help="segments per forward pass (default: embed's)")
    parser.add_argument("--repeat", type=int, default=1, help="end-to-end runs (best kept)")
    parser.add_argument("--no-stages", action="store_true", help="end to end only")
    args = parser.parse_args()
    os.environ["GENRE_LAB_CACHE"] = tempfile.mkdtemp(prefix="bench-pretrained-")

    from genre_lab import audio
    from genre_lab.data import load_tracks
    from genre_lab.pretrained import embedding, musicnn

    tracks = load_tracks(args.root, profile=args.profile, progress=False)
    model = embedding.load_model(args.model)
    seconds = float(tracks.duration.sum())
    n = len(tracks)
    print(f"{args.model} on {n} clips ({seconds / 60:.1f} min of audio, "
          f"{tracks.attrs['source']}); torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")

    def rate(total: float) -> str:
        return f"{total / n:.3f} s per track, {seconds / total:.0f}x real time"

    layers = embedding.LAYERS["musicnn" if args.model.endswith("musicnn") else "vgg"]
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batch or [embedding._NETWORK_BATCH]:
            embedding._NETWORK_BATCH = batch
            if not args.no_stages:
                times = dict(decode=0.0, frontend=0.0, network=0.0)
                n_segments = 0
                for path in tracks.path:
                    t = time.perf_counter()
                    y = audio.load(path, sr=musicnn.SR)
                    t1 = time.perf_counter()
                    patches = embedding.segment_patches(y)
                    t2 = time.perf_counter()
                    embedding._vectors(model, patches, layers)
                    t3 = time.perf_counter()
                    times["decode"] += t1 - t
                    times["frontend"] += t2 - t1
                    times["network"] += t3 - t2
                    n_segments += len(patches)
                print(f"{threads} thread(s), batch {batch}, stages: "
                      f"{rate(sum(times.values()))}; "
                      + ", ".join(f"{k} {v / n_segments * 1000:.1f} ms"
                                  for k, v in times.items()) + " per segment")
            best = min(_embed_seconds(embedding, tracks, model) for _ in range(args.repeat))
            print(f"{threads} thread(s), batch {batch}, embed end to end (empty cache, best of "
                  f"{args.repeat}): {rate(best)}; load average {os.getloadavg()[0]:.2f}")
    t = time.perf_counter()
    vectors = embedding.embed(tracks, model, progress=False)
    loaded = time.perf_counter() - t
    size = sum(v.X.nbytes for v in vectors.values()) / 2**20
    print(f"embed, cache hit: {loaded:.2f} s ({size:.1f} MB of vectors)")
    assert np.isfinite(vectors[layers[0]].X).all()


def _embed_seconds(embedding, tracks, model) -> float:
    """Seconds of one ``embed`` on an empty cache (a fresh cache folder each time)."""
    os.environ["GENRE_LAB_CACHE"] = tempfile.mkdtemp(prefix="bench-pretrained-")
    t = time.perf_counter()
    embedding.embed(tracks, model, progress=False)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
