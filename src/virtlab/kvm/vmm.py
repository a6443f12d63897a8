"""A minimal virtual machine monitor on ``/dev/kvm`` (ioctls through ctypes): programs, one run
loop, VM exits, their round-trip cost.
"""
from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import time
from dataclasses import dataclass, field
from typing import Any

from virtlab import probe
from virtlab.safety import Deadline, VirtlabError, check_int

# --------------------------------------------------------------------------- linux/kvm.h
KVM_GET_API_VERSION = 0xAE00


KVM_CREATE_VM = 0xAE01


KVM_GET_VCPU_MMAP_SIZE = 0xAE04


KVM_CREATE_VCPU = 0xAE41


KVM_SET_USER_MEMORY_REGION = 0x4020AE46


KVM_RUN = 0xAE80


KVM_GET_REGS = 0x8090AE81


KVM_SET_REGS = 0x4090AE82


KVM_GET_SREGS = 0x8138AE83


KVM_SET_SREGS = 0x4138AE84


EXIT_REASONS = {0: "UNKNOWN", 1: "EXCEPTION", 2: "IO", 3: "HYPERCALL", 4: "DEBUG", 5: "HLT",
                6: "MMIO", 7: "IRQ_WINDOW_OPEN", 8: "SHUTDOWN", 9: "FAIL_ENTRY", 10: "INTR",
                17: "INTERNAL_ERROR"}


KVM_EXIT_IO, KVM_EXIT_HLT = 2, 5


IO_IN, IO_OUT = 0, 1


GUEST_MEMORY = 0x10000  # 64 KiB of guest "physical" memory


CODE_ADDR = 0x1000


RESULT_PORT = 0x10  # our made-up "result" device


SERIAL_PORT = 0x3F8  # where a PC's first UART lives; here we just print the byte


class KvmError(VirtlabError, RuntimeError):
    """The KVM API refused something, or the guest did something this tiny VMM cannot handle."""


class KvmUserspaceMemoryRegion(ctypes.Structure):
    _fields_ = [("slot", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("guest_phys_addr", ctypes.c_uint64), ("memory_size", ctypes.c_uint64),
                ("userspace_addr", ctypes.c_uint64)]


class KvmRegs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in (
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11",
        "r12", "r13", "r14", "r15", "rip", "rflags")]


class KvmSegment(ctypes.Structure):
    _fields_ = [("base", ctypes.c_uint64), ("limit", ctypes.c_uint32), ("selector", ctypes.c_uint16),
                ("type", ctypes.c_uint8), ("present", ctypes.c_uint8), ("dpl", ctypes.c_uint8),
                ("db", ctypes.c_uint8), ("s", ctypes.c_uint8), ("l", ctypes.c_uint8),
                ("g", ctypes.c_uint8), ("avl", ctypes.c_uint8), ("unusable", ctypes.c_uint8),
                ("padding", ctypes.c_uint8)]


class KvmDtable(ctypes.Structure):
    _fields_ = [("base", ctypes.c_uint64), ("limit", ctypes.c_uint16), ("padding", ctypes.c_uint16 * 3)]


class KvmSregs(ctypes.Structure):
    _fields_ = [(n, KvmSegment) for n in ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")] + [
        ("gdt", KvmDtable), ("idt", KvmDtable)] + [
        (n, ctypes.c_uint64) for n in ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base")] + [
        ("interrupt_bitmap", ctypes.c_uint64 * 4)]


class KvmRunIo(ctypes.Structure):
    _fields_ = [("direction", ctypes.c_uint8), ("size", ctypes.c_uint8), ("port", ctypes.c_uint16),
                ("count", ctypes.c_uint32), ("data_offset", ctypes.c_uint64)]


class KvmRun(ctypes.Structure):
    """The head of ``struct kvm_run`` (the part this VMM reads)."""

    _fields_ = [("request_interrupt_window", ctypes.c_uint8), ("immediate_exit", ctypes.c_uint8),
                ("padding1", ctypes.c_uint8 * 6), ("exit_reason", ctypes.c_uint32),
                ("ready_for_interrupt_injection", ctypes.c_uint8), ("if_flag", ctypes.c_uint8),
                ("flags", ctypes.c_uint16), ("cr8", ctypes.c_uint64), ("apic_base", ctypes.c_uint64),
                ("io", KvmRunIo)]


