"""virtlab.bench: pure parts (summary, table, targets parsing, provenance, reference data)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from virtlab import bench

ROWS = [
    {"target": "host", "metric": "start_s", "rep": 0, "value": 0.002},
    {"target": "host", "metric": "start_s", "rep": 1, "value": 0.001},
    {"target": "host", "metric": "start_s", "rep": 2, "value": 0.004},
    {"target": "vm", "metric": "start_s", "rep": 0, "value": 6.0},
    {"target": "vm", "metric": "start_s", "rep": 1, "value": 4.0},
    {"target": "host", "metric": "cpu_s", "rep": 0, "value": 0.2},
    {"target": "vm", "metric": "cpu_s", "rep": 0, "value": 3.0},
]


def test_summary_median_and_spread_hand_computed():
    s = bench.summarize(ROWS)
    row = s[(s.target == "host") & (s.metric == "start_s")].iloc[0]
    assert (row["median"], row["min"], row["max"], row["n"]) == (0.002, 0.001, 0.004, 3)
    assert row["spread"] == pytest.approx((0.004 - 0.001) / 0.002)
    vm = s[(s.target == "vm") & (s.metric == "start_s")].iloc[0]
    assert vm["median"] == 5.0
    assert list(s.target) == ["host", "host", "vm", "vm"]  # TARGETS order, then METRICS order


def test_ratios_are_relative_to_the_host():
    r = bench.ratios(bench.summarize(ROWS))
    assert r["vm"]["start_s"] == pytest.approx(2500)
    assert r["vm"]["cpu_s"] == pytest.approx(15)
    assert r["host"]["cpu_s"] == 1


def test_table_text_marks_missing_cells():
    text = bench.table_text(bench.summarize(ROWS))
    assert "host process" in text and "libvirt VM" in text
    assert "0.002 [0.001–0.004]" in text
    assert "n/a" in text  # memory was not measured in ROWS


def test_parse_targets():
    assert bench.parse_targets(None) == list(bench.TARGETS)
    assert bench.parse_targets("vm,host,vm") == ["vm", "host"]
    with pytest.raises(ValueError, match="choose from"):
        bench.parse_targets("docker")
    with pytest.raises(ValueError):
        bench.parse_targets("")


def test_run_refuses_bad_profile_before_doing_anything():
    with pytest.raises(ValueError, match="profile"):
        bench.run("host", profile="huge")


def test_main_refuses_bad_targets():
    with pytest.raises(ValueError, match="choose from"):
        bench.main(["--targets", "nope"])


def test_loop_command_is_plain_ash():
    assert bench.loop_command(10) == "i=0; while [ $i -lt 10 ]; do i=$((i+1)); done"


def test_tree_bytes_counts_hard_links_once(tmp_path: Path):
    (tmp_path / "a").write_bytes(b"x" * 10000)
    (tmp_path / "b").hardlink_to(tmp_path / "a")
    one = bench.tree_bytes(tmp_path / "a")
    assert one >= 10000
    assert bench.tree_bytes(tmp_path) - bench.tree_bytes(tmp_path / "a") < 10000


def test_cgroup_memory_of_this_process_is_readable_or_none():
    import os

    v = bench.cgroup_memory_bytes(os.getpid())
    assert v is None or v > 0
    assert bench.cgroup_memory_bytes(2**22 + 12345) is None


def test_reference_run_is_real_and_complete():
    """The committed reference came from `virtlab bench --save-reference` on a lab machine."""
    ref = bench.reference()
    p = ref.provenance
    assert p["command"].startswith("virtlab bench") and "--save-reference" in p["command"]
    assert set(p["targets"]) == set(bench.TARGETS), ref.skipped
    assert p["accelerator"] in ("kvm", "tcg")
    for key in ("date", "host", "versions", "profile", "reps", "loop_iterations"):
        assert key in p
    s = ref.summary()
    for t in bench.TARGETS:
        for m in bench.METRICS:
            assert ((s.target == t) & (s.metric == m)).any() == ((t, m) not in bench.NOT_MEASURED), (t, m)
    # the raw rows carry as many repetitions as the provenance says
    for t in bench.TARGETS:
        n = len([r for r in ref.rows if r["target"] == t and r["metric"] == "start_s"])
        assert n == p["reps"][t]
    json.dumps(ref.to_dict())


def test_plot_has_one_panel_per_metric():
    fig = bench.plot(bench.summarize(ROWS))
    assert len(fig.axes) == 2


def test_best_difference_takes_the_best_of_each():
    loops = iter([3.0, 1.0, 2.0])
    bases = iter([0.5, 0.2, 0.9])
    assert bench.best_difference(lambda: next(loops), lambda: next(bases)) == pytest.approx(0.8)


def test_demanded_live_demo_fails_rather_than_skipping_a_target(monkeypatch, tmp_path, patch_pkg):
    """VIRTLAB_MODE=live / `virtlab record`: a target that cannot run is an error, not a gap."""
    from virtlab import bench, modes, probe

    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    patch_pkg(probe, "LXD_SOCKETS", ())
    # the targets before lxd are taken as available whoever runs this (a non-root user's ns
    # target is not): availability is checked for all before anything is measured
    for cls in (bench.HostTarget, bench.NsTarget):
        monkeypatch.setattr(cls, "available", lambda self: None)
    probe.lxd(refresh=True)
    try:
        forced = modes.Backend("bench", "live", "test", forced=True)
        with pytest.raises(bench.BenchError, match="target lxd is not available"):
            bench.demo_quick(forced)
    finally:
        monkeypatch.undo()
        probe.lxd(refresh=True)


def test_a_learner_skips_only_the_network_metrics_that_need_root(monkeypatch):
    from virtlab import bench

    assert bench.not_measured() == bench.NOT_MEASURED or os.geteuid() != 0
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    nm = bench.not_measured()
    for target in ("ns", "lxd"):  # both make named network namespaces (ip netns add)
        assert "needs root" in nm[(target, "net_rtt_us")] and (target, "net_mbit_s") in nm
    assert ("host", "net_rtt_us") not in nm  # loopback needs nothing
    assert not any(m in ("start_s", "cpu_s", "memory_mib") for _, m in nm)


def test_ns_start_reports_a_paired_ratio_with_spread(tmp_path: Path, capsys):
    """`virtlab bench --ns-start`: virtlab vs unshare(1) side by side, as a ratio with spread."""
    from virtlab import namespaces as ns

    try:
        ns.run_command(["/bin/true"], ["uts"] + ([] if os.geteuid() == 0 else ["user"]))
    except ns.NamespaceError as err:
        pytest.skip(f"no namespaces for this user here: {err}")
    assert bench.main(["--ns-start", "--out", str(tmp_path)]) == 0
    d = json.loads((tmp_path / "bench-ns-start.json").read_text())
    assert d["n"] == bench.PROFILES["quick"]["ns_start_pairs"]
    assert d["ratio_min"] <= d["ratio_q1"] <= d["ratio"] <= d["ratio_q3"] <= d["ratio_max"]
    assert d["unshare_argv"][0] == "unshare" and d["goal"] == 1.5
    assert "virtlab / unshare(1) =" in capsys.readouterr().out


def _quick_run_dir(tmp_path: Path, **prov) -> Path:
    import datetime as dt

    d = tmp_path / "bench-quick"
    d.mkdir()
    p = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "profile": "quick",
         "targets": list(bench.TARGETS), "code": bench.code_version(), "command": "virtlab bench --quick"}
    p.update(prov)
    (d / "bench-provenance.json").write_text(json.dumps(p))
    (d / "bench-raw.csv").write_text("target,metric,rep,value\nhost,start_s,0,0.001\nvm,start_s,0,2.5\n")
    return d


def test_a_fresh_checked_quick_run_is_reused_and_says_so(tmp_path: Path):
    r = bench.reused_run(str(_quick_run_dir(tmp_path)))
    assert r is not None and len(r.rows) == 2 and r.rows[1] == {"target": "vm", "metric": "start_s",
                                                                  "rep": 0, "value": 2.5}
    assert "VIRTLAB_BENCH_REUSE" in r.provenance["command"]
    assert bench.reused_run(None) is None and bench.reused_run(str(tmp_path / "nothing")) is None


@pytest.mark.parametrize("prov", [{"profile": "full"}, {"targets": ["host", "ns"]}, {"code": "other"},
                                  {"date": "2020-01-01T00:00:00Z"}])
def test_any_other_run_is_not_reused(tmp_path: Path, prov):
    assert bench.reused_run(str(_quick_run_dir(tmp_path, **prov))) is None


def test_the_live_demo_takes_the_reused_run_only_in_live_mode(tmp_path: Path, monkeypatch, patch_pkg):
    from types import SimpleNamespace

    monkeypatch.setenv("VIRTLAB_BENCH_REUSE", str(_quick_run_dir(tmp_path)))
    data = bench.demo_quick(SimpleNamespace(mode="live", forced=True))
    assert "VIRTLAB_BENCH_REUSE" in data["provenance"]["command"] and len(data["rows"]) == 2
    patch_pkg(bench, "run", lambda *a, **k: bench.BenchResult([], {"command": "ran"}, {}))
    assert bench.demo_quick(SimpleNamespace(mode="embedded", forced=False))["provenance"]["command"] == "ran"
