"""Reusing the live tests' quick run in the live notebook run of ``make test`` (``VIRTLAB_BENCH_REUSE``)."""
from __future__ import annotations

import csv
import datetime as _dt
import json
from pathlib import Path

from virtlab.bench.base import TARGETS, code_version
from virtlab.bench.runner import BenchResult

#: how old a run tools/test.sh may hand to the live notebook (see :func:`reused_run`)
REUSE_MAX_AGE_S = 3600


def reused_run(out_dir: str | None) -> BenchResult | None:
    """A complete quick run that ``virtlab bench --quick --require-all --out DIR`` made minutes
    ago on this machine, by this code — or None.

    ``make test`` runs that command once in the live tests (tests/live/test_bench_live.py, which
    checks it) and points ``VIRTLAB_BENCH_REUSE`` at its folder, so that the live notebook run
    shows that run instead of booting the same VMs again. The provenance says so. Anything else
    (another profile, a missing target, another code version, older than an hour) is not reused.
    """
    if not out_dir:
        return None
    d = Path(out_dir)
    try:
        prov = json.loads((d / "bench-provenance.json").read_text())
        with (d / "bench-raw.csv").open(newline="") as f:
            rows = [{"target": r["target"], "metric": r["metric"], "rep": int(r["rep"]),
                     "value": float(r["value"])} for r in csv.DictReader(f)]
        made = _dt.datetime.strptime(prov["date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
    except (OSError, ValueError, KeyError):
        return None
    age = (_dt.datetime.now(_dt.UTC) - made).total_seconds()
    if (prov.get("profile") != "quick" or set(prov.get("targets", [])) != set(TARGETS)
            or prov.get("code") != code_version() or not 0 <= age <= REUSE_MAX_AGE_S or not rows):
        return None
    prov["command"] = (f"{prov.get('command', 'virtlab bench')} (the live tests' run in this `make test`, "
                       f"{round(age)} s before this cell; VIRTLAB_BENCH_REUSE)")
    return BenchResult(rows, prov, {})
