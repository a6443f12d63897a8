"""``virtlab bench``: run, save the JSON, print the table, save the figure."""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path

from virtlab.bench.base import PROFILES, REFERENCE, TARGETS
from virtlab.bench.runner import parse_targets, run, save
from virtlab.bench.views import plot, table_text

#: the first line of the package docstring
DESCRIPTION = "The seed's performance table, measured: the same workload in four targets."


# --------------------------------------------------------------------------- namespace start
def ns_start(out: Path | None = None, pairs: int = 31) -> str:
    """virtlab's command start in fresh namespaces vs ``unshare(1)``, side by side in one run
    (:func:`virtlab.namespaces.bench_start`: median of paired ratios with quartiles and range).
    Writes ``bench-ns-start.json`` to ``out`` when given; returns the one-line summary."""
    from virtlab import namespaces

    b = namespaces.bench_start(n=pairs)
    b["date"] = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    b["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench-ns-start.json").write_text(json.dumps(b, indent=1) + "\n")
    return namespaces.format_bench_start(b)


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    """``virtlab bench [--quick|--full] [--targets host,ns,lxd,vm] [--out DIR] [--save-reference]``"""
    ap = argparse.ArgumentParser(prog="virtlab bench", description=DESCRIPTION)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="profile", action="store_const", const="quick",
                   help="few repetitions (CI; the default)")
    g.add_argument("--full", dest="profile", action="store_const", const="full",
                   help="more repetitions, longer loop")
    ap.add_argument("--targets", default=",".join(TARGETS),
                    help="comma-separated subset of host,ns,lxd,vm,vm-stock (vm-stock: the course VM "
                         "with the distribution's kernel, only when named)")
    ap.add_argument("--boot", action="store_true",
                    help="run episode 08's start-up experiment instead (virtlab.bootexp: three "
                         "guests, boot phases, memory, beside the published anchors)")
    ap.add_argument("--boot-trims", action="store_true",
                    help="only compare the course VM booted with and without its kernel-parameter "
                         "trims (virtlab.bootexp.trims: paired boots, ratio of medians)")
    ap.add_argument("--boot-firmware", action="store_true",
                    help="only compare the course VM on qboot (its firmware where installed) and on "
                         "QEMU's default SeaBIOS (paired boots, ratio of medians)")
    ap.add_argument("--out", default="bench-out", help="directory for CSV + PNG (default: bench-out)")
    ap.add_argument("--require-all", action="store_true", help="fail when a target is unavailable")
    ap.add_argument("--save-reference", action="store_true",
                    help=f"also write the result as the committed reference run ({REFERENCE.name})")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--ns-start", action="store_true",
                    help="only compare starting a command in fresh namespaces: virtlab vs unshare(1)")
    args = ap.parse_args(list(argv or []))
    if args.boot_trims and args.boot_firmware:
        ap.error("give --boot-trims or --boot-firmware, not both (each is its own paired run)")
    profile = args.profile or "quick"
    out = Path(args.out)
    if args.boot:
        from virtlab import bootexp

        data = bootexp.run(3 if profile == "quick" else 5, require=args.require_all)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bootexp.json").write_text(json.dumps(data, indent=1) + "\n")
        bootexp.show(data)
        print(f"wrote {out}/bootexp.json")
        return 0
    if args.boot_trims or args.boot_firmware:
        from virtlab import bootexp

        n = 3 if profile == "quick" else 7
        data = bootexp.bench_trims(n) if args.boot_trims else bootexp.bench_firmware(n)
        name = "bench-boot-trims.json" if args.boot_trims else "bench-boot-firmware.json"
        out.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(json.dumps(data, indent=1) + "\n")
        print(bootexp.format_trims(data))
        print(f"wrote {out}/{name}")
        return 0
    targets = parse_targets(args.targets)
    if args.ns_start:
        print(ns_start(out, pairs=PROFILES[profile]["ns_start_pairs"]))
        return 0
    cmd = "virtlab bench " + " ".join(argv or [])
    res = run(targets, profile=profile, progress=not args.no_progress, require=args.require_all,
              command=cmd.strip())
    out.mkdir(parents=True, exist_ok=True)
    res.frame().to_csv(out / "bench-raw.csv", index=False)
    summ = res.summary()
    summ.to_csv(out / "bench-summary.csv", index=False)
    (out / "bench-provenance.json").write_text(json.dumps(res.provenance, indent=1) + "\n")
    fig = plot(summ)
    fig.savefig(out / "bench.png", dpi=96, bbox_inches="tight")
    print(table_text(summ))
    for t, why in res.skipped.items():
        print(f"skipped {t}: {why}")
    if "ns" in targets and "ns" not in res.skipped:
        print(ns_start(out, pairs=PROFILES[profile]["ns_start_pairs"]))
    print(f"wrote {out}/bench-raw.csv, bench-summary.csv, bench-provenance.json, bench.png")
    if args.save_reference:
        print(f"wrote {save(res, REFERENCE)}")
    return 0
