"""book/build.py on a tiny book built with the course's own execution settings: a failing
chapter leaves the other pages built and ends the output with the chapter and cell; the pages
load nothing from the network and offer the executed notebook."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("jupyter_book")

BOOK = Path(__file__).resolve().parents[1] / "book"

NOTEBOOK = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# {title}

```{{code-cell}} ipython3
{first}
```

Some text.

```{{code-cell}} ipython3
{second}
```
"""


def tiny_book(root: Path, timeout: int) -> None:
    """Write a book whose _config.yml is the course's, less what needs the full course."""
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    for key in ("bibtex_bibfiles", "exclude_patterns", "repository", "launch_buttons", "html"):
        config.pop(key, None)
    config["sphinx"]["config"].pop("bibtex_reference_style", None)
    config["execute"]["timeout"] = timeout
    config["sphinx"]["local_extensions"] = {
        name: str((BOOK / path).resolve())
        for name, path in config["sphinx"]["local_extensions"].items()}
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                   "  - file: ok\n  - file: bad\n  - file: slow\n")
    (root / "intro.md").write_text("# A tiny book\n\nMath: $e^{i\\pi} + 1 = 0$.\n")
    # a widget and a progress bar, as the chapters' explorers and training loops show them
    pages = {"ok": ("import ipywidgets\nfrom genre_lab.parallel import progress_bar\n"
                    "x = len(list(progress_bar(range(3))))\nipywidgets.IntSlider()",
                    "print(x)"),
             "bad": ("x = 1", "assert x == 2, 'fails on purpose'\nprint('never')"),
             "slow": ("import time\ntime.sleep(60)", "print('never')")}
    for name, (first, second) in pages.items():
        (root / f"{name}.md").write_text(NOTEBOOK.format(title=name, first=first,
                                                         second=second))


def build(root: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BOOK / "build.py"), str(root),
                           "--warningiserror", "--keep-going"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny book's folder and its first build."""
    root = tmp_path_factory.mktemp("book")
    tiny_book(root, timeout=3)
    return root, build(root)


def test_pages_load_nothing_from_a_cdn_and_offer_the_notebook(built):
    root, _ = built
    html = root / "_build" / "html"
    for page in ("intro", "ok", "bad", "slow"):
        text = (html / f"{page}.html").read_text()
        # no require.js or ipywidgets manager (nb_ipywidgets_js), nor any other remote script
        assert re.findall(r'<script[^>]* src="(?:https?:)?//[^"]*"', text) == [], page
        # sphinx-thebe's config once: a second `const THEBE_JS_URL` throws in the browser
        assert text.count("const THEBE_JS_URL") == 1, page
    ok = (html / "ok.html").read_text()
    assert "FloatProgressModel" not in ok  # no tqdm widget bar (book/build.py)
    assert "IntSliderModel" in ok  # the widget's state is still saved, if never loaded
    # the download button's .ipynb: the executed notebook, with its output
    assert 'href="_sources/ok.ipynb"' in ok
    cells = json.loads((html / "_sources" / "ok.ipynb").read_text())["cells"]
    assert [o.get("text") for o in cells[-1]["outputs"]] == [["3\n"]]
    assert ".ipynb" not in (html / "intro.html").read_text()  # not a notebook


