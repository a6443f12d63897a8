"""virtlab.lxd against the real LXD or Incus daemon (provisioned by labs/lab-vm/provision.sh;
``VIRTLAB_CONTAINER_DAEMON=incus`` runs the same tests against Incus: tools/test_incus.sh).

Every instance these tests create is named ``vl-lt<run>-...`` (``RUN``), so a concurrent run by
someone else is never touched; the module ends by asserting none of ours is left. The fault test
kills and restarts the daemon: it runs in CI (CI=true) or with VIRTLAB_LXD_FAULT_TEST=1.
``test_full_cleanup_spares_foreign_containers`` runs `virtlab cleanup` — every module's cleanup,
so every course resource on the host (LXD, Incus, libvirt, cgroups, netns): CI only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from virtlab import OWNER_KEY, OWNER_VALUE, daemons, lxd, probe
from virtlab.safety import Deadline, DeadlineExceeded, course_name

pytestmark = pytest.mark.live

RUN = f"lt{secrets.token_hex(2)}"
REPO = Path(__file__).resolve().parents[2]
#: the pid file of the daemon scripts (labs/lab-vm/<daemon>-daemon.sh)
PIDFILES = {"lxd": "/run/virtlab-lxd.pid", "incus": "/run/virtlab-incus.pid"}


def name(stem: str) -> str:
    return course_name(f"{RUN}-{stem}")


def lxc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The daemon's own CLI (`lxc` for LXD, `incus` for Incus)."""
    return subprocess.run([*lxd.cli_command(), *args], capture_output=True, text=True,
                          timeout=60, check=check, env=lxd.cli_env())


def title() -> str:
    return lxd.daemon().title


def ours() -> list[str]:
    return [i["name"] for i in lxd.list_instances() if i["name"].startswith(course_name(RUN))]


@pytest.fixture(scope="module")
def client(need):
    # the shared gate as a fixture (importing "conftest" here could pick another one, e.g.
    # tests/browser/conftest.py, when the whole suite runs)
    need("lxd")
    c = lxd.connect()
    yield c
    left = ours()
    lxd.cleanup(match=course_name(RUN))
    assert left == [], f"instances left behind by the tests: {left}"


@pytest.fixture(scope="module")
def foreign(client):
    """Two containers the course did not create: one without the prefix, one with the prefix but
    without the ownership key. Neither may ever be touched by cleanup."""
    names = [f"keep-{RUN}", f"vl-{RUN}-notours"]
    for n in names:
        lxc("init", lxd.DEFAULT_IMAGE, n)
    yield names
    for n in names:
        lxc("delete", "--force", n, check=False)


def test_launch_exec_limits_and_delete(client, need):
    need("lxd", host_root="the container's /proc/<pid>/ns")
    with lxd.instance(name("basic"), memory="64MiB", processes=50, client=client) as inst:
        cfg = inst.config
        assert cfg[OWNER_KEY] == OWNER_VALUE
        assert cfg["limits.memory"] == "64MiB" and cfg["limits.processes"] == "50"
        assert cfg["security.privileged"] == "false"
        st = inst.state()
        assert st.status == "Running" and st.pid and st.pid > 1
        # the host kernel enforces the limit on the container's cgroup
        cg = probe.cgroups()
        if "memory" in st.cgroup and "memory" in cg.v1_controllers:
            f = Path(cg.v1_controllers["memory"]) / st.cgroup["memory"].lstrip("/") / "memory.limit_in_bytes"
        else:
            f = Path(cg.v2_mount) / st.cgroup["unified"].lstrip("/") / "memory.max"
        assert int(f.read_text()) == 64 * 1024**2
        assert inst.exec(["uname", "-r"]) == (0, os.uname().release + "\n", "")
        assert inst.exec(["hostname"]).out.strip() == inst.name
        assert inst.exec(["sh", "-c", "echo oops >&2; exit 3"]) == (3, "", "oops\n")
        assert inst.exec(["no-such-command"]).code == 127
        assert inst.exec(["cat", "/proc/1/comm"]).out.strip() == "init"  # a system container
        ns = inst.namespaces()
        for t in ("mnt", "uts", "ipc", "pid", "net", "user", "cgroup"):
            assert ns[t]["shared"] is False, t
        # processes limit: the 50th process cannot be forked
        code, out, err = inst.exec(["sh", "-c", "for i in $(seq 60); do sleep 5 & done; wait"],
                                   timeout=30)
        assert "fork" in (out + err).lower() or code != 0
        assert inst.name in ours()
    assert inst.name not in ours()
    with pytest.raises(LookupError):
        lxd.get(inst.name)


