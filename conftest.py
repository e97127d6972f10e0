"""Run the MyST Markdown notebooks in notebooks/ with nbval, straight from the .md files.

nbval collects ``.ipynb`` files only; this hook hands it each jupytext notebook parsed with
``jupytext.read``, so text notebooks run cell by cell in a fresh kernel and a failing cell
fails the run (``--nbval-lax``: text notebooks store no outputs to compare).

Each notebook also gets a last test item, ``budget``: it fails when the notebook took more
than twice the runtime budget its front matter declares (``genre_lab: budget_seconds``),
not counting the time its kernel waited for a CPU that other work held (Linux's schedstat
of the thread that runs the cells): a busy machine (another notebook, a book build) slows
a chapter down without the chapter doing more work. (The wait can also come from the
chapter's own worker processes; a chapter that waits on them is not helped, as its main
thread sleeps meanwhile.) The terminal summary lists every notebook's time, its wait and
its budget.

A notebook whose every cell passed is kept as the chapter's execution in the book's
jupyter-cache (book/chapter_cache.py), so ``make book`` after ``make test`` renders it
without running it again. The kernels draw no progress bars (``GENRE_LAB_PROGRESS=0``), as
in the book.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import jupytext
import nbformat
import nbval.plugin
import pytest

NOTEBOOKS = Path(__file__).parent / "notebooks"
#: The environment key the notebooks are stored under, computed once by the main process.
CHAPTER_KEY = "GENRE_LAB_CHAPTER_KEY"
#: The variables of that key (book/chapter_cache.ENVIRONMENT) as the main process saw them.
CHAPTER_ENV = "GENRE_LAB_CHAPTER_ENV"


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
#: A chapter fails its budget check above this multiple of its declared budget.
BUDGET_FACTOR = 2.0


def waited_for_cpu(pid: int | None) -> float:
    """Seconds that process ``pid``'s main thread (a kernel's: it runs the cells) was ready
    to run but waited for a CPU (``/proc/PID/task/PID/schedstat``, 2nd field; 0 where there
    is none)."""
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError, TypeError):
        return 0.0


class BudgetCheck(pytest.Item):
    """Fails when the notebook's cells took more than BUDGET_FACTOR x its declared budget."""

    def __init__(self, *, notebook, budget, **kwargs):
        super().__init__(**kwargs)
        self.notebook, self.budget = notebook, budget

    def runtest(self):
        elapsed = time.perf_counter() - self.notebook.started
        waited = min(waited_for_cpu(self.notebook.kernel_pid), elapsed)
        self.user_properties.append(("notebook_seconds", (self.notebook.path.name, elapsed,
                                                          waited, self.budget)))
        if self.budget is None:
            raise AssertionError(f"{self.notebook.path.name} declares no budget_seconds")
        if elapsed - waited > BUDGET_FACTOR * self.budget:
            raise AssertionError(f"{self.notebook.path.name} ran {elapsed - waited:.0f} s "
                                 f"({elapsed:.0f} s, {waited:.0f} s of it waiting for a CPU), "
                                 f"more than {BUDGET_FACTOR:g} x its budget of {self.budget} s")

    def reportinfo(self):
        return self.path, 0, f"{self.notebook.path.name}::budget"


