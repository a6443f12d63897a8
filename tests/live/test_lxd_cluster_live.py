"""The classroom's "Beyond one host" path for real: a two-member LXD cluster on this machine —
and the same with Incus, for each of the two that is installed (the module runs once per server).

Two throwaway LXD (or Incus) daemons of our own (:class:`virtlab.lxd.cluster.LocalCluster`: each with its own
``LXD_DIR``/``INCUS_DIR`` below one temporary directory, in a private network namespace where member *i*
listens on ``127.0.0.<i>:8443``) form a cluster from the shipped
``labs/classroom/lxd-cluster-preseed.yaml``; the second joins with a join token. The host's LXD and Incus
(``/var/lib/lxd``, ``/var/lib/incus``) are never contacted. Then, as in a classroom:

* the course's own offline image (``vl-busybox``) is imported into the cluster;
* ``virtlab.classroom.setup_learner`` — the code of ``python -m virtlab.classroom setup-learner``
  — gives two learners their restricted projects, limits and restricted client certificates;
* as one learner's certificate, over HTTPS to a member: containers launched without a target
  land on both members (LXD places them), the project's limit refuses the next one whichever
  member is asked, and the other learner's project and the default project are refused (LXD:
  403; Incus 6.0: 500 "User does not have permissions for project").

Everything is torn down whatever happens (the fixture), and the module checks that no process,
mount or file of the cluster's is left. Root only; needs ``lxd`` (Debian: lxd) or ``incusd`` and
``incus`` (Debian: incus-base, incus-client) and a static busybox (provisioning installs them).
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from pathlib import Path

import pytest

from virtlab.lxd import cluster as lc
from virtlab.lxd import clustering

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
PRESEED_FILE = REPO / "labs" / "classroom" / "lxd-cluster-preseed.yaml"
RUN = f"cl{secrets.token_hex(2)}"
#: two accounts every Debian has (the learners' certificates go to a private directory)
LEARNER, OTHER = "nobody", "daemon"

pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0, reason="LXD/Incus daemons of our own need root"),
]
#: every server the module runs against; one not installed here is skipped
SERVERS = [pytest.param(
    k, id=k, marks=pytest.mark.skipif(not s.installed(), reason=(
        f"{s.binary} is not installed (Debian: {s.package}; `sudo make provision`"
        f"{' with --incus' if k == 'incus' else ''})")))
    for k, s in clustering.CLUSTER_SERVERS.items()]


@pytest.fixture(scope="module", params=SERVERS)
def cluster(request):
    base = Path(os.environ.get("VIRTLAB_CLUSTER_BASE") or tempfile.gettempdir())
    cl = lc.LocalCluster(members=2, base=base, preseed=yaml.safe_load(PRESEED_FILE.read_text()),
                         server=request.param)
    t0 = time.monotonic()
    root = None
    try:
        cl.start()
        root = cl.root
        yield cl
    finally:
        root = root or cl.root
        try:
            cl.close()
        finally:
            print(f"\n[cluster] {cl.server}: timings (s): {cl.timings}; total {time.monotonic() - t0:.1f} s; "
                  f"killed leftovers: {cl.killed or 'none'}")
            if root is not None:  # nothing of ours may be left: processes, mounts, files
                assert lc.our_processes(root) == [], lc.our_processes(root)
                assert lc.mounts_below(root) == []
                assert not root.exists()
                left_cg = [str(d) for m in set(lc._cgroup_mounts().values())
                           for d in Path(m).glob(f"lxc.*vl-{RUN}-*")]  # liblxc's, of ours
                assert left_cg == [], left_cg


@pytest.fixture(scope="module")
def classroom(cluster, tmp_path_factory):
    """The course image in the cluster, then two learners set up the classroom's way."""
    from virtlab import classroom as cr
    from virtlab.lxd import course_images

    try:
        tarball = course_images._busybox_image_tarball(
            tmp_path_factory.mktemp("img") / "busybox.tar.gz")
    except Exception as err:  # noqa: BLE001 - no static busybox: say so (a failure in CI)
        pytest.skip(f"the course image cannot be built here: {err}")
    admin = cluster.admin()
    fp = course_images.import_image(tarball, "vl-busybox", client=admin)
    state = cluster.root / "classroom"
    limits = cr.LearnerLimits(instances=3, cpu=6, memory="768MiB")  # instances is what bites
    sock = str(cluster.nodes[0].socket)
    # allow_unchecked_cluster: LXD < 5.0.7 does not check untargeted creation in a cluster, which
    # the last test measures; setup_learner refuses such a cluster unless told. A fixed release
    # (Incus 6.0) is set up without the override: setup_learner accepts it
    env = admin.host_info["environment"]
    unchecked = clustering.unchecked_creation(env["server"], env["server_version"])
    done = {u: cr.setup_learner(u, limits, lxd_socket=sock, state_dir=state,
                                allow_unchecked_cluster=unchecked) for u in (LEARNER, OTHER)}
    return {"fingerprint": fp, "state": state, "setup": done, "limits": limits,
            "unchecked": unchecked}


