"""Isolation and security, demonstrated: what stops a container, what stops a VM.

* :data:`CASE_STUDIES` — real escapes (CVE, what it needed, what blocked it, sources);
* the *probe*: one small busybox ``sh`` script (:data:`PROBE_SCRIPT`) that tries each dangerous
  action in a way that would do no harm had it succeeded, and prints one line per attempt. The
  same script runs in a fresh set of namespaces (:func:`probe_namespaces`) and in an LXD
  container (:func:`probe_lxd`); :func:`parse_probe` turns its output into :class:`Attempt` s with
  the errno and the reason;
* capabilities (:func:`capability_names`, :func:`decode_caps`, :func:`drop_capability_demo`),
  seccomp (:func:`seccomp_block`), the LSMs (:func:`lsm_status`), and the attack surface
  (:mod:`virtlab.attacksurface`);
* a guest kernel panic next to a running neighbour VM (:func:`guest_panic`, episode 06's VM);
* the threat model (:data:`THREATS`, :func:`assess`; the widget is
  :mod:`virtlab.widgets.threats`).

Runners: episode 03's mini container (:func:`probe_minicontainer`), LXD (:func:`probe_lxd`),
plain ``unshare(1)`` namespaces as a fallback (:func:`probe_namespaces`), and the host's own root
as the yardstick for privileged containers (:func:`host_baseline`). Scratch directories are
``/tmp/vl-sec-*``; :func:`cleanup` removes leftovers.

Nothing destructive is ever executed: the kernel-module attempt passes a one-byte non-module, the
sysrq and sysctl files are opened but never written, the disk is opened for reading zero bytes,
the clock tick is "set" to its current value. In a *privileged* container only harmless
counterparts run (read the uid map and capability set, mount and unmount a tmpfs).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from virtlab import PREFIX, modes, owners, probe, rootfs
from virtlab.safety import Deadline, DeadlineExceeded, VirtlabError

# --------------------------------------------------------------------------- case studies


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


# --------------------------------------------------------------------------- capabilities

#: capability number -> name (linux/capability.h; see capabilities(7))
CAPABILITY_NAMES = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
)
#: the capabilities whose possession makes a process root-equivalent on the host
DANGEROUS = ("sys_admin", "sys_module", "sys_rawio", "sys_time", "sys_boot", "mknod",
             "dac_override", "sys_ptrace", "net_admin")


def capability_names() -> list[str]:
    """Names of the capabilities this kernel knows (0 .. /proc/sys/kernel/cap_last_cap)."""
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        last = len(CAPABILITY_NAMES) - 1
    return [CAPABILITY_NAMES[i] if i < len(CAPABILITY_NAMES) else f"cap_{i}" for i in range(last + 1)]


def decode_caps(mask: int | str) -> list[str]:
    """A capability mask (int or hex as in /proc/PID/status) -> sorted capability names.

    >>> decode_caps("0000000000003000")
    ['net_admin', 'net_raw']
    """
    if isinstance(mask, str):
        try:
            mask = int(mask.strip(), 16)
        except ValueError:
            raise ValueError(f"{mask!r} is not a hexadecimal capability mask such as "
                             "'000001ffffffffff' (see /proc/self/status)") from None
    if mask < 0:
        raise ValueError("a capability mask cannot be negative")
    names = [CAPABILITY_NAMES[i] if i < len(CAPABILITY_NAMES) else f"cap_{i}"
             for i in range(64) if mask >> i & 1]
    return sorted(names)


def process_caps(pid: int | str = "self") -> dict[str, list[str]]:
    """The capability sets of a process (effective, permitted, bounding, ...) by name."""
    out: dict[str, list[str]] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cap"):
            key, val = line.split(":", 1)
            out[key[3:].lower()] = decode_caps(val)
    return out


# --------------------------------------------------------------------------- errno helpers
_BUSYBOX_MESSAGES = {
    # busybox prints its own text for some errors instead of strerror()
    "permission denied (are you root?)": "EPERM",  # mount: EPERM or EACCES
    "kernel does not support requested operation": "ENOSYS",  # insmod: ENOSYS
    "invalid module format": "ENOEXEC",
    "unknown symbol in module": "ENOENT",
    "module has wrong symbol version": "EINVAL",
    "nonexistent directory": "ENOENT",  # ash: "can't create X: nonexistent directory"
}


def errno_from_message(message: str) -> str | None:
    """Find the errno name whose text (strerror) ends ``message``, e.g. 'EPERM'."""
    low = message.lower()
    for text, name in _BUSYBOX_MESSAGES.items():
        if text in low:
            return name
    best: tuple[int, str] | None = None
    for code, name in _errno.errorcode.items():
        text = os.strerror(code).lower()
        if text and text in low and (best is None or len(text) > best[0]):
            best = (len(text), name)
    return best[1] if best else None


# --------------------------------------------------------------------------- the probe
#: One line per attempt: ``VLPROBE <tab> name <tab> exit status <tab> message``.
PROBE_SCRIPT = r"""# virtlab security probe (busybox sh). Every attempt is harmless had it succeeded.
# args: BUSYBOX SCRATCH MODE HOSTPID DEV FSTYPE MAJOR MINOR
BB="$1"; T="$2"; MODE="$3"; HOSTPID="$4"; DEV="$5"; FSTYPE="$6"; MAJ="$7"; MIN="$8"
out() { printf 'VLPROBE\t%s\t%s\t%s\n' "$1" "$2" "$(printf '%s' "$3" | "$BB" tr '\n\t' '  ')"; }
try() { name="$1"; shift; msg="$("$@" 2>&1)"; rc=$?; out "$name" "$rc" "$msg"; }
"$BB" mkdir -p "$T/mnt"
out uid_map 0 "$("$BB" head -n 1 /proc/self/uid_map | "$BB" tr -s ' ' | "$BB" sed 's/^ //')"
out cap_eff 0 "$("$BB" grep '^CapEff:' /proc/self/status | "$BB" cut -f2)"
out seccomp 0 "$("$BB" grep '^Seccomp:' /proc/self/status | "$BB" cut -f2)"
out processes 0 "$("$BB" ls /proc | "$BB" grep -c '^[0-9]')"
out kernel 0 "$("$BB" uname -r)"
out pid1 0 "$("$BB" cat /proc/1/comm)"
if [ "$MODE" = unprivileged ]; then
  echo "virtlab: this is not a kernel module, the kernel would refuse it" > "$T/vl-not-a-module.ko"
  try load_module "$BB" insmod "$T/vl-not-a-module.ko"
  try mount_host_fs "$BB" mount -t "$FSTYPE" -o ro "$DEV" "$T/mnt"
  "$BB" umount "$T/mnt" 2>/dev/null
  try open_sysrq_trigger "$BB" dd if=/dev/null of=/proc/sysrq-trigger bs=1 count=0 conv=notrunc
  try open_host_sysctl "$BB" dd if=/dev/null of=/proc/sys/vm/drop_caches bs=1 count=0 conv=notrunc
  try open_host_disk "$BB" dd if="$DEV" of=/dev/null bs=512 count=0
  try mknod_host_disk "$BB" mknod "$T/vl-disk" b "$MAJ" "$MIN"
  "$BB" rm -f "$T/vl-disk"
  try see_host_process "$BB" kill -0 "$HOSTPID"
  TICK="$("$BB" adjtimex | "$BB" awk '/tick:/ {print $3}')"
  try set_clock "$BB" adjtimex -t "$TICK"
  "$BB" mount -t tmpfs -o size=1m vl-probe "$T/mnt" 2>/dev/null
  try force_umount "$BB" umount -f "$T/mnt"
  "$BB" umount "$T/mnt" 2>/dev/null
