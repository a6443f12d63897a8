"""Linux namespaces: inspect them, create them, run code or commands inside fresh ones.

* :func:`list_namespaces` / :func:`compare` read ``/proc/PID/ns/*`` (type -> inode).
* :func:`run` runs a Python function in a child process placed in new namespaces and returns
  its result; :func:`run_command` does the same for a command (``(exit, stdout, stderr)``).
* With ``unprivileged=True`` the child first drops to uid/gid 65534 (when we are root), then
  creates a *user* namespace in which it is uid 0 — what a learner without root gets.
* :class:`VethPair` joins two course network namespaces with a veth cable.

How a child is made (all by hand, with ctypes ``unshare``/``setns``: Python 3.11 has none)::

    parent ──fork──> child: [join cgroup] [drop to 65534] unshare(flags) [uid/gid maps]
                            [hostname] [time offsets]
                     └─fork──> grandchild: pid 1 of a new PID namespace, mounts /proc, runs the
                                target (function or execve)

The second fork is needed because a new PID (and time) namespace applies to the *children* of
the caller, never to the caller itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import selectors
import signal
import socket
import struct
import subprocess
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtlab import PREFIX, _sys, modes, owners
from virtlab.safety import Deadline, DeadlineExceeded, VirtlabError, check_int, course_name

TYPES: tuple[str, ...] = tuple(_sys.NAMESPACE_FLAGS)
NOBODY = 65534

# mount(2) flags
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 4096, 8192, 16384, 1 << 18
MNT_DETACH = 2

DESCRIPTIONS = {
    "mnt": "mount points (the file-system tree a process sees)",
    "uts": "hostname and NIS domain name",
    "ipc": "System V IPC objects and POSIX message queues",
    "pid": "process ids (the first process is pid 1)",
    "net": "network devices, addresses, routes, ports, firewall",
    "user": "user and group ids, and the capabilities that go with them",
    "cgroup": "the root of the cgroup tree a process sees",
    "time": "offsets for CLOCK_MONOTONIC and CLOCK_BOOTTIME (Linux 5.6+)",
}


class NamespaceError(VirtlabError, RuntimeError):
    """The child could not be set up or its target failed; carries the child's traceback."""

    def __init__(self, message: str, child_traceback: str = "") -> None:
        super().__init__(message)
        self.child_traceback = child_traceback


# --------------------------------------------------------------------------- inspect
def validate_types(types: Iterable[str]) -> tuple[str, ...]:
    """Check namespace type names; returns them in canonical order."""
    if isinstance(types, str):
        types = [types]
    out = []
    for t in types:
        if t not in TYPES:
            raise ValueError(f"unknown namespace type {t!r}; known: {', '.join(TYPES)}")
        out.append(t)
    return tuple(t for t in TYPES if t in out)


def _pid_arg(pid: int | str) -> str:
    if pid == "self":
        return "self"
    if isinstance(pid, bool) or not isinstance(pid, int) or pid < 1:
        raise ValueError(f"pid must be a positive whole number or 'self', not {pid!r}")
    if not Path(f"/proc/{pid}").exists():
        raise LookupError(f"no process with pid {pid} (it may have exited)")
    return str(pid)


def list_namespaces(pid: int | str = "self") -> dict[str, int]:
    """The namespaces of process ``pid``: type -> inode number (``readlink /proc/PID/ns/*``)."""
    p = _pid_arg(pid)
    out: dict[str, int] = {}
    for t in TYPES:
        try:
            link = os.readlink(f"/proc/{p}/ns/{t}")  # "uts:[4026531838]"
        except FileNotFoundError:
            if not Path(f"/proc/{p}").exists():
                raise LookupError(f"no process with pid {pid} (it exited)") from None
            continue  # this kernel lacks the type
        out[t] = int(link.split("[", 1)[1].rstrip("]"))
    return out


def compare(pid_a: int | str, pid_b: int | str = "self") -> dict[str, bool]:
    """For each type: do the two processes share the namespace?"""
    a, b = list_namespaces(pid_a), list_namespaces(pid_b)
    return {t: a[t] == b[t] for t in a if t in b}


def format_namespaces(ns: dict[str, int]) -> str:
    """``uts:[4026531838] pid:[...]`` (the notation of ``ls -l /proc/PID/ns``)."""
    return " ".join(f"{t}:[{i}]" for t, i in ns.items())


