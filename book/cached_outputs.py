"""Sphinx extension: the executed notebook a page offers for download has its outputs.

With ``execute_notebooks: cache``, myst-nb renders a page from the cached execution but
writes the notebook it read, without outputs, to ``jupyter_execute/`` (from where the page's
download button serves it). After each page is read this extension writes the cached
outputs into that file, as a forced execution would have left them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_cached_outputs(app, doctree):
    from jupyter_cache import get_cache
    from myst_nb.sphinx_ import NbMetadataCollector

    env = app.env
    data = NbMetadataCollector.get_exec_data(env, env.docname)
    config = getattr(env, "mystnb_config", None)
    if not data or data.get("method") != "cache" or not data.get("succeeded") or not config:
        return
    path = Path(config.output_folder).joinpath(*(env.docname + ".ipynb").split("/"))
    if not path.exists():
        return
    notebook = nbformat.read(path, as_version=4)
    try:
        _, merged = get_cache(config.execution_cache_path).merge_match_into_notebook(notebook)
    except KeyError:
        return
    path.write_text(nbformat.writes(merged), encoding="utf8")


def setup(app):
    app.connect("doctree-read", write_cached_outputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
