"""virtlab.kvm: the ctypes mirror of linux/kvm.h and the hand-assembled guests; bad input is
refused before /dev/kvm is opened. (Running guests: tests/live/test_kvm_live.py.)"""

from __future__ import annotations

import ctypes
import os

import pytest

from virtlab import kvm


def test_struct_layouts_match_linux_kvm_h():
    assert ctypes.sizeof(kvm.KvmRegs) == 144
    assert ctypes.sizeof(kvm.KvmSregs) == 312
    assert ctypes.sizeof(kvm.KvmSegment) == 24
    assert ctypes.sizeof(kvm.KvmUserspaceMemoryRegion) == 32
    assert kvm.KvmRun.exit_reason.offset == 8 and kvm.KvmRun.io.offset == 32


def test_ioctl_numbers_encode_struct_sizes():
    # _IOW(0xAE, 0x46, 32) and _IOR(0xAE, 0x83, 312): direction | size << 16 | 0xAE << 8 | nr
    assert kvm.KVM_SET_USER_MEMORY_REGION == (1 << 30) | (32 << 16) | (0xAE << 8) | 0x46
    assert kvm.KVM_GET_SREGS == (2 << 30) | (312 << 16) | (0xAE << 8) | 0x83
    assert kvm.KVM_SET_REGS == (1 << 30) | (144 << 16) | (0xAE << 8) | 0x82


@pytest.mark.parametrize("prog", [kvm.add_program(), kvm.countdown_program(), kvm.exit_loop_program()])
def test_listings_spell_out_every_byte(prog):
    listed = bytes.fromhex("".join(line.split("  ")[0].replace(" ", "") for line in prog.listing))
    assert listed == prog.code and prog.code.endswith(b"\xf4")  # ends with HLT


@pytest.mark.parametrize("regs", [{"rip": 0}, {"rflags": 2}, {"rzz": 1}, {"rax": -1},
                                  {"rax": 0x10000}, {"rax": 1.5}])
def test_bad_registers_are_refused_before_opening_dev_kvm(monkeypatch, regs):
    def boom(*_a, **_k):
        raise AssertionError("/dev/kvm was opened")

    monkeypatch.setattr(os, "open", boom)
    with pytest.raises(ValueError):
        kvm.run(kvm.add_program(), regs=regs)


def test_missing_dev_kvm_is_a_clear_error(monkeypatch, patch_pkg):
    def no_kvm(*_a, **_k):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "open", no_kvm)
    # the error message asks the probe why; keep its cache out of this fake (it would tell later
    # tests that /dev/kvm is missing)
    from virtlab import probe

    fake = probe.KvmInfo(False, False, None, False, False, "tcg", "/dev/kvm does not exist")
    patch_pkg(probe, "kvm", lambda refresh=False: fake)
    with pytest.raises(kvm.KvmError, match="cannot open /dev/kvm"):
        kvm.run(kvm.add_program())


def test_cleanup_has_nothing_to_do():
    assert kvm.cleanup() == []


def test_episode_05_checks(capsys):
    from virtlab.checks import ep05

    assert ep05.check_exit_count(7) and ep05.check_exit_count(" 7 ")
    assert not ep05.check_exit_count(6) and not ep05.check_exit_count(None)
    assert ep05.check_accelerators("tcg, tcg, KVM")
    assert not ep05.check_accelerators("kvm,tcg,kvm") and not ep05.check_accelerators(None)
    # the rule the exercise teaches is the one virtlab applies
    from virtlab import virt

    assert ",".join(virt.accelerator_for(k, v) for k, v in ((False, False), (True, False), (True, True))) == "tcg,tcg,kvm"
    out = capsys.readouterr().out
    assert out.count("✅") == 3 and out.count("❌") == 4
