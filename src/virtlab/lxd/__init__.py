"""LXD/Incus system containers from Python, the course's way (over pylxd and their REST API).

Everything here talks to a real daemon over its unix socket: LXD, or Incus (LXD's community fork,
2023), whichever :mod:`virtlab.daemons` finds (``VIRTLAB_CONTAINER_DAEMON=lxd|incus`` picks one
where both run). One code path drives both; where they differ, the code asks the
:class:`virtlab.daemons.Daemon` record of the connected daemon (:func:`daemon_of`). The rules:

* every instance (and storage pool) is named through :func:`virtlab.safety.course_name`
  (prefix ``vl-``) and carries ``user.virtlab.owner`` in its config; :func:`cleanup` removes
  only what has both;
* every instance gets limits (memory, CPU, processes) unless the caller widens them;
* every wait has a deadline (LXD's own ``/operations/<id>/wait?timeout=`` plus an HTTP timeout),
  and running out raises :class:`virtlab.safety.DeadlineExceeded`;
* a daemon that is missing, stopped, or refuses us raises :class:`LxdUnavailable` saying what to
  do — never a ``requests`` traceback.

Typical use::

    from virtlab import lxd
    with lxd.instance("demo", memory="64MiB") as inst:      # launched, limited, owned
        code, out, err = inst.exec(["uname", "-r"])
    # ... and deleted again here, whatever happened inside the block

The course image ``vl-busybox`` (about 1 MB) is built offline by :func:`build_images`
(``virtlab images build --only lxd``; provisioning calls it); ``vl-debian`` (debootstrap, with
systemd) is optional. The demos of notebook 04 (``lxd.*``) are in :mod:`virtlab.lxd.demos`, their ``show_*`` views in
:mod:`virtlab.lxd.views`.

Where each piece lives (this package re-exports all their names, so ``virtlab.lxd.X`` works):

* ``lxd/client.py`` — LXD/Incus client: the socket, connect(), error translation, operations with
  deadlines, the ``lxc``/``incus`` CLI.
* ``lxd/handle.py`` — one LXD instance: the ``Instance`` handle (state, start/stop, exec,
  snapshots, files, host pid).
* ``lxd/instances.py`` — course instances: limits, creating, launching, finding, listing and
  cleaning up (names, ownership).
* ``lxd/storage.py`` — storage pools (copy-on-write drivers) and disk usage of instance root
  filesystems.
* ``lxd/course_images.py`` — course images: the busybox image built from the host's busybox, the
  optional Debian image.
* ``lxd/timings.py`` — lifecycle timings: launch / exec / stop / delete, through the API or the CLI.
* ``lxd/views.py`` — the LXD episode's views: deterministic, readable renderings of the demos'
  results.
* ``lxd/demos.py`` — the LXD episode's demos (``@modes.demo``): each returns JSON-able data, prints
  nothing.
* ``lxd/clustering.py`` — an LXD cluster as data: the classroom's preseeds, join tokens, and which
  LXD releases check project limits in a cluster (not re-exported: ``from virtlab.lxd import
  clustering``; only its ``cleanup``, as ``cluster_cleanup``, which ``virtlab cleanup`` calls).
* ``lxd/cluster.py`` — a throwaway LXD cluster of our own daemons on one machine (the cluster test;
  not re-exported).
"""
# ruff: noqa: F401  (re-exports: the package's public names stay where they were)
from __future__ import annotations

from virtlab.lxd.client import (
    DAEMON_HINT,
    DEFAULT_CPU,
    DEFAULT_IMAGE,
    DEFAULT_MEMORY,
    DEFAULT_PROCESSES,
    GROUP_HINT,
    IMAGE_OWNER_PROPERTY,
    POLL_TIMEOUT,
    PROJECT_ENV,
    ExecResult,
    LxdError,
    LxdUnavailable,
    _api_error,
    _cannot,
    _exists,
    _expected,
    _http_timeout,
    _lxc,
    _owned,
    _requests_errors,
    _translate,
    _wait,
    cli_command,
    cli_env,
    connect,
    daemon,
    daemon_of,
    privileged_refused,
    project,
    socket_path,
    unique_name,
    url_name,
)
from virtlab.lxd.clustering import cleanup as cluster_cleanup  # throwaway clusters a crash left
from virtlab.lxd.course_images import (
    DEBIAN_IMAGE,
    _apt_source,
    _busybox_image_tarball,
    _present,
    build_debian_image,
    build_images,
    image_metadata,
    images,
    import_image,
)
from virtlab.lxd.demos import (
    OOM_CMD,
    _debian_image,
    _host_meminfo,
    demo_cow,
    demo_fullos,
    demo_launch,
    demo_lifecycle,
    demo_oom,
    demo_server,
    demo_snapshot,
    demo_storage,
    demo_uidmap,
    tidy,
)
from virtlab.lxd.handle import (
    Instance,
    InstanceState,
    _snap_name,
)
from virtlab.lxd.instances import (
    _POOL_RE,
    Limits,
    _cleanup_daemon,
    _course_items,
    _image_exists,
    _in_project,
    cleanup,
    course_projects,
    create,
    delete,
    get,
    image_exists,
    instance,
    launch,
    limit_config,
    limits,
    list_instances,
)
from virtlab.lxd.storage import (
    COW_DRIVERS,
    _du,
    _readable,
    _rootfs_du,
    course_pools,
    cow_pool,
    create_pool,
    delete_pool,
    pool_hidden,
    pool_path,
    pool_usage,
)
from virtlab.lxd.timings import (
    PHASES,
    lifecycle_timings,
)
from virtlab.lxd.views import (
    lifecycle_table,
    plot_lifecycle,
    show_cow,
    show_fullos,
    show_launch,
    show_lifecycle,
    show_namespaces,
    show_oom,
    show_server,
    show_snapshot,
    show_storage,
    show_uidmap,
)

__all__ = [
    "privileged_refused",
    "DEBIAN_IMAGE", "DEFAULT_IMAGE", "ExecResult", "Instance", "InstanceState", "Limits", "LxdError",
    "LxdUnavailable", "build_images", "build_debian_image", "cleanup", "connect", "course_pools", "cow_pool",
    "create", "create_pool", "delete", "delete_pool", "get", "image_exists", "images",
    "import_image", "instance", "launch", "lifecycle_timings", "limits", "list_instances",
    "pool_usage", "socket_path", "url_name", "tidy", "unique_name", "daemon", "daemon_of", "cli_command",
    "cli_env",
]
