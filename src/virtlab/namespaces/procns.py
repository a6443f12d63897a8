"""Namespace identities: the types, their descriptions, a process's namespace inodes
(``/proc/PID/ns``), comparing two processes.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from virtlab import _sys
from virtlab.safety import VirtlabError

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
