"""Self-checks for episode 07 (isolation and security).

The answers come from the real measurements (the attack-surface demo's data, a seccomp filter
actually loaded in a child process) or from the episode's threat model — never from a constant
typed into this file.
"""

from __future__ import annotations

from typing import Any

from virtlab import modes, security
from virtlab.checks import check_answer, verdict


def _data(r: modes.Result | dict[str, Any]) -> dict[str, Any]:
    return r.data if isinstance(r, modes.Result) else r


def surface_ratio(r: modes.Result | dict[str, Any]) -> int:
    """Syscalls per x86 KVM hypercall in the measured data, rounded to a whole number."""
    d = _data(r)
    if not d.get("hypercalls_x86"):
        raise ValueError("the data has no x86 hypercalls: run vl.modes.run('security.surface')")
    return round(d["syscalls_libseccomp"] / len(d["hypercalls_x86"]))


def check_ratio(answer: float, r: modes.Result | dict[str, Any]) -> bool:
    """Exercise 1: how many system calls per KVM hypercall (x86), from the measurement ``r``."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return verdict(False, "", f"{answer!r} is not a number — divide the two counts")
    want = surface_ratio(r)
    return verdict(abs(value - want) <= 1, f"correct: about {want} system calls per hypercall",
                   "not yet — divide the syscall count by the number of x86 hypercalls "
                   "(both printed above)")


def check_seccomp(result: dict[str, Any]) -> bool:
    """Exercise 2: a filter *you* chose (not uname) blocked a syscall that worked before."""
    if not isinstance(result, dict) or "syscall" not in result:
        return verdict(False, "", "pass the dict returned by vl.security.seccomp_block(...)")
    if result["syscall"] == "uname":
        return verdict(False, "", "pick another syscall than the demo's uname")
    if result.get("before") != "ok":
        return verdict(False, "", f"{result['syscall']} failed even before the filter "
                                  f"({result.get('before')}) — try another one")
    blocked = result.get("after") == "EPERM" or result.get("signal") == "SIGSYS"
    return verdict(blocked, f"{result['syscall']} worked, then the filter blocked it "
                            f"({result.get('after')}; exit status {result.get('exit_status')})",
                   f"after the filter {result['syscall']} gave {result.get('after')!r}")


def check_threat(threat: str, boundary: str) -> bool:
    """Exercise 3: the cheapest boundary (in the episode's model) that stops ``threat``."""
    try:
        want = security.weakest_stopping(threat)
    except LookupError as err:
        return verdict(False, "", str(err))
    ok = isinstance(boundary, str) and boundary.strip().lower() == want.lower()
    return verdict(ok, f"correct: {want} — {dict((r['boundary'], r['why']) for r in security.assess(threat))[want]}",
                   f"not yet — boundaries are: {', '.join(security.BOUNDARIES)}; "
                   "look at the table for that threat")


def check_verdict(threat: str, boundary: str, answer: str) -> bool:
    """Exercise 3.1: the model's verdict for ``boundary`` against ``threat``."""
    try:
        rows = {r["boundary"]: r for r in security.assess(threat)}
    except LookupError as err:
        return verdict(False, "", str(err))
    if boundary not in rows:
        return verdict(False, "", f"unknown boundary {boundary!r}; one of: {', '.join(rows)}")
    want = rows[boundary]["verdict"]
    ok = isinstance(answer, str) and answer.strip().lower() == want
    return verdict(ok, f"correct: {want} — {rows[boundary]['why']}",
                   "not yet — answer 'stops it', 'partly' or 'does not stop it'; whose uid does "
                   "the escaped process have, and which other containers share it?")


# the capability a raw ICMP socket (ping) needs — hashed so the answer is not given away
_NET_RAW = "2fca0ed7c756e4b3"


def check_capability(name: str) -> bool:
    """Quick question: which capability did the capability demo drop to make ping impossible?"""
    norm = str(name).strip().lower().removeprefix("cap_")
    return check_answer(norm, _NET_RAW, hint="look at the 'capset(2) dropping' line")
