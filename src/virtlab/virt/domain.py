"""Domain XML: ``DomainSpec`` (validated input -> libvirt XML), reading it back, the accelerator
(KVM or TCG).
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

# =========================================================================== demos (notebook 06)
from virtlab import LIBVIRT_METADATA_NS, OWNER_VALUE, owners
from virtlab.safety import (
    check_int,
    course_name,
    parse_size,
)
from virtlab.virt.base import _OWNER_TAG, DEFAULT_CMDLINE, MAX_MEMORY_MIB, MAX_VCPUS, MIN_MEMORY_MIB

# =========================================================================== the domain spec
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _check_path(value: str | os.PathLike[str] | None, what: str) -> str | None:
    if value is None:
        return None
    s = os.fspath(value)
    if not isinstance(s, str) or not s.startswith("/") or _CTRL_RE.search(s):
        raise ValueError(f"{what} must be an absolute path without control characters, not {s!r}")
    return s


def _memory_mib(value: int | str) -> int:
    if isinstance(value, str):
        n = parse_size(value, minimum=MIN_MEMORY_MIB * 1024**2, maximum=MAX_MEMORY_MIB * 1024**2,
                       what="memory")
        if n % 1024**2:
            raise ValueError(f"memory {value!r} is not a whole number of MiB")
        return n // 1024**2
    return check_int(value, minimum=MIN_MEMORY_MIB, maximum=MAX_MEMORY_MIB, what="memory (MiB)")


@dataclass(frozen=True)
class DomainSpec:
    """What a course VM is made of. Checked on creation; ``to_xml()`` renders domain XML.

    ``memory`` is MiB (an int) or a size string such as ``"96MiB"``; ``name`` gets the ``vl-``
    prefix. Kernel and initrd default to the course VM built by :func:`build_images`.
    """

    name: str
    memory: int | str = 128
    vcpus: int = 1
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str = DEFAULT_CMDLINE
    serial_log: str | None = None
    panic_device: bool = True
    description: str = ""
    disk: str | None = None  # a qcow2 file (internal snapshots need one); see vm(snapshot_disk=)
    #: TCG's translation-block cache in MiB (QEMU's default is up to 1 GiB, touched as it
    #: fills); None leaves QEMU's default. Ignored under KVM.
    tb_cache_mib: int | None = None
    #: a BIOS ROM for QEMU's ``-bios`` (libvirt ``<loader type='rom'>``), e.g. qboot; None is
    #: QEMU's default (SeaBIOS). :func:`virtlab.virt.vm` picks :func:`course_firmware` for the
    #: course VM. Only with a kernel (direct boot): qboot cannot boot a disk on its own.
    firmware: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", course_name(self.name))
        object.__setattr__(self, "memory", _memory_mib(self.memory))
        check_int(self.vcpus, minimum=1, maximum=MAX_VCPUS, what="vCPUs")
        object.__setattr__(self, "kernel", _check_path(self.kernel, "kernel"))
        object.__setattr__(self, "initrd", _check_path(self.initrd, "initrd"))
        object.__setattr__(self, "serial_log", _check_path(self.serial_log, "serial_log"))
        object.__setattr__(self, "disk", _check_path(self.disk, "disk"))
        object.__setattr__(self, "firmware", _check_path(self.firmware, "firmware"))
        if self.firmware and not self.kernel:
            raise ValueError("firmware needs a kernel (direct kernel boot): the course's firmware "
                             "choice (qboot) cannot boot from a disk on its own")
        if self.tb_cache_mib is not None:
            check_int(self.tb_cache_mib, minimum=1, maximum=2048, what="tb_cache_mib")
        if not isinstance(self.cmdline, str) or _CTRL_RE.search(self.cmdline) or len(self.cmdline) > 1024:
            raise ValueError("cmdline must be one line of text (at most 1024 characters)")
        if not isinstance(self.description, str) or len(self.description) > 200:
            raise ValueError("description must be text of at most 200 characters")

    @property
    def memory_mib(self) -> int:
        return int(self.memory)

    def to_xml(self, *, domain_type: str = "qemu", arch: str = "x86_64",
               machine: str | None = "pc") -> str:
        """Domain XML for libvirt (``domain_type`` "qemu" = TCG, "kvm", or "test")."""
        if domain_type not in ("qemu", "kvm", "test"):
            raise ValueError(f"domain_type must be 'qemu', 'kvm' or 'test', not {domain_type!r}")
        dom = ET.Element("domain", type=domain_type)
        ET.SubElement(dom, "name").text = str(self.name)
        if self.description:
            ET.SubElement(dom, "description").text = self.description
        meta = ET.SubElement(dom, "metadata")
        # the creator's uid rides on the owner element (libvirt keeps one element per namespace)
        ET.SubElement(meta, f"{{{LIBVIRT_METADATA_NS}}}{_OWNER_TAG}",
                      {owners.LIBVIRT_UID_TAG: str(owners.caller_uid())}).text = OWNER_VALUE
        ET.SubElement(dom, "memory", unit="MiB").text = str(self.memory_mib)
        ET.SubElement(dom, "vcpu").text = str(self.vcpus)
        os_el = ET.SubElement(dom, "os")
        t = ET.SubElement(os_el, "type", arch=arch)
        if machine and domain_type != "test":
            t.set("machine", machine)
        t.text = "hvm"
        if self.firmware and domain_type != "test":
            ET.SubElement(os_el, "loader", readonly="yes", type="rom").text = self.firmware
        if self.kernel:
            ET.SubElement(os_el, "kernel").text = self.kernel
        if self.initrd:
            ET.SubElement(os_el, "initrd").text = self.initrd
        if self.kernel and self.cmdline:
            ET.SubElement(os_el, "cmdline").text = self.cmdline
        feats = ET.SubElement(dom, "features")
        ET.SubElement(feats, "acpi")
        if self.tb_cache_mib is not None and domain_type == "qemu":
            tcg = ET.SubElement(feats, "tcg")
            ET.SubElement(tcg, "tb-cache", unit="MiB").text = str(self.tb_cache_mib)
        ET.SubElement(dom, "clock", offset="utc")
        ET.SubElement(dom, "on_poweroff").text = "destroy"
        ET.SubElement(dom, "on_reboot").text = "destroy"
        ET.SubElement(dom, "on_crash").text = "preserve"
        devs = ET.SubElement(dom, "devices")
        if self.disk and domain_type != "test":
            disk = ET.SubElement(devs, "disk", type="file", device="disk")
            ET.SubElement(disk, "driver", name="qemu", type="qcow2")
            ET.SubElement(disk, "source", file=self.disk)
            ET.SubElement(disk, "target", dev="vda", bus="virtio")
        if domain_type != "test":
            ser = ET.SubElement(devs, "serial", type="pty")
            if self.serial_log:
                ET.SubElement(ser, "log", file=self.serial_log, append="off")
            ET.SubElement(ser, "target", port="0")
            con = ET.SubElement(devs, "console", type="pty")
            ET.SubElement(con, "target", type="serial", port="0")
            ET.SubElement(devs, "controller", type="usb", model="none")
            if machine == "pc" or (machine or "").startswith("pc-i440fx"):
                # no ACPI hotplug on the root bus: QEMU then leaves its slots' hotplug methods out
                # of the ACPI tables the guest kernel interprets at boot (under TCG acpi_init 96
                # -> 68 ms, create -> marker 0.96 -> 0.90 s, 6 rounds); no lesson hot-plugs
                pci = ET.SubElement(devs, "controller", type="pci", index="0", model="pci-root")
                ET.SubElement(pci, "target", hotplug="off")
            ET.SubElement(devs, "memballoon", model="none")
            if self.panic_device:
                p = ET.SubElement(devs, "panic", model="isa")
                ET.SubElement(p, "address", type="isa", iobase="0x505")
        ET.indent(dom)
        return ET.tostring(dom, encoding="unicode")


def spec_from_xml(xml: str) -> dict[str, Any]:
    """The few facts a notebook shows about a domain's XML (name, memory MiB, vCPUs, type)."""
    root = ET.fromstring(xml)
    mem = root.find("memory")
    unit = (mem.get("unit") or "KiB") if mem is not None else "KiB"
    factor = {"KiB": 1 / 1024, "k": 1 / 1024, "MiB": 1, "M": 1, "GiB": 1024, "G": 1024}.get(unit, 1 / 1024)
    return {"name": root.findtext("name"), "type": root.get("type"),
            "memory_mib": round(int(mem.text or 0) * factor) if mem is not None else None,
            "vcpus": int(root.findtext("vcpu") or 0),
            "kernel": root.findtext("os/kernel"), "owner": _owner_in_xml(root)}


def _owner_in_xml(root: ET.Element) -> str | None:
    el = root.find(f"metadata/{{{LIBVIRT_METADATA_NS}}}{_OWNER_TAG}")
    return el.text if el is not None else None


# =========================================================================== accelerator
@dataclass(frozen=True)
class Accelerator:
    name: str  # "kvm" or "tcg"
    domain_type: str  # libvirt <domain type=...>: "kvm" or "qemu"
    reason: str


def accelerator() -> Accelerator:
    """KVM when libvirt offers it *and* the CPU has vmx/svm; otherwise TCG — with the reason
    (:func:`virtlab.probe.vm_accelerator`: the course's one rule, asked of libvirt itself)."""
    from virtlab import probe

    a = probe.vm_accelerator()
    return Accelerator(a.name, "kvm" if a.name == "kvm" else "qemu", a.reason)


def accelerator_for(kvm_usable: bool, vmx_svm: bool) -> str:
    """The course's rule as a pure function (the one in :func:`virtlab.probe.accelerator_rule`)."""
    from virtlab import probe

    return probe.accelerator_rule(kvm_usable, vmx_svm)
