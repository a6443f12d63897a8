"""Control groups: one small API over cgroup v2 and the v1/hybrid layout.

A *course cgroup* is a transient cgroup named ``vl-...`` that lives only inside a ``with`` block::

    with CourseCgroup("demo", memory="64MiB", cpu_quota=0.5, pids=32) as cg:
        r = cg.run(["python3", "-c", "x = bytearray(200 << 20)"], timeout=20)
        r.returncode, r.oom_killed, cg.usage().memory_peak

Where the limits live:

==============  ===============================  ======================================
limit           cgroup v2 (lab VMs)              cgroup v1 (this project's hybrid hosts)
==============  ===============================  ======================================
memory          ``memory.max`` (+ swap.max 0)    ``memory/…/memory.limit_in_bytes``
CPU quota       ``cpu.max`` ("quota period")     ``cpu/…/cpu.cfs_quota_us`` + period
processes       ``pids.max``                     ``pids/…/pids.max``
==============  ===============================  ======================================

On a hybrid machine a companion directory is also made in the v2 tree (which has no resource
controllers there): it gives ``cgroup.kill``, ``cgroup.freeze``, ``cgroup.events`` and pressure
(PSI) files, exactly as systemd does on hybrid hosts. Leaving the ``with`` block kills whatever
is still inside and removes every directory, even when the body raised or the child was killed.
``cleanup()`` removes course cgroups left by a killed kernel.

Where each piece lives (this package re-exports all their names, so ``virtlab.cgroups.X`` works):

* ``cgroups/files.py`` — cgroup files: the layout (v1, v2, hybrid), parsing limits, usage and
  pressure (PSI) from the controllers' files, writing them.
* ``cgroups/teardown.py`` — emptying and removing cgroup directories with a deadline (kill loop,
  rmdir retries); cleanup of the course's cgroups.
* ``cgroups/group.py`` — ``CourseCgroup``: one course cgroup (v1 or v2) with limits, processes run
  inside it, usage read back, always removed.
* ``cgroups/workloads.py`` — small workloads for the cgroup demos (busy loop, memory hog, fork
  loop) and the CPU-share measurement.
* ``cgroups/views.py`` — the cgroups episode's views: readable renderings of the demos' results and
  the layout.
* ``cgroups/demos.py`` — the cgroups episode's demos (``@modes.demo``): each returns JSON-able
  data, prints nothing.
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab.cgroups.demos import (
    _own_v2_subtree,
    demo_cpu_quota,
    demo_freeze,
    demo_memory_oom,
    demo_pids_fork,
    demo_pressure,
)
from virtlab.cgroups.files import (
    CPU_PERIOD_US,
    MIN_MEMORY,
    V1_USED,
    CgroupError,
    RunResult,
    Usage,
    _int,
    _keyed,
    _read,
    _read_pids,
    _v2_mount,
    _write,
    check_timeout,
    default_version,
    layout,
    parse_cpu,
    parse_pressure,
    read_limits,
    read_usage,
)
from virtlab.cgroups.group import (
    CourseCgroup,
)
from virtlab.cgroups.teardown import (
    _kill_loop,
    _pids_in,
    _remove_dirs,
    _rmdir_retry,
    cleanup,
    course_cgroup_dirs,
)
from virtlab.cgroups.views import (
    describe_layout,
    plot_cpu,
    show_cpu,
    show_freeze,
    show_memory_oom,
    show_pids,
    show_pressure,
)
from virtlab.cgroups.workloads import (
    BUSY_LOOP,
    FORK_LOOP,
    MEMORY_HOG,
    expected_share,
    measure_cpu_share,
)
