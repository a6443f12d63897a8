"""The `virtlab` command: clear one-line errors, never a traceback wall."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "virtlab.cli", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_garbage_mode_is_one_clear_line():
    r = run("doctor", "--json", env={"VIRTLAB_MODE": "garbage"})
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "valid modes: live, embedded, recorded, auto" in r.stderr


def test_unknown_demo_is_one_clear_line():
    r = run("record", "no.such.demo")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "unknown demo(s): no.such.demo" in r.stderr


def test_unknown_image_is_one_clear_line():
    r = run("images", "build", "--only", "windows")
    assert r.returncode == 2 and "unknown image 'windows'" in r.stderr


def test_rootfs_image_builds_offline(tmp_path):
    r = run("images", "build", "--only", "rootfs", env={"VIRTLAB_DATA": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rootfs-busybox" / "bin" / "busybox").exists()
    assert os.readlink(tmp_path / "rootfs-busybox" / "bin" / "sh") == "/bin/busybox"
