"""Episode 08's start-up experiment: the same QEMU, three guests, boot split into phases.

Guests (all direct kernel boot on the same QEMU, same RAM, same accelerator):

==================  =======================================================================
minimal+busybox     the course's minimal kernel (:mod:`virtlab.guestkernel`) + busybox /init
stock+busybox       the distribution's generic kernel + the same busybox initramfs
minimal+systemd     the minimal kernel booting a full Debian (debootstrap minbase + systemd)
                    from an ext4 disk image built offline (``mkfs.ext4 -d``, no root mount)
==================  =======================================================================

Each boot is timed from ``create`` to a marker line on the serial console and split where the
guest can tell: **host + firmware** (QEMU start, PVH entry: wall time minus the guest's uptime),
**kernel** (until ``/init`` or systemd starts: dmesg's ``Run /init`` or systemd's
``UserspaceTimestampMonotonic``), **init** (busybox: to the marker; systemd: to
``sysinit.target``) and **services** (systemd: to boot finished). Memory is the QEMU process's
charged cgroup memory and RSS with the guest idle after the marker.

:func:`run` returns JSON-able data (every repetition kept); :func:`summary` gives medians with
min–max, :func:`show` prints them beside the anchors (Firecracker, qboot, a stock cloud image).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from virtlab import modes
from virtlab.safety import Deadline, VirtlabError

GUESTS = ("minimal+busybox", "stock+busybox", "minimal+systemd")
GUEST_LABELS = {
    "minimal+busybox": "minimal kernel + busybox initramfs",
    "stock+busybox": "Debian kernel + busybox initramfs",
    "minimal+systemd": "minimal kernel + Debian/systemd ext4 disk",
}
#: column heads of the table
GUEST_SHORT = {"minimal+busybox": "minimal+busybox", "stock+busybox": "Debian-kernel+busybox",
               "minimal+systemd": "minimal+systemd-disk"}
PHASES = ("host_s", "kernel_s", "init_s", "services_s")
PHASE_LABELS = {"host_s": "host+firmware", "kernel_s": "kernel", "init_s": "init",
                "services_s": "services"}
METRICS = ("wall_s", *PHASES, "charged_mib", "rss_mib")
MEMORY_MIB = 128
TB_CACHE_MIB = 32
DISK_NAME = "debian-systemd.ext4"
DISK_SIZE = "1G"
#: the systemd guest's kernel command line: root on the virtio disk, no initramfs
SYSTEMD_CMDLINE = ("console=ttyS0 root=/dev/vda rw quiet panic=0 tsc=reliable no_timer_check "
                   "i8042.noaux systemd.show_status=0")

#: what the published figures measure (episode 08's table), for the side-by-side view
ANCHORS = (
    ("Firecracker microVM", "guest /sbin/init runs", "<= 0.125 s; VMM <= 5 MiB",
     "firecracker SPECIFICATION.md"),
    ("slim QEMU + qboot (KVM)", "guest kernel starts", "~0.040 s", "Bonzini, 2015"),
    ("stock cloud image (KVM)", "first command, cloud-init done", "7-9 s", "depot.dev, 2026"),
    ("the article", "\"VM startup\"", "30-60 s", "cited, no measurement"),
)

MARKER_UNIT = """[Unit]
Description=virtlab boot marker (episode 08): prints the boot's phases on the serial console
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/virtlab-marker

