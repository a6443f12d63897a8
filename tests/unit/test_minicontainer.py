"""Unit tests of virtlab.minicontainer: validation before anything is created."""

from __future__ import annotations

import pytest

from virtlab import cgroups, minicontainer


@pytest.mark.parametrize("kw", [dict(memory="-5MiB"), dict(pids=-1), dict(cpu="fast"),
                                dict(hostname="no spaces please")])
def test_bad_settings_create_nothing(kw):
    with pytest.raises(ValueError):
        minicontainer.Container("t3-unit-c", limits=False, **kw)
    assert "vl-t3-unit-c" not in minicontainer.running()
    assert not cgroups.course_cgroup_dirs("vl-t3-unit-c")


def test_bad_rootfs(tmp_path):
    with pytest.raises(ValueError, match="root filesystem"):
        minicontainer.Container("t3-unit-c", rootfs_dir=tmp_path, limits=False)


def test_bad_name():
    with pytest.raises(ValueError):
        minicontainer.Container("Not OK")


def test_run_outside_with_is_an_error():
    c = minicontainer.Container("t3-unit-c", limits=False)
    with pytest.raises(minicontainer.ContainerError, match="not running"):
        c.run(["true"])


def test_pivot_root_refuses_non_mountpoint(tmp_path):
    # not a mount point (and we are in the host's mount namespace): the kernel says no
    with pytest.raises(OSError):
        minicontainer.pivot_root(str(tmp_path), str(tmp_path))
