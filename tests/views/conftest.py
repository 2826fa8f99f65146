"""Headless Chromium for the report's browser tests: Debian's package, driven by Playwright.

Browser downloads are not possible here, so Playwright never fetches its own
build: it drives ``/usr/bin/chromium`` (Debian's ``chromium`` package), which
this setup installs with apt-get when it is missing and the tests run as root.
Where it cannot be installed, the browser tests are skipped and say why.
Every run gets a fresh profile, and the flags keep Chromium off the network
(this machine has none) and quiet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots and PDFs the browser tests leave for a person to look at.
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"


def _install_chromium() -> str | None:
    """Install Debian's chromium; return why it could not be, or None."""
    if not shutil.which("apt-get"):
        return "no apt-get on this machine (not Debian)"
    if os.geteuid() != 0:
        return "apt-get needs root: run `sudo apt-get install chromium` once"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
    ):
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=900, check=False
        )
        if argv[1] == "install" and proc.returncode == 0 and CHROMIUM.exists():
            return None
    return f"apt-get install chromium failed: {(proc.stderr or proc.stdout).strip()[-300:]}"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """/usr/bin/chromium, installed when missing; the test is skipped when it cannot be."""
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not CHROMIUM.exists():
        why = _install_chromium()
        if why is not None:
            pytest.skip(f"headless Chromium unavailable: {why}")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium context with a fresh profile, shared by the session's browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(chromium),
            args=FLAGS,
            headless=True,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new tab that records console errors, page errors, dialogs and every request made."""
    tab = browser.new_page()
    tab.problems = []  # type: ignore[attr-defined]
    tab.requests = []  # type: ignore[attr-defined]
    tab.on(
        "console",
        lambda m: tab.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    tab.on("pageerror", lambda e: tab.problems.append(f"page error: {e}"))
    tab.on("dialog", lambda d: (tab.problems.append(f"dialog: {d.message}"), d.dismiss()))
    tab.on("request", lambda r: tab.requests.append(r.url))
    try:
        yield tab
    finally:
        tab.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """out/test-artifacts/, where screenshots are kept."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
