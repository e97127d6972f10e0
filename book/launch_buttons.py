"""Sphinx extension: the book's repository and launch buttons, from the environment.

The course lives wherever an instructor puts it, so its address is a setting, not a value in
``_config.yml``: without ``GENRE_LAB_REPOSITORY`` a page has no repository or launch button.

    GENRE_LAB_REPOSITORY=https://github.com/ORG/genre-lab   # the course's git repository
    GENRE_LAB_BRANCH=main                                   # the branch the buttons open
    GENRE_LAB_BINDERHUB=https://mybinder.org                # the default; empty: no Binder
    GENRE_LAB_JUPYTERHUB=https://hub.example.edu            # unset: no JupyterHub button
    GENRE_LAB_REPOSITORY_PROVIDER=gitlab                    # a host other than github.com,
                                                            # gitlab.com or bitbucket.org

Binder builds the repository with repo2docker (``binder/``); the JupyterHub button is an
nbgitpuller link that clones the repository into the student's home on that hub. Both open
a chapter's ``.md`` source, which JupyterLab shows as a notebook through jupytext.

Two fixes to the pages' header, with or without a repository:

- the download button offers a chapter's executed ``.ipynb`` (sphinx-book-theme copies it
  to ``_sources/`` only for a page with a Binder or JupyterHub button);
- sphinx-thebe's inline config script appears once: Sphinx 7.4 writes twice an inline
  script that an extension registers after ``Builder.init`` (once as filename None, once as
  ''), and the second ``const THEBE_JS_URL`` threw "Identifier 'THEBE_JS_URL' has already
  been declared" on every page.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path


def theme_options(environ: Mapping[str, str] = os.environ) -> dict:
    """The sphinx-book-theme options that the environment sets: none without a repository."""
    url = environ.get("GENRE_LAB_REPOSITORY", "").strip().rstrip("/")
    if not url:
        return {}
    options = {"repository_url": url, "use_repository_button": True,
               "repository_branch": environ.get("GENRE_LAB_BRANCH", "").strip() or "main"}
    if provider := environ.get("GENRE_LAB_REPOSITORY_PROVIDER", "").strip():
        options["repository_provider"] = provider
    launch = {"binderhub_url": environ.get("GENRE_LAB_BINDERHUB", "https://mybinder.org"),
              "jupyterhub_url": environ.get("GENRE_LAB_JUPYTERHUB", "")}
    options["launch_buttons"] = {key: value.strip() for key, value in launch.items()
                                 if value.strip()}
    return options


def _configure(app, config) -> None:
    options = theme_options()
    if not options:
        return
    theme = config.html_theme_options
    # keep _config.yml's launch_buttons settings (the notebook interface)
    options["launch_buttons"] = {**theme.get("launch_buttons", {}), **options["launch_buttons"]}
    theme.update(options)


def _notebook_download(app, pagename, templatename, context, doctree) -> None:
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if context.get("page_source_suffix") == ".ipynb" or not executed.is_file():
        return  # an .ipynb source is offered as it is; a page that is no notebook has none
    copy = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, copy)
    context["ipynb_source"] = f"{pagename}.ipynb"  # what the theme's download button reads


def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        key = (getattr(script, "filename", script) or "", getattr(script, "priority", None),
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # the builder's list: it is restored before the next page


def setup(app):
    # before sphinx-book-theme reads its options (config-inited, builder-inited)
    app.connect("config-inited", _configure, priority=400)
    # before sphinx-book-theme builds the header buttons (priority 501)
    app.connect("html-page-context", _notebook_download, priority=400)
    # after the other extensions added this page's scripts
    app.connect("html-page-context", _unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
