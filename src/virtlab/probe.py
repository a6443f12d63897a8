"""What this machine can do — every answer comes from actually trying, with a short timeout.

``capabilities()`` returns a :class:`Capabilities` record; ``virtlab doctor`` prints it. Each
individual check is cached per process (``refresh=True`` re-runs it), because notebooks ask
often and the first ``qemu:///system`` connection can take several seconds.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import platform
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from virtlab import PREFIX, _sys, daemons

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "io", "freezer", "devices")
#: default sockets of LXD (Debian, snap) and Incus; the order and the env vars: virtlab.daemons
LXD_SOCKETS = tuple(s for d in daemons.DAEMONS.values() for s in d.sockets)
LIBVIRT_URIS = ("qemu:///system", "test:///default")

# KVM ioctls (linux/kvm.h): _IO(0xAE, n)
KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_CHECK_EXTENSION = 0xAE03


def _with_timeout(fn: Callable[[], Any], seconds: float, what: str) -> Any:
    """Run ``fn`` in a daemon thread; raise TimeoutError if it has not finished in time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = err

    t = threading.Thread(target=run, daemon=True, name=f"virtlab-probe-{what}")
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise TimeoutError(f"{what}: no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# --------------------------------------------------------------------------- kernel & host
def kernel() -> dict[str, str]:
    u = os.uname()
    osname = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {"release": u.release, "machine": u.machine, "os": osname,
            "python": platform.python_version()}


def is_root() -> bool:
    return os.geteuid() == 0


# --------------------------------------------------------------------------- cgroups
@dataclass
class CgroupInfo:
    layout: str  # "v2", "v1", "hybrid" or "none"
    v2_mount: str | None
    v2_controllers: list[str]
    v1_controllers: dict[str, str]  # controller -> mount point
    writable: bool  # a course cgroup could be created and removed (live proof)
    detail: str = ""
    #: where course cgroups go, per hierarchy ("unified" or a v1 controller): the mount points
    #: for root; for anyone else the subtree provisioning delegated to them (may be empty)
    bases: dict[str, str] = field(default_factory=dict)
    #: not root, and a delegated course subtree is writable (live proof)
    delegated: bool = False


#: provisioning delegates ``<hierarchy>/virtlab-learners/<user>`` to each learner (owned by them)
DELEGATED_DIR = "virtlab-learners"


def _user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _own_v2_cgroup(v2_mount: str) -> Path | None:
    """This process's cgroup in the cgroup2 hierarchy (from /proc/self/cgroup)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hid, _, rest = line.partition(":")
            ctrls, _, path = rest.partition(":")
            if hid == "0" and ctrls == "":
                return Path(v2_mount) / path.lstrip("/")
    except OSError:
        pass
    return None


def _delegated_bases(v1: dict[str, str], v2_mount: str | None) -> dict[str, str]:
    """The subtrees delegated to this (non-root) user: writable dirs owned by them."""
    user = _user_name()
    bases: dict[str, str] = {}
    for ctrl, mnt in v1.items():
        d = Path(mnt) / DELEGATED_DIR / user
        if d.is_dir() and os.access(d, os.W_OK | os.X_OK) and os.access(d / "cgroup.procs", os.W_OK):
            bases[ctrl] = str(d)
    if v2_mount:
        d = Path(v2_mount) / DELEGATED_DIR / user
        own = _own_v2_cgroup(v2_mount)
        # cgroup v2 moves a process only where the writer may write the common ancestor's
        # cgroup.procs: the delegation is usable once this process already lives inside it
        if d.is_dir() and os.access(d, os.W_OK | os.X_OK) and own is not None and (
                own == d or d in own.parents):
            bases["unified"] = str(d)
    return bases


def _mounts() -> list[tuple[str, str, str]]:
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4:
            out.append((parts[1], parts[2], parts[3]))  # mountpoint, fstype, options
    return out


def cgroups(refresh: bool = False) -> CgroupInfo:
    if refresh:
        _cgroups.cache_clear()
    return _cgroups()


@functools.lru_cache(maxsize=1)
def _cgroups() -> CgroupInfo:
    v2_mount = None
    v1: dict[str, str] = {}
    for mnt, fstype, opts in _mounts():
        if fstype == "cgroup2" and v2_mount is None:
            v2_mount = mnt
        elif fstype == "cgroup":
            for c in opts.split(","):
                if c in V1_CONTROLLERS:
                    v1[c] = mnt
    v2_ctrl: list[str] = []
    if v2_mount:
        try:
            v2_ctrl = Path(v2_mount, "cgroup.controllers").read_text().split()
        except OSError:
            pass
    if v2_mount and not v1:
        layout = "v2"
    elif v2_mount and v1:
        layout = "hybrid"
    elif v1:
        layout = "v1"
    else:
        layout = "none"
    if is_root():
        bases = dict(v1)
        if v2_mount:
            bases["unified"] = v2_mount
    else:
        bases = _delegated_bases(v1, v2_mount)
    # Live proof: make and remove a course cgroup where the memory controller lives.
    target = None
    if "memory" in v2_ctrl and v2_mount:
        target = Path(bases["unified"]) if "unified" in bases else None
    elif "memory" in v1:
        target = Path(bases["memory"]) if "memory" in bases else None
    writable = False
    detail = ""
    if target is None and not is_root() and ("memory" in v1 or "memory" in v2_ctrl):
        detail = (f"no cgroup subtree delegated to {_user_name()} "
                  f"(<cgroup mount>/{DELEGATED_DIR}/{_user_name()})")
    elif target is not None:
        probe_dir = target / f"{PREFIX}probe-{uuid.uuid4().hex[:8]}"
        try:
            probe_dir.mkdir()
            writable = True
            probe_dir.rmdir()
        except OSError as err:
            detail = f"cannot create a cgroup under {target}: {err.strerror}"
    else:
        detail = "no memory controller is mounted"
    return CgroupInfo(layout, v2_mount, v2_ctrl, v1, writable, detail, bases,
                      delegated=writable and not is_root())


# --------------------------------------------------------------------------- busybox
BUSYBOX_FIX = ("install a static busybox: `sudo apt-get install busybox-static` (Debian/Ubuntu), or "
               "run `make lab` / `make setup`, which fetches Debian's busybox-static into the "
               "course's data folder without root")


def busybox() -> str | None:
    """Path of a static busybox the course can use, or None."""
    from virtlab import rootfs

    try:
        return str(rootfs.busybox_path())
    except rootfs.MissingTool:
        return None


# --------------------------------------------------------------------------- namespaces
_NS_PROBE = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
flags = json.loads(sys.argv[1]); drop = sys.argv[2] == "1"
out = {}
for name, flag in flags.items():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if drop:
                os.setgroups([]); os.setgid(65534); os.setuid(65534)
            rc = libc.unshare(ctypes.c_int(flag))
            msg = "ok" if rc == 0 else os.strerror(ctypes.get_errno())
        except OSError as e:
            msg = str(e)
        os.write(w, msg.encode()); os._exit(0)
    os.close(w)
    msg = os.read(r, 200).decode(); os.close(r); os.waitpid(pid, 0)
    out[name] = msg
print(json.dumps(out))
"""


def _try_unshare(drop_privileges: bool, flags: dict[str, int]) -> dict[str, str]:
    res = subprocess.run(
        [sys.executable, "-c", _NS_PROBE, json.dumps(flags), "1" if drop_privileges else "0"],
        capture_output=True, text=True, timeout=10, check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"namespace probe failed: {res.stderr.strip()[-300:]}")
    return json.loads(res.stdout)


@dataclass
class NamespaceInfo:
    #: type -> "ok" or the error unshare(2) gave, tried as the current user
    as_current_user: dict[str, str]
    #: could an unprivileged user (uid 65534 when we are root) create a user namespace?
    unprivileged_userns: bool
    unprivileged_detail: str
    #: namespace types an unprivileged user can create *inside* its own user namespace
    usable: list[str] = field(default_factory=list)


def namespaces(refresh: bool = False) -> NamespaceInfo:
    if refresh:
        _namespaces.cache_clear()
    return _namespaces()


@functools.lru_cache(maxsize=1)
def _namespaces() -> NamespaceInfo:
    current = _try_unshare(False, _sys.NAMESPACE_FLAGS)
    unpriv = _try_unshare(is_root(), {"user": _sys.CLONE_NEWUSER})["user"]
    usable = [k for k, v in current.items() if v == "ok"]
    detail = "ok" if unpriv == "ok" else unpriv
    for knob in ("/proc/sys/kernel/unprivileged_userns_clone", "/proc/sys/user/max_user_namespaces"):
        try:
            val = Path(knob).read_text().strip()
            if unpriv != "ok":
                detail += f"; {knob} = {val}"
        except OSError:
            pass
    return NamespaceInfo(current, unpriv == "ok", detail, usable)


# --------------------------------------------------------------------------- KVM
@dataclass
class KvmInfo:
    present: bool
    api_usable: bool
    api_version: int | None
    vmx_svm: bool
    pvm: bool  # kvm-pvm (nested virtualisation without VT-x) is loaded
    accelerator: str  # "kvm" or "tcg" for libvirt guests
    reason: str


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def accelerator_rule(kvm_available: bool, vmx_svm: bool) -> str:
    """The course's one KVM-or-TCG rule: "kvm" only when KVM is available *and* the CPU shows
    vmx/svm (kvm-pvm offers /dev/kvm without them, and a Linux guest then fails), else "tcg"."""
    return "kvm" if kvm_available and vmx_svm else "tcg"


@dataclass(frozen=True)
class VmAccelerator:
    name: str  # "kvm" or "tcg"
    reason: str
    source: str  # what was asked: libvirt's domain capabilities, or /dev/kvm as this user


def vm_accelerator(refresh: bool = False) -> VmAccelerator:
    """What libvirt guests use here. Asks libvirt itself (``getDomainCapabilities`` for
    ``kvm``) when qemu:///system answers — QEMU runs as libvirt's user, so the notebook user's
    own access to /dev/kvm says nothing — and /dev/kvm as this user otherwise."""
    if refresh:
        _vm_accelerator.cache_clear()
    return _vm_accelerator()


@functools.lru_cache(maxsize=1)
def _vm_accelerator() -> VmAccelerator:
    k = kvm()
    lv = libvirt_info().uris.get("qemu:///system", {}) if _daemons_wanted() else {}
    if lv.get("ok"):
        import libvirt

        def ask() -> bool:
            conn = libvirt.open("qemu:///system")
            try:
                conn.getDomainCapabilities(None, "x86_64", None, "kvm", 0)
                return True
            except libvirt.libvirtError:
                return False
            finally:
                conn.close()

        try:
            libvirt_kvm = bool(_with_timeout(ask, 30, "libvirt domain capabilities"))
        except Exception:  # noqa: BLE001 - then fall back on /dev/kvm below
            libvirt_kvm = None
        if libvirt_kvm is not None:
            name = accelerator_rule(libvirt_kvm, k.vmx_svm)
            if name == "kvm":
                why = "libvirt offers KVM and the CPU has vmx/svm"
            elif libvirt_kvm:
                why = ("libvirt offers KVM, but the CPU shows no vmx/svm flag"
                       + (" (KVM is provided by kvm-pvm, nested virtualisation without VT-x)" if k.pvm else "")
                       + ": a tiny real-mode guest runs, an unmodified Linux guest does not, so "
                       "libvirt guests use TCG (QEMU's software emulation)")
            else:
                why = "libvirt cannot use KVM here: libvirt guests use TCG (QEMU's software emulation)"
            return VmAccelerator(name, why, "libvirt domain capabilities (qemu:///system)")
    return VmAccelerator(k.accelerator, k.reason, "/dev/kvm, opened as this user")


def kvm(refresh: bool = False) -> KvmInfo:
    if refresh:
        _kvm.cache_clear()
    return _kvm()


@functools.lru_cache(maxsize=1)
def _kvm() -> KvmInfo:
    present = os.path.exists("/dev/kvm")
    flags = cpu_flags()
    vmx_svm = bool({"vmx", "svm"} & flags)
    pvm = Path("/sys/module/kvm_pvm").exists()
    api_version = None
    usable = False
    why = ""
    if present:
        try:
            fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
            try:
                api_version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
                vm_fd = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
                os.close(vm_fd)
                usable = api_version == 12
                if not usable:
                    why = f"KVM API version {api_version}, expected 12"
            finally:
                os.close(fd)
        except OSError as err:
            why = f"/dev/kvm: {err.strerror}"
    else:
        why = "/dev/kvm does not exist (no KVM module, or a container/Binder without the device)"
    if accelerator_rule(usable, vmx_svm) == "kvm":
        accel, reason = "kvm", "/dev/kvm answers the KVM API and the CPU has vmx/svm"
    elif usable:
        accel = "tcg"
        reason = ("/dev/kvm answers the KVM API, but the CPU shows no vmx/svm flag"
                  + (" (KVM is provided by kvm-pvm, nested virtualisation without VT-x)" if pvm else "")
                  + ": a tiny real-mode guest runs, an unmodified Linux guest does not, so libvirt "
                  "guests use TCG (QEMU's software emulation)")
    else:
        accel, reason = "tcg", f"KVM is not usable ({why}): libvirt guests use TCG"
    return KvmInfo(present, usable, api_version, vmx_svm, pvm, accel, reason)


# --------------------------------------------------------------------------- LXD
@dataclass
class LxdInfo:
    reachable: bool
    socket: str | None
    version: str | None = None
    storage_pools: list[str] = field(default_factory=list)
    course_images: list[str] = field(default_factory=list)
    error: str = ""
    fix: str = ""
    server: str = "lxd"  # which daemon answered: "lxd" or "incus" (virtlab.daemons)
    differences: list[str] = field(default_factory=list)  # daemons.Difference keys that apply

    @property
    def title(self) -> str:
        """How the daemon that answered calls itself: "LXD" or "Incus" (for banners)."""
        d = daemons.DAEMONS.get(self.server)
        return d.title if d else self.server


def lxd_socket_candidates() -> list[str]:
    """Sockets of LXD and Incus the course tries, in order (see :mod:`virtlab.daemons`)."""
    return [sock for _, sock in daemons.socket_candidates()]


def container_daemons(timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every candidate socket of LXD and Incus (snap paths, ``LXD_DIR``/``INCUS_DIR`` included):
    whether it exists, which daemon answers there (``GET /1.0`` → ``environment.server``), its
    version and which API differences of :mod:`virtlab.daemons` apply. Ignores
    ``VIRTLAB_CONTAINER_DAEMON`` (that only picks among these). Never raises."""
    from virtlab import daemons

    cands: list[str] = []
    for d in daemons.DAEMONS.values():
        cands.extend(s for s in d.socket_candidates() if s not in cands)
    out: list[dict[str, Any]] = []
    for sock in cands:
        row: dict[str, Any] = {"socket": sock, "exists": os.path.exists(sock), "server": None,
                               "version": None, "differences": [], "error": ""}
        out.append(row)
        if not row["exists"]:
            continue

        def ask(sock: str = sock) -> dict[str, Any]:
            import pylxd

            return pylxd.Client(endpoint=sock, timeout=timeout).host_info.get("environment", {})

        try:
            env = _with_timeout(ask, timeout + 1, "container daemon")
            d = daemons.by_server(env.get("server"))
            row.update(server=d.key, version=env.get("server_version"),
                       differences=[x.key for x in d.differences])
        except Exception as err:  # noqa: BLE001 - reported, never raised
            row["error"] = f"{type(err).__name__}: {err}"[:200]
    return out


def lxd(refresh: bool = False) -> LxdInfo:
    if refresh:
        _lxd.cache_clear()
    return _lxd()


LXD_FIX = ("install and start LXD, e.g. `sudo labs/lab-vm/provision.sh` "
           "(or `make provision`), then add yourself to the `lxd` group and log in again")


@functools.lru_cache(maxsize=1)
def _lxd() -> LxdInfo:
    try:
        socks = [s for s in lxd_socket_candidates() if os.path.exists(s)]
    except ValueError as err:  # VIRTLAB_CONTAINER_DAEMON names no daemon
        return LxdInfo(False, None, error=str(err), fix="set VIRTLAB_CONTAINER_DAEMON=lxd or incus")
    if not socks:
        return LxdInfo(False, None, error="no LXD socket found (" + ", ".join(
            lxd_socket_candidates()) + ")", fix=LXD_FIX)
    sock = socks[0]
    if not os.access(sock, os.R_OK | os.W_OK):
        return LxdInfo(False, sock, error=f"permission denied on {sock}",
                       fix="add yourself to the `lxd` group (`sudo adduser $USER lxd`) and log in again")
    try:
        import pylxd  # noqa: F401
    except ImportError:
        return LxdInfo(False, sock, error="the Python package pylxd is not installed",
                       fix="run `make lab` (it installs the course's Python packages)")

    def ask() -> LxdInfo:
        import pylxd

        client = pylxd.Client(endpoint=sock, timeout=5)
        env = client.host_info.get("environment", {})
        pools = [p.name for p in client.storage_pools.all()]
        images = []
        for img in client.images.all():
            props = img.properties or {}
            if props.get("virtlab.owner") or any(a.get("name", "").startswith(PREFIX) for a in img.aliases):
                images.extend(a["name"] for a in img.aliases) if img.aliases else images.append(img.fingerprint[:12])
        d = daemons.by_server(env.get("server"))
        want = daemons.wanted()
        if want is not None and want is not d:
            raise LookupError(f"{sock} is {d.title}, but {daemons.ENV_VAR}={want.key}")
        return LxdInfo(True, sock, env.get("server_version"), pools, sorted(images),
                       server=d.key, differences=[x.key for x in d.differences])

    try:
        return _with_timeout(ask, 8, "LXD")
    except Exception as err:  # noqa: BLE001 - reported, never raised
        return LxdInfo(False, sock, error=f"{type(err).__name__}: {err}"[:300], fix=LXD_FIX)


# --------------------------------------------------------------------------- libvirt
@dataclass
class LibvirtInfo:
    python_binding: bool
    uris: dict[str, dict[str, Any]]  # uri -> {"ok": bool, "version": str, "error": str}
    fix: str = ""


def silence_libvirt() -> None:
    """Replace libvirt's default error handler (which prints to stderr) by a silent one."""
    try:
        import libvirt
    except ImportError:
        return
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def _libvirt_version(v: int) -> str:
    return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"


def libvirt_info(refresh: bool = False) -> LibvirtInfo:
    if refresh:
        _libvirt.cache_clear()
    return _libvirt()


LIBVIRT_FIX = ("install libvirt + QEMU and start libvirtd, e.g. `sudo labs/lab-vm/provision.sh`, "
               "then add yourself to the `libvirt` group and log in again")


def _libvirt_uri(uri: str) -> dict[str, Any]:
    """Try to connect to one libvirt URI, with a deadline; never raises."""
    try:
        import libvirt
    except ImportError:
        return {"ok": False, "error": "libvirt-python is not installed"}
    silence_libvirt()
    if uri == "qemu:///system" and not any(os.path.exists(p) for p in (
            "/var/run/libvirt/libvirt-sock", "/run/libvirt/libvirt-sock",
            "/var/run/libvirt/virtqemud-sock", "/run/libvirt/virtqemud-sock")):
        return {"ok": False, "error": "no libvirtd socket (daemon not running)"}

    def connect() -> dict[str, Any]:
        conn = libvirt.open(uri)
        try:
            return {"ok": True, "version": _libvirt_version(conn.getLibVersion()),
                    "hypervisor": conn.getType()}
        finally:
            conn.close()

    try:
        return _with_timeout(connect, 30 if uri.startswith("qemu") else 5, uri)
    except Exception as err:  # noqa: BLE001 - reported
        msg = err.get_error_message() if hasattr(err, "get_error_message") else str(err)
        return {"ok": False, "error": str(msg)[:300]}


@functools.lru_cache(maxsize=1)
def _libvirt() -> LibvirtInfo:
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return LibvirtInfo(False, {u: {"ok": False, "error": "libvirt-python is not installed"}
                                   for u in LIBVIRT_URIS},
                           fix="install libvirt-python (needs libvirt headers: `make lab` as root "
                               "on Debian/Ubuntu installs them); meanwhile libvirt cells run recorded")
    uris = {uri: _libvirt_uri(uri) for uri in LIBVIRT_URIS}
    fix = "" if uris["qemu:///system"]["ok"] else LIBVIRT_FIX
    return LibvirtInfo(True, uris, fix)


# --------------------------------------------------------------------------- hub
def hub() -> dict[str, bool]:
    env = os.environ
    return {
        "binder": any(k in env for k in ("BINDER_SERVICE_HOST", "BINDER_REQUEST", "BINDER_LAUNCH_HOST")),
        "jupyterhub": any(k in env for k in ("JUPYTERHUB_API_URL", "JUPYTERHUB_SERVICE_PREFIX")),
    }


# --------------------------------------------------------------------------- all together
@dataclass
class Capabilities:
    kernel: dict[str, str]
    root: bool
    cgroups: CgroupInfo
    namespaces: NamespaceInfo
    kvm: KvmInfo
    lxd: LxdInfo
    libvirt: LibvirtInfo
    hub: dict[str, bool]
    vm_accelerator: VmAccelerator

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def capabilities(refresh: bool = False) -> Capabilities:
    """Probe everything (cached per process)."""
    return Capabilities(
        kernel=kernel(), root=is_root(), cgroups=cgroups(refresh), namespaces=namespaces(refresh),
        kvm=kvm(refresh), lxd=lxd(refresh), libvirt=libvirt_info(refresh), hub=hub(),
        vm_accelerator=vm_accelerator(refresh),
    )


def summary_rows(c: Capabilities) -> list[tuple[str, str, str]]:  # noqa: C901
    """(capability, answer, how it was tested) rows for the doctor table and notebook 00."""
    cg = c.cgroups
    ns = c.namespaces
    where = ", ".join(f"{k}:v1" for k in sorted(cg.v1_controllers)) or "-"
    if cg.v2_controllers:
        where += "; v2: " + " ".join(cg.v2_controllers)
    rows = [
        ("kernel", f"Linux {c.kernel['release']} ({c.kernel['machine']}), {c.kernel['os']}", "uname, /etc/os-release"),
        ("root", "yes" if c.root else "no", "geteuid()"),
        ("cgroup layout", cg.layout, "/proc/self/mounts"),
        ("cgroup controllers", where, "cgroup mounts, cgroup.controllers"),
        ("cgroups writable", "yes" if cg.writable else f"no ({cg.detail})", "mkdir + rmdir of a course cgroup"),
        ("namespaces", ", ".join(f"{k}:{'ok' if v == 'ok' else 'no'}" for k, v in ns.as_current_user.items()),
         "unshare(2) of each type in a child"),
        ("unprivileged user ns", "yes" if ns.unprivileged_userns else f"no ({ns.unprivileged_detail})",
         f"unshare(CLONE_NEWUSER) as uid {65534 if c.root else os.getuid()}"),
        ("/dev/kvm", (f"usable (API {c.kvm.api_version})") if c.kvm.api_usable
         else ("present, not usable" if c.kvm.present else "absent"), "KVM_GET_API_VERSION + KVM_CREATE_VM"),
        ("vmx/svm CPU flags", "yes" if c.kvm.vmx_svm else "no", "/proc/cpuinfo"),
        ("libvirt guests use", f"{c.vm_accelerator.name.upper()}: {c.vm_accelerator.reason}",
         f"{c.vm_accelerator.source} + the CPU flags"),
        ("LXD/Incus", f"{c.lxd.title} {c.lxd.version} at {c.lxd.socket}; pools: {', '.join(c.lxd.storage_pools) or '-'}; "
         f"course images: {', '.join(c.lxd.course_images) or '-'}" if c.lxd.reachable else f"no ({c.lxd.error})",
         "GET /1.0 over the unix socket (pylxd)"),
    ]
    for uri, r in c.libvirt.uris.items():
        rows.append((f"libvirt {uri}", f"ok (libvirt {r.get('version')}, {r.get('hypervisor')})" if r.get("ok")
                     else f"no ({r.get('error')})", "virConnectOpen"))
    h = [k for k, v in c.hub.items() if v]
    rows.append(("Binder/JupyterHub", ", ".join(h) if h else "no", "environment variables"))
    return rows


def versions() -> dict[str, str]:
    """Versions of the lab services this machine runs (only those that answer)."""
    v: dict[str, str] = {}
    info = lxd()
    if info.reachable and info.version:
        v[info.server] = info.version  # "lxd" or "incus"
    lv = libvirt_info().uris.get("qemu:///system", {})
    if lv.get("ok"):
        v["libvirt"] = lv["version"]
    return v


def _daemons_wanted() -> bool:
    """In VIRTLAB_MODE=embedded/recorded the course never contacts a daemon."""
    return os.environ.get("VIRTLAB_MODE", "auto").strip().lower() in ("", "auto", "live")


def show() -> None:
    """Print this machine's capability table (what ``virtlab doctor`` prints).

    In ``embedded`` and ``recorded`` modes the LXD and libvirt daemons are not consulted, so the
    table says so instead of contacting them.
    """
    if _daemons_wanted():
        rows = summary_rows(capabilities())
    else:
        mode = os.environ.get("VIRTLAB_MODE", "").strip().lower()
        c = Capabilities(kernel(), is_root(), cgroups(), namespaces(), kvm(),
                         LxdInfo(False, None, error=f"not consulted (VIRTLAB_MODE={mode})"),
                         LibvirtInfo(True, {"qemu:///system": {"ok": False, "error": f"not consulted (VIRTLAB_MODE={mode})"},
                                            "test:///default": _libvirt_uri("test:///default")}), hub(),
                         VmAccelerator(kvm().accelerator, kvm().reason, "/dev/kvm, opened as this user"))
        rows = summary_rows(c)
    w = max(len(r[0]) for r in rows)
    for name, answer, how in rows:
        print(f"{name:<{w}}  {answer}")
        print(f"{'':<{w}}    tested by: {how}")
