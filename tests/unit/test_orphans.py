"""virtlab.orphans finds course processes on the host by their command line and ends only those."""

from __future__ import annotations

import contextlib
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


def _spawn_as(argv: list[str], uid: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(argv, user=uid, start_new_session=True)  # its own group: killpg


def test_another_lxds_containers_are_not_the_hosts_orphans():
    """A monitor of another LXD (its own LXD_DIR, e.g. the throwaway cluster of the cluster test)
    is a course process, but not the host daemons' to know: never an orphan here. One of the host
    LXD's directory that LXD does not list (or with LXD down) is; so is a learner's project's."""
    foreign = _spawn("[lxc monitor] /tmp/vlc-test/m1/containers vl-orphan-f")
    hosts = _spawn("[lxc monitor] /var/lib/lxd/containers vl-learner-someone_vl-orphan-f")
    try:
        _wait_listed(foreign.pid)
        _wait_listed(hosts.pid)
        found = {p.pid: p for p in orphans.course_processes("vl-")}
        assert found[foreign.pid].home == "/tmp/vlc-test/m1/containers"
        lost = {p.pid for p in orphans.orphans("vl-")}
        assert foreign.pid not in lost and hosts.pid in lost
    finally:
        for p in (foreign, hosts):
            p.kill()
            p.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a process as another user")
def test_a_users_session_vm_is_not_an_orphan():
    """QEMU run by a user's own libvirtd (qemu:///session) is theirs, not the system libvirt's:
    root's cleanup must leave it (a classroom learner's VM). One run as root that the system
    libvirt does not list is an orphan."""
    import pwd
    import signal

    # dash keeps its command line (it does not exec its last command as bash does)
    argv = ["bash", "-c", "exec -a qemu-system-x86_64 /bin/dash -c 'sleep 60' -name guest=vl-orphan-q,x"]
    session = _spawn_as(argv, uid=pwd.getpwnam("nobody").pw_uid)
    system = _spawn_as(argv)
    try:
        _wait_listed(session.pid)
        _wait_listed(system.pid)
        found = {p.pid: p for p in orphans.course_processes("vl-orphan-q")}
        assert found[session.pid].home == "session" and found[system.pid].home == "system"
        assert {p.pid for p in orphans.orphans("vl-orphan-q")} == {system.pid}
        removed = orphans.cleanup("vl-orphan-q")
        assert removed == [f"orphaned qemu of vl-orphan-q (pid {system.pid})"]
        # killed: by the signal itself, or dash exits 128+9 when its child sleep dies first
        assert session.poll() is None and system.wait(5) in (-9, 137)
    finally:
        for p in (session, system):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
