"""pyproject.toml and environment.yml describe the same environment; under tools/avx2.py, the
libraries do compute as a CPU without AVX-512."""

from __future__ import annotations

import os
import re

import pytest
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


@pytest.mark.skipif(os.environ.get("GENRE_LAB_ISA") != "avx2",
                    reason="runs under tools/avx2.py (make test-avx2)")
def test_the_avx2_caps_are_in_force():
    """`make test-avx2` tests the AVX2 path only if every library obeys its switch (NumPy
    ignores a dispatch name it does not know, with a warning: that once left it on AVX-512)."""
    import subprocess
    import sys

    from tools import avx2

    assert avx2.problems() == []
    # and in a process the tests start, as nbval starts notebook kernels
    child = subprocess.run([sys.executable, str(PROJECT / "tools" / "avx2.py"), "--check"],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stdout + child.stderr