else
  try mount_tmpfs "$BB" mount -t tmpfs -o size=1m vl-probe "$T/mnt"
  "$BB" umount "$T/mnt" 2>/dev/null
  try mknod_host_disk "$BB" mknod "$T/vl-disk" b "$MAJ" "$MIN"
  try open_host_disk "$BB" dd if="$T/vl-disk" of=/dev/null bs=512 count=0
  "$BB" rm -f "$T/vl-disk"
  try mknod_kmsg "$BB" mknod "$T/vl-kmsg" c 1 11
  try open_kmsg "$BB" dd if="$T/vl-kmsg" of=/dev/null bs=1 count=0
  "$BB" rm -f "$T/vl-kmsg"
fi
"$BB" rm -f "$T/vl-not-a-module.ko"
"$BB" rmdir "$T/mnt" 2>/dev/null
true
"""

#: attempt -> (what it tries, why it would be harmless had it succeeded)
ATTEMPTS: dict[str, tuple[str, str]] = {
    "load_module": ("load a kernel module (init_module)",
                    "the 'module' is a line of text: the kernel would reject it as not a module"),
    "mount_host_fs": ("mount the host's root filesystem (read-only)",
                      "read-only, in the probe's own mount namespace, unmounted at once"),
    "open_sysrq_trigger": ("open /proc/sysrq-trigger for writing",
                           "opened, never written: no SysRq key is sent"),
    "open_host_sysctl": ("open the host sysctl /proc/sys/vm/drop_caches for writing",
                         "opened, never written"),
    "open_host_disk": ("open the host's disk device for reading", "reads zero bytes"),
    "mknod_host_disk": ("create a device node for the host's disk", "removed at once"),
    "see_host_process": ("signal a host process (kill -0: existence check only)",
                         "signal 0 delivers nothing"),
    "set_clock": ("adjust the system clock (adjtimex: set the tick to its current value)",
                  "the value written is the one already there"),
    "force_umount": ("force-unmount (umount -f) a tmpfs the container itself just mounted",
                     "it is the container's own 1 MiB tmpfs"),
    "mount_tmpfs": ("mount a 1 MiB tmpfs", "private to the container, unmounted at once"),
    "mknod_kmsg": ("create a device node for the host's kernel log (/dev/kmsg, char 1:11)",
                   "removed at once"),
    "open_kmsg": ("open the host's kernel log device for reading", "reads zero bytes"),
}
MUST_FAIL = ("load_module", "mount_host_fs", "open_sysrq_trigger", "open_host_sysctl",
             "open_host_disk", "mknod_host_disk", "see_host_process", "set_clock")
#: allowed by namespaces and capabilities — refused only where a seccomp filter says so (LXD)
SECCOMP_ONLY = ("force_umount",)
#: what runs in a *privileged* container: harmless counterparts only
HARMLESS = ("mount_tmpfs", "mknod_host_disk", "open_host_disk", "mknod_kmsg", "open_kmsg")
INFO = ("uid_map", "cap_eff", "seccomp", "processes", "kernel", "pid1")


@dataclass
class Attempt:
    name: str
    action: str
    status: int  # exit status of the busybox command
    message: str
    errno: str | None  # e.g. "EPERM", parsed from the message
    reason: str  # what stopped it (or why it worked)

    @property
    def failed(self) -> bool:
        return self.status != 0


@dataclass
class ProbeResult:
    runner: str  # "namespaces (unprivileged)", "LXD unprivileged", ...
    uid_map: str
    cap_eff: list[str]
    seccomp: str  # 0 none, 1 strict, 2 filter
    processes: int  # racy (the probe's own subshells come and go): not for display
    kernel: str
    attempts: list[Attempt]
    pid1: str = ""  # the command of PID 1 as the probe sees it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def attempt(self, name: str) -> Attempt:
        for a in self.attempts:
            if a.name == name:
                return a
        raise LookupError(f"no attempt {name!r}; attempts: {', '.join(a.name for a in self.attempts)}")


def host_root_device() -> dict[str, Any]:
    """The host's root filesystem: device path, type and major:minor (from mountinfo)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        if len(f) >= 5 and f[4] == "/":
            fstype, source = right.split()[:2]
            major, minor = f[2].split(":")
            return {"device": source, "fstype": fstype, "major": int(major), "minor": int(minor)}
    raise LookupError("cannot find the root filesystem in /proc/self/mountinfo")


