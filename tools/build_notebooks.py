"""Build notebooks/*.ipynb from their MyST-markdown sources in notebooks/src/ and execute them.

The sources (notebooks/src/NN-name.md, jupytext "myst" format) are what authors edit: prose
first, short code cells. The .ipynb files are derived and committed *with outputs from the
embedded mode* (what a machine without daemons produces), which the strict nbval run compares.
The graded labs (tools/build_labs.py) are built by the same code, from labs/src/.

    python tools/build_notebooks.py            # convert + execute every notebook
    python tools/build_notebooks.py 01 04      # only these
    python tools/build_notebooks.py --check    # fail if a .ipynb is out of sync with its source
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class Book:
    """A folder of MyST sources and the folder their notebooks are built into."""

    src: Path
    out: Path
    pattern: str
    cell_id: Callable[[Path], str]  # the stem cell ids start with
    make: str  # the make target that rebuilds them (named in messages)
    #: cell metadata keys the sync check compares besides type and source (nbgrader's, for labs)
    metadata_keys: tuple[str, ...] = ()

    def sources(self, only: list[str] | None = None) -> list[Path]:
        files = sorted(self.src.glob(self.pattern))
        if only:
            files = [f for f in files if any(f.name.startswith(o) for o in only)]
        return files

    def convert(self, src: Path) -> nbformat.NotebookNode:
        nb = jupytext.read(src, fmt="md:myst")
        nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
        stem = self.cell_id(src)
        for i, cell in enumerate(nb.cells):
            cell.id = f"{stem}-{i:03d}"
            cell.metadata.pop("lines_to_next_cell", None)
        return nb

    def execute(self, nb: nbformat.NotebookNode, timeout: int) -> None:
        os.environ["VIRTLAB_MODE"] = os.environ.get("VIRTLAB_BUILD_MODE", "embedded")
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(self.out)}}).execute()

    def _shape(self, nb: nbformat.NotebookNode) -> list[tuple]:
        return [(c.cell_type, c.source, *(c.metadata.get(k) for k in self.metadata_keys))
                for c in nb.cells]

    def check(self, files: list[Path]) -> int:
        bad = 0
        for src in files:
            target = self.out / (src.stem + ".ipynb")
            if not target.exists():
                print(f"missing: {target.relative_to(ROOT)} (run: make {self.make})")
                bad += 1
            elif self._shape(self.convert(src)) != self._shape(nbformat.read(target, as_version=4)):
                print(f"out of sync: {target.relative_to(ROOT)} differs from "
                      f"{src.relative_to(ROOT)} (run: make {self.make})")
                bad += 1
        return 1 if bad else 0

    def main(self, argv: list[str] | None = None) -> int:
        ap = argparse.ArgumentParser()
        ap.add_argument("only", nargs="*")
        ap.add_argument("--check", action="store_true")
        ap.add_argument("--no-execute", action="store_true")
        ap.add_argument("--timeout", type=int, default=600)
        args = ap.parse_args(argv)
        files = self.sources(args.only)
        if args.check:
            return self.check(files)
        for src in files:
            nb = self.convert(src)
            if not args.no_execute:
                print(f"executing {src.name} (VIRTLAB_MODE=embedded) ...", flush=True)
                self.execute(nb, args.timeout)
            target = self.out / (src.stem + ".ipynb")
            nbformat.write(nb, target)
            print(f"wrote {target.relative_to(ROOT)}")
        return 0


EPISODES = Book(ROOT / "notebooks" / "src", ROOT / "notebooks", "*.md",
                cell_id=lambda src: src.stem[:2], make="notebooks")
SRC, OUT = EPISODES.src, EPISODES.out
sources, convert, execute, check = EPISODES.sources, EPISODES.convert, EPISODES.execute, EPISODES.check


if __name__ == "__main__":
    sys.exit(EPISODES.main())
