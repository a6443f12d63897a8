"""The start-up experiment's vocabulary: the guests, phases, metrics, memory, the anchors, the marker unit, its error."""
from __future__ import annotations

from virtlab.safety import VirtlabError
from virtlab.virt.base import BOOT_TRIMS

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


#: versioned: a changed recipe builds a new disk (2: with udev — without it systemd never sees
#: /dev/ttyS0 and its serial getty waited 90 s for the device before giving up)
DISK_NAME = "debian-systemd-2.ext4"


DISK_SIZE = "1G"


#: the systemd guest's kernel command line: root on the virtio disk, no initramfs
SYSTEMD_CMDLINE = ("console=ttyS0 root=/dev/vda rw quiet panic=0 tsc=reliable no_timer_check "
                   f"i8042.noaux systemd.show_status=0 {BOOT_TRIMS}")


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
  echo "VIRTLAB-FAILED $(systemctl --failed --no-legend --plain | cut -d' ' -f1 | tr '\n' ' ')"
  echo "VIRTLAB-TS $(systemctl show -P UserspaceTimestampMonotonic) $(systemctl show -P FinishTimestampMonotonic) $(systemctl show -P ActiveEnterTimestampMonotonic sysinit.target)"
  systemd-analyze time 2>&1 | head -1 | sed 's/^/VIRTLAB-ANALYZE /'
  systemd-analyze blame --no-pager 2>&1 | head -5 | sed 's/^/VIRTLAB-BLAME /'
  echo "VIRTLAB-READY release=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime) cpus=$(nproc) pvpanic=no"
} > /dev/ttyS0 2>&1
"""


class BootExpError(VirtlabError, RuntimeError):
    """The experiment could not run; the message says what is missing and how to get it."""


# --------------------------------------------------------------------------- containers
CONTAINERS = ("busybox", "debian+systemd")


CONTAINER_LABELS = {"busybox": "busybox", "debian+systemd": "Debian+systemd"}


CONTAINER_METRICS = ("launch_s", "wall_s", "systemd_s", "charged_mib")
