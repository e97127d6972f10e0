"""Build the book with Jupyter Book, and end with one line per chapter that failed.

    python book/build.py SOURCE [jupyter-book build options]    # what `make book` runs

Each chapter is executed once per change, and kept in the book's jupyter-cache
(book/chapter_cache.py): this script first drops the executions that another version of the
package, the libraries or the data made, then executes the chapters that have none, two at a
time, longest first; the notebook tests (``make test``) store theirs in the same cache, so
a book built after them executes nothing. Jupyter Book then renders from the cache.

A failing cell does not stop the build: every other page is still written, and the
``notebook_failures`` extension (see book/_config.yml) names the failed chapters and cells.
This script prints those lines last and exits 1 when a chapter failed or the build did.

The two chapters running at once get one torch/BLAS thread per four CPU cores each (one on a
2-core machine) unless OMP_NUM_THREADS is set: a thread for every core made chapter 4
several-fold slower as soon as another job ran beside the build (figures in DEVELOPERS.md),
and half the cores leave room for one. They draw no progress bars (``GENRE_LAB_PROGRESS=0``):
a static page cannot show a live one, and tqdm's ipywidgets bar would load ipywidgets from a
CDN.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from chapter_cache import execute, missing, prune, read_chapter
from notebook_failures import FAILURES


def chapters(source: Path, toc: Path) -> list[Path]:
    """The notebooks in the table of contents (files with code cells)."""
    def files(entry):
        if isinstance(entry, dict):
            if "file" in entry:
                yield entry["file"]
            for value in entry.values():
                if isinstance(value, list):
                    for item in value:
                        yield from files(item)
    paths = [source / f"{name}.md" for name in files(yaml.safe_load(toc.read_text()))]
    return [p for p in paths if p.exists() and
            any(c.cell_type == "code" for c in read_chapter(p).cells)]


def budget(chapter: Path) -> float:
    return float(read_chapter(chapter).metadata.get("genre_lab", {}).get("budget_seconds", 0))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("-"):
        print("usage: python book/build.py SOURCE [jupyter-book build options]",
              file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--path-output", type=Path, default=Path(argv[0]))
    parser.add_argument("--config", type=Path, default=Path(argv[0]) / "_config.yml")
    parser.add_argument("--toc", type=Path, default=Path(argv[0]) / "_toc.yml")
    known = parser.parse_known_args(argv[1:])[0]
    output = known.path_output
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

    cache = output / "_build" / ".jupyter_cache"
    settings = yaml.safe_load(known.config.read_text()).get("execute", {})
    if settings.get("execute_notebooks") == "cache" and "cache" not in settings:
        if dropped := prune(cache):
            print(f"book: {dropped} chapter execution(s) made by other code or data dropped",
                  flush=True)
        os.environ["GENRE_LAB_PROGRESS"] = env["GENRE_LAB_PROGRESS"]
        to_run = missing(cache, chapters(Path(argv[0]), known.toc))
        if to_run and os.environ.get("GENRE_LAB_BOOK_REQUIRE_CACHED"):
            # CI: the notebook tests executed every chapter; running one again is a bug
            print(f"book: no execution from the notebook tests for "
                  f"{', '.join(c.name for c in to_run)} (GENRE_LAB_BOOK_REQUIRE_CACHED)",
                  file=sys.stderr, flush=True)
            return 1
        execute(cache, to_run, timeout=settings.get("timeout"), estimate=budget,
                log=lambda line: print(line, flush=True))
    code = subprocess.call([command, "build", "--all", *argv], env=env)

    lines = failures.read_text(encoding="utf8").splitlines() if failures.exists() else []
    for line in lines:
        print(line, file=sys.stderr, flush=True)
    if code and not lines:
        print(f"book: jupyter-book build failed (exit code {code}); the cause is above",
              file=sys.stderr, flush=True)
    return 1 if code or lines else 0


if __name__ == "__main__":
    sys.exit(main())
