"""pyproject.toml and environment.yml describe the same environment."""

from __future__ import annotations

import re

import tomllib
import yaml

from conftest import PROJECT

# conda-forge spells a few packages differently from PyPI.
CONDA_TO_PYPI = {"pysoundfile": "soundfile", "pytorch": "torch", "soxr-python": "soxr"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + [
        req for extra in ("dev", "book", "scale") for req in extras[extra]]
    pypi = dict(_split(r) for r in wanted)

    env = yaml.safe_load((PROJECT / "environment.yml").read_text())
    conda = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and not dep.startswith(("python", "pip")):
            name, spec = _split(dep)
            conda[CONDA_TO_PYPI.get(name, name)] = spec
        elif isinstance(dep, dict):  # pip: packages conda-forge lacks, and the project
            conda.update(_split(req) for req in dep["pip"] if not req.startswith("-e"))
    assert conda == pypi


def test_every_range_is_bounded():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        name, spec = _split(req)
        assert ">=" in spec and "<" in spec, f"{req}: want a lower and an upper bound"
        assert "==" not in spec, f"{req}: ranges, not exact pins"
