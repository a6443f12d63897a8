"""virtlab.lxd without a daemon: validation, clear errors, the image builder, the views.

Error paths use real sockets where possible (a socket nobody listens on, a fake server that is
not LXD, a server that never answers); mocks only where the real condition cannot be made here
(permission denied while running as root).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from virtlab import OWNER_KEY, OWNER_VALUE, daemons, lxd, modes, rootfs
from virtlab.checks import ep04
from virtlab.safety import course_name

BAD_NAMES = ["Web", "web_1", "x" * 70, "web;rm -rf /", "web$(id)", "web 1", "-web", "web-", ""]


@pytest.fixture
def tmp_path():
    """A short folder: a unix socket's path must fit in 107 bytes, and pytest's own tmp_path under
    tools/test.sh's private TMPDIR and an xdist worker's folder does not (a learner's run failed)."""
    d = Path(tempfile.mkdtemp(prefix="vl-t-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def no_daemon(patch_pkg):
    """Make any attempt to reach LXD fail loudly: validation must come first."""
    def boom(*a, **k):
        raise AssertionError("LXD was contacted before the input was validated")

    patch_pkg(lxd, "connect", boom)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_refused_before_anything_is_created(no_daemon, name):
    with pytest.raises(ValueError, match="name"):
        lxd.create(name)
    with pytest.raises(ValueError, match="name"):
        lxd.launch(name)


@pytest.mark.parametrize("kwargs, word", [
    ({"memory": "64 potatoes"}, "memory"),
    ({"memory": "1KiB"}, "out of range"),
    ({"memory": "100TiB"}, "memory"),
    ({"memory": True}, "memory"),
    ({"cpu": 0}, "cpu"),
    ({"cpu": 4096}, "cpu"),
    ({"cpu": 1.5}, "cpu"),
    ({"processes": 5}, "process"),
    ({"processes": "lots"}, "process"),
    ({"privileged": "yes"}, "privileged"),
    ({"config": {"limits.memory": "1GiB"}}, "limits"),
    ({"config": {OWNER_KEY: "someone-else"}}, "virtlab"),
    ({"config": {"security.nesting": True}}, "strings"),
])
def test_bad_limits_refused_before_anything_is_created(no_daemon, kwargs, word):
    with pytest.raises(ValueError, match=word):
        lxd.create("web", **kwargs)


@pytest.mark.parametrize("kwargs, word", [
    ({"name": "Cow"}, "name"),
    ({"driver": "dir"}, "copy-on-write"),
    ({"driver": "ext4"}, "copy-on-write"),
    ({"size": "1MiB"}, "out of range"),
    ({"size": "100GiB"}, "out of range"),
])
def test_bad_pools_refused_before_anything_is_created(no_daemon, kwargs, word):
    args = {"name": "cow", **kwargs}
    with pytest.raises(ValueError, match=word):
        lxd.create_pool(args.pop("name"), **args)


@pytest.mark.parametrize("pool", ["Default", "a/b", "", "x" * 50, 3])
def test_bad_pool_name_for_an_instance(no_daemon, pool):
    with pytest.raises(ValueError, match="pool"):
        lxd.create("web", pool=pool)


def test_limits_config_and_defaults():
    cfg = lxd.limits("64MiB", 1, 50).config()
    assert cfg["limits.memory"] == "64MiB"
    assert cfg["limits.processes"] == "50"
    assert cfg["limits.cpu"] == "1"
    assert cfg["limits.memory.swap"] == "false"
    assert lxd.limits(100_000_000).config()["limits.memory"] == "100000000"
    d = lxd.limits()
    assert d.memory == 128 * 1024**2 and d.cpu == 1 and d.processes == 200


def test_unique_names_are_course_names():
    a, b = lxd.unique_name("t"), lxd.unique_name("t")
    assert a != b and a.startswith("vl-t-")


def test_owned_needs_prefix_and_key():
    assert lxd._owned({"name": "vl-a", "config": {OWNER_KEY: OWNER_VALUE}})
    assert not lxd._owned({"name": "vl-a", "config": {}})
    assert not lxd._owned({"name": "web", "config": {OWNER_KEY: OWNER_VALUE}})
    assert not lxd._owned({"name": "vl-a", "config": {OWNER_KEY: "other"}})


@pytest.mark.parametrize("cmd", ["uname -r", [], ["ls", 3], None])
def test_exec_wants_a_list_of_strings(cmd):
    with pytest.raises(ValueError, match="list"):
        lxd.Instance(None, "vl-x").exec(cmd)


@pytest.mark.parametrize("snap", ["", "a b", "a/b", "-x", "x" * 41, "snäp"])
def test_bad_snapshot_names(snap):
    with pytest.raises(ValueError, match="snapshot name"):
        lxd._snap_name(snap)


# --------------------------------------------------------------------------- connect errors
def test_no_socket_says_start_the_daemon(monkeypatch, tmp_path):
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    with pytest.raises(lxd.LxdUnavailable, match="not running.*provision"):
        lxd.connect()


def test_permission_denied_says_join_group(monkeypatch, tmp_path):
    sock = tmp_path / "unix.socket"
    sock.touch()
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # root can open anything
    with pytest.raises(lxd.LxdUnavailable, match="group lxd.*log in again"):
        lxd.connect()


def test_dead_socket_is_a_clear_error_at_once(monkeypatch, tmp_path):
    path = tmp_path / "unix.socket"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the file stays, nobody listens: like a crashed daemon
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    t = time.monotonic()
    with pytest.raises(lxd.LxdUnavailable, match="stopped or hung.*lxd-daemon.sh start"):
        lxd.connect()
    assert time.monotonic() - t < 5


def _serve(path: Path, reply: bytes | None) -> threading.Thread:
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(4)

    def run() -> None:
        conns = []
        srv.settimeout(10)
        try:
            while True:
                c, _ = srv.accept()
                conns.append(c)
                c.recv(65536)
                if reply is not None:
                    c.sendall(reply)
                    c.close()
        except OSError:
            pass
        finally:
            for c in conns:
                c.close()
            srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _http(body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(data)).encode() + b"\r\nConnection: close\r\n\r\n" + data)


def _server(server: str, auth: str = "trusted") -> bytes:
    return _http({"type": "sync", "status_code": 200, "metadata": {
        "auth": auth, "api_extensions": [], "environment": {"server": server,
                                                            "server_version": "6.0.4"}}})


def test_unknown_server_is_named(monkeypatch, tmp_path):
    _serve(tmp_path / "unix.socket", _server("docker"))
    monkeypatch.delenv("VIRTLAB_CONTAINER_DAEMON", raising=False)
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    with pytest.raises(lxd.LxdUnavailable, match="'docker': neither LXD nor Incus"):
        lxd.connect()


def test_incus_is_driven_and_named(monkeypatch, tmp_path):
    _serve(tmp_path / "unix.socket", _server("incus"))
    monkeypatch.delenv("VIRTLAB_CONTAINER_DAEMON", raising=False)
    monkeypatch.delenv("LXD_DIR", raising=False)
    monkeypatch.setenv("INCUS_DIR", str(tmp_path))
    client = lxd.connect()
    d = lxd.daemon_of(client)
    assert (d.key, d.cli, d.group) == ("incus", "incus", "incus-admin")
    assert d.has(daemons.WAIT_TIMEOUT_IS_ERROR) and not daemons.LXD.has(daemons.WAIT_TIMEOUT_IS_ERROR)


def test_daemon_other_than_the_one_asked_for_is_refused(monkeypatch, tmp_path):
    _serve(tmp_path / "unix.socket", _server("incus"))
    monkeypatch.setenv("VIRTLAB_CONTAINER_DAEMON", "lxd")
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    with pytest.raises(lxd.LxdUnavailable, match="is Incus, but VIRTLAB_CONTAINER_DAEMON=lxd"):
        lxd.connect()


def test_untrusted_incus_client_is_told_to_join_incus_admin(monkeypatch, tmp_path):
    _serve(tmp_path / "unix.socket", _server("incus", auth="untrusted"))
    monkeypatch.delenv("VIRTLAB_CONTAINER_DAEMON", raising=False)
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    with pytest.raises(lxd.LxdUnavailable, match="Incus on .* does not trust us.*group incus-admin"):
        lxd.connect()


def test_untrusted_client_is_told_to_join_group(monkeypatch, tmp_path):
    _serve(tmp_path / "unix.socket", _http({"type": "sync", "status_code": 200, "metadata": {
        "auth": "untrusted", "api_extensions": [], "environment": {}}}))
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    with pytest.raises(lxd.LxdUnavailable, match="does not trust us.*group lxd"):
        lxd.connect()


def test_hung_daemon_times_out_with_a_clear_error(monkeypatch, tmp_path):
    _serve(tmp_path / "unix.socket", None)  # accepts, never answers
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    t = time.monotonic()
    with pytest.raises(lxd.LxdUnavailable, match="stopped or hung"):
        lxd.connect(timeout=1)
    assert time.monotonic() - t < 5


def test_cleanup_without_daemon_removes_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    assert lxd.cleanup() == []


# --------------------------------------------------------------------------- image builder
def test_busybox_image_tarball(tmp_path):
    try:
        rootfs.busybox_path()
    except rootfs.MissingTool:
        pytest.skip("no static busybox here")
    tb = lxd._busybox_image_tarball(tmp_path / "img.tar.gz")
    assert tb.stat().st_size < 3 * 1024**2
    with tarfile.open(tb) as tar:
        names = tar.getnames()
        meta = tar.extractfile("metadata.yaml").read().decode()
        busybox = tar.getmember("rootfs/bin/busybox")
        sh = tar.getmember("rootfs/bin/sh")
        inittab = tar.extractfile("rootfs/etc/inittab").read().decode()
    meta = yaml.safe_load(meta)  # as LXD reads it
    assert meta["properties"]["virtlab.owner"] == OWNER_VALUE
    assert meta["architecture"] == os.uname().machine and isinstance(meta["creation_date"], int)
    assert busybox.uid == 0 and busybox.gid == 0 and busybox.mode & 0o111
    assert sh.issym() and sh.linkname == "/bin/busybox"
    assert "rootfs/sbin/init" in names
    assert "askfirst" not in inittab  # no getty on a console that does not exist


YAML_NASTY = 'a: b # not a comment\n- "quoted" \\ {flow} [seq] &anchor *alias !tag %pct @at `tick`\tend: ü'


def test_image_metadata_round_trips_yaml_metacharacters():
    text = lxd.image_metadata({"description": YAML_NASTY, "name: x": "- y"}, created=1700000000)
    meta = yaml.safe_load(text)
    assert meta == {"architecture": os.uname().machine, "creation_date": 1700000000,
                    "properties": {"description": YAML_NASTY, "name: x": "- y"}, "templates": {}}


def test_built_image_metadata_round_trips_a_strange_busybox_path(tmp_path, monkeypatch):
    """The builder writes the busybox path into the image properties: whatever it holds comes
    back unchanged when the metadata is read as YAML."""
    try:
        real = rootfs.busybox_path()
    except rootfs.MissingTool:
        pytest.skip("no static busybox here")
    odd = tmp_path / 'bin: "x" #y\nz \\ {w}' / "busybox"
    odd.parent.mkdir()
    shutil.copy2(real, odd)
    monkeypatch.setattr(rootfs, "BUSYBOX_CANDIDATES", (str(odd),))
    tb = lxd._busybox_image_tarball(tmp_path / "img.tar.gz")
    with tarfile.open(tb) as tar:
        meta = yaml.safe_load(tar.extractfile("metadata.yaml").read().decode())
    assert meta["properties"]["virtlab.built_by"] == f"virtlab.lxd.build_images from {odd}"


# --------------------------------------------------------------------------- views & checks
SHOWS = {"lxd.server": lxd.show_server, "lxd.launch": lxd.show_launch,
         "lxd.uidmap": lxd.show_uidmap, "lxd.oom": lxd.show_oom,
         "lxd.snapshot": lxd.show_snapshot, "lxd.storage": lxd.show_storage,
         "lxd.lifecycle": lxd.show_lifecycle, "lxd.cow": lxd.show_cow,
         "lxd.fullos": lxd.show_fullos}


@pytest.mark.parametrize("key", sorted(SHOWS))
def test_every_demo_is_recorded_and_shows(monkeypatch, capsys, key):
    monkeypatch.setenv("VIRTLAB_MODE", "recorded")
    assert key in modes.demos()
    rec = modes.load_recording(key)
    assert rec["provenance"]["command"] == f"virtlab record {key}"
    assert rec["provenance"]["host"]["kernel"]
    r = modes.run(key)
    assert r.recorded
    SHOWS[key](r)
    out = capsys.readouterr().out
    assert "RECORDED, not live" in out
    assert len(out.splitlines()) >= 3


def test_recorded_facts_the_notebook_relies_on():
    oom = modes.load_recording("lxd.oom")["data"]
    assert oom["exit_code"] == 137 and oom["after"] == "still alive"
    uid = modes.load_recording("lxd.uidmap")["data"]
    assert uid["unprivileged"]["host_uid"] != 0 and uid["privileged"]["host_uid"] == 0
    cow = modes.load_recording("lxd.cow")["data"]
    assert cow["btrfs"] and cow["btrfs"][1]["bytes"] < cow["dir"][1]["bytes"] / 2
    launch = modes.load_recording("lxd.launch")["data"]
    assert launch["inside"]["uname -r"].strip() == launch["host_uname_r"]
    assert "init" in launch["inside"]["ps"]


def test_fullos_recording_is_a_system_container(capsys):
    d = modes.load_recording("lxd.fullos")["data"]
    assert d["available"] and d["pid1"] == "systemd" and d["kernel_inside"] == d["host_kernel"]
    lxd.show_fullos(modes.Result("lxd.fullos", modes.Backend("lxd", "live", "x"),
                                 {"available": False, "hint": "build it with this"}))
    assert capsys.readouterr().out == "build it with this\n"


def test_apt_source_is_a_debian_mirror():
    url, suite = lxd._apt_source()
    assert url.startswith(("http://", "https://")) and "security" not in url and suite


def test_lifecycle_table_order(monkeypatch):
    monkeypatch.setenv("VIRTLAB_MODE", "recorded")
    tab = lxd.lifecycle_table(modes.run("lxd.lifecycle", quiet=True))
    assert list(tab.index) == list(lxd.PHASES)
    assert (tab.to_numpy() > 0).all()


def test_checks_in_recorded_mode(monkeypatch, capsys):
    monkeypatch.setenv("VIRTLAB_MODE", "recorded")
    assert ep04.check_web() is False
    assert "not live" in capsys.readouterr().out
    assert ep04.check_snapshot() is False
    assert ep04.check_root_uid(None) is False
    assert ep04.check_root_uid("abc") is False
    want = modes.load_recording("lxd.uidmap")["data"]["unprivileged"]["host_uid"]
    assert ep04.check_root_uid(str(want)) is True
    assert ep04.check_root_uid(0) is False
    assert "privileged" in capsys.readouterr().out
    lxd.tidy("web")
    assert "not live" in capsys.readouterr().out


# --------------------------------------------------------------------------- demanded live
# Where live was demanded (VIRTLAB_MODE=live, `virtlab record`) a demo must not degrade: a part
# it cannot run is an error. Only the missing part is faked (this is the error path).
FORCED = modes.Backend("lxd", "live", "test", forced=True)
BEST = modes.Backend("lxd", "live", "test")  # auto: live was only the best mode


class _FakeClient:
    """What the demos ask of the client: which daemon it is."""
    host_info = {"environment": {"server": "lxd", "server_version": "5.0.2"}}


class _FakeInstance:
    def __init__(self, name: str) -> None:
        self.name = course_name(name)
        self.client = _FakeClient()

    def __enter__(self) -> _FakeInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    # what a learner without root gets from a running container
    def exec(self, cmd: list[str]) -> lxd.ExecResult:
        return lxd.ExecResult(0, "out\n", "")

    def state(self) -> lxd.InstanceState:
        return lxd.InstanceState(self.name, "Running", 4242, 1, 1, 1, {"memory": "/lxc/x"})

    def namespaces(self) -> dict[str, dict[str, object]]:
        return {"pid": {"container": None, "host": "pid:[1]", "shared": None}}

    def host_ids(self) -> dict[str, object]:
        return {"pid": 4242}


@pytest.fixture
def lxd_without_debian_image(patch_pkg):
    patch_pkg(lxd, "connect", lambda: object())
    patch_pkg(lxd, "_image_exists", lambda client, alias: False)


def test_launch_without_the_namespaces_fails_when_live_is_demanded(patch_pkg):
    patch_pkg(lxd, "instance", lambda name, **kw: _FakeInstance(name))
    with pytest.raises(modes.CapabilityMissing, match="can only be read by root"):
        lxd.demo_launch(FORCED)
    assert lxd.demo_launch(BEST)["namespaces"]["pid"]["container"] is None


def test_fullos_without_its_image_fails_when_live_is_demanded(lxd_without_debian_image):
    with pytest.raises(modes.CapabilityMissing, match="vl-debian is not built"):
        lxd.demo_fullos(FORCED)
    assert lxd.demo_fullos(BEST)["available"] is False  # auto: the view says what is missing


@pytest.fixture
def lxd_without_btrfs(patch_pkg, tmp_path):
    patch_pkg(lxd, "connect", lambda: object())
    patch_pkg(lxd, "pool_path", lambda client=None, pool="default": tmp_path)

    def instance(name: str, **kw: object) -> _FakeInstance:
        inst = _FakeInstance(name)
        (tmp_path / "containers" / inst.name / "rootfs" / "bin").mkdir(parents=True, exist_ok=True)
        return inst

    patch_pkg(lxd, "instance", instance)

    def no_btrfs(*a, **kw):
        raise LookupError("mkfs.btrfs is not installed")

    patch_pkg(lxd, "cow_pool", no_btrfs)


def test_cow_without_btrfs_fails_when_live_is_demanded(lxd_without_btrfs):
    with pytest.raises(modes.CapabilityMissing, match="no btrfs pool"):
        lxd.demo_cow(FORCED)
    assert lxd.demo_cow(BEST)["btrfs"] is None


def test_unreadable_pool_fails_when_live_is_demanded(lxd_without_btrfs, monkeypatch):
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # as for a non-root learner
    with pytest.raises(modes.CapabilityMissing, match="can only be read by root"):
        lxd.demo_cow(FORCED)
    assert len(lxd.demo_cow(BEST)["dir"]) == 3  # auto: goes on; the view says root is needed


class _FakeProjects:
    def __init__(self, config: dict) -> None:
        self.config = config

    def __getitem__(self, name: str) -> _FakeProjects:
        return self

    def get(self) -> _FakeProjects:
        return self

    def json(self) -> dict:
        return {"metadata": {"config": self.config}}


def test_privileged_containers_are_refused_only_in_a_restricted_project(monkeypatch):
    """A classroom learner's restricted project forbids privileged containers: the demos that
    need one replay their recording for them (and say why); elsewhere they run live."""
    import types

    from virtlab.lxd import client as lc

    monkeypatch.delenv(lc.PROJECT_ENV, raising=False)
    assert lc.privileged_refused() is None  # the default project
    monkeypatch.setenv(lc.PROJECT_ENV, "vl-learner-x")
    fake = types.SimpleNamespace(api=types.SimpleNamespace(projects=_FakeProjects({"restricted": "true"})))
    assert "vl-learner-x" in lc.privileged_refused(fake)
    fake.api.projects.config["restricted.containers.privilege"] = "allow"
    assert lc.privileged_refused(fake) is None
    fake.api.projects.config["restricted"] = "false"
    del fake.api.projects.config["restricted.containers.privilege"]
    assert lc.privileged_refused(fake) is None


class _BusyThenFine(lxd.Instance):
    """An instance another client is stopping: LXD refuses our stop twice, then it is stopped."""

    def __init__(self, refusals: int, message: str = "Instance is busy running a stop operation"):
        super().__init__(client=None, name="vl-busy")
        self.refusals, self.message, self.deleted, self.stops = refusals, message, 0, 0

    def state(self):
        return lxd.InstanceState(self.name, "Running" if self.refusals else "Stopped", None,
                                 None, None, None)

    def _set_state(self, action, **kw):
        self.stops += 1
        if self.refusals:
            self.refusals -= 1
            raise lxd.LxdError(f"stop {self.name}: {self.message}")

    @property
    def _node(self):
        outer = self

        class Node:
            def delete(self, timeout=None):
                outer.deleted += 1

        return Node()


def test_delete_waits_out_another_clients_operation(monkeypatch):
    from virtlab.lxd import handle

    monkeypatch.setattr(handle, "_wait", lambda *a, **k: None)
    inst = _BusyThenFine(refusals=2)
    inst.delete(timeout=10)
    assert inst.stops == 2 and inst.deleted == 1  # refused twice, then seen stopped: deleted once


def test_delete_does_not_retry_other_errors_and_keeps_its_deadline(monkeypatch):
    from virtlab.lxd import handle

    monkeypatch.setattr(handle, "_wait", lambda *a, **k: None)
    inst = _BusyThenFine(refusals=1, message="Forbidden")
    with pytest.raises(lxd.LxdError, match="Forbidden"):
        inst.delete(timeout=10)
    assert inst.stops == 1 and inst.deleted == 0
    forever = _BusyThenFine(refusals=10**6)
    with pytest.raises(lxd.LxdError, match="busy running"):
        forever.delete(timeout=1)
    assert forever.deleted == 0


@pytest.mark.parametrize("url,name", [
    ("/1.0/instances/vl-snap/snapshots/clean", "clean"),
    ("/1.0/instances/vl-snap/snapshots/clean?project=vl-learner-a", "clean"),  # a project's list
    ("/1.0/projects/vl-learner-a/", "vl-learner-a"),
    ("/1.0/operations/3f2a?project=p", "3f2a"),
    ("/1.0/instances/a%2Fb", "a/b"),
])
def test_url_name_drops_the_project_query(url, name):
    assert lxd.url_name(url) == name


class _PoolClient:
    """LXD's GET /1.0/storage-pools/default as a restricted or an unrestricted client sees it."""

    def __init__(self, config):
        meta = {"driver": "dir", "config": config}

        class Resp:
            def json(self):
                return {"metadata": meta}

        class Pool:
            def get(self, timeout=None):
                return Resp()

        class Api:
            storage_pools = {"default": Pool()}

        self.api = Api()


def test_pool_hidden_from_a_restricted_client_sends_the_storage_demos_to_their_recording():
    assert lxd.pool_hidden(_PoolClient({"source": "/var/lib/lxd/storage-pools/default"})) is None
    why = lxd.pool_hidden(_PoolClient({}))  # a restricted project's certificate sees no source
    assert why and "restricted project" in why
    for key in ("lxd.storage", "lxd.cow"):
        assert modes.demos()[key].requires is not None


def test_incus_restricted_projects_get_no_swap_key():
    from virtlab import daemons

    lim = lxd.limits("64MiB", 1, 100)
    assert lxd.limit_config(lim, daemons.LXD, "vl-learner-a")["limits.memory.swap"] == "false"
    assert "limits.memory.swap" not in lxd.limit_config(lim, daemons.INCUS, "vl-learner-a")
    assert lxd.limit_config(lim, daemons.INCUS, "")["limits.memory.swap"] == "false"  # default project
    assert lxd.limit_config(lim, daemons.INCUS, "vl-learner-a")["limits.memory"] == "64MiB"


def test_connect_asks_for_a_project_only_where_one_is_set(monkeypatch, tmp_path):
    """Debian's python3-pylxd (2.2, what provisioning uses before the venv exists) has no
    ``project`` argument: none is passed unless a project is set; then a clear error."""
    import pylxd

    sock = tmp_path / "unix.socket"
    sock.touch()
    seen = {}

    class Stop(Exception):
        pass

    def old_client(endpoint=None, version="1.0", cert=None, verify=True, timeout=None):
        seen["called"] = True
        raise Stop

    monkeypatch.setattr(pylxd, "Client", old_client)
    monkeypatch.delenv("VIRTLAB_LXD_PROJECT", raising=False)
    with pytest.raises(Stop):
        lxd.connect(socket_file=str(sock))
    assert seen["called"]
    monkeypatch.setenv("VIRTLAB_LXD_PROJECT", "vl-learner-a")
    with pytest.raises(lxd.LxdUnavailable, match="knows no LXD projects.*make lab"):
        lxd.connect(socket_file=str(sock))
