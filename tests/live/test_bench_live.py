"""The benchmark on the real kernel and daemons: all four targets, quick profile, then nothing left.

One run of `virtlab bench --quick --require-all` carries every assertion (host and namespace
targets included: a second `bench.run("host,ns")` used to measure them again, ~30 s); `make test`
hands that checked run on to the live notebook 08 (bench.reused_run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from virtlab import bench

#: bench.cleanup() sweeps every vl-bench-* resource (LXD timings, episode 03's density demo and
#: the VM density measurement use the same stem): never beside the live notebooks (tools/test.sh)
pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.serial]


def _leftovers() -> list[str]:
    from virtlab import cgroups, namespaces

    left = [str(d) for d in cgroups.course_cgroup_dirs(bench.BENCH_PREFIX)]
    left += [n for n in namespaces.course_netns() if n.startswith(bench.PREFIX + bench.NETNS_STEM)]
    return left


@pytest.mark.timeout(600)
def test_all_four_targets_via_the_cli(need, tmp_path):
    need("bench")
    need("lxd")
    need("libvirt")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "virtlab.cli", "bench", "--quick", "--require-all",
                        "--no-progress", "--out", str(out)], capture_output=True, text=True,
                       timeout=540, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    for f in ("bench-raw.csv", "bench-summary.csv", "bench-provenance.json", "bench.png"):
        assert (out / f).stat().st_size > 0, f
    import pandas as pd

    s = pd.read_csv(out / "bench-summary.csv")
    med = {(t, m): v for t, m, v in zip(s.target, s.metric, s["median"], strict=True)}
    prov = json.loads((out / "bench-provenance.json").read_text())
    assert set(prov["targets"]) == set(bench.TARGETS)
    # the shape of the seed's table, measured: a VM starts slower and costs more memory than
    # a container, whose cost is close to a plain process
    assert med[("vm", "start_s")] > med[("lxd", "start_s")] > med[("host", "start_s")]
    # starting a process in fresh namespaces + a cgroup costs more than a bare fork/exec ...
    assert med[("ns", "start_s")] > med[("host", "start_s")]
    # ... but the CPU-bound loop runs at native speed (same kernel, same scheduler)
    assert 0.5 < med[("ns", "cpu_s")] / med[("host", "cpu_s")] < 2.0
    # a veth between two namespaces carries real TCP traffic
    assert med[("ns", "net_mbit_s")] > 100 and med[("ns", "net_rtt_us")] > 0
    assert med[("ns", "storage_mib")] >= med[("host", "storage_mib")]
    assert med[("vm", "memory_mib")] > 10 * med[("lxd", "memory_mib")]
    assert med[("vm", "storage_mib")] > med[("lxd", "storage_mib")]
    # TCP through a veth into the container's own network namespace
    assert med[("lxd", "net_mbit_s")] > 100 and ("vm", "net_rtt_us") not in med
    if prov["accelerator"] == "tcg":  # software emulation: far slower than native
        assert med[("vm", "cpu_s")] > 2 * med[("host", "cpu_s")]
    assert "host process" in r.stdout and "libvirt VM" in r.stdout
    assert not _leftovers()
    assert bench.cleanup() == []  # every instance was removed by the run itself
    # checked: tools/test.sh hands this run to the live notebook run (bench.reused_run) instead
    # of booting the same VMs again
    if os.environ.get("VIRTLAB_BENCH_DIR"):
        shutil.copytree(out, Path(os.environ["VIRTLAB_BENCH_DIR"]) / "bench-quick", dirs_exist_ok=True)
        assert bench.reused_run(str(Path(os.environ["VIRTLAB_BENCH_DIR"]) / "bench-quick")) is not None


def test_bad_target_creates_nothing(need):
    need("bench")
    before = _leftovers()
    with pytest.raises(ValueError):
        bench.run("host,container")
    assert _leftovers() == before
