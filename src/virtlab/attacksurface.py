"""Attack surface, measured on this machine: syscalls vs. hypercalls vs. emulated devices.

A container's processes talk to the *host kernel* through system calls; a VM's guest talks to
the host through VM exits: a handful of KVM hypercalls, plus every emulated device QEMU gives it
(I/O ports, MMIO). Each number here is read from this machine, never typed in:

* :func:`syscall_table` — the x86-64 syscall table as libseccomp (the library every container
  runtime uses to build its filters) knows it, cross-checked with the kernel headers;
* :func:`kvm_hypercalls` — the ``KVM_HC_*`` numbers in ``<linux/kvm_para.h>``;
* :func:`qemu_devices` — the device tree of a QEMU guest (``info qtree`` over QMP, the guest
  paused before its first instruction, no disk, no network).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from virtlab import core
from virtlab.safety import Deadline, DeadlineExceeded, VirtlabError

UNISTD_HEADERS = ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h")
KVM_PARA_HEADER = "/usr/include/linux/kvm_para.h"
#: Architecture of each KVM hypercall, from Documentation/virt/kvm/x86/hypercalls.rst
HYPERCALL_ARCH = {
    "KVM_HC_VAPIC_POLL_IRQ": "x86", "KVM_HC_MMU_OP": "x86 (deprecated)", "KVM_HC_FEATURES": "ppc",
    "KVM_HC_PPC_MAP_MAGIC_PAGE": "ppc", "KVM_HC_KICK_CPU": "x86", "KVM_HC_MIPS_GET_CLOCK_FREQ": "mips",
    "KVM_HC_MIPS_EXIT_VM": "mips", "KVM_HC_MIPS_CONSOLE_OUTPUT": "mips", "KVM_HC_CLOCK_PAIRING": "x86",
    "KVM_HC_SEND_IPI": "x86", "KVM_HC_SCHED_YIELD": "x86", "KVM_HC_MAP_GPA_RANGE": "x86",
}
HYPERCALLS_DOC = "https://docs.kernel.org/virt/kvm/x86/hypercalls.html"
SYSCALL_TABLE_SRC = "https://github.com/torvalds/linux/blob/master/arch/x86/entry/syscalls/syscall_64.tbl"
QEMU_MACHINES = ("pc", "q35", "microvm")
QEMU_BINARY = "qemu-system-x86_64"


def syscall_table(max_nr: int = 1024) -> dict[int, str]:
    """x86-64 syscall number -> name, as libseccomp resolves them (empty if it is missing)."""
    try:
        import pyseccomp
    except (ImportError, OSError):
        return {}
    out: dict[int, str] = {}
    for nr in range(max_nr):
        try:
            name = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, nr)
        except Exception:  # noqa: BLE001,S112 - unknown numbers raise: not a syscall
            continue
        if name:
            out[nr] = name.decode() if isinstance(name, bytes) else str(name)
    return out


def header_syscalls() -> dict[int, str]:
    """The syscall table of the installed kernel headers (``__NR_*``); empty if not installed."""
    for path in UNISTD_HEADERS:
        p = Path(path)
        if p.exists():
            out = {}
            for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)\s*$", p.read_text(), re.M):
                out[int(m.group(2))] = m.group(1)
            return out
    return {}


def kvm_hypercalls() -> dict[str, int]:
    """``KVM_HC_*`` name -> number from the installed ``<linux/kvm_para.h>`` (empty if absent)."""
    p = Path(KVM_PARA_HEADER)
    if not p.exists():
        return {}
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^#define (KVM_HC_\w+)\s+(\d+)", p.read_text(), re.M)}


def qemu_devices(machine: str = "q35", *, timeout: float = 20.0) -> dict[str, Any]:
    """The devices a QEMU guest of ``machine`` type can reach (paused guest, no disk or NIC).

    Returns ``{"machine", "devices": total instances, "models": sorted distinct models}``.
    """
    if machine not in QEMU_MACHINES:
        raise ValueError(f"machine {machine!r} is not one of {', '.join(QEMU_MACHINES)}")
    qemu = shutil.which(QEMU_BINARY)
    if qemu is None:
        raise LookupError(f"{QEMU_BINARY} is not installed (Debian/Ubuntu: apt-get install "
                          "qemu-system-x86)")
    cmds = [{"execute": "qmp_capabilities"},
            {"execute": "human-monitor-command", "arguments": {"command-line": "info qtree"}},
            {"execute": "quit"}]
    stdin = "".join(json.dumps(c) + "\n" for c in cmds)
    d = Deadline(timeout, f"QEMU ({machine}) device tree")
    res = core.run([qemu, "-machine", f"{machine},accel=tcg", "-display", "none", "-S", "-nic",
                    "none", "-m", "64", "-qmp", "stdio", "-no-user-config"], d, input=stdin)
    tree = None
    for line in res.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg.get("return"), str):
            tree = msg["return"]
    if tree is None:
        raise VirtlabError(f"QEMU gave no device tree: {res.stderr.strip()[-300:]}")
    devs = re.findall(r"dev: ([\w.-]+)", tree)
    return {"machine": machine, "devices": len(devs), "models": sorted(set(devs))}


def measure(machines: tuple[str, ...] = QEMU_MACHINES) -> dict[str, Any]:
    """Everything above in one JSON-able record (what the demo ``security.surface`` returns)."""
    table = syscall_table()
    hdr = header_syscalls()
    hc = kvm_hypercalls()
    x86 = {k: v for k, v in hc.items() if HYPERCALL_ARCH.get(k, "").startswith("x86")}
    devices: list[dict[str, Any]] = []
    qemu_error = ""
    for m in machines:
        try:
            devices.append(qemu_devices(m))
        except (LookupError, RuntimeError, DeadlineExceeded) as err:
            qemu_error = str(err)
            break
    return {
        "syscalls_libseccomp": len(table),
        "syscall_max_nr": max(table) if table else None,
        "syscalls_headers": len(hdr),
        "syscall_names": [table[k] for k in sorted(table)],
        "hypercalls_all": hc,
        "hypercalls_x86": x86,
        "hypercalls_x86_active": sorted(k for k in x86 if "deprecated" not in HYPERCALL_ARCH[k]),
        "qemu": devices,
        "qemu_error": qemu_error,
    }
