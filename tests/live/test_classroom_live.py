"""A classroom server, for real: the JupyterHub that `provision.sh --classroom` started on
127.0.0.1, two learner accounts logging in through it, starting their servers, running live cells
in their kernels — and what one learner can and cannot do to the other, and to the host.

Needs a host provisioned with ``--classroom --learners A,B`` (the hub and gate running).
Root runs this (it sets the learners' passwords to fresh random ones and cleans up after).
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("requests")
from virtlab.hubclient import Learner  # noqa: E402

STATE = Path(os.environ.get("VIRTLAB_CLASSROOM_STATE", "/var/lib/virtlab-classroom"))
RUN = secrets.token_hex(2)


def _learners() -> list[str]:
    try:
        return [u for u in (STATE / "learners").read_text().strip().split(",") if u][:2]
    except OSError:
        return []


def _hub_answers() -> bool:
    import urllib.request

    from virtlab.hubclient import HUB

    try:
        urllib.request.urlopen(f"{HUB}/hub/api/", timeout=3).close()  # noqa: S310 - loopback
    except OSError:
        return False
    return True


pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(900),  # servers and per-user libvirtd start slowly on a loaded 2-core host
    pytest.mark.skipif(os.geteuid() != 0, reason="root sets the learners' passwords"),
    pytest.mark.skipif(len(_learners()) < 2,
                       reason="no classroom here: `provision.sh --classroom --learners a,b`"),
    pytest.mark.skipif(len(_learners()) >= 2 and not _hub_answers(),
                       reason="the classroom's hub does not answer on 127.0.0.1: "
                              "`sudo labs/classroom/classroom.sh start`"),
]


@pytest.fixture(scope="module")
def learners():
    names = _learners()
    ls = []
    for n in names:
        pw = secrets.token_urlsafe(16)
        subprocess.run(["chpasswd"], input=f"{n}:{pw}\n", text=True, check=True)
        ls.append(Learner(n, pw))  # the hub on 127.0.0.1 (VIRTLAB_CLASSROOM_PORT)
    for lr in ls:
        lr.login()
    for lr in ls:
        lr.start_server()
        lr.start_kernel()
    yield ls
    # whatever a test left: every course resource of these learners (root, all users)
    from virtlab import classroom, lxd, owners

    with owners.all_users():
        for lr in ls:
            lxd._cleanup_daemon(lxd._in_project(classroom.LXD_SOCKET, classroom.project_name(lr.name)),
                                f"vl-cls{RUN}")
    for lr in ls:
        lr.stop_server()


WHOAMI = """
import json, os, subprocess, sys
import virtlab as vl
from virtlab import lxd, modes
print(json.dumps({"uid": os.getuid(), "groups": sorted(os.getgroups()), "exe": sys.executable,
                  "lxd": modes.resolve("lxd").mode, "namespaces": modes.resolve("namespaces").mode,
                  "cgroups": modes.resolve("cgroups").mode,
                  "cgroup": open("/proc/self/cgroup").read()}))
"""


def test_two_learners_log_in_and_run_live_cells(learners):
    a, b = learners
    for lr in (a, b):
        d = lr.run_json(WHOAMI)
        assert d["uid"] == pwd.getpwnam(lr.name).pw_uid
        for g in ("lxd", "libvirt", "incus-admin", "kvm"):  # no root-equivalent group
            gid = _gid(g)
            assert gid is None or gid not in d["groups"], f"{lr.name} is in group {g}"
        assert f"virtlab-learners/{lr.name}" in d["cgroup"]  # the server runs in their subtree
        assert d["lxd"] == "live" and d["namespaces"] == "live" and d["cgroups"] == "live", d


def test_learners_servers_environment_is_slim(learners):
    """Provisioning ran tools/slim_env.sh on the classroom's venv: the learner's kernel (the same
    interpreter as their Jupyter server) finds no rfc3987-syntax, whose import would cost every
    learner's server 1.3 s of CPU and ~15 MiB; and nbformat still validates a notebook there."""
    d = learners[0].run_json(
        "import importlib.util, json, sys, nbformat\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
        "nbformat.validate(nb)\n"
        "print(json.dumps({'exe': sys.executable,"
        " 'rfc3987_syntax': importlib.util.find_spec('rfc3987_syntax') is not None}))")
    assert d["exe"].startswith(os.environ.get("VIRTLAB_CLASSROOM_DIR", "/opt/virtlab-classroom")), d
    assert d["rfc3987_syntax"] is False, d