[Install]
WantedBy=multi-user.target
"""

MARKER_SCRIPT = r"""#!/bin/sh
# virtlab: wait until systemd says the boot is finished, then print its phases and the marker
state=$(systemctl is-system-running --wait)
{
  echo "VIRTLAB-SYSTEMD state=$state units=$(systemctl list-units --state=active --no-legend --plain | wc -l)"
  echo "VIRTLAB-TS $(systemctl show -P UserspaceTimestampMonotonic) $(systemctl show -P FinishTimestampMonotonic) $(systemctl show -P ActiveEnterTimestampMonotonic sysinit.target)"
  systemd-analyze time 2>&1 | head -1 | sed 's/^/VIRTLAB-ANALYZE /'
  systemd-analyze blame --no-pager 2>&1 | head -5 | sed 's/^/VIRTLAB-BLAME /'
  echo "VIRTLAB-READY release=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime) cpus=$(nproc) pvpanic=no"
} > /dev/ttyS0 2>&1
"""


class BootExpError(VirtlabError, RuntimeError):
    """The experiment could not run; the message says what is missing and how to get it."""


# --------------------------------------------------------------------------- the disk image
def disk_path() -> Path:
    """Where the systemd guest's ext4 image lives (beside the course VM's kernels)."""
    from virtlab import virt

    with contextlib.suppress(virt.MissingImage):
        return virt.artefacts().directory / DISK_NAME
    return virt.SYSTEM_VM_DIR / DISK_NAME


def _apt_source() -> tuple[str, str]:
    from virtlab import lxd

    return lxd._apt_source()


def build_disk(force: bool = False, *, timeout: float = 1200, tree: Path | None = None) -> str:
    """debootstrap Debian (minbase + systemd-sysv) and pack it into an ext4 image with
    ``mkfs.ext4 -d`` (no loop device, no mount). Needs root (debootstrap) and the Debian
    mirror; about a minute and a half. Idempotent. ``tree``: use this debootstrapped root
    (copied, not changed) instead of running debootstrap."""
    dest = disk_path()
    if dest.exists() and not force:
        return f"{dest}: present"
    for tool, pkg in (("debootstrap", "debootstrap"), ("mkfs.ext4", "e2fsprogs")):
        if shutil.which(tool) is None:
            raise BootExpError(f"{tool} is not installed: apt-get install {pkg}")
    if os.geteuid() != 0:
        raise BootExpError("building the systemd disk needs root (debootstrap): "
                           "`sudo VIRTLAB_BOOT_DISK=1 virtlab images build --only bootdisk`")
    mirror, suite = _apt_source()
    d = Deadline(timeout, "build the Debian/systemd disk image", "the mirror is slow or unreachable")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vl-bootdisk-", dir=dest.parent) as tmp:
        root = Path(tmp) / "root"
        if tree is not None:
            res = subprocess.run(["cp", "-a", str(tree), str(root)], capture_output=True, text=True,
                                 timeout=d.remaining(), check=False)
        else:
            res = subprocess.run(["debootstrap", "--variant=minbase", "--include=systemd-sysv",
                                  suite, str(root), mirror], capture_output=True, text=True,
                                 timeout=d.remaining(), check=False)
        if res.returncode != 0:
            raise BootExpError(f"debootstrap {suite} from {mirror} failed: "
                               f"{(res.stderr or res.stdout).strip()[-400:]}")
        _customise(root)
        img = Path(tmp) / DISK_NAME
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "vl-root", "-d", str(root), str(img),
                        DISK_SIZE], check=True, capture_output=True, timeout=max(1.0, d.remaining()))
        os.chmod(img, 0o644)
        img.replace(dest)
    used = dest.stat().st_blocks * 512
    return f"{dest}: built ({used / 2**20:.0f} MiB used of {DISK_SIZE}, {time.monotonic() - t0:.0f} s)"


def build_images(force: bool = False) -> str:
    """``virtlab images build --only bootdisk``: the optional systemd disk of episode 08's
    experiment, built when ``VIRTLAB_BOOT_DISK=1`` (root, the Debian mirror, ~1.5 min)."""
    if os.environ.get("VIRTLAB_BOOT_DISK") != "1":
        return ("skipped (optional): set VIRTLAB_BOOT_DISK=1 to build the Debian/systemd disk of "
                "episode 08's start-up experiment (root, the Debian mirror, ~1.5 min)")
    return build_disk(force)


def _customise(root: Path) -> None:
    """Hostname, fstab, the marker service; apt's caches out."""
    (root / "etc/hostname").write_text("vl-guest-systemd\n")
    (root / "etc/fstab").write_text("/dev/vda / ext4 rw,noatime 0 0\n")
    sbin = root / "usr/local/sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    (sbin / "virtlab-marker").write_text(MARKER_SCRIPT)
    os.chmod(sbin / "virtlab-marker", 0o755)
    unit = root / "etc/systemd/system/virtlab-marker.service"
    unit.write_text(MARKER_UNIT)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "virtlab-marker.service"
    if not link.is_symlink():
        link.symlink_to("/etc/systemd/system/virtlab-marker.service")
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for f in (root / junk).glob("*"):
            if f.is_file():
                f.unlink()


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
                 settle_s: float = 1.0) -> dict[str, Any]:
    """Boot the course VM with ``kernel`` ("minimal"/"stock"): phases, memory, release."""
    from virtlab import virt

    spec = virt.DomainSpec(name=f"bootexp-{kernel}-{uuid.uuid4().hex[:4]}", memory=memory,
                           tb_cache_mib=tb_cache)
    with virt.vm(spec, guest_kernel=kernel, boot_timeout=120) as g:
        wall = float(g.boot_seconds or 0)
        up = float(g.marker["uptime_s"])
        m = _RUN_INIT_RE.search(g.run("dmesg").output)
        k = float(m.group(1)) if m else None
        time.sleep(settle_s)
        return {"wall_s": wall, "host_s": wall - up, "kernel_s": k,
                "init_s": None if k is None else up - k, "services_s": None,
                "release": g.marker["release"], **_memory(g)}


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
    overlay = virt._disk_dir() / f"{virt.PREFIX}{name}.qcow2"
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
            analyze = next((ln.split("VIRTLAB-ANALYZE ", 1)[1].strip() for ln in text.splitlines()
                            if "VIRTLAB-ANALYZE " in ln), "")
            time.sleep(settle_s)
            out: dict[str, Any] = {"wall_s": wall, "host_s": wall - up, "release": g.marker["release"],
                                   "state": st.group(1) if st else None,
                                   "active_units": int(st.group(2)) if st else None,
                                   "analyze": analyze, "blame": blame, **_memory(g)}
            if ts:
                user, finish, sysinit = (int(x) / 1e6 for x in ts.groups())
                out.update(kernel_s=user, init_s=sysinit - user, services_s=finish - sysinit)
            else:
                out.update(kernel_s=None, init_s=None, services_s=None)
            return out
    finally:
        with contextlib.suppress(OSError):
            overlay.unlink()


