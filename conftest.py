"""Run the MyST Markdown notebooks in notebooks/ with nbval, straight from the .md files.

nbval collects ``.ipynb`` files only; this hook hands it each jupytext notebook parsed with
``jupytext.read``, so text notebooks run cell by cell in a fresh kernel and a failing cell
fails the run (``--nbval-lax``: text notebooks store no outputs to compare).
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbval.plugin

NOTEBOOKS = Path(__file__).parent / "notebooks"


class JupytextNotebook(nbval.plugin.IPyNbFile):
    """nbval's notebook collector, reading the notebook through jupytext."""

    def collect(self):
        read = nbval.plugin.nbformat.read
        nbval.plugin.nbformat.read = lambda path, as_version=4: jupytext.read(path)
        try:
            items = list(super().collect())
        finally:
            nbval.plugin.nbformat.read = read
        return items


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and file_path.suffix == ".md" and \
            file_path.parent == NOTEBOOKS:
        return JupytextNotebook.from_parent(parent, path=file_path)
    return None
