"""Per-learner parameters, evidence reports, and the grader's verdicts (no live state needed)."""

from __future__ import annotations

import copy
import json
import os

import pytest

from virtlab import grading, labs
from virtlab.grading import CheckResult, ReportRejected


def _report(lab_id: str = "lab1", learner: str = "alice", *, ok: bool = True, mode: str = "live",
            drop: str | None = None, key: str | None = None) -> dict:
    lab = labs.get(lab_id)
    p = lab.params(learner)
    checks = [CheckResult(t.id, n, ok, mode=mode, hidden=n.startswith("hidden:"))
              for t in lab.tasks if not t.manual for n in t.check_names if n != drop]
    return grading.build_report(lab_id, learner, p, checks, points=lab.points(),
                                modes={s: mode for s in lab.sections}, key=key)


@pytest.mark.parametrize("lab_id", labs.LAB_IDS)
def test_parameters_are_per_learner_and_reproducible(lab_id):
    lab = labs.get(lab_id)
    a, a2, b = lab.params("alice"), lab.params("alice"), lab.params("bob")
    assert a == a2
    assert a != b
    assert a["tag"] != b["tag"]
    # names carry the course prefix and the learner's tag
    names = [v for v in a.values() if isinstance(v, str) and v.startswith("vl-")]
    assert names and all(a["tag"] in n for n in names)


def test_parameters_spread_over_a_class():
    """Forty learners do not all get the same limit: answers cannot simply be shared."""
    mems = {labs.get("lab1").params(f"student{i}")["memory_mib"] for i in range(40)}
    hosts = {labs.get("lab1").params(f"student{i}")["hostname"] for i in range(40)}
    assert len(mems) >= 4 and len(hosts) >= 30


def test_salt_changes_parameters(monkeypatch):
    before = labs.get("lab1").params("alice")
    monkeypatch.setenv("VIRTLAB_COURSE_SALT", "autumn-2027")
    assert labs.get("lab1").params("alice") != before


@pytest.mark.parametrize("bad", ["Alice", "", "a b", "../etc", "x" * 40, "1abc"])
def test_learner_names_are_validated(bad):
    with pytest.raises(ValueError):
        grading.check_learner(bad)


@pytest.mark.parametrize("lab_id", labs.LAB_IDS)
def test_full_report_gets_full_marks(lab_id):
    s = grading.score(_report(lab_id))
    assert s.points == s.max_points == labs.get(lab_id).max_points()


def test_failed_or_missing_check_loses_exactly_its_task():
    lab = labs.get("lab1")
    rep = _report()
    for c in rep["checks"]:
        if c["task"] == "t2":
            c["ok"] = False
    rep["chain"] = grading.chain(rep["checks"], {k: rep[k] for k in rep if k not in ("checks", "chain", "hmac")})
    s = grading.score(rep)
    assert s.points == lab.max_points() - lab.task("t2").points
    assert s.tasks["t2"]["points"] == 0 and s.tasks["t1"]["points"] == 3
    # a hidden check left out of the report: that task earns nothing
    s = grading.score(_report(drop="hidden: it is PID 1 of its namespace"))
    assert s.points == lab.max_points() - lab.task("t3").points
    assert "missing" in s.tasks["t3"]["why"]


@pytest.mark.parametrize("mode", ["embedded", "skipped"])
def test_checks_that_did_not_run_live_earn_nothing(mode):
    s = grading.score(_report("lab3", mode=mode))
    assert s.points == 0


def test_wrong_lab_is_rejected():
    with pytest.raises(ReportRejected, match="lab 'lab1', not 'lab2'"):
        grading.score(_report("lab1"), lab_id="lab2")


def test_another_learners_parameters_are_rejected():
    rep = _report(learner="alice")
    rep2 = copy.deepcopy(rep)
    rep2["learner"] = "bob"  # bob hands in alice's work
    with pytest.raises(ReportRejected, match="parameters"):
        grading.score(rep2)
    with pytest.raises(ReportRejected, match="made by 'alice', not by 'bob'"):
        grading.score(rep, learner="bob")


def test_other_salt_is_rejected(monkeypatch):
    rep = _report()
    monkeypatch.setenv("VIRTLAB_COURSE_SALT", "another-class")
    with pytest.raises(ReportRejected, match="parameters"):
        grading.score(rep)


