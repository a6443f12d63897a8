"""Browser fixtures: Playwright for Python driving Debian's chromium, and `make lab` isolated.

Playwright's own browser download is never used (`playwright install` cannot run offline): the
fixture launches the system chromium by path, with its background traffic switched off, so only
loopback is used. Without chromium or the playwright package the tests skip, unless
VIRTLAB_REQUIRE_LIVE=1 (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from test_lab_ui import REQUIRE_LIVE, chromium, make_lab

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
]


def missing(msg: str) -> None:
    """Skip on a laptop; fail in CI (VIRTLAB_REQUIRE_LIVE=1)."""
    if REQUIRE_LIVE:
        pytest.fail(f"VIRTLAB_REQUIRE_LIVE=1 but {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless Playwright Browser on the system chromium (one per session)."""
    path = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.vl_failed = report.failed
    return report


@pytest.fixture
def page(browser, request, tmp_path) -> Iterator[object]:
    """A fresh browser context (no cookies, no storage) and page; closed after the test. On a
    failure the page's screenshot is kept (its path is printed)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(30_000)
    pg = ctx.new_page()
    try:
        yield pg
    finally:
        if getattr(request.node, "vl_failed", False):
            with contextlib.suppress(Exception):
                pg.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"[browser] screenshot of the failed page: {tmp_path / 'failure.png'}")
        ctx.close()


@dataclass(frozen=True)
class Lab:
    """A running `make lab`: ``url`` as printed, ``base`` (scheme://host:port) and ``token``."""

    url: str
    base: str
    token: str

    def get(self, path: str, **kw: object) -> requests.Response:
        return requests.get(self.base + path, params={"token": self.token}, timeout=10, **kw)

    def shutdown_kernels(self) -> None:
        with contextlib.suppress(requests.RequestException, ValueError):
            for k in self.get("/api/kernels").json():
                requests.delete(f"{self.base}/api/kernels/{k['id']}",
                                params={"token": self.token}, timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException, ValueError):
                if not self.get("/api/kernels").json():
                    return
            time.sleep(0.2)


def isolated_settings(tmp: Path) -> dict[str, str]:
    """Environment for a JupyterLab whose user settings and workspaces live in ``tmp``, with
    the news pop-up off, and whose kernels run embedded (widgets are pure models)."""
    settings, workspaces = tmp / "lab-settings", tmp / "lab-workspaces"
    notif = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notif.parent.mkdir(parents=True)
    workspaces.mkdir()
    notif.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(workspaces), "VIRTLAB_MODE": "embedded"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    """The real `make lab` (127.0.0.1, fresh token, free port), settings isolated in a tmp dir."""
    chromium()  # skip before starting a server nobody can look at
    tmp = tmp_path_factory.mktemp("lab")
    with make_lab(tmp, env=isolated_settings(tmp)) as url:
        parts = urlsplit(url)
        token = dict(p.split("=", 1) for p in parts.query.split("&"))["token"]
        yield Lab(url, f"{parts.scheme}://{parts.netloc}", token)
