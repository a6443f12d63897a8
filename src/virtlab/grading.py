"""Graded labs: per-learner parameters, evidence reports, and scoring them.

nbgrader re-executes a notebook on the *grader's* machine, which cannot see the containers, VMs
and cgroups a learner made on their own lab VM. So the graded labs (``labs/``) grade **state**:
each task's checks read what the kernel, LXD or libvirt reports *on the learner's machine* and
the notebook writes an **evidence report** (JSON) the learner hands in with the notebook.
:func:`score` grades such reports on the instructor's side and rejects a report made for another
lab or with parameters that are not the learner's.

What a report can and cannot prove
----------------------------------
A report is made by code running on a machine the learner controls, usually as root. Its hash
chain and (optional) HMAC show only that the report was not edited *after* it was written by
someone without the key. They cannot show that the checks were honest: root on the lab VM can
edit virtlab, fake ``/sys`` files with bind mounts, run the checker elsewhere, or copy the
key. A report is evidence, not proof — like a lab logbook. Where the course controls the host
(a classroom server where learners are not root), the instructor runs the same checks directly
(``python -m virtlab.grading collect``): then grading reads the learner's resources itself and
no report is needed.

Per-learner parameters come from ``sha256(course salt, lab id, learner)``: two learners get
different limits and names, and the grader recomputes them from the learner's name alone.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import getpass
import hashlib
import hmac
import json
import os
import platform
import pwd
import random
import re
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import virtlab
from virtlab.safety import VirtlabError

FORMAT = "virtlab-evidence/1"
_LEARNER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
#: the identity used when nothing can be checked live (embedded mode): same outputs everywhere
EXAMPLE_LEARNER = "example"


class ReportRejected(VirtlabError, ValueError):
    """A report that cannot be graded (wrong lab, wrong learner parameters, broken chain ...)."""


def check_learner(name: str) -> str:
    """Validate a learner name (a Unix login: lowercase letters, digits, '_' and '-')."""
    if not isinstance(name, str) or not _LEARNER_RE.fullmatch(name):
        raise ValueError(f"learner name {name!r} is not a login name: lowercase letters, digits, "
                         "'_' and '-', starting with a letter or '_', at most 32 characters")
    return name


def learner_name(*, example: bool = False) -> str:
    """Who is doing the lab: ``VIRTLAB_LEARNER``, else the login that ran ``sudo`` (graded
    labs run as root: ``sudo make lab``), else the login name (``example`` when asked)."""
    if example:
        return EXAMPLE_LEARNER
    sudo_user = os.environ.get("SUDO_USER") if os.geteuid() == 0 else None
    return check_learner(os.environ.get("VIRTLAB_LEARNER") or sudo_user or getpass.getuser())


def course_salt() -> str:
    """``VIRTLAB_COURSE_SALT``: an instructor's per-class value, so parameters change each year."""
    return os.environ.get("VIRTLAB_COURSE_SALT", "")


def seed(lab_id: str, learner: str, salt: str | None = None) -> bytes:
    """The 32-byte seed all of a learner's parameters for ``lab_id`` come from."""
    salt = course_salt() if salt is None else salt
    return hashlib.sha256(f"virtlab-lab\0{salt}\0{lab_id}\0{check_learner(learner)}".encode()).digest()


def rng(lab_id: str, learner: str, salt: str | None = None) -> random.Random:
    """A deterministic random generator for this learner and lab (not for secrets)."""
    return random.Random(seed(lab_id, learner, salt))  # noqa: S311 - parameters, not secrets


def tag(lab_id: str, learner: str, salt: str | None = None) -> str:
    """Six hex digits that make the learner's resource names unique (``vl-lab1-3fa9c2``)."""
    return seed(lab_id, learner, salt).hex()[:6]


# --------------------------------------------------------------------------- evidence
@dataclass
class CheckResult:
    """One check of one task: what was expected, what the machine said, and the verdict."""

    task: str
    name: str
    ok: bool
    expected: Any = None
    observed: Any = None
    mode: str = "live"  # live / embedded / skipped
    hidden: bool = False
    note: str = ""
    at: str = ""

    def gradable(self) -> bool:
        return self.ok and self.mode == "live"


