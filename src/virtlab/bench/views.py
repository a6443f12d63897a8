"""The benchmark's views: the text table, the figure, the comparison with the reference, one
metric's row.
"""
from __future__ import annotations

from typing import Any

from virtlab.bench.base import ALL_TARGETS, LABELS, METRICS, NOT_MEASURED, UNITS
from virtlab.bench.runner import _result, reference


def _fmt(v: float, metric: str) -> str:
    if metric in ("start_s", "cpu_s"):
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return f"{v:.1f}" if v < 1000 else f"{v:,.0f}"


def table_text(summary) -> str:  # noqa: ANN001 - pandas
    """A fixed-width text table: one row per metric, one column per target (median [min-max])."""
    targets = [t for t in ALL_TARGETS if t in set(summary["target"])]
    cells = {(r.target, r.metric): f"{_fmt(r.median, r.metric)} [{_fmt(r.min, r.metric)}–{_fmt(r.max, r.metric)}]"
             for r in summary.itertuples()}
    w = 26
    head = f"{'metric':<14}" + "".join(f"{LABELS[t]:>{w}}" for t in targets)
    lines = [head, "-" * len(head)]
    for m in METRICS:
        row = f"{m + ' (' + UNITS[m] + ')':<14}"
        for t in targets:
            row += f"{cells.get((t, m), 'n/a'):>{w}}"
        lines.append(row)
    return "\n".join(lines)


def plot(summary, title: str = "this machine"):  # noqa: ANN001, ANN201 - pandas, matplotlib
    """Bar charts (log scale) of the medians with min–max error bars, one panel per metric."""
    from virtlab import plots

    metrics = [m for m in METRICS if m in set(summary["metric"])]
    fig = plots.figure(figsize=(3.0 * len(metrics), 3.2))
    axes = fig.subplots(1, len(metrics))
    axes = [axes] if len(metrics) == 1 else list(axes)
    colors = {"host": "#4c72b0", "ns": "#55a868", "lxd": "#dd8452", "vm": "#c44e52", "vm-stock": "#8172b3"}
    for ax, m in zip(axes, metrics, strict=True):
        sub = summary[summary["metric"] == m]
        xs = list(range(len(sub)))
        meds = list(sub["median"])
        lo = [a - b for a, b in zip(meds, sub["min"], strict=True)]
        hi = [b - a for a, b in zip(meds, sub["max"], strict=True)]
        ax.bar(xs, meds, yerr=[lo, hi], color=[colors[t] for t in sub["target"]], capsize=3)
        ax.set_xticks(xs, list(sub["target"]))
        ax.set_yscale("log")
        ax.set_title(f"{m} ({UNITS[m]})", fontsize=9)
    fig.suptitle(f"virtlab bench — {title} (medians, min–max bars, log scale)", fontsize=10)
    fig.tight_layout()
    return fig


def show_run(data: Any) -> None:
    """Provenance, skipped targets and the median [min–max] table of one run."""
    res = _result(data)
    show_provenance(res.provenance)
    for t, why in sorted(res.skipped.items()):
        print(f"skipped:     {t} — {why}")
    print()
    print(table_text(res.summary()))


def compare(data: Any, ref: Any = None) -> None:
    """Your run's medians beside the reference run's, with the ratio to the host in each."""
    mine, other = _result(data), _result(ref if ref is not None else reference())
    ms, rs = mine.summary(), other.summary()
    med_m = {(r.target, r.metric): r.median for r in ms.itertuples()}
    med_r = {(r.target, r.metric): r.median for r in rs.itertuples()}
    print(f"reference: {other.provenance.get('date', '?')[:10]}, {other.provenance.get('profile')} profile, "
          f"{str(other.provenance.get('accelerator', '?')).upper()} VM")
    print(f"{'metric':<18}{'target':<22}{'yours':>14}{'reference':>14}{'yours/ref':>11}")
    for m in METRICS:
        for t in ALL_TARGETS:
            a, b = med_m.get((t, m)), med_r.get((t, m))
            if a is None and b is None:
                continue
            fa = _fmt(a, m) if a is not None else "n/a"
            fb = _fmt(b, m) if b is not None else "n/a"
            q = f"{a / b:.2f}x" if a is not None and b else ""
            print(f"{m + ' (' + UNITS[m] + ')':<18}{LABELS[t]:<22}{fa:>14}{fb:>14}{q:>11}")


def row(data: Any, metric: str) -> None:
    """One metric across targets: median, spread, and how many times the host's value."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    res = _result(data)
    s = res.summary()
    sub = s[s.metric == metric]
    base = sub[sub.target == "host"]["median"]
    b = float(base.iloc[0]) if len(base) else None
    print(f"{metric} ({UNITS[metric]}): median [min–max] over n repetitions")
    for r in sub.itertuples():
        vs = f"  = {r.median / b:,.1f}x the host process" if b and r.target != "host" else ""
        print(f"  {LABELS[r.target]:<22}{_fmt(r.median, metric):>10} [{_fmt(r.min, metric)}–"
              f"{_fmt(r.max, metric)}], n={r.n}{vs}")
    why_not = {**NOT_MEASURED, **{(t, m): w for t, m, w in res.provenance.get("not_measured", [])}}
    for t in ALL_TARGETS:
        if (t, metric) in why_not and t in res.provenance.get("targets", []):
            print(f"  {LABELS[t]:<22}{'n/a':>10}  ({why_not[(t, metric)]})")


def show_provenance(p: dict[str, Any]) -> None:
    """Print a run's provenance in a few readable lines."""
    h = p.get("host", {})
    print(f"date:        {p.get('date')}")
    print(f"machine:     {h.get('cpus')} CPUs ({h.get('cpu')}), {h.get('ram_gib')} GiB RAM, "
          f"{h.get('os')}, Linux {h.get('kernel')}, cgroups {p.get('cgroup_layout')}")
    print(f"versions:    {', '.join(f'{k} {v}' for k, v in sorted(p.get('versions', {}).items()))}")
    print(f"accelerator: {str(p.get('accelerator', '?')).upper()} for the VM")
    print(f"profile:     {p.get('profile')} (reps {p.get('reps')}, loop {p.get('loop_iterations')} "
          f"iterations); made by `{p.get('command')}`")
