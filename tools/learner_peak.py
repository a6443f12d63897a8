"""One learner's peak memory over a full live run (issue #17, "memory per learner"; goal <= 320 MiB).

Root only, on a provisioned machine. The learner (``vllearner``, with a clone and a venv of the
course in their home: ``--dir``) runs every notebook live, as CI's learner stage does
(tools/run_notebooks.py), with the run placed in the learner's delegated memory cgroup
(v1: ``memory/virtlab-learners/USER``; v2: ``virtlab-learners/USER`` under the unified mount).
What the learner's run makes is charged there (kernels, the namespace start helper, the course's
own cgroups below it) — except the instances the daemons run for them: LXD containers (charged
to LXD's ``lxc.payload.vl-*`` cgroups) and libvirt's QEMU guests (``machine`` cgroups). Those are
sampled every ``--interval`` seconds (their cgroup where readable, else the RSS of the process
tree) and added to the subtree's usage *at the same instant*.

Reported (JSON with ``--out``, and one line each):

    stale_cache_dropped_mib  page cache earlier runs left charged to the subtree, reclaimed before
                         the run (drop_cache), so that it is not counted as this run's
    subtree_peak_mib     the kernel's own high-water mark for the subtree (max_usage / memory.peak)
    peak_total_mib       max over samples of subtree usage + instances elsewhere, with the
                         breakdown at that sample (which notebook was running; the subtree's
                         page cache then: files its processes read or wrote first)
    server_mib           the learner's Jupyter server (``--server``: started, left to settle,
                         then serving a kernel session; stopped): the larger of its settled size
                         and its own size while serving — the server share for one learner.
                         ``server`` breaks it down (start-up peak, idle, serving; see
                         summarize_server: the start-up peak is a transient, not counted)
    learner_peak_mib     peak_total + server: an upper bound (the runner below is counted too)
    runner_mib           the notebook runner's own RSS at the peak: tools/run_notebooks.py is
                         what drives the kernels here, where a learner has their Jupyter server
    learner_peak_server_mib  max over samples of (subtree - runner RSS + instances) + server:
                         the learner's peak with the server in the runner's place. It counts the
                         page cache the run charges to the subtree (from a clean start: the Python
                         libraries its kernels read, ~120 MiB)
    learner_peak_server_no_cache_mib  the same without the subtree's page cache — the number the
                         goal is about: what the learner's processes and instances hold that the
                         kernel cannot simply drop (page cache is charged to whoever read a file
                         first, and on a class server learners using one venv share it)

    flock /work/wt/notes/live.lock python3 tools/learner_peak.py --dir ~vllearner/vl-course-peak \
        --out build/learner-peak.json --server
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

MIB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from virtlab import orphans  # noqa: E402 - after the path set-up

V1_MEM = Path("/sys/fs/cgroup/memory")


def subtree(user: str) -> Path:
    """The learner's delegated memory cgroup (provisioned by labs/lab-vm/provision.d)."""
    for base in (V1_MEM / "virtlab-learners" / user, Path("/sys/fs/cgroup/unified/virtlab-learners") / user,
                 Path("/sys/fs/cgroup/virtlab-learners") / user):
        if (base / "memory.usage_in_bytes").exists() or (base / "memory.current").exists():
            return base
    raise SystemExit(f"no delegated memory cgroup for {user}: provision with --user {user}")


def usage(cg: Path) -> int | None:
    for f in ("memory.usage_in_bytes", "memory.current"):
        with contextlib.suppress(OSError, ValueError):
            return int((cg / f).read_text())
    return None


def working_set(cg: Path) -> int | None:
    """usage minus the inactive file cache — what the kernel cannot simply drop under pressure
    (the "working set" Kubernetes and cAdvisor evict on). None: unreadable."""
    u = usage(cg)
    if u is None:
        return None
    stat = memory_stat(cg)
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))  # v1 / v2
    return max(0, u - inactive)


def memory_stat(cg: Path) -> dict[str, int]:
    """``cg``'s memory.stat as {key: bytes}; {} when unreadable."""
    stat: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        for line in (cg / "memory.stat").read_text().splitlines():
            k, v = line.split()
            stat[k] = int(v)
    return stat


def file_cache(cg: Path) -> int:
    """The page cache charged to ``cg`` (v1 ``total_cache``, v2 ``file``), bytes; 0: unreadable."""
    stat = memory_stat(cg)
    return stat.get("total_cache", stat.get("file", 0))


