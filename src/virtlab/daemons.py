"""LXD or Incus: the two system-container daemons the course drives, and how they differ.

Incus is the community fork of LXD (2023). Both speak the same REST API over a unix socket and
pylxd drives both, so :mod:`virtlab.lxd` has one code path. The few places where they differ are
named here, once, as :class:`Difference` records on each :class:`Daemon`; code that cares asks
``daemon.has(WAIT_TIMEOUT_IS_ERROR)`` instead of comparing daemon names. (Not a difference,
though reported as one: both LXD 5.0 and Incus 6.0 refuse a PUT of an instance record read before
the instance started — "Volatile idmap keys can't be deleted by the user" — so the course always
re-reads a record right before writing it back; tests/live/test_lxd_live.py checks all of this.)

Which daemon? The one whose socket is found first (:func:`socket_candidates`), identified by what
it says about itself (``GET /1.0`` → ``environment.server``), never by its path. Where both run,
``VIRTLAB_CONTAINER_DAEMON=lxd|incus`` picks one; :func:`wanted` is the only place that reads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: the environment variable that picks the daemon where both run (read by :func:`wanted` only)
ENV_VAR = "VIRTLAB_CONTAINER_DAEMON"


@dataclass(frozen=True)
class Difference:
    """One way a daemon differs from LXD 5.0 (the course's baseline), as a learner or code sees it."""

    key: str
    what: str


WAIT_TIMEOUT_IS_ERROR = Difference(
    "wait-timeout-is-error",
    "GET /1.0/operations/<id>/wait?timeout=N answers an error ('context deadline exceeded') while "
    "the operation still runs, where LXD answers with the running operation")
NO_CONTAINERS_ENDPOINT = Difference(
    "no-containers-endpoint",
    "the legacy /1.0/containers endpoint is gone: only /1.0/instances (pylxd's `instances`)")
CLI_INCUS = Difference(
    "cli-incus", "the client is `incus` (`incus admin init`, `incus launch ...`), not `lxc`/`lxd init`")
RESTRICTED_NO_SWAP_KEY = Difference(
    "restricted-no-swap-key",
    "a restricted project refuses `limits.memory.swap` ('Use of low-level config ... is "
    "forbidden'); LXD 5.0 accepts it (measured: the cluster test, Incus 6.0.4)")
GROUP_INCUS_ADMIN = Difference(
    "group-incus-admin",
    "full access is group `incus-admin` (group `incus` gets a restricted project per user via "
    "incus-user), not group `lxd`")


@dataclass(frozen=True)
class Daemon:
    """What the course needs to know about one daemon flavour."""

    key: str  # what the daemon answers in GET /1.0 environment.server
    title: str
    cli: str  # its command-line client
    dir_env: str  # the environment variable that names its directory (client and daemon)
    sockets: tuple[str, ...]  # default socket paths, most usual first
    group: str  # the group whose members may use the socket (root-equivalent)
    script: str  # how the course starts it without systemd
    log: str
    differences: tuple[Difference, ...] = ()

    def has(self, diff: Difference) -> bool:
        return diff in self.differences

    def socket_candidates(self) -> list[str]:
        """``$<dir_env>/unix.socket`` first (when set), then the default paths."""
        cands = []
        if os.environ.get(self.dir_env):
            cands.append(os.path.join(os.environ[self.dir_env], "unix.socket"))
        cands.extend(s for s in self.sockets if s not in cands)
        return cands

    @property
    def start_hint(self) -> str:
        flag = " --incus" if self.key == "incus" else ""
        return (f"start {self.title}: `sudo labs/lab-vm/provision.sh{flag}` (or, where it is "
                f"installed already, `sudo {self.script} start`)")

    @property
    def group_hint(self) -> str:
        return (f"add yourself to the group {self.group} (`sudo adduser $USER {self.group}`) "
                "and log in again")


LXD = Daemon("lxd", "LXD", "lxc", "LXD_DIR",
             ("/var/lib/lxd/unix.socket", "/var/snap/lxd/common/lxd/unix.socket"),
             "lxd", "labs/lab-vm/lxd-daemon.sh", "/var/log/lxd/lxd.log")
INCUS = Daemon("incus", "Incus", "incus", "INCUS_DIR", ("/var/lib/incus/unix.socket",),
               "incus-admin", "labs/lab-vm/incus-daemon.sh", "/var/log/incus/incusd.log",
               (WAIT_TIMEOUT_IS_ERROR, NO_CONTAINERS_ENDPOINT, CLI_INCUS, GROUP_INCUS_ADMIN,
                RESTRICTED_NO_SWAP_KEY))
DAEMONS: dict[str, Daemon] = {d.key: d for d in (LXD, INCUS)}


def wanted() -> Daemon | None:
    """The daemon ``VIRTLAB_CONTAINER_DAEMON`` asks for, or None (unset: whichever is found)."""
    raw = os.environ.get(ENV_VAR, "").strip().lower()
    if not raw:
        return None
    if raw not in DAEMONS:
        raise ValueError(f"{ENV_VAR}={raw!r} is not a container daemon; use one of "
                         f"{', '.join(DAEMONS)} (or leave it unset)")
    return DAEMONS[raw]


def by_server(server: str | None) -> Daemon:
    """The daemon that answered ``environment.server`` = ``server`` (LookupError if unknown)."""
    try:
        return DAEMONS[(server or "lxd").lower()]
    except KeyError:
        raise LookupError(f"the server calls itself {server!r}: neither LXD nor Incus") from None


def socket_candidates() -> list[tuple[Daemon, str]]:
    """(expected daemon, socket path) in the order the course tries them.

    With ``VIRTLAB_CONTAINER_DAEMON`` set: only that daemon's sockets. Otherwise a directory
    named explicitly (``LXD_DIR``, then ``INCUS_DIR``) is the only candidate — never
    second-guessed — and without one LXD's sockets (Debian path, snap path) come before Incus's.
    The expected daemon is a guess from the path; the server's own answer decides.
    """
    pick = wanted()
    if pick is not None:
        return [(pick, s) for s in pick.socket_candidates()]
    for d in DAEMONS.values():
        if os.environ.get(d.dir_env):
            return [(d, d.socket_candidates()[0])]
    return [(d, s) for d in DAEMONS.values() for s in d.sockets]


__all__ = ["DAEMONS", "Daemon", "Difference", "ENV_VAR", "INCUS", "LXD", "by_server",
           "socket_candidates", "wanted"]