def test_each_learner_runs_a_live_notebook_through_the_hub(learners):
    """Episode 01, every code cell in order, in each learner's kernel through the hub: it runs
    to the end, and its namespaces are the real kernel's (live), not a recording."""
    nb = Path(__file__).resolve().parents[2] / "notebooks" / "01-namespaces.ipynb"
    for lr in learners:
        outs = lr.run_notebook(nb)
        assert "[virtlab] namespaces: live" in outs[0], outs[0]
        assert sum("namespaces: live" in o for o in outs) >= 5, outs


def _gid(group: str) -> int | None:
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


LAUNCH = """
import json
from virtlab import lxd
inst = lxd.launch("cls{run}-{who}")
code = inst.exec(["sh", "-c", "echo hello from $(hostname)"])
print(json.dumps({{"name": inst.name, "out": code.out.strip(),
                  "mine": [i["name"] for i in lxd.list_instances()]}}))
"""

PEEK = """
import json
from virtlab import lxd
c = lxd.connect()
res = {{}}
# pylxd puts its client's own project on every request it makes: ask the raw session instead
s, base = c.api.session, c.api._api_endpoint
r = s.get(base + "/instances", params={{"project": "{other_project}"}})
res["other_project_status"] = r.status_code
res["other_project_body"] = r.text[:200]
try:
    lxd.get("cls{run}-{other}")
    res["get_other"] = "found"
except Exception as e:
    res["get_other"] = type(e).__name__ + ": " + str(e)[:200]
r = s.delete(base + "/instances/vl-cls{run}-{other}", params={{"project": "{other_project}"}})
res["delete_other_status"] = r.status_code
r = s.get(base + "/instances", params={{"project": "default"}})
res["default_project_status"] = r.status_code
try:
    r = c.api.instances.post(json={{"name": "vl-cls{run}-priv", "source": {{"type": "image", "alias": "vl-busybox"}},
                                   "config": {{"security.privileged": "true", "limits.memory": "64MiB",
                                              "limits.cpu": "1", "limits.processes": "50"}}}})
except Exception as e:  # pylxd raises for a refusal (LXDAPIException)
    r = getattr(e, "response", None)
res["privileged_status"] = getattr(r, "status_code", 0)
res["privileged_body"] = getattr(r, "text", "")[:300]
import os, socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("/var/lib/lxd/unix.socket"); res["lxd_socket"] = "connected"
except OSError as e:
    res["lxd_socket"] = e.strerror
try:
    os.listdir("/var/lib/virtlab-classroom"); res["certs"] = "readable"
except OSError as e:
    res["certs"] = e.strerror
print(json.dumps(res))
"""


