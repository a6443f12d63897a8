"""Every episode follows the template, and every .ipynb is in sync with its source."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "notebooks" / "src").glob("*.md"))


def test_there_are_episodes():
    assert SOURCES, "no notebook sources found"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_episode_template(src: Path):
    text = src.read_text()
    for heading in ("**Questions**", "**Objectives**", "**Timing:**", "## Keypoints", "## Further reading"):
        assert heading in text, f"{src.name}: missing {heading}"
    exercises = re.findall(r"^### Exercise \d+", text, flags=re.M)
    assert len(exercises) >= 2, f"{src.name}: needs at least two exercises"
    assert text.count("<details><summary>Solution") >= len(exercises), f"{src.name}: a solution per exercise"
    assert re.search(r"virtlab\.checks|from virtlab\.checks import|checks\.ep\d\d", text), \
        f"{src.name}: exercises need self-checks"
    assert "plt.show(" not in text, f"{src.name}: show figures with vl.plots.show(fig, alt=...)"
    links = re.findall(r"\]\((https?://[^)]+)\)", text.split("## Further reading", 1)[1])
    assert links, f"{src.name}: further reading needs real sources (links)"


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_code_cells_are_short(src: Path):
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", src.read_text(), flags=re.S)
    for cell in cells:
        lines = [ln for ln in cell.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        assert len(lines) <= 15, f"{src.name}: a code cell of {len(lines)} lines belongs in virtlab:\n{cell}"


def test_notebooks_in_sync_with_sources():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_notebooks.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_committed_outputs_exist_and_are_unlabelled_live_free(src: Path):
    """Committed outputs come from the no-daemon mode: never a live LXD/libvirt banner."""
    nb = json.loads((ROOT / "notebooks" / (src.stem + ".ipynb")).read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and c["source"]]
    assert all(c.get("execution_count") for c in code), f"{src.stem}: unexecuted cells"
    text = json.dumps([c.get("outputs", []) for c in code])
    assert "[virtlab] lxd: live" not in text and "[virtlab] libvirt: live" not in text
    assert "[virtlab] cgroups: live" not in text and "[virtlab] kvm: live" not in text
