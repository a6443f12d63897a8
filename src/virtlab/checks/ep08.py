"""Self-checks for episode 08 (performance: the seed's table, measured)."""

from __future__ import annotations

import math
from typing import Any

from virtlab import bench
from virtlab.checks import check_answer, verdict


def _medians(data: dict[str, Any]) -> dict[tuple[str, str], float]:
    s = bench.summarize(data["rows"])
    return {(r.target, r.metric): r.median for r in s.itertuples()}


def check_start_ratio(data: dict[str, Any], answer: float) -> bool:
    """Exercise 1: how many times longer does the VM take to start than the LXD container?

    Accepts any answer within 25 % of the ratio of the medians in ``data`` (your own run, or the
    reference run).
    """
    med = _medians(data)
    if ("vm", "start_s") not in med or ("lxd", "start_s") not in med:
        return verdict(False, "", "this run has no vm or lxd start time; use vl.bench.reference().to_dict()")
    want = med[("vm", "start_s")] / med[("lxd", "start_s")]
    try:
        ok = abs(float(answer) - want) <= 0.25 * want
    except (TypeError, ValueError):
        ok = False
    return verdict(ok, f"yes: about {want:.0f}x (median VM start / median LXD start)",
                   "not yet — divide the vm start_s median by the lxd start_s median")


def check_cpu_overhead(data: dict[str, Any], percent: float) -> bool:
    """Exercise 2: the VM's CPU overhead in percent, (vm cpu_s / host cpu_s - 1) * 100, ±15 %."""
    med = _medians(data)
    if ("vm", "cpu_s") not in med or ("host", "cpu_s") not in med:
        # a run on a machine without libvirt (the targets it could not measure were skipped)
        return verdict(False, "", "this run has no vm or host cpu_s; use the recorded reference "
                                  "run: vl.bench.reference().to_dict()")
    want = (med[("vm", "cpu_s")] / med[("host", "cpu_s")] - 1) * 100
    try:
        ok = math.isfinite(float(percent)) and abs(float(percent) - want) <= 0.15 * abs(want) + 1
    except (TypeError, ValueError):
        ok = False
    return verdict(ok, f"yes: about {want:.0f} % — compare with the seed's 5-10 %",
                   "not yet — (median vm cpu_s / median host cpu_s - 1) * 100")


def check_felter_kvm(percent: float) -> bool:
    """Exercise 3: Felter et al.'s tuned-KVM Linpack loss in percent, one decimal."""
    return check_answer(f"{float(percent):.1f}", "8771a6c04174b7f7",
                        hint="(290.8 - 284.2) / 290.8 * 100, rounded to one decimal")
