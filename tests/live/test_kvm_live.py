"""The mini-VMM on the real /dev/kvm: the guest computes, every VM exit is seen."""

from __future__ import annotations

import pytest

from virtlab import kvm


def test_add_guest_computes_through_an_io_exit(need):
    need("kvm")
    r = kvm.run(kvm.add_program(), regs={"rax": 40, "rbx": 2})
    assert r.api_version == 12
    assert r.results == [42]
    assert [e.reason for e in r.exits] == ["IO", "HLT"]
    # the OUT is at 0x1005: VT-x/AMD-V KVM reports rip AT it (moved on the next KVM_RUN);
    # kvm-pvm reports it already past (0x1006). Either way the view names which one it saw.
    assert r.exits[0].rip in (0x1005, 0x1006) and r.regs["rax"] == 42
    where = kvm.rip_at_out(kvm.add_program().listing, [e.as_dict() for e in r.exits])
    assert where == ("at" if r.exits[0].rip == 0x1005 else "past")


def test_countdown_guest_prints_and_exits_once_per_out(need):
    need("kvm")
    r = kvm.run(kvm.countdown_program(), regs={"rcx": 5})
    assert r.output == "54321\n"
    assert len(r.exits) == 7 and r.exits[-1].reason == "HLT"


def test_runaway_guest_is_stopped(need):
    need("kvm")
    import pytest

    with pytest.raises(kvm.KvmError, match="more than 10 VM exits"):
        kvm.run(kvm.exit_loop_program(), regs={"rcx": 1000}, max_exits=10)


def test_vm_exit_round_trip_is_microseconds(need):
    need("kvm")
    rt = kvm.exit_round_trip(5000)
    assert rt["exits"] == 5001 and 0 < rt["us_per_exit"] < 1000


@pytest.mark.serial
def test_learners_sum_guest_is_run_and_judged_by_its_exits(need, capsys):
    need("kvm")
    from virtlab.checks import ep05

    good = "mov dx, 0x10\nmov ax, 0\nagain: add ax, cx\nloop again\nout dx, ax\nhlt"
    assert ep05.check_sum_guest(good)
    chatty = "mov dx, 0x10\nmov ax, 0\nagain: add ax, cx\nout dx, ax\nloop again\nhlt"
    assert not ep05.check_sum_guest(chatty)  # right sum, one exit per step
    wrong = "mov dx, 0x10\nmov ax, cx\nout dx, ax\nhlt"
    assert not ep05.check_sum_guest(wrong)
    out = capsys.readouterr().out
    assert "the loop itself must not leave the guest" in out and "1+...+3 = 6" in out
