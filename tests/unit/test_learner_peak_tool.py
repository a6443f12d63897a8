"""tools/learner_peak.py: the notebook runner's own memory is told apart from the learner's
kernels (the learner's figure puts their Jupyter server in the runner's place)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("psutil")


def _tool():
    spec = importlib.util.spec_from_file_location("learner_peak", ROOT / "tools" / "learner_peak.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sleeper(path: Path) -> subprocess.Popen:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("import time\nx = bytearray(48 << 20)\nprint('ready', flush=True)\ntime.sleep(60)\n")
    p = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_runner_rss_counts_only_the_runner_listed_in_the_subtree(tmp_path):
    lp = _tool()
    runner = _sleeper(tmp_path / "tools" / "run_notebooks.py")
    other = _sleeper(tmp_path / "tools" / "something_else.py")
    try:
        cg = tmp_path / "cg"
        cg.mkdir()
        (cg / "cgroup.procs").write_text(f"{runner.pid}\n{other.pid}\n")
        got = lp.runner_rss(cg)
        assert got >= 48 << 20  # the runner's 48 MiB buffer ...
        assert got < 2 * (48 << 20)  # ... and not the other process's too
        (cg / "cgroup.procs").write_text(f"{other.pid}\n")
        assert lp.runner_rss(cg) == 0  # a runner outside the subtree is not the learner's
        (cg / "cgroup.procs").unlink()
        assert lp.runner_rss(cg) == 0  # unreadable subtree: nothing, no error
    finally:
        for p in (runner, other):
            p.kill()
            p.wait(timeout=10)


def test_the_servers_start_up_transient_is_not_its_share():
    """jupyter-lsp runs `node` for ~0.5 s while the server starts (~60 MiB here): that peak never
    meets a notebook's, so the server's share is its settled size or its size while serving."""
    lp = _tool()
    mib = 1 << 20
    series = [(0.0, 6 * mib), (2.5, 60 * mib), (3.0, 160 * mib), (3.5, 81 * mib)]
    series += [(t / 2, 98 * mib) for t in range(8, 40)]
    s = lp.summarize_server(series, [110 * mib, 112 * mib], settle=20.0)
    assert s["startup_peak"] == 160 * mib
    assert s["idle"] == 98 * mib and s["serving"] == 112 * mib and s["share"] == 112 * mib
    # nothing served (the session could not be opened): the settled size alone
    assert lp.summarize_server(series, [], settle=20.0)["share"] == 98 * mib
    # a spike late in the window is not a start-up transient: it counts
    assert lp.summarize_server(series + [(19.0, 150 * mib)], [], settle=20.0)["share"] == 150 * mib


def test_page_cache_read_from_v1_and_v2_stat_and_dropped_before_the_run(tmp_path):
    """The subtree's page cache is told apart (v1 total_cache, v2 file); the cache earlier runs
    left charged is reclaimed first (v1 memory.force_empty; v2 memory.reclaim)."""
    lp = _tool()
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    v1.mkdir()
    v2.mkdir()
    (v1 / "memory.stat").write_text("cache 100\nrss 5\ntotal_cache 4096\ntotal_rss 7\n")
    (v1 / "memory.usage_in_bytes").write_text("9000\n")
    (v1 / "memory.force_empty").write_text("")
    (v2 / "memory.stat").write_text("anon 7\nfile 2048\n")
    (v2 / "memory.current").write_text("5000\n")
    (v2 / "memory.reclaim").write_text("")
    assert lp.file_cache(v1) == 4096 and lp.file_cache(v2) == 2048
    assert lp.file_cache(tmp_path / "missing") == 0
    assert lp.drop_cache(v1) == 0  # a plain folder: nothing reclaimed, but the request was made
    assert (v1 / "memory.force_empty").read_text() == "0"
    lp.drop_cache(v2)  # no force_empty file: v2's reclaim gets the subtree's whole usage
    assert (v2 / "memory.reclaim").read_text() == "5000"