def explain(name: str, err: str | None, context: str, status: int = 1) -> str:
    """Why attempt ``name`` failed with ``err`` in ``context`` ('namespaces', 'lxd', ...)."""
    lxd = context.startswith("lxd")
    if context == "host" and err is not None:
        return (f"refused even to root on the host itself ({err}): a security policy of this "
                "machine, outside any container")
    if err is None and status == 0 and name == "force_umount":
        return "no seccomp filter here: the container owns this mount, so its root may do this"
    if err is None:
        return "it worked" if status == 0 else "failed before reaching the kernel"
    table: dict[tuple[str, str], str] = {
        ("load_module", "EPERM"): "loading modules needs CAP_SYS_MODULE in the host's (initial) user "
                                  "namespace; root in a user namespace does not have it",
        ("load_module", "ENOSYS"): ("seccomp: LXD's filter answers init_module with ENOSYS" if lxd
                                    and Path("/proc/modules").exists() else
                                    "this kernel has no loadable-module support at all (no "
                                    "/proc/modules): the smallest attack surface"),
        ("mount_host_fs", "EPERM"): "a disk filesystem may only be mounted with CAP_SYS_ADMIN in "
                                    "the initial user namespace (ext4 is not user-namespace "
                                    "mountable)",
        ("mount_host_fs", "EACCES"): "a disk filesystem may only be mounted with CAP_SYS_ADMIN in "
                                     "the initial user namespace",
        ("open_sysrq_trigger", "ENOENT"): "this kernel has no magic SysRq (the file does not "
                                          "exist here); on other kernels see open_host_sysctl",
        ("open_sysrq_trigger", "EACCES"): "the file belongs to the host's root, which is not "
                                          "mapped into the user namespace",
        ("open_sysrq_trigger", "EROFS"): "LXD mounts /proc/sysrq-trigger read-only",
        ("open_host_sysctl", "EACCES"): "the file belongs to the host's root, which is not mapped "
                                        "into the user namespace",
        ("open_host_sysctl", "EROFS"): "LXD mounts /proc/sys read-only in the container",
        ("open_host_disk", "EACCES"): "the device node belongs to the host's root (unmapped): no "
                                      "permission",
        ("open_host_disk", "ENOENT"): "the container's /dev has no node for the host's disk",
        ("open_host_disk", "EPERM"): "the device cgroup does not allow this device",
        ("mknod_host_disk", "EPERM"): "creating device nodes needs CAP_MKNOD in the initial user "
                                      "namespace",
        ("force_umount", "EACCES"): "seccomp: LXD's filter rejects umount2() with MNT_FORCE "
                                    "(reject_force_umount), although the container owns this mount",
        ("open_kmsg", "EPERM"): "the device cgroup: the container may open only a short list of "
                                "devices (null, zero, random, tty, ...), not the host's kernel log",
        ("see_host_process", "ESRCH"): "PID namespace: host processes do not exist inside it",
        ("set_clock", "EPERM"): "the clock is not namespaced: changing it needs CAP_SYS_TIME in the "
                                "initial user namespace",
    }
    return table.get((name, err), f"failed with {err}")


def parse_probe(text: str, runner: str, context: str) -> ProbeResult:
    """Turn the probe's output into a :class:`ProbeResult` (errno + reason for each attempt)."""
    info: dict[str, str] = {}
    attempts: list[Attempt] = []
    for line in text.splitlines():
        if not line.startswith("VLPROBE\t"):
            continue
        parts = line.split("\t", 3)
        if len(parts) < 4:
            continue
        _, name, status, message = parts
        message = message.strip()
        if name in INFO:
            info[name] = message
            continue
        rc = int(status) if status.lstrip("-").isdigit() else -1
        err = None if rc == 0 else errno_from_message(message)
        action = ATTEMPTS.get(name, (name, ""))[0]
        attempts.append(Attempt(name, action, rc, message, err, explain(name, err, context, rc)))
    if "cap_eff" not in info:
        raise VirtlabError(f"the probe printed no result (runner {runner}); output: {text[-300:]!r}")
    return ProbeResult(runner, info.get("uid_map", ""), decode_caps(info["cap_eff"] or "0"),
                       info.get("seccomp", "?"), int(info.get("processes", "0") or 0),
                       info.get("kernel", ""), attempts, info.get("pid1", ""))


PROBE_DIR = "/tmp/vl-probe"  # scratch directory *inside* the runner


def probe_command(mode: str, *, busybox: str = "/bin/busybox", scratch: str = PROBE_DIR,
                  host_pid: int | None = None) -> list[str]:
    """The argv that runs the probe (``busybox sh -c SCRIPT ...``) inside any runner.

    ``mode`` is ``"unprivileged"`` (the attempts that must fail) or ``"privileged"`` (only the
    harmless counterparts). ``host_pid``: a host process to look for (default: this one).
    """
    if mode not in ("unprivileged", "privileged"):
        raise ValueError("mode must be 'unprivileged' (must-fail attempts) or 'privileged' "
                         "(harmless counterparts only)")
    dev = host_root_device()
    return [busybox, "sh", "-c", PROBE_SCRIPT, "vl-probe", busybox, scratch, mode,
            str(host_pid or os.getpid()), dev["device"], dev["fstype"], str(dev["major"]),
            str(dev["minor"])]


def _ns_command(live: bool) -> tuple[list[str], int]:
    """unshare(1) argv for a fresh set of namespaces, and the host uid container root maps to.

    live (as root): container root = host uid 100000 (like LXD); otherwise the unprivileged
    form: as root we first become ``nobody`` (65534), then map root to ourselves.
    """
    base = ["unshare", "--user", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
            "--net", "--uts", "--ipc", "--cgroup"]
    if live and probe.is_root():
        return base + ["--map-users=100000,0,65536", "--map-groups=100000,0,65536",
                       "--setuid", "0", "--setgid", "0", "--"], 100000
    if probe.is_root():
        return ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"] + base + [
            "--map-root-user", "--"], 65534
    return base + ["--map-root-user", "--"], os.getuid()


