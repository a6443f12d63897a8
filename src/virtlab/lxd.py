"""LXD/Incus system containers from Python, the course's way (over pylxd and their REST API).

Everything here talks to a real daemon over its unix socket: LXD, or Incus (LXD's community fork,
2023), whichever :mod:`virtlab.daemons` finds (``VIRTLAB_CONTAINER_DAEMON=lxd|incus`` picks one
where both run). One code path drives both; where they differ, the code asks the
:class:`virtlab.daemons.Daemon` record of the connected daemon (:func:`daemon_of`). The rules:

* every instance (and storage pool) is named through :func:`virtlab.safety.course_name`
  (prefix ``vl-``) and carries ``user.virtlab.owner`` in its config; :func:`cleanup` removes
  only what has both;
* every instance gets limits (memory, CPU, processes) unless the caller widens them;
* every wait has a deadline (LXD's own ``/operations/<id>/wait?timeout=`` plus an HTTP timeout),
  and running out raises :class:`virtlab.safety.DeadlineExceeded`;
* a daemon that is missing, stopped, or refuses us raises :class:`LxdUnavailable` saying what to
  do — never a ``requests`` traceback.

Typical use::

    from virtlab import lxd
    with lxd.instance("demo", memory="64MiB") as inst:      # launched, limited, owned
        code, out, err = inst.exec(["uname", "-r"])
    # ... and deleted again here, whatever happened inside the block

The course image ``vl-busybox`` (about 1 MB) is built offline by :func:`build_images`
(``virtlab images build --only lxd``; provisioning calls it); ``vl-debian`` (debootstrap, with
systemd) is optional. The demos of notebook 04 (``lxd.*``) and their ``show_*`` views are at the
end of this module.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from virtlab import OWNER_KEY, OWNER_VALUE, daemons, modes, owners, probe, rootfs
from virtlab.safety import (
    Deadline,
    DeadlineExceeded,
    VirtlabError,
    check_int,
    cleanup_all,
    course_name,
    human_bytes,
    is_course_name,
    parse_size,
)

#: the course's default image (alias) — busybox, built offline by :func:`build_images`
DEFAULT_IMAGE = "vl-busybox"
#: limits every course instance gets unless told otherwise
DEFAULT_MEMORY = "128MiB"
DEFAULT_CPU = 1
DEFAULT_PROCESSES = 200
#: image property that marks an image as the course's (``virtlab.owner`` in ``lxc image info``)
IMAGE_OWNER_PROPERTY = "virtlab.owner"

DAEMON_HINT = daemons.LXD.start_hint  # LXD's; errors name the daemon in question (_hint())
GROUP_HINT = daemons.LXD.group_hint


def _expected() -> daemons.Daemon:
    """The daemon we are about to talk to, before it has answered (for hints)."""
    try:
        return daemons.wanted() or next((d for d, s in daemons.socket_candidates()
                                         if os.path.exists(s)), daemons.LXD)
    except ValueError:
        return daemons.LXD


class LxdError(VirtlabError, RuntimeError):
    """LXD refused an operation (the message is LXD's own, plus what to do)."""


class LxdUnavailable(LxdError):
    """No LXD daemon can be reached: no socket, daemon stopped, or permission denied."""


class ExecResult(NamedTuple):
    """What :meth:`Instance.exec` returns; unpacks as ``code, out, err``."""

    code: int
    out: str
    err: str


# --------------------------------------------------------------------------- connecting
def socket_path() -> str:
    """The daemon's unix socket to use: the first of :func:`virtlab.daemons.socket_candidates`
    that exists (``$LXD_DIR``/``$INCUS_DIR`` when set, never second-guessed; else LXD's, then
    Incus's default paths; only one daemon's with ``VIRTLAB_CONTAINER_DAEMON``).

    Raises :class:`LxdUnavailable` when there is none (not installed or not running).
    """
    try:
        cands = probe.lxd_socket_candidates()
        want = daemons.wanted()
    except ValueError as err:
        raise LxdUnavailable(str(err)) from None
    for cand in cands:
        if os.path.exists(cand):
            return cand
    who = want.title if want else "LXD or Incus"
    hint = (want or daemons.LXD).start_hint
    raise LxdUnavailable(f"no {who} socket found (looked at {', '.join(cands)}): the daemon is "
                         f"not running here. To fix: {hint}")


def _requests_errors() -> tuple[type[BaseException], ...]:
    import requests

    return (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidURL, ConnectionError, socket.timeout)


def connect(*, timeout: float = 10.0, socket_file: str | None = None) -> Any:
    """Connect to the local LXD or Incus daemon and return a ``pylxd.Client``.

    Clear errors (:class:`LxdUnavailable`) for: no socket (daemon not running), a socket we may
    not open (not in group ``lxd``/``incus-admin``), a daemon that does not answer within
    ``timeout`` seconds (stopped or hung), a server that is neither LXD nor Incus, and one that
    is not the daemon ``VIRTLAB_CONTAINER_DAEMON`` asks for. :func:`daemon_of` says which it is.
    ``socket_file`` connects to that socket instead of :func:`socket_path`'s.
    """
    sock = socket_file or socket_path()
    exp = _expected()
    if not os.access(sock, os.R_OK | os.W_OK):
        raise LxdUnavailable(f"permission denied on {sock}. To fix: {exp.group_hint}")
    try:
        import pylxd
        from pylxd import exceptions as pexc
    except ImportError:
        raise LxdUnavailable("the Python package pylxd is not installed. To fix: `make lab` "
                             "(or `pip install pylxd`)") from None
    try:
        # the URL form works with every pylxd (older ones skip a socket path: not a regular file)
        client = pylxd.Client(endpoint="http+unix://" + quote(sock, safe=""),
                              timeout=(min(timeout, 5.0), timeout), project=project())
    except (pexc.ClientConnectionFailed, *_requests_errors()) as err:
        text = str(err)
        if "Permission denied" in text or "Errno 13" in text:
            raise LxdUnavailable(f"permission denied on {sock}. To fix: {exp.group_hint}") from None
        raise LxdUnavailable(f"{exp.title} does not answer on {sock} ({type(err).__name__}): the "
                             f"daemon is stopped or hung. To fix: {exp.start_hint}") from None
    except PermissionError:
        raise LxdUnavailable(f"permission denied on {sock}. To fix: {exp.group_hint}") from None
    try:
        d = daemon_of(client)
    except LookupError as err:
        raise LxdUnavailable(f"{sock}: {err}; set LXD_DIR or INCUS_DIR to the directory of "
                             "the daemon's unix.socket") from None
    want = daemons.wanted()
    if want is not None and want is not d:
        raise LxdUnavailable(f"the server on {sock} is {d.title}, but {daemons.ENV_VAR}="
                             f"{want.key} asks for {want.title}; set {want.dir_env} to the "
                             f"directory of its unix.socket")
    if client.host_info.get("auth") != "trusted":
        raise LxdUnavailable(f"{d.title} on {sock} does not trust us. To fix: {d.group_hint}")
    return client


PROJECT_ENV = "VIRTLAB_LXD_PROJECT"


def project() -> str | None:
    """The LXD project to work in: ``$VIRTLAB_LXD_PROJECT`` (a classroom learner's own restricted
    project, see :mod:`virtlab.classroom`), else None (the daemon's default project)."""
    return os.environ.get(PROJECT_ENV) or None


def daemon_of(client: Any) -> daemons.Daemon:
    """Which daemon ``client`` talks to (from its ``GET /1.0``: ``environment.server``)."""
    return daemons.by_server((client.host_info.get("environment") or {}).get("server"))


def daemon() -> daemons.Daemon:
    """The daemon :func:`connect` reaches (LXD or Incus); raises :class:`LxdUnavailable`."""
    return daemon_of(connect())


def _api_error(err: BaseException) -> str:
    resp = getattr(err, "response", None)
    if resp is not None:
        try:
            return str(resp.json().get("error") or resp.text)
        except ValueError:
            return str(resp.text)
    return str(err)


@contextlib.contextmanager
def _translate(what: str) -> Iterator[None]:
    """Turn pylxd/requests failures inside the block into the course's clear errors."""
    from pylxd import exceptions as pexc

    try:
        yield
    except pexc.NotFound as err:
        raise LookupError(f"{what}: not found ({_api_error(err)})") from None
    except pexc.LXDAPIException as err:
        raise LxdError(f"{what}: {_expected().title} says: {_api_error(err)}") from None
    except _requests_errors() as err:
        d = _expected()
        if "timed out" in str(err).lower() or isinstance(err, socket.timeout):
            raise LxdUnavailable(f"{what}: {d.title} stopped answering (timeout). To fix: "
                                 f"{d.start_hint}") from None
        raise LxdUnavailable(f"{what}: the connection to {d.title} failed ({type(err).__name__}): "
                             f"the daemon has stopped. To fix: {d.start_hint}") from None


def _http_timeout(deadline: Deadline) -> tuple[float, float]:
    return (5.0, deadline.remaining() + 5.0)


#: (connect, read) HTTP timeouts of one 1-second operation poll: a stopped or hung daemon is
#: reported within about 4 s, even in the middle of a long operation
POLL_TIMEOUT = (2.0, 4.0)


def _wait(client: Any, response: Any, deadline: Deadline) -> dict[str, Any]:
    """Wait for the asynchronous operation in ``response`` until ``deadline``; return its body."""
    body = response.json()
    if body.get("type") != "async":
        return body.get("metadata") or {}
    op_id = body["operation"].rstrip("/").split("/")[-1]
    node = client.api.operations[op_id]
    while True:
        # short server-side waits (they return at once when the operation ends), so a daemon
        # that stops or hangs mid-way is noticed within POLL_TIMEOUT seconds
        try:
            with _translate(deadline.what):
                op = node.wait.get(params={"timeout": 1}, timeout=POLL_TIMEOUT).json()
        except LxdUnavailable:
            raise
        except LxdError as err:
            # daemons.WAIT_TIMEOUT_IS_ERROR (Incus): a wait that runs out is an error, not the
            # still-running operation, so ask for the operation itself
            if not (daemon_of(client).has(daemons.WAIT_TIMEOUT_IS_ERROR)
                    and "deadline exceeded" in str(err)):
                raise
            with _translate(deadline.what):
                op = node.get(timeout=POLL_TIMEOUT).json()
        op = op.get("metadata") or {}
        status = op.get("status")
        if status == "Success":
            return op
        if status in ("Failure", "Cancelled"):
            who = daemon_of(client).title
            raise LxdError(f"{deadline.what}: {who} says: {op.get('err') or status}")
        if deadline.expired():
            raise DeadlineExceeded(deadline.what, deadline.seconds, deadline.hint)


# --------------------------------------------------------------------------- limits & names
@dataclass(frozen=True)
class Limits:
    """Validated limits of one instance, as LXD config keys."""

    memory: int  # bytes
    cpu: int
    processes: int

    def config(self) -> dict[str, str]:
        mib = 1024 * 1024
        mem = f"{self.memory // mib}MiB" if self.memory % mib == 0 else str(self.memory)
        return {"limits.memory": mem, "limits.memory.enforce": "hard",
                "limits.memory.swap": "false", "limits.cpu": str(self.cpu),
                "limits.processes": str(self.processes)}


def limits(memory: int | str = DEFAULT_MEMORY, cpu: int = DEFAULT_CPU,
           processes: int = DEFAULT_PROCESSES) -> Limits:
    """Validate limits (ValueError saying what is allowed) and return them.

    >>> limits("64MiB", 1, 100).config()["limits.memory"]
    '64MiB'
    """
    host_mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mem = parse_size(memory, minimum=16 * 1024**2, maximum=host_mem, what="memory limit")
    ncpu = check_int(cpu, minimum=1, maximum=os.cpu_count() or 1, what="cpu limit (number of CPUs)")
    procs = check_int(processes, minimum=10, maximum=100_000, what="process limit")
    return Limits(mem, ncpu, procs)


def unique_name(stem: str = "tmp") -> str:
    """A fresh course name like ``vl-tmp-3f9a1c`` (for tests and throw-away instances)."""
    return course_name(f"{stem}-{secrets.token_hex(3)}")


def _owned(meta: dict[str, Any]) -> bool:
    return (is_course_name(meta.get("name", ""))
            and (meta.get("config") or {}).get(OWNER_KEY) == OWNER_VALUE)


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
        if st.status != "Stopped":
            self._set_state("stop", force=True, timeout=max(1.0, d.remaining()))
        with _translate(f"delete {self.name}"):
            r = self._node.delete(timeout=_http_timeout(d))
        _wait(self.client, r, d)

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
        return sorted(u.rstrip("/").split("/")[-1] for u in urls)

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


_POOL_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def _snap_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 40 or not all(
            c.isascii() and (c.isalnum() or c == "-") for c in name) or name[0] == "-":
        raise ValueError(f"snapshot name {name!r} is not allowed: use letters, digits and '-' "
                         "(for example 'before-change')")
    return name


def _exists(client: Any, name: str) -> bool:
    from pylxd import exceptions as pexc

    try:
        with contextlib.suppress(pexc.NotFound):
            client.api.instances[name].get(timeout=(5.0, 15.0))
            return True
    except _requests_errors() as err:
        d = daemon_of(client)
        raise LxdUnavailable(f"{d.title} stopped answering ({type(err).__name__}). To fix: "
                             f"{d.start_hint}") from None
    return False


def _image_exists(client: Any, alias: str) -> bool:
    from pylxd import exceptions as pexc

    with _translate(f"image {alias}"):
        try:
            client.api.images.aliases[alias].get(timeout=(5.0, 15.0))
            return True
        except pexc.NotFound:
            return False


def image_exists(alias: str, *, client: Any | None = None) -> bool:
    """Does LXD hold an image under ``alias``?"""
    return _image_exists(client or connect(), alias)


def create(name: str, image: str = DEFAULT_IMAGE, *, memory: int | str = DEFAULT_MEMORY,
           cpu: int = DEFAULT_CPU, processes: int = DEFAULT_PROCESSES, privileged: bool = False,
           config: dict[str, str] | None = None, pool: str | None = None,
           timeout: float = 60.0, client: Any | None = None) -> Instance:
    """Create (but do not start) course instance ``name`` from image alias ``image``.

    Everything is validated before anything is created: the name (ValueError), the limits
    (ValueError), that the image exists (LookupError: build it) and that the name is free.
    ``pool`` puts the root filesystem on another storage pool (default: the default profile's).
    """
    full = course_name(name)
    if pool is not None and (not isinstance(pool, str) or not _POOL_RE.match(pool)):
        raise ValueError(f"pool {pool!r} is not a storage pool name (letters, digits, '-')")
    lim = limits(memory, cpu, processes)
    if not isinstance(privileged, bool):
        raise ValueError(f"privileged must be True or False, not {privileged!r}")
    extra = dict(config or {})
    for k, v in extra.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValueError(f"config keys and values must be strings: {k!r}: {v!r}")
        if k in (OWNER_KEY, owners.UID_KEY) or k.startswith("limits."):
            raise ValueError(f"config key {k!r} is set by virtlab; use the memory/cpu/processes "
                             "arguments for limits")
    client = client or connect()
    if not _image_exists(client, image):
        raise LookupError(f"image {image!r} is not in {daemon_of(client).title}. To fix: build the "
                          "course images with `virtlab images build --only lxd` (provisioning "
                          "does this)")
    if _exists(client, full):
        raise ValueError(f"an instance named {full!r} already exists: pick another name, or "
                         f"remove it with vl.lxd.delete({full!r})")
    cfg = {OWNER_KEY: OWNER_VALUE, **owners.uid_config(), **lim.config(),
           "security.privileged": "true" if privileged else "false", **extra}
    body = {"name": full, "type": "container", "source": {"type": "image", "alias": image},
            "config": cfg, "profiles": ["default"],
            "description": "virtlab course instance"}
    if pool is not None:
        body["devices"] = {"root": {"type": "disk", "path": "/", "pool": pool}}
    who = daemon_of(client)
    d = Deadline(timeout, f"create {full}", f"{who.title} is slow or stuck; check {who.log}")
    with _translate(f"create {full}"):
        r = client.api.instances.post(json=body, timeout=_http_timeout(d))
    try:
        _wait(client, r, d)
    except BaseException:
        with contextlib.suppress(Exception):
            Instance(client, full).delete(missing_ok=True, timeout=10)
        raise
    return Instance(client, full)


def launch(name: str, image: str = DEFAULT_IMAGE, *, memory: int | str = DEFAULT_MEMORY,
           cpu: int = DEFAULT_CPU, processes: int = DEFAULT_PROCESSES, privileged: bool = False,
           config: dict[str, str] | None = None, pool: str | None = None,
           timeout: float = 60.0, client: Any | None = None) -> Instance:
    """Create and start course instance ``name`` (like ``lxc launch``); returns the Instance.

    The caller owns it: delete it (``inst.delete()``) or use :func:`instance` instead.
    If starting fails, the half-made instance is deleted before the error is raised.
    """
    d = Deadline(timeout, f"launch {name}")
    inst = create(name, image, memory=memory, cpu=cpu, processes=processes,
                  privileged=privileged, config=config, pool=pool, timeout=timeout, client=client)
    try:
        inst.start(timeout=max(1.0, d.remaining()))
    except BaseException:
        with contextlib.suppress(Exception):
            inst.delete(missing_ok=True, timeout=15)
        raise
    return inst


@contextlib.contextmanager
def instance(name: str | None = None, image: str = DEFAULT_IMAGE, *,
             memory: int | str = DEFAULT_MEMORY, cpu: int = DEFAULT_CPU,
             processes: int = DEFAULT_PROCESSES, privileged: bool = False,
             config: dict[str, str] | None = None, start: bool = True,
             pool: str | None = None, timeout: float = 60.0,
             client: Any | None = None) -> Iterator[Instance]:
    """``with lxd.instance("demo", memory="64MiB") as inst: ...`` — launched on entry, deleted
    (force-stopped first) on exit, whatever happens. ``name=None`` picks a fresh unique name."""
    fn = launch if start else create
    inst = fn(name or unique_name(), image, memory=memory, cpu=cpu, processes=processes,
              privileged=privileged, config=config, pool=pool, timeout=timeout, client=client)
    try:
        yield inst
    except BaseException:
        # the block's error is the one to see; a failing delete (daemon gone) must not hide it
        # (`virtlab cleanup` removes a left-over instance later)
        with contextlib.suppress(Exception):
            inst.delete(missing_ok=True)
        raise
    inst.delete(missing_ok=True)


def get(name: str, *, client: Any | None = None) -> Instance:
    """The course instance ``name`` (LookupError when it does not exist or is not the course's)."""
    full = course_name(name)
    inst = Instance(client or connect(), full)
    if not _owned(inst.info()):
        raise LookupError(f"{full!r} exists but is not a course instance (no {OWNER_KEY}); "
                          "virtlab leaves it alone")
    return inst


def delete(name: str, *, client: Any | None = None) -> None:
    """Delete course instance ``name`` (refuses instances the course did not create)."""
    get(name, client=client).delete()


def list_instances(*, client: Any | None = None) -> list[dict[str, Any]]:
    """Every course-owned instance: name, status, limits."""
    client = client or connect()
    with _translate("list instances"):
        items = client.api.instances.get(params={"recursion": 1},
                                         timeout=(5.0, 30.0)).json()["metadata"]
    return [{"name": m["name"], "status": m.get("status"),
             "memory": (m.get("config") or {}).get("limits.memory"),
             "cpu": (m.get("config") or {}).get("limits.cpu"),
             "processes": (m.get("config") or {}).get("limits.processes")}
            for m in items if _owned(m)]


def cleanup(match: str | None = None) -> list[str]:
    """Delete every course-owned instance (name prefix AND owner key); return what was removed.

    Nothing else is touched. ``match`` narrows it to course instances whose name starts with it
    (tests use this so they never remove a concurrent run's instances). Visits every daemon that
    answers on one of :func:`virtlab.daemons.socket_candidates` (LXD and Incus where both run;
    only one with ``VIRTLAB_CONTAINER_DAEMON``). Where none runs there is nothing to clean.
    """
    try:
        socks = list(dict.fromkeys(s for _, s in daemons.socket_candidates() if os.path.exists(s)))
    except ValueError:
        return []
    removed: list[str] = []
    for sock in socks:
        try:
            client = connect(socket_file=sock)
        except LxdUnavailable:
            continue
        removed.extend(_cleanup_daemon(client, match))
        if owners.scope() is None and project() is None:
            # root's --all-users: the classroom learners' own projects too
            for proj in course_projects(client):
                removed.extend(_cleanup_daemon(_in_project(sock, proj), match))
    return removed


def course_projects(client: Any) -> list[str]:
    """The course's LXD projects (``vl-`` names: one restricted project per classroom learner)."""
    with _translate("list projects"):
        names = client.api.projects.get(timeout=(5.0, 15.0)).json()["metadata"]
    return sorted(n.rsplit("/", 1)[-1] for n in names
                  if is_course_name(n.rsplit("/", 1)[-1]))


def _in_project(sock: str, proj: str) -> Any:
    import pylxd

    return pylxd.Client(endpoint="http+unix://" + quote(sock, safe=""), timeout=(5.0, 30.0),
                        project=proj)


def _course_items(node: Any, what: str) -> list[dict[str, Any]]:
    with _translate(f"list {what}"):
        items = node.get(params={"recursion": 1}, timeout=(5.0, 30.0)).json()["metadata"]
    return [m for m in items if _owned(m)]


def _cleanup_daemon(client: Any, match: str | None) -> list[str]:
    who = daemon_of(client).title
    removed: list[str] = []

    def remover(name: str) -> Any:
        def run() -> None:
            Instance(client, name).delete(missing_ok=True)
            removed.append(f"{who} instance {name}")
        return run

    # only the caller's own (owners.mine), unless root asked for every user's (--all-users)
    names = [m["name"] for m in _course_items(client.api.instances, "instances")
             if (match is None or m["name"].startswith(match))
             and owners.mine((m.get("config") or {}).get(owners.UID_KEY))]
    pools = [p["name"] for p in _course_items(client.api.storage_pools, "storage pools")
             if (match is None or p["name"].startswith(match))
             and owners.mine((p.get("config") or {}).get(owners.UID_KEY))]

    def pool_remover(name: str) -> Any:
        def run() -> None:
            delete_pool(name, client=client)
            removed.append(f"{who} storage pool {name}")
        return run

    # instances first: a pool can only go once nothing lives on it
    cleanup_all([*((f"delete {n}", remover(n)) for n in names),
                 *((f"delete pool {p}", pool_remover(p)) for p in pools)])
    return removed


# --------------------------------------------------------------------------- storage pools
COW_DRIVERS = ("btrfs", "zfs", "lvm")


def course_pools(*, client: Any | None = None) -> list[str]:
    """Storage pools the course created (``vl-`` name and ``user.virtlab.owner``)."""
    client = client or connect()
    with _translate("list storage pools"):
        items = client.api.storage_pools.get(params={"recursion": 1},
                                             timeout=(5.0, 15.0)).json()["metadata"]
    return [p["name"] for p in items if _owned(p)]


def pool_usage(name: str, *, client: Any | None = None) -> dict[str, int]:
    """Bytes used and total of storage pool ``name`` (as its driver reports them)."""
    client = client or connect()
    with _translate(f"storage pool {name}"):
        res = client.api.storage_pools[name].resources.get(timeout=(5.0, 15.0)).json()["metadata"]
    space = res.get("space") or {}
    return {"used": int(space.get("used", 0)), "total": int(space.get("total", 0))}


def create_pool(name: str, driver: str = "btrfs", size: int | str = "512MiB", *,
                client: Any | None = None, timeout: float = 60.0) -> str:
    """Create a course storage pool on a loop file LXD makes (``driver``: btrfs, zfs, lvm)."""
    full = course_name(name)
    if driver not in COW_DRIVERS:
        raise ValueError(f"driver {driver!r} is not a copy-on-write driver here; use one of "
                         f"{', '.join(COW_DRIVERS)}")
    nbytes = parse_size(size, minimum=256 * 1024**2, maximum=8 * 1024**3, what="pool size")
    client = client or connect()
    if full in course_pools(client=client):
        raise ValueError(f"a storage pool named {full!r} already exists")
    tool = {"btrfs": "mkfs.btrfs", "zfs": "zpool", "lvm": "lvcreate"}[driver]
    if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
        raise LookupError(f"the {driver} tools are not installed (`{tool}` is missing). To fix: "
                          f"`sudo apt-get install {'btrfs-progs' if driver == 'btrfs' else driver}`"
                          " (provisioning installs btrfs-progs)")
    d = Deadline(timeout, f"create pool {full}")
    body = {"name": full, "driver": driver, "description": "virtlab course pool",
            "config": {"size": f"{nbytes // 1024**2}MiB", OWNER_KEY: OWNER_VALUE,
                       **owners.uid_config()}}
    with _translate(f"create pool {full}"):
        r = client.api.storage_pools.post(json=body, timeout=_http_timeout(d))
    _wait(client, r, d)
    return full


def delete_pool(name: str, *, client: Any | None = None) -> None:
    """Delete course storage pool ``name`` (and the image copies LXD cached on it)."""
    client = client or connect()
    if name not in course_pools(client=client):
        raise LookupError(f"{name!r} is not a course storage pool; virtlab leaves it alone")
    with _translate(f"delete pool {name}"):
        vols = client.api.storage_pools[name].volumes.get(params={"recursion": 1},
                                                          timeout=(5.0, 15.0)).json()["metadata"]
        for v in vols:
            if v.get("type") == "image":
                node = client.api.storage_pools[name].volumes.image[v["name"]]
                _wait(client, node.delete(timeout=(5.0, 60.0)), Deadline(60, f"delete {v['name'][:12]}"))
        r = client.api.storage_pools[name].delete(timeout=(5.0, 60.0))
    _wait(client, r, Deadline(60, f"delete pool {name}"))


@contextlib.contextmanager
def cow_pool(name: str | None = None, driver: str = "btrfs", size: int | str = "512MiB", *,
             client: Any | None = None) -> Iterator[str]:
    """``with lxd.cow_pool() as pool: lxd.launch(..., pool=pool)`` — a copy-on-write pool on a
    loop file, deleted again on exit (delete its instances inside the block)."""
    client = client or connect()
    full = create_pool(name or unique_name("cow"), driver, size, client=client)
    try:
        yield full
    finally:
        delete_pool(full, client=client)


# --------------------------------------------------------------------------- images
def image_metadata(properties: dict[str, str], *, created: int | None = None) -> str:
    """The ``metadata.yaml`` of an LXD image, written by a serializer (never from strings).

    It is JSON, which is valid YAML 1.2 — LXD reads it as YAML — and needs no dependency
    (PyYAML is not one of pylxd's, and provisioning may run on Debian's bare python3)."""
    meta = {"architecture": os.uname().machine,
            "creation_date": int(time.time()) if created is None else created,
            "properties": {str(k): str(v) for k, v in properties.items()},
            "templates": {}}
    return json.dumps(meta, indent=2) + "\n"


def _busybox_image_tarball(dest: Path) -> Path:
    """Write a unified LXD image (metadata.yaml + rootfs/) holding a busybox system to ``dest``."""
    with tempfile.TemporaryDirectory(prefix="vl-image-") as tmp:
        root = rootfs.build_busybox_tree(Path(tmp) / "rootfs", hostname="vl-busybox")
        # busybox init: no gettys (no console), a clean shutdown on SIGPWR (LXD's stop signal)
        (root / "etc/inittab").write_text("::shutdown:/bin/sync\n")
        (root / "etc/os-release").write_text('NAME="virtlab busybox"\nID=busybox\n'
                                             'PRETTY_NAME="virtlab busybox (course image)"\n')
        (root / "etc/hostname").write_text("vl-busybox\n")
        bb = rootfs.busybox_path()
        props = {"os": "busybox", "release": "static", "architecture": os.uname().machine,
                 "description": "virtlab course image: busybox, built offline",
                 IMAGE_OWNER_PROPERTY: OWNER_VALUE,
                 "virtlab.built_by": f"virtlab.lxd.build_images from {bb}"}
        meta = image_metadata(props)

        def as_root(ti: tarfile.TarInfo) -> tarfile.TarInfo:
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            return ti

        with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
            data = meta.encode()
            ti = tarfile.TarInfo("metadata.yaml")
            ti.size, ti.mtime, ti.mode = len(data), int(time.time()), 0o644
            tar.addfile(ti, io.BytesIO(data))
            tar.add(root, arcname="rootfs", filter=as_root)
    return dest


def images(*, client: Any | None = None) -> list[dict[str, Any]]:
    """The course's images in LXD: aliases, fingerprint, size in bytes, properties."""
    client = client or connect()
    with _translate("list images"):
        items = client.api.images.get(params={"recursion": 1},
                                      timeout=(5.0, 30.0)).json()["metadata"]
    out = []
    for m in items:
        props = m.get("properties") or {}
        if props.get(IMAGE_OWNER_PROPERTY) == OWNER_VALUE:
            out.append({"aliases": sorted(a["name"] for a in m.get("aliases") or []),
                        "fingerprint": m["fingerprint"], "size": m.get("size"),
                        "properties": props})
    return out


def import_image(tarball: Path, alias: str, *, client: Any | None = None,
                 timeout: float = 120.0) -> str:
    """Import a unified image tarball and point ``alias`` at it; returns the fingerprint.

    An older course image under the same alias is deleted (never an image we did not build).
    """
    full = course_name(alias)
    client = client or connect()
    d = Deadline(timeout, f"import image {full}")
    with _translate(f"import image {full}"), open(tarball, "rb") as data:
        r = client.api.images.post(data=data, headers={
            "Content-Type": "application/octet-stream",
            "Content-Length": str(Path(tarball).stat().st_size)}, timeout=_http_timeout(d))
    op = _wait(client, r, d)
    fp = (op.get("metadata") or {}).get("fingerprint")
    if not fp:
        raise LxdError(f"import image {full}: LXD returned no fingerprint ({op})")
    from pylxd import exceptions as pexc

    with _translate(f"alias {full}"):
        try:
            old = client.api.images.aliases[full].get(timeout=(5.0, 15.0)).json()["metadata"]
        except pexc.NotFound:
            old = None
        if old and old.get("target") != fp:
            client.api.images.aliases[full].put(json={"target": fp, "description": old.get(
                "description", "")}, timeout=(5.0, 15.0))
            old_props = client.api.images[old["target"]].get(
                timeout=(5.0, 15.0)).json()["metadata"].get("properties") or {}
            if old_props.get(IMAGE_OWNER_PROPERTY) == OWNER_VALUE:
                _wait(client, client.api.images[old["target"]].delete(timeout=(5.0, 30.0)),
                      Deadline(30, f"delete old image {old['target'][:12]}"))
        elif not old:
            client.api.images.aliases.post(json={"name": full, "target": fp,
                                                 "description": "virtlab course image"},
                                           timeout=(5.0, 15.0))
    return fp


def _present(client: Any, alias: str) -> str | None:
    if not _image_exists(client, alias):
        return None
    for img in images(client=client):
        if alias in img["aliases"]:
            return (f"{alias}: present ({img['fingerprint'][:12]}, "
                    f"{human_bytes(img['size'] or 0)})")
    return f"{alias}: present (not built by the course)"


def build_images(force: bool = False, *, debian: bool | None = None) -> list[str]:
    """Build and import the course images; returns one line per image.

    ``vl-busybox`` (always): a static busybox root filesystem, about 1 MB, built offline in a
    second. ``vl-debian`` (only with ``debian=True`` or ``VIRTLAB_LXD_DEBIAN=1``): a minimal
    Debian with systemd from debootstrap — needs root, the Debian mirror, and about a minute.
    Images LXD already holds are kept (unless ``force``).
    """
    if debian is None:
        debian = os.environ.get("VIRTLAB_LXD_DEBIAN") == "1"
    client = connect()
    done = []
    have = None if force else _present(client, DEFAULT_IMAGE)
    if have:
        done.append(have)
    else:
        with tempfile.TemporaryDirectory(prefix="vl-image-") as tmp:
            t0 = time.monotonic()
            tarball = _busybox_image_tarball(Path(tmp) / "busybox.tar.gz")
            fp = import_image(tarball, DEFAULT_IMAGE, client=client)
            done.append(f"{DEFAULT_IMAGE}: imported {fp[:12]} "
                        f"({human_bytes(tarball.stat().st_size)}, {time.monotonic() - t0:.1f} s)")
    if debian:
        done.append(build_debian_image(force, client=client))
    return done


DEBIAN_IMAGE = "vl-debian"


def _apt_source() -> tuple[str, str]:
    """(mirror URL, suite) the host's apt uses for Debian; the public mirror as a fallback."""
    suite = "bookworm"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME=") and line.split("=", 1)[1].strip('"'):
                suite = line.split("=", 1)[1].strip('"')
    texts = []
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            texts.append(f.read_text())
    for text in texts:
        for line in text.splitlines():
            parts = line.split()
            if line.startswith("URIs:") and len(parts) > 1 and "security" not in parts[1]:
                return parts[1], suite
            if parts[:1] == ["deb"] and len(parts) > 2 and "security" not in parts[1]:
                url = next((p for p in parts[1:] if "://" in p), None)
                if url:
                    return url, suite
    return "http://deb.debian.org/debian", suite


def build_debian_image(force: bool = False, *, client: Any | None = None,
                       timeout: float = 900.0) -> str:
    """debootstrap a minimal Debian (minbase + systemd) and import it as ``vl-debian``."""
    import subprocess

    client = client or connect()
    have = None if force else _present(client, DEBIAN_IMAGE)
    if have:
        return have
    if shutil.which("debootstrap") is None:
        raise LookupError("debootstrap is not installed. To fix: `sudo apt-get install debootstrap`")
    if os.geteuid() != 0:
        raise VirtlabError("building the Debian image needs root (debootstrap): "
                           "`sudo virtlab images build --only lxd` with VIRTLAB_LXD_DEBIAN=1")
    mirror, suite = _apt_source()
    d = Deadline(timeout, "build the Debian image", "the mirror is slow or unreachable")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vl-image-", dir=rootfs.data_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        try:
            res = subprocess.run(["debootstrap", "--variant=minbase", "--include=systemd-sysv",
                                  suite, str(root), mirror], capture_output=True, text=True,
                                 timeout=d.remaining(), check=False)
        except subprocess.TimeoutExpired:
            raise DeadlineExceeded(d.what, d.seconds, d.hint) from None
        if res.returncode != 0:
            raise LxdError(f"debootstrap {suite} from {mirror} failed: "
                           f"{(res.stderr or res.stdout).strip()[-400:]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (root / junk).glob("*"):
                if f.is_file():
                    f.unlink()
        props = {"os": "debian", "release": suite, "variant": "minbase+systemd",
                 "description": f"virtlab course image: Debian {suite} (debootstrap minbase)",
                 IMAGE_OWNER_PROPERTY: OWNER_VALUE,
                 "virtlab.built_by": f"virtlab.lxd.build_debian_image from {mirror}"}
        (Path(tmp) / "metadata.yaml").write_text(image_metadata(props))
        tarball = Path(tmp) / "debian.tar"
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-cf", str(tarball), "-C", tmp,
                        "metadata.yaml", "rootfs"], check=True, capture_output=True,
                       timeout=max(1.0, d.remaining()))
        fp = import_image(tarball, DEBIAN_IMAGE, client=client, timeout=max(1.0, d.remaining()))
        size = tarball.stat().st_size
    return (f"{DEBIAN_IMAGE}: imported {fp[:12]} ({human_bytes(size)}, "
            f"{time.monotonic() - t0:.0f} s)")


