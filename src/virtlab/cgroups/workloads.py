"""Small workloads for the cgroup demos (busy loop, memory hog, fork loop) and the CPU-share
measurement.
"""
from __future__ import annotations

import os
from typing import Any

from virtlab.cgroups.files import parse_cpu
from virtlab.cgroups.group import CourseCgroup

# --------------------------------------------------------------------------- experiments (demos)
BUSY_LOOP = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass\n"


MEMORY_HOG = ("import sys\nchunks = []\nfor i in range({mib}):\n"
              "    chunks.append(bytearray(1 << 20))\n"
              "    if i % 16 == 0: print(i, 'MiB', flush=True)\nprint('survived', flush=True)\n")


FORK_LOOP = ("import os, sys\nkids = []\nfor i in range({n}):\n"
             "    try:\n        pid = os.fork()\n    except BlockingIOError as e:\n"
             "        print('fork', i + 1, 'refused:', e.strerror, flush=True); break\n"
             "    if pid == 0:\n        import time; time.sleep(3); os._exit(0)\n"
             "    kids.append(pid)\nprint('children started:', len(kids), flush=True)\n"
             "for k in kids: os.kill(k, 9); os.waitpid(k, 0)\n")


def expected_share(quota: float, busy_threads: int = 1) -> float:
    """The CPU share (in CPUs) a quota allows to ``busy_threads`` spinning threads."""
    return min(quota, float(busy_threads), float(os.cpu_count() or 1))


def measure_cpu_share(quota: float | str | None, seconds: float = 1.0, *,
                      name: str = "cpu-share", version: str | None = None) -> dict[str, Any]:
    """Spin one busy loop for ``seconds`` in a fresh cgroup with ``quota``; measure its share."""
    q = parse_cpu(quota)
    if not 0.1 <= seconds <= 30:
        raise ValueError("seconds must be between 0.1 and 30")
    with CourseCgroup(name, cpu_quota=q, pids=8, version=version) as cg:
        r = cg.run_python(BUSY_LOOP.format(s=seconds), timeout=seconds * 4 + 10)
        u = cg.usage()
    return {"quota": q, "seconds": seconds, "wall": r.elapsed, "cpu_seconds": u.cpu_seconds,
            "share": (u.cpu_seconds or 0) / r.elapsed if r.elapsed else 0.0,
            "throttled_periods": u.cpu_throttled_periods, "periods": u.cpu_periods}
