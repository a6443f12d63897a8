"""Live tests of virtlab.cgroups on the real kernel (root; hybrid here, v2 on lab VMs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from virtlab import cgroups, namespaces

pytestmark = pytest.mark.live
CHILD_SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_limits_are_written_and_dirs_removed(need):
    need("cgroups")
    with cgroups.CourseCgroup("t3-lim", memory="48MiB", cpu_quota=0.25, pids=12) as cg:
        assert cg.limits() == {"memory": 48 << 20, "cpu_quota": 0.25, "pids": 12}
        dirs = list(cg.paths.values())
        assert all(d.is_dir() for d in dirs)
    assert not any(d.exists() for d in dirs)


def test_memory_limit_oom_kills_child_not_us(need):
    need("cgroups")
    with cgroups.CourseCgroup("t3-oom", memory="64MiB", pids=16) as cg:
        r = cg.run_python(cgroups.MEMORY_HOG.format(mib=200), timeout=60)
        u = cg.usage()
    assert r.returncode == -signal.SIGKILL and r.oom_killed
    assert "survived" not in r.stdout
    assert u.oom_kills and u.oom_kills >= 1
    assert u.memory_peak is None or u.memory_peak <= 64 << 20


def test_pids_limit_refuses_forks(need):
    need("cgroups")
    with cgroups.CourseCgroup("t3-pids", pids=10) as cg:
        r = cg.run_python(cgroups.FORK_LOOP.format(n=50), timeout=60)
        u = cg.usage()
    assert "refused" in r.stdout and "children started: 9" in r.stdout
    assert u.pids_denied and u.pids_denied >= 1


def test_cpu_quota_throttles(need):
    need("cgroups")
    m = cgroups.measure_cpu_share(0.2, 1.0, name="t3-cpu")
    assert 0.05 < m["share"] < 0.3, m  # a shared, noisy machine can only lower it
    assert m["throttled_periods"] > 0


def test_add_procs_freeze_kill(need):
    need("cgroups")
    p = subprocess.Popen(CHILD_SLEEP)
    try:
        with cgroups.CourseCgroup("t3-frz", pids=5) as cg:
            cg.add(p.pid)
            assert cg.procs() == [p.pid]
            cg.freeze()
            assert cg.frozen()
            cg.freeze(False)
            assert not cg.frozen()
            assert cg.kill() == 1
            assert p.wait(5) == -signal.SIGKILL
            assert cg.procs() == []
    finally:
        p.kill()
        p.wait()


def test_add_missing_pid_is_lookup_error(need):
    need("cgroups")
    p = subprocess.Popen(["true"])
    p.wait()
    with cgroups.CourseCgroup("t3-miss") as cg, pytest.raises(LookupError):
        cg.add(p.pid)


def test_body_raises_still_removed(need):
    need("cgroups")
    with pytest.raises(RuntimeError, match="boom"), cgroups.CourseCgroup("t3-raise", pids=5) as cg:
        cg.popen(CHILD_SLEEP)
        raise RuntimeError("boom")
    assert not cgroups.course_cgroup_dirs("vl-t3-raise")


def test_duplicate_name_refused(need):
    need("cgroups")
    with cgroups.CourseCgroup("t3-dup"), pytest.raises(FileExistsError):
        cgroups.CourseCgroup("t3-dup")


def test_timeout_kills_everything(need):
    need("cgroups")
    with cgroups.CourseCgroup("t3-tmo", pids=5) as cg:
        t = time.monotonic()
        with pytest.raises(TimeoutError):
            cg.run(CHILD_SLEEP, timeout=0.5)
        assert time.monotonic() - t < 5
        assert cg.procs() == []


def test_sigkilled_child_mid_limit_leaves_nothing(need):
    need("cgroups")
    with cgroups.CourseCgroup("t3-sigk", memory="64MiB", pids=8) as cg:
        p = cg.popen([sys.executable, "-c", "x = bytearray(40 << 20); import time; time.sleep(60)"])
        time.sleep(0.3)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    assert not cgroups.course_cgroup_dirs("vl-t3-sigk")


def test_owner_killed_then_cleanup_removes_everything(need):
    need("cgroups")
    script = ("from virtlab import cgroups; import sys, time\n"
              "cg = cgroups.CourseCgroup('t3-orphan', memory='64MiB', pids=8).create()\n"
              "cg.popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              "print('ready', flush=True); time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        os.kill(p.pid, signal.SIGKILL)  # no __exit__ runs
        p.wait()
        assert cgroups.course_cgroup_dirs("vl-t3-orphan")
        removed = cgroups.cleanup("vl-t3-orphan")
        assert removed
    finally:
        p.kill()
        p.wait()
    assert not cgroups.course_cgroup_dirs("vl-t3-orphan")


def test_pressure_file(need):
    need("cgroups")
    with cgroups.CourseCgroup("t3-psi", cpu_quota=0.1, pids=4) as cg:
        if "unified" not in cg.paths:
            pytest.skip("no cgroup v2 tree mounted: PSI is per-cgroup only there")
        cg.run_python(cgroups.BUSY_LOOP.format(s=0.6), timeout=10)
        p = cg.pressure("cpu")
    assert p["some"]["total"] > 0  # throttled time shows up as CPU pressure


def _v2_in_private_mount(root_dir: str) -> dict:
    """Runs in a child with its own mount namespace: mount cgroup2 and drive the v2 API."""
    namespaces.mount("cgroup2", root_dir, "cgroup2")
    out: dict = {"controllers": open(f"{root_dir}/cgroup.controllers").read().split()}
    try:
        cgroups.CourseCgroup("t3-v2lim", memory="64MiB", v2_root=root_dir)
    except ValueError as err:
        out["memory_refused"] = str(err)
    with cgroups.CourseCgroup("t3-v2", v2_root=root_dir) as cg:
        assert cg.version == "v2" and list(cg.paths) == ["unified"]
        p = cg.popen([sys.executable, "-c", "import time; time.sleep(30)"])
        out["procs"] = cg.procs() == [p.pid]
        out["populated"] = cg.usage().populated
        cg.freeze()
        out["frozen"] = cg.frozen()
        cg.freeze(False)
        out["killed"] = cg.kill()
        p.wait()
        out["cpu_seconds"] = cg.usage().cpu_seconds
        out["pressure"] = "some" in cg.pressure("memory")
        path = str(cg.paths["unified"])
    out["removed"] = not os.path.exists(path)
    return out


def test_v2_api_on_a_privately_mounted_cgroup2(need):
    """The v2 code path against a cgroup2 tree mounted in a private mount namespace.

    Here (hybrid) that tree has no memory/cpu/pids controllers, so only the core v2 files are
    exercised (procs, events, freeze, kill, cpu.stat, PSI); the v2 limit files are covered by
    the unit tests' parsers and run for real on pure-v2 lab VMs.
    """
    need("cgroups")
    with tempfile.TemporaryDirectory(prefix="vl-t3-") as d:
        out = namespaces.run(lambda: _v2_in_private_mount(d), ["mnt"], timeout=30)
    assert out["procs"] and out["populated"] is True and out["frozen"] is True
    assert out["killed"] == 1 and out["removed"] and out["pressure"]
    assert out["cpu_seconds"] is not None
    if "memory" not in out["controllers"]:
        assert "not available" in out["memory_refused"]


@pytest.mark.serial
def test_exercise_checks_read_the_kernel(need, capsys):
    need("cgroups")
    from virtlab.checks import ep02

    assert ep02.try_memory_limit("64MiB") is True
    assert ep02.try_memory_limit("256MiB") is False
    out = capsys.readouterr().out
    assert "(live) the kernel's file says the limit is 64 MiB" in out
    assert not cgroups.course_cgroup_dirs("vl-ex-mem")
