"""The student's path through JupyterLab, in a real browser (Playwright and the system Chromium).

JupyterLab starts as ``make lab`` starts it, with this environment's settings (``make setup``
installs lab/jupyterlab-settings.json), on a copy of the chapters so that its autosave never
touches the checkout. Chapter 1 and chapter 6 are opened by a double-click in the file
browser; chapter 1 runs in full and chapter 6 up to its explorer; then one control of each
explorer changes and the explorer must redraw in place. Screenshots of both explorers go to
``.cache/lab-check/``.

Skips without Playwright or a Chromium (``apt-get install chromium``); fails instead when
``GENRE_LAB_REQUIRE_BROWSER=1`` (set by ``.ci/run``). Takes about a minute.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from conftest import PROJECT

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = PROJECT / ".cache" / "lab-check"
EXPLORER = ".widget-output img"
_opened = {}


def _need(condition: bool, reason: str):
    if not condition:
        if os.environ.get("GENRE_LAB_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The URL of a JupyterLab serving a copy of notebooks/, as `make lab` starts it."""
    _need(CHROMIUM is not None, "no Chromium (chromium, chromium-browser or google-chrome)")
    _need(importlib.util.find_spec("playwright") is not None, "playwright is not installed")
    tmp = tmp_path_factory.mktemp("lab")
    shutil.copytree(PROJECT / "notebooks", tmp / "notebooks")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the user's own settings, workspaces and config stay out of the check
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / "user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(tmp / "config"))
    command = [sys.executable, "-m", "jupyterlab", "notebooks", "--no-browser",
               f"--port={port}", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=",
               "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp / "server.log", "w")
    server = subprocess.Popen(command, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.2)
        else:
            pytest.fail("JupyterLab did not answer within a minute")
        assert server.poll() is None, (tmp / "server.log").read_text()[-3000:]
        yield url
    finally:
        for kernel in json.load(urllib.request.urlopen(f"{url}/api/kernels", timeout=10)) \
                if server.poll() is None else []:
            urllib.request.urlopen(urllib.request.Request(
                f"{url}/api/kernels/{kernel['id']}", method="DELETE"), timeout=30)
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture
def shot(request, page):
    """On failure, a screenshot of the whole page in .cache/lab-check/."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"failed-{request.node.name}.png")


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{lab}/lab")
        _opened["at"] = time.monotonic()
        yield page
        browser.close()


def _open(page, name: str):
    """Double-click a chapter in the file browser; return its notebook panel."""
    page.locator(".jp-DirListing-item", has_text=name).dblclick()
    panel = page.locator(".jp-NotebookPanel:visible, .jp-FileEditor:visible").first
    panel.wait_for()
    assert "jp-NotebookPanel" in panel.get_attribute("class"), \
        f"{name} opened in the text editor, not as a notebook"
    panel.locator(".jp-Notebook-cell").first.wait_for()
    return panel


def _run(page, command: str):
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator(f'li[data-command="{command}"]').click()


def _kernel_idle(lab: str, name: str):
    """Wait until the notebook's kernel has started and is idle (JupyterLab's REST API): a
    run command given while the kernel is still starting can be lost on a busy machine."""
    for _ in range(600):
        sessions = json.load(urllib.request.urlopen(f"{lab}/api/sessions", timeout=10))
        states = [s["kernel"]["execution_state"] for s in sessions
                  if s.get("path", "").endswith(name) and s.get("kernel")]
        if states and states[0] == "idle":
            return
        time.sleep(0.5)
    raise AssertionError(f"the kernel of {name} did not become idle: {states}")


def _started(panel, seconds: float = 30) -> bool:
    """Whether any code cell of the notebook left its never-run state ``[ ]:`` within
    ``seconds``. Any cell, not the first: on warm caches Run All can finish and scroll to the
    end before we look, and JupyterLab leaves cells far out of view unrendered (no prompt)."""
    prompts = panel.locator(".jp-CodeCell .jp-InputPrompt")
    for _ in range(int(seconds * 2)):
        if any(text.strip() not in ("[ ]:", "") for text in prompts.all_inner_texts()):
            return True
        time.sleep(0.5)
    return False


def _wait_done(cell):
    """Wait until the cell has run: its prompt shows a number, not [*] or [ ]."""
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(1200):
        if prompt.inner_text().strip()[1:-2].isdigit():
            return
        time.sleep(0.5)
    raise AssertionError(f"the cell did not finish: {prompt.inner_text()}")


def _pixels(img) -> np.ndarray:
    src = img.get_attribute("src")
    assert src.startswith("data:image/png;base64,"), src[:60]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("L"))


def _change_and_check(page, cell, change, shot: str):
    """Change a control; the explorer must draw a new, non-blank figure in its own output."""
    img = cell.locator(EXPLORER)
    img.wait_for()
    before = img.get_attribute("src")
    assert _pixels(img).std() > 10, "the explorer's first figure is blank"
    change()
    for _ in range(120):  # the output clears, then the new figure arrives
        page.wait_for_timeout(500)
        if img.count() == 1 and img.get_attribute("src") != before:
            break
    page.wait_for_timeout(1000)  # anything still arriving, or going astray
    assert img.count() == 1, f"{img.count()} figures in the explorer, not one"
    assert img.get_attribute("src") != before, "the explorer did not redraw"
    assert _pixels(img).std() > 10, "a blank figure after the first change"
    log = page.locator(".jp-LogConsoleStatusItem").inner_text().strip()
    assert log in ("", "0"), f"{log} output(s) went to JupyterLab's log console"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    cell.screenshot(path=SCREENSHOTS / shot)


def test_chapter_1_opens_as_a_notebook_and_its_explorer_redraws(lab, page, shot):
    panel = _open(page, "01-waveforms.md")
    # jupyterlab-myst renders the chapter's first admonition as the book does, not as text
    admonition = panel.locator(".jp-MarkdownCell").first.locator(".myst-admonition")
    admonition.wait_for()
    assert admonition.locator(".myst-admonition-header").inner_text().strip() == "In this chapter"

    _kernel_idle(lab, "01-waveforms.md")
    panel.locator(".jp-Notebook").click()
    _run(page, "runmenu:run-all")
    assert _started(panel), "Run All did not start the chapter"
    cell = panel.locator(".jp-CodeCell", has=page.locator(".widget-output"))
    cell.wait_for(timeout=300_000)
    _wait_done(panel.locator(".jp-CodeCell").last)
    cell.scroll_into_view_if_needed()
    hop = cell.get_by_label("hop", exact=True)
    _change_and_check(page, cell, lambda: hop.select_option("1024"), "01-waveforms.png")


def test_chapter_6_explorer_draws_on_its_first_change(lab, page, shot):
    panel = _open(page, "06-augmentation.md")
    cell = panel.locator(".jp-CodeCell", has=page.locator(".cm-content",
                                                          has_text="augmentation_explorer("))
    _kernel_idle(lab, "06-augmentation.md")
    cell.locator(".jp-InputPrompt").click()  # select it
    _run(page, "notebook:run-all-above")
    _run(page, "notebook:run-cell")
    _wait_done(cell)
    augment = cell.get_by_label("augment", exact=True)
    _change_and_check(page, cell, lambda: augment.select_option("noise"), "06-augmentation.png")


def test_no_news_pop_up(page):
    page.wait_for_timeout(max(0.0, 10 - (time.monotonic() - _opened["at"])) * 1000)
    assert "Jupyter news" not in " ".join(page.locator(".Toastify__toast").all_inner_texts())
