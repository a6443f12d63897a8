"""Episode 07, live: every must-fail attempt fails, *for the expected reason*, in an unprivileged
mini container, in fresh namespaces and in an unprivileged LXD container; the harmless
counterparts succeed in privileged ones; and nothing is left behind or changed on the host."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from virtlab import PREFIX, modes, security

#: the lessons' own demos (fixed names: vl-sec-*) and global checks of what is left: never
#: beside the live notebooks (tools/test.sh)
pytestmark = [pytest.mark.live, pytest.mark.serial]

HAS_MODULES = Path("/proc/modules").exists()
HAS_SYSRQ = Path("/proc/sysrq-trigger").exists()


def expected(runner: str) -> dict[str, set[str]]:
    """The errno each must-fail attempt has to give, from facts about this host's kernel."""
    lxd = runner == "lxd"
    return {
        # no module support at all -> ENOSYS; else the capability check (EPERM), or LXD's seccomp
        "load_module": {"ENOSYS"} if not HAS_MODULES else ({"ENOSYS"} if lxd else {"EPERM"}),
        "mount_host_fs": {"EPERM"},  # busybox reports EPERM and EACCES alike
        "open_sysrq_trigger": {"ENOENT"} if not HAS_SYSRQ else ({"EROFS", "EACCES"} if lxd else {"EACCES"}),
        "open_host_sysctl": {"EROFS", "EACCES"} if lxd else {"EACCES"},
        "open_host_disk": {"ENOENT"} if runner != "namespaces" else {"EACCES", "EPERM"},
        "mknod_host_disk": {"EPERM"},
        "see_host_process": {"ESRCH"},
        "set_clock": {"EPERM"},
    }


def assert_all_blocked(res: security.ProbeResult | dict, runner: str) -> None:
    d = res.to_dict() if isinstance(res, security.ProbeResult) else res
    got = {a["name"]: a for a in d["attempts"]}
    assert set(got) == set(security.MUST_FAIL) | set(security.SECCOMP_ONLY), sorted(got)
    # the control: allowed by namespaces + capabilities, refused only by LXD's seccomp filter
    fu = got["force_umount"]
    if runner == "lxd":
        assert fu["status"] != 0 and fu["errno"] == "EACCES" and "seccomp" in fu["reason"], fu
    else:
        assert fu["status"] == 0 and d["seccomp"] == "0", fu
    for name, allowed in expected(runner).items():
        a = got[name]
        assert a["status"] != 0, f"{name} unexpectedly succeeded in {d['runner']}: {a}"
        assert a["errno"] in allowed, f"{name}: {a['errno']} not in {allowed} ({a['message']})"
        assert a["reason"] and not a["reason"].startswith("failed with"), a
    # root inside, but not root outside: container root maps to an unprivileged host uid
    first = d["uid_map"].split()
    assert first[0] == "0" and first[1] != "0", d["uid_map"]
    assert "sys_admin" in d["cap_eff"]  # ... with every capability *in its own namespace*


def _host_state() -> dict[str, object]:
    """What the probes could conceivably change on the host (other developers' mounts and
    devices may come and go, so only the probes' own traces are compared)."""
    from virtlab import rootfs

    # the course's static busybox (PATH's may be missing: set-up may have fetched its own)
    tick = subprocess.run([str(rootfs.busybox_path()), "adjtimex"], capture_output=True,
                          text=True, timeout=5).stdout
    return {
        "mounts": [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines()
                   if "vl-probe" in ln or f"{PREFIX}sec-" in ln],
        "tick": [ln for ln in tick.splitlines() if "tick:" in ln],
        "scratch": sorted(Path(tempfile.gettempdir()).glob(f"{PREFIX}sec-*")),
        "probe_files": sorted(Path("/tmp").glob("vl-probe*")) + sorted(Path("/dev").glob("vl-*")),
    }


@pytest.fixture
def host_unchanged():
    before = _host_state()
    yield
    assert _host_state() == before


def test_must_fail_in_mini_container(need, host_unchanged):
    need("container")
    from virtlab import minicontainer as mc

    assert_all_blocked(security.probe_minicontainer(), "minicontainer")
    assert not [n for n in mc.running() if n.startswith(f"{PREFIX}sec-")]


def test_must_fail_in_fresh_namespaces_mapped_like_lxd(need, need_tool, host_unchanged):
    need("security")
    need_tool("newuidmap", "uidmap")  # unshare(1) maps a uid range only through it
    res = security.probe_namespaces(live=True)
    assert res.uid_map.split()[:2] == ["0", "100000"]
    assert_all_blocked(res, "namespaces")


