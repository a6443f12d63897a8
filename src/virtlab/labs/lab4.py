"""Lab 4 — measure and decide: a CPU quota, measured; a decision, argued.

t1 (4)  a cgroup with *your* CPU quota that the kernel has throttled (its counters say so)
t2 (3)  the CPU share you measured from the kernel's accounting: capped by your quota
t3 (3)  a written decision for *your* scenario, graded by hand
"""

from __future__ import annotations

import os
from typing import Any

from virtlab import cgroups
from virtlab.labs import C, Lab, Task
from virtlab.labs import _state as st

SCENARIOS = (
    "300 short-lived CI jobs an hour, each needing a clean Linux userland, from one team",
    "a public service that runs code uploaded by anonymous users",
    "twelve legacy Windows and Linux servers moved onto one new host",
    "a university lab where each student needs root on their own Linux system",
    "a multi-tenant database hosting company with strict noisy-neighbour guarantees",
    "an edge device with 2 GiB of RAM running five small Linux services",
)


#: ``n`` processes that each spin for ``s`` seconds: more demand than any quota here allows, so
#: the quota binds even on a busy shared host (one spinner there may get less than its quota)
SPINNERS = ("import os, time\nkids = []\nfor _ in range({n}):\n    pid = os.fork()\n"
            "    if pid == 0:\n        end = time.monotonic() + {s}\n"
            "        while time.monotonic() < end: pass\n        os._exit(0)\n    kids.append(pid)\n"
            "for k in kids: os.waitpid(k, 0)\n")


def share_bounds(quota: float) -> tuple[float, float]:
    """A measured share is right when the quota capped it: at most the quota (+10% and a little
    accounting slack), at least 60% of it (a loaded host may not give all of it)."""
    return round(0.6 * quota, 3), round(1.1 * quota + 0.02, 3)


def make_params(rng: Any, tag: str) -> dict[str, Any]:
    return {"cgroup": f"vl-lab4-{tag}", "quota_pct": rng.choice((10, 15, 20, 25, 30)),
            "scenario": rng.choice(SCENARIOS)}


def check_t1(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    try:
        s = st.cgroup_state(p["cgroup"])
    except LookupError as err:
        return [C("cgroup exists", False, p["cgroup"], str(err))]
    quota = s["limits"]["cpu_quota"]
    want = p["quota_pct"] / 100
    u = s["usage"]
    return [C("cgroup exists", True, p["cgroup"], s["paths"]),
            C("CPU quota", quota is not None and abs(quota - want) < 1e-6, want, quota),
            C("throttled by the kernel", (u["cpu_throttled_periods"] or 0) > 0, "> 0 periods",
              u["cpu_throttled_periods"]),
            C("hidden: CPU time was used", (u["cpu_seconds"] or 0) >= 0.2, ">= 0.2 s",
              u["cpu_seconds"], hidden=True)]


def check_t2(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    share = answers.get("t2")
    lo, hi = share_bounds(p["quota_pct"] / 100)
    if isinstance(share, bool) or not isinstance(share, int | float):
        return [C("measured share", False, f"between {lo} and {hi}", share)]
    return [C("measured share", lo <= share <= hi, f"between {lo} and {hi}", share),
            C("hidden: within one CPU", 0 < share <= (os.cpu_count() or 1), "0 < share <= CPUs",
              share, hidden=True)]


def cleanup(p: dict[str, Any]) -> list[str]:
    # root, or the learner in the subtree delegated to them (cgroups.cleanup sees only that)
    return cgroups.cleanup(prefix=p["cgroup"])


LAB = Lab(
    id="lab4", title="measure and decide", sections=("cgroups",),
    tasks=[
        Task("t1", "a throttled cgroup with your quota", 4, "cgroups", check_t1,
             ("cgroup exists", "CPU quota", "throttled by the kernel", "hidden: CPU time was used")),
        Task("t2", "the share you measured", 3, "cgroups", check_t2,
             ("measured share", "hidden: within one CPU")),
        Task("t3", "a decision for your scenario", 3, None, None),
    ],
    make_params=make_params, cleanup_fn=cleanup)
