"""Containers, VMs or the middle ground? A small, pure, explainable decision model.

:func:`recommend` takes a workload's requirements and ranks seven isolation technologies. Hard
requirements exclude options (with the reason); the rest are scored, and every point of the
score comes with a sentence saying why. The option properties are coarse classes from the
sources in :data:`SOURCES`, not benchmarks — episode 08 measures the ones this machine can run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OS_MIX = ("same-linux", "other-linux-kernel", "windows-or-bsd")
ISOLATION = ("trusted", "separate-teams", "hostile-tenants")
DENSITY = ("low", "medium", "high")


@dataclass(frozen=True)
class Option:
    key: str
    name: str
    own_kernel: bool  # a separate guest kernel between workload and host
    isolation: int  # 0 shared everything .. 3 hardware VM boundary
    runs: tuple[str, ...]  # OS_MIX values it can serve
    start_s: float  # order of magnitude of start-up to first command
    density: int  # 1 low .. 3 high
    live_migration: str  # "yes", "limited", "no"
    overhead: int  # 0 native .. 1 pays for an extra layer (syscall interception, a guest kernel)
    note: str
    oci: bool = False  # runs OCI images as a Kubernetes (CRI) runtime


OPTIONS: tuple[Option, ...] = (
    Option("process", "plain host process", False, 0, ("same-linux",), 0.001, 3, "no", 0,
           "no isolation beyond users and permissions"),
    Option("app-container", "application container (OCI: runc/crun; Docker, Kubernetes)",
           False, 1, ("same-linux",), 0.05, 3, "no", 0,
           "namespaces + cgroups + seccomp around one service", True),
    Option("system-container", "system container (LXC/LXD)", False, 1, ("same-linux",), 0.5, 3,
           "limited", 0, "a whole distribution with its own init on the host kernel"),
    Option("gvisor", "gVisor (user-space kernel, runsc)", False, 2,
           ("same-linux", "other-linux-kernel"), 0.5, 2, "no", 1,
           "a Go re-implementation of the Linux syscall interface between app and host kernel", True),
    Option("firecracker", "Firecracker microVM", True, 3, ("same-linux", "other-linux-kernel"),
           0.125, 2, "no", 1, "a minimal KVM VMM: Linux guests, a few virtio devices, no BIOS"),
    Option("kata", "Kata Containers (containers in lightweight VMs)", True, 3,
           ("same-linux", "other-linux-kernel"), 1.0, 2, "no", 1,
           "an OCI/CRI runtime that starts each pod in its own small VM", True),
    Option("vm", "full virtual machine (KVM + QEMU/libvirt)", True, 3, OS_MIX, 10.0, 1, "yes", 1,
           "any OS, mature live migration, snapshots; the most memory per instance"),
)

SOURCES = {
    "firecracker": "https://github.com/firecracker-microvm/firecracker/blob/main/SPECIFICATION.md",
    "kata": "https://katacontainers.io/learn/",
    "gvisor": "https://gvisor.dev/docs/",
    "crun": "https://github.com/containers/crun",
    "felter": "https://dominoweb.draco.res.ibm.com/reports/rc25482.pdf",
}


@dataclass(frozen=True)
class Requirements:
    os_mix: str = "same-linux"
    isolation: str = "separate-teams"
    density: str = "medium"
    max_start_s: float = 60.0  # the slowest start-up that is acceptable
    live_migration: bool = False
    compliance_separate_kernel: bool = False  # an auditor demands a separate kernel per tenant
    kubernetes: bool = False  # the workload ships as OCI images and is scheduled by Kubernetes


@dataclass
class Ranked:
    key: str
    name: str
    score: int
    reasons: list[str] = field(default_factory=list)


@dataclass
class Recommendation:
    ranking: list[Ranked]
    excluded: dict[str, str]

    @property
    def best(self) -> Ranked | None:
        return self.ranking[0] if self.ranking else None


def _check(req: Requirements) -> None:
    for value, allowed, what in ((req.os_mix, OS_MIX, "os_mix"), (req.isolation, ISOLATION, "isolation"),
                                 (req.density, DENSITY, "density")):
        if value not in allowed:
            raise ValueError(f"{what}={value!r} is not known; choose one of: {', '.join(allowed)}")
    if isinstance(req.max_start_s, bool) or not isinstance(req.max_start_s, int | float) \
            or not 0 < req.max_start_s <= 3600:
        raise ValueError(f"max_start_s must be a number of seconds in (0, 3600], not {req.max_start_s!r}")


def recommend(req: Requirements) -> Recommendation:
    """Rank :data:`OPTIONS` for ``req``; excluded options carry the reason."""
    _check(req)
    need_iso = ISOLATION.index(req.isolation)  # 0, 1, 2
    ranking: list[Ranked] = []
    excluded: dict[str, str] = {}
    for o in OPTIONS:
        why_not = []
        if req.os_mix not in o.runs:
            why_not.append("cannot run a Windows/BSD kernel" if req.os_mix == "windows-or-bsd"
                           else "shares the host kernel, so the workload cannot bring its own")
        if need_iso == 2 and o.isolation < 2:
            why_not.append("hostile tenants need more than namespaces around a shared kernel")
        if need_iso == 1 and o.isolation < 1:
            why_not.append("no isolation between teams")
        if req.compliance_separate_kernel and not o.own_kernel:
            why_not.append("no separate kernel per tenant")
        if req.live_migration and o.live_migration == "no":
            why_not.append("no live migration")
        if o.start_s > req.max_start_s:
            why_not.append(f"starts in ~{o.start_s:g} s, more than the {req.max_start_s:g} s allowed")
        if why_not:
            excluded[o.key] = "; ".join(why_not)
            continue
        r = Ranked(o.key, o.name, 0)
        dens_want = DENSITY.index(req.density) + 1
        if o.density >= dens_want:
            r.score += 2
            r.reasons.append(f"+2 fits a '{req.density}' density target ({o.note})")
        else:
            r.score -= 2 * (dens_want - o.density)
            r.reasons.append(f"-{2 * (dens_want - o.density)} density: more memory per instance than "
                             f"a '{req.density}' density target likes")
        if o.isolation > max(need_iso, 1):
            r.score += 1
            r.reasons.append("+1 a stronger boundary than required")
        if o.start_s <= req.max_start_s / 10:
            r.score += 1
            r.reasons.append(f"+1 start-up (~{o.start_s:g} s) well inside the {req.max_start_s:g} s budget")
        if req.live_migration and o.live_migration == "limited":
            r.score -= 3
            r.reasons.append("-3 live migration exists (CRIU) but with many limitations")
        if req.live_migration and o.live_migration == "yes":
            r.score += 4
            r.reasons.append("+4 mature live migration")
        if req.kubernetes and o.oci:
            r.score += 2
            r.reasons.append("+2 runs the OCI images under Kubernetes (a CRI runtime / RuntimeClass)")
        if o.overhead:
            r.score -= o.overhead
            r.reasons.append(f"-{o.overhead} pays for an extra layer (syscall interception or a guest kernel)")
        if o.own_kernel and req.os_mix == "same-linux" and need_iso < 2 and not req.compliance_separate_kernel:
            r.score -= 1
            r.reasons.append("-1 a second kernel to run and patch that nothing here requires")
        ranking.append(r)
    order = {o.key: i for i, o in enumerate(OPTIONS)}
    ranking.sort(key=lambda x: (-x.score, order[x.key]))
    return Recommendation(ranking, excluded)


def explain(rec: Recommendation, top: int = 3) -> str:
    """Deterministic text: the best options with their reasons, then what was excluded and why."""
    lines = []
    if not rec.ranking:
        lines.append("nothing fits every hard requirement — relax one of them")
    for i, r in enumerate(rec.ranking[:top], 1):
        lines.append(f"{i}. {r.name}  (score {r.score})")
        lines.extend(f"     {why}" for why in r.reasons)
    if rec.excluded:
        lines.append("excluded:")
        names = {o.key: o.name for o in OPTIONS}
        lines.extend(f"   - {names[k]}: {why}" for k, why in rec.excluded.items())
    return "\n".join(lines)


#: the orchestration landscape of the seed, mapped to what the course taught
LANDSCAPE: tuple[tuple[str, str, str, str], ...] = (
    ("Docker", "application containers", "namespaces + cgroups + seccomp via containerd/runc (episodes 01-03, 07)",
     "dropped LXC for libcontainer in 0.9 (2014)"),
    ("Kubernetes", "schedules pods of containers over many nodes", "the same kernel primitives, via CRI (containerd, CRI-O) and runc/crun; Kata or gVisor as RuntimeClass",
     "does not use LXC"),
    ("OpenShift", "Red Hat's Kubernetes distribution", "CRI-O + runc/crun, SELinux confinement (episode 07); KubeVirt for VMs",
     "does not use LXC"),
    ("OpenStack", "IaaS cloud: VMs, networks, volumes", "Nova drives KVM/QEMU through libvirt (episode 06)",
     "can also drive LXC through libvirt"),
    ("oVirt", "data-centre virtualisation manager", "KVM/QEMU through libvirt (VDSM), live migration (episode 06)",
     "VMs only"),
    ("Proxmox VE", "virtualisation platform", "KVM/QEMU VMs and LXC system containers side by side (episodes 04, 06)",
     "the one platform of the list that manages LXC"),
)


def show_landscape() -> None:
    """The seed's orchestration platforms, mapped to the primitives this course taught."""
    import textwrap

    for name, what, prims, note in LANDSCAPE:
        print(f"{name} — {what}")
        print(textwrap.fill(f"built on: {prims}", 96, initial_indent="    ", subsequent_indent="      "))
        print(f"    note: {note}")
