"""The Debian+systemd disk image of the third guest, built offline with debootstrap (``virtlab images build --only bootdisk``)."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from virtlab import core, rootfs
from virtlab.bootexp.base import DISK_NAME, DISK_SIZE, MARKER_SCRIPT, MARKER_UNIT, BootExpError
from virtlab.core.registry import builds
from virtlab.safety import Deadline


# --------------------------------------------------------------------------- the disk image
def disk_path() -> Path:
    """Where the systemd guest's ext4 image lives (beside the course VM's kernels)."""
    from virtlab import virt

    with contextlib.suppress(virt.MissingImage):
        return virt.artefacts().directory / DISK_NAME
    return virt.SYSTEM_VM_DIR / DISK_NAME


def _apt_source() -> tuple[str, str]:
    return rootfs.apt_source()


def build_disk(force: bool = False, *, timeout: float = 1200, tree: Path | None = None) -> str:
    """debootstrap Debian (minbase + systemd-sysv + udev) and pack it into an ext4 image with
    ``mkfs.ext4 -d`` (no loop device, no mount). Needs root (debootstrap) and the Debian
    mirror; about a minute and a half. Idempotent. ``tree``: use this debootstrapped root
    (copied, not changed) instead of running debootstrap."""
    dest = disk_path()
    if dest.exists() and not force:
        return f"{dest}: present"
    if shutil.which("mkfs.ext4") is None:
        raise BootExpError("mkfs.ext4 is not installed. To fix: `sudo apt-get install e2fsprogs`")
    if os.geteuid() != 0:
        raise BootExpError("building the systemd disk needs root (debootstrap). To fix: "
                           "`sudo VIRTLAB_BOOT_DISK=1 virtlab images build --only bootdisk`")
    d = Deadline(timeout, "build the Debian/systemd disk image", "the mirror is slow or unreachable")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vl-bootdisk-", dir=dest.parent) as tmp:
        root = Path(tmp) / "root"
        if tree is not None:
            core.run(["cp", "-a", str(tree), str(root)], d, check=True)
        else:
            rootfs.debootstrap(root, ["systemd-sysv", "udev"], d, error=BootExpError,
                               sudo_hint="sudo VIRTLAB_BOOT_DISK=1 virtlab images build --only bootdisk")
        _customise(root)
        img = Path(tmp) / DISK_NAME
        core.run(["mkfs.ext4", "-q", "-F", "-L", "vl-root", "-d", str(root), str(img), DISK_SIZE],
                 d, check=True)
        os.chmod(img, 0o644)
        img.replace(dest)
    used = dest.stat().st_blocks * 512
    return f"{dest}: built ({used / 2**20:.0f} MiB used of {DISK_SIZE}, {time.monotonic() - t0:.0f} s)"


@builds("bootdisk", order=40)
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
