"""Isolation and security, demonstrated: what stops a container, what stops a VM.

* :data:`CASE_STUDIES` — real escapes (CVE, what it needed, what blocked it, sources);
* the *probe*: one small busybox ``sh`` script (:data:`PROBE_SCRIPT`) that tries each dangerous
  action in a way that would do no harm had it succeeded, and prints one line per attempt. The
  same script runs in a fresh set of namespaces (:func:`probe_namespaces`) and in an LXD
  container (:func:`probe_lxd`); :func:`parse_probe` turns its output into :class:`Attempt` s with
  the errno and the reason;
* capabilities (:func:`capability_names`, :func:`decode_caps`, :func:`drop_capability_demo`),
  seccomp (:func:`seccomp_block`), the LSMs (:func:`lsm_status`), and the attack surface
  (:mod:`virtlab.attacksurface`);
* a guest kernel panic next to a running neighbour VM (:func:`guest_panic`, episode 06's VM);
* the threat model (:data:`THREATS`, :func:`assess`; the widget is
  :mod:`virtlab.widgets.threats`).

Runners: episode 03's mini container (:func:`probe_minicontainer`), LXD (:func:`probe_lxd`),
plain ``unshare(1)`` namespaces as a fallback (:func:`probe_namespaces`), and the host's own root
as the yardstick for privileged containers (:func:`host_baseline`). Scratch directories are
``/tmp/vl-sec-*``; :func:`cleanup` removes leftovers.

Nothing destructive is ever executed: the kernel-module attempt passes a one-byte non-module, the
sysrq and sysctl files are opened but never written, the disk is opened for reading zero bytes,
the clock tick is "set" to its current value. In a *privileged* container only harmless
counterparts run (read the uid map and capability set, mount and unmount a tmpfs).

Where each piece lives (this package re-exports all their names, so ``virtlab.security.X`` works):

* ``security/cases.py`` — escape case studies (CVEs) and the figures episode 08 draws on: data and
  their printed views.
* ``security/caps.py`` — linux capabilities: names, decoding masks, a process's sets, dropping one
  (the CAP_NET_RAW demo).
* ``security/attempts.py`` — the attack-surface probe: a busybox script of harmless privileged
  attempts, run in each isolation kind, parsed and explained.
* ``security/kernel.py`` — kernel-side confinement: seccomp filters (blocking a syscall) and the
  active LSMs (AppArmor, SELinux, Landlock).
* ``security/threatmodel.py`` — the threat model: which isolation boundary stops which threat, and
  why (episode 08's table).
* ``security/views.py`` — the security episode's views: readable renderings of the demos' results.
* ``security/demos.py`` — the security episode's demos (``@modes.demo``): each returns JSON-able
  data, prints nothing.
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab.security.attempts import (
    _BUSYBOX_MESSAGES,
    ATTEMPTS,
    HARMLESS,
    INFO,
    MUST_FAIL,
    PROBE_DIR,
    PROBE_SCRIPT,
    SECCOMP_ONLY,
    Attempt,
    ProbeResult,
    _compare_with_host,
    _device_cgroup_list,
    _ns_command,
    errno_from_message,
    explain,
    host_baseline,
    host_root_device,
    parse_probe,
    probe_command,
    probe_lxd,
    probe_minicontainer,
    probe_namespaces,
)
from virtlab.security.caps import (
    _CAPS_CHILD,
    CAPABILITY_NAMES,
    DANGEROUS,
    capability_names,
    decode_caps,
    drop_capability_demo,
    process_caps,
)
from virtlab.security.cases import (
    CASE_STUDIES,
    FIGURES,
    CaseStudy,
    _nvd,
    case_rows,
    show_cases,
    show_figures,
)
from virtlab.security.demos import (
    cleanup,
    demo_attempts,
    demo_capabilities,
    demo_kernel,
    demo_lsm,
    demo_lxd,
    demo_panic,
    demo_privileged,
    demo_seccomp,
    demo_surface,
    guest_panic,
)
from virtlab.security.kernel import (
    _LANDLOCK_CREATE_RULESET,
    _SECCOMP_CHILD,
    SECCOMP_DEMO_SYSCALLS,
    _active_lsms_root,
    _signal_name,
    kernel_view,
    lsm_status,
    seccomp_block,
)
from virtlab.security.threatmodel import (
    _T,
    BOUNDARIES,
    FAILS,
    NA,
    PARTLY,
    STOPS,
    THREATS,
    assess,
    show_threat,
    threat_text,
    threats,
    weakest_stopping,
)
from virtlab.security.views import (
    _print_kv,
    root_equivalence,
    show_attempts,
    show_capabilities,
    show_kernel,
    show_lsm,
    show_lxd,
    show_panic,
    show_privileged,
    show_seccomp,
    show_surface,
    surface_figure,
)
