"""The attack-surface probe: a busybox script of harmless privileged attempts, run in each isolation
kind, parsed and explained.
"""
from __future__ import annotations

import errno as _errno
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from virtlab import PREFIX, core, probe, rootfs
from virtlab.safety import Deadline, VirtlabError
from virtlab.security.caps import decode_caps

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
        res = core.run(cmd + probe_command("unprivileged", busybox=str(rootfs.busybox_path()),
                                           scratch=str(d)), dl)
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
        res = core.run(["unshare", "--mount", "--propagation", "private", "--"]
                       + probe_command("privileged", busybox=str(rootfs.busybox_path()),
                                       scratch=str(d)), dl)
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
