"""Independent jobs on every core, in order, with a progress bar (joblib and tqdm.auto).

Every progress bar of the package comes from :func:`progress_bar`: ``GENRE_LAB_PROGRESS=0``
turns them all off (:func:`genre_lab.config.progress_bars`). The book's build sets it
(book/build.py): in a kernel, tqdm.auto draws an ipywidgets bar, which a static page can
only show by loading ipywidgets from a CDN.
"""

from __future__ import annotations

from . import config


def progress_bar(iterable=None, **kwargs):
    """``tqdm.auto.tqdm(iterable, **kwargs)``: a widget in a notebook, text in a terminal;
    disabled where ``GENRE_LAB_PROGRESS`` turns progress bars off."""
    from tqdm.auto import tqdm

    if not config.progress_bars():
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)


def n_workers(n_jobs: int | None, n_items: int) -> int:
    """Worker processes for ``n_items`` jobs: ``n_jobs`` (None: every core this process may
    use), at most one per job.

    ``joblib.cpu_count`` honours CPU affinity and a container's CPU quota (a JupyterHub
    limit), where ``os.cpu_count`` would count every core of the host.
    """
    from joblib import cpu_count

    return max(1, min(n_jobs or cpu_count(), n_items))


def run_jobs(jobs, *, n_jobs: int, progress: bool = True, desc: str | None = None,
             unit: str = "it"):
    """Run ``(function, args)`` jobs and yield their results in the jobs' order.

    ``n_jobs == 1`` runs them in this process; otherwise on ``n_jobs`` joblib (loky)
    processes, so ``function`` must be importable (a module-level function).
    """
    jobs = list(jobs)
    bar = progress_bar(total=len(jobs), desc=desc, unit=unit, disable=not progress)
    try:
        if n_jobs == 1:
            for func, args in jobs:
                yield func(*args)
                bar.update()
            return
        from joblib import Parallel, delayed

        tasks = (delayed(func)(*args) for func, args in jobs)
        try:
            results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
        except TypeError:  # joblib < 1.3: no generator, the bar jumps at the end
            results = Parallel(n_jobs=n_jobs)(tasks)
        for result in results:
            yield result
            bar.update()
    finally:
        bar.close()
