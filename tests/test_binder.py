"""The repository launches on Binder/JupyterHub: repo2docker's configuration (binder/) installs
what `make setup` installs, and the book's pages carry launch buttons only when the course's
repository is given (book/launch_buttons.py)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import tomllib
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from test_environment import _split

from conftest import PROJECT

BINDER = PROJECT / "binder"
MAKEFILE = (PROJECT / "Makefile").read_text()
PROJECT_META = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
#: What binder/postBuild copies lab/jupyterlab-settings.json to, as the Makefile says.
LAB_SETTINGS = Path("share", "jupyter", "lab", "settings", "overrides.d", "genre-lab.json")


def _make(name: str) -> str:
    return re.search(rf"^{name} \?= (.*)$", MAKEFILE, re.M).group(1).strip()


def _requirements() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_binder_folder_overrides_the_conda_file():
    # repo2docker reads binder/ only when it exists: environment.yml at the root (conda's
    # pytorch, not the CPU wheel) is then ignored
    for name in ("requirements.txt", "postBuild", "runtime.txt"):
        assert (BINDER / name).is_file(), name
    assert os.access(BINDER / "postBuild", os.X_OK)
    assert (BINDER / "postBuild").read_text().startswith("#!/bin/bash\n")


def test_torch_is_the_makefiles_cpu_wheel():
    requirements = _requirements()
    assert "--index-url https://download.pytorch.org/whl/cpu" in requirements
    assert "--index-url https://download.pytorch.org/whl/cpu" in MAKEFILE  # its CPU note
    torch = [r for r in requirements if not r.startswith("-")]
    assert torch == [_make("TORCH")]
    name, spec = _split(torch[0])
    pyproject = dict(_split(r) for r in PROJECT_META["dependencies"])
    assert Version(spec.removeprefix("==")) in SpecifierSet(pyproject[name])


def test_python_version_suits_the_project():
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    assert Version(version) in SpecifierSet(PROJECT_META["requires-python"])


def _installs(text: str) -> set[str]:
    """The quoted requirements of the `pip install` lines in a script or recipe."""
    return {spec for line in text.splitlines() if "pip install" in line
            for spec in re.findall(r'"([^"$]+)"', line)}


def test_postbuild_installs_what_make_setup_installs(tmp_path):
    """Runs binder/postBuild with a `pip` that only records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "pip.log"
    for name, script in (("pip", f'echo "$*" >> "{log}"'),
                         ("python", f'exec "{sys.executable}" "$@"')):
        (bin_dir / name).write_text(f"#!/bin/bash\n{script}\n")
        (bin_dir / name).chmod(0o755)
    prefix = tmp_path / "prefix"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "NB_PYTHON_PREFIX": str(prefix)}
    subprocess.run([str(BINDER / "postBuild")], cwd=PROJECT, env=env, check=True, timeout=60)

    calls = log.read_text().splitlines()
    # the project with the Makefile's extras, then musicnn as the Makefile pins it
    wanted = _installs(MAKEFILE)  # (torch is "$(TORCH)": a variable, left out)
    assert wanted == {".[dev,book,scale]", "musicnn==0.1.0"}, wanted
    assert wanted <= _installs((BINDER / "postBuild").read_text())
    # not editable: the image's copy of the repository is hidden by a hub's home volume
    assert any(" .[dev,book,scale]" in call and "-e" not in call.split() for call in calls), calls
    assert any("--no-deps musicnn==0.1.0" in call for call in calls), calls
    # the only package added to pyproject.toml's (Notebook 7, also upgraded, is repo2docker's):
    # the JupyterHub button's nbgitpuller, with bounds as test_environment wants of ranges
    extra = [_split(spec) for spec in _installs((BINDER / "postBuild").read_text()) - wanted]
    assert [name for name, _ in extra] == ["nbgitpuller"]
    assert ">=" in extra[0][1] and "<" in extra[0][1]
    assert (prefix / LAB_SETTINGS).read_text() == \
        (PROJECT / "lab" / "jupyterlab-settings.json").read_text()
    assert str(LAB_SETTINGS) in MAKEFILE.replace("$(VENV)/", "")


def _repo2docker() -> list[str] | None:
    if importlib.util.find_spec("repo2docker") is not None:
        return [sys.executable, "-m", "repo2docker"]
    command = shutil.which("jupyter-repo2docker")
    return [command] if command else None


def test_repo2docker_reads_the_binder_folder():
    """`jupyter-repo2docker --no-build` prints the Dockerfile it would build (no Docker)."""
    command = _repo2docker()
    if command is None:
        pytest.skip("jupyter-repo2docker is not installed (pip install jupyter-repo2docker)")
    out = subprocess.run([*command, "--no-build", "--debug", "."], cwd=PROJECT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]
    dockerfile = out.stdout
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    assert f"environment.py-{version}-linux-64.lock" in dockerfile.replace("-2e", ".") \
        .replace("-2d", "-")
    # one environment: the Jupyter server and the kernel (so jupytext reaches the server)
    assert "ENV KERNEL_PYTHON_PREFIX=${NB_PYTHON_PREFIX}" in dockerfile
    # torch before the repository is copied (a cached layer), then postBuild
    torch = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    copy = dockerfile.index(" src/ ${REPO_DIR}/")  # the whole repository
    assert torch < copy < dockerfile.index("RUN ./binder/postBuild")
    assert "environment.yml" not in dockerfile


