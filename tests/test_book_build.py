"""book/build.py on a tiny book built with the course's own execution settings: a failing
chapter leaves the other pages built and ends the output with the chapter and cell."""

from __future__ import annotations

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
    pages = {"ok": ("x = 1", "print(x)"),
             "bad": ("x = 1", "assert x == 2, 'fails on purpose'\nprint('never')"),
             "slow": ("import time\ntime.sleep(60)", "print('never')")}
    for name, (first, second) in pages.items():
        (root / f"{name}.md").write_text(NOTEBOOK.format(title=name, first=first,
                                                         second=second))


def build(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BOOK / "build.py"), str(root),
                           "--warningiserror", "--keep-going"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)


def test_failing_chapters_are_named_last_and_other_pages_built(tmp_path):
    tiny_book(tmp_path, timeout=3)
    first = build(tmp_path)
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
