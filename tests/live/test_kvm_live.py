"""The mini-VMM on the real /dev/kvm: the guest computes, every VM exit is seen."""

from __future__ import annotations

from virtlab import kvm


def test_add_guest_computes_through_an_io_exit(need):
    need("kvm")
    r = kvm.run(kvm.add_program(), regs={"rax": 40, "rbx": 2})
    assert r.api_version == 12
    assert r.results == [42]
    assert [e.reason for e in r.exits] == ["IO", "HLT"]
    assert r.exits[0].rip == 0x1006 and r.regs["rax"] == 42


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