def test_pages_work_offline_in_a_browser(built):
    """book/check_offline_math.py over every page: no request leaves the machine, the
    console logs no error, and the math renders."""
    chromium = shutil.which("chromium")
    if chromium is None or importlib.util.find_spec("playwright") is None:
        if os.environ.get("GENRE_LAB_REQUIRE_BROWSER"):
            pytest.fail("needs Playwright and Chromium")
        pytest.skip("needs Playwright and Chromium (apt-get install chromium)")
    root, _ = built
    check = subprocess.run([sys.executable, str(BOOK / "check_offline_math.py"), "--browser",
                            chromium, str(root / "_build" / "html")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=300)
    assert check.returncode == 0, check.stdout
    assert "1 of 1 formulas rendered" in check.stdout
    assert check.stdout.strip().splitlines()[-1].endswith(
        "0 failed: 0 network requests blocked, 0 console errors"), check.stdout


def test_chapters_load_librosa_examples_quietly():
    """librosa.ex logs pooch's "Downloading file ... to <cache path>" into the page, and
    raises offline: the chapters use genre_lab.data.example_recording."""
    for chapter in sorted((BOOK.parent / "notebooks").glob("*.md")):
        assert "librosa.ex(" not in chapter.read_text(), chapter.name


def test_failing_chapters_are_named_last_and_other_pages_built(built):
    tmp_path, first = built
    lines = first.stdout.strip().splitlines()
    assert first.returncode == 1, first.stdout
    assert lines[-2:] == [
        "book: bad.md, code cell 2 (line 20) failed: AssertionError: fails on purpose",
        "book: slow.md, code cell 1 (line 14) failed: CellTimeoutError: A cell timed out "
        "while it was being executed, after 3 seconds.",
    ], first.stdout[-3000:]
    # no Sphinx crash report (a timed-out kernel may still print its own shutdown noise)
    assert "Exception occurred" not in first.stdout and "sphinx/issues" not in first.stdout
    html = tmp_path / "_build" / "html"
    for page in ("intro", "ok", "bad", "slow"):
        assert (html / f"{page}.html").exists(), page
    assert (html / "reports" / "bad.err.log").exists()
    # MathJax comes from the book's own copy, not a CDN
    assert '<script defer="defer" src="_static/mathjax/tex-chtml.js">' in \
        (html / "intro.html").read_text()
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()

    # Nothing changed, but the failed chapters run again (the fix may be outside them).
    (tmp_path / "slow.md").write_text((tmp_path / "slow.md").read_text()
                                      .replace("time.sleep(60)", "time.sleep(0)"))
    second = build(tmp_path)
    assert second.returncode == 1
    assert second.stdout.strip().splitlines()[-1].startswith("book: bad.md, code cell 2 ")
    assert "slow.md" not in second.stdout.strip().splitlines()[-1]
    assert not (html / "reports" / "slow.err.log").exists()


def test_a_chapter_runs_once_per_change_of_its_code_package_or_data(tmp_path):
    """book/chapter_cache.py: a second build reuses the first one's execution (outputs and
    download included); another profile (or package, or library) drops it and runs again."""
    tiny_book(tmp_path, timeout=60)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                       "  - file: ok\n")
    first = build(tmp_path)
    assert first.returncode == 0, first.stdout[-3000:]
    assert "book: executing 1 chapter(s)" in first.stdout
    again = build(tmp_path)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "book: executing" not in again.stdout
    assert "Using cached notebook" in again.stdout
    html = tmp_path / "_build" / "html"
    assert "3\n" in (html / "ok.html").read_text()
    cells = json.loads((html / "_sources" / "ok.ipynb").read_text())["cells"]
    assert [o.get("text") for o in cells[-1]["outputs"]] == [["3\n"]]

    other = build(tmp_path, env=dict(os.environ, GENRE_LAB_PROFILE="standard"))
    assert other.returncode == 0, other.stdout[-3000:]
    assert "book: 1 chapter execution(s) made by other code or data dropped" in other.stdout
    assert "book: executing 1 chapter(s)" in other.stdout


def test_a_chapter_worker_has_a_deadline(tmp_path):
    """book/chapter_cache.py gives up on a worker that outlives its chapter's cell timeouts
    (a kernel's shutdown after a timeout once hung a build for good): every code cell at
    the timeout, plus the kernel's start and stop."""
    spec = importlib.util.spec_from_file_location("chapter_cache_for_test",
                                                  BOOK / "chapter_cache.py")
    chapter_cache = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chapter_cache)
    tiny_book(tmp_path, timeout=3)
    slow = tmp_path / "slow.md"  # two code cells
    assert chapter_cache.deadline(slow, 3) == 2 * 3 + chapter_cache.KERNEL_ALLOWANCE
    assert chapter_cache.deadline(slow, None) is None and chapter_cache.deadline(slow, -1) is None
