"""Course figures leave the learner's matplotlib alone (backend, pyplot's figure list)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

INLINE = "module://matplotlib_inline.backend_inline"  # what a Jupyter kernel uses

SCRIPT = """
import matplotlib
import matplotlib.pyplot as plt
from virtlab import migration, plots
from virtlab.widgets import migration as mw

m = migration.precopy(800, 5, migration.mbit(500), wws_mib=12)
fig = mw.figure(m)
print("PYPLOT FIGURES", plt.get_fignums())  # a course figure is not one of pyplot's
plots.show(fig, mw.alt_text(m))
print("BACKEND", matplotlib.get_backend())
"""


def test_course_figures_keep_the_learners_backend():
    pytest.importorskip("matplotlib_inline")
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "MPLBACKEND": INLINE})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert f"BACKEND {INLINE}" in lines and "PYPLOT FIGURES []" in lines, r.stdout
    assert "[Figure] Bar chart of MiB sent" in r.stdout  # displayed, with its alt text


def test_show_needs_a_real_alt_text():
    from virtlab import plots

    with pytest.raises(ValueError, match="alt text"):
        plots.show(plots.figure(), alt="a chart")


def test_no_module_draws_through_pyplot_or_sets_a_backend():
    from pathlib import Path

    import virtlab

    src = Path(virtlab.__file__).parent
    bad = [str(p.relative_to(src)) for p in src.rglob("*.py")
           if "import matplotlib.pyplot" in (t := p.read_text()) or "matplotlib.use(" in t]
    assert bad == []
