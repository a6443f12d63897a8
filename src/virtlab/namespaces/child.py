"""The child's side of starting a process in new namespaces: the ``Spec``, unshare/setns, id maps,
mounts, the ``Launched`` handle and the pipe protocol between parent and child (see ``launcher``).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import select
import selectors
import signal
import socket
import struct
import time
from collections.abc import Callable
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
    _pid_arg,
    validate_types,
)
from virtlab.safety import Deadline, DeadlineExceeded, check_int


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
    direct: bool = False  # started by clone(2) with the namespaces: pid is the target itself
    waiter: Callable[[float], int | None] | None = None  # the helper's wait (not our child)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.inner_pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.inner_pid, signal.SIGKILL)

    def reap(self, timeout: float = 5.0) -> int:
        if self.status is not None:
            return self.status
        if self.waiter is not None:  # started by the helper: it waits, we hear the status
            st = self.waiter(timeout)
            if st is None:
                self.kill()
                st = self.waiter(5.0)
            self.status = 0x7f00 if st is None else st
            return self.status
        dl = Deadline(timeout, f"waiting for child {self.pid}")
        pidfd = None
        with contextlib.suppress(OSError, AttributeError):  # Linux 5.3+: wait on the pid itself
            pidfd = os.pidfd_open(self.pid)
        try:
            nap = 0.0002
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
                if pidfd is not None:  # readable once the child has exited
                    select.select([pidfd], [], [], max(dl.remaining(), 0.001))
                else:
                    time.sleep(nap)
                    nap = min(nap * 2, 0.01)
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def close(self) -> None:
        for fd in (self.report_fd, self.out_fd, self.err_fd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)



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


