"""The seed's performance table, measured: the same workload in four targets.

Targets
=======  ===================================================================================
host     a plain host process (the baseline)
ns       namespaces + a cgroup only: ``unshare`` into new pid/mnt/uts/ipc/net namespaces,
         ``--root`` into the course busybox tree, inside a course cgroup (virtlab.cgroups)
lxd      an LXD system container from the course busybox image (virtlab.lxd)
vm       a libvirt/QEMU VM with direct kernel boot of the course VM (virtlab.virt); KVM where
         the CPU allows it, TCG (software emulation) otherwise — the table says which. The
         course's minimal kernel (64 MiB guest, 32 MiB TCG translation cache) where built
vm-stock the same VM on the distribution's generic kernel (128 MiB) — only when named
=======  ===================================================================================

Metrics (each target, ``reps`` repetitions after one warm-up):

``start_s``       create -> first command (``true``) done; nothing is reused between repetitions
``cpu_s``         the same CPU-bound busybox ash loop, minus the time of ``true`` through the same
                  path (so exec/console overhead is not counted as CPU overhead); best of
                  :data:`CPU_TRIALS` runs each, so a noisy neighbour does not count either
``memory_mib``    host-side memory of one idle instance, as its cgroup is charged: a plain
                  ``busybox sleep`` in a meter-only cgroup (host), the course cgroup (ns), the
                  container's cgroup (lxd), the QEMU process's machine cgroup (vm; its RSS
                  where the cgroup cannot be read)
``storage_mib``   bytes on disk the instance needs: busybox binary, rootfs tree, LXD image +
                  instance directory, kernel + initramfs
``net_rtt_us``    TCP request/reply round trip: host loopback, a veth between two course
                  network namespaces (ns), a veth from a course namespace into the LXD
                  container's network namespace (lxd); the VM is not measured (see
                  :data:`NOT_MEASURED`)
``net_mbit_s``    TCP bulk throughput over the same paths

``run(...)`` returns a :class:`BenchResult` (raw rows, a summary with median and spread,
provenance). ``virtlab bench`` writes CSV + PNG; ``virtlab bench --save-reference`` refreshes the
committed reference run in ``virtlab/data/``.

Where each piece lives (this package re-exports all their names, so ``virtlab.bench.X`` works):

* ``bench/base.py`` — the benchmark's vocabulary: targets, metrics, units, profiles, what is not
  measured where, the reference data file.
* ``bench/measure.py`` — measuring helpers: bytes of a tree, cgroup memory of a process, CPU time
  differences, the TCP echo pair for the network metrics.
* ``bench/targets.py`` — the four isolation kinds as benchmark targets (host process, namespaces +
  cgroup, LXD container, VM): each starts, runs a loop, reports memory, storage and network.
* ``bench/views.py`` — the benchmark's views: the text table, the figure, the comparison with the
  reference, one metric's row.
* ``bench/demos.py`` — the benchmark episode's demo (``bench.quick``).
* ``bench/cli.py`` — ``virtlab bench``: run, save the JSON, print the table, save the figure.
* ``bench/reuse.py`` — reusing the live tests' quick run in the live notebook run (``VIRTLAB_BENCH_REUSE``).
* ``bench/runner.py`` — running the benchmark (``run``), its result and provenance, ratios and
  medians, the stored reference, cleanup.
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab import PREFIX  # bench.PREFIX was reachable before the split (tests use it)
from virtlab.bench.base import (
    ALL_TARGETS,
    BENCH_PREFIX,
    DATA_DIR,
    EXTRA_TARGETS,
    LABELS,
    METRICS,
    NET_PORT,
    NETNS_STEM,
    NOT_MEASURED,
    NOT_MEASURED_UNPRIVILEGED,
    PROFILES,
    REFERENCE,
    TARGETS,
    UNITS,
    BenchError,
    code_version,
    loop_command,
    not_measured,
)
from virtlab.bench.cli import (
    main,
    ns_start,
)
from virtlab.bench.demos import (
    demo_quick,
)
from virtlab.bench.measure import (
    _NET_CLIENT,
    _NET_SERVER,
    CPU_TRIALS,
    _busybox,
    _charged_mib,
    _net_measure,
    _run,
    _timed,
    best_difference,
    cgroup_memory_bytes,
    tree_bytes,
)
from virtlab.bench.reuse import (
    REUSE_MAX_AGE_S,
    reused_run,
)
from virtlab.bench.runner import (
    BenchResult,
    _result,
    _row,
    _versions,
    cleanup,
    medians,
    parse_targets,
    provenance,
    ratios,
    reference,
    run,
    save,
    summarize,
)
from virtlab.bench.targets import (
    TARGET_CLASSES,
    HostTarget,
    LxdTarget,
    NsTarget,
    Target,
    VmStockTarget,
    VmTarget,
)
from virtlab.bench.views import (
    _fmt,
    compare,
    plot,
    row,
    show_provenance,
    show_run,
    table_text,
)
