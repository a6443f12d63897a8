"""What an LXD (or Incus) cluster needs from the course, as plain data and checks (no daemon is
touched): how to run each server's daemon (:func:`cluster_server`), the first member's preseed (:data:`PRESEED`, the shipped ``labs/classroom/lxd-cluster-preseed.yaml``)
and a joining member's, join tokens, member names and loopback addresses, and which LXD releases
check a project's limits in a cluster (:func:`unchecked_creation`). :mod:`virtlab.lxd.cluster`
runs a throwaway cluster with them; :func:`virtlab.classroom.setup_learner` refuses an unchecked
one.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from virtlab import daemons
from virtlab.core.registry import cleans
from virtlab.lxd.client import LxdError

#: the shipped first-member preseed (labs/classroom/lxd-cluster-preseed.yaml) as data;
#: tests/unit/test_lxd_cluster.py checks the two agree
PRESEED: dict[str, Any] = {
    "config": {"core.https_address": "10.0.0.11:8443", "cluster.https_address": "10.0.0.11:8443",
               "images.auto_update_interval": "0"},
    "cluster": {"server_name": "vl-member-1", "enabled": True},
    "storage_pools": [{"name": "default", "driver": "dir"}],
    "networks": [],
    "profiles": [{"name": "default",
                  "devices": {"root": {"path": "/", "pool": "default", "type": "disk"}}}],
}
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_ADDR_RE = re.compile(r"^127\.0\.0\.([1-9]\d{0,2}):(\d{1,5})$")


class ClusterError(LxdError):
    """Starting, joining or tearing down the throwaway LXD cluster failed (says which step)."""


# --------------------------------------------------------------------------- LXD or Incus
@dataclass(frozen=True)
class ClusterServer:
    """How to run one server's daemons for a throwaway cluster. LXD has one binary for the daemon,
    ``waitready``, ``shutdown`` and ``init --preseed``. Incus split them: the daemon ``incusd``
    (Debian: ``/usr/libexec/incus/incusd``, not on ``PATH``) keeps ``waitready`` and ``shutdown``;
    ``init`` moved to the client (``incus admin init --preseed``, which finds the daemon's socket
    through ``INCUS_DIR``). Everything else the cluster needs is the same REST API and the same
    preseed and join-token formats (tests/live/test_lxd_cluster_live.py runs both)."""

    daemon: daemons.Daemon  # key ("lxd"/"incus"), dir_env (LXD_DIR/INCUS_DIR), title
    binary: str  # the daemon's binary (name on PATH)
    fallback: str  # where the distribution installs it off PATH ("" if nowhere)
    init: tuple[str, ...]  # argv of a preseed init (first word: a binary on PATH)
    package: str  # the Debian package with the daemon

    @property
    def key(self) -> str:
        return self.daemon.key

    @property
    def log_name(self) -> str:
        return f"{self.binary}.log"

    def daemon_path(self) -> str | None:
        """The daemon binary's path, or None when it is not installed."""
        found = shutil.which(self.binary)
        if found is None and self.fallback and os.access(self.fallback, os.X_OK):
            found = self.fallback
        return found

    def tools(self) -> dict[str, str]:
        """``{"daemon": path, tool: path}`` of everything a throwaway cluster runs (the init
        client, util-linux's ``unshare``/``nsenter``, ``ip``, ``umount``); ClusterError names a
        missing one and its Debian package."""
        found = {"daemon": self.daemon_path() or ""}
        if not found["daemon"]:
            raise ClusterError(f"{self.binary} is not installed (Debian package {self.package})")
        client_pkg = self.package if self.init[0] == self.binary else f"{self.daemon.cli}-client"
        for tool, pkg in ((self.init[0], client_pkg), ("unshare", "util-linux"),
                          ("nsenter", "util-linux"), ("ip", "iproute2"), ("umount", "mount")):
            found[tool] = shutil.which(tool) or ""
            if not found[tool]:
                raise ClusterError(f"{tool} is not installed (Debian package {pkg})")
        return found

    def installed(self) -> bool:
        """Are the daemon and the client its init needs both installed?"""
        return self.daemon_path() is not None and shutil.which(self.init[0]) is not None


