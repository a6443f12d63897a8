"""Self-checks for episode 04 (system containers with LXD).

The state checks read the real daemon: the instance's config, its state, and the cgroup the host
kernel enforces. Where the LXD cells cannot run live (recorded mode), they say so instead of
judging, and the answer check compares with the recorded run.
"""

from __future__ import annotations

from pathlib import Path

from virtlab import modes, probe
from virtlab.checks import verdict
from virtlab.safety import human_bytes, parse_size

NOT_LIVE = ("ℹ️ this check reads a real LXD daemon, but the LXD cells here are not live "
            "(recorded mode) — compare your work with the solution below instead")


def _live() -> bool:
    try:
        return modes.resolve("lxd").mode == "live"
    except modes.CapabilityMissing:
        return False


def _host_memory_limit(cgroup: dict[str, str]) -> int | None:
    """The memory limit the host kernel enforces on a container's cgroup (v1 or v2)."""
    cg = probe.cgroups()
    if "memory" in cgroup and "memory" in cg.v1_controllers:
        base, rel, fname = Path(cg.v1_controllers["memory"]), cgroup["memory"], "memory.limit_in_bytes"
    elif cg.v2_mount and "unified" in cgroup:
        base, rel, fname = Path(cg.v2_mount), cgroup["unified"], "memory.max"
    else:
        return None
    # the limit sits on the container's cgroup; systemd inside may have moved init one level down
    parts = [p for p in rel.split("/") if p]
    limits: list[int] = []
    while parts:
        try:
            raw = (base.joinpath(*parts) / fname).read_text().strip()
            if raw != "max":
                limits.append(int(raw))
        except (OSError, ValueError):
            pass
        if parts[-1].startswith("lxc.payload"):
            break
        parts.pop()
    return min(limits) if limits else None


def _instance(name: str, hint: str):  # noqa: ANN202 - a virtlab.lxd.Instance or None
    """The learner's course instance from the real daemon, or None (with the reason printed)."""
    if not _live():
        print(NOT_LIVE)
        return None
    from virtlab import lxd

    try:
        return lxd.get(name)
    except LookupError as err:
        verdict(False, "", f"no course instance vl-{name} ({err}): {hint}")
        return None


def check_web(name: str = "web", memory: str = "64MiB", processes: int = 50) -> bool:
    """Exercise 1: a running course instance ``vl-web`` limited to 64 MiB and 50 processes."""
    inst = _instance(name, "launch it with vl.lxd.launch(...)")
    if inst is None:
        return False
    cfg = inst.config
    st = inst.state()
    want = parse_size(memory)
    try:
        have = parse_size(cfg.get("limits.memory", "0"), minimum=0)
    except ValueError:
        have = -1
    if st.status != "Running":
        return verdict(False, "", f"{inst.name} exists but is {st.status}: start it")
    if have != want:
        return verdict(False, "", f"{inst.name} has limits.memory={cfg.get('limits.memory')}, "
                                  f"want {memory}")
    if cfg.get("limits.processes") != str(processes):
        return verdict(False, "", f"{inst.name} has limits.processes="
                                  f"{cfg.get('limits.processes')}, want {processes}")
    kernel_limit = _host_memory_limit(st.cgroup)
    if kernel_limit is not None and kernel_limit != want:
        return verdict(False, "", f"LXD says {memory} but the kernel enforces "
                                  f"{human_bytes(kernel_limit)}: restart the instance")
    return verdict(True, f"{inst.name} runs with {memory} and {processes} processes, and the host "
                         "kernel enforces the memory limit on its cgroup", "")


def _unprivileged_root_uid() -> int | None:
    if _live():
        from virtlab import lxd

        with lxd.instance("uidcheck") as inst:
            return inst.host_ids().get("host_uid")
    rec = modes.load_recording("lxd.uidmap")
    return rec["data"]["unprivileged"]["host_uid"]


def check_root_uid(answer: object) -> bool:
    """Exercise 2: which host uid runs the init of an unprivileged container?"""
    if answer is None or str(answer).strip() == "":
        return verdict(False, "", "not answered yet: set `answer = ...` to a number")
    try:
        value = int(str(answer).strip())
    except ValueError:
        return verdict(False, "", f"{answer!r} is not a number: give a uid like 1000")
    want = _unprivileged_root_uid()
    if value == want:
        return verdict(True, "correct: container uid 0 is that unprivileged uid on the host — "
                             "root inside, nobody special outside", "")
    hint = ("that is the host's real root: true only for a privileged container"
            if value == 0 else "look at the second column of /proc/self/uid_map inside")
    return verdict(False, "", f"not yet — hint: {hint}")


def check_snapshot(name: str = "web", snapshot: str = "clean") -> bool:
    """Exercise 3: ``vl-web`` has a snapshot ``clean`` and, after the restore, ``ls`` works."""
    inst = _instance(name, "do exercise 1 first")
    if inst is None:
        return False
    snaps = inst.snapshots()
    if snapshot not in snaps:
        return verdict(False, "", f"{inst.name} has no snapshot {snapshot!r} (it has: "
                                  f"{', '.join(snaps) or 'none'})")
    if inst.state().status != "Running":
        return verdict(False, "", f"{inst.name} is not running: start it")
    code = inst.exec(["ls", "/"]).code
    return verdict(code == 0, f"{inst.name} has snapshot {snapshot!r} and `ls` works again",
                   f"`ls /` fails in {inst.name} (exit {code}): restore the snapshot")
