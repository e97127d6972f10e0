"""Peak memory of reading a long file for ``genre-lab predict``: load it whole vs stream it.

Usage::

    python benchmarks/predict_memory.py                  # a 38-min 44.1 kHz stereo WAV
    python benchmarks/predict_memory.py --minutes 5

Writes a 16-bit 44.1 kHz stereo WAV of a few tones (38 minutes: 384 MiB, like the file on which a
user saw 1.8 GB peak in ``genre-lab predict``) into a temporary folder, deleted at the end,
and runs each method in a fresh subprocess, which reports its peak resident memory, its
resident memory after the imports (before the method) and the method's wall time.

The peak is ``/usr/bin/time -v``'s "Maximum resident set size" where GNU time is installed,
else the process's own ``VmHWM`` (Linux) or ``ru_maxrss``. Not the child's
``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that includes the resident memory of the
parent process it was forked from (here: the one that wrote the WAV), not only its own.

* ``imports only``: ``genre_lab.audio`` and what the methods import (librosa, soxr), no
  audio: the floor under both.
* ``load + segment``: ``audio.segment(audio.load(path))``, the whole signal in memory.
* ``stream_segments``: iterating ``audio.stream_segments(path)`` (batches of 64 segments),
  keeping nothing.

Both give the same segments (checked: their count, and a checksum of their samples). Only
the audio side of ``predict`` is measured, not the features or the model.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

METHODS = ("imports only", "load + segment", "stream_segments")


def write_wav(path: Path, minutes: float, sr: int = 44100) -> Path:
    """A stereo 16-bit WAV of a few tones (and a little noise), written 30 s at a time."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    n, block = int(round(minutes * 60 * sr)), 30 * sr
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for start in range(0, n, block):
            t = np.arange(start, min(n, start + block)) / sr
            left = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 330 * t)
            right = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 554.37 * t)
            y = np.stack([left, right], axis=1) + 0.01 * rng.standard_normal((len(t), 2))
            f.write(y.astype(np.float32))
    return path


def worker(method: str, path: Path) -> dict:
    """Run one method in this (fresh) process; its result, time and this process's peak."""
    import librosa  # noqa: F401 (load imports it to resample: count it in every row)
    import numpy as np
    import soxr  # noqa: F401

    from genre_lab import audio

    after_imports_mb = _rss_mb()
    start = time.perf_counter()
    n, checksum = 0, 0.0
    if method == "load + segment":
        segments = audio.segment(audio.load(path))
        n, checksum = len(segments), float(segments.sum(dtype=np.float64))
    elif method == "stream_segments":
        for batch in audio.stream_segments(path):
            n += len(batch)
            checksum += float(batch.sum(dtype=np.float64))
    seconds = time.perf_counter() - start
    return dict(method=method, peak_mb=_rss_mb("VmHWM"), imports_mb=after_imports_mb,
                seconds=seconds, segments=n, checksum=checksum)


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory now (``VmRSS``) or its peak (``VmHWM``), in MiB;
    without /proc (not Linux), ``ru_maxrss``."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(method: str, path: Path) -> dict:
    """``worker`` in a fresh process; the peak from ``/usr/bin/time -v`` where it exists."""
    command = [sys.executable, __file__, "--worker", method, str(path)]
    gnu_time = shutil.which("time", path="/usr/bin")
    if gnu_time:
        command = [gnu_time, "-v", *command]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    for line in out.stderr.splitlines():
        if "Maximum resident set size (kbytes)" in line:
            row["peak_mb"] = int(line.rsplit(":", 1)[1]) / 1024
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=38.0)
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], Path(args.worker[1]))))
        return 0

    with tempfile.TemporaryDirectory(prefix="genre-lab-bench-") as tmp:
        path = Path(tmp) / "long.wav"
        t0 = time.perf_counter()
        write_wav(path, args.minutes)
        size_mb = path.stat().st_size / 2**20
        print(f"{path.name}: {args.minutes:g} min, 44.1 kHz stereo 16-bit, {size_mb:.0f} MiB "
              f"(written in {time.perf_counter() - t0:.1f} s)\n")
        rows = [run_worker(method, path) for method in METHODS]
    print(f"{'method':<18}{'peak RSS (MiB)':>15}{'after imports':>15}{'seconds':>10}"
          f"{'segments':>10}")
    for r in rows:
        print(f"{r['method']:<18}{r['peak_mb']:>15.0f}{r['imports_mb']:>15.0f}"
              f"{r['seconds']:>10.1f}{r['segments']:>10}")
    whole, streamed = rows[1], rows[2]
    same = (whole["segments"] == streamed["segments"]
            and abs(whole["checksum"] - streamed["checksum"]) <= 1e-6 * max(1.0, abs(
                whole["checksum"])))
    print(f"\nsame segments (count and checksum): {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
