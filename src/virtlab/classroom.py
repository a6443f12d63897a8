"""A whole class on one host: each learner's own LXD project, reached without root-equivalent
groups, through a small gate (``python -m virtlab.classroom gate``).

Membership of ``lxd`` (or ``incus-admin``, ``libvirt``) is root-equivalent, so classroom learners
get none of them. Instead, per LXD's multi-tenant advice:

* every learner has a **restricted project** ``vl-learner-<user>`` with limits (instances,
  memory, CPU, processes, disk) and its own images and profiles (``features.images=true``: a
  project that shares the default project's images would let restricted clients change them);
* a **restricted TLS client certificate** trusted for that project only, kept where only root
  reads it (``/var/lib/virtlab-classroom/users/<uid>/``);
* the **gate**, a root process listening on a unix socket every local user may open. It reads the
  caller's uid from the kernel (``SO_PEERCRED``), refuses anyone without a provisioned
  certificate, opens LXD's own unix socket, upgrades it with ``STARTTLS`` and the caller's
  certificate (what Debian's ``lxd-user`` does), then only copies bytes. LXD itself decides what
  the certificate may do, so a learner sees and changes their project and nothing else. Unlike
  ``lxd-user`` it creates no bridge (the course's LXD has no network) and sets up nobody on
  first contact: provisioning does that, with limits.

A learner's notebook server sets ``LXD_DIR`` to the gate's directory and ``VIRTLAB_LXD_PROJECT``
to their project (:func:`learner_env`); :func:`virtlab.lxd.connect` needs nothing else.
VMs come from the learner's own ``qemu:///session``, cgroups from their delegated subtree,
namespaces from unprivileged user namespaces: none of them needs a group.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import os
import pwd
import select
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from virtlab import PREFIX
from virtlab.safety import VirtlabError, check_int, parse_size

STATE_DIR = Path(os.environ.get("VIRTLAB_CLASSROOM_STATE", "/var/lib/virtlab-classroom"))
GATE_DIR = Path(os.environ.get("VIRTLAB_CLASSROOM_GATE", "/run/virtlab-classroom/lxd"))
LXD_SOCKET = os.environ.get("VIRTLAB_CLASSROOM_LXD_SOCKET", "/var/lib/lxd/unix.socket")
PROJECT_PREFIX = f"{PREFIX}learner-"


class ClassroomError(VirtlabError):
    """Setting up or reaching a classroom learner's resources failed."""


@dataclass(frozen=True)
class LearnerLimits:
    """What one learner may use in LXD (project limits; LXD refuses beyond them)."""

    instances: int = 3
    memory: str = "768MiB"
    cpu: int = 2
    processes: int = 1000
    disk: str = "2GiB"
    root_size: str = "256MiB"

    def project_config(self) -> dict[str, str]:
        check_int(self.instances, minimum=1, maximum=100, what="instances per learner")
        parse_size(self.memory, minimum=64 * 1024**2, what="memory per learner")
        check_int(self.cpu, minimum=1, maximum=1024, what="CPUs per learner")
        check_int(self.processes, minimum=50, maximum=1_000_000, what="processes per learner")
        parse_size(self.disk, minimum=64 * 1024**2, what="disk per learner")
        return {
            "restricted": "true",  # no privileged/nested containers, no host devices or paths
            # snapshots are a lesson of episode 04 (restricted projects block them by default);
            # they are copies of the learner's own instances, inside the learner's disk limit
            "restricted.snapshots": "allow",
            "features.images": "true",  # its own images: never the default project's
            "features.profiles": "true",
            "features.storage.volumes": "true",
            "limits.instances": str(self.instances),
            "limits.containers": str(self.instances),
            "limits.virtual-machines": "0",  # VMs: the learner's own qemu:///session
            "limits.memory": self.memory,
            "limits.cpu": str(self.cpu),
            "limits.processes": str(self.processes),
            "limits.disk": self.disk,
        }


