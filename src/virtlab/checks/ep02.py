"""Self-checks for episode 02 (cgroups). Live where cgroups are writable, else a clear model."""

from __future__ import annotations

from virtlab import cgroups, modes
from virtlab.checks import check_answer, verdict
from virtlab.safety import parse_size

#: what a Python interpreter itself needs before it allocates anything (a generous estimate)
PYTHON_BASELINE_MIB = 12


def check_signal(answer: object) -> bool:
    """Exercise 1: which signal does the OOM killer send?"""
    a = str(answer).strip().upper()
    a = {"9": "SIGKILL", "KILL": "SIGKILL"}.get(a, a)
    return check_answer(a, "d8dce5d7f9cf6637",
                        hint="it ends a process and can be neither caught nor ignored")


def _live() -> bool:
    return modes.resolve("cgroups").mode == "live"


def predict_survives(limit: int, alloc_mib: int) -> bool:
    """The model: a program survives when interpreter + allocation fit under the limit."""
    return (PYTHON_BASELINE_MIB + alloc_mib) << 20 <= limit


def try_memory_limit(limit: int | str) -> bool:
    """Exercise 2: find a limit that OOM-kills a 100 MiB program but lets a 20 MiB one live."""
    n = parse_size(limit, minimum=cgroups.MIN_MEMORY, what="memory")
    results = {}
    if _live():
        with cgroups.CourseCgroup("ex-mem", memory=n, pids=16) as cg:
            kernel_limit = cg.limits()["memory"]  # read back from the kernel's file
            for mib in (100, 20):
                r = cg.run_python(cgroups.MEMORY_HOG.format(mib=mib), timeout=60)
                results[mib] = not r.oom_killed and r.returncode == 0
        print(f"(live) the kernel's file says the limit is {kernel_limit >> 20} MiB")
    else:
        for mib in (100, 20):
            results[mib] = predict_survives(n, mib)
        print("(cgroups are not live in this mode: predicted with the model interpreter + allocation <= limit)")
    for mib, ok in results.items():
        print(f"{mib:>3} MiB program: {'survived' if ok else 'OOM-killed'}")
    return verdict(not results[100] and results[20], "the big one is contained, the small one lives",
                   "not yet: aim between the two programs' needs (remember the interpreter)")


def try_cpu_quota(quota: float | str) -> bool:
    """Exercise 3: give one busy loop between 0.25 and 0.35 of a CPU."""
    q = cgroups.parse_cpu(quota)
    assert q is not None
    if _live():
        share = cgroups.measure_cpu_share(q, 1.0, name="ex-cpu")["share"]
        print(f"(live) measured share: {share:.2f} CPU")
    else:
        share = cgroups.expected_share(q)
        print(f"(cgroups are not live in this mode: model) expected share: {share:.2f} CPU")
    return verdict(0.25 <= share <= 0.35, "about a third of a CPU, as asked",
                   "not yet: the quota is the fraction of each 100 ms period the group may run")
