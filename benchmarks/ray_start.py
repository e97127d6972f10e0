"""How long a local Ray takes to start beside busy processes, and when it misses its limit.

Usage::

    python benchmarks/ray_start.py                    # beside 0, 2, 4, 6 and 8 busy processes
    python benchmarks/ray_start.py --busy 0 8 --repeats 3

Each try is a fresh Python process that runs ``genre_lab.scale.start(attempts=1)`` (one
try, as ``ray.init`` alone) while ``--busy`` processes spin on the CPU, as other notebooks
or a test run would. From the session's logs it prints when the raylet's dashboard agent
(a Python process the raylet waits for) began to log and when the raylet registered, both
from the GCS's start. Ray 2.60 gives the raylet 30 s to register, a limit written into its
code (``ray/_private/node.py``): a try past it fails with "The current node timed out
during startup". The figures are in benchmarks/scale.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

TRY = """
import time
t = time.perf_counter()
from genre_lab import scale
import ray
try:
    scale.start(workers=2, attempts=1)
    print("started", ray._private.worker._global_node.get_session_dir_path(),
          round(time.perf_counter() - t, 1))
except scale.RayStartError as error:
    print("failed", round(time.perf_counter() - t, 1))
finally:
    ray.shutdown()
"""

STAMP = re.compile(r"^\[?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d{3})")


def spin() -> None:
    while True:
        pass


def first_time(path: Path, pattern: str = "") -> datetime | None:
    if not path.exists():
        return None
    for line in path.read_text(errors="replace").splitlines():
        found = STAMP.match(line)
        if found and pattern in line:
            return datetime.strptime(found.group(1).replace(",", "."), "%Y-%m-%d %H:%M:%S.%f")
    return None


def one_try(temp_dir: str) -> dict:
    done = subprocess.run([sys.executable, "-c", TRY], capture_output=True, text=True,
                          env={**os.environ, "RAY_TMPDIR": temp_dir})
    words = (done.stdout.strip().splitlines() or ["failed ?"])[-1].split()
    result = dict(ok=words[0] == "started", seconds=words[-1])
    sessions = sorted(Path(temp_dir, "ray").glob("session_2*"), key=lambda p: p.stat().st_mtime)
    if sessions:
        logs = sessions[-1] / "logs"
        gcs = first_time(logs / "gcs_server.out")
        agent = first_time(logs / "dashboard_agent.log")
        registered = first_time(logs / "raylet.out", "Raylet of id")
        if gcs:
            result["agent"] = f"{(agent - gcs).total_seconds():.1f}" if agent else "-"
            result["registered"] = (f"{(registered - gcs).total_seconds():.1f}"
                                    if registered else "-")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 2, 4, 6, 8])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{'busy':>4} {'try':>3} {'result':>8} {'total s':>8} {'agent s':>8} "
          f"{'registered s':>13}")
    for n in args.busy:
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(n)]
        for p in spinners:
            p.start()
        time.sleep(2)
        try:
            for k in range(args.repeats):
                with tempfile.TemporaryDirectory(prefix="r", dir="/tmp") as temp_dir:
                    r = one_try(temp_dir)
                print(f"{n:>4} {k + 1:>3} {'started' if r['ok'] else 'FAILED':>8} "
                      f"{r['seconds']:>8} {r.get('agent', '-'):>8} {r.get('registered', '-'):>13}",
                      flush=True)
        finally:
            for p in spinners:
                p.terminate()
            time.sleep(3)


if __name__ == "__main__":
    main()
