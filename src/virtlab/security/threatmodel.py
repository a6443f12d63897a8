"""The threat model: which isolation boundary stops which threat, and why (episode 08's table)."""
from __future__ import annotations

# --------------------------------------------------------------------------- threat model
#: the isolation boundaries the threat model compares
BOUNDARIES: dict[str, str] = {
    "container": "namespaces + cgroups, container root = host root (a privileged container)",
    "hardened container": "+ user namespace, seccomp filter, fewer capabilities, LSM "
                          "(an unprivileged LXD container)",
    "VM": "its own kernel on KVM + QEMU, QEMU confined (libvirt: separate uid, sVirt)",
    "separate host": "a different physical machine",
}


STOPS, PARTLY, FAILS, NA = "stops it", "partly", "does not stop it", "not applicable"


_T = tuple[str, str, str]  # verdict, why, example


THREATS: dict[str, dict[str, _T]] = {
    "noisy neighbour": {
        "container": (PARTLY, "cgroups cap CPU, memory, pids and I/O — if set; shared kernel "
                      "structures (page cache, conntrack, inodes, keys) are not all limited",
                      "episode 02: memory.max OOM-kills only the offender"),
        "hardened container": (PARTLY, "hardening adds no resource isolation: same cgroups as "
                               "above", "episode 04: LXD limits.memory"),
        "VM": (PARTLY, "fixed vCPUs and memory, but CPU caches, memory bandwidth, disk and "
               "network are still shared unless limited", "—"),
        "separate host": (STOPS, "nothing shared but the network", "—"),
    },
    "container breakout": {
        "container": (FAILS, "root in the container is root on the host: a runtime bug or a "
                      "mounted socket/device hands over the host", "CVE-2019-5736 (runc)"),
        "hardened container": (PARTLY, "protects the host, not the neighbours: container root "
                               "is an unprivileged host uid (100000), so an escape does not own "
                               "the host — but with LXD's default shared id map every "
                               "unprivileged container's root is that same uid, so the escaped "
                               "process owns every other container's files and processes, "
                               "unless each has its own map (security.idmap.isolated)",
                               "CVE-2019-5736 could not overwrite host runc from a "
                               "user-namespaced container"),
        "VM": (STOPS, "a container escape inside a VM lands in the guest kernel, not the host",
               "Kata Containers (each pod in a light VM)"),
        "separate host": (STOPS, "nothing to break out into", "—"),
    },
    "kernel 0-day": {
        "container": (FAILS, "every container calls the one host kernel directly: a bug in any "
                      "reachable syscall is a bug in the host", "Dirty COW, CVE-2016-5195"),
        "hardened container": (PARTLY, "seccomp and user-namespace limits shrink what is "
                               "reachable (CVE-2022-0185 needed unshare, which Docker's profile "
                               "blocks) — but Dirty COW used ordinary syscalls",
                               "CVE-2022-0185, CVE-2022-0492"),
        "VM": (STOPS, "the guest has its own kernel: a 0-day there owns only the guest; the host "
               "kernel is reached through a few VM exits, not ~370 syscalls", "—"),
        "separate host": (STOPS, "different kernel, different machine", "—"),
    },
    "side channel": {
        "container": (FAILS, "same kernel, same cores, same caches", "Meltdown, CVE-2017-5754"),
        "hardened container": (FAILS, "seccomp and namespaces do not change what the CPU "
                               "caches share", "Spectre v1, CVE-2017-5753"),
        "VM": (PARTLY, "L1TF read across VMs on sibling hyper-threads; mitigated by L1D flush, "
               "SMT off, core scheduling, not sharing cores", "L1TF, CVE-2018-3646"),
        "separate host": (STOPS, "no shared CPU", "—"),
    },
    "hypervisor escape": {
        "container": (NA, "there is no hypervisor — the equivalent is a kernel 0-day", "—"),
        "hardened container": (NA, "there is no hypervisor — the equivalent is a kernel 0-day",
                               "—"),
        "VM": (FAILS, "a bug in an emulated device runs code in the QEMU process on the host; "
               "confinement (separate uid, sVirt, QEMU's seccomp sandbox) limits the damage to "
               "that process", "VENOM, CVE-2015-3456"),
        "separate host": (STOPS, "no shared hypervisor", "—"),
    },
}


def threats() -> list[str]:
    """The threats the model knows."""
    return list(THREATS)


def assess(threat: str) -> list[dict[str, str]]:
    """For ``threat``: each boundary with its verdict, why, and a real example."""
    key = threat.strip().lower() if isinstance(threat, str) else threat
    if key not in THREATS:
        raise LookupError(f"unknown threat {threat!r}; choose one of: {', '.join(THREATS)}")
    return [{"boundary": b, "verdict": v, "why": why, "example": ex}
            for b, (v, why, ex) in THREATS[key].items()]


def weakest_stopping(threat: str) -> str:
    """The first (cheapest) boundary that stops ``threat``."""
    for row in assess(threat):
        if row["verdict"] == STOPS:
            return row["boundary"]
    raise LookupError(f"no boundary in the model stops {threat!r}")  # pragma: no cover


def show_threat(threat: str, width: int = 96) -> None:
    """Print the threat's assessment (see :func:`threat_text`)."""
    print(threat_text(threat, width))


def threat_text(threat: str, width: int = 96) -> str:
    """The threat's assessment as plain text."""
    import textwrap

    lines = [f"threat: {threat}"]
    for r in assess(threat):
        lines.append(f"  {r['boundary']:<19} {r['verdict']}")
        for w in textwrap.wrap(r["why"], width - 24):
            lines.append(f"  {'':<19}   {w}")
        if r["example"] != "—":
            lines.append(f"  {'':<19}   e.g. {r['example']}")
    return "\n".join(lines)
