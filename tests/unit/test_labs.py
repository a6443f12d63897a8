"""The graded labs: nbgrader conventions, points matching the package, sources in sync."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from virtlab import labs

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "labs" / "src").glob("lab*.md"))


def _cells(src: Path):
    return jupytext.read(src, fmt="md:myst").cells


def test_four_labs_span_the_course():
    assert [s.name.split("-")[0] for s in SOURCES] == list(labs.LAB_IDS)
    sections = {s for lab_id in labs.LAB_IDS for s in labs.get(lab_id).sections}
    assert {"cgroups", "namespaces", "lxd", "libvirt", "kvm"} <= sections


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_nbgrader_metadata(src: Path):
    cells = _cells(src)
    ids = []
    for c in cells:
        meta = c.metadata.get("nbgrader")
        assert meta, f"{src.name}: every cell carries nbgrader metadata: {c.source[:60]!r}"
        assert meta["schema_version"] == 3 and {"grade", "solution", "locked", "grade_id"} <= set(meta)
        ids.append(meta["grade_id"])
        has_region = "BEGIN SOLUTION" in c.source
        assert has_region <= meta["solution"], f"{src.name}: solution region outside a solution cell"
        assert ("BEGIN HIDDEN TESTS" in c.source) <= meta["grade"], f"{src.name}: hidden tests outside a grade cell"
        if meta["grade"]:
            assert meta.get("points", 0) > 0
        if meta["solution"] and c.cell_type == "code":
            assert has_region, f"{src.name}: code solutions use a region (the cell keeps its guard)"
    assert len(ids) == len(set(ids)), f"{src.name}: grade_ids must be unique"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_points_in_the_notebook_are_the_labs_points(src: Path):
    lab = labs.get(src.name.split("-")[0])
    graded = {c.metadata["nbgrader"]["grade_id"].split("-")[0]: c.metadata["nbgrader"]["points"]
              for c in _cells(src) if c.metadata["nbgrader"]["grade"]}
    assert graded == {t.id: t.points for t in lab.tasks}
    text = src.read_text()
    for t in lab.tasks:
        assert re.search(rf"## Task {t.id[1:]} \({t.points} points", text), f"{src.name}: heading of {t.id}"
        if not t.manual:
            assert f'lab.check("{t.id}")' in text and f'lab.check("{t.id}", hidden=True)' in text


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_code_cells_are_short(src: Path):
    for c in _cells(src):
        if c.cell_type == "code":
            lines = [ln for ln in c.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            assert len(lines) <= 15, c.source


def test_built_labs_in_sync_with_sources():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_labs.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_committed_lab_outputs_are_from_the_example_learner(src: Path):
    """Built in embedded mode: the example learner, nothing live, no report written."""
    import nbformat

    nb = nbformat.read(ROOT / "labs" / (src.stem + ".ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    text = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert "learner: example" in text
    assert "no evidence report was written" in text
    assert ": live" not in text


def test_unknown_lab_and_task():
    with pytest.raises(LookupError):
        labs.get("lab9")
    with pytest.raises(LookupError):
        labs.get("lab1").task("t9")


def test_session_in_embedded_mode_runs_nothing_live(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("VIRTLAB_MODE", "embedded")
    monkeypatch.setenv("VIRTLAB_EVIDENCE_DIR", str(tmp_path))
    s = labs.open("lab1")
    assert s.learner == "example"
    assert s.can("cgroups") is False
    s.check("t1")
    assert s.submit() is None
    out = capsys.readouterr().out
    assert "not checked" in out and "no evidence report" in out
    assert not list(tmp_path.iterdir())


def test_instructor_and_learner_pages_cover_the_course():
    notes = (ROOT / "instructors" / "instructor-notes.md").read_text()
    for ep in sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]-*.md")):
        assert re.search(rf"^## {ep.name[:2]} · ", notes, flags=re.M), f"no instructor notes for {ep.name}"
    lab_notes = (ROOT / "instructors" / "labs.md").read_text()
    for lab_id in labs.LAB_IDS:
        assert f"## Lab {lab_id[-1]}" in lab_notes
    for f in ("README.md", "session-plan.md", "grading.md", "platforms.md"):
        assert (ROOT / "instructors" / f).is_file()
    for f in ("setup.md", "reference.md"):
        assert (ROOT / "learners" / f).is_file()
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Teaching a class", 1)[1].split("\n## ", 1)[0]
    for ref in ("instructors/", "learners/", "LICENSE", "LICENSE-CONTENT", "make release"):
        assert ref in section
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "creativecommons.org/licenses/by/4.0" in (ROOT / "LICENSE-CONTENT").read_text()