def observe() -> dict[str, Any]:
    """What the calling process sees of the system (used inside children to compare)."""
    procs = [d for d in os.listdir("/proc") if d.isdigit()]
    try:
        uid_map = " ".join(Path("/proc/self/uid_map").read_text().split())
    except OSError:
        uid_map = ""
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    with open("/proc/self/mountinfo") as f:
        mounts = sum(1 for _ in f)
    return {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "uid_map": uid_map,
        "interfaces": sorted(n for _, n in socket.if_nameindex()),
        "visible_processes": len(procs),
        "mounts": mounts,
        "uptime_days": round(uptime / 86400, 1),
        "ns": list_namespaces("self"),
    }


# --------------------------------------------------------------------------- create
@dataclass
class Spec:
    """How to set up a child's namespaces (see :func:`run`)."""

    types: tuple[str, ...] = ()
    hostname: str | None = None
    unprivileged: bool = False
    boottime_offset: int | None = None  # seconds added to CLOCK_BOOTTIME (time namespace)
    cgroup: Any = None  # a cgroups.CourseCgroup (or anything with join_self())
    join_pid: int | None = None  # setns into this process's namespaces instead of unshare
    setup: Callable[[], None] | None = None  # runs in the grandchild before the target
    env: dict[str, str] | None = None
    cwd: str | None = None

    def __post_init__(self) -> None:
        self.types = validate_types(self.types)
        if self.unprivileged and "user" not in self.types and self.join_pid is None:
            self.types = validate_types((*self.types, "user"))
        if self.hostname is not None:
            if "uts" not in self.types and self.join_pid is None:
                raise ValueError("a hostname needs a new 'uts' namespace: add 'uts' to the types")
            if not (1 <= len(self.hostname) <= 63) or not all(c.isalnum() or c in "-." for c in self.hostname):
                raise ValueError(f"hostname {self.hostname!r} is not valid: letters, digits, '-' and '.', "
                                 "at most 63 characters")
        if self.boottime_offset is not None:
            check_int(self.boottime_offset, minimum=-86400 * 365, maximum=86400 * 3650,
                      what="boottime_offset (seconds)")
            if "time" not in self.types:
                raise ValueError("a boottime offset needs a new 'time' namespace: add 'time' to the types")


