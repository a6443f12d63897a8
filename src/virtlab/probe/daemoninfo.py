"""The daemons: LXD/Incus sockets and whether they answer, libvirt URIs; consulted only where a mode
may go live.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

from virtlab import PREFIX, daemons
from virtlab.probe.basics import _with_timeout

#: default sockets of LXD (Debian, snap) and Incus; the order and the env vars: virtlab.daemons
LXD_SOCKETS = tuple(s for d in daemons.DAEMONS.values() for s in d.sockets)


LIBVIRT_URIS = ("qemu:///system", "test:///default")


# --------------------------------------------------------------------------- LXD
@dataclass
class LxdInfo:
    reachable: bool
    socket: str | None
    version: str | None = None
    storage_pools: list[str] = field(default_factory=list)
    course_images: list[str] = field(default_factory=list)
    error: str = ""
    fix: str = ""
    server: str = "lxd"  # which daemon answered: "lxd" or "incus" (virtlab.daemons)
    differences: list[str] = field(default_factory=list)  # daemons.Difference keys that apply

    @property
    def title(self) -> str:
        """How the daemon that answered calls itself: "LXD" or "Incus" (for banners)."""
        d = daemons.DAEMONS.get(self.server)
        return d.title if d else self.server


def lxd_socket_candidates() -> list[str]:
    """Sockets of LXD and Incus the course tries, in order (see :mod:`virtlab.daemons`)."""
    return [sock for _, sock in daemons.socket_candidates()]


def container_daemons(timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every candidate socket of LXD and Incus (snap paths, ``LXD_DIR``/``INCUS_DIR`` included):
    whether it exists, which daemon answers there (``GET /1.0`` → ``environment.server``), its
    version and which API differences of :mod:`virtlab.daemons` apply. Ignores
    ``VIRTLAB_CONTAINER_DAEMON`` (that only picks among these). Never raises."""
    from virtlab import daemons

    cands: list[str] = []
    for d in daemons.DAEMONS.values():
        cands.extend(s for s in d.socket_candidates() if s not in cands)
    out: list[dict[str, Any]] = []
    for sock in cands:
        row: dict[str, Any] = {"socket": sock, "exists": os.path.exists(sock), "server": None,
                               "version": None, "differences": [], "error": ""}
        out.append(row)
        if not row["exists"]:
            continue

        def ask(sock: str = sock) -> dict[str, Any]:
            import pylxd

            return pylxd.Client(endpoint=sock, timeout=timeout).host_info.get("environment", {})

        try:
            env = _with_timeout(ask, timeout + 1, "container daemon")
            d = daemons.by_server(env.get("server"))
            row.update(server=d.key, version=env.get("server_version"),
                       differences=[x.key for x in d.differences])
        except Exception as err:  # noqa: BLE001 - reported, never raised
            row["error"] = f"{type(err).__name__}: {err}"[:200]
    return out


def lxd(refresh: bool = False) -> LxdInfo:
    if refresh:
        _lxd.cache_clear()
    return _lxd()


LXD_FIX = ("install and start LXD, e.g. `sudo labs/lab-vm/provision.sh` "
           "(or `make provision`), then add yourself to the `lxd` group and log in again")


