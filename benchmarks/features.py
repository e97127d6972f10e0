"""Segment features (3-s log-mel + MFCC): a librosa loop vs the batched torch path vs the cache.

Usage::

    python benchmarks/features.py                         # 1000 synthetic 30-s clips
    python benchmarks/features.py --clips-per-genre 20 --seconds 12   # the quick profile
    GENRE_LAB_DATA=~/data/gtzan python benchmarks/features.py         # the real GTZAN

Each method runs in a fresh subprocess (twice: once timed, giving the process's peak RSS
from ``ru_maxrss``; once under ``tracemalloc`` for the peak of Python-side allocations,
numpy included, torch's own tensors not), so peaks don't mix and tracing costs no time:

* ``librosa loop``: per clip, ``librosa.feature.melspectrogram`` on the clip's segments
  (one call, librosa vectorises over them), ``power_to_db`` per segment, ``mfcc``.
* ``librosa loop x2 (joblib)``: the same loop split over the cores with joblib processes.
* ``torch batched``: ``segment_features(..., cache=False)``.
* ``cache build``: ``segment_features`` on an empty cache (compute + save).
* ``cache load``: ``segment_features`` again, in a new process: a hit.

On a shared machine other processes distort timings: each timed run waits (``--quiet-wait``)
for the CPU to go idle, and the ``others`` column says how many cores other processes kept
busy during it, from ``/proc/stat``. ``--repeat N`` times every method N times, round-robin
(so a busy spell slows all methods alike), and reports each one's fastest run.

Results: ``benchmarks/features.md``.

Synthetic clips are generated once into ``GENRE_LAB_CACHE`` (``bench-synth-...``); without
``genre_lab.data.synth`` the 50 real clips of ``../shared/data/gtzan-sample`` are copied
round-robin instead. Feature caches go to a temporary folder, deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

METHODS = ["librosa", "librosa-joblib", "torch", "build", "load"]
LABELS = {"librosa": "librosa loop", "librosa-joblib": "librosa loop x2 (joblib)",
          "torch": "torch batched", "build": "cache build", "load": "cache load"}


# ---------------------------------------------------------------------------- data set
def _tile_real(root: Path, clips_per_genre: int, seconds: float) -> None:
    # Fallback without synth.py: real clips copied round-robin (cropped/tiled to length).
    import numpy as np
    import soundfile as sf

    from genre_lab import GENRES
    from genre_lab.config import SAMPLE_RATE

    sample = Path(os.environ.get("GENRE_LAB_SHARED_DATA", PROJECT.parent / "shared" / "data"))
    n = int(round(seconds * SAMPLE_RATE))
    for genre in GENRES:
        sources = sorted((sample / "gtzan-sample" / "genres" / genre).glob("*.wav"))
        if not sources:
            raise SystemExit(f"no genre_lab.data.synth and no real clips in {sample}")
        (root / "genres" / genre).mkdir(parents=True, exist_ok=True)
        for i in range(clips_per_genre):
            y, sr = sf.read(str(sources[i % len(sources)]), dtype="int16")
            y = np.resize(y, n) if sr == SAMPLE_RATE else y
            sf.write(str(root / "genres" / genre / f"{genre}.{i:05d}.wav"), y, sr,
                     subtype="PCM_16")


def dataset(clips_per_genre: int, seconds: float) -> tuple[Path, str]:
    """The benchmark's clips: real GTZAN (GENRE_LAB_DATA), else generated once."""
    from genre_lab.config import cache_dir, data_root

    if data_root() is not None:
        return data_root(), "real GTZAN (GENRE_LAB_DATA)"
    try:
        from genre_lab.data import synth
    except ImportError:
        synth = None
    kind = "synthetic" if synth else "real clips tiled"
    # One folder per clip length, regenerated only when more clips per genre are asked for.
    root = cache_dir() / f"bench-{kind.split()[0]}-{seconds:g}s"
    done = root / "done"
    if not done.is_file() or int(done.read_text() or 0) < clips_per_genre:
        tmp = Path(tempfile.mkdtemp(prefix=root.name + ".", suffix=".tmp", dir=root.parent))
        try:
            print(f"generating {10 * clips_per_genre} clips of {seconds:g} s into {root} ...",
                  file=sys.stderr)
            if synth:
                synth.generate(tmp, clips_per_genre=clips_per_genre, seconds=seconds, seed=0)
            else:
                _tile_real(tmp, clips_per_genre, seconds)
            (tmp / "done").write_text(str(clips_per_genre))
            shutil.rmtree(root, ignore_errors=True)
            os.replace(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root, kind


def tracks_of(root: Path, clips_per_genre: int):
    from genre_lab.data.gtzan import track_table

    tracks = track_table(root)
    return tracks.groupby("genre", sort=False).head(clips_per_genre).reset_index(drop=True)


# ---------------------------------------------------------------------------- methods
def _librosa_clip(path, seconds):
    # Fair librosa usage, per clip: one melspectrogram call on all of the clip's segments.
    import librosa
    import numpy as np

    from genre_lab import audio
    from genre_lab.config import FEATURES as f

    segs = audio.segment(audio.load(path), sr=f.sample_rate, seconds=seconds)
    mel = librosa.feature.melspectrogram(y=segs, sr=f.sample_rate, n_fft=f.n_fft,
                                         hop_length=f.hop_length, n_mels=f.n_mels)
    db = np.stack([librosa.power_to_db(m, top_db=80.0) for m in mel])
    return db, librosa.feature.mfcc(S=db, n_mfcc=f.n_mfcc)


def _run_librosa(tracks, jobs: int):
    import numpy as np

    if jobs == 1:
        out = [_librosa_clip(p, 3.0) for p in tracks.path]
    else:
        from joblib import Parallel, delayed
        from joblib.externals.loky import get_reusable_executor

        out = Parallel(n_jobs=jobs)(delayed(_librosa_clip)(p, 3.0) for p in tracks.path)
        get_reusable_executor().shutdown(wait=True)  # reap the workers: ru_maxrss sees them
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


def _busy_seconds() -> float | None:
    """CPU seconds all processes of the machine have run so far (Linux; else None)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def wait_until_quiet(max_wait: float, cores: float = 0.25) -> float | None:
    """Wait (up to max_wait s) until other processes use less than ``cores`` CPU cores."""
    deadline = time.monotonic() + max_wait
    while True:
        b0 = _busy_seconds()
        time.sleep(1.0)
        b1 = _busy_seconds()
        if b0 is None:
            return None
        busy = b1 - b0
        if busy < cores or time.monotonic() > deadline:
            return busy


def worker(method: str, root: Path, clips_per_genre: int, trace: bool) -> dict:
    """Run one method in this (fresh) process; return its figures."""
    import tracemalloc

    import librosa  # noqa: F401  (imports are not timed)
    import numpy as np
    import torch  # noqa: F401

    from genre_lab.config import FEATURES
    from genre_lab.features.segments import segment_features

    tracks = tracks_of(root, clips_per_genre)
    # One clip first, untimed: librosa's lazy submodules, numba and FFT plans warm up.
    _librosa_clip(tracks.path.iloc[0], 3.0)
    if not method.startswith("librosa"):
        segment_features(tracks.iloc[:1], FEATURES, progress=False, cache=False)
    if trace:
        tracemalloc.start()
    busy0, own0 = _busy_seconds(), _own_cpu_seconds()
    t0 = time.perf_counter()
    if method == "librosa":
        X, _ = _run_librosa(tracks, 1)
    elif method == "librosa-joblib":
        X, _ = _run_librosa(tracks, os.cpu_count() or 1)
    else:
        X = segment_features(tracks, FEATURES, progress=False,
                             cache=method != "torch")["logmel"].X
    elapsed = time.perf_counter() - t0
    # Cores busy with other processes meanwhile: they slow every figure on a shared machine.
    busy1, own1 = _busy_seconds(), _own_cpu_seconds()
    others = None if busy0 is None else max(0.0, (busy1 - busy0) - (own1 - own0)) / elapsed
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return dict(method=method, clips=len(tracks), segments=int(X.shape[0]),
                seconds=elapsed, cpu=own1 - own0, tracemalloc_peak=peak, maxrss=rss_kb * 1024,
                children_maxrss=children_kb * 1024, others=others,
                checksum=float(np.mean(X[::97])))


def spawn(method, root, clips_per_genre, cache, trace) -> dict:
    env = dict(os.environ, GENRE_LAB_CACHE=str(cache))
    cmd = [sys.executable, __file__, "--worker", method, "--root", str(root),
           "--clips-per-genre", str(clips_per_genre)] + (["--trace"] if trace else [])
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-genre", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="clip length of the synthetic set (ignored on real data)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="time every method N times, round-robin; report the fastest")
    parser.add_argument("--quiet-wait", type=float, default=300.0, metavar="S",
                        help="before each timed run, wait up to S seconds for the other "
                             "processes to leave the CPU (default 300)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.root), args.clips_per_genre,
                                args.trace)))
        return

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    if "load" in methods and "build" not in methods:
        methods.insert(methods.index("load"), "build")
    root, kind = dataset(args.clips_per_genre, args.seconds)
    tracks = tracks_of(root, args.clips_per_genre)
    for p in tracks.path:  # every method reads the files from the OS page cache
        Path(p).read_bytes()
    print(f"{len(tracks)} clips ({kind}, {tracks.duration.mean():.1f} s mean) in {root}; "
          f"{os.cpu_count()} CPU cores", flush=True)

    best = {}
    cache = Path(tempfile.mkdtemp(prefix="genre-lab-bench-cache."))
    try:
        for _ in range(max(1, args.repeat)):
            for method in methods:
                if method == "build":  # start from an empty feature cache
                    shutil.rmtree(cache / "features", ignore_errors=True)
                wait_until_quiet(args.quiet_wait)
                row = spawn(method, root, args.clips_per_genre, cache, trace=False)
                print(f"  {LABELS[method]}: {row['seconds']:.2f} s "
                      f"(others {row['others'] or 0:.2f})", file=sys.stderr, flush=True)
                if method not in best or row["seconds"] < best[method]["seconds"]:
                    best[method] = row
        rows = [best[m] for m in methods]
        if not args.no_trace:  # once per method: the peak does not depend on the load
            for row in rows:
                if row["method"] == "build":
                    shutil.rmtree(cache / "features", ignore_errors=True)
                row["tracemalloc_peak"] = spawn(row["method"], root, args.clips_per_genre,
                                                cache, trace=True)["tracemalloc_peak"]
        size = sum(f.stat().st_size for f in (cache / "features").glob("*.npz")) \
            if (cache / "features").is_dir() else 0
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    mib = 2 ** 20
    print(f"\n{'method':<26} {'seconds':>8} {'CPU s':>7} {'clips/s':>8} {'speed-up':>8} "
          f"{'peak RSS':>10} {'tracemalloc':>12} {'others':>7}")
    base = next((r["seconds"] for r in rows if r["method"] == "librosa"), None)
    for r in rows:
        tm = "-" if r["tracemalloc_peak"] is None else f"{r['tracemalloc_peak'] / mib:,.0f} MiB"
        speed = f"{base / r['seconds']:.1f}x" if base else "-"
        note = ""
        if r["method"] == "librosa-joblib":
            note = f" (parent; each worker up to {r['children_maxrss'] / mib:,.0f} MiB RSS)"
        others = "-" if r["others"] is None else f"{r['others']:.2f}"
        print(f"{LABELS[r['method']]:<26} {r['seconds']:>8.2f} {r['cpu']:>7.1f} "
              f"{r['clips'] / r['seconds']:>8.1f} "
              f"{speed:>8} {r['maxrss'] / mib:>6,.0f} MiB {tm:>12} {others:>7}{note}")
    n_seg = rows[0]["segments"] if rows else 0
    print(f"\n{n_seg} segments; cache file {size / mib:,.0f} MiB (float32). CPU s: CPU seconds "
          f"of the method's processes (less sensitive to other load than seconds). others: CPU "
          f"cores that other processes kept busy during the run (above ~0.2 are slowed).")
    by = {r["method"]: r for r in rows}
    if "build" in by:
        ok = by["build"]["seconds"] <= 20 * len(tracks) / 1000
        print(f"target: cache built in <= {20 * len(tracks) / 1000:g} s "
              f"(20 s per 1000 clips): {'met' if ok else 'NOT met'}")
    if "torch" in by and base:
        ratio = base / by["torch"]["seconds"]
        print(f"target: torch batched >= 1.5x the librosa loop: {ratio:.1f}x, "
              f"{'met' if ratio >= 1.5 else 'NOT met'}")
    if "torch" in by:
        limit = 6 * len(tracks) / 1000
        ok = by["torch"]["seconds"] <= limit
        print(f"target: torch batched <= {limit:g} s (6 s per 1000 clips): "
              f"{by['torch']['seconds']:.2f} s, {'met' if ok else 'NOT met'}")
    if "torch" in by and "librosa-joblib" in by:
        ratio = by["librosa-joblib"]["seconds"] / by["torch"]["seconds"]
        print(f"target: torch batched >= 3x the librosa loop x2 (joblib): {ratio:.1f}x, "
              f"{'met' if ratio >= 3 else 'NOT met'}")
    checks = {r["method"]: r["checksum"] for r in rows}
    if len({round(v, 3) for v in checks.values()}) > 1:
        print(f"warning: methods disagree on the features' mean: {checks}")


if __name__ == "__main__":
    main()
