"""The seed's performance table, measured: the same workload in four targets.

Targets
=======  ===================================================================================
host     a plain host process (the baseline)
ns       namespaces + a cgroup only: ``unshare`` into new pid/mnt/uts/ipc/net namespaces,
         ``--root`` into the course busybox tree, inside a course cgroup (virtlab.cgroups)
lxd      an LXD system container from the course busybox image (virtlab.lxd)
vm       a libvirt/QEMU VM with direct kernel boot of the course VM (virtlab.virt); KVM where
         the CPU allows it, TCG (software emulation) otherwise — the table says which
=======  ===================================================================================

Metrics (each target, ``reps`` repetitions after one warm-up):

``start_s``       create -> first command (``true``) done; nothing is reused between repetitions
``cpu_s``         the same CPU-bound busybox ash loop, minus the time of ``true`` through the same
                  path (so exec/console overhead is not counted as CPU overhead); best of
                  :data:`CPU_TRIALS` runs each, so a noisy neighbour does not count either
``memory_mib``    host-side memory of one idle instance, as its cgroup is charged: a plain
                  ``busybox sleep`` in a meter-only cgroup (host), the course cgroup (ns), the
                  container's cgroup (lxd), the QEMU process's machine cgroup (vm; its RSS
                  where the cgroup cannot be read)
``storage_mib``   bytes on disk the instance needs: busybox binary, rootfs tree, LXD image +
                  instance directory, kernel + initramfs
``net_rtt_us``    TCP request/reply round trip: host loopback, a veth between two course
                  network namespaces (ns), a veth from a course namespace into the LXD
                  container's network namespace (lxd); the VM is not measured (see
                  :data:`NOT_MEASURED`)
``net_mbit_s``    TCP bulk throughput over the same paths

``run(...)`` returns a :class:`BenchResult` (raw rows, a summary with median and spread,
provenance). ``virtlab bench`` writes CSV + PNG; ``virtlab bench --save-reference`` refreshes the
committed reference run in ``virtlab/data/``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtlab import PREFIX, modes, probe, rootfs
from virtlab.safety import Deadline, DeadlineExceeded, VirtlabError, check_int, cleanup_all

TARGETS = ("host", "ns", "lxd", "vm")
METRICS = ("start_s", "cpu_s", "memory_mib", "storage_mib", "net_rtt_us", "net_mbit_s")
UNITS = {"start_s": "s", "cpu_s": "s", "memory_mib": "MiB", "storage_mib": "MiB",
         "net_rtt_us": "µs", "net_mbit_s": "Mbit/s"}
LABELS = {"host": "host process", "ns": "namespaces + cgroup", "lxd": "LXD container",
          "vm": "libvirt VM"}
NOT_MEASURED = {
    ("vm", "net_rtt_us"): "the course VM has no network device (loopback-only rule)",
    ("vm", "net_mbit_s"): "the course VM has no network device (loopback-only rule)",
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
    "quick": {"reps": {"host": 5, "ns": 5, "lxd": 3, "vm": 2}, "loop": 100_000, "net_mib": 16},
    "full": {"reps": {"host": 10, "ns": 10, "lxd": 5, "vm": 3}, "loop": 200_000, "net_mib": 64},
}
DATA_DIR = Path(__file__).parent / "data"
REFERENCE = DATA_DIR / "bench-reference.json"

NET_PORT = 7111


class BenchError(VirtlabError, RuntimeError):
    """A target could not be measured."""


# --------------------------------------------------------------------------- helpers
def loop_command(n: int) -> str:
    """The CPU-bound workload: a busybox ash counting loop (pure user-space arithmetic)."""
    return f"i=0; while [ $i -lt {int(n)} ]; do i=$((i+1)); done"


def tree_bytes(path: Path) -> int:
    """Disk bytes (allocated blocks) of a file or a tree, counting hard links once."""
    path = Path(path)
    seen: set[tuple[int, int]] = set()
    total = 0
    paths: Iterator[Path] = iter([path]) if not path.is_dir() else _walk(path)
    for p in paths:
        try:
            st = p.lstat()
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += st.st_blocks * 512
    return total


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            yield Path(dirpath) / n


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
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DeadlineExceeded(f"`{argv[0]} ...`", timeout) from None
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


# --------------------------------------------------------------------------- targets
@dataclass
class Target:
    """How to measure one target; each method returns one sample."""

    name: str
    loop: int
    net_mib: int

    def available(self) -> str | None:  # None = ok, else why not
        return None

    def warm_up(self) -> None:
        self.start()

    def start(self) -> float:
        raise NotImplementedError

    def cpu(self) -> float:
        raise NotImplementedError

    def memory(self) -> float:
        raise NotImplementedError

    def storage(self) -> float:
        raise NotImplementedError

    def network(self) -> dict[str, float] | None:
        return None


class HostTarget(Target):
    def start(self) -> float:
        return _timed(lambda: _run([_busybox(), "true"]))[0]

    def cpu(self) -> float:
        bb = _busybox()
        return best_difference(lambda: _timed(lambda: _run([bb, "sh", "-c", loop_command(self.loop)]))[0],
                               lambda: _timed(lambda: _run([bb, "sh", "-c", "true"]))[0])

    def memory(self) -> float:
        """A plain ``busybox sleep`` in a course cgroup used only as a meter (no namespaces)."""
        from virtlab import cgroups

        with cgroups.CourseCgroup(f"bench-{uuid.uuid4().hex[:6]}") as cg:
            return _charged_mib(cg, cg.popen([_busybox(), "sleep", "30"]))

    def storage(self) -> float:
        return tree_bytes(Path(_busybox())) / 2**20

    def network(self) -> dict[str, float]:
        return _net_measure([], [], "127.0.0.1", self.net_mib)


class NsTarget(Target):
    """unshare(1) into new namespaces + chroot into the busybox tree, inside a course cgroup."""

    TYPES = ("--pid", "--mount", "--uts", "--ipc", "--net")

    def available(self) -> str | None:
        if shutil.which("unshare") is None:
            return "unshare(1) is not installed (util-linux)"
        a = modes.SECTIONS["cgroups"].live()
        return None if a.ok else a.detail

    @contextlib.contextmanager
    def _cgroup(self, memory: str = "256MiB") -> Iterator[Any]:
        from virtlab import cgroups

        with cgroups.CourseCgroup(f"bench-{uuid.uuid4().hex[:6]}", memory=memory, pids=64) as cg:
            yield cg

    def _argv(self, *cmd: str) -> list[str]:
        # a learner (not root) makes the same namespaces inside an unprivileged user namespace
        user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
        return ["unshare", *user, *self.TYPES, "--fork", "--root", str(rootfs.default_rootfs()),
                "/bin/busybox", *cmd]

    def _in(self, cg: Any, *cmd: str, timeout: float = 60) -> None:
        r = cg.run(self._argv(*cmd), timeout=timeout)
        if r.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} in namespaces failed: {r.stderr.strip()[-300:]}")

    def start(self) -> float:
        def once() -> None:
            with self._cgroup() as cg:
                self._in(cg, "true")
        return _timed(once)[0]

    def cpu(self) -> float:
        with self._cgroup() as cg:
            return best_difference(lambda: _timed(lambda: self._in(cg, "sh", "-c", loop_command(self.loop)))[0],
                                   lambda: _timed(lambda: self._in(cg, "sh", "-c", "true"))[0])

    def memory(self) -> float:
        with self._cgroup() as cg:
            return _charged_mib(cg, cg.popen(self._argv("sleep", "30"), stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL))

    def storage(self) -> float:
        return tree_bytes(rootfs.default_rootfs()) / 2**20

    def network(self) -> dict[str, float]:
        from virtlab import namespaces

        with namespaces.VethPair(f"{NETNS_STEM}{uuid.uuid4().hex[:5]}", subnet="10.203.7") as v:
            ex = ["ip", "netns", "exec"]
            return _net_measure([*ex, v.ns[1]], [*ex, v.ns[0]], v.addrs[1], self.net_mib)


class LxdTarget(Target):
    def available(self) -> str | None:
        a = modes.SECTIONS["lxd"].live()
        if not a.ok:
            return a.detail
        try:
            from virtlab import lxd

            if not lxd._image_exists(lxd.connect(), lxd.DEFAULT_IMAGE):
                return f"the LXD image {lxd.DEFAULT_IMAGE} is missing (virtlab images build --only lxd)"
        except Exception as err:  # noqa: BLE001 - reported as the reason
            return f"LXD: {err}"
        return None

    @contextlib.contextmanager
    def _inst(self) -> Iterator[Any]:
        from virtlab import lxd

        with lxd.instance(f"bench-{uuid.uuid4().hex[:6]}", memory="128MiB", timeout=60) as inst:
            yield inst

    def _exec(self, inst: Any, *cmd: str) -> None:
        r = inst.exec(list(cmd), timeout=120)
        if r[0] != 0:
            raise BenchError(f"{' '.join(cmd)} in LXD failed ({r[0]}): {r[2][-300:]}")

    def start(self) -> float:
        t0 = time.perf_counter()
        with self._inst() as inst:
            self._exec(inst, "true")
            return time.perf_counter() - t0

    def cpu(self) -> float:
        with self._inst() as inst:
            self._exec(inst, "true")  # warm the exec path
            return best_difference(
                lambda: _timed(lambda: self._exec(inst, "sh", "-c", loop_command(self.loop)))[0],
                lambda: _timed(lambda: self._exec(inst, "sh", "-c", "true"))[0])

    def memory(self) -> float:
        with self._inst() as inst:
            time.sleep(0.3)
            st = inst.state()
        return (st.memory_bytes or 0) / 2**20

    def network(self) -> dict[str, float]:
        """A veth from a course network namespace into the container's own network namespace.

        The far end is moved into the namespace of the container's init process; the echo/bulk
        server joins that namespace with ``nsenter --net`` (the busybox image has no Python), so
        the packets take exactly the container's path.
        """
        with self._inst() as inst:
            pid = inst.state().pid
            if not pid:
                raise BenchError(f"{inst.name} has no init process")
            stem = f"{PREFIX}{NETNS_STEM}{uuid.uuid4().hex[:5]}"
            ns, a0, b0 = f"{stem}-a", f"{stem}-a0", f"{stem}-b0"
            addr_a, addr_b = "10.203.8.1", "10.203.8.2"
            netpath = f"/proc/{pid}/ns/net"
            _run(["ip", "netns", "add", ns])
            try:
                _run(["ip", "link", "add", a0, "netns", ns, "type", "veth", "peer", "name", b0,
                      "netns", str(pid)])
                _run(["ip", "-n", ns, "addr", "add", f"{addr_a}/30", "dev", a0])
                _run(["ip", "-n", ns, "link", "set", a0, "up"])
                _run(["ip", "-n", ns, "link", "set", "lo", "up"])
                _run(["nsenter", f"--net={netpath}", "ip", "addr", "add", f"{addr_b}/30", "dev", b0])
                _run(["nsenter", f"--net={netpath}", "ip", "link", "set", b0, "up"])
                return _net_measure(["nsenter", f"--net={netpath}"], ["ip", "netns", "exec", ns],
                                    addr_b, self.net_mib)
            finally:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)

    def storage(self) -> float:
        from virtlab import lxd

        img = next((i for i in lxd.images() if lxd.DEFAULT_IMAGE in i["aliases"]), None)
        size = int(img["size"] or 0) if img else 0
        with self._inst() as inst:
            # the daemon's own directory (LXD: /var/lib/lxd or the snap's; Incus: /var/lib/incus)
            pools = Path(lxd.socket_path()).parent / "storage-pools"
            dirs = list(pools.glob(f"*/containers/{inst.name}"))
            size += sum(tree_bytes(d) for d in dirs)
        return size / 2**20


class VmTarget(Target):
    MEMORY_MIB = 128

    def available(self) -> str | None:
        a = modes.SECTIONS["libvirt"].live()
        if not a.ok:
            return a.detail
        try:
            from virtlab import virt

            virt.artefacts()
        except Exception as err:  # noqa: BLE001 - reported as the reason
            return str(err)
        return None

    def warm_up(self) -> None:
        from virtlab import virt

        virt.connect().close()  # the first qemu:///system connection probes capabilities

    @contextlib.contextmanager
    def _vm(self) -> Iterator[Any]:
        from virtlab import virt

        with virt.vm(name=f"bench-{uuid.uuid4().hex[:6]}", memory=self.MEMORY_MIB, boot_timeout=120) as g:
            yield g

    def _run(self, g: Any, cmd: str) -> float:
        r = g.run(cmd, timeout=300)
        if r.rc != 0:
            raise BenchError(f"{cmd!r} in the VM failed ({r.rc}): {r.output[-300:]}")
        return r.seconds

    def start(self) -> float:
        t0 = time.perf_counter()
        with self._vm() as g:
            self._run(g, "true")
            return time.perf_counter() - t0

    def cpu(self) -> float:
        with self._vm() as g:
            self._run(g, "true")
            return best_difference(lambda: self._run(g, loop_command(self.loop)),
                                   lambda: self._run(g, "true"))

    def memory(self) -> float:
        with self._vm() as g:
            self._run(g, "true")
            pid = g.qemu_pid()
            used = cgroup_memory_bytes(pid) if pid else None
            return (used if used is not None else (g.rss_bytes() or 0)) / 2**20

    def storage(self) -> float:
        from virtlab import virt

        a = virt.artefacts()
        return (tree_bytes(a.kernel) + tree_bytes(a.initrd)) / 2**20


TARGET_CLASSES: dict[str, type[Target]] = {"host": HostTarget, "ns": NsTarget, "lxd": LxdTarget,
                                           "vm": VmTarget}


# --------------------------------------------------------------------------- the run
@dataclass
class BenchResult:
    rows: list[dict[str, Any]]  # target, metric, rep, value
    provenance: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)  # target -> why

    def frame(self):  # noqa: ANN201 - pandas
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["target", "metric", "rep", "value"])

    def summary(self):  # noqa: ANN201 - pandas
        return summarize(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "provenance": self.provenance, "skipped": self.skipped}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchResult:
        return cls(list(d["rows"]), dict(d.get("provenance", {})), dict(d.get("skipped", {})))


def summarize(rows: Sequence[dict[str, Any]]):  # noqa: ANN201 - pandas
    """Median, min, max, relative spread ((max-min)/median) and n per target and metric."""
    import pandas as pd

    out = []
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r["target"], r["metric"]), []).append(float(r["value"]))
    for t in TARGETS:
        for m in METRICS:
            vals = groups.get((t, m))
            if not vals:
                continue
            med = statistics.median(vals)
            out.append({"target": t, "metric": m, "unit": UNITS[m], "median": med, "min": min(vals),
                        "max": max(vals), "spread": (max(vals) - min(vals)) / med if med else 0.0,
                        "n": len(vals)})
    return pd.DataFrame(out, columns=["target", "metric", "unit", "median", "min", "max", "spread", "n"])


def _versions() -> dict[str, str]:
    v = probe.versions()
    q = shutil.which("qemu-system-x86_64")
    if q:
        with contextlib.suppress(Exception):
            v["qemu"] = subprocess.run([q, "--version"], capture_output=True, text=True, timeout=10,
                                       check=False).stdout.split("\n")[0].split("version")[-1].strip()
    with contextlib.suppress(Exception):
        v["busybox"] = subprocess.run([_busybox()], capture_output=True, text=True, timeout=5,
                                      check=False).stdout.split("\n")[0].split(" (")[0]
    return v


def provenance(profile: str, targets: Sequence[str], command: str) -> dict[str, Any]:
    """Where and how a run was made: date, machine, kernel, versions, accelerator, profile."""
    import psutil

    k = probe.kernel()
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    kv = probe.kvm()
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": {"kernel": k["release"], "os": k["os"], "machine": k["machine"], "python": k["python"],
                 "cpu": cpu_model, "cpus": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
                 "hostname_sha256": hashlib.sha256(platform.node().encode()).hexdigest()[:12]},
        "cgroup_layout": probe.cgroups().layout,
        "versions": _versions(),
        "accelerator": kv.accelerator,
        "accelerator_reason": kv.reason,
        "profile": profile,
        "reps": {t: PROFILES[profile]["reps"][t] for t in targets},
        "loop_iterations": PROFILES[profile]["loop"],
        "net_mib": PROFILES[profile]["net_mib"],
        "targets": list(targets),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "command": command,
    }


def parse_targets(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return list(TARGETS)
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [i.strip() for i in items if i.strip()]
    bad = [i for i in items if i not in TARGETS]
    if bad or not items:
        raise ValueError(f"unknown target(s) {bad or items}; choose from: {', '.join(TARGETS)}")
    return list(dict.fromkeys(items))


def run(targets: str | Sequence[str] | None = None, *, profile: str = "quick", progress: bool = True,
        require: bool = False, command: str = "virtlab.bench.run()",
        deadline_s: float = 900) -> BenchResult:
    """Measure ``targets`` (default all) with ``profile`` ("quick" or "full").

    Unavailable targets are skipped with the reason (``require=True``: raise instead). Every
    instance is created and removed inside the measurement; the whole run has a deadline.
    """
    tlist = parse_targets(targets)
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from: {', '.join(PROFILES)}")
    check_int(int(deadline_s), minimum=10, maximum=7200, what="deadline_s")
    prof = PROFILES[profile]
    dl = Deadline(deadline_s, "virtlab bench", "use --quick or fewer --targets")
    plan: list[tuple[Target, str, int]] = []
    skipped: dict[str, str] = {}
    chosen: list[Target] = []
    for name in tlist:
        t = TARGET_CLASSES[name](name, prof["loop"], prof["net_mib"])
        why = t.available()
        if why:
            if require:
                raise BenchError(f"target {name} is not available: {why}")
            skipped[name] = why
            continue
        chosen.append(t)

    skip_metrics = not_measured()

    def reps(t: Target, metric: str) -> int:
        if (t.name, metric) in skip_metrics or metric == "net_mbit_s":
            return 0  # net_mbit_s is measured together with net_rtt_us
        if metric == "storage_mib":
            return 1
        n = prof["reps"][t.name]
        return min(n, 3) if metric == "net_rtt_us" else n

    # interleaved: repetition i of every target before repetition i+1, so that a noisy
    # neighbour on a shared machine slows all targets alike instead of one
    for metric in METRICS:
        for i in range(max((reps(t, metric) for t in chosen), default=0)):
            plan.extend((t, metric, i) for t in chosen if i < reps(t, metric))
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(plan) + len(chosen), desc="virtlab bench", unit="step", disable=not progress,
               file=sys.stderr)
    try:
        for t in chosen:
            bar.set_postfix_str(f"{t.name}: warm-up")
            t.warm_up()
            bar.update(1)
        for t, metric, rep in plan:
            dl.check()
            bar.set_postfix_str(f"{t.name}: {metric}")
            if metric == "start_s":
                rows.append(_row(t.name, metric, rep, t.start()))
            elif metric == "cpu_s":
                rows.append(_row(t.name, metric, rep, t.cpu()))
            elif metric == "memory_mib":
                rows.append(_row(t.name, metric, rep, t.memory()))
            elif metric == "storage_mib":
                rows.append(_row(t.name, metric, rep, t.storage()))
            elif metric == "net_rtt_us":
                n = t.network()
                if n is not None:
                    rows.append(_row(t.name, "net_rtt_us", rep, n["rtt_s"] * 1e6))
                    rows.append(_row(t.name, "net_mbit_s", rep, n["mbit_s"]))
            bar.update(1)
    finally:
        bar.close()
    prov = provenance(profile, [t.name for t in chosen], command)
    prov["not_measured"] = [[t, m, w] for (t, m), w in skip_metrics.items()
                            if (t, m) not in NOT_MEASURED and t in prov["targets"]]
    return BenchResult(rows, prov, skipped)


def _row(target: str, metric: str, rep: int, value: float) -> dict[str, Any]:
    return {"target": target, "metric": metric, "rep": rep, "value": round(float(value), 6)}


# --------------------------------------------------------------------------- views
def ratios(summary) -> dict[str, dict[str, float]]:  # noqa: ANN001 - pandas
    """Each target's median divided by the host's median, per metric (1.0 = like the host)."""
    med = {(r.target, r.metric): r.median for r in summary.itertuples()}
    out: dict[str, dict[str, float]] = {}
    for (t, m), v in med.items():
        base = med.get(("host", m))
        if base:
            out.setdefault(t, {})[m] = v / base
    return out


def _fmt(v: float, metric: str) -> str:
    if metric in ("start_s", "cpu_s"):
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return f"{v:.1f}" if v < 1000 else f"{v:,.0f}"


def table_text(summary) -> str:  # noqa: ANN001 - pandas
    """A fixed-width text table: one row per metric, one column per target (median [min-max])."""
    targets = [t for t in TARGETS if t in set(summary["target"])]
    cells = {(r.target, r.metric): f"{_fmt(r.median, r.metric)} [{_fmt(r.min, r.metric)}–{_fmt(r.max, r.metric)}]"
             for r in summary.itertuples()}
    w = 26
    head = f"{'metric':<14}" + "".join(f"{LABELS[t]:>{w}}" for t in targets)
    lines = [head, "-" * len(head)]
    for m in METRICS:
        row = f"{m + ' (' + UNITS[m] + ')':<14}"
        for t in targets:
            row += f"{cells.get((t, m), 'n/a'):>{w}}"
        lines.append(row)
    return "\n".join(lines)


def plot(summary, title: str = "this machine"):  # noqa: ANN001, ANN201 - pandas, matplotlib
    """Bar charts (log scale) of the medians with min–max error bars, one panel per metric."""
    from virtlab import plots

    metrics = [m for m in METRICS if m in set(summary["metric"])]
    fig = plots.figure(figsize=(3.0 * len(metrics), 3.2))
    axes = fig.subplots(1, len(metrics))
    axes = [axes] if len(metrics) == 1 else list(axes)
    colors = {"host": "#4c72b0", "ns": "#55a868", "lxd": "#dd8452", "vm": "#c44e52"}
    for ax, m in zip(axes, metrics, strict=True):
        sub = summary[summary["metric"] == m]
        xs = list(range(len(sub)))
        meds = list(sub["median"])
        lo = [a - b for a, b in zip(meds, sub["min"], strict=True)]
        hi = [b - a for a, b in zip(meds, sub["max"], strict=True)]
        ax.bar(xs, meds, yerr=[lo, hi], color=[colors[t] for t in sub["target"]], capsize=3)
        ax.set_xticks(xs, list(sub["target"]))
        ax.set_yscale("log")
        ax.set_title(f"{m} ({UNITS[m]})", fontsize=9)
    fig.suptitle(f"virtlab bench — {title} (medians, min–max bars, log scale)", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- reference data
def reference() -> BenchResult:
    """The committed reference run (made by ``virtlab bench --save-reference`` on a lab machine)."""
    if not REFERENCE.exists():
        raise LookupError(f"no reference run at {REFERENCE}; make one with "
                          "`virtlab bench --save-reference` on a lab VM")
    return BenchResult.from_dict(json.loads(REFERENCE.read_text()))


def save(result: BenchResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=1, sort_keys=True) + "\n")
    return path


# --------------------------------------------------------------------------- notebook views
def _result(data: Any) -> BenchResult:
    if isinstance(data, BenchResult):
        return data
    if hasattr(data, "data"):  # a modes.Result
        data = data.data
    return BenchResult.from_dict(data)


def show_run(data: Any) -> None:
    """Provenance, skipped targets and the median [min–max] table of one run."""
    res = _result(data)
    show_provenance(res.provenance)
    for t, why in sorted(res.skipped.items()):
        print(f"skipped:     {t} — {why}")
    print()
    print(table_text(res.summary()))


def compare(data: Any, ref: Any = None) -> None:
    """Your run's medians beside the reference run's, with the ratio to the host in each."""
    mine, other = _result(data), _result(ref if ref is not None else reference())
    ms, rs = mine.summary(), other.summary()
    med_m = {(r.target, r.metric): r.median for r in ms.itertuples()}
    med_r = {(r.target, r.metric): r.median for r in rs.itertuples()}
    print(f"reference: {other.provenance.get('date', '?')[:10]}, {other.provenance.get('profile')} profile, "
          f"{str(other.provenance.get('accelerator', '?')).upper()} VM")
    print(f"{'metric':<18}{'target':<22}{'yours':>14}{'reference':>14}{'yours/ref':>11}")
    for m in METRICS:
        for t in TARGETS:
            a, b = med_m.get((t, m)), med_r.get((t, m))
            if a is None and b is None:
                continue
            fa = _fmt(a, m) if a is not None else "n/a"
            fb = _fmt(b, m) if b is not None else "n/a"
            q = f"{a / b:.2f}x" if a is not None and b else ""
            print(f"{m + ' (' + UNITS[m] + ')':<18}{LABELS[t]:<22}{fa:>14}{fb:>14}{q:>11}")


def row(data: Any, metric: str) -> None:
    """One metric across targets: median, spread, and how many times the host's value."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    res = _result(data)
    s = res.summary()
    sub = s[s.metric == metric]
    base = sub[sub.target == "host"]["median"]
    b = float(base.iloc[0]) if len(base) else None
    print(f"{metric} ({UNITS[metric]}): median [min–max] over n repetitions")
    for r in sub.itertuples():
        vs = f"  = {r.median / b:,.1f}x the host process" if b and r.target != "host" else ""
        print(f"  {LABELS[r.target]:<22}{_fmt(r.median, metric):>10} [{_fmt(r.min, metric)}–"
              f"{_fmt(r.max, metric)}], n={r.n}{vs}")
    why_not = {**NOT_MEASURED, **{(t, m): w for t, m, w in res.provenance.get("not_measured", [])}}
    for t in TARGETS:
        if (t, metric) in why_not and t in res.provenance.get("targets", []):
            print(f"  {LABELS[t]:<22}{'n/a':>10}  ({why_not[(t, metric)]})")


