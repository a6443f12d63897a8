"""The LXD episode's views: deterministic, readable renderings of the demos' results."""
from __future__ import annotations

from typing import Any

from virtlab import modes
from virtlab.lxd.client import DEFAULT_IMAGE
from virtlab.lxd.timings import PHASES
from virtlab.safety import (
    human_bytes,
)


def show_server(r: modes.Result) -> None:
    d = r.data
    print(f"{d.get('server', 'LXD')} {d['server_version']} drives containers through "
          f"{d['driver']} {d['driver_version']} on kernel {d['kernel']}")
    print(f"REST API over {d['socket']} ({d['api_extensions']} API extensions)")
    print("storage pools:     " + ", ".join(f"{p['name']} ({p['driver']})" for p in d["pools"]))
    print("storage drivers:   " + ", ".join(d["storage_drivers"]))
    print("managed networks:  " + (", ".join(d["managed_networks"]) or "none"))
    for name, devs in d["profiles"].items():
        print(f"profile {name!r}:  devices {', '.join(devs) or 'none'}")
    for img in d["course_images"]:
        print(f"course image:      {', '.join(img['aliases'])} ({img['os']}, "
              f"{human_bytes(img['size'] or 0)} compressed)")
    if d.get("differences"):
        print("differs from LXD:  " + ", ".join(d["differences"]) + "  (virtlab.daemons)")


def show_launch(r: modes.Result) -> None:
    d = r.data
    by = f" by {d['daemon']}" if d.get("daemon") else ""
    print(f"launched {d['name']}{by} in {d['launch_s']:.2f} s")
    order = ["uname -r", "hostname", "id", "ps", "ls /"]
    for k in sorted(d["inside"], key=lambda k: order.index(k) if k in order else 99):
        out = d["inside"][k]
        lines = out.rstrip("\n").splitlines() or [""]
        if k == "ls /":
            lines = [" ".join(lines)]
        print(f"  inside $ {k:<9} " + lines[0])
        for line in lines[1:]:
            print(" " * 22 + line)
    same = d["inside"]["uname -r"].strip() == d["host_uname_r"]
    print(f"host kernel release: {'the same' if same else 'DIFFERENT'} "
          f"({'one kernel, shared' if same else 'unexpected for a container'})")
    st = d["state"]
    print(f"seen from the host: init is pid {st['pid']}, host uid {d['ids'].get('host_uid')}, "
          f"cgroup {st['cgroup_memory']}")


def show_namespaces(r: modes.Result) -> None:
    """The container's namespaces next to the host's (from a ``lxd.launch`` result)."""
    print(f"{'namespace':<10} {'container':<22} {'host':<22} shared?")
    for ns, v in r.data["namespaces"].items():
        shared = "?" if v["shared"] is None else ("yes" if v["shared"] else "no")
        print(f"{ns:<10} {v['container'] or '-':<22} {v['host']:<22} {shared}")
    if any(v["container"] is None for v in r.data["namespaces"].values()):
        print("(-: /proc/<pid>/ns of a process owned by another user can only be read by root)")


def show_uidmap(r: modes.Result) -> None:
    for label in ("unprivileged", "privileged"):
        v = r.data[label]
        inside, outside, count = v["inside_uid_map"]
        print(f"{label:<13} inside: {v['inside_id']}")
        print(f"{'':<13} uid_map: container {inside} -> host {outside} (for {count} ids)")
        print(f"{'':<13} the host sees its init running as uid {v['host_uid']}")


def show_oom(r: modes.Result) -> None:
    d = r.data
    print(f"inside $ {d['command']}")
    code = d["exit_code"]
    why = " = 128 + 9: killed by SIGKILL (the OOM killer)" if code == 137 else ""
    print(f"exit code {code}{why}")
    print(f"the container's cgroup limit: {human_bytes(d['cgroup_limit'] or 0)}; "
          f"peak use {human_bytes(d['memory_peak'] or 0)}; "
          f"{'failcnt' if d['cgroup_version'] == 'v1' else 'oom_kill'} = {d['failcnt_or_oom_kills']}")
    print(f"right after, inside $ echo still alive -> {d['after']!r}; container {d['status']}")
    print(f"host: {human_bytes(d['host_available_before'])} available before, "
          f"{human_bytes(d['host_available_after'])} after, of {human_bytes(d['host_mem_total'])}")
    print("inside $ head -n 2 /proc/meminfo" + ("   (served by lxcfs)" if d["lxcfs"] else ""))
    print(d["meminfo_inside"].rstrip())
    print("inside $ free -m   (busybox free asks the kernel via sysinfo(2))")
    print(d["free_inside"].rstrip())


def show_snapshot(r: modes.Result) -> None:
    d = r.data
    t = {s["step"]: s["seconds"] for s in d["steps"]}
    print(f"snapshot 'clean' of {d['name']} took {t.get(next(iter(t)), 0):.2f} s")
    print(f"after `rm /bin/ls`:  ls -> exit {d['broken']['code']} ({d['broken']['err']})")
    print(f"after restore:       ls /root -> exit {d['fixed']['code']}: {d['fixed']['out']}; "
          f"note.txt says {d['note']!r}")
    c = d["copy"]
    print(f"copy {c['name']} (hostname {c['hostname']}) has the note too: {c['note']!r}")
    for s in d["steps"]:
        print(f"  {s['step']:<24} {s['seconds']:.2f} s")


