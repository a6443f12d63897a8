"""Cgroup files: the layout (v1, v2, hybrid), parsing limits, usage and pressure (PSI) from the
controllers' files, writing them.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from virtlab import probe
from virtlab.safety import (
    VirtlabError,
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