def probe_namespaces(*, live: bool | None = None, timeout: float = 30.0) -> ProbeResult:
    """The probe in a fresh set of namespaces made with unshare(1) (user, mnt, pid, net, uts,
    ipc, cgroup) on the host's filesystem — the fallback runner when the mini container cannot
    be used. ``live`` (root only): container root = host uid 100000, as in LXD.
    """
    if live is None:
        live = probe.is_root()
    cmd, owner = _ns_command(live)
    d = Path(tempfile.mkdtemp(prefix=f"{PREFIX}sec-"))
    try:
        os.chmod(d, 0o755)
        if probe.is_root() and owner != 0:
            os.chown(d, owner, owner)
        dl = Deadline(timeout, "security probe in namespaces")
        try:
            res = subprocess.run(cmd + probe_command("unprivileged", busybox=str(rootfs.busybox_path()),
                                                     scratch=str(d)),
                                 capture_output=True, text=True, timeout=dl.remaining(), check=False)
        except subprocess.TimeoutExpired:
            raise DeadlineExceeded(dl.what, timeout) from None
        if "VLPROBE" not in res.stdout:
            raise VirtlabError(f"the namespace runner failed ({res.returncode}): "
                               f"{res.stderr.strip()[-300:]}")
        runner = ("fresh namespaces, container root = host uid 100000" if owner == 100000
                  else "fresh namespaces, unprivileged user namespace")
        return parse_probe(res.stdout, runner, "namespaces")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def host_baseline(timeout: float = 20.0) -> ProbeResult:
    """The harmless counterparts run as root on the host itself (in a throw-away mount
    namespace): the yardstick a privileged container is compared with. Root only."""
    if not probe.is_root():
        raise VirtlabError("the host baseline needs root (run the course on a lab VM)")
    d = Path(tempfile.mkdtemp(prefix=f"{PREFIX}sec-"))
    try:
        dl = Deadline(timeout, "security probe on the host")
        try:
            res = subprocess.run(["unshare", "--mount", "--propagation", "private", "--"]
                                 + probe_command("privileged", busybox=str(rootfs.busybox_path()),
                                                 scratch=str(d)),
                                 capture_output=True, text=True, timeout=dl.remaining(), check=False)
        except subprocess.TimeoutExpired:
            raise DeadlineExceeded(dl.what, timeout) from None
        return parse_probe(res.stdout, "the host itself (root, private mount namespace)", "host")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _compare_with_host(result: ProbeResult) -> ProbeResult:
    """Where the host's own root is refused too, say so instead of blaming the container."""
    try:
        base = {a.name: a for a in host_baseline().attempts}
    except VirtlabError:
        return result
    for a in result.attempts:
        b = base.get(a.name)
        if a.failed and b is not None and b.failed and b.errno == a.errno:
            a.reason = (f"refused to root on the host itself too ({b.errno}): a policy of this "
                        "machine, not the container (on a typical lab VM the device cgroup "
                        "would decide)")
    return result


def probe_minicontainer(*, privileged: bool = False, timeout: float = 30.0) -> ProbeResult:
    """The probe inside episode 03's mini container (:class:`virtlab.minicontainer.Container`).

    Unprivileged (default): built in a user namespace as uid 65534 — the must-fail attempts run.
    ``privileged=True`` (root only): real root, no user namespace — only harmless counterparts.
    """
    from virtlab import minicontainer as mc

    if privileged and not probe.is_root():
        raise VirtlabError("a privileged mini container needs root (run the course on a lab VM)")
    name = f"sec-{'priv' if privileged else 'probe'}-{os.getpid() % 100000}"
    mode = "privileged" if privileged else "unprivileged"
    dl = Deadline(timeout, f"security probe in mini container {name}")
    with mc.Container(name, unprivileged=not privileged, memory="64MiB", pids=64,
                      timeout=min(15.0, timeout)) as c:
        # scratch on the container's /dev tmpfs: in an unprivileged mini container the overlay
        # root is not writable here (EOVERFLOW: its upper directory belongs to unmapped host root)
        code, out, err = c.run(probe_command(mode, scratch="/dev/vl-probe"),
                               timeout=max(1.0, dl.remaining()))
    if "VLPROBE" not in out:
        raise VirtlabError(f"the probe did not run in the mini container (exit {code}): "
                           f"{err.strip()[-300:]}")
    runner = "mini container (" + ("privileged: real root, no user namespace)" if privileged
                                   else f"built in a user namespace as uid "
                                   f"{65534 if probe.is_root() else os.getuid()})")
    res = parse_probe(out, runner, "minicontainer")
    return _compare_with_host(res) if privileged else res


def _device_cgroup_list(inst: Any) -> list[str] | None:
    """The devices a container's cgroup v1 device controller allows (None where there is no
    such list, e.g. cgroup v2, where a BPF program decides)."""
    from virtlab import probe as _probe

    try:
        path = inst.state().cgroup.get("devices")
        mount = _probe.cgroups().v1_controllers.get("devices")
        if not path or not mount:
            return None
        return Path(mount, path.lstrip("/"), "devices.list").read_text().split("\n")[:-1]
    except (OSError, LookupError):
        return None