def test_unprivileged_vs_privileged_uid_map(client):
    with lxd.instance(name("unpriv"), client=client) as u:
        ids = u.host_ids()
        assert ids["host_uid"] != 0 and ids["uid_map"][:2] == ["0", str(ids["host_uid"])]
        assert u.exec(["id", "-u"]).out.strip() == "0"
    with lxd.instance(name("priv"), privileged=True, client=client) as p:
        assert p.host_ids()["host_uid"] == 0


def test_oom_kill_stays_inside(client):
    with lxd.instance(name("oom"), memory="64MiB", client=client) as inst:
        res = inst.exec(lxd.OOM_CMD, timeout=30)
        assert res.code == 137
        assert inst.exec(["echo", "ok"]).out == "ok\n"
        assert inst.state().status == "Running"


def test_snapshot_restore_copy(client):
    with lxd.instance(name("snap"), client=client) as inst:
        inst.exec(["sh", "-c", "echo before > /root/f"])
        inst.snapshot("clean")
        assert inst.snapshots() == ["clean"]
        inst.exec(["rm", "/root/f", "/bin/ls"])
        assert inst.exec(["ls"]).code == 127
        inst.restore("clean")
        assert inst.exec(["cat", "/root/f"]).out == "before\n"
        assert inst.exec(["ls", "/"]).code == 0
        with pytest.raises(LookupError, match="no snapshot"):
            inst.restore("nope")
        with inst.copy(name("snap-copy")) as c:
            assert c.config[OWNER_KEY] == OWNER_VALUE
            assert c.exec(["cat", "/root/f"]).out == "before\n"
            assert c.exec(["hostname"]).out.strip() == c.name
        with pytest.raises(ValueError, match="already exists"):
            inst.copy(inst.name)


def test_exec_deadline(client):
    with lxd.instance(name("slow"), client=client) as inst:
        t = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="still running"):
            inst.exec(["sleep", "20"], timeout=1.5)
        assert time.monotonic() - t < 5


@pytest.mark.serial  # every instance before == after: the live notebooks' come and go
@pytest.mark.parametrize("bad", ["Web", "web_1", "x" * 70, "web;rm -rf /", "$(id)"])
def test_bad_names_create_nothing(client, bad):
    before = {i["name"] for i in lxd.list_instances(client=client)}
    with pytest.raises(ValueError):
        lxd.launch(bad, client=client)
    assert {i["name"] for i in lxd.list_instances(client=client)} == before


@pytest.mark.parametrize("kw", [{"memory": "1KiB"}, {"cpu": 0}, {"processes": 1}])
def test_bad_limits_create_nothing(client, kw):
    with pytest.raises(ValueError):
        lxd.launch(name("badlim"), client=client, **kw)
    assert name("badlim") not in ours()


def test_missing_image_and_duplicate_name(client):
    with pytest.raises(LookupError, match="images build"):
        lxd.launch(name("noimg"), image="vl-no-such-image", client=client)
    assert name("noimg") not in ours()
    with lxd.instance(name("dup"), start=False, client=client), \
            pytest.raises(ValueError, match="already exists"):
        lxd.create(name("dup"), client=client)


def test_image_build_and_import(client, tmp_path):
    assert any(lxd.DEFAULT_IMAGE in i["aliases"] for i in lxd.images(client=client))
    t = time.monotonic()
    assert "present" in lxd.build_images()[0]  # idempotent and quick
    assert time.monotonic() - t < 5
    alias = name("img")
    fp = lxd.import_image(lxd._busybox_image_tarball(tmp_path / "i.tar.gz"), alias, client=client)
    try:
        img = next(i for i in lxd.images(client=client) if alias in i["aliases"])
        assert img["fingerprint"] == fp and img["properties"]["os"] == "busybox"
        with lxd.instance(name("fromimg"), image=alias, client=client) as inst:
            assert inst.exec(["true"]).code == 0
    finally:
        lxc("image", "delete", fp, check=False)