def medians(data: Any) -> dict[tuple[str, str], float]:
    """{(target, metric): median} of a run."""
    return {(r.target, r.metric): r.median for r in _result(data).summary().itertuples()}


# --------------------------------------------------------------------------- demo (notebook 08)
@modes.demo("bench.quick", section="bench")
def demo_quick(backend: modes.Backend) -> dict[str, Any]:
    """The quick profile on every target this machine can run (live), as JSON-able data.

    Where live was demanded (``VIRTLAB_MODE=live``, or ``virtlab record``) every target must
    run: a missing one is an error, never a silently shorter table."""
    res = run(profile="quick", progress=False, require=backend.forced,
              command="virtlab record bench.quick")
    return res.to_dict()


def show_provenance(p: dict[str, Any]) -> None:
    """Print a run's provenance in a few readable lines."""
    h = p.get("host", {})
    print(f"date:        {p.get('date')}")
    print(f"machine:     {h.get('cpus')} CPUs ({h.get('cpu')}), {h.get('ram_gib')} GiB RAM, "
          f"{h.get('os')}, Linux {h.get('kernel')}, cgroups {p.get('cgroup_layout')}")
    print(f"versions:    {', '.join(f'{k} {v}' for k, v in sorted(p.get('versions', {}).items()))}")
    print(f"accelerator: {str(p.get('accelerator', '?')).upper()} for the VM")
    print(f"profile:     {p.get('profile')} (reps {p.get('reps')}, loop {p.get('loop_iterations')} "
          f"iterations); made by `{p.get('command')}`")