def probe_lxd(*, privileged: bool = False, timeout: float = 60.0) -> dict[str, Any]:
    """The probe in a fresh course LXD container (deleted afterwards), plus the seccomp policy
    LXD wrote for it. Unprivileged: the must-fail attempts; privileged: harmless counterparts.
    """
    from virtlab import lxd

    mode = "privileged" if privileged else "unprivileged"
    dl = Deadline(timeout, f"security probe in an LXD container ({mode})")
    with lxd.instance(None, privileged=privileged, timeout=min(60.0, timeout)) as inst:
        code, out, err = inst.exec(probe_command(mode), timeout=max(1.0, dl.remaining()))
        policy_file = Path(probe.lxd().socket or "/var/lib/lxd/unix.socket").parent / \
            "security" / "seccomp" / inst.name
        try:
            policy = [ln.strip() for ln in policy_file.read_text().splitlines() if ln.strip()]
        except OSError:
            policy = []
        devices = _device_cgroup_list(inst)
        name = inst.name
    if "VLPROBE" not in out:
        raise VirtlabError(f"the probe did not run in LXD container {name} (exit {code}): "
                           f"{err.strip()[-300:]}")
    runner = f"LXD container ({mode}" + (", security.privileged=true)" if privileged else ")")
    parsed = parse_probe(out, runner, "lxd")
    res = (_compare_with_host(parsed) if privileged else parsed).to_dict()
    res["seccomp_policy"] = policy
    res["device_cgroup"] = devices
    res["instance"] = name
    return res


# --------------------------------------------------------------------------- seccomp
_SECCOMP_CHILD = r"""
import errno, json, os, sys
import pyseccomp as sc
name, action = sys.argv[1], sys.argv[2]
def status():
    return {k: v.strip() for k, v in (l.split(":", 1) for l in open("/proc/self/status")
            if l.startswith(("Seccomp", "NoNewPrivs")))}
def attempt():
    try:
        if name == "uname": os.uname()
        elif name == "getcwd": os.getcwd()
        elif name == "mkdir":
            os.mkdir(sys.argv[3]); os.rmdir(sys.argv[3])
        elif name == "getppid": os.getppid()
        elif name == "socket":
            import socket; socket.socket().close()
        else: raise SystemExit("unsupported")
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
out = {"before": attempt(), "status_before": status()}
f = sc.SyscallFilter(sc.ALLOW)
f.add_rule(sc.ERRNO(errno.EPERM) if action == "errno" else sc.KILL_PROCESS, name)
f.load()
out["status_after"] = status()
print(json.dumps(out), flush=True)
out["after"] = attempt()
print(json.dumps(out), flush=True)
"""
#: syscalls :func:`seccomp_block` can demonstrate on (each tried through a harmless Python call)
SECCOMP_DEMO_SYSCALLS = ("uname", "getcwd", "mkdir", "getppid", "socket")


def seccomp_block(syscall: str = "uname", action: str = "errno", *, timeout: float = 20.0) -> dict[str, Any]:
    """In a child process: try ``syscall``, install a seccomp filter blocking it, try again.

    ``action`` is ``"errno"`` (the call fails with EPERM) or ``"kill"`` (the kernel kills the
    process with SIGSYS). Uses libseccomp through pyseccomp. Returns what happened.
    """
    if syscall not in SECCOMP_DEMO_SYSCALLS:
        raise ValueError(f"syscall {syscall!r} is not one this demo can try; choose one of "
                         f"{', '.join(SECCOMP_DEMO_SYSCALLS)}")
    if action not in ("errno", "kill"):
        raise ValueError("action must be 'errno' (fail with EPERM) or 'kill' (SIGSYS)")
    scratch = tempfile.mkdtemp(prefix=f"{PREFIX}sec-")
    try:
        dl = Deadline(timeout, "seccomp demo")
        try:
            res = subprocess.run([sys.executable, "-c", _SECCOMP_CHILD, syscall, action,
                                  os.path.join(scratch, "d")], capture_output=True, text=True,
                                 timeout=dl.remaining(), check=False)
        except subprocess.TimeoutExpired:
            raise DeadlineExceeded(dl.what, timeout) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    if not lines:
        raise VirtlabError(f"the seccomp child failed: {res.stderr.strip()[-300:]}")
    out = lines[-1]
    out.setdefault("after", "killed")
    out.update({"syscall": syscall, "action": action, "exit_status": res.returncode,
                "signal": _signal_name(-res.returncode) if res.returncode < 0 else None})
    return out


def _signal_name(n: int) -> str:
    import signal

    try:
        return signal.Signals(n).name
    except ValueError:
        return str(n)


# --------------------------------------------------------------------------- capabilities demo
_CAPS_CHILD = r"""
import ctypes, errno, json, os, socket, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
def check(rc, what):
    if rc != 0: raise SystemExit(f"{what}: {os.strerror(ctypes.get_errno())}")
if sys.argv[1] == "userns":
    if os.geteuid() == 0:  # become nobody first: the demo shows an *unprivileged* user namespace
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        check(libc.prctl(4, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    uid, gid = os.geteuid(), os.getegid()
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare")
    open("/proc/self/setgroups", "w").write("deny")
    open("/proc/self/uid_map", "w").write(f"0 {uid} 1")
    open("/proc/self/gid_map", "w").write(f"0 {gid} 1")
else:
    check(libc.unshare(CLONE_NEWNET), "unshare")
class Hdr(ctypes.Structure): _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure): _fields_ = [("eff", ctypes.c_uint32), ("perm", ctypes.c_uint32), ("inh", ctypes.c_uint32)]
def caps():
    return [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
def raw():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close(); return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
out = {"cap_eff_before": caps(), "raw_socket_before": raw()}
CAP_NET_RAW = 13
h = Hdr(0x20080522, 0); d = (Data * 2)()
assert libc.capget(ctypes.byref(h), d) == 0
d[0].eff &= ~(1 << CAP_NET_RAW); d[0].perm &= ~(1 << CAP_NET_RAW)
rc = libc.capset(ctypes.byref(h), d)
out["capset"] = "ok" if rc == 0 else errno.errorcode[ctypes.get_errno()]
out["cap_eff_after"] = caps(); out["raw_socket_after"] = raw()
print(json.dumps(out))
"""


