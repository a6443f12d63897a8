"""A scripted learner does each graded lab on this machine, live, and the grader scores it.

* the reference solution (the instructors' notebook) -> full marks;
* the untouched handout (the release) -> zero;
* the reference with one task done wrong -> loses exactly that task's points.

Each run is a real notebook execution (nbclient) with its own learner name, so names never
clash with another run; everything the lab made is removed afterwards.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from virtlab import grading, labs

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import build_labs  # noqa: E402
import release  # noqa: E402

SECTIONS = {"lab1": ("cgroups", "namespaces"), "lab2": ("lxd",), "lab3": ("libvirt", "kvm"),
            "lab4": ("cgroups",)}
#: one task done wrong: (task, text in its solution, replacement)
WRONG = {
    "lab1": ("t1", 'memory=f"{lab.p.memory_mib}MiB"', 'memory=f"{lab.p.memory_mib + 16}MiB"'),
    "lab2": ("t2", "echo {lab.p.word} >", "echo {lab.p.word}x >"),
    "lab3": ("t3", 'regs = {"rcx": lab.p.countdown}', 'regs = {"rcx": lab.p.countdown + 1}'),
    "lab4": ("t2", "share = used / r.elapsed", "share = used / r.elapsed * 2"),
}


def _source(lab_id: str) -> Path:
    return next(s for s in build_labs.sources() if s.name.startswith(lab_id + "-"))


def _run(nb: nbformat.NotebookNode, lab_id: str, learner: str, tmp: Path, monkeypatch) -> dict:
    monkeypatch.setenv("VIRTLAB_MODE", "live")
    monkeypatch.setenv("VIRTLAB_LEARNER", learner)
    monkeypatch.setenv("VIRTLAB_EVIDENCE_DIR", str(tmp))
    lab = labs.get(lab_id)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(ROOT / "labs")}}).execute()
    finally:
        lab.cleanup(lab.params(learner))  # also when the notebook's own cleanup did not run
    report = tmp / f"{lab_id}-{learner}.json"
    assert report.exists(), "the notebook wrote no report: " + json.dumps(
        [o.get("text", o.get("evalue", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs])[:3000]
    return json.loads(report.read_text())


@pytest.fixture(params=labs.LAB_IDS)
def lab_id(request, need):
    for s in SECTIONS[request.param]:
        need(s)
    return request.param


def test_reference_solution_gets_full_marks(lab_id, tmp_path, monkeypatch):
    rep = _run(build_labs.convert(_source(lab_id)), lab_id, f"ref-{lab_id}", tmp_path, monkeypatch)
    s = grading.score(rep, lab_id=lab_id, learner=f"ref-{lab_id}")
    assert s.points == s.max_points == labs.get(lab_id).max_points(), s.tasks
    assert all(c["mode"] == "live" for c in rep["checks"])
    assert rep["machine"]["boot_id"]


def test_untouched_handout_gets_zero(lab_id, tmp_path, monkeypatch):
    nb = release.release_lab(build_labs.convert(_source(lab_id)))
    rep = _run(nb, lab_id, f"raw-{lab_id}", tmp_path, monkeypatch)
    s = grading.score(rep, lab_id=lab_id)
    assert s.points == 0, s.tasks
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors and all(o["ename"] == "NotImplementedError" for o in errors)


def test_one_task_wrong_loses_exactly_its_points(lab_id, tmp_path, monkeypatch):
    task, old, new = WRONG[lab_id]
    nb = build_labs.convert(_source(lab_id))
    cell = next(c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == f"{task}-solution")
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    rep = _run(nb, lab_id, f"one-{lab_id}", tmp_path, monkeypatch)
    s = grading.score(rep, lab_id=lab_id)
    lab = labs.get(lab_id)
    assert s.points == lab.max_points() - lab.task(task).points, s.tasks
    assert s.tasks[task]["points"] == 0


def test_grader_collects_directly_on_a_course_controlled_host(tmp_path, monkeypatch, need):
    """The classroom-server option: the instructor runs the checks, no learner report."""
    need("cgroups")
    monkeypatch.setenv("VIRTLAB_MODE", "live")
    from virtlab import cgroups
    from virtlab.labs.lab4 import SPINNERS

    p = labs.get("lab4").params("collect-me")
    with cgroups.CourseCgroup(p["cgroup"], cpu_quota=p["quota_pct"] / 100, pids=8) as cg:
        cg.run_python(SPINNERS.format(n=2, s=1), timeout=20)
        rep = grading.collect("lab4", "collect-me")
    s = grading.score(rep)
    assert s.tasks["t1"]["points"] == 4  # read from the kernel by the grader itself
    assert s.tasks["t2"]["points"] == 0  # an answer only the learner can give