def test_learners_containers_are_their_own(learners):
    from virtlab import classroom

    a, b = learners
    ra = a.run_json(LAUNCH.format(run=RUN, who="a"))
    rb = b.run_json(LAUNCH.format(run=RUN, who="b"))
    assert ra["out"] == f"hello from vl-cls{RUN}-a" and rb["out"] == f"hello from vl-cls{RUN}-b"
    assert f"vl-cls{RUN}-b" not in ra["mine"] and f"vl-cls{RUN}-a" not in rb["mine"]
    peek = a.run_json(PEEK.format(run=RUN, other="b", other_project=classroom.project_name(b.name)))
    assert peek["other_project_status"] == 403, peek
    assert peek["get_other"].startswith(("LookupError", "LxdError", "NotFound")), peek
    assert peek["delete_other_status"] == 403, peek
    assert peek["default_project_status"] == 403, peek
    assert peek["privileged_status"] >= 400 and "privileged" in peek["privileged_body"].lower(), peek
    assert peek["lxd_socket"] == "Permission denied" and peek["certs"] == "Permission denied", peek
    # B's container is still there and running (root's view)
    out = subprocess.run(["lxc", "list", "--project", classroom.project_name(b.name), "--format",
                          "csv", "-c", "ns"], capture_output=True, text=True, check=True).stdout
    assert f"vl-cls{RUN}-b,RUNNING" in out


CGROUP = """
import json, os
from virtlab import cgroups
cg = cgroups.CourseCgroup("cls{run}-{who}", memory="64MiB", pids=32)
cg.__enter__()
print(json.dumps({{"paths": {{k: str(v) for k, v in cg.paths.items()}}}}))
"""

POKE = """
import json, os
res = {{}}
for p in {paths!r}:
    for f in ("cgroup.procs", "memory.limit_in_bytes", "pids.max", "memory.max"):
        fp = os.path.join(p, f)
        if os.path.exists(fp):
            try:
                open(fp, "w").write("1")
                res[fp] = "written"
            except OSError as e:
                res[fp] = e.strerror
    try:
        os.rmdir(p); res[p] = "removed"
    except OSError as e:
        res[p] = e.strerror
try:
    open("{home}/.bashrc").read(); res["home"] = "read"
except OSError as e:
    res["home"] = e.strerror
print(json.dumps(res))
"""


def test_learners_cgroups_and_files_are_their_own(learners):
    a, b = learners
    pa = a.run_json(CGROUP.format(run=RUN, who="a"))["paths"]
    assert pa and all(f"virtlab-learners/{a.name}/" in p for p in pa.values())
    poke = b.run_json(POKE.format(paths=list(pa.values()), home=pwd.getpwnam(a.name).pw_dir))
    assert poke and all(v in ("Permission denied", "Operation not permitted") for v in poke.values()), poke
    assert all(Path(p).is_dir() for p in pa.values())
    # A's own cleanup removes it
    a.run("from virtlab import cgroups; print(cgroups.cleanup('vl-cls'))")
    assert not any(Path(p).exists() for p in pa.values())


VM = """
import json, os
from virtlab import virt
import libvirt
uri = "qemu:///session"
virt.define_domain(virt.DomainSpec(name="vl-cls{run}-vm-{who}", memory=64), uri=uri)
conn = libvirt.open(uri)
print(json.dumps({{"mine": sorted(d.name() for d in conn.listAllDomains()),
                  "sock": str(virt.session_socket())}}))
"""

VM_PEEK = """
import json, libvirt
res = {{}}
try:
    libvirt.open("qemu+unix:///session?socket={sock}")
    res["other_session"] = "connected"
except libvirt.libvirtError as e:
    res["other_session"] = str(e)[:200]
try:
    libvirt.open("qemu:///system").listAllDomains()
    res["system"] = "connected"
except libvirt.libvirtError as e:
    res["system"] = str(e)[:200]
print(json.dumps(res))
"""


def test_learners_vms_are_their_own(learners):
    a, b = learners
    va = a.run_json(VM.format(run=RUN, who="a"))
    vb = b.run_json(VM.format(run=RUN, who="b"))
    assert f"vl-cls{RUN}-vm-a" in va["mine"] and f"vl-cls{RUN}-vm-b" not in va["mine"]
    assert f"vl-cls{RUN}-vm-b" in vb["mine"] and f"vl-cls{RUN}-vm-a" not in vb["mine"]
    peek = b.run_json(VM_PEEK.format(sock=va["sock"]))
    assert peek["other_session"] != "connected" and peek["system"] != "connected", peek