def drop_capability_demo(*, live: bool | None = None, timeout: float = 20.0) -> dict[str, Any]:
    """Open a raw socket (needs CAP_NET_RAW), drop that one capability with capset(2), try again.

    Runs in a fresh network namespace (so nothing on the host is touched); unprivileged (a user
    namespace) unless ``live`` and root.
    """
    if live is None:
        live = probe.is_root()
    if live and probe.is_root():
        how, where = "host", "host root in a new network namespace"
    else:
        how, where = "userns", "root of an unprivileged user namespace (+ new network namespace)"
    dl = Deadline(timeout, "capability demo")
    try:
        res = subprocess.run([sys.executable, "-c", _CAPS_CHILD, how], capture_output=True,
                             text=True, timeout=dl.remaining(), check=False)
    except subprocess.TimeoutExpired:
        raise DeadlineExceeded(dl.what, timeout) from None
    if res.returncode != 0:
        raise VirtlabError(f"the capability child failed: {res.stderr.strip()[-300:]}")
    out = json.loads(res.stdout)
    out["where"] = where
    out["dropped"] = sorted(set(decode_caps(out["cap_eff_before"])) - set(decode_caps(out["cap_eff_after"])))
    return out


# --------------------------------------------------------------------------- LSMs
_LANDLOCK_CREATE_RULESET = 444


def lsm_status() -> dict[str, Any]:
    """Which Linux Security Modules are built in / active here — each answer from a probe."""
    out: dict[str, Any] = {}
    cfg: dict[str, str] = {}
    try:
        import gzip

        with gzip.open("/proc/config.gz", "rt") as f:
            for line in f:
                if line.startswith(("CONFIG_SECURITY_", "CONFIG_LSM=")):
                    k, _, v = line.strip().partition("=")
                    cfg[k] = v.strip('"')
                elif line.startswith("# CONFIG_SECURITY_") and line.rstrip().endswith("is not set"):
                    cfg[line.split()[1]] = "n"
    except OSError:
        pass
    out["config_available"] = bool(cfg)
    active = ""
    lsm_file = Path("/sys/kernel/security/lsm")
    if lsm_file.exists():
        active = lsm_file.read_text().strip()
    out["active"] = active.split(",") if active else None
    aa_enabled = Path("/sys/module/apparmor/parameters/enabled")
    out["apparmor"] = {
        "built_in": cfg.get("CONFIG_SECURITY_APPARMOR", "?") if cfg else "?",
        "enabled": aa_enabled.read_text().strip() if aa_enabled.exists() else "no /sys/module/apparmor",
    }
    se = Path("/sys/fs/selinux/enforce")
    out["selinux"] = {
        "built_in": cfg.get("CONFIG_SECURITY_SELINUX", "?") if cfg else "?",
        "enforcing": se.read_text().strip() if se.exists() else "no /sys/fs/selinux (not active)",
    }
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(ctypes.c_long(_LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0),
                       ctypes.c_uint32(1))
    out["landlock_abi"] = abi if abi >= 0 else _errno.errorcode.get(ctypes.get_errno(), "?")
    yama = Path("/proc/sys/kernel/yama/ptrace_scope")
    out["yama_ptrace_scope"] = yama.read_text().strip() if yama.exists() else None
    lockdown = Path("/sys/kernel/security/lockdown")
    out["lockdown"] = lockdown.read_text().strip() if lockdown.exists() else None
    out["config_lsm"] = cfg.get("CONFIG_LSM")
    return out


def _active_lsms_root() -> str | None:
    """As root: mount securityfs in a throw-away mount namespace and read the active LSM list."""
    if not probe.is_root():
        return None
    script = ("mount --make-rprivate / && mount -t securityfs none /sys/kernel/security "
              "&& cat /sys/kernel/security/lsm")
    res = subprocess.run(["unshare", "--mount", "--", str(rootfs.busybox_path()), "sh", "-c", script],
                         capture_output=True, text=True, timeout=10, check=False)
    return res.stdout.strip() or None


# --------------------------------------------------------------------------- shared kernel
def kernel_view() -> dict[str, Any]:
    """The host's kernel release and /proc/version, and what a process in new namespaces sees."""
    cmd, owner = _ns_command(False)
    bb = str(rootfs.busybox_path())
    res = subprocess.run(cmd + [bb, "sh", "-c", "uname -r; cat /proc/version"],
                         capture_output=True, text=True, timeout=15, check=False)
    lines = res.stdout.splitlines()
    host_version = Path("/proc/version").read_text().strip()
    oops = {}
    for knob in ("panic_on_oops", "panic", "tainted"):
        p = Path("/proc/sys/kernel") / knob
        oops[knob] = p.read_text().strip() if p.exists() else None
    return {"host_release": os.uname().release, "host_version": host_version,
            "ns_release": lines[0] if lines else "", "ns_version": lines[1] if len(lines) > 1 else "",
            "same_kernel": lines[:2] == [os.uname().release, host_version], "oops_knobs": oops}


# --------------------------------------------------------------------------- demos
@modes.demo("security.kernel", section="security", embedded=True)
def demo_kernel(backend: modes.Backend) -> dict[str, Any]:
    return kernel_view()


# not embedded: it consults host tools (QEMU, kernel headers), so what a machine without the lab
# services shows is the labelled recording of a real run, the same on every machine
@modes.demo("security.surface", section="security")
def demo_surface(backend: modes.Backend) -> dict[str, Any]:
    from virtlab import attacksurface

    return attacksurface.measure()


@modes.demo("security.attempts", section="security", embedded=True)
def demo_attempts(backend: modes.Backend) -> dict[str, Any]:
    try:
        return probe_minicontainer().to_dict()
    except ImportError:  # the mini container is not there: our own unshare(1) runner
        return probe_namespaces(live=backend.privileged).to_dict()


@modes.demo("security.lxd", section="lxd")
def demo_lxd(backend: modes.Backend) -> dict[str, Any]:
    return {"unprivileged": probe_lxd(privileged=False), "privileged": probe_lxd(privileged=True)}


@modes.demo("security.privileged", section="container",
            requires=modes.needs_root("a privileged container is compared with host root"))
def demo_privileged(backend: modes.Backend) -> dict[str, Any]:
    return {"host": host_baseline().to_dict(),
            "container": probe_minicontainer(privileged=True).to_dict()}