def _send(fd: int, msg: tuple) -> None:
    data = pickle.dumps(msg)
    os.write(fd, struct.pack("!I", len(data)) + data)


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2) through ctypes (raises OSError naming the target)."""
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    ret = _sys.libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or source or ''} on {target}: {os.strerror(err)}")


def umount(target: str, flags: int = 0) -> None:
    if _sys.libc().umount2(target.encode(), ctypes.c_int(flags)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def write_id_maps(pid: int | str, uid_map: str, gid_map: str, *, deny_setgroups: bool = True) -> None:
    """Write ``/proc/PID/{uid,gid}_map`` ("inside outside count" lines) for a user namespace."""
    p = _pid_arg(pid)
    for m in (uid_map, gid_map):
        for line in m.strip().splitlines():
            parts = line.split()
            if len(parts) != 3 or not all(x.isdigit() for x in parts):
                raise ValueError(f"an id map line is 'inside outside count' (e.g. '0 65534 1'), not {line!r}")
    if deny_setgroups:
        Path(f"/proc/{p}/setgroups").write_text("deny")
    Path(f"/proc/{p}/uid_map").write_text(uid_map.strip() + "\n")
    Path(f"/proc/{p}/gid_map").write_text(gid_map.strip() + "\n")


def _enter(spec: Spec) -> None:
    """In the (first) child: cgroup, privileges, unshare or setns, maps, hostname, time."""
    if spec.cgroup is not None:
        spec.cgroup.join_self()
        if os.geteuid() == 0:  # the OOM killer should pick the workload, never this helper
            with contextlib.suppress(OSError):
                Path("/proc/self/oom_score_adj").write_text("-1000")
    outer_uid, outer_gid = os.getuid(), os.getgid()
    if spec.unprivileged and outer_uid == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        outer_uid = outer_gid = NOBODY
    if spec.unprivileged:
        _sys.prctl(_sys.PR_SET_DUMPABLE, 1)  # else /proc/self/uid_map is not ours to write
    if spec.join_pid is not None:
        fds = {t: os.open(f"/proc/{spec.join_pid}/ns/{t}", os.O_RDONLY | os.O_CLOEXEC)
               for t in ("user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt")
               if t in spec.types}
        for t in ("user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt"):
            if t in fds:
                _sys.setns(fds[t], _sys.NAMESPACE_FLAGS[t])
                os.close(fds[t])
        if spec.unprivileged:
            os.setgid(0)
            os.setuid(0)
        return
    flags = 0
    for t in spec.types:
        flags |= _sys.NAMESPACE_FLAGS[t]
    _sys.unshare(flags)
    if "user" in spec.types:
        write_id_maps("self", f"0 {outer_uid} 1", f"0 {outer_gid} 1")
    if spec.hostname:
        socket.sethostname(spec.hostname)
    if spec.boottime_offset is not None:
        Path("/proc/self/timens_offsets").write_text(
            f"boottime {spec.boottime_offset} 0\nmonotonic {spec.boottime_offset} 0\n")


def _grandchild_setup(spec: Spec) -> None:
    if spec.cgroup is not None:
        with contextlib.suppress(OSError):
            Path("/proc/self/oom_score_adj").write_text("0")
    if spec.join_pid is None and "mnt" in spec.types:
        mount(None, "/", None, MS_REC | MS_PRIVATE)  # our mounts never propagate to the host
        if "pid" in spec.types and spec.setup is None:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if spec.setup is not None:
        spec.setup()
    if spec.cwd:
        os.chdir(spec.cwd)


@dataclass
class Launched:
    """A child started by :func:`launch` (the intermediate process and its pipes)."""

    pid: int  # the intermediate child (our direct child); its pid is also the process group
    report_fd: int
    out_fd: int | None
    err_fd: int | None
    inner_pid: int | None = None  # the grandchild's pid as the host sees it
    messages: list[tuple] = field(default_factory=list)
    status: int | None = None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.inner_pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.inner_pid, signal.SIGKILL)

    def reap(self, timeout: float = 5.0) -> int:
        if self.status is not None:
            return self.status
        dl = Deadline(timeout, f"waiting for child {self.pid}")
        while True:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = st
                return st
            if dl.expired():
                self.kill()
                _, st = os.waitpid(self.pid, 0)
                self.status = st
                return st
            time.sleep(0.002)

    def close(self) -> None:
        for fd in (self.report_fd, self.out_fd, self.err_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


def launch(spec: Spec, target: Callable[[], Any] | list[str], *, capture: bool = True,
           stdin_data: bytes | None = None) -> Launched:
    """Fork a child set up by ``spec`` that runs ``target`` (a function or an argv list).

    Low level: use :func:`run` / :func:`run_command`; :mod:`virtlab.minicontainer` uses this to
    start a container's init. Returns once the target is running (or has failed).
    """
    exec_mode = isinstance(target, list)
    rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
    exec_r, exec_w = os.pipe2(os.O_CLOEXEC)
    out_r = out_w = err_r = err_w = None
    if capture:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
    in_r = None
    if stdin_data is not None:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        os.write(in_w, stdin_data)  # small inputs only (pipe buffer)
        os.close(in_w)
    pid = os.fork()
    if pid == 0:  # ---------------------------------------------------------------- child
        code = 111
        try:
            os.setpgid(0, 0)
            os.close(rep_r)
            os.close(exec_r)
            for fd in (out_r, err_r):
                if fd is not None:
                    os.close(fd)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _enter(spec)
            gpid = os.fork()
            if gpid == 0:  # ------------------------------------------------------ grandchild
                try:
                    if exec_mode:
                        os.close(rep_w)
                    else:
                        os.close(exec_w)  # the parent waits for this to close: we are running
                    _grandchild_setup(spec)
                    if exec_mode:
                        os.dup2(in_r if in_r is not None else os.open(os.devnull, os.O_RDONLY), 0)
                        devnull = os.open(os.devnull, os.O_WRONLY)
                        os.dup2(out_w if out_w is not None else devnull, 1)
                        os.dup2(err_w if err_w is not None else devnull, 2)
                        env = spec.env if spec.env is not None else dict(os.environ)
                        os.execvpe(target[0], target, env)
                    value = target()
                    _send(rep_w, ("ok", value))
                    os._exit(0)
                except BaseException as err:  # noqa: BLE001 - reported to the parent
                    with contextlib.suppress(BaseException):
                        _send(exec_w if exec_mode else rep_w,
                              ("error", f"{type(err).__name__}: {err}", traceback.format_exc()))
                    os._exit(112)
            os.close(exec_w)
            _send(rep_w, ("pid", gpid))
            for fd in (out_w, err_w, in_r):
                if fd is not None:
                    os.close(fd)
            _, st = os.waitpid(gpid, 0)
            _send(rep_w, ("status", st))
            code = 0
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            with contextlib.suppress(BaseException):
                _send(rep_w, ("error", f"setting up the namespaces failed: {type(err).__name__}: {err}",
                              traceback.format_exc()))
        os._exit(code)
    # -------------------------------------------------------------------------------- parent
    for fd in (rep_w, exec_w, out_w, err_w, in_r):
        if fd is not None:
            os.close(fd)
    child = Launched(pid, rep_r, out_r, err_r)
    # wait until the grandchild exec'd (exec pipe closes) or failed (error message on it)
    err_data = _read_all(exec_r, Deadline(30, "starting the child"), child)
    os.close(exec_r)
    if err_data:
        child.messages.extend(_decode(err_data))
    return child


def _read_all(fd: int, dl: Deadline, child: Launched) -> bytes:
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    buf = b""
    try:
        while True:
            if not sel.select(timeout=max(dl.remaining(), 0.001)):
                if dl.expired():
                    child.kill()
                    child.reap()
                    child.close()
                    raise DeadlineExceeded(dl.what, dl.seconds, dl.hint)
                continue
            data = os.read(fd, 65536)
            if not data:
                return buf
            buf += data
    finally:
        sel.close()


def _decode(buf: bytes) -> list[tuple]:
    out = []
    while len(buf) >= 4:
        (n,) = struct.unpack("!I", buf[:4])
        out.append(pickle.loads(buf[4:4 + n]))  # noqa: S301 - our own child wrote it
        buf = buf[4 + n:]
    return out


def collect(child: Launched, timeout: float, what: str) -> tuple[int | None, bytes, bytes]:
    """Read the child's output and messages until it ends; returns (waitstatus, stdout, stderr)."""
    dl = Deadline(timeout, what, "the child and everything it started were killed")
    sel = selectors.DefaultSelector()
    bufs: dict[int, bytearray] = {}
    for fd in (child.report_fd, child.out_fd, child.err_fd):
        if fd is not None:
            sel.register(fd, selectors.EVENT_READ)
            bufs[fd] = bytearray()
    open_fds = set(bufs)
    try:
        while open_fds:
            events = sel.select(timeout=max(dl.remaining(), 0.001))
            if not events and dl.expired():
                child.kill()
                child.reap()
                raise DeadlineExceeded(dl.what, dl.seconds, dl.hint)
            for key, _ in events:
                data = os.read(key.fd, 65536)
                if data:
                    bufs[key.fd] += data
                else:
                    sel.unregister(key.fd)
                    open_fds.discard(key.fd)
    finally:
        sel.close()
        child.reap(max(dl.remaining(), 1.0))
        child.close()
    child.messages.extend(_decode(bytes(bufs[child.report_fd])))
    status = None
    for m in child.messages:
        if m[0] == "pid":
            child.inner_pid = m[1]
        elif m[0] == "status":
            status = m[1]
    return (status, bytes(bufs.get(child.out_fd or -1, b"")), bytes(bufs.get(child.err_fd or -1, b"")))


