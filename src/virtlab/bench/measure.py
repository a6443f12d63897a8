"""Measuring helpers: bytes of a tree, cgroup memory of a process, CPU time differences, the TCP
echo pair for the network metrics.
"""
from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from virtlab import core, rootfs
from virtlab.bench.base import NET_PORT, BenchError
from virtlab.core import disk_usage
from virtlab.safety import Deadline


def tree_bytes(path: Path) -> int:
    """Disk bytes (allocated blocks) of a file or a tree, counting hard links once
    (:func:`virtlab.core.disk_usage`, the walker LXD's sizes use too)."""
    return disk_usage(path).allocated


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def cgroup_memory_bytes(pid: int) -> int | None:
    """Memory charged to the cgroup ``pid`` lives in (v1 memory controller or v2), or None."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    v1 = v2 = None
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            v1 = path
        elif ctrls == "":
            v2 = path
    cands = []
    if v1 is not None:
        cands.append(Path("/sys/fs/cgroup/memory") / v1.lstrip("/") / "memory.usage_in_bytes")
    if v2 is not None:
        cands += [Path("/sys/fs/cgroup") / v2.lstrip("/") / "memory.current",
                  Path("/sys/fs/cgroup/unified") / v2.lstrip("/") / "memory.current"]
    for c in cands:
        with contextlib.suppress(OSError, ValueError):
            return int(c.read_text().strip())
    return None


#: each cpu_s sample is the best of this many runs of the loop (and of ``true``): on a shared
#: machine a neighbour can steal the CPU for a moment; the best run is the undisturbed one
CPU_TRIALS = 3


def best_difference(loop: Callable[[], float], baseline: Callable[[], float], trials: int = CPU_TRIALS) -> float:
    """min(loop times) - min(baseline times), interleaved: the loop's own cost, path excluded."""
    a, b = [], []
    for _ in range(trials):
        a.append(loop())
        b.append(baseline())
    return min(a) - min(b)


def _charged_mib(cg: Any, proc: subprocess.Popen) -> float:
    """MiB the kernel charges to ``cg`` while ``proc`` (a sleeping busybox) runs in it; then
    stop everything in the cgroup."""
    try:
        time.sleep(0.2)
        return (cg.usage().memory_bytes or 0) / 2**20
    finally:
        cg.kill()
        proc.kill()
        proc.wait(5)


def _busybox() -> str:
    return str(rootfs.busybox_path())


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    r = core.run(argv, Deadline(timeout, f"`{argv[0]} ...`"))
    if r.returncode != 0:
        raise BenchError(f"`{' '.join(argv[:6])} ...` failed ({r.returncode}): {r.stderr.strip()[-300:]}")
    return r


# --------------------------------------------------------------------------- network
_NET_SERVER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(30)
print("ready", flush=True)
c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    if d == b"p":
        c.sendall(b"p")
"""


_NET_CLIENT = r"""
import json, socket, sys, time
addr, port, mib, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
end = time.monotonic() + 10
while True:
    try:
        c = socket.create_connection((addr, port), timeout=2); break
    except OSError:
        if time.monotonic() > end: raise
        time.sleep(0.01)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtt = []
for _ in range(rounds):
    t = time.perf_counter(); c.sendall(b"p"); c.recv(1); rtt.append(time.perf_counter() - t)
buf = b"x" * (1 << 16)
t = time.perf_counter()
for _ in range(mib * 16):
    c.sendall(buf)
c.shutdown(socket.SHUT_WR); c.recv(1)
dt = time.perf_counter() - t
rtt.sort()
print(json.dumps({"rtt_s": rtt[len(rtt) // 2], "mbit_s": mib * 8 * 1.048576 / dt}))
"""


def _net_measure(server_prefix: list[str], client_prefix: list[str], addr: str, mib: int,
                 rounds: int = 200, timeout: float = 30) -> dict[str, float]:
    """Run the echo/bulk server and client (each optionally inside ``ip netns exec NS``)."""
    srv = subprocess.Popen([*server_prefix, sys.executable, "-c", _NET_SERVER, addr, str(NET_PORT)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([srv.stdout], [], [], 15) if srv.stdout else ([], [], [])
        line = srv.stdout.readline() if ready and srv.stdout else ""
        if "ready" not in line:
            raise BenchError(f"network server did not start: {srv.stderr.read() if srv.stderr else ''}")
        r = _run([*client_prefix, sys.executable, "-c", _NET_CLIENT, addr, str(NET_PORT), str(mib),
                  str(rounds)], timeout=timeout)
        return json.loads(r.stdout)
    finally:
        srv.kill()
        srv.wait(5)
