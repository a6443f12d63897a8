"""The LXD episode's demos (``@modes.demo``): each returns JSON-able data, prints nothing."""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from virtlab import modes, probe
from virtlab.lxd.client import (
    DEFAULT_IMAGE,
    LxdUnavailable,
    _cannot,
    _translate,
    connect,
    daemon,
    daemon_of,
    privileged_refused,
    socket_path,
)
from virtlab.lxd.course_images import DEBIAN_IMAGE, images
from virtlab.lxd.instances import _image_exists, get, instance
from virtlab.lxd.storage import _rootfs_du, cow_pool, pool_hidden, pool_path, pool_usage
from virtlab.lxd.timings import lifecycle_timings
from virtlab.safety import (
    Deadline,
    course_name,
)


# --------------------------------------------------------------------------- demos (notebook 04)
def _host_meminfo() -> dict[str, int]:
    vals = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        k, v = line.split(":", 1)
        if k in ("MemTotal", "MemAvailable"):
            vals[k] = int(v.split()[0]) * 1024
    return vals


@modes.demo("lxd.server", section="lxd")
def demo_server(backend: modes.Backend) -> dict[str, Any]:
    """What the daemon tells a client: versions, drivers, storage pools, images, instances."""
    client = connect()
    env = client.host_info.get("environment", {})
    with _translate("server info"):
        pools = client.api.storage_pools.get(params={"recursion": 1},
                                             timeout=(5.0, 15.0)).json()["metadata"]
        nets = client.api.networks.get(params={"recursion": 1},
                                       timeout=(5.0, 15.0)).json()["metadata"]
        profiles = client.api.profiles.get(params={"recursion": 1},
                                           timeout=(5.0, 15.0)).json()["metadata"]
    who = daemon_of(client)
    return {
        "server": who.title, "differences": [x.key for x in who.differences],
        "server_version": env.get("server_version"), "driver": env.get("driver"),
        "driver_version": env.get("driver_version"), "kernel": env.get("kernel_version"),
        "storage_drivers": sorted({d["Name"] for d in env.get("storage_supported_drivers", [])
                                   if d.get("Name")}),
        "api_extensions": len(client.host_info.get("api_extensions", [])),
        "socket": socket_path(),
        "pools": [{"name": p["name"], "driver": p["driver"]} for p in pools],
        "managed_networks": [n["name"] for n in nets if n.get("managed")],
        "profiles": {p["name"]: sorted(p.get("devices", {})) for p in profiles},
        "course_images": [{"aliases": i["aliases"], "size": i["size"],
                           "os": i["properties"].get("os")} for i in images(client=client)],
    }


@modes.demo("lxd.launch", section="lxd")
def demo_launch(backend: modes.Backend) -> dict[str, Any]:
    """Launch a container, run commands in it, and look at it from the host."""
    t0 = time.perf_counter()
    with instance("demo", memory="128MiB") as inst:
        launched = time.perf_counter() - t0
        cmds = {
            "uname -r": ["uname", "-r"],
            "hostname": ["hostname"],
            "ps": ["ps", "-o", "pid,user,comm"],
            "id": ["id"],
            "ls /": ["ls", "/"],
        }
        inside = {k: inst.exec(c).out for k, c in cmds.items()}
        st = inst.state()
        namespaces = inst.namespaces()
        if any(v["container"] is None for v in namespaces.values()):
            _cannot(backend, "the container's /proc/<pid>/ns can only be read by root",
                    "run it as root on the lab VM")
        return {"name": inst.name, "launch_s": round(launched, 3), "inside": inside,
                "daemon": daemon_of(inst.client).title,
                "host_uname_r": os.uname().release, "state": {
                    "status": st.status, "pid": st.pid, "processes": st.processes,
                    "memory_bytes": st.memory_bytes,
                    "cgroup_memory": st.cgroup.get("memory") or st.cgroup.get("unified")},
                "namespaces": namespaces, "ids": inst.host_ids()}


@modes.demo("lxd.uidmap", section="lxd", requires=lambda b: privileged_refused())
def demo_uidmap(backend: modes.Backend) -> dict[str, Any]:
    """Root inside an unprivileged and a privileged container, seen from the host."""
    out = {}
    for label, priv in (("unprivileged", False), ("privileged", True)):
        with instance(f"uid-{label[:4]}", privileged=priv) as inst:
            ids = inst.host_ids()
            out[label] = {"inside_id": inst.exec(["id"]).out.strip(),
                          "inside_uid_map": inst.exec(["cat", "/proc/self/uid_map"]).out.split(),
                          "host_uid": ids.get("host_uid"), "host_pid": ids.get("pid"),
                          "privileged": inst.config.get("security.privileged")}
    return out


OOM_CMD = ["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"]


