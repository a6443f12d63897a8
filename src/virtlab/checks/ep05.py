"""Self-checks for episode 05 (hypervisors and KVM)."""

from __future__ import annotations

from virtlab.checks import check_answer, verdict


def check_exit_count(answer: object) -> bool:
    """Exercise 1: how many VM exits does the countdown guest cause when started with cl=5?"""
    if answer is None:
        return verdict(False, "", "not answered yet: set `answer` to a number")
    return check_answer(answer, "7902699be42c8a8e", hint="one exit per OUT instruction, plus one more")


def check_accelerators(answer: object) -> bool:
    """Exercise 2: accelerators for machines A, B, C as a comma-separated string."""
    if answer is None:
        return verdict(False, "", "not answered yet: set `answer` to e.g. 'kvm,tcg,kvm'")
    norm = ",".join(p.strip().lower() for p in str(answer).split(","))
    return check_answer(norm, "daaec8c4be58ba8e", hint="KVM needs a usable /dev/kvm AND vmx/svm")
