"""pyproject, environment.yml and binder/ must agree on the design card's packages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


def runtime_dependencies() -> set[str]:
    """What a learner's kernel needs: the package's dependencies and its lab + libvirt extras
    (the test extra is for developers and CI)."""
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = py["optional-dependencies"]
    return names(py["dependencies"]) | names(extras["lab"]) | names(extras["libvirt"])


def test_every_runtime_dependency_is_in_both_environment_files():
    """postBuild installs the package with --no-deps: a dependency missing from binder/ breaks
    Binder at run time (pyseccomp did, in episode 07)."""
    need = runtime_dependencies()
    assert {"pyseccomp", "pylxd", "libvirt-python", "jupyterlab"} <= need
    for f in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        missing = need - yaml_packages(f)
        assert not missing, f"{f.relative_to(ROOT)} lacks {sorted(missing)}"


def test_environment_files_declare_nothing_the_package_does_not_use():
    runtime = runtime_dependencies()
    extra_ok = {"python", "nbval"}  # the interpreter; nbval lets a learner check the notebooks
    for f in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        stray = yaml_packages(f) - runtime - extra_ok
        assert not stray, f"{f.relative_to(ROOT)} installs {sorted(stray)}, which pyproject does not list"


def test_postbuild_smoke_imports_every_runtime_library_and_installs_lab_settings():
    post = (ROOT / "binder" / "postBuild").read_text()
    import_names = {"pyseccomp": "pyseccomp", "libvirt-python": "libvirt", "pylxd": "pylxd",
                    "jupyterlab": "jupyterlab", "ipywidgets": "ipywidgets", "matplotlib": "matplotlib",
                    "pandas": "pandas", "psutil": "psutil", "tqdm": "tqdm", "jupytext": "jupytext",
                    "voila": "voila"}
    for dist in runtime_dependencies():
        assert f'"{import_names[dist]}"' in post, f"postBuild does not import {dist}"
    assert "src/virtlab/data/lab-settings/overrides.json" in post  # the one make lab serves
    import json

    over = json.loads((ROOT / "src/virtlab/data/lab-settings/overrides.json").read_text())
    assert over["@jupyterlab/notebook-extension:tracker"]["windowingMode"] == "defer"


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


def test_set_up_environment_validates_notebooks_without_the_slow_iri_checker(tmp_path):
    """tools/slim_env.sh (called by tools/setup.sh) removes rfc3987-syntax (1.3 s of parser
    building in every process that imports nbformat); nbformat's schema validation still accepts
    a good notebook and rejects a bad one. Checked in an environment that tools/setup.sh made
    (its stamp), e.g. `make test`'s."""
    import nbformat

    stamp = Path(sys.prefix) / ".virtlab-setup"
    code = ("import sys, nbformat, jsonschema, jupyter_events.validators; "
            "print('rfc3987_syntax' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True).stdout.strip()
    if stamp.exists():
        assert loaded == "False", "tools/setup.sh should have removed rfc3987-syntax"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nbformat.validate(nb)
    nb.cells[0]["cell_type"] = "not-a-cell-type"
    with pytest.raises(nbformat.ValidationError):
        nbformat.validate(nb)
    # Binder's environment and the classroom's venv (every learner's server) alike
    assert "tools/slim_env.sh python" in (ROOT / "binder" / "postBuild").read_text()
    classroom = (ROOT / "labs/lab-vm/provision.d/50-classroom.sh").read_text()
    assert '"$REPO/tools/slim_env.sh" "$CLASSROOM_DIR/venv/bin/python"' in classroom


@pytest.fixture
def env_with_the_iri_checker(tmp_path):
    """A scratch venv (no pip) where ``rfc3987_syntax`` can be found, as a stand-in package."""
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "rfc3987_syntax").mkdir()
    (site / "rfc3987_syntax" / "__init__.py").write_text("")
    return venv


def _fake_tool(bindir: Path, name: str, log: Path) -> None:
    bindir.mkdir(exist_ok=True)
    (bindir / name).write_text(f'#!/bin/bash\necho "{name} $*" >> {log}\n')
    (bindir / name).chmod(0o755)


def _slim(venv: Path, bindir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "tools/slim_env.sh"), str(venv / "bin/python")],
                          env={**os.environ, "PATH": f"{bindir}:/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def test_slim_env_lets_conda_remove_what_conda_installed(env_with_the_iri_checker, tmp_path):
    venv, log = env_with_the_iri_checker, tmp_path / "calls"
    (venv / "conda-meta").mkdir()
    (venv / "conda-meta" / "rfc3987-syntax-1.1.0-pyhd8ed1ab_0.json").write_text("{}")
    _fake_tool(tmp_path / "bin", "mamba", log)
    r = _slim(venv, tmp_path / "bin")
    assert r.returncode == 0, r.stderr
    assert log.read_text().split() == ["mamba", "remove", "-y", "--force", "-p", str(venv),
                                       "rfc3987-syntax"]
    # no conda tool at all: a clear one-line reason and a failure (postBuild prints its note)
    import shutil

    if any(shutil.which(t, path="/usr/bin:/bin") for t in ("mamba", "micromamba", "conda")):
        return  # this host has one in /usr/bin: the case cannot be made here
    r = _slim(venv, tmp_path / "empty")
    assert r.returncode == 1 and "no mamba/micromamba/conda" in r.stderr, r


def test_slim_env_uses_pip_elsewhere_and_does_nothing_when_absent(env_with_the_iri_checker,
                                                                   tmp_path):
    venv = env_with_the_iri_checker
    r = _slim(venv, tmp_path / "bin")  # pip's path: this scratch venv has no pip, so pip fails
    assert r.returncode != 0 and "No module named pip" in r.stderr, r
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "rfc3987_syntax" / "__init__.py").unlink()
    (site / "rfc3987_syntax").rmdir()
    r = _slim(venv, tmp_path / "bin")
    assert r.returncode == 0 and r.stderr == "", r