assert ctypes.sizeof(KvmRegs) == 144 and ctypes.sizeof(KvmSregs) == 312


assert ctypes.sizeof(KvmUserspaceMemoryRegion) == 32 and KvmRun.io.offset == 32


# --------------------------------------------------------------------------- guest programs
@dataclass(frozen=True)
class Program:
    name: str
    code: bytes
    listing: tuple[str, ...]  # one line of assembly per instruction, with its bytes


def add_program() -> Program:
    """ax + bx, written to the result port (0x10) as a 16-bit OUT, then HLT."""
    return Program("add", bytes.fromhex("BA1000 01D8 EF F4".replace(" ", "")), (
        "BA 10 00   mov dx, 0x10     ; the port of our 'result' device",
        "01 D8      add ax, bx       ; the guest's whole computation",
        "EF         out dx, ax       ; I/O instruction -> VM exit (KVM_EXIT_IO)",
        "F4         hlt              ; stop the CPU -> VM exit (KVM_EXIT_HLT)",
    ))


def countdown_program() -> Program:
    """Prints cl, cl-1, ..., 1 and a newline on the 'serial port' 0x3f8, one OUT per byte."""
    return Program("countdown", bytes.fromhex("BAF803 88C8 0430 EE FEC9 75F7 B00A EE F4".replace(" ", "")), (
        "BA F8 03   mov dx, 0x3f8    ; COM1's data port",
        "88 C8      mov al, cl       ; loop:",
        "04 30      add al, '0'      ; digit -> ASCII",
        "EE         out dx, al       ; VM exit: the VMM 'prints' al",
        "FE C9      dec cl",
        "75 F7      jnz loop",
        "B0 0A      mov al, 10       ; newline",
        "EE         out dx, al       ; VM exit",
        "F4         hlt              ; VM exit: done",
    ))


def exit_loop_program() -> Program:
    """cx OUTs in a tight loop: each one a full guest -> KVM -> Python -> guest round trip."""
    return Program("exit-loop", bytes.fromhex("BA1000 EE E2FD F4".replace(" ", "")), (
        "BA 10 00   mov dx, 0x10",
        "EE         out dx, al       ; loop: VM exit",
        "E2 FD      loop             ; cx -= 1, back while cx != 0",
        "F4         hlt",
    ))


# --------------------------------------------------------------------------- the VMM
@dataclass
class VmExit:
    n: int
    reason: str
    rip: int
    detail: str  # what the guest asked for
    action: str  # what our "hypervisor" did about it

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "reason": self.reason, "rip": self.rip, "detail": self.detail,
                "action": self.action}


@dataclass
class RunResult:
    program: str
    exits: list[VmExit] = field(default_factory=list)
    output: str = ""  # bytes written to the serial port
    results: list[int] = field(default_factory=list)  # values written to the result port
    regs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    api_version: int = 0


def _ioctl(fd: int, req: int, arg: Any = 0) -> int:
    try:
        return fcntl.ioctl(fd, req, arg)
    except OSError as err:
        raise KvmError(f"ioctl {req:#x} on /dev/kvm failed: {err.strerror}") from err


