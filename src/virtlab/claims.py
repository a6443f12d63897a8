"""The claims ledger: every factual claim of the seed article, with a verdict and its evidence.

The seed article ("KVM vs LXC", in ``shared/seed/``) is the course's source brief. Each claim is
quoted (a verbatim fragment of the seed), given a verdict and backed by evidence of one of three
kinds:

``live``         a cell of the course that shows it on the learner's own machine (episode + what)
``measurement``  a row of the benchmark (``virtlab bench``; episode 08)
``source``       a published source (paper, specification, project documentation), with its URL

Verdicts: ``holds`` (true as written), ``partly`` (true with important conditions the seed
leaves out), ``wrong`` (false or outdated), ``unsupported`` (no evidence could be found, or the
statement is an opinion that cannot be checked).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

VERDICTS = ("holds", "partly", "wrong", "unsupported")
EVIDENCE_KINDS = ("live", "measurement", "source")
TOPICS = ("containers", "kvm", "performance", "security", "use-cases", "orchestration")


@dataclass(frozen=True)
class Evidence:
    kind: str  # one of EVIDENCE_KINDS
    what: str  # one line: what it shows
    where: str  # episode/cell, benchmark metric, or URL


@dataclass(frozen=True)
class Claim:
    id: str
    topic: str
    quote: str  # verbatim fragment of the seed article
    verdict: str
    why: str
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- sources
FELTER = "https://dominoweb.draco.res.ibm.com/reports/rc25482.pdf"
FELTER_DATA = "https://github.com/thewmf/kvm-docker-comparison"
FIRECRACKER_SPEC = "https://github.com/firecracker-microvm/firecracker/blob/main/SPECIFICATION.md"
FIRECRACKER_NSDI = "https://www.usenix.org/conference/nsdi20/presentation/agache"
CRUN = "https://github.com/containers/crun"
QBOOT = "https://lwn.net/Articles/645455/"
CLARK = "https://www.usenix.org/conference/nsdi-05/live-migration-virtual-machines"
LXC_MAN = "https://linuxcontainers.org/lxc/manpages/man5/lxc.container.conf.5.html"
DOCKER09 = "https://www.docker.com/blog/docker-0-9-introducing-execution-drivers-and-libcontainer/"
K8S_CRI = "https://kubernetes.io/docs/concepts/architecture/cri/"
K8S_LARGE = "https://kubernetes.io/docs/setup/best-practices/cluster-large/"
LXD_SERVER = "https://documentation.ubuntu.com/lxd/en/latest/reference/server_settings/"
PROXMOX_PCT = "https://pve.proxmox.com/pve-docs/chapter-pct.html"
BRIDGE_H = "https://github.com/torvalds/linux/blob/master/net/bridge/br_private.h"
KVM_HYPERCALLS = "https://docs.kernel.org/virt/kvm/x86/hypercalls.html"
VENOM = "https://nvd.nist.gov/vuln/detail/CVE-2015-3456"
RUNC_CVE = "https://nvd.nist.gov/vuln/detail/CVE-2019-5736"
CVE_0185 = "https://nvd.nist.gov/vuln/detail/CVE-2022-0185"
CVE_0492 = "https://nvd.nist.gov/vuln/detail/CVE-2022-0492"
DIRTYCOW = "https://nvd.nist.gov/vuln/detail/CVE-2016-5195"
DOCKER_SECCOMP = "https://docs.docker.com/engine/security/seccomp/"
CRIU_LXD = "https://documentation.ubuntu.com/lxd/stable-4.0/containers"
KVM_MERGE = "https://kernelnewbies.org/Linux_2_6_20"
KSM_DOC = "https://docs.kernel.org/admin-guide/mm/ksm.html"
KATA = "https://katacontainers.io/learn/"
GVISOR = "https://gvisor.dev/docs/"
OPENSTACK_HV = "https://docs.openstack.org/nova/latest/admin/configuration/hypervisors.html"


def _e(kind: str, what: str, where: str) -> Evidence:
    return Evidence(kind, what, where)


# --------------------------------------------------------------------------- the ledger
CLAIMS: tuple[Claim, ...] = (
    # ---- what containers are
    Claim("lxc-shared-kernel", "containers",
          "LXC containers share the host kernel while maintaining separate user spaces, processes, and network stacks",
          "holds",
          "A container is a group of ordinary host processes placed in their own namespaces "
          "(pid, net, mnt, uts, ipc, user, cgroup, time); `uname -r` inside shows the host's kernel.",
          (_e("live", "unshare each namespace type; same kernel release inside and outside", "episode 01"),
           _e("live", "a container from scratch in ~100 lines of namespaces + cgroups", "episode 03"))),
    Claim("lxc-completely-isolated", "containers",
          "function as completely isolated environments",
          "partly",
          "Isolation is per namespace type and only for what is namespaced: the kernel, its "
          "keyrings, many /proc and /sys files, the clock (without a time namespace), kernel modules "
          "and kernel bugs are shared. 'Completely' overstates it.",
          (_e("live", "what a container still sees of the host (/proc, /sys, kernel release)", "episode 07"),
           _e("source", "CVE-2022-0492: cgroup v1 release_agent escape from a container", CVE_0492))),
    Claim("lxc-own-fs-tcpip", "containers",
          "Each container maintains its own file system, process tree, and TCP/IP stack, similar to Solaris Zones or FreeBSD Jails",
          "holds",
          "Mount, pid and network namespaces give exactly these three; Zones and Jails are the "
          "Solaris/FreeBSD counterparts (also one shared kernel).",
          (_e("live", "own root filesystem, PID 1 and loopback-only network in a mini container", "episode 03"),)),
    Claim("lxc-resource-efficiency", "containers",
          "Containers consume minimal system resources compared to full virtual machines",
          "holds",
          "Measured here: an idle busybox container's host-side memory (its cgroup) is under a MiB, a VM's is "
          "the QEMU process with guest RAM, a guest kernel and device models (~160-240 MiB for a 128 MiB guest).",
          (_e("measurement", "memory overhead: cgroup usage vs QEMU RSS", "virtlab bench: memory_mib"),)),
    Claim("lxc-density-6000", "containers",
          "up to 6,000 containers with 12,000 root filesystem directory mounts",
          "unsupported",
          "No source for these numbers could be found. The per-namespace mount limit "
          "(fs.mount-max) is 100,000; what bites first on a real host is RAM, the 1,024 ports of a "
          "Linux bridge, inotify instances and kernel keys (LXD's production guide raises exactly "
          "these), not mounts. Kubernetes supports 110 pods per node by default.",
          (_e("live", "this machine's kernel limits and the density calculator", "episode 09"),
           _e("source", "LXD server settings for a production setup (inotify, keys, ARP table)", LXD_SERVER),
           _e("source", "BR_MAX_PORTS = 1024 in the Linux bridge", BRIDGE_H),
           _e("source", "Kubernetes: no more than 110 pods per node", K8S_LARGE))),
    Claim("lxc-rapid-deployment", "containers",
          "Container creation and destruction happens in seconds",
          "holds",
          "Understated: a namespace+cgroup container starts in milliseconds, an LXD busybox "
          "container in a fraction of a second; crun starts a /bin/true container in ~17 ms.",
          (_e("measurement", "start latency of ns+cgroup and LXD targets", "virtlab bench: start_s"),
           _e("source", "crun README: ~17 ms vs runc ~33 ms per container", CRUN))),
    Claim("lxc-shared-kernel-updates", "containers",
          "System-wide changes propagate automatically to all containers",
          "partly",
          "Only the kernel is shared: a kernel update needs a host reboot (or live patching) and "
          "restarts every container at once; the user space inside each container (libraries, "
          "packages, its own /etc) is not updated by anything on the host. Shared fate, not a feature.",
          (_e("live", "container root filesystems are separate trees; the kernel is the host's", "episode 03"),
           _e("live", "an LXD container keeps its own packages and /etc", "episode 04"))),
    Claim("lxc-near-native", "containers",
          "No virtualization overhead results in superior performance metrics",
          "partly",
          "CPU and memory: no overhead (Felter et al.: Linpack 290.9 vs 290.8 GFLOPS native). But "
          "container networking through a bridge and NAT is not free (Docker NAT ~2x netperf RR "
          "latency), and layered/overlay storage adds I/O cost.",
          (_e("measurement", "CPU workload time: host vs ns+cgroup vs LXD", "virtlab bench: cpu_s"),
           _e("source", "Felter et al. 2014, IBM RC25482", FELTER))),
    Claim("lxc-app-isolation-focus", "containers",
          "The current LXC implementation focuses primarily on application isolation, with full OS containerization capabilities under active development",
          "wrong",
          "Backwards: LXC's main focus has always been system containers (a full distribution with "
          "its own init), and LXD/Incus build on that. Application containers are Docker/OCI's "
          "focus (runc, crun), which left LXC in 2014.",
          (_e("source", "lxc.container.conf(5): 'LXC's main focus is system containers'", LXC_MAN),
           _e("live", "an LXD system container with its own init as PID 1", "episode 04"))),
    Claim("lxc-microservices", "use-cases",
          "This approach makes containers exceptionally suitable for microservices architectures and scalable web applications",
          "partly",
          "True of application containers (one service per container, fast start, small images); "
          "system containers such as LXC/LXD are closer to lightweight VMs and are rarely the unit "
          "of a microservice platform.",
          (_e("source", "Kubernetes Container Runtime Interface (containerd, CRI-O; runc/crun)", K8S_CRI),)),
    # ---- KVM
    Claim("kvm-in-kernel", "kvm",
          "KVM (Kernel-based Virtual Machine) provides hardware-assisted virtualization built directly into the Linux kernel",
          "holds",
          "KVM is a kernel module (merged in Linux 2.6.20, 2007) that needs VT-x/AMD-V. Without "
          "them (this course's CI machine: kvm-pvm, no vmx/svm flags) QEMU falls back to TCG, pure "
          "software emulation, which is not KVM.",
          (_e("live", "open /dev/kvm and run a tiny real-mode guest on the raw KVM API", "episode 05"),
           _e("source", "Linux 2.6.20 release notes (KVM merged)", KVM_MERGE))),
    Claim("kvm-hypervisor-x86", "kvm",
          "KVM transforms the Linux kernel into a hypervisor, enabling full virtualization of x86 hardware platforms",
          "partly",
          "KVM runs guest CPUs and memory; the virtual hardware (disks, NICs, firmware) is emulated "
          "by a user-space VMM such as QEMU or Firecracker. KVM is not x86-only (arm64, s390, "
          "POWER, RISC-V, LoongArch).",
          (_e("live", "the raw KVM API: the VMM (our Python) handles the guest's I/O port exit", "episode 05"),)),
    Claim("kvm-own-kernel-complete-isolation", "kvm",
          "Each virtual machine operates with its own kernel instance, providing complete isolation from the host system and other virtual machines",
          "partly",
          "Own kernel: yes. 'Complete': no — the VMM and the host kernel are shared attack "
          "surface (VENOM CVE-2015-3456 escaped through QEMU's floppy emulation) and CPU side "
          "channels cross VM boundaries. The boundary is much narrower than a container's "
          "(9 documented KVM hypercalls, 7 of them on x86, vs ~360 x86-64 syscalls), which is the real argument.",
          (_e("source", "VENOM, CVE-2015-3456", VENOM),
           _e("source", "KVM hypercalls documentation", KVM_HYPERCALLS),
           _e("live", "a guest kernel panic does not touch the host", "episode 06"))),
    Claim("kvm-multi-os", "kvm",
          "Run Linux, Windows, BSD, and other operating systems simultaneously",
          "holds",
          "A VM boots any kernel built for the virtual hardware; a container can only run "
          "programs for the host's kernel (Linux on Linux).",
          (_e("live", "a VM boots its own (different) Linux kernel", "episode 06"),
           _e("source", "Proxmox: only Linux distributions can run in containers", PROXMOX_PCT))),
    Claim("kvm-dedicated-resources", "kvm",
          "Each VM receives dedicated virtual CPU, memory, and I/O resources",
          "partly",
          "Virtual, yes; dedicated, only if configured: vCPUs are host threads scheduled like any "
          "other, guest RAM is ordinary host memory that is overcommitted, shared by KSM or "
          "ballooned. Dedication needs pinning, hugepages and reservations — and containers get "
          "the same limits from cgroups.",
          (_e("live", "QEMU's vCPU threads and RSS as host processes", "episode 06"),
           _e("live", "cgroup limits on a container", "episode 02"),
           _e("source", "KSM: merging identical pages across VMs", KSM_DOC))),
    Claim("kvm-live-migration-no-downtime", "kvm",
          "Move running virtual machines between hosts without downtime",
          "partly",
          "Pre-copy live migration has a short stop-and-copy pause (60 ms for Quake 3, 210 ms for "
          "SPECweb in Clark et al.) and needs shared or migrated storage and compatible CPUs. "
          "'Without noticeable downtime' is fair; 'without downtime' is not.",
          (_e("live", "the pre-copy migration model: downtime vs dirty rate and bandwidth", "episode 06"),
           _e("source", "Clark et al., Live Migration of Virtual Machines, NSDI'05", CLARK))),
    Claim("kvm-complete-kernel-separation", "security",
          "Complete kernel separation prevents cross-contamination",
          "partly",
          "Separate guest kernels stop a guest kernel exploit from becoming a host exploit by "
          "itself, but hypervisor/VMM bugs (VENOM) and hardware side channels still cross; "
          "'prevents' should be 'greatly reduces'.",
          (_e("source", "VENOM, CVE-2015-3456", VENOM),)),
    Claim("kvm-snapshots", "kvm",
          "Create point-in-time VM backups and restore points",
          "holds",
          "libvirt snapshots and save/restore do this — and so do LXD container snapshots, so it "
          "is not a VM-only feature.",
          (_e("live", "libvirt snapshot, save and restore", "episode 06"),
           _e("live", "LXD container snapshot and restore", "episode 04"))),
    Claim("kvm-more-resources", "kvm",
          "KVM virtual machines require significantly more resources than containers but provide superior isolation and compatibility with diverse operating systems",
          "holds",
          "Measured memory and start-up costs confirm the first half for full VMs; microVMs "
          "(Firecracker: <= 5 MiB VMM overhead, <= 125 ms to init) show how much of it is QEMU "
          "generality and a full distro rather than virtualisation itself.",
          (_e("measurement", "memory and start latency: LXD vs libvirt VM", "virtlab bench"),
           _e("source", "Firecracker SPECIFICATION.md", FIRECRACKER_SPEC))),
    Claim("kvm-enterprise-mixed-os", "use-cases",
          "This makes KVM ideal for enterprise environments requiring mixed OS deployments",
          "holds",
          "Mixed OS needs separate kernels, which only a VM (or Kata/Firecracker for Linux guests) "
          "provides.",
          (_e("live", "the decision widget excludes containers for a Windows/BSD workload", "episode 09"),)),
    # ---- the performance table
    Claim("table-startup-lxc", "performance",
          "Startup Time | 1-5 seconds",
          "partly",
          "1-5 s is a full distribution's init inside a system container. The container mechanism "
          "itself takes milliseconds (ns+cgroup) to a fraction of a second (LXD).",
          (_e("measurement", "start latency of ns+cgroup and LXD", "virtlab bench: start_s"),
           _e("source", "crun: ~17 ms per /bin/true container", CRUN))),
    Claim("table-startup-kvm", "performance",
          "30-60 seconds",
          "wrong",
          "30-60 s is firmware (BIOS/UEFI probing) + a full distribution + cloud-init, not KVM. "
          "Firecracker reaches guest init in <= 125 ms, QEMU with qboot 40 ms, a stock cloud "
          "image runs its first command in 7-9 s; here even a TCG (no KVM!) direct kernel boot "
          "takes seconds.",
          (_e("measurement", "VM start latency with direct kernel boot", "virtlab bench: start_s"),
           _e("source", "Firecracker SPECIFICATION.md: <= 125 ms to /sbin/init", FIRECRACKER_SPEC),
           _e("source", "Bonzini, qboot: 40 ms", QBOOT))),
    Claim("table-memory", "performance",
          "Memory Overhead | Minimal (shared kernel) | High (separate OS instances)",
          "holds",
          "Measured: an idle container's overhead is its cgroup's share, under a MiB here; a VM costs the guest RAM it "
          "touches plus QEMU (device models, TCG translation cache). KSM and ballooning reduce the "
          "VM side on dense hosts.",
          (_e("measurement", "memory overhead per target", "virtlab bench: memory_mib"),)),
    Claim("table-cpu-lxc", "performance",
          "Near-native (99%+)",
          "holds",
          "Containers run native code on the host scheduler: Linpack 290.9 vs 290.8 GFLOPS "
          "(Felter et al.); measured here within noise.",
          (_e("measurement", "CPU workload time, host vs container", "virtlab bench: cpu_s"),
           _e("source", "Felter et al. 2014", FELTER))),
    Claim("table-cpu-kvm", "performance",
          "5-10% virtualization overhead",
          "wrong",
          "With hardware virtualisation and a topology-matched guest, KVM lost 2.3% on Linpack "
          "(290.8 -> 284.2 GFLOPS); an untuned guest lost ~55%; I/O-heavy work loses more "
          "(random-read IOPS halved). Without VT-x (TCG, as on this CI machine) it is many times "
          "slower. No single percentage is right.",
          (_e("measurement", "CPU workload time in a TCG VM", "virtlab bench: cpu_s"),
           _e("source", "Felter et al. 2014 (raw data)", FELTER_DATA))),
    Claim("table-storage", "performance",
          "Storage Efficiency | Shared libraries and binaries | Duplicate OS files per VM",
          "partly",
          "Containers share image layers only with a copy-on-write storage driver (overlayfs, "
          "btrfs, ZFS); LXD's dir pool copies the whole rootfs per instance. VMs can share a "
          "base image through qcow2 backing files or linked clones.",
          (_e("measurement", "storage footprint per target", "virtlab bench: storage_mib"),)),
    Claim("table-network", "performance",
          "Network Performance | Native kernel networking | Virtual network layer overhead",
          "partly",
          "A container in its own network namespace also talks through a virtual layer (veth + "
          "bridge, often NAT): Docker's NAT doubled netperf latency, KVM/virtio added ~30 us per "
          "transaction (Felter et al.). Only host-network containers are 'native'.",
          (_e("measurement", "loopback vs veth between namespaces and into an LXD container", "virtlab bench: net_*"),
           _e("source", "Felter et al. 2014, netperf RR", FELTER))),
    Claim("table-benchmarks-consistently", "performance",
          "Performance benchmarks consistently show LXC containers delivering superior resource utilization and response times for Linux-based workloads",
          "unsupported",
          "No benchmark is cited. Published ones are mixed: equal CPU, containers better for I/O "
          "but worse than KVM with NAT networking in some tests.",
          (_e("source", "Felter et al. 2014", FELTER),)),
    # ---- security
    Claim("sec-shared-kernel-attack", "security",
          "LXC containers share the host kernel, creating potential attack vectors if kernel vulnerabilities exist",
          "holds",
          "Every kernel bug reachable by syscalls from inside is a host bug: Dirty COW "
          "(CVE-2016-5195), CVE-2022-0185 (needs an unprivileged user namespace), CVE-2022-0492.",
          (_e("source", "CVE-2022-0185", CVE_0185), _e("source", "Dirty COW CVE-2016-5195", DIRTYCOW))),
    Claim("sec-compromised-container-host", "security",
          "A compromised container could potentially affect the entire host system",
          "holds",
          "runc CVE-2019-5736 let a container overwrite the host's runc binary; privileged "
          "containers (uid 0 = host uid 0) make any escape a root compromise.",
          (_e("source", "runc CVE-2019-5736", RUNC_CVE),
           _e("live", "uid map of a privileged vs an unprivileged container", "episode 07"))),
    Claim("sec-vm-panic-contained", "security",
          "If one virtual machine experiences security breaches or kernel panics, other VMs and the host system remain unaffected",
          "partly",
          "Kernel panics: yes (shown live: libvirt reports the guest crashed, the host runs on). "
          "Security breaches: usually, but VMM escapes exist (VENOM).",
          (_e("live", "a guest kernel panic with a pvpanic device", "episode 06"),
           _e("source", "VENOM, CVE-2015-3456", VENOM))),
    Claim("sec-cost-complexity", "security",
          "This isolation comes at the cost of increased resource consumption and management complexity",
          "holds",
          "Each VM is a full OS to patch and monitor, plus its measured memory and start-up cost.",
          (_e("measurement", "memory and start latency per target", "virtlab bench"),)),
    Claim("sec-hardening-no-cost", "security",
          "These technologies strengthen container boundaries without sacrificing performance benefits",
          "partly",
          "SELinux/AppArmor and user namespaces do harden containers cheaply, but the list omits "
          "seccomp (Docker's default profile blocks ~44 syscalls) and capabilities; and "
          "unprivileged user namespaces also widen the kernel attack surface (CVE-2022-0185).",
          (_e("source", "Docker default seccomp profile", DOCKER_SECCOMP),
           _e("source", "CVE-2022-0185", CVE_0185),
           _e("live", "user-namespace uid mapping and a seccomp filter", "episode 07"))),
    # ---- use cases
    Claim("use-containers-when", "use-cases",
          "Running multiple Linux applications requiring rapid scaling",
          "holds",
          "Same-kernel Linux workloads, fast start and high density are where containers win "
          "(see the measurements and the density calculator).",
          (_e("live", "decision widget and density calculator", "episode 09"),)),
    Claim("use-vms-when", "use-cases",
          "Production systems requiring live migration capabilities",
          "partly",
          "VM live migration is mature; container live migration exists (CRIU; LXD can live-"
          "migrate containers with limitations) but is rarely used — orchestrators restart "
          "containers elsewhere instead.",
          (_e("source", "LXD: migrating instances (CRIU for live containers)", CRIU_LXD),)),
    Claim("use-compliance", "use-cases",
          "Compliance requirements mandating strict resource separation",
          "partly",
          "Resource separation is what cgroups do too; what compliance regimes usually ask for is "
          "a separate kernel/trust boundary, which VMs (or Kata/Firecracker microVMs) provide.",
          (_e("live", "the decision widget's middle ground (Kata, Firecracker, gVisor)", "episode 09"),
           _e("source", "Kata Containers: containers in lightweight VMs", KATA))),
    Claim("use-combine", "use-cases",
          "Modern infrastructure often combines both technologies",
          "holds",
          "Kubernetes nodes are usually VMs; Kata and Firecracker put each container or function "
          "in its own microVM; Proxmox and LXD manage containers and VMs side by side.",
          (_e("source", "Firecracker (AWS Lambda, Fargate), NSDI'20", FIRECRACKER_NSDI),
           _e("source", "Proxmox VE: KVM VMs and LXC containers", PROXMOX_PCT))),
    Claim("use-vps-test", "use-cases",
          "consider starting with a VPS hosting solution to test both technologies",
          "partly",
          "A VPS is itself a VM and rarely exposes VT-x: this course's CI machine is one (/dev/kvm "
          "via kvm-pvm, no vmx/svm), so Linux guests run under TCG and KVM performance cannot be "
          "tested there. Check for nested virtualisation first.",
          (_e("live", "probe: /dev/kvm usable but no vmx/svm -> TCG", "episode 00 / 05"),)),
    # ---- orchestration
    Claim("orch-revolutionised-lxc", "orchestration",
          "Container orchestration platforms like Docker, Kubernetes, and OpenShift have revolutionized LXC deployment and management",
          "wrong",
          "Docker replaced LXC by its own libcontainer as the default in version 0.9 (2014); "
          "Kubernetes and OpenShift run OCI containers through CRI runtimes (containerd, CRI-O "
          "with runc/crun), not LXC. They revolutionised application containers, not LXC.",
          (_e("source", "Docker 0.9: libcontainer becomes the default, LXC optional", DOCKER09),
           _e("source", "Kubernetes Container Runtime Interface", K8S_CRI))),
    Claim("orch-kvm-platforms", "orchestration",
          "KVM virtual machines integrate with orchestration platforms like OpenStack, oVirt, and Proxmox",
          "holds",
          "All three drive KVM through QEMU (OpenStack Nova and oVirt through libvirt). Proxmox "
          "also manages LXC containers, and OpenStack can run LXC through libvirt.",
          (_e("source", "OpenStack Nova hypervisors (KVM via libvirt)", OPENSTACK_HV),
           _e("source", "Proxmox Container Toolkit (LXC)", PROXMOX_PCT))),
    Claim("orch-choice-depends", "orchestration",
          "The choice between containerization and traditional virtualization increasingly depends on existing infrastructure, team expertise, and specific application requirements rather than pure technical capabilities",
          "unsupported",
          "An opinion with no evidence given; the technical differences (kernel boundary, OS "
          "mix, start-up, density) remain decisive for many workloads — see the decision widget.",
          (_e("live", "decision widget: requirements -> recommendation with reasons", "episode 09"),)),
)


# --------------------------------------------------------------------------- access
def claims(topic: str | None = None, verdict: str | None = None) -> list[Claim]:
    """The ledger, optionally filtered by topic and/or verdict (both validated)."""
    if topic is not None and topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}; choose one of: {', '.join(TOPICS)}")
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; choose one of: {', '.join(VERDICTS)}")
    return [c for c in CLAIMS if (topic is None or c.topic == topic)
            and (verdict is None or c.verdict == verdict)]


def get(claim_id: str) -> Claim:
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise LookupError(f"no claim {claim_id!r} in the ledger; list them with virtlab.claims.ids()")


def ids() -> list[str]:
    return [c.id for c in CLAIMS]


def counts() -> dict[str, int]:
    """How many claims have each verdict (every verdict listed, in VERDICTS order)."""
    return {v: sum(1 for c in CLAIMS if c.verdict == v) for v in VERDICTS}


def table(topic: str | None = None):  # noqa: ANN201 - pandas is imported lazily
    """The ledger as a pandas DataFrame (id, topic, claim, verdict, evidence kinds, sources)."""
    import pandas as pd

    rows = [{"id": c.id, "topic": c.topic, "claim": c.quote, "verdict": c.verdict,
             "evidence": ", ".join(sorted({e.kind for e in c.evidence})),
             "sources": len([e for e in c.evidence if e.kind == "source"])}
            for c in claims(topic)]
    return pd.DataFrame(rows)


_MARK = {"holds": "✔ holds", "partly": "◐ partly", "wrong": "✘ wrong", "unsupported": "? unsupported"}


def show(topic: str | None = None, *, width: int = 96) -> None:
    """Print the ledger (or one topic) as readable text: quote, verdict, why, evidence."""
    for c in claims(topic):
        show_one(c.id, width=width)
        print()


def show_one(claim_id: str, *, width: int = 96) -> None:
    """Print one claim of the ledger (quote, verdict, why, evidence)."""
    c = get(claim_id)
    print(f"[{c.id}] {_MARK[c.verdict]}")
    print(textwrap.fill(f"seed: “{c.quote}”", width, subsequent_indent="      "))
    print(textwrap.fill(f"why:  {c.why}", width, subsequent_indent="      "))
    for e in c.evidence:
        print(textwrap.fill(f"  - {e.kind}: {e.what} ({e.where})", width, subsequent_indent="      "))


def summary() -> None:
    """One line per verdict with its count, then the total."""
    cs = counts()
    for v, n in cs.items():
        print(f"{_MARK[v]:<14} {n:>3}")
    print(f"{'total':<14} {sum(cs.values()):>3}")