# --------------------------------------------------------------------------- containers
CONTAINERS = ("busybox", "debian+systemd")
CONTAINER_LABELS = {"busybox": "busybox", "debian+systemd": "Debian+systemd"}


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


# --------------------------------------------------------------------------- the experiment
def available_guests() -> dict[str, str | None]:
    """guest -> None when it can run here, else why not."""
    from virtlab import virt

    out: dict[str, str | None] = {}
    for g in GUESTS:
        kernel = "stock" if g.startswith("stock") else "minimal"
        try:
            virt.artefacts(kernel)
            why = None
        except (virt.MissingImage, ValueError) as err:
            why = str(err)
        if why is None and g.endswith("systemd") and not disk_path().exists():
            why = f"no systemd disk image ({disk_path()}): `sudo VIRTLAB_BOOT_DISK=1 virtlab images build --only bootdisk`"
        out[g] = why
    return out


def run(repeat: int = 3, *, guests: tuple[str, ...] = GUESTS, memory: int = MEMORY_MIB,
        tb_cache: int | None = TB_CACHE_MIB, require: bool = False,
        containers: bool = True) -> dict[str, Any]:
    """Boot each guest ``repeat`` times, interleaved (a noisy neighbour slows all alike); then
    the containers (busybox, Debian/systemd) the same number of times."""
    from virtlab import virt

    bad = [g for g in guests if g not in GUESTS]
    if bad:
        raise ValueError(f"unknown guest(s) {bad}; choose from {', '.join(GUESTS)}")
    avail = available_guests()
    skipped = {g: why for g in guests if (why := avail[g])}
    if skipped and require:
        raise BootExpError("; ".join(f"{g}: {w}" for g, w in skipped.items()))
    todo = [g for g in guests if g not in skipped]
    runs: dict[str, list[dict[str, Any]]] = {g: [] for g in todo}
    accel = virt.accelerator()
    for _ in range(repeat):
        for g in todo:
            if g == "minimal+systemd":
                runs[g].append(boot_systemd(memory=memory, tb_cache=tb_cache))
            else:
                runs[g].append(boot_busybox(g.split("+")[0], memory=memory, tb_cache=tb_cache))
    kernels = {}
    for k in ("minimal", "stock"):
        with contextlib.suppress(virt.MissingImage, ValueError):
            a = virt.artefacts(k)
            kernels[k] = {"release": a.release, "bytes": a.kernel.stat().st_size}
    build = {}
    with contextlib.suppress(Exception):
        from virtlab import guestkernel

        b = guestkernel.cached()
        if b is not None:
            build = {"total_s": b.info.get("total_s"), "seconds": b.info.get("seconds"),
                     "jobs": b.info.get("jobs"), "cpus": b.info.get("cpus")}
    cavail = available_containers() if containers else {}
    cskipped = {k: why for k, why in cavail.items() if why}
    if cskipped and require:
        raise BootExpError("; ".join(f"{k}: {w}" for k, w in cskipped.items()))
    cruns: dict[str, list[dict[str, Any]]] = {k: [] for k in cavail if k not in cskipped}
    for _ in range(repeat):
        for k in cruns:
            cruns[k].append(boot_container(k))
    return {"runs": runs, "skipped": skipped, "containers": cruns, "containers_skipped": cskipped,
            "repeat": repeat, "memory_mib": memory,
            "tb_cache_mib": tb_cache, "accelerator": accel.name, "accelerator_reason": accel.reason,
            "kernels": kernels, "kernel_build": build}


