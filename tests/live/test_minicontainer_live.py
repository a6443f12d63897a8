"""Live tests of virtlab.minicontainer (root with cgroup limits; and unprivileged)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from virtlab import cgroups
from virtlab import minicontainer as mc
from virtlab import namespaces as ns

pytestmark = pytest.mark.live


def test_inside_view(need):
    need("container")
    with mc.Container("t3-c1", hostname="minibox") as c:
        code, out, err = c.sh("hostname; id -u; ls /sys/class/net; ps -o pid,comm; ls /")
        info = c.inspect()
    assert code == 0, err
    lines = out.split()
    assert lines[:3] == ["minibox", "0", "lo"]
    assert "sleep" in out and ".virtlab-rootfs" not in out and "proc" in lines
    assert {"mnt", "uts", "ipc", "net", "pid", "cgroup"} <= set(info["own_namespaces"])
    assert info["limits"]["memory"] == 64 << 20 and info["limits"]["pids"] == 64


def test_pid1_is_init_and_commands_are_children_of_the_ns(need):
    need("container")
    with mc.Container("t3-c2") as c:
        _, out, _ = c.run(["cat", "/proc/1/cmdline"])
        assert out.split("\0")[0] == "/bin/sleep"
        assert ns.list_namespaces(c.pid)["pid"] != ns.list_namespaces()["pid"]


def test_writes_stay_in_the_container(need):
    need("container")
    with mc.Container("t3-c3") as c:
        assert c.sh("echo hi > /etc/motd && cat /etc/motd").stdout == "hi\n"
    from virtlab import rootfs

    assert not (rootfs.default_rootfs() / "etc/motd").exists()


def test_memory_limit_inside_container(need):
    need("container")
    with mc.Container("t3-c4", memory="32MiB") as c:
        # busybox has no python: fill a tmpfs-backed file? /dev/shm is absent; use sh + head
        code, _, _ = c.sh("mkdir /m && mount -t tmpfs -o size=200m t /m && head -c 100m /dev/zero > /m/f",
                          timeout=20)
        u = c.cgroup.usage()
    assert code != 0
    assert u.memory_failcnt or u.oom_kills


def test_pids_limit_inside_container(need):
    need("container")
    with mc.Container("t3-c5", pids=8) as c:
        code, out, err = c.sh("for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait", timeout=20)
        u = c.cgroup.usage()
    assert "can't fork" in err or "Resource temporarily unavailable" in err or u.pids_denied


def test_unprivileged_container(need):
    need("container")
    with mc.Container("t3-c6", limits=False, unprivileged=True) as c:
        code, out, _ = c.sh("id -u; cat /proc/self/uid_map")
        assert c.cgroup is None
    assert code == 0 and out.split()[:4] == ["0", "0", "65534", "1"]


def test_command_timeout(need):
    need("container")
    with mc.Container("t3-c7") as c, pytest.raises(TimeoutError):
        c.run(["sleep", "30"], timeout=0.5)


def test_duplicate_running_name_refused(need):
    need("container")
    with mc.Container("t3-c8", limits=False), pytest.raises(FileExistsError):
        mc.Container("t3-c8", limits=False)


def test_owner_killed_then_cleanup(need):
    need("container")
    script = ("from virtlab import minicontainer as mc; import time\n"
              "c = mc.Container('t3-c9').start(); c.run(['true'])\n"
              "print('ready', flush=True); time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        assert "vl-t3-c9" in mc.running()
        assert mc.cleanup("vl-t3-c9")
        assert cgroups.cleanup("vl-t3-c9")
    finally:
        p.kill()
        p.wait()
    assert "vl-t3-c9" not in mc.running()
    assert not cgroups.course_cgroup_dirs("vl-t3-c9")


@pytest.mark.serial
def test_exercise_checks_look_inside(need):
    need("container")
    from virtlab.checks import ep03

    with mc.course_container("t3-ex", hostname="lab3") as c:
        assert ep03.check_hostname(c) is True
        assert ep03.check_file_isolated(c) is False
        c.sh("echo x > /root/notes.txt")
        assert ep03.check_file_isolated(c) is True
    assert ep03.check_not_created("time") and not ep03.check_not_created("user")
