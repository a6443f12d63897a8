"""The cgroups episode's demos (``@modes.demo``): each returns JSON-able data, prints nothing."""
from __future__ import annotations

import os
import sys
import time
from typing import Any

from virtlab import modes, probe
from virtlab.cgroups.files import layout
from virtlab.cgroups.group import CourseCgroup
from virtlab.cgroups.workloads import BUSY_LOOP, FORK_LOOP, MEMORY_HOG, measure_cpu_share


@modes.demo("cgroups.memory_oom", section="cgroups")
def demo_memory_oom(backend: modes.Backend) -> dict[str, Any]:
    """A child asks for 200 MiB in a 64 MiB cgroup: the kernel OOM-kills it, we survive."""
    with CourseCgroup("demo-mem", memory="64MiB", pids=16) as cg:
        r = cg.run_python(MEMORY_HOG.format(mib=200), timeout=60)
        u = cg.usage()
        lim = cg.limits()
    return {"layout": layout(), "version": u.version, "limit": lim["memory"],
            "returncode": r.returncode, "signal": r.signal, "oom_killed": r.oom_killed,
            "last_line": (r.stdout.strip().splitlines() or [""])[-1], "elapsed": r.elapsed,
            "usage": u.to_dict()}


@modes.demo("cgroups.cpu_quota", section="cgroups")
def demo_cpu_quota(backend: modes.Backend) -> dict[str, Any]:
    """A busy loop under several CPU quotas: measured share vs quota."""
    rows = [measure_cpu_share(q, 1.0, name=f"demo-cpu-{i}") for i, q in
            enumerate((0.1, 0.25, 0.5, 0.75, 1.0))]
    return {"layout": layout(), "ncpu": os.cpu_count(), "rows": rows}


@modes.demo("cgroups.pids_fork", section="cgroups")
def demo_pids_fork(backend: modes.Backend) -> dict[str, Any]:
    """A Python fork loop inside pids.max=20 is refused at the limit."""
    with CourseCgroup("demo-pids", pids=20, memory="256MiB") as cg:
        r = cg.run_python(FORK_LOOP.format(n=100), timeout=60)
        u = cg.usage()
    return {"pids_max": 20, "returncode": r.returncode, "stdout": r.stdout.strip().splitlines(),
            "pids_denied": u.pids_denied, "version": u.version}


def _own_v2_subtree(backend: modes.Backend) -> str | None:
    if "unified" in probe.cgroups().bases:
        return None
    return ("a cgroup v2 subtree of your own (pressure files exist only in cgroup v2; "
            + ("none is mounted here)" if probe.cgroups().v2_mount is None else
               "this session's processes do not live in one delegated to you)"))


@modes.demo("cgroups.pressure", section="cgroups", requires=_own_v2_subtree)
def demo_pressure(backend: modes.Backend) -> dict[str, Any]:
    """CPU pressure (PSI) of a cgroup whose busy loop is throttled to 20 % of a CPU."""
    with CourseCgroup("demo-psi", cpu_quota=0.2, pids=8) as cg:
        before = cg.pressure("cpu")
        r = cg.run_python(BUSY_LOOP.format(s=2.0), timeout=30)
        after = cg.pressure("cpu")
        u = cg.usage()
    return {"before": before, "after": after, "wall": r.elapsed, "cpu_seconds": u.cpu_seconds,
            "stalled_seconds": (after.get("some", {}).get("total", 0) - before.get("some", {}).get("total", 0)) / 1e6}


@modes.demo("cgroups.freeze", section="cgroups")
def demo_freeze(backend: modes.Backend, window: float = 0.5) -> dict[str, Any]:
    """A busy loop: CPU used while running, frozen, thawed; then the whole group is killed."""
    with CourseCgroup("demo-frz", pids=8) as cg:
        p = cg.popen([sys.executable, "-c", BUSY_LOOP.format(s=30)])
        time.sleep(0.2)  # let the interpreter start
        phases = []
        for phase in ("running", "frozen", "thawed"):
            if phase == "frozen":
                cg.freeze()
            elif phase == "thawed":
                cg.freeze(False)
            before = cg.usage().cpu_seconds or 0.0
            time.sleep(window)
            phases.append({"phase": phase, "cpu_seconds": (cg.usage().cpu_seconds or 0.0) - before,
                           "window": window})
        killed = cg.kill()
        code = p.wait(5)
    return {"phases": phases, "killed": killed, "returncode": code}
