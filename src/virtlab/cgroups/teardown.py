"""Emptying and removing cgroup directories with a deadline (kill loop, rmdir retries); cleanup of
the course's cgroups.
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from pathlib import Path

from virtlab import PREFIX, probe
from virtlab.cgroups.files import CgroupError, _read, _write
from virtlab.core.registry import cleans
from virtlab.safety import (
    Deadline,
)


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


@cleans(order=50)
def cleanup(prefix: str = PREFIX) -> list[str]:
    """Kill the processes in, and remove, every course cgroup (``vl-*``); returns what went."""
    dirs = course_cgroup_dirs(prefix)
    if not dirs:
        return []
    _remove_dirs(dirs, Deadline(15, "removing course cgroups"))
    return [f"cgroup {d}" for d in dirs]
