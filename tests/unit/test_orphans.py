"""virtlab.orphans finds course processes on the host by their command line and ends only those."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from virtlab import orphans


def _spawn(argv0: str) -> subprocess.Popen:
    """A real process whose command line reads like an LXC monitor's (one argv[0] with spaces)."""
    # bash's exec -a sets argv[0] to anything, as liblxc does for its monitor
    return subprocess.Popen(["bash", "-c", f'exec -a "{argv0}" sleep 60'])


def _wait_listed(pid: int) -> None:
    end = time.monotonic() + 5
    while time.monotonic() < end:
        if any(p.pid == pid for p in orphans.course_processes()):
            return
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} never showed up as a course process")


def test_finds_a_course_lxc_monitor_and_ignores_others():
    ours = _spawn("[lxc monitor] /var/lib/lxd/containers vl-orphan-test")
    other = _spawn("[lxc monitor] /var/lib/lxd/containers someone-elses")
    try:
        _wait_listed(ours.pid)
        found = {p.pid: p for p in orphans.course_processes()}
        assert found[ours.pid].kind == "lxc-monitor" and found[ours.pid].instance == "vl-orphan-test"
        assert other.pid not in found
    finally:
        for p in (ours, other):
            p.kill()
            p.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="ending orphans is root's job (a learner's cleanup skips it)")
def test_cleanup_ends_a_course_orphan_and_leaves_a_stranger_running():
    ours = _spawn("[lxc monitor] /var/lib/lxd/containers vl-orphan-test2")
    other = _spawn("[lxc monitor] /var/lib/lxd/containers not-the-course")
    try:
        _wait_listed(ours.pid)
        removed = orphans.cleanup("vl-orphan-test2")
        assert any("vl-orphan-test2" in r for r in removed)
        assert ours.wait(5) == -9
        assert other.poll() is None  # never a process that is not the course's
    finally:
        for p in (ours, other):
            if p.poll() is None:
                p.kill()
            p.wait()


def test_prefix_must_be_the_courses():
    with pytest.raises(ValueError):
        orphans.course_processes("x-")
