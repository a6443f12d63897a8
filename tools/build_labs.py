"""Build labs/*.ipynb (the instructors' *source* versions, with solutions) from labs/src/*.md.

The sources are jupytext MyST markdown with nbgrader cell metadata and nbgrader's solution and
hidden-test delimiters. The built notebooks are committed with outputs from the embedded mode
(VIRTLAB_MODE=embedded: nothing live, the example learner), which the strict nbval run compares.
Learners get the *release* versions instead: `make release` (tools/release.py).

    python tools/build_labs.py             # convert + execute every lab
    python tools/build_labs.py lab1        # only these
    python tools/build_labs.py --check     # fail if a .ipynb is out of sync with its source
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "labs" / "src"
OUT = ROOT / "labs"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def sources(only: list[str] | None = None) -> list[Path]:
    files = sorted(SRC.glob("lab*.md"))
    if only:
        files = [f for f in files if any(f.name.startswith(o) for o in only)]
    return files


def convert(src: Path) -> nbformat.NotebookNode:
    nb = jupytext.read(src, fmt="md:myst")
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell.id = f"{src.stem.split('-')[0]}-{i:03d}"
        cell.metadata.pop("lines_to_next_cell", None)
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int) -> None:
    os.environ["VIRTLAB_MODE"] = os.environ.get("VIRTLAB_BUILD_MODE", "embedded")
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(OUT)}}).execute()


def check(files: list[Path]) -> int:
    bad = 0
    for src in files:
        target = OUT / (src.stem + ".ipynb")
        if not target.exists():
            print(f"missing: {target.relative_to(ROOT)} (run: make labs)")
            bad += 1
            continue
        want = [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in convert(src).cells]
        have = [(c.cell_type, c.source, c.metadata.get("nbgrader"))
                for c in nbformat.read(target, as_version=4).cells]
        if want != have:
            print(f"out of sync: {target.relative_to(ROOT)} differs from {src.relative_to(ROOT)} "
                  "(run: make labs)")
            bad += 1
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("only", nargs="*")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--no-execute", action="store_true")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    files = sources(args.only)
    if args.check:
        return check(files)
    for src in files:
        nb = convert(src)
        if not args.no_execute:
            print(f"executing {src.name} ...", flush=True)
            execute(nb, args.timeout)
        target = OUT / (src.stem + ".ipynb")
        nbformat.write(nb, target)
        print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