def _raise_errors(child: Launched) -> None:
    for m in child.messages:
        if m[0] == "error":
            raise NamespaceError(m[1], m[2])


def _spec(types: Iterable[str], **kw: Any) -> Spec:
    return kw.pop("spec", None) or Spec(types=tuple(types), **kw)


def run(fn: Callable[[], Any], types: Iterable[str] = (), *, timeout: float = 10.0, **spec: Any) -> Any:
    """Run ``fn()`` in a child inside new namespaces; return its (picklable) result.

    ``types``: any of mnt uts ipc pid net user cgroup time. Keyword options (see :class:`Spec`):
    ``hostname``, ``unprivileged``, ``boottime_offset``, ``cgroup``. With pid+mnt the child is
    pid 1 and has its own /proc.

    >>> run(lambda: os.getpid(), ["pid", "mnt"])
    1
    """
    _check_timeout(timeout)
    s = _spec(types, **spec)
    child = launch(s, fn, capture=False)
    status, _, _ = collect(child, timeout, "function in new namespaces")
    _raise_errors(child)
    for m in child.messages:
        if m[0] == "ok":
            return m[1]
    raise NamespaceError(f"the child ended without a result (wait status {status})")


@dataclass
class CommandResult:
    """What a command run in namespaces produced. Unpacks as ``(exit_code, stdout, stderr)``."""

    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    def __iter__(self) -> Iterator[Any]:
        return iter((self.returncode, self.stdout, self.stderr))


