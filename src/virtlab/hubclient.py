"""A learner's view of a classroom hub, over HTTP: log in with the form, get a token, start the
server through the hub's REST API, run cells in a kernel over its websocket — what a browser does.
Used by the classroom's live tests and by ``tools/classroom_size.py``."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

import requests

HUB = f"http://127.0.0.1:{os.environ.get('VIRTLAB_CLASSROOM_PORT', '8000')}"


class Learner:
    """One learner's browser-like session with the hub, and their server's kernel."""

    def __init__(self, name: str, password: str) -> None:
        self.name, self.password = name, password
        self.s = requests.Session()
        self.token = ""
        self.kernel = ""

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
        requests.delete(f"{HUB}/hub/api/users/{self.name}/server", headers=self.auth, timeout=60)

    def start_kernel(self) -> None:
        r = requests.post(f"{HUB}/user/{self.name}/api/kernels", headers=self.auth,
                          json={"name": "python3"}, timeout=60)
        assert r.status_code == 201, r.text
        self.kernel = r.json()["id"]

    def run(self, code: str, timeout: float = 240) -> str:
        """Execute ``code`` as a notebook cell in this learner's kernel; return its stdout."""
        return asyncio.run(self._run(code, timeout))

    async def _run(self, code: str, timeout: float) -> str:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = f"ws{HUB[4:]}/user/{self.name}/api/kernels/{self.kernel}/channels"
        ws = await websocket_connect(HTTPRequest(url, headers=self.auth, request_timeout=30))
        await self._wait_ready(ws, timeout)
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": self.name, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        out, err, status = [], [], None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            raw = await asyncio.wait_for(ws.read_message(), timeout=max(1.0, end - time.monotonic()))
            if raw is None:
                break
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
            elif t == "status" and m["content"]["execution_state"] == "idle" and status:
                break
        ws.close()
        assert status == "ok", f"{self.name}'s cell failed: {''.join(err)[-3000:]}"
        return "".join(out)

    async def _wait_ready(self, ws: object, timeout: float) -> None:
        """A request sent before the kernel answers may be dropped: ask kernel_info until then."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            mid = uuid.uuid4().hex
            ws.write_message(json.dumps({  # type: ignore[attr-defined]
                "header": {"msg_id": mid, "username": self.name, "session": uuid.uuid4().hex,
                           "msg_type": "kernel_info_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "content": {}}))
            t = time.monotonic() + 3
            while time.monotonic() < t:
                try:
                    raw = await asyncio.wait_for(ws.read_message(), timeout=1)  # type: ignore[attr-defined]
                except TimeoutError:
                    continue
                if raw is None:
                    raise AssertionError(f"{self.name}'s kernel websocket closed")
                m = json.loads(raw)
                if (m.get("parent_header", {}).get("msg_id") == mid
                        and m["header"]["msg_type"] == "kernel_info_reply"):
                    return
        raise AssertionError(f"{self.name}'s kernel did not answer in {timeout} s")

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