@modes.demo("security.capabilities", section="security", embedded=True)
def demo_capabilities(backend: modes.Backend) -> dict[str, Any]:
    return drop_capability_demo(live=backend.privileged)


@modes.demo("security.seccomp", section="security", embedded=True)
def demo_seccomp(backend: modes.Backend) -> dict[str, Any]:
    return {"errno": seccomp_block("uname", "errno"), "kill": seccomp_block("uname", "kill")}


@modes.demo("security.lsm", section="security", embedded=True)
def demo_lsm(backend: modes.Backend) -> dict[str, Any]:
    out = lsm_status()
    if backend.privileged and out["active"] is None:
        active = _active_lsms_root()
        out["active"] = active.split(",") if active else None
    return out


def guest_panic(timeout: float = 120.0) -> dict[str, Any]:
    """Boot two course VMs (episode 06's tiny VM), panic one guest kernel, and check that the
    neighbour VM and the host carry on. Uses :func:`virtlab.virt.vm` and ``Guest.crash()``."""
    import time

    from virtlab import virt

    dl = Deadline(timeout, "guest panic demo")
    tag = f"{os.getpid() % 100000}"
    host_boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    with virt.vm(name=f"sec-neighbour-{tag}", boot_timeout=min(90, int(dl.remaining()))) as other, \
            virt.vm(name=f"sec-victim-{tag}", boot_timeout=min(90, int(dl.remaining()))) as victim:
        before = other.run("cat /proc/uptime").output.split()[0]
        crash = victim.crash(timeout=max(5.0, min(30.0, dl.remaining())))
        time.sleep(0.5)
        after = other.run("cat /proc/uptime")
        victim_state = virt.state_name(victim.dom)
        out = {
            "accelerator": victim.accelerator.name if hasattr(victim.accelerator, "name") else "",
            "guest_release": victim.marker.get("release"),
            "host_release": os.uname().release,
            "victim_state": victim_state,
            "panic_console": [ln.strip() for ln in crash.get("console", []) if "Kernel panic" in ln][-1:]
            or [ln.strip() for ln in crash.get("console", [])][-1:],
            "panic_reported_s": crash.get("seconds"),
            "neighbour_state": virt.state_name(other.dom),
            "neighbour_answers": after.rc == 0,
            "neighbour_uptime_before_s": float(before),
            "neighbour_uptime_after_s": float(after.output.split()[0]),
            "host_same_boot": Path("/proc/sys/kernel/random/boot_id").read_text().strip() == host_boot,
        }
    return out


@modes.demo("security.panic", section="libvirt")
def demo_panic(backend: modes.Backend) -> dict[str, Any]:
    return guest_panic()


def show_panic(r: modes.Result) -> None:
    d = r.data
    _print_kv([
        ("guest kernel", f"Linux {d['guest_release']} (its own; the host runs Linux {d['host_release']})"),
        ("victim after sysrq-c", f"{d['victim_state']}  ← libvirt saw the guest kernel panic"),
        ("victim's last console line", (d["panic_console"] or ["-"])[-1]),
        ("neighbour VM", f"{d['neighbour_state']}, answers: {'yes' if d['neighbour_answers'] else 'no'}"),
        ("neighbour kept counting", "yes" if d["neighbour_uptime_after_s"] > d["neighbour_uptime_before_s"] else "no"),
        ("host rebooted?", "no — same boot id" if d["host_same_boot"] else "YES"),
    ])


# --------------------------------------------------------------------------- views
def _print_kv(rows: list[tuple[str, Any]]) -> None:
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")


def show_kernel(r: modes.Result) -> None:
    d = r.data
    _print_kv([("host: uname -r", f"Linux {d['host_release']}"),
               ("in new namespaces: uname -r", f"Linux {d['ns_release']}"),
               ("same /proc/version text", "yes" if d["ns_version"] == d["host_version"] else "no"),
               ("same kernel", "yes — one kernel serves both" if d["same_kernel"] else "no"),
               ("kernel.panic_on_oops", d["oops_knobs"].get("panic_on_oops")),
               ("kernel.panic (s before reboot)", d["oops_knobs"].get("panic"))])


def show_attempts(r: modes.Result | dict[str, Any]) -> None:
    """Print the probe's result: one line per attempt, with errno and reason."""
    d = r.data if isinstance(r, modes.Result) else r
    print(f"runner: {d['runner']}")
    print(f"uid map (inside → host): {d['uid_map']}   seccomp mode: {d['seccomp']}   "
          f"PID 1 it sees: {d.get('pid1') or '?'}")
    print(f"effective capabilities inside: {len(d['cap_eff'])}")
    print()
    for a in d["attempts"]:
        mark = "✗ blocked" if a["status"] != 0 else "✓ worked "
        print(f"{mark}  {a['action']}")
        print(f"           {a['errno'] or 'ok'}: {a['reason']}")


def root_equivalence(probe_data: dict[str, Any]) -> dict[str, list[str]]:
    """Which of the :data:`DANGEROUS` capabilities a probe run had, and which it lacked."""
    caps = set(probe_data["cap_eff"])
    return {"has": [c for c in DANGEROUS if c in caps], "lacks": [c for c in DANGEROUS if c not in caps]}


def show_lxd(r: modes.Result) -> None:
    """Both LXD runs: the must-fail attempts (unprivileged), the counterparts (privileged)."""
    d = r.data
    show_attempts(d["unprivileged"])
    pol = [ln for ln in d["unprivileged"].get("seccomp_policy", []) if "errno" in ln]
    print(f"LXD's seccomp policy for it: {', '.join(pol) or 'not readable'}")
    dev = d["unprivileged"].get("device_cgroup")
    if dev:
        print(f"its device cgroup: {', '.join(dev)}")
    print()
    p = d["privileged"]
    show_attempts(p)
    dev = p.get("device_cgroup")
    if dev:
        print(f"its device cgroup allows {len(dev)} entries: {', '.join(dev)}")
    eq = root_equivalence(p)
    print(f"dangerous capabilities it holds in the host's user namespace: "
          f"{', '.join('cap_' + c for c in eq['has'])}")
    print(f"... and the few LXD still drops: {', '.join('cap_' + c for c in eq['lacks']) or 'none'}")