def show_storage(r: modes.Result) -> None:
    d = r.data
    print(f"image {DEFAULT_IMAGE}: {human_bytes(d['image_compressed'])} compressed")
    for name, s in d["instances"].items():
        print(f"instance {name}: {s['files']} files, {human_bytes(s['apparent'])} apparent, "
              f"{human_bytes(s['allocated'])} on disk")
    if not all(s["files"] for s in d["instances"].values()):
        print("(the pool's directories can only be read by root: run this as root to measure)")
        return
    print("both instances share /bin/busybox on disk: "
          + ("yes" if d["same_busybox_inode"] else "no — the dir pool unpacked a full copy for each"))


def lifecycle_table(r: modes.Result) -> Any:
    """The lifecycle medians as a pandas DataFrame (seconds)."""
    import statistics

    import pandas as pd

    rows = {via: {k: statistics.median(r.data[via][k]) for k in PHASES}
            for via in ("api", "cli")}
    cli = r.data.get("cli_name", "lxc")
    return pd.DataFrame(rows).reindex(list(PHASES)).rename(columns={"api": "virtlab.lxd (s)",
                                                                   "cli": f"{cli} CLI (s)"})


def show_lifecycle(r: modes.Result) -> None:
    tab = lifecycle_table(r)
    cli = r.data.get("cli_name", "lxc")
    by = f" ({r.data['daemon']})" if r.data.get("daemon") else ""
    print(f"median of {r.data['rounds']} rounds each{by}:")
    for phase, row in tab.iterrows():
        print(f"  {phase:<7} virtlab.lxd {row.iloc[0]:.3f} s   {cli} CLI {row.iloc[1]:.3f} s")


def plot_lifecycle(r: modes.Result) -> None:
    """Bar chart of the lifecycle medians (through :func:`virtlab.plots.show`, with alt text)."""
    from virtlab import plots

    tab = lifecycle_table(r)
    fig = plots.figure(figsize=(6, 3))
    ax = fig.subplots()
    tab.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("seconds (median)")
    ax.set_title(f"An {r.data.get('daemon', 'LXD')} container's life, on this machine")
    total = tab.iloc[:, 0].sum()
    launch_s = tab.iloc[0, 0]
    verdict = ("well below" if launch_s < 1 else "within" if launch_s <= 5 else "above")
    who, cli = r.data.get("daemon", "LXD"), r.data.get("cli_name", "lxc")
    plots.show(fig, alt=(f"Bar chart of the median time to launch, exec in, stop and delete a "
                         f"busybox {who} container, through virtlab.lxd and through the {cli} CLI; "
                         f"launch takes {launch_s:.2f} s, {verdict} the seed article's 1-5 "
                         f"seconds, and the whole life about {total:.1f} s."))


def show_cow(r: modes.Result) -> None:
    d = r.data
    print(f"disk used by each new instance of {d['image']}:")
    print(f"{'':<10} {'dir pool':>22}   {'btrfs pool':>22}")
    cow = d.get("btrfs") or [None] * d["n"]
    for i, (a, b) in enumerate(zip(d["dir"], cow, strict=False)):
        right = (f"{human_bytes(b['bytes']):>10} in {b['launch_s']:.2f} s" if b else "-")
        print(f"instance {i + 1}  {human_bytes(a['bytes']):>10} in {a['launch_s']:.2f} s   {right:>22}")
    if not all(a["bytes"] for a in d["dir"]):
        print("(the dir pool's directories can only be read by root: its column needs root)")
    if d.get("btrfs") is None:
        print(f"(no btrfs pool here: {d.get('btrfs_error')})")
    else:
        print("btrfs: the first instance pays for unpacking the image once into the pool; every "
              "further one is a snapshot-clone that shares its blocks")


def show_fullos(r: modes.Result) -> None:
    d = r.data
    if not d.get("available"):
        print(d["hint"])
        return
    print(f"{d['os']} in a container: launched in {d['launch_s']:.2f} s, systemd up after "
          f"{d['boot_s']:.2f} s")
    print(f"systemd says the system is {d['state']!r}")
    print(f"PID 1 inside: {d['pid1']}; {d['packages']} Debian packages installed; "
          f"{d['processes']} processes")
    print("running services: " + ", ".join(d["services"]))
    same = "the host's" if d["kernel_inside"] == d["host_kernel"] else "NOT the host's"
    print(f"kernel: {d['kernel_inside']} ({same})")
    disk = (human_bytes(d["rootfs_bytes"]) if d["rootfs_bytes"]
            else "(only root can measure it)")
    print(f"memory in use: {human_bytes(d['memory_bytes'] or 0)}; root filesystem on the dir "
          f"pool: {disk}")
