"""Build the course website (`make site`): Jupyter Book 1 over the committed notebooks, offline.

Nothing is executed: the pages show the committed outputs. The notebooks are staged with
book/ (config, CSS) in <out>/site-src, each with a header cell: a Binder launch link and the
machine and versions its live outputs were last verified on (the provenance of the recordings
the episode uses). Cells whose output is a recording get the tag ``vl-recorded`` (styled as a
visible label), figures get their alt text. The HTML lands in <out>/site/_build/html.

    python tools/build_site.py [--out _build] [--timeout 600]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = "https://mybinder.org/v2/gh/virtlab-course/containers-vs-vms/main?urlpath=lab/tree/"
RECORDED = "RECORDED, not live"
RUN_KEY = re.compile(r"""modes\.run\(\s*["']([a-z_.]+)["']""")


def text_of(output: dict) -> str:
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    return "".join(output.get("data", {}).get("text/plain", ""))


def provenance(keys: list[str]) -> list[str]:
    """One line per distinct machine/version set the recordings ``keys`` were made on."""
    seen: dict[str, list[str]] = {}
    for key in keys:
        path = ROOT / "src" / "virtlab" / "recorded" / f"{key}.json"
        if not path.exists():
            continue
        p = json.loads(path.read_text())["provenance"]
        h, v = p.get("host", {}), p.get("versions", {})
        line = (f"{p.get('recorded_on', '?')}: Linux {h.get('kernel', '?')} ({h.get('os', '?')}, "
                f"{h.get('machine', '?')}), " + ", ".join(f"{k} {v[k]}" for k in sorted(v))
                + f", accelerator {p.get('accelerator', '?')}")
        seen.setdefault(line, []).append(key)
    return [f"{line} — {', '.join(ks)}" for line, ks in seen.items()]


def header_cell(name: str, keys: list[str]) -> dict:
    lines = [f"[Launch this episode on Binder]({BINDER}notebooks/{name}) · "
             "outputs below are the committed ones (embedded mode; recorded where labelled)", ""]
    prov = provenance(keys)
    if prov:
        lines += ["**Live outputs last verified on** (the recordings this episode replays):", ""]
        lines += [f"- {ln}" for ln in prov]
    else:
        lines += ["This episode replays no recording: every output comes from the embedded mode."]
    body = "\n".join(["```{admonition} Launch and provenance", ":class: vl-provenance", "",
                      *lines, "```"])
    return {"cell_type": "markdown", "id": "vl-provenance", "metadata": {}, "source": body}


def stage(nb_path: Path, dest: Path) -> None:
    nb = json.loads(nb_path.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    keys = sorted(set(RUN_KEY.findall(code)))
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        tags = cell["metadata"].setdefault("tags", [])
        if any(RECORDED in text_of(o) for o in cell.get("outputs", [])):
            tags.append("vl-recorded")
        for o in cell.get("outputs", []):
            alt = o.get("metadata", {}).get("image/png", {}).get("alt")
            if alt:
                cell["metadata"]["mystnb"] = {"image": {"alt": alt}}
    title_at = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown")
    nb["cells"].insert(title_at + 1, header_cell(nb_path.name, keys))
    dest.write_text(json.dumps(nb, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "_build")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv)
    src = args.out / "site-src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(ROOT / "book", src)
    episodes = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    for nb in episodes:
        stage(nb, src / nb.name)
    toc = ["format: jb-book", f"root: {episodes[0].stem}", "chapters:"]
    toc += [f"- file: {nb.stem}" for nb in episodes[1:]]
    (src / "_toc.yml").write_text("\n".join(toc) + "\n")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(src), "--path-output", str(args.out / "site"), "--builder", "html"]
    try:
        done = subprocess.run(cmd, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"[site] jupyter-book did not finish within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    html = args.out / "site" / "_build" / "html"
    if done.returncode == 0:
        print(f"[site] {len(episodes)} episodes -> {html}/index.html")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
