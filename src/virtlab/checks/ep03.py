"""Self-checks for episode 03 (a container from scratch): they look at the real container."""

from __future__ import annotations

from virtlab import rootfs
from virtlab.checks import check_answer, verdict
from virtlab.minicontainer import Container


def check_hostname(c: Container, want: str = "lab3") -> bool:
    """Exercise 1: the container's hostname, asked from inside it (setns + ``hostname``)."""
    code, out, _ = c.run(["hostname"])
    got = out.strip()
    return verdict(code == 0 and got == want, f"inside, the hostname is {want!r}",
                   f"not yet: inside, the hostname is {got!r}")


def check_file_isolated(c: Container, path: str = "/root/notes.txt") -> bool:
    """Exercise 2: the file exists inside the container but not in the shared busybox tree."""
    code, _, _ = c.run(["test", "-f", path])
    on_host = (rootfs.default_rootfs() / path.lstrip("/")).exists()
    return verdict(code == 0 and not on_host,
                   f"{path} exists inside and the shared tree on the host is untouched",
                   f"not yet: inside: {'present' if code == 0 else 'missing'}, "
                   f"in the host's tree: {'present' if on_host else 'absent'}")


def check_not_created(answer: object) -> bool:
    """Exercise 3: which namespace type does the mini container not create?"""
    return check_answer(answer, "336074805fc85398", hint="compare its list with the eight types of episode 01")