def run_command(argv: list[str], types: Iterable[str] = (), *, timeout: float = 10.0,
                input: str | None = None, **spec: Any) -> CommandResult:
    """Run ``argv`` in a child inside new namespaces; returns :class:`CommandResult`.

    The exit code follows :mod:`subprocess`: negative when a signal killed the command.
    """
    if not isinstance(argv, list | tuple) or not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError("argv must be a non-empty list of strings, e.g. ['hostname']")
    _check_timeout(timeout)
    s = _spec(types, **spec)
    t0 = time.monotonic()
    child = launch(s, list(argv), stdin_data=input.encode() if input is not None else None)
    status, out, err = collect(child, timeout, f"{argv[0]} in new namespaces")
    _raise_errors(child)
    if status is None:  # the helper itself was killed (e.g. by the OOM killer): report that
        status = child.status if child.status is not None else 0x7f00
    return CommandResult(os.waitstatus_to_exitcode(status), out.decode(errors="replace"),
                         err.decode(errors="replace"), time.monotonic() - t0)


def _check_timeout(timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600:
        raise ValueError(f"timeout must be a number of seconds between 0 and 3600, not {timeout!r}")


def unprivileged_for_mode(section: str = "namespaces") -> bool:
    """Live mode as root runs as root; otherwise an unprivileged user (uid 65534 when root)."""
    b = modes.resolve(section)
    if b.mode == "recorded":
        raise modes.CapabilityMissing(section, "embedded", b.reason or "no user namespaces here",
                                      "use a lab VM or a machine that allows unprivileged user namespaces")
    return not b.privileged


def view(types: Iterable[str], *, unprivileged: bool | None = None, hostname: str | None = None,
         boottime_offset: int | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """What a child in new namespaces ``types`` sees (:func:`observe` run inside).

    ``unprivileged=None`` follows the mode: root in live mode, uid 65534 otherwise.
    """
    types = validate_types(types)
    if unprivileged is None:
        unprivileged = unprivileged_for_mode()
    if hostname is None and "uts" in types:
        hostname = "vl-inside"
    seen = run(observe, types, unprivileged=unprivileged, hostname=hostname,
               boottime_offset=boottime_offset, timeout=timeout)
    seen["requested"] = list(types)
    return seen


def _fmt(v: Any) -> str:
    return ", ".join(v) if isinstance(v, list) else str(v)


def compare_views(host: dict[str, Any], child: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """Rows (what, host, child, same?) for the namespace explorer — pure, no side effects."""
    rows = []
    for key, label in (("hostname", "hostname"), ("pid", "my pid"), ("uid", "my uid"),
                       ("uid_map", "uid map"), ("interfaces", "network interfaces"),
                       ("visible_processes", "processes visible"), ("mounts", "mount points"),
                       ("uptime_days", "uptime (days)")):
        h, c = host.get(key), child.get(key)
        rows.append((label, _fmt(h), _fmt(c), h == c))
    for t in TYPES:
        h, c = host.get("ns", {}).get(t), child.get("ns", {}).get(t)
        rows.append((f"{t} namespace", f"{t}:[{h}]", f"{t}:[{c}]", h == c))
    return rows


# --------------------------------------------------------------------------- network
NETNS_DIR = Path("/run/netns")


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    if check and r.returncode != 0:
        raise NamespaceError(f"`{' '.join(argv)}` failed: {r.stderr.strip()}")
    return r


class VethPair:
    """Two course network namespaces joined by a veth pair, with addresses inside them.

    >>> with VethPair("demo") as v:          # vl-demo-a <-> vl-demo-b, 10.203.0.1/30 - .2/30
    ...     v.tcp_roundtrip()                # seconds for one request/reply through the cable
    """

    def __init__(self, name: str = "veth", *, subnet: str = "10.203.0") -> None:
        base = course_name(name)
        if len(base) > 11:  # interface names are at most 15 bytes: base + "-a0"
            raise ValueError(f"name {name!r} is too long for a veth pair: at most 8 characters after 'vl-'")
        parts = subnet.split(".")
        if len(parts) != 3 or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts) or parts[0] != "10":
            raise ValueError(f"subnet {subnet!r} must be three octets of a private 10.x.y network, e.g. '10.203.0'")
        self.base = base
        self.ns = (f"{base}-a", f"{base}-b")
        self.ifaces = (f"{base}-a0", f"{base}-b0")
        self.addrs = (f"{subnet}.1", f"{subnet}.2")
        for n in self.ns:
            if (NETNS_DIR / n).exists():
                raise FileExistsError(f"network namespace {n} exists: run `virtlab cleanup` or pick another name")
        self._created: list[str] = []

    def __enter__(self) -> VethPair:
        try:
            for n in self.ns:
                _ip("netns", "add", n)
                self._created.append(n)
            _ip("link", "add", self.ifaces[0], "netns", self.ns[0], "type", "veth",
                "peer", "name", self.ifaces[1], "netns", self.ns[1])
            for n, ifc, addr in zip(self.ns, self.ifaces, self.addrs, strict=True):
                _ip("addr", "add", f"{addr}/30", "dev", ifc, netns=n)
                _ip("link", "set", ifc, "up", netns=n)
                _ip("link", "set", "lo", "up", netns=n)
            Deadline(5, "veth pair coming up").wait_for(
                lambda: all(f"{ifc}@" in line and " UP " in line
                            for n, ifc in zip(self.ns, self.ifaces, strict=True)
                            for line in [_ip("-brief", "link", "show", ifc, netns=n).stdout]))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # deleting a namespace destroys the veth end inside it, and with it the peer
        for n in reversed(self._created):
            _ip("netns", "del", n, check=False)
        self._created.clear()

    def addresses(self, side: int = 0) -> list[str]:
        """``ip -brief addr`` lines inside one end's namespace."""
        return _ip("-brief", "addr", netns=self.ns[side]).stdout.split("\n")

    def tcp_roundtrip(self, messages: int = 20, timeout: float = 10.0) -> dict[str, Any]:
        """Echo ``messages`` TCP messages from side a to a server in side b; per-message time."""
        check_int(messages, minimum=1, maximum=10_000, what="messages")
        server = _in_netns_start(self.ns[1], _echo_server, self.addrs[1])
        fd = os.open(NETNS_DIR / self.ns[0], os.O_RDONLY | os.O_CLOEXEC)

        def client() -> dict[str, Any]:
            _sys.setns(fd, _sys.CLONE_NEWNET)  # the client runs in side a
            return _echo_client(self.addrs[1], messages, timeout)

        try:
            result = run(client, [], timeout=timeout + 5)
        finally:
            os.close(fd)
            server.kill()
            collect(server, 5, "echo server")
        return result


def _in_netns_start(netns: str, fn: Callable[[str], Any], arg: str) -> Launched:
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY | os.O_CLOEXEC)

    def target() -> Any:
        _sys.setns(fd, _sys.CLONE_NEWNET)
        return fn(arg)

    try:
        child = launch(Spec(), target, capture=False)
    finally:
        os.close(fd)
    # wait for the "pid" message, then for the server to listen
    dl = Deadline(5, "echo server start")
    while child.inner_pid is None:
        sel = selectors.DefaultSelector()
        sel.register(child.report_fd, selectors.EVENT_READ)
        if sel.select(timeout=dl.remaining()):
            hdr = os.read(child.report_fd, 4)
            (n,) = struct.unpack("!I", hdr)
            msg = pickle.loads(os.read(child.report_fd, n))  # noqa: S301 - our own child
            if msg[0] == "pid":
                child.inner_pid = msg[1]
            elif msg[0] == "error":
                raise NamespaceError(msg[1], msg[2])
        sel.close()
        dl.check()
    return child


ECHO_PORT = 7007


def _echo_server(addr: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, ECHO_PORT))
    s.listen(1)
    s.settimeout(30)
    conn, _ = s.accept()
    while True:
        data = conn.recv(64)
        if not data:
            return
        conn.sendall(data)


