"""Lab 1 — namespaces and cgroups: a fenced, namespaced process on the real kernel.

Tasks (10 points, all checked from the kernel's own files):

t1 (3)  a cgroup named after you with *your* memory limit and process limit
t2 (3)  the kernel's OOM killer stopped a program inside it (its counters say so)
t3 (4)  a process in that cgroup, in its own PID and UTS namespaces, under *your* hostname
"""

from __future__ import annotations

from typing import Any

from virtlab import cgroups
from virtlab.labs import C, Lab, Task
from virtlab.labs import _state as st

WORDS = ("otter", "heron", "lynx", "marten", "ibex", "puffin", "newt", "vole", "wren", "stoat")


def make_params(rng: Any, tag: str) -> dict[str, Any]:
    memory = rng.choice((48, 64, 80, 96, 112, 128))
    return {"cgroup": f"vl-lab1-{tag}", "memory_mib": memory, "pids": rng.randint(12, 40),
            "hog_mib": memory + 64, "hostname": f"{rng.choice(WORDS)}-{rng.randint(10, 99)}"}


def check_t1(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    try:
        s = st.cgroup_state(p["cgroup"])
    except LookupError as err:
        return [C("cgroup exists", False, p["cgroup"], str(err))]
    lim, use = s["limits"], s["usage"]
    want = p["memory_mib"] * st.MIB
    # kernels before 5.19 have no v2 memory.peak: then the current use must be within the limit
    peak = use.get("memory_peak") if use.get("memory_peak") is not None else use.get("memory_bytes")
    return [C("cgroup exists", True, p["cgroup"], s["paths"]),
            C("memory limit", lim["memory"] == want, want, lim["memory"]),
            C("process limit", lim["pids"] == p["pids"], p["pids"], lim["pids"]),
            C("hidden: peak within the limit", peak is not None and lim["memory"] is not None
              and peak <= lim["memory"], f"<= {lim['memory']}", peak, hidden=True)]


def check_t2(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    try:
        s = st.cgroup_state(p["cgroup"])
    except LookupError as err:
        return [C("oom kill counted", False, ">= 1", str(err))]
    u = s["usage"]
    want = p["memory_mib"] * st.MIB
    peak = u["memory_peak"]
    if peak is not None:
        reached = C("hidden: memory use reached the limit", peak >= 0.9 * want,
                    f">= 90% of {want}", peak, hidden=True)
    else:  # no v2 memory.peak (kernel < 5.19): memory.events "max" counts the limit being hit
        reached = C("hidden: memory use reached the limit", (u["memory_failcnt"] or 0) >= 1,
                    "limit hit >= 1 time", u["memory_failcnt"], hidden=True)
    return [C("oom kill counted", (u["oom_kills"] or 0) >= 1, ">= 1", u["oom_kills"]), reached]


def check_t3(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    try:
        s = st.cgroup_state(p["cgroup"])
    except LookupError as err:
        return [C("namespaced process in the cgroup", False, "a process", str(err))]
    mine = st.ns_inode("self", "uts")
    found = []
    for pid in s["procs"]:
        try:
            if st.ns_inode(pid, "uts") != mine and len(st.nspid(pid)) > 1:
                found.append(pid)
        except OSError:
            continue
    if not found:
        return [C("namespaced process in the cgroup", False, "a process in new uts+pid namespaces",
                  f"{len(s['procs'])} process(es), none in its own uts+pid namespaces")]
    names = {}
    for pid in found:
        try:
            names[pid] = st.hostname_of(pid)
        except Exception as err:  # noqa: BLE001 - reported as the observation
            names[pid] = f"unreadable: {err}"
    good = [pid for pid, h in names.items() if h == p["hostname"]]
    pid1 = [pid for pid in good if st.nspid(pid)[-1] == 1]
    return [C("namespaced process in the cgroup", True, "a process", len(found)),
            C("its hostname", bool(good), p["hostname"], sorted(set(names.values()))),
            C("hidden: it is PID 1 of its namespace", bool(pid1), 1,
              [st.nspid(pid)[-1] for pid in good], hidden=True)]


def cleanup(p: dict[str, Any]) -> list[str]:
    # root, or the learner in the subtree delegated to them (cgroups.cleanup sees only that)
    return cgroups.cleanup(prefix=p["cgroup"])


LAB = Lab(
    id="lab1", title="namespaces and cgroups: a fenced, namespaced process",
    sections=("cgroups", "namespaces"),
    tasks=[
        Task("t1", "a cgroup with your limits", 3, "cgroups", check_t1,
             ("cgroup exists", "memory limit", "process limit", "hidden: peak within the limit")),
        Task("t2", "an OOM kill inside the fence", 3, "cgroups", check_t2,
             ("oom kill counted", "hidden: memory use reached the limit")),
        Task("t3", "a namespaced process under your hostname", 4, "cgroups", check_t3,
             ("namespaced process in the cgroup", "its hostname", "hidden: it is PID 1 of its namespace")),
    ],
    make_params=make_params, cleanup_fn=cleanup)
