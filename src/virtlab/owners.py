"""Who made a course resource, and whose resources a cleanup may touch.

On a classroom server many learners share one host. Every resource the course creates records
the uid of the user who made it (LXD: instance config ``user.virtlab.uid``; libvirt: a ``uid``
element in the course metadata; cgroups and files: their owner in the file system), and a cleanup
removes only the caller's own resources by default. Removing every user's resources is an
explicit, root-only choice::

    with owners.all_users():      # raises NotPermitted unless run as root
        lxd.cleanup()

Resources made before owners were recorded carry no uid: they count as root's (the host
administrator's), so a learner's cleanup never removes them and root's does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from virtlab.safety import VirtlabError

#: LXD instance / storage-pool config key holding the creator's uid
UID_KEY = "user.virtlab.uid"
#: the element (in the course's libvirt metadata namespace) holding the creator's uid
LIBVIRT_UID_TAG = "uid"

_all_users = False


class NotPermitted(VirtlabError):
    """A cleanup of every user's resources was asked for by someone who is not root."""


def caller_uid() -> int:
    """The uid resources are recorded for (the effective uid of this process)."""
    return os.geteuid()


def uid_config() -> dict[str, str]:
    """The LXD config entry that records the caller as the creator."""
    return {UID_KEY: str(caller_uid())}


@contextlib.contextmanager
def all_users() -> Iterator[None]:
    """Within this block cleanups remove every user's course resources (root only)."""
    global _all_users
    if os.geteuid() != 0:
        raise NotPermitted("cleaning up every user's course resources needs root: run "
                           "`sudo virtlab cleanup --all-users`, or plain `virtlab cleanup` to "
                           "remove only your own")
    old, _all_users = _all_users, True
    try:
        yield
    finally:
        _all_users = old


def scope() -> int | None:
    """The uid whose resources a cleanup removes now; None means every user's (root asked)."""
    return None if _all_users else caller_uid()


def parse_uid(value: object) -> int | None:
    """A recorded uid (int or decimal text), or None when nothing (valid) was recorded."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def mine(recorded: object) -> bool:
    """Whether a resource recorded as made by ``recorded`` is in the current cleanup's scope.

    Unrecorded (older) resources count as root's.
    """
    want = scope()
    if want is None:
        return True
    uid = parse_uid(recorded)
    return (0 if uid is None else uid) == want


def path_is_mine(path: str | os.PathLike[str]) -> bool:
    """Whether a file or directory (a cgroup, a netns file, a disk) is in the cleanup's scope:
    its owner in the file system is the creator. A path that is gone is nobody's."""
    try:
        uid = Path(path).stat().st_uid
    except OSError:
        return False
    return mine(uid)


def process_is_mine(pid: int) -> bool:
    """Whether process ``pid`` (its real uid) is in the cleanup's scope."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return mine(int(line.split()[1]))
    except (OSError, ValueError, IndexError):
        return False
    return False


__all__ = ["LIBVIRT_UID_TAG", "UID_KEY", "NotPermitted", "all_users", "caller_uid", "mine",
           "parse_uid", "path_is_mine", "process_is_mine", "scope", "uid_config"]
