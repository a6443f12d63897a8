"""Storage pools (copy-on-write drivers) and disk usage of instance root filesystems."""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from virtlab import OWNER_KEY, OWNER_VALUE, modes, owners
from virtlab.core import disk_usage
from virtlab.lxd.client import (
    _cannot,
    _http_timeout,
    _owned,
    _translate,
    _wait,
    connect,
    unique_name,
)
from virtlab.safety import (
    Deadline,
    course_name,
    parse_size,
)

# --------------------------------------------------------------------------- storage pools
COW_DRIVERS = ("btrfs", "zfs", "lvm")


def course_pools(*, client: Any | None = None) -> list[str]:
    """Storage pools the course created (``vl-`` name and ``user.virtlab.owner``)."""
    client = client or connect()
    with _translate("list storage pools"):
        items = client.api.storage_pools.get(params={"recursion": 1},
                                             timeout=(5.0, 15.0)).json()["metadata"]
    return [p["name"] for p in items if _owned(p)]


def pool_usage(name: str, *, client: Any | None = None) -> dict[str, int]:
    """Bytes used and total of storage pool ``name`` (as its driver reports them)."""
    client = client or connect()
    with _translate(f"storage pool {name}"):
        res = client.api.storage_pools[name].resources.get(timeout=(5.0, 15.0)).json()["metadata"]
    space = res.get("space") or {}
    return {"used": int(space.get("used", 0)), "total": int(space.get("total", 0))}


def create_pool(name: str, driver: str = "btrfs", size: int | str = "512MiB", *,
                client: Any | None = None, timeout: float = 60.0) -> str:
    """Create a course storage pool on a loop file LXD makes (``driver``: btrfs, zfs, lvm)."""
    full = course_name(name)
    if driver not in COW_DRIVERS:
        raise ValueError(f"driver {driver!r} is not a copy-on-write driver here; use one of "
                         f"{', '.join(COW_DRIVERS)}")
    nbytes = parse_size(size, minimum=256 * 1024**2, maximum=8 * 1024**3, what="pool size")
    client = client or connect()
    if full in course_pools(client=client):
        raise ValueError(f"a storage pool named {full!r} already exists")
    tool = {"btrfs": "mkfs.btrfs", "zfs": "zpool", "lvm": "lvcreate"}[driver]
    if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
        raise LookupError(f"the {driver} tools are not installed (`{tool}` is missing). To fix: "
                          f"`sudo apt-get install {'btrfs-progs' if driver == 'btrfs' else driver}`"
                          " (provisioning installs btrfs-progs)")
    d = Deadline(timeout, f"create pool {full}")
    body = {"name": full, "driver": driver, "description": "virtlab course pool",
            "config": {"size": f"{nbytes // 1024**2}MiB", OWNER_KEY: OWNER_VALUE,
                       **owners.uid_config()}}
    with _translate(f"create pool {full}"):
        r = client.api.storage_pools.post(json=body, timeout=_http_timeout(d))
    _wait(client, r, d)
    return full


def delete_pool(name: str, *, client: Any | None = None) -> None:
    """Delete course storage pool ``name`` (and the image copies LXD cached on it)."""
    client = client or connect()
    if name not in course_pools(client=client):
        raise LookupError(f"{name!r} is not a course storage pool; virtlab leaves it alone")
    with _translate(f"delete pool {name}"):
        vols = client.api.storage_pools[name].volumes.get(params={"recursion": 1},
                                                          timeout=(5.0, 15.0)).json()["metadata"]
        for v in vols:
            if v.get("type") == "image":
                node = client.api.storage_pools[name].volumes.image[v["name"]]
                _wait(client, node.delete(timeout=(5.0, 60.0)), Deadline(60, f"delete {v['name'][:12]}"))
        r = client.api.storage_pools[name].delete(timeout=(5.0, 60.0))
    _wait(client, r, Deadline(60, f"delete pool {name}"))


@contextlib.contextmanager
def cow_pool(name: str | None = None, driver: str = "btrfs", size: int | str = "512MiB", *,
             client: Any | None = None) -> Iterator[str]:
    """``with lxd.cow_pool() as pool: lxd.launch(..., pool=pool)`` — a copy-on-write pool on a
    loop file, deleted again on exit (delete its instances inside the block)."""
    client = client or connect()
    full = create_pool(name or unique_name("cow"), driver, size, client=client)
    try:
        yield full
    finally:
        delete_pool(full, client=client)


def _du(path: Path) -> dict[str, int]:
    """Apparent size, allocated bytes and file count of a tree (:func:`virtlab.core.disk_usage`)."""
    return disk_usage(path).as_dict()


def _readable(path: Path) -> bool:
    return os.access(path, os.R_OK | os.X_OK)


def _rootfs_du(backend: modes.Backend, rootdir: Path) -> dict[str, int]:
    """:func:`_du` of an instance's root filesystem in the pool (zeros where only root may look,
    an error there when live was demanded)."""
    if not _readable(rootdir):
        _cannot(backend, f"{rootdir} can only be read by root", "run it as root on the lab VM")
    return _du(rootdir)


def pool_hidden(client: Any | None = None, pool: str = "default") -> str | None:
    """Why this client cannot see where the ``dir`` pool keeps instances on the host (LXD does
    not show a pool's ``source`` to a restricted project's certificate: a classroom learner's),
    or None when it can. For the storage demos' ``requires=``."""
    try:
        pool_path(client, pool)
    except LookupError:
        return ("the storage pool's folder on the host, which LXD shows only to an unrestricted "
                "client (yours is a classroom learner's restricted project; the cell shows the "
                "recording made on a lab VM)")
    except Exception as err:  # noqa: BLE001 - unreachable or refused: say which
        return f"the storage pool's folder on the host (LXD did not say: {err})"
    return None


def pool_path(client: Any | None = None, pool: str = "default") -> Path:
    """Where the ``dir`` storage pool keeps its data on the host."""
    client = client or connect()
    with _translate(f"storage pool {pool}"):
        meta = client.api.storage_pools[pool].get(timeout=(5.0, 15.0)).json()["metadata"]
    src = (meta.get("config") or {}).get("source")
    if meta.get("driver") != "dir" or not src:
        raise LookupError(f"pool {pool!r} is not a dir pool (driver {meta.get('driver')})")
    return Path(src)