def test_cow_pool_clones_share_blocks(client, need):
    need("lxd", host_root="LXD's disk images (/var/lib/lxd/disks)")
    pool = name("cow")
    with lxd.cow_pool(pool, client=client) as p:
        assert p == pool and p in lxd.course_pools(client=client)
        with pytest.raises(ValueError, match="already exists"):
            lxd.create_pool(pool, client=client)
        with lxd.instance(name("cow-a"), pool=p, client=client) as a:
            used1 = lxd.pool_usage(p, client=client)["used"]
            assert a.info()["expanded_devices"]["root"]["pool"] == p
            with lxd.instance(name("cow-b"), pool=p, client=client) as b:
                used2 = lxd.pool_usage(p, client=client)["used"]
                assert b.exec(["cat", "/etc/os-release"]).code == 0
        # the second instance is a clone: far less than the image's ~2 MiB of files
        assert 0 <= used2 - used1 < 1024**2
    assert pool not in lxd.course_pools(client=client)
    assert not (Path(lxd.socket_path()).parent / "disks" / f"{pool}.img").exists()
    with pytest.raises(LookupError, match="not a course storage pool"):
        lxd.delete_pool("default", client=client)


def test_cleanup_removes_course_pools(client):
    pool = lxd.create_pool(name("clpool"), client=client)
    lxd.launch(name("clpool-i"), pool=pool, client=client)
    removed = lxd.cleanup(match=name("clpool"))
    assert removed == [f"{title()} instance {name('clpool-i')}", f"{title()} storage pool {pool}"]
    assert pool not in lxd.course_pools(client=client)
    assert "default" in {p.name for p in client.storage_pools.all()}


@pytest.mark.serial
def test_exercise_checks_read_the_real_daemon(client, capsys, monkeypatch):
    from virtlab.checks import ep04

    monkeypatch.setenv("VIRTLAB_MODE", "live")
    stem = f"{RUN}-web"
    assert ep04.check_web(stem) is False  # not there yet
    with lxd.instance(stem, memory="64MiB", processes=50, client=client) as web:
        assert ep04.check_web(stem) is True
        assert ep04.check_web(stem, memory="128MiB") is False
        assert ep04.check_snapshot(stem) is False
        web.snapshot("clean")
        web.exec(["rm", "/bin/ls"])
        assert ep04.check_snapshot(stem) is False
        web.restore("clean")
        assert ep04.check_snapshot(stem) is True
        uid = web.host_ids()["host_uid"]
    assert ep04.check_root_uid(uid) is True
    assert ep04.check_root_uid(0) is False
    out = capsys.readouterr().out
    assert out.count("✅") == 3 and "❌" in out


def test_lifecycle_timings_api_and_cli(client):
    for via in ("api", "cli"):
        t = lxd.lifecycle_timings(1, via=via)
        assert set(t) == set(lxd.PHASES) and all(len(v) == 1 and v[0] > 0 for v in t.values())
        assert sum(x[0] for x in t.values()) < 30


def test_cleanup_removes_only_course_instances(client, foreign):
    a = lxd.launch(name("cl-a"), client=client)
    b = lxd.create(name("cl-b"), client=client)
    removed = lxd.cleanup(match=name("cl"))
    assert sorted(removed) == sorted(f"{title()} instance {i.name}" for i in (a, b))
    present = {line.split(",")[0] for line in lxc("list", "--format", "csv", "-c", "n").stdout.split()}
    assert set(foreign) <= present
    assert a.name not in present and b.name not in present


@pytest.mark.hostwide
@pytest.mark.skipif(os.environ.get("CI") != "true", reason="removes every course instance: CI only")
def test_full_cleanup_spares_foreign_containers(client, foreign, capsys):
    from virtlab import cli

    lxd.launch(name("full"), client=client)
    cli.main(["cleanup"])  # `virtlab cleanup`: every module; we judge only LXD here
    assert f"removed {title()} instance {name('full')}" in capsys.readouterr().out
    present = {line.split(",")[0] for line in lxc("list", "--format", "csv", "-c", "n").stdout.split()}
    assert set(foreign) <= present
    assert lxd.list_instances(client=client) == []


@pytest.mark.skipif(os.environ.get("CI") != "true" and os.environ.get("VIRTLAB_LXD_FAULT_TEST") != "1",
                    reason="kills and restarts the shared LXD daemon: CI or VIRTLAB_LXD_FAULT_TEST=1")
