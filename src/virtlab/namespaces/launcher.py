"""Starting a process in new namespaces (``Spec``, ``launch``, ``run``, ``run_command``): unshare,
id maps, mounts, the parent/child protocol with deadlines.
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
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtlab import _sys
from virtlab.namespaces.procns import (
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    NOBODY,
    NamespaceError,
    _pid_arg,
    validate_types,
)
from virtlab.safety import Deadline, DeadlineExceeded, check_int


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
