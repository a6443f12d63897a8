"""Linux capabilities: names, decoding masks, a process's sets, dropping one (the CAP_NET_RAW demo).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from virtlab import core, probe
from virtlab.safety import Deadline, VirtlabError

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
    res = core.run([sys.executable, "-c", _CAPS_CHILD, how], dl)
    if res.returncode != 0:
        raise VirtlabError(f"the capability child failed: {res.stderr.strip()[-300:]}")
    out = json.loads(res.stdout)
    out["where"] = where
    out["dropped"] = sorted(set(decode_caps(out["cap_eff_before"])) - set(decode_caps(out["cap_eff_after"])))
    return out
