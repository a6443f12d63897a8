"""What a process sees inside a set of namespaces (``view``), compared with the host's view; start-
up cost.
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from typing import Any

from virtlab import modes
from virtlab.namespaces.launcher import run, run_command
from virtlab.namespaces.procns import TYPES, observe, validate_types
from virtlab.safety import check_int


def unprivileged_for_mode(section: str = "namespaces") -> bool:
    """Live mode as root runs as root; otherwise an unprivileged user (uid 65534 when root)."""
    b = modes.resolve(section)
    if b.mode == "recorded":
        raise modes.CapabilityMissing(section, "embedded", b.reason or "no user namespaces here",
                                      "use a lab VM or a machine that allows unprivileged user namespaces")
    return not b.privileged


def view(types: Iterable[str], *, unprivileged: bool | None = None, hostname: str | None = None,
         boottime_offset: int | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """What a child in new namespaces ``types`` sees (:func:`observe` run inside).

    ``unprivileged=None`` follows the mode: root in live mode, uid 65534 otherwise.
    """
    types = validate_types(types)
    if unprivileged is None:
        unprivileged = unprivileged_for_mode()
    if hostname is None and "uts" in types:
        hostname = "vl-inside"
    seen = run(observe, types, unprivileged=unprivileged, hostname=hostname,
               boottime_offset=boottime_offset, timeout=timeout)
    seen["requested"] = list(types)
    return seen


def _fmt(v: Any) -> str:
    return ", ".join(v) if isinstance(v, list) else str(v)


def compare_views(host: dict[str, Any], child: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """Rows (what, host, child, same?) for the namespace explorer — pure, no side effects."""
    rows = []
    for key, label in (("hostname", "hostname"), ("pid", "my pid"), ("uid", "my uid"),
                       ("uid_map", "uid map"), ("interfaces", "network interfaces"),
                       ("visible_processes", "processes visible"), ("mounts", "mount points"),
                       ("uptime_days", "uptime (days)")):
        h, c = host.get(key), child.get(key)
        rows.append((label, _fmt(h), _fmt(c), h == c))
    for t in TYPES:
        h, c = host.get("ns", {}).get(t), child.get("ns", {}).get(t)
        rows.append((f"{t} namespace", f"{t}:[{h}]", f"{t}:[{c}]", h == c))
    return rows


# --------------------------------------------------------------------------- benchmark
def bench_start(types: Iterable[str] = ("uts", "ipc", "pid", "net", "mnt"), n: int = 30) -> dict[str, Any]:
    """Median wall time to run ``/bin/true`` in fresh namespaces: virtlab vs ``unshare(1)``.

    Interleaved runs, same namespace set (``unshare --fork`` since pid is included).
    """
    types = validate_types(types)
    check_int(n, minimum=3, maximum=1000, what="n")
    opt = {"mnt": "--mount", "uts": "--uts", "ipc": "--ipc", "pid": "--pid", "net": "--net",
           "user": "--user", "cgroup": "--cgroup", "time": "--time"}
    ua = ["unshare", *(opt[t] for t in types), "--fork", "--", "/bin/true"]
    if "pid" in types and "mnt" in types:
        ua.insert(-2, "--mount-proc")
    tv, tu = [], []
    for _ in range(n):
        t = time.perf_counter()
        r = run_command(["/bin/true"], types)
        tv.append(time.perf_counter() - t)
        assert r.returncode == 0, r
        t = time.perf_counter()
        subprocess.run(ua, check=True, timeout=10)
        tu.append(time.perf_counter() - t)
    tv.sort()
    tu.sort()
    mv, mu = tv[n // 2], tu[n // 2]
    return {"types": list(types), "n": n, "virtlab_median_s": mv, "unshare1_median_s": mu,
            "ratio": mv / mu, "unshare_argv": ua}
