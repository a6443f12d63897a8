"""Readers of real state the lab checks share: cgroup files, process namespaces."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from virtlab import cgroups, namespaces, probe

MIB = 1024**2


def cgroup_paths(name: str) -> tuple[str, dict[str, Path]]:
    """Where the course cgroup ``name`` lives on this machine: (version, {controller: dir}).

    Raises LookupError when no directory of that name exists (the learner has not made it).
    """
    info = probe.cgroups()
    version = cgroups.default_version()
    paths: dict[str, Path] = {}
    if version == "v1":
        for ctrl in ("memory", "cpu", "cpuacct", "pids", "freezer"):
            mnt = info.v1_controllers.get(ctrl)
            if mnt and (Path(mnt) / name).is_dir():
                paths[ctrl] = Path(mnt) / name
    if info.v2_mount and (Path(info.v2_mount) / name).is_dir():
        paths["unified"] = Path(info.v2_mount) / name
    if not paths or (version == "v1" and "memory" not in paths):
        raise LookupError(f"there is no cgroup named {name} on this machine")
    return version, paths


def cgroup_state(name: str) -> dict[str, Any]:
    """Limits and accounting of cgroup ``name`` as the kernel's files state them now."""
    version, paths = cgroup_paths(name)
    limits = cgroups.read_limits(version, paths)
    usage = cgroups.read_usage(version, paths)
    procs: set[int] = set()
    for p in paths.values():
        try:
            procs.update(int(x) for x in (p / "cgroup.procs").read_text().split())
        except OSError:
            pass
    return {"version": version, "limits": limits, "usage": usage.to_dict(), "procs": sorted(procs),
            "paths": {k: str(v) for k, v in paths.items()}}


def nspid(pid: int) -> list[int]:
    """The process's pid in each nested PID namespace, outermost first (``NSpid:`` line)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(x) for x in line.split()[1:]]
    return [pid]


def ns_inode(pid: int | str, kind: str) -> str:
    return str(Path(f"/proc/{pid}/ns/{kind}").readlink())


def hostname_of(pid: int) -> str:
    """The hostname process ``pid`` sees (joins its UTS namespace in a child; needs root)."""
    return namespaces.run(socket.gethostname, types=("uts",), join_pid=pid, timeout=10)
