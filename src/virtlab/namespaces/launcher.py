"""Starting a process in new namespaces (``launch``, ``run``, ``run_command``): fork, unshare, fork
(or one clone(2), see ``direct``), the parent/child protocol with deadlines. The child's side
(``Spec``, id maps, mounts, ``Launched``) lives in ``child``.
"""
from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from virtlab import _sys
from virtlab.namespaces.child import (  # noqa: F401 - re-exported: launcher.X keeps working
    Launched,
    Spec,
    _decode,
    _enter,
    _grandchild_setup,
    _read_all,
    _send,
    mount,
    umount,
    write_id_maps,
)
from virtlab.namespaces.direct import _direct_ok, _launch_direct, _spawner_client, start_path
from virtlab.namespaces.procns import NamespaceError
from virtlab.safety import Deadline, DeadlineExceeded


def launch(spec: Spec, target: Callable[[], Any] | list[str], *, capture: bool = True,
           stdin_data: bytes | None = None) -> Launched:
    """Fork a child set up by ``spec`` that runs ``target`` (a function or an argv list).

    Low level: use :func:`run` / :func:`run_command`; :mod:`virtlab.minicontainer` uses this to
    start a container's init. Returns once the target is running (or has failed).
    """
    exec_mode = isinstance(target, list)
    if exec_mode and _direct_ok(spec):
        path = start_path(spec)
        if path == "spawner":
            return _launch_direct(spec, target, capture=capture, stdin_data=stdin_data,
                                  spawner=_spawner_client())
        if path == "clone":
            return _launch_direct(spec, target, capture=capture, stdin_data=stdin_data)
    _sys.libc()  # loaded here, once, not in every child
    rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
    exec_r, exec_w = os.pipe2(os.O_CLOEXEC)
    out_r = out_w = err_r = err_w = None
    if capture:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
    in_r = None
    if stdin_data is not None:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        os.write(in_w, stdin_data)  # small inputs only (pipe buffer)
        os.close(in_w)
    pid = os.fork()
    if pid == 0:  # ---------------------------------------------------------------- child
        code = 111
        try:
            os.setpgid(0, 0)
            os.close(rep_r)
            os.close(exec_r)
            for fd in (out_r, err_r):
                if fd is not None:
                    os.close(fd)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _enter(spec)
            gpid = os.fork()
            if gpid == 0:  # ------------------------------------------------------ grandchild
                try:
                    if exec_mode:
                        os.close(rep_w)
                    else:
                        os.close(exec_w)  # the parent waits for this to close: we are running
                    _grandchild_setup(spec)
                    if exec_mode:
                        os.dup2(in_r if in_r is not None else os.open(os.devnull, os.O_RDONLY), 0)
                        devnull = os.open(os.devnull, os.O_WRONLY)
                        os.dup2(out_w if out_w is not None else devnull, 1)
                        os.dup2(err_w if err_w is not None else devnull, 2)
                        env = spec.env if spec.env is not None else dict(os.environ)
                        os.execvpe(target[0], target, env)
                    value = target()
                    _send(rep_w, ("ok", value))
                    os._exit(0)
                except BaseException as err:  # noqa: BLE001 - reported to the parent
                    with contextlib.suppress(BaseException):
                        _send(exec_w if exec_mode else rep_w,
                              ("error", f"{type(err).__name__}: {err}", traceback.format_exc()))
                    os._exit(112)
            os.close(exec_w)
            _send(rep_w, ("pid", gpid))
            for fd in (out_w, err_w, in_r):
                if fd is not None:
                    os.close(fd)
            _, st = os.waitpid(gpid, 0)
            _send(rep_w, ("status", st))
            code = 0
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            with contextlib.suppress(BaseException):
                _send(rep_w, ("error", f"setting up the namespaces failed: {type(err).__name__}: {err}",
                              traceback.format_exc()))
        os._exit(code)
    # -------------------------------------------------------------------------------- parent
    for fd in (rep_w, exec_w, out_w, err_w, in_r):
        if fd is not None:
            os.close(fd)
    child = Launched(pid, rep_r, out_r, err_r)
    # wait until the grandchild exec'd (exec pipe closes) or failed (error message on it)
    err_data = _read_all(exec_r, Deadline(30, "starting the child"), child)
    os.close(exec_r)
    if err_data:
        child.messages.extend(_decode(err_data))
    return child


