"""Build the learners' release: the labs (and, with --episodes, the episodes) without solutions.

Labs follow nbgrader's conventions, and this applies nbgrader's own rules for generating a
student version (its ClearSolutions, ClearHiddenTests, ClearOutput and LockCells steps):

* a region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the region's indentation;
* a solution cell without such a region becomes that stub whole (markdown: ``YOUR ANSWER HERE``);
* a region between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is removed;
* outputs and execution counts are cleared; grade and read-only cells are made undeletable and
  uneditable (``deletable``/``editable`` metadata), as nbgrader's defaults do.

nbgrader itself (0.9.6 installs next to JupyterLab 4) would pull in a database, a notebook
server and its server extensions into every learner's environment; the rules are 60 lines, so
the course applies them itself, and a test compares the result with nbgrader's preprocessors
where nbgrader is installed.

Episodes (``--episodes``): each ``<details><summary>Solution…</details>`` block in a markdown
cell is replaced by a note; outputs stay (they are the course's recorded/embedded runs).

    python tools/release.py                 # -> release/labs/*.ipynb
    python tools/release.py --episodes      # also release/notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_labs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
DETAILS_RE = re.compile(r"<details>\s*<summary>\s*Solution.*?</details>", re.S | re.I)
EPISODE_NOTE = "*(The solution is not part of this release: ask your instructor.)*"


class ReleaseError(ValueError):
    """A source breaks nbgrader's conventions (unbalanced region, region outside its cell type)."""


def _nb(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def replace_solution(source: str, stub: str) -> tuple[str, bool]:
    out, inside, replaced = [], False, False
    for line in source.split("\n"):
        if BEGIN_SOLUTION in line:
            if inside:
                raise ReleaseError("nested BEGIN SOLUTION")
            inside = replaced = True
            indent = re.match(r"\s*", line).group(0)
            out.extend(indent + s for s in stub.split("\n"))
        elif END_SOLUTION in line:
            if not inside:
                raise ReleaseError("END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ReleaseError("BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out), replaced


def remove_hidden(source: str) -> tuple[str, bool]:
    out, inside, removed = [], False, False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            if inside:
                raise ReleaseError("nested BEGIN HIDDEN TESTS")
            inside = removed = True
        elif END_HIDDEN in line:
            if not inside:
                raise ReleaseError("END HIDDEN TESTS without BEGIN HIDDEN TESTS")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ReleaseError("BEGIN HIDDEN TESTS without END HIDDEN TESTS")
    return "\n".join(out), removed


def release_lab(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The learners' version of a lab notebook (a new notebook; ``nb`` is not changed)."""
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    for i, cell in enumerate(nb.cells):
        meta = _nb(cell)
        stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
        cell.source, replaced = replace_solution(cell.source, stub)
        if replaced and not meta.get("solution"):
            raise ReleaseError(f"{name} cell {i}: a solution region in a cell not marked solution")
        if meta.get("solution") and not replaced:
            cell.source = stub
        cell.source, removed = remove_hidden(cell.source)
        if removed and not meta.get("grade"):
            raise ReleaseError(f"{name} cell {i}: hidden tests in a cell not marked grade")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if meta.get("solution"):
            cell.metadata["deletable"] = False
        elif meta.get("grade") or meta.get("locked"):
            cell.metadata["deletable"] = False
            cell.metadata["editable"] = False
    return nb


def release_episode(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = DETAILS_RE.sub(EPISODE_NOTE, cell.source)
    return nb


def build(out: Path, *, episodes: bool = False) -> list[Path]:
    written = []
    if out.exists():
        shutil.rmtree(out)
    (out / "labs").mkdir(parents=True)
    for src in build_labs.sources():
        target = out / "labs" / (src.stem + ".ipynb")
        nbformat.write(release_lab(build_labs.convert(src), src.name), target)
        written.append(target)
    if episodes:
        (out / "notebooks").mkdir()
        for ep in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
            target = out / "notebooks" / ep.name
            nbformat.write(release_episode(nbformat.read(ep, as_version=4)), target)
            written.append(target)
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "release")
    ap.add_argument("--episodes", action="store_true", help="also release the episodes")
    args = ap.parse_args()
    for p in build(args.out, episodes=args.episodes):
        print(f"wrote {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
