"""KVM: ``/dev/kvm``, the CPU's vmx/svm flags, the API version; the one KVM-or-TCG rule
(``accelerator_rule``).
"""
from __future__ import annotations

import fcntl
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from virtlab.probe.basics import _with_timeout
from virtlab.probe.daemoninfo import _daemons_wanted, libvirt_info

# KVM ioctls (linux/kvm.h): _IO(0xAE, n)
KVM_GET_API_VERSION = 0xAE00


KVM_CREATE_VM = 0xAE01


KVM_CHECK_EXTENSION = 0xAE03


# --------------------------------------------------------------------------- KVM
@dataclass
class KvmInfo:
    present: bool
    api_usable: bool
    api_version: int | None
    vmx_svm: bool
    pvm: bool  # kvm-pvm (nested virtualisation without VT-x) is loaded
    accelerator: str  # "kvm" or "tcg" for libvirt guests
    reason: str


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def accelerator_rule(kvm_available: bool, vmx_svm: bool) -> str:
    """The course's one KVM-or-TCG rule: "kvm" only when KVM is available *and* the CPU shows
    vmx/svm (kvm-pvm offers /dev/kvm without them, and a Linux guest then fails), else "tcg"."""
    return "kvm" if kvm_available and vmx_svm else "tcg"


@dataclass(frozen=True)
class VmAccelerator:
    name: str  # "kvm" or "tcg"
    reason: str
    source: str  # what was asked: libvirt's domain capabilities, or /dev/kvm as this user


def vm_accelerator(refresh: bool = False) -> VmAccelerator:
    """What libvirt guests use here. Asks libvirt itself (``getDomainCapabilities`` for
    ``kvm``) when qemu:///system answers — QEMU runs as libvirt's user, so the notebook user's
    own access to /dev/kvm says nothing — and /dev/kvm as this user otherwise."""
    if refresh:
        _vm_accelerator.cache_clear()
    return _vm_accelerator()


@functools.lru_cache(maxsize=1)
def _vm_accelerator() -> VmAccelerator:
    k = kvm()
    lv = libvirt_info().uris.get("qemu:///system", {}) if _daemons_wanted() else {}
    if lv.get("ok"):
        import libvirt

        def ask() -> bool:
            conn = libvirt.open("qemu:///system")
            try:
                conn.getDomainCapabilities(None, "x86_64", None, "kvm", 0)
                return True
            except libvirt.libvirtError:
                return False
            finally:
                conn.close()

        try:
            libvirt_kvm = bool(_with_timeout(ask, 30, "libvirt domain capabilities"))
        except Exception:  # noqa: BLE001 - then fall back on /dev/kvm below
            libvirt_kvm = None
        if libvirt_kvm is not None:
            name = accelerator_rule(libvirt_kvm, k.vmx_svm)
            if name == "kvm":
                why = "libvirt offers KVM and the CPU has vmx/svm"
            elif libvirt_kvm:
                why = ("libvirt offers KVM, but the CPU shows no vmx/svm flag"
                       + (" (KVM is provided by kvm-pvm, nested virtualisation without VT-x)" if k.pvm else "")
                       + ": a tiny real-mode guest runs, an unmodified Linux guest does not, so "
                       "libvirt guests use TCG (QEMU's software emulation)")
            else:
                why = "libvirt cannot use KVM here: libvirt guests use TCG (QEMU's software emulation)"
            return VmAccelerator(name, why, "libvirt domain capabilities (qemu:///system)")
    return VmAccelerator(k.accelerator, k.reason, "/dev/kvm, opened as this user")


def kvm(refresh: bool = False) -> KvmInfo:
    if refresh:
        _kvm.cache_clear()
    return _kvm()


@functools.lru_cache(maxsize=1)
def _kvm() -> KvmInfo:
    present = os.path.exists("/dev/kvm")
    flags = cpu_flags()
    vmx_svm = bool({"vmx", "svm"} & flags)
    pvm = Path("/sys/module/kvm_pvm").exists()
    api_version = None
    usable = False
    why = ""
    if present:
        try:
            fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
            try:
                api_version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
                vm_fd = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
                os.close(vm_fd)
                usable = api_version == 12
                if not usable:
                    why = f"KVM API version {api_version}, expected 12"
            finally:
                os.close(fd)
        except OSError as err:
            why = f"/dev/kvm: {err.strerror}"
    else:
        why = "/dev/kvm does not exist (no KVM module, or a container/Binder without the device)"
    if accelerator_rule(usable, vmx_svm) == "kvm":
        accel, reason = "kvm", "/dev/kvm answers the KVM API and the CPU has vmx/svm"
    elif usable:
        accel = "tcg"
        reason = ("/dev/kvm answers the KVM API, but the CPU shows no vmx/svm flag"
                  + (" (KVM is provided by kvm-pvm, nested virtualisation without VT-x)" if pvm else "")
                  + ": a tiny real-mode guest runs, an unmodified Linux guest does not, so libvirt "
                  "guests use TCG (QEMU's software emulation)")
    else:
        accel, reason = "tcg", f"KVM is not usable ({why}): libvirt guests use TCG"
    return KvmInfo(present, usable, api_version, vmx_svm, pvm, accel, reason)
