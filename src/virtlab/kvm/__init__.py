"""A hypervisor in a page of Python: the raw KVM API through ioctl(2).

This is what QEMU, Firecracker and crosvm do at their core, minus the devices:

1. ``open("/dev/kvm")`` and check ``KVM_GET_API_VERSION`` (always 12);
2. ``KVM_CREATE_VM`` gives a VM file descriptor;
3. ``KVM_SET_USER_MEMORY_REGION`` hands the VM a piece of *our* memory as its "physical" RAM;
4. ``KVM_CREATE_VCPU`` gives a vCPU fd; its ``struct kvm_run`` is shared with us via mmap;
5. set the registers (real mode: CS base 0, RIP at our code) and loop on ``KVM_RUN``: the CPU
   runs guest code natively until something needs the hypervisor — a *VM exit*. We read
   ``kvm_run.exit_reason`` (I/O port access, HLT, ...), emulate the device, and run again.

The guests are a few bytes of 16-bit real-mode machine code, assembled by hand below.

Where each piece lives (this package re-exports all their names, so ``virtlab.kvm.X`` works):

* ``kvm/views.py`` — the KVM episode's views: the host's KVM facts, a program's exits, the round
  trip.
* ``kvm/demos.py`` — the KVM episode's demos (``@modes.demo``): each returns JSON-able data, prints
  nothing.
* ``kvm/vmm.py`` — A minimal virtual machine monitor on ``/dev/kvm`` (ioctls through ctypes):
  programs, one run loop, VM exits, their round-trip cost.
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab.kvm.demos import (
    demo_host,
    demo_minivmm,
    demo_roundtrip,
)
from virtlab.kvm.views import (
    run_and_show,
    show_exits,
    show_host,
    show_program,
    show_roundtrip,
)
from virtlab.kvm.vmm import (
    CODE_ADDR,
    EXIT_REASONS,
    GUEST_MEMORY,
    IO_IN,
    IO_OUT,
    KVM_CREATE_VCPU,
    KVM_CREATE_VM,
    KVM_EXIT_HLT,
    KVM_EXIT_IO,
    KVM_GET_API_VERSION,
    KVM_GET_REGS,
    KVM_GET_SREGS,
    KVM_GET_VCPU_MMAP_SIZE,
    KVM_RUN,
    KVM_SET_REGS,
    KVM_SET_SREGS,
    KVM_SET_USER_MEMORY_REGION,
    RESULT_PORT,
    RIP_RULE,
    SERIAL_PORT,
    KvmDtable,
    KvmError,
    KvmRegs,
    KvmRun,
    KvmRunIo,
    KvmSegment,
    KvmSregs,
    KvmUserspaceMemoryRegion,
    Program,
    RunResult,
    VmExit,
    _ioctl,
    add_program,
    cleanup,
    countdown_program,
    exit_loop_program,
    exit_round_trip,
    instructions,
    rip_at_out,
    rip_sentence,
    run,
)
