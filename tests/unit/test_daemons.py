"""virtlab.daemons: which LXD/Incus socket the course tries, and the one switch that picks."""

from __future__ import annotations

import pytest

from virtlab import daemons, probe


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("VIRTLAB_CONTAINER_DAEMON", "LXD_DIR", "INCUS_DIR"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_both_daemons_snap_included_lxd_first(clean_env):
    socks = [s for _, s in daemons.socket_candidates()]
    assert socks == ["/var/lib/lxd/unix.socket", "/var/snap/lxd/common/lxd/unix.socket",
                     "/var/lib/incus/unix.socket"]
    assert probe.lxd_socket_candidates() == socks


def test_env_var_picks_one_daemon(clean_env):
    clean_env.setenv("VIRTLAB_CONTAINER_DAEMON", "Incus")
    assert daemons.socket_candidates() == [(daemons.INCUS, "/var/lib/incus/unix.socket")]
    clean_env.setenv("VIRTLAB_CONTAINER_DAEMON", "lxd")
    assert {d for d, _ in daemons.socket_candidates()} == {daemons.LXD}


def test_env_var_with_its_dir_comes_first(clean_env, tmp_path):
    clean_env.setenv("VIRTLAB_CONTAINER_DAEMON", "incus")
    clean_env.setenv("INCUS_DIR", str(tmp_path))
    clean_env.setenv("LXD_DIR", "/somewhere/else")  # LXD's directory is not Incus's business
    assert [s for _, s in daemons.socket_candidates()] == [str(tmp_path / "unix.socket"),
                                                             "/var/lib/incus/unix.socket"]


@pytest.mark.parametrize("var", ["LXD_DIR", "INCUS_DIR"])
def test_an_explicit_directory_is_never_second_guessed(clean_env, tmp_path, var):
    clean_env.setenv(var, str(tmp_path))
    assert [s for _, s in daemons.socket_candidates()] == [str(tmp_path / "unix.socket")]


def test_unknown_daemon_name_is_an_error_that_says_the_choices(clean_env):
    clean_env.setenv("VIRTLAB_CONTAINER_DAEMON", "docker")
    with pytest.raises(ValueError, match="lxd, incus"):
        daemons.wanted()
    assert not probe.lxd(refresh=True).reachable
    probe.lxd(refresh=True)


def test_server_names_map_to_daemons():
    assert daemons.by_server("incus") is daemons.INCUS
    assert daemons.by_server("lxd") is daemons.LXD
    with pytest.raises(LookupError, match="neither LXD nor Incus"):
        daemons.by_server("podman")


def test_differences_are_named_once_and_lxd_is_the_baseline():
    keys = [d.key for d in daemons.INCUS.differences]
    assert len(keys) == len(set(keys)) and "wait-timeout-is-error" in keys
    assert daemons.LXD.differences == ()
    assert "incus-daemon.sh" in daemons.INCUS.start_hint and "--incus" in daemons.INCUS.start_hint
    assert "group incus-admin" in daemons.INCUS.group_hint


def test_container_daemons_lists_every_candidate_and_never_raises(clean_env, tmp_path):
    clean_env.setenv("LXD_DIR", str(tmp_path))
    (tmp_path / "unix.socket").touch()  # a file, nobody listening
    rows = probe.container_daemons(timeout=1)
    assert rows[0]["socket"] == str(tmp_path / "unix.socket")
    assert rows[0]["exists"] and rows[0]["server"] is None and rows[0]["error"]
    assert {r["socket"] for r in rows} >= {"/var/snap/lxd/common/lxd/unix.socket",
                                           "/var/lib/incus/unix.socket"}
