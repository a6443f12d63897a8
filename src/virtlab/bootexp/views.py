"""The start-up experiment's view: the table of phases and memory beside the anchors."""
from __future__ import annotations

from typing import Any

from virtlab.bootexp.base import (
    ANCHORS,
    CONTAINER_LABELS,
    CONTAINERS,
    GUEST_LABELS,
    GUEST_SHORT,
    GUESTS,
    PHASE_LABELS,
    PHASES,
)
from virtlab.bootexp.experiment import container_summary, ratios, summary


def _cell(v: dict[str, float] | None, unit: str) -> str:
    if v is None:
        return "—"
    f = "{:.2f}" if unit == "s" else ("{:.1f}" if v["max"] < 10 else "{:.0f}")
    return f"{f.format(v['median'])} [{f.format(v['min'])}–{f.format(v['max'])}]"


def show(r: Any) -> None:
    """The table: one column per guest, medians [min–max], ratios to the minimal guest, anchors."""
    data = r.data if hasattr(r, "data") else r
    s = summary(data)
    rat = ratios(data)
    guests = [g for g in GUESTS if g in s]
    print(f"{len(guests)} guests on the same QEMU ({str(data['accelerator']).upper()}), "
          f"{data['memory_mib']} MiB RAM each, TCG translation cache {data.get('tb_cache_mib')} MiB; "
          + ("1 boot each (VIRTLAB_BOOTEXP_REPEAT=1): each figure is one boot, no spread" if data["repeat"] == 1
             else f"{data['repeat']} boots each, interleaved; median [min–max]"))
    for g in guests:
        print(f"  {GUEST_SHORT[g]:<22} {GUEST_LABELS[g]}")
    for k, v in data.get("kernels", {}).items():
        print(f"  {k} kernel: {v['release']} ({v['bytes'] / 2**20:.1f} MiB vmlinux)")
    w = 24
    print(f"{'':<22}" + "".join(f"{GUEST_SHORT[g]:>{w}}" for g in guests))
    rows = [("create -> ready (s)", "wall_s", "s")] + \
        [(f"  {PHASE_LABELS[p]} (s)", p, "s") for p in PHASES] + \
        [("QEMU charged (MiB)", "charged_mib", "MiB"), ("QEMU RSS (MiB)", "rss_mib", "MiB")]
    for label, m, unit in rows:
        print(f"{label:<22}" + "".join(f"{_cell(s[g].get(m), unit):>{w}}" for g in guests))
    print(f"{'ratio to minimal':<22}" + "".join(
        f"{'x{:.1f} time, x{:.1f} mem'.format(rat[g].get('wall_s', 0), rat[g].get('charged_mib', rat[g].get('rss_mib', 0))):>{w}}"
        for g in guests))
    sysd = data["runs"].get("minimal+systemd")
    if sysd:
        last = sysd[-1]
        print(f"systemd: {last.get('state')}, {last.get('active_units')} active units; "
              f"systemd-analyze: {last.get('analyze')}")
        if last.get("blame"):
            print("  slowest units: " + "; ".join(last["blame"][:3]))
    for g, why in sorted(data.get("skipped", {}).items()):
        print(f"skipped {g}: {why}")
    kb = data.get("kernel_build") or {}
    if kb.get("total_s"):
        print(f"minimal kernel build: {kb['total_s']:.0f} s on {kb.get('cpus')} CPUs (make -j{kb.get('jobs')}), "
              "once at provisioning, cached after")
    cs = container_summary(data)
    if cs:
        print("\ncontainers (LXD on the same host: busybox image vs Debian with systemd as PID 1)")
        print(f"{'':<22}" + "".join(f"{CONTAINER_LABELS[k]:>{w}}" for k in CONTAINERS if k in cs))
        for label, m, unit in (("launch (s)", "launch_s", "s"), ("create -> ready (s)", "wall_s", "s"),
                               ("  systemd's count (s)", "systemd_s", "s"),
                               ("cgroup charged (MiB)", "charged_mib", "MiB")):
            print(f"{label:<22}" + "".join(f"{_cell(cs[k].get(m), unit):>{w}}" for k in CONTAINERS if k in cs))
    for k, why in sorted((data.get("containers_skipped") or {}).items()):
        print(f"skipped container {k}: {why}")
    print("\nanchors (each stops the clock somewhere else):")
    for what, stop, fig, src in ANCHORS:
        print(f"  {what:<26} {stop:<32} {fig:<24} {src}")
