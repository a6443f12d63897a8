"""virtlab.core: the one run(argv, deadline) and the one disk-usage walker."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from virtlab import bench, core, lxd
from virtlab.core.commands import CommandFailed
from virtlab.safety import Deadline, DeadlineExceeded


def test_run_captures_output_and_exit_status():
    r = core.run([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], 10)
    assert (r.returncode, r.stdout) == (3, "out\n")


def test_run_never_uses_a_shell():
    r = core.run([sys.executable, "-c", "import sys; print(sys.argv[1])", "$HOME; echo x"], 10)
    assert r.stdout == "$HOME; echo x\n"


def test_run_kills_the_child_at_the_deadline_and_names_it():
    t = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"the sleeper: no result within 0.5 s\. wake it"):
        core.run([sys.executable, "-c", "import time; time.sleep(30)"],
                 Deadline(0.5, "the sleeper", "wake it"))
    assert time.monotonic() - t < 10


def test_run_check_raises_a_virtlab_error_with_stderr():
    with pytest.raises(CommandFailed, match="failed \\(2\\): boom"):
        core.run([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(2)"], 10,
                 check=True)


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "t"
    (root / "d").mkdir(parents=True)
    (root / "d" / "a").write_bytes(b"x" * 10000)
    os.link(root / "d" / "a", root / "b")  # a hard link: its blocks count once
    (root / "s").symlink_to("d/a")  # not followed
    with open(root / "sparse", "wb") as f:  # apparent 8 MiB, next to nothing allocated
        f.truncate(8 << 20)
    return root


def test_disk_usage_counts_like_du(tmp_path: Path):
    root = _tree(tmp_path)
    du = core.disk_usage(root)
    assert du.files == 5  # d, d/a, b, s, sparse
    assert du.apparent >= (8 << 20) + 10000 and du.apparent < (8 << 20) + 10000 + 64 * 1024
    assert du.allocated < 1 << 20  # the sparse file holds (almost) no blocks
    if shutil.which("du"):  # GNU du: the same walk (top included, hard links once)
        out = subprocess.run(["du", "-s", "-B1", str(root)], capture_output=True, text=True,
                             timeout=10, check=True).stdout
        assert du.allocated == int(out.split()[0])
        out = subprocess.run(["du", "-s", "-B1", "--apparent-size", str(root)],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        assert du.apparent == int(out.split()[0])


def test_disk_usage_of_one_file_and_of_nothing(tmp_path: Path):
    f = tmp_path / "f"
    f.write_bytes(b"y" * 5000)
    assert core.disk_usage(f).files == 1 and core.disk_usage(f).apparent == 5000
    assert core.disk_usage(tmp_path / "missing") == core.DiskUsage(0, 0, 0)


def test_lxd_and_bench_give_the_same_numbers(tmp_path: Path):
    """The course compares LXD's root filesystem sizes with the benchmark's storage column."""
    root = _tree(tmp_path)
    assert lxd._du(root) == core.disk_usage(root).as_dict()
    assert bench.tree_bytes(root) == lxd._du(root)["allocated"]