def project_name(user: str) -> str:
    """The learner's LXD project: ``vl-learner-<user>``."""
    if not user or not all(c.isalnum() or c in "-_" for c in user) or len(user) > 32:
        raise ValueError(f"not a usable user name: {user!r}")
    return PROJECT_PREFIX + user.replace("_", "-")


def cert_dir(uid: int, state_dir: Path | None = None) -> Path:
    """Where the learner with ``uid`` has their client certificate (root-only)."""
    return (STATE_DIR if state_dir is None else state_dir) / "users" / str(uid)


def learner_env(user: str) -> dict[str, str]:
    """Environment a learner's notebook server needs to reach their project through the gate."""
    return {"LXD_DIR": str(GATE_DIR), "VIRTLAB_LXD_PROJECT": project_name(user),
            "VIRTLAB_CONTAINER_DAEMON": "lxd"}


# --------------------------------------------------------------------------- provisioning (root)
def _make_cert(directory: Path, common_name: str) -> bytes:
    """A client certificate + key (EC P-384, 10 years) in ``directory``; returns the DER cert."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    crt, key_path = directory / "client.crt", directory / "client.key"
    if crt.exists() and key_path.exists():
        return x509.load_pem_x509_certificate(crt.read_bytes()).public_bytes(
            serialization.Encoding.DER)
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA384()))
    old = os.umask(0o077)
    try:
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    finally:
        os.umask(old)
    return cert.public_bytes(serialization.Encoding.DER)


def setup_learner(user: str, limits: LearnerLimits | None = None, *,
                  images: Sequence[str] = ("vl-busybox",), pool: str = "default",
                  lxd_socket: str | None = None, state_dir: Path | None = None,
                  allow_unchecked_cluster: bool = False) -> dict[str, Any]:
    """Root: give ``user`` a restricted LXD project with ``limits``, a restricted certificate
    for it (used by the gate), a default profile (root disk on ``pool``, no network) and copies
    of the course ``images``. Idempotent; limits are re-applied. Returns what was set.

    ``lxd_socket`` and ``state_dir`` default to the classroom's (:data:`LXD_SOCKET`,
    :data:`STATE_DIR`); the cluster test (tests/live/test_lxd_cluster_live.py) points them at a
    throwaway LXD cluster member and a private directory.

    A **cluster** member whose LXD skips project limits and restrictions for instances created
    without a target (:func:`virtlab.lxd.cluster.unchecked_creation`: LXD before 5.0.7, e.g.
    Debian 12's 5.0.2) is refused: its learners could create privileged containers, i.e. become
    root on a member. ``allow_unchecked_cluster=True`` proceeds anyway (the test that shows it)."""
    from virtlab import lxd

    if os.geteuid() != 0:
        raise ClassroomError("setting up a classroom learner needs root")
    limits = limits or LearnerLimits()
    pw = pwd.getpwnam(user)
    proj = project_name(user)
    sock = LXD_SOCKET if lxd_socket is None else lxd_socket
    state = STATE_DIR if state_dir is None else state_dir
    admin = lxd.connect(socket_file=sock)
    env = admin.host_info.get("environment") or {}
    if env.get("server_clustered") and not allow_unchecked_cluster:
        from virtlab.lxd.clustering import unchecked_creation

        if unchecked_creation(env.get("server", "lxd"), env.get("server_version", "0")):
            raise ClassroomError(
                f"this {env.get('server', 'lxd')} {env.get('server_version')} cluster does not "
                "check a project's limits and restrictions for instances created without a "
                "target (lxc/incus#463; fixed in LXD 5.0.7, 5.21.3, 6.2): a learner could create a "
                "privileged container. Upgrade LXD (or use Incus), or run the classroom on one host "
                "(docs/classroom.md, \"Beyond one host\")")
    cfg = limits.project_config()
    if proj in [lxd.url_name(n) for n in admin.api.projects.get().json()["metadata"]]:
        cur = admin.api.projects[proj].get().json()["metadata"]
        admin.api.projects[proj].put(json={"config": {**cur.get("config", {}), **cfg},
                                           "description": cur.get("description", "")})
    else:
        admin.api.projects.post(json={"name": proj, "config": cfg,
                                      "description": f"virtlab classroom learner {user} "
                                                     f"(uid {pw.pw_uid})"})
    d = cert_dir(pw.pw_uid, state)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    der = _make_cert(d, f"virtlab-{user}")
    import hashlib

    fp = hashlib.sha256(der).hexdigest()
    trusted = [lxd.url_name(c) for c in admin.api.certificates.get().json()["metadata"]]
    if fp not in trusted:
        r = admin.api.certificates.post(json={
            "name": f"virtlab-{user}", "type": "client", "restricted": True,
            "projects": [proj], "certificate": base64.b64encode(der).decode()})
        if r.status_code >= 400:
            raise ClassroomError(f"LXD refused the certificate for {user}: {r.text}")
    pc = lxd._in_project(sock, proj)
    pc.api.profiles["default"].put(json={
        "description": "virtlab classroom learner: root disk, no network",
        "config": {}, "devices": {"root": {"type": "disk", "path": "/", "pool": pool,
                                           "size": limits.root_size}}})
    copied = []
    for alias in images:
        if _alias_exists(pc, alias):
            continue
        fp_src = admin.api.images.aliases[alias].get().json()["metadata"]["target"]
        data = admin.api.images[fp_src].export.get(timeout=(5, 120)).content
        img = pc.images.create(data, public=False, wait=True)
        img.add_alias(alias, "virtlab course image (copied for the classroom)")
        copied.append(alias)
    return {"user": user, "uid": pw.pw_uid, "project": proj, "limits": cfg,
            "certificate": fp, "images_copied": copied}


def _alias_exists(client: Any, alias: str) -> bool:
    from pylxd import exceptions as pexc

    try:
        return client.api.images.aliases[alias].get().status_code == 200
    except pexc.NotFound:
        return False


def remove_learner(user: str) -> list[str]:
    """Root: remove ``user``'s project (and everything in it) and certificate."""
    from virtlab import lxd, owners

    if os.geteuid() != 0:
        raise ClassroomError("removing a classroom learner needs root")
    pw = pwd.getpwnam(user)
    proj = project_name(user)
    removed: list[str] = []
    admin = lxd.connect(socket_file=LXD_SOCKET)
    with owners.all_users():
        removed += lxd._cleanup_daemon(lxd._in_project(LXD_SOCKET, proj), None)
    pc = lxd._in_project(LXD_SOCKET, proj)
    for img in pc.images.all():
        img.delete(wait=True)
    admin.api.projects[proj].delete()
    removed.append(f"project {proj}")
    der_crt = cert_dir(pw.pw_uid) / "client.crt"
    if der_crt.exists():
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        fp = x509.load_pem_x509_certificate(der_crt.read_bytes()).fingerprint(hashes.SHA256()).hex()
        admin.api.certificates[fp].delete()
        removed.append(f"certificate {fp[:12]}")
    return removed


# --------------------------------------------------------------------------- the gate (root)
def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a unix socket (the kernel's word)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def _tls_to_lxd(uid: int) -> ssl.SSLSocket:
    d = cert_dir(uid)
    if not (d / "client.crt").exists():
        raise ClassroomError(f"uid {uid} is not a classroom learner")
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.settimeout(10)
    raw.connect(LXD_SOCKET)
    raw.sendall(b"STARTTLS\n")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # pinned below: the server certificate in LXD's directory
    ctx.load_cert_chain(d / "client.crt", d / "client.key")
    tls = ctx.wrap_socket(raw)
    server_pem = Path(LXD_SOCKET).with_name("server.crt")
    if server_pem.exists():
        want = ssl.PEM_cert_to_DER_cert(server_pem.read_text())
        if tls.getpeercert(binary_form=True) != want:
            tls.close()
            raise ClassroomError("the LXD socket answered with an unexpected certificate")
    tls.settimeout(None)
    return tls


def _recv(s: socket.socket) -> bytes | None:
    """What ``s`` has (b"": the peer hung up). On a TLS socket, None when what arrived carries no
    data — a TLS 1.3 session ticket LXD sends after the handshake, or part of a record: a
    blocking read there would wait for data that only comes once the learner's request is
    relayed, and this thread, stuck in that read, would never relay it (seen as a learner's
    ``lxc stop`` getting no answer; tests/unit/test_classroom_gate.py)."""
    if not isinstance(s, ssl.SSLSocket):
        return s.recv(65536)
    s.setblocking(False)
    try:
        return s.recv(65536)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return None
    finally:
        s.setblocking(True)


def _pump(a: socket.socket, b: socket.socket) -> None:
    socks = [a, b]
    try:
        while True:
            readable, _, _ = select.select(socks, [], [], 3600)
            if not readable:
                return  # an hour without a byte: close
            for s in readable:
                data = _recv(s)
                if data is None:
                    continue
                if not data:
                    return
                (b if s is a else a).sendall(data)
                # an SSL socket may hold decrypted bytes select() cannot see: drain it
                while isinstance(s, ssl.SSLSocket) and s.pending():
                    more = s.recv(s.pending())
                    (b if s is a else a).sendall(more)
    except OSError:
        return
    finally:
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()


def _serve_one(conn: socket.socket) -> None:
    try:
        uid = peer_uid(conn)
        upstream = _tls_to_lxd(uid)
    except (OSError, ClassroomError, ssl.SSLError) as err:
        body = (f'{{"type":"error","error":"virtlab classroom gate: {err}","error_code":403,'
                '"metadata":null}').encode()
        with contextlib.suppress(OSError):
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\n\r\n" + body)
            conn.close()
        return
    _pump(conn, upstream)


def serve(socket_dir: Path = GATE_DIR, ready: threading.Event | None = None) -> None:
    """Run the gate: ``<socket_dir>/unix.socket``, mode 0666 (the peer's uid is the check)."""
    socket_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(socket_dir, 0o755)
    path = socket_dir / "unix.socket"
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    os.chmod(path, 0o666)
    srv.listen(128)
    if ready is not None:
        ready.set()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=_serve_one, args=(conn,), daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m virtlab.classroom")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gate", help="run the LXD gate for classroom learners (root)")
    g.add_argument("--dir", default=str(GATE_DIR))
    s = sub.add_parser("setup-learner", help="project + certificate + images for a learner (root)")
    s.add_argument("user")
    for f in LearnerLimits.__dataclass_fields__.values():
        s.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    s.add_argument("--allow-unchecked-cluster", action="store_true",
                   help="set up the learner even on an LXD cluster that does not check project "
                        "limits and restrictions (LXD < 5.0.7): learners could become root")
    r = sub.add_parser("remove-learner", help="remove a learner's project and certificate (root)")
    r.add_argument("user")
    e = sub.add_parser("env", help="print the environment a learner's server needs")
    e.add_argument("user")
    a = p.parse_args(argv)
    try:
        if a.cmd == "gate":
            serve(Path(a.dir))
        elif a.cmd == "setup-learner":
            lim = LearnerLimits(**{k: getattr(a, k) for k in LearnerLimits.__dataclass_fields__})
            print(setup_learner(a.user, lim, allow_unchecked_cluster=a.allow_unchecked_cluster))
        elif a.cmd == "remove-learner":
            print("\n".join(remove_learner(a.user)))
        else:
            for k, v in learner_env(a.user).items():
                print(f"{k}={v}")
    except (VirtlabError, ValueError, LookupError, KeyError) as err:
        print(f"virtlab.classroom: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
