"""Thin ctypes access to the few libc calls Python 3.11 lacks (unshare, setns, mount, ...)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

#: namespace type (as in /proc/PID/ns/<type>) -> unshare(2) flag
NAMESPACE_FLAGS: dict[str, int] = {
    "mnt": CLONE_NEWNS,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "pid": CLONE_NEWPID,
    "net": CLONE_NEWNET,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}

PR_SET_DUMPABLE = 4
SIGCHLD = 17

#: clone(2)'s syscall number where the course knows it (else :func:`clone_process` is None)
SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120, "s390x": 120}.get(
    os.uname().machine)

_libc: ctypes.CDLL | None = None
_pylibc: ctypes.PyDLL | None = None


def libc() -> ctypes.CDLL:
    """The C library, loaded once. ``libc.so.6`` (glibc) is tried first: ``find_library`` runs
    ``ldconfig -p`` (a process) each time, which cost every namespace child ~5 ms when the first
    call happened after the fork."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:  # not glibc (musl: libc.so): ask the loader's cache
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so", use_errno=True)
    return _libc


def _pylibc_handle() -> ctypes.PyDLL:
    """The C library through ``PyDLL``: calls keep the GIL (see :func:`clone_process`)."""
    global _pylibc
    if _pylibc is None:
        _pylibc = ctypes.PyDLL(libc()._name, use_errno=True)
    return _pylibc


def single_threaded() -> bool:
    """True when this process has exactly one thread (C threads included: /proc/self/task)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def clone_process(flags: int) -> int:
    """clone(2) as a plain fork that also creates the namespaces in ``flags`` (the child is born
    in them: with CLONE_NEWPID it is pid 1). Returns 0 in the child, the child's pid in the parent.

    One process instead of fork + unshare + fork, and none of Python's after-fork work. That is
    only safe in a **single-threaded** process (no other thread can hold a lock the child needs,
    and nothing asks the child to hand over the GIL): the caller checks :func:`single_threaded`,
    and the child must only set itself up and ``exec`` (or ``os._exit``). The call goes through
    ``PyDLL`` so that the GIL stays held across it.
    """
    if SYS_CLONE is None:
        raise OSError(38, f"clone: syscall number unknown on {os.uname().machine}")
    ret = _pylibc_handle().syscall(ctypes.c_long(SYS_CLONE), ctypes.c_ulong(flags | SIGCHLD),
                                   ctypes.c_void_p(0), ctypes.c_void_p(0), ctypes.c_void_p(0),
                                   ctypes.c_ulong(0))
    return _check(ret, "clone")


def _check(ret: int, what: str) -> int:
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def unshare(flags: int) -> None:
    """unshare(2): move the calling process (thread) into new namespaces."""
    _check(libc().unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): join the namespace behind ``fd``."""
    _check(libc().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def prctl(option: int, arg2: int = 0) -> int:
    return _check(libc().prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), 0, 0, 0), "prctl")