__all__ = [
    "DEBIAN_IMAGE", "DEFAULT_IMAGE", "ExecResult", "Instance", "InstanceState", "Limits", "LxdError",
    "LxdUnavailable", "build_images", "build_debian_image", "cleanup", "connect", "course_pools", "cow_pool",
    "create", "create_pool", "delete", "delete_pool", "get", "image_exists", "images",
    "import_image", "instance", "launch", "lifecycle_timings", "limits", "list_instances",
    "pool_usage", "socket_path", "tidy", "unique_name", "daemon", "daemon_of", "cli_command",
    "cli_env",
]


# --------------------------------------------------------------------------- measurements
def cli_command(client: Any | None = None) -> list[str]:
    """The daemon's command-line client as an argv prefix (``lxc`` for LXD, ``incus`` for
    Incus: daemons.CLI_INCUS); LxdUnavailable when it is not installed."""
    d = daemon_of(client or connect())
    exe = shutil.which(d.cli)
    if exe is None:
        pkg = "lxd-client" if d is daemons.LXD else "incus-client"
        raise LxdUnavailable(f"the `{d.cli}` command-line client of {d.title} is not installed "
                             f"(Debian: {pkg})")
    return [exe]


def cli_env(client: Any | None = None) -> dict[str, str]:
    """The environment for :func:`cli_command`: the daemon's directory (``LXD_DIR``/``INCUS_DIR``)
    pointing at the socket this module uses."""
    d = daemon_of(client or connect())
    return {**os.environ, d.dir_env: str(Path(socket_path()).parent)}


