"""The course website: `tools/build_site.py` (what `make site` runs) builds offline into a tmp dir;
every episode is a page, no internal link is broken, recorded outputs are labelled, figures
carry alt text, each page has a Binder link and its provenance; then a real browser opens the
site over a loopback HTTP server and searches it."""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
EPISODES = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
BUILD_DEADLINE = 600  # s

pytestmark = pytest.mark.slow


class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.imgs: list[dict[str, str | None]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "img":
            self.imgs.append(a)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("jupyter_book", reason="jupyter-book<2 is in the test extra")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), "--out", str(out),
                           "--timeout", str(BUILD_DEADLINE)], capture_output=True, text=True,
                          timeout=BUILD_DEADLINE + 30, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "site" / "_build" / "html"


def test_every_episode_is_a_page_with_its_labels(site):
    for ep in EPISODES:
        text = (site / f"{ep}.html").read_text()
        assert f"mybinder.org/v2/gh/virtlab-course/containers-vs-vms/main?urlpath=lab/tree/notebooks/{ep}.ipynb" in text
        assert "vl-provenance" in text
        nb = (ROOT / "notebooks" / f"{ep}.ipynb").read_text()
        if 'modes.run(\\"' in nb:  # replays recordings: says where they were made
            assert "Live outputs last verified on" in text and "libvirt 9.0.0" in text, ep
        if "RECORDED, not live" in nb.split('"outputs"', 1)[-1] and "tag_vl-recorded" not in text:
            # the phrase may sit in prose only; every recorded *output* must be tagged
            assert "RECORDED, not live" not in "".join(
                seg for seg in text.split('class="cell_output')[1:]), ep
        for img in Page(text).imgs:
            if "_images/" in (img.get("src") or ""):
                assert len(img.get("alt") or "") >= 15, (ep, img)
    ledger = (site / "09-choosing.html").read_text()  # the claims ledger, as notebook 09 shows it
    assert '<table border="1" class="dataframe">' in ledger and "<th>verdict</th>" in ledger
    labelled = sum((site / f"{ep}.html").read_text().count("tag_vl-recorded") for ep in EPISODES)
    assert labelled >= 10
    css = (site / "_static" / "virtlab.css").read_text()
    assert ".tag_vl-recorded .cell_output::before" in css and "RECORDED, not live" in css


def test_no_broken_internal_link(site):
    pages = {p.relative_to(site).as_posix(): Page(p.read_text()) for p in site.rglob("*.html")}
    broken = []
    for name, page in pages.items():
        for href in page.links:
            parts = urlsplit(href)
            if parts.scheme or href.startswith("//") or href.startswith("mailto:"):
                continue
            target = (Path(name).parent / unquote(parts.path)).as_posix() if parts.path else name
            target = str(Path(target)).replace("\\", "/")
            norm = Path(target)
            resolved = (site / norm).resolve()
            if parts.path and not resolved.exists():
                broken.append((name, href))
                continue
            rel = resolved.relative_to(site.resolve()).as_posix() if parts.path else name
            if parts.fragment and rel in pages and parts.fragment not in pages[rel].ids:
                broken.append((name, href))
    assert not broken, broken[:20]
    assert all(f"{ep}.html" in pages for ep in EPISODES)


def test_browser_navigates_and_searches_the_site(site, page):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        page.goto(f"{base}/{EPISODES[0]}.html")
        nav = page.locator("nav.bd-links a.reference.internal")
        assert nav.count() >= len(EPISODES) - 1
        page.get_by_role("link", name="Next").first.click()
        page.wait_for_url(f"**/{EPISODES[1]}.html")
        badge = page.locator(".tag_vl-recorded .cell_output").first
        badge.scroll_into_view_if_needed()
        label = badge.evaluate("e => getComputedStyle(e, '::before').content")
        assert "RECORDED, not live" in label
        page.goto(f"{base}/search.html?q=hypercalls")
        results = page.locator("#search-results li a")
        results.first.wait_for(timeout=30_000)
        assert any("05-hypervisors" in (h or "") or "07-isolation" in (h or "")
                   for h in results.evaluate_all("els => els.map(e => e.getAttribute('href'))"))
    finally:
        server.shutdown()