def _learner_client(cluster, classroom, user: str, member: int):
    import pwd

    from virtlab import classroom as cr

    d = cr.cert_dir(pwd.getpwnam(user).pw_uid, classroom["state"])
    return cluster.remote_client(d / "client.crt", d / "client.key",
                                 project=cr.project_name(user), member=member)


def test_two_members_online_from_the_shipped_preseed(cluster):
    assert cluster.member_states() == {"vl-member-1": "Online", "vl-member-2": "Online"}
    info = cluster.admin().api.get().json()["metadata"]
    assert info["environment"]["server"] == cluster.server  # the daemons we asked for
    assert info["environment"]["server_clustered"] is True
    cfg = info["config"]
    assert cfg["cluster.https_address"] == "127.0.0.1:8443"
    assert cfg["images.auto_update_interval"] == "0"  # from the shipped file
    pools = cluster.admin().api.storage_pools.get().json()["metadata"]
    assert [p.rsplit("/", 1)[-1] for p in pools] == ["default"]
    # the host's daemons are not among them
    assert all(not str(m.lxd_dir).startswith(("/var/lib/lxd", "/var/lib/incus"))
               for m in cluster.nodes)


def test_learner_setup_is_cluster_wide(cluster, classroom):
    from virtlab import classroom as cr

    proj = cr.project_name(LEARNER)
    s = classroom["setup"][LEARNER]
    assert s["project"] == proj and s["images_copied"] == ["vl-busybox"]
    # made through member 1; member 2 sees the same project, limits and restricted certificate
    m2 = cluster.admin(1)
    cfg = m2.api.projects[proj].get().json()["metadata"]["config"]
    assert cfg["restricted"] == "true" and cfg["limits.instances"] == "3"
    cert = m2.api.certificates[s["certificate"]].get().json()["metadata"]
    assert cert["restricted"] is True and cert["projects"] == [proj]


def _post(client, body: dict, **params):
    """POST /1.0/instances and wait; (HTTP status, LXD's error or the operation's)."""
    from pylxd import exceptions as pexc

    try:
        r = client.api.instances.post(json=body, params=params, timeout=(5, 60))
    except pexc.LXDAPIException as err:  # pylxd raises for a refusal
        r = err.response
    if r.status_code != 202:
        return r.status_code, r.json().get("error", r.text)
    op = client.api.operations[r.json()["metadata"]["id"]].wait.get(
        params={"timeout": 60}, timeout=(5, 70)).json()["metadata"]
    return (200, "") if op["status"] == "Success" else (500, op.get("err", op["status"]))


def _assert_forbidden(cluster, r, project: str) -> None:
    """A restricted certificate's request into a project not its own was refused: LXD 5.0
    answers 403. Incus 6.0.4 answers a listing (GET /1.0/instances?project=...) with 500 "User
    does not have permissions for project" and a DELETE with 403 "... permission for project"."""

    seen = (project, r.status_code, r.text[:200])
    if cluster.server == "lxd":
        assert r.status_code == 403, seen
    else:
        assert r.status_code in (403, 500), seen
        assert re.search(r'does not have permissions? for project \\"' + re.escape(project),
                         r.text), seen


