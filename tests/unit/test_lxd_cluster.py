"""virtlab.lxd.clustering and virtlab.lxd.cluster without a daemon: the preseeds (and that the
package's copy is the shipped file), join tokens, validation, the known-unchecked LXD releases,
which processes count as a throwaway cluster's, and setup_learner's refusal of an unchecked
cluster. The real cluster: tests/live/test_lxd_cluster_live.py."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from virtlab.lxd import cluster as lc
from virtlab.lxd import clustering
from virtlab.safety import Deadline

REPO = Path(__file__).resolve().parents[2]


def test_the_package_preseed_is_the_shipped_file():
    yaml = pytest.importorskip("yaml")
    shipped = yaml.safe_load((REPO / "labs/classroom/lxd-cluster-preseed.yaml").read_text())
    assert shipped == clustering.PRESEED


def test_bootstrap_preseed_sets_this_members_name_and_address_only():
    pre = clustering.bootstrap_preseed(clustering.PRESEED, name="vl-member-1",
                                       address="127.0.0.1:8443")
    assert pre["config"]["core.https_address"] == pre["config"]["cluster.https_address"] \
        == "127.0.0.1:8443"
    assert pre["cluster"] == {"server_name": "vl-member-1", "enabled": True}
    assert pre["storage_pools"] == clustering.PRESEED["storage_pools"]
    assert clustering.PRESEED["config"]["core.https_address"] == "10.0.0.11:8443"  # not mutated


@pytest.mark.parametrize("template, match", [
    ({"cluster": {"enabled": False}}, "clustering"),
    ({**clustering.PRESEED, "storage_pools": [{"name": "other", "driver": "dir"}]}, "pools"),
])
def test_bootstrap_preseed_refuses_a_template_that_cannot_work(template, match):
    with pytest.raises(ValueError, match=match):
        clustering.bootstrap_preseed(template, name="m1", address="127.0.0.1:8443")


@pytest.mark.parametrize("address", ["10.0.0.11:8443", "127.0.0.1", "127.0.0.0:8443",
                                     "127.0.0.1:70000", "127.0.0.1:8443; rm -rf /", 8443])
def test_only_loopback_addresses(address):
    with pytest.raises(ValueError, match="loopback"):
        clustering.loopback_address(address)


@pytest.mark.parametrize("name", ["", "M1", "1m", "m_1", "m-", "a" * 70, None])
def test_member_names_are_checked(name):
    with pytest.raises(ValueError, match="member name"):
        clustering.member_name(name)


def test_join_token_is_what_lxc_cluster_add_prints():
    meta = {"serverName": "vl-member-2", "fingerprint": "ab" * 32, "addresses": ["127.0.0.1:8443"],
            "secret": "s3cret", "expiresAt": "2030-01-01T00:00:00Z"}
    tok = json.loads(base64.b64decode(clustering.join_token(meta)))
    assert tok == {"server_name": "vl-member-2", "fingerprint": "ab" * 32,
                   "addresses": ["127.0.0.1:8443"], "secret": "s3cret",
                   "expires_at": "2030-01-01T00:00:00Z"}
    with pytest.raises(clustering.ClusterError, match="secret"):
        clustering.join_token({k: v for k, v in meta.items() if k != "secret"})


def test_join_preseed_validates():
    pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
    pre = clustering.join_preseed(name="vl-member-2", address="127.0.0.2:8443",
                                  cluster_address="127.0.0.1:8443", certificate=pem, token="t")
    assert pre["cluster"]["member_config"] == [
        {"entity": "storage-pool", "name": "default", "key": "source", "value": ""}]
    with pytest.raises(ValueError, match="PEM"):
        clustering.join_preseed(name="m2", address="127.0.0.2:8443",
                                cluster_address="127.0.0.1:8443", certificate="x", token="t")
    with pytest.raises(ValueError, match="token"):
        clustering.join_preseed(name="m2", address="127.0.0.2:8443",
                                cluster_address="127.0.0.1:8443", certificate=pem, token="")


@pytest.mark.parametrize("server, version, unchecked", [
    ("lxd", "5.0.2", True), ("lxd", "5.0.6", True), ("lxd", "5.0.7", False),
    ("lxd", "5.21.2", True), ("lxd", "5.21.3", False), ("lxd", "6.1", True), ("lxd", "6.2", False),
    ("lxd", "4.0.9", False), ("incus", "0.5.1", True), ("incus", "6.0.0", False),
])
def test_known_unchecked_releases(server, version, unchecked):
    assert clustering.unchecked_creation(server, version) is unchecked


def test_a_version_must_be_one():
    with pytest.raises(ValueError, match="version"):
        clustering.unchecked_creation("lxd", "unknown")


@pytest.mark.parametrize("kwargs, match", [
    ({"members": 0}, "cluster members"), ({"members": 6}, "cluster members"),
    ({"timeout": 1}, "timeout"), ({"base": Path("relative")}, "absolute"),
    ({"base": Path("/nonexistent-vl-dir")}, "existing"),
    ({"preseed": {"cluster": {}}}, "clustering"),
    ({"server": "docker"}, "server"), ({"server": "LXD"}, "server"), ({"server": None}, "server"),
])
def test_local_cluster_validates_before_starting_anything(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lc.LocalCluster(**kwargs)


def test_the_two_servers_differ_only_where_clustering_says():
    lxd, incus = clustering.cluster_server("lxd"), clustering.cluster_server("incus")
    assert (lxd.key, lxd.daemon.dir_env, lxd.binary, lxd.init) == (
        "lxd", "LXD_DIR", "lxd", ("lxd", "init", "--preseed"))
    assert (incus.key, incus.daemon.dir_env, incus.binary, incus.init) == (
        "incus", "INCUS_DIR", "incusd", ("incus", "admin", "init", "--preseed"))
    assert incus.fallback == "/usr/libexec/incus/incusd"  # Debian keeps incusd off PATH
    assert (lxd.log_name, incus.log_name) == ("lxd.log", "incusd.log")


def test_each_members_environment_names_its_own_directory_only(tmp_path):
    for server, var, other in (("lxd", "LXD_DIR", "INCUS_DIR"), ("incus", "INCUS_DIR", "LXD_DIR")):
        cl = lc.LocalCluster(server=server)
        cl.root = tmp_path
        env = cl._env(lc.Member("vl-member-1", "127.0.0.1:8443", tmp_path / "m1"))
        assert env[var] == str(tmp_path / "m1") and other not in env
        assert env[lc.ENV_MARKER] == str(tmp_path)


def test_a_missing_daemon_is_named_with_its_package(monkeypatch):
    monkeypatch.setattr(clustering.shutil, "which", lambda tool: None)
    monkeypatch.setattr(clustering.os, "access", lambda path, mode: False)
    for server, binary, pkg in (("lxd", "lxd", "lxd"), ("incus", "incusd", "incus-base")):
        kind = clustering.cluster_server(server)
        assert not kind.installed()
        with pytest.raises(clustering.ClusterError, match=f"{binary} is not installed.*{pkg}"):
            kind.tools()
    # incusd found off PATH, the `incus` client missing: named with its package
    monkeypatch.setattr(clustering.os, "access", lambda path, mode: True)
    with pytest.raises(clustering.ClusterError, match="incus is not installed.*incus-client"):
        clustering.cluster_server("incus").tools()


def test_local_cluster_refuses_a_base_too_long_for_unix_sockets(tmp_path):
    deep = tmp_path / ("d" * 60)
    deep.mkdir()
    with pytest.raises(ValueError, match="too long"):
        lc.LocalCluster(base=deep)


def test_starting_needs_root_and_makes_nothing(monkeypatch):
    monkeypatch.setattr(lc.os, "geteuid", lambda: 1000)
    cl = lc.LocalCluster()
    with pytest.raises(lc.ClusterError, match="root"), cl:
        pass
    assert cl.root is None and cl.nodes == [] and cl.close() == []


def test_our_processes_are_only_those_naming_our_directory(tmp_path):
    root = tmp_path / "vlc-test"
    root.mkdir()
    sibling = tmp_path / "vlc-test2"  # a name that merely starts like ours is not ours
    code = "import time; time.sleep(30)"
    env = {**os.environ}
    ours = subprocess.Popen([sys.executable, "-c", code],
                            env={**env, lc.ENV_MARKER: str(root)})
    by_incus_dir = subprocess.Popen([sys.executable, "-c", code],
                                    env={**env, "INCUS_DIR": str(root / "m2")})
    by_arg = subprocess.Popen([sys.executable, "-c", code, str(root / "m1")], env=env)
    not_ours = subprocess.Popen([sys.executable, "-c", code, str(sibling)],
                                env={**env, lc.ENV_MARKER: str(sibling)})
    try:
        def found() -> set[int]:
            pids = {p.pid for p in lc.our_processes(root)}
            return pids if {ours.pid, by_arg.pid, by_incus_dir.pid} <= pids else set()

        pids = Deadline(10, "our test processes show up").wait_for(found, interval=0.1)
        assert not_ours.pid not in pids
        assert os.getpid() not in pids
    finally:
        for p in (ours, by_arg, by_incus_dir, not_ours):
            p.kill()
            p.wait(timeout=10)
    with pytest.raises(ValueError):
        lc.our_processes(Path("/"))
    assert lc.mounts_below(root) == []


def test_setup_learner_refuses_an_unchecked_cluster(monkeypatch, tmp_path):
    from virtlab import classroom, lxd

    calls = []
    admin = SimpleNamespace(host_info={"environment": {
        "server": "lxd", "server_version": "5.0.2", "server_clustered": True}},
        api=SimpleNamespace(projects=SimpleNamespace(get=lambda: calls.append("projects"))))
    monkeypatch.setattr(classroom.os, "geteuid", lambda: 0)
    monkeypatch.setattr(lxd, "connect", lambda **kw: admin)
    with pytest.raises(classroom.ClassroomError, match="privileged container"):
        classroom.setup_learner("nobody", state_dir=tmp_path)
    assert calls == []  # refused before anything was made


def test_setup_learner_accepts_a_fixed_incus_cluster(monkeypatch, tmp_path):
    from virtlab import classroom, lxd

    calls = []

    class Reached(Exception):
        pass

    def projects_get():
        calls.append("projects")
        raise Reached  # past the cluster check: setting up has begun

    admin = SimpleNamespace(host_info={"environment": {
        "server": "incus", "server_version": "6.0.4", "server_clustered": True}},
        api=SimpleNamespace(projects=SimpleNamespace(get=projects_get)))
    monkeypatch.setattr(classroom.os, "geteuid", lambda: 0)
    monkeypatch.setattr(lxd, "connect", lambda **kw: admin)
    with pytest.raises(Reached):
        classroom.setup_learner("nobody", state_dir=tmp_path)
    assert calls == ["projects"]


def test_a_cluster_is_stale_only_once_its_owner_is_gone(tmp_path, monkeypatch):
    """`virtlab cleanup` removes throwaway clusters a crash left — never one a running test owns."""
    import tempfile

    import psutil

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))

    def layout(name: str, owner: str | None) -> Path:
        d = tmp_path / name
        (d / "m1").mkdir(parents=True)
        (d / "netns").touch()
        if owner is not None:
            (d / "owner").write_text(owner)
        return d

    me = psutil.Process()
    in_use = layout("vlc-inuse", f"{me.pid} {me.create_time()}\n")
    dead = layout("vlc-dead", f"{2**22 + 7} 1.0\n")  # no such pid
    recycled = layout("vlc-recycled", f"{me.pid} {me.create_time() - 100}\n")  # pid reused since
    no_owner = layout("vlc-old", None)
    (tmp_path / "vlc-notours").mkdir()  # not a cluster's layout
    assert clustering.stale_roots() == sorted([dead, recycled, no_owner])
    assert in_use not in clustering.stale_roots()