CLEANUP = """
import json, subprocess, sys, os
r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "virtlab"), "cleanup"],
                   capture_output=True, text=True, timeout=180)
r2 = subprocess.run([os.path.join(os.path.dirname(sys.executable), "virtlab"), "cleanup",
                     "--all-users"], capture_output=True, text=True, timeout=60)
print(json.dumps({"rc": r.returncode, "out": r.stdout, "err": r.stderr[-500:],
                  "all_rc": r2.returncode, "all_err": r2.stderr}))
"""


def test_cleanup_by_a_leaves_b_alone(learners):
    from virtlab import classroom

    a, b = learners
    a.run_json(LAUNCH.format(run=RUN, who="a2"))
    b.run_json(LAUNCH.format(run=RUN, who="b2"))
    b.run(VM.format(run=RUN, who="b2"))
    r = a.run_json(CLEANUP)
    assert r["rc"] == 0, r
    assert f"vl-cls{RUN}-a2" in r["out"] and f"vl-cls{RUN}-b" not in r["out"], r
    assert r["all_rc"] == 2 and "needs root" in r["all_err"], r
    out = subprocess.run(["lxc", "list", "--project", classroom.project_name(b.name), "--format",
                          "csv", "-c", "n"], capture_output=True, text=True, check=True).stdout
    assert f"vl-cls{RUN}-b2" in out
    out_a = subprocess.run(["lxc", "list", "--project", classroom.project_name(a.name), "--format",
                            "csv", "-c", "n"], capture_output=True, text=True, check=True).stdout
    assert f"vl-cls{RUN}" not in out_a
    vb = b.run_json("import json, libvirt; print(json.dumps({'d': sorted(d.name() for d in "
                    "libvirt.open('qemu:///session').listAllDomains())}))")
    assert f"vl-cls{RUN}-vm-b2" in vb["d"]
    b.run("from virtlab import virt, lxd; print(virt.cleanup(), lxd.cleanup())")



VM_RUNNING = """
import libvirt
from virtlab import virt
a = virt.artefacts()
name = virt.define_domain(virt.DomainSpec(name="vl-cls{run}-vm-{who}", memory=a.min_memory_mib,
                                          kernel=str(a.kernel), initrd=str(a.initrd)),
                          uri="qemu:///session")
libvirt.open("qemu:///session").lookupByName(name).create()
print(name)
"""


