"""Network namespaces: a veth pair between two named namespaces, an echo across it, cleanup of the
course's namespaces and links.
"""
from __future__ import annotations

import os
import pickle
import selectors
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from virtlab import PREFIX, _sys, core
from virtlab.core.registry import cleans
from virtlab.namespaces.launcher import Launched, Spec, collect, launch, run
from virtlab.namespaces.procns import NamespaceError, list_namespaces
from virtlab.safety import Deadline, check_int, course_name

# --------------------------------------------------------------------------- network
NETNS_DIR = Path("/run/netns")


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    r = core.run(argv, Deadline(10, f"`{' '.join(argv)}`"))
    if check and r.returncode != 0:
        raise NamespaceError(f"`{' '.join(argv)}` failed: {r.stderr.strip()}")
    return r


class VethPair:
    """Two course network namespaces joined by a veth pair, with addresses inside them.

    >>> with VethPair("demo") as v:          # vl-demo-a <-> vl-demo-b, 10.203.0.1/30 - .2/30
    ...     v.tcp_roundtrip()                # seconds for one request/reply through the cable
    """

    def __init__(self, name: str = "veth", *, subnet: str = "10.203.0") -> None:
        base = course_name(name)
        if len(base) > 11:  # interface names are at most 15 bytes: base + "-a0"
            raise ValueError(f"name {name!r} is too long for a veth pair: at most 8 characters after 'vl-'")
        parts = subnet.split(".")
        if len(parts) != 3 or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts) or parts[0] != "10":
            raise ValueError(f"subnet {subnet!r} must be three octets of a private 10.x.y network, e.g. '10.203.0'")
        self.base = base
        self.ns = (f"{base}-a", f"{base}-b")
        self.ifaces = (f"{base}-a0", f"{base}-b0")
        self.addrs = (f"{subnet}.1", f"{subnet}.2")
        for n in self.ns:
            if (NETNS_DIR / n).exists():
                raise FileExistsError(f"network namespace {n} exists: run `virtlab cleanup` or pick another name")
        self._created: list[str] = []

    def __enter__(self) -> VethPair:
        try:
            for n in self.ns:
                _ip("netns", "add", n)
                self._created.append(n)
            _ip("link", "add", self.ifaces[0], "netns", self.ns[0], "type", "veth",
                "peer", "name", self.ifaces[1], "netns", self.ns[1])
            for n, ifc, addr in zip(self.ns, self.ifaces, self.addrs, strict=True):
                _ip("addr", "add", f"{addr}/30", "dev", ifc, netns=n)
                _ip("link", "set", ifc, "up", netns=n)
                _ip("link", "set", "lo", "up", netns=n)
            Deadline(5, "veth pair coming up").wait_for(
                lambda: all(f"{ifc}@" in line and " UP " in line
                            for n, ifc in zip(self.ns, self.ifaces, strict=True)
                            for line in [_ip("-brief", "link", "show", ifc, netns=n).stdout]))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # deleting a namespace destroys the veth end inside it, and with it the peer
        for n in reversed(self._created):
            _ip("netns", "del", n, check=False)
        self._created.clear()

    def addresses(self, side: int = 0) -> list[str]:
        """``ip -brief addr`` lines inside one end's namespace."""
        return _ip("-brief", "addr", netns=self.ns[side]).stdout.split("\n")

    def tcp_roundtrip(self, messages: int = 20, timeout: float = 10.0) -> dict[str, Any]:
        """Echo ``messages`` TCP messages from side a to a server in side b; per-message time."""
        check_int(messages, minimum=1, maximum=10_000, what="messages")
        server = _in_netns_start(self.ns[1], _echo_server, self.addrs[1])
        fd = os.open(NETNS_DIR / self.ns[0], os.O_RDONLY | os.O_CLOEXEC)

        def client() -> dict[str, Any]:
            _sys.setns(fd, _sys.CLONE_NEWNET)  # the client runs in side a
            return _echo_client(self.addrs[1], messages, timeout)

        try:
            result = run(client, [], timeout=timeout + 5)
        finally:
            os.close(fd)
            server.kill()
            collect(server, 5, "echo server")
        return result


def _in_netns_start(netns: str, fn: Callable[[str], Any], arg: str) -> Launched:
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY | os.O_CLOEXEC)

    def target() -> Any:
        _sys.setns(fd, _sys.CLONE_NEWNET)
        return fn(arg)

    try:
        child = launch(Spec(), target, capture=False)
    finally:
        os.close(fd)
    # wait for the "pid" message, then for the server to listen
    dl = Deadline(5, "echo server start")
    while child.inner_pid is None:
        sel = selectors.DefaultSelector()
        sel.register(child.report_fd, selectors.EVENT_READ)
        if sel.select(timeout=dl.remaining()):
            hdr = os.read(child.report_fd, 4)
            (n,) = struct.unpack("!I", hdr)
            msg = pickle.loads(os.read(child.report_fd, n))  # noqa: S301 - our own child
            if msg[0] == "pid":
                child.inner_pid = msg[1]
            elif msg[0] == "error":
                raise NamespaceError(msg[1], msg[2])
        sel.close()
        dl.check()
    return child


ECHO_PORT = 7007


def _echo_server(addr: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, ECHO_PORT))
    s.listen(1)
    s.settimeout(30)
    conn, _ = s.accept()
    while True:
        data = conn.recv(64)
        if not data:
            return
        conn.sendall(data)


def _echo_client(addr: str, messages: int, timeout: float) -> dict[str, Any]:
    ns = list_namespaces("self")["net"]
    dl = Deadline(timeout, "connecting through the veth")
    while True:
        try:
            c = socket.create_connection((addr, ECHO_PORT), timeout=1)
            break
        except OSError:
            if dl.expired():
                raise
            time.sleep(0.01)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(messages):
        t = time.perf_counter()
        c.sendall(b"ping")
        c.recv(64)
        times.append(time.perf_counter() - t)
    c.close()
    times.sort()
    return {"messages": messages, "median_s": times[len(times) // 2], "client_net_ns": ns,
            "peer": addr}


def course_netns() -> list[str]:
    """Names of course network namespaces in /run/netns."""
    if not NETNS_DIR.exists():
        return []
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(PREFIX))


def course_links() -> list[str]:
    """Course veth interfaces in the host's network namespace (should be none)."""
    return sorted(n for _, n in socket.if_nameindex() if n.startswith(PREFIX))


@cleans(order=40)
def cleanup(prefix: str = PREFIX) -> list[str]:
    """Remove course network namespaces and stray course veths; returns what went."""
    if not prefix.startswith(PREFIX):
        raise ValueError(f"prefix must start with {PREFIX!r}")
    removed = []
    for n in course_netns():
        if n.startswith(prefix):
            _ip("netns", "del", n, check=False)
            removed.append(f"netns {n}")
    for link in course_links():
        if link.startswith(prefix):
            _ip("link", "del", link, check=False)
            removed.append(f"link {link}")
    return removed
