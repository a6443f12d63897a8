"""Self-checks for episode 06 (libvirt, snapshots, migration)."""

from __future__ import annotations

from virtlab import migration, virt
from virtlab.checks import verdict

EX1_NAME = "vl-ex1"


def check_ex1_domain(uri: str | None = None) -> bool:
    """Exercise 1: a course domain ``vl-ex1`` with 96 MiB and 1 vCPU is defined (real libvirt)."""
    facts = virt.domain_facts(EX1_NAME, uri=uri)
    if facts is None:
        return verdict(False, "", f"no domain {EX1_NAME} is defined yet on {uri or virt.default_uri()}")
    problems = []
    if facts["memory_mib"] != 96:
        problems.append(f"memory is {facts['memory_mib']} MiB, not 96")
    if facts["vcpus"] != 1:
        problems.append(f"it has {facts['vcpus']} vCPUs, not 1")
    if facts["owner"] is None:
        problems.append("it lacks the course metadata (define it with virtlab.virt)")
    return verdict(not problems, f"{EX1_NAME}: 96 MiB, 1 vCPU, course-owned — well done "
                                 "(remove it with vl.virt.undefine_domain('ex1'))",
                   "; ".join(problems))


def check_downtime(ms: object) -> bool:
    """Exercise 2: the downtime (ms) of the 8 GiB scenario, within 5 %."""
    if ms is None:
        return verdict(False, "", "not answered yet: set `downtime_ms` to a number")
    try:
        value = float(ms)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return verdict(False, "", f"{ms!r} is not a number of milliseconds")
    want = migration.precopy(8192, 50, migration.mbit(10_000), wws_mib=64).downtime_s * 1000
    ok = abs(value - want) <= 0.05 * want
    return verdict(ok, "correct: that is the pause the guest sees",
                   "not yet — hint: the stop-and-copy sends roughly the WWS over the link")
