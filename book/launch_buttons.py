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
"""

from __future__ import annotations

import os
from collections.abc import Mapping


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


def setup(app):
    # before sphinx-book-theme reads its options (config-inited, builder-inited)
    app.connect("config-inited", _configure, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