def drop_cache(cg: Path) -> int:
    """Reclaim the page cache earlier runs left charged to ``cg`` (files the learner's processes
    read first stay charged to them until reclaimed: the root stage's learner tests, the server
    probe), so the run's peak counts what *it* uses. v1: ``memory.force_empty`` (the subtree
    has no task then); v2: ``memory.reclaim``. Returns the bytes it freed (0: not possible)."""
    before = usage(cg) or 0
    for f, value in (("memory.force_empty", "0"), ("memory.reclaim", str(before or 1))):
        if not (cg / f).exists():
            continue
        with contextlib.suppress(OSError):
            (cg / f).write_text(value)
            break
    return max(0, before - (usage(cg) or 0))


def peak(cg: Path) -> int | None:
    for f in ("memory.max_usage_in_bytes", "memory.peak"):
        with contextlib.suppress(OSError, ValueError):
            return int((cg / f).read_text())
    return None


def reset_peak(cg: Path) -> None:
    for f in ("memory.max_usage_in_bytes", "memory.peak"):  # v1: write 0; v2 (6.12+): any write
        with contextlib.suppress(OSError):
            (cg / f).write_text("0")


def _instance_cgroup(name: str) -> Path | None:
    for p in (V1_MEM / f"lxc.payload.{name}", V1_MEM / "lxc.payload" / name):
        if (p / "memory.usage_in_bytes").exists():
            return p
    machine = V1_MEM / "machine"
    if machine.is_dir():
        for p in machine.iterdir():
            if name in p.name and (p / "memory.usage_in_bytes").exists():
                return p
    return None


def _tree_rss(pid: int) -> int:
    import psutil

    total = 0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total


def instances(exclude: frozenset[str] = frozenset(), *, ws: bool = False) -> dict[str, int]:
    """Course instances the daemons run (LXC containers, QEMU guests): bytes each, right now
    (``ws``: their working set). ``exclude``: instances that ran before the learner's run began
    (someone else's)."""
    out: dict[str, int] = {}
    for cp in orphans.course_processes():
        if f"{cp.kind}:{cp.instance}" in exclude:
            continue
        cg = _instance_cgroup(cp.instance)
        b = (working_set(cg) if ws else usage(cg)) if cg is not None else None
        out[f"{cp.kind}:{cp.instance}"] = b if b is not None else _tree_rss(cp.pid)
    return out


def runner_rss(cg: Path) -> int:
    """RSS of the notebook runner (tools/run_notebooks.py) in the subtree ``cg``, without the
    kernels it started: in a learner's own use their Jupyter server is in its place."""
    import psutil

    total = 0
    with contextlib.suppress(OSError, ValueError):
        for pid in (cg / "cgroup.procs").read_text().split():
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(int(pid))
                if any(c.endswith("tools/run_notebooks.py") for c in p.cmdline()[:3]):
                    total += p.memory_info().rss
    return total


class Sampler(threading.Thread):
    def __init__(self, cg: Path, interval: float, log: Path) -> None:
        super().__init__(daemon=True)
        self.cg, self.interval, self.log = cg, interval, log
        self.stop = threading.Event()
        self.best: dict = {"total": 0}
        self.best_ws: dict = {"total": 0}  # the same, counting working sets (no inactive cache)
        self.best_server: dict = {"total": 0}  # the same, without the runner (the server's place)
        self.best_server_anon: dict = {"total": 0}  # ... and without the subtree's page cache
        self.samples = 0
        self.per_notebook: dict[str, int] = {}  # notebook -> its peak of subtree + instances
        self.before = frozenset(instances())  # not the learner's: running before the run began

    def current_notebook(self) -> str:
        with contextlib.suppress(OSError):
            for line in reversed(self.log.read_text().splitlines()):
                if line.startswith("[run] ") and line.endswith(" ..."):
                    return line[6:-4]
        return ""

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            sub = usage(self.cg) or 0
            inst = instances(self.before)
            total = sub + sum(inst.values())
            cache = file_cache(self.cg)
            self.samples += 1
            nb = self.current_notebook()
            self.per_notebook[nb] = max(self.per_notebook.get(nb, 0), total)
            if total > self.best["total"]:
                self.best = {"total": total, "subtree": sub, "instances": inst,
                             "notebook": nb, "t": time.time(), "cache": cache}
            run = runner_rss(self.cg)
            if total - run > self.best_server["total"]:
                self.best_server = {"total": total - run, "runner": run, "notebook": nb}
            if total - run - cache > self.best_server_anon["total"]:
                self.best_server_anon = {"total": total - run - cache, "cache": cache, "notebook": nb}
            sub_ws = working_set(self.cg) or 0
            inst_ws = instances(self.before, ws=True)
            total_ws = sub_ws + sum(inst_ws.values())
            if total_ws > self.best_ws["total"]:
                self.best_ws = {"total": total_ws, "subtree": sub_ws, "instances": inst_ws,
                                "notebook": nb}


