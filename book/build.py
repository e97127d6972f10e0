"""Build the book with Jupyter Book, and end with one line per chapter that failed.

    python book/build.py SOURCE [jupyter-book build options]    # what `make book` runs

A failing cell does not stop the build: every other page is still written, and the
``notebook_failures`` extension (see book/_config.yml) names the failed chapters and cells.
This script prints those lines last and exits 1 when a chapter failed or the build did.

The chapters' kernels get one torch/BLAS thread per two CPU cores (one on a 2-core machine)
unless OMP_NUM_THREADS is set: a thread for every core made chapter 4 several-fold slower as
soon as another job ran beside the build (figures in DEVELOPERS.md), and half the cores
leave room for one. They draw no progress bars (``GENRE_LAB_PROGRESS=0``): a static page
cannot show a live one, and tqdm's ipywidgets bar would load ipywidgets from a CDN.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from notebook_failures import FAILURES


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("-"):
        print("usage: python book/build.py SOURCE [jupyter-book build options]",
              file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--path-output", type=Path, default=Path(argv[0]))
    output = parser.parse_known_args(argv[1:])[0].path_output
    failures = output / "_build" / "html" / FAILURES
    failures.unlink(missing_ok=True)

    command = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or \
        shutil.which("jupyter-book")
    if command is None:
        print("book: jupyter-book is not installed (pip install -e '.[book]')", file=sys.stderr)
        return 1
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 2) // 2))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, threads)
    env.setdefault("GENRE_LAB_PROGRESS", "0")
    code = subprocess.call([command, "build", *argv], env=env)

    lines = failures.read_text(encoding="utf8").splitlines() if failures.exists() else []
    for line in lines:
        print(line, file=sys.stderr, flush=True)
    if code and not lines:
        print(f"book: jupyter-book build failed (exit code {code}); the cause is above",
              file=sys.stderr, flush=True)
    return 1 if code or lines else 0


if __name__ == "__main__":
    sys.exit(main())