def show_privileged(r: modes.Result) -> None:
    """The harmless counterparts as host root and in a privileged mini container, side by side."""
    host = {a["name"]: a for a in r.data["host"]["attempts"]}
    cont = {a["name"]: a for a in r.data["container"]["attempts"]}
    print(f"{'counterpart (harmless)':<70} {'host root':<10} privileged container")
    for name in HARMLESS:
        h, c = host.get(name), cont.get(name)
        cell = [("ok" if x["status"] == 0 else x["errno"] or "failed") if x else "-" for x in (h, c)]
        print(f"{ATTEMPTS[name][0]:<70} {cell[0]:<10} {cell[1]}")
    c = r.data["container"]
    eq = root_equivalence(c)
    print(f"\ncontainer uid map: {c['uid_map']}; capabilities: {len(c['cap_eff'])}, including "
          f"{', '.join('cap_' + x for x in eq['has'])}")


def show_surface(r: modes.Result) -> None:
    d = r.data
    print(f"system calls a process can make (libseccomp's x86-64 table): {d['syscalls_libseccomp']} "
          f"(highest number {d['syscall_max_nr']})")
    print(f"  cross-check, kernel headers installed here: {d['syscalls_headers']} __NR_ entries")
    x86 = d["hypercalls_x86"]
    print(f"KVM hypercalls in <linux/kvm_para.h>: {len(d['hypercalls_all'])} "
          f"(all architectures), {len(x86)} on x86 ({len(d['hypercalls_x86_active'])} of them not deprecated):")
    print("  " + ", ".join(sorted(x86, key=x86.get)))
    if d["qemu"]:
        print("devices a QEMU guest can reach (info qtree, no disk, no NIC):")
        for m in d["qemu"]:
            fdc = "yes" if "isa-fdc" in m["models"] else "no"
            print(f"  {m['machine']:<8} {m['devices']:>3} devices, {len(m['models']):>2} models; "
                  f"floppy controller (VENOM): {fdc}")
    else:
        print(f"QEMU devices: not measured ({d['qemu_error']})")


def surface_figure(r: modes.Result) -> Any:
    """Bar chart: syscalls vs hypercalls vs emulated device models (log scale)."""
    from virtlab import plots

    d = r.data
    labels = ["syscalls\n(container → kernel)", "KVM hypercalls\n(x86)"]
    values = [d["syscalls_libseccomp"], len(d["hypercalls_x86"])]
    for m in d["qemu"]:
        labels.append(f"QEMU device\nmodels ({m['machine']})")
        values.append(len(m["models"]))
    fig = plots.figure(figsize=(7, 3.2))
    ax = fig.subplots()
    ax.bar(labels, values, color=["#c0504d", "#4f81bd"] + ["#9bbb59"] * len(d["qemu"]))
    for i, v in enumerate(values):
        ax.text(i, v, str(v), ha="center", va="bottom")
    ax.set_ylabel("count (log scale)")
    ax.set_yscale("log")
    ax.set_ylim(1, max(values) * 3)
    ax.set_title("Interfaces an isolated workload can reach, measured here")
    fig.tight_layout()
    return fig


def show_capabilities(r: modes.Result) -> None:
    d = r.data
    _print_kv([("where", d["where"]),
               ("capabilities before", f"{len(decode_caps(d['cap_eff_before']))}"),
               ("raw socket before", d["raw_socket_before"]),
               ("capset(2) dropping", ", ".join("cap_" + c for c in d["dropped"]) + f" → {d['capset']}"),
               ("capabilities after", f"{len(decode_caps(d['cap_eff_after']))}"),
               ("raw socket after", d["raw_socket_after"])])


def show_seccomp(r: modes.Result | dict[str, Any]) -> None:
    d = r.data if isinstance(r, modes.Result) else r
    for key in ("errno", "kill"):
        s = d[key] if key in d else d
        b, a = s["status_before"], s.get("status_after", {})
        print(f"filter: {s['syscall']} → {'EPERM' if s['action'] == 'errno' else 'kill (SIGSYS)'}")
        print(f"  before: {s['syscall']}() → {s['before']}   (Seccomp: {b.get('Seccomp')}, "
              f"NoNewPrivs: {b.get('NoNewPrivs')})")
        print(f"  after:  {s['syscall']}() → {s['after']}   (Seccomp: {a.get('Seccomp')}, "
              f"filters: {a.get('Seccomp_filters')}, NoNewPrivs: {a.get('NoNewPrivs')})")
        print(f"  exit status of the child: {s['exit_status']}"
              + (f" (killed by {s['signal']})" if s.get("signal") else ""))
        if key not in d:
            break


def show_lsm(r: modes.Result) -> None:
    d = r.data
    aa, se = d["apparmor"], d["selinux"]
    built = {"y": "built in", "n": "not built in", "?": "unknown (no /proc/config.gz)"}
    _print_kv([
        ("active LSMs", ", ".join(d["active"]) if d["active"] else "unknown (securityfs not mounted)"),
        ("AppArmor", f"{built.get(aa['built_in'], aa['built_in'])}; enabled: {aa['enabled']}"),
        ("SELinux", f"{built.get(se['built_in'], se['built_in'])}; enforcing: {se['enforcing']}"),
        ("Landlock ABI", d["landlock_abi"]),
        ("Yama ptrace_scope", d["yama_ptrace_scope"] if d["yama_ptrace_scope"] is not None else "absent"),
    ])


# --------------------------------------------------------------------------- cleanup
def cleanup() -> list[str]:
    """Remove scratch directories the probes left (only ``vl-sec-*`` in the temp dir)."""
    removed = []
    tmp = Path(tempfile.gettempdir())
    for d in tmp.glob(f"{PREFIX}sec-*"):
        if d.is_dir() and not d.is_symlink() and owners.path_is_mine(d):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    return removed


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
