"""One boot: a busybox guest (minimal or Debian kernel), the systemd disk guest, a container (busybox or Debian+systemd), each timed by phase and measured."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
import uuid
from typing import Any

from virtlab import PREFIX
from virtlab.bootexp.base import CONTAINERS, MEMORY_MIB, SYSTEMD_CMDLINE, TB_CACHE_MIB, BootExpError
from virtlab.bootexp.disk import disk_path
from virtlab.safety import Deadline

# --------------------------------------------------------------------------- one boot
_RUN_INIT_RE = re.compile(r"\[\s*([\d.]+)\] Run /init as init process")


def _memory(g: Any) -> dict[str, float | None]:
    from virtlab.bench import cgroup_memory_bytes

    pid = g.qemu_pid()
    charged = cgroup_memory_bytes(pid) if pid else None
    rss = g.rss_bytes()
    return {"charged_mib": None if charged is None else charged / 2**20,
            "rss_mib": None if rss is None else rss / 2**20}


def boot_busybox(kernel: str, *, memory: int = MEMORY_MIB, tb_cache: int | None = TB_CACHE_MIB,
                 settle_s: float = 1.0, cmdline: str | None = None,
                 firmware: str = "course") -> dict[str, Any]:
    """Boot the course VM with ``kernel`` ("minimal"/"stock"): phases, memory, release.
    ``cmdline`` replaces the course VM's kernel command line (the default when None);
    ``firmware`` as in :func:`virtlab.virt.vm` ("course", "qboot", "seabios")."""
    from virtlab import virt

    extra = {} if cmdline is None else {"cmdline": cmdline}
    spec = virt.DomainSpec(name=f"bootexp-{kernel}-{uuid.uuid4().hex[:4]}", memory=memory,
                           tb_cache_mib=tb_cache, **extra)
    with virt.vm(spec, guest_kernel=kernel, boot_timeout=120, firmware=firmware) as g:
        wall = float(g.boot_seconds or 0)
        up = float(g.marker["uptime_s"])
        m = _RUN_INIT_RE.search(g.run("dmesg").output)
        k = float(m.group(1)) if m else None
        time.sleep(settle_s)
        return {"wall_s": wall, "host_s": wall - up, "kernel_s": k,
                "init_s": None if k is None else up - k, "services_s": None,
                "release": g.marker["release"], "firmware": g.firmware, **_memory(g)}


def boot_systemd(*, memory: int = MEMORY_MIB, tb_cache: int | None = TB_CACHE_MIB,
                 settle_s: float = 1.0, serial_log: str | None = None) -> dict[str, Any]:
    """Boot the minimal kernel on the Debian/systemd disk (a throw-away qcow2 overlay)."""
    from virtlab import virt

    base = disk_path()
    if not base.exists():
        raise BootExpError(f"no systemd disk at {base}: `sudo VIRTLAB_BOOT_DISK=1 virtlab images build --only bootdisk`")
    kern = virt.artefacts("minimal")
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        raise BootExpError("qemu-img is needed: apt-get install qemu-utils")
    name = f"bootexp-systemd-{uuid.uuid4().hex[:4]}"
    overlay = virt._disk_dir() / f"{PREFIX}{name}.qcow2"
    subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base),
                    str(overlay)], check=True, capture_output=True, timeout=30)
    os.chmod(overlay, 0o644)
    try:
        spec = virt.DomainSpec(name=name, memory=memory, kernel=str(kern.kernel),
                               cmdline=SYSTEMD_CMDLINE, disk=str(overlay), tb_cache_mib=tb_cache,
                               serial_log=serial_log)
        with virt.vm(spec, boot_timeout=240) as g:
            wall = float(g.boot_seconds or 0)
            up = float(g.marker["uptime_s"])
            text = g.console.text if g.console else ""
            ts = re.search(r"VIRTLAB-TS (\d+) (\d+) (\d+)", text)
            st = re.search(r"VIRTLAB-SYSTEMD state=(\S+) units=(\d+)", text)
            blame = [ln.split("VIRTLAB-BLAME ", 1)[1].strip() for ln in text.splitlines()
                     if "VIRTLAB-BLAME " in ln]
            failed = next((ln.split("VIRTLAB-FAILED", 1)[1].split() for ln in text.splitlines()
                           if "VIRTLAB-FAILED" in ln), [])
            analyze = next((ln.split("VIRTLAB-ANALYZE ", 1)[1].strip() for ln in text.splitlines()
                            if "VIRTLAB-ANALYZE " in ln), "")
            time.sleep(settle_s)
            out: dict[str, Any] = {"wall_s": wall, "host_s": wall - up, "release": g.marker["release"],
                                   "firmware": g.firmware,
                                   "state": st.group(1) if st else None,
                                   "active_units": int(st.group(2)) if st else None,
                                   "analyze": analyze, "blame": blame, "failed_units": failed, **_memory(g)}
            if ts:
                user, finish, sysinit = (int(x) / 1e6 for x in ts.groups())
                out.update(kernel_s=user, init_s=sysinit - user, services_s=finish - sysinit)
            else:
                out.update(kernel_s=None, init_s=None, services_s=None)
            return out
    finally:
        with contextlib.suppress(OSError):
            overlay.unlink()


def boot_container(kind: str, *, settle_s: float = 1.0) -> dict[str, Any]:
    """Launch an LXD container (busybox: ready when ``true`` runs; Debian: when systemd says the
    boot is finished); its cgroup's memory with the boot done."""
    from virtlab import lxd

    image = lxd.DEFAULT_IMAGE if kind == "busybox" else lxd.DEBIAN_IMAGE
    t0 = time.perf_counter()
    with lxd.instance(f"bootexp-{uuid.uuid4().hex[:4]}", image=image, memory="256MiB") as inst:
        launched = time.perf_counter() - t0
        out: dict[str, Any] = {"launch_s": launched}
        if kind == "busybox":
            inst.exec(["true"])
        else:
            d = Deadline(120, "systemd boot in the Debian container")

            def booted() -> str | None:
                st = inst.exec(["systemctl", "is-system-running"]).out.strip()
                return st if st in ("running", "degraded") else None

            out["state"] = d.wait_for(booted, interval=0.1)
            ts = inst.exec(["systemctl", "show", "-P", "FinishTimestampMonotonic"]).out.strip()
            user = inst.exec(["systemctl", "show", "-P", "UserspaceTimestampMonotonic"]).out.strip()
            with contextlib.suppress(ValueError):
                out["systemd_s"] = (int(ts) - int(user)) / 1e6  # systemd's own count, in-container
        out["wall_s"] = time.perf_counter() - t0
        time.sleep(settle_s)
        mem = inst.state().memory_bytes
        out["charged_mib"] = None if mem is None else mem / 2**20
        return out


def available_containers() -> dict[str, str | None]:
    """container kind -> None when it can run here, else why not."""
    try:
        from virtlab import lxd

        client = lxd.connect()
        have = {k: lxd._image_exists(client, lxd.DEFAULT_IMAGE if k == "busybox" else lxd.DEBIAN_IMAGE)
                for k in CONTAINERS}
    except Exception as err:  # noqa: BLE001 - reported as the reason
        return {k: f"LXD is not reachable: {err}" for k in CONTAINERS}
    return {k: None if have[k] else
            ("the optional image vl-debian is not built: `sudo VIRTLAB_LXD_DEBIAN=1 virtlab images "
             "build --only lxd`" if k != "busybox" else "the busybox image is not built")
            for k in CONTAINERS}
