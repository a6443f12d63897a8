"""The course VM's boot choices, measured: the same guest booted with and without one, in pairs.

* trims — :data:`virtlab.virt.base.BOOT_TRIMS`, kernel parameters that skip work the course VM
  never needs (the legacy BSD ptys, probing four UARTs): the default command line vs without them;
* firmware — qboot (:data:`virtlab.virt.base.QBOOT_ROM`, the course VM's firmware where
  installed) vs QEMU's default SeaBIOS, same kernel, initramfs and command line.

Each pair boots the course VM once each way, in alternating order, so drift on a noisy host hits
both sides; the figure is the median of the paired ratios (with : without) and their range.
"""
from __future__ import annotations

import datetime as _dt
import os
import statistics
from typing import Any

from virtlab.bootexp.base import MEMORY_MIB
from virtlab.safety import check_int
from virtlab.virt.base import BOOT_TRIMS, DEFAULT_CMDLINE

#: what each pair compares, and the JSON keys of one boot that are compared
METRICS = ("kernel_s", "host_s", "wall_s")


def without_trims(cmdline: str = DEFAULT_CMDLINE) -> str:
    """``cmdline`` with every parameter of :data:`BOOT_TRIMS` taken out (the others kept in order)."""
    trims = set(BOOT_TRIMS.split())
    return " ".join(p for p in cmdline.split() if p not in trims)


#: what can be compared: name -> (what "with" and "without" are, in words)
CHOICES = {"trims": ("the boot trims", "the default command line", "without the trims"),
           "firmware": ("the firmware", "qboot", "SeaBIOS (QEMU's default)")}


def bench_trims(pairs: int = 5, *, kernel: str = "minimal", memory: int = MEMORY_MIB,
                choice: str = "trims") -> dict[str, Any]:
    """Boot the course VM ``pairs`` times with and without ``choice`` (a key of :data:`CHOICES`;
    alternating which goes first); every boot kept. Needs ``qemu:///system`` (root) and the
    course VM's images (and, for "firmware", qboot installed)."""
    from virtlab.bootexp.boots import boot_busybox

    if choice not in CHOICES:
        raise ValueError(f"choice must be one of {', '.join(CHOICES)}, not {choice!r}")
    check_int(pairs, minimum=1, maximum=50, what="pairs")
    plain = without_trims()
    sides: dict[str, dict[str, Any]] = (
        {"with": {"cmdline": None}, "without": {"cmdline": plain}} if choice == "trims"
        else {"with": {"firmware": "qboot"}, "without": {"firmware": "seabios"}})
    rows = []
    for i in range(pairs):
        order = ("with", "without") if i % 2 == 0 else ("without", "with")
        row: dict[str, Any] = {}
        for side in order:
            row[side] = boot_busybox(kernel, memory=memory, settle_s=0.0, **sides[side])
        rows.append(row)
    what, with_, without = CHOICES[choice]
    return {"choice": choice, "kernel": kernel, "memory_mib": memory,
            "trims": BOOT_TRIMS if choice == "trims" else None,
            "with": DEFAULT_CMDLINE if choice == "trims" else with_,
            "without": plain if choice == "trims" else without, "pairs": rows,
            "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def bench_firmware(pairs: int = 5, *, kernel: str = "minimal", memory: int = MEMORY_MIB) -> dict[str, Any]:
    """The course VM on qboot vs on SeaBIOS, in pairs (see :func:`bench_trims`)."""
    return bench_trims(pairs, kernel=kernel, memory=memory, choice="firmware")


def _spread(vals: list[float]) -> dict[str, float]:
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def summary_trims(data: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """metric -> {"with", "without", "ratio"} -> {median, min, max, n}; ratio = with / without
    per pair (below 1: the trims save time). Pairs missing a metric are left out of it."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for m in METRICS:
        ok = [r for r in data["pairs"] if r["with"].get(m) and r["without"].get(m)]
        if not ok:
            continue
        out[m] = {"with": _spread([r["with"][m] for r in ok]),
                  "without": _spread([r["without"][m] for r in ok]),
                  "ratio": _spread([r["with"][m] / r["without"][m] for r in ok])}
    return out


def format_trims(data: dict[str, Any]) -> str:
    """The summary as text: one line per metric, medians with [min–max] and the paired ratio."""
    s = summary_trims(data)
    label = {"kernel_s": "kernel (to /init)", "wall_s": "create → marker", "host_s": "host + firmware"}
    if data.get("choice", "trims") == "trims":
        head = f"boot trims ({data['trims']})"
    else:
        head = f"firmware: with = {data['with']}, without = {data['without']}"
    lines = [f"{head}, {len(data['pairs'])} pairs, {data['kernel']} kernel:"]
    for m, v in s.items():
        w, wo, r = v["with"], v["without"], v["ratio"]
        lines.append(f"  {label[m]:18s} with {w['median']:.2f} s [{w['min']:.2f}–{w['max']:.2f}]  "
                     f"without {wo['median']:.2f} s [{wo['min']:.2f}–{wo['max']:.2f}]  "
                     f"ratio {r['median']:.2f} [{r['min']:.2f}–{r['max']:.2f}]")
    return "\n".join(lines)