def run(program: Program, *, regs: dict[str, int] | None = None, max_exits: int = 100,
        timeout: float = 10.0, keep_exits: bool = True) -> RunResult:
    """Create a VM, load ``program`` at 0x1000 in real mode, run it until HLT; every exit kept.

    ``regs`` sets initial general registers (e.g. ``{"rax": 2, "rbx": 2}``). At most
    ``max_exits`` exits and ``timeout`` seconds, then :class:`KvmError`.
    """
    check_int(max_exits, minimum=1, maximum=10_000_000, what="max_exits")
    if len(program.code) > GUEST_MEMORY - CODE_ADDR:
        raise ValueError("the program does not fit in the guest's 64 KiB")
    for k, v in (regs or {}).items():
        if k not in dict(KvmRegs._fields_) or k in ("rip", "rflags"):
            raise ValueError(f"unknown or reserved register {k!r}; use rax, rbx, rcx, rdx ...")
        check_int(v, minimum=0, maximum=0xFFFF, what=f"register {k} (16-bit real mode)")
    try:
        kvm_fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        raise KvmError(f"cannot open /dev/kvm: {err.strerror} — {probe.kvm().reason}") from err
    fds: list[int] = [kvm_fd]
    mem = run_map = None
    result = RunResult(program.name)
    try:
        result.api_version = _ioctl(kvm_fd, KVM_GET_API_VERSION)
        if result.api_version != 12:
            raise KvmError(f"KVM API version {result.api_version}, expected 12")
        vm_fd = _ioctl(kvm_fd, KVM_CREATE_VM, 0)
        fds.append(vm_fd)
        # 1. guest RAM: an anonymous mapping in *this* process, handed to the VM
        mem = mmap.mmap(-1, GUEST_MEMORY, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        mem[CODE_ADDR:CODE_ADDR + len(program.code)] = program.code
        holder = ctypes.c_char.from_buffer(mem)
        region = KvmUserspaceMemoryRegion(0, 0, 0, GUEST_MEMORY, ctypes.addressof(holder))
        _ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, region)
        # 2. one vCPU and its shared kvm_run page
        vcpu_fd = _ioctl(vm_fd, KVM_CREATE_VCPU, 0)
        fds.append(vcpu_fd)
        size = _ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0)
        run_map = mmap.mmap(vcpu_fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        krun = KvmRun.from_buffer(run_map)
        # 3. registers: real mode, code segment at 0, start at CODE_ADDR
        sregs = KvmSregs()
        _ioctl(vcpu_fd, KVM_GET_SREGS, sregs)
        sregs.cs.base, sregs.cs.selector = 0, 0
        _ioctl(vcpu_fd, KVM_SET_SREGS, sregs)
        r = KvmRegs()
        for k, v in (regs or {}).items():
            setattr(r, k, v)
        r.rip, r.rflags = CODE_ADDR, 0x2
        _ioctl(vcpu_fd, KVM_SET_REGS, r)
        # 4. the run loop: KVM_RUN returns at every VM exit
        deadline = Deadline(timeout, f"mini-VMM running {program.name}")
        t0 = time.perf_counter()
        n = 0
        while True:
            _ioctl(vcpu_fd, KVM_RUN, 0)
            n += 1
            reason = EXIT_REASONS.get(krun.exit_reason, str(krun.exit_reason))
            exit_ = None
            if krun.exit_reason == KVM_EXIT_IO:
                io = krun.io
                raw = run_map[io.data_offset:io.data_offset + io.size * io.count]
                value = int.from_bytes(raw, "little")
                what = f"{'OUT' if io.direction == IO_OUT else 'IN'} port {io.port:#x}, {io.size} byte(s)"
                if io.direction == IO_OUT and io.port == SERIAL_PORT:
                    ch = chr(value & 0xFF)
                    result.output += ch
                    exit_ = (f"{what}: {value:#04x}", f"printed {ch!r} for the guest")
                elif io.direction == IO_OUT and io.port == RESULT_PORT:
                    result.results.append(value)
                    exit_ = (f"{what}: {value:#x}", f"stored the result {value}")
                elif io.direction == IO_IN:
                    run_map[io.data_offset:io.data_offset + io.size] = b"\0" * io.size
                    exit_ = (what, "no such device: returned 0")
                else:
                    exit_ = (f"{what}: {value:#x}", "no such device: ignored the write")
            elif krun.exit_reason == KVM_EXIT_HLT:
                exit_ = ("HLT", "guest halted: the VMM stops the vCPU")
            else:
                _ioctl(vcpu_fd, KVM_GET_REGS, r)
                raise KvmError(f"unexpected VM exit {reason} at rip={r.rip:#x} after {n} exits")
            if keep_exits or krun.exit_reason == KVM_EXIT_HLT:
                _ioctl(vcpu_fd, KVM_GET_REGS, r)
                result.exits.append(VmExit(n, reason, r.rip, *exit_))
            if krun.exit_reason == KVM_EXIT_HLT:
                break
            if n >= max_exits:
                raise KvmError(f"{program.name}: more than {max_exits} VM exits without HLT")
            if n % 1024 == 0:
                deadline.check()
        result.seconds = time.perf_counter() - t0
        _ioctl(vcpu_fd, KVM_GET_REGS, r)
        result.regs = {k: getattr(r, k) for k in ("rax", "rbx", "rcx", "rdx", "rip")}
        del krun, holder
        return result
    finally:
        if run_map is not None:
            try:
                run_map.close()
            except BufferError:
                pass
        if mem is not None:
            try:
                mem.close()
            except BufferError:
                pass
        for fd in reversed(fds):
            os.close(fd)


def exit_round_trip(n: int = 20000) -> dict[str, float]:
    """Time ``n`` VM exits (guest OUT -> KVM -> this Python loop -> back into the guest)."""
    check_int(n, minimum=1, maximum=0xFFFF, what="n (exits, 16-bit cx)")
    res = run(exit_loop_program(), regs={"rcx": n}, max_exits=n + 1, keep_exits=False, timeout=60)
    return {"exits": n + 1, "seconds": res.seconds, "us_per_exit": res.seconds / (n + 1) * 1e6}


# --------------------------------------------------------------------------- where is rip?
#: The rule on current x86 KVM with VT-x/AMD-V (since Linux 5.1, commit 45def77ebf79 "KVM: x86:
#: update %rip after emulating IO"): an OUT that exits to user space is completed, and RIP moved
#: past it, only when the VMM calls KVM_RUN again (``complete_fast_pio_out`` in
#: arch/x86/kvm/x86.c). The quirk KVM_X86_QUIRK_OUT_7E_INC_RIP keeps the old, pre-incremented RIP
#: for port 0x7e only (commit 8764ed55c970).
RIP_RULE = ("on x86 KVM with VT-x/AMD-V (Linux >= 5.1) rip still points AT the `out` when the VMM "
            "sees KVM_EXIT_IO; KVM moves it past the instruction on the next KVM_RUN "
            "(complete_fast_pio_out), except for the legacy quirk port 0x7e")


def instructions(listing: list[str] | tuple[str, ...], origin: int = CODE_ADDR) -> list[tuple[int, int, str]]:
    """(address, length, text) of each line of a listing ("BA 10 00   mov dx, 0x10 ; ...")."""
    out, at = [], origin
    for line in listing:
        head, _, text = line.partition("  ")
        n = len(head.split())
        out.append((at, n, text.strip()))
        at += n
    return out


def rip_at_out(listing: list[str] | tuple[str, ...], exits: list[dict[str, Any]]) -> str:
    """Where rip pointed at the first OUT exit: ``"at"`` the out, ``"past"`` it, or ``"unknown"``."""
    insns = instructions(listing)
    for e in exits:
        if e["reason"] != "IO" or not e["detail"].startswith("OUT"):
            continue
        for addr, n, text in insns:
            if text.startswith("out") and e["rip"] == addr:
                return "at"
            if text.startswith("out") and e["rip"] == addr + n:
                return "past"
        return "unknown"
    return "unknown"


def rip_sentence(where: str, whose: str) -> str:
    """One line: what ``whose`` machine did, against the rule."""
    if where == "at":
        return (f"rip at the OUT exit on {whose}: AT the `out` — as the rule says: KVM completes "
                "the instruction (and moves rip past it) on the next KVM_RUN")
    if where == "past":
        return (f"rip at the OUT exit on {whose}: already PAST the `out` — the rule on x86 KVM "
                "with VT-x/AMD-V is the opposite (rip moves on the next KVM_RUN); this "
                "KVM implementation completes the instruction before exiting")
    return f"rip at the OUT exit on {whose}: could not be matched to an instruction"


def cleanup() -> list[str]:
    """Nothing to clean: every VM lives only as long as :func:`run` (its fds close on return)."""
    return []
