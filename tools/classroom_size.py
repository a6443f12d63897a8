"""Measure one classroom learner's peak memory and CPU over a full live run of the course, through
the hub, and size a host for a class from it.

Root, on a host provisioned with ``provision.sh --classroom``; holds nothing but the learner's
own resources (their server, their project)::

    sudo .venv/bin/python tools/classroom_size.py --learner vlhub-a --out docs/classroom-size.json

The learner logs in through the hub, their server starts in their delegated cgroup subtree, the
course notebooks are copied into their home (what an nbgitpuller link does) and executed from
their kernel (``jupyter nbconvert --execute``, in their cgroup). Meanwhile the learner's cgroup
(server, kernels, QEMU of their ``qemu:///session``) and their LXD project's containers (which
LXD runs in its own cgroups) are sampled; the peak of the sum is the learner's footprint.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pwd
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

from virtlab import classroom, lxd
from virtlab.hubclient import Learner

REPO = Path(__file__).resolve().parents[1]
MEM = Path("/sys/fs/cgroup/memory/virtlab-learners")
CPUACCT = [Path("/sys/fs/cgroup/cpu,cpuacct/virtlab-learners"), Path("/sys/fs/cgroup/cpuacct/virtlab-learners")]

RUN_ALL = """
import glob, json, os, subprocess, sys, time
os.chdir(os.path.expanduser("~/virtlab-course"))
t0 = time.monotonic(); res = {{}}
for nb in {notebooks!r}:
    t = time.monotonic()
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "jupyter"), "nbconvert",
                        "--to", "notebook", "--execute", "--output-dir", "/tmp/vl-size-{run}",
                        "--ExecutePreprocessor.timeout=900", nb], capture_output=True, text=True)
    res[nb] = {{"rc": r.returncode, "s": round(time.monotonic() - t, 1), "err": r.stderr[-300:] if r.returncode else ""}}
print(json.dumps({{"wall": time.monotonic() - t0, "notebooks": res}}))
"""


def _read_int(p: Path) -> int:
    return int(p.read_text().split()[0])


def _cpu_dir(user: str) -> Path:
    for c in CPUACCT:
        if (c / user / "cpuacct.usage").exists():
            return c / user
    raise LookupError("no cpuacct hierarchy with the learner's subtree")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learner", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--notebooks", default="notebooks/0*.ipynb")
    a = ap.parse_args()
    user = a.learner
    pw = pwd.getpwnam(user)
    # the course in the learner's home, as an nbgitpuller link would put it
    dest = Path(pw.pw_dir) / "virtlab-course"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(REPO / "notebooks", dest / "notebooks", ignore=shutil.ignore_patterns("src"))
    subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(dest)], check=True)
    notebooks = sorted(str(p.relative_to(dest)) for p in dest.glob(a.notebooks))

    password = secrets.token_urlsafe(16)
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
    lr = Learner(user, password)
    lr.login()
    lr.start_server()
    lr.start_kernel()

    mem = MEM / user
    (mem / "memory.max_usage_in_bytes").write_text("0")
    cpu = _cpu_dir(user)
    cpu0 = _read_int(cpu / "cpuacct.usage")
    proj = lxd._in_project(classroom.LXD_SOCKET, classroom.project_name(user))
    peak = {"cgroup": 0, "containers": 0, "sum": 0, "instances": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                cg = _read_int(mem / "memory.usage_in_bytes")
                items = proj.api.instances.get(params={"recursion": 2}).json()["metadata"]
                ct = sum(((i.get("state") or {}).get("memory") or {}).get("usage", 0) for i in items)
            except Exception:  # noqa: BLE001 - a sample lost to a racing delete
                continue
            peak["cgroup"] = max(peak["cgroup"], cg)
            peak["containers"] = max(peak["containers"], ct)
            peak["sum"] = max(peak["sum"], cg + ct)
            peak["instances"] = max(peak["instances"], len(items))
            stop.wait(0.5)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    run = lr.run_json(RUN_ALL.format(notebooks=notebooks, run=secrets.token_hex(2)), timeout=3600)
    stop.set()
    th.join(5)
    cpu_s = (_read_int(cpu / "cpuacct.usage") - cpu0) / 1e9
    kernel_peak = _read_int(mem / "memory.max_usage_in_bytes")
    lr.stop_server()
    hub_rss = 0
    for pidfile in ("/run/virtlab-classroom/hub.pid", "/run/virtlab-classroom/gate.pid"):
        with open(pidfile) as f:
            pid = f.read().strip()
        for p in [pid, *subprocess.run(["pgrep", "-P", pid], capture_output=True,
                                       text=True).stdout.split()]:
            with open(f"/proc/{p}/status") as f:
                hub_rss += next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmRSS"))
    learner_peak = max(peak["sum"], kernel_peak)
    n = 30
    mem_total = n * learner_peak + hub_rss + 2 * 1024**3  # + 2 GiB for the OS, LXD, page cache
    avg_cpus = cpu_s / run["wall"]
    out = {
        "learner": user, "date": time.strftime("%Y-%m-%d"), "notebooks": run["notebooks"],
        "wall_s": round(run["wall"], 1), "cpu_s": round(cpu_s, 1),
        "avg_cpus_while_running": round(avg_cpus, 2),
        "peak_learner_cgroup_bytes": kernel_peak, "peak_sampled": peak,
        "peak_learner_bytes": learner_peak, "hub_gate_proxy_rss_bytes": hub_rss,
        "class": {"learners": n,
                  "memory_bytes": mem_total,
                  "memory_gib": math.ceil(mem_total / 1024**3),
                  "cpus_if_all_run_at_once": math.ceil(n * avg_cpus),
                  "cpus_suggested": max(8, math.ceil(n * avg_cpus / 2))},
        "host": {"cpus": os.cpu_count(), "kernel": os.uname().release},
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0 if all(v["rc"] == 0 for v in run["notebooks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
