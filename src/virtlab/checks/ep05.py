"""Self-checks for episode 05 (hypervisors and KVM).

Exercise 1 runs the learner's own guest code on the mini-VMM and judges it by its VM exits;
where this machine has no usable /dev/kvm it says so and why, and judges nothing.
Exercise 2 compares the learner's formula with the page-walk model for every size of walk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from virtlab import asm16, kvm, pagewalk, probe
from virtlab.checks import check_answer, verdict

#: the values of cx the sum guest is run with, and what it must send
SUM_CASES = (1, 3, 10, 100)


def _expected_sum(n: int) -> int:
    return n * (n + 1) // 2


def _judge_sum_run(n: int, exits: list[dict[str, Any]]) -> str | None:
    """None if the exits are exactly [OUT port 0x10 = 1+...+n, HLT]; else what is wrong."""
    want = _expected_sum(n)
    outs = [e for e in exits if e["reason"] == "IO"]
    if not exits or exits[-1]["reason"] != "HLT":
        return f"with cx={n} the guest did not end with hlt"
    if len(outs) != 1 or len(exits) != 2:
        return (f"with cx={n} the guest caused {len(exits)} exits ({len(outs)} I/O); "
                "the task wants exactly two: one out to port 0x10 and the hlt — the loop itself "
                "must not leave the guest")
    detail = outs[0]["detail"]
    if not detail.startswith("OUT port 0x10, 2"):
        return f"with cx={n} the guest wrote {detail!r}; write ax (2 bytes) to port 0x10: `out dx, ax`"
    got = int(detail.rsplit(":", 1)[1], 16)
    if got != want:
        return f"with cx={n} the guest sent {got}, but 1+...+{n} = {want}"
    return None


def check_sum_guest(source: str | None) -> bool:
    """Exercise 1: your guest sends 1+2+...+cx to port 0x10 in one OUT, then halts (2 exits)."""
    if source is None:
        return verdict(False, "", "not answered yet: set `source` to your guest's assembly")
    try:
        prog = asm16.assemble(source, "sum")
    except ValueError as err:
        return verdict(False, "", f"your code does not assemble: {err}")
    k = probe.kvm()
    if not k.api_usable:
        return verdict(False, "", f"cannot run your guest here: {k.reason}. Your code assembled "
                       f"({len(prog.code)} bytes), but only a usable /dev/kvm can run it, so it "
                       "was NOT checked — run this cell on a lab VM (or any Linux with KVM)")
    for n in SUM_CASES:
        try:
            res = kvm.run(prog, regs={"rcx": n}, max_exits=1000, timeout=5)
        except kvm.KvmError as err:
            return verdict(False, "", f"with cx={n} your guest failed: {err}")
        problem = _judge_sum_run(n, [e.as_dict() for e in res.exits])
        if problem:
            kvm.show_exits(res)
            return verdict(False, "", f"not yet: {problem}")
    return verdict(True, f"your guest ran on KVM for cx = {', '.join(map(str, SUM_CASES))}: each "
                   "time one OUT with the right sum and one HLT — the loop never left the guest", "")


def check_walk_formula(refs: Callable[[int, int], int] | None) -> bool:
    """Exercise 2: your ``refs(guest_levels, host_levels)`` agrees with the page-walk model."""
    if refs is None or not callable(refs):
        return verdict(False, "", "not answered yet: define refs(guest_levels, host_levels) and pass it")
    for g in range(1, 6):
        for h in range(0, 6):
            want = pagewalk.references(g, h)
            try:
                got = refs(g, h)
            except Exception as err:  # noqa: BLE001 - the learner's function may raise anything
                return verdict(False, "", f"refs({g}, {h}) raised {type(err).__name__}: {err}")
            if got is None:
                return verdict(False, "", "not answered yet: your refs() returns None — return a number")
            if got != want:
                return verdict(False, "", f"not yet: refs({g}, {h}) = {got!r}, the model walks {want} "
                               f"references — try pagewalk.show_walk({g}, {h})")
    return verdict(True, f"your formula matches the model for 1-5 guest and 0-5 host levels "
                   f"(4 x 4: {pagewalk.references(4, 4)}; 5 x 5 with LA57: {pagewalk.references(5, 5)})", "")


def check_exit_count(answer: object) -> bool:
    """Quick question: how many VM exits does the countdown guest cause when started with cl=5?"""
    if answer is None:
        return verdict(False, "", "not answered yet: set `answer` to a number")
    return check_answer(answer, "7902699be42c8a8e", hint="one exit per OUT instruction, plus one more")


def check_accelerators(answer: object) -> bool:
    """Exercise 3: accelerators for machines A, B, C as a comma-separated string."""
    if answer is None:
        return verdict(False, "", "not answered yet: set `answer` to e.g. 'kvm,tcg,kvm'")
    norm = ",".join(p.strip().lower() for p in str(answer).split(","))
    return check_answer(norm, "daaec8c4be58ba8e", hint="KVM needs a usable /dev/kvm AND vmx/svm")
