"""pyproject, environment.yml and binder/ must agree on the design card's packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN_CARD = {"jupyterlab", "ipywidgets", "nbval", "pylxd", "libvirt-python", "matplotlib"}


def names(specs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ \[]", s.strip(), maxsplit=1)[0].lower() for s in specs if s.strip()}


def yaml_packages(path: Path) -> set[str]:
    out = set()
    for line in path.read_text().splitlines():
        m = re.match(r"\s*-\s+([A-Za-z0-9_.-]+)", line)
        if m and m.group(1) not in ("pip", "conda-forge", "-e"):
            out.add(m.group(1).lower())
    return out


def major(specs: list[str], pkg: str) -> str:
    for s in specs:
        if s.strip().lower().startswith(pkg):
            m = re.search(r">=\s*(\d+)", s)
            return m.group(1) if m else ""
    return ""


def test_design_card_everywhere():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = names(py["dependencies"]) | names(sum(py["optional-dependencies"].values(), []))
    assert DESIGN_CARD <= pyproject
    assert DESIGN_CARD <= yaml_packages(ROOT / "environment.yml")
    assert DESIGN_CARD <= yaml_packages(ROOT / "binder" / "environment.yml")


def test_jupyterlab4_and_ipywidgets8_pinned_alike():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["lab"]
    for f in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        text = f.read_text()
        assert "jupyterlab>=4" in text and "<5" in text, f
        assert "ipywidgets>=8" in text, f
    assert major(py, "jupyterlab") == "4" and major(py, "ipywidgets") == "8"


def test_binder_builds_libvirt_python_and_installs_the_package():
    apt = (ROOT / "binder" / "apt.txt").read_text().split()
    assert {"libvirt-dev", "pkg-config"} <= set(apt)
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install" in post and "-e ." in post
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111


def test_readme_badge_opens_the_start_notebook():
    readme = (ROOT / "README.md").read_text()
    assert "mybinder.org/badge_logo.svg" in readme
    assert "?urlpath=lab/tree/notebooks/00-start-here.ipynb" in readme
    assert "make lab" in readme and "make test" in readme


def test_readme_tested_on_line_is_the_probes():
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- tested-on -->", 1)[1].split("<!-- /tested-on -->", 1)[0].strip()
    assert block.startswith("Tested on: ")
    line = subprocess.run([sys.executable, "-m", "virtlab.cli", "doctor", "--tested-on"],
                          capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    # same fields in the same order (values may differ on another machine)
    fields = [f.split(" ")[0] for f in block.removeprefix("Tested on: ").split(", ")]
    assert [f.split(" ")[0] for f in line.removeprefix("Tested on: ").split(", ")][:3] == fields[:3]