def _learner_launch(cluster, client, name: str):
    """Launch ``name`` as a restricted learner with the course's own ``lxd.launch``. On Incus it
    leaves out ``limits.memory.swap``, which Incus counts as low-level config in a restricted
    project (``restricted.containers.lowlevel=block``; LXD 5.0 does not): the raw request with
    that key is refused there, and asserted so."""
    from virtlab import lxd
    from virtlab.safety import course_name

    if cluster.server == "incus":
        code, msg = _post(client, _body(course_name(name) + "-swap", **{"limits.memory.swap": "false"}))
        assert code >= 400 and re.search(r'low-level config "limits\.memory\.swap"', msg), (code, msg)
    return lxd.launch(name, memory="64MiB", client=client, timeout=90)


def _body(name: str, **config: str) -> dict:
    return {"name": name, "source": {"type": "image", "alias": "vl-busybox"},
            "config": {"limits.cpu": "1", "limits.memory": "64MiB", "limits.processes": "100",
                       **config}}


def test_learner_instances_spread_limits_are_cluster_wide_other_projects_403(cluster, classroom):
    from virtlab import classroom as cr

    proj, other = cr.project_name(LEARNER), cr.project_name(OTHER)
    with cluster.network():  # the members' addresses answer in the cluster's own network
        me = _learner_client(cluster, classroom, LEARNER, member=1)  # through member 2
        assert me.host_info["auth"] == "trusted"
        made = [_learner_launch(cluster, me, f"{RUN}-{i}") for i in range(3)]
        where = cluster.locations(proj)
        assert sorted(where) == sorted(i.name for i in made)
        # LXD placed them (no target given): both members hold some
        assert set(where.values()) == {"vl-member-1", "vl-member-2"}, where
        for inst in made:  # each one runs, on its member, reached through member 2
            code, out, _err = inst.exec(["hostname"], timeout=30)
            assert code == 0 and out.strip() == inst.name
            assert inst.info()["location"] == where[inst.name]

        # the project's limit counts the whole cluster: pinned to either member, the 4th is
        # refused (root may pin a member; the limit still holds)
        admin_in_proj = cluster.admin(project=proj)
        for target in ("vl-member-1", "vl-member-2"):
            status, err = _post(admin_in_proj, _body(f"vl-{RUN}-adm"), target=target)
            assert status >= 400 and "maximum number of instances" in err, (target, status, err)
        # a learner may not pick a member (restricted.cluster.target=block; LXD 5.0 says so
        # with a 500, not a 403)
        status, err = _post(me, _body(f"vl-{RUN}-tgt"), target="vl-member-1")
        assert status >= 400 and "targeting" in err, (status, err)
        print(f"\n[cluster] {cluster.server}: a learner's target refused: {status} {err!r}")

        # the other learner's project and the default project: refused
        s, base = me.api.session, me.api._api_endpoint
        for p in (other, "default"):
            r = s.get(base + "/instances", params={"project": p}, timeout=(5, 15))
            _assert_forbidden(cluster, r, p)
        r = s.delete(base + f"/instances/{made[0].name}", params={"project": other},
                     timeout=(5, 15))
        _assert_forbidden(cluster, r, other)
        theirs = _learner_client(cluster, classroom, OTHER, member=0)  # B, through member 1
        assert theirs.api.instances.get().json()["metadata"] == []  # none of A's
        r = theirs.api.session.get(theirs.api._api_endpoint + "/instances",
                                   params={"project": proj}, timeout=(5, 15))
        _assert_forbidden(cluster, r, proj)

        for inst in made:
            inst.delete(timeout=60)
    assert cluster.locations(proj) == {}