CLUSTER_SERVERS: dict[str, ClusterServer] = {
    "lxd": ClusterServer(daemons.LXD, "lxd", "", ("lxd", "init", "--preseed"), "lxd"),
    "incus": ClusterServer(daemons.INCUS, "incusd", "/usr/libexec/incus/incusd",
                           ("incus", "admin", "init", "--preseed"), "incus-base"),
}


def cluster_server(server: str) -> ClusterServer:
    """``"lxd"`` or ``"incus"``'s :class:`ClusterServer`; ValueError for anything else."""
    if not isinstance(server, str) or server not in CLUSTER_SERVERS:
        raise ValueError(f"server {server!r} must be one of {', '.join(CLUSTER_SERVERS)}")
    return CLUSTER_SERVERS[server]



# --------------------------------------------------------------------------- a known LXD bug
#: LXD releases whose cluster members skip a project's limits AND restrictions when an instance is
#: created without a target (the member that places it returns before the check; the member it
#: forwards to treats the request as a cluster notification): lxc/incus#463, fixed in LXD by
#: "lxd/instances: Don't bypass instance limit check" in 5.0.7, 5.21.3 and 6.2. Debian 12 ships
#: 5.0.2. Measured here by tests/live/test_lxd_cluster_live.py: a restricted learner gets past
#: limits.instances and creates and starts a *privileged* container. [from, to) per series.
UNCHECKED_LXD = (((5, 0, 0), (5, 0, 7)), ((5, 1, 0), (5, 21, 3)), ((5, 22, 0), (6, 2, 0)))


def _version(text: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", str(text))[:3]
    if not parts:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(x) for x in parts) + (0,) * (3 - len(parts))


def unchecked_creation(server: str, version: str) -> bool:
    """Does this daemon, clustered, skip project limits and restrictions for instances created
    without a target? True for the LXD releases in :data:`UNCHECKED_LXD`; Incus before 0.6 (fixed
    by lxc/incus#505, "incusd/instances: Don't bypass instance limit check", February 2024).
    Measured: Incus 6.0.4 (Debian 12 backports) refuses both through either member."""
    v = _version(version)
    if server == "incus":
        return v < (0, 6, 0)
    return any(lo <= v < hi for lo, hi in UNCHECKED_LXD)


# --------------------------------------------------------------------------- validation, preseeds
def member_name(name: str) -> str:
    """A usable cluster member (server) name: lowercase letters, digits, '-'; else ValueError."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith("-"):
        raise ValueError(f"not a usable cluster member name: {name!r} (lowercase letters, digits "
                         "and '-', starting with a letter)")
    return name


def loopback_address(address: str) -> str:
    """``127.0.0.N:PORT`` (the only addresses this module binds), else ValueError."""
    m = _ADDR_RE.match(address) if isinstance(address, str) else None
    if not m or not 1 <= int(m.group(1)) <= 254 or not 1 <= int(m.group(2)) <= 65535:
        raise ValueError(f"not a loopback member address: {address!r} (want 127.0.0.N:PORT)")
    return address


def bootstrap_preseed(template: Mapping[str, Any], *, name: str, address: str) -> dict[str, Any]:
    """The first member's preseed: ``template`` (the shipped preseed) with this member's server
    name and address (REST API and cluster traffic both on ``address``). The template must enable
    clustering and define the ``default`` pool the profile's root disk uses."""
    cfg = json.loads(json.dumps(dict(template)))  # a deep copy of plain data
    if not isinstance(cfg.get("cluster"), dict) or cfg["cluster"].get("enabled") is not True:
        raise ValueError("the preseed template does not enable clustering (cluster.enabled: true)")
    pools = {p.get("name") for p in cfg.get("storage_pools") or []}
    roots = [(p.get("devices") or {}).get("root", {}).get("pool") for p in cfg.get("profiles") or []]
    if not pools or any(r not in pools for r in roots if r):
        raise ValueError(f"the preseed template's profiles use pools it does not define: {roots} "
                         f"(defined: {sorted(p for p in pools if p)})")
    cfg.setdefault("config", {})
    cfg["config"]["core.https_address"] = loopback_address(address)
    cfg["config"]["cluster.https_address"] = address
    cfg["cluster"]["server_name"] = member_name(name)
    return cfg


