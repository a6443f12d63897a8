"""How many containers vs VMs fit on one host: a small, pure, tested model.

:func:`fit` takes the host (RAM, CPUs), one workload (its own RAM and CPU share) and the
per-instance overheads (measured by ``virtlab bench`` or typed by the learner) and answers how
many instances fit by RAM, by CPU and by each kernel limit — and which one bites first.

Kernel limits (:func:`kernel_limits` reads this machine's values live):

=============================  ================================================================
``kernel.pid_max``             every process/thread of every container is a host PID; a VM is
                               one QEMU process with a few threads
``bridge ports``               ``BR_MAX_PORTS`` = 1024 per Linux bridge: one veth (container) or
                               tap (VM) per instance
``fs.inotify.max_user_instances``  per *host* user: unprivileged LXD containers share one uid
                               range by default, so all their systemd/udev inotify users add up
``kernel.keys.maxkeys``        kernel keys per non-root user: one session keyring per container
                               (LXD's production guide: "one per container")
=============================  ================================================================

KSM (kernel samepage merging) lets identical guest pages be stored once: ``ksm_saving`` is the
fraction of each VM's guest OS memory that is merged away.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: BR_MAX_PORTS in net/bridge/br_private.h (not a sysctl: a compile-time constant)
BRIDGE_MAX_PORTS = 1024

#: (name, file under /proc/sys) of the limits the model uses
SYSCTLS = {
    "kernel.pid_max": "kernel/pid_max",
    "fs.inotify.max_user_instances": "fs/inotify/max_user_instances",
    "kernel.keys.maxkeys": "kernel/keys/maxkeys",
}


@dataclass(frozen=True)
class Usage:
    """What one instance consumes of each kernel limit (model assumptions, change them)."""

    pids: int  # processes + threads on the host
    bridge_ports: int
    inotify_instances: int
    keys: int


#: A typical systemd-based system container (init, journald, udevd, a service, ...) and a VM
#: (one QEMU process with its vCPU/IO threads, one tap device). Assumptions, not measurements.
CONTAINER_USAGE = Usage(pids=30, bridge_ports=1, inotify_instances=5, keys=1)
VM_USAGE = Usage(pids=8, bridge_ports=1, inotify_instances=0, keys=0)


@dataclass(frozen=True)
class Host:
    ram_mib: float
    cpus: int
    reserve_mib: float = 1024  # kept for the host OS and daemons
    cpu_overcommit: float = 4.0  # vCPU (or CPU share) per physical CPU


@dataclass(frozen=True)
class Workload:
    ram_mib: float  # the application's own memory, the same in both kinds
    cpu: float = 0.25  # CPUs it needs on average


@dataclass(frozen=True)
class Overheads:
    container_mib: float  # host-side memory per container beyond the workload
    vm_mib: float  # VMM (QEMU) memory per VM beyond guest RAM
    guest_os_mib: float  # guest kernel + init + page cache inside each VM
    ksm_saving: float = 0.0  # fraction of guest_os_mib merged away by KSM (0..0.9)


@dataclass
class Fit:
    kind: str
    per_instance_mib: float
    by_ram: int
    by_cpu: int
    by_limit: dict[str, int] = field(default_factory=dict)
    count: int = 0
    bottleneck: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _positive(value: float, what: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{what} must be a number, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else '> 0'}, not {value!r}")
    return float(value)


def _validate(host: Host, wl: Workload, ov: Overheads) -> None:
    _positive(host.ram_mib, "host RAM (MiB)")
    if isinstance(host.cpus, bool) or not isinstance(host.cpus, int) or host.cpus < 1:
        raise ValueError(f"host CPUs must be a whole number >= 1, not {host.cpus!r}")
    _positive(host.reserve_mib, "host reserve (MiB)", allow_zero=True)
    _positive(host.cpu_overcommit, "CPU overcommit ratio")
    _positive(wl.ram_mib, "workload RAM (MiB)")
    _positive(wl.cpu, "workload CPU")
    _positive(ov.container_mib, "container overhead (MiB)", allow_zero=True)
    _positive(ov.vm_mib, "VM overhead (MiB)", allow_zero=True)
    _positive(ov.guest_os_mib, "guest OS memory (MiB)", allow_zero=True)
    if not 0 <= _positive(ov.ksm_saving, "KSM saving", allow_zero=True) <= 0.9:
        raise ValueError(f"KSM saving is a fraction between 0 and 0.9, not {ov.ksm_saving!r}")


def _fit(kind: str, per_mib: float, host: Host, wl: Workload, usage: Usage,
         limits: dict[str, int]) -> Fit:
    free = max(0.0, host.ram_mib - host.reserve_mib)
    by_ram = int(free // per_mib)
    by_cpu = int(math.floor(host.cpus * host.cpu_overcommit / wl.cpu + 1e-9))
    need = {"kernel.pid_max": usage.pids, "bridge ports": usage.bridge_ports,
            "fs.inotify.max_user_instances": usage.inotify_instances,
            "kernel.keys.maxkeys": usage.keys}
    by_limit = {name: int(limits[name] // n) for name, n in need.items() if n > 0 and name in limits}
    candidates = {"RAM": by_ram, "CPU": by_cpu, **by_limit}
    bottleneck = min(candidates, key=lambda k: (candidates[k], k))
    return Fit(kind, round(per_mib, 1), by_ram, by_cpu, by_limit, candidates[bottleneck], bottleneck)


def fit(host: Host, workload: Workload, overheads: Overheads,
        limits: dict[str, int] | None = None, *,
        container_usage: Usage = CONTAINER_USAGE, vm_usage: Usage = VM_USAGE) -> dict[str, Fit]:
    """How many containers and how many VMs of ``workload`` fit on ``host``.

    Returns ``{"containers": Fit, "vms": Fit}``; each ``Fit`` says the count, what limits it
    (RAM, CPU or a kernel limit) and the count allowed by each. ``limits`` defaults to
    :data:`DEFAULT_LIMITS` (use :func:`kernel_limits` for this machine's values).
    """
    _validate(host, workload, overheads)
    lim = dict(DEFAULT_LIMITS if limits is None else limits)
    for k, v in lim.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"kernel limit {k} must be a whole number >= 1, not {v!r}")
    c_mib = workload.ram_mib + overheads.container_mib
    v_mib = (workload.ram_mib + overheads.vm_mib
             + overheads.guest_os_mib * (1.0 - overheads.ksm_saving))
    return {"containers": _fit("containers", c_mib, host, workload, container_usage, lim),
            "vms": _fit("vms", v_mib, host, workload, vm_usage, lim)}


#: Upstream defaults (a plain kernel without distribution sysctl tuning).
DEFAULT_LIMITS: dict[str, int] = {
    "kernel.pid_max": 32768,
    "bridge ports": BRIDGE_MAX_PORTS,
    "fs.inotify.max_user_instances": 128,
    "kernel.keys.maxkeys": 200,
}


def kernel_limits(proc_sys: Path = Path("/proc/sys")) -> dict[str, int]:
    """This machine's values of the limits in the model (read live from /proc/sys)."""
    out: dict[str, int] = {}
    for name, rel in SYSCTLS.items():
        try:
            out[name] = int((proc_sys / rel).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            out[name] = DEFAULT_LIMITS[name]
    out["bridge ports"] = BRIDGE_MAX_PORTS
    return out


def ksm_status(sysfs: Path = Path("/sys/kernel/mm/ksm")) -> dict[str, int | str]:
    """Is KSM running here, and how many pages does it currently share? (read live)"""
    if not sysfs.is_dir():
        return {"available": "no"}
    out: dict[str, int | str] = {"available": "yes"}
    for key in ("run", "pages_shared", "pages_sharing", "pages_to_scan", "sleep_millisecs"):
        try:
            out[key] = int((sysfs / key).read_text().strip())
        except (OSError, ValueError):
            pass
    return out


def explain(result: dict[str, Fit], workload: Workload) -> str:
    """A short, deterministic text answer for a :func:`fit` result."""
    c, v = result["containers"], result["vms"]
    lines = [f"workload: {workload.ram_mib:g} MiB RAM, {workload.cpu:g} CPU each"]
    for f in (c, v):
        lim = ", ".join(f"{k} {n}" for k, n in sorted(f.by_limit.items()))
        lines.append(f"{f.kind:<10}: {f.count:>6} fit — limited by {f.bottleneck} "
                     f"({f.per_instance_mib:g} MiB each; RAM {f.by_ram}, CPU {f.by_cpu}; {lim})")
    ratio = c.count / v.count if v.count else float("inf")
    lines.append(f"containers per VM: {ratio:.1f}x" if v.count else "no VM fits")
    return "\n".join(lines)


def full_os_container_mib() -> float:
    """Memory of episode 04's full-OS LXD container (Debian + systemd), from its recording.

    This is the recorded run of ``lxd.fullos`` (the machine it was recorded on), not this machine.
    """
    from virtlab import modes

    return round(modes.load_recording("lxd.fullos")["data"]["memory_bytes"] / 2**20, 1)


def overheads_from_bench(medians: dict[tuple[str, str], float], *, guest_os_mib: float = 150.0,
                         ksm_saving: float = 0.0, container_os_mib: float = 0.0) -> Overheads:
    """Per-instance overheads from a benchmark run's medians (``virtlab.bench.medians``).

    ``container_mib`` = the LXD container's cgroup memory; ``vm_mib`` = the VM's QEMU memory
    (which already holds the course VM's tiny busybox guest). ``guest_os_mib`` is what a full
    distribution adds inside each guest (services, page cache) — an assumption, not measured here.
    ``container_os_mib``: the memory of a container running a full distribution (systemd), when
    the model should assume system containers (see :func:`full_os_container_mib`); the larger of
    it and the benchmark's busybox container is used. Neither counts the host-side
    ``[lxc monitor]`` process or kernel objects outside the container's cgroup.
    """
    try:
        c = medians[("lxd", "memory_mib")]
        v = medians[("vm", "memory_mib")]
    except KeyError as err:
        raise LookupError(f"this run has no {err.args[0]} median; run the lxd and vm targets") from None
    return Overheads(container_mib=round(max(c, container_os_mib), 1), vm_mib=round(v, 1), guest_os_mib=guest_os_mib,
                     ksm_saving=ksm_saving)


def show_limits(limits: dict[str, int] | None = None,
                usage: tuple[Usage, Usage] = (CONTAINER_USAGE, VM_USAGE)) -> None:
    """Each kernel limit, its value (read live from /proc/sys unless ``limits`` is given) and how
    many containers / VMs it leaves room for under the per-instance ``usage`` assumptions."""
    lim = limits if limits is not None else kernel_limits()
    c, v = usage
    need = {"kernel.pid_max": (c.pids, v.pids), "bridge ports": (c.bridge_ports, v.bridge_ports),
            "fs.inotify.max_user_instances": (c.inotify_instances, v.inotify_instances),
            "kernel.keys.maxkeys": (c.keys, v.keys)}
    for name, (nc, nv) in need.items():
        val = lim[name]
        tag = "constant" if name == "bridge ports" else "read live" if limits is None else "given"
        fc = f"{val // nc} containers" if nc else "no limit for containers"
        fv = f"{val // nv} VMs" if nv else "not used by VMs"
        print(f"{name:<30} ({tag}): {val} → room for {fc}, {fv}")


def show_ksm(sysfs: Path = Path("/sys/kernel/mm/ksm")) -> None:
    """Whether KSM runs on this machine and what it shares now (read live)."""
    st = ksm_status(sysfs)
    if st.get("available") != "yes":
        print("KSM (read live): not available in this kernel")
        return
    state = {0: "stopped", 1: "running", 2: "unmerging"}.get(int(st.get("run", 0)), "?")
    print(f"KSM (read live): {state}, pages_shared={st.get('pages_shared')}, "
          f"pages_sharing={st.get('pages_sharing')}")