def test_untargeted_creation_checks_limits_and_restrictions_as_known(cluster, classroom):
    """Without a target, LXD before 5.0.7 (Debian 12: 5.0.2) skips the project's limits AND
    restrictions in a cluster (lxc/incus#463): a restricted learner gets a 4th instance past
    limits.instances=3 and a privileged container. A fixed release (Incus 6.0) refuses both,
    through either member. This asserts what this daemon does against
    :func:`virtlab.lxd.clustering.unchecked_creation` (so the docs' warning and
    ``setup_learner``'s refusal stay true), and that ``setup_learner`` refuses such a cluster and
    accepts a fixed one."""
    from virtlab import classroom as cr
    from virtlab.lxd.handle import Instance

    env = cluster.admin().host_info["environment"]
    unchecked = clustering.unchecked_creation(env["server"], env["server_version"])
    assert unchecked is classroom["unchecked"]
    proj = cr.project_name(LEARNER)
    seen: dict = {}
    with cluster.network():
        for member in (0, 1):  # the same answer through either member
            me = _learner_client(cluster, classroom, LEARNER, member=member)
            # the privileged one first, while the project is empty: a refusal can only be the
            # restriction (restricted.containers.privilege), not the instance limit
            seen[(member, "privileged")] = _post(
                me, _body(f"vl-{RUN}-p{member}", **{"security.privileged": "true"}))
            if seen[(member, "privileged")] == (200, ""):  # and it runs, unmapped: root's ids
                priv = Instance(me, f"vl-{RUN}-p{member}")
                priv.start(timeout=60)
                code, out, _ = priv.exec(["cat", "/proc/self/uid_map"], timeout=30)
                seen[(member, "uid_map")] = " ".join(out.split())
                priv.delete(timeout=60)
            for i in range(4):  # 3 fit; the 4th is over limits.instances
                seen[(member, i)] = _post(me, _body(f"vl-{RUN}-u{member}{i}"))
            for name in cluster.locations(proj):
                Instance(cluster.admin(project=proj), name).delete(timeout=60)
    over = {k: v for k, v in seen.items() if k[1] in (3, "privileged")}
    print(f"\n[cluster] {env['server']} {env['server_version']}: untargeted creation beyond the "
          f"limit / privileged: {over}")
    assert all(seen[(m, i)] == (200, "") for m in (0, 1) for i in range(3)), seen
    if unchecked:  # the known bug, measured: nothing is refused, the container is privileged
        assert all(v == (200, "") for v in over.values()), over
        assert seen[(0, "uid_map")] == seen[(1, "uid_map")] == "0 0 4294967295", seen
    else:  # fixed: each member checks both itself, before placing the instance
        for m in (0, 1):
            status, err = over[(m, 3)]
            assert status >= 400 and "maximum number of instances" in err, (m, over)
            status, err = over[(m, "privileged")]
            assert status >= 400 and "privileged containers are forbidden" in err.lower(), \
                (m, over)
        assert not any(k[1] == "uid_map" for k in seen), seen
    # the classroom's own setup refuses a cluster that does not check (unless told otherwise),
    # and sets up a learner on one that does (again, through member 2: idempotent)
    if unchecked:
        with pytest.raises(cr.ClassroomError, match="privileged"):
            cr.setup_learner(LEARNER, lxd_socket=str(cluster.nodes[1].socket),
                             state_dir=classroom["state"])
    else:
        again = cr.setup_learner(LEARNER, classroom["limits"],
                                 lxd_socket=str(cluster.nodes[1].socket),
                                 state_dir=classroom["state"])
        assert again["project"] == proj and again["images_copied"] == []


CRASH = """
import os, sys
from virtlab.lxd import cluster as lc
cl = lc.LocalCluster(members=1, server=sys.argv[1])
cl.start()
print(cl.root, flush=True)
os._exit(3)  # a test killed mid-way: no teardown, the daemon and its network stay behind
"""


@pytest.mark.hostwide
@pytest.mark.parametrize("server", SERVERS)
def test_virtlab_cleanup_removes_a_cluster_a_crash_left(server):
    """A cluster whose owner died without its teardown: `virtlab cleanup` (root) finds it by its
    directory's layout and its processes' environment, and leaves nothing of it."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", CRASH, server], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 3, r.stderr[-800:]
    root = Path(r.stdout.strip().splitlines()[-1])
    assert root.is_dir() and lc.our_processes(root), "the crashed cluster's daemon should be running"
    assert root in clustering.stale_roots()
    virtlab = Path(sys.executable).parent / "virtlab"
    c = subprocess.run([str(virtlab), "cleanup"], capture_output=True, text=True, timeout=180)
    assert c.returncode == 0, c.stderr[-800:]
    assert f"throwaway LXD cluster {root}" in c.stdout, c.stdout
    assert not lc.our_processes(root) and not lc.mounts_below(root) and not root.exists()
    assert root not in clustering.stale_roots()