@modes.demo("lxd.oom", section="lxd")
def demo_oom(backend: modes.Backend) -> dict[str, Any]:
    """A 64 MiB container asks for 200 MiB: the kernel kills the process, the host is fine."""
    host_before = _host_meminfo()
    with instance("oom", memory="64MiB") as inst:
        free = inst.exec(["free", "-m"]).out
        meminfo = inst.exec(["head", "-n", "2", "/proc/meminfo"]).out
        lxcfs = "lxcfs on /proc/meminfo" in inst.exec(["mount"]).out
        res = inst.exec(OOM_CMD)
        after = inst.exec(["echo", "still alive"])
        st = inst.state()
        cg = st.cgroup.get("memory")
        failcnt = None
        limit = None
        try:
            if cg is not None:  # cgroup v1 (hybrid hosts)
                base = Path(probe.cgroups().v1_controllers.get("memory", "/sys/fs/cgroup/memory")) / cg.lstrip("/")
                failcnt = int((base / "memory.failcnt").read_text())
                limit = int((base / "memory.limit_in_bytes").read_text())
            else:
                base = Path(probe.cgroups().v2_mount or "/sys/fs/cgroup") / st.cgroup.get("unified", "").lstrip("/")
                ev = dict(line.split() for line in (base / "memory.events").read_text().splitlines())
                failcnt = int(ev.get("oom_kill", 0))
                limit = int((base / "memory.max").read_text())
        except OSError as err:
            _cannot(backend, f"the container's memory cgroup cannot be read ({err})",
                    "run it on a lab VM where LXD's cgroups are visible")
        return {"command": " ".join(OOM_CMD), "exit_code": res.code, "stderr": res.err,
                "after": after.out.strip(), "free_inside": free,
                "meminfo_inside": meminfo, "lxcfs": lxcfs, "cgroup_limit": limit,
                "failcnt_or_oom_kills": failcnt, "memory_peak": st.memory_peak_bytes,
                "status": st.status, "host_mem_total": host_before["MemTotal"],
                "host_available_before": host_before["MemAvailable"],
                "host_available_after": _host_meminfo()["MemAvailable"],
                "cgroup_version": "v1" if cg is not None else "v2"}


@modes.demo("lxd.snapshot", section="lxd")
def demo_snapshot(backend: modes.Backend) -> dict[str, Any]:
    """Snapshot, break something, restore; then copy the instance."""
    steps: list[dict[str, Any]] = []

    def step(what: str, fn: Any) -> Any:
        t = time.perf_counter()
        val = fn()
        steps.append({"step": what, "seconds": round(time.perf_counter() - t, 3)})
        return val

    with instance("snap") as inst:
        inst.exec(["sh", "-c", "echo 'hello from before' > /root/note.txt"])
        step("snapshot 'clean'", lambda: inst.snapshot("clean"))
        inst.exec(["rm", "-f", "/root/note.txt", "/bin/ls"])
        broken = inst.exec(["ls", "/root"])
        step("restore 'clean'", lambda: inst.restore("clean"))
        fixed = inst.exec(["ls", "/root"])
        note = inst.exec(["cat", "/root/note.txt"]).out
        copy = step("copy to a new instance", lambda: inst.copy("snap-copy"))
        with copy:
            copied = copy.exec(["cat", "/root/note.txt"]).out
            copy_name, copy_host = copy.name, copy.exec(["hostname"]).out.strip()
        return {"name": inst.name, "snapshots": inst.snapshots(), "steps": steps,
                "broken": {"code": broken.code, "err": broken.err.strip()},
                "fixed": {"code": fixed.code, "out": fixed.out.strip()}, "note": note.strip(),
                "copy": {"name": copy_name, "hostname": copy_host, "note": copied.strip()}}


@modes.demo("lxd.storage", section="lxd", requires=lambda b: pool_hidden())
def demo_storage(backend: modes.Backend) -> dict[str, Any]:
    """Image vs instance size on the dir pool: every instance is a full copy of the image."""
    client = connect()
    base = pool_path(client)
    img = next(i for i in images(client=client) if DEFAULT_IMAGE in i["aliases"])
    with instance("disk-a", client=client) as a, instance("disk-b", client=client) as b:
        sizes = {}
        inodes = {}
        for inst in (a, b):
            rootdir = base / "containers" / inst.name / "rootfs"
            sizes[inst.name] = _rootfs_du(backend, rootdir)
            try:
                inodes[inst.name] = os.lstat(rootdir / "bin" / "busybox").st_ino
            except OSError:  # only root may look inside the pool
                inodes[inst.name] = None
        return {"pool": str(base), "driver": "dir", "image_compressed": img["size"],
                "instances": sizes, "same_busybox_inode": len(set(inodes.values())) == 1}


@modes.demo("lxd.lifecycle", section="lxd")
def demo_lifecycle(backend: modes.Backend) -> dict[str, Any]:
    """Median launch / exec / stop / delete, through virtlab.lxd and through the lxc CLI."""
    who = daemon()
    return {"rounds": 3, "daemon": who.title, "cli_name": who.cli,
            "api": lifecycle_timings(3, via="api"), "cli": lifecycle_timings(3, via="cli")}