def _echo_client(addr: str, messages: int, timeout: float) -> dict[str, Any]:
    ns = list_namespaces("self")["net"]
    dl = Deadline(timeout, "connecting through the veth")
    while True:
        try:
            c = socket.create_connection((addr, ECHO_PORT), timeout=1)
            break
        except OSError:
            if dl.expired():
                raise
            time.sleep(0.01)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(messages):
        t = time.perf_counter()
        c.sendall(b"ping")
        c.recv(64)
        times.append(time.perf_counter() - t)
    c.close()
    times.sort()
    return {"messages": messages, "median_s": times[len(times) // 2], "client_net_ns": ns,
            "peer": addr}


def course_netns() -> list[str]:
    """Names of course network namespaces in /run/netns."""
    if not NETNS_DIR.exists():
        return []
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(PREFIX))


def course_links() -> list[str]:
    """Course veth interfaces in the host's network namespace (should be none)."""
    return sorted(n for _, n in socket.if_nameindex() if n.startswith(PREFIX))


def cleanup(prefix: str = PREFIX) -> list[str]:
    """Remove course network namespaces and stray course veths; returns what went."""
    if not prefix.startswith(PREFIX):
        raise ValueError(f"prefix must start with {PREFIX!r}")
    removed = []
    for n in course_netns():
        if n.startswith(prefix) and owners.path_is_mine(os.path.join(NETNS_DIR, n)):
            _ip("netns", "del", n, check=False)
            removed.append(f"netns {n}")
    for link in course_links():
        # veths live in the host's namespace: only root makes (and removes) them
        if link.startswith(prefix) and owners.scope() in (None, 0):
            _ip("link", "del", link, check=False)
            removed.append(f"link {link}")
    return removed


