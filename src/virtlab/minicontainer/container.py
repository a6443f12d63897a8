"""The mini container: pivot_root into a prepared root, the ``Container`` handle, listing and
cleaning up running ones, start latency.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import statistics
import time
from pathlib import Path
from typing import Any

from virtlab import PREFIX, _sys, probe, rootfs
from virtlab import cgroups as cg
from virtlab import namespaces as ns
from virtlab.core.registry import cleans
from virtlab.safety import Deadline, VirtlabError, check_int, course_name, parse_size

TYPES = ("mnt", "uts", "ipc", "net", "pid", "cgroup")


MARKER = "VIRTLAB_CONTAINER"


INIT = ["/bin/sleep", "2147483647"]


SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217}


DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


class ContainerError(VirtlabError, RuntimeError):
    """The container could not be started or is not running."""


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): make ``new_root`` the root; the old root moves to ``put_old``."""
    nr = SYS_PIVOT_ROOT.get(os.uname().machine)
    if nr is None:
        raise ContainerError(f"pivot_root: unknown syscall number on {os.uname().machine}")
    if _sys.libc().syscall(ctypes.c_long(nr), new_root.encode(), put_old.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root {new_root}: {os.strerror(err)}")


def prepare_root(lower: Path, staging: Path) -> None:
    """In the container's mount namespace: overlay + /dev + pivot_root + /proc + /sys."""
    ns.mount("tmpfs", str(staging), "tmpfs", ns.MS_NOSUID | ns.MS_NODEV, "size=16m,mode=755")
    new = staging / "root"
    for d in ("upper", "work", "root"):
        (staging / d).mkdir()
    try:  # a writable layer over the shared read-only tree (what Docker and LXD also do)
        ns.mount("overlay", str(new), "overlay", 0,
                 f"lowerdir={lower},upperdir={staging}/upper,workdir={staging}/work")
    except OSError:  # no overlayfs: use the tree itself, read-only
        ns.mount(str(lower), str(new), None, ns.MS_BIND | ns.MS_REC)
    # writable scratch space owned by the container's root: an unprivileged container cannot
    # copy up files of the (unmapped) host root, so /tmp, /root and /run are fresh tmpfs mounts
    for d, mode in (("tmp", "1777"), ("root", "700"), ("run", "755")):
        ns.mount("tmpfs", str(new / d), "tmpfs", ns.MS_NOSUID | ns.MS_NODEV, f"size=8m,mode={mode}")
    ns.mount("tmpfs", str(new / "dev"), "tmpfs", ns.MS_NOSUID, "size=64k,mode=755")
    for dev in DEVICES:  # bind the few harmless device nodes a shell needs
        (new / "dev" / dev).touch()
        ns.mount(f"/dev/{dev}", str(new / "dev" / dev), None, ns.MS_BIND)
    # /proc and /sys before pivot_root: in a user namespace the kernel only allows a new proc
    # mount while a fully visible one is still in this mount namespace
    ns.mount("proc", str(new / "proc"), "proc", ns.MS_NOSUID | ns.MS_NODEV | ns.MS_NOEXEC)
    with contextlib.suppress(OSError):
        ns.mount("sysfs", str(new / "sys"), "sysfs", ns.MS_RDONLY | ns.MS_NOSUID | ns.MS_NODEV | ns.MS_NOEXEC)
    (new / ".oldroot").mkdir()
    pivot_root(str(new), str(new / ".oldroot"))
    os.chdir("/")
    ns.umount("/.oldroot", ns.MNT_DETACH)  # the host's tree is gone from this namespace
    os.rmdir("/.oldroot")


class Container:
    """A minimal container: busybox root, new namespaces, cgroup limits, a hostname.

    ``memory``/``pids``/``cpu`` are the cgroup limits (``cpu`` in CPUs, 0.5 = half a CPU).
    ``limits``: apply them (default: when this process may create cgroups, i.e. root).
    ``unprivileged``: build the container inside a user namespace as uid 65534 (default: when
    we are not root). ``rootfs``: the lower tree (default: the course busybox tree).
    """

    def __init__(self, name: str, *, memory: int | str | None = "64MiB", pids: int | None = 64,
                 cpu: float | str | None = None, hostname: str | None = None,
                 rootfs_dir: str | Path | None = None, limits: bool | None = None,
                 unprivileged: bool | None = None, timeout: float = 15.0) -> None:
        self.name = course_name(name)
        self.hostname = hostname or self.name
        self.unprivileged = (not probe.is_root()) if unprivileged is None else bool(unprivileged)
        can_limit = probe.cgroups().writable  # root, or a cgroup subtree delegated to us
        if limits and not can_limit:
            raise ContainerError("cgroup limits need root or a cgroup subtree delegated to you; "
                                 "pass limits=False")
        self.limited = can_limit if limits is None else bool(limits)
        # validate everything before anything is created
        self._cgroup = cg.CourseCgroup(self.name, memory=memory, pids=pids, cpu_quota=cpu) \
            if self.limited else None
        if not self.limited:  # still refuse nonsense, even if it will not be applied
            cg.parse_cpu(cpu)
            if memory is not None:
                parse_size(memory, minimum=cg.MIN_MEMORY, what="memory")
            if pids is not None:
                check_int(pids, minimum=1, maximum=100_000, what="pids")
        ns.Spec(types=TYPES, hostname=self.hostname)  # validates the hostname
        self.rootfs = Path(rootfs_dir) if rootfs_dir else None
        if self.rootfs is not None and not (self.rootfs / "bin" / "sh").exists():
            raise ValueError(f"{self.rootfs} does not look like a root filesystem (no bin/sh)")
        if self.name in running():
            raise FileExistsError(f"a container named {self.name} is already running; "
                                  "pick another name or run `virtlab cleanup`")
        self.timeout = timeout
        self._init: ns.Launched | None = None
        self.started_at: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Container:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _types(self) -> tuple[str, ...]:
        return (*TYPES, "user") if self.unprivileged else TYPES

    def _env(self) -> dict[str, str]:
        return {"PATH": "/bin:/sbin:/usr/bin:/usr/sbin", "HOME": "/root", "TERM": "dumb",
                "HOSTNAME": self.hostname, MARKER: self.name}

    def start(self) -> Container:
        """Create the cgroup and the init process; returns once the init runs."""
        lower = self.rootfs or rootfs.default_rootfs()
        staging = rootfs.data_dir() / "mnt"
        staging.mkdir(exist_ok=True)
        t0 = time.monotonic()
        try:
            if self._cgroup is not None:
                self._cgroup.create()
            spec = ns.Spec(types=self._types(), hostname=self.hostname, unprivileged=self.unprivileged,
                           cgroup=self._cgroup, setup=lambda: prepare_root(lower, staging),
                           env=self._env(), cwd="/")
            self._init = ns.launch(spec, list(INIT), capture=False)
            for m in self._init.messages:
                if m[0] == "error":
                    raise ns.NamespaceError(m[1], m[2])
            self._init_pid(Deadline(self.timeout, f"starting container {self.name}"))
        except BaseException:
            self.stop()
            raise
        self.started_at = time.monotonic() - t0
        return self

    def _init_pid(self, dl: Deadline) -> int:
        child = self._init
        assert child is not None
        while child.inner_pid is None:
            import select

            r, _, _ = select.select([child.report_fd], [], [], max(dl.remaining(), 0.001))
            if r:
                data = os.read(child.report_fd, 4096)
                if not data:
                    raise ContainerError(f"container {self.name} died while starting")
                for m in ns._decode(data):
                    child.messages.append(m)
                    if m[0] == "pid":
                        child.inner_pid = m[1]
                    elif m[0] == "error":
                        raise ns.NamespaceError(m[1], m[2])
            dl.check()
        # wait until the init has exec'd inside its new root (its /proc/PID/root changed)
        dl.wait_for(lambda: _readlink(f"/proc/{child.inner_pid}/exe").endswith("busybox"))
        return child.inner_pid

    @property
    def pid(self) -> int:
        """The init's pid as the host sees it."""
        if self._init is None or self._init.inner_pid is None:
            raise ContainerError(f"container {self.name} is not running (use it inside `with`)")
        return self._init.inner_pid

    @property
    def cgroup(self) -> cg.CourseCgroup | None:
        return self._cgroup

    def run(self, argv: list[str], *, timeout: float = 10.0, input: str | None = None) -> ns.CommandResult:
        """Run ``argv`` inside (like ``docker exec``); unpacks as ``(exit_code, stdout, stderr)``."""
        if not isinstance(argv, list | tuple) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a non-empty list of strings, e.g. ['sh', '-c', 'id']")
        spec = ns.Spec(types=self._types(), join_pid=self.pid, unprivileged=self.unprivileged,
                       cgroup=self._cgroup, env=self._env(), cwd="/")
        return ns.run_command(list(argv), timeout=timeout, input=input, spec=spec)

    def sh(self, script: str, *, timeout: float = 10.0) -> ns.CommandResult:
        """Run a shell snippet inside (``/bin/sh -c script``)."""
        return self.run(["/bin/sh", "-c", script], timeout=timeout)

    def inspect(self) -> dict[str, Any]:
        """The container from the host's side: pid, namespaces vs ours, cgroup limits + usage."""
        mine = ns.list_namespaces("self")
        theirs = ns.list_namespaces(self.pid)
        out: dict[str, Any] = {
            "name": self.name, "host_pid": self.pid, "hostname": self.hostname,
            "unprivileged": self.unprivileged,
            "own_namespaces": sorted(t for t in theirs if theirs[t] != mine.get(t)),
            "shared_namespaces": sorted(t for t in theirs if theirs[t] == mine.get(t)),
            "root": _readlink(f"/proc/{self.pid}/root"),
            "uid_map": " ".join(Path(f"/proc/{self.pid}/uid_map").read_text().split()),
        }
        if self._cgroup is not None:
            out["cgroup"] = self._cgroup.name
            out["limits"] = self._cgroup.limits()
            out["usage"] = self._cgroup.usage().to_dict()
            out["cgroup_procs"] = len(self._cgroup.procs())
        return out

    def stop(self) -> None:
        """Kill everything in the container and remove its cgroup (idempotent)."""
        steps = []
        if self._init is not None:
            init = self._init
            steps.append(("kill init", lambda: (init.kill(), init.reap(5), init.close())))
        if self._cgroup is not None:
            steps.append(("remove cgroup", self._cgroup.remove))
        try:
            from virtlab.safety import cleanup_all

            cleanup_all(steps)
        finally:
            self._init = None


def course_container(name: str, **kwargs: Any) -> Container:
    """A :class:`Container` set up for the current mode: as root with cgroup limits in live
    mode; unprivileged (user namespace, no limits) in embedded mode."""
    unpriv = ns.unprivileged_for_mode("container")
    kwargs.setdefault("unprivileged", unpriv)
    kwargs.setdefault("limits", not unpriv)
    return Container(name, **kwargs)


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def running(prefix: str = PREFIX) -> dict[str, list[int]]:
    """Course containers' processes found by their environment marker: name -> pids."""
    found: dict[str, list[int]] = {}
    key = f"{MARKER}=".encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            env = Path(f"/proc/{d}/environ").read_bytes()
        except OSError:
            continue
        for item in env.split(b"\0"):
            if item.startswith(key):
                name = item[len(key):].decode(errors="replace")
                if name.startswith(prefix):
                    found.setdefault(name, []).append(int(d))
    return found


@cleans(order=30)  # before cgroups: their cgroups go with cgroups.cleanup
def cleanup(prefix: str = PREFIX) -> list[str]:
    """Kill course containers left running (their cgroups go with ``cgroups.cleanup``)."""
    if not prefix.startswith(PREFIX):
        raise ValueError(f"prefix must start with {PREFIX!r}")
    removed = []
    for name, pids in running(prefix).items():
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        removed.append(f"container {name} ({len(pids)} processes)")
    if removed:
        Deadline(5, "killing course containers").wait_for(lambda: not running(prefix))
    return removed


def bench_latency(n: int = 10) -> dict[str, Any]:
    """Median start-to-first-command and exec latency of the mini container (one run)."""
    starts, firsts, execs = [], [], []
    for i in range(n):
        t = time.perf_counter()
        with Container(f"bench-{i}") as c:
            t1 = time.perf_counter()
            c.run(["/bin/true"])
            t2 = time.perf_counter()
            c.run(["/bin/true"])
            t3 = time.perf_counter()
        starts.append(t1 - t)
        firsts.append(t2 - t)
        execs.append(t3 - t2)
    return {"n": n, "start_median_s": statistics.median(starts),
            "start_to_first_command_median_s": statistics.median(firsts),
            "exec_median_s": statistics.median(execs)}
