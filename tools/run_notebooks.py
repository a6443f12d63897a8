"""Run notebooks top to bottom as the current user and tally which backend served each section.

Every live cell prints a banner (``[virtlab] lxd: live — ...``); this counts them per section and
mode, fails when a cell raises, and, with ``--expect-live``, when a listed section was served by
anything but the live backend. The tally is written as JSON for the README's audience table
(``tools/audience_table.py``).

    python tools/run_notebooks.py --audience learner --expect-live lxd,libvirt \\
        --out build/audiences/learner.json notebooks/*.ipynb

``--jobs 2`` runs two notebooks at a time, each in its own process, in the order given, or the
longest first by an earlier tally's seconds (``--longest-first docs/audiences/root.json``): the
live notebooks wait on daemons and guests more than they compute. Safe because each episode's
demos and exercise checks are its own (no two notebooks share a demo's fixed names) and every
cleanup a notebook runs is scoped to what it made.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from virtlab import modes, probe


def tally(nb: nbformat.NotebookNode, name: str, not_live: list[str]) -> Counter:
    """Banners per (section, mode); every banner that is not live is listed in ``not_live``."""
    c: Counter = Counter()
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            for line in str(out.get("text", "")).splitlines():
                b = modes.parse_banner(line)
                if b:
                    c[b] += 1
                    if modes.NOT_LIVE_HERE in line:  # the section is live, this cell needs more
                        c[(b[0], "needs")] += 1
                    if b[1] != "live":
                        not_live.append(f"{name} cell {i}: {line[:240]}")
    return c


def run_one(path: str, timeout: int) -> tuple[nbformat.NotebookNode, float, str | None]:
    """Execute one notebook top to bottom: (the executed notebook, seconds, failure or None)."""
    nb = nbformat.read(path, as_version=4)
    t0 = time.monotonic()
    failure = None
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    except CellExecutionError as err:
        failure = f"{path}: {str(err).strip().splitlines()[-1][:300]}"
    except Exception as err:  # noqa: BLE001 - a dead kernel, a timeout: reported, the rest runs on
        failure = f"{path}: {type(err).__name__}: {str(err).strip()[:300]}"
    return nb, round(time.monotonic() - t0, 1), failure


def longest_first(paths: list[str], tally_file: Path) -> list[str]:
    """``paths`` by the seconds an earlier tally gives each, longest first; a notebook it does
    not know keeps its place after the known ones (an unreadable tally changes nothing)."""
    try:
        secs = json.loads(tally_file.read_text()).get("seconds", {})
    except (OSError, ValueError, AttributeError):
        return list(paths)
    known = sorted((p for p in paths if isinstance(secs.get(p), (int, float))), key=lambda p: -secs[p])
    return known + [p for p in paths if p not in known]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--audience", required=True, help="name of the audience this run stands for")
    ap.add_argument("--expect-live", default="", help="comma-separated sections that must be live")
    ap.add_argument("--out", help="write the tally here (JSON)")
    ap.add_argument("--timeout", type=int, default=600, help="per cell, seconds")
    ap.add_argument("--jobs", type=int, default=1, choices=range(1, 5), metavar="1-4",
                    help="notebooks run at a time, each in its own process (default 1)")
    ap.add_argument("--longest-first", metavar="TALLY.json",
                    help="run the notebooks longest first, by the seconds of an earlier tally")
    args = ap.parse_args()
    if args.longest_first:
        args.notebooks = longest_first(args.notebooks, Path(args.longest_first))
    expect = [s for s in args.expect_live.split(",") if s]
    for s in expect:
        modes.section(s)  # unknown names are an error
    total: Counter = Counter()
    failures: list[str] = []
    not_live: list[str] = []
    per_nb: dict[str, float] = {}
    done: dict[str, tuple[nbformat.NotebookNode, float, str | None]] = {}
    if args.jobs == 1:
        for path in args.notebooks:
            print(f"[run] {path} ...", flush=True)
            done[path] = run_one(path, args.timeout)
    else:
        with cf.ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {}
            for path in args.notebooks:  # submitted in order: the pool starts them in order
                futures[pool.submit(run_one, path, args.timeout)] = path
            print(f"[run] {len(futures)} notebooks, {args.jobs} at a time, in this order: "
                  + " ".join(Path(p).stem for p in args.notebooks), flush=True)
            for fut in cf.as_completed(futures):
                path = futures[fut]
                done[path] = fut.result()
                print(f"[run] {path} done in {done[path][1]} s", flush=True)
    for path in args.notebooks:  # tallied in the order given, whatever order they ended in
        nb, secs, failure = done[path]
        per_nb[path] = secs
        if failure:
            failures.append(failure)
        total.update(tally(nb, path, not_live))
    sections: dict[str, dict[str, int]] = {}
    for (sec, mode), n in sorted(total.items()):
        sections.setdefault(sec, {"live": 0, "embedded": 0, "recorded": 0, "needs": 0})[mode] += n
    for s in expect:
        got = sections.get(s, {})
        if not got.get("live"):
            failures.append(f"section {s}: expected live, got none live ({got or 'no banner'})")
        elif got.get("embedded") or got.get("recorded", 0) > got.get("needs", 0):
            # a recorded cell that names what it needs (root, say) is allowed; nothing else
            failures.append(f"section {s}: expected every cell live, got {got}")
    report = {
        "audience": args.audience, "date": dt.date.today().isoformat(),
        "uid": os.getuid(), "mode": os.environ.get("VIRTLAB_MODE", "auto"),
        "kernel": probe.kernel()["release"], "sections": sections, "seconds": per_nb,
        "expect_live": expect, "failures": failures, "not_live": not_live,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    for sec, m in sections.items():
        print(f"[run] {sec:<10} live {m['live']:>3}  embedded {m['embedded']:>3}  recorded {m['recorded']:>3}"
              + (f" ({m['needs']} of them: this cell needs more)" if m["needs"] else ""))
    for line in not_live:
        print(f"[run] not live: {line}")
    for f in failures:
        print(f"[run] FAILED: {f}")
    print(f"[run] {len(args.notebooks)} notebooks, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
