"""A small process to start commands in new namespaces from (issue #17, "namespace start").

Why: a command in fresh namespaces is started with one clone(2) that carries every namespace
flag (the child is pid 1 of a new PID namespace; no fork + unshare + fork). Doing that from the
learner's own Python process costs a copy of its page tables and a copy-on-write fault for every
page either side touches afterwards — a Jupyter kernel with pandas loaded is big — and it is only
safe there when that process has a single thread (a kernel has several). This helper is a
separate, single-threaded, stdlib-only Python (``python -S``, ~10 MiB) started once per caller;
it clones, the child sets itself up and execs, and the helper reports the pid and, later, the
wait status. The caller keeps everything else (pipes, deadlines, output).

Protocol, over a SOCK_SEQPACKET socket pair (one message per datagram, pickled tuples):

    caller -> helper   ("spawn", request dict) with SCM_RIGHTS [stdin, stdout, stderr, exec_w]
    helper -> caller   ("pid", pid) or ("failed", message)
                       ("status", pid, waitstatus) when a child has ended (any order)

The child writes a failure before ``exec`` to ``exec_w`` (length-prefixed pickle, as
:mod:`virtlab.namespaces` reads it); ``exec_w`` is close-on-exec, so EOF on it means "running".
When the caller goes away (EOF), the helper kills its children's process groups and exits.

Run as ``python -S -E -s _spawner.py FD`` (this file has no imports from virtlab on purpose).
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import os
import pickle
import select
import signal
import socket
import struct
import sys
import traceback

SIGCHLD = 17
SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120, "s390x": 120}.get(
    os.uname().machine)
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
MAX_MSG = 1 << 20


def _libc() -> ctypes.PyDLL:
    return ctypes.PyDLL("libc.so.6", use_errno=True)


def _mount(libc: ctypes.PyDLL, source: bytes | None, target: bytes, fstype: bytes | None, flags: int) -> None:
    if libc.mount(source, target, fstype, ctypes.c_ulong(flags), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {(fstype or source or b'').decode()} on {target.decode()}: {os.strerror(err)}")


def _child(libc: ctypes.PyDLL, req: dict, fds: list[int]) -> None:
    """In the clone: set up, exec; on failure report on exec_w and exit 112. Never returns."""
    stdin, stdout, stderr, exec_w = fds
    try:
        os.setpgid(0, 0)
        if req.get("uid_map"):
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(req["uid_map"])
            with open("/proc/self/gid_map", "w") as f:
                f.write(req["gid_map"])
        if req.get("hostname"):
            socket.sethostname(req["hostname"])
        if req.get("mount_private"):
            _mount(libc, None, b"/", None, MS_REC | MS_PRIVATE)  # never propagate to the host
        if req.get("mount_proc"):
            _mount(libc, b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        if req.get("cwd"):
            os.chdir(req["cwd"])
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.execvpe(req["argv"][0], req["argv"], req["env"])
    except BaseException as err:  # noqa: BLE001 - reported to the caller
        with contextlib.suppress(BaseException):
            data = pickle.dumps(("error", f"{type(err).__name__}: {err}", traceback.format_exc()))
            os.write(exec_w, struct.pack("!I", len(data)) + data)
    os._exit(112)


def _recv_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One message and its descriptors, close-on-exec (socket.recv_fds drops its flags on 3.11)."""
    size = array.array("i").itemsize
    data, anc, _, _ = sock.recvmsg(MAX_MSG, socket.CMSG_LEN(4 * size), socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(cdata[:len(cdata) - (len(cdata) % size)])
    return data, list(fds)


def _send(sock: socket.socket, msg: tuple) -> None:
    sock.send(pickle.dumps(msg))


def serve(fd: int) -> None:
    """The helper's loop: spawn on request, report ends, exit (killing what is left) on EOF."""
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a notebook's interrupt is for the kernel
    libc = _libc()
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    children: dict[int, int] = {}  # pidfd -> pid
    try:
        while True:
            for pfd, _ in poller.poll():
                if pfd in children:
                    pid = children.pop(pfd)
                    poller.unregister(pfd)
                    os.close(pfd)
                    _, st = os.waitpid(pid, 0)
                    _send(sock, ("status", pid, st))
                    continue
                data, fds = _recv_fds(sock)
                if not data:
                    return
                try:
                    _, req = pickle.loads(data)  # noqa: S301 - our own caller, over a socketpair
                    if len(fds) != 4:
                        raise ValueError(f"expected 4 descriptors, got {len(fds)}")
                    ret = libc.syscall(ctypes.c_long(SYS_CLONE), ctypes.c_ulong(req["flags"] | SIGCHLD),
                                       None, None, None, ctypes.c_ulong(0))
                    if ret == -1:
                        err = ctypes.get_errno()
                        raise OSError(err, f"clone: {os.strerror(err)}")
                    if ret == 0:
                        _child(libc, req, fds)
                    pidfd = os.pidfd_open(ret)
                    children[pidfd] = ret
                    poller.register(pidfd, select.POLLIN)
                    _send(sock, ("pid", ret))
                except Exception as err:  # noqa: BLE001 - reported to the caller
                    _send(sock, ("failed", f"{type(err).__name__}: {err}"))
                finally:
                    for f in fds:
                        os.close(f)
    finally:
        for pid in children.values():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError, ConnectionError):
        serve(int(sys.argv[1]))
