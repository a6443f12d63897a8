"""Kernel-side confinement: seccomp filters (blocking a syscall) and the active LSMs (AppArmor,
SELinux, Landlock).
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
from pathlib import Path
from typing import Any

from virtlab import PREFIX, core, probe, rootfs
from virtlab.safety import Deadline, VirtlabError
from virtlab.security.attempts import _ns_command

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
        res = core.run([sys.executable, "-c", _SECCOMP_CHILD, syscall, action,
                        os.path.join(scratch, "d")], dl)
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
