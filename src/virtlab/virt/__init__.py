"""Virtual machines through libvirt: a tiny VM built offline, booted, measured, crashed, saved.

The pieces, in the order a notebook meets them:

* :func:`build_images` — the course VM, built offline: a Linux kernel (the host's ``/boot``
  kernel where readable, else the distribution's kernel package fetched with ``apt-get download``)
  and a busybox initramfs whose ``/init`` prints a marker line (``VIRTLAB-READY release=...
  uptime=...``) on the serial console and then runs one command per line it reads there.
  Stdlib only, so provisioning can run it with the system ``python3`` before the venv exists.
* :class:`DomainSpec` — name, memory, vCPUs, kernel, initrd, command line, serial log — checked
  when it is made and rendered to domain XML with :mod:`xml.etree.ElementTree` (never strings).
* :func:`accelerator` — KVM only when ``/dev/kvm`` is usable *and* the CPU has vmx/svm, else TCG,
  always with the reason.
* :func:`vm` — ``with virt.vm(spec) as guest:`` defines and boots the domain, waits for the marker
  with a deadline (destroys the domain when it runs out) and always destroys + undefines it.
  ``guest.run("uname -r")``, ``guest.rss_bytes()``, ``guest.crash()``, ``guest.save_restore()``,
  ``guest.snapshot(...)``.
* :func:`cleanup` — destroys and undefines course domains only (``vl-`` name **and** the course
  metadata element), with their snapshot and managed-save metadata.

``test:///default`` (libvirt's in-process test driver) is the embedded backend: the same calls
work there, but nothing boots, so there is no marker, console or QEMU process.

Where each piece lives (this package re-exports all their names, so ``virtlab.virt.X`` works):

* ``virt/base.py`` — libvirt/QEMU constants shared by the virt modules (URIs, guest markers,
  limits) and the errors.
* ``virt/bootfiles.py`` — the course guest's boot artefacts: a kernel (the host's, or Debian's) and
  a busybox initramfs.
* ``virt/domain.py`` — domain XML: ``DomainSpec`` (validated input -> libvirt XML), reading it
  back, the accelerator (KVM or TCG).
* ``virt/guest.py`` — a running course guest: its serial console, commands through it, the ``vm()``
  context manager, boot timings.
* ``virt/views.py`` — the libvirt episode's views: readable renderings of the demos' results (with
  a real run's recording where the embedded driver has no guest).
* ``virt/demos.py`` — the libvirt episode's demos (``@modes.demo``): each returns JSON-able data,
  prints nothing.
* ``virt/conn.py`` — connections to libvirt (qemu:///system, test:///default), domain state,
  ownership, definition and cleanup.
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab.virt.base import (
    _OWNER_TAG,
    COURSE_VM_MIN_MIB,
    DEFAULT_CMDLINE,
    DONE,
    MARKER,
    MAX_MEMORY_MIB,
    MAX_VCPUS,
    MIN_MEMORY_MIB,
    PVPANIC_MODULES,
    QBOOT_ROM,
    SYSTEM_URI,
    SYSTEM_VM_DIR,
    TEST_URI,
    VM_SUBDIR,
    MissingImage,
    VirtError,
    course_firmware,
)
from virtlab.virt.bootfiles import (
    FSTAB,
    GUEST_KERNELS,
    INIT_SCRIPT,
    INITRAMFS_KEY,
    INITRAMFS_NAME,
    Artefacts,
    _add_minimal_kernel,
    _ar_members,
    _download_kernel,
    _host_kernel,
    _kernel_from_deb,
    _newc_entry,
    _unzstd,
    artefacts,
    build_images,
    build_initramfs,
    extract_vmlinux,
    initramfs_modules,
    kernel_choice,
    vm_dirs,
)
from virtlab.virt.conn import (
    _EVENT_LOCK,
    _EVENT_LOOP,
    _TEST_CONN,
    SESSION_URI,
    SHARED_DISK_DIR,
    STATES,
    _close_test_conn,
    _disk_dir,
    _ensure_event_loop,
    _err,
    _libvirt,
    _make_qcow2,
    _remove_domain,
    _run_steps,
    cleanup,
    connect,
    course_domains,
    default_uri,
    define_domain,
    domain_facts,
    domain_uid,
    is_course_domain,
    is_test,
    session_running,
    session_socket,
    state_name,
    undefine_domain,
)
from virtlab.virt.demos import (
    _host_facts,
    _uri_for,
    demo_boot,
    demo_crash,
    demo_lifecycle,
    demo_save_restore,
    demo_snapshot,
)
from virtlab.virt.domain import (
    _CTRL_RE,
    Accelerator,
    DomainSpec,
    _check_path,
    _memory_mib,
    _owner_in_xml,
    accelerator,
    accelerator_for,
    spec_from_xml,
)
from virtlab.virt.guest import (
    _MARKER_RE,
    CommandResult,
    Console,
    Guest,
    _on_lifecycle,
    boot_benchmark,
    vm,
)
from virtlab.virt.views import (
    _show_lifecycle,
    _show_save_restore,
    _show_snapshot,
    show_boot,
    show_crash,
    show_lifecycle,
    show_save_restore,
    show_snapshot,
)

__all__ = [
    "Accelerator", "Artefacts", "CommandResult", "Console", "DeadlineExceeded", "DomainSpec",
    "Guest", "MissingImage", "VirtError", "accelerator", "artefacts", "build_images", "cleanup",
    "connect", "course_domains", "define_domain", "extract_vmlinux", "is_course_domain", "vm",
]
