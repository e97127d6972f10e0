"""The course's JupyterLab settings (lab/jupyterlab-settings.json) are valid and installed."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from jupyterlab.commands import get_app_dir

from conftest import PROJECT

SETTINGS = PROJECT / "lab" / "jupyterlab-settings.json"
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
