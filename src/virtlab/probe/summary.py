"""Everything together: ``capabilities()``, the rows ``virtlab doctor`` prints, tool versions,
``show()``.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from virtlab.probe.basics import is_root, kernel
from virtlab.probe.cgroupinfo import CgroupInfo, cgroups
from virtlab.probe.daemoninfo import (
    LibvirtInfo,
    LxdInfo,
    _daemons_wanted,
    _libvirt_uri,
    libvirt_info,
    lxd,
)
from virtlab.probe.kvminfo import KvmInfo, VmAccelerator, kvm, vm_accelerator
from virtlab.probe.nsinfo import NamespaceInfo, namespaces


# --------------------------------------------------------------------------- hub
def hub() -> dict[str, bool]:
    env = os.environ
    return {
        "binder": any(k in env for k in ("BINDER_SERVICE_HOST", "BINDER_REQUEST", "BINDER_LAUNCH_HOST")),
        "jupyterhub": any(k in env for k in ("JUPYTERHUB_API_URL", "JUPYTERHUB_SERVICE_PREFIX")),
    }


# --------------------------------------------------------------------------- all together
@dataclass
class Capabilities:
    kernel: dict[str, str]
    root: bool
    cgroups: CgroupInfo
    namespaces: NamespaceInfo
    kvm: KvmInfo
    lxd: LxdInfo
    libvirt: LibvirtInfo
    hub: dict[str, bool]
    vm_accelerator: VmAccelerator

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def capabilities(refresh: bool = False) -> Capabilities:
    """Probe everything (cached per process)."""
    return Capabilities(
        kernel=kernel(), root=is_root(), cgroups=cgroups(refresh), namespaces=namespaces(refresh),
        kvm=kvm(refresh), lxd=lxd(refresh), libvirt=libvirt_info(refresh), hub=hub(),
        vm_accelerator=vm_accelerator(refresh),
    )


def summary_rows(c: Capabilities) -> list[tuple[str, str, str]]:  # noqa: C901
    """(capability, answer, how it was tested) rows for the doctor table and notebook 00."""
    cg = c.cgroups
    ns = c.namespaces
    where = ", ".join(f"{k}:v1" for k in sorted(cg.v1_controllers)) or "-"
    if cg.v2_controllers:
        where += "; v2: " + " ".join(cg.v2_controllers)
    rows = [
        ("kernel", f"Linux {c.kernel['release']} ({c.kernel['machine']}), {c.kernel['os']}", "uname, /etc/os-release"),
        ("root", "yes" if c.root else "no", "geteuid()"),
        ("cgroup layout", cg.layout, "/proc/self/mounts"),
        ("cgroup controllers", where, "cgroup mounts, cgroup.controllers"),
        ("cgroups writable", "yes" if cg.writable else f"no ({cg.detail})", "mkdir + rmdir of a course cgroup"),
        ("namespaces", ", ".join(f"{k}:{'ok' if v == 'ok' else 'no'}" for k, v in ns.as_current_user.items()),
         "unshare(2) of each type in a child"),
        ("unprivileged user ns", "yes" if ns.unprivileged_userns else f"no ({ns.unprivileged_detail})",
         f"unshare(CLONE_NEWUSER) as uid {65534 if c.root else os.getuid()}"),
        ("/dev/kvm", (f"usable (API {c.kvm.api_version})") if c.kvm.api_usable
         else ("present, not usable" if c.kvm.present else "absent"), "KVM_GET_API_VERSION + KVM_CREATE_VM"),
        ("vmx/svm CPU flags", "yes" if c.kvm.vmx_svm else "no", "/proc/cpuinfo"),
        ("libvirt guests use", f"{c.vm_accelerator.name.upper()}: {c.vm_accelerator.reason}",
         f"{c.vm_accelerator.source} + the CPU flags"),
        ("LXD/Incus", f"{c.lxd.title} {c.lxd.version} at {c.lxd.socket}; pools: {', '.join(c.lxd.storage_pools) or '-'}; "
         f"course images: {', '.join(c.lxd.course_images) or '-'}" if c.lxd.reachable else f"no ({c.lxd.error})",
         "GET /1.0 over the unix socket (pylxd)"),
    ]
    for uri, r in c.libvirt.uris.items():
        rows.append((f"libvirt {uri}", f"ok (libvirt {r.get('version')}, {r.get('hypervisor')})" if r.get("ok")
                     else f"no ({r.get('error')})", "virConnectOpen"))
    h = [k for k, v in c.hub.items() if v]
    rows.append(("Binder/JupyterHub", ", ".join(h) if h else "no", "environment variables"))
    return rows


def versions() -> dict[str, str]:
    """Versions of the lab services this machine runs (only those that answer)."""
    v: dict[str, str] = {}
    info = lxd()
    if info.reachable and info.version:
        v[info.server] = info.version  # "lxd" or "incus"
    lv = libvirt_info().uris.get("qemu:///system", {})
    if lv.get("ok"):
        v["libvirt"] = lv["version"]
    return v


def show() -> None:
    """Print this machine's capability table (what ``virtlab doctor`` prints).

    In ``embedded`` and ``recorded`` modes the LXD and libvirt daemons are not consulted, so the
    table says so instead of contacting them.
    """
    from virtlab import modes  # modes imports probe: asked at call time

    mode = modes.requested_mode()
    if _daemons_wanted(mode):
        rows = summary_rows(capabilities())
    else:
        c = Capabilities(kernel(), is_root(), cgroups(), namespaces(), kvm(),
                         LxdInfo(False, None, error=f"not consulted (VIRTLAB_MODE={mode})"),
                         LibvirtInfo(True, {"qemu:///system": {"ok": False, "error": f"not consulted (VIRTLAB_MODE={mode})"},
                                            "test:///default": _libvirt_uri("test:///default")}), hub(),
                         VmAccelerator(kvm().accelerator, kvm().reason, "/dev/kvm, opened as this user"))
        rows = summary_rows(c)
    w = max(len(r[0]) for r in rows)
    for name, answer, how in rows:
        print(f"{name:<{w}}  {answer}")
        print(f"{'':<{w}}    tested by: {how}")
