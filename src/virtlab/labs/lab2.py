"""Lab 2 — a system container with LXD (after building one from scratch in episode 03).

t1 (4)  a course container with *your* memory and process limits, running (LXD and the
        kernel's cgroup both say so)
t2 (3)  a file inside it holding *your* word (read through LXD, from inside the container)
t3 (3)  a snapshot of it under *your* snapshot name
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from virtlab import OWNER_KEY, OWNER_VALUE, lxd, probe
from virtlab.labs import C, Lab, Task

WORDS = ("granite", "basalt", "quartz", "shale", "gneiss", "marble", "slate", "flint")
ANSWER_FILE = "/root/lab2.txt"


def make_params(rng: Any, tag: str) -> dict[str, Any]:
    word = f"{rng.choice(WORDS)}-{rng.randint(100, 999)}"
    return {"instance": f"vl-lab2-{tag}", "memory_mib": rng.choice((64, 96, 128, 160)),
            "processes": rng.randint(40, 120), "word": word, "snapshot": f"before-{word}",
            "answer_file": ANSWER_FILE}


def _instance(p: dict[str, Any]) -> lxd.Instance | None:
    inst = lxd.Instance(lxd.connect(), p["instance"])
    try:
        inst.info()
    except lxd.LxdError:
        return None
    return inst


def _kernel_memory_limit(state: lxd.InstanceState) -> int | None:
    """The smallest memory limit on the container init's cgroup path (host view)."""
    info = probe.cgroups()
    if "memory" in state.cgroup and info.v1_controllers.get("memory"):
        root, rel, fname = Path(info.v1_controllers["memory"]), state.cgroup["memory"], "memory.limit_in_bytes"
    elif "unified" in state.cgroup and info.v2_mount:
        root, rel, fname = Path(info.v2_mount), state.cgroup["unified"], "memory.max"
    else:
        return None
    d = root / rel.lstrip("/")
    found = []
    while d != root and root in d.parents:
        try:
            v = (d / fname).read_text().strip()
            if v != "max" and int(v) < 2**62:
                found.append(int(v))
        except OSError:
            pass
        d = d.parent
    return min(found) if found else None


def check_t1(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    inst = _instance(p)
    if inst is None:
        return [C("instance exists", False, p["instance"], "no such instance")]
    cfg = inst.config
    state = inst.state()
    return [C("instance exists", True, p["instance"], inst.name),
            C("course-owned", cfg.get(OWNER_KEY) == OWNER_VALUE, OWNER_VALUE, cfg.get(OWNER_KEY)),
            C("running", state.status == "Running", "Running", state.status),
            C("memory limit", cfg.get("limits.memory") == f"{p['memory_mib']}MiB",
              f"{p['memory_mib']}MiB", cfg.get("limits.memory")),
            C("process limit", cfg.get("limits.processes") == str(p["processes"]),
              str(p["processes"]), cfg.get("limits.processes")),
            C("hidden: the kernel enforces the memory limit",
              _kernel_memory_limit(state) == p["memory_mib"] * 1024**2,
              p["memory_mib"] * 1024**2, _kernel_memory_limit(state), hidden=True)]


def check_t2(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    inst = _instance(p)
    if inst is None:
        return [C("your word inside", False, p["word"], "no such instance")]
    r = inst.exec(["cat", ANSWER_FILE], timeout=20)
    return [C("your word inside", r.code == 0 and r.out.strip() == p["word"], p["word"],
              r.out.strip() if r.code == 0 else r.err.strip())]


def check_t3(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    inst = _instance(p)
    if inst is None:
        return [C("snapshot", False, p["snapshot"], "no such instance")]
    snaps = inst.snapshots()
    return [C("snapshot", p["snapshot"] in snaps, p["snapshot"], snaps)]


def cleanup(p: dict[str, Any]) -> list[str]:
    return lxd.cleanup(match=p["instance"])


LAB = Lab(
    id="lab2", title="a system container with LXD", sections=("lxd",),
    tasks=[
        Task("t1", "a container with your limits", 4, "lxd", check_t1,
             ("instance exists", "course-owned", "running", "memory limit", "process limit",
              "hidden: the kernel enforces the memory limit")),
        Task("t2", "your word, inside", 3, "lxd", check_t2, ("your word inside",)),
        Task("t3", "a snapshot under your name", 3, "lxd", check_t3, ("snapshot",)),
    ],
    make_params=make_params, cleanup_fn=cleanup)
