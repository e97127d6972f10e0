"""The chapters' executed notebooks, kept where the book build looks for them.

Every chapter is executed once per change: by the notebook tests (``make test``: nbval, see
the root conftest.py) or by ``make book`` (``execute``, two chapters at a time), and
the other reuses that execution. Both store it in the book's jupyter-cache
(``book/_build/.jupyter_cache``), which Jupyter Book reads with ``execute_notebooks: cache``.

jupyter-cache matches a notebook by its code cells only, but a chapter's outputs also depend
on the ``genre_lab`` package, the installed libraries and the data the chapter reads. Each
record therefore carries ``environment_key()``, and ``prune`` removes the records made under
another key before a build: a chapter is never shown with outputs that its code, package or
data no longer produce.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The course book's cache (``make book`` builds into book/_build).
COURSE_CACHE = ROOT / "book" / "_build" / ".jupyter_cache"
#: Environment variables that change what a chapter computes or shows.
ENVIRONMENT = ("GENRE_LAB_PROFILE", "GENRE_LAB_DATA", "GENRE_LAB_REAL_SAMPLE",
               "GENRE_LAB_CACHE", "LIBROSA_DATA_DIR")
KEY = "genre_lab_key"


def environment_key() -> str:
    """A digest of what, besides its code cells, decides a chapter's outputs: the
    ``genre_lab`` sources, the installed distributions, Python and ENVIRONMENT."""
    digest = hashlib.sha256(sys.version.encode())
    package = ROOT / "genre_lab"
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    versions = sorted({f"{d.metadata['Name']}=={d.version}"
                       for d in importlib.metadata.distributions()})
    digest.update("\n".join(versions).encode())
    for name in ENVIRONMENT:
        digest.update(f"\n{name}={os.environ.get(name, '')}".encode())
    return digest.hexdigest()


def read_chapter(path: Path):
    """The chapter as Jupyter Book reads it (myst-nb's reader: the same cells, so the same
    jupyter-cache hash)."""
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(Path(path).read_text("utf8"), path=str(path))


@contextlib.contextmanager
def opened(cache_path: Path):
    """The jupyter-cache at ``cache_path``, held under a file lock (the notebook tests'
    workers write to it at once)."""
    import filelock
    from jupyter_cache import get_cache

    cache_path = Path(cache_path)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(cache_path) + ".lock"):
        yield get_cache(cache_path)


def store(cache_path: Path, chapter: Path, notebook, seconds: float, executed_by: str,
          key: str | None = None) -> None:
    """Keep an executed ``notebook`` (its cells as ``read_chapter`` gives them, every code
    cell run in order) as the execution of ``chapter``."""
    from jupyter_cache.base import CacheBundleIn

    data = {"execution_seconds": round(seconds, 1), KEY: key or environment_key(),
            "executed_by": executed_by}
    with opened(cache_path) as cache:
        cache.cache_notebook_bundle(CacheBundleIn(notebook, str(chapter), data=data),
                                    check_validity=False, overwrite=True)


def prune(cache_path: Path, key: str | None = None) -> int:
    """Remove the records made under another environment key; returns how many."""
    if not Path(cache_path).exists():
        return 0
    key = key or environment_key()
    with opened(cache_path) as cache:
        stale = [r.pk for r in cache.list_cache_records() if r.data.get(KEY) != key]
        for pk in stale:
            cache.remove_cache(pk)
    return len(stale)


def is_cached(cache_path: Path, chapter: Path) -> bool:
    if not Path(cache_path).exists():
        return False
    with opened(cache_path) as cache:
        try:
            cache.match_cache_notebook(read_chapter(chapter))
        except KeyError:
            return False
    return True


def _execute(chapter: str, timeout: int | None, threads: str):
    """Run one chapter in a fresh kernel, as Jupyter Book would (in a worker process)."""
    from jupyter_cache.executors.utils import single_nb_execution

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, threads)
    notebook = read_chapter(Path(chapter))
    result = single_nb_execution(notebook, cwd=str(Path(chapter).parent), timeout=timeout,
                                 allow_errors=False, meta_override=True)
    return notebook, result.time, None if result.err is None else \
        f"{type(result.err).__name__}"


def missing(cache_path: Path, chapters: list[Path]) -> list[Path]:
    """The chapters without a record (after ``prune``: without a valid one)."""
    return [c for c in chapters if not is_cached(cache_path, c)]


#: Seconds a chapter's worker may take beyond its cells' timeouts (kernel start and stop).
KERNEL_ALLOWANCE = 120


def deadline(chapter: Path, timeout: int | None) -> float | None:
    """The seconds after which a chapter's worker is given up: every code cell at the cell
    timeout, plus KERNEL_ALLOWANCE. None when cells have no timeout."""
    if timeout is None or timeout <= 0:
        return None
    cells = sum(cell.cell_type == "code" for cell in read_chapter(chapter).cells)
    return cells * timeout + KERNEL_ALLOWANCE


def execute(cache_path: Path, missing: list[Path], *, timeout: int | None,
            workers: int = 2, estimate=None, log=print) -> list[Path]:
    """Execute these chapters, ``workers`` at a time (longest first, by
    ``estimate(chapter)`` seconds), each kernel with one torch/BLAS thread per
    ``2 x workers`` cores; store the ones that ran to the end. Returns the chapters that
    failed (Jupyter Book runs them again and names the failing cell).

    A worker still busy after :func:`deadline` is killed and its chapter counted as failed:
    a kernel's shutdown after a cell timeout can hang in jupyter_client, and a build must
    end."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if not missing:
        return []
    key = environment_key()
    missing = sorted(missing, key=lambda c: -(estimate(c) if estimate else 0))
    workers = max(1, min(workers, len(missing)))
    threads = os.environ.get("OMP_NUM_THREADS") or \
        str(max(1, (os.cpu_count() or 2) // (2 * workers)))
    log(f"book: executing {len(missing)} chapter(s), {workers} at a time, "
        f"{threads} torch thread(s) each")
    failed = []
    start = time.perf_counter()
    # spawn: a fork of this process would carry its imports and threads into the workers
    import multiprocessing

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    jobs = {pool.submit(_execute, str(c), timeout, threads): c for c in missing}
    limits = {job: deadline(chapter, timeout) for job, chapter in jobs.items()}
    began: dict = {}
    pending, hung = set(jobs), False
    while pending:
        done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        now = time.perf_counter()
        for job in pending:
            if job.running():
                began.setdefault(job, now)
        for job in done:
            chapter = jobs[job]
            notebook, seconds, error = job.result()
            if error is None:
                store(cache_path, chapter, notebook, seconds, "book/build.py", key)
                log(f"book: executed {chapter.name} in {seconds:.0f} s")
            else:
                failed.append(chapter)
                log(f"book: {chapter.name} failed ({error}) after {seconds:.0f} s; "
                    "Jupyter Book runs it again and names the cell")
        late = [job for job in pending if job in began and limits[job] is not None
                and now - began[job] > limits[job]]
        if late:
            # the pool cannot cancel a running job: stop every worker, count what was not
            # done as failed (Jupyter Book runs those chapters again itself)
            hung = True
            for job in late:
                log(f"book: {jobs[job].name} still running after {limits[job]:.0f} s (its "
                    "cells' timeouts and the kernel's start and stop); worker stopped")
            failed += [jobs[job] for job in pending]
            break
    if hung:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
    else:
        pool.shutdown()
    log(f"book: chapters executed in {time.perf_counter() - start:.0f} s")
    return failed
