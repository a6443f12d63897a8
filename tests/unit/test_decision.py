"""Decision model: hand-worked cases and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virtlab import decision as d

ALL = {o.key for o in d.OPTIONS}


def keys(rec):
    return [r.key for r in rec.ranking]


def test_default_prefers_application_containers():
    rec = d.recommend(d.Requirements())
    assert rec.best.key == "app-container"
    assert rec.excluded == {"process": "no isolation between teams"}


def test_windows_leaves_only_a_full_vm():
    rec = d.recommend(d.Requirements(os_mix="windows-or-bsd"))
    assert keys(rec) == ["vm"]
    assert "Windows/BSD" in rec.excluded["kata"]


def test_hostile_tenants_get_the_middle_ground():
    rec = d.recommend(d.Requirements(isolation="hostile-tenants"))
    # hand-scored: firecracker 2+1+1-1 = 3, kata 3, gvisor 2+1-1 = 2, vm -2+1-1 = -2
    assert [(r.key, r.score) for r in rec.ranking] == [
        ("firecracker", 3), ("kata", 3), ("gvisor", 2), ("vm", -2)]
    assert {"process", "app-container", "system-container"} == set(rec.excluded)


def test_live_migration_favours_vms():
    rec = d.recommend(d.Requirements(live_migration=True))
    assert keys(rec) == ["vm", "system-container"]


def test_start_budget_excludes_slow_starters():
    rec = d.recommend(d.Requirements(max_start_s=0.2, density="high"))
    assert keys(rec) == ["app-container", "firecracker"]
    assert "more than the 0.2 s allowed" in rec.excluded["vm"]


def test_compliance_needs_a_separate_kernel():
    rec = d.recommend(d.Requirements(compliance_separate_kernel=True))
    assert set(keys(rec)) == {"firecracker", "kata", "vm"}


def test_kubernetes_and_hostile_tenants_choose_kata():
    rec = d.recommend(d.Requirements(isolation="hostile-tenants", kubernetes=True))
    # hand-scored: kata 2+1+1+2-1 = 5, gvisor 2+1+2-1 = 4, firecracker 2+1+1-1 = 3
    assert [(r.key, r.score) for r in rec.ranking][:3] == [("kata", 5), ("gvisor", 4), ("firecracker", 3)]


def test_nothing_fits_is_explained():
    rec = d.recommend(d.Requirements(os_mix="windows-or-bsd", max_start_s=1))
    assert rec.best is None
    assert "relax one of them" in d.explain(rec)


@pytest.mark.parametrize("bad", [dict(os_mix="macos"), dict(isolation="paranoid"),
                                 dict(density="huge"), dict(max_start_s=0), dict(max_start_s="5")])
def test_bad_requirements_raise(bad):
    with pytest.raises(ValueError, match="choose one of|max_start_s"):
        d.recommend(d.Requirements(**bad))


reqs = st.builds(d.Requirements, os_mix=st.sampled_from(d.OS_MIX), isolation=st.sampled_from(d.ISOLATION),
                 density=st.sampled_from(d.DENSITY), max_start_s=st.floats(0.001, 3600),
                 live_migration=st.booleans(), compliance_separate_kernel=st.booleans(),
                 kubernetes=st.booleans())


@settings(max_examples=300, deadline=None)
@given(req=reqs)
def test_every_option_is_ranked_or_excluded_with_a_reason(req):
    rec = d.recommend(req)
    assert set(keys(rec)) | set(rec.excluded) == ALL
    assert not set(keys(rec)) & set(rec.excluded)
    assert all(rec.excluded.values())
    assert [r.score for r in rec.ranking] == sorted((r.score for r in rec.ranking), reverse=True)


@settings(max_examples=300, deadline=None)
@given(req=reqs, budget=st.floats(0.001, 3600))
def test_stricter_requirements_never_add_options(req, budget):
    base = set(keys(d.recommend(req)))
    stricter = [
        d.Requirements(req.os_mix, "hostile-tenants", req.density, req.max_start_s, req.live_migration,
                       req.compliance_separate_kernel),
        d.Requirements(req.os_mix, req.isolation, req.density, min(req.max_start_s, budget),
                       req.live_migration, req.compliance_separate_kernel),
        d.Requirements(req.os_mix, req.isolation, req.density, req.max_start_s, True,
                       req.compliance_separate_kernel),
        d.Requirements(req.os_mix, req.isolation, req.density, req.max_start_s, req.live_migration, True),
    ]
    for s in stricter:
        assert set(keys(d.recommend(s))) <= base


def test_landscape_covers_the_seed_platforms():
    names = {row[0] for row in d.LANDSCAPE}
    assert names == {"Docker", "Kubernetes", "OpenShift", "OpenStack", "oVirt", "Proxmox VE"}


def test_widget_is_a_thin_view_and_fast():
    pytest.importorskip("ipywidgets")
    from virtlab.widgets import decision as wd

    wid = wd.DecisionWidget()
    assert "application container" in wid.output.value.split("\n")[0]
    wid.controls["os_mix"].value = "windows-or-bsd"
    assert wid.requirements().os_mix == "windows-or-bsd"
    assert wid.output.value.split("\n")[0].endswith("1. full virtual machine (KVM + QEMU/libvirt)  (score -2)")
    lat = wd.measure_latency(30)
    assert lat["median_ms"] < 100, lat
