"""A throwaway LXD cluster on one machine, to test the classroom's "Beyond one host" path for real.

Each member is an LXD daemon of our own with its **own** ``LXD_DIR`` (how LXD's own test suite runs
clusters on one machine: ``test/includes/lxd.sh``, ``spawn_lxd``); the host's daemon
(``/var/lib/lxd``) is never contacted. ``server="incus"``: the same cluster of Incus daemons
(``incusd``, each with its own ``INCUS_DIR``; the host's ``/var/lib/incus`` is never contacted);
:class:`virtlab.lxd.clustering.ClusterServer` holds the few differences. The members share one
private network namespace (only ``lo``, bind-mounted at ``<root>/netns``), where member *i*
listens on ``127.0.0.<i>:8443``: they talk to each other over loopback, nothing they do reaches
the host's network or the outside (the daemons look for their image servers at start; offline,
like the course's own daemon), and their ports cannot clash with anything on the host. The first
member bootstraps the cluster with :func:`bootstrap_preseed` (the shipped
``labs/classroom/lxd-cluster-preseed.yaml`` with this member's name and address); the others join
with a join token.

Everything lives below one directory ``<base>/vlc-XXXXXX`` and :meth:`LocalCluster.close` removes
it, whatever happened: the instances are deleted, each daemon is asked to stop (``lxd shutdown``
or ``incusd shutdown``, with a deadline; SIGKILL after it), any process of ours that is left is
killed — ours means its command line or environment names our directory, or it descends from such
a process, never anything else — every mount below the directory is detached, then the directory
goes. Root only. Typical use (tests/live/test_lxd_cluster_live.py)::

    with LocalCluster(members=2) as cl:        # started, bootstrapped, joined
        admin = cl.admin()                     # pylxd client on member 1's unix socket
        with cl.network():                     # this thread in the cluster's network
            c = cl.remote_client(crt, key, project="vl-learner-x", member=1)
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

from virtlab import core
from virtlab.lxd.client import LxdError, _http_timeout, _translate
from virtlab.lxd.clustering import (
    PRESEED,
    ClusterError,
    ClusterServer,
    bootstrap_preseed,
    cluster_server,
    join_preseed,
    join_token,
    member_name,
)
from virtlab.safety import CleanupErrors, Deadline, DeadlineExceeded, check_int

#: the port every member listens on (each on its own loopback address, in the private network)
PORT = 8443
#: at most this many members (127.0.0.1 .. 127.0.0.N)
MAX_MEMBERS = 5
#: marker in each daemon's environment: the cluster directory it belongs to
ENV_MARKER = "VIRTLAB_LXD_CLUSTER"
#: a unix socket path must fit sockaddr_un (108 bytes); LXD's deepest is devlxd/sock below a member
_MAX_ROOT = 70
CLONE_NEWNET = 0x40000000
__all__ = ["ClusterError", "LocalCluster", "Member", "mounts_below", "our_processes"]


@dataclass(frozen=True)
class Member:
    """One member: its server name, cluster address and its own daemon directory
    (``LXD_DIR``/``INCUS_DIR``)."""

    name: str
    address: str
    lxd_dir: Path

    @property
    def socket(self) -> Path:
        return self.lxd_dir / "unix.socket"


# --------------------------------------------------------------------------- our processes, mounts
def our_processes(root: Path) -> list[psutil.Process]:
    """The processes that belong to the cluster below ``root``: their command line names
    ``root`` or their environment's ``LXD_DIR``/``INCUS_DIR``/marker points into it — and their
    descendants    (a container's init, the children of an ``[lxc monitor]``). Nothing else, ever."""
    top = str(root).rstrip("/")
    if not Path(top).is_absolute() or top.count("/") < 2:
        raise ValueError(f"{root!r} is not a cluster directory")
    named = re.compile(re.escape(top) + r"(?=/|\s|$)")  # the directory itself or below it
    mine: dict[int, psutil.Process] = {}
    for p in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if p.pid == os.getpid():
                continue
            hit = bool(named.search(" ".join(p.info["cmdline"] or [])))
            if not hit:
                env = p.environ()
                hit = any(named.match(env.get(k, "")) for k in ("LXD_DIR", "INCUS_DIR", ENV_MARKER))
            if hit:
                mine[p.pid] = p
                for kid in p.children(recursive=True):
                    mine.setdefault(kid.pid, kid)
    return sorted(mine.values(), key=lambda p: p.pid)


def _not_zombie(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def mounts_below(root: Path) -> list[str]:
    """Mount points at or below ``root`` in our mount namespace, deepest first."""
    base = str(root).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == base or mp.startswith(base + "/"):
                found.append(mp)
    return sorted(set(found), key=lambda m: (-m.count("/"), m))


def _cgroup_mounts() -> dict[str, str]:
    """``{controllers: mount point}`` of the cgroup hierarchies ("" for cgroup2)."""
    found: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fstype, _src, opts = (post.split() + ["", "", ""])[:3]
            if fstype == "cgroup2":
                found.setdefault("", pre.split()[4])
            elif fstype == "cgroup":
                ctrls = sorted(o for o in opts.split(",") if o not in ("rw", "ro"))
                found.setdefault(",".join(ctrls), pre.split()[4])
    return found


def container_cgroups(pid: int) -> list[Path]:
    """The LXC cgroups (``lxc.payload.*``/``lxc.monitor.*``) process ``pid`` runs in, one per
    hierarchy: what a killed container leaves behind (liblxc removes them on a clean stop)."""
    mounts, dirs = _cgroup_mounts(), []
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _id, ctrls, path = line.rstrip("\n").split(":", 2)
            top = path.strip("/").split("/")[0]
            mnt = mounts.get(",".join(sorted(ctrls.split(","))) if ctrls else "")
            if mnt and top.startswith(("lxc.payload.", "lxc.monitor.")):
                dirs.append(Path(mnt) / top)
    return dirs


def _rmdir_tree(d: Path) -> None:
    """Remove an empty cgroup and its empty children (rmdir only: never one with processes)."""
    for sub, _dirs, _files in sorted(os.walk(d), key=lambda t: -t[0].count("/")):
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(sub)


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise ClusterError(f"setns(network namespace) failed: {os.strerror(err)}")


# --------------------------------------------------------------------------- the cluster
@dataclass
class LocalCluster:
    """``members`` LXD daemons of our own, clustered over loopback in a private network namespace
    (``server="incus"``: Incus daemons).

    A context manager: entering starts, bootstraps and joins (:meth:`start`); leaving tears
    everything down (:meth:`close`), also when starting failed half-way. ``timings`` records how
    long each step took (seconds)."""

    members: int = 2
    base: Path | None = None
    preseed: Mapping[str, Any] = field(default_factory=lambda: PRESEED)
    timeout: float = 60.0
    server: str = "lxd"  # or "incus"
    kind: ClusterServer = field(init=False, repr=False)
    root: Path | None = field(default=None, init=False)
    nodes: list[Member] = field(default_factory=list, init=False)
    timings: dict[str, float] = field(default_factory=dict, init=False)
    killed: list[str] = field(default_factory=list, init=False)
    _procs: list[subprocess.Popen] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        check_int(self.members, minimum=1, maximum=MAX_MEMBERS, what="cluster members")
        if not isinstance(self.timeout, (int, float)) or not 5 <= self.timeout <= 600:
            raise ValueError(f"timeout {self.timeout!r} must be between 5 and 600 seconds")
        if self.base is not None:
            base = Path(self.base)
            if not base.is_absolute() or not base.is_dir():
                raise ValueError(f"base {base} must be an existing absolute directory")
            if len(str(base)) > _MAX_ROOT - 12:
                raise ValueError(f"base {base} is too long for LXD's unix sockets below it "
                                 f"(at most {_MAX_ROOT - 12} characters)")
        self.kind = cluster_server(self.server)
        bootstrap_preseed(self.preseed, name="vl-member-1", address=f"127.0.0.1:{PORT}")

    # -- context manager
    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            with contextlib.suppress(Exception):
                self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- starting
    def _tools(self) -> dict[str, str]:
        if os.geteuid() != 0:
            raise ClusterError(f"a throwaway {self.kind.daemon.title} cluster needs root")
        return self.kind.tools()

    def _step(self, what: str, argv: Sequence[str], *, seconds: float, input: str | None = None,
              env: Mapping[str, str] | None = None) -> str:
        t0 = time.monotonic()
        try:
            res = core.run(argv, Deadline(seconds, what), input=input, env=env)
        except DeadlineExceeded as err:
            raise ClusterError(f"{err}{self._log_tail()}") from None
        self.timings[what] = round(time.monotonic() - t0, 2)
        if res.returncode != 0:
            raise ClusterError(f"{what} failed ({res.returncode}): "
                               f"{(res.stderr or res.stdout).strip()[-600:]}{self._log_tail()}")
        return res.stdout

    def _log_tail(self) -> str:
        tails = []
        for m in self.nodes:
            with contextlib.suppress(OSError):
                log = m.lxd_dir / self.kind.log_name
                lines = log.read_text(errors="replace").splitlines()[-5:]
                tails.append(f"\n  {m.name} {log.name}: " + "\n    ".join(lines))
        return "".join(tails)

    def _env(self, m: Member) -> dict[str, str]:
        assert self.root is not None
        return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                self.kind.daemon.dir_env: str(m.lxd_dir), ENV_MARKER: str(self.root), "HOME": str(self.root)}

    def start(self) -> None:
        """Make the directory and network, start every daemon, bootstrap member 1, join the rest."""
        if self.root is not None:
            raise ClusterError("this cluster was started already")
        tools = self._tools()
        t_all = time.monotonic()
        self.root = Path(tempfile.mkdtemp(prefix="vlc-", dir=self.base))
        if len(str(self.root)) > _MAX_ROOT:
            raise ClusterError(f"{self.root}: too long a path for LXD's unix sockets; pass a "
                               "shorter base")
        self.root.chmod(0o711)  # the containers' (mapped) root must reach their rootfs below it
        (self.root / "owner").write_text(f"{os.getpid()} {psutil.Process().create_time()}\n")  # stale once gone
        netns = self.root / "netns"
        netns.touch()
        self._step("private network", [tools["unshare"], f"--net={netns}", "true"], seconds=10)
        self._step("loopback up", [tools["nsenter"], f"--net={netns}", tools["ip"], "link", "set",
                                   "lo", "up"], seconds=10)
        for i in range(1, self.members + 1):
            d = self.root / f"m{i}"
            d.mkdir(mode=0o711)
            d.chmod(0o711)
            self.nodes.append(Member(f"vl-member-{i}", f"127.0.0.{i}:{PORT}", d))
        t0 = time.monotonic()
        for m in self.nodes:  # all at once: they start in parallel
            with open(m.lxd_dir / "daemon.out", "wb") as log:  # the daemon keeps its own copy
                self._procs.append(subprocess.Popen(
                    [tools["nsenter"], f"--net={netns}", tools["daemon"], "--logfile",
                     str(m.lxd_dir / self.kind.log_name)], env=self._env(m), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        for m in self.nodes:
            self._step(f"start {m.name}", [tools["daemon"], "waitready",
                                           f"--timeout={int(self.timeout)}"],
                       seconds=self.timeout + 5, env=self._env(m))
        self.timings["daemons ready"] = round(time.monotonic() - t0, 2)
        first = self.nodes[0]
        boot = bootstrap_preseed(self.preseed, name=first.name, address=first.address)
        # `lxd init`/`incus admin init` runs in the cluster's network too: it dials the members'
        # addresses itself
        init = [tools["nsenter"], f"--net={netns}", tools[self.kind.init[0]], *self.kind.init[1:]]
        self._step(f"bootstrap {first.name}", init,
                   seconds=self.timeout, input=json.dumps(boot), env=self._env(first))
        cert = (first.lxd_dir / "cluster.crt").read_text()
        pools = [p["name"] for p in boot.get("storage_pools") or []]
        for m in self.nodes[1:]:
            token = self.join_token(m.name)
            pre = join_preseed(name=m.name, address=m.address, cluster_address=first.address,
                               certificate=cert, token=token, pools=pools)
            self._step(f"join {m.name}", init, seconds=self.timeout, input=json.dumps(pre),
                       env=self._env(m))
        online = self.member_states()
        if sorted(online) != sorted(m.name for m in self.nodes) or \
                set(online.values()) != {"Online"}:
            raise ClusterError(f"the cluster's members are not all online: {online}")
        self.timings["cluster ready"] = round(time.monotonic() - t_all, 2)

    # -- talking to it
    def admin(self, member: int = 0, *, project: str | None = None) -> Any:
        """A pylxd client on member ``member``'s unix socket (root: full trust)."""
        import pylxd

        m = self._member(member)
        return pylxd.Client(endpoint="http+unix://" + quote(str(m.socket), safe=""),
                            timeout=(5.0, 30.0), project=project)

    def _member(self, member: int) -> Member:
        if not self.nodes:
            raise ClusterError("the cluster is not running")
        check_int(member, minimum=0, maximum=len(self.nodes) - 1, what="member index")
        return self.nodes[member]

    def join_token(self, name: str) -> str:
        """A join token for a new member ``name`` (``lxc cluster add NAME``), from member 1."""
        client = self.admin(0)
        d = Deadline(30, f"join token for {member_name(name)}")
        with _translate(d.what):
            r = client.api.cluster.members.post(json={"server_name": name},
                                                timeout=_http_timeout(d))
        body = r.json()
        meta = (body.get("metadata") or {}).get("metadata") or {}
        return join_token(meta)

    def member_states(self) -> dict[str, str]:
        """``{member: status}`` as the cluster sees it (``lxc cluster list``)."""
        with _translate("list cluster members"):
            rows = self.admin(0).api.cluster.members.get(
                params={"recursion": 1}, timeout=(5.0, 15.0)).json()["metadata"]
        return {r["server_name"]: r["status"] for r in rows}

    @contextlib.contextmanager
    def network(self) -> Iterator[None]:
        """Run the block's network traffic (this thread's) inside the cluster's private network,
        where the members' addresses answer; the thread's own network comes back after."""
        if self.root is None:
            raise ClusterError("the cluster is not running")
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(self.root / "netns", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)
            os.close(target)

    def remote_client(self, cert: Path, key: Path, *, project: str, member: int = 0) -> Any:
        """A pylxd client over HTTPS to member ``member`` with a client certificate (what a
        learner's gate or a remote ``lxc`` uses), the server pinned to the cluster's certificate.
        Use it inside :meth:`network`."""
        import pylxd
        from pylxd.client import get_session_for_url

        m = self._member(member)
        url, pin = f"https://{m.address}", str(self.nodes[0].lxd_dir / "cluster.crt")
        session = get_session_for_url(url, verify=pin, cert=(str(cert), str(key)))
        # requests lets $REQUESTS_CA_BUNDLE/$CURL_CA_BUNDLE replace the session's `verify` (the
        # pin) and $HTTPS_PROXY route it: neither may apply to the cluster's loopback
        session.trust_env = False
        return pylxd.Client(endpoint=url, cert=(str(cert), str(key)), verify=pin,
                            session=session, timeout=(5.0, 30.0), project=project)

    def locations(self, project: str) -> dict[str, str]:
        """``{instance: member}`` of every instance in ``project`` (LXD's own placement)."""
        with _translate(f"list instances of {project}"):
            rows = self.admin(0, project=project).api.instances.get(
                params={"recursion": 1}, timeout=(5.0, 30.0)).json()["metadata"]
        return {r["name"]: r.get("location", "") for r in rows}

    # -- tearing down
    def close(self) -> list[str]:
        """Tear everything down (see the module docstring); every step is tried, failures are
        collected and raised at the end (:class:`virtlab.safety.CleanupErrors`). Returns what was
        done. Safe to call twice."""
        if self.root is None:
            return []
        done: list[str] = []
        errors: list[tuple[str, BaseException]] = []

        def step(what: str, fn: Any) -> None:
            try:
                fn()
                done.append(what)
            except Exception as err:  # noqa: BLE001 - collected, raised below
                errors.append((what, err))

        t0 = time.monotonic()
        if self.nodes and self._alive(0):
            step("delete instances", self._delete_instances)
        for i in reversed(range(len(self.nodes))):  # the joiners first, the bootstrap member last
            step(f"shut down {self.nodes[i].name}", lambda i=i: self._shutdown(i))
        step("kill leftover processes", self._kill_leftovers)
        step("unmount", self._unmount)
        step("remove directory", self._remove)
        self.timings["teardown"] = round(time.monotonic() - t0, 2)
        if errors:
            raise CleanupErrors(errors)
        self.root = None
        return done

    def _alive(self, i: int) -> bool:
        return i < len(self._procs) and self._procs[i].poll() is None \
            and self.nodes[i].socket.exists()

    def _delete_instances(self) -> None:
        from virtlab.lxd.handle import Instance

        admin = self.admin(0)
        d = Deadline(60, "delete the cluster's instances")
        with _translate("list projects"):
            projects = [p.rsplit("/", 1)[-1].split("?")[0] for p in
                        admin.api.projects.get(timeout=(5.0, 15.0)).json()["metadata"]]
        for proj in projects:
            client = self.admin(0, project=proj)
            with _translate(f"list instances of {proj}"):
                names = [n.rsplit("/", 1)[-1].split("?")[0] for n in client.api.instances.get(
                    timeout=(5.0, 15.0)).json()["metadata"]]
            for name in names:
                while True:  # an instance still busy being created refuses deletion for a moment
                    try:
                        Instance(client, name).delete(missing_ok=True,
                                                      timeout=max(1.0, d.remaining()))
                        break
                    except LxdError as err:
                        if "busy" not in str(err) or d.expired():
                            raise
                        time.sleep(0.5)

    def _shutdown(self, i: int) -> None:
        m, proc = self.nodes[i], (self._procs[i] if i < len(self._procs) else None)
        if proc is None or proc.poll() is not None:
            return
        t0 = time.monotonic()
        try:
            core.run([self.kind.daemon_path() or self.kind.binary, "shutdown", "--timeout=20"],
                     Deadline(25, f"{self.kind.binary} shutdown {m.name}"), env=self._env(m))
        except DeadlineExceeded:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()  # the deadline ran out: SIGKILL (the leftovers step finds its children)
            proc.wait(timeout=10)
            self.timings[f"shutdown {m.name}"] = round(time.monotonic() - t0, 2)
            raise ClusterError(f"{m.name} did not stop within 30 s: killed") from None
        self.timings[f"shutdown {m.name}"] = round(time.monotonic() - t0, 2)

    def _kill_leftovers(self) -> None:
        assert self.root is not None
        left = our_processes(self.root)
        if not left:
            return
        what = [f"{p.pid} {' '.join(p.cmdline())[:80]}" for p in left if p.is_running()]
        cgroups = {d for p in left for d in container_cgroups(p.pid)}  # read before they die
        for p in left:
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)
        _gone, alive = psutil.wait_procs(left, timeout=10)
        alive = [p for p in alive if _not_zombie(p)]  # killed; their new parent has yet to reap them
        if alive:
            raise ClusterError(f"processes of ours survived SIGKILL: {[p.pid for p in alive]}")
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        self.killed.extend(what)
        for d in sorted(cgroups):  # the killed containers' cgroups (theirs only, now empty)
            _rmdir_tree(d)
        left_cg = [str(d) for d in cgroups if d.exists()]
        if left_cg:
            raise ClusterError(f"cgroups of our killed containers could not be removed: {left_cg}")

    def _unmount(self) -> None:
        assert self.root is not None
        for mp in mounts_below(self.root):
            core.run(["umount", "--lazy", mp], Deadline(15, f"umount {mp}"), check=True)
        left = mounts_below(self.root)
        if left:
            raise ClusterError(f"still mounted below {self.root}: {left}")

    def _remove(self) -> None:
        assert self.root is not None
        if mounts_below(self.root):  # never delete into a mount
            raise ClusterError(f"not removing {self.root}: something is still mounted below it")
        shutil.rmtree(self.root)
