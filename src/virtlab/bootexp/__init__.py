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

Where each piece lives (this package re-exports all their names, so ``virtlab.bootexp.X`` works):

* ``bootexp/base.py`` — the vocabulary: guests, phases, metrics, memory, anchors, the marker unit.
* ``bootexp/disk.py`` — the Debian+systemd disk image, built offline (debootstrap, ``mkfs.ext4 -d``).
* ``bootexp/boots.py`` — one boot of a guest or a container, timed by phase and measured.
* ``bootexp/experiment.py`` — what this host can run, repeated boots, summaries, ratios, cleanup.
* ``bootexp/trims.py`` — the course VM's boot trims and its firmware (qboot vs SeaBIOS), with
  and without, in pairs.
* ``bootexp/views.py`` — the table beside the anchors; ``bootexp/demos.py`` — ``bootexp.startup``.
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab.bootexp.base import (
    ANCHORS,
    CONTAINER_LABELS,
    CONTAINER_METRICS,
    CONTAINERS,
    DISK_NAME,
    DISK_SIZE,
    GUEST_LABELS,
    GUEST_SHORT,
    GUESTS,
    MARKER_SCRIPT,
    MARKER_UNIT,
    MEMORY_MIB,
    METRICS,
    PHASE_LABELS,
    PHASES,
    SYSTEMD_CMDLINE,
    TB_CACHE_MIB,
    BootExpError,
)
from virtlab.bootexp.boots import (
    _RUN_INIT_RE,
    _memory,
    available_containers,
    boot_busybox,
    boot_container,
    boot_systemd,
)
from virtlab.bootexp.demos import (
    _requires,
    demo_startup,
)
from virtlab.bootexp.disk import (
    _apt_source,
    _customise,
    build_disk,
    build_images,
    disk_path,
)
from virtlab.bootexp.experiment import (
    available_guests,
    cleanup,
    container_summary,
    ratios,
    run,
    summary,
)
from virtlab.bootexp.trims import (
    bench_firmware,
    bench_trims,
    format_trims,
    summary_trims,
    without_trims,
)
from virtlab.bootexp.views import (
    _cell,
    show,
)