# --------------------------------------------------------------------------- demos
def _backend_unpriv(backend: modes.Backend) -> bool:
    """Only a live backend served as root runs the demos as root."""
    return not backend.privileged


@modes.demo("namespaces.tour", section="namespaces", embedded=True)
def demo_tour(backend: modes.Backend) -> dict[str, Any]:
    """One child per namespace type; what it sees compared with the host."""
    unpriv = _backend_unpriv(backend)
    host = observe()
    out: dict[str, Any] = {"unprivileged": unpriv, "host": host, "children": {}}
    for t in ("uts", "pid", "net", "user", "time"):
        types = {"pid": ["pid", "mnt"], "time": ["time"]}.get(t, [t])
        # the user namespace is always shown unprivileged: that is its point
        out["children"][t] = view(types, unprivileged=unpriv or t == "user",
                                  boottime_offset=86400 * 1000 if t == "time" else None)
    return out


def _view_demo(types: list[str], **kw: Any) -> Callable[[modes.Backend], dict[str, Any]]:
    def fn(backend: modes.Backend) -> dict[str, Any]:
        # the user namespace is always shown unprivileged: that is its point
        unpriv = _backend_unpriv(backend) or "user" in types
        return {"types": types, "unprivileged": unpriv,
                "view": view(types, unprivileged=unpriv, **kw), "host": observe()}
    return fn


for _key, _types, _kw in (("uts", ["uts"], {"hostname": "vl-inside"}),
                          ("pid", ["pid", "mnt"], {}),
                          ("net", ["net"], {}),
                          ("user", ["user"], {}),
                          ("time", ["time"], {"boottime_offset": 86400 * 1000})):
    modes.demo(f"namespaces.{_key}", section="namespaces", embedded=True)(_view_demo(_types, **_kw))


def show_view(r: modes.Result, *keys: str) -> None:
    """Print chosen fields of a child's view, and whether the host sees the same."""
    v, host = r.data["view"], r.data["host"]
    print(f"child in new {' + '.join(r.data['types'])} namespace(s)"
          + (", created by an unprivileged user" if r.data["unprivileged"] else ", created by root"))
    # inside a user namespace, compare the uid with the one that made it (its uid map's middle
    # field: 65534 when root ran the demo as nobody, your own uid otherwise), not with whoever
    # happens to run this notebook
    outside = dict(host)
    umap = str(v.get("uid_map") or "").split()
    if "user" in r.data["types"] and len(umap) >= 2 and umap[1].isdigit():
        outside["uid"] = int(umap[1])
    for k in keys:
        val = v[k]
        shown = ", ".join(val) if isinstance(val, list) else val
        print(f"  {k:<18} {shown!s:<22} {'(same as the host)' if val == outside.get(k) else '(host differs)'}")