@pytest.mark.hostwide
def test_daemon_dies_mid_way(client):
    d = lxd.daemon_of(client)
    script = REPO / d.script
    if subprocess.run([str(script), "status"], capture_output=True, check=False).returncode != 0 \
            or not Path(PIDFILES[d.key]).exists():
        pytest.fail(f"{d.title} was not started by {d.script}: cannot restart it reliably")
    inst = lxd.launch(name("fault"), client=client)
    box: dict = {}

    def long_exec() -> None:
        try:
            inst.exec(["sleep", "30"], timeout=60)
        except Exception as err:  # noqa: BLE001 - inspected below
            box["err"] = err
        box["t"] = time.monotonic()

    th = threading.Thread(target=long_exec)
    th.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    try:
        subprocess.run([str(script), "kill"], check=True, capture_output=True, timeout=30)
        th.join(10)
        assert "t" in box and box["t"] - t0 < 5
        assert isinstance(box["err"], lxd.LxdUnavailable)
        assert f"{script.name} start" in str(box["err"])
        t = time.monotonic()
        with pytest.raises(lxd.LxdUnavailable, match="stopped"):
            lxd.connect()
        assert time.monotonic() - t < 5
    finally:
        subprocess.run([str(script), "restart"], check=True, capture_output=True, timeout=60)
    # back: the instance survived the daemon's death and is removed without a leak
    c = lxd.connect()
    back = lxd.Instance(c, inst.name)
    assert back.state().status == "Running"
    back.delete()
    assert inst.name not in ours()


def test_declared_differences_are_real(client):
    """Each difference virtlab.daemons declares for this daemon is what the daemon does — and
    each one it does not declare is absent (LXD 5.0 is the baseline)."""
    from pylxd import exceptions as pexc

    d = lxd.daemon_of(client)
    # the pre-instances endpoint
    try:
        client.api.containers.get(timeout=(5.0, 15.0))
        legacy = True
    except pexc.NotFound:
        legacy = False
    assert legacy is not d.has(daemons.NO_CONTAINERS_ENDPOINT)
    # the socket's group, the CLI's name
    import grp

    assert grp.getgrgid(os.stat(lxd.socket_path()).st_gid).gr_name == d.group
    assert shutil.which(d.cli) and (d.cli == "incus") is d.has(daemons.CLI_INCUS)
    with lxd.instance(name("diff"), start=False, client=client) as inst:
        stale = inst.info()  # read before start: no volatile.idmap.current yet
        inst.start()
        # a server-side wait that runs out before a 3 s command ends
        r = inst._node.exec.post(json={"command": ["sleep", "3"], "record-output": True,
                                       "wait-for-websocket": False, "interactive": False})
        op = r.json()["operation"].rstrip("/").split("/")[-1]
        try:
            body = client.api.operations[op].wait.get(params={"timeout": 1}).json()
            wait_error = False
            assert body["metadata"]["status"] == "Running"
        except pexc.LXDAPIException as err:
            wait_error = "deadline exceeded" in lxd._api_error(err)
        assert wait_error is d.has(daemons.WAIT_TIMEOUT_IS_ERROR)
        assert lxd._wait(client, r, Deadline(15, "sleep 3"))["status"] == "Success"
        # PUT of the stale record: refused by both (why restore() re-reads right before)
        body = {k: stale.get(k) for k in ("architecture", "config", "devices", "ephemeral",
                                          "profiles", "description")}
        try:
            with lxd._translate("stale put"):
                put = inst._node.put(json=body, timeout=(5.0, 30.0))
            lxd._wait(client, put, Deadline(30, "stale put"))
            refused = False
        except lxd.LxdError as err:
            refused = "volatile idmap" in str(err).lower()
        assert refused
        inst.restore(inst.snapshot("fresh"))  # re-read first: accepted


def test_doctor_json_names_the_daemon_its_version_and_differences(client, capsys):
    from virtlab import cli

    probe.lxd(refresh=True)
    assert cli.main(["doctor", "--json"]) == 0
    import json

    d = json.loads(capsys.readouterr().out)
    who = lxd.daemon_of(client)
    env = client.host_info["environment"]
    assert d["lxd"]["server"] == who.key and d["lxd"]["version"] == env["server_version"]
    assert d["lxd"]["differences"] == [x.key for x in who.differences]
    row = next(r for r in d["container_daemons"] if r["socket"] == lxd.socket_path())
    assert (row["server"], row["version"]) == (who.key, env["server_version"])


def test_cleanup_visits_both_daemons_where_both_run(client, monkeypatch):
    for var in ("VIRTLAB_CONTAINER_DAEMON", "LXD_DIR", "INCUS_DIR"):
        monkeypatch.delenv(var, raising=False)
    servers = {r["server"]: r["socket"] for r in probe.container_daemons() if r["server"]}
    if set(servers) != {"lxd", "incus"}:
        pytest.skip("needs LXD and Incus running side by side (provision.sh --incus)")
    for key, sock in servers.items():
        lxd.create(name(f"multi-{key}"), client=lxd.connect(socket_file=sock))
    removed = lxd.cleanup(match=name("multi"))
    assert sorted(removed) == sorted([f"LXD instance {name('multi-lxd')}",
                                      f"Incus instance {name('multi-incus')}"])