def collect(child: Launched, timeout: float, what: str) -> tuple[int | None, bytes, bytes]:
    """Read the child's output and messages until it ends; returns (waitstatus, stdout, stderr)."""
    dl = Deadline(timeout, what, "the child and everything it started were killed")
    sel = selectors.DefaultSelector()
    bufs: dict[int, bytearray] = {}
    for fd in (child.report_fd, child.out_fd, child.err_fd):
        if fd is not None and fd >= 0:
            sel.register(fd, selectors.EVENT_READ)
            bufs[fd] = bytearray()
    open_fds = set(bufs)
    try:
        while open_fds:
            events = sel.select(timeout=max(dl.remaining(), 0.001))
            if not events and dl.expired():
                child.kill()
                child.reap()
                raise DeadlineExceeded(dl.what, dl.seconds, dl.hint)
            for key, _ in events:
                data = os.read(key.fd, 65536)
                if data:
                    bufs[key.fd] += data
                else:
                    sel.unregister(key.fd)
                    open_fds.discard(key.fd)
    finally:
        sel.close()
        child.reap(max(dl.remaining(), 1.0))
        child.close()
    child.messages.extend(_decode(bytes(bufs.get(child.report_fd, b""))))
    status = child.status if child.direct else None
    for m in child.messages:
        if m[0] == "pid":
            child.inner_pid = m[1]
        elif m[0] == "status":
            status = m[1]
    return (status, bytes(bufs.get(child.out_fd or -1, b"")), bytes(bufs.get(child.err_fd or -1, b"")))



def _raise_errors(child: Launched) -> None:
    for m in child.messages:
        if m[0] == "error":
            raise NamespaceError(m[1], m[2])


def _spec(types: Iterable[str], **kw: Any) -> Spec:
    return kw.pop("spec", None) or Spec(types=tuple(types), **kw)


def run(fn: Callable[[], Any], types: Iterable[str] = (), *, timeout: float = 10.0, **spec: Any) -> Any:
    """Run ``fn()`` in a child inside new namespaces; return its (picklable) result.

    ``types``: any of mnt uts ipc pid net user cgroup time. Keyword options (see :class:`Spec`):
    ``hostname``, ``unprivileged``, ``boottime_offset``, ``cgroup``. With pid+mnt the child is
    pid 1 and has its own /proc.

    >>> run(lambda: os.getpid(), ["pid", "mnt"])
    1
    """
    _check_timeout(timeout)
    s = _spec(types, **spec)
    child = launch(s, fn, capture=False)
    status, _, _ = collect(child, timeout, "function in new namespaces")
    _raise_errors(child)
    for m in child.messages:
        if m[0] == "ok":
            return m[1]
    raise NamespaceError(f"the child ended without a result (wait status {status})")


@dataclass
class CommandResult:
    """What a command run in namespaces produced. Unpacks as ``(exit_code, stdout, stderr)``."""

    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    def __iter__(self) -> Iterator[Any]:
        return iter((self.returncode, self.stdout, self.stderr))


def run_command(argv: list[str], types: Iterable[str] = (), *, timeout: float = 10.0,
                input: str | None = None, **spec: Any) -> CommandResult:
    """Run ``argv`` in a child inside new namespaces; returns :class:`CommandResult`.

    The exit code follows :mod:`subprocess`: negative when a signal killed the command.
    """
    if not isinstance(argv, list | tuple) or not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError("argv must be a non-empty list of strings, e.g. ['hostname']")
    _check_timeout(timeout)
    s = _spec(types, **spec)
    t0 = time.monotonic()
    child = launch(s, list(argv), stdin_data=input.encode() if input is not None else None)
    status, out, err = collect(child, timeout, f"{argv[0]} in new namespaces")
    _raise_errors(child)
    if status is None:  # the helper itself was killed (e.g. by the OOM killer): report that
        status = child.status if child.status is not None else 0x7f00
    return CommandResult(os.waitstatus_to_exitcode(status), out.decode(errors="replace"),
                         err.decode(errors="replace"), time.monotonic() - t0)


def _check_timeout(timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600:
        raise ValueError(f"timeout must be a number of seconds between 0 and 3600, not {timeout!r}")


