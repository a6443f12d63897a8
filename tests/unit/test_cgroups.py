"""Unit tests of virtlab.cgroups: validation (nothing created) and the parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from virtlab import cgroups


@pytest.mark.parametrize("bad", [dict(memory=-1), dict(memory="lots"), dict(memory="1TiB"),
                                 dict(memory=1024), dict(cpu_quota=0), dict(cpu_quota="150x"),
                                 dict(cpu_quota=1000), dict(pids=0), dict(pids=10**9),
                                 dict(pids=True), dict(version="v3")])
def test_bad_limits_are_refused_before_anything_exists(bad):
    with pytest.raises(ValueError):
        cgroups.CourseCgroup("t3-unit-bad", **bad)
    assert not cgroups.course_cgroup_dirs("vl-t3-unit-bad")


@pytest.mark.parametrize("name", ["Bad_Name", "", "x" * 60, "a--b"])
def test_bad_names(name):
    with pytest.raises(ValueError):
        cgroups.CourseCgroup(name)


def test_parse_cpu():
    assert cgroups.parse_cpu("25%") == 0.25
    assert cgroups.parse_cpu(0.5) == 0.5
    assert cgroups.parse_cpu(1) == 1.0
    assert cgroups.parse_cpu(None) is None
    with pytest.raises(ValueError, match="out of range"):
        cgroups.parse_cpu(0.001)


def test_parse_pressure():
    text = ("some avg10=1.50 avg60=0.20 avg300=0.00 total=12345\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=99\n")
    p = cgroups.parse_pressure(text)
    assert p["some"]["avg10"] == 1.5 and p["some"]["total"] == 12345
    assert p["full"]["total"] == 99
    assert cgroups.parse_pressure(None) == {}


def _files(d: Path, files: dict[str, str]) -> Path:
    d.mkdir(parents=True)
    for k, v in files.items():
        (d / k).write_text(v)
    return d


def test_read_usage_v2_files(tmp_path):
    u = _files(tmp_path / "u", {
        "cgroup.events": "populated 0\nfrozen 0\n", "memory.current": "4096\n",
        "memory.peak": "67108864\n", "memory.max": "67108864\n",
        "memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n",
        "cpu.stat": "usage_usec 2500000\nuser_usec 1\nsystem_usec 1\nnr_periods 10\n"
                    "nr_throttled 4\nthrottled_usec 300000\n",
        "pids.current": "0\n", "pids.max": "max\n", "pids.events": "max 3\n"})
    us = cgroups.read_usage("v2", {"unified": u})
    assert (us.memory_peak, us.oom_kills, us.memory_failcnt) == (67108864, 1, 12)
    assert us.cpu_seconds == 2.5 and us.cpu_throttled_periods == 4
    assert us.cpu_throttled_seconds == pytest.approx(0.3)
    assert us.pids_limit is None and us.pids_denied == 3 and us.populated is False
    lim = cgroups.read_limits("v2", {"unified": _files(tmp_path / "l", {
        "memory.max": "max\n", "cpu.max": "50000 100000\n", "pids.max": "20\n"})})
    assert lim == {"memory": None, "cpu_quota": 0.5, "pids": 20}


def test_read_usage_v1_files(tmp_path):
    paths = {
        "memory": _files(tmp_path / "m", {"memory.usage_in_bytes": "10\n",
                                          "memory.max_usage_in_bytes": "20\n",
                                          "memory.limit_in_bytes": "9223372036854771712\n",
                                          "memory.failcnt": "5\n",
                                          "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"}),
        "cpuacct": _files(tmp_path / "a", {"cpuacct.usage": "1500000000\n"}),
        "cpu": _files(tmp_path / "c", {"cpu.stat": "nr_periods 7\nnr_throttled 6\nthrottled_time 2000000000\n"}),
        "pids": _files(tmp_path / "p", {"pids.current": "3\n", "pids.max": "20\n", "pids.events": "max 1\n"}),
    }
    us = cgroups.read_usage("v1", paths)
    assert us.memory_limit is None  # "unlimited" is a huge number in v1
    assert (us.memory_peak, us.memory_failcnt, us.oom_kills) == (20, 5, 2)
    assert us.cpu_seconds == 1.5 and us.cpu_throttled_seconds == 2.0
    assert (us.pids_current, us.pids_limit, us.pids_denied) == (3, 20, 1)


def test_expected_share():
    assert cgroups.expected_share(0.3) == 0.3
    assert cgroups.expected_share(2.0, busy_threads=1) == 1.0


def test_run_result_unpacks():
    r = cgroups.RunResult(["x"], -9, "o", "e", 0.1, True)
    assert tuple(r) == (-9, "o", "e") and r.signal == "SIGKILL"


def test_cleanup_prefix_must_be_course():
    with pytest.raises(ValueError):
        cgroups.cleanup("system")


def test_layout_matches_the_mounts():
    mounts = open("/proc/self/mounts").read().split("\n")
    has_v2 = any(" cgroup2 " in m for m in mounts)
    has_v1 = any(" cgroup " in m for m in mounts)
    expected = {(True, True): "hybrid", (True, False): "v2", (False, True): "v1",
                (False, False): "none"}[(has_v2, has_v1)]
    assert cgroups.layout() == expected
    assert cgroups.describe_layout().startswith("this machine" if expected != "none" else "no cgroup")
    if expected != "none":
        assert cgroups.default_version() in ("v1", "v2")


@pytest.mark.parametrize("bad", [0, -1, "10", True, 7200])
def test_check_timeout(bad):
    with pytest.raises(ValueError):
        cgroups.check_timeout(bad)
