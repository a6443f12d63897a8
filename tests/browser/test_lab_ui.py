"""Browser test: `make lab` serves JupyterLab and a real headless browser renders the start notebook.

The server is the real `make lab` (127.0.0.1, a token, a free port); the browser is Debian's
`chromium`, run headless with its background traffic switched off, so only loopback is used. The
page is JavaScript-heavy, so the DOM is dumped after a virtual-time budget and re-dumped until the
notebook is rendered or the deadline passes. Without chromium the test skips, unless
VIRTLAB_REQUIRE_LIVE=1 (CI), where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "notebooks" / "00-start-here.ipynb"
REQUIRE_LIVE = os.environ.get("VIRTLAB_REQUIRE_LIVE") == "1"
SERVER_DEADLINE = 90  # s for `make lab` to answer /api/status
RENDER_DEADLINE = 60  # s for the browser to show the rendered notebook
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--window-size=1280,900",
]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


def chromium() -> str:
    """Path of the chromium binary; skip (or, in CI, fail) when it is not installed."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        msg = ("chromium is not installed (apt-get install -y --no-install-recommends chromium); "
               "the browser test needs a real browser")
        if REQUIRE_LIVE:
            pytest.fail(f"VIRTLAB_REQUIRE_LIVE=1 but {msg}")
        pytest.skip(msg)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, grace: float = 20) -> None:
    """Stop a process started with start_new_session=True, and its whole process group."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers (kernels, browser helpers)


@contextlib.contextmanager
def make_lab(tmp: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `make lab` on a free port with a fresh token; yield the URL it prints."""
    port, token = free_port(), secrets.token_hex(16)
    log = tmp / "lab.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["make", "-s", "lab", f"LAB_PORT={port}", f"LAB_TOKEN={token}"],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + SERVER_DEADLINE
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/status", params={"token": token},
                                timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("JupyterLab did not come up:\n" + log.read_text()[-3000:])
            time.sleep(0.5)
        printed = re.search(r"http://127\.0\.0\.1:\d+/\S+", log.read_text())
        assert printed, "make lab printed no URL:\n" + log.read_text()[-3000:]
        yield printed.group(0)
    finally:
        # Opening the notebook started a kernel (its own session): shut it down via the API first.
        with contextlib.suppress(requests.RequestException, ValueError):
            api = f"http://127.0.0.1:{port}/api/kernels"
            for kernel in requests.get(api, params={"token": token}, timeout=5).json():
                requests.delete(f"{api}/{kernel['id']}", params={"token": token}, timeout=10)
        stop(proc)


def dump_dom(browser: str, url: str, tmp: Path, budget_ms: int, timeout: float) -> str:
    """The DOM chromium renders for ``url`` after ``budget_ms`` of virtual time ('' on timeout)."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp))
    proc = subprocess.Popen([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        dom, _ = proc.communicate(timeout=timeout)
        return dom
    except subprocess.TimeoutExpired:
        return ""
    finally:
        stop(proc, grace=5)
        shutil.rmtree(profile, ignore_errors=True)


class Rendered(HTMLParser):
    """Collect the page title, rendered markdown headings and output-area text of a DOM dump."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, in markdown, in output)
        self.title, self.headings, self.outputs = "", [], []
        self._heading: list[str] | None = None
        self.password_field = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "input" and a.get("name") == "password":
            self.password_field = True
        if tag in VOID:
            return
        md = (self.stack[-1][1] if self.stack else False) or "jp-RenderedMarkdown" in classes
        out = (self.stack[-1][2] if self.stack else False) or "jp-OutputArea-output" in classes
        self.stack.append((tag, md, out))
        if tag == "h1" and md:
            self._heading = []
        if out and "jp-OutputArea-output" in classes:
            self.outputs.append("")

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            top = self.stack.pop()[0]
            if top == "h1" and self._heading is not None:
                self.headings.append("".join(self._heading).strip())
                self._heading = None
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        tag = self.stack[-1][0] if self.stack else ""
        if tag == "title":
            self.title += data
        if self._heading is not None:
            self._heading.append(data)
        if self.stack and self.stack[-1][2] and self.outputs:
            self.outputs[-1] += data


def expected() -> tuple[str, list[str]]:
    """The start notebook's title and the first lines of its first stored output."""
    nb = json.loads(START.read_text())
    first_md = "".join(next(c for c in nb["cells"] if c["cell_type"] == "markdown")["source"])
    title = first_md.splitlines()[0].lstrip("# ").strip()
    stream = next(o for c in nb["cells"] if c["cell_type"] == "code"
                  for o in c["outputs"] if o["output_type"] == "stream")
    lines = [ln.rstrip() for ln in "".join(stream["text"]).splitlines() if ln.strip()][:5]
    return title, lines


def shows_notebook(page: Rendered, title: str, lines: list[str]) -> bool:
    text = "\n".join(page.outputs)
    return any(title in h for h in page.headings) and all(ln in text for ln in lines)


@pytest.mark.slow
def test_make_lab_renders_the_start_notebook_in_a_browser():
    browser = chromium()
    title, lines = expected()
    assert title.startswith("00 · Start here") and any("cgroup layout" in ln for ln in lines), \
        (title, lines)
    with tempfile.TemporaryDirectory(prefix="virtlab-browser-") as tmp, make_lab(Path(tmp)) as url:
        tmp_path = Path(tmp)
        assert "token=" in url and url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + RENDER_DEADLINE
        budget, page, tries = 10_000, None, 0
        while time.monotonic() < deadline:  # re-dump until rendered: the page is JS-heavy
            tries += 1
            dom = dump_dom(browser, url, tmp_path, budget, timeout=deadline - time.monotonic())
            if dom or page is None:  # keep the last page actually dumped, for the message
                page = Rendered(dom)
            if shows_notebook(page, title, lines):
                break
            budget = min(budget * 2, 40_000)
        assert page is not None and shows_notebook(page, title, lines), (
            f"after {tries} tries the browser did not render the notebook: title={page.title!r} "
            f"headings={page.headings[:3]!r} outputs={[o[:200] for o in page.outputs[:2]]!r}")
        assert "JupyterLab" in page.title and not page.password_field
        print(f"[browser] notebook rendered after {tries} dump(s), last budget {budget} ms")

        # The same page without the token, or with a wrong one: the login page, no notebook.
        bare = re.sub(r"[?&]token=[^&]*", "", url)
        assert "token=" not in bare and bare.endswith("/lab/tree/notebooks/00-start-here.ipynb")
        for attempt in (bare, bare + "?token=wrong" + secrets.token_hex(8)):
            dom = dump_dom(browser, attempt, tmp_path, 5_000, timeout=30)
            page = Rendered(dom)
            assert page.password_field, f"no login form for {attempt!r}: title={page.title!r}"
            assert page.title.strip() == "Jupyter Server", page.title
            assert not page.outputs and not page.headings
            assert title not in dom and not any(ln in dom for ln in lines)
