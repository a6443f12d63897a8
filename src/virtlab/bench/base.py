"""The benchmark's vocabulary: targets, metrics, units, profiles, what is not measured where, the
reference data file.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from virtlab import PREFIX
from virtlab.safety import VirtlabError

TARGETS = ("host", "ns", "lxd", "vm")
#: measured only when asked for (``--targets vm,vm-stock``): the course VM with the
#: distribution's generic kernel instead of the course's minimal one, side by side
EXTRA_TARGETS = ("vm-stock",)
ALL_TARGETS = TARGETS + EXTRA_TARGETS


METRICS = ("start_s", "cpu_s", "memory_mib", "storage_mib", "net_rtt_us", "net_mbit_s")


UNITS = {"start_s": "s", "cpu_s": "s", "memory_mib": "MiB", "storage_mib": "MiB",
         "net_rtt_us": "µs", "net_mbit_s": "Mbit/s"}


LABELS = {"host": "host process", "ns": "namespaces + cgroup", "lxd": "LXD container",
          "vm": "libvirt VM", "vm-stock": "VM, stock kernel"}


NOT_MEASURED = {
    ("vm", "net_rtt_us"): "the course VM has no network device (loopback-only rule)",
    ("vm", "net_mbit_s"): "the course VM has no network device (loopback-only rule)",
    ("vm-stock", "net_rtt_us"): "the course VM has no network device (loopback-only rule)",
    ("vm-stock", "net_mbit_s"): "the course VM has no network device (loopback-only rule)",
}


#: what a non-root learner cannot measure (added to NOT_MEASURED for their runs)
NOT_MEASURED_UNPRIVILEGED = {
    ("ns", "net_rtt_us"): "needs root: named network namespaces and a veth pair between them",
    ("ns", "net_mbit_s"): "needs root: named network namespaces and a veth pair between them",
    ("lxd", "net_rtt_us"): "needs root: a veth from a named network namespace into the container's",
    ("lxd", "net_mbit_s"): "needs root: a veth from a named network namespace into the container's",
}


def not_measured() -> dict[tuple[str, str], str]:
    """(target, metric) -> why it is not measured, for whoever runs the benchmark here."""
    return NOT_MEASURED if os.geteuid() == 0 else {**NOT_MEASURED, **NOT_MEASURED_UNPRIVILEGED}


#: profiles: repetitions per target and the CPU loop length
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"reps": {"host": 5, "ns": 5, "lxd": 3, "vm": 2, "vm-stock": 2}, "loop": 100_000,
              "net_mib": 16, "ns_start_pairs": 31},
    "full": {"reps": {"host": 10, "ns": 10, "lxd": 5, "vm": 3, "vm-stock": 3}, "loop": 200_000,
             "net_mib": 64, "ns_start_pairs": 101},
}


DATA_DIR = Path(__file__).parent.parent / "data"  # virtlab/data


REFERENCE = DATA_DIR / "bench-reference.json"


NET_PORT = 7111


class BenchError(VirtlabError, RuntimeError):
    """A target could not be measured."""


# --------------------------------------------------------------------------- helpers
def loop_command(n: int) -> str:
    """The CPU-bound workload: a busybox ash counting loop (pure user-space arithmetic)."""
    return f"i=0; while [ $i -lt {int(n)} ]; do i=$((i+1)); done"


BENCH_PREFIX = PREFIX + "bench-"  # cgroups, LXD instances, libvirt domains


NETNS_STEM = "bn"  # veth namespaces: vl-bnXXXXX-a / -b


def code_version() -> str:
    """A digest of the benchmark's own code (every module of this package): a reused run must come
    from it (see :func:`virtlab.bench.reuse.reused_run`)."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]
