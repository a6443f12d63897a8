"""`make release`: the learners' labs and episodes contain no solution and no hidden test."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import build_labs  # noqa: E402
import release  # noqa: E402


def _region_lines(source: str, begin: str, end: str) -> list[str]:
    out, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line.strip())
    return out


def _outside_lines(source: str) -> set[str]:
    out, inside = set(), False
    for line in source.split("\n"):
        if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
            inside = False
        elif not inside:
            out.add(line.strip())
    return out


def _secrets(src: Path) -> list[str]:
    """Every line of solution or hidden-test text in a lab source (whole solution cells too)
    that does not also appear outside those regions (the task text may quote an API name)."""
    secret = []
    cells = build_labs.convert(src).cells
    public = set().union(*(_outside_lines(c.source) for c in cells
                           if not c.metadata["nbgrader"].get("solution") or "BEGIN SOLUTION" in c.source))
    for c in cells:
        meta = c.metadata.get("nbgrader", {})
        lines = (_region_lines(c.source, "BEGIN SOLUTION", "END SOLUTION")
                 + _region_lines(c.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"))
        if meta.get("solution") and "BEGIN SOLUTION" not in c.source:
            lines += [ln.strip() for ln in c.source.split("\n")]
        secret += [ln for ln in lines if len(ln) > 3 and ln not in public]
    return secret


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release")
    release.build(out, episodes=True)
    return out


def test_release_has_every_lab_and_episode(built: Path):
    assert len(list((built / "labs").glob("*.ipynb"))) == len(build_labs.sources()) == 4
    assert len(list((built / "notebooks").glob("*.ipynb"))) == len(list((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")))


@pytest.mark.parametrize("src", build_labs.sources(), ids=lambda p: p.stem)
def test_no_solution_or_hidden_test_reaches_the_lab_release(built: Path, src: Path):
    text = (built / "labs" / (src.stem + ".ipynb")).read_text()
    nb = nbformat.reads(text, as_version=4)
    sources = "\n".join(c.source for c in nb.cells)
    released = {ln.strip() for ln in sources.split("\n")}
    secrets = _secrets(src)
    assert len(secrets) >= 6, "the source should have solution and hidden-test text to hide"
    for line in secrets:
        assert line not in released, f"{src.name}: solution/hidden text in the release: {line!r}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
        assert marker not in text
    assert "raise NotImplementedError()" in sources
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")
    # what learners keep: the task text, the guards, the visible checks
    assert 'lab.check("t1")' in sources and "if lab.can(" in sources


def test_manual_answer_cell_becomes_the_text_stub(built: Path):
    nb = nbformat.read(built / "labs" / "lab4-measure-decide.ipynb", as_version=4)
    answer = [c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == "t3-answer"]
    assert [c.source for c in answer] == ["YOUR ANSWER HERE"]


def test_cells_are_locked_like_nbgrader(built: Path):
    nb = nbformat.read(built / "labs" / "lab1-namespaces-cgroups.ipynb", as_version=4)
    for c in nb.cells:
        m = c.metadata["nbgrader"]
        if m["grade"] and not m["solution"]:
            assert c.metadata["editable"] is False and c.metadata["deletable"] is False
        if m["solution"]:
            assert c.metadata["deletable"] is False and "editable" not in c.metadata


def test_episode_release_has_no_solution_blocks(built: Path):
    for ep in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        original = nbformat.read(ep, as_version=4)
        hidden = []
        outside = set()
        for c in original.cells:
            blocks = release.DETAILS_RE.findall(c.source) if c.cell_type == "markdown" else []
            for block in blocks:
                hidden += [ln.strip() for ln in block.split("\n")[1:-1] if len(ln.strip()) > 12]
            outside |= {ln.strip() for ln in release.DETAILS_RE.sub("", c.source).split("\n")}
        hidden = [ln for ln in hidden if ln not in outside]
        assert hidden or "Solution" not in json.dumps(original.cells)
        rel = "\n".join(c.source for c in nbformat.read(built / "notebooks" / ep.name, as_version=4).cells)
        released = {ln.strip() for ln in rel.split("\n")}
        assert "<summary>Solution" not in rel
        assert release.EPISODE_NOTE in rel
        for line in hidden:
            assert line not in released, f"{ep.name}: {line!r}"


@pytest.mark.parametrize("source,error", [
    ("### BEGIN SOLUTION\nx = 1", "without END"),
    ("x = 1\n### END SOLUTION", "without BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_unbalanced_regions_are_refused(source, error):
    with pytest.raises(release.ReleaseError, match=error):
        release.replace_solution(source, release.CODE_STUB)


def test_region_in_a_cell_not_marked_solution_is_refused():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
                                              metadata={"nbgrader": {"solution": False, "grade": False}}))
    with pytest.raises(release.ReleaseError, match="not marked solution"):
        release.release_lab(nb)


def test_indentation_of_the_stub_follows_the_region():
    out, replaced = release.replace_solution("if ok:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION", release.CODE_STUB)
    assert replaced and out == "if ok:\n    # YOUR CODE HERE\n    raise NotImplementedError()"


def _nbgrader_preprocessors():  # noqa: ANN202 - a module
    """nbgrader's preprocessors: installed, or the reference copy set-up keeps outside the
    course's environment (``.venv/nbgrader-ref``: nbgrader's lab extensions stay out of make lab)."""
    ref = Path(sys.prefix) / "nbgrader-ref"
    if ref.is_dir() and str(ref) not in sys.path:
        sys.path.append(str(ref))
    return pytest.importorskip("nbgrader.preprocessors")


@pytest.mark.parametrize("src", build_labs.sources(), ids=lambda p: p.stem)
def test_same_sources_as_nbgraders_own_preprocessors(src: Path):
    """Where nbgrader is installed, its ClearSolutions + ClearHiddenTests give the same cells."""
    pre = _nbgrader_preprocessors()
    nb = build_labs.convert(src)
    ours = release.release_lab(nb, src.name)
    theirs = nbformat.reads(nbformat.writes(nb), as_version=4)
    for step in (pre.ClearSolutions(), pre.ClearHiddenTests(), pre.ClearOutput(), pre.LockCells()):
        theirs, _ = step.preprocess(theirs, {})
    assert [c.source for c in ours.cells] == [c.source for c in theirs.cells]
    assert [{k: c.metadata.get(k) for k in ("editable", "deletable")} for c in ours.cells] == \
           [{k: c.metadata.get(k) for k in ("editable", "deletable")} for c in theirs.cells]
    assert json.dumps([c.get("outputs") for c in ours.cells]) == json.dumps([c.get("outputs") for c in theirs.cells])