@functools.lru_cache(maxsize=1)
def _lxd() -> LxdInfo:
    try:
        socks = [s for s in lxd_socket_candidates() if os.path.exists(s)]
    except ValueError as err:  # VIRTLAB_CONTAINER_DAEMON names no daemon
        return LxdInfo(False, None, error=str(err), fix="set VIRTLAB_CONTAINER_DAEMON=lxd or incus")
    if not socks:
        return LxdInfo(False, None, error="no LXD socket found (" + ", ".join(
            lxd_socket_candidates()) + ")", fix=LXD_FIX)
    sock = socks[0]
    if not os.access(sock, os.R_OK | os.W_OK):
        return LxdInfo(False, sock, error=f"permission denied on {sock}",
                       fix="add yourself to the `lxd` group (`sudo adduser $USER lxd`) and log in again")
    try:
        import pylxd  # noqa: F401
    except ImportError:
        return LxdInfo(False, sock, error="the Python package pylxd is not installed",
                       fix="run `make lab` (it installs the course's Python packages)")

    def ask() -> LxdInfo:
        import pylxd

        client = pylxd.Client(endpoint=sock, timeout=5)
        env = client.host_info.get("environment", {})
        pools = [p.name for p in client.storage_pools.all()]
        images = []
        for img in client.images.all():
            props = img.properties or {}
            if props.get("virtlab.owner") or any(a.get("name", "").startswith(PREFIX) for a in img.aliases):
                images.extend(a["name"] for a in img.aliases) if img.aliases else images.append(img.fingerprint[:12])
        d = daemons.by_server(env.get("server"))
        want = daemons.wanted()
        if want is not None and want is not d:
            raise LookupError(f"{sock} is {d.title}, but {daemons.ENV_VAR}={want.key}")
        return LxdInfo(True, sock, env.get("server_version"), pools, sorted(images),
                       server=d.key, differences=[x.key for x in d.differences])

    try:
        return _with_timeout(ask, 8, "LXD")
    except Exception as err:  # noqa: BLE001 - reported, never raised
        return LxdInfo(False, sock, error=f"{type(err).__name__}: {err}"[:300], fix=LXD_FIX)


# --------------------------------------------------------------------------- libvirt
@dataclass
class LibvirtInfo:
    python_binding: bool
    uris: dict[str, dict[str, Any]]  # uri -> {"ok": bool, "version": str, "error": str}
    fix: str = ""


def silence_libvirt() -> None:
    """Replace libvirt's default error handler (which prints to stderr) by a silent one."""
    try:
        import libvirt
    except ImportError:
        return
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def _libvirt_version(v: int) -> str:
    return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"


def libvirt_info(refresh: bool = False) -> LibvirtInfo:
    if refresh:
        _libvirt.cache_clear()
    return _libvirt()


LIBVIRT_FIX = ("install libvirt + QEMU and start libvirtd, e.g. `sudo labs/lab-vm/provision.sh`, "
               "then add yourself to the `libvirt` group and log in again")


def _libvirt_uri(uri: str) -> dict[str, Any]:
    """Try to connect to one libvirt URI, with a deadline; never raises."""
    try:
        import libvirt
    except ImportError:
        return {"ok": False, "error": "libvirt-python is not installed"}
    silence_libvirt()
    if uri == "qemu:///system" and not any(os.path.exists(p) for p in (
            "/var/run/libvirt/libvirt-sock", "/run/libvirt/libvirt-sock",
            "/var/run/libvirt/virtqemud-sock", "/run/libvirt/virtqemud-sock")):
        return {"ok": False, "error": "no libvirtd socket (daemon not running)"}

    def connect() -> dict[str, Any]:
        conn = libvirt.open(uri)
        try:
            return {"ok": True, "version": _libvirt_version(conn.getLibVersion()),
                    "hypervisor": conn.getType()}
        finally:
            conn.close()

    try:
        return _with_timeout(connect, 30 if uri.startswith("qemu") else 5, uri)
    except Exception as err:  # noqa: BLE001 - reported
        msg = err.get_error_message() if hasattr(err, "get_error_message") else str(err)
        return {"ok": False, "error": str(msg)[:300]}


@functools.lru_cache(maxsize=1)
def _libvirt() -> LibvirtInfo:
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return LibvirtInfo(False, {u: {"ok": False, "error": "libvirt-python is not installed"}
                                   for u in LIBVIRT_URIS},
                           fix="install libvirt-python (needs libvirt headers: `make lab` as root "
                               "on Debian/Ubuntu installs them); meanwhile libvirt cells run recorded")
    uris = {uri: _libvirt_uri(uri) for uri in LIBVIRT_URIS}
    fix = "" if uris["qemu:///system"]["ok"] else LIBVIRT_FIX
    return LibvirtInfo(True, uris, fix)


def _daemons_wanted(mode: str | None = None) -> bool:
    """Only a mode that may go live (``auto``, ``live``) contacts a daemon; in ``embedded`` or
    ``recorded`` the course never does. ``mode`` defaults to the one the learner asked for, as
    :func:`virtlab.modes.requested_mode` reads it (the only reader of ``VIRTLAB_MODE``)."""
    if mode is None:
        from virtlab import modes  # modes imports probe: asked at call time

        mode = modes.requested_mode()
    return mode in ("auto", "live")
