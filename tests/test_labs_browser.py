"""As a learner works: JupyterLab (the pinned one) in Chromium, driven by Playwright.

One test opens Lab 1's student notebook, runs all its cells from the Run menu and reads the
self-check messages on the page: every exercise reports "Not yet" and no cell shows an error. The
other double-clicks a chapter's MyST .md file in the file browser and checks that it opens as a
notebook (jupytext, through the overrides.json that ``make env`` installs), not in the text editor.
The server listens on 127.0.0.1 only, without a token, in a temporary folder. The tests skip only
when no Chromium is installed (Debian's /usr/bin/chromium; `playwright install` is never used).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from course_lib.grading import assignments

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (Debian: apt install chromium)"),
]
LAB1 = assignments.lab_path("lab01")
CHAPTER = ROOT / "chapters" / "01_recurrence.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("jupyterlab")
    work = root / "work"
    work.mkdir()
    student = assignments.student_notebook(assignments.read_master(LAB1))
    (work / LAB1.name).write_text(json.dumps(student), encoding="utf-8")
    shutil.copy(CHAPTER, work / CHAPTER.name)
    settings = root / "app-settings"  # the file `make env` installs, read from where the course ships it
    settings.mkdir()
    overrides = json.loads((ROOT / "labs" / "jupyterlab" / "overrides.json").read_text(encoding="utf-8"))
    # Render every cell, not only those on screen (JupyterLab 4 windows long notebooks), so the
    # test can read every output; and keep the news pop-up away.
    overrides["@jupyterlab/notebook-extension:tracker"] = {"windowingMode": "none"}
    overrides["@jupyterlab/apputils-extension:notification"] = {"fetchNews": "false"}
    (settings / "overrides.json").write_text(json.dumps(overrides), encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "rt"),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.root_dir={work}", "--IdentityProvider.token=", "--ServerApp.password=",
           f"--LabApp.app_settings_dir={settings}", f"--LabApp.user_settings_dir={root / 'user'}",
           f"--LabApp.workspaces_dir={root / 'workspaces'}"]  # fmt: skip
    if os.geteuid() == 0:  # CI containers often run as root, which Jupyter refuses without this flag
        cmd.append("--allow-root")
    log = open(root / "server.log", "wb")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=work)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError((root / "server.log").read_text()[-2000:]) from None
                time.sleep(1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_lab1_student_notebook_runs_in_jupyterlab_and_reports_its_self_checks(lab_url, browser) -> None:
    page = browser.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{lab_url}/lab/tree/{LAB1.name}")
    page.locator(".jp-NotebookPanel").first.wait_for()
    select = page.locator(".jp-Dialog button", has_text="Select")
    try:  # a fresh JupyterLab may ask which kernel to start: the default, the venv's python3
        select.first.wait_for(timeout=15_000)
        select.first.click()
    except PlaywrightTimeout:
        pass
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    outputs = page.locator(".jp-OutputArea-output")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        texts = outputs.all_inner_texts()
        if sum("Not yet" in t or "passed" in t for t in texts) >= 4:
            break
        time.sleep(1)
    texts = outputs.all_inner_texts()
    verdicts = [t for t in texts if "Not yet" in t or "passed" in t]
    assert len(verdicts) == 4, texts
    assert all(t.startswith("❌ Not yet") for t in verdicts), verdicts  # nothing is solved yet
    assert page.locator("[data-mime-type='application/vnd.jupyter.error']").count() == 0, texts
    page.close()


def test_double_clicking_a_chapter_opens_it_as_a_notebook(lab_url, browser) -> None:
    page = browser.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{lab_url}/lab")
    item = page.locator(".jp-DirListing-itemText", has_text=CHAPTER.name).first
    item.dblclick()
    panel = page.locator(".jp-NotebookPanel:visible").first
    panel.wait_for()
    # The panel appears before jupytext has filled it: wait for the first rendered markdown cell.
    panel.locator(".jp-MarkdownCell").first.wait_for()
    assert panel.locator(".jp-MarkdownCell").count() > 0
    assert page.locator(".jp-FileEditor:visible").count() == 0
    page.close()
