"""virtlab.probe on the real machine: each answer is cross-checked by an independent attempt."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from virtlab import probe

REQUIRE_LIVE = os.environ.get("VIRTLAB_REQUIRE_LIVE") == "1"
UNSHARE_OPTS = {"mnt": "--mount", "uts": "--uts", "ipc": "--ipc", "pid": "--pid", "net": "--net",
                "user": "--user", "cgroup": "--cgroup", "time": "--time"}


def test_kernel_matches_uname():
    k = probe.kernel()
    assert k["release"] == os.uname().release
    assert k["machine"] == os.uname().machine


@pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux unshare(1) not installed")
@pytest.mark.parametrize("ns", sorted(UNSHARE_OPTS))
def test_namespace_answer_agrees_with_unshare1(ns):
    """probe's ctypes attempt and util-linux's unshare(1) must agree for every type."""
    got = probe.namespaces().as_current_user[ns]
    opts = [UNSHARE_OPTS[ns]] + (["--fork"] if ns == "pid" else [])
    rc = subprocess.run(["unshare", *opts, "true"], capture_output=True, timeout=10).returncode
    assert (got == "ok") == (rc == 0), f"{ns}: probe says {got!r}, unshare(1) exit {rc}"


def test_cgroup_layout_matches_mounts():
    cg = probe.cgroups(refresh=True)
    fstypes = {line.split()[2] for line in Path("/proc/self/mounts").read_text().splitlines()}
    assert (cg.layout in ("v2", "hybrid")) == ("cgroup2" in fstypes)
    assert (cg.layout in ("v1", "hybrid")) == ("cgroup" in fstypes)
    for ctrl, mnt in cg.v1_controllers.items():
        assert Path(mnt).is_dir(), ctrl


def test_cgroup_write_probe_leaves_nothing_behind():
    cg = probe.cgroups(refresh=True)
    roots = {Path(m) for m in cg.v1_controllers.values()} | ({Path(cg.v2_mount)} if cg.v2_mount else set())
    for root in roots:
        assert not list(root.glob("vl-probe-*")), f"probe cgroup left in {root}"


def test_kvm_answer_is_backed_by_the_device_and_cpuinfo():
    k = probe.kvm(refresh=True)
    flags = Path("/proc/cpuinfo").read_text()
    assert k.vmx_svm == (" vmx" in flags or " svm" in flags)
    assert k.present == os.path.exists("/dev/kvm")
    if k.api_usable:
        fd = os.open("/dev/kvm", os.O_RDWR)  # an independent open must work too
        os.close(fd)
        assert k.api_version == 12
    # the accelerator rule: KVM only when the API is usable AND vmx/svm are present
    assert k.accelerator == ("kvm" if (k.api_usable and k.vmx_svm) else "tcg")
    assert k.reason


def test_lxd_without_socket_is_a_clear_answer(monkeypatch, tmp_path, patch_pkg):
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    patch_pkg(probe, "LXD_SOCKETS", ())
    info = probe.lxd(refresh=True)
    try:
        assert not info.reachable
        assert "no LXD socket" in info.error and str(tmp_path) in info.error
        assert "provision" in info.fix and "lxd" in info.fix
    finally:
        probe.lxd(refresh=True)


def test_libvirt_test_driver_really_connects():
    pytest.importorskip("libvirt")
    r = probe.libvirt_info(refresh=True).uris["test:///default"]
    assert r["ok"], r
    assert r["hypervisor"].lower() == "test"


def test_doctor_json_has_every_fact():
    out = subprocess.run([sys.executable, "-m", "virtlab.cli", "doctor", "--json"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    d = json.loads(out)
    for key in ("kernel", "root", "cgroups", "namespaces", "kvm", "lxd", "libvirt", "hub", "sections"):
        assert key in d
    assert set(d["namespaces"]["as_current_user"]) == set(UNSHARE_OPTS)
    assert set(d["libvirt"]["uris"]) == {"qemu:///system", "test:///default"}


@pytest.mark.skipif(not REQUIRE_LIVE, reason="project machine facts are asserted in CI only")
def test_doctor_reports_the_project_machine_facts():
    """FACTS.md: hybrid cgroups, all namespaces usable, KVM API usable, no vmx/svm -> TCG."""
    d = json.loads(subprocess.run([sys.executable, "-m", "virtlab.cli", "doctor", "--json"],
                                  capture_output=True, text=True, timeout=120, check=True).stdout)
    assert d["cgroups"]["layout"] == "hybrid"
    assert all(v == "ok" for v in d["namespaces"]["as_current_user"].values())
    assert d["namespaces"]["unprivileged_userns"] is True
    assert d["kvm"]["api_usable"] is True and d["kvm"]["vmx_svm"] is False
    assert d["kvm"]["accelerator"] == "tcg"
    assert d["lxd"]["reachable"] is True
    assert d["libvirt"]["uris"]["qemu:///system"]["ok"] is True


def test_doctor_table_names_how_each_answer_was_tested():
    out = subprocess.run([sys.executable, "-m", "virtlab.cli", "doctor"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.count("tested by:") >= 12
    assert "libvirt guests use" in out
