"""Which notebooks the strict nbval run can compare on this machine (called by tools/test.sh).

The committed outputs are those of the embedded mode. A notebook whose committed outputs were
served embedded by a section this machine cannot run embedded (no user namespaces, no static
busybox, no libvirt-python) would show the labelled recording instead: such notebooks are run lax
(every cell must still run) and the reason is printed. Prints one line per notebook:
``strict PATH`` or ``lax PATH REASON``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from virtlab import modes


def sections_served_embedded(path: Path) -> set[str]:
    nb = nbformat.read(path, as_version=4)
    found = set()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in str(out.get("text", "")).splitlines():
                b = modes.parse_banner(line)
                if b and b[1] == "embedded":
                    found.add(b[0])
    return found


def main(paths: list[str]) -> int:
    gaps = modes.embedded_gaps()
    for p in paths:
        missing = sorted(sections_served_embedded(Path(p)) & set(gaps))
        if missing:
            why = "; ".join(f"{s}: {gaps[s]}" for s in missing)
            print(f"lax {p} {why}")
        else:
            print(f"strict {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