BENCH_PREFIX = PREFIX + "bench-"  # cgroups, LXD instances, libvirt domains
NETNS_STEM = "bn"  # veth namespaces: vl-bnXXXXX-a / -b


def cleanup() -> list[str]:
    """Remove what an interrupted benchmark left behind — only ``vl-bench-*`` / ``vl-bn*`` course
    resources (each module's own ownership checks still apply); returns what went."""
    removed: list[str] = []
    steps: list[tuple[str, Callable[[], object]]] = []
    with contextlib.suppress(ImportError):
        from virtlab import cgroups

        steps.append(("cgroups", lambda: removed.extend(cgroups.cleanup(BENCH_PREFIX))))
    with contextlib.suppress(ImportError):
        from virtlab import namespaces

        steps.append(("netns", lambda: removed.extend(namespaces.cleanup(PREFIX + NETNS_STEM))))
    if probe.lxd().reachable:
        from virtlab import lxd

        def lxd_clean() -> None:  # the caller's own bench instances (lxd.cleanup's scope)
            removed.extend(lxd.cleanup(match=BENCH_PREFIX))
        steps.append(("lxd", lxd_clean))
    if probe.libvirt_info().uris.get("qemu:///system", {}).get("ok"):
        from virtlab import virt

        def virt_clean() -> None:
            conn = virt.connect("qemu:///system")
            try:
                for name in virt.course_domains(conn):
                    if name.startswith(BENCH_PREFIX):
                        virt._remove_domain(conn.lookupByName(name))
                        removed.append(f"domain {name}")
            finally:
                conn.close()
        steps.append(("libvirt", virt_clean))
    cleanup_all(steps)
    return removed


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    """``virtlab bench [--quick|--full] [--targets host,ns,lxd,vm] [--out DIR] [--save-reference]``"""
    ap = argparse.ArgumentParser(prog="virtlab bench", description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="profile", action="store_const", const="quick",
                   help="few repetitions (CI; the default)")
    g.add_argument("--full", dest="profile", action="store_const", const="full",
                   help="more repetitions, longer loop")
    ap.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset of host,ns,lxd,vm")
    ap.add_argument("--out", default="bench-out", help="directory for CSV + PNG (default: bench-out)")
    ap.add_argument("--require-all", action="store_true", help="fail when a target is unavailable")
    ap.add_argument("--save-reference", action="store_true",
                    help=f"also write the result as the committed reference run ({REFERENCE.name})")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(list(argv or []))
    profile = args.profile or "quick"
    targets = parse_targets(args.targets)
    cmd = "virtlab bench " + " ".join(argv or [])
    res = run(targets, profile=profile, progress=not args.no_progress, require=args.require_all,
              command=cmd.strip())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res.frame().to_csv(out / "bench-raw.csv", index=False)
    summ = res.summary()
    summ.to_csv(out / "bench-summary.csv", index=False)
    (out / "bench-provenance.json").write_text(json.dumps(res.provenance, indent=1) + "\n")
    fig = plot(summ)
    fig.savefig(out / "bench.png", dpi=96, bbox_inches="tight")
    print(table_text(summ))
    for t, why in res.skipped.items():
        print(f"skipped {t}: {why}")
    print(f"wrote {out}/bench-raw.csv, bench-summary.csv, bench-provenance.json, bench.png")
    if args.save_reference:
        print(f"wrote {save(res, REFERENCE)}")
    return 0