class JupytextNotebook(nbval.plugin.IPyNbFile):
    """nbval's notebook collector, reading the notebook through jupytext."""

    started = None
    kernel_pid = None
    _turn = None

    def setup(self):
        if self.path.name in RAY_FILES:  # wait for the other Ray's file, before the clock
            self._turn = one_ray_at_a_time()
            self._turn.__enter__()
        self.started = time.perf_counter()  # the kernel's start-up counts too
        # The kernel inherits this process's environment: no progress bars, as in the book,
        # and the chapter variables as the main process saw them before any test ran (a
        # test may leave its own behind in a worker).
        wanted = {"GENRE_LAB_PROGRESS": "0", **json.loads(os.environ.get(CHAPTER_ENV, "{}"))}
        saved = {name: os.environ.get(name) for name in wanted}
        for name, value in wanted.items():
            _set_env(name, value)
        try:
            super().setup()
        finally:
            for name, value in saved.items():
                _set_env(name, value)
        provisioner = getattr(self.kernel.km, "provisioner", None)
        self.kernel_pid = getattr(getattr(provisioner, "process", None), "pid", None)

    def teardown(self):
        try:
            self.keep_execution()
            super().teardown()
        finally:
            if self._turn is not None:
                self._turn.__exit__(None, None, None)
                self._turn = None

    def collect(self):
        read = nbval.plugin.nbformat.read
        nbval.plugin.nbformat.read = lambda path, as_version=4: jupytext.read(path)
        try:
            items = list(super().collect())
        finally:
            nbval.plugin.nbformat.read = read
        self.cells, self.passed = list(items), set()
        budget = self.nb.metadata.get("genre_lab", {}).get("budget_seconds")
        items.append(BudgetCheck.from_parent(self, name="budget", notebook=self, budget=budget))
        return items

    def keep_execution(self):
        """Store the executed chapter for the book, when every cell ran and passed."""
        if self.path.parent != NOTEBOOKS or not self.cells or \
                any(cell.nodeid not in self.passed for cell in self.cells):
            return
        seconds = time.perf_counter() - self.started
        cache = _chapter_cache()
        notebook = cache.read_chapter(self.path)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        if [c.source.strip() for c in code] != [i.cell.source.strip() for i in self.cells]:
            return  # jupytext and myst-nb read the cells differently: the book executes it
        for number, (cell, item) in enumerate(zip(code, self.cells, strict=True), 1):
            cell.execution_count = number
            cell.outputs = [nbformat.from_dict(dict(o, execution_count=number))
                            if o.output_type == "execute_result"
                            else o for o in item.test_outputs]
        try:
            cache.store(cache.COURSE_CACHE, self.path, notebook, seconds, "nbval",
                    key=os.environ.get(CHAPTER_KEY))
        except Exception as error:  # the tests passed; the book will execute it instead
            import warnings

            warnings.warn(f"{self.path.name}: not kept for the book: {error}", stacklevel=1)


def _chapter_cache():
    """book/chapter_cache.py (book/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "genre_lab_chapter_cache", Path(__file__).parent / "book" / "chapter_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    notebook = item.parent
    if isinstance(notebook, JupytextNotebook) and report.when == "call" and report.passed:
        notebook.passed.add(item.nodeid)


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        # A pytest-xdist worker: one torch/BLAS thread for it and the notebook kernels it
        # starts, or two workers' spinning thread pools slow each other down several-fold.
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")
    else:
        # The main process, before the workers start (they inherit it): the key of what the
        # chapters run on, before any test has run in a process (book/chapter_cache.py).
        if config.option.nbval or config.option.nbval_lax:
            chapter_cache = _chapter_cache()
            os.environ[CHAPTER_KEY] = chapter_cache.environment_key()
            os.environ[CHAPTER_ENV] = json.dumps({name: os.environ.get(name) for name
                                                  in chapter_cache.ENVIRONMENT})
        # Fill numba's cache so that parallel processes never compile librosa's kernels at
        # once (see genre_lab.warmup).
        from genre_lab.warmup import compile_librosa_kernels

        compile_librosa_kernels()


#: Files that start a Ray of their own. They take turns, under a lock that every pytest
#: process of this checkout shares (pytest-xdist's workers, a second run beside the first):
#: two Rays starting at once on 2 cores slow each other towards Ray's start-up limit
#: (benchmarks/scale.md), and the appendix towards its budget.
RAY_FILES = {"test_scale.py", "10-scaling-with-ray.md"}


def one_ray_at_a_time():
    """The lock of RAY_FILES for this checkout (a file in the system's temporary folder)."""
    import hashlib
    import tempfile

    import filelock

    checkout = hashlib.sha256(str(NOTEBOOKS.parent).encode()).hexdigest()[:16]
    return filelock.FileLock(Path(tempfile.gettempdir()) / f"genre-lab-ray-{checkout}.lock")


@pytest.fixture(scope="module", name="one_ray_at_a_time")
def one_ray_at_a_time_fixture():
    with one_ray_at_a_time():
        yield


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and file_path.suffix == ".md" and \
            file_path.parent == NOTEBOOKS:
        return JupytextNotebook.from_parent(parent, path=file_path)
    return None


_times: list = []


def pytest_runtest_logreport(report):
    # runs where the report arrives: in the main process, also under pytest-xdist
    if report.when == "call":
        _times.extend(value for key, value in report.user_properties
                      if key == "notebook_seconds")


def pytest_terminal_summary(terminalreporter):
    if not _times:
        return
    terminalreporter.section("notebook runtimes (budget: declared; fails above "
                             f"{BUDGET_FACTOR:g}x, not counting the wait for a CPU)")
    for name, seconds, waited, budget in sorted(_times):
        terminalreporter.write_line(f"{name:<32} {seconds:6.1f} s, waited {waited:5.1f} s   "
                                    f"budget {budget} s")
    terminalreporter.write_line(f"{'all notebooks (sum)':<32} {sum(t[1] for t in _times):6.1f} s")