def as_user(user: str, workdir: str, argv: list[str], cg: Path, log: Path) -> subprocess.Popen:
    """``argv`` as ``user`` (a login-like environment, like tools/audience.sh) inside ``cg``."""
    home = pwd.getpwnam(user).pw_dir
    env = {"HOME": home, "USER": user, "LOGNAME": user, "PATH": "/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8", "XDG_RUNTIME_DIR": f"/tmp/vl-xdg-{user}"}
    procs = str(cg / "cgroup.procs")

    def enter() -> None:  # in the child, before exec: join the subtree (root still)
        with open(procs, "w") as f:
            f.write(str(os.getpid()))

    return subprocess.Popen(["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                             "bash", "-c", 'mkdir -p -m 0700 "$XDG_RUNTIME_DIR"; exec "$@"', "-", *argv],
                            cwd=workdir, preexec_fn=enter, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _server_proc(root_pid: int):  # noqa: ANN202 - psutil.Process | None
    """The Jupyter server process below ``root_pid`` (runuser -> env -> bash -> jupyter-server)."""
    import psutil

    with contextlib.suppress(psutil.Error):
        root = psutil.Process(root_pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                # `jupyter server` execs jupyter-server (same pid); runuser above it only waits
                if any(a.endswith("jupyter-server") for a in p.cmdline()):
                    return p
    return None


def summarize_server(series: list[tuple[float, int]], serving: list[int], settle: float) -> dict[str, int]:
    """The server's figures from its samples: ``series`` is (seconds since start, RSS of its tree)
    while it settles, ``serving`` its own RSS (children excluded) with a kernel session open.

    startup_peak  the largest tree sample: includes what runs only while it starts (jupyter-lsp
                  runs `node` for ~0.5 s, ~50-70 MiB, seen here) and never beside a notebook
    idle          the largest tree sample of the second half of the settle window
    serving       the largest own sample with a session open (its kernel is the learner's
                  subtree's, counted there)
    share         max(idle, serving): the server's part of the learner's peak
    """
    late = [b for t, b in series if t >= settle / 2]
    out = {"startup_peak": max((b for _, b in series), default=0), "idle": max(late, default=0),
           "serving": max(serving, default=0)}
    out["share"] = max(out["idle"], out["serving"])
    return out


def _api(port: int, token: str, method: str, path: str, body: dict | None = None) -> dict:
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback, our own server
        return json.loads(r.read() or b"{}")


def server_rss(user: str, workdir: str, cg: Path, log: Path, settle: float = 20.0,
               notebook: str = "notebooks/00-start-here.ipynb") -> dict[str, int]:
    """The learner's Jupyter server: started, left to settle (its tree sampled), then serving one
    kernel session on ``notebook`` (its own RSS sampled); stopped. See :func:`summarize_server`."""
    import secrets
    import socket

    with socket.socket() as s:  # a free loopback port (the server binds it a moment later)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the token goes in a config file only the learner can read, never on a command line
    token = secrets.token_hex(16)
    cfg = Path(workdir) / "build" / "peak-probe-server.json"
    fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"IdentityProvider": {"token": token}}, f)
        pw = pwd.getpwnam(user)
        os.chown(cfg, pw.pw_uid, pw.pw_gid)
        p = as_user(user, workdir, [".venv/bin/jupyter", "server", "--no-browser", f"--port={port}",
                                    f"--config={cfg}", "--ServerApp.ip=127.0.0.1"], cg, log)
    except BaseException:
        cfg.unlink(missing_ok=True)  # no server started: the token file goes at once
        raise
    try:
        series: list[tuple[float, int]] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < settle and p.poll() is None:
            series.append((time.monotonic() - t0, _tree_rss(p.pid)))
            time.sleep(0.5)
        serving: list[int] = []
        with contextlib.suppress(OSError, ValueError):
            _api(port, token, "GET", f"/api/contents/{notebook}")
            sess = _api(port, token, "POST", "/api/sessions", {"path": notebook, "type": "notebook",
                                                         "kernel": {"name": "python3"}})
            srv = _server_proc(p.pid)
            t1 = time.monotonic()
            while srv is not None and time.monotonic() - t1 < 8 and p.poll() is None:
                with contextlib.suppress(Exception):
                    serving.append(srv.memory_info().rss)
                time.sleep(0.5)
            with contextlib.suppress(OSError, ValueError):
                _api(port, token, "DELETE", f"/api/sessions/{sess['id']}")
        return summarize_server(series, serving, settle)
    finally:
        import psutil

        tree: list = []
        with contextlib.suppress(psutil.Error):
            tree = psutil.Process(p.pid).children(recursive=True)  # a kernel has its own session
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)
        _, alive = psutil.wait_procs(tree, timeout=10)
        for q in alive:
            with contextlib.suppress(psutil.Error):
                q.kill()
        cfg.unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--user", default="vllearner")
    ap.add_argument("--dir", required=True, help="the learner's clone of the course, with .venv")
    ap.add_argument("--interval", type=float, default=0.25, help="sampling period, seconds")
    ap.add_argument("--server", action="store_true", help="also measure an idle Jupyter server")
    ap.add_argument("--out", help="write the result here (JSON)")
    ap.add_argument("--audience", default="learner-peak",
                    help="run_notebooks.py's --audience (its tally goes to build/audiences/NAME.json)")
    ap.add_argument("--expect-live", default="", help="run_notebooks.py's --expect-live")
    ap.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb labs/*.ipynb")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("learner_peak.py: run as root (it reads and resets the learner's cgroup)")
    workdir = str(Path(args.dir).resolve())
    nbs = args.notebooks or sorted(str(p.relative_to(workdir)) for d in ("notebooks", "labs")
                                   for p in Path(workdir, d).glob("*.ipynb"))
    cg = subtree(args.user)
    log = Path(workdir) / "build" / "learner-peak.log"
    log.parent.mkdir(exist_ok=True)
    pw = pwd.getpwnam(args.user)
    os.chown(log.parent, pw.pw_uid, pw.pw_gid)  # run_notebooks.py (the learner) writes there too
    result: dict = {"user": args.user, "cgroup": str(cg), "notebooks": nbs,
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.server:
        srv = server_rss(args.user, workdir, cg, log.with_suffix(".server.log"))
        result["server_mib"] = round(srv["share"] / MIB, 1)
        result["server"] = {k + "_mib": round(v / MIB, 1) for k, v in srv.items()}
    result["stale_cache_dropped_mib"] = round(drop_cache(cg) / MIB, 1)
    reset_peak(cg)
    sampler = Sampler(cg, args.interval, log)
    sampler.start()
    t0 = time.monotonic()
    expect = ["--expect-live", args.expect_live] if args.expect_live else []
    p = as_user(args.user, workdir, [".venv/bin/python", "tools/run_notebooks.py", "--audience", args.audience,
                                     *expect, "--out", f"build/audiences/{args.audience}.json", *nbs], cg, log)
    rc = p.wait()
    sampler.stop.set()
    sampler.join()
    b = sampler.best
    result.update({
        "instances_running_before": sorted(sampler.before),
        "run_failures": [ln for ln in log.read_text().splitlines() if ln.startswith("[run] FAILED")],
        "run_rc": rc, "run_seconds": round(time.monotonic() - t0, 1), "samples": sampler.samples,
        "subtree_peak_mib": round((peak(cg) or 0) / MIB, 1),
        "peak_total_mib": round(b["total"] / MIB, 1),
        "peak_per_notebook_mib": {k: round(v / MIB, 1) for k, v in sampler.per_notebook.items() if k},
        "at_peak": {"notebook": b.get("notebook", ""), "subtree_mib": round(b.get("subtree", 0) / MIB, 1),
                    "subtree_page_cache_mib": round(b.get("cache", 0) / MIB, 1),
                    "instances_mib": {k: round(v / MIB, 1) for k, v in b.get("instances", {}).items()}},
    })
    w = sampler.best_ws
    result["working_set"] = {
        "peak_total_mib": round(w["total"] / MIB, 1), "notebook": w.get("notebook", ""),
        "subtree_mib": round(w.get("subtree", 0) / MIB, 1),
        "instances_mib": {k: round(v / MIB, 1) for k, v in w.get("instances", {}).items()}}
    r = sampler.best_server
    result["runner_mib"] = round(r.get("runner", 0) / MIB, 1)
    result["at_peak_server"] = {"notebook": r.get("notebook", "")}
    if r.get("runner") and "server_mib" in result:
        result["learner_peak_server_mib"] = round(r["total"] / MIB + result["server_mib"], 1)
        a = sampler.best_server_anon
        result["learner_peak_server_no_cache_mib"] = round(a["total"] / MIB + result["server_mib"], 1)
        result["at_peak_server_no_cache"] = {"notebook": a.get("notebook", ""),
                                             "subtree_page_cache_mib": round(a.get("cache", 0) / MIB, 1)}
    else:  # no runner seen in the subtree, or no server measured: no figure rather than a wrong one
        result["learner_peak_server_mib"] = None
        result["learner_peak_server_why"] = ("the notebook runner was not found in the learner's "
                                             "subtree" if not r.get("runner") else "run with --server")
    # the subtree's own high-water mark may fall between samples: take the larger of the two
    result["learner_peak_mib"] = round(max(result["peak_total_mib"], result["subtree_peak_mib"])
                                       + result.get("server_mib", 0.0), 1)
    result["learner_working_set_mib"] = round(w["total"] / MIB + result.get("server_mib", 0.0), 1)
    # the learner's run, as run_notebooks.py printed it (the samples are in the log only)
    print("\n".join(ln for ln in log.read_text().splitlines() if not ln.startswith("[sample]")))
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
