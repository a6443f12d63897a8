"""Live tests of virtlab.namespaces on the real kernel (root and unprivileged paths)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from virtlab import cgroups, minicontainer
from virtlab import namespaces as ns

pytestmark = pytest.mark.live


@pytest.mark.parametrize("unpriv", [False, True])
def test_each_type_gets_a_new_namespace(need, unpriv):
    need("namespaces")
    mine = ns.list_namespaces()
    for t in ns.TYPES:
        types = ["pid", "mnt"] if t == "pid" else [t]
        theirs = ns.run(lambda: ns.list_namespaces("self"), types, unprivileged=unpriv)
        assert theirs[t] != mine[t], t
        if t == "pid":
            # a new pid ns applies to children: the grandchild sees its own pid_for_children
            assert theirs["pid"] != mine["pid"]


def test_uts_pid_net_views(need):
    need("namespaces")
    v = ns.view(["uts", "pid", "mnt", "net"], hostname="vl-t3-host")
    assert v["hostname"] == "vl-t3-host" and socket.gethostname() != "vl-t3-host"
    assert v["pid"] == 1 and v["visible_processes"] == 1
    assert v["interfaces"] == ["lo"]


def test_unprivileged_user_namespace_maps_root_to_nobody(need):
    need("namespaces")
    v = ns.view(["user"], unprivileged=True)
    assert v["uid"] == 0
    assert v["uid_map"] == f"0 {ns.NOBODY if os.geteuid() == 0 else os.getuid()} 1"


def test_time_namespace_offsets_boottime(need):
    need("namespaces")
    v = ns.view(["time"], boottime_offset=86400 * 10)
    host = ns.observe()
    assert 9.5 < v["uptime_days"] - host["uptime_days"] < 10.5


def test_private_mount_invisible_to_host(need):
    need("namespaces")
    r = ns.run(ns._private_mount_probe, ["mnt"], unprivileged=True)
    assert r["inside"] == ["hello.txt"]
    assert "hello.txt" not in os.listdir("/mnt")


def test_run_command_exit_code_and_output(need):
    need("namespaces")
    code, out, err = ns.run_command(["sh", "-c", "hostname; echo oops >&2; exit 3"], ["uts"],
                                    hostname="vl-t3-cmd")
    assert (code, out, err) == (3, "vl-t3-cmd\n", "oops\n")


def test_run_command_missing_program_is_clear(need):
    need("namespaces")
    with pytest.raises(ns.NamespaceError, match="No such file"):
        ns.run_command(["/no/such/program"], ["uts"])


def test_run_command_timeout_kills_the_child(need):
    need("namespaces")
    t = time.monotonic()
    with pytest.raises(TimeoutError):
        ns.run_command(["sleep", "30"], ["pid", "mnt"], timeout=0.5)
    assert time.monotonic() - t < 5


def test_function_errors_come_back_with_traceback(need):
    need("namespaces")
    with pytest.raises(ns.NamespaceError, match="ZeroDivisionError") as e:
        ns.run(lambda: 1 / 0, ["uts"])
    assert "Traceback" in e.value.child_traceback


def test_child_joins_a_cgroup(need):
    need("namespaces")
    need("cgroups")
    with cgroups.CourseCgroup("t3-nscg", pids=4) as cg:
        code, out, _ = ns.run_command(["cat", "/proc/self/cgroup"], ["uts"], cgroup=cg)
    assert code == 0 and "vl-t3-nscg" in out


def test_compare_and_list_of_a_child(need):
    need("namespaces")
    with minicontainer.Container("t3-nscmp", limits=False) as c:
        same = ns.compare(c.pid)
    assert same["net"] is False and same["uts"] is False and same["time"] is True


def test_veth_pair_roundtrip_and_teardown(need):
    need("namespaces")
    with ns.VethPair("t3v", subnet="10.203.3") as v:
        assert set(ns.course_netns()) >= set(v.ns)
        assert any("10.203.3.1/30" in line for line in v.addresses(0))
        rt = v.tcp_roundtrip(10)
        assert rt["peer"] == "10.203.3.2" and 0 < rt["median_s"] < 0.1
        assert rt["client_net_ns"] != ns.list_namespaces()["net"]
    assert not [n for n in ns.course_netns() if n.startswith("vl-t3v")]
    assert not [link for link in ns.course_links() if link.startswith("vl-t3v")]


def test_veth_cleanup_after_owner_killed(need):
    need("namespaces")
    v = ns.VethPair("t3k", subnet="10.203.4").__enter__()  # "forgotten" by a killed kernel
    assert [n for n in ns.course_netns() if n.startswith("vl-t3k")]
    removed = ns.cleanup("vl-t3k")
    assert len(removed) == 2
    assert not [n for n in ns.course_netns() if n.startswith("vl-t3k")]
    v._created.clear()


@pytest.mark.serial
def test_exercise_checks(need):
    need("namespaces")
    from virtlab.checks import ep01

    assert ep01.check_isolated(ns.view(["pid", "mnt", "net"])) is True
    assert ep01.check_isolated(ns.view(["uts"])) is False
    good = ns.view(["uts", "user"], hostname="vl-ex", unprivileged=True)
    assert ep01.check_hostname_and_uid(good) is True
    assert ep01.check_hostname_and_uid(ns.view(["uts"], hostname="vl-ex", unprivileged=True)) is False
    assert ep01.check_outside_uid(65534) is True


def test_bench_start_compares_with_unshare1(need):
    need("namespaces")
    b = ns.bench_start(("uts", "net"), n=3)
    assert b["unshare_argv"][:3] == ["unshare", "--uts", "--net"]
    assert b["virtlab_median_s"] > 0 and b["unshare1_median_s"] > 0 and b["ratio"] > 0


def test_explorer_model_runs_a_real_child(need):
    need("namespaces")
    from virtlab.widgets.namespace_explorer import explore

    rows = {r[0]: r for r in explore(["uts", "pid"])}
    assert rows["hostname"][2] == "vl-inside" and rows["my pid"][2] == "1"
    assert rows["uts namespace"][3] is False and rows["net namespace"][3] is True


def test_zz_nothing_of_ours_remains(need):
    """Runs last in this directory (alphabetical + zz): no vl-t3 cgroup, netns, veth, container."""
    need("namespaces")
    assert not cgroups.course_cgroup_dirs("vl-t3")
    assert not [n for n in ns.course_netns() if n.startswith("vl-t3")]
    assert not [link for link in ns.course_links() if link.startswith("vl-t3")]
    assert not minicontainer.running("vl-t3")