def summary(data: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """guest -> metric -> {median, min, max, n}: medians with their spread."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for g, rows in data["runs"].items():
        for m in METRICS:
            vals = [float(r[m]) for r in rows if r.get(m) is not None]
            if vals:
                out.setdefault(g, {})[m] = {"median": statistics.median(vals), "min": min(vals),
                                            "max": max(vals), "n": len(vals)}
    return out


CONTAINER_METRICS = ("launch_s", "wall_s", "systemd_s", "charged_mib")


def container_summary(data: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """kind -> metric -> {median, min, max, n} for the containers."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for k, rows in (data.get("containers") or {}).items():
        for m in CONTAINER_METRICS:
            vals = [float(r[m]) for r in rows if r.get(m) is not None]
            if vals:
                out.setdefault(k, {})[m] = {"median": statistics.median(vals), "min": min(vals),
                                            "max": max(vals), "n": len(vals)}
    return out


def ratios(data: dict[str, Any], base: str = "minimal+busybox") -> dict[str, dict[str, float]]:
    """Each guest's medians divided by ``base``'s (1.0 = as fast/small as the minimal guest)."""
    s = summary(data)
    b = s.get(base, {})
    return {g: {m: v["median"] / b[m]["median"] for m, v in ms.items()
                if m in b and b[m]["median"]} for g, ms in s.items()}


def _cell(v: dict[str, float] | None, unit: str) -> str:
    if v is None:
        return "—"
    f = "{:.2f}" if unit == "s" else ("{:.1f}" if v["max"] < 10 else "{:.0f}")
    return f"{f.format(v['median'])} [{f.format(v['min'])}–{f.format(v['max'])}]"


def show(r: Any) -> None:
    """The table: one column per guest, medians [min–max], ratios to the minimal guest, anchors."""
    data = r.data if hasattr(r, "data") else r
    s = summary(data)
    rat = ratios(data)
    guests = [g for g in GUESTS if g in s]
    print(f"{len(guests)} guests on the same QEMU ({str(data['accelerator']).upper()}), "
          f"{data['memory_mib']} MiB RAM each, TCG translation cache {data.get('tb_cache_mib')} MiB; "
          f"{data['repeat']} boots each, interleaved; median [min–max]")
    for g in guests:
        print(f"  {GUEST_SHORT[g]:<22} {GUEST_LABELS[g]}")
    for k, v in data.get("kernels", {}).items():
        print(f"  {k} kernel: {v['release']} ({v['bytes'] / 2**20:.1f} MiB vmlinux)")
    w = 24
    print(f"{'':<22}" + "".join(f"{GUEST_SHORT[g]:>{w}}" for g in guests))
    rows = [("create -> ready (s)", "wall_s", "s")] + \
        [(f"  {PHASE_LABELS[p]} (s)", p, "s") for p in PHASES] + \
        [("QEMU charged (MiB)", "charged_mib", "MiB"), ("QEMU RSS (MiB)", "rss_mib", "MiB")]
    for label, m, unit in rows:
        print(f"{label:<22}" + "".join(f"{_cell(s[g].get(m), unit):>{w}}" for g in guests))
    print(f"{'ratio to minimal':<22}" + "".join(
        f"{'x{:.1f} time, x{:.1f} mem'.format(rat[g].get('wall_s', 0), rat[g].get('charged_mib', rat[g].get('rss_mib', 0))):>{w}}"
        for g in guests))
    sysd = data["runs"].get("minimal+systemd")
    if sysd:
        last = sysd[-1]
        print(f"systemd: {last.get('state')}, {last.get('active_units')} active units; "
              f"systemd-analyze: {last.get('analyze')}")
        if last.get("blame"):
            print("  slowest units: " + "; ".join(last["blame"][:3]))
    for g, why in sorted(data.get("skipped", {}).items()):
        print(f"skipped {g}: {why}")
    kb = data.get("kernel_build") or {}
    if kb.get("total_s"):
        print(f"minimal kernel build: {kb['total_s']:.0f} s on {kb.get('cpus')} CPUs (make -j{kb.get('jobs')}), "
              "once at provisioning, cached after")
    cs = container_summary(data)
    if cs:
        print("\ncontainers (LXD on the same host: busybox image vs Debian with systemd as PID 1)")
        print(f"{'':<22}" + "".join(f"{CONTAINER_LABELS[k]:>{w}}" for k in CONTAINERS if k in cs))
        for label, m, unit in (("launch (s)", "launch_s", "s"), ("create -> ready (s)", "wall_s", "s"),
                               ("  systemd's count (s)", "systemd_s", "s"),
                               ("cgroup charged (MiB)", "charged_mib", "MiB")):
            print(f"{label:<22}" + "".join(f"{_cell(cs[k].get(m), unit):>{w}}" for k in CONTAINERS if k in cs))
    for k, why in sorted((data.get("containers_skipped") or {}).items()):
        print(f"skipped container {k}: {why}")
    print("\nanchors (each stops the clock somewhere else):")
    for what, stop, fig, src in ANCHORS:
        print(f"  {what:<26} {stop:<32} {fig:<24} {src}")


def _requires(backend: modes.Backend) -> str | None:
    why = [f"{g}: {w}" for g, w in available_guests().items() if w]
    return "; ".join(why) or None


@modes.demo("bootexp.startup", section="libvirt", requires=_requires)
def demo_startup(backend: modes.Backend) -> dict[str, Any]:
    """Three guests on one QEMU, three boots each; phases and memory (episode 08)."""
    return run(3, require=backend.forced)


def cleanup() -> list[str]:
    """Leftover overlays of interrupted runs (the domains go with ``virt.cleanup``)."""
    from virtlab import virt

    removed = []
    d = virt._disk_dir()
    for p in d.glob(f"{virt.PREFIX}bootexp-*.qcow2"):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(str(p))
    return removed