def machine() -> dict[str, Any]:
    """Which machine the checks ran on (what a report can say about it)."""
    def read(path: str) -> str | None:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return None
    return {"hostname": socket.gethostname(), "machine_id": read("/etc/machine-id"),
            "boot_id": read("/proc/sys/kernel/random/boot_id"), "kernel": platform.release(),
            "uid": os.getuid(), "python": platform.python_version()}


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain(entries: list[dict[str, Any]], head: dict[str, Any]) -> list[str]:
    """Hash chain: h0 = sha256(head); h_i = sha256(h_{i-1} + entry_i). Detects edits, removals
    and reordering — by someone who does not recompute it (anyone can; see the module doc)."""
    h = hashlib.sha256(_canon(head)).hexdigest()
    out = []
    for e in entries:
        h = hashlib.sha256(h.encode() + _canon(e)).hexdigest()
        out.append(h)
    return out


def _key(key: str | bytes | None) -> bytes | None:
    if key is None:
        key = os.environ.get("VIRTLAB_GRADING_KEY")
    if not key:
        return None
    return key.encode() if isinstance(key, str) else key


def build_report(lab_id: str, learner: str, params: dict[str, Any], checks: list[CheckResult],
                 *, points: dict[str, int], modes: dict[str, str],
                 key: str | bytes | None = None) -> dict[str, Any]:
    """The evidence report (a JSON-able dict) for ``checks`` made on this machine now."""
    head = {"format": FORMAT, "lab": lab_id, "learner": learner, "params": params,
            "points": points, "modes": modes, "machine": machine(), "created": now(),
            "virtlab": virtlab.__version__, "salt_sha256": hashlib.sha256(course_salt().encode()).hexdigest()[:12]}
    entries = [asdict(c) for c in checks]
    hashes = chain(entries, head)
    report = {**head, "checks": entries, "chain": hashes}
    k = _key(key)
    if k:
        report["hmac"] = hmac.new(k, (hashes[-1] if hashes else "").encode() + _canon(head),
                                  hashlib.sha256).hexdigest()
    return report


def _sudo_owner() -> tuple[Path, int, int] | None:
    """(home, uid, gid) of the login that ran ``sudo``, when running as root under sudo."""
    name = os.environ.get("SUDO_USER")
    if os.geteuid() != 0 or not name or name == "root":
        return None
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    return Path(pw.pw_dir), pw.pw_uid, pw.pw_gid


def write_report(report: dict[str, Any], directory: str | Path | None = None) -> Path:
    """Write ``report`` to ``<dir>/<lab>-<learner>.json`` (default ``~/virtlab-evidence`` of the
    learner: under ``sudo`` the home of the login that ran it, and the file is theirs)."""
    owner = _sudo_owner()
    home = owner[0] if owner else Path.home()
    d = Path(directory or os.environ.get("VIRTLAB_EVIDENCE_DIR") or home / "virtlab-evidence")
    made = not d.exists()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{report['lab']}-{report['learner']}.json"
    path.write_text(json.dumps(report, indent=1, sort_keys=True, default=str) + "\n")
    if owner and directory is None and not os.environ.get("VIRTLAB_EVIDENCE_DIR"):
        for p in ([d] if made else []) + [path]:
            os.chown(p, owner[1], owner[2])
    return path


