"""The labs as a non-root learner (uid 65534, in the lab VM's groups that exist here).

The learner runs each lab's reference solution in the default ``auto`` mode. Whatever this
machine lets a non-root learner do live is graded; everything else must still run top to bottom
and say what it could not check. Per task: its section live for that learner -> full points,
otherwise 0 and no error.
"""

from __future__ import annotations

import grp
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from virtlab import grading, labs

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
#: the course's venv may sit on an interpreter under /root (pyenv), which another uid cannot
#: run: the learner uses the system's Python 3.11 with the venv's packages on PYTHONPATH and
#: without Debian's own dist-packages (-S), kernel included (a kernelspec in the learner's home)
SYSTEM_PYTHON = Path("/usr/bin/python3")
CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[3])
import build_labs
from nbclient import NotebookClient
from virtlab import labs
lab_id, out = sys.argv[1], sys.argv[2]
src = next(s for s in build_labs.sources() if s.name.startswith(lab_id + "-"))
nb = build_labs.convert(src)
NotebookClient(nb, timeout=300, kernel_name="python3",
               resources={"metadata": {"path": str(build_labs.OUT)}}).execute()
lab = labs.get(lab_id)
text = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
json.dump({"modes": lab.modes(), "outputs": text}, open(out, "w"))
"""


def _groups() -> list[int]:
    out = []
    for name in ("lxd", "libvirt", "kvm"):
        try:
            out.append(grp.getgrnam(name).gr_gid)
        except KeyError:
            pass
    return out


@pytest.mark.parametrize("lab_id", labs.LAB_IDS)
def test_lab_runs_as_a_non_root_learner(lab_id, need):
    need("cgroups")  # root is needed to become the non-root learner (and to clean up after)
    # pytest's tmp_path sits under a 0700 directory of root's: the learner could not reach it
    with tempfile.TemporaryDirectory(prefix="vl-nonroot-") as tmp:
        os.chmod(tmp, 0o755)
        _run_as_learner(lab_id, Path(tmp) / "home")


def _run_as_learner(lab_id: str, home: Path) -> None:
    home.mkdir()
    groups = _groups()
    learner = f"nonroot-{lab_id}"

    def demote() -> None:
        os.setgroups(groups)
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    site = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    if not SYSTEM_PYTHON.exists() or sys.version_info[:2] != (3, 11):
        pytest.skip("needs /usr/bin/python3 of the venv's Python version for the non-root learner")
    kernels = home / "share" / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(SYSTEM_PYTHON), "-S", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    for d in [home, *home.rglob("*")]:
        os.chown(d, NOBODY, NOBODY)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home),
           "PYTHONPATH": f"{ROOT / 'src'}:{site}", "JUPYTER_PATH": str(home / "share" / "jupyter"),
           "VIRTLAB_MODE": "auto", "VIRTLAB_LEARNER": learner, "XDG_RUNTIME_DIR": str(home),
           "VIRTLAB_EVIDENCE_DIR": str(home / "evidence"), "PYTHONDONTWRITEBYTECODE": "1"}
    out = home / "result.json"
    lab = labs.get(lab_id)
    try:
        r = subprocess.run([str(SYSTEM_PYTHON), "-S", "-c", CHILD, lab_id, str(out), str(ROOT / "tools")],
                           preexec_fn=demote, env=env, capture_output=True, text=True, timeout=600,  # noqa: PLW1509
                           cwd=home)
    finally:
        lab.cleanup(lab.params(learner))
        lab.cleanup(lab.params(grading.EXAMPLE_LEARNER))
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    live = {s for s, m in res["modes"].items() if m == "live"}
    print(f"{lab_id} as uid {NOBODY} (groups {groups}): {res['modes']}")
    report = home / "evidence" / f"{lab_id}-{learner}.json"
    if not any(t.section in live for t in lab.tasks if not t.manual):
        assert not report.exists()
        assert any("not live here" in t for t in res["outputs"])
        return
    s = grading.score(json.loads(report.read_text()), lab_id=lab_id, learner=learner)
    print(f"score {s.points}/{s.max_points}: {s.tasks}")
    for t in lab.tasks:
        if t.manual:
            continue
        want = t.points if t.section in live else 0
        assert s.tasks[t.id]["points"] == want, (t.id, res["modes"], s.tasks)
