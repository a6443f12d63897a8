"""Course instances: limits, creating, launching, finding, listing and cleaning up (names,
ownership).
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from virtlab import OWNER_KEY, OWNER_VALUE, daemons, owners
from virtlab.core.registry import cleans
from virtlab.lxd.client import (
    DEFAULT_CPU,
    DEFAULT_IMAGE,
    DEFAULT_MEMORY,
    DEFAULT_PROCESSES,
    LxdUnavailable,
    _exists,
    _http_timeout,
    _owned,
    _translate,
    _wait,
    connect,
    daemon_of,
    is_course_name,
    project,
    unique_name,
    url_name,
)
from virtlab.lxd.handle import Instance
from virtlab.lxd.storage import delete_pool
from virtlab.safety import (
    Deadline,
    check_int,
    cleanup_all,
    course_name,
    parse_size,
)


# --------------------------------------------------------------------------- limits & names
@dataclass(frozen=True)
class Limits:
    """Validated limits of one instance, as LXD config keys."""

    memory: int  # bytes
    cpu: int
    processes: int

    def config(self) -> dict[str, str]:
        mib = 1024 * 1024
        mem = f"{self.memory // mib}MiB" if self.memory % mib == 0 else str(self.memory)
        return {"limits.memory": mem, "limits.memory.enforce": "hard",
                "limits.memory.swap": "false", "limits.cpu": str(self.cpu),
                "limits.processes": str(self.processes)}


def limit_config(lim: Limits, who: daemons.Daemon, in_project: str | None = None) -> dict[str, str]:
    """``lim`` as the config keys ``who`` takes: a learner's restricted project on Incus refuses
    ``limits.memory.swap`` (:data:`virtlab.daemons.RESTRICTED_NO_SWAP_KEY`), so it is left out
    there (``in_project``: the client's project; default: :func:`project`)."""
    cfg = lim.config()
    if (in_project if in_project is not None else project()) and who.has(daemons.RESTRICTED_NO_SWAP_KEY):
        cfg.pop("limits.memory.swap", None)
    return cfg


def _client_project(client: Any) -> str:
    """The project ``client`` works in ("" for the default one): pylxd's own, else the course's."""
    proj = getattr(client, "project", None)
    return proj if isinstance(proj, str) and proj not in ("", "default") else (project() or "")


def limits(memory: int | str = DEFAULT_MEMORY, cpu: int = DEFAULT_CPU,
           processes: int = DEFAULT_PROCESSES) -> Limits:
    """Validate limits (ValueError saying what is allowed) and return them.

    >>> limits("64MiB", 1, 100).config()["limits.memory"]
    '64MiB'
    """
    host_mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mem = parse_size(memory, minimum=16 * 1024**2, maximum=host_mem, what="memory limit")
    ncpu = check_int(cpu, minimum=1, maximum=os.cpu_count() or 1, what="cpu limit (number of CPUs)")
    procs = check_int(processes, minimum=10, maximum=100_000, what="process limit")
    return Limits(mem, ncpu, procs)


_POOL_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def _image_exists(client: Any, alias: str) -> bool:
    from pylxd import exceptions as pexc

    with _translate(f"image {alias}"):
        try:
            client.api.images.aliases[alias].get(timeout=(5.0, 15.0))
            return True
        except pexc.NotFound:
            return False


def image_exists(alias: str, *, client: Any | None = None) -> bool:
    """Does LXD hold an image under ``alias``?"""
    return _image_exists(client or connect(), alias)


def create(name: str, image: str = DEFAULT_IMAGE, *, memory: int | str = DEFAULT_MEMORY,
           cpu: int = DEFAULT_CPU, processes: int = DEFAULT_PROCESSES, privileged: bool = False,
           config: dict[str, str] | None = None, pool: str | None = None,
           timeout: float = 60.0, client: Any | None = None) -> Instance:
    """Create (but do not start) course instance ``name`` from image alias ``image``.

    Everything is validated before anything is created: the name (ValueError), the limits
    (ValueError), that the image exists (LookupError: build it) and that the name is free.
    ``pool`` puts the root filesystem on another storage pool (default: the default profile's).
    """
    full = course_name(name)
    if pool is not None and (not isinstance(pool, str) or not _POOL_RE.match(pool)):
        raise ValueError(f"pool {pool!r} is not a storage pool name (letters, digits, '-')")
    lim = limits(memory, cpu, processes)
    if not isinstance(privileged, bool):
        raise ValueError(f"privileged must be True or False, not {privileged!r}")
    extra = dict(config or {})
    for k, v in extra.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValueError(f"config keys and values must be strings: {k!r}: {v!r}")
        if k in (OWNER_KEY, owners.UID_KEY) or k.startswith("limits."):
            raise ValueError(f"config key {k!r} is set by virtlab; use the memory/cpu/processes "
                             "arguments for limits")
    client = client or connect()
    if not _image_exists(client, image):
        raise LookupError(f"image {image!r} is not in {daemon_of(client).title}. To fix: build the "
                          "course images with `virtlab images build --only lxd` (provisioning "
                          "does this)")
    if _exists(client, full):
        raise ValueError(f"an instance named {full!r} already exists: pick another name, or "
                         f"remove it with vl.lxd.delete({full!r})")
    cfg = {OWNER_KEY: OWNER_VALUE, **owners.uid_config(), **limit_config(lim, daemon_of(client), _client_project(client)),
           "security.privileged": "true" if privileged else "false", **extra}
    body = {"name": full, "type": "container", "source": {"type": "image", "alias": image},
            "config": cfg, "profiles": ["default"],
            "description": "virtlab course instance"}
    if pool is not None:
        body["devices"] = {"root": {"type": "disk", "path": "/", "pool": pool}}
    who = daemon_of(client)
    d = Deadline(timeout, f"create {full}", f"{who.title} is slow or stuck; check {who.log}")
    with _translate(f"create {full}"):
        r = client.api.instances.post(json=body, timeout=_http_timeout(d))
    try:
        _wait(client, r, d)
    except BaseException:
        with contextlib.suppress(Exception):
            Instance(client, full).delete(missing_ok=True, timeout=10)
        raise
    return Instance(client, full)


def launch(name: str, image: str = DEFAULT_IMAGE, *, memory: int | str = DEFAULT_MEMORY,
           cpu: int = DEFAULT_CPU, processes: int = DEFAULT_PROCESSES, privileged: bool = False,
           config: dict[str, str] | None = None, pool: str | None = None,
           timeout: float = 60.0, client: Any | None = None) -> Instance:
    """Create and start course instance ``name`` (like ``lxc launch``); returns the Instance.

    The caller owns it: delete it (``inst.delete()``) or use :func:`instance` instead.
    If starting fails, the half-made instance is deleted before the error is raised.
    """
    d = Deadline(timeout, f"launch {name}")
    inst = create(name, image, memory=memory, cpu=cpu, processes=processes,
                  privileged=privileged, config=config, pool=pool, timeout=timeout, client=client)
    try:
        inst.start(timeout=max(1.0, d.remaining()))
    except BaseException:
        with contextlib.suppress(Exception):
            inst.delete(missing_ok=True, timeout=15)
        raise
    return inst


@contextlib.contextmanager
def instance(name: str | None = None, image: str = DEFAULT_IMAGE, *,
             memory: int | str = DEFAULT_MEMORY, cpu: int = DEFAULT_CPU,
             processes: int = DEFAULT_PROCESSES, privileged: bool = False,
             config: dict[str, str] | None = None, start: bool = True,
             pool: str | None = None, timeout: float = 60.0,
             client: Any | None = None) -> Iterator[Instance]:
    """``with lxd.instance("demo", memory="64MiB") as inst: ...`` — launched on entry, deleted
    (force-stopped first) on exit, whatever happens. ``name=None`` picks a fresh unique name."""
    fn = launch if start else create
    inst = fn(name or unique_name(), image, memory=memory, cpu=cpu, processes=processes,
              privileged=privileged, config=config, pool=pool, timeout=timeout, client=client)
    try:
        yield inst
    except BaseException:
        # the block's error is the one to see; a failing delete (daemon gone) must not hide it
        # (`virtlab cleanup` removes a left-over instance later)
        with contextlib.suppress(Exception):
            inst.delete(missing_ok=True)
        raise
    inst.delete(missing_ok=True)


def get(name: str, *, client: Any | None = None) -> Instance:
    """The course instance ``name`` (LookupError when it does not exist or is not the course's)."""
    full = course_name(name)
    inst = Instance(client or connect(), full)
    if not _owned(inst.info()):
        raise LookupError(f"{full!r} exists but is not a course instance (no {OWNER_KEY}); "
                          "virtlab leaves it alone")
    return inst


def delete(name: str, *, client: Any | None = None) -> None:
    """Delete course instance ``name`` (refuses instances the course did not create)."""
    get(name, client=client).delete()


def list_instances(*, client: Any | None = None) -> list[dict[str, Any]]:
    """Every course-owned instance: name, status, limits."""
    client = client or connect()
    with _translate("list instances"):
        items = client.api.instances.get(params={"recursion": 1},
                                         timeout=(5.0, 30.0)).json()["metadata"]
    return [{"name": m["name"], "status": m.get("status"),
             "memory": (m.get("config") or {}).get("limits.memory"),
             "cpu": (m.get("config") or {}).get("limits.cpu"),
             "processes": (m.get("config") or {}).get("limits.processes")}
            for m in items if _owned(m)]


@cleans(order=20)
def cleanup(match: str | None = None) -> list[str]:
    """Delete every course-owned instance (name prefix AND owner key); return what was removed.

    Nothing else is touched. ``match`` narrows it to course instances whose name starts with it
    (tests use this so they never remove a concurrent run's instances). Visits every daemon that
    answers on one of :func:`virtlab.daemons.socket_candidates` (LXD and Incus where both run;
    only one with ``VIRTLAB_CONTAINER_DAEMON``). Where none runs there is nothing to clean.
    """
    try:
        socks = list(dict.fromkeys(s for _, s in daemons.socket_candidates() if os.path.exists(s)))
    except ValueError:
        return []
    removed: list[str] = []
    for sock in socks:
        try:
            client = connect(socket_file=sock)
        except LxdUnavailable:
            continue
        removed.extend(_cleanup_daemon(client, match))
        if owners.scope() is None and project() is None:
            # root's --all-users: the classroom learners' own projects too
            for proj in course_projects(client):
                removed.extend(_cleanup_daemon(_in_project(sock, proj), match))
    return removed


def course_projects(client: Any) -> list[str]:
    """The course's LXD projects (``vl-`` names: one restricted project per classroom learner)."""
    with _translate("list projects"):
        names = client.api.projects.get(timeout=(5.0, 15.0)).json()["metadata"]
    return sorted(url_name(n) for n in names if is_course_name(url_name(n)))


def _in_project(sock: str, proj: str) -> Any:
    import pylxd

    return pylxd.Client(endpoint="http+unix://" + quote(sock, safe=""), timeout=(5.0, 30.0),
                        project=proj)


def _course_items(node: Any, what: str) -> list[dict[str, Any]]:
    with _translate(f"list {what}"):
        items = node.get(params={"recursion": 1}, timeout=(5.0, 30.0)).json()["metadata"]
    return [m for m in items if _owned(m)]


def _cleanup_daemon(client: Any, match: str | None) -> list[str]:
    who = daemon_of(client).title
    removed: list[str] = []

    def remover(name: str) -> Any:
        def run() -> None:
            Instance(client, name).delete(missing_ok=True)
            removed.append(f"{who} instance {name}")
        return run

    # only the caller's own (owners.mine), unless root asked for every user's (--all-users)
    names = [m["name"] for m in _course_items(client.api.instances, "instances")
             if (match is None or m["name"].startswith(match))
             and owners.mine((m.get("config") or {}).get(owners.UID_KEY))]
    pools = [p["name"] for p in _course_items(client.api.storage_pools, "storage pools")
             if (match is None or p["name"].startswith(match))
             and owners.mine((p.get("config") or {}).get(owners.UID_KEY))]

    def pool_remover(name: str) -> Any:
        def run() -> None:
            delete_pool(name, client=client)
            removed.append(f"{who} storage pool {name}")
        return run

    # instances first: a pool can only go once nothing lives on it
    cleanup_all([*((f"delete {n}", remover(n)) for n in names),
                 *((f"delete pool {p}", pool_remover(p)) for p in pools)])
    return removed