def display_path(path: Path) -> str:
    """``~/…`` for paths under the home folder (so printed paths are the same for every user)."""
    try:
        return "~/" + str(path.resolve().relative_to(Path.home().resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- scoring
@dataclass
class Score:
    lab: str
    learner: str
    points: int
    max_points: int
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def verify(report: dict[str, Any], *, lab_id: str | None = None, learner: str | None = None,
           key: str | bytes | None = None, salt: str | None = None) -> None:
    """Raise :class:`ReportRejected` unless ``report`` is for ``lab_id`` and ``learner`` with that
    learner's own parameters, and its chain (and HMAC, when a key is given) is intact."""
    from virtlab import labs

    if report.get("format") != FORMAT:
        raise ReportRejected(f"not a virtlab evidence report (format {report.get('format')!r})")
    got_lab = report.get("lab")
    if lab_id is not None and got_lab != lab_id:
        raise ReportRejected(f"report is for lab {got_lab!r}, not {lab_id!r}")
    try:
        lab = labs.get(str(got_lab))
    except LookupError as err:
        raise ReportRejected(str(err)) from None
    who = report.get("learner")
    if learner is not None and who != learner:
        raise ReportRejected(f"report was made by {who!r}, not by {learner!r}")
    try:
        want = lab.params(check_learner(str(who)), salt=salt)
    except ValueError as err:
        raise ReportRejected(str(err)) from None
    if report.get("params") != want:
        raise ReportRejected(f"the report's parameters are not {who!r}'s parameters for {got_lab} "
                             "(made for another learner, another class salt, or edited)")
    head = {k: report[k] for k in report if k not in ("checks", "chain", "hmac")}
    if chain(report.get("checks", []), head) != report.get("chain"):
        raise ReportRejected("the hash chain does not match: the report was edited after it was written")
    k = _key(key)
    if k:
        last = report["chain"][-1] if report["chain"] else ""
        want_mac = hmac.new(k, last.encode() + _canon(head), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want_mac, str(report.get("hmac", ""))):
            raise ReportRejected("the HMAC does not match the grading key")


def score(report: dict[str, Any], *, lab_id: str | None = None, learner: str | None = None,
          key: str | bytes | None = None, salt: str | None = None) -> Score:
    """Grade one report: a task earns its points when *every* check of it (visible and hidden)
    passed **live**. Embedded or skipped checks earn nothing. Rejected reports raise."""
    from virtlab import labs

    verify(report, lab_id=lab_id, learner=learner, key=key, salt=salt)
    lab = labs.get(report["lab"])
    by_task: dict[str, list[dict[str, Any]]] = {}
    for c in report["checks"]:
        by_task.setdefault(c["task"], []).append(c)
    s = Score(lab.id, report["learner"], 0, lab.max_points())
    for task in lab.tasks:
        cs = by_task.get(task.id, [])
        names = {c["name"] for c in cs}
        missing = [n for n in task.check_names if n not in names]
        ok = bool(cs) and not missing and all(c["ok"] and c["mode"] == "live" for c in cs)
        earned = task.points if ok else 0
        s.points += earned
        why = ("passed live" if ok else "missing checks: " + ", ".join(missing) if missing
               else "; ".join(f"{c['name']}: {'not live (' + c['mode'] + ')' if c['mode'] != 'live' else 'failed'}"
                              for c in cs if not (c["ok"] and c["mode"] == "live")))
        s.tasks[task.id] = {"points": earned, "of": task.points, "why": why}
    return s


def collect(lab_id: str, learner: str, *, salt: str | None = None) -> dict[str, Any]:
    """Run every check of ``lab_id`` for ``learner`` *here* and return a report — what the
    instructor runs on a classroom server, reading the learner's resources directly."""
    from virtlab import labs

    lab = labs.get(lab_id)
    p = lab.params(learner, salt=salt)
    checks = lab.run_checks(p, answers={})
    return build_report(lab.id, learner, p, checks, points=lab.points(), modes=lab.modes())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m virtlab.grading",
                                 description="Score lab evidence reports, or collect evidence directly.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sc = sub.add_parser("score", help="score report files (JSON)")
    sc.add_argument("reports", nargs="+", type=Path)
    sc.add_argument("--lab", help="the lab these reports must be for")
    sc.add_argument("--json", action="store_true")
    co = sub.add_parser("collect", help="run a lab's checks here for a learner (classroom server)")
    co.add_argument("lab")
    co.add_argument("learner")
    co.add_argument("--out", type=Path)
    pa = sub.add_parser("params", help="print a learner's parameters for a lab")
    pa.add_argument("lab")
    pa.add_argument("learner")
    args = ap.parse_args(argv)
    if args.cmd == "params":
        from virtlab import labs

        print(json.dumps(labs.get(args.lab).params(args.learner), indent=1, sort_keys=True))
        return 0
    if args.cmd == "collect":
        rep = collect(args.lab, args.learner)
        path = write_report(rep, args.out)
        s = score(rep)
        print(f"{path}: {s.points}/{s.max_points}")
        return 0
    rc = 0
    rows = []
    for f in args.reports:
        try:
            rep = json.loads(f.read_text())
            s = score(rep, lab_id=args.lab, learner=_learner_from_filename(f, rep))
            rows.append({"file": str(f), "lab": s.lab, "learner": s.learner, "points": s.points,
                         "of": s.max_points, "tasks": s.tasks})
        except (ReportRejected, ValueError, KeyError, json.JSONDecodeError) as err:
            rows.append({"file": str(f), "rejected": str(err)})
            rc = 1
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            if "rejected" in r:
                print(f"{r['file']}: REJECTED — {r['rejected']}")
            else:
                print(f"{r['file']}: {r['learner']} {r['lab']} {r['points']}/{r['of']}  "
                      + "  ".join(f"{t}={v['points']}/{v['of']}" for t, v in r["tasks"].items()))
    return rc


def _learner_from_filename(path: Path, rep: dict[str, Any]) -> str | None:
    """``lab1-alice.json`` names its learner: a report renamed to another learner is rejected."""
    m = re.fullmatch(r"(lab\d+)-(.+)\.json", path.name)
    return m.group(2) if m else None


if __name__ == "__main__":
    sys.exit(main())
