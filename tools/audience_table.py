"""Write the README's audience table from the tallies of a real run (`tools/run_notebooks.py`).

    python tools/audience_table.py docs/audiences/*.json     # rewrites README.md in place
    python tools/audience_table.py --print build/audiences/*.json   # only prints it (CI)

Each cell of the table is ``live/embedded/recorded`` — how many cells of that section each
backend served for that audience in the run the JSON records.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from virtlab import modes

README = Path(__file__).resolve().parent.parent / "README.md"
ORDER = ["bare-root", "bare-user", "binder", "learner", "root"]
TITLES = {
    "bare-root": "never provisioned, root",
    "bare-user": "never provisioned, non-root",
    "binder": "Binder (uid 1000, `binder/` env)",
    "learner": "learner on a lab VM (non-root)",
    "root": "root on a lab VM / CI",
}


def table(reports: list[dict]) -> str:
    reports = sorted(reports, key=lambda r: ORDER.index(r["audience"]) if r["audience"] in ORDER else 99)
    head = "| section | " + " | ".join(TITLES.get(r["audience"], r["audience"]) for r in reports) + " |"
    rows = [head, "|---" * (len(reports) + 1) + "|"]
    for sec in modes.SECTIONS:
        cells = []
        for r in reports:
            m = r["sections"].get(sec)
            if not m:
                cells.append("–")
                continue
            best = "live" if m["live"] else ("embedded" if m["embedded"] else "recorded")
            note = "*" if m.get("needs") else ""
            cells.append(f"**{best}** {m['live']}/{m['embedded']}/{m['recorded']}{note}")
        rows.append(f"| {sec} | " + " | ".join(cells) + " |")
    dates = sorted({r["date"] for r in reports})
    rows.append("")
    rows.append("\\* some cells of a live section replay their recording and say what they need "
                "(root, a cgroup v2 subtree of one's own, the optional full-Debian LXD image or the "
                "systemd disk of episode 08's start-up experiment, which CI builds only in its last stage).")
    rows.append("")
    rows.append(f"Counts are cells served live/embedded/recorded, from the run of {', '.join(dates)} "
                "(`tools/run_notebooks.py`, every notebook and lab, `VIRTLAB_MODE=auto` — root's run "
                "on the lab VM forces `live`; the JSON per audience is in `docs/audiences/`).")
    return "\n".join(rows)


def main(paths: list[str]) -> int:
    only_print = "--print" in paths
    paths = [p for p in paths if p != "--print"]
    reports = [json.loads(Path(p).read_text()) for p in paths]
    if not reports:
        print("no reports given", file=sys.stderr)
        return 2
    if only_print:
        print(table(reports))
        return 0
    text = README.read_text()
    block = f"<!-- audiences -->\n{table(reports)}\n<!-- /audiences -->"
    if "<!-- audiences -->" not in text:
        print("README.md has no <!-- audiences --> block", file=sys.stderr)
        return 2
    README.write_text(re.sub(r"<!-- audiences -->.*?<!-- /audiences -->", lambda _m: block, text,
                             flags=re.S))
    print(table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
