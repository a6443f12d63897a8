"""``CourseCgroup``: one course cgroup (v1 or v2) with limits, processes run inside it, usage read
back, always removed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from virtlab import probe
from virtlab.cgroups.files import (
    CPU_PERIOD_US,
    MIN_MEMORY,
    V1_USED,
    CgroupError,
    RunResult,
    Usage,
    _keyed,
    _read,
    _v2_mount,
    _write,
    check_timeout,
    default_version,
    parse_cpu,
    parse_pressure,
    read_limits,
    read_usage,
)
from virtlab.cgroups.teardown import _kill_loop, _remove_dirs
from virtlab.safety import (
    Deadline,
    DeadlineExceeded,
    check_int,
    course_name,
    parse_size,
)


# --------------------------------------------------------------------------- the cgroup
class CourseCgroup:
    """A transient, course-owned cgroup with limits; a context manager.

    ``name``: a course name (``vl-`` is added). ``memory``: "64MiB", bytes, or None.
    ``cpu_quota``: CPUs (0.5 = half of one CPU, "50%"), or None. ``pids``: max processes.
    ``version``: force "v1" or "v2" (default: what this machine uses). ``v2_root``: another
    cgroup2 mount to use (tests mount one in a private mount namespace).
    """

    def __init__(self, name: str, *, memory: int | str | None = None,
                 cpu_quota: float | str | None = None, pids: int | None = None,
                 version: str | None = None, v2_root: str | Path | None = None) -> None:
        self.name = course_name(name)
        self.memory = None if memory is None else parse_size(memory, minimum=MIN_MEMORY, what="memory")
        self.cpu_quota = parse_cpu(cpu_quota)
        self.pids = None if pids is None else check_int(pids, minimum=1, maximum=100_000, what="pids")
        if version not in (None, "v1", "v2"):
            raise ValueError(f"version must be 'v1' or 'v2', not {version!r}")
        self.version = version or ("v2" if v2_root else default_version())
        self.paths: dict[str, Path] = {}
        self._planned = self._plan(Path(v2_root) if v2_root else None)
        self._active = False

    # ----------------------------------------------------------------- planning (no side effects)
    def _plan(self, v2_root: Path | None) -> dict[str, Path]:
        info = probe.cgroups()
        bases = {k: Path(v) for k, v in info.bases.items()}
        plan: dict[str, Path] = {}
        v2 = v2_root or bases.get("unified")
        if self.version == "v2":
            if v2 is None:
                if _v2_mount() is not None and not probe.is_root():
                    raise CgroupError(f"no cgroup v2 subtree is delegated to you ({info.detail}); "
                                      "run the course as root, or ask for a delegated subtree")
                raise CgroupError("there is no cgroup2 hierarchy mounted here; use version='v1'")
            have = set(_read(v2 / "cgroup.controllers").split()) if _read(v2 / "cgroup.controllers") else set()
            for ctrl, wanted in (("memory", self.memory), ("cpu", self.cpu_quota), ("pids", self.pids)):
                if wanted is not None and ctrl not in have:
                    raise ValueError(
                        f"the {ctrl} controller is not available in the cgroup v2 tree at {v2} "
                        f"(available: {' '.join(sorted(have)) or 'none'}); on a hybrid machine it is "
                        "bound to v1: use version='v1' or leave the limit out")
            plan["unified"] = v2 / self.name
        else:
            seen: set[Path] = set()
            for ctrl in V1_USED:
                mnt = bases.get(ctrl)
                if ctrl == "freezer" and v2 is not None:
                    continue  # the v2 companion gives cgroup.freeze
                if mnt is None:
                    if ctrl in ("memory", "cpu", "pids"):
                        if ctrl in info.v1_controllers:
                            raise CgroupError(f"the v1 {ctrl} hierarchy has no course subtree you may "
                                              f"write ({info.detail}); run as root or ask for a "
                                              "delegated subtree")
                        raise CgroupError(f"the v1 {ctrl} controller is not mounted; use version='v2'")
                    continue
                p = Path(mnt) / self.name
                if p in seen:
                    continue
                seen.add(p)
                plan[ctrl] = p
            if v2 is not None:
                plan["unified"] = v2 / self.name
        for p in plan.values():
            if p.exists():
                raise FileExistsError(f"cgroup {p} already exists: choose another name, or remove "
                                      "leftovers with `virtlab cleanup`")
        return plan

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> CourseCgroup:
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def create(self) -> CourseCgroup:
        """Make the directories and write the limits (undone completely on failure)."""
        try:
            if self.version == "v2":
                self._enable_v2_controllers()
            for key, p in self._planned.items():
                p.mkdir()
                self.paths[key] = p
            self._active = True
            self._write_limits()
        except BaseException:
            self.remove()
            raise
        return self

    def _enable_v2_controllers(self) -> None:
        root = self._planned["unified"].parent
        need = [c for c, w in (("memory", self.memory), ("cpu", self.cpu_quota), ("pids", self.pids))
                if w is not None]
        enabled = set((_read(root / "cgroup.subtree_control") or "").split())
        missing = [c for c in need if c not in enabled]
        if missing:
            _write(root / "cgroup.subtree_control", " ".join("+" + c for c in missing))

    def _write_limits(self) -> None:
        p = self.paths
        if self.version == "v2":
            u = p["unified"]
            if self.memory is not None:
                _write(u / "memory.max", str(self.memory))
                if (u / "memory.swap.max").exists():
                    _write(u / "memory.swap.max", "0")
            if self.cpu_quota is not None:
                _write(u / "cpu.max", f"{round(self.cpu_quota * CPU_PERIOD_US)} {CPU_PERIOD_US}")
            if self.pids is not None:
                _write(u / "pids.max", str(self.pids))
            return
        if self.memory is not None:
            _write(p["memory"] / "memory.limit_in_bytes", str(self.memory))
            if (p["memory"] / "memory.memsw.limit_in_bytes").exists():
                _write(p["memory"] / "memory.memsw.limit_in_bytes", str(self.memory))
        if self.cpu_quota is not None:
            _write(p["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(p["cpu"] / "cpu.cfs_quota_us", str(round(self.cpu_quota * CPU_PERIOD_US)))
        if self.pids is not None:
            _write(p["pids"] / "pids.max", str(self.pids))

    def remove(self, timeout: float = 10.0) -> None:
        """Kill everything inside, wait until empty, remove the directories (idempotent)."""
        if not self.paths:
            self._active = False
            return
        dl = Deadline(timeout, f"removing cgroup {self.name}",
                      "a process in it does not die; run `virtlab cleanup` later")
        _remove_dirs(list(self.paths.values()), dl)
        self.paths.clear()
        self._active = False

    # ----------------------------------------------------------------- processes
    def _need_active(self) -> None:
        if not self._active:
            raise CgroupError(f"cgroup {self.name} is not created (use it inside `with`)")

    def procs_files(self) -> list[Path]:
        """Every ``cgroup.procs`` a process must be written to, to be inside this cgroup."""
        return [p / "cgroup.procs" for p in self.paths.values()]

    def add(self, pid: int) -> None:
        """Move process ``pid`` (and its threads) into this cgroup."""
        self._need_active()
        check_int(pid, minimum=1, maximum=2**22, what="pid")
        if not Path(f"/proc/{pid}").exists():
            raise LookupError(f"no process with pid {pid}")
        for f in self.procs_files():
            _write(f, str(pid))

    def join_self(self) -> None:
        """Move the calling process in (meant for a freshly forked child, before exec)."""
        pid = str(os.getpid()).encode()
        for f in self.procs_files():
            fd = os.open(f, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    def procs(self) -> list[int]:
        """Pids inside (from the first hierarchy)."""
        self._need_active()
        text = _read(next(iter(self.paths.values())) / "cgroup.procs") or ""
        return sorted(int(x) for x in text.split())

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen:
        """Start ``argv`` inside this cgroup (it joins before exec); returns the Popen."""
        self._need_active()
        if not isinstance(argv, list | tuple) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a non-empty list of strings, e.g. ['sleep', '1']")
        return subprocess.Popen(argv, preexec_fn=self.join_self, **kwargs)  # noqa: PLW1509

    def run(self, argv: list[str], *, timeout: float = 30.0, input: str | None = None) -> RunResult:
        """Run ``argv`` inside; wait at most ``timeout`` s (then kill everything and raise)."""
        check_timeout(timeout)
        before = self.usage().oom_kills or 0
        start = time.monotonic()
        proc = self.popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            proc.kill()
            proc.communicate()
            raise DeadlineExceeded(f"{argv[0]} in cgroup {self.name}", timeout,
                                   "everything in the cgroup was killed") from None
        elapsed = time.monotonic() - start
        after = self.usage().oom_kills or 0
        return RunResult(list(argv), proc.returncode, out, err, elapsed, after > before)

    def run_python(self, code: str, *, timeout: float = 30.0) -> RunResult:
        """Run a Python snippet inside (this interpreter, ``-c code``)."""
        return self.run([sys.executable, "-c", code], timeout=timeout)

    def kill(self, timeout: float = 5.0) -> int:
        """SIGKILL every process inside; returns how many were signalled."""
        self._need_active()
        u = self.paths.get("unified")
        if u is not None and (u / "cgroup.kill").exists():
            n = len((_read(u / "cgroup.procs") or "").split())
            _write(u / "cgroup.kill", "1")
            Deadline(timeout, f"emptying cgroup {self.name}").wait_for(
                lambda: not (_read(u / "cgroup.procs") or "").split())
            return n
        return _kill_loop(list(self.paths.values()), Deadline(timeout, f"emptying cgroup {self.name}"))

    def freeze(self, frozen: bool = True, timeout: float = 5.0) -> None:
        """Freeze (or thaw) every process inside; waits until the kernel confirms."""
        self._need_active()
        u = self.paths.get("unified")
        if u is not None and (u / "cgroup.freeze").exists():
            _write(u / "cgroup.freeze", "1" if frozen else "0")
            want = "1" if frozen else "0"
            Deadline(timeout, f"freezing cgroup {self.name}").wait_for(
                lambda: _keyed(_read(u / "cgroup.events")).get("frozen") == want)
            return
        f = self.paths.get("freezer")
        if f is None:
            raise CgroupError("no freezer here (neither v2 cgroup.freeze nor the v1 freezer)")
        _write(f / "freezer.state", "FROZEN" if frozen else "THAWED")
        want = "FROZEN" if frozen else "THAWED"
        Deadline(timeout, f"freezing cgroup {self.name}").wait_for(
            lambda: (_read(f / "freezer.state") or "").strip() == want)

    def frozen(self) -> bool:
        self._need_active()
        u = self.paths.get("unified")
        if u is not None and (u / "cgroup.freeze").exists():
            return _keyed(_read(u / "cgroup.events")).get("frozen") == "1"
        return (_read(self.paths["freezer"] / "freezer.state") or "").strip() == "FROZEN"

    # ----------------------------------------------------------------- accounting
    def usage(self) -> Usage:
        """Read the kernel's accounting files now."""
        self._need_active()
        return read_usage(self.version, self.paths)

    def pressure(self, resource: str = "memory") -> dict[str, dict[str, float]]:
        """PSI for this cgroup (``memory``/``cpu``/``io``): {"some": {"avg10":..,"total":..}, ...}."""
        if resource not in ("memory", "cpu", "io"):
            raise ValueError(f"resource must be memory, cpu or io, not {resource!r}")
        self._need_active()
        u = self.paths.get("unified")
        if u is None:
            raise CgroupError("pressure files need a cgroup v2 tree (not mounted here)")
        return parse_pressure(_read(u / f"{resource}.pressure"))

    def limits(self) -> dict[str, Any]:
        """The limits as the kernel files state them (read back, not what was asked)."""
        self._need_active()
        return read_limits(self.version, self.paths)

    def __repr__(self) -> str:
        return f"CourseCgroup({self.name!r}, {self.version}, active={self._active})"