def tidy(*names: str) -> None:
    """Delete the named exercise instances (course-owned only) if they exist; print what happened.

    Safe to run in any mode: where the LXD cells are not live it only says so.
    """
    try:
        if modes.resolve("lxd").mode != "live":
            print("nothing to remove: the LXD cells are not live here")
            return
    except modes.CapabilityMissing:
        print("nothing to remove: LXD is not reachable")
        return
    removed = []
    for n in names:
        try:
            get(n).delete()
            removed.append(course_name(n))
        except LookupError:
            pass
    print("removed: " + (", ".join(removed) if removed else "nothing (no exercise instances left)"))


@modes.demo("lxd.cow", section="lxd", requires=lambda b: pool_hidden())
def demo_cow(backend: modes.Backend) -> dict[str, Any]:
    """Three instances on the dir pool and three on a btrfs pool: disk used per instance."""
    client = connect()
    base = pool_path(client)
    out: dict[str, Any] = {"n": 3, "image": DEFAULT_IMAGE}
    dir_rows = []
    with contextlib.ExitStack() as stack:
        for i in range(3):
            t = time.perf_counter()
            inst = stack.enter_context(instance(f"dir-{i}", client=client))
            dt = time.perf_counter() - t
            dir_rows.append({"launch_s": round(dt, 3),
                             "bytes": _rootfs_du(backend, base / "containers" / inst.name
                                                 / "rootfs")["allocated"]})
    out["dir"] = dir_rows
    try:
        with cow_pool(client=client) as pool:
            rows = []
            before = pool_usage(pool, client=client)["used"]
            out["btrfs_empty"] = before
            with contextlib.ExitStack() as stack:
                for i in range(3):
                    t = time.perf_counter()
                    stack.enter_context(instance(f"cow-{i}", pool=pool, client=client))
                    dt = time.perf_counter() - t
                    used = pool_usage(pool, client=client)["used"]
                    rows.append({"launch_s": round(dt, 3), "bytes": used - before})
                    before = used
            out["btrfs"] = rows
    except LookupError as err:  # btrfs tools missing: say so instead of failing the notebook
        _cannot(backend, f"no btrfs pool ({err})", "install btrfs-progs (provision.sh does)")
        out["btrfs"] = None
        out["btrfs_error"] = str(err)
    return out


def _debian_image(backend: modes.Backend) -> str | None:
    try:
        built = _image_exists(connect(), DEBIAN_IMAGE)
    except LxdUnavailable:
        return None  # the demo itself reports an unreachable daemon
    return None if built else (f"the optional image {DEBIAN_IMAGE} (build it: `sudo VIRTLAB_LXD_DEBIAN=1 "
                               "virtlab images build --only lxd`, about a minute, needs the Debian mirror)")


@modes.demo("lxd.fullos", section="lxd", requires=_debian_image, optional=True)
def demo_fullos(backend: modes.Backend) -> dict[str, Any]:
    """A full Debian userspace with systemd as PID 1, in a container (needs ``vl-debian``)."""
    client = connect()
    if not _image_exists(client, DEBIAN_IMAGE):
        _cannot(backend, f"the optional image {DEBIAN_IMAGE} is not built",
                "`sudo VIRTLAB_LXD_DEBIAN=1 virtlab images build --only lxd`")
        return {"available": False,
                "hint": "the optional image vl-debian is not built here; build it with "
                        "`sudo VIRTLAB_LXD_DEBIAN=1 virtlab images build --only lxd` (about a "
                        "minute, needs the Debian mirror)"}
    t0 = time.perf_counter()
    with instance("debian", image=DEBIAN_IMAGE, memory="256MiB", client=client) as inst:
        launched = time.perf_counter() - t0
        d = Deadline(60, "systemd boot in vl-debian")

        def boot_state() -> str | None:
            out = inst.exec(["systemctl", "is-system-running"]).out.strip()
            return out if out in ("running", "degraded") else None

        state = d.wait_for(boot_state, interval=0.2)
        booted = time.perf_counter() - t0
        services = inst.exec(["systemctl", "list-units", "--type=service", "--state=running",
                              "--no-legend", "--plain"]).out.split("\n")
        st = inst.state()
        rootdir = pool_path(client) / "containers" / inst.name / "rootfs"
        osr = dict(line.split("=", 1) for line in inst.exec(["cat", "/etc/os-release"]).out.split("\n")
                   if "=" in line)
        return {"available": True, "launch_s": round(launched, 2), "boot_s": round(booted, 2),
                "state": state, "pid1": inst.exec(["cat", "/proc/1/comm"]).out.strip(),
                "os": osr.get("PRETTY_NAME", "").strip('"'),
                "kernel_inside": inst.exec(["uname", "-r"]).out.strip(),
                "host_kernel": os.uname().release,
                "packages": int(inst.exec(["sh", "-c", "dpkg -l | grep -c ^ii"]).out or 0),
                "services": sorted(s.split()[0] for s in services if s.strip()),
                "processes": st.processes, "memory_bytes": st.memory_bytes,
                "rootfs_bytes": _rootfs_du(backend, rootdir)["allocated"]}
