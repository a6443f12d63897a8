"""Linux namespaces: inspect them, create them, run code or commands inside fresh ones.

* :func:`list_namespaces` / :func:`compare` read ``/proc/PID/ns/*`` (type -> inode).
* :func:`run` runs a Python function in a child process placed in new namespaces and returns
  its result; :func:`run_command` does the same for a command (``(exit, stdout, stderr)``).
* With ``unprivileged=True`` the child first drops to uid/gid 65534 (when we are root), then
  creates a *user* namespace in which it is uid 0 — what a learner without root gets.
* :class:`VethPair` joins two course network namespaces with a veth cable.

How a child is made (all by hand, with ctypes ``unshare``/``setns``: Python 3.11 has none)::

    parent ──fork──> child: [join cgroup] [drop to 65534] unshare(flags) [uid/gid maps]
                            [hostname] [time offsets]
                     └─fork──> grandchild: pid 1 of a new PID namespace, mounts /proc, runs the
                                target (function or execve)

The second fork is needed because a new PID (and time) namespace applies to the *children* of
the caller, never to the caller itself.

Where each piece lives (this package re-exports all their names, so ``virtlab.namespaces.X`` works):

* ``namespaces/procns.py`` — namespace identities: the types, their descriptions, a process's
  namespace inodes (``/proc/PID/ns``), comparing two processes.
* ``namespaces/child.py`` — the child's side: ``Spec``, unshare/setns, id maps, mounts, the
  ``Launched`` handle and the pipe protocol.
* ``namespaces/direct.py`` — one clone(2) that creates the namespaces, in the small helper process
  (:mod:`virtlab._spawner`) or from this process; ``start_path`` says which path a spec takes.
* ``namespaces/launcher.py`` — starting a process in new namespaces (``launch``, ``run``,
  ``run_command``): the parent's side, with deadlines.
* ``namespaces/inside.py`` — what a process sees inside a set of namespaces (``view``), compared
  with the host's view; start-up cost.
* ``namespaces/netns.py`` — network namespaces: a veth pair between two named namespaces, an echo
  across it, cleanup of the course's namespaces and links.
* ``namespaces/views.py`` — the namespaces episode's views: readable renderings of the demos'
  results.
* ``namespaces/demos.py`` — the namespaces episode's demos (``@modes.demo``): each returns
  JSON-able data, prints nothing.
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab.namespaces.demos import (
    _backend_unpriv,
    _private_mount_probe,
    _view_demo,
    demo_mounts,
    demo_tour,
    demo_veth,
)
from virtlab.namespaces.direct import (
    _close_spawner,
    _direct_ok,
    _forget_spawner,
    _launch_direct,
    _Spawner,
    _spawner_client,
    start_path,
)
from virtlab.namespaces.inside import (
    START_RATIO_GOAL,
    _fmt,
    _quantile,
    bench_start,
    compare_views,
    format_bench_start,
    unprivileged_for_mode,
    view,
)
from virtlab.namespaces.launcher import (
    CommandResult,
    Launched,
    Spec,
    _check_timeout,
    _decode,
    _enter,
    _grandchild_setup,
    _raise_errors,
    _read_all,
    _send,
    _spec,
    collect,
    launch,
    mount,
    run,
    run_command,
    umount,
    write_id_maps,
)
from virtlab.namespaces.netns import (
    ECHO_PORT,
    NETNS_DIR,
    VethPair,
    _echo_client,
    _echo_server,
    _in_netns_start,
    _ip,
    cleanup,
    course_links,
    course_netns,
)
from virtlab.namespaces.procns import (
    DESCRIPTIONS,
    MNT_DETACH,
    MS_BIND,
    MS_MOVE,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    NOBODY,
    TYPES,
    NamespaceError,
    _pid_arg,
    compare,
    format_namespaces,
    list_namespaces,
    observe,
    validate_types,
)
from virtlab.namespaces.views import (
    show_tour,
    show_veth,
    show_view,
)
from virtlab.safety import (  # namespaces.DeadlineExceeded: what run() raises
    Deadline,
    DeadlineExceeded,
)