def test_must_fail_in_unprivileged_lxd(need, host_unchanged):
    need("lxd", host_root="the container's seccomp policy in LXD's state directory")
    from virtlab import lxd

    res = security.probe_lxd(privileged=False)
    assert_all_blocked(res, "lxd")
    assert res["seccomp"] == "2"
    assert "init_module errno 38" in res["seccomp_policy"]
    with pytest.raises(LookupError):
        lxd.get(res["instance"])  # deleted again


def test_privileged_lxd_runs_only_harmless_counterparts(need, host_unchanged):
    need("lxd", host_root="host root's own attempts (the baseline), /dev/kmsg")
    from virtlab import lxd

    res = security.probe_lxd(privileged=True)
    got = {a["name"]: a for a in res["attempts"]}
    assert set(got) == set(security.HARMLESS)  # nothing else was even tried
    assert got["mount_tmpfs"]["status"] == 0
    assert got["mknod_host_disk"]["status"] == 0  # EPERM when unprivileged
    assert res["uid_map"].split()[:2] == ["0", "0"]  # container root *is* host root
    eq = security.root_equivalence(res)
    assert {"sys_admin", "mknod", "dac_override", "net_admin"} <= set(eq["has"])
    # the one guard left: the device cgroup refuses the kernel log device the host root may open
    assert got["mknod_kmsg"]["status"] == 0
    assert got["open_kmsg"]["errno"] == "EPERM" and "device cgroup" in got["open_kmsg"]["reason"]
    assert security.host_baseline().attempt("open_kmsg").status == 0
    if res["device_cgroup"] is not None:  # cgroup v1: the allow list itself
        assert "c 1:11 rwm" not in res["device_cgroup"] and "a *:* rwm" not in res["device_cgroup"]
    with pytest.raises(LookupError):
        lxd.get(res["instance"])


def test_privileged_mini_container_counterparts(need, host_unchanged):
    need("container")
    res = security.probe_minicontainer(privileged=True)
    got = {a.name: a for a in res.attempts}
    assert set(got) == set(security.HARMLESS)
    assert got["mount_tmpfs"].status == 0 and got["mknod_host_disk"].status == 0
    assert res.uid_map.split()[:2] == ["0", "0"] and "sys_admin" in res.cap_eff
    # no device cgroup here: it opens the host's kernel log device like host root (reads 0 bytes)
    assert got["mknod_kmsg"].status == 0 and got["open_kmsg"].status == 0


def test_host_baseline_matches_privileged(need, host_unchanged):
    need("security")
    base = security.host_baseline()
    assert base.attempt("mount_tmpfs").status == 0
    assert base.attempt("mknod_host_disk").status == 0
    assert base.attempt("open_kmsg").status == 0


def test_capability_drop_as_host_root(need):
    need("security")
    r = security.drop_capability_demo(live=True)
    assert r["raw_socket_before"] == "ok" and r["raw_socket_after"] == "EPERM"
    assert r["dropped"] == ["net_raw"]


def test_active_lsms_as_root(need):
    need("security")
    backend = modes.resolve("security", "live")
    s = modes.demos()["security.lsm"].fn(backend)
    assert s["active"] and "capability" in s["active"]
    if s["apparmor"]["built_in"] == "n":
        assert "apparmor" not in s["active"]


def test_live_demos_run(need, need_tool):
    backend = need("security")
    need_tool("qemu-system-x86_64", "qemu-system-x86")  # the surface demo counts QEMU's devices
    demos = modes.demos()
    k = demos["security.kernel"].fn(backend)
    assert k["same_kernel"] and k["ns_release"] == k["host_release"]
    surf = demos["security.surface"].fn(backend)
    assert surf["syscalls_libseccomp"] > 300 and surf["qemu"]
    att = demos["security.attempts"].fn(backend)
    assert_all_blocked(att, "minicontainer")
    priv = demos["security.privileged"].fn(backend)
    assert [a["status"] for a in priv["container"]["attempts"]] == \
        [a["status"] for a in priv["host"]["attempts"]]  # the container does what host root does


def test_nothing_left(need):
    need("security")
    assert not list(Path(tempfile.gettempdir()).glob(f"{PREFIX}sec-*"))
    assert security.cleanup() == []


def test_guest_panic_leaves_neighbour_and_host_running(need):
    need("libvirt")
    from virtlab import virt

    d = security.guest_panic()
    assert d["victim_state"] == "crashed"
    assert d["neighbour_state"] == "running" and d["neighbour_answers"]
    assert d["neighbour_uptime_after_s"] > d["neighbour_uptime_before_s"]
    assert d["host_same_boot"]
    conn = virt.connect()
    try:
        assert not [n for n in virt.course_domains(conn) if n.startswith(f"{PREFIX}sec-")]
    finally:
        conn.close()