# ---- launch buttons ----

# book/launch_buttons.py, loaded without putting book/ (its build.py...) on sys.path
_spec = importlib.util.spec_from_file_location("launch_buttons",
                                               PROJECT / "book" / "launch_buttons.py")
launch_buttons = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launch_buttons)

REPOSITORY = "https://github.com/some-school/genre-lab-2027"
HUB = "https://hub.some-school.edu"


def test_no_repository_no_buttons():
    assert launch_buttons.theme_options({}) == {}
    assert launch_buttons.theme_options({"GENRE_LAB_JUPYTERHUB": HUB}) == {}
    config = yaml.safe_load((PROJECT / "book" / "_config.yml").read_text())
    assert "repository" not in config and "use_repository_button" not in config["html"]
    assert set(config["launch_buttons"]) == {"notebook_interface"}  # no Colab, no URL


def test_repository_gives_binder_and_optional_hub():
    options = launch_buttons.theme_options({"GENRE_LAB_REPOSITORY": REPOSITORY + "/"})
    assert options == {"repository_url": REPOSITORY, "repository_branch": "main",
                       "use_repository_button": True,
                       "launch_buttons": {"binderhub_url": "https://mybinder.org"}}
    options = launch_buttons.theme_options({
        "GENRE_LAB_REPOSITORY": REPOSITORY, "GENRE_LAB_BINDERHUB": "",
        "GENRE_LAB_JUPYTERHUB": HUB, "GENRE_LAB_BRANCH": "spring"})
    assert options["launch_buttons"] == {"jupyterhub_url": HUB}
    assert options["repository_branch"] == "spring"


def _page(tiny_path: Path, environ: dict) -> str:
    """A one-page book with the course's launch settings, built; the page's HTML."""
    pytest.importorskip("jupyter_book")
    from test_book_build import NOTEBOOK

    config = yaml.safe_load((PROJECT / "book" / "_config.yml").read_text())
    tiny_path.mkdir()
    tiny = {key: config[key] for key in ("title", "launch_buttons", "html")}
    tiny["execute"] = {"execute_notebooks": "force"}  # the button needs the executed .ipynb
    tiny["sphinx"] = {"local_extensions": {"launch_buttons": str(PROJECT / "book")}}
    (tiny_path / "_config.yml").write_text(yaml.safe_dump(tiny))
    (tiny_path / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    (tiny_path / "page.md").write_text(NOTEBOOK.format(title="page", first="1", second="2"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("GENRE_LAB_")}
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    out = subprocess.run([str(jupyter_book), "build", str(tiny_path), "--warningiserror"],
                         env={**env, **environ}, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    return (tiny_path / "_build" / "html" / "page.html").read_text()


def _links(html: str) -> list[str]:
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', html)]


def test_built_page_has_buttons_only_with_a_repository(tmp_path):
    html = _page(tmp_path / "with", {"GENRE_LAB_REPOSITORY": REPOSITORY,
                                     "GENRE_LAB_JUPYTERHUB": HUB})
    links = _links(html)
    assert "https://mybinder.org/v2/gh/some-school/genre-lab-2027/main" \
        "?urlpath=lab/tree/page.md" in links
    hub = [urlsplit(link) for link in links if link.startswith(HUB)]
    assert [(u.path, parse_qs(u.query)) for u in hub] == [
        ("/hub/user-redirect/git-pull", {"repo": [REPOSITORY], "branch": ["main"],
                                         "urlpath": ["lab/tree/genre-lab-2027/page.md"]})]
    assert REPOSITORY in links  # the repository button
    assert "colab" not in html.lower()

    html = _page(tmp_path / "without", {})
    assert "some-school" not in html and "mybinder" not in html and "git-pull" not in html
    assert "launch" not in " ".join(_links(html)).lower()


def test_start_gives_the_kernels_half_the_cores_and_runs_the_command():
    """binder/start (repo2docker runs it before JupyterLab): one torch thread per two cores,
    as `make lab`, unless set; then the command it was given."""
    start = BINDER / "start"
    assert os.access(start, os.X_OK)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([str(start), "sh", "-c", 'echo "$OMP_NUM_THREADS $MKL_NUM_THREADS"'],
                         env=env, check=True, capture_output=True, text=True, timeout=30).stdout
    half = str(max(1, (os.cpu_count() or 2) // 2))
    assert out.split() == [half, half]
    out = subprocess.run([str(start), "sh", "-c", 'echo "$OMP_NUM_THREADS"'],
                         env=dict(env, OMP_NUM_THREADS="3"), check=True, capture_output=True,
                         text=True, timeout=30).stdout
    assert out.split() == ["3"]
