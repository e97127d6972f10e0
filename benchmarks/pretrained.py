"""musicnn on CPU: clips per second through each stage of ``genre_lab.pretrained.transfer.embed``.

Usage::

    python benchmarks/pretrained.py                              # quick profile (200 x 12 s)
    python benchmarks/pretrained.py --root ../shared/data/gtzan-sample   # 50 real 30-s clips
    python benchmarks/pretrained.py --threads 1 2 --model MSD_vgg
    python benchmarks/pretrained.py --batch 1 2 8 32      # segments per forward pass

Stages, per clip: decode and resample to 16 kHz (``audio.load``), musicnn's log-mel of each
one-patch segment (librosa), the network over the segments in batches (torch, every layer
``embed`` keeps), and, for the whole set, ``embed`` on an empty cache (compute + save) and
again (a cache hit). Each thread count runs in this process with ``torch.set_num_threads``.
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
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, nargs="+", default=None,
                        help="segments per forward pass (default: embed's)")
    args = parser.parse_args()
    os.environ["GENRE_LAB_CACHE"] = tempfile.mkdtemp(prefix="bench-pretrained-")

    from genre_lab import audio
    from genre_lab.data import load_tracks
    from genre_lab.pretrained import musicnn, transfer

    tracks = load_tracks(args.root, profile=args.profile, progress=False)
    model = transfer.load_model(args.model)
    seconds = float(tracks.duration.sum())
    print(f"{args.model} on {len(tracks)} clips ({seconds / 60:.1f} min of audio, "
          f"{tracks.attrs['source']}); torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    layers = transfer.LAYERS["musicnn" if args.model.endswith("musicnn") else "vgg"]
    for threads in args.threads:
        for batch in args.batch or [transfer._BATCH]:
            torch.set_num_threads(threads)
            times = dict(decode=0.0, frontend=0.0, network=0.0)
            n_segments = 0
            for path in tracks.path:
                t = time.perf_counter()
                y = audio.load(path, sr=musicnn.SR)
                t1 = time.perf_counter()
                patches = transfer.segment_patches(y)
                t2 = time.perf_counter()
                with torch.no_grad():
                    for start in range(0, len(patches), batch):
                        out = model.features(torch.from_numpy(patches[start:start + batch]))
                        [out[layer] for layer in layers]
                t3 = time.perf_counter()
                times["decode"] += t1 - t
                times["frontend"] += t2 - t1
                times["network"] += t3 - t2
                n_segments += len(patches)
            total = sum(times.values())
            print(f"{threads} thread(s), batch {batch}: {len(tracks) / total:.2f} clips/s, "
                  f"{n_segments / total:.1f} segments/s, {seconds / total:.0f}x real time; "
                  + ", ".join(f"{k} {v / n_segments * 1000:.1f} ms" for k, v in times.items())
                  + " per segment")
    t = time.perf_counter()
    transfer.embed(tracks, model, progress=False)
    built = time.perf_counter() - t
    t = time.perf_counter()
    vectors = transfer.embed(tracks, model, progress=False)
    loaded = time.perf_counter() - t
    size = sum(v.X.nbytes for v in vectors.values()) / 2**20
    print(f"embed, empty cache (threads {torch.get_num_threads()}): {built:.1f} s; "
          f"cache hit: {loaded:.2f} s ({size:.1f} MB of vectors)")
    assert np.isfinite(vectors[layers[0]].X).all()


if __name__ == "__main__":
    main()