def _private_mount_probe() -> dict[str, Any]:
    mount("tmpfs", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
    Path("/mnt/hello.txt").write_text("only in here\n")
    return {"inside": sorted(os.listdir("/mnt")), "mounts": observe()["mounts"]}


@modes.demo("namespaces.mounts", section="namespaces", embedded=True)
def demo_mounts(backend: modes.Backend) -> dict[str, Any]:
    """A tmpfs mounted on /mnt inside a mount namespace is invisible to the host."""
    inside = run(_private_mount_probe, ["mnt"], unprivileged=_backend_unpriv(backend))
    return {"inside": inside["inside"], "host_sees": "hello.txt" in os.listdir("/mnt")}


@modes.demo("namespaces.veth", section="namespaces",
            requires=modes.needs_root("it makes named network namespaces in /run/netns"))
def demo_veth(backend: modes.Backend) -> dict[str, Any]:
    """Two network namespaces joined by a veth pair; a TCP echo through it."""
    with VethPair("demo") as v:
        a = [line for line in v.addresses(0) if line.strip()]
        b = [line for line in v.addresses(1) if line.strip()]
        rt = v.tcp_roundtrip(50)
        names = list(v.ns)
    gone = not any(n in course_netns() for n in names)
    return {"a": a, "b": b, "roundtrip": rt, "removed": gone, "netns": names}


def show_tour(r: modes.Result) -> None:
    d = r.data
    h = d["host"]
    c = d["children"]
    print(f"as {'an unprivileged user (uid 0 inside a user namespace; see its uid_map)' if d['unprivileged'] else 'root'}")
    print(f"uts : hostname inside = {c['uts']['hostname']!r}; host's hostname unchanged: "
          f"{socket.gethostname() == h['hostname']}")
    print(f"pid : my pid inside = {c['pid']['pid']}; processes I can see = {c['pid']['visible_processes']}")
    print(f"net : interfaces inside = {c['net']['interfaces']}")
    print(f"user: uid inside = {c['user']['uid']}; uid_map = {c['user']['uid_map']!r}")
    print(f"time: uptime inside = host + {round(c['time']['uptime_days'] - h['uptime_days'])} days")


def show_veth(r: modes.Result) -> None:
    d = r.data
    print("side a:", *d["a"], sep="\n  ")
    print("side b:", *d["b"], sep="\n  ")
    rt = d["roundtrip"]
    print(f"TCP echo a -> {rt['peer']} ({rt['messages']} messages): median {rt['median_s'] * 1e6:.0f} µs")
    print(f"both namespaces removed afterwards: {d['removed']}")


# --------------------------------------------------------------------------- benchmark
def bench_start(types: Iterable[str] = ("uts", "ipc", "pid", "net", "mnt"), n: int = 30) -> dict[str, Any]:
    """Median wall time to run ``/bin/true`` in fresh namespaces: virtlab vs ``unshare(1)``.

    Interleaved runs, same namespace set (``unshare --fork`` since pid is included).
    """
    types = validate_types(types)
    check_int(n, minimum=3, maximum=1000, what="n")
    opt = {"mnt": "--mount", "uts": "--uts", "ipc": "--ipc", "pid": "--pid", "net": "--net",
           "user": "--user", "cgroup": "--cgroup", "time": "--time"}
    ua = ["unshare", *(opt[t] for t in types), "--fork", "--", "/bin/true"]
    if "pid" in types and "mnt" in types:
        ua.insert(-2, "--mount-proc")
    tv, tu = [], []
    for _ in range(n):
        t = time.perf_counter()
        r = run_command(["/bin/true"], types)
        tv.append(time.perf_counter() - t)
        assert r.returncode == 0, r
        t = time.perf_counter()
        subprocess.run(ua, check=True, timeout=10)
        tu.append(time.perf_counter() - t)
    tv.sort()
    tu.sort()
    mv, mu = tv[n // 2], tu[n // 2]
    return {"types": list(types), "n": n, "virtlab_median_s": mv, "unshare1_median_s": mu,
            "ratio": mv / mu, "unshare_argv": ua}
