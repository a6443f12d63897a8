"""One LXD instance: the ``Instance`` handle (state, start/stop, exec, snapshots, files, host pid).
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtlab import OWNER_KEY, OWNER_VALUE, owners
from virtlab.lxd.client import (
    ExecResult,
    LxdError,
    _exists,
    _http_timeout,
    _translate,
    _wait,
    url_name,
)
from virtlab.safety import (
    Deadline,
    check_int,
    course_name,
)


# --------------------------------------------------------------------------- instances
@dataclass
class InstanceState:
    """A snapshot of an instance's runtime state, as LXD and the host kernel see it."""

    name: str
    status: str  # Running / Stopped / Frozen
    pid: int | None  # the container's init process, as a host pid
    memory_bytes: int | None
    memory_peak_bytes: int | None
    processes: int | None
    cgroup: dict[str, str] = field(default_factory=dict)  # controller -> host cgroup path


class Instance:
    """One course-owned LXD instance (container). Get one from :func:`launch`/:func:`instance`."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def __repr__(self) -> str:
        return f"<lxd.Instance {self.name}>"

    # -- context manager: always deleted on exit
    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete(missing_ok=True)

    @property
    def _node(self) -> Any:
        return self.client.api.instances[self.name]

    def info(self) -> dict[str, Any]:
        """The instance's record (``GET /1.0/instances/<name>``)."""
        with _translate(f"instance {self.name}"):
            return self._node.get(timeout=(5.0, 15.0)).json()["metadata"]

    @property
    def config(self) -> dict[str, str]:
        """The instance's own config keys (limits, ``user.virtlab.owner`` ...)."""
        return dict(self.info().get("config") or {})

    def state(self) -> InstanceState:
        """Status, init pid (host view), memory use and peak, process count, cgroup paths."""
        with _translate(f"state of {self.name}"):
            st = self._node.state.get(timeout=(5.0, 15.0)).json()["metadata"]
        pid = st.get("pid") or None
        mem = st.get("memory") or {}
        cg: dict[str, str] = {}
        if pid:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
                    _, ctrls, path = line.split(":", 2)
                    for c in (ctrls.split(",") if ctrls else ["unified"]):
                        cg[c] = path
        return InstanceState(self.name, st.get("status", "?"), pid, mem.get("usage"),
                             mem.get("usage_peak"), st.get("processes"), cg)

    # -- lifecycle
    def _set_state(self, action: str, *, force: bool = False, timeout: float = 30.0,
                   stateful: bool = False) -> None:
        d = Deadline(timeout, f"{action} {self.name}",
                     "the instance did not react; try stop(force=True), then delete()")
        body = {"action": action, "timeout": int(max(1, timeout - 1)) if not force else -1,
                "force": force, "stateful": stateful}
        with _translate(f"{action} {self.name}"):
            r = self._node.state.put(json=body, timeout=_http_timeout(d))
        _wait(self.client, r, d)

    def start(self, timeout: float = 30.0) -> None:
        """Start the instance and wait until LXD reports it started (deadline ``timeout`` s)."""
        self._set_state("start", timeout=timeout)

    def stop(self, *, force: bool = True, timeout: float = 30.0) -> None:
        """Stop it: ``force=True`` kills at once (pylxd's default too); ``False`` asks init to
        shut down cleanly (SIGPWR) and waits up to ``timeout`` s."""
        try:
            self._set_state("stop", force=force, timeout=timeout)
        except LxdError as err:
            if "already stopped" not in str(err).lower():
                raise

    def restart(self, *, force: bool = True, timeout: float = 30.0) -> None:
        self._set_state("restart", force=force, timeout=timeout)

    def delete(self, *, missing_ok: bool = False, timeout: float = 30.0) -> None:
        """Force-stop (if running) and delete the instance, with its snapshots."""
        d = Deadline(timeout, f"delete {self.name}")
        try:
            st = self.state()
        except LookupError:
            if missing_ok:
                return
            raise
        while True:
            try:
                if st.status != "Stopped":
                    self.stop(force=True, timeout=max(1.0, d.remaining()))
                with _translate(f"delete {self.name}"):
                    r = self._node.delete(timeout=_http_timeout(d))
                _wait(self.client, r, d)
                return
            except LxdError as err:
                # another client's operation on it (a stop, a cleanup) is still running: LXD
                # refuses ours with "Instance is busy running a ... operation"; wait for it
                if "busy running" not in str(err).lower() or d.remaining() < 0.5:
                    raise
            time.sleep(0.2)
            try:
                st = self.state()
            except LookupError:
                return  # the other operation was a delete

    # -- running commands
    def exec(self, cmd: Sequence[str], *, timeout: float = 60.0,
             env: dict[str, str] | None = None, cwd: str | None = None,
             user: int | None = None) -> ExecResult:
        """Run ``cmd`` (a list, never a shell string) inside the instance; return
        ``(code, out, err)``.

        A command still running after ``timeout`` seconds raises ``DeadlineExceeded`` (it keeps
        running inside the container until the instance stops). Uses LXD's recorded-output exec
        (no websockets), so it is as fast as ``lxc exec``.
        """
        if isinstance(cmd, str) or not cmd or not all(isinstance(c, str) for c in cmd):
            raise ValueError("cmd must be a non-empty list of strings, e.g. ['uname', '-r'] "
                             "(for a shell pipeline use ['sh', '-c', '...'])")
        d = Deadline(timeout, f"exec {cmd[0]!r} in {self.name}",
                     "the command is still running inside the container; stop the instance")
        body: dict[str, Any] = {"command": list(cmd), "environment": dict(env or {}),
                                "wait-for-websocket": False, "interactive": False,
                                "record-output": True}
        if cwd:
            body["cwd"] = cwd
        if user is not None:
            body["user"] = check_int(user, minimum=0, maximum=2**32 - 2, what="user id")
        with _translate(f"exec in {self.name}"):
            r = self._node.exec.post(json=body, timeout=_http_timeout(d))
        try:
            op = _wait(self.client, r, d)
        except LxdError as err:
            if "Command not found" in str(err):  # what a shell would say, with its exit code
                return ExecResult(127, "", f"{cmd[0]}: command not found\n")
            raise
        meta = op.get("metadata") or {}
        outputs = meta.get("output") or {}
        texts = []
        for fd in ("1", "2"):
            path = outputs.get(fd)
            if not path:
                texts.append("")
                continue
            node = self.client.api
            for part in path.split("/1.0/", 1)[-1].strip("/").split("/"):
                node = node[part]
            with _translate(f"exec output of {self.name}"):
                texts.append(node.get(is_api=False, timeout=(5.0, 15.0)).content
                             .decode("utf-8", "replace"))
                with contextlib.suppress(Exception):
                    node.delete(timeout=(5.0, 5.0))
        return ExecResult(int(meta.get("return", -1)), texts[0], texts[1])

    # -- snapshots and copies
    def snapshot(self, name: str, *, timeout: float = 60.0) -> str:
        """Take snapshot ``name`` (letters, digits, '-'); returns its name."""
        snap = _snap_name(name)
        d = Deadline(timeout, f"snapshot {self.name}/{snap}")
        with _translate(f"snapshot {self.name}/{snap}"):
            r = self._node.snapshots.post(json={"name": snap, "stateful": False},
                                          timeout=_http_timeout(d))
        _wait(self.client, r, d)
        return snap

    def snapshots(self) -> list[str]:
        with _translate(f"snapshots of {self.name}"):
            urls = self._node.snapshots.get(timeout=(5.0, 15.0)).json()["metadata"]
        return sorted(url_name(u) for u in urls)

    def restore(self, name: str, *, timeout: float = 60.0) -> None:
        """Roll the instance back to snapshot ``name`` (a running container is restarted)."""
        snap = _snap_name(name)
        if snap not in self.snapshots():
            raise LookupError(f"{self.name} has no snapshot {snap!r}; it has: "
                              f"{', '.join(self.snapshots()) or 'none'}")
        d = Deadline(timeout, f"restore {self.name}/{snap}")
        # read right before the PUT: a stale record (e.g. from before the last start) lacks the
        # current volatile.idmap.* keys, and LXD and Incus both refuse it
        info = self.info()
        body = {k: info.get(k) for k in ("architecture", "config", "devices", "ephemeral",
                                         "profiles", "description")}
        body["restore"] = snap
        with _translate(f"restore {self.name}/{snap}"):
            r = self._node.put(json=body, timeout=_http_timeout(d))
        _wait(self.client, r, d)

    def copy(self, new_name: str, *, snapshot: str | None = None, start: bool = True,
             timeout: float = 60.0) -> Instance:
        """Copy this instance (or one of its snapshots) to a new course instance."""
        target = course_name(new_name)
        if _exists(self.client, target):
            raise ValueError(f"an instance named {target!r} already exists: pick another name")
        src = self.name if snapshot is None else f"{self.name}/{_snap_name(snapshot)}"
        d = Deadline(timeout, f"copy {src} -> {target}")
        info = self.info()
        config = {k: v for k, v in (info.get("config") or {}).items()
                  if not k.startswith("volatile.") and not k.startswith("image.")}
        config[OWNER_KEY] = OWNER_VALUE
        config.update(owners.uid_config())  # the copy is the caller's
        body = {"name": target, "source": {"type": "copy", "source": src},
                "config": config, "profiles": info.get("profiles") or ["default"]}
        with _translate(f"copy {src}"):
            r = self.client.api.instances.post(json=body, timeout=_http_timeout(d))
        _wait(self.client, r, d)
        inst = Instance(self.client, target)
        if start:
            try:
                inst.start(timeout=max(1.0, d.remaining()))
            except BaseException:
                inst.delete(missing_ok=True)
                raise
        return inst

    # -- the host's view
    def namespaces(self) -> dict[str, dict[str, Any]]:
        """For each namespace type: the container init's namespace, the host's, shared or not.

        Read from ``/proc/<init pid>/ns`` on the host (needs root; otherwise values are None).
        """
        pid = self.state().pid
        out: dict[str, dict[str, Any]] = {}
        for ns in ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"):
            try:
                mine = os.readlink(f"/proc/{pid}/ns/{ns}") if pid else None
            except OSError:
                mine = None
            try:
                host = os.readlink(f"/proc/1/ns/{ns}")
            except OSError:
                host = os.readlink(f"/proc/self/ns/{ns}")
            out[ns] = {"container": mine, "host": host,
                       "shared": None if mine is None else mine == host}
        return out

    def host_ids(self) -> dict[str, Any]:
        """The init process's uid/gid maps and its uid as the host sees it."""
        pid = self.state().pid
        res: dict[str, Any] = {"pid": pid}
        if pid:
            with contextlib.suppress(OSError):
                res["uid_map"] = Path(f"/proc/{pid}/uid_map").read_text().split()
                res["gid_map"] = Path(f"/proc/{pid}/gid_map").read_text().split()
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("Uid:"):
                        res["host_uid"] = int(line.split()[1])
        return res


def _snap_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 40 or not all(
            c.isascii() and (c.isalnum() or c == "-") for c in name) or name[0] == "-":
        raise ValueError(f"snapshot name {name!r} is not allowed: use letters, digits and '-' "
                         "(for example 'before-change')")
    return name
