"""Density model: hand-computed cases, property tests, this machine's limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virtlab import density as d

HOST = d.Host(ram_mib=8192, cpus=4, reserve_mib=1024, cpu_overcommit=4)
WL = d.Workload(ram_mib=64, cpu=0.5)
OV = d.Overheads(container_mib=4, vm_mib=150, guest_os_mib=100)


def test_hand_computed_case():
    r = d.fit(HOST, WL, OV)
    c, v = r["containers"], r["vms"]
    # containers: 64 + 4 = 68 MiB; (8192 - 1024) // 68 = 105; CPU 4 * 4 / 0.5 = 32;
    # pids 32768 // 30 = 1092, bridge 1024 // 1, inotify 128 // 5 = 25, keys 200 // 1 = 200
    assert c.per_instance_mib == 68 and c.by_ram == 105 and c.by_cpu == 32
    assert c.by_limit == {"kernel.pid_max": 1092, "bridge ports": 1024,
                          "fs.inotify.max_user_instances": 25, "kernel.keys.maxkeys": 200}
    assert (c.count, c.bottleneck) == (25, "fs.inotify.max_user_instances")
    # VMs: 64 + 150 + 100 = 314 MiB; 7168 // 314 = 22
    assert v.per_instance_mib == 314 and v.by_ram == 22 and (v.count, v.bottleneck) == (22, "RAM")
    assert v.by_limit == {"kernel.pid_max": 4096, "bridge ports": 1024}


def test_ksm_and_raised_limits_hand_computed():
    r = d.fit(HOST, WL, d.Overheads(4, 150, 100, ksm_saving=0.5))
    assert r["vms"].per_instance_mib == 264 and r["vms"].count == 27  # 7168 // 264
    lim = dict(d.DEFAULT_LIMITS, **{"fs.inotify.max_user_instances": 1048576, "kernel.keys.maxkeys": 2000})
    r = d.fit(HOST, WL, OV, lim)
    assert (r["containers"].count, r["containers"].bottleneck) == (32, "CPU")


def test_explain_is_deterministic_text():
    text = d.explain(d.fit(HOST, WL, OV), WL)
    assert "containers:     25 fit — limited by fs.inotify.max_user_instances" in text
    assert "containers per VM: 1.1x" in text


@pytest.mark.parametrize("bad", [
    dict(host=d.Host(ram_mib=-1, cpus=2)),
    dict(host=d.Host(ram_mib=1024, cpus=0)),
    dict(host=d.Host(ram_mib=1024, cpus=True)),
    dict(workload=d.Workload(ram_mib=0)),
    dict(workload=d.Workload(ram_mib=64, cpu=float("nan"))),
    dict(overheads=d.Overheads(4, 150, 100, ksm_saving=0.95)),
    dict(overheads=d.Overheads("4", 150, 100)),
])
def test_bad_input_raises_valueerror(bad):
    args = dict(host=HOST, workload=WL, overheads=OV) | bad
    with pytest.raises(ValueError):
        d.fit(**args)


def test_bad_limit_raises():
    with pytest.raises(ValueError, match="kernel limit"):
        d.fit(HOST, WL, OV, {"kernel.pid_max": 0})


rams = st.floats(min_value=256, max_value=4 * 1024 * 1024, allow_nan=False)
wls = st.builds(d.Workload, ram_mib=st.floats(1, 8192), cpu=st.floats(0.01, 8))
ovs = st.builds(d.Overheads, container_mib=st.floats(0, 512), vm_mib=st.floats(0, 1024),
                guest_os_mib=st.floats(0, 2048), ksm_saving=st.floats(0, 0.9))


@settings(max_examples=200, deadline=None)
@given(ram=rams, extra=st.floats(0, 1e6), cpus=st.integers(1, 256), wl=wls, ov=ovs)
def test_monotonic_in_host_ram(ram, extra, cpus, wl, ov):
    a = d.fit(d.Host(ram, cpus), wl, ov)
    b = d.fit(d.Host(ram + extra, cpus), wl, ov)
    for k in ("containers", "vms"):
        assert b[k].by_ram >= a[k].by_ram
        assert b[k].count >= a[k].count


@settings(max_examples=200, deadline=None)
@given(ram=rams, cpus=st.integers(1, 256), wl=wls, ov=ovs, more=st.floats(0, 0.9))
def test_more_ksm_never_fits_fewer_vms(ram, cpus, wl, ov, more):
    lo = d.Overheads(ov.container_mib, ov.vm_mib, ov.guest_os_mib, 0.0)
    hi = d.Overheads(ov.container_mib, ov.vm_mib, ov.guest_os_mib, more)
    assert d.fit(d.Host(ram, cpus), wl, hi)["vms"].count >= d.fit(d.Host(ram, cpus), wl, lo)["vms"].count


@settings(max_examples=200, deadline=None)
@given(ram=rams, cpus=st.integers(1, 256), wl=wls, ov=ovs)
def test_count_is_the_minimum_and_containers_never_cost_more(ram, cpus, wl, ov):
    r = d.fit(d.Host(ram, cpus), wl, ov)
    for f in r.values():
        assert f.count == min([f.by_ram, f.by_cpu, *f.by_limit.values()])
        assert f.count >= 0
    if ov.container_mib <= ov.vm_mib:
        assert r["containers"].by_ram >= r["vms"].by_ram


def test_kernel_limits_read_live():
    lim = d.kernel_limits()
    assert lim["bridge ports"] == 1024
    with open("/proc/sys/kernel/pid_max") as f:
        assert lim["kernel.pid_max"] == int(f.read())
    assert set(lim) == set(d.DEFAULT_LIMITS)


def test_kernel_limits_fall_back_when_missing(tmp_path):
    assert d.kernel_limits(tmp_path) == d.DEFAULT_LIMITS


def test_ksm_status(tmp_path):
    assert d.ksm_status(tmp_path / "none") == {"available": "no"}
    (tmp_path / "run").write_text("1\n")
    (tmp_path / "pages_sharing").write_text("42\n")
    assert d.ksm_status(tmp_path) == {"available": "yes", "run": 1, "pages_sharing": 42}


def test_widget_is_a_thin_view_and_fast():
    pytest.importorskip("ipywidgets")
    from virtlab.widgets import density as wd

    wid = wd.DensityWidget(limits=dict(d.DEFAULT_LIMITS), host_ram_mib=8192, host_cpus=4)
    wid.controls["wl_cpu"].value = 0.5
    host, wl, ov = wid.inputs()
    assert wid.output.value.count("fit — limited by") == 2
    assert d.explain(d.fit(host, wl, ov, d.DEFAULT_LIMITS), wl).split("\n")[1] in wid.output.value
    before = wid.output.value
    wid.controls["host_ram_mib"].value = 65536  # an interaction refreshes the output
    assert wid.output.value != before
    lat = wd.measure_latency(30)
    assert lat["median_ms"] < 100, lat


def test_overheads_assume_a_full_os_container_when_asked():
    medians = {("lxd", "memory_mib"): 0.6, ("vm", "memory_mib"): 210.0}
    assert d.overheads_from_bench(medians).container_mib == 0.6
    full = d.full_os_container_mib()
    assert 5 < full < 100  # the recorded Debian + systemd container (13.6 MiB when recorded)
    ov = d.overheads_from_bench(medians, container_os_mib=full)
    assert ov.container_mib == full and ov.vm_mib == 210.0
