"""The security episode's demos (``@modes.demo``): each returns JSON-able data, prints nothing."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from virtlab import PREFIX, modes, owners
from virtlab.core.registry import cleans
from virtlab.safety import Deadline
from virtlab.security.attempts import (
    host_baseline,
    probe_lxd,
    probe_minicontainer,
    probe_namespaces,
)
from virtlab.security.caps import drop_capability_demo
from virtlab.security.kernel import _active_lsms_root, kernel_view, lsm_status, seccomp_block


# --------------------------------------------------------------------------- demos
@modes.demo("security.kernel", section="security", embedded=True)
def demo_kernel(backend: modes.Backend) -> dict[str, Any]:
    return kernel_view()


# not embedded: it consults host tools (QEMU, kernel headers), so what a machine without the lab
# services shows is the labelled recording of a real run, the same on every machine
@modes.demo("security.surface", section="security")
def demo_surface(backend: modes.Backend) -> dict[str, Any]:
    from virtlab import attacksurface

    return attacksurface.measure()


@modes.demo("security.attempts", section="security", embedded=True)
def demo_attempts(backend: modes.Backend) -> dict[str, Any]:
    try:
        return probe_minicontainer().to_dict()
    except ImportError:  # the mini container is not there: our own unshare(1) runner
        return probe_namespaces(live=backend.privileged).to_dict()


def _lxd_privileged_refused() -> str | None:
    from virtlab.lxd.client import privileged_refused

    return privileged_refused()


@modes.demo("security.lxd", section="lxd", requires=lambda b: _lxd_privileged_refused())
def demo_lxd(backend: modes.Backend) -> dict[str, Any]:
    return {"unprivileged": probe_lxd(privileged=False), "privileged": probe_lxd(privileged=True)}


@modes.demo("security.privileged", section="container",
            requires=modes.needs_root("a privileged container is compared with host root"))
def demo_privileged(backend: modes.Backend) -> dict[str, Any]:
    return {"host": host_baseline().to_dict(),
            "container": probe_minicontainer(privileged=True).to_dict()}


@modes.demo("security.capabilities", section="security", embedded=True)
def demo_capabilities(backend: modes.Backend) -> dict[str, Any]:
    return drop_capability_demo(live=backend.privileged)


@modes.demo("security.seccomp", section="security", embedded=True)
def demo_seccomp(backend: modes.Backend) -> dict[str, Any]:
    return {"errno": seccomp_block("uname", "errno"), "kill": seccomp_block("uname", "kill")}


@modes.demo("security.lsm", section="security", embedded=True)
def demo_lsm(backend: modes.Backend) -> dict[str, Any]:
    out = lsm_status()
    if backend.privileged and out["active"] is None:
        active = _active_lsms_root()
        out["active"] = active.split(",") if active else None
    return out


def guest_panic(timeout: float = 120.0) -> dict[str, Any]:
    """Boot two course VMs (episode 06's tiny VM), panic one guest kernel, and check that the
    neighbour VM and the host carry on. Uses :func:`virtlab.virt.vm` and ``Guest.crash()``."""
    import time

    from virtlab import virt

    dl = Deadline(timeout, "guest panic demo")
    tag = f"{os.getpid() % 100000}"
    host_boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    with virt.vm(name=f"sec-neighbour-{tag}", boot_timeout=min(90, int(dl.remaining()))) as other, \
            virt.vm(name=f"sec-victim-{tag}", boot_timeout=min(90, int(dl.remaining()))) as victim:
        before = other.run("cat /proc/uptime").output.split()[0]
        crash = victim.crash(timeout=max(5.0, min(30.0, dl.remaining())))
        time.sleep(0.5)
        after = other.run("cat /proc/uptime")
        victim_state = virt.state_name(victim.dom)
        out = {
            "accelerator": victim.accelerator.name if hasattr(victim.accelerator, "name") else "",
            "guest_release": victim.marker.get("release"),
            "host_release": os.uname().release,
            "victim_state": victim_state,
            "panic_console": [ln.strip() for ln in crash.get("console", []) if "Kernel panic" in ln][-1:]
            or [ln.strip() for ln in crash.get("console", [])][-1:],
            "panic_reported_s": crash.get("seconds"),
            "neighbour_state": virt.state_name(other.dom),
            "neighbour_answers": after.rc == 0,
            "neighbour_uptime_before_s": float(before),
            "neighbour_uptime_after_s": float(after.output.split()[0]),
            "host_same_boot": Path("/proc/sys/kernel/random/boot_id").read_text().strip() == host_boot,
        }
    return out


@modes.demo("security.panic", section="libvirt")
def demo_panic(backend: modes.Backend) -> dict[str, Any]:
    return guest_panic()


# --------------------------------------------------------------------------- cleanup
@cleans(order=60)
def cleanup() -> list[str]:
    """Remove scratch directories the probes left (only ``vl-sec-*`` in the temp dir)."""
    removed = []
    tmp = Path(tempfile.gettempdir())
    for d in tmp.glob(f"{PREFIX}sec-*"):
        if d.is_dir() and not d.is_symlink() and owners.path_is_mine(d):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    return removed
