"""The non-root learner's path, for real: provisioning's cgroup delegation (40-learner.sh) run for
a throw-away learner, then the course as that user — cgroups in their subtree, limits that bite,
namespaces through an unprivileged user namespace, cleanup that sees only their own cgroups."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from virtlab import probe

REPO = Path(__file__).resolve().parents[2]
LEARNER = "nobody"  # uid 65534 exists everywhere; nothing of it is changed but its cgroup subtree

CHILD = r"""
import json, os, sys
os.setgroups([]); os.setgid(65534); os.setuid(65534)
from virtlab import cgroups, modes, probe
out = {"uid": os.getuid()}
c = probe.cgroups()
out["delegated"], out["bases"] = c.delegated, c.bases
b = modes.resolve("cgroups")
out["cg_mode"], out["cg_privileged"] = b.mode, b.privileged
n = modes.resolve("namespaces")
out["ns_mode"], out["ns_detail"] = n.mode, n.detail
with cgroups.CourseCgroup("learner-t", memory="32MiB", pids=16) as cg:
    out["path"] = str(cg.paths["memory"])
    r = cg.run_python("x = bytearray(96 << 20)", timeout=60)
    out["oom_killed"], out["rc"] = r.oom_killed, r.returncode
    out["mine"] = [str(d) for d in cgroups.course_cgroup_dirs()]
out["left"] = [str(d) for d in cgroups.course_cgroup_dirs()]
print(json.dumps(out))
"""


@pytest.fixture
def delegated_learner(need):
    need("cgroups")
    if not probe.is_root():
        pytest.skip("provisioning a learner's subtree needs root")
    env = {**os.environ, "LEARNER": LEARNER}
    script = (f". {REPO}/labs/lab-vm/provision.d/common.sh; "
              f". {REPO}/labs/lab-vm/provision.d/40-learner.sh")
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    made = [Path(m) / probe.DELEGATED_DIR / LEARNER for m in probe.cgroups(refresh=True).bases.values()]
    yield [d for d in made if d.is_dir()]
    for d in made:
        for sub in sorted(d.glob("vl-*"), reverse=True):
            sub.rmdir()
        if d.is_dir():
            d.rmdir()
    probe.cgroups(refresh=True)


def test_learner_runs_cgroups_live_in_their_delegated_subtree(delegated_learner):
    assert delegated_learner, "40-learner.sh delegated nothing"
    uid = pwd.getpwnam(LEARNER).pw_uid
    assert all(d.stat().st_uid == uid for d in delegated_learner)
    # the system's python3: a learner cannot read root's own interpreter (it may live in /root)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONPATH": str(REPO / "src"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run(["/usr/bin/python3", "-c", CHILD], env=env, capture_output=True, text=True,
                       timeout=120, cwd="/")
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["uid"] == 65534 and out["delegated"]
    assert (out["cg_mode"], out["cg_privileged"]) == ("live", False)
    assert f"/{probe.DELEGATED_DIR}/{LEARNER}/" in out["path"]
    assert out["oom_killed"], out  # the learner's limit bites
    assert out["mine"] and all(f"/{LEARNER}/" in p for p in out["mine"])  # sees only its own
    assert out["left"] == []
    if probe.namespaces().unprivileged_userns:
        assert out["ns_mode"] == "live" and "unprivileged user namespace" in out["ns_detail"]


def test_provisioning_limits_the_learner_as_a_whole(delegated_learner):
    mem = [d for d in delegated_learner if (d / "memory.limit_in_bytes").exists() or (d / "memory.max").exists()]
    assert mem
    f = mem[0] / ("memory.limit_in_bytes" if (mem[0] / "memory.limit_in_bytes").exists() else "memory.max")
    assert int(f.read_text()) == 2 * 1024**3
    pids = [d for d in delegated_learner if (d / "pids.max").exists()]
    assert pids and pids[0].joinpath("pids.max").read_text().strip() == "1024"


def test_root_cleanup_reaches_into_learner_subtrees(delegated_learner):
    from virtlab import cgroups

    sub = delegated_learner[0] / "vl-left-by-learner"
    sub.mkdir()
    try:
        assert sub in cgroups.course_cgroup_dirs()
        assert any(str(sub) in r for r in cgroups.cleanup("vl-left-by-learner"))
        assert not sub.exists()
    finally:
        if sub.exists():
            sub.rmdir()
