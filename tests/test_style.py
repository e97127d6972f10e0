"""ruff, with the project's settings (pyproject.toml), over the code and the chapters' code cells.

The chapters are MyST text notebooks, which ruff does not read: each is written as an
``.ipynb`` into a temporary folder first, so ruff applies its notebook rules (an import at
the top of a cell is at the top of its module) and names the chapter and cell it objects to.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

pytest.importorskip("ruff", reason="ruff comes with the dev extra")

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache",
                           "--config", str(ROOT / "pyproject.toml"), *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_the_code_passes_ruff():
    done = ruff(".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_chapters_pass_ruff(tmp_path):
    for chapter in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md")):
        jupytext.write(jupytext.read(chapter), tmp_path / f"{chapter.stem}.ipynb")
    assert len(list(tmp_path.glob("*.ipynb"))) >= 10
    done = ruff(str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_finds_what_it_should(tmp_path):
    """The check can fail: an unused import in a notebook cell is reported."""
    bad = tmp_path / "bad.ipynb"
    shutil.copy(ROOT / "notebooks" / "01-waveforms.md", tmp_path / "bad.md")
    notebook = jupytext.read(tmp_path / "bad.md")
    notebook.cells.append(jupytext.reads("import os\n", fmt="py:percent").cells[0])
    jupytext.write(notebook, bad)
    done = ruff(str(bad))
    assert done.returncode == 1 and "F401" in done.stdout
