"""Course processes that outlived their daemon's knowledge of them (orphans), found on the host.

A daemon's own list is not enough: an LXD restarted in another network namespace loses its
running containers (their ``[lxc monitor]`` runs on, unknown to it), and a libvirtd that lost a
domain leaves its ``qemu-system`` running. This module looks at the host's processes: an LXC
monitor or a QEMU guest whose instance name starts with the course prefix (``vl-``) and that its
daemon does not list as running is an orphan. :func:`cleanup` ends those — never a process whose
name is not the course's.

Only what the host's own daemons run is judged: an LXC monitor whose container directory is
that of the host's LXD or Incus (``/var/lib/lxd/containers``...; its instances listed across
*all* projects, so a classroom learner's container in their project is known), and a QEMU run by
the system libvirt (as root or ``libvirt-qemu``). A learner's session VM (QEMU run by their own
uid and ``qemu:///session``) and containers of another LXD (e.g. the throwaway cluster of
:mod:`virtlab.lxd.cluster`, its own ``LXD_DIR``) are not the host daemons' to know, so never
orphans here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
from dataclasses import dataclass
from pathlib import Path

import psutil

from virtlab import PREFIX, probe
from virtlab.core.registry import cleans
from virtlab.safety import Deadline

_LXC_MONITOR = re.compile(r"^\[lxc monitor\] (\S+) (\S+)")
_QEMU_GUEST = re.compile(r"(?:^|,)guest=([^,\s]+)")


#: the accounts the system libvirt runs QEMU as (Debian: libvirt-qemu, or root by configuration)
SYSTEM_QEMU_USERS = ("root", "libvirt-qemu")


@dataclass(frozen=True)
class CourseProcess:
    pid: int
    kind: str  # "lxc-monitor" or "qemu"
    instance: str
    #: lxc-monitor: its container directory (``/var/lib/lxd/containers``); qemu: "system" for
    #: the system libvirt's, "session" for a user's own
    home: str = ""


def _system_qemu_uids() -> set[int]:
    uids = set()
    for user in SYSTEM_QEMU_USERS:
        with contextlib.suppress(KeyError):
            uids.add(pwd.getpwnam(user).pw_uid)
    return uids


def course_processes(prefix: str = PREFIX) -> list[CourseProcess]:
    """Every LXC monitor and QEMU guest on the host whose instance name starts with ``prefix``."""
    if not prefix.startswith(PREFIX):
        raise ValueError(f"prefix must start with {PREFIX!r}")
    found = []
    system = _system_qemu_uids()
    for p in psutil.process_iter(["pid", "cmdline", "name", "uids"]):
        with contextlib.suppress(psutil.Error):
            cmd = p.info["cmdline"] or []
            if not cmd:
                continue
            m = _LXC_MONITOR.match(" ".join(cmd))
            # a project's container is "<project>_<name>" (LXD), a learner's project "vl-learner-…"
            if m and (m.group(2).startswith(prefix) or m.group(2).split("_", 1)[-1].startswith(prefix)):
                found.append(CourseProcess(p.info["pid"], "lxc-monitor", m.group(2), m.group(1)))
                continue
            if os.path.basename(cmd[0]).startswith("qemu-system") and "-name" in cmd:
                i = cmd.index("-name")
                g = _QEMU_GUEST.search(cmd[i + 1]) if i + 1 < len(cmd) else None
                name = g.group(1) if g else (cmd[i + 1] if i + 1 < len(cmd) else "")
                if name.startswith(prefix):
                    uids = p.info.get("uids")
                    home = "system" if uids is None or uids.real in system else "session"
                    found.append(CourseProcess(p.info["pid"], "qemu", name, home))
    return found


def _running_lxd() -> dict[str, set[str]]:
    """Container directory of each host LXD/Incus -> the monitor names of its running
    instances, in every project (``name`` in the default project, ``<project>_<name>`` in
    another, as liblxc names them); an empty set for a daemon that does not answer."""
    import pylxd

    running: dict[str, set[str]] = {}
    for row in probe.container_daemons():  # installed or not: a daemon that is gone lists nothing
        lxcpath = str(Path(row["socket"]).parent / "containers")
        running[lxcpath] = set()
        if not row.get("server"):
            continue
        with contextlib.suppress(Exception):
            client = pylxd.Client(endpoint=row["socket"], timeout=10)
            r = client.api.instances.get(params={"recursion": "1", "all-projects": "true"})
            for i in r.json()["metadata"]:
                if i.get("status") == "Running":
                    proj = i.get("project") or "default"
                    running[lxcpath].add(i["name"] if proj == "default" else f"{proj}_{i['name']}")
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
    """Course processes the host daemon that runs them does not list as running (all of its, if
    it is down). Another LXD's containers and a user's session VMs are not judged."""
    procs = course_processes(prefix)
    out = []
    lxd = _running_lxd() if any(p.kind == "lxc-monitor" for p in procs) else {}
    qemu = (_running_libvirt() or set()) if any(p.home == "system" for p in procs) else set()
    for p in procs:
        if p.kind == "lxc-monitor" and p.home in lxd and p.instance not in lxd[p.home]:
            out.append(p)
        elif p.kind == "qemu" and p.home == "system" and p.instance not in qemu:
            out.append(p)
    return out


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
