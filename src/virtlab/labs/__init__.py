"""The graded labs (``labs/*.ipynb``): tasks, points, per-learner parameters, state checks.

A notebook does::

    lab = vl.labs.open("lab1")        # who you are, your parameters, what runs live here
    if lab.can("cgroups"):            # False where the section cannot run live: says why
        ...                           # the learner's work (a solution region in the source)
    lab.check("t1")                   # reads the real state, prints ✅/❌, keeps the evidence
    lab.submit()                      # runs every check again and writes the evidence report

Each lab module (``lab1`` ... ``lab4``) defines ``LAB = Lab(...)``: its tasks with their points
and check functions, its parameters and what to clean up. The checks read the kernel, LXD or
libvirt directly, never the learner's Python objects; answers a learner *computes* (a measured
share, registers for a guest) are passed with :meth:`Session.answer` and checked against what
the machine does with them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtlab import grading, modes

LAB_IDS = ("lab1", "lab2", "lab3", "lab4")


@dataclass(frozen=True)
class C:
    """One check's outcome, as a task's check function returns it."""

    name: str
    ok: bool
    expected: Any = None
    observed: Any = None
    hidden: bool = False


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    points: int
    section: str | None  # the modes section the task needs live (None: graded by hand)
    check: Callable[[dict[str, Any], dict[str, Any]], list[C]] | None
    check_names: tuple[str, ...] = ()  # every check the task must report (visible + hidden)
    embedded_ok: bool = False  # the checks also run on the section's embedded backend

    @property
    def manual(self) -> bool:
        return self.check is None


@dataclass
class Lab:
    id: str
    title: str
    tasks: list[Task]
    make_params: Callable[[Any, str], dict[str, Any]]  # (rng, tag) -> params
    cleanup_fn: Callable[[dict[str, Any]], list[str]]
    sections: tuple[str, ...] = ()

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise LookupError(f"{self.id} has no task {task_id!r}; tasks: {', '.join(t.id for t in self.tasks)}")

    def params(self, learner: str, *, salt: str | None = None) -> dict[str, Any]:
        grading.check_learner(learner)
        tag = grading.tag(self.id, learner, salt)
        return {"learner": learner, "tag": tag,
                **self.make_params(grading.rng(self.id, learner, salt), tag)}

    def points(self) -> dict[str, int]:
        return {t.id: t.points for t in self.tasks if not t.manual}

    def max_points(self) -> int:
        return sum(self.points().values())

    def manual_points(self) -> dict[str, int]:
        return {t.id: t.points for t in self.tasks if t.manual}

    def modes(self) -> dict[str, str]:
        return {s: _resolve(s)[0] for s in self.sections}

    def run_task(self, task: Task, p: dict[str, Any], answers: dict[str, Any]) -> list[grading.CheckResult]:
        """Run one task's checks now (or record why they could not run)."""
        assert task.check is not None and task.section is not None
        mode = _mode(task)
        if mode is None:
            why = f"{task.section} is not live here ({_resolve(task.section)[1]})"
            return [grading.CheckResult(task.id, n, False, mode="skipped", note=why, at=grading.now(),
                                        hidden=n.startswith("hidden:")) for n in task.check_names]
        try:
            found = task.check(p, answers)
        except Exception as err:  # noqa: BLE001 - a check that cannot read its state fails, with why
            return [grading.CheckResult(task.id, task.check_names[0], False, mode=mode,
                                        note=f"{type(err).__name__}: {err}", at=grading.now())]
        return [grading.CheckResult(task.id, c.name, bool(c.ok), c.expected, c.observed, mode,
                                    c.hidden, at=grading.now()) for c in found]

    def run_checks(self, p: dict[str, Any], answers: dict[str, Any]) -> list[grading.CheckResult]:
        """Every check of every auto-graded task, now (what a report holds)."""
        out: list[grading.CheckResult] = []
        for t in self.tasks:
            if not t.manual:
                out.extend(self.run_task(t, p, answers))
        return out

    def cleanup(self, p: dict[str, Any]) -> list[str]:
        return self.cleanup_fn(p)


def _resolve(section: str) -> tuple[str, str]:
    """(mode, why not live) of ``section`` here; a forced live mode that is impossible gives
    ("impossible", what is missing) instead of raising, so a lab notebook always runs."""
    try:
        b = modes.resolve(section)
    except modes.CapabilityMissing as err:
        return "impossible", f"{err.missing}; to fix: {err.fix}"
    return b.mode, b.reason or b.mode


def _mode(task: Task) -> str | None:
    """The mode a task's checks run in here: "live", "embedded" (when allowed) or None."""
    assert task.section is not None
    mode, _ = _resolve(task.section)
    if mode == "live" or (mode == "embedded" and task.embedded_ok):
        return mode
    return None


def get(lab_id: str) -> Lab:
    """The lab ``lab_id`` (``lab1`` ... ``lab4``)."""
    if lab_id not in LAB_IDS:
        raise LookupError(f"unknown lab {lab_id!r}; labs: {', '.join(LAB_IDS)}")
    return importlib.import_module(f"virtlab.labs.{lab_id}").LAB


