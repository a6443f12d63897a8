"""Escape case studies (CVEs) and the figures episode 08 draws on: data and their printed views."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CaseStudy:
    cve: str
    name: str
    year: int
    layer: str  # "host kernel", "container runtime", "hypervisor (QEMU)", "CPU"
    reaches: str  # who is exposed
    needed: str  # what the attacker needed
    blocked_by: str  # what stopped it (besides the patch)
    sources: tuple[str, ...]


def _nvd(cve: str) -> str:
    return f"https://nvd.nist.gov/vuln/detail/{cve}"


CASE_STUDIES: tuple[CaseStudy, ...] = (
    CaseStudy(
        "CVE-2016-5195", "Dirty COW", 2016, "host kernel (memory manager)",
        "every container on the host: they all share this kernel",
        "any unprivileged local process: a race between madvise(MADV_DONTNEED) and writes through "
        "/proc/self/mem to a read-only mapping",
        "nothing a container could switch on (the syscalls it used are ordinary ones); only the "
        "kernel patch. A VM confines it to the guest's own kernel.",
        (_nvd("CVE-2016-5195"), "https://dirtycow.ninja/",
         "https://access.redhat.com/security/vulnerabilities/DirtyCow")),
    CaseStudy(
        "CVE-2022-0185", "fsconfig heap overflow", 2022, "host kernel (filesystem context)",
        "containers that may create user namespaces (unshare) on an unpatched host kernel",
        "CAP_SYS_ADMIN in *some* user namespace — which any process gets by creating one — then an "
        "integer underflow in legacy_parse_param() via fsconfig()",
        "seccomp profiles that block unshare/clone of user namespaces (Docker's default does), "
        "or disabling unprivileged user namespaces",
        (_nvd("CVE-2022-0185"), "https://ubuntu.com/security/CVE-2022-0185")),
    CaseStudy(
        "CVE-2022-0492", "cgroup v1 release_agent", 2022, "host kernel (cgroup v1)",
        "containers that can mount a cgroup v1 hierarchy (root in the container, or a new user + "
        "cgroup namespace) but lack CAP_SYS_ADMIN in the host's (initial) user namespace",
        "write a program path into release_agent: the host kernel runs it as host root when the "
        "cgroup empties. The CVE is the missing check that the writer holds CAP_SYS_ADMIN in the "
        "initial user namespace; a privileged container holds it and needs no CVE for this escape",
        "AppArmor or SELinux, seccomp blocking unshare, not running as root in the container; "
        "cgroup v2 has no release_agent",
        (_nvd("CVE-2022-0492"), "https://unit42.paloaltonetworks.com/cve-2022-0492-cgroups/")),
    CaseStudy(
        "CVE-2019-5736", "runc /proc/self/exe overwrite", 2019, "container runtime (runc, also LXC)",
        "hosts whose containers run as real root (no user namespace)",
        "root inside the container plus the host running runc into it again (an `exec`, or starting "
        "a malicious image): the container rewrites the host's runc binary through /proc/self/exe",
        "user namespaces (container root is an unprivileged host uid and cannot write the binary); "
        "SELinux in enforcing mode; the fix runs runc from a sealed memfd copy",
        (_nvd("CVE-2019-5736"), "https://www.openwall.com/lists/oss-security/2019/02/11/2",
         "https://github.com/opencontainers/runc/commit/0a8e4117e7f715d5fbeef398405813ce8e88558b")),
    CaseStudy(
        "CVE-2024-21626", "runc leaked fd (Leaky Vessels)", 2024, "container runtime (runc <= 1.1.11)",
        "hosts that start containers from untrusted images or with a chosen working directory "
        "(Docker, Kubernetes, docker build)",
        "no root in the container: an image whose WORKDIR is /proc/self/fd/<n> starts the container "
        "with its working directory on a file descriptor runc leaked — the host's file system",
        "the runc 1.1.12 fix; user namespaces and LSMs limit what the escaped process can then do",
        (_nvd("CVE-2024-21626"),
         "https://github.com/opencontainers/runc/security/advisories/GHSA-xr7r-f8xq-vfvv")),
    CaseStudy(
        "CVE-2015-3456", "VENOM", 2015, "hypervisor (QEMU's virtual floppy controller)",
        "guests of QEMU-based hypervisors (KVM, Xen HVM) — even with no floppy drive configured, "
        "because the controller was always there",
        "root (I/O-port access) inside a guest, then a buffer overflow in the FDC emulation: in "
        "NVD's words a guest crash, or possibly arbitrary code execution in the QEMU process on the host",
        "running QEMU unprivileged and confined (libvirt's sVirt: SELinux/AppArmor labels, "
        "separate uid); machine types without a floppy controller (q35, microvm)",
        (_nvd("CVE-2015-3456"), "https://access.redhat.com/articles/1444903",
         "https://vincent.bernat.im/en/blog/2015-hotfix-qemu-venom.html")),
    CaseStudy(
        "CVE-2018-3646", "L1TF / Foreshadow-NG", 2018, "CPU (speculative execution)",
        "VMs and containers sharing a physical core (hyper-threads) with the attacker",
        "code running on a sibling hyper-thread: reads data in the L1 cache through speculative "
        "execution — across VM boundaries",
        "microcode + hypervisor L1D flush on VM entry, disabling SMT or core scheduling, not "
        "sharing cores between tenants",
        (_nvd("CVE-2018-3646"), "https://docs.kernel.org/admin-guide/hw-vuln/l1tf.html")),
)


#: Reference figures this episode compares its measurements with (every row has a source).
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("x86-64 system calls in the kernel's table", "about 360 in Linux 6.x (numbers up to ~460)",
     "https://github.com/torvalds/linux/blob/master/arch/x86/entry/syscalls/syscall_64.tbl"),
    ("documented KVM hypercalls", "9 (7 for x86, of which KVM_HC_MMU_OP is deprecated; 2 PowerPC)",
     "https://docs.kernel.org/virt/kvm/x86/hypercalls.html"),
    ("syscalls Docker's default seccomp profile blocks", "around 44",
     "https://docs.docker.com/engine/security/seccomp/"),
    ("LXD's default seccomp deny list", "kexec_load, open_by_handle_at, init_module, "
     "finit_module, delete_module (+ forced umount)",
     "https://github.com/canonical/lxd/blob/main/lxd/seccomp/seccomp.go"),
)


def show_figures() -> None:
    """Print the reference figures with their sources."""
    for what, value, source in FIGURES:
        print(f"■ {what}: {value}\n  source: {source}")


def case_rows() -> list[dict[str, str]]:
    """The case studies as rows (for a table), with their sources joined."""
    return [{"CVE": c.cve, "name": c.name, "layer": c.layer, "needed": c.needed,
             "blocked by": c.blocked_by, "sources": " ; ".join(c.sources)} for c in CASE_STUDIES]


def show_cases(width: int = 100) -> None:
    """Print the case-study table as readable blocks (deterministic)."""
    import textwrap

    for c in CASE_STUDIES:
        print(f"■ {c.cve} — {c.name} ({c.year}), layer: {c.layer}")
        for label, text in (("exposed", c.reaches), ("needed", c.needed), ("blocked by", c.blocked_by)):
            lines = textwrap.wrap(text, width - 14)
            print(f"  {label:<11} {lines[0]}")
            for line in lines[1:]:
                print(f"  {'':<11} {line}")
        for s in c.sources:
            print(f"  {'source':<11} {s}")
        print()
