"""What this machine can do — every answer comes from actually trying, with a short timeout.

``capabilities()`` returns a :class:`Capabilities` record; ``virtlab doctor`` prints it. Each
individual check is cached per process (``refresh=True`` re-runs it), because notebooks ask
often and the first ``qemu:///system`` connection can take several seconds.

Where each piece lives (this package re-exports all their names, so ``virtlab.probe.X`` works):

* ``probe/basics.py`` — probe basics: the kernel, root or not, answers with a timeout.
* ``probe/cgroupinfo.py`` — what cgroups this machine has: v1 / v2 / hybrid, controllers and where,
  the subtrees delegated to this user.
* ``probe/nsinfo.py`` — which namespaces this user can create (a real ``unshare`` attempt in a
  child), and the busybox the course uses.
* ``probe/kvminfo.py`` — KVM: ``/dev/kvm``, the CPU's vmx/svm flags, the API version; the one
  KVM-or-TCG rule (``accelerator_rule``).
* ``probe/daemoninfo.py`` — the daemons: LXD/Incus sockets and whether they answer, libvirt URIs;
  consulted only where a mode may go live.
* ``probe/summary.py`` — everything together: ``capabilities()``, the rows ``virtlab doctor``
  prints, tool versions, ``show()``.
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab.probe.basics import (
    _with_timeout,
    is_root,
    kernel,
)
from virtlab.probe.cgroupinfo import (
    CGROUP_ROOT,
    DELEGATED_DIR,
    V1_CONTROLLERS,
    CgroupInfo,
    _cgroups,
    _delegated_bases,
    _mounts,
    _own_v2_cgroup,
    _user_name,
    cgroups,
)
from virtlab.probe.daemoninfo import (
    LIBVIRT_FIX,
    LIBVIRT_URIS,
    LXD_FIX,
    LXD_SOCKETS,
    LibvirtInfo,
    LxdInfo,
    _daemons_wanted,
    _libvirt,
    _libvirt_uri,
    _libvirt_version,
    _lxd,
    container_daemons,
    libvirt_info,
    lxd,
    lxd_socket_candidates,
    silence_libvirt,
)
from virtlab.probe.kvminfo import (
    KVM_CHECK_EXTENSION,
    KVM_CREATE_VM,
    KVM_GET_API_VERSION,
    KvmInfo,
    VmAccelerator,
    _kvm,
    _vm_accelerator,
    accelerator_rule,
    cpu_flags,
    kvm,
    vm_accelerator,
)
from virtlab.probe.nsinfo import (
    _NS_PROBE,
    BUSYBOX_FIX,
    NamespaceInfo,
    _namespaces,
    _try_unshare,
    busybox,
    namespaces,
)
from virtlab.probe.summary import (
    Capabilities,
    capabilities,
    hub,
    show,
    summary_rows,
    versions,
)