class Params(dict):
    """The learner's parameters; ``lab.p.memory_mib`` or ``lab.p["memory_mib"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}; yours are: {', '.join(self)}") from None


@dataclass
class Session:
    """One learner doing one lab in a notebook."""

    lab: Lab
    learner: str
    p: Params
    answers: dict[str, Any] = field(default_factory=dict)

    def show(self) -> None:
        print(f"{self.lab.id} · {self.lab.title}")
        who = ("the example learner (nothing runs live here, so nothing can be graded; on your "
               "lab VM these are your own)" if self.learner == grading.EXAMPLE_LEARNER else "you")
        print(f"learner: {self.learner} — {who}")
        print("your parameters:")
        for k, v in self.p.items():
            if k not in ("learner", "tag"):
                print(f"  {k:<12} {v}")
        auto = self.lab.max_points()
        manual = sum(self.lab.manual_points().values())
        print(f"points: {auto} checked from your machine's state" +
              (f" + {manual} graded by hand" if manual else ""))
        for s in self.lab.sections:
            mode, why = _resolve(s)
            print(f"  {s:<10} {mode}" + (f" ({why})" if mode != "live" else ""))

    def can(self, section: str) -> bool:
        """True when the learner's work for ``section`` can run here; else says why, False."""
        mode, why = _resolve(section)
        allowed = {t.section for t in self.lab.tasks if t.embedded_ok}
        if mode == "live" or (mode == "embedded" and section in allowed):
            return True
        print(f"⏭  {section} is not live here ({why}): this task's code is not run. "
              "Do it on your lab VM.")
        return False

    def answer(self, task_id: str, value: Any) -> None:
        """Hand in a value a task asks for (it goes into the evidence with the check)."""
        self.lab.task(task_id)
        self.answers[task_id] = value

    def check(self, task_id: str, *, hidden: bool = False) -> None:
        """Check one task now against the machine's state and print each check.

        ``hidden=True`` (the hidden-test region of a graded cell, stripped from the learners'
        release) shows the task's hidden checks; the evidence report always has them all.
        """
        task = self.lab.task(task_id)
        if task.manual:
            print(f"{task.id} ({task.points} points) is graded by hand by your instructor.")
            return
        results = [r for r in self.lab.run_task(task, self.p, self.answers) if r.hidden == hidden]
        if not results:
            return
        print(f"{task.id} · {task.title} ({task.points} points)" + (" — hidden tests" if hidden else ""))
        if all(r.mode == "skipped" for r in results):
            print(f"  ⏭  not checked: {results[0].note}")
            return
        for r in results:
            mark = "✅" if r.ok else "❌"
            seen = "" if r.ok else f" (expected {r.expected!r}, found {r.observed!r})"
            print(f"  {mark} {r.name.removeprefix('hidden: ')}{seen}" + (f" — {r.note}" if r.note else ""))
        if all(r.mode == "embedded" for r in results):
            print("  (embedded backend: shows the method; only live checks count for a grade)")

    def passed(self, task_id: str) -> bool:
        """True when every check of the task (hidden ones too) passes now."""
        res = self.lab.run_task(self.lab.task(task_id), self.p, self.answers)
        return bool(res) and all(r.ok for r in res)

    def submit(self, directory: str | Path | None = None) -> Path | None:
        """Run every check again, write the evidence report, print the auto-graded score."""
        checks = self.lab.run_checks(self.p, self.answers)
        if not any(c.mode == "live" for c in checks):
            print("nothing could be checked live here, so no evidence report was written: "
                  "do this lab on your lab VM")
            return None
        rep = grading.build_report(self.lab.id, self.learner, dict(self.p), checks,
                                   points=self.lab.points(), modes=self.lab.modes())
        path = grading.write_report(rep, directory)
        s = grading.score(rep)
        print(f"evidence report: {grading.display_path(path)}")
        print(f"score from live checks: {s.points}/{s.max_points}")
        for t, v in s.tasks.items():
            print(f"  {t}: {v['points']}/{v['of']} — {v['why']}")
        if self.lab.manual_points():
            print("graded by hand: " + ", ".join(f"{t} ({n} points)" for t, n in self.lab.manual_points().items()))
        print("Hand in this notebook and the report file.")
        return path

    def cleanup(self) -> None:
        """Remove everything this lab made for this learner (after submitting)."""
        if self.learner == grading.EXAMPLE_LEARNER:
            print("nothing of this lab was made on this machine (nothing runs live here)")
            return
        gone = self.lab.cleanup(dict(self.p))
        print(f"removed {len(gone)} resource(s) of {self.lab.id}" + (": " + ", ".join(gone) if gone else ""))


def open(lab_id: str, *, quiet: bool = False) -> Session:  # noqa: A001 - reads like a verb
    """Start (or resume) ``lab_id`` for the current learner; prints who and the parameters.

    Where no section of the lab runs live (Binder, ``VIRTLAB_MODE=embedded``), the parameters
    are those of the *example* learner, so the notebook's output is the same on every machine.
    """
    lab = get(lab_id)
    live = any(_resolve(s)[0] == "live" for s in lab.sections)
    learner = grading.learner_name(example=not live)
    s = Session(lab, learner, Params(lab.params(learner)))
    if not quiet:
        s.show()
    return s
