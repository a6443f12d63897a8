"""`make app`: Voilà serves the decision aid and density calculator on 127.0.0.1 with a token that
is on no command line; in a real browser the token is required and moving a control changes
the recommendation to what the model computes."""

from __future__ import annotations

import html
import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest
import requests
from test_lab_ui import ROOT, chromium, free_port, stop
from widgetlib import arm, redraw_ms

from virtlab.widgets.decision import DecisionWidget

pytestmark = pytest.mark.slow
DEADLINE = 90  # s for Voilà to answer


def lines(model_html: str) -> list[str]:
    return [ln.strip() for ln in html.unescape(re.sub(r"<[^>]+>", "", model_html)).splitlines()
            if ln.strip()]


def cmdlines(pgid: int) -> list[str]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if os.getpgid(int(p.name)) == pgid:
                    out.append((p / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, ProcessLookupError):
                continue
    return out


def test_make_app_needs_its_token_and_answers_in_the_browser(page, tmp_path):
    chromium()
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "VIRTLAB_APP_TOKEN": token}
    with (tmp_path / "app.log").open("w") as log:
        proc = subprocess.Popen(["make", "-s", "app", f"APP_PORT={port}"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                if requests.get(f"{base}/api/status", timeout=2).status_code in (200, 403):
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "app.log").read_text()[-3000:]
            time.sleep(0.5)
        assert f"?token={token}" in (tmp_path / "app.log").read_text()  # the URL it prints
        assert not any(token in c for c in cmdlines(proc.pid)), "token on a command line"
        # without the token: no app, the login form
        r = requests.get(f"{base}/", timeout=30, allow_redirects=True)
        assert "DecisionWidget" not in r.text and "login" in r.url
        page.goto(f"{base}/?token=wrong{secrets.token_hex(8)}")
        assert page.locator("input[name=password]").count() >= 1 and "login" in page.url
        assert page.locator(".widget-dropdown").count() == 0
        # with it: the widgets, driven
        page.goto(f"{base}/?token={token}", timeout=60_000)
        model = DecisionWidget()
        iso = page.locator(".widget-dropdown:has(> label:text-is('isolation needed')) select")
        iso.wait_for(timeout=60_000)
        out = page.locator(".widget-box:has(label:text-is('isolation needed')) > .widget-html")
        text = out.first.inner_text()
        assert all(ln in text for ln in lines(model.render()))
        assert page.locator(".widget-box:has(label:text-is('host RAM (MiB)'))").count() >= 1
        for value in ("hostile-tenants", "trusted"):
            model.controls["isolation"].value = value
            want = lines(model.render())
            arm(out.first, want[0])
            iso.select_option(value)
            ms = redraw_ms(page)
            text = out.first.inner_text()
            assert all(ln in text for ln in want), (value, text[:800])
            print(f"[app] decision -> {value}: {ms:.1f} ms")
    finally:
        stop(proc)
