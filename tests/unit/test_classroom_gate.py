"""The classroom gate's relay (virtlab.classroom._pump) between a learner's plain unix socket and
LXD's TLS: bytes both ways, and no stall on TLS records that carry no data (a TLS 1.3 server sends
session tickets after the handshake; a blocking read on them waited for data that could only come
after the learner's request — which the relay, stuck in that read, never forwarded)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from virtlab import classroom

x509 = pytest.importorskip("cryptography.x509")


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-lxd")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    crt, k = tmp / "server.crt", tmp / "server.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return crt, k


def _relay(tmp: Path):
    """A fake LXD (TLS 1.3 server, session tickets on, echoing what it gets),
    the gate's TLS client to it, and the relay between that and a learner's socket."""
    crt, key = _self_signed(tmp)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sctx.load_cert_chain(crt, key)
    sctx.num_tickets = 2
    up_client, up_server = socket.socketpair()

    def fake_lxd() -> None:
        with sctx.wrap_socket(up_server, server_side=True) as srv:
            while data := srv.recv(65536):
                srv.sendall(data)

    threading.Thread(target=fake_lxd, daemon=True).start()
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    tls = cctx.wrap_socket(up_client)
    gate_side, learner = socket.socketpair()
    pump = threading.Thread(target=classroom._pump, args=(gate_side, tls), daemon=True)
    pump.start()
    learner.settimeout(10)
    return learner, pump


def test_request_sent_after_the_servers_session_tickets_is_relayed(tmp_path):
    learner, pump = _relay(tmp_path)
    time.sleep(0.5)  # the tickets reach the relay first; only then does the learner speak
    learner.sendall(b"ping")
    try:
        got = learner.recv(100)
    except TimeoutError:
        got = b"(nothing within 10 s: the relay is stuck in a read)"
    assert got == b"ping"
    learner.close()
    pump.join(timeout=10)
    assert not pump.is_alive()  # the learner hung up: the relay ends and closes both sides


def test_relay_carries_many_exchanges_and_large_payloads(tmp_path):
    learner, pump = _relay(tmp_path)
    for i in range(20):
        msg = (b"%02d" % i) * (1 if i % 2 else 50000)  # small, and 100 kB: several TLS records
        learner.sendall(msg)
        want = msg
        got = b""
        while len(got) < len(want):
            chunk = learner.recv(65536)
            assert chunk, (i, len(got))
            got += chunk
        assert got == want
    learner.close()
    pump.join(timeout=10)
    assert not pump.is_alive()
