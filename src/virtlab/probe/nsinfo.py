"""Which namespaces this user can create (a real ``unshare`` attempt in a child), and the busybox
the course uses.
"""
from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from virtlab import _sys
from virtlab.probe.basics import is_root

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
