"""Starting a command in new namespaces by one clone(2), the way ``unshare --fork`` does: in the small
helper process (:mod:`virtlab._spawner`, the usual way) or from this process when it is single-threaded.
``start_path`` says which path a ``Spec`` takes; ``launcher.launch`` uses it.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import signal
import socket
import subprocess
import traceback
from pathlib import Path
from typing import Any

from virtlab import _sys
from virtlab.namespaces.child import (
    Launched,
    Spec,
    _decode,
    _grandchild_setup,
    _read_all,
    _send,
    write_id_maps,
)
from virtlab.namespaces.procns import NamespaceError
from virtlab.safety import Deadline


def _direct_ok(spec: Spec) -> bool:
    """Can a command start by one clone(2) that creates its namespaces (see _launch_direct)?

    Not when the child must do something *before* its namespaces exist (join a cgroup, drop from
    root to nobody, set time offsets, join another process's namespaces) or run Python set-up
    code (those take the fork path: fork, unshare, fork).
    """
    return (_sys.SYS_CLONE is not None and spec.cgroup is None and spec.join_pid is None
            and spec.setup is None and spec.boottime_offset is None
            and not (spec.unprivileged and os.getuid() == 0))


def start_path(spec: Spec | None = None) -> str:
    """How :func:`run_command` starts a command with ``spec`` in this process:

    ``spawner``  one clone(2) in the small helper process (:mod:`virtlab._spawner`) — the usual way
    ``clone``    one clone(2) from this process (no helper here; only when single-threaded)
    ``fork``     fork, unshare, fork from this process (specs that need set-up before the
                 namespaces exist, or no helper and several threads)
    """
    if spec is not None and not _direct_ok(spec):
        return "fork"
    if _spawner_client() is not None:
        return "spawner"
    return "clone" if _sys.SYS_CLONE is not None and _sys.single_threaded() else "fork"


class _Spawner:
    """The caller's end of :mod:`virtlab._spawner` (one helper per process, started on first use)."""

    def __init__(self) -> None:
        import sys
        import threading

        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-E", "-s", str(Path(__file__).parent.parent / "_spawner.py"),
                 str(theirs.fileno())], pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self.sock = mine
        self.owner = os.getpid()
        self.lock = threading.Lock()
        self.ended: dict[int, int] = {}

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def _recv(self, timeout: float) -> tuple | None:  # with self.lock held
        r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not r:
            return None
        data = self.sock.recv(1 << 20)
        if not data:
            raise NamespaceError("the namespace start helper (virtlab._spawner) ended unexpectedly")
        msg = pickle.loads(data)  # noqa: S301 - our own helper, over a socketpair
        if msg[0] == "status":
            self.ended[msg[1]] = msg[2]
        return msg

    def spawn(self, request: dict[str, Any], fds: list[int]) -> int:
        dl = Deadline(30, "the namespace start helper answering")
        with self.lock:
            socket.send_fds(self.sock, [pickle.dumps(("spawn", request))], fds)
            while True:
                msg = self._recv(dl.remaining())
                if msg is None:
                    dl.check()
                elif msg[0] == "pid":
                    return msg[1]
                elif msg[0] == "failed":
                    raise NamespaceError(f"setting up the namespaces failed: {msg[1]}")

    def wait(self, pid: int, timeout: float) -> int | None:
        """The wait status of ``pid`` once it ended, or None after ``timeout`` seconds."""
        dl = Deadline(max(timeout, 0.001), f"waiting for child {pid}")
        with self.lock:
            while pid not in self.ended:
                if dl.expired():
                    return None
                self._recv(dl.remaining())
            return self.ended.pop(pid)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.owner == os.getpid():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=2)


_spawner: _Spawner | None = None


_spawner_failed = False


def _spawner_client() -> _Spawner | None:
    """This process's helper, started on first use; None where it cannot run (no pidfds)."""
    global _spawner, _spawner_failed
    if _spawner is not None and _spawner.alive():
        return _spawner
    if _spawner_failed or _sys.SYS_CLONE is None or not hasattr(os, "pidfd_open"):
        return None
    try:
        _spawner = _Spawner()
    except OSError:
        _spawner_failed = True
        return None
    return _spawner


