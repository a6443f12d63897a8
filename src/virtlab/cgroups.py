"""Control groups: one small API over cgroup v2 and the v1/hybrid layout.

A *course cgroup* is a transient cgroup named ``vl-...`` that lives only inside a ``with`` block::

    with CourseCgroup("demo", memory="64MiB", cpu_quota=0.5, pids=32) as cg:
        r = cg.run(["python3", "-c", "x = bytearray(200 << 20)"], timeout=20)
        r.returncode, r.oom_killed, cg.usage().memory_peak

Where the limits live:

==============  ===============================  ======================================
limit           cgroup v2 (lab VMs)              cgroup v1 (this project's hybrid hosts)
==============  ===============================  ======================================
memory          ``memory.max`` (+ swap.max 0)    ``memory/…/memory.limit_in_bytes``
CPU quota       ``cpu.max`` ("quota period")     ``cpu/…/cpu.cfs_quota_us`` + period
processes       ``pids.max``                     ``pids/…/pids.max``
==============  ===============================  ======================================

On a hybrid machine a companion directory is also made in the v2 tree (which has no resource
controllers there): it gives ``cgroup.kill``, ``cgroup.freeze``, ``cgroup.events`` and pressure
(PSI) files, exactly as systemd does on hybrid hosts. Leaving the ``with`` block kills whatever
is still inside and removes every directory, even when the body raised or the child was killed.
``cleanup()`` removes course cgroups left by a killed kernel.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from virtlab import PREFIX, modes, owners, probe
from virtlab.safety import (
    Deadline,
    DeadlineExceeded,
    VirtlabError,
    check_int,
    course_name,
    parse_size,
)

#: v1 controllers a course cgroup uses (``freezer`` only when there is no v2 tree).
V1_USED = ("memory", "cpu", "cpuacct", "pids", "freezer")
CPU_PERIOD_US = 100_000
MIN_MEMORY = 4 * 1024**2


class CgroupError(VirtlabError, RuntimeError):
    """The kernel refused a cgroup operation; the message says which file and why."""


@dataclass
class Usage:
    """What the kernel accounts for a cgroup (``None`` where this layout has no such file)."""

    version: str
    memory_bytes: int | None = None
    memory_peak: int | None = None
    memory_limit: int | None = None
    memory_failcnt: int | None = None  # times the limit was hit (v1 failcnt / v2 events "max")
    oom_kills: int | None = None
    cpu_seconds: float | None = None
    cpu_periods: int | None = None
    cpu_throttled_periods: int | None = None
    cpu_throttled_seconds: float | None = None
    pids_current: int | None = None
    pids_limit: int | None = None
    pids_denied: int | None = None  # forks refused by pids.max
    populated: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    """The outcome of :meth:`CourseCgroup.run`."""

    argv: list[str]
    returncode: int  # negative: killed by that signal (as in subprocess)
    stdout: str
    stderr: str
    elapsed: float
    oom_killed: bool

    @property
    def signal(self) -> str | None:
        return signal.Signals(-self.returncode).name if self.returncode < 0 else None

    def __iter__(self) -> Iterator[Any]:  # (exit_code, stdout, stderr), like pylxd's execute()
        return iter((self.returncode, self.stdout, self.stderr))


# --------------------------------------------------------------------------- layout
def layout() -> str:
    """``"v2"``, ``"hybrid"``, ``"v1"`` or ``"none"`` (from /proc/self/mounts)."""
    return probe.cgroups().layout


def _v2_mount() -> Path | None:
    m = probe.cgroups().v2_mount
    return Path(m) if m else None


def default_version() -> str:
    """Which API serves the limits here: ``"v2"`` when v2 holds the memory controller."""
    info = probe.cgroups()
    if info.v2_mount and "memory" in info.v2_controllers:
        return "v2"
    if "memory" in info.v1_controllers:
        return "v1"
    raise CgroupError("no memory cgroup controller is mounted on this machine; "
                      "use a Linux lab VM (cgroup v2 or v1)")


def parse_cpu(value: float | int | str | None) -> float | None:
    """CPU quota as a number of CPUs: ``0.5``, ``"50%"``, ``2`` -> 0.5, 0.5, 2.0.

    >>> parse_cpu("25%")
    0.25
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"cpu_quota must be a number of CPUs like 0.5 or a string like '50%', not {value!r}")
    if isinstance(value, str):
        s = value.strip()
        try:
            v = float(s[:-1]) / 100 if s.endswith("%") else float(s)
        except ValueError:
            raise ValueError(f"cpu_quota {value!r} is not understood: write 0.5 or '50%'") from None
    elif isinstance(value, int | float):
        v = float(value)
    else:
        raise ValueError(f"cpu_quota must be a number of CPUs like 0.5, not {value!r}")
    ncpu = os.cpu_count() or 1
    if not 0.01 <= v <= ncpu:
        raise ValueError(f"cpu_quota {value!r} is out of range: between 0.01 (1%) and {ncpu} "
                         f"(all {ncpu} CPUs of this machine)")
    return v


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _keyed(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    t = text.strip()
    if t == "max":
        return None
    return int(t)


def _write(path: Path, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as err:
        raise CgroupError(f"writing {value!r} to {path} failed: {err.strerror or err}") from err


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


def check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600:
        raise ValueError(f"timeout must be a number of seconds between 0 and 3600, not {timeout!r}")
    return float(timeout)


def parse_pressure(text: str | None) -> dict[str, dict[str, float]]:
    """Parse a PSI file ("some avg10=0.00 avg60=0.00 avg300=0.00 total=0")."""
    out: dict[str, dict[str, float]] = {}
    for line in (text or "").splitlines():
        kind, *fields = line.split()
        out[kind] = {k: float(v) for k, v in (f.split("=") for f in fields)}
    return out


def read_limits(version: str, paths: dict[str, Path]) -> dict[str, Any]:
    if version == "v2":
        u = paths["unified"]
        cpu = (_read(u / "cpu.max") or "max").split()
        return {"memory": _int(_read(u / "memory.max")),
                "cpu_quota": None if cpu[0] == "max" else int(cpu[0]) / int(cpu[1]),
                "pids": _int(_read(u / "pids.max"))}
    mem = _int(_read(paths["memory"] / "memory.limit_in_bytes"))
    q = _int(_read(paths["cpu"] / "cpu.cfs_quota_us"))
    per = _int(_read(paths["cpu"] / "cpu.cfs_period_us")) or CPU_PERIOD_US
    return {"memory": None if mem is None or mem >= 2**62 else mem,
            "cpu_quota": None if q is None or q < 0 else q / per,
            "pids": _int(_read(paths["pids"] / "pids.max"))}


def read_usage(version: str, paths: dict[str, Path]) -> Usage:
    """Accounting of a cgroup given its directories (see :class:`Usage`)."""
    u = Usage(version)
    uni = paths.get("unified")
    if uni is not None:
        ev = _keyed(_read(uni / "cgroup.events"))
        if "populated" in ev:
            u.populated = ev["populated"] == "1"
    if version == "v2":
        assert uni is not None
        u.memory_bytes = _int(_read(uni / "memory.current"))
        u.memory_peak = _int(_read(uni / "memory.peak"))
        u.memory_limit = _int(_read(uni / "memory.max"))
        mev = _keyed(_read(uni / "memory.events"))
        if mev:
            u.memory_failcnt = int(mev.get("max", 0))
            u.oom_kills = int(mev.get("oom_kill", 0))
        cs = _keyed(_read(uni / "cpu.stat"))
        if "usage_usec" in cs:
            u.cpu_seconds = int(cs["usage_usec"]) / 1e6
        if "nr_periods" in cs:
            u.cpu_periods = int(cs["nr_periods"])
            u.cpu_throttled_periods = int(cs["nr_throttled"])
            u.cpu_throttled_seconds = int(cs["throttled_usec"]) / 1e6
        _read_pids(uni, u)
        return u
    m = paths.get("memory")
    if m is not None:
        u.memory_bytes = _int(_read(m / "memory.usage_in_bytes"))
        u.memory_peak = _int(_read(m / "memory.max_usage_in_bytes"))
        lim = _int(_read(m / "memory.limit_in_bytes"))
        u.memory_limit = None if lim is None or lim >= 2**62 else lim
        u.memory_failcnt = _int(_read(m / "memory.failcnt"))
        oc = _keyed(_read(m / "memory.oom_control"))
        if "oom_kill" in oc:
            u.oom_kills = int(oc["oom_kill"])
    acct = paths.get("cpuacct")
    if acct is not None and (acct / "cpuacct.usage").exists():
        u.cpu_seconds = int(_read(acct / "cpuacct.usage") or 0) / 1e9
    c = paths.get("cpu")
    if c is not None:
        cs = _keyed(_read(c / "cpu.stat"))
        if "nr_periods" in cs:
            u.cpu_periods = int(cs["nr_periods"])
            u.cpu_throttled_periods = int(cs["nr_throttled"])
            u.cpu_throttled_seconds = int(cs["throttled_time"]) / 1e9
    if paths.get("pids") is not None:
        _read_pids(paths["pids"], u)
    return u


def _read_pids(d: Path, u: Usage) -> None:
    """The pids controller's files are named alike in v1 and v2."""
    u.pids_current = _int(_read(d / "pids.current"))
    u.pids_limit = _int(_read(d / "pids.max"))
    pev = _keyed(_read(d / "pids.events"))
    if pev:
        u.pids_denied = int(pev.get("max", 0))


# --------------------------------------------------------------------------- removal & cleanup
def _pids_in(dirs: list[Path]) -> set[int]:
    out: set[int] = set()
    for d in dirs:
        for sub in [d, *[c for c in d.rglob("*") if c.is_dir()]] if d.exists() else []:
            out.update(int(x) for x in (_read(sub / "cgroup.procs") or "").split())
    return out


def _kill_loop(dirs: list[Path], dl: Deadline) -> int:
    killed: set[int] = set()
    while True:
        pids = _pids_in(dirs)
        if not pids:
            return len(killed)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        dl.check()
        time.sleep(0.01)


def _remove_dirs(dirs: list[Path], dl: Deadline) -> None:
    existing = [d for d in dirs if d.exists()]
    for d in existing:
        if (d / "cgroup.kill").exists() and _pids_in([d]):
            with contextlib.suppress(OSError):
                _write(d / "cgroup.kill", "1")
    _kill_loop(existing, dl)
    for d in existing:
        # children first (a learner may have made sub-cgroups)
        for sub in sorted((c for c in d.rglob("*") if c.is_dir()), key=lambda c: -len(c.parts)):
            _rmdir_retry(sub, dl)
        _rmdir_retry(d, dl)


def _rmdir_retry(d: Path, dl: Deadline) -> None:
    while True:
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or dl.expired():
                raise CgroupError(f"cannot remove {d}: {err.strerror}") from err
            time.sleep(0.02)


def course_cgroup_dirs(prefix: str = PREFIX) -> list[Path]:
    """Every course cgroup directory the caller may remove (name starting with ``prefix``).

    A learner sees only their own delegated subtree; root sees the top of every hierarchy and
    every learner's subtree.
    """
    if not prefix.startswith(PREFIX):
        raise ValueError(f"prefix must start with {PREFIX!r}")
    info = probe.cgroups()
    roots = {Path(b) for b in info.bases.values()}
    if probe.is_root():
        for top in list(roots):
            learners = top / probe.DELEGATED_DIR
            with contextlib.suppress(OSError):
                roots.update(d for d in learners.iterdir() if d.is_dir())
    found = []
    for root in sorted(roots):
        with contextlib.suppress(OSError):
            found.extend(sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith(prefix)))
    return found


def cleanup(prefix: str = PREFIX) -> list[str]:
    """Kill the processes in, and remove, every course cgroup (``vl-*``) the caller made (its
    owner in the file system; root's ``--all-users``: everyone's); returns what went."""
    dirs = [d for d in course_cgroup_dirs(prefix) if owners.path_is_mine(d)]
    if not dirs:
        return []
    _remove_dirs(dirs, Deadline(15, "removing course cgroups"))
    return [f"cgroup {d}" for d in dirs]


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


@modes.demo("cgroups.memory_oom", section="cgroups")
def demo_memory_oom(backend: modes.Backend) -> dict[str, Any]:
    """A child asks for 200 MiB in a 64 MiB cgroup: the kernel OOM-kills it, we survive."""
    with CourseCgroup("demo-mem", memory="64MiB", pids=16) as cg:
        r = cg.run_python(MEMORY_HOG.format(mib=200), timeout=60)
        u = cg.usage()
        lim = cg.limits()
    return {"layout": layout(), "version": u.version, "limit": lim["memory"],
            "returncode": r.returncode, "signal": r.signal, "oom_killed": r.oom_killed,
            "last_line": (r.stdout.strip().splitlines() or [""])[-1], "elapsed": r.elapsed,
            "usage": u.to_dict()}


@modes.demo("cgroups.cpu_quota", section="cgroups")
def demo_cpu_quota(backend: modes.Backend) -> dict[str, Any]:
    """A busy loop under several CPU quotas: measured share vs quota."""
    rows = [measure_cpu_share(q, 1.0, name=f"demo-cpu-{i}") for i, q in
            enumerate((0.1, 0.25, 0.5, 0.75, 1.0))]
    return {"layout": layout(), "ncpu": os.cpu_count(), "rows": rows}


@modes.demo("cgroups.pids_fork", section="cgroups")
def demo_pids_fork(backend: modes.Backend) -> dict[str, Any]:
    """A Python fork loop inside pids.max=20 is refused at the limit."""
    with CourseCgroup("demo-pids", pids=20, memory="256MiB") as cg:
        r = cg.run_python(FORK_LOOP.format(n=100), timeout=60)
        u = cg.usage()
    return {"pids_max": 20, "returncode": r.returncode, "stdout": r.stdout.strip().splitlines(),
            "pids_denied": u.pids_denied, "version": u.version}


def _own_v2_subtree(backend: modes.Backend) -> str | None:
    if "unified" in probe.cgroups().bases:
        return None
    return ("a cgroup v2 subtree of your own (pressure files exist only in cgroup v2; "
            + ("none is mounted here)" if probe.cgroups().v2_mount is None else
               "this session's processes do not live in one delegated to you)"))


@modes.demo("cgroups.pressure", section="cgroups", requires=_own_v2_subtree)
def demo_pressure(backend: modes.Backend) -> dict[str, Any]:
    """CPU pressure (PSI) of a cgroup whose busy loop is throttled to 20 % of a CPU."""
    with CourseCgroup("demo-psi", cpu_quota=0.2, pids=8) as cg:
        before = cg.pressure("cpu")
        r = cg.run_python(BUSY_LOOP.format(s=2.0), timeout=30)
        after = cg.pressure("cpu")
        u = cg.usage()
    return {"before": before, "after": after, "wall": r.elapsed, "cpu_seconds": u.cpu_seconds,
            "stalled_seconds": (after.get("some", {}).get("total", 0) - before.get("some", {}).get("total", 0)) / 1e6}


@modes.demo("cgroups.freeze", section="cgroups")
def demo_freeze(backend: modes.Backend, window: float = 0.5) -> dict[str, Any]:
    """A busy loop: CPU used while running, frozen, thawed; then the whole group is killed."""
    with CourseCgroup("demo-frz", pids=8) as cg:
        p = cg.popen([sys.executable, "-c", BUSY_LOOP.format(s=30)])
        time.sleep(0.2)  # let the interpreter start
        phases = []
        for phase in ("running", "frozen", "thawed"):
            if phase == "frozen":
                cg.freeze()
            elif phase == "thawed":
                cg.freeze(False)
            before = cg.usage().cpu_seconds or 0.0
            time.sleep(window)
            phases.append({"phase": phase, "cpu_seconds": (cg.usage().cpu_seconds or 0.0) - before,
                           "window": window})
        killed = cg.kill()
        code = p.wait(5)
    return {"phases": phases, "killed": killed, "returncode": code}


def show_freeze(r: modes.Result) -> None:
    for ph in r.data["phases"]:
        print(f"{ph['phase']:<8} CPU used in {ph['window']:.1f} s: {ph['cpu_seconds']:.2f} s")
    print(f"then killed the whole group: {r.data['killed']} process(es), exit code {r.data['returncode']}")


def show_memory_oom(r: modes.Result) -> None:
    d = r.data
    print(f"cgroup API: {d['version']} (machine layout: {d['layout']}); memory limit {d['limit'] >> 20} MiB")
    print(f"child: exit {d['returncode']} ({d['signal'] or 'no signal'}); OOM-killed: "
          f"{'yes' if d['oom_killed'] else 'no'}; last words: {d['last_line']!r}")
    u = d["usage"]
    peak = u.get("memory_peak")
    print(f"peak memory charged: {peak >> 20 if peak else '?'} MiB of {d['limit'] >> 20} MiB; "
          f"OOM kills counted by the kernel: {u.get('oom_kills')}")
    print("the notebook's own process is still alive: yes")


def show_pids(r: modes.Result) -> None:
    d = r.data
    for line in d["stdout"]:
        print("child:", line)
    print(f"pids.max = {d['pids_max']}; forks refused by the kernel: {d['pids_denied']}")


def show_cpu(r: modes.Result) -> None:
    d = r.data
    print(f"{'quota (CPUs)':>12}  {'measured share':>14}  {'throttled periods':>17}")
    for row in d["rows"]:
        print(f"{row['quota']:>12.2f}  {row['share']:>14.2f}  {row['throttled_periods']:>17}")


def plot_cpu(r: modes.Result):  # noqa: ANN201 - matplotlib figure
    """Measured CPU share against the quota (with the ideal line)."""
    from virtlab import plots

    rows = r.data["rows"]
    q = [row["quota"] for row in rows]
    s = [row["share"] for row in rows]
    fig = plots.figure(figsize=(5, 3.2))
    ax = fig.subplots()
    ax.plot([0, 1.05], [0, 1.05], "--", color="grey", label="share = quota")
    ax.plot(q, s, "o-", label="measured (one busy loop)")
    ax.set_xlabel("CPU quota (CPUs)")
    ax.set_ylabel("measured CPU share (CPUs)")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper left")
    return fig


def show_pressure(r: modes.Result) -> None:
    d = r.data
    print(f"busy loop under a 0.2 CPU quota: {d['cpu_seconds']:.2f} s of CPU in {d['wall']:.2f} s")
    print(f"CPU pressure 'some' grew by {d['stalled_seconds']:.2f} s "
          f"(time in which the group had runnable work but was not allowed to run)")
    print(f"avg10 afterwards: {d['after'].get('some', {}).get('avg10', 0):.0f} % of the last 10 s")


def describe_layout() -> str:
    """One sentence about this machine's cgroup layout."""
    lay = layout()
    if lay == "v2":
        return "this machine uses cgroup v2 only: one tree, every controller in it"
    if lay == "hybrid":
        return ("this machine is hybrid: the controllers (memory, cpu, pids, ...) are in v1 trees, "
                "a v2 tree is mounted beside them without resource controllers")
    if lay == "v1":
        return "this machine uses cgroup v1 only: one tree per controller"
    return "no cgroup file system is mounted here"
