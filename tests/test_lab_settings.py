"""The course's JupyterLab settings (lab/jupyterlab-settings.json) are valid and installed;
saving a chapter from JupyterLab keeps its metadata (notebooks/jupytext.toml)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import jupytext
import pytest
from jupyterlab.commands import get_app_dir

from conftest import PROJECT

SETTINGS = PROJECT / "lab" / "jupyterlab-settings.json"
NOTEBOOKS = PROJECT / "notebooks"
#: Where `make setup` installs them: default settings of this environment's JupyterLab.
INSTALLED = Path(get_app_dir(), "settings", "overrides.d", "genre-lab.json")


def _settings() -> dict:
    return json.loads(SETTINGS.read_text())


def test_settings_say_what_the_course_needs():
    settings = _settings()
    viewers = settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Jupytext Notebook"  # the chapters are .md files
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


@pytest.mark.parametrize("plugin", list(_settings()))
def test_settings_match_jupyterlab_schemas(plugin):
    # plugin "@scope/package:name" has its schema in schemas/@scope/package/name.json
    package, name = plugin.split(":")
    schema = Path(get_app_dir(), "schemas", package, f"{name}.json")
    assert schema.exists(), f"this JupyterLab has no plugin {plugin} ({schema})"
    jsonschema.validate(_settings()[plugin], json.loads(schema.read_text()))


def test_settings_are_installed_in_this_environment():
    assert INSTALLED.exists() and json.loads(INSTALLED.read_text()) == _settings(), \
        f"{INSTALLED} is missing or stale: run `make setup` (conda: copy {SETTINGS} there)"


def test_saving_a_chapter_in_jupyterlab_keeps_its_metadata(tmp_path):
    # JupyterLab (its autosave too) writes a chapter through jupytext's contents manager,
    # which reads notebooks/jupytext.toml; without it the genre_lab budget was dropped.
    for name in ("jupytext.toml", "01-waveforms.md"):
        shutil.copy(NOTEBOOKS / name, tmp_path)
    manager = jupytext.TextFileContentsManager(root_dir=str(tmp_path))
    manager.save(manager.get("01-waveforms.md"), "01-waveforms.md")
    saved = jupytext.read(tmp_path / "01-waveforms.md")
    assert saved.metadata["genre_lab"] == \
        jupytext.read(NOTEBOOKS / "01-waveforms.md").metadata["genre_lab"]
    assert "jupytext_version" not in (tmp_path / "01-waveforms.md").read_text()



def test_no_lab_extension_is_flagged_but_the_one_the_browser_test_checks():
    """`jupyter labextension list` flags an extension built against other versions of
    JupyterLab's shared packages. jupyterlab-myst 2.7 is flagged on JupyterLab 4.6 (it
    declares @jupyter/ydoc ^3) and works there (tests/test_lab_browser.py renders a chapter's
    admonition); pyproject.toml pins the minor version, and any other flag fails here."""
    import re
    import subprocess
    import sys

    listed = subprocess.run([sys.executable, "-m", "jupyterlab.labextensions", "list"],
                            capture_output=True, text=True, timeout=120)
    out = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    assert listed.returncode == 0, out
    assert "jupyterlab-myst" in out and "jupyterlab-jupytext" in out, out
    flagged = re.findall(r'"([^"@]+)@[^"]+" is not compatible', out)
    assert set(flagged) <= {"jupyterlab-myst"}, out
