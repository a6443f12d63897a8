"""libvirt/QEMU constants shared by the virt modules (URIs, guest markers, limits) and the errors.
"""
from __future__ import annotations

import os
from pathlib import Path

# =========================================================================== demos (notebook 06)
from virtlab.safety import (
    VirtlabError,
)

SYSTEM_URI = "qemu:///system"


TEST_URI = "test:///default"


MARKER = "VIRTLAB-READY"


DONE = "VIRTLAB-DONE"


#: the kernel command line of the course VM (quiet: printing on an emulated UART is slow;
#: pty.legacy_count=0: no 256 BSD ptys to register, the slowest initcall under TCG (~0.23 s,
#: initcall_debug); 8250.nr_uarts=1: probe ttyS0 only, not four UARTs. Both cut kernel time
#: by ~0.2 s under TCG, measured side by side: `virtlab bench --boot-trims`); nolapic_timer: the
#: kernel calibrates the local APIC timer against the PIT for 100 ms (HZ/10 ticks) unless the CPU
#: has a TSC-deadline timer, which TCG does not emulate — without it the HPET drives the tick
#: (time to "Run /init" 0.52 -> 0.47 s; with more than one vCPU the others' ticks are broadcast
#: from it, and dmesg says "lapic is not functional")
BOOT_TRIMS = "pty.legacy_count=0 8250.nr_uarts=1 nolapic_timer"
DEFAULT_CMDLINE = f"console=ttyS0 quiet panic=0 tsc=reliable no_timer_check i8042.noaux {BOOT_TRIMS}"


MIN_MEMORY_MIB = 32


#: qboot, QEMU's minimal x86 firmware (Debian: qemu-system-data): it sets up memory, PCI and the
#: ACPI tables QEMU hands it, then jumps to the kernel QEMU loaded — no POST, no option-ROM
#: scan, no boot menu. The course VM (direct kernel boot, PVH) starts on it where it is
#: installed; measured against QEMU's default SeaBIOS side by side: `virtlab bench --boot-firmware`.
QBOOT_ROM = Path("/usr/share/qemu/qboot.rom")


def course_firmware(choice: str | None = None) -> str | None:
    """The firmware ROM a course VM boots with, or None for QEMU's default (SeaBIOS).

    ``choice``: "auto" (qboot where installed, else SeaBIOS), "qboot" (a clear error where it is
    missing) or "seabios"; None reads ``VIRTLAB_FIRMWARE`` (default "auto")."""
    if choice is None:
        choice = os.environ.get("VIRTLAB_FIRMWARE", "auto")
    if choice not in ("auto", "qboot", "seabios"):
        raise ValueError(f"firmware must be auto, qboot or seabios (VIRTLAB_FIRMWARE or "
                         f"firmware=), not {choice!r}")
    if choice == "seabios":
        return None
    if QBOOT_ROM.is_file():
        return str(QBOOT_ROM)
    if choice == "qboot":
        raise VirtError(f"firmware qboot asked for but {QBOOT_ROM} is missing: "
                        "apt-get install qemu-system-data (or VIRTLAB_FIRMWARE=auto)")
    return None


#: Debian's generic kernel spans ~75 MiB of guest-physical memory (loaded at 16 MiB, ~58 MiB of
#: code, data and bss): with 64 or 80 MiB it dies before printing a byte. Measured here.
COURSE_VM_MIN_MIB = 96


MAX_MEMORY_MIB = 4096


MAX_VCPUS = 8


VM_SUBDIR = "vm"


SYSTEM_VM_DIR = Path("/var/lib/virtlab") / VM_SUBDIR


PVPANIC_MODULES = ("pvpanic.ko", "pvpanic-mmio.ko", "pvpanic-pci.ko")


_OWNER_TAG = "owner"


class VirtError(VirtlabError, RuntimeError):
    """libvirt refused something; the message says what and what to do."""


class MissingImage(VirtlabError, LookupError):
    """The course VM (kernel + initramfs) has not been built yet."""
