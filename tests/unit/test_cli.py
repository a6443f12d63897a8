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


def test_tested_on_where_jupyterlab_is_not_installed(monkeypatch, capsys):
    from virtlab import cli

    monkeypatch.setitem(sys.modules, "jupyterlab", None)  # `import jupyterlab` now fails
    assert cli.main(["doctor", "--tested-on"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Tested on: ") and "JupyterLab not installed" in out


def test_missing_tool_is_one_clear_line(monkeypatch, tmp_path, capsys):
    from virtlab import cli, rootfs

    monkeypatch.setenv("VIRTLAB_DATA", str(tmp_path))
    monkeypatch.setattr(rootfs, "BUSYBOX_CANDIDATES", (str(tmp_path / "no-busybox"),))
    # nor one set-up fetched into the user's cache
    monkeypatch.setattr(rootfs, "fetched_busybox", lambda: tmp_path / "no-fetched-busybox")
    assert cli.main(["images", "build", "--only", "rootfs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("virtlab: a static busybox is needed") and err.count("\n") == 1, err


def test_every_virtlab_exception_is_a_virtlab_error():
    """The CLI turns a VirtlabError into one line; an exception class outside the tree would
    surface as a traceback."""
    import importlib
    import inspect
    import pkgutil

    import virtlab
    from virtlab.safety import VirtlabError

    outside = []
    for mod in pkgutil.walk_packages(virtlab.__path__, "virtlab."):
        try:
            m = importlib.import_module(mod.name)
        except ImportError:  # an optional dependency (libvirt, pylxd) is not installed
            continue
        for name, obj in inspect.getmembers(m, inspect.isclass):
            if (obj.__module__ == mod.name and issubclass(obj, Exception)
                    and not issubclass(obj, VirtlabError)):
                outside.append(f"{mod.name}.{name}")
    assert outside == []