def _lxc(args: Sequence[str], timeout: float = 60.0, client: Any | None = None) -> str:
    import subprocess

    client = client or connect()
    argv = [*cli_command(client), *args]
    name = daemon_of(client).cli
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                             env=cli_env(client), check=False)
    except subprocess.TimeoutExpired:
        raise DeadlineExceeded(f"{name} {args[0]}", timeout) from None
    if res.returncode != 0:
        raise LxdError(f"{name} {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


PHASES = ("launch", "exec", "stop", "delete")


def lifecycle_timings(rounds: int = 3, *, via: str = "api", image: str = DEFAULT_IMAGE,
                      memory: int | str = DEFAULT_MEMORY) -> dict[str, list[float]]:
    """Time launch / exec (``true``) / forced stop / delete of a fresh course container.

    ``via="api"`` goes through this module (pylxd + REST), ``via="cli"`` through the ``lxc``
    command-line client, with the same config. Returns seconds per round for each phase.
    """
    if via not in ("api", "cli"):
        raise ValueError("via must be 'api' or 'cli'")
    check_int(rounds, minimum=1, maximum=50, what="rounds")
    lim = limits(memory)
    out: dict[str, list[float]] = {"launch": [], "exec": [], "stop": [], "delete": []}
    client = connect()
    for _ in range(rounds):
        name = unique_name("bench")
        try:
            t0 = time.perf_counter()
            if via == "api":
                inst = launch(name, image, memory=memory, client=client)
            else:
                cfg = [a for k, v in {OWNER_KEY: OWNER_VALUE, **owners.uid_config(), **lim.config(),
                                      "security.privileged": "false"}.items()
                       for a in ("-c", f"{k}={v}")]
                _lxc(["launch", image, name, *cfg], client=client)
            t1 = time.perf_counter()
            if via == "api":
                code = inst.exec(["true"]).code
            else:
                _lxc(["exec", name, "--", "true"], client=client)
                code = 0
            t2 = time.perf_counter()
            if code != 0:
                raise LxdError(f"`true` failed in {name} (exit {code})")
            if via == "api":
                inst.stop(force=True)
            else:
                _lxc(["stop", "--force", name], client=client)
            t3 = time.perf_counter()
            if via == "api":
                inst.delete()
            else:
                _lxc(["delete", name], client=client)
            t4 = time.perf_counter()
        finally:
            Instance(client, name).delete(missing_ok=True)
        for k, a, b in (("launch", t0, t1), ("exec", t1, t2), ("stop", t2, t3),
                        ("delete", t3, t4)):
            out[k].append(round(b - a, 4))
    return out


def _du(path: Path) -> dict[str, int]:
    """Apparent size, allocated bytes and file count of a tree (no symlink following)."""
    apparent = allocated = files = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            apparent += st.st_size
            allocated += st.st_blocks * 512
            files += 1
    return {"apparent": apparent, "allocated": allocated, "files": files}


def _cannot(backend: modes.Backend, missing: str, fix: str) -> None:
    """A part of a demo cannot run here. Where live was merely the best mode, the demo goes on
    and its view says what is missing; where live was demanded (``VIRTLAB_MODE=live``,
    ``virtlab record``) that would be a degraded result, so it is an error."""
    if backend.forced:
        raise modes.CapabilityMissing(backend.section, "live", missing, fix)


def _readable(path: Path) -> bool:
    return os.access(path, os.R_OK | os.X_OK)


def _rootfs_du(backend: modes.Backend, rootdir: Path) -> dict[str, int]:
    """:func:`_du` of an instance's root filesystem in the pool (zeros where only root may look,
    an error there when live was demanded)."""
    if not _readable(rootdir):
        _cannot(backend, f"{rootdir} can only be read by root", "run it as root on the lab VM")
    return _du(rootdir)


def pool_path(client: Any | None = None, pool: str = "default") -> Path:
    """Where the ``dir`` storage pool keeps its data on the host."""
    client = client or connect()
    with _translate(f"storage pool {pool}"):
        meta = client.api.storage_pools[pool].get(timeout=(5.0, 15.0)).json()["metadata"]
    src = (meta.get("config") or {}).get("source")
    if meta.get("driver") != "dir" or not src:
        raise LookupError(f"pool {pool!r} is not a dir pool (driver {meta.get('driver')})")
    return Path(src)


# --------------------------------------------------------------------------- demos (notebook 04)
def _host_meminfo() -> dict[str, int]:
    vals = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        k, v = line.split(":", 1)
        if k in ("MemTotal", "MemAvailable"):
            vals[k] = int(v.split()[0]) * 1024
    return vals


@modes.demo("lxd.server", section="lxd")
def demo_server(backend: modes.Backend) -> dict[str, Any]:
    """What the daemon tells a client: versions, drivers, storage pools, images, instances."""
    client = connect()
    env = client.host_info.get("environment", {})
    with _translate("server info"):
        pools = client.api.storage_pools.get(params={"recursion": 1},
                                             timeout=(5.0, 15.0)).json()["metadata"]
        nets = client.api.networks.get(params={"recursion": 1},
                                       timeout=(5.0, 15.0)).json()["metadata"]
        profiles = client.api.profiles.get(params={"recursion": 1},
                                           timeout=(5.0, 15.0)).json()["metadata"]
    who = daemon_of(client)
    return {
        "server": who.title, "differences": [x.key for x in who.differences],
        "server_version": env.get("server_version"), "driver": env.get("driver"),
        "driver_version": env.get("driver_version"), "kernel": env.get("kernel_version"),
        "storage_drivers": sorted({d["Name"] for d in env.get("storage_supported_drivers", [])
                                   if d.get("Name")}),
        "api_extensions": len(client.host_info.get("api_extensions", [])),
        "socket": socket_path(),
        "pools": [{"name": p["name"], "driver": p["driver"]} for p in pools],
        "managed_networks": [n["name"] for n in nets if n.get("managed")],
        "profiles": {p["name"]: sorted(p.get("devices", {})) for p in profiles},
        "course_images": [{"aliases": i["aliases"], "size": i["size"],
                           "os": i["properties"].get("os")} for i in images(client=client)],
    }


def show_server(r: modes.Result) -> None:
    d = r.data
    print(f"{d.get('server', 'LXD')} {d['server_version']} drives containers through "
          f"{d['driver']} {d['driver_version']} on kernel {d['kernel']}")
    print(f"REST API over {d['socket']} ({d['api_extensions']} API extensions)")
    print("storage pools:     " + ", ".join(f"{p['name']} ({p['driver']})" for p in d["pools"]))
    print("storage drivers:   " + ", ".join(d["storage_drivers"]))
    print("managed networks:  " + (", ".join(d["managed_networks"]) or "none"))
    for name, devs in d["profiles"].items():
        print(f"profile {name!r}:  devices {', '.join(devs) or 'none'}")
    for img in d["course_images"]:
        print(f"course image:      {', '.join(img['aliases'])} ({img['os']}, "
              f"{human_bytes(img['size'] or 0)} compressed)")
    if d.get("differences"):
        print("differs from LXD:  " + ", ".join(d["differences"]) + "  (virtlab.daemons)")


@modes.demo("lxd.launch", section="lxd")
def demo_launch(backend: modes.Backend) -> dict[str, Any]:
    """Launch a container, run commands in it, and look at it from the host."""
    t0 = time.perf_counter()
    with instance("demo", memory="128MiB") as inst:
        launched = time.perf_counter() - t0
        cmds = {
            "uname -r": ["uname", "-r"],
            "hostname": ["hostname"],
            "ps": ["ps", "-o", "pid,user,comm"],
            "id": ["id"],
            "ls /": ["ls", "/"],
        }
        inside = {k: inst.exec(c).out for k, c in cmds.items()}
        st = inst.state()
        namespaces = inst.namespaces()
        if any(v["container"] is None for v in namespaces.values()):
            _cannot(backend, "the container's /proc/<pid>/ns can only be read by root",
                    "run it as root on the lab VM")
        return {"name": inst.name, "launch_s": round(launched, 3), "inside": inside,
                "daemon": daemon_of(inst.client).title,
                "host_uname_r": os.uname().release, "state": {
                    "status": st.status, "pid": st.pid, "processes": st.processes,
                    "memory_bytes": st.memory_bytes,
                    "cgroup_memory": st.cgroup.get("memory") or st.cgroup.get("unified")},
                "namespaces": namespaces, "ids": inst.host_ids()}


def show_launch(r: modes.Result) -> None:
    d = r.data
    by = f" by {d['daemon']}" if d.get("daemon") else ""
    print(f"launched {d['name']}{by} in {d['launch_s']:.2f} s")
    order = ["uname -r", "hostname", "id", "ps", "ls /"]
    for k in sorted(d["inside"], key=lambda k: order.index(k) if k in order else 99):
        out = d["inside"][k]
        lines = out.rstrip("\n").splitlines() or [""]
        if k == "ls /":
            lines = [" ".join(lines)]
        print(f"  inside $ {k:<9} " + lines[0])
        for line in lines[1:]:
            print(" " * 22 + line)
    same = d["inside"]["uname -r"].strip() == d["host_uname_r"]
    print(f"host kernel release: {'the same' if same else 'DIFFERENT'} "
          f"({'one kernel, shared' if same else 'unexpected for a container'})")
    st = d["state"]
    print(f"seen from the host: init is pid {st['pid']}, host uid {d['ids'].get('host_uid')}, "
          f"cgroup {st['cgroup_memory']}")


def show_namespaces(r: modes.Result) -> None:
    """The container's namespaces next to the host's (from a ``lxd.launch`` result)."""
    print(f"{'namespace':<10} {'container':<22} {'host':<22} shared?")
    for ns, v in r.data["namespaces"].items():
        shared = "?" if v["shared"] is None else ("yes" if v["shared"] else "no")
        print(f"{ns:<10} {v['container'] or '-':<22} {v['host']:<22} {shared}")
    if any(v["container"] is None for v in r.data["namespaces"].values()):
        print("(-: /proc/<pid>/ns of a process owned by another user can only be read by root)")


@modes.demo("lxd.uidmap", section="lxd")
def demo_uidmap(backend: modes.Backend) -> dict[str, Any]:
    """Root inside an unprivileged and a privileged container, seen from the host."""
    out = {}
    for label, priv in (("unprivileged", False), ("privileged", True)):
        with instance(f"uid-{label[:4]}", privileged=priv) as inst:
            ids = inst.host_ids()
            out[label] = {"inside_id": inst.exec(["id"]).out.strip(),
                          "inside_uid_map": inst.exec(["cat", "/proc/self/uid_map"]).out.split(),
                          "host_uid": ids.get("host_uid"), "host_pid": ids.get("pid"),
                          "privileged": inst.config.get("security.privileged")}
    return out


def show_uidmap(r: modes.Result) -> None:
    for label in ("unprivileged", "privileged"):
        v = r.data[label]
        inside, outside, count = v["inside_uid_map"]
        print(f"{label:<13} inside: {v['inside_id']}")
        print(f"{'':<13} uid_map: container {inside} -> host {outside} (for {count} ids)")
        print(f"{'':<13} the host sees its init running as uid {v['host_uid']}")


OOM_CMD = ["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"]


@modes.demo("lxd.oom", section="lxd")
def demo_oom(backend: modes.Backend) -> dict[str, Any]:
    """A 64 MiB container asks for 200 MiB: the kernel kills the process, the host is fine."""
    host_before = _host_meminfo()
    with instance("oom", memory="64MiB") as inst:
        free = inst.exec(["free", "-m"]).out
        meminfo = inst.exec(["head", "-n", "2", "/proc/meminfo"]).out
        lxcfs = "lxcfs on /proc/meminfo" in inst.exec(["mount"]).out
        res = inst.exec(OOM_CMD)
        after = inst.exec(["echo", "still alive"])
        st = inst.state()
        cg = st.cgroup.get("memory")
        failcnt = None
        limit = None
        try:
            if cg is not None:  # cgroup v1 (hybrid hosts)
                base = Path(probe.cgroups().v1_controllers.get("memory", "/sys/fs/cgroup/memory")) / cg.lstrip("/")
                failcnt = int((base / "memory.failcnt").read_text())
                limit = int((base / "memory.limit_in_bytes").read_text())
            else:
                base = Path(probe.cgroups().v2_mount or "/sys/fs/cgroup") / st.cgroup.get("unified", "").lstrip("/")
                ev = dict(line.split() for line in (base / "memory.events").read_text().splitlines())
                failcnt = int(ev.get("oom_kill", 0))
                limit = int((base / "memory.max").read_text())
        except OSError as err:
            _cannot(backend, f"the container's memory cgroup cannot be read ({err})",
                    "run it on a lab VM where LXD's cgroups are visible")
        return {"command": " ".join(OOM_CMD), "exit_code": res.code, "stderr": res.err,
                "after": after.out.strip(), "free_inside": free,
                "meminfo_inside": meminfo, "lxcfs": lxcfs, "cgroup_limit": limit,
                "failcnt_or_oom_kills": failcnt, "memory_peak": st.memory_peak_bytes,
                "status": st.status, "host_mem_total": host_before["MemTotal"],
                "host_available_before": host_before["MemAvailable"],
                "host_available_after": _host_meminfo()["MemAvailable"],
                "cgroup_version": "v1" if cg is not None else "v2"}


def show_oom(r: modes.Result) -> None:
    d = r.data
    print(f"inside $ {d['command']}")
    code = d["exit_code"]
    why = " = 128 + 9: killed by SIGKILL (the OOM killer)" if code == 137 else ""
    print(f"exit code {code}{why}")
    print(f"the container's cgroup limit: {human_bytes(d['cgroup_limit'] or 0)}; "
          f"peak use {human_bytes(d['memory_peak'] or 0)}; "
          f"{'failcnt' if d['cgroup_version'] == 'v1' else 'oom_kill'} = {d['failcnt_or_oom_kills']}")
    print(f"right after, inside $ echo still alive -> {d['after']!r}; container {d['status']}")
    print(f"host: {human_bytes(d['host_available_before'])} available before, "
          f"{human_bytes(d['host_available_after'])} after, of {human_bytes(d['host_mem_total'])}")
    print("inside $ head -n 2 /proc/meminfo" + ("   (served by lxcfs)" if d["lxcfs"] else ""))
    print(d["meminfo_inside"].rstrip())
    print("inside $ free -m   (busybox free asks the kernel via sysinfo(2))")
    print(d["free_inside"].rstrip())


@modes.demo("lxd.snapshot", section="lxd")
def demo_snapshot(backend: modes.Backend) -> dict[str, Any]:
    """Snapshot, break something, restore; then copy the instance."""
    steps: list[dict[str, Any]] = []

    def step(what: str, fn: Any) -> Any:
        t = time.perf_counter()
        val = fn()
        steps.append({"step": what, "seconds": round(time.perf_counter() - t, 3)})
        return val

    with instance("snap") as inst:
        inst.exec(["sh", "-c", "echo 'hello from before' > /root/note.txt"])
        step("snapshot 'clean'", lambda: inst.snapshot("clean"))
        inst.exec(["rm", "-f", "/root/note.txt", "/bin/ls"])
        broken = inst.exec(["ls", "/root"])
        step("restore 'clean'", lambda: inst.restore("clean"))
        fixed = inst.exec(["ls", "/root"])
        note = inst.exec(["cat", "/root/note.txt"]).out
        copy = step("copy to a new instance", lambda: inst.copy("snap-copy"))
        with copy:
            copied = copy.exec(["cat", "/root/note.txt"]).out
            copy_name, copy_host = copy.name, copy.exec(["hostname"]).out.strip()
        return {"name": inst.name, "snapshots": inst.snapshots(), "steps": steps,
                "broken": {"code": broken.code, "err": broken.err.strip()},
                "fixed": {"code": fixed.code, "out": fixed.out.strip()}, "note": note.strip(),
                "copy": {"name": copy_name, "hostname": copy_host, "note": copied.strip()}}


def show_snapshot(r: modes.Result) -> None:
    d = r.data
    t = {s["step"]: s["seconds"] for s in d["steps"]}
    print(f"snapshot 'clean' of {d['name']} took {t.get(next(iter(t)), 0):.2f} s")
    print(f"after `rm /bin/ls`:  ls -> exit {d['broken']['code']} ({d['broken']['err']})")
    print(f"after restore:       ls /root -> exit {d['fixed']['code']}: {d['fixed']['out']}; "
          f"note.txt says {d['note']!r}")
    c = d["copy"]
    print(f"copy {c['name']} (hostname {c['hostname']}) has the note too: {c['note']!r}")
    for s in d["steps"]:
        print(f"  {s['step']:<24} {s['seconds']:.2f} s")


@modes.demo("lxd.storage", section="lxd")
def demo_storage(backend: modes.Backend) -> dict[str, Any]:
    """Image vs instance size on the dir pool: every instance is a full copy of the image."""
    client = connect()
    base = pool_path(client)
    img = next(i for i in images(client=client) if DEFAULT_IMAGE in i["aliases"])
    with instance("disk-a", client=client) as a, instance("disk-b", client=client) as b:
        sizes = {}
        inodes = {}
        for inst in (a, b):
            rootdir = base / "containers" / inst.name / "rootfs"
            sizes[inst.name] = _rootfs_du(backend, rootdir)
            try:
                inodes[inst.name] = os.lstat(rootdir / "bin" / "busybox").st_ino
            except OSError:  # only root may look inside the pool
                inodes[inst.name] = None
        return {"pool": str(base), "driver": "dir", "image_compressed": img["size"],
                "instances": sizes, "same_busybox_inode": len(set(inodes.values())) == 1}


def show_storage(r: modes.Result) -> None:
    d = r.data
    print(f"image {DEFAULT_IMAGE}: {human_bytes(d['image_compressed'])} compressed")
    for name, s in d["instances"].items():
        print(f"instance {name}: {s['files']} files, {human_bytes(s['apparent'])} apparent, "
              f"{human_bytes(s['allocated'])} on disk")
    if not all(s["files"] for s in d["instances"].values()):
        print("(the pool's directories can only be read by root: run this as root to measure)")
        return
    print("both instances share /bin/busybox on disk: "
          + ("yes" if d["same_busybox_inode"] else "no — the dir pool unpacked a full copy for each"))


@modes.demo("lxd.lifecycle", section="lxd")
def demo_lifecycle(backend: modes.Backend) -> dict[str, Any]:
    """Median launch / exec / stop / delete, through virtlab.lxd and through the lxc CLI."""
    who = daemon()
    return {"rounds": 3, "daemon": who.title, "cli_name": who.cli,
            "api": lifecycle_timings(3, via="api"), "cli": lifecycle_timings(3, via="cli")}


def lifecycle_table(r: modes.Result) -> Any:
    """The lifecycle medians as a pandas DataFrame (seconds)."""
    import statistics

    import pandas as pd

    rows = {via: {k: statistics.median(r.data[via][k]) for k in PHASES}
            for via in ("api", "cli")}
    cli = r.data.get("cli_name", "lxc")
    return pd.DataFrame(rows).reindex(list(PHASES)).rename(columns={"api": "virtlab.lxd (s)",
                                                                   "cli": f"{cli} CLI (s)"})


def show_lifecycle(r: modes.Result) -> None:
    tab = lifecycle_table(r)
    cli = r.data.get("cli_name", "lxc")
    by = f" ({r.data['daemon']})" if r.data.get("daemon") else ""
    print(f"median of {r.data['rounds']} rounds each{by}:")
    for phase, row in tab.iterrows():
        print(f"  {phase:<7} virtlab.lxd {row.iloc[0]:.3f} s   {cli} CLI {row.iloc[1]:.3f} s")


def plot_lifecycle(r: modes.Result) -> None:
    """Bar chart of the lifecycle medians (through :func:`virtlab.plots.show`, with alt text)."""
    from virtlab import plots

    tab = lifecycle_table(r)
    fig = plots.figure(figsize=(6, 3))
    ax = fig.subplots()
    tab.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("seconds (median)")
    ax.set_title(f"An {r.data.get('daemon', 'LXD')} container's life, on this machine")
    total = tab.iloc[:, 0].sum()
    launch_s = tab.iloc[0, 0]
    verdict = ("well below" if launch_s < 1 else "within" if launch_s <= 5 else "above")
    who, cli = r.data.get("daemon", "LXD"), r.data.get("cli_name", "lxc")
    plots.show(fig, alt=(f"Bar chart of the median time to launch, exec in, stop and delete a "
                         f"busybox {who} container, through virtlab.lxd and through the {cli} CLI; "
                         f"launch takes {launch_s:.2f} s, {verdict} the seed article's 1-5 "
                         f"seconds, and the whole life about {total:.1f} s."))


def tidy(*names: str) -> None:
    """Delete the named exercise instances (course-owned only) if they exist; print what happened.

    Safe to run in any mode: where the LXD cells are not live it only says so.
    """
    try:
        if modes.resolve("lxd").mode != "live":
            print("nothing to remove: the LXD cells are not live here")
            return
    except modes.CapabilityMissing:
        print("nothing to remove: LXD is not reachable")
        return
    removed = []
    for n in names:
        try:
            get(n).delete()
            removed.append(course_name(n))
        except LookupError:
            pass
    print("removed: " + (", ".join(removed) if removed else "nothing (no exercise instances left)"))


@modes.demo("lxd.cow", section="lxd")
def demo_cow(backend: modes.Backend) -> dict[str, Any]:
    """Three instances on the dir pool and three on a btrfs pool: disk used per instance."""
    client = connect()
    base = pool_path(client)
    out: dict[str, Any] = {"n": 3, "image": DEFAULT_IMAGE}
    dir_rows = []
    with contextlib.ExitStack() as stack:
        for i in range(3):
            t = time.perf_counter()
            inst = stack.enter_context(instance(f"dir-{i}", client=client))
            dt = time.perf_counter() - t
            dir_rows.append({"launch_s": round(dt, 3),
                             "bytes": _rootfs_du(backend, base / "containers" / inst.name
                                                 / "rootfs")["allocated"]})
    out["dir"] = dir_rows
    try:
        with cow_pool(client=client) as pool:
            rows = []
            before = pool_usage(pool, client=client)["used"]
            out["btrfs_empty"] = before
            with contextlib.ExitStack() as stack:
                for i in range(3):
                    t = time.perf_counter()
                    stack.enter_context(instance(f"cow-{i}", pool=pool, client=client))
                    dt = time.perf_counter() - t
                    used = pool_usage(pool, client=client)["used"]
                    rows.append({"launch_s": round(dt, 3), "bytes": used - before})
                    before = used
            out["btrfs"] = rows
    except LookupError as err:  # btrfs tools missing: say so instead of failing the notebook
        _cannot(backend, f"no btrfs pool ({err})", "install btrfs-progs (provision.sh does)")
        out["btrfs"] = None
        out["btrfs_error"] = str(err)
    return out


def show_cow(r: modes.Result) -> None:
    d = r.data
    print(f"disk used by each new instance of {d['image']}:")
    print(f"{'':<10} {'dir pool':>22}   {'btrfs pool':>22}")
    cow = d.get("btrfs") or [None] * d["n"]
    for i, (a, b) in enumerate(zip(d["dir"], cow, strict=False)):
        right = (f"{human_bytes(b['bytes']):>10} in {b['launch_s']:.2f} s" if b else "-")
        print(f"instance {i + 1}  {human_bytes(a['bytes']):>10} in {a['launch_s']:.2f} s   {right:>22}")
    if not all(a["bytes"] for a in d["dir"]):
        print("(the dir pool's directories can only be read by root: its column needs root)")
    if d.get("btrfs") is None:
        print(f"(no btrfs pool here: {d.get('btrfs_error')})")
    else:
        print("btrfs: the first instance pays for unpacking the image once into the pool; every "
              "further one is a snapshot-clone that shares its blocks")


def _debian_image(backend: modes.Backend) -> str | None:
    try:
        built = _image_exists(connect(), DEBIAN_IMAGE)
    except LxdUnavailable:
        return None  # the demo itself reports an unreachable daemon
    return None if built else (f"the optional image {DEBIAN_IMAGE} (build it: `sudo VIRTLAB_LXD_DEBIAN=1 "
                               "virtlab images build --only lxd`, about a minute, needs the Debian mirror)")


@modes.demo("lxd.fullos", section="lxd", requires=_debian_image, optional=True)
def demo_fullos(backend: modes.Backend) -> dict[str, Any]:
    """A full Debian userspace with systemd as PID 1, in a container (needs ``vl-debian``)."""
    client = connect()
    if not _image_exists(client, DEBIAN_IMAGE):
        _cannot(backend, f"the optional image {DEBIAN_IMAGE} is not built",
                "`sudo VIRTLAB_LXD_DEBIAN=1 virtlab images build --only lxd`")
        return {"available": False,
                "hint": "the optional image vl-debian is not built here; build it with "
                        "`sudo VIRTLAB_LXD_DEBIAN=1 virtlab images build --only lxd` (about a "
                        "minute, needs the Debian mirror)"}
    t0 = time.perf_counter()
    with instance("debian", image=DEBIAN_IMAGE, memory="256MiB", client=client) as inst:
        launched = time.perf_counter() - t0
        d = Deadline(60, "systemd boot in vl-debian")

        def boot_state() -> str | None:
            out = inst.exec(["systemctl", "is-system-running"]).out.strip()
            return out if out in ("running", "degraded") else None

        state = d.wait_for(boot_state, interval=0.2)
        booted = time.perf_counter() - t0
        services = inst.exec(["systemctl", "list-units", "--type=service", "--state=running",
                              "--no-legend", "--plain"]).out.split("\n")
        st = inst.state()
        rootdir = pool_path(client) / "containers" / inst.name / "rootfs"
        osr = dict(line.split("=", 1) for line in inst.exec(["cat", "/etc/os-release"]).out.split("\n")
                   if "=" in line)
        return {"available": True, "launch_s": round(launched, 2), "boot_s": round(booted, 2),
                "state": state, "pid1": inst.exec(["cat", "/proc/1/comm"]).out.strip(),
                "os": osr.get("PRETTY_NAME", "").strip('"'),
                "kernel_inside": inst.exec(["uname", "-r"]).out.strip(),
                "host_kernel": os.uname().release,
                "packages": int(inst.exec(["sh", "-c", "dpkg -l | grep -c ^ii"]).out or 0),
                "services": sorted(s.split()[0] for s in services if s.strip()),
                "processes": st.processes, "memory_bytes": st.memory_bytes,
                "rootfs_bytes": _rootfs_du(backend, rootdir)["allocated"]}


def show_fullos(r: modes.Result) -> None:
    d = r.data
    if not d.get("available"):
        print(d["hint"])
        return
    print(f"{d['os']} in a container: launched in {d['launch_s']:.2f} s, systemd up after "
          f"{d['boot_s']:.2f} s")
    print(f"systemd says the system is {d['state']!r}")
    print(f"PID 1 inside: {d['pid1']}; {d['packages']} Debian packages installed; "
          f"{d['processes']} processes")
    print("running services: " + ", ".join(d["services"]))
    same = "the host's" if d["kernel_inside"] == d["host_kernel"] else "NOT the host's"
    print(f"kernel: {d['kernel_inside']} ({same})")
    disk = (human_bytes(d["rootfs_bytes"]) if d["rootfs_bytes"]
            else "(only root can measure it)")
    print(f"memory in use: {human_bytes(d['memory_bytes'] or 0)}; root filesystem on the dir "
          f"pool: {disk}")
