"""The four isolation kinds as benchmark targets (host process, namespaces + cgroup, LXD container,
VM): each starts, runs a loop, reports memory, storage and network.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from virtlab import PREFIX, modes, rootfs
from virtlab.bench.base import NETNS_STEM, BenchError, loop_command
from virtlab.bench.measure import (
    _busybox,
    _charged_mib,
    _net_measure,
    _run,
    _timed,
    best_difference,
    cgroup_memory_bytes,
    tree_bytes,
)


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
    #: guest RAM: the minimal kernel boots in 48 MiB, 64 MiB leaves a command room; Debian's
    #: generic kernel needs 96 (virt.COURSE_VM_MIN_MIB), the stock target gets 128
    MEMORY_MIB = 64
    STOCK_MEMORY_MIB = 128
    #: TCG translation cache (MiB): QEMU's default grows towards 1 GiB as the guest runs code
    TB_CACHE_MIB = 32
    #: which course VM kernel (None: the default — the minimal one where provisioning built it)
    GUEST_KERNEL: str | None = None

    def _memory_mib(self) -> int:
        from virtlab import virt

        a = virt.artefacts(self.GUEST_KERNEL)
        return self.MEMORY_MIB if a.min_memory_mib <= self.MEMORY_MIB else self.STOCK_MEMORY_MIB

    def available(self) -> str | None:
        a = modes.SECTIONS["libvirt"].live()
        if not a.ok:
            return a.detail
        try:
            from virtlab import virt

            virt.artefacts(self.GUEST_KERNEL)
        except Exception as err:  # noqa: BLE001 - reported as the reason
            return str(err)
        return None

    def warm_up(self) -> None:
        from virtlab import virt

        virt.connect().close()  # the first qemu:///system connection probes capabilities

    @contextlib.contextmanager
    def _vm(self) -> Iterator[Any]:
        from virtlab import virt

        with virt.vm(name=f"bench-{uuid.uuid4().hex[:6]}", memory=self._memory_mib(), boot_timeout=120,
                     guest_kernel=self.GUEST_KERNEL, tb_cache_mib=self.TB_CACHE_MIB) as g:
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

        a = virt.artefacts(self.GUEST_KERNEL)
        return (tree_bytes(a.kernel) + tree_bytes(a.initrd)) / 2**20


class VmStockTarget(VmTarget):
    GUEST_KERNEL = "stock"


TARGET_CLASSES: dict[str, type[Target]] = {"host": HostTarget, "ns": NsTarget, "lxd": LxdTarget,
                                           "vm": VmTarget, "vm-stock": VmStockTarget}
