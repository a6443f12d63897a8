"""Course processes that outlived their daemon's knowledge of them (orphans), found on the host.

A daemon's own list is not enough: an LXD restarted in another network namespace loses its
running containers (their ``[lxc monitor]`` runs on, unknown to it), and a libvirtd that lost a
domain leaves its ``qemu-system`` running. This module looks at the host's processes: an LXC
monitor or a QEMU guest whose instance name starts with the course prefix (``vl-``) and that its
daemon does not list as running is an orphan. :func:`cleanup` ends those — never a process whose
name is not the course's.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from dataclasses import dataclass

import psutil

from virtlab import PREFIX, probe
from virtlab.core.registry import cleans
from virtlab.safety import Deadline

_LXC_MONITOR = re.compile(r"^\[lxc monitor\] (\S+) (\S+)")
_QEMU_GUEST = re.compile(r"(?:^|,)guest=([^,\s]+)")


@dataclass(frozen=True)
class CourseProcess:
    pid: int
    kind: str  # "lxc-monitor" or "qemu"
    instance: str


def course_processes(prefix: str = PREFIX) -> list[CourseProcess]:
    """Every LXC monitor and QEMU guest on the host whose instance name starts with ``prefix``."""
    if not prefix.startswith(PREFIX):
        raise ValueError(f"prefix must start with {PREFIX!r}")
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "name"]):
        with contextlib.suppress(psutil.Error):
            cmd = p.info["cmdline"] or []
            if not cmd:
                continue
            m = _LXC_MONITOR.match(" ".join(cmd))
            if m and m.group(2).startswith(prefix):
                found.append(CourseProcess(p.info["pid"], "lxc-monitor", m.group(2)))
                continue
            if os.path.basename(cmd[0]).startswith("qemu-system") and "-name" in cmd:
                i = cmd.index("-name")
                g = _QEMU_GUEST.search(cmd[i + 1]) if i + 1 < len(cmd) else None
                name = g.group(1) if g else (cmd[i + 1] if i + 1 < len(cmd) else "")
                if name.startswith(prefix):
                    found.append(CourseProcess(p.info["pid"], "qemu", name))
    return found


def _running_lxd() -> set[str] | None:
    """Running instances of every LXD/Incus daemon that answers (None: none answers)."""
    import pylxd

    running: set[str] | None = None
    for row in probe.container_daemons():
        if not row.get("server"):
            continue
        with contextlib.suppress(Exception):
            client = pylxd.Client(endpoint=row["socket"], timeout=10)
            names = {i.name for i in client.instances.all() if i.status == "Running"}
            running = (running or set()) | names
    return running


def _running_libvirt() -> set[str] | None:
    if not probe.libvirt_info(refresh=True).uris["qemu:///system"].get("ok"):
        return None
    import libvirt

    conn = libvirt.open("qemu:///system")
    try:
        return {d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
    finally:
        conn.close()


def orphans(prefix: str = PREFIX) -> list[CourseProcess]:
    """Course processes their daemon does not list as running (all of them, if it is down)."""
    procs = course_processes(prefix)
    if not procs:
        return []
    known = {"lxc-monitor": _running_lxd() if any(p.kind == "lxc-monitor" for p in procs) else set(),
             "qemu": _running_libvirt() if any(p.kind == "qemu" for p in procs) else set()}
    return [p for p in procs if p.instance not in (known[p.kind] or set())]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill_tree(pid: int) -> None:
    try:
        proc = psutil.Process(pid)
        kids = proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for p in [*kids, proc]:  # the container's init first (it takes its pid namespace along)
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)


@cleans(order=90)  # last: whatever the daemons no longer list
def cleanup(prefix: str = PREFIX, timeout: float = 10.0) -> list[str]:
    """End the course's orphaned processes (root only: they are not a learner's to signal)."""
    if not probe.is_root():
        return []
    gone = []
    found = orphans(prefix)
    for p in found:
        _kill_tree(p.pid)
    dl = Deadline(timeout, "ending orphaned course processes")
    dl.wait_for(lambda: not any(_alive(p.pid) for p in found))
    for p in found:
        gone.append(f"orphaned {p.kind} of {p.instance} (pid {p.pid})")
    return gone
