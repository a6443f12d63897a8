"""The shared debootstrap step of the LXD Debian image and episode 08's systemd disk: its checks
come before anything runs, and a failed run is one clear error (a stand-in ``debootstrap`` on
PATH plays the failing mirror; nothing is downloaded)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from virtlab import rootfs
from virtlab.bootexp import BootExpError
from virtlab.safety import Deadline


def _fake_debootstrap(tmp_path: Path, script: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "debootstrap"
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)


def test_missing_tool_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(rootfs.MissingTool, match="apt-get install debootstrap"):
        rootfs.debootstrap(tmp_path / "root", ["udev"], Deadline(5), sudo_hint="sudo x")


def test_non_root_gets_the_command_to_run_instead(tmp_path, monkeypatch):
    _fake_debootstrap(tmp_path, "exit 0\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(BootExpError, match="needs root. To fix: `sudo VIRTLAB_BOOT_DISK=1 x`"):
        rootfs.debootstrap(tmp_path / "root", ["udev"], Deadline(5), error=BootExpError,
                           sudo_hint="sudo VIRTLAB_BOOT_DISK=1 x")


@pytest.mark.parametrize("bad", ["", "udev;rm", "a b", "../x"])
def test_package_names_are_checked(tmp_path, monkeypatch, bad):
    _fake_debootstrap(tmp_path, "exit 0\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(ValueError, match="not a Debian package name"):
        rootfs.debootstrap(tmp_path / "root", [bad], Deadline(5), sudo_hint="sudo x")


def test_failed_run_is_one_error_with_the_end_of_its_output(tmp_path, monkeypatch):
    _fake_debootstrap(tmp_path, 'echo "E: Failed getting release file $4" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    mirror, suite = rootfs.apt_source()
    with pytest.raises(BootExpError, match=f"debootstrap {suite} from .* failed: E: Failed getting"):
        rootfs.debootstrap(tmp_path / "root", ["systemd-sysv", "udev"], Deadline(5),
                           error=BootExpError, sudo_hint="sudo x")


def test_success_strips_apts_downloads_and_passes_the_packages(tmp_path, monkeypatch):
    # the stand-in writes its arguments and a downloaded package where debootstrap leaves them
    _fake_debootstrap(tmp_path, 'mkdir -p "$4/var/cache/apt/archives" "$4/var/lib/apt/lists"\n'
                      'echo "$@" > "$4/args"\ntouch "$4/var/cache/apt/archives/x.deb" '
                      '"$4/var/lib/apt/lists/y_Packages"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    root = tmp_path / "root"
    mirror, suite = rootfs.debootstrap(root, ["systemd-sysv", "udev"], Deadline(5), sudo_hint="x")
    assert (root / "args").read_text().split() == [
        "--variant=minbase", "--include=systemd-sysv,udev", suite, str(root), mirror]
    assert not list((root / "var/cache/apt/archives").iterdir())
    assert not list((root / "var/lib/apt/lists").iterdir())
    with pytest.raises(ValueError, match="exists"):
        rootfs.debootstrap(root, [], Deadline(5), sudo_hint="x")