@pytest.mark.hostwide
def test_roots_own_cleanup_leaves_the_learners_running(learners):
    """Root's plain `virtlab cleanup` (its own resources, then orphaned course processes) must
    not take a learner's container (LXD runs it in the learner's project) or session VM (QEMU
    run by the learner's own libvirtd) for an orphan: neither is in the lists the host-wide
    daemons give for the default project and qemu:///system."""
    import sys

    from virtlab import classroom

    _, b = learners
    b.run_json(LAUNCH.format(run=RUN, who="b3"))
    b.run(VM_RUNNING.format(run=RUN, who="b3"))
    virtlab = os.path.join(os.path.dirname(sys.executable), "virtlab")
    r = subprocess.run([virtlab, "cleanup"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-500:]
    assert f"vl-cls{RUN}-b3" not in r.stdout and f"vl-cls{RUN}-vm-b3" not in r.stdout, r.stdout
    out = subprocess.run(["lxc", "list", "--project", classroom.project_name(b.name), "--format",
                          "csv", "-c", "ns"], capture_output=True, text=True, check=True).stdout
    assert f"vl-cls{RUN}-b3,RUNNING" in out, out
    vb = b.run_json("import json, libvirt; print(json.dumps({'d': sorted(d.name() for d in "
                    "libvirt.open('qemu:///session').listAllDomains(1))}))")  # 1: active ones
    assert f"vl-cls{RUN}-vm-b3" in vb["d"], vb
    b.run("from virtlab import virt, lxd; print(virt.cleanup(), lxd.cleanup())")


OVER = """
import json
from virtlab import lxd
made, err = [], None
try:
    for i in range(6):
        made.append(lxd.launch(f"cls{run}-lim{{i}}").name)
except Exception as e:
    err = type(e).__name__ + ": " + str(e)
print(json.dumps({{"made": made, "err": err}}))
"""


def test_exceeding_a_limit_is_a_clear_error_and_the_host_is_fine(learners):
    a, b = learners
    try:
        r = a.run_json(OVER.format(run=RUN))
        assert r["err"] and "LxdError" in r["err"], r
        assert "maximum" in r["err"].lower() or "limit" in r["err"].lower(), r
        assert 1 <= len(r["made"]) <= 3, r  # limits.instances=3 (provisioning's default)
        # the host: nothing of the learner's spilled into the default project (root's live
        # notebooks may be making and removing their own instances there meanwhile: only this
        # run's names are judged), the daemon answers, B still works
        host = subprocess.run(["lxc", "list", "--format", "csv", "-c", "n"], capture_output=True,
                              text=True, check=True, timeout=60).stdout.split()
        assert not [n for n in host if n.startswith(f"vl-cls{RUN}")], host
        assert b.run_json(LAUNCH.format(run=RUN, who="b3"))["out"] == f"hello from vl-cls{RUN}-b3"
    finally:  # a failure above must not leave A's project full for the next test
        a.run("from virtlab import lxd; print(lxd.cleanup())")
        b.run("from virtlab import lxd; print(lxd.cleanup())")


MEMHOG = """
import subprocess, sys
r = subprocess.run([sys.executable, "-c", "x = bytearray(3 << 30)"], capture_output=True, text=True)
print(r.returncode)
"""


def test_learner_memory_allowance_bites(learners):
    a, _ = learners
    rc = int(a.run(MEMHOG).strip().splitlines()[-1])
    assert rc != 0  # 3 GiB > the learner's 2 GiB allowance: killed or refused, the server lives
    assert a.run("print(6 * 7)").strip() == "42"


# LXD's project limits (provisioning: cpu 3 = the sum of the containers' limits.cpu, processes
# 1000, memory 768MiB, disk 2GiB): one instance asking for more than the whole allowance of each
OVER_EACH = """
import json
from virtlab import lxd
c = lxd.connect()
s, base = c.api.session, c.api._api_endpoint
project = {{"project": "{project}"}}
pool = s.get(base + "/profiles/default", params=project).json()["metadata"]["devices"]["root"]["pool"]
before = sorted(i["name"] for i in lxd.list_instances())
res = {{}}
asks = {{"cpu": {{"limits.cpu": "{cpu}"}}, "processes": {{"limits.processes": "{processes}"}},
         "memory": {{"limits.memory": "{memory}"}}, "disk": {{}}}}
for what, cfg in asks.items():
    small = {{"limits.cpu": "1", "limits.processes": "50", "limits.memory": "64MiB"}}
    size = "{disk}" if what == "disk" else "256MiB"
    r = s.post(base + "/instances", params=project,
               json={{"name": "vl-cls{run}-over-" + what, "source": {{"type": "image", "alias": "vl-busybox"}},
                     "config": {{**small, **cfg}},
                     "devices": {{"root": {{"type": "disk", "path": "/", "pool": pool, "size": size}}}}}})
    res[what] = [r.status_code, r.text[:300]]
res["left"] = sorted(i["name"] for i in lxd.list_instances())
res["before"] = before
print(json.dumps(res))
"""


def test_each_lxd_project_limit_refuses_more_than_the_allowance(learners):
    """CPU, processes, memory and disk: an instance asking for more than the learner's whole
    allowance of one of them is refused by LXD with a message naming the limit, and nothing is
    left behind (the fourth instance, over ``limits.instances``, is the test above)."""
    from virtlab import classroom

    a, _ = learners
    project = classroom.project_name(a.name)
    cfg = subprocess.run(["lxc", "project", "show", project], capture_output=True, text=True,
                         check=True).stdout
    for key in ("limits.cpu:", "limits.processes:", "limits.memory:", "limits.disk:"):
        assert key in cfg, (key, cfg)
    r = a.run_json(OVER_EACH.format(run=RUN, project=project, cpu=64, processes=10**6,
                                    memory="64GiB", disk="1TiB"))
    for what in ("cpu", "processes", "memory", "disk"):
        status, body = r[what]
        assert status >= 400, (what, r)
        # LXD 5.0: 'Reached maximum aggregate value "3" for "limits.cpu" in project ...'
        assert f"limits.{what}" in body and "maximum" in body.lower(), (what, body)
    assert r["left"] == r["before"], r


# the learner's delegated cgroup subtree (provisioning: pids 1024; a CPU quota of CL_CPU cores)
FORK_UNTIL_REFUSED = """
import json, os, subprocess, sys
code = r'''
import json, os, signal, time
kids, err = [], None
try:
    for _ in range(20000):
        pid = os.fork()
        if pid == 0:
            time.sleep(120)  # bounded: gone on their own even if this loop's owner is killed
            os._exit(0)
        kids.append(pid)
except OSError as e:
    err = type(e).__name__ + ": " + e.strerror
for k in kids:
    os.kill(k, signal.SIGKILL)
for k in kids:
    os.waitpid(k, 0)
print(json.dumps({"made": len(kids), "err": err}))
'''
r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
out = json.loads(r.stdout)
for line in open("/proc/self/cgroup"):
    _, ctrl, path = line.strip().split(":", 2)
    if "/virtlab-learners/" in path and ("pids" in ctrl.split(",") or ctrl == ""):
        head, tail = path.split("/virtlab-learners/", 1)
        top = head + "/virtlab-learners/" + tail.split("/")[0]
        for mnt in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
            if os.path.exists(mnt + top + "/pids.max"):
                out["max"] = open(mnt + top + "/pids.max").read().strip()
                out["current"] = open(mnt + top + "/pids.current").read().strip()
print(json.dumps(out))
"""


def test_learner_process_allowance_bites(learners):
    """A fork loop in the learner's kernel stops at their subtree's pids.max with EAGAIN (the
    host's own limit is far higher), every child is reaped, and both learners' servers answer."""
    a, b = learners
    r = a.run_json(FORK_UNTIL_REFUSED)
    assert r["err"] and r["err"].startswith("BlockingIOError"), r
    assert r.get("max", "max") != "max" and 0 < r["made"] < int(r["max"]), r
    assert int(r["current"]) < int(r["max"]) - 100, r  # the children are gone again
    assert a.run("print(6 * 7)").strip() == "42"
    assert b.run("print(6 * 7)").strip() == "42"


SPIN = """
import json, os, resource, subprocess, sys, time
n = 2 * (os.cpu_count() or 1)
loop = "import time\\nt = time.monotonic() + 3\\nwhile time.monotonic() < t: pass"
def used():  # CPU time of every child reaped so far (cumulative: this kernel ran others before)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
c0, t0 = used(), time.monotonic()
ps = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(n)]
for p in ps:
    p.wait()
wall = time.monotonic() - t0
print(json.dumps({"cores_used": (used() - c0) / wall, "n": n}))
"""


@pytest.mark.hostwide  # root's loops must get > 1.3 cores: nothing may run beside it (beside the
# niced no-daemon tests they got 1.18 in a rehearsal)
def test_learner_cpu_quota_bites(learners):
    """Busy loops on twice as many processes as cores: the learner's processes together get
    about their quota (provisioning: CL_CPU, 1 core by default) — CPU time / wall time in one
    run, beside the same loops run by root outside any quota, which get more."""
    a, _ = learners
    quota = _learner_cpu_quota(a.name)
    cores = os.cpu_count() or 1
    if quota is None or quota >= cores:
        pytest.skip(f"the learner's CPU quota ({quota}) is not below this host's {cores} cores")
    mine = a.run_json(SPIN)
    root = json.loads(subprocess.run([sys.executable, "-c", SPIN], capture_output=True, text=True,
                                     check=True, timeout=120).stdout)
    assert root["cores_used"] > quota * 1.3, (root, quota)  # the host gives more than the quota
    assert mine["cores_used"] < quota * 1.15, (mine, quota)  # the learner does not get it


def _learner_cpu_quota(user: str) -> float | None:
    """The learner's CPU quota in cores (cgroup v1 cfs quota or v2 cpu.max); None: none."""
    for d in (Path("/sys/fs/cgroup/cpu,cpuacct"), Path("/sys/fs/cgroup/cpu")):
        f = d / "virtlab-learners" / user / "cpu.cfs_quota_us"
        if f.exists():
            q = int(f.read_text())
            return None if q < 0 else q / int((f.parent / "cpu.cfs_period_us").read_text())
    f = Path("/sys/fs/cgroup/virtlab-learners") / user / "cpu.max"
    if f.exists():
        q, period = f.read_text().split()
        return None if q == "max" else int(q) / int(period)
    return None


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=teacher", "-c", "user.email=teacher@example.invalid",
                    *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def upstream(tmp_path_factory):
    """The teacher's course repository, served on 127.0.0.1 by ``git daemon`` (git's smart
    protocol, which can serve nbgitpuller's shallow ``clone --depth 1``; git's "dumb" HTTP
    cannot): what a GitHub URL in an nbgitpuller link is on a connected host."""
    root = tmp_path_factory.mktemp("upstream")
    root.chmod(0o755)
    work = root / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "lesson.md").write_text("lesson v1\n")
    (work / "answers.md").write_text("# your answers\n")
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "v1", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(root / "course.git"), cwd=root)
    port = _free_port()
    daemon = subprocess.Popen(["git", "daemon", "--export-all", "--reuseaddr", "--informative-errors",
                               "--listen=127.0.0.1", f"--port={port}", f"--base-path={root}", str(root)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"git://127.0.0.1:{port}/course.git"
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["git", "ls-remote", url], capture_output=True, timeout=10).returncode:
            assert daemon.poll() is None, f"git daemon ended: {daemon.stderr.read()[-500:]}"
            assert time.monotonic() < deadline, "git daemon did not answer in 30 s"
            time.sleep(0.2)
        yield work, root / "course.git", url
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=10)