def test_edited_report_breaks_the_chain():
    rep = _report(ok=False)
    rep["checks"][0]["ok"] = True
    with pytest.raises(ReportRejected, match="hash chain"):
        grading.score(rep)
    rep = _report()
    del rep["checks"][1]
    with pytest.raises(ReportRejected, match="hash chain"):
        grading.score(rep)


def test_hmac_is_checked_when_a_key_is_given():
    rep = _report(key="k1")
    assert grading.score(rep, key="k1").points == 10
    with pytest.raises(ReportRejected, match="HMAC"):
        grading.score(rep, key="k2")
    # a recomputed chain without the key does not carry a valid HMAC
    forged = _report(key="guess")
    with pytest.raises(ReportRejected, match="HMAC"):
        grading.score(forged, key="k1")


def test_cli_scores_and_rejects(tmp_path, capsys):
    good = grading.write_report(_report("lab1", "alice"), tmp_path)
    renamed = tmp_path / "lab1-bob.json"
    renamed.write_text(good.read_text())  # alice's report handed in as bob's
    rc = grading.main(["score", str(good), str(renamed), "--lab", "lab1"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "alice lab1 10/10" in out
    assert "lab1-bob.json: REJECTED" in out
    rc = grading.main(["score", str(good), "--lab", "lab2", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rc == 1 and "rejected" in rows[0]


def test_manual_tasks_are_not_auto_points():
    lab = labs.get("lab4")
    assert lab.manual_points() == {"t3": 3}
    assert lab.max_points() == 7


def test_cli_prints_a_learners_parameters(capsys):
    assert grading.main(["params", "lab2", "alice"]) == 0
    assert json.loads(capsys.readouterr().out) == labs.get("lab2").params("alice")


def test_report_records_machine_and_time():
    rep = _report()
    m = rep["machine"]
    assert m["kernel"] and m["hostname"] and "uid" in m
    assert rep["created"].endswith("+00:00") and rep["virtlab"]
    assert all(c["mode"] == "live" for c in rep["checks"])


def test_learner_is_the_sudo_user_when_run_as_root(monkeypatch):
    """`sudo make lab` runs the lab as root: the learner is who ran sudo (root only)."""
    monkeypatch.delenv("VIRTLAB_LEARNER", raising=False)
    monkeypatch.setenv("SUDO_USER", "alice")
    monkeypatch.setenv("USER", "carol")
    monkeypatch.setenv("LOGNAME", "carol")
    assert grading.learner_name() == ("alice" if os.geteuid() == 0 else "carol")
    monkeypatch.setenv("VIRTLAB_LEARNER", "bob")
    assert grading.learner_name() == "bob"
    assert grading.learner_name(example=True) == "example"


def test_report_under_sudo_goes_to_the_learners_home(monkeypatch, tmp_path):
    """As root under sudo the report lands in the sudo user's home and belongs to them."""
    if os.geteuid() != 0:
        pytest.skip("needs root (this is what `sudo make lab` does)")
    import pwd

    pw = pwd.getpwuid(65534)  # an existing non-root account
    monkeypatch.delenv("VIRTLAB_EVIDENCE_DIR", raising=False)
    monkeypatch.setenv("SUDO_USER", pw.pw_name)
    # the account's real home (/nonexistent) must not be created: point it at tmp_path
    fake = pwd.struct_passwd((pw.pw_name, "x", pw.pw_uid, pw.pw_gid, "", str(tmp_path), "/bin/sh"))
    monkeypatch.setattr(grading.pwd, "getpwnam", lambda n: fake if n == pw.pw_name else pwd.getpwnam(n))
    path = grading.write_report(_report())
    assert path == tmp_path / "virtlab-evidence" / "lab1-alice.json"
    assert path.stat().st_uid == 65534 and path.parent.stat().st_uid == 65534


def test_unknown_lab_or_format_is_rejected():
    rep = _report()
    rep["lab"] = "lab9"
    with pytest.raises(ReportRejected, match="unknown lab"):
        grading.score(rep)
    with pytest.raises(ReportRejected, match="not a virtlab evidence report"):
        grading.score({"format": "nbgrader"})
