"""What a process sees inside a set of namespaces (``view``), compared with the host's view; start-
up cost.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Iterable
from typing import Any

from virtlab import modes
from virtlab.namespaces.direct import start_path
from virtlab.namespaces.launcher import _spec, run, run_command
from virtlab.namespaces.procns import TYPES, NamespaceError, observe, validate_types
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
#: the namespace-start goal of issue #17: virtlab within this factor of unshare(1)
START_RATIO_GOAL = 1.5


def _quantile(sorted_xs: list[float], q: float) -> float:
    """Linear-interpolated quantile of an already sorted list."""
    pos = (len(sorted_xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def bench_start(types: Iterable[str] = ("uts", "ipc", "pid", "net", "mnt"), n: int = 31) -> dict[str, Any]:
    """Wall time to run ``/bin/true`` in fresh namespaces: :func:`run_command` vs ``unshare(1)``.

    Side by side in one run: ``n`` pairs after one warm-up pair, the order inside each pair
    alternating, the same namespace set (``unshare --fork``, and ``--mount-proc`` with pid+mnt, as
    :func:`run_command` does). A non-root caller gets a user namespace in both (``--map-root-user``).
    The result is the median of the per-pair ratios virtlab/unshare(1) — a noisy neighbour slows
    both halves of a pair alike — with its spread (quartiles, min, max), and each side's median.
    ``path`` says how virtlab started its children here (``clone`` or ``fork``, see :func:`launch`).
    """
    types = validate_types(types)
    check_int(n, minimum=3, maximum=1000, what="n")
    if os.getuid() != 0 and "user" not in types:
        types = validate_types((*types, "user"))
    opt = {"mnt": "--mount", "uts": "--uts", "ipc": "--ipc", "pid": "--pid", "net": "--net",
           "user": "--user", "cgroup": "--cgroup", "time": "--time"}
    ua = ["unshare", *(opt[t] for t in types), "--fork", "--", "/bin/true"]
    if "pid" in types and "mnt" in types:
        ua.insert(-2, "--mount-proc")
    if "user" in types:
        ua.insert(-2, "--map-root-user")

    def virtlab_once() -> float:
        t = time.perf_counter()
        r = run_command(["/bin/true"], types)
        dt = time.perf_counter() - t
        if r.returncode != 0:
            raise NamespaceError(f"/bin/true in namespaces {list(types)} failed: {r}")
        return dt

    def unshare_once() -> float:
        t = time.perf_counter()
        subprocess.run(ua, check=True, timeout=10)
        return time.perf_counter() - t

    virtlab_once(), unshare_once()  # warm-up: page cache, the libc handle
    tv, tu = [], []
    for i in range(n):
        if i % 2:
            tu.append(unshare_once())
            tv.append(virtlab_once())
        else:
            tv.append(virtlab_once())
            tu.append(unshare_once())
    pairs = sorted(v / u for v, u in zip(tv, tu, strict=True))
    ratio = statistics.median(pairs)
    path = start_path(_spec(types))
    return {"types": list(types), "n": n, "virtlab_median_s": statistics.median(tv),
            "unshare1_median_s": statistics.median(tu), "ratio": ratio,
            "ratio_q1": _quantile(pairs, 0.25), "ratio_q3": _quantile(pairs, 0.75),
            "ratio_min": pairs[0], "ratio_max": pairs[-1], "goal": START_RATIO_GOAL,
            "path": path, "unshare_argv": ua}


def format_bench_start(b: dict[str, Any]) -> str:
    """One line: the ratio, its spread and both medians."""
    return (f"namespace start ({','.join(b['types'])}; {b['path']} path): virtlab / unshare(1) = "
            f"{b['ratio']:.2f} median of {b['n']} pairs (quartiles {b['ratio_q1']:.2f}-{b['ratio_q3']:.2f}, "
            f"range {b['ratio_min']:.2f}-{b['ratio_max']:.2f}); medians {b['virtlab_median_s'] * 1e3:.2f} ms vs "
            f"{b['unshare1_median_s'] * 1e3:.2f} ms; goal <= {b['goal']}")
