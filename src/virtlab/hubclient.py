"""A learner's view of a classroom hub, over HTTP: log in with the form, get a token, start the
server through the hub's REST API, run cells in a kernel over its websocket — what a browser does.
Used by the classroom's live tests and by ``tools/classroom_size.py``."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

HUB = f"http://127.0.0.1:{os.environ.get('VIRTLAB_CLASSROOM_PORT', '8000')}"


class Learner:
    """One learner's browser-like session with the hub, and their server's kernel."""

    def __init__(self, name: str, password: str) -> None:
        self.name, self.password = name, password
        self.s = requests.Session()
        self.token = ""
        self.kernel = ""
        #: one session id for every websocket of this learner: the server buffers the kernel's
        #: messages for it between connections and replays them (as JupyterLab does)
        self.session = uuid.uuid4().hex
        # like a browser tab: one websocket to the kernel, kept open across cells, its event loop
        # always running in a thread (the server pings every 30 s and closes a connection that
        # does not answer); a connection per cell loses output when the server swaps connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ws: Any = None

    def login(self) -> None:
        r = self.s.get(f"{HUB}/hub/login", timeout=30)
        r.raise_for_status()
        xsrf = self.s.cookies.get("_xsrf")
        r = self.s.post(f"{HUB}/hub/login", data={"username": self.name, "password": self.password,
                                                 "_xsrf": xsrf}, timeout=60, allow_redirects=False)
        assert r.status_code == 302, f"login of {self.name} failed: {r.status_code} {r.text[:300]}"
        r = self.s.post(f"{HUB}/hub/api/users/{self.name}/tokens",
                        json={"note": "virtlab classroom test", "expires_in": 900},
                        headers={"X-XSRFToken": self.s.cookies.get("_xsrf") or ""}, timeout=30)
        assert r.status_code in (200, 201), r.text
        self.token = r.json()["token"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start_server(self, timeout: float = 180) -> None:
        r = requests.post(f"{HUB}/hub/api/users/{self.name}/server", headers=self.auth, timeout=60)
        assert r.status_code in (201, 202, 400), r.text  # 400: already running
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            u = requests.get(f"{HUB}/hub/api/users/{self.name}", headers=self.auth, timeout=30).json()
            srv = (u.get("servers") or {}).get("")
            if srv and srv.get("ready"):
                return
            time.sleep(1)
        raise AssertionError(f"{self.name}'s server did not become ready in {timeout} s")

    def stop_server(self) -> None:
        self.close()
        requests.delete(f"{HUB}/hub/api/users/{self.name}/server", headers=self.auth, timeout=60)

    def start_kernel(self) -> None:
        r = requests.post(f"{HUB}/user/{self.name}/api/kernels", headers=self.auth,
                          json={"name": "python3"}, timeout=60)
        assert r.status_code == 201, r.text
        self.kernel = r.json()["id"]

    def run(self, code: str, timeout: float = 240) -> str:
        """Execute ``code`` as a notebook cell in this learner's kernel; return its stdout."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                            name=f"hubclient-{self.name}")
            self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._run(code, timeout), self._loop)
        return fut.result(timeout + 60)

    def close(self) -> None:
        """Close the kernel websocket and its event loop (``stop_server`` does)."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._ws is not None:
            loop.call_soon_threadsafe(self._ws.close)
            self._ws = None
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        loop.close()

    async def _channel(self, timeout: float) -> Any:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        if self._ws is None:
            url = (f"ws{HUB[4:]}/user/{self.name}/api/kernels/{self.kernel}/channels"
                   f"?session_id={self.session}")
            ws = await websocket_connect(HTTPRequest(url, headers=self.auth, request_timeout=30))
            await self._wait_ready(ws, timeout)
            self._ws = ws
        return self._ws

    async def _run(self, code: str, timeout: float) -> str:
        ws = await self._channel(timeout)
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": self.name, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        out, err, status, idle = [], [], None, False
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            raw = await asyncio.wait_for(ws.read_message(), timeout=max(1.0, end - time.monotonic()))
            if raw is None:
                self._ws = None  # the next cell connects again
                raise AssertionError(f"{self.name}'s kernel websocket closed during a cell")
            m = json.loads(raw)
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            t = m["header"]["msg_type"]
            if t == "stream":
                (out if m["content"]["name"] == "stdout" else err).append(m["content"]["text"])
            elif t == "error":
                err.append("\n".join(m["content"]["traceback"]))
            elif t == "execute_reply":
                status = m["content"]["status"]
            elif t == "status" and m["content"]["execution_state"] == "idle":
                idle = True  # iopub: every output of the cell came before it
            if idle and status:  # the two channels are not ordered: either may come first
                break
        assert status == "ok", f"{self.name}'s cell failed: {''.join(err)[-3000:]}"
        return "".join(out)

    async def _wait_ready(self, ws: object, timeout: float) -> None:
        """A request sent before the kernel's channels are connected may be dropped, or its output
        lost: ask kernel_info until both its reply (shell) and its busy/idle (iopub) arrive."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            mid = uuid.uuid4().hex
            ws.write_message(json.dumps({  # type: ignore[attr-defined]
                "header": {"msg_id": mid, "username": self.name, "session": self.session,
                           "msg_type": "kernel_info_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "content": {}}))
            seen: set[str] = set()
            t = time.monotonic() + 3
            while time.monotonic() < t:
                try:
                    raw = await asyncio.wait_for(ws.read_message(), timeout=1)  # type: ignore[attr-defined]
                except TimeoutError:
                    continue
                if raw is None:
                    raise AssertionError(f"{self.name}'s kernel websocket closed")
                m = json.loads(raw)
                if m.get("parent_header", {}).get("msg_id") == mid:
                    seen.add(m.get("channel") or m["header"]["msg_type"])
                    if {"shell", "iopub"} <= seen:
                        return
        raise AssertionError(f"{self.name}'s kernel did not answer on both channels in {timeout} s")

    def run_notebook(self, path: str | os.PathLike[str], timeout: float = 600) -> list[str]:
        """Run a notebook's code cells in order in this learner's kernel, as JupyterLab's "Run
        All" does through the hub; return each cell's stdout. A failing cell raises, naming it."""
        nb = json.loads(Path(path).read_text())
        outs = []
        for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            try:
                outs.append(self.run(src, timeout))
            except AssertionError as err:
                raise AssertionError(f"{Path(path).name}, code cell {i + 1}: {err}") from None
        return outs

    def run_json(self, code: str, timeout: float = 240) -> dict:
        lines = self.run(code, timeout).strip().splitlines()
        return json.loads(lines[-1])

    def git_pull(self, repo: str, *, branch: str = "main", targetpath: str, timeout: float = 120) -> list[dict]:
        """What an nbgitpuller link does in this learner's server: clone ``repo`` into
        ``~/targetpath`` the first time, merge upstream changes later (keeping the learner's own
        edits). Returns nbgitpuller's progress events; the last one's ``phase`` is ``finished``
        or ``error``."""
        r = requests.get(f"{HUB}/user/{self.name}/git-pull/api", headers=self.auth, stream=True,
                         params={"repo": repo, "branch": branch, "targetpath": targetpath},
                         timeout=(30, timeout))
        assert r.status_code == 200, f"git-pull for {self.name}: {r.status_code} {r.text[:300]}"
        events = []
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
                if events[-1].get("phase") in ("finished", "error"):
                    break
        r.close()
        return events
