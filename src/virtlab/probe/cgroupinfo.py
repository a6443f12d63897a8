"""What cgroups this machine has: v1 / v2 / hybrid, controllers and where, the subtrees delegated to
this user.
"""
from __future__ import annotations

import functools
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from virtlab import PREFIX
from virtlab.probe.basics import is_root

CGROUP_ROOT = Path("/sys/fs/cgroup")


V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "io", "freezer", "devices")


# --------------------------------------------------------------------------- cgroups
@dataclass
class CgroupInfo:
    layout: str  # "v2", "v1", "hybrid" or "none"
    v2_mount: str | None
    v2_controllers: list[str]
    v1_controllers: dict[str, str]  # controller -> mount point
    writable: bool  # a course cgroup could be created and removed (live proof)
    detail: str = ""
    #: where course cgroups go, per hierarchy ("unified" or a v1 controller): the mount points
    #: for root; for anyone else the subtree provisioning delegated to them (may be empty)
    bases: dict[str, str] = field(default_factory=dict)
    #: not root, and a delegated course subtree is writable (live proof)
    delegated: bool = False


#: provisioning delegates ``<hierarchy>/virtlab-learners/<user>`` to each learner (owned by them)
DELEGATED_DIR = "virtlab-learners"


def _user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _own_v2_cgroup(v2_mount: str) -> Path | None:
    """This process's cgroup in the cgroup2 hierarchy (from /proc/self/cgroup)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hid, _, rest = line.partition(":")
            ctrls, _, path = rest.partition(":")
            if hid == "0" and ctrls == "":
                return Path(v2_mount) / path.lstrip("/")
    except OSError:
        pass
    return None


def _delegated_bases(v1: dict[str, str], v2_mount: str | None) -> dict[str, str]:
    """The subtrees delegated to this (non-root) user: writable dirs owned by them."""
    user = _user_name()
    bases: dict[str, str] = {}
    for ctrl, mnt in v1.items():
        d = Path(mnt) / DELEGATED_DIR / user
        if d.is_dir() and os.access(d, os.W_OK | os.X_OK) and os.access(d / "cgroup.procs", os.W_OK):
            bases[ctrl] = str(d)
    if v2_mount:
        d = Path(v2_mount) / DELEGATED_DIR / user
        own = _own_v2_cgroup(v2_mount)
        # cgroup v2 moves a process only where the writer may write the common ancestor's
        # cgroup.procs: the delegation is usable once this process already lives inside it
        if d.is_dir() and os.access(d, os.W_OK | os.X_OK) and own is not None and (
                own == d or d in own.parents):
            bases["unified"] = str(d)
    return bases


def _mounts() -> list[tuple[str, str, str]]:
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4:
            out.append((parts[1], parts[2], parts[3]))  # mountpoint, fstype, options
    return out


def cgroups(refresh: bool = False) -> CgroupInfo:
    if refresh:
        _cgroups.cache_clear()
    return _cgroups()


@functools.lru_cache(maxsize=1)
def _cgroups() -> CgroupInfo:
    v2_mount = None
    v1: dict[str, str] = {}
    for mnt, fstype, opts in _mounts():
        if fstype == "cgroup2" and v2_mount is None:
            v2_mount = mnt
        elif fstype == "cgroup":
            for c in opts.split(","):
                if c in V1_CONTROLLERS:
                    v1[c] = mnt
    v2_ctrl: list[str] = []
    if v2_mount:
        try:
            v2_ctrl = Path(v2_mount, "cgroup.controllers").read_text().split()
        except OSError:
            pass
    if v2_mount and not v1:
        layout = "v2"
    elif v2_mount and v1:
        layout = "hybrid"
    elif v1:
        layout = "v1"
    else:
        layout = "none"
    if is_root():
        bases = dict(v1)
        if v2_mount:
            bases["unified"] = v2_mount
    else:
        bases = _delegated_bases(v1, v2_mount)
    # Live proof: make and remove a course cgroup where the memory controller lives.
    target = None
    if "memory" in v2_ctrl and v2_mount:
        target = Path(bases["unified"]) if "unified" in bases else None
    elif "memory" in v1:
        target = Path(bases["memory"]) if "memory" in bases else None
    writable = False
    detail = ""
    if target is None and not is_root() and ("memory" in v1 or "memory" in v2_ctrl):
        detail = (f"no cgroup subtree delegated to {_user_name()} "
                  f"(<cgroup mount>/{DELEGATED_DIR}/{_user_name()})")
    elif target is not None:
        probe_dir = target / f"{PREFIX}probe-{uuid.uuid4().hex[:8]}"
        try:
            probe_dir.mkdir()
            writable = True
            probe_dir.rmdir()
        except OSError as err:
            detail = f"cannot create a cgroup under {target}: {err.strerror}"
    else:
        detail = "no memory controller is mounted"
    return CgroupInfo(layout, v2_mount, v2_ctrl, v1, writable, detail, bases,
                      delegated=writable and not is_root())