def join_token(op_metadata: Mapping[str, Any]) -> str:
    """The join token of a ``POST /1.0/cluster/members`` operation (what ``lxc cluster add``
    prints): base64 of its JSON fields."""
    try:
        tok = {"server_name": op_metadata["serverName"], "fingerprint": op_metadata["fingerprint"],
               "addresses": list(op_metadata["addresses"]), "secret": op_metadata["secret"],
               "expires_at": op_metadata.get("expiresAt", "0001-01-01T00:00:00Z")}
    except (KeyError, TypeError) as err:
        raise ClusterError(f"LXD's join-token operation lacks {err}: {dict(op_metadata)}") from None
    return base64.b64encode(json.dumps(tok).encode()).decode()


def join_preseed(*, name: str, address: str, cluster_address: str, certificate: str,
                 token: str, pools: Sequence[str] = ("default",)) -> dict[str, Any]:
    """A further member's preseed: join the cluster at ``cluster_address`` (whose certificate is
    ``certificate``, PEM) with ``token``; each ``dir`` pool in its default place."""
    if "BEGIN CERTIFICATE" not in certificate:
        raise ValueError("certificate must be the cluster's PEM certificate")
    if not token:
        raise ValueError("a join token is needed (POST /1.0/cluster/members on a member)")
    return {"cluster": {
        "enabled": True, "server_name": member_name(name),
        "server_address": loopback_address(address),
        "cluster_address": loopback_address(cluster_address),
        "cluster_certificate": certificate, "cluster_token": token,
        "member_config": [{"entity": "storage-pool", "name": p, "key": "source", "value": ""}
                          for p in pools]}}


# --------------------------------------------------------------------------- after a crash
def stale_roots() -> list[Path]:
    """Directories of throwaway clusters (:class:`virtlab.lxd.cluster.LocalCluster`) left on this
    host — by a test that was killed before its teardown: named in the environment of a process
    of theirs (``VIRTLAB_LXD_CLUSTER``), or a ``vlc-*`` directory in the temporary folder with the
    cluster's layout (its ``netns`` file and first member's ``m1``) — and whose owner (the
    process that started it) is gone: a cluster in use by a running test is never stale."""
    import tempfile

    import psutil

    from virtlab.lxd.cluster import ENV_MARKER

    roots: set[Path] = set()
    for p in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            v = p.environ().get(ENV_MARKER, "")
            if v.startswith("/") and Path(v).name.startswith("vlc-"):
                roots.add(Path(v))
    for d in Path(tempfile.gettempdir()).glob("vlc-*"):
        if (d / "netns").is_file() and (d / "m1").is_dir():
            roots.add(d)
    return sorted(r for r in roots if not _owner_alive(r))


def _owner_alive(root: Path) -> bool:
    """Whether the process that started the cluster in ``root`` still runs (its ``owner`` file:
    pid and start time, so a recycled pid does not count): then the cluster is in use, not stale."""
    import psutil

    try:
        pid, started = (root / "owner").read_text().split()
        return abs(psutil.Process(int(pid)).create_time() - float(started)) < 0.01
    except (OSError, ValueError, psutil.Error):
        return False


@cleans(order=15)  # after the host daemons' instances, before cgroups and stray processes
def cleanup() -> list[str]:
    """Root: tear down every throwaway cluster left on the host (its daemons and containers
    killed, its mounts detached, its directory removed — only what names its directory)."""
    from virtlab.lxd.cluster import LocalCluster

    if os.geteuid() != 0:
        return []
    done = []
    for root in stale_roots():
        cl = LocalCluster(members=1)
        cl.root = root  # adopted: no members to ask, so everything of it is killed and removed
        if root.exists():
            cl.close()
        else:  # its folder is gone, its processes are not: only they are left to end
            cl._kill_leftovers()
        done.append(f"throwaway LXD cluster {root}")
    return done
