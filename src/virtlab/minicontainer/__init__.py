"""A container runtime in about a hundred readable lines, built from namespaces + cgroups.

::

    with Container("box", memory="64MiB", pids=64, cpu=0.5) as c:
        code, out, err = c.run(["sh", "-c", "hostname; id -u; ps"], timeout=10)
        c.pid                      # the container's init as the host sees it
        c.inspect()                # namespaces, cgroup limits and usage, from the host

What :meth:`Container.start` does, in order (each step is one system call or two):

1. make a course cgroup with the limits (:class:`virtlab.cgroups.CourseCgroup`), when possible;
2. fork; the child joins the cgroup, [drops to uid 65534 and makes a user namespace,]
   unshares mnt, uts, ipc, net, pid and cgroup namespaces and sets the hostname;
3. fork again: the grandchild is pid 1 of the new PID namespace. It stacks a writable tmpfs
   over the read-only busybox tree (overlayfs), gives it a tiny /dev, ``pivot_root``\\ s into it,
   drops the old root, mounts /proc and /sys, and execs the init (``sleep``);
4. :meth:`run` is ``docker exec``: ``setns`` into the init's namespaces, fork, exec.

Everything lives in the namespaces: when pid 1 dies the kernel kills the rest and the tmpfs
vanishes. Leaving the ``with`` block kills the init and removes the cgroup. ``cleanup()`` finds
containers left by a killed kernel by the ``VIRTLAB_CONTAINER=vl-...`` marker in their
environment.

Where each piece lives (this package re-exports all their names, so ``virtlab.minicontainer.X``
  works):

* ``minicontainer/views.py`` — the container episode's view of the build demo.
* ``minicontainer/demos.py`` — the container episode's demo (``@modes.demo``): returns JSON-able
  data, prints nothing.
* ``minicontainer/container.py`` — the mini container: pivot_root into a prepared root, the
  ``Container`` handle, listing and cleaning up running ones, start latency.
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab.minicontainer.container import (
    DEVICES,
    INIT,
    MARKER,
    SYS_PIVOT_ROOT,
    TYPES,
    Container,
    ContainerError,
    _readlink,
    bench_latency,
    cleanup,
    course_container,
    pivot_root,
    prepare_root,
    running,
)
from virtlab.minicontainer.demos import (
    INSIDE_SCRIPT,
    demo_build,
)
from virtlab.minicontainer.views import (
    show_build,
)
