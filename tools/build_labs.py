"""Build labs/*.ipynb (the instructors' *source* versions, with solutions) from labs/src/*.md.

The sources are jupytext MyST markdown with nbgrader cell metadata and nbgrader's solution and
hidden-test delimiters. The built notebooks are committed with outputs from the embedded mode
(VIRTLAB_MODE=embedded: nothing live, the example learner), which the strict nbval run compares.
Learners get the *release* versions instead: `make release` (tools/release.py). Built by the same
code as the episodes (tools/build_notebooks.py); the sync check also compares nbgrader metadata.

    python tools/build_labs.py             # convert + execute every lab
    python tools/build_labs.py lab1        # only these
    python tools/build_labs.py --check     # fail if a .ipynb is out of sync with its source
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_notebooks import ROOT, Book  # noqa: E402

LABS = Book(ROOT / "labs" / "src", ROOT / "labs", "lab*.md",
            cell_id=lambda src: src.stem.split("-")[0], make="labs", metadata_keys=("nbgrader",))
SRC, OUT = LABS.src, LABS.out
sources, convert, execute, check = LABS.sources, LABS.convert, LABS.execute, LABS.check


if __name__ == "__main__":
    sys.exit(LABS.main())