def test_an_nbgitpuller_link_updates_the_learners_copy_and_keeps_their_work(learners, upstream):
    a, _ = learners
    work, bare, url = upstream
    target = f"course-{RUN}"
    events = a.git_pull(url, targetpath=target)
    assert events and events[-1]["phase"] == "finished", events
    # the learner answers in their copy (through their own kernel)
    a.run(f"import os; open(os.path.expanduser('~/{target}/answers.md'), 'a').write('my answer\\n')")
    # the teacher updates the lesson upstream
    (work / "lesson.md").write_text("lesson v2\n")
    _git("commit", "-q", "-am", "v2", cwd=work)
    _git("push", "-q", str(bare), "main", cwd=work)
    events = a.git_pull(url, targetpath=target)
    assert events and events[-1]["phase"] == "finished", events
    got = a.run_json(f"""
import json, os, shutil
d = os.path.expanduser('~/{target}')
r = {{"lesson": open(os.path.join(d, 'lesson.md')).read(), "answers": open(os.path.join(d, 'answers.md')).read(),
      "owner": os.stat(d).st_uid == os.getuid()}}
shutil.rmtree(d)
print(json.dumps(r))""")
    assert got["lesson"] == "lesson v2\n", got  # the update arrived
    assert got["answers"] == "# your answers\nmy answer\n", got  # and the learner's work stayed
    assert got["owner"], got