def _forget_spawner() -> None:
    """After a fork: the helper belongs to the parent; the child starts its own if it needs one."""
    global _spawner
    if _spawner is not None:
        with contextlib.suppress(OSError):
            _spawner.sock.close()
    _spawner = None


def _close_spawner() -> None:
    if _spawner is not None and _spawner.owner == os.getpid():
        _spawner.close()


os.register_at_fork(after_in_child=_forget_spawner)


atexit.register(_close_spawner)


def _launch_direct(spec: Spec, argv: list[str], *, capture: bool, stdin_data: bytes | None,
                   spawner: _Spawner | None = None) -> Launched:
    """Start ``argv`` the way ``unshare --fork`` does, minus the unshare(1) process: one clone(2)
    with every namespace flag; the child (pid 1 with a new PID namespace) sets itself up and execs.
    No intermediate process, no second fork. With ``spawner`` the clone happens in the helper
    (which reports the wait status); without, in this process (which must be single-threaded).
    """
    flags = 0
    for t in spec.types:
        flags |= _sys.NAMESPACE_FLAGS[t]
    outer_uid, outer_gid = os.getuid(), os.getgid()
    env = spec.env if spec.env is not None else dict(os.environ)
    _sys.libc()
    exec_r, exec_w = os.pipe2(os.O_CLOEXEC)
    out_r = out_w = err_r = err_w = in_r = None
    if capture:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
    if stdin_data is not None:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        os.write(in_w, stdin_data)  # small inputs only (pipe buffer)
        os.close(in_w)
    null_r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    null_w = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    stdio = [in_r if in_r is not None else null_r, out_w if out_w is not None else null_w,
             err_w if err_w is not None else null_w]
    try:
        if spawner is not None:
            cwd = spec.cwd
            if cwd is None:
                with contextlib.suppress(OSError):
                    cwd = os.getcwd()
            user = "user" in spec.types
            pid = spawner.spawn({
                "argv": list(argv), "env": env, "flags": flags, "hostname": spec.hostname, "cwd": cwd,
                "uid_map": f"0 {outer_uid} 1\n" if user else None,
                "gid_map": f"0 {outer_gid} 1\n" if user else None,
                "mount_private": "mnt" in spec.types,
                "mount_proc": "mnt" in spec.types and "pid" in spec.types,
            }, [*stdio, exec_w])
        else:
            pid = _sys.clone_process(flags)
    except BaseException:
        for fd in (exec_r, exec_w, out_r, out_w, err_r, err_w, in_r, null_r, null_w):
            if fd is not None:
                os.close(fd)
        raise
    if pid == 0:  # ---------------------------------------------------- child (no after-fork work)
        try:
            os.setpgid(0, 0)
            if "user" in spec.types:
                write_id_maps("self", f"0 {outer_uid} 1", f"0 {outer_gid} 1")
            if spec.hostname:
                socket.sethostname(spec.hostname)
            _grandchild_setup(spec)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            for i, fd in enumerate(stdio):
                os.dup2(fd, i)
            os.execvpe(argv[0], argv, env)
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            with contextlib.suppress(BaseException):
                _send(exec_w, ("error", f"{type(err).__name__}: {err}", traceback.format_exc()))
        os._exit(112)
    # ------------------------------------------------------------------------------- parent
    for fd in (exec_w, out_w, err_w, in_r, null_r, null_w):
        if fd is not None:
            os.close(fd)
    child = Launched(pid, -1, out_r, err_r, inner_pid=pid, direct=True,
                     waiter=None if spawner is None else (lambda t: spawner.wait(pid, t)))
    err_data = _read_all(exec_r, Deadline(30, "starting the child"), child)
    os.close(exec_r)
    if err_data:
        child.messages.extend(_decode(err_data))
    return child


