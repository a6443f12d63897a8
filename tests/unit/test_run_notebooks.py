"""tools/run_notebooks.py: the order of a parallel run and the tally of notebooks run side by side."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import run_notebooks  # noqa: E402


def test_longest_first_by_an_earlier_tally(tmp_path):
    tally = tmp_path / "t.json"
    tally.write_text(json.dumps({"seconds": {"a": 1.0, "b": 30.5, "c": 7}}))
    assert run_notebooks.longest_first(["a", "new", "b", "c"], tally) == ["b", "c", "a", "new"]
    # no tally, or a broken one: the order given
    assert run_notebooks.longest_first(["a", "b"], tmp_path / "missing.json") == ["a", "b"]
    tally.write_text("[1, 2")
    assert run_notebooks.longest_first(["a", "b"], tally) == ["a", "b"]


def _nb(path: Path, code: str) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return str(path)


def test_two_at_a_time_tallies_every_notebook_and_reports_a_failure(tmp_path):
    """Two real kernels side by side: banners are counted per notebook, a raising cell is a
    failure naming its notebook, and every notebook has its seconds."""
    ok = _nb(tmp_path / "ok.ipynb", "print('[virtlab] cgroups: live — test')")
    bad = _nb(tmp_path / "bad.ipynb", "print('[virtlab] cgroups: live — test'); raise RuntimeError('boom')")
    out = tmp_path / "tally.json"
    r = subprocess.run([sys.executable, str(ROOT / "tools/run_notebooks.py"), "--audience", "unit",
                        "--jobs", "2", "--out", str(out), ok, bad],
                       capture_output=True, text=True, timeout=240)
    rep = json.loads(out.read_text())
    assert r.returncode == 1, r.stdout + r.stderr
    assert rep["sections"]["cgroups"]["live"] == 2  # the failing notebook's banner is counted too
    assert [f for f in rep["failures"] if "bad.ipynb" in f and "boom" in f]
    assert not [f for f in rep["failures"] if "ok.ipynb" in f]
    assert set(rep["seconds"]) == {ok, bad}
    assert "2 at a time" in r.stdout
