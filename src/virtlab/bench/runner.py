"""Running the benchmark (``run``), its result and provenance, ratios and medians, the stored
reference, cleanup.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtlab import PREFIX, probe
from virtlab.bench.base import (
    ALL_TARGETS,
    BENCH_PREFIX,
    METRICS,
    NETNS_STEM,
    NOT_MEASURED,
    PROFILES,
    REFERENCE,
    TARGETS,
    UNITS,
    BenchError,
    code_version,
    not_measured,
)
from virtlab.bench.measure import _busybox
from virtlab.bench.targets import TARGET_CLASSES, Target
from virtlab.safety import Deadline, check_int, cleanup_all


# --------------------------------------------------------------------------- the run
@dataclass
class BenchResult:
    rows: list[dict[str, Any]]  # target, metric, rep, value
    provenance: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)  # target -> why

    def frame(self):  # noqa: ANN201 - pandas
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["target", "metric", "rep", "value"])

    def summary(self):  # noqa: ANN201 - pandas
        return summarize(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "provenance": self.provenance, "skipped": self.skipped}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchResult:
        return cls(list(d["rows"]), dict(d.get("provenance", {})), dict(d.get("skipped", {})))


def summarize(rows: Sequence[dict[str, Any]]):  # noqa: ANN201 - pandas
    """Median, min, max, relative spread ((max-min)/median) and n per target and metric."""
    import pandas as pd

    out = []
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r["target"], r["metric"]), []).append(float(r["value"]))
    for t in ALL_TARGETS:
        for m in METRICS:
            vals = groups.get((t, m))
            if not vals:
                continue
            med = statistics.median(vals)
            out.append({"target": t, "metric": m, "unit": UNITS[m], "median": med, "min": min(vals),
                        "max": max(vals), "spread": (max(vals) - min(vals)) / med if med else 0.0,
                        "n": len(vals)})
    return pd.DataFrame(out, columns=["target", "metric", "unit", "median", "min", "max", "spread", "n"])


def _versions() -> dict[str, str]:
    v = probe.versions()
    q = shutil.which("qemu-system-x86_64")
    if q:
        with contextlib.suppress(Exception):
            v["qemu"] = subprocess.run([q, "--version"], capture_output=True, text=True, timeout=10,
                                       check=False).stdout.split("\n")[0].split("version")[-1].strip()
    with contextlib.suppress(Exception):
        v["busybox"] = subprocess.run([_busybox()], capture_output=True, text=True, timeout=5,
                                      check=False).stdout.split("\n")[0].split(" (")[0]
    return v


def provenance(profile: str, targets: Sequence[str], command: str) -> dict[str, Any]:
    """Where and how a run was made: date, machine, kernel, versions, accelerator, profile."""
    import psutil

    k = probe.kernel()
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    kv = probe.kvm()
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": {"kernel": k["release"], "os": k["os"], "machine": k["machine"], "python": k["python"],
                 "cpu": cpu_model, "cpus": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
                 "hostname_sha256": hashlib.sha256(platform.node().encode()).hexdigest()[:12]},
        "cgroup_layout": probe.cgroups().layout,
        "versions": _versions(),
        "accelerator": kv.accelerator,
        "accelerator_reason": kv.reason,
        "profile": profile,
        "reps": {t: PROFILES[profile]["reps"][t] for t in targets},
        "loop_iterations": PROFILES[profile]["loop"],
        "net_mib": PROFILES[profile]["net_mib"],
        "targets": list(targets),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "command": command,
        "code": code_version(),
    }


def parse_targets(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return list(TARGETS)
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [i.strip() for i in items if i.strip()]
    bad = [i for i in items if i not in ALL_TARGETS]
    if bad or not items:
        raise ValueError(f"unknown target(s) {bad or items}; choose from: {', '.join(ALL_TARGETS)}")
    return list(dict.fromkeys(items))


def run(targets: str | Sequence[str] | None = None, *, profile: str = "quick", progress: bool = True,
        require: bool = False, command: str = "virtlab.bench.run()",
        deadline_s: float = 900) -> BenchResult:
    """Measure ``targets`` (default all) with ``profile`` ("quick" or "full").

    Unavailable targets are skipped with the reason (``require=True``: raise instead). Every
    instance is created and removed inside the measurement; the whole run has a deadline.
    """
    tlist = parse_targets(targets)
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from: {', '.join(PROFILES)}")
    check_int(int(deadline_s), minimum=10, maximum=7200, what="deadline_s")
    prof = PROFILES[profile]
    dl = Deadline(deadline_s, "virtlab bench", "use --quick or fewer --targets")
    plan: list[tuple[Target, str, int]] = []
    skipped: dict[str, str] = {}
    chosen: list[Target] = []
    for name in tlist:
        t = TARGET_CLASSES[name](name, prof["loop"], prof["net_mib"])
        why = t.available()
        if why:
            if require:
                raise BenchError(f"target {name} is not available: {why}")
            skipped[name] = why
            continue
        chosen.append(t)

    skip_metrics = not_measured()

    def reps(t: Target, metric: str) -> int:
        if (t.name, metric) in skip_metrics or metric == "net_mbit_s":
            return 0  # net_mbit_s is measured together with net_rtt_us
        if metric == "storage_mib":
            return 1
        n = prof["reps"][t.name]
        return min(n, 3) if metric == "net_rtt_us" else n

    # interleaved: repetition i of every target before repetition i+1, so that a noisy
    # neighbour on a shared machine slows all targets alike instead of one
    for metric in METRICS:
        for i in range(max((reps(t, metric) for t in chosen), default=0)):
            plan.extend((t, metric, i) for t in chosen if i < reps(t, metric))
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(plan) + len(chosen), desc="virtlab bench", unit="step", disable=not progress,
               file=sys.stderr)
    try:
        for t in chosen:
            bar.set_postfix_str(f"{t.name}: warm-up")
            t.warm_up()
            bar.update(1)
        for t, metric, rep in plan:
            dl.check()
            bar.set_postfix_str(f"{t.name}: {metric}")
            if metric == "start_s":
                rows.append(_row(t.name, metric, rep, t.start()))
            elif metric == "cpu_s":
                rows.append(_row(t.name, metric, rep, t.cpu()))
            elif metric == "memory_mib":
                rows.append(_row(t.name, metric, rep, t.memory()))
            elif metric == "storage_mib":
                rows.append(_row(t.name, metric, rep, t.storage()))
            elif metric == "net_rtt_us":
                n = t.network()
                if n is not None:
                    rows.append(_row(t.name, "net_rtt_us", rep, n["rtt_s"] * 1e6))
                    rows.append(_row(t.name, "net_mbit_s", rep, n["mbit_s"]))
            bar.update(1)
    finally:
        bar.close()
    prov = provenance(profile, [t.name for t in chosen], command)
    prov["not_measured"] = [[t, m, w] for (t, m), w in skip_metrics.items()
                            if (t, m) not in NOT_MEASURED and t in prov["targets"]]
    return BenchResult(rows, prov, skipped)


def _row(target: str, metric: str, rep: int, value: float) -> dict[str, Any]:
    return {"target": target, "metric": metric, "rep": rep, "value": round(float(value), 6)}


# --------------------------------------------------------------------------- views
def ratios(summary) -> dict[str, dict[str, float]]:  # noqa: ANN001 - pandas
    """Each target's median divided by the host's median, per metric (1.0 = like the host)."""
    med = {(r.target, r.metric): r.median for r in summary.itertuples()}
    out: dict[str, dict[str, float]] = {}
    for (t, m), v in med.items():
        base = med.get(("host", m))
        if base:
            out.setdefault(t, {})[m] = v / base
    return out


# --------------------------------------------------------------------------- reference data
def reference() -> BenchResult:
    """The committed reference run (made by ``virtlab bench --save-reference`` on a lab machine)."""
    if not REFERENCE.exists():
        raise LookupError(f"no reference run at {REFERENCE}; make one with "
                          "`virtlab bench --save-reference` on a lab VM")
    return BenchResult.from_dict(json.loads(REFERENCE.read_text()))


def save(result: BenchResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=1, sort_keys=True) + "\n")
    return path


# --------------------------------------------------------------------------- notebook views
def _result(data: Any) -> BenchResult:
    if isinstance(data, BenchResult):
        return data
    if hasattr(data, "data"):  # a modes.Result
        data = data.data
    return BenchResult.from_dict(data)


def medians(data: Any) -> dict[tuple[str, str], float]:
    """{(target, metric): median} of a run."""
    return {(r.target, r.metric): r.median for r in _result(data).summary().itertuples()}


def cleanup() -> list[str]:
    """Remove what an interrupted benchmark left behind — only ``vl-bench-*`` / ``vl-bn*`` course
    resources (each module's own ownership checks still apply); returns what went."""
    removed: list[str] = []
    steps: list[tuple[str, Callable[[], object]]] = []
    with contextlib.suppress(ImportError):
        from virtlab import cgroups

        steps.append(("cgroups", lambda: removed.extend(cgroups.cleanup(BENCH_PREFIX))))
    with contextlib.suppress(ImportError):
        from virtlab import namespaces

        steps.append(("netns", lambda: removed.extend(namespaces.cleanup(PREFIX + NETNS_STEM))))
    if probe.lxd().reachable:
        from virtlab import lxd

        def lxd_clean() -> None:  # the caller's own bench instances (lxd.cleanup's scope)
            removed.extend(lxd.cleanup(match=BENCH_PREFIX))
        steps.append(("lxd", lxd_clean))
    if probe.libvirt_info().uris.get("qemu:///system", {}).get("ok"):
        from virtlab import virt

        def virt_clean() -> None:
            conn = virt.connect("qemu:///system")
            try:
                for name in virt.course_domains(conn):
                    if name.startswith(BENCH_PREFIX):
                        virt._remove_domain(conn.lookupByName(name))
                        removed.append(f"domain {name}")
            finally:
                conn.close()
        steps.append(("libvirt", virt_clean))
    cleanup_all(steps)
    return removed
